/* profiler/report.c - the one-screen summary of a profile, and where its
 * heatmaps go. */
#include "profiler.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void qp_profile_print_summary(const qp_profile *p, double total_s, FILE *out)
{
    const int L = p->n_layers;
    fprintf(out, "\nqprof layers: %s\n", p->model_path);
    fprintf(out, "  %d tokens, %d reps, %s kernels, %d threads; reference: %s\n", p->n_tokens, p->reps,
            p->kernel_variant, p->threads, p->reference);
    if (p->packed_layouts[0] && strcmp(p->packed_layouts, "none") != 0)
        fprintf(out, "  packed weight layouts: %s\n", p->packed_layouts);
    fprintf(out, "  KV cache %s; reference forward: %.1f ms (the sum of its parts' medians)\n\n", p->kv_type,
            p->ref_forward_ms[0]);
    fprintf(out, "  %-6s %10s %8s %10s %8s %12s %12s\n", "type", "fwd ms", "vs ref", "KLD", "top1 %",
            "worst local", "final acc.");
    for (int t = 0; t < p->n_types; t++) {
        double worst = 0;
        for (int l = 0; l < L; l++)
            for (int b = QP_BLOCK_ATTN; b <= QP_BLOCK_FFN; b++) {
                double v = p->err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(p, t, l, b)];
                worst = v > worst ? v : worst;
            }
        double fin = p->err[QP_ERR_REL_L2][QP_ACCUMULATED][qp_profile_tlb(p, t, L - 1, QP_BLOCK_FFN)];
        fprintf(out, "  %-6s %10.1f %7.2fx %10.5f %8.1f %11.3f%% %11.3f%%\n", p->type_names[t],
                p->forward_ms[t], p->forward_ms[t] / p->ref_forward_ms[0], p->kld_mean[t], p->top1[t],
                100 * worst, 100 * fin);
    }
    fprintf(out, "\n  most sensitive blocks (local relative L2 error):\n");
    for (int t = 0; t < p->n_types; t++) {
        /* top 3 (layer, block) by local error among attn/ffn */
        int best[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
        double bv[3] = {-1, -1, -1};
        for (int l = 0; l < L; l++)
            for (int b = QP_BLOCK_ATTN; b <= QP_BLOCK_FFN; b++) {
                double v = p->err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(p, t, l, b)];
                if (isnan(v))
                    continue;
                for (int k = 0; k < 3; k++)
                    if (v > bv[k]) {
                        for (int j = 2; j > k; j--) {
                            bv[j] = bv[j - 1];
                            best[j][0] = best[j - 1][0];
                            best[j][1] = best[j - 1][1];
                        }
                        bv[k] = v;
                        best[k][0] = l;
                        best[k][1] = b;
                        break;
                    }
            }
        fprintf(out, "    %-6s", p->type_names[t]);
        for (int k = 0; k < 3 && best[k][0] >= 0; k++)
            fprintf(out, "  layer %d %s %.3f%%", best[k][0], qp_block_name(best[k][1]), 100 * bv[k]);
        fputc('\n', out);
    }
    fprintf(out, "\n  slowest blocks (median ms, quantized / reference):\n");
    for (int t = 0; t < p->n_types; t++) {
        int bl = -1, bb = -1;
        double bv = -1;
        for (int l = 0; l < L; l++)
            for (int b = QP_BLOCK_ATTN; b <= QP_BLOCK_FFN; b++) {
                double v = p->latency_median[qp_profile_tlb(p, t, l, b)];
                if (v > bv) {
                    bv = v;
                    bl = l;
                    bb = b;
                }
            }
        if (bl >= 0)
            fprintf(out, "    %-6s  layer %d %s %.2f ms (reference %.2f ms)\n", p->type_names[t], bl,
                    qp_block_name(bb), bv, p->ref_latency_median[bl * QP_BLOCK_COUNT + bb]);
    }
    fprintf(out, "\n  total time: %.1f s\n", total_s);
}

/* "dir/profile.h5" -> "dir/profile-" as the PNG prefix, or DIR/ with --png. */
void qp_profile_png_prefix(const char *h5, const char *dir, char *out, size_t size)
{
    if (dir) {
        snprintf(out, size, "%s/", dir);
        return;
    }
    snprintf(out, size, "%s", h5);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash))
        *dot = '\0';
    size_t n = strlen(out);
    snprintf(out + n, size - n, "-");
}
