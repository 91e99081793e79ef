/* tests/test_profiler.c - the layer profiler: the HDF5 profile file
 * (written, read back by qprof and by h5py), an end-to-end profile of a
 * synthetic model, --resume and interrupts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hdf5.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "profiler/profiler.h"
#include "model/model.h"
#include "quant/quant.h"

static char tmpdir[64];
static char model_path[128];

/* ---- a synthetic llama model whose rows fit every block size ---------- */

enum { EMBD = 256, FF = 512, LAYERS = 2, HEADS = 4, HEADS_KV = 2, VOCAB = 64, NTOK = 24 };

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float rnd(float a)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(((double)(rng >> 11) / 9007199254740992.0 * 2 - 1) * a);
}

static float *owned[64];
static int n_owned;

static void add(qp_gguf_writer *w, const char *name, int rows, int cols, float scale, float center)
{
    float *d = malloc(sizeof(float) * (size_t)rows * cols);
    assert_non_null(d);
    for (int i = 0; i < rows * cols; i++)
        d[i] = center + rnd(scale);
    owned[n_owned++] = d;
    int64_t ne[2] = {cols, rows};
    assert_int_equal(qp_gguf_writer_add_tensor(w, name, QP_TYPE_F32, rows > 1 ? 2 : 1, ne, d,
                                            sizeof(float) * (size_t)rows * cols), QP_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qprof-layers-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(model_path, sizeof model_path, "%s/tiny.gguf", tmpdir);
    qp_gguf_writer *w = qp_gguf_writer_new();
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    qp_gguf_writer_set_u32(w, "llama.block_count", LAYERS);
    qp_gguf_writer_set_u32(w, "llama.embedding_length", EMBD);
    qp_gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count", HEADS);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count_kv", HEADS_KV);
    qp_gguf_writer_set_u32(w, "llama.context_length", 256);
    qp_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    add(w, "token_embd.weight", VOCAB, EMBD, 1.0f, 0);
    add(w, "output_norm.weight", 1, EMBD, 0.1f, 1.0f);
    add(w, "output.weight", VOCAB, EMBD, 0.1f, 0);
    const int kv = EMBD / HEADS * HEADS_KV;
    for (int l = 0; l < LAYERS; l++) {
        char n[64];
#define T(suffix, r, c, s, m) snprintf(n, sizeof n, "blk.%d." suffix, l), add(w, n, r, c, s, m)
        T("attn_norm.weight", 1, EMBD, 0.1f, 1.0f);
        T("attn_q.weight", EMBD, EMBD, 0.1f, 0);
        T("attn_k.weight", kv, EMBD, 0.1f, 0);
        T("attn_v.weight", kv, EMBD, 0.1f, 0);
        T("attn_output.weight", EMBD, EMBD, 0.1f, 0);
        T("ffn_norm.weight", 1, EMBD, 0.1f, 1.0f);
        T("ffn_gate.weight", FF, EMBD, 0.1f, 0);
        T("ffn_up.weight", FF, EMBD, 0.1f, 0);
        T("ffn_down.weight", EMBD, FF, 0.06f, 0);
#undef T
    }
    qp_error err;
    int rc = qp_gguf_writer_write(w, model_path, &err);
    qp_gguf_writer_free(w);
    for (int i = 0; i < n_owned; i++)
        free(owned[i]);
    return rc == QP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the HDF5 file ------------------------------------------------------- */

static void test_h5_round_trip(void **state)
{
    (void)state;
    qp_profile p, r;
    qp_error err;
    assert_int_equal(qp_profile_alloc(&p, 2, 3, 4, &err), QP_OK);
    snprintf(p.model_path, sizeof p.model_path, "m.gguf");
    snprintf(p.model_sha256, sizeof p.model_sha256, "%064d", 7);
    snprintf(p.type_names[0], QP_NAME_MAX, "q8_0");
    snprintf(p.type_names[1], QP_NAME_MAX, "q4_K");
    for (int i = 0; i < 4; i++) {
        snprintf(p.tensor_names[i], QP_NAME_MAX, "blk.%d.t", i);
        p.tensor_layer[i] = i - 1;
        p.tensor_params[i] = 1000 + i;
    }
    p.n_tokens = 17;
    p.err[QP_ERR_SQNR_DB][QP_LOCAL][qp_profile_tlb(&p, 1, 2, QP_BLOCK_DOWN)] = 42.5;
    p.w_err[QP_W_RMSE][5] = 0.125;
    p.kld_mean[1] = 0.01;
    p.done[4] = 1;
    char path[128];
    snprintf(path, sizeof path, "%s/p.h5", tmpdir);
    assert_int_equal(qp_profile_write_h5(&p, path, &err), QP_OK);
    assert_int_equal(qp_profile_read_h5(&r, path, &err), QP_OK);
    assert_int_equal(r.n_types, 2);
    assert_int_equal(r.n_layers, 3);
    assert_int_equal(r.n_tensors, 4);
    assert_int_equal(r.n_tokens, 17);
    assert_string_equal(r.type_names[1], "q4_K");
    assert_string_equal(r.tensor_names[3], "blk.3.t");
    assert_string_equal(r.model_sha256, p.model_sha256);
    assert_int_equal(r.tensor_layer[0], -1);
    assert_int_equal(r.tensor_params[3], 1003);
    assert_true(r.err[QP_ERR_SQNR_DB][QP_LOCAL][qp_profile_tlb(&r, 1, 2, QP_BLOCK_DOWN)] == 42.5);
    assert_true(isnan(r.err[QP_ERR_SQNR_DB][QP_LOCAL][0])); /* not measured stays NaN */
    assert_true(r.w_err[QP_W_RMSE][5] == 0.125);
    assert_true(r.kld_mean[1] == 0.01);
    assert_int_equal(r.done[4], 1);
    assert_int_equal(r.done[3], 0);
    qp_profile_free(&r);

    /* a file from before packing (no packed_layouts attribute) reads as "none" */
    snprintf(p.packed_layouts, sizeof p.packed_layouts, "q4_K x8");
    assert_int_equal(qp_profile_write_h5(&p, path, &err), QP_OK);
    assert_int_equal(qp_profile_read_h5(&r, path, &err), QP_OK);
    assert_string_equal(r.packed_layouts, "q4_K x8");
    qp_profile_free(&r);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete(f, "packed_layouts") >= 0);
    H5Fclose(f);
    assert_int_equal(qp_profile_read_h5(&r, path, &err), QP_OK);
    assert_string_equal(r.packed_layouts, "none");
    qp_profile_free(&r);
    qp_profile_free(&p);

    /* not HDF5, and absent: clear input errors naming the file */
    assert_int_equal(qp_profile_read_h5(&r, model_path, &err), QP_ERR_INPUT);
    assert_string_equal(err.file, model_path);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    snprintf(path, sizeof path, "%s/absent.h5", tmpdir);
    assert_int_equal(qp_profile_read_h5(&r, path, &err), QP_ERR_INPUT);
    /* unwritable place: error, nothing left behind */
    snprintf(path, sizeof path, "%s/no/dir/p.h5", tmpdir);
    assert_int_equal(qp_profile_alloc(&p, 1, 1, 1, &err), QP_OK);
    assert_int_equal(qp_profile_write_h5(&p, path, &err), QP_ERR_RUNTIME);
    qp_profile_free(&p);
}

/* ---- end to end ------------------------------------------------------------ */

static int32_t tokens[NTOK];

static bool g_rows_only; /* profile() with --rows */
static char g_log[4096];  /* what profile()'s run said */

static void log_line(void *user, const char *line)
{
    (void)user;
    const size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", line);
}

static qp_status profile(const int *types, int n_types, const char *out, bool resume,
                         volatile sig_atomic_t *stop, qp_profile *p, qp_error *err)
{
    qp_model *m = NULL;
    assert_int_equal(qp_model_open(model_path, &m, err), QP_OK);
    for (int i = 0; i < NTOK; i++)
        tokens[i] = (int32_t)((i * 7 + 3) % VOCAB);
    qp_layers_opts o = {.types = types, .n_types = n_types, .tokens = tokens, .n_tokens = NTOK,
                        .reps = 3, .threads = 2, .out_path = out, .resume = resume,
                        .model_path = model_path, .text_source = "test", .stop = stop,
                        .rows_only = g_rows_only, .log = log_line};
    g_log[0] = '\0';
    qp_status st = qp_layers_run(m, &o, p, err);
    qp_model_free(m);
    return st;
}

static void test_profile_end_to_end(void **state)
{
    (void)state;
    const int types[3] = {QP_TYPE_Q8_0, QP_TYPE_Q4_K, QP_TYPE_Q2_K};
    char out[128];
    snprintf(out, sizeof out, "%s/prof.h5", tmpdir);
    qp_profile p;
    qp_error err;
    qp_error_clear(&err);
    assert_int_equal(profile(types, 3, out, false, NULL, &p, &err), QP_OK);

    for (int l = 0; l < LAYERS; l++)
        for (int b = 0; b < QP_BLOCK_COUNT; b++) {
            double e8 = p.err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(&p, 0, l, b)];
            double e4 = p.err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(&p, 1, l, b)];
            double e2 = p.err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(&p, 2, l, b)];
            /* the expected ordering of the formats, at every block */
            assert_true(e8 > 0 && e8 < e4 && e4 < e2);
            /* Q8_0 on smooth random weights and activations: well under 2%
             * (weights ~0.5%, activations ~0.5%, combined in quadrature,
             * and a softmax that is not peaky for these small weights) */
            assert_true(e8 < 0.02);
            double a8 = p.err[QP_ERR_REL_L2][QP_ACCUMULATED][qp_profile_tlb(&p, 0, l, b)];
            assert_true(a8 > 0 && a8 < 0.05);
            assert_true(p.err[QP_ERR_COSINE][QP_LOCAL][qp_profile_tlb(&p, 0, l, b)] > 0.999);
            /* latencies were measured for every block */
            assert_true(p.latency_median[qp_profile_tlb(&p, 0, l, b)] > 0);
            assert_true(p.ref_latency_median[l * QP_BLOCK_COUNT + b] > 0);
        }
    /* accumulated error of the first block is its local error: nothing came before it */
    assert_float_equal(p.err[QP_ERR_REL_L2][QP_ACCUMULATED][qp_profile_tlb(&p, 1, 0, QP_BLOCK_ATTN)],
                       p.err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(&p, 1, 0, QP_BLOCK_ATTN)], 1e-6);
    assert_true(p.kld_mean[0] < p.kld_mean[1] && p.kld_mean[1] < p.kld_mean[2]);
    assert_true(p.top1[0] >= p.top1[2]);
    for (int t = 0; t < 3; t++) {
        /* the blocks (and embedding, output) account for the whole forward
         * pass but for the residual adds: never more, and most of it */
        assert_true(p.block_sum_ms[t] <= p.forward_ms[t] * 1.0001);
        assert_true(p.block_sum_ms[t] >= 0.5 * p.forward_ms[t]);
        assert_int_equal(p.done_model[t], 1);
        for (int l = 0; l < LAYERS; l++)
            assert_int_equal(p.done[t * LAYERS + l], 1);
        /* every row of 256 and 512 fits: no fallback */
        for (int i = 0; i < p.n_tensors; i++)
            assert_int_equal(p.w_type[t * p.n_tensors + i], types[t]);
        /* weight errors ordered too */
        if (t > 0)
            assert_true(p.w_err[QP_W_REL_RMSE][t * p.n_tensors] > p.w_err[QP_W_REL_RMSE][(t - 1) * p.n_tensors]);
    }
    assert_int_equal(p.n_tensors, LAYERS * 7 + 1);
    assert_string_equal(p.tensor_names[0], "blk.0.attn_q.weight");
    assert_int_equal(strlen(p.model_sha256), 64);

    /* the file holds the same */
    qp_profile r;
    assert_int_equal(qp_profile_read_h5(&r, out, &err), QP_OK);
    for (size_t i = 0; i < (size_t)3 * LAYERS * QP_BLOCK_COUNT; i++)
        assert_true(r.err[QP_ERR_REL_L2][QP_LOCAL][i] == p.err[QP_ERR_REL_L2][QP_LOCAL][i]);
    assert_true(r.kld_mean[2] == p.kld_mean[2]);
    /* the layouts the run used: the default variant's for q8_0 and q4_K
     * (q2_K has none anywhere), in the file too */
    const qp_kernels *kv = qp_kernels_default();
    for (int t = 0; t < 3; t++) {
        const char *name = qp_pack_name(kv, (enum qp_type)types[t]);
        if (name)
            assert_non_null(strstr(p.packed_layouts, name));
    }
    if (!qp_pack_name(kv, QP_TYPE_Q8_0) && !qp_pack_name(kv, QP_TYPE_Q4_K))
        assert_string_equal(p.packed_layouts, "none");
    printf("packed_layouts: %s\n", p.packed_layouts);
    assert_string_equal(r.packed_layouts, p.packed_layouts);

    /* heatmaps render from it */
    char prefix[160], *written[32];
    int n = 0;
    snprintf(prefix, sizeof prefix, "%s/prof-", tmpdir);
    assert_int_equal(qp_profile_write_pngs(&r, prefix, "rel_l2,overview", written, 32, &n, &err), QP_OK);
    assert_int_equal(n, 3); /* local and accumulated rel_l2, overview */
    for (int i = 0; i < n; i++) {
        assert_int_equal(access(written[i], R_OK), 0);
        free(written[i]);
    }
    qp_profile_free(&r);

    /* --resume of a finished profile measures nothing again and keeps the values */
    qp_profile p2;
    assert_int_equal(profile(types, 3, out, true, NULL, &p2, &err), QP_OK);
    for (size_t i = 0; i < (size_t)3 * LAYERS * QP_BLOCK_COUNT; i++)
        assert_true(p2.err[QP_ERR_REL_L2][QP_LOCAL][i] == p.err[QP_ERR_REL_L2][QP_LOCAL][i]);
    /* the latencies kept from the first run stay against that run's
     * reference (this run's is measured, and only compared with it) */
    assert_true(p2.ref_forward_ms[0] == p.ref_forward_ms[0]);
    for (size_t i = 0; i < (size_t)LAYERS * QP_BLOCK_COUNT; i++)
        assert_true(p2.ref_latency_median[i] == p.ref_latency_median[i]);
    for (size_t i = 0; i < (size_t)3 * LAYERS * QP_BLOCK_COUNT; i++)
        assert_true(p2.latency_median[i] == p.latency_median[i]);
    qp_profile_free(&p2);
    /* ...and refuses a profile of other types */
    const int other[3] = {QP_TYPE_Q8_0, QP_TYPE_Q4_0, QP_TYPE_Q2_K};
    assert_int_equal(profile(other, 3, out, true, NULL, &p2, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "cannot resume"));
    qp_profile_free(&p2);
    qp_profile_free(&p);

    /* the file opens in h5py, with named dimensions (where h5py is installed) */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import h5py' 2>/dev/null && %s -c \""
             "import h5py,math; f=h5py.File(\\\"%s\\\",\\\"r\\\"); d=f[\\\"error/rel_l2/local\\\"]; "
             "assert d.shape==(3,%d,9), d.shape; "
             "assert [x[0].name for x in d.dims]==[\\\"/type\\\",\\\"/layer\\\",\\\"/block\\\"]; "
             "assert list(f[\\\"type\\\"].asstr())==[\\\"q8_0\\\",\\\"q4_K\\\",\\\"q2_K\\\"]; "
             "assert f.attrs[\\\"n_tokens\\\"]==%d and d.attrs[\\\"units\\\"]==\\\"1\\\"; "
             "assert 0<d[0,0,0]<d[2,0,0]; print(\\\"h5py ok\\\")\"",
             py, py, out, LAYERS, NTOK);
    int rc = system(cmd);
    if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
        assert_int_equal(rc, 0); /* CI installs python3-h5py */
    else if (rc != 0)
        printf("h5py check failed or h5py absent (rc %d)\n", rc);
}

static void test_interrupt_before_any_layer(void **state)
{
    (void)state;
    const int types[1] = {QP_TYPE_Q8_0};
    char out[128];
    snprintf(out, sizeof out, "%s/stopped.h5", tmpdir);
    volatile sig_atomic_t stop = 1;
    qp_profile p;
    qp_error err;
    assert_int_equal(profile(types, 1, out, false, &stop, &p, &err), QP_ERR_RUNTIME);
    assert_string_equal(err.msg, "interrupted");
    /* nothing finished, so nothing written */
    assert_int_not_equal(access(out, F_OK), 0);
    qp_profile_free(&p);
}

/* --rows: the same profile on plain rows records no packed layout, and its
 * errors match the packed run's up to the summation order's rounding flips */
static void test_profile_rows(void **state)
{
    (void)state;
    const int types[1] = {QP_TYPE_Q8_0};
    char out[128];
    qp_profile p, q;
    qp_error err;
    qp_error_clear(&err);
    snprintf(out, sizeof out, "%s/packed.h5", tmpdir);
    assert_int_equal(profile(types, 1, out, false, NULL, &p, &err), QP_OK);
    g_rows_only = true;
    snprintf(out, sizeof out, "%s/rows.h5", tmpdir);
    qp_status st = profile(types, 1, out, false, NULL, &q, &err);
    g_rows_only = false;
    assert_int_equal(st, QP_OK);
    assert_string_equal(q.packed_layouts, "none");
    if (qp_pack_name(qp_kernels_default(), QP_TYPE_Q8_0)) {
        assert_string_equal(p.packed_layouts, "q8_0 x8");
        /* resuming the plain-rows file with packing, and the packed one
         * with --rows, says the latencies would mix layouts */
        qp_profile r;
        assert_int_equal(profile(types, 1, out, true, NULL, &r, &err), QP_OK);
        assert_non_null(strstr(g_log, "not comparable"));
        qp_profile_free(&r);
        snprintf(out, sizeof out, "%s/packed.h5", tmpdir);
        g_rows_only = true;
        st = profile(types, 1, out, true, NULL, &r, &err);
        g_rows_only = false;
        assert_int_equal(st, QP_OK);
        assert_non_null(strstr(g_log, "not comparable"));
        assert_string_equal(r.packed_layouts, "q8_0 x8"); /* the first run's */
        qp_profile_free(&r);
        assert_int_equal(profile(types, 1, out, true, NULL, &r, &err), QP_OK); /* same layout: quiet */
        assert_null(strstr(g_log, "not comparable"));
        qp_profile_free(&r);
    }
    for (int l = 0; l < LAYERS; l++)
        for (int b = 0; b < QP_BLOCK_COUNT; b++) {
            const size_t i = qp_profile_tlb(&p, 0, l, b);
            assert_float_equal(p.err[QP_ERR_REL_L2][QP_LOCAL][i], q.err[QP_ERR_REL_L2][QP_LOCAL][i],
                               0.05 * q.err[QP_ERR_REL_L2][QP_LOCAL][i]);
        }
    qp_profile_free(&p);
    qp_profile_free(&q);
}

/* No types given: the ladder's types that some tensor takes (all ten here:
 * every row of 256 and 512 fits every block); a type that cannot be
 * profiled is refused before anything runs. */
static void test_default_and_bad_types(void **state)
{
    (void)state;
    qp_profile p;
    qp_error err;
    assert_int_equal(profile(NULL, 0, NULL, false, NULL, &p, &err), QP_OK);
    const int *ladder;
    const int n = qp_type_ladder(&ladder);
    assert_int_equal(p.n_types, n);
    for (int t = 0; t < n; t++) {
        assert_string_equal(p.type_names[t], qp_type_info(ladder[t])->name);
        assert_int_equal(p.done_model[t], 1);
    }
    qp_profile_free(&p);
    const int bad[2] = {QP_TYPE_Q8_0, QP_TYPE_F32};
    assert_int_equal(profile(bad, 2, NULL, false, NULL, &p, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "f32"));
    qp_profile_free(&p);
    const int iq[1] = {QP_TYPE_IQ2_XXS};
    assert_int_equal(profile(iq, 1, NULL, false, NULL, &p, &err), QP_ERR_INPUT);
    qp_profile_free(&p);
}

static void test_png_prefix(void **state)
{
    (void)state;
    char b[256];
    qp_profile_png_prefix("out/profile.h5", NULL, b, sizeof b);
    assert_string_equal(b, "out/profile-");
    qp_profile_png_prefix("profile", NULL, b, sizeof b);
    assert_string_equal(b, "profile-");
    qp_profile_png_prefix("a.b/profile", NULL, b, sizeof b); /* a dot in a folder is no extension */
    assert_string_equal(b, "a.b/profile-");
    qp_profile_png_prefix("out/profile.h5", "pics", b, sizeof b);
    assert_string_equal(b, "pics/");
}

/* --max-memory: below one layer's need, QP_ERR_INPUT naming it; between
 * that and everything resident, the types' streams go to a file (gone at
 * once) and every number is the same as without a cap. */
static void test_max_memory(void **state)
{
    (void)state;
    const int types[3] = {QP_TYPE_Q8_0, QP_TYPE_Q4_K, QP_TYPE_Q4_0};
    qp_model *m = NULL;
    qp_error err;
    assert_int_equal(qp_model_open(model_path, &m, &err), QP_OK);
    for (int i = 0; i < NTOK; i++)
        tokens[i] = (int32_t)((i * 7 + 3) % VOCAB);
    qp_layers_opts o = {.types = types, .n_types = 3, .tokens = tokens, .n_tokens = NTOK, .reps = 1, .threads = 1,
                        .model_path = model_path, .text_source = "test", .kv_type = QP_KV_F32};
    uint64_t need_min = 0, need_all = 0;
    assert_int_equal(qp_layers_memory(m, &o, &need_min, &need_all, &err), QP_OK);
    /* two more streams of NTOK x EMBD floats than the minimum */
    assert_int_equal(need_all - need_min, (uint64_t)2 * NTOK * EMBD * sizeof(float));
    qp_profile want, got;
    assert_int_equal(qp_layers_run(m, &o, &want, &err), QP_OK);
    o.max_memory = need_min - 1;
    assert_int_equal(qp_layers_run(m, &o, &got, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "cannot hold one layer"));
    qp_profile_free(&got);
    char out[128];
    snprintf(out, sizeof out, "%s/mm.h5", tmpdir);
    o.out_path = out;
    o.max_memory = need_min;
    o.log = log_line;
    g_log[0] = '\0';
    assert_int_equal(qp_layers_run(m, &o, &got, &err), QP_OK);
    assert_non_null(strstr(g_log, "go to a file"));
    const size_t tlb = (size_t)3 * LAYERS * QP_BLOCK_COUNT;
    for (int k = 0; k < QP_ERR_KIND_COUNT; k++)
        assert_memory_equal(got.err[QP_ERR_REL_L2][k], want.err[QP_ERR_REL_L2][k], tlb * sizeof(double));
    assert_memory_equal(got.kld_mean, want.kld_mean, 3 * sizeof(double));
    /* only the profile is left beside it */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c streams", tmpdir);
    FILE *ls = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(ls, "%d", &n), 1);
    pclose(ls);
    assert_int_equal(n, 0);
    qp_profile_free(&got);
    qp_profile_free(&want);
    qp_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h5_round_trip),
        cmocka_unit_test(test_profile_end_to_end),
        cmocka_unit_test(test_profile_rows),
        cmocka_unit_test(test_default_and_bad_types),
        cmocka_unit_test(test_png_prefix),
        cmocka_unit_test(test_max_memory),
        cmocka_unit_test(test_interrupt_before_any_layer),
    };
    return cmocka_run_group_tests_name("layers", tests, setup, teardown);
}
