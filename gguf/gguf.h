/* gguf/gguf.h - reading and writing GGUF files (llama.cpp's model format).
 *
 * Layout (ggml docs/gguf.md; all integers little-endian):
 *
 *   "GGUF"  u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x      { string key, u32 value_type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to a multiple of general.alignment (default 32)
 *   data section: tensor i starts at data_offset + offset_i
 *
 *   string = u64 len + len bytes (no NUL); array = u32 elem_type, u64 count,
 *   count elements (arrays of arrays allowed here, up to QP_GGUF_MAX_ARRAY_DEPTH).
 *
 * Reader: versions 2 and 3 (v1 used 32-bit counts and is refused; so are
 * big-endian files). The whole header is parsed and validated at open time:
 * every count and length is checked against the bytes left in the file before
 * anything is allocated, so a hostile file cannot crash, hang or exhaust
 * memory; any defect gives QP_ERR_INPUT with the byte offset of the bad field.
 * After a successful open every accessor below is a cheap lookup that cannot
 * fail on file content. All strings handed out (keys, tensor names, string
 * values) are NUL-terminated copies owned by the qp_gguf_file; they live until
 * qp_gguf_close. Tensor data and packed numeric arrays point into the mapping.
 *
 * Writer: builds a GGUF v3 file in memory (metadata copied, tensor data
 * borrowed) and writes it atomically: PATH.tmp.XXXXXX, fsync, rename. A
 * failure never leaves PATH half-written nor a temporary file behind.
 */
#ifndef QP_GGUF_H
#define QP_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/common.h"
#include "../quant/quant.h"

#define QP_GGUF_MAGIC "GGUF"
#define QP_GGUF_VERSION 3               /* what the writer produces */
#define QP_GGUF_DEFAULT_ALIGNMENT 32    /* when general.alignment is absent */
#define QP_GGUF_MAX_DIMS 4
#define QP_GGUF_MAX_TENSOR_NAME 63      /* bytes; ggml's GGML_MAX_NAME (64) less the NUL */
#define QP_GGUF_MAX_KEY 65535           /* bytes; the spec's 2^16-1 */
#define QP_GGUF_MAX_ARRAY_DEPTH 8       /* arrays nested inside arrays, outermost = 1 */

/* Metadata value types; the ids are the file's. */
enum qp_gguf_value_type {
    QP_GGUF_TYPE_UINT8 = 0,
    QP_GGUF_TYPE_INT8 = 1,
    QP_GGUF_TYPE_UINT16 = 2,
    QP_GGUF_TYPE_INT16 = 3,
    QP_GGUF_TYPE_UINT32 = 4,
    QP_GGUF_TYPE_INT32 = 5,
    QP_GGUF_TYPE_FLOAT32 = 6,
    QP_GGUF_TYPE_BOOL = 7,    /* one byte, 0 or 1 (anything else is refused) */
    QP_GGUF_TYPE_STRING = 8,
    QP_GGUF_TYPE_ARRAY = 9,
    QP_GGUF_TYPE_UINT64 = 10,
    QP_GGUF_TYPE_INT64 = 11,
    QP_GGUF_TYPE_FLOAT64 = 12,
    QP_GGUF_TYPE_COUNT = 13,
};

/* "u8", "i32", "f32", "bool", "str", "arr", ...; "?" for an invalid id. */
const char *qp_gguf_type_name(int type);
/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY, invalid. */
size_t qp_gguf_type_size(int type);
/* True for the eight integer types (not BOOL). */
bool qp_gguf_type_is_int(int type);

/* A string value. data[len] == '\0' always, but data may also contain NULs
 * (GGUF strings are byte strings), so use len, not strlen. */
typedef struct qp_gguf_string {
    const char *data;
    uint64_t len;
} qp_gguf_string;

typedef struct qp_gguf_value qp_gguf_value;

/* An array value. Exactly one of data / strs / arrs is used, by `type`:
 * - numeric or BOOL: data -> count packed little-endian elements of
 *   qp_gguf_type_size(type) bytes. NOT necessarily aligned for the element type
 *   (it points into the file): read via qp_gguf_array_get_* or memcpy.
 * - STRING: strs -> count strings.
 * - ARRAY:  arrs -> count values, each of type QP_GGUF_TYPE_ARRAY.
 * An empty array may have all three NULL. */
typedef struct qp_gguf_array {
    enum qp_gguf_value_type type; /* element type */
    uint64_t count;
    const void *data;
    const qp_gguf_string *strs;
    const qp_gguf_value *arrs;
} qp_gguf_array;

/* A metadata value: `type` says which member holds it. */
struct qp_gguf_value {
    enum qp_gguf_value_type type;
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        bool b;
        uint64_t u64;
        int64_t i64;
        double f64;
        qp_gguf_string str;
        qp_gguf_array arr;
    };
};

/* Result of a typed lookup. */
typedef enum qp_gguf_get_status {
    QP_GGUF_FOUND = 0,
    QP_GGUF_NOT_FOUND = 1,    /* no such key (or array index past the end) */
    QP_GGUF_WRONG_TYPE = 2,   /* the value exists but has another type; *out untouched */
    QP_GGUF_OUT_OF_RANGE = 3, /* lenient integer getter: value does not fit */
} qp_gguf_get_status;

/* ==== reader ============================================================ */

typedef struct qp_gguf_file qp_gguf_file;

/* Maps `path` read-only and parses it. On failure *out is NULL and err says
 * why (QP_ERR_INPUT: malformed or unsupported; QP_ERR_RUNTIME: I/O, memory). */
qp_status qp_gguf_open(const char *path, qp_gguf_file **out, qp_error *err);

/* Same, over `size` bytes at `data`, which are BORROWED: they must stay valid
 * and unchanged until qp_gguf_close. `name` (may be NULL) is used in messages. */
qp_status qp_gguf_open_memory(const void *data, size_t size, const char *name,
                           qp_gguf_file **out, qp_error *err);

void qp_gguf_close(qp_gguf_file *f); /* NULL is fine */

/* Tells the kernel that the mapped bytes [p, p + n) of f (whole pages
 * inside it) are not needed now: they leave this process's resident
 * memory and are read from the file again when touched (the page cache
 * usually still has them). Nothing for a file opened from memory. Used
 * once a tensor's bytes have been copied into another form (packed) or a
 * layer is done. */
void qp_gguf_release(const qp_gguf_file *f, const void *p, size_t n);

const char *qp_gguf_name(const qp_gguf_file *f);      /* path or name given at open */
uint32_t qp_gguf_version(const qp_gguf_file *f);      /* 2 or 3 */
int64_t qp_gguf_n_kv(const qp_gguf_file *f);
int64_t qp_gguf_n_tensors(const qp_gguf_file *f);
uint32_t qp_gguf_alignment(const qp_gguf_file *f);    /* general.alignment or 32 */
uint64_t qp_gguf_data_offset(const qp_gguf_file *f);  /* file offset of the data section */
uint64_t qp_gguf_file_size(const qp_gguf_file *f);
const void *qp_gguf_file_data(const qp_gguf_file *f); /* the whole file, qp_gguf_file_size bytes */

/* ---- metadata ---- keys in file order, i in [0, n_kv) */
const char *qp_gguf_kv_key(const qp_gguf_file *f, int64_t i);     /* NULL if i out of range */
const qp_gguf_value *qp_gguf_kv_value(const qp_gguf_file *f, int64_t i);
enum qp_gguf_value_type qp_gguf_kv_type(const qp_gguf_file *f, int64_t i); /* QP_GGUF_TYPE_COUNT if out of range */
int64_t qp_gguf_find_key(const qp_gguf_file *f, const char *key); /* index, or -1 (O(log n_kv)) */
const qp_gguf_value *qp_gguf_get(const qp_gguf_file *f, const char *key); /* NULL if absent */

/* Exact-type getters: *out is written only when QP_GGUF_FOUND. */
qp_gguf_get_status qp_gguf_get_u8(const qp_gguf_file *f, const char *key, uint8_t *out);
qp_gguf_get_status qp_gguf_get_i8(const qp_gguf_file *f, const char *key, int8_t *out);
qp_gguf_get_status qp_gguf_get_u16(const qp_gguf_file *f, const char *key, uint16_t *out);
qp_gguf_get_status qp_gguf_get_i16(const qp_gguf_file *f, const char *key, int16_t *out);
qp_gguf_get_status qp_gguf_get_u32(const qp_gguf_file *f, const char *key, uint32_t *out);
qp_gguf_get_status qp_gguf_get_i32(const qp_gguf_file *f, const char *key, int32_t *out);
qp_gguf_get_status qp_gguf_get_u64(const qp_gguf_file *f, const char *key, uint64_t *out);
qp_gguf_get_status qp_gguf_get_i64(const qp_gguf_file *f, const char *key, int64_t *out);
qp_gguf_get_status qp_gguf_get_f32(const qp_gguf_file *f, const char *key, float *out);
qp_gguf_get_status qp_gguf_get_f64(const qp_gguf_file *f, const char *key, double *out);
qp_gguf_get_status qp_gguf_get_bool(const qp_gguf_file *f, const char *key, bool *out);
qp_gguf_get_status qp_gguf_get_str(const qp_gguf_file *f, const char *key, qp_gguf_string *out);
qp_gguf_get_status qp_gguf_get_arr(const qp_gguf_file *f, const char *key, const qp_gguf_array **out);

/* Lenient getters, because converters disagree (u32 vs i32 for the same key):
 * qp_gguf_get_int accepts any integer type whose value lies in [min, max]
 * (QP_GGUF_OUT_OF_RANGE otherwise); qp_gguf_get_float accepts FLOAT32/FLOAT64. */
qp_gguf_get_status qp_gguf_get_int(const qp_gguf_file *f, const char *key, int64_t min,
                             int64_t max, int64_t *out);
qp_gguf_get_status qp_gguf_get_float(const qp_gguf_file *f, const char *key, double *out);

/* Same conversions on a value already in hand (any integer type -> int64;
 * a UINT64 above INT64_MAX is QP_GGUF_OUT_OF_RANGE). */
qp_gguf_get_status qp_gguf_value_int(const qp_gguf_value *v, int64_t *out);
qp_gguf_get_status qp_gguf_value_float(const qp_gguf_value *v, double *out);

/* Array elements, bounds- and type-checked (QP_GGUF_NOT_FOUND: i >= count). */
qp_gguf_get_status qp_gguf_array_get_int(const qp_gguf_array *a, uint64_t i, int64_t *out);  /* integer or BOOL elements */
qp_gguf_get_status qp_gguf_array_get_float(const qp_gguf_array *a, uint64_t i, double *out); /* FLOAT32/FLOAT64 elements */
qp_gguf_get_status qp_gguf_array_get_str(const qp_gguf_array *a, uint64_t i, qp_gguf_string *out);
qp_gguf_get_status qp_gguf_array_get_arr(const qp_gguf_array *a, uint64_t i, const qp_gguf_array **out);

/* ---- tensors ---- i in [0, n_tensors), in file order */
typedef struct qp_gguf_tensor_info {
    const char *name;       /* NUL-terminated, 1..GGUF_MAX_TENSOR_NAME bytes */
    uint32_t n_dims;        /* 1..4 */
    int64_t ne[QP_GGUF_MAX_DIMS]; /* elements per dim, ne[0] innermost; 1 past n_dims;
                               >= 0: an empty (0) dim is legal, as in ggml */
    int type;               /* enum qp_type (quant/quant.h) */
    uint64_t offset;        /* relative to the data section, multiple of alignment */
    size_t nbytes;          /* qp_row_size(type, ne[0]) * ne[1] * ne[2] * ne[3] */
    const void *data;       /* into the file; aligned to `alignment` relative to
                               the file start (page-aligned for qp_gguf_open) */
} qp_gguf_tensor_info;

const qp_gguf_tensor_info *qp_gguf_tensor(const qp_gguf_file *f, int64_t i); /* NULL if out of range */
const qp_gguf_tensor_info *qp_gguf_find_tensor(const qp_gguf_file *f, const char *name); /* NULL if absent */
int64_t qp_gguf_find_tensor_index(const qp_gguf_file *f, const char *name); /* -1 if absent */
int64_t qp_gguf_tensor_nelements(const qp_gguf_tensor_info *t);

/* ==== writer ============================================================ */

typedef struct qp_gguf_writer qp_gguf_writer;

/* NULL when out of memory. */
qp_gguf_writer *qp_gguf_writer_new(void);
void qp_gguf_writer_free(qp_gguf_writer *w); /* NULL is fine */

/* Setters copy key and value. Setting an existing key replaces its value in
 * place (file order = order of first setting). Errors (bad key, invalid value,
 * out of memory) are returned AND remembered: qp_gguf_writer_write then fails
 * with the first one, so a caller may check only the final write. */
qp_status qp_gguf_writer_set_u8(qp_gguf_writer *w, const char *key, uint8_t v);
qp_status qp_gguf_writer_set_i8(qp_gguf_writer *w, const char *key, int8_t v);
qp_status qp_gguf_writer_set_u16(qp_gguf_writer *w, const char *key, uint16_t v);
qp_status qp_gguf_writer_set_i16(qp_gguf_writer *w, const char *key, int16_t v);
qp_status qp_gguf_writer_set_u32(qp_gguf_writer *w, const char *key, uint32_t v);
qp_status qp_gguf_writer_set_i32(qp_gguf_writer *w, const char *key, int32_t v);
qp_status qp_gguf_writer_set_u64(qp_gguf_writer *w, const char *key, uint64_t v);
qp_status qp_gguf_writer_set_i64(qp_gguf_writer *w, const char *key, int64_t v);
qp_status qp_gguf_writer_set_f32(qp_gguf_writer *w, const char *key, float v);
qp_status qp_gguf_writer_set_f64(qp_gguf_writer *w, const char *key, double v);
qp_status qp_gguf_writer_set_bool(qp_gguf_writer *w, const char *key, bool v);
qp_status qp_gguf_writer_set_str(qp_gguf_writer *w, const char *key, const char *s); /* NUL-terminated */
qp_status qp_gguf_writer_set_strn(qp_gguf_writer *w, const char *key, const char *s, uint64_t len);
/* Array of `count` numeric or BOOL elements of `type`, packed native = little-endian. */
qp_status qp_gguf_writer_set_arr_data(qp_gguf_writer *w, const char *key, enum qp_gguf_value_type type,
                                   const void *data, uint64_t count);
/* Array of `count` NUL-terminated strings. */
qp_status qp_gguf_writer_set_arr_str(qp_gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t count);
/* Any value, deep-copied; the way to write nested arrays (build qp_gguf_value /
 * qp_gguf_array trees in your own memory). */
qp_status qp_gguf_writer_set_value(qp_gguf_writer *w, const char *key, const qp_gguf_value *v);
/* Copies key i of an open file (value deep-copied; f may be closed after). */
qp_status qp_gguf_writer_copy_kv(qp_gguf_writer *w, const qp_gguf_file *f, int64_t i);
/* Removes a key; true if it was there. */
bool qp_gguf_writer_remove(qp_gguf_writer *w, const char *key);
/* Sets general.alignment (u32); must be a non-zero power of two. */
qp_status qp_gguf_writer_set_alignment(qp_gguf_writer *w, uint32_t alignment);

/* Produces tensor `index`'s nbytes bytes into buf when the writer reaches
 * it (a tensor at a time, so a file larger than memory can be written);
 * anything but QP_OK fails the write with *err's message. */
typedef qp_status (*qp_gguf_fill_fn)(void *user, int64_t index, void *buf, size_t nbytes, qp_error *err);

/* Adds a tensor; `data` (nbytes bytes) is BORROWED until qp_gguf_writer_write
 * returns. Checked: name 1..GGUF_MAX_TENSOR_NAME bytes and unique, n_dims 1..4,
 * ne >= 0, type known to quant.h, ne[0] a multiple of its block size,
 * nbytes == the size those imply. `data` may be NULL only if nbytes == 0. */
qp_status qp_gguf_writer_add_tensor(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, size_t nbytes);
/* The same with the bytes made by fill(user, index, buf, nbytes, err) at
 * write time (the size follows from the shape and type). */
qp_status qp_gguf_writer_add_tensor_fill(qp_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                                         const int64_t *ne, qp_gguf_fill_fn fill, void *user);

int64_t qp_gguf_writer_n_kv(const qp_gguf_writer *w);
int64_t qp_gguf_writer_n_tensors(const qp_gguf_writer *w);

/* Writes GGUF v3 to `path` atomically (see the top of this file). Tensors are
 * laid out in the order added, each at the next multiple of the alignment. */
qp_status qp_gguf_writer_write(qp_gguf_writer *w, const char *path, qp_error *err);

/* Same, into a malloc'd buffer (*out, *size; free() it). For tests/fuzzing. */
qp_status qp_gguf_writer_write_memory(qp_gguf_writer *w, void **out, size_t *size, qp_error *err);

/* ======================================================================== */
/* info: sizes and a readable dump (gguf/info.c)                             */
/* ======================================================================== */

/* Weights and bytes of a file's tensors, in all and per type id. */
typedef struct qp_gguf_sizes {
    int64_t n_weights;
    uint64_t n_bytes;
    int64_t per_type_count[QP_TYPE_COUNT]; /* indexed by type id */
    int64_t per_type_weights[QP_TYPE_COUNT];
    uint64_t per_type_bytes[QP_TYPE_COUNT];
} qp_gguf_sizes;

void qp_gguf_totals(const qp_gguf_file *f, qp_gguf_sizes *tot);

/* `qprof info`: the header, the architecture's hyper-parameters, every
 * metadata key, the tensor table and the sizes per type, as text; and the
 * same as one JSON document (docs/info-json.md; QP_ERR_RUNTIME when out of
 * memory). `path` is only printed. */
void qp_gguf_print_info(FILE *out, const char *path, const qp_gguf_file *f);
qp_status qp_gguf_print_info_json(FILE *out, const char *path, const qp_gguf_file *f, qp_error *err);

#endif
