/* tokenizer/vocab.h - the vocabulary: pieces, their hash table, per-token
 * scores and types, id vectors, the heap of merge candidates and the
 * errors for tokenizer.ggml.* keys (vocab.c), and the qp_tokenizer struct
 * that spm.c, bpe.c and tokenizer.c all work on (private to tokenizer/).
 *
 * Strings are "pieces": every vocabulary entry is piece `id` (0..n_vocab-1);
 * a BPE merge may mention a string that is no token (a halfway result of
 * merges), which then gets a piece id >= n_vocab. One hash table maps the
 * bytes of any piece to its id, so the BPE loop works on integers only.
 *
 * Layering, each file including only headers below it: tokenizer.c ->
 * spm.h / bpe.h -> vocab.h, with unicode.h below them all. This header
 * includes only the public tokenizer.h (for the qp_tokenizer typedef,
 * qp_tokenizer_model and qp_token_type, and through it gguf.h for the key
 * errors); vocab.c never calls upwards.
 */
#ifndef QP_TOKENIZER_VOCAB_H
#define QP_TOKENIZER_VOCAB_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* ---- growable arrays ---- */

/* Grows the array *pp (a T **, passed as void *) to room for n elements
 * of `size` bytes, doubling *cap from 64. False when out of memory or the
 * size would overflow; *pp and *cap are then unchanged. A call, so hot
 * callers test n against *cap first. */
bool qp_grow(void *pp, size_t *cap, size_t n, size_t size);

/* ---- growable id list (out of memory is sticky) ---- */
typedef struct qp_id_vec {
    int32_t *v;
    size_t n, cap;
    bool oom;
} qp_id_vec;

void qp_id_vec_push(qp_id_vec *vec, int32_t id);

/* ---- merge candidates: one heap for both merge loops ---- */

/* Two adjacent symbols that could merge. SPM (spm.c) and BPE (bpe.c) both
 * pop the best pair, merge it, and push the pairs it forms with its
 * neighbours. Best = the highest priority, ties to the smaller left index
 * (llama.cpp merges the leftmost of equal pairs first). SPM's priority is
 * the merged token's score, BPE's the merge's rank turned around, both
 * mapped to an unsigned key of the same order (below). A popped pair whose
 * sides have changed since the push is stale; each loop keeps in stamp what
 * it checks (SPM the two sides' sizes, BPE their pieces). The right side is
 * not stored: it is the left side's next symbol for as long as the left
 * side is unchanged (only absorbing that neighbour changes either), which
 * the left stamp checks. A sift copies a pair per step: 16 bytes move in
 * one vector register, and storing the right side (20 bytes) cost ~3% more
 * instructions on wikitext. */
typedef struct qp_merge_pair {
    uint32_t priority; /* higher first: qp_priority_of_score / _of_rank */
    int32_t left;      /* symbol index; the right side is its next symbol */
    int32_t stamp[2];  /* left and right side as pushed: detects stale pairs */
} qp_merge_pair;
static_assert(sizeof(qp_merge_pair) == 16, "qp_merge_pair: one 16-byte move per sift step");

/* A float as an unsigned key with the float's order. A float's bits are a
 * sign and a magnitude, and positive floats order as their magnitudes: so
 * the key is 2^31 + magnitude or 2^31 - magnitude by the sign, which also
 * gives -0 and +0 the same key (equal scores, so the leftmost pair must win
 * between them). Scores are never NaN (tokenizer.c refuses them). Why not a
 * double priority, which holds a score and -rank exactly too: its compare
 * (and the larger pair) made BPE 4-8% slower on wikitext (qwen2, gpt-2). */
static inline uint32_t qp_priority_of_score(float score)
{
    uint32_t bits;
    memcpy(&bits, &score, sizeof bits);
    uint32_t magnitude = bits & 0x7FFFFFFFu;
    return (bits >> 31) ? 0x80000000u - magnitude : 0x80000000u + magnitude;
}

/* Rank 0 (the first merge of tokenizer.ggml.merges) first. */
static inline uint32_t qp_priority_of_rank(int32_t rank)
{
    return UINT32_MAX - (uint32_t)rank;
}

typedef struct qp_pair_heap {
    qp_merge_pair *v; /* [cap]; v[0..n) a binary heap, the best in v[0] */
    size_t n, cap;
} qp_pair_heap;

/* Heap order: the higher priority first, then the smaller left index
 * (llama.cpp's llm_bigram_spm / llm_bigram_bpe comparators turned around). */
static inline bool qp_pair_before(const qp_merge_pair *a, const qp_merge_pair *b)
{
    return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

/* Adds p; false when out of memory (the heap is unchanged). Inline, as is
 * pop: out of line, the calls cost ~20% of BPE's speed on wikitext
 * (qwen2, gpt-2) and ~15% of SPM's. */
static inline bool qp_pair_heap_push(qp_pair_heap *h, qp_merge_pair p)
{
    if (h->n == h->cap && !qp_grow(&h->v, &h->cap, h->n + 1, sizeof *h->v))
        return false;
    /* Sift up: move parents down until p's place is found. */
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!qp_pair_before(&p, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return true;
}

/* Removes and returns the best pair; h->n must be > 0. */
static inline qp_merge_pair qp_pair_heap_pop(qp_pair_heap *h)
{
    qp_merge_pair top = h->v[0], last = h->v[--h->n];
    /* Sift the last pair down from the root, moving the better child up. */
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && qp_pair_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!qp_pair_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0)
        h->v[i] = last;
    return top;
}

/* Empties the heap, keeping its memory for the next word. */
static inline void qp_pair_heap_clear(qp_pair_heap *h)
{
    h->n = 0;
}
void qp_pair_heap_free(qp_pair_heap *h);

/* ---- errors for tokenizer.ggml.* keys (tokenizer.c, bpe.c) ---- */

/* The error for a getter's answer st (not QP_GGUF_FOUND) on `key`:
 * NOT_FOUND: "missing KEY (needed_for)"; any other: "KEY: expected
 * EXPECTED, found TYPE". A key that may be absent is the caller's case
 * (then needed_for may be NULL). */
qp_status qp_vocab_key_error(const qp_gguf_file *f, const char *key, qp_gguf_get_status st,
                             const char *expected, const char *needed_for, qp_error *err);
/* A required array of strings (an empty one of any element type counts as
 * empty): *arr on QP_OK, else the error, missing saying what it is for. */
qp_status qp_vocab_get_strings(const qp_gguf_file *f, const char *key, const char *needed_for,
                               const qp_gguf_array **arr, qp_error *err);

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
