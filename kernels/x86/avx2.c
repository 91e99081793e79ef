/* kernels/x86/avx2.c - the "avx2" variant: AVX2 + FMA + F16C (Haswell and
 * later, Zen and later). Compiled with -mavx2 -mfma -mf16c for this file
 * only (Makefile); dispatch.c calls into it only when cpuid+xgetbv say the
 * CPU and OS support all three.
 *
 * The integer kernels rest on two instructions:
 *   vpmaddubsw  u8 x s8 -> pairwise sums in s16 (saturating, but never here:
 *               2 * 127 * 127 = 32258 < 32767 and 2 * 63 * 127 for Q6_K)
 *   vpmaddwd    s16 x s16 -> pairwise sums in s32 (with 1s: widen; with a
 *               sub-block scale: apply it)
 * Signed x signed (Q8_0 weights, q - 8 of Q4_0 ...) goes through maddubs by
 * moving the sign onto the activation: |w| * (x * sign(w)) (vpsignb), valid
 * because neither side is -128 (the formats' range is -127..127).
 *
 * Every function names its scalar twin in scalar.c; each must equal it up to
 * float summation order (tests/test_kernels.c).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "x86_common.h"

/* ======================================================================== */
/* legacy formats (scalar twins: dot_q8_0 ... dot_q5_1)                     */
/* ======================================================================== */

/* Unsigned weights (Q4_1/Q5_1: 0..15 / 0..31). */
static inline __m256i q5_1_weights(const block_q5_1 *b)
{
    const __m256i hb = bits_to_bytes32(b->qh);
    return _mm256_or_si256(unpack_nibbles16(b->qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
}

/* |w| . (x sign(w)) for 32 pairs as 8 s32 lanes: maddubs then madd with 1s. */
#define AVX2_PAIRDOT(aw, sx) widen_pairs(_mm256_maddubs_epi16((aw), (sx)))

QP_X86_LEGACY_DOT(avx2, q8_0, block_q8_0, AVX2_PAIRDOT)
QP_X86_LEGACY_DOT(avx2, q4_0, block_q4_0, AVX2_PAIRDOT)
QP_X86_LEGACY_DOT(avx2, q5_0, block_q5_0, AVX2_PAIRDOT)

/* Q4_1 / Q5_1 . Q8_1: d d' sum(q x) + m s (twins dot_q4_1, dot_q5_1); q is
 * unsigned so maddubs takes it directly. */
static float avx2_dot_q4_1(int64_t k, const void *wv, const void *xv)
{
    const block_q4_1 *w = wv;
    const block_q8_1 *x = xv;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < k / 32; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i p = widen_pairs(_mm256_maddubs_epi16(unpack_nibbles16(w[b].qs),
                                                           _mm256_loadu_si256((const __m256i *)x[b].qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d)), _mm256_cvtepi32_ps(p), acc);
        mins += fp16(w[b].m) * fp16(x[b].s);
    }
    return hsum_ps(acc) + mins;
}

static float avx2_dot_q5_1(int64_t k, const void *wv, const void *xv)
{
    const block_q5_1 *w = wv;
    const block_q8_1 *x = xv;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < k / 32; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i p = widen_pairs(_mm256_maddubs_epi16(q5_1_weights(&w[b]),
                                                           _mm256_loadu_si256((const __m256i *)x[b].qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d)), _mm256_cvtepi32_ps(p), acc);
        mins += fp16(w[b].m) * fp16(x[b].s);
    }
    return hsum_ps(acc) + mins;
}

/* ======================================================================== */
/* K-quants (scalar twins: dot_q4_K, dot_q5_K, dot_q6_K)                    */
/* ======================================================================== */

/* One Q4_K/Q5_K super-block: the integer sum over sub-blocks of
 * sc_s * sum(q x), as 8 s32 lanes. The min term is done by the caller from
 * bsums.
 *
 * The 8 sub-block products come out of maddubs as 16 s16 pair sums each;
 * instead of one vpmaddwd per sub-block to apply its scale (8 per
 * super-block, all on Zen 1's single vector-multiply pipe), two rounds of
 * vphaddw fold them in s16 to 4 lanes per sub-block, laid out per 128-bit
 * lane as sub-blocks [0,0,1,1,2,2,3,3] and [4,4,5,5,6,6,7,7], and two
 * vpmaddwd against the scales in that order finish the job. A folded lane
 * sums 8 products of <= 31 * 128, at most 31744 < 32767 even for Q5_K, so
 * s16 never wraps. Measured 1.13x the per-sub-block version in cache (M=32,
 * K=14336, one Zen 1 core: 35.3 -> 31.0 us); a third round of hadds (one
 * vpmaddwd per super-block, Q4_K only) was no faster. */
/* Q4_K/Q5_K weights of 64-weight step c (sub-blocks 2c and 2c + 1) as
 * unsigned bytes: the low and high nibbles of qs[32 c ..], for Q5_K (hb =
 * the 32 qh bytes, has_qh) with bit 2c / 2c + 1 of qh[l] as bit 4. */
QP_INLINE void q4k_step_weights(const uint8_t *qs, __m256i hb, int has_qh, int c, __m256i *lo, __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
    *lo = _mm256_and_si256(q4, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
    if (has_qh) {
        *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4));
        *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4));
    }
}

static inline __m256i q4k_isum(const uint8_t *qs, const uint8_t *qh, const int8_t *xq, __m128i scales8)
{
    const __m128i sc16 = _mm_cvtepu8_epi16(scales8);
    __m256i hbits = _mm256_setzero_si256();
    if (qh)
        hbits = _mm256_loadu_si256((const __m256i *)qh);
    __m256i h[4];
#pragma GCC unroll 4 /* constant shift counts */
    for (int c = 0; c < 4; c++) {
        __m256i ql, qhi;
        q4k_step_weights(qs, hbits, qh != NULL, c, &ql, &qhi);
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 64 * c));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq + 64 * c + 32));
        h[c] = _mm256_hadd_epi16(_mm256_maddubs_epi16(ql, x0), _mm256_maddubs_epi16(qhi, x1));
    }
    const __m256i g0 = _mm256_hadd_epi16(h[0], h[1]), g1 = _mm256_hadd_epi16(h[2], h[3]);
    const __m128i slo = _mm_unpacklo_epi16(sc16, sc16), shi = _mm_unpackhi_epi16(sc16, sc16);
    return _mm256_add_epi32(_mm256_madd_epi16(g0, _mm256_set_m128i(slo, slo)),
                            _mm256_madd_epi16(g1, _mm256_set_m128i(shi, shi)));
}

static inline float q4k_q5k_dot(int64_t k, const uint8_t *wbase, size_t wsize, size_t off_qs,
                                size_t off_qh, int has_qh, const block_q8_K *x)
{
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *blk = wbase + (size_t)b * wsize;
        prefetch_ahead(blk, has_qh ? sizeof(block_q5_K) : sizeof(block_q4_K));
        qp_half dh, dminh;
        memcpy(&dh, blk, 2);
        memcpy(&dminh, blk + 2, 2);
        const __m128i sm = q4k_scales_mins(blk + 4);
        const __m256i isum = q4k_isum(blk + off_qs, has_qh ? blk + off_qh : NULL, x[b].qs, sm);
        const __m128i msum = q4k_min_sum(_mm_unpackhi_epi64(sm, sm), x[b].bsums);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * fp16(dh)), _mm256_cvtepi32_ps(isum), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(x[b].d * fp16(dminh)), _mm_cvtepi32_ps(msum), accm);
    }
    return hsum_ps(acc) - hsum_ps128(accm);
}

static float avx2_dot_q4_K(int64_t k, const void *wv, const void *xv)
{
    return q4k_q5k_dot(k, wv, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, 0, xv);
}

static float avx2_dot_q5_K(int64_t k, const void *wv, const void *xv)
{
    return q4k_q5k_dot(k, wv, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), 1, xv);
}

/* Q6_K: per half h (128 weights) four 32-weight groups j; q = low nibble of
 * ql[32 (j % 2) + l] (j < 2) or its high nibble (j >= 2), plus bits 2j..2j+1
 * of qh[l] as bits 4..5. maddubs takes the unsigned q = 0..63 (2 * 63 * 127
 * fits s16). Groups j and j + 1 are folded by one vphaddw (as Q4_K's,
 * q4k_isum: a lane then sums 4 products, <= 4 * 63 * 128 = 32256 < 32767)
 * into per-128-bit-lane [group j x 4 | group j + 1 x 4] s16 sums, and one
 * vpmaddwd applies the four 16-weight scales (q6k_pair_mask); the -32
 * offset comes out once per super-block from bsums:
 *     sum_g sc_g sum_{i in g} (q_i - 32) x_i
 *   = sum_g sc_g sum q_i x_i - 32 sum_g sc_g bsums_g. */
/* pshufb mask for the Q6_K scales after the fold of groups j, j + 1 (s16
 * scales of one half in both 128-bit lanes): low lane [sc 2j x 4, sc 2j+2
 * x 4] (the first 16 weights of each group), high lane [sc 2j+1 x 4,
 * sc 2j+3 x 4]. */
static inline __m256i q6k_pair_mask(int j)
{
#define QP_S16_BYTES(e) ((short)(((2 * (e) + 1) << 8) | (2 * (e))))
    const __m128i lo = _mm_unpacklo_epi64(_mm_set1_epi16(QP_S16_BYTES(2 * j)), _mm_set1_epi16(QP_S16_BYTES(2 * j + 2)));
    const __m128i hi = _mm_unpacklo_epi64(_mm_set1_epi16(QP_S16_BYTES(2 * j + 1)), _mm_set1_epi16(QP_S16_BYTES(2 * j + 3)));
#undef QP_S16_BYTES
    return _mm256_set_m128i(hi, lo);
}

/* Q6_K half h (weights 128 h ..): the four 32-weight groups as unsigned
 * 0..63 into q[], and the half's eight s16 scales, in both 128-bit lanes,
 * as the return value. */
QP_INLINE __m256i q6k_half(const block_q6_K *b, int h, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), _mm256_set1_epi8(0x30)));
    const __m128i sc16 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(b->scales + 8 * h)));
    return _mm256_set_m128i(sc16, sc16);
}

static float avx2_dot_q6_K(int64_t k, const void *wv, const void *xv)
{
    const block_q6_K *w = wv;
    const block_q8_K *x = xv;
    __m256 acc = _mm256_setzero_ps();
    float acc_off = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            const __m256i sc = q6k_half(&w[b], h, q);
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                const int8_t *x8 = x[b].qs + 128 * h + 32 * j;
                const __m256i p = _mm256_hadd_epi16(
                    _mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)x8)),
                    _mm256_maddubs_epi16(q[j + 1], _mm256_loadu_si256((const __m256i *)(x8 + 32))));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_shuffle_epi8(sc, q6k_pair_mask(j)), p));
            }
        }
        /* sum_g sc_g bsums_g: 16 s16 products summed in pairs, then lanes */
        const __m256i sc_all = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));
        const __m256i off = _mm256_madd_epi16(sc_all, _mm256_loadu_si256((const __m256i *)x[b].bsums));
        __m128i o = _mm_add_epi32(_mm256_castsi256_si128(off), _mm256_extracti128_si256(off, 1));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0x4E));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0xB1));
        const float dd = x[b].d * fp16(w[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(sum), acc);
        acc_off += dd * (float)(32 * _mm_cvtsi128_si32(o));
    }
    return hsum_ps(acc) - acc_off;
}

/* Total of the 8 s32 lanes of v. */
static inline int32_t hsum_epi32(__m256i v)
{
    __m128i o = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0x4E));
    o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0xB1));
    return _mm_cvtsi128_si32(o);
}

/* Q2_K (twin dot_q2_K): weight 128 h + 32 j + l is bits 2j..2j+1 of
 * qs[32 h + l], its 16-weight group 8 h + 2 j + (l >= 16) has scale = low
 * nibble and min = high nibble of scales[group]. The min term is
 * dmin * sum_g min_g bsums_g, one madd per super-block. */
static float avx2_dot_q2_K(int64_t k, const void *wv, const void *xv)
{
    const block_q2_K *w = wv;
    const block_q8_K *x = xv;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m128i sm = _mm_loadu_si128((const __m128i *)w[b].scales);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        const int32_t summs = hsum_epi32(_mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)x[b].bsums)));
        const __m128i sc8 = _mm_and_si128(sm, m4);
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m128i sc16 = _mm_cvtepu8_epi16(h ? _mm_unpackhi_epi64(sc8, sc8) : sc8);
            const __m256i sc = _mm256_set_m128i(sc16, sc16);
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * j), m3);
                const __m256i xq8 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 128 * h + 32 * j));
                const __m256i s = _mm256_shuffle_epi8(sc, bcast16_mask(2 * j, 2 * j + 1));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, xq8)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * fp16(w[b].d)), _mm256_cvtepi32_ps(sum), acc);
        accm += x[b].d * fp16(w[b].dmin) * (float)summs;
    }
    return hsum_ps(acc) - accm;
}

/* qp_q3k_scales in SIMD, as 16 s8 lanes: bytes 0..7 give the low nibbles of
 * scales 0..7 (low nibble) and 8..15 (high nibble); the 32-bit word of
 * bytes 8..11 gives the top 2 bits of scale 4 g + m at bits 2 g..2 g + 1 of
 * byte m, so shifting its copy in 32-bit lane g right by 2 g lines them up.
 * About 12 instructions against the scalar loop's ~100 (16 iterations of
 * byte loads, variable shifts and stores), which ran once per super-block
 * and was most of the Q3_K kernels' time. */
static inline __m128i q3k_scales_sse(const uint8_t *q)
{
    uint64_t lo8;
    uint32_t hi4;
    memcpy(&lo8, q, 8);
    memcpy(&hi4, q + 8, 4);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_cvtsi64_si128((long long)lo8);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6)),
                                     _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
}

/* Q3_K (twin dot_q3_K): q = low2 - (high bit ? 0 : 4) in -4..3. maddubs
 * takes the unsigned q + 4 = low2 | high bit << 2 (0..7) and the offset
 * comes out per super-block: -4 sum_g sc_g bsums_g. Weight 128 h + 32 j + l
 * has low2 = bits 2j..2j+1 of qs[32 h + l] and its high bit is bit 4h + j
 * of hmask[l]; the 6-bit signed scales are unpacked by q3k_scales_sse. */
/* Q3_K group j of half h as the unsigned q + 4 (0..7): low2 from q2 (the
 * half's 32 qs bytes), bit 2 from bit 4h + j of hm (the 32 hmask bytes). */
QP_INLINE __m256i q3k_group(__m256i q2, __m256i hm, int h, int j)
{
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * j), _mm256_set1_epi8(3));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), _mm256_set1_epi8(1));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
}

static float avx2_dot_q3_K(int64_t k, const void *wv, const void *xv)
{
    const block_q3_K *w = wv;
    const block_q8_K *x = xv;
    float acc = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i sc_all = _mm256_cvtepi8_epi16(q3k_scales_sse(w[b].scales));
        const int32_t off = hsum_epi32(_mm256_madd_epi16(sc_all, _mm256_loadu_si256((const __m256i *)x[b].bsums)));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)w[b].hmask);
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m128i sc16 = h ? _mm256_extracti128_si256(sc_all, 1) : _mm256_castsi256_si128(sc_all);
            const __m256i sc = _mm256_set_m128i(sc16, sc16);
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m256i q = q3k_group(q2, hm, h, j);
                const __m256i xq8 = _mm256_loadu_si256((const __m256i *)(x[b].qs + 128 * h + 32 * j));
                const __m256i s = _mm256_shuffle_epi8(sc, bcast16_mask(2 * j, 2 * j + 1));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, xq8)));
            }
        }
        /* |isum| <= 256 * 32 * 7 * 127 < 2^24: exact in float */
        const int32_t isum = hsum_epi32(sum) - 4 * off;
        acc += x[b].d * fp16(w[b].d) * (float)isum;
    }
    return acc;
}

/* ======================================================================== */
/* float weights (scalar twins: dot_f16, dot_bf16, dot_f32)                 */
/* ======================================================================== */

/* Four accumulators: 32 values per iteration hide the FMA latency. */
#define QP_FLOAT_DOT(NAME, WT, LOAD8, SCALAR)                                              \
    static float NAME(int64_t k, const void *wv, const void *xv)                           \
    {                                                                                      \
        const WT *w = wv;                                                                  \
        const float *x = xv;                                                               \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                        \
        int64_t i = 0;                                                                     \
        for (; i + 32 <= k; i += 32) {                                                     \
            prefetch_ahead(w + i, 32 * sizeof(WT));                                        \
            a0 = _mm256_fmadd_ps(LOAD8(w + i), _mm256_loadu_ps(x + i), a0);                \
            a1 = _mm256_fmadd_ps(LOAD8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);        \
            a2 = _mm256_fmadd_ps(LOAD8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);      \
            a3 = _mm256_fmadd_ps(LOAD8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);      \
        }                                                                                  \
        for (; i + 8 <= k; i += 8)                                                         \
            a0 = _mm256_fmadd_ps(LOAD8(w + i), _mm256_loadu_ps(x + i), a0);                \
        float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));    \
        for (; i < k; i++)                                                                 \
            s += SCALAR(w[i]) * x[i];                                                      \
        return s;                                                                          \
    }

static inline __m256 load8_f16(const qp_half *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load8_bf16(const uint16_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline float f32_id(float v) { return v; }

QP_FLOAT_DOT(avx2_dot_f16, qp_half, load8_f16, fp16)
QP_FLOAT_DOT(avx2_dot_bf16, uint16_t, load8_bf16, qp_bf16_to_fp32)
QP_FLOAT_DOT(avx2_dot_f32, float, _mm256_loadu_ps, f32_id)

/* ======================================================================== */
/* activation quantizers (twins: quant/'s qp_quantize_row_q8_0/q8_1/q8_K)   */
/* ======================================================================== */
/* Identical bytes to the reference, not merely close: same float operations
 * in the same order (amax/127, 1/d, x*id), the same rounding (roundf: half
 * away from zero for Q8_0/Q8_1; nearest-even for Q8_K), the same clamps, and
 * the rare paths the reference treats specially (scale beyond fp16, zero or
 * non-finite inverse) handed to the reference itself. */

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* roundf: truncate, then step away from zero when the dropped part is >= .5
 * (v - trunc(v) is exact). Adding 0.5 and truncating would be wrong for
 * 0.49999997 (the sum rounds up to 1). */
static inline __m256 round_half_away(__m256 v)
{
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

/* 4 x 8 s32 -> 32 s8 in order (packs interleave 128-bit lanes; the final
 * permute restores the order). Values are within -128..127 already. */
static inline __m256i pack_s32x32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* fp16 with saturation to +-65504 for finite input (quant/'s qp_fp16_sat). */
static inline qp_half fp16_sat(float f)
{
    qp_half h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    if ((h & 0x7fffu) == 0x7c00u && isfinite(f))
        h = (qp_half)((h & 0x8000u) | 0x7bffu);
    return h;
}

/* One Q8_0-style block: returns 0 if the reference must handle it. */
static inline int q8_block(const float *x, int8_t *qs, qp_half *dh, float *d_out, int *sum)
{
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(abs_ps(v[i]), amax); /* NaN lanes: max returns amax */
    }
    const float am = hmax_ps(amax);
    const float d = am / 127.0f;
    if (!(d <= 65504.0f)) /* fp16 would saturate: the reference's special case */
        return 0;
    *dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    *d_out = d;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!isfinite(id))
        id = 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; i++) {
        __m256 r = round_half_away(_mm256_mul_ps(v[i], idv));
        r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
        q[i] = _mm256_cvtps_epi32(r);
    }
    if (sum) {
        const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        *sum = _mm_cvtsi128_si32(t);
    }
    _mm256_storeu_si256((__m256i *)qs, pack_s32x32(q[0], q[1], q[2], q[3]));
    return 1;
}

static void avx2_quantize_q8_0(const float *x, void *yv, int64_t k)
{
    block_q8_0 *y = yv;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        float d;
        if (!q8_block(x + 32 * b, y[b].qs, &y[b].d, &d, NULL))
            qp_quantize_row_q8_0(x + 32 * b, &y[b], QK8_0);
    }
}

static void avx2_quantize_q8_1(const float *x, void *yv, int64_t k)
{
    block_q8_1 *y = yv;
    for (int64_t b = 0; b < k / QK8_1; b++) {
        float d;
        int sum;
        if (!q8_block(x + 32 * b, y[b].qs, &y[b].d, &d, &sum))
            qp_quantize_row_q8_1(x + 32 * b, &y[b], QK8_1);
        else
            y[b].s = fp16_sat((float)sum * d); /* the reference uses the unrounded d */
    }
}

/* Q8_K: iscale = -127 / (the first value of largest magnitude), q =
 * nearest-even(iscale * x) clamped to -128..127, d = 1 / iscale. */
static void avx2_quantize_q8_K(const float *x, void *yv, int64_t k)
{
    block_q8_K *y = yv;
    for (int64_t b = 0; b < k / QK_K; b++, x += QK_K) {
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8)
            amax = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + i)), amax);
        const float am = hmax_ps(amax);
        if (am == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the first lane equal to the maximum gives the sign */
        const __m256 amv = _mm256_set1_ps(am);
        int first = 0;
        for (int i = 0; i < QK_K; i += 8) {
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + i)), amv, _CMP_EQ_OQ));
            if (mask) {
                first = i + __builtin_ctz((unsigned)mask);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        if (!isfinite(iscale)) { /* tiny maximum: the reference pre-scales */
            qp_quantize_row_q8_K(x, &y[b], QK_K);
            continue;
        }
        const __m256 is = _mm256_set1_ps(iscale);
        for (int i = 0; i < QK_K; i += 32) {
            __m256i q[4];
            for (int j = 0; j < 4; j++) {
                __m256 v = _mm256_mul_ps(is, _mm256_loadu_ps(x + i + 8 * j));
                v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
                q[j] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            }
            const __m256i q8 = pack_s32x32(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[b].qs + i), q8);
            /* bsums of the two 16-byte groups: pairs, quads, then lane sums */
            const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q8), _mm256_set1_epi16(1));
            const __m256i s2 = _mm256_hadd_epi32(s32, s32);
            const __m256i s4 = _mm256_hadd_epi32(s2, s2);
            y[b].bsums[i / 16] = (int16_t)_mm256_extract_epi32(s4, 0);
            y[b].bsums[i / 16 + 1] = (int16_t)_mm256_extract_epi32(s4, 4);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ======================================================================== */
/* tiles                                                                    */
/* ======================================================================== */

/* Register tiles (tinyBLAS-style): RM weight rows x RN activation rows,
 * RM * RN float accumulators. Each block of a weight row is decoded once for
 * RN activation rows, each activation block loaded once for RM weight rows,
 * and the fp16 scales converted once per row instead of once per pair. The
 * functions are templates: always inlined with constant RM and RN into the
 * small specialisations that a switch on (mr, nc) selects, so the arrays
 * below live in registers. Same arithmetic per element as the vec_dot,
 * only interleaved, so results equal vec_dot up to summation order. */
/* 16 ymm registers: 4 x 2 accumulators + 2 activation blocks + the decoded
 * weight block, its absolute value and temporaries fit; 4 x 3 would spill. */
QP_X86_LEGACY_TILE(avx2, q8_0, block_q8_0, AVX2_PAIRDOT, 2)
QP_X86_LEGACY_TILE(avx2, q4_0, block_q4_0, AVX2_PAIRDOT, 2)
QP_X86_LEGACY_TILE(avx2, q5_0, block_q5_0, AVX2_PAIRDOT, 2)

/* Q4_1 / Q5_1: RM weight rows x RN activation rows, the legacy tile's shape
 * (4 x 2) for the unsigned formats (twins dot_q4_1, dot_q5_1). The weights
 * go into maddubs as they are (0..15 / 0..31), so no sign trick; the min
 * term m * s is one scalar FMA per block and output, kept apart from the
 * vector sums exactly as in the vec_dot. */
#define QP_AVX2_UNSIGNED_TILE(T, WT, WEIGHTS)                                              \
    QP_INLINE void avx2_tile_##T##_rc(int RM, int RN, int64_t k, const char *w, size_t ws, \
                                      const char *xq, size_t xs, float *y, size_t ldy)     \
    {                                                                                      \
        __m256 acc[4][2];                                                                  \
        float mins[4][2];                                                                  \
        _Pragma("GCC unroll 4")                                                            \
        for (int r = 0; r < RM; r++)                                                       \
            _Pragma("GCC unroll 2")                                                        \
            for (int c = 0; c < RN; c++) {                                                 \
                acc[r][c] = _mm256_setzero_ps();                                           \
                mins[r][c] = 0.0f;                                                         \
            }                                                                              \
        for (int64_t b = 0; b < k / 32; b++) {                                             \
            __m256i xv[2];                                                                 \
            float dx[2], sx[2];                                                            \
            _Pragma("GCC unroll 2")                                                        \
            for (int c = 0; c < RN; c++) {                                                 \
                const block_q8_1 *xb = (const block_q8_1 *)(xq + (size_t)c * xs) + b;      \
                xv[c] = _mm256_loadu_si256((const __m256i *)xb->qs);                       \
                dx[c] = fp16(xb->d);                                                       \
                sx[c] = fp16(xb->s);                                                       \
            }                                                                              \
            _Pragma("GCC unroll 4")                                                        \
            for (int r = 0; r < RM; r++) {                                                 \
                const WT *wb = (const WT *)(w + (size_t)r * ws) + b;                       \
                const __m256i wv = WEIGHTS(wb);                                            \
                const float dw = fp16(wb->d), mw = fp16(wb->m);                            \
                _Pragma("GCC unroll 2")                                                    \
                for (int c = 0; c < RN; c++) {                                             \
                    const __m256i p = widen_pairs(_mm256_maddubs_epi16(wv, xv[c]));        \
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[c]), _mm256_cvtepi32_ps(p), acc[r][c]); \
                    mins[r][c] += mw * sx[c];                                              \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < RM; r++)                                                       \
            for (int c = 0; c < RN; c++)                                                   \
                y[(size_t)c * ldy + (size_t)r] = hsum_ps(acc[r][c]) + mins[r][c];          \
    }                                                                                      \
    static void avx2_tile_##T(int64_t k, const void *w, size_t ws, const void *xq, size_t xs, \
                              float *y, size_t ldy, int mr, int nc)                        \
    {                                                                                      \
        QP_X86_TILE_SWITCH(avx2_tile_##T##_rc, 2, mr, nc, (k, w, ws, xq, xs, y, ldy));    \
    }

static inline __m256i q4_1_weights(const block_q4_1 *b) { return unpack_nibbles16(b->qs); }
QP_AVX2_UNSIGNED_TILE(q4_1, block_q4_1, q4_1_weights)
QP_AVX2_UNSIGNED_TILE(q5_1, block_q5_1, q5_1_weights)

/* Q4_K / Q5_K: one weight row x RN activation rows. Each super-block's
 * scales are unpacked, and each 64-weight step's nibbles computed, once for
 * the RN rows; activations are read by
 * maddubs straight from L1. Per output this is about 2/3 of vec_dot's
 * vector ops at RN = 3 (and a 2 x 2 shape with scalar min terms measured
 * slower than plain vec_dot: it ran out of registers). */
QP_INLINE void tile_q4k_rc(int RN, int has_qh, size_t wsize, size_t off_qs, size_t off_qh,
                           int64_t k, const char *w, const char *xq, size_t xs, float *y, size_t ldy)
{
    __m256 acc[4];
    __m128 accm[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++) {
        acc[c] = _mm256_setzero_ps();
        accm[c] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * wsize;
        qp_half dh, dminh;
        memcpy(&dh, blk, 2);
        memcpy(&dminh, blk + 2, 2);
        const float d = fp16(dh), dmin = fp16(dminh);
        const __m128i sm = q4k_scales_mins(blk + 4);
        const __m128i mins8 = _mm_unpackhi_epi64(sm, sm);
        const __m128i sc16 = _mm_cvtepu8_epi16(sm);
        const __m128i slo = _mm_unpacklo_epi16(sc16, sc16), shi = _mm_unpackhi_epi16(sc16, sc16);
        const uint8_t *qs = blk + off_qs;
        __m256i hb = _mm256_setzero_si256();
        if (has_qh)
            hb = _mm256_loadu_si256((const __m256i *)(blk + off_qh));
        __m256i isum[4], hprev[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i ql, qh;
            q4k_step_weights(qs, hb, has_qh, j, &ql, &qh);
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++) {
                /* q4k_isum's folding, two steps at a time */
                const int8_t *xs8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs + 64 * j;
                const __m256i h = _mm256_hadd_epi16(
                    _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)xs8)),
                    _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(xs8 + 32))));
                if (j % 2 == 0) {
                    hprev[c] = h;
                } else {
                    const __m128i s = j == 1 ? slo : shi;
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_hadd_epi16(hprev[c], h),
                                                                          _mm256_set_m128i(s, s)));
                }
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb->d * d), _mm256_cvtepi32_ps(isum[c]), acc[c]);
            accm[c] = _mm_fmadd_ps(_mm_set1_ps(xb->d * dmin), _mm_cvtepi32_ps(q4k_min_sum(mins8, xb->bsums)), accm[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = hsum_ps(acc[c]) - hsum_ps128(accm[c]);
}

/* The Q4_K and Q5_K instances, in the signature QP_KQ_TILE calls. */
QP_INLINE void tile_q4k_rc_q4(int RN, int64_t k, const char *w, const char *xq, size_t xs, float *y, size_t ldy)
{
    tile_q4k_rc(RN, 0, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, k, w, xq, xs, y, ldy);
}
QP_INLINE void tile_q4k_rc_q5(int RN, int64_t k, const char *w, const char *xq, size_t xs, float *y, size_t ldy)
{
    tile_q4k_rc(RN, 1, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), k, w, xq, xs, y,
                ldy);
}


/* Float weights: RM x RN tiles of FMAs; each 8 weights are widened once
 * (vcvtph2ps / shift) for RN activation rows. 4 x 2 = 8 accumulators + 4
 * weight vectors + 1 activation vector fit AVX2's 16 registers. */
#define QP_FLOAT_TILE(NAME, WT, LOAD8, SCALAR)                                             \
    QP_INLINE void NAME##_rc(int RM, int RN, int64_t k, const char *w, size_t ws,          \
                             const char *xq, size_t xs, float *y, size_t ldy)              \
    {                                                                                      \
        __m256 acc[4][2];                                                                  \
        _Pragma("GCC unroll 4") for (int r = 0; r < RM; r++)                               \
            _Pragma("GCC unroll 2") for (int c = 0; c < RN; c++)                           \
                acc[r][c] = _mm256_setzero_ps();                                           \
        int64_t i = 0;                                                                     \
        for (; i + 8 <= k; i += 8) {                                                       \
            __m256 xv[2], wv8[4];                                                          \
            _Pragma("GCC unroll 2") for (int c = 0; c < RN; c++)                           \
                xv[c] = _mm256_loadu_ps((const float *)(xq + (size_t)c * xs) + i);         \
            _Pragma("GCC unroll 4") for (int r = 0; r < RM; r++) {                         \
                wv8[r] = LOAD8((const WT *)(w + (size_t)r * ws) + i);                      \
                _Pragma("GCC unroll 2") for (int c = 0; c < RN; c++)                       \
                    acc[r][c] = _mm256_fmadd_ps(wv8[r], xv[c], acc[r][c]);                 \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < RM; r++)                                                       \
            for (int c = 0; c < RN; c++) {                                                 \
                const WT *wr = (const WT *)(w + (size_t)r * ws);                           \
                const float *xr = (const float *)(xq + (size_t)c * xs);                    \
                float s = hsum_ps(acc[r][c]);                                              \
                for (int64_t t = i; t < k; t++)                                            \
                    s += SCALAR(wr[t]) * xr[t];                                            \
                y[(size_t)c * ldy + (size_t)r] = s;                                        \
            }                                                                              \
    }                                                                                      \
    static void NAME(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,       \
                     float *y, size_t ldy, int mr, int nc)                                 \
    {                                                                                      \
        QP_X86_TILE_SWITCH(NAME##_rc, 2, mr, nc, (k, w, ws, xq, xs, y, ldy));              \
    }
QP_FLOAT_TILE(avx2_tile_f16, qp_half, load8_f16, fp16)
QP_FLOAT_TILE(avx2_tile_bf16, uint16_t, load8_bf16, qp_bf16_to_fp32)
QP_FLOAT_TILE(avx2_tile_f32, float, _mm256_loadu_ps, f32_id)

/* Q6_K: one weight row x RN activation rows, as the Q4_K tile: the 6-bit
 * weights of each half and the scale broadcasts are built once for the RN
 * rows (same arithmetic as avx2_dot_q6_K per output). */
QP_INLINE void tile_q6k_rc(int RN, int64_t k, const char *w, const char *xq, size_t xs,
                           float *y, size_t ldy)
{
    __m256 acc[4];
    float acc_off[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++) {
        acc[c] = _mm256_setzero_ps();
        acc_off[c] = 0.0f;
    }
    for (int64_t b = 0; b < k / QK_K; b++) {
        const block_q6_K *wb = (const block_q6_K *)w + b;
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            const __m256i sc = q6k_half(wb, h, q);
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                const __m256i s = _mm256_shuffle_epi8(sc, q6k_pair_mask(j));
#pragma GCC unroll 4
                for (int c = 0; c < RN; c++) {
                    const int8_t *x8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs + 128 * h + 32 * j;
                    const __m256i p = _mm256_hadd_epi16(
                        _mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)x8)),
                        _mm256_maddubs_epi16(q[j + 1], _mm256_loadu_si256((const __m256i *)(x8 + 32))));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s, p));
                }
            }
        }
        const __m256i sc_all = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb->scales));
        const float dw = fp16(wb->d);
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            const int32_t off = hsum_epi32(_mm256_madd_epi16(sc_all, _mm256_loadu_si256((const __m256i *)xb->bsums)));
            const float dd = xb->d * dw;
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum[c]), acc[c]);
            acc_off[c] += dd * (float)(32 * off);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = hsum_ps(acc[c]) - acc_off[c];
}


/* Q2_K / Q3_K: one weight row x RN activation rows, as the Q4_K and Q6_K
 * tiles: each super-block's scales (Q2_K: and mins; Q3_K: the 6-bit scale
 * unpacking) and the weights of each 64-weight step with their scales are
 * built once for the RN rows; per output the integer block sums are those
 * of avx2_dot_q2_K / avx2_dot_q3_K, exactly, and the float operations are
 * the same ones in the same order.
 *
 * RN = 4 (tile_n of the slots): 4 s32 partial sums + 4 (Q2_K) float
 * accumulators + weights, scales and constants are about 16 ymm, and GCC
 * keeps a few partial sums and the float accumulators on the stack, ~8
 * ymm stores per super-block and per 4 outputs; it does some of that at
 * RN = 3 too, and RN = 4 measured faster anyway. qprof bench kernels
 * --types q2_K,q3_K --shape 1024x4096 -n 512 --threads 1 --variants avx2
 * (one Zen 1 core; a row's median of 5 runs, range over 2-3 rows taken
 * alternating with the other binaries), in ms:
 *           vec_dot per output   RN = 3   RN = 4
 *   Q2_K         171-178          149-154  146-150
 *   Q3_K         525-542          164-175  151-160
 * Q3_K gains most from q3k_scales_sse, which replaced a scalar unpack that
 * was most of the time of vec_dot in matmul (RN = 3 with the scalar unpack:
 * 237 ms). */

/* Q2_K: the 2-bit weights are multiplied by their 4-bit scale before
 * maddubs (vpmullw on s16 lanes holding two weights: q sc <= 3 * 15 = 45
 * < 256, so neither byte carries into the other), so per activation row
 * two 32-weight maddubs add up in s16 (2 * 2 * 45 * 128 = 23040 < 32767)
 * and one vpmaddwd with 1s widens both: 3 multiplies per 64 weights and
 * row instead of vec_dot's 4 (6% faster than scaling after maddubs at RN =
 * 3: 163 -> 154 ms). */
QP_INLINE void tile_q2k_rc(int RN, int64_t k, const char *w, const char *xq, size_t xs,
                           float *y, size_t ldy)
{
    const __m256i m3 = _mm256_set1_epi8(3), ones16 = _mm256_set1_epi16(1);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc[4];
    float accm[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++) {
        acc[c] = _mm256_setzero_ps();
        accm[c] = 0.0f;
    }
    for (int64_t b = 0; b < k / QK_K; b++) {
        const block_q2_K *wb = (const block_q2_K *)w + b;
        const __m128i sm = _mm_loadu_si128((const __m128i *)wb->scales);
        const __m128i sc8 = _mm_and_si128(sm, m4);
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m128i sc16 = _mm_cvtepu8_epi16(h ? _mm_unpackhi_epi64(sc8, sc8) : sc8);
            const __m256i sc = _mm256_set_m128i(sc16, sc16);
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * h));
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                __m256i qs[2];
#pragma GCC unroll 2
                for (int t = 0; t < 2; t++) {
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * (j + t)), m3);
                    const __m256i s = _mm256_shuffle_epi8(sc, bcast16_mask(2 * (j + t), 2 * (j + t) + 1));
                    qs[t] = _mm256_mullo_epi16(q, s);
                }
#pragma GCC unroll 4
                for (int c = 0; c < RN; c++) {
                    const int8_t *x8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs + 128 * h + 32 * j;
                    const __m256i p = _mm256_add_epi16(
                        _mm256_maddubs_epi16(qs[0], _mm256_loadu_si256((const __m256i *)x8)),
                        _mm256_maddubs_epi16(qs[1], _mm256_loadu_si256((const __m256i *)(x8 + 32))));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p, ones16));
                }
            }
        }
        /* the mins are widened here, after the loop, so that they do not
         * hold a register through it */
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        const float dw = fp16(wb->d), dmw = fp16(wb->dmin);
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            const int32_t summs = hsum_epi32(_mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)xb->bsums)));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb->d * dw), _mm256_cvtepi32_ps(isum[c]), acc[c]);
            accm[c] += xb->d * dmw * (float)summs;
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = hsum_ps(acc[c]) - accm[c];
}

/* Q3_K: the unsigned q + 4 of two 32-weight groups j, j + 1 are folded by
 * one vphaddw as in Q6_K (a lane sums 4 products, <= 4 * 7 * 128 = 3584),
 * so that one vpmaddwd with q6k_pair_mask's scale order applies the four
 * 16-weight scales (4% faster than one vpmaddwd per group at RN = 3). */
QP_INLINE void tile_q3k_rc(int RN, int64_t k, const char *w, const char *xq, size_t xs,
                           float *y, size_t ldy)
{
    float acc[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        const block_q3_K *wb = (const block_q3_K *)w + b;
        const __m256i sc_all = _mm256_cvtepi8_epi16(q3k_scales_sse(wb->scales));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)wb->hmask);
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m128i sc16 = h ? _mm256_extracti128_si256(sc_all, 1) : _mm256_castsi256_si128(sc_all);
            const __m256i sc = _mm256_set_m128i(sc16, sc16);
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * h));
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                __m256i q[2];
#pragma GCC unroll 2
                for (int t = 0; t < 2; t++)
                    q[t] = q3k_group(q2, hm, h, j + t);
                const __m256i s = _mm256_shuffle_epi8(sc, q6k_pair_mask(j));
#pragma GCC unroll 4
                for (int c = 0; c < RN; c++) {
                    const int8_t *x8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs + 128 * h + 32 * j;
                    const __m256i p = _mm256_hadd_epi16(
                        _mm256_maddubs_epi16(q[0], _mm256_loadu_si256((const __m256i *)x8)),
                        _mm256_maddubs_epi16(q[1], _mm256_loadu_si256((const __m256i *)(x8 + 32))));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s, p));
                }
            }
        }
        const float dw = fp16(wb->d);
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            const int32_t off = hsum_epi32(_mm256_madd_epi16(sc_all, _mm256_loadu_si256((const __m256i *)xb->bsums)));
            /* |isum| < 2^24: exact in float (avx2_dot_q3_K) */
            acc[c] += xb->d * dw * (float)(hsum_epi32(isum[c]) - 4 * off);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = acc[c];
}

/* The K-quant tiles (one weight row at a time, 1 x RN): a single
 * activation row goes to vec_dot (the driver sends matvec there itself;
 * this is the last column of a product with n % MAXN == 1), 2 and 3 to
 * their own shapes, more to MAXN. The branches are on constants where
 * MAXN is 3, so each RN is instantiated once. */
#define QP_Q23K_RN 4
#define QP_KQ_TILE(NAME, DOT, RC, MAXN)                                                    \
    static void NAME(int64_t k, const void *w, size_t ws, const void *xq, size_t xs,       \
                     float *y, size_t ldy, int mr, int nc)                                 \
    {                                                                                      \
        for (int r = 0; r < mr; r++) {                                                     \
            const char *wr = (const char *)w + (size_t)r * ws;                             \
            if (nc == 1)                                                                   \
                y[r] = DOT(k, wr, xq);                                                     \
            else if (nc == 2)                                                              \
                RC(2, k, wr, xq, xs, y + r, ldy);                                          \
            else if (nc == 3 && (MAXN) > 3)                                                \
                RC(3, k, wr, xq, xs, y + r, ldy);                                          \
            else                                                                           \
                RC(MAXN, k, wr, xq, xs, y + r, ldy);                                       \
        }                                                                                  \
    }
QP_KQ_TILE(avx2_tile_q2_K, avx2_dot_q2_K, tile_q2k_rc, QP_Q23K_RN)
QP_KQ_TILE(avx2_tile_q3_K, avx2_dot_q3_K, tile_q3k_rc, QP_Q23K_RN)
QP_KQ_TILE(avx2_tile_q4_K, avx2_dot_q4_K, tile_q4k_rc_q4, 3)
QP_KQ_TILE(avx2_tile_q5_K, avx2_dot_q5_K, tile_q4k_rc_q5, 3)
QP_KQ_TILE(avx2_tile_q6_K, avx2_dot_q6_K, tile_q6k_rc, 3)

/* ======================================================================== */
/* packed weights (x86_packed.h; twins: the vec_dots of the types)          */
/* ======================================================================== */

#define QP_PK_DOT16(a, u, s) _mm256_add_epi16((a), _mm256_maddubs_epi16((u), (s)))
#define QP_PK_WIDEN(a) widen_pairs(a)
#define QP_PK_DOT32(a, u, s) _mm256_add_epi32((a), widen_pairs(_mm256_maddubs_epi16((u), (s))))
#define QP_PK_SCALE_S32 0
#include "x86_packed.h"

/* ======================================================================== */
/* the table                                                                */
/* ======================================================================== */

/* The slots this file fills: data only, applied by x86/x86_tables.c (a file
 * compiled without SIMD flags), so that building the tables at start-up
 * runs no AVX instruction on a CPU that has none. */
#define QP_SLOT(dot, tile, tm, tn) { dot, tile, tm, tn, 1, NULL, NULL, 0 }
/* ---- dequantization (twins: quant/'s qp_dequantize_f16 and _q8_0) -------- */

/* F16C widens 8 halves at a time, exactly as the scalar conversion. */
static void avx2_dequant_f16(const void *x, float *y, int64_t n)
{
    const qp_half *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        y[i] = fp16(h[i]);
}

/* d * q per weight, one float product as in the reference. */
static void avx2_dequant_q8_0(const void *x, float *y, int64_t n)
{
    const block_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const __m256 d = _mm256_set1_ps(fp16(b[i].d));
        for (int j = 0; j < QK8_0; j += 8) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)));
            _mm256_storeu_ps(y + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
        }
    }
}

const struct qp_x86_slots qp_avx2_slots = {
    .w = {
        [QP_TYPE_Q8_0] = { avx2_dot_q8_0, avx2_tile_q8_0, 4, 2, 1, &qp_pack_q8_0_x8, ptile_q8_0, QP_PTILE_N },
        [QP_TYPE_Q4_0] = { avx2_dot_q4_0, avx2_tile_q4_0, 4, 2, 1, &qp_pack_q4_0_x8, ptile_q4_0, QP_PTILE_N },
        [QP_TYPE_Q5_0] = { avx2_dot_q5_0, avx2_tile_q5_0, 4, 2, 1, &qp_pack_q5_0_x8, ptile_q5_0, QP_PTILE_N },
        [QP_TYPE_Q4_1] = { avx2_dot_q4_1, avx2_tile_q4_1, 4, 2, 1, &qp_pack_q4_1_x8, ptile_q4_1, QP_PTILE_N },
        [QP_TYPE_Q5_1] = { avx2_dot_q5_1, avx2_tile_q5_1, 4, 2, 1, &qp_pack_q5_1_x8, ptile_q5_1, QP_PTILE_N },
        [QP_TYPE_Q2_K] = QP_SLOT(avx2_dot_q2_K, avx2_tile_q2_K, 1, QP_Q23K_RN),
        [QP_TYPE_Q3_K] = QP_SLOT(avx2_dot_q3_K, avx2_tile_q3_K, 1, QP_Q23K_RN),
        [QP_TYPE_Q4_K] = { avx2_dot_q4_K, avx2_tile_q4_K, 1, 3, 1, &qp_pack_q4_K_x8, ptile_q4_K, QP_PTILE_N },
        [QP_TYPE_Q5_K] = { avx2_dot_q5_K, avx2_tile_q5_K, 1, 3, 1, &qp_pack_q5_K_x8, ptile_q5_K, QP_PTILE_N },
        [QP_TYPE_Q6_K] = { avx2_dot_q6_K, avx2_tile_q6_K, 1, 3, 1, &qp_pack_q6_K_x8, ptile_q6_K, QP_PTILE_N },
        [QP_TYPE_F16] = QP_SLOT(avx2_dot_f16, avx2_tile_f16, 4, 2),
        [QP_TYPE_BF16] = QP_SLOT(avx2_dot_bf16, avx2_tile_bf16, 4, 2),
        [QP_TYPE_F32] = QP_SLOT(avx2_dot_f32, avx2_tile_f32, 4, 2),
    },
    .quantize_act = {
        [QP_TYPE_Q8_0] = avx2_quantize_q8_0,
        [QP_TYPE_Q8_1] = avx2_quantize_q8_1,
        [QP_TYPE_Q8_K] = avx2_quantize_q8_K,
    },
    .dequant = {
        [QP_TYPE_F16] = avx2_dequant_f16,
        [QP_TYPE_Q8_0] = avx2_dequant_q8_0,
    },
};
