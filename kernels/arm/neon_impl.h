/* kernels/arm/neon_impl.h - private to kernels/arm/: what neon.c (compiled
 * with -march=armv8.2-a+dotprod+fp16) exports to neon_base.c (compiled for
 * plain ARMv8-A), and the helpers both share.
 *
 * The "neon" variant is ONE table whose integer kernels are chosen once, at
 * init, by the CPU's hwcaps:
 *   - with dotprod (ARMv8.2 SDOT, e.g. Cortex-A55/A76, Neoverse N1, Apple M):
 *     the *_sdot kernels of neon.c, 16 int8 products per instruction;
 *   - without (Cortex-A53/A72, Raspberry Pi 3/4): the *_base kernels of
 *     neon_base.c, SMULL (8 int8 products into int16) + SADALP (pairwise
 *     add into int32), about half the throughput.
 * Both are built from one source, neon_kernels.h, with the 16-product step
 * as a macro, so they cannot drift apart. Only the file compiled for the
 * newer ISA holds the newer instructions, and nothing in it runs unless the
 * probe said yes: a dotprod-less CPU never executes an instruction it lacks
 * (qemu-aarch64 -cpu cortex-a53 checks this: it raises SIGILL on SDOT).
 */
#ifndef QP_KERNELS_ARM_NEON_IMPL_H
#define QP_KERNELS_ARM_NEON_IMPL_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "../kernels_impl.h"

/* fp16 bits -> float with the FCVT instruction (baseline ARMv8-A, exact,
 * the same value as qp_fp16_to_fp32 for every non-NaN input). */
static inline float qp_neon_h2f(qp_half h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* ---- neon.c: the dotprod kernels (call only when the probe says so) ---- */
/* Each is the *_sdot instance of the same-named kernel of neon_kernels.h;
 * their scalar twins are the dot_<type> of scalar.c. */
float qp_neon_dot_q8_0_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q4_0_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q5_0_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q4_1_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q5_1_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q2_K_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q3_K_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q4_K_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q5_K_sdot(int64_t k, const void *w, const void *xq);
float qp_neon_dot_q6_K_sdot(int64_t k, const void *w, const void *xq);

/* Tiles of the same kernels (see qp_tile_fn in kernels_impl.h). */
void qp_neon_tile_q8_0_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q4_0_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q5_0_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q4_1_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q5_1_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q2_K_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q3_K_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q4_K_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q5_K_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);
void qp_neon_tile_q6_K_sdot(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,
                            float *y, size_t ldy, int mr, int nc);

#endif
