/* kernels/x86/x86_packed.h - private to kernels/x86/: the tiles over packed
 * weights (kernels/pack.c: 8 rows interleaved 4 bytes at a time), included
 * by avx2.c and avx512.c.
 *
 * A 32-byte load holds 4 consecutive weights of each of the 8 rows, so
 * 32-bit lane r belongs to row r for the whole block and the 8 rows' scales
 * apply lane-wise, with no horizontal sums. What differs between the two
 * variants is how 4-weight groups are multiplied and summed, which the
 * including file defines before the #include:
 *
 *   QP_PK_DOT16(a, u, s)  a + the u8 x s8 products of u and s, summed in
 *                         s16 pairs for AVX2 (vpmaddubsw + vpaddw) or s32
 *                         lanes for VNNI (vpdpbusd). With AVX2 an a may
 *                         take only as many calls as the weights' range
 *                         allows before it wraps: 8 of 4-bit u (8 * 2 * 15
 *                         * 128 = 30720), 4 of 5-bit, 2 of 6-bit; each
 *                         tile says where it stops, and test_kernels'
 *                         test_packed_extremes sits on those bounds.
 *   QP_PK_WIDEN(a)        such an a as 8 s32 lanes, one per row (vpmaddwd
 *                         with 1s / nothing)
 *   QP_PK_DOT32(a, u, s)  a (s32 lanes) + the products of any u8 u, s8 s
 *                         (vpmaddubsw + vpmaddwd + vpaddd / vpdpbusd)
 *   QP_PK_SCALE_S32       0: a K-quant sub-block scale multiplies DOT16's
 *                         s16 pairs (vpmaddwd); 1: its s32 lanes (vpmulld)
 *
 * Every tile twins scalar.c's vec_dot of its type, row by row.
 */
#ifndef QP_KERNELS_X86_PACKED_H
#define QP_KERNELS_X86_PACKED_H

#if !defined(QP_PK_DOT16) || !defined(QP_PK_WIDEN) || !defined(QP_PK_DOT32) || !defined(QP_PK_SCALE_S32)
#error "define QP_PK_DOT16, QP_PK_WIDEN, QP_PK_DOT32 and QP_PK_SCALE_S32 before including x86_packed.h"
#endif

/* The packed tiles: one group of 8 rows x nc <= QP_PTILE_N activation rows,
 * RC specialised for each nc. 4 rows: for Q4_K 3 and 4 measured the same
 * (1024 x 4096, n = 512, one thread: 52.2 and 52.1 GFLOP/s) and 2 slower
 * (49.2); for Q8_0 4 was best (31.4 / 30.9 / 29.3 GFLOP/s for 4 / 3 / 2). */
#define QP_PTILE_N 4
#define QP_PTILE(NAME, RC)                                                                             \
    static void NAME(int64_t k, const void *g, const void *xq, size_t xs, float *y, size_t ldy, int nc) \
    {                                                                                                  \
        switch (nc) {                                                                                  \
        case 1: RC(1, k, g, xq, xs, y, ldy); break;                                                    \
        case 2: RC(2, k, g, xq, xs, y, ldy); break;                                                    \
        case 3: RC(3, k, g, xq, xs, y, ldy); break;                                                    \
        default: RC(QP_PTILE_N, k, g, xq, xs, y, ldy); break;                                          \
        }                                                                                              \
    }

/* Q4_K x8 (packed, pack.c): one group of 8 interleaved rows x RN
 * activation rows, matvec included (RN = 1). The 8 loads of a sub-block
 * are summed by DOT16 in lanes that belong to one row each, and ONE
 * multiply (vpmaddwd / vpmulld) applies the 8 rows' scales, which a vpshufb
 * picks out of the scale bytes unpacked for the 8 rows at once. Per row
 * and super-block that is (AVX2) 8 maddubs + 1 vpmaddwd, against vec_dot's
 * 8 maddubs + 6 vphaddw + 2, and no scalar scale unpacking. Every 64-byte
 * line is prefetched: without that a prototype was slower than vec_dot
 * from DRAM. */
QP_INLINE __m256i q4kx8_scale_pick(int s)
{
    const char a = (char)s, z = (char)-128;
#if QP_PK_SCALE_S32 /* s32 lane r: scale s of row r */
    return _mm256_setr_epi8(a, z, z, z, 4 + a, z, z, z, 8 + a, z, z, z, 12 + a, z, z, z,
                            a, z, z, z, 4 + a, z, z, z, 8 + a, z, z, z, 12 + a, z, z, z);
#else /* s16 lanes 2r, 2r + 1: scale s of row r, twice */
    return _mm256_setr_epi8(a, z, a, z, 4 + a, z, 4 + a, z, 8 + a, z, 8 + a, z, 12 + a, z, 12 + a, z,
                            a, z, a, z, 4 + a, z, 4 + a, z, 8 + a, z, 8 + a, z, 12 + a, z, 12 + a, z);
#endif
}

QP_INLINE __m256i bcast32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static_assert(offsetof(block_q4_Kx8, scales) == offsetof(block_q5_Kx8, scales) &&
                  offsetof(block_q4_Kx8, d) == offsetof(block_q5_Kx8, d) &&
                  offsetof(block_q4_Kx8, dmin) == offsetof(block_q5_Kx8, dmin),
              "Q4_K x8 and Q5_K x8 share d, dmin and scales");

/* q5: Q5_K x8, whose fifth bit of weight 32 s + l is bit s of qh[l]: a
 * shift moves bit s of each qh byte to bit 4 (none for s = 4), an AND keeps
 * it; and 5-bit products wrap s16 after 4 loads (4 * 2 * 31 * 127 = 31496),
 * so a sub-block's scale applies twice, to loads 0-3 and 4-7. */
QP_INLINE void qkx8_rc(int RN, int q5, int64_t k, const uint8_t *g, const char *xq, size_t xs, float *y,
                       size_t ldy)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m2 = _mm256_set1_epi8(3);
    const __m256i m16 = _mm256_set1_epi8(0x10);
    const __m256i zero = _mm256_setzero_si256();
    const size_t gb = q5 ? sizeof(block_q5_Kx8) : sizeof(block_q4_Kx8);
    const size_t off_qs = q5 ? offsetof(block_q5_Kx8, qs) : offsetof(block_q4_Kx8, qs);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *o = g + (size_t)b * gb;
        const uint8_t *o_scales = o + offsetof(block_q4_Kx8, scales), *o_qs = o + off_qs;
        const uint8_t *o_qh = o + offsetof(block_q5_Kx8, qh);
        prefetch_tile(RN, o, (q5 ? 6 : 2) * 64); /* d, dmin, scales (, qh); qs below */
        /* 32-bit lane r = row r: scales 0..3 and 4..7, mins 0..3 and 4..7
         * (qp_q4k_scale_min on the three words of 8 rows at once) */
        const __m256i u0 = _mm256_loadu_si256((const __m256i *)o_scales);
        const __m256i u1 = _mm256_loadu_si256((const __m256i *)(o_scales + 32));
        const __m256i u2 = _mm256_loadu_si256((const __m256i *)(o_scales + 64));
        const __m256i s03 = _mm256_and_si256(u0, m6), m03 = _mm256_and_si256(u1, m6);
        const __m256i s47 = _mm256_or_si256(_mm256_and_si256(u2, m4),
                                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4));
        const __m256i m47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4),
                                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4));
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) {
#pragma GCC unroll 2
            for (int nib = 0; nib < 2; nib++) { /* sub-block s = 2h + nib */
                const int s = 2 * h + nib;
                const __m256i sc = _mm256_shuffle_epi8(h < 2 ? s03 : s47, q4kx8_scale_pick(s % 4));
                __m256i a[4];
#pragma GCC unroll 4
                for (int c = 0; c < RN; c++)
                    a[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    const uint8_t *q = o_qs + 32 * (8 * h + j);
                    if (nib == 0 && j % 2 == 0)
                        prefetch_tile(RN, q, 64);
                    const __m256i qq = _mm256_loadu_si256((const __m256i *)q);
                    __m256i wv = nib ? _mm256_and_si256(_mm256_srli_epi16(qq, 4), m4) : _mm256_and_si256(qq, m4);
                    if (q5) {
                        const __m256i hv = _mm256_loadu_si256((const __m256i *)(o_qh + 32 * j));
                        const __m256i hb = s <= 4 ? _mm256_slli_epi16(hv, 4 - s) : _mm256_srli_epi16(hv, s - 4);
                        wv = _mm256_or_si256(wv, _mm256_and_si256(hb, m16));
                    }
#pragma GCC unroll 4
                    for (int c = 0; c < RN; c++) {
                        const int8_t *x8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs;
                        a[c] = QP_PK_DOT16(a[c], wv, bcast32(x8 + 64 * h + 32 * nib + 4 * j));
                    }
                    if (j == 7 || (q5 && j == 3)) {
#pragma GCC unroll 4
                        for (int c = 0; c < RN; c++) {
                            isum[c] = _mm256_add_epi32(isum[c], QP_PK_SCALE_S32 ? _mm256_mullo_epi32(a[c], sc)
                                                                                : _mm256_madd_epi16(a[c], sc));
                            a[c] = _mm256_setzero_si256();
                        }
                    }
                }
            }
        }
        /* min terms: sum_s min[r][s] * (sum of sub-block s's activations) */
        const __m256i m03l = _mm256_unpacklo_epi8(m03, zero), m03h = _mm256_unpackhi_epi8(m03, zero);
        const __m256i m47l = _mm256_unpacklo_epi8(m47, zero), m47h = _mm256_unpackhi_epi8(m47, zero);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + offsetof(block_q4_Kx8, d))));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + offsetof(block_q4_Kx8, dmin))));
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums),
                                              _mm_loadu_si128((const __m128i *)(xb->bsums + 8)));
            const __m256i b03 = _mm256_broadcastsi128_si256(_mm_shuffle_epi32(bs, 0x44));
            const __m256i b47 = _mm256_broadcastsi128_si256(_mm_shuffle_epi32(bs, 0xEE));
            const __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(m03l, b03), _mm256_madd_epi16(m47l, b47));
            const __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(m03h, b03), _mm256_madd_epi16(m47h, b47));
            /* lanes: rows 0-3 in the low 128 bits, 4-7 in the high */
            const __m256i msum = _mm256_hadd_epi32(lo, hi);
            const __m256 xd = _mm256_set1_ps(xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, xd), _mm256_cvtepi32_ps(isum[c]), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, xd), _mm256_cvtepi32_ps(msum), acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        _mm256_storeu_ps(y + (size_t)c * ldy, acc[c]);
}

QP_INLINE void q4kx8_rc(int RN, int64_t k, const void *g, const char *xq, size_t xs, float *y, size_t ldy)
{
    qkx8_rc(RN, 0, k, g, xq, xs, y, ldy);
}
QP_INLINE void q5kx8_rc(int RN, int64_t k, const void *g, const char *xq, size_t xs, float *y, size_t ldy)
{
    qkx8_rc(RN, 1, k, g, xq, xs, y, ldy);
}
QP_PTILE(ptile_q4_K, q4kx8_rc)
QP_PTILE(ptile_q5_K, q5kx8_rc)

/* Q6_K x8 (packed, pack.c): one group of 8 interleaved rows x RN
 * activation rows. Weight i = 128h + 32j + l of a row (h < 2, j < 4, l <
 * 32) is the low (j < 2) or high nibble of ql[64h + 32(j % 2) + l] with bits
 * 2j, 2j+1 of qh[32h + l] on top, minus 32, in sub-block i / 16. The 6-bit
 * weights go in unsigned (0..63), so DOT16 chains 2 loads (2 * 2 * 63 * 127
 * = 32004), then the sub-block's signed scale applies; the -32 comes back
 * per super-block as 32 * sum_s scale_s * bsum_s, bsums being the Q8_K
 * activation's sums of 16. The two high bits reach bits 4-5 without a
 * shift for j = 0, 1 (a vpshufb of the qh nibble through a table) and j = 2
 * (an AND): Zen 1 runs 256-bit shifts on one pipe at 2 cycles. */
QP_INLINE __m256i q6kx8_scale_pick(int t) /* byte t of each lane, at the top of its s16 pair / s32 lane */
{
    const char a = (char)t, z = (char)-128;
#if QP_PK_SCALE_S32
    return _mm256_setr_epi8(z, z, z, a, z, z, z, 4 + a, z, z, z, 8 + a, z, z, z, 12 + a,
                            z, z, z, a, z, z, z, 4 + a, z, z, z, 8 + a, z, z, z, 12 + a);
#else
    return _mm256_setr_epi8(z, a, z, a, z, 4 + a, z, 4 + a, z, 8 + a, z, 8 + a, z, 12 + a, z, 12 + a,
                            z, a, z, a, z, 4 + a, z, 4 + a, z, 8 + a, z, 8 + a, z, 12 + a, z, 12 + a);
#endif
}

/* the sign-extended scale of sub-block s, for DOT16's lanes */
QP_INLINE __m256i q6kx8_scale(const block_q6_Kx8 *o, int s)
{
    const __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)o->scales[s / 4]),
                                          q6kx8_scale_pick(s % 4));
    return QP_PK_SCALE_S32 ? _mm256_srai_epi32(v, 24) : _mm256_srai_epi16(v, 8);
}

QP_INLINE void q6kx8_rc(int RN, int64_t k, const block_q6_Kx8 *g, const char *xq, size_t xs, float *y,
                        size_t ldy)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    /* qh nibble -> its bits 0-1 (hb01) or 2-3 (hb23) at bits 4-5 */
    const __m256i hb01 = _mm256_setr_epi8(0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48,
                                          0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48);
    const __m256i hb23 = _mm256_setr_epi8(0, 0, 0, 0, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 48,
                                          0, 0, 0, 0, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 48);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / QK_K; b++) {
        const block_q6_Kx8 *o = g + b;
        prefetch_tile(RN, o, sizeof *o); /* 1680 bytes: 27 lines */
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
            for (int lp = 0; lp < 4; lp++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m256i w[2];
#pragma GCC unroll 2
                    for (int e = 0; e < 2; e++) { /* l = 4 lg .. 4 lg + 3 */
                        const int lg = 2 * lp + e;
                        const __m256i q = _mm256_loadu_si256((const __m256i *)o->ql[16 * h + 8 * (j % 2) + lg]);
                        const __m256i qh = _mm256_loadu_si256((const __m256i *)o->qh[8 * h + lg]);
                        const __m256i lo = j < 2 ? _mm256_and_si256(q, m4)
                                                 : _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                        const __m256i hi = j == 0 ? _mm256_shuffle_epi8(hb01, _mm256_and_si256(qh, m4))
                                         : j == 1 ? _mm256_shuffle_epi8(hb23, _mm256_and_si256(qh, m4))
                                         : j == 2 ? _mm256_and_si256(qh, m30)
                                                  : _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30);
                        w[e] = _mm256_or_si256(lo, hi);
                    }
                    const __m256i sc = q6kx8_scale(o, 8 * h + 2 * j + lp / 2);
#pragma GCC unroll 4
                    for (int c = 0; c < RN; c++) {
                        const int8_t *x8 = ((const block_q8_K *)(xq + (size_t)c * xs) + b)->qs + 128 * h + 32 * j + 8 * lp;
                        const __m256i a = QP_PK_DOT16(QP_PK_DOT16(_mm256_setzero_si256(), w[0], bcast32(x8)),
                                                      w[1], bcast32(x8 + 4));
                        isum[c] = _mm256_add_epi32(isum[c], QP_PK_SCALE_S32 ? _mm256_mullo_epi32(a, sc)
                                                                            : _mm256_madd_epi16(a, sc));
                    }
                }
        /* the -32: 32 * sum_s scale[r][s] * bsum[s], rows 0-3 in the low
         * 128 bits and 4-7 in the high, as isum's lanes */
        __m256i sl[4], sh[4];
#pragma GCC unroll 4
        for (int ch = 0; ch < 4; ch++) { /* scales 4ch..4ch+3 of each row, as s16 */
            const __m256i v = _mm256_loadu_si256((const __m256i *)o->scales[ch]);
            sl[ch] = _mm256_srai_epi16(_mm256_unpacklo_epi8(v, v), 8); /* rows 0, 1 | 4, 5 */
            sh[ch] = _mm256_srai_epi16(_mm256_unpackhi_epi8(v, v), 8); /* rows 2, 3 | 6, 7 */
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o->d));
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_K *xb = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            __m256i pl = _mm256_setzero_si256(), ph = pl;
#pragma GCC unroll 4
            for (int ch = 0; ch < 4; ch++) {
                int64_t bs4;
                memcpy(&bs4, xb->bsums + 4 * ch, 8);
                const __m256i bv = _mm256_set1_epi64x(bs4);
                pl = _mm256_add_epi32(pl, _mm256_madd_epi16(sl[ch], bv));
                ph = _mm256_add_epi32(ph, _mm256_madd_epi16(sh[ch], bv));
            }
            const __m256i off = _mm256_hadd_epi32(pl, ph);
            const __m256i tot = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(xb->d)), _mm256_cvtepi32_ps(tot), acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        _mm256_storeu_ps(y + (size_t)c * ldy, acc[c]);
}

QP_PTILE(ptile_q6_K, q6kx8_rc)

/* Q8_0 x8 (packed, pack.c): one group of 8 interleaved rows x RN
 * activation rows. As for Q4_K x8, a load holds 4 weights of each of 8
 * rows, so one int32 lane per row accumulates a whole block and the 8
 * rows' scales apply with one vcvtph2ps and one FMA per block, where
 * vec_dot converts, broadcasts and multiplies two scalar scales per row.
 * The products stay |w| * sign(x, w) (u8 x s8 instructions) and go to s32
 * at every load (DOT32): two maddubs pair sums can reach 2 * 127 * 127 * 2
 * > 32767, so s16 sums cannot be chained as Q4_K's are. */
QP_INLINE void q8_0x8_rc(int RN, int64_t k, const block_q8_0x8 *g, const char *xq, size_t xs, float *y,
                         size_t ldy)
{
    __m256 acc[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / QK8_0; b++) {
        const block_q8_0x8 *o = g + b;
        prefetch_tile(RN, o, sizeof *o); /* 272 bytes: 5 lines */
        __m256i isum[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)o->qs[j]);
            const __m256i aw = _mm256_abs_epi8(q);
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++) {
                const block_q8_0 *xb = (const block_q8_0 *)(xq + (size_t)c * xs) + b;
                const __m256i sx = _mm256_sign_epi8(bcast32(xb->qs + 4 * j), q);
                isum[c] = QP_PK_DOT32(isum[c], aw, sx);
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o->d));
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const block_q8_0 *xb = (const block_q8_0 *)(xq + (size_t)c * xs) + b;
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(fp16(xb->d))), _mm256_cvtepi32_ps(isum[c]), acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        _mm256_storeu_ps(y + (size_t)c * ldy, acc[c]);
}

QP_PTILE(ptile_q8_0, q8_0x8_rc)

/* Q4_0, Q4_1, Q5_0 and Q5_1 x8 (packed, pack.c): one group of 8
 * interleaved rows x RN activation rows. The weights go in unsigned (0..15,
 * 0..31), so a block's products chain in DOT16 as Q4_K's do (for 5 bits the
 * low and high nibbles in two chains of 4 maddubs: 4 * 2 * 31 * 127 =
 * 31496) and are widened once per block. What the unsigned weight leaves
 * out comes back per activation block, one value shared by the 8 rows:
 * Q4_0's -8 and Q5_0's -16 offsets as 8 or 16 * sum(x), Q4_1's and Q5_1's
 * min as m * s (s = d * sum of the Q8_1 activation block, stored by the
 * format).
 *
 * Q5's fifth bits: qh is the rows' 32-bit words as GGUF stores them (lane
 * r = row r), and load j needs bits 4j..4j+3 (low nibbles, weights 4j..)
 * and 16+4j.. (high nibbles) as 0x10 in bytes t = 0..3 of lane r. One
 * vpshufb copies the byte that holds them to the lane's 4 bytes, an AND
 * keeps bit t in byte t, and a second vpshufb maps {0, 1, 2, 4, 8} to
 * {0, 0x10}: 3 operations per nibble vector, the bits of odd j coming from
 * qh >> 4, computed once per block. */
enum { QX_M = 1, QX_QH = 2 }; /* has a min (Q4_1, Q5_1); has fifth bits (Q5_0, Q5_1) */

QP_INLINE __m256i qx8_byte_copy(int byte) /* each 32-bit lane: its byte `byte`, 4 times */
{
    const char a = (char)byte;
    return _mm256_setr_epi8(a, a, a, a, 4 + a, 4 + a, 4 + a, 4 + a, 8 + a, 8 + a, 8 + a, 8 + a, 12 + a, 12 + a,
                            12 + a, 12 + a, a, a, a, a, 4 + a, 4 + a, 4 + a, 4 + a, 8 + a, 8 + a, 8 + a, 8 + a,
                            12 + a, 12 + a, 12 + a, 12 + a);
}

QP_INLINE void qx8_rc(int RN, int kind, int64_t k, const uint8_t *g, const char *xq, size_t xs, float *y,
                      size_t ldy)
{
    /* the four layouts: d[8], (m[8],) (qh[8][4],) qs[4][32]; activations
     * Q8_0 for the offset types, Q8_1 for the min types */
    const int has_m = kind & QX_M, has_qh = kind & QX_QH;
    const size_t gb = kind == 0      ? sizeof(block_q4_0x8)
                      : kind == QX_M  ? sizeof(block_q4_1x8)
                      : kind == QX_QH ? sizeof(block_q5_0x8)
                                      : sizeof(block_q5_1x8);
    const size_t off_qs = kind == 0      ? offsetof(block_q4_0x8, qs)
                          : kind == QX_M  ? offsetof(block_q4_1x8, qs)
                          : kind == QX_QH ? offsetof(block_q5_0x8, qs)
                                          : offsetof(block_q5_1x8, qs);
    const size_t off_qh = has_m ? offsetof(block_q5_1x8, qh) : offsetof(block_q5_0x8, qh);
    const size_t off_m = offsetof(block_q4_1x8, m);
    static_assert(offsetof(block_q4_1x8, m) == offsetof(block_q5_1x8, m), "Q4_1 x8 and Q5_1 x8 mins");
    const size_t xb_size = has_m ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t x_qs = has_m ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);
    const __m256i bit_t = _mm256_set1_epi32(0x08040201);
    const __m256i to_16 = _mm256_setr_epi8(0, 16, 16, 0, 16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0,
                                           0, 16, 16, 0, 16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        const uint8_t *o = g + (size_t)b * gb;
        prefetch_tile(RN, o, gb); /* 144 to 192 bytes: 3 lines, as before Q5 joined */
        __m256i qh = _mm256_setzero_si256(), qh4 = qh;
        if (has_qh) {
            qh = _mm256_loadu_si256((const __m256i *)(o + off_qh));
            qh4 = _mm256_srli_epi32(qh, 4);
        }
        __m256i a[4], a2[4];
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            a[c] = a2[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(o + off_qs + 32 * j));
            __m256i wl = _mm256_and_si256(q, m4), wh = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (has_qh) {
                const __m256i src = j % 2 ? qh4 : qh;
                const __m256i bl = _mm256_and_si256(_mm256_shuffle_epi8(src, qx8_byte_copy(j / 2)), bit_t);
                const __m256i bh = _mm256_and_si256(_mm256_shuffle_epi8(src, qx8_byte_copy(2 + j / 2)), bit_t);
                wl = _mm256_or_si256(wl, _mm256_shuffle_epi8(to_16, bl));
                wh = _mm256_or_si256(wh, _mm256_shuffle_epi8(to_16, bh));
            }
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++) {
                const int8_t *x8 = (const int8_t *)(xq + (size_t)c * xs + (size_t)b * xb_size + x_qs) + 4 * j;
                a[c] = QP_PK_DOT16(a[c], wl, bcast32(x8));
                if (has_qh)
                    a2[c] = QP_PK_DOT16(a2[c], wh, bcast32(x8 + 16));
                else
                    a[c] = QP_PK_DOT16(a[c], wh, bcast32(x8 + 16));
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)o));
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const uint8_t *xb = (const uint8_t *)xq + (size_t)c * xs + (size_t)b * xb_size;
            qp_half xd;
            memcpy(&xd, xb, 2);
            __m256i isum = QP_PK_WIDEN(a[c]);
            if (has_qh)
                isum = _mm256_add_epi32(isum, QP_PK_WIDEN(a2[c]));
            if (has_m) {
                qp_half s;
                memcpy(&s, xb + offsetof(block_q8_1, s), 2);
                const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + off_m)));
                acc[c] = _mm256_fmadd_ps(m, _mm256_set1_ps(fp16(s)), acc[c]);
            } else {
                /* sum(x) of the block, in every lane */
                __m256i sx = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(ones8, _mm256_loadu_si256((const __m256i *)(xb + x_qs))), ones16);
                sx = _mm256_add_epi32(sx, _mm256_permute2x128_si256(sx, sx, 1));
                sx = _mm256_add_epi32(sx, _mm256_shuffle_epi32(sx, 0x4E));
                sx = _mm256_add_epi32(sx, _mm256_shuffle_epi32(sx, 0xB1));
                isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(sx, has_qh ? 4 : 3));
            }
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(fp16(xd))), _mm256_cvtepi32_ps(isum), acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        _mm256_storeu_ps(y + (size_t)c * ldy, acc[c]);
}

#define QX8_RC(NAME, KIND)                                                                              \
    QP_INLINE void NAME(int RN, int64_t k, const void *g, const char *xq, size_t xs, float *y, size_t ldy) \
    {                                                                                                   \
        qx8_rc(RN, KIND, k, g, xq, xs, y, ldy);                                                         \
    }
QX8_RC(q4_0x8_rc, 0)
QX8_RC(q4_1x8_rc, QX_M)
QX8_RC(q5_0x8_rc, QX_QH)
QX8_RC(q5_1x8_rc, QX_M | QX_QH)
QP_PTILE(ptile_q4_0, q4_0x8_rc)
QP_PTILE(ptile_q4_1, q4_1x8_rc)
QP_PTILE(ptile_q5_0, q5_0x8_rc)
QP_PTILE(ptile_q5_1, q5_1x8_rc)

#endif
