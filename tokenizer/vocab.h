/* tokenizer/vocab.h - the vocabulary: pieces, their hash table, per-token
 * scores and types, id vectors (vocab.c), and the qp_tokenizer struct that
 * spm.c, bpe.c and tokenizer.c all work on (private to tokenizer/).
 *
 * Strings are "pieces": every vocabulary entry is piece `id` (0..n_vocab-1);
 * a BPE merge may mention a string that is no token (a halfway result of
 * merges), which then gets a piece id >= n_vocab. One hash table maps the
 * bytes of any piece to its id, so the BPE loop works on integers only.
 *
 * Layering, each file including only headers below it: tokenizer.c ->
 * spm.h / bpe.h -> vocab.h, with unicode.h below them all. This header
 * includes only the public tokenizer.h (for the qp_tokenizer typedef,
 * qp_tokenizer_model and qp_token_type); vocab.c never calls upwards.
 */
#ifndef QP_TOKENIZER_VOCAB_H
#define QP_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Pre-tokenizer regex families (llama.cpp's LLAMA_VOCAB_PRE_TYPE_*), used
 * by bpe.c; defined here because qp_tokenizer holds one. */
typedef enum qp_pre_kind {
    QP_PRE_DEFAULT = 0, /* four regexes in a row, see bpe.c */
    QP_PRE_GPT2,        /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
    QP_PRE_LLAMA3,      /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|... */
    QP_PRE_QWEN2,       /* as LLAMA3 with \p{N} (one digit) instead of \p{N}{1,3} */
    QP_PRE_SMOLLM,      /* \p{N} first, then the GPT-2 regex */
} qp_pre_kind;

/* An open-addressing hash table: slot = (hash << 32) | (piece id + 1),
 * 0 = empty. The hash in the slot settles most probes without touching the
 * piece arrays (one cache miss less per probe). */
typedef struct qp_piece_table {
    uint64_t *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
} qp_piece_table;

/* Owned by the layers above, which alone need their layout: a BPE merge
 * rule (bpe.c) and a node of the special-token trie (tokenizer.c). */
typedef struct qp_merge_slot qp_merge_slot;
typedef struct qp_special_node qp_special_node;

struct qp_tokenizer {
    qp_tokenizer_model model;
    qp_pre_kind pre;
    char pre_name[32];

    /* ---- pieces: n_vocab tokens, then merge-only strings (vocab.c) ---- */
    int32_t n_vocab;
    int32_t n_pieces, cap_pieces;
    char *text;          /* all piece bytes, back to back (not NUL-terminated) */
    size_t text_len, text_cap;
    uint32_t *piece_off; /* [cap_pieces] byte offset of piece i in text */
    uint32_t *piece_len; /* [cap_pieces] */
    uint32_t *piece_hash;/* [cap_pieces] hash of the piece's bytes */
    qp_piece_table table;

    /* ---- per token, [n_vocab] (vocab.c allocates, tokenizer.c fills) ---- */
    float *score;        /* tokenizer.ggml.scores (0 when absent) */
    uint8_t *type;       /* qp_token_type */

    /* ---- special tokens: CONTROL, USER_DEFINED, UNKNOWN (tokenizer.c) ---- */
    int32_t n_special;
    int32_t *special;    /* [n_special] ids by length descending, then id */
    /* A byte trie of the special tokens' texts, so one pass over the text
     * finds which of them occur (cost per position: the matched depth). */
    qp_special_node *trie; /* [n_trie]; node 0 is the root */
    int32_t n_trie;
    int32_t root_child[256]; /* child of the root per byte, -1 none */

    /* ---- SPM (spm.c) ---- */
    int32_t byte_token[256]; /* <0xXX> (or the 1-byte token) for each byte, -1 none */
    bool add_space_prefix;
    bool spm_split_words;    /* qp_spm_can_split_words: merge word by word */

    /* ---- BPE (bpe.c) ---- */
    int32_t n_merges;
    qp_merge_slot *merges;    /* [merge_mask + 1] hash table */
    size_t merge_mask;
    int32_t byte_piece[256];  /* piece of GPT-2's code point for each byte, -1 none */
    int32_t single_byte[256]; /* token whose text is exactly that one byte, -1 none */
    bool ignore_merges;       /* llama3: a word that is a token is taken whole */

    /* ---- special ids and flags ---- */
    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos;
};

/* ---- growable id list (out of memory is sticky) ---- */
typedef struct qp_id_vec {
    int32_t *v;
    size_t n, cap;
    bool oom;
} qp_id_vec;

void qp_id_vec_push(qp_id_vec *vec, int32_t id);

/* ---- the vocabulary's storage ---- */

/* Sizes the piece store once for n_tokens tokens of text_bytes bytes in
 * all, with room for some merge-only pieces (BPE adds them later and grows
 * the arrays), and allocates score ([n_tokens], zeroed) and type
 * ([n_tokens], unset). False when out of memory; what was allocated stays
 * in tok for qp_vocab_free. */
bool qp_vocab_alloc(qp_tokenizer *tok, int32_t n_tokens, size_t text_bytes);
/* Frees what qp_vocab_alloc and qp_piece_add allocated (not tok itself). */
void qp_vocab_free(qp_tokenizer *tok);

/* ---- piece table ---- */
uint32_t qp_piece_hash_bytes(const void *s, size_t n);
/* Piece id of s[0..n) (any piece, token or not), or -1. */
int32_t qp_piece_find_h(const qp_tokenizer *tok, const char *s, size_t n, uint32_t h);
static inline int32_t qp_piece_find(const qp_tokenizer *tok, const char *s, size_t n)
{
    return qp_piece_find_h(tok, s, n, qp_piece_hash_bytes(s, n));
}
/* Token id (< n_vocab) of s[0..n), or -1. */
static inline int32_t qp_token_find(const qp_tokenizer *tok, const char *s, size_t n)
{
    int32_t id = qp_piece_find(tok, s, n);
    return id < tok->n_vocab ? id : -1;
}
/* Adds s[0..n) as a new piece (the caller knows it is absent). Returns its
 * id, or -1 when out of memory or the text store would pass 4 GiB. */
int32_t qp_piece_add(qp_tokenizer *tok, const char *s, size_t n);
static inline const char *qp_piece_bytes(const qp_tokenizer *tok, int32_t id)
{
    return tok->text + tok->piece_off[id];
}

#endif
