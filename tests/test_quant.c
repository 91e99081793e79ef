/* tests/test_quant.c - the GGUF type table and the reference quantizers.
 *
 * - golden vectors made by llama.cpp (../shared/data/vectors): dequantizing
 *   its bytes must give its floats bit for bit; quantizing its input must
 *   give an RMSE no worse than its own (both printed); the legacy types and
 *   F16/BF16 must give its bytes exactly;
 * - round trips on seeded Gaussian rows, with a per-type error bound derived
 *   from the format (see rt_bounds), and on awkward rows (zeros, constants,
 *   an outlier, tiny, huge and extreme magnitudes, subnormal fp16 scales);
 * - length/type checks, the type table, qp_row_size overflow;
 * - importance-weighted quantization.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quant/quant.h"
#include "shared.h"

/* ======================================================================== */
/* helpers                                                                  */
/* ======================================================================== */

/* splitmix64: small, seedable, identical on every platform */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) /* (0, 1) */
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static void fill_gauss(float *x, int64_t n, double sigma)
{
    for (int64_t i = 0; i < n; i++) {
        const double u = rng_uniform(), v = rng_uniform();
        x[i] = (float)(sigma * sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
    }
}

static void *read_shared(const char *rel, size_t *size)
{
    char path[1024];
    if (!qp_test_shared_path(path, sizeof path, rel))
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Quantizes x (n values, rows of `row` values) to type t and back. */
static void round_trip(int t, const float *x, float *y, int64_t n, int64_t row, const float *imatrix)
{
    const size_t rs = qp_row_size(t, row);
    assert_true(rs > 0);
    uint8_t *q = malloc(rs * (size_t)(n / row)); /* [n/row][rs] */
    assert_non_null(q);
    qp_error err;
    for (int64_t r = 0; r < n / row; r++) {
        assert_int_equal(qp_quantize_row(t, x + r * row, q + rs * (size_t)r, row, imatrix, &err), QP_OK);
        assert_int_equal(qp_dequantize_row(t, q + rs * (size_t)r, y + r * row, row, &err), QP_OK);
    }
    free(q);
}

static double rmse(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

static double rms(const float *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * a[i];
    return sqrt(s / (double)n);
}

static void assert_all_finite(const float *y, int64_t n, const char *what, const char *type)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(y[i]))
            fail_msg("%s %s: value %lld is %g", type, what, (long long)i, (double)y[i]);
}

/* every type qprof converts, in table order */
static const int quant_types[] = {
    QP_TYPE_F32, QP_TYPE_F16, QP_TYPE_Q4_0, QP_TYPE_Q4_1, QP_TYPE_Q5_0, QP_TYPE_Q5_1,
    QP_TYPE_Q8_0, QP_TYPE_Q8_1, QP_TYPE_Q2_K, QP_TYPE_Q3_K, QP_TYPE_Q4_K, QP_TYPE_Q5_K,
    QP_TYPE_Q6_K, QP_TYPE_Q8_K, QP_TYPE_BF16,
};
#define N_QUANT_TYPES (int)(sizeof quant_types / sizeof quant_types[0])

/* ======================================================================== */
/* type table                                                               */
/* ======================================================================== */

/* Expected sizes, written out from ggml's block structs (ggml-common.h) and
 * not computed from quant/quant.h, so a wrong table entry cannot agree
 * with itself. */
static const struct {
    int id;
    const char *name;
    int64_t block;
    size_t bytes;
} ggml_sizes[] = {
    { 0, "f32", 1, 4 },        { 1, "f16", 1, 2 },          { 2, "q4_0", 32, 18 },
    { 3, "q4_1", 32, 20 },     { 6, "q5_0", 32, 22 },       { 7, "q5_1", 32, 24 },
    { 8, "q8_0", 32, 34 },     { 9, "q8_1", 32, 36 },       { 10, "q2_K", 256, 84 },
    { 11, "q3_K", 256, 110 },  { 12, "q4_K", 256, 144 },    { 13, "q5_K", 256, 176 },
    { 14, "q6_K", 256, 210 },  { 15, "q8_K", 256, 292 },    { 16, "iq2_xxs", 256, 66 },
    { 17, "iq2_xs", 256, 74 }, { 18, "iq3_xxs", 256, 98 },  { 19, "iq1_s", 256, 50 },
    { 20, "iq4_nl", 32, 18 },  { 21, "iq3_s", 256, 110 },   { 22, "iq2_s", 256, 82 },
    { 23, "iq4_xs", 256, 136 }, { 24, "i8", 1, 1 },         { 25, "i16", 1, 2 },
    { 26, "i32", 1, 4 },       { 27, "i64", 1, 8 },         { 28, "f64", 1, 8 },
    { 29, "iq1_m", 256, 56 },  { 30, "bf16", 1, 2 },        { 34, "tq1_0", 256, 54 },
    { 35, "tq2_0", 256, 66 },  { 39, "mxfp4", 32, 17 },
};

static void test_type_table(void **state)
{
    (void)state;
    int listed = 0;
    for (size_t i = 0; i < sizeof ggml_sizes / sizeof ggml_sizes[0]; i++) {
        const qp_type_traits *tt = qp_type_info(ggml_sizes[i].id);
        assert_non_null(tt);
        assert_string_equal(tt->name, ggml_sizes[i].name);
        assert_int_equal(tt->type, ggml_sizes[i].id);
        assert_int_equal(tt->block_size, ggml_sizes[i].block);
        assert_int_equal(tt->type_size, ggml_sizes[i].bytes);
        assert_true(tt->bpw == 8.0 * (double)tt->type_size / (double)tt->block_size);
        assert_int_equal(qp_type_from_name(tt->name), tt->type);
        /* case-insensitive: upper-case every letter */
        char up[32];
        size_t k = 0;
        for (; tt->name[k] && k < sizeof up - 1; k++)
            up[k] = (char)(tt->name[k] >= 'a' && tt->name[k] <= 'z' ? tt->name[k] - 32 : tt->name[k]);
        up[k] = '\0';
        assert_int_equal(qp_type_from_name(up), tt->type);
        listed++;
    }
    /* every other id below the count is a hole, and ids outside are unknown */
    int named = 0;
    for (int t = -2; t < QP_TYPE_COUNT + 3; t++)
        named += qp_type_info(t) != NULL;
    assert_int_equal(named, listed);
    const int holes[] = { 4, 5, 31, 32, 33, 36, 37, 38, -1, QP_TYPE_COUNT };
    for (size_t i = 0; i < sizeof holes / sizeof holes[0]; i++)
        assert_null(qp_type_info(holes[i]));

    assert_int_equal(qp_type_from_name("Q4_k"), QP_TYPE_Q4_K);
    assert_int_equal(qp_type_from_name("BF16"), QP_TYPE_BF16);
    assert_int_equal(qp_type_from_name("q4_2"), -1);
    assert_int_equal(qp_type_from_name(""), -1);
    assert_int_equal(qp_type_from_name(NULL), -1);

    /* can_quantize is set for exactly the types with routines */
    for (int t = 0; t < QP_TYPE_COUNT; t++) {
        const qp_type_traits *tt = qp_type_info(t);
        if (!tt)
            continue;
        bool expect = false;
        for (int i = 0; i < N_QUANT_TYPES; i++)
            expect |= quant_types[i] == t;
        assert_int_equal(tt->can_quantize, expect);
    }
    assert_true(fabs(qp_type_info(QP_TYPE_Q4_K)->bpw - 4.5) < 1e-12);
    assert_true(fabs(qp_type_info(QP_TYPE_Q6_K)->bpw - 6.5625) < 1e-12);
}

static void test_row_size(void **state)
{
    (void)state;
    assert_int_equal(qp_row_size(QP_TYPE_F32, 7), 28);
    assert_int_equal(qp_row_size(QP_TYPE_Q4_0, 4096), 4096 / 32 * 18);
    assert_int_equal(qp_row_size(QP_TYPE_Q6_K, 4096), 16 * 210);
    assert_int_equal(qp_row_size(QP_TYPE_IQ2_XS, 512), 2 * 74);
    assert_int_equal(qp_row_size(QP_TYPE_Q4_K, 100), 0);  /* not a multiple */
    assert_int_equal(qp_row_size(QP_TYPE_F32, -4), 0);    /* negative */
    assert_int_equal(qp_row_size(4, 32), 0);              /* removed type */
    assert_int_equal(qp_row_size(QP_TYPE_COUNT, 32), 0);  /* unknown */
    /* overflow: blocks * bytes beyond size_t must give 0, never wrap */
    assert_int_equal(qp_row_size(QP_TYPE_F32, INT64_MAX), 0);
    if (sizeof(size_t) == 8) {
        /* F64: 2^61 values are 2^64 bytes, one past SIZE_MAX; 2^61 - 1 fit */
        assert_int_equal(qp_row_size(QP_TYPE_F64, (int64_t)1 << 61), 0);
        assert_int_equal(qp_row_size(QP_TYPE_F64, ((int64_t)1 << 61) - 1), SIZE_MAX - 7);
        assert_int_equal(qp_row_size(QP_TYPE_F32, INT64_MAX / 4), (size_t)(INT64_MAX / 4) * 4);
        /* Q8_0's 34/32 bytes per value fit for any int64 length */
        assert_int_equal(qp_row_size(QP_TYPE_Q8_0, INT64_MAX / 32 * 32), (size_t)(INT64_MAX / 32) * 34);
        assert_int_equal(qp_row_size(QP_TYPE_Q4_K, (int64_t)1 << 40), ((size_t)1 << 32) * 144);
    }
}

/* ======================================================================== */
/* argument checks                                                          */
/* ======================================================================== */

static void test_bad_lengths(void **state)
{
    (void)state;
    float x[512] = { 0 }, y[512];
    uint8_t q[4096];
    qp_error err;
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const qp_type_traits *tt = qp_type_info(quant_types[i]);
        const int64_t bad[] = { tt->block_size + 1, tt->block_size / 2, -tt->block_size };
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            if (bad[b] == 0 || (bad[b] > 0 && bad[b] % tt->block_size == 0))
                continue; /* block size 1: every positive length is fine */
            qp_error_clear(&err);
            assert_int_equal(qp_quantize_row(tt->type, x, q, bad[b], NULL, &err), QP_ERR_INPUT);
            assert_int_equal(err.status, QP_ERR_INPUT);
            /* the message names the type, its block size and the length */
            char num[32];
            assert_non_null(strstr(err.msg, tt->name));
            snprintf(num, sizeof num, "%lld", (long long)tt->block_size);
            assert_non_null(strstr(err.msg, num));
            snprintf(num, sizeof num, "%lld", (long long)bad[b]);
            assert_non_null(strstr(err.msg, num));
            qp_error_clear(&err);
            assert_int_equal(qp_dequantize_row(tt->type, q, y, bad[b], &err), QP_ERR_INPUT);
            assert_non_null(strstr(err.msg, tt->name));
        }
        /* an empty row is a valid multiple */
        assert_int_equal(qp_quantize_row(tt->type, x, q, 0, NULL, &err), QP_OK);
    }
    /* types without routines, removed and unknown ids */
    qp_error_clear(&err);
    assert_int_equal(qp_quantize_row(QP_TYPE_IQ2_XXS, x, q, 256, NULL, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "iq2_xxs"));
    assert_int_equal(qp_dequantize_row(QP_TYPE_MXFP4, q, y, 32, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "mxfp4"));
    assert_int_equal(qp_dequantize_row(QP_TYPE_I32, q, y, 32, &err), QP_ERR_INPUT);
    assert_int_equal(qp_quantize_row(5, x, q, 32, NULL, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "5"));
    assert_int_equal(qp_quantize_row(1000, x, q, 32, NULL, NULL), QP_ERR_INPUT); /* err optional */
}

/* ======================================================================== */
/* golden vectors (llama.cpp)                                               */
/* ======================================================================== */

static const char *golden_types[] = { "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                      "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K" };
#define GOLDEN_N 2048   /* 4 rows x 512 */
#define GOLDEN_ROW 512

static void test_golden_dequantize(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    for (int in = 0; in < 2; in++)
        for (size_t ti = 0; ti < sizeof golden_types / sizeof golden_types[0]; ti++) {
            const int t = qp_type_from_name(golden_types[ti]);
            char rel[128];
            size_t nq, nd;
            snprintf(rel, sizeof rel, "data/vectors/input%d.%s.bin", in, golden_types[ti]);
            uint8_t *q = read_shared(rel, &nq);
            snprintf(rel, sizeof rel, "data/vectors/input%d.%s.dequant.f32", in, golden_types[ti]);
            float *g = read_shared(rel, &nd);
            assert_int_equal(nq, qp_row_size(t, GOLDEN_N));
            assert_int_equal(nd, GOLDEN_N * sizeof(float));
            float y[GOLDEN_N];
            qp_error err;
            assert_int_equal(qp_dequantize_row(t, q, y, GOLDEN_N, &err), QP_OK);
            if (memcmp(y, g, sizeof y) != 0) {
                int i = 0;
                while (memcmp(&y[i], &g[i], sizeof(float)) == 0)
                    i++;
                fail_msg("input%d %s: value %d dequantizes to %.9g, ggml %.9g", in, golden_types[ti], i,
                         (double)y[i], (double)g[i]);
            }
            free(q);
            free(g);
        }
}

static void test_golden_quantize(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    printf("    %-5s %-6s %12s %12s %7s\n", "type", "input", "rmse ggml", "rmse qprof", "ratio");
    for (int in = 0; in < 2; in++) {
        char rel[128];
        size_t nx;
        snprintf(rel, sizeof rel, "data/vectors/input%d.f32", in);
        float *x = read_shared(rel, &nx);
        assert_int_equal(nx, GOLDEN_N * sizeof(float));
        for (size_t ti = 0; ti < sizeof golden_types / sizeof golden_types[0]; ti++) {
            const int t = qp_type_from_name(golden_types[ti]);
            const size_t rs = qp_row_size(t, GOLDEN_ROW);
            size_t nq, nd;
            snprintf(rel, sizeof rel, "data/vectors/input%d.%s.bin", in, golden_types[ti]);
            uint8_t *gq = read_shared(rel, &nq);
            snprintf(rel, sizeof rel, "data/vectors/input%d.%s.dequant.f32", in, golden_types[ti]);
            float *g = read_shared(rel, &nd);

            uint8_t *q = calloc(1, nq); /* [4][rs] */
            float y[GOLDEN_N];
            qp_error err;
            for (int r = 0; r < GOLDEN_N / GOLDEN_ROW; r++)
                assert_int_equal(qp_quantize_row(t, x + r * GOLDEN_ROW, q + rs * (size_t)r, GOLDEN_ROW,
                                                 NULL, &err), QP_OK);
            assert_int_equal(qp_dequantize_row(t, q, y, GOLDEN_N, &err), QP_OK);
            const double e_ggml = rmse(g, x, GOLDEN_N), e_qp = rmse(y, x, GOLDEN_N);
            printf("    %-5s input%d %12.6g %12.6g %7.4f\n", golden_types[ti], in, e_ggml, e_qp,
                   e_qp / e_ggml);
            if (!(e_qp <= e_ggml))
                fail_msg("%s input%d: rmse %g worse than ggml's %g", golden_types[ti], in, e_qp, e_ggml);
            /* the plain and legacy types reproduce ggml's reference
             * quantizers byte for byte; the K-quants search differently */
            if (qp_type_info(t)->block_size < QK_K && memcmp(q, gq, nq) != 0)
                fail_msg("%s input%d: bytes differ from ggml's", golden_types[ti], in);
            free(q);
            free(gq);
            free(g);
        }
        free(x);
    }
}

/* ======================================================================== */
/* round trips                                                              */
/* ======================================================================== */

/*
 * Bounds on the relative RMSE (rmse / rms of the data) for N(0, s^2) rows.
 * A quantizer with step D adds rounding noise of RMS D/sqrt(12) (uniform on
 * +-D/2). D follows from the format: a block of n Gaussians spans about
 * E[max|x|] = 2.08 s (n = 16), 2.35 s (n = 32), 3.04 s (n = 256), or a
 * range max - min of 3.53 s (16) / 4.14 s (32) (measured over 20000 draws).
 * Symmetric formats put the extreme at the last level (Q4_0: D = max/8),
 * affine ones spread the range over 2^b - 1 steps. The bound is that
 * estimate plus 15% (fp16 scales, sampling noise of 64K values ~ 1%); the
 * searched K-quants come in well below it (they may clip), ggml's reference
 * legacy quantizers within a few % of it. Floats: half an ulp relative,
 * 2^-11 (F16) and 2^-8 (BF16), bounds the relative RMS error.
 */
static double rt_bound(int t)
{
    const double r12 = sqrt(12.0), m = 1.15;
    switch (t) {
    case QP_TYPE_F32: return 0;
    case QP_TYPE_F16: return 1.0 / 2048;
    case QP_TYPE_BF16: return 1.0 / 256;
    case QP_TYPE_Q4_0: return m * (2.35 / 8) / r12;    /* 0.0975 */
    case QP_TYPE_Q4_1: return m * (4.14 / 15) / r12;   /* 0.0916 */
    case QP_TYPE_Q5_0: return m * (2.35 / 16) / r12;   /* 0.0488 */
    case QP_TYPE_Q5_1: return m * (4.14 / 31) / r12;   /* 0.0443 */
    case QP_TYPE_Q8_0:
    case QP_TYPE_Q8_1: return m * (2.35 / 127) / r12;  /* 0.0061 */
    case QP_TYPE_Q8_K: return m * (3.04 / 127) / r12;  /* 0.0080 */
    case QP_TYPE_Q2_K: return m * (3.53 / 3) / r12;    /* 0.391: 16-wide, 4 levels */
    case QP_TYPE_Q3_K: return m * (2.08 / 4) / r12;    /* 0.173: 16-wide, -4..3 */
    case QP_TYPE_Q4_K: return m * (4.14 / 15) / r12;   /* 0.0916 */
    case QP_TYPE_Q5_K: return m * (4.14 / 31) / r12;   /* 0.0443 */
    case QP_TYPE_Q6_K: return m * (2.08 / 32) / r12;   /* 0.0216: 16-wide, -32..31 */
    }
    return -1;
}

#define RT_ROW 4096
#define RT_ROWS 16

static void test_round_trip_gaussian(void **state)
{
    (void)state;
    const uint64_t seed = 0x5eed0001ull;
    printf("    seed 0x%llx, %d rows x %d, N(0, 0.02^2)\n", (unsigned long long)seed, RT_ROWS, RT_ROW);
    const int64_t n = (int64_t)RT_ROW * RT_ROWS;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const int t = quant_types[i];
        rng_state = seed;
        fill_gauss(x, n, 0.02);
        round_trip(t, x, y, n, RT_ROW, NULL);
        assert_all_finite(y, n, "gaussian", qp_type_info(t)->name);
        const double rel = rmse(x, y, n) / rms(x, n);
        printf("    %-5s rel rmse %.5f (bound %.5f)\n", qp_type_info(t)->name, rel, rt_bound(t));
        if (!(rel <= rt_bound(t)))
            fail_msg("%s: relative rmse %g above its bound %g", qp_type_info(t)->name, rel, rt_bound(t));
    }
    free(x);
    free(y);
}

/* The awkward rows: each is 512 values (a multiple of every block), the
 * same row for every type. */
enum { AW_N = 512 };

static void test_round_trip_zeros_constants(void **state)
{
    (void)state;
    float x[AW_N], y[AW_N];
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const int t = quant_types[i];
        const char *name = qp_type_info(t)->name;
        /* zeros come back exactly (+0 or -0) */
        memset(x, 0, sizeof x);
        round_trip(t, x, y, AW_N, AW_N, NULL);
        for (int j = 0; j < AW_N; j++)
            if (y[j] != 0.0f)
                fail_msg("%s: zero row gives %g at %d", name, (double)y[j], j);
        /* constant rows: one level (or the offset) represents them; the
         * only error is rounding the fp16 scale, 2^-11 relative, times a
         * code of up to 127 * level 32 for the two-level K-quants - the
         * bound 2^-8 is BF16's own precision */
        const float consts[] = { 0.37f, -2.5f, 1e-3f, 3000.0f };
        for (size_t c = 0; c < sizeof consts / sizeof consts[0]; c++) {
            for (int j = 0; j < AW_N; j++)
                x[j] = consts[c];
            round_trip(t, x, y, AW_N, AW_N, NULL);
            for (int j = 0; j < AW_N; j++)
                if (!(fabsf(y[j] - consts[c]) <= fabsf(consts[c]) / 256))
                    fail_msg("%s: constant %g gives %g at %d", name, (double)consts[c], (double)y[j], j);
        }
    }
}

static void test_round_trip_outlier(void **state)
{
    (void)state;
    float x[AW_N], y[AW_N];
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const int t = quant_types[i];
        const char *name = qp_type_info(t)->name;
        rng_state = 0x5eed0002ull;
        fill_gauss(x, AW_N, 0.02);
        x[100] = 5.0f;  /* 250 sigma */
        x[300] = -3.0f;
        round_trip(t, x, y, AW_N, AW_N, NULL);
        assert_all_finite(y, AW_N, "outlier", name);
        /* an outlier dominates its block's error, so every format puts a
         * level (nearly) on it: within 10% even for Q2_K's 4 levels */
        assert_true(fabsf(y[100] - 5.0f) <= 0.5f);
        assert_true(fabsf(y[300] + 3.0f) <= 0.3f);
        /* the outliers sit in 32-blocks 3 and 9; blocks 4..7 ([128, 256))
         * must keep the Gaussian bound (x 1.5: only 128 values): an
         * outlier may not leak out of its block. (In a K-quant super-block
         * it does, by design: the shared d is set by the largest
         * sub-block scale, coarsening the others' codes.) */
        if (qp_type_info(t)->block_size <= 32) {
            const double rel = rmse(x + 128, y + 128, 128) / rms(x + 128, 128);
            if (!(rel <= 1.5 * rt_bound(t) + 1e-12))
                fail_msg("%s: clean blocks beside an outlier: rel rmse %g", name, rel);
        }
    }
}

/* Tiny, huge and extreme magnitudes: never NaN/Inf; where the format can
 * represent the data, the error bound still holds (scaled for subnormal
 * scales, which have fewer significant bits). */
static void test_round_trip_magnitudes(void **state)
{
    (void)state;
    float x[AW_N], y[AW_N];
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const int t = quant_types[i];
        const char *name = qp_type_info(t)->name;

        /* 1e4 * N(0,1): large but representable (fp16 scales up to 65504) */
        rng_state = 0x5eed0003ull;
        fill_gauss(x, AW_N, 1e4);
        round_trip(t, x, y, AW_N, AW_N, NULL);
        assert_all_finite(y, AW_N, "1e4", name);
        if (t != QP_TYPE_F16) { /* F16 itself cannot hold 4e4 + */
            const double rel = rmse(x, y, AW_N) / rms(x, AW_N);
            if (!(rel <= 1.5 * rt_bound(t) + 1e-12))
                fail_msg("%s: sigma 1e4: rel rmse %g", name, rel);
        }

        /* beyond every fp16 scale: saturates, stays finite, and is never
         * worse than writing zeros */
        const double sig[] = { 1e9, 1e30, 1e-30, 1e-38 };
        for (size_t s = 0; s < sizeof sig / sizeof sig[0]; s++) {
            rng_state = 0x5eed0004ull;
            fill_gauss(x, AW_N, sig[s]);
            round_trip(t, x, y, AW_N, AW_N, NULL);
            assert_all_finite(y, AW_N, "extreme sigma", name);
            if (!(rmse(x, y, AW_N) <= rms(x, AW_N) * (1 + 1e-6)))
                fail_msg("%s: sigma %g: error %g above the data's rms %g", name, sig[s], rmse(x, y, AW_N),
                         rms(x, AW_N));
        }

        /* float extremes side by side: FLT_MAX, subnormals, zero */
        for (int j = 0; j < AW_N; j++) {
            const float v[] = { FLT_MAX, -FLT_MAX, 1e-45f, -FLT_MIN, 0.0f, 1.0f, -3e38f, 7e-39f };
            x[j] = v[j % 8];
        }
        round_trip(t, x, y, AW_N, AW_N, NULL);
        assert_all_finite(y, AW_N, "FLT_MAX mix", name);
        /* the huge values keep their sign and saturate high: at least the
         * largest fp16 scale times a middling level */
        for (int j = 0; j < AW_N; j++)
            if (fabsf(x[j]) > 1e38f && !((y[j] > 0) == (x[j] > 0) && fabsf(y[j]) >= 65504.0f))
                fail_msg("%s: %g at %d comes back as %g", name, (double)x[j], j, (double)y[j]);
    }
}

/* Scales in the fp16 subnormal range (< 6.1e-5) are kept, not flushed:
 * weights of 1e-4 (Q8_0: d = 7.9e-7) and 1e-5 (K-quants' d ~ 1e-8). */
static void test_subnormal_scales(void **state)
{
    (void)state;
    float x[AW_N], y[AW_N];
    /* Q8_0: d = amax/127 must be a subnormal fp16, and the row accurate to
     * the subnormal spacing 2^-24 = 6e-8 of d (1e-4/127 = 7.9e-7: 7.6%
     * relative at worst, 2 levels of rounding) */
    rng_state = 0x5eed0005ull;
    fill_gauss(x, AW_N, 3e-5);
    block_q8_0 q8[AW_N / 32];
    qp_quantize_row_q8_0(x, q8, AW_N);
    int subnormal = 0;
    for (int b = 0; b < AW_N / 32; b++)
        subnormal += (q8[b].d & 0x7c00) == 0 && (q8[b].d & 0x03ff) != 0;
    assert_int_equal(subnormal, AW_N / 32);
    qp_error err;
    assert_int_equal(qp_dequantize_row(QP_TYPE_Q8_0, q8, y, AW_N, &err), QP_OK);
    assert_true(rmse(x, y, AW_N) / rms(x, AW_N) < 0.05);

    /* every type at sigma 1e-5: finite and bounded. The legacy types keep
     * ggml's rule (levels from the unrounded d, dequantized with the
     * rounded one), so the rounding of d itself - up to half a subnormal
     * step, 2^-25, relative to E[d] (the block extreme over the levels, see
     * rt_bound) - adds to their error: bound 1.15 * (Gaussian + that). The
     * K-quants search codes that fit the subnormal d (code up to 63 on a
     * d of a few steps): within 3x their Gaussian bound. F16 holds 1e-5 as
     * subnormals spaced 2^-24: 6e-8/1e-5/sqrt(12) = 0.0017, bound 0.02. */
    for (int i = 0; i < N_QUANT_TYPES; i++) {
        const int t = quant_types[i];
        rng_state = 0x5eed0006ull;
        const double sigma = 1e-5;
        fill_gauss(x, AW_N, sigma);
        round_trip(t, x, y, AW_N, AW_N, NULL);
        assert_all_finite(y, AW_N, "1e-5", qp_type_info(t)->name);
        const double rel = rmse(x, y, AW_N) / rms(x, AW_N);
        double d_over_sigma = 0; /* E[d] / sigma for the legacy formats */
        switch (t) {
        case QP_TYPE_Q4_0: d_over_sigma = 2.35 / 8; break;
        case QP_TYPE_Q4_1: d_over_sigma = 4.14 / 15; break;
        case QP_TYPE_Q5_0: d_over_sigma = 2.35 / 16; break;
        case QP_TYPE_Q5_1: d_over_sigma = 4.14 / 31; break;
        case QP_TYPE_Q8_0:
        case QP_TYPE_Q8_1: d_over_sigma = 2.35 / 127; break;
        }
        double bound = qp_type_info(t)->block_size == QK_K && t != QP_TYPE_Q8_K ? 3 * rt_bound(t)
                                                                              : rt_bound(t);
        if (d_over_sigma > 0)
            bound = 1.15 * (rt_bound(t) + ldexp(1.0, -25) / (d_over_sigma * sigma));
        if (t == QP_TYPE_F16)
            bound = 0.02;
        if (!(rel <= bound))
            fail_msg("%s: sigma 1e-5: rel rmse %g above %g", qp_type_info(t)->name, rel, bound);
    }
}

/* Mostly positive data (e.g. a bias-like row) is quantized by the affine
 * K-quants with negated d and dmin, since their offset can only be <= 0:
 * x in [1, 2] then costs one range, not two. */
static void test_kquant_positive_rows(void **state)
{
    (void)state;
    float x[AW_N], y[AW_N];
    rng_state = 0x5eed0007ull;
    for (int j = 0; j < AW_N; j++)
        x[j] = 1.0f + (float)rng_uniform();
    /* uniform data, width 1: step 1/15 -> rmse 1/15/sqrt(12) = 0.019; with
     * the offset stuck at 0 the step would be 2/15 (rmse 0.038) */
    round_trip(QP_TYPE_Q4_K, x, y, AW_N, AW_N, NULL);
    assert_true(rmse(x, y, AW_N) < 0.022);
    round_trip(QP_TYPE_Q5_K, x, y, AW_N, AW_N, NULL);
    assert_true(rmse(x, y, AW_N) < 0.011);
    for (int j = 0; j < AW_N; j++)
        x[j] = -x[j];
    round_trip(QP_TYPE_Q4_K, x, y, AW_N, AW_N, NULL);
    assert_true(rmse(x, y, AW_N) < 0.022);
}

/* Float formats saturate instead of overflowing to inf. */
static void test_float_saturation(void **state)
{
    (void)state;
    const float x[4] = { 1e6f, -70000.0f, 65504.0f, 65519.0f };
    uint16_t h[4];
    qp_error err;
    assert_int_equal(qp_quantize_row(QP_TYPE_F16, x, h, 4, NULL, &err), QP_OK);
    assert_int_equal(h[0], 0x7bff);
    assert_int_equal(h[1], 0xfbff);
    assert_int_equal(h[2], 0x7bff);
    assert_int_equal(h[3], 0x7bff); /* rounds down to 65504 anyway */
    const float b[2] = { FLT_MAX, -FLT_MAX };
    assert_int_equal(qp_quantize_row(QP_TYPE_BF16, b, h, 2, NULL, &err), QP_OK);
    assert_int_equal(h[0], 0x7f7f);
    assert_int_equal(h[1], 0xff7f);
}

/* ======================================================================== */
/* activation quantizers                                                    */
/* ======================================================================== */

static void test_activation_q8(void **state)
{
    (void)state;
    float x[256];
    for (int j = 0; j < 256; j++)
        x[j] = (float)sin(0.37 * j) * (1.0f + (float)(j % 7));
    x[3] = -9.5f; /* the largest magnitude, negative */

    /* Q8_0: d = amax/127 (fp16), q = round(x/d), half away from zero */
    block_q8_0 a[8];
    qp_quantize_row_q8_0(x, a, 256);
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        const float d = amax / 127;
        assert_int_equal(a[b].d, qp_fp32_to_fp16(d));
        for (int j = 0; j < 32; j++)
            assert_int_equal(a[b].qs[j], (int)roundf(x[b * 32 + j] * (1.0f / d)));
    }
    assert_int_equal(a[0].qs[3], -127);

    /* Q8_1: as Q8_0 plus s = d * sum(q) */
    block_q8_1 c[8];
    qp_quantize_row_q8_1(x, c, 256);
    for (int b = 0; b < 8; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            assert_int_equal(c[b].qs[j], a[b].qs[j]);
            sum += c[b].qs[j];
        }
        assert_int_equal(c[b].d, a[b].d);
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        assert_int_equal(c[b].s, qp_fp32_to_fp16((float)sum * (amax / 127)));
    }

    /* Q8_K: iscale = -127/max (max = the signed extreme), d = 1/iscale in
     * fp32, q = nearest (ties even), bsums = sums of 16 */
    block_q8_K k;
    qp_quantize_row_q8_K(x, &k, 256);
    const float iscale = -127.0f / -9.5f;
    assert_true(k.d == 1.0f / iscale);
    assert_int_equal(k.qs[3], -127);
    for (int j = 0; j < 256; j++)
        assert_int_equal(k.qs[j], (int)rintf(iscale * x[j]));
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += k.qs[g * 16 + j];
        assert_int_equal(k.bsums[g], sum);
    }
    /* an all-zero block: d = 0, quants and sums 0 */
    memset(x, 0, sizeof x);
    memset(&k, 0x55, sizeof k);
    qp_quantize_row_q8_K(x, &k, 256);
    assert_true(k.d == 0.0f);
    for (int g = 0; g < 16; g++)
        assert_int_equal(k.bsums[g], 0);
}

/* ======================================================================== */
/* importance matrix                                                        */
/* ======================================================================== */

static double weighted_sse(const float *x, const float *y, const float *w, int64_t n, int64_t row)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)w[i % row] * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return s;
}

/* A column importance where it matters: one column in 8 carries weight 50
 * (as a few channels of large activations do), the rest 1. The weighted
 * quantizer must lower the weighted error clearly (>= 10%) against the
 * unweighted one; and an all-zero importance means "no preference": the
 * K-quants then give exactly their unweighted bytes. */
static void test_imatrix(void **state)
{
    (void)state;
    const int types[] = { QP_TYPE_Q4_0, QP_TYPE_Q4_1, QP_TYPE_Q5_0, QP_TYPE_Q5_1, QP_TYPE_Q2_K,
                          QP_TYPE_Q3_K, QP_TYPE_Q4_K, QP_TYPE_Q5_K, QP_TYPE_Q6_K };
    enum { ROW = 1024, ROWS = 8 };
    const int64_t n = (int64_t)ROW * ROWS;
    float *x = malloc(sizeof(float) * n), *y0 = malloc(sizeof(float) * n), *y1 = malloc(sizeof(float) * n);
    float imat[ROW], zeros[ROW];
    assert_non_null(x);
    assert_non_null(y0);
    assert_non_null(y1);
    rng_state = 0x5eed0008ull;
    printf("    seed 0x5eed0008, weighted sse: unweighted -> imatrix\n");
    fill_gauss(x, n, 0.02);
    for (int j = 0; j < ROW; j++) {
        imat[j] = (rng_next() % 8 == 0) ? 50.0f : 1.0f;
        zeros[j] = 0.0f;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int t = types[i];
        round_trip(t, x, y0, n, ROW, NULL);
        round_trip(t, x, y1, n, ROW, imat);
        assert_all_finite(y1, n, "imatrix", qp_type_info(t)->name);
        const double e0 = weighted_sse(x, y0, imat, n, ROW), e1 = weighted_sse(x, y1, imat, n, ROW);
        printf("    %-5s %.4g -> %.4g (%.3f)\n", qp_type_info(t)->name, e0, e1, e1 / e0);
        if (!(e1 < 0.9 * e0))
            fail_msg("%s: imatrix error %g not clearly below %g", qp_type_info(t)->name, e1, e0);
        if (qp_type_info(t)->block_size == QK_K) {
            round_trip(t, x, y1, n, ROW, zeros);
            assert_memory_equal(y0, y1, sizeof(float) * (size_t)n);
        }
    }
    free(x);
    free(y0);
    free(y1);
}

/* quant/policy.c: llama.cpp's fallbacks (llama-quant.cpp's
 * convert_incompatible_tensor, IQ4_NL replaced by Q4_0), the ladder, sizes
 * and the type-list parser. */
static void test_policy(void **state)
{
    (void)state;
    /* rows that fit keep their type */
    assert_int_equal(qp_fallback_type(QP_TYPE_Q4_K, 1536), QP_TYPE_Q4_K);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q8_0, 576), QP_TYPE_Q8_0);
    /* SmolLM2's rows of 576 do not fit 256-blocks */
    assert_int_equal(qp_fallback_type(QP_TYPE_Q4_K, 576), QP_TYPE_Q5_0);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q5_K, 576), QP_TYPE_Q5_1);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q6_K, 576), QP_TYPE_Q8_0);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q2_K, 576), QP_TYPE_Q4_0);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q3_K, 576), QP_TYPE_Q4_0);
    /* stories260K's rows of 172 fit no block: F16 */
    assert_int_equal(qp_fallback_type(QP_TYPE_Q4_K, 172), QP_TYPE_F16);
    assert_int_equal(qp_fallback_type(QP_TYPE_Q4_0, 172), QP_TYPE_F16);

    const int *ladder;
    const int n = qp_type_ladder(&ladder);
    assert_int_equal(n, 10);
    static const int want[10] = {QP_TYPE_Q8_0, QP_TYPE_Q6_K, QP_TYPE_Q5_K, QP_TYPE_Q5_1, QP_TYPE_Q5_0,
                                 QP_TYPE_Q4_K, QP_TYPE_Q4_1, QP_TYPE_Q4_0, QP_TYPE_Q3_K, QP_TYPE_Q2_K};
    assert_memory_equal(ladder, want, sizeof want);

    /* 10 rows of 64 Q4_0 weights: 2 blocks of 18 bytes each */
    assert_int_equal(qp_tensor_bytes(QP_TYPE_Q4_0, 10, 64), 360);
    assert_int_equal(qp_tensor_bytes(QP_TYPE_Q4_K, 10, 100), 0);
    assert_int_equal(qp_tensor_bytes(QP_TYPE_F32, 0, 64), 0);
    assert_int_equal(qp_tensor_bytes(QP_TYPE_F32, INT64_MAX / 2, 64), 0); /* overflow */
    assert_float_equal(qp_bits_per_weight(360, 640), 4.5, 1e-12);
    assert_float_equal(qp_bits_per_weight(360, 0), 0.0, 0);

    int types[4];
    qp_error err;
    assert_int_equal(qp_type_list_parse("q8_0,Q4_K,bf16", types, 4, &err), 3);
    assert_int_equal(types[0], QP_TYPE_Q8_0);
    assert_int_equal(types[1], QP_TYPE_Q4_K);
    assert_int_equal(types[2], QP_TYPE_BF16);
    assert_int_equal(qp_type_list_parse("q8_0,q4_k,Q8_0", types, 4, &err), -1);
    assert_int_equal(err.status, QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "twice"));
    assert_int_equal(qp_type_list_parse("q9_9", types, 4, &err), -1);
    assert_non_null(strstr(err.msg, "q9_9"));
    assert_int_equal(qp_type_list_parse("", types, 4, &err), -1);
    assert_int_equal(qp_type_list_parse("q8_0,", types, 4, &err), -1);
    assert_int_equal(qp_type_list_parse("q8_0,,q4_0", types, 4, &err), -1);
    assert_int_equal(qp_type_list_parse("q8_0,q4_0,q4_1,q5_0,q5_1", types, 4, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_row_size),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_golden_dequantize),
        cmocka_unit_test(test_golden_quantize),
        cmocka_unit_test(test_round_trip_gaussian),
        cmocka_unit_test(test_round_trip_zeros_constants),
        cmocka_unit_test(test_round_trip_outlier),
        cmocka_unit_test(test_round_trip_magnitudes),
        cmocka_unit_test(test_subnormal_scales),
        cmocka_unit_test(test_kquant_positive_rows),
        cmocka_unit_test(test_float_saturation),
        cmocka_unit_test(test_activation_q8),
        cmocka_unit_test(test_imatrix),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
