/* tokenizer/spm.c - SentencePiece-style BPE (tokenizer.ggml.model =
 * "llama"), the algorithm of llama.cpp's llm_tokenizer_spm.
 *
 * The text arrives with spaces already escaped to "▁". It is cut into
 * symbols of one UTF-8 character each (a byte that starts no valid
 * sequence is a symbol of its own, see symbol_len). Then, repeatedly, the
 * adjacent pair whose concatenation is a vocabulary entry with the highest
 * score is merged (ties: the leftmost pair). The heap of candidate pairs
 * both merge loops share (qp_pair_heap, vocab.h) makes that O(n log n); a
 * popped pair whose symbols have changed since it was pushed is stale and
 * skipped. Symbols left that are no token are spelled out as byte tokens
 * <0xXX>. Text is merged word by word when the vocabulary allows it (see
 * qp_spm_can_split_words).
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

/* Pushes (left, right) if their concatenation is a token: priority its
 * score, stamps the two sizes (a symbol only grows, so a side that merged
 * since has another size, or 0). False when out of memory. */
static bool try_pair(const qp_tokenizer *tok, const char *text, const spm_sym *sym, qp_pair_heap *h,
                     int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return true;
    uint32_t nl = sym[left].n, nr = sym[right].n;
    int32_t id = qp_token_find(tok, text + sym[left].start, nl + nr);
    if (id < 0)
        return true;
    /* Sizes fit int32: a fragment is at most UINT32_MAX / 2 bytes. */
    qp_merge_pair p = {qp_priority_of_score(tok->score[id]), left, {(int32_t)nl, (int32_t)nr}};
    return qp_pair_heap_push(h, p);
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
                            int32_t b, qp_pair_heap *heap, qp_id_vec *out)
{
    qp_pair_heap_clear(heap);
    for (int32_t i = a + 1; i < b; i++)
        if (!try_pair(tok, text, sym, heap, i - 1, i))
            return false;

    while (heap->n > 0) {
        qp_merge_pair p = qp_pair_heap_pop(heap);
        spm_sym *l = &sym[p.left];
        /* Stale: one side was merged away (n = 0) or grew. While the left
         * side is as pushed its next symbol is still the right side (only
         * absorbing its neighbour changes it, and makes it grow). */
        if (l->n != (uint32_t)p.stamp[0] || sym[l->next].n != (uint32_t)p.stamp[1])
            continue;
        spm_sym *r = &sym[l->next];
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        if (!try_pair(tok, text, sym, heap, l->prev, p.left) ||
            !try_pair(tok, text, sym, heap, p.left, l->next))
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
    qp_pair_heap heap = {0};
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
    qp_pair_heap_free(&heap);
    free(sym);
}
