/* common/stats.h - summary statistics of repeated timings.
 *
 * A benchmark repeats a measurement and reports its centre and spread. On a
 * shared, noisy machine the distribution of run times is skewed to the right
 * (a run can only be slowed down by interference, never sped up), so the
 * median is the centre and the spread is given by order statistics (min,
 * quartiles, max) and the median absolute deviation, not by mean and
 * standard deviation, which one preempted run would dominate.
 */
#ifndef QP_COMMON_STATS_H
#define QP_COMMON_STATS_H

#include "error.h"

typedef struct qp_stats {
    int n;          /* number of samples */
    double min, max;
    double median;  /* middle value; mean of the two middle ones for even n */
    double q1, q3;  /* 25th and 75th percentiles (qp_stats_percentile) */
    double mean;
    double mad;     /* median of |x_i - median| (not scaled to sigma) */
} qp_stats;

/* Summary of x[0..n-1] (n >= 1; x is not modified). QP_ERR_INPUT if n < 1
 * or a sample is NaN, QP_ERR_RUNTIME if the scratch copy cannot be
 * allocated. */
qp_status qp_stats_compute(const double *x, int n, qp_stats *out, qp_error *err);

/* The p-th percentile (0 <= p <= 100) of the ASCENDING sorted[0..n-1], by
 * linear interpolation between closest ranks: rank h = (n - 1) * p / 100,
 * value sorted[floor h] + (h - floor h) * (sorted[floor h + 1] - sorted[floor h])
 * (Hyndman & Fan's definition 7, the default of numpy and R), so p = 50 is
 * the usual median and p = 0 / 100 are min / max. n >= 1. */
double qp_stats_percentile(const double *sorted, int n, double p);

/* Sorts x[0..n-1] ascending in place. */
void qp_stats_sort(double *x, int n);

/* Relative spread (q3 - q1) / median, 0 when the median is 0: the one
 * number the terminal table shows beside the median. */
double qp_stats_rel_iqr(const qp_stats *s);

#endif
