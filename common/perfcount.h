/* common/perfcount.h - hardware event counters through perf_event_open(2).
 *
 * What is counted: each event is opened for the CALLING THREAD with
 * inherit = 1, on any CPU, user space only (exclude_kernel, exclude_hv:
 * allowed at perf_event_paranoid <= 2 without privileges). "inherit" makes
 * threads the calling thread creates AFTER qp_perfcount_open count into the
 * same counter, so open the counters before creating a thread pool and the
 * pool's workers are included; threads created earlier, and other
 * processes, are not. A read sums the thread and all its inheriting
 * descendants, living or exited (the kernel folds a child's count into its
 * parent when it exits).
 *
 * Where a counter cannot be opened (a VM without a virtual PMU answers
 * ENOENT or EOPNOTSUPP; perf_event_paranoid = 3 or seccomp answers EACCES
 * or EPERM; no syscall: ENOSYS) that event is marked unavailable with the
 * reason, and every other call still works: start/stop do nothing for it
 * and its value is not valid. Nothing here prints.
 */
#ifndef QP_COMMON_PERFCOUNT_H
#define QP_COMMON_PERFCOUNT_H

#include <stdint.h>

enum qp_perf_event {
    QP_PERF_CYCLES,       /* core cycles (PERF_COUNT_HW_CPU_CYCLES) */
    QP_PERF_INSTRUCTIONS, /* retired instructions */
    QP_PERF_LLC_MISSES,   /* last-level cache misses (PERF_COUNT_HW_CACHE_MISSES:
                           * on Intel LLC read+write misses, on AMD the
                           * vendor's closest event, often L2 misses) */
    QP_PERF_TASK_CLOCK,   /* CPU time in ns (software event: works in VMs too) */
    QP_PERF_N_EVENTS
};

/* Bit masks for qp_perfcount_open's `events`. */
#define QP_PERF_MASK(e) (1u << (e))
#define QP_PERF_ALL ((1u << QP_PERF_N_EVENTS) - 1u)

typedef struct qp_perfcount {
    int fd[QP_PERF_N_EVENTS];          /* -1 when not open */
    char reason[QP_PERF_N_EVENTS][96]; /* why an event is unavailable, "" if open */
    /* {value, time_enabled, time_running} read at start: stop reports the
     * difference, because RESET does not clear what exited threads already
     * folded into the parent counter */
    uint64_t base[QP_PERF_N_EVENTS][3];
    int running;                       /* between start and stop */
} qp_perfcount;

typedef struct qp_perf_values {
    /* count over the interval, scaled by time_enabled / time_running when
     * the kernel had to multiplex the counter (more events than registers) */
    double value[QP_PERF_N_EVENTS];
    int valid[QP_PERF_N_EVENTS];       /* 1 if value[] was measured */
    double running_frac[QP_PERF_N_EVENTS]; /* time_running / time_enabled, 1 = not multiplexed */
} qp_perf_values;

/* Opens the events in the mask `events` (QP_PERF_ALL for every one). Never
 * fails: events that cannot be opened get a reason. With QPROF_NO_PERF set
 * to a non-empty value other than "0" no event is opened (reason "disabled
 * by QPROF_NO_PERF"), which is how tests and users take the fallback path
 * on purpose. Returns the number of events opened. */
int qp_perfcount_open(qp_perfcount *pc, unsigned events);

/* 1 if event e is open. */
int qp_perfcount_available(const qp_perfcount *pc, enum qp_perf_event e);
/* "" when open, else why not (lower case, e.g. "not supported by this CPU or
 * hypervisor (ENOENT)"). */
const char *qp_perfcount_reason(const qp_perfcount *pc, enum qp_perf_event e);
/* Short event name: "cycles", "instructions", "llc-misses", "task-clock". */
const char *qp_perf_event_name(enum qp_perf_event e);

/* Snapshots and enables the open counters (ioctl ENABLE also reaches the
 * inherited per-thread copies). */
void qp_perfcount_start(qp_perfcount *pc);
/* Disables them and puts the counts since start into *out. */
void qp_perfcount_stop(qp_perfcount *pc, qp_perf_values *out);
/* Closes every fd; pc may then be opened again. */
void qp_perfcount_close(qp_perfcount *pc);

#endif
