/* tokenizer/spm.h - SentencePiece-style BPE, tokenizer.ggml.model = "llama"
 * (spm.c; private to tokenizer/). Called by tokenizer.c; uses only vocab.h
 * and unicode.h below it.
 */
#ifndef QP_TOKENIZER_SPM_H
#define QP_TOKENIZER_SPM_H

#include <stdbool.h>
#include <stddef.h>

#include "vocab.h"

/* True when no token has "▁" after another character (see spm.c). */
bool qp_spm_can_split_words(const qp_tokenizer *tok);
/* SPM on one already-escaped fragment (spaces are "▁"); appends ids. */
void qp_spm_encode(const qp_tokenizer *tok, const char *text, size_t len, qp_id_vec *out);

#endif
