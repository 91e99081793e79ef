/* gguf/gguf_internal.h - what reader.c and writer.c share; not public.
 *
 * Both sides need the same byte-level facts about values (element sizes, the
 * smallest encoding of each type), and the writer needs to walk a value tree
 * the same way the reader builds one.
 */
#ifndef QP_GGUF_INTERNAL_H
#define QP_GGUF_INTERNAL_H

#include <stdint.h>

#include "gguf.h"

/* GGUF is little-endian on disk (v3 big-endian files exist but are refused);
 * both readers and writers memcpy fields straight from/to the file, which is
 * only right on a little-endian host. x86-64 and arm64 Linux both are. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf/: little-endian hosts only"
#endif

/* Fixed part of the header: magic, u32 version, u64 n_tensors, u64 n_kv. */
#define QP_GGUF_HEADER_SIZE 24

/* The scalar value types, one X(suffix, C type, tag, qp_gguf_value member)
 * each: the reader's qp_gguf_get_<suffix> and the writer's
 * qp_gguf_writer_set_<suffix> are generated from this one list (gguf.h
 * declares them). */
#define QP_GGUF_SCALAR_TYPES(X)                        \
    X(u8, uint8_t, QP_GGUF_TYPE_UINT8, u8)             \
    X(i8, int8_t, QP_GGUF_TYPE_INT8, i8)               \
    X(u16, uint16_t, QP_GGUF_TYPE_UINT16, u16)         \
    X(i16, int16_t, QP_GGUF_TYPE_INT16, i16)           \
    X(u32, uint32_t, QP_GGUF_TYPE_UINT32, u32)         \
    X(i32, int32_t, QP_GGUF_TYPE_INT32, i32)           \
    X(u64, uint64_t, QP_GGUF_TYPE_UINT64, u64)         \
    X(i64, int64_t, QP_GGUF_TYPE_INT64, i64)           \
    X(f32, float, QP_GGUF_TYPE_FLOAT32, f32)           \
    X(f64, double, QP_GGUF_TYPE_FLOAT64, f64)          \
    X(bool, bool, QP_GGUF_TYPE_BOOL, b)

/* Smallest possible encoding of one element of `type` inside an array:
 * numeric = its size, STRING = the u64 length of an empty string,
 * ARRAY = u32 element type + u64 count of an empty array. These bound how many
 * elements a count may claim given the bytes left (never 0 for valid types). */
static inline uint64_t qp_gguf_min_elem_size(int type)
{
    if (type == QP_GGUF_TYPE_STRING)
        return 8;
    if (type == QP_GGUF_TYPE_ARRAY)
        return 12;
    return qp_gguf_type_size(type);
}

#endif
