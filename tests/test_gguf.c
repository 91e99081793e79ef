/* tests/test_gguf.c - GGUF writer -> reader round trips, atomic writes, and
 * the real files in ../shared (stories260K, the llama.cpp vocab files).
 *
 * Malformed input is tests/test_gguf_malformed.c's job; here every file is
 * valid and the question is whether what comes back is exactly what went in.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "quant/quant.h"
#include "tests/shared.h"

/* ==== helpers =========================================================== */

/* A fresh directory under /tmp per test, removed (with its files) after. */
static char g_dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/qp_test_gguf_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            if (remove(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    return rmdir(g_dir);
}

static const char *in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

/* Deterministic bytes (xorshift) so tensor contents differ per tensor. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Deep equality of two values: same type, same bits. */
static bool value_equal(const qp_gguf_value *a, const qp_gguf_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case QP_GGUF_TYPE_STRING:
        return a->str.len == b->str.len && memcmp(a->str.data, b->str.data, a->str.len) == 0;
    case QP_GGUF_TYPE_BOOL:
        return a->b == b->b;
    case QP_GGUF_TYPE_ARRAY: {
        const qp_gguf_array *x = &a->arr, *y = &b->arr;
        if (x->type != y->type || x->count != y->count)
            return false;
        for (uint64_t i = 0; i < x->count; i++) {
            if (x->type == QP_GGUF_TYPE_STRING) {
                qp_gguf_value s = {.type = QP_GGUF_TYPE_STRING, .str = x->strs[i]};
                qp_gguf_value t = {.type = QP_GGUF_TYPE_STRING, .str = y->strs[i]};
                if (!value_equal(&s, &t))
                    return false;
            } else if (x->type == QP_GGUF_TYPE_ARRAY) {
                if (!value_equal(&x->arrs[i], &y->arrs[i]))
                    return false;
            }
        }
        if (x->type != QP_GGUF_TYPE_STRING && x->type != QP_GGUF_TYPE_ARRAY && x->count)
            return memcmp(x->data, y->data, x->count * qp_gguf_type_size(x->type)) == 0;
        return true;
    }
    default:
        /* Bit equality (NaN-safe): the value lives at the union's start. */
        return memcmp(&a->u8, &b->u8, qp_gguf_type_size(a->type)) == 0;
    }
}

/* Asserts f and g hold the same keys (same order), values and tensor bytes. */
static void assert_same_content(const qp_gguf_file *f, const qp_gguf_file *g)
{
    assert_int_equal(qp_gguf_n_kv(f), qp_gguf_n_kv(g));
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++) {
        assert_string_equal(qp_gguf_kv_key(f, i), qp_gguf_kv_key(g, i));
        if (!value_equal(qp_gguf_kv_value(f, i), qp_gguf_kv_value(g, i)))
            fail_msg("value of '%s' differs", qp_gguf_kv_key(f, i));
    }
    assert_int_equal(qp_gguf_n_tensors(f), qp_gguf_n_tensors(g));
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *a = qp_gguf_tensor(f, i), *b = qp_gguf_tensor(g, i);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->n_dims, b->n_dims);
        for (int d = 0; d < QP_GGUF_MAX_DIMS; d++)
            assert_int_equal(a->ne[d], b->ne[d]);
        assert_int_equal(a->nbytes, b->nbytes);
        if (memcmp(a->data, b->data, a->nbytes) != 0)
            fail_msg("data of tensor '%s' differs", a->name);
    }
}

/* ==== synthetic round trip ============================================== */

typedef struct synth_tensor {
    const char *name;
    int type;
    uint32_t n_dims;
    int64_t ne[4];
    size_t nbytes;     /* what the type and shape imply, computed by hand */
} synth_tensor;

/* Sizes by hand from the block layouts: f32 4 B; f16 2 B; q8_0 34 B per 32;
 * q4_K 144 B per 256; q4_0 18 B per 32; q6_K 210 B per 256. */
static const synth_tensor synth[] = {
    {"token_embd.weight", QP_TYPE_F32, 2, {8, 3, 1, 1}, 96},
    {"output_norm.weight", QP_TYPE_F16, 1, {16, 1, 1, 1}, 32},
    {"blk.0.attn_q.weight", QP_TYPE_Q8_0, 2, {64, 2, 1, 1}, 136},
    {"blk.0.ffn_up.weight", QP_TYPE_Q4_K, 2, {256, 2, 1, 1}, 288},
    {"blk.0.ffn_down.weight", QP_TYPE_Q4_0, 4, {32, 1, 2, 3}, 108},
    {"blk.0.ffn_gate.weight", QP_TYPE_Q6_K, 2, {512, 1, 1, 1}, 420},
    {"empty", QP_TYPE_F32, 2, {0, 5, 1, 1}, 0},
};
#define N_SYNTH (sizeof synth / sizeof synth[0])

static uint8_t synth_data[N_SYNTH][512];

/* [[1,2,3], [], [[-1], [7, 8]]] of i32, plus one array of string arrays. */
static const int32_t nest_a[] = {1, 2, 3}, nest_c0[] = {-1}, nest_c1[] = {7, 8};
static const qp_gguf_string nest_strs[] = {{"x", 1}, {"yz", 2}};

static qp_gguf_writer *build_synthetic(uint32_t alignment)
{
    qp_gguf_writer *w = qp_gguf_writer_new();
    assert_non_null(w);
    if (alignment)
        assert_int_equal(qp_gguf_writer_set_alignment(w, alignment), QP_OK);
    assert_int_equal(qp_gguf_writer_set_str(w, "general.architecture", "llama"), QP_OK);
    qp_gguf_writer_set_u8(w, "t.u8", 250);
    qp_gguf_writer_set_i8(w, "t.i8", -100);
    qp_gguf_writer_set_u16(w, "t.u16", 60000);
    qp_gguf_writer_set_i16(w, "t.i16", -30000);
    qp_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    qp_gguf_writer_set_i32(w, "t.i32", -2000000000);
    qp_gguf_writer_set_u64(w, "t.u64", UINT64_C(18000000000000000000));
    qp_gguf_writer_set_i64(w, "t.i64", INT64_C(-9000000000000000000));
    qp_gguf_writer_set_f32(w, "t.f32", 3.25f);
    qp_gguf_writer_set_f64(w, "t.f64", 1e300);
    qp_gguf_writer_set_bool(w, "t.bool", true);
    qp_gguf_writer_set_strn(w, "t.bytes", "a\0b", 3); /* NUL inside a string value */
    qp_gguf_writer_set_str(w, "t.empty", "");
    static const float scores[] = {0.5f, -1.0f, 2.0f};
    static const uint8_t flags[] = {1, 0, 1, 1};
    static const int64_t big[] = {INT64_MIN, 0, INT64_MAX};
    static const uint16_t u16s[] = {1, 65535};
    static const double f64s[] = {0.1, -0.2};
    qp_gguf_writer_set_arr_data(w, "t.scores", QP_GGUF_TYPE_FLOAT32, scores, 3);
    qp_gguf_writer_set_arr_data(w, "t.flags", QP_GGUF_TYPE_BOOL, flags, 4);
    qp_gguf_writer_set_arr_data(w, "t.i64s", QP_GGUF_TYPE_INT64, big, 3);
    qp_gguf_writer_set_arr_data(w, "t.u16s", QP_GGUF_TYPE_UINT16, u16s, 2);
    qp_gguf_writer_set_arr_data(w, "t.f64s", QP_GGUF_TYPE_FLOAT64, f64s, 2);
    qp_gguf_writer_set_arr_data(w, "t.no_u8", QP_GGUF_TYPE_UINT8, NULL, 0);
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81hello", ""};
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);

    qp_gguf_value c[2] = {
        {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_INT32, .count = 1, .data = nest_c0}},
        {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_INT32, .count = 2, .data = nest_c1}},
    };
    qp_gguf_value top[3] = {
        {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_INT32, .count = 3, .data = nest_a}},
        {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_INT32, .count = 0}},
        {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_ARRAY, .count = 2, .arrs = c}},
    };
    qp_gguf_value nested = {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_ARRAY, .count = 3, .arrs = top}};
    assert_int_equal(qp_gguf_writer_set_value(w, "t.nested", &nested), QP_OK);
    qp_gguf_value sa = {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_STRING, .count = 2, .strs = nest_strs}};
    qp_gguf_value sarr = {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_ARRAY, .count = 1, .arrs = &sa}};
    assert_int_equal(qp_gguf_writer_set_value(w, "t.nested_str", &sarr), QP_OK);

    /* Replace keeps the first position; remove drops it. */
    qp_gguf_writer_set_u32(w, "t.replaced", 1);
    qp_gguf_writer_set_str(w, "t.removed", "gone");
    qp_gguf_writer_set_u32(w, "t.replaced", 2);
    assert_true(qp_gguf_writer_remove(w, "t.removed"));
    assert_false(qp_gguf_writer_remove(w, "t.removed"));

    for (size_t i = 0; i < N_SYNTH; i++) {
        fill(synth_data[i], sizeof synth_data[i], (uint32_t)i + 1);
        assert_int_equal(qp_row_size(synth[i].type, synth[i].ne[0]) * (size_t)(synth[i].ne[1] *
                         synth[i].ne[2] * synth[i].ne[3]), synth[i].nbytes);
        qp_status st = qp_gguf_writer_add_tensor(w, synth[i].name, synth[i].type, synth[i].n_dims,
                                              synth[i].ne, synth_data[i], synth[i].nbytes);
        assert_int_equal(st, QP_OK);
    }
    return w;
}

static void check_synthetic(const qp_gguf_file *f, uint32_t alignment)
{
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    uint64_t u64; int64_t i64; float f32; double f64; bool b; qp_gguf_string s;
    const qp_gguf_array *a, *in, *in2;
    assert_int_equal(qp_gguf_version(f), 3);
    assert_int_equal(qp_gguf_alignment(f), alignment);
    assert_int_equal(qp_gguf_data_offset(f) % alignment, 0);
    assert_int_equal(qp_gguf_file_size(f) % alignment, 0);
    /* alignment key (if set) + architecture + 13 scalars/strings + 6 numeric arrays + tokens
     * + 2 nested + replaced */
    assert_int_equal(qp_gguf_n_kv(f), (alignment != 32) + 1 + 13 + 6 + 1 + 2 + 1);
    assert_string_equal(qp_gguf_kv_key(f, alignment != 32), "general.architecture");
    assert_int_equal(qp_gguf_get_u8(f, "t.u8", &u8), QP_GGUF_FOUND); assert_int_equal(u8, 250);
    assert_int_equal(qp_gguf_get_i8(f, "t.i8", &i8), QP_GGUF_FOUND); assert_int_equal(i8, -100);
    assert_int_equal(qp_gguf_get_u16(f, "t.u16", &u16), QP_GGUF_FOUND); assert_int_equal(u16, 60000);
    assert_int_equal(qp_gguf_get_i16(f, "t.i16", &i16), QP_GGUF_FOUND); assert_int_equal(i16, -30000);
    assert_int_equal(qp_gguf_get_u32(f, "t.u32", &u32), QP_GGUF_FOUND); assert_true(u32 == 4000000000u);
    assert_int_equal(qp_gguf_get_i32(f, "t.i32", &i32), QP_GGUF_FOUND); assert_int_equal(i32, -2000000000);
    assert_int_equal(qp_gguf_get_u64(f, "t.u64", &u64), QP_GGUF_FOUND);
    assert_true(u64 == UINT64_C(18000000000000000000));
    assert_int_equal(qp_gguf_get_i64(f, "t.i64", &i64), QP_GGUF_FOUND);
    assert_true(i64 == INT64_C(-9000000000000000000));
    assert_int_equal(qp_gguf_get_f32(f, "t.f32", &f32), QP_GGUF_FOUND); assert_true(f32 == 3.25f);
    assert_int_equal(qp_gguf_get_f64(f, "t.f64", &f64), QP_GGUF_FOUND); assert_true(f64 == 1e300);
    assert_int_equal(qp_gguf_get_bool(f, "t.bool", &b), QP_GGUF_FOUND); assert_true(b);
    assert_int_equal(qp_gguf_get_str(f, "t.bytes", &s), QP_GGUF_FOUND);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.data, "a\0b", 4); /* and the reader's NUL after it */
    assert_int_equal(qp_gguf_get_str(f, "t.empty", &s), QP_GGUF_FOUND); assert_int_equal(s.len, 0);
    assert_int_equal(qp_gguf_get_u32(f, "t.replaced", &u32), QP_GGUF_FOUND); assert_int_equal(u32, 2);
    assert_int_equal(qp_gguf_find_key(f, "t.removed"), -1);
    /* replaced kept its first position: right after the nested arrays */
    assert_int_equal(qp_gguf_find_key(f, "t.replaced"), qp_gguf_find_key(f, "t.nested_str") + 1);
    assert_int_equal(qp_gguf_get_float(f, "t.f32", &f64), QP_GGUF_FOUND); assert_true(f64 == 3.25);

    assert_int_equal(qp_gguf_get_arr(f, "t.scores", &a), QP_GGUF_FOUND);
    assert_int_equal(a->type, QP_GGUF_TYPE_FLOAT32); assert_int_equal(a->count, 3);
    assert_int_equal(qp_gguf_array_get_float(a, 1, &f64), QP_GGUF_FOUND); assert_true(f64 == -1.0);
    assert_int_equal(qp_gguf_get_arr(f, "t.flags", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(a, 3, &i64), QP_GGUF_FOUND); assert_int_equal(i64, 1);
    assert_int_equal(qp_gguf_array_get_int(a, 1, &i64), QP_GGUF_FOUND); assert_int_equal(i64, 0);
    assert_int_equal(qp_gguf_get_arr(f, "t.i64s", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(a, 0, &i64), QP_GGUF_FOUND); assert_true(i64 == INT64_MIN);
    assert_int_equal(qp_gguf_array_get_int(a, 2, &i64), QP_GGUF_FOUND); assert_true(i64 == INT64_MAX);
    assert_int_equal(qp_gguf_get_arr(f, "t.u16s", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(a, 1, &i64), QP_GGUF_FOUND); assert_int_equal(i64, 65535);
    assert_int_equal(qp_gguf_get_arr(f, "t.f64s", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_float(a, 1, &f64), QP_GGUF_FOUND); assert_true(f64 == -0.2);
    assert_int_equal(qp_gguf_get_arr(f, "t.no_u8", &a), QP_GGUF_FOUND);
    assert_int_equal(a->type, QP_GGUF_TYPE_UINT8); assert_int_equal(a->count, 0);
    assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.tokens", &a), QP_GGUF_FOUND);
    assert_int_equal(a->count, 5);
    assert_int_equal(qp_gguf_array_get_str(a, 3, &s), QP_GGUF_FOUND);
    assert_string_equal(s.data, "\xe2\x96\x81hello");
    assert_int_equal(qp_gguf_array_get_str(a, 4, &s), QP_GGUF_FOUND); assert_int_equal(s.len, 0);

    assert_int_equal(qp_gguf_get_arr(f, "t.nested", &a), QP_GGUF_FOUND);
    assert_int_equal(a->type, QP_GGUF_TYPE_ARRAY); assert_int_equal(a->count, 3);
    assert_int_equal(qp_gguf_array_get_arr(a, 0, &in), QP_GGUF_FOUND);
    assert_int_equal(in->count, 3);
    assert_int_equal(qp_gguf_array_get_int(in, 2, &i64), QP_GGUF_FOUND); assert_int_equal(i64, 3);
    assert_int_equal(qp_gguf_array_get_arr(a, 1, &in), QP_GGUF_FOUND);
    assert_int_equal(in->type, QP_GGUF_TYPE_INT32); assert_int_equal(in->count, 0);
    assert_int_equal(qp_gguf_array_get_arr(a, 2, &in), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_arr(in, 1, &in2), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(in2, 1, &i64), QP_GGUF_FOUND); assert_int_equal(i64, 8);
    assert_int_equal(qp_gguf_array_get_arr(in, 0, &in2), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_int(in2, 0, &i64), QP_GGUF_FOUND); assert_int_equal(i64, -1);
    assert_int_equal(qp_gguf_array_get_arr(in, 2, &in2), QP_GGUF_NOT_FOUND);
    assert_int_equal(qp_gguf_get_arr(f, "t.nested_str", &a), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_arr(a, 0, &in), QP_GGUF_FOUND);
    assert_int_equal(qp_gguf_array_get_str(in, 1, &s), QP_GGUF_FOUND); assert_string_equal(s.data, "yz");

    assert_int_equal(qp_gguf_n_tensors(f), N_SYNTH);
    const uint8_t *base = qp_gguf_file_data(f);
    for (size_t i = 0; i < N_SYNTH; i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, (int64_t)i);
        assert_ptr_equal(qp_gguf_find_tensor(f, synth[i].name), t);
        assert_int_equal(qp_gguf_find_tensor_index(f, synth[i].name), (int64_t)i);
        assert_string_equal(t->name, synth[i].name);
        assert_int_equal(t->type, synth[i].type);
        assert_int_equal(t->n_dims, synth[i].n_dims);
        for (int d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], synth[i].ne[d]);
        assert_int_equal(t->nbytes, synth[i].nbytes);
        assert_int_equal(t->offset % alignment, 0);
        assert_int_equal((size_t)((const uint8_t *)t->data - base) % alignment, 0);
        assert_memory_equal(t->data, synth_data[i], synth[i].nbytes);
        assert_int_equal(qp_gguf_tensor_nelements(t), synth[i].ne[0] * synth[i].ne[1] * synth[i].ne[2] * synth[i].ne[3]);
    }
}

static void test_synthetic_round_trip(void **state)
{
    (void)state;
    const uint32_t aligns[] = {32, 64, 4096};
    for (size_t k = 0; k < 3; k++) {
        qp_gguf_writer *w = build_synthetic(aligns[k] == 32 ? 0 : aligns[k]);
        char path[512];
        in_dir(path, sizeof path, "synth.gguf");
        qp_error err;
        assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_OK);
        /* Memory and file outputs are the same bytes. */
        void *mem;
        size_t size;
        assert_int_equal(qp_gguf_writer_write_memory(w, &mem, &size, &err), QP_OK);
        qp_gguf_writer_free(w); /* the file must not depend on the writer */

        qp_gguf_file *f = NULL, *g = NULL;
        assert_int_equal(qp_gguf_open(path, &f, &err), QP_OK);
        check_synthetic(f, aligns[k]);
        assert_int_equal(qp_gguf_file_size(f), size);
        assert_memory_equal(qp_gguf_file_data(f), mem, size);
        assert_int_equal(qp_gguf_open_memory(mem, size, "mem", &g, &err), QP_OK);
        assert_same_content(f, g);

        /* Copying every key and tensor gives the same file again, byte for byte. */
        qp_gguf_writer *w2 = qp_gguf_writer_new();
        for (int64_t i = 0; i < qp_gguf_n_kv(f); i++)
            assert_int_equal(qp_gguf_writer_copy_kv(w2, f, i), QP_OK);
        for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
            const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
            assert_int_equal(qp_gguf_writer_add_tensor(w2, t->name, t->type, t->n_dims, t->ne,
                                                    t->data, t->nbytes), QP_OK);
        }
        void *mem2;
        size_t size2;
        assert_int_equal(qp_gguf_writer_write_memory(w2, &mem2, &size2, &err), QP_OK);
        assert_int_equal(size2, size);
        assert_memory_equal(mem2, mem, size);
        qp_gguf_writer_free(w2);
        free(mem2);
        qp_gguf_close(g);
        qp_gguf_close(f);
        free(mem);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(count_entries(g_dir), 0); /* no temporary left */
    }
}

/* A file with no keys and no tensors is legal: 24 header bytes + padding. */
static void test_empty_file_round_trip(void **state)
{
    (void)state;
    qp_gguf_writer *w = qp_gguf_writer_new();
    void *mem;
    size_t size;
    qp_error err;
    assert_int_equal(qp_gguf_writer_write_memory(w, &mem, &size, &err), QP_OK);
    assert_int_equal(size, 32);
    assert_memory_equal(mem, "GGUF\3\0\0\0", 8);
    qp_gguf_file *f;
    assert_int_equal(qp_gguf_open_memory(mem, size, "empty", &f, &err), QP_OK);
    assert_int_equal(qp_gguf_n_kv(f), 0);
    assert_int_equal(qp_gguf_n_tensors(f), 0);
    assert_int_equal(qp_gguf_find_key(f, "x"), -1);
    assert_null(qp_gguf_find_tensor(f, "x"));
    qp_gguf_close(f);
    free(mem);
    qp_gguf_writer_free(w);
}

/* ==== writer validation ================================================= */

static void expect_sticky(qp_gguf_writer *w, const char *substr)
{
    char path[512];
    in_dir(path, sizeof path, "never.gguf");
    qp_error err;
    qp_status st = qp_gguf_writer_write(w, path, &err);
    assert_int_equal(st, QP_ERR_INPUT);
    if (!strstr(err.msg, substr))
        fail_msg("expected \"%s\", got \"%s\"", substr, err.msg);
    assert_string_equal(err.file, path);
    assert_int_equal(count_entries(g_dir), 0);
    qp_gguf_writer_free(w);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    const int64_t ne[2] = {32, 2};
    qp_gguf_writer *w;

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_F32, 2, ne, buf, 255), QP_ERR_INPUT);
    expect_sticky(w, "255 bytes given, its shape and type need 256");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_F32, 2, ne, buf, 256), QP_OK);
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_F32, 2, ne, buf, 256), QP_ERR_INPUT);
    /* The first error sticks even after later successes. */
    assert_int_equal(qp_gguf_writer_add_tensor(w, "b", QP_TYPE_F32, 2, ne, buf, 256), QP_OK);
    expect_sticky(w, "duplicate tensor name 'a'");

    w = qp_gguf_writer_new();
    char name[QP_GGUF_MAX_TENSOR_NAME + 2];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(qp_gguf_writer_add_tensor(w, name, QP_TYPE_F32, 2, ne, buf, 256), QP_ERR_INPUT);
    expect_sticky(w, "must be 1..63 bytes");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", 4, 2, ne, buf, 256), QP_ERR_INPUT);
    expect_sticky(w, "unknown type 4");

    w = qp_gguf_writer_new();
    const int64_t ne48[1] = {48};
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_Q4_0, 1, ne48, buf, 27), QP_ERR_INPUT);
    expect_sticky(w, "not a multiple of q4_0's block size 32");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_F32, 0, ne, buf, 4), QP_ERR_INPUT);
    expect_sticky(w, "n_dims 0");

    w = qp_gguf_writer_new();
    const int64_t neg[2] = {32, -1};
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_F32, 2, neg, buf, 0), QP_ERR_INPUT);
    expect_sticky(w, "is negative");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_set_alignment(w, 48), QP_ERR_INPUT);
    expect_sticky(w, "general.alignment must be a u32 power of two");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_set_i32(w, "general.alignment", 64), QP_ERR_INPUT);
    expect_sticky(w, "general.alignment must be a u32 power of two");

    w = qp_gguf_writer_new();
    static const uint8_t bools[] = {0, 1, 2};
    assert_int_equal(qp_gguf_writer_set_arr_data(w, "b", QP_GGUF_TYPE_BOOL, bools, 3), QP_ERR_INPUT);
    expect_sticky(w, "bool array element is not 0 or 1");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_set_arr_data(w, "s", QP_GGUF_TYPE_STRING, bools, 3), QP_ERR_INPUT);
    expect_sticky(w, "not a numeric array element type");

    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_set_u32(w, "", 1), QP_ERR_INPUT);
    expect_sticky(w, "empty metadata key");

    /* Nine levels of arrays: one more than the reader accepts. */
    w = qp_gguf_writer_new();
    qp_gguf_value lv[QP_GGUF_MAX_ARRAY_DEPTH + 1];
    lv[QP_GGUF_MAX_ARRAY_DEPTH] = (qp_gguf_value){.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_UINT8}};
    for (int d = QP_GGUF_MAX_ARRAY_DEPTH - 1; d >= 0; d--)
        lv[d] = (qp_gguf_value){.type = QP_GGUF_TYPE_ARRAY,
                             .arr = {.type = QP_GGUF_TYPE_ARRAY, .count = 1, .arrs = &lv[d + 1]}};
    assert_int_equal(qp_gguf_writer_set_value(w, "deep", &lv[1]), QP_OK); /* 8 levels */
    assert_int_equal(qp_gguf_writer_set_value(w, "deeper", &lv[0]), QP_ERR_INPUT);
    expect_sticky(w, "nested too deep");

    /* An array of arrays whose element is not an array. */
    w = qp_gguf_writer_new();
    qp_gguf_value bad_el = {.type = QP_GGUF_TYPE_UINT8, .u8 = 1};
    qp_gguf_value outer = {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = QP_GGUF_TYPE_ARRAY, .count = 1, .arrs = &bad_el}};
    assert_int_equal(qp_gguf_writer_set_value(w, "o", &outer), QP_ERR_INPUT);
    expect_sticky(w, "is not an array");

    /* The 8-level value written above does read back. */
    w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_set_value(w, "deep", &lv[1]), QP_OK);
    void *mem;
    size_t size;
    qp_error err;
    assert_int_equal(qp_gguf_writer_write_memory(w, &mem, &size, &err), QP_OK);
    qp_gguf_file *f;
    assert_int_equal(qp_gguf_open_memory(mem, size, "deep", &f, &err), QP_OK);
    assert_true(value_equal(qp_gguf_get(f, "deep"), &lv[1]));
    qp_gguf_close(f);
    free(mem);
    qp_gguf_writer_free(w);
}

/* ==== atomic writes ===================================================== */

static qp_gguf_writer *small_model(size_t floats, void **data)
{
    float *x = calloc(floats, sizeof *x); /* [floats] */
    assert_non_null(x);
    for (size_t i = 0; i < floats; i++)
        x[i] = (float)i;
    qp_gguf_writer *w = qp_gguf_writer_new();
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    const int64_t ne[1] = {(int64_t)floats};
    assert_int_equal(qp_gguf_writer_add_tensor(w, "w", QP_TYPE_F32, 1, ne, x, floats * 4), QP_OK);
    *data = x;
    return w;
}

static void test_write_into_missing_directory(void **state)
{
    (void)state;
    void *data;
    qp_gguf_writer *w = small_model(64, &data);
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/out.gguf", g_dir);
    qp_error err;
    assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "cannot create temporary file"));
    assert_string_equal(err.file, path);
    assert_int_equal(count_entries(g_dir), 0);
    qp_gguf_writer_free(w);
    free(data);
}

/* rename(2) onto an existing directory fails after all bytes are written:
 * the complete temporary file must still be removed. */
static void test_rename_failure_leaves_nothing(void **state)
{
    (void)state;
    void *data;
    qp_gguf_writer *w = small_model(64, &data);
    char path[512];
    in_dir(path, sizeof path, "a_directory");
    assert_int_equal(mkdir(path, 0755), 0);
    qp_error err;
    assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "cannot rename"));
    assert_int_equal(count_entries(g_dir), 1); /* just the directory */
    assert_int_equal(rmdir(path), 0);
    qp_gguf_writer_free(w);
    free(data);
}

/* A write that fails halfway (file size limit: write(2) returns EFBIG once
 * the limit is hit, SIGXFSZ ignored) must leave neither a temporary file nor
 * a changed target. Done in a child process so the limit stays there. */
static void test_failure_mid_write_leaves_old_file(void **state)
{
    (void)state;
    char path[512];
    in_dir(path, sizeof path, "model.gguf");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("old contents", fp);
    fclose(fp);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        /* 2 MiB of tensor data against a 64 KiB limit: fails in the data
         * section, after the header went out (a partial file existed). */
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        void *data;
        qp_gguf_writer *w = qp_gguf_writer_new();
        float *x = calloc(1 << 19, 4);
        const int64_t ne[1] = {1 << 19};
        qp_gguf_writer_add_tensor(w, "w", QP_TYPE_F32, 1, ne, x, (size_t)4 << 19);
        data = x;
        qp_error err;
        qp_status st = qp_gguf_writer_write(w, path, &err);
        qp_gguf_writer_free(w);
        free(data);
        if (st != QP_ERR_RUNTIME)
            _exit(11);
        if (!strstr(err.msg, "write to") || !strstr(err.msg, "File too large"))
            _exit(12);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_entries(g_dir), 1); /* the old file only */
    fp = fopen(path, "r");
    char buf[64] = {0};
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "old contents");

    /* Without the limit the same write replaces the old file. */
    void *data;
    qp_gguf_writer *w = small_model(1024, &data);
    qp_error err;
    assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_OK);
    qp_gguf_file *f;
    assert_int_equal(qp_gguf_open(path, &f, &err), QP_OK);
    assert_int_equal(qp_gguf_find_tensor(f, "w")->nbytes, 4096);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    qp_gguf_close(f);
    qp_gguf_writer_free(w);
    free(data);
    assert_int_equal(count_entries(g_dir), 1);
}

/* ==== real files in ../shared =========================================== */

static void test_stories260k_facts(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    char path[512];
    qp_test_shared_path(path, sizeof path, "data/models/stories260K.gguf");
    qp_gguf_file *f;
    qp_error err;
    char msg[1200];
    if (qp_gguf_open(path, &f, &err))
        fail_msg("%s", qp_error_format(&err, msg, sizeof msg));
    assert_int_equal(qp_gguf_version(f), 3);
    assert_int_equal(qp_gguf_n_kv(f), 19);
    assert_int_equal(qp_gguf_alignment(f), 32);
    qp_gguf_string s;
    assert_int_equal(qp_gguf_get_str(f, "general.architecture", &s), QP_GGUF_FOUND);
    assert_string_equal(s.data, "llama");
    /* Hyperparameters as the README states them, under llama.cpp's key names. */
    uint32_t u;
    assert_int_equal(qp_gguf_get_u32(f, "llama.block_count", &u), QP_GGUF_FOUND); assert_int_equal(u, 5);
    assert_int_equal(qp_gguf_get_u32(f, "llama.embedding_length", &u), QP_GGUF_FOUND); assert_int_equal(u, 64);
    assert_int_equal(qp_gguf_get_u32(f, "llama.attention.head_count", &u), QP_GGUF_FOUND); assert_int_equal(u, 8);
    assert_int_equal(qp_gguf_get_u32(f, "llama.attention.head_count_kv", &u), QP_GGUF_FOUND); assert_int_equal(u, 4);
    assert_int_equal(qp_gguf_get_u32(f, "llama.feed_forward_length", &u), QP_GGUF_FOUND); assert_int_equal(u, 172);
    assert_int_equal(qp_gguf_get_u32(f, "llama.context_length", &u), QP_GGUF_FOUND); assert_int_equal(u, 2048);
    assert_int_equal(qp_gguf_get_u32(f, "llama.rope.dimension_count", &u), QP_GGUF_FOUND); assert_int_equal(u, 8);
    int64_t v;
    assert_int_equal(qp_gguf_get_int(f, "tokenizer.ggml.bos_token_id", 0, 511, &v), QP_GGUF_FOUND);
    assert_int_equal(v, 1);
    float eps;
    assert_int_equal(qp_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps), QP_GGUF_FOUND);
    assert_true(eps == 1e-5f);
    const qp_gguf_array *tok, *scores;
    assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.tokens", &tok), QP_GGUF_FOUND);
    assert_int_equal(tok->count, 512); /* vocab 512 */
    assert_int_equal(qp_gguf_array_get_str(tok, 1, &s), QP_GGUF_FOUND);
    assert_string_equal(s.data, "<s>");
    assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.scores", &scores), QP_GGUF_FOUND);
    assert_int_equal(scores->type, QP_GGUF_TYPE_FLOAT32);
    assert_int_equal(scores->count, 512);

    /* 3 global tensors + 9 per layer x 5 layers; all F32. */
    assert_int_equal(qp_gguf_n_tensors(f), 3 + 9 * 5);
    const qp_gguf_tensor_info *t = qp_gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    t = qp_gguf_find_tensor(f, "output.weight");
    assert_non_null(t);
    /* output.weight is a copy of token_embd (README). */
    assert_memory_equal(t->data, qp_gguf_find_tensor(f, "token_embd.weight")->data, t->nbytes);
    static const struct { const char *name; int64_t ne0, ne1; } per_layer[] = {
        {"attn_q", 64, 64}, {"attn_k", 64, 32}, {"attn_v", 64, 32}, {"attn_output", 64, 64},
        {"attn_norm", 64, 1}, {"ffn_gate", 64, 172}, {"ffn_down", 172, 64}, {"ffn_up", 64, 172},
        {"ffn_norm", 64, 1},
    };
    for (int l = 0; l < 5; l++)
        for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, per_layer[k].name);
            t = qp_gguf_find_tensor(f, name);
            if (!t)
                fail_msg("missing tensor %s", name);
            assert_int_equal(t->type, QP_TYPE_F32);
            assert_int_equal(t->ne[0], per_layer[k].ne0);
            assert_int_equal(t->ne[1], per_layer[k].ne1);
            assert_int_equal(t->n_dims, per_layer[k].ne1 == 1 ? 1 : 2);
        }
    /* Data section ends exactly at the end of the file (last tensor padded). */
    uint64_t end = 0;
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        t = qp_gguf_tensor(f, i);
        if (t->offset + t->nbytes > end)
            end = t->offset + t->nbytes;
    }
    assert_int_equal(qp_gguf_data_offset(f) + end, qp_gguf_file_size(f));
    qp_gguf_close(f);
}

static void test_vocab_files(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    /* Token counts of the vocabularies llama.cpp ships for its tokenizer tests. */
    static const struct { const char *file, *model; uint64_t n_tokens, n_merges; bool scores; } v[] = {
        {"ggml-vocab-llama-spm.gguf", "llama", 32000, 0, true},
        {"ggml-vocab-llama-bpe.gguf", "gpt2", 128256, 280147, false},
        {"ggml-vocab-qwen2.gguf", "gpt2", 151936, 151387, false},
        {"ggml-vocab-gpt-2.gguf", "gpt2", 50257, 50000, false},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char rel[256], path[512], msg[1200];
        snprintf(rel, sizeof rel, "data/vocab/%s", v[i].file);
        qp_test_shared_path(path, sizeof path, rel);
        qp_gguf_file *f;
        qp_error err;
        if (qp_gguf_open(path, &f, &err))
            fail_msg("%s", qp_error_format(&err, msg, sizeof msg));
        assert_int_equal(qp_gguf_n_tensors(f), 0);
        qp_gguf_string s;
        assert_int_equal(qp_gguf_get_str(f, "tokenizer.ggml.model", &s), QP_GGUF_FOUND);
        assert_string_equal(s.data, v[i].model);
        const qp_gguf_array *a;
        assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.tokens", &a), QP_GGUF_FOUND);
        assert_int_equal(a->count, v[i].n_tokens);
        /* Every token readable; none may hold more bytes than the file. */
        for (uint64_t k = 0; k < a->count; k++) {
            assert_int_equal(qp_gguf_array_get_str(a, k, &s), QP_GGUF_FOUND);
            assert_true(s.len < qp_gguf_file_size(f));
            assert_int_equal(s.data[s.len], '\0');
        }
        assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.token_type", &a), QP_GGUF_FOUND);
        assert_int_equal(a->type, QP_GGUF_TYPE_INT32);
        assert_int_equal(a->count, v[i].n_tokens);
        qp_gguf_get_status ms = qp_gguf_get_arr(f, "tokenizer.ggml.merges", &a);
        if (v[i].n_merges) {
            assert_int_equal(ms, QP_GGUF_FOUND);
            assert_int_equal(a->count, v[i].n_merges);
        } else {
            assert_int_equal(ms, QP_GGUF_NOT_FOUND);
        }
        assert_int_equal(qp_gguf_get_arr(f, "tokenizer.ggml.scores", &a),
                         v[i].scores ? QP_GGUF_FOUND : QP_GGUF_NOT_FOUND);
        /* These files end without the padding before the (empty) data
         * section; the reader accepts that when there are no tensors. */
        assert_true(qp_gguf_data_offset(f) >= qp_gguf_file_size(f));
        qp_gguf_close(f);
    }
}

/* read -> write (copy every key and tensor) -> read: same metadata, same
 * tensor bytes. ggml lays files out the same way (alignment 32, tensors in
 * order, each padded), so the copy is even byte-identical to the original. */
static void test_stories260k_rewrite(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    char src[512], dst[512];
    qp_test_shared_path(src, sizeof src, "data/models/stories260K.gguf");
    in_dir(dst, sizeof dst, "copy.gguf");
    qp_gguf_file *f, *g;
    qp_error err;
    assert_int_equal(qp_gguf_open(src, &f, &err), QP_OK);
    qp_gguf_writer *w = qp_gguf_writer_new();
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++)
        assert_int_equal(qp_gguf_writer_copy_kv(w, f, i), QP_OK);
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        assert_int_equal(qp_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                                t->nbytes), QP_OK);
    }
    assert_int_equal(qp_gguf_writer_write(w, dst, &err), QP_OK);
    qp_gguf_writer_free(w);
    assert_int_equal(qp_gguf_open(dst, &g, &err), QP_OK);
    assert_same_content(f, g);
    assert_int_equal(qp_gguf_data_offset(g), qp_gguf_data_offset(f));
    assert_int_equal(qp_gguf_file_size(g), qp_gguf_file_size(f));
    assert_memory_equal(qp_gguf_file_data(g), qp_gguf_file_data(f), qp_gguf_file_size(f));
    qp_gguf_close(g);
    qp_gguf_close(f);
}

/* qp_gguf_totals: weights and bytes in all and per type. */
static void test_totals(void **state)
{
    (void)state;
    static block_q8_0 q[2 * 3]; /* 3 rows of 64 Q8_0 weights: 2 blocks of 34 bytes each */
    float v[64] = {0};
    static uint16_t h[10 * 32];
    const int64_t ne_q[2] = {64, 3}, ne_v[1] = {64}, ne_h[2] = {32, 10};
    qp_gguf_writer *w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor(w, "a", QP_TYPE_Q8_0, 2, ne_q, q, sizeof q), QP_OK);
    assert_int_equal(qp_gguf_writer_add_tensor(w, "b", QP_TYPE_F32, 1, ne_v, v, sizeof v), QP_OK);
    assert_int_equal(qp_gguf_writer_add_tensor(w, "c", QP_TYPE_F16, 2, ne_h, h, sizeof h), QP_OK);
    void *buf = NULL;
    size_t size = 0;
    qp_error err;
    assert_int_equal(qp_gguf_writer_write_memory(w, &buf, &size, &err), QP_OK);
    qp_gguf_writer_free(w);
    qp_gguf_file *f = NULL;
    assert_int_equal(qp_gguf_open_memory(buf, size, "mem", &f, &err), QP_OK);
    qp_gguf_sizes s;
    qp_gguf_totals(f, &s);
    assert_int_equal(s.n_weights, 192 + 64 + 320);
    assert_int_equal(s.n_bytes, 6 * 34 + 256 + 640);
    assert_int_equal(s.per_type_count[QP_TYPE_Q8_0], 1);
    assert_int_equal(s.per_type_weights[QP_TYPE_Q8_0], 192);
    assert_int_equal(s.per_type_bytes[QP_TYPE_Q8_0], 204);
    assert_int_equal(s.per_type_bytes[QP_TYPE_F16], 640);
    assert_int_equal(s.per_type_count[QP_TYPE_Q4_0], 0);
    assert_float_equal(qp_bits_per_weight(s.per_type_bytes[QP_TYPE_Q8_0], s.per_type_weights[QP_TYPE_Q8_0]),
                       8.5, 1e-12);
    qp_gguf_close(f);
    free(buf);
}

/* Tensors made at write time: the bytes the fill function gives, in the
 * file and in memory; a failing fill fails the write with its message and
 * leaves no file. */
static qp_status fill_pattern(void *user, int64_t index, void *buf, size_t nbytes, qp_error *err)
{
    int *calls = user;
    (*calls)++;
    if (index == 2)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "no bytes for tensor %lld", (long long)index);
    for (size_t i = 0; i < nbytes; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(i * 7 + (size_t)index);
    return QP_OK;
}

static void test_fill_tensors(void **state)
{
    (void)state;
    char path[128];
    in_dir(path, sizeof path, "fill.gguf");
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    const int64_t ne_q[2] = {64, 5}, ne_v[1] = {64};
    int calls = 0;
    qp_gguf_writer *w = qp_gguf_writer_new();
    assert_int_equal(qp_gguf_writer_add_tensor_fill(w, "q", QP_TYPE_Q8_0, 2, ne_q, fill_pattern, &calls), QP_OK);
    assert_int_equal(qp_gguf_writer_add_tensor(w, "v", QP_TYPE_F32, 1, ne_v, v, sizeof v), QP_OK);
    qp_error err;
    assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_OK);
    assert_int_equal(calls, 1);
    void *mem = NULL;
    size_t size = 0;
    assert_int_equal(qp_gguf_writer_write_memory(w, &mem, &size, &err), QP_OK);
    qp_gguf_file *f = NULL;
    assert_int_equal(qp_gguf_open(path, &f, &err), QP_OK);
    const qp_gguf_tensor_info *q = qp_gguf_find_tensor(f, "q");
    assert_non_null(q);
    assert_int_equal(q->nbytes, 5 * 2 * 34);
    for (size_t i = 0; i < q->nbytes; i++)
        assert_int_equal(((const uint8_t *)q->data)[i], (uint8_t)(i * 7));
    assert_memory_equal(qp_gguf_find_tensor(f, "v")->data, v, sizeof v);
    assert_int_equal(qp_gguf_file_size(f), size);
    qp_gguf_close(f);
    free(mem);
    /* a fill that fails: its message, and nothing under the name */
    assert_int_equal(qp_gguf_writer_add_tensor_fill(w, "bad", QP_TYPE_F32, 1, ne_v, fill_pattern, &calls), QP_OK);
    unlink(path);
    assert_int_equal(qp_gguf_writer_write(w, path, &err), QP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "no bytes for tensor 2"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_entries(g_dir), 0);
    assert_int_equal(qp_gguf_writer_write_memory(w, &mem, &size, &err), QP_ERR_RUNTIME);
    assert_null(mem);
    assert_int_equal(qp_gguf_writer_add_tensor_fill(w, "nofill", QP_TYPE_F32, 1, ne_v, NULL, NULL), QP_ERR_INPUT);
    qp_gguf_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_synthetic_round_trip, setup_dir, teardown_dir),
        cmocka_unit_test(test_empty_file_round_trip),
        cmocka_unit_test(test_totals),
        cmocka_unit_test_setup_teardown(test_fill_tensors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_writer_rejects, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_into_missing_directory, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rename_failure_leaves_nothing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_failure_mid_write_leaves_old_file, setup_dir, teardown_dir),
        cmocka_unit_test(test_stories260k_facts),
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test_setup_teardown(test_stories260k_rewrite, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
