/* model/forward.c - the forward pass (see forward.h), in the order of
 * llama2.c's run.c: run-state buffers allocated once, the building blocks
 * (rmsnorm, softmax, rope, linear), the two blocks of a layer, forward.
 * The profiler's hooks are plain calls at block boundaries; the maths in
 * between knows nothing of them.
 *
 * Rows: every activation buffer is [rows][width] row-major, one row per
 * token, so a batch of prompt tokens goes through each linear as a single
 * matrix product (sgemm / qp_matmul) and decoding is the n = 1 case
 * (sgemv / the matvec path of qp_matmul).
 *
 * Threads: the state's pool (n_threads > 1) does all the threading, at both
 * precisions: qp_matmul runs on it, and the FP32 products (reference
 * linears, attention) are cut into pieces that it hands out
 * (qp_threadpool_parallel_for), each piece one single-threaded OpenBLAS
 * call. OpenBLAS is held at one thread while a state computes (see
 * blas_one_thread): its own workers, once woken, busy-wait for 2^28
 * cycles (~0.1 s; OpenBLAS 0.3.21 blas_server.c, THREAD_TIMEOUT 28,
 * settable only by OPENBLAS_THREAD_TIMEOUT before the library loads) after
 * every call, and would take the cores from the pool's threads in the
 * blocks that follow. Every piece's result depends only on which piece it
 * is, never on which thread ran it, so a forward pass gives the same bits
 * whatever the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

/* ======================================================================== */
/* run state                                                                */
/* ======================================================================== */

struct qp_state {
    const qp_model *model;
    qp_hparams hp;               /* copy: read in every function */
    int n_ctx;                   /* KV cache positions */
    int n_batch;                 /* rows of the activation buffers */
    enum qp_precision precision; /* of qp_forward */
    bool logits_all;

    const qp_kernels *kernels;   /* quantized path */
    qp_threadpool *pool;         /* NULL: one thread; both precisions use it */
    int n_threads;               /* qp_threadpool_size(pool) */

    qp_hook_fn hook;             /* NULL: no observation */
    void *hook_user;
    int64_t hook_ns;             /* time spent inside hooks: the state clock skips it */

    /* activations, allocated once for n_batch rows */
    float *x;       /* [n_batch][n_embd] residual stream */
    float *xn;      /* [n_batch][n_embd] normed block input */
    float *out;     /* [n_batch][n_embd] block output, before the residual add */
    float *q;       /* [n_batch][n_head * head_dim] queries */
    float *att;     /* [n_batch][n_head * head_dim] attention mix, input of o */
    float *gate;    /* [n_batch][n_ff] gate, then silu(gate) * up */
    float *up;      /* [n_batch][n_ff] */
    float *scores;  /* [n_threads][ATT_ROWS][n_ctx] each thread's attention weights */
    float *dec_part; /* [n_head][DEC_MAX_CHUNKS][head_dim + 2] decode partials: o, max, sum */
    /* KV cache: [n_layer][n_ctx] rows of n_head_kv * head_dim values of
     * kv_type, kv_row bytes each. In F32, k and v rows are computed
     * straight into it and attention reads it in place; in F16 or Q8_0
     * they are computed into kv_new and stored converted, and attention
     * widens one head's keys and values at a time into kv_wide. */
    enum qp_kv_type kv_type;
    enum qp_type kv_qtype;  /* the same as a GGUF type: F32, F16, Q8_0 */
    size_t kv_row;      /* bytes per cached position of one layer */
    uint8_t *key_cache;
    uint8_t *value_cache;
    float *kv_new;      /* [2][n_batch][kvd] this call's k, then v (F16/Q8_0) */
    float *kv_wide;     /* [n_threads][2][n_ctx][head_dim] widened keys, values (decode) */
    float *kv_layer;    /* [2][n_ctx][kvd] one layer's keys, values widened for a batch */
    bool kv_layer_on;   /* kv_layer holds the keys the current batch reads */
    double *rope_freq;  /* [n_rot / 2] angle per position of each pair */
    float *deq;         /* [n_threads][slice][k] dequantized weight rows (f32_linear) */
    size_t deq_cap;     /* floats in deq */
};

/* ======================================================================== */
/* clock and hooks                                                          */
/* ======================================================================== */

static int64_t raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t qp_state_clock(const qp_state *s) { return raw_ns() - s->hook_ns; }

/* The clock only when someone is watching: no hook, no clock read. */
static inline int64_t tick(const qp_state *s) { return s->hook ? qp_state_clock(s) : 0; }

/* Calls the hook with the clock stopped. */
static void fire(qp_state *s, const qp_hook_event *ev)
{
    const int64_t h0 = raw_ns();
    s->hook(ev, s->hook_user);
    s->hook_ns += raw_ns() - h0;
}

/* An event covering [t0, now]; t0 from tick() (or now for a point). */
static inline void observe(qp_state *s, int layer, enum qp_hook_point p, const float *data,
                           int rows, int cols, int pos0, enum qp_precision prec, int64_t t0)
{
    if (!s->hook)
        return;
    const int64_t t1 = qp_state_clock(s);
    const qp_hook_event ev = {
        .layer = layer, .point = p, .tensor = QP_LIN_NONE, .linear = -1, .data = data,
        .rows = rows, .cols = cols, .pos0 = pos0, .precision = prec,
        .t_begin = t0 ? t0 : t1, .t_end = t1,
    };
    fire(s, &ev);
}

/* OpenBLAS picks its kernels for the CPU when it loads; a release older
 * than the CPU falls back to its generic Prescott (SSE3) kernels: Debian
 * 12's 0.3.21 on a Sapphire Rapids Xeon runs sgemm on them, several times
 * slower than its SkylakeX kernels. */
char *openblas_get_corename(void);

const char *qp_blas_better_core(void)
{
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0)
        return NULL;
    if (qp_kernels_by_name("avx512", NULL))
        return "SkylakeX";
    if (qp_kernels_by_name("avx2", NULL))
        return "Haswell";
    return NULL;
}

const char *qp_kv_type_name(enum qp_kv_type t)
{
    switch (t) {
    case QP_KV_F16: return "f16";
    case QP_KV_F32: return "f32";
    case QP_KV_Q8_0: return "q8_0";
    }
    return "?";
}

int qp_kv_type_from_name(const char *name)
{
    for (int t = QP_KV_F16; t <= QP_KV_Q8_0; t++)
        if (strcmp(name, qp_kv_type_name((enum qp_kv_type)t)) == 0)
            return t;
    return -1;
}

const char *qp_hook_point_name(enum qp_hook_point p)
{
    static const char *const names[QP_HOOK_POINT_COUNT] = {
        [QP_HOOK_EMBED] = "embed",         [QP_HOOK_ATTN_IN] = "attn_in",
        [QP_HOOK_ATTN_NORM] = "attn_norm", [QP_HOOK_ATTN_MIX] = "attn_mix",
        [QP_HOOK_ATTN_OUT] = "attn_out",   [QP_HOOK_FFN_IN] = "ffn_in",
        [QP_HOOK_FFN_NORM] = "ffn_norm",   [QP_HOOK_FFN_ACT] = "ffn_act",
        [QP_HOOK_FFN_OUT] = "ffn_out",     [QP_HOOK_LINEAR] = "linear",
        [QP_HOOK_OUTPUT_NORM] = "output_norm", [QP_HOOK_FORWARD] = "forward",
    };
    return (unsigned)p < QP_HOOK_POINT_COUNT ? names[p] : "?";
}

/* ======================================================================== */
/* building blocks                                                          */
/* ======================================================================== */

/* o[n] = x / sqrt(mean(x^2) + eps) * w. The sum of squares in double, as
 * ggml's rms_norm (ggml_float): n_embd up to 8192 floats of any scale. */
static void rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int j = 0; j < n; j++)
        ss += (double)x[j] * x[j];
    const float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int j = 0; j < n; j++)
        o[j] = x[j] * scale * w[j];
}

/* x[n] = softmax(x[n]), max subtracted so expf cannot overflow. */
static void softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

/* Rotates the first n_rot values of each head of rows q[n][n_head *
 * head_dim] and k[n][n_head_kv * head_dim], row i at position pos0 + i.
 * Pair j (j < n_rot/2) turns by pos * rope_freq[j]; the pair is (2j, 2j+1)
 * for llama ("normal", after llama.cpp's Q/K permutation at conversion) and
 * (j, j + n_rot/2) for qwen2 ("neox", the Hugging Face rotate_half layout).
 * Rows are independent: they are spread over the pool, and each angle's
 * cos/sin serves q and k. */
typedef struct rope_job {
    const qp_state *s;
    float *q, *k;
    int pos0;
} rope_job;

static void rope_heads(float *row, int n_heads, int hd, int a, int b, float c, float sn)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (size_t)h * (size_t)hd;
        const float v0 = v[a], v1 = v[b];
        v[a] = v0 * c - v1 * sn;
        v[b] = v0 * sn + v1 * c;
    }
}

static void rope_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rope_job *j = ctx;
    const qp_hparams *hp = &j->s->hp;
    const int hd = hp->head_dim, half = hp->n_rot / 2;
    const bool neox = hp->rope_style == QP_ROPE_NEOX;
    for (int64_t i = begin; i < end; i++) {
        float *qrow = j->q + (size_t)i * (size_t)hp->n_head * (size_t)hd;
        float *krow = j->k + (size_t)i * (size_t)hp->n_head_kv * (size_t)hd;
        for (int p = 0; p < half; p++) {
            /* the angle in double: pos * freq reaches 1e5 radians at long
             * contexts, where a float angle would be off by ~1e-2 */
            const double theta = (double)(j->pos0 + i) * j->s->rope_freq[p];
            const float c = (float)cos(theta), sn = (float)sin(theta);
            const int a = neox ? p : 2 * p, b = neox ? p + half : 2 * p + 1;
            rope_heads(qrow, hp->n_head, hd, a, b, c, sn);
            rope_heads(krow, hp->n_head_kv, hd, a, b, c, sn);
        }
    }
}

static void rope(qp_state *s, float *q, float *k, int n, int pos0)
{
    rope_job j = { .s = s, .q = q, .k = k, .pos0 = pos0 };
    qp_threadpool_parallel_for(s->pool, n, rope_rows, &j);
}

/* gate[n][F] = silu(gate) * up, silu(g) = g * sigmoid(g) (SwiGLU), rows
 * spread over the pool: n * n_ff expf calls, ~3% of a forward pass at
 * SmolLM2's n_ff = 1536. */
typedef struct swiglu_job {
    float *gate;
    const float *up;
    size_t F;
} swiglu_job;

static void swiglu_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const swiglu_job *j = ctx;
    for (size_t i = (size_t)begin * j->F; i < (size_t)end * j->F; i++) {
        const float g = j->gate[i];
        j->gate[i] = g / (1.0f + expf(-g)) * j->up[i];
    }
}

static void swiglu(qp_state *s, float *gate, const float *up, int n)
{
    swiglu_job j = { .gate = gate, .up = up, .F = (size_t)s->hp.n_ff };
    qp_threadpool_parallel_for(s->pool, n, swiglu_rows, &j);
}

/* ---- FP32 products on the pool ---- */

/* OpenBLAS at one thread while a state computes (the header comment says
 * why; with no pool, so that n_threads = 1 means one thread, and gives the
 * same bits as a pool); returns the count to put back. The setting is
 * process-wide: two states computing in two threads at once may put back
 * each other's, which changes OpenBLAS's speed elsewhere, never a result. */
static int blas_one_thread(void)
{
    const int before = openblas_get_num_threads();
    if (before != 1)
        openblas_set_num_threads(1);
    return before;
}

static void blas_restore(int before)
{
    if (before != 1)
        openblas_set_num_threads(before);
}

/* An FP32 linear is cut into slices of outputs (rows of W), one sgemm /
 * sgemv each. The cut depends on m alone, never on the thread count: an
 * OpenBLAS product's low bits depend on its shape (0.3.21 Zen sgemm: a
 * 512x576x576 product cut into 64-output slices differs from the whole in
 * 12% of its outputs), so a thread-dependent cut would make the reference
 * depend on -j. Slices are at least 64 outputs: every sgemm packs all of x
 * again, which costs 8% at 64 (15% at 32, 2% at 128; measured on
 * 512x576x576), and at most 32 of them, enough to spread over a pool. */
#define F32_MIN_SLICE 64
#define F32_MAX_SLICES 32

typedef struct f32_linear_job {
    const qp_linear *w; /* [m][k]: w->ref in place, else its file rows dequantized */
    const float *x;     /* [n][k] */
    float *y;           /* [n][m] */
    float *deq;         /* [n_threads][slice][k] scratch for dequantized rows */
    int n, m, k;
    int slice;          /* outputs per slice */
    atomic_int failed;  /* a row could not be dequantized (cannot happen for a loaded model) */
} f32_linear_job;

/* Slices [begin, end): y[:, r0..r1) = x W[r0..r1)^T. A weight that is not
 * F32 in the file is dequantized a slice at a time into the thread's
 * scratch, right before its product: no FP32 copy of the model is kept,
 * and the sgemm sees the same slice shapes, so the same bits, as it would
 * on a whole FP32 copy. */
static void f32_linear_slices(void *ctx, int64_t begin, int64_t end, int thread)
{
    f32_linear_job *j = ctx;
    for (int64_t sl = begin; sl < end; sl++) {
        const int r0 = (int)sl * j->slice;
        const int r1 = r0 + j->slice < j->m ? r0 + j->slice : j->m;
        const float *w;
        if (j->w->ref) {
            w = j->w->ref + (size_t)r0 * (size_t)j->k;
        } else {
            float *d = j->deq + (size_t)thread * (size_t)j->slice * (size_t)j->k;
            if (qp_linear_rows_f32(j->w, r0, r1, d, NULL) != QP_OK) {
                atomic_store(&j->failed, 1);
                continue;
            }
            w = d;
        }
        if (j->n == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, r1 - r0, j->k, 1.0f, w, j->k, j->x, 1, 0.0f,
                        j->y + r0, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, r1 - r0, j->k, 1.0f, j->x,
                        j->k, w, j->k, 0.0f, j->y + r0, j->m);
    }
}

static qp_status f32_linear(qp_state *s, const qp_linear *w, const float *x, float *y, int n, qp_error *err)
{
    const int m = (int)w->rows, k = (int)w->cols;
    /* ceil(m / F32_MAX_SLICES) rounded up to a multiple of F32_MIN_SLICE */
    const int per = (m + F32_MAX_SLICES - 1) / F32_MAX_SLICES;
    const int slice = (per + F32_MIN_SLICE - 1) / F32_MIN_SLICE * F32_MIN_SLICE;
    if (!w->ref) {
        /* the scratch grows to the largest slice asked for: one slice of
         * the output projection per thread at most */
        const size_t need = (size_t)s->n_threads * (size_t)slice * (size_t)k;
        if (need > s->deq_cap) {
            float *d = realloc(s->deq, need * sizeof(float));
            if (!d)
                return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory dequantizing %s (%zu MB)",
                                    w->name, need * sizeof(float) >> 20);
            s->deq = d;
            s->deq_cap = need;
        }
    }
    f32_linear_job j = { .w = w, .x = x, .y = y, .deq = s->deq, .n = n, .m = m, .k = k, .slice = slice };
    qp_threadpool_parallel_for(s->pool, (m + slice - 1) / slice, f32_linear_slices, &j);
    if (atomic_load(&j.failed))
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "%s: rows could not be dequantized", w->name);
    return QP_OK;
}

/* y[n][rows] = x[n][cols] W^T (+ bias) for linear (layer, kind), in the
 * precision asked: the quantized form through qp_matmul when there is one
 * and prec is QUANT, else the FP32 reference through OpenBLAS, both on the
 * state's pool. Fires the LINEAR hook with the product's own time. */
static qp_status linear(qp_state *s, int layer, enum qp_lin_kind kind, enum qp_precision prec,
                        const float *x, int n, float *y, int pos0, qp_error *err)
{
    const int idx = qp_model_linear_index(s->model, layer, kind);
    const qp_linear *w = qp_model_linear(s->model, idx);
    const int m = (int)w->rows;
    const bool quantized = prec == QP_PREC_QUANT && w->q_type != QP_LINEAR_REF;
    const int64_t t0 = tick(s);
    if (quantized) {
        qp_status st = qp_linear_matmul(s->model, w, s->kernels, s->pool, x, n, y, err);
        if (st)
            return st;
    } else {
        qp_status st = f32_linear(s, w, x, y, n, err);
        if (st)
            return st;
    }
    if (w->bias)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                y[(size_t)i * (size_t)m + (size_t)j] += w->bias[j];
    if (s->hook) {
        const qp_hook_event ev = {
            .layer = layer, .point = QP_HOOK_LINEAR, .tensor = kind, .linear = idx, .data = y,
            .rows = n, .cols = m, .pos0 = pos0, .precision = prec, .quantized = quantized,
            .t_begin = t0, .t_end = qp_state_clock(s),
        };
        fire(s, &ev);
    }
    return QP_OK;
}

/* Keys and values [p0, p0 + len) of KV head g of layer L as FP32 rows:
 * in place in an F32 cache (row stride n_head_kv * head_dim, returned),
 * else widened or dequantized into the thread's kv_wide (stride head_dim).
 * Only what one attention item reads is widened, never the whole cache. */
static int kv_head(const qp_state *s, int L, int g, int p0, int len, int thread, const float **k,
                   const float **v)
{
    const int hd = s->hp.head_dim, kvd = s->hp.n_head_kv * hd;
    const size_t at = ((size_t)L * (size_t)s->n_ctx + (size_t)p0) * s->kv_row;
    if (s->kv_layer_on) { /* widened once for the whole batch (widen_layer) */
        *k = s->kv_layer + (size_t)p0 * kvd + (size_t)g * hd;
        *v = s->kv_layer + ((size_t)s->n_ctx + (size_t)p0) * kvd + (size_t)g * hd;
        return kvd;
    }
    if (s->kv_type == QP_KV_F32) {
        *k = (const float *)(s->key_cache + at) + (size_t)g * hd;
        *v = (const float *)(s->value_cache + at) + (size_t)g * hd;
        return kvd;
    }
    /* the head's offset within a row: hd values of F16, or hd / 32 blocks */
    const size_t head_bytes = qp_row_size(s->kv_qtype, hd);
    float *wk = s->kv_wide + (size_t)thread * 2 * (size_t)s->n_ctx * (size_t)hd;
    float *wv = wk + (size_t)s->n_ctx * (size_t)hd;
    for (int p = 0; p < len; p++) {
        const size_t row = at + (size_t)p * s->kv_row + (size_t)g * head_bytes;
        qp_dequantize(s->kernels, s->kv_qtype, s->key_cache + row, wk + (size_t)p * hd, hd);
        qp_dequantize(s->kernels, s->kv_qtype, s->value_cache + row, wv + (size_t)p * hd, hd);
    }
    *k = wk;
    *v = wv;
    return hd;
}

/* Stores rows k[n][kvd], v[n][kvd] at positions pos0.. of layer L's cache
 * in its type: F16 rounds to nearest even (as llama.cpp's F16 cache),
 * Q8_0 is the activation quantizer's (the same bytes on every variant). */
static void kv_store(qp_state *s, int L, int pos0, int n, const float *k, const float *v)
{
    const int kvd = s->hp.n_head_kv * s->hp.head_dim;
    for (int i = 0; i < n; i++) {
        const size_t at = ((size_t)L * (size_t)s->n_ctx + (size_t)(pos0 + i)) * s->kv_row;
        const float *ki = k + (size_t)i * kvd, *vi = v + (size_t)i * kvd;
        if (s->kv_type == QP_KV_F16) {
            qp_half *kd = (qp_half *)(s->key_cache + at), *vd = (qp_half *)(s->value_cache + at);
            for (int c = 0; c < kvd; c++) {
                kd[c] = qp_fp32_to_fp16(ki[c]);
                vd[c] = qp_fp32_to_fp16(vi[c]);
            }
        } else {
            qp_quantize_act(s->kernels, QP_TYPE_Q8_0, ki, s->key_cache + at, kvd);
            qp_quantize_act(s->kernels, QP_TYPE_Q8_0, vi, s->value_cache + at, kvd);
        }
    }
}

/* Causal multi-head attention of rows at positions pos0.. over the cache
 * of layer L: att[i] (head h) = softmax(q_h[i] . K_g[0..pos0+i] / sqrt(hd))
 * V_g, g = h / (n_head / n_head_kv) the shared key/value head (GQA).
 *
 * The work is cut into items of one head and ATT_ROWS query rows, spread
 * over the pool. An item reads only the keys its last row may see (pos0 +
 * i1): of the masked upper triangle only a sliver of ATT_ROWS/2 keys per
 * row on average is still computed, about half the products of a full
 * [n][n_keys] score matrix per head at 512 tokens. Measured on SmolLM2-135M
 * at 512 tokens (RoPE included): 871 -> 658 ms per forward on one thread
 * (softmax's expf is a good part of what remains), 660-820 -> 330-390 ms
 * on two. Per item, two single-threaded OpenBLAS products (SGEMM tiles are
 * AVX2/AVX-512/NEON code, faster than portable C at these sizes): scores =
 * q K_g^T into the thread's own scores buffer, each row masked past its
 * own position and softmaxed, then att = scores V_g. */
#define ATT_ROWS 32

typedef struct attention_job {
    qp_state *s;
    int L, n, pos0;
    int n_blocks; /* row blocks per head: ceil(n / ATT_ROWS) */
} attention_job;

/* Items [begin, end), item = head * n_blocks + row block. */
static void attention_items(void *ctx, int64_t begin, int64_t end, int thread)
{
    const attention_job *j = ctx;
    const qp_state *s = j->s;
    const int hd = s->hp.head_dim, group = s->hp.n_head / s->hp.n_head_kv;
    const int qd = s->hp.n_head * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *S = s->scores + (size_t)thread * ATT_ROWS * (size_t)s->n_ctx; /* [rows][n_keys] */
    for (int64_t it = begin; it < end; it++) {
        const int h = (int)(it / j->n_blocks), i0 = (int)(it % j->n_blocks) * ATT_ROWS;
        const int rows = j->n - i0 < ATT_ROWS ? j->n - i0 : ATT_ROWS;
        const int n_keys = j->pos0 + i0 + rows; /* the keys its last row sees */
        const float *qh = s->q + (size_t)i0 * (size_t)qd + (size_t)h * (size_t)hd;
        const float *kg, *vg;
        const int ld = kv_head(s, j->L, h / group, 0, n_keys, thread, &kg, &vg);
        float *ah = s->att + (size_t)i0 * (size_t)qd + (size_t)h * (size_t)hd;
        if (rows == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n_keys, hd, scale, kg, ld, qh, 1, 0.0f, S, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n_keys, hd, scale, qh, qd,
                        kg, ld, 0.0f, S, n_keys);
        for (int i = 0; i < rows; i++) {
            float *row = S + (size_t)i * (size_t)n_keys;
            const int len = j->pos0 + i0 + i + 1; /* keys this row may see */
            softmax(row, len);
            memset(row + len, 0, (size_t)(n_keys - len) * sizeof(float));
        }
        if (rows == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, n_keys, hd, 1.0f, vg, ld, S, 1, 0.0f, ah, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, n_keys, 1.0f, S,
                        n_keys, vg, ld, 0.0f, ah, qd);
    }
}

/* Decoding (one query row) reads the whole cache of the layer per token,
 * so there the cost is bytes, not flops. Per query head, as above, each
 * key/value head would be read `group` times (3 for SmolLM2, 4 for Llama
 * 3 8B), and the 2-4 KV heads of a small model would keep at most that
 * many threads busy. Instead an item is one KV head with all the query
 * heads of its group (a [group][hd] matrix: they are adjacent in q) and
 * one chunk of the keys, so K and V are read once, and the chunks give
 * the pool enough items. Each item leaves unnormalised partials, o_c =
 * sum_j exp(s_j - m_c) v_j with its max m_c and sum l_c; the combine
 * step rescales them to the common max (the split softmax of "flash
 * decoding"): att = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c. */
#define DEC_MIN_CHUNK 128 /* keys per chunk, at least (two BLAS panels) */
#define DEC_MAX_CHUNKS 16

typedef struct decode_job {
    qp_state *s;
    int L, n_keys, n_chunks, chunk;
} decode_job;

/* Items [begin, end), item = kv head * n_chunks + chunk. */
static void decode_items(void *ctx, int64_t begin, int64_t end, int thread)
{
    const decode_job *j = ctx;
    const qp_state *s = j->s;
    const int hd = s->hp.head_dim, group = s->hp.n_head / s->hp.n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *S = s->scores + (size_t)thread * ATT_ROWS * (size_t)s->n_ctx; /* [group][len] */
    for (int64_t it = begin; it < end; it++) {
        const int g = (int)(it / j->n_chunks), c = (int)(it % j->n_chunks);
        const int k0 = c * j->chunk;
        const int len = j->n_keys - k0 < j->chunk ? j->n_keys - k0 : j->chunk;
        const float *qg = s->q + (size_t)g * group * hd; /* [group][hd] */
        const float *kc, *vc;
        const int ld = kv_head(s, j->L, g, k0, len, thread, &kc, &vc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, group, len, hd, scale, qg, hd, kc, ld,
                    0.0f, S, len);
        const size_t part = (size_t)hd + 2;
        for (int r = 0; r < group; r++) {
            float *row = S + (size_t)r * len;
            float max = row[0];
            for (int i = 1; i < len; i++)
                max = row[i] > max ? row[i] : max;
            double sum = 0.0;
            for (int i = 0; i < len; i++) {
                row[i] = expf(row[i] - max);
                sum += row[i];
            }
            float *pr = s->dec_part + ((size_t)(g * group + r) * DEC_MAX_CHUNKS + (size_t)c) * part;
            pr[hd] = max;
            pr[hd + 1] = (float)sum;
        }
        /* o_c for the group's rows, into their partial slots (stride part
         * * DEC_MAX_CHUNKS between consecutive heads) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, group, hd, len, 1.0f, S, len, vc, ld,
                    0.0f, s->dec_part + ((size_t)g * group * DEC_MAX_CHUNKS + (size_t)c) * part,
                    (int)(part * DEC_MAX_CHUNKS));
    }
}

static void attention_decode(qp_state *s, int L, int pos0)
{
    const int n_keys = pos0 + 1, hd = s->hp.head_dim;
    int n_chunks = (n_keys + DEC_MIN_CHUNK - 1) / DEC_MIN_CHUNK;
    if (n_chunks > DEC_MAX_CHUNKS)
        n_chunks = DEC_MAX_CHUNKS;
    decode_job j = { .s = s, .L = L, .n_keys = n_keys, .n_chunks = n_chunks,
                     .chunk = (n_keys + n_chunks - 1) / n_chunks };
    j.n_chunks = (n_keys + j.chunk - 1) / j.chunk; /* no empty last chunk */
    qp_threadpool_parallel_for(s->pool, (int64_t)s->hp.n_head_kv * j.n_chunks, decode_items, &j);
    const size_t part = (size_t)hd + 2;
    for (int h = 0; h < s->hp.n_head; h++) {
        const float *ph = s->dec_part + (size_t)h * DEC_MAX_CHUNKS * part;
        float M = ph[hd];
        for (int c = 1; c < j.n_chunks; c++)
            M = ph[c * part + hd] > M ? ph[c * part + hd] : M;
        float *ah = s->att + (size_t)h * hd;
        double den = 0.0;
        for (int i = 0; i < hd; i++)
            ah[i] = 0.0f;
        for (int c = 0; c < j.n_chunks; c++) {
            const float *pc = ph + c * part, w = expf(pc[hd] - M);
            den += (double)w * pc[hd + 1];
            for (int i = 0; i < hd; i++)
                ah[i] += w * pc[i];
        }
        const float inv = (float)(1.0 / den);
        for (int i = 0; i < hd; i++)
            ah[i] *= inv;
    }
}

/* A batch's items read the same keys many times over (every query head of
 * a group, every block of rows): in F16 or Q8_0 the keys and values the
 * batch sees, [0, pos0 + n) of layer L, are widened once, a row of all KV
 * heads at a time, before the items run. One layer's live range, never
 * the whole cache. */
typedef struct widen_job {
    qp_state *s;
    int L;
} widen_job;

static void widen_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const widen_job *j = ctx;
    qp_state *s = j->s;
    const int kvd = s->hp.n_head_kv * s->hp.head_dim;
    for (int64_t p = begin; p < end; p++) {
        const size_t at = ((size_t)j->L * (size_t)s->n_ctx + (size_t)p) * s->kv_row;
        qp_dequantize(s->kernels, s->kv_qtype, s->key_cache + at, s->kv_layer + (size_t)p * kvd, kvd);
        qp_dequantize(s->kernels, s->kv_qtype, s->value_cache + at,
                      s->kv_layer + ((size_t)s->n_ctx + (size_t)p) * kvd, kvd);
    }
}

static void attention(qp_state *s, int L, int n, int pos0)
{
    if (n == 1 && s->hp.n_head / s->hp.n_head_kv <= ATT_ROWS) {
        attention_decode(s, L, pos0);
        return;
    }
    if (s->kv_type != QP_KV_F32) {
        widen_job w = { .s = s, .L = L };
        qp_threadpool_parallel_for(s->pool, pos0 + n, widen_rows, &w);
        s->kv_layer_on = true;
    }
    attention_job j = { .s = s, .L = L, .n = n, .pos0 = pos0,
                        .n_blocks = (n + ATT_ROWS - 1) / ATT_ROWS };
    qp_threadpool_parallel_for(s->pool, (int64_t)s->hp.n_head * j.n_blocks, attention_items, &j);
    s->kv_layer_on = false;
}

/* ======================================================================== */
/* the two blocks of a layer                                                */
/* ======================================================================== */

/* out[n][n_embd] = attention block of layer L on in[n][n_embd] (n <= n_batch,
 * positions pos0.., pos0 + n <= n_ctx). */
static qp_status attn_block(qp_state *s, int L, const float *in, float *out, int n, int pos0,
                            enum qp_precision prec, qp_error *err)
{
    const int E = s->hp.n_embd;
    const int qd = s->hp.n_head * s->hp.head_dim, kvd = s->hp.n_head_kv * s->hp.head_dim;
    const int64_t t0 = tick(s);
    observe(s, L, QP_HOOK_ATTN_IN, in, n, E, pos0, prec, 0);

    for (int i = 0; i < n; i++)
        rmsnorm(s->xn + (size_t)i * E, in + (size_t)i * E, qp_model_attn_norm(s->model, L), E,
                s->hp.rms_eps);
    observe(s, L, QP_HOOK_ATTN_NORM, s->xn, n, E, pos0, prec, 0);

    /* k, v of these positions: straight into an F32 cache's rows pos0..,
     * else into kv_new, stored converted once RoPE has turned k */
    float *k, *v;
    if (s->kv_type == QP_KV_F32) {
        const size_t at = ((size_t)L * (size_t)s->n_ctx + (size_t)pos0) * s->kv_row;
        k = (float *)(s->key_cache + at);
        v = (float *)(s->value_cache + at);
    } else {
        k = s->kv_new;
        v = s->kv_new + (size_t)s->n_batch * (size_t)kvd;
    }
    qp_status st;
    if ((st = linear(s, L, QP_LIN_Q, prec, s->xn, n, s->q, pos0, err)) ||
        (st = linear(s, L, QP_LIN_K, prec, s->xn, n, k, pos0, err)) ||
        (st = linear(s, L, QP_LIN_V, prec, s->xn, n, v, pos0, err)))
        return st;
    rope(s, s->q, k, n, pos0);
    if (s->kv_type != QP_KV_F32)
        kv_store(s, L, pos0, n, k, v);

    attention(s, L, n, pos0);
    observe(s, L, QP_HOOK_ATTN_MIX, s->att, n, qd, pos0, prec, 0);

    if ((st = linear(s, L, QP_LIN_O, prec, s->att, n, out, pos0, err)))
        return st;
    observe(s, L, QP_HOOK_ATTN_OUT, out, n, E, pos0, prec, t0);
    return QP_OK;
}

/* out[n][n_embd] = SwiGLU FFN block of layer L on in[n][n_embd]. */
static qp_status ffn_block(qp_state *s, int L, const float *in, float *out, int n, int pos0,
                           enum qp_precision prec, qp_error *err)
{
    const int E = s->hp.n_embd, F = s->hp.n_ff;
    const int64_t t0 = tick(s);
    observe(s, L, QP_HOOK_FFN_IN, in, n, E, pos0, prec, 0);

    for (int i = 0; i < n; i++)
        rmsnorm(s->xn + (size_t)i * E, in + (size_t)i * E, qp_model_ffn_norm(s->model, L), E,
                s->hp.rms_eps);
    observe(s, L, QP_HOOK_FFN_NORM, s->xn, n, E, pos0, prec, 0);

    qp_status st;
    if ((st = linear(s, L, QP_LIN_GATE, prec, s->xn, n, s->gate, pos0, err)) ||
        (st = linear(s, L, QP_LIN_UP, prec, s->xn, n, s->up, pos0, err)))
        return st;
    swiglu(s, s->gate, s->up, n);
    observe(s, L, QP_HOOK_FFN_ACT, s->gate, n, F, pos0, prec, 0);

    if ((st = linear(s, L, QP_LIN_DOWN, prec, s->gate, n, out, pos0, err)))
        return st;
    observe(s, L, QP_HOOK_FFN_OUT, out, n, E, pos0, prec, t0);
    return QP_OK;
}

/* ======================================================================== */
/* forward                                                                  */
/* ======================================================================== */

static void add_rows(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

/* x[n][n_embd] = the embeddings of tokens[0..n) (n <= n_batch). */
static void embed_rows(qp_state *s, const int32_t *tokens, int n, int pos0, enum qp_precision prec, float *x)
{
    const int E = s->hp.n_embd;
    const int64_t t0 = tick(s);
    for (int i = 0; i < n; i++)
        qp_model_embed(s->model, tokens[i], x + (size_t)i * E);
    observe(s, -1, QP_HOOK_EMBED, x, n, E, pos0, prec, t0);
}

/* Layer L on x[n][n_embd] in place (n <= n_batch): the attention block and
 * its residual add, then the FFN block and its. */
static qp_status layer_rows(qp_state *s, int L, float *x, int n, int pos0, enum qp_precision prec, qp_error *err)
{
    const size_t E = (size_t)s->hp.n_embd;
    qp_status st;
    if ((st = attn_block(s, L, x, s->out, n, pos0, prec, err)))
        return st;
    add_rows(x, s->out, (size_t)n * E);
    if ((st = ffn_block(s, L, x, s->out, n, pos0, prec, err)))
        return st;
    add_rows(x, s->out, (size_t)n * E);
    return QP_OK;
}

/* logits[rows][n_vocab] of x[rows][n_embd] (rows <= n_batch): the final
 * norm and the output projection. Only the rows whose logits are wanted
 * come here: the projection is vocabulary-sized, often the largest. */
static qp_status logit_rows(qp_state *s, const float *x, int rows, int pos0, enum qp_precision prec,
                            float *logits, qp_error *err)
{
    const int E = s->hp.n_embd;
    const int64_t t0 = tick(s);
    for (int i = 0; i < rows; i++)
        rmsnorm(s->xn + (size_t)i * E, x + (size_t)i * E, qp_model_output_norm(s->model), E, s->hp.rms_eps);
    observe(s, -1, QP_HOOK_OUTPUT_NORM, s->xn, rows, E, pos0, prec, t0);
    return linear(s, -1, QP_LIN_OUTPUT, prec, s->xn, rows, logits, pos0, err);
}

/* One chunk of n <= n_batch tokens. logits: NULL, or where this chunk's
 * logits go ([n][n_vocab] with logits_all, else [n_vocab] of the last row). */
static qp_status forward_chunk(qp_state *s, const int32_t *tokens, int n, int pos0, float *logits,
                               qp_error *err)
{
    const int E = s->hp.n_embd;
    const enum qp_precision prec = s->precision;
    embed_rows(s, tokens, n, pos0, prec, s->x);
    qp_status st;
    for (int L = 0; L < s->hp.n_layer; L++)
        if ((st = layer_rows(s, L, s->x, n, pos0, prec, err)))
            return st;
    if (!logits)
        return QP_OK;
    const int first = s->logits_all ? 0 : n - 1;
    return logit_rows(s, s->x + (size_t)first * E, n - first, pos0 + first, prec, logits, err);
}

qp_status qp_forward(qp_state *s, const int32_t *tokens, int n_tokens, int pos0, float *logits,
                     qp_error *err)
{
    if (!tokens || n_tokens < 1 || pos0 < 0 || pos0 > s->n_ctx - n_tokens)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "cannot run %d tokens at position %d: the context holds %d", n_tokens,
                            pos0, s->n_ctx);
    for (int i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= s->hp.n_vocab)
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                                "token %d (at %d) is outside the vocabulary of %d", tokens[i], i,
                                s->hp.n_vocab);
    const int64_t t0 = tick(s);
    const int blas = blas_one_thread();
    qp_status st = QP_OK;
    for (int c = 0; !st && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        const bool last = c + n == n_tokens;
        float *out = NULL;
        if (logits && s->logits_all)
            out = logits + (size_t)c * (size_t)s->hp.n_vocab;
        else if (logits && last)
            out = logits;
        st = forward_chunk(s, tokens + c, n, pos0 + c, out, err);
    }
    blas_restore(blas);
    if (st)
        return st;
    observe(s, -1, QP_HOOK_FORWARD, NULL, n_tokens, 0, pos0, s->precision, t0);
    return QP_OK;
}

/* ---- the forward pass in steps (model.h) ---- */

static qp_status check_steps(const qp_state *s, const void *x, int n_tokens, int pos0, qp_error *err)
{
    if (!x || n_tokens < 1 || pos0 < 0 || pos0 > s->n_ctx - n_tokens)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "cannot run %d rows at position %d: the context holds %d",
                            n_tokens, pos0, s->n_ctx);
    return QP_OK;
}

qp_status qp_forward_embed(qp_state *s, const int32_t *tokens, int n_tokens, float *x, qp_error *err)
{
    qp_status st = check_steps(s, x, n_tokens, 0, err);
    for (int i = 0; st == QP_OK && i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= s->hp.n_vocab)
            st = qp_error_set(err, QP_ERR_INPUT, NULL, -1, "token %d (at %d) is outside the vocabulary of %d",
                              tokens[i], i, s->hp.n_vocab);
    const size_t E = (size_t)s->hp.n_embd;
    for (int c = 0; st == QP_OK && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        embed_rows(s, tokens + c, n, c, s->precision, x + (size_t)c * E);
    }
    return st;
}

qp_status qp_forward_layer(qp_state *s, int layer, float *x, int n_tokens, int pos0, enum qp_precision prec,
                           qp_error *err)
{
    qp_status st = check_steps(s, x, n_tokens, pos0, err);
    if (st == QP_OK && (layer < 0 || layer >= s->hp.n_layer))
        st = qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no layer %d (the model has %d)", layer, s->hp.n_layer);
    if (st != QP_OK)
        return st;
    const size_t E = (size_t)s->hp.n_embd;
    const int blas = blas_one_thread();
    for (int c = 0; st == QP_OK && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        st = layer_rows(s, layer, x + (size_t)c * E, n, pos0 + c, prec, err);
    }
    blas_restore(blas);
    return st;
}

qp_status qp_forward_logits(qp_state *s, const float *x, int n_tokens, enum qp_precision prec, float *logits,
                            qp_error *err)
{
    qp_status st = check_steps(s, x, n_tokens, 0, err);
    if (st == QP_OK && !logits)
        st = qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no room for the logits");
    const size_t E = (size_t)s->hp.n_embd, V = (size_t)s->hp.n_vocab;
    const int blas = st == QP_OK ? blas_one_thread() : 1;
    for (int c = 0; st == QP_OK && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        st = logit_rows(s, x + (size_t)c * E, n, c, prec, logits + (size_t)c * V, err);
    }
    blas_restore(blas);
    return st;
}

/* Checks shared by the single-block entry points. */
static qp_status check_block(const qp_state *s, int layer, const float *in, const float *out,
                             int n, int pos0, qp_error *err)
{
    if (layer < 0 || layer >= s->hp.n_layer)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no layer %d (the model has %d)", layer,
                            s->hp.n_layer);
    if (!in || !out || n < 1 || pos0 < 0 || pos0 > s->n_ctx - n)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "cannot run a block on %d rows at position %d (context %d)", n, pos0,
                            s->n_ctx);
    const size_t bytes = (size_t)n * (size_t)s->hp.n_embd * sizeof(float);
    const char *a = (const char *)in, *b = (const char *)out;
    if (a < b + bytes && b < a + bytes)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "block input and output overlap");
    return QP_OK;
}

qp_status qp_forward_attn_block(qp_state *s, int layer, const float *in, float *out, int n_tokens,
                                int pos0, enum qp_precision prec, qp_error *err)
{
    qp_status st = check_block(s, layer, in, out, n_tokens, pos0, err);
    const size_t E = (size_t)s->hp.n_embd;
    const int blas = blas_one_thread();
    /* chunks in order: each writes its k, v into the cache before the next
     * attends over them, so chunking changes nothing */
    for (int c = 0; !st && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        st = attn_block(s, layer, in + (size_t)c * E, out + (size_t)c * E, n, pos0 + c, prec, err);
    }
    blas_restore(blas);
    return st;
}

qp_status qp_forward_linear(qp_state *s, int layer, enum qp_lin_kind kind, const float *in, float *out,
                            int n_tokens, enum qp_precision prec, qp_error *err)
{
    if (qp_model_linear_index(s->model, layer, kind) < 0 || kind == QP_LIN_NONE)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no linear %s in layer %d", qp_lin_kind_name(kind), layer);
    if (n_tokens < 1 || !in || !out)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "a linear needs rows in and out (%d rows)", n_tokens);
    const int blas = blas_one_thread();
    const qp_status st = linear(s, layer, kind, prec, in, n_tokens, out, 0, err);
    blas_restore(blas);
    return st;
}

qp_status qp_forward_ffn_block(qp_state *s, int layer, const float *in, float *out, int n_tokens,
                               enum qp_precision prec, qp_error *err)
{
    qp_status st = check_block(s, layer, in, out, n_tokens, 0, err);
    const size_t E = (size_t)s->hp.n_embd;
    const int blas = blas_one_thread();
    for (int c = 0; !st && c < n_tokens; c += s->n_batch) {
        const int n = n_tokens - c < s->n_batch ? n_tokens - c : s->n_batch;
        st = ffn_block(s, layer, in + (size_t)c * E, out + (size_t)c * E, n, c, prec, err);
    }
    blas_restore(blas);
    return st;
}

/* ======================================================================== */
/* state                                                                    */
/* ======================================================================== */

qp_status qp_state_create(const qp_model *m, const qp_state_opts *opts, qp_state **out,
                          qp_error *err)
{
    *out = NULL;
    const qp_state_opts defaults = { 0 };
    if (!opts)
        opts = &defaults;
    const qp_hparams *hp = qp_model_hparams(m);
    if (opts->n_ctx < 0 || opts->n_batch < 0 || opts->n_threads < 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "negative n_ctx, n_batch or n_threads");
    qp_state *s = calloc(1, sizeof *s);
    if (!s)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    s->model = m;
    s->hp = *hp;
    s->n_ctx = opts->n_ctx ? opts->n_ctx : (hp->n_ctx_train < 2048 ? hp->n_ctx_train : 2048);
    s->n_batch = opts->n_batch ? opts->n_batch : 512;
    if (s->n_batch > s->n_ctx)
        s->n_batch = s->n_ctx;
    s->precision = opts->precision;
    s->logits_all = opts->logits_all;
    s->kernels = opts->kernels ? opts->kernels : qp_kernels_default();

    const size_t B = (size_t)s->n_batch, C = (size_t)s->n_ctx;
    const size_t E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t QD = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t KVD = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    s->kv_type = opts->kv_type;
    switch (s->kv_type) {
    case QP_KV_F32: s->kv_qtype = QP_TYPE_F32; break;
    case QP_KV_F16: s->kv_qtype = QP_TYPE_F16; break;
    case QP_KV_Q8_0: s->kv_qtype = QP_TYPE_Q8_0; break;
    default:
        free(s);
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "unknown KV cache type %d", (int)opts->kv_type);
    }
    /* a Q8_0 block must not straddle two heads: kv_head widens one head */
    if (s->kv_type == QP_KV_Q8_0 && hp->head_dim % QK8_0 != 0) {
        const int hd = hp->head_dim;
        free(s);
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "a q8_0 KV cache needs a head size that is a multiple of 32 (this model's is %d): "
                            "use f16 or f32", hd);
    }
    s->kv_row = qp_row_size(s->kv_qtype, hp->n_head_kv * hp->head_dim);
    const size_t cache = (size_t)hp->n_layer * C * s->kv_row;
    s->x = malloc(B * E * sizeof(float));
    s->xn = malloc(B * E * sizeof(float));
    s->out = malloc(B * E * sizeof(float));
    s->q = malloc(B * QD * sizeof(float));
    s->att = malloc(B * QD * sizeof(float));
    s->gate = malloc(B * F * sizeof(float));
    s->up = malloc(B * F * sizeof(float));
    if (opts->n_threads > 1)
        s->pool = qp_threadpool_create(opts->n_threads);
    s->n_threads = qp_threadpool_size(s->pool);
    s->scores = malloc((size_t)s->n_threads * ATT_ROWS * C * sizeof(float));
    s->dec_part = malloc((size_t)hp->n_head * DEC_MAX_CHUNKS * ((size_t)hp->head_dim + 2) * sizeof(float));
    s->key_cache = calloc(cache, 1);
    s->value_cache = calloc(cache, 1);
    if (s->kv_type != QP_KV_F32) {
        s->kv_new = malloc(2 * B * KVD * sizeof(float));
        s->kv_wide = malloc((size_t)s->n_threads * 2 * C * (size_t)hp->head_dim * sizeof(float));
        s->kv_layer = malloc(2 * C * KVD * sizeof(float));
    }
    s->rope_freq = malloc((size_t)(hp->n_rot / 2 + 1) * sizeof(double));
    if (!s->x || !s->xn || !s->out || !s->q || !s->att || !s->gate || !s->up || !s->scores || !s->dec_part ||
        !s->key_cache || !s->value_cache || !s->rope_freq || (opts->n_threads > 1 && !s->pool) ||
        (s->kv_type != QP_KV_F32 && (!s->kv_new || !s->kv_wide || !s->kv_layer))) {
        qp_state_free(s);
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1,
                            "out of memory for a state of %d positions x %d rows (KV cache %zu MB)",
                            s->n_ctx, s->n_batch, 2 * cache >> 20);
    }
    /* pair j turns by pos * freq_scale * base^(-2j / n_rot) / factor_j
     * (RoFormer's theta_j; linear scaling divides positions; Llama 3.1's
     * rope_freqs divide the frequencies) */
    const float *factors = qp_model_rope_freqs(m);
    for (int j = 0; j < hp->n_rot / 2; j++) {
        double f = (double)hp->rope_freq_scale *
                   pow((double)hp->rope_freq_base, -2.0 * j / (double)hp->n_rot);
        if (factors)
            f /= (double)factors[j];
        s->rope_freq[j] = f;
    }
    *out = s;
    return QP_OK;
}

void qp_state_free(qp_state *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->xn);
    free(s->out);
    free(s->q);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->scores);
    free(s->deq);
    free(s->dec_part);
    free(s->key_cache);
    free(s->value_cache);
    free(s->kv_new);
    free(s->kv_wide);
    free(s->kv_layer);
    free(s->rope_freq);
    qp_threadpool_free(s->pool);
    free(s);
}

const qp_model *qp_state_model(const qp_state *s) { return s->model; }
/* The rows f32_linear dequantizes at once for linear w: one slice a thread. */
static size_t deq_floats(const qp_state *s, const qp_linear *w)
{
    const int m = (int)w->rows;
    const int per = (m + F32_MAX_SLICES - 1) / F32_MAX_SLICES;
    const int slice = (per + F32_MIN_SLICE - 1) / F32_MIN_SLICE * F32_MIN_SLICE;
    return (size_t)s->n_threads * (size_t)slice * (size_t)w->cols;
}

size_t qp_state_bytes(const qp_state *s)
{
    const size_t B = (size_t)s->n_batch, C = (size_t)s->n_ctx, E = (size_t)s->hp.n_embd, F = (size_t)s->hp.n_ff;
    const size_t QD = (size_t)s->hp.n_head * (size_t)s->hp.head_dim;
    const size_t KVD = (size_t)s->hp.n_head_kv * (size_t)s->hp.head_dim;
    size_t floats = B * (3 * E + 2 * QD + 2 * F) + (size_t)s->n_threads * ATT_ROWS * C +
                    (size_t)s->hp.n_head * DEC_MAX_CHUNKS * ((size_t)s->hp.head_dim + 2);
    if (s->kv_type != QP_KV_F32)
        floats += 2 * B * KVD + (size_t)s->n_threads * 2 * C * (size_t)s->hp.head_dim + 2 * C * KVD;
    /* the dequantization scratch grows to the largest slice a pass needs */
    size_t deq = 0;
    for (int i = 0; i < qp_model_n_linears(s->model); i++) {
        const qp_linear *l = qp_model_linear(s->model, i);
        const size_t d = l->ref ? 0 : deq_floats(s, l);
        deq = d > deq ? d : deq;
    }
    return (floats + deq) * sizeof(float) + qp_state_kv_bytes(s);
}

size_t qp_state_kv_bytes(const qp_state *s)
{
    return 2 * (size_t)s->hp.n_layer * (size_t)s->n_ctx * s->kv_row;
}

int qp_state_n_ctx(const qp_state *s) { return s->n_ctx; }
qp_threadpool *qp_state_pool(const qp_state *s) { return s->pool; }
void qp_state_set_precision(qp_state *s, enum qp_precision p) { s->precision = p; }
enum qp_precision qp_state_precision(const qp_state *s) { return s->precision; }
void qp_state_set_logits_all(qp_state *s, bool all) { s->logits_all = all; }

void qp_state_set_hook(qp_state *s, qp_hook_fn fn, void *user)
{
    s->hook = fn;
    s->hook_user = user;
}
