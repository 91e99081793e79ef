/* bench/perfcount.c - perf_event_open(2) counters with a clean fallback.
 *
 * Each event has its own fd (no event group): the kernel refuses
 * PERF_FORMAT_GROUP reads of inherited counters on the kernels this must
 * run on, and separate fds let one event fail (no PMU in a VM) while the
 * others, such as the software task-clock, still count.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#endif

static const char *const event_names[QP_PERF_N_EVENTS] = {
    [QP_PERF_CYCLES] = "cycles",
    [QP_PERF_INSTRUCTIONS] = "instructions",
    [QP_PERF_LLC_MISSES] = "llc-misses",
    [QP_PERF_TASK_CLOCK] = "task-clock",
};

const char *qp_perf_event_name(enum qp_perf_event e)
{
    return (int)e >= 0 && e < QP_PERF_N_EVENTS ? event_names[e] : "?";
}

int qp_perfcount_available(const qp_perfcount *pc, enum qp_perf_event e)
{
    return (int)e >= 0 && e < QP_PERF_N_EVENTS && pc->fd[e] >= 0;
}

const char *qp_perfcount_reason(const qp_perfcount *pc, enum qp_perf_event e)
{
    return (int)e >= 0 && e < QP_PERF_N_EVENTS ? pc->reason[e] : "no such event";
}

#ifdef __linux__
/* Why perf_event_open failed, in words (perf_event_open(2), ERRORS). */
static void explain_errno(int e, char *buf, size_t size)
{
    switch (e) {
    case ENOENT:
    case EOPNOTSUPP:
        snprintf(buf, size, "not supported by this CPU or hypervisor (%s)",
                 e == ENOENT ? "ENOENT" : "EOPNOTSUPP");
        break;
    case EACCES:
    case EPERM: {
        /* the usual cause: /proc/sys/kernel/perf_event_paranoid is 3 (or
         * higher, as Debian allows) or a seccomp filter blocks the call */
        int level = -99;
        FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
        if (f) {
            if (fscanf(f, "%d", &level) != 1)
                level = -99;
            fclose(f);
        }
        if (level != -99)
            snprintf(buf, size, "not permitted (%s, perf_event_paranoid=%d)",
                     e == EACCES ? "EACCES" : "EPERM", level);
        else
            snprintf(buf, size, "not permitted (%s)", e == EACCES ? "EACCES" : "EPERM");
        break;
    }
    case ENOSYS: snprintf(buf, size, "no perf_event_open in this kernel (ENOSYS)"); break;
    case ENODEV: snprintf(buf, size, "no such event on this CPU (ENODEV)"); break;
    case EMFILE: snprintf(buf, size, "too many open files (EMFILE)"); break;
    default: snprintf(buf, size, "perf_event_open failed: %s", strerror(e)); break;
    }
}

static int open_event(enum qp_perf_event e, int *err_no)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    switch (e) {
    case QP_PERF_CYCLES: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_CPU_CYCLES; break;
    case QP_PERF_INSTRUCTIONS: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_INSTRUCTIONS; break;
    case QP_PERF_LLC_MISSES: a.type = PERF_TYPE_HARDWARE; a.config = PERF_COUNT_HW_CACHE_MISSES; break;
    case QP_PERF_TASK_CLOCK: a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_TASK_CLOCK; break;
    default: *err_no = EINVAL; return -1;
    }
    a.disabled = 1;       /* counting starts at qp_perfcount_start */
    a.inherit = 1;        /* threads created later count too */
    a.exclude_kernel = 1; /* user space only: allowed at paranoid <= 2 */
    a.exclude_hv = 1;
    /* the two times tell whether the kernel multiplexed the counter */
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    /* pid 0 = this thread, cpu -1 = wherever it runs, no group */
    const long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    return (int)fd;
}
#endif

int qp_perfcount_open(qp_perfcount *pc, unsigned events)
{
    memset(pc, 0, sizeof *pc);
    const char *off = getenv("QPROF_NO_PERF");
    const int disabled = off && *off && strcmp(off, "0") != 0;
    int opened = 0;
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        pc->fd[e] = -1;
        if (!(events & QP_PERF_MASK(e))) {
            snprintf(pc->reason[e], sizeof pc->reason[e], "not requested");
            continue;
        }
        if (disabled) {
            snprintf(pc->reason[e], sizeof pc->reason[e], "disabled by QPROF_NO_PERF");
            continue;
        }
#ifdef __linux__
        int err_no = 0;
        pc->fd[e] = open_event((enum qp_perf_event)e, &err_no);
        if (pc->fd[e] < 0)
            explain_errno(err_no, pc->reason[e], sizeof pc->reason[e]);
        else
            opened++;
#else
        snprintf(pc->reason[e], sizeof pc->reason[e], "perf_event_open is Linux only");
#endif
    }
    return opened;
}

#ifdef __linux__
/* rec = {value, time_enabled, time_running} (the read_format above): the
 * total of this thread, its living inheriting threads and the exited ones */
static int read_event(int fd, uint64_t rec[3])
{
    return read(fd, rec, 3 * sizeof rec[0]) == (ssize_t)(3 * sizeof rec[0]) ? 0 : -1;
}
#endif

void qp_perfcount_start(qp_perfcount *pc)
{
#ifdef __linux__
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        if (pc->fd[e] < 0)
            continue;
        if (read_event(pc->fd[e], pc->base[e]) != 0)
            memset(pc->base[e], 0, sizeof pc->base[e]);
        /* ENABLE acts on the inherited copies too (perf_event_for_each_child) */
        (void)ioctl(pc->fd[e], PERF_EVENT_IOC_ENABLE, 0);
    }
#endif
    pc->running = 1;
}

void qp_perfcount_stop(qp_perfcount *pc, qp_perf_values *out)
{
    memset(out, 0, sizeof *out);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        if (pc->fd[e] < 0)
            continue;
#ifdef __linux__
        (void)ioctl(pc->fd[e], PERF_EVENT_IOC_DISABLE, 0);
        uint64_t rec[3];
        if (read_event(pc->fd[e], rec) != 0)
            continue;
        const uint64_t value = rec[0] - pc->base[e][0];
        const uint64_t enabled = rec[1] - pc->base[e][1];
        const uint64_t running = rec[2] - pc->base[e][2];
        /* running 0: the event was never on a counter (all busy, or a
         * hypervisor that accepts the event but never schedules it) */
        if (running == 0 || enabled == 0)
            continue;
        const double frac = (double)running / (double)enabled;
        out->value[e] = (double)value / frac;
        out->running_frac[e] = frac;
        out->valid[e] = 1;
#endif
    }
    pc->running = 0;
}

void qp_perfcount_close(qp_perfcount *pc)
{
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        if (pc->fd[e] >= 0)
            close(pc->fd[e]);
        pc->fd[e] = -1;
    }
    pc->running = 0;
}
