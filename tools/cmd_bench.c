/* tools/cmd_bench.c - `qprof bench kernels`: how fast each kernel variant
 * multiplies a quantized weight matrix, against this machine's memory.
 *
 * One row of results is one (weight type, n, threads, variant). For each
 * row the weight matrix W (M rows of K weights, made by qp_quantize_row from
 * random floats) is multiplied by n random activation rows with
 * qp_matmul, once untimed (warm-up) and then up to --reps times, each timed
 * run reading a different copy of W: enough copies are allocated to exceed
 * twice the last-level cache, so every run streams its weights from DRAM
 * as a real forward pass does (a model is far larger than any cache), not
 * from a cache the previous run warmed. The median run time and its spread
 * are reported with the derived rates:
 *
 *   GB/s     = weight bytes / median time   (the traffic a matvec must move)
 *   GFLOP/s  = 2 M K n / median time        (one multiply + one add per weight
 *                                            per activation row)
 *   %bw      = GB/s / this machine's streaming read bandwidth at the same
 *              thread count, measured at start-up (bench/bench.h)
 *
 * and the speed-up against the scalar variant and against the fastest other
 * variant of the same (type, n, threads). Hardware counters (common/
 * perfcount.h) are read around the timed runs of each row and reported per
 * run. docs/bench.md explains every column.
 *
 * Results go to stdout (a table, --csv or --json); progress goes to stderr
 * only when it is a terminal.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../bench/bench.h"
#include "../common/common.h"
#include "../kernels/kernels.h"
#include "../quant/quant.h"
#include "commands.h"

/* ======================================================================== */
/* Limits and defaults                                                      */
/* ======================================================================== */

enum {
    MAX_TYPES = 16,
    MAX_VARIANTS = 8,
    MAX_LIST = 16,         /* entries of -n and --threads */
    MAX_THREADS = 256,
    DEFAULT_REPS = 10,
    MIN_RUNS = 3,          /* a row stops early (--max-time) only after this many runs */
    DISTINCT_ROWS = 64,    /* rows quantized from random floats; W repeats them */
    SCALAR_MAX_N = 32,     /* default: scalar is skipped above this n (see usage) */
    MEMBW_REPS = 5,
};

/* M = 4096 output rows of K = 14336 weights: the ffn_down projection of an
 * 8B Llama-3 model (14336 -> 4096), and exactly the shape of llama.cpp's
 * `test-backend-ops perf -o MUL_MAT` cases (m=4096, k=14336), so the two
 * can be compared without conversion. ffn_up/gate are the transpose
 * (--shape 14336x4096): the same bytes and flops, longer output. */
#define DEFAULT_M 4096
#define DEFAULT_K 14336
#define DEFAULT_TYPES "q8_0,q4_0,q4_K,q5_K,q6_K,f16"
#define DEFAULT_MAX_TIME 3.0
/* refuse to allocate more weight copies than this (bytes) */
#define MAX_WEIGHT_BYTES ((size_t)16 << 30)

/* ======================================================================== */
/* Options                                                                  */
/* ======================================================================== */

enum bench_format { FMT_TABLE, FMT_CSV, FMT_JSON };

typedef struct bench_opts {
    enum qp_type types[MAX_TYPES];
    int n_types;
    const qp_kernels *variants[MAX_VARIANTS];
    int n_variants;
    int variants_given;      /* --variants was passed: run exactly those */
    int64_t m, k;
    int64_t ns[MAX_LIST];    /* activation rows per product */
    int n_ns;
    int threads[MAX_LIST];
    int n_threads;
    int reps;
    double max_time;         /* seconds of timed runs per row before stopping early */
    int prequantized;        /* time qp_matmul_q (activations quantized outside) */
    int hot;                 /* one copy of W, no rotation: cache-resident if it fits */
    int rows_only;           /* --rows: plain rows even where a variant packs */
    int counters;            /* open perf counters */
    int membw_mib;           /* bandwidth buffer, 0 = automatic */
    enum bench_format format;
} bench_opts;

/* Splits a comma-separated list into at most max tokens of < size bytes;
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

/* Positive integers "1,2,512" into out[]; -1 on any bad entry. */
static int parse_int_list(const char *s, int64_t *out, int max, int64_t limit)
{
    char tok[MAX_LIST][32];
    const int n = split_list(s, tok, max);
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

static int parse_shape(const char *s, int64_t *m, int64_t *k)
{
    char *end;
    const long long mm = strtoll(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X'))
        return -1;
    const char *p = end + 1;
    const long long kk = strtoll(p, &end, 10);
    if (end == p || *end || mm < 1 || kk < 1 || mm > (1ll << 24) || kk > (1ll << 24))
        return -1;
    *m = mm;
    *k = kk;
    return 0;
}

static const char *type_name(enum qp_type t)
{
    const qp_type_traits *tr = qp_type_info((int)t);
    return tr ? tr->name : "?";
}

/* ======================================================================== */
/* Machine facts                                                            */
/* ======================================================================== */

/* The "flags" (x86) or "Features" (arm64) line of /proc/cpuinfo, padded
 * with spaces at both ends so " avx2 " can be searched; "" if unreadable. */
static void cpu_flags(char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0 && strncmp(line, "Features", 8) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (v) {
            snprintf(buf, size, " %s", v + 1);
            buf[strcspn(buf, "\n")] = '\0';
            strncat(buf, " ", size - strlen(buf) - 1);
        }
        break;
    }
    fclose(f);
}

/* Why variant v cannot run here: the instruction sets named in its
 * description ("AVX2+FMA+F16C", "AVX512F+BW+...") that /proc/cpuinfo does
 * not list. Linux drops a flag from cpuinfo when the OS does not enable its
 * register state, so this covers the xgetbv half of the probe too. */
static void why_unusable(const qp_kernels *v, char *buf, size_t size)
{
    char flags[8192], desc[128], missing[256] = "";
    cpu_flags(flags, sizeof flags);
    snprintf(desc, sizeof desc, "%s", qp_kernels_describe(v));
    for (char *save = NULL, *tok = strtok_r(desc, "+/", &save); tok; tok = strtok_r(NULL, "+/", &save)) {
        char low[40], cand[3][64];
        size_t i = 0;
        /* lower case without '-': "AVX-512F" -> "avx512f" as cpuinfo spells it */
        for (; *tok && i < sizeof low - 1; tok++)
            if (*tok != '-')
                low[i++] = (char)(*tok >= 'A' && *tok <= 'Z' ? *tok - 'A' + 'a' : *tok);
        low[i] = '\0';
        /* descriptions read "AVX2+FMA+F16C" or "AVX-512F/BW/VL/DQ+VNNI": "BW" after
         * "AVX-512F" means avx512bw, and cpuinfo calls VNNI "avx512_vnni" */
        snprintf(cand[0], sizeof cand[0], " %s ", low);
        snprintf(cand[1], sizeof cand[1], " avx512%s ", low);
        snprintf(cand[2], sizeof cand[2], " avx512_%s ", low);
        int found = 0;
        for (int c = 0; c < 3 && !found; c++)
            found = strstr(flags, cand[c]) != NULL;
        if (!found && flags[0]) {
            /* name it as cpuinfo would: a short token of an AVX-512 list is
             * an AVX-512 subset ("bw" -> "avx512bw", "vnni" -> "avx512_vnni") */
            char name[64];
            if (strstr(qp_kernels_describe(v), "512") && strncmp(low, "avx", 3) != 0 &&
                strcmp(low, "fma") != 0 && strcmp(low, "f16c") != 0)
                snprintf(name, sizeof name, strcmp(low, "vnni") == 0 ? "avx512_%s" : "avx512%s", low);
            else
                snprintf(name, sizeof name, "%s", low);
            strncat(missing, missing[0] ? ", " : "", sizeof missing - strlen(missing) - 1);
            strncat(missing, name, sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0])
        snprintf(buf, size, "this CPU/OS lacks %s (/proc/cpuinfo)", missing);
    else
        snprintf(buf, size, "this CPU/OS lacks a feature of %s", qp_kernels_describe(v));
}

/* ======================================================================== */
/* --list                                                                   */
/* ======================================================================== */

static int list_variants(enum bench_format format)
{
    const qp_kernels *all[MAX_VARIANTS];
    int n = qp_kernels_all(all, MAX_VARIANTS);
    if (n > MAX_VARIANTS)
        n = MAX_VARIANTS;
    const qp_kernels *def = qp_kernels_default();
    cJSON *root = format == FMT_JSON ? cJSON_CreateArray() : NULL;
    if (format == FMT_JSON && !root)
        return 1;

    for (int i = 0; i < n; i++) {
        const qp_kernels *v = all[i];
        const int usable = qp_kernels_usable(v);
        const int is_scalar = strcmp(qp_kernels_name(v), "scalar") == 0;
        char why[320] = "";
        if (!usable)
            why_unusable(v, why, sizeof why);
        /* weight types with kernels: those with a pairing activation type */
        char acc[256] = "", fb[256] = "", pk[256] = "";
        cJSON *jacc = cJSON_CreateArray(), *jfb = cJSON_CreateArray(), *jpk = cJSON_CreateArray();
        for (int t = 0; t < QP_TYPE_COUNT; t++) {
            if (!qp_type_info(t) || qp_act_type((enum qp_type)t) < 0)
                continue;
            const char *layout = qp_pack_name(v, (enum qp_type)t);
            if (layout) {
                strncat(pk, pk[0] ? ", " : "", sizeof pk - strlen(pk) - 1);
                strncat(pk, layout, sizeof pk - strlen(pk) - 1);
                cJSON_AddItemToArray(jpk, cJSON_CreateString(layout));
            }
            const int a = is_scalar || qp_kernels_accelerates(v, (enum qp_type)t);
            char *dst = a ? acc : fb;
            const size_t cap = sizeof acc;
            strncat(dst, dst[0] ? " " : "", cap - strlen(dst) - 1);
            strncat(dst, type_name((enum qp_type)t), cap - strlen(dst) - 1);
            cJSON_AddItemToArray(a ? jacc : jfb, cJSON_CreateString(type_name((enum qp_type)t)));
        }
        if (root) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "variant", qp_kernels_name(v));
            cJSON_AddStringToObject(o, "instruction_sets", qp_kernels_describe(v));
            cJSON_AddBoolToObject(o, "usable", usable);
            if (!usable)
                cJSON_AddStringToObject(o, "why_not", why);
            cJSON_AddBoolToObject(o, "default", v == def);
            cJSON_AddItemToObject(o, "own_kernels", jacc);
            cJSON_AddItemToObject(o, "scalar_fallback", jfb);
            cJSON_AddItemToObject(o, "packed_layouts", jpk);
            cJSON_AddItemToArray(root, o);
        } else {
            cJSON_Delete(jacc);
            cJSON_Delete(jfb);
            cJSON_Delete(jpk);
            printf("%s%s  [%s]\n", qp_kernels_name(v), v == def ? " (default)" : "",
                   qp_kernels_describe(v));
            if (usable)
                printf("  usable:          yes\n");
            else
                printf("  usable:          no: %s\n", why);
            if (is_scalar) {
                printf("  own kernels:     %s (the reference)\n", acc);
            } else {
                printf("  own kernels:     %s\n", acc[0] ? acc : "none yet");
                printf("  scalar fallback: %s\n", fb[0] ? fb : "none");
                printf("  packed layouts:  %s\n", pk[0] ? pk : "none");
            }
        }
    }
    if (root) {
        char *s = cJSON_Print(root);
        cJSON_Delete(root);
        if (!s)
            return 1;
        puts(s);
        free(s);
    }
    return 0;
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

/* One weight set: `copies` copies of the M x K matrix of type t, laid out
 * back to back, each `bytes` long. Kernel time does not depend on the
 * values (no kernel branches on data), so DISTINCT_ROWS rows are quantized
 * and repeated down the matrix: quantizing all of W with the K-quants' scale
 * search would take longer than the benchmark. */
typedef struct weight_set {
    enum qp_type type;
    unsigned char *data;    /* [copies][m][row_bytes] */
    size_t row_bytes, bytes;
    int copies;
    int next;               /* copy the next run reads */
} weight_set;

static qp_status weights_make(weight_set *ws, enum qp_type t, int64_t m, int64_t k, size_t llc,
                              int hot, qp_error *err)
{
    memset(ws, 0, sizeof *ws);
    ws->type = t;
    ws->row_bytes = qp_row_size((int)t, k);
    if (!ws->row_bytes)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "cannot size a %s row of %" PRId64 " weights",
                            type_name(t), k);
    ws->bytes = ws->row_bytes * (size_t)m;
    /* copies so that all of them together are >= 2 x LLC: the one a run
     * reads was last touched `copies` runs ago and has been evicted since */
    const size_t need = 2 * llc;
    ws->copies = ws->bytes >= need || hot ? 1 : (int)((need + ws->bytes - 1) / ws->bytes);
    if ((size_t)ws->copies * ws->bytes > MAX_WEIGHT_BYTES)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%s weights of %zu bytes are too large",
                            type_name(t), ws->bytes);
    /* ordinary pages: what a model's weights get (see qp_membw_alloc) */
    ws->data = qp_membw_alloc((size_t)ws->copies * ws->bytes, 0);
    /* x[DISTINCT_ROWS][k] floats: the source rows */
    float *x = malloc((size_t)k * sizeof *x);
    if (!ws->data || !x) {
        free(x);
        free(ws->data);
        ws->data = NULL;
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for %d x %zu bytes of %s weights",
                            ws->copies, ws->bytes, type_name(t));
    }
    uint64_t seed = 0x5EED0000u + (uint64_t)t;
    const int64_t distinct = m < DISTINCT_ROWS ? m : DISTINCT_ROWS;
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
        memcpy(ws->data + (size_t)r * ws->row_bytes,
               ws->data + (size_t)(r % distinct) * ws->row_bytes, ws->row_bytes);
    for (int c = 1; c < ws->copies; c++)
        memcpy(ws->data + (size_t)c * ws->bytes, ws->data, ws->bytes);
    return QP_OK;
}

/* dst = src with every copy packed for variant v (qp_pack_weights): the
 * layout the forward pass gives v (model/model.c). */
static qp_status weights_pack(weight_set *dst, const weight_set *src, const qp_kernels *v, int64_t m,
                              int64_t k, qp_error *err)
{
    *dst = *src;
    dst->next = 0;
    /* the model's allocator for packed copies (huge pages where allowed) */
    dst->data = qp_pack_alloc((size_t)src->copies * src->bytes);
    if (!dst->data)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for packed %s weights",
                            type_name(src->type));
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

/* The copy for the next run (round robin). */
static const void *weights_next(weight_set *ws)
{
    const void *p = ws->data + (size_t)ws->next * ws->bytes;
    ws->next = (ws->next + 1) % ws->copies;
    return p;
}

/* ======================================================================== */
/* Results                                                                  */
/* ======================================================================== */

typedef struct bench_row {
    const qp_kernels *v;
    enum qp_type type;
    int64_t m, k, n;
    int threads;
    int accelerated;      /* the variant has its own code for the type */
    const char *layout;   /* "rows", or the packed layout's name ("q4_K x8") */
    weight_set *ws;       /* the weights it reads: plain, or packed for it */
    int copies;
    size_t weight_bytes;  /* one copy of W */
    qp_stats st;          /* seconds per run */
    double gbs, gflops, bw_pct;
    double x_scalar, x_best;  /* speed-ups; NAN when there is nothing to compare */
    const char *best_name;    /* the fastest other variant, NULL if none */
    qp_perf_values pv;        /* summed over the timed runs */
} bench_row;

typedef struct bench_skip {
    const qp_kernels *v;
    enum qp_type type;
    int64_t n;
    int threads;
} bench_skip;

/* Everything a run needs, shared by all rows. */
typedef struct bench_ctx {
    const bench_opts *o;
    size_t llc;
    int llc_found;
    qp_membw_result bw[MAX_LIST + 1]; /* per thread count (1 and each of --threads) */
    int n_bw;
    int bw_passes;                    /* measure_bandwidth calls so far (before, after) */
    qp_perfcount pc;
    qp_threadpool *pools[MAX_LIST];   /* one per --threads entry */
    bench_row *rows;
    int n_rows, cap_rows;
    bench_skip *skips;
    int n_skips, cap_skips;
} bench_ctx;

static double bw_for(const bench_ctx *c, int threads)
{
    for (int i = 0; i < c->n_bw; i++)
        if (c->bw[i].threads == threads)
            return c->bw[i].best_gbs;
    return 0.0;
}

/* ======================================================================== */
/* Timing one row                                                           */
/* ======================================================================== */

/* X and its quantized form for one (type, n). */
typedef struct act_set {
    float *x;      /* [n][k] */
    void *xq;      /* [n][act_row] (only with --prequantized) */
    float *y;      /* [n][m] */
} act_set;

static qp_status run_product(const bench_row *r, qp_threadpool *tp, const void *W, const act_set *a,
                             int prequantized, qp_error *err)
{
    const int packed = strcmp(r->layout, "rows") != 0;
    if (prequantized)
        return (packed ? qp_matmul_q_packed : qp_matmul_q)(r->v, tp, r->type, W, r->m, r->k, a->xq,
                                                            r->n, a->y, err);
    return (packed ? qp_matmul_packed : qp_matmul)(r->v, tp, r->type, W, r->m, r->k, a->x, r->n,
                                                   a->y, err);
}

/* Adds the counts of one run to a row's totals; an event stays valid only
 * if it counted in every run. */
static void perf_accumulate(qp_perf_values *sum, const qp_perf_values *one, int first)
{
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        sum->valid[e] = (first || sum->valid[e]) && one->valid[e];
        sum->value[e] = (first ? 0.0 : sum->value[e]) + one->value[e];
        sum->running_frac[e] = one->running_frac[e];
    }
}

/* Times the rows r[0..nr-1], which differ only in their variant, in
 * alternation: run 1 of every variant, then run 2 of every variant, and so
 * on, each run on the next weight copy. On a shared machine the load
 * changes over seconds; alternating puts every variant under the same load,
 * so their ratio is fairer than timing one variant's runs, then the next's.
 * A group stops after --reps rounds, or once it has MIN_RUNS rounds and
 * has spent --max-time seconds per variant. */
static qp_status bench_group(bench_ctx *c, bench_row *r, int nr, act_set *a, qp_threadpool *tp,
                             qp_error *err)
{
    const bench_opts *o = c->o;
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
            qp_quantize_act(r[0].v, r[0].type, a->x + j * r[0].k, (char *)a->xq + (size_t)j * ar, r[0].k);
    }
    /* warm-up, one per variant: page faults of Y and of the pool's work
     * buffer, code into the instruction cache */
    for (int v = 0; v < nr && st == QP_OK; v++)
        st = run_product(&r[v], tp, weights_next(r[v].ws), a, o->prequantized, err);

    int rounds = 0;
    const double t_begin = qp_now();
    while (st == QP_OK && rounds < o->reps) {
        for (int v = 0; v < nr && st == QP_OK; v++) {
            const void *W = weights_next(r[v].ws);
            qp_perf_values pv;
            qp_perfcount_start(&c->pc);
            const double t0 = qp_now();
            st = run_product(&r[v], tp, W, a, o->prequantized, err);
            times[(size_t)v * (size_t)o->reps + (size_t)rounds] = qp_now() - t0;
            qp_perfcount_stop(&c->pc, &pv);
            perf_accumulate(&r[v].pv, &pv, rounds == 0);
        }
        rounds++;
        if (rounds >= MIN_RUNS && qp_now() - t_begin > o->max_time * nr)
            break;
    }
    for (int v = 0; v < nr && st == QP_OK; v++) {
        st = qp_stats_compute(times + (size_t)v * (size_t)o->reps, rounds, &r[v].st, err);
        if (st != QP_OK)
            break;
        const double t = r[v].st.median > 0 ? r[v].st.median : 1e-9;
        r[v].gbs = (double)r[v].weight_bytes / t / 1e9;
        r[v].gflops = 2.0 * (double)r[v].m * (double)r[v].k * (double)r[v].n / t / 1e9;
    }
    free(times);
    return st;
}

/* Once every row is in and the bandwidth is final: % of bandwidth, and the
 * speed-ups against the same (type, n, threads) with another variant. */
static void finalize_rows(bench_ctx *c)
{
    for (int i = 0; i < c->n_rows; i++) {
        bench_row *r = &c->rows[i];
        const double bw = bw_for(c, r->threads);
        r->bw_pct = bw > 0 ? 100.0 * r->gbs / bw : NAN;
        r->x_scalar = NAN;
        r->x_best = NAN;
        r->best_name = NULL;
        double best = INFINITY;
        for (int j = 0; j < c->n_rows; j++) {
            const bench_row *q = &c->rows[j];
            if (j == i || q->type != r->type || q->n != r->n || q->threads != r->threads)
                continue;
            if (strcmp(qp_kernels_name(q->v), "scalar") == 0)
                r->x_scalar = q->st.median / r->st.median;
            if (q->st.median < best) {
                best = q->st.median;
                r->best_name = qp_kernels_name(q->v);
            }
        }
        if (r->best_name)
            r->x_best = best / r->st.median;
    }
}

/* ======================================================================== */
/* Output                                                                   */
/* ======================================================================== */

/* Per-run counter value, or NAN when the counter did not count. */
static double per_run(const bench_row *r, enum qp_perf_event e)
{
    return r->pv.valid[e] ? r->pv.value[e] / r->st.n : NAN;
}

/* CPU time per run / (median wall time x threads): about 1 when every
 * thread had a core to itself for the whole run, well below 1 when other
 * processes took the cores (then absolute times are inflated; ratios between
 * alternating variants still hold). NAN without the task-clock counter. */
static double row_cpu_share(const bench_row *r)
{
    const double ns = per_run(r, QP_PERF_TASK_CLOCK);
    return isnan(ns) || r->st.median <= 0 ? NAN : ns / 1e9 / (r->st.median * r->threads);
}

static double row_ipc(const bench_row *r)
{
    const double cyc = per_run(r, QP_PERF_CYCLES), ins = per_run(r, QP_PERF_INSTRUCTIONS);
    return cyc > 0 && !isnan(ins) ? ins / cyc : NAN;
}

static void print_header(FILE *out, const bench_ctx *c, const char *prefix)
{
    const bench_opts *o = c->o;
    char model[256];
    qp_cpu_model(model, sizeof model);
    fprintf(out, "%scpu: %s, %ld logical CPUs, last-level cache %.1f MiB (%s)\n", prefix, model,
            sysconf(_SC_NPROCESSORS_ONLN), (double)c->llc / 1048576.0,
            c->llc_found ? "sysfs" : "unknown: assumed");
    if (c->n_bw > 0) {
        fprintf(out, "%smemory read bandwidth (%s loads, %.0f MiB, best of %d passes before and %d after "
                     "the rows):", prefix, c->bw[0].method, (double)c->bw[0].bytes / 1048576.0,
                c->bw[0].reps, c->bw[0].reps);
        for (int i = 0; i < c->n_bw; i++)
            fprintf(out, "%s %d thread%s %.1f GB/s", i ? "," : "", c->bw[i].threads,
                    c->bw[i].threads > 1 ? "s" : "", c->bw[i].best_gbs);
        fputc('\n', out);
    }
    fprintf(out, "%sshape: M=%" PRId64 " output rows x K=%" PRId64 " weights per row; timed: %s; "
                 "median of up to %d runs (>= %d, ~%.1f s a row) after 1 warm-up, variants alternating "
                 "run by run; %s\n",
            prefix, o->m, o->k, o->prequantized ? "qp_matmul_q (activations quantized beforehand)"
                                                : "qp_matmul (includes activation quantization)",
            o->reps, o->reps < MIN_RUNS ? o->reps : MIN_RUNS, o->max_time,
            o->hot ? "--hot: ONE copy of the weights, reused run after run (in cache if it fits: "
                     "the kernels' compute ceiling, not a memory figure)"
                   : "weights rotated over copies >= 2x LLC");
    fprintf(out, "%scounters (per run, this process's threads, user space):", prefix);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        if (qp_perfcount_available(&c->pc, (enum qp_perf_event)e))
            fprintf(out, " %s ok;", qp_perf_event_name((enum qp_perf_event)e));
        else
            fprintf(out, " %s unavailable (%s);", qp_perf_event_name((enum qp_perf_event)e),
                    qp_perfcount_reason(&c->pc, (enum qp_perf_event)e));
    }
    fputc('\n', out);
}

static void fmt_ratio(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2fx", x);
}

static void print_table(const bench_ctx *c)
{
    print_header(stdout, c, "");
    const int have_ipc = qp_perfcount_available(&c->pc, QP_PERF_CYCLES) &&
                         qp_perfcount_available(&c->pc, QP_PERF_INSTRUCTIONS);
    const int have_llc = qp_perfcount_available(&c->pc, QP_PERF_LLC_MISSES);
    const int have_clk = qp_perfcount_available(&c->pc, QP_PERF_TASK_CLOCK);
    printf("\n%-7s %-5s %-7s %6s %3s %4s %10s %6s %7s %8s %5s %8s %-16s", "variant", "type", "layout", "n", "thr", "runs",
           "median_ms", "iqr%", "GB/s", "GFLOP/s", "%bw", "x_scalar", "x_best_other");
    if (have_ipc)
        printf(" %9s %5s", "Mcycles", "IPC");
    if (have_llc)
        printf(" %10s", "LLC-miss");
    if (have_clk)
        printf(" %7s %5s", "cpu_ms", "cpu%");
    putchar('\n');
    int starved = 0;
    for (int i = 0; i < c->n_rows; i++) {
        const bench_row *r = &c->rows[i];
        char xs[16], xb[48], type[16];
        fmt_ratio(xs, sizeof xs, r->x_scalar);
        fmt_ratio(xb, sizeof xb, r->x_best);
        if (r->best_name) {
            const size_t l = strlen(xb);
            snprintf(xb + l, sizeof xb - l, " %s", r->best_name);
        }
        /* a '*' marks a type this variant runs with the scalar fallback */
        snprintf(type, sizeof type, "%s%s", type_name(r->type),
                 r->accelerated || strcmp(qp_kernels_name(r->v), "scalar") == 0 ? "" : "*");
        printf("%-7s %-5s %-7s %6" PRId64 " %3d %4d %10.3f %6.1f %7.2f %8.2f %5.1f %8s %-16s",
               qp_kernels_name(r->v), type, strcmp(r->layout, "rows") ? "packed" : "rows", r->n, r->threads, r->st.n, r->st.median * 1e3,
               100.0 * qp_stats_rel_iqr(&r->st), r->gbs, r->gflops, r->bw_pct, xs, xb);
        if (have_ipc)
            printf(" %9.1f %5.2f", per_run(r, QP_PERF_CYCLES) / 1e6, row_ipc(r));
        if (have_llc)
            printf(" %10.0f", per_run(r, QP_PERF_LLC_MISSES));
        if (have_clk) {
            const double share = row_cpu_share(r);
            printf(" %7.2f %5.0f", per_run(r, QP_PERF_TASK_CLOCK) / 1e6, 100.0 * share);
            starved += share < 0.7;
        }
        putchar('\n');
    }
    printf("\n%s\n", "x_scalar: scalar median / this median (> 1: faster); x_best_other: the fastest "
                     "other variant's median / this median; * : this variant runs the scalar code for "
                     "the type; layout: plain GGUF rows, or packed (rows interleaved at load "
                     "time by qp_pack_weights, as the forward pass does; --rows to time plain rows)");
    if (starved)
        printf("note: in %d row(s) the threads ran less than 70%% of the wall time (cpu%%): other "
               "processes had the cores, so times are inflated; compare ratios, not absolute times\n",
               starved);
    for (int i = 0; i < c->n_skips; i++)
        printf("skipped: %s %s n=%" PRId64 " threads=%d (scalar above n=%d is slow; name scalar in "
               "--variants to include it)\n",
               qp_kernels_name(c->skips[i].v), type_name(c->skips[i].type), c->skips[i].n,
               c->skips[i].threads, SCALAR_MAX_N);
}

/* CSV number: empty when not available, so spreadsheets see a gap. */
static void csv_num(double v, const char *fmt)
{
    putchar(',');
    if (!isnan(v) && !isinf(v))
        printf(fmt, v);
}

static void print_csv(const bench_ctx *c)
{
    print_header(stdout, c, "# ");
    puts("variant,type,accelerated,m,k,n,threads,runs,median_ms,min_ms,max_ms,q1_ms,q3_ms,mad_ms,mean_ms,"
         "weight_bytes,weight_copies,gbs,gflops,bw_pct,membw_gbs,speedup_vs_scalar,"
         "speedup_vs_best_other,best_other,cycles,instructions,ipc,llc_misses,task_clock_ms,cpu_share,layout");
    for (int i = 0; i < c->n_rows; i++) {
        const bench_row *r = &c->rows[i];
        printf("%s,%s,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%d", qp_kernels_name(r->v),
               type_name(r->type), r->accelerated, r->m, r->k, r->n, r->threads, r->st.n);
        csv_num(r->st.median * 1e3, "%.6g");
        csv_num(r->st.min * 1e3, "%.6g");
        csv_num(r->st.max * 1e3, "%.6g");
        csv_num(r->st.q1 * 1e3, "%.6g");
        csv_num(r->st.q3 * 1e3, "%.6g");
        csv_num(r->st.mad * 1e3, "%.6g");
        csv_num(r->st.mean * 1e3, "%.6g");
        printf(",%zu,%d", r->weight_bytes, r->copies);
        csv_num(r->gbs, "%.3f");
        csv_num(r->gflops, "%.3f");
        csv_num(r->bw_pct, "%.2f");
        csv_num(bw_for(c, r->threads), "%.3f");
        csv_num(r->x_scalar, "%.3f");
        csv_num(r->x_best, "%.3f");
        printf(",%s", r->best_name ? r->best_name : "");
        csv_num(per_run(r, QP_PERF_CYCLES), "%.0f");
        csv_num(per_run(r, QP_PERF_INSTRUCTIONS), "%.0f");
        csv_num(row_ipc(r), "%.3f");
        csv_num(per_run(r, QP_PERF_LLC_MISSES), "%.0f");
        csv_num(per_run(r, QP_PERF_TASK_CLOCK) / 1e6, "%.3f");
        csv_num(row_cpu_share(r), "%.3f");
        printf(",%s\n", r->layout);
    }
}

/* A number, or null when not available. */
static void json_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static int print_json(const bench_ctx *c)
{
    const bench_opts *o = c->o;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return 1;
    cJSON_AddStringToObject(root, "command", "bench kernels");
    cJSON_AddStringToObject(root, "qprof_version", QPROF_VERSION);

    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    char model[256];
    qp_cpu_model(model, sizeof model);
    cJSON_AddStringToObject(mach, "cpu", model);
    cJSON_AddNumberToObject(mach, "logical_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(mach, "llc_bytes", (double)c->llc);
    cJSON_AddStringToObject(mach, "llc_source", c->llc_found ? "sysfs" : "fallback");
    cJSON *bws = cJSON_AddArrayToObject(mach, "memory_read_bandwidth");
    for (int i = 0; i < c->n_bw; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "threads", c->bw[i].threads);
        cJSON_AddNumberToObject(b, "best_gbs", c->bw[i].best_gbs);
        cJSON_AddNumberToObject(b, "median_gbs", c->bw[i].median_gbs);
        cJSON_AddNumberToObject(b, "bytes", (double)c->bw[i].bytes);
        cJSON_AddNumberToObject(b, "reps", c->bw[i].reps);
        cJSON_AddStringToObject(b, "method", c->bw[i].method);
        cJSON_AddItemToArray(bws, b);
    }

    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "m", (double)o->m);
    cJSON_AddNumberToObject(cfg, "k", (double)o->k);
    cJSON *jt = cJSON_AddArrayToObject(cfg, "types");
    for (int i = 0; i < o->n_types; i++)
        cJSON_AddItemToArray(jt, cJSON_CreateString(type_name(o->types[i])));
    cJSON *jv = cJSON_AddArrayToObject(cfg, "variants");
    for (int i = 0; i < o->n_variants; i++)
        cJSON_AddItemToArray(jv, cJSON_CreateString(qp_kernels_name(o->variants[i])));
    cJSON *jn = cJSON_AddArrayToObject(cfg, "n");
    for (int i = 0; i < o->n_ns; i++)
        cJSON_AddItemToArray(jn, cJSON_CreateNumber((double)o->ns[i]));
    cJSON *jth = cJSON_AddArrayToObject(cfg, "threads");
    for (int i = 0; i < o->n_threads; i++)
        cJSON_AddItemToArray(jth, cJSON_CreateNumber(o->threads[i]));
    cJSON_AddNumberToObject(cfg, "reps", o->reps);
    cJSON_AddNumberToObject(cfg, "min_runs", o->reps < MIN_RUNS ? o->reps : MIN_RUNS);
    cJSON_AddNumberToObject(cfg, "max_time_s", o->max_time);
    cJSON_AddStringToObject(cfg, "timed", o->prequantized ? "qp_matmul_q" : "qp_matmul");
    cJSON_AddStringToObject(cfg, "weights", o->hot ? "hot" : "rotated");
    cJSON_AddStringToObject(cfg, "layout", o->rows_only ? "rows" : "packed where the variant has a layout");

    cJSON *ctr = cJSON_AddObjectToObject(root, "counters");
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        cJSON *ce = cJSON_AddObjectToObject(ctr, qp_perf_event_name((enum qp_perf_event)e));
        const int ok = qp_perfcount_available(&c->pc, (enum qp_perf_event)e);
        cJSON_AddBoolToObject(ce, "available", ok);
        if (!ok)
            cJSON_AddStringToObject(ce, "reason", qp_perfcount_reason(&c->pc, (enum qp_perf_event)e));
    }

    cJSON *res = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < c->n_rows; i++) {
        const bench_row *r = &c->rows[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "variant", qp_kernels_name(r->v));
        cJSON_AddStringToObject(x, "type", type_name(r->type));
        cJSON_AddBoolToObject(x, "accelerated", r->accelerated);
        cJSON_AddStringToObject(x, "layout", r->layout);
        cJSON_AddNumberToObject(x, "m", (double)r->m);
        cJSON_AddNumberToObject(x, "k", (double)r->k);
        cJSON_AddNumberToObject(x, "n", (double)r->n);
        cJSON_AddNumberToObject(x, "threads", r->threads);
        cJSON_AddNumberToObject(x, "runs", r->st.n);
        cJSON_AddNumberToObject(x, "median_ms", r->st.median * 1e3);
        cJSON_AddNumberToObject(x, "min_ms", r->st.min * 1e3);
        cJSON_AddNumberToObject(x, "max_ms", r->st.max * 1e3);
        cJSON_AddNumberToObject(x, "q1_ms", r->st.q1 * 1e3);
        cJSON_AddNumberToObject(x, "q3_ms", r->st.q3 * 1e3);
        cJSON_AddNumberToObject(x, "mad_ms", r->st.mad * 1e3);
        cJSON_AddNumberToObject(x, "mean_ms", r->st.mean * 1e3);
        cJSON_AddNumberToObject(x, "weight_bytes", (double)r->weight_bytes);
        cJSON_AddNumberToObject(x, "weight_copies", r->copies);
        json_num(x, "gbs", r->gbs);
        json_num(x, "gflops", r->gflops);
        json_num(x, "bw_pct", r->bw_pct);
        json_num(x, "speedup_vs_scalar", r->x_scalar);
        json_num(x, "speedup_vs_best_other", r->x_best);
        if (r->best_name)
            cJSON_AddStringToObject(x, "best_other", r->best_name);
        else
            cJSON_AddNullToObject(x, "best_other");
        cJSON *pc = cJSON_AddObjectToObject(x, "counters_per_run");
        json_num(pc, "cycles", per_run(r, QP_PERF_CYCLES));
        json_num(pc, "instructions", per_run(r, QP_PERF_INSTRUCTIONS));
        json_num(pc, "ipc", row_ipc(r));
        json_num(pc, "llc_misses", per_run(r, QP_PERF_LLC_MISSES));
        json_num(pc, "task_clock_ms", per_run(r, QP_PERF_TASK_CLOCK) / 1e6);
        json_num(pc, "cpu_share", row_cpu_share(r));
        cJSON_AddItemToArray(res, x);
    }
    cJSON *sk = cJSON_AddArrayToObject(root, "skipped");
    for (int i = 0; i < c->n_skips; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "variant", qp_kernels_name(c->skips[i].v));
        cJSON_AddStringToObject(x, "type", type_name(c->skips[i].type));
        cJSON_AddNumberToObject(x, "n", (double)c->skips[i].n);
        cJSON_AddNumberToObject(x, "threads", c->skips[i].threads);
        char why[96];
        snprintf(why, sizeof why, "scalar is skipped above n=%d unless named in --variants", SCALAR_MAX_N);
        cJSON_AddStringToObject(x, "reason", why);
        cJSON_AddItemToArray(sk, x);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}

/* ======================================================================== */
/* The run                                                                  */
/* ======================================================================== */

static qp_status add_row(bench_ctx *c, const bench_row *r, qp_error *err)
{
    if (c->n_rows == c->cap_rows) {
        const int cap = c->cap_rows ? 2 * c->cap_rows : 64;
        bench_row *p = realloc(c->rows, (size_t)cap * sizeof *p);
        if (!p)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        c->rows = p;
        c->cap_rows = cap;
    }
    c->rows[c->n_rows++] = *r;
    return QP_OK;
}

static qp_status add_skip(bench_ctx *c, const bench_skip *s, qp_error *err)
{
    if (c->n_skips == c->cap_skips) {
        const int cap = c->cap_skips ? 2 * c->cap_skips : 16;
        bench_skip *p = realloc(c->skips, (size_t)cap * sizeof *p);
        if (!p)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        c->skips = p;
        c->cap_skips = cap;
    }
    c->skips[c->n_skips++] = *s;
    return QP_OK;
}

/* Bandwidth for 1 thread and for each --threads entry, on one buffer of
 * max(8 x LLC, 64 MiB) (or --membw-mib): big enough that the cache holds a
 * negligible part of it. Called before the rows and again after them: on a
 * shared machine one measurement can land in a busy moment, and the figure
 * is meant as the ceiling, so each thread count keeps its better pass. */
static qp_status measure_bandwidth(bench_ctx *c, qp_error *err)
{
    const bench_opts *o = c->o;
    size_t bytes = o->membw_mib > 0 ? (size_t)o->membw_mib << 20 : 8 * c->llc;
    if (o->membw_mib <= 0 && bytes < ((size_t)64 << 20))
        bytes = (size_t)64 << 20;
    void *buf = qp_membw_alloc(bytes, 1);
    if (!buf)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for a %zu-byte bandwidth buffer",
                            bytes);
    int counts[MAX_LIST + 1], n = 0;
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
        st = qp_membw_read(buf, bytes, counts[i], MEMBW_REPS, &r, err);
        if (st != QP_OK)
            break;
        if (c->bw_passes == 0)
            c->bw[c->n_bw++] = r;
        else if (r.best_gbs > c->bw[i].best_gbs)
            c->bw[i] = r;
    }
    c->bw_passes++;
    free(buf);
    return st;
}

static qp_status run_all(bench_ctx *c, qp_error *err)
{
    const bench_opts *o = c->o;
    qp_progress prog;
    const int64_t total = (int64_t)o->n_types * o->n_ns * o->n_threads;
    qp_progress_begin(&prog, "bench", total);
    int64_t done = 0;
    qp_status st = QP_OK;
    for (int ti = 0; ti < o->n_types && st == QP_OK; ti++) {
        const enum qp_type t = o->types[ti];
        weight_set ws;
        st = weights_make(&ws, t, o->m, o->k, c->llc, o->hot, err);
        if (st != QP_OK)
            break;
        /* packed copies, one per variant that packs t (unless --rows) */
        weight_set pws[MAX_VARIANTS];
        int has_pws[MAX_VARIANTS] = {0};
        for (int vi = 0; vi < o->n_variants && st == QP_OK && !o->rows_only; vi++)
            if (qp_pack_rows(o->variants[vi], t)) {
                st = weights_pack(&pws[vi], &ws, o->variants[vi], o->m, o->k, err);
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
                bench_row group[MAX_VARIANTS];
                int ng = 0;
                for (int vi = 0; vi < o->n_variants && st == QP_OK; vi++) {
                    const qp_kernels *v = o->variants[vi];
                    if (!o->variants_given && n > SCALAR_MAX_N && strcmp(qp_kernels_name(v), "scalar") == 0) {
                        const bench_skip s = {v, t, n, o->threads[hi]};
                        st = add_skip(c, &s, err);
                        continue;
                    }
                    bench_row *r = &group[ng++];
                    memset(r, 0, sizeof *r);
                    r->v = v;
                    r->type = t;
                    r->m = o->m;
                    r->k = o->k;
                    r->n = n;
                    r->threads = o->threads[hi];
                    r->accelerated = qp_kernels_accelerates(v, t);
                    r->layout = has_pws[vi] ? qp_pack_name(v, t) : "rows";
                    r->ws = has_pws[vi] ? &pws[vi] : &ws;
                    r->copies = ws.copies;
                    r->weight_bytes = ws.bytes;
                }
                char what[96];
                snprintf(what, sizeof what, "%s n=%" PRId64 " threads=%d", type_name(t), n, o->threads[hi]);
                qp_progress_update(&prog, done, what);
                if (st == QP_OK && ng > 0)
                    st = bench_group(c, group, ng, &a, c->pools[hi], err);
                for (int g = 0; g < ng && st == QP_OK; g++)
                    st = add_row(c, &group[g], err);
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
/* Command                                                                  */
/* ======================================================================== */

static int parse_types(const char *s, bench_opts *o, int64_t k)
{
    char tok[MAX_TYPES][32];
    const int n = split_list(s, tok, MAX_TYPES);
    if (n <= 0)
        return qp_usage_error("bench", "bad --types list '%s'", s);
    for (int i = 0; i < n; i++) {
        const int t = qp_type_from_name(tok[i]);
        const qp_type_traits *tr = t >= 0 ? qp_type_info(t) : NULL;
        if (!tr)
            return qp_usage_error("bench", "unknown type '%s'", tok[i]);
        if (qp_act_type((enum qp_type)t) < 0 || !tr->can_quantize)
            return qp_usage_error("bench", "type '%s' has no kernels to benchmark", tok[i]);
        if (k % tr->block_size != 0)
            return qp_usage_error("bench", "K=%" PRId64 " is not a multiple of %s's block size %" PRId64, k,
                                  tr->name, tr->block_size);
        o->types[o->n_types++] = (enum qp_type)t;
    }
    return 0;
}

static int parse_variants(const char *s, bench_opts *o)
{
    if (!s) {
        /* every usable variant, in the table's order (scalar first) */
        const qp_kernels *all[MAX_VARIANTS];
        int n = qp_kernels_all(all, MAX_VARIANTS);
        for (int i = 0; i < n && i < MAX_VARIANTS; i++)
            if (qp_kernels_usable(all[i]))
                o->variants[o->n_variants++] = all[i];
        return 0;
    }
    char tok[MAX_VARIANTS][32];
    const int n = split_list(s, tok, MAX_VARIANTS);
    if (n <= 0)
        return qp_usage_error("bench", "bad --variants list '%s'", s);
    for (int i = 0; i < n; i++) {
        qp_error err;
        qp_error_clear(&err);
        const qp_kernels *v = qp_kernels_by_name(tok[i], &err);
        if (!v)
            return qp_usage_error("bench", "%s", err.msg);
        o->variants[o->n_variants++] = v;
    }
    o->variants_given = 1;
    return 0;
}

static int bench_kernels_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"types", required_argument, NULL, 't'},
        {"variants", required_argument, NULL, 'V'},
        {"shape", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'T'},
        {"reps", required_argument, NULL, 'r'},
        {"max-time", required_argument, NULL, 'M'},
        {"prequantized", no_argument, NULL, 'P'},
        {"hot", no_argument, NULL, 'H'},
        {"rows", no_argument, NULL, 'R'},
        {"no-counters", no_argument, NULL, 'N'},
        {"membw-mib", required_argument, NULL, 'B'},
        {"csv", no_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.m = DEFAULT_M;
    o.k = DEFAULT_K;
    o.reps = DEFAULT_REPS;
    o.max_time = DEFAULT_MAX_TIME;
    o.counters = 1;
    const char *types = DEFAULT_TYPES, *variants = NULL;
    int list = 0, c;
    o.ns[0] = 1;
    o.ns[1] = 512;
    o.n_ns = 2;
    o.threads[0] = 1;
    o.threads[1] = 2;
    o.n_threads = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "n:r:cjlh", opts, NULL)) != -1) {
        int64_t tmp[MAX_LIST];
        char *end;
        switch (c) {
        case 't': types = optarg; break;
        case 'V': variants = optarg; break;
        case 's':
            if (parse_shape(optarg, &o.m, &o.k) != 0)
                return qp_usage_error("bench", "bad --shape '%s' (expected MxK, e.g. 4096x14336)", optarg);
            break;
        case 'n':
            o.n_ns = parse_int_list(optarg, o.ns, MAX_LIST, 1 << 16);
            if (o.n_ns <= 0)
                return qp_usage_error("bench", "bad -n '%s' (expected N[,N...], 1..65536)", optarg);
            break;
        case 'T':
            o.n_threads = parse_int_list(optarg, tmp, MAX_LIST, MAX_THREADS);
            if (o.n_threads <= 0)
                return qp_usage_error("bench", "bad --threads '%s' (expected T[,T...], 1..%d)", optarg,
                                      MAX_THREADS);
            for (int i = 0; i < o.n_threads; i++)
                o.threads[i] = (int)tmp[i];
            break;
        case 'r':
            o.reps = (int)strtol(optarg, &end, 10);
            if (*end || o.reps < 1 || o.reps > 100000)
                return qp_usage_error("bench", "bad --reps '%s'", optarg);
            break;
        case 'M':
            o.max_time = strtod(optarg, &end);
            if (*end || !(o.max_time >= 0) || o.max_time > 1e6)
                return qp_usage_error("bench", "bad --max-time '%s'", optarg);
            break;
        case 'B':
            o.membw_mib = (int)strtol(optarg, &end, 10);
            if (*end || o.membw_mib < 1 || o.membw_mib > 65536)
                return qp_usage_error("bench", "bad --membw-mib '%s'", optarg);
            break;
        case 'P': o.prequantized = 1; break;
        case 'H': o.hot = 1; break;
        case 'R': o.rows_only = 1; break;
        case 'N': o.counters = 0; break;
        case 'c': o.format = FMT_CSV; break;
        case 'j': o.format = FMT_JSON; break;
        case 'l': list = 1; break;
        case 'h': fputs(qp_cmd_bench.usage, stdout); return 0;
        default: return qp_usage_error("bench", "bad option");
        }
    }
    if (optind != argc)
        return qp_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (list)
        return list_variants(o.format);
    int rc = parse_types(types, &o, o.k);
    if (rc == 0)
        rc = parse_variants(variants, &o);
    if (rc != 0)
        return rc;

    bench_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.o = &o;
    ctx.llc = qp_llc_bytes(NULL, &ctx.llc_found);
    qp_error err;
    qp_error_clear(&err);
    /* bandwidth first, while the machine is otherwise idle for us */
    qp_status st = measure_bandwidth(&ctx, &err);
    /* counters before the pools: their workers inherit the counters */
    if (o.counters)
        qp_perfcount_open(&ctx.pc, QP_PERF_ALL);
    else
        qp_perfcount_open(&ctx.pc, 0);
    for (int i = 0; i < o.n_threads && st == QP_OK; i++) {
        ctx.pools[i] = qp_threadpool_create(o.threads[i]);
        if (!ctx.pools[i])
            st = qp_error_set(&err, QP_ERR_RUNTIME, NULL, -1, "cannot create a pool of %d threads",
                              o.threads[i]);
    }
    if (st == QP_OK)
        st = run_all(&ctx, &err);
    if (st == QP_OK)
        st = measure_bandwidth(&ctx, &err);
    rc = 0;
    if (st == QP_OK) {
        finalize_rows(&ctx);
        if (o.format == FMT_JSON)
            rc = print_json(&ctx);
        else if (o.format == FMT_CSV)
            print_csv(&ctx);
        else
            print_table(&ctx);
    } else {
        rc = qp_report(&err);
    }
    for (int i = 0; i < o.n_threads; i++)
        qp_threadpool_free(ctx.pools[i]);
    qp_perfcount_close(&ctx.pc);
    free(ctx.rows);
    free(ctx.skips);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "qprof: bench: error writing output\n");
        return 1;
    }
    return rc;
}

static int bench_main(int argc, char **argv)
{
    if (argc < 2)
        return qp_usage_error("bench", "expected a benchmark name (kernels)");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(qp_cmd_bench.usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "kernels") != 0)
        return qp_usage_error("bench", "unknown benchmark '%s' (known: kernels)", argv[1]);
    return bench_kernels_main(argc - 1, argv + 1);
}

const qp_command qp_cmd_bench = {
    .name = "bench",
    .summary = "kernel speed per type and variant vs this machine's memory bandwidth",
    .usage =
        "usage: qprof bench kernels [options]\n\n"
        "Times Y = X . W^T for quantized weights W (M rows of K weights) and n activation\n"
        "rows, per weight type, kernel variant, n and thread count. Weights are rotated\n"
        "over copies larger than 2x the last-level cache, so each run reads them from\n"
        "memory. Reports the median and spread of the runs, weight traffic (GB/s),\n"
        "GFLOP/s (2*M*K*n per run), % of the memory read bandwidth measured at start-up,\n"
        "speed-ups against scalar and the best other variant, and hardware counters\n"
        "where the kernel allows them. Columns: docs/bench.md.\n\n"
        "  --types LIST      weight types (default " DEFAULT_TYPES ")\n"
        "  --variants LIST   kernel variants (default: every one this CPU can run)\n"
        "  --shape MxK       M output rows, K weights per row (default 4096x14336, the\n"
        "                    MUL_MAT shape of llama.cpp's test-backend-ops perf)\n"
        "  -n, --batch LIST  activation rows per product (default 1,512); by default\n"
        "                    scalar is skipped for n > 32 (a run takes many seconds):\n"
        "                    name it in --variants to include it\n"
        "  --threads LIST    thread counts (default 1,2)\n"
        "  -r, --reps R      timed runs per row, at most (default 10)\n"
        "  --max-time S      stop adding runs to a row after S seconds, once it has 3\n"
        "                    (default 3)\n"
        "  --prequantized    time qp_matmul_q: activations quantized before the clock\n"
        "  --hot             one copy of W, not rotated: with a shape that fits in cache\n"
        "                    (e.g. --shape 32x14336) this times decoding alone, the\n"
        "                    ceiling a matvec could reach with infinite bandwidth\n"
        "  --rows            plain GGUF rows for every variant; by default a variant\n"
        "                    with a packed layout for the type (--list names them) reads\n"
        "                    the weights packed, as the forward pass gives them to it\n"
        "  --no-counters     do not open perf counters\n"
        "  --membw-mib N     bandwidth buffer size (default max(8x LLC, 64 MiB))\n"
        "  -c, --csv         CSV on stdout (header lines start with '#')\n"
        "  -j, --json        one JSON document on stdout\n"
        "  -l, --list        list the compiled-in variants, whether this CPU can run\n"
        "                    each, and which types each accelerates (with --json: JSON)\n"
        "  -h, --help        this text\n\n"
        "Environment: QPROF_NO_PERF=1 skips the counters; QPROF_NO_PROGRESS=1 hides the\n"
        "progress line (shown only when stderr is a terminal).\n",
    .run = bench_main,
};
