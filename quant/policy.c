/* quant/policy.c - which type a tensor gets (llama.cpp's fallbacks, the
 * default ladder) and what a tensor costs in bytes and bits per weight. */
#include "quant_internal.h"

#include <stdint.h>
#include <string.h>

int qp_fallback_type(int type, int64_t cols)
{
    const qp_type_traits *tt = qp_type_info(type);
    if (!tt || cols % tt->block_size == 0)
        return type;
    int alt;
    switch (type) {
    case QP_TYPE_Q2_K:
    case QP_TYPE_Q3_K: alt = QP_TYPE_Q4_0; break;
    case QP_TYPE_Q4_K: alt = QP_TYPE_Q5_0; break;
    case QP_TYPE_Q5_K: alt = QP_TYPE_Q5_1; break;
    case QP_TYPE_Q6_K: alt = QP_TYPE_Q8_0; break;
    default: alt = QP_TYPE_F16; break;
    }
    if (cols % qp_type_info(alt)->block_size != 0)
        alt = QP_TYPE_F16;
    return alt;
}

static const int ladder[] = {
    QP_TYPE_Q8_0, QP_TYPE_Q6_K, QP_TYPE_Q5_K, QP_TYPE_Q5_1, QP_TYPE_Q5_0,
    QP_TYPE_Q4_K, QP_TYPE_Q4_1, QP_TYPE_Q4_0, QP_TYPE_Q3_K, QP_TYPE_Q2_K,
};

int qp_type_ladder(const int **types)
{
    *types = ladder;
    return (int)(sizeof ladder / sizeof *ladder);
}

uint64_t qp_tensor_bytes(int t, int64_t rows, int64_t cols)
{
    const size_t row = qp_row_size(t, cols);
    if (row == 0 || rows < 0 || (rows > 0 && (uint64_t)row > UINT64_MAX / (uint64_t)rows))
        return 0;
    return (uint64_t)row * (uint64_t)rows;
}

double qp_bits_per_weight(uint64_t bytes, int64_t weights)
{
    return weights > 0 ? 8.0 * (double)bytes / (double)weights : 0.0;
}

int qp_type_list_parse(const char *list, int *types, int max, qp_error *err)
{
    int n = 0;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        const size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char name[32];
        if (len == 0 || len >= sizeof name) {
            qp_error_set(err, QP_ERR_INPUT, NULL, -1, "bad type list '%s': %s", list,
                         len ? "a name too long" : "an empty item");
            return -1;
        }
        memcpy(name, s, len);
        name[len] = '\0';
        const int t = qp_type_from_name(name);
        if (t < 0) {
            qp_error_set(err, QP_ERR_INPUT, NULL, -1, "'%s' is not a GGUF type name", name);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (types[i] == t) {
                qp_error_set(err, QP_ERR_INPUT, NULL, -1, "type %s is listed twice", name);
                return -1;
            }
        if (n == max) {
            qp_error_set(err, QP_ERR_INPUT, NULL, -1, "at most %d types", max);
            return -1;
        }
        types[n++] = t;
        if (!comma)
            return n;
        s = comma + 1;
    }
}
