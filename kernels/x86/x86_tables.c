/* kernels/x86/x86_tables.c - builds the "avx2" and "avx512" variant tables.
 *
 * This file is compiled WITHOUT SIMD flags (only avx2.o and avx512.o get
 * -m flags in the Makefile): dispatch.c builds every compiled-in table at
 * start-up, on every CPU, to list the variants by name, so the code that
 * fills a table must not contain an AVX instruction - a function inside
 * avx2.c could (GCC may use VEX moves or vectorise any loop there). The
 * SIMD files export their slots as constant data (struct qp_x86_slots),
 * applied here in BLIS order: scalar reference first, then AVX2 over it,
 * then AVX-512 over that.
 */
#include "x86_slots.h"

float qp_x86_fp16_lut[1 << 16]; /* fp16 -> fp32 of every half, for block scales */

static void apply(struct qp_kernels *t, const struct qp_x86_slots *s)
{
    for (int w = 0; w < QP_TYPE_COUNT; w++) {
        if (s->w[w].vec_dot) {
            t->w[w].vec_dot = s->w[w].vec_dot;
            t->w[w].accelerated = s->w[w].accelerated;
            if (s->w[w].tile) {
                t->w[w].tile = s->w[w].tile;
                t->w[w].tile_m = s->w[w].tile_m;
                t->w[w].tile_n = s->w[w].tile_n;
            }
        }
        if (s->w[w].packed) {
            t->w[w].packed = s->w[w].packed;
            t->w[w].ptile = s->w[w].ptile;
            t->w[w].ptile_n = s->w[w].ptile_n;
        }
    }
    for (int a = 0; a < QP_TYPE_COUNT; a++) {
        if (s->quantize_act[a])
            t->quantize_act[a] = s->quantize_act[a];
        if (s->dequant[a])
            t->dequant[a] = s->dequant[a];
    }
}

void qp_kernels_init_avx2(struct qp_kernels *t)
{
    /* the scale table the x86 kernels read (x86_common.h: fp16()); exact,
     * since widening fp16 is. Filled before any kernel can run: dispatch.c
     * builds the tables once, before handing any out. */
    for (uint32_t h = 0; h < (1u << 16); h++)
        qp_x86_fp16_lut[h] = qp_fp16_to_fp32((uint16_t)h);
    qp_kernels_fill_scalar(t);
    apply(t, &qp_avx2_slots);
    t->name = "avx2";
    t->describe = "AVX2+FMA+F16C";
    t->usable = qp_cpu_usable_avx2;
    t->rank = 10;
}

void qp_kernels_init_avx512(struct qp_kernels *t)
{
    qp_kernels_init_avx2(t);
    apply(t, &qp_avx512_slots);
    t->name = "avx512";
    t->describe = "AVX-512F/BW/VL/DQ+VNNI";
    t->usable = qp_cpu_usable_avx512;
    t->rank = 20;
}
