/* kernels/arm/neon_base.c - the "neon" variant: its table, its CPU probe,
 * and every kernel that needs only ARMv8.0 Advanced SIMD (ASIMD).
 *
 * Compiled for plain ARMv8-A (Makefile), so everything here runs on any
 * AArch64 CPU; the dotprod kernels are in neon.c. One variant, "neon",
 * whose integer kernels are picked once at init (neon_impl.h):
 *
 *   CPU has                          integer dots      describe
 *   ASIMD+dotprod+FP16+LSE atomics   neon.c (SDOT)     "ASIMD+dotprod"
 *   ASIMD only (Cortex-A53/A72)      here (SMULL)      "ASIMD (no dotprod)"
 *
 * rather than two variants: there is nothing to compare between them but
 * speed, and one name keeps QPROF_KERNELS=neon meaningful on every arm64.
 * The variant is usable on any CPU with ASIMD, which every AArch64 Linux
 * system has.
 *
 * Accelerated weight types (accelerated = 1): all 13 that have kernels:
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K (integer, both paths), F16,
 * BF16, F32 (float, FMLA). Register tiles (tile_m x tile_n): 4 x 4 for the
 * legacy and float types, 1 x 4 (SDOT) or 1 x 2 (SMULL) for Q4_K/Q5_K/
 * Q6_K, 1 x 1 (vec_dot per output) for Q2_K/Q3_K; neon_kernels.h says why. The activation quantizers Q8_0, Q8_1 and Q8_K
 * are vectorised and byte-identical to quant/'s; F32's (a copy) is
 * scalar's.
 */
#include <math.h>
#include <pthread.h>

#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "neon_impl.h"
#include "../../quant/quant.h"

/* ======================================================================== */
/* The SMULL + SADALP integer kernels                                       */
/* ======================================================================== */

/* 16 int8 products without dotprod: SMULL/SMULL2 multiply 8 pairs each into
 * int16 lanes (|a b| <= 128 * 128 = 2^14, so no overflow), SADALP adds
 * adjacent int16 pairs into the int32 accumulator. */
static inline int32x4_t neon_dot16_base(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

/* The base instance is private to this file (static). */
#define QP_NEON_DOT16(acc, a, b) neon_dot16_base((acc), (a), (b))
#define QP_NEON_FN(name) name##_base
#define QP_NEON_API static
#define QP_NEON_K_TILE_N QP_NEON_K_TILE_N_BASE
#include "neon_kernels.h"

/* ======================================================================== */
/* Float weights, float activations                                        */
/* ======================================================================== */
/* Four accumulators of 4 lanes (16 products in flight) cover the 4-cycle
 * FMLA latency of typical cores; the tail (k need not be a multiple of
 * anything for these types) is plain C. */

/* F16 weights . F32 activations, twin of dot_f16 (scalar.c). FCVTL/FCVTL2
 * widen 4 halves each, exactly; they are ARMv8.0 (no +fp16 needed). */
static float neon_dot_f16(int64_t k, const void *wv, const void *xv)
{
    const qp_half *w = wv; /* [k] */
    const float *x = xv;   /* [k] */
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        qp_neon_prefetch(w + i, 32); /* 32 bytes: each line asked for twice, harmless */
        const float16x8_t h0 = vreinterpretq_f16_u16(vld1q_u16(w + i));
        const float16x8_t h1 = vreinterpretq_f16_u16(vld1q_u16(w + i + 8));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(h0)), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(h0), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, vcvt_f32_f16(vget_low_f16(h1)), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, vcvt_high_f32_f16(h1), vld1q_f32(x + i + 12));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < k; i++)
        sum += qp_neon_h2f(w[i]) * x[i];
    return sum;
}

/* BF16 weights . F32 activations, twin of dot_bf16 (scalar.c): a bf16 is
 * the top half of a float, so SHLL by 16 widens it exactly. */
static float neon_dot_bf16(int64_t k, const void *wv, const void *xv)
{
    const uint16_t *w = wv; /* [k] */
    const float *x = xv;    /* [k] */
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        qp_neon_prefetch(w + i, 32);
        const uint16x8_t h0 = vld1q_u16(w + i), h1 = vld1q_u16(w + i + 8);
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h0), 16)), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vreinterpretq_f32_u32(vshll_high_n_u16(h0, 16)), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h1), 16)), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, vreinterpretq_f32_u32(vshll_high_n_u16(h1, 16)), vld1q_f32(x + i + 12));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < k; i++)
        sum += qp_bf16_to_fp32(w[i]) * x[i];
    return sum;
}

/* F32 . F32, twin of dot_f32 (scalar.c). */
static float neon_dot_f32(int64_t k, const void *wv, const void *xv)
{
    const float *w = wv; /* [k] */
    const float *x = xv; /* [k] */
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        qp_neon_prefetch(w + i, 64);
        a0 = vfmaq_f32(a0, vld1q_f32(w + i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(w + i + 8), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(w + i + 12), vld1q_f32(x + i + 12));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < k; i++)
        sum += w[i] * x[i];
    return sum;
}

/* Register tiles of the float types, 4 x 4 (tile_m = tile_n = 4): per 4
 * values, the 4 weight rows are loaded and widened once (FCVTL for F16,
 * SHLL for BF16) for 4 activation rows and each activation vector loaded
 * once for 4 weight rows: 16 FMLAs on 16 accumulators (enough independent
 * chains for 2 FMA pipes of 4-cycle latency), 4 weight and 4 activation
 * registers, 24 in all. Per output and 4 values that is 0.5 vector loads
 * and 0.25 conversions (vec_dot: 2 and 1) for the same FMLA. F16, per
 * output and 256 values: 258 executed instructions in vec_dot, 129 in the
 * 4 x 4 tile (qemu-aarch64 -singlestep -d exec, k = 4096). Counted, not
 * timed (no ARM hardware). Twins: dot_f16, dot_bf16, dot_f32
 * (scalar.c) per output; the tail of k % 4 values is plain C, as in the
 * vec_dots. */
enum { NEON_F16, NEON_BF16, NEON_F32 };

/* Weights i .. i + 3 of a row of format FT, widened exactly to float. */
QP_NEON_INLINE float32x4_t neon_load4(int FT, const char *row, int64_t i)
{
    switch (FT) {
    case NEON_F16:
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + i)));
    case NEON_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)row + i), 16));
    default:
        return vld1q_f32((const float *)row + i);
    }
}

/* Weight i of a row of format FT. */
QP_NEON_INLINE float neon_load1(int FT, const char *row, int64_t i)
{
    switch (FT) {
    case NEON_F16: return qp_neon_h2f(((const qp_half *)row)[i]);
    case NEON_BF16: return qp_bf16_to_fp32(((const uint16_t *)row)[i]);
    default: return ((const float *)row)[i];
    }
}

/* The template: RM x RN <= 4 x 4, constant after inlining. */
QP_NEON_INLINE void neon_float_tile_rc(int FT, int RM, int RN, int64_t k, const char *w, size_t ws,
                                       const char *xq, size_t xs, float *y, size_t ldy)
{
    float32x4_t acc[4][4]; /* acc[r][c]: output (r, c), in 4 partial lanes */
#pragma GCC unroll 4
    for (int r = 0; r < RM; r++)
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            acc[r][c] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {
        float32x4_t xv[4]; /* activations i .. i + 3 of rows 0..RN-1 */
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            xv[c] = vld1q_f32((const float *)(xq + (size_t)c * xs) + i);
#pragma GCC unroll 4
        for (int r = 0; r < RM; r++) {
            const float32x4_t wv = neon_load4(FT, w + (size_t)r * ws, i);
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++)
                acc[r][c] = vfmaq_f32(acc[r][c], wv, xv[c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RM; r++)
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const char *wr = w + (size_t)r * ws;
            const float *xr = (const float *)(xq + (size_t)c * xs);
            float s = vaddvq_f32(acc[r][c]);
            for (int64_t t = i; t < k; t++)
                s += neon_load1(FT, wr, t) * xr[t];
            y[(size_t)c * ldy + (size_t)r] = s;
        }
}

#define NEON_FLOAT_TILE(T, FT)                                                             \
    static void neon_tile_##T(int64_t k, const void *w, size_t ws, const void *xq,         \
                              size_t xs, float *y, size_t ldy, int mr, int nc)             \
    {                                                                                      \
        QP_NEON_TILE_SWITCH_4X4(neon_float_tile_rc, (FT), mr, nc,                          \
                                (k, (const char *)w, ws, (const char *)xq, xs, y, ldy));   \
    }
NEON_FLOAT_TILE(f16, NEON_F16)
NEON_FLOAT_TILE(bf16, NEON_BF16)
NEON_FLOAT_TILE(f32, NEON_F32)

/* ======================================================================== */
/* Activation quantizers: the same bytes as quant/'s                        */
/* ======================================================================== */
/* Each step below is the vector form of the same float operation in the
 * same order as the reference, and every rounding and clamp has the
 * reference's rule, NaN included; tests/test_kernels.c compares the bytes.
 *   fmaxf(a, fabsf(x))      = FMAXNM(a, FABS(x)): both ignore a quiet NaN;
 *   roundf (ties away)      = FRINTA;
 *   nearest, ties to even   = FCVTNS (qp_nearest_int's rule);
 *   qp_clampf(v, lo, hi)    = two compare+selects, NaN -> lo as there
 *                             (v > lo is false for NaN). */

/* qp_clampf on 4 lanes. */
static inline float32x4_t neon_clamp(float32x4_t v, float32x4_t lo, float32x4_t hi)
{
    v = vbslq_f32(vcgtq_f32(v, lo), v, lo);
    return vbslq_f32(vcltq_f32(v, hi), v, hi);
}

/* 4 int32x4 of values in [-128, 127] -> 16 int8 (XTN twice; the values
 * fit, so truncation is exact). */
static inline int8x16_t neon_narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

/* Twin of legacy_store_scale (quant/legacy.c): store d as fp16, saturating
 * a finite d beyond the fp16 range to +-65504 (then using that value), and
 * return 1/d, or 0 when that is not finite. */
static float neon_store_scale(float d, qp_half *dst)
{
    uint16_t h = qp_fp32_to_fp16(d);
    if ((h & 0x7fffu) == 0x7c00u && isfinite(d)) {
        h = (uint16_t)((h & 0x8000u) | 0x7bffu);
        d = qp_fp16_to_fp32(h);
    }
    *dst = h;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    return isfinite(id) ? id : 0.0f;
}

/* One block of 32 values as Q8_0/Q8_1 quants: *dh = fp16(amax / 127)
 * (saturating), qs = clamp(roundf(x / d), -127, 127); returns the unrounded
 * d = amax / 127, which Q8_1's s uses. */
static inline float neon_q8_block(const float *x, qp_half *dh, int8_t *qs)
{
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    float32x4_t v[8];                   /* the block's 32 values */
    float32x4_t am = vdupq_n_f32(0.0f); /* fmaxf's start value, 0 */
    for (int j = 0; j < 8; j++) {
        v[j] = vld1q_f32(x + 4 * j);
        am = vmaxnmq_f32(am, vabsq_f32(v[j]));
    }
    const float d = vmaxnmvq_f32(am) / 127.0f;
    const float32x4_t vid = vdupq_n_f32(neon_store_scale(d, dh));
    int32x4_t q[8];
    for (int j = 0; j < 8; j++)
        q[j] = vcvtq_s32_f32(neon_clamp(vrndaq_f32(vmulq_f32(v[j], vid)), lo, hi));
    vst1q_s8(qs, neon_narrow16(q[0], q[1], q[2], q[3]));
    vst1q_s8(qs + 16, neon_narrow16(q[4], q[5], q[6], q[7]));
    return d;
}

/* Q8_0 activations, twin of qp_quantize_row_q8_0 (quant/legacy.c):
 * d = amax / 127 as fp16, q = clamp(roundf(x / d), -127, 127). */
static void neon_quantize_q8_0(const float *x, void *vy, int64_t k)
{
    block_q8_0 *y = vy; /* [k / 32] */
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0)
        neon_q8_block(x, &y[i].d, y[i].qs);
}

/* Q8_1 activations, twin of qp_quantize_row_q8_1 (quant/legacy.c): Q8_0's
 * d and q, plus s = fp16(d * sum q) with the UNROUNDED d (as ggml),
 * saturating like qp_fp16_sat. */
static void neon_quantize_q8_1(const float *x, void *vy, int64_t k)
{
    block_q8_1 *y = vy; /* [k / 32] */
    for (int64_t i = 0; i < k / QK8_1; i++, x += QK8_1) {
        const float d = neon_q8_block(x, &y[i].d, y[i].qs);
        /* |sum| <= 32 * 127: int16-safe halves */
        const int sum = vaddlvq_s8(vld1q_s8(y[i].qs)) + vaddlvq_s8(vld1q_s8(y[i].qs + 16));
        const float f = (float)sum * d;
        uint16_t h = qp_fp32_to_fp16(f);
        if ((h & 0x7fffu) == 0x7c00u && isfinite(f))
            h = (uint16_t)((h & 0x8000u) | 0x7bffu);
        y[i].s = h;
    }
}

/* Q8_K activations, twin of qp_quantize_row_q8_K (quant/kquants.c): the
 * FIRST value of largest magnitude, max, maps to -127: iscale = -127/max
 * (pre-scaled by 2^64 when that overflows, which is exact), q = nearest
 * (ties even) of clamp(iscale * (x * pre), -128, 127), d = (1/iscale)/pre,
 * bsums the sums of each 16 quants. */
static void neon_quantize_q8_K(const float *x, void *vy, int64_t k)
{
    block_q8_K *y = vy; /* [k / 256] */
    const float32x4_t lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float32x4_t am = vdupq_n_f32(0.0f);
        for (int j = 0; j < QK_K; j += 4)
            am = vmaxnmq_f32(am, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxnmvq_f32(am);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the reference keeps the first x with |x| == amax (it updates on a
         * strictly larger |x| only): find that x, 4 lanes at a time */
        float max = amax;
        const float32x4_t vam = vdupq_n_f32(amax);
        for (int j = 0; j < QK_K; j += 4) {
            if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + j)), vam))) {
                int l = 0;
                while (fabsf(x[j + l]) != amax)
                    l++;
                max = x[j + l];
                break;
            }
        }
        float pre = 1.0f;
        float iscale = -127.0f / max;
        if (!isfinite(iscale)) {
            pre = 18446744073709551616.0f; /* 2^64 */
            iscale = -127.0f / (max * pre);
        }
        const float32x4_t vis = vdupq_n_f32(iscale), vpre = vdupq_n_f32(pre);
        for (int j = 0; j < QK_K; j += 16) {
            int32x4_t q[4];
            for (int l = 0; l < 4; l++) {
                const float32x4_t v = vmulq_f32(vis, vmulq_f32(vld1q_f32(x + j + 4 * l), vpre));
                q[l] = vcvtnq_s32_f32(neon_clamp(v, lo, hi));
            }
            const int8x16_t q8 = neon_narrow16(q[0], q[1], q[2], q[3]);
            vst1q_s8(y[i].qs + j, q8);
            y[i].bsums[j / 16] = vaddlvq_s8(q8); /* |sum| <= 16 * 128 */
        }
        y[i].d = (1.0f / iscale) / pre;
    }
}

/* ======================================================================== */
/* CPU probe and the table                                                  */
/* ======================================================================== */

static pthread_once_t neon_probe_once = PTHREAD_ONCE_INIT;
static int neon_has_asimd, neon_has_dot;

/* AT_HWCAP bits (Linux arch/arm64/include/uapi/asm/hwcap.h): ASIMD 1,
 * ATOMICS 8, FPHP 9, ASIMDHP 10, ASIMDDP 20. The dotprod path needs every
 * feature that neon.c's -march=armv8.2-a+dotprod+fp16 lets the compiler
 * use: dotprod, the FP16 arithmetic of +fp16, and the LSE atomics that
 * ARMv8.1 made mandatory (ARMv8.2's RDM needs no hwcap check: no compiler
 * emits it unasked). Other systems: ASIMD is architectural on AArch64, and
 * without a probe the dotprod path is not taken. */
static void neon_probe(void)
{
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    const unsigned long dot_bits = (1ul << 1) | (1ul << 8) | (1ul << 9) | (1ul << 10) | (1ul << 20);
    neon_has_asimd = (hw >> 1) & 1;
    neon_has_dot = (hw & dot_bits) == dot_bits;
#else
    neon_has_asimd = 1;
    neon_has_dot = 0;
#endif
}

static int neon_usable(void)
{
    pthread_once(&neon_probe_once, neon_probe);
    return neon_has_asimd;
}

static int neon_dotprod(void)
{
    pthread_once(&neon_probe_once, neon_probe);
    return neon_has_dot;
}

/* tm x tn: the largest tile of the slot (neon_kernels.h, "Register
 * tiles", and the float tiles above say why each shape). */
static void neon_set(struct qp_kernels *t, enum qp_type w, qp_vec_dot_fn dot, qp_tile_fn tile, int tm,
                     int tn)
{
    t->w[w].vec_dot = dot;
    t->w[w].tile = tile;
    t->w[w].tile_m = tm;
    t->w[w].tile_n = tn;
    t->w[w].accelerated = 1;
}

static void neon_set_packed(struct qp_kernels *t, enum qp_type w, const struct qp_pack_layout *L, qp_ptile_fn f)
{
    t->w[w].packed = L;
    t->w[w].ptile = f;
    t->w[w].ptile_n = QP_NEON_PTILE_N;
}

/* The integer kernels of one code path (PATH: sdot or base, the two
 * instances of neon_kernels.h): legacy types 4x4 tiles, Q2_K/Q3_K the
 * generic one-output tile, Q4_K..Q6_K 1 x KTN. */
#define NEON_SET_INTEGER(t, PATH, KTN)                                                              \
    do {                                                                                            \
        neon_set(t, QP_TYPE_Q8_0, qp_neon_dot_q8_0_##PATH, qp_neon_tile_q8_0_##PATH, 4, 4);         \
        neon_set(t, QP_TYPE_Q4_0, qp_neon_dot_q4_0_##PATH, qp_neon_tile_q4_0_##PATH, 4, 4);         \
        neon_set(t, QP_TYPE_Q5_0, qp_neon_dot_q5_0_##PATH, qp_neon_tile_q5_0_##PATH, 4, 4);         \
        neon_set(t, QP_TYPE_Q4_1, qp_neon_dot_q4_1_##PATH, qp_neon_tile_q4_1_##PATH, 4, 4);         \
        neon_set(t, QP_TYPE_Q5_1, qp_neon_dot_q5_1_##PATH, qp_neon_tile_q5_1_##PATH, 4, 4);         \
        neon_set(t, QP_TYPE_Q2_K, qp_neon_dot_q2_K_##PATH, qp_neon_tile_q2_K_##PATH, 1, 1);         \
        neon_set(t, QP_TYPE_Q3_K, qp_neon_dot_q3_K_##PATH, qp_neon_tile_q3_K_##PATH, 1, 1);         \
        neon_set(t, QP_TYPE_Q4_K, qp_neon_dot_q4_K_##PATH, qp_neon_tile_q4_K_##PATH, 1, (KTN));     \
        neon_set(t, QP_TYPE_Q5_K, qp_neon_dot_q5_K_##PATH, qp_neon_tile_q5_K_##PATH, 1, (KTN));     \
        neon_set(t, QP_TYPE_Q6_K, qp_neon_dot_q6_K_##PATH, qp_neon_tile_q6_K_##PATH, 1, (KTN));     \
    } while (0)

void qp_kernels_init_neon(struct qp_kernels *t)
{
    qp_kernels_fill_scalar(t); /* every slot the reference first */
    t->name = "neon";
    t->usable = neon_usable;
    t->rank = 10;
    if (neon_dotprod()) {
        t->describe = "ASIMD+dotprod";
        NEON_SET_INTEGER(t, sdot, QP_NEON_K_TILE_N_SDOT);
        neon_set_packed(t, QP_TYPE_Q8_0, &qp_pack_q8_0_x8, qp_neon_ptile_q8_0_sdot);
        neon_set_packed(t, QP_TYPE_Q4_0, &qp_pack_q4_0_x8, qp_neon_ptile_q4_0_sdot);
    } else {
        t->describe = "ASIMD (no dotprod)";
        NEON_SET_INTEGER(t, base, QP_NEON_K_TILE_N_BASE);
    }
    neon_set(t, QP_TYPE_F16, neon_dot_f16, neon_tile_f16, 4, 4);
    neon_set(t, QP_TYPE_BF16, neon_dot_bf16, neon_tile_bf16, 4, 4);
    neon_set(t, QP_TYPE_F32, neon_dot_f32, neon_tile_f32, 4, 4);
    t->quantize_act[QP_TYPE_Q8_0] = neon_quantize_q8_0;
    t->quantize_act[QP_TYPE_Q8_1] = neon_quantize_q8_1;
    t->quantize_act[QP_TYPE_Q8_K] = neon_quantize_q8_K;
}
