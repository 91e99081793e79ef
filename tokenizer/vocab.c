/* tokenizer/vocab.c - the vocabulary's storage (see vocab.h): the piece
 * text store and arrays, the hash table from a piece's bytes to its id, the
 * per-token score and type arrays, and growable id vectors; and what the
 * layers above share: the heap of merge candidates (spm.c, bpe.c) and the
 * wording of errors for tokenizer.ggml.* keys (tokenizer.c, bpe.c).
 *
 * It decides about no key (the callers name them and their rules) and
 * knows neither merge algorithm: tokenizer.c validates the tokenizer.ggml.*
 * keys and adds the tokens, bpe.c adds its merge-only pieces, and both
 * models look pieces up here.
 */
#include "vocab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ==== growable arrays ==================================================== */

bool qp_grow(void *pp, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < n) {
        if (c > SIZE_MAX / 2)
            return false;
        c *= 2;
    }
    if (c > SIZE_MAX / size)
        return false;
    void *q = realloc(*(void **)pp, c * size);
    if (!q)
        return false;
    *(void **)pp = q;
    *cap = c;
    return true;
}

void qp_id_vec_push(qp_id_vec *vec, int32_t id)
{
    if (vec->oom)
        return;
    if (vec->n == vec->cap && !qp_grow(&vec->v, &vec->cap, vec->n + 1, sizeof *vec->v)) {
        vec->oom = true;
        return;
    }
    vec->v[vec->n++] = id;
}

/* ==== merge candidates ================================================== */

/* Push and pop are inline in vocab.h (the merge loops' inner calls). */
void qp_pair_heap_free(qp_pair_heap *h)
{
    free(h->v);
    *h = (qp_pair_heap){0};
}

/* ==== errors for tokenizer.ggml.* keys =================================== */

qp_status qp_vocab_key_error(const qp_gguf_file *f, const char *key, qp_gguf_get_status st,
                             const char *expected, const char *needed_for, qp_error *err)
{
    if (st == QP_GGUF_NOT_FOUND)
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1, "missing %s (%s)", key,
                            needed_for ? needed_for : "required");
    return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1, "%s: expected %s, found %s", key, expected,
                        qp_gguf_type_name(qp_gguf_get(f, key)->type));
}

qp_status qp_vocab_get_strings(const qp_gguf_file *f, const char *key, const char *needed_for,
                               const qp_gguf_array **arr, qp_error *err)
{
    qp_gguf_get_status st = qp_gguf_get_arr(f, key, arr);
    if (st != QP_GGUF_FOUND)
        return qp_vocab_key_error(f, key, st, "an array of strings", needed_for, err);
    if ((*arr)->count > 0 && (*arr)->type != QP_GGUF_TYPE_STRING)
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1,
                            "%s: expected an array of strings, found an array of %s", key,
                            qp_gguf_type_name((*arr)->type));
    return QP_OK;
}

/* ==== the piece table ==================================================== */

/* FNV-1a, 32 bits: token texts are short, and this is only the bucket
 * choice; equality is always checked on the bytes. */
uint32_t qp_piece_hash_bytes(const void *s, size_t n)
{
    const unsigned char *p = s;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int32_t qp_piece_find_h(const qp_tokenizer *tok, const char *s, size_t n, uint32_t h)
{
    size_t i = h & tok->table.mask;
    for (;;) {
        uint64_t slot = tok->table.slots[i];
        if (slot == 0)
            return -1;
        if ((uint32_t)(slot >> 32) == h) {
            int32_t id = (int32_t)((uint32_t)slot - 1);
            if (tok->piece_len[id] == n && memcmp(tok->text + tok->piece_off[id], s, n) == 0)
                return id;
        }
        i = (i + 1) & tok->table.mask;
    }
}

static void table_insert(qp_piece_table *t, const uint32_t *hashes, int32_t id)
{
    size_t i = hashes[id] & t->mask;
    while (t->slots[i] != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = ((uint64_t)hashes[id] << 32) | ((uint32_t)id + 1);
}

/* Keeps the table at most half full (linear probing stays short). */
static bool table_reserve(qp_tokenizer *tok, size_t n_pieces)
{
    size_t need = 16;
    while (need < 2 * n_pieces)
        need *= 2;
    if (tok->table.slots && tok->table.mask + 1 >= need)
        return true;
    uint64_t *slots = calloc(need, sizeof *slots);
    if (!slots)
        return false;
    free(tok->table.slots);
    tok->table.slots = slots;
    tok->table.mask = need - 1;
    for (int32_t id = 0; id < tok->n_pieces; id++)
        table_insert(&tok->table, tok->piece_hash, id);
    return true;
}

int32_t qp_piece_add(qp_tokenizer *tok, const char *s, size_t n)
{
    if (tok->n_pieces == INT32_MAX - 1)
        return -1;
    if (tok->n_pieces == tok->cap_pieces) {
        size_t cap = (size_t)tok->cap_pieces * 2 + 64;
        if (cap > INT32_MAX)
            cap = INT32_MAX;
        uint32_t *off = realloc(tok->piece_off, cap * sizeof *off);
        if (!off)
            return -1;
        tok->piece_off = off;
        uint32_t *len = realloc(tok->piece_len, cap * sizeof *len);
        if (!len)
            return -1;
        tok->piece_len = len;
        uint32_t *hash = realloc(tok->piece_hash, cap * sizeof *hash);
        if (!hash)
            return -1;
        tok->piece_hash = hash;
        tok->cap_pieces = (int32_t)cap;
    }
    /* Offsets are 32-bit: the text store stops at 4 GiB (a real vocabulary
     * is a few MB). */
    if (n > UINT32_MAX - tok->text_len)
        return -1;
    if (tok->text_len + n > tok->text_cap) {
        size_t cap = tok->text_cap * 2 + n + 4096;
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        char *text = realloc(tok->text, cap);
        if (!text)
            return -1;
        tok->text = text;
        tok->text_cap = cap;
    }
    if (!table_reserve(tok, (size_t)tok->n_pieces + 1))
        return -1;
    int32_t id = tok->n_pieces++;
    memcpy(tok->text + tok->text_len, s, n);
    tok->piece_off[id] = (uint32_t)tok->text_len;
    tok->piece_len[id] = (uint32_t)n;
    tok->piece_hash[id] = qp_piece_hash_bytes(s, n);
    tok->text_len += n;
    table_insert(&tok->table, tok->piece_hash, id);
    return id;
}

/* ==== storage ============================================================ */

bool qp_vocab_alloc(qp_tokenizer *tok, int32_t n_tokens, size_t text_bytes)
{
    /* Headroom: 4 KB of text and 64 pieces before the first growth, and a
     * table sized for 1024 pieces more than the tokens (a BPE vocabulary's
     * merge-only strings), so loading rarely rehashes. */
    tok->text_cap = text_bytes + 4096;
    tok->text = malloc(tok->text_cap);
    tok->cap_pieces = n_tokens + 64;
    tok->piece_off = malloc((size_t)tok->cap_pieces * sizeof *tok->piece_off);
    tok->piece_len = malloc((size_t)tok->cap_pieces * sizeof *tok->piece_len);
    tok->piece_hash = malloc((size_t)tok->cap_pieces * sizeof *tok->piece_hash);
    tok->score = calloc((size_t)n_tokens, sizeof *tok->score);
    tok->type = malloc((size_t)n_tokens);
    return tok->text && tok->piece_off && tok->piece_len && tok->piece_hash && tok->score &&
           tok->type && table_reserve(tok, (size_t)n_tokens + 1024);
}

void qp_vocab_free(qp_tokenizer *tok)
{
    free(tok->text);
    free(tok->piece_off);
    free(tok->piece_len);
    free(tok->piece_hash);
    free(tok->table.slots);
    free(tok->score);
    free(tok->type);
}
