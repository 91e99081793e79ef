/* bench/bench.h - measuring the machine and the kernels: memory read
 * bandwidth (the bound a weight-streaming kernel is reported against),
 * hardware event counters, and the kernel benchmark engine behind
 * `qprof bench kernels`. The public header of bench/.
 */
#ifndef QP_BENCH_H
#define QP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* ==================================================================== */
/* kernels bench: the engine behind `qprof bench kernels`, and its reports.
 *
 * One result row is one (weight type, n, threads, variant). For each row
 * the weight matrix W (M rows of K weights, quantized from random floats
 * with a fixed seed) is multiplied by n random activation rows with
 * qp_matmul (or qp_matmul_q, or their _packed forms), once untimed and then
 * up to `reps` times, each timed run reading a different copy of W: enough
 * copies that together they exceed twice the last-level cache, so every
 * run streams its weights from DRAM as a forward pass over a real model
 * does. The variants of one (type, n, threads) run in alternation, run by
 * run, so on a shared machine they see the same load. Each row reports
 *
 *   gbs      = weight bytes / median time     (the traffic a matvec moves)
 *   gflops   = 2 M K n / median time          (a multiply and an add per
 *                                               weight per activation row)
 *   bw_pct   = gbs / the streaming read bandwidth (membw above) measured
 *              for the same thread count before and after the rows
 *
 * and its speed-up against scalar and against the fastest other variant.
 * docs/bench.md explains every column of the reports. The engine never
 * prints except the progress line on a terminal (common.h's qp_progress).
 */

/* Capacities of the option lists, and the limits the command line checks. */
#define QP_BENCH_MAX_TYPES 16
#define QP_BENCH_MAX_VARIANTS 8
#define QP_BENCH_MAX_LIST 16        /* entries of ns[] and threads[] */
#define QP_BENCH_MAX_THREADS QP_MAX_THREADS /* kernels.h: what a pool takes */
#define QP_BENCH_MAX_N 65536        /* activation rows per product */
#define QP_BENCH_MAX_SHAPE (1 << 24) /* M and K */
#define QP_BENCH_MAX_REPS 100000
#define QP_BENCH_MAX_MEMBW_MIB 65536
/* A row stops early (max_time) only after this many timed runs. */
#define QP_BENCH_MIN_RUNS 3
/* Unless variants_given, scalar is skipped above this n: a scalar n = 512
 * product of the default shape takes tens of seconds. */
#define QP_BENCH_SCALAR_MAX_N 32

/* M = 4096 output rows of K = 14336 weights: the ffn_down projection of an
 * 8B Llama-3 model (14336 -> 4096), and exactly the shape of llama.cpp's
 * `test-backend-ops perf -o MUL_MAT` case (m=4096, k=14336), so the two
 * can be compared without conversion. */
#define QP_BENCH_DEFAULT_M 4096
#define QP_BENCH_DEFAULT_K 14336
#define QP_BENCH_DEFAULT_TYPES "q8_0,q4_0,q4_K,q5_K,q6_K,f16"

typedef struct qp_bench_opts {
    enum qp_type types[QP_BENCH_MAX_TYPES];
    int n_types;
    const qp_kernels *variants[QP_BENCH_MAX_VARIANTS];
    int n_variants;
    int variants_given;      /* the user named the variants: run exactly those
                              * (scalar is then not skipped at large n) */
    int64_t m, k;            /* W is m rows of k weights */
    int64_t ns[QP_BENCH_MAX_LIST]; /* activation rows per product */
    int n_ns;
    int threads[QP_BENCH_MAX_LIST]; /* one thread pool per entry */
    int n_threads;
    int reps;                /* timed runs per row, at most */
    double max_time;         /* seconds per variant after which a group stops,
                              * once it has QP_BENCH_MIN_RUNS runs */
    int prequantized;        /* time qp_matmul_q (activations quantized beforehand) */
    int hot;                 /* one copy of W, not rotated: cache-resident if it fits */
    int rows_only;           /* plain GGUF rows even where a variant has a packed layout */
    int counters;            /* open the perf counters */
    int membw_mib;           /* bandwidth buffer in MiB, 0 = max(8 x LLC, 64 MiB) */
} qp_bench_opts;

/* The defaults of `qprof bench kernels`: the default shape, n = 1,512,
 * threads 1,2, 10 reps, 3 s, counters on. types[] and variants[] are left
 * empty: fill them with qp_bench_opts_set_types / _set_variants. */
void qp_bench_opts_default(qp_bench_opts *o);

/* Parses a comma-separated list of type names ("q8_0,q4_K") into o->types,
 * checking each against o->k (so set the shape first). QP_ERR_INPUT, with
 * the message the command line prints, for an empty or malformed list, an
 * unknown type, a type without kernels or quantizer, or K not a multiple of
 * the type's block size. */
qp_status qp_bench_opts_set_types(qp_bench_opts *o, const char *list, qp_error *err);

/* Parses a comma-separated list of variant names into o->variants and sets
 * variants_given; list NULL means every variant this CPU can run, in the
 * dispatcher's order (scalar first), with variants_given 0. QP_ERR_INPUT
 * for a malformed list or a variant that is unknown or cannot run here. */
qp_status qp_bench_opts_set_variants(qp_bench_opts *o, const char *list, qp_error *err);

/* Parses "1,2,512": positive integers up to `limit`, at most `max` of them,
 * into out[]. Returns the count, or -1 for an empty list, an empty entry,
 * a trailing comma, too many entries, or a value out of range. */
int qp_bench_parse_counts(const char *list, int64_t *out, int max, int64_t limit);

/* Parses "MxK" (or "MXK"), both 1..QP_BENCH_MAX_SHAPE. 0, or -1 when bad. */
int qp_bench_parse_shape(const char *s, int64_t *m, int64_t *k);

typedef struct qp_bench_row {
    const qp_kernels *variant;
    enum qp_type type;
    int64_t m, k, n;
    int threads;
    int accelerated;         /* the variant has its own code for the type */
    const char *layout;      /* "rows", or the packed layout's name ("q4_K x8") */
    int copies;              /* copies of W rotated over (1 with hot) */
    size_t weight_bytes;     /* one copy of W: m x qp_row_size(type, k) */
    qp_stats time;           /* seconds per timed run */
    double gbs, gflops;      /* from the median: see the section comment */
    double bw_pct;           /* NAN when no bandwidth was measured */
    double x_scalar;         /* scalar median / this median; NAN without scalar */
    double x_best;           /* fastest other median / this median; NAN if alone */
    const char *best_name;   /* that fastest other variant, NULL if alone */
    qp_perf_values pv;       /* counts summed over the timed runs */
} qp_bench_row;

/* A row not run: scalar above QP_BENCH_SCALAR_MAX_N without variants_given. */
typedef struct qp_bench_skip {
    const qp_kernels *variant;
    enum qp_type type;
    int64_t n;
    int threads;
} qp_bench_skip;

typedef struct qp_bench_result {
    qp_bench_opts opts;      /* what was run */
    size_t llc_bytes;        /* qp_llc_bytes */
    int llc_found;           /* 1: read from sysfs, 0: the fallback */
    /* read bandwidth for 1 thread and each distinct opts.threads entry,
     * in that order: the better of the passes before and after the rows */
    qp_membw_result bw[QP_BENCH_MAX_LIST + 1];
    int n_bw;
    int counter_available[QP_PERF_N_EVENTS];
    char counter_reason[QP_PERF_N_EVENTS][96]; /* "" when available */
    qp_bench_row *rows;      /* per type, n, threads, then variant, in opts order */
    int n_rows;
    qp_bench_skip *skips;
    int n_skips;
} qp_bench_result;

/* Measures the bandwidth, runs every row of *o and fills *out (free it with
 * qp_bench_result_free, also after a failure). QP_ERR_INPUT for options out
 * of the ranges above (no type or variant, a variant this CPU cannot run,
 * K not a multiple of a type's block size, weights over 16 GiB),
 * QP_ERR_RUNTIME when out of memory or a thread cannot be created. */
qp_status qp_bench_kernels_run(const qp_bench_opts *o, qp_bench_result *out, qp_error *err);
void qp_bench_result_free(qp_bench_result *r);

/* Best measured read bandwidth for `threads` threads, 0 if not measured. */
double qp_bench_membw_gbs(const qp_bench_result *r, int threads);
/* Per-run count of event e, NAN when the counter did not count every run. */
double qp_bench_row_per_run(const qp_bench_row *row, enum qp_perf_event e);
/* Instructions per cycle, NAN without both counters. */
double qp_bench_row_ipc(const qp_bench_row *row);
/* CPU time per run / (median wall time x threads): about 1 when every
 * thread had a core for the whole run, NAN without task-clock. */
double qp_bench_row_cpu_share(const qp_bench_row *row);

/* ---- reports (docs/bench.md): to `out`, which the caller checks ---- */

/* The terminal table, with its header lines and notes. */
void qp_bench_report_table(FILE *out, const qp_bench_result *r);
/* CSV: '#' header lines, one header row, one row per result. */
void qp_bench_report_csv(FILE *out, const qp_bench_result *r);
/* One JSON document. QP_ERR_RUNTIME if it cannot be built (out of memory). */
qp_status qp_bench_report_json(FILE *out, const qp_bench_result *r, qp_error *err);
/* `--list`: every compiled-in variant, whether this CPU can run it (and if
 * not, which instruction sets /proc/cpuinfo lacks), its own kernels, scalar
 * fallbacks and packed layouts; json 1 for a JSON array. QP_ERR_RUNTIME if
 * the JSON cannot be built. */
qp_status qp_bench_report_variants(FILE *out, int json, qp_error *err);

#endif
