/* tokenizer/tokenizer.c - loading a tokenizer from GGUF metadata, cutting out
 * special tokens, and turning ids back into text (see tokenizer.h).
 *
 * The two merge algorithms live in spm.c and bpe.c, the vocabulary (one hash
 * table over every token's bytes) in vocab.c; this file owns the validation
 * of every tokenizer.ggml.* key but the merges (bpe.c), and the parts both
 * models share: BOS/EOS, the special-token partition, and decoding.
 */
#include "tokenizer.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "spm.h"
#include "unicode.h"
#include "vocab.h"

/* ==== loading ============================================================ */

void qp_tokenizer_free(qp_tokenizer *tok)
{
    if (!tok)
        return;
    qp_vocab_free(tok);
    free(tok->special);
    free(tok->trie);
    free(tok->merges);
    free(tok);
}

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_UNK "tokenizer.ggml.unknown_token_id"
#define KEY_PAD "tokenizer.ggml.padding_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"
#define KEY_ADD_EOS "tokenizer.ggml.add_eos_token"
#define KEY_ADD_SPACE "tokenizer.ggml.add_space_prefix"

/* Vocabularies beyond 2^30 entries are not real; the bound keeps every
 * size computation below far from overflow. */
#define QP_MAX_VOCAB (1 << 30)

static qp_status oom(const qp_gguf_file *f, qp_error *err)
{
    return qp_error_set(err, QP_ERR_RUNTIME, qp_gguf_name(f), -1, "out of memory loading the tokenizer");
}

/* An optional bool key: absent leaves *out, another type is an error. */
static qp_status get_opt_bool(const qp_gguf_file *f, const char *key, bool *out, qp_error *err)
{
    qp_gguf_get_status st = qp_gguf_get_bool(f, key, out);
    if (st == QP_GGUF_FOUND || st == QP_GGUF_NOT_FOUND)
        return QP_OK;
    return qp_vocab_key_error(f, key, st, "a bool", NULL, err);
}

/* An optional token id key. Converters write "none" as -1 (i32) or as
 * 0xFFFFFFFF (u32, e.g. stories260K's padding id): both mean absent. Any
 * other value must be a valid id. *out is left alone when absent. */
static qp_status get_opt_id(const qp_gguf_file *f, const char *key, int32_t n_vocab, int32_t *out,
                            qp_error *err)
{
    int64_t v;
    switch (qp_gguf_get_int(f, key, INT64_MIN, INT64_MAX, &v)) {
    case QP_GGUF_NOT_FOUND:
        return QP_OK;
    case QP_GGUF_FOUND:
        break;
    case QP_GGUF_OUT_OF_RANGE:
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1,
                            "%s: value outside the vocabulary (%d tokens)", key, (int)n_vocab);
    default:
        return qp_vocab_key_error(f, key, QP_GGUF_WRONG_TYPE, "an integer token id", NULL, err);
    }
    if (v == -1 || v == (int64_t)UINT32_MAX) {
        *out = -1;
        return QP_OK;
    }
    if (v < 0 || v >= n_vocab)
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1,
                            "%s = %lld is outside the vocabulary (%d tokens)", key, (long long)v,
                            (int)n_vocab);
    *out = (int32_t)v;
    return QP_OK;
}

static qp_status load_tokens(qp_tokenizer *tok, const qp_gguf_file *f, qp_error *err)
{
    const char *name = qp_gguf_name(f);
    const qp_gguf_array *arr;
    qp_status st = qp_vocab_get_strings(f, KEY_TOKENS, "the vocabulary", &arr, err);
    if (st != QP_OK)
        return st;
    if (arr->count == 0 || arr->count > QP_MAX_VOCAB)
        return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: %llu entries (expected 1 to %d)", KEY_TOKENS,
                            (unsigned long long)arr->count, QP_MAX_VOCAB);
    int32_t n = (int32_t)arr->count;

    /* Size the vocabulary's store once (qp_vocab_alloc); an empty entry
     * counts the 24 bytes its "[EMPTY_n]" name may take (below). */
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += arr->strs[i].len ? arr->strs[i].len : 24;
    if (total > UINT32_MAX)
        return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: %zu bytes of token text (limit 4 GiB)",
                            KEY_TOKENS, total);
    if (!qp_vocab_alloc(tok, n, total))
        return oom(f, err);

    for (int32_t i = 0; i < n; i++) {
        const char *s = arr->strs[i].data;
        size_t len = (size_t)arr->strs[i].len;
        char empty_name[24];
        if (len == 0) {
            /* llama.cpp renames an empty entry rather than refusing the
             * model; so do we (an empty token can never be produced). */
            len = (size_t)snprintf(empty_name, sizeof empty_name, "[EMPTY_%d]", (int)i);
            s = empty_name;
        }
        int32_t dup = qp_piece_find(tok, s, len);
        if (dup >= 0)
            return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: token %d duplicates token %d ('%.*s')",
                                KEY_TOKENS, (int)i, (int)dup, (int)(len > 40 ? 40 : len), s);
        if (qp_piece_add(tok, s, len) != i)
            return oom(f, err);
        tok->type[i] = QP_TOKEN_NORMAL;
    }
    tok->n_vocab = n;
    return QP_OK;
}

/* Scores and token types are optional (llama.cpp reads both as absent =
 * 0.0 / NORMAL) but, when present, must cover every token: a short array
 * would leave tokens whose merge priority or kind is a guess. This checks
 * one of them: *arr NULL when absent; an error when it is no array, holds
 * other than integers (or floats, when floats_ok), or is too short. */
static qp_status get_per_token(const qp_tokenizer *tok, const qp_gguf_file *f, const char *key, bool floats_ok,
                               const char *noun, const qp_gguf_array **arr, qp_error *err)
{
    qp_gguf_get_status st = qp_gguf_get_arr(f, key, arr);
    if (st == QP_GGUF_NOT_FOUND) {
        *arr = NULL;
        return QP_OK;
    }
    if (st != QP_GGUF_FOUND)
        return qp_vocab_key_error(f, key, st, "an array", NULL, err);
    enum qp_gguf_value_type t = (*arr)->type;
    bool is_float = t == QP_GGUF_TYPE_FLOAT32 || t == QP_GGUF_TYPE_FLOAT64;
    if (!qp_gguf_type_is_int(t) && !(floats_ok && is_float))
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1, "%s: expected %s, found an array of %s", key,
                            floats_ok ? "numbers" : "integers", qp_gguf_type_name(t));
    if ((*arr)->count < (uint64_t)tok->n_vocab)
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1, "%s: %llu %s for %d tokens", key,
                            (unsigned long long)(*arr)->count, noun, (int)tok->n_vocab);
    return QP_OK;
}

/* Scores may be stored as floats or integers (both occur in converted
 * files); types are integers 0..6 (qp_token_type). */
static qp_status load_scores_types(qp_tokenizer *tok, const qp_gguf_file *f, qp_error *err)
{
    const char *name = qp_gguf_name(f);
    const qp_gguf_array *arr;
    qp_status st = get_per_token(tok, f, KEY_SCORES, true, "scores", &arr, err);
    if (st != QP_OK)
        return st;
    if (arr) {
        bool is_float = arr->type == QP_GGUF_TYPE_FLOAT32 || arr->type == QP_GGUF_TYPE_FLOAT64;
        for (int32_t i = 0; i < tok->n_vocab; i++) {
            double v = 0;
            int64_t iv = 0;
            if (is_float)
                qp_gguf_array_get_float(arr, (uint64_t)i, &v);
            else if (qp_gguf_array_get_int(arr, (uint64_t)i, &iv) == QP_GGUF_FOUND)
                v = (double)iv;
            /* A NaN would make the SPM merge order depend on heap layout. */
            if (isnan(v))
                return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: score of token %d is NaN", KEY_SCORES,
                                    (int)i);
            tok->score[i] = (float)v;
        }
    }

    st = get_per_token(tok, f, KEY_TYPES, false, "types", &arr, err);
    if (st != QP_OK)
        return st;
    if (arr) {
        for (int32_t i = 0; i < tok->n_vocab; i++) {
            int64_t t = -1;
            qp_gguf_array_get_int(arr, (uint64_t)i, &t);
            if (t < QP_TOKEN_UNDEFINED || t > QP_TOKEN_BYTE)
                return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: token %d has type %lld (expected 0..6)",
                                    KEY_TYPES, (int)i, (long long)t);
            tok->type[i] = (uint8_t)t;
        }
    }

    /* A BYTE token must read <0xHH>: its piece is that byte. */
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        if (tok->type[i] != QP_TOKEN_BYTE)
            continue;
        const char *s = qp_piece_bytes(tok, i);
        if (tok->piece_len[i] != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' ||
            !isxdigit((unsigned char)s[3]) || !isxdigit((unsigned char)s[4]))
            return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: token %d has type BYTE but its text is not <0xHH>",
                                KEY_TYPES, (int)i);
    }
    return QP_OK;
}

/* llama.cpp marks a few end-of-turn tokens CONTROL by their text when a
 * converter forgot to (llama-vocab.cpp, "auto-detect special tokens"), which
 * decides whether they are matched without parse_special. */
static void force_control_by_text(qp_tokenizer *tok)
{
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "<|eom_id|>",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = qp_token_find(tok, names[i], strlen(names[i]));
        if (id >= 0 && tok->type[id] != QP_TOKEN_CONTROL)
            tok->type[id] = QP_TOKEN_CONTROL;
    }
}

/* A node of the special-token trie (qp_tokenizer.trie): children are a
 * linked list of siblings. */
struct qp_special_node {
    int32_t first_child, next_sibling; /* -1: none */
    int32_t special;                   /* index in qp_tokenizer.special ending here, -1 */
    unsigned char byte;                /* the byte leading here from the parent */
};

/* Sort key of a special token: longest first ("<|im_start|>" before "<"),
 * then by id, so the order never depends on the sort algorithm. */
typedef struct qp_special_key {
    uint32_t len;
    int32_t id;
} qp_special_key;

static int cmp_special(const void *a, const void *b)
{
    const qp_special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The special tokens (CONTROL, USER_DEFINED, UNKNOWN: llama.cpp's
 * cache_special_tokens), sorted for the partition, and their trie. */
static qp_status build_special(qp_tokenizer *tok, const qp_gguf_file *f, qp_error *err)
{
    int32_t n = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        uint8_t t = tok->type[i];
        n += t == QP_TOKEN_CONTROL || t == QP_TOKEN_USER_DEFINED || t == QP_TOKEN_UNKNOWN;
    }
    tok->n_special = n;
    tok->special = malloc(((size_t)n + 1) * sizeof *tok->special);
    if (!tok->special)
        return oom(f, err);
    qp_special_key *keys = malloc(((size_t)n + 1) * sizeof *keys);
    if (!keys)
        return oom(f, err);
    n = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        uint8_t t = tok->type[i];
        if (t == QP_TOKEN_CONTROL || t == QP_TOKEN_USER_DEFINED || t == QP_TOKEN_UNKNOWN)
            keys[n++] = (qp_special_key){tok->piece_len[i], i};
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    for (int32_t k = 0; k < n; k++)
        tok->special[k] = keys[k].id;
    free(keys);

    /* The trie: at most one node per byte of special-token text, plus the root. */
    size_t total = 1;
    for (int32_t k = 0; k < n; k++)
        total += tok->piece_len[tok->special[k]];
    if (total > INT32_MAX)
        return qp_error_set(err, QP_ERR_INPUT, qp_gguf_name(f), -1, "%s: special tokens too long", KEY_TOKENS);
    tok->trie = malloc(total * sizeof *tok->trie);
    if (!tok->trie)
        return oom(f, err);
    tok->trie[0] = (qp_special_node){-1, -1, -1, 0};
    tok->n_trie = 1;
    for (int b = 0; b < 256; b++)
        tok->root_child[b] = -1;
    for (int32_t k = 0; k < n; k++) {
        const unsigned char *t = (const unsigned char *)qp_piece_bytes(tok, tok->special[k]);
        uint32_t len = tok->piece_len[tok->special[k]];
        int32_t node = 0;
        for (uint32_t i = 0; i < len; i++) {
            int32_t c = node == 0 ? tok->root_child[t[i]] : tok->trie[node].first_child;
            if (node != 0)
                while (c >= 0 && tok->trie[c].byte != t[i])
                    c = tok->trie[c].next_sibling;
            if (c < 0) {
                c = tok->n_trie++;
                tok->trie[c] = (qp_special_node){-1, tok->trie[node].first_child, -1, t[i]};
                tok->trie[node].first_child = c;
                if (node == 0)
                    tok->root_child[t[i]] = c;
            }
            node = c;
        }
        tok->trie[node].special = k; /* texts are unique: one token per node */
    }
    return QP_OK;
}

qp_status qp_tokenizer_load(const qp_gguf_file *f, qp_tokenizer **out, qp_error *err)
{
    *out = NULL;
    if (!f)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no GGUF file given to the tokenizer");
    const char *name = qp_gguf_name(f);

    qp_gguf_string model;
    qp_gguf_get_status gs = qp_gguf_get_str(f, KEY_MODEL, &model);
    if (gs != QP_GGUF_FOUND)
        return qp_vocab_key_error(f, KEY_MODEL, gs, "a string", "no tokenizer in this file", err);

    qp_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return oom(f, err);
    qp_status st = QP_OK;
    /* Defaults first, by model (and for gpt2 by pre-tokenizer name), then
     * every explicit key overrides them: the order llama.cpp applies. */
    bool add_bos_default = false;

    if (strcmp(model.data, "llama") == 0 && model.len == 5) {
        /* llama.cpp's SPM defaults: <unk>=0, <s>=1, </s>=2, BOS added. */
        tok->model = QP_TOKENIZER_SPM;
        tok->add_space_prefix = true;
        add_bos_default = true;
    } else if (strcmp(model.data, "gpt2") == 0 && model.len == 4) {
        tok->model = QP_TOKENIZER_BPE;
        qp_gguf_string pre = {"default", 7};
        /* llama.cpp: missing means "default" */
        gs = qp_gguf_get_str(f, KEY_PRE, &pre);
        if (gs != QP_GGUF_FOUND && gs != QP_GGUF_NOT_FOUND) {
            st = qp_vocab_key_error(f, KEY_PRE, gs, "a string", NULL, err);
            goto fail;
        }
        if (pre.len >= sizeof tok->pre_name || strlen(pre.data) != pre.len ||
            !qp_bpe_pre_from_name(pre.data, &tok->pre, &tok->ignore_merges, &add_bos_default)) {
            st = qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: unsupported pre-tokenizer '%.40s'", KEY_PRE,
                              pre.data);
            goto fail;
        }
        memcpy(tok->pre_name, pre.data, (size_t)pre.len + 1);
    } else {
        st = qp_error_set(err, QP_ERR_INPUT, name, -1,
                          "%s: unsupported tokenizer model '%.40s' (supported: llama, gpt2)", KEY_MODEL,
                          model.data);
        goto fail;
    }

    /* Tokens before anything that refers to them by id or by text. */
    if ((st = load_tokens(tok, f, err)) != QP_OK)
        goto fail;
    if ((st = load_scores_types(tok, f, err)) != QP_OK)
        goto fail;
    if (tok->model == QP_TOKENIZER_BPE && (st = qp_bpe_load(tok, f, err)) != QP_OK)
        goto fail;
    if ((st = get_opt_bool(f, KEY_ADD_SPACE, &tok->add_space_prefix, err)) != QP_OK)
        goto fail;

    /* Default ids (llama.cpp uses them only when they fit the vocabulary). */
    tok->bos = tok->eos = tok->unk = tok->pad = -1;
    if (tok->model == QP_TOKENIZER_SPM) {
        tok->unk = tok->n_vocab > 0 ? 0 : -1;
        tok->bos = tok->n_vocab > 1 ? 1 : -1;
        tok->eos = tok->n_vocab > 2 ? 2 : -1;
    }
    if ((st = get_opt_id(f, KEY_BOS, tok->n_vocab, &tok->bos, err)) != QP_OK ||
        (st = get_opt_id(f, KEY_EOS, tok->n_vocab, &tok->eos, err)) != QP_OK ||
        (st = get_opt_id(f, KEY_UNK, tok->n_vocab, &tok->unk, err)) != QP_OK ||
        (st = get_opt_id(f, KEY_PAD, tok->n_vocab, &tok->pad, err)) != QP_OK)
        goto fail;
    tok->add_bos = add_bos_default;
    tok->add_eos = false;
    if ((st = get_opt_bool(f, KEY_ADD_BOS, &tok->add_bos, err)) != QP_OK ||
        (st = get_opt_bool(f, KEY_ADD_EOS, &tok->add_eos, err)) != QP_OK)
        goto fail;
    if (tok->add_bos && tok->bos < 0) {
        st = qp_error_set(err, QP_ERR_INPUT, name, -1, "%s is true but %s is not set", KEY_ADD_BOS, KEY_BOS);
        goto fail;
    }
    if (tok->add_eos && tok->eos < 0) {
        st = qp_error_set(err, QP_ERR_INPUT, name, -1, "%s is true but %s is not set", KEY_ADD_EOS, KEY_EOS);
        goto fail;
    }

    /* SPM byte fallback: <0xXX>, else a token that is that single byte
     * (llama.cpp's byte_to_token), else none (then <unk> is used). */
    for (int b = 0; b < 256; b++) {
        char hex[7];
        snprintf(hex, sizeof hex, "<0x%02X>", (unsigned)b);
        int32_t id = qp_token_find(tok, hex, 6);
        if (id < 0) {
            char one = (char)b;
            id = qp_token_find(tok, &one, 1);
        }
        tok->byte_token[b] = id;
    }

    if (tok->model == QP_TOKENIZER_SPM)
        tok->spm_split_words = qp_spm_can_split_words(tok);
    force_control_by_text(tok);
    if ((st = build_special(tok, f, err)) != QP_OK)
        goto fail;
    *out = tok;
    return QP_OK;

fail:
    qp_tokenizer_free(tok);
    return st;
}

/* ==== special-token partition ============================================ */

/* A stretch of the input: raw text, or one special token found in it. */
typedef struct qp_frag {
    int32_t token; /* -1: raw text[off .. off + len) */
    size_t off, len;
} qp_frag;

typedef struct qp_frag_vec {
    qp_frag *v;
    size_t n, cap;
} qp_frag_vec;

static bool frag_push(qp_frag_vec *fv, int32_t token, size_t off, size_t len)
{
    if (fv->n == fv->cap && !qp_grow(&fv->v, &fv->cap, fv->n + 1, sizeof *fv->v))
        return false;
    fv->v[fv->n++] = (qp_frag){token, off, len};
    return true;
}

static bool special_eligible(const qp_tokenizer *tok, int32_t id, bool parse_special)
{
    /* USER_DEFINED tokens are always cut out (Hugging Face's "added
     * tokens"); CONTROL and UNKNOWN only when the caller asks. */
    return parse_special || tok->type[id] == QP_TOKEN_USER_DEFINED;
}

/* Splits text into raw stretches and special tokens, as llama.cpp's
 * tokenizer_st_partition: tokens are taken longest first, each claiming
 * every occurrence left in the raw stretches, scanning left to right.
 * A first pass walks the trie from every position to find which tokens
 * occur at all, so the splitting scans run only for those (the LLaMA 3
 * vocabulary has 256 CONTROL tokens, all starting "<|"). */
static bool partition(const qp_tokenizer *tok, const char *text, size_t len, bool parse_special,
                      qp_frag_vec *out)
{
    out->n = 0;
    if (!frag_push(out, -1, 0, len))
        return false;
    if (tok->n_special == 0)
        return true;
    bool *present = calloc((size_t)tok->n_special, sizeof *present);
    if (!present)
        return false;
    int32_t n_eligible = 0, n_found = 0;
    for (int32_t k = 0; k < tok->n_special; k++)
        n_eligible += special_eligible(tok, tok->special[k], parse_special);
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len && n_found < n_eligible; i++) {
        for (int32_t node = tok->root_child[u[i]], j = 0; node >= 0;) {
            int32_t k = tok->trie[node].special;
            if (k >= 0 && !present[k] && special_eligible(tok, tok->special[k], parse_special)) {
                present[k] = true;
                n_found++;
            }
            if (i + (size_t)++j >= len)
                break;
            node = tok->trie[node].first_child;
            while (node >= 0 && tok->trie[node].byte != u[i + (size_t)j])
                node = tok->trie[node].next_sibling;
        }
    }

    qp_frag_vec next = {0};
    bool ok = true;
    for (int32_t k = 0; k < tok->n_special && ok && n_found > 0; k++) {
        if (!present[k])
            continue;
        int32_t id = tok->special[k];
        const char *t = qp_piece_bytes(tok, id);
        size_t tl = tok->piece_len[id];
        next.n = 0;
        for (size_t j = 0; j < out->n && ok; j++) {
            qp_frag fr = out->v[j];
            if (fr.token >= 0) {
                ok = frag_push(&next, fr.token, fr.off, fr.len);
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            while (ok) {
                const char *hit = memmem(text + pos, end - pos, t, tl);
                if (!hit) {
                    if (end > pos)
                        ok = frag_push(&next, -1, pos, end - pos);
                    break;
                }
                size_t m = (size_t)(hit - text);
                if (m > pos)
                    ok = frag_push(&next, -1, pos, m - pos);
                ok = ok && frag_push(&next, id, m, tl);
                pos = m + tl;
            }
        }
        qp_frag_vec swap = *out;
        *out = next;
        next = swap;
    }
    free(next.v);
    free(present);
    return ok;
}

/* ==== tokenize =========================================================== */

int qp_tokenize(const qp_tokenizer *tok, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *ids, int max_ids)
{
    if (!tok || (!text && len > 0))
        return -1;
    /* All working memory is per call (no state in tok): concurrent calls on
     * one tokenizer are safe. */
    qp_id_vec out = {0};
    qp_frag_vec frags = {0};
    char *buf = NULL;
    qp_bpe_scratch *scratch = NULL;
    int ret = -1;

    if (add_special && tok->add_bos)
        qp_id_vec_push(&out, tok->bos);
    /* Empty text has no fragment at all: no space prefix either, so ""
     * gives [] (or [BOS]), as SentencePiece does. */
    if (len > 0 && !partition(tok, text, len, parse_special, &frags))
        goto done;

    if (tok->model == QP_TOKENIZER_SPM) {
        /* Each raw stretch that starts the text or follows a special token
         * gets the space prefix; then every ' ' becomes U+2581 ("▁", 3 bytes). */
        bool prev_special = true;
        size_t cap = 0;
        for (size_t j = 0; j < frags.n && !out.oom; j++) {
            const qp_frag *fr = &frags.v[j];
            if (fr->token >= 0) {
                qp_id_vec_push(&out, fr->token);
                prev_special = true;
                continue;
            }
            if (!qp_grow(&buf, &cap, 3 * (fr->len + 1), 1))
                goto done;
            size_t n = 0;
            if (tok->add_space_prefix && prev_special) {
                memcpy(buf, "\xE2\x96\x81", 3);
                n = 3;
            }
            for (size_t i = 0; i < fr->len; i++) {
                char c = text[fr->off + i];
                if (c == ' ') {
                    memcpy(buf + n, "\xE2\x96\x81", 3);
                    n += 3;
                } else {
                    buf[n++] = c;
                }
            }
            qp_spm_encode(tok, buf, n, &out);
            prev_special = false;
        }
    } else {
        scratch = qp_bpe_scratch_new();
        if (!scratch)
            goto done;
        for (size_t j = 0; j < frags.n && !out.oom; j++) {
            const qp_frag *fr = &frags.v[j];
            if (fr->token >= 0)
                qp_id_vec_push(&out, fr->token);
            else
                qp_bpe_encode(tok, scratch, text + fr->off, fr->len, &out);
        }
    }
    if (add_special && tok->add_eos)
        qp_id_vec_push(&out, tok->eos);

    if (!out.oom && out.n <= INT_MAX) {
        size_t k = max_ids > 0 ? (size_t)max_ids : 0;
        if (k > out.n)
            k = out.n;
        if (k > 0)
            memcpy(ids, out.v, k * sizeof *ids);
        ret = (int)out.n;
    }
done:
    qp_bpe_scratch_free(scratch);
    free(buf);
    free(frags.v);
    free(out.v);
    return ret;
}

/* ==== ids -> text ======================================================== */

/* Bytes go to buf while they fit (keeping one byte for the NUL), and are
 * counted regardless, so the caller learns the size it needs. `strip`
 * drops the next byte if it is a space (see qp_detokenize). */
typedef struct qp_sink {
    char *buf;
    size_t size, n;
    bool strip;
} qp_sink;

static void sink_put(qp_sink *s, const char *p, size_t k)
{
    if (k == 0)
        return;
    if (s->strip) {
        s->strip = false;
        if (p[0] == ' ') {
            p++;
            k--;
        }
    }
    if (s->n < s->size) {
        size_t room = s->size - 1 - s->n;
        memcpy(s->buf + s->n, p, k < room ? k : room);
    }
    s->n += k;
}

static int sink_finish(qp_sink *s)
{
    if (s->size > 0)
        s->buf[s->n < s->size ? s->n : s->size - 1] = '\0';
    return s->n > INT_MAX ? -1 : (int)s->n;
}

/* The byte a BYTE token's text "<0xHH>" names (format checked at load). */
static char byte_token_value(const char *t)
{
    int hi = isdigit((unsigned char)t[3]) ? t[3] - '0' : (tolower((unsigned char)t[3]) - 'a' + 10);
    int lo = isdigit((unsigned char)t[4]) ? t[4] - '0' : (tolower((unsigned char)t[4]) - 'a' + 10);
    return (char)(hi * 16 + lo);
}

static void put_piece(const qp_tokenizer *tok, int32_t id, bool special, qp_sink *s)
{
    const char *t = qp_piece_bytes(tok, id);
    size_t n = tok->piece_len[id];
    switch (tok->type[id]) {
    case QP_TOKEN_CONTROL:
    case QP_TOKEN_UNKNOWN:
        if (special)
            sink_put(s, t, n);
        return;
    case QP_TOKEN_USER_DEFINED:
        sink_put(s, t, n);
        return;
    case QP_TOKEN_BYTE: {
        char b = byte_token_value(t);
        sink_put(s, &b, 1);
        return;
    }
    case QP_TOKEN_NORMAL:
        break;
    default: /* UNDEFINED, UNUSED: no text, as in llama.cpp */
        return;
    }
    if (tok->model == QP_TOKENIZER_SPM) {
        /* "▁" (E2 96 81) stands for a space. */
        size_t i = 0, run = 0;
        while (i < n) {
            if (i + 3 <= n && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
                sink_put(s, t + run, i - run);
                sink_put(s, " ", 1);
                i += 3;
                run = i;
            } else {
                i++;
            }
        }
        sink_put(s, t + run, n - run);
        return;
    }
    /* Byte-level BPE: each code point of the token stands for one byte. A
     * code point outside GPT-2's 256 (a hand-added token) is kept as is. */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = qp_utf8_decode((const unsigned char *)t + i, n - i, &cp);
        int b = qp_gpt2_cp_byte(cp); /* -1 also for U+FFFD from invalid UTF-8 */
        if (b >= 0) {
            char c = (char)b;
            sink_put(s, &c, 1);
        } else {
            sink_put(s, t + i, k);
        }
        i += k;
    }
}

/* Pieces are computed from the token text on each call rather than cached
 * (llama.cpp caches them): decoding is a few byte operations per token and
 * the cache would cost as much memory as the vocabulary. */
int qp_token_to_piece(const qp_tokenizer *tok, int32_t id, bool special, char *buf, int size)
{
    if (!tok || id < 0 || id >= tok->n_vocab)
        return -1;
    qp_sink s = {buf, size > 0 && buf ? (size_t)size : 0, 0, false};
    put_piece(tok, id, special, &s);
    return sink_finish(&s);
}

int qp_detokenize(const qp_tokenizer *tok, const int32_t *ids, int n, bool special, char *buf, int size)
{
    if (!tok || n < 0 || (n > 0 && !ids))
        return -1;
    bool prefix = tok->add_space_prefix && tok->model == QP_TOKENIZER_SPM;
    qp_sink s = {buf, size > 0 && buf ? (size_t)size : 0, 0, prefix};
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab)
            return -1;
        uint8_t t = tok->type[id];
        if (t == QP_TOKEN_CONTROL || t == QP_TOKEN_UNKNOWN || t == QP_TOKEN_USER_DEFINED) {
            /* Tokenizing put a space prefix on the text after a special
             * token: take it away again. */
            s.strip = false;
            put_piece(tok, id, special, &s);
            s.strip = prefix;
            continue;
        }
        put_piece(tok, id, special, &s);
    }
    return sink_finish(&s);
}

/* ==== facts ============================================================== */

qp_tokenizer_model qp_tokenizer_model_of(const qp_tokenizer *tok) { return tok->model; }
const char *qp_tokenizer_pre(const qp_tokenizer *tok) { return tok->pre_name; }
int32_t qp_tokenizer_n_vocab(const qp_tokenizer *tok) { return tok->n_vocab; }
int32_t qp_tokenizer_n_merges(const qp_tokenizer *tok) { return tok->n_merges; }
int32_t qp_tokenizer_bos(const qp_tokenizer *tok) { return tok->bos; }
int32_t qp_tokenizer_eos(const qp_tokenizer *tok) { return tok->eos; }
int32_t qp_tokenizer_unk(const qp_tokenizer *tok) { return tok->unk; }
int32_t qp_tokenizer_pad(const qp_tokenizer *tok) { return tok->pad; }
bool qp_tokenizer_add_bos(const qp_tokenizer *tok) { return tok->add_bos; }
bool qp_tokenizer_add_eos(const qp_tokenizer *tok) { return tok->add_eos; }

const char *qp_token_text(const qp_tokenizer *tok, int32_t id, size_t *len)
{
    if (id < 0 || id >= tok->n_vocab)
        return NULL;
    if (len)
        *len = tok->piece_len[id];
    return qp_piece_bytes(tok, id);
}

float qp_token_score(const qp_tokenizer *tok, int32_t id)
{
    return (id >= 0 && id < tok->n_vocab) ? tok->score[id] : 0.0f;
}

qp_token_type qp_token_get_type(const qp_tokenizer *tok, int32_t id)
{
    return (id >= 0 && id < tok->n_vocab) ? (qp_token_type)tok->type[id] : QP_TOKEN_UNDEFINED;
}

int32_t qp_token_lookup(const qp_tokenizer *tok, const char *text, size_t len)
{
    return text ? qp_token_find(tok, text, len) : -1;
}
