/* eval/perplexity.c - llama-perplexity's protocol, KL-divergence
 * statistics and the base log-prob file (perplexity.h, docs/ppl.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/common.h"
#include "eval.h"

/* ======================================================================== */
/* maths                                                                    */
/* ======================================================================== */

double qp_log_softmax(const float *logits, int n, float *logp)
{
    float max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    /* terms in float (each exp is in (0, 1]), their sum in double: 10^5
     * terms would lose ~log2(10^5) = 17 of float's 24 bits */
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += expf(logits[i] - max);
    const double lse = (double)max + log(sum);
    if (logp) {
        /* logits[i] - max - log(sum): max first, the two small terms exact-ish */
        const float lsum = (float)log(sum);
        for (int i = 0; i < n; i++)
            logp[i] = (logits[i] - max) - lsum;
    }
    return lse;
}

void qp_ppl_add(qp_ppl_acc *a, double nll)
{
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    a->count++;
}

double qp_ppl_value(const qp_ppl_acc *a)
{
    return a->count > 0 ? exp(a->sum_nll / (double)a->count) : NAN;
}

double qp_ppl_error(const qp_ppl_acc *a)
{
    if (a->count < 2)
        return 0.0;
    const double n = (double)a->count;
    const double mean = a->sum_nll / n;
    const double var = a->sum_nll2 / n - mean * mean; /* population variance of nll */
    if (!(var > 0.0))
        return 0.0;
    /* standard error of the mean nll, then d exp(x) = exp(x) dx */
    return exp(mean) * sqrt(var / (n - 1.0));
}

/* ======================================================================== */
/* KL divergence                                                            */
/* ======================================================================== */

qp_status qp_kld_init(qp_kld_acc *a, int64_t capacity, qp_error *err)
{
    memset(a, 0, sizeof *a);
    if (capacity < 1)
        capacity = 1;
    a->kld = malloc((size_t)capacity * sizeof *a->kld);
    a->dp = malloc((size_t)capacity * sizeof *a->dp);
    if (!a->kld || !a->dp) {
        qp_kld_free(a);
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1,
                            "out of memory for %lld KL-divergence values", (long long)capacity);
    }
    a->cap = capacity;
    return QP_OK;
}

void qp_kld_free(qp_kld_acc *a)
{
    free(a->kld);
    free(a->dp);
    a->kld = a->dp = NULL;
    a->cap = 0;
}

void qp_kld_add(qp_kld_acc *a, const float *base_logp, const float *logp, int n_vocab,
                int32_t tok)
{
    if (a->count >= a->cap)
        return;
    bool same_top;
    const double kld = qp_kld_row(base_logp, logp, n_vocab, &same_top);
    const double nll_q = -(double)logp[tok], nll_b = -(double)base_logp[tok];
    qp_ppl_add(&a->q, nll_q);
    qp_ppl_add(&a->base, nll_b);
    a->sum_nll_nll_base += nll_q * nll_b;
    a->sum_kld += kld;
    a->sum_kld2 += kld * kld;
    const double dp = exp(-nll_q) - exp(-nll_b);
    a->sum_dp += dp;
    a->sum_dp2 += dp * dp;
    a->sum_dp4 += dp * dp * dp * dp;
    a->n_same_top += same_top;
    a->kld[a->count] = kld;
    a->dp[a->count] = dp;
    a->count++;
}

/* mean and its standard error, llama.cpp's estimator (no error for <= 10) */
static void mean_err(double sum, double sum2, int64_t count, double *mean, double *se)
{
    *mean = *se = 0.0;
    if (count < 1)
        return;
    const double n = (double)count;
    *mean = sum / n;
    const double var = sum2 / n - *mean * *mean;
    *se = var > 0.0 && count > 10 ? sqrt(var / (n - 1.0)) : 0.0;
}

void qp_kld_stats_compute(qp_kld_acc *a, qp_kld_stats *s)
{
    memset(s, 0, sizeof *s);
    const int64_t n = a->count;
    s->count = n;
    if (n < 1)
        return;
    double lq, lq_se, lb, lb_se;
    mean_err(a->q.sum_nll, a->q.sum_nll2, n, &lq, &lq_se);
    mean_err(a->base.sum_nll, a->base.sum_nll2, n, &lb, &lb_se);
    s->ppl_q = exp(lq), s->ppl_q_err = s->ppl_q * lq_se;
    s->ppl_base = exp(lb), s->ppl_base_err = s->ppl_base * lb_se;
    /* covariance of the two mean nll estimates: cov(nll_q, nll_b) / (n - 1) */
    double cov = 0.0;
    if (n >= 10)
        cov = (a->sum_nll_nll_base / (double)n - lq * lb) / (double)(n - 1);
    s->cor = lq_se > 0.0 && lb_se > 0.0 ? cov / (lq_se * lb_se) : 0.0;
    s->ln_ratio = lq - lb;
    const double v_ratio = lq_se * lq_se + lb_se * lb_se - 2.0 * cov;
    s->ln_ratio_err = v_ratio > 0.0 ? sqrt(v_ratio) : 0.0;
    s->ppl_ratio = exp(s->ln_ratio);
    s->ppl_ratio_err = s->ppl_ratio * s->ln_ratio_err;
    s->ppl_diff = s->ppl_q - s->ppl_base;
    const double v_diff = s->ppl_q_err * s->ppl_q_err + s->ppl_base_err * s->ppl_base_err -
                          2.0 * s->ppl_q * s->ppl_base * cov;
    s->ppl_diff_err = v_diff > 0.0 ? sqrt(v_diff) : 0.0;

    mean_err(a->sum_kld, a->sum_kld2, n, &s->kld_mean, &s->kld_err);
    mean_err(a->sum_dp, a->sum_dp2, n, &s->dp_mean, &s->dp_err);
    double mse, mse_se;
    mean_err(a->sum_dp2, a->sum_dp4, n, &mse, &mse_se);
    s->rms_dp = sqrt(mse);
    /* d sqrt(x) = dx / (2 sqrt(x)) */
    s->rms_dp_err = s->rms_dp > 0.0 ? 0.5 / s->rms_dp * mse_se : 0.0;
    s->same_top = (double)a->n_same_top / (double)n;
    s->same_top_err =
        n > 1 ? sqrt(s->same_top * (1.0 - s->same_top) / (double)(n - 1)) : 0.0;

    qp_stats_sort(a->kld, n);
    qp_stats_sort(a->dp, n);
    const double *k = a->kld, *d = a->dp;
    s->kld_min = k[0], s->kld_max = k[n - 1];
    s->kld_median = qp_stats_percentile(k, n, 50);
    s->kld_p999 = qp_stats_percentile(k, n, 99.9), s->kld_p99 = qp_stats_percentile(k, n, 99);
    s->kld_p95 = qp_stats_percentile(k, n, 95), s->kld_p90 = qp_stats_percentile(k, n, 90);
    s->kld_p10 = qp_stats_percentile(k, n, 10), s->kld_p5 = qp_stats_percentile(k, n, 5);
    s->kld_p1 = qp_stats_percentile(k, n, 1), s->kld_p01 = qp_stats_percentile(k, n, 0.1);
    s->dp_min = d[0], s->dp_max = d[n - 1];
    s->dp_median = qp_stats_percentile(d, n, 50);
    s->dp_p999 = qp_stats_percentile(d, n, 99.9), s->dp_p99 = qp_stats_percentile(d, n, 99);
    s->dp_p95 = qp_stats_percentile(d, n, 95), s->dp_p90 = qp_stats_percentile(d, n, 90);
    s->dp_p75 = qp_stats_percentile(d, n, 75), s->dp_p25 = qp_stats_percentile(d, n, 25);
    s->dp_p10 = qp_stats_percentile(d, n, 10), s->dp_p5 = qp_stats_percentile(d, n, 5);
    s->dp_p1 = qp_stats_percentile(d, n, 1), s->dp_p01 = qp_stats_percentile(d, n, 0.1);
}

/* ======================================================================== */
/* chunks                                                                   */
/* ======================================================================== */

qp_status qp_ppl_plan_make(int64_t n_tokens, int n_ctx, int max_chunks, int32_t bos,
                           qp_ppl_plan *p, qp_error *err)
{
    memset(p, 0, sizeof *p);
    if (n_ctx < 4)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "a context of %d tokens is too short to score (need 4 or more)",
                            n_ctx);
    const int64_t avail = n_tokens / n_ctx;
    if (avail < 1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "the text has %lld tokens, fewer than one chunk of %d",
                            (long long)n_tokens, n_ctx);
    p->n_ctx = n_ctx;
    p->n_chunks = (int)(avail < INT32_MAX ? avail : INT32_MAX);
    if (max_chunks > 0 && max_chunks < p->n_chunks)
        p->n_chunks = max_chunks;
    p->first = n_ctx / 2;
    p->n_scored = n_ctx - 1 - p->first;
    p->bos = bos;
    return QP_OK;
}

void qp_ppl_chunk_tokens(const qp_ppl_plan *p, const int32_t *tokens, int c, int32_t *out)
{
    memcpy(out, tokens + (size_t)c * (size_t)p->n_ctx, (size_t)p->n_ctx * sizeof *out);
    if (p->bos >= 0)
        out[0] = p->bos;
}

/* ======================================================================== */
/* the base log-prob file                                                   */
/* ======================================================================== */

/* Layout (little-endian, docs/ppl.md):
 *   0  char[8]  "QPLOGPRB"
 *   8  u32 version (1)       12 u32 n_ctx        16 u32 n_vocab
 *  20  u32 n_chunks          24 u32 first        28 u32 n_scored
 *  32  i32 bos (-1: none)    36 u32 reserved (0)
 *  40  i32 tokens[n_chunks * n_ctx]
 *   .. f32 logp[n_chunks][n_scored][n_vocab]
 * Every field is 4 bytes at a multiple of 4, so the file is its own
 * in-memory layout on a little-endian machine (the only kind qprof runs
 * its kernels on). */
struct qp_logits_file {
    FILE *fp;
    bool writing;
    qp_logits_header h;
    int chunks_done;       /* writer: chunks written */
    char path[1024];       /* the final name */
    char tmp[1040];        /* writer: the temporary */
};

static uint64_t data_offset(const qp_logits_header *h)
{
    return QP_LOGITS_HEADER_SIZE + 4ull * h->n_chunks * h->n_ctx;
}

static uint64_t chunk_bytes(const qp_logits_header *h)
{
    return 4ull * h->n_scored * h->n_vocab;
}

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16), b[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

qp_status qp_logits_create(const char *path, const qp_logits_header *h, const int32_t *tokens,
                           qp_logits_file **out, qp_error *err)
{
    *out = NULL;
    qp_logits_file *f = calloc(1, sizeof *f);
    if (!f)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    f->writing = true;
    f->h = *h;
    f->h.version = QP_LOGITS_VERSION;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmpXXXXXX", path);
    const int fd = mkstemp(f->tmp);
    if (fd < 0) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create %s: %s",
                                    f->tmp, strerror(errno));
        free(f);
        return st;
    }
    /* mkstemp makes the file 0600; a result file gets the usual 0666 less
     * the umask, as fopen would give it (umask can only be read by setting
     * it: set it back at once) */
    const mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask); /* best effort: 0600 would still be usable */
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp);
        free(f);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot open: %s", strerror(errno));
    }
    unsigned char b[QP_LOGITS_HEADER_SIZE] = { 0 };
    memcpy(b, QP_LOGITS_MAGIC, 8);
    put_u32(b + 8, f->h.version);
    put_u32(b + 12, h->n_ctx);
    put_u32(b + 16, h->n_vocab);
    put_u32(b + 20, h->n_chunks);
    put_u32(b + 24, h->first);
    put_u32(b + 28, h->n_scored);
    put_u32(b + 32, (uint32_t)h->bos);
    const size_t n_tok = (size_t)h->n_chunks * h->n_ctx;
    if (fwrite(b, 1, sizeof b, f->fp) != sizeof b ||
        fwrite(tokens, sizeof *tokens, n_tok, f->fp) != n_tok) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "write failed: %s",
                                    strerror(errno));
        qp_logits_close(f, false, NULL);
        return st;
    }
    *out = f;
    return QP_OK;
}

qp_status qp_logits_write_chunk(qp_logits_file *f, const float *logp, qp_error *err)
{
    const size_t n = (size_t)f->h.n_scored * f->h.n_vocab;
    if (!f->writing || f->chunks_done >= (int)f->h.n_chunks)
        return qp_error_set(err, QP_ERR_RUNTIME, f->path, -1, "more chunks than the header says");
    if (fwrite(logp, sizeof *logp, n, f->fp) != n)
        return qp_error_set(err, QP_ERR_RUNTIME, f->path, -1, "write failed: %s",
                            strerror(errno));
    f->chunks_done++;
    return QP_OK;
}

qp_status qp_logits_open(const char *path, qp_logits_header *h, int32_t **tokens,
                         qp_logits_file **out, qp_error *err)
{
    *out = NULL;
    *tokens = NULL;
    qp_logits_file *f = calloc(1, sizeof *f);
    if (!f)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        qp_status st = qp_error_set(err, errno == ENOENT ? QP_ERR_INPUT : QP_ERR_RUNTIME, path,
                                    -1, "cannot open: %s", strerror(errno));
        free(f);
        return st;
    }
    qp_status st = QP_OK;
    unsigned char b[QP_LOGITS_HEADER_SIZE];
    const size_t got = fread(b, 1, sizeof b, f->fp);
    if (got < 8 || memcmp(b, QP_LOGITS_MAGIC, 8) != 0) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 0,
                          "not a qprof log-prob file (magic \"%s\" expected; written by "
                          "qprof ppl --save-logits)", QP_LOGITS_MAGIC);
        goto fail;
    }
    if (got < sizeof b) {
        st = qp_error_set(err, QP_ERR_INPUT, path, (int64_t)got,
                          "truncated header (%zu of %d bytes)", got, QP_LOGITS_HEADER_SIZE);
        goto fail;
    }
    f->h.version = get_u32(b + 8);
    f->h.n_ctx = get_u32(b + 12);
    f->h.n_vocab = get_u32(b + 16);
    f->h.n_chunks = get_u32(b + 20);
    f->h.first = get_u32(b + 24);
    f->h.n_scored = get_u32(b + 28);
    f->h.bos = (int32_t)get_u32(b + 32);
    const qp_logits_header *H = &f->h;
    if (H->version != QP_LOGITS_VERSION) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 8, "version %u (this qprof reads %u)",
                          H->version, QP_LOGITS_VERSION);
        goto fail;
    }
    /* bounds keep every product below 2^63 and each allocation sane */
    if (H->n_ctx < 4 || H->n_ctx > (1u << 20)) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 12, "n_ctx %u out of range [4, 2^20]",
                          H->n_ctx);
        goto fail;
    }
    if (H->n_vocab < 1 || H->n_vocab > (1u << 24)) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 16, "n_vocab %u out of range [1, 2^24]",
                          H->n_vocab);
        goto fail;
    }
    if (H->n_chunks < 1 || H->n_chunks > (1u << 20)) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 20, "n_chunks %u out of range [1, 2^20]",
                          H->n_chunks);
        goto fail;
    }
    if (H->first != H->n_ctx / 2) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 24, "first %u is not n_ctx / 2 = %u",
                          H->first, H->n_ctx / 2);
        goto fail;
    }
    if (H->n_scored != H->n_ctx - 1 - H->first) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 28, "n_scored %u is not n_ctx - 1 - first = %u",
                          H->n_scored, H->n_ctx - 1 - H->first);
        goto fail;
    }
    if (H->bos < -1 || (H->bos >= 0 && (uint32_t)H->bos >= H->n_vocab)) {
        st = qp_error_set(err, QP_ERR_INPUT, path, 32, "bos %d outside the vocabulary of %u",
                          H->bos, H->n_vocab);
        goto fail;
    }
    const uint64_t want = data_offset(H) + (uint64_t)H->n_chunks * chunk_bytes(H);
    if (fseeko(f->fp, 0, SEEK_END) != 0) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot seek: %s", strerror(errno));
        goto fail;
    }
    const uint64_t size = (uint64_t)ftello(f->fp);
    if (size != want) {
        st = qp_error_set(err, QP_ERR_INPUT, path, (int64_t)(size < want ? size : want),
                          "file is %llu bytes, the header implies %llu (%u chunks of %u x %u "
                          "log-probs)%s",
                          (unsigned long long)size, (unsigned long long)want, H->n_chunks,
                          H->n_scored, H->n_vocab, size < want ? ": truncated" : "");
        goto fail;
    }
    const size_t n_tok = (size_t)H->n_chunks * H->n_ctx;
    int32_t *tk = malloc(n_tok * sizeof *tk);
    if (!tk) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
        goto fail;
    }
    if (fseeko(f->fp, QP_LOGITS_HEADER_SIZE, SEEK_SET) != 0 ||
        fread(tk, sizeof *tk, n_tok, f->fp) != n_tok) {
        free(tk);
        st = qp_error_set(err, QP_ERR_RUNTIME, path, QP_LOGITS_HEADER_SIZE,
                          "cannot read the tokens");
        goto fail;
    }
    for (size_t i = 0; i < n_tok; i++)
        if (tk[i] < 0 || (uint32_t)tk[i] >= H->n_vocab) {
            st = qp_error_set(err, QP_ERR_INPUT, path, QP_LOGITS_HEADER_SIZE + 4 * (int64_t)i,
                              "token %d outside the vocabulary of %u", tk[i], H->n_vocab);
            free(tk);
            goto fail;
        }
    *h = f->h;
    *tokens = tk;
    *out = f;
    return QP_OK;
fail:
    fclose(f->fp);
    free(f);
    return st;
}

qp_status qp_logits_read_chunk(qp_logits_file *f, int c, float *logp, qp_error *err)
{
    if (f->writing || c < 0 || (uint32_t)c >= f->h.n_chunks)
        return qp_error_set(err, QP_ERR_INPUT, f->path, -1, "no chunk %d (the file has %u)", c,
                            f->h.n_chunks);
    const uint64_t off = data_offset(&f->h) + (uint64_t)c * chunk_bytes(&f->h);
    const size_t n = (size_t)f->h.n_scored * f->h.n_vocab;
    if (fseeko(f->fp, (off_t)off, SEEK_SET) != 0 || fread(logp, sizeof *logp, n, f->fp) != n)
        return qp_error_set(err, QP_ERR_RUNTIME, f->path, (int64_t)off, "cannot read chunk %d",
                            c);
    /* a log-probability is <= 0 (up to rounding) and never NaN */
    for (size_t i = 0; i < n; i++)
        if (!(logp[i] <= 1e-3f))
            return qp_error_set(err, QP_ERR_INPUT, f->path, (int64_t)(off + 4 * i),
                                "log-probability %g of chunk %d is not <= 0", (double)logp[i], c);
    return QP_OK;
}

qp_status qp_logits_close(qp_logits_file *f, bool commit, qp_error *err)
{
    if (!f)
        return QP_OK;
    qp_status st = QP_OK;
    if (f->writing) {
        if (commit && f->chunks_done != (int)f->h.n_chunks)
            st = qp_error_set(err, QP_ERR_RUNTIME, f->path, -1,
                              "%d chunks written, the header says %u", f->chunks_done,
                              f->h.n_chunks);
        const int bad = fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0;
        if (fclose(f->fp) != 0 || bad) {
            if (commit && st == QP_OK)
                st = qp_error_set(err, QP_ERR_RUNTIME, f->path, -1, "write failed: %s",
                                  strerror(errno));
        }
        if (commit && st == QP_OK && rename(f->tmp, f->path) != 0)
            st = qp_error_set(err, QP_ERR_RUNTIME, f->path, -1, "cannot rename %s into place: %s",
                              f->tmp, strerror(errno));
        if (!commit || st != QP_OK)
            unlink(f->tmp);
    } else {
        fclose(f->fp);
    }
    free(f);
    return st;
}

/* ======================================================================== */
/* the run                                                                  */
/* ======================================================================== */

/* Checks the base file's header and tokens against the run (the caller
 * has already cut the chunk count to the file's). */
static qp_status check_base(const char *path, const qp_logits_header *h, const int32_t *ftok,
                            const int32_t *tokens, const qp_ppl_plan *p, int n_vocab,
                            qp_error *err)
{
    if ((int)h->n_vocab != n_vocab)
        return qp_error_set(err, QP_ERR_INPUT, path, 16,
                            "vocabulary of %u tokens, the model has %d: not the same model family",
                            h->n_vocab, n_vocab);
    if ((int)h->n_ctx != p->n_ctx)
        return qp_error_set(err, QP_ERR_INPUT, path, 12,
                            "written with a context of %u, this run uses %d (--ctx %u)", h->n_ctx,
                            p->n_ctx, h->n_ctx);
    if (h->bos != p->bos)
        return qp_error_set(err, QP_ERR_INPUT, path, 32,
                            "chunks start with BOS %d, this model's tokenizer says %d", h->bos,
                            p->bos);
    if (tokens) {
        const size_t n = (size_t)p->n_chunks * (size_t)p->n_ctx;
        for (size_t i = 0; i < n; i++)
            if (tokens[i] != ftok[i])
                return qp_error_set(err, QP_ERR_INPUT, path,
                                    QP_LOGITS_HEADER_SIZE + 4 * (int64_t)i,
                                    "token %zu is %d, the text gives %d: not the same text or "
                                    "tokenizer", i, ftok[i], tokens[i]);
    }
    return QP_OK;
}

qp_status qp_perplexity(qp_state *s, const int32_t *tokens, int64_t n_tokens,
                        const qp_ppl_opts *o, qp_ppl_result *r, qp_error *err)
{
    memset(r, 0, sizeof *r);
    const double t0 = qp_now();
    const int n_vocab = qp_model_hparams(qp_state_model(s))->n_vocab;
    qp_logits_file *base = NULL, *save = NULL;
    qp_logits_header bh;
    int32_t *btok = NULL;
    float *logits = NULL, *logp = NULL, *blogp = NULL;
    int32_t *chunk = NULL;
    qp_kld_acc kld;
    memset(&kld, 0, sizeof kld);
    qp_status st = QP_OK;

    int n_ctx = o->n_ctx;
    if (o->kld_path) {
        if ((st = qp_logits_open(o->kld_path, &bh, &btok, &base, err)) != QP_OK)
            return st;
        if (n_ctx == 0)
            n_ctx = (int)bh.n_ctx;
        if (!tokens) {
            tokens = btok;
            n_tokens = (int64_t)bh.n_chunks * bh.n_ctx;
        }
    }
    if (n_ctx == 0)
        n_ctx = 512;
    qp_ppl_plan *p = &r->plan;
    if ((st = qp_ppl_plan_make(n_tokens, n_ctx, o->max_chunks, o->bos, p, err)) != QP_OK)
        goto done;
    if (base) {
        if (p->n_chunks > (int)bh.n_chunks)
            p->n_chunks = (int)bh.n_chunks;
        if ((st = check_base(o->kld_path, &bh, btok, tokens, p, n_vocab, err)) != QP_OK)
            goto done;
    }
    if (qp_state_n_ctx(s) < n_ctx) {
        st = qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                          "the state's context (%d) is shorter than a chunk (%d)",
                          qp_state_n_ctx(s), n_ctx);
        goto done;
    }

    const size_t n_rows = (size_t)(n_ctx - p->first);        /* logits rows per chunk */
    const size_t row_bytes = (size_t)n_vocab * sizeof(float);
    logits = malloc(n_rows * row_bytes);                      /* [n_ctx - first][n_vocab] */
    logp = malloc((size_t)p->n_scored * row_bytes);           /* [n_scored][n_vocab] */
    chunk = malloc((size_t)n_ctx * sizeof *chunk);            /* [n_ctx] */
    if (base)
        blogp = malloc((size_t)p->n_scored * row_bytes);      /* [n_scored][n_vocab] */
    if (!logits || !logp || !chunk || (base && !blogp)) {
        st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for %zu x %d logits",
                          n_rows, n_vocab);
        goto done;
    }
    if (base && (st = qp_kld_init(&kld, (int64_t)p->n_chunks * p->n_scored, err)) != QP_OK)
        goto done;
    if (o->save_path) {
        const qp_logits_header h = {
            .version = QP_LOGITS_VERSION, .n_ctx = (uint32_t)n_ctx, .n_vocab = (uint32_t)n_vocab,
            .n_chunks = (uint32_t)p->n_chunks, .first = (uint32_t)p->first,
            .n_scored = (uint32_t)p->n_scored, .bos = p->bos,
        };
        if ((st = qp_logits_create(o->save_path, &h, tokens, &save, err)) != QP_OK)
            goto done;
    }

    qp_state_set_logits_all(s, true);
    for (int c = 0; c < p->n_chunks; c++) {
        qp_ppl_chunk_tokens(p, tokens, c, chunk);
        /* the first half only fills the cache (no output projection, the
         * largest single product of a small model), the second half gets
         * logits for every row: positions first .. n_ctx - 1 */
        if ((st = qp_forward(s, chunk, p->first, 0, NULL, err)) != QP_OK ||
            (st = qp_forward(s, chunk + p->first, n_ctx - p->first, p->first, logits, err)) !=
                QP_OK)
            goto done;
        if (base && (st = qp_logits_read_chunk(base, c, blogp, err)) != QP_OK)
            goto done;
        for (int i = 0; i < p->n_scored; i++) {
            /* row i: position first + i, predicting the token at first + i + 1 */
            const int32_t next = chunk[p->first + i + 1];
            float *lp = logp + (size_t)i * n_vocab;
            const float *row = logits + (size_t)i * n_vocab;
            /* nll in double from the log-sum-exp, as llama.cpp: the float
             * log-prob would round each term to ~1e-7 relative */
            const double lse = qp_log_softmax(row, n_vocab, lp);
            qp_ppl_add(&r->acc, lse - (double)row[next]);
            if (base)
                qp_kld_add(&kld, blogp + (size_t)i * n_vocab, lp, n_vocab, next);
        }
        if (save && (st = qp_logits_write_chunk(save, logp, err)) != QP_OK)
            goto done;
        if (o->on_chunk)
            o->on_chunk(c, p->n_chunks, &r->acc, base ? &kld : NULL, o->user);
    }
    if (save) {
        st = qp_logits_close(save, true, err);
        save = NULL;
        if (st != QP_OK)
            goto done;
    }
    if (base) {
        r->has_kld = true;
        qp_kld_stats_compute(&kld, &r->kld);
    }
    r->seconds = qp_now() - t0;
done:
    qp_logits_close(save, false, NULL);
    qp_logits_close(base, false, NULL);
    qp_kld_free(&kld);
    free(btok), free(logits), free(logp), free(blogp), free(chunk);
    return st;
}
