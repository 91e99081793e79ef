/* profiler/sampler.h - choosing the next token, and the generation loop
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
#ifndef QP_PROFILER_SAMPLER_H
#define QP_PROFILER_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "forward.h"

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
