/* kernels/arm/neon_kernels.h - the integer NEON dot kernels, written once
 * and instantiated twice: NOT an ordinary header.
 *
 * The including file defines, before including it:
 *   QP_NEON_DOT16(acc, a, b)  int32x4_t acc plus the 16 products a[i]*b[i]
 *                             of two int8x16_t, spread over the 4 lanes in
 *                             any way (every caller reduces whole vectors);
 *   QP_NEON_FN(name)          the name of the instance of kernel `name`;
 *   QP_NEON_API               its linkage: empty (exported, declared in
 *                             neon_impl.h) or `static`.
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

/* Q5_0 . Q8_0, twin of dot_q5_0 (scalar.c): q = nibble | fifth bit << 4,
 * x = d (q - 16), q - 16 in [-16, 15]. */
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q5_0)(int64_t k, const void *wv, const void *xv)
{
    const block_q5_0 *w = wv; /* [k / 32] */
    const block_q8_0 *x = xv; /* [k / 32] */
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s16 = vdupq_n_s8(16);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < k / QK5_0; b++) {
        uint8x16_t hl, hh;
        QP_NEON_FN(q5_high)(w[b].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl)), s16);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh)), s16);
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
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int64_t b = 0; b < k / QK5_1; b++) {
        uint8x16_t hl, hh;
        QP_NEON_FN(q5_high)(w[b].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
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
static inline int32_t QP_NEON_FN(kmins)(const int16_t *bsums, const uint8_t mn[8])
{
    const int16x8_t s = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    int32x4_t p = vmull_s16(vget_low_s16(s), vget_low_s16(m));
    p = vmlal_high_s16(p, s, m);
    return vaddvq_s32(p);
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
static inline void QP_NEON_FN(k45_chunk)(const uint8_t *qs, const int8_t *q8, int has_qh,
                                         uint8x16_t h0, uint8x16_t h1,
                                         int32x4_t *lo, int32x4_t *hi)
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
    int32x4_t l = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(la), vld1q_s8(q8));
    *lo = QP_NEON_DOT16(l, vreinterpretq_s8_u8(lb), vld1q_s8(q8 + 16));
    int32x4_t u = QP_NEON_DOT16(QP_NEON_ZERO32, vreinterpretq_s8_u8(ua), vld1q_s8(q8 + 32));
    *hi = QP_NEON_DOT16(u, vreinterpretq_s8_u8(ub), vld1q_s8(q8 + 48));
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
QP_NEON_API float QP_NEON_FN(qp_neon_dot_q6_K)(int64_t k, const void *wv, const void *xv)
{
    const block_q6_K *w = wv; /* [k / 256] */
    const block_q8_K *x = xv; /* [k / 256] */
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *ql = w[b].ql;
        const uint8_t *qh = w[b].qh;
        const int8_t *q8 = x[b].qs;
        int32x4_t isum = QP_NEON_ZERO32;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128) {
            const uint8x16_t l0a = vld1q_u8(ql), l0b = vld1q_u8(ql + 16);
            const uint8x16_t l1a = vld1q_u8(ql + 32), l1b = vld1q_u8(ql + 48);
            const uint8x16_t ha = vld1q_u8(qh), hb = vld1q_u8(qh + 16);
            /* the 8 vectors of 16 weights, in order j = 0..3, l < 16 / l >= 16;
             * each top-bit pair is moved to bits 4..5 (mask 0x30) */
            uint8x16_t q[8];
            q[0] = vorrq_u8(vandq_u8(l0a, m4), vandq_u8(vshlq_n_u8(ha, 4), m30));
            q[1] = vorrq_u8(vandq_u8(l0b, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
            q[2] = vorrq_u8(vandq_u8(l1a, m4), vandq_u8(vshlq_n_u8(ha, 2), m30));
            q[3] = vorrq_u8(vandq_u8(l1b, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
            q[4] = vorrq_u8(vshrq_n_u8(l0a, 4), vandq_u8(ha, m30));
            q[5] = vorrq_u8(vshrq_n_u8(l0b, 4), vandq_u8(hb, m30));
            q[6] = vorrq_u8(vshrq_n_u8(l1a, 4), vandq_u8(vshrq_n_u8(ha, 2), m30));
            q[7] = vorrq_u8(vshrq_n_u8(l1b, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
            int32x4_t p[8];
            for (int g = 0; g < 8; g++)
                p[g] = QP_NEON_DOT16(QP_NEON_ZERO32, vsubq_s8(vreinterpretq_s8_u8(q[g]), m32),
                                     vld1q_s8(q8 + 16 * g));
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
/* Tiles                                                                    */
/* ======================================================================== */

/* The matmul driver's tile slot for each kernel: the generic loop over the
 * (mr x nc) outputs bound to the kernel above (tile_m = tile_n = 1). */
#define QP_NEON_TILE(T)                                                                          \
    QP_NEON_API void QP_NEON_FN(qp_neon_tile_##T)(int64_t k, const void *w, size_t ws,           \
                                                  const void *xq, size_t xs, float *y,           \
                                                  size_t ldy, int mr, int nc)                    \
    {                                                                                            \
        qp_tile_generic(QP_NEON_FN(qp_neon_dot_##T), k, w, ws, xq, xs, y, ldy, mr, nc);          \
    }
QP_NEON_TILE(q8_0)
QP_NEON_TILE(q4_0)
QP_NEON_TILE(q5_0)
QP_NEON_TILE(q4_1)
QP_NEON_TILE(q5_1)
QP_NEON_TILE(q2_K)
QP_NEON_TILE(q3_K)
QP_NEON_TILE(q4_K)
QP_NEON_TILE(q5_K)
QP_NEON_TILE(q6_K)
#undef QP_NEON_TILE
