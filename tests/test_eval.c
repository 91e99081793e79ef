/* tests/test_eval.c - perplexity and KL-divergence maths, the chunk
 * plan, the base log-prob file, and whole runs.
 *
 * (a) Maths on hand-worked inputs: log-softmax of known logits, PPL and
 *     llama.cpp's uncertainty of known nll values, percentiles, the KL
 *     divergence of two-point distributions worked out by hand.
 * (b) The plan: chunk count, scored window, BOS replacement.
 * (c) The file: write/read round trip, and one case per defect (bad magic,
 *     version, inconsistent header, truncation, token outside the
 *     vocabulary, a non-log-prob value) each naming its offset; an
 *     abandoned writer leaves nothing behind.
 * (d) qp_perplexity on a "bigram" model built in memory whose logits are a
 *     chosen table L[current token][next token] (every linear but the
 *     output projection is zero, so the residual stream is the token's
 *     embedding): the PPL must equal exp(mean nll) computed here from L over
 *     exactly the positions llama-perplexity scores. A KL run of the model
 *     against its own saved log-probs gives KLD = 0 and same-top 100%, and
 *     against a changed table the KLD worked out here.
 * (e) With ../shared: the same round trip through `qprof ppl` on
 *     stories260K, and a base file of other tokens is refused with the
 *     offset of the first differing token.
 */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "eval/eval.h"
#include "tokenizer/tokenizer.h"
#include "quant/quant.h"
#include "tests/qprof_cli.h"
#include "tests/shared.h"

static char g_tmp[256]; /* a private directory for the files written here */

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/qprof_test_ppl_XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

/* ======================================================================== */
/* (a) maths                                                                */
/* ======================================================================== */

static void test_log_softmax(void **state)
{
    (void)state;
    /* exp(logits) = 1, 2, 3, 4 (sum 10): logp = ln(k / 10) */
    const float lg[4] = { 0.0f, logf(2.0f), logf(3.0f), logf(4.0f) };
    float lp[4];
    const double lse = qp_log_softmax(lg, 4, lp);
    assert_true(fabs(lse - log(10.0)) < 1e-6);
    for (int k = 0; k < 4; k++)
        assert_true(fabs(lp[k] - log((k + 1) / 10.0)) < 1e-6);
    /* shift invariance with large logits: no overflow, same log-probs */
    const float big[4] = { 1000.0f, 1000.0f + logf(2.0f), 1000.0f + logf(3.0f),
                           1000.0f + logf(4.0f) };
    float lp2[4];
    assert_true(fabs(qp_log_softmax(big, 4, lp2) - (1000.0 + log(10.0))) < 1e-3);
    for (int k = 0; k < 4; k++)
        assert_true(fabs(lp2[k] - lp[k]) < 1e-4);
}

static void test_ppl_known(void **state)
{
    (void)state;
    /* uniform over 37 tokens: every nll is ln 37, PPL 37, no spread */
    qp_ppl_acc u = { 0 };
    for (int i = 0; i < 100; i++)
        qp_ppl_add(&u, log(37.0));
    assert_true(fabs(qp_ppl_value(&u) - 37.0) < 1e-9);
    /* E[x^2] - E[x]^2 of equal values is 0 up to rounding (llama.cpp's
     * formula has the same cancellation): ~sqrt(1e-16 / 99) relative */
    assert_true(qp_ppl_error(&u) < 1e-6);

    /* nll 1, 2, 3, 4: mean 2.5, population variance 30/4 - 6.25 = 1.25,
     * error e^2.5 sqrt(1.25 / 3) */
    qp_ppl_acc a = { 0 };
    for (int i = 1; i <= 4; i++)
        qp_ppl_add(&a, i);
    assert_int_equal(a.count, 4);
    assert_true(fabs(qp_ppl_value(&a) - exp(2.5)) < 1e-9);
    assert_true(fabs(qp_ppl_error(&a) - exp(2.5) * sqrt(1.25 / 3.0)) < 1e-9);

    qp_ppl_acc e = { 0 };
    assert_true(isnan(qp_ppl_value(&e)));
    assert_true(qp_ppl_error(&e) == 0.0);
}

static void test_percentile(void **state)
{
    (void)state;
    /* llama-perplexity's percentile (rank fraction * (n - 1), linear
     * interpolation) is common/'s definition 7: the KLD table uses it */
    const double v[5] = { 1, 2, 3, 4, 5 };
    assert_true(qp_stats_percentile(v, 5, 0.0) == 1.0);
    assert_true(qp_stats_percentile(v, 5, 100.0) == 5.0);
    assert_true(qp_stats_percentile(v, 5, 50.0) == 3.0);
    /* 0.9 * 4 = 3.6: 0.4 * v[3] + 0.6 * v[4] */
    assert_true(fabs(qp_stats_percentile(v, 5, 90.0) - 4.6) < 1e-9);
    assert_true(fabs(qp_stats_percentile(v, 5, 12.5) - 1.5) < 1e-9);
    assert_true(isnan(qp_stats_percentile(v, 0, 50.0)));
}

/* Two-point distributions: base (0.5, 0.5), q (0.9, 0.1).
 * KLD = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.5 ln(25/9) = 0.510826;
 * argmax: base 0 (a tie, lowest index), q 0: same; dp(token 1) = 0.1 - 0.5. */
static void test_kld_two_point(void **state)
{
    (void)state;
    qp_kld_acc a;
    assert_int_equal(qp_kld_init(&a, 64, NULL), QP_OK);
    const float base[2] = { logf(0.5f), logf(0.5f) }, q[2] = { logf(0.9f), logf(0.1f) };
    qp_kld_add(&a, base, q, 2, 1);
    assert_int_equal(a.count, 1);
    assert_true(fabs(a.kld[0] - 0.5 * log(25.0 / 9.0)) < 1e-6);
    assert_true(fabs(a.dp[0] - (-0.4)) < 1e-6);
    assert_int_equal(a.n_same_top, 1);
    assert_true(fabs(a.q.sum_nll - (-log(0.1))) < 1e-6);
    assert_true(fabs(a.base.sum_nll - log(2.0)) < 1e-6);

    /* q' = (0.2, 0.8): top differs; KLD = 0.5 ln(0.5/0.2) + 0.5 ln(0.5/0.8) */
    const float q2[2] = { logf(0.2f), logf(0.8f) };
    qp_kld_add(&a, base, q2, 2, 0);
    assert_int_equal(a.n_same_top, 1);
    assert_true(fabs(a.kld[1] - 0.5 * log(0.25 / 0.16)) < 1e-6);

    /* a distribution against itself: exactly 0, same top */
    qp_kld_add(&a, q2, q2, 2, 1);
    assert_true(a.kld[2] == 0.0f);
    assert_true(a.dp[2] == 0.0f);
    assert_int_equal(a.n_same_top, 2);

    qp_kld_stats s;
    qp_kld_stats_compute(&a, &s);
    assert_int_equal(s.count, 3);
    const double k0 = 0.5 * log(25.0 / 9.0), k1 = 0.5 * log(0.25 / 0.16);
    assert_true(fabs(s.kld_mean - (k0 + k1) / 3.0) < 1e-6);
    assert_true(fabs(s.kld_max - k0) < 1e-6);
    assert_true(s.kld_min == 0.0);
    assert_true(fabs(s.kld_median - k1) < 1e-6);
    assert_true(fabs(s.same_top - 2.0 / 3.0) < 1e-12);
    /* dp: -0.4, 0.2 - 0.5 = -0.3, 0: RMS sqrt((0.16 + 0.09) / 3) */
    assert_true(fabs(s.rms_dp - sqrt(0.25 / 3.0)) < 1e-6);
    assert_true(s.kld_err == 0.0); /* llama.cpp gives no error for <= 10 values */

    /* a zero-probability base term adds nothing (not NaN) */
    const float b0[3] = { 0.0f, -INFINITY, -INFINITY };
    const float q3[3] = { logf(0.9f), logf(0.04f), logf(0.06f) };
    qp_kld_add(&a, b0, q3, 3, 0);
    assert_true(fabs(a.kld[3] + log(0.9)) < 1e-6);
    qp_kld_free(&a);
}

/* Many values: the standard errors are llama.cpp's estimators. */
static void test_kld_errors(void **state)
{
    (void)state;
    qp_kld_acc a;
    assert_int_equal(qp_kld_init(&a, 100, NULL), QP_OK);
    const float base[2] = { logf(0.5f), logf(0.5f) };
    double sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < 100; i++) {
        const float p = 0.05f + 0.009f * (float)i; /* q = (p, 1 - p) */
        const float q[2] = { logf(p), logf(1.0f - p) };
        qp_kld_add(&a, base, q, 2, 0);
        const double k = 0.5 * log(0.5 / p) + 0.5 * log(0.5 / (1.0 - p));
        sum += k, sum2 += k * k;
    }
    qp_kld_stats s;
    qp_kld_stats_compute(&a, &s);
    const double mean = sum / 100.0, se = sqrt((sum2 / 100.0 - mean * mean) / 99.0);
    assert_true(fabs(s.kld_mean - mean) < 1e-6);
    assert_true(fabs(s.kld_err - se) < 1e-6 * (1.0 + se));
    assert_true(s.kld_err > 0.0);
    /* same top: p < 0.5 puts q's top on token 1, base's on 0 */
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += 0.05f + 0.009f * (float)i >= 0.5f;
    assert_true(fabs(s.same_top - same / 100.0) < 1e-12);
    assert_true(fabs(s.same_top_err - sqrt(s.same_top * (1 - s.same_top) / 99.0)) < 1e-12);
    qp_kld_free(&a);
}

/* ======================================================================== */
/* (b) the plan                                                             */
/* ======================================================================== */

static void test_plan(void **state)
{
    (void)state;
    qp_ppl_plan p;
    qp_error err;
    assert_int_equal(qp_ppl_plan_make(1100, 512, 0, 1, &p, &err), QP_OK);
    assert_int_equal(p.n_chunks, 2); /* 1100 / 512, the rest dropped */
    assert_int_equal(p.first, 256);
    assert_int_equal(p.n_scored, 255); /* positions 256..510 predict 257..511 */
    assert_int_equal(qp_ppl_plan_make(1100, 512, 1, 1, &p, &err), QP_OK);
    assert_int_equal(p.n_chunks, 1);
    assert_int_equal(qp_ppl_plan_make(1100, 512, 9, 1, &p, &err), QP_OK);
    assert_int_equal(p.n_chunks, 2);
    assert_int_equal(qp_ppl_plan_make(9, 9, 0, -1, &p, &err), QP_OK);
    assert_int_equal(p.first, 4);
    assert_int_equal(p.n_scored, 4);
    assert_int_equal(qp_ppl_plan_make(511, 512, 0, 1, &p, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "fewer than one chunk"));
    assert_int_equal(qp_ppl_plan_make(100, 3, 0, 1, &p, &err), QP_ERR_INPUT);

    int32_t toks[16], chunk[8];
    for (int i = 0; i < 16; i++)
        toks[i] = 100 + i;
    assert_int_equal(qp_ppl_plan_make(16, 8, 0, 7, &p, &err), QP_OK);
    qp_ppl_chunk_tokens(&p, toks, 1, chunk);
    assert_int_equal(chunk[0], 7); /* BOS replaces the chunk's first token */
    for (int i = 1; i < 8; i++)
        assert_int_equal(chunk[i], 108 + i);
    assert_int_equal(toks[8], 108); /* the text itself is untouched */
    p.bos = -1;
    qp_ppl_chunk_tokens(&p, toks, 1, chunk);
    assert_int_equal(chunk[0], 108);
}

/* ======================================================================== */
/* (c) the file                                                             */
/* ======================================================================== */

enum { F_CTX = 8, F_VOCAB = 5, F_CHUNKS = 2, F_SCORED = F_CTX - 1 - F_CTX / 2 };

static qp_logits_header file_header(void)
{
    return (qp_logits_header){ .version = QP_LOGITS_VERSION, .n_ctx = F_CTX, .n_vocab = F_VOCAB,
                               .n_chunks = F_CHUNKS, .first = F_CTX / 2,
                               .n_scored = F_SCORED, .bos = 1 };
}

/* Writes a valid file: tokens i % 5, log-probs -(c + 1) * (k + 1) / 10. */
static void write_file(const char *path)
{
    const qp_logits_header h = file_header();
    int32_t toks[F_CTX * F_CHUNKS];
    for (int i = 0; i < F_CTX * F_CHUNKS; i++)
        toks[i] = i % F_VOCAB;
    qp_logits_file *f;
    qp_error err;
    assert_int_equal(qp_logits_create(path, &h, toks, &f, &err), QP_OK);
    float lp[F_SCORED * F_VOCAB];
    for (int c = 0; c < F_CHUNKS; c++) {
        for (int k = 0; k < F_SCORED * F_VOCAB; k++)
            lp[k] = -(float)(c + 1) * (float)(k + 1) / 10.0f;
        assert_int_equal(qp_logits_write_chunk(f, lp, &err), QP_OK);
    }
    assert_int_equal(qp_logits_close(f, true, &err), QP_OK);
}

static void test_file_round_trip(void **state)
{
    (void)state;
    const char *path = tmp_path("rt.bin");
    write_file(path);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    assert_int_equal(ftell(fp), QP_LOGITS_HEADER_SIZE + 4 * F_CTX * F_CHUNKS +
                                    4 * F_CHUNKS * F_SCORED * F_VOCAB);
    fclose(fp);

    qp_logits_header h;
    int32_t *toks;
    qp_logits_file *f;
    qp_error err;
    assert_int_equal(qp_logits_open(path, &h, &toks, &f, &err), QP_OK);
    assert_int_equal(h.n_ctx, F_CTX);
    assert_int_equal(h.n_vocab, F_VOCAB);
    assert_int_equal(h.n_chunks, F_CHUNKS);
    assert_int_equal(h.first, F_CTX / 2);
    assert_int_equal(h.n_scored, F_SCORED);
    assert_int_equal(h.bos, 1);
    for (int i = 0; i < F_CTX * F_CHUNKS; i++)
        assert_int_equal(toks[i], i % F_VOCAB);
    float lp[F_SCORED * F_VOCAB];
    assert_int_equal(qp_logits_read_chunk(f, 1, lp, &err), QP_OK);
    for (int k = 0; k < F_SCORED * F_VOCAB; k++)
        assert_true(lp[k] == -2.0f * (float)(k + 1) / 10.0f);
    assert_int_equal(qp_logits_read_chunk(f, 2, lp, &err), QP_ERR_INPUT);
    free(toks);
    assert_int_equal(qp_logits_close(f, false, &err), QP_OK);

    /* an abandoned writer leaves neither the file nor its temporary */
    const char *gone = tmp_path("abandoned.bin");
    const qp_logits_header hh = file_header();
    int32_t t0[F_CTX * F_CHUNKS] = { 0 };
    assert_int_equal(qp_logits_create(gone, &hh, t0, &f, &err), QP_OK);
    assert_int_equal(qp_logits_close(f, false, &err), QP_OK);
    assert_int_not_equal(access(gone, F_OK), 0);
    /* committing with chunks missing is an error, and leaves nothing */
    assert_int_equal(qp_logits_create(gone, &hh, t0, &f, &err), QP_OK);
    assert_int_equal(qp_logits_close(f, true, &err), QP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "0 chunks written"));
    assert_int_not_equal(access(gone, F_OK), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", g_tmp);
    int st;
    char *count = qp_cli_capture(cmd, &st); /* grep -c prints a count even for none */
    assert_true(count[0] >= '0' && count[0] <= '9');
    assert_int_equal(atoi(count), 0);
    free(count);
}

/* Copies the valid file with bytes [off, off + n) replaced (or, with
 * data == NULL, cut at off) and returns the open status; err gets why. */
static qp_status open_damaged(int64_t off, const void *data, size_t n, qp_error *err)
{
    const char *src = tmp_path("good.bin"), *dst = tmp_path("bad.bin");
    write_file(src);
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    unsigned char buf[4096];
    const size_t len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    size_t out_len = len;
    if (data)
        memcpy(buf + off, data, n);
    else
        out_len = (size_t)off;
    FILE *out = fopen(dst, "wb");
    assert_int_equal(fwrite(buf, 1, out_len, out), out_len);
    fclose(out);
    qp_logits_header h;
    int32_t *toks = NULL;
    qp_logits_file *f = NULL;
    qp_status st = qp_logits_open(dst, &h, &toks, &f, err);
    if (st == QP_OK) {
        /* the header is fine: let the chunk check speak */
        float lp[F_SCORED * F_VOCAB];
        for (int c = 0; c < F_CHUNKS && st == QP_OK; c++)
            st = qp_logits_read_chunk(f, c, lp, err);
        free(toks);
        qp_logits_close(f, false, NULL);
    }
    return st;
}

static void test_file_defects(void **state)
{
    (void)state;
    qp_error err;
    const uint32_t v2 = 2, ctx10 = 10, first3 = 3, zero = 0, n_scored = 2;
    const int32_t tok_bad = F_VOCAB, bos_bad = 77;
    const float not_logp = 0.5f, nan = NAN;
    const uint64_t logp_off = QP_LOGITS_HEADER_SIZE + 4 * F_CTX * F_CHUNKS;
    struct {
        const char *what;
        int64_t off;
        const void *data;
        size_t n;
        int64_t want_off;
        const char *want_msg;
    } cases[] = {
        { "magic", 0, "QPLOGPRX", 8, 0, "not a qprof log-prob file" },
        { "empty", 0, NULL, 0, 0, "not a qprof log-prob file" },
        { "short header", 20, NULL, 0, 20, "truncated header" },
        { "version", 8, &v2, 4, 8, "version 2" },
        { "n_ctx vs first", 12, &ctx10, 4, 24, "first 4 is not n_ctx / 2 = 5" },
        { "first", 24, &first3, 4, 24, "first 3 is not" },
        { "n_scored", 28, &n_scored, 4, 28, "n_scored 2 is not" },
        { "n_vocab", 16, &zero, 4, 16, "n_vocab 0 out of range" },
        { "n_chunks", 20, &zero, 4, 20, "n_chunks 0 out of range" },
        { "bos", 32, &bos_bad, 4, 32, "bos 77 outside" },
        { "token", QP_LOGITS_HEADER_SIZE + 4 * 5, &tok_bad, 4, QP_LOGITS_HEADER_SIZE + 4 * 5,
          "token 5 outside the vocabulary of 5" },
        { "truncated data", (int64_t)logp_off + 7, NULL, 0, (int64_t)logp_off + 7,
          "truncated" },
        { "positive log-prob", (int64_t)logp_off + 4 * 3, &not_logp, 4,
          (int64_t)logp_off + 4 * 3, "log-probability 0.5 of chunk 0" },
        { "NaN", (int64_t)logp_off + 4 * (F_SCORED * F_VOCAB + 1), &nan, 4,
          (int64_t)logp_off + 4 * (F_SCORED * F_VOCAB + 1), "of chunk 1 is not <= 0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qp_error_clear(&err);
        const qp_status st = open_damaged(cases[i].off, cases[i].data, cases[i].n, &err);
        if (st != QP_ERR_INPUT || err.offset != cases[i].want_off ||
            !strstr(err.msg, cases[i].want_msg))
            fail_msg("case %s: status %d offset %lld msg '%s'", cases[i].what, st,
                     (long long)err.offset, err.msg);
        assert_non_null(strstr(err.file, "bad.bin"));
    }
    /* a missing file is bad input too */
    qp_logits_header h;
    int32_t *toks;
    qp_logits_file *f;
    assert_int_equal(qp_logits_open(tmp_path("none.bin"), &h, &toks, &f, &err), QP_ERR_INPUT);
}

/* ======================================================================== */
/* (d) whole runs on a bigram model                                         */
/* ======================================================================== */

enum { BG_V = 11, BG_E = 16, BG_F = 8, BG_H = 2, BG_HD = 8 };
#define BG_EPS 1e-6f

typedef struct bigram {
    void *buf;
    size_t size;
    qp_gguf_file *f;
    qp_model *m;
} bigram;

/* table[t][v] = the logit of v after t: a smooth pattern with a few peaks,
 * sharpened by `scale`; `tilt` adds another pattern that moves the argmax
 * of some rows (bg_tilt is set by the test that builds a changed model) */
static float bg_tilt;

static float bg_logit(int t, int v, float scale)
{
    return scale * (float)(sin(0.7 * t * v + 0.3 * v) * 2.0 + ((t + 3 * v) % 5 == 0 ? 3.0 : 0.0)) +
           bg_tilt * (float)cos(0.9 * t + 1.1 * v);
}

/* A one-layer llama whose logits after token t are bg_logit(t, ., scale):
 * embedding row t = e_t (a unit vector), every block linear zero (attention
 * and FFN outputs vanish), all norms 1, so the final norm gives
 * e_t / sqrt(1/E + eps) and output column t = logits / that factor. */
static void bigram_build(bigram *b, float scale)
{
    memset(b, 0, sizeof *b);
    static float embd[BG_V * BG_E], out[BG_V * BG_E], ones[BG_E];
    static float zq[BG_H * BG_HD * BG_E], zo[BG_E * BG_H * BG_HD], zf[BG_F * BG_E];
    memset(embd, 0, sizeof embd);
    for (int t = 0; t < BG_V; t++)
        embd[t * BG_E + t] = 1.0f;
    const double s = 1.0 / sqrt(1.0 / BG_E + (double)BG_EPS);
    for (int v = 0; v < BG_V; v++)
        for (int j = 0; j < BG_E; j++)
            out[v * BG_E + j] = j < BG_V ? (float)(bg_logit(j, v, scale) / s) : 0.0f;
    for (int j = 0; j < BG_E; j++)
        ones[j] = 1.0f;
    qp_gguf_writer *w = qp_gguf_writer_new();
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    qp_gguf_writer_set_u32(w, "llama.block_count", 1);
    qp_gguf_writer_set_u32(w, "llama.context_length", 256);
    qp_gguf_writer_set_u32(w, "llama.embedding_length", BG_E);
    qp_gguf_writer_set_u32(w, "llama.feed_forward_length", BG_F);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count", BG_H);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count_kv", BG_H);
    qp_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", BG_EPS);
    const int64_t ne_ve[2] = { BG_E, BG_V }, ne_e[1] = { BG_E };
    const int64_t ne_qe[2] = { BG_E, BG_H * BG_HD }, ne_oe[2] = { BG_H * BG_HD, BG_E };
    const int64_t ne_fe[2] = { BG_E, BG_F }, ne_ef[2] = { BG_F, BG_E };
    qp_status st = QP_OK;
    st |= qp_gguf_writer_add_tensor(w, "token_embd.weight", QP_TYPE_F32, 2, ne_ve, embd, sizeof embd);
    st |= qp_gguf_writer_add_tensor(w, "output.weight", QP_TYPE_F32, 2, ne_ve, out, sizeof out);
    st |= qp_gguf_writer_add_tensor(w, "output_norm.weight", QP_TYPE_F32, 1, ne_e, ones, sizeof ones);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", QP_TYPE_F32, 1, ne_e, ones,
                                 sizeof ones);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.ffn_norm.weight", QP_TYPE_F32, 1, ne_e, ones,
                                 sizeof ones);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", QP_TYPE_F32, 2, ne_qe, zq, sizeof zq);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.attn_k.weight", QP_TYPE_F32, 2, ne_qe, zq, sizeof zq);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.attn_v.weight", QP_TYPE_F32, 2, ne_qe, zq, sizeof zq);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.attn_output.weight", QP_TYPE_F32, 2, ne_oe, zo,
                                 sizeof zo);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.ffn_gate.weight", QP_TYPE_F32, 2, ne_fe, zf, sizeof zf);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", QP_TYPE_F32, 2, ne_fe, zf, sizeof zf);
    st |= qp_gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", QP_TYPE_F32, 2, ne_ef, zf, sizeof zf);
    assert_int_equal(st, QP_OK);
    qp_error err;
    assert_int_equal(qp_gguf_writer_write_memory(w, &b->buf, &b->size, &err), QP_OK);
    qp_gguf_writer_free(w);
    assert_int_equal(qp_gguf_open_memory(b->buf, b->size, "bigram", &b->f, &err), QP_OK);
    if (qp_model_from_gguf(b->f, &b->m, &err) != QP_OK)
        fail_msg("bigram model: %s", err.msg);
}

static void bigram_free(bigram *b)
{
    qp_model_free(b->m);
    qp_gguf_close(b->f);
    free(b->buf);
}

static qp_state *bigram_state(const bigram *b, int n_ctx)
{
    qp_state *s;
    qp_error err;
    const qp_state_opts o = { .n_ctx = n_ctx, .n_batch = 16 };
    assert_int_equal(qp_state_create(b->m, &o, &s, &err), QP_OK);
    return s;
}

/* The token stream: a fixed pseudo-random walk over the vocabulary. */
static void bigram_tokens(int32_t *t, int n)
{
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = (int32_t)((x >> 16) % BG_V);
    }
}

/* exp(mean nll) over llama-perplexity's scored positions, from the table */
static double bigram_expected_ppl(const int32_t *t, int n_ctx, int n_chunks, int32_t bos,
                                  float scale)
{
    double sum = 0.0;
    int count = 0;
    for (int c = 0; c < n_chunks; c++) {
        const int32_t *ch = t + c * n_ctx;
        for (int i = n_ctx / 2; i <= n_ctx - 2; i++) {
            const int32_t cur = (i == 0 && bos >= 0) ? bos : ch[i]; /* i > 0 here */
            double m = -1e30, z = 0.0;
            for (int v = 0; v < BG_V; v++)
                m = fmax(m, bg_logit(cur, v, scale));
            for (int v = 0; v < BG_V; v++)
                z += exp(bg_logit(cur, v, scale) - m);
            sum += m + log(z) - bg_logit(cur, ch[i + 1], scale);
            count++;
        }
    }
    return exp(sum / count);
}

static void test_bigram_ppl(void **state)
{
    (void)state;
    bigram b;
    bigram_build(&b, 1.0f);
    enum { N = 200, CTX = 32 };
    int32_t toks[N];
    bigram_tokens(toks, N);
    qp_state *s = bigram_state(&b, CTX);
    qp_ppl_result r;
    qp_error err;
    const qp_ppl_opts o = { .n_ctx = CTX, .bos = 1 };
    assert_int_equal(qp_perplexity(s, toks, N, &o, &r, &err), QP_OK);
    assert_int_equal(r.plan.n_chunks, N / CTX);
    assert_int_equal(r.acc.count, (N / CTX) * (CTX - 1 - CTX / 2));
    const double want = bigram_expected_ppl(toks, CTX, N / CTX, 1, 1.0f);
    printf("  bigram model: PPL %.6f, expected %.6f\n", qp_ppl_value(&r.acc), want);
    assert_true(fabs(qp_ppl_value(&r.acc) - want) < 1e-4 * want);
    assert_false(r.has_kld);

    /* an off-by-one window (scoring positions first-1 .. n_ctx-3) would give
     * a different value: the check above can tell */
    const double shifted = bigram_expected_ppl(toks + 1, CTX, N / CTX - 1, 1, 1.0f);
    assert_true(fabs(shifted - want) > 1e-2 * want);

    /* --chunks 2 */
    const qp_ppl_opts o2 = { .n_ctx = CTX, .max_chunks = 2, .bos = 1 };
    assert_int_equal(qp_perplexity(s, toks, N, &o2, &r, &err), QP_OK);
    assert_int_equal(r.plan.n_chunks, 2);
    assert_true(fabs(qp_ppl_value(&r.acc) - bigram_expected_ppl(toks, CTX, 2, 1, 1.0f)) < 1e-3);

    /* a context larger than the state's is refused */
    const qp_ppl_opts big = { .n_ctx = 2 * CTX };
    assert_int_equal(qp_perplexity(s, toks, N, &big, &r, &err), QP_ERR_INPUT);
    qp_state_free(s);
    bigram_free(&b);
}

static void count_chunks(int c, int n, const qp_ppl_acc *acc, const qp_kld_acc *kld, void *user)
{
    int *calls = user;
    assert_int_equal(c, calls[0]);
    assert_true(c < n);
    assert_true(acc->count > 0);
    calls[0]++;
    calls[1] += kld != NULL;
}

static void test_bigram_kld(void **state)
{
    (void)state;
    enum { N = 160, CTX = 16 };
    int32_t toks[N];
    bigram_tokens(toks, N);
    const char *base = tmp_path("bigram_base.bin"), *again = tmp_path("bigram_again.bin");
    bigram b;
    bigram_build(&b, 1.0f);
    qp_state *s = bigram_state(&b, CTX);
    qp_ppl_result r0, r1;
    qp_error err;
    int calls[2] = { 0, 0 };
    const qp_ppl_opts save = { .n_ctx = CTX, .bos = 1, .save_path = base,
                               .on_chunk = count_chunks, .user = calls };
    assert_int_equal(qp_perplexity(s, toks, N, &save, &r0, &err), QP_OK);
    assert_int_equal(calls[0], N / CTX);
    assert_int_equal(calls[1], 0);

    /* the model against itself: KLD exactly 0, same top everywhere, the
     * same PPL; the tokens may come from the file alone */
    const qp_ppl_opts self = { .bos = 1, .kld_path = base, .save_path = again };
    assert_int_equal(qp_perplexity(s, NULL, 0, &self, &r1, &err), QP_OK);
    assert_true(r1.has_kld);
    assert_int_equal(r1.plan.n_ctx, CTX); /* taken from the file */
    assert_int_equal(r1.kld.count, r0.acc.count);
    assert_true(r1.kld.kld_mean == 0.0 && r1.kld.kld_max == 0.0);
    assert_true(r1.kld.same_top == 1.0);
    assert_true(r1.kld.rms_dp == 0.0);
    /* the KL sums take nll from float log-probs, the plain run from the
     * double log-sum-exp: equal to float rounding (~1e-7 relative) */
    assert_true(fabs(r1.kld.ppl_q - qp_ppl_value(&r0.acc)) < 1e-6 * r1.kld.ppl_q);
    assert_true(r1.kld.ppl_base == r1.kld.ppl_q);
    /* the second save holds the same bytes as the first */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", base, again);
    assert_int_equal(system(cmd), 0);
    qp_state_free(s);
    bigram_free(&b);

    /* a changed model (logits x 1.5, tilted) against the base: the KLD of
     * each position is that of the two tables' rows, worked out here */
    bigram b2;
    bg_tilt = 2.0f;
    bigram_build(&b2, 1.5f);
    s = bigram_state(&b2, CTX);
    const qp_ppl_opts cmp = { .n_ctx = CTX, .bos = 1, .kld_path = base };
    assert_int_equal(qp_perplexity(s, toks, N, &cmp, &r1, &err), QP_OK);
    double sum = 0.0;
    int n = 0, same = 0;
    for (int c = 0; c < N / CTX; c++)
        for (int i = CTX / 2; i <= CTX - 2; i++, n++) {
            const int t = toks[c * CTX + i];
            double lb[BG_V], lq[BG_V], mb = -1e30, mq = -1e30, zb = 0, zq = 0;
            int ab = 0, aq = 0;
            for (int v = 0; v < BG_V; v++) {
                lq[v] = bg_logit(t, v, 1.5f); /* tilted */
                bg_tilt = 0.0f;
                lb[v] = bg_logit(t, v, 1.0f);
                bg_tilt = 2.0f;
                mb = fmax(mb, lb[v]), mq = fmax(mq, lq[v]);
                ab = lb[v] > lb[ab] ? v : ab, aq = lq[v] > lq[aq] ? v : aq;
            }
            for (int v = 0; v < BG_V; v++)
                zb += exp(lb[v] - mb), zq += exp(lq[v] - mq);
            for (int v = 0; v < BG_V; v++) {
                const double pb = lb[v] - mb - log(zb), pq = lq[v] - mq - log(zq);
                sum += exp(pb) * (pb - pq);
            }
            same += ab == aq;
        }
    printf("  bigram changed vs base: mean KLD %.6f (expected %.6f), same top %.4f (%d/%d)\n",
           r1.kld.kld_mean, sum / n, r1.kld.same_top, same, n);
    assert_true(r1.kld.kld_mean > 0.01);
    assert_true(same > 0 && same < n); /* both outcomes occur: the count is tested */
    assert_true(fabs(r1.kld.kld_mean - sum / n) < 1e-4 * (sum / n));
    assert_true(fabs(r1.kld.same_top - (double)same / n) < 1e-12);

    /* mismatches, each naming the offset in the base file */
    const qp_ppl_opts other_ctx = { .n_ctx = CTX * 2, .bos = 1, .kld_path = base };
    qp_state *s2 = bigram_state(&b2, CTX * 2);
    assert_int_equal(qp_perplexity(s2, toks, N, &other_ctx, &r1, &err), QP_ERR_INPUT);
    assert_int_equal(err.offset, 12);
    assert_non_null(strstr(err.msg, "context of 16"));
    qp_state_free(s2);
    const qp_ppl_opts no_bos = { .n_ctx = CTX, .bos = -1, .kld_path = base };
    assert_int_equal(qp_perplexity(s, toks, N, &no_bos, &r1, &err), QP_ERR_INPUT);
    assert_int_equal(err.offset, 32);
    int32_t other[N];
    memcpy(other, toks, sizeof other);
    other[37] = (other[37] + 1) % BG_V;
    assert_int_equal(qp_perplexity(s, other, N, &cmp, &r1, &err), QP_ERR_INPUT);
    assert_int_equal(err.offset, QP_LOGITS_HEADER_SIZE + 4 * 37);
    assert_non_null(strstr(err.msg, "token 37"));
    assert_non_null(strstr(err.file, "bigram_base.bin"));
    qp_state_free(s);
    bigram_free(&b2);
    bg_tilt = 0.0f;
}

/* ======================================================================== */
/* (e) qprof ppl on stories260K                                             */
/* ======================================================================== */

/* stdout and stderr together, without the progress line */
#define run_qprof(out, ...)                                                    \
    qp_cli_run("QPROF_NO_PROGRESS=1", QP_CLI_STDERR_MERGE, out, NULL, __VA_ARGS__)

static void test_cli_round_trip(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    if (access(qp_cli_bin(), X_OK) != 0)
        fail_msg("%s not built (make builds it before the tests)", qp_cli_bin());
    char model[512], corpus[512];
    qp_test_shared_path(model, sizeof model, "data/models/stories260K.gguf");
    qp_test_shared_path(corpus, sizeof corpus, "data/corpus/wikitext-2-raw/wiki.test.raw");
    const char *base = tmp_path("s260_base.bin");
    char *out;
    int rc = run_qprof(&out, "ppl %s %s --ctx 128 --chunks 3 -t 1 --save-logits %s", model,
                       corpus, base);
    if (rc != 0)
        fail_msg("qprof ppl failed (%d):\n%s", rc, out);
    /* "[1]x,[2]y,[3]z," then the final estimate */
    assert_non_null(strstr(out, "[1]"));
    assert_non_null(strstr(out, "[3]"));
    const char *fin = strstr(out, "Final estimate: PPL = ");
    assert_non_null(fin);
    double ppl = 0, pm = 0;
    assert_int_equal(sscanf(fin, "Final estimate: PPL = %lf +/- %lf", &ppl, &pm), 2);
    printf("  stories260K ctx 128, 3 chunks: PPL %.4f +/- %.5f\n", ppl, pm);
    assert_true(ppl > 5.0 && ppl < 2000.0 && pm > 0.0 && pm < ppl);
    free(out);

    rc = run_qprof(&out, "ppl %s %s --chunks 3 -t 1 --kld %s", model, corpus, base);
    if (rc != 0)
        fail_msg("qprof ppl --kld failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "Mean    KLD:   0.000000 +/-   0.000000"));
    assert_non_null(strstr(out, "Maximum KLD:   0.000000"));
    assert_non_null(strstr(out, "Same top p: 100.000 +/- 0.000 %"));
    assert_non_null(strstr(out, "RMS dp    :  0.000"));
    const char *mq = strstr(out, "Mean PPL(Q)                   : ");
    assert_non_null(mq);
    double ppl_q = 0;
    assert_int_equal(sscanf(mq + 32, "%lf", &ppl_q), 1);
    assert_true(fabs(ppl_q - ppl) < 1e-4 * ppl); /* the plain run's, to its 4 decimals */
    free(out);

    /* another context with the same base: refused, naming the file and offset 12 */
    rc = run_qprof(&out, "ppl %s %s --ctx 64 --chunks 3 -t 1 --kld %s", model, corpus, base);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "s260_base.bin: offset 12: written with a context of 128"));
    free(out);
    /* not a base file at all */
    rc = run_qprof(&out, "ppl %s %s --kld %s", model, corpus, corpus);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "offset 0: not a qprof log-prob file"));
    free(out);
    /* usage errors */
    rc = run_qprof(&out, "ppl %s", model);
    assert_int_equal(rc, 2);
    free(out);
    rc = run_qprof(&out, "ppl %s %s --ctx 2", model, corpus);
    assert_int_equal(rc, 2);
    free(out);
}

/* ---- error metrics (eval/metrics.c) -------------------------------------------------------------- */

static void test_compare_outputs(void **state)
{
    (void)state;
    float y[4] = {1, -2, 3, 0.5f}, twice[4], same[4];
    for (int i = 0; i < 4; i++) {
        twice[i] = 2 * y[i];
        same[i] = y[i];
    }
    double m[QP_ERR_METRIC_COUNT];
    qp_compare_outputs(y, same, 4, m);
    assert_true(m[QP_ERR_REL_L2] == 0 && m[QP_ERR_MAX_ABS] == 0 && isinf(m[QP_ERR_SQNR_DB]));
    assert_float_equal(m[QP_ERR_COSINE], 1.0, 1e-12);
    /* y_q = 2y: the error equals the signal: rel 1, 0 dB, cosine still 1 */
    qp_compare_outputs(y, twice, 4, m);
    assert_float_equal(m[QP_ERR_REL_L2], 1.0, 1e-12);
    assert_float_equal(m[QP_ERR_SQNR_DB], 0.0, 1e-9);
    assert_float_equal(m[QP_ERR_COSINE], 1.0, 1e-12);
    assert_float_equal(m[QP_ERR_MAX_ABS], 3.0, 1e-12);
    /* orthogonal output: cosine 0 */
    float a[2] = {1, 0}, b[2] = {0, 1};
    qp_compare_outputs(a, b, 2, m);
    assert_float_equal(m[QP_ERR_COSINE], 0.0, 1e-12);
    assert_float_equal(m[QP_ERR_REL_L2], sqrt(2.0), 1e-12);
}

static void test_logits_kld(void **state)
{
    (void)state;
    float r[3] = {1, 2, 3}, q[3] = {1, 2, 3};
    bool same;
    assert_float_equal(qp_kld_row(r, q, 3, &same), 0.0, 1e-12);
    assert_true(same);
    /* two classes, p = (0.5, 0.5) against q = softmax(0, ln 3) = (0.25, 0.75):
     * KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3) */
    float p2[2] = {0, 0}, q2[2] = {0, (float)log(3.0)};
    double kl = qp_kld_row(p2, q2, 2, &same);
    assert_float_equal(kl, 0.5 * log(4.0 / 3.0), 1e-7);
    /* shifting all logits by a constant changes nothing */
    float q3[3] = {101, 102, 103};
    assert_float_equal(qp_kld_row(r, q3, 3, &same), 0.0, 1e-9);
    float q4[3] = {3, 2, 1};
    qp_kld_row(r, q4, 3, &same);
    assert_false(same);
}

/* ---- text ---------------------------------------------------------------- */

static void test_builtin_text(void **state)
{
    (void)state;
    size_t len = 0;
    const char *t = qp_builtin_text(&len);
    /* data/default_text.txt, as it is on disk */
    char *file = NULL;
    size_t flen = 0;
    qp_error err;
    assert_int_equal(qp_read_file("data/default_text.txt", 1 << 20, &file, &flen, &err), QP_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(t, file, len);
    assert_int_equal(t[len], '\0');
    assert_int_equal(strlen(t), len);
    free(file);
}

/* The evaluation tokens: stories260K's SentencePiece vocabulary. */
static void test_eval_tokens(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    char path[1024];
    qp_test_shared_path(path, sizeof path, "data/models/stories260K.gguf");
    qp_gguf_file *f = NULL;
    qp_tokenizer *tok = NULL;
    qp_error err;
    assert_int_equal(qp_gguf_open(path, &f, &err), QP_OK);
    assert_int_equal(qp_tokenizer_load(f, &tok, &err), QP_OK);
    int32_t *ids = NULL;
    int n = 0;
    const char *src = NULL;
    /* the built-in text repeats until it gives what is asked */
    assert_int_equal(qp_eval_tokens(tok, NULL, NULL, 3000, &ids, &n, &src, &err), QP_OK);
    assert_int_equal(n, 3000);
    assert_int_equal(ids[0], qp_tokenizer_bos(tok));
    assert_non_null(strstr(src, "data/default_text.txt"));
    int32_t *all = NULL;
    int n_all = 0;
    size_t len;
    const char *t = qp_builtin_text(&len);
    assert_int_equal(qp_tokenize_alloc(tok, t, len, false, 0, &all, &n_all, &err), QP_OK);
    assert_true(n_all > 400 && n_all < 3000);
    /* its first copy tokenizes as the text alone, but for the last word */
    assert_memory_equal(ids, all, (size_t)(n_all - 2) * sizeof *ids);
    free(all);
    free(ids);
    /* a prompt gives what it gives, its BOS first */
    assert_int_equal(qp_eval_tokens(tok, NULL, "Once upon a time", 512, &ids, &n, &src, &err), QP_OK);
    assert_string_equal(src, "--prompt");
    assert_true(n > 2 && n < 10);
    int32_t *cut = NULL;
    int n_cut = 0;
    assert_int_equal(qp_tokenize_alloc(tok, "Once upon a time", 16, false, 3, &cut, &n_cut, &err), QP_OK);
    assert_int_equal(n_cut, 3);
    assert_memory_equal(cut, ids, 3 * sizeof *ids);
    free(cut);
    free(ids);
    /* a file that is missing */
    assert_int_equal(qp_eval_tokens(tok, "/nonexistent/text", NULL, 512, &ids, &n, &src, &err), QP_ERR_INPUT);
    assert_null(ids);
    assert_string_equal(err.file, "/nonexistent/text");
    qp_tokenizer_free(tok);
    qp_gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_outputs),
        cmocka_unit_test(test_logits_kld),
        cmocka_unit_test(test_builtin_text),
        cmocka_unit_test(test_eval_tokens),
        cmocka_unit_test(test_log_softmax),
        cmocka_unit_test(test_ppl_known),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_kld_two_point),
        cmocka_unit_test(test_kld_errors),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_file_defects),
        cmocka_unit_test(test_bigram_ppl),
        cmocka_unit_test(test_bigram_kld),
        cmocka_unit_test(test_cli_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
