/* kernels/scalar.c - the portable reference kernels, the "scalar" variant.
 *
 * Every other variant is tested against these. They favour being obviously
 * right over being fast: each dot product follows the dequantization formula
 * of its format (quant/quant.h, ggml's ggml-quants.c) literally, computes
 * each block's integer sum exactly in int32, and accumulates the block terms
 * in double, so the result is the exact dot of the two dequantized rows up
 * to one final rounding to float (plus the fp16 rounding of the precomputed
 * activation sums of Q8_1, which the format itself stores).
 *
 * Activation pairing (kernels.h): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
 * Q4_1/Q5_1, Q8_K for the K-quants, F32 for F32/F16/BF16.
 *
 * No intrinsics here: this file is compiled without SIMD flags and must run
 * on any CPU (the compiler may still auto-vectorise with the baseline ISA).
 */
#include <string.h>

#include "kernels_impl.h"

/* ======================================================================== */
/* Legacy 32-weight formats                                                 */
/* ======================================================================== */

/* Q8_0 . Q8_0: x = d * q on both sides. */
static float dot_q8_0(int64_t k, const void *wv, const void *xv)
{
    const block_q8_0 *w = wv;
    const block_q8_0 *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; j++)
            isum += (int32_t)w[b].qs[j] * x[b].qs[j];
        sum += (double)qp_fp16_to_fp32(w[b].d) * qp_fp16_to_fp32(x[b].d) * isum;
    }
    return (float)sum;
}

/* Q4_0 . Q8_0: x = d * (q - 8); byte j holds weight j (low nibble) and
 * weight j + 16 (high nibble). */
static float dot_q4_0(int64_t k, const void *wv, const void *xv)
{
    const block_q4_0 *w = wv;
    const block_q8_0 *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK4_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + 16];
        }
        sum += (double)qp_fp16_to_fp32(w[b].d) * qp_fp16_to_fp32(x[b].d) * isum;
    }
    return (float)sum;
}

/* Q4_1 . Q8_1: x = d * q + m, so
 *     sum_j (dw q_j + m)(dx p_j) = dw dx sum q_j p_j + m (dx sum p_j)
 * and the last factor is the activation block's stored s (fp16). */
static float dot_q4_1(int64_t k, const void *wv, const void *xv)
{
    const block_q4_1 *w = wv;
    const block_q8_1 *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK4_1; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            isum += (w[b].qs[j] & 0xF) * x[b].qs[j];
            isum += (w[b].qs[j] >> 4) * x[b].qs[j + 16];
        }
        sum += (double)qp_fp16_to_fp32(w[b].d) * qp_fp16_to_fp32(x[b].d) * isum +
               (double)qp_fp16_to_fp32(w[b].m) * qp_fp16_to_fp32(x[b].s);
    }
    return (float)sum;
}

/* Bit 4 of the 5-bit weight j of a Q5 block is bit j of the 32-bit qh. */
static inline int q5_high_bit(const uint8_t qh[4], int j)
{
    return (qh[j / 8] >> (j % 8)) & 1;
}

/* Q5_0 . Q8_0: x = d * (q - 16), q = nibble | high bit << 4. */
static float dot_q5_0(int64_t k, const void *wv, const void *xv)
{
    const block_q5_0 *w = wv;
    const block_q8_0 *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK5_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int q0 = (w[b].qs[j] & 0xF) | (q5_high_bit(w[b].qh, j) << 4);
            const int q1 = (w[b].qs[j] >> 4) | (q5_high_bit(w[b].qh, j + 16) << 4);
            isum += (q0 - 16) * x[b].qs[j] + (q1 - 16) * x[b].qs[j + 16];
        }
        sum += (double)qp_fp16_to_fp32(w[b].d) * qp_fp16_to_fp32(x[b].d) * isum;
    }
    return (float)sum;
}

/* Q5_1 . Q8_1: x = d * q + m, as Q4_1 with 5-bit q. */
static float dot_q5_1(int64_t k, const void *wv, const void *xv)
{
    const block_q5_1 *w = wv;
    const block_q8_1 *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK5_1; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int q0 = (w[b].qs[j] & 0xF) | (q5_high_bit(w[b].qh, j) << 4);
            const int q1 = (w[b].qs[j] >> 4) | (q5_high_bit(w[b].qh, j + 16) << 4);
            isum += q0 * x[b].qs[j] + q1 * x[b].qs[j + 16];
        }
        sum += (double)qp_fp16_to_fp32(w[b].d) * qp_fp16_to_fp32(x[b].d) * isum +
               (double)qp_fp16_to_fp32(w[b].m) * qp_fp16_to_fp32(x[b].s);
    }
    return (float)sum;
}

/* ======================================================================== */
/* K-quants: 256-weight super-blocks, activations Q8_K                      */
/* ======================================================================== */
/* Where a format has mins (Q2_K, Q4_K, Q5_K: x = d sc q - dmin m), the min
 * term of a sub-block is dmin m times the sum of its activations, which Q8_K
 * carries as bsums (sums of 16 quants): one multiply per group, no pass over
 * the quants. */

/* Q2_K: weight 128 h + 32 j + l (h < 2, j < 4, l < 32) is bits 2j..2j+1 of
 * qs[32 h + l]; its scale/min byte is scales[w / 16] (4 bits each). */
static float dot_q2_K(int64_t k, const void *wv, const void *xv)
{
    const block_q2_K *w = wv;
    const block_q8_K *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, mins = 0;
        for (int g = 0; g < QK_K / 16; g++)
            mins += (w[b].scales[g] >> 4) * x[b].bsums[g];
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const int i = 128 * h + 32 * j + l;
                    const int q = (w[b].qs[32 * h + l] >> (2 * j)) & 3;
                    isum += (w[b].scales[i / 16] & 0xF) * q * x[b].qs[i];
                }
        sum += (double)x[b].d * ((double)qp_fp16_to_fp32(w[b].d) * isum -
                                 (double)qp_fp16_to_fp32(w[b].dmin) * mins);
    }
    return (float)sum;
}

/* Q3_K: weight i = 128 h + 32 j + l has low bits (qs[32 h + l] >> 2j) & 3 and
 * high bit hmask[l] bit (4 h + j); q = low - (high ? 0 : 4) in -4..3;
 * x = d * scale[i / 16] * q with the 6-bit signed scales. */
static float dot_q3_K(int64_t k, const void *wv, const void *xv)
{
    const block_q3_K *w = wv;
    const block_q8_K *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int8_t sc[16];
        qp_q3k_scales(w[b].scales, sc);
        int32_t isum = 0;
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const int i = 128 * h + 32 * j + l;
                    const int lo = (w[b].qs[32 * h + l] >> (2 * j)) & 3;
                    const int hi = (w[b].hmask[l] >> (4 * h + j)) & 1;
                    isum += sc[i / 16] * (lo - (hi ? 0 : 4)) * x[b].qs[i];
                }
        sum += (double)x[b].d * qp_fp16_to_fp32(w[b].d) * isum;
    }
    return (float)sum;
}

/* Q4_K: weight 64 c + l (l < 32) is the low nibble of qs[32 c + l] with
 * sub-block 2c; weight 64 c + 32 + l its high nibble with sub-block 2c + 1.
 * x = d * sc * q - dmin * m per 32-weight sub-block. */
static float dot_q4_K(int64_t k, const void *wv, const void *xv)
{
    const block_q4_K *w = wv;
    const block_q8_K *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, mins = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, mn;
            qp_q4k_scale_min(s, w[b].scales, &sc, &mn);
            const int c = s / 2, shift = 4 * (s % 2);
            int32_t sub = 0;
            for (int l = 0; l < 32; l++)
                sub += ((w[b].qs[32 * c + l] >> shift) & 0xF) * x[b].qs[32 * s + l];
            isum += sc * sub;
            mins += mn * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
        }
        sum += (double)x[b].d * ((double)qp_fp16_to_fp32(w[b].d) * isum -
                                 (double)qp_fp16_to_fp32(w[b].dmin) * mins);
    }
    return (float)sum;
}

/* Q5_K: Q4_K plus a fifth bit: bit s of qh[l] for weight 32 s + l. */
static float dot_q5_K(int64_t k, const void *wv, const void *xv)
{
    const block_q5_K *w = wv;
    const block_q8_K *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, mins = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, mn;
            qp_q4k_scale_min(s, w[b].scales, &sc, &mn);
            const int c = s / 2, shift = 4 * (s % 2);
            int32_t sub = 0;
            for (int l = 0; l < 32; l++) {
                const int q = ((w[b].qs[32 * c + l] >> shift) & 0xF) |
                              (((w[b].qh[l] >> s) & 1) << 4);
                sub += q * x[b].qs[32 * s + l];
            }
            isum += sc * sub;
            mins += mn * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
        }
        sum += (double)x[b].d * ((double)qp_fp16_to_fp32(w[b].d) * isum -
                                 (double)qp_fp16_to_fp32(w[b].dmin) * mins);
    }
    return (float)sum;
}

/* Q6_K: weight 128 h + 32 j + l (j < 4) has low 4 bits from ql[64 h + l]
 * (j = 0), ql[64 h + 32 + l] (j = 1), their high nibbles (j = 2, 3), and
 * top 2 bits (qh[32 h + l] >> 2j) & 3; x = d * scales[i / 16] * (q - 32). */
static float dot_q6_K(int64_t k, const void *wv, const void *xv)
{
    const block_q6_K *w = wv;
    const block_q8_K *x = xv;
    double sum = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const int i = 128 * h + 32 * j + l;
                    const uint8_t lbyte = w[b].ql[64 * h + 32 * (j % 2) + l];
                    const int lo = j < 2 ? (lbyte & 0xF) : (lbyte >> 4);
                    const int hi = (w[b].qh[32 * h + l] >> (2 * j)) & 3;
                    isum += w[b].scales[i / 16] * ((lo | (hi << 4)) - 32) * x[b].qs[i];
                }
        sum += (double)x[b].d * qp_fp16_to_fp32(w[b].d) * isum;
    }
    return (float)sum;
}

/* ======================================================================== */
/* Float weights, float activations                                         */
/* ======================================================================== */

static float dot_f32(int64_t k, const void *wv, const void *xv)
{
    const float *w = wv, *x = xv;
    double sum = 0;
    for (int64_t i = 0; i < k; i++)
        sum += (double)w[i] * x[i];
    return (float)sum;
}

static float dot_f16(int64_t k, const void *wv, const void *xv)
{
    const qp_half *w = wv;
    const float *x = xv;
    double sum = 0;
    for (int64_t i = 0; i < k; i++)
        sum += (double)qp_fp16_to_fp32(w[i]) * x[i];
    return (float)sum;
}

static float dot_bf16(int64_t k, const void *wv, const void *xv)
{
    const uint16_t *w = wv;
    const float *x = xv;
    double sum = 0;
    for (int64_t i = 0; i < k; i++)
        sum += (double)qp_bf16_to_fp32(w[i]) * x[i];
    return (float)sum;
}

/* ======================================================================== */
/* Activation quantizers: the reference ones of quant/                      */
/* ======================================================================== */

static void quantize_act_q8_0(const float *x, void *y, int64_t k) { qp_quantize_row_q8_0(x, y, k); }
static void quantize_act_q8_1(const float *x, void *y, int64_t k) { qp_quantize_row_q8_1(x, y, k); }
static void quantize_act_q8_K(const float *x, void *y, int64_t k) { qp_quantize_row_q8_K(x, y, k); }
static void quantize_act_f32(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof *x); }

/* ======================================================================== */
/* The generic tile and the table                                           */
/* ======================================================================== */

void qp_tile_generic(qp_vec_dot_fn dot, int64_t k, const void *w, size_t w_stride,
                     const void *xq, size_t x_stride, float *y, size_t ldy,
                     int mr, int nc)
{
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < mr; r++)
            y[(size_t)c * ldy + (size_t)r] =
                dot(k, (const char *)w + (size_t)r * w_stride, (const char *)xq + (size_t)c * x_stride);
}

/* One tile function per type: a tile slot takes no vec_dot argument, so the
 * generic loop is bound to each type's reference dot here. */
#define QP_SCALAR_TILE(T)                                                                  \
    static void tile_##T(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,   \
                         float *y, size_t ldy, int mr, int nc)                             \
    {                                                                                      \
        qp_tile_generic(dot_##T, k, w, ws, xq, xs, y, ldy, mr, nc);                        \
    }
QP_SCALAR_TILE(q8_0)
QP_SCALAR_TILE(q4_0)
QP_SCALAR_TILE(q4_1)
QP_SCALAR_TILE(q5_0)
QP_SCALAR_TILE(q5_1)
QP_SCALAR_TILE(q2_K)
QP_SCALAR_TILE(q3_K)
QP_SCALAR_TILE(q4_K)
QP_SCALAR_TILE(q5_K)
QP_SCALAR_TILE(q6_K)
QP_SCALAR_TILE(f32)
QP_SCALAR_TILE(f16)
QP_SCALAR_TILE(bf16)

static void set_slot(struct qp_kernels *t, enum qp_type w, qp_vec_dot_fn dot, qp_tile_fn tile)
{
    t->w[w].vec_dot = dot;
    t->w[w].tile = tile;
    t->w[w].tile_m = 1; /* the generic tile shares nothing between rows */
    t->w[w].tile_n = 1;
    t->w[w].accelerated = 0;
}

/* The reference dequantization of each type: quant/'s own. */
#define DEQUANT(T, name)                                                    \
    static void dequant_##name(const void *x, float *y, int64_t n)          \
    {                                                                        \
        qp_dequantize_row(T, x, y, n, NULL);                                 \
    }
DEQUANT(QP_TYPE_F32, f32)
DEQUANT(QP_TYPE_F16, f16)
DEQUANT(QP_TYPE_BF16, bf16)
DEQUANT(QP_TYPE_Q4_0, q4_0)
DEQUANT(QP_TYPE_Q4_1, q4_1)
DEQUANT(QP_TYPE_Q5_0, q5_0)
DEQUANT(QP_TYPE_Q5_1, q5_1)
DEQUANT(QP_TYPE_Q8_0, q8_0)
DEQUANT(QP_TYPE_Q2_K, q2_K)
DEQUANT(QP_TYPE_Q3_K, q3_K)
DEQUANT(QP_TYPE_Q4_K, q4_K)
DEQUANT(QP_TYPE_Q5_K, q5_K)
DEQUANT(QP_TYPE_Q6_K, q6_K)
#undef DEQUANT

static int usable_always(void) { return 1; }

void qp_kernels_fill_scalar(struct qp_kernels *t)
{
    memset(t, 0, sizeof *t);
    t->name = "scalar";
    t->describe = "portable C reference";
    t->usable = usable_always;
    t->rank = 0;

    set_slot(t, QP_TYPE_Q8_0, dot_q8_0, tile_q8_0);
    set_slot(t, QP_TYPE_Q4_0, dot_q4_0, tile_q4_0);
    set_slot(t, QP_TYPE_Q4_1, dot_q4_1, tile_q4_1);
    set_slot(t, QP_TYPE_Q5_0, dot_q5_0, tile_q5_0);
    set_slot(t, QP_TYPE_Q5_1, dot_q5_1, tile_q5_1);
    set_slot(t, QP_TYPE_Q2_K, dot_q2_K, tile_q2_K);
    set_slot(t, QP_TYPE_Q3_K, dot_q3_K, tile_q3_K);
    set_slot(t, QP_TYPE_Q4_K, dot_q4_K, tile_q4_K);
    set_slot(t, QP_TYPE_Q5_K, dot_q5_K, tile_q5_K);
    set_slot(t, QP_TYPE_Q6_K, dot_q6_K, tile_q6_K);
    set_slot(t, QP_TYPE_F32, dot_f32, tile_f32);
    set_slot(t, QP_TYPE_F16, dot_f16, tile_f16);
    set_slot(t, QP_TYPE_BF16, dot_bf16, tile_bf16);

    t->quantize_act[QP_TYPE_Q8_0] = quantize_act_q8_0;
    t->quantize_act[QP_TYPE_Q8_1] = quantize_act_q8_1;
    t->quantize_act[QP_TYPE_Q8_K] = quantize_act_q8_K;
    t->quantize_act[QP_TYPE_F32] = quantize_act_f32;

    t->dequant[QP_TYPE_F32] = dequant_f32;
    t->dequant[QP_TYPE_F16] = dequant_f16;
    t->dequant[QP_TYPE_BF16] = dequant_bf16;
    t->dequant[QP_TYPE_Q4_0] = dequant_q4_0;
    t->dequant[QP_TYPE_Q4_1] = dequant_q4_1;
    t->dequant[QP_TYPE_Q5_0] = dequant_q5_0;
    t->dequant[QP_TYPE_Q5_1] = dequant_q5_1;
    t->dequant[QP_TYPE_Q8_0] = dequant_q8_0;
    t->dequant[QP_TYPE_Q2_K] = dequant_q2_K;
    t->dequant[QP_TYPE_Q3_K] = dequant_q3_K;
    t->dequant[QP_TYPE_Q4_K] = dequant_q4_K;
    t->dequant[QP_TYPE_Q5_K] = dequant_q5_K;
    t->dequant[QP_TYPE_Q6_K] = dequant_q6_K;
}
