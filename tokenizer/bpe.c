/* tokenizer/bpe.c - byte-level BPE (tokenizer.ggml.model = "gpt2"):
 * the pre-tokenizers that cut text into words, and the merge loop.
 *
 * Pre-tokenizers. llama.cpp (src/llama-vocab.cpp, src/unicode.cpp) splits
 * text with a list of regexes applied one after the other: each regex
 * splits every piece so far into its matches and the gaps between them
 * (leftmost match first, alternatives tried in order). The regexes per
 * tokenizer.ggml.pre name are facts taken from there; the matchers below
 * are hand-written, one function per regex, each answering "how many code
 * points does the regex match at position p" (0: none), which a generic
 * splitter turns into pieces. No regex engine, linear time.
 *
 *   default   [\p{P}\$\+<=>\^~\|]+  then GPT2  then \p{N}+  then [0-9][0-9][0-9]
 *   gpt-2     GPT2 = 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama-bpe LLAMA3 = (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *                      | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2     LLAMA3 with \p{N} (single digits) for \p{N}{1,3}
 *   smollm    \p{N}  then GPT2
 *
 * \s is the White_Space property, \p{L}/\p{N}/\p{P} the general categories
 * (tokenizer/unicode.h). Text that is not valid UTF-8 is classified as
 * llama.cpp does (each bad byte is one U+FFFD, a "symbol"), but the bytes
 * themselves are kept, so every byte survives into the tokens.
 *
 * BPE. Each word's bytes become GPT-2's printable code points (one symbol
 * per byte); then the adjacent pair of symbols with the lowest merge rank
 * is joined, repeatedly (ties: the leftmost pair), with the heap of candidate
 * pairs both merge loops share (qp_pair_heap, vocab.h), as llama.cpp's
 * llm_tokenizer_bpe_session. Symbols carry piece ids (vocab.h), so a merge
 * is a hash lookup on two integers. Symbols left that are no token fall
 * back to single-byte tokens.
 */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "vocab.h"

/* ==== GPT-2 byte <-> code point ========================================= */

/* Printable bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for themselves; the other
 * 68 (0x00-0x20, 0x7F-0xA0, 0xAD) become U+0100.. in byte order. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t qp_gpt2_byte_cp(unsigned b)
{
    b &= 0xFF;
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;              /* 33 of them: U+0100..U+0120 */
    if (b >= 0x7F && b <= 0xA0)
        return 0x100 + 33 + (b - 0x7F); /* 34 of them: U+0121..U+0142 */
    return 0x143;                      /* 0xAD, soft hyphen */
}

int qp_gpt2_cp_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp <= 0x142)
        return (int)(cp - 0x121 + 0x7F);
    return cp == 0x143 ? 0xAD : -1;
}

/* Writes byte b's code point as UTF-8 (1 or 2 bytes); returns the length. */
static size_t byte_encode(unsigned b, char out[2])
{
    unsigned char u[4];
    size_t n = qp_utf8_encode(qp_gpt2_byte_cp(b), u);
    memcpy(out, u, n);
    return n;
}

/* ==== pre-tokenizer names ================================================ */

bool qp_bpe_pre_from_name(const char *name, qp_pre_kind *kind, bool *ignore_merges,
                          bool *add_bos_default)
{
    /* Names and their regex families as in llama.cpp's llama_vocab::load. */
    static const struct {
        const char *name;
        qp_pre_kind kind;
        bool ignore_merges, add_bos;
    } table[] = {
        {"default", QP_PRE_DEFAULT, false, false},
        {"llama3", QP_PRE_LLAMA3, true, true},
        {"llama-v3", QP_PRE_LLAMA3, true, true},
        {"llama-bpe", QP_PRE_LLAMA3, true, true},
        {"falcon3", QP_PRE_LLAMA3, true, true},
        {"pixtral", QP_PRE_LLAMA3, true, true},
        {"dbrx", QP_PRE_LLAMA3, false, false},
        {"smaug-bpe", QP_PRE_LLAMA3, false, false},
        {"gpt-2", QP_PRE_GPT2, false, false},
        {"phi-2", QP_PRE_GPT2, false, false},
        {"mpt", QP_PRE_GPT2, false, false},
        {"olmo", QP_PRE_GPT2, false, false},
        {"jina-es", QP_PRE_GPT2, false, false},
        {"jina-de", QP_PRE_GPT2, false, false},
        {"qwen2", QP_PRE_QWEN2, false, false},
        {"deepseek-r1-qwen", QP_PRE_QWEN2, false, false},
        {"megrez", QP_PRE_QWEN2, false, false},
        {"stablelm2", QP_PRE_QWEN2, false, false},
        {"smollm", QP_PRE_SMOLLM, false, false},
        {"starcoder", QP_PRE_SMOLLM, false, false},
        {"refact", QP_PRE_SMOLLM, false, false},
        {"command-r", QP_PRE_SMOLLM, false, false},
        {"codeshell", QP_PRE_SMOLLM, false, false},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            *kind = table[i].kind;
            *ignore_merges = table[i].ignore_merges;
            *add_bos_default = table[i].add_bos;
            return true;
        }
    }
    return false;
}

/* ==== merges ============================================================= */

/* One BPE merge rule, found by the pair of piece ids it joins: a slot of
 * the open-addressing table qp_tokenizer.merges. */
struct qp_merge_slot {
    uint64_t key;   /* ((left + 1) << 32) | (right + 1); 0 = empty slot */
    int32_t rank;   /* index in tokenizer.ggml.merges: lower merges first */
    int32_t result; /* piece id of left's text followed by right's */
};

static uint64_t merge_key(int32_t left, int32_t right)
{
    return ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
}

static size_t merge_slot_of(uint64_t key, size_t mask)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: mixes both halves */
    return (size_t)(h >> 32 ^ h) & mask;
}

static const qp_merge_slot *merge_find(const qp_tokenizer *tok, int32_t left, int32_t right)
{
    if (left < 0 || right < 0 || !tok->merges)
        return NULL;
    uint64_t key = merge_key(left, right);
    for (size_t i = merge_slot_of(key, tok->merge_mask);; i = (i + 1) & tok->merge_mask) {
        const qp_merge_slot *s = &tok->merges[i];
        if (s->key == key)
            return s;
        if (s->key == 0)
            return NULL;
    }
}

/* Looks up s[0..n) as a piece, adding it when new. -1: out of memory. */
static int32_t piece_get(qp_tokenizer *tok, const char *s, size_t n)
{
    int32_t id = qp_piece_find(tok, s, n);
    return id >= 0 ? id : qp_piece_add(tok, s, n);
}

qp_status qp_bpe_load(qp_tokenizer *tok, const qp_gguf_file *f, qp_error *err)
{
    static const char key[] = "tokenizer.ggml.merges";
    const char *name = qp_gguf_name(f);
    const qp_gguf_array *arr;
    qp_status st = qp_vocab_get_strings(f, key, "a gpt2 tokenizer needs its merges", &arr, err);
    if (st != QP_OK)
        return st;
    if (arr->count > (1u << 30))
        return qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: %llu merges (limit 2^30)", key,
                            (unsigned long long)arr->count);
    size_t cap = 16;
    while (cap < 2 * arr->count)
        cap *= 2;
    tok->merges = calloc(cap, sizeof *tok->merges);
    if (!tok->merges)
        return qp_error_set(err, QP_ERR_RUNTIME, name, -1, "out of memory loading %s", key);
    tok->merge_mask = cap - 1;
    tok->n_merges = (int32_t)arr->count;

    char *joined = NULL; /* left + right, the merge's result */
    size_t joined_cap = 0;
    for (uint64_t i = 0; i < arr->count && st == QP_OK; i++) {
        const char *s = arr->strs[i].data;
        size_t len = (size_t)arr->strs[i].len;
        /* "left right": split at the first space after the first byte (a
         * byte-level vocabulary has no spaces in tokens; llama.cpp too
         * searches from index 1). */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || sp + 1 == s + len) {
            st = qp_error_set(err, QP_ERR_INPUT, name, -1, "%s: merge %llu ('%.40s') is not \"left right\"", key,
                              (unsigned long long)i, s);
            break;
        }
        size_t nl = (size_t)(sp - s), nr = len - nl - 1;
        if (!qp_grow(&joined, &joined_cap, nl + nr, 1)) {
            st = QP_ERR_RUNTIME;
            break;
        }
        memcpy(joined, s, nl);
        memcpy(joined + nl, sp + 1, nr);
        int32_t left = piece_get(tok, s, nl);
        int32_t right = left < 0 ? -1 : piece_get(tok, sp + 1, nr);
        int32_t result = right < 0 ? -1 : piece_get(tok, joined, nl + nr);
        if (result < 0) {
            st = QP_ERR_RUNTIME;
            break;
        }
        /* A repeated pair keeps its first (best) rank, as llama.cpp's
         * map emplace does. */
        uint64_t k = merge_key(left, right);
        size_t j = merge_slot_of(k, tok->merge_mask);
        while (tok->merges[j].key != 0 && tok->merges[j].key != k)
            j = (j + 1) & tok->merge_mask;
        if (tok->merges[j].key == 0)
            tok->merges[j] = (qp_merge_slot){k, (int32_t)i, result};
    }
    free(joined);
    if (st == QP_ERR_RUNTIME)
        return qp_error_set(err, QP_ERR_RUNTIME, name, -1, "out of memory loading %s", key);
    if (st != QP_OK)
        return st;

    /* Initial symbols: the piece of each byte's code point (after the
     * merges, which may have added it as a non-token piece). */
    for (unsigned b = 0; b < 256; b++) {
        char enc[2];
        size_t n = byte_encode(b, enc);
        tok->byte_piece[b] = qp_piece_find(tok, enc, n);
        char one = (char)b;
        tok->single_byte[b] = qp_token_find(tok, &one, 1);
    }
    return QP_OK;
}

/* ==== per-call scratch =================================================== */

typedef struct seg_vec {
    uint32_t *v; /* pairs: start, end (code point indices) */
    size_t n, cap; /* in pairs */
} seg_vec;

typedef struct bpe_sym {
    int32_t piece;     /* -1: a byte whose code point is no piece */
    uint32_t start, n; /* bytes word[start .. start + n); n == 0: merged away */
    int32_t prev, next;
} bpe_sym;

struct qp_bpe_scratch {
    uint32_t *cp;  /* [cap_cp] code points of the fragment */
    uint8_t *fl;   /* [cap_cp] QP_UCF_* flags */
    uint32_t *off; /* [cap_cp + 1] byte offset of each code point, then the end */
    size_t cap_cp;
    seg_vec seg[2];
    bpe_sym *sym;
    size_t cap_sym;
    qp_pair_heap heap; /* candidate merges of the current word */
    char *enc; /* a word in GPT-2 code points, 2 bytes per byte at most */
    size_t cap_enc;
    bool oom;
};

qp_bpe_scratch *qp_bpe_scratch_new(void)
{
    return calloc(1, sizeof(qp_bpe_scratch));
}

void qp_bpe_scratch_free(qp_bpe_scratch *s)
{
    if (!s)
        return;
    free(s->cp);
    free(s->fl);
    free(s->off);
    free(s->seg[0].v);
    free(s->seg[1].v);
    free(s->sym);
    qp_pair_heap_free(&s->heap);
    free(s->enc);
    free(s);
}

static bool seg_push(seg_vec *sv, uint32_t start, uint32_t end)
{
    if (sv->n == sv->cap && !qp_grow(&sv->v, &sv->cap, sv->n + 1, 2 * sizeof *sv->v))
        return false;
    sv->v[2 * sv->n] = start;
    sv->v[2 * sv->n + 1] = end;
    sv->n++;
    return true;
}

/* ==== the regexes ======================================================== */

/* Every matcher sees code points cp[], flags fl[], a position p < e and the
 * end e of the piece it splits (beyond e is "nothing", as for the regex),
 * and returns how many code points match at p (0 = no match). */
typedef uint32_t (*match_fn)(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e);

#define IS_L(i) ((i) < e && (fl[i] & QP_UCF_LETTER))
#define IS_N(i) ((i) < e && (fl[i] & QP_UCF_NUMBER))
#define IS_S(i) ((i) < e && (fl[i] & QP_UCF_SPACE))
/* [^\s\p{L}\p{N}] */
#define IS_O(i) ((i) < e && !(fl[i] & (QP_UCF_SPACE | QP_UCF_LETTER | QP_UCF_NUMBER)))
#define IS_NL(i) ((i) < e && (cp[i] == '\r' || cp[i] == '\n'))

static uint32_t ascii_lower(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when `fold` ((?i:...) in
 * LLAMA3; the [sS] spelling in llama.cpp means ASCII folding only). */
static uint32_t match_contraction(const uint32_t *cp, uint32_t p, uint32_t e, bool fold)
{
    if (cp[p] != '\'' || p + 1 >= e)
        return 0;
    uint32_t c1 = fold ? ascii_lower(cp[p + 1]) : cp[p + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (p + 2 >= e)
        return 0;
    uint32_t c2 = fold ? ascii_lower(cp[p + 2]) : cp[p + 2];
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S)|\s+ : a run of w spaces; if a non-space follows, leave the
 * last space to prefix the next word (" ?\p{L}+" takes it). */
static uint32_t match_spaces(const uint8_t *fl, uint32_t p, uint32_t e)
{
    uint32_t w = 0;
    while (IS_S(p + w))
        w++;
    if (w > 1 && p + w < e)
        return w - 1;
    return w;
}

/* GPT2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static uint32_t match_gpt2(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    uint32_t k = match_contraction(cp, p, e, false);
    if (k)
        return k;
    uint32_t q = cp[p] == ' ' ? p + 1 : p; /* the optional leading space */
    if (IS_L(q)) {
        while (IS_L(q))
            q++;
        return q - p;
    }
    if (IS_N(q)) {
        while (IS_N(q))
            q++;
        return q - p;
    }
    if (IS_O(q)) {
        while (IS_O(q))
            q++;
        return q - p;
    }
    k = match_spaces(fl, p, e);
    return k ? k : 1; /* every code point is matched by one branch */
}

/* LLAMA3 (max_digits 3) and QWEN2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static uint32_t match_llama3_like(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e,
                                  uint32_t max_digits)
{
    uint32_t k = match_contraction(cp, p, e, true);
    if (k)
        return k;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ : one non-letter (space, punctuation, ...)
     * may lead a run of letters. */
    if (!IS_NL(p) && !IS_N(p) && (IS_L(p) || IS_L(p + 1))) {
        uint32_t q = p + 1;
        while (IS_L(q))
            q++;
        return q - p;
    }
    if (IS_N(p)) {
        uint32_t q = p;
        while (IS_N(q) && q - p < max_digits)
            q++;
        return q - p;
    }
    uint32_t q = cp[p] == ' ' ? p + 1 : p;
    if (IS_O(q)) {
        while (IS_O(q))
            q++;
        while (IS_NL(q))
            q++;
        return q - p;
    }
    /* \s*[\r\n]+ : spaces up to and including the last newline of the run. */
    uint32_t w = 0, after_nl = 0;
    while (IS_S(p + w)) {
        if (IS_NL(p + w))
            after_nl = w + 1;
        w++;
    }
    if (after_nl)
        return after_nl;
    k = match_spaces(fl, p, e);
    return k ? k : 1;
}

static uint32_t match_llama3(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    return match_llama3_like(cp, fl, p, e, 3);
}

static uint32_t match_qwen2(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    return match_llama3_like(cp, fl, p, e, 1);
}

/* \p{N} */
static uint32_t match_one_number(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    (void)cp;
    return IS_N(p) ? 1 : 0;
}

/* \p{N}+ */
static uint32_t match_numbers(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    (void)cp;
    uint32_t q = p;
    while (IS_N(q))
        q++;
    return q - p;
}

static bool is_default_symbol(uint32_t c)
{
    switch (c) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|':
        return true;
    default:
        return false;
    }
}

/* [\p{P}\$\+<=>\^~\|]+ : punctuation plus the ASCII symbols named. */
static uint32_t match_punct_run(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    uint32_t q = p;
    while (q < e && ((fl[q] & QP_UCF_PUNCT) || is_default_symbol(cp[q])))
        q++;
    return q - p;
}

/* [0-9][0-9][0-9] */
static uint32_t match_three_digits(const uint32_t *cp, const uint8_t *fl, uint32_t p, uint32_t e)
{
    (void)fl;
    for (uint32_t i = 0; i < 3; i++)
        if (p + i >= e || cp[p + i] < '0' || cp[p + i] > '9')
            return 0;
    return 3;
}

/* Splits every piece of `in` into matches and the gaps between them. */
static bool split(const uint32_t *cp, const uint8_t *fl, const seg_vec *in, seg_vec *out, match_fn m)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t s = in->v[2 * i], e = in->v[2 * i + 1], gap = s;
        for (uint32_t p = s; p < e;) {
            uint32_t k = m(cp, fl, p, e);
            if (k == 0) {
                p++;
                continue;
            }
            if (gap < p && !seg_push(out, gap, p))
                return false;
            if (!seg_push(out, p, p + k))
                return false;
            p += k;
            gap = p;
        }
        if (gap < e && !seg_push(out, gap, e))
            return false;
    }
    return true;
}

/* ==== the merge loop ===================================================== */

/* Pushes (left, right) if a merge joins their pieces: priority from the
 * rank (the lowest first), stamps the two pieces. */
static void try_pair(const qp_tokenizer *tok, qp_bpe_scratch *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    int32_t pl = s->sym[left].piece, pr = s->sym[right].piece;
    const qp_merge_slot *m = merge_find(tok, pl, pr);
    if (!m)
        return;
    qp_merge_pair p = {qp_priority_of_rank(m->rank), left, {pl, pr}};
    if (!qp_pair_heap_push(&s->heap, p))
        s->oom = true;
}

/* Appends the ids of one symbol that is no token: each byte of its GPT-2
 * spelling that is a one-byte token (llama.cpp's fallback; in a byte-level
 * vocabulary every single byte code point is a token, so this is rare). */
static void emit_fallback(const qp_tokenizer *tok, const unsigned char *w, uint32_t n, qp_id_vec *out)
{
    for (uint32_t i = 0; i < n; i++) {
        char enc[2];
        size_t k = byte_encode(w[i], enc);
        for (size_t j = 0; j < k; j++) {
            int32_t id = tok->single_byte[(unsigned char)enc[j]];
            if (id >= 0)
                qp_id_vec_push(out, id);
        }
    }
}

static void bpe_word(const qp_tokenizer *tok, qp_bpe_scratch *s, const unsigned char *w, uint32_t n,
                     qp_id_vec *out)
{
    if (tok->ignore_merges) {
        /* LLaMA 3: a word that is a token as a whole is taken as is, even
         * when the merges would split it differently. */
        if (2 * (size_t)n > s->cap_enc && !qp_grow(&s->enc, &s->cap_enc, 2 * (size_t)n, 1)) {
            s->oom = true;
            return;
        }
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++)
            k += byte_encode(w[i], s->enc + k);
        int32_t id = qp_token_find(tok, s->enc, k);
        if (id >= 0) {
            qp_id_vec_push(out, id);
            return;
        }
    }
    if (n > s->cap_sym && !qp_grow(&s->sym, &s->cap_sym, n, sizeof *s->sym)) {
        s->oom = true;
        return;
    }
    bpe_sym *sym = s->sym;
    for (uint32_t i = 0; i < n; i++)
        sym[i] = (bpe_sym){tok->byte_piece[w[i]], i, 1, (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    qp_pair_heap_clear(&s->heap);
    for (uint32_t i = 1; i < n; i++)
        try_pair(tok, s, (int32_t)i - 1, (int32_t)i);

    while (s->heap.n > 0 && !s->oom) {
        qp_merge_pair p = qp_pair_heap_pop(&s->heap);
        bpe_sym *l = &sym[p.left];
        /* Stale: the left side was merged away, or a side has become
         * another piece. A symbol only changes by absorbing its right
         * neighbour (a longer piece), so while the left side's piece is as
         * pushed its next symbol is still the right side. */
        if (l->n == 0 || l->piece != p.stamp[0] || sym[l->next].piece != p.stamp[1])
            continue;
        bpe_sym *r = &sym[l->next];
        l->piece = merge_find(tok, l->piece, r->piece)->result;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        try_pair(tok, s, l->prev, p.left);
        try_pair(tok, s, p.left, l->next);
    }
    if (s->oom)
        return;
    for (int32_t i = 0; i != -1; i = sym[i].next) {
        if (sym[i].piece >= 0 && sym[i].piece < tok->n_vocab)
            qp_id_vec_push(out, sym[i].piece);
        else
            emit_fallback(tok, w + sym[i].start, sym[i].n, out);
    }
}

/* Decodes text into s->cp/fl/off and cuts it into words; returns the word
 * list (code point ranges), or NULL when out of memory. */
static const seg_vec *pre_split(qp_pre_kind kind, qp_bpe_scratch *s, const char *text, size_t len)
{
    if (len >= UINT32_MAX)
        return NULL;
    if (len > s->cap_cp) {
        /* cp, fl and off share one capacity (off has one more entry). */
        size_t cap = s->cap_cp ? s->cap_cp : 256;
        while (cap < len)
            cap *= 2;
        uint32_t *cp = realloc(s->cp, cap * sizeof *cp);
        if (cp)
            s->cp = cp;
        uint8_t *fl = realloc(s->fl, cap);
        if (fl)
            s->fl = fl;
        uint32_t *off = realloc(s->off, (cap + 1) * sizeof *off);
        if (off)
            s->off = off;
        if (!cp || !fl || !off)
            return NULL;
        s->cap_cp = cap;
    }

    const unsigned char *u = (const unsigned char *)text;
    uint32_t n_cp = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = qp_utf8_decode(u + i, len - i, &c);
        s->cp[n_cp] = c;
        s->fl[n_cp] = (uint8_t)qp_uc_flags(c);
        s->off[n_cp] = (uint32_t)i;
        n_cp++;
        i += k;
    }
    s->off[n_cp] = (uint32_t)len;

    /* The regex list of the pre-tokenizer, applied in order. */
    static const match_fn stages_default[] = {match_punct_run, match_gpt2, match_numbers, match_three_digits};
    static const match_fn stages_gpt2[] = {match_gpt2};
    static const match_fn stages_llama3[] = {match_llama3};
    static const match_fn stages_qwen2[] = {match_qwen2};
    static const match_fn stages_smollm[] = {match_one_number, match_gpt2};
    const match_fn *stages;
    size_t n_stages;
    switch (kind) {
    case QP_PRE_GPT2: stages = stages_gpt2; n_stages = 1; break;
    case QP_PRE_LLAMA3: stages = stages_llama3; n_stages = 1; break;
    case QP_PRE_QWEN2: stages = stages_qwen2; n_stages = 1; break;
    case QP_PRE_SMOLLM: stages = stages_smollm; n_stages = 2; break;
    default: stages = stages_default; n_stages = 4; break;
    }
    seg_vec *cur = &s->seg[0], *next = &s->seg[1];
    cur->n = 0;
    if (!seg_push(cur, 0, n_cp))
        return NULL;
    for (size_t k = 0; k < n_stages; k++) {
        if (!split(s->cp, s->fl, cur, next, stages[k]))
            return NULL;
        seg_vec *t = cur;
        cur = next;
        next = t;
    }
    return cur;
}

void qp_bpe_encode(const qp_tokenizer *tok, qp_bpe_scratch *s, const char *text, size_t len,
                   qp_id_vec *out)
{
    if (len == 0 || out->oom)
        return;
    const seg_vec *words = pre_split(tok->pre, s, text, len);
    if (!words) {
        out->oom = true;
        return;
    }
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < words->n && !s->oom && !out->oom; i++) {
        uint32_t b0 = s->off[words->v[2 * i]], b1 = s->off[words->v[2 * i + 1]];
        bpe_word(tok, s, u + b0, b1 - b0, out);
    }
    if (s->oom)
        out->oom = true;
}

int qp_bpe_pre_split(qp_pre_kind kind, const char *text, size_t len, size_t *ends, int max_ends)
{
    qp_bpe_scratch *s = qp_bpe_scratch_new();
    if (!s)
        return -1;
    int n = -1;
    const seg_vec *words = len ? pre_split(kind, s, text, len) : NULL;
    if (len == 0) {
        n = 0;
    } else if (words && words->n <= INT32_MAX) {
        n = (int)words->n;
        for (int i = 0; i < n && i < max_ends; i++)
            ends[i] = s->off[words->v[2 * (size_t)i + 1]];
    }
    qp_bpe_scratch_free(s);
    return n;
}
