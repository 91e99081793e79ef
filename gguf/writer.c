/* gguf/writer.c - build a GGUF v3 file and write it atomically (see gguf.h).
 *
 * The writer keeps deep copies of every metadata value and borrowed pointers
 * to tensor data. Writing is two passes over the same description: the first
 * computes the size of the header (so the data section offset, and with it
 * every tensor offset, is known up front), the second streams the bytes.
 *
 * Atomicity: bytes go to PATH.tmp.XXXXXX in the same directory (same file
 * system, so rename(2) is atomic), then fsync, close, rename, and an fsync of
 * the directory so the new name survives a crash too. Any failure unlinks the
 * temporary file: a reader of PATH sees the old file or the complete new one.
 */
#include "gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../quant/quant.h"

/* ==== the writer ======================================================== */

typedef struct wkv {
    char *key;        /* malloc'd copy */
    qp_gguf_value val;   /* deep copy: strings, arrays malloc'd (value_free) */
} wkv;

typedef struct wtensor {
    char name[QP_GGUF_MAX_TENSOR_NAME + 1];
    uint32_t n_dims;
    int64_t ne[QP_GGUF_MAX_DIMS];
    int type;
    const void *data; /* borrowed; NULL with fill */
    size_t nbytes;
    qp_gguf_fill_fn fill; /* produces the bytes when the writer reaches them */
    void *fill_user;
} wtensor;

struct qp_gguf_writer {
    wkv *kv;          /* [n_kv] in file order */
    int64_t n_kv, cap_kv;
    wtensor *t;       /* [n_t] in file order */
    int64_t n_t, cap_t;
    qp_error first;   /* first setter error, replayed by write */
};

qp_gguf_writer *qp_gguf_writer_new(void)
{
    qp_gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        qp_error_clear(&w->first);
    return w;
}

static void value_free(qp_gguf_value *v);

static void array_free(qp_gguf_array *a)
{
    if (a->strs)
        for (uint64_t i = 0; i < a->count; i++)
            free((void *)a->strs[i].data);
    if (a->arrs)
        for (uint64_t i = 0; i < a->count; i++)
            value_free((qp_gguf_value *)&a->arrs[i]);
    free((void *)a->data);
    free((void *)a->strs);
    free((void *)a->arrs);
}

static void value_free(qp_gguf_value *v)
{
    if (v->type == QP_GGUF_TYPE_STRING)
        free((void *)v->str.data);
    else if (v->type == QP_GGUF_TYPE_ARRAY)
        array_free(&v->arr);
    v->type = QP_GGUF_TYPE_UINT8; /* nothing left to free */
}

void qp_gguf_writer_free(qp_gguf_writer *w)
{
    if (!w)
        return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        value_free(&w->kv[i].val);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

int64_t qp_gguf_writer_n_kv(const qp_gguf_writer *w) { return w->n_kv; }
int64_t qp_gguf_writer_n_tensors(const qp_gguf_writer *w) { return w->n_t; }

/* Records the first error (later ones are usually consequences) and returns it. */
static qp_status fail(qp_gguf_writer *w, qp_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qp_status fail(qp_gguf_writer *w, qp_status st, const char *fmt, ...)
{
    if (w->first.status == QP_OK) {
        char msg[sizeof w->first.msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        qp_error_set(&w->first, st, NULL, -1, "%s", msg);
    }
    return st;
}

/* ==== deep copy with validation ========================================= */

/* Copies src into dst, checking what the reader would refuse: bad type ids,
 * bools other than 0/1, NULL payloads, nesting deeper than the limit.
 * On failure dst holds nothing to free. Returns a reason or NULL. */
static const char *value_copy(qp_gguf_value *dst, const qp_gguf_value *src, int depth);

static const char *array_copy(qp_gguf_array *dst, const qp_gguf_array *src, int depth)
{
    memset(dst, 0, sizeof *dst);
    if (depth > QP_GGUF_MAX_ARRAY_DEPTH)
        return "arrays nested too deep";
    if ((unsigned)src->type >= QP_GGUF_TYPE_COUNT)
        return "invalid array element type";
    dst->type = src->type;
    if (src->count == 0)
        return NULL;
    if (src->type == QP_GGUF_TYPE_STRING) {
        if (!src->strs)
            return "string array without strings";
        if (src->count > SIZE_MAX / sizeof(qp_gguf_string))
            return "array too large";
        qp_gguf_string *strs = calloc((size_t)src->count, sizeof *strs);
        if (!strs)
            return "out of memory";
        dst->strs = strs;
        for (uint64_t i = 0; i < src->count; i++) {
            const qp_gguf_string *s = &src->strs[i];
            if (!s->data && s->len)
                return dst->count = i, "string element without data";
            char *p = s->len < SIZE_MAX ? malloc((size_t)s->len + 1) : NULL;
            if (!p)
                return dst->count = i, "out of memory";
            if (s->len)
                memcpy(p, s->data, (size_t)s->len);
            p[s->len] = '\0';
            strs[i] = (qp_gguf_string){p, s->len};
        }
    } else if (src->type == QP_GGUF_TYPE_ARRAY) {
        if (!src->arrs)
            return "array of arrays without elements";
        if (src->count > SIZE_MAX / sizeof(qp_gguf_value))
            return "array too large";
        qp_gguf_value *arrs = calloc((size_t)src->count, sizeof *arrs);
        if (!arrs)
            return "out of memory";
        dst->arrs = arrs;
        for (uint64_t i = 0; i < src->count; i++) {
            if (src->arrs[i].type != QP_GGUF_TYPE_ARRAY)
                return dst->count = i, "element of an array of arrays is not an array";
            const char *why = value_copy(&arrs[i], &src->arrs[i], depth + 1);
            if (why)
                return dst->count = i, why;
        }
    } else {
        size_t es = qp_gguf_type_size(src->type);
        if (!src->data)
            return "numeric array without data";
        if (src->count > SIZE_MAX / es)
            return "array too large";
        size_t n = (size_t)src->count * es;
        if (src->type == QP_GGUF_TYPE_BOOL)
            for (size_t i = 0; i < n; i++)
                if (((const uint8_t *)src->data)[i] > 1)
                    return "bool array element is not 0 or 1";
        void *p = malloc(n);
        if (!p)
            return "out of memory";
        memcpy(p, src->data, n);
        dst->data = p;
    }
    dst->count = src->count;
    return NULL;
}

static const char *value_copy(qp_gguf_value *dst, const qp_gguf_value *src, int depth)
{
    *dst = *src; /* scalars done */
    if ((unsigned)src->type >= QP_GGUF_TYPE_COUNT)
        return dst->type = QP_GGUF_TYPE_UINT8, "invalid value type";
    if (src->type == QP_GGUF_TYPE_STRING) {
        if (!src->str.data && src->str.len)
            return dst->type = QP_GGUF_TYPE_UINT8, "string without data";
        char *p = src->str.len < SIZE_MAX ? malloc((size_t)src->str.len + 1) : NULL;
        if (!p)
            return dst->type = QP_GGUF_TYPE_UINT8, "out of memory";
        if (src->str.len)
            memcpy(p, src->str.data, (size_t)src->str.len);
        p[src->str.len] = '\0';
        dst->str.data = p;
    } else if (src->type == QP_GGUF_TYPE_ARRAY) {
        const char *why = array_copy(&dst->arr, &src->arr, depth);
        if (why) {
            array_free(&dst->arr);
            dst->type = QP_GGUF_TYPE_UINT8;
            return why;
        }
    }
    return NULL;
}

/* ==== setters =========================================================== */

/* Linear: writers hold tens of keys (a model's header), and a linear scan
 * keeps insertion order, which is the file order, trivially. */
static int64_t find_kv(const qp_gguf_writer *w, const char *key)
{
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return i;
    return -1;
}

qp_status qp_gguf_writer_set_value(qp_gguf_writer *w, const char *key, const qp_gguf_value *v)
{
    if (!key || !*key)
        return fail(w, QP_ERR_INPUT, "empty metadata key");
    size_t klen = strlen(key);
    if (klen > QP_GGUF_MAX_KEY)
        return fail(w, QP_ERR_INPUT, "metadata key of %zu bytes exceeds %d", klen, QP_GGUF_MAX_KEY);
    if (!v)
        return fail(w, QP_ERR_INPUT, "key '%s': no value", key);
    /* The reader insists on this; refuse to write what it would refuse. */
    if (strcmp(key, "general.alignment") == 0 &&
        (v->type != QP_GGUF_TYPE_UINT32 || v->u32 == 0 || (v->u32 & (v->u32 - 1)) != 0))
        return fail(w, QP_ERR_INPUT, "general.alignment must be a u32 power of two");
    qp_gguf_value copy;
    const char *why = value_copy(&copy, v, 1);
    if (why)
        return fail(w, strcmp(why, "out of memory") == 0 ? QP_ERR_RUNTIME : QP_ERR_INPUT,
                    "key '%s': %s", key, why);
    int64_t i = find_kv(w, key);
    if (i >= 0) { /* replace in place: file order is first-set order */
        value_free(&w->kv[i].val);
        w->kv[i].val = copy;
        return QP_OK;
    }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *kv = realloc(w->kv, (size_t)cap * sizeof *kv);
        if (!kv) {
            value_free(&copy);
            return fail(w, QP_ERR_RUNTIME, "out of memory");
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        value_free(&copy);
        return fail(w, QP_ERR_RUNTIME, "out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, copy};
    return QP_OK;
}

/* One setter per scalar type (QP_GGUF_SCALAR_TYPES), all alike. */
#define QP_GGUF_SETTER(suffix, ctype, tag, member)                                         \
    qp_status qp_gguf_writer_set_##suffix(qp_gguf_writer *w, const char *key, ctype v)        \
    {                                                                                   \
        qp_gguf_value val = {.type = (tag)};                                               \
        val.member = v;                                                                 \
        return qp_gguf_writer_set_value(w, key, &val);                                     \
    }
QP_GGUF_SCALAR_TYPES(QP_GGUF_SETTER)
#undef QP_GGUF_SETTER

qp_status qp_gguf_writer_set_strn(qp_gguf_writer *w, const char *key, const char *s, uint64_t len)
{
    qp_gguf_value v = {.type = QP_GGUF_TYPE_STRING, .str = {s, len}};
    return qp_gguf_writer_set_value(w, key, &v);
}

qp_status qp_gguf_writer_set_str(qp_gguf_writer *w, const char *key, const char *s)
{
    return qp_gguf_writer_set_strn(w, key, s, s ? strlen(s) : 0);
}

qp_status qp_gguf_writer_set_arr_data(qp_gguf_writer *w, const char *key, enum qp_gguf_value_type type,
                                   const void *data, uint64_t count)
{
    if (qp_gguf_type_size(type) == 0)
        return fail(w, QP_ERR_INPUT, "key '%s': %s is not a numeric array element type", key ? key : "",
                    qp_gguf_type_name(type));
    qp_gguf_value v = {.type = QP_GGUF_TYPE_ARRAY, .arr = {.type = type, .count = count, .data = data}};
    return qp_gguf_writer_set_value(w, key, &v);
}

qp_status qp_gguf_writer_set_arr_str(qp_gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t count)
{
    if (count > 0 && !strs)
        return fail(w, QP_ERR_INPUT, "key '%s': string array without strings", key ? key : "");
    if (count > SIZE_MAX / sizeof(qp_gguf_string))
        return fail(w, QP_ERR_RUNTIME, "out of memory");
    /* View the C strings as qp_gguf_strings, then let set_value copy them. */
    qp_gguf_string *view = malloc((count ? (size_t)count : 1) * sizeof *view); /* [count] */
    if (!view)
        return fail(w, QP_ERR_RUNTIME, "out of memory");
    for (uint64_t i = 0; i < count; i++)
        view[i] = (qp_gguf_string){strs[i], strs[i] ? strlen(strs[i]) : 0};
    qp_gguf_value v = {.type = QP_GGUF_TYPE_ARRAY,
                    .arr = {.type = QP_GGUF_TYPE_STRING, .count = count, .strs = view}};
    qp_status st = qp_gguf_writer_set_value(w, key, &v);
    free(view);
    return st;
}

qp_status qp_gguf_writer_copy_kv(qp_gguf_writer *w, const qp_gguf_file *f, int64_t i)
{
    const char *key = qp_gguf_kv_key(f, i);
    if (!key)
        return fail(w, QP_ERR_INPUT, "key index %lld out of range", (long long)i);
    return qp_gguf_writer_set_value(w, key, qp_gguf_kv_value(f, i));
}

bool qp_gguf_writer_remove(qp_gguf_writer *w, const char *key)
{
    int64_t i = key ? find_kv(w, key) : -1;
    if (i < 0)
        return false;
    free(w->kv[i].key);
    value_free(&w->kv[i].val);
    memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
    w->n_kv--;
    return true;
}

qp_status qp_gguf_writer_set_alignment(qp_gguf_writer *w, uint32_t alignment)
{
    return qp_gguf_writer_set_u32(w, "general.alignment", alignment);
}

static qp_status add_tensor(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims, const int64_t *ne,
                            const void *data, size_t nbytes, qp_gguf_fill_fn fill, void *user);

qp_status qp_gguf_writer_add_tensor(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, size_t nbytes)
{
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

qp_status qp_gguf_writer_add_tensor_fill(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                                         const int64_t *ne, qp_gguf_fill_fn fill, void *user)
{
    if (!fill)
        return fail(w, QP_ERR_INPUT, "tensor '%s': no fill function", name ? name : "");
    /* the size the shape implies: add_tensor checks it against itself */
    const qp_type_traits *tr = qp_type_info(type);
    uint64_t nel = 1;
    for (uint32_t d = 0; ne && d < n_dims && d < QP_GGUF_MAX_DIMS; d++)
        nel = ne[d] > 0 && nel <= UINT64_MAX / (uint64_t)ne[d] ? nel * (uint64_t)ne[d] : 0;
    const size_t row = tr && ne && ne[0] > 0 ? qp_row_size(type, ne[0]) : 0;
    const uint64_t rows = ne && ne[0] > 0 ? nel / (uint64_t)ne[0] : 0;
    const size_t nbytes = row && rows <= SIZE_MAX / row ? row * (size_t)rows : 0;
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, user);
}

static qp_status add_tensor(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims, const int64_t *ne,
                            const void *data, size_t nbytes, qp_gguf_fill_fn fill, void *user)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > QP_GGUF_MAX_TENSOR_NAME)
        return fail(w, QP_ERR_INPUT, "tensor name '%s' must be 1..%d bytes", name ? name : "",
                    QP_GGUF_MAX_TENSOR_NAME);
    /* O(n) per tensor: ~300 tensors for a 7B llama, ~700 for 70B; cheap. */
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return fail(w, QP_ERR_INPUT, "duplicate tensor name '%s'", name);
    if (n_dims == 0 || n_dims > QP_GGUF_MAX_DIMS || !ne)
        return fail(w, QP_ERR_INPUT, "tensor '%s': n_dims %u is not in 1..%d", name, n_dims,
                    QP_GGUF_MAX_DIMS);
    const qp_type_traits *tr = qp_type_info(type);
    if (!tr)
        return fail(w, QP_ERR_INPUT, "tensor '%s': unknown type %d", name, type);
    wtensor t = {.n_dims = n_dims, .type = type, .data = data, .nbytes = nbytes, .fill = fill, .fill_user = user};
    memcpy(t.name, name, len + 1);
    int64_t nel = 1;
    for (uint32_t d = 0; d < QP_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0)
            return fail(w, QP_ERR_INPUT, "tensor '%s': ne[%u] = %lld is negative", name, d,
                        (long long)t.ne[d]);
        if (t.ne[d] != 0 && nel > INT64_MAX / t.ne[d])
            return fail(w, QP_ERR_INPUT, "tensor '%s': element count overflows", name);
        nel *= t.ne[d];
    }
    if (t.ne[0] % tr->block_size != 0)
        return fail(w, QP_ERR_INPUT, "tensor '%s': ne[0] = %lld is not a multiple of %s's block size %lld",
                    name, (long long)t.ne[0], tr->name, (long long)tr->block_size);
    uint64_t rows = nel == 0 ? 0 : (uint64_t)(nel / t.ne[0]);
    uint64_t row = t.ne[0] == 0 ? 0 : qp_row_size(type, t.ne[0]);
    if ((t.ne[0] != 0 && row == 0) || (rows && row > SIZE_MAX / rows))
        return fail(w, QP_ERR_INPUT, "tensor '%s': byte size overflows", name);
    /* The caller's byte count must match what a reader will compute from the
     * shape, or the file would describe tensors it does not contain. */
    if (row * rows != nbytes)
        return fail(w, QP_ERR_INPUT, "tensor '%s': %zu bytes given, its shape and type need %llu",
                    name, nbytes, (unsigned long long)(row * rows));
    if (!data && !fill && nbytes)
        return fail(w, QP_ERR_INPUT, "tensor '%s': no data", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt)
            return fail(w, QP_ERR_RUNTIME, "out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    w->t[w->n_t++] = t;
    return QP_OK;
}

/* ==== serialization ===================================================== */

/* Output: a buffered file descriptor, or a memory buffer of known size. */
typedef struct sink {
    int fd;            /* -1 for memory */
    uint8_t *buf;      /* file: staging buffer [cap]; memory: the result [cap] */
    size_t len, cap;
    int err_no;        /* first write error (file), or EIO after a failed fill */
    uint8_t *tbuf;     /* one filled tensor's bytes [tcap] */
    size_t tcap;
    qp_error fill_err; /* why a fill failed */
} sink;

/* write(2) may write less than asked (signals, pipes, quotas): loop until
 * done or a real error, which is kept for the caller to report with errno. */
static int sink_flush(sink *s)
{
    size_t done = 0;
    while (done < s->len) {
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s->err_no = n < 0 ? errno : EIO;
            return -1;
        }
        done += (size_t)n;
    }
    s->len = 0;
    return 0;
}

static void put(sink *s, const void *p, size_t n)
{
    if (s->err_no || n == 0)
        return;
    if (s->fd < 0) { /* memory: sized exactly by the first pass */
        memcpy(s->buf + s->len, p, n);
        s->len += n;
        return;
    }
    const uint8_t *b = p;
    while (n) {
        size_t k = s->cap - s->len < n ? s->cap - s->len : n;
        memcpy(s->buf + s->len, b, k);
        s->len += k;
        b += k;
        n -= k;
        if (s->len == s->cap && sink_flush(s))
            return;
    }
}

/* Padding bytes: GGUF pads with zeros (spec), and zeros keep the output
 * deterministic, so two writes of the same content are byte-identical. */
static void put_zeros(sink *s, size_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        put(s, zeros, k);
        n -= k;
    }
}

static void put_u32(sink *s, uint32_t v) { put(s, &v, 4); }
static void put_u64(sink *s, uint64_t v) { put(s, &v, 8); }

/* GGUF string: u64 length, then the bytes, no terminating NUL. */
static void put_str(sink *s, const char *p, uint64_t len)
{
    put_u64(s, len);
    put(s, p, (size_t)len);
}

/* Encoded size of a value body (after its u32 type tag). Sizes are bounded by
 * memory the writer holds, so the sums cannot overflow 64 bits. */
static uint64_t value_size(const qp_gguf_value *v)
{
    if (v->type == QP_GGUF_TYPE_STRING)
        return 8 + v->str.len;
    if (v->type != QP_GGUF_TYPE_ARRAY)
        return qp_gguf_type_size(v->type);
    uint64_t n = 4 + 8;
    const qp_gguf_array *a = &v->arr;
    if (a->type == QP_GGUF_TYPE_STRING)
        for (uint64_t i = 0; i < a->count; i++)
            n += 8 + a->strs[i].len;
    else if (a->type == QP_GGUF_TYPE_ARRAY)
        for (uint64_t i = 0; i < a->count; i++)
            n += value_size(&a->arrs[i]);
    else
        n += a->count * qp_gguf_type_size(a->type);
    return n;
}

static void put_value(sink *s, const qp_gguf_value *v)
{
    switch (v->type) {
    case QP_GGUF_TYPE_STRING:
        put_str(s, v->str.data, v->str.len);
        return;
    case QP_GGUF_TYPE_ARRAY: {
        const qp_gguf_array *a = &v->arr;
        put_u32(s, (uint32_t)a->type);
        put_u64(s, a->count);
        if (a->type == QP_GGUF_TYPE_STRING)
            for (uint64_t i = 0; i < a->count; i++)
                put_str(s, a->strs[i].data, a->strs[i].len);
        else if (a->type == QP_GGUF_TYPE_ARRAY)
            for (uint64_t i = 0; i < a->count; i++)
                put_value(s, &a->arrs[i]);
        else if (a->count)
            put(s, a->data, (size_t)(a->count * qp_gguf_type_size(a->type)));
        return;
    }
    case QP_GGUF_TYPE_BOOL: {
        uint8_t b = v->b ? 1 : 0;
        put(s, &b, 1);
        return;
    }
    default:
        /* The union members start at the same address; little-endian host. */
        put(s, &v->u8, qp_gguf_type_size(v->type));
        return;
    }
}

static uint32_t writer_alignment(const qp_gguf_writer *w)
{
    int64_t i = find_kv(w, "general.alignment");
    return i >= 0 ? w->kv[i].val.u32 : QP_GGUF_DEFAULT_ALIGNMENT; /* validated when set */
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Pass 1: offsets. Returns the total file size; tensor offsets in off[]. */
static uint64_t layout(const qp_gguf_writer *w, uint64_t *off /* [n_t] */, uint64_t *data_offset)
{
    const uint64_t a = writer_alignment(w);
    uint64_t n = QP_GGUF_HEADER_SIZE;
    /* kv: u64 key length + key + u32 type + value body */
    for (int64_t i = 0; i < w->n_kv; i++)
        n += 8 + strlen(w->kv[i].key) + 4 + value_size(&w->kv[i].val);
    /* tensor info: u64 name length + name + u32 n_dims + u64 ne[n_dims]
     * + u32 type + u64 offset */
    for (int64_t i = 0; i < w->n_t; i++)
        n += 8 + strlen(w->t[i].name) + 4 + 8ull * w->t[i].n_dims + 4 + 8;
    *data_offset = align_up(n, a);
    /* Each tensor padded to the alignment, the last one too (as ggml does),
     * so the file ends on an aligned boundary. */
    uint64_t d = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        off[i] = d;
        d += align_up(w->t[i].nbytes, a);
    }
    return *data_offset + d;
}

/* Pass 2: the bytes. */
static void emit(const qp_gguf_writer *w, sink *s, const uint64_t *off, uint64_t data_offset)
{
    const uint64_t a = writer_alignment(w);
    uint64_t pos = QP_GGUF_HEADER_SIZE;
    put(s, QP_GGUF_MAGIC, 4);
    put_u32(s, QP_GGUF_VERSION);
    put_u64(s, (uint64_t)w->n_t);
    put_u64(s, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        put_str(s, kv->key, strlen(kv->key));
        put_u32(s, (uint32_t)kv->val.type);
        put_value(s, &kv->val);
        pos += 8 + strlen(kv->key) + 4 + value_size(&kv->val);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(s, t->name, strlen(t->name));
        put_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(s, (uint64_t)t->ne[d]);
        put_u32(s, (uint32_t)t->type);
        put_u64(s, off[i]);
        pos += 8 + strlen(t->name) + 4 + 8ull * t->n_dims + 4 + 8;
    }
    /* pos re-derives the header size independently of layout(): the two
     * passes must agree, or every tensor offset written above is wrong. */
    put_zeros(s, (size_t)(data_offset - pos));
    for (int64_t i = 0; i < w->n_t && !s->err_no; i++) {
        const wtensor *t = &w->t[i];
        const void *data = t->data;
        if (t->fill && t->nbytes) {
            /* one tensor at a time: the buffer grows to the largest */
            if (t->nbytes > s->tcap) {
                uint8_t *b = realloc(s->tbuf, t->nbytes);
                if (!b) {
                    qp_error_set(&s->fill_err, QP_ERR_RUNTIME, NULL, -1, "out of memory for tensor %s", t->name);
                    s->err_no = EIO;
                    return;
                }
                s->tbuf = b;
                s->tcap = t->nbytes;
            }
            if (t->fill(t->fill_user, i, s->tbuf, t->nbytes, &s->fill_err) != QP_OK) {
                s->err_no = EIO;
                return;
            }
            data = s->tbuf;
        }
        if (t->nbytes)
            put(s, data, t->nbytes);
        put_zeros(s, (size_t)(align_up(t->nbytes, a) - t->nbytes));
    }
}

/* Replays a remembered setter error into err, naming the output. */
static qp_status replay(const qp_gguf_writer *w, const char *path, qp_error *err)
{
    return qp_error_set(err, w->first.status, path, -1, "%s", w->first.msg);
}

qp_status qp_gguf_writer_write_memory(qp_gguf_writer *w, void **out, size_t *size, qp_error *err)
{
    *out = NULL;
    *size = 0;
    if (w->first.status)
        return replay(w, "<memory>", err);
    uint64_t *off = malloc((w->n_t ? (size_t)w->n_t : 1) * sizeof *off); /* [n_t] */
    if (!off)
        return qp_error_set(err, QP_ERR_RUNTIME, "<memory>", -1, "out of memory");
    uint64_t data_offset, total = layout(w, off, &data_offset);
    uint8_t *buf = total <= SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!buf) {
        free(off);
        return qp_error_set(err, QP_ERR_RUNTIME, "<memory>", -1, "out of memory (%llu bytes)",
                            (unsigned long long)total);
    }
    sink s = {.fd = -1, .buf = buf, .cap = (size_t)total};
    emit(w, &s, off, data_offset);
    free(off);
    free(s.tbuf);
    if (s.fill_err.status) {
        free(buf);
        return qp_error_set(err, s.fill_err.status, s.fill_err.file[0] ? s.fill_err.file : "<memory>",
                            s.fill_err.offset, "%s", s.fill_err.msg);
    }
    *out = buf;
    *size = s.len;
    return QP_OK;
}

/* fsync of the directory holding `path`, so the rename itself is durable.
 * Best effort: some file systems refuse fsync on directories. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

qp_status qp_gguf_writer_write(qp_gguf_writer *w, const char *path, qp_error *err)
{
    if (w->first.status)
        return replay(w, path, err);
    if (!path || !*path)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "empty output path");

    /* Everything that can fail before the temporary file exists comes first. */
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    uint64_t *off = malloc((w->n_t ? (size_t)w->n_t : 1) * sizeof *off); /* [n_t] */
    sink s = {.fd = -1, .cap = (size_t)1 << 20}; /* 1 MiB staging buffer */
    s.buf = malloc(s.cap);
    if (!tmp || !off || !s.buf) {
        free(tmp);
        free(off);
        free(s.buf);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    uint64_t data_offset;
    (void)layout(w, off, &data_offset);

    qp_status st = QP_OK;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create temporary file %s: %s", tmp,
                          strerror(errno));
        goto out; /* nothing was created */
    }
    /* mkstemp creates 0600; a model file is meant to be readable by others. */
    (void)fchmod(fd, 0644);
    s.fd = fd;
    emit(w, &s, off, data_offset);
    if (!s.err_no)
        (void)sink_flush(&s);
    if (s.fill_err.status) {
        st = qp_error_set(err, s.fill_err.status, s.fill_err.file[0] ? s.fill_err.file : path, s.fill_err.offset,
                          "%s", s.fill_err.msg);
    } else if (s.err_no) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "write to %s failed: %s", tmp,
                          strerror(s.err_no));
    } else if (fsync(fd) != 0) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "fsync of %s failed: %s", tmp,
                          strerror(errno));
    }
    /* close can report a deferred write error (NFS): it counts. */
    if (close(fd) != 0 && st == QP_OK)
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "close of %s failed: %s", tmp,
                          strerror(errno));
    if (st == QP_OK && rename(tmp, path) != 0)
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot rename %s to %s: %s", tmp, path,
                          strerror(errno));
    if (st != QP_OK)
        unlink(tmp);
    else
        sync_parent_dir(path);
out:
    free(tmp);
    free(off);
    free(s.buf);
    free(s.tbuf);
    return st;
}
