/* common/common.h - what every qprof module shares: errors as values, the
 * version, the monotonic clock and progress line, summary statistics,
 * machine facts, aligned allocation, hashing and whole-file reads.
 * The public header of common/ (the others' implementations are the .c
 * files beside it). */
#ifndef QP_COMMON_H
#define QP_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* ==================================================================== */
/* version: the one place the qprof version is written. */
#define QPROF_VERSION "0.1.0"

/* ==================================================================== */
/* error: errors as values.
 *
 * Library code never prints and never exits: a failing function returns a
 * qp_status and fills a qp_error. Only tools/ turns that into a message of
 * the form "qprof: FILE: offset N: what is wrong" and an exit code, and the
 * status values are chosen so they *are* the exit codes.
 */

typedef enum qp_status {
    QP_OK = 0,
    QP_ERR_RUNTIME = 1, /* I/O failure, out of memory, interrupted: exit 1 */
    QP_ERR_INPUT = 2,   /* malformed file, bad argument, unsupported: exit 2 */
} qp_status;

typedef struct qp_error {
    qp_status status;
    int64_t offset;     /* byte offset in `file`, or -1 when it has none */
    char file[512];     /* path or name of the input, "" when none */
    char msg[512];      /* what is wrong, lower case, no trailing period */
} qp_error;

/* Clears *e (if not NULL). */
void qp_error_clear(qp_error *e);

/* Fills *e (if not NULL) and returns `status`, so callers can write
 *     return qp_error_set(err, QP_ERR_INPUT, path, off, "bad magic %08x", m);
 * `file` may be NULL; `offset` < 0 means "no offset". */
qp_status qp_error_set(qp_error *e, qp_status status, const char *file,
                       int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Formats "FILE: offset N: msg" (parts omitted when absent) into buf. */
const char *qp_error_format(const qp_error *e, char *buf, int size);

/* ==================================================================== */
/* progress: a one-line progress bar on stderr.
 *
 * Drawn only when stderr is a terminal (so logs and pipes stay clean), and
 * at most ~10 times a second so a tight loop does not spend its time
 * printing. Library code may use it: it is the one sanctioned output of the
 * library besides the dispatcher's fallback warning.
 */

typedef struct qp_progress {
    const char *label;
    int64_t total;
    int64_t done;
    double t_start;   /* seconds, monotonic */
    double t_last;    /* last redraw */
    int enabled;      /* stderr is a TTY and QPROF_NO_PROGRESS unset */
} qp_progress;

void qp_progress_begin(qp_progress *p, const char *label, int64_t total);
/* Sets the count of finished items; `what` (may be NULL) is shown after the bar. */
void qp_progress_update(qp_progress *p, int64_t done, const char *what);
/* Clears the line. */
void qp_progress_end(qp_progress *p);

/* Monotonic seconds. */
double qp_now(void);

/* ==================================================================== */
/* stats: summary statistics of repeated timings.
 *
 * A benchmark repeats a measurement and reports its centre and spread. On a
 * shared, noisy machine the distribution of run times is skewed to the right
 * (a run can only be slowed down by interference, never sped up), so the
 * median is the centre and the spread is given by order statistics (min,
 * quartiles, max) and the median absolute deviation, not by mean and
 * standard deviation, which one preempted run would dominate.
 */

typedef struct qp_stats {
    int n;          /* number of samples */
    double min, max;
    double median;  /* middle value; mean of the two middle ones for even n */
    double q1, q3;  /* 25th and 75th percentiles (qp_stats_percentile) */
    double mean;
    double mad;     /* median of |x_i - median| (not scaled to sigma) */
} qp_stats;

/* Summary of x[0..n-1] (n >= 1; x is not modified). QP_ERR_INPUT if n < 1
 * or a sample is NaN, QP_ERR_RUNTIME if the scratch copy cannot be
 * allocated. */
qp_status qp_stats_compute(const double *x, int n, qp_stats *out, qp_error *err);

/* The p-th percentile (0 <= p <= 100) of the ASCENDING sorted[0..n-1], by
 * linear interpolation between closest ranks: rank h = (n - 1) * p / 100,
 * value sorted[floor h] + (h - floor h) * (sorted[floor h + 1] - sorted[floor h])
 * (Hyndman & Fan's definition 7, the default of numpy and R), so p = 50 is
 * the usual median and p = 0 / 100 are min / max (p outside clamps to them).
 * NaN when n < 1. llama-perplexity's percentiles are the same definition. */
double qp_stats_percentile(const double *sorted, int64_t n, double p);

/* Sorts x[0..n-1] ascending in place. */
void qp_stats_sort(double *x, int64_t n);

/* Relative spread (q3 - q1) / median, 0 when the median is 0: the one
 * number the terminal table shows beside the median. */
double qp_stats_rel_iqr(const qp_stats *s);

/* ==================================================================== */
/* sysinfo: facts about the machine that reports record. */

/* The CPU's model name ("model name" on x86, "Model" / "CPU part" lines are
 * not names on arm64, so those read "unknown CPU") from /proc/cpuinfo. */
void qp_cpu_model(char *buf, size_t size);

/* ---- memory ---- */

/* The huge page size qp_huge_alloc aligns to (x86-64 and arm64 with 4 KiB
 * base pages). */
#define QP_HUGE_PAGE_BYTES ((size_t)2 << 20)

/* Allocates `bytes` aligned to 2 MiB (the size rounded up to that), with
 * huge_pages advised for transparent huge pages (madvise; nothing changes
 * where THP is off), without touching it. Free with free(). NULL if out of
 * memory or bytes is 0. */
void *qp_huge_alloc(size_t bytes, int huge_pages);

/* ---- files ---- */

/* Lower-case hex sha256 of a file into out[65]. */
qp_status qp_sha256_file(const char *path, char out[65], qp_error *err);

/* Reads the whole file `path` into *out (malloc'd, NUL-terminated; the
 * caller frees) and its length into *len. A regular file larger than
 * max_bytes is refused before anything is allocated (QP_ERR_INPUT); a pipe
 * is read until max_bytes. QP_ERR_INPUT when it cannot be opened,
 * QP_ERR_RUNTIME on a read error or when out of memory. */
qp_status qp_read_file(const char *path, size_t max_bytes, char **out, size_t *len, qp_error *err);

/* A byte size as people write it: "1536", "512M", "1.5G", "24GiB", "2TB"
 * (K, M, G, T are powers of 1024; an i and a B may follow). 1 and *out
 * set, or 0 for anything else (negative, junk, too large). */
int qp_parse_size(const char *s, uint64_t *out);

#endif
