/* quant/fp16.h - IEEE binary16 and bfloat16 <-> float32, portable scalar.
 *
 * Round-to-nearest-even in both narrowing directions, as the F16C
 * instruction (_cvtss_sh with mode 0) and ggml do, so a quantized block's
 * fp16 scale has the same bits as llama.cpp's. Widening is exact.
 * SIMD kernels use F16C / NEON conversions instead; these are the reference.
 */
#ifndef QP_QUANT_FP16_H
#define QP_QUANT_FP16_H

#include <stdint.h>
#include <string.h>

static inline float qp_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t qp_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* binary16 -> float32, exact. Normal and subnormal halves are rescaled with
 * one float multiply/subtract (the exponent-bias trick of the FP16 library by
 * M. Dukhan), avoiding a branchy loop on the subnormal path. */
static inline float qp_fp16_to_fp32(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;

    /* normal/inf/nan: shift exponent+mantissa into place and fix the bias
     * (2^-112 = 0x7800000 exponent offset); inf/nan land above 2^127 */
    const uint32_t exp_offset = 0xE0u << 23;
    const float exp_scale = qp_bits_to_f32(0x7800000u); /* 2^-112 */
    const float normalized = qp_bits_to_f32((two_w >> 4) + exp_offset) * exp_scale;

    /* subnormal: put the mantissa under an exponent of 0.5 and subtract 0.5 */
    const uint32_t magic_mask = 126u << 23;
    const float magic_bias = 0.5f;
    const float denormalized = qp_bits_to_f32((two_w >> 17) | magic_mask) - magic_bias;

    const uint32_t denormalized_cutoff = 1u << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? qp_f32_to_bits(denormalized)
                                                                : qp_f32_to_bits(normalized));
    return qp_bits_to_f32(result);
}

/* float32 -> binary16, round to nearest even; overflow gives inf, NaN stays NaN. */
static inline uint16_t qp_fp32_to_fp16(float f)
{
    /* scale to the fp16 range so float rounding of the addition below does
     * the mantissa rounding (2^112 then 2^-110) */
    const float scale_to_inf = qp_bits_to_f32(0x77800000u);  /* 2^112 */
    const float scale_to_zero = qp_bits_to_f32(0x08800000u); /* 2^-110 */
    float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;

    const uint32_t w = qp_f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;

    base = qp_bits_to_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = qp_f32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

/* bfloat16 is the top half of a float32: widening is a shift. */
static inline float qp_bf16_to_fp32(uint16_t h) { return qp_bits_to_f32((uint32_t)h << 16); }

/* float32 -> bfloat16, round to nearest even; NaN is kept quiet (as ggml). */
static inline uint16_t qp_fp32_to_bf16(float f)
{
    uint32_t u = qp_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN */
        return (uint16_t)((u >> 16) | 64);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif
