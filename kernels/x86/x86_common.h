/* kernels/x86/x86_common.h - private to kernels/x86/: helpers and kernel
 * templates shared by avx2.c and avx512.c.
 *
 * Everything here needs AVX2+FMA+F16C only, which both files are compiled
 * with (avx512.c adds its own -m flags on top). The templates are macros
 * parameterised by the block dot instruction, so the AVX-512 variant's
 * legacy kernels are the AVX2 ones, verified here, with vpdpbusd in place of
 * vpmaddubsw + vpmaddwd.
 */
#ifndef QP_KERNELS_X86_COMMON_H
#define QP_KERNELS_X86_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "x86_slots.h"

#define QP_INLINE static inline __attribute__((always_inline))

/* Software prefetch of weights. In a matvec (the vec_dots, and the packed
 * tiles with one activation row) weights stream from DRAM and each byte is
 * used once; every kernel asks for the bytes it will read
 * QP_X86_PREFETCH_AHEAD bytes further on, as it goes:
 *   - with the hardware prefetchers alone one Zen 1 core read Q8_0 weights
 *     at 7.6-8.7 GB/s in matvec; with T0 prefetches 2 KiB ahead, 10.0-10.4
 *     (Q4_K 5.7 -> 7.1-7.3 GB/s);
 *   - NTA in place of T0, 3 KiB ahead: the packed Q4_K matvec on two
 *     threads 2-7 % faster again, typically 3 % (Q8_0 1-4 %, Q6_K 0-8 %;
 *     one thread unchanged), timing 100-150 products of each, alternating,
 *     in one process (docs/bench.md); T0 at 3 KiB or NTA at 2 KiB gained
 *     about half as much, NTA at 4 or 6 KiB the same. NTA keeps a use-once
 *     stream from displacing L2, and the longer lead covers the DRAM
 *     latency of two busy cores.
 * Overshooting the end of the matrix is harmless: a prefetch never faults.
 * A packed tile with several activation rows (matmul) reads each weight
 * block from L2 once per activation block, so its lines must stay cached:
 * it prefetches with T0 at the old distance (prefetch_tile). The plain-row
 * register tiles are compute-bound and do not prefetch. */
#ifndef QP_X86_PREFETCH_AHEAD
#define QP_X86_PREFETCH_AHEAD 3072
#endif
#define QP_X86_PREFETCH_AHEAD_TILE 2048
/* Prefetches the 64-byte lines of [p, p + bytes) shifted by the distance;
 * bytes is a constant at every call, so the loop unrolls to 1-27 prefetches. */
QP_INLINE void prefetch_ahead(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + QP_X86_PREFETCH_AHEAD + o, _MM_HINT_NTA);
}
/* The packed tiles' prefetch: a stream for one activation row (RN, a
 * constant once inlined), cached for more. */
QP_INLINE void prefetch_tile(int rn, const void *p, size_t bytes)
{
    if (rn == 1)
        prefetch_ahead(p, bytes);
    else
        for (size_t o = 0; o < bytes; o += 64)
            _mm_prefetch((const char *)p + QP_X86_PREFETCH_AHEAD_TILE + o, _MM_HINT_T0);
}


/* ======================================================================== */
/* helpers                                                                  */
/* ======================================================================== */

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum_ps128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* fp16 -> fp32 of a block scale by table (x86_slots.h):
 * a scalar load on the load ports instead of vpinsrw + vcvtph2ps on the
 * vector ports the dot products saturate (ggml does the same on x86).
 * 256 KiB, but the scales of a tensor span few exponents, so few of its
 * cache lines are ever warm. */
static inline float fp16(qp_half h) { return qp_x86_fp16_lut[h]; }

/* Sum of the 16 s16 pairs of maddubs as 8 s32. */
static inline __m256i widen_pairs(__m256i p16) { return _mm256_madd_epi16(p16, _mm256_set1_epi16(1)); }

/* s8 x s8 dot of 32 pairs as 8 s32 lanes (sign moved onto x; see the top). */
static inline __m256i dot_s8x32(__m256i w, __m256i x)
{
    return widen_pairs(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)));
}

/* 16 bytes of packed nibbles -> 32 bytes 0..15: low nibbles in the low lane
 * (weights 0..15 of a legacy block), high nibbles in the high lane (16..31). */
static inline __m256i unpack_nibbles16(const uint8_t *qs)
{
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, byte j = 0xFF if bit j is set (Q5's high bits).
 * Byte j first gets source byte j / 8 (shuffle), then is OR-ed with a byte
 * that has every bit but bit j % 8 set: all ones iff that bit was set. */
static inline __m256i bits_to_bytes32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)v),
        _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0));
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL);
    return _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1));
}

/* Signed weights of one legacy block as 32 bytes, in weight order. */
static inline __m256i q8_0_weights(const block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)b->qs); }
static inline __m256i q4_0_weights(const block_q4_0 *b)
{
    return _mm256_sub_epi8(unpack_nibbles16(b->qs), _mm256_set1_epi8(8));
}
static inline __m256i q5_0_weights(const block_q5_0 *b)
{
    /* q - 16 = nibble - 16 + 16 * high bit = nibble | (high bit ? 0 : 0xF0) as s8 */
    const __m256i hb = bits_to_bytes32(b->qh);
    return _mm256_or_si256(unpack_nibbles16(b->qs), _mm256_andnot_si256(hb, _mm256_set1_epi8((char)0xF0)));
}

/* The 12 packed bytes of Q4_K/Q5_K -> 8 scales (bytes 0..7) and 8 mins
 * (bytes 8..15), all 6-bit; the same unpacking as qp_q4k_scale_min done on
 * four 32-bit words at once (see its comment for the layout). */
static inline __m128i q4k_scales_mins(const uint8_t *packed)
{
    uint32_t u[4];
    memcpy(u, packed, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const uint32_t mins_lo = u[1] & m6;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4); /* mins 4..7 */
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);        /* scales 4..7 */
    u[2] = mins_lo;                                         /* mins 0..3 */
    u[0] &= m6;                                             /* scales 0..3 */
    return _mm_loadu_si128((const __m128i *)u);
}

/* Shuffle masks broadcasting s16 element i of each 128-bit lane to the
 * whole lane: bytes (2i, 2i+1) repeated. */
static inline __m256i bcast16_mask(int lo, int hi)
{
    const __m128i a = _mm_set1_epi16((short)(((2 * lo + 1) << 8) | (2 * lo)));
    const __m128i b = _mm_set1_epi16((short)(((2 * hi + 1) << 8) | (2 * hi)));
    return _mm256_set_m128i(b, a);
}

/* sum_s min_s * (bsums[2s] + bsums[2s+1]) as 4 s32 lanes. */
static inline __m128i q4k_min_sum(__m128i mins8, const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    const __m128i pair = _mm_hadd_epi16(b0, b1); /* 8 sums of 32 activations */
    return _mm_madd_epi16(_mm_cvtepu8_epi16(mins8), pair);
}

/* ======================================================================== */
/* legacy signed formats: dot and register tile templates                   */
/* ======================================================================== */
/* Q8_0, Q4_0, Q5_0 weights against Q8_0 activations. PAIRDOT(aw, sx) is the
 * 32-pair block dot of |w| (u8) and x * sign(w) (s8) as 8 s32 lanes. */

/* Dot with d * d' per block: two accumulators so consecutive FMAs do not
 * wait on each other (FMA latency 4-5 cycles vs throughput 0.5-1). The
 * scales come from the fp16 table: measured in-process against ggml's AVX2
 * vec_dot on Zen 1, table lookups beat widening 8 scales at once with
 * vcvtph2ps (0.024 vs 0.027 ms per 64 rows of 4096). */
#define QP_X86_LEGACY_DOT(PFX, T, WT, PAIRDOT)                                             \
    static inline __m256i PFX##_idot_##T(const WT *w, const block_q8_0 *x)                \
    {                                                                                      \
        const __m256i wv = T##_weights(w);                                                 \
        const __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs);                     \
        return PAIRDOT(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));                \
    }                                                                                      \
    static float PFX##_dot_##T(int64_t k, const void *wv, const void *xv)                  \
    {                                                                                      \
        const WT *w = wv;                                                                  \
        const block_q8_0 *x = xv;                                                          \
        const int64_t nb = k / 32;                                                         \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                     \
        int64_t b = 0;                                                                     \
        for (; b + 2 <= nb; b += 2) {                                                      \
            prefetch_ahead(&w[b], 2 * sizeof(WT));                                         \
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d)),            \
                                   _mm256_cvtepi32_ps(PFX##_idot_##T(&w[b], &x[b])), acc0); \
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[b + 1].d) * fp16(x[b + 1].d)),    \
                                   _mm256_cvtepi32_ps(PFX##_idot_##T(&w[b + 1], &x[b + 1])), acc1); \
        }                                                                                  \
        for (; b < nb; b++)                                                                \
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d)),            \
                                   _mm256_cvtepi32_ps(PFX##_idot_##T(&w[b], &x[b])), acc0); \
        return hsum_ps(_mm256_add_ps(acc0, acc1));                                         \
    }

/* Register tiles (tinyBLAS-style): RM weight rows x RN activation rows,
 * RM * RN float accumulators. Each block of a weight row is decoded once for
 * RN activation rows, each activation block loaded once for RM weight rows,
 * and each fp16 scale converted once per row instead of once per pair. The
 * _rc function is a template: always inlined with constant RM and RN into
 * the specialisations a switch on (mr, nc) selects, so its arrays live in
 * registers. Per element it does the vec_dot's arithmetic, interleaved, so
 * results equal vec_dot up to summation order. RM <= 4, RN <= MAXN <= 4. */
#define QP_X86_LEGACY_TILE(PFX, T, WT, PAIRDOT, MAXN)                                      \
    QP_INLINE void PFX##_tile_##T##_rc(int RM, int RN, int64_t k, const char *w, size_t ws, \
                                       const char *xq, size_t xs, float *y, size_t ldy)    \
    {                                                                                      \
        __m256 acc[4][4];                                                                  \
        _Pragma("GCC unroll 4")                                                            \
        for (int r = 0; r < RM; r++)                                                       \
            _Pragma("GCC unroll 4")                                                        \
            for (int c = 0; c < RN; c++)                                                   \
                acc[r][c] = _mm256_setzero_ps();                                           \
        for (int64_t b = 0; b < k / 32; b++) {                                             \
            __m256i xv[4];                                                                 \
            float dx[4];                                                                   \
            _Pragma("GCC unroll 4")                                                        \
            for (int c = 0; c < RN; c++) {                                                 \
                const block_q8_0 *xb = (const block_q8_0 *)(xq + (size_t)c * xs) + b;      \
                xv[c] = _mm256_loadu_si256((const __m256i *)xb->qs);                       \
                dx[c] = fp16(xb->d);                                                       \
            }                                                                              \
            _Pragma("GCC unroll 4")                                                        \
            for (int r = 0; r < RM; r++) {                                                 \
                const WT *wb = (const WT *)(w + (size_t)r * ws) + b;                       \
                const __m256i wv = T##_weights(wb);                                        \
                const __m256i aw = _mm256_sign_epi8(wv, wv);                               \
                const float dw = fp16(wb->d);                                              \
                _Pragma("GCC unroll 4")                                                    \
                for (int c = 0; c < RN; c++) {                                             \
                    const __m256i p = PAIRDOT(aw, _mm256_sign_epi8(xv[c], wv));            \
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[c]), _mm256_cvtepi32_ps(p), acc[r][c]); \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < RM; r++)                                                       \
            for (int c = 0; c < RN; c++)                                                   \
                y[(size_t)c * ldy + (size_t)r] = hsum_ps(acc[r][c]);                       \
    }                                                                                      \
    static void PFX##_tile_##T(int64_t k, const void *w, size_t ws, const void *xq, size_t xs, \
                               float *y, size_t ldy, int mr, int nc)                       \
    {                                                                                      \
        QP_X86_TILE_SWITCH(PFX##_tile_##T##_rc, MAXN, mr, nc, (k, w, ws, xq, xs, y, ldy)); \
    }

/* Calls F(RM, RN, ARGS...) with constant RM = mr (1..4), RN = nc (1..MAXN). */
#define QP_X86_TILE_CASE_N(F, RM, MAXN, nc, ARGS)                                          \
    do {                                                                                   \
        switch (nc) {                                                                      \
        case 1: F(RM, 1, QP_X86_UNPAREN ARGS); break;                                      \
        case 2: if (MAXN >= 2) { F(RM, (MAXN >= 2 ? 2 : 1), QP_X86_UNPAREN ARGS); } break; \
        case 3: if (MAXN >= 3) { F(RM, (MAXN >= 3 ? 3 : 1), QP_X86_UNPAREN ARGS); } break; \
        default: if (MAXN >= 4) { F(RM, (MAXN >= 4 ? 4 : 1), QP_X86_UNPAREN ARGS); } break; \
        }                                                                                  \
    } while (0)
#define QP_X86_UNPAREN(...) __VA_ARGS__
#define QP_X86_TILE_SWITCH(F, MAXN, mr, nc, ARGS)                                          \
    do {                                                                                   \
        switch (mr) {                                                                      \
        case 1: QP_X86_TILE_CASE_N(F, 1, MAXN, nc, ARGS); break;                           \
        case 2: QP_X86_TILE_CASE_N(F, 2, MAXN, nc, ARGS); break;                           \
        case 3: QP_X86_TILE_CASE_N(F, 3, MAXN, nc, ARGS); break;                           \
        default: QP_X86_TILE_CASE_N(F, 4, MAXN, nc, ARGS); break;                          \
        }                                                                                  \
    } while (0)

#endif
