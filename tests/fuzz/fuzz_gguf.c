/* tests/fuzz/fuzz_gguf.c - libFuzzer target for the GGUF reader (and writer).
 *
 * Each input is opened with qp_gguf_open_memory. A rejected input only has to be
 * rejected cleanly (QP_ERR_INPUT with an offset inside the input). An
 * accepted one is walked through every public accessor - each key by index
 * and by name, each array element, each tensor's bytes - so ASan sees every
 * pointer the reader hands out, and then re-emitted with the writer and
 * reopened: the reader's "valid" and the writer's must agree, value for value.
 *
 * Build and run: `make fuzz` (FUZZ_SECONDS=60 by default); seeds are
 * tests/malformed/ and two valid files test_gguf_malformed --write-seeds
 * writes, all in build-fuzz/corpus/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Written so the walk cannot be optimized away. */
static volatile uint64_t g_sink;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_gguf: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* ==== walking =========================================================== */

static uint64_t walk_array(const qp_gguf_array *a)
{
    uint64_t h = a->count;
    for (uint64_t i = 0; i < a->count; i++) {
        int64_t x;
        double d;
        qp_gguf_string s;
        const qp_gguf_array *in;
        if (a->type == QP_GGUF_TYPE_STRING) {
            CHECK(qp_gguf_array_get_str(a, i, &s) == QP_GGUF_FOUND);
            CHECK(s.data[s.len] == '\0');
            h += s.len + (s.len ? (uint8_t)s.data[0] + (uint8_t)s.data[s.len - 1] : 0);
        } else if (a->type == QP_GGUF_TYPE_ARRAY) {
            CHECK(qp_gguf_array_get_arr(a, i, &in) == QP_GGUF_FOUND);
            h += walk_array(in);
        } else if (a->type == QP_GGUF_TYPE_FLOAT32 || a->type == QP_GGUF_TYPE_FLOAT64) {
            CHECK(qp_gguf_array_get_float(a, i, &d) == QP_GGUF_FOUND);
            h += d == d; /* NaN-safe */
        } else {
            qp_gguf_get_status st = qp_gguf_array_get_int(a, i, &x);
            CHECK(st == QP_GGUF_FOUND || (a->type == QP_GGUF_TYPE_UINT64 && st == QP_GGUF_OUT_OF_RANGE));
            h += (uint64_t)x * (st == QP_GGUF_FOUND);
        }
    }
    /* One past the end is refused, whatever the type. */
    int64_t x;
    CHECK(qp_gguf_array_get_int(a, a->count, &x) == QP_GGUF_NOT_FOUND);
    return h;
}

static uint64_t walk(const qp_gguf_file *f, size_t size)
{
    uint64_t h = qp_gguf_version(f) + qp_gguf_alignment(f) + qp_gguf_data_offset(f);
    CHECK(qp_gguf_file_size(f) == size);
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++) {
        const char *key = qp_gguf_kv_key(f, i);
        const qp_gguf_value *v = qp_gguf_kv_value(f, i);
        CHECK(key && v && qp_gguf_kv_type(f, i) == v->type);
        CHECK(qp_gguf_find_key(f, key) == i); /* keys are unique */
        CHECK(qp_gguf_get(f, key) == v);
        int64_t x;
        double d;
        uint32_t u32;
        qp_gguf_string s;
        const qp_gguf_array *a;
        h += (uint64_t)qp_gguf_get_int(f, key, INT64_MIN, INT64_MAX, &x);
        h += (uint64_t)qp_gguf_get_float(f, key, &d);
        h += (uint64_t)qp_gguf_get_u32(f, key, &u32);
        if (qp_gguf_get_str(f, key, &s) == QP_GGUF_FOUND)
            h += s.len + (s.data[s.len] == '\0');
        if (qp_gguf_get_arr(f, key, &a) == QP_GGUF_FOUND)
            h += walk_array(a);
        h += strlen(qp_gguf_type_name(v->type));
    }
    CHECK(qp_gguf_kv_key(f, qp_gguf_n_kv(f)) == NULL);
    const uint8_t *base = qp_gguf_file_data(f);
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        CHECK(t && qp_gguf_find_tensor(f, t->name) == t);
        CHECK(t->n_dims >= 1 && t->n_dims <= QP_GGUF_MAX_DIMS);
        CHECK(t->offset % qp_gguf_alignment(f) == 0);
        CHECK((const uint8_t *)t->data >= base && t->nbytes <= size &&
              (size_t)((const uint8_t *)t->data - base) <= size - t->nbytes);
        h += (uint64_t)qp_gguf_tensor_nelements(t);
        const uint8_t *p = t->data; /* every byte: ASan checks the bounds */
        for (size_t k = 0; k < t->nbytes; k++)
            h += p[k];
    }
    CHECK(qp_gguf_tensor(f, qp_gguf_n_tensors(f)) == NULL);
    return h;
}

/* ==== re-emit and compare =============================================== */

static int value_equal(const qp_gguf_value *a, const qp_gguf_value *b);

static int array_equal(const qp_gguf_array *x, const qp_gguf_array *y)
{
    if (x->type != y->type || x->count != y->count)
        return 0;
    for (uint64_t i = 0; i < x->count; i++) {
        if (x->type == QP_GGUF_TYPE_STRING) {
            if (x->strs[i].len != y->strs[i].len ||
                memcmp(x->strs[i].data, y->strs[i].data, x->strs[i].len) != 0)
                return 0;
        } else if (x->type == QP_GGUF_TYPE_ARRAY) {
            if (!value_equal(&x->arrs[i], &y->arrs[i]))
                return 0;
        }
    }
    if (x->type != QP_GGUF_TYPE_STRING && x->type != QP_GGUF_TYPE_ARRAY && x->count)
        return memcmp(x->data, y->data, x->count * qp_gguf_type_size(x->type)) == 0;
    return 1;
}

static int value_equal(const qp_gguf_value *a, const qp_gguf_value *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == QP_GGUF_TYPE_STRING)
        return a->str.len == b->str.len && memcmp(a->str.data, b->str.data, a->str.len) == 0;
    if (a->type == QP_GGUF_TYPE_ARRAY)
        return array_equal(&a->arr, &b->arr);
    if (a->type == QP_GGUF_TYPE_BOOL)
        return a->b == b->b;
    return memcmp(&a->u8, &b->u8, qp_gguf_type_size(a->type)) == 0;
}

static void rewrite(const qp_gguf_file *f)
{
    /* The writer pads every tensor and the header to the alignment; with a
     * fuzzed alignment of up to 2^31 that is gigabytes of zeros. */
    if (qp_gguf_alignment(f) > 4096)
        return;
    qp_gguf_writer *w = qp_gguf_writer_new();
    CHECK(w);
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++)
        CHECK(qp_gguf_writer_copy_kv(w, f, i) == QP_OK);
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        CHECK(qp_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes) == QP_OK);
    }
    void *out;
    size_t n;
    qp_error err;
    CHECK(qp_gguf_writer_write_memory(w, &out, &n, &err) == QP_OK);
    qp_gguf_writer_free(w);
    qp_gguf_file *g = NULL;
    if (qp_gguf_open_memory(out, n, "rewrite", &g, &err) != QP_OK) {
        fprintf(stderr, "fuzz_gguf: rewritten file refused: offset %lld: %s\n",
                (long long)err.offset, err.msg);
        abort();
    }
    CHECK(qp_gguf_version(g) == 3 && qp_gguf_alignment(g) == qp_gguf_alignment(f));
    CHECK(qp_gguf_n_kv(g) == qp_gguf_n_kv(f) && qp_gguf_n_tensors(g) == qp_gguf_n_tensors(f));
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++) {
        CHECK(strcmp(qp_gguf_kv_key(f, i), qp_gguf_kv_key(g, i)) == 0);
        CHECK(value_equal(qp_gguf_kv_value(f, i), qp_gguf_kv_value(g, i)));
    }
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *a = qp_gguf_tensor(f, i), *b = qp_gguf_tensor(g, i);
        CHECK(strcmp(a->name, b->name) == 0 && a->type == b->type && a->n_dims == b->n_dims);
        CHECK(memcmp(a->ne, b->ne, sizeof a->ne) == 0 && a->nbytes == b->nbytes);
        CHECK(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
    }
    qp_gguf_close(g);
    free(out);
}

/* ==== entry point ======================================================= */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qp_gguf_file *f = NULL;
    qp_error err;
    qp_status st = qp_gguf_open_memory(data, size, "fuzz", &f, &err);
    if (st != QP_OK) {
        /* Refusals are input errors located inside the input. */
        CHECK(st == QP_ERR_INPUT && f == NULL);
        CHECK(err.offset >= 0 && (uint64_t)err.offset <= size && err.msg[0]);
        return 0;
    }
    g_sink += walk(f, size);
    rewrite(f);
    qp_gguf_close(f);
    return 0;
}
