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
