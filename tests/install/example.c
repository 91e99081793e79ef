/* tests/install/example.c - a program built against an INSTALLED libqprof,
 * the way a user builds one (docs/library.md):
 *
 *   cc example.c $(pkg-config --cflags --libs --static qprof) -o example
 *   ./example OUT.gguf           quantize a row to every type, write two
 *                                tensors with the GGUF writer, read them back
 *   ./example --read MODEL.gguf  list a file's tensors and quantize one of
 *                                its rows to q8_0
 *
 * Three modules, through their public headers only: common/ (errors, the
 * version), quant/ (the type table, reference quantize and dequantize) and
 * gguf/ (writer and reader). One line per check; exit 0 when every check
 * holds, 1 when one fails, 2 on bad usage (qprof's exit codes).
 * tests/install/test-install.sh runs it and reads its output. */
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qprof/common/common.h>
#include <qprof/gguf/gguf.h>
#include <qprof/quant/quant.h>

enum { N = 512 }; /* weights per row: a multiple of every block size (32, 256) */

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    failures += !ok;
}

/* "qprof: FILE: offset N: what is wrong", as the qprof command prints it */
static int report(const qp_error *err)
{
    char buf[1200];
    fprintf(stderr, "example: %s\n", qp_error_format(err, buf, sizeof buf));
    return 1;
}

/* RMSE of y against x over n values, relative to x's RMS */
static double rel_rmse(const float *x, const float *y, int n)
{
    double se = 0, ss = 0;
    for (int i = 0; i < n; i++) {
        se += (double)(x[i] - y[i]) * (x[i] - y[i]);
        ss += (double)x[i] * x[i];
    }
    return ss > 0 ? sqrt(se / ss) : sqrt(se / n);
}

/* Quantizes x[0..n) to type t and back; the relative RMSE, or -1 on error. */
static double round_trip(int t, const float *x, float *y, int n, void *q, qp_error *err)
{
    if (qp_quantize_row(t, x, q, n, NULL, err) != QP_OK ||
        qp_dequantize_row(t, q, y, n, err) != QP_OK)
        return -1;
    return rel_rmse(x, y, n);
}

/* The largest error a type may leave on the test row. Rounding to 2^b evenly
 * spaced levels over a row's range leaves about 0.8 / 2^b of its RMS on this
 * pattern (measured: q2_K 0.20, q4_0 0.051, q8_0 0.0034), so 3 / 2^b, b the
 * digit of "q4_K" or "iq4_nl", fails a broken quantizer (zeros give 1.0)
 * without failing a fair one. Float formats keep 11 (f16) or 8 (bf16)
 * significant bits; f32 is exact. */
static double error_limit(const qp_type_traits *tt)
{
    const char *d = tt->name + (tt->name[0] == 'i');
    if (d[0] == 'q' && d[1] >= '1' && d[1] <= '8')
        return 3 / exp2(d[1] - '0');
    if (tt->type == QP_TYPE_F16)
        return ldexp(1, -11);
    if (tt->type == QP_TYPE_BF16)
        return ldexp(1, -8);
    if (tt->type == QP_TYPE_F32)
        return 0;
    return 8 / exp2(tt->bpw); /* a type this list does not know yet */
}

static int write_and_read(const char *path)
{
    float x[N], y[N];
    /* llama.cpp's quantization test pattern (ggml tests/test-quantize-fns.cpp) */
    for (int i = 0; i < N; i++)
        x[i] = 0.1f + 2 * cosf((float)i);
    /* 2 rows each (upper bounds of the sizes), aligned for the block structs */
    static alignas(16) unsigned char q8[2 * N * 2], q4k[2 * N];
    qp_error err;
    qp_error_clear(&err);

    /* ---- the type table and the reference round trip of every type ---- */
    int known = 0, tested = 0;
    printf("types:");
    for (int t = 0; t < QP_TYPE_COUNT; t++) {
        const qp_type_traits *tt = qp_type_info(t);
        if (!tt)
            continue;
        known++;
        printf(" %s", tt->name);
    }
    printf("\n");
    alignas(16) unsigned char q[N * 4]; /* a row of N weights in any type: at most 4 bytes each (f32) */
    for (int t = 0; t < QP_TYPE_COUNT; t++) {
        const qp_type_traits *tt = qp_type_info(t);
        if (!tt || !tt->can_quantize || N % tt->block_size != 0)
            continue;
        const double e = round_trip(t, x, y, N, q, &err);
        if (e < 0)
            return report(&err);
        char what[160];
        snprintf(what, sizeof what, "%s round trip: relative RMSE %.2e (limit %.2e), %zu bytes for %d weights",
                 tt->name, e, error_limit(tt), qp_row_size(t, N), N);
        check(e <= error_limit(tt), what);
        tested++;
    }
    char what[160];
    snprintf(what, sizeof what, "%d types known, %d quantized", known, tested);
    check(known > 20 && tested >= 10, what);

    /* ---- GGUF: two tensors of two rows, written then read back ---- */
    const size_t row8 = qp_row_size(QP_TYPE_Q8_0, N), row4 = qp_row_size(QP_TYPE_Q4_K, N);
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < N; i++)
            x[i] = (float)(r + 1) * sinf(0.01f * (float)(i * (r + 3)));
        if (qp_quantize_row(QP_TYPE_Q8_0, x, q8 + r * row8, N, NULL, &err) != QP_OK ||
            qp_quantize_row(QP_TYPE_Q4_K, x, q4k + r * row4, N, NULL, &err) != QP_OK)
            return report(&err);
    }
    const int64_t ne[2] = {N, 2};
    qp_gguf_writer *w = qp_gguf_writer_new();
    if (!w) {
        fprintf(stderr, "example: out of memory\n");
        return 1;
    }
    qp_gguf_writer_set_str(w, "general.name", "qprof install example");
    qp_gguf_writer_set_str(w, "qprof.version", QPROF_VERSION);
    qp_gguf_writer_add_tensor(w, "rows.q8_0", QP_TYPE_Q8_0, 2, ne, q8, 2 * row8);
    qp_gguf_writer_add_tensor(w, "rows.q4_K", QP_TYPE_Q4_K, 2, ne, q4k, 2 * row4);
    const qp_status st = qp_gguf_writer_write(w, path, &err); /* reports the first setter error too */
    qp_gguf_writer_free(w);
    if (st != QP_OK)
        return report(&err);

    qp_gguf_file *f;
    if (qp_gguf_open(path, &f, &err) != QP_OK)
        return report(&err);
    qp_gguf_string name = {0};
    const int named = qp_gguf_get_str(f, "general.name", &name) == QP_GGUF_FOUND &&
                      strcmp(name.data, "qprof install example") == 0;
    const qp_gguf_tensor_info *a = qp_gguf_find_tensor(f, "rows.q8_0");
    const qp_gguf_tensor_info *b = qp_gguf_find_tensor(f, "rows.q4_K");
    const int same = a && b && a->type == QP_TYPE_Q8_0 && b->type == QP_TYPE_Q4_K &&
                     a->nbytes == 2 * row8 && b->nbytes == 2 * row4 &&
                     memcmp(a->data, q8, 2 * row8) == 0 && memcmp(b->data, q4k, 2 * row4) == 0;
    snprintf(what, sizeof what, "gguf round trip: %lld keys, %lld tensors (%s, %s), data identical",
             (long long)qp_gguf_n_kv(f), (long long)qp_gguf_n_tensors(f),
             a ? qp_type_info(a->type)->name : "?", b ? qp_type_info(b->type)->name : "?");
    check(named && same && qp_gguf_n_tensors(f) == 2, what);
    qp_gguf_close(f);
    return failures ? 1 : 0;
}

/* Lists a file's tensors; quantizes the first row of the first F32 tensor
 * whose rows fit q8_0's 32-blocks. */
static int read_model(const char *path)
{
    qp_error err;
    qp_error_clear(&err);
    qp_gguf_file *f;
    if (qp_gguf_open(path, &f, &err) != QP_OK)
        return report(&err);
    const int64_t n = qp_gguf_n_tensors(f);
    int done = 0;
    for (int64_t i = 0; i < n; i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        printf("tensor %-24s %-5s %lld x %lld\n", t->name, qp_type_info(t->type)->name,
               (long long)t->ne[0], (long long)t->ne[1]);
        const int64_t k = t->ne[0];
        if (done || t->type != QP_TYPE_F32 || k % 32 != 0 || k > 1 << 16)
            continue;
        float *y = malloc(sizeof(float) * (size_t)k);
        void *q = malloc(qp_row_size(QP_TYPE_Q8_0, k));
        const double e = y && q ? round_trip(QP_TYPE_Q8_0, t->data, y, (int)k, q, &err) : -1;
        free(y);
        free(q);
        if (e < 0) {
            qp_gguf_close(f);
            return report(&err);
        }
        char what[160];
        snprintf(what, sizeof what, "%s row 0 to q8_0 and back: relative RMSE %.2e", t->name, e);
        check(e < 0.01, what);
        done = 1;
    }
    char what[160];
    snprintf(what, sizeof what, "%s: %lld tensors", path, (long long)n);
    check(n > 0, what);
    qp_gguf_close(f);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    printf("libqprof %s\n", QPROF_VERSION);
    if (argc == 2 && argv[1][0] != '-')
        return write_and_read(argv[1]);
    if (argc == 3 && strcmp(argv[1], "--read") == 0)
        return read_model(argv[2]);
    fprintf(stderr, "usage: example OUT.gguf | example --read MODEL.gguf\n");
    return 2;
}
