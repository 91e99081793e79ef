/* kernels/dispatch.c - which kernel variant runs: CPU feature probes, the
 * table of named variants, the QPROF_KERNELS override, and the single-row
 * entry points of kernels.h.
 *
 * Design (libjpeg-turbo's jsimd.c, OpenBLAS's dynamic.c): features are read
 * once at run time, so one x86-64 binary runs on any x86-64 CPU - one without
 * AVX2 simply gets "scalar". A feature counts only if the CPU has it (cpuid)
 * AND the OS saves the register state it needs across context switches
 * (xgetbv: XCR0), which ggml's own probe skips. This file is compiled without
 * SIMD flags and holds no SIMD instruction; the only output the library ever
 * prints is the fallback warning below, on stderr, as OpenBLAS does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define QP_X86 1
#endif

/* ======================================================================== */
/* CPU feature probes                                                       */
/* ======================================================================== */

#ifdef QP_X86
/* XCR0 read with the raw instruction: _xgetbv() needs -mxsave, which this
 * file must not be compiled with. Only valid once cpuid says OSXSAVE. */
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

struct x86_features {
    int avx2, fma, f16c;                           /* CPU */
    int avx512f, avx512bw, avx512vl, avx512dq, vnni; /* CPU */
    int os_ymm, os_zmm;                            /* OS saves the state */
};

static struct x86_features probe_x86(void)
{
    struct x86_features f;
    memset(&f, 0, sizeof f);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return f;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    if (osxsave) {
        const uint64_t xcr0 = read_xcr0();
        /* bits 1,2: SSE and AVX (YMM upper halves) state */
        f.os_ymm = avx && (xcr0 & 0x6) == 0x6;
        /* bits 5,6,7: opmask, ZMM0-15 upper halves, ZMM16-31 */
        f.os_zmm = f.os_ymm && (xcr0 & 0xE0) == 0xE0;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = (b >> 5) & 1;
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        f.vnni = (c >> 11) & 1;
    }
    return f;
}
#endif

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int has_avx2, has_avx512;

static void probe_cpu(void)
{
#ifdef QP_X86
    const struct x86_features f = probe_x86();
    has_avx2 = f.os_ymm && f.avx2 && f.fma && f.f16c;
    has_avx512 = has_avx2 && f.os_zmm && f.avx512f && f.avx512bw && f.avx512vl &&
                 f.avx512dq && f.vnni;
#endif
}

int qp_cpu_usable_scalar(void) { return 1; }
int qp_cpu_usable_avx2(void) { pthread_once(&probe_once, probe_cpu); return has_avx2; }
int qp_cpu_usable_avx512(void) { pthread_once(&probe_once, probe_cpu); return has_avx512; }

/* ======================================================================== */
/* The variant tables                                                       */
/* ======================================================================== */

/* Every variant compiled into this binary, scalar first (qp_kernels_all's
 * promise); the order is also the order of the "known:" list in messages. */
static void (*const variant_init[])(struct qp_kernels *) = {
    qp_kernels_fill_scalar,
#ifdef QP_X86
    qp_kernels_init_avx2,
    qp_kernels_init_avx512,
#endif
#if defined(__aarch64__) /* arm/neon_base.c; the Makefile builds kernels/arm/ there */
    qp_kernels_init_neon,
#endif
};
#define N_VARIANTS ((int)(sizeof variant_init / sizeof variant_init[0]))

static struct qp_kernels variants[N_VARIANTS]; /* filled once by init_tables */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    for (int i = 0; i < N_VARIANTS; i++)
        variant_init[i](&variants[i]);
}

int qp_kernels_all(const qp_kernels **out, int max)
{
    pthread_once(&tables_once, init_tables);
    for (int i = 0; i < N_VARIANTS && i < max; i++)
        out[i] = &variants[i];
    return N_VARIANTS;
}

const char *qp_kernels_name(const qp_kernels *v) { return v->name; }
const char *qp_kernels_describe(const qp_kernels *v) { return v->describe; }
int qp_kernels_usable(const qp_kernels *v) { return v->usable(); }

int qp_kernels_accelerates(const qp_kernels *v, enum qp_type t)
{
    if ((int)t < 0 || t >= QP_TYPE_COUNT || !v->w[t].vec_dot)
        return 0;
    return v->w[t].accelerated;
}

/* A variant by name if compiled in and usable; else NULL, *unusable telling
 * "compiled in but this CPU cannot run it" from "unknown". */
static const struct qp_kernels *find_variant(const char *name, int *unusable)
{
    pthread_once(&tables_once, init_tables);
    *unusable = 0;
    for (int i = 0; i < N_VARIANTS; i++) {
        if (strcmp(variants[i].name, name) == 0) {
            if (variants[i].usable())
                return &variants[i];
            *unusable = 1;
            return NULL;
        }
    }
    return NULL;
}

static void known_names(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_VARIANTS && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", variants[i].name);
}

const qp_kernels *qp_kernels_by_name(const char *name, qp_error *err)
{
    if (!name || !*name) {
        qp_error_set(err, QP_ERR_INPUT, NULL, -1, "empty kernel variant name");
        return NULL;
    }
    int unusable;
    const struct qp_kernels *v = find_variant(name, &unusable);
    if (v)
        return v;
    char known[128];
    known_names(known, sizeof known);
    if (unusable)
        qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                     "kernel variant '%s' is not supported by this CPU", name);
    else
        qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                     "unknown kernel variant '%s' (compiled in: %s)", name, known);
    return NULL;
}

/* The best usable variant: highest rank among usable ones. */
static const struct qp_kernels *best_variant(void)
{
    pthread_once(&tables_once, init_tables);
    const struct qp_kernels *best = &variants[0];
    for (int i = 1; i < N_VARIANTS; i++)
        if (variants[i].usable() && variants[i].rank > best->rank)
            best = &variants[i];
    return best;
}

/* The default is re-resolved when QPROF_KERNELS changes (tests and tools set
 * it at run time), and the warning is printed once per distinct bad value. */
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static char default_env[64];          /* the QPROF_KERNELS value last resolved */
static int default_valid;             /* default_choice is set */
static const struct qp_kernels *default_choice;

const qp_kernels *qp_kernels_default(void)
{
    const char *env = getenv("QPROF_KERNELS");
    if (!env)
        env = "";
    pthread_mutex_lock(&default_lock);
    if (!default_valid || strncmp(env, default_env, sizeof default_env) != 0) {
        const struct qp_kernels *best = best_variant();
        const struct qp_kernels *choice = best;
        if (*env) {
            qp_error e;
            qp_error_clear(&e);
            const struct qp_kernels *v = qp_kernels_by_name(env, &e);
            if (v)
                choice = v;
            else /* the one message the library prints (cf. OpenBLAS) */
                fprintf(stderr, "qprof: warning: QPROF_KERNELS=%s: %s; using '%s'\n",
                        env, e.msg, best->name);
        }
        snprintf(default_env, sizeof default_env, "%s", env);
        default_choice = choice;
        default_valid = 1;
    }
    const struct qp_kernels *v = default_choice;
    pthread_mutex_unlock(&default_lock);
    return v;
}

/* ======================================================================== */
/* Types, pairing, single rows                                              */
/* ======================================================================== */

int qp_kernels_block(int t, int64_t *block_size, size_t *block_bytes)
{
    int64_t bs;
    size_t bb;
    switch (t) {
    case QP_TYPE_F32: bs = 1; bb = 4; break;
    case QP_TYPE_F16: bs = 1; bb = 2; break;
    case QP_TYPE_BF16: bs = 1; bb = 2; break;
    case QP_TYPE_Q4_0: bs = QK4_0; bb = sizeof(block_q4_0); break;
    case QP_TYPE_Q4_1: bs = QK4_1; bb = sizeof(block_q4_1); break;
    case QP_TYPE_Q5_0: bs = QK5_0; bb = sizeof(block_q5_0); break;
    case QP_TYPE_Q5_1: bs = QK5_1; bb = sizeof(block_q5_1); break;
    case QP_TYPE_Q8_0: bs = QK8_0; bb = sizeof(block_q8_0); break;
    case QP_TYPE_Q8_1: bs = QK8_1; bb = sizeof(block_q8_1); break;
    case QP_TYPE_Q2_K: bs = QK_K; bb = sizeof(block_q2_K); break;
    case QP_TYPE_Q3_K: bs = QK_K; bb = sizeof(block_q3_K); break;
    case QP_TYPE_Q4_K: bs = QK_K; bb = sizeof(block_q4_K); break;
    case QP_TYPE_Q5_K: bs = QK_K; bb = sizeof(block_q5_K); break;
    case QP_TYPE_Q6_K: bs = QK_K; bb = sizeof(block_q6_K); break;
    case QP_TYPE_Q8_K: bs = QK_K; bb = sizeof(block_q8_K); break;
    default: return 0;
    }
    if (block_size)
        *block_size = bs;
    if (block_bytes)
        *block_bytes = bb;
    return 1;
}

int qp_kernels_can_run(int t)
{
    const qp_type_traits *tr = qp_type_info(t);
    return tr && tr->can_quantize && qp_act_type((enum qp_type)t) >= 0;
}

int qp_act_type(enum qp_type w)
{
    switch (w) {
    case QP_TYPE_Q4_0:
    case QP_TYPE_Q5_0:
    case QP_TYPE_Q8_0: return QP_TYPE_Q8_0;
    case QP_TYPE_Q4_1:
    case QP_TYPE_Q5_1: return QP_TYPE_Q8_1;
    case QP_TYPE_Q2_K:
    case QP_TYPE_Q3_K:
    case QP_TYPE_Q4_K:
    case QP_TYPE_Q5_K:
    case QP_TYPE_Q6_K: return QP_TYPE_Q8_K;
    case QP_TYPE_F32:
    case QP_TYPE_F16:
    case QP_TYPE_BF16: return QP_TYPE_F32;
    default: return -1;
    }
}

size_t qp_kernels_row_bytes(int t, int64_t k)
{
    int64_t bs;
    size_t bb;
    if (k < 0 || !qp_kernels_block(t, &bs, &bb) || k % bs != 0)
        return 0;
    const uint64_t nb = (uint64_t)(k / bs);
    if (nb > SIZE_MAX / bb)
        return 0;
    return (size_t)nb * bb;
}

size_t qp_act_row_size(enum qp_type w, int64_t k)
{
    const int a = qp_act_type(w);
    if (a < 0)
        return 0;
    /* the activation row must cover the weight row: its block size divides
     * the weight's (32 | 32, 256 | 256, 1 | 1), so k works for both */
    return qp_kernels_row_bytes(a, k);
}

void qp_quantize_act(const qp_kernels *v, enum qp_type w, const float *x, void *xq, int64_t k)
{
    const int a = qp_act_type(w);
    if (a < 0)
        return;
    v->quantize_act[a](x, xq, k);
}

void qp_dequantize(const qp_kernels *v, enum qp_type t, const void *x, float *y, int64_t n)
{
    if ((int)t >= 0 && t < QP_TYPE_COUNT && v->dequant[t])
        v->dequant[t](x, y, n);
}

float qp_vec_dot(const qp_kernels *v, enum qp_type w, int64_t k, const void *wrow, const void *xq)
{
    if ((int)w < 0 || w >= QP_TYPE_COUNT || !v->w[w].vec_dot)
        return 0.0f;
    return v->w[w].vec_dot(k, wrow, xq);
}
