/* kernels/threadpool.c - a small persistent pthread pool.
 *
 * Threads are created once by qp_threadpool_create and reused by every
 * matmul: a matvec of an 8B model's FFN takes about a millisecond, so
 * creating threads per call (tens of microseconds each) would be a visible
 * tax. A job runs fn(arg, ith, nth) on all nth threads at once, the calling
 * thread being ith = 0, and returns when every thread has returned.
 *
 * Hand-off: the caller bumps `generation`; a worker that finished its last
 * job spins on it for a short while (a matmul issues two jobs back to back:
 * quantize X, then the product) and then sleeps on a condition variable, so
 * an idle pool costs no CPU on this shared machine. Completion is the mirror
 * image: `pending` counts workers still running, the caller spins briefly,
 * then sleeps on `done`.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

/* Spin iterations before sleeping: ~ tens of microseconds, long enough to
 * catch the next job of the same matmul, short enough not to steal a core
 * from other processes when the pool is idle. */
#define QP_POOL_SPIN 20000

/* One spin step. Every 64th step yields the core: with more threads than
 * cores (a pool of 4 on a 2-core machine) a pure spin would keep the thread
 * that has the work to do off the CPU for a whole time slice. */
static inline void cpu_relax(int spin)
{
    if ((spin & 63) == 63) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* SSE2, baseline on x86-64 */
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

struct qp_threadpool {
    int n_threads;            /* workers + the calling thread */
    pthread_t *workers;       /* n_threads - 1 of them */
    pthread_mutex_t call_lock; /* held from acquire to release: one job at a time */

    pthread_mutex_t lock;     /* guards the sleeps below and `stop` */
    pthread_cond_t wake;      /* workers sleep here between jobs */
    pthread_cond_t done;      /* the caller sleeps here until pending == 0 */
    atomic_uint generation;   /* bumped once per job */
    atomic_int pending;       /* workers still running the current job */
    int stop;                 /* set by free: workers exit */

    qp_task_fn fn;            /* the current job, published before generation */
    void *arg;

    void *work;               /* work buffer kept between calls, 64-aligned */
    size_t work_size;
};

struct worker_start {
    qp_threadpool *tp;
    int ith;
};

static void *worker_main(void *p)
{
    struct worker_start start = *(struct worker_start *)p;
    free(p);
    qp_threadpool *tp = start.tp;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&tp->generation, memory_order_acquire);
        for (int spin = 0; g == seen && spin < QP_POOL_SPIN; spin++) {
            cpu_relax(spin);
            g = atomic_load_explicit(&tp->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&tp->lock);
            while ((g = atomic_load(&tp->generation)) == seen && !tp->stop)
                pthread_cond_wait(&tp->wake, &tp->lock);
            const int stop = tp->stop;
            pthread_mutex_unlock(&tp->lock);
            if (stop)
                return NULL;
        }
        seen = g;
        tp->fn(tp->arg, start.ith, tp->n_threads);
        if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->lock);
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->lock);
        }
    }
}

qp_threadpool *qp_threadpool_create(int n_threads)
{
    if (n_threads < 1 || n_threads > QP_MAX_THREADS)
        return NULL;
    qp_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp)
        return NULL;
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->call_lock, NULL);
    pthread_mutex_init(&tp->lock, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
        if (!tp->workers)
            goto fail;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_start *s = malloc(sizeof *s);
        if (!s)
            goto fail_threads;
        s->tp = tp;
        s->ith = i;
        if (pthread_create(&tp->workers[i - 1], NULL, worker_main, s) != 0) {
            free(s);
            goto fail_threads;
        }
        continue;
    fail_threads:
        tp->n_threads = i; /* free() joins the i - 1 workers started so far */
        qp_threadpool_free(tp);
        return NULL;
    }
    return tp;
fail:
    free(tp->workers);
    free(tp);
    return NULL;
}

void qp_threadpool_free(qp_threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->lock);
    tp->stop = 1;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->lock);
    for (int i = 1; i < tp->n_threads; i++)
        pthread_join(tp->workers[i - 1], NULL);
    pthread_mutex_destroy(&tp->call_lock);
    pthread_mutex_destroy(&tp->lock);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp->workers);
    free(tp->work);
    free(tp);
}

int qp_threadpool_size(const qp_threadpool *tp) { return tp ? tp->n_threads : 1; }

void *qp_threadpool_acquire(qp_threadpool *tp, size_t work_bytes)
{
    pthread_mutex_lock(&tp->call_lock);
    /* round up to whole cache lines (aligned_alloc wants a multiple of the
     * alignment); never zero, so a NULL return always means failure */
    const size_t want = (work_bytes + 63) / 64 * 64 + 64;
    if (want < work_bytes) { /* overflow */
        pthread_mutex_unlock(&tp->call_lock);
        return NULL;
    }
    if (tp->work_size < want) {
        free(tp->work);
        tp->work = aligned_alloc(64, want);
        tp->work_size = tp->work ? want : 0;
        if (!tp->work) {
            pthread_mutex_unlock(&tp->call_lock);
            return NULL;
        }
    }
    return tp->work;
}

void qp_threadpool_release(qp_threadpool *tp) { pthread_mutex_unlock(&tp->call_lock); }

void qp_threadpool_run(qp_threadpool *tp, qp_task_fn fn, void *arg)
{
    if (!tp || tp->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store_explicit(&tp->pending, tp->n_threads - 1, memory_order_relaxed);
    /* the release increment publishes fn/arg/pending to spinning workers;
     * the lock orders it with workers about to sleep */
    pthread_mutex_lock(&tp->lock);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->lock);

    fn(arg, 0, tp->n_threads);

    for (int spin = 0; spin < QP_POOL_SPIN; spin++) {
        if (atomic_load_explicit(&tp->pending, memory_order_acquire) == 0)
            return;
        cpu_relax(spin);
    }
    pthread_mutex_lock(&tp->lock);
    while (atomic_load_explicit(&tp->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&tp->done, &tp->lock);
    pthread_mutex_unlock(&tp->lock);
}

/* ---- parallel-for: the public face of the pool ---------------------------- */

/* One parallel_for call. `next` is the first item not yet handed out; each
 * thread takes `grain` items at a time with one atomic add until none are
 * left. */
struct pfor_job {
    void (*fn)(void *ctx, int64_t begin, int64_t end, int thread);
    void *ctx;
    int64_t n, grain;
    atomic_llong next;
};

static void pfor_task(void *arg, int ith, int nth)
{
    (void)nth;
    struct pfor_job *j = arg;
    for (;;) {
        const int64_t b = (int64_t)atomic_fetch_add_explicit(&j->next, j->grain,
                                                             memory_order_relaxed);
        if (b >= j->n)
            return;
        const int64_t e = b + j->grain < j->n ? b + j->grain : j->n;
        j->fn(j->ctx, b, e, ith);
    }
}

void qp_threadpool_parallel_for(qp_threadpool *tp, int64_t n,
                                void (*fn)(void *ctx, int64_t begin, int64_t end, int thread),
                                void *ctx)
{
    if (n <= 0)
        return;
    if (!tp || tp->n_threads == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    /* four chunks per thread: enough to even out items of unequal cost (or
     * a thread descheduled on a busy machine) without an atomic per item */
    const int64_t chunks = 4 * (int64_t)tp->n_threads;
    struct pfor_job j = {.fn = fn, .ctx = ctx, .n = n, .grain = (n + chunks - 1) / chunks};
    atomic_init(&j.next, 0);
    /* call_lock as in acquire, without the work buffer (nothing to allocate,
     * so nothing can fail) */
    pthread_mutex_lock(&tp->call_lock);
    qp_threadpool_run(tp, pfor_task, &j);
    pthread_mutex_unlock(&tp->call_lock);
}
