/* model/model.c - loading a llama-family GGUF model (see model.h).
 *
 * Loading reads the hyper-parameters, then walks the expected tensors in
 * order, checking each shape against them and building the FP32 reference
 * of each linear. Every tensor of the file must be used by exactly one slot:
 * a tensor nobody asked for (a Qwen3 q_norm, a Phi fused qkv) means a
 * model this forward pass would run wrongly, so it is refused by name.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../quant/quant.h"
#include "model.h"

/* ======================================================================== */
/* the model                                                                */
/* ======================================================================== */

/* Memory: the weights stay in the read-only mapping of the file, in the
 * file's types; the model owns only what qp_model_owned_bytes lists
 * (quantized copies in another type, packed copies, norms and biases). */
struct qp_model {
    qp_gguf_file *owned_file;      /* set when opened by path */
    const qp_gguf_file *f;
    const char *fname;          /* for messages */
    qp_hparams hp;

    const qp_gguf_tensor_info *token_embd;
    float *output_norm;         /* [n_embd] */
    float *attn_norm;           /* [n_layer][n_embd] */
    float *ffn_norm;            /* [n_layer][n_embd] */
    float *rope_freqs;          /* [n_rot/2] or NULL */

    int n_linears;              /* n_layer * 7 + 1 */
    qp_linear *lin;             /* [n_linears] */

    bool *used;                 /* [n_tensors]: claimed by a slot while loading */
    qp_threadpool *pool;        /* borrowed (qp_model_set_threads); NULL: one thread */
    const qp_kernels *kernels;  /* packed copies are for it (qp_model_set_kernels) */
    /* The packed copies made for all linears at once (pack_all) share one
     * allocation: one huge-page-aligned block, not one per linear, whose
     * 2 MiB rounding and huge pages would cost 2 MiB a linear (SmolLM2's
     * 211 linears of ~0.2 MB: 420 MB resident for 98 MB of weights). */
    void *pack_arena;
};

static const char *const lin_kind_names[] = {
    [QP_LIN_Q] = "attn_q",       [QP_LIN_K] = "attn_k",     [QP_LIN_V] = "attn_v",
    [QP_LIN_O] = "attn_output",  [QP_LIN_GATE] = "ffn_gate", [QP_LIN_UP] = "ffn_up",
    [QP_LIN_DOWN] = "ffn_down",  [QP_LIN_OUTPUT] = "output", [QP_LIN_NONE] = "none",
};

const char *qp_lin_kind_name(enum qp_lin_kind k)
{
    return (unsigned)k <= QP_LIN_NONE ? lin_kind_names[k] : "?";
}

const char *qp_arch_name(enum qp_arch a)
{
    switch (a) {
    case QP_ARCH_LLAMA: return "llama";
    case QP_ARCH_QWEN2: return "qwen2";
    }
    return "?";
}

/* ======================================================================== */
/* hyper-parameters                                                         */
/* ======================================================================== */

/* Reads integer key "{arch}.{suffix}" into *out, in [lo, hi]. Absent:
 * *out = def if def >= 0, else an error naming the key. */
static qp_status get_hp_int(const qp_model *m, const char *arch, const char *suffix,
                            int64_t lo, int64_t hi, int64_t def, int *out, qp_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    switch (qp_gguf_get_int(m->f, key, lo, hi, &v)) {
    case QP_GGUF_FOUND:
        *out = (int)v;
        return QP_OK;
    case QP_GGUF_NOT_FOUND:
        if (def >= 0) {
            *out = (int)def;
            return QP_OK;
        }
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "missing metadata key %s", key);
    case QP_GGUF_OUT_OF_RANGE:
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s out of range [%lld, %lld]", key,
                            (long long)lo, (long long)hi);
    default:
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s is not an integer", key);
    }
}

static qp_status get_hp_float(const qp_model *m, const char *arch, const char *suffix,
                              double def, bool required, float *out, qp_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v;
    switch (qp_gguf_get_float(m->f, key, &v)) {
    case QP_GGUF_FOUND:
        if (!isfinite(v))
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s is not finite", key);
        *out = (float)v;
        return QP_OK;
    case QP_GGUF_NOT_FOUND:
        if (required)
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "missing metadata key %s", key);
        *out = (float)def;
        return QP_OK;
    default:
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s is not a float", key);
    }
}

/* RoPE scaling: "none" and "linear" are plain position scalings and are
 * supported; YaRN and LongRoPE change the rotation itself and are refused
 * rather than run wrong. Llama 3.1's scaling needs no key: it ships as the
 * rope_freqs.weight tensor, loaded with the others. */
static qp_status read_rope_scaling(qp_model *m, const char *arch, qp_error *err)
{
    char key[128];
    m->hp.rope_freq_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    qp_gguf_string type = { 0 };
    qp_gguf_get_status st = qp_gguf_get_str(m->f, key, &type);
    if (st == QP_GGUF_WRONG_TYPE)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s is not a string", key);
    float factor = 0.0f;
    qp_status s = get_hp_float(m, arch, "rope.scaling.factor", 0.0, false, &factor, err);
    if (s)
        return s;
    if (st == QP_GGUF_FOUND && strcmp(type.data, "none") != 0) {
        if (strcmp(type.data, "linear") != 0)
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                                "unsupported RoPE scaling type '%s' (%s): only none and linear",
                                type.data, key);
        if (!(factor > 0.0f))
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                                "linear RoPE scaling needs %s.rope.scaling.factor > 0", arch);
        m->hp.rope_freq_scale = 1.0f / factor;
        return QP_OK;
    }
    /* the older key, from before rope.scaling.type existed */
    float scale_linear = 0.0f;
    s = get_hp_float(m, arch, "rope.scale_linear", 0.0, false, &scale_linear, err);
    if (s)
        return s;
    if (scale_linear > 0.0f && scale_linear != 1.0f)
        m->hp.rope_freq_scale = 1.0f / scale_linear;
    return QP_OK;
}

/* Fills m->hp from the metadata. Keys are "{arch}.*" as llama.cpp writes
 * them (LLM_KV_* in llama-arch.cpp); integer keys are read leniently
 * because converters disagree on u32 vs i32. */
static qp_status read_hparams(qp_model *m, qp_error *err)
{
    qp_hparams *hp = &m->hp;
    qp_gguf_string arch;
    if (qp_gguf_get_str(m->f, "general.architecture", &arch) != QP_GGUF_FOUND)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "missing general.architecture (a string)");
    if (strcmp(arch.data, "llama") == 0) {
        hp->arch = QP_ARCH_LLAMA;
        hp->rope_style = QP_ROPE_NORM;
    } else if (strcmp(arch.data, "qwen2") == 0) {
        hp->arch = QP_ARCH_QWEN2;
        hp->rope_style = QP_ROPE_NEOX;
    } else {
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "unsupported architecture '%s' (supported: llama, qwen2)", arch.data);
    }
    const char *a = arch.data;
    /* bounds: large enough for any real model, small enough that products
     * of two of them (buffer sizes) cannot overflow int64 */
    const int64_t big = 1 << 20;
    qp_status s;
    if ((s = get_hp_int(m, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = get_hp_int(m, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = get_hp_int(m, a, "attention.head_count", 1, 4096, -1, &hp->n_head, err)) ||
        (s = get_hp_int(m, a, "attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv, err)) ||
        (s = get_hp_int(m, a, "feed_forward_length", 1, big, -1, &hp->n_ff, err)) ||
        (s = get_hp_int(m, a, "context_length", 1, INT32_MAX, -1, &hp->n_ctx_train, err)))
        return s;
    if ((s = get_hp_int(m, a, "attention.key_length", 1, big, hp->n_embd / hp->n_head, &hp->head_dim, err)))
        return s;
    int v_len;
    if ((s = get_hp_int(m, a, "attention.value_length", 1, big, hp->head_dim, &v_len, err)))
        return s;
    if ((s = get_hp_int(m, a, "rope.dimension_count", 1, big, hp->head_dim, &hp->n_rot, err)))
        return s;
    if ((s = get_hp_float(m, a, "rope.freq_base", 10000.0, false, &hp->rope_freq_base, err)) ||
        (s = get_hp_float(m, a, "attention.layer_norm_rms_epsilon", 0.0, true, &hp->rms_eps, err)))
        return s;
    if ((s = read_rope_scaling(m, a, err)))
        return s;

    if (hp->head_dim < 1 || v_len != hp->head_dim)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "unsupported head sizes: key %d, value %d (must be equal)",
                            hp->head_dim, v_len);
    if (hp->n_head % hp->n_head_kv != 0)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "head_count %d is not a multiple of head_count_kv %d",
                            hp->n_head, hp->n_head_kv);
    if (hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "rope.dimension_count %d must be even and <= the head size %d",
                            hp->n_rot, hp->head_dim);
    if (!(hp->rms_eps > 0.0f) || !(hp->rope_freq_base > 0.0f))
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "rms epsilon (%g) and rope.freq_base (%g) must be > 0",
                            (double)hp->rms_eps, (double)hp->rope_freq_base);
    return QP_OK;
}

/* ======================================================================== */
/* tensors                                                                  */
/* ======================================================================== */

/* Finds `name`, checks its shape is exactly [ne0] (ne1 == 0) or [ne0, ne1]
 * and that its type can be converted to FP32, and marks it used. *out =
 * NULL when absent and !required. */
static qp_status want_tensor(qp_model *m, const char *name, int64_t ne0, int64_t ne1,
                             bool required, const qp_gguf_tensor_info **out, qp_error *err)
{
    *out = NULL;
    const int64_t idx = qp_gguf_find_tensor_index(m->f, name);
    if (idx < 0) {
        if (!required)
            return QP_OK;
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "missing tensor %s", name);
    }
    const qp_gguf_tensor_info *t = qp_gguf_tensor(m->f, idx);
    const uint32_t want_dims = ne1 ? 2 : 1;
    /* trailing dimensions of 1 are the same shape (some converters write them) */
    uint32_t dims = t->n_dims;
    while (dims > want_dims && t->ne[dims - 1] == 1)
        dims--;
    if (dims != want_dims || t->ne[0] != ne0 || (ne1 && t->ne[1] != ne1)) {
        char got[96];
        int len = 0;
        for (uint32_t d = 0; d < t->n_dims && len < (int)sizeof got - 24; d++)
            len += snprintf(got + len, sizeof got - (size_t)len, "%s%lld", d ? " x " : "",
                            (long long)t->ne[d]);
        if (ne1)
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                                "tensor %s has shape [%s], expected [%lld x %lld]", name, got,
                                (long long)ne0, (long long)ne1);
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "tensor %s has shape [%s], expected [%lld]", name, got, (long long)ne0);
    }
    const qp_type_traits *tt = qp_type_info(t->type);
    if (!tt || !tt->can_quantize)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "tensor %s has type %s, which qprof cannot dequantize", name,
                            tt ? tt->name : "unknown");
    m->used[idx] = true;
    *out = t;
    return QP_OK;
}

/* A small FP32 vector (norm weights, biases, rope factors) from tensor t. */
static qp_status load_vector(qp_model *m, const qp_gguf_tensor_info *t, float *dst, qp_error *err)
{
    qp_error e;
    if (qp_dequantize_row(t->type, t->data, dst, t->ne[0], &e))
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "tensor %s: %s", t->name, e.msg);
    return QP_OK;
}

/* Describes linear l from file tensor t. No FP32 copy is made: an F32
 * tensor is the reference in place, any other type is dequantized a slice
 * of rows at a time when a pass needs it (qp_linear_rows_f32). */
static qp_status load_linear(qp_model *m, qp_linear *l, const qp_gguf_tensor_info *t, int layer,
                             enum qp_lin_kind kind, qp_error *err)
{
    snprintf(l->name, sizeof l->name, "%s", t->name);
    l->layer = layer;
    l->kind = kind;
    l->cols = t->ne[0];
    l->rows = t->ne[1];
    l->file_type = t->type;
    l->file_data = t->data;
    l->q_type = QP_LINEAR_REF;
    const qp_type_traits *tt = qp_type_info(t->type);
    if (t->type == QP_TYPE_F32) {
        /* used in place: the mapping is page-aligned and tensor offsets are
         * multiples of general.alignment (32 by default); a file with an
         * alignment below 4 could misalign floats, hence the check */
        if ((uintptr_t)t->data % sizeof(float) != 0)
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "tensor %s is not 4-byte aligned",
                                t->name);
        l->ref = t->data;
        snprintf(l->ref_from, sizeof l->ref_from, "f32");
        return QP_OK;
    }
    /* the reader sized the tensor from its type; what it cannot dequantize
     * this model cannot run */
    if (!tt || !tt->can_quantize)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "tensor %s: type %s cannot be dequantized by qprof",
                            t->name, tt ? tt->name : "unknown");
    if (t->type == QP_TYPE_F16 || t->type == QP_TYPE_BF16)
        snprintf(l->ref_from, sizeof l->ref_from, "%s→f32", tt->name);
    else
        snprintf(l->ref_from, sizeof l->ref_from, "%s dequantized→f32", tt->name);
    return QP_OK;
}

qp_status qp_linear_rows_f32(const qp_linear *l, int64_t r0, int64_t r1, float *out, qp_error *err)
{
    if (r0 < 0 || r1 > l->rows || r0 > r1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "%s: rows %lld..%lld of %lld", l->name,
                            (long long)r0, (long long)r1, (long long)l->rows);
    const size_t cols = (size_t)l->cols;
    if (l->ref) {
        memcpy(out, l->ref + (size_t)r0 * cols, (size_t)(r1 - r0) * cols * sizeof(float));
        return QP_OK;
    }
    const size_t row_bytes = qp_row_size(l->file_type, l->cols);
    const char *src = (const char *)l->file_data + (size_t)r0 * row_bytes;
    for (int64_t r = r0; r < r1; r++, src += row_bytes, out += cols) {
        qp_status st = qp_dequantize_row(l->file_type, src, out, l->cols, err);
        if (st != QP_OK)
            return st;
    }
    return QP_OK;
}

/* Loads "blk.L.<base>.weight" (and .bias, required or optional) into
 * linear slot (L, kind), expecting `rows` outputs of `cols` inputs. */
static qp_status load_layer_linear(qp_model *m, int L, enum qp_lin_kind kind, int64_t cols,
                                   int64_t rows, bool bias_required, qp_error *err)
{
    const char *base = lin_kind_names[kind];
    char name[QP_GGUF_MAX_TENSOR_NAME + 16];
    const qp_gguf_tensor_info *t;
    qp_linear *l = &m->lin[L * QP_LIN_PER_LAYER + kind];
    snprintf(name, sizeof name, "blk.%d.%s.weight", L, base);
    qp_status s = want_tensor(m, name, cols, rows, true, &t, err);
    if (s || (s = load_linear(m, l, t, L, kind, err)))
        return s;
    snprintf(name, sizeof name, "blk.%d.%s.bias", L, base);
    if ((s = want_tensor(m, name, rows, 0, bias_required, &t, err)))
        return s;
    if (t) {
        if (!(l->bias_owned_ = malloc((size_t)rows * sizeof(float))))
            return qp_error_set(err, QP_ERR_RUNTIME, m->fname, -1, "out of memory");
        if ((s = load_vector(m, t, l->bias_owned_, err)))
            return s;
        l->bias = l->bias_owned_;
    }
    return QP_OK;
}

static qp_status load_tensors(qp_model *m, qp_error *err)
{
    qp_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim;     /* query width */
    const int64_t KVD = (int64_t)hp->n_head_kv * hp->head_dim; /* key/value width */
    const qp_gguf_tensor_info *t;
    qp_status s;

    /* the vocabulary size is the embedding's row count; a vocab_size key,
     * when present, must agree */
    const int64_t ie = qp_gguf_find_tensor_index(m->f, "token_embd.weight");
    if (ie < 0)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "missing tensor token_embd.weight");
    const int64_t n_vocab = qp_gguf_tensor(m->f, ie)->ne[1];
    if (n_vocab < 1 || n_vocab > INT32_MAX)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "token_embd.weight has %lld rows", (long long)n_vocab);
    hp->n_vocab = (int)n_vocab;
    int vocab_key;
    if ((s = get_hp_int(m, hp->arch == QP_ARCH_LLAMA ? "llama" : "qwen2", "vocab_size", 1,
                        INT32_MAX, n_vocab, &vocab_key, err)))
        return s;
    if (vocab_key != hp->n_vocab)
        return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                            "vocab_size %d disagrees with token_embd.weight's %d rows", vocab_key,
                            hp->n_vocab);
    if ((s = want_tensor(m, "token_embd.weight", E, n_vocab, true, &m->token_embd, err)))
        return s;

    m->n_linears = hp->n_layer * QP_LIN_PER_LAYER + 1;
    m->lin = calloc((size_t)m->n_linears, sizeof *m->lin);
    m->attn_norm = malloc((size_t)hp->n_layer * (size_t)E * sizeof(float));
    m->ffn_norm = malloc((size_t)hp->n_layer * (size_t)E * sizeof(float));
    m->output_norm = malloc((size_t)E * sizeof(float));
    if (!m->lin || !m->attn_norm || !m->ffn_norm || !m->output_norm)
        return qp_error_set(err, QP_ERR_RUNTIME, m->fname, -1, "out of memory");

    /* qwen2 always has Q, K, V biases (llama.cpp requires them); llama may */
    const bool qkv_bias = hp->arch == QP_ARCH_QWEN2;
    for (int L = 0; L < hp->n_layer; L++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", L);
        if ((s = want_tensor(m, name, E, 0, true, &t, err)) ||
            (s = load_vector(m, t, m->attn_norm + (size_t)L * (size_t)E, err)))
            return s;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", L);
        if ((s = want_tensor(m, name, E, 0, true, &t, err)) ||
            (s = load_vector(m, t, m->ffn_norm + (size_t)L * (size_t)E, err)))
            return s;
        if ((s = load_layer_linear(m, L, QP_LIN_Q, E, QD, qkv_bias, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_K, E, KVD, qkv_bias, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_V, E, KVD, qkv_bias, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_O, QD, E, false, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_GATE, E, F, false, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_UP, E, F, false, err)) ||
            (s = load_layer_linear(m, L, QP_LIN_DOWN, F, E, false, err)))
            return s;
    }

    if ((s = want_tensor(m, "output_norm.weight", E, 0, true, &t, err)) ||
        (s = load_vector(m, t, m->output_norm, err)))
        return s;
    /* tied embeddings (SmolLM2, Qwen2 0.5B): no output.weight, the
     * embedding matrix doubles as the output projection */
    qp_linear *out = &m->lin[m->n_linears - 1];
    if ((s = want_tensor(m, "output.weight", E, n_vocab, false, &t, err)))
        return s;
    hp->tied_output = t == NULL;
    if ((s = load_linear(m, out, t ? t : m->token_embd, -1, QP_LIN_OUTPUT, err)))
        return s;

    if ((s = want_tensor(m, "rope_freqs.weight", hp->n_rot / 2, 0, false, &t, err)))
        return s;
    if (t) {
        if (!(m->rope_freqs = malloc((size_t)(hp->n_rot / 2) * sizeof(float))))
            return qp_error_set(err, QP_ERR_RUNTIME, m->fname, -1, "out of memory");
        if ((s = load_vector(m, t, m->rope_freqs, err)))
            return s;
    }

    for (int64_t i = 0; i < qp_gguf_n_tensors(m->f); i++)
        if (!m->used[i])
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1,
                                "unsupported tensor %s (not part of a %s model as qprof runs it)",
                                qp_gguf_tensor(m->f, i)->name, qp_arch_name(hp->arch));
    return QP_OK;
}

/* ======================================================================== */
/* open / free                                                              */
/* ======================================================================== */

/* Order: hyper-parameters first (every shape check needs them), then the
 * tensors, then the check that nothing in the file was left unused. */
qp_status qp_model_from_gguf(const qp_gguf_file *f, qp_model **out, qp_error *err)
{
    *out = NULL;
    qp_model *m = calloc(1, sizeof *m);
    if (!m)
        return qp_error_set(err, QP_ERR_RUNTIME, qp_gguf_name(f), -1, "out of memory");
    m->f = f;
    m->fname = qp_gguf_name(f) ? qp_gguf_name(f) : "";
    const int64_t nt = qp_gguf_n_tensors(f);
    m->used = calloc(nt > 0 ? (size_t)nt : 1, sizeof *m->used);
    qp_status s = m->used ? QP_OK : qp_error_set(err, QP_ERR_RUNTIME, m->fname, -1, "out of memory");
    if (!s)
        s = read_hparams(m, err);
    if (!s)
        s = load_tensors(m, err);
    free(m->used);
    m->used = NULL;
    if (s) {
        qp_model_free(m);
        return s;
    }
    *out = m;
    return QP_OK;
}

qp_status qp_model_open(const char *path, qp_model **out, qp_error *err)
{
    *out = NULL;
    qp_gguf_file *f;
    qp_status s = qp_gguf_open(path, &f, err);
    if (s)
        return s;
    s = qp_model_from_gguf(f, out, err);
    if (s) {
        qp_gguf_close(f);
        return s;
    }
    (*out)->owned_file = f;
    return QP_OK;
}

void qp_model_free(qp_model *m)
{
    if (!m)
        return;
    for (int i = 0; m->lin && i < m->n_linears; i++) {
        free(m->lin[i].ref_held_);
        free(m->lin[i].q_owned_);
        free(m->lin[i].q_packed_owned_);
        free(m->lin[i].bias_owned_);
    }
    free(m->lin);
    free(m->pack_arena);
    free(m->attn_norm);
    free(m->ffn_norm);
    free(m->output_norm);
    free(m->rope_freqs);
    free(m->used);
    qp_gguf_close(m->owned_file);
    free(m);
}

/* ======================================================================== */
/* accessors                                                                */
/* ======================================================================== */

const qp_hparams *qp_model_hparams(const qp_model *m) { return &m->hp; }
const qp_gguf_file *qp_model_gguf(const qp_model *m) { return m->f; }
const float *qp_model_attn_norm(const qp_model *m, int layer)
{
    return m->attn_norm + (size_t)layer * (size_t)m->hp.n_embd;
}
const float *qp_model_ffn_norm(const qp_model *m, int layer)
{
    return m->ffn_norm + (size_t)layer * (size_t)m->hp.n_embd;
}
const float *qp_model_output_norm(const qp_model *m) { return m->output_norm; }
const float *qp_model_rope_freqs(const qp_model *m) { return m->rope_freqs; }
const qp_gguf_tensor_info *qp_model_token_embd(const qp_model *m) { return m->token_embd; }

/* The embedding is a lookup, not a product: it is always the file's values
 * (one row converted per token), at both precisions, and never needs an
 * FP32 copy of the whole table. */
void qp_model_embed(const qp_model *m, int32_t token, float *x)
{
    const qp_gguf_tensor_info *t = m->token_embd;
    const size_t row = qp_row_size(t->type, t->ne[0]);
    /* cannot fail: type and row length were checked at load */
    qp_dequantize_row(t->type, (const char *)t->data + (size_t)token * row, x, t->ne[0], NULL);
}

int qp_model_n_linears(const qp_model *m) { return m->n_linears; }

const qp_linear *qp_model_linear(const qp_model *m, int i)
{
    return i >= 0 && i < m->n_linears ? &m->lin[i] : NULL;
}

int qp_model_linear_index(const qp_model *m, int layer, enum qp_lin_kind kind)
{
    if (kind == QP_LIN_OUTPUT)
        return m->n_linears - 1;
    if (layer < 0 || layer >= m->hp.n_layer || (unsigned)kind >= QP_LIN_PER_LAYER)
        return -1;
    return layer * QP_LIN_PER_LAYER + (int)kind;
}

int qp_model_find_linear(const qp_model *m, const char *name)
{
    for (int i = 0; i < m->n_linears; i++)
        if (strcmp(m->lin[i].name, name) == 0)
            return i;
    if (strcmp(name, "output.weight") == 0)
        return m->n_linears - 1;
    return -1;
}

size_t qp_model_owned_bytes(const qp_model *m)
{
    size_t b = ((size_t)m->hp.n_layer * 2 + 1) * (size_t)m->hp.n_embd * sizeof(float);
    for (int i = 0; i < m->n_linears; i++) {
        const qp_linear *l = &m->lin[i];
        if (l->q_owned_)
            b += (size_t)l->rows * qp_row_size(l->q_type, l->cols);
        if (l->ref_held_)
            b += (size_t)l->rows * (size_t)l->cols * sizeof(float);
        if (l->q_packed) /* its own buffer or the arena */
            b += (size_t)l->rows * qp_row_size(l->q_type, l->cols);
        if (l->bias_owned_)
            b += (size_t)l->rows * sizeof(float);
    }
    return b;
}

const char *qp_linear_describe(const qp_linear *l, bool quantized, char *buf, size_t size)
{
    if (!quantized || l->q_type == QP_LINEAR_REF)
        snprintf(buf, size, "%s", l->ref_from);
    else if (l->q_from_file)
        snprintf(buf, size, "%s (file)", qp_type_info(l->q_type)->name);
    else
        snprintf(buf, size, "%s (quantized from %s)", qp_type_info(l->q_type)->name,
                 l->ref_from);
    return buf;
}

/* ======================================================================== */
/* quantized forms                                                          */
/* ======================================================================== */

void qp_model_set_threads(qp_model *m, qp_threadpool *tp) { m->pool = tp; }

/* Memory for one linear's packed copy: huge pages pay only for a buffer of
 * a huge page or more; a smaller one is cache-line aligned. */
static void *packed_alloc(size_t bytes)
{
    if (bytes >= QP_HUGE_PAGE_BYTES)
        return qp_pack_alloc(bytes);
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

/* The packed copy of `data` (rows x cols of `type`) for m->kernels, in
 * *out; NULL when the variant has no packed layout for the type. */
static qp_status pack_form(const qp_model *m, const qp_linear *l, int type, const void *data,
                           void **out, qp_error *err)
{
    *out = NULL;
    if (!m->kernels || type == QP_LINEAR_REF || !qp_pack_rows(m->kernels, (enum qp_type)type))
        return QP_OK;
    void *p = packed_alloc((size_t)l->rows * qp_row_size(type, l->cols));
    if (!p)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory packing %s for %s",
                            l->name, qp_kernels_name(m->kernels));
    qp_status st = qp_pack_weights(m->kernels, (enum qp_type)type, data, p, l->rows, l->cols, err);
    if (st != QP_OK) {
        free(p);
        return st;
    }
    *out = p;
    return QP_OK;
}

/* The file's pages of linear l leave resident memory (qp_gguf_release):
 * once its rows are packed, or its layer is done. */
static void release_file_rows(const qp_model *m, const qp_linear *l)
{
    qp_gguf_release(m->f, l->file_data, (size_t)l->rows * qp_row_size(l->file_type, l->cols));
}

/* A packed copy in the arena is not freed alone: the arena goes whole. */
static void drop_packed(qp_linear *l)
{
    free(l->q_packed_owned_);
    l->q_packed_owned_ = NULL;
    l->q_packed = NULL;
}

static void drop_all_packed(qp_model *m)
{
    for (int i = 0; i < m->n_linears; i++)
        drop_packed(&m->lin[i]);
    free(m->pack_arena);
    m->pack_arena = NULL;
}

/* The packed copies of every linear for m->kernels, in one arena. */
static qp_status pack_all(qp_model *m, qp_error *err)
{
    drop_all_packed(m);
    if (!m->kernels)
        return QP_OK;
    size_t total = 0;
    for (int i = 0; i < m->n_linears; i++) {
        const qp_linear *l = &m->lin[i];
        if (l->q_type != QP_LINEAR_REF && qp_pack_rows(m->kernels, (enum qp_type)l->q_type))
            total += ((size_t)l->rows * qp_row_size(l->q_type, l->cols) + 63) & ~(size_t)63;
    }
    if (total == 0)
        return QP_OK;
    if (!(m->pack_arena = qp_pack_alloc(total)))
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory packing %zu MB of weights for %s",
                            total >> 20, qp_kernels_name(m->kernels));
    char *at = m->pack_arena;
    for (int i = 0; i < m->n_linears; i++) {
        qp_linear *l = &m->lin[i];
        if (l->q_type == QP_LINEAR_REF || !qp_pack_rows(m->kernels, (enum qp_type)l->q_type))
            continue;
        const size_t bytes = (size_t)l->rows * qp_row_size(l->q_type, l->cols);
        qp_status st = qp_pack_weights(m->kernels, (enum qp_type)l->q_type, l->q_data, at, l->rows, l->cols, err);
        if (st != QP_OK) {
            drop_all_packed(m);
            return st;
        }
        l->q_packed = at;
        at += (bytes + 63) & ~(size_t)63;
        if (l->q_from_file) /* the kernels read the packed copy, never these rows */
            release_file_rows(m, l);
    }
    return QP_OK;
}

qp_status qp_model_set_kernels(qp_model *m, const qp_kernels *v, qp_error *err)
{
    m->kernels = v;
    qp_status st = pack_all(m, err);
    if (st != QP_OK)
        m->kernels = NULL;
    return st;
}

const qp_kernels *qp_model_kernels(const qp_model *m) { return m->kernels; }

void qp_model_packed_layouts(const qp_model *m, char *buf, size_t size)
{
    for (int i = 0; m->kernels && i < m->n_linears; i++) {
        const qp_linear *l = &m->lin[i];
        const char *name = l->q_packed ? qp_pack_name(m->kernels, (enum qp_type)l->q_type) : NULL;
        if (!name || strstr(buf, name))
            continue;
        if (!strcmp(buf, "none"))
            buf[0] = '\0';
        const size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
    }
}

qp_status qp_linear_matmul(const qp_model *m, const qp_linear *l, const qp_kernels *v,
                           qp_threadpool *tp, const float *x, int64_t n, float *y, qp_error *err)
{
    if (l->q_packed && m->kernels == v)
        return qp_matmul_packed(v, tp, (enum qp_type)l->q_type, l->q_packed, l->rows, l->cols, x, n, y, err);
    return qp_matmul(v, tp, (enum qp_type)l->q_type, l->q_data, l->rows, l->cols, x, n, y, err);
}

/* Rows [begin, end) of one linear quantized to `type`: rows are
 * independent (each quantizer reads one row, writes one row, keeps no
 * state), so any split gives the same bytes. The K-quants' scale searches
 * make this the slow part of qp_model_set_all: SmolLM2-135M to Q4_K takes
 * 2.6 s on one thread, 1.4 s on a pool of two (Q2_K 3.3 / 1.7 s, Q8_0
 * 0.56 / 0.30 s), hence the pool. */
typedef struct quantize_job {
    const qp_linear *l;
    int type;
    void *q;             /* [rows][row_bytes] */
    size_t row_bytes;
    atomic_int failed;   /* the first failing range copies its error */
    qp_error err;
} quantize_job;

static void quantize_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    quantize_job *j = ctx;
    const qp_linear *l = j->l;
    /* the reference row: in place for F32, else dequantized here */
    float *row = l->ref ? NULL : malloc((size_t)l->cols * sizeof(float));
    if (!l->ref && !row) {
        if (atomic_exchange(&j->failed, 1) == 0)
            qp_error_set(&j->err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        qp_error e = { 0 };
        const float *x = l->ref ? l->ref + (size_t)r * (size_t)l->cols : row;
        if ((!l->ref && qp_linear_rows_f32(l, r, r + 1, row, &e) != QP_OK) ||
            qp_quantize_row(j->type, x, (char *)j->q + (size_t)r * j->row_bytes, l->cols, NULL, &e) != QP_OK) {
            if (atomic_exchange(&j->failed, 1) == 0)
                j->err = e;
            break;
        }
    }
    free(row);
}

/* The new form is built completely before the old one is released, so a
 * failure leaves the linear as it was. Without `pack`, the linear is left
 * with no packed copy (qp_model_set_all packs them all at once after). */
static qp_status set_type(qp_model *m, int i, int type, bool pack, qp_error *err)
{
    if (i < 0 || i >= m->n_linears)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no linear %d (the model has %d)", i,
                            m->n_linears);
    qp_linear *l = &m->lin[i];
    if (type == QP_LINEAR_REF) {
        drop_packed(l);
        free(l->q_owned_);
        l->q_owned_ = NULL;
        l->q_data = NULL;
        l->q_type = QP_LINEAR_REF;
        l->q_from_file = false;
        return QP_OK;
    }
    const qp_type_traits *tt = qp_type_info(type);
    if (!qp_kernels_can_run(type))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "%s: type %s has no matmul kernels in qprof", l->name,
                            tt ? tt->name : "unknown");
    if (l->cols % tt->block_size != 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "%s: rows of %lld values cannot be %s (block size %lld)", l->name,
                            (long long)l->cols, tt->name, (long long)tt->block_size);
    if (type == l->q_type && (l->q_packed || !pack || !m->kernels ||
                              !qp_pack_rows(m->kernels, (enum qp_type)type)))
        return QP_OK; /* already in that form (the file's bytes if its type) */
    const size_t row_bytes = qp_row_size(type, l->cols);
    void *q = NULL;
    const void *data;
    if (type == l->file_type) {
        data = l->file_data; /* the file's own bytes: no requantization */
    } else {
        q = malloc((size_t)l->rows * row_bytes);
        if (!q)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory quantizing %s to %s",
                                l->name, tt->name);
        quantize_job j = { .l = l, .type = type, .q = q, .row_bytes = row_bytes };
        atomic_init(&j.failed, 0);
        qp_threadpool_parallel_for(m->pool, l->rows, quantize_rows, &j);
        if (atomic_load(&j.failed)) {
            free(q);
            if (err)
                *err = j.err;
            return j.err.status;
        }
        data = q;
    }
    void *packed = NULL;
    qp_status st = pack ? pack_form(m, l, type, data, &packed, err) : QP_OK;
    if (st != QP_OK) {
        free(q);
        return st;
    }
    drop_packed(l);
    l->q_packed_owned_ = packed;
    l->q_packed = packed;
    free(l->q_owned_);
    l->q_owned_ = q;
    l->q_data = data;
    l->q_type = type;
    l->q_from_file = q == NULL;
    return QP_OK;
}

qp_status qp_model_set_tensor_type(qp_model *m, int i, int type, qp_error *err)
{
    return set_type(m, i, type, true, err);
}

qp_status qp_model_set_all(qp_model *m, int type, qp_fallback *fb, int max_fb, int *n_fb,
                           qp_error *err)
{
    int count = 0;
    if (n_fb)
        *n_fb = 0;
    /* a type without kernels must not reach the fallback table, which
     * would quietly turn it into F16 */
    if (type != QP_LINEAR_REF && !qp_kernels_can_run(type))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "type %s has no matmul kernels in qprof",
                            qp_type_info(type) ? qp_type_info(type)->name : "unknown");
    for (int i = 0; i < m->n_linears; i++) {
        const int t = type == QP_LINEAR_REF ? type : qp_fallback_type(type, m->lin[i].cols);
        if (t != type) {
            if (fb && count < max_fb)
                fb[count] = (qp_fallback){ .linear = i, .wanted = type, .got = t };
            count++;
        }
        qp_status s = set_type(m, i, t, false, err);
        if (s) {
            if (n_fb)
                *n_fb = count;
            pack_all(m, NULL); /* the linears set so far keep packed copies */
            return s;
        }
    }
    if (n_fb)
        *n_fb = count;
    return pack_all(m, err);
}

/* Rows [begin, end) of a linear's FP32 reference, dequantized in place. */
typedef struct hold_job {
    const qp_linear *l;
    float *dst;
    atomic_int failed;
} hold_job;

static void hold_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    hold_job *j = ctx;
    if (qp_linear_rows_f32(j->l, begin, end, j->dst + (size_t)begin * (size_t)j->l->cols, NULL) != QP_OK)
        atomic_store(&j->failed, 1);
}

qp_status qp_model_hold_ref(qp_model *m, int layer, bool hold, qp_error *err)
{
    if (layer < -1 || layer >= m->hp.n_layer)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no layer %d (the model has %d)", layer, m->hp.n_layer);
    const int first = layer < 0 ? m->n_linears - 1 : layer * QP_LIN_PER_LAYER;
    const int count = layer < 0 ? 1 : QP_LIN_PER_LAYER;
    for (int i = first; i < first + count; i++) {
        qp_linear *l = &m->lin[i];
        if (!hold) {
            if (l->ref_held_) {
                free(l->ref_held_);
                l->ref_held_ = NULL;
                l->ref = NULL;
            }
            continue;
        }
        if (l->ref) /* an F32 tensor, or held already */
            continue;
        float *d = malloc((size_t)l->rows * (size_t)l->cols * sizeof(float));
        if (!d) {
            qp_model_hold_ref(m, layer, false, NULL);
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for the FP32 form of %s (%zu MB)",
                                l->name, (size_t)l->rows * (size_t)l->cols * sizeof(float) >> 20);
        }
        hold_job j = { .l = l, .dst = d };
        atomic_init(&j.failed, 0);
        qp_threadpool_parallel_for(m->pool, l->rows, hold_rows, &j);
        if (atomic_load(&j.failed)) {
            free(d);
            qp_model_hold_ref(m, layer, false, NULL);
            return qp_error_set(err, QP_ERR_INPUT, m->fname, -1, "%s: rows could not be dequantized", l->name);
        }
        l->ref_held_ = d;
        l->ref = d;
    }
    return QP_OK;
}

qp_status qp_model_set_layer_type(qp_model *m, int layer, int type, qp_fallback *fb, int max_fb, int *n_fb,
                                  qp_error *err)
{
    if (n_fb)
        *n_fb = 0;
    if (layer < -1 || layer >= m->hp.n_layer)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no layer %d (the model has %d)", layer, m->hp.n_layer);
    if (type != QP_LINEAR_REF && !qp_kernels_can_run(type))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "type %s has no matmul kernels in qprof",
                            qp_type_info(type) ? qp_type_info(type)->name : "unknown");
    const int first = layer < 0 ? m->n_linears - 1 : layer * QP_LIN_PER_LAYER;
    const int count = layer < 0 ? 1 : QP_LIN_PER_LAYER;
    int n = 0;
    qp_status st = QP_OK;
    for (int i = first; st == QP_OK && i < first + count; i++) {
        const int t = type == QP_LINEAR_REF ? type : qp_fallback_type(type, m->lin[i].cols);
        if (t != type) {
            if (fb && n < max_fb)
                fb[n] = (qp_fallback){ .linear = i, .wanted = type, .got = t };
            n++;
        }
        st = set_type(m, i, t, false, err);
    }
    if (n_fb)
        *n_fb = n;
    if (type == QP_LINEAR_REF) /* a layer-by-layer pass is done with it */
        for (int i = first; i < first + count; i++)
            release_file_rows(m, &m->lin[i]);
    /* one arena for the packed copies: in a layer-by-layer pass that is
     * this layer's */
    const qp_status pst = pack_all(m, st == QP_OK ? err : NULL);
    return st != QP_OK ? st : pst;
}

qp_status qp_model_use_weights(qp_model *m, int type, const qp_kernels *v, bool packed,
                               qp_fallback *fb, int max_fb, int *n_fb, qp_error *err)
{
    qp_status st = QP_OK;
    if (n_fb)
        *n_fb = 0;
    if (type == QP_TYPE_FILE) {
        for (int i = 0; i < m->n_linears && st == QP_OK; i++) {
            const qp_linear *l = &m->lin[i];
            if (l->file_type != QP_TYPE_F32 && qp_kernels_can_run(l->file_type))
                st = qp_model_set_tensor_type(m, i, l->file_type, err);
        }
    } else {
        st = qp_model_set_all(m, type, fb, max_fb, n_fb, err);
    }
    if (st == QP_OK && packed)
        st = qp_model_set_kernels(m, v, err);
    return st;
}

void qp_model_describe_linears(const qp_model *m, bool quantized, char *buf, size_t size)
{
    enum { MAX_KINDS = 16 };
    char kinds[MAX_KINDS][64];
    int counts[MAX_KINDS] = {0}, n_kinds = 0;
    for (int i = 0; i < m->n_linears; i++) {
        char d[64];
        qp_linear_describe(&m->lin[i], quantized, d, sizeof d);
        int k = 0;
        while (k < n_kinds && strcmp(kinds[k], d) != 0)
            k++;
        if (k == n_kinds) {
            if (n_kinds == MAX_KINDS)
                continue;
            snprintf(kinds[n_kinds++], sizeof kinds[0], "%s", d);
        }
        counts[k]++;
    }
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < n_kinds && n < size; k++)
        n += (size_t)snprintf(buf + n, size - n, "%s%d x %s", k ? ", " : "", counts[k], kinds[k]);
}
