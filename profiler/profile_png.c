/* profiler/profile_png.c - the standard set of heatmaps of a profile.
 *
 * One image per view, one panel per quantization type, shared colour scale:
 *   error-local-<metric>.png        layer x block, local output error
 *   error-accumulated-<metric>.png  layer x block, accumulated output error
 *   latency-ratio.png               layer x block, quantized / reference time
 *   weights-rel_rmse.png            layer x tensor, weight error
 *   overview.png                    layer x type: error reaching each layer's
 *                                   output (accumulated rel. L2 of the FFN
 *                                   block), beside the local FFN+attn error
 * Relative L2 errors are shown in percent, on a log scale (they span
 * decades between Q8_0 and Q2_K).
 */
#include "profiler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../output/output.h"

static const char *const block_cols[QP_BLOCK_COUNT] = {"attn", "ffn", "q", "k", "v", "o", "gate", "up", "down"};
static const char *const tensor_cols[7] = {"q", "k", "v", "o", "gate", "up", "down"};

static void subtitle(const qp_profile *p, char *buf, size_t size)
{
    const char *base = strrchr(p->model_path, '/');
    base = base ? base + 1 : p->model_path;
    snprintf(buf, size, "%s, %d tokens, %s kernels, %d threads; reference: %s", base, p->n_tokens,
             p->kernel_variant, p->threads, p->reference);
}

static int wanted(const char *filter, const char *name)
{
    if (!filter || !*filter)
        return 1;
    /* comma-separated names; a name matches when it is a part of the file name */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", filter);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        if (strstr(name, tok))
            return 1;
    return 0;
}

typedef struct outputs {
    const char *prefix;
    const char *filter;
    char **written;
    int n_written, max_written;
    qp_error *err;
} outputs;

static qp_status emit(outputs *o, const char *name, const qp_heatmap *h)
{
    if (!wanted(o->filter, name))
        return QP_OK;
    char path[1200];
    snprintf(path, sizeof path, "%s%s.png", o->prefix, name);
    qp_status st = qp_heatmap_write_png(h, path, o->err);
    if (st == QP_OK && o->written && o->n_written < o->max_written)
        o->written[o->n_written++] = strdup(path);
    return st;
}

qp_status qp_profile_write_pngs(const qp_profile *p, const char *prefix, const char *filter,
                                char **written, int max_written, int *n_written, qp_error *err)
{
    outputs o = {prefix, filter, written, 0, max_written, err};
    const int T = p->n_types, L = p->n_layers;
    const size_t lb = (size_t)L * QP_BLOCK_COUNT;
    char sub[1400];
    subtitle(p, sub, sizeof sub);
    qp_heatmap_panel *panels = calloc((size_t)T, sizeof *panels);
    double *buf = malloc((size_t)T * lb * sizeof(double));
    double *wbuf = malloc((size_t)T * L * 7 * sizeof(double));
    double *ov = malloc((size_t)L * T * 2 * sizeof(double));
    const char **ov_cols = calloc((size_t)T * 2, sizeof *ov_cols);
    char (*ov_names)[QP_NAME_MAX + 8] = calloc((size_t)T * 2, sizeof *ov_names);
    qp_status st = QP_OK;
    if (!panels || !buf || !wbuf || !ov || !ov_cols || !ov_names) {
        st = qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for heatmaps");
        goto done;
    }

    /* ---- output errors ---- */
    for (int k = 0; k < QP_ERR_KIND_COUNT && st == QP_OK; k++)
        for (int m = 0; m < QP_ERR_METRIC_COUNT && st == QP_OK; m++) {
            int pct = m == QP_ERR_REL_L2;
            for (size_t i = 0; i < (size_t)T * lb; i++)
                buf[i] = pct ? 100 * p->err[m][k][i] : p->err[m][k][i];
            for (int t = 0; t < T; t++)
                panels[t] = (qp_heatmap_panel){p->type_names[t], buf + (size_t)t * lb};
            char title[160], name[96], label[96];
            snprintf(title, sizeof title, "%s output error per block (%s)",
                     k == QP_LOCAL ? "Local" : "Accumulated", qp_err_metric_name(m));
            snprintf(name, sizeof name, "error-%s-%s", qp_err_kind_name(k), qp_err_metric_name(m));
            static const char *const labels[QP_ERR_METRIC_COUNT] = {
                "relative L2 error (%)", "cosine similarity", "SQNR (dB)", "max abs error"};
            snprintf(label, sizeof label, "%s", labels[m]);
            qp_heatmap h = {.title = title, .subtitle = sub, .value_label = label, .x_label =
                            k == QP_LOCAL ? "block (fed the reference input)" : "block (whole model quantized)",
                            .y_label = "layer", .rows = L, .cols = QP_BLOCK_COUNT, .col_names = block_cols,
                            .n_panels = T, .panels = panels, .log_scale = pct || m == QP_ERR_MAX_ABS,
                            .annotate = 1};
            st = emit(&o, name, &h);
        }

    /* ---- latency ratio ---- */
    if (st == QP_OK) {
        for (int t = 0; t < T; t++) {
            for (size_t i = 0; i < lb; i++) {
                double q = p->latency_median[t * lb + i], r = p->ref_latency_median[i];
                buf[t * lb + i] = r > 0 && q > 0 ? q / r : NAN;
            }
            panels[t] = (qp_heatmap_panel){p->type_names[t], buf + (size_t)t * lb};
        }
        qp_heatmap h = {.title = "Latency of each block, quantized / FP32 reference", .subtitle = sub,
                        .value_label = "time ratio (< 1: faster than FP32)", .x_label = "block",
                        .y_label = "layer", .rows = L, .cols = QP_BLOCK_COUNT, .col_names = block_cols,
                        .n_panels = T, .panels = panels, .annotate = 1};
        st = emit(&o, "latency-ratio", &h);
    }

    /* ---- weight error, layer x tensor ---- */
    if (st == QP_OK) {
        for (size_t i = 0; i < (size_t)T * L * 7; i++)
            wbuf[i] = NAN;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < p->n_tensors; i++) {
                int l = p->tensor_layer[i], b = p->tensor_block[i];
                if (l >= 0 && l < L && b >= QP_BLOCK_Q && b < QP_BLOCK_COUNT)
                    wbuf[((size_t)t * L + l) * 7 + (b - QP_BLOCK_Q)] =
                        100 * p->w_err[QP_W_REL_RMSE][(size_t)t * p->n_tensors + i];
            }
            panels[t] = (qp_heatmap_panel){p->type_names[t], wbuf + (size_t)t * L * 7};
        }
        qp_heatmap h = {.title = "Weight error per tensor (RMSE / RMS of the weights)", .subtitle = sub,
                        .value_label = "relative RMSE (%)", .x_label = "tensor", .y_label = "layer",
                        .rows = L, .cols = 7, .col_names = tensor_cols, .n_panels = T, .panels = panels,
                        .log_scale = 1, .annotate = 1};
        st = emit(&o, "weights-rel_rmse", &h);
    }

    /* ---- overview: types side by side ---- */
    if (st == QP_OK) {
        for (int t = 0; t < T; t++) {
            snprintf(ov_names[t], sizeof ov_names[t], "%s", p->type_names[t]);
            ov_cols[t] = ov_names[t];
            for (int l = 0; l < L; l++) {
                ov[(size_t)l * T + t] = 100 * p->err[QP_ERR_REL_L2][QP_ACCUMULATED][qp_profile_tlb(p, t, l, QP_BLOCK_FFN)];
                double a = p->err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(p, t, l, QP_BLOCK_ATTN)];
                double f = p->err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(p, t, l, QP_BLOCK_FFN)];
                ov[(size_t)L * T + (size_t)l * T + t] = 100 * (a > f ? a : f);
            }
        }
        qp_heatmap_panel two[2] = {{"accumulated: error reaching the layer's output", ov},
                                   {"local: worst of the layer's two blocks", ov + (size_t)L * T}};
        qp_heatmap h = {.title = "Overview: relative L2 error by layer and type", .subtitle = sub,
                        .value_label = "relative L2 error (%)", .x_label = "quantization type",
                        .y_label = "layer", .rows = L, .cols = T, .col_names = ov_cols, .n_panels = 2,
                        .panels = two, .log_scale = 1, .annotate = 1};
        st = emit(&o, "overview", &h);
    }

done:
    if (n_written)
        *n_written = o.n_written;
    free(panels);
    free(buf);
    free(wbuf);
    free(ov);
    free(ov_cols);
    free(ov_names);
    return st;
}
