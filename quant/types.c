/* quant/types.c - the one table of GGUF tensor types, and the row
 * quantize/dequantize entry points that dispatch through it.
 *
 * Block sizes and bytes per block are ggml's (ggml/src/ggml-common.h block
 * structs and the type_traits table in ggml.c); they decide how a GGUF
 * reader sizes a tensor, so every ggml type id has a row, including the ones
 * qprof cannot convert (IQ*, TQ*, MXFP4, integer types, F64).
 */
#include <limits.h>
#include <stdint.h>
#include <strings.h>

#include "quant_internal.h"

/* ---- the table ---------------------------------------------------------- */

/* bits per weight from the two sizes, so the three fields cannot disagree */
#define QP_TYPE(id, nm, bs, ts, q) \
    [id] = { .name = nm, .type = id, .block_size = bs, .type_size = ts, \
             .bpw = 8.0 * (double)(ts) / (double)(bs), .can_quantize = q }

/* Ids 4, 5 (Q4_2, Q4_3), 31..33 and 36..38 (repacked Q4_0_4_4 etc.) were
 * removed from ggml; their rows stay zero, so qp_type_info returns NULL. */
static const qp_type_traits qp_types[QP_TYPE_COUNT] = {
    QP_TYPE(QP_TYPE_F32, "f32", 1, 4, true),
    QP_TYPE(QP_TYPE_F16, "f16", 1, 2, true),
    QP_TYPE(QP_TYPE_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), true),   /* 18 */
    QP_TYPE(QP_TYPE_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), true),   /* 20 */
    QP_TYPE(QP_TYPE_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), true),   /* 22 */
    QP_TYPE(QP_TYPE_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), true),   /* 24 */
    QP_TYPE(QP_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), true),   /* 34 */
    QP_TYPE(QP_TYPE_Q8_1, "q8_1", QK8_1, sizeof(block_q8_1), true),   /* 36 */
    QP_TYPE(QP_TYPE_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), true),    /* 84 */
    QP_TYPE(QP_TYPE_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), true),    /* 110 */
    QP_TYPE(QP_TYPE_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), true),    /* 144 */
    QP_TYPE(QP_TYPE_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), true),    /* 176 */
    QP_TYPE(QP_TYPE_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), true),    /* 210 */
    QP_TYPE(QP_TYPE_Q8_K, "q8_K", QK_K, sizeof(block_q8_K), true),    /* 292 */
    /* i-quants: sizes from their ggml structs (fp16 d unless noted) */
    QP_TYPE(QP_TYPE_IQ2_XXS, "iq2_xxs", QK_K, 2 + QK_K / 8 * 2, false),          /* d, u16 qs[32] = 66 */
    QP_TYPE(QP_TYPE_IQ2_XS, "iq2_xs", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32, false), /* + scales[8] = 74 */
    QP_TYPE(QP_TYPE_IQ3_XXS, "iq3_xxs", QK_K, 2 + 3 * QK_K / 8, false),          /* d, qs[96] = 98 */
    QP_TYPE(QP_TYPE_IQ1_S, "iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16, false),      /* d, qs[32], u16 qh[8] = 50 */
    QP_TYPE(QP_TYPE_IQ4_NL, "iq4_nl", 32, 2 + 16, false),                        /* d, qs[16] = 18 */
    QP_TYPE(QP_TYPE_IQ3_S, "iq3_s", QK_K, 2 + 13 * (QK_K / 32) + QK_K / 64, false), /* qs, qh, signs, scales = 110 */
    QP_TYPE(QP_TYPE_IQ2_S, "iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16, false),      /* d, qs[64], qh[8], scales[8] = 82 */
    QP_TYPE(QP_TYPE_IQ4_XS, "iq4_xs", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, false), /* d, scales_h, scales_l[4], qs[128] = 136 */
    QP_TYPE(QP_TYPE_I8, "i8", 1, 1, false),
    QP_TYPE(QP_TYPE_I16, "i16", 1, 2, false),
    QP_TYPE(QP_TYPE_I32, "i32", 1, 4, false),
    QP_TYPE(QP_TYPE_I64, "i64", 1, 8, false),
    QP_TYPE(QP_TYPE_F64, "f64", 1, 8, false),
    QP_TYPE(QP_TYPE_IQ1_M, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, false), /* no d: 56 */
    QP_TYPE(QP_TYPE_BF16, "bf16", 1, 2, true),
    QP_TYPE(QP_TYPE_TQ1_0, "tq1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2, false), /* base-3 qs[48], qh[4], d = 54 */
    QP_TYPE(QP_TYPE_TQ2_0, "tq2_0", QK_K, QK_K / 4 + 2, false),                 /* qs[64], d = 66 */
    QP_TYPE(QP_TYPE_MXFP4, "mxfp4", 32, 1 + 16, false),                         /* e8m0 exponent, qs[16] = 17 */
};

/* The routines behind each convertible type; a NULL slot means "cannot". */
typedef struct {
    qp_quantize_fn quantize;
    qp_dequantize_fn dequantize;
} qp_type_fns;

static const qp_type_fns qp_fns[QP_TYPE_COUNT] = {
    [QP_TYPE_F32] = { qp_quantize_f32, qp_dequantize_f32 },
    [QP_TYPE_F16] = { qp_quantize_f16, qp_dequantize_f16 },
    [QP_TYPE_BF16] = { qp_quantize_bf16, qp_dequantize_bf16 },
    [QP_TYPE_Q4_0] = { qp_quantize_q4_0, qp_dequantize_q4_0 },
    [QP_TYPE_Q4_1] = { qp_quantize_q4_1, qp_dequantize_q4_1 },
    [QP_TYPE_Q5_0] = { qp_quantize_q5_0, qp_dequantize_q5_0 },
    [QP_TYPE_Q5_1] = { qp_quantize_q5_1, qp_dequantize_q5_1 },
    [QP_TYPE_Q8_0] = { qp_quantize_q8_0, qp_dequantize_q8_0 },
    [QP_TYPE_Q8_1] = { qp_quantize_q8_1, qp_dequantize_q8_1 },
    [QP_TYPE_Q2_K] = { qp_quantize_q2_K, qp_dequantize_q2_K },
    [QP_TYPE_Q3_K] = { qp_quantize_q3_K, qp_dequantize_q3_K },
    [QP_TYPE_Q4_K] = { qp_quantize_q4_K, qp_dequantize_q4_K },
    [QP_TYPE_Q5_K] = { qp_quantize_q5_K, qp_dequantize_q5_K },
    [QP_TYPE_Q6_K] = { qp_quantize_q6_K, qp_dequantize_q6_K },
    [QP_TYPE_Q8_K] = { qp_quantize_q8_K, qp_dequantize_q8_K },
};

/* ---- lookups ------------------------------------------------------------ */

const qp_type_traits *qp_type_info(int t)
{
    if (t < 0 || t >= QP_TYPE_COUNT || !qp_types[t].name)
        return NULL;
    return &qp_types[t];
}

int qp_type_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int t = 0; t < QP_TYPE_COUNT; t++)
        if (qp_types[t].name && strcasecmp(qp_types[t].name, name) == 0)
            return t;
    return -1;
}

size_t qp_row_size(int t, int64_t n)
{
    const qp_type_traits *tt = qp_type_info(t);
    if (!tt || n < 0 || n % tt->block_size != 0)
        return 0;
    /* blocks * type_size must fit in size_t: n comes from a file, and a
     * wrapped product would make a reader accept a truncated tensor */
    uint64_t blocks = (uint64_t)(n / tt->block_size);
    if (blocks > (uint64_t)SIZE_MAX / tt->type_size)
        return 0;
    return (size_t)blocks * tt->type_size;
}

/* ---- dispatch ----------------------------------------------------------- */

/* Checks type and length; on success returns the routines of type t. */
static const qp_type_fns *qp_check_row(int t, int64_t n, const char *what, qp_error *err)
{
    const qp_type_traits *tt = qp_type_info(t);
    if (!tt) {
        qp_error_set(err, QP_ERR_INPUT, NULL, -1, "cannot %s: unknown type id %d", what, t);
        return NULL;
    }
    const qp_type_fns *f = &qp_fns[t];
    if (!f->quantize || !f->dequantize) {
        qp_error_set(err, QP_ERR_INPUT, NULL, -1, "cannot %s type %s (id %d): not supported by qprof",
                     what, tt->name, t);
        return NULL;
    }
    if (n < 0 || n % tt->block_size != 0) {
        qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                     "cannot %s a row of %lld values as %s: its block size is %lld, "
                     "and the row length must be a multiple of it",
                     what, (long long)n, tt->name, (long long)tt->block_size);
        return NULL;
    }
    return f;
}

qp_status qp_quantize_row(int t, const float *x, void *y, int64_t n,
                          const float *imatrix, qp_error *err)
{
    const qp_type_fns *f = qp_check_row(t, n, "quantize", err);
    if (!f)
        return QP_ERR_INPUT;
    if (n > 0)
        f->quantize(x, y, n, imatrix);
    return QP_OK;
}

qp_status qp_dequantize_row(int t, const void *x, float *y, int64_t n, qp_error *err)
{
    const qp_type_fns *f = qp_check_row(t, n, "dequantize", err);
    if (!f)
        return QP_ERR_INPUT;
    if (n > 0)
        f->dequantize(x, y, n);
    return QP_OK;
}
