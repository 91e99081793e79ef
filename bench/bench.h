/* bench/bench.h - measuring the machine and the kernels: memory read
 * bandwidth (the bound a weight-streaming kernel is reported against),
 * hardware event counters, and the kernel benchmark engine behind
 * `qprof bench kernels`. The public header of bench/.
 */
#ifndef QP_BENCH_H
#define QP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../kernels/kernels.h"

/* ==================================================================== */
/* membw: this machine's memory read bandwidth, and its cache size.
 *
 * A weight-streaming kernel (a matvec reads every weight once and does two
 * flops per weight) cannot go faster than the memory system delivers bytes,
 * so the kernel benchmark reports its weight traffic as a percentage of a
 * streaming read measured here, on the same machine, in the same run. The
 * measurement is the read half of STREAM: threads read disjoint slices of a
 * buffer much larger than the last-level cache with wide loads and a cheap
 * reduction, so the loop is limited by DRAM and not by arithmetic.
 */

/* Fallback last-level cache size when sysfs does not say (32 MiB covers the
 * L3 of most desktop and many server parts, so buffers sized from it are
 * DRAM-resident on almost any machine). */
#define QP_LLC_FALLBACK_BYTES ((size_t)32 << 20)

/* Size in bytes of the largest data or unified cache listed under
 * `dir`/index* (each with files "type" and "size", e.g. "Unified" and
 * "8192K"), as Linux exposes them in /sys/devices/system/cpu/cpu0/cache.
 * dir NULL means that sysfs directory. If none can be read, returns
 * QP_LLC_FALLBACK_BYTES; *found (may be NULL) says which happened. */
size_t qp_llc_bytes(const char *dir, int *found);

typedef struct qp_membw_result {
    double best_gbs;     /* fastest repetition, 1e9 bytes per second */
    double median_gbs;   /* median repetition */
    size_t bytes;        /* bytes read per repetition (all threads together) */
    int threads;
    int reps;
    const char *method;  /* "avx2" (256-bit loads) or "c" (compiler-vectorized) */
} qp_membw_result;


/* Allocates `bytes` (rounded up to 64) aligned to 2 MiB and writes every
 * byte, so the pages are really backed (reading untouched anonymous memory
 * reads the shared zero page, which is cached and far too fast). With
 * huge_pages, asks for transparent huge pages (madvise): fewer TLB misses,
 * the best case the bandwidth test wants; without, ordinary pages, as a
 * model mmap'd from the page cache (llama.cpp) or a plain malloc gets when
 * THP is in "madvise" mode. Free with free(). NULL if out of memory. */
void *qp_membw_alloc(size_t bytes, int huge_pages);

/* Reads buf[0..bytes-1] `reps` times with n_threads threads (the calling
 * thread and n_threads - 1 helpers, each reading a contiguous 1/n_threads
 * slice), after one untimed pass; a repetition is timed from the moment all
 * threads are released to the moment the last one finishes. buf must be
 * 64-byte aligned, bytes >= 64 * n_threads, 1 <= n_threads <= 256,
 * reps >= 1. QP_ERR_INPUT for bad arguments, QP_ERR_RUNTIME if a thread
 * cannot be created. */
qp_status qp_membw_read(const void *buf, size_t bytes, int n_threads, int reps,
                        qp_membw_result *out, qp_error *err);

/* ==================================================================== */
/* perfcount: hardware event counters through perf_event_open(2).
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
