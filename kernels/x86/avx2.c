/* kernels/x86/avx2.c - the "avx2" variant (AVX2+FMA+F16C). Work in progress. */
#include "../kernels_impl.h"

void qp_kernels_init_avx2(struct qp_kernels *t)
{
    qp_kernels_fill_scalar(t);
    t->name = "avx2";
    t->describe = "AVX2+FMA+F16C";
    t->usable = qp_cpu_usable_avx2;
    t->rank = 10;
}
