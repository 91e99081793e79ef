/* kernels/arm/neon.c - the ARMv8.2 dotprod kernels of the "neon" variant.
 *
 * This is the only file of the variant compiled with
 * -march=armv8.2-a+dotprod+fp16 (Makefile), so the only one whose code may
 * contain SDOT (and any other ARMv8.2 instruction the compiler picks).
 * It holds kernels only: the variant's table, its CPU probe, the kernels
 * that need nothing beyond ARMv8.0 (F16/BF16/F32 dots, the activation
 * quantizers) and the SMULL/SADALP fallback live in neon_base.c, compiled
 * for plain ARMv8-A, which calls into this file only when the CPU reports
 * dotprod (and FP16 and LSE atomics, which the flags above also allow the
 * compiler to use). See neon_impl.h for the scheme.
 *
 * The kernels are the *_sdot instance of neon_kernels.h: SDOT Vd.4S,
 * Vn.16B, Vm.16B adds to each int32 lane the dot of four int8 pairs, 16
 * products per instruction (Arm ARM, "SDOT (vector)").
 */
#include <arm_neon.h>

#include "neon_impl.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/arm/neon.c needs -march=armv8.2-a+dotprod (see the Makefile)"
#endif

#define QP_NEON_DOT16(acc, a, b) vdotq_s32((acc), (a), (b))
#define QP_NEON_FN(name) name##_sdot
#define QP_NEON_API
#define QP_NEON_K_TILE_N QP_NEON_K_TILE_N_SDOT
#include "neon_kernels.h"

/* ======================================================================== */
/* Packed layouts (kernels/pack.c): 8 rows interleaved 4 bytes at a time    */
/* ======================================================================== */
/* A 16-byte load of a packed register holds 4 weights of 4 rows, and SDOT
 * against the 4 matching activations broadcast to every lane leaves row i's
 * partial dot in lane i: no reduction at all, and the 8 rows' fp16 scales
 * apply with two FMAs per block. Bounds as the row kernels' (per lane 32
 * products of |w| <= 127 (Q8_0) or 8 (Q4_0) with |x| <= 127: exact in int32
 * and in the float conversion). */

static inline int8x16_t neon_bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

/* 8 fp16 scales -> two float32x4 (rows 0-3, 4-7). */
static inline void neon_scales8(const qp_half *d, float32x4_t *lo, float32x4_t *hi)
{
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(d));
    *lo = vcvt_f32_f16(vget_low_f16(h));
    *hi = vcvt_f32_f16(vget_high_f16(h));
}

/* One group x RN activation rows. Q4_0 (is_q4) subtracts 8 from each
 * nibble before SDOT, as the row kernel does. */
QP_NEON_INLINE void neon_x8_rc(int RN, int is_q4, int64_t k, const void *gv, const char *xq, size_t xs,
                               float *y, size_t ldy)
{
    const size_t gb = is_q4 ? sizeof(block_q4_0x8) : sizeof(block_q8_0x8);
    const int units = is_q4 ? 4 : 8; /* 32-byte registers per block */
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc[4][2];
    for (int c = 0; c < RN; c++)
        acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / QK8_0; b++) {
        const uint8_t *o = (const uint8_t *)gv + (size_t)b * gb;
        const uint8_t *qs = o + 16; /* after d[8] in both layouts */
        qp_neon_prefetch(o, is_q4 ? 3 * 64 : 5 * 64);
        int32x4_t s[4][2];
        for (int c = 0; c < RN; c++)
            s[c][0] = s[c][1] = vdupq_n_s32(0);
        for (int j = 0; j < units; j++) {
            const uint8x16_t q0 = vld1q_u8(qs + 32 * j), q1 = vld1q_u8(qs + 32 * j + 16);
            if (is_q4) {
                const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q0, m4)), eight);
                const int8x16_t l1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q1, m4)), eight);
                const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), eight);
                const int8x16_t h1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), eight);
                for (int c = 0; c < RN; c++) {
                    const int8_t *x8 = ((const block_q8_0 *)(xq + (size_t)c * xs) + b)->qs + 4 * j;
                    const int8x16_t xl = neon_bcast4(x8), xh = neon_bcast4(x8 + 16);
                    s[c][0] = vdotq_s32(vdotq_s32(s[c][0], l0, xl), h0, xh);
                    s[c][1] = vdotq_s32(vdotq_s32(s[c][1], l1, xl), h1, xh);
                }
            } else {
                for (int c = 0; c < RN; c++) {
                    const int8x16_t x4 = neon_bcast4(((const block_q8_0 *)(xq + (size_t)c * xs) + b)->qs + 4 * j);
                    s[c][0] = vdotq_s32(s[c][0], vreinterpretq_s8_u8(q0), x4);
                    s[c][1] = vdotq_s32(s[c][1], vreinterpretq_s8_u8(q1), x4);
                }
            }
        }
        float32x4_t d0, d1;
        neon_scales8((const qp_half *)o, &d0, &d1);
        for (int c = 0; c < RN; c++) {
            const float xd = qp_neon_h2f(((const block_q8_0 *)(xq + (size_t)c * xs) + b)->d);
            acc[c][0] = vfmaq_f32(acc[c][0], vcvtq_f32_s32(s[c][0]), vmulq_n_f32(d0, xd));
            acc[c][1] = vfmaq_f32(acc[c][1], vcvtq_f32_s32(s[c][1]), vmulq_n_f32(d1, xd));
        }
    }
    for (int c = 0; c < RN; c++) {
        vst1q_f32(y + (size_t)c * ldy, acc[c][0]);
        vst1q_f32(y + (size_t)c * ldy + 4, acc[c][1]);
    }
}

#define QP_NEON_PTILE(NAME, IS_Q4)                                                                     \
    void NAME(int64_t k, const void *g, const void *xq, size_t xs, float *y, size_t ldy, int nc)         \
    {                                                                                                  \
        switch (nc) {                                                                                  \
        case 1: neon_x8_rc(1, IS_Q4, k, g, xq, xs, y, ldy); break;                                     \
        case 2: neon_x8_rc(2, IS_Q4, k, g, xq, xs, y, ldy); break;                                     \
        case 3: neon_x8_rc(3, IS_Q4, k, g, xq, xs, y, ldy); break;                                     \
        default: neon_x8_rc(QP_NEON_PTILE_N, IS_Q4, k, g, xq, xs, y, ldy); break;                      \
        }                                                                                              \
    }
QP_NEON_PTILE(qp_neon_ptile_q8_0_sdot, 0)
QP_NEON_PTILE(qp_neon_ptile_q4_0_sdot, 1)
