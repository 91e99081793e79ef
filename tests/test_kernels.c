/* tests/test_kernels.c - every kernel variant against the scalar reference,
 * and the scalar reference against fp64 arithmetic.
 *
 * Inputs are random (xorshift, fixed seed printed at start; QPROF_TEST_SEED
 * replays another). Weight rows are random BYTES with sane fp16 scales, so
 * every nibble/bit pattern of every format occurs, not only the ones a
 * quantizer happens to produce. Variants the CPU cannot run are skipped
 * visibly, with the reason printed.
 *
 * Tolerances (each assertion uses one of these; S = sum_i |w_i x_i| over the
 * dequantized rows, in fp64):
 *   TOL_VARIANT = 2e-5 * S: SIMD vs scalar. Block integer sums are exact in
 *     both (int32 never overflows: |q w| <= 127 * 63 * 256 per super-block),
 *     so the two differ only by float rounding: the scalar reference sums in
 *     double, a SIMD kernel in float lanes (FMA, a different order). Float
 *     summation error is bounded by ~N u S worst case and behaves like
 *     sqrt(N) u S in practice: N <= 4096 terms gives 64 * 6e-8 = 3.8e-6,
 *     so 2e-5 is five times that; a wrong nibble, scale or sign is off by a
 *     whole term, and with random data by far more than 2e-5 S.
 *   TOL_FP64 = 1e-5 * S (+ the Q8_1 s term): scalar vs an fp64 dot of the
 *     rows dequantized by quant/ (an independent implementation). Scalar is
 *     exact up to its final rounding; the dequantized floats each carry <= 3
 *     float roundings (d*sc, *q, -dmin*m) of terms of the size of w_i, so
 *     the gap is ~1e-7 S; 1e-5 leaves a wide margin. Q4_1/Q5_1 use the
 *     activation block's stored s = fp16(d * sum q) (the format's own
 *     shortcut, as llama.cpp) instead of the exact sum, which adds up to
 *     |m_w| |s| 2^-11 per block (fp16's half ulp); that is added explicitly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "quant/quant.h"

#define TOL_VARIANT 2e-5
#define TOL_FP64 1e-5

/* ======================================================================== */
/* random inputs                                                            */
/* ======================================================================== */

static uint64_t g_seed = 0x9E3779B97F4A7C15ull;
static uint64_t g_rng;

static uint64_t rnd_u64(void)
{
    /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}

static float rnd_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((rnd_u64() >> 40) * (1.0 / 16777216.0));
}

/* Activation values: uniform in [-1, 1) with 1 in 64 an outlier of up to
 * 8, like the heavy-tailed channels of real LLM activations. */
static void fill_activations(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        x[i] = rnd_uniform(-1.0f, 1.0f);
        if ((rnd_u64() & 63) == 0)
            x[i] *= 8.0f;
    }
}

static qp_half rnd_half(float lo, float hi)
{
    float v = rnd_uniform(lo, hi);
    if (rnd_u64() & 1)
        v = -v;
    return qp_fp32_to_fp16(v);
}

/* The 13 weight types with kernels. */
static const enum qp_type weight_types[] = {
    QP_TYPE_Q8_0, QP_TYPE_Q4_0, QP_TYPE_Q4_1, QP_TYPE_Q5_0, QP_TYPE_Q5_1,
    QP_TYPE_Q2_K, QP_TYPE_Q3_K, QP_TYPE_Q4_K, QP_TYPE_Q5_K, QP_TYPE_Q6_K,
    QP_TYPE_F16,  QP_TYPE_BF16, QP_TYPE_F32,
};
#define N_WEIGHT_TYPES ((int)(sizeof weight_types / sizeof weight_types[0]))

static const char *type_name(int t)
{
    const qp_type_traits *tr = qp_type_info(t);
    return tr ? tr->name : "?";
}

static int64_t block_size(int t)
{
    int64_t bs = 0;
    assert_true(qp_kernels_block(t, &bs, NULL));
    return bs;
}

/* m rows of k random weights of type t: random bytes, then the fp16 scale
 * fields set to finite values of plausible size (random bytes there would
 * be inf/NaN a few percent of the time). */
static void *make_weights(enum qp_type t, int64_t m, int64_t k)
{
    const size_t row = qp_kernels_row_bytes(t, k);
    assert_true(row > 0);
    uint8_t *w = malloc(row * (size_t)m);
    assert_non_null(w);
    for (size_t i = 0; i < row * (size_t)m; i++)
        w[i] = (uint8_t)rnd_u64();
    const int64_t nb = m * k / block_size(t);
    for (int64_t b = 0; b < nb; b++) {
        switch (t) {
        case QP_TYPE_Q8_0: {
            block_q8_0 *q = (block_q8_0 *)w + b;
            q->d = rnd_half(0.001f, 0.02f);
            for (int j = 0; j < QK8_0; j++) /* the format's range is -127..127 */
                if (q->qs[j] == -128)
                    q->qs[j] = -127;
            break;
        }
        case QP_TYPE_Q4_0: ((block_q4_0 *)w)[b].d = rnd_half(0.001f, 0.02f); break;
        case QP_TYPE_Q5_0: ((block_q5_0 *)w)[b].d = rnd_half(0.001f, 0.02f); break;
        case QP_TYPE_Q4_1:
            ((block_q4_1 *)w)[b].d = rnd_half(0.001f, 0.02f);
            ((block_q4_1 *)w)[b].m = rnd_half(0.01f, 0.2f);
            break;
        case QP_TYPE_Q5_1:
            ((block_q5_1 *)w)[b].d = rnd_half(0.001f, 0.02f);
            ((block_q5_1 *)w)[b].m = rnd_half(0.01f, 0.2f);
            break;
        case QP_TYPE_Q2_K:
            ((block_q2_K *)w)[b].d = rnd_half(0.001f, 0.02f);
            ((block_q2_K *)w)[b].dmin = rnd_half(0.001f, 0.02f);
            break;
        case QP_TYPE_Q3_K: ((block_q3_K *)w)[b].d = rnd_half(0.001f, 0.02f); break;
        case QP_TYPE_Q4_K:
            ((block_q4_K *)w)[b].d = rnd_half(0.0001f, 0.002f);
            ((block_q4_K *)w)[b].dmin = rnd_half(0.0001f, 0.002f);
            break;
        case QP_TYPE_Q5_K:
            ((block_q5_K *)w)[b].d = rnd_half(0.0001f, 0.002f);
            ((block_q5_K *)w)[b].dmin = rnd_half(0.0001f, 0.002f);
            break;
        case QP_TYPE_Q6_K: ((block_q6_K *)w)[b].d = rnd_half(0.0001f, 0.002f); break;
        case QP_TYPE_F16: ((qp_half *)w)[b] = rnd_half(0.0f, 1.0f); break;
        case QP_TYPE_BF16: ((uint16_t *)w)[b] = qp_fp32_to_bf16(rnd_uniform(-1.0f, 1.0f)); break;
        case QP_TYPE_F32: ((float *)w)[b] = rnd_uniform(-1.0f, 1.0f); break;
        default: fail_msg("no generator for type %d", (int)t);
        }
    }
    return w;
}

/* ======================================================================== */
/* fp64 reference pieces                                                    */
/* ======================================================================== */

/* Dequantizes one activation row (the formats are d * q; Q8_K's d is fp32). */
static void dequantize_act(int a, const void *xq, float *x, int64_t k)
{
    switch (a) {
    case QP_TYPE_Q8_0:
        for (int64_t i = 0; i < k; i++) {
            const block_q8_0 *b = (const block_q8_0 *)xq + i / QK8_0;
            x[i] = qp_fp16_to_fp32(b->d) * b->qs[i % QK8_0];
        }
        break;
    case QP_TYPE_Q8_1:
        for (int64_t i = 0; i < k; i++) {
            const block_q8_1 *b = (const block_q8_1 *)xq + i / QK8_1;
            x[i] = qp_fp16_to_fp32(b->d) * b->qs[i % QK8_1];
        }
        break;
    case QP_TYPE_Q8_K:
        for (int64_t i = 0; i < k; i++) {
            const block_q8_K *b = (const block_q8_K *)xq + i / QK_K;
            x[i] = b->d * b->qs[i % QK_K];
        }
        break;
    case QP_TYPE_F32: memcpy(x, xq, (size_t)k * sizeof *x); break;
    default: fail_msg("activation type %d", a);
    }
}

/* The extra tolerance of the Q8_1 s shortcut: sum over blocks of
 * |m_w| * |s| * 2^-11 (see the top of the file). */
static double q8_1_s_slack(enum qp_type t, const void *wrow, const void *xq, int64_t k)
{
    double slack = 0;
    const block_q8_1 *x = xq;
    for (int64_t b = 0; b < k / 32; b++) {
        float m = 0;
        if (t == QP_TYPE_Q4_1)
            m = qp_fp16_to_fp32(((const block_q4_1 *)wrow)[b].m);
        else if (t == QP_TYPE_Q5_1)
            m = qp_fp16_to_fp32(((const block_q5_1 *)wrow)[b].m);
        slack += fabs((double)m) * fabs((double)qp_fp16_to_fp32(x[b].s)) * ldexp(1.0, -11);
    }
    return slack;
}

/* A product problem: weights W[m][k] of type t, activations X[n][k], the
 * quantized activations Xq, and in fp64 the exact dot and S = sum |w x|
 * of every pair (from the dequantized rows). */
struct problem {
    enum qp_type t;
    int act;
    int64_t m, k, n;
    void *W;
    float *X;
    uint8_t *Xq;        /* [n][x_row] by the scalar quantizer */
    size_t w_row, x_row;
    double *exact;      /* [n][m] */
    double *abs_sum;    /* [n][m] */
};

static void problem_make(struct problem *p, enum qp_type t, int64_t m, int64_t k, int64_t n)
{
    memset(p, 0, sizeof *p);
    p->t = t;
    p->act = qp_act_type(t);
    p->m = m, p->k = k, p->n = n;
    p->W = make_weights(t, m, k);
    p->w_row = qp_kernels_row_bytes(t, k);
    p->x_row = qp_act_row_size(t, k);
    p->X = malloc(sizeof(float) * (size_t)(n * k));
    p->Xq = malloc(p->x_row * (size_t)n);
    p->exact = malloc(sizeof(double) * (size_t)(n * m));
    p->abs_sum = malloc(sizeof(double) * (size_t)(n * m));
    float *wd = malloc(sizeof(float) * (size_t)(m * k)); /* [m][k] dequantized W */
    float *xd = malloc(sizeof(float) * (size_t)(n * k)); /* [n][k] dequantized Xq */
    assert_true(p->X && p->Xq && p->exact && p->abs_sum && wd && xd);
    fill_activations(p->X, n * k);

    const qp_kernels *scalar = qp_kernels_by_name("scalar", NULL);
    assert_non_null(scalar);
    qp_error err;
    for (int64_t j = 0; j < n; j++) {
        qp_quantize_act(scalar, t, p->X + j * k, p->Xq + (size_t)j * p->x_row, k);
        dequantize_act(p->act, p->Xq + (size_t)j * p->x_row, xd + j * k, k);
    }
    for (int64_t i = 0; i < m; i++)
        assert_int_equal(qp_dequantize_row(t, (const char *)p->W + (size_t)i * p->w_row,
                                           wd + i * k, k, &err), QP_OK);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            double s = 0, a = 0;
            for (int64_t l = 0; l < k; l++) {
                const double prod = (double)wd[i * k + l] * xd[j * k + l];
                s += prod;
                a += fabs(prod);
            }
            p->exact[j * m + i] = s;
            p->abs_sum[j * m + i] = a;
        }
    free(wd);
    free(xd);
}

static void problem_free(struct problem *p)
{
    free(p->W);
    free(p->X);
    free(p->Xq);
    free(p->exact);
    free(p->abs_sum);
}

/* Row lengths: 1, 2, 7 and 8 blocks, and 4096 (an LLM's hidden size); for
 * the K-quants 8 blocks is already 2048. */
static int row_lengths(enum qp_type t, int64_t out[5])
{
    const int64_t bs = block_size(t) == 1 ? 32 : block_size(t); /* float types: 32-value "blocks" */
    out[0] = bs, out[1] = 2 * bs, out[2] = 7 * bs, out[3] = 8 * bs, out[4] = 4096;
    return 5;
}

/* Usable variants (scalar included); prints the skipped ones once. */
static int usable_variants(const qp_kernels **out, int print_skips)
{
    const qp_kernels *all[16];
    const int n = qp_kernels_all(all, 16);
    int u = 0;
    for (int i = 0; i < n && i < 16; i++) {
        if (qp_kernels_usable(all[i]))
            out[u++] = all[i];
        else if (print_skips)
            printf("[  SKIP    ] variant %s: this CPU/OS cannot run it (needs %s)\n",
                   qp_kernels_name(all[i]), qp_kernels_describe(all[i]));
    }
    return u;
}

/* ======================================================================== */
/* dispatch                                                                 */
/* ======================================================================== */

static void test_variant_list(void **state)
{
    (void)state;
    const qp_kernels *all[16];
    const int n = qp_kernels_all(all, 16);
    assert_true(n >= 1 && n <= 16);
    assert_string_equal(qp_kernels_name(all[0]), "scalar");
    assert_true(qp_kernels_usable(all[0]));
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++)
            assert_string_not_equal(qp_kernels_name(all[i]), qp_kernels_name(all[j]));
        qp_error err;
        qp_error_clear(&err);
        const qp_kernels *v = qp_kernels_by_name(qp_kernels_name(all[i]), &err);
        if (qp_kernels_usable(all[i])) {
            assert_ptr_equal(v, all[i]);
        } else {
            assert_null(v);
            assert_int_equal(err.status, QP_ERR_INPUT);
            assert_non_null(strstr(err.msg, "not supported by this CPU"));
        }
        /* scalar accelerates nothing; every variant has every weight type */
        for (int t = 0; t < N_WEIGHT_TYPES; t++) {
            if (i == 0)
                assert_int_equal(qp_kernels_accelerates(all[i], weight_types[t]), 0);
            assert_non_null(all[i]->w[weight_types[t]].vec_dot);
            assert_non_null(all[i]->w[weight_types[t]].tile);
            assert_true(all[i]->w[weight_types[t]].tile_m >= 1);
            assert_true(all[i]->w[weight_types[t]].tile_n >= 1);
        }
        for (int a = 0; a < QP_TYPE_COUNT; a++)
            if (a == QP_TYPE_Q8_0 || a == QP_TYPE_Q8_1 || a == QP_TYPE_Q8_K || a == QP_TYPE_F32)
                assert_non_null(all[i]->quantize_act[a]);
        assert_non_null(qp_kernels_describe(all[i]));
    }
    /* no kernels for Q8_K as a weight type or the i-quants */
    assert_int_equal(qp_act_type(QP_TYPE_Q8_K), -1);
    assert_int_equal(qp_act_type(QP_TYPE_IQ2_XXS), -1);
    assert_int_equal(qp_kernels_accelerates(all[0], QP_TYPE_IQ2_XXS), 0);
    assert_int_equal(qp_act_type(QP_TYPE_Q4_K), QP_TYPE_Q8_K);
    assert_int_equal(qp_act_type(QP_TYPE_Q5_1), QP_TYPE_Q8_1);
    assert_int_equal(qp_act_type(QP_TYPE_Q5_0), QP_TYPE_Q8_0);
    assert_int_equal(qp_act_type(QP_TYPE_BF16), QP_TYPE_F32);
    assert_int_equal(qp_act_row_size(QP_TYPE_Q4_K, 512), 2 * sizeof(block_q8_K));
    assert_int_equal(qp_act_row_size(QP_TYPE_F16, 10), 40);
    assert_int_equal(qp_act_row_size(QP_TYPE_Q4_0, 33), 0);
}

/* The best usable variant by rank (what the default must be without an
 * override). */
static const qp_kernels *best_usable(void)
{
    const qp_kernels *u[16];
    const int n = usable_variants(u, 0);
    const qp_kernels *best = u[0];
    for (int i = 1; i < n; i++)
        if (u[i]->rank > best->rank)
            best = u[i];
    return best;
}

static void test_dispatch_env(void **state)
{
    (void)state;
    char *saved = getenv("QPROF_KERNELS") ? strdup(getenv("QPROF_KERNELS")) : NULL;
    const qp_kernels *best = best_usable();

    unsetenv("QPROF_KERNELS");
    assert_ptr_equal(qp_kernels_default(), best);

    setenv("QPROF_KERNELS", "scalar", 1);
    assert_string_equal(qp_kernels_name(qp_kernels_default()), "scalar");

    /* every usable variant can be forced */
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    for (int i = 0; i < nu; i++) {
        setenv("QPROF_KERNELS", qp_kernels_name(u[i]), 1);
        assert_ptr_equal(qp_kernels_default(), u[i]);
    }

    /* an unknown name: an error by name, a warning and the best by default */
    qp_error err;
    qp_error_clear(&err);
    assert_null(qp_kernels_by_name("sse9", &err));
    assert_int_equal(err.status, QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "unknown kernel variant 'sse9'"));
    assert_non_null(strstr(err.msg, "scalar"));
    qp_error_clear(&err);
    assert_null(qp_kernels_by_name("", &err));
    assert_int_equal(err.status, QP_ERR_INPUT);
    assert_null(qp_kernels_by_name(NULL, NULL));
    setenv("QPROF_KERNELS", "sse9", 1);
    printf("(a warning about QPROF_KERNELS=sse9 is expected next)\n");
    fflush(stdout);
    assert_ptr_equal(qp_kernels_default(), best);

    if (saved) {
        setenv("QPROF_KERNELS", saved, 1);
        free(saved);
    } else {
        unsetenv("QPROF_KERNELS");
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const qp_kernels *v = qp_kernels_by_name("scalar", NULL);
    float x[256] = { 0 }, y[4]; /* x covers the longest k used below (256) */
    uint8_t w[4 * sizeof(block_q4_K)] = { 0 };
    qp_error err;
    /* k not a multiple of the block size */
    qp_error_clear(&err);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q8_0, w, 1, 33, x, 1, y, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "block size 32"));
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_K, w, 1, 100, x, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, 1, 0, x, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, 1, -32, x, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul_q(v, NULL, QP_TYPE_Q6_K, w, 1, 255, x, 1, y, &err), QP_ERR_INPUT);
    /* no kernels for the type */
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_IQ2_XXS, w, 1, 256, x, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q8_K, w, 1, 256, x, 1, y, &err), QP_ERR_INPUT);
    /* negative sizes, NULL pointers */
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, -1, 32, x, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, 1, 32, NULL, 1, y, &err), QP_ERR_INPUT);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, NULL, 1, 32, x, 1, y, &err), QP_ERR_INPUT);
    /* empty products are fine and touch nothing */
    y[0] = 42.0f;
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, 0, 32, x, 1, y, &err), QP_OK);
    assert_int_equal(qp_matmul(v, NULL, QP_TYPE_Q4_0, w, 1, 32, x, 0, y, &err), QP_OK);
    assert_true(y[0] == 42.0f);
    /* an all-zero Q4_K row (d = 0) times anything is 0 */
    assert_int_equal(qp_matvec(v, NULL, QP_TYPE_Q4_K, w, 1, 256, x, y, &err), QP_OK);
    assert_true(y[0] == 0.0f);
}

/* ======================================================================== */
/* thread pool                                                              */
/* ======================================================================== */

struct pool_probe {
    atomic_int calls[8];
    atomic_int total;
};

static void pool_probe_task(void *arg, int ith, int nth)
{
    struct pool_probe *p = arg;
    assert_true(ith >= 0 && ith < nth && nth <= 8);
    atomic_fetch_add(&p->calls[ith], 1);
    atomic_fetch_add(&p->total, 1);
}

/* The one answer to "can a linear be this type". */
static void test_can_run(void **state)
{
    (void)state;
    static const int yes[] = {QP_TYPE_F32, QP_TYPE_F16, QP_TYPE_BF16, QP_TYPE_Q4_0, QP_TYPE_Q4_1,
                              QP_TYPE_Q5_0, QP_TYPE_Q5_1, QP_TYPE_Q8_0, QP_TYPE_Q2_K, QP_TYPE_Q3_K,
                              QP_TYPE_Q4_K, QP_TYPE_Q5_K, QP_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        assert_true(qp_kernels_can_run(yes[i]));
        assert_true(qp_act_type((enum qp_type)yes[i]) >= 0);
    }
    /* activation-only types, types without kernels, holes and junk */
    static const int no[] = {QP_TYPE_Q8_1, QP_TYPE_Q8_K, QP_TYPE_IQ2_XXS, QP_TYPE_I32, 4, -1, QP_TYPE_COUNT, 1000};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_false(qp_kernels_can_run(no[i]));
}

static void test_threadpool(void **state)
{
    (void)state;
    assert_null(qp_threadpool_create(0));
    assert_int_equal(qp_threadpool_size(NULL), 1);
    for (int nt = 1; nt <= 4; nt++) {
        qp_threadpool *tp = qp_threadpool_create(nt);
        assert_non_null(tp);
        assert_int_equal(qp_threadpool_size(tp), nt);
        struct pool_probe p;
        memset(&p, 0, sizeof p);
        /* many back-to-back jobs: each thread runs each job exactly once */
        void *buf = qp_threadpool_acquire(tp, 1000);
        assert_non_null(buf);
        assert_int_equal((uintptr_t)buf % 64, 0);
        memset(buf, 1, 1000); /* the buffer is really that large (ASan) */
        for (int job = 0; job < 500; job++)
            qp_threadpool_run(tp, pool_probe_task, &p);
        qp_threadpool_release(tp);
        assert_int_equal(atomic_load(&p.total), 500 * nt);
        for (int i = 0; i < nt; i++)
            assert_int_equal(atomic_load(&p.calls[i]), 500);
        qp_threadpool_free(tp);
    }
    qp_threadpool_free(NULL);
}

/* ======================================================================== */
/* the scalar reference against fp64                                        */
/* ======================================================================== */

static void test_scalar_vs_fp64(void **state)
{
    (void)state;
    const qp_kernels *scalar = qp_kernels_by_name("scalar", NULL);
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const enum qp_type t = weight_types[ti];
        int64_t ks[5];
        const int nk = row_lengths(t, ks);
        for (int ki = 0; ki < nk; ki++) {
            struct problem p;
            problem_make(&p, t, 3, ks[ki], 2);
            for (int64_t j = 0; j < p.n; j++)
                for (int64_t i = 0; i < p.m; i++) {
                    const void *wrow = (const char *)p.W + (size_t)i * p.w_row;
                    const void *xrow = p.Xq + (size_t)j * p.x_row;
                    const double got = qp_vec_dot(scalar, t, p.k, wrow, xrow);
                    double tol = TOL_FP64 * p.abs_sum[j * p.m + i];
                    if (p.act == QP_TYPE_Q8_1)
                        tol += q8_1_s_slack(t, wrow, xrow, p.k);
                    const double diff = fabs(got - p.exact[j * p.m + i]);
                    if (diff > tol)
                        fail_msg("%s k=%lld row %lld col %lld: scalar %.9g, fp64 %.9g, |diff| %.3g > tol %.3g",
                                 type_name(t), (long long)p.k, (long long)i, (long long)j, got,
                                 p.exact[j * p.m + i], diff, tol);
                }
            problem_free(&p);
        }
    }
}

/* ======================================================================== */
/* activation quantizers: identical bytes in every variant                  */
/* ======================================================================== */

/* Rows with the edge cases of the rounding rules: an all-zero block, ties
 * (values that scale to exactly n + 0.5), a block whose largest magnitude is
 * negative, repeated +-amax (Q8_K takes the FIRST largest as its sign),
 * tiny and large magnitudes. */
static void fill_quantizer_row(float *x, int64_t k)
{
    fill_activations(x, k);
    for (int64_t i = 0; i < 32 && i < k; i++)
        x[i] = 0.0f;
    if (k >= 64) {
        /* amax 127 makes d = 1 (Q8_0) and iscale = -1 (Q8_K) exactly, so
         * these are exact ties: roundf goes away from zero, Q8_K's
         * nearest_int to even */
        for (int64_t i = 32; i < 64; i++)
            x[i] = (float)(i - 48) + 0.5f;
        x[40] = 127.0f;
    }
    if (k >= 512) {
        for (int64_t i = 256; i < 512; i++)
            x[i] = rnd_uniform(-1.0f, 1.0f);
        x[300] = -3.0f;
        x[301] = 3.0f; /* first largest is negative */
    }
    if (k >= 1024)
        for (int64_t i = 512; i < 768; i++)
            x[i] = rnd_uniform(-1e-6f, 1e-6f);
    if (k >= 1024)
        for (int64_t i = 768; i < 1024; i++)
            x[i] = rnd_uniform(-3e4f, 3e4f);
}

static void test_quantize_act(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 1);
    const int acts[] = { QP_TYPE_Q8_0, QP_TYPE_Q8_1, QP_TYPE_Q8_K, QP_TYPE_F32 };
    const int64_t ks[] = { 256, 512, 4096, 4096 + 256 };
    for (int a = 0; a < 4; a++)
        for (int ki = 0; ki < 4; ki++) {
            const int64_t k = ks[ki];
            float *x = malloc(sizeof(float) * (size_t)k);
            const size_t bytes = qp_kernels_row_bytes(acts[a], k);
            uint8_t *ref = malloc(bytes), *got = malloc(bytes);
            assert_true(x && ref && got);
            fill_quantizer_row(x, k);
            u[0]->quantize_act[acts[a]](x, ref, k); /* u[0] is scalar */
            for (int v = 1; v < nu; v++) {
                memset(got, 0xA5, bytes);
                u[v]->quantize_act[acts[a]](x, got, k);
                for (size_t b = 0; b < bytes; b++)
                    if (got[b] != ref[b])
                        fail_msg("%s quantizer of %s, k=%lld: byte %zu is %02x, scalar %02x",
                                 qp_kernels_name(u[v]), type_name(acts[a]), (long long)k, b,
                                 got[b], ref[b]);
            }
            free(x);
            free(ref);
            free(got);
        }
}

/* ======================================================================== */
/* vec_dot and matmul: every variant against scalar                         */
/* ======================================================================== */

static void check_close(const char *what, const qp_kernels *v, enum qp_type t, int64_t k,
                        int64_t i, int64_t j, double got, double ref, double abs_sum)
{
    const double tol = TOL_VARIANT * abs_sum;
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s %s %s k=%lld W row %lld X row %lld: %.9g vs scalar %.9g (|diff| %.3g > tol %.3g)",
                 what, qp_kernels_name(v), type_name(t), (long long)k, (long long)i, (long long)j,
                 got, ref, fabs(got - ref), tol);
}

static void test_vec_dot_variants(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const enum qp_type t = weight_types[ti];
        int64_t ks[5];
        const int nk = row_lengths(t, ks);
        for (int ki = 0; ki < nk; ki++) {
            struct problem p;
            problem_make(&p, t, 4, ks[ki], 3);
            for (int64_t j = 0; j < p.n; j++)
                for (int64_t i = 0; i < p.m; i++) {
                    const void *wrow = (const char *)p.W + (size_t)i * p.w_row;
                    const void *xrow = p.Xq + (size_t)j * p.x_row;
                    const float ref = qp_vec_dot(u[0], t, p.k, wrow, xrow);
                    for (int v = 1; v < nu; v++)
                        check_close("vec_dot", u[v], t, p.k, i, j, qp_vec_dot(u[v], t, p.k, wrow, xrow),
                                    ref, p.abs_sum[j * p.m + i]);
                }
            problem_free(&p);
        }
    }
}

/* Every variant's dequantization gives the reference's values, bit for
 * bit (a dequantized value is one float product or a conversion), on
 * random rows of awkward lengths; for F16 also signed zeros, subnormals
 * and the largest finite half. */
static void test_dequant_variants(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const enum qp_type t = weight_types[ti];
        const int64_t bs = block_size(t);
        const int64_t ns[4] = {bs, 3 * bs, 9 * bs == 9 ? 19 : 9 * bs, 4096 + (bs == 1 ? 5 : 0)};
        for (int ni = 0; ni < 4; ni++) {
            const int64_t n = ns[ni];
            void *w = make_weights(t, 1, n);
            if (t == QP_TYPE_F16 && n >= 8) {
                static const qp_half edge[8] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0xFBFF, 0x3C00};
                memcpy(w, edge, sizeof edge);
            }
            float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
            assert_non_null(want);
            assert_non_null(got);
            qp_error err;
            assert_int_equal(qp_dequantize_row(t, w, want, n, &err), QP_OK);
            for (int v = 0; v < nu; v++) {
                assert_non_null(u[v]->dequant[t]);
                memset(got, 0xFF, (size_t)n * sizeof(float));
                qp_dequantize(u[v], t, w, got, n);
                if (memcmp(got, want, (size_t)n * sizeof(float)) != 0)
                    fail_msg("dequantize %s, %s, n = %lld: not the reference's values", qp_kernels_name(u[v]),
                             type_name(t), (long long)n);
            }
            free(want);
            free(got);
            free(w);
        }
    }
}

/* Pools of 1..4 threads: pools[i] has i + 1. */
static void pools_create(qp_threadpool *pools[4])
{
    for (int i = 0; i < 4; i++) {
        pools[i] = qp_threadpool_create(i + 1);
        assert_non_null(pools[i]);
    }
}

static void pools_free(qp_threadpool *pools[4])
{
    for (int i = 0; i < 4; i++)
        qp_threadpool_free(pools[i]);
}

/* qp_matmul over m x n sub-problems of one problem: every variant, 1..4
 * threads, against scalar vec_dot. The scalar variant itself goes through
 * the driver's tiling and threading too, so its result must equal scalar
 * vec_dot exactly. */
static void test_matmul_variants(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    qp_threadpool *pools[4];
    pools_create(pools);
    const int64_t ms[] = { 1, 3, 17, 67 };
    /* n = 5 leaves a tile of one activation row when tile_n is 2 or 4
     * (n % tile_n == 1), a shape no other n gives with tile_n = 4 */
    const int64_t ns[] = { 1, 2, 3, 7, 64, 5 };
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const enum qp_type t = weight_types[ti];
        int64_t ks[5];
        const int nk = row_lengths(t, ks);
        for (int ki = 0; ki < nk; ki++) {
            struct problem p;
            /* the longest rows only on three shapes (a matvec, a ragged
             * one, a wide one): the short rows cover the tiling and the
             * threading, the long ones the accumulation */
            const int big = ks[ki] == 4096;
            problem_make(&p, t, big ? 17 : 67, ks[ki], 64);
            /* reference: scalar vec_dot of every pair */
            float *ref = malloc(sizeof(float) * (size_t)(p.m * p.n));
            float *Y = malloc(sizeof(float) * (size_t)(p.m * p.n));
            assert_true(ref && Y);
            for (int64_t j = 0; j < p.n; j++)
                for (int64_t i = 0; i < p.m; i++)
                    ref[j * p.m + i] = qp_vec_dot(u[0], t, p.k, (const char *)p.W + (size_t)i * p.w_row,
                                                  p.Xq + (size_t)j * p.x_row);
            for (int v = 0; v < nu; v++)
                for (int mi = 0; mi < 4; mi++)
                    for (int ni = 0; ni < 6; ni++)
                        for (int th = 0; th < 4; th++) {
                            const int64_t m = ms[mi], n = ns[ni];
                            if (big && !((mi == 0 && ni == 0) || (mi == 2 && ni == 3) ||
                                         (mi == 1 && ni == 4)))
                                continue;
                            qp_error err;
                            qp_error_clear(&err);
                            for (int64_t e = 0; e < m * n; e++)
                                Y[e] = NAN;
                            /* one call in two goes through qp_matmul_q with
                             * X quantized by the scalar quantizer: the same
                             * bytes, as test_quantize_act proves */
                            qp_status st;
                            if ((mi + ni + th) % 2)
                                st = qp_matmul_q(u[v], th ? pools[th] : NULL, t, p.W, m, p.k, p.Xq, n, Y, &err);
                            else
                                st = qp_matmul(u[v], th ? pools[th] : NULL, t, p.W, m, p.k, p.X, n, Y, &err);
                            assert_int_equal(st, QP_OK);
                            for (int64_t j = 0; j < n; j++)
                                for (int64_t i = 0; i < m; i++) {
                                    const float got = Y[j * m + i], want = ref[j * p.m + i];
                                    if (v == 0) {
                                        if (memcmp(&got, &want, sizeof got) != 0)
                                            fail_msg("scalar matmul %s k=%lld m=%lld n=%lld threads=%d "
                                                     "(%lld,%lld): %.9g, vec_dot %.9g",
                                                     type_name(t), (long long)p.k, (long long)m, (long long)n,
                                                     th + 1, (long long)i, (long long)j, got, want);
                                    } else {
                                        check_close("matmul", u[v], t, p.k, i, j, got, want,
                                                    p.abs_sum[j * p.m + i]);
                                    }
                                }
                        }
            free(ref);
            free(Y);
            problem_free(&p);
        }
    }
    pools_free(pools);
}

/* Packed weights (qp_pack_weights, qp_matmul_packed): for every usable
 * variant with a packed layout, row counts around the group size (no full
 * group, one, groups plus a plain tail), every n of test_matmul_variants,
 * 1..4 threads, against scalar vec_dot on the plain rows. Packing must be a
 * permutation that unpacking undoes byte for byte and that leaves the
 * m % R tail rows where they were. */
static void test_packed_variants(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    qp_threadpool *pools[4];
    pools_create(pools);
    const int64_t ms[] = { 1, 7, 8, 9, 17, 67 };
    const int64_t ns[] = { 1, 2, 3, 5, 7, 64 };
    int cases = 0;
    for (int v = 0; v < nu; v++)
        for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
            const enum qp_type t = weight_types[ti];
            const int R = qp_pack_rows(u[v], t);
            if (R == 0)
                continue;
            assert_non_null(qp_pack_name(u[v], t));
            int64_t ks[5];
            const int nk = row_lengths(t, ks);
            for (int ki = 0; ki < nk; ki++)
                for (int mi = 0; mi < 6; mi++) {
                    const int64_t m = ms[mi];
                    struct problem p;
                    problem_make(&p, t, m, ks[ki], 64);
                    const size_t bytes = (size_t)m * p.w_row;
                    char *P = malloc(bytes), *back = malloc(bytes);
                    float *Y = malloc(sizeof(float) * (size_t)(m * p.n));
                    assert_true(P && back && Y);
                    qp_error err;
                    qp_error_clear(&err);
                    assert_int_equal(qp_pack_weights(u[v], t, p.W, P, m, p.k, &err), QP_OK);
                    const size_t plain = (size_t)(m / R * R) * p.w_row;
                    assert_memory_equal(P + plain, (const char *)p.W + plain, bytes - plain);
                    if (m >= R) /* a group is really interleaved */
                        assert_memory_not_equal(P, p.W, plain);
                    assert_int_equal(qp_unpack_weights(u[v], t, P, back, m, p.k, &err), QP_OK);
                    assert_memory_equal(back, p.W, bytes);
                    for (int ni = 0; ni < 6; ni++) {
                        const int64_t n = ns[ni];
                        const int th = (mi + ni + ki) % 4;
                        for (int64_t e = 0; e < m * n; e++)
                            Y[e] = NAN;
                        qp_status st;
                        if (ni % 2)
                            st = qp_matmul_q_packed(u[v], th ? pools[th] : NULL, t, P, m, p.k, p.Xq, n, Y, &err);
                        else
                            st = qp_matmul_packed(u[v], th ? pools[th] : NULL, t, P, m, p.k, p.X, n, Y, &err);
                        assert_int_equal(st, QP_OK);
                        for (int64_t j = 0; j < n; j++)
                            for (int64_t i = 0; i < m; i++) {
                                const float ref = qp_vec_dot(u[0], t, p.k, (const char *)p.W + (size_t)i * p.w_row,
                                                             p.Xq + (size_t)j * p.x_row);
                                check_close("packed matmul", u[v], t, p.k, i, j, Y[j * m + i], ref,
                                            p.abs_sum[j * m + i]);
                            }
                        cases++;
                    }
                    free(P);
                    free(back);
                    free(Y);
                    problem_free(&p);
                }
        }
    /* the variants that must pack, where this CPU runs them */
    for (int v = 0; v < nu; v++)
        if (!strcmp(qp_kernels_name(u[v]), "avx2") || !strcmp(qp_kernels_name(u[v]), "avx512"))
        {
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q4_K), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q8_0), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q4_0), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q4_1), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q5_0), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q5_1), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q6_K), 8);
            assert_int_equal(qp_pack_rows(u[v], QP_TYPE_Q5_K), 8);
        }
    printf("packed: %d products checked\n", cases);
    pools_free(pools);
}

/* The packed tiles chain s16 sums of vpmaddubsw (pack layouts, x86_packed.h)
 * as far as the weights' range allows: 8 products of 4-bit weights, 4 of
 * 5-bit, 2 of 6-bit. Random weights stay far from the bound, so these rows
 * sit on it: every quant at its largest magnitude (all bits set; Q8_0 at
 * -127) against activations all at +127 and all at -127. A chain one load
 * too long wraps here and nowhere else. */
static void *extreme_weights(enum qp_type t, int64_t m, int64_t k)
{
    const size_t bytes = (size_t)m * qp_kernels_row_bytes(t, k);
    uint8_t *w = malloc(bytes);
    assert_non_null(w);
    memset(w, t == QP_TYPE_Q8_0 ? 0x81 : 0xFF, bytes);
    const qp_half one = qp_fp32_to_fp16(1.0f / 1024);
    const int64_t nb = m * k / block_size(t);
    for (int64_t b = 0; b < nb; b++)
        switch (t) { /* the float scales, which all-ones bits would make NaN */
        case QP_TYPE_Q8_0: ((block_q8_0 *)w)[b].d = one; break;
        case QP_TYPE_Q4_0: ((block_q4_0 *)w)[b].d = one; break;
        case QP_TYPE_Q4_1: ((block_q4_1 *)w)[b].d = one, ((block_q4_1 *)w)[b].m = one; break;
        case QP_TYPE_Q5_0: ((block_q5_0 *)w)[b].d = one; break;
        case QP_TYPE_Q5_1: ((block_q5_1 *)w)[b].d = one, ((block_q5_1 *)w)[b].m = one; break;
        case QP_TYPE_Q4_K: ((block_q4_K *)w)[b].d = one, ((block_q4_K *)w)[b].dmin = one; break;
        case QP_TYPE_Q5_K: ((block_q5_K *)w)[b].d = one, ((block_q5_K *)w)[b].dmin = one; break;
        case QP_TYPE_Q6_K: ((block_q6_K *)w)[b].d = one; break;
        default: fail_msg("extreme_weights: no case for %s", type_name(t));
        }
    return w;
}

static void test_packed_extremes(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    const qp_kernels *scalar = qp_kernels_by_name("scalar", NULL);
    int cases = 0;
    for (int v = 0; v < nu; v++)
        for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
            const enum qp_type t = weight_types[ti];
            if (!qp_pack_rows(u[v], t))
                continue;
            const int64_t m = 9, k = 2 * (block_size(t) < 256 ? 256 : block_size(t));
            void *W = extreme_weights(t, m, k);
            const size_t bytes = (size_t)m * qp_kernels_row_bytes(t, k), x_row = qp_act_row_size(t, k);
            char *P = malloc(bytes), *Xq = malloc(2 * x_row);
            float *X = malloc(sizeof(float) * (size_t)(2 * k)), Y[2 * 9];
            assert_true(P && Xq && X);
            for (int64_t i = 0; i < k; i++)
                X[i] = 1.0f, X[k + i] = -1.0f;
            qp_quantize_act(scalar, t, X, Xq, k);
            qp_quantize_act(scalar, t, X + k, Xq + x_row, k);
            qp_error err;
            qp_error_clear(&err);
            assert_int_equal(qp_pack_weights(u[v], t, W, P, m, k, &err), QP_OK);
            assert_int_equal(qp_matmul_q_packed(u[v], NULL, t, P, m, k, Xq, 2, Y, &err), QP_OK);
            for (int64_t j = 0; j < 2; j++)
                for (int64_t i = 0; i < m; i++) {
                    const char *wr = (const char *)W + (size_t)i * qp_kernels_row_bytes(t, k);
                    const float ref = qp_vec_dot(scalar, t, k, wr, Xq + (size_t)j * x_row);
                    /* the scalar sum is exact in double: only float rounding differs */
                    check_close("packed extremes", u[v], t, k, i, j, Y[j * m + i], ref, fabs(ref) + 1);
                    cases++;
                }
            free(W);
            free(P);
            free(Xq);
            free(X);
        }
    printf("packed extremes: %d products checked\n", cases);
}

/* What packing refuses: a variant without a layout, overlapping buffers. */
static void test_packed_errors(void **state)
{
    (void)state;
    const qp_kernels *scalar = qp_kernels_by_name("scalar", NULL);
    assert_int_equal(qp_pack_rows(scalar, QP_TYPE_Q4_K), 0);
    assert_null(qp_pack_name(scalar, QP_TYPE_Q4_K));
    const int64_t k = 256, m = 16;
    void *W = make_weights(QP_TYPE_Q4_K, m, k);
    const size_t bytes = (size_t)m * qp_kernels_row_bytes(QP_TYPE_Q4_K, k);
    char *P = malloc(2 * bytes);
    float x[256] = { 0 }, y[16];
    assert_non_null(P);
    qp_error err;
    qp_error_clear(&err);
    assert_int_equal(qp_pack_weights(scalar, QP_TYPE_Q4_K, W, P, m, k, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "no packed layout"));
    qp_error_clear(&err);
    assert_int_equal(qp_matmul_packed(scalar, NULL, QP_TYPE_Q4_K, W, m, k, x, 1, y, &err), QP_ERR_INPUT);
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    for (int v = 0; v < nu; v++) {
        if (!qp_pack_rows(u[v], QP_TYPE_Q4_K))
            continue;
        memcpy(P, W, bytes);
        qp_error_clear(&err);
        assert_int_equal(qp_pack_weights(u[v], QP_TYPE_Q4_K, P, P + bytes / 2, m, k, &err), QP_ERR_INPUT);
        assert_non_null(strstr(err.msg, "overlapping"));
        qp_error_clear(&err);
        assert_int_equal(qp_pack_weights(u[v], QP_TYPE_Q4_K, W, P, m, k + 1, &err), QP_ERR_INPUT);
    }
    free(W);
    free(P);
    /* the allocator of packed copies: 2 MiB-aligned, writable, NULL for 0 */
    assert_null(qp_pack_alloc(0));
    assert_null(qp_pack_alloc(SIZE_MAX));
    char *h = qp_pack_alloc(3000);
    assert_non_null(h);
    assert_int_equal((uintptr_t)h % ((uintptr_t)2 << 20), 0);
    memset(h, 1, 3000);
    free(h);
}

/* Which types each usable variant accelerates (informational, and a check
 * that the SIMD variants accelerate the types the brief makes mandatory). */
static void test_accelerated_types(void **state)
{
    (void)state;
    const qp_kernels *u[16];
    const int nu = usable_variants(u, 0);
    const qp_kernels *all[16];
    const int na = qp_kernels_all(all, 16);
    for (int v = 0; v < na; v++) {
        printf("variant %-7s (%s)%s: accelerates", qp_kernels_name(all[v]), qp_kernels_describe(all[v]),
               qp_kernels_usable(all[v]) ? "" : " [not usable here]");
        for (int ti = 0; ti < N_WEIGHT_TYPES; ti++)
            if (qp_kernels_accelerates(all[v], weight_types[ti]))
                printf(" %s", type_name(weight_types[ti]));
        printf("\n");
        /* the types the issue requires to be fast in every SIMD variant */
        if (strcmp(qp_kernels_name(all[v]), "scalar") != 0) {
            const enum qp_type must[] = { QP_TYPE_Q8_0, QP_TYPE_Q4_0, QP_TYPE_Q4_K,
                                          QP_TYPE_Q5_K, QP_TYPE_Q6_K, QP_TYPE_F16 };
            for (int i = 0; i < 6; i++)
                if (!qp_kernels_accelerates(all[v], must[i]))
                    fail_msg("%s does not accelerate %s", qp_kernels_name(all[v]), type_name(must[i]));
        }
    }
    (void)nu;
}

int main(void)
{
    const char *s = getenv("QPROF_TEST_SEED");
    if (s && *s)
        g_seed = strtoull(s, NULL, 0);
    g_rng = g_seed ? g_seed : 1;
    printf("test_kernels: seed 0x%016llx (QPROF_TEST_SEED to replay); default variant %s\n",
           (unsigned long long)g_seed, qp_kernels_name(qp_kernels_default()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variant_list),
        cmocka_unit_test(test_can_run),
        cmocka_unit_test(test_dispatch_env),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_threadpool),
        cmocka_unit_test(test_scalar_vs_fp64),
        cmocka_unit_test(test_quantize_act),
        cmocka_unit_test(test_vec_dot_variants),
        cmocka_unit_test(test_dequant_variants),
        cmocka_unit_test(test_matmul_variants),
        cmocka_unit_test(test_packed_variants),
        cmocka_unit_test(test_packed_extremes),
        cmocka_unit_test(test_packed_errors),
        cmocka_unit_test(test_accelerated_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
