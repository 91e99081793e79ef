/* common/alloc.c - memory aligned to (and advised for) 2 MiB huge pages:
 * the packed weights (kernels/pack.c) and the bandwidth test's buffers
 * (bench/membw.c) stream through it, where 4 KiB pages cost a TLB walk
 * every 4 KiB. */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>


void *qp_huge_alloc(size_t bytes, int huge_pages)
{
    if (bytes == 0 || bytes > SIZE_MAX - QP_HUGE_PAGE_BYTES)
        return NULL;
    /* aligned_alloc wants a size that is a multiple of the alignment */
    const size_t rounded = (bytes + QP_HUGE_PAGE_BYTES - 1) & ~(QP_HUGE_PAGE_BYTES - 1);
    void *p = aligned_alloc(QP_HUGE_PAGE_BYTES, rounded);
#ifdef MADV_HUGEPAGE
    /* advice only: transparent huge pages may be off, which is fine */
    if (p && huge_pages)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
#else
    (void)huge_pages;
#endif
    return p;
}
