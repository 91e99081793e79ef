/* profiler/forward.h - the forward pass of a llama-family model (model.h),
 * with a KV cache, two precisions, and observation hooks for the profiler.
 *
 * One layer, for n token rows x[n][n_embd] (the residual stream):
 *
 *   attention block:  h   = rmsnorm(x) * attn_norm
 *                     q,k,v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
 *                     RoPE on q, k; k, v appended to the KV cache
 *                     a   = softmax(q k^T / sqrt(head_dim), causal) v   per head (GQA:
 *                           query head j reads key/value head j / (n_head / n_head_kv))
 *                     out = a Wo^T
 *                     x  += out
 *   FFN block:        h   = rmsnorm(x) * ffn_norm
 *                     g   = silu(h Wgate^T) * (h Wup^T)                 (SwiGLU)
 *                     out = g Wdown^T
 *                     x  += out
 *
 * then logits = (rmsnorm(x) * output_norm) Wout^T.
 *
 * Precision (per run, qp_state_set_precision; per block call, an argument):
 *   QP_PREC_REF   - every linear in FP32 from its reference (OpenBLAS
 *                   sgemm / sgemv, slices of outputs on the state's pool);
 *   QP_PREC_QUANT - every linear that has a quantized form (per tensor:
 *                   qp_model_set_tensor_type) through qp_matmul with the
 *                   state's kernel variant and thread pool; the others FP32.
 * Everything else (norms, RoPE, attention, SwiGLU, KV cache) is FP32 in
 * both, so the two differ only by the weights' (and their activations')
 * quantization.
 *
 * A state belongs to one thread at a time; several states may share a
 * model.
 */
#ifndef QP_PROFILER_FORWARD_H
#define QP_PROFILER_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "../kernels/kernels.h"
#include "model.h"

enum qp_precision {
    QP_PREC_REF = 0,
    QP_PREC_QUANT = 1,
};

/* ======================================================================== */
/* hooks                                                                    */
/* ======================================================================== */

/* Hook points, in the order they fire within one qp_forward call (for each
 * chunk of at most n_batch tokens; see qp_state_opts):
 *
 *   QP_HOOK_EMBED       layer -1   x after the embedding lookup      [n][n_embd]
 *   for each layer L = 0 .. n_layer-1:
 *     QP_HOOK_ATTN_IN   L   block input x (residual stream)          [n][n_embd]
 *     QP_HOOK_ATTN_NORM L   rmsnorm(x) * attn_norm: input of q,k,v    [n][n_embd]
 *     QP_HOOK_LINEAR    L   tensor Q: q before RoPE, bias added       [n][n_head*head_dim]
 *     QP_HOOK_LINEAR    L   tensor K: k before RoPE                   [n][n_head_kv*head_dim]
 *     QP_HOOK_LINEAR    L   tensor V                                  [n][n_head_kv*head_dim]
 *     QP_HOOK_ATTN_MIX  L   softmax(qk^T)v of all heads: input of o   [n][n_head*head_dim]
 *     QP_HOOK_LINEAR    L   tensor O                                  [n][n_embd]
 *     QP_HOOK_ATTN_OUT  L   block output (= O's output), BEFORE the residual add
 *     QP_HOOK_FFN_IN    L   block input x (after the attention residual)
 *     QP_HOOK_FFN_NORM  L   rmsnorm(x) * ffn_norm: input of gate, up
 *     QP_HOOK_LINEAR    L   tensor GATE (before silu)                 [n][n_ff]
 *     QP_HOOK_LINEAR    L   tensor UP                                 [n][n_ff]
 *     QP_HOOK_FFN_ACT   L   silu(gate) * up: input of down            [n][n_ff]
 *     QP_HOOK_LINEAR    L   tensor DOWN                               [n][n_embd]
 *     QP_HOOK_FFN_OUT   L   block output (= DOWN's output), BEFORE the residual add
 *   QP_HOOK_OUTPUT_NORM layer -1   rmsnorm(x) * output_norm of the rows whose
 *                                  logits are computed (all, or the last)
 *   QP_HOOK_LINEAR      layer -1   tensor OUTPUT: the logits           [rows][n_vocab]
 *   QP_HOOK_FORWARD     layer -1   data NULL; times the whole call
 *
 * The output of layer L is the FFN_IN of L plus FFN_OUT, which is also the
 * ATTN_IN of layer L+1 (and the input of OUTPUT_NORM after the last layer).
 * OUTPUT_NORM and OUTPUT fire only when logits are asked for.
 *
 * Timing: t_begin/t_end are nanoseconds on the state's clock, a monotonic
 * clock that stands still while a hook runs, so a slow hook (copying data,
 * computing errors) does not inflate the blocks around it. Intervals:
 *   LINEAR       the one matrix product (+ bias);
 *   ATTN_OUT     the whole attention block: norm, q/k/v, RoPE, cache write,
 *                attention, o (not the residual add);
 *   FFN_OUT      the whole FFN block: norm, gate, up, SwiGLU, down;
 *   EMBED        the embedding lookup; OUTPUT_NORM the final norm;
 *   FORWARD      the whole qp_forward call (all chunks);
 *   other points t_begin = t_end = the moment they fire.
 * So EMBED + sum(ATTN_OUT + FFN_OUT) + OUTPUT_NORM + OUTPUT covers FORWARD
 * but for the residual adds.
 *
 * `data` is valid only during the call and must not be written. Hooks fire
 * from qp_forward and from the single-block functions below. With no hook
 * set, each point costs one well-predicted branch and no clock read. */
enum qp_hook_point {
    QP_HOOK_EMBED = 0,
    QP_HOOK_ATTN_IN,
    QP_HOOK_ATTN_NORM,
    QP_HOOK_ATTN_MIX,
    QP_HOOK_ATTN_OUT,
    QP_HOOK_FFN_IN,
    QP_HOOK_FFN_NORM,
    QP_HOOK_FFN_ACT,
    QP_HOOK_FFN_OUT,
    QP_HOOK_LINEAR,
    QP_HOOK_OUTPUT_NORM,
    QP_HOOK_FORWARD,
    QP_HOOK_POINT_COUNT
};

typedef struct qp_hook_event {
    int layer;                  /* 0..n_layer-1, or -1 outside the layers */
    enum qp_hook_point point;
    enum qp_lin_kind tensor;    /* which linear for QP_HOOK_LINEAR, else QP_LIN_NONE */
    int linear;                 /* its index in the model (qp_model_linear), else -1 */
    const float *data;          /* [rows][cols] row-major, or NULL */
    int rows, cols;
    int pos0;                   /* position of row 0 (rows are consecutive positions;
                                   for OUTPUT_NORM / OUTPUT the first row computed) */
    enum qp_precision precision;/* the precision this block ran at */
    bool quantized;             /* LINEAR: its quantized form was used */
    int64_t t_begin, t_end;     /* ns, state clock (see above) */
} qp_hook_event;

typedef void (*qp_hook_fn)(const qp_hook_event *ev, void *user);

/* Point name: "embed", "attn_in", ..., "forward". */
const char *qp_hook_point_name(enum qp_hook_point p);

/* ======================================================================== */
/* state                                                                    */
/* ======================================================================== */

typedef struct qp_state qp_state;

typedef struct qp_state_opts {
    int n_ctx;        /* KV cache positions; 0: min(n_ctx_train, 2048) */
    int n_batch;      /* rows per pass through the layers (buffers are sized
                         for it; longer calls are cut into chunks); 0: 512 */
    int n_threads;    /* threads of the state's pool, used at both precisions
                         (linears, attention); 0: 1. Results are the same
                         bits for every count. While a state computes,
                         OpenBLAS is held at one thread (process-wide; the
                         caller's setting is put back when the call returns):
                         its workers would busy-wait against the pool's */
    const qp_kernels *kernels; /* NULL: qp_kernels_default() */
    enum qp_precision precision; /* of qp_forward; default QP_PREC_REF */
    bool logits_all;  /* qp_forward writes logits of every token, not just the last */
} qp_state_opts;

/* Allocates every buffer once: KV cache (2 * n_layer * n_ctx * n_head_kv *
 * head_dim floats) and the run-state for n_batch rows. opts may be NULL. */
qp_status qp_state_create(const qp_model *m, const qp_state_opts *opts, qp_state **out,
                          qp_error *err);
void qp_state_free(qp_state *s); /* NULL is fine */

const qp_model *qp_state_model(const qp_state *s);
int qp_state_n_ctx(const qp_state *s);
/* The state's thread pool (NULL with one thread), for work between forward
 * passes that should use the same threads, e.g. qp_model_set_threads; it
 * belongs to the state, and nothing may run on it during a forward pass. */
qp_threadpool *qp_state_pool(const qp_state *s);
void qp_state_set_precision(qp_state *s, enum qp_precision p);
enum qp_precision qp_state_precision(const qp_state *s);
void qp_state_set_logits_all(qp_state *s, bool all);
/* Sets (fn != NULL) or removes the hook. */
void qp_state_set_hook(qp_state *s, qp_hook_fn fn, void *user);
/* The state clock (ns) as hooks see it. */
int64_t qp_state_clock(const qp_state *s);

/* ======================================================================== */
/* forward                                                                  */
/* ======================================================================== */

/* Runs tokens[0..n_tokens) at positions pos0.. through the model: prompt
 * evaluation for n_tokens > 1 (matrix products over all rows, causal
 * attention), decoding for n_tokens == 1. KV cache positions [pos0,
 * pos0+n_tokens) are (over)written; positions before pos0 must hold this
 * sequence's earlier tokens. logits (may be NULL: no output projection) gets
 * [n_tokens][n_vocab] with logits_all, else [n_vocab] for the last token.
 * QP_ERR_INPUT for a token outside the vocabulary, n_tokens < 1, or
 * pos0 + n_tokens > n_ctx. */
qp_status qp_forward(qp_state *s, const int32_t *tokens, int n_tokens, int pos0, float *logits,
                     qp_error *err);

/* One block of layer `layer` on caller-provided rows, for local errors:
 * in[n_tokens][n_embd] is the block input x (the ATTN_IN / FFN_IN data),
 * out[n_tokens][n_embd] receives the block output before the residual add
 * (ATTN_OUT / FFN_OUT); in and out must not overlap. Hooks fire as in
 * qp_forward. The attention block writes k, v of these rows into layer
 * `layer`'s cache at pos0.. and attends over positions [0, pos0 + i], so
 * for pos0 > 0 the cache must hold the earlier rows of that layer (e.g.
 * from a qp_forward of the same sequence). */
qp_status qp_forward_attn_block(qp_state *s, int layer, const float *in, float *out,
                                int n_tokens, int pos0, enum qp_precision prec, qp_error *err);
qp_status qp_forward_ffn_block(qp_state *s, int layer, const float *in, float *out,
                               int n_tokens, enum qp_precision prec, qp_error *err);

#endif
