/* kernels/arm/neon_kernels.h - the integer NEON dot kernels, written once
 * and instantiated twice: NOT an ordinary header.
 *
 * The including file defines, before including it:
 *   QP_NEON_DOT16(acc, a, b)  int32x4_t acc plus the 16 products a[i]*b[i]
 *                             of two int8x16_t, spread over the 4 lanes in
 *                             any way (every caller reduces whole vectors);
 *   QP_NEON_FN(name)          the name of the instance of kernel `name`;
 *   QP_NEON_API               its linkage: empty (exported, declared in
 *                             neon_impl.h) or `static`;
 *   QP_NEON_K_TILE_N          tile_n of the K-quant tiles (2..4).
 * neon.c instantiates it with SDOT (ARMv8.2 dotprod), neon_base.c with
 * SMULL+SADALP (ARMv8.0); see neon_impl.h.
 *
 * Exactness: every block's integer sum is computed exactly in int32, as in
 * scalar.c (bounds at each kernel), and only the per-block scale products
 * are float; so a kernel differs from its scalar twin only by the float
 * summation order (scalar.c sums in double, these in float lanes).
 */

/* Shared constants. */
#define QP_NEON_ZERO32 vdupq_n_s32(0)

/* ======================================================================== */
/* Legacy 32-weight formats, activations Q8_0                               */
/* ======================================================================== */

/* Q8_0 . Q8_0, twin of dot_q8_0 (scalar.c). Per block the 32 products,
 * |q| <= 127 on both sides, sum to at most 32 * 127^2 = 516128 in int32;
 * each lane holds at most a quarter of that, so its conversion to float is
 * exact (< 2^24). Two blocks per iteration on two accumulators to hide the
 * FMA latency. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q8_0)(int64_t k, const void *wv, const void *xv)
{
    const block_q8_0 *w = wv; /* [k / 32] */
    const block_q8_0 *x = xv; /* [k / 32] */
    const int64_t nb = k / QK8_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        qp_neon_prefetch(&w[b], 2 * sizeof *w); /* 68 bytes: 2 lines */
        int32x4_t p0 = QP_NEON_DOT16(QP_NEON_ZERO32, vld1q_s8(w[b].qs), vld1q_s8(x[b].qs));
        p0 = QP_NEON_DOT16(p0, vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs + 16));
        int32x4_t p1 = QP_NEON_DOT16(QP_NEON_ZERO32, vld1q_s8(w[b + 1].qs), vld1q_s8(x[b + 1].qs));
        p1 = QP_NEON_DOT16(p1, vld1q_s8(w[b + 1].qs + 16), vld1q_s8(x[b + 1].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), qp_neon_h2f(w[b + 1].d) * qp_neon_h2f(x[b + 1].d));
    }
    if (b < nb) {
        int32x4_t p0 = QP_NEON_DOT16(QP_NEON_ZERO32, vld1q_s8(w[b].qs), vld1q_s8(x[b].qs));
        p0 = QP_NEON_DOT16(p0, vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* The 32 weights of a Q4_0 block as int8 q - 8 in [-8, 7]: byte j holds
 * weight j in its low nibble and weight j + 16 in its high nibble, so the
 * low nibbles pair with activations 0..15 and the high with 16..31. */
static inline void QP_NEON_FN(q4_0_unpack)(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t q = vld1q_u8(qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
}

/* Q4_0 . Q8_0, twin of dot_q4_0 (scalar.c). Block sum <= 32 * 8 * 127. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q4_0)(int64_t k, const void *wv, const void *xv)
{
    const block_q4_0 *w = wv; /* [k / 32] */
    const block_q8_0 *x = xv; /* [k / 32] */
    const int64_t nb = k / QK4_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        qp_neon_prefetch(&w[b], 2 * sizeof *w); /* 36 bytes: 1 line */
        int8x16_t l0, h0, l1, h1;
        QP_NEON_FN(q4_0_unpack)(w[b].qs, &l0, &h0);
        QP_NEON_FN(q4_0_unpack)(w[b + 1].qs, &l1, &h1);
        int32x4_t p0 = QP_NEON_DOT16(QP_NEON_ZERO32, l0, vld1q_s8(x[b].qs));
        p0 = QP_NEON_DOT16(p0, h0, vld1q_s8(x[b].qs + 16));
        int32x4_t p1 = QP_NEON_DOT16(QP_NEON_ZERO32, l1, vld1q_s8(x[b + 1].qs));
        p1 = QP_NEON_DOT16(p1, h1, vld1q_s8(x[b + 1].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), qp_neon_h2f(w[b + 1].d) * qp_neon_h2f(x[b + 1].d));
    }
    if (b < nb) {
        int8x16_t l0, h0;
        QP_NEON_FN(q4_0_unpack)(w[b].qs, &l0, &h0);
        int32x4_t p0 = QP_NEON_DOT16(QP_NEON_ZERO32, l0, vld1q_s8(x[b].qs));
        p0 = QP_NEON_DOT16(p0, h0, vld1q_s8(x[b].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* The fifth bits of a Q5_0/Q5_1 block as 16 in the bytes where they are
 * set: bit j of the little-endian 32-bit qh is weight j's. TBL spreads byte
 * j / 8 of qh to lane j (lanes 0..15: bytes 0,1; lanes 16..31: bytes 2,3),
 * then CMTST with 1 << (j % 8) picks the bit. */
static inline void QP_NEON_FN(q5_high)(const uint8_t qh[4], uint8x16_t *h_lo, uint8x16_t *h_hi)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const uint8x16_t src = vreinterpretq_u8_u32(vdupq_n_u32(bits));
    static const uint8_t idx_lo[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint8_t idx_hi[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
    static const uint8_t bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
    const uint8x16_t m = vld1q_u8(bit), sixteen = vdupq_n_u8(16);
    *h_lo = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx_lo)), m), sixteen);
    *h_hi = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx_hi)), m), sixteen);
}

/* The 32 weights of a Q5_0/Q5_1 block as q = nibble | fifth bit << 4 in
 * [0, 31] (int8, weights 0..15 in lo, 16..31 in hi). */
static inline void QP_NEON_FN(q5_unpack)(const uint8_t qs[16], const uint8_t qh[4], int8x16_t *lo,
                                         int8x16_t *hi)
{
    uint8x16_t hl, hh;
    QP_NEON_FN(q5_high)(qh, &hl, &hh);
    const uint8x16_t q = vld1q_u8(qs);
    *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), hl));
    *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
}

/* Q5_0 . Q8_0, twin of dot_q5_0 (scalar.c): q = nibble | fifth bit << 4,
 * x = d (q - 16), q - 16 in [-16, 15]. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q5_0)(int64_t k, const void *wv, const void *xv)
{
    const block_q5_0 *w = wv; /* [k / 32] */
    const block_q8_0 *x = xv; /* [k / 32] */
    const int8x16_t s16 = vdupq_n_s8(16);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / QK5_0; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 22 bytes */
        int8x16_t lo, hi;
        QP_NEON_FN(q5_unpack)(w[b].qs, w[b].qh, &lo, &hi);
        lo = vsubq_s8(lo, s16);
        hi = vsubq_s8(hi, s16);
        int32x4_t p = QP_NEON_DOT16(QP_NEON_ZERO32, lo, vld1q_s8(x[b].qs));
        p = QP_NEON_DOT16(p, hi, vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
    }
    return vaddvq_f32(acc);
}

/* Q4_1 . Q8_1, twin of dot_q4_1 (scalar.c): x = d q + m, so a block adds
 * dw dx (q . p) + m s with s = dx sum(p), stored in the activation block. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q4_1)(int64_t k, const void *wv, const void *xv)
{
    const block_q4_1 *w = wv; /* [k / 32] */
    const block_q8_1 *x = xv; /* [k / 32] */
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int64_t b = 0; b < k / QK4_1; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 20 bytes */
        const uint8x16_t q = vld1q_u8(w[b].qs);
        int32x4_t p = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(q, m4)), vld1q_s8(x[b].qs));
        p = QP_NEON_DOT16(p, vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
        mins += qp_neon_h2f(w[b].m) * qp_neon_h2f(x[b].s);
    }
    return vaddvq_f32(acc) + mins;
}

/* Q5_1 . Q8_1, twin of dot_q5_1 (scalar.c): Q4_1 with 5-bit q in [0, 31]. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q5_1)(int64_t k, const void *wv, const void *xv)
{
    const block_q5_1 *w = wv; /* [k / 32] */
    const block_q8_1 *x = xv; /* [k / 32] */
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int64_t b = 0; b < k / QK5_1; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 24 bytes */
        int8x16_t lo, hi;
        QP_NEON_FN(q5_unpack)(w[b].qs, w[b].qh, &lo, &hi);
        int32x4_t p = QP_NEON_DOT16(QP_NEON_ZERO32, lo, vld1q_s8(x[b].qs));
        p = QP_NEON_DOT16(p, hi, vld1q_s8(x[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), qp_neon_h2f(w[b].d) * qp_neon_h2f(x[b].d));
        mins += qp_neon_h2f(w[b].m) * qp_neon_h2f(x[b].s);
    }
    return vaddvq_f32(acc) + mins;
}

/* ======================================================================== */
/* K-quants, activations Q8_K                                               */
/* ======================================================================== */

/* Horizontal sums of four vectors at once: lane i of the result is the sum
 * of the lanes of v_i (two rounds of pairwise adds, ADDP). This is what
 * lets one multiply apply four sub-block scales. */
static inline int32x4_t QP_NEON_FN(hsum4)(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3)
{
    return vpaddq_s32(vpaddq_s32(v0, v1), vpaddq_s32(v2, v3));
}

/* The min term of Q4_K/Q5_K for one super-block: sum over the 8 sub-blocks
 * of m_s * (sum of its 32 activations), the sums taken from Q8_K's bsums
 * (16 sums of 16; ADDP pairs them into 8 sums of 32, each |.| <= 32 * 128,
 * int16-safe). m_s <= 63, so the total is < 2^21. */
static inline int32x4_t QP_NEON_FN(kmins4)(const int16_t *bsums, const uint8_t mn[8])
{
    const int16x8_t s = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    const int32x4_t p = vmull_s16(vget_low_s16(s), vget_low_s16(m));
    return vmlal_high_s16(p, s, m); /* the total is the sum of the lanes */
}
static inline int32_t QP_NEON_FN(kmins)(const int16_t *bsums, const uint8_t mn[8])
{
    return vaddvq_s32(QP_NEON_FN(kmins4)(bsums, mn));
}

/* The 8 scales and 8 mins of a Q4_K/Q5_K super-block (12 bytes, layout in
 * qp_q4k_scale_min) unpacked four at a time in 32-bit words: with the
 * bytes read as little-endian words w0, w1, w2,
 *   scales 0..3 = w0 & 0x3f3f3f3f            mins 0..3 = w1 & 0x3f3f3f3f
 *   scales 4..7 = (w2 & 0x0f0f0f0f) | ((w0 >> 6) & 0x03030303) << 4
 *   mins   4..7 = ((w2 >> 4) & 0x0f0f0f0f) | ((w1 >> 6) & 0x03030303) << 4
 * (byte i of each word is entry i or 4 + i). */
static inline void QP_NEON_FN(k45_scales)(const uint8_t *q, uint8_t sc[8], uint8_t mn[8])
{
    uint32_t w[3];
    memcpy(w, q, sizeof w);
    const uint32_t s03 = w[0] & 0x3f3f3f3fu, m03 = w[1] & 0x3f3f3f3fu;
    const uint32_t s47 = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m47 = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    memcpy(sc, &s03, 4);
    memcpy(sc + 4, &s47, 4);
    memcpy(mn, &m03, 4);
    memcpy(mn + 4, &m47, 4);
}

/* One 64-weight chunk c of a Q4_K/Q5_K super-block: its 32 bytes of qs hold
 * sub-block 2c in their low nibbles and 2c + 1 in their high nibbles,
 * against activations 64c .. 64c + 63. For Q5_K, h0/h1 are qh already
 * shifted right by 2c, so the fifth bits of sub-blocks 2c and 2c + 1 are
 * bits 0 and 1 (bit s of qh[l] is the fifth bit of weight 32s + l). */
static inline void QP_NEON_FN(k45_decode)(const uint8_t *qs, int has_qh, uint8x16_t h0, uint8x16_t h1,
                                          int8x16_t q[4])
{
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const uint8x16_t a = vld1q_u8(qs), b = vld1q_u8(qs + 16);
    uint8x16_t la = vandq_u8(a, m4), lb = vandq_u8(b, m4);
    uint8x16_t ua = vshrq_n_u8(a, 4), ub = vshrq_n_u8(b, 4);
    if (has_qh) {
        /* bit 0 -> 16 for the low nibbles, bit 1 -> 16 for the high */
        la = vorrq_u8(la, vshlq_n_u8(vandq_u8(h0, vdupq_n_u8(1)), 4));
        lb = vorrq_u8(lb, vshlq_n_u8(vandq_u8(h1, vdupq_n_u8(1)), 4));
        ua = vorrq_u8(ua, vshlq_n_u8(vandq_u8(h0, vdupq_n_u8(2)), 3));
        ub = vorrq_u8(ub, vshlq_n_u8(vandq_u8(h1, vdupq_n_u8(2)), 3));
    }
    q[0] = vreinterpretq_s8_u8(la); /* sub-block 2c, weights 0..15 */
    q[1] = vreinterpretq_s8_u8(lb); /* sub-block 2c, weights 16..31 */
    q[2] = vreinterpretq_s8_u8(ua); /* sub-block 2c + 1 */
    q[3] = vreinterpretq_s8_u8(ub);
}

/* The chunk's two sub-block sums against its 64 activations q8, in the
 * lanes of *lo (sub-block 2c) and *hi (2c + 1). */
static inline void QP_NEON_FN(k45_chunk)(const uint8_t *qs, const int8_t *q8, int has_qh,
                                         uint8x16_t h0, uint8x16_t h1,
                                         int32x4_t *lo, int32x4_t *hi)
{
    int8x16_t q[4];
    QP_NEON_FN(k45_decode)(qs, has_qh, h0, h1, q);
    *lo = QP_NEON_DOT16(QP_NEON_DOT16(QP_NEON_ZERO32, q[0], vld1q_s8(q8)), q[1], vld1q_s8(q8 + 16));
    *hi = QP_NEON_DOT16(QP_NEON_DOT16(QP_NEON_ZERO32, q[2], vld1q_s8(q8 + 32)), q[3], vld1q_s8(q8 + 48));
}

/* One Q4_K or Q5_K super-block's scaled integer sum, sum_s sc_s (q . x)_s
 * over its 8 sub-blocks of 32 (qh NULL for Q4_K). The four chunks are
 * written out so the eight partial sums stay in registers. Bounds: a
 * sub-block sum <= 32 * 31 * 128 = 126976, times sc <= 63, eight of them:
 * < 2^26. */
static inline int32_t QP_NEON_FN(k45_block)(const uint8_t *qs, const uint8_t *qh,
                                           const int8_t *q8, const uint8_t sc[8])
{
    uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
    if (qh) {
        h0 = vld1q_u8(qh);
        h1 = vld1q_u8(qh + 16);
    }
    const int has_qh = qh != NULL;
    int32x4_t s0, s1, s2, s3, s4, s5, s6, s7; /* sub-block partial sums */
    QP_NEON_FN(k45_chunk)(qs, q8, has_qh, h0, h1, &s0, &s1);
    QP_NEON_FN(k45_chunk)(qs + 32, q8 + 64, has_qh, vshrq_n_u8(h0, 2), vshrq_n_u8(h1, 2), &s2, &s3);
    QP_NEON_FN(k45_chunk)(qs + 64, q8 + 128, has_qh, vshrq_n_u8(h0, 4), vshrq_n_u8(h1, 4), &s4, &s5);
    QP_NEON_FN(k45_chunk)(qs + 96, q8 + 192, has_qh, vshrq_n_u8(h0, 6), vshrq_n_u8(h1, 6), &s6, &s7);
    /* the 8 scales widened to two int32x4 (sub-blocks 0..3, 4..7) */
    const uint16x8_t sc16 = vmovl_u8(vld1_u8(sc));
    const int32x4_t sc_lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(sc16)));
    const int32x4_t sc_hi = vreinterpretq_s32_u32(vmovl_high_u16(sc16));
    int32x4_t s = vmulq_s32(QP_NEON_FN(hsum4)(s0, s1, s2, s3), sc_lo);
    s = vmlaq_s32(s, QP_NEON_FN(hsum4)(s4, s5, s6, s7), sc_hi);
    return vaddvq_s32(s);
}

/* Q4_K . Q8_K, twin of dot_q4_K (scalar.c): per super-block
 * x_d * (d * sum_s sc_s (q . x)_s - dmin * sum_s m_s bsum_s). */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q4_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q4_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 144 bytes: 3 lines */
        uint8_t sc[8], mn[8]; /* the 6-bit scales and mins, unpacked */
        QP_NEON_FN(k45_scales)(w[b].scales, sc, mn);
        const int32_t isum = QP_NEON_FN(k45_block)(w[b].qs, NULL, x[b].qs, sc);
        const int32_t mins = QP_NEON_FN(kmins)(x[b].bsums, mn);
        sum += x[b].d * (qp_neon_h2f(w[b].d) * (float)isum - qp_neon_h2f(w[b].dmin) * (float)mins);
    }
    return sum;
}

/* Q5_K . Q8_K, twin of dot_q5_K (scalar.c): Q4_K plus the fifth bits. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q5_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q5_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 176 bytes: 3 lines */
        uint8_t sc[8], mn[8];
        QP_NEON_FN(k45_scales)(w[b].scales, sc, mn);
        const int32_t isum = QP_NEON_FN(k45_block)(w[b].qs, w[b].qh, x[b].qs, sc);
        const int32_t mins = QP_NEON_FN(kmins)(x[b].bsums, mn);
        sum += x[b].d * (qp_neon_h2f(w[b].d) * (float)isum - qp_neon_h2f(w[b].dmin) * (float)mins);
    }
    return sum;
}

/* Q2_K . Q8_K, twin of dot_q2_K (scalar.c). Half h (128 weights) of a
 * super-block is 32 bytes of qs: weight 128h + 32j + l is bits 2j..2j+1 of
 * qs[32h + l], in sub-block (of 16) 8h + 2j + l / 16, whose byte
 * scales[8h + 2j + l / 16] holds the 4-bit scale (low) and min (high).
 * x = d sc q - dmin m; the min term uses Q8_K's bsums (16 sums of 16).
 * Bounds: a sub-block sum <= 16 * 3 * 128, times sc <= 15, sixteen of
 * them: < 2^21. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q2_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q2_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 84 bytes: 2 lines */
        const uint8x16_t sc_all = vld1q_u8(w[b].scales);
        /* min term: sum_g (scales[g] >> 4) * bsums[g] */
        const int16x8_t mn_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(vshrq_n_u8(sc_all, 4))));
        const int16x8_t mn_hi = vreinterpretq_s16_u16(vmovl_high_u8(vshrq_n_u8(sc_all, 4)));
        const int16x8_t bs_lo = vld1q_s16(x[b].bsums), bs_hi = vld1q_s16(x[b].bsums + 8);
        int32x4_t mp = vmull_s16(vget_low_s16(mn_lo), vget_low_s16(bs_lo));
        mp = vmlal_high_s16(mp, mn_lo, bs_lo);
        mp = vmlal_s16(mp, vget_low_s16(mn_hi), vget_low_s16(bs_hi));
        mp = vmlal_high_s16(mp, mn_hi, bs_hi);
        /* the 16 4-bit scales as int32, four per vector */
        const uint16x8_t s16_lo = vmovl_u8(vget_low_u8(vandq_u8(sc_all, m4)));
        const uint16x8_t s16_hi = vmovl_high_u8(vandq_u8(sc_all, m4));
        const int32x4_t sc[4] = {
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(s16_lo))),
            vreinterpretq_s32_u32(vmovl_high_u16(s16_lo)),
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(s16_hi))),
            vreinterpretq_s32_u32(vmovl_high_u16(s16_hi)),
        };
        const int8_t *q8 = x[b].qs;
        int32x4_t isum = QP_NEON_ZERO32;
        for (int h = 0; h < 2; h++, q8 += 128) {
            const uint8x16_t qa = vld1q_u8(w[b].qs + 32 * h), qb = vld1q_u8(w[b].qs + 32 * h + 16);
            int32x4_t p[8]; /* sub-blocks 8h + 0..7 */
            p[0] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(qa, m3)), vld1q_s8(q8));
            p[1] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(qb, m3)), vld1q_s8(q8 + 16));
            p[2] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(qa, 2), m3)),
                                 vld1q_s8(q8 + 32));
            p[3] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(qb, 2), m3)),
                                 vld1q_s8(q8 + 48));
            p[4] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(qa, 4), m3)),
                                 vld1q_s8(q8 + 64));
            p[5] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(qb, 4), m3)),
                                 vld1q_s8(q8 + 80));
            p[6] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vshrq_n_u8(qa, 6)), vld1q_s8(q8 + 96));
            p[7] = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(vshrq_n_u8(qb, 6)), vld1q_s8(q8 + 112));
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3]), sc[2 * h]);
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[4], p[5], p[6], p[7]), sc[2 * h + 1]);
        }
        sum += x[b].d * (qp_neon_h2f(w[b].d) * (float)vaddvq_s32(isum) -
                         qp_neon_h2f(w[b].dmin) * (float)vaddvq_s32(mp));
    }
    return sum;
}

/* The 16 signed 6-bit scales of a Q3_K super-block (layout in
 * qp_q3k_scales), four at a time in 32-bit words: with the 12 bytes read as
 * little-endian words a0, a1, w2, scales 4g .. 4g+3 are
 *   low 4 bits:  a0 & 0x0f0f0f0f (g = 0), a1 & .. (1), (a0 >> 4) & .. (2),
 *                (a1 >> 4) & .. (3)
 *   top 2 bits:  (w2 >> 2g) & 0x03030303, moved to bits 4..5
 * and the stored value is scale + 32. */
static inline int8x16_t QP_NEON_FN(k3_scales)(const uint8_t *q)
{
    uint32_t a[3], v[4];
    memcpy(a, q, sizeof a);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    v[0] = (a[0] & m4) | ((a[2] & m2) << 4);
    v[1] = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
    v[2] = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
    v[3] = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
    return vsubq_s8(vreinterpretq_s8_u32(vld1q_u32(v)), vdupq_n_s8(32));
}

/* Q3_K . Q8_K, twin of dot_q3_K (scalar.c): weight 128h + 32j + l has low
 * bits (qs[32h + l] >> 2j) & 3 and high bit (hmask[l] >> (4h + j)) & 1;
 * q = low - 4 where the high bit is CLEAR, in [-4, 3]; sub-block (of 16)
 * 8h + 2j + l / 16 has the signed 6-bit scale of qp_q3k_scales. Bounds:
 * a sub-block sum <= 16 * 4 * 128, times |sc| <= 32, sixteen: < 2^23. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q3_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q3_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 110 bytes: 2 lines */
        const int8x16_t sc8 = QP_NEON_FN(k3_scales)(w[b].scales);
        const int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc8)), sc_hi = vmovl_high_s8(sc8);
        const int32x4_t sc[4] = { vmovl_s16(vget_low_s16(sc_lo)), vmovl_high_s16(sc_lo),
                                  vmovl_s16(vget_low_s16(sc_hi)), vmovl_high_s16(sc_hi) };
        const uint8x16_t hma = vld1q_u8(w[b].hmask), hmb = vld1q_u8(w[b].hmask + 16);
        const int8_t *q8 = x[b].qs;
        int32x4_t isum = QP_NEON_ZERO32;
        for (int h = 0; h < 2; h++, q8 += 128) {
            uint8x16_t qa = vld1q_u8(w[b].qs + 32 * h), qb = vld1q_u8(w[b].qs + 32 * h + 16);
            int32x4_t p[8]; /* sub-blocks 8h + 0..7 */
            for (int j = 0; j < 4; j++) {
                /* hmask bit 4h + j: set keeps low, clear subtracts 4 */
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + j)));
                const uint8x16_t sa = vbicq_u8(four, vtstq_u8(hma, bit));
                const uint8x16_t sb = vbicq_u8(four, vtstq_u8(hmb, bit));
                const int8x16_t va = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qa, m3)), vreinterpretq_s8_u8(sa));
                const int8x16_t vb = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qb, m3)), vreinterpretq_s8_u8(sb));
                p[2 * j] = QP_NEON_DOT16(QP_NEON_ZERO32, va, vld1q_s8(q8 + 32 * j));
                p[2 * j + 1] = QP_NEON_DOT16(QP_NEON_ZERO32, vb, vld1q_s8(q8 + 32 * j + 16));
                qa = vshrq_n_u8(qa, 2);
                qb = vshrq_n_u8(qb, 2);
            }
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3]), sc[2 * h]);
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[4], p[5], p[6], p[7]), sc[2 * h + 1]);
        }
        sum += x[b].d * qp_neon_h2f(w[b].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

/* Q6_K . Q8_K, twin of dot_q6_K (scalar.c). Half h (128 weights) of a
 * super-block takes 64 bytes of ql and 32 of qh: weight 128h + 32j + l has
 * low nibble from ql[64h + 32(j % 2) + l] (low nibble for j < 2, high for
 * j >= 2) and top bits (qh[32h + l] >> 2j) & 3; q - 32 lies in [-32, 31]
 * and fits int8. The 16 sub-blocks of 16 each have an int8 scale. Bounds:
 * a sub-block sum <= 16 * 32 * 128 = 65536, times |sc| <= 128, sixteen of
 * them: < 2^28. */
/* The 128 weights of half a Q6_K super-block (64 bytes of ql at ql, 32 of
 * qh at qh) as 8 vectors of 16 int8 q - 32, in weight order: vector g holds
 * j = g / 2, l in [16 (g % 2), 16 (g % 2) + 16), i.e. sub-block g of the
 * half. */
static inline void QP_NEON_FN(q6_decode)(const uint8_t *ql, const uint8_t *qh, int8x16_t q[8])
{
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t m32 = vdupq_n_s8(32);
    const uint8x16_t l0a = vld1q_u8(ql), l0b = vld1q_u8(ql + 16);
    const uint8x16_t l1a = vld1q_u8(ql + 32), l1b = vld1q_u8(ql + 48);
    const uint8x16_t ha = vld1q_u8(qh), hb = vld1q_u8(qh + 16);
    /* each top-bit pair is moved to bits 4..5 (mask 0x30) */
    uint8x16_t u[8];
    u[0] = vorrq_u8(vandq_u8(l0a, m4), vandq_u8(vshlq_n_u8(ha, 4), m30));
    u[1] = vorrq_u8(vandq_u8(l0b, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
    u[2] = vorrq_u8(vandq_u8(l1a, m4), vandq_u8(vshlq_n_u8(ha, 2), m30));
    u[3] = vorrq_u8(vandq_u8(l1b, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
    u[4] = vorrq_u8(vshrq_n_u8(l0a, 4), vandq_u8(ha, m30));
    u[5] = vorrq_u8(vshrq_n_u8(l0b, 4), vandq_u8(hb, m30));
    u[6] = vorrq_u8(vshrq_n_u8(l1a, 4), vandq_u8(vshrq_n_u8(ha, 2), m30));
    u[7] = vorrq_u8(vshrq_n_u8(l1b, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++)
        q[g] = vsubq_s8(vreinterpretq_s8_u8(u[g]), m32);
}

QP_NEON_API float QP_NEON_FN(qp_neon_dot_q6_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q6_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        qp_neon_prefetch(&w[b], sizeof *w); /* 210 bytes: 4 lines */
        const uint8_t *ql = w[b].ql;
        const uint8_t *qh = w[b].qh;
        const int8_t *q8 = x[b].qs;
        int32x4_t isum = QP_NEON_ZERO32;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128) {
            int8x16_t q[8]; /* sub-blocks 8h + 0..7 */
            QP_NEON_FN(q6_decode)(ql, qh, q);
            int32x4_t p[8];
            for (int g = 0; g < 8; g++)
                p[g] = QP_NEON_DOT16(QP_NEON_ZERO32, q[g], vld1q_s8(q8 + 16 * g));
            /* sub-block 8h + g has scale scales[8h + g] */
            const int16x8_t sc = vmovl_s8(vld1_s8(w[b].scales + 8 * h));
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3]), vmovl_s16(vget_low_s16(sc)));
            isum = vmlaq_s32(isum, QP_NEON_FN(hsum4)(p[4], p[5], p[6], p[7]), vmovl_high_s16(sc));
        }
        sum += x[b].d * qp_neon_h2f(w[b].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

/* ======================================================================== */
/* Register tiles: the matmul driver's micro-kernels                        */
/* ======================================================================== */
/* A tile computes y[c * ldy + r] = dot(weight row r, activation row c) for
 * r < mr, c < nc (qp_tile_fn, kernels_impl.h), loading each weight block
 * once for the nc activation rows and each activation block once for the mr
 * weight rows. The shapes fit AArch64's 32 128-bit registers with room to
 * spare, for the SDOT path and for the SMULL+SADALP path, whose 16-product
 * step needs two more int16x8 temporaries.
 *
 * Legacy formats, 4 x 4 (tile_m = tile_n = 4). The four lanes do the
 * transposition: for activation row c, the int32x4 block sums against
 * weight rows 0..3 fold with three ADDPs (hsum4) into ONE vector whose lane
 * r belongs to output (r, c), and one FMLA by the scale vector (dw_0..dw_3)
 * * dx_c accumulates it. So 16 outputs need 4 float accumulators, not 16,
 * and no horizontal sum at the end; with the 4 decoded weight blocks (8
 * registers), one activation block (2) and the 4 block sums, ~22 registers
 * are live. Per block and output, at a full tile: 0.75 vector loads for
 * Q4_0/Q5_0/Q4_1/Q5_1 (4 weight + 8 activation loads for 16 outputs;
 * vec_dot: 3), 1 for Q8_0 (vec_dot: 4); the same 2 dot steps; the weight
 * decoding (4 ops for Q4_0, ~12 for Q5_0) a quarter of vec_dot's; and 0.75
 * ADDP + 0.25 SCVTF + 0.25 FMUL + 0.25 FMLA in place of vec_dot's SCVTF,
 * FMLA and scalar FMUL. In GCC 12's code (-O2 -S) the 4 x 4 Q5_0 block loop
 * is 165 instructions with SDOT (10.3 per output), 284 with SMULL (17.8;
 * 13 of them stack accesses: that path nearly fills the registers, but its
 * 4 x 2 costs 21.3 per output). Counted, not timed: no ARM hardware was at
 * hand.
 *
 * K-quants, 1 x 4 with SDOT, 1 x 2 with SMULL (tile_m = 1, tile_n =
 * QP_NEON_K_TILE_N; neon_impl.h gives the count behind the 2), as AVX2's
 * 1 x 3: one weight row's super-block is decoded chunk by chunk, once for
 * up to 4 activation rows, and its scales unpacked once. The outputs' partial sums are
 * folded per chunk (ADDP + MLA by the chunk's scale vector), so each
 * activation row holds one int32x4: ~23 registers live for Q5_K. A second
 * weight row (2 x 2, 2 x 4) would need its own decoded chunk, scale vectors
 * and sums, ~31 registers for Q5_K: it would spill, for fewer activation
 * loads only (the dot count per output is the same). Per super-block and
 * output at nc = 4: Q4_K 2 weight + 16 activation vector loads (vec_dot
 * 8 + 16) and a quarter of the decoding; Q6_K 3 + 16 (vec_dot 12 + 16) and
 * a quarter of its ~80 decoding ops. nc = 1 goes to vec_dot. (GCC 12
 * spills ~6 vectors per half super-block in the SDOT Q6_K 1 x 4 loop: it
 * interleaves the four columns' dot chains.)
 *
 * Executed instructions per output and 256 weights, vec_dot -> full tile
 * (qemu-aarch64 -singlestep -d exec,nochain over k = 4096, zero data; the
 * integer paths do not branch on data):
 *            SDOT (-cpu max)          SMULL (-cpu cortex-a53)
 *   Q8_0     146 -> 57  (4 x 4)       195 -> 110 (4 x 4)
 *   Q4_0     167 -> 64  (4 x 4)       215 -> 118 (4 x 4)
 *   Q4_K     144 -> 78  (1 x 4)       188 -> 154 (1 x 2)
 *   Q5_K     200 -> 94  (1 x 4)       245 -> 189 (1 x 2)
 *   Q6_K     293 -> 102 (1 x 4)       342 -> 197 (1 x 2)
 * Instruction counts, not times: no ARM hardware was at hand. */

/* Weights of one legacy block as two int8x16 (weights 0..15 and 16..31) in
 * the form the dot takes: q (Q8_0), q - 8 (Q4_0), q - 16 (Q5_0), or the
 * unsigned q of Q4_1/Q5_1, whose offset is the separate m s term. */
QP_NEON_INLINE void QP_NEON_FN(legacy_decode)(int FMT, const char *blk, int8x16_t *lo, int8x16_t *hi)
{
    switch (FMT) {
    case QP_NEON_Q8_0:
        *lo = vld1q_s8(((const block_q8_0 *)blk)->qs);
        *hi = vld1q_s8(((const block_q8_0 *)blk)->qs + 16);
        break;
    case QP_NEON_Q4_0:
        QP_NEON_FN(q4_0_unpack)(((const block_q4_0 *)blk)->qs, lo, hi);
        break;
    case QP_NEON_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)blk;
        QP_NEON_FN(q5_unpack)(b->qs, b->qh, lo, hi);
        *lo = vsubq_s8(*lo, vdupq_n_s8(16));
        *hi = vsubq_s8(*hi, vdupq_n_s8(16));
        break;
    }
    case QP_NEON_Q4_1: {
        const uint8x16_t q = vld1q_u8(((const block_q4_1 *)blk)->qs);
        *lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F)));
        *hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        break;
    }
    default: { /* QP_NEON_Q5_1 */
        const block_q5_1 *b = (const block_q5_1 *)blk;
        QP_NEON_FN(q5_unpack)(b->qs, b->qh, lo, hi);
        break;
    }
    }
}

/* The legacy tile template, RM x RN <= 4 x 4, twin of the per-output loop
 * of dot_<fmt> (scalar.c) as the vec_dots above are: per block, output
 * (r, c) adds dw_r dx_c (q_r . x_c), plus mw_r sx_c for Q4_1/Q5_1 (in the
 * same accumulator: only the summation order differs from vec_dot, which
 * keeps the min terms apart). The block sums are exact int32 (bounds at the
 * vec_dots) and so is their hsum4. Lanes of absent rows (r >= RM) hold
 * zeros and are never stored. */
QP_NEON_INLINE void QP_NEON_FN(legacy_tile_rc)(int FMT, int RM, int RN, int64_t k, const char *w,
                                               size_t ws, const char *xq, size_t xs, float *y, size_t ldy)
{
    const int has_m = FMT == QP_NEON_Q4_1 || FMT == QP_NEON_Q5_1; /* activations Q8_1 */
    const size_t wbytes = qp_neon_legacy_bytes(FMT);
    const size_t xbytes = has_m ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t xoff = has_m ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    float32x4_t acc[4]; /* acc[c], lane r: output (r, c) */
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        acc[c] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / 32; b++) {
        int8x16_t wl[4], wh[4];           /* the RM decoded weight blocks */
        uint16x4_t dh = vdup_n_u16(0);    /* their fp16 d, lane r */
        uint16x4_t mh = vdup_n_u16(0);    /* their fp16 m (Q4_1/Q5_1), lane r */
#pragma GCC unroll 4
        for (int r = 0; r < RM; r++) {
            const char *blk = w + (size_t)r * ws + (size_t)b * wbytes;
            QP_NEON_FN(legacy_decode)(FMT, blk, &wl[r], &wh[r]);
            qp_half h;
            memcpy(&h, blk, 2); /* d is first in every legacy block */
            dh[r] = h;
            if (has_m) {
                memcpy(&h, blk + 2, 2); /* then m in Q4_1/Q5_1 */
                mh[r] = h;
            }
        }
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(dh)); /* FCVTL: exact */
        const float32x4_t mw = vcvt_f32_f16(vreinterpret_f16_u16(mh));
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            const char *xblk = xq + (size_t)c * xs + (size_t)b * xbytes;
            const int8x16_t xl = vld1q_s8((const int8_t *)(xblk + xoff));
            const int8x16_t xh = vld1q_s8((const int8_t *)(xblk + xoff + 16));
            int32x4_t p[4]; /* block sums against rows 0..3, in lanes */
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                p[r] = r < RM ? QP_NEON_DOT16(QP_NEON_DOT16(QP_NEON_ZERO32, wl[r], xl), wh[r], xh)
                              : QP_NEON_ZERO32;
            qp_half h;
            memcpy(&h, xblk, 2); /* d, first in Q8_0 and Q8_1 */
            const float32x4_t scale = vmulq_n_f32(dw, qp_neon_h2f(h));
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3])), scale);
            if (has_m) {
                memcpy(&h, xblk + 2, 2); /* Q8_1's s = dx sum(x) */
                acc[c] = vfmaq_n_f32(acc[c], mw, qp_neon_h2f(h));
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++) {
        if (RM == 4) {
            vst1q_f32(y + (size_t)c * ldy, acc[c]); /* rows r of column c are adjacent in Y */
        } else {
#pragma GCC unroll 4
            for (int r = 0; r < RM; r++)
                y[(size_t)c * ldy + (size_t)r] = acc[c][r];
        }
    }
}

#define QP_NEON_LEGACY_TILE(T, FMT)                                                              \
    QP_NEON_API void QP_NEON_FN(qp_neon_tile_##T)(int64_t k, const void *w, size_t ws,           \
                                                  const void *xq, size_t xs, float *y,           \
                                                  size_t ldy, int mr, int nc)                    \
    {                                                                                            \
        QP_NEON_TILE_SWITCH_4X4(QP_NEON_FN(legacy_tile_rc), (FMT), mr, nc,                       \
                                (k, (const char *)w, ws, (const char *)xq, xs, y, ldy));         \
    }
QP_NEON_LEGACY_TILE(q8_0, QP_NEON_Q8_0)
QP_NEON_LEGACY_TILE(q4_0, QP_NEON_Q4_0)
QP_NEON_LEGACY_TILE(q5_0, QP_NEON_Q5_0)
QP_NEON_LEGACY_TILE(q4_1, QP_NEON_Q4_1)
QP_NEON_LEGACY_TILE(q5_1, QP_NEON_Q5_1)
#undef QP_NEON_LEGACY_TILE

/* The Q4_K/Q5_K tile template, 1 x RN (RN <= 4), twin of dot_q4_K /
 * dot_q5_K (scalar.c) per output: the same super-block arithmetic as
 * qp_neon_dot_q4_K, with the RN outputs in the lanes of one float vector.
 * Chunk j's two sub-block sums (lanes of lo and hi) fold with one ADDP into
 * [lo0+lo1, lo2+lo3, hi0+hi1, hi2+hi3] and are scaled by (sc_2j, sc_2j,
 * sc_2j+1, sc_2j+1), so no partial sum outlives its chunk; the total per
 * output is the exact int32 sum of k45_block (< 2^26, same bound). */
QP_NEON_INLINE void QP_NEON_FN(k45_tile_rc)(int HAS_QH, int RN, int64_t k, const char *w, const char *xq,
                                            size_t xs, float *y, size_t ldy)
{
    /* both blocks start with d, dmin and the 12 bytes of scales */
    const size_t wbytes = HAS_QH ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t off_qs = HAS_QH ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
    float32x4_t acc = vdupq_n_f32(0.0f); /* lane c: output (0, c) */
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * wbytes;
        qp_half dh, dminh;
        memcpy(&dh, blk + offsetof(block_q4_K, d), 2);
        memcpy(&dminh, blk + offsetof(block_q4_K, dmin), 2);
        uint8_t sc[8], mn[8];
        QP_NEON_FN(k45_scales)(blk + offsetof(block_q4_K, scales), sc, mn);
        /* scv[j] = (sc_2j, sc_2j, sc_2j+1, sc_2j+1): ZIP the 8 scales with
         * themselves and widen */
        const uint8x8_t s8 = vld1_u8(sc);
        const uint16x8_t z0 = vmovl_u8(vzip1_u8(s8, s8)), z1 = vmovl_u8(vzip2_u8(s8, s8));
        const int32x4_t scv[4] = {
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(z0))),
            vreinterpretq_s32_u32(vmovl_high_u16(z0)),
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(z1))),
            vreinterpretq_s32_u32(vmovl_high_u16(z1)),
        };
        uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
        if (HAS_QH) {
            h0 = vld1q_u8(blk + offsetof(block_q5_K, qh));
            h1 = vld1q_u8(blk + offsetof(block_q5_K, qh) + 16);
        }
        const block_q8_K *xb[4];
        int32x4_t isum[4], mins[4];
        float32x4_t xd = vdupq_n_f32(0.0f); /* lane c: activation row c's d */
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            isum[c] = QP_NEON_ZERO32;
            mins[c] = QP_NEON_ZERO32;
        }
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++)
            xb[c] = (const block_q8_K *)(xq + (size_t)c * xs) + b;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            int8x16_t q[4];
            QP_NEON_FN(k45_decode)(blk + off_qs + 32 * j, HAS_QH, h0, h1, q);
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++) {
                const int8_t *q8 = xb[c]->qs + 64 * j;
                const int32x4_t lo =
                    QP_NEON_DOT16(QP_NEON_DOT16(QP_NEON_ZERO32, q[0], vld1q_s8(q8)), q[1], vld1q_s8(q8 + 16));
                const int32x4_t hi =
                    QP_NEON_DOT16(QP_NEON_DOT16(QP_NEON_ZERO32, q[2], vld1q_s8(q8 + 32)), q[3], vld1q_s8(q8 + 48));
                isum[c] = vmlaq_s32(isum[c], vpaddq_s32(lo, hi), scv[j]);
            }
            if (HAS_QH) { /* the next chunk's fifth bits to bits 0 and 1 */
                h0 = vshrq_n_u8(h0, 2);
                h1 = vshrq_n_u8(h1, 2);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            mins[c] = QP_NEON_FN(kmins4)(xb[c]->bsums, mn);
            xd[c] = xb[c]->d;
        }
        /* lane c: x_d * (d * isum - dmin * mins), as the vec_dot */
        const float32x4_t fi = vcvtq_f32_s32(QP_NEON_FN(hsum4)(isum[0], isum[1], isum[2], isum[3]));
        const float32x4_t fm = vcvtq_f32_s32(QP_NEON_FN(hsum4)(mins[0], mins[1], mins[2], mins[3]));
        acc = vfmaq_f32(acc, xd, vsubq_f32(vmulq_n_f32(fi, qp_neon_h2f(dh)), vmulq_n_f32(fm, qp_neon_h2f(dminh))));
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = acc[c];
}

/* The Q6_K tile template, 1 x RN (RN <= 4), twin of dot_q6_K (scalar.c)
 * per output: each half super-block is decoded once (q6_decode, 8
 * registers) for the RN activation rows; per row, four sub-block sums fold
 * with hsum4 and are scaled at once, as in qp_neon_dot_q6_K. */
QP_NEON_INLINE void QP_NEON_FN(q6k_tile_rc)(int RN, int64_t k, const char *w, const char *xq, size_t xs,
                                            float *y, size_t ldy)
{
    const block_q6_K *wb = (const block_q6_K *)w; /* [k / 256] */
    float32x4_t acc = vdupq_n_f32(0.0f);          /* lane c: output (0, c) */
    for (int64_t b = 0; b < k / QK_K; b++) {
        const block_q8_K *xb[4];
        int32x4_t isum[4];
        float32x4_t xd = vdupq_n_f32(0.0f); /* lane c: activation row c's d */
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            isum[c] = QP_NEON_ZERO32;
#pragma GCC unroll 4
        for (int c = 0; c < RN; c++) {
            xb[c] = (const block_q8_K *)(xq + (size_t)c * xs) + b;
            xd[c] = xb[c]->d;
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int8x16_t q[8]; /* sub-blocks 8h + 0..7 */
            QP_NEON_FN(q6_decode)(wb[b].ql + 64 * h, wb[b].qh + 32 * h, q);
            const int16x8_t sc = vmovl_s8(vld1_s8(wb[b].scales + 8 * h));
            const int32x4_t sc_lo = vmovl_s16(vget_low_s16(sc)), sc_hi = vmovl_high_s16(sc);
#pragma GCC unroll 4
            for (int c = 0; c < RN; c++) {
                const int8_t *q8 = xb[c]->qs + 128 * h;
                int32x4_t p[4];
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++)
                    p[g] = QP_NEON_DOT16(QP_NEON_ZERO32, q[g], vld1q_s8(q8 + 16 * g));
                isum[c] = vmlaq_s32(isum[c], QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3]), sc_lo);
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++)
                    p[g] = QP_NEON_DOT16(QP_NEON_ZERO32, q[4 + g], vld1q_s8(q8 + 64 + 16 * g));
                isum[c] = vmlaq_s32(isum[c], QP_NEON_FN(hsum4)(p[0], p[1], p[2], p[3]), sc_hi);
            }
        }
        /* lane c: x_d * d * isum, as the vec_dot */
        const float32x4_t fi = vcvtq_f32_s32(QP_NEON_FN(hsum4)(isum[0], isum[1], isum[2], isum[3]));
        acc = vfmaq_f32(acc, vmulq_n_f32(xd, qp_neon_h2f(wb[b].d)), fi);
    }
#pragma GCC unroll 4
    for (int c = 0; c < RN; c++)
        y[(size_t)c * ldy] = acc[c];
}

/* One weight row at a time (tile_m = 1) and up to QP_NEON_K_TILE_N
 * activation rows (the including file's: neon_impl.h says why the SMULL
 * path takes 2); a single activation row goes to vec_dot, which is the same
 * arithmetic without the lanes to spare. Shapes above the limit are never
 * asked for, and the clamp lets the compiler drop them. */
#define QP_NEON_K_TILE(T, CALL)                                                                  \
    QP_NEON_API void QP_NEON_FN(qp_neon_tile_##T)(int64_t k, const void *w, size_t ws,           \
                                                  const void *xq, size_t xs, float *y,           \
                                                  size_t ldy, int mr, int nc)                    \
    {                                                                                            \
        for (int r = 0; r < mr; r++) {                                                           \
            const char *wr = (const char *)w + (size_t)r * ws;                                   \
            const char *x = xq;                                                                  \
            float *yr = y + r;                                                                   \
            switch (nc < QP_NEON_K_TILE_N ? nc : QP_NEON_K_TILE_N) {                             \
            case 1: *yr = QP_NEON_FN(qp_neon_dot_##T)(k, wr, x); break;                         \
            case 2: CALL(2); break;                                                              \
            case 3: CALL(QP_NEON_K_TILE_N >= 3 ? 3 : 2); break;                                  \
            default: CALL(QP_NEON_K_TILE_N >= 4 ? 4 : 2); break;                                 \
            }                                                                                    \
        }                                                                                        \
    }
#define QP_NEON_Q4K_CALL(RN) QP_NEON_FN(k45_tile_rc)(0, RN, k, wr, x, xs, yr, ldy)
#define QP_NEON_Q5K_CALL(RN) QP_NEON_FN(k45_tile_rc)(1, RN, k, wr, x, xs, yr, ldy)
#define QP_NEON_Q6K_CALL(RN) QP_NEON_FN(q6k_tile_rc)(RN, k, wr, x, xs, yr, ldy)
QP_NEON_K_TILE(q4_K, QP_NEON_Q4K_CALL)
QP_NEON_K_TILE(q5_K, QP_NEON_Q5K_CALL)
QP_NEON_K_TILE(q6_K, QP_NEON_Q6K_CALL)
#undef QP_NEON_Q4K_CALL
#undef QP_NEON_Q5K_CALL
#undef QP_NEON_Q6K_CALL
#undef QP_NEON_K_TILE

/* Q2_K and Q3_K (not among the types required fast) keep the generic tile:
 * vec_dot per output (tile_m = tile_n = 1). */
#define QP_NEON_GENERIC_TILE(T)                                                                  \
    QP_NEON_API void QP_NEON_FN(qp_neon_tile_##T)(int64_t k, const void *w, size_t ws,           \
                                                  const void *xq, size_t xs, float *y,           \
                                                  size_t ldy, int mr, int nc)                    \
    {                                                                                            \
        qp_tile_generic(QP_NEON_FN(qp_neon_dot_##T), k, w, ws, xq, xs, y, ldy, mr, nc);          \
    }
QP_NEON_GENERIC_TILE(q2_K)
QP_NEON_GENERIC_TILE(q3_K)
#undef QP_NEON_GENERIC_TILE
