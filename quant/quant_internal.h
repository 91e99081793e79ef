/* quant/quant_internal.h - private to quant/: the per-type row routines that
 * types.c dispatches to, and the helpers legacy.c and kquants.c share.
 *
 * Every routine here takes a row length n that the caller (qp_quantize_row /
 * qp_dequantize_row) has already checked to be a non-negative multiple of the
 * type's block size. `imatrix` is NULL or n per-column importances.
 */
#ifndef QP_QUANT_INTERNAL_H
#define QP_QUANT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "quant.h"

typedef void (*qp_quantize_fn)(const float *x, void *y, int64_t n, const float *imatrix);
typedef void (*qp_dequantize_fn)(const void *x, float *y, int64_t n);

/* ---- legacy.c: plain types and the 32-weight block formats ---- */
void qp_quantize_f32(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_f32(const void *x, float *y, int64_t n);
void qp_quantize_f16(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_f16(const void *x, float *y, int64_t n);
void qp_quantize_bf16(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_bf16(const void *x, float *y, int64_t n);
void qp_quantize_q4_0(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q4_0(const void *x, float *y, int64_t n);
void qp_quantize_q4_1(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q4_1(const void *x, float *y, int64_t n);
void qp_quantize_q5_0(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q5_0(const void *x, float *y, int64_t n);
void qp_quantize_q5_1(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q5_1(const void *x, float *y, int64_t n);
void qp_quantize_q8_0(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q8_0(const void *x, float *y, int64_t n);
void qp_quantize_q8_1(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q8_1(const void *x, float *y, int64_t n);

/* ---- kquants.c: 256-weight super-block formats ---- */
void qp_quantize_q2_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q2_K(const void *x, float *y, int64_t n);
void qp_quantize_q3_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q3_K(const void *x, float *y, int64_t n);
void qp_quantize_q4_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q4_K(const void *x, float *y, int64_t n);
void qp_quantize_q5_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q5_K(const void *x, float *y, int64_t n);
void qp_quantize_q6_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q6_K(const void *x, float *y, int64_t n);
void qp_quantize_q8_K(const float *x, void *y, int64_t n, const float *imatrix);
void qp_dequantize_q8_K(const void *x, float *y, int64_t n);

/* ---- kquants.c: the scale searches, also used by legacy.c's weighted
 * (imatrix) variants. See the banner "scale search" in kquants.c. ---- */

/* Scales one block of n weights by an exact power of two, 2^k, so that its
 * largest magnitude lies in [0.5, 1) (x' = x * 2^k; k is returned), and its
 * weights so that the largest is in [0.5, 1): the searches below then never
 * overflow or underflow whatever the input's magnitude. w may be NULL (all
 * weights 1). Sets *amax to the largest |x'| (0 for an all-zero block). */
int qp_normalize_block(const float *x, const float *w, int n, float *xn, float *wn,
                       float *amax);

/* Best x ~= a*L + b with integer L in [0, qmax] under weights w: minimises
 * sum w*(a*L + b - x)^2; b <= 0 when b_nonpos (K-quants store -dmin*m).
 * Returns that weighted squared error; a >= 0. */
float qp_fit_affine(const float *x, const float *w, int n, int qmax, bool b_nonpos,
                    float *a, float *b);

/* Best x ~= a*L with integer L in [-nlo, nhi]; a may be negative (which
 * mirrors the level range). Returns the weighted squared error. */
float qp_fit_symmetric(const float *x, const float *w, int n, int nlo, int nhi, float *a);

/* ---- shared small helpers ---- */

/* Round to nearest, ties to even, for |v| <= 2^22: adding 1.5*2^23 makes the
 * FPU's own round-to-nearest-even drop the fraction, and the integer sits in
 * the low mantissa bits. Matches ggml's nearest_int (same rule); callers
 * clamp v first, which also maps NaN to a bound (see qp_clampf). */
static inline int qp_nearest_int(float v)
{
    float t = v + 12582912.0f;
    uint32_t u = qp_f32_to_bits(t);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

/* The same rounding kept in float: (v + 1.5*2^23) - 1.5*2^23 is v rounded
 * to an integer, ties to even, for |v| <= 2^22. Stays in vector registers
 * (no float<->int conversion), so the search loops vectorize. */
static inline float qp_roundf_small(float v)
{
    return (v + 12582912.0f) - 12582912.0f;
}

/* roundf (halves away from zero) as an int, for |v| < 2^23, inline:
 * truncation is exact there, and so is v - t, so comparing the fraction with
 * 0.5 decides exactly as roundf does (unlike floor(v + 0.5), which rounds
 * 0.49999997 up). Q8 activations are quantized on every matmul, and a libm
 * call per value (x86-64 has no baseline round instruction) would cost more
 * than the rest of the quantizer; the comparisons become 0/1 integers, not
 * branches, whose 50% misprediction cost 5x here. Callers clamp v first. */
static inline int qp_roundf_away(float v)
{
    const int t = (int)v;
    const float f = v - (float)t;
    return t + (f >= 0.5f) - (f <= -0.5f);
}

/* Clamp that sends NaN to lo: `v > lo` is false for NaN. */
static inline float qp_clampf(float v, float lo, float hi)
{
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

/* fp32 -> fp16 bits, round to nearest even, but saturating: a finite value
 * beyond the fp16 range gives +-65504 instead of inf, so finite input never
 * yields an inf (or, after inf*0, NaN) scale. Identical to the IEEE
 * conversion for every value that fits. */
static inline uint16_t qp_fp16_sat(float f)
{
    uint16_t h = qp_fp32_to_fp16(f);
    if ((h & 0x7fffu) == 0x7c00u && isfinite(f))
        h = (uint16_t)((h & 0x8000u) | 0x7bffu);
    return h;
}

/* fp16 bits of vn * 2^-k: a value found on a block normalised by 2^k (see
 * qp_normalize_block) stored in real units, saturating even where the
 * unscaling itself overflows float. */
static inline uint16_t qp_fp16_scaled(float vn, int k)
{
    float r = ldexpf(vn, -k);
    if (isinf(r) && isfinite(vn))
        r = copysignf(65504.0f, r);
    return qp_fp16_sat(r);
}

/* As qp_fp16_scaled, but a non-zero value never becomes 0: it gets at least
 * the smallest subnormal (2^-24), same sign. For searched scales: a block
 * far below fp16's range still gets a usable unit, and the integer codes
 * (up to 63 or 127 of them) make up the rest. */
static inline uint16_t qp_fp16_scaled_nz(float vn, int k)
{
    uint16_t h = qp_fp16_scaled(vn, k);
    if ((h & 0x7fffu) == 0 && vn != 0.0f && !isnan(vn))
        h = (uint16_t)((vn < 0.0f ? 0x8000u : 0u) | 1u);
    return h;
}

#endif
