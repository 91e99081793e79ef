/* kernels/kernels.h - dequant-dot, matvec and matmul over GGUF weight types.
 *
 * A "variant" is a complete table of kernels for one instruction set:
 * "scalar" (portable C, the reference every test compares against), "avx2",
 * "avx512", "neon". Every variant fills every slot (falling back to scalar
 * where it has no special code), so callers never test for NULL; every
 * variant stays callable by name so they can be compared.
 *
 * Products pair a weight row with an activation row quantized to the
 * weight type's activation type (qp_act_type): Q8_0 for Q4_0/Q5_0/Q8_0,
 * Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F32 for F32/F16/BF16 — the
 * pairing of llama.cpp, except that F16/BF16 weights meet F32 activations.
 *
 * Layouts: a weight matrix W is m rows of k weights (a GGUF tensor with
 * ne[0] = k, ne[1] = m). Activations X are n rows of k floats, outputs Y are
 * n rows of m floats: Y[j][i] = W[i] . X[j]  (ggml's mul_mat convention).
 */
#ifndef QP_KERNELS_H
#define QP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../quant/quant.h"

typedef struct qp_kernels qp_kernels; /* one variant; opaque */
typedef struct qp_threadpool qp_threadpool;

/* ---- variants and dispatch ---- */

/* The variant for this CPU: QPROF_KERNELS if set (a name, or unusable on this
 * CPU: then a warning on stderr and the best usable one), else the best the
 * CPU and OS support (cpuid+xgetbv on x86, hwcaps on arm64). Never NULL. */
const qp_kernels *qp_kernels_default(void);

/* Variant by name if compiled in AND usable on this CPU; else NULL and *err
 * says which (unknown name / not supported by this CPU). */
const qp_kernels *qp_kernels_by_name(const char *name, qp_error *err);

/* All variants compiled into this binary, usable or not; returns the count. */
int qp_kernels_all(const qp_kernels **out, int max);
const char *qp_kernels_name(const qp_kernels *v);
int qp_kernels_usable(const qp_kernels *v);           /* 1 if this CPU can run it */
const char *qp_kernels_describe(const qp_kernels *v); /* e.g. "AVX2+FMA+F16C" */
/* 1 if the variant has its own code for weight type t, 0 if it uses scalar. */
int qp_kernels_accelerates(const qp_kernels *v, enum qp_type t);

/* ---- single rows ---- */

/* Activation type paired with weight type w, or -1 if w has no kernels. */
int qp_act_type(enum qp_type w);
/* 1 if a linear can be set to weight type t: qp_matmul multiplies it (it
 * has an activation pairing) and qp_quantize_row makes it from FP32.
 * The one answer to "can qprof run this type" for every command. */
int qp_kernels_can_run(int t);
/* Bytes of one activation row of k values quantized for weight type w. */
size_t qp_act_row_size(enum qp_type w, int64_t k);
/* Quantize one activation row x[k] into the pairing type of w. */
void qp_quantize_act(const qp_kernels *v, enum qp_type w, const float *x, void *xq, int64_t k);
/* y[n] = row x of type t widened or dequantized, the same values as
 * quant/'s qp_dequantize_row (SIMD where the variant has it: F16 and Q8_0
 * on x86); n a multiple of t's block size, t a type quant/ dequantizes
 * (unchecked). */
void qp_dequantize(const qp_kernels *v, enum qp_type t, const void *x, float *y, int64_t n);
/* dot(weight row, quantized activation row), k weights. */
float qp_vec_dot(const qp_kernels *v, enum qp_type w, int64_t k, const void *wrow, const void *xq);

/* ---- thread pool: created once, reused by every call ---- */
/* The most threads any qprof pool, command or benchmark takes. */
#define QP_MAX_THREADS 256
qp_threadpool *qp_threadpool_create(int n_threads); /* 1..QP_MAX_THREADS; NULL on failure */
void qp_threadpool_free(qp_threadpool *tp);
int qp_threadpool_size(const qp_threadpool *tp);

/* Calls fn(ctx, begin, end, thread) over ranges that together cover [0, n)
 * exactly once, on the pool's threads, and returns when all are done.
 * Ranges are handed out in chunks of about n / (4 * threads) as threads
 * come free, so uneven items (causal attention rows) still balance; one
 * thread may get several ranges. `thread` is in [0, qp_threadpool_size(tp))
 * and no two concurrent calls share it: index per-thread scratch with it.
 * tp NULL (or one thread): fn(ctx, 0, n, 0) inline; n <= 0: nothing.
 * Calls on one pool run one at a time; fn must not use the same pool
 * (no qp_matmul on tp inside fn: it would wait for itself). */
void qp_threadpool_parallel_for(qp_threadpool *tp, int64_t n,
                                void (*fn)(void *ctx, int64_t begin, int64_t end, int thread),
                                void *ctx);

/* ---- matrix products ---- */

/* Y[n][m] = X[n][k] . W[m][k]^T, W of type w. tp may be NULL (one thread).
 * k must be a multiple of the block size of w (else QP_ERR_INPUT). */
qp_status qp_matmul(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                    const void *W, int64_t m, int64_t k,
                    const float *X, int64_t n, float *Y, qp_error *err);

/* Same with X already quantized by qp_quantize_act (n rows of
 * qp_act_row_size bytes), so one activation can feed several matrices. */
qp_status qp_matmul_q(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                      const void *W, int64_t m, int64_t k,
                      const void *Xq, int64_t n, float *Y, qp_error *err);

/* ---- packed weights ---- */

/* A variant may read a weight type faster from rows interleaved in groups
 * (kernels/pack.c; llama.cpp calls this "repack"): avx2 and avx512 read Q4_K,
 * Q5_K, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 as groups of 8 rows, neon with dotprod Q8_0
 * and Q4_0. The layout belongs to the variant, so weights are packed for one
 * variant and multiplied with that variant:
 *
 *     if (qp_pack_rows(v, t)) {                      // 0: plain rows only
 *         qp_pack_weights(v, t, W, Wp, m, k, err);   // once, at load time
 *         qp_matmul_packed(v, tp, t, Wp, m, k, X, n, Y, err);
 *     }
 *
 * A packed matrix has the size of the plain one (m rows of the type's row
 * bytes) and gives the same Y up to float summation order. */

/* Rows per group of v's packed layout for w, or 0 if v has none. v NULL:
 * qp_kernels_default(). */
int qp_pack_rows(const qp_kernels *v, enum qp_type w);
/* Its name ("q4_K x8"), or NULL. */
const char *qp_pack_name(const qp_kernels *v, enum qp_type w);

/* Memory for packed weights (free with free()): 2 MiB-aligned and advised
 * for transparent huge pages where the system allows them (THP "always" or
 * "madvise"). A matvec streams its weights, and on 4 KiB pages it takes a
 * TLB miss every 4 KiB, which the prefetches do not hide: with huge pages
 * the 2-thread Q4_K / Q8_0 matvec measured 5-10 % faster (4096 x 14336, Zen
 * 1). The plain layout is the caller's (a model's mmap of its file). NULL
 * when out of memory or bytes is 0. */
void *qp_pack_alloc(size_t bytes);

/* dst = src (m plain rows of k weights of type w) in v's packed layout, or
 * back (unpack). src and dst: distinct buffers of m row-bytes each.
 * QP_ERR_INPUT if v has no layout for w, k is not a multiple of the block
 * size, or the buffers overlap. */
qp_status qp_pack_weights(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                          int64_t m, int64_t k, qp_error *err);
qp_status qp_unpack_weights(const qp_kernels *v, enum qp_type w, const void *src, void *dst,
                            int64_t m, int64_t k, qp_error *err);

/* qp_matmul / qp_matmul_q over W packed by qp_pack_weights with the same v
 * (QP_ERR_INPUT if v has no packed layout for w). */
qp_status qp_matmul_packed(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                           const void *W, int64_t m, int64_t k,
                           const float *X, int64_t n, float *Y, qp_error *err);
qp_status qp_matmul_q_packed(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                             const void *W, int64_t m, int64_t k,
                             const void *Xq, int64_t n, float *Y, qp_error *err);

/* y[m] = W[m][k] . x[k] */
static inline qp_status qp_matvec(const qp_kernels *v, qp_threadpool *tp, enum qp_type w,
                                  const void *W, int64_t m, int64_t k,
                                  const float *x, float *y, qp_error *err)
{
    return qp_matmul(v, tp, w, W, m, k, x, 1, y, err);
}

#endif
