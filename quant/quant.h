/* quant/quant.h - the GGUF tensor types: block layouts (bit-exact with
 * ggml's), fp16/bf16 conversion, the type table, the reference (scalar)
 * quantize / dequantize routines, and the quantization policy (llama.cpp's
 * fallback types, the default type ladder, bytes and bits per weight).
 * The public header of quant/.
 */
#ifndef QP_QUANT_H
#define QP_QUANT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/common.h"

/* ==================================================================== */
/* fp16: IEEE binary16 and bfloat16 <-> float32, portable scalar.
 *
 * Round-to-nearest-even in both narrowing directions, as the F16C
 * instruction (_cvtss_sh with mode 0) and ggml do, so a quantized block's
 * fp16 scale has the same bits as llama.cpp's. Widening is exact.
 * SIMD kernels use F16C / NEON conversions instead; these are the reference.
 */

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

/* ==================================================================== */
/* blocks: on-disk block layouts of the GGUF quantization formats.
 *
 * These structs ARE the file format: a GGUF tensor of type T is an array of
 * these blocks, back to back, little-endian, no padding. The layouts are those
 * of ggml (ggml/src/ggml-common.h); compatibility with llama.cpp depends on
 * every byte, hence the static_assert on each size.
 *
 * fp16 fields are stored as raw IEEE binary16 bits (uint16_t); see fp16.h.
 */

typedef uint16_t qp_half; /* IEEE 754 binary16 bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12 /* 8 scales + 8 mins, 6 bits each, for Q4_K/Q5_K */

/* ---- legacy formats: 32 weights per block, one (or two) fp16 scale ---- */

/* x = d * (q - 8), q in 0..15; low nibbles hold weights 0..15, high 16..31 */
typedef struct { qp_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 size");

/* x = d * q + m, q in 0..15 */
typedef struct { qp_half d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 4 + QK4_1 / 2, "block_q4_1 size");

/* x = d * (q - 16), q in 0..31; bit 4 of weight j is bit j of qh */
typedef struct { qp_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 size");

/* x = d * q + m, q in 0..31 */
typedef struct { qp_half d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "block_q5_1 size");

/* x = d * q, q in -127..127 */
typedef struct { qp_half d; int8_t qs[QK8_0]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 size");

/* activation pair of Q4_1/Q5_1: s = d * sum(qs), precomputed for the min term */
typedef struct { qp_half d, s; int8_t qs[QK8_1]; } block_q8_1;
static_assert(sizeof(block_q8_1) == 4 + QK8_1, "block_q8_1 size");

/* ---- K-quants: 256-weight super-blocks of 16 or 8 sub-blocks ---- */

/* 16 sub-blocks of 16; scales[i] = scale (low 4 bits) | min (high 4 bits);
 * x = d * sc * q - dmin * m, q in 0..3. 2.625 bpw */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    qp_half d, dmin;
} block_q2_K;
static_assert(sizeof(block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "block_q2_K size");

/* 16 sub-blocks of 16; 6-bit signed scales packed in 12 bytes; q = 2 low
 * bits in qs plus a high bit in hmask (set means +4, i.e. q-4 when clear).
 * 3.4375 bpw */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    qp_half d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "block_q3_K size");

/* 8 sub-blocks of 32; 6-bit scales and mins packed in 12 bytes;
 * x = d * sc * q - dmin * m, q in 0..15. 4.5 bpw */
typedef struct {
    qp_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K size");

/* as Q4_K plus one high bit per weight in qh. 5.5 bpw */
typedef struct {
    qp_half d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8, "block_q5_K size");

/* 16 sub-blocks of 16; q = 4 low bits (ql) + 2 high bits (qh), x = d*sc*(q-32);
 * int8 scales. 6.5625 bpw */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    qp_half d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "block_q6_K size");

/* activation type for K-quant dot products: fp32 scale, and the sums of each
 * group of 16 quants (bsums) so the min terms cost one multiply per group */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "block_q8_K size");

/* ==================================================================== */
/* quant: the GGUF tensor types and their reference (scalar)
 * quantize / dequantize routines.
 *
 * Type ids are GGUF's (= ggml's enum ggml_type), so a value read from a file
 * can be used directly. Every ggml type id is in the table, so a GGUF file of
 * any type can be sized and listed; `qp_type_info(t)->can_quantize` says
 * which ones this library can convert.
 */

enum qp_type {
    QP_TYPE_F32 = 0,
    QP_TYPE_F16 = 1,
    QP_TYPE_Q4_0 = 2,
    QP_TYPE_Q4_1 = 3,
    /* 4, 5: Q4_2, Q4_3, removed from ggml */
    QP_TYPE_Q5_0 = 6,
    QP_TYPE_Q5_1 = 7,
    QP_TYPE_Q8_0 = 8,
    QP_TYPE_Q8_1 = 9,
    QP_TYPE_Q2_K = 10,
    QP_TYPE_Q3_K = 11,
    QP_TYPE_Q4_K = 12,
    QP_TYPE_Q5_K = 13,
    QP_TYPE_Q6_K = 14,
    QP_TYPE_Q8_K = 15,
    QP_TYPE_IQ2_XXS = 16,
    QP_TYPE_IQ2_XS = 17,
    QP_TYPE_IQ3_XXS = 18,
    QP_TYPE_IQ1_S = 19,
    QP_TYPE_IQ4_NL = 20,
    QP_TYPE_IQ3_S = 21,
    QP_TYPE_IQ2_S = 22,
    QP_TYPE_IQ4_XS = 23,
    QP_TYPE_I8 = 24,
    QP_TYPE_I16 = 25,
    QP_TYPE_I32 = 26,
    QP_TYPE_I64 = 27,
    QP_TYPE_F64 = 28,
    QP_TYPE_IQ1_M = 29,
    QP_TYPE_BF16 = 30,
    /* 31..33: Q4_0_4_4 etc., removed from ggml */
    QP_TYPE_TQ1_0 = 34,
    QP_TYPE_TQ2_0 = 35,
    /* 36..38: IQ4_NL_4_4 etc., removed from ggml */
    QP_TYPE_MXFP4 = 39,
    QP_TYPE_COUNT = 40, /* one past the largest id; ids below may be holes */
};

typedef struct qp_type_traits {
    const char *name;     /* lower case, as in file names: "q4_K", "f16" */
    enum qp_type type;
    int64_t block_size;   /* weights per block (1 for plain types) */
    size_t type_size;     /* bytes per block */
    double bpw;           /* bits per weight = 8 * type_size / block_size */
    bool can_quantize;    /* qp_quantize_row / qp_dequantize_row implemented */
} qp_type_traits;

/* Traits of type id `t`, or NULL for an id that is no (longer a) ggml type. */
const qp_type_traits *qp_type_info(int t);

/* Type by name, case-insensitive ("Q4_K", "q4_k", "bf16"); -1 if unknown. */
int qp_type_from_name(const char *name);

/* Bytes of a row of n weights of type t; 0 if t is unknown or n is not a
 * multiple of the block size, or on overflow. */
size_t qp_row_size(int t, int64_t n);

/* Scalar reference conversions of one row of n values.
 * Fail with QP_ERR_INPUT (and a message naming the type and block size) if
 * the type is unsupported or n is not a multiple of the block size.
 * `imatrix` (may be NULL): per-column importance (n values, >= 0), used by the
 * types that support importance-weighted quantization; others ignore it. */
qp_status qp_quantize_row(int t, const float *x, void *y, int64_t n,
                          const float *imatrix, qp_error *err);
qp_status qp_dequantize_row(int t, const void *x, float *y, int64_t n, qp_error *err);

/* Typed reference routines, n a multiple of the block size (unchecked).
 * Exposed for kernels/ (activation quantization) and tests. */
void qp_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void qp_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n);
void qp_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

/* ==================================================================== */
/* policy: which type a tensor gets, and what it costs. */

/* The type a row of `cols` weights gets when `type` is asked (what
 * qp_model_set_all and the quantize plans use):
 * `type` if cols is a multiple of its block size; else llama.cpp's fallback
 * (llama_tensor_get_type's convert_incompatible_tensor): Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0 (llama.cpp picks IQ4_NL,
 * which qprof does not implement; Q4_0 has the same 4.5 bits and 32-blocks),
 * and F16 when even that does not divide (llama.cpp's last resort; for a
 * 32-block type that does not fit llama.cpp stops, qprof also uses F16). */
int qp_fallback_type(int type, int64_t cols);

/* The default ladder of types to study, best to worst: q8_0, q6_K, q5_K,
 * q5_1, q5_0, q4_K, q4_1, q4_0, q3_K, q2_K. *types points at a static
 * array; returns its length. */
int qp_type_ladder(const int **types);

/* Parses a comma-separated list of type names ("q8_0,q4_K", any case) into
 * types[0..max): returns the count, or -1 with QP_ERR_INPUT in *err naming
 * an unknown or repeated name, an empty item, or more than max names. */
int qp_type_list_parse(const char *list, int *types, int max, qp_error *err);

/* Bytes of a tensor of `rows` rows of `cols` weights of type t; 0 when t
 * is unknown, cols does not fit its blocks, or on overflow. */
uint64_t qp_tensor_bytes(int t, int64_t rows, int64_t cols);

/* Bits per weight of `bytes` holding `weights` weights; 0 when weights < 1. */
double qp_bits_per_weight(uint64_t bytes, int64_t weights);

#endif
