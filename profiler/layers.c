/* profiler/layers.c - the layer-wise profiler (the plan: profiler.h,
 * "layers"). It goes through the model one layer at a time, keeping only
 * the residual streams between layers - the reference's and each type's -
 * never a whole model in another form:
 *
 *   embed the tokens: x_ref, and a copy x_t per type
 *   for each layer L:
 *     reference: layer L on x_ref `reps` times (FP32 from the file's rows,
 *       dequantized on the fly), the first run capturing every block's and
 *       linear's input and output; x_ref moves on
 *     for each type t:
 *       layer L's linears made in type t (llama.cpp's fallbacks), their
 *       weight errors; layer L on x_t `reps` times, the first compared with
 *       the captured reference (accumulated error: what the quantized
 *       model has done to the signal by then); each block and linear on the
 *       captured reference input (local error: the layer's own
 *       sensitivity); the forms released, the profile checkpointed
 *   logits of x_ref and of each x_t (the output projection in type t):
 *   KL divergence and top-1 agreement
 *
 * so the memory is one layer's forms and activations, the streams and two
 * sets of logits. Every number equals what whole-model passes gave (the
 * same operations on the same rows, qp_forward_layer); latencies are each
 * block's median over `reps` runs of its layer back to back. */
#include "profiler.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/common.h"
#include "../quant/quant.h"
#include "../model/model.h"

/* ==== captured activations ================================================ */

/* What the reference pass keeps per layer: the inputs of every block and
 * linear, and their outputs. ATTN_OUT is O's output and FFN_OUT is DOWN's,
 * so they are not stored twice. */
enum slot {
    S_ATTN_IN = 0, S_ATTN_NORM, S_Q, S_K, S_V, S_MIX, S_O,
    S_FFN_IN, S_FFN_NORM, S_GATE, S_UP, S_ACT, S_DOWN,
    S_COUNT
};

static int slot_of(const qp_hook_event *ev)
{
    switch (ev->point) {
    case QP_HOOK_ATTN_IN: return S_ATTN_IN;
    case QP_HOOK_ATTN_NORM: return S_ATTN_NORM;
    case QP_HOOK_ATTN_MIX: return S_MIX;
    case QP_HOOK_FFN_IN: return S_FFN_IN;
    case QP_HOOK_FFN_NORM: return S_FFN_NORM;
    case QP_HOOK_FFN_ACT: return S_ACT;
    case QP_HOOK_LINEAR:
        switch (ev->tensor) {
        case QP_LIN_Q: return S_Q;
        case QP_LIN_K: return S_K;
        case QP_LIN_V: return S_V;
        case QP_LIN_O: return S_O;
        case QP_LIN_GATE: return S_GATE;
        case QP_LIN_UP: return S_UP;
        case QP_LIN_DOWN: return S_DOWN;
        default: return -1;
        }
    default: return -1;
    }
}

/* The block a timed interval belongs to, or -1. */
static int block_of(const qp_hook_event *ev)
{
    if (ev->point == QP_HOOK_ATTN_OUT)
        return QP_BLOCK_ATTN;
    if (ev->point == QP_HOOK_FFN_OUT)
        return QP_BLOCK_FFN;
    if (ev->point == QP_HOOK_LINEAR && ev->layer >= 0 && ev->tensor <= QP_LIN_DOWN)
        return QP_BLOCK_Q + (int)ev->tensor;
    return -1;
}

/* The linear kind behind each per-linear block column. */
static const enum qp_lin_kind block_kind[QP_BLOCK_COUNT] = {
    QP_LIN_NONE, QP_LIN_NONE, QP_LIN_Q, QP_LIN_K, QP_LIN_V, QP_LIN_O, QP_LIN_GATE, QP_LIN_UP, QP_LIN_DOWN,
};
/* ...and the captured slots of its input and output. */
static const int block_in[QP_BLOCK_COUNT] = {S_ATTN_IN, S_FFN_IN, S_ATTN_NORM, S_ATTN_NORM, S_ATTN_NORM,
                                             S_MIX, S_FFN_NORM, S_FFN_NORM, S_ACT};
static const int block_out[QP_BLOCK_COUNT] = {S_O, S_DOWN, S_Q, S_K, S_V, S_O, S_GATE, S_UP, S_DOWN};

typedef struct capture {
    int64_t cols[S_COUNT];  /* row length of each slot */
    float *data[S_COUNT];   /* [n_tokens][cols]: one layer's, the current one */
} capture;

/* ==== the hook ============================================================ */

enum hook_mode { MODE_CAPTURE, MODE_COMPARE, MODE_TIME_ONLY };

typedef struct run_ctx {
    enum hook_mode mode;
    int layer;              /* the layer being run: the capture is its */
    capture *cap;
    double *times;          /* [QP_BLOCK_COUNT] ms of this run's blocks of `layer` */
    double parts_ms;        /* embedding, output norm and projection of this run */
    /* MODE_COMPARE: accumulated errors of `layer` go here, [QP_BLOCK_COUNT] per metric */
    double acc[QP_ERR_METRIC_COUNT][QP_BLOCK_COUNT];
} run_ctx;

static void hook(const qp_hook_event *ev, void *user)
{
    run_ctx *c = user;
    const double ms = (double)(ev->t_end - ev->t_begin) * 1e-6;
    const int b = block_of(ev);
    if (b >= 0 && ev->layer == c->layer && c->times)
        c->times[b] = ms;
    if (ev->point == QP_HOOK_EMBED || ev->point == QP_HOOK_OUTPUT_NORM ||
        (ev->point == QP_HOOK_LINEAR && ev->tensor == QP_LIN_OUTPUT))
        c->parts_ms += ms;
    if (c->mode == MODE_TIME_ONLY || ev->layer != c->layer || !ev->data)
        return;
    const int s = slot_of(ev);
    if (s < 0)
        return;
    const int64_t n = (int64_t)ev->rows * ev->cols;
    float *dst = c->cap->data[s];
    if (c->mode == MODE_CAPTURE) {
        memcpy(dst, ev->data, (size_t)n * sizeof(float));
        return;
    }
    /* MODE_COMPARE: block outputs and linear outputs against the reference */
    if (ev->point != QP_HOOK_LINEAR)
        return;
    double m[QP_ERR_METRIC_COUNT];
    qp_compare_outputs(dst, ev->data, n, m);
    const int whole = ev->tensor == QP_LIN_O ? QP_BLOCK_ATTN : ev->tensor == QP_LIN_DOWN ? QP_BLOCK_FFN : -1;
    for (int i = 0; i < QP_ERR_METRIC_COUNT; i++) {
        c->acc[i][b] = m[i];
        if (whole >= 0) /* O's and DOWN's outputs are the blocks' outputs */
            c->acc[i][whole] = m[i];
    }
}

/* ==== helpers ============================================================== */

static void say(const qp_layers_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const qp_layers_opts *o, const char *fmt, ...)
{
    if (!o->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_user, line);
}

static size_t linear_bytes(const qp_linear *l)
{
    if (l->q_type == QP_LINEAR_REF)
        return (size_t)l->rows * (size_t)l->cols * sizeof(float);
    return (size_t)l->rows * qp_row_size(l->q_type, l->cols);
}

/* Fills the tensor table of the profile from the model's linears. */
static void describe_tensors(const qp_model *m, qp_profile *p)
{
    for (int i = 0; i < p->n_tensors; i++) {
        const qp_linear *l = qp_model_linear(m, i);
        snprintf(p->tensor_names[i], QP_NAME_MAX, "%s", l->name);
        p->tensor_layer[i] = l->layer;
        p->tensor_block[i] = l->kind <= QP_LIN_DOWN ? QP_BLOCK_Q + (int)l->kind : -1;
        p->tensor_params[i] = l->rows * l->cols;
    }
}

/* Median of x[0..n-1] (n <= 64), x unchanged. */
static double median_of(const double *x, int n)
{
    double v[64];
    int k = n < 64 ? n : 64;
    memcpy(v, x, (size_t)k * sizeof *v);
    qp_stats_sort(v, k);
    return qp_stats_percentile(v, k, 50);
}

/* Median and spread (max - min) of reps samples at stride `stride`. */
static void summarise(const double *samples, int reps, size_t stride, size_t n, double *median, double *spread)
{
    double v[64];
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        for (int r = 0; r < reps && k < 64; r++)
            if (!isnan(samples[r * stride + i]))
                v[k++] = samples[r * stride + i];
        if (!k)
            continue;
        double lo = v[0], hi = v[0];
        for (int j = 1; j < k; j++) {
            lo = v[j] < lo ? v[j] : lo;
            hi = v[j] > hi ? v[j] : hi;
        }
        median[i] = median_of(v, k);
        spread[i] = hi - lo;
    }
}

/* ==== the profile ========================================================== */

static qp_status check_resume(const qp_profile *old, const qp_profile *p, const char *path, qp_error *err)
{
    if (strcmp(old->model_sha256, p->model_sha256) != 0)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot resume: profile of another model (sha256 %.12s…)",
                            old->model_sha256);
    if (old->n_tokens != p->n_tokens || old->n_types != p->n_types || old->n_layers != p->n_layers ||
        old->n_tensors != p->n_tensors)
        return qp_error_set(err, QP_ERR_INPUT, path, -1,
                            "cannot resume: profile has %d types x %d tokens, this run %d x %d",
                            old->n_types, old->n_tokens, p->n_types, p->n_tokens);
    for (int t = 0; t < p->n_types; t++)
        if (strcmp(old->type_names[t], p->type_names[t]) != 0)
            return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot resume: type %d is %s there, %s here", t,
                                old->type_names[t], p->type_names[t]);
    return QP_OK;
}

/* Copies everything measured from old into p (same dimensions). */
static void adopt(qp_profile *p, const qp_profile *old)
{
    size_t lb = (size_t)p->n_layers * QP_BLOCK_COUNT, tlb = (size_t)p->n_types * lb;
    size_t tt = (size_t)p->n_types * p->n_tensors, ty = (size_t)p->n_types;
#define CP(f, n) memcpy(p->f, old->f, (n) * sizeof *p->f)
    CP(latency_median, tlb); CP(latency_spread, tlb); CP(tokens_per_s, tlb); CP(weight_gb_per_s, tlb);
    CP(ref_latency_median, lb); CP(ref_latency_spread, lb); CP(ref_forward_ms, 1);
    CP(forward_ms, ty); CP(block_sum_ms, ty); CP(w_type, tt); CP(kld_mean, ty); CP(kld_max, ty);
    CP(top1, ty); CP(done, ty * p->n_layers); CP(done_model, ty);
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++)
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++)
            CP(err[m][k], tlb);
    for (int m = 0; m < QP_W_METRIC_COUNT; m++)
        CP(w_err[m], tt);
#undef CP
    /* the first run's layouts; the resumed one adds its own */
    snprintf(p->packed_layouts, sizeof p->packed_layouts, "%s", old->packed_layouts);
}

/* ==== the run ============================================================== */

/* Everything one qp_layers_run holds between its steps. */
typedef struct layers_run {
    qp_model *m;
    const qp_layers_opts *o;
    qp_profile *p;
    const qp_kernels *kern;
    int L, n, V, E, n_lin;
    const int *types;        /* o->types, or the default ladder's types that fit */
    int n_types;
    int default_types[16];
    qp_state *state;
    capture cap;             /* the current layer's reference activations */
    run_ctx c;
    float *x_ref;            /* [n][E] the reference's residual stream */
    float *x_type;           /* [n_types][n][E] each type's; with spill_fd, [n][E]: the one loaded */
    int spill_fd;            /* -1, or the (unlinked) file the types' streams live in */
    int loaded;              /* with spill_fd: whose stream x_type holds (-1: none) */
    float *x_run;            /* [n][E] a layer's input, copied for each timed run */
    float *scratch;          /* [n][widest slot] local errors' outputs */
    float *ref_logits;       /* [n][V] */
    float *q_logits;         /* [n][V] */
    double *times;           /* [reps][QP_BLOCK_COUNT] */
    double *parts;           /* [n_types + 1][reps]: embedding, output norm and projection */
    qp_progress prog;
    int64_t unit;            /* progress units done */
} layers_run;

static size_t stream_bytes(const layers_run *r)
{
    return (size_t)r->n * (size_t)r->E * sizeof(float);
}

/* The residual stream of type t (-1: the reference's): in memory, or read
 * from the spill file into the one resident slot (stream_keep writes it
 * back). */
static float *stream_of(layers_run *r, int t)
{
    if (t < 0)
        return r->x_ref;
    if (r->spill_fd < 0)
        return r->x_type + (size_t)t * (size_t)r->n * (size_t)r->E;
    return r->x_type;
}

static qp_status stream_load(layers_run *r, int t, qp_error *err)
{
    if (r->spill_fd < 0 || r->loaded == t)
        return QP_OK;
    const size_t n = stream_bytes(r);
    if (pread(r->spill_fd, r->x_type, n, (off_t)((size_t)t * n)) != (ssize_t)n)
        return qp_error_set(err, QP_ERR_RUNTIME, r->o->out_path, -1, "reading back a spilled stream: %m");
    r->loaded = t;
    return QP_OK;
}

static qp_status stream_keep(layers_run *r, int t, qp_error *err)
{
    if (r->spill_fd < 0)
        return QP_OK;
    const size_t n = stream_bytes(r);
    if (pwrite(r->spill_fd, r->x_type, n, (off_t)((size_t)t * n)) != (ssize_t)n)
        return qp_error_set(err, QP_ERR_RUNTIME, r->o->out_path, -1, "spilling a stream beside the output: %m");
    r->loaded = t;
    return QP_OK;
}

/* True if at least one linear of the model takes `type` without fallback. */
static bool type_fits_model(const qp_model *m, int type)
{
    for (int i = 0; i < qp_model_n_linears(m); i++)
        if (qp_fallback_type(type, qp_model_linear(m, i)->cols) == type)
            return true;
    return false;
}

/* The types to profile: o->types checked, or the default ladder less the
 * types no tensor of the model can take (every row would fall back). */
static qp_status choose_types(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    if (o->n_types > 0) {
        for (int t = 0; t < o->n_types; t++)
            if (!qp_kernels_can_run(o->types[t]) || o->types[t] == QP_TYPE_F32)
                return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                                    "'%s' is not a quantization type qprof can run (try q8_0,q6_K,q5_K,"
                                    "q5_1,q5_0,q4_K,q4_1,q4_0,q3_K,q2_K,f16,bf16)",
                                    qp_type_info(o->types[t]) ? qp_type_info(o->types[t])->name : "?");
        if (o->n_types > 64)
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "at most 64 types");
        r->types = o->types;
        r->n_types = o->n_types;
        return QP_OK;
    }
    const int *ladder;
    const int n = qp_type_ladder(&ladder);
    for (int i = 0; i < n && r->n_types < (int)(sizeof r->default_types / sizeof *r->default_types); i++) {
        if (type_fits_model(r->m, ladder[i]))
            r->default_types[r->n_types++] = ladder[i];
        else
            say(o, "no tensor of this model fits %s blocks; skipping it", qp_type_info(ladder[i])->name);
    }
    if (r->n_types == 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no quantization type to profile");
    r->types = r->default_types;
    return QP_OK;
}

/* Phase 0: the profile's identity (root attributes) and tensor table. */
static qp_status describe_run(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p;
    const qp_hparams *hp = qp_model_hparams(r->m);
    snprintf(p->qprof_version, sizeof p->qprof_version, "%s", QPROF_VERSION);
    snprintf(p->model_path, sizeof p->model_path, "%s", o->model_path ? o->model_path : "");
    qp_status st;
    if (o->model_path && (st = qp_sha256_file(o->model_path, p->model_sha256, err)) != QP_OK)
        return st;
    snprintf(p->architecture, sizeof p->architecture, "%s", qp_arch_name(hp->arch));
    /* the reference is what the linears' FP32 forms were made from */
    const qp_linear *l0 = qp_model_linear(r->m, 0), *lo = qp_model_linear(r->m, r->n_lin - 1);
    snprintf(p->reference, sizeof p->reference, "FP32 arithmetic on weights %s (output: %s)", l0->ref_from,
             lo->ref_from);
    snprintf(p->kernel_variant, sizeof p->kernel_variant, "%s", qp_kernels_name(r->kern));
    snprintf(p->kv_type, sizeof p->kv_type, "%s", qp_kv_type_name(o->kv_type));
    snprintf(p->packed_layouts, sizeof p->packed_layouts, "none"); /* added per type below */
    qp_cpu_model(p->cpu_model, sizeof p->cpu_model);
    time_t now = time(NULL);
    strftime(p->date, sizeof p->date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(p->text_source, sizeof p->text_source, "%s", o->text_source ? o->text_source : "");
    p->n_tokens = r->n;
    p->threads = o->threads;
    p->reps = o->reps;
    for (int t = 0; t < r->n_types; t++) {
        const qp_type_traits *tr = qp_type_info(r->types[t]);
        snprintf(p->type_names[t], QP_NAME_MAX, "%s", tr ? tr->name : "?");
    }
    describe_tensors(r->m, p);
    return QP_OK;
}

/* With --resume, adopt what the interrupted run finished. */
static qp_status resume_run(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p, old;
    qp_status st = qp_profile_read_h5(&old, o->out_path, err);
    if (st != QP_OK)
        return st;
    st = check_resume(&old, p, o->out_path, err);
    if (st == QP_OK)
        adopt(p, &old);
    qp_profile_free(&old);
    if (st != QP_OK)
        return st;
    say(o, "resuming %s: the latencies of finished layers are the interrupted run's", o->out_path);
    /* latencies of packed and plain layouts differ by up to 2x */
    const bool was_rows = strcmp(p->packed_layouts, "none") == 0;
    bool packs = false; /* this run will pack some type (fallbacks aside) */
    for (int t = 0; t < r->n_types && !o->rows_only; t++)
        packs |= qp_pack_name(r->kern, (enum qp_type)r->types[t]) != NULL;
    if (o->rows_only && !was_rows)
        say(o, "warning: the interrupted run used packed layouts (%s) and this one plain rows "
               "(--rows): latencies from the two runs are not comparable", p->packed_layouts);
    else if (packs && was_rows)
        say(o, "warning: the interrupted run used plain rows (--rows or another variant) and this "
               "one the packed layouts of %s: latencies from the two runs are not comparable",
            qp_kernels_name(r->kern));
    return QP_OK;
}

/* ==== memory ================================================================ */

/* Bytes of the forms linears [first, first + count) take in type t: a
 * quantized copy unless t is the file's type, and a packed copy where the
 * kernels pack t; and their file rows, resident while they are read. */
static uint64_t forms_bytes(const layers_run *r, int first, int count, int t)
{
    uint64_t b = 0;
    for (int i = first; i < first + count; i++) {
        const qp_linear *l = qp_model_linear(r->m, i);
        const int got = qp_fallback_type(t, l->cols);
        const uint64_t q = qp_tensor_bytes(got, l->rows, l->cols);
        b += qp_tensor_bytes(l->file_type, l->rows, l->cols);
        if (got != l->file_type)
            b += q;
        if (!r->o->rows_only && qp_pack_rows(r->kern, (enum qp_type)got))
            b += q;
    }
    return b;
}

/* What qp_layers_run keeps in memory: *fixed, what it needs at once (one
 * layer's forms and activations, the state, two sets of logits, three
 * residual streams), and *all, that with every type's stream resident. */
static void need_memory(const layers_run *r, uint64_t *fixed, uint64_t *all, uint64_t *forms_out,
                        uint64_t *logits_out)
{
    const qp_hparams *hp = qp_model_hparams(r->m);
    const uint64_t n = (uint64_t)r->n, E = (uint64_t)r->E, V = (uint64_t)r->V;
    const uint64_t qkv = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    const uint64_t cap_floats = n * (6 * E + 2 * qkv + 2 * kv + 3 * (uint64_t)hp->n_ff);
    const uint64_t widest = (uint64_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    uint64_t forms = 0;
    for (int t = 0; t < r->n_types; t++) {
        for (int L = 0; L < r->L; L++) {
            const uint64_t b = forms_bytes(r, L * QP_LIN_PER_LAYER, QP_LIN_PER_LAYER, r->types[t]);
            forms = b > forms ? b : forms;
        }
        const uint64_t b = forms_bytes(r, r->n_lin - 1, 1, r->types[t]);
        forms = b > forms ? b : forms;
    }
    /* the FP32 form of the layer being profiled (qp_model_hold_ref) */
    uint64_t fp32 = 0;
    for (int L = 0; L < r->L; L++) {
        uint64_t b = 0;
        for (int i = L * QP_LIN_PER_LAYER; i < (L + 1) * QP_LIN_PER_LAYER; i++) {
            const qp_linear *lin = qp_model_linear(r->m, i);
            b += lin->ref && lin->file_type == QP_TYPE_F32 ? 0 : (uint64_t)lin->rows * (uint64_t)lin->cols * 4;
        }
        fp32 = b > fp32 ? b : fp32;
    }
    forms += fp32;
    const uint64_t stream = n * E * sizeof(float), logits = 2 * n * V * sizeof(float);
    *fixed = qp_state_bytes(r->state) + forms + (cap_floats + n * widest) * sizeof(float) + logits + 3 * stream;
    *all = *fixed + (uint64_t)(r->n_types - 1) * stream;
    if (forms_out)
        *forms_out = forms;
    if (logits_out)
        *logits_out = logits;
}

/* Whether the types' streams must go to a file to fit o->max_memory, or
 * QP_ERR_INPUT naming the minimum when even one layer does not fit. */
static qp_status plan_memory(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    uint64_t fixed, all, forms, logits;
    need_memory(r, &fixed, &all, &forms, &logits);
    if (o->max_memory == 0 || all <= o->max_memory)
        return QP_OK;
    const double MiB = 1048576.0;
    if (fixed > o->max_memory)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "--max-memory %.0f MiB cannot hold one layer: it needs at least %.0f MiB (%.0f MiB "
                            "of weight forms, %.0f MiB of logits, %.0f MiB of activations and state)",
                            (double)o->max_memory / MiB, ceil((double)fixed / MiB), (double)forms / MiB,
                            (double)logits / MiB, (double)(fixed - forms - logits) / MiB);
    /* the streams go to a file beside the output, unlinked at once so that
     * nothing is left behind, whatever ends the run */
    char path[1100];
    const char *out = o->out_path ? o->out_path : "/tmp/qprof";
    snprintf(path, sizeof path, "%s.streams.XXXXXX", out);
    r->spill_fd = mkstemp(path);
    if (r->spill_fd < 0)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create the spill file: %m");
    unlink(path);
    say(o, "--max-memory %.0f MiB: the %d types' residual streams (%.1f MiB) go to a file beside %s",
        (double)o->max_memory / MiB, r->n_types, (double)(all - fixed + stream_bytes(r)) / MiB, out);
    return QP_OK;
}

qp_status qp_layers_memory(qp_model *m, const qp_layers_opts *o, uint64_t *need_min, uint64_t *need_all,
                           qp_error *err)
{
    const qp_hparams *hp = qp_model_hparams(m);
    layers_run r = {.m = m, .o = o, .L = hp->n_layer, .n = o->n_tokens, .V = hp->n_vocab, .E = hp->n_embd,
                    .n_lin = qp_model_n_linears(m), .spill_fd = -1, .loaded = -1};
    r.kern = o->kernels ? o->kernels : qp_kernels_default();
    qp_status st = o->n_tokens >= 2 ? choose_types(&r, err)
                                    : qp_error_set(err, QP_ERR_INPUT, NULL, -1, "tokens must be >= 2");
    const qp_state_opts so = {.n_ctx = r.n, .n_batch = r.n, .n_threads = o->threads, .kernels = r.kern,
                              .precision = QP_PREC_REF, .logits_all = true, .kv_type = o->kv_type};
    if (st == QP_OK)
        st = qp_state_create(m, &so, &r.state, err);
    if (st == QP_OK)
        need_memory(&r, need_min, need_all, NULL, NULL);
    qp_state_free(r.state);
    return st;
}

/* Streams, one layer's capture, timings, logits and the forward state. */
static qp_status alloc_run(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    const qp_hparams *hp = qp_model_hparams(r->m);
    const size_t n = (size_t)r->n, E = (size_t)r->E, V = (size_t)r->V;
    const int64_t qkv = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t cols[S_COUNT] = {hp->n_embd, hp->n_embd, qkv, kv, kv, qkv, hp->n_embd,
                                   hp->n_embd, hp->n_embd, hp->n_ff, hp->n_ff, hp->n_ff, hp->n_embd};
    int64_t widest = 0;
    int ok = 1;
    for (int s = 0; s < S_COUNT; s++) {
        r->cap.cols[s] = cols[s];
        widest = cols[s] > widest ? cols[s] : widest;
        ok = ok && (r->cap.data[s] = malloc(n * (size_t)cols[s] * sizeof(float))) != NULL;
    }
    r->c.cap = &r->cap;
    r->x_ref = malloc(n * E * sizeof(float));
    r->x_type = malloc((r->spill_fd >= 0 ? 1 : (size_t)r->n_types) * n * E * sizeof(float));
    r->x_run = malloc(n * E * sizeof(float));
    r->scratch = malloc(n * (size_t)widest * sizeof(float));
    r->ref_logits = malloc(n * V * sizeof(float));
    r->q_logits = malloc(n * V * sizeof(float));
    r->times = malloc((size_t)o->reps * QP_BLOCK_COUNT * sizeof(double));
    r->parts = calloc((size_t)(r->n_types + 1) * (size_t)o->reps, sizeof(double));
    ok = ok && r->x_ref && r->x_type && r->x_run && r->scratch && r->ref_logits && r->q_logits && r->times &&
         r->parts;
    if (!ok)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1,
                            "out of memory for one layer's activations of %d tokens and %d types (try fewer "
                            "--tokens or --types)", r->n, r->n_types);
    return QP_OK;
}

static void free_run(layers_run *r)
{
    if (r->spill_fd >= 0)
        close(r->spill_fd);
    qp_state_free(r->state);
    for (int s = 0; s < S_COUNT; s++)
        free(r->cap.data[s]);
    free(r->x_ref);
    free(r->x_type);
    free(r->x_run);
    free(r->scratch);
    free(r->ref_logits);
    free(r->q_logits);
    free(r->times);
    free(r->parts);
}

/* The linears of layer L (or the output projection for L = -1) in type t,
 * with llama.cpp's fallbacks where rows do not fit, said for the first
 * layer and the output (rows of a kind have one length), or back to the
 * reference alone (t = QP_LINEAR_REF: their forms freed). */
static qp_status set_layer_type(layers_run *r, int L, int t, qp_error *err)
{
    qp_fallback fb[QP_LIN_PER_LAYER];
    int n_fb = 0;
    qp_status st = qp_model_set_layer_type(r->m, L, t, fb, QP_LIN_PER_LAYER, &n_fb, err);
    for (int i = 0; st == QP_OK && L <= 0 && i < n_fb; i++) {
        const qp_type_traits *w = qp_type_info(fb[i].wanted), *g = qp_type_info(fb[i].got);
        const qp_linear *l = qp_model_linear(r->m, fb[i].linear);
        say(r->o, "%s: %s rows of %lld do not fit, using %s", w ? w->name : "?", l->name, (long long)l->cols,
            g ? g->name : "f32");
    }
    return st;
}

/* The weight errors of layer L's linears (or the output's) in type ti. */
static qp_status weight_errors(layers_run *r, int L, int ti, qp_error *err)
{
    qp_profile *p = r->p;
    const int first = L < 0 ? r->n_lin - 1 : L * QP_LIN_PER_LAYER;
    const int count = L < 0 ? 1 : QP_LIN_PER_LAYER;
    for (int i = first; i < first + count; i++) {
        const qp_linear *lin = qp_model_linear(r->m, i);
        double w[QP_W_METRIC_COUNT];
        qp_status st = qp_weight_error(lin, w, err);
        if (st != QP_OK)
            return st;
        for (int k = 0; k < QP_W_METRIC_COUNT; k++)
            p->w_err[k][(size_t)ti * r->n_lin + i] = w[k];
        p->w_type[(size_t)ti * r->n_lin + i] = lin->q_type;
    }
    return QP_OK;
}

/* Layer L on stream t at precision prec, `reps` times when timed (each from
 * the same input), the first run in `first` mode; the stream moves on.
 * Block times of the runs go to r->times[reps][QP_BLOCK_COUNT]. */
static qp_status run_layer(layers_run *r, int L, int t, enum qp_precision prec, enum hook_mode first, bool timed,
                           qp_error *err)
{
    float *x = stream_of(r, t);
    const size_t bytes = (size_t)r->n * (size_t)r->E * sizeof(float);
    const int reps = timed ? r->o->reps : 1;
    r->c.layer = L;
    qp_state_set_hook(r->state, hook, &r->c);
    qp_status st = QP_OK;
    for (int rep = reps - 1; st == QP_OK && rep >= 0; rep--) {
        /* the other runs first, on a copy of the input, then rep 0 (which
         * captures or compares) in place: its output is the stream's next value */
        r->c.mode = rep == 0 ? first : MODE_TIME_ONLY;
        r->c.times = r->times + (size_t)rep * QP_BLOCK_COUNT;
        for (int b = 0; b < QP_BLOCK_COUNT; b++)
            r->c.times[b] = NAN;
        float *io = rep == 0 ? x : r->x_run;
        if (rep != 0)
            memcpy(r->x_run, x, bytes);
        st = qp_forward_layer(r->state, L, io, r->n, 0, prec, err);
    }
    qp_state_set_hook(r->state, NULL, NULL);
    return st;
}

/* Median and spread of the timed runs of layer L's blocks into med/spr
 * ([QP_BLOCK_COUNT] each). */
static void layer_latency(layers_run *r, double *med, double *spr)
{
    summarise(r->times, r->o->reps, QP_BLOCK_COUNT, QP_BLOCK_COUNT, med, spr);
}

/* The local error of every block and linear of layer L in the current
 * type, each fed its captured reference input, into type ti's columns. */
static qp_status local_errors(layers_run *r, int L, int ti, qp_error *err)
{
    qp_profile *p = r->p;
    const int n = r->n;
    for (int b = 0; b < QP_BLOCK_COUNT; b++) {
        const float *in = r->cap.data[block_in[b]];
        qp_status st;
        if (b == QP_BLOCK_ATTN)
            st = qp_forward_attn_block(r->state, L, in, r->scratch, n, 0, QP_PREC_QUANT, err);
        else if (b == QP_BLOCK_FFN)
            st = qp_forward_ffn_block(r->state, L, in, r->scratch, n, QP_PREC_QUANT, err);
        else
            st = qp_forward_linear(r->state, L, block_kind[b], in, r->scratch, n, QP_PREC_QUANT, err);
        if (st != QP_OK)
            return st;
        double m[QP_ERR_METRIC_COUNT];
        qp_compare_outputs(r->cap.data[block_out[b]], r->scratch, (int64_t)n * r->cap.cols[block_out[b]], m);
        for (int k = 0; k < QP_ERR_METRIC_COUNT; k++)
            p->err[k][QP_LOCAL][qp_profile_tlb(p, ti, L, b)] = m[k];
    }
    return QP_OK;
}

static qp_status stopped(const layers_run *r, qp_error *err)
{
    if (r->o->stop && *r->o->stop)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "interrupted");
    return QP_OK;
}

/* Layer L of type ti: quantize, weight errors, the accumulated pass (timed,
 * compared), the local errors, release; or only the stream's step when the
 * interrupted run finished it. */
static qp_status profile_layer_type(layers_run *r, int L, int ti, qp_error *err)
{
    qp_profile *p = r->p;
    const bool done = p->done[ti * r->L + L];
    qp_status st = stopped(r, err);
    if (st == QP_OK)
        st = stream_load(r, ti, err);
    if (st == QP_OK)
        st = set_layer_type(r, L, r->types[ti], err);
    if (st == QP_OK && !done) {
        /* latencies depend on the layout: packed Q4_K runs ~1.5x the plain rows */
        qp_model_packed_layouts(r->m, p->packed_layouts, sizeof p->packed_layouts);
        st = weight_errors(r, L, ti, err);
    }
    if (st == QP_OK)
        st = run_layer(r, L, ti, QP_PREC_QUANT, done ? MODE_TIME_ONLY : MODE_COMPARE, !done, err);
    if (st == QP_OK && !done) {
        const size_t lb = (size_t)r->L * QP_BLOCK_COUNT, at = (size_t)ti * lb + (size_t)L * QP_BLOCK_COUNT;
        double *med = p->latency_median + at, *spr = p->latency_spread + at;
        layer_latency(r, med, spr);
        for (int b = 0; b < QP_BLOCK_COUNT; b++) {
            size_t bytes = 0;
            for (int k = QP_BLOCK_Q; k < QP_BLOCK_COUNT; k++) {
                const int in_block = b == k || (b == QP_BLOCK_ATTN && k <= QP_BLOCK_O) ||
                                     (b == QP_BLOCK_FFN && k >= QP_BLOCK_GATE);
                if (in_block)
                    bytes += linear_bytes(qp_model_linear(r->m, qp_model_linear_index(r->m, L, block_kind[k])));
            }
            p->tokens_per_s[at + b] = med[b] > 0 ? r->n / (med[b] * 1e-3) : NAN;
            p->weight_gb_per_s[at + b] = med[b] > 0 ? bytes / (med[b] * 1e-3) * 1e-9 : NAN;
            for (int k = 0; k < QP_ERR_METRIC_COUNT; k++)
                p->err[k][QP_ACCUMULATED][at + b] = r->c.acc[k][b];
        }
        st = local_errors(r, L, ti, err);
    }
    if (st == QP_OK)
        st = set_layer_type(r, L, QP_LINEAR_REF, err);
    if (st == QP_OK)
        st = stream_keep(r, ti, err);
    if (st == QP_OK && !done) {
        p->done[ti * r->L + L] = 1;
        if (r->o->out_path)
            st = qp_profile_write_h5(p, r->o->out_path, err);
        char what[96];
        snprintf(what, sizeof what, "%s layer %d", p->type_names[ti], L);
        qp_progress_update(&r->prog, ++r->unit, what);
    } else if (st == QP_OK) {
        qp_progress_update(&r->prog, ++r->unit, NULL);
    }
    return st;
}

/* Layer L: the reference (timed, captured), then every type. */
static qp_status profile_layer(layers_run *r, int L, qp_error *err)
{
    qp_profile *p = r->p;
    bool all_done = true;
    for (int ti = 0; ti < r->n_types; ti++)
        all_done = all_done && p->done[ti * r->L + L];
    /* the layer's FP32 form, once for the reference and every type */
    qp_status st = stopped(r, err);
    if (st == QP_OK)
        st = qp_model_hold_ref(r->m, L, true, err);
    if (st == QP_OK)
        st = run_layer(r, L, -1, QP_PREC_REF, all_done ? MODE_TIME_ONLY : MODE_CAPTURE, !all_done, err);
    if (st == QP_OK && !all_done)
        layer_latency(r, p->ref_latency_median + (size_t)L * QP_BLOCK_COUNT,
                      p->ref_latency_spread + (size_t)L * QP_BLOCK_COUNT);
    if (st == QP_OK)
        qp_progress_update(&r->prog, ++r->unit, "reference");
    for (int ti = 0; st == QP_OK && ti < r->n_types; ti++)
        st = profile_layer_type(r, L, ti, err);
    qp_model_hold_ref(r->m, L, false, NULL);
    return st;
}

/* The logits of stream t (-1: the reference) into out, `reps` times timed
 * (with the embedding's times, the parts outside the layers). */
static qp_status stream_logits(layers_run *r, int t, enum qp_precision prec, float *out, qp_error *err)
{
    double *parts = r->parts + (size_t)(t + 1) * (size_t)r->o->reps;
    r->c.layer = -2; /* no layer: only the parts are timed */
    r->c.mode = MODE_TIME_ONLY;
    r->c.times = NULL;
    qp_state_set_hook(r->state, hook, &r->c);
    qp_status st = QP_OK;
    for (int rep = 0; st == QP_OK && rep < r->o->reps; rep++) {
        r->c.parts_ms = 0;
        st = qp_forward_logits(r->state, stream_of(r, t), r->n, prec, out, err);
        parts[rep] += r->c.parts_ms;
    }
    qp_state_set_hook(r->state, NULL, NULL);
    return st;
}

/* The whole-model figures of type ti: logits, KL divergence, top-1, the
 * output projection's weight error, and the forward time as the sum of
 * its parts' medians (embedding, every block, output). */
static qp_status finish_type(layers_run *r, int ti, qp_error *err)
{
    qp_profile *p = r->p;
    const int n = r->n, V = r->V;
    qp_status st = stopped(r, err);
    if (st == QP_OK)
        st = stream_load(r, ti, err);
    if (st == QP_OK)
        st = set_layer_type(r, -1, r->types[ti], err);
    if (st == QP_OK)
        st = weight_errors(r, -1, ti, err);
    if (st == QP_OK)
        st = stream_logits(r, ti, QP_PREC_QUANT, r->q_logits, err);
    if (st == QP_OK)
        st = set_layer_type(r, -1, QP_LINEAR_REF, err);
    if (st != QP_OK)
        return st;
    double kl = 0, klmax = 0;
    int agree = 0;
    for (int i = 0; i < n; i++) {
        bool same;
        const double k = qp_kld_row(r->ref_logits + (size_t)i * V, r->q_logits + (size_t)i * V, V, &same);
        kl += k;
        klmax = k > klmax ? k : klmax;
        agree += same;
    }
    p->kld_mean[ti] = kl / n;
    p->kld_max[ti] = klmax;
    p->top1[ti] = 100.0 * agree / n;
    double parts = median_of(r->parts + (size_t)(ti + 1) * (size_t)r->o->reps, r->o->reps);
    double sum = parts;
    for (int L = 0; L < r->L; L++)
        for (int b = QP_BLOCK_ATTN; b <= QP_BLOCK_FFN; b++)
            sum += p->latency_median[qp_profile_tlb(p, ti, L, b)];
    p->forward_ms[ti] = p->block_sum_ms[ti] = sum;
    p->done_model[ti] = 1;
    qp_progress_update(&r->prog, ++r->unit, p->type_names[ti]);
    return r->o->out_path ? qp_profile_write_h5(p, r->o->out_path, err) : QP_OK;
}

qp_status qp_layers_run(qp_model *m, const qp_layers_opts *o, qp_profile *p, qp_error *err)
{
    memset(p, 0, sizeof *p);
    const qp_hparams *hp = qp_model_hparams(m);
    layers_run r = {.m = m, .o = o, .p = p, .L = hp->n_layer, .n = o->n_tokens, .V = hp->n_vocab,
                    .E = hp->n_embd, .n_lin = qp_model_n_linears(m), .spill_fd = -1, .loaded = -1};
    r.kern = o->kernels ? o->kernels : qp_kernels_default();
    if (o->reps < 1 || o->reps > 64 || r.n < 2)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "reps must be 1..64 and tokens >= 2 (got %d reps, %d tokens)",
                            o->reps, r.n);
    if (r.n > hp->n_ctx_train)
        say(o, "%d tokens exceed the model's training context (%d)", r.n, hp->n_ctx_train);
    qp_status st = choose_types(&r, err);
    if (st == QP_OK)
        st = qp_profile_alloc(p, r.n_types, r.L, r.n_lin, err);
    if (st == QP_OK)
        st = describe_run(&r, err);
    if (st == QP_OK && o->resume && o->out_path)
        st = resume_run(&r, err);
    if (st != QP_OK)
        return st;

    const qp_kernels *prev_kernels = qp_model_kernels(m);
    int kernels_set = 0;
    openblas_set_num_threads(o->threads);
    const qp_state_opts so = {.n_ctx = r.n, .n_batch = r.n, .n_threads = o->threads, .kernels = r.kern,
                              .precision = QP_PREC_REF, .logits_all = true, .kv_type = o->kv_type};
    if ((st = qp_state_create(m, &so, &r.state, err)) != QP_OK || (st = plan_memory(&r, err)) != QP_OK ||
        (st = alloc_run(&r, err)) != QP_OK)
        goto done;
    /* every linear starts (and ends) as the reference alone; quantize on
     * the state's pool too (idle between passes), and keep the packed
     * copies the forward pass multiplies with these kernels */
    qp_model_set_all(m, QP_LINEAR_REF, NULL, 0, NULL, err);
    qp_model_set_threads(m, qp_state_pool(r.state));
    if ((st = qp_model_set_kernels(m, o->rows_only ? NULL : r.kern, err)) != QP_OK)
        goto done;
    kernels_set = 1;

    qp_progress_begin(&r.prog, "layers", (int64_t)r.L * (1 + r.n_types) + r.n_types + 1);
    if (!o->progress)
        r.prog.enabled = 0;
    say(o, "%d layers x (reference + %d types), %d tokens x %d reps (%s)", r.L, r.n_types, r.n, o->reps,
        p->reference);
    /* the embedding, timed like the output: reps runs */
    for (int rep = 0; st == QP_OK && rep < o->reps; rep++) {
        r.c.layer = -2;
        r.c.mode = MODE_TIME_ONLY;
        r.c.times = NULL;
        r.c.parts_ms = 0;
        qp_state_set_hook(r.state, hook, &r.c);
        st = qp_forward_embed(r.state, o->tokens, r.n, r.x_ref, err);
        qp_state_set_hook(r.state, NULL, NULL);
        /* the embedding is the same lookup for every type */
        for (int t = -1; t < r.n_types; t++)
            r.parts[(size_t)(t + 1) * (size_t)o->reps + (size_t)rep] = r.c.parts_ms;
    }
    for (int t = 0; st == QP_OK && t < r.n_types; t++) {
        memcpy(stream_of(&r, t), r.x_ref, stream_bytes(&r));
        st = stream_keep(&r, t, err);
    }
    for (int L = 0; st == QP_OK && L < r.L; L++)
        st = profile_layer(&r, L, err);
    if (st == QP_OK)
        st = stream_logits(&r, -1, QP_PREC_REF, r.ref_logits, err);
    bool all_done = true; /* then the interrupted run's figures stay as they were */
    for (int t = 0; t < r.n_types; t++)
        all_done = all_done && p->done_model[t];
    if (st == QP_OK && !all_done) {
        double sum = median_of(r.parts, o->reps);
        for (int L = 0; L < r.L; L++)
            sum += p->ref_latency_median[L * QP_BLOCK_COUNT + QP_BLOCK_ATTN] +
                   p->ref_latency_median[L * QP_BLOCK_COUNT + QP_BLOCK_FFN];
        p->ref_forward_ms[0] = sum;
    }
    if (st == QP_OK)
        qp_progress_update(&r.prog, ++r.unit, "logits");
    for (int t = 0; st == QP_OK && t < r.n_types; t++)
        if (!p->done_model[t])
            st = finish_type(&r, t, err);
    qp_progress_end(&r.prog);
    if (st == QP_OK && o->out_path)
        st = qp_profile_write_h5(p, o->out_path, err);

done:
    if (st != QP_OK && r.prog.enabled)
        qp_progress_end(&r.prog);
    qp_model_set_all(m, QP_LINEAR_REF, NULL, 0, NULL, NULL);
    for (int L = 0; L < r.L; L++)
        qp_model_hold_ref(m, L, false, NULL);
    if (kernels_set && prev_kernels != (o->rows_only ? NULL : r.kern))
        qp_model_set_kernels(m, prev_kernels, NULL); /* as the caller had it (on failure: none) */
    qp_model_set_threads(m, NULL);
    free_run(&r);
    return st;
}
