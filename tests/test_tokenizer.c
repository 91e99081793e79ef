/* tests/test_tokenizer.c - tokenizers from GGUF metadata (tokenizer/tokenizer.h).
 *
 * Without ../shared: tiny SPM and BPE vocabularies written with the GGUF
 * writer in memory, whose expected ids are worked out by hand in the
 * comments (score order, merge order, byte fallback, special tokens), the
 * pre-tokenizer splits against a table made by Python's `regex` module
 * (scripts/gen_pretok_cases.py), round trips on random bytes, and one test
 * per kind of bad metadata.
 * With ../shared: every case of llama.cpp's tokenizer tests for the four
 * vocabularies (data/vocab/ggml-vocab-*.gguf.inp/.out, read the way
 * llama.cpp's tests/test-tokenizer-0.cpp reads them), stories260K's
 * tokenizer, and the WikiText-2 test file (timed).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/bpe.h" /* qp_bpe_pre_split, GPT-2 byte map */
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h" /* the merge-candidate heap */
#include "tests/shared.h"

/* ==== helpers =========================================================== */

/* Writes w to memory, opens it, loads the tokenizer, and closes the file
 * again before returning: the tokenizer must not need it afterwards. */
static qp_status load_writer(qp_gguf_writer *w, qp_tokenizer **tok, qp_error *err)
{
    void *buf = NULL;
    size_t size = 0;
    qp_error werr;
    assert_int_equal(qp_gguf_writer_write_memory(w, &buf, &size, &werr), QP_OK);
    qp_gguf_writer_free(w);
    qp_gguf_file *f = NULL;
    assert_int_equal(qp_gguf_open_memory(buf, size, "synthetic", &f, &werr), QP_OK);
    qp_status st = qp_tokenizer_load(f, tok, err);
    qp_gguf_close(f);
    memset(buf, 0xAA, size); /* anything still pointing in would read junk */
    free(buf);
    return st;
}

static qp_tokenizer *must_load(qp_gguf_writer *w)
{
    qp_tokenizer *tok = NULL;
    qp_error err;
    qp_status st = load_writer(w, &tok, &err);
    if (st != QP_OK)
        fail_msg("load failed: %s", err.msg);
    return tok;
}

/* Tokenizes a C string; at most 512 ids. */
static int ids_of(const qp_tokenizer *tok, const char *s, bool add_special, bool parse_special,
                  int32_t *ids)
{
    int n = qp_tokenize(tok, s, strlen(s), add_special, parse_special, ids, 512);
    assert_true(n >= 0 && n <= 512);
    return n;
}

static void assert_ids(const int32_t *got, int n, const int32_t *want, int n_want, const char *what)
{
    bool same = n == n_want && memcmp(got, want, (size_t)n * sizeof *got) == 0;
    if (!same) {
        printf("%s: got", what);
        for (int i = 0; i < n; i++)
            printf(" %d", got[i]);
        printf(", want");
        for (int i = 0; i < n_want; i++)
            printf(" %d", want[i]);
        printf("\n");
        fail_msg("wrong ids for %s", what);
    }
}

#define ASSERT_IDS(tok, text, add, parse, ...)                                                     \
    do {                                                                                           \
        static const int32_t want_[] = {__VA_ARGS__};                                              \
        int32_t got_[512];                                                                         \
        int n_ = ids_of((tok), (text), (add), (parse), got_);                                      \
        assert_ids(got_, n_, want_, (int)(sizeof want_ / sizeof want_[0]), (text));                \
    } while (0)

/* detokenize(tokenize(s)) == s, byte for byte. */
static void assert_round_trip(const qp_tokenizer *tok, const char *s, size_t len)
{
    int n = qp_tokenize(tok, s, len, false, false, NULL, 0);
    assert_true(n >= 0);
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(qp_tokenize(tok, s, len, false, false, ids, n), n);
    char *back = malloc(len + 1);
    assert_non_null(back);
    int m = qp_detokenize(tok, ids, n, false, back, (int)len + 1);
    if (m != (int)len || memcmp(back, s, len) != 0)
        fail_msg("round trip of %zu bytes gave %d bytes", len, m);
    free(back);
    free(ids);
}

/* A small deterministic generator (xorshift64), so failures replay. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

/* ==== a tiny SentencePiece vocabulary ===================================== */

/* Ids:   0 <unk> (UNKNOWN), 1 <s>, 2 </s> (CONTROL), 3..258 <0x00>..<0xFF> (BYTE),
 *      259 ▁ 260 a 261 b 262 c 263 ▁a 264 ab 265 bc 266 ▁b 267 <sep> (USER_DEFINED)
 *      268 bb 269 ▁abc                                                              */
enum { SPM_N = 270 };
#define SP "\xE2\x96\x81" /* ▁ */

static qp_gguf_writer *spm_writer(float ab_score)
{
    static char bytes[256][8];
    const char *text[SPM_N];
    float score[SPM_N] = {0};
    int32_t type[SPM_N];
    text[0] = "<unk>"; type[0] = QP_TOKEN_UNKNOWN;
    text[1] = "<s>"; type[1] = QP_TOKEN_CONTROL;
    text[2] = "</s>"; type[2] = QP_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        text[3 + b] = bytes[b];
        type[3 + b] = QP_TOKEN_BYTE;
    }
    static const struct { const char *t; float s; int type; } extra[] = {
        {SP, -5, 1}, {"a", -6, 1}, {"b", -6, 1}, {"c", -6, 1}, {SP "a", -1, 1}, {"ab", 0, 1},
        {"bc", -0.5f, 1}, {SP "b", -1.5f, 1}, {"<sep>", 0, 4}, {"bb", -1, 1}, {SP "abc", -3, 1},
    };
    for (int i = 0; i < 11; i++) {
        text[259 + i] = extra[i].t;
        score[259 + i] = extra[i].s;
        type[259 + i] = extra[i].type;
    }
    score[264] = ab_score;
    qp_gguf_writer *w = qp_gguf_writer_new();
    assert_non_null(w);
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    qp_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", text, SPM_N);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.scores", QP_GGUF_TYPE_FLOAT32, score, SPM_N);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, type, SPM_N);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu); /* "none", as stories260K */
    return w;
}

static void test_spm_score_order(void **state)
{
    (void)state;
    /* "abc" -> ▁ a b c; pairs ▁a (-1), ab (-2), bc (-0.5). bc merges first,
     * then ▁a, then ▁a+bc = ▁abc (-3): one token. */
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    ASSERT_IDS(tok, "abc", false, false, 269);
    qp_tokenizer_free(tok);
    /* Same vocabulary with ab scoring 0 (best): ab merges first, after which
     * neither ▁+ab nor ab+c is a token. */
    tok = must_load(spm_writer(0.0f));
    ASSERT_IDS(tok, "abc", false, false, 259, 264, 262);
    qp_tokenizer_free(tok);
}

static void test_spm_ties_merge_leftmost(void **state)
{
    (void)state;
    /* "bbb" -> ▁ b b b; bb (-1) twice, ▁b (-1.5). Equal scores: the left
     * bb goes first, giving ▁ bb b (right-first would give ▁b bb). */
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    ASSERT_IDS(tok, "bbb", false, false, 259, 268, 261);
    qp_tokenizer_free(tok);
}

/* The merge-candidate heap both models share (vocab.h) pops in
 * llama.cpp's order: SPM the higher score first, BPE the lower rank, ties
 * (-0 and +0 included) to the smaller left index. Checked against a plain
 * search for the best pair left, over random pairs, many of them tied. */
typedef struct heap_ref {
    float score;
    int32_t rank, left;
    bool popped;
} heap_ref;

/* llama.cpp's comparators (llm_bigram_spm, llm_bigram_bpe), turned around:
 * does a merge before b? */
static bool ref_before(const heap_ref *a, const heap_ref *b, bool by_rank)
{
    if (by_rank)
        return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void test_merge_heap_order(void **state)
{
    (void)state;
    static const float scores[] = {-1e30f, -3.5f, -1.0f, -1e-40f, -0.0f, 0.0f, 1e-40f, 2.0f, 1e30f};
    enum { N = 1000 };
    static heap_ref ref[N];
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        ref[i].score = scores[(seed >> 16) % (sizeof scores / sizeof scores[0])];
        ref[i].rank = (int32_t)((seed >> 8) % 7) * ((1 << 30) / 7);
        ref[i].left = (int32_t)((i * 7919) % N); /* a permutation: lefts unique */
    }
    for (int by_rank = 0; by_rank < 2; by_rank++) {
        qp_pair_heap h = {0};
        for (int i = 0; i < N; i++) {
            uint32_t pr = by_rank ? qp_priority_of_rank(ref[i].rank) : qp_priority_of_score(ref[i].score);
            assert_true(qp_pair_heap_push(&h, (qp_merge_pair){pr, ref[i].left, {i, 0}}));
            ref[i].popped = false;
        }
        for (int k = 0; k < N; k++) {
            int best = -1;
            for (int i = 0; i < N; i++)
                if (!ref[i].popped && (best < 0 || ref_before(&ref[i], &ref[best], by_rank)))
                    best = i;
            ref[best].popped = true;
            qp_merge_pair p = qp_pair_heap_pop(&h);
            assert_int_equal(p.left, ref[best].left);
            assert_int_equal(p.stamp[0], best);
        }
        assert_int_equal(h.n, 0);
        qp_pair_heap_free(&h);
    }
}

static void test_spm_byte_fallback(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    /* A character that is no token is spelled in bytes: <0xXX> = 3 + XX. */
    ASSERT_IDS(tok, "a\x01", false, false, 263, 3 + 0x01);
    ASSERT_IDS(tok, "\xC3\xA9", false, false, 259, 3 + 0xC3, 3 + 0xA9); /* é */
    /* Invalid UTF-8 is never refused: a stray byte, a truncated sequence. */
    ASSERT_IDS(tok, "\xFF", false, false, 259, 3 + 0xFF);
    ASSERT_IDS(tok, "a\xE2", false, false, 263, 3 + 0xE2);
    ASSERT_IDS(tok, "\x80" "a", false, false, 259, 3 + 0x80, 260);
    /* A lead byte without its continuation bytes does not swallow the
     * escaped space after it (llama.cpp's lead-byte-only rule would make
     * E2 | E2 96 | 81 of it and lose the space): E2, then ▁a. */
    ASSERT_IDS(tok, "\xE2 a", false, false, 259, 3 + 0xE2, 263);
    /* Spaces are "▁": "a b" -> ▁a ▁b; a double space keeps one lone ▁. */
    ASSERT_IDS(tok, "a b", false, false, 263, 266);
    ASSERT_IDS(tok, "a  b", false, false, 263, 259, 266);
    qp_tokenizer_free(tok);
}

static void test_spm_special_tokens(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    /* USER_DEFINED <sep> is cut out even without parse_special; the text
     * after it gets its own space prefix (▁b), as in llama.cpp. */
    ASSERT_IDS(tok, "a<sep>b", false, false, 263, 267, 266);
    /* CONTROL <s> only with parse_special; otherwise it is text. */
    ASSERT_IDS(tok, "<s>", false, true, 1);
    ASSERT_IDS(tok, "<s>", false, false, 259, 3 + '<', 3 + 's', 3 + '>');
    /* BOS by default for SPM; "" gives [] or [BOS]. */
    ASSERT_IDS(tok, "a", true, false, 1, 263);
    int32_t ids[4] = {-7, -7, -7, -7};
    assert_int_equal(qp_tokenize(tok, "", 0, false, false, ids, 4), 0);
    assert_int_equal(qp_tokenize(tok, "", 0, true, false, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], -7);
    assert_int_equal(qp_tokenizer_pad(tok), -1); /* 0xFFFFFFFF means none */
    qp_tokenizer_free(tok);

    /* add_eos_token from the metadata. */
    qp_gguf_writer *w = spm_writer(-2.0f);
    qp_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true);
    qp_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    tok = must_load(w);
    ASSERT_IDS(tok, "a", true, false, 263, 2);
    qp_tokenizer_free(tok);
}

static void test_spm_pieces_and_detokenize(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    char buf[64];
    assert_int_equal(qp_token_to_piece(tok, 263, false, buf, sizeof buf), 2);
    assert_string_equal(buf, " a"); /* ▁ -> space */
    assert_int_equal(qp_token_to_piece(tok, 3 + 'Z', false, buf, sizeof buf), 1);
    assert_string_equal(buf, "Z"); /* <0x5A> -> the byte */
    assert_int_equal(qp_token_to_piece(tok, 1, false, buf, sizeof buf), 0);
    assert_int_equal(qp_token_to_piece(tok, 1, true, buf, sizeof buf), 3);
    assert_string_equal(buf, "<s>");
    assert_int_equal(qp_token_to_piece(tok, 267, false, buf, sizeof buf), 5); /* user-defined: always */
    assert_int_equal(qp_token_to_piece(tok, SPM_N, false, buf, sizeof buf), -1);
    assert_int_equal(qp_token_to_piece(tok, -1, false, buf, sizeof buf), -1);
    /* Truncation follows snprintf: the full length comes back. */
    assert_int_equal(qp_token_to_piece(tok, 269, false, buf, 3), 4); /* " abc" */
    assert_string_equal(buf, " a");

    /* The space prefix goes away at the start and after special tokens,
     * so BOS ▁a gives "a" (llama2.c strips the space after BOS too). */
    int32_t ids[] = {1, 263, 266, 267, 266};
    assert_int_equal(qp_detokenize(tok, ids, 5, false, buf, sizeof buf), 9);
    assert_string_equal(buf, "a b<sep>b");
    assert_int_equal(qp_detokenize(tok, ids, 5, true, buf, sizeof buf), 12);
    assert_string_equal(buf, "<s>a b<sep>b");
    assert_int_equal(qp_detokenize(tok, ids, 5, false, buf, 4), 9);
    assert_string_equal(buf, "a b");
    int32_t bad[] = {263, 9999};
    assert_int_equal(qp_detokenize(tok, bad, 2, false, buf, sizeof buf), -1);
    qp_tokenizer_free(tok);
}

static void test_spm_round_trip(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    static const char *const texts[] = {
        "abc bbb  a", " leading space", "trailing  ", "Gr\xC3\xBC\xC3\x9F" "e, \xE4\xB8\x96\xE7\x95\x8C! \xF0\x9F\x91\x8B\n\tx",
        "<s>a<sep>b</s>", "\xFF\xFE\x80\xC3", "\xE2\x96", "\xE2 \xF0 \xC3 b",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        assert_round_trip(tok, texts[i], strlen(texts[i]));
    /* Random bytes, NULs included. A literal "▁" in the text would come
     * back as a space (SentencePiece cannot tell them apart): avoid it. */
    char buf[300];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = rnd() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = rnd() % 4 ? (char)rnd() : "ab <>\xE2"[rnd() % 6];
        for (size_t i = 0; i + 2 < len; i++)
            if (memcmp(buf + i, SP, 3) == 0)
                buf[i + 2] = 'x';
        assert_round_trip(tok, buf, len);
    }
    qp_tokenizer_free(tok);
}

/* The streaming detokenizer hands out exactly the sequence's text, piece
 * by piece, even where a token's text depends on its neighbours: the
 * SentencePiece space after BOS is dropped, and a UTF-8 character spread
 * over three byte tokens comes out whole once its last byte arrives. */
static void test_detok_stream(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(spm_writer(-2.0f));
    /* BOS, "▁a", bytes E2 82 AC (the euro sign), "bc" */
    const int32_t ids[] = {1, 263, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 265};
    const int n = (int)(sizeof ids / sizeof *ids);
    char whole[64];
    const int n_whole = qp_detokenize(tok, ids, n, false, whole, sizeof whole);
    assert_true(n_whole > 0 && n_whole < (int)sizeof whole);
    qp_detok_stream *s = NULL;
    qp_error err;
    assert_int_equal(qp_detok_stream_create(tok, n, &s, &err), QP_OK);
    char got[64];
    size_t n_got = 0;
    for (int i = 0; i < n; i++) {
        const char *text;
        size_t len;
        assert_int_equal(qp_detok_stream_push(s, &ids[i], 1, &text, &len, &err), QP_OK);
        assert_true(n_got + len < sizeof got);
        memcpy(got + n_got, text, len);
        n_got += len;
        /* what was handed out is always a prefix of the final text */
        assert_memory_equal(got, whole, n_got);
    }
    assert_int_equal((int)n_got, n_whole);
    assert_memory_equal(got, "a\xE2\x82\xAC" "bc", n_got);
    /* full: one more token is refused, the stream is unchanged */
    const char *text;
    size_t len;
    assert_int_equal(qp_detok_stream_push(s, ids, 1, &text, &len, &err), QP_ERR_INPUT);
    assert_int_equal((int)len, 0);
    qp_detok_stream_free(s);
    assert_int_equal(qp_detok_stream_create(tok, 0, &s, &err), QP_ERR_INPUT);
    assert_null(s);
    qp_tokenizer_free(tok);
}

/* ==== a tiny byte-level BPE vocabulary =================================== */

/* Ids 0..255: GPT-2's code point of byte 0..255 (so id == byte), then
 * 256 he, 257 th, 258 the, 259 <|endoftext|> (CONTROL), 260 <|user|>
 * (USER_DEFINED), 261 eĠ, 262 Ġt. Merges are given per test. */
#define GSP "\xC4\xA0" /* Ġ, GPT-2's space */

static qp_gguf_writer *bpe_writer(const char *const *merges, int n_merges, const char *pre)
{
    static char bytes[256][4];
    const char *text[263];
    int32_t type[263];
    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        size_t k = qp_utf8_encode(qp_gpt2_byte_cp((unsigned)b), u);
        memcpy(bytes[b], u, k);
        bytes[b][k] = '\0';
        text[b] = bytes[b];
        type[b] = QP_TOKEN_NORMAL;
    }
    static const char *const extra[] = {"he", "th", "the", "<|endoftext|>", "<|user|>", "e" GSP, GSP "t"};
    for (int i = 0; i < 7; i++) {
        text[256 + i] = extra[i];
        type[256 + i] = QP_TOKEN_NORMAL;
    }
    type[259] = QP_TOKEN_CONTROL;
    type[260] = QP_TOKEN_USER_DEFINED;
    qp_gguf_writer *w = qp_gguf_writer_new();
    assert_non_null(w);
    qp_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre)
        qp_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", text, 263);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, type, 263);
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 259);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 259);
    return w;
}

static const char *const merges_he_first[] = {"h e", "t h", "t he", "e " GSP, GSP " t"};
static const char *const merges_th_first[] = {"t h", "h e", "t he", "e " GSP, GSP " t"};

static void test_gpt2_byte_map(void **state)
{
    (void)state;
    /* GPT-2's bytes_to_unicode: printable bytes are themselves, the 68
     * others U+0100.. in byte order: ' ' (0x20) is Ġ U+0120, '\n' is Ċ
     * U+010A, 0x7F is U+0121, 0xAD (soft hyphen) is the last, U+0143. */
    assert_int_equal(qp_gpt2_byte_cp(' '), 0x120);
    assert_int_equal(qp_gpt2_byte_cp('\n'), 0x10A);
    assert_int_equal(qp_gpt2_byte_cp(0x00), 0x100);
    assert_int_equal(qp_gpt2_byte_cp(0x7F), 0x121);
    assert_int_equal(qp_gpt2_byte_cp(0xA0), 0x142);
    assert_int_equal(qp_gpt2_byte_cp(0xAD), 0x143);
    assert_int_equal(qp_gpt2_byte_cp('A'), 'A');
    assert_int_equal(qp_gpt2_byte_cp(0xE9), 0xE9);
    bool seen[0x144] = {false};
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = qp_gpt2_byte_cp(b);
        assert_true(cp < 0x144);
        assert_false(seen[cp]);
        seen[cp] = true;
        assert_int_equal(qp_gpt2_cp_byte(cp), (int)b);
    }
    assert_int_equal(qp_gpt2_cp_byte(' '), -1); /* a raw space stands for no byte */
    assert_int_equal(qp_gpt2_cp_byte(0x144), -1);
}

static void test_bpe_merge_order(void **state)
{
    (void)state;
    /* "the": h e has rank 0, so t + he, then "t he" (rank 2) -> the. */
    qp_tokenizer *tok = must_load(bpe_writer(merges_he_first, 5, "gpt-2"));
    ASSERT_IDS(tok, "the", false, false, 258);
    /* " the" is its own word (Ġ t h e): he, then t he; Ġ+the is no merge.
     * The merge "e Ġ" must never join across the word boundary. */
    ASSERT_IDS(tok, "the the", false, false, 258, ' ', 258);
    assert_int_equal(qp_tokenizer_n_merges(tok), 5);
    qp_tokenizer_free(tok);
    /* With t h ranked first: th, and "th e" is no merge. */
    tok = must_load(bpe_writer(merges_th_first, 5, "gpt-2"));
    ASSERT_IDS(tok, "the", false, false, 257, 'e');
    qp_tokenizer_free(tok);
}

static void test_bpe_special_tokens(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(bpe_writer(merges_he_first, 5, "gpt-2"));
    ASSERT_IDS(tok, "<|endoftext|>", false, true, 259);
    ASSERT_IDS(tok, "<|endoftext|>", false, false, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>');
    ASSERT_IDS(tok, "a<|user|>b", false, false, 'a', 260, 'b');
    /* Both cut out, each where it stands. */
    ASSERT_IDS(tok, "<|user|><|endoftext|>", false, true, 260, 259);
    /* gpt2 models add no BOS unless the metadata says so. */
    ASSERT_IDS(tok, "a", true, false, 'a');
    assert_false(qp_tokenizer_add_bos(tok));
    qp_tokenizer_free(tok);

    qp_gguf_writer *w = bpe_writer(merges_he_first, 5, "gpt-2");
    qp_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    tok = must_load(w);
    ASSERT_IDS(tok, "a", true, false, 259, 'a');
    qp_tokenizer_free(tok);
    /* llama-bpe turns BOS on by default, as llama.cpp does for LLaMA 3. */
    tok = must_load(bpe_writer(merges_he_first, 5, "llama-bpe"));
    ASSERT_IDS(tok, "a", true, false, 259, 'a');
    qp_tokenizer_free(tok);
}

static void test_bpe_pieces_and_buffers(void **state)
{
    (void)state;
    qp_tokenizer *tok = must_load(bpe_writer(merges_he_first, 5, NULL)); /* no pre: "default" */
    assert_string_equal(qp_tokenizer_pre(tok), "default");
    char buf[32];
    assert_int_equal(qp_token_to_piece(tok, ' ', false, buf, sizeof buf), 1);
    assert_string_equal(buf, " "); /* Ġ -> space */
    assert_int_equal(qp_token_to_piece(tok, '\n', false, buf, sizeof buf), 1);
    assert_string_equal(buf, "\n");
    assert_int_equal(qp_token_to_piece(tok, 0xE9, false, buf, sizeof buf), 1);
    assert_int_equal((unsigned char)buf[0], 0xE9); /* é's code point is byte 0xE9 */
    assert_int_equal(qp_token_to_piece(tok, 261, false, buf, sizeof buf), 2);
    assert_string_equal(buf, "e ");
    assert_int_equal(qp_token_to_piece(tok, 259, false, buf, sizeof buf), 0);
    assert_int_equal(qp_token_to_piece(tok, 259, true, buf, sizeof buf), 13);

    /* Too small an id buffer: the count comes back, only max_ids written. */
    int32_t ids[4] = {-7, -7, -7, -7};
    assert_int_equal(qp_tokenize(tok, "the the", 7, false, false, ids, 1), 3);
    assert_int_equal(ids[0], 258);
    assert_int_equal(ids[1], -7);
    assert_int_equal(qp_tokenize(tok, "the the", 7, false, false, NULL, 0), 3);
    assert_int_equal(qp_tokenize(tok, NULL, 3, false, false, NULL, 0), -1);
    assert_int_equal(qp_token_lookup(tok, "the", 3), 258);
    assert_int_equal(qp_token_lookup(tok, "t", 1), 't');
    assert_int_equal(qp_token_lookup(tok, "tthe", 4), -1);
    qp_tokenizer_free(tok);
}

static void test_bpe_round_trip(void **state)
{
    (void)state;
    static const char *const pres[] = {"gpt-2", "llama-bpe", "qwen2", "smollm", "default"};
    for (size_t p = 0; p < sizeof pres / sizeof pres[0]; p++) {
        qp_tokenizer *tok = must_load(bpe_writer(merges_he_first, 5, pres[p]));
        static const char *const texts[] = {
            "the the", "Gr\xC3\xBC\xC3\x9F" "e, \xE4\xB8\x96\xE7\x95\x8C! \xF0\x9F\x91\x8B\n\tx  ",
            "I'm 12345 <|user|> x", "\xFF\xFE\x80\xC3", "\xE2\x96\x81 sp",
        };
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            assert_round_trip(tok, texts[i], strlen(texts[i]));
        char buf[300];
        for (int iter = 0; iter < 200; iter++) {
            size_t len = rnd() % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = rnd() % 3 ? (char)rnd() : " th'e1\n"[rnd() % 7];
            assert_round_trip(tok, buf, len);
        }
        qp_tokenizer_free(tok);
    }
}

/* ==== Unicode and the pre-tokenizers ====================================== */

static void test_unicode_classes(void **state)
{
    (void)state;
    /* The ASCII fast path agrees with the generated table. */
    for (uint32_t c = 0; c < 0x80; c++) {
        unsigned f = qp_uc_flags(c);
        enum qp_uc_class k = qp_uc_class(c);
        assert_int_equal(!!(f & QP_UCF_LETTER), k == QP_UC_LETTER);
        assert_int_equal(!!(f & QP_UCF_NUMBER), k == QP_UC_NUMBER);
        assert_int_equal(!!(f & QP_UCF_PUNCT), k == QP_UC_PUNCT);
    }
    assert_int_equal(qp_uc_class(0xE9), QP_UC_LETTER);    /* é */
    assert_int_equal(qp_uc_class(0x4E16), QP_UC_LETTER);  /* 世 */
    assert_int_equal(qp_uc_class(0xBD), QP_UC_NUMBER);    /* ½ (No) */
    assert_int_equal(qp_uc_class(0x216B), QP_UC_NUMBER);  /* Ⅻ (Nl) */
    assert_int_equal(qp_uc_class(0x0663), QP_UC_NUMBER);  /* Arabic-Indic 3 */
    assert_int_equal(qp_uc_class(0x0301), QP_UC_MARK);    /* combining acute */
    assert_int_equal(qp_uc_class(0x2581), QP_UC_SYMBOL);  /* ▁ */
    assert_int_equal(qp_uc_class(0x1F680), QP_UC_SYMBOL); /* 🚀 */
    assert_int_equal(qp_uc_class(0x3000), QP_UC_SEPARATOR);
    assert_int_equal(qp_uc_class(0xE000), QP_UC_OTHER);   /* private use */
    assert_int_equal(qp_uc_class(0x0378), QP_UC_UNASSIGNED);
    assert_int_equal(qp_uc_class(0x10FFFF), QP_UC_UNASSIGNED);
    assert_int_equal(qp_uc_class(0x110000), QP_UC_UNASSIGNED);
    /* White_Space, not "Zs": tab and NEL yes, U+200B (Cf) and U+1C no. */
    assert_true(qp_uc_is_space('\t') && qp_uc_is_space(0x85) && qp_uc_is_space(0xA0));
    assert_true(qp_uc_is_space(0x2009) && qp_uc_is_space(0x3000) && qp_uc_is_space(0x2029));
    assert_false(qp_uc_is_space(0x200B) || qp_uc_is_space(0x1C) || qp_uc_is_space(0x180E));
    assert_int_equal(qp_uc_flags(0x3000), QP_UCF_SPACE);
}

static void test_utf8_decode(void **state)
{
    (void)state;
    static const struct { const char *s; size_t n, used; uint32_t cp; } cases[] = {
        {"A", 1, 1, 'A'},
        {"\xC3\xA9", 2, 2, 0xE9},
        {"\xE2\x96\x81", 3, 3, 0x2581},
        {"\xF0\x9F\x9A\x80", 4, 4, 0x1F680},
        {"\x80", 1, 1, QP_UC_REPLACEMENT},       /* continuation byte first */
        {"\xC3", 1, 1, QP_UC_REPLACEMENT},       /* truncated */
        {"\xC3" "A", 2, 1, QP_UC_REPLACEMENT},   /* bad continuation */
        {"\xF8\x88\x80\x80", 4, 1, QP_UC_REPLACEMENT},
        {"\xC0\x80", 2, 2, 0},                   /* overlong: accepted, as llama.cpp */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0;
        assert_int_equal(qp_utf8_decode((const unsigned char *)cases[i].s, cases[i].n, &cp), cases[i].used);
        assert_int_equal(cp, cases[i].cp);
    }
}

/* Expected splits from scripts/gen_pretok_cases.py (Python's `regex` module
 * running the regexes; comments show the words). */
static const struct { qp_pre_kind kind; const char *text; int n; size_t ends[48]; } pre_cases[] = {
    {QP_PRE_DEFAULT, "Hello world", 2, {5, 11}}, /* Hello |  world */
    {QP_PRE_DEFAULT, "I'm here, it's 'quoted' HE'LL we'VE", 18, {1, 2, 3, 8, 9, 12, 13, 14, 15, 16, 22, 23, 26, 27, 29, 32, 33, 35}}, /* I | ' | m |  here | , |  it | ' | s |   | ' | quoted | ' |  HE | ' | LL |  we | ' | VE */
    {QP_PRE_DEFAULT, "  leading\x09""and\x0a""\x0a"" trailing  ", 7, {1, 9, 10, 13, 15, 24, 26}}, /*   |  leading | \t | and | \n\n |  trailing |    */
    {QP_PRE_DEFAULT, "12345 678,9 3.14", 10, {3, 5, 6, 9, 10, 11, 12, 13, 14, 16}}, /* 123 | 45 |   | 678 | , | 9 |   | 3 | . | 14 */
    {QP_PRE_DEFAULT, "x\xc2""\xb2""\xc2""\xb3"" \xc2""\xbd"" \xe2""\x85""\xab""", 6, {1, 5, 6, 8, 9, 12}}, /* x | ²³ |   | ½ |   | Ⅻ */
    {QP_PRE_DEFAULT, "a\xc2""\xa0""b\xe3""\x80""\x80""c d", 6, {1, 3, 4, 7, 8, 10}}, /* a | \xa0 | b | \u3000 | c |  d */
    {QP_PRE_DEFAULT, "!!!\x3f""\x3f"".. ...", 3, {7, 8, 11}}, /* !!!??.. |   | ... */
    {QP_PRE_DEFAULT, "$+<=>^~| `x` {a}", 8, {8, 10, 11, 12, 13, 14, 15, 16}}, /* $+<=>^~| |  ` | x | ` |   | { | a | } */
    {QP_PRE_DEFAULT, "\xe0""\xa4""\xae""\xe0""\xa5""\x88""\xe0""\xa4""\x82"" \xe0""\xa4""\xb9""\xe0""\xa4""\xbf""\xe0""\xa4""\xa8""\xe0""\xa5""\x8d""\xe0""\xa4""\xa6""\xe0""\xa5""\x80""", 8, {3, 9, 13, 16, 19, 22, 25, 28}}, /* म | ैं |  ह | ि | न | ् | द | ी */
    {QP_PRE_DEFAULT, "emoji \xf0""\x9f""\x9a""\x80""\xf0""\x9f""\x9a""\x80"" x", 3, {5, 14, 16}}, /* emoji |  🚀🚀 |  x */
    {QP_PRE_DEFAULT, "\x0d""\x0a""\x0d""\x0a""  \x0a"" x\x0a""\x0a""", 3, {7, 9, 11}}, /* \r\n\r\n  \n |  x | \n\n */
    {QP_PRE_DEFAULT, "caf\xc3""\xa9"" na\xc3""\xaf""ve \xc3""\xbc""ber", 3, {5, 12, 18}}, /* café |  naïve |  über */
    {QP_PRE_DEFAULT, "tab\x09""\x09""x  y   z", 8, {3, 4, 5, 6, 7, 9, 11, 13}}, /* tab | \t | \t | x |   |  y |    |  z */
    {QP_PRE_GPT2, "Hello world", 2, {5, 11}}, /* Hello |  world */
    {QP_PRE_GPT2, "I'm here, it's 'quoted' HE'LL we'VE", 15, {1, 3, 8, 9, 12, 14, 16, 22, 23, 26, 27, 29, 32, 33, 35}}, /* I | 'm |  here | , |  it | 's |  ' | quoted | ' |  HE | ' | LL |  we | ' | VE */
    {QP_PRE_GPT2, "  leading\x09""and\x0a""\x0a"" trailing  ", 7, {1, 9, 10, 13, 15, 24, 26}}, /*   |  leading | \t | and | \n\n |  trailing |    */
    {QP_PRE_GPT2, "12345 678,9 3.14", 7, {5, 9, 10, 11, 13, 14, 16}}, /* 12345 |  678 | , | 9 |  3 | . | 14 */
    {QP_PRE_GPT2, "x\xc2""\xb2""\xc2""\xb3"" \xc2""\xbd"" \xe2""\x85""\xab""", 4, {1, 5, 8, 12}}, /* x | ²³ |  ½ |  Ⅻ */
    {QP_PRE_GPT2, "a\xc2""\xa0""b\xe3""\x80""\x80""c d", 6, {1, 3, 4, 7, 8, 10}}, /* a | \xa0 | b | \u3000 | c |  d */
    {QP_PRE_GPT2, "!!!\x3f""\x3f"".. ...", 2, {7, 11}}, /* !!!??.. |  ... */
    {QP_PRE_GPT2, "$+<=>^~| `x` {a}", 7, {8, 10, 11, 12, 14, 15, 16}}, /* $+<=>^~| |  ` | x | ` |  { | a | } */
    {QP_PRE_GPT2, "\xe0""\xa4""\xae""\xe0""\xa5""\x88""\xe0""\xa4""\x82"" \xe0""\xa4""\xb9""\xe0""\xa4""\xbf""\xe0""\xa4""\xa8""\xe0""\xa5""\x8d""\xe0""\xa4""\xa6""\xe0""\xa5""\x80""", 8, {3, 9, 13, 16, 19, 22, 25, 28}}, /* म | ैं |  ह | ि | न | ् | द | ी */
    {QP_PRE_GPT2, "emoji \xf0""\x9f""\x9a""\x80""\xf0""\x9f""\x9a""\x80"" x", 3, {5, 14, 16}}, /* emoji |  🚀🚀 |  x */
    {QP_PRE_GPT2, "\x0d""\x0a""\x0d""\x0a""  \x0a"" x\x0a""\x0a""", 3, {7, 9, 11}}, /* \r\n\r\n  \n |  x | \n\n */
    {QP_PRE_GPT2, "caf\xc3""\xa9"" na\xc3""\xaf""ve \xc3""\xbc""ber", 3, {5, 12, 18}}, /* café |  naïve |  über */
    {QP_PRE_GPT2, "tab\x09""\x09""x  y   z", 8, {3, 4, 5, 6, 7, 9, 11, 13}}, /* tab | \t | \t | x |   |  y |    |  z */
    {QP_PRE_LLAMA3, "Hello world", 2, {5, 11}}, /* Hello |  world */
    {QP_PRE_LLAMA3, "I'm here, it's 'quoted' HE'LL we'VE", 13, {1, 3, 8, 9, 12, 14, 16, 22, 23, 26, 29, 32, 35}}, /* I | 'm |  here | , |  it | 's |  ' | quoted | ' |  HE | 'LL |  we | 'VE */
    {QP_PRE_LLAMA3, "  leading\x09""and\x0a""\x0a"" trailing  ", 6, {1, 9, 13, 15, 24, 26}}, /*   |  leading | \tand | \n\n |  trailing |    */
    {QP_PRE_LLAMA3, "12345 678,9 3.14", 10, {3, 5, 6, 9, 10, 11, 12, 13, 14, 16}}, /* 123 | 45 |   | 678 | , | 9 |   | 3 | . | 14 */
    {QP_PRE_LLAMA3, "x\xc2""\xb2""\xc2""\xb3"" \xc2""\xbd"" \xe2""\x85""\xab""", 6, {1, 5, 6, 8, 9, 12}}, /* x | ²³ |   | ½ |   | Ⅻ */
    {QP_PRE_LLAMA3, "a\xc2""\xa0""b\xe3""\x80""\x80""c d", 4, {1, 4, 8, 10}}, /* a | \xa0b | \u3000c |  d */
    {QP_PRE_LLAMA3, "!!!\x3f""\x3f"".. ...", 2, {7, 11}}, /* !!!??.. |  ... */
    {QP_PRE_LLAMA3, "$+<=>^~| `x` {a}", 7, {8, 10, 11, 12, 14, 15, 16}}, /* $+<=>^~| |  ` | x | ` |  { | a | } */
    {QP_PRE_LLAMA3, "\xe0""\xa4""\xae""\xe0""\xa5""\x88""\xe0""\xa4""\x82"" \xe0""\xa4""\xb9""\xe0""\xa4""\xbf""\xe0""\xa4""\xa8""\xe0""\xa5""\x8d""\xe0""\xa4""\xa6""\xe0""\xa5""\x80""", 6, {3, 9, 13, 19, 25, 28}}, /* म | ैं |  ह | िन | ्द | ी */
    {QP_PRE_LLAMA3, "emoji \xf0""\x9f""\x9a""\x80""\xf0""\x9f""\x9a""\x80"" x", 3, {5, 14, 16}}, /* emoji |  🚀🚀 |  x */
    {QP_PRE_LLAMA3, "\x0d""\x0a""\x0d""\x0a""  \x0a"" x\x0a""\x0a""", 3, {7, 9, 11}}, /* \r\n\r\n  \n |  x | \n\n */
    {QP_PRE_LLAMA3, "caf\xc3""\xa9"" na\xc3""\xaf""ve \xc3""\xbc""ber", 3, {5, 12, 18}}, /* café |  naïve |  über */
    {QP_PRE_LLAMA3, "tab\x09""\x09""x  y   z", 7, {3, 4, 6, 7, 9, 11, 13}}, /* tab | \t | \tx |   |  y |    |  z */
    {QP_PRE_QWEN2, "Hello world", 2, {5, 11}}, /* Hello |  world */
    {QP_PRE_QWEN2, "I'm here, it's 'quoted' HE'LL we'VE", 13, {1, 3, 8, 9, 12, 14, 16, 22, 23, 26, 29, 32, 35}}, /* I | 'm |  here | , |  it | 's |  ' | quoted | ' |  HE | 'LL |  we | 'VE */
    {QP_PRE_QWEN2, "  leading\x09""and\x0a""\x0a"" trailing  ", 6, {1, 9, 13, 15, 24, 26}}, /*   |  leading | \tand | \n\n |  trailing |    */
    {QP_PRE_QWEN2, "12345 678,9 3.14", 16, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}, /* 1 | 2 | 3 | 4 | 5 |   | 6 | 7 | 8 | , | 9 |   | 3 | . | 1 | 4 */
    {QP_PRE_QWEN2, "x\xc2""\xb2""\xc2""\xb3"" \xc2""\xbd"" \xe2""\x85""\xab""", 7, {1, 3, 5, 6, 8, 9, 12}}, /* x | ² | ³ |   | ½ |   | Ⅻ */
    {QP_PRE_QWEN2, "a\xc2""\xa0""b\xe3""\x80""\x80""c d", 4, {1, 4, 8, 10}}, /* a | \xa0b | \u3000c |  d */
    {QP_PRE_QWEN2, "!!!\x3f""\x3f"".. ...", 2, {7, 11}}, /* !!!??.. |  ... */
    {QP_PRE_QWEN2, "$+<=>^~| `x` {a}", 7, {8, 10, 11, 12, 14, 15, 16}}, /* $+<=>^~| |  ` | x | ` |  { | a | } */
    {QP_PRE_QWEN2, "\xe0""\xa4""\xae""\xe0""\xa5""\x88""\xe0""\xa4""\x82"" \xe0""\xa4""\xb9""\xe0""\xa4""\xbf""\xe0""\xa4""\xa8""\xe0""\xa5""\x8d""\xe0""\xa4""\xa6""\xe0""\xa5""\x80""", 6, {3, 9, 13, 19, 25, 28}}, /* म | ैं |  ह | िन | ्द | ी */
    {QP_PRE_QWEN2, "emoji \xf0""\x9f""\x9a""\x80""\xf0""\x9f""\x9a""\x80"" x", 3, {5, 14, 16}}, /* emoji |  🚀🚀 |  x */
    {QP_PRE_QWEN2, "\x0d""\x0a""\x0d""\x0a""  \x0a"" x\x0a""\x0a""", 3, {7, 9, 11}}, /* \r\n\r\n  \n |  x | \n\n */
    {QP_PRE_QWEN2, "caf\xc3""\xa9"" na\xc3""\xaf""ve \xc3""\xbc""ber", 3, {5, 12, 18}}, /* café |  naïve |  über */
    {QP_PRE_QWEN2, "tab\x09""\x09""x  y   z", 7, {3, 4, 6, 7, 9, 11, 13}}, /* tab | \t | \tx |   |  y |    |  z */
    {QP_PRE_SMOLLM, "Hello world", 2, {5, 11}}, /* Hello |  world */
    {QP_PRE_SMOLLM, "I'm here, it's 'quoted' HE'LL we'VE", 15, {1, 3, 8, 9, 12, 14, 16, 22, 23, 26, 27, 29, 32, 33, 35}}, /* I | 'm |  here | , |  it | 's |  ' | quoted | ' |  HE | ' | LL |  we | ' | VE */
    {QP_PRE_SMOLLM, "  leading\x09""and\x0a""\x0a"" trailing  ", 7, {1, 9, 10, 13, 15, 24, 26}}, /*   |  leading | \t | and | \n\n |  trailing |    */
    {QP_PRE_SMOLLM, "12345 678,9 3.14", 16, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}, /* 1 | 2 | 3 | 4 | 5 |   | 6 | 7 | 8 | , | 9 |   | 3 | . | 1 | 4 */
    {QP_PRE_SMOLLM, "x\xc2""\xb2""\xc2""\xb3"" \xc2""\xbd"" \xe2""\x85""\xab""", 7, {1, 3, 5, 6, 8, 9, 12}}, /* x | ² | ³ |   | ½ |   | Ⅻ */
    {QP_PRE_SMOLLM, "a\xc2""\xa0""b\xe3""\x80""\x80""c d", 6, {1, 3, 4, 7, 8, 10}}, /* a | \xa0 | b | \u3000 | c |  d */
    {QP_PRE_SMOLLM, "!!!\x3f""\x3f"".. ...", 2, {7, 11}}, /* !!!??.. |  ... */
    {QP_PRE_SMOLLM, "$+<=>^~| `x` {a}", 7, {8, 10, 11, 12, 14, 15, 16}}, /* $+<=>^~| |  ` | x | ` |  { | a | } */
    {QP_PRE_SMOLLM, "\xe0""\xa4""\xae""\xe0""\xa5""\x88""\xe0""\xa4""\x82"" \xe0""\xa4""\xb9""\xe0""\xa4""\xbf""\xe0""\xa4""\xa8""\xe0""\xa5""\x8d""\xe0""\xa4""\xa6""\xe0""\xa5""\x80""", 8, {3, 9, 13, 16, 19, 22, 25, 28}}, /* म | ैं |  ह | ि | न | ् | द | ी */
    {QP_PRE_SMOLLM, "emoji \xf0""\x9f""\x9a""\x80""\xf0""\x9f""\x9a""\x80"" x", 3, {5, 14, 16}}, /* emoji |  🚀🚀 |  x */
    {QP_PRE_SMOLLM, "\x0d""\x0a""\x0d""\x0a""  \x0a"" x\x0a""\x0a""", 3, {7, 9, 11}}, /* \r\n\r\n  \n |  x | \n\n */
    {QP_PRE_SMOLLM, "caf\xc3""\xa9"" na\xc3""\xaf""ve \xc3""\xbc""ber", 3, {5, 12, 18}}, /* café |  naïve |  über */
    {QP_PRE_SMOLLM, "tab\x09""\x09""x  y   z", 8, {3, 4, 5, 6, 7, 9, 11, 13}}, /* tab | \t | \t | x |   |  y |    |  z */
};

static void test_pretokenizer_splits(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof pre_cases / sizeof pre_cases[0]; i++) {
        size_t ends[64];
        const char *t = pre_cases[i].text;
        int n = qp_bpe_pre_split(pre_cases[i].kind, t, strlen(t), ends, 64);
        if (n != pre_cases[i].n || memcmp(ends, pre_cases[i].ends, (size_t)n * sizeof ends[0]) != 0) {
            printf("pre-tokenizer %d, case %zu: got %d words:", (int)pre_cases[i].kind, i, n);
            for (int j = 0; j < n && j < 64; j++)
                printf(" %zu", ends[j]);
            printf("\n");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ==== bad metadata ======================================================= */

/* Loads w and expects QP_ERR_INPUT with `needle` in the message. */
static void expect_bad(qp_gguf_writer *w, const char *needle)
{
    qp_tokenizer *tok = (qp_tokenizer *)(uintptr_t)1;
    qp_error err;
    qp_error_clear(&err);
    qp_status st = load_writer(w, &tok, &err);
    if (st != QP_ERR_INPUT || !strstr(err.msg, needle))
        fail_msg("want QP_ERR_INPUT mentioning '%s', got status %d: %s", needle, (int)st, err.msg);
    assert_null(tok);
    assert_string_equal(err.file, "synthetic");
}

static void test_bad_metadata(void **state)
{
    (void)state;
    qp_gguf_writer *w;

    w = spm_writer(-2.0f);
    qp_gguf_writer_remove(w, "tokenizer.ggml.model");
    expect_bad(w, "missing tokenizer.ggml.model (no tokenizer in this file)");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.model", 1);
    expect_bad(w, "tokenizer.ggml.model: expected a string, found ");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
    expect_bad(w, "unsupported tokenizer model 'bert'");

    w = spm_writer(-2.0f);
    qp_gguf_writer_remove(w, "tokenizer.ggml.tokens");
    expect_bad(w, "missing tokenizer.ggml.tokens");

    w = spm_writer(-2.0f);
    uint32_t nums[3] = {1, 2, 3};
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.tokens", QP_GGUF_TYPE_UINT32, nums, 3);
    expect_bad(w, "tokenizer.ggml.tokens: expected an array of strings, found an array of ");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_str(w, "tokenizer.ggml.tokens", "a");
    expect_bad(w, "tokenizer.ggml.tokens: expected an array of strings, found ");

    w = spm_writer(-2.0f);
    static const char *const dup[] = {"a", "b", "a"};
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", dup, 3);
    qp_gguf_writer_remove(w, "tokenizer.ggml.scores");
    qp_gguf_writer_remove(w, "tokenizer.ggml.token_type");
    qp_gguf_writer_remove(w, "tokenizer.ggml.unknown_token_id");
    qp_gguf_writer_remove(w, "tokenizer.ggml.bos_token_id");
    qp_gguf_writer_remove(w, "tokenizer.ggml.eos_token_id");
    expect_bad(w, "duplicates token 0");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", SPM_N);
    expect_bad(w, "tokenizer.ggml.bos_token_id = 270 is outside");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -5);
    expect_bad(w, "tokenizer.ggml.eos_token_id");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_str(w, "tokenizer.ggml.unknown_token_id", "0");
    expect_bad(w, "tokenizer.ggml.unknown_token_id: expected an integer");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_i32(w, "tokenizer.ggml.bos_token_id", -1);
    expect_bad(w, "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is not set");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_u8(w, "tokenizer.ggml.add_bos_token", 1);
    expect_bad(w, "tokenizer.ggml.add_bos_token: expected a bool");

    int32_t types[SPM_N];
    for (int i = 0; i < SPM_N; i++)
        types[i] = 1;
    types[7] = 9;
    w = spm_writer(-2.0f);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, types, SPM_N);
    expect_bad(w, "token 7 has type 9");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, types, 10);
    expect_bad(w, "tokenizer.ggml.token_type: 10 types for 270 tokens");

    types[7] = QP_TOKEN_BYTE; /* "<0x04>" is fine, "a" (260) is not a byte token */
    types[260] = QP_TOKEN_BYTE;
    w = spm_writer(-2.0f);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, types, SPM_N);
    expect_bad(w, "token 260 has type BYTE");

    float scores[SPM_N] = {0};
    w = spm_writer(-2.0f);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.scores", QP_GGUF_TYPE_FLOAT32, scores, 5);
    expect_bad(w, "tokenizer.ggml.scores: 5 scores for 270 tokens");

    scores[100] = (float)NAN;
    w = spm_writer(-2.0f);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.scores", QP_GGUF_TYPE_FLOAT32, scores, SPM_N);
    expect_bad(w, "score of token 100 is NaN");

    w = spm_writer(-2.0f);
    qp_gguf_writer_set_str(w, "tokenizer.ggml.scores", "high");
    expect_bad(w, "tokenizer.ggml.scores: expected an array, found ");

    w = bpe_writer(merges_he_first, 5, "gpt-2");
    qp_gguf_writer_remove(w, "tokenizer.ggml.merges");
    expect_bad(w, "missing tokenizer.ggml.merges (a gpt2 tokenizer needs its merges)");

    w = bpe_writer(merges_he_first, 5, "gpt-2");
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.merges", QP_GGUF_TYPE_UINT32, nums, 3);
    expect_bad(w, "tokenizer.ggml.merges: expected an array of strings, found an array of ");

    static const char *const no_space[] = {"h e", "the"};
    w = bpe_writer(no_space, 2, "gpt-2");
    expect_bad(w, "tokenizer.ggml.merges: merge 1 ('the')");

    static const char *const empty_right[] = {"h "};
    w = bpe_writer(empty_right, 1, "gpt-2");
    expect_bad(w, "tokenizer.ggml.merges: merge 0");

    w = bpe_writer(merges_he_first, 5, "klingon");
    expect_bad(w, "tokenizer.ggml.pre: unsupported pre-tokenizer 'klingon'");

    w = bpe_writer(merges_he_first, 5, "gpt-2");
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.pre", 3);
    expect_bad(w, "tokenizer.ggml.pre: expected a string, found ");

    qp_tokenizer *tok = NULL;
    qp_error err;
    assert_int_equal(qp_tokenizer_load(NULL, &tok, &err), QP_ERR_INPUT);
    assert_null(tok);
}

/* ==== ../shared: llama.cpp's tokenizer tests ============================== */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n + 65536 > cap) {
            cap = 2 * cap + 65536;
            char *nb = realloc(buf, cap + 1);
            assert_non_null(nb);
            buf = nb;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static qp_tokenizer *load_shared(const char *rel)
{
    char path[1024];
    assert_non_null(qp_test_shared_path(path, sizeof path, rel));
    qp_gguf_file *f = NULL;
    qp_error err;
    if (qp_gguf_open(path, &f, &err) != QP_OK)
        fail_msg("%s: %s", path, err.msg);
    qp_tokenizer *tok = NULL;
    if (qp_tokenizer_load(f, &tok, &err) != QP_OK)
        fail_msg("%s: %s", path, err.msg);
    qp_gguf_close(f);
    return tok;
}

/* One vocabulary: the texts of NAME.inp are separated by
 * "\n__ggml_vocab_test__\n" (so each text loses the newline before the
 * separator, and nothing follows the last one), line i of NAME.out holds
 * text i's ids; tokenized with add_special = false, parse_special = false,
 * exactly as tests/test-tokenizer-0.cpp does. Returns the number of cases. */
static int run_vocab_file(const char *name)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "data/vocab/ggml-vocab-%s.gguf", name);
    qp_tokenizer *tok = load_shared(rel);
    size_t n_inp, n_out;
    snprintf(rel, sizeof rel, "data/vocab/ggml-vocab-%s.gguf.inp", name);
    char *inp = slurp(qp_test_shared_path(path, sizeof path, rel), &n_inp);
    snprintf(rel, sizeof rel, "data/vocab/ggml-vocab-%s.gguf.out", name);
    char *out = slurp(qp_test_shared_path(path, sizeof path, rel), &n_out);
    assert_non_null(inp);
    assert_non_null(out);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    int n_cases = 0, n_failed = 0;
    char *line = out;
    for (size_t pos = 0; pos < n_inp;) {
        const char *next = memmem(inp + pos, n_inp - pos, sep, sep_len);
        size_t len = next ? (size_t)(next - (inp + pos)) : n_inp - pos;
        const char *text = inp + pos;

        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        int32_t want[1024];
        int n_want = 0;
        for (char *p = line; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            assert_true(n_want < 1024);
            want[n_want++] = (int32_t)v;
            p = end;
        }
        line = eol + 1;

        int32_t got[1024];
        int n = qp_tokenize(tok, text, len, false, false, got, 1024);
        assert_true(n >= 0 && n <= 1024);
        if (n != n_want || memcmp(got, want, (size_t)n * sizeof got[0]) != 0) {
            printf("%s: case %d '%.*s': got %d ids, want %d\n", name, n_cases, (int)len, text, n, n_want);
            n_failed++;
        }
        /* And back: byte-level BPE and SPM both give the text again. */
        char back[4096];
        int m = qp_detokenize(tok, got, n, false, back, sizeof back);
        if (m != (int)len || memcmp(back, text, len) != 0) {
            printf("%s: case %d does not round-trip\n", name, n_cases);
            n_failed++;
        }
        n_cases++;
        if (!next)
            break;
        pos = (size_t)(next - inp) + sep_len;
    }
    assert_true((size_t)(line - out) == n_out); /* every line of .out used */
    printf("%s: %d/%d cases pass\n", name, n_cases - n_failed, n_cases);
    assert_int_equal(n_failed, 0);
    free(inp);
    free(out);
    qp_tokenizer_free(tok);
    return n_cases;
}

/* One test per vocabulary (main names them test_vocab_<name>); the
 * state is the vocabulary's name. */
static void test_vocab(void **state)
{
    QP_REQUIRE_SHARED();
    assert_int_equal(run_vocab_file(*state), 46);
}

static void test_vocab_facts(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    qp_tokenizer *tok = load_shared("data/vocab/ggml-vocab-llama-bpe.gguf");
    assert_int_equal(qp_tokenizer_model_of(tok), QP_TOKENIZER_BPE);
    assert_string_equal(qp_tokenizer_pre(tok), "llama-bpe");
    assert_int_equal(qp_tokenizer_n_vocab(tok), 128256);
    assert_int_equal(qp_tokenizer_n_merges(tok), 280147);
    assert_int_equal(qp_tokenizer_bos(tok), 128000);
    assert_int_equal(qp_tokenizer_eos(tok), 128001);
    assert_true(qp_tokenizer_add_bos(tok)); /* llama-bpe's default */
    /* CONTROL tokens only with parse_special. */
    ASSERT_IDS(tok, "<|begin_of_text|>Hi", true, true, 128000, 128000, 13347);
    ASSERT_IDS(tok, "<|eot_id|>", false, true, 128009);
    qp_tokenizer_free(tok);

    tok = load_shared("data/vocab/ggml-vocab-qwen2.gguf");
    /* Qwen2's [PAD151646].. are USER_DEFINED: matched with parse_special off. */
    ASSERT_IDS(tok, "x[PAD151646]", false, false, 87, 151646);
    assert_false(qp_tokenizer_add_bos(tok));
    ASSERT_IDS(tok, "<|im_start|>", false, true, 151644);
    qp_tokenizer_free(tok);
}

static void test_stories260k(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    qp_tokenizer *tok = load_shared("data/models/stories260K.gguf");
    assert_int_equal(qp_tokenizer_model_of(tok), QP_TOKENIZER_SPM);
    assert_int_equal(qp_tokenizer_n_vocab(tok), 512);
    assert_int_equal(qp_tokenizer_bos(tok), 1);
    assert_int_equal(qp_tokenizer_pad(tok), -1); /* stored as 0xFFFFFFFF */
    /* llama2.c's run -i Zoo: BOS, then " Zoo" merged by score: neither
     * "▁Z" nor "Zo" is in this 512-token vocabulary, "oo" is. */
    ASSERT_IDS(tok, "Zoo", true, false, 1, 410, 469, 347);
    static const char *const pieces[] = {"<s>", "\xE2\x96\x81", "Z", "oo"};
    static const int32_t ids[] = {1, 410, 469, 347};
    for (int i = 0; i < 4; i++) {
        size_t len;
        const char *t = qp_token_text(tok, ids[i], &len);
        assert_int_equal(len, strlen(pieces[i]));
        assert_memory_equal(t, pieces[i], len);
    }
    char buf[64];
    assert_int_equal(qp_detokenize(tok, ids, 4, false, buf, sizeof buf), 3);
    assert_string_equal(buf, "Zoo");
    ASSERT_IDS(tok, "Once upon a time", true, false, 1, 403, 407, 261, 378);
    qp_tokenizer_free(tok);
}

/* The whole WikiText-2 test file (1.3 MB) through each vocabulary: the id
 * counts (the BPE ones agree with a Python reference, regex + naive BPE)
 * and the round trip; llama-bpe's time is printed. */
static void run_wikitext(const char *name, int want)
{
    char rel[256], path[1024];
    size_t len;
    char *text = slurp(qp_test_shared_path(path, sizeof path, "data/corpus/wikitext-2-raw/wiki.test.raw"), &len);
    assert_non_null(text);
    snprintf(rel, sizeof rel, "data/vocab/ggml-vocab-%s.gguf", name);
    qp_tokenizer *tok = load_shared(rel);
    int32_t *ids = malloc(len * sizeof *ids);
    assert_non_null(ids);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = qp_tokenize(tok, text, len, false, false, ids, (int)len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("wikitext %s: %zu bytes -> %d tokens in %.3f s (%.2f MB/s)\n", name, len, n, s, len / s / 1e6);
    assert_int_equal(n, want);
    char *back = malloc(len + 1);
    assert_non_null(back);
    assert_int_equal(qp_detokenize(tok, ids, n, false, back, (int)len + 1), (int)len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
    free(text);
    qp_tokenizer_free(tok);
}

static void test_wikitext(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    run_wikitext("llama-bpe", 289076);
    run_wikitext("qwen2", 299078);
    run_wikitext("gpt-2", 286221);
    run_wikitext("llama-spm", 335687);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_score_order),
        cmocka_unit_test(test_detok_stream),
        cmocka_unit_test(test_spm_ties_merge_leftmost),
        cmocka_unit_test(test_merge_heap_order),
        cmocka_unit_test(test_spm_byte_fallback),
        cmocka_unit_test(test_spm_special_tokens),
        cmocka_unit_test(test_spm_pieces_and_detokenize),
        cmocka_unit_test(test_spm_round_trip),
        cmocka_unit_test(test_gpt2_byte_map),
        cmocka_unit_test(test_bpe_merge_order),
        cmocka_unit_test(test_bpe_special_tokens),
        cmocka_unit_test(test_bpe_pieces_and_buffers),
        cmocka_unit_test(test_bpe_round_trip),
        cmocka_unit_test(test_unicode_classes),
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_pretokenizer_splits),
        cmocka_unit_test(test_bad_metadata),
        {"test_vocab_llama_spm", test_vocab, NULL, NULL, "llama-spm"},
        {"test_vocab_llama_bpe", test_vocab, NULL, NULL, "llama-bpe"},
        {"test_vocab_qwen2", test_vocab, NULL, NULL, "qwen2"},
        {"test_vocab_gpt2", test_vocab, NULL, NULL, "gpt-2"},
        cmocka_unit_test(test_vocab_facts),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_wikitext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
