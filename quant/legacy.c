/* quant/legacy.c - the plain types (F32, F16, BF16) and ggml's original
 * 32-weight block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1).
 *
 * Without an importance matrix the quantizers reproduce ggml's reference
 * ones (quantize_row_*_ref in ggml/src/ggml-quants.c) byte for byte: the same
 * scale rule, the same float operations in the same order, the same
 * truncating conversions. That makes a qprof Q4_0 file identical to a
 * llama.cpp one and is tested against golden vectors. The only deviations
 * are where ggml's result is undefined or not finite: a scale beyond the
 * fp16 range saturates to 65504 instead of becoming inf, and F16/BF16 values
 * beyond their range saturate likewise (see qp_fp16_sat).
 *
 * With an importance matrix, Q4_0/Q4_1/Q5_0/Q5_1 use a weighted search
 * instead (section "importance-weighted variants" below).
 *
 * Block layouts: quant/quant.h. In every 32-weight block, weight j (j < 16)
 * sits in the low nibble of qs[j] and weight j + 16 in its high nibble; Q5's
 * fifth bits are bit j of the little-endian 32-bit qh.
 */
#include <math.h>
#include <string.h>

#include "quant_internal.h"

/* Bit-exactness with ggml needs every a*b + c evaluated as two roundings:
 * GCC does so in ISO C mode (-std=c11 implies -ffp-contract=off); clang
 * contracts to FMA where the ISA has one (aarch64) unless told not to. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ======================================================================== */
/* plain types                                                              */
/* ======================================================================== */

void qp_quantize_f32(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix;
    memcpy(y, x, (size_t)n * sizeof(float));
}

void qp_dequantize_f32(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void qp_quantize_f16(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix;
    uint16_t *h = y; /* [n] binary16 */
    for (int64_t i = 0; i < n; i++)
        h[i] = qp_fp16_sat(x[i]);
}

void qp_dequantize_f16(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = qp_fp16_to_fp32(h[i]);
}

void qp_quantize_bf16(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix;
    uint16_t *h = y; /* [n] bfloat16 */
    for (int64_t i = 0; i < n; i++) {
        uint16_t b = qp_fp32_to_bf16(x[i]);
        /* only values within half a bf16 ulp of FLT_MAX round up to inf */
        if ((b & 0x7fffu) == 0x7f80u && isfinite(x[i]))
            b = (uint16_t)((b & 0x8000u) | 0x7f7fu);
        h[i] = b;
    }
}

void qp_dequantize_bf16(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = qp_bf16_to_fp32(h[i]);
}

/* ======================================================================== */
/* shared pieces of the reference quantizers                               */
/* ======================================================================== */

/* Stores scale d as fp16 and returns the multiplier that maps a weight to
 * its level, 1/d as ggml computes it (from the unrounded d). When the fp16
 * saturated, the inverse is taken of the stored value instead, so levels
 * clip at the ends rather than wrap. A d so small that 1/d overflows stores
 * 0 anyway (|d| < 2^-128 is far below fp16's 2^-24), so 0 is returned. */
static float legacy_store_scale(float d, qp_half *dst)
{
    uint16_t h = qp_fp32_to_fp16(d);
    /* saturate, as qp_fp16_sat; d itself may be inf here from finite input
     * (Q4_1's max - min overflows for values near +-FLT_MAX) */
    if ((h & 0x7fffu) == 0x7c00u) {
        h = (uint16_t)((h & 0x8000u) | 0x7bffu);
        d = qp_fp16_to_fp32(h);
    }
    *dst = h;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    return isfinite(id) ? id : 0.0f;
}

/* The fp16 min of Q4_1/Q5_1. When it saturates (|min| > 65504), the levels
 * must be measured from the stored min, not the true one, or values near
 * the true min would land far above the representable range: *mn is
 * replaced by the stored value. Otherwise ggml's min, untouched. */
static qp_half legacy_store_min(float *mn)
{
    const uint16_t h = qp_fp16_sat(*mn);
    if ((h & 0x7fffu) == 0x7bffu && fabsf(*mn) > 65504.0f)
        *mn = qp_fp16_to_fp32(h);
    return h;
}

/* ggml's `(int8_t)(v)` then MIN(hi, .): truncation toward zero, for the v
 * >= 0 these formats produce; also defined for NaN/negative (-> 0). */
static inline int legacy_trunc(float v, int hi)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

/* Packs 32 levels (0..15) into Q4 nibbles: j low, j + 16 high. */
static void pack_nibbles(const uint8_t *q, uint8_t *qs)
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
}

/* Packs 32 levels (0..31): low 4 bits as Q4, bit 4 of level j into bit j of
 * the little-endian 32-bit qh (written bytewise: endian-independent). */
static void pack_q5(const uint8_t *q, uint8_t *qs, uint8_t *qh)
{
    memset(qh, 0, 4);
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
    for (int j = 0; j < 32; j++)
        qh[j / 8] |= (uint8_t)(((q[j] >> 4) & 1) << (j % 8));
}

/* Level j of a Q5 block: nibble plus fifth bit. */
static inline int q5_level(const uint8_t *qs, const uint8_t *qh, int j)
{
    int lo = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
    return lo | (((qh[j / 8] >> (j % 8)) & 1) << 4);
}

/* Value of largest magnitude, sign kept (first one on ties, as ggml). */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void minmax(const float *x, int n, float *mn, float *mx)
{
    float lo = INFINITY, hi = -INFINITY; /* ggml: FLT_MAX / -FLT_MAX, same result */
    for (int j = 0; j < n; j++) {
        if (x[j] < lo)
            lo = x[j];
        if (x[j] > hi)
            hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* ======================================================================== */
/* importance-weighted variants (Q4_0, Q4_1, Q5_0, Q5_1 with an imatrix)    */
/* ======================================================================== */
/*
 * Objective: minimise sum_j w_j (x_j - xhat_j)^2 over the block, w_j the
 * imatrix entry of column j. llama.cpp's imatrix holds the mean squared
 * activation of each column, so for activations a that are uncorrelated
 * across columns this sum is the expected squared error of the dot product
 * a . x that the weight row feeds: exactly what quantization should keep
 * small. (llama.cpp itself multiplies by sqrt(sigma^2 + x^2) as well; we
 * keep the plain objective so that the imatrix means one thing.)
 *
 * Search, per 32-weight block:
 *  1. the continuous fit (qp_fit_symmetric / qp_fit_affine, kquants.c):
 *     a grid of candidate scales, each with its levels rounded and the
 *     scale (and offset) re-solved by weighted least squares;
 *  2. the fp16 rounding of that scale and its neighbours (+-2 ulps) are
 *     scored exactly (levels re-rounded for each); for Q4_1/Q5_1 the offset
 *     m is re-solved for each candidate d, then rounded to fp16;
 *  3. a final least-squares refit from the best levels, kept if better.
 * Every candidate's score is the true weighted error of what dequantization
 * will produce, so the result is never worse than the best candidate.
 */

#define LEG_QK 32

/* Weighted error of x ~= dn*L, L = round(x/dn) clamped to [-nlo, nhi]. */
static float eval_sym(const float *x, const float *w, float dn, int nlo, int nhi, int8_t *L)
{
    float err = 0.0f;
    float inv = dn != 0.0f ? 1.0f / dn : 0.0f;
    for (int j = 0; j < LEG_QK; j++) {
        int l = dn != 0.0f ? qp_nearest_int(qp_clampf(x[j] * inv, (float)-nlo, (float)nhi)) : 0;
        float diff = (float)l * dn - x[j];
        L[j] = (int8_t)l;
        err += w[j] * diff * diff;
    }
    return err;
}

/* fp16 bits one step further from (s > 0) or nearer to zero, same sign;
 * stays within the finite non-zero range. */
static uint16_t fp16_step(uint16_t h, int s)
{
    int mag = (h & 0x7fff) + s;
    if (mag < 1)
        mag = 1;
    if (mag > 0x7bff)
        mag = 0x7bff;
    return (uint16_t)((h & 0x8000) | mag);
}

/* Weighted symmetric block: returns fp16 d, levels L in [-nlo, nhi]. */
static uint16_t weighted_sym_block(const float *x, const float *imatrix, int nlo, int nhi, int8_t *L)
{
    float xn[LEG_QK], wn[LEG_QK], amax; /* normalised block and weights */
    int k = qp_normalize_block(x, imatrix, LEG_QK, xn, wn, &amax);
    memset(L, 0, LEG_QK);
    if (amax == 0.0f)
        return 0;
    float a;
    qp_fit_symmetric(xn, wn, LEG_QK, nlo, nhi, &a);

    int8_t Lc[LEG_QK];
    uint16_t best_h = 0;
    float best = INFINITY;
    uint16_t h0 = qp_fp16_scaled_nz(a, k);
    for (int s = -2; s <= 2; s++) {
        uint16_t h = (h0 & 0x7fff) ? fp16_step(h0, s) : h0;
        float err = eval_sym(xn, wn, ldexpf(qp_fp16_to_fp32(h), k), nlo, nhi, Lc);
        if (err < best) {
            best = err;
            best_h = h;
            memcpy(L, Lc, LEG_QK);
        }
    }
    /* least-squares scale for the chosen levels */
    double slx = 0, sll = 0;
    for (int j = 0; j < LEG_QK; j++) {
        slx += (double)wn[j] * xn[j] * L[j];
        sll += (double)wn[j] * L[j] * L[j];
    }
    if (sll > 0) {
        uint16_t h = qp_fp16_scaled_nz((float)(slx / sll), k);
        float err = eval_sym(xn, wn, ldexpf(qp_fp16_to_fp32(h), k), nlo, nhi, Lc);
        if (err < best) {
            best_h = h;
            memcpy(L, Lc, LEG_QK);
        }
    }
    return best_h;
}

/* Weighted error of x ~= dn*L + mn, L = round((x - mn)/dn) in [0, qmax]. */
static float eval_aff(const float *x, const float *w, float dn, float mn, int qmax, uint8_t *L)
{
    float err = 0.0f;
    float inv = dn != 0.0f ? 1.0f / dn : 0.0f;
    for (int j = 0; j < LEG_QK; j++) {
        int l = dn != 0.0f ? qp_nearest_int(qp_clampf((x[j] - mn) * inv, 0.0f, (float)qmax)) : 0;
        float diff = (float)l * dn + mn - x[j];
        L[j] = (uint8_t)l;
        err += w[j] * diff * diff;
    }
    return err;
}

/* Weighted affine block: fp16 d and m, levels L in [0, qmax]. */
static void weighted_aff_block(const float *x, const float *imatrix, int qmax, uint16_t *d_out,
                               uint16_t *m_out, uint8_t *L)
{
    float xn[LEG_QK], wn[LEG_QK], amax; /* normalised block and weights */
    int k = qp_normalize_block(x, imatrix, LEG_QK, xn, wn, &amax);
    memset(L, 0, LEG_QK);
    *d_out = *m_out = 0;
    if (amax == 0.0f)
        return;
    float a, b;
    qp_fit_affine(xn, wn, LEG_QK, qmax, false, &a, &b);

    double sw = 0;
    for (int j = 0; j < LEG_QK; j++)
        sw += wn[j];

    uint8_t Lc[LEG_QK];
    float best = INFINITY;
    uint16_t hd0 = qp_fp16_scaled_nz(a, k);
    for (int s = -2; s <= 2; s++) {
        uint16_t hd = (hd0 & 0x7fff) ? fp16_step(hd0, s) : hd0;
        float dn = ldexpf(qp_fp16_to_fp32(hd), k);
        /* offset: start from the fit's, then re-solve it for this d's levels */
        uint16_t hm = qp_fp16_scaled(b, k);
        for (int it = 0; it < 2; it++) {
            float mn = ldexpf(qp_fp16_to_fp32(hm), k);
            float err = eval_aff(xn, wn, dn, mn, qmax, Lc);
            if (err < best) {
                best = err;
                *d_out = hd;
                *m_out = hm;
                memcpy(L, Lc, LEG_QK);
            }
            if (sw <= 0)
                break;
            double r = 0;
            for (int j = 0; j < LEG_QK; j++)
                r += (double)wn[j] * (xn[j] - dn * Lc[j]);
            hm = qp_fp16_scaled((float)(r / sw), k);
        }
    }
    /* joint least-squares refit of (d, m) for the chosen levels */
    double sl = 0, sll = 0, sx = 0, slx = 0;
    for (int j = 0; j < LEG_QK; j++) {
        sl += (double)wn[j] * L[j];
        sll += (double)wn[j] * L[j] * L[j];
        sx += (double)wn[j] * xn[j];
        slx += (double)wn[j] * L[j] * xn[j];
    }
    double det = sw * sll - sl * sl;
    if (det > 0) {
        uint16_t hd = qp_fp16_scaled_nz((float)((sw * slx - sl * sx) / det), k);
        uint16_t hm = qp_fp16_scaled((float)((sll * sx - sl * slx) / det), k);
        float err = eval_aff(xn, wn, ldexpf(qp_fp16_to_fp32(hd), k), ldexpf(qp_fp16_to_fp32(hm), k),
                             qmax, Lc);
        if (err < best) {
            *d_out = hd;
            *m_out = hm;
            memcpy(L, Lc, LEG_QK);
        }
    }
}

/* ======================================================================== */
/* Q4_0: x = d * (q - 8)                                                     */
/* ======================================================================== */

void qp_quantize_q4_0(const float *x, void *vy, int64_t n, const float *imatrix)
{
    block_q4_0 *y = vy;
    uint8_t q[QK4_0]; /* levels 0..15 of one block */
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        if (imatrix) {
            int8_t L[QK4_0];
            y[i].d = weighted_sym_block(x, imatrix + i * QK4_0, 8, 7, L);
            for (int j = 0; j < QK4_0; j++)
                q[j] = (uint8_t)(L[j] + 8);
        } else {
            /* ggml: the extreme value maps to level -8 exactly (d = max/-8),
             * using the extra negative level; others truncate x/d + 8.5 */
            const float d = signed_absmax(x, QK4_0) / -8.0f;
            const float id = legacy_store_scale(d, &y[i].d);
            for (int j = 0; j < QK4_0; j++)
                q[j] = (uint8_t)legacy_trunc(x[j] * id + 8.5f, 15);
        }
        pack_nibbles(q, y[i].qs);
    }
}

void qp_dequantize_q4_0(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 15) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ======================================================================== */
/* Q4_1: x = d * q + m                                                       */
/* ======================================================================== */

void qp_quantize_q4_1(const float *x, void *vy, int64_t n, const float *imatrix)
{
    block_q4_1 *y = vy;
    uint8_t q[QK4_1];
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        if (imatrix) {
            weighted_aff_block(x, imatrix + i * QK4_1, 15, &y[i].d, &y[i].m, q);
        } else {
            /* ggml: min and max map to levels 0 and 15 */
            float mn, mx;
            minmax(x, QK4_1, &mn, &mx);
            y[i].m = legacy_store_min(&mn);
            const float d = (mx - mn) / 15.0f;
            const float id = legacy_store_scale(d, &y[i].d);
            for (int j = 0; j < QK4_1; j++)
                q[j] = (uint8_t)legacy_trunc((x[j] - mn) * id + 0.5f, 15);
        }
        pack_nibbles(q, y[i].qs);
    }
}

void qp_dequantize_q4_1(const void *vx, float *y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = qp_fp16_to_fp32(x[i].d);
        const float m = qp_fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 15) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* ======================================================================== */
/* Q5_0: x = d * (q - 16)                                                    */
/* ======================================================================== */

void qp_quantize_q5_0(const float *x, void *vy, int64_t n, const float *imatrix)
{
    block_q5_0 *y = vy;
    uint8_t q[QK5_0];
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        if (imatrix) {
            int8_t L[QK5_0];
            y[i].d = weighted_sym_block(x, imatrix + i * QK5_0, 16, 15, L);
            for (int j = 0; j < QK5_0; j++)
                q[j] = (uint8_t)(L[j] + 16);
        } else {
            const float d = signed_absmax(x, QK5_0) / -16.0f;
            const float id = legacy_store_scale(d, &y[i].d);
            for (int j = 0; j < QK5_0; j++)
                q[j] = (uint8_t)legacy_trunc(x[j] * id + 16.5f, 31);
        }
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void qp_dequantize_q5_0(const void *vx, float *y, int64_t n)
{
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK5_0; j++)
            y[j] = (float)(q5_level(x[i].qs, x[i].qh, j) - 16) * d;
    }
}

/* ======================================================================== */
/* Q5_1: x = d * q + m                                                       */
/* ======================================================================== */

void qp_quantize_q5_1(const float *x, void *vy, int64_t n, const float *imatrix)
{
    block_q5_1 *y = vy;
    uint8_t q[QK5_1];
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        if (imatrix) {
            weighted_aff_block(x, imatrix + i * QK5_1, 31, &y[i].d, &y[i].m, q);
        } else {
            float mn, mx;
            minmax(x, QK5_1, &mn, &mx);
            y[i].m = legacy_store_min(&mn);
            const float d = (mx - mn) / 31.0f;
            const float id = legacy_store_scale(d, &y[i].d);
            /* ggml has no MIN(31, .) here; (x - min)/d <= 31 makes it moot */
            for (int j = 0; j < QK5_1; j++)
                q[j] = (uint8_t)legacy_trunc((x[j] - mn) * id + 0.5f, 31);
        }
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void qp_dequantize_q5_1(const void *vx, float *y, int64_t n)
{
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = qp_fp16_to_fp32(x[i].d);
        const float m = qp_fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK5_1; j++)
            y[j] = (float)q5_level(x[i].qs, x[i].qh, j) * d + m;
    }
}

/* ======================================================================== */
/* Q8_0 and Q8_1: x = d * q, q in -127..127                                  */
/* ======================================================================== */

/* ggml: d = amax/127, q = roundf(x/d) (half away from zero). Used for
 * weights (Q8_0 files) and by kernels/ for activations. */
void qp_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) /* ggml's MAX(): NaN never wins */
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float id = legacy_store_scale(amax / 127.0f, &y[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)qp_roundf_away(qp_clampf(x[j] * id, -127.0f, 127.0f));
    }
}

/* As Q8_0, plus s = d * sum(q) in fp16 for the Q4_1/Q5_1 dot products. */
void qp_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float d = amax / 127.0f;
        qp_half dh;
        const float id = legacy_store_scale(d, &dh);
        y[i].d = dh;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)qp_roundf_away(qp_clampf(x[j] * id, -127.0f, 127.0f));
            sum += y[i].qs[j];
        }
        /* ggml multiplies by the unrounded d */
        y[i].s = qp_fp16_sat((float)sum * d);
    }
}

void qp_quantize_q8_0(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix; /* 8 bits leave little for a search to gain */
    qp_quantize_row_q8_0(x, y, n);
}

void qp_dequantize_q8_0(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void qp_quantize_q8_1(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix;
    qp_quantize_row_q8_1(x, y, n);
}

void qp_dequantize_q8_1(const void *vx, float *y, int64_t n)
{
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}
