/* tests/test_model_threads.c - the forward pass and the model's
 * quantization on a thread pool give the same bits as on one thread.
 *
 * model/forward.c cuts the FP32 products (reference linears in slices
 * of 16 outputs, attention in items of one head x 32 query rows) and
 * qp_matmul cuts the quantized ones; each piece's result depends only on
 * the piece, so the logits must not change by a single bit with the
 * thread count. Likewise qp_model_set_threads quantizes rows in parallel,
 * and every row is quantized alone, so the bytes must match.
 *
 * On stories260K (../shared): 8 heads over 4 key/value heads (GQA), 5
 * layers. 75 tokens with n_batch 64 gives two chunks (the second at pos0 =
 * 64, attending over the first's cache) and row blocks of 32, 32 and 0..
 * rows, so the causal cut of every item is exercised.
 */
#include <cblas.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "model/model.h"
#include "quant/quant.h"
#include "shared.h"

#define N_TOK 75
#define N_BATCH 64

static qp_model *open_stories(void)
{
    char path[512];
    qp_test_shared_path(path, sizeof path, "data/models/stories260K.gguf");
    qp_model *m = NULL;
    qp_error err;
    if (qp_model_open(path, &m, &err) != QP_OK)
        fail_msg("%s: %s", path, err.msg);
    return m;
}

static void make_tokens(int32_t *tok, int n, int n_vocab)
{
    uint32_t x = 12345;
    tok[0] = 1; /* BOS */
    for (int i = 1; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        tok[i] = (int32_t)(x >> 8) % n_vocab;
    }
}

/* What OpenBLAS's thread count was while the forward pass computed. */
static void note_blas_threads(const qp_hook_event *ev, void *user)
{
    if (ev->point == QP_HOOK_LINEAR)
        *(int *)user = openblas_get_num_threads();
}

/* logits[N_TOK][n_vocab] of one forward pass over the whole sequence, and
 * decode[N_TOK][n_vocab] of a token-by-token decode of it (the n = 1 path:
 * sgemv, matvec, one attention item per head over every earlier key). */
static void run(qp_model *m, int threads, enum qp_precision prec, float *logits, float *decode)
{
    const qp_hparams *hp = qp_model_hparams(m);
    /* F32 KV: in F16, a k value that sgemm and sgemv round differently in
     * its last bit can round to another half, so batch and decode would
     * differ by ~1e-4 (the same bits for every thread count still hold) */
    qp_state_opts o = { .n_ctx = 128, .n_batch = N_BATCH, .n_threads = threads,
                        .precision = prec, .logits_all = true, .kv_type = QP_KV_F32 };
    qp_state *s;
    qp_error err;
    assert_int_equal(qp_state_create(m, &o, &s, &err), QP_OK);
    int32_t tok[N_TOK];
    make_tokens(tok, N_TOK, hp->n_vocab);

    /* whatever the caller set, OpenBLAS runs on one thread while a state
     * computes (n_threads = 1 included), and gets its setting back */
    openblas_set_num_threads(2);
    int seen = -1;
    qp_state_set_hook(s, note_blas_threads, &seen);
    assert_int_equal(qp_forward(s, tok, N_TOK, 0, logits, &err), QP_OK);
    assert_int_equal(seen, 1);
    assert_int_equal(openblas_get_num_threads(), 2);
    qp_state_set_hook(s, NULL, NULL);

    for (int i = 0; i < N_TOK; i++)
        assert_int_equal(qp_forward(s, tok + i, 1, i, decode + (size_t)i * hp->n_vocab, &err),
                         QP_OK);
    qp_state_free(s);
}

static void check_same_bits(enum qp_precision prec, int type)
{
    qp_model *m = open_stories();
    qp_error err;
    if (type != QP_LINEAR_REF)
        assert_int_equal(qp_model_set_all(m, type, NULL, 0, NULL, &err), QP_OK);
    const size_t V = (size_t)qp_model_hparams(m)->n_vocab;
    float *ref = malloc(N_TOK * V * sizeof(float)), *got = malloc(N_TOK * V * sizeof(float));
    float *ref_dec = malloc(N_TOK * V * sizeof(float)), *got_dec = malloc(N_TOK * V * sizeof(float));
    run(m, 1, prec, ref, ref_dec);

    /* the batch's attention items (32 query rows, each cut at the keys its
     * last row sees, the second chunk at pos0 = 64 over the first's cache)
     * against the decode, which sees every key one row at a time: equal up
     * to float summation order, ~1e-6 here; a wrong causal cut or a row
     * block reading another block's queries is off by whole logits */
    double md = 0, mx = 0;
    for (size_t i = 0; i < N_TOK * V; i++) {
        md = fmax(md, fabs((double)ref[i] - ref_dec[i]));
        mx = fmax(mx, fabs((double)ref_dec[i]));
    }
    printf("  batch vs decode, %d tokens: max |diff| / (1 + max |logit|) = %.2e\n", N_TOK,
           md / (1 + mx));
    assert_true(md / (1 + mx) < (prec == QP_PREC_QUANT ? 5e-2 : 1e-4));

    for (int threads = 2; threads <= 4; threads++) {
        run(m, threads, prec, got, got_dec);
        assert_memory_equal(got, ref, N_TOK * V * sizeof(float));
        assert_memory_equal(got_dec, ref_dec, N_TOK * V * sizeof(float));
    }
    /* the test can fail: the logits do vary from token to token */
    assert_true(memcmp(ref, ref + V, V * sizeof(float)) != 0);
    free(ref), free(got), free(ref_dec), free(got_dec);
    qp_model_free(m);
}

static void test_reference_same_bits_any_threads(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    check_same_bits(QP_PREC_REF, QP_LINEAR_REF);
}

static void test_quantized_same_bits_any_threads(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    check_same_bits(QP_PREC_QUANT, QP_TYPE_Q8_0);
}

/* qp_model_set_threads: the same bytes for every linear, for types with
 * 32-blocks (Q4_0, Q5_1, Q8_0) and the F16 fallback of the 172-wide rows. */
static void test_parallel_quantization_same_bytes(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    qp_model *one = open_stories(), *many = open_stories();
    qp_threadpool *tp = qp_threadpool_create(3);
    assert_non_null(tp);
    qp_model_set_threads(many, tp);
    const int types[] = { QP_TYPE_Q4_0, QP_TYPE_Q5_1, QP_TYPE_Q8_0 };
    qp_error err;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int fb1 = 0, fb2 = 0;
        assert_int_equal(qp_model_set_all(one, types[t], NULL, 0, &fb1, &err), QP_OK);
        assert_int_equal(qp_model_set_all(many, types[t], NULL, 0, &fb2, &err), QP_OK);
        assert_int_equal(fb1, fb2);
        for (int i = 0; i < qp_model_n_linears(one); i++) {
            const qp_linear *a = qp_model_linear(one, i), *b = qp_model_linear(many, i);
            assert_int_equal(a->q_type, b->q_type);
            assert_non_null(a->q_data);
            assert_memory_equal(a->q_data, b->q_data,
                                (size_t)a->rows * qp_row_size(a->q_type, a->cols));
        }
    }
    /* with a pool lent, a row length that does not fit the type is still
     * refused and leaves the linear as it was */
    const qp_linear *l0 = qp_model_linear(many, 0);
    const int before = l0->q_type;
    assert_int_equal(qp_model_set_tensor_type(many, 0, QP_TYPE_Q4_K, &err), QP_ERR_INPUT);
    assert_int_equal(l0->q_type, before);
    qp_model_set_threads(many, NULL);
    qp_threadpool_free(tp);
    qp_model_free(one);
    qp_model_free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_same_bits_any_threads),
        cmocka_unit_test(test_quantized_same_bits_any_threads),
        cmocka_unit_test(test_parallel_quantization_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
