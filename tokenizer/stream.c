/* tokenizer/stream.c - text of a growing token sequence, piece by piece.
 *
 * A token's text can depend on its neighbours (the SentencePiece space
 * after BOS is dropped, a byte token completes a UTF-8 character started
 * by another), so the stream re-detokenizes the whole sequence after each
 * push and hands out the suffix not handed out before. That is exact for
 * every rule, and costs a few microseconds per token: nothing next to a
 * forward pass. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

struct qp_detok_stream {
    const qp_tokenizer *tok;
    int32_t *ids;   /* [cap] the sequence so far */
    int n_ids, cap;
    char *text;     /* [text_cap] its detokenization */
    int text_cap;
    int given;      /* bytes of it already handed out */
};

qp_status qp_detok_stream_create(const qp_tokenizer *tok, int capacity, qp_detok_stream **out, qp_error *err)
{
    *out = NULL;
    if (capacity < 1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "a token stream needs room for 1 token");
    qp_detok_stream *s = calloc(1, sizeof *s);
    if (s)
        s->ids = malloc((size_t)capacity * sizeof *s->ids);
    if (!s || !s->ids) {
        qp_detok_stream_free(s);
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for %d tokens", capacity);
    }
    s->tok = tok;
    s->cap = capacity;
    *out = s;
    return QP_OK;
}

void qp_detok_stream_free(qp_detok_stream *s)
{
    if (!s)
        return;
    free(s->ids);
    free(s->text);
    free(s);
}

qp_status qp_detok_stream_push(qp_detok_stream *s, const int32_t *ids, int n, const char **text, size_t *len,
                               qp_error *err)
{
    *text = "";
    *len = 0;
    if (n < 0 || n > s->cap - s->n_ids)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "token stream full (%d tokens)", s->cap);
    memcpy(s->ids + s->n_ids, ids, (size_t)n * sizeof *ids);
    s->n_ids += n;
    int got = qp_detokenize(s->tok, s->ids, s->n_ids, false, s->text, s->text_cap);
    if (got >= s->text_cap) {
        const int cap = got + 1 + got / 2;
        char *t = realloc(s->text, (size_t)cap);
        if (!t)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        s->text = t, s->text_cap = cap;
        got = qp_detokenize(s->tok, s->ids, s->n_ids, false, s->text, s->text_cap);
    }
    if (got < 0)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "detokenization failed");
    if (got > s->given) {
        *text = s->text + s->given;
        *len = (size_t)(got - s->given);
        s->given = got;
    }
    return QP_OK;
}
