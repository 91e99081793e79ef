/* profiler/profile_h5.c - a qp_profile to and from HDF5 (docs/profile-h5.md).
 *
 * HDF5's automatic error printing is switched off; every returned id is
 * checked and closed on every path. Names are variable-length UTF-8 strings
 * (h5py reads them as str). Each data set carries "units" and "description"
 * attributes and has its dimensions attached to the scale data sets /type,
 * /layer, /block and /tensor (HDF5 dimension scales), so h5py's ds.dims and
 * h5dump show what each axis is.
 */
#include "profiler.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define FORMAT_NAME "qprof-profile"
#define FORMAT_VERSION 1

/* ==== writing ============================================================ */

typedef struct h5w {
    hid_t file;
    hid_t str_type;       /* variable-length UTF-8 string */
    hid_t scale[4];       /* type, layer, block, tensor */
    int failed;
} h5w;

enum { SC_TYPE = 0, SC_LAYER, SC_BLOCK, SC_TENSOR };

static void set_str_attr(h5w *w, hid_t obj, const char *name, const char *value)
{
    if (w->failed)
        return;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(obj, name, w->str_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, w->str_type, &value) < 0)
        w->failed = 1;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
}

static void set_int_attr(h5w *w, hid_t obj, const char *name, long long value)
{
    if (w->failed)
        return;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &value) < 0)
        w->failed = 1;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
}

static hid_t group(h5w *w, const char *path)
{
    if (w->failed)
        return -1;
    hid_t g = H5Gcreate2(w->file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        w->failed = 1;
    return g;
}

/* Writes one data set. `scales` gives, per dimension, an index into
 * w->scale (or -1 for none). The data set is closed unless keep != NULL. */
static void dataset(h5w *w, const char *path, int rank, const hsize_t *dims, hid_t file_type,
                    hid_t mem_type, const void *data, const char *units, const char *desc,
                    const int *scales, hid_t *keep)
{
    if (w->failed)
        return;
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = sp < 0 ? -1 : H5Dcreate2(w->file, path, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        w->failed = 1;
    } else {
        if (units)
            set_str_attr(w, d, "units", units);
        if (desc)
            set_str_attr(w, d, "description", desc);
        for (int i = 0; scales && i < rank && !w->failed; i++)
            if (scales[i] >= 0 && H5DSattach_scale(d, w->scale[scales[i]], (unsigned)i) < 0)
                w->failed = 1;
    }
    if (keep && !w->failed)
        *keep = d;
    else if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
}

static void strings(h5w *w, const char *path, const char *const *s, hsize_t n, const char *desc,
                    int scale_index, const char *scale_name)
{
    hid_t d = -1;
    dataset(w, path, 1, &n, w->str_type, w->str_type, s, NULL, desc, NULL, &d);
    if (!w->failed && scale_name) {
        if (H5DSset_scale(d, scale_name) < 0)
            w->failed = 1;
        w->scale[scale_index] = d;
    } else if (d >= 0) {
        H5Dclose(d);
    }
}

static void doubles(h5w *w, const char *path, int rank, const hsize_t *dims, const double *data,
                    const char *units, const char *desc, const int *scales)
{
    dataset(w, path, rank, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, units, desc, scales, NULL);
}

static void write_all(h5w *w, const qp_profile *p)
{
    hid_t root = w->file;
    set_str_attr(w, root, "format", FORMAT_NAME);
    set_int_attr(w, root, "format_version", FORMAT_VERSION);
    set_str_attr(w, root, "qprof_version", p->qprof_version);
    set_str_attr(w, root, "model_path", p->model_path);
    set_str_attr(w, root, "model_sha256", p->model_sha256);
    set_str_attr(w, root, "architecture", p->architecture);
    set_str_attr(w, root, "reference", p->reference);
    set_str_attr(w, root, "kernel_variant", p->kernel_variant);
    set_str_attr(w, root, "packed_layouts", p->packed_layouts);
    set_str_attr(w, root, "cpu_model", p->cpu_model);
    set_str_attr(w, root, "date", p->date);
    set_str_attr(w, root, "text_source", p->text_source);
    set_int_attr(w, root, "n_layer", p->n_layers);
    set_int_attr(w, root, "n_tokens", p->n_tokens);
    set_int_attr(w, root, "threads", p->threads);
    set_int_attr(w, root, "reps", p->reps);

    /* ---- dimension scales ---- */
    const char **names = malloc(sizeof(char *) * (size_t)(p->n_tensors > p->n_types ? p->n_tensors : p->n_types));
    int32_t *layers = malloc(sizeof(int32_t) * (size_t)p->n_layers);
    if (!names || !layers) {
        w->failed = 1;
        free(names);
        free(layers);
        return;
    }
    for (int i = 0; i < p->n_types; i++)
        names[i] = p->type_names[i];
    strings(w, "type", names, (hsize_t)p->n_types, "quantization type of each profile row", SC_TYPE, "type");
    for (int i = 0; i < p->n_layers; i++)
        layers[i] = i;
    hsize_t nl = (hsize_t)p->n_layers;
    hid_t ld = -1;
    dataset(w, "layer", 1, &nl, H5T_STD_I32LE, H5T_NATIVE_INT32, layers, NULL, "layer index", NULL, &ld);
    if (!w->failed) {
        if (H5DSset_scale(ld, "layer") < 0)
            w->failed = 1;
        w->scale[SC_LAYER] = ld;
    }
    const char *bn[QP_BLOCK_COUNT];
    for (int b = 0; b < QP_BLOCK_COUNT; b++)
        bn[b] = qp_block_name(b);
    strings(w, "block", bn, QP_BLOCK_COUNT,
            "attn, ffn: whole blocks; q k v o gate up down: their linear layers", SC_BLOCK, "block");
    for (int i = 0; i < p->n_tensors; i++)
        names[i] = p->tensor_names[i];
    strings(w, "tensor", names, (hsize_t)p->n_tensors, "GGUF tensor name", SC_TENSOR, "tensor");
    free(names);
    free(layers);

    hsize_t nt = (hsize_t)p->n_tensors;
    const int s_tensor[1] = {SC_TENSOR};
    dataset(w, "tensor_layer", 1, &nt, H5T_STD_I32LE, H5T_NATIVE_INT, p->tensor_layer, NULL,
            "layer of each tensor, -1 for the output projection", s_tensor, NULL);
    dataset(w, "tensor_block", 1, &nt, H5T_STD_I32LE, H5T_NATIVE_INT, p->tensor_block, NULL,
            "index into /block of each tensor, -1 for the output projection", s_tensor, NULL);
    dataset(w, "tensor_params", 1, &nt, H5T_STD_I64LE, H5T_NATIVE_INT64, p->tensor_params, NULL,
            "weights (rows x cols) of each tensor", s_tensor, NULL);

    /* ---- latency ---- */
    hsize_t lb[2] = {nl, QP_BLOCK_COUNT};
    hsize_t tlb[3] = {(hsize_t)p->n_types, nl, QP_BLOCK_COUNT};
    hsize_t ty = (hsize_t)p->n_types, one = 1;
    const int s_lb[2] = {SC_LAYER, SC_BLOCK}, s_tlb[3] = {SC_TYPE, SC_LAYER, SC_BLOCK};
    const int s_ty[1] = {SC_TYPE}, s_tt[2] = {SC_TYPE, SC_TENSOR};
    hid_t g;
    if ((g = group(w, "latency_ms")) >= 0)
        H5Gclose(g);
    doubles(w, "latency_ms/reference_median", 2, lb, p->ref_latency_median, "ms",
            "median over reps of the FP32 reference block's time for all n_tokens", s_lb);
    doubles(w, "latency_ms/reference_spread", 2, lb, p->ref_latency_spread, "ms",
            "max - min over reps of the reference block's time", s_lb);
    doubles(w, "latency_ms/median", 3, tlb, p->latency_median, "ms",
            "median over reps of the quantized block's time for all n_tokens", s_tlb);
    doubles(w, "latency_ms/spread", 3, tlb, p->latency_spread, "ms",
            "max - min over reps of the quantized block's time", s_tlb);
    if ((g = group(w, "throughput")) >= 0)
        H5Gclose(g);
    doubles(w, "throughput/tokens_per_s", 3, tlb, p->tokens_per_s, "tokens/s",
            "n_tokens / median latency of the quantized block", s_tlb);
    doubles(w, "throughput/weight_gb_per_s", 3, tlb, p->weight_gb_per_s, "GB/s",
            "quantized weight bytes read by the block / median latency (10^9 bytes/s)", s_tlb);
    if ((g = group(w, "forward_ms")) >= 0)
        H5Gclose(g);
    doubles(w, "forward_ms/reference", 1, &one, p->ref_forward_ms, "ms",
            "median time of the whole reference forward pass over n_tokens", NULL);
    doubles(w, "forward_ms/quantized", 1, &ty, p->forward_ms, "ms",
            "median time of the whole quantized forward pass over n_tokens", s_ty);
    doubles(w, "forward_ms/block_sum", 1, &ty, p->block_sum_ms, "ms",
            "embedding + every attention and FFN block + final norm + output projection, same run", s_ty);

    /* ---- errors ---- */
    if ((g = group(w, "error")) >= 0)
        H5Gclose(g);
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++) {
        char path[96];
        snprintf(path, sizeof path, "error/%s", qp_err_metric_name(m));
        if ((g = group(w, path)) >= 0)
            H5Gclose(g);
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++) {
            snprintf(path, sizeof path, "error/%s/%s", qp_err_metric_name(m), qp_err_kind_name(k));
            doubles(w, path, 3, tlb, p->err[m][k], qp_err_metric_units(m),
                    k == QP_LOCAL ? "block output error when the block alone is quantized and fed the reference input"
                                  : "block output error with the whole model quantized (what reaches this point)",
                    s_tlb);
        }
    }
    if ((g = group(w, "weights")) >= 0)
        H5Gclose(g);
    hsize_t tt[2] = {ty, nt};
    static const char *const w_units[QP_W_METRIC_COUNT] = {"weight units", "1", "weight units", "dB"};
    for (int m = 0; m < QP_W_METRIC_COUNT; m++) {
        char path[96];
        snprintf(path, sizeof path, "weights/%s", qp_w_metric_name(m));
        doubles(w, path, 2, tt, p->w_err[m], w_units[m],
                "error of the quantized weights against the FP32 reference weights", s_tt);
    }
    dataset(w, "weights/type_id", 2, tt, H5T_STD_I32LE, H5T_NATIVE_INT, p->w_type, NULL,
            "GGUF type id actually used for the tensor (differs from /type where a row does not fit the block)",
            s_tt, NULL);

    if ((g = group(w, "logits")) >= 0)
        H5Gclose(g);
    doubles(w, "logits/kld_mean", 1, &ty, p->kld_mean, "nats",
            "mean over positions of KL(reference || quantized) of the next-token distribution", s_ty);
    doubles(w, "logits/kld_max", 1, &ty, p->kld_max, "nats", "largest KL divergence over positions", s_ty);
    doubles(w, "logits/top1_percent", 1, &ty, p->top1, "%",
            "positions where the quantized model's most likely token is the reference's", s_ty);

    if ((g = group(w, "progress")) >= 0)
        H5Gclose(g);
    hsize_t tl[2] = {ty, nl};
    const int s_tl[2] = {SC_TYPE, SC_LAYER};
    dataset(w, "progress/done", 2, tl, H5T_STD_U8LE, H5T_NATIVE_UINT8, p->done, NULL,
            "1 where the layer's local errors and latencies are measured (for --resume)", s_tl, NULL);
    dataset(w, "progress/done_model", 1, &ty, H5T_STD_U8LE, H5T_NATIVE_UINT8, p->done_model, NULL,
            "1 where the whole-model (accumulated) pass is measured", s_ty, NULL);
}

qp_status qp_profile_write_h5(const qp_profile *p, const char *path, qp_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp); /* reserves a unique name; HDF5 then truncates it */
    if (fd < 0) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create: %m");
        free(tmp);
        return st;
    }
    close(fd);

    h5w w = {.file = -1, .str_type = -1, .scale = {-1, -1, -1, -1}};
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    w.str_type = H5Tcopy(H5T_C_S1);
    if (w.file < 0 || w.str_type < 0 || H5Tset_size(w.str_type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(w.str_type, H5T_CSET_UTF8) < 0)
        w.failed = 1;
    if (!w.failed)
        write_all(&w, p);
    for (int i = 0; i < 4; i++)
        if (w.scale[i] >= 0)
            H5Dclose(w.scale[i]);
    if (w.str_type >= 0)
        H5Tclose(w.str_type);
    if (w.file >= 0 && H5Fclose(w.file) < 0)
        w.failed = 1;
    if (w.failed) {
        unlink(tmp);
        free(tmp);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "writing HDF5 failed (disk full or not writable?)");
    }
    /* HDF5 has flushed and closed the file; make the data durable before
     * the rename makes it visible under the final name */
    fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, path) != 0) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot rename into place: %m");
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return QP_OK;
}

/* ==== reading ============================================================ */

typedef struct h5r {
    hid_t file;
    const char *path;
    qp_error *err;
    qp_status st;
} h5r;

static int r_fail(h5r *r, const char *what, const char *obj)
{
    if (r->st == QP_OK)
        r->st = qp_error_set(r->err, QP_ERR_INPUT, r->path, -1, "%s: %s", obj, what);
    return -1;
}

static void read_str_attr(h5r *r, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    if (r->st != QP_OK)
        return;
    if (H5Aexists(r->file, name) <= 0) {
        r_fail(r, "missing attribute", name);
        return;
    }
    hid_t a = H5Aopen(r->file, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        r_fail(r, "not a string attribute", name);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s)
            r_fail(r, "unreadable attribute", name);
        else
            snprintf(out, size, "%s", s);
        if (s)
            H5free_memory(s);
        H5Tclose(mt);
    } else {
        r_fail(r, "expected a variable-length string", name);
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
}

static long long read_int_attr(h5r *r, const char *name)
{
    long long v = 0;
    if (r->st != QP_OK)
        return 0;
    hid_t a = H5Aexists(r->file, name) > 0 ? H5Aopen(r->file, name, H5P_DEFAULT) : -1;
    if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &v) < 0)
        r_fail(r, "missing or unreadable integer attribute", name);
    if (a >= 0)
        H5Aclose(a);
    return v;
}

/* Opens a data set and checks its shape; returns the id or -1. */
static hid_t open_checked(h5r *r, const char *path, int rank, const hsize_t *dims)
{
    if (r->st != QP_OK)
        return -1;
    if (H5Lexists(r->file, path, H5P_DEFAULT) <= 0) {
        r_fail(r, "missing data set", path);
        return -1;
    }
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hsize_t got[8];
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank && rank <= 8 &&
             H5Sget_simple_extent_dims(sp, got, NULL) == rank;
    for (int i = 0; ok && i < rank; i++)
        ok = dims == NULL || got[i] == dims[i];
    if (sp >= 0)
        H5Sclose(sp);
    if (!ok) {
        if (d >= 0)
            H5Dclose(d);
        r_fail(r, "unexpected shape", path);
        return -1;
    }
    return d;
}

static void read_data(h5r *r, const char *path, int rank, const hsize_t *dims, hid_t mem_type, void *out)
{
    hid_t d = open_checked(r, path, rank, dims);
    if (d < 0)
        return;
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        r_fail(r, "unreadable data", path);
    H5Dclose(d);
}

/* Length of a 1-d data set, or -1. */
static long long length_of(h5r *r, const char *path)
{
    hid_t d = open_checked(r, path, 1, NULL);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return (long long)n;
}

static void read_strings(h5r *r, const char *path, long long n, char (*out)[QP_NAME_MAX])
{
    hsize_t dims = (hsize_t)n;
    hid_t d = open_checked(r, path, 1, &dims);
    if (d < 0)
        return;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char **s = calloc((size_t)n, sizeof *s);
    if (!s) {
        if (r->st == QP_OK)
            r->st = qp_error_set(r->err, QP_ERR_RUNTIME, r->path, -1, "out of memory");
    } else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
        r_fail(r, "unreadable strings", path);
    } else {
        for (long long i = 0; i < n; i++) {
            snprintf(out[i], QP_NAME_MAX, "%s", s[i] ? s[i] : "");
            H5free_memory(s[i]);
        }
    }
    free(s);
    H5Tclose(mt);
    H5Dclose(d);
}

qp_status qp_profile_read_h5(qp_profile *p, const char *path, qp_error *err)
{
    memset(p, 0, sizeof *p);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (access(path, R_OK) != 0)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot open: %m");
    if (H5Fis_hdf5(path) <= 0)
        return qp_error_set(err, QP_ERR_INPUT, path, 0, "not an HDF5 file");
    h5r r = {.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), .path = path, .err = err, .st = QP_OK};
    if (r.file < 0)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "HDF5 file cannot be opened");

    char format[64];
    read_str_attr(&r, "format", format, sizeof format);
    if (r.st == QP_OK && strcmp(format, FORMAT_NAME) != 0)
        r_fail(&r, "not a qprof profile", "format");
    if (r.st == QP_OK && read_int_attr(&r, "format_version") != FORMAT_VERSION)
        r_fail(&r, "unsupported format version", "format_version");
    long long n_types = length_of(&r, "type"), n_layers = length_of(&r, "layer"),
              n_tensors = length_of(&r, "tensor");
    if (r.st == QP_OK && (n_types < 1 || n_types > 64 || n_layers < 1 || n_layers > 4096 ||
                          n_tensors < 1 || n_tensors > 65536))
        r_fail(&r, "dimensions out of range", "type/layer/tensor");
    /* sizes are now bounded (a few MB at most): safe to allocate */
    if (r.st == QP_OK && qp_profile_alloc(p, (int)n_types, (int)n_layers, (int)n_tensors, err) != QP_OK)
        r.st = QP_ERR_RUNTIME;
    if (r.st != QP_OK) {
        H5Fclose(r.file);
        return r.st;
    }
    read_str_attr(&r, "qprof_version", p->qprof_version, sizeof p->qprof_version);
    read_str_attr(&r, "model_path", p->model_path, sizeof p->model_path);
    read_str_attr(&r, "model_sha256", p->model_sha256, sizeof p->model_sha256);
    read_str_attr(&r, "architecture", p->architecture, sizeof p->architecture);
    read_str_attr(&r, "reference", p->reference, sizeof p->reference);
    read_str_attr(&r, "kernel_variant", p->kernel_variant, sizeof p->kernel_variant);
    /* added in session 3: a file without it was written before packing existed */
    if (r.st == QP_OK && H5Aexists(r.file, "packed_layouts") > 0)
        read_str_attr(&r, "packed_layouts", p->packed_layouts, sizeof p->packed_layouts);
    else
        snprintf(p->packed_layouts, sizeof p->packed_layouts, "none");
    read_str_attr(&r, "cpu_model", p->cpu_model, sizeof p->cpu_model);
    read_str_attr(&r, "date", p->date, sizeof p->date);
    read_str_attr(&r, "text_source", p->text_source, sizeof p->text_source);
    p->n_tokens = (int)read_int_attr(&r, "n_tokens");
    p->threads = (int)read_int_attr(&r, "threads");
    p->reps = (int)read_int_attr(&r, "reps");

    read_strings(&r, "type", n_types, p->type_names);
    read_strings(&r, "tensor", n_tensors, p->tensor_names);
    hsize_t nt = (hsize_t)n_tensors, nl = (hsize_t)n_layers, ty = (hsize_t)n_types, one = 1;
    hsize_t lb[2] = {nl, QP_BLOCK_COUNT}, tlb[3] = {ty, nl, QP_BLOCK_COUNT}, tt[2] = {ty, nt},
            tl[2] = {ty, nl};
    read_data(&r, "tensor_layer", 1, &nt, H5T_NATIVE_INT, p->tensor_layer);
    read_data(&r, "tensor_block", 1, &nt, H5T_NATIVE_INT, p->tensor_block);
    read_data(&r, "tensor_params", 1, &nt, H5T_NATIVE_INT64, p->tensor_params);
    read_data(&r, "latency_ms/reference_median", 2, lb, H5T_NATIVE_DOUBLE, p->ref_latency_median);
    read_data(&r, "latency_ms/reference_spread", 2, lb, H5T_NATIVE_DOUBLE, p->ref_latency_spread);
    read_data(&r, "latency_ms/median", 3, tlb, H5T_NATIVE_DOUBLE, p->latency_median);
    read_data(&r, "latency_ms/spread", 3, tlb, H5T_NATIVE_DOUBLE, p->latency_spread);
    read_data(&r, "throughput/tokens_per_s", 3, tlb, H5T_NATIVE_DOUBLE, p->tokens_per_s);
    read_data(&r, "throughput/weight_gb_per_s", 3, tlb, H5T_NATIVE_DOUBLE, p->weight_gb_per_s);
    read_data(&r, "forward_ms/reference", 1, &one, H5T_NATIVE_DOUBLE, p->ref_forward_ms);
    read_data(&r, "forward_ms/quantized", 1, &ty, H5T_NATIVE_DOUBLE, p->forward_ms);
    read_data(&r, "forward_ms/block_sum", 1, &ty, H5T_NATIVE_DOUBLE, p->block_sum_ms);
    for (int m = 0; m < QP_ERR_METRIC_COUNT; m++)
        for (int k = 0; k < QP_ERR_KIND_COUNT; k++) {
            char path2[96];
            snprintf(path2, sizeof path2, "error/%s/%s", qp_err_metric_name(m), qp_err_kind_name(k));
            read_data(&r, path2, 3, tlb, H5T_NATIVE_DOUBLE, p->err[m][k]);
        }
    for (int m = 0; m < QP_W_METRIC_COUNT; m++) {
        char path2[96];
        snprintf(path2, sizeof path2, "weights/%s", qp_w_metric_name(m));
        read_data(&r, path2, 2, tt, H5T_NATIVE_DOUBLE, p->w_err[m]);
    }
    read_data(&r, "weights/type_id", 2, tt, H5T_NATIVE_INT, p->w_type);
    read_data(&r, "logits/kld_mean", 1, &ty, H5T_NATIVE_DOUBLE, p->kld_mean);
    read_data(&r, "logits/kld_max", 1, &ty, H5T_NATIVE_DOUBLE, p->kld_max);
    read_data(&r, "logits/top1_percent", 1, &ty, H5T_NATIVE_DOUBLE, p->top1);
    read_data(&r, "progress/done", 2, tl, H5T_NATIVE_UINT8, p->done);
    read_data(&r, "progress/done_model", 1, &ty, H5T_NATIVE_UINT8, p->done_model);
    H5Fclose(r.file);
    if (r.st != QP_OK)
        qp_profile_free(p);
    return r.st;
}
