/* tokenizer/tokenizer.h - text <-> token ids from a GGUF file's tokenizer metadata.
 *
 * Two tokenizer models, named by tokenizer.ggml.model, behave as llama.cpp's
 * (src/llama-vocab.cpp) so ids agree with it token for token:
 *
 * - "llama": SentencePiece BPE (LLaMA 1/2, TinyStories). Spaces become U+2581
 *   ("▁"), a "▁" is prefixed to the text (tokenizer.ggml.add_space_prefix,
 *   default true), then the adjacent pair whose concatenation is the
 *   highest-scoring vocabulary entry (tokenizer.ggml.scores) is merged until
 *   none is left; a piece that is no token falls back to byte tokens <0xXX>.
 * - "gpt2": byte-level BPE (GPT-2, LLaMA 3, Qwen2, SmolLM). The text is cut
 *   into words by the pre-tokenizer regex that tokenizer.ggml.pre names, each
 *   byte is mapped to a printable code point (GPT-2's bytes_to_unicode), and
 *   the pair with the lowest rank in tokenizer.ggml.merges is merged first.
 *   Supported pre-tokenizers: default, gpt-2, llama-bpe (and llama3,
 *   llama-v3), qwen2, smollm, and llama.cpp's aliases of these.
 *
 * Special tokens (token types CONTROL, USER_DEFINED, UNKNOWN) are cut out of
 * the text before either model runs, longest first, as llama.cpp's
 * tokenizer_st_partition does: USER_DEFINED ones always, CONTROL and UNKNOWN
 * ones only when parse_special is true.
 *
 * A qp_tokenizer owns copies of everything it needs: the qp_gguf_file may be
 * closed after qp_tokenizer_load. It is immutable after loading, so any
 * number of threads may tokenize with one tokenizer at the same time.
 *
 * Where this differs from llama.cpp, on purpose:
 * - Invalid UTF-8 keeps its bytes. llama.cpp's BPE turns each bad byte into
 *   U+FFFD's three bytes, and its SPM lets a lone lead byte swallow the
 *   next bytes (even half of an escaped space); here every byte comes back
 *   from qp_detokenize. Valid UTF-8 gives llama.cpp's ids exactly.
 * - An explicit special id outside the vocabulary is QP_ERR_INPUT (llama.cpp
 *   warns and keeps a default); -1 and 0xFFFFFFFF mean "none". A gpt2
 *   tokenizer has no default BOS/EOS (llama.cpp's is id 11).
 * - qp_detokenize does not apply llama.cpp's clean_spaces (" ," -> ","),
 *   which would break qp_detokenize(qp_tokenize(s)) == s.
 * - Per-model LSTRIP/RSTRIP token attributes (set by model name in
 *   llama.cpp, not stored in GGUF) are not applied.
 * - Only the "llama" and "gpt2" models; "bert", "t5", "rwkv", ... are
 *   QP_ERR_INPUT.
 */
#ifndef QP_PROFILER_TOKENIZER_H
#define QP_PROFILER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../gguf/gguf.h"

typedef struct qp_tokenizer qp_tokenizer;

typedef enum qp_tokenizer_model {
    QP_TOKENIZER_SPM = 1, /* tokenizer.ggml.model = "llama" */
    QP_TOKENIZER_BPE = 2, /* tokenizer.ggml.model = "gpt2" */
} qp_tokenizer_model;

/* Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type). */
typedef enum qp_token_type {
    QP_TOKEN_UNDEFINED = 0,
    QP_TOKEN_NORMAL = 1,
    QP_TOKEN_UNKNOWN = 2,
    QP_TOKEN_CONTROL = 3,      /* <s>, </s>, <|im_start|>: text only if asked */
    QP_TOKEN_USER_DEFINED = 4, /* always matched verbatim, always printed */
    QP_TOKEN_UNUSED = 5,
    QP_TOKEN_BYTE = 6,         /* <0xXX>: stands for one byte */
} qp_token_type;

/* Builds the tokenizer from f's tokenizer.ggml.* keys. Missing or malformed
 * metadata (a key of the wrong type, an id outside the vocabulary, a
 * duplicate token, a merge without a space, ...) is QP_ERR_INPUT naming the
 * key; out of memory is QP_ERR_RUNTIME. *out is NULL on failure. */
qp_status qp_tokenizer_load(const qp_gguf_file *f, qp_tokenizer **out, qp_error *err);
void qp_tokenizer_free(qp_tokenizer *tok); /* NULL is fine */

/* Tokenizes text[0..len) (any bytes: invalid UTF-8 is tokenized, never
 * refused). add_special: prepend BOS / append EOS where the metadata says
 * so (tokenizer.ggml.add_bos_token / add_eos_token; defaults: BOS yes for
 * "llama" and for the llama-bpe pre-tokenizer, no otherwise; EOS no).
 * parse_special: also match CONTROL/UNKNOWN tokens' text in `text`.
 * Returns the number of ids the text produces and stores the first
 * min(that, max_ids) of them in ids (which may be NULL when max_ids is 0),
 * so a return above max_ids means "call again with a larger buffer".
 * Returns -1 when out of memory or when the count would not fit an int. */
int qp_tokenize(const qp_tokenizer *tok, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *ids, int max_ids);

/* The bytes token `id` stands for: "▁" -> ' ' (SPM), <0xXX> -> that byte,
 * GPT-2's code points -> the original bytes (BPE). CONTROL and UNKNOWN tokens
 * give their text when `special`, nothing otherwise; USER_DEFINED tokens give
 * their text. snprintf convention: returns the piece's length (which may
 * contain NUL bytes), writes at most size-1 bytes and a NUL (when size > 0);
 * a return >= size means truncated. -1 if id is outside the vocabulary. */
int qp_token_to_piece(const qp_tokenizer *tok, int32_t id, bool special, char *buf, int size);

/* The text of ids[0..n): the pieces concatenated, except that for a
 * tokenizer that adds a space prefix (SPM) the one leading space of the text
 * that follows the start or a special token is dropped again, so that
 * qp_detokenize(qp_tokenize(s)) == s, and llama2.c's "strip the space after
 * BOS" falls out. Same return convention as qp_token_to_piece; -1 if an id
 * is outside the vocabulary or the length would not fit an int. */
int qp_detokenize(const qp_tokenizer *tok, const int32_t *ids, int n, bool special, char *buf,
                  int size);

/* ---- facts ---- ids are -1 when the tokenizer has no such token */
qp_tokenizer_model qp_tokenizer_model_of(const qp_tokenizer *tok);
const char *qp_tokenizer_pre(const qp_tokenizer *tok); /* "default", "llama-bpe", ...; "" for SPM */
int32_t qp_tokenizer_n_vocab(const qp_tokenizer *tok);
int32_t qp_tokenizer_n_merges(const qp_tokenizer *tok); /* 0 for SPM */
int32_t qp_tokenizer_bos(const qp_tokenizer *tok);
int32_t qp_tokenizer_eos(const qp_tokenizer *tok);
int32_t qp_tokenizer_unk(const qp_tokenizer *tok);
int32_t qp_tokenizer_pad(const qp_tokenizer *tok);
bool qp_tokenizer_add_bos(const qp_tokenizer *tok);
bool qp_tokenizer_add_eos(const qp_tokenizer *tok);

/* The vocabulary entry as stored (e.g. "▁the", "Ġthe", "<0x0A>"); *len gets
 * its length (may be NULL). NULL if id is out of range. */
const char *qp_token_text(const qp_tokenizer *tok, int32_t id, size_t *len);
float qp_token_score(const qp_tokenizer *tok, int32_t id);        /* 0 if out of range */
qp_token_type qp_token_get_type(const qp_tokenizer *tok, int32_t id); /* UNDEFINED if out of range */
/* Id of the vocabulary entry whose text is exactly text[0..len), or -1. */
int32_t qp_token_lookup(const qp_tokenizer *tok, const char *text, size_t len);

/* ---- streaming ----
 * The text of a growing sequence, piece by piece, as `qprof run` prints
 * it: each push returns the bytes the sequence's text gained, exact even
 * where a token's text depends on its neighbours (tokenizer/stream.c). */
typedef struct qp_detok_stream qp_detok_stream;

/* Room for `capacity` tokens in all. */
qp_status qp_detok_stream_create(const qp_tokenizer *tok, int capacity, qp_detok_stream **out, qp_error *err);
void qp_detok_stream_free(qp_detok_stream *s); /* NULL is fine */
/* Appends ids[0..n) and points *text at the *len new bytes (valid until
 * the next call; *len may be 0). QP_ERR_INPUT when the stream is full. */
qp_status qp_detok_stream_push(qp_detok_stream *s, const int32_t *ids, int n, const char **text, size_t *len,
                               qp_error *err);

#endif
