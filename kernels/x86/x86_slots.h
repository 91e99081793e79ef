/* kernels/x86/x86_slots.h - private to kernels/x86/: what each x86 kernel
 * file hands to x86_tables.c. No intrinsics here: x86_tables.c is compiled
 * without SIMD flags and includes this.
 */
#ifndef QP_KERNELS_X86_SLOTS_H
#define QP_KERNELS_X86_SLOTS_H

#include "../kernels_impl.h"

/* The slots one x86 kernel file provides, as constant data: entries with a
 * NULL vec_dot keep their vec_dot and tiles, a NULL tile keeps the previous
 * tile, and a packed layout (with its ptile) applies on its own, so a file
 * can add one to another file's vec_dot.
 * x86_tables.c applies them; a function inside avx2.c (compiled with
 * -mavx2) could contain AVX instructions anywhere, and the tables are built
 * on every CPU, so no code of the SIMD files runs until dispatch picks one. */
struct qp_x86_slots {
    struct qp_weight_kernels w[QP_TYPE_COUNT];
    qp_quantize_act_fn quantize_act[QP_TYPE_COUNT];
    qp_dequant_fn dequant[QP_TYPE_COUNT];
};
extern const struct qp_x86_slots qp_avx2_slots;   /* avx2.c */
extern const struct qp_x86_slots qp_avx512_slots; /* avx512.c */

/* fp16 -> fp32 of every half (x86_tables.c fills it when the tables are
 * built), read by the kernels for block scales: see fp16() in x86_common.h. */
extern float qp_x86_fp16_lut[1 << 16];

#endif
