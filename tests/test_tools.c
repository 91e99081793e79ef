/* tests/test_tools.c - the qprof command line as a user meets it: exit codes,
 * error message format, `info` text and JSON on a synthetic model written
 * with the GGUF writer. Runs build/qprof (or $QPROF_BIN) through popen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gguf/gguf.h"
#include "quant/quant.h"
#include "qprof_cli.h"
#include "shared.h"

static char tmpdir[256];
static char model_path[300];

/* Every run here merges stderr into *out: the tests read errors and output alike. */
#define run_qprof(out, ...) qp_cli_run(NULL, QP_CLI_STDERR_MERGE, out, NULL, __VA_ARGS__)

/* A 2-tensor "llama" model: one Q8_0 matrix 64x3, one F32 vector. */
static int setup(void **state)
{
    (void)state;
    if (access(qp_cli_bin(), X_OK) != 0) {
        fprintf(stderr, "test_tools: %s not built\n", qp_cli_bin());
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qprof-cli-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(model_path, sizeof model_path, "%s/tiny.gguf", tmpdir);

    qp_gguf_writer *w = qp_gguf_writer_new();
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    qp_gguf_writer_set_str(w, "general.name", "tiny test");
    qp_gguf_writer_set_u32(w, "llama.block_count", 1);
    qp_gguf_writer_set_u32(w, "llama.embedding_length", 64);
    qp_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    const char *toks[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 8);

    float x[64 * 3];
    for (int i = 0; i < 64 * 3; i++)
        x[i] = (float)(i % 17) - 8.0f;
    static block_q8_0 q[2 * 3];
    qp_error err;
    assert_int_equal(qp_quantize_row(QP_TYPE_Q8_0, x, q, 64 * 3, NULL, &err), QP_OK);
    int64_t ne_w[2] = {64, 3}, ne_v[1] = {64};
    qp_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", QP_TYPE_Q8_0, 2, ne_w, q, sizeof q);
    qp_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", QP_TYPE_F32, 1, ne_v, x, 64 * sizeof(float));
    int rc = qp_gguf_writer_write(w, model_path, &err);
    qp_gguf_writer_free(w);
    return rc == QP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_version_and_help(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run_qprof(&out, "--version"), 0);
    assert_non_null(strstr(out, "qprof " "0."));
    free(out);
    assert_int_equal(run_qprof(&out, "--help"), 0);
    assert_non_null(strstr(out, "info"));
    free(out);
    assert_int_equal(run_qprof(&out, "help info"), 0);
    assert_non_null(strstr(out, "usage: qprof info"));
    free(out);
    /* usage errors: exit 2 */
    assert_int_equal(run_qprof(&out, "%s", ""), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "frobnicate"), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    free(out);
    assert_int_equal(run_qprof(&out, "info"), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "info --bogus %s", model_path), 2);
    free(out);
}

static void test_info_text(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run_qprof(&out, "info %s", model_path), 0);
    assert_non_null(strstr(out, "architecture: llama"));
    assert_non_null(strstr(out, "name:         tiny test"));
    assert_non_null(strstr(out, "block_count"));
    /* tensor table row: name, shape ne0 x ne1, type, elements, bytes */
    assert_non_null(strstr(out, "blk.0.attn_q.weight"));
    assert_non_null(strstr(out, "64 x 3"));
    assert_non_null(strstr(out, "q8_0"));
    /* 6 blocks of 34 bytes: 204 bytes for 192 weights (8.5 bpw) */
    assert_non_null(strstr(out, " 204\n"));
    /* totals: 204 + 256 bytes over 256 weights = 14.375 bpw */
    assert_non_null(strstr(out, "total: 256 weights, 460 bytes"));
    assert_non_null(strstr(out, "14.375 bits per weight"));
    /* the 8-string array is abbreviated */
    assert_non_null(strstr(out, "[str x 8]"));
    assert_non_null(strstr(out, ", ...]"));
    free(out);
}

static void test_info_json(void **state)
{
    (void)state;
    char *out;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "info --json %s", model_path);
    /* stdout only: no stderr noise may end up in the JSON */
    char full[600];
    snprintf(full, sizeof full, "%s 2>/dev/null", cmd);
    assert_int_equal(run_qprof(&out, "%s", full), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "architecture")->valuestring, "llama");
    assert_int_equal(cJSON_GetObjectItem(j, "gguf_version")->valueint, 3);
    cJSON *hp = cJSON_GetObjectItem(j, "hparams");
    assert_int_equal(cJSON_GetObjectItem(hp, "embedding_length")->valueint, 64);
    /* float32 metadata comes back as the decimal that was written */
    assert_true(cJSON_GetObjectItem(hp, "attention.layer_norm_rms_epsilon")->valuedouble == 1e-5);
    cJSON *ts = cJSON_GetObjectItem(j, "tensors");
    assert_int_equal(cJSON_GetArraySize(ts), 2);
    cJSON *t0 = cJSON_GetArrayItem(ts, 0);
    assert_string_equal(cJSON_GetObjectItem(t0, "type")->valuestring, "q8_0");
    assert_int_equal(cJSON_GetObjectItem(t0, "bytes")->valueint, 204);
    cJSON *tot = cJSON_GetObjectItem(j, "totals");
    assert_int_equal(cJSON_GetObjectItem(tot, "bytes")->valueint, 460);
    assert_float_equal(cJSON_GetObjectItem(tot, "bpw")->valuedouble, 14.375, 1e-12);
    cJSON_Delete(j);
    free(out);
}

/* Bad input: exit 2 and "qprof: FILE: offset N: reason" on stderr. */
static void test_info_bad_file(void **state)
{
    (void)state;
    char bad[320];
    snprintf(bad, sizeof bad, "%s/bad.gguf", tmpdir);
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    /* valid magic and version, then a tensor count far beyond the file */
    const unsigned char hdr[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0};
    fwrite(hdr, 1, sizeof hdr, f);
    fclose(f);
    char *out;
    assert_int_equal(run_qprof(&out, "info %s", bad), 2);
    char expect[400];
    snprintf(expect, sizeof expect, "qprof: %s: offset 8: ", bad);
    assert_non_null(strstr(out, expect));
    free(out);

    assert_int_equal(run_qprof(&out, "info %s/missing.gguf", tmpdir), 2);
    assert_non_null(strstr(out, "missing.gguf"));
    free(out);
}

static void test_info_real_model(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    char path[512], *out;
    qp_test_shared_path(path, sizeof path, "data/models/stories260K.gguf");
    assert_int_equal(run_qprof(&out, "info %s", path), 0);
    assert_non_null(strstr(out, "tensors (48)"));
    assert_non_null(strstr(out, "total: 292800 weights, 1171200 bytes"));
    free(out);
}

/* One option letter means one thing in every command: every "-X, --long"
 * pair in every command's help names the same long option for X. */
static void test_option_letters(void **state)
{
    (void)state;
    char *list;
    assert_int_equal(run_qprof(&list, "--help"), 0);
    char long_of[128][32];
    char seen_in[128][16];
    memset(long_of, 0, sizeof long_of);
    int n_commands = 0, n_pairs = 0;
    /* the command names: the first word of each indented line under "commands:" */
    const char *p = strstr(list, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    while (p[0] == ' ' && p[1] == ' ' && p[2] != ' ' && strncmp(p + 2, "qprof", 5) != 0) {
        char cmd[16];
        assert_int_equal(sscanf(p + 2, "%15s", cmd), 1);
        char *help;
        assert_int_equal(run_qprof(&help, "help %s", cmd), 0);
        n_commands++;
        for (const char *h = help; (h = strstr(h, "  -")) != NULL; h += 3) {
            char letter, name[32];
            if (sscanf(h, "  -%c, --%31[a-z0-9-]", &letter, name) != 2)
                continue;
            n_pairs++;
            const int c = (unsigned char)letter & 127;
            if (!long_of[c][0]) {
                snprintf(long_of[c], sizeof long_of[c], "%s", name);
                snprintf(seen_in[c], sizeof seen_in[c], "%s", cmd);
            } else if (strcmp(long_of[c], name) != 0) {
                fail_msg("-%c is --%s in '%s' but --%s in '%s'", letter, long_of[c], seen_in[c], name, cmd);
            }
        }
        free(help);
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    free(list);
    assert_true(n_commands >= 6);
    assert_true(n_pairs >= 20);
    /* the shared ones */
    assert_string_equal(long_of['t'], "threads");
    assert_string_equal(long_of['n'], "tokens");
    assert_string_equal(long_of['T'], "types");
}

/* layers takes the shared options; bad values are usage errors (exit 2)
 * found before any work. */
static void test_layers_options(void **state)
{
    (void)state;
    QP_REQUIRE_SHARED();
    char m[1024], *out;
    qp_test_shared_path(m, sizeof m, "data/models/stories260K.gguf");
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0,Q8_0 -n 16", m), 2);
    assert_non_null(strstr(out, "twice"));
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -t 0", m), 2);
    assert_non_null(strstr(out, "--threads"));
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -t 257", m), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -j 2", m), 2); /* -j is --json, not threads */
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q9_9", m), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T f32 -n 16 -o %s/x.h5", m, tmpdir), 2);
    assert_non_null(strstr(out, "not a quantization type"));
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -n 16 -r 1 -t 1 --kernels scalar -o %s/p.h5 --no-png", m,
                               tmpdir), 0);
    assert_non_null(strstr(out, "1 threads"));
    assert_non_null(strstr(out, "scalar kernels"));
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -n 16 -r 1 --kernels sse9 -o %s/p.h5", m, tmpdir), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 -n 16 --max-memory 1k -o %s/p.h5", m, tmpdir), 2);
    assert_non_null(strstr(out, "cannot hold one layer: it needs at least"));
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 --max-memory lots", m), 2);
    free(out);
    assert_int_equal(run_qprof(&out, "layers %s -T q8_0 --kv-type f8", m), 2);
    assert_non_null(strstr(out, "--kv-type"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_help),
        cmocka_unit_test(test_info_text),
        cmocka_unit_test(test_info_json),
        cmocka_unit_test(test_info_bad_file),
        cmocka_unit_test(test_info_real_model),
        cmocka_unit_test(test_option_letters),
        cmocka_unit_test(test_layers_options),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
