/* tests/test_gguf_malformed.c - the GGUF reader against broken files.
 *
 * One named case per defect (after llama.cpp's tests/test-gguf.cpp): each
 * builds its bytes with a tiny builder, opens them with qp_gguf_open_memory and
 * asserts the status, the byte offset of the bad field (the builder marks it
 * while writing, independently of the reader) and a piece of the message.
 * Then: a valid file cut at every length must fail cleanly each time, the
 * committed corpus tests/malformed/<case>.gguf must fail the same way through
 * qp_gguf_open, and every fuzz regression file must open or fail without harm.
 *
 * Generator mode (run from the repository root):
 *   build/tests/test_gguf_malformed --write-corpus tests/malformed   (committed once)
 *   build/tests/test_gguf_malformed --write-seeds DIR   (valid files, the fuzzer's
 *     seeds: `make fuzz` writes them into build-fuzz/corpus, nothing is committed)
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

#define CORPUS_DIR "tests/malformed"
#define REGRESSION_DIR "tests/fuzz/regressions"

/* ==== byte builder ====================================================== */

typedef struct bb {
    uint8_t *p;      /* [cap] bytes, len used */
    size_t len, cap;
    int64_t bad_at;  /* offset of the defective field, set by the case */
} bb;

static void b_bytes(bb *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void b_u8(bb *b, uint8_t v) { b_bytes(b, &v, 1); }
static void b_u32(bb *b, uint32_t v) { b_bytes(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_bytes(b, &v, 8); }
static void b_str(bb *b, const char *s) { b_u64(b, strlen(s)); b_bytes(b, s, strlen(s)); }
static void b_zeros(bb *b, size_t n) { for (size_t i = 0; i < n; i++) b_u8(b, 0); }
static void b_pad(bb *b, size_t a) { while (b->len % a) b_u8(b, 0); }
static void mark(bb *b) { b->bad_at = (int64_t)b->len; }

static void hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b_bytes(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void kv_u32(bb *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, QP_GGUF_TYPE_UINT32);
    b_u32(b, v);
}

/* Tensor info with up to 4 dims. */
static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}

/* One f32 tensor "t" of 8 elements at offset 0, data padded: a valid tail
 * that cases with metadata defects append so only their defect is wrong. */
static void one_tensor_tail(bb *b)
{
    tinfo(b, "t", 1, (uint64_t[]){8}, 0, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}

/* ==== cases ============================================================= */

/* --- header --- */
static void c_bad_magic(bb *b) { mark(b); b_bytes(b, "GGUX", 4); b_u32(b, 3); b_u64(b, 0); b_u64(b, 0); }
static void c_empty_file(bb *b) { mark(b); (void)b; }
static void c_version_1(bb *b) { b_bytes(b, "GGUF", 4); mark(b); b_u32(b, 1); b_u64(b, 0); b_u64(b, 0); }
static void c_version_4(bb *b) { b_bytes(b, "GGUF", 4); mark(b); b_u32(b, 4); b_u64(b, 0); b_u64(b, 0); }
static void c_big_endian(bb *b)
{
    /* What a big-endian v3 writer produces: every integer byte-swapped. */
    b_bytes(b, "GGUF", 4);
    mark(b);
    b_bytes(b, "\0\0\0\3", 4);
    b_zeros(b, 16);
}
static void c_truncated_header(bb *b) { b_bytes(b, "GGUF", 4); b_u32(b, 3); mark(b); b_u32(b, 0); }
static void c_huge_tensor_count(bb *b)
{
    b_bytes(b, "GGUF", 4);
    b_u32(b, 3);
    mark(b);
    b_u64(b, UINT64_C(1) << 62);
    b_u64(b, 0);
}
static void c_huge_kv_count(bb *b)
{
    b_bytes(b, "GGUF", 4);
    b_u32(b, 3);
    b_u64(b, 0);
    mark(b);
    b_u64(b, UINT64_MAX);
    b_zeros(b, 64);
}

/* --- keys --- */
static void c_huge_key_length(bb *b)
{
    hdr(b, 3, 0, 1);
    mark(b);
    b_u64(b, UINT64_C(1) << 62);
    b_bytes(b, "general.name", 12);
    b_u32(b, QP_GGUF_TYPE_UINT8);
    b_u8(b, 0);
}
static void c_empty_key(bb *b)
{
    hdr(b, 3, 0, 1);
    mark(b);
    b_str(b, "");
    b_u32(b, QP_GGUF_TYPE_UINT8);
    b_u8(b, 7);
    b_zeros(b, 8); /* so the kv count check (>= 14 bytes per kv) passes */
}
static void c_key_too_long(bb *b)
{
    hdr(b, 3, 0, 1);
    mark(b);
    b_u64(b, QP_GGUF_MAX_KEY + 1);
    for (int i = 0; i <= QP_GGUF_MAX_KEY; i++)
        b_u8(b, 'k');
    b_u32(b, QP_GGUF_TYPE_UINT8);
    b_u8(b, 7);
}
static void c_key_with_nul(bb *b)
{
    hdr(b, 3, 0, 1);
    mark(b);
    b_u64(b, 4);
    b_bytes(b, "ab\0c", 4);
    b_u32(b, QP_GGUF_TYPE_UINT8);
    b_u8(b, 7);
}
static void c_duplicate_key(bb *b)
{
    hdr(b, 3, 0, 3);
    kv_u32(b, "llama.block_count", 5);
    kv_u32(b, "llama.embedding_length", 64);
    mark(b);
    kv_u32(b, "llama.block_count", 6);
}

/* --- values --- */
static void c_invalid_value_type(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "general.name");
    mark(b);
    b_u32(b, QP_GGUF_TYPE_COUNT);
    b_u64(b, 0);
}
static void c_truncated_value(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "general.seed");
    b_u32(b, QP_GGUF_TYPE_UINT64);
    mark(b);
    b_u32(b, 0); /* half a u64 */
}
static void c_huge_string_length(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "general.name");
    b_u32(b, QP_GGUF_TYPE_STRING);
    mark(b);
    b_u64(b, UINT64_MAX - 3);
    b_bytes(b, "tiny", 4);
}
static void c_bool_not_0_or_1(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "tokenizer.ggml.add_bos_token");
    b_u32(b, QP_GGUF_TYPE_BOOL);
    mark(b);
    b_u8(b, 2);
}
static void c_invalid_array_type(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "tokenizer.ggml.scores");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    mark(b);
    b_u32(b, 99);
    b_u64(b, 0);
}
static void c_huge_array_count(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "tokenizer.ggml.scores");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u32(b, QP_GGUF_TYPE_FLOAT32);
    mark(b);
    b_u64(b, UINT64_C(1) << 61); /* * 4 bytes would wrap a 64-bit product */
    b_zeros(b, 16);
}
static void c_huge_string_array_count(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "tokenizer.ggml.tokens");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u32(b, QP_GGUF_TYPE_STRING);
    mark(b);
    b_u64(b, 1000000); /* a million strings need at least 8 MB */
    b_str(b, "a");
    b_str(b, "b");
}
static void c_huge_string_in_array(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "tokenizer.ggml.tokens");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u32(b, QP_GGUF_TYPE_STRING);
    b_u64(b, 2);
    b_str(b, "a");
    mark(b);
    b_u64(b, 1000);
    b_bytes(b, "bcd", 3);
}
static void c_bool_array_element(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "flags");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u32(b, QP_GGUF_TYPE_BOOL);
    b_u64(b, 4);
    b_bytes(b, "\1\0", 2);
    mark(b);
    b_bytes(b, "\377\1", 2);
}
static void c_array_too_deep(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "nested");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    /* Levels 1..8 are allowed: each is an array holding one array. */
    for (int d = 1; d <= QP_GGUF_MAX_ARRAY_DEPTH; d++) {
        b_u32(b, QP_GGUF_TYPE_ARRAY);
        b_u64(b, 1);
    }
    mark(b); /* level 9 starts here */
    b_u32(b, QP_GGUF_TYPE_UINT8);
    b_u64(b, 0);
}
static void c_nested_array_truncated(bb *b)
{
    hdr(b, 3, 0, 1);
    b_str(b, "nested");
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u32(b, QP_GGUF_TYPE_ARRAY);
    b_u64(b, 2);
    b_u32(b, QP_GGUF_TYPE_INT16);
    b_u64(b, 1);
    b_bytes(b, "\1\2", 2);
    b_u32(b, QP_GGUF_TYPE_INT16);
    mark(b);
    b_u64(b, 3); /* 6 bytes promised, 2 present */
    b_bytes(b, "\1\2", 2);
}

/* --- general.alignment --- */
static void c_alignment_wrong_type(bb *b)
{
    hdr(b, 3, 1, 1);
    b_str(b, "general.alignment");
    mark(b);
    b_u32(b, QP_GGUF_TYPE_INT32);
    b_u32(b, 64);
    one_tensor_tail(b);
}
static void c_alignment_zero(bb *b)
{
    hdr(b, 3, 1, 1);
    b_str(b, "general.alignment");
    b_u32(b, QP_GGUF_TYPE_UINT32);
    mark(b);
    b_u32(b, 0);
    one_tensor_tail(b);
}
static void c_alignment_not_power_of_two(bb *b)
{
    hdr(b, 3, 1, 1);
    b_str(b, "general.alignment");
    b_u32(b, QP_GGUF_TYPE_UINT32);
    mark(b);
    b_u32(b, 48);
    one_tensor_tail(b);
}

/* --- tensor infos --- */
static void c_tensor_name_empty(bb *b)
{
    hdr(b, 3, 1, 0);
    mark(b);
    tinfo(b, "", 1, (uint64_t[]){8}, 0, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_name_too_long(bb *b)
{
    char name[QP_GGUF_MAX_TENSOR_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    hdr(b, 3, 1, 0);
    mark(b);
    tinfo(b, name, 1, (uint64_t[]){8}, 0, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_name_huge_length(bb *b)
{
    hdr(b, 3, 1, 0);
    mark(b);
    b_u64(b, UINT64_C(1) << 40);
    b_zeros(b, 40);
}
static void c_tensor_n_dims_zero(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    mark(b);
    b_u32(b, 0);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
}
static void c_tensor_n_dims_five(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    mark(b);
    b_u32(b, 5);
    for (int d = 0; d < 5; d++)
        b_u64(b, 1);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_ne_negative(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 2);
    b_u64(b, 8);
    mark(b);
    b_u64(b, (uint64_t)-1);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_nelements_overflow(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 3);
    mark(b); /* reported at ne[0]: the product, not one factor, is wrong */
    b_u64(b, UINT64_C(1) << 32);
    b_u64(b, UINT64_C(1) << 32);
    b_u64(b, 2);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
}
static void c_tensor_row_bytes_overflow(bb *b)
{
    /* 2^62 f32 elements fit int64, 2^64 bytes do not fit size_t. */
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    mark(b);
    b_u64(b, UINT64_C(1) << 62);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
}
static void c_tensor_bytes_overflow(bb *b)
{
    /* 2^31 rows of 2^31 f32: each row fits, the whole is 2^64 bytes. */
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 2);
    mark(b);
    b_u64(b, UINT64_C(1) << 31);
    b_u64(b, UINT64_C(1) << 31);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
}
static void c_tensor_unknown_type(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 32);
    mark(b);
    b_u32(b, 4); /* Q4_2: removed from ggml, no size known */
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_type_out_of_range(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 32);
    mark(b);
    b_u32(b, 0xffffffffu);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_tensor_row_not_block_multiple(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 2);
    mark(b);
    b_u64(b, 48); /* Q4_0 blocks hold 32 weights */
    b_u64(b, 2);
    b_u32(b, QP_TYPE_Q4_0);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 64);
}
static void c_tensor_offset_misaligned(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 8);
    b_u32(b, 0);
    mark(b);
    b_u64(b, 16);
    b_pad(b, 32);
    b_zeros(b, 64);
}
static void c_tensor_data_past_eof(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 64); /* 256 bytes of f32 */
    b_u32(b, 0);
    mark(b);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 100);
}
static void c_tensor_offset_huge(bb *b)
{
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 8);
    b_u32(b, 0);
    mark(b);
    b_u64(b, UINT64_MAX - 31); /* aligned, and offset + nbytes wraps */
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_data_section_past_eof(bb *b)
{
    /* The infos end unaligned and the file ends with them: there is no data
     * section at all for a tensor that needs one. */
    hdr(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 1);
    b_u64(b, 8);
    b_u32(b, 0);
    b_u64(b, 0);
    mark(b);
    b_u8(b, 0);
}
static void c_tensor_overlap(bb *b)
{
    hdr(b, 3, 2, 0);
    tinfo(b, "a", 1, (uint64_t[]){64}, 0, 0); /* [0, 256) */
    tinfo(b, "b", 1, (uint64_t[]){16}, 0, 224);
    mark(b);
    b->bad_at -= 8; /* b's offset field */
    b_pad(b, 32);
    b_zeros(b, 320);
}
static void c_tensor_same_offset(bb *b)
{
    hdr(b, 3, 2, 0);
    tinfo(b, "a", 1, (uint64_t[]){8}, 0, 32);
    tinfo(b, "b", 1, (uint64_t[]){8}, 0, 32);
    mark(b);
    b->bad_at -= 8;
    b_pad(b, 32);
    b_zeros(b, 64);
}
static void c_duplicate_tensor_name(bb *b)
{
    hdr(b, 3, 2, 0);
    tinfo(b, "blk.0.attn_q.weight", 1, (uint64_t[]){8}, 0, 0);
    mark(b);
    tinfo(b, "blk.0.attn_q.weight", 1, (uint64_t[]){8}, 0, 32);
    b_pad(b, 32);
    b_zeros(b, 64);
}
static void c_tensor_name_with_nul(bb *b)
{
    hdr(b, 3, 1, 0);
    mark(b);
    b_u64(b, 3);
    b_bytes(b, "a\0b", 3);
    b_u32(b, 1);
    b_u64(b, 8);
    b_u32(b, 0);
    b_u64(b, 0);
    b_pad(b, 32);
    b_zeros(b, 32);
}
static void c_truncated_tensor_info(bb *b)
{
    hdr(b, 3, 2, 0); /* long first name: the count check alone must pass */
    tinfo(b, "tensor.a.with.a.long.name", 1, (uint64_t[]){8}, 0, 0);
    b_str(b, "b");
    b_u32(b, 2);
    b_u64(b, 8);
    mark(b);
    b_u32(b, 1); /* ne[1] cut in half */
}

typedef struct mcase {
    const char *name;
    void (*build)(bb *b);
    const char *msg;   /* substring of the expected message */
    bool in_corpus;    /* false for the one case too large to commit */
} mcase;

#define CASE(n, m) {#n, c_##n, m, true}
static const mcase cases[] = {
    CASE(bad_magic, "bad magic"),
    CASE(empty_file, "truncated: magic"),
    CASE(version_1, "version 1 is not supported"),
    CASE(version_4, "unsupported GGUF version 4"),
    CASE(big_endian, "big-endian"),
    CASE(truncated_header, "truncated: tensor count"),
    CASE(huge_tensor_count, "tensor count 4611686018427387904 cannot fit"),
    CASE(huge_kv_count, "metadata kv count 18446744073709551615 cannot fit"),
    CASE(huge_key_length, "key length 4611686018427387904 exceeds"),
    CASE(empty_key, "empty key"),
    {"key_too_long", c_key_too_long, "key length 65536 exceeds the limit", false},
    CASE(key_with_nul, "key contains a NUL byte"),
    CASE(duplicate_key, "duplicate key 'llama.block_count'"),
    CASE(invalid_value_type, "invalid value type 13"),
    CASE(truncated_value, "truncated: u64"),
    CASE(huge_string_length, "string value length 18446744073709551612 exceeds"),
    CASE(bool_not_0_or_1, "bool value is 2"),
    CASE(invalid_array_type, "invalid array element type 99"),
    CASE(huge_array_count, "array count 2305843009213693952 of f32 cannot fit"),
    CASE(huge_string_array_count, "array count 1000000 of str cannot fit"),
    CASE(huge_string_in_array, "string element length 1000 exceeds"),
    CASE(bool_array_element, "bool array element 2 is 255"),
    CASE(array_too_deep, "nested deeper than 8"),
    CASE(nested_array_truncated, "array count 3 of i16 cannot fit"),
    CASE(alignment_wrong_type, "general.alignment has type i32, expected u32"),
    CASE(alignment_zero, "general.alignment 0 is not a power of two"),
    CASE(alignment_not_power_of_two, "general.alignment 48 is not a power of two"),
    CASE(tensor_name_empty, "empty tensor name"),
    CASE(tensor_name_too_long, "tensor name length 64 exceeds the limit of 63"),
    CASE(tensor_name_huge_length, "tensor name length 1099511627776 exceeds"),
    CASE(tensor_name_with_nul, "tensor name contains a NUL byte"),
    CASE(tensor_n_dims_zero, "n_dims 0 is not in 1..4"),
    CASE(tensor_n_dims_five, "n_dims 5 is not in 1..4"),
    CASE(tensor_ne_negative, "ne[1] = -1 is negative"),
    CASE(tensor_nelements_overflow, "element count overflows int64"),
    CASE(tensor_row_bytes_overflow, "overflows"),
    CASE(tensor_bytes_overflow, "byte size overflows"),
    CASE(tensor_unknown_type, "unknown tensor type 4"),
    CASE(tensor_type_out_of_range, "unknown tensor type 4294967295"),
    CASE(tensor_row_not_block_multiple, "ne[0] = 48 is not a multiple of q4_0's block size 32"),
    CASE(tensor_offset_misaligned, "offset 16 is not a multiple of the alignment 32"),
    CASE(tensor_data_past_eof, "runs past the end of the data section"),
    CASE(tensor_offset_huge, "runs past the end of the data section"),
    CASE(data_section_past_eof, "past the end of the file"),
    CASE(tensor_overlap, "tensor 'b': data at 224 overlaps tensor 'a'"),
    CASE(tensor_same_offset, "tensor 'b': data at 32 overlaps tensor 'a'"),
    CASE(duplicate_tensor_name, "duplicate tensor name 'blk.0.attn_q.weight'"),
    CASE(truncated_tensor_info, "truncated: tensor dimension"),
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void build_case(const mcase *c, bb *b)
{
    memset(b, 0, sizeof *b);
    b->bad_at = -2; /* a case that forgets mark() fails loudly */
    c->build(b);
}

/* Asserts err is the failure case c predicts for a file called `name`. */
static void assert_case_error(const mcase *c, const bb *b, qp_status st, const qp_error *err,
                              const qp_gguf_file *f, const char *name)
{
    char buf[1200];
    if (st != QP_ERR_INPUT || f)
        fail_msg("%s: expected QP_ERR_INPUT, got status %d (%s)", c->name, (int)st,
                 qp_error_format(err, buf, sizeof buf));
    if (err->offset != b->bad_at)
        fail_msg("%s: expected offset %lld, got %lld (%s)", c->name, (long long)b->bad_at,
                 (long long)err->offset, err->msg);
    if (!strstr(err->msg, c->msg))
        fail_msg("%s: expected message containing \"%s\", got \"%s\"", c->name, c->msg, err->msg);
    assert_string_equal(err->file, name);
}

static void run_case(void **state)
{
    const mcase *c = *state;
    bb b;
    build_case(c, &b);
    /* An exact-size heap copy, so ASan sees any read past the end. */
    void *copy = malloc(b.len ? b.len : 1);
    assert_non_null(copy);
    if (b.len)
        memcpy(copy, b.p, b.len);
    qp_gguf_file *f = (qp_gguf_file *)1;
    qp_error err;
    qp_error_clear(&err);
    qp_status st = qp_gguf_open_memory(copy, b.len, c->name, &f, &err);
    assert_case_error(c, &b, st, &err, f, c->name);
    free(copy);
    free(b.p);
}

/* ==== a valid file exercising every field kind ========================== */

/* Every value type, a string array, a nested array, three tensors (f32,
 * q8_0, f16). The last tensor's size is a multiple of the alignment, so no
 * proper prefix of the file is itself a valid file. */
static void build_valid(bb *b, uint32_t alignment)
{
    memset(b, 0, sizeof *b);
    uint64_t n_kv = 17 + (alignment != 32);
    hdr(b, 3, 3, n_kv);
    if (alignment != 32)
        kv_u32(b, "general.alignment", alignment);
    b_str(b, "general.architecture"); b_u32(b, QP_GGUF_TYPE_STRING); b_str(b, "llama");
    b_str(b, "v.u8"); b_u32(b, QP_GGUF_TYPE_UINT8); b_u8(b, 200);
    b_str(b, "v.i8"); b_u32(b, QP_GGUF_TYPE_INT8); b_u8(b, 0x80);
    b_str(b, "v.u16"); b_u32(b, QP_GGUF_TYPE_UINT16); b_bytes(b, "\xff\xff", 2);
    b_str(b, "v.i16"); b_u32(b, QP_GGUF_TYPE_INT16); b_bytes(b, "\x00\x80", 2);
    kv_u32(b, "v.u32", 4000000000u);
    b_str(b, "v.i32"); b_u32(b, QP_GGUF_TYPE_INT32); b_u32(b, (uint32_t)-5);
    b_str(b, "v.f32"); b_u32(b, QP_GGUF_TYPE_FLOAT32); { float x = 1.5f; b_bytes(b, &x, 4); }
    b_str(b, "v.bool"); b_u32(b, QP_GGUF_TYPE_BOOL); b_u8(b, 1);
    b_str(b, "v.u64"); b_u32(b, QP_GGUF_TYPE_UINT64); b_u64(b, UINT64_MAX);
    b_str(b, "v.i64"); b_u32(b, QP_GGUF_TYPE_INT64); b_u64(b, (uint64_t)INT64_MIN);
    b_str(b, "v.f64"); b_u32(b, QP_GGUF_TYPE_FLOAT64); { double x = -2.25; b_bytes(b, &x, 8); }
    b_str(b, "v.empty_str"); b_u32(b, QP_GGUF_TYPE_STRING); b_str(b, "");
    b_str(b, "v.tokens"); b_u32(b, QP_GGUF_TYPE_ARRAY); b_u32(b, QP_GGUF_TYPE_STRING); b_u64(b, 3);
    b_str(b, "<s>"); b_str(b, ""); b_str(b, "\xe2\x96\x81the");
    b_str(b, "v.scores"); b_u32(b, QP_GGUF_TYPE_ARRAY); b_u32(b, QP_GGUF_TYPE_FLOAT32); b_u64(b, 2);
    { float s[2] = {-1.0f, 0.25f}; b_bytes(b, s, 8); }
    b_str(b, "v.flags"); b_u32(b, QP_GGUF_TYPE_ARRAY); b_u32(b, QP_GGUF_TYPE_BOOL); b_u64(b, 3);
    b_bytes(b, "\1\0\1", 3);
    /* [[1, 2], [], [["x"]]] as i16 / str leaves */
    b_str(b, "v.nested"); b_u32(b, QP_GGUF_TYPE_ARRAY); b_u32(b, QP_GGUF_TYPE_ARRAY); b_u64(b, 3);
    b_u32(b, QP_GGUF_TYPE_INT16); b_u64(b, 2); b_bytes(b, "\1\0\2\0", 4);
    b_u32(b, QP_GGUF_TYPE_UINT8); b_u64(b, 0);
    b_u32(b, QP_GGUF_TYPE_ARRAY); b_u64(b, 1); b_u32(b, QP_GGUF_TYPE_STRING); b_u64(b, 1); b_str(b, "x");
    uint64_t a = alignment;
    uint64_t off_b = (64 + a - 1) / a * a, off_c = off_b + (34 + a - 1) / a * a;
    tinfo(b, "tensor.f32", 2, (uint64_t[]){8, 2}, QP_TYPE_F32, 0);    /* 64 bytes */
    tinfo(b, "tensor.q8_0", 1, (uint64_t[]){32}, QP_TYPE_Q8_0, off_b); /* 34 bytes */
    tinfo(b, "tensor.f16", 3, (uint64_t[]){a / 2, 1, 1}, QP_TYPE_F16, off_c); /* a bytes */
    b_pad(b, a);
    size_t data = b->len;
    for (int i = 0; i < 64; i++)
        b_u8(b, (uint8_t)i);
    while (b->len < data + off_b) b_u8(b, 0);
    for (int i = 0; i < 34; i++)
        b_u8(b, (uint8_t)(100 + i));
    while (b->len < data + off_c) b_u8(b, 0);
    for (uint64_t i = 0; i < a; i++)
        b_u8(b, (uint8_t)(200 + i));
}

static void test_valid_file_reads(void **state)
{
    (void)state;
    bb b;
    build_valid(&b, 32);
    qp_gguf_file *f = NULL;
    qp_error err;
    assert_int_equal(qp_gguf_open_memory(b.p, b.len, "valid", &f, &err), QP_OK);
    assert_int_equal(qp_gguf_n_kv(f), 17);
    assert_int_equal(qp_gguf_n_tensors(f), 3);
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    uint64_t u64; int64_t i64; float f32; double f64; bool bo; qp_gguf_string s;
    assert_int_equal(qp_gguf_get_u8(f, "v.u8", &u8), QP_GGUF_FOUND); assert_int_equal(u8, 200);
    assert_int_equal(qp_gguf_get_i8(f, "v.i8", &i8), QP_GGUF_FOUND); assert_int_equal(i8, -128);
    assert_int_equal(qp_gguf_get_u16(f, "v.u16", &u16), QP_GGUF_FOUND); assert_int_equal(u16, 65535);
    assert_int_equal(qp_gguf_get_i16(f, "v.i16", &i16), QP_GGUF_FOUND); assert_int_equal(i16, -32768);
    assert_int_equal(qp_gguf_get_u32(f, "v.u32", &u32), QP_GGUF_FOUND); assert_true(u32 == 4000000000u);
    assert_int_equal(qp_gguf_get_i32(f, "v.i32", &i32), QP_GGUF_FOUND); assert_int_equal(i32, -5);
    assert_int_equal(qp_gguf_get_u64(f, "v.u64", &u64), QP_GGUF_FOUND); assert_true(u64 == UINT64_MAX);
    assert_int_equal(qp_gguf_get_i64(f, "v.i64", &i64), QP_GGUF_FOUND); assert_true(i64 == INT64_MIN);
    assert_int_equal(qp_gguf_get_f32(f, "v.f32", &f32), QP_GGUF_FOUND); assert_true(f32 == 1.5f);
    assert_int_equal(qp_gguf_get_f64(f, "v.f64", &f64), QP_GGUF_FOUND); assert_true(f64 == -2.25);
    assert_int_equal(qp_gguf_get_bool(f, "v.bool", &bo), QP_GGUF_FOUND); assert_true(bo);
    assert_int_equal(qp_gguf_get_str(f, "v.empty_str", &s), QP_GGUF_FOUND); assert_int_equal(s.len, 0);
    assert_string_equal(s.data, "");
    /* Wrong types and absent keys. */
    assert_int_equal(qp_gguf_get_u32(f, "v.i32", &u32), QP_GGUF_WRONG_TYPE);
    assert_int_equal(qp_gguf_get_u32(f, "no.such.key", &u32), QP_GGUF_NOT_FOUND);
    /* Lenient integers: u64 max does not fit, u32 in range does. */
    assert_int_equal(qp_gguf_get_int(f, "v.u64", INT64_MIN, INT64_MAX, &i64), QP_GGUF_OUT_OF_RANGE);
    assert_int_equal(qp_gguf_get_int(f, "v.u32", 0, INT32_MAX, &i64), QP_GGUF_OUT_OF_RANGE);
    assert_int_equal(qp_gguf_get_int(f, "v.i8", -200, 0, &i64), QP_GGUF_FOUND);
    assert_int_equal(i64, -128);
    assert_int_equal(qp_gguf_get_int(f, "v.f32", 0, 10, &i64), QP_GGUF_WRONG_TYPE);
    /* Arrays. */
    const qp_gguf_array *a, *inner;
    assert_int_equal(qp_gguf_get_arr(f, "v.tokens", &a), QP_GGUF_FOUND);
    assert_int_equal(a->count, 3);
    assert_int_equal(qp_gguf_array_get_str(a, 2, &s), QP_GGUF_FOUND);
    assert_string_equal(s.data, "\xe2\x96\x81the");
    assert_int_equal(qp_gguf_array_get_str(a, 3, &s), QP_GGUF_NOT_FOUND);
    assert_int_equal(qp_gguf_array_get_int(a, 0, &i64), QP_GGUF_WRONG_TYPE);
    assert_int_equal(qp_gguf_get_arr(f, "v.scores", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_float(a, 1, &f64), QP_GGUF_FOUND);
    assert_true(f64 == 0.25);
    assert_int_equal(qp_gguf_get_arr(f, "v.flags", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(a, 1, &i64), QP_GGUF_FOUND);
    assert_int_equal(i64, 0);
    assert_int_equal(qp_gguf_get_arr(f, "v.nested", &a), QP_GGUF_FOUND);
    assert_int_equal(a->type, QP_GGUF_TYPE_ARRAY);
    assert_int_equal(qp_gguf_array_get_arr(a, 0, &inner), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(inner, 1, &i64), QP_GGUF_FOUND);
    assert_int_equal(i64, 2);
    assert_int_equal(qp_gguf_array_get_arr(a, 1, &inner), QP_GGUF_FOUND);
    assert_int_equal(inner->count, 0);
    assert_int_equal(qp_gguf_array_get_arr(a, 2, &inner), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_arr(inner, 0, &inner), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_str(inner, 0, &s), QP_GGUF_FOUND);
    assert_string_equal(s.data, "x");
    /* Tensors: data points at the bytes written. */
    const qp_gguf_tensor_info *t = qp_gguf_find_tensor(f, "tensor.q8_0");
    assert_non_null(t);
    assert_int_equal(t->type, QP_TYPE_Q8_0);
    assert_int_equal(t->nbytes, 34);
    assert_int_equal(t->offset, 64);
    assert_int_equal(((const uint8_t *)t->data)[0], 100);
    assert_int_equal((const uint8_t *)t->data - b.p, qp_gguf_data_offset(f) + 64);
    t = qp_gguf_tensor(f, 2);
    assert_string_equal(t->name, "tensor.f16");
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[0], 16);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->nbytes, 32);
    assert_null(qp_gguf_tensor(f, 3));
    assert_null(qp_gguf_find_tensor(f, "tensor"));
    qp_gguf_close(f);

    /* Version 2 has the same little-endian layout: accepted as such. */
    b.p[4] = 2;
    assert_int_equal(qp_gguf_open_memory(b.p, b.len, "v2", &f, &err), QP_OK);
    assert_int_equal(qp_gguf_version(f), 2);
    assert_int_equal(qp_gguf_n_tensors(f), 3);
    qp_gguf_close(f);
    free(b.p);

    /* No tensors and no padding after the last kv (llama.cpp's vocab-only
     * files end like this): legal, nothing lives in the data section. */
    memset(&b, 0, sizeof b);
    hdr(&b, 3, 0, 1);
    kv_u32(&b, "llama.vocab_size", 3);
    assert_true(b.len % 32 != 0);
    assert_int_equal(qp_gguf_open_memory(b.p, b.len, "vocab", &f, &err), QP_OK);
    assert_int_equal(qp_gguf_data_offset(f), 64);
    assert_int_equal(qp_gguf_file_size(f), b.len);
    qp_gguf_close(f);
    free(b.p);
}

/* Cut the valid file at every length; each prefix must fail cleanly with an
 * offset inside the prefix. Each prefix is an exact-size heap copy so ASan
 * flags any byte read past it. Done for two alignments. */
static void test_truncated_at_every_length(void **state)
{
    (void)state;
    for (uint32_t align = 32; align <= 64; align += 32) {
        bb b;
        build_valid(&b, align);
        qp_gguf_file *f = NULL;
        qp_error err;
        assert_int_equal(qp_gguf_open_memory(b.p, b.len, "full", &f, &err), QP_OK);
        assert_int_equal(qp_gguf_alignment(f), align);
        qp_gguf_close(f);
        for (size_t len = 0; len < b.len; len++) {
            uint8_t *copy = malloc(len ? len : 1);
            assert_non_null(copy);
            memcpy(copy, b.p, len);
            f = (qp_gguf_file *)1;
            qp_error_clear(&err);
            qp_status st = qp_gguf_open_memory(copy, len, "prefix", &f, &err);
            if (st != QP_ERR_INPUT || f != NULL)
                fail_msg("prefix of %zu/%zu bytes (alignment %u): status %d", len, b.len, align,
                         (int)st);
            if (err.offset < 0 || (uint64_t)err.offset > len)
                fail_msg("prefix of %zu bytes: offset %lld outside the file (%s)", len,
                         (long long)err.offset, err.msg);
            assert_true(err.msg[0] != '\0');
            assert_string_equal(err.file, "prefix");
            free(copy);
        }
        free(b.p);
    }
}

/* ==== corpus files ====================================================== */

static int write_file(const char *dir, const char *name, const bb *b)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b->p, 1, b->len, fp) != b->len || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* The committed files must fail through the path API exactly as built. */
static void test_corpus_files(void **state)
{
    (void)state;
    int n = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        const mcase *c = &cases[i];
        if (!c->in_corpus)
            continue;
        char path[512];
        snprintf(path, sizeof path, CORPUS_DIR "/%s.gguf", c->name);
        bb b;
        build_case(c, &b);
        qp_gguf_file *f = (qp_gguf_file *)1;
        qp_error err;
        qp_status st = qp_gguf_open(path, &f, &err);
        if (st == QP_ERR_INPUT && strstr(err.msg, "cannot open"))
            fail_msg("%s missing: regenerate with --write-corpus " CORPUS_DIR, path);
        assert_case_error(c, &b, st, &err, f, path);
        free(b.p);
        n++;
    }
    assert_true(n >= 40);
}

/* Every crash the fuzzer ever found stays here; each must now open or fail
 * with an input error, without a sanitizer report. An absent folder is fine. */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    DIR *d = opendir(REGRESSION_DIR);
    if (!d) {
        printf("no " REGRESSION_DIR "\n");
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, REGRESSION_DIR "/%s", e->d_name);
        qp_gguf_file *f = NULL;
        qp_error err;
        qp_status st = qp_gguf_open(path, &f, &err);
        if (st != QP_OK && st != QP_ERR_INPUT)
            fail_msg("%s: status %d (%s)", path, (int)st, err.msg);
        qp_gguf_close(f);
    }
    closedir(d);
}

static void test_open_missing_file(void **state)
{
    (void)state;
    qp_gguf_file *f = (qp_gguf_file *)1;
    qp_error err;
    assert_int_equal(qp_gguf_open("tests/malformed/no-such-file.gguf", &f, &err), QP_ERR_INPUT);
    assert_null(f);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_equal(qp_gguf_open("tests", &f, &err), QP_ERR_INPUT); /* a directory */
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* ==== main ============================================================== */

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
        int bad = 0;
        for (size_t i = 0; i < N_CASES; i++) {
            if (!cases[i].in_corpus)
                continue;
            bb b;
            build_case(&cases[i], &b);
            bad |= write_file(argv[2], cases[i].name, &b);
            free(b.p);
        }
        return bad;
    }
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        bb b;
        build_valid(&b, 32);
        int bad = write_file(argv[2], "valid_align32", &b);
        free(b.p);
        build_valid(&b, 64);
        bad |= write_file(argv[2], "valid_align64", &b);
        free(b.p);
        return bad;
    }

    /* One cmocka test per defect, named after it, then the sweeps. */
    struct CMUnitTest tests[N_CASES + 6];
    size_t n = 0;
    for (size_t i = 0; i < N_CASES; i++)
        tests[n++] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
    const struct CMUnitTest more[] = {
        cmocka_unit_test(test_valid_file_reads),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_corpus_files),
        cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_open_missing_file),
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        tests[n++] = more[i];
    return _cmocka_run_group_tests("gguf_malformed", tests, n, NULL, NULL);
}
