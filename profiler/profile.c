/* profiler/profile.c - names of blocks and metrics; allocation of a profile. */
#include "profiler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const block_names[QP_BLOCK_COUNT] = {
    "attn", "ffn", "q", "k", "v", "o", "gate", "up", "down",
};
static const char *const kind_names[QP_ERR_KIND_COUNT] = {"local", "accumulated"};

const char *qp_block_name(int b) { return b >= 0 && b < QP_BLOCK_COUNT ? block_names[b] : "?"; }
const char *qp_err_kind_name(int k) { return k >= 0 && k < QP_ERR_KIND_COUNT ? kind_names[k] : "?"; }

static double *nan_array(size_t n)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++)
            a[i] = NAN;
    return a;
}

qp_status qp_profile_alloc(qp_profile *p, int n_types, int n_layers, int n_tensors, qp_error *err)
{
    memset(p, 0, sizeof *p);
    if (n_types < 1 || n_types > 64 || n_layers < 1 || n_layers > 4096 || n_tensors < 1 ||
        n_tensors > 65536)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1,
                            "profile dimensions out of range: %d types, %d layers, %d tensors",
                            n_types, n_layers, n_tensors);
    p->n_types = n_types;
    p->n_layers = n_layers;
    p->n_tensors = n_tensors;
    size_t lb = (size_t)n_layers * QP_BLOCK_COUNT, tlb = (size_t)n_types * lb;
    size_t tt = (size_t)n_types * n_tensors;

    p->type_names = calloc((size_t)n_types, sizeof *p->type_names);
    p->tensor_names = calloc((size_t)n_tensors, sizeof *p->tensor_names);
    p->tensor_layer = calloc((size_t)n_tensors, sizeof *p->tensor_layer);
    p->tensor_block = calloc((size_t)n_tensors, sizeof *p->tensor_block);
    p->tensor_params = calloc((size_t)n_tensors, sizeof *p->tensor_params);
    p->ref_latency_median = nan_array(lb);
    p->ref_latency_spread = nan_array(lb);
    p->latency_median = nan_array(tlb);
    p->latency_spread = nan_array(tlb);
    p->tokens_per_s = nan_array(tlb);
    p->weight_gb_per_s = nan_array(tlb);
    p->ref_forward_ms = nan_array(1);
    p->forward_ms = nan_array((size_t)n_types);
    p->block_sum_ms = nan_array((size_t)n_types);
    int ok = p->type_names && p->tensor_names && p->tensor_layer && p->tensor_block &&
             p->tensor_params && p->ref_latency_median && p->ref_latency_spread &&
             p->latency_median && p->latency_spread && p->tokens_per_s && p->weight_gb_per_s &&
             p->ref_forward_ms && p->forward_ms && p->block_sum_ms;
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++)
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++)
            ok = (p->err[m][k] = nan_array(tlb)) && ok;
    for (int m = 0; m < QP_W_METRIC_COUNT; m++)
        ok = (p->w_err[m] = nan_array(tt)) && ok;
    p->w_type = malloc(tt * sizeof *p->w_type);
    p->kld_mean = nan_array((size_t)n_types);
    p->kld_max = nan_array((size_t)n_types);
    p->top1 = nan_array((size_t)n_types);
    p->done = calloc((size_t)n_types * n_layers, 1);
    p->done_model = calloc((size_t)n_types, 1);
    ok = ok && p->w_type && p->kld_mean && p->kld_max && p->top1 && p->done && p->done_model;
    if (!ok) {
        qp_profile_free(p);
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for the profile");
    }
    for (size_t i = 0; i < tt; i++)
        p->w_type[i] = -1;
    return QP_OK;
}

void qp_profile_free(qp_profile *p)
{
    free(p->type_names);
    free(p->tensor_names);
    free(p->tensor_layer);
    free(p->tensor_block);
    free(p->tensor_params);
    free(p->ref_latency_median);
    free(p->ref_latency_spread);
    free(p->latency_median);
    free(p->latency_spread);
    free(p->tokens_per_s);
    free(p->weight_gb_per_s);
    free(p->ref_forward_ms);
    free(p->forward_ms);
    free(p->block_sum_ms);
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++)
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++)
            free(p->err[m][k]);
    for (int m = 0; m < QP_W_METRIC_COUNT; m++)
        free(p->w_err[m]);
    free(p->w_type);
    free(p->kld_mean);
    free(p->kld_max);
    free(p->top1);
    free(p->done);
    free(p->done_model);
    memset(p, 0, sizeof *p);
}
