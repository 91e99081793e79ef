/* kernels/kernels_impl.h - private: the variant table, the thread pool's job
 * interface, and the contract every kernel file (scalar.c, x86/avx2.c,
 * x86/avx512.c, arm/neon.c + arm/neon_base.c) implements. Not installed;
 * only kernels/ and tests of kernels/ include it.
 *
 * A variant is one `struct qp_kernels`, filled once at start-up by its init
 * function (BLIS discipline, cf. bli_cntx_init_haswell.c):
 *
 *     void qp_kernels_init_avx2(struct qp_kernels *t)
 *     {
 *         qp_kernels_fill_scalar(t);           // every slot: the reference
 *         t->name = "avx2"; ...                // then identity
 *         t->w[QP_TYPE_Q4_K].vec_dot = ...;    // then the optimized slots,
 *         t->w[QP_TYPE_Q4_K].accelerated = 1;  // marked as such
 *     }
 *
 * so a slot is never NULL and a variant without code for a type silently
 * (but queryably: qp_kernels_accelerates) runs the scalar reference.
 *
 * The init function runs at start-up on EVERY CPU (dispatch.c builds all
 * compiled-in tables so that qp_kernels_all can list them), so it must live
 * in a file compiled WITHOUT the variant's -m flags: the compiler may put
 * AVX/dotprod instructions anywhere in a file compiled with them. x86 does
 * this with x86/x86_tables.c, which applies slot tables that avx2.c and
 * avx512.c export as constant data (x86/x86_slots.h).
 *
 * Writing a new variant (as arm/ did):
 *   1. define `void qp_kernels_init_<name>(struct qp_kernels *t)` as above
 *      (in a file without the SIMD flags, see the previous paragraph) and
 *      `int qp_cpu_usable_<name>(void)` (or reuse dispatch.c's probes);
 *   2. add one line to the variant list in dispatch.c;
 *   3. every function's header comment names its scalar twin in scalar.c,
 *      and must give the same result up to float summation order (integer
 *      block sums exact) - tests/test_kernels.c checks exactly that;
 *   4. quantize_act must give the same BYTES as the scalar quantizer (the
 *      test compares them), so activation rows can be shared across variants.
 */
#ifndef QP_KERNELS_IMPL_H
#define QP_KERNELS_IMPL_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* ---- kernel signatures ---------------------------------------------------- */

/* dot(weight row w, activation row xq) over k weights; k is a multiple of the
 * block size of the weight type (checked by the callers, not here). xq is a
 * row quantized by the quantize_act of the pairing activation type. */
typedef float (*qp_vec_dot_fn)(int64_t k, const void *w, const void *xq);

/* A register tile of the matrix product, the micro-kernel of the matmul
 * driver (BLIS/tinyBLAS style): for r < mr weight rows and c < nc activation
 * rows,
 *     y[c * ldy + r] = dot(w + r * w_stride, xq + c * x_stride)
 * with 1 <= mr <= tile_m and 1 <= nc <= tile_n of the slot. Strides are in
 * bytes for w and xq, in floats for y (ldy = m, the row length of Y). A tile
 * loads each weight block once for nc activation rows and each activation
 * block once for mr weight rows, which is what makes matmul compute-bound
 * rather than load-bound. Must equal vec_dot per element up to summation
 * order. The driver calls it only when there are >= 2 activation rows
 * (matvec goes to vec_dot), but it must accept any mr, nc in range. */
typedef void (*qp_tile_fn)(int64_t k, const void *w, size_t w_stride,
                           const void *xq, size_t x_stride,
                           float *y, size_t ldy, int mr, int nc);

/* Quantize x[k] into one activation row of the slot's activation type; k a
 * multiple of that type's block size. Blocks are independent, so a long row
 * may be quantized in block-aligned pieces (the driver does, in parallel). */
typedef void (*qp_quantize_act_fn)(const float *x, void *xq, int64_t k);

/* y[n] = the n values of row x of the slot's type, widened or dequantized;
 * n a multiple of the type's block size. Must give exactly the values of
 * quant/'s reference (qp_dequantize_row): a dequantized value is one float
 * product (or a conversion), which SIMD computes bit for bit alike. */
typedef void (*qp_dequant_fn)(const void *x, float *y, int64_t n);

/* A packed weight layout (pack.c): groups of `rows` plain rows interleaved.
 * Every layout is a permutation of the same kind, described as data: each
 * plain block is cut into fields (scale, min, scale words, weight bytes),
 * and a field of `count` units of `bytes` each, at `plain` in the plain
 * block, goes to `packed` + i * rows * bytes + r * bytes in the group's
 * block (unit i of row r): the units of one index sit side by side for the
 * `rows` rows. A packed block is `rows` plain blocks long. */
struct qp_pack_field {
    uint16_t plain, packed, bytes, count;
};
struct qp_pack_layout {
    const char *name;    /* "q4_K x8" */
    int rows;
    int type;            /* enum qp_type of the plain rows */
    int n_fields;
    struct qp_pack_field fields[5];
};
extern const struct qp_pack_layout qp_pack_q4_K_x8;
extern const struct qp_pack_layout qp_pack_q5_K_x8;
extern const struct qp_pack_layout qp_pack_q6_K_x8;
extern const struct qp_pack_layout qp_pack_q8_0_x8;
extern const struct qp_pack_layout qp_pack_q4_0_x8;
extern const struct qp_pack_layout qp_pack_q4_1_x8;
extern const struct qp_pack_layout qp_pack_q5_0_x8;
extern const struct qp_pack_layout qp_pack_q5_1_x8;

/* Q4_K x8: super-block b of 8 interleaved Q4_K rows (layout: pack.c). */
typedef struct {
    qp_half d[8], dmin[8];
    uint32_t scales[3][8];
    uint8_t qs[32][32];
} block_q4_Kx8;
static_assert(sizeof(block_q4_Kx8) == 8 * sizeof(block_q4_K), "block_q4_Kx8 size");

/* Q5_K x8: super-block b of 8 interleaved Q5_K rows (layout: pack.c). */
typedef struct {
    qp_half d[8], dmin[8];
    uint32_t scales[3][8];
    uint8_t qh[8][32];
    uint8_t qs[32][32];
} block_q5_Kx8;
static_assert(sizeof(block_q5_Kx8) == 8 * sizeof(block_q5_K), "block_q5_Kx8 size");

/* Q6_K x8: super-block b of 8 interleaved Q6_K rows (layout: pack.c). */
typedef struct {
    qp_half d[8];
    int8_t scales[4][32];
    uint8_t ql[32][32];
    uint8_t qh[16][32];
} block_q6_Kx8;
static_assert(sizeof(block_q6_Kx8) == 8 * sizeof(block_q6_K), "block_q6_Kx8 size");

/* Q8_0 x8: block b of 8 interleaved Q8_0 rows (layout: pack.c). */
typedef struct {
    qp_half d[8];
    int8_t qs[8][32];
} block_q8_0x8;
static_assert(sizeof(block_q8_0x8) == 8 * sizeof(block_q8_0), "block_q8_0x8 size");

/* Q4_0 x8: block b of 8 interleaved Q4_0 rows (layout: pack.c). */
typedef struct {
    qp_half d[8];
    uint8_t qs[4][32];
} block_q4_0x8;
static_assert(sizeof(block_q4_0x8) == 8 * sizeof(block_q4_0), "block_q4_0x8 size");

/* Q4_1 x8: block b of 8 interleaved Q4_1 rows (layout: pack.c). */
typedef struct {
    qp_half d[8], m[8];
    uint8_t qs[4][32];
} block_q4_1x8;
static_assert(sizeof(block_q4_1x8) == 8 * sizeof(block_q4_1), "block_q4_1x8 size");

/* Q5_0 x8: block b of 8 interleaved Q5_0 rows (layout: pack.c). */
typedef struct {
    qp_half d[8];
    uint8_t qh[8][4];
    uint8_t qs[4][32];
} block_q5_0x8;
static_assert(sizeof(block_q5_0x8) == 8 * sizeof(block_q5_0), "block_q5_0x8 size");

/* Q5_1 x8: block b of 8 interleaved Q5_1 rows (layout: pack.c). */
typedef struct {
    qp_half d[8], m[8];
    uint8_t qh[8][4];
    uint8_t qs[4][32];
} block_q5_1x8;
static_assert(sizeof(block_q5_1x8) == 8 * sizeof(block_q5_1), "block_q5_1x8 size");

/* The micro-kernel over one packed group g of R = layout rows rows: for
 * r < R and c < nc, y[c * ldy + r] = dot(row r of g, xq + c * x_stride),
 * with 1 <= nc <= ptile_n. Equal to vec_dot on the plain row up to
 * summation order. Used for every n, matvec included. */
typedef void (*qp_ptile_fn)(int64_t k, const void *g, const void *xq, size_t x_stride,
                            float *y, size_t ldy, int nc);

/* Per weight type. */
struct qp_weight_kernels {
    qp_vec_dot_fn vec_dot; /* never NULL once filled */
    qp_tile_fn tile;       /* never NULL: scalar's loops vec_dot */
    int tile_m;            /* max weight rows per tile call (>= 1) */
    int tile_n;            /* max activation rows per tile call (>= 1) */
    int accelerated;       /* 1 if vec_dot is this variant's own code */
    /* optional packed layout (NULL: the variant reads plain rows only) */
    const struct qp_pack_layout *packed;
    qp_ptile_fn ptile;     /* non-NULL iff packed */
    int ptile_n;           /* max activation rows per ptile call */
};

struct qp_kernels {
    const char *name;       /* "scalar", "avx2", ... (QPROF_KERNELS value) */
    const char *describe;   /* instruction sets, e.g. "AVX2+FMA+F16C" */
    int (*usable)(void);    /* CPU+OS can run it (cached by the probe) */
    int rank;               /* preference when several are usable: higher wins */
    /* indexed by weight type id; types without kernels keep vec_dot NULL
     * (qp_act_type(t) < 0 for exactly those) */
    struct qp_weight_kernels w[QP_TYPE_COUNT];
    /* indexed by ACTIVATION type id (Q8_0, Q8_1, Q8_K, F32) */
    qp_quantize_act_fn quantize_act[QP_TYPE_COUNT];
    /* indexed by type id: every type quant/ can dequantize */
    qp_dequant_fn dequant[QP_TYPE_COUNT];
};

/* ---- variant init functions (one per kernel file) ------------------------- */

/* scalar.c: fills every slot of every weight type that has kernels with the
 * portable reference, and the identity fields of the "scalar" variant. */
void qp_kernels_fill_scalar(struct qp_kernels *t);

#if defined(__x86_64__) || defined(_M_X64)
void qp_kernels_init_avx2(struct qp_kernels *t);   /* x86/x86_tables.c */
void qp_kernels_init_avx512(struct qp_kernels *t); /* x86/x86_tables.c */
#endif
#if defined(__aarch64__)
void qp_kernels_init_neon(struct qp_kernels *t);   /* arm/neon_base.c */
#endif

/* dispatch.c: the x86 CPU feature probes, each computed once; they are the
 * `usable` members of the x86 tables. The neon variant probes AT_HWCAP in
 * arm/neon_base.c, which also picks its dotprod or plain code path. */
int qp_cpu_usable_scalar(void);
int qp_cpu_usable_avx2(void);   /* AVX2+FMA+F16C, OS saves YMM (xgetbv) */
int qp_cpu_usable_avx512(void); /* + AVX512F/BW/VL/DQ/VNNI, OS saves ZMM */

/* ---- scalar reference kernels, callable from SIMD files ------------------- */
/* The SIMD files use these for tails or as building blocks; a generic tile
 * that loops vec_dot over the (mr x nc) output is the default tile of every
 * slot. */
void qp_tile_generic(qp_vec_dot_fn dot, int64_t k, const void *w, size_t w_stride,
                     const void *xq, size_t x_stride, float *y, size_t ldy,
                     int mr, int nc);

/* ---- type layout (dispatch.c) --------------------------------------------- */

/* Weights per block and bytes per block of a type that takes part in the
 * kernels (the 13 weight types and the activation types Q8_0, Q8_1, Q8_K,
 * F32); 0 for any other type. Kept here rather than taken from quant/'s
 * traits so that the kernels depend only on quant/quant.h. */
int qp_kernels_block(int t, int64_t *block_size, size_t *block_bytes);
/* Bytes of a row of k values of such a type; 0 if k is not a multiple of
 * the block size, negative, or the size overflows. */
size_t qp_kernels_row_bytes(int t, int64_t k);

/* ---- K-quant scale unpacking, shared by every variant --------------------- */

/* Q4_K/Q5_K: 8 sub-block scales and 8 mins, 6 bits each, in 12 bytes
 * (ggml's get_scale_min_k4): entries 0..3 are the low 6 bits of bytes 0..3
 * (scales) and 4..7 (mins); entries 4..7 take their low 4 bits from the
 * nibbles of bytes 8..11 and their top 2 bits from the spare top bits of
 * bytes 0..3 (scales) and 4..7 (mins). */
static inline void qp_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: 16 signed 6-bit scales in 12 bytes, stored +32. Scale i has its low
 * 4 bits in the low (i < 8) or high (i >= 8) nibble of byte i % 8, and its
 * top 2 bits in bits 2*(i/4)..+1 of byte 8 + i % 4. */
static inline void qp_q3k_scales(const uint8_t *q, int8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        const int lo = i < 8 ? (q[i] & 0xF) : (q[i - 8] >> 4);
        const int hi = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- thread pool (threadpool.c): the job interface of matmul.c ------------ */

/* A job runs on every thread of the pool at once: fn(arg, ith, nth) with
 * ith = 0..nth-1 (0 is the calling thread). */
typedef void (*qp_task_fn)(void *arg, int ith, int nth);

/* Takes the pool for one call (a pool runs one job at a time; concurrent
 * callers wait) and returns a 64-byte aligned work buffer of at least
 * `work_bytes`, kept between calls. NULL on allocation failure (the pool is
 * then NOT held). */
void *qp_threadpool_acquire(qp_threadpool *tp, size_t work_bytes);
void qp_threadpool_release(qp_threadpool *tp);
/* Runs fn on all threads and returns when all have returned. Call between
 * acquire and release. */
void qp_threadpool_run(qp_threadpool *tp, qp_task_fn fn, void *arg);

#endif
