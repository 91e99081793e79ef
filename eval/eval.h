/* eval/eval.h - how close a quantized model is to its reference: output
 * error metrics, KL divergence and top-1 agreement of logits, perplexity
 * and the base log-probability file. One implementation of each metric,
 * used by `qprof layers`, `qprof ppl` and everything built on them.
 * The public header of eval/.
 */
#ifndef QP_EVAL_H
#define QP_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/common.h"
#include "../model/model.h"
#include "../tokenizer/tokenizer.h"

/* ==================================================================== */
/* metrics: how far a quantized output, weight or distribution is from its
 * reference. Every sum runs in double: a 512 x 1536 block has 786k terms,
 * and the relative errors of interest (1e-3 for Q8_0) must not drown in
 * float round-off.
 */

/* Output-error metrics: relative L2 ||y_q - y|| / ||y||, cosine similarity,
 * SQNR in dB (10 log10 ||y||^2 / ||y_q - y||^2), max |y_q - y|. */
enum qp_err_metric { QP_ERR_REL_L2 = 0, QP_ERR_COSINE, QP_ERR_SQNR_DB, QP_ERR_MAX_ABS, QP_ERR_METRIC_COUNT };
/* Weight-error metrics: RMSE, RMSE / RMS(w), max |w_q - w|, SQNR (dB). */
enum qp_w_metric { QP_W_RMSE = 0, QP_W_REL_RMSE, QP_W_MAX_ABS, QP_W_SQNR_DB, QP_W_METRIC_COUNT };

const char *qp_err_metric_name(int m);   /* "rel_l2", "cosine", "sqnr_db", "max_abs" */
const char *qp_err_metric_units(int m);  /* "1", "1", "dB", "activation units" */
const char *qp_w_metric_name(int m);     /* "rmse", "rel_rmse", "max_abs", "sqnr_db" */

/* Output-error metrics of q against ref over n values (enum order). A zero
 * reference with a non-zero error gives rel_l2 = inf; identical rows give
 * rel_l2 0, cosine 1, sqnr inf. */
void qp_compare_outputs(const float *ref, const float *q, int64_t n, double out[QP_ERR_METRIC_COUNT]);

/* Weight-error metrics of linear l's quantized form (dequantized row by
 * row) against its FP32 reference; a linear without a quantized form
 * compares with itself (all zero). QP_ERR_RUNTIME when out of memory. */
qp_status qp_weight_error(const qp_linear *l, double out[QP_W_METRIC_COUNT], qp_error *err);

/* KL(P_base || P_q) in nats over one row of n scores, where base and q are
 * logits or log-probabilities (any additive constant: each row is
 * normalized here, in double); a term whose base probability underflows
 * to 0 adds 0. *same_top (may be NULL) = whether the two argmaxes (the
 * first on ties) agree. Round-off below zero is clamped to 0. The one KL
 * divergence of qprof: `layers` calls it on logits, `ppl --kld` on stored
 * log-probabilities. */
double qp_kld_row(const float *base, const float *q, int n, bool *same_top);

/* ==================================================================== */
/* perplexity: perplexity and KL divergence over a token stream,
 * computed the way llama.cpp's llama-perplexity computes them, and the
 * file of base-model log-probabilities a KL-divergence run compares with.
 *
 * The protocol (llama.cpp tools/perplexity/perplexity.cpp, perplexity()):
 *   - the whole text is tokenized once, with BOS when the vocabulary adds it;
 *   - it is cut into n_chunks = n_tokens / n_ctx chunks of n_ctx tokens
 *     (the rest is dropped), each evaluated from an empty KV cache;
 *   - when the vocabulary adds BOS, the first token of every chunk is
 *     replaced by BOS for the evaluation (the file keeps the originals);
 *   - only the second half is scored: the logits of positions first =
 *     n_ctx / 2 .. n_ctx - 2 predict tokens first + 1 .. n_ctx - 1, so each
 *     chunk scores n_scored = n_ctx - 1 - first tokens, every one with at
 *     least n_ctx / 2 tokens of context;
 *   - nll = log-sum-exp(logits) - logits[next token]; PPL = exp(mean nll),
 *     and its uncertainty PPL * sqrt((E[nll^2] - E[nll]^2) / (count - 1))
 *     (the standard error of the mean nll, carried through exp).
 * llama-perplexity refuses a text shorter than 2 * n_ctx tokens; qprof
 * needs only one chunk.
 *
 * KL divergence (llama-perplexity --kl-divergence): per scored position,
 * KLD = sum_i p_base(i) (ln p_base(i) - ln p_q(i)) over the vocabulary,
 * "same top" when both argmaxes agree, and dp = p_q(tok) - p_base(tok) for
 * the token that actually follows. Differences from llama.cpp, both in
 * qprof's favour: the base log-probs are stored as float32, not 16-bit
 * codes over a 16-nat range, and so no term with ln p_base < -16 is
 * dropped from the sum. The file format is written down in docs/ppl.md.
 */

/* ======================================================================== */
/* maths                                                                    */
/* ======================================================================== */

/* Returns log(sum_i exp(logits[i])) over n values (max subtracted first, sum
 * in double); when logp is not NULL also logp[i] = logits[i] - that. */
double qp_log_softmax(const float *logits, int n, float *logp);

/* Running sums of negative log-likelihoods. Zero-initialize. */
typedef struct qp_ppl_acc {
    double sum_nll;   /* sum of nll */
    double sum_nll2;  /* sum of nll^2 */
    int64_t count;
} qp_ppl_acc;

void qp_ppl_add(qp_ppl_acc *a, double nll);
double qp_ppl_value(const qp_ppl_acc *a); /* exp(mean nll); NAN when empty */
/* llama.cpp's uncertainty (see above); 0 when it cannot be computed
 * (count < 2, or no spread). */
double qp_ppl_error(const qp_ppl_acc *a);

/* ======================================================================== */
/* KL divergence                                                            */
/* ======================================================================== */

typedef struct qp_kld_acc {
    qp_ppl_acc q, base;        /* nll of the model tested and of the base */
    double sum_nll_nll_base;   /* for their covariance */
    double sum_kld, sum_kld2;
    double sum_dp, sum_dp2, sum_dp4;
    int64_t n_same_top;
    int64_t count, cap;
    double *kld;               /* [cap] per position, for the percentiles */
    double *dp;                /* [cap] */
} qp_kld_acc;

/* Room for `capacity` positions. QP_ERR_RUNTIME when out of memory. */
qp_status qp_kld_init(qp_kld_acc *a, int64_t capacity, qp_error *err);
void qp_kld_free(qp_kld_acc *a);

/* One position: both as normalized log-probabilities over n_vocab (e.g.
 * from qp_log_softmax), tok the token that follows. Ignored once full. */
void qp_kld_add(qp_kld_acc *a, const float *base_logp, const float *logp, int n_vocab,
                int32_t tok);

/* "x +/- err" pairs are a value and its standard error. */
typedef struct qp_kld_stats {
    int64_t count;
    double ppl_q, ppl_q_err, ppl_base, ppl_base_err;
    double ln_ratio, ln_ratio_err;      /* ln(PPL(Q) / PPL(base)) */
    double ppl_ratio, ppl_ratio_err, ppl_diff, ppl_diff_err;
    double cor;                         /* correlation of the two ln PPL estimates */
    double kld_mean, kld_err;
    double kld_max, kld_p999, kld_p99, kld_p95, kld_p90, kld_median;
    double kld_p10, kld_p5, kld_p1, kld_p01, kld_min;
    double dp_mean, dp_err;             /* dp as a fraction (not %) */
    double dp_max, dp_p999, dp_p99, dp_p95, dp_p90, dp_p75, dp_median;
    double dp_p25, dp_p10, dp_p5, dp_p1, dp_p01, dp_min;
    double rms_dp, rms_dp_err;
    double same_top, same_top_err;      /* fraction */
} qp_kld_stats;

/* The summary, llama.cpp's estimators: mean +/- sqrt(var / (count - 1))
 * (0 for count <= 10), RMS dp's error by the delta method, the top-1 rate's
 * binomial sqrt(p (1 - p) / (count - 1)). Sorts a->kld and a->dp. */
void qp_kld_stats_compute(qp_kld_acc *a, qp_kld_stats *s);

/* One line of llama-perplexity's running --kl-divergence table after
 * chunk `chunk` (0-based), with the column header first when asked. */
void qp_kld_print_running(const qp_kld_acc *kld, int chunk, bool header, FILE *out);

/* The final statistics as llama-perplexity prints them: perplexities and
 * their ratio, KL divergence percentiles, token probability changes. */
void qp_kld_stats_print(const qp_kld_stats *s, FILE *out);

/* ======================================================================== */
/* chunks                                                                   */
/* ======================================================================== */

typedef struct qp_ppl_plan {
    int n_ctx;       /* tokens per chunk */
    int n_chunks;
    int first;       /* n_ctx / 2: first position whose logits are scored */
    int n_scored;    /* n_ctx - 1 - first positions scored per chunk */
    int32_t bos;     /* replaces each chunk's first token; -1: no replacement */
} qp_ppl_plan;

/* n_ctx >= 4; max_chunks <= 0: as many as the tokens give. QP_ERR_INPUT
 * when not even one chunk fits. */
qp_status qp_ppl_plan_make(int64_t n_tokens, int n_ctx, int max_chunks, int32_t bos,
                           qp_ppl_plan *p, qp_error *err);

/* out[n_ctx] = the tokens chunk c is evaluated on (BOS put in). */
void qp_ppl_chunk_tokens(const qp_ppl_plan *p, const int32_t *tokens, int c, int32_t *out);

/* ======================================================================== */
/* the base log-prob file (docs/ppl.md)                                     */
/* ======================================================================== */

#define QP_LOGITS_MAGIC "QPLOGPRB"  /* 8 bytes, no terminator in the file */
#define QP_LOGITS_VERSION 1u
#define QP_LOGITS_HEADER_SIZE 40

typedef struct qp_logits_header {
    uint32_t version;
    uint32_t n_ctx, n_vocab, n_chunks;
    uint32_t first, n_scored;           /* as in qp_ppl_plan */
    int32_t bos;                        /* -1: none */
} qp_logits_header;

typedef struct qp_logits_file qp_logits_file;

/* Writing: header, the n_chunks * n_ctx original tokens, then each chunk's
 * [n_scored][n_vocab] float32 log-probs. The data go to a temporary file
 * beside `path`, renamed into place by qp_logits_close(f, true, ...), so a
 * failed run never leaves a truncated file under the name asked for. */
qp_status qp_logits_create(const char *path, const qp_logits_header *h, const int32_t *tokens,
                           qp_logits_file **out, qp_error *err);
qp_status qp_logits_write_chunk(qp_logits_file *f, const float *logp, qp_error *err);

/* Reading: checks the magic, the version, that the numbers agree with
 * each other (first = n_ctx / 2, n_scored = n_ctx - 1 - first) and that
 * the size is exactly what they imply; errors name the byte offset.
 * *tokens (malloc'd, the caller frees) gets the n_chunks * n_ctx tokens. */
qp_status qp_logits_open(const char *path, qp_logits_header *h, int32_t **tokens,
                         qp_logits_file **out, qp_error *err);
/* Reads chunk c's [n_scored][n_vocab] log-probs. */
qp_status qp_logits_read_chunk(qp_logits_file *f, int c, float *logp, qp_error *err);

/* Closes; a writer is renamed into place when commit is true, its
 * temporary removed otherwise. NULL is fine. */
qp_status qp_logits_close(qp_logits_file *f, bool commit, qp_error *err);

/* ======================================================================== */
/* the run                                                                  */
/* ======================================================================== */

/* Called after every chunk; kld is NULL when no base is compared. */
typedef void (*qp_ppl_chunk_fn)(int chunk, int n_chunks, const qp_ppl_acc *acc,
                                const qp_kld_acc *kld, void *user);

typedef struct qp_ppl_opts {
    int n_ctx;              /* 0: the base file's with kld_path, else 512 */
    int max_chunks;         /* <= 0: all */
    int32_t bos;            /* BOS to put first in each chunk, -1: none */
    const char *save_path;  /* write this run's log-probs there (NULL: no) */
    const char *kld_path;   /* compare with this base file (NULL: no) */
    qp_ppl_chunk_fn on_chunk;
    void *user;
} qp_ppl_opts;

typedef struct qp_ppl_result {
    qp_ppl_plan plan;
    qp_ppl_acc acc;
    bool has_kld;
    qp_kld_stats kld;
    double seconds;         /* the whole run */
} qp_ppl_result;

/* Scores tokens[0..n_tokens) with the state (whose n_ctx must hold a
 * chunk; its logits_all is switched on) at the state's precision. With
 * kld_path, tokens may be NULL to take the base file's; if given they
 * must equal the file's (on the chunks both have) and n_ctx, n_vocab and
 * BOS must agree - a mismatch is QP_ERR_INPUT naming the file and offset.
 * The chunk count is the smallest of max_chunks, the tokens' and the
 * file's. save_path and kld_path may both be set (different files). */
qp_status qp_perplexity(qp_state *s, const int32_t *tokens, int64_t n_tokens,
                        const qp_ppl_opts *o, qp_ppl_result *r, qp_error *err);

/* ==================================================================== */
/* text: the token sequences a model is evaluated on. */

/* The built-in text (data/default_text.txt, written for qprof: English
 * prose with numbers, names and punctuation, ~600 tokens with common
 * tokenizers), NUL-terminated; *len (may be NULL) its length. */
const char *qp_builtin_text(size_t *len);

/* Tokenizes text[0..len) with BOS where the tokenizer adds one (special
 * tokens' text matched when parse_special) into *ids (malloc'd, the caller
 * frees), the first max_tokens of them (0: all); *n gets their count.
 * QP_ERR_RUNTIME when out of memory. */
qp_status qp_tokenize_alloc(const qp_tokenizer *tok, const char *text, size_t len, bool parse_special,
                            int max_tokens, int32_t **ids, int *n, qp_error *err);

/* The evaluation tokens of `qprof layers`: the first n_tokens of the file
 * `path` (at most 64 MiB), else of `prompt`, else of the built-in text
 * repeated until it gives n_tokens; fewer when the text is shorter.
 * *source names where they came from (the path, "--prompt", or the
 * built-in text), for the records. */
qp_status qp_eval_tokens(const qp_tokenizer *tok, const char *path, const char *prompt, int n_tokens,
                         int32_t **ids, int *n, const char **source, qp_error *err);

#endif
