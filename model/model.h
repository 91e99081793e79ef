/* model/model.h - a llama-family model from a GGUF file, its forward pass
 * with observation hooks, sampling and generation. The public header of
 * model/: model.c (loading, tensor roles, weight forms), forward.c (the
 * forward pass), sampler.c (sampling and the generation loop).
 */
#ifndef QP_MODEL_H
#define QP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../gguf/gguf.h"
#include "../kernels/kernels.h"

/* ==================================================================== */
/* model: a llama-family model loaded from GGUF. Its weights stay in the
 * read-only mapping of the file, in the file's types; the FP32 reference
 * of a linear is its file rows widened or dequantized when a pass needs
 * them, and a quantized (and packed) form is made on request.
 *
 * Architectures (general.architecture):
 *   "llama" - stories260K, SmolLM2, TinyLlama, Llama 2/3. RoPE "normal":
 *             rotation of consecutive pairs (x[2i], x[2i+1]); llama.cpp's
 *             convert script permutes Q and K rows from the Hugging Face
 *             layout so that this holds (llama_model_rope_type: LLAMA ->
 *             LLAMA_ROPE_TYPE_NORM).
 *   "qwen2"   - Qwen2 / Qwen2.5: biases on Q, K and V, RoPE "neox": pairs
 *             (x[i], x[i + n_rot/2]) (QWEN2 -> LLAMA_ROPE_TYPE_NEOX).
 *
 * Tensor names are llama.cpp's: token_embd.weight, output_norm.weight,
 * output.weight (absent = tied to token_embd.weight), blk.N.attn_norm.weight,
 * blk.N.attn_{q,k,v,output}.weight (+ .bias), blk.N.ffn_norm.weight,
 * blk.N.ffn_{gate,up,down}.weight, and rope_freqs.weight (Llama 3.1's
 * per-frequency RoPE divisors). A GGUF tensor of ne = [k, m] is a matrix of
 * m rows of k values: the linear y = W x maps k inputs to m outputs.
 *
 * Every shape is checked against the hyper-parameters at load time; a model
 * this code cannot run exactly (unknown architecture, unknown or unused
 * tensor, unsupported type or RoPE scaling) is refused with QP_ERR_INPUT
 * naming the culprit, never run approximately.
 *
 * The linears: index i in [0, qp_model_n_linears) is layer i / 7, kind i % 7
 * (enum qp_lin_kind order), and the last one (n_layer * 7) is the output
 * projection. Each has
 *   - the reference: FP32 [rows][cols]. An F32 file tensor is used in place
 *     (`ref`); any other file type is widened or dequantized a slice of
 *     rows at a time, when a pass asks (qp_linear_rows_f32): no FP32 copy
 *     of the model is ever held. `ref_from` records which ("f32",
 *     "f16→f32", "q4_1 dequantized→f32").
 *   - q: an optional quantized form (q_type, q_data), used by the forward
 *     pass at QP_PREC_QUANT through kernels/ (qp_matmul). Set by
 *     qp_model_set_tensor_type; when the type is the file's own, the file's
 *     bytes are used as they are, else the reference is quantized.
 * The model is read-only while any qp_state uses it: change types between
 * forward passes, not during one.
 */

enum qp_arch {
    QP_ARCH_LLAMA = 0,
    QP_ARCH_QWEN2 = 1,
};

enum qp_rope_style {
    QP_ROPE_NORM = 0, /* pairs (2i, 2i+1): llama */
    QP_ROPE_NEOX = 1, /* pairs (i, i + n_rot/2): qwen2 */
};

/* The seven linears of a layer, in the order of their index, then the
 * output projection. */
enum qp_lin_kind {
    QP_LIN_Q = 0,
    QP_LIN_K = 1,
    QP_LIN_V = 2,
    QP_LIN_O = 3,      /* attn_output */
    QP_LIN_GATE = 4,
    QP_LIN_UP = 5,
    QP_LIN_DOWN = 6,
    QP_LIN_OUTPUT = 7, /* output.weight (or the tied token_embd.weight) */
    QP_LIN_NONE = 8,   /* "no tensor" in hook events */
};
#define QP_LIN_PER_LAYER 7

/* Value of q_type when a linear has no quantized form (reference only). */
#define QP_LINEAR_REF (-1)

typedef struct qp_hparams {
    enum qp_arch arch;
    enum qp_rope_style rope_style;
    int n_vocab;          /* rows of token_embd */
    int n_embd;           /* {arch}.embedding_length */
    int n_layer;          /* {arch}.block_count */
    int n_head;           /* {arch}.attention.head_count */
    int n_head_kv;        /* {arch}.attention.head_count_kv (GQA); = n_head if absent */
    int head_dim;         /* {arch}.attention.key_length, else n_embd / n_head */
    int n_ff;             /* {arch}.feed_forward_length */
    int n_rot;            /* {arch}.rope.dimension_count, else head_dim; even, <= head_dim */
    int n_ctx_train;      /* {arch}.context_length */
    float rope_freq_base; /* {arch}.rope.freq_base, default 10000 */
    float rope_freq_scale;/* 1 / {arch}.rope.scaling.factor for "linear" scaling, else 1 */
    float rms_eps;        /* {arch}.attention.layer_norm_rms_epsilon */
    bool tied_output;     /* output.weight absent: token_embd.weight is used */
} qp_hparams;

typedef struct qp_linear {
    char name[QP_GGUF_MAX_TENSOR_NAME + 1]; /* the GGUF tensor */
    int layer;               /* 0..n_layer-1; -1 for the output projection */
    enum qp_lin_kind kind;
    int64_t rows, cols;      /* m outputs x k inputs */
    int file_type;           /* enum qp_type of the tensor in the file */
    const void *file_data;   /* the file's bytes (in the mapping) */

    const float *ref;        /* [rows][cols] the F32 file tensor, in place; NULL
                                for other file types (qp_linear_rows_f32) */
    char ref_from[40];       /* "f32", "f16→f32", "q4_1 dequantized→f32" */

    int q_type;              /* enum qp_type, or QP_LINEAR_REF: no quantized form */
    const void *q_data;      /* rows * qp_row_size(q_type, cols) bytes, or NULL */
    bool q_from_file;        /* q_data are the file's bytes (q_type == file_type) */
    /* q_data in the packed layout of the model's kernel variant, when it
     * has one for q_type (qp_model_set_kernels), else NULL */
    const void *q_packed;

    const float *bias;       /* [rows], or NULL (qwen2: Q, K, V have one) */

    /* owned storage behind ref (qp_model_hold_ref) / q_data / q_packed / bias (private) */
    float *ref_held_;
    void *q_owned_;
    void *q_packed_owned_;
    float *bias_owned_;
} qp_linear;

typedef struct qp_model qp_model;
typedef struct qp_threadpool qp_threadpool; /* kernels/kernels.h */
typedef struct qp_kernels qp_kernels;       /* kernels/kernels.h */

/* Opens `path` (mapped read-only) and loads it. On failure *out = NULL. */
qp_status qp_model_open(const char *path, qp_model **out, qp_error *err);

/* Loads from a GGUF file already open; `f` is BORROWED and must outlive the
 * model (tests build models in memory with the writer and qp_gguf_open_memory). */
qp_status qp_model_from_gguf(const qp_gguf_file *f, qp_model **out, qp_error *err);

void qp_model_free(qp_model *m); /* NULL is fine */

const qp_hparams *qp_model_hparams(const qp_model *m);
const qp_gguf_file *qp_model_gguf(const qp_model *m);  /* metadata for the tokenizer */
const char *qp_arch_name(enum qp_arch a);            /* "llama", "qwen2" */
const char *qp_lin_kind_name(enum qp_lin_kind k);    /* "attn_q", ..., "output", "none" */

/* Norm weights, FP32: [n_embd]. layer in [0, n_layer). */
const float *qp_model_attn_norm(const qp_model *m, int layer);
const float *qp_model_ffn_norm(const qp_model *m, int layer);
const float *qp_model_output_norm(const qp_model *m);
/* Llama 3.1 RoPE frequency divisors [n_rot / 2], or NULL when absent. */
const float *qp_model_rope_freqs(const qp_model *m);
/* The token embedding table as in the file (rows fetched by qp_model_embed). */
const qp_gguf_tensor_info *qp_model_token_embd(const qp_model *m);
/* x[n_embd] = row `token` of token_embd, converted to FP32. token must be
 * in [0, n_vocab) (unchecked: qp_forward checks its tokens). */
void qp_model_embed(const qp_model *m, int32_t token, float *x);

/* ---- linears ---- */
int qp_model_n_linears(const qp_model *m);                     /* n_layer * 7 + 1 */
const qp_linear *qp_model_linear(const qp_model *m, int i);    /* NULL if out of range */
/* Index of (layer, kind); kind QP_LIN_OUTPUT ignores layer. -1 if invalid. */
int qp_model_linear_index(const qp_model *m, int layer, enum qp_lin_kind kind);
/* Index by GGUF tensor name ("blk.3.ffn_up.weight"), -1 if none. The tied
 * output projection answers to both "output.weight" and "token_embd.weight". */
int qp_model_find_linear(const qp_model *m, const char *name);

/* Rows [r0, r1) of linear l's FP32 reference into out[(r1 - r0) * cols]:
 * copied from an F32 tensor, widened or dequantized from any other. */
qp_status qp_linear_rows_f32(const qp_linear *l, int64_t r0, int64_t r1, float *out, qp_error *err);

/* Describes the form used at a precision: for the reference its `ref_from`,
 * for the quantized form "q8_0 (quantized from f32)" / "q4_1 (file)", or
 * the reference's when the linear has no quantized form. Returns buf. */
const char *qp_linear_describe(const qp_linear *l, bool quantized, char *buf, size_t size);

/* Lends the model a thread pool (NULL: none, the default) on which
 * qp_model_set_tensor_type and qp_model_set_all quantize, rows split across
 * its threads; the result is the same bytes as with one thread (each row is
 * quantized on its own). The pool stays the caller's and must outlive its
 * use here; the model holds it only between these calls, so it may be the
 * pool of a qp_state (or any other) as long as nothing else runs on it at
 * the same time. */
void qp_model_set_threads(qp_model *m, qp_threadpool *tp);

/* Prepares the quantized forms for kernel variant v (NULL: none, the
 * default). A linear whose type v reads packed (qp_pack_rows: avx2 packs
 * Q4_K, Q8_0, Q4_0 and Q4_1 as groups of 8 rows) also keeps a packed copy, q_packed: made here
 * for every linear, and by qp_model_set_tensor_type from then on. The
 * forward pass of a qp_state using the same v multiplies q_packed instead
 * of q_data: the same products up to float summation order, faster (the
 * layout, kernels/pack.c). Costs the packed linears' quantized bytes once
 * more (q_data stays: the profiler dequantizes it). QP_ERR_RUNTIME if out
 * of memory: the model is then left with no packed copy. */
qp_status qp_model_set_kernels(qp_model *m, const qp_kernels *v, qp_error *err);
/* The variant set by qp_model_set_kernels, or NULL. */
const qp_kernels *qp_model_kernels(const qp_model *m);

/* Appends to buf (a NUL-terminated list, "" or "none" when empty) the
 * names of the packed layouts the model's linears now have, each once,
 * separated by ", " ("q4_1 x8, q8_0 x8"); buf is left as it was when there
 * are none. */
void qp_model_packed_layouts(const qp_model *m, char *buf, size_t size);

/* y[n][rows] = x[n][cols] . W^T for linear l's quantized form (q_type must
 * not be QP_LINEAR_REF) on kernels v and pool tp: the packed copy when the
 * model was prepared for v (qp_model_set_kernels), else q_data. No bias. */
qp_status qp_linear_matmul(const qp_model *m, const qp_linear *l, const qp_kernels *v,
                           qp_threadpool *tp, const float *x, int64_t n, float *y, qp_error *err);

/* Sets the quantized form of linear i to `type`:
 *   QP_LINEAR_REF   - drop it (the linear runs FP32 at every precision);
 *   the file's type - use the file's bytes (no copy, no requantization);
 *   any other type  - quantize the FP32 reference row by row (qp_quantize_row,
 *                     no importance matrix).
 * QP_ERR_INPUT (linear unchanged) if the type has no kernels or the row
 * length is not a multiple of its block size; QP_ERR_RUNTIME if out of memory. */
qp_status qp_model_set_tensor_type(qp_model *m, int i, int type, qp_error *err);

typedef struct qp_fallback {
    int linear;  /* index */
    int wanted;  /* type asked */
    int got;     /* type used */
} qp_fallback;

/* Sets every linear (the output projection included) to `type`, or to
 * qp_fallback_type where the rows do not fit; each fallback is recorded in
 * fb[0..max_fb) and counted in *n_fb (the count may exceed max_fb; fb may be
 * NULL). QP_LINEAR_REF drops every quantized form. QP_ERR_INPUT, nothing
 * changed, for a type qprof has no kernels for; else stops at the first error. */
qp_status qp_model_set_all(qp_model *m, int type, qp_fallback *fb, int max_fb, int *n_fb,
                           qp_error *err);

/* qp_model_set_all for the seven linears of one layer (layer -1: the output
 * projection alone): `type` with llama.cpp's fallbacks, recorded as there,
 * and the packed copies of every quantized linear rebuilt in one arena
 * (so a pass that quantizes one layer at a time holds one layer's). */
qp_status qp_model_set_layer_type(qp_model *m, int layer, int type, qp_fallback *fb, int max_fb, int *n_fb,
                                  qp_error *err);

/* Holds (hold) or releases the FP32 form of the seven linears of a layer
 * (layer -1: the output projection): their rows dequantized once into
 * memory, so that the passes over that layer - reference products,
 * quantization to other types, weight errors - do not dequantize them
 * again. `ref` points at it while held. F32 tensors are in place already.
 * The form of one layer at a time: qprof layers holds the layer it is at. */
qp_status qp_model_hold_ref(qp_model *m, int layer, bool hold, qp_error *err);

/* Value of `type` for qp_model_use_weights: each linear in its file type. */
#define QP_TYPE_FILE (-2)

/* Chooses the weights a forward pass at QP_PREC_QUANT multiplies, the one
 * policy `run`, `ppl` and later commands share:
 *   QP_TYPE_FILE  - every linear whose file tensor is quantized or
 *                   F16/BF16 runs on the file's own bytes through
 *                   qp_matmul; F32 linears stay on the FP32 path (OpenBLAS
 *                   is the faster F32 kernel). What llama.cpp computes.
 *   a type        - every linear requantized to it from FP32
 *                   (qp_model_set_all), llama.cpp's fallbacks recorded in
 *                   fb[0..max_fb) and counted in *n_fb (fb may be NULL);
 *                   a linear already of that type keeps the file's bytes;
 *   QP_LINEAR_REF - no quantized form at all (every linear FP32).
 * Then, with `packed` and a variant v, the packed copies v multiplies
 * (qp_model_set_kernels). QP_ERR_INPUT for a type without kernels. */
qp_status qp_model_use_weights(qp_model *m, int type, const qp_kernels *v, bool packed,
                               qp_fallback *fb, int max_fb, int *n_fb, qp_error *err);

/* One line naming the forms the linears run in at a precision, counted:
 * "210 x q4_1 (file), 1 x q8_0 (file)"; buf is NUL-terminated. */
void qp_model_describe_linears(const qp_model *m, bool quantized, char *buf, size_t size);

/* Bytes held by the model beyond the mapped file: owned FP32 references,
 * quantized copies, norms. */
size_t qp_model_owned_bytes(const qp_model *m);

/* ==================================================================== */
/* forward: the forward pass of a llama-family model (model.h),
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

/* The KV cache's element type. F16 is llama.cpp's default: half the bytes
 * decoding reads at depth, rounding each k and v value to 11 significant
 * bits; Q8_0 halves them again (blocks of 32, one scale each; the head
 * size must be a multiple of 32); F32 stores what the linears computed. */
enum qp_kv_type {
    QP_KV_F16 = 0,
    QP_KV_F32 = 1,
    QP_KV_Q8_0 = 2,
};
/* The OpenBLAS core this CPU could use when OpenBLAS fell back to its
 * generic Prescott (SSE3) kernels because it does not know the CPU
 * ("SkylakeX" with AVX-512, "Haswell" with AVX2), else NULL. OpenBLAS
 * reads OPENBLAS_CORETYPE only when it loads, so acting on the answer
 * takes a new process (qprof re-executes itself once). */
const char *qp_blas_better_core(void);

/* "f16", "f32", "q8_0"; qp_kv_type_from_name: -1 for another name. */
const char *qp_kv_type_name(enum qp_kv_type t);
int qp_kv_type_from_name(const char *name);

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
    enum qp_kv_type kv_type; /* default (0) F16 */
} qp_state_opts;

/* Allocates every buffer once: the KV cache (2 * n_layer * n_ctx rows of
 * n_head_kv * head_dim values of kv_type) and the run-state for n_batch
 * rows. opts may be NULL. QP_ERR_INPUT for a KV type the model's head
 * size cannot take. */
qp_status qp_state_create(const qp_model *m, const qp_state_opts *opts, qp_state **out,
                          qp_error *err);
void qp_state_free(qp_state *s); /* NULL is fine */

const qp_model *qp_state_model(const qp_state *s);
int qp_state_n_ctx(const qp_state *s);
/* Bytes of the KV cache, keys and values. */
size_t qp_state_kv_bytes(const qp_state *s);
/* Bytes the state holds or will grow to in a pass: activations, scores,
 * the KV cache and the largest dequantization scratch an FP32 product of
 * the model needs (qprof layers checks --max-memory with it). */
size_t qp_state_bytes(const qp_state *s);
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

/* The forward pass in steps, for tools that go layer by layer (qprof
 * layers keeps only the residual stream between layers): x[n][n_embd] is
 * the caller's residual stream.
 *   qp_forward_embed   x = the embeddings of tokens[0..n) (EMBED fires);
 *   qp_forward_layer   layer `layer` on x in place at positions pos0..:
 *                      attention, residual add, FFN, residual add (the
 *                      cache of that layer is written, as by qp_forward);
 *   qp_forward_logits  logits[n][n_vocab] of x: final norm, output
 *                      projection (OUTPUT_NORM and LINEAR fire).
 * Embedding, every layer in order, then the logits give the bits of
 * qp_forward with logits_all: the same operations on the same rows, in
 * chunks of n_batch. QP_ERR_INPUT for rows past the context, a token
 * outside the vocabulary or a layer the model lacks. */
qp_status qp_forward_embed(qp_state *s, const int32_t *tokens, int n_tokens, float *x, qp_error *err);
qp_status qp_forward_layer(qp_state *s, int layer, float *x, int n_tokens, int pos0, enum qp_precision prec,
                           qp_error *err);
qp_status qp_forward_logits(qp_state *s, const float *x, int n_tokens, enum qp_precision prec, float *logits,
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
/* One linear (layer, kind; QP_LIN_OUTPUT ignores layer) on caller-provided
 * rows, as the forward pass computes it: in[n_tokens][cols] ->
 * out[n_tokens][rows], its bias added; at QP_PREC_QUANT through its
 * quantized form when it has one, else in FP32 from its reference. Hooks
 * fire as LINEAR. Any number of rows (no n_batch limit). */
qp_status qp_forward_linear(qp_state *s, int layer, enum qp_lin_kind kind, const float *in, float *out,
                            int n_tokens, enum qp_precision prec, qp_error *err);

/* ==================================================================== */
/* sampler: choosing the next token, and the generation loop
 * that `qprof run` and the generation tests share.
 *
 * Sampling (llama2.c's sampler, run.c):
 *   temp == 0  greedy: the argmax of the logits, the lowest id on a tie, so
 *              a run is a function of the logits alone;
 *   temp > 0   softmax(logits / temp), optionally cut to the smallest set of
 *              most likely tokens whose mass reaches top_p (nucleus
 *              sampling, Holtzman et al. 2019), then one draw.
 * The random numbers are xorshift64* (Vigna 2016) from a seed spread by
 * splitmix64, so a (seed, logits sequence) pair always gives the same
 * tokens on every platform: the draw uses only integer arithmetic and one
 * float conversion.
 */

/* ======================================================================== */
/* sampler                                                                  */
/* ======================================================================== */

typedef struct qp_sampler qp_sampler;

/* temp >= 0 (0: greedy); top_p in (0, 1] (1: off); any seed. QP_ERR_INPUT
 * for a parameter out of range, QP_ERR_RUNTIME when out of memory. */
qp_status qp_sampler_create(int n_vocab, float temp, float top_p, uint64_t seed,
                            qp_sampler **out, qp_error *err);
void qp_sampler_free(qp_sampler *s); /* NULL is fine */

/* The next token for logits[n_vocab] (not modified). */
int32_t qp_sampler_sample(qp_sampler *s, const float *logits);

/* The argmax of x[n], lowest index on a tie (llama2.c's argmax). */
int32_t qp_argmax(const float *x, int n);

/* Next value in [0, 1) of the sampler's generator (exposed for tests). */
float qp_sampler_uniform(qp_sampler *s);

/* ======================================================================== */
/* generation                                                               */
/* ======================================================================== */

/* Called once per token added to the sequence (the prompt's are not
 * reported): its id and its position. Returns false to stop. */
typedef bool (*qp_token_fn)(int32_t token, int pos, void *user);

typedef struct qp_gen_opts {
    int n_predict;        /* tokens to generate at most */
    const int32_t *stop;  /* a generated token in stop[0..n_stop) ends the run; */
    int n_stop;           /*   it is reported and kept in the sequence */
    qp_token_fn on_token; /* may be NULL */
    void *user;
} qp_gen_opts;

typedef struct qp_gen_stats {
    int n_prompt;         /* tokens evaluated as the prompt */
    int n_gen;            /* tokens generated (sampled) */
    int n_decode;         /* single-token forward passes: n_gen - 1 (see below) */
    double t_prompt;      /* s: the prompt's forward pass */
    double t_first;       /* s: start to the first generated token (prompt + sample) */
    double t_decode;      /* s: the n_decode forward passes and their sampling */
    double cpu_prompt;    /* CPU-s of the whole process (all threads) in the */
    double cpu_decode;    /*   same two intervals: on a shared machine the wall
                             times measure the neighbours too, these do not
                             (busy-waiting threads count as busy) */
    bool stopped;         /* ended by a stop token or the callback */
    bool ctx_full;        /* ended because the context was full */
} qp_gen_stats;

/* Runs prompt[0..n_prompt) (n_prompt >= 1) through the state at positions
 * 0.. in one batched forward pass (the cache is overwritten), then samples
 * and decodes one token at a time: token i + 1 comes from the logits of the
 * forward pass of token i. Ends after opts->n_predict tokens, at a stop
 * token, when the callback returns false, or when the context is full.
 * seq (may be NULL) receives prompt + generated tokens, room for n_prompt
 * + n_predict; stats may be NULL. The state's logits_all is switched off.
 * Times: t_decode runs from the first sample to the end, so it holds the
 * n_decode forward passes, n_gen - 1 samples and the callbacks.
 *
 * The last sampled token is not run through the model (nothing would read
 * its logits), so n_decode = n_gen - 1 whenever n_gen >= 1. */
qp_status qp_generate(qp_state *st, qp_sampler *smp, const int32_t *prompt, int n_prompt,
                      const qp_gen_opts *opts, int32_t *seq, qp_gen_stats *stats, qp_error *err);

#endif
