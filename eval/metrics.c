/* eval/metrics.c - output, weight and distribution errors (eval.h). */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"

static const char *const err_names[QP_ERR_METRIC_COUNT] = {"rel_l2", "cosine", "sqnr_db", "max_abs"};
static const char *const err_units[QP_ERR_METRIC_COUNT] = {"1", "1", "dB", "activation units"};
static const char *const w_names[QP_W_METRIC_COUNT] = {"rmse", "rel_rmse", "max_abs", "sqnr_db"};

const char *qp_err_metric_name(int m) { return m >= 0 && m < QP_ERR_METRIC_COUNT ? err_names[m] : "?"; }
const char *qp_err_metric_units(int m) { return m >= 0 && m < QP_ERR_METRIC_COUNT ? err_units[m] : "?"; }
const char *qp_w_metric_name(int m) { return m >= 0 && m < QP_W_METRIC_COUNT ? w_names[m] : "?"; }

void qp_compare_outputs(const float *ref, const float *q, int64_t n, double out[QP_ERR_METRIC_COUNT])
{
    double sr = 0, sq = 0, srq = 0, se = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], v = q[i], d = v - r;
        sr += r * r;
        sq += v * v;
        srq += r * v;
        se += d * d;
        if (fabs(d) > mx)
            mx = fabs(d);
    }
    out[QP_ERR_REL_L2] = sr > 0 ? sqrt(se / sr) : (se > 0 ? INFINITY : 0);
    out[QP_ERR_COSINE] = sr > 0 && sq > 0 ? srq / sqrt(sr * sq) : (sr == sq ? 1 : 0);
    out[QP_ERR_SQNR_DB] = se > 0 ? 10 * log10(sr / se) : INFINITY;
    out[QP_ERR_MAX_ABS] = mx;
}

qp_status qp_weight_error(const qp_linear *l, double out[QP_W_METRIC_COUNT], qp_error *err)
{
    /* row: the quantized form dequantized; ref: the reference row */
    float *row = malloc((size_t)l->cols * sizeof(float));
    float *ref = malloc((size_t)l->cols * sizeof(float));
    qp_status st = row && ref ? QP_OK : qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
    double se = 0, s2 = 0, mx = 0;
    const size_t rs = l->q_type == QP_LINEAR_REF ? 0 : qp_row_size(l->q_type, l->cols);
    for (int64_t r = 0; st == QP_OK && r < l->rows; r++) {
        st = qp_linear_rows_f32(l, r, r + 1, ref, err);
        if (st == QP_OK && l->q_type == QP_LINEAR_REF)
            memcpy(row, ref, (size_t)l->cols * sizeof(float));
        else if (st == QP_OK)
            st = qp_dequantize_row(l->q_type, (const uint8_t *)l->q_data + (size_t)r * rs, row, l->cols, err);
        for (int64_t i = 0; st == QP_OK && i < l->cols; i++) {
            double d = (double)row[i] - ref[i];
            se += d * d;
            s2 += (double)ref[i] * ref[i];
            if (fabs(d) > mx)
                mx = fabs(d);
        }
    }
    free(row);
    free(ref);
    if (st != QP_OK)
        return st;
    double n = (double)l->rows * (double)l->cols;
    out[QP_W_RMSE] = sqrt(se / n);
    out[QP_W_REL_RMSE] = s2 > 0 ? sqrt(se / s2) : 0;
    out[QP_W_MAX_ABS] = mx;
    out[QP_W_SQNR_DB] = se > 0 ? 10 * log10(s2 / se) : INFINITY;
    return QP_OK;
}

double qp_kld_row(const float *base, const float *q, int n, bool *same_top)
{
    /* log-softmax of both rows in double, then sum p (log p - log q) */
    double mb = -INFINITY, mq = -INFINITY;
    int ab = 0, aq = 0;
    for (int i = 0; i < n; i++) {
        if (base[i] > mb) { mb = base[i]; ab = i; }
        if (q[i] > mq) { mq = q[i]; aq = i; }
    }
    double zb = 0, zq = 0;
    for (int i = 0; i < n; i++) {
        zb += exp(base[i] - mb);
        zq += exp(q[i] - mq);
    }
    const double lzb = mb + log(zb), lzq = mq + log(zq);
    double kl = 0;
    for (int i = 0; i < n; i++) {
        const double lp = base[i] - lzb, lq = q[i] - lzq, p = exp(lp);
        if (p > 0) /* 0 * (-inf) would be NaN: a zero-probability term adds 0 */
            kl += p * (lp - lq);
    }
    if (same_top)
        *same_top = ab == aq;
    return kl > 0 ? kl : 0;
}
