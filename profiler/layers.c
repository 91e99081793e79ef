/* profiler/layers.c - the layer-wise profiler (the plan: profiler.h,
 * "layers"). qp_layers_run runs its phases in order: identity of the
 * profile, resume, buffers, the reference pass, then per type the
 * quantization (weight errors), the whole-model pass (accumulated errors,
 * logits, latency) and the local errors layer by layer. */
#include "profiler.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    int n_layers;
    int64_t cols[S_COUNT];  /* row length of each slot */
    float **data;           /* [n_layers * S_COUNT] -> [n_tokens][cols] */
} capture;

/* ==== the hook ============================================================ */

enum hook_mode { MODE_CAPTURE, MODE_COMPARE, MODE_TIME_ONLY };

typedef struct run_ctx {
    enum hook_mode mode;
    int n_layers;
    capture *cap;
    /* per-run timings: [n_layers][QP_BLOCK_COUNT] ms, forward ms, block sum ms */
    double *times;
    double forward_ms, block_sum_ms;
    /* MODE_COMPARE: accumulated errors of one type go here, [n_layers][QP_BLOCK_COUNT] per metric */
    double *acc[QP_ERR_METRIC_COUNT];
} run_ctx;

static void hook(const qp_hook_event *ev, void *user)
{
    run_ctx *c = user;
    double ms = (double)(ev->t_end - ev->t_begin) * 1e-6;
    int b = block_of(ev);
    if (b >= 0 && ev->layer >= 0 && ev->layer < c->n_layers) {
        c->times[ev->layer * QP_BLOCK_COUNT + b] = ms;
        c->block_sum_ms += (b == QP_BLOCK_ATTN || b == QP_BLOCK_FFN) ? ms : 0;
    }
    if (ev->point == QP_HOOK_EMBED || ev->point == QP_HOOK_OUTPUT_NORM ||
        (ev->point == QP_HOOK_LINEAR && ev->tensor == QP_LIN_OUTPUT))
        c->block_sum_ms += ms;
    if (ev->point == QP_HOOK_FORWARD)
        c->forward_ms = ms;
    if (c->mode == MODE_TIME_ONLY || ev->layer < 0 || !ev->data)
        return;

    int s = slot_of(ev);
    if (s < 0)
        return;
    int64_t n = (int64_t)ev->rows * ev->cols;
    float *dst = c->cap->data[ev->layer * S_COUNT + s];
    if (c->mode == MODE_CAPTURE) {
        memcpy(dst, ev->data, (size_t)n * sizeof(float));
        return;
    }
    /* MODE_COMPARE: block outputs and linear outputs against the reference */
    double m[QP_ERR_METRIC_COUNT];
    int cols_to_fill[2] = {-1, -1};
    if (ev->point == QP_HOOK_LINEAR) {
        cols_to_fill[0] = b;
        if (ev->tensor == QP_LIN_O)
            cols_to_fill[1] = QP_BLOCK_ATTN; /* the attention block's output */
        if (ev->tensor == QP_LIN_DOWN)
            cols_to_fill[1] = QP_BLOCK_FFN;
    }
    if (cols_to_fill[0] < 0)
        return;
    qp_compare_outputs(dst, ev->data, n, m);
    for (int k = 0; k < 2; k++)
        if (cols_to_fill[k] >= 0)
            for (int i = 0; i < QP_ERR_METRIC_COUNT; i++)
                c->acc[i][ev->layer * QP_BLOCK_COUNT + cols_to_fill[k]] = m[i];
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

/* The middle sample of x[0..n-1] (the lower of the two middle ones for even
 * n), so that a whole-forward time and the block times of the same run can
 * be compared: the run that gave the median is a real run. */
static int median_run(const double *x, int n)
{
    int idx[64], k = n < 64 ? n : 64;
    for (int i = 0; i < k; i++)
        idx[i] = i;
    for (int i = 1; i < k; i++) /* insertion sort of indices by value */
        for (int j = i; j > 0 && x[idx[j]] < x[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return idx[(k - 1) / 2];
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

/* Runs the forward pass `reps` times at precision prec; the first run in
 * mode `first` (capture or compare), the others only timed. Timings go to
 * times[reps][n_layers * QP_BLOCK_COUNT], fwd[reps], bsum[reps]. */
static qp_status timed_runs(qp_state *st, run_ctx *c, enum hook_mode first, enum qp_precision prec,
                            const qp_layers_opts *o, float *logits, double *times, double *fwd,
                            double *bsum, qp_error *err)
{
    qp_state_set_precision(st, prec);
    size_t lb = (size_t)c->n_layers * QP_BLOCK_COUNT;
    for (int r = 0; r < o->reps; r++) {
        c->mode = r == 0 ? first : MODE_TIME_ONLY;
        c->times = times + r * lb;
        for (size_t i = 0; i < lb; i++)
            c->times[i] = NAN;
        c->forward_ms = c->block_sum_ms = 0;
        qp_status s = qp_forward(st, o->tokens, o->n_tokens, 0, r == 0 ? logits : NULL, err);
        if (s != QP_OK)
            return s;
        fwd[r] = c->forward_ms;
        bsum[r] = c->block_sum_ms;
    }
    return QP_OK;
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

/* Everything one qp_layers_run holds between its phases. */
typedef struct layers_run {
    qp_model *m;
    const qp_layers_opts *o;
    qp_profile *p;
    const qp_kernels *kern;
    int L, n, V, n_lin;
    int keep_ref;            /* resumed with some type's latencies from the first run */
    const int *types;        /* o->types, or the default ladder's types that fit */
    int n_types;
    int default_types[16];
    qp_state *state;
    capture cap;
    run_ctx c;
    size_t lb;               /* n_layers * QP_BLOCK_COUNT */
    double *times;           /* [reps][lb] */
    double *fwd, *bsum;      /* [reps] */
    float *ref_logits;       /* [n][V] */
    float *q_logits;         /* [n][V] */
    float *scratch;          /* [n][widest slot] */
    qp_progress prog;
    int64_t unit;            /* progress units done */
} layers_run;

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

/* Phase 1: with --resume, adopt what the interrupted run finished. */
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
    say(o, "resuming %s", o->out_path);
    for (int t = 0; t < r->n_types; t++)
        r->keep_ref |= p->done_model[t];
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

/* Phase 2: timings, logits, the captured activations of every layer and
 * the forward state. */
static qp_status alloc_run(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    const qp_hparams *hp = qp_model_hparams(r->m);
    const int L = r->L, n = r->n, V = r->V;
    r->cap.n_layers = L;
    r->c.n_layers = L;
    r->c.cap = &r->cap;
    r->lb = (size_t)L * QP_BLOCK_COUNT;
    r->times = malloc((size_t)o->reps * r->lb * sizeof(double));
    r->fwd = malloc((size_t)o->reps * sizeof(double));
    r->bsum = malloc((size_t)o->reps * sizeof(double));
    r->ref_logits = malloc((size_t)n * V * sizeof(float));
    r->q_logits = malloc((size_t)n * V * sizeof(float));
    int64_t qkv = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t cols[S_COUNT] = {hp->n_embd, hp->n_embd, qkv, kv, kv, qkv, hp->n_embd,
                                   hp->n_embd, hp->n_embd, hp->n_ff, hp->n_ff, hp->n_ff, hp->n_embd};
    int64_t widest = 0;
    for (int s = 0; s < S_COUNT; s++) {
        r->cap.cols[s] = cols[s];
        widest = cols[s] > widest ? cols[s] : widest;
    }
    r->scratch = malloc((size_t)n * widest * sizeof(float));
    r->cap.data = calloc((size_t)L * S_COUNT, sizeof(float *));
    for (int i = 0; i < QP_ERR_METRIC_COUNT; i++)
        r->c.acc[i] = malloc(r->lb * sizeof(double));
    int ok = r->times && r->fwd && r->bsum && r->ref_logits && r->q_logits && r->scratch && r->cap.data;
    for (int i = 0; i < QP_ERR_METRIC_COUNT; i++)
        ok = ok && r->c.acc[i];
    for (int l = 0; ok && l < L; l++)
        for (int s = 0; ok && s < S_COUNT; s++)
            ok = (r->cap.data[l * S_COUNT + s] = malloc((size_t)n * cols[s] * sizeof(float))) != NULL;
    if (!ok)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1,
                            "out of memory for %d layers x %d tokens of activations (try fewer --tokens)", L, n);
    openblas_set_num_threads(o->threads);
    qp_state_opts so = {.n_ctx = n, .n_batch = n, .n_threads = o->threads, .kernels = r->kern,
                        .precision = QP_PREC_REF, .logits_all = true, .kv_type = o->kv_type};
    return qp_state_create(r->m, &so, &r->state, err);
}

static void free_run(layers_run *r)
{
    qp_state_free(r->state);
    if (r->cap.data)
        for (int i = 0; i < r->L * S_COUNT; i++)
            free(r->cap.data[i]);
    free(r->cap.data);
    for (int i = 0; i < QP_ERR_METRIC_COUNT; i++)
        free(r->c.acc[i]);
    free(r->times);
    free(r->fwd);
    free(r->bsum);
    free(r->ref_logits);
    free(r->q_logits);
    free(r->scratch);
}

/* Phase 3: the reference pass, `reps` times; the first captures every
 * block's input and output. */
static qp_status reference_pass(layers_run *r, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p;
    say(o, "reference pass: %d tokens x %d reps (%s)", r->n, o->reps, p->reference);
    qp_model_set_all(r->m, QP_LINEAR_REF, NULL, 0, NULL, err);
    qp_status st = timed_runs(r->state, &r->c, MODE_CAPTURE, QP_PREC_REF, o, r->ref_logits, r->times, r->fwd,
                              r->bsum, err);
    if (st != QP_OK)
        return st;
    if (r->keep_ref) {
        /* Types whose whole-model pass ran before the interruption have
         * latencies of that run; their "vs reference" ratios must divide by
         * that run's reference, so it stays (for every type). This run's
         * is compared with it: a machine that got slower or busier in
         * between makes the types timed now incomparable with the others. */
        const double now_ms = r->fwd[median_run(r->fwd, o->reps)], then_ms = p->ref_forward_ms[0];
        const double drift = then_ms > 0.0 ? now_ms / then_ms - 1.0 : 0.0;
        say(o, "%sreference forward %.1f ms now, %.1f ms in the interrupted run (%+.0f%%): latencies "
               "and ratios stay against the first run's reference",
            fabs(drift) > 0.10 ? "warning: " : "", now_ms, then_ms, 100.0 * drift);
    } else {
        summarise(r->times, o->reps, r->lb, r->lb, p->ref_latency_median, p->ref_latency_spread);
        p->ref_forward_ms[0] = r->fwd[median_run(r->fwd, o->reps)];
    }
    qp_progress_update(&r->prog, ++r->unit, "reference");
    return QP_OK;
}

/* Phase 4a: every linear quantized to type t (with llama.cpp's fallbacks),
 * and its weight error. */
static qp_status quantize_type(layers_run *r, int t, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p;
    qp_fallback fb[64];
    int n_fb = 0;
    qp_status st = qp_model_set_all(r->m, r->types[t], fb, 64, &n_fb, err);
    if (st != QP_OK)
        return st;
    /* latencies depend on the layout: packed Q4_K runs ~1.5x the plain rows */
    qp_model_packed_layouts(r->m, p->packed_layouts, sizeof p->packed_layouts);
    for (int i = 0; i < n_fb && i < 64; i++) {
        const qp_type_traits *w = qp_type_info(fb[i].wanted), *g = qp_type_info(fb[i].got);
        const qp_linear *l = qp_model_linear(r->m, fb[i].linear);
        say(o, "%s: %s rows of %lld do not fit, using %s", w ? w->name : "?", l->name, (long long)l->cols,
            g ? g->name : "f32");
    }
    if (n_fb > 64)
        say(o, "%s: %d more fallbacks", p->type_names[t], n_fb - 64);
    for (int i = 0; i < r->n_lin; i++) {
        const qp_linear *lin = qp_model_linear(r->m, i);
        double w[QP_W_METRIC_COUNT];
        if ((st = qp_weight_error(lin, w, err)) != QP_OK)
            return st;
        for (int k = 0; k < QP_W_METRIC_COUNT; k++)
            p->w_err[k][(size_t)t * r->n_lin + i] = w[k];
        p->w_type[(size_t)t * r->n_lin + i] = lin->q_type;
    }
    return QP_OK;
}

/* Phase 4b: the whole quantized model, `reps` times: latencies, and from
 * the first run the accumulated error of every block and the logits'
 * KL divergence and top-1 agreement. */
static qp_status model_pass(layers_run *r, int t, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p;
    const size_t lb = r->lb;
    const int n = r->n, V = r->V;
    for (int i = 0; i < QP_ERR_METRIC_COUNT; i++)
        for (size_t j = 0; j < lb; j++)
            r->c.acc[i][j] = NAN;
    qp_status st = timed_runs(r->state, &r->c, MODE_COMPARE, QP_PREC_QUANT, o, r->q_logits, r->times, r->fwd,
                              r->bsum, err);
    if (st != QP_OK)
        return st;
    double *med = p->latency_median + (size_t)t * lb, *spr = p->latency_spread + (size_t)t * lb;
    summarise(r->times, o->reps, lb, lb, med, spr);
    for (int l = 0; l < r->L; l++)
        for (int b = 0; b < QP_BLOCK_COUNT; b++) {
            size_t i = (size_t)l * QP_BLOCK_COUNT + b;
            size_t bytes = 0;
            for (int k = QP_BLOCK_Q; k < QP_BLOCK_COUNT; k++) {
                int in_block = b == k || (b == QP_BLOCK_ATTN && k <= QP_BLOCK_O) ||
                               (b == QP_BLOCK_FFN && k >= QP_BLOCK_GATE);
                if (in_block)
                    bytes += linear_bytes(qp_model_linear(r->m, qp_model_linear_index(r->m, l, block_kind[k])));
            }
            p->tokens_per_s[t * lb + i] = med[i] > 0 ? n / (med[i] * 1e-3) : NAN;
            p->weight_gb_per_s[t * lb + i] = med[i] > 0 ? bytes / (med[i] * 1e-3) * 1e-9 : NAN;
            for (int k = 0; k < QP_ERR_METRIC_COUNT; k++)
                p->err[k][QP_ACCUMULATED][t * lb + i] = r->c.acc[k][i];
        }
    int best = median_run(r->fwd, o->reps);
    p->forward_ms[t] = r->fwd[best];
    p->block_sum_ms[t] = r->bsum[best];
    double kl = 0, klmax = 0;
    int agree = 0;
    for (int i = 0; i < n; i++) {
        bool same;
        double k = qp_kld_row(r->ref_logits + (size_t)i * V, r->q_logits + (size_t)i * V, V, &same);
        kl += k;
        klmax = k > klmax ? k : klmax;
        agree += same;
    }
    p->kld_mean[t] = kl / n;
    p->kld_max[t] = klmax;
    p->top1[t] = 100.0 * agree / n;
    p->done_model[t] = 1;
    return QP_OK;
}

/* The output of block b of layer l at type t, on the reference input, into
 * r->scratch: the whole attention or FFN block, or one linear (+ bias) as
 * the forward pass multiplies it. */
static qp_status run_block(layers_run *r, int l, int b, const float *in, qp_error *err)
{
    const int n = r->n;
    if (b == QP_BLOCK_ATTN)
        return qp_forward_attn_block(r->state, l, in, r->scratch, n, 0, QP_PREC_QUANT, err);
    if (b == QP_BLOCK_FFN)
        return qp_forward_ffn_block(r->state, l, in, r->scratch, n, QP_PREC_QUANT, err);
    return qp_forward_linear(r->state, l, block_kind[b], in, r->scratch, n, QP_PREC_QUANT, err);
}

/* Phase 4c: the local error of every block and linear of every layer at
 * type t, each fed its reference input; the profile is checkpointed to
 * the HDF5 file after each layer. */
static qp_status local_errors(layers_run *r, int t, qp_error *err)
{
    const qp_layers_opts *o = r->o;
    qp_profile *p = r->p;
    const int L = r->L;
    qp_state_set_hook(r->state, NULL, NULL);
    for (int l = 0; l < L; l++, r->unit++) {
        if (p->done[t * L + l])
            continue;
        if (o->stop && *o->stop)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "interrupted");
        double mtr[QP_ERR_METRIC_COUNT];
        for (int b = 0; b < QP_BLOCK_COUNT; b++) {
            const float *in = r->cap.data[l * S_COUNT + block_in[b]];
            const float *ref = r->cap.data[l * S_COUNT + block_out[b]];
            qp_status st = run_block(r, l, b, in, err);
            if (st != QP_OK)
                return st;
            qp_compare_outputs(ref, r->scratch, (int64_t)r->n * r->cap.cols[block_out[b]], mtr);
            for (int k = 0; k < QP_ERR_METRIC_COUNT; k++)
                p->err[k][QP_LOCAL][qp_profile_tlb(p, t, l, b)] = mtr[k];
        }
        p->done[t * L + l] = 1;
        qp_status st;
        if (o->out_path && (st = qp_profile_write_h5(p, o->out_path, err)) != QP_OK)
            return st;
        char what[96];
        snprintf(what, sizeof what, "%s layer %d", p->type_names[t], l);
        qp_progress_update(&r->prog, r->unit + 1, what);
    }
    qp_state_set_hook(r->state, hook, &r->c);
    return QP_OK;
}

/* Phase 4: one type, the parts not finished before. */
static qp_status profile_type(layers_run *r, int t, qp_error *err)
{
    qp_profile *p = r->p;
    const int L = r->L;
    int all_done = p->done_model[t];
    for (int l = 0; l < L; l++)
        all_done = all_done && p->done[t * L + l];
    if (all_done) {
        r->unit += 1 + L;
        return QP_OK;
    }
    qp_status st = quantize_type(r, t, err);
    if (st == QP_OK && !p->done_model[t])
        st = model_pass(r, t, err);
    if (st != QP_OK)
        return st;
    qp_progress_update(&r->prog, ++r->unit, p->type_names[t]);
    return local_errors(r, t, err);
}

qp_status qp_layers_run(qp_model *m, const qp_layers_opts *o, qp_profile *p, qp_error *err)
{
    memset(p, 0, sizeof *p);
    const qp_hparams *hp = qp_model_hparams(m);
    layers_run r = {.m = m, .o = o, .p = p, .L = hp->n_layer, .n = o->n_tokens, .V = hp->n_vocab,
                    .n_lin = qp_model_n_linears(m)};
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
    if ((st = alloc_run(&r, err)) != QP_OK)
        goto done;
    qp_state_set_hook(r.state, hook, &r.c);
    /* quantize on the state's pool too (idle between passes), and keep the
     * packed copies the forward pass multiplies with these kernels */
    qp_model_set_threads(m, qp_state_pool(r.state));
    if ((st = qp_model_set_kernels(m, o->rows_only ? NULL : r.kern, err)) != QP_OK)
        goto done;
    kernels_set = 1;

    qp_progress_begin(&r.prog, "layers", 1 + (int64_t)r.n_types * (1 + r.L));
    if (!o->progress)
        r.prog.enabled = 0;
    st = reference_pass(&r, err);
    for (int t = 0; st == QP_OK && t < r.n_types; t++)
        st = profile_type(&r, t, err);
    qp_progress_end(&r.prog);
    if (st == QP_OK && o->out_path)
        st = qp_profile_write_h5(p, o->out_path, err);

done:
    if (kernels_set && prev_kernels != (o->rows_only ? NULL : r.kern))
        qp_model_set_kernels(m, prev_kernels, NULL); /* as the caller had it (on failure: none) */
    qp_model_set_threads(m, NULL);
    free_run(&r);
    return st;
}
