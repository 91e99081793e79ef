/* bench/kernels_bench.c - the kernel benchmark engine: options in, result
 * rows out (bench.h explains what a row measures; docs/bench.md the
 * method). The reports are bench/report.c.
 *
 * A run, in order: the memory read bandwidth (while nothing else of ours
 * runs), the perf counters (before the thread pools, whose workers then
 * inherit them), one pool per thread count, the rows, the bandwidth again
 * (each thread count keeps its better pass), and last the derived columns,
 * which need every row and the final bandwidth.
 */
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../kernels/kernels.h"
#include "../quant/quant.h"
#include "bench_impl.h"

/* ======================================================================== */
/* Options                                                                  */
/* ======================================================================== */

void qp_bench_opts_default(qp_bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->m = QP_BENCH_DEFAULT_M;
    o->k = QP_BENCH_DEFAULT_K;
    /* 1 = a matvec (generating a token), 512 = a matmul (a prompt) */
    o->ns[0] = 1;
    o->ns[1] = 512;
    o->n_ns = 2;
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->n_threads = 2;
    o->reps = 10;
    o->max_time = 3.0;
    o->counters = 1;
}

/* Splits a comma-separated list into at most max tokens of < 32 bytes;
 * returns the count, -1 if there are too many or one is empty/too long. */
static int split_list(const char *s, char (*out)[32], int max)
{
    int n = 0;
    while (*s) {
        const size_t len = strcspn(s, ",");
        if (len == 0 || len >= 32 || n == max)
            return -1;
        memcpy(out[n], s, len);
        out[n][len] = '\0';
        n++;
        s += len;
        if (*s == ',' && *++s == '\0')
            return -1; /* trailing comma */
    }
    return n;
}

int qp_bench_parse_counts(const char *list, int64_t *out, int max, int64_t limit)
{
    char tok[QP_BENCH_MAX_LIST][32];
    if (max > QP_BENCH_MAX_LIST)
        max = QP_BENCH_MAX_LIST;
    const int n = split_list(list, tok, max);
    if (n <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char *end;
        const long long v = strtoll(tok[i], &end, 10);
        if (*end || v < 1 || v > limit)
            return -1;
        out[i] = v;
    }
    return n;
}

int qp_bench_parse_shape(const char *s, int64_t *m, int64_t *k)
{
    char *end;
    const long long mm = strtoll(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X'))
        return -1;
    const char *p = end + 1;
    const long long kk = strtoll(p, &end, 10);
    if (end == p || *end || mm < 1 || kk < 1 || mm > QP_BENCH_MAX_SHAPE || kk > QP_BENCH_MAX_SHAPE)
        return -1;
    *m = mm;
    *k = kk;
    return 0;
}

const char *qp_bench_type_name(enum qp_type t)
{
    const qp_type_traits *tr = qp_type_info((int)t);
    return tr ? tr->name : "?";
}

/* Type t (spelled `name` by the caller) can be benchmarked at row length k:
 * qprof can run it (qp_kernels_can_run: a quantizer and an activation
 * pairing), and k is whole blocks. Shared by set_types and the run's own
 * check of its options. */
static qp_status check_type(int t, const char *name, int64_t k, qp_error *err)
{
    const qp_type_traits *tr = t >= 0 ? qp_type_info(t) : NULL;
    if (!tr)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "unknown type '%s'", name);
    if (!qp_kernels_can_run(t))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "type '%s' has no kernels to benchmark", name);
    if (k % tr->block_size != 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "K=%" PRId64 " is not a multiple of %s's block size %" PRId64, k, tr->name,
                            tr->block_size);
    return QP_OK;
}

qp_status qp_bench_opts_set_types(qp_bench_opts *o, const char *list, qp_error *err)
{
    char tok[QP_BENCH_MAX_TYPES][32];
    const int n = split_list(list, tok, QP_BENCH_MAX_TYPES);
    if (n <= 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bad --types list '%s'", list);
    o->n_types = 0;
    for (int i = 0; i < n; i++) {
        const int t = qp_type_from_name(tok[i]);
        const qp_status st = check_type(t, tok[i], o->k, err);
        if (st != QP_OK)
            return st;
        o->types[o->n_types++] = (enum qp_type)t;
    }
    return QP_OK;
}

qp_status qp_bench_opts_set_variants(qp_bench_opts *o, const char *list, qp_error *err)
{
    o->n_variants = 0;
    o->variants_given = 0;
    if (!list) {
        /* every usable variant, in the table's order (scalar first) */
        const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
        const int n = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
        for (int i = 0; i < n && i < QP_BENCH_MAX_VARIANTS; i++)
            if (qp_kernels_usable(all[i]))
                o->variants[o->n_variants++] = all[i];
        return QP_OK;
    }
    char tok[QP_BENCH_MAX_VARIANTS][32];
    const int n = split_list(list, tok, QP_BENCH_MAX_VARIANTS);
    if (n <= 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bad --variants list '%s'", list);
    for (int i = 0; i < n; i++) {
        qp_error e;
        qp_error_clear(&e);
        const qp_kernels *v = qp_kernels_by_name(tok[i], &e);
        if (!v) {
            o->n_variants = 0;
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%s", e.msg);
        }
        o->variants[o->n_variants++] = v;
    }
    o->variants_given = 1;
    return QP_OK;
}

/* The whole of *o within the limits bench.h names, for callers that fill
 * the struct themselves rather than through the parsers above. */
static qp_status check_opts(const qp_bench_opts *o, qp_error *err)
{
    if (o->n_types < 1 || o->n_types > QP_BENCH_MAX_TYPES)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d weight types (expected 1..%d)", o->n_types,
                            QP_BENCH_MAX_TYPES);
    if (o->n_variants < 1 || o->n_variants > QP_BENCH_MAX_VARIANTS)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d kernel variants (expected 1..%d)",
                            o->n_variants, QP_BENCH_MAX_VARIANTS);
    if (o->m < 1 || o->k < 1 || o->m > QP_BENCH_MAX_SHAPE || o->k > QP_BENCH_MAX_SHAPE)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "shape %" PRId64 "x%" PRId64 " (expected M and K in 1..%d)", o->m, o->k,
                            QP_BENCH_MAX_SHAPE);
    if (o->n_ns < 1 || o->n_ns > QP_BENCH_MAX_LIST)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d activation counts (expected 1..%d)", o->n_ns,
                            QP_BENCH_MAX_LIST);
    for (int i = 0; i < o->n_ns; i++)
        if (o->ns[i] < 1 || o->ns[i] > QP_BENCH_MAX_N)
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "n=%" PRId64 " (expected 1..%d)", o->ns[i],
                                QP_BENCH_MAX_N);
    if (o->n_threads < 1 || o->n_threads > QP_BENCH_MAX_LIST)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d thread counts (expected 1..%d)",
                            o->n_threads, QP_BENCH_MAX_LIST);
    for (int i = 0; i < o->n_threads; i++)
        if (o->threads[i] < 1 || o->threads[i] > QP_BENCH_MAX_THREADS)
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d threads (expected 1..%d)", o->threads[i],
                                QP_BENCH_MAX_THREADS);
    if (o->reps < 1 || o->reps > QP_BENCH_MAX_REPS)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%d reps (expected 1..%d)", o->reps,
                            QP_BENCH_MAX_REPS);
    if (!(o->max_time >= 0) || o->max_time > 1e6)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "max time %g s (expected 0..1e6)", o->max_time);
    if (o->membw_mib < 0 || o->membw_mib > QP_BENCH_MAX_MEMBW_MIB)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bandwidth buffer of %d MiB (expected 0..%d)",
                            o->membw_mib, QP_BENCH_MAX_MEMBW_MIB);
    for (int i = 0; i < o->n_types; i++) {
        const qp_status st = check_type((int)o->types[i], qp_bench_type_name(o->types[i]), o->k, err);
        if (st != QP_OK)
            return st;
    }
    for (int i = 0; i < o->n_variants; i++)
        if (!o->variants[i] || !qp_kernels_usable(o->variants[i]))
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "kernel variant '%s' cannot run on this CPU",
                                o->variants[i] ? qp_kernels_name(o->variants[i]) : "(null)");
    return QP_OK;
}

/* ======================================================================== */
/* Inputs                                                                   */
/* ======================================================================== */

/* xorshift64*: fast, fixed seed, so every run benchmarks the same numbers */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* uniform in [-1, 1): the top 53 bits as a double in [0, 1) */
static float rng_uniform(uint64_t *s)
{
    return (float)((double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* Weights of a trained layer are near-Gaussian with small spread: the sum of
 * four uniforms (Irwin-Hall, close to normal) scaled to sigma ~ 0.02. */
static float rng_weight(uint64_t *s)
{
    return 0.02f * (rng_uniform(s) + rng_uniform(s) + rng_uniform(s) + rng_uniform(s)) * 0.866f;
}

qp_status qp_bench_weights_make(qp_bench_weights *ws, enum qp_type t, int64_t m, int64_t k, size_t llc,
                                int hot, qp_error *err)
{
    memset(ws, 0, sizeof *ws);
    ws->type = t;
    ws->row_bytes = qp_row_size((int)t, k);
    if (!ws->row_bytes)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "cannot size a %s row of %" PRId64 " weights",
                            qp_bench_type_name(t), k);
    ws->bytes = ws->row_bytes * (size_t)m;
    /* copies so that all of them together are >= 2 x LLC: the one a run
     * reads was last touched `copies` runs ago and has been evicted since */
    const size_t need = 2 * llc;
    ws->copies = ws->bytes >= need || hot ? 1 : (int)((need + ws->bytes - 1) / ws->bytes);
    if ((size_t)ws->copies * ws->bytes > QP_BENCH_MAX_WEIGHT_BYTES)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%s weights of %zu bytes are too large",
                            qp_bench_type_name(t), ws->bytes);
    /* ordinary pages: what a model's weights get (see qp_membw_alloc) */
    ws->data = qp_membw_alloc((size_t)ws->copies * ws->bytes, 0);
    /* x[k] floats: one source row at a time */
    float *x = malloc((size_t)k * sizeof *x);
    if (!ws->data || !x) {
        free(x);
        free(ws->data);
        ws->data = NULL;
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for %d x %zu bytes of %s weights",
                            ws->copies, ws->bytes, qp_bench_type_name(t));
    }
    uint64_t seed = 0x5EED0000u + (uint64_t)t;
    const int64_t distinct = m < QP_BENCH_DISTINCT_ROWS ? m : QP_BENCH_DISTINCT_ROWS;
    for (int64_t r = 0; r < distinct; r++) {
        for (int64_t i = 0; i < k; i++)
            x[i] = rng_weight(&seed);
        qp_status st = qp_quantize_row((int)t, x, ws->data + (size_t)r * ws->row_bytes, k, NULL, err);
        if (st != QP_OK) {
            free(x);
            free(ws->data);
            ws->data = NULL;
            return st;
        }
    }
    free(x);
    for (int64_t r = distinct; r < m; r++)
        memcpy(ws->data + (size_t)r * ws->row_bytes, ws->data + (size_t)(r % distinct) * ws->row_bytes,
               ws->row_bytes);
    for (int c = 1; c < ws->copies; c++)
        memcpy(ws->data + (size_t)c * ws->bytes, ws->data, ws->bytes);
    return QP_OK;
}

/* The layout the forward pass gives v (model/model.c packs the same way). */
qp_status qp_bench_weights_pack(qp_bench_weights *dst, const qp_bench_weights *src, const qp_kernels *v,
                                int64_t m, int64_t k, qp_error *err)
{
    *dst = *src;
    dst->next = 0;
    /* the model's allocator for packed copies (huge pages where allowed) */
    dst->data = qp_pack_alloc((size_t)src->copies * src->bytes);
    if (!dst->data)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for packed %s weights",
                            qp_bench_type_name(src->type));
    for (int c = 0; c < src->copies; c++) {
        qp_status st = qp_pack_weights(v, src->type, src->data + (size_t)c * src->bytes,
                                       dst->data + (size_t)c * src->bytes, m, k, err);
        if (st != QP_OK) {
            free(dst->data);
            dst->data = NULL;
            return st;
        }
    }
    return QP_OK;
}

const void *qp_bench_weights_next(qp_bench_weights *ws)
{
    const void *p = ws->data + (size_t)ws->next * ws->bytes;
    ws->next = (ws->next + 1) % ws->copies;
    return p;
}

/* ======================================================================== */
/* The run's state                                                          */
/* ======================================================================== */

/* What a run holds besides its result: the counters and one pool per
 * thread count. */
typedef struct bench_ctx {
    const qp_bench_opts *o;
    qp_bench_result *res;
    int bw_passes;                           /* measure_bandwidth calls so far */
    int cap_rows, cap_skips;
    qp_perfcount pc;
    qp_threadpool *pools[QP_BENCH_MAX_LIST]; /* one per threads[] entry */
} bench_ctx;

/* X and its quantized form for one (type, n). */
typedef struct act_set {
    float *x;      /* [n][k] */
    void *xq;      /* [n][act_row] (only when prequantized) */
    float *y;      /* [n][m] */
} act_set;

/* Room for element n of the array p of `size`-byte elements, whose
 * capacity *cap doubles from `first`: p itself, or its larger copy; NULL
 * when out of memory (p is then still valid). */
static void *grow(void *p, int n, int *cap, size_t size, int first)
{
    if (n < *cap)
        return p;
    const int want = *cap ? 2 * *cap : first;
    void *q = realloc(p, (size_t)want * size);
    if (q)
        *cap = want;
    return q;
}

static qp_status add_row(bench_ctx *c, const qp_bench_row *r, qp_error *err)
{
    qp_bench_result *res = c->res;
    qp_bench_row *rows = grow(res->rows, res->n_rows, &c->cap_rows, sizeof *rows, 64);
    if (!rows)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    res->rows = rows;
    res->rows[res->n_rows++] = *r;
    return QP_OK;
}

static qp_status add_skip(bench_ctx *c, const qp_bench_skip *s, qp_error *err)
{
    qp_bench_result *res = c->res;
    qp_bench_skip *skips = grow(res->skips, res->n_skips, &c->cap_skips, sizeof *skips, 16);
    if (!skips)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    res->skips = skips;
    res->skips[res->n_skips++] = *s;
    return QP_OK;
}

/* ======================================================================== */
/* Timing one group of rows                                                 */
/* ======================================================================== */

static qp_status run_product(const qp_bench_row *r, qp_threadpool *tp, const void *W, const act_set *a,
                             int prequantized, qp_error *err)
{
    const int packed = strcmp(r->layout, "rows") != 0;
    if (prequantized)
        return (packed ? qp_matmul_q_packed : qp_matmul_q)(r->variant, tp, r->type, W, r->m, r->k, a->xq,
                                                            r->n, a->y, err);
    return (packed ? qp_matmul_packed : qp_matmul)(r->variant, tp, r->type, W, r->m, r->k, a->x, r->n,
                                                   a->y, err);
}

void qp_bench_perf_accumulate(qp_perf_values *sum, const qp_perf_values *one, int first)
{
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        sum->valid[e] = (first || sum->valid[e]) && one->valid[e];
        sum->value[e] = (first ? 0.0 : sum->value[e]) + one->value[e];
        sum->running_frac[e] = one->running_frac[e];
    }
}

/* Times the rows r[0..nr-1], which differ only in their variant and read
 * the weights ws[0..nr-1], in alternation: run 1 of every variant, then run
 * 2 of every variant, and so on, each run on the next weight copy. On a
 * shared machine the load changes over seconds; alternating puts every
 * variant under the same load, so their ratio is fairer than timing one
 * variant's runs, then the next's. A group stops after reps rounds, or once
 * it has QP_BENCH_MIN_RUNS rounds and has spent max_time seconds per
 * variant. */
static qp_status bench_group(bench_ctx *c, qp_bench_row *r, qp_bench_weights **ws, int nr, act_set *a,
                             qp_threadpool *tp, qp_error *err)
{
    const qp_bench_opts *o = c->o;
    qp_status st = QP_OK;
    /* times[v * reps + run]: seconds of run `run` of row v */
    double *times = malloc((size_t)nr * (size_t)o->reps * sizeof *times);
    if (!times)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");

    if (o->prequantized) {
        /* quantized once, before any clock: rows are byte-identical across
         * variants (the kernel contract), so the first variant's will do */
        const size_t ar = qp_act_row_size(r[0].type, r[0].k);
        for (int64_t j = 0; j < r[0].n; j++)
            qp_quantize_act(r[0].variant, r[0].type, a->x + j * r[0].k, (char *)a->xq + (size_t)j * ar,
                            r[0].k);
    }
    /* warm-up, one per variant: page faults of Y and of the pool's work
     * buffer, code into the instruction cache */
    for (int v = 0; v < nr && st == QP_OK; v++)
        st = run_product(&r[v], tp, qp_bench_weights_next(ws[v]), a, o->prequantized, err);

    int rounds = 0;
    const double t_begin = qp_now();
    while (st == QP_OK && rounds < o->reps) {
        for (int v = 0; v < nr && st == QP_OK; v++) {
            const void *W = qp_bench_weights_next(ws[v]);
            qp_perf_values pv;
            qp_perfcount_start(&c->pc);
            const double t0 = qp_now();
            st = run_product(&r[v], tp, W, a, o->prequantized, err);
            times[(size_t)v * (size_t)o->reps + (size_t)rounds] = qp_now() - t0;
            qp_perfcount_stop(&c->pc, &pv);
            qp_bench_perf_accumulate(&r[v].pv, &pv, rounds == 0);
        }
        rounds++;
        if (rounds >= QP_BENCH_MIN_RUNS && qp_now() - t_begin > o->max_time * nr)
            break;
    }
    for (int v = 0; v < nr && st == QP_OK; v++) {
        st = qp_stats_compute(times + (size_t)v * (size_t)o->reps, rounds, &r[v].time, err);
        if (st != QP_OK)
            break;
        const double t = r[v].time.median > 0 ? r[v].time.median : 1e-9;
        r[v].gbs = (double)r[v].weight_bytes / t / 1e9;
        r[v].gflops = 2.0 * (double)r[v].m * (double)r[v].k * (double)r[v].n / t / 1e9;
    }
    free(times);
    return st;
}

/* ======================================================================== */
/* Bandwidth                                                                */
/* ======================================================================== */

/* Bandwidth for 1 thread and for each threads[] entry, on one buffer of
 * max(8 x LLC, 64 MiB) (or membw_mib): big enough that the cache holds a
 * negligible part of it. Called before the rows and again after them: on a
 * shared machine one measurement can land in a busy moment, and the figure
 * is meant as the ceiling, so each thread count keeps its better pass. */
static qp_status measure_bandwidth(bench_ctx *c, qp_error *err)
{
    const qp_bench_opts *o = c->o;
    qp_bench_result *res = c->res;
    size_t bytes = o->membw_mib > 0 ? (size_t)o->membw_mib << 20 : 8 * res->llc_bytes;
    if (o->membw_mib <= 0 && bytes < ((size_t)64 << 20))
        bytes = (size_t)64 << 20;
    void *buf = qp_membw_alloc(bytes, 1);
    if (!buf)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for a %zu-byte bandwidth buffer",
                            bytes);
    /* counts[]: 1, then each thread count not yet listed */
    int counts[QP_BENCH_MAX_LIST + 1], n = 0;
    counts[n++] = 1;
    for (int i = 0; i < o->n_threads; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= counts[j] == o->threads[i];
        if (!seen)
            counts[n++] = o->threads[i];
    }
    qp_status st = QP_OK;
    for (int i = 0; i < n && st == QP_OK; i++) {
        qp_membw_result r;
        st = qp_membw_read(buf, bytes, counts[i], QP_BENCH_MEMBW_REPS, &r, err);
        if (st != QP_OK)
            break;
        if (c->bw_passes == 0)
            res->bw[res->n_bw++] = r;
        else if (r.best_gbs > res->bw[i].best_gbs)
            res->bw[i] = r;
    }
    c->bw_passes++;
    free(buf);
    return st;
}

/* ======================================================================== */
/* Every row                                                                */
/* ======================================================================== */

/* The rows of one (type, n, threads): one per variant, less scalar above
 * QP_BENCH_SCALAR_MAX_N unless the variants were named, each reading the
 * weights packed for its variant where it has them. */
static qp_status run_threads(bench_ctx *c, enum qp_type t, int64_t n, int hi, qp_bench_weights *ws,
                             qp_bench_weights *pws, const int *has_pws, act_set *a, qp_error *err)
{
    const qp_bench_opts *o = c->o;
    qp_bench_row group[QP_BENCH_MAX_VARIANTS];
    qp_bench_weights *group_ws[QP_BENCH_MAX_VARIANTS];
    int ng = 0;
    qp_status st = QP_OK;
    for (int vi = 0; vi < o->n_variants && st == QP_OK; vi++) {
        const qp_kernels *v = o->variants[vi];
        if (!o->variants_given && n > QP_BENCH_SCALAR_MAX_N && strcmp(qp_kernels_name(v), "scalar") == 0) {
            const qp_bench_skip s = {v, t, n, o->threads[hi]};
            st = add_skip(c, &s, err);
            continue;
        }
        qp_bench_row *r = &group[ng];
        memset(r, 0, sizeof *r);
        r->variant = v;
        r->type = t;
        r->m = o->m;
        r->k = o->k;
        r->n = n;
        r->threads = o->threads[hi];
        r->accelerated = qp_kernels_accelerates(v, t);
        r->layout = has_pws[vi] ? qp_pack_name(v, t) : "rows";
        r->copies = ws->copies;
        r->weight_bytes = ws->bytes;
        group_ws[ng++] = has_pws[vi] ? &pws[vi] : ws;
    }
    if (st == QP_OK && ng > 0)
        st = bench_group(c, group, group_ws, ng, a, c->pools[hi], err);
    for (int g = 0; g < ng && st == QP_OK; g++)
        st = add_row(c, &group[g], err);
    return st;
}

static qp_status run_all(bench_ctx *c, qp_error *err)
{
    const qp_bench_opts *o = c->o;
    qp_progress prog;
    const int64_t total = (int64_t)o->n_types * o->n_ns * o->n_threads;
    qp_progress_begin(&prog, "bench", total);
    int64_t done = 0;
    qp_status st = QP_OK;
    for (int ti = 0; ti < o->n_types && st == QP_OK; ti++) {
        const enum qp_type t = o->types[ti];
        qp_bench_weights ws;
        st = qp_bench_weights_make(&ws, t, o->m, o->k, c->res->llc_bytes, o->hot, err);
        if (st != QP_OK)
            break;
        /* packed copies, one per variant that packs t (unless rows_only) */
        qp_bench_weights pws[QP_BENCH_MAX_VARIANTS];
        int has_pws[QP_BENCH_MAX_VARIANTS] = {0};
        for (int vi = 0; vi < o->n_variants && st == QP_OK && !o->rows_only; vi++)
            if (qp_pack_rows(o->variants[vi], t)) {
                st = qp_bench_weights_pack(&pws[vi], &ws, o->variants[vi], o->m, o->k, err);
                has_pws[vi] = st == QP_OK;
            }
        for (int ni = 0; ni < o->n_ns && st == QP_OK; ni++) {
            const int64_t n = o->ns[ni];
            act_set a;
            /* x[n][k] floats, xq[n][act_row], y[n][m] */
            a.x = malloc((size_t)n * (size_t)o->k * sizeof *a.x);
            a.xq = o->prequantized ? malloc((size_t)n * qp_act_row_size(t, o->k)) : NULL;
            a.y = malloc((size_t)n * (size_t)o->m * sizeof *a.y);
            if (!a.x || !a.y || (o->prequantized && !a.xq)) {
                st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for n=%" PRId64, n);
            } else {
                uint64_t seed = 0xAC7u + (uint64_t)n;
                for (int64_t i = 0; i < n * o->k; i++)
                    a.x[i] = rng_uniform(&seed);
            }
            for (int hi = 0; hi < o->n_threads && st == QP_OK; hi++) {
                char what[96];
                snprintf(what, sizeof what, "%s n=%" PRId64 " threads=%d", qp_bench_type_name(t), n,
                         o->threads[hi]);
                qp_progress_update(&prog, done, what);
                st = run_threads(c, t, n, hi, &ws, pws, has_pws, &a, err);
                done++;
            }
            free(a.x);
            free(a.xq);
            free(a.y);
        }
        free(ws.data);
        for (int vi = 0; vi < o->n_variants; vi++)
            if (has_pws[vi])
                free(pws[vi].data);
    }
    qp_progress_update(&prog, done, NULL);
    qp_progress_end(&prog);
    return st;
}

/* ======================================================================== */
/* Derived columns                                                          */
/* ======================================================================== */

double qp_bench_membw_gbs(const qp_bench_result *r, int threads)
{
    for (int i = 0; i < r->n_bw; i++)
        if (r->bw[i].threads == threads)
            return r->bw[i].best_gbs;
    return 0.0;
}

void qp_bench_finalize_rows(qp_bench_result *res)
{
    for (int i = 0; i < res->n_rows; i++) {
        qp_bench_row *r = &res->rows[i];
        const double bw = qp_bench_membw_gbs(res, r->threads);
        r->bw_pct = bw > 0 ? 100.0 * r->gbs / bw : NAN;
        r->x_scalar = NAN;
        r->x_best = NAN;
        r->best_name = NULL;
        double best = INFINITY;
        for (int j = 0; j < res->n_rows; j++) {
            const qp_bench_row *q = &res->rows[j];
            if (j == i || q->type != r->type || q->n != r->n || q->threads != r->threads)
                continue;
            if (strcmp(qp_kernels_name(q->variant), "scalar") == 0)
                r->x_scalar = q->time.median / r->time.median;
            if (q->time.median < best) {
                best = q->time.median;
                r->best_name = qp_kernels_name(q->variant);
            }
        }
        if (r->best_name)
            r->x_best = best / r->time.median;
    }
}

double qp_bench_row_per_run(const qp_bench_row *row, enum qp_perf_event e)
{
    return row->pv.valid[e] && row->time.n > 0 ? row->pv.value[e] / row->time.n : NAN;
}

double qp_bench_row_ipc(const qp_bench_row *row)
{
    const double cyc = qp_bench_row_per_run(row, QP_PERF_CYCLES);
    const double ins = qp_bench_row_per_run(row, QP_PERF_INSTRUCTIONS);
    return cyc > 0 && !isnan(ins) ? ins / cyc : NAN;
}

/* Well below 1 when other processes took the cores: then absolute times
 * are inflated, while ratios between alternating variants still hold. */
double qp_bench_row_cpu_share(const qp_bench_row *row)
{
    const double ns = qp_bench_row_per_run(row, QP_PERF_TASK_CLOCK);
    return isnan(ns) || row->time.median <= 0 ? NAN : ns / 1e9 / (row->time.median * row->threads);
}

/* ======================================================================== */
/* The run                                                                  */
/* ======================================================================== */

qp_status qp_bench_kernels_run(const qp_bench_opts *o, qp_bench_result *out, qp_error *err)
{
    memset(out, 0, sizeof *out);
    qp_status st = check_opts(o, err);
    if (st != QP_OK)
        return st;
    out->opts = *o;
    bench_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.o = &out->opts;
    ctx.res = out;
    out->llc_bytes = qp_llc_bytes(NULL, &out->llc_found);

    /* bandwidth first, while the machine is otherwise idle for us */
    st = measure_bandwidth(&ctx, err);
    /* counters before the pools: their workers inherit the counters */
    qp_perfcount_open(&ctx.pc, o->counters ? QP_PERF_ALL : 0);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        out->counter_available[e] = qp_perfcount_available(&ctx.pc, (enum qp_perf_event)e);
        snprintf(out->counter_reason[e], sizeof out->counter_reason[e], "%s",
                 qp_perfcount_reason(&ctx.pc, (enum qp_perf_event)e));
    }
    for (int i = 0; i < o->n_threads && st == QP_OK; i++) {
        ctx.pools[i] = qp_threadpool_create(o->threads[i]);
        if (!ctx.pools[i])
            st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "cannot create a pool of %d threads",
                              o->threads[i]);
    }
    if (st == QP_OK)
        st = run_all(&ctx, err);
    if (st == QP_OK)
        st = measure_bandwidth(&ctx, err);
    if (st == QP_OK)
        qp_bench_finalize_rows(out);
    for (int i = 0; i < o->n_threads; i++)
        qp_threadpool_free(ctx.pools[i]);
    qp_perfcount_close(&ctx.pc);
    return st;
}

void qp_bench_result_free(qp_bench_result *r)
{
    if (!r)
        return;
    free(r->rows);
    free(r->skips);
    r->rows = NULL;
    r->skips = NULL;
    r->n_rows = 0;
    r->n_skips = 0;
}
