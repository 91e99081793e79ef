/* profiler/model.h - a llama-family model loaded from GGUF, with two forms
 * of every linear weight: an FP32 reference and an optional quantized form.
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
 *   - ref: FP32 [rows][cols], always present. An F32 file tensor is used in
 *     place (no copy); F16/BF16 are widened, quantized tensors dequantized.
 *     `ref_from` records which ("f32", "f16→f32", "q4_1 dequantized→f32").
 *   - q: an optional quantized form (q_type, q_data), used by the forward
 *     pass at QP_PREC_QUANT through kernels/ (qp_matmul). Set by
 *     qp_model_set_tensor_type; when the type is the file's own, the file's
 *     bytes are used as they are, else the reference is quantized.
 * The model is read-only while any qp_state uses it: change types between
 * forward passes, not during one.
 */
#ifndef QP_PROFILER_MODEL_H
#define QP_PROFILER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../gguf/gguf.h"

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
    char name[GGUF_MAX_TENSOR_NAME + 1]; /* the GGUF tensor */
    int layer;               /* 0..n_layer-1; -1 for the output projection */
    enum qp_lin_kind kind;
    int64_t rows, cols;      /* m outputs x k inputs */
    int file_type;           /* enum qp_type of the tensor in the file */
    const void *file_data;   /* the file's bytes (in the mapping) */

    const float *ref;        /* [rows][cols] FP32 reference */
    char ref_from[40];       /* "f32", "f16→f32", "q4_1 dequantized→f32" */

    int q_type;              /* enum qp_type, or QP_LINEAR_REF: no quantized form */
    const void *q_data;      /* rows * qp_row_size(q_type, cols) bytes, or NULL */
    bool q_from_file;        /* q_data are the file's bytes (q_type == file_type) */
    /* q_data in the packed layout of the model's kernel variant, when it
     * has one for q_type (qp_model_set_kernels), else NULL */
    const void *q_packed;

    const float *bias;       /* [rows], or NULL (qwen2: Q, K, V have one) */

    /* owned storage behind ref / q_data / bias (private) */
    float *ref_owned_;
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
 * model (tests build models in memory with the writer and gguf_open_memory). */
qp_status qp_model_from_gguf(const gguf_file *f, qp_model **out, qp_error *err);

void qp_model_free(qp_model *m); /* NULL is fine */

const qp_hparams *qp_model_hparams(const qp_model *m);
const gguf_file *qp_model_gguf(const qp_model *m);  /* metadata for the tokenizer */
const char *qp_arch_name(enum qp_arch a);            /* "llama", "qwen2" */
const char *qp_lin_kind_name(enum qp_lin_kind k);    /* "attn_q", ..., "output", "none" */

/* Norm weights, FP32: [n_embd]. layer in [0, n_layer). */
const float *qp_model_attn_norm(const qp_model *m, int layer);
const float *qp_model_ffn_norm(const qp_model *m, int layer);
const float *qp_model_output_norm(const qp_model *m);
/* Llama 3.1 RoPE frequency divisors [n_rot / 2], or NULL when absent. */
const float *qp_model_rope_freqs(const qp_model *m);
/* The token embedding table as in the file (rows fetched by qp_model_embed). */
const gguf_tensor_info *qp_model_token_embd(const qp_model *m);
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

/* The type qp_model_set_all uses for a row of `cols` when `type` is asked:
 * `type` if cols is a multiple of its block size; else llama.cpp's fallback
 * (llama_tensor_get_type's convert_incompatible_tensor): Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0 (llama.cpp picks IQ4_NL,
 * which qprof does not implement; Q4_0 has the same 4.5 bits and 32-blocks),
 * and F16 when even that does not divide (llama.cpp's last resort; for a
 * 32-block type that does not fit llama.cpp stops, qprof also uses F16). */
int qp_fallback_type(int type, int64_t cols);

typedef struct qp_fallback {
    int linear;  /* index */
    int wanted;  /* type asked */
    int got;     /* type used */
} qp_fallback;

/* Sets every linear (the output projection included) to `type`, or to
 * qp_fallback_type where the rows do not fit; each fallback is recorded in
 * fb[0..max_fb) and counted in *n_fb (the count may exceed max_fb; fb may be
 * NULL). QP_LINEAR_REF drops every quantized form. Stops at the first error. */
qp_status qp_model_set_all(qp_model *m, int type, qp_fallback *fb, int max_fb, int *n_fb,
                           qp_error *err);

/* Bytes held by the model beyond the mapped file: owned FP32 references,
 * quantized copies, norms. */
size_t qp_model_owned_bytes(const qp_model *m);

#endif
