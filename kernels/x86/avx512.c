/* kernels/x86/avx512.c - the "avx512" variant: AVX-512 F/BW/VL/DQ + VNNI
 * (Ice Lake, Sapphire Rapids, Zen 4 and later). Compiled with its own -m
 * flags (Makefile); dispatch.c selects it only when cpuid says the CPU has
 * all five and xgetbv says the OS saves the opmask and ZMM state.
 *
 * The table (built by x86/x86_tables.c) starts as a copy of the "avx2" one (which itself starts as
 * "scalar": BLIS discipline, no slot is ever NULL), so everything this file
 * does not override - the activation quantizers, Q4_1/Q5_1, BF16/F32, the
 * K-quant tiles - is the AVX2 code, which every AVX-512 CPU also runs.
 * Overridden here:
 *   - Q8_0/Q4_0/Q5_0 dot and 4 x 4 tiles: the AVX2 templates with one
 *     vpdpbusd (u8 x s8, four products summed straight into s32, no s16
 *     saturation) in place of vpmaddubsw + vpmaddwd, and 4 x 4 tiles
 *     since AVX-512VL gives 32 ymm registers;
 *   - Q4_K/Q5_K/Q6_K dot: 64 weights (two sub-blocks) per zmm; the s16
 *     pair sums of vpmaddubsw are scaled and accumulated by one vpdpwssd;
 *   - F16 dot: 16 halves per vcvtph2ps;
 *   - the tiles over packed Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and
 *     Q6_K
 *     (x86_packed.h): the AVX2 ones with vpdpbusd.
 * Each function names its scalar twin in scalar.c.
 */
#include <immintrin.h>
#include <string.h>

#include "x86_common.h"

/* ======================================================================== */
/* legacy formats with VNNI (twins: dot_q8_0, dot_q4_0, dot_q5_0)           */
/* ======================================================================== */

/* |w| (u8) . x sign(w) (s8), 32 pairs, as 8 s32 lanes: one vpdpbusd. */
#define AVX512_PAIRDOT(aw, sx) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (aw), (sx))

QP_X86_LEGACY_DOT(avx512, q8_0, block_q8_0, AVX512_PAIRDOT)
QP_X86_LEGACY_DOT(avx512, q4_0, block_q4_0, AVX512_PAIRDOT)
QP_X86_LEGACY_DOT(avx512, q5_0, block_q5_0, AVX512_PAIRDOT)

/* 32 ymm registers: 16 accumulators + 4 activation blocks + weight block,
 * its absolute value and temporaries. */
QP_X86_LEGACY_TILE(avx512, q8_0, block_q8_0, AVX512_PAIRDOT, 4)
QP_X86_LEGACY_TILE(avx512, q4_0, block_q4_0, AVX512_PAIRDOT, 4)
QP_X86_LEGACY_TILE(avx512, q5_0, block_q5_0, AVX512_PAIRDOT, 4)

/* ======================================================================== */
/* K-quants, 512-bit (twins: dot_q4_K, dot_q5_K, dot_q6_K)                  */
/* ======================================================================== */

/* s16 lane indices for vpermw: lanes 0..15 take element a, 16..31 take b. */
static inline __m512i idx16_halves(int a, int b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)b), 1);
}

/* s16 lane i -> i / 8: [0 x 8, 1 x 8, 2 x 8, 3 x 8], the 16-weight group of
 * each maddubs lane within 64 weights. */
static inline __m512i group_runs(void)
{
    const __m256i lo = _mm256_set_m128i(_mm_set1_epi16(1), _mm_set1_epi16(0));
    const __m256i hi = _mm256_set_m128i(_mm_set1_epi16(3), _mm_set1_epi16(2));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Per-64-bit-lane shift counts: the low 256 bits by a, the high by b. */
static inline __m512i shift_halves(int a, int b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi64x(a)), _mm256_set1_epi64x(b), 1);
}

/* Q4_K / Q5_K. One zmm holds sub-blocks 2c (low nibbles of qs[32c..32c+31],
 * bytes 0..31) and 2c + 1 (their high nibbles, bytes 32..63), in the order
 * of the 64 activations x[64c..64c+63]. vpmaddubsw gives 32 s16 pair sums,
 * lanes 0..15 from sub-block 2c and 16..31 from 2c + 1; vpdpwssd multiplies
 * them by the matching scale (vpermw broadcast) and adds into s32. Q5_K's
 * fifth bit of weight 32 s + l is bit s of qh[l]: qh is loaded into both
 * halves and each half shifted by its own count (vpsrlvq). Shifting whole
 * 64-bit lanes is safe: only bit 0 of each byte is kept, and a shift of at
 * most 7 brings that bit from the same byte. */
static inline float q4k_q5k_dot512(int64_t k, const uint8_t *wbase, size_t wsize, size_t off_qs,
                                   size_t off_qh, int has_qh, const block_q8_K *x)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *blk = wbase + (size_t)b * wsize;
        prefetch_ahead(blk, has_qh ? sizeof(block_q5_K) : sizeof(block_q4_K));
        qp_half dh, dminh;
        memcpy(&dh, blk, 2);
        memcpy(&dminh, blk + 2, 2);
        const __m128i sm = q4k_scales_mins(blk + 4);
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm)); /* lanes 0..7 scales */
        const uint8_t *qs = blk + off_qs;
        __m512i hb = _mm512_setzero_si512();
        if (has_qh)
            hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + off_qh)));
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m512i q = _mm512_and_si512(
                _mm512_inserti64x4(_mm512_castsi256_si512(q4), _mm256_srli_epi16(q4, 4), 1), m4);
            if (has_qh) {
                const __m512i h = _mm512_and_si512(_mm512_srlv_epi64(hb, shift_halves(2 * c, 2 * c + 1)), one);
                q = _mm512_or_si512(q, _mm512_slli_epi16(h, 4));
            }
            const __m512i xv = _mm512_loadu_si512((const void *)(x[b].qs + 64 * c));
            const __m512i p = _mm512_maddubs_epi16(q, xv);
            isum = _mm512_dpwssd_epi32(isum, _mm512_permutexvar_epi16(idx16_halves(2 * c, 2 * c + 1), sc16), p);
        }
        const __m128i msum = q4k_min_sum(_mm_unpackhi_epi64(sm, sm), x[b].bsums);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(x[b].d * fp16(dh)), _mm512_cvtepi32_ps(isum), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(x[b].d * fp16(dminh)), _mm_cvtepi32_ps(msum), accm);
    }
    return _mm512_reduce_add_ps(acc) - hsum_ps128(accm);
}

static float avx512_dot_q4_K(int64_t k, const void *wv, const void *xv)
{
    return q4k_q5k_dot512(k, wv, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, 0, xv);
}

static float avx512_dot_q5_K(int64_t k, const void *wv, const void *xv)
{
    return q4k_q5k_dot512(k, wv, sizeof(block_q5_K), offsetof(block_q5_K, qs),
                          offsetof(block_q5_K, qh), 1, xv);
}

/* Q6_K. Per half h (128 weights): ql[64h..64h+63] in one zmm has the low
 * nibbles of groups j = 0 (bytes 0..31) and j = 1 (32..63) and, shifted,
 * the high nibbles of j = 2 and j = 3; qh[32h..32h+31], loaded into both
 * halves, gives bits 2j..2j+1 by per-half shifts (0|2, then 4|6). The
 * unsigned q = 0..63 goes through vpmaddubsw (2 * 63 * 127 fits s16) and
 * the -32 offset is taken out once per super-block from bsums:
 *     sum_g sc_g sum_{i in g} (q_i - 32) x_i
 *   = sum_g sc_g sum q_i x_i - 32 sum_g sc_g bsums_g.
 * s16 lane i of a zmm belongs to 16-weight group 8h + 2j0 + i / 8. */
static float avx512_dot_q6_K(int64_t k, const void *wv, const void *xv)
{
    const block_q6_K *w = wv;
    const block_q8_K *x = xv;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
    __m512 acc = _mm512_setzero_ps();
    float acc_off = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i sc16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc16y);
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512((const void *)(w[b].ql + 64 * h));
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w[b].qh + 32 * h)));
            const __m512i h01 = _mm512_and_si512(_mm512_srlv_epi64(qh, shift_halves(0, 2)), m2);
            const __m512i h23 = _mm512_and_si512(_mm512_srlv_epi64(qh, shift_halves(4, 6)), m2);
            const __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(h01, 4));
            const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                _mm512_slli_epi16(h23, 4));
            const __m512i x01 = _mm512_loadu_si512((const void *)(x[b].qs + 128 * h));
            const __m512i x23 = _mm512_loadu_si512((const void *)(x[b].qs + 128 * h + 64));
            /* group of s16 lane i: 8h + 2 j0 + i / 8, i.e. four runs of 8 */
            const __m512i idx01 = _mm512_add_epi16(_mm512_set1_epi16((short)(8 * h)), group_runs());
            const __m512i idx23 = _mm512_add_epi16(idx01, _mm512_set1_epi16(4));
            isum = _mm512_dpwssd_epi32(isum, _mm512_permutexvar_epi16(idx01, sc16), _mm512_maddubs_epi16(q01, x01));
            isum = _mm512_dpwssd_epi32(isum, _mm512_permutexvar_epi16(idx23, sc16), _mm512_maddubs_epi16(q23, x23));
        }
        /* sum_g sc_g bsums_g: 16 s16 products summed in pairs, then lanes */
        const __m256i off = _mm256_madd_epi16(sc16y, _mm256_loadu_si256((const __m256i *)x[b].bsums));
        __m128i o = _mm_add_epi32(_mm256_castsi256_si128(off), _mm256_extracti128_si256(off, 1));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0x4E));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0xB1));
        const float dd = x[b].d * fp16(w[b].d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(isum), acc);
        acc_off += dd * (float)(32 * _mm_cvtsi128_si32(o));
    }
    return _mm512_reduce_add_ps(acc) - acc_off;
}

/* ======================================================================== */
/* F16 (twin: dot_f16)                                                      */
/* ======================================================================== */

static float avx512_dot_f16(int64_t k, const void *wv, const void *xv)
{
    const qp_half *w = wv;
    const float *x = xv;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
#define QP_H16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
    for (; i + 64 <= k; i += 64) {
        prefetch_ahead(w + i, 64 * sizeof *w);
        a0 = _mm512_fmadd_ps(QP_H16(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(QP_H16(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(QP_H16(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(QP_H16(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= k; i += 16)
        a0 = _mm512_fmadd_ps(QP_H16(w + i), _mm512_loadu_ps(x + i), a0);
#undef QP_H16
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < k; i++)
        s += fp16(w[i]) * x[i];
    return s;
}

/* ======================================================================== */
/* packed weights (x86_packed.h; twins: the vec_dots of the types)          */
/* ======================================================================== */

/* The AVX2 tiles with VNNI: vpdpbusd sums four u8 x s8 products straight
 * into each row's s32 lane, where AVX2 needs vpmaddubsw + vpaddw (and a
 * vpmaddwd to widen). With s32 lanes a Q4_K sub-block scale is a vpmulld
 * (|sum| <= 32 * 15 * 128 * 63, far from 2^31). Still 256-bit: a group is 8
 * rows x 4 bytes, one ymm. */
#define QP_PK_DOT16(a, u, s) _mm256_dpbusd_epi32((a), (u), (s))
#define QP_PK_WIDEN(a) (a)
#define QP_PK_DOT32(a, u, s) _mm256_dpbusd_epi32((a), (u), (s))
#define QP_PK_SCALE_S32 1
#include "x86_packed.h"

/* ======================================================================== */
/* the table                                                                */
/* ======================================================================== */

/* Applied on top of the avx2 table by x86/x86_tables.c (data only; see
 * avx2.c). A NULL tile keeps avx2's: the K-quant tiles stay AVX2 (2 x 2). */
const struct qp_x86_slots qp_avx512_slots = {
    .w = {
        [QP_TYPE_Q8_0] = { avx512_dot_q8_0, avx512_tile_q8_0, 4, 4, 1, &qp_pack_q8_0_x8, ptile_q8_0, QP_PTILE_N },
        [QP_TYPE_Q4_0] = { avx512_dot_q4_0, avx512_tile_q4_0, 4, 4, 1, &qp_pack_q4_0_x8, ptile_q4_0, QP_PTILE_N },
        [QP_TYPE_Q5_0] = { avx512_dot_q5_0, avx512_tile_q5_0, 4, 4, 1, &qp_pack_q5_0_x8, ptile_q5_0, QP_PTILE_N },
        [QP_TYPE_Q4_1] = { NULL, NULL, 0, 0, 0, &qp_pack_q4_1_x8, ptile_q4_1, QP_PTILE_N }, /* avx2's dot */
        [QP_TYPE_Q5_1] = { NULL, NULL, 0, 0, 0, &qp_pack_q5_1_x8, ptile_q5_1, QP_PTILE_N }, /* avx2's dot */
        [QP_TYPE_Q4_K] = { avx512_dot_q4_K, NULL, 0, 0, 1, &qp_pack_q4_K_x8, ptile_q4_K, QP_PTILE_N },
        [QP_TYPE_Q5_K] = { avx512_dot_q5_K, NULL, 0, 0, 1, &qp_pack_q5_K_x8, ptile_q5_K, QP_PTILE_N },
        [QP_TYPE_Q6_K] = { avx512_dot_q6_K, NULL, 0, 0, 1, &qp_pack_q6_K_x8, ptile_q6_K, QP_PTILE_N },
        [QP_TYPE_F16] = { avx512_dot_f16, NULL, 0, 0, 1 },
    },
};
