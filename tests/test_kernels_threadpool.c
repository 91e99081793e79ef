/* tests/test_kernels_threadpool.c - qp_threadpool_parallel_for (kernels/kernels.h).
 *
 * What must hold: every item of [0, n) is visited exactly once, by ranges
 * that lie inside [0, n); `thread` stays within the pool's size and no two
 * ranges running at the same time carry the same `thread` (callers index
 * per-thread scratch with it); a NULL pool runs one range inline; n <= 0
 * calls nothing; a pool is reusable call after call, with matmuls between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include <cmocka.h>

#include "kernels/kernels.h"

#define MAX_THREADS 8

/* What the ranges did: a visit count per item, the range count, and per
 * thread index whether a range of that index is running right now. */
struct visits {
    int64_t n;
    atomic_int *count;                 /* [n] */
    atomic_int ranges;
    atomic_int bad;                    /* a range outside [0, n) or a bad thread */
    atomic_int busy[MAX_THREADS];      /* 1 while thread index i runs a range */
    atomic_int overlap;                /* two ranges ran with one thread index */
    int pool_size;
};

static void visit(void *ctx, int64_t begin, int64_t end, int thread)
{
    struct visits *v = ctx;
    atomic_fetch_add(&v->ranges, 1);
    if (begin < 0 || end > v->n || begin >= end || thread < 0 || thread >= v->pool_size) {
        atomic_fetch_add(&v->bad, 1);
        return;
    }
    if (atomic_exchange(&v->busy[thread], 1) != 0)
        atomic_fetch_add(&v->overlap, 1);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&v->count[i], 1);
    atomic_store(&v->busy[thread], 0);
}

/* Runs one parallel_for over n items and checks the visits. */
static void check_cover(qp_threadpool *tp, int64_t n)
{
    struct visits v;
    memset(&v, 0, sizeof v);
    v.n = n;
    v.pool_size = qp_threadpool_size(tp);
    v.count = calloc(n > 0 ? (size_t)n : 1, sizeof *v.count);
    assert_non_null(v.count);
    qp_threadpool_parallel_for(tp, n, visit, &v);
    assert_int_equal(atomic_load(&v.bad), 0);
    assert_int_equal(atomic_load(&v.overlap), 0);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&v.count[i]), 1);
    if (n <= 0)
        assert_int_equal(atomic_load(&v.ranges), 0);
    else if (v.pool_size == 1 || n == 1)
        assert_int_equal(atomic_load(&v.ranges), 1); /* inline, one range */
    else /* chunks of ~n / (4 threads): never more ranges than items */
        assert_in_range(atomic_load(&v.ranges), 1, n);
    free(v.count);
}

static const int64_t sizes[] = {0, -3, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4099};

static void test_null_pool_inline(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_cover(NULL, sizes[i]);
}

static void test_pools_cover_exactly_once(void **state)
{
    (void)state;
    for (int nt = 1; nt <= 4; nt++) {
        qp_threadpool *tp = qp_threadpool_create(nt);
        assert_non_null(tp);
        assert_int_equal(qp_threadpool_size(tp), nt);
        /* many calls on one pool: the generation/pending hand-off reused */
        for (int rep = 0; rep < 20; rep++)
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
                check_cover(tp, sizes[i]);
        qp_threadpool_free(tp);
    }
}

/* Every range waits (up to 10 s) until a second thread index has shown up,
 * so a parallel_for that ran everything on the caller fails here (it would
 * pass the cover test above), while a real pool passes however loaded the
 * machine is: a worker only has to be scheduled once within 10 s. */
struct who {
    atomic_int seen[MAX_THREADS];
    atomic_int distinct;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void wait_for_company(void *ctx, int64_t begin, int64_t end, int thread)
{
    struct who *w = ctx;
    if (atomic_fetch_add(&w->seen[thread], (int)(end - begin)) == 0)
        atomic_fetch_add(&w->distinct, 1);
    const double t0 = now_s();
    while (atomic_load(&w->distinct) < 2 && now_s() - t0 < 10.0)
        sched_yield();
}

static void test_work_is_shared(void **state)
{
    (void)state;
    qp_threadpool *tp = qp_threadpool_create(4);
    assert_non_null(tp);
    struct who w;
    memset(&w, 0, sizeof w);
    qp_threadpool_parallel_for(tp, 4000, wait_for_company, &w);
    int total = 0, threads_used = 0;
    for (int t = 0; t < MAX_THREADS; t++) {
        total += atomic_load(&w.seen[t]);
        threads_used += atomic_load(&w.seen[t]) > 0;
    }
    assert_int_equal(total, 4000);
    assert_true(threads_used >= 2);
    qp_threadpool_free(tp);
}

/* The pool still runs matmuls after parallel_for calls (both take the
 * pool's call lock; a lock left held would hang here). */
static void test_mixed_with_matmul(void **state)
{
    (void)state;
    qp_threadpool *tp = qp_threadpool_create(3);
    assert_non_null(tp);
    enum { M = 64, K = 64, N = 8 };
    static float W[M * K], X[N * K], Y[N * M];
    for (int i = 0; i < M * K; i++)
        W[i] = (float)((i * 7) % 13) - 6.0f;
    for (int i = 0; i < N * K; i++)
        X[i] = (float)((i * 5) % 11) - 5.0f;
    for (int rep = 0; rep < 5; rep++) {
        check_cover(tp, 100);
        qp_error err = {0};
        assert_int_equal(qp_matmul(qp_kernels_default(), tp, QP_TYPE_F32, W, M, K, X, N, Y, &err),
                         QP_OK);
        /* integers below 2^24: the float products are exact */
        for (int j = 0; j < N; j++)
            for (int i = 0; i < M; i++) {
                double want = 0;
                for (int k = 0; k < K; k++)
                    want += (double)W[i * K + k] * X[j * K + k];
                assert_float_equal(Y[j * M + i], want, 0.0);
            }
    }
    qp_threadpool_free(tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_pool_inline),
        cmocka_unit_test(test_pools_cover_exactly_once),
        cmocka_unit_test(test_work_is_shared),
        cmocka_unit_test(test_mixed_with_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
