/* quant/kquants.c - the K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights)
 * and Q8_K (activations), in 256-weight super-blocks.
 *
 * Dequantization reproduces ggml's dequantize_row_*_K bit for bit (same
 * float operations, same order; tested against golden vectors). The byte
 * layouts are ggml's (quant/blocks.h); the packing of each is spelled out
 * beside its quantizer below.
 *
 * Quantization is qprof's own search (banner "scale search"), not ggml's:
 * it minimises the squared error of what dequantization will actually
 * produce - with the fp16 super-block scales and the 4/6/8-bit sub-block
 * codes applied - rather than a proxy. Without an importance matrix every
 * weight counts the same (plain MSE); with one, each column counts by its
 * imatrix entry (see legacy.c's "importance-weighted variants" for why that
 * weighting is the right objective).
 */
#include <math.h>
#include <string.h>

#include "quant_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* see legacy.c: bit-exact dequantization */
#endif

#define KQ_MAX_SUB (QK_K / 16) /* at most 16 sub-blocks per super-block */

/* ======================================================================== */
/* scale search: shared building blocks                                     */
/* ======================================================================== */

/* Exact power of two 2^k as a float, k in [-126, 127] (no libm call). */
static inline float kq_pow2(int k)
{
    return qp_bits_to_f32((uint32_t)(k + 127) << 23);
}

int qp_normalize_block(const float *x, const float *w, int n, float *xn, float *wn, float *amax)
{
    float xmax = 0.0f;
    for (int i = 0; i < n; i++)
        xmax = fmaxf(xmax, fabsf(x[i])); /* fmaxf skips NaN */
    int k = 0;
    if (xmax > 0.0f && isfinite(xmax)) {
        int e;
        frexpf(xmax, &e); /* xmax = f * 2^e, f in [0.5, 1) */
        /* 2^k must be a normal float; a subnormal block then ends up with
         * max >= 2^-23 and a near-FLT_MAX one with max < 4: both harmless */
        k = -e < -126 ? -126 : -e > 126 ? 126 : -e;
    }
    const float s = kq_pow2(k);
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        xn[i] = x[i] * s;
        m = fmaxf(m, fabsf(xn[i]));
    }
    *amax = m;

    /* weights: negative entries count as 0; all-zero (or absent) weights
     * mean "no preference", i.e. plain MSE */
    float wmax = 0.0f;
    if (w)
        for (int i = 0; i < n; i++)
            wmax = fmaxf(wmax, w[i]);
    if (!(wmax > 0.0f) || !isfinite(wmax)) {
        for (int i = 0; i < n; i++)
            wn[i] = 1.0f;
    } else {
        int e;
        frexpf(wmax, &e);
        const float ws = kq_pow2(-e < -126 ? -126 : -e > 126 ? 126 : -e);
        for (int i = 0; i < n; i++)
            wn[i] = w[i] > 0.0f ? w[i] * ws : 0.0f;
    }
    return k;
}

/* A sub-block whose weights are all zero has no preferred fit: substitute
 * uniform weights so the fit stays well posed (its error counts 0 anyway). */
static const float *kq_weights_or_uniform(const float *w, int n, float *ones)
{
    for (int i = 0; i < n; i++)
        if (w[i] > 0.0f)
            return w;
    for (int i = 0; i < n; i++)
        ones[i] = 1.0f;
    return ones;
}

/*
 * qp_fit_affine: x ~= a*L + b, L in [0, qmax].
 *
 * For a fixed assignment of levels L the best (a, b) is a 2x2 weighted least
 * squares problem, and its error follows from five sums without a second
 * pass: E = Sxx - 2a Slx - 2b Sx + a^2 Sll + 2ab Sl + b^2 Sw. The levels in
 * turn depend on (a, b). So: try a grid of inverse scales
 * (qmax + r)/(max - min), r in [-1, +1.5] step 0.1 - r > 0 spreads the
 * levels wider than the data, clipping nothing but moving the interior
 * levels; r < 0 clips the extremes - assign levels for each, solve the least
 * squares, keep the best; then alternate "assign levels / re-solve"
 * (Lloyd iterations) from the best until it stops improving. With b_nonpos
 * the offset is held at <= 0 (the K-quant min is stored as -dmin*m, m >= 0):
 * a positive least-squares b is replaced by b = 0 and a = Slx/Sll.
 */
#define KQ_AFF_RMIN (-1.0f)
#define KQ_AFF_RSTEP 0.1f
#define KQ_AFF_NSTEP 25

/* Solves the weighted least squares for levels L given the sums; returns
 * the error, or INFINITY when degenerate. */
static double kq_aff_solve(double sw, double sx, double sxx, double sl, double sll, double slx,
                           bool b_nonpos, float *a, float *b)
{
    double det = sw * sll - sl * sl;
    if (!(det > 0))
        return INFINITY;
    double aa = (sw * slx - sl * sx) / det;
    double bb = (sll * sx - sl * slx) / det;
    if (b_nonpos && bb > 0) {
        bb = 0;
        aa = slx / sll;
    }
    if (!(aa >= 0))
        return INFINITY;
    double e = sxx - 2 * aa * slx - 2 * bb * sx + aa * aa * sll + 2 * aa * bb * sl + bb * bb * sw;
    *a = (float)aa;
    *b = (float)bb;
    return e > 0 ? e : 0;
}

float qp_fit_affine(const float *x, const float *w0, int n, int qmax, bool b_nonpos, float *a,
                    float *b)
{
    float ones[QK_K]; /* [n] fallback weights */
    const float *w = kq_weights_or_uniform(w0, n, ones);
    float mn = x[0], mx = x[0];
    double sw = 0, sx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
        sw += w[i];
        sx += (double)w[i] * x[i];
        sxx += (double)w[i] * x[i] * x[i];
    }
    if (b_nonpos && mn > 0)
        mn = 0;
    if (!(mx > mn)) { /* constant block: the offset alone reproduces it */
        *a = 0;
        *b = b_nonpos && mn > 0 ? 0 : mn;
        return 0;
    }
    /* start: levels spread min..max exactly */
    float best_a = (mx - mn) / (float)qmax, best_b = mn;
    double best = INFINITY;
    const float range = mx - mn;
    for (int s = 0; s <= KQ_AFF_NSTEP; s++) {
        const float iscale = ((float)qmax + KQ_AFF_RMIN + KQ_AFF_RSTEP * (float)s) / range;
        float sl = 0, sll = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            const float l = (float)qp_nearest_int(qp_clampf((x[i] - mn) * iscale, 0.0f, (float)qmax));
            sl += w[i] * l;
            sll += w[i] * l * l;
            slx += w[i] * l * x[i];
        }
        float ca, cb;
        double e = kq_aff_solve(sw, sx, sxx, sl, sll, slx, b_nonpos, &ca, &cb);
        if (e < best) {
            best = e;
            best_a = ca;
            best_b = cb;
        }
    }
    /* Lloyd iterations: re-assign levels to the best line, re-solve */
    for (int it = 0; it < 4 && best_a > 0; it++) {
        const float inv = 1.0f / best_a;
        float sl = 0, sll = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            const float l = (float)qp_nearest_int(qp_clampf((x[i] - best_b) * inv, 0.0f, (float)qmax));
            sl += w[i] * l;
            sll += w[i] * l * l;
            slx += w[i] * l * x[i];
        }
        float ca, cb;
        double e = kq_aff_solve(sw, sx, sxx, sl, sll, slx, b_nonpos, &ca, &cb);
        if (!(e < best * (1 - 1e-7)))
            break;
        best = e;
        best_a = ca;
        best_b = cb;
    }
    *a = best_a;
    *b = best_b;
    return isfinite(best) ? (float)best : 0.0f;
}

/*
 * qp_fit_symmetric: x ~= a*L, L in [-nlo, nhi] (nlo = nhi + 1 in every
 * format: two's-complement-like ranges such as -4..3).
 *
 * For fixed levels the best a is Slx/Sll and the error Sxx - Slx^2/Sll, so
 * candidates are compared by Slx^2/Sll alone. The grid maps the value of
 * largest magnitude either onto the long side (-nlo) or the short side
 * (+nhi), each with +-1 level of slack in steps of 0.1; then Lloyd
 * iterations from the best. The sign of a picks the side.
 */
#define KQ_SYM_NSIDE 10 /* grid points either side of the exact mapping */

float qp_fit_symmetric(const float *x, const float *w0, int n, int nlo, int nhi, float *a)
{
    float ones[QK_K]; /* [n] fallback weights */
    const float *w = kq_weights_or_uniform(w0, n, ones);
    float amax = 0, xm = 0;
    double sxx = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            xm = x[i];
        }
        sxx += (double)w[i] * x[i] * x[i];
    }
    *a = 0;
    if (amax == 0)
        return 0;
    double best_slx = 0, best_sll = 0;
    for (int side = 0; side < 2; side++) {
        for (int s = -KQ_SYM_NSIDE; s <= KQ_SYM_NSIDE; s++) {
            const float lev = (float)(side ? nhi : nlo) + 0.1f * (float)s;
            const float iscale = side ? lev / xm : -lev / xm;
            float slx = 0, sll = 0;
            for (int i = 0; i < n; i++) {
                const float l = (float)qp_nearest_int(qp_clampf(x[i] * iscale, (float)-nlo, (float)nhi));
                slx += w[i] * l * x[i];
                sll += w[i] * l * l;
            }
            /* slx^2/sll > best_slx^2/best_sll without dividing */
            if (sll > 0 && (double)slx * slx * best_sll > best_slx * best_slx * sll) {
                best_slx = slx;
                best_sll = sll;
            } else if (sll > 0 && best_sll == 0) {
                best_slx = slx;
                best_sll = sll;
            }
        }
    }
    if (best_sll == 0)
        return (float)sxx;
    float ba = (float)(best_slx / best_sll);
    for (int it = 0; it < 4 && ba != 0; it++) {
        const float inv = 1.0f / ba;
        float slx = 0, sll = 0;
        for (int i = 0; i < n; i++) {
            const float l = (float)qp_nearest_int(qp_clampf(x[i] * inv, (float)-nlo, (float)nhi));
            slx += w[i] * l * x[i];
            sll += w[i] * l * l;
        }
        if (!(sll > 0 && (double)slx * slx * best_sll > best_slx * best_slx * sll * (1 + 1e-7)))
            break;
        best_slx = slx;
        best_sll = sll;
        ba = (float)(best_slx / best_sll);
    }
    *a = ba;
    double e = sxx - best_slx * best_slx / best_sll;
    return e > 0 ? (float)e : 0.0f;
}

/* ======================================================================== */
/* scale search: affine super-blocks (Q2_K, Q4_K, Q5_K)                      */
/* ======================================================================== */
/*
 * Dequantization: x = d*sc_j*L - dmin*m_j for weight in sub-block j, with
 * fp16 d, dmin shared by the super-block and integer codes sc_j, m_j in
 * [0, smax]. The search, per super-block:
 *  0. normalise by a power of two (exact; no overflow whatever the input);
 *     if the sub-block minima waste more range above zero than the maxima
 *     below it (mostly-positive data, which the non-positive offset cannot
 *     follow), quantize -x and store negated d and dmin - the format allows
 *     any fp16 sign and the dequantization is linear in both.
 *  1. per sub-block continuous fit (qp_fit_affine, offset <= 0);
 *  2. d = max a_j / smax, dmin = max(-b_j) / smax, rounded to fp16 (the
 *     largest scale gets the finest code); codes are the rounded ratios;
 *  3. per sub-block exact refinement: every (sc, m) within +-2 of the
 *     rounded codes is scored by the true error of its dequantized values
 *     (levels re-rounded for each), and the best kept - this repairs what
 *     rounding the codes did to the fit;
 *  4. with codes and levels fixed, (d, dmin) is re-solved by least squares
 *     over the whole super-block, rounded to fp16, the codes refined again
 *     (+-1), and the result kept only if its total error is lower; twice.
 * Every decision compares true errors of representable blocks, so each step
 * can only lower the error of the block that gets written.
 */

typedef struct {
    int sub;  /* weights per sub-block: 16 or 32 */
    int qmax; /* levels 0..qmax: 3, 15, 31 */
    int smax; /* codes sc, m in 0..smax: 15 (4 bits) or 63 (6 bits) */
} kq_aff_spec;

typedef struct {
    uint16_t d, dmin;          /* fp16 bits, as stored */
    uint8_t sc[KQ_MAX_SUB];    /* scale code per sub-block */
    uint8_t m[KQ_MAX_SUB];     /* min code per sub-block */
    uint8_t L[QK_K];           /* level per weight */
} kq_aff_out;

/* Weighted error of sub-block x reconstructed as A*L - B, L chosen by
 * rounding; writes L if not NULL. A and B are d*sc and dmin*m as the
 * dequantizer forms them (normalised units). */
static float kq_aff_err(const float *x, const float *w, int n, int qmax, float A, float B, uint8_t *L)
{
    float err = 0.0f;
    const float inv = A != 0.0f ? 1.0f / A : 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = A != 0.0f ? qp_nearest_int(qp_clampf((x[i] + B) * inv, 0.0f, (float)qmax)) : 0;
        const float diff = A * (float)l - B - x[i];
        err += w[i] * diff * diff;
        if (L)
            L[i] = (uint8_t)l;
    }
    return err;
}

/* Stage 3 for one sub-block: best (sc, m) within +-r of the current codes
 * under fp16 scales dn, dmn (normalised). Updates codes; returns error. */
static float kq_aff_refine(const float *x, const float *w, int n, const kq_aff_spec *s, float dn,
                           float dmn, uint8_t *sc, uint8_t *m, int r)
{
    int bsc = *sc, bm = *m;
    float best = INFINITY;
    for (int i = *sc - r; i <= *sc + r; i++) {
        if (i < 0 || i > s->smax)
            continue;
        const float A = dn * (float)i;
        for (int j = *m - r; j <= *m + r; j++) {
            if (j < 0 || j > s->smax)
                continue;
            const float e = kq_aff_err(x, w, n, s->qmax, A, dmn * (float)j, NULL);
            if (e < best) {
                best = e;
                bsc = i;
                bm = j;
            }
        }
    }
    *sc = (uint8_t)bsc;
    *m = (uint8_t)bm;
    return best;
}

/* code = round(v / unit) in [0, smax]; 0 when unit is 0 */
static inline int kq_code(float v, float unit, int smax)
{
    if (!(unit > 0.0f))
        return 0;
    return qp_nearest_int(qp_clampf(v / unit, 0.0f, (float)smax));
}

static void kq_search_affine(const kq_aff_spec *s, const float *x, const float *imatrix, kq_aff_out *o)
{
    const int nsub = QK_K / s->sub;
    float xn[QK_K], wn[QK_K], amax; /* normalised super-block, weights */
    const int k = qp_normalize_block(x, imatrix, QK_K, xn, wn, &amax);
    memset(o, 0, sizeof *o);
    if (amax == 0.0f)
        return; /* all zero: d = dmin = 0 reproduces it */

    /* stage 0: orientation (see banner) */
    float waste_pos = 0, waste_neg = 0;
    for (int j = 0; j < nsub; j++) {
        float mn = INFINITY, mx = -INFINITY;
        for (int i = 0; i < s->sub; i++) {
            mn = fminf(mn, xn[j * s->sub + i]);
            mx = fmaxf(mx, xn[j * s->sub + i]);
        }
        waste_pos += fmaxf(mn, 0.0f);
        waste_neg += fmaxf(-mx, 0.0f);
    }
    const bool flip = waste_neg < waste_pos;
    if (flip)
        for (int i = 0; i < QK_K; i++)
            xn[i] = -xn[i];

    /* stage 1: continuous fit per sub-block */
    float a[KQ_MAX_SUB], b[KQ_MAX_SUB];
    float amx = 0, bmx = 0;
    for (int j = 0; j < nsub; j++) {
        qp_fit_affine(xn + j * s->sub, wn + j * s->sub, s->sub, s->qmax, true, &a[j], &b[j]);
        amx = fmaxf(amx, a[j]);
        bmx = fmaxf(bmx, -b[j]);
    }

    /* stage 2: fp16 super-block scales (rounded in real units, 2^-k) */
    uint16_t hd = qp_fp16_sat(ldexpf(amx / (float)s->smax, -k));
    uint16_t hm = qp_fp16_sat(ldexpf(bmx / (float)s->smax, -k));
    float dn = ldexpf(qp_fp16_to_fp32(hd), k);
    float dmn = ldexpf(qp_fp16_to_fp32(hm), k);
    uint8_t sc[KQ_MAX_SUB], m[KQ_MAX_SUB];
    for (int j = 0; j < nsub; j++) {
        sc[j] = (uint8_t)kq_code(a[j], dn, s->smax);
        m[j] = (uint8_t)kq_code(-b[j], dmn, s->smax);
    }

    /* stage 3: exact refinement of the codes */
    float total = 0;
    for (int j = 0; j < nsub; j++)
        total += kq_aff_refine(xn + j * s->sub, wn + j * s->sub, s->sub, s, dn, dmn, &sc[j], &m[j], 2);

    /* stage 4: least-squares (d, dmin) for the chosen codes and levels */
    for (int it = 0; it < 2; it++) {
        double suu = 0, suv = 0, svv = 0, sux = 0, svx = 0;
        for (int j = 0; j < nsub; j++) {
            const float A = dn * (float)sc[j], B = dmn * (float)m[j];
            uint8_t L[32]; /* [sub] levels of sub-block j */
            kq_aff_err(xn + j * s->sub, wn + j * s->sub, s->sub, s->qmax, A, B, L);
            for (int i = 0; i < s->sub; i++) {
                const double wi = wn[j * s->sub + i], xi = xn[j * s->sub + i];
                const double u = (double)sc[j] * L[i], v = m[j];
                suu += wi * u * u;
                suv += wi * u * v;
                svv += wi * v * v;
                sux += wi * u * xi;
                svx += wi * v * xi;
            }
        }
        double nd = dn, ndm = dmn;
        const double det = suu * svv - suv * suv;
        if (det > 0) {
            nd = (sux * svv - suv * svx) / det;
            ndm = (suv * sux - suu * svx) / det;
        } else if (suu > 0) {
            nd = (sux + dmn * suv) / suu;
        }
        if (!(nd >= 0) || !(ndm >= 0))
            break;
        const uint16_t hd2 = qp_fp16_sat(ldexpf((float)nd, -k));
        const uint16_t hm2 = qp_fp16_sat(ldexpf((float)ndm, -k));
        if (hd2 == hd && hm2 == hm)
            break;
        const float dn2 = ldexpf(qp_fp16_to_fp32(hd2), k), dmn2 = ldexpf(qp_fp16_to_fp32(hm2), k);
        uint8_t sc2[KQ_MAX_SUB], m2[KQ_MAX_SUB];
        memcpy(sc2, sc, sizeof sc2);
        memcpy(m2, m, sizeof m2);
        float total2 = 0;
        for (int j = 0; j < nsub; j++)
            total2 += kq_aff_refine(xn + j * s->sub, wn + j * s->sub, s->sub, s, dn2, dmn2, &sc2[j],
                                    &m2[j], 1);
        if (!(total2 < total))
            break;
        total = total2;
        hd = hd2;
        hm = hm2;
        dn = dn2;
        dmn = dmn2;
        memcpy(sc, sc2, sizeof sc2);
        memcpy(m, m2, sizeof m2);
    }

    /* output: levels for the final codes */
    for (int j = 0; j < nsub; j++)
        kq_aff_err(xn + j * s->sub, wn + j * s->sub, s->sub, s->qmax, dn * (float)sc[j],
                   dmn * (float)m[j], o->L + j * s->sub);
    memcpy(o->sc, sc, sizeof sc);
    memcpy(o->m, m, sizeof m);
    o->d = flip ? (uint16_t)(hd ^ 0x8000u) : hd;
    o->dmin = flip ? (uint16_t)(hm ^ 0x8000u) : hm;
}

/* ======================================================================== */
/* scale search: symmetric super-blocks (Q3_K, Q6_K)                         */
/* ======================================================================== */
/*
 * Dequantization: x = d*sc_j*L, fp16 d, signed codes sc_j in [-slo, shi],
 * levels L in [-nlo, nhi]. Same stages as the affine search without the
 * offset: per sub-block fit (qp_fit_symmetric); d maps the scale of largest
 * magnitude onto the long side -slo (ggml's choice too: one more code);
 * each sub-block's code is refined over +-2 by true error; then d is
 * re-solved by least squares for the chosen codes and levels, and kept
 * (after fp16 rounding and a +-1 code refinement) only if better.
 */

typedef struct {
    int sub;      /* weights per sub-block (16) */
    int nlo, nhi; /* levels in [-nlo, nhi] */
    int slo, shi; /* codes in [-slo, shi] */
} kq_sym_spec;

typedef struct {
    uint16_t d;             /* fp16 bits */
    int8_t sc[KQ_MAX_SUB];  /* signed code per sub-block */
    int8_t L[QK_K];         /* signed level per weight */
} kq_sym_out;

static float kq_sym_err(const float *x, const float *w, int n, int nlo, int nhi, float A, int8_t *L)
{
    float err = 0.0f;
    const float inv = A != 0.0f ? 1.0f / A : 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = A != 0.0f ? qp_nearest_int(qp_clampf(x[i] * inv, (float)-nlo, (float)nhi)) : 0;
        const float diff = A * (float)l - x[i];
        err += w[i] * diff * diff;
        if (L)
            L[i] = (int8_t)l;
    }
    return err;
}

static float kq_sym_refine(const float *x, const float *w, const kq_sym_spec *s, float dn, int8_t *sc, int r)
{
    int bsc = *sc;
    float best = INFINITY;
    for (int i = *sc - r; i <= *sc + r; i++) {
        if (i < -s->slo || i > s->shi)
            continue;
        const float e = kq_sym_err(x, w, s->sub, s->nlo, s->nhi, dn * (float)i, NULL);
        if (e < best) {
            best = e;
            bsc = i;
        }
    }
    *sc = (int8_t)bsc;
    return best;
}

static void kq_search_symmetric(const kq_sym_spec *s, const float *x, const float *imatrix, kq_sym_out *o)
{
    const int nsub = QK_K / s->sub;
    float xn[QK_K], wn[QK_K], amax; /* normalised super-block, weights */
    const int k = qp_normalize_block(x, imatrix, QK_K, xn, wn, &amax);
    memset(o, 0, sizeof *o);
    if (amax == 0.0f)
        return;

    /* stage 1 */
    float a[KQ_MAX_SUB], abig = 0;
    for (int j = 0; j < nsub; j++) {
        qp_fit_symmetric(xn + j * s->sub, wn + j * s->sub, s->sub, s->nlo, s->nhi, &a[j]);
        if (fabsf(a[j]) > fabsf(abig))
            abig = a[j];
    }
    if (abig == 0.0f)
        return;

    /* stage 2: abig -> code -slo */
    uint16_t hd = qp_fp16_sat(ldexpf(abig / (float)-s->slo, -k));
    float dn = ldexpf(qp_fp16_to_fp32(hd), k);
    int8_t sc[KQ_MAX_SUB];
    for (int j = 0; j < nsub; j++)
        sc[j] = (int8_t)(dn != 0.0f ? qp_nearest_int(qp_clampf(a[j] / dn, (float)-s->slo, (float)s->shi)) : 0);

    /* stage 3 */
    float total = 0;
    for (int j = 0; j < nsub; j++)
        total += kq_sym_refine(xn + j * s->sub, wn + j * s->sub, s, dn, &sc[j], 2);

    /* stage 4 */
    for (int it = 0; it < 2; it++) {
        double suu = 0, sux = 0;
        for (int j = 0; j < nsub; j++) {
            int8_t L[16]; /* [sub] */
            kq_sym_err(xn + j * s->sub, wn + j * s->sub, s->sub, s->nlo, s->nhi, dn * (float)sc[j], L);
            for (int i = 0; i < s->sub; i++) {
                const double u = (double)sc[j] * L[i], wi = wn[j * s->sub + i];
                suu += wi * u * u;
                sux += wi * u * xn[j * s->sub + i];
            }
        }
        if (!(suu > 0))
            break;
        const uint16_t hd2 = qp_fp16_sat(ldexpf((float)(sux / suu), -k));
        if (hd2 == hd)
            break;
        const float dn2 = ldexpf(qp_fp16_to_fp32(hd2), k);
        int8_t sc2[KQ_MAX_SUB];
        memcpy(sc2, sc, sizeof sc2);
        float total2 = 0;
        for (int j = 0; j < nsub; j++)
            total2 += kq_sym_refine(xn + j * s->sub, wn + j * s->sub, s, dn2, &sc2[j], 1);
        if (!(total2 < total))
            break;
        total = total2;
        hd = hd2;
        dn = dn2;
        memcpy(sc, sc2, sizeof sc2);
    }

    for (int j = 0; j < nsub; j++)
        kq_sym_err(xn + j * s->sub, wn + j * s->sub, s->sub, s->nlo, s->nhi, dn * (float)sc[j],
                   o->L + j * s->sub);
    memcpy(o->sc, sc, sizeof sc);
    o->d = hd;
}

/* ======================================================================== */
/* Q2_K: 16 x 16 weights, x = d*sc*q - dmin*m, q 0..3, sc/m 4 bits          */
/* ======================================================================== */

/* qs packing (shared with Q3_K's low bits): in each half of 128 weights,
 * byte l (0..31) holds weights l, l+32, l+64, l+96 in bit pairs 0-1, 2-3,
 * 4-5, 6-7. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int h = 0; h < QK_K; h += 128)
        for (int l = 0; l < 32; l++)
            qs[h / 4 + l] = (uint8_t)((L[h + l] & 3) | (L[h + l + 32] & 3) << 2 |
                                      (L[h + l + 64] & 3) << 4 | (L[h + l + 96] & 3) << 6);
}

void qp_quantize_q2_K(const float *x, void *vy, int64_t n, const float *imatrix)
{
    static const kq_aff_spec spec = { .sub = 16, .qmax = 3, .smax = 15 };
    block_q2_K *y = vy;
    kq_aff_out o;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        kq_search_affine(&spec, x, imatrix ? imatrix + i * QK_K : NULL, &o);
        /* scales[j]: scale code low nibble, min code high nibble */
        for (int j = 0; j < QK_K / 16; j++)
            y[i].scales[j] = (uint8_t)(o.sc[j] | o.m[j] << 4);
        pack_2bit(o.L, y[i].qs);
        y[i].d = o.d;
        y[i].dmin = o.dmin;
    }
}

void qp_dequantize_q2_K(const void *vx, float *y, int64_t n)
{
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qp_fp16_to_fp32(x[i].d);
        const float dmin = qp_fp16_to_fp32(x[i].dmin);
        for (int t = 0; t < QK_K; t++) {
            /* weight t: sub-block t/16, byte (t/128)*32 + t%32, pair (t%128)/32 */
            const uint8_t sc = x[i].scales[t / 16];
            const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
            const int q = (x[i].qs[(t / 128) * 32 + t % 32] >> (2 * ((t % 128) / 32))) & 3;
            *y++ = dl * (float)q - ml;
        }
    }
}

/* ======================================================================== */
/* Q3_K: 16 x 16 weights, x = d*(s-32)*(q-4), q 0..7, s 6 bits              */
/* ======================================================================== */

/* The 16 six-bit codes s in 12 bytes: low nibbles of codes 0..7 in the low
 * nibbles of bytes 0..7, of codes 8..15 in their high nibbles; the two high
 * bits of code j in bits 2*(j/4) of byte 8 + j%4. */
static void q3k_pack_scales(const int8_t *sc, uint8_t *scales)
{
    memset(scales, 0, 12);
    for (int j = 0; j < 16; j++) {
        const int s = sc[j] + 32; /* 0..63 */
        scales[j % 8] |= (uint8_t)((s & 15) << (j < 8 ? 0 : 4));
        scales[8 + j % 4] |= (uint8_t)((s >> 4) << (2 * (j / 4)));
    }
}

static int q3k_scale(const uint8_t *scales, int j)
{
    const int lo = (scales[j % 8] >> (j < 8 ? 0 : 4)) & 15;
    const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

void qp_quantize_q3_K(const float *x, void *vy, int64_t n, const float *imatrix)
{
    static const kq_sym_spec spec = { .sub = 16, .nlo = 4, .nhi = 3, .slo = 32, .shi = 31 };
    block_q3_K *y = vy;
    kq_sym_out o;
    uint8_t q[QK_K]; /* low two bits of level + 4 */
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        kq_search_symmetric(&spec, x, imatrix ? imatrix + i * QK_K : NULL, &o);
        q3k_pack_scales(o.sc, y[i].scales);
        /* hmask: the third bit of weight t is bit t/32 of byte t%32 */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int t = 0; t < QK_K; t++) {
            const int l = o.L[t] + 4; /* 0..7 */
            y[i].hmask[t % 32] |= (uint8_t)((l >> 2) << (t / 32));
            q[t] = (uint8_t)(l & 3);
        }
        pack_2bit(q, y[i].qs);
        y[i].d = o.d;
    }
}

void qp_dequantize_q3_K(const void *vx, float *y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int t = 0; t < QK_K; t++) {
            const float dl = d * (float)q3k_scale(x[i].scales, t / 16);
            const int lo = (x[i].qs[(t / 128) * 32 + t % 32] >> (2 * ((t % 128) / 32))) & 3;
            const int hi = (x[i].hmask[t % 32] >> (t / 32)) & 1;
            /* a clear high bit means "minus 4" */
            *y++ = dl * (float)(lo - (hi ? 0 : 4));
        }
    }
}

/* ======================================================================== */
/* Q4_K, Q5_K: 8 x 32 weights, x = d*sc*q - dmin*m, 6-bit sc and m          */
/* ======================================================================== */

/* 8 six-bit scales and 8 mins in 12 bytes (ggml's get_scale_min_k4):
 * j < 4: sc in bits 0-5 of byte j, m in bits 0-5 of byte j+4;
 * j >= 4: low nibbles of sc/m in byte j+4 (sc low, m high), their top two
 * bits in bits 6-7 of byte j-4 (sc) and of byte j (m). */
static void k4_pack_scales(const uint8_t *sc, const uint8_t *m, uint8_t *s)
{
    memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= sc[j];
            s[j + 4] |= m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

void qp_quantize_q4_K(const float *x, void *vy, int64_t n, const float *imatrix)
{
    static const kq_aff_spec spec = { .sub = 32, .qmax = 15, .smax = 63 };
    block_q4_K *y = vy;
    kq_aff_out o;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        kq_search_affine(&spec, x, imatrix ? imatrix + i * QK_K : NULL, &o);
        k4_pack_scales(o.sc, o.m, y[i].scales);
        /* each 64 weights: byte l has weight l (low nibble) and l+32 (high) */
        for (int h = 0; h < QK_K; h += 64)
            for (int l = 0; l < 32; l++)
                y[i].qs[h / 2 + l] = (uint8_t)(o.L[h + l] | o.L[h + l + 32] << 4);
        y[i].d = o.d;
        y[i].dmin = o.dmin;
    }
}

void qp_dequantize_q4_K(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qp_fp16_to_fp32(x[i].d);
        const float dmin = qp_fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x[i].scales, j, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = x[i].qs + (j / 2) * 32;
            const int shift = (j % 2) * 4;
            for (int l = 0; l < 32; l++)
                *y++ = dl * (float)((q[l] >> shift) & 15) - ml;
        }
    }
}

void qp_quantize_q5_K(const float *x, void *vy, int64_t n, const float *imatrix)
{
    static const kq_aff_spec spec = { .sub = 32, .qmax = 31, .smax = 63 };
    block_q5_K *y = vy;
    kq_aff_out o;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        kq_search_affine(&spec, x, imatrix ? imatrix + i * QK_K : NULL, &o);
        k4_pack_scales(o.sc, o.m, y[i].scales);
        /* low nibbles as Q4_K; the fifth bit of weight t is bit t/32 of
         * qh[t%32] */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int h = 0; h < QK_K; h += 64)
            for (int l = 0; l < 32; l++)
                y[i].qs[h / 2 + l] = (uint8_t)((o.L[h + l] & 15) | (o.L[h + l + 32] & 15) << 4);
        for (int t = 0; t < QK_K; t++)
            y[i].qh[t % 32] |= (uint8_t)((o.L[t] >> 4) << (t / 32));
        y[i].d = o.d;
        y[i].dmin = o.dmin;
    }
}

void qp_dequantize_q5_K(const void *vx, float *y, int64_t n)
{
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qp_fp16_to_fp32(x[i].d);
        const float dmin = qp_fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x[i].scales, j, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = x[i].qs + (j / 2) * 32;
            const int shift = (j % 2) * 4;
            for (int l = 0; l < 32; l++) {
                const int hi = (x[i].qh[l] >> j) & 1;
                *y++ = dl * (float)(((q[l] >> shift) & 15) | hi << 4) - ml;
            }
        }
    }
}

/* ======================================================================== */
/* Q6_K: 16 x 16 weights, x = d*sc*(q-32), q 0..63, int8 sc                 */
/* ======================================================================== */

/* Each half of 128 weights uses 64 bytes of ql and 32 of qh: ql[l] holds
 * the low nibbles of weights l (low) and l+64 (high), ql[l+32] those of
 * l+32 and l+96; qh[l] holds the top two bits of l, l+32, l+64, l+96 in bit
 * pairs 0-1, 2-3, 4-5, 6-7. */
void qp_quantize_q6_K(const float *x, void *vy, int64_t n, const float *imatrix)
{
    static const kq_sym_spec spec = { .sub = 16, .nlo = 32, .nhi = 31, .slo = 128, .shi = 127 };
    block_q6_K *y = vy;
    kq_sym_out o;
    uint8_t q[QK_K]; /* level + 32, 0..63 */
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        kq_search_symmetric(&spec, x, imatrix ? imatrix + i * QK_K : NULL, &o);
        for (int t = 0; t < QK_K; t++)
            q[t] = (uint8_t)(o.L[t] + 32);
        for (int h = 0; h < QK_K; h += 128) {
            uint8_t *ql = y[i].ql + h / 2, *qh = y[i].qh + h / 4;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[h + l] & 15) | (q[h + l + 64] & 15) << 4);
                ql[l + 32] = (uint8_t)((q[h + l + 32] & 15) | (q[h + l + 96] & 15) << 4);
                qh[l] = (uint8_t)((q[h + l] >> 4) | (q[h + l + 32] >> 4) << 2 |
                                  (q[h + l + 64] >> 4) << 4 | (q[h + l + 96] >> 4) << 6);
            }
        }
        memcpy(y[i].scales, o.sc, sizeof y[i].scales);
        y[i].d = o.d;
    }
}

void qp_dequantize_q6_K(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qp_fp16_to_fp32(x[i].d);
        for (int t = 0; t < QK_K; t++) {
            const int h = t / 128, r = t % 128, l = r % 32, part = r / 32; /* part 0..3 */
            const uint8_t b = x[i].ql[h * 64 + l + (part & 1) * 32];
            const int lo = part < 2 ? b & 15 : b >> 4;
            const int hi = (x[i].qh[h * 32 + l] >> (2 * part)) & 3;
            /* ggml: d * sc * q as (d * sc) * q */
            *y++ = d * (float)x[i].scales[t / 16] * (float)((lo | hi << 4) - 32);
        }
    }
}

/* ======================================================================== */
/* Q8_K: activations for the K-quant dot products                           */
/* ======================================================================== */

/* ggml's quantize_row_q8_K_ref: the value of largest magnitude maps to
 * -127 (iscale = -127/max), others round to nearest (ties even), d = 1/iscale
 * in fp32, and bsums[j] = sum of qs[16j .. 16j+15]. When -127/max would
 * overflow (|max| < 2^-121, where ggml's result is undefined) the block is
 * first scaled by 2^64, which is exact, and d scaled back. */
void qp_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        float pre = 1.0f; /* exact pre-scale, 1 in every normal case */
        float iscale = -127.0f / max;
        if (!isfinite(iscale)) {
            pre = kq_pow2(64);
            iscale = -127.0f / (max * pre);
        }
        for (int j = 0; j < QK_K; j++)
            y[i].qs[j] = (int8_t)qp_nearest_int(qp_clampf(iscale * (x[j] * pre), -128.0f, 127.0f));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = (1.0f / iscale) / pre;
    }
}

void qp_quantize_q8_K(const float *x, void *y, int64_t n, const float *imatrix)
{
    (void)imatrix;
    qp_quantize_row_q8_K(x, y, n);
}

void qp_dequantize_q8_K(const void *vx, float *y, int64_t n)
{
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++)
            *y++ = x[i].d * (float)x[i].qs[j];
}
