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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../kernels_impl.h"

/* Always inlined: the tile templates below take their shape (RM, RN) and
 * weight format as constant arguments, and only inlining makes them
 * constants, so that the per-row and per-column arrays live in registers
 * and every branch on the format folds away. */
#define QP_NEON_INLINE static inline __attribute__((always_inline))

/* ---- software prefetch for the vec_dots ------------------------------- */
/* A vec_dot is matvec's kernel: the weights stream from DRAM and each byte
 * is used once, so every vec_dot asks for the bytes it will read
 * QP_NEON_PREFETCH_AHEAD further on, as it goes (PRFM PLDL1KEEP; a
 * prefetch never faults, so running past the end of the matrix is
 * harmless). The distance is x86's (x86_common.h: 2 KiB ahead took one Zen
 * 1 core's Q8_0 matvec from 7.6-8.7 to 10.0-10.4 GB/s; 1 KiB was worse,
 * 4 KiB no better), about one DRAM latency of work at those rates. It has
 * NOT been measured on an ARM core (none was available): the hardware
 * prefetchers of Cortex-A7x/Neoverse may make it redundant, never wrong.
 * One prefetch per 64 bytes, the line size of Cortex-A53/A7x and Neoverse
 * (Apple M's 128-byte lines get every line asked for twice, harmless).
 * The register tiles (matmul) are compute-bound and do not prefetch. */
#ifndef QP_NEON_PREFETCH_AHEAD
#define QP_NEON_PREFETCH_AHEAD 2048
#endif
/* Prefetches the lines of [p, p + bytes) shifted by the distance; bytes is
 * a constant at every call, so the loop unrolls to 1-4 PRFMs. */
QP_NEON_INLINE void qp_neon_prefetch(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch((const char *)p + QP_NEON_PREFETCH_AHEAD + o, 0, 3);
}

/* ---- register tile shapes ----------------------------------------------- */
/* F(PRE..., RM, RN, ARGS...) with constant RM = mr (1..4), RN = nc (1..4):
 * the switch that instantiates a tile template for every shape the matmul
 * driver may ask for (kernels_impl.h: any 1 <= mr <= tile_m, 1 <= nc <=
 * tile_n), as x86_common.h's QP_X86_TILE_SWITCH. PRE and ARGS are
 * parenthesised argument lists. */
#define QP_NEON_UNPAREN(...) __VA_ARGS__
#define QP_NEON_TILE_CASE_N(F, PRE, RM, nc, ARGS)                                          \
    do {                                                                                   \
        switch (nc) {                                                                      \
        case 1: F(QP_NEON_UNPAREN PRE, RM, 1, QP_NEON_UNPAREN ARGS); break;                \
        case 2: F(QP_NEON_UNPAREN PRE, RM, 2, QP_NEON_UNPAREN ARGS); break;                \
        case 3: F(QP_NEON_UNPAREN PRE, RM, 3, QP_NEON_UNPAREN ARGS); break;                \
        default: F(QP_NEON_UNPAREN PRE, RM, 4, QP_NEON_UNPAREN ARGS); break;               \
        }                                                                                  \
    } while (0)
#define QP_NEON_TILE_SWITCH_4X4(F, PRE, mr, nc, ARGS)                                      \
    do {                                                                                   \
        switch (mr) {                                                                      \
        case 1: QP_NEON_TILE_CASE_N(F, PRE, 1, nc, ARGS); break;                           \
        case 2: QP_NEON_TILE_CASE_N(F, PRE, 2, nc, ARGS); break;                           \
        case 3: QP_NEON_TILE_CASE_N(F, PRE, 3, nc, ARGS); break;                           \
        default: QP_NEON_TILE_CASE_N(F, PRE, 4, nc, ARGS); break;                          \
        }                                                                                  \
    } while (0)

/* tile_n of the K-quant tiles (tile_m is 1), per path. With SDOT the 1 x 4
 * tile keeps ~23 registers live. With SMULL+SADALP each 16-product step
 * needs two int16x8 temporaries and GCC 12 interleaves the columns' chains:
 * at 1 x 4 its Q5_K super-block loop holds 134 stack accesses among 773
 * instructions (aarch64-linux-gnu-gcc -O2 -S), at 1 x 2 8 among 375.
 * Executed instructions per output and super-block (qemu-aarch64 -cpu
 * cortex-a53 -singlestep -d exec, k = 4096), 1 x 2 vs 1 x 4: Q4_K 154 vs
 * 173, Q5_K 189 vs 198, Q6_K 197 vs 175 (vec_dot: 188, 245, 342). No shape
 * wins everywhere; 1 x 2 does the fewest memory accesses, so that path
 * takes it. Counted, not timed. */
#define QP_NEON_K_TILE_N_SDOT 4
#define QP_NEON_K_TILE_N_BASE 2

/* The weight formats of the legacy tile template (neon_kernels.h), passed
 * as a constant. */
enum qp_neon_legacy_fmt { QP_NEON_Q8_0, QP_NEON_Q4_0, QP_NEON_Q5_0, QP_NEON_Q4_1, QP_NEON_Q5_1 };

/* Bytes of one block of a legacy format (quant/quant.h). */
QP_NEON_INLINE size_t qp_neon_legacy_bytes(int fmt)
{
    switch (fmt) {
    case QP_NEON_Q8_0: return sizeof(block_q8_0);
    case QP_NEON_Q4_0: return sizeof(block_q4_0);
    case QP_NEON_Q5_0: return sizeof(block_q5_0);
    case QP_NEON_Q4_1: return sizeof(block_q4_1);
    default: return sizeof(block_q5_1);
    }
}

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
#define QP_NEON_SDOT_DECLARE(T)                                                            \
    float qp_neon_dot_##T##_sdot(int64_t k, const void *w, const void *xq);                \
    /* its tile (see qp_tile_fn in kernels_impl.h) */                                      \
    void qp_neon_tile_##T##_sdot(int64_t k, const void *w, size_t ws, const void *xq,      \
                                 size_t xs, float *y, size_t ldy, int mr, int nc);
QP_NEON_SDOT_DECLARE(q8_0)
QP_NEON_SDOT_DECLARE(q4_0)
QP_NEON_SDOT_DECLARE(q5_0)
QP_NEON_SDOT_DECLARE(q4_1)
QP_NEON_SDOT_DECLARE(q5_1)
QP_NEON_SDOT_DECLARE(q2_K)
QP_NEON_SDOT_DECLARE(q3_K)
QP_NEON_SDOT_DECLARE(q4_K)
QP_NEON_SDOT_DECLARE(q5_K)
QP_NEON_SDOT_DECLARE(q6_K)
#undef QP_NEON_SDOT_DECLARE

/* Packed tiles (qp_ptile_fn, kernels_impl.h) of the Q8_0 x8 and Q4_0 x8
 * layouts (kernels/pack.c), dotprod only: SDOT's lane i is the dot of bytes
 * 4i..4i+3, which in these layouts is row i of a group. */
#define QP_NEON_PTILE_N 4
void qp_neon_ptile_q8_0_sdot(int64_t k, const void *g, const void *xq, size_t xs, float *y, size_t ldy,
                             int nc);
void qp_neon_ptile_q4_0_sdot(int64_t k, const void *g, const void *xq, size_t xs, float *y, size_t ldy,
                             int nc);

#endif
