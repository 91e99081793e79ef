/* tools/cli.c - the options every command shares and the model loading of
 * `run` and `ppl` (cli.h). */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../quant/quant.h"
#include "cli.h"
#include "commands.h"

void qp_cli_defaults(qp_cli *c)
{
    memset(c, 0, sizeof *c);
    c->precision = QP_PREC_QUANT;
    c->type = QP_TYPE_FILE;
    c->kv_type = -1;
}

int qp_cli_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

int qp_cli_option(qp_cli *c, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case 't':
        if (!qp_cli_int(arg, 1, QP_MAX_THREADS, &c->n_threads)) {
            qp_usage_error(cmd, "--threads wants a count in 1..%d, not '%s'", QP_MAX_THREADS, arg);
            return -2;
        }
        return 1;
    case QP_OPT_KERNELS:
        c->kernels_name = arg;
        return 1;
    case QP_OPT_ROWS:
        c->rows_only = true;
        return 1;
    case QP_OPT_KV_TYPE:
        if ((c->kv_type = qp_kv_type_from_name(arg)) < 0) {
            qp_usage_error(cmd, "--kv-type is f16, f32 or q8_0, not '%s'", arg);
            return -2;
        }
        return 1;
    case QP_OPT_PRECISION:
        if (!strcmp(arg, "ref"))
            c->precision = QP_PREC_REF;
        else if (!strcmp(arg, "quant"))
            c->precision = QP_PREC_QUANT;
        else {
            qp_usage_error(cmd, "--precision is ref or quant, not '%s'", arg);
            return -2;
        }
        return 1;
    case QP_OPT_TYPE:
        if (!strcmp(arg, "file")) {
            c->type = QP_TYPE_FILE;
            return 1;
        }
        c->type = qp_type_from_name(arg);
        if (!qp_kernels_can_run(c->type)) {
            qp_usage_error(cmd, "--type: '%s' is not a weight type qprof has kernels for "
                                "(q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, f16, ...)", arg);
            return -2;
        }
        return 1;
    default:
        return 0;
    }
}

int qp_cli_resolve(qp_cli *c, const char *cmd)
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
        c->n_threads = n >= 1 ? (int)(n < QP_MAX_THREADS ? n : QP_MAX_THREADS) : 1;
    }
    /* the FP32 path and the attention run in OpenBLAS: same thread count,
     * never at the same time as qprof's own pool */
    openblas_set_num_threads(c->n_threads);
    return 0;
}

int qp_cli_open_model(qp_cli *c, const char *cmd, const char *path)
{
    int rc = qp_cli_resolve(c, cmd);
    if (rc)
        return rc;
    qp_error err;
    qp_error_clear(&err);
    if (qp_model_open(path, &c->model, &err) != QP_OK)
        return qp_report(&err);
    if (c->precision == QP_PREC_REF)
        return 0; /* quantized forms would be ignored: do not build them */
    enum { MAX_FB = 64 };
    qp_fallback fb[MAX_FB];
    int n_fb = 0;
    const qp_status st = qp_model_use_weights(c->model, c->type, c->kernels, !c->rows_only, fb,
                                              MAX_FB, &n_fb, &err);
    for (int i = 0; i < n_fb && i < MAX_FB; i++) {
        const qp_linear *l = qp_model_linear(c->model, fb[i].linear);
        fprintf(stderr, "qprof: %s: %s (rows of %lld) cannot be %s: %s instead\n", cmd, l->name,
                (long long)l->cols, qp_type_info(fb[i].wanted)->name, qp_type_info(fb[i].got)->name);
    }
    if (n_fb > MAX_FB)
        fprintf(stderr, "qprof: %s: ... and %d more fallbacks\n", cmd, n_fb - MAX_FB);
    if (st != QP_OK) {
        qp_model_free(c->model);
        c->model = NULL;
        if (!err.file[0])
            snprintf(err.file, sizeof err.file, "%s", path);
        return qp_report(&err);
    }
    return 0;
}

void qp_cli_close(qp_cli *c)
{
    qp_model_free(c->model);
    c->model = NULL;
}

void qp_cli_describe(const qp_cli *c, FILE *out)
{
    const bool quant = c->precision == QP_PREC_QUANT;
    char linears[512], packed[128] = "";
    qp_model_describe_linears(c->model, quant, linears, sizeof linears);
    if (quant)
        qp_model_packed_layouts(c->model, packed, sizeof packed);
    fprintf(out, "linears: %s | precision %s | kernels %s%s%s%s | KV %s | %d thread%s\n", linears,
            quant ? "quant" : "ref", qp_kernels_name(c->kernels), packed[0] ? " (packed: " : "",
            packed, packed[0] ? ")" : "", qp_kv_type_name(c->kv_type >= 0 ? (enum qp_kv_type)c->kv_type : QP_KV_F16),
            c->n_threads, c->n_threads == 1 ? "" : "s");
}

qp_state_opts qp_cli_state_opts(const qp_cli *c, int n_ctx, int n_batch)
{
    return (qp_state_opts){
        .n_ctx = n_ctx,
        .n_batch = n_batch,
        .n_threads = c->n_threads,
        .kernels = c->kernels,
        .precision = c->precision,
        .kv_type = c->kv_type >= 0 ? (enum qp_kv_type)c->kv_type : QP_KV_F16,
    };
}
