/* quant/blocks.h - on-disk block layouts of the GGUF quantization formats.
 *
 * These structs ARE the file format: a GGUF tensor of type T is an array of
 * these blocks, back to back, little-endian, no padding. The layouts are those
 * of ggml (ggml/src/ggml-common.h); compatibility with llama.cpp depends on
 * every byte, hence the static_assert on each size.
 *
 * fp16 fields are stored as raw IEEE binary16 bits (uint16_t); see fp16.h.
 */
#ifndef QP_QUANT_BLOCKS_H
#define QP_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>

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

#endif
