/* kernels/pack.c - packed weight layouts: GGUF rows interleaved in groups,
 * so that one SIMD register holds the same weights of several rows.
 *
 * Why (Q4_K; Q8_0 gains the same way on its scales): in a plain Q4_K row, a 32-weight sub-block's products come out of
 * vpmaddubsw in 16 lanes that must be summed horizontally before its scale
 * applies (vphaddw, or one vpmaddwd per sub-block), and each row unpacks its
 * own 6-bit scales in scalar code. With 8 rows interleaved 4 bytes at a time
 * the lanes of one register are 8 rows, so the sums become vertical adds and
 * one vpmaddwd per sub-block serves 8 rows, and the scales of 8 rows unpack
 * in one set of vector operations. llama.cpp does the same at load time
 * ("repack", block_q4_Kx8); the layout below is qprof's own.
 *
 * A packed matrix has the size of the plain one: the m rows are cut into
 * m / R groups of R rows, each group stored as one run of packed blocks
 * (R rows x k weights), and the last m % R rows follow as plain rows, so
 * plain row i >= m / R * R is where it was. Packing is a pure permutation of
 * bytes; qp_unpack_weights inverts it exactly.
 *
 * Layout Q4_K x8 (block_q4_Kx8, kernels_impl.h): for super-block b of the
 * group, 1152 bytes = 8 x 144:
 *   d[r], dmin[r]      fp16 scales of row r (16 + 16 bytes);
 *   scales[w][r]       32-bit word w (0..2) of row r's 12 packed scale bytes;
 *   qs[g][4 r + i]     byte 4 g + i (i < 4) of row r's 128 nibble bytes,
 *                      g = 0..31: a 32-byte register of group g holds
 *                      weights 4g'..4g'+3 of two sub-blocks for all 8 rows.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels_impl.h"

static void q4kx8_pack(const void *src, size_t row_bytes, void *dst, int64_t k)
{
    const int64_t nb = k / QK_K;
    block_q4_Kx8 *out = dst;
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < 8; r++) {
            const block_q4_K *in = (const block_q4_K *)((const char *)src + (size_t)r * row_bytes) + b;
            out[b].d[r] = in->d;
            out[b].dmin[r] = in->dmin;
            for (int w = 0; w < 3; w++)
                memcpy(&out[b].scales[w][r], in->scales + 4 * w, 4);
            for (int g = 0; g < 32; g++)
                memcpy(&out[b].qs[g][4 * r], in->qs + 4 * g, 4);
        }
}

static void q4kx8_unpack(const void *src, void *dst, size_t row_bytes, int64_t k)
{
    const int64_t nb = k / QK_K;
    const block_q4_Kx8 *in = src;
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < 8; r++) {
            block_q4_K *out = (block_q4_K *)((char *)dst + (size_t)r * row_bytes) + b;
            out->d = in[b].d[r];
            out->dmin = in[b].dmin[r];
            for (int w = 0; w < 3; w++)
                memcpy(out->scales + 4 * w, &in[b].scales[w][r], 4);
            for (int g = 0; g < 32; g++)
                memcpy(out->qs + 4 * g, &in[b].qs[g][4 * r], 4);
        }
}

/* Layout Q8_0 x8 (block_q8_0x8): for block b of the group, 272 bytes = 8 x 34:
 *   d[r]               fp16 scale of row r (16 bytes);
 *   qs[j][4 r + i]     weight 4 j + i (i < 4) of row r, j = 0..7. */
static void q8_0x8_pack(const void *src, size_t row_bytes, void *dst, int64_t k)
{
    const int64_t nb = k / QK8_0;
    block_q8_0x8 *out = dst;
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < 8; r++) {
            const block_q8_0 *in = (const block_q8_0 *)((const char *)src + (size_t)r * row_bytes) + b;
            out[b].d[r] = in->d;
            for (int j = 0; j < 8; j++)
                memcpy(&out[b].qs[j][4 * r], in->qs + 4 * j, 4);
        }
}

static void q8_0x8_unpack(const void *src, void *dst, size_t row_bytes, int64_t k)
{
    const int64_t nb = k / QK8_0;
    const block_q8_0x8 *in = src;
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < 8; r++) {
            block_q8_0 *out = (block_q8_0 *)((char *)dst + (size_t)r * row_bytes) + b;
            out->d = in[b].d[r];
            for (int j = 0; j < 8; j++)
                memcpy(out->qs + 4 * j, &in[b].qs[j][4 * r], 4);
        }
}

/* Layouts Q4_0 x8 and Q4_1 x8 (block_q4_0x8, block_q4_1x8): for block b of
 * the group, 144 bytes = 8 x 18 (Q4_0) or 160 = 8 x 20 (Q4_1):
 *   d[r] (, m[r])      fp16 scale (and Q4_1's min) of row r, 16 bytes each;
 *   qs[j][4 r + i]     nibble byte 4 j + i (i < 4) of row r, j = 0..3 (low
 *                      nibble weight 4j + i, high nibble weight 16 + 4j + i).
 * One function moves both directions for both formats: the plain block is
 * d (, m), qs[16]. */
static void q4x8_move(const char *src, char *dst, size_t row_bytes, int64_t k, int has_m, int unpack)
{
    const size_t pb = has_m ? sizeof(block_q4_1) : sizeof(block_q4_0); /* plain block */
    const size_t gb = 8 * pb;                                             /* packed block */
    const size_t p_qs = has_m ? 4 : 2, g_qs = has_m ? 32 : 16;
    for (int64_t b = 0; b < k / QK4_0; b++)
        for (int r = 0; r < 8; r++) {
            const size_t pl = (size_t)r * row_bytes + (size_t)b * pb, gr = (size_t)b * gb;
            /* (plain offset, packed offset, bytes): d, m, then 4 x 4 nibble bytes */
            size_t mv[6][3] = { { pl, gr + 2 * (size_t)r, 2 } };
            int n = 1;
            if (has_m)
                mv[n][0] = pl + 2, mv[n][1] = gr + 16 + 2 * (size_t)r, mv[n++][2] = 2;
            for (int j = 0; j < 4; j++)
                mv[n][0] = pl + p_qs + 4 * (size_t)j, mv[n][1] = gr + g_qs + 32 * (size_t)j + 4 * (size_t)r,
                mv[n++][2] = 4;
            for (int e = 0; e < n; e++)
                memcpy(dst + mv[e][unpack ? 0 : 1], src + mv[e][unpack ? 1 : 0], mv[e][2]);
        }
}

static void q4_0x8_pack(const void *src, size_t row_bytes, void *dst, int64_t k)
{
    q4x8_move(src, dst, row_bytes, k, 0, 0);
}
static void q4_0x8_unpack(const void *src, void *dst, size_t row_bytes, int64_t k)
{
    q4x8_move(src, dst, row_bytes, k, 0, 1);
}
static void q4_1x8_pack(const void *src, size_t row_bytes, void *dst, int64_t k)
{
    q4x8_move(src, dst, row_bytes, k, 1, 0);
}
static void q4_1x8_unpack(const void *src, void *dst, size_t row_bytes, int64_t k)
{
    q4x8_move(src, dst, row_bytes, k, 1, 1);
}

const struct qp_pack_layout qp_pack_q4_0_x8 = {
    .name = "q4_0 x8",
    .rows = 8,
    .pack = q4_0x8_pack,
    .unpack = q4_0x8_unpack,
};

const struct qp_pack_layout qp_pack_q4_1_x8 = {
    .name = "q4_1 x8",
    .rows = 8,
    .pack = q4_1x8_pack,
    .unpack = q4_1x8_unpack,
};

const struct qp_pack_layout qp_pack_q8_0_x8 = {
    .name = "q8_0 x8",
    .rows = 8,
    .pack = q8_0x8_pack,
    .unpack = q8_0x8_unpack,
};

const struct qp_pack_layout qp_pack_q4_K_x8 = {
    .name = "q4_K x8",
    .rows = 8,
    .pack = q4kx8_pack,
    .unpack = q4kx8_unpack,
};

/* ---- public entry points ---- */

void *qp_pack_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes == 0 || bytes > SIZE_MAX - huge)
        return NULL;
    /* aligned_alloc wants a multiple of the alignment */
    const size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
    if (p) /* advice only: with THP off the pages stay small, which is fine */
        (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

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
        if (unpack)
            L->unpack(s, d, rb, k);
        else
            L->pack(s, rb, d, k);
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
