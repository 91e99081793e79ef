/* kernels/x86/avx512.c - the "avx512" variant. Work in progress. */
#include "../kernels_impl.h"

void qp_kernels_init_avx512(struct qp_kernels *t)
{
    qp_kernels_fill_scalar(t);
    t->name = "avx512";
    t->describe = "AVX-512F/BW/VL/DQ+VNNI";
    t->usable = qp_cpu_usable_avx512;
    t->rank = 20;
}
