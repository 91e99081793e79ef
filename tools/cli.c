/* tools/cli_model.c - model loading and weight-type choice shared by
 * `qprof run` and `qprof ppl` (cli_model.h). */
#include <cblas.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../quant/quant.h"
#include "cli_model.h"
#include "commands.h"

void qp_cli_model_defaults(qp_cli_model *c)
{
    memset(c, 0, sizeof *c);
    c->precision = QP_PREC_QUANT;
    c->type = QP_CLI_TYPE_FILE;
}

static int parse_threads(const char *s)
{
    char *end;
    const long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 1 && v <= 1024) ? (int)v : -1;
}

int qp_cli_model_option(qp_cli_model *c, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case 't':
        if ((c->n_threads = parse_threads(arg)) < 0) {
            qp_usage_error(cmd, "--threads wants a count in 1..1024, not '%s'", arg);
            return -2;
        }
        return 1;
    case 0x201:
        c->kernels_name = arg;
        return 1;
    case 0x202:
        if (!strcmp(arg, "ref"))
            c->precision = QP_PREC_REF;
        else if (!strcmp(arg, "quant"))
            c->precision = QP_PREC_QUANT;
        else {
            qp_usage_error(cmd, "--precision is ref or quant, not '%s'", arg);
            return -2;
        }
        return 1;
    case 0x203:
        if (!strcmp(arg, "file")) {
            c->type = QP_CLI_TYPE_FILE;
            return 1;
        }
        c->type = qp_type_from_name(arg);
        if (c->type < 0 || qp_act_type((enum qp_type)c->type) < 0) {
            qp_usage_error(cmd, "--type: '%s' is not a weight type qprof has kernels for "
                                "(q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, f16, ...)", arg);
            return -2;
        }
        return 1;
    case 0x204:
        c->rows_only = true;
        return 1;
    default:
        return 0;
    }
}

/* --type file: the file's own quantized (or half-precision) bytes where
 * the kernels take them; F32 tensors keep the FP32 path. */
static qp_status use_file_types(qp_model *m, qp_error *err)
{
    for (int i = 0; i < qp_model_n_linears(m); i++) {
        const qp_linear *l = qp_model_linear(m, i);
        if (l->file_type == QP_TYPE_F32 || qp_act_type((enum qp_type)l->file_type) < 0)
            continue;
        qp_status st = qp_model_set_tensor_type(m, i, l->file_type, err);
        if (st)
            return st;
    }
    return QP_OK;
}

int qp_cli_model_load(qp_cli_model *c, const char *cmd, const char *path)
{
    qp_error err;
    qp_error_clear(&err);
    if (c->kernels_name) {
        c->kernels = qp_kernels_by_name(c->kernels_name, &err);
        if (!c->kernels)
            return qp_usage_error(cmd, "--kernels: %s", err.msg);
    } else {
        c->kernels = qp_kernels_default();
    }
    if (c->n_threads == 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->n_threads = n >= 1 ? (int)(n < 1024 ? n : 1024) : 1;
    }
    /* the FP32 path and the attention run in OpenBLAS: same thread count,
     * never at the same time as qprof's own pool */
    openblas_set_num_threads(c->n_threads);

    if (qp_model_open(path, &c->model, &err) != QP_OK)
        return qp_report(&err);
    if (c->precision == QP_PREC_REF)
        return 0; /* quantized forms would be ignored: do not build them */
    qp_status st;
    if (c->type == QP_CLI_TYPE_FILE) {
        st = use_file_types(c->model, &err);
    } else {
        enum { MAX_FB = 64 };
        qp_fallback fb[MAX_FB];
        int n_fb = 0;
        st = qp_model_set_all(c->model, c->type, fb, MAX_FB, &n_fb, &err);
        for (int i = 0; i < n_fb && i < MAX_FB; i++) {
            const qp_linear *l = qp_model_linear(c->model, fb[i].linear);
            fprintf(stderr, "qprof: %s: %s (rows of %lld) cannot be %s: %s instead\n", cmd,
                    l->name, (long long)l->cols, qp_type_info(fb[i].wanted)->name,
                    qp_type_info(fb[i].got)->name);
        }
        if (n_fb > MAX_FB)
            fprintf(stderr, "qprof: %s: ... and %d more fallbacks\n", cmd, n_fb - MAX_FB);
    }
    if (st == QP_OK && !c->rows_only) /* packed copies for the kernels the states will use */
        st = qp_model_set_kernels(c->model, c->kernels, &err);
    if (st) {
        qp_model_free(c->model);
        c->model = NULL;
        if (!err.file[0])
            snprintf(err.file, sizeof err.file, "%s", path);
        return qp_report(&err);
    }
    return 0;
}

void qp_cli_model_close(qp_cli_model *c)
{
    qp_model_free(c->model);
    c->model = NULL;
}

void qp_cli_model_describe(const qp_cli_model *c, FILE *out)
{
    /* count linears per description ("q4_1 (file)", "f32", ...) */
    enum { MAX_KINDS = 16 };
    char kinds[MAX_KINDS][64];
    int counts[MAX_KINDS] = { 0 }, n_kinds = 0;
    const bool quant = c->precision == QP_PREC_QUANT;
    for (int i = 0; i < qp_model_n_linears(c->model); i++) {
        char d[64];
        qp_linear_describe(qp_model_linear(c->model, i), quant, d, sizeof d);
        int k = 0;
        while (k < n_kinds && strcmp(kinds[k], d) != 0)
            k++;
        if (k == n_kinds) {
            if (n_kinds == MAX_KINDS)
                continue;
            snprintf(kinds[n_kinds++], sizeof kinds[0], "%s", d);
        }
        counts[k]++;
    }
    fprintf(out, "linears:");
    for (int k = 0; k < n_kinds; k++)
        fprintf(out, "%s %d x %s", k ? "," : "", counts[k], kinds[k]);
    /* the packed layouts the quantized linears run on */
    char packed[128] = "";
    if (quant)
        qp_model_packed_layouts(c->model, packed, sizeof packed);
    fprintf(out, " | precision %s | kernels %s%s%s%s | %d thread%s\n", quant ? "quant" : "ref",
            qp_kernels_name(c->kernels), packed[0] ? " (packed: " : "", packed, packed[0] ? ")" : "",
            c->n_threads, c->n_threads == 1 ? "" : "s");
}

qp_state_opts qp_cli_state_opts(const qp_cli_model *c, int n_ctx, int n_batch)
{
    return (qp_state_opts){
        .n_ctx = n_ctx,
        .n_batch = n_batch,
        .n_threads = c->n_threads,
        .kernels = c->kernels,
        .precision = c->precision,
    };
}
