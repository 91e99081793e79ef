/* kernels/matmul.c - the matvec/matmul driver: Y[n][m] = X[n][k] . W[m][k]^T.
 *
 * The driver knows nothing of formats or instruction sets; it calls the
 * variant's slots for the weight type (kernels_impl.h):
 *
 *   1. quantize X once into the pool's work buffer (n rows of the pairing
 *      activation type), in parallel: blocks are independent and rows are
 *      contiguous in both X and Xq (k is a multiple of the block size), so
 *      the n*k values are one long row cut into block-aligned pieces;
 *   2. cut the output into work units of (MB weight rows) x (a range of
 *      activation rows) and hand them out dynamically (an atomic counter:
 *      robust to a core being busy with another process on a shared host);
 *   3. inside a unit, loop over cache blocks of NB activation rows, then
 *      over register tiles of tile_m x tile_n. The MB weight rows of a unit
 *      stay in L2 while every activation row meets them, so W is read from
 *      memory once per unit, and an activation block stays in L2 while
 *      every tile row of the unit passes over it (BLIS's loop order, with
 *      the packing left out: GGUF rows are already contiguous).
 *
 * Matvec (n = 1) is the same code with one activation row: units are then
 * plain row ranges, each row one vec_dot (a tile has nothing to share).
 *
 * Packed weights (qp_matmul_packed, pack.c): units start on group
 * boundaries, and each group of R rows goes to the slot's ptile, matvec
 * included; the m % R plain rows at the end take the path above.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

/* Cache-block budgets, for a core with >= 512 KiB of L2 (1 MiB on the Zen
 * development machine, 1-2 MiB on recent Intel): weights and activations of
 * a unit share L2 with room to spare for the output and the prefetchers. */
#define QP_MM_W_BLOCK_BYTES (128u * 1024u)
#define QP_MM_X_BLOCK_BYTES (256u * 1024u)
/* Units per thread to aim for: enough slack for dynamic balancing. */
#define QP_MM_UNITS_PER_THREAD 4
/* Below this many multiply-adds a job is not worth waking the pool. */
#define QP_MM_MIN_PARALLEL_MACS (1u << 16)

struct mm_job {
    const struct qp_weight_kernels *wk;
    qp_quantize_act_fn quantize;   /* phase 1 (NULL for qp_matmul_q) */
    const float *X;                /* [n][k] floats */
    int64_t act_bs;                /* activation block size (values) */
    size_t act_bb;                 /* activation block bytes */

    const char *W;                 /* [m] rows of w_row bytes */
    const char *Xq;                /* [n] rows of x_row bytes */
    char *Xq_out;                  /* where phase 1 writes (== Xq) */
    float *Y;                      /* [n][m] */
    int64_t m, k, n;
    size_t w_row, x_row;

    int pack_rows;                 /* R of the packed layout, 0: plain rows */
    int64_t m_packed;              /* rows in groups: m / R * R */
    int64_t mb;                    /* weight rows per unit (multiple of tile_m and R) */
    int64_t nb;                    /* activation rows per cache block */
    int64_t n_unit_cols;           /* activation rows per unit (multiple of tile_n) */
    int64_t units_m, units_n;      /* unit grid; unit u = (u / units_n, u % units_n) */
    atomic_llong next_unit;
};

/* Phase 1: thread ith quantizes its share of the n*k/act_bs blocks. */
static void mm_quantize_task(void *p, int ith, int nth)
{
    struct mm_job *j = p;
    const int64_t total = j->n * j->k / j->act_bs;
    const int64_t b0 = total * ith / nth, b1 = total * (ith + 1) / nth;
    if (b1 > b0)
        j->quantize(j->X + b0 * j->act_bs, j->Xq_out + (size_t)b0 * j->act_bb,
                    (b1 - b0) * j->act_bs);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Packed groups [i_lo, i_hi) (multiples of R) x activation rows [c_lo, c_hi),
 * in the cache-block order of mm_unit. */
static void mm_unit_packed(const struct mm_job *j, int64_t i_lo, int64_t i_hi, int64_t c_lo,
                           int64_t c_hi)
{
    const struct qp_weight_kernels *wk = j->wk;
    for (int64_t cb = c_lo; cb < c_hi; cb += j->nb) {
        const int64_t cb_hi = min64(c_hi, cb + j->nb);
        for (int64_t i = i_lo; i < i_hi; i += j->pack_rows) {
            const char *g = j->W + (size_t)i * j->w_row;
            for (int64_t c = cb; c < cb_hi; c += wk->ptile_n) {
                const int nc = (int)min64(wk->ptile_n, cb_hi - c);
                wk->ptile(j->k, g, j->Xq + (size_t)c * j->x_row, j->x_row,
                          j->Y + (size_t)c * (size_t)j->m + (size_t)i, (size_t)j->m, nc);
            }
        }
    }
}

/* One unit: weight rows [i_lo, i_hi) x activation rows [c_lo, c_hi). */
static void mm_unit(const struct mm_job *j, int64_t i_lo, int64_t i_hi, int64_t c_lo, int64_t c_hi)
{
    const struct qp_weight_kernels *wk = j->wk;
    if (j->pack_rows && i_lo < j->m_packed) {
        const int64_t end = min64(i_hi, j->m_packed);
        mm_unit_packed(j, i_lo, end, c_lo, c_hi);
        i_lo = end;
        if (i_lo >= i_hi)
            return;
    }
    if (j->n == 1) {
        /* matvec: tiles share work between activation rows, and there is
         * one; vec_dot is at least as fast (measured for every AVX2 type) */
        for (int64_t i = i_lo; i < i_hi; i++)
            j->Y[i] = wk->vec_dot(j->k, j->W + (size_t)i * j->w_row, j->Xq);
        return;
    }
    for (int64_t cb = c_lo; cb < c_hi; cb += j->nb) {
        const int64_t cb_hi = min64(c_hi, cb + j->nb);
        for (int64_t i = i_lo; i < i_hi; i += wk->tile_m) {
            const int mr = (int)min64(wk->tile_m, i_hi - i);
            const char *w = j->W + (size_t)i * j->w_row;
            for (int64_t c = cb; c < cb_hi; c += wk->tile_n) {
                const int nc = (int)min64(wk->tile_n, cb_hi - c);
                wk->tile(j->k, w, j->w_row, j->Xq + (size_t)c * j->x_row, j->x_row,
                         j->Y + (size_t)c * (size_t)j->m + (size_t)i, (size_t)j->m, mr, nc);
            }
        }
    }
}

/* Phase 2: take units until none is left. */
static void mm_compute_task(void *p, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct mm_job *j = p;
    const int64_t n_units = j->units_m * j->units_n;
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(&j->next_unit, 1, memory_order_relaxed);
        if (u >= n_units)
            break;
        const int64_t um = u / j->units_n, un = u % j->units_n;
        const int64_t i_lo = um * j->mb, c_lo = un * j->n_unit_cols;
        mm_unit(j, i_lo, min64(j->m, i_lo + j->mb), c_lo, min64(j->n, c_lo + j->n_unit_cols));
    }
}

static inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
static int64_t lcm64(int64_t a, int64_t b)
{
    int64_t x = a, y = b;
    while (y) {
        const int64_t t = x % y;
        x = y;
        y = t;
    }
    return a / x * b;
}
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Chooses the unit grid for nth threads (see the top of the file). */
static void mm_plan(struct mm_job *j, int nth)
{
    const struct qp_weight_kernels *wk = j->wk;
    const int64_t want_units = (int64_t)nth * QP_MM_UNITS_PER_THREAD;

    /* weight rows per unit: fill the L2 budget, but leave enough units */
    int64_t mb = max64(1, (int64_t)(QP_MM_W_BLOCK_BYTES / j->w_row));
    if (nth > 1)
        mb = min64(mb, ceil_div(j->m, want_units));
    j->mb = round_up(max64(mb, 1), j->pack_rows ? lcm64(wk->tile_m, j->pack_rows) : wk->tile_m);
    j->units_m = ceil_div(j->m, j->mb);

    /* activation rows per cache block */
    const int64_t tn = j->pack_rows ? lcm64(wk->tile_n, wk->ptile_n) : wk->tile_n;
    j->nb = round_up(max64(1, (int64_t)(QP_MM_X_BLOCK_BYTES / j->x_row)), tn);

    /* split activation rows between units only when rows alone are too few
     * (small m, many activation rows: e.g. m = 17, n = 64) */
    int64_t units_n = 1;
    if (nth > 1 && j->units_m < want_units && j->n > wk->tile_n)
        units_n = min64(ceil_div(j->n, wk->tile_n), ceil_div(want_units, j->units_m));
    j->n_unit_cols = round_up(ceil_div(j->n, units_n), wk->tile_n);
    j->units_n = ceil_div(j->n, j->n_unit_cols);
    atomic_init(&j->next_unit, 0);
}

/* Checks the arguments shared by both entry points; fills the layout. */
static qp_status mm_check(const qp_kernels **v, enum qp_type w, int packed, const void *W,
                          int64_t m, int64_t k, const void *X, int64_t n, float *Y,
                          size_t *w_row, size_t *x_row, qp_error *err)
{
    if (!*v)
        *v = qp_kernels_default();
    const int a = qp_act_type(w);
    if (a < 0 || !(*v)->w[w].vec_dot)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "no kernels for weight type %d", (int)w);
    if (packed && !(*v)->w[w].packed)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "kernel variant %s has no packed layout for weight type %d",
                            (*v)->name, (int)w);
    int64_t bs;
    qp_kernels_block((int)w, &bs, NULL);
    if (k <= 0 || k % bs != 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "row length k = %lld is not a positive multiple of the block size %lld "
                            "of weight type %d", (long long)k, (long long)bs, (int)w);
    if (m < 0 || n < 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "negative matrix size (m = %lld, n = %lld)",
                            (long long)m, (long long)n);
    if ((m > 0 && n > 0) && (!W || !X || !Y))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "NULL matrix pointer");
    *w_row = qp_kernels_row_bytes((int)w, k);
    *x_row = qp_act_row_size(w, k);
    if (!*w_row || !*x_row || (uint64_t)n > SIZE_MAX / *x_row ||
        (uint64_t)m > SIZE_MAX / *w_row || (m > 0 && (uint64_t)n > SIZE_MAX / (uint64_t)m))
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "matrix too large (m = %lld, k = %lld, n = %lld)",
                            (long long)m, (long long)k, (long long)n);
    return QP_OK;
}

static void mm_run(qp_threadpool *tp, struct mm_job *j)
{
    /* a tiny product is not worth the pool's hand-off */
    const double macs = (double)j->m * (double)j->n * (double)j->k;
    if (macs < QP_MM_MIN_PARALLEL_MACS)
        tp = NULL;
    const int nth = qp_threadpool_size(tp);
    if (j->quantize) {
        if ((double)j->n * (double)j->k < 4096.0) /* one short row: quantize here */
            mm_quantize_task(j, 0, 1);
        else
            qp_threadpool_run(tp, mm_quantize_task, j);
    }
    mm_plan(j, nth);
    qp_threadpool_run(tp, mm_compute_task, j);
}

static qp_status mm_common(const qp_kernels *v, qp_threadpool *tp, enum qp_type w, int packed,
                           const void *W, int64_t m, int64_t k, const float *X, const void *Xq,
                           int64_t n, float *Y, qp_error *err)
{
    if (!X && !Xq && m > 0 && n > 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "NULL activation matrix");
    size_t w_row = 0, x_row = 0;
    qp_status st = mm_check(&v, w, packed, W, m, k, X ? (const void *)X : Xq, n, Y, &w_row,
                            &x_row, err);
    if (st != QP_OK || m == 0 || n == 0)
        return st;

    struct mm_job j;
    memset(&j, 0, sizeof j);
    j.wk = &v->w[w];
    j.W = W;
    j.Y = Y;
    j.m = m;
    j.k = k;
    j.n = n;
    j.w_row = w_row;
    j.x_row = x_row;
    if (packed) {
        j.pack_rows = v->w[w].packed->rows;
        j.m_packed = m / j.pack_rows * j.pack_rows;
    }

    void *own = NULL; /* the work buffer when there is no pool */
    if (X && qp_act_type(w) == QP_TYPE_F32) {
        /* float weights read the float activations as they are: quantizing
         * to F32 would only be a copy */
        Xq = X;
        X = NULL;
    }
    if (X) {
        const int a = qp_act_type(w);
        qp_kernels_block(a, &j.act_bs, &j.act_bb);
        j.quantize = v->quantize_act[a];
        j.X = X;
        const size_t bytes = (size_t)n * x_row; /* [n][x_row] quantized X */
        void *buf;
        if (tp) {
            buf = qp_threadpool_acquire(tp, bytes);
        } else {
            own = aligned_alloc(64, (bytes + 63) / 64 * 64);
            buf = own;
        }
        if (!buf)
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1,
                                "out of memory for %zu bytes of quantized activations", bytes);
        j.Xq_out = buf;
        j.Xq = buf;
    } else {
        j.Xq = Xq;
        if (tp && !qp_threadpool_acquire(tp, 0))
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    }

    mm_run(tp, &j);

    if (tp)
        qp_threadpool_release(tp);
    free(own);
    return QP_OK;
}

qp_status qp_matmul(const qp_kernels *v, qp_threadpool *tp, enum qp_type w, const void *W,
                    int64_t m, int64_t k, const float *X, int64_t n, float *Y, qp_error *err)
{
    return mm_common(v, tp, w, 0, W, m, k, X, NULL, n, Y, err);
}

qp_status qp_matmul_q(const qp_kernels *v, qp_threadpool *tp, enum qp_type w, const void *W,
                      int64_t m, int64_t k, const void *Xq, int64_t n, float *Y, qp_error *err)
{
    return mm_common(v, tp, w, 0, W, m, k, NULL, Xq, n, Y, err);
}

qp_status qp_matmul_packed(const qp_kernels *v, qp_threadpool *tp, enum qp_type w, const void *W,
                           int64_t m, int64_t k, const float *X, int64_t n, float *Y,
                           qp_error *err)
{
    return mm_common(v, tp, w, 1, W, m, k, X, NULL, n, Y, err);
}

qp_status qp_matmul_q_packed(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                             const void *W, int64_t m, int64_t k, const void *Xq, int64_t n,
                             float *Y, qp_error *err)
{
    return mm_common(v, tp, w, 1, W, m, k, NULL, Xq, n, Y, err);
}
