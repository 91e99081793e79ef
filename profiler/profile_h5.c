/* profiler/profile_h5.c - a qp_profile to and from HDF5 (docs/profile-h5.md),
 * through output/'s HDF5 writer and reader. Every data set's dimensions are
 * attached to the scales /type, /layer, /block and /tensor. */
#include "profiler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../output/output.h"

#define FORMAT_NAME "qprof-profile"
#define FORMAT_VERSION 1

/* the int arrays of a profile are written as int32 */
_Static_assert(sizeof(int) == 4, "qp_profile int arrays are stored as int32");

/* ==== writing ============================================================ */

static void write_all(qp_h5_writer *w, const qp_profile *p)
{
    qp_h5_attr_str(w, "format", FORMAT_NAME);
    qp_h5_attr_int(w, "format_version", FORMAT_VERSION);
    qp_h5_attr_str(w, "qprof_version", p->qprof_version);
    qp_h5_attr_str(w, "model_path", p->model_path);
    qp_h5_attr_str(w, "model_sha256", p->model_sha256);
    qp_h5_attr_str(w, "architecture", p->architecture);
    qp_h5_attr_str(w, "reference", p->reference);
    qp_h5_attr_str(w, "kernel_variant", p->kernel_variant);
    qp_h5_attr_str(w, "packed_layouts", p->packed_layouts);
    qp_h5_attr_str(w, "kv_type", p->kv_type);
    qp_h5_attr_str(w, "cpu_model", p->cpu_model);
    qp_h5_attr_str(w, "date", p->date);
    qp_h5_attr_str(w, "text_source", p->text_source);
    qp_h5_attr_int(w, "n_layer", p->n_layers);
    qp_h5_attr_int(w, "n_tokens", p->n_tokens);
    qp_h5_attr_int(w, "threads", p->threads);
    qp_h5_attr_int(w, "reps", p->reps);

    /* ---- dimension scales ---- */
    const uint64_t ty = (uint64_t)p->n_types, nl = (uint64_t)p->n_layers, nt = (uint64_t)p->n_tensors, one = 1;
    const char **names = malloc(sizeof(char *) * (size_t)(p->n_tensors > p->n_types ? p->n_tensors : p->n_types));
    if (!names) {
        qp_h5_fail(w);
        return;
    }
    for (int i = 0; i < p->n_types; i++)
        names[i] = p->type_names[i];
    const int sc_type = qp_h5_scale_strings(w, "type", names, ty, "quantization type of each profile row");
    const int sc_layer = qp_h5_scale_index(w, "layer", nl, "layer index");
    const char *bn[QP_BLOCK_COUNT];
    for (int b = 0; b < QP_BLOCK_COUNT; b++)
        bn[b] = qp_block_name(b);
    const int sc_block = qp_h5_scale_strings(w, "block", bn, QP_BLOCK_COUNT,
                                             "attn, ffn: whole blocks; q k v o gate up down: their linear layers");
    for (int i = 0; i < p->n_tensors; i++)
        names[i] = p->tensor_names[i];
    const int sc_tensor = qp_h5_scale_strings(w, "tensor", names, nt, "GGUF tensor name");
    free(names);

    const int s_tensor[1] = {sc_tensor};
    qp_h5_dataset(w, "tensor_layer", QP_H5_I32, 1, &nt, p->tensor_layer, NULL,
                  "layer of each tensor, -1 for the output projection", s_tensor);
    qp_h5_dataset(w, "tensor_block", QP_H5_I32, 1, &nt, p->tensor_block, NULL,
                  "index into /block of each tensor, -1 for the output projection", s_tensor);
    qp_h5_dataset(w, "tensor_params", QP_H5_I64, 1, &nt, p->tensor_params, NULL,
                  "weights (rows x cols) of each tensor", s_tensor);

    /* ---- latency ---- */
    const uint64_t lb[2] = {nl, QP_BLOCK_COUNT}, tlb[3] = {ty, nl, QP_BLOCK_COUNT};
    const int s_lb[2] = {sc_layer, sc_block}, s_tlb[3] = {sc_type, sc_layer, sc_block};
    const int s_ty[1] = {sc_type}, s_tt[2] = {sc_type, sc_tensor};
    qp_h5_group(w, "latency_ms");
    qp_h5_dataset(w, "latency_ms/reference_median", QP_H5_F64, 2, lb, p->ref_latency_median, "ms",
                  "median over reps of the FP32 reference block's time for all n_tokens", s_lb);
    qp_h5_dataset(w, "latency_ms/reference_spread", QP_H5_F64, 2, lb, p->ref_latency_spread, "ms",
                  "max - min over reps of the reference block's time", s_lb);
    qp_h5_dataset(w, "latency_ms/median", QP_H5_F64, 3, tlb, p->latency_median, "ms",
                  "median over reps of the quantized block's time for all n_tokens", s_tlb);
    qp_h5_dataset(w, "latency_ms/spread", QP_H5_F64, 3, tlb, p->latency_spread, "ms",
                  "max - min over reps of the quantized block's time", s_tlb);
    qp_h5_group(w, "throughput");
    qp_h5_dataset(w, "throughput/tokens_per_s", QP_H5_F64, 3, tlb, p->tokens_per_s, "tokens/s",
                  "n_tokens / median latency of the quantized block", s_tlb);
    qp_h5_dataset(w, "throughput/weight_gb_per_s", QP_H5_F64, 3, tlb, p->weight_gb_per_s, "GB/s",
                  "quantized weight bytes read by the block / median latency (10^9 bytes/s)", s_tlb);
    qp_h5_group(w, "forward_ms");
    qp_h5_dataset(w, "forward_ms/reference", QP_H5_F64, 1, &one, p->ref_forward_ms, "ms",
                  "median time of the whole reference forward pass over n_tokens", NULL);
    qp_h5_dataset(w, "forward_ms/quantized", QP_H5_F64, 1, &ty, p->forward_ms, "ms",
                  "median time of the whole quantized forward pass over n_tokens", s_ty);
    qp_h5_dataset(w, "forward_ms/block_sum", QP_H5_F64, 1, &ty, p->block_sum_ms, "ms",
                  "embedding + every attention and FFN block + final norm + output projection, same run", s_ty);

    /* ---- errors ---- */
    qp_h5_group(w, "error");
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++) {
        char path[96];
        snprintf(path, sizeof path, "error/%s", qp_err_metric_name(m));
        qp_h5_group(w, path);
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++) {
            snprintf(path, sizeof path, "error/%s/%s", qp_err_metric_name(m), qp_err_kind_name(k));
            qp_h5_dataset(w, path, QP_H5_F64, 3, tlb, p->err[m][k], qp_err_metric_units(m),
                          k == QP_LOCAL ? "block output error when the block alone is quantized and fed the reference input"
                                        : "block output error with the whole model quantized (what reaches this point)",
                          s_tlb);
        }
    }
    qp_h5_group(w, "weights");
    const uint64_t tt[2] = {ty, nt};
    static const char *const w_units[QP_W_METRIC_COUNT] = {"weight units", "1", "weight units", "dB"};
    for (int m = 0; m < QP_W_METRIC_COUNT; m++) {
        char path[96];
        snprintf(path, sizeof path, "weights/%s", qp_w_metric_name(m));
        qp_h5_dataset(w, path, QP_H5_F64, 2, tt, p->w_err[m], w_units[m],
                      "error of the quantized weights against the FP32 reference weights", s_tt);
    }
    qp_h5_dataset(w, "weights/type_id", QP_H5_I32, 2, tt, p->w_type, NULL,
                  "GGUF type id actually used for the tensor (differs from /type where a row does not fit the block)",
                  s_tt);

    qp_h5_group(w, "logits");
    qp_h5_dataset(w, "logits/kld_mean", QP_H5_F64, 1, &ty, p->kld_mean, "nats",
                  "mean over positions of KL(reference || quantized) of the next-token distribution", s_ty);
    qp_h5_dataset(w, "logits/kld_max", QP_H5_F64, 1, &ty, p->kld_max, "nats", "largest KL divergence over positions",
                  s_ty);
    qp_h5_dataset(w, "logits/top1_percent", QP_H5_F64, 1, &ty, p->top1, "%",
                  "positions where the quantized model's most likely token is the reference's", s_ty);

    qp_h5_group(w, "progress");
    const uint64_t tl[2] = {ty, nl};
    const int s_tl[2] = {sc_type, sc_layer};
    qp_h5_dataset(w, "progress/done", QP_H5_U8, 2, tl, p->done, NULL,
                  "1 where the layer's local errors and latencies are measured (for --resume)", s_tl);
    qp_h5_dataset(w, "progress/done_model", QP_H5_U8, 1, &ty, p->done_model, NULL,
                  "1 where the whole-model (accumulated) pass is measured", s_ty);
}

qp_status qp_profile_write_h5(const qp_profile *p, const char *path, qp_error *err)
{
    qp_h5_writer *w;
    qp_status st = qp_h5_create(path, &w, err);
    if (st != QP_OK)
        return st;
    write_all(w, p);
    return qp_h5_commit(w, err);
}

/* ==== reading ============================================================ */

qp_status qp_profile_read_h5(qp_profile *p, const char *path, qp_error *err)
{
    memset(p, 0, sizeof *p);
    qp_h5_reader *r;
    qp_status st = qp_h5_open(path, &r, err);
    if (st != QP_OK)
        return st;
    char format[64];
    qp_h5_read_attr_str(r, "format", format, sizeof format);
    if (qp_h5_status(r) == QP_OK && strcmp(format, FORMAT_NAME) != 0)
        qp_h5_invalid(r, "format", "not a qprof profile");
    if (qp_h5_status(r) == QP_OK && qp_h5_read_attr_int(r, "format_version") != FORMAT_VERSION)
        qp_h5_invalid(r, "format_version", "unsupported format version");
    const long long n_types = qp_h5_length(r, "type"), n_layers = qp_h5_length(r, "layer"),
                    n_tensors = qp_h5_length(r, "tensor");
    if (qp_h5_status(r) == QP_OK && (n_types < 1 || n_types > 64 || n_layers < 1 || n_layers > 4096 ||
                                     n_tensors < 1 || n_tensors > 65536))
        qp_h5_invalid(r, "type/layer/tensor", "dimensions out of range");
    /* sizes are now bounded (a few MB at most): safe to allocate */
    if (qp_h5_status(r) != QP_OK || (st = qp_profile_alloc(p, (int)n_types, (int)n_layers, (int)n_tensors, err)) != QP_OK) {
        const qp_status rs = qp_h5_close(r);
        return rs != QP_OK ? rs : st;
    }
    qp_h5_read_attr_str(r, "qprof_version", p->qprof_version, sizeof p->qprof_version);
    qp_h5_read_attr_str(r, "model_path", p->model_path, sizeof p->model_path);
    qp_h5_read_attr_str(r, "model_sha256", p->model_sha256, sizeof p->model_sha256);
    qp_h5_read_attr_str(r, "architecture", p->architecture, sizeof p->architecture);
    qp_h5_read_attr_str(r, "reference", p->reference, sizeof p->reference);
    qp_h5_read_attr_str(r, "kernel_variant", p->kernel_variant, sizeof p->kernel_variant);
    /* added in session 3: a file without it was written before packing existed */
    if (qp_h5_has_attr(r, "packed_layouts"))
        qp_h5_read_attr_str(r, "packed_layouts", p->packed_layouts, sizeof p->packed_layouts);
    else
        snprintf(p->packed_layouts, sizeof p->packed_layouts, "none");
    /* added in session 6: before it, the KV cache was always F32 */
    if (qp_h5_has_attr(r, "kv_type"))
        qp_h5_read_attr_str(r, "kv_type", p->kv_type, sizeof p->kv_type);
    else
        snprintf(p->kv_type, sizeof p->kv_type, "f32");
    qp_h5_read_attr_str(r, "cpu_model", p->cpu_model, sizeof p->cpu_model);
    qp_h5_read_attr_str(r, "date", p->date, sizeof p->date);
    qp_h5_read_attr_str(r, "text_source", p->text_source, sizeof p->text_source);
    p->n_tokens = (int)qp_h5_read_attr_int(r, "n_tokens");
    p->threads = (int)qp_h5_read_attr_int(r, "threads");
    p->reps = (int)qp_h5_read_attr_int(r, "reps");

    qp_h5_read_strings(r, "type", (uint64_t)n_types, p->type_names[0], QP_NAME_MAX);
    qp_h5_read_strings(r, "tensor", (uint64_t)n_tensors, p->tensor_names[0], QP_NAME_MAX);
    const uint64_t nt = (uint64_t)n_tensors, nl = (uint64_t)n_layers, ty = (uint64_t)n_types, one = 1;
    const uint64_t lb[2] = {nl, QP_BLOCK_COUNT}, tlb[3] = {ty, nl, QP_BLOCK_COUNT}, tt[2] = {ty, nt}, tl[2] = {ty, nl};
    qp_h5_read(r, "tensor_layer", QP_H5_I32, 1, &nt, p->tensor_layer);
    qp_h5_read(r, "tensor_block", QP_H5_I32, 1, &nt, p->tensor_block);
    qp_h5_read(r, "tensor_params", QP_H5_I64, 1, &nt, p->tensor_params);
    qp_h5_read(r, "latency_ms/reference_median", QP_H5_F64, 2, lb, p->ref_latency_median);
    qp_h5_read(r, "latency_ms/reference_spread", QP_H5_F64, 2, lb, p->ref_latency_spread);
    qp_h5_read(r, "latency_ms/median", QP_H5_F64, 3, tlb, p->latency_median);
    qp_h5_read(r, "latency_ms/spread", QP_H5_F64, 3, tlb, p->latency_spread);
    qp_h5_read(r, "throughput/tokens_per_s", QP_H5_F64, 3, tlb, p->tokens_per_s);
    qp_h5_read(r, "throughput/weight_gb_per_s", QP_H5_F64, 3, tlb, p->weight_gb_per_s);
    qp_h5_read(r, "forward_ms/reference", QP_H5_F64, 1, &one, p->ref_forward_ms);
    qp_h5_read(r, "forward_ms/quantized", QP_H5_F64, 1, &ty, p->forward_ms);
    qp_h5_read(r, "forward_ms/block_sum", QP_H5_F64, 1, &ty, p->block_sum_ms);
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++)
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++) {
            char path2[96];
            snprintf(path2, sizeof path2, "error/%s/%s", qp_err_metric_name(m), qp_err_kind_name(k));
            qp_h5_read(r, path2, QP_H5_F64, 3, tlb, p->err[m][k]);
        }
    for (int m = 0; m < QP_W_METRIC_COUNT; m++) {
        char path2[96];
        snprintf(path2, sizeof path2, "weights/%s", qp_w_metric_name(m));
        qp_h5_read(r, path2, QP_H5_F64, 2, tt, p->w_err[m]);
    }
    qp_h5_read(r, "weights/type_id", QP_H5_I32, 2, tt, p->w_type);
    qp_h5_read(r, "logits/kld_mean", QP_H5_F64, 1, &ty, p->kld_mean);
    qp_h5_read(r, "logits/kld_max", QP_H5_F64, 1, &ty, p->kld_max);
    qp_h5_read(r, "logits/top1_percent", QP_H5_F64, 1, &ty, p->top1);
    qp_h5_read(r, "progress/done", QP_H5_U8, 2, tl, p->done);
    qp_h5_read(r, "progress/done_model", QP_H5_U8, 1, &ty, p->done_model);
    st = qp_h5_close(r);
    if (st != QP_OK)
        qp_profile_free(p);
    return st;
}
