/* bench/membw.c - streaming read bandwidth and last-level cache size.
 *
 * The read loop exists twice: with 256-bit AVX2 loads (compiled for AVX2 by
 * a target attribute on that one function, zstd's technique, so this file
 * needs no -mavx2 and the rest of it runs on any x86-64), and in plain C
 * that the compiler vectorizes with the baseline SSE2. The AVX2 one is
 * chosen at run time when the CPU has AVX2. Both XOR the data into eight
 * independent accumulators: XOR is a one-cycle operation with no
 * carried latency worth the name, so the loop is load-bound, and the result
 * is stored to a volatile so the compiler cannot drop the loads.
 */
#include "bench.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define QP_MEMBW_AVX2 1
#endif

/* ======================================================================== */
/* Last-level cache size from sysfs                                         */
/* ======================================================================== */

/* Reads the first line of dir/name into buf; 0 on success. */
static int read_line(const char *dir, const char *name, char *buf, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    const int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* "8192K", "32M", "512" (bytes) -> bytes; 0 if unparsable. */
static size_t parse_cache_size(const char *s)
{
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    switch (*end) {
    case 'K': case 'k': return (size_t)v << 10;
    case 'M': case 'm': return (size_t)v << 20;
    case 'G': case 'g': return (size_t)v << 30;
    case '\0': return (size_t)v;
    default: return 0;
    }
}

size_t qp_llc_bytes(const char *dir, int *found)
{
    if (!dir)
        dir = "/sys/devices/system/cpu/cpu0/cache";
    size_t best = 0;
    DIR *d = opendir(dir);
    if (d) {
        const struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, "index", 5) != 0)
                continue;
            char sub[1024], type[64], size[64];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            /* the instruction cache never holds weights */
            if (read_line(sub, "type", type, sizeof type) != 0 || strcmp(type, "Instruction") == 0)
                continue;
            if (read_line(sub, "size", size, sizeof size) != 0)
                continue;
            const size_t b = parse_cache_size(size);
            if (b > best)
                best = b;
        }
        closedir(d);
    }
    if (found)
        *found = best > 0;
    return best > 0 ? best : QP_LLC_FALLBACK_BYTES;
}

/* ======================================================================== */
/* Buffer                                                                   */
/* ======================================================================== */

void *qp_membw_alloc(size_t bytes, int huge_pages)
{
    void *p = qp_huge_alloc(bytes, huge_pages);
    /* a non-zero pattern over every page (qp_huge_alloc rounds up to them):
     * the kernel backs each on first write */
    if (p)
        memset(p, 0x5A, (bytes + QP_HUGE_PAGE_BYTES - 1) & ~(QP_HUGE_PAGE_BYTES - 1));
    return p;
}

/* ======================================================================== */
/* Read loops                                                               */
/* ======================================================================== */

static volatile uint64_t membw_sink; /* keeps the loads observable */

/* Plain C: eight 64-bit lanes; at -O2 GCC and Clang turn this into 128-bit
 * (SSE2) XORs of two loads each. bytes is a multiple of 64. */
static uint64_t read_c(const void *buf, size_t bytes)
{
    const uint64_t *p = buf;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t i = 0; i < bytes / 8; i += 8) {
        a0 ^= p[i + 0];
        a1 ^= p[i + 1];
        a2 ^= p[i + 2];
        a3 ^= p[i + 3];
        a4 ^= p[i + 4];
        a5 ^= p[i + 5];
        a6 ^= p[i + 6];
        a7 ^= p[i + 7];
    }
    return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

#ifdef QP_MEMBW_AVX2
/* Two 64-byte cache lines per iteration, four 256-bit loads into four
 * accumulators: Zen 2 and Skylake issue two loads a cycle, so the loop can
 * consume 64 bytes a cycle, an order of magnitude above DRAM bandwidth per
 * core. bytes is a multiple of 64; buf is 64-byte aligned. */
__attribute__((target("avx2"))) static uint64_t read_avx2(const void *buf, size_t bytes)
{
    const __m256i *p = buf;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const size_t n = bytes / 32; /* 256-bit words, a multiple of 2 */
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256(p + i + 0));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256(p + i + 1));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256(p + i + 2));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256(p + i + 3));
    }
    for (; i < n; i++) /* the last odd cache line */
        a0 = _mm256_xor_si256(a0, _mm256_load_si256(p + i));
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    const __m128i h = _mm_xor_si128(_mm256_castsi256_si128(a0), _mm256_extracti128_si256(a0, 1));
    return (uint64_t)_mm_cvtsi128_si64(h) ^ (uint64_t)_mm_extract_epi64(h, 1);
}
#endif

typedef uint64_t (*read_fn)(const void *, size_t);

static read_fn pick_reader(const char **method)
{
#ifdef QP_MEMBW_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        *method = "avx2";
        return read_avx2;
    }
#endif
    *method = "c";
    return read_c;
}

/* ======================================================================== */
/* Threads                                                                  */
/* ======================================================================== */

struct membw_job {
    const char *buf;
    size_t bytes;
    int n_threads, reps;
    read_fn reader;
    pthread_barrier_t start, go, done;
    double *times;     /* [reps + 1] seconds; entry 0 is the untimed pass */
    /* launch gate: helpers wait here until every thread exists (launch = 1)
     * or one could not be created (launch = -1: they return at once), so a
     * failed pthread_create never leaves a thread stuck at a barrier */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate;
    int launch;
};

struct membw_thread {
    struct membw_job *job;
    int ith;
};

/* Thread ith reads slice ith of the buffer (cache-line aligned bounds) once
 * per repetition; thread 0 keeps the clock. */
static void membw_thread_run(struct membw_job *j, int ith)
{
    const size_t lines = j->bytes / 64;
    const size_t lo = lines * (size_t)ith / (size_t)j->n_threads * 64;
    const size_t hi = lines * (size_t)(ith + 1) / (size_t)j->n_threads * 64;
    uint64_t acc = 0;
    for (int r = 0; r <= j->reps; r++) {
        pthread_barrier_wait(&j->start);
        double t0 = 0.0;
        if (ith == 0)
            t0 = qp_now();
        /* the second barrier releases everyone after the clock started */
        pthread_barrier_wait(&j->go);
        acc ^= j->reader(j->buf + lo, hi - lo);
        pthread_barrier_wait(&j->done);
        if (ith == 0)
            j->times[r] = qp_now() - t0;
    }
    membw_sink ^= acc;
}

static void *membw_thread_main(void *p)
{
    const struct membw_thread *t = p;
    struct membw_job *j = t->job;
    pthread_mutex_lock(&j->gate_lock);
    while (j->launch == 0)
        pthread_cond_wait(&j->gate, &j->gate_lock);
    const int go = j->launch > 0;
    pthread_mutex_unlock(&j->gate_lock);
    if (go)
        membw_thread_run(j, t->ith);
    return NULL;
}

qp_status qp_membw_read(const void *buf, size_t bytes, int n_threads, int reps,
                        qp_membw_result *out, qp_error *err)
{
    memset(out, 0, sizeof *out);
    if (!buf || ((uintptr_t)buf & 63) != 0)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bandwidth buffer must be 64-byte aligned");
    if (n_threads < 1 || n_threads > 256 || reps < 1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bad bandwidth arguments (%d threads, %d reps)",
                            n_threads, reps);
    bytes &= ~(size_t)63;
    if (bytes < (size_t)64 * (size_t)n_threads)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bandwidth buffer of %zu bytes is too small", bytes);

    struct membw_job job;
    memset(&job, 0, sizeof job);
    job.buf = buf;
    job.bytes = bytes;
    job.n_threads = n_threads;
    job.reps = reps;
    job.reader = pick_reader(&out->method);
    /* times[0..reps]: seconds per pass, pass 0 untimed (warm-up) */
    job.times = calloc((size_t)reps + 1, sizeof *job.times);
    /* tids[1..n_threads-1], args[1..n_threads-1]: the helpers (index 0 unused) */
    pthread_t *tids = calloc((size_t)n_threads, sizeof *tids);
    struct membw_thread *args = calloc((size_t)n_threads, sizeof *args);
    if (!job.times || !tids || !args) {
        free(job.times);
        free(tids);
        free(args);
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    }
    pthread_barrier_init(&job.start, NULL, (unsigned)n_threads);
    pthread_barrier_init(&job.go, NULL, (unsigned)n_threads);
    pthread_barrier_init(&job.done, NULL, (unsigned)n_threads);
    pthread_mutex_init(&job.gate_lock, NULL);
    pthread_cond_init(&job.gate, NULL);

    int started = 0;
    qp_status st = QP_OK;
    for (int i = 1; i < n_threads; i++) {
        args[i].job = &job;
        args[i].ith = i;
        if (pthread_create(&tids[i], NULL, membw_thread_main, &args[i]) != 0) {
            st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "cannot create bandwidth thread %d", i);
            break;
        }
        started++;
    }
    pthread_mutex_lock(&job.gate_lock);
    job.launch = st == QP_OK ? 1 : -1;
    pthread_cond_broadcast(&job.gate);
    pthread_mutex_unlock(&job.gate_lock);
    if (st == QP_OK)
        membw_thread_run(&job, 0);
    for (int i = 1; i <= started; i++)
        pthread_join(tids[i], NULL);

    if (st == QP_OK) {
        /* gbs[0..reps-1]: bandwidth of each timed pass */
        double *gbs = calloc((size_t)reps, sizeof *gbs);
        qp_stats s;
        if (!gbs) {
            st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        } else {
            for (int r = 0; r < reps; r++) {
                const double t = job.times[r + 1] > 1e-9 ? job.times[r + 1] : 1e-9;
                gbs[r] = (double)bytes / t / 1e9;
            }
            st = qp_stats_compute(gbs, reps, &s, err);
            if (st == QP_OK) {
                out->best_gbs = s.max;
                out->median_gbs = s.median;
                out->bytes = bytes;
                out->threads = n_threads;
                out->reps = reps;
            }
            free(gbs);
        }
    }
    pthread_barrier_destroy(&job.start);
    pthread_barrier_destroy(&job.go);
    pthread_barrier_destroy(&job.done);
    pthread_mutex_destroy(&job.gate_lock);
    pthread_cond_destroy(&job.gate);
    free(job.times);
    free(tids);
    free(args);
    return st;
}
