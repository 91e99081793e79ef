/* profiler/layers.h - the layer-wise quantization profiler behind
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
#ifndef QP_PROFILER_LAYERS_H
#define QP_PROFILER_LAYERS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "../kernels/kernels.h"
#include "model.h"
#include "profile.h"

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
    const char *model_path;    /* recorded, and hashed (sha256) */
    const char *text_source;   /* recorded */
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to stop at the next layer; may be NULL */
    /* called with a line of news (fallback types, phase changes); may be NULL */
    void (*log)(void *user, const char *line);
    void *log_user;
    bool progress;             /* draw a progress line on stderr (TTY only) */
} qp_layers_opts;

/* Runs the profile into *p (allocated here; qp_profile_free it, also after
 * an error or a stop: it then holds what was finished). Returns QP_OK, or
 * QP_ERR_RUNTIME with err "interrupted" when *stop was set. */
qp_status qp_layers_run(qp_model *m, const qp_layers_opts *o, qp_profile *p, qp_error *err);

/* Output-error metrics of y_q against y over n values (profile.h order). */
void qp_compare_outputs(const float *ref, const float *q, int64_t n, double out[QP_ERR_METRIC_COUNT]);

/* KL(softmax(ref) || softmax(q)) over one row of n_vocab logits, in nats;
 * *same_top1 = whether the argmaxes agree. */
double qp_logits_kld(const float *ref, const float *q, int n_vocab, bool *same_top1);

/* Lower-case hex sha256 of a file into out[65]. */
qp_status qp_sha256_file(const char *path, char out[65], qp_error *err);

#endif
