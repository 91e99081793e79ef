/* eval/report.c - perplexity and KL-divergence tables as llama-perplexity
 * prints them (field names and formats are its own, so outputs of the two
 * tools can be read side by side; docs/ppl.md). */
#include "eval.h"

#include <math.h>
#include <stdio.h>

void qp_kld_print_running(const qp_kld_acc *kld, int chunk, bool header, FILE *out)
{
    /* the running table of llama-perplexity --kl-divergence, from the
     * running sums (the percentiles wait for the end) */
    if (header)
        fprintf(out, "chunk        PPL(Q)    ln(PPL(Q)/PPL(base))    KL divergence    RMS dp"
                     "     same top\n");
    const double cnt = (double)kld->count;
    const double lq = kld->q.sum_nll / cnt, lb = kld->base.sum_nll / cnt;
    const double kl = kld->sum_kld / cnt;
    const double rms = sqrt(kld->sum_dp2 / cnt);
    const double top = (double)kld->n_same_top / cnt;
    fprintf(out, "%5d  %12.4f    %20.6f    %13.6f    %6.3f %%   %6.3f %%\n", chunk + 1, exp(lq), lq - lb, kl,
            100.0 * rms, 100.0 * top);
}

void qp_kld_stats_print(const qp_kld_stats *s, FILE *out)
{
    fprintf(out, "\n====== Perplexity statistics ======\n");
    fprintf(out, "Mean PPL(Q)                   : %10.6f +/- %10.6f\n", s->ppl_q, s->ppl_q_err);
    fprintf(out, "Mean PPL(base)                : %10.6f +/- %10.6f\n", s->ppl_base, s->ppl_base_err);
    fprintf(out, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s->cor);
    fprintf(out, "Mean ln(PPL(Q)/PPL(base))     : %10.6f +/- %10.6f\n", s->ln_ratio, s->ln_ratio_err);
    fprintf(out, "Mean PPL(Q)/PPL(base)         : %10.6f +/- %10.6f\n", s->ppl_ratio, s->ppl_ratio_err);
    fprintf(out, "Mean PPL(Q)-PPL(base)         : %10.6f +/- %10.6f\n", s->ppl_diff, s->ppl_diff_err);
    fprintf(out, "\n====== KL divergence statistics ======\n");
    fprintf(out, "Mean    KLD: %10.6f +/- %10.6f\n", s->kld_mean, s->kld_err);
    fprintf(out, "Maximum KLD: %10.6f\n", s->kld_max);
    fprintf(out, "99.9%%   KLD: %10.6f\n", s->kld_p999);
    fprintf(out, "99.0%%   KLD: %10.6f\n", s->kld_p99);
    fprintf(out, "95.0%%   KLD: %10.6f\n", s->kld_p95);
    fprintf(out, "90.0%%   KLD: %10.6f\n", s->kld_p90);
    fprintf(out, "Median  KLD: %10.6f\n", s->kld_median);
    fprintf(out, "10.0%%   KLD: %10.6f\n", s->kld_p10);
    fprintf(out, " 5.0%%   KLD: %10.6f\n", s->kld_p5);
    fprintf(out, " 1.0%%   KLD: %10.6f\n", s->kld_p1);
    fprintf(out, " 0.1%%   KLD: %10.6f\n", s->kld_p01);
    fprintf(out, "Minimum KLD: %10.6f\n", s->kld_min);
    fprintf(out, "\n====== Token probability statistics ======\n");
    fprintf(out, "Mean    dp: %6.3f +/- %5.3f %%\n", 100.0 * s->dp_mean, 100.0 * s->dp_err);
    fprintf(out, "Maximum dp: %6.3f%%\n", 100.0 * s->dp_max);
    fprintf(out, "99.9%%   dp: %6.3f%%\n", 100.0 * s->dp_p999);
    fprintf(out, "99.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p99);
    fprintf(out, "95.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p95);
    fprintf(out, "90.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p90);
    fprintf(out, "75.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p75);
    fprintf(out, "Median  dp: %6.3f%%\n", 100.0 * s->dp_median);
    fprintf(out, "25.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p25);
    fprintf(out, "10.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p10);
    fprintf(out, " 5.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p5);
    fprintf(out, " 1.0%%   dp: %6.3f%%\n", 100.0 * s->dp_p1);
    fprintf(out, " 0.1%%   dp: %6.3f%%\n", 100.0 * s->dp_p01);
    fprintf(out, "Minimum dp: %6.3f%%\n", 100.0 * s->dp_min);
    fprintf(out, "RMS dp    : %6.3f +/- %5.3f %%\n", 100.0 * s->rms_dp, 100.0 * s->rms_dp_err);
    fprintf(out, "Same top p: %6.3f +/- %5.3f %%\n", 100.0 * s->same_top, 100.0 * s->same_top_err);
}
