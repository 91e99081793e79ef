/* quant/kquants.c - the K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights)
 * and Q8_K (activations), in 256-weight super-blocks.
 *
 * Dequantization reproduces ggml's dequantize_row_*_K bit for bit (same
 * float operations, same order; tested against golden vectors). The byte
 * layouts are ggml's (quant/quant.h); the packing of each is spelled out
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
/* scale search: overview                                                   */
/* ======================================================================== */
/*
 * Every K-quant reconstructs weight i of sub-block j as A_j*L_i - B_j with
 * an integer level L_i and a sub-block scale A_j = d*sc_j (and offset
 * B_j = dmin*m_j for the affine types), where d, dmin are fp16 numbers shared
 * by the super-block and sc_j, m_j small integer codes. The objective is
 * the (weighted) squared error E = sum_i w_i (A_j L_i - B_j - x_i)^2 of
 * exactly that reconstruction.
 *
 * The key fact used throughout: with the levels held fixed, E of a
 * sub-block is a quadratic in (A, B) whose six coefficients are the sums
 * Sw, Sl, Sll, Sx, Slx, Sxx of the levels and weights (kq_stats). So once
 * the levels are known, choosing d, dmin and every code costs O(sub-blocks),
 * not O(weights), and many candidates can be compared exactly. The search
 * alternates the two halves of the problem:
 *
 *  1. per sub-block, the best continuous fit (A*, B*) and its levels
 *     (qp_fit_affine / qp_fit_symmetric: a grid of scales, each with a
 *     closed-form least-squares solve, then Lloyd iterations);
 *  2. with those levels fixed, the super-block scales: d (and dmin) from
 *     max(A*)/smax - plus, for the symmetric types, a few candidates
 *     inside it - each scored by giving every sub-block its best codes in
 *     closed form, then a least-squares re-solve of (d, dmin) for the chosen
 *     codes; all rounded to fp16 before scoring;
 *  3. with d, dmin and codes fixed, every level is re-rounded to the nearest
 *     (which can only lower E), the sums recomputed, and step 2 repeated on
 *     the new levels; kept only while the exact total error decreases;
 *  4. a last exact search of each sub-block's codes around the chosen ones
 *     (+-2 for sc and m of the affine types, +-1 for the symmetric), every
 *     candidate scored with its levels re-rounded: the fixed-level estimate
 *     of step 2 misjudges codes when a code step is coarse relative to the
 *     sub-block's scale (4-bit Q2_K codes; small sub-blocks next to an
 *     outlier, whose scale sets d).
 *
 * Each step either lowers the exact error of a representable block or is
 * discarded, so the result is never worse than the first representable
 * candidate, and in practice beats ggml's reference search (which rounds
 * its scales without looking back) on every type - see tests/test_quant.c.
 *
 * All of it runs on a copy of the super-block scaled by an exact power of
 * two (qp_normalize_block), so squares neither overflow nor underflow for any
 * finite input; d and dmin are rounded to fp16 in real units.
 */

/* Search effort. Chosen by measuring RMSE on Gaussian rows (256 x 4096)
 * and on the golden vectors against the time taken: doubling any of these
 * changed the RMSE by < 0.1%; the exact code search (step 4) and the d
 * candidates of the symmetric types were worth 0.3-2% each. */
#define KQ_AFF_GRID 12  /* step 1, affine: 13 scales, r in [-1, 1.5] */
#define KQ_SYM_GRID 3   /* step 1, symmetric: 1/3-level spacing, 7 per side */
#define KQ_LLOYD 3      /* step 1: Lloyd iterations after the grid */
#define KQ_AFF_ITERS 1  /* step 3 rounds, affine */
#define KQ_SYM_ITERS 3  /* step 3 rounds, symmetric (cheaper: 1-D codes) */
#define KQ_AFF_REFINE 2 /* step 4 radius, affine: 5 x 5 (sc, m) */
#define KQ_SYM_REFINE 1 /* step 4 radius, symmetric: 3 codes */
#define KQ_SYM_DSTEPS 8 /* step 2, symmetric: d candidates inside -slo */

/* Exact power of two 2^k as a float, k in [-126, 127] (no libm call). */
static inline float kq_pow2(int k)
{
    return qp_bits_to_f32((uint32_t)(k + 127) << 23);
}

int qp_normalize_block(const float *x, const float *w, int n, float *xn, float *wn, float *amax)
{
    float xmax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        xmax = a > xmax ? a : xmax; /* NaN never wins */
    }
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
        const float a = fabsf(xn[i]);
        m = a > m ? a : m;
    }
    *amax = m;

    /* weights: negative entries count as 0; all-zero (or absent) weights
     * mean "no preference", i.e. plain MSE */
    float wmax = 0.0f;
    if (w)
        for (int i = 0; i < n; i++)
            wmax = w[i] > wmax ? w[i] : wmax;
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

/* Sums of one sub-block's weights, values and levels (see overview). */
typedef struct {
    double sw, sx, sxx; /* independent of the levels */
    double sl, sll, slx;
} kq_stats;

/* E(A, B) = sum w (A*L - B - x)^2 from the sums; B = 0 for symmetric. */
static inline double kq_quad(const kq_stats *s, double A, double B)
{
    const double e = A * A * s->sll - 2 * A * B * s->sl + B * B * s->sw - 2 * A * s->slx +
                     2 * B * s->sx + s->sxx;
    return e > 0 ? e : 0;
}

/* Level-independent sums. */
static void kq_stats_init(const float *x, const float *w, int n, kq_stats *st)
{
    double sw = 0, sx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        sw += w[i];
        sx += (double)w[i] * x[i];
        sxx += (double)w[i] * x[i] * x[i];
    }
    st->sw = sw;
    st->sx = sx;
    st->sxx = sxx;
    st->sl = st->sll = st->slx = 0;
}

/* fp16 bits of a normalised value vn (real value vn * 2^-k), saturating;
 * and back. */
static inline uint16_t kq_half(float vn, int k)
{
    return qp_fp16_scaled_nz(vn, k);
}

static inline float kq_unhalf(uint16_t h, int k)
{
    return ldexpf(qp_fp16_to_fp32(h), k);
}

/* ======================================================================== */
/* scale search: one sub-block, continuous                                  */
/* ======================================================================== */

/*
 * Affine: x ~= a*L + b, L in [0, qmax]. For fixed levels the best (a, b) is
 * a 2x2 weighted least squares problem. The levels in turn depend on
 * (a, b), so: a grid of inverse scales (qmax + r)/(max - min), r in
 * [-1, +1.5] - r > 0 spreads the levels wider than the data, moving the
 * interior levels; r < 0 clips the extremes - with levels assigned and
 * (a, b) solved for each, the best kept; then Lloyd iterations ("assign
 * levels to the line, re-solve") from it while the error drops. With
 * b_nonpos the offset is held at <= 0 (K-quants store it as -dmin*m,
 * m >= 0): a positive least-squares b becomes b = 0, a = Slx/Sll.
 */
#define KQ_AFF_RMIN (-1.0f)
#define KQ_AFF_RSPAN 2.5f

/* Least squares (a, b) for the levels summed in st; returns E, or INFINITY
 * when degenerate (all levels equal) or a would be negative. */
static double kq_aff_solve(const kq_stats *st, bool b_nonpos, float *a, float *b)
{
    const double det = st->sw * st->sll - st->sl * st->sl;
    if (!(det > 0))
        return INFINITY;
    double aa = (st->sw * st->slx - st->sl * st->sx) / det;
    double bb = (st->sll * st->sx - st->sl * st->slx) / det;
    if (b_nonpos && bb > 0) {
        bb = 0;
        aa = st->slx / st->sll;
    }
    if (!(aa >= 0))
        return INFINITY;
    *a = (float)aa;
    *b = (float)bb;
    return kq_quad(st, aa, -bb);
}

/* Level sums for levels round((x - lo) * iscale) clamped to [0, qmax].
 * Four independent partial sums (n is a multiple of 4) let the compiler
 * keep them in one SIMD register: float addition is not associative, so it
 * may not split a single running sum by itself. */
static void kq_aff_sums(const float *x, const float *w, int n, int qmax, float lo, float iscale,
                        kq_stats *st)
{
    float sl[4] = { 0 }, sll[4] = { 0 }, slx[4] = { 0 };
    const float qm = (float)qmax;
    for (int i = 0; i < n; i += 4)
        for (int k = 0; k < 4; k++) {
            /* NaN (0*inf) is clamped to level 0 */
            const float l = qp_roundf_small(qp_clampf((x[i + k] - lo) * iscale, 0.0f, qm));
            const float wl = w[i + k] * l;
            sl[k] += wl;
            sll[k] += wl * l;
            slx[k] += wl * x[i + k];
        }
    st->sl = (sl[0] + sl[1]) + (sl[2] + sl[3]);
    st->sll = (sll[0] + sll[1]) + (sll[2] + sll[3]);
    st->slx = (slx[0] + slx[1]) + (slx[2] + slx[3]);
}

/* The fit, plus the sums of the levels it chose (for the super-block step). */
static void kq_fit_affine(const float *x, const float *w, int n, int qmax, bool b_nonpos, float *a,
                          float *b, kq_stats *st)
{
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    kq_stats_init(x, w, n, st);
    if (b_nonpos && mn > 0)
        mn = 0;
    if (!(mx > mn)) { /* constant block (<= 0 if b_nonpos): the offset alone */
        *a = 0;
        *b = mn;
        return;
    }
    /* fallback if every candidate is degenerate: min..max on the levels */
    float best_a = (mx - mn) / (float)qmax, best_b = mn;
    kq_aff_sums(x, w, n, qmax, mn, 1.0f / best_a, st);
    double best = kq_quad(st, best_a, -best_b);
    kq_stats cur = *st;
    const float range = mx - mn;
    for (int s = 0; s <= KQ_AFF_GRID; s++) {
        const float r = KQ_AFF_RMIN + KQ_AFF_RSPAN * (float)s / (float)KQ_AFF_GRID;
        kq_aff_sums(x, w, n, qmax, mn, ((float)qmax + r) / range, &cur);
        float ca = 0, cb = 0;
        const double e = kq_aff_solve(&cur, b_nonpos, &ca, &cb);
        if (e < best) {
            best = e;
            best_a = ca;
            best_b = cb;
            *st = cur;
        }
    }
    for (int it = 0; it < KQ_LLOYD && best_a > 0; it++) {
        kq_aff_sums(x, w, n, qmax, best_b, 1.0f / best_a, &cur);
        float ca = 0, cb = 0;
        const double e = kq_aff_solve(&cur, b_nonpos, &ca, &cb);
        if (!(e < best * (1 - 1e-9)))
            break;
        best = e;
        best_a = ca;
        best_b = cb;
        *st = cur;
    }
    *a = best_a;
    *b = best_b;
}

float qp_fit_affine(const float *x, const float *w0, int n, int qmax, bool b_nonpos, float *a,
                    float *b)
{
    float ones[QK_K]; /* [n] fallback weights */
    const float *w = kq_weights_or_uniform(w0, n, ones);
    kq_stats st;
    kq_fit_affine(x, w, n, qmax, b_nonpos, a, b, &st);
    return (float)kq_quad(&st, *a, -*b);
}

/*
 * Symmetric: x ~= a*L, L in [-nlo, nhi] (nlo = nhi + 1 in every format,
 * ranges like -4..3). For fixed levels the best a is Slx/Sll and the error
 * Sxx - Slx^2/Sll, so candidates compare by Slx^2/Sll alone. The grid maps
 * the value of largest magnitude onto the long side (-nlo) or the short
 * side (+nhi), each with +-1 level of slack; then Lloyd iterations. The
 * sign of a picks the side.
 */

/* Level sums for levels round(x * iscale) clamped to [-nlo, nhi]. */
static void kq_sym_sums(const float *x, const float *w, int n, int nlo, int nhi, float iscale,
                        kq_stats *st)
{
    float slx[4] = { 0 }, sll[4] = { 0 };
    const float lo = (float)-nlo, hi = (float)nhi;
    for (int i = 0; i < n; i += 4)
        for (int k = 0; k < 4; k++) {
            const float l = qp_roundf_small(qp_clampf(x[i + k] * iscale, lo, hi));
            const float wl = w[i + k] * l;
            slx[k] += wl * x[i + k];
            sll[k] += wl * l;
        }
    st->slx = (slx[0] + slx[1]) + (slx[2] + slx[3]);
    st->sll = (sll[0] + sll[1]) + (sll[2] + sll[3]);
}

/* slx^2/sll of a beats that of b (both with sll > 0 or b empty) */
static inline bool kq_sym_better(const kq_stats *a, const kq_stats *b)
{
    if (!(a->sll > 0))
        return false;
    if (!(b->sll > 0))
        return true;
    return a->slx * a->slx * b->sll > b->slx * b->slx * a->sll * (1 + 1e-9);
}

static void kq_fit_symmetric(const float *x, const float *w, int n, int nlo, int nhi, float *a,
                             kq_stats *st)
{
    float amax = 0, xm = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            xm = x[i];
        }
    kq_stats_init(x, w, n, st);
    *a = 0;
    if (amax == 0)
        return;
    kq_stats cur = *st;
    for (int side = 0; side < 2; side++)
        for (int s = -KQ_SYM_GRID; s <= KQ_SYM_GRID; s++) {
            const float lev = (float)(side ? nhi : nlo) + (float)s / (float)KQ_SYM_GRID;
            kq_sym_sums(x, w, n, nlo, nhi, side ? lev / xm : -lev / xm, &cur);
            if (kq_sym_better(&cur, st))
                *st = cur;
        }
    if (!(st->sll > 0))
        return; /* all weights of the sub-block round to level 0 */
    float ba = (float)(st->slx / st->sll);
    for (int it = 0; it < KQ_LLOYD && ba != 0; it++) {
        kq_sym_sums(x, w, n, nlo, nhi, 1.0f / ba, &cur);
        if (!kq_sym_better(&cur, st))
            break;
        *st = cur;
        ba = (float)(st->slx / st->sll);
    }
    *a = ba;
}

float qp_fit_symmetric(const float *x, const float *w0, int n, int nlo, int nhi, float *a)
{
    float ones[QK_K]; /* [n] fallback weights */
    const float *w = kq_weights_or_uniform(w0, n, ones);
    kq_stats st;
    kq_fit_symmetric(x, w, n, nlo, nhi, a, &st);
    return (float)kq_quad(&st, *a, 0);
}

/* ======================================================================== */
/* scale search: affine super-blocks (Q2_K, Q4_K, Q5_K)                      */
/* ======================================================================== */
/*
 * x = d*sc_j*L - dmin*m_j, codes sc_j, m_j in [0, smax]. Before step 1 of
 * the overview: if the sub-block minima waste more range above zero than
 * the maxima below it (mostly positive data, which a non-positive offset
 * cannot follow), the search runs on -x and stores -d and -dmin. Any fp16
 * sign is valid in the format and dequantization is linear in both, so
 * such blocks simply dequantize correctly everywhere.
 */

typedef struct {
    int sub;  /* weights per sub-block: 16 or 32 */
    int qmax; /* levels 0..qmax: 3, 15, 31 */
    int smax; /* codes sc, m in 0..smax: 15 (4 bits) or 63 (6 bits) */
} kq_aff_spec;

typedef struct {
    uint16_t d, dmin;       /* fp16 bits, as stored */
    uint8_t sc[KQ_MAX_SUB]; /* scale code per sub-block */
    uint8_t m[KQ_MAX_SUB];  /* min code per sub-block */
    uint8_t L[QK_K];        /* level per weight */
} kq_aff_out;

/* Levels of A*L - B rounded to nearest, and their sums (sw, sx, sxx kept). */
static void kq_aff_assign(const float *x, const float *w, int n, int qmax, float A, float B,
                          uint8_t *L, kq_stats *st)
{
    /* A == 0 (or an inverse that overflows): levels 0 via the NaN clamp */
    const float inv = A != 0.0f ? 1.0f / A : 0.0f;
    kq_aff_sums(x, w, n, qmax, -B, inv, st);
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)qp_roundf_small(qp_clampf((x[i] + B) * inv, 0.0f, (float)qmax));
}

#define KQ_NB 5 /* offsets scored per pass of kq_aff_err5 */

/* Exact weighted error of A*L - B[b] with levels re-rounded, for one scale
 * and KQ_NB offsets at once: one pass over the sub-block instead of five,
 * the per-call and per-load cost shared (the sub-blocks are short). */
static void kq_aff_err5(const float *x, const float *w, int n, int qmax, float A, const float *B,
                        float *out)
{
    float err[KQ_NB][4] = { { 0 } }; /* [offset][lane] partial sums */
    const float inv = A != 0.0f ? 1.0f / A : 0.0f, qm = (float)qmax;
    for (int i = 0; i < n; i += 4)
        for (int b = 0; b < KQ_NB; b++)
            for (int k = 0; k < 4; k++) {
                const float l = qp_roundf_small(qp_clampf((x[i + k] + B[b]) * inv, 0.0f, qm));
                const float diff = A * l - B[b] - x[i + k];
                err[b][k] += w[i + k] * diff * diff;
            }
    for (int b = 0; b < KQ_NB; b++)
        out[b] = (err[b][0] + err[b][1]) + (err[b][2] + err[b][3]);
}

static float kq_aff_refine(const float *x, const float *w, int n, const kq_aff_spec *s, float dn,
                           float dmn, uint8_t *sc, uint8_t *m, int r)
{
    int bsc = *sc, bm = *m;
    float best = INFINITY;
    /* the (up to 5) min codes m-2..m+2 within [0, smax], clamped: a
     * duplicate is scored twice and harmlessly */
    int mc[KQ_NB];
    float B[KQ_NB], e[KQ_NB];
    for (int b = 0; b < KQ_NB; b++) {
        int j = *m - r + (b < 2 * r + 1 ? b : 2 * r);
        mc[b] = j < 0 ? 0 : j > s->smax ? s->smax : j;
        B[b] = dmn * (float)mc[b];
    }
    for (int i = *sc - r; i <= *sc + r; i++) {
        if (i < 0 || i > s->smax)
            continue;
        const float A = dn * (float)i;
        kq_aff_err5(x, w, n, s->qmax, A, B, e);
        for (int b = 0; b < KQ_NB; b++)
            if (e[b] < best) {
                best = e[b];
                bsc = i;
                bm = mc[b];
            }
    }
    *sc = (uint8_t)bsc;
    *m = (uint8_t)bm;
    return best;
}

/* Best codes of every sub-block for fp16 units dn, dmn with levels fixed:
 * the scale code is floor or ceil of A*_j / dn (E is convex in A once B is
 * re-optimised), and for each the min code is the rounded optimum of the
 * quadratic in B, B = (A*Sl - Sx)/Sw (dE/dB = 0). Returns the total E.
 * Runs ~20 times per super-block, so no divisions inside the loop. */
static double kq_aff_codes(const kq_stats *st, const float *astar, int nsub, int smax, float dn,
                           float dmn, uint8_t *sc, uint8_t *m)
{
    const float idn = dn > 0.0f ? 1.0f / dn : 0.0f, idm = dmn > 0.0f ? 1.0f / dmn : 0.0f;
    const float fs = (float)smax;
    double total = 0;
    for (int j = 0; j < nsub; j++) {
        const kq_stats *t = &st[j];
        /* clamped before the cast: floor of a non-negative value */
        const int c0 = (int)qp_clampf(astar[j] * idn, 0.0f, fs);
        const double isw = t->sw > 0 ? 1.0 / t->sw : 0.0;
        double best = INFINITY;
        for (int c = c0; c <= c0 + 1 && c <= smax; c++) {
            const float A = dn * (float)c;
            const double bopt = (A * t->sl - t->sx) * isw;
            const int mm = (int)qp_roundf_small(qp_clampf((float)bopt * idm, 0.0f, fs));
            const double e = kq_quad(t, A, dmn * (float)mm);
            if (e < best) {
                best = e;
                sc[j] = (uint8_t)c;
                m[j] = (uint8_t)mm;
            }
        }
        total += best;
    }
    return total;
}

/* Step 2 of the overview for affine blocks: fp16 d, dmin and all codes for
 * fixed levels (sums st, continuous optima astar, bstar >= 0). d and dmin
 * start at max(A*)/smax and max(B*)/smax (the largest sub-block gets the
 * finest code), then the least-squares (d, dmin) for the chosen codes is
 * tried. (Sweeping more d candidates was measured to gain < 0.1% for its
 * cost; the exact code search of step 4 matters more.) Returns total E. */
static double kq_aff_choose(const kq_aff_spec *s, int nsub, int k, const kq_stats *st,
                            const float *astar, const float *bstar, uint16_t *hd, uint16_t *hm,
                            uint8_t *sc, uint8_t *m)
{
    float amx = 0, bmx = 0;
    for (int j = 0; j < nsub; j++) {
        amx = astar[j] > amx ? astar[j] : amx;
        bmx = bstar[j] > bmx ? bstar[j] : bmx;
    }
    const float smax = (float)s->smax;
    uint8_t tsc[KQ_MAX_SUB], tm[KQ_MAX_SUB];
    *hd = kq_half(amx / smax, k);
    *hm = kq_half(bmx / smax, k);
    double best = kq_aff_codes(st, astar, nsub, s->smax, kq_unhalf(*hd, k), kq_unhalf(*hm, k), sc, m);

    /* least squares over (d, dmin) with codes and levels fixed:
     * sum_j E_j(d*sc_j, dmin*m_j) is a quadratic in (d, dmin) */
    double P = 0, Q = 0, R = 0, U = 0, V = 0;
    for (int j = 0; j < nsub; j++) {
        const double c = sc[j], mm = m[j];
        P += c * c * st[j].sll;
        Q += c * mm * st[j].sl;
        R += c * st[j].slx;
        U += mm * mm * st[j].sw;
        V += mm * st[j].sx;
    }
    double nd = kq_unhalf(*hd, k), ndm = kq_unhalf(*hm, k);
    const double det = P * U - Q * Q;
    if (det > 0) {
        nd = (R * U - Q * V) / det;
        ndm = (Q * R - P * V) / det;
    } else if (P > 0) {
        nd = (R + ndm * Q) / P;
    }
    if (nd >= 0 && ndm >= 0) {
        const uint16_t h1 = kq_half((float)nd, k), h2 = kq_half((float)ndm, k);
        if (h1 != *hd || h2 != *hm) {
            const double e = kq_aff_codes(st, astar, nsub, s->smax, kq_unhalf(h1, k), kq_unhalf(h2, k), tsc, tm);
            if (e < best) {
                best = e;
                *hd = h1;
                *hm = h2;
                memcpy(sc, tsc, (size_t)nsub);
                memcpy(m, tm, (size_t)nsub);
            }
        }
    }
    return best;
}

static void kq_search_affine(const kq_aff_spec *s, const float *x, const float *imatrix, kq_aff_out *o)
{
    const int nsub = QK_K / s->sub, sub = s->sub;
    float xn[QK_K], wn[QK_K], amax; /* normalised super-block, weights */
    const int k = qp_normalize_block(x, imatrix, QK_K, xn, wn, &amax);
    memset(o, 0, sizeof *o);
    if (amax == 0.0f)
        return; /* all zero: d = dmin = 0 reproduces it */

    /* orientation (see banner) */
    float waste_pos = 0, waste_neg = 0;
    for (int j = 0; j < nsub; j++) {
        float mn = xn[j * sub], mx = xn[j * sub];
        for (int i = 1; i < sub; i++) {
            mn = xn[j * sub + i] < mn ? xn[j * sub + i] : mn;
            mx = xn[j * sub + i] > mx ? xn[j * sub + i] : mx;
        }
        waste_pos += mn > 0 ? mn : 0;
        waste_neg += mx < 0 ? -mx : 0;
    }
    const bool flip = waste_neg < waste_pos;
    if (flip)
        for (int i = 0; i < QK_K; i++)
            xn[i] = -xn[i];

    /* step 1: continuous fit per sub-block */
    kq_stats st[KQ_MAX_SUB];
    float astar[KQ_MAX_SUB], bstar[KQ_MAX_SUB];
    const float *w[KQ_MAX_SUB];
    float ones[QK_K]; /* uniform weights for sub-blocks whose weights are all 0 */
    for (int j = 0; j < nsub; j++) {
        w[j] = kq_weights_or_uniform(wn + j * sub, sub, ones + j * sub);
        float b;
        kq_fit_affine(xn + j * sub, w[j], sub, s->qmax, true, &astar[j], &b, &st[j]);
        bstar[j] = -b;
    }

    /* steps 2 and 3 (levels assigned here are provisional: step 4 may
     * change codes, so the final levels are assigned at the end) */
    uint16_t hd, hm;
    uint8_t sc[KQ_MAX_SUB], m[KQ_MAX_SUB];
    kq_aff_choose(s, nsub, k, st, astar, bstar, &hd, &hm, sc, m);
    for (int it = 0; it < KQ_AFF_ITERS; it++) {
        const float dn = kq_unhalf(hd, k), dmn = kq_unhalf(hm, k);
        double exact = 0;
        for (int j = 0; j < nsub; j++) {
            const float A = dn * (float)sc[j], B = dmn * (float)m[j];
            kq_aff_assign(xn + j * sub, w[j], sub, s->qmax, A, B, o->L + j * sub, &st[j]);
            exact += kq_quad(&st[j], A, B);
            float a, b;
            if (kq_aff_solve(&st[j], true, &a, &b) < INFINITY) {
                astar[j] = a;
                bstar[j] = -b;
            }
        }
        uint16_t hd2, hm2;
        uint8_t sc2[KQ_MAX_SUB], m2[KQ_MAX_SUB];
        const double e2 = kq_aff_choose(s, nsub, k, st, astar, bstar, &hd2, &hm2, sc2, m2);
        if (!(e2 < exact * (1 - 1e-7)))
            break;
        hd = hd2;
        hm = hm2;
        memcpy(sc, sc2, sizeof sc);
        memcpy(m, m2, sizeof m);
    }
    /* step 4: exact code search (see kq_aff_refine), then the levels */
    const float dn = kq_unhalf(hd, k), dmn = kq_unhalf(hm, k);
    for (int j = 0; j < nsub; j++) {
        kq_aff_refine(xn + j * sub, w[j], sub, s, dn, dmn, &sc[j], &m[j], KQ_AFF_REFINE);
        kq_aff_assign(xn + j * sub, w[j], sub, s->qmax, dn * (float)sc[j], dmn * (float)m[j],
                      o->L + j * sub, &st[j]);
    }
    memcpy(o->sc, sc, sizeof sc);
    memcpy(o->m, m, sizeof m);
    o->d = flip ? (uint16_t)(hd ^ 0x8000u) : hd;
    o->dmin = flip ? (uint16_t)(hm ^ 0x8000u) : hm;
}

/* ======================================================================== */
/* scale search: symmetric super-blocks (Q3_K, Q6_K)                         */
/* ======================================================================== */
/*
 * x = d*sc_j*L, signed codes sc_j in [-slo, shi], levels L in [-nlo, nhi].
 * The overview's steps without the offset: with levels fixed the best code
 * for d is the rounded Slx/(Sll*d), exactly (E is a 1-D convex quadratic).
 * d candidates: the scale of largest magnitude onto code -slo (the long
 * side, as ggml) or a little inside it, then least squares for the codes.
 */

typedef struct {
    int sub;      /* weights per sub-block (16) */
    int nlo, nhi; /* levels in [-nlo, nhi] */
    int slo, shi; /* codes in [-slo, shi] */
} kq_sym_spec;

typedef struct {
    uint16_t d;            /* fp16 bits */
    int8_t sc[KQ_MAX_SUB]; /* signed code per sub-block */
    int8_t L[QK_K];        /* signed level per weight */
} kq_sym_out;

static void kq_sym_assign(const float *x, const float *w, int n, int nlo, int nhi, float A, int8_t *L,
                          kq_stats *st)
{
    const float inv = A != 0.0f ? 1.0f / A : 0.0f;
    kq_sym_sums(x, w, n, nlo, nhi, inv, st);
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)qp_roundf_small(qp_clampf(x[i] * inv, (float)-nlo, (float)nhi));
}

/* Exact error of A*L with re-rounded levels. */
static float kq_sym_err(const float *x, const float *w, int n, int nlo, int nhi, float A)
{
    float err[4] = { 0 }; /* partial sums, see kq_aff_sums */
    const float inv = A != 0.0f ? 1.0f / A : 0.0f, lo = (float)-nlo, hi = (float)nhi;
    for (int i = 0; i < n; i += 4)
        for (int k = 0; k < 4; k++) {
            const float l = qp_roundf_small(qp_clampf(x[i + k] * inv, lo, hi));
            const float diff = A * l - x[i + k];
            err[k] += w[i + k] * diff * diff;
        }
    return (err[0] + err[1]) + (err[2] + err[3]);
}

/* Exact local search of one sub-block's code over +-r. */
static void kq_sym_refine(const float *x, const float *w, const kq_sym_spec *s, float dn, int8_t *sc, int r)
{
    int bsc = *sc;
    float best = INFINITY;
    for (int i = *sc - r; i <= *sc + r; i++) {
        if (i < -s->slo || i > s->shi)
            continue;
        const float e = kq_sym_err(x, w, s->sub, s->nlo, s->nhi, dn * (float)i);
        if (e < best) {
            best = e;
            bsc = i;
        }
    }
    *sc = (int8_t)bsc;
}

/* Best code of every sub-block for the fp16 unit dn, levels fixed: the
 * rounded A*_j / dn (A*_j = Slx/Sll, kept in astar), exact for a 1-D convex
 * quadratic. Returns the total E. */
static double kq_sym_codes(const kq_stats *st, const float *astar, int nsub, const kq_sym_spec *s,
                           float dn, int8_t *sc)
{
    const float idn = dn != 0.0f ? 1.0f / dn : 0.0f, lo = (float)-s->slo, hi = (float)s->shi;
    double total = 0;
    for (int j = 0; j < nsub; j++) {
        const int c = (int)qp_roundf_small(qp_clampf(astar[j] * idn, lo, hi));
        sc[j] = (int8_t)c;
        total += kq_quad(&st[j], dn * (float)c, 0);
    }
    return total;
}

static double kq_sym_choose(const kq_sym_spec *s, int nsub, int k, const kq_stats *st,
                            const float *astar, uint16_t *hd, int8_t *sc)
{
    float abig = 0;
    for (int j = 0; j < nsub; j++)
        if (fabsf(astar[j]) > fabsf(abig))
            abig = astar[j];
    int8_t tsc[KQ_MAX_SUB];
    const float slo = (float)s->slo, step = slo / 64.0f; /* half a code for Q3_K, 2 for Q6_K */
    *hd = kq_half(abig / -slo, k);
    double best = kq_sym_codes(st, astar, nsub, s, kq_unhalf(*hd, k), sc);
    for (int t = 1; t <= KQ_SYM_DSTEPS; t++) {
        const uint16_t h = kq_half(abig / -(slo - step * (float)t), k);
        if (h == *hd)
            continue;
        const double e = kq_sym_codes(st, astar, nsub, s, kq_unhalf(h, k), tsc);
        if (e < best) {
            best = e;
            *hd = h;
            memcpy(sc, tsc, (size_t)nsub);
        }
    }
    /* least-squares d for the chosen codes: sum_j E_j(d*sc_j) */
    double P = 0, R = 0;
    for (int j = 0; j < nsub; j++) {
        P += (double)sc[j] * sc[j] * st[j].sll;
        R += (double)sc[j] * st[j].slx;
    }
    if (P > 0) {
        const uint16_t h = kq_half((float)(R / P), k);
        if (h != *hd) {
            const double e = kq_sym_codes(st, astar, nsub, s, kq_unhalf(h, k), tsc);
            if (e < best) {
                best = e;
                *hd = h;
                memcpy(sc, tsc, (size_t)nsub);
            }
        }
    }
    return best;
}

static void kq_search_symmetric(const kq_sym_spec *s, const float *x, const float *imatrix, kq_sym_out *o)
{
    const int nsub = QK_K / s->sub, sub = s->sub;
    float xn[QK_K], wn[QK_K], amax; /* normalised super-block, weights */
    const int k = qp_normalize_block(x, imatrix, QK_K, xn, wn, &amax);
    memset(o, 0, sizeof *o);
    if (amax == 0.0f)
        return;

    kq_stats st[KQ_MAX_SUB];
    float astar[KQ_MAX_SUB];
    const float *w[KQ_MAX_SUB];
    float ones[QK_K]; /* uniform weights for sub-blocks whose weights are all 0 */
    bool any = false;
    for (int j = 0; j < nsub; j++) {
        w[j] = kq_weights_or_uniform(wn + j * sub, sub, ones + j * sub);
        kq_fit_symmetric(xn + j * sub, w[j], sub, s->nlo, s->nhi, &astar[j], &st[j]);
        any |= astar[j] != 0.0f;
    }
    if (!any)
        return;

    uint16_t hd;
    int8_t sc[KQ_MAX_SUB];
    kq_sym_choose(s, nsub, k, st, astar, &hd, sc);
    for (int it = 0; it < KQ_SYM_ITERS; it++) { /* step 3 */
        const float dn = kq_unhalf(hd, k);
        double exact = 0;
        for (int j = 0; j < nsub; j++) {
            const float A = dn * (float)sc[j];
            kq_sym_assign(xn + j * sub, w[j], sub, s->nlo, s->nhi, A, o->L + j * sub, &st[j]);
            exact += kq_quad(&st[j], A, 0);
            if (st[j].sll > 0)
                astar[j] = (float)(st[j].slx / st[j].sll);
        }
        uint16_t hd2;
        int8_t sc2[KQ_MAX_SUB];
        const double e2 = kq_sym_choose(s, nsub, k, st, astar, &hd2, sc2);
        if (!(e2 < exact * (1 - 1e-7)))
            break;
        hd = hd2;
        memcpy(sc, sc2, sizeof sc);
    }
    /* step 4: exact code search with re-rounded levels, then the levels */
    const float dn = kq_unhalf(hd, k);
    for (int j = 0; j < nsub; j++) {
        kq_sym_refine(xn + j * sub, w[j], s, dn, &sc[j], KQ_SYM_REFINE);
        kq_sym_assign(xn + j * sub, w[j], sub, s->nlo, s->nhi, dn * (float)sc[j], o->L + j * sub, &st[j]);
    }
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
        float d = (1.0f / iscale) / pre;
        /* |max| near FLT_MAX: 127*d may round past it; step d down until
         * every product d*q is finite (never taken for ggml-sized values) */
        while (!isfinite(d * 127.0f))
            d = nextafterf(d, 0.0f);
        y[i].d = d;
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
