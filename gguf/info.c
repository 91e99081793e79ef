/* gguf/info.c - what is in a GGUF file, for people (text) and programs
 * (JSON, docs/info-json.md): header, the architecture's hyper-parameters,
 * every metadata key (arrays and strings abbreviated), the tensor table,
 * sizes per type and bits per weight. */
#include "gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../quant/quant.h"

enum { ARRAY_PREVIEW = 6, STRING_PREVIEW = 60 };

/* Architecture hyper-parameters shown first, as "{arch}.<suffix>". */
static const char *const hparam_keys[] = {
    "context_length", "embedding_length", "block_count", "feed_forward_length",
    "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
    "rope.dimension_count", "rope.freq_base", "vocab_size",
};

static const char *type_name(int t)
{
    const qp_type_traits *tr = qp_type_info(t);
    return tr ? tr->name : "?";
}

/* ---- text rendering of values ---------------------------------------------- */

/* Prints a byte string with control characters escaped, cut at `max` bytes. */
static void print_str(FILE *out, const qp_gguf_string *s, uint64_t max)
{
    fputc('"', out);
    for (uint64_t i = 0; i < s->len && i < max; i++) {
        unsigned char c = (unsigned char)s->data[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
    if (s->len > max)
        fprintf(out, "...(%" PRIu64 " bytes)", s->len);
}

static void print_value(FILE *out, const qp_gguf_value *v, int depth);

static void print_array(FILE *out, const qp_gguf_array *a, int depth)
{
    fprintf(out, "[%s x %" PRIu64 "] [", qp_gguf_type_name(a->type), a->count);
    uint64_t shown = a->count < ARRAY_PREVIEW ? a->count : ARRAY_PREVIEW;
    for (uint64_t i = 0; i < shown; i++) {
        if (i)
            fputs(", ", out);
        int64_t iv;
        double fv;
        qp_gguf_string sv;
        const qp_gguf_array *av;
        if (qp_gguf_array_get_str(a, i, &sv) == QP_GGUF_FOUND)
            print_str(out, &sv, 24);
        else if (qp_gguf_array_get_arr(a, i, &av) == QP_GGUF_FOUND) {
            if (depth < 2)
                print_array(out, av, depth + 1);
            else
                fputs("[...]", out);
        } else if (qp_gguf_array_get_float(a, i, &fv) == QP_GGUF_FOUND)
            fprintf(out, "%g", fv);
        else if (a->type == QP_GGUF_TYPE_UINT64) {
            uint64_t u;
            memcpy(&u, (const uint8_t *)a->data + 8 * i, 8);
            fprintf(out, "%" PRIu64, u);
        } else if (qp_gguf_array_get_int(a, i, &iv) == QP_GGUF_FOUND)
            fprintf(out, "%" PRId64, iv);
    }
    if (a->count > shown)
        fputs(", ...", out);
    fputc(']', out);
}

static void print_value(FILE *out, const qp_gguf_value *v, int depth)
{
    switch (v->type) {
    case QP_GGUF_TYPE_UINT8: fprintf(out, "%u", v->u8); break;
    case QP_GGUF_TYPE_INT8: fprintf(out, "%d", v->i8); break;
    case QP_GGUF_TYPE_UINT16: fprintf(out, "%u", v->u16); break;
    case QP_GGUF_TYPE_INT16: fprintf(out, "%d", v->i16); break;
    case QP_GGUF_TYPE_UINT32: fprintf(out, "%u", v->u32); break;
    case QP_GGUF_TYPE_INT32: fprintf(out, "%d", v->i32); break;
    case QP_GGUF_TYPE_UINT64: fprintf(out, "%" PRIu64, v->u64); break;
    case QP_GGUF_TYPE_INT64: fprintf(out, "%" PRId64, v->i64); break;
    case QP_GGUF_TYPE_FLOAT32: fprintf(out, "%g", v->f32); break;
    case QP_GGUF_TYPE_FLOAT64: fprintf(out, "%g", v->f64); break;
    case QP_GGUF_TYPE_BOOL: fputs(v->b ? "true" : "false", out); break;
    case QP_GGUF_TYPE_STRING: print_str(out, &v->str, STRING_PREVIEW); break;
    case QP_GGUF_TYPE_ARRAY: print_array(out, &v->arr, depth); break;
    default: fputs("?", out); break;
    }
}

/* Shape as "k x m x ..." (ne[0] first, as GGUF stores it). */
static void format_shape(const qp_gguf_tensor_info *t, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, d ? " x %" PRId64 : "%" PRId64, t->ne[d]);
}

/* ---- totals ------------------------------------------------------------------ */

void qp_gguf_totals(const qp_gguf_file *f, qp_gguf_sizes *tot)
{
    memset(tot, 0, sizeof *tot);
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        int64_t n = qp_gguf_tensor_nelements(t);
        tot->n_weights += n;
        tot->n_bytes += t->nbytes;
        if (t->type >= 0 && t->type < QP_TYPE_COUNT) {
            tot->per_type_count[t->type]++;
            tot->per_type_weights[t->type] += n;
            tot->per_type_bytes[t->type] += t->nbytes;
        }
    }
}

static const char *arch_of(const qp_gguf_file *f)
{
    qp_gguf_string s;
    return qp_gguf_get_str(f, "general.architecture", &s) == QP_GGUF_FOUND ? s.data : NULL;
}

/* ---- text output -------------------------------------------------------------- */

void qp_gguf_print_info(FILE *out, const char *path, const qp_gguf_file *f)
{
    const char *arch = arch_of(f);
    qp_gguf_string name;
    fprintf(out, "file:         %s\n", path);
    fprintf(out, "format:       GGUF v%u, %" PRIu64 " bytes, alignment %u, data at offset %" PRIu64 "\n",
            qp_gguf_version(f), qp_gguf_file_size(f), qp_gguf_alignment(f), qp_gguf_data_offset(f));
    if (qp_gguf_get_str(f, "general.name", &name) == QP_GGUF_FOUND)
        fprintf(out, "name:         %s\n", name.data);
    fprintf(out, "architecture: %s\n", arch ? arch : "(none)");

    if (arch) {
        fprintf(out, "\nhyper-parameters:\n");
        for (size_t i = 0; i < sizeof hparam_keys / sizeof hparam_keys[0]; i++) {
            char key[256];
            snprintf(key, sizeof key, "%s.%s", arch, hparam_keys[i]);
            const qp_gguf_value *v = qp_gguf_get(f, key);
            if (!v)
                continue;
            fprintf(out, "  %-34s ", hparam_keys[i]);
            print_value(out, v, 0);
            fputc('\n', out);
        }
    }

    fprintf(out, "\nmetadata (%" PRId64 " keys):\n", qp_gguf_n_kv(f));
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++) {
        fprintf(out, "  %-44s %-5s ", qp_gguf_kv_key(f, i), qp_gguf_type_name(qp_gguf_kv_type(f, i)));
        print_value(out, qp_gguf_kv_value(f, i), 0);
        fputc('\n', out);
    }

    fprintf(out, "\ntensors (%" PRId64 "):\n", qp_gguf_n_tensors(f));
    fprintf(out, "  %-36s %-22s %-6s %12s %12s\n", "name", "shape", "type", "elements", "bytes");
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        char shape[96];
        format_shape(t, shape, sizeof shape);
        fprintf(out, "  %-36s %-22s %-6s %12" PRId64 " %12zu\n", t->name, shape, type_name(t->type),
                qp_gguf_tensor_nelements(t), t->nbytes);
    }

    qp_gguf_sizes tot;
    qp_gguf_totals(f, &tot);
    fprintf(out, "\nby type:\n");
    for (int t = 0; t < QP_TYPE_COUNT; t++) {
        if (!tot.per_type_count[t])
            continue;
        fprintf(out, "  %-6s %5" PRId64 " tensors %14" PRId64 " weights %14" PRIu64 " bytes %7.3f bpw\n",
                type_name(t), tot.per_type_count[t], tot.per_type_weights[t], tot.per_type_bytes[t],
                qp_bits_per_weight(tot.per_type_bytes[t], tot.per_type_weights[t]));
    }
    fprintf(out, "total: %" PRId64 " weights, %" PRIu64 " bytes (%.2f MiB), %.3f bits per weight\n",
            tot.n_weights, tot.n_bytes, (double)tot.n_bytes / (1024.0 * 1024.0),
            qp_bits_per_weight(tot.n_bytes, tot.n_weights));
}

/* ---- JSON output ------------------------------------------------------------- */

static cJSON *json_string(const qp_gguf_string *s)
{
    /* cJSON needs valid UTF-8 text; GGUF strings are bytes. Non-UTF-8 bytes
     * survive as \u00XX-ish via cJSON's escaping of control chars only, so we
     * pass the bytes and let the consumer cope: tokens are UTF-8 in practice. */
    return cJSON_CreateString(s->data);
}

static cJSON *json_value(const qp_gguf_value *v, int full_arrays);

/* A float32 widened to double prints as 9.99999974737875e-06; its shortest
 * decimal that reads back as the same float32 (at most 9 digits) is 1e-05,
 * which is what the writer of the file meant. */
static double f32_as_decimal(double x)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        double d = strtod(buf, NULL);
        if ((float)d == (float)x)
            return d;
    }
    return x;
}

static cJSON *json_array(const qp_gguf_array *a, int full)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", qp_gguf_type_name(a->type));
    cJSON_AddNumberToObject(o, "count", (double)a->count);
    cJSON *items = cJSON_AddArrayToObject(o, full ? "values" : "head");
    uint64_t shown = full ? a->count : (a->count < ARRAY_PREVIEW ? a->count : ARRAY_PREVIEW);
    for (uint64_t i = 0; i < shown; i++) {
        int64_t iv;
        double fv;
        qp_gguf_string sv;
        const qp_gguf_array *av;
        if (qp_gguf_array_get_str(a, i, &sv) == QP_GGUF_FOUND)
            cJSON_AddItemToArray(items, json_string(&sv));
        else if (qp_gguf_array_get_arr(a, i, &av) == QP_GGUF_FOUND)
            cJSON_AddItemToArray(items, json_array(av, full));
        else if (qp_gguf_array_get_float(a, i, &fv) == QP_GGUF_FOUND)
            cJSON_AddItemToArray(items, cJSON_CreateNumber(
                a->type == QP_GGUF_TYPE_FLOAT32 ? f32_as_decimal(fv) : fv));
        else if (qp_gguf_array_get_int(a, i, &iv) == QP_GGUF_FOUND)
            cJSON_AddItemToArray(items, cJSON_CreateNumber((double)iv));
        else
            cJSON_AddItemToArray(items, cJSON_CreateNull());
    }
    return o;
}

static cJSON *json_value(const qp_gguf_value *v, int full_arrays)
{
    int64_t iv;
    double fv;
    if (v->type == QP_GGUF_TYPE_STRING)
        return json_string(&v->str);
    if (v->type == QP_GGUF_TYPE_ARRAY)
        return json_array(&v->arr, full_arrays);
    if (v->type == QP_GGUF_TYPE_BOOL)
        return cJSON_CreateBool(v->b);
    if (qp_gguf_value_float(v, &fv) == QP_GGUF_FOUND)
        return cJSON_CreateNumber(v->type == QP_GGUF_TYPE_FLOAT32 ? f32_as_decimal(fv) : fv);
    if (v->type == QP_GGUF_TYPE_UINT64)
        return cJSON_CreateNumber((double)v->u64);
    if (qp_gguf_value_int(v, &iv) == QP_GGUF_FOUND)
        return cJSON_CreateNumber((double)iv);
    return cJSON_CreateNull();
}

qp_status qp_gguf_print_info_json(FILE *out, const char *path, const qp_gguf_file *f, qp_error *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    cJSON_AddStringToObject(root, "file", path);
    cJSON_AddNumberToObject(root, "gguf_version", qp_gguf_version(f));
    cJSON_AddNumberToObject(root, "file_size", (double)qp_gguf_file_size(f));
    cJSON_AddNumberToObject(root, "alignment", qp_gguf_alignment(f));
    cJSON_AddNumberToObject(root, "data_offset", (double)qp_gguf_data_offset(f));
    const char *arch = arch_of(f);
    if (arch)
        cJSON_AddStringToObject(root, "architecture", arch);
    else
        cJSON_AddNullToObject(root, "architecture");

    cJSON *hp = cJSON_AddObjectToObject(root, "hparams");
    for (size_t i = 0; arch && i < sizeof hparam_keys / sizeof hparam_keys[0]; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s.%s", arch, hparam_keys[i]);
        const qp_gguf_value *v = qp_gguf_get(f, key);
        if (v)
            cJSON_AddItemToObject(hp, hparam_keys[i], json_value(v, 0));
    }

    cJSON *md = cJSON_AddArrayToObject(root, "metadata");
    for (int64_t i = 0; i < qp_gguf_n_kv(f); i++) {
        cJSON *kv = cJSON_CreateObject();
        cJSON_AddStringToObject(kv, "key", qp_gguf_kv_key(f, i));
        cJSON_AddStringToObject(kv, "type", qp_gguf_type_name(qp_gguf_kv_type(f, i)));
        cJSON_AddItemToObject(kv, "value", json_value(qp_gguf_kv_value(f, i), 0));
        cJSON_AddItemToArray(md, kv);
    }

    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int64_t i = 0; i < qp_gguf_n_tensors(f); i++) {
        const qp_gguf_tensor_info *t = qp_gguf_tensor(f, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (uint32_t d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddStringToObject(o, "type", type_name(t->type));
        cJSON_AddNumberToObject(o, "elements", (double)qp_gguf_tensor_nelements(t));
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON_AddItemToArray(ts, o);
    }

    qp_gguf_sizes tot;
    qp_gguf_totals(f, &tot);
    cJSON *bt = cJSON_AddObjectToObject(root, "by_type");
    for (int t = 0; t < QP_TYPE_COUNT; t++) {
        if (!tot.per_type_count[t])
            continue;
        cJSON *o = cJSON_AddObjectToObject(bt, type_name(t));
        cJSON_AddNumberToObject(o, "tensors", (double)tot.per_type_count[t]);
        cJSON_AddNumberToObject(o, "weights", (double)tot.per_type_weights[t]);
        cJSON_AddNumberToObject(o, "bytes", (double)tot.per_type_bytes[t]);
        cJSON_AddNumberToObject(o, "bpw", qp_bits_per_weight(tot.per_type_bytes[t], tot.per_type_weights[t]));
    }
    cJSON *to = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(to, "tensors", (double)qp_gguf_n_tensors(f));
    cJSON_AddNumberToObject(to, "weights", (double)tot.n_weights);
    cJSON_AddNumberToObject(to, "bytes", (double)tot.n_bytes);
    cJSON_AddNumberToObject(to, "bpw", qp_bits_per_weight(tot.n_bytes, tot.n_weights));

    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    fputs(s, out);
    fputc('\n', out);
    free(s);
    return QP_OK;
}
