/* tokenizer/bpe.h - byte-level BPE, tokenizer.ggml.model = "gpt2": the
 * pre-tokenizers, the merges and GPT-2's byte map (bpe.c; private to
 * tokenizer/). Called by tokenizer.c; uses only vocab.h and unicode.h below
 * it.
 */
#ifndef QP_TOKENIZER_BPE_H
#define QP_TOKENIZER_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* GPT-2's bytes_to_unicode: the code point byte b is written as (printable
 * bytes as themselves, the other 68 as U+0100 + n in byte order). */
uint32_t qp_gpt2_byte_cp(unsigned b);
/* Inverse: the byte code point cp stands for, or -1 when none. */
int qp_gpt2_cp_byte(uint32_t cp);

/* Per-call BPE working memory, reused across the fragments of one call. */
typedef struct qp_bpe_scratch qp_bpe_scratch;
qp_bpe_scratch *qp_bpe_scratch_new(void);
void qp_bpe_scratch_free(qp_bpe_scratch *s);
/* Pre-tokenizes and BPE-encodes one raw fragment; appends ids. */
void qp_bpe_encode(const qp_tokenizer *tok, qp_bpe_scratch *s, const char *text, size_t len,
                   qp_id_vec *out);

/* For tests: cuts text[0..len) into words as pre-tokenizer `kind` does and
 * stores the end byte offset of the first max_ends words in ends. Returns
 * the number of words, -1 when out of memory. */
int qp_bpe_pre_split(qp_pre_kind kind, const char *text, size_t len, size_t *ends, int max_ends);

/* Loading the BPE parts: parses tokenizer.ggml.merges into tok->merges and
 * fills byte_piece / single_byte. */
qp_status qp_bpe_load(qp_tokenizer *tok, const qp_gguf_file *f, qp_error *err);
/* Maps a tokenizer.ggml.pre name to its kind; false if unknown. Sets
 * *ignore_merges and *add_bos_default as llama.cpp does for that name. */
bool qp_bpe_pre_from_name(const char *name, qp_pre_kind *kind, bool *ignore_merges,
                          bool *add_bos_default);

#endif
