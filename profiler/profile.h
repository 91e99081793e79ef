/* profiler/profile.h - the result of `qprof layers`: every measurement of
 * every (type, layer, block), in memory and in HDF5.
 *
 * The HDF5 layout is documented in docs/profile-h5.md; the field names here
 * follow it. All arrays are row-major doubles with NaN for "not measured"
 * (a block skipped, a layer not yet profiled when interrupted).
 */
#ifndef QP_PROFILER_PROFILE_H
#define QP_PROFILER_PROFILE_H

#include <stdint.h>

#include "../common/error.h"

/* Blocks of a layer, the columns of every [type][layer][block] array. */
enum qp_block {
    QP_BLOCK_ATTN = 0, /* the whole attention block */
    QP_BLOCK_FFN,      /* the whole FFN block */
    QP_BLOCK_Q, QP_BLOCK_K, QP_BLOCK_V, QP_BLOCK_O,
    QP_BLOCK_GATE, QP_BLOCK_UP, QP_BLOCK_DOWN,
    QP_BLOCK_COUNT
};
const char *qp_block_name(int b); /* "attn", "ffn", "q", ..., "down" */

/* Output-error metrics: relative L2 ||y_q - y|| / ||y||, cosine similarity,
 * SQNR in dB (10 log10 ||y||^2 / ||y_q - y||^2), max |y_q - y|. */
enum qp_err_metric { QP_ERR_REL_L2 = 0, QP_ERR_COSINE, QP_ERR_SQNR_DB, QP_ERR_MAX_ABS, QP_ERR_METRIC_COUNT };
/* Weight-error metrics: RMSE, RMSE / RMS(w), max |w_q - w|, SQNR (dB). */
enum qp_w_metric { QP_W_RMSE = 0, QP_W_REL_RMSE, QP_W_MAX_ABS, QP_W_SQNR_DB, QP_W_METRIC_COUNT };
enum qp_err_kind { QP_LOCAL = 0, QP_ACCUMULATED = 1, QP_ERR_KIND_COUNT };

const char *qp_err_metric_name(int m);   /* "rel_l2", "cosine", "sqnr_db", "max_abs" */
const char *qp_err_metric_units(int m);  /* "1", "1", "dB", "activation units" */
const char *qp_w_metric_name(int m);     /* "rmse", "rel_rmse", "max_abs", "sqnr_db" */
const char *qp_err_kind_name(int k);     /* "local", "accumulated" */

enum { QP_NAME_MAX = 64 };

typedef struct qp_profile {
    /* ---- identity (root attributes) ---- */
    char qprof_version[16];
    char model_path[1024];
    char model_sha256[65];
    char architecture[32];
    char reference[128];     /* what the FP32 reference was made from */
    char kernel_variant[32];
    char packed_layouts[128];/* the variant's packed layouts the run used ("q4_K x8, ..."), or "none" */
    char cpu_model[128];
    char date[32];           /* ISO 8601, UTC */
    char text_source[1024];  /* file name, "--prompt", or "built-in" */
    int n_tokens;
    int threads;
    int reps;

    /* ---- dimensions ---- */
    int n_types, n_layers, n_tensors;
    char (*type_names)[QP_NAME_MAX];   /* [n_types] "q4_K" */
    char (*tensor_names)[QP_NAME_MAX]; /* [n_tensors] GGUF names */
    int *tensor_layer;                 /* [n_tensors] layer, -1 for output */
    int *tensor_block;                 /* [n_tensors] enum qp_block, -1 for output */
    int64_t *tensor_params;            /* [n_tensors] rows * cols */

    /* ---- latency, ms per forward over n_tokens ---- */
    double *ref_latency_median;  /* [n_layers][QP_BLOCK_COUNT] */
    double *ref_latency_spread;  /* [n_layers][QP_BLOCK_COUNT] (max - min) */
    double *latency_median;      /* [n_types][n_layers][QP_BLOCK_COUNT] */
    double *latency_spread;      /* [n_types][n_layers][QP_BLOCK_COUNT] */
    double *tokens_per_s;        /* [n_types][n_layers][QP_BLOCK_COUNT] n_tokens / median */
    double *weight_gb_per_s;     /* [n_types][n_layers][QP_BLOCK_COUNT] weight bytes / median */
    double *ref_forward_ms;      /* [1]: median whole reference forward */
    double *forward_ms;          /* [n_types]: median whole quantized forward */
    double *block_sum_ms;        /* [n_types]: embed + blocks + output, median run */

    /* ---- errors ---- */
    double *err[QP_ERR_METRIC_COUNT][QP_ERR_KIND_COUNT]; /* [n_types][n_layers][QP_BLOCK_COUNT] */
    double *w_err[QP_W_METRIC_COUNT];                     /* [n_types][n_tensors] */
    int *w_type;                 /* [n_types][n_tensors] type actually used (fallbacks) */
    double *kld_mean;            /* [n_types] mean KL(ref || quant) of next-token distributions */
    double *kld_max;             /* [n_types] */
    double *top1;                /* [n_types] % positions where the argmax agrees */

    /* ---- progress, for --resume ---- */
    uint8_t *done;               /* [n_types][n_layers] local errors + latency done */
    uint8_t *done_model;         /* [n_types] accumulated pass + logits done */
} qp_profile;

/* Allocates every array (NaN-filled, done = 0) for the given dimensions;
 * names are left empty for the caller. */
qp_status qp_profile_alloc(qp_profile *p, int n_types, int n_layers, int n_tensors, qp_error *err);
void qp_profile_free(qp_profile *p);

/* Index helpers. */
static inline int64_t qp_profile_tlb(const qp_profile *p, int type, int layer, int block)
{
    return ((int64_t)type * p->n_layers + layer) * QP_BLOCK_COUNT + block;
}

/* Writes the profile as HDF5 to `path` atomically (PATH.tmp.XXXXXX, then
 * rename): a crash or interrupt leaves the previous file or none. */
qp_status qp_profile_write_h5(const qp_profile *p, const char *path, qp_error *err);

/* Reads a file written by qp_profile_write_h5. Checks every dataset's
 * shape against the dimensions before reading it. */
qp_status qp_profile_read_h5(qp_profile *p, const char *path, qp_error *err);

#endif
