/* kernels/pack.c - packed weight layouts: GGUF rows interleaved in groups,
 * so that one SIMD register holds the same weights of several rows.
 *
 * Why: in a plain Q4_K row, a 32-weight sub-block's products come out of
 * vpmaddubsw in 16 lanes that must be summed horizontally before its scale
 * applies (vphaddw, or one vpmaddwd per sub-block), and each row unpacks its
 * own 6-bit scales in scalar code. With 8 rows interleaved 4 bytes at a time
 * the lanes of one register are 8 rows, so the sums become vertical adds,
 * one vpmaddwd per sub-block serves 8 rows, and the scales of 8 rows unpack
 * in one set of vector operations (Q6_K likewise, with 16-weight sub-blocks).
 * Q8_0 and the 4- and 5-bit legacy types gain the same way on their
 * per-block scales (one vcvtph2ps + FMA per block for 8 rows).
 * llama.cpp does the same at load time ("repack", block_q4_Kx8 and others);
 * these layouts are qprof's own.
 *
 * A packed matrix has the size of the plain one: the m rows are cut into
 * m / R groups of R rows, each group stored as one run of packed blocks
 * (R rows x k weights), and the last m % R rows follow as plain rows, so
 * plain row i >= m / R * R is where it was. Packing is a pure permutation of
 * bytes; qp_unpack_weights inverts it exactly.
 *
 * The layouts (structs in kernels_impl.h), per block b of a group of 8 rows;
 * "unit i of row r" sits at field + (8 i + r) * unit bytes:
 *   Q4_K x8, 1152 bytes: d[r], dmin[r] (fp16); scales[w][r], word w = 0..2
 *            of row r's 12 scale bytes; qs[g][4r..4r+3] = nibble bytes
 *            4g..4g+3 of row r, g = 0..31 (one register: 4 bytes x 8 rows).
 *   Q8_0 x8, 272 bytes:  d[r]; qs[j][4r..4r+3] = weights 4j..4j+3, j < 8.
 *   Q4_0 x8, 144 bytes:  d[r]; qs[j][4r..4r+3] = nibble bytes 4j..4j+3, j < 4
 *            (low nibbles weights 4j.., high nibbles 16 + 4j..).
 *   Q4_1 x8, 160 bytes:  d[r], m[r]; qs as Q4_0.
 *   Q5_0 x8, 176 bytes:  d[r]; qh[r] (row r's 32 fifth bits, as GGUF
 *            stores them); qs as Q4_0.
 *   Q5_1 x8, 192 bytes:  d[r], m[r]; qh[r]; qs as Q4_0.
 *   Q5_K x8, 1408 bytes: as Q4_K x8 with qh[g][4r..] = qh bytes 4g..4g+3
 *            of row r, g < 8, between scales and qs.
 *   Q6_K x8, 1680 bytes: d[r]; scales[c][4r..4r+3] = scales 4c..4c+3 of
 *            row r, c < 4; ql[g][4r..] = ql bytes 4g.., g < 32; qh[g][4r..]
 *            = qh bytes 4g.., g < 16.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "kernels_impl.h"

/* The layouts above as field tables (struct qp_pack_field: plain offset,
 * packed offset, unit bytes, units), taken from the C structs so that the
 * kernels, which read the structs, and the packer cannot disagree. */
const struct qp_pack_layout qp_pack_q4_K_x8 = {
    .name = "q4_K x8", .rows = 8, .type = QP_TYPE_Q4_K, .n_fields = 4,
    .fields = {
        { offsetof(block_q4_K, d), offsetof(block_q4_Kx8, d), 2, 1 },
        { offsetof(block_q4_K, dmin), offsetof(block_q4_Kx8, dmin), 2, 1 },
        { offsetof(block_q4_K, scales), offsetof(block_q4_Kx8, scales), 4, 3 },
        { offsetof(block_q4_K, qs), offsetof(block_q4_Kx8, qs), 4, 32 },
    },
};

const struct qp_pack_layout qp_pack_q5_K_x8 = {
    .name = "q5_K x8", .rows = 8, .type = QP_TYPE_Q5_K, .n_fields = 5,
    .fields = {
        { offsetof(block_q5_K, d), offsetof(block_q5_Kx8, d), 2, 1 },
        { offsetof(block_q5_K, dmin), offsetof(block_q5_Kx8, dmin), 2, 1 },
        { offsetof(block_q5_K, scales), offsetof(block_q5_Kx8, scales), 4, 3 },
        { offsetof(block_q5_K, qh), offsetof(block_q5_Kx8, qh), 4, 8 },
        { offsetof(block_q5_K, qs), offsetof(block_q5_Kx8, qs), 4, 32 },
    },
};

const struct qp_pack_layout qp_pack_q6_K_x8 = {
    .name = "q6_K x8", .rows = 8, .type = QP_TYPE_Q6_K, .n_fields = 4,
    .fields = {
        { offsetof(block_q6_K, d), offsetof(block_q6_Kx8, d), 2, 1 },
        { offsetof(block_q6_K, scales), offsetof(block_q6_Kx8, scales), 4, 4 },
        { offsetof(block_q6_K, ql), offsetof(block_q6_Kx8, ql), 4, 32 },
        { offsetof(block_q6_K, qh), offsetof(block_q6_Kx8, qh), 4, 16 },
    },
};

const struct qp_pack_layout qp_pack_q8_0_x8 = {
    .name = "q8_0 x8", .rows = 8, .type = QP_TYPE_Q8_0, .n_fields = 2,
    .fields = {
        { offsetof(block_q8_0, d), offsetof(block_q8_0x8, d), 2, 1 },
        { offsetof(block_q8_0, qs), offsetof(block_q8_0x8, qs), 4, 8 },
    },
};

const struct qp_pack_layout qp_pack_q4_0_x8 = {
    .name = "q4_0 x8", .rows = 8, .type = QP_TYPE_Q4_0, .n_fields = 2,
    .fields = {
        { offsetof(block_q4_0, d), offsetof(block_q4_0x8, d), 2, 1 },
        { offsetof(block_q4_0, qs), offsetof(block_q4_0x8, qs), 4, 4 },
    },
};

const struct qp_pack_layout qp_pack_q4_1_x8 = {
    .name = "q4_1 x8", .rows = 8, .type = QP_TYPE_Q4_1, .n_fields = 3,
    .fields = {
        { offsetof(block_q4_1, d), offsetof(block_q4_1x8, d), 2, 1 },
        { offsetof(block_q4_1, m), offsetof(block_q4_1x8, m), 2, 1 },
        { offsetof(block_q4_1, qs), offsetof(block_q4_1x8, qs), 4, 4 },
    },
};

const struct qp_pack_layout qp_pack_q5_0_x8 = {
    .name = "q5_0 x8", .rows = 8, .type = QP_TYPE_Q5_0, .n_fields = 3,
    .fields = {
        { offsetof(block_q5_0, d), offsetof(block_q5_0x8, d), 2, 1 },
        { offsetof(block_q5_0, qh), offsetof(block_q5_0x8, qh), 4, 1 },
        { offsetof(block_q5_0, qs), offsetof(block_q5_0x8, qs), 4, 4 },
    },
};

const struct qp_pack_layout qp_pack_q5_1_x8 = {
    .name = "q5_1 x8", .rows = 8, .type = QP_TYPE_Q5_1, .n_fields = 4,
    .fields = {
        { offsetof(block_q5_1, d), offsetof(block_q5_1x8, d), 2, 1 },
        { offsetof(block_q5_1, m), offsetof(block_q5_1x8, m), 2, 1 },
        { offsetof(block_q5_1, qh), offsetof(block_q5_1x8, qh), 4, 1 },
        { offsetof(block_q5_1, qs), offsetof(block_q5_1x8, qs), 4, 4 },
    },
};

/* One group: `rows` plain rows (row_bytes apart) <-> their packed blocks. */
static void group_move(const struct qp_pack_layout *L, const char *src, char *dst, size_t row_bytes,
                       int64_t k, int unpack)
{
    int64_t bs;
    size_t bb;
    qp_kernels_block(L->type, &bs, &bb);
    const size_t gb = (size_t)L->rows * bb; /* packed block */
    /* packed order (field, unit, row): the packed side is walked straight
     * through, the plain side in 8 streams, one per row */
    for (int64_t b = 0; b < k / bs; b++) {
        const size_t pb = (size_t)b * bb, gr = (size_t)b * gb;
        for (int f = 0; f < L->n_fields; f++) {
            const struct qp_pack_field *F = &L->fields[f];
            const size_t n = F->bytes; /* 2 or 4: constant-size copies */
            for (size_t i = 0; i < F->count; i++)
                for (int r = 0; r < L->rows; r++) {
                    const size_t po = (size_t)r * row_bytes + pb + F->plain + i * n;
                    const size_t go = gr + F->packed + (i * (size_t)L->rows + (size_t)r) * n;
                    const char *from = src + (unpack ? go : po);
                    char *to = dst + (unpack ? po : go);
                    if (n == 4)
                        memcpy(to, from, 4);
                    else if (n == 2)
                        memcpy(to, from, 2);
                    else
                        memcpy(to, from, n);
                }
        }
    }
}

/* ---- public entry points ---- */

void *qp_pack_alloc(size_t bytes) { return qp_huge_alloc(bytes, 1); }

int qp_pack_rows(const qp_kernels *v, enum qp_type w)
{
    if (!v)
        v = qp_kernels_default();
    if ((int)w < 0 || w >= QP_TYPE_COUNT || !v->w[w].packed)
        return 0;
    return v->w[w].packed->rows;
}

const char *qp_pack_name(const qp_kernels *v, enum qp_type w)
{
    if (!v)
        v = qp_kernels_default();
    if ((int)w < 0 || w >= QP_TYPE_COUNT || !v->w[w].packed)
        return NULL;
    return v->w[w].packed->name;
}

static qp_status pack_check(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                            int64_t m, int64_t k, size_t *row_bytes, qp_error *err)
{
    if (qp_pack_rows(v, w) == 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "kernel variant %s has no packed layout for weight type %d",
                            qp_kernels_name(v), (int)w);
    *row_bytes = qp_kernels_row_bytes((int)w, k);
    if (m < 0 || *row_bytes == 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "cannot pack %lld rows of %lld weights of type %d", (long long)m,
                            (long long)k, (int)w);
    if ((uint64_t)m > SIZE_MAX / *row_bytes)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "matrix too large to pack (%lld rows)",
                            (long long)m);
    const size_t bytes = (size_t)m * *row_bytes;
    const char *s = src, *d = dst;
    if (bytes && (!src || !dst || (s < d + bytes && d < s + bytes)))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "packing needs two distinct, non-overlapping buffers");
    return QP_OK;
}

/* Both directions: groups through the layout, the tail rows copied. */
static qp_status pack_common(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                             int64_t m, int64_t k, int unpack, qp_error *err)
{
    if (!v)
        v = qp_kernels_default();
    size_t rb = 0;
    qp_status st = pack_check(v, w, src, dst, m, k, &rb, err);
    if (st)
        return st;
    const struct qp_pack_layout *L = v->w[w].packed;
    const size_t group = (size_t)L->rows * rb;
    const int64_t groups = m / L->rows;
    for (int64_t g = 0; g < groups; g++) {
        const char *s = (const char *)src + (size_t)g * group;
        char *d = (char *)dst + (size_t)g * group;
        group_move(L, s, d, rb, k, unpack);
    }
    const size_t done = (size_t)groups * group, total = (size_t)m * rb;
    if (total > done)
        memcpy((char *)dst + done, (const char *)src + done, total - done);
    return QP_OK;
}

qp_status qp_pack_weights(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                          int64_t m, int64_t k, qp_error *err)
{
    return pack_common(v, w, src, dst, m, k, 0, err);
}

qp_status qp_unpack_weights(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                            int64_t m, int64_t k, qp_error *err)
{
    return pack_common(v, w, src, dst, m, k, 1, err);
}
