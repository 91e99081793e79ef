/* tests/emu/avx512_emu.h - the AVX-512 intrinsics that kernels/x86/avx512.c
 * uses, written in plain C over AVX2 types, so that the avx512 variant's
 * LOGIC runs and is tested on a CPU without AVX-512 (`make test-avx512-emu`,
 * in CI). Force-included (-include) before avx512.c and x86_tables.c are
 * compiled into build-emu512/; every _mm512_* name avx512.c uses is a macro
 * onto a function here, and qp_cpu_usable_avx512 answers 1.
 *
 * What this proves: the kernels' arithmetic (nibble and scale unpacking,
 * lane layouts, accumulation) gives the scalar reference's results, through
 * the same test_kernels.c as every real variant. What it cannot: that the
 * real instructions behave as emulated here (each function follows the
 * Intel intrinsics guide's pseudo-code: saturation in vpmaddubsw, wrapping
 * s32 adds in vpdpbusd/vpdpwssd, index bits in vpermw), or anything about
 * speed. A new intrinsic in avx512.c needs its twin here, or this build
 * fails to link with an implicit declaration error (-Werror).
 *
 * Test harness only: never part of libqprof. */
#ifndef QP_TESTS_AVX512_EMU_H
#define QP_TESTS_AVX512_EMU_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

typedef union { int8_t b[64]; uint8_t ub[64]; int16_t w[32]; int32_t d[16]; int64_t q[8]; uint64_t uq[8]; __m256i y[2]; } emu512i;
typedef union { float f[16]; __m256 y[2]; } emu512;

static inline int qp_emu_usable_avx512(void) { return 1; }

static inline emu512i emu_castsi256_si512(__m256i a) { emu512i r; memset(&r, 0xA5, sizeof r); r.y[0] = a; return r; }
static inline emu512i emu_inserti64x4(emu512i a, __m256i b, int imm) { a.y[imm & 1] = b; return a; }
static inline emu512i emu_broadcast_i64x4(__m256i a) { emu512i r; r.y[0] = a; r.y[1] = a; return r; }
static inline emu512i emu_set1_epi8(char v) { emu512i r; memset(&r, (unsigned char)v, 64); return r; }
static inline emu512i emu_set1_epi16(short v) { emu512i r; for (int i = 0; i < 32; i++) r.w[i] = v; return r; }
static inline emu512i emu_setzero_si512(void) { emu512i r; memset(&r, 0, sizeof r); return r; }
static inline emu512 emu_setzero_ps(void) { emu512 r; memset(&r, 0, sizeof r); return r; }
static inline emu512 emu_set1_ps(float v) { emu512 r; for (int i = 0; i < 16; i++) r.f[i] = v; return r; }
static inline emu512i emu_and_si512(emu512i a, emu512i b) { for (int i = 0; i < 8; i++) a.uq[i] &= b.uq[i]; return a; }
static inline emu512i emu_or_si512(emu512i a, emu512i b) { for (int i = 0; i < 8; i++) a.uq[i] |= b.uq[i]; return a; }
static inline emu512i emu_srlv_epi64(emu512i a, emu512i c) { for (int i = 0; i < 8; i++) a.uq[i] = c.uq[i] > 63 ? 0 : a.uq[i] >> c.uq[i]; return a; }
static inline emu512i emu_slli_epi16(emu512i a, unsigned n) { for (int i = 0; i < 32; i++) a.w[i] = n > 15 ? 0 : (int16_t)((uint16_t)a.w[i] << n); return a; }
static inline emu512i emu_srli_epi16(emu512i a, unsigned n) { for (int i = 0; i < 32; i++) a.w[i] = n > 15 ? 0 : (int16_t)((uint16_t)a.w[i] >> n); return a; }
static inline emu512i emu_add_epi16(emu512i a, emu512i b) { for (int i = 0; i < 32; i++) a.w[i] = (int16_t)(a.w[i] + b.w[i]); return a; }
static inline emu512i emu_loadu_si512(const void *p) { emu512i r; memcpy(&r, p, 64); return r; }
static inline emu512 emu_loadu_ps(const float *p) { emu512 r; memcpy(&r, p, 64); return r; }
static inline int16_t emu_sat16(int v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }
static inline emu512i emu_maddubs_epi16(emu512i a, emu512i b)
{
    emu512i r;
    for (int i = 0; i < 32; i++) r.w[i] = emu_sat16(a.ub[2 * i] * b.b[2 * i] + a.ub[2 * i + 1] * b.b[2 * i + 1]);
    return r;
}
static inline emu512i emu_dpwssd_epi32(emu512i acc, emu512i a, emu512i b)
{
    for (int i = 0; i < 16; i++)
        acc.d[i] = (int32_t)((uint32_t)acc.d[i] + (uint32_t)(a.w[2 * i] * b.w[2 * i]) + (uint32_t)(a.w[2 * i + 1] * b.w[2 * i + 1]));
    return acc;
}
static inline emu512i emu_permutexvar_epi16(emu512i idx, emu512i a)
{
    emu512i r;
    for (int i = 0; i < 32; i++) r.w[i] = a.w[idx.w[i] & 31];
    return r;
}
static inline emu512 emu_fmadd_ps(emu512 a, emu512 b, emu512 c) { for (int i = 0; i < 16; i++) c.f[i] = fmaf(a.f[i], b.f[i], c.f[i]); return c; }
static inline emu512 emu_add_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) a.f[i] += b.f[i]; return a; }
static inline emu512 emu_cvtepi32_ps(emu512i a) { emu512 r; for (int i = 0; i < 16; i++) r.f[i] = (float)a.d[i]; return r; }
static inline float emu_reduce_add_ps(emu512 a) { float s = 0; for (int i = 0; i < 16; i++) s += a.f[i]; return s; }
static inline emu512 emu_cvtph_ps(__m256i h) { emu512 r; uint16_t u[16]; memcpy(u, &h, 32); for (int i = 0; i < 16; i++) r.f[i] = _cvtsh_ss(u[i]); return r; }
static inline __m256i emu_dpbusd256(__m256i acc, __m256i a, __m256i b)
{
    union { __m256i v; uint8_t u[32]; int8_t s[32]; int32_t d[8]; } A, B, C;
    A.v = a; B.v = b; C.v = acc;
    for (int i = 0; i < 8; i++) {
        int32_t s = 0;
        for (int j = 0; j < 4; j++) s += A.u[4 * i + j] * B.s[4 * i + j];
        C.d[i] = (int32_t)((uint32_t)C.d[i] + (uint32_t)s);
    }
    return C.v;
}

#define __m512i emu512i
#define __m512 emu512
#define _mm512_castsi256_si512 emu_castsi256_si512
#define _mm512_inserti64x4 emu_inserti64x4
#define _mm512_broadcast_i64x4 emu_broadcast_i64x4
#define _mm512_set1_epi8 emu_set1_epi8
#define _mm512_set1_epi16 emu_set1_epi16
#define _mm512_setzero_si512 emu_setzero_si512
#define _mm512_setzero_ps emu_setzero_ps
#define _mm512_set1_ps emu_set1_ps
#define _mm512_and_si512 emu_and_si512
#define _mm512_or_si512 emu_or_si512
#define _mm512_srlv_epi64 emu_srlv_epi64
#define _mm512_slli_epi16 emu_slli_epi16
#define _mm512_srli_epi16 emu_srli_epi16
#define _mm512_add_epi16 emu_add_epi16
#define _mm512_loadu_si512 emu_loadu_si512
#define _mm512_loadu_ps emu_loadu_ps
#define _mm512_maddubs_epi16 emu_maddubs_epi16
#define _mm512_dpwssd_epi32 emu_dpwssd_epi32
#define _mm512_permutexvar_epi16 emu_permutexvar_epi16
#define _mm512_fmadd_ps emu_fmadd_ps
#define _mm512_add_ps emu_add_ps
#define _mm512_cvtepi32_ps emu_cvtepi32_ps
#define _mm512_reduce_add_ps emu_reduce_add_ps
#define _mm512_cvtph_ps emu_cvtph_ps
#undef _mm256_dpbusd_epi32
#define _mm256_dpbusd_epi32 emu_dpbusd256

#endif
