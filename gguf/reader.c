/* gguf/reader.c - parse and validate a GGUF v2/v3 file (see gguf.h).
 *
 * Threat model: the file is hostile. The parser walks it once with a cursor
 * that knows how many bytes are left; every count or length is compared with
 * those bytes (times the smallest possible encoding of one item) BEFORE it
 * sizes an allocation, so memory stays O(file size) and no loop runs longer
 * than the file could justify. Arrays may nest only QP_GGUF_MAX_ARRAY_DEPTH deep,
 * so recursion is bounded. Every defect returns QP_ERR_INPUT with the offset
 * of the first byte of the offending field.
 *
 * Memory: one qp_gguf_file, a few arrays sized by n_kv / n_tensors, and an arena
 * holding NUL-terminated copies of every key, name and string value plus the
 * qp_gguf_string / qp_gguf_value vectors of arrays. Numeric array payloads and
 * tensor data are not copied: they point into the (mapped) file.
 */
#include "gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../quant/quant.h"

/* ==== value-type facts ================================================== */

const char *qp_gguf_type_name(int type)
{
    static const char *const names[QP_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
        "str", "arr", "u64", "i64", "f64",
    };
    return (type >= 0 && type < QP_GGUF_TYPE_COUNT) ? names[type] : "?";
}

size_t qp_gguf_type_size(int type)
{
    switch (type) {
    case QP_GGUF_TYPE_UINT8: case QP_GGUF_TYPE_INT8: case QP_GGUF_TYPE_BOOL: return 1;
    case QP_GGUF_TYPE_UINT16: case QP_GGUF_TYPE_INT16: return 2;
    case QP_GGUF_TYPE_UINT32: case QP_GGUF_TYPE_INT32: case QP_GGUF_TYPE_FLOAT32: return 4;
    case QP_GGUF_TYPE_UINT64: case QP_GGUF_TYPE_INT64: case QP_GGUF_TYPE_FLOAT64: return 8;
    default: return 0; /* STRING, ARRAY, invalid: no fixed size */
    }
}

bool qp_gguf_type_is_int(int type)
{
    switch (type) {
    case QP_GGUF_TYPE_UINT8: case QP_GGUF_TYPE_INT8: case QP_GGUF_TYPE_UINT16: case QP_GGUF_TYPE_INT16:
    case QP_GGUF_TYPE_UINT32: case QP_GGUF_TYPE_INT32: case QP_GGUF_TYPE_UINT64: case QP_GGUF_TYPE_INT64:
        return true;
    default:
        return false;
    }
}

/* ==== the open file ===================================================== */

/* Arena block: strings and vectors carved from `data`, freed all at once. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} arena_block;

/* Sorted (name, index) pairs: duplicate detection and O(log n) lookup. */
typedef struct name_index {
    const char *name;
    int64_t idx;
} name_index;

struct qp_gguf_file {
    char *name;             /* path or caller's name, for messages */
    const uint8_t *base;    /* the file: size bytes */
    size_t size;
    void *map;              /* mmap'd region (qp_gguf_open), else NULL */
    size_t map_size;

    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    int64_t n_kv;
    const char **keys;      /* [n_kv], arena copies */
    qp_gguf_value *values;     /* [n_kv] */
    name_index *kv_sorted;  /* [n_kv], by key */

    int64_t n_tensors;
    qp_gguf_tensor_info *tensors; /* [n_tensors] */
    name_index *t_sorted;      /* [n_tensors], by name */

    arena_block *arena;
};

static void *arena_alloc(qp_gguf_file *f, size_t n)
{
    /* Round to max_align_t so vectors of any element type may follow. */
    const size_t a = alignof(max_align_t);
    if (n > SIZE_MAX - a)
        return NULL;
    n = (n + a - 1) & ~(a - 1);
    arena_block *b = f->arena;
    if (!b || b->cap - b->used < n) {
        /* 64 KiB blocks: a 150k-token vocabulary takes ~50 of them. */
        size_t cap = n > 65536 ? n : 65536;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = f->arena;
        b->used = 0;
        b->cap = cap;
        f->arena = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* ==== cursor ============================================================ */

typedef struct cursor {
    const uint8_t *p;
    size_t size;
    size_t pos;
    qp_gguf_file *f;
    qp_error *err;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static qp_status bad(cursor *c, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qp_status bad(cursor *c, size_t at, const char *fmt, ...)
{
    char msg[sizeof c->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qp_error_set(c->err, QP_ERR_INPUT, c->f->name, (int64_t)at, "%s", msg);
}

static qp_status oom(cursor *c)
{
    return qp_error_set(c->err, QP_ERR_RUNTIME, c->f->name, (int64_t)c->pos, "out of memory");
}

/* Every fixed-size read goes through need(): "truncated" names the field. */
static qp_status need(cursor *c, uint64_t n, const char *what)
{
    if (left(c) < n)
        return bad(c, c->pos, "truncated: %s needs %llu bytes, %zu left", what,
                   (unsigned long long)n, left(c));
    return QP_OK;
}

/* A fixed-size little-endian field of n bytes into *v (the host is
 * little-endian, gguf_internal.h); rd_u32 / rd_u64 name the width. */
static qp_status rd_field(cursor *c, void *v, size_t n, const char *what)
{
    qp_status st = need(c, n, what);
    if (st)
        return st;
    memcpy(v, c->p + c->pos, n);
    c->pos += n;
    return QP_OK;
}

static qp_status rd_u32(cursor *c, uint32_t *v, const char *what)
{
    return rd_field(c, v, 4, what);
}

static qp_status rd_u64(cursor *c, uint64_t *v, const char *what)
{
    return rd_field(c, v, 8, what);
}

/* Kinds of string, for the limits that apply to each. */
enum str_kind { STR_VALUE, STR_KEY, STR_TENSOR_NAME };

/* Reads u64 len + len bytes into a NUL-terminated arena copy. Keys and tensor
 * names must be non-empty, bounded, and free of NUL (they are looked up as C
 * strings); string values are byte strings of any length the file holds. */
static qp_status rd_string(cursor *c, enum str_kind kind, const char *what, qp_gguf_string *out)
{
    size_t at = c->pos;
    uint64_t len;
    qp_status st = rd_u64(c, &len, what);
    if (st)
        return st;
    if (len > left(c))
        return bad(c, at, "%s length %llu exceeds the %zu bytes left", what,
                   (unsigned long long)len, left(c));
    if (kind != STR_VALUE) {
        uint64_t max = kind == STR_KEY ? QP_GGUF_MAX_KEY : QP_GGUF_MAX_TENSOR_NAME;
        if (len == 0)
            return bad(c, at, "empty %s", what);
        if (len > max)
            return bad(c, at, "%s length %llu exceeds the limit of %llu bytes", what,
                       (unsigned long long)len, (unsigned long long)max);
        if (memchr(c->p + c->pos, '\0', (size_t)len))
            return bad(c, at, "%s contains a NUL byte", what);
    }
    char *s = arena_alloc(c->f, (size_t)len + 1);
    if (!s)
        return oom(c);
    memcpy(s, c->p + c->pos, (size_t)len);
    s[len] = '\0';
    c->pos += (size_t)len;
    out->data = s;
    out->len = len;
    return QP_OK;
}

/* ==== metadata values =================================================== */

static qp_status rd_value(cursor *c, uint32_t type, int depth, qp_gguf_value *out);

/* Array body after its own type tag: u32 elem type, u64 count, elements. */
static qp_status rd_array(cursor *c, int depth, qp_gguf_array *a)
{
    if (depth > QP_GGUF_MAX_ARRAY_DEPTH)
        return bad(c, c->pos, "arrays nested deeper than %d levels", QP_GGUF_MAX_ARRAY_DEPTH);
    size_t at_type = c->pos;
    uint32_t et;
    qp_status st = rd_u32(c, &et, "array element type");
    if (st)
        return st;
    if (et >= QP_GGUF_TYPE_COUNT)
        return bad(c, at_type, "invalid array element type %u", et);
    size_t at_count = c->pos;
    uint64_t count;
    if ((st = rd_u64(c, &count, "array count")))
        return st;
    /* The bound that makes every later allocation safe: count elements need at
     * least count * min_size bytes, and those must be in the file. */
    uint64_t min = qp_gguf_min_elem_size((int)et);
    if (count > left(c) / min)
        return bad(c, at_count, "array count %llu of %s cannot fit in the %zu bytes left",
                   (unsigned long long)count, qp_gguf_type_name((int)et), left(c));
    memset(a, 0, sizeof *a);
    a->type = (enum qp_gguf_value_type)et;
    a->count = count;
    if (count == 0)
        return QP_OK;

    if (et == QP_GGUF_TYPE_STRING) {
        qp_gguf_string *strs = arena_alloc(c->f, (size_t)count * sizeof *strs);
        if (!strs)
            return oom(c);
        for (uint64_t i = 0; i < count; i++)
            if ((st = rd_string(c, STR_VALUE, "string element", &strs[i])))
                return st;
        a->strs = strs;
    } else if (et == QP_GGUF_TYPE_ARRAY) {
        qp_gguf_value *arrs = arena_alloc(c->f, (size_t)count * sizeof *arrs);
        if (!arrs)
            return oom(c);
        for (uint64_t i = 0; i < count; i++)
            if ((st = rd_value(c, QP_GGUF_TYPE_ARRAY, depth + 1, &arrs[i])))
                return st;
        a->arrs = arrs;
    } else {
        /* Packed numbers stay in the file; only bools are inspected, because
         * a C bool may hold only 0 or 1. */
        size_t nbytes = (size_t)count * (size_t)min;
        if (et == QP_GGUF_TYPE_BOOL)
            for (size_t i = 0; i < nbytes; i++)
                if (c->p[c->pos + i] > 1)
                    return bad(c, c->pos + i, "bool array element %zu is %u, not 0 or 1", i,
                               c->p[c->pos + i]);
        a->data = c->p + c->pos;
        c->pos += nbytes;
    }
    return QP_OK;
}

/* One value of a type already read and validated (< QP_GGUF_TYPE_COUNT). */
static qp_status rd_value(cursor *c, uint32_t type, int depth, qp_gguf_value *out)
{
    memset(out, 0, sizeof *out);
    out->type = (enum qp_gguf_value_type)type;
    if (type == QP_GGUF_TYPE_STRING)
        return rd_string(c, STR_VALUE, "string value", &out->str);
    if (type == QP_GGUF_TYPE_ARRAY)
        return rd_array(c, depth, &out->arr);
    size_t n = qp_gguf_type_size((int)type);
    qp_status st = need(c, n, qp_gguf_type_name((int)type));
    if (st)
        return st;
    const uint8_t *p = c->p + c->pos;
    switch (type) {
    case QP_GGUF_TYPE_BOOL:
        if (p[0] > 1)
            return bad(c, c->pos, "bool value is %u, not 0 or 1", p[0]);
        out->b = p[0] != 0;
        break;
    case QP_GGUF_TYPE_UINT8: memcpy(&out->u8, p, 1); break;
    case QP_GGUF_TYPE_INT8: memcpy(&out->i8, p, 1); break;
    case QP_GGUF_TYPE_UINT16: memcpy(&out->u16, p, 2); break;
    case QP_GGUF_TYPE_INT16: memcpy(&out->i16, p, 2); break;
    case QP_GGUF_TYPE_UINT32: memcpy(&out->u32, p, 4); break;
    case QP_GGUF_TYPE_INT32: memcpy(&out->i32, p, 4); break;
    case QP_GGUF_TYPE_FLOAT32: memcpy(&out->f32, p, 4); break;
    case QP_GGUF_TYPE_UINT64: memcpy(&out->u64, p, 8); break;
    case QP_GGUF_TYPE_INT64: memcpy(&out->i64, p, 8); break;
    case QP_GGUF_TYPE_FLOAT64: memcpy(&out->f64, p, 8); break;
    default: break;
    }
    c->pos += n;
    return QP_OK;
}

/* ==== name indexes ====================================================== */

static int cmp_name_index(const void *a, const void *b)
{
    const name_index *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r)
        return r;
    return (x->idx > y->idx) - (x->idx < y->idx); /* ties by file order */
}

/* Binary search in a name_index sorted by cmp_name_index. Names are unique
 * once the file is open (duplicates are refused), so the first match is it. */
static int64_t find_name(const name_index *v, int64_t n, const char *name)
{
    if (!name)
        return -1;
    int64_t lo = 0, hi = n; /* first entry >= name */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < n && strcmp(v[lo].name, name) == 0) ? v[lo].idx : -1;
}

/* Sorts v and returns the file index of the later of the first duplicate
 * pair found, or -1 when all names differ. */
static int64_t sort_and_find_dup(name_index *v, int64_t n)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_name_index);
    int64_t dup = -1;
    for (int64_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0 && (dup < 0 || v[i].idx < dup))
            dup = v[i].idx;
    return dup;
}

/* ==== parse ============================================================= */

/* Smallest encodings, for bounding counts against the bytes left:
 * kv = key (u64 len + >= 1 byte) + u32 type + >= 1 byte of value;
 * tensor info = name (8 + >= 1) + u32 n_dims + >= 1 u64 ne + u32 type + u64 offset. */
#define MIN_KV_SIZE (8 + 1 + 4 + 1)
#define MIN_TENSOR_INFO_SIZE (8 + 1 + 4 + 8 + 4 + 8)

typedef struct tensor_pos {
    size_t name, ne0, type, offset; /* file offsets of these fields */
} tensor_pos;

/* (data offset, tensor index): sorted to sweep for overlaps. */
typedef struct offset_index {
    uint64_t offset;
    int64_t idx;
} offset_index;

static int cmp_offset_index(const void *a, const void *b)
{
    const offset_index *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static qp_status parse_header(cursor *c, qp_gguf_file *f)
{
    qp_status st = need(c, 4, "magic");
    if (st)
        return st;
    if (memcmp(c->p, QP_GGUF_MAGIC, 4) != 0)
        return bad(c, 0, "bad magic %02x %02x %02x %02x (expected \"GGUF\")", c->p[0], c->p[1],
                   c->p[2], c->p[3]);
    c->pos = 4;
    uint32_t version;
    if ((st = rd_u32(c, &version, "version")))
        return st;
    /* A big-endian v3 file has its version byte-swapped: 0x03000000. */
    uint32_t swapped = __builtin_bswap32(version);
    if ((version & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
        return bad(c, 4, "big-endian GGUF files are not supported (version reads as %u)", swapped);
    if (version == 1)
        return bad(c, 4, "GGUF version 1 is not supported (32-bit counts); convert the file again");
    if (version != 2 && version != 3)
        return bad(c, 4, "unsupported GGUF version %u (supported: 2, 3)", version);
    f->version = version;

    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(c, &n_tensors, "tensor count")) || (st = rd_u64(c, &n_kv, "metadata kv count")))
        return st;
    /* Both tables must fit in the remaining bytes. Checking them separately is
     * enough to bound allocations (each is O(file size)). */
    if (n_tensors > left(c) / MIN_TENSOR_INFO_SIZE)
        return bad(c, 8, "tensor count %llu cannot fit in the %zu bytes left",
                   (unsigned long long)n_tensors, left(c));
    if (n_kv > left(c) / MIN_KV_SIZE)
        return bad(c, 16, "metadata kv count %llu cannot fit in the %zu bytes left",
                   (unsigned long long)n_kv, left(c));
    f->n_tensors = (int64_t)n_tensors;
    f->n_kv = (int64_t)n_kv;
    return QP_OK;
}

static qp_status parse_kv(cursor *c, qp_gguf_file *f)
{
    const size_t n = (size_t)f->n_kv;
    f->keys = calloc(n ? n : 1, sizeof *f->keys);
    f->values = calloc(n ? n : 1, sizeof *f->values);
    f->kv_sorted = calloc(n ? n : 1, sizeof *f->kv_sorted);
    size_t *key_at = calloc(n ? n : 1, sizeof *key_at); /* [n_kv] offset of each key */
    size_t *type_at = calloc(n ? n : 1, sizeof *type_at); /* [n_kv] offset of each u32 type */
    qp_status st = QP_OK;
    if (!f->keys || !f->values || !f->kv_sorted || !key_at || !type_at) {
        st = oom(c);
        goto done;
    }
    /* Keys are read in file order; uniqueness is checked afterwards on the
     * sorted index, which is O(n log n) where pairwise checks would be O(n^2)
     * (a hostile file can hold ~70,000 kvs per MiB). */
    for (size_t i = 0; i < n; i++) {
        key_at[i] = c->pos;
        qp_gguf_string key;
        if ((st = rd_string(c, STR_KEY, "key", &key)))
            goto done;
        f->keys[i] = key.data;
        f->kv_sorted[i] = (name_index){key.data, (int64_t)i};
        type_at[i] = c->pos;
        uint32_t type;
        if ((st = rd_u32(c, &type, "value type")))
            goto done;
        if (type >= QP_GGUF_TYPE_COUNT) {
            st = bad(c, type_at[i], "key '%s': invalid value type %u", key.data, type);
            goto done;
        }
        if ((st = rd_value(c, type, 1, &f->values[i])))
            goto done;
    }
    int64_t dup = sort_and_find_dup(f->kv_sorted, f->n_kv);
    if (dup >= 0) {
        st = bad(c, key_at[dup], "duplicate key '%s'", f->keys[dup]);
        goto done;
    }
    /* general.alignment: the spec makes it a u32, non-zero power of two. */
    f->alignment = QP_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = find_name(f->kv_sorted, f->n_kv, "general.alignment");
    if (ai >= 0) {
        const qp_gguf_value *v = &f->values[ai];
        if (v->type != QP_GGUF_TYPE_UINT32) {
            st = bad(c, type_at[ai], "general.alignment has type %s, expected u32",
                     qp_gguf_type_name(v->type));
            goto done;
        }
        if (v->u32 == 0 || (v->u32 & (v->u32 - 1)) != 0) {
            st = bad(c, type_at[ai] + 4, "general.alignment %u is not a power of two", v->u32);
            goto done;
        }
        f->alignment = v->u32;
    }
done:
    free(key_at);
    free(type_at);
    return st;
}

static qp_status parse_tensor_infos(cursor *c, qp_gguf_file *f)
{
    const size_t n = (size_t)f->n_tensors;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->t_sorted = calloc(n ? n : 1, sizeof *f->t_sorted);
    tensor_pos *at = calloc(n ? n : 1, sizeof *at); /* [n_tensors] field offsets */
    offset_index *order = calloc(n ? n : 1, sizeof *order); /* [n_tensors] by data offset */
    qp_status st = QP_OK;
    if (!f->tensors || !f->t_sorted || !at || !order) {
        st = oom(c);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        qp_gguf_tensor_info *t = &f->tensors[i];
        at[i].name = c->pos;
        qp_gguf_string name;
        if ((st = rd_string(c, STR_TENSOR_NAME, "tensor name", &name)))
            goto done;
        t->name = name.data;
        f->t_sorted[i] = (name_index){name.data, (int64_t)i};

        size_t at_dims = c->pos;
        if ((st = rd_u32(c, &t->n_dims, "tensor n_dims")))
            goto done;
        if (t->n_dims == 0 || t->n_dims > QP_GGUF_MAX_DIMS) {
            st = bad(c, at_dims, "tensor '%s': n_dims %u is not in 1..%d", t->name, t->n_dims,
                     QP_GGUF_MAX_DIMS);
            goto done;
        }
        at[i].ne0 = c->pos;
        int64_t nel = 1; /* running product, checked for int64 overflow */
        for (uint32_t d = 0; d < QP_GGUF_MAX_DIMS; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims)
                continue;
            size_t at_ne = c->pos;
            uint64_t ne;
            if ((st = rd_u64(c, &ne, "tensor dimension")))
                goto done;
            /* ne is u64 on disk, int64 in ggml: the top bit set means negative. */
            if (ne > (uint64_t)INT64_MAX) {
                st = bad(c, at_ne, "tensor '%s': ne[%u] = %lld is negative", t->name, d,
                         (long long)(int64_t)ne);
                goto done;
            }
            t->ne[d] = (int64_t)ne;
            if (t->ne[d] != 0 && nel > INT64_MAX / t->ne[d]) {
                st = bad(c, at[i].ne0, "tensor '%s': element count overflows int64", t->name);
                goto done;
            }
            nel *= t->ne[d];
        }
        at[i].type = c->pos;
        uint32_t type;
        if ((st = rd_u32(c, &type, "tensor type")))
            goto done;
        const qp_type_traits *tr = qp_type_info((int)type);
        if (!tr) {
            st = bad(c, at[i].type, "tensor '%s': unknown tensor type %u", t->name, type);
            goto done;
        }
        t->type = (int)type;
        if (t->ne[0] % tr->block_size != 0) {
            st = bad(c, at[i].ne0, "tensor '%s': ne[0] = %lld is not a multiple of %s's block size %lld",
                     t->name, (long long)t->ne[0], tr->name, (long long)tr->block_size);
            goto done;
        }
        /* Bytes = row size * rows; either factor may be 0 (an empty tensor). */
        uint64_t rows = nel == 0 ? 0 : (uint64_t)(nel / t->ne[0]);
        uint64_t row = t->ne[0] == 0 ? 0 : qp_row_size((int)type, t->ne[0]);
        if (t->ne[0] != 0 && row == 0) {
            st = bad(c, at[i].ne0, "tensor '%s': row of %lld %s elements overflows", t->name,
                     (long long)t->ne[0], tr->name);
            goto done;
        }
        if (rows != 0 && row > SIZE_MAX / rows) {
            st = bad(c, at[i].ne0, "tensor '%s': byte size overflows", t->name);
            goto done;
        }
        t->nbytes = (size_t)(row * rows);
        at[i].offset = c->pos;
        if ((st = rd_u64(c, &t->offset, "tensor offset")))
            goto done;
        if (t->offset % f->alignment != 0) {
            st = bad(c, at[i].offset, "tensor '%s': offset %llu is not a multiple of the alignment %u",
                     t->name, (unsigned long long)t->offset, f->alignment);
            goto done;
        }
    }
    int64_t dup = sort_and_find_dup(f->t_sorted, f->n_tensors);
    if (dup >= 0) {
        st = bad(c, at[dup].name, "duplicate tensor name '%s'", f->tensors[dup].name);
        goto done;
    }

    /* Data section: the first multiple of the alignment after the infos.
     * (alignment <= 2^31 and pos <= SIZE_MAX/2 in practice; checked anyway.) */
    size_t end_infos = c->pos;
    uint64_t a = f->alignment;
    if (end_infos > UINT64_MAX - a) {
        st = bad(c, end_infos, "data section offset overflows");
        goto done;
    }
    f->data_offset = ((uint64_t)end_infos + a - 1) / a * a;
    if (n == 0)
        goto done; /* vocab-only files: the padding may be absent at EOF */
    if (f->data_offset > c->size) {
        st = bad(c, end_infos, "data section would start at %llu, past the end of the file (%zu bytes)",
                 (unsigned long long)f->data_offset, c->size);
        goto done;
    }
    const uint64_t avail = c->size - f->data_offset; /* bytes in the data section */
    for (size_t i = 0; i < n; i++) {
        qp_gguf_tensor_info *t = &f->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            st = bad(c, at[i].offset,
                     "tensor '%s': data [%llu, +%zu) runs past the end of the data section (%llu bytes)",
                     t->name, (unsigned long long)t->offset, t->nbytes, (unsigned long long)avail);
            goto done;
        }
        t->data = c->p + f->data_offset + t->offset;
        order[i] = (offset_index){t->offset, (int64_t)i};
    }
    /* Overlap: sweep by start offset keeping the furthest end seen so far.
     * Empty tensors occupy nothing and may share an offset with anything. */
    qsort(order, n, sizeof *order, cmp_offset_index);
    uint64_t max_end = 0;
    int64_t max_owner = -1;
    for (size_t k = 0; k < n; k++) {
        const int64_t i = order[k].idx;
        const qp_gguf_tensor_info *t = &f->tensors[i];
        if (t->nbytes == 0)
            continue;
        if (max_owner >= 0 && t->offset < max_end) {
            st = bad(c, at[i].offset, "tensor '%s': data at %llu overlaps tensor '%s' (ends at %llu)",
                     t->name, (unsigned long long)t->offset, f->tensors[max_owner].name,
                     (unsigned long long)max_end);
            goto done;
        }
        if (t->offset + t->nbytes > max_end) {
            max_end = t->offset + t->nbytes;
            max_owner = i;
        }
    }
done:
    free(at);
    free(order);
    return st;
}

/* The three parts in file order; each leaves the cursor at the next one. */
static qp_status parse(qp_gguf_file *f, qp_error *err)
{
    cursor c = {f->base, f->size, 0, f, err};
    qp_status st;
    if ((st = parse_header(&c, f)) || (st = parse_kv(&c, f)) || (st = parse_tensor_infos(&c, f)))
        return st;
    return QP_OK;
}

/* ==== open / close ====================================================== */

static qp_gguf_file *file_new(const char *name)
{
    qp_gguf_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->name = strdup(name ? name : "");
    if (!f->name) {
        free(f);
        return NULL;
    }
    return f;
}

void qp_gguf_release(const qp_gguf_file *f, const void *p, size_t n)
{
    /* only a file mapping may lose its pages: they come back from the file
     * when read again; memory given to qp_gguf_open_memory would be zeroed */
    if (!f->map || n == 0)
        return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    const uintptr_t map_lo = (uintptr_t)f->map, map_hi = map_lo + f->map_size;
    if (lo < hi && lo >= map_lo && hi <= map_hi)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure changes nothing */
}

/* Also frees a half-built file: every pointer is NULL or owned. */
void qp_gguf_close(qp_gguf_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->map_size);
    for (arena_block *b = f->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(f->keys);
    free(f->values);
    free(f->kv_sorted);
    free(f->tensors);
    free(f->t_sorted);
    free(f->name);
    free(f);
}

qp_status qp_gguf_open_memory(const void *data, size_t size, const char *name, qp_gguf_file **out,
                           qp_error *err)
{
    static const uint8_t empty[1];
    *out = NULL;
    qp_gguf_file *f = file_new(name ? name : "<memory>");
    if (!f)
        return qp_error_set(err, QP_ERR_RUNTIME, name, -1, "out of memory");
    /* A NULL buffer is only meaningful when empty; keep base non-NULL so the
     * cursor never does arithmetic on a null pointer. */
    f->base = data ? data : empty;
    f->size = data ? size : 0;
    qp_status st = parse(f, err);
    if (st) {
        qp_gguf_close(f);
        return st;
    }
    *out = f;
    return QP_OK;
}

qp_status qp_gguf_open(const char *path, qp_gguf_file **out, qp_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return qp_error_set(err, errno == ENOENT ? QP_ERR_INPUT : QP_ERR_RUNTIME, path, -1,
                            "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "not a regular file");
    }
    qp_gguf_file *f = file_new(path);
    if (!f) {
        close(fd);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    }
    static const uint8_t empty[1];
    f->base = empty;
    f->size = 0;
    if (sb.st_size > 0) {
        /* Read-only private mapping: tensor data is paged in on demand and
         * shared with the page cache; nothing is copied. */
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            qp_gguf_close(f);
            return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot mmap: %s", strerror(e));
        }
        f->map = m;
        f->map_size = (size_t)sb.st_size;
        f->base = m;
        f->size = (size_t)sb.st_size;
    }
    close(fd); /* the mapping keeps the file alive */
    qp_status st = parse(f, err);
    if (st) {
        qp_gguf_close(f);
        return st;
    }
    *out = f;
    return QP_OK;
}

/* ==== file-level accessors ============================================== */

const char *qp_gguf_name(const qp_gguf_file *f) { return f->name; }
uint32_t qp_gguf_version(const qp_gguf_file *f) { return f->version; }
int64_t qp_gguf_n_kv(const qp_gguf_file *f) { return f->n_kv; }
int64_t qp_gguf_n_tensors(const qp_gguf_file *f) { return f->n_tensors; }
uint32_t qp_gguf_alignment(const qp_gguf_file *f) { return f->alignment; }
uint64_t qp_gguf_data_offset(const qp_gguf_file *f) { return f->data_offset; }
uint64_t qp_gguf_file_size(const qp_gguf_file *f) { return f->size; }
const void *qp_gguf_file_data(const qp_gguf_file *f) { return f->base; }

/* ==== metadata accessors ================================================ */

const char *qp_gguf_kv_key(const qp_gguf_file *f, int64_t i)
{
    return (i >= 0 && i < f->n_kv) ? f->keys[i] : NULL;
}

const qp_gguf_value *qp_gguf_kv_value(const qp_gguf_file *f, int64_t i)
{
    return (i >= 0 && i < f->n_kv) ? &f->values[i] : NULL;
}

enum qp_gguf_value_type qp_gguf_kv_type(const qp_gguf_file *f, int64_t i)
{
    return (i >= 0 && i < f->n_kv) ? f->values[i].type : QP_GGUF_TYPE_COUNT;
}

int64_t qp_gguf_find_key(const qp_gguf_file *f, const char *key)
{
    return find_name(f->kv_sorted, f->n_kv, key);
}

const qp_gguf_value *qp_gguf_get(const qp_gguf_file *f, const char *key)
{
    return qp_gguf_kv_value(f, qp_gguf_find_key(f, key));
}

/* One exact-type getter per scalar type (QP_GGUF_SCALAR_TYPES) and for
 * strings, all alike. */
#define QP_GGUF_GETTER(suffix, ctype, tag, member)                                     \
    qp_gguf_get_status qp_gguf_get_##suffix(const qp_gguf_file *f, const char *key, ctype *out) \
    {                                                                               \
        const qp_gguf_value *v = qp_gguf_get(f, key);                                     \
        if (!v)                                                                     \
            return QP_GGUF_NOT_FOUND;                                                  \
        if (v->type != (tag))                                                       \
            return QP_GGUF_WRONG_TYPE;                                                 \
        *out = v->member;                                                           \
        return QP_GGUF_FOUND;                                                          \
    }
QP_GGUF_SCALAR_TYPES(QP_GGUF_GETTER)
QP_GGUF_GETTER(str, qp_gguf_string, QP_GGUF_TYPE_STRING, str)
#undef QP_GGUF_GETTER

qp_gguf_get_status qp_gguf_get_arr(const qp_gguf_file *f, const char *key, const qp_gguf_array **out)
{
    const qp_gguf_value *v = qp_gguf_get(f, key);
    if (!v)
        return QP_GGUF_NOT_FOUND;
    if (v->type != QP_GGUF_TYPE_ARRAY)
        return QP_GGUF_WRONG_TYPE;
    *out = &v->arr;
    return QP_GGUF_FOUND;
}

/* Widening to int64 is exact for every integer type except u64 values above
 * INT64_MAX, which are reported rather than wrapped to negatives. */
qp_gguf_get_status qp_gguf_value_int(const qp_gguf_value *v, int64_t *out)
{
    if (!v)
        return QP_GGUF_NOT_FOUND;
    switch (v->type) {
    case QP_GGUF_TYPE_UINT8: *out = v->u8; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_INT8: *out = v->i8; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_UINT16: *out = v->u16; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_INT16: *out = v->i16; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_UINT32: *out = v->u32; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_INT32: *out = v->i32; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_INT64: *out = v->i64; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_UINT64:
        if (v->u64 > (uint64_t)INT64_MAX)
            return QP_GGUF_OUT_OF_RANGE;
        *out = (int64_t)v->u64;
        return QP_GGUF_FOUND;
    default:
        return QP_GGUF_WRONG_TYPE;
    }
}

qp_gguf_get_status qp_gguf_value_float(const qp_gguf_value *v, double *out)
{
    if (!v)
        return QP_GGUF_NOT_FOUND;
    if (v->type == QP_GGUF_TYPE_FLOAT32)
        *out = v->f32;
    else if (v->type == QP_GGUF_TYPE_FLOAT64)
        *out = v->f64;
    else
        return QP_GGUF_WRONG_TYPE;
    return QP_GGUF_FOUND;
}

qp_gguf_get_status qp_gguf_get_int(const qp_gguf_file *f, const char *key, int64_t min, int64_t max,
                             int64_t *out)
{
    int64_t x;
    qp_gguf_get_status s = qp_gguf_value_int(qp_gguf_get(f, key), &x);
    if (s != QP_GGUF_FOUND)
        return s;
    if (x < min || x > max)
        return QP_GGUF_OUT_OF_RANGE;
    *out = x;
    return QP_GGUF_FOUND;
}

qp_gguf_get_status qp_gguf_get_float(const qp_gguf_file *f, const char *key, double *out)
{
    return qp_gguf_value_float(qp_gguf_get(f, key), out);
}

/* ==== array accessors =================================================== */

qp_gguf_get_status qp_gguf_array_get_int(const qp_gguf_array *a, uint64_t i, int64_t *out)
{
    if (!a || i >= a->count)
        return QP_GGUF_NOT_FOUND;
    if (!qp_gguf_type_is_int(a->type) && a->type != QP_GGUF_TYPE_BOOL)
        return QP_GGUF_WRONG_TYPE;
    /* Elements are packed at file offsets with no alignment guarantee. */
    const uint8_t *p = (const uint8_t *)a->data + i * qp_gguf_type_size(a->type);
    qp_gguf_value v = {.type = a->type};
    switch (a->type) {
    case QP_GGUF_TYPE_BOOL: *out = p[0]; return QP_GGUF_FOUND;
    case QP_GGUF_TYPE_UINT8: case QP_GGUF_TYPE_INT8: memcpy(&v.u8, p, 1); break;
    case QP_GGUF_TYPE_UINT16: case QP_GGUF_TYPE_INT16: memcpy(&v.u16, p, 2); break;
    case QP_GGUF_TYPE_UINT32: case QP_GGUF_TYPE_INT32: memcpy(&v.u32, p, 4); break;
    default: memcpy(&v.u64, p, 8); break;
    }
    return qp_gguf_value_int(&v, out);
}

qp_gguf_get_status qp_gguf_array_get_float(const qp_gguf_array *a, uint64_t i, double *out)
{
    if (!a || i >= a->count)
        return QP_GGUF_NOT_FOUND;
    const uint8_t *p = a->data;
    if (a->type == QP_GGUF_TYPE_FLOAT32) {
        float x;
        memcpy(&x, p + i * 4, 4);
        *out = x;
    } else if (a->type == QP_GGUF_TYPE_FLOAT64) {
        memcpy(out, p + i * 8, 8);
    } else {
        return QP_GGUF_WRONG_TYPE;
    }
    return QP_GGUF_FOUND;
}

qp_gguf_get_status qp_gguf_array_get_str(const qp_gguf_array *a, uint64_t i, qp_gguf_string *out)
{
    if (!a || i >= a->count)
        return QP_GGUF_NOT_FOUND;
    if (a->type != QP_GGUF_TYPE_STRING)
        return QP_GGUF_WRONG_TYPE;
    *out = a->strs[i];
    return QP_GGUF_FOUND;
}

qp_gguf_get_status qp_gguf_array_get_arr(const qp_gguf_array *a, uint64_t i, const qp_gguf_array **out)
{
    if (!a || i >= a->count)
        return QP_GGUF_NOT_FOUND;
    if (a->type != QP_GGUF_TYPE_ARRAY)
        return QP_GGUF_WRONG_TYPE;
    *out = &a->arrs[i].arr;
    return QP_GGUF_FOUND;
}

/* ==== tensor accessors ================================================== */

const qp_gguf_tensor_info *qp_gguf_tensor(const qp_gguf_file *f, int64_t i)
{
    return (i >= 0 && i < f->n_tensors) ? &f->tensors[i] : NULL;
}

int64_t qp_gguf_find_tensor_index(const qp_gguf_file *f, const char *name)
{
    return find_name(f->t_sorted, f->n_tensors, name);
}

const qp_gguf_tensor_info *qp_gguf_find_tensor(const qp_gguf_file *f, const char *name)
{
    return qp_gguf_tensor(f, qp_gguf_find_tensor_index(f, name));
}

int64_t qp_gguf_tensor_nelements(const qp_gguf_tensor_info *t)
{
    /* Cannot overflow: the reader and the writer both checked the product. */
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
