/* quant/quant.h - the GGUF tensor types and their reference (scalar)
 * quantize / dequantize routines.
 *
 * Type ids are GGUF's (= ggml's enum ggml_type), so a value read from a file
 * can be used directly. Every ggml type id is in the table, so a GGUF file of
 * any type can be sized and listed; `qp_type_info(t)->can_quantize` says
 * which ones this library can convert.
 */
#ifndef QP_QUANT_H
#define QP_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "blocks.h"
#include "fp16.h"

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

#endif
