/* common/stats.c - median, percentiles and MAD of repeated timings. */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void qp_stats_sort(double *x, int64_t n)
{
    if (n > 1)
        qsort(x, (size_t)n, sizeof *x, cmp_double);
}

double qp_stats_percentile(const double *sorted, int64_t n, double p)
{
    if (n <= 0)
        return NAN;
    if (p <= 0.0)
        return sorted[0];
    if (p >= 100.0)
        return sorted[n - 1];
    /* definition 7: rank h in [0, n-1], interpolate between its neighbours */
    const double h = (double)(n - 1) * p / 100.0;
    const int64_t lo = (int64_t)floor(h);
    if (lo >= n - 1)
        return sorted[n - 1];
    const double frac = h - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

qp_status qp_stats_compute(const double *x, int n, qp_stats *out, qp_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "statistics of %d samples", n);
    for (int i = 0; i < n; i++)
        if (isnan(x[i]))
            return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "sample %d is NaN", i);

    /* scratch[0..n-1]: the sorted samples, then reused for the deviations */
    double *scratch = malloc((size_t)n * sizeof *scratch);
    if (!scratch)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory (%d samples)", n);
    memcpy(scratch, x, (size_t)n * sizeof *scratch);
    qp_stats_sort(scratch, n);

    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += scratch[i];
    out->n = n;
    out->min = scratch[0];
    out->max = scratch[n - 1];
    /* definition 7 at p = 50 is exactly the textbook median: the middle
     * element for odd n, the mean of the two middle ones for even n */
    out->median = qp_stats_percentile(scratch, n, 50.0);
    out->q1 = qp_stats_percentile(scratch, n, 25.0);
    out->q3 = qp_stats_percentile(scratch, n, 75.0);
    out->mean = sum / n;

    for (int i = 0; i < n; i++)
        scratch[i] = fabs(scratch[i] - out->median);
    qp_stats_sort(scratch, n);
    out->mad = qp_stats_percentile(scratch, n, 50.0);
    free(scratch);
    return QP_OK;
}

double qp_stats_rel_iqr(const qp_stats *s)
{
    return s->median != 0.0 ? (s->q3 - s->q1) / s->median : 0.0;
}
