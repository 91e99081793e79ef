/* tokenizer/tokenizer_internal.h - what tokenizer.c, tokenizer_spm.c and
 * tokenizer_bpe.c share (private to profiler/).
 *
 * Strings are "pieces": every vocabulary entry is piece `id` (0..n_vocab-1);
 * a BPE merge may mention a string that is no token (a halfway result of
 * merges), which then gets a piece id >= n_vocab. One hash table maps the
 * bytes of any piece to its id, so the BPE loop works on integers only.
 */
#ifndef QP_PROFILER_TOKENIZER_INTERNAL_H
#define QP_PROFILER_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Pre-tokenizer regex families (llama.cpp's LLAMA_VOCAB_PRE_TYPE_*). */
typedef enum qp_pre_kind {
    QP_PRE_DEFAULT = 0, /* four regexes in a row, see tokenizer_bpe.c */
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

/* One BPE merge rule, found by the pair of piece ids it joins. */
typedef struct qp_merge_slot {
    uint64_t key;   /* ((left + 1) << 32) | (right + 1); 0 = empty slot */
    int32_t rank;   /* index in tokenizer.ggml.merges: lower merges first */
    int32_t result; /* piece id of left's text followed by right's */
} qp_merge_slot;

/* A trie node: children are a linked list of siblings. */
typedef struct qp_special_node {
    int32_t first_child, next_sibling; /* -1: none */
    int32_t special;                   /* index in qp_tokenizer.special ending here, -1 */
    unsigned char byte;                /* the byte leading here from the parent */
} qp_special_node;

struct qp_tokenizer {
    qp_tokenizer_model model;
    qp_pre_kind pre;
    char pre_name[32];

    /* ---- pieces: n_vocab tokens, then merge-only strings ---- */
    int32_t n_vocab;
    int32_t n_pieces, cap_pieces;
    char *text;          /* all piece bytes, back to back (not NUL-terminated) */
    size_t text_len, text_cap;
    uint32_t *piece_off; /* [cap_pieces] byte offset of piece i in text */
    uint32_t *piece_len; /* [cap_pieces] */
    uint32_t *piece_hash;/* [cap_pieces] hash of the piece's bytes */
    qp_piece_table table;

    /* ---- per token, [n_vocab] ---- */
    float *score;        /* tokenizer.ggml.scores (0 when absent) */
    uint8_t *type;       /* qp_token_type */

    /* ---- special tokens: CONTROL, USER_DEFINED, UNKNOWN ---- */
    int32_t n_special;
    int32_t *special;    /* [n_special] ids by length descending, then id */
    /* A byte trie of the special tokens' texts, so one pass over the text
     * finds which of them occur (cost per position: the matched depth). */
    qp_special_node *trie; /* [n_trie]; node 0 is the root */
    int32_t n_trie;
    int32_t root_child[256]; /* child of the root per byte, -1 none */

    /* ---- SPM ---- */
    int32_t byte_token[256]; /* <0xXX> (or the 1-byte token) for each byte, -1 none */
    bool add_space_prefix;
    bool spm_split_words;    /* qp_spm_can_split_words: merge word by word */

    /* ---- BPE ---- */
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

/* GPT-2's bytes_to_unicode: the code point byte b is written as (printable
 * bytes as themselves, the other 68 as U+0100 + n in byte order). */
uint32_t qp_gpt2_byte_cp(unsigned b);
/* Inverse: the byte code point cp stands for, or -1 when none. */
int qp_gpt2_cp_byte(uint32_t cp);

/* ---- growable id list (out of memory is sticky) ---- */
typedef struct qp_id_vec {
    int32_t *v;
    size_t n, cap;
    bool oom;
} qp_id_vec;

void qp_id_vec_push(qp_id_vec *vec, int32_t id);

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

/* ---- the two models (tokenizer_spm.c, tokenizer_bpe.c) ---- */

/* True when no token has "▁" after another character (see tokenizer_spm.c). */
bool qp_spm_can_split_words(const qp_tokenizer *tok);
/* SPM on one already-escaped fragment (spaces are "▁"); appends ids. */
void qp_spm_encode(const qp_tokenizer *tok, const char *text, size_t len, qp_id_vec *out);

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
