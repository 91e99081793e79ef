/* common/membw.h - this machine's memory read bandwidth, and its cache size.
 *
 * A weight-streaming kernel (a matvec reads every weight once and does two
 * flops per weight) cannot go faster than the memory system delivers bytes,
 * so the kernel benchmark reports its weight traffic as a percentage of a
 * streaming read measured here, on the same machine, in the same run. The
 * measurement is the read half of STREAM: threads read disjoint slices of a
 * buffer much larger than the last-level cache with wide loads and a cheap
 * reduction, so the loop is limited by DRAM and not by arithmetic.
 */
#ifndef QP_COMMON_MEMBW_H
#define QP_COMMON_MEMBW_H

#include <stddef.h>

#include "error.h"

/* Fallback last-level cache size when sysfs does not say (32 MiB covers the
 * L3 of most desktop and many server parts, so buffers sized from it are
 * DRAM-resident on almost any machine). */
#define QP_LLC_FALLBACK_BYTES ((size_t)32 << 20)

/* Size in bytes of the largest data or unified cache listed under
 * `dir`/index* (each with files "type" and "size", e.g. "Unified" and
 * "8192K"), as Linux exposes them in /sys/devices/system/cpu/cpu0/cache.
 * dir NULL means that sysfs directory. If none can be read, returns
 * QP_LLC_FALLBACK_BYTES; *found (may be NULL) says which happened. */
size_t qp_llc_bytes(const char *dir, int *found);

typedef struct qp_membw_result {
    double best_gbs;     /* fastest repetition, 1e9 bytes per second */
    double median_gbs;   /* median repetition */
    size_t bytes;        /* bytes read per repetition (all threads together) */
    int threads;
    int reps;
    const char *method;  /* "avx2" (256-bit loads) or "c" (compiler-vectorized) */
} qp_membw_result;

/* Allocates `bytes` aligned to 2 MiB (the size rounded up to that), with
 * huge_pages advised for transparent huge pages (madvise; nothing changes
 * where THP is off), without touching it. Free with free(). NULL if out of
 * memory or bytes is 0. */
void *qp_huge_alloc(size_t bytes, int huge_pages);

/* Allocates `bytes` (rounded up to 64) aligned to 2 MiB and writes every
 * byte, so the pages are really backed (reading untouched anonymous memory
 * reads the shared zero page, which is cached and far too fast). With
 * huge_pages, asks for transparent huge pages (madvise): fewer TLB misses,
 * the best case the bandwidth test wants; without, ordinary pages, as a
 * model mmap'd from the page cache (llama.cpp) or a plain malloc gets when
 * THP is in "madvise" mode. Free with free(). NULL if out of memory. */
void *qp_membw_alloc(size_t bytes, int huge_pages);

/* Reads buf[0..bytes-1] `reps` times with n_threads threads (the calling
 * thread and n_threads - 1 helpers, each reading a contiguous 1/n_threads
 * slice), after one untimed pass; a repetition is timed from the moment all
 * threads are released to the moment the last one finishes. buf must be
 * 64-byte aligned, bytes >= 64 * n_threads, 1 <= n_threads <= 256,
 * reps >= 1. QP_ERR_INPUT for bad arguments, QP_ERR_RUNTIME if a thread
 * cannot be created. */
qp_status qp_membw_read(const void *buf, size_t bytes, int n_threads, int reps,
                        qp_membw_result *out, qp_error *err);

#endif
