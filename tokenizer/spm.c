/* tokenizer/spm.c - SentencePiece-style BPE (tokenizer.ggml.model =
 * "llama"), the algorithm of llama.cpp's llm_tokenizer_spm.
 *
 * The text arrives with spaces already escaped to "▁". It is cut into
 * symbols of one UTF-8 character each (a byte that starts no valid
 * sequence is a symbol of its own, see symbol_len). Then,
 * repeatedly, the adjacent pair whose concatenation is a vocabulary entry
 * with the highest score is merged (ties: the leftmost pair). A max-heap of
 * candidate pairs makes that O(n log n); a popped pair whose symbols have
 * changed since it was pushed is stale and skipped. Symbols left that are no
 * token are spelled out as byte tokens <0xXX>. Text is merged word by word
 * when the vocabulary allows it (see qp_spm_can_split_words).
 *
 * Merging right into left keeps every symbol a contiguous slice of the text,
 * so a pair's string is text[left.start .. left.start + left.n + right.n):
 * the vocabulary lookup needs no copy.
 */
#include "spm.h"

#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "vocab.h"

/* Length of the symbol starting at s[0] (n bytes left): one UTF-8
 * character. llama.cpp takes the length from the lead byte alone
 * (unicode_len_utf8), so on invalid UTF-8 a symbol can swallow the first
 * bytes of an escaped space: "\xE2" + " " becomes E2 | E2 96 | 81 and
 * comes back as "\xE2▁", not "\xE2 ". Here a sequence counts only with
 * its continuation bytes (qp_utf8_decode), and otherwise each byte is a
 * symbol: identical on valid UTF-8, and every text round-trips. */
static size_t symbol_len(const char *s, size_t n)
{
    uint32_t cp;
    return qp_utf8_decode((const unsigned char *)s, n, &cp);
}

typedef struct spm_sym {
    uint32_t start, n; /* text[start .. start + n); n == 0: merged away */
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
} spm_sym;

typedef struct spm_pair {
    float score;   /* of the token the pair would become */
    int32_t left, right;
    uint32_t size; /* left.n + right.n when pushed: detects stale pairs */
} spm_pair;

typedef struct spm_heap {
    spm_pair *v;
    size_t n, cap;
} spm_heap;

/* Heap order: higher score first, then the smaller left index, which is
 * llama.cpp's llm_bigram_spm::comparator turned around. */
static int pair_before(const spm_pair *a, const spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(spm_heap *h, spm_pair p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        spm_pair *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return 0;
}

static spm_pair heap_pop(spm_heap *h)
{
    spm_pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!pair_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

/* Pushes (left, right) if their concatenation is a token. */
static int try_pair(const qp_tokenizer *tok, const char *text, const spm_sym *sym, spm_heap *h,
                    int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    uint32_t size = sym[left].n + sym[right].n;
    int32_t id = qp_token_find(tok, text + sym[left].start, size);
    if (id < 0)
        return 0;
    return heap_push(h, (spm_pair){tok->score[id], left, right, size});
}

/* Word splitting. The merge loop on a whole 1.3 MB fragment keeps a heap
 * of ~10^6 pairs, and its cache misses cost seconds (4.2 s on wikitext's
 * test file). But a merge can only cross the start of a word (a "▁" after
 * another character) if some token contains a character followed by "▁";
 * SentencePiece vocabularies have none (they have runs "▁▁▁▁" only).
 * Then each word merges on its own: pairs never interact across words, so
 * the order of merges inside a word, and the result, are unchanged. */
bool qp_spm_can_split_words(const qp_tokenizer *tok)
{
    /* Segment each token into symbols as the text would be (a token is a
     * run of whole text symbols) and look for a "▁" symbol whose previous
     * symbol is not "▁". */
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const char *t = qp_piece_bytes(tok, id);
        uint32_t n = tok->piece_len[id];
        bool prev_space = true; /* the token's start is no crossing */
        for (uint32_t i = 0; i < n;) {
            uint32_t k = (uint32_t)symbol_len(t + i, n - i);
            bool space = k == 3 && memcmp(t + i, "\xE2\x96\x81", 3) == 0;
            if (space && !prev_space)
                return false;
            prev_space = space;
            i += k;
        }
    }
    return true;
}

static bool sym_is_space(const char *text, const spm_sym *s)
{
    return s->n == 3 && memcmp(text + s->start, "\xE2\x96\x81", 3) == 0;
}

/* Merges the chain of symbols [a, b) (linked among themselves, ends -1)
 * and appends its ids. Returns false when out of memory. */
static bool spm_merge_range(const qp_tokenizer *tok, const char *text, spm_sym *sym, int32_t a,
                            int32_t b, spm_heap *heap, qp_id_vec *out)
{
    heap->n = 0;
    for (int32_t i = a + 1; i < b; i++)
        if (try_pair(tok, text, sym, heap, i - 1, i) != 0)
            return false;

    while (heap->n > 0) {
        spm_pair p = heap_pop(heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        /* Stale: one side was merged away, or grew (then sizes differ). */
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        if (try_pair(tok, text, sym, heap, l->prev, p.left) != 0 ||
            try_pair(tok, text, sym, heap, p.left, l->next) != 0)
            return false;
    }

    for (int32_t i = a; i != -1; i = sym[i].next) {
        const char *s = text + sym[i].start;
        int32_t id = qp_token_find(tok, s, sym[i].n);
        if (id >= 0) {
            qp_id_vec_push(out, id);
            continue;
        }
        /* Byte fallback. A vocabulary without the byte's token gets <unk>
         * (llama.cpp would throw here). */
        for (uint32_t j = 0; j < sym[i].n; j++) {
            int32_t t = tok->byte_token[(unsigned char)s[j]];
            if (t < 0)
                t = tok->unk;
            if (t >= 0)
                qp_id_vec_push(out, t);
        }
    }
    return !out->oom;
}

void qp_spm_encode(const qp_tokenizer *tok, const char *text, size_t len, qp_id_vec *out)
{
    if (len == 0 || out->oom)
        return;
    /* Symbol count <= len; offsets are 32-bit. A longer fragment is
     * refused as out of memory rather than truncated. */
    if (len > UINT32_MAX / 2) {
        out->oom = true;
        return;
    }
    spm_sym *sym = malloc(len * sizeof *sym);
    spm_heap heap = {0};
    if (!sym) {
        out->oom = true;
        return;
    }

    int32_t n_sym = 0;
    for (size_t off = 0; off < len;) {
        size_t n = symbol_len(text + off, len - off);
        sym[n_sym] = (spm_sym){(uint32_t)off, (uint32_t)n, n_sym - 1, n_sym + 1};
        n_sym++;
        off += n;
    }

    /* Words start at a "▁" symbol that follows a non-"▁" symbol. */
    bool ok = true;
    for (int32_t a = 0; a < n_sym && ok;) {
        int32_t b = a + 1;
        if (tok->spm_split_words)
            while (b < n_sym && !(sym_is_space(text, &sym[b]) && !sym_is_space(text, &sym[b - 1])))
                b++;
        else
            b = n_sym;
        sym[a].prev = -1;
        sym[b - 1].next = -1;
        ok = spm_merge_range(tok, text, sym, a, b, &heap, out);
        a = b;
    }
    if (!ok)
        out->oom = true;
    free(heap.v);
    free(sym);
}
