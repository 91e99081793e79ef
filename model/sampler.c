/* model/sampler.c - greedy / temperature / top-p sampling with a
 * portable random generator, and the prompt + decode loop (sampler.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/common.h"
#include "model.h"

struct qp_sampler {
    int n_vocab;
    float temp;       /* 0: greedy */
    float top_p;      /* 1: no cut */
    uint64_t rng;     /* xorshift64* state, never 0 */
    /* scratch for temp > 0 */
    float *prob;      /* [n_vocab] softmax(logits / temp) */
    struct qp_cand *cand; /* [n_vocab] top-p candidates, sorted */
};

/* A top-p candidate: carrying the probability with the id lets qsort's
 * comparator work without any shared state. */
struct qp_cand {
    float p;
    int32_t id;
};

/* ======================================================================== */
/* random numbers                                                           */
/* ======================================================================== */

/* splitmix64 (Steele, Lea, Flood 2014): spreads any seed, 0 included, over
 * 64 bits, so xorshift's one forbidden state (0) cannot occur in practice
 * and nearby seeds give unrelated streams. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* xorshift64* (Vigna 2016, the generator of llama2.c's sampler): shifts
 * 12/25/27 and the multiplier 2685821657736338717 are from the paper. */
static uint64_t next_u64(qp_sampler *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}

float qp_sampler_uniform(qp_sampler *s)
{
    /* the top 24 bits: exactly representable in a float, so the result is
     * a multiple of 2^-24 in [0, 1) on every platform */
    return (float)(next_u64(s) >> 40) * (1.0f / 16777216.0f);
}

/* ======================================================================== */
/* sampler                                                                  */
/* ======================================================================== */

qp_status qp_sampler_create(int n_vocab, float temp, float top_p, uint64_t seed,
                            qp_sampler **out, qp_error *err)
{
    *out = NULL;
    if (n_vocab < 1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "sampler: n_vocab %d < 1", n_vocab);
    if (!(temp >= 0.0f) || !isfinite(temp))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "sampler: temperature %g is not a finite value >= 0", (double)temp);
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "sampler: top-p %g is not in (0, 1]",
                            (double)top_p);
    qp_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "sampler: out of memory");
    s->n_vocab = n_vocab;
    s->temp = temp;
    s->top_p = top_p;
    s->rng = splitmix64(seed);
    if (s->rng == 0)
        s->rng = 0x2545F4914F6CDD1Dull;
    if (temp > 0.0f) {
        s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
        s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
        if (!s->prob || !s->cand) {
            qp_sampler_free(s);
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "sampler: out of memory");
        }
    }
    *out = s;
    return QP_OK;
}

void qp_sampler_free(qp_sampler *s)
{
    if (!s)
        return;
    free(s->prob);
    free(s->cand);
    free(s);
}

int32_t qp_argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) /* strict: the lowest index wins a tie */
            best = i;
    return best;
}

/* qsort order for top-p: probability descending, then id ascending, so the
 * order (hence the draw) does not depend on the sort's stability. */
static int by_prob_desc(const void *a, const void *b)
{
    const struct qp_cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* One draw from prob[] restricted to the top-p nucleus. Tokens below
 * (1 - top_p) / (n - 1) cannot belong to it (llama2.c's pre-filter: if one
 * did, the n - 1 others would hold less than top_p), which keeps the sort
 * short for a peaked distribution. */
static int32_t sample_top_p(qp_sampler *s, float coin)
{
    const int n = s->n_vocab;
    const float cutoff = n > 1 ? (1.0f - s->top_p) / (float)(n - 1) : 0.0f;
    int n0 = 0;
    for (int i = 0; i < n; i++)
        if (s->prob[i] >= cutoff)
            s->cand[n0++] = (struct qp_cand){ .p = s->prob[i], .id = i };
    qsort(s->cand, (size_t)n0, sizeof *s->cand, by_prob_desc);

    /* the nucleus: the shortest prefix whose mass exceeds top_p */
    double mass = 0.0;
    int last = n0 - 1;
    for (int i = 0; i < n0; i++) {
        mass += s->cand[i].p;
        if (mass > s->top_p) {
            last = i;
            break;
        }
    }
    const double r = coin * mass;
    double cdf = 0.0;
    for (int i = 0; i <= last; i++) {
        cdf += s->cand[i].p;
        if (r < cdf)
            return s->cand[i].id;
    }
    return s->cand[last].id; /* rounding: r may reach the total */
}

int32_t qp_sampler_sample(qp_sampler *s, const float *logits)
{
    if (s->temp == 0.0f)
        return qp_argmax(logits, s->n_vocab);

    /* softmax(logits / temp), the maximum subtracted so expf cannot overflow;
     * the sum in double: 10^5 terms */
    const int n = s->n_vocab;
    const float inv_t = 1.0f / s->temp;
    float max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[i] - max) * inv_t);
        sum += s->prob[i];
    }
    const float inv_sum = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        s->prob[i] *= inv_sum;

    const float coin = qp_sampler_uniform(s);
    if (s->top_p < 1.0f)
        return sample_top_p(s, coin);
    /* inverse CDF over the ids in order */
    double cdf = 0.0;
    for (int i = 0; i < n; i++) {
        cdf += s->prob[i];
        if (coin < cdf)
            return i;
    }
    return n - 1; /* rounding: the total may fall short of the coin */
}

/* ======================================================================== */
/* generation                                                               */
/* ======================================================================== */

/* CPU seconds of the process, every thread */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_stop(const qp_gen_opts *o, int32_t t)
{
    for (int i = 0; i < o->n_stop; i++)
        if (o->stop[i] == t)
            return true;
    return false;
}

qp_status qp_generate(qp_state *st, qp_sampler *smp, const int32_t *prompt, int n_prompt,
                      const qp_gen_opts *opts, int32_t *seq, qp_gen_stats *stats, qp_error *err)
{
    qp_gen_stats local;
    qp_gen_stats *gs = stats ? stats : &local;
    memset(gs, 0, sizeof *gs);
    const int n_ctx = qp_state_n_ctx(st);
    if (n_prompt < 1 || !prompt)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "generate: empty prompt");
    if (n_prompt > n_ctx)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "generate: the prompt of %d tokens does not fit the context of %d",
                            n_prompt, n_ctx);
    if (opts->n_predict < 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "generate: n_predict %d < 0",
                            opts->n_predict);

    const int n_vocab = qp_model_hparams(qp_state_model(st))->n_vocab;
    float *logits = malloc((size_t)n_vocab * sizeof *logits); /* [n_vocab] of the last row */
    if (!logits)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "generate: out of memory");
    if (seq)
        memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);

    qp_status rc = QP_OK;
    qp_state_set_logits_all(st, false); /* only the last row's logits are read */
    const double c0 = cpu_now(), t0 = qp_now();
    if ((rc = qp_forward(st, prompt, n_prompt, 0, logits, err)) != QP_OK)
        goto done;
    gs->n_prompt = n_prompt;
    const double t1 = qp_now();
    gs->t_prompt = t1 - t0;
    gs->cpu_prompt = cpu_now() - c0;

    /* token at position pos comes from the logits of position pos - 1 */
    double t_dec0 = 0.0, c_dec0 = 0.0;
    for (int pos = n_prompt; gs->n_gen < opts->n_predict; pos++) {
        if (pos >= n_ctx) {
            gs->ctx_full = true;
            break;
        }
        const int32_t next = qp_sampler_sample(smp, logits);
        if (gs->n_gen == 0) {
            gs->t_first = qp_now() - t0;
            t_dec0 = qp_now();
            c_dec0 = cpu_now();
        }
        gs->n_gen++;
        if (seq)
            seq[pos] = next;
        const bool go_on = opts->on_token ? opts->on_token(next, pos, opts->user) : true;
        if (!go_on || is_stop(opts, next)) {
            gs->stopped = true;
            break;
        }
        if (gs->n_gen == opts->n_predict || pos + 1 >= n_ctx)
            break; /* nothing would read this token's logits */
        if ((rc = qp_forward(st, &next, 1, pos, logits, err)) != QP_OK)
            goto done;
        gs->n_decode++;
    }
    if (gs->n_gen > 0) {
        gs->t_decode = qp_now() - t_dec0;
        gs->cpu_decode = cpu_now() - c_dec0;
    }
    if (gs->n_gen < opts->n_predict && !gs->stopped && n_prompt + gs->n_gen >= n_ctx)
        gs->ctx_full = true;
done:
    free(logits);
    return rc;
}
