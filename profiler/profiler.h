/* profiler/profiler.h - the layer-wise quantization profiler behind
 * `qprof layers`: the profile (every measurement of every type, layer and
 * block), its HDF5 form and heatmaps, and the run that fills it.
 * The public header of profiler/.
 */
#ifndef QP_PROFILER_H
#define QP_PROFILER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/common.h"
#include "../kernels/kernels.h"
#include "../eval/eval.h"
#include "../model/model.h"

/* ==================================================================== */
/* profile: the result of `qprof layers`: every measurement of
 * every (type, layer, block), in memory and in HDF5.
 *
 * The HDF5 layout is documented in docs/profile-h5.md; the field names here
 * follow it. All arrays are row-major doubles with NaN for "not measured"
 * (a block skipped, a layer not yet profiled when interrupted).
 */

/* Blocks of a layer, the columns of every [type][layer][block] array. */
enum qp_block {
    QP_BLOCK_ATTN = 0, /* the whole attention block */
    QP_BLOCK_FFN,      /* the whole FFN block */
    QP_BLOCK_Q, QP_BLOCK_K, QP_BLOCK_V, QP_BLOCK_O,
    QP_BLOCK_GATE, QP_BLOCK_UP, QP_BLOCK_DOWN,
    QP_BLOCK_COUNT
};
const char *qp_block_name(int b); /* "attn", "ffn", "q", ..., "down" */


enum qp_err_kind { QP_LOCAL = 0, QP_ACCUMULATED = 1, QP_ERR_KIND_COUNT };
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
    char kv_type[8];         /* the KV cache's type: "f32", "f16", "q8_0" */
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

/* ==================================================================== */
/* layers: the layer-wise quantization profiler behind
 * `qprof layers`.
 *
 * For a model and a list of quantization types, on one token sequence:
 *   1. the reference pass (every linear FP32) runs `reps` times; the first
 *      run keeps every block's input and output (the hooks of forward.h),
 *      every run gives block latencies;
 *   2. per type: every linear is quantized (llama.cpp's fallbacks where rows
 *      do not fit a block) and its weight error measured; the quantized pass
 *      runs `reps` times: block latencies, and from the first run the
 *      ACCUMULATED error of every block output against the reference (what
 *      the whole quantized model has done to the signal by that point) and
 *      the KL divergence / top-1 agreement of the logits;
 *   3. per type and layer: the LOCAL error of each block and each linear,
 *      fed the reference input, so the layer's own sensitivity is isolated
 *      from what earlier layers did. After each layer the profile is
 *      checkpointed to the HDF5 file (atomically), so an interrupt keeps
 *      every finished layer and `resume` continues.
 */

typedef struct qp_layers_opts {
    const int *types;          /* quantization types to profile */
    int n_types;
    const int32_t *tokens;     /* the sequence, BOS included if the model wants one */
    int n_tokens;
    int reps;                  /* timed runs per precision (>= 1) */
    int threads;               /* quantized kernels' pool and OpenBLAS */
    const qp_kernels *kernels; /* NULL: qp_kernels_default() */
    const char *out_path;      /* HDF5 checkpoint/final file; NULL: no file */
    bool resume;               /* continue out_path's profile */
    bool rows_only;            /* no packed copies: plain GGUF rows (kernels/pack.c) */
    uint64_t max_memory;       /* bytes the run may keep (0: no cap): above it the types'
                                  residual streams go to a file beside out_path; below one
                                  layer's need, QP_ERR_INPUT naming the minimum */
    enum qp_kv_type kv_type;   /* the KV cache of every pass (qp_state_opts); qprof layers
                                  uses F32, so that the reference is FP32 arithmetic */
    const char *model_path;    /* recorded, and hashed (sha256) */
    const char *text_source;   /* recorded */
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to stop at the next layer; may be NULL */
    /* called with a line of news (fallback types, phase changes); may be NULL */
    void (*log)(void *user, const char *line);
    void *log_user;
    bool progress;             /* draw a progress line on stderr (TTY only) */
} qp_layers_opts;

/* What qp_layers_run with these options would keep in memory: *need_min
 * at least (one layer's forms and activations, the state, the logits; the
 * least --max-memory takes), *need_all with every type's residual stream
 * resident (no spill file). Excludes the program and the libraries. */
qp_status qp_layers_memory(qp_model *m, const qp_layers_opts *o, uint64_t *need_min, uint64_t *need_all,
                           qp_error *err);

/* Runs the profile into *p (allocated here; qp_profile_free it, also after
 * an error or a stop: it then holds what was finished). Returns QP_OK, or
 * QP_ERR_RUNTIME with err "interrupted" when *stop was set. */
qp_status qp_layers_run(qp_model *m, const qp_layers_opts *o, qp_profile *p, qp_error *err);


/* ==================================================================== */
/* profile_png: heatmap images of a qp_profile. */

/* Writes the standard heatmaps to "<prefix><name>.png" (prefix e.g.
 * "out/profile-"), each atomically. `filter` (may be NULL): comma-separated
 * parts of names to keep ("rel_l2,overview"). The paths written are strdup'd
 * into written[0..max_written) (caller frees), their count in *n_written. */
qp_status qp_profile_write_pngs(const qp_profile *p, const char *prefix, const char *filter,
                                char **written, int max_written, int *n_written, qp_error *err);

/* ==================================================================== */
/* report: what a terminal shows of a profile. */

/* The one-screen summary `qprof layers` prints: per type the whole-model
 * latency against the reference, KLD, top-1, the worst local and the final
 * accumulated block error; then the three most sensitive and the slowest
 * block of each type. total_s: the wall time of the run. */
void qp_profile_print_summary(const qp_profile *p, double total_s, FILE *out);

/* The heatmaps' path prefix: "DIR/" with a directory, else the profile's
 * path less its extension plus "-" ("out/profile.h5" -> "out/profile-"). */
void qp_profile_png_prefix(const char *h5, const char *dir, char *out, size_t size);

#endif
