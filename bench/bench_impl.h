/* bench/bench_impl.h - what bench/kernels_bench.c and bench/report.c share
 * beyond the public bench.h: the weight sets of the kernel benchmark and
 * the steps of a run that the tests check one by one. Private to bench/
 * (and tests/); the prefix qp_bench_ keeps the names out of other modules'
 * way in libqprof.a.
 */
#ifndef QP_BENCH_IMPL_H
#define QP_BENCH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Rows quantized from random floats; W repeats them down its M rows. */
#define QP_BENCH_DISTINCT_ROWS 64
/* Refuse to allocate more bytes of weight copies than this. */
#define QP_BENCH_MAX_WEIGHT_BYTES ((size_t)16 << 30)
/* Timed passes of each bandwidth measurement. */
#define QP_BENCH_MEMBW_REPS 5

/* One weight set: `copies` copies of the M x K matrix of type `type`, back
 * to back, each `bytes` long. Kernel time does not depend on the values (no
 * kernel branches on data), so QP_BENCH_DISTINCT_ROWS rows are quantized
 * and repeated down the matrix: quantizing all of W with the K-quants'
 * scale search would take longer than the benchmark. */
typedef struct qp_bench_weights {
    enum qp_type type;
    unsigned char *data;     /* [copies][m][row_bytes]; free() it */
    size_t row_bytes, bytes; /* one row, one copy */
    int copies;
    int next;                /* copy the next run reads */
} qp_bench_weights;

/* Makes the plain-row set of type t: copies = 1 when hot or when one copy
 * is already >= 2 x llc, else enough copies to reach 2 x llc. QP_ERR_INPUT
 * when t cannot be sized at k or the copies would exceed
 * QP_BENCH_MAX_WEIGHT_BYTES, QP_ERR_RUNTIME when out of memory. */
qp_status qp_bench_weights_make(qp_bench_weights *ws, enum qp_type t, int64_t m, int64_t k, size_t llc,
                                int hot, qp_error *err);
/* dst = src with every copy packed for variant v (qp_pack_weights), in
 * qp_pack_alloc memory. */
qp_status qp_bench_weights_pack(qp_bench_weights *dst, const qp_bench_weights *src, const qp_kernels *v,
                                int64_t m, int64_t k, qp_error *err);
/* The copy the next run reads (round robin). */
const void *qp_bench_weights_next(qp_bench_weights *ws);

/* Adds one run's counts to a row's totals (first: the row's first run); an
 * event stays valid only if it counted in every run. */
void qp_bench_perf_accumulate(qp_perf_values *sum, const qp_perf_values *one, int first);

/* Once every row is in and the bandwidth is final: bw_pct, and the
 * speed-ups against the rows of the same (type, n, threads). */
void qp_bench_finalize_rows(qp_bench_result *r);

/* The type's name, "?" for an id without one. */
const char *qp_bench_type_name(enum qp_type t);

/* Why variant v cannot run here, from `cpu_flags` (the flags line of
 * /proc/cpuinfo padded with a space at both ends, "" if unknown): the
 * instruction sets named in v's description that the flags lack, spelled
 * as cpuinfo spells them. */
void qp_bench_why_unusable(const qp_kernels *v, const char *cpu_flags, char *buf, size_t size);

#endif
