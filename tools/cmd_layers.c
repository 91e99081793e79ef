/* tools/cmd_layers.c - `qprof layers`: per-layer, per-block latency and
 * error of quantization types against the FP32 reference, into HDF5 and
 * PNG heatmaps, with a one-screen summary. The work is in
 * profiler/layers.c; this file is options, text, signals and the summary. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../kernels/kernels.h"
#include "../profiler/profiler.h"
#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "../quant/quant.h"
#include "commands.h"
#include "default_text.h"

enum { MAX_TYPES = 16, MAX_TEXT = 64 << 20 };

/* The types tried by default, best to worst; those no tensor of the model
 * can take (every row would fall back) are left out. */
static const int default_types[] = {
    QP_TYPE_Q8_0, QP_TYPE_Q6_K, QP_TYPE_Q5_K, QP_TYPE_Q5_1, QP_TYPE_Q5_0,
    QP_TYPE_Q4_K, QP_TYPE_Q4_1, QP_TYPE_Q4_0, QP_TYPE_Q3_K, QP_TYPE_Q2_K,
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void log_line(void *user, const char *line)
{
    (void)user;
    /* the progress line is redrawn after this; clear it first on a TTY */
    fprintf(stderr, "%sqprof: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "", line);
}

/* Reads a whole text file (size checked before allocating). */
static char *read_text(const char *path, size_t *len, qp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot open: %m");
        return NULL;
    }
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size < 0 || size > MAX_TEXT)
            qp_error_set(err, QP_ERR_INPUT, path, -1, "text file larger than %d MiB", MAX_TEXT >> 20);
        else if (fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1))) {
            *len = fread(buf, 1, (size_t)size, f);
            buf[*len] = '\0';
        } else
            qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot read: %m");
    } else
        qp_error_set(err, QP_ERR_INPUT, path, -1, "not a seekable file");
    fclose(f);
    return buf;
}

static int parse_types(const char *s, int *types, int max)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int t = qp_type_from_name(tok);
        if (t < 0 || qp_act_type((enum qp_type)t) < 0 || t == QP_TYPE_F32) {
            fprintf(stderr, "qprof: layers: '%s' is not a quantization type qprof can run "
                            "(try q8_0,q6_K,q5_K,q5_1,q5_0,q4_K,q4_1,q4_0,q3_K,q2_K,f16,bf16)\n", tok);
            return -1;
        }
        if (n == max) {
            fprintf(stderr, "qprof: layers: at most %d types\n", max);
            return -1;
        }
        types[n++] = t;
    }
    return n;
}

/* True if at least one linear of the model takes `type` without fallback. */
static int type_fits_model(const qp_model *m, int type)
{
    for (int i = 0; i < qp_model_n_linears(m); i++)
        if (qp_fallback_type(type, qp_model_linear(m, i)->cols) == type)
            return 1;
    return 0;
}

/* ---- the summary ----------------------------------------------------------- */

static void print_summary(FILE *out, const qp_profile *p, double total_s)
{
    const int L = p->n_layers;
    fprintf(out, "\nqprof layers: %s\n", p->model_path);
    fprintf(out, "  %d tokens, %d reps, %s kernels, %d threads; reference: %s\n", p->n_tokens, p->reps,
            p->kernel_variant, p->threads, p->reference);
    if (p->packed_layouts[0] && strcmp(p->packed_layouts, "none") != 0)
        fprintf(out, "  packed weight layouts: %s\n", p->packed_layouts);
    fprintf(out, "  reference forward: %.1f ms\n\n", p->ref_forward_ms[0]);
    fprintf(out, "  %-6s %10s %8s %10s %8s %12s %12s %10s\n", "type", "fwd ms", "vs ref", "KLD", "top1 %",
            "worst local", "final acc.", "blocks/fwd");
    for (int t = 0; t < p->n_types; t++) {
        double worst = 0;
        for (int l = 0; l < L; l++)
            for (int b = QP_BLOCK_ATTN; b <= QP_BLOCK_FFN; b++) {
                double v = p->err[QP_ERR_REL_L2][QP_LOCAL][qp_profile_tlb(p, t, l, b)];
                worst = v > worst ? v : worst;
            }
        double fin = p->err[QP_ERR_REL_L2][QP_ACCUMULATED][qp_profile_tlb(p, t, L - 1, QP_BLOCK_FFN)];
        fprintf(out, "  %-6s %10.1f %7.2fx %10.5f %8.1f %11.3f%% %11.3f%% %9.1f%%\n", p->type_names[t],
                p->forward_ms[t], p->forward_ms[t] / p->ref_forward_ms[0], p->kld_mean[t], p->top1[t],
                100 * worst, 100 * fin, 100 * p->block_sum_ms[t] / p->forward_ms[t]);
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
static void png_prefix(const char *h5, const char *dir, char *out, size_t size)
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

static int layers_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"types", required_argument, NULL, 't'}, {"text", required_argument, NULL, 'f'},
        {"prompt", required_argument, NULL, 'p'}, {"tokens", required_argument, NULL, 'n'},
        {"kernels", required_argument, NULL, 'k'}, {"threads", required_argument, NULL, 'j'},
        {"reps", required_argument, NULL, 'r'}, {"output", required_argument, NULL, 'o'},
        {"png", required_argument, NULL, 'g'}, {"no-png", no_argument, NULL, 'G'},
        {"resume", no_argument, NULL, 'R'}, {"rows", no_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *types_arg = NULL, *text_path = NULL, *prompt = NULL, *kernels_name = NULL;
    const char *out_path = "profile.h5", *png_dir = NULL;
    int n_tokens = 512, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), reps = 3, no_png = 0, resume = 0;
    bool rows_only = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:f:p:n:k:j:r:o:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 't': types_arg = optarg; break;
        case 'f': text_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': n_tokens = (int)strtol(optarg, &end, 10); if (*end || n_tokens < 2 || n_tokens > 32768) return qp_usage_error("layers", "--tokens must be 2..32768"); break;
        case 'k': kernels_name = optarg; break;
        case 'j': threads = (int)strtol(optarg, &end, 10); if (*end || threads < 1 || threads > 256) return qp_usage_error("layers", "--threads must be 1..256"); break;
        case 'r': reps = (int)strtol(optarg, &end, 10); if (*end || reps < 1 || reps > 64) return qp_usage_error("layers", "--reps must be 1..64"); break;
        case 'o': out_path = optarg; break;
        case 'g': png_dir = optarg; break;
        case 'G': no_png = 1; break;
        case 'W': rows_only = true; break;
        case 'R': resume = 1; break;
        case 'h': fputs(qp_cmd_layers.usage, stdout); return 0;
        default: return qp_usage_error("layers", "bad option");
        }
    }
    if (optind != argc - 1)
        return qp_usage_error("layers", "expected one model file");
    if (text_path && prompt)
        return qp_usage_error("layers", "--text and --prompt exclude each other");
    if (threads < 1)
        threads = 1;
    const char *model_path = argv[optind];
    double t0 = qp_now();
    qp_error err;
    qp_error_clear(&err);

    const qp_kernels *kern = qp_kernels_default();
    if (kernels_name && !(kern = qp_kernels_by_name(kernels_name, &err)))
        return qp_usage_error("layers", "%s", err.msg);

    qp_model *m = NULL;
    qp_tokenizer *tok = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    int rc = 2;
    if (qp_model_open(model_path, &m, &err) != QP_OK || qp_tokenizer_load(qp_model_gguf(m), &tok, &err) != QP_OK) {
        rc = qp_report(&err);
        goto out;
    }

    /* ---- types ---- */
    int types[MAX_TYPES], n_types = 0;
    if (types_arg) {
        if ((n_types = parse_types(types_arg, types, MAX_TYPES)) < 0)
            goto out;
    } else {
        for (size_t i = 0; i < sizeof default_types / sizeof *default_types; i++) {
            if (type_fits_model(m, default_types[i]))
                types[n_types++] = default_types[i];
            else
                fprintf(stderr, "qprof: layers: no tensor of this model fits %s blocks; skipping it\n",
                        qp_type_info(default_types[i])->name);
        }
    }
    if (n_types == 0) {
        fprintf(stderr, "qprof: layers: no quantization type to profile\n");
        goto out;
    }

    /* ---- tokens ---- */
    size_t len = 0;
    const char *source;
    if (text_path) {
        if (!(text = read_text(text_path, &len, &err))) {
            rc = qp_report(&err);
            goto out;
        }
        source = text_path;
    } else if (prompt) {
        text = strdup(prompt);
        len = strlen(prompt);
        source = "--prompt";
    } else {
        /* the built-in text, repeated until it gives enough tokens */
        size_t one = strlen(qp_default_text), reps_needed = 1 + (size_t)n_tokens / 400;
        text = malloc(one * reps_needed + 1);
        if (text)
            for (size_t i = 0; i < reps_needed; i++)
                memcpy(text + i * one, qp_default_text, one + (i + 1 == reps_needed));
        len = one * reps_needed;
        source = "built-in text (tools/default_text.c)";
    }
    ids = malloc((size_t)n_tokens * sizeof *ids);
    if (!text || !ids) {
        fprintf(stderr, "qprof: layers: out of memory\n");
        rc = 1;
        goto out;
    }
    int got = qp_tokenize(tok, text, len, true, false, ids, n_tokens);
    if (got < 0) {
        fprintf(stderr, "qprof: layers: tokenization failed\n");
        rc = 1;
        goto out;
    }
    if (got < n_tokens) {
        fprintf(stderr, "qprof: layers: the text gives %d tokens; profiling those (asked: %d)\n", got, n_tokens);
        n_tokens = got;
    }
    const qp_hparams *hp = qp_model_hparams(m);
    if (n_tokens > hp->n_ctx_train)
        fprintf(stderr, "qprof: layers: %d tokens exceed the model's training context (%d)\n", n_tokens,
                hp->n_ctx_train);
    if (n_tokens < 2) {
        fprintf(stderr, "qprof: layers: need at least 2 tokens\n");
        goto out;
    }

    /* ---- run ---- */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "qprof: profiling %d types on %d tokens, %d reps, %s kernels, %d threads -> %s\n", n_types,
            n_tokens, reps, qp_kernels_name(kern), threads, out_path);
    qp_layers_opts lo = {.types = types, .n_types = n_types, .tokens = ids, .n_tokens = n_tokens,
                         .reps = reps, .threads = threads, .kernels = kern, .out_path = out_path,
                         .resume = resume, .rows_only = rows_only, .model_path = model_path, .text_source = source,
                         .stop = &stop_flag, .log = log_line, .progress = true};
    qp_profile prof;
    qp_status st = qp_layers_run(m, &lo, &prof, &err);
    if (st != QP_OK) {
        if (stop_flag) {
            int done = 0;
            for (int i = 0; prof.done && i < prof.n_types * prof.n_layers; i++)
                done += prof.done[i];
            if (done)
                fprintf(stderr, "qprof: layers: interrupted; %d of %d (type, layer) units saved in %s; "
                                "run again with --resume to continue\n", done, prof.n_types * prof.n_layers, out_path);
            else
                fprintf(stderr, "qprof: layers: interrupted before any layer finished; nothing written\n");
            rc = 1;
        } else {
            rc = qp_report(&err);
        }
        qp_profile_free(&prof);
        goto out;
    }

    if (!no_png) {
        char prefix[1200];
        png_prefix(out_path, png_dir, prefix, sizeof prefix);
        char *written[64];
        int n_written = 0;
        if (qp_profile_write_pngs(&prof, prefix, NULL, written, 64, &n_written, &err) != QP_OK) {
            rc = qp_report(&err);
            qp_profile_free(&prof);
            goto out;
        }
        fprintf(stderr, "qprof: wrote %s and %d heatmaps (%s*.png)\n", out_path, n_written, prefix);
        for (int i = 0; i < n_written; i++)
            free(written[i]);
    }
    print_summary(stdout, &prof, qp_now() - t0);
    qp_profile_free(&prof);
    rc = 0;

out:
    free(ids);
    free(text);
    qp_tokenizer_free(tok);
    qp_model_free(m);
    return rc;
}

const qp_command qp_cmd_layers = {
    .name = "layers",
    .summary = "per-layer, per-block latency and error of quantization types (HDF5 + PNG)",
    .usage =
        "usage: qprof layers MODEL.gguf [options]\n\n"
        "For every layer and block (attn, ffn, and the linears q k v o gate up down) and\n"
        "every quantization type: latency (median and spread over reps) against the FP32\n"
        "reference, weight error of each tensor, and output error against the reference,\n"
        "local (the block alone quantized, fed the reference input) and accumulated (the\n"
        "whole model quantized); at the end, KL divergence and top-1 agreement of the logits.\n\n"
        "  -t, --types LIST    comma-separated, e.g. q8_0,q4_K,q4_0,q2_K (default: every\n"
        "                      type some tensor of the model can take; tensors whose rows\n"
        "                      do not fit a type's block use llama.cpp's fallback, reported)\n"
        "  -f, --text FILE     profile the first tokens of FILE\n"
        "  -p, --prompt STR    profile the tokens of STR\n"
        "                      (default: a built-in English text)\n"
        "  -n, --tokens N      tokens to profile (default 512)\n"
        "  -k, --kernels V     scalar, avx2, avx512, neon (default: the best for this CPU)\n"
        "  -j, --threads T     threads (default: all CPUs)\n"
        "  -r, --reps R        timed runs per precision (default 3)\n"
        "  -o, --output FILE   HDF5 profile (default profile.h5; layout: docs/profile-h5.md)\n"
        "      --png DIR       write the heatmaps into DIR (default: beside FILE, FILE-*.png)\n"
        "      --no-png        no heatmaps (qprof heatmap draws them later)\n"
        "      --resume        continue an interrupted FILE (same model, types and tokens)\n"
        "      --rows          plain GGUF rows even where the kernels have a packed layout\n"
        "                      (recorded in FILE as packed_layouts = none)\n\n"
        "The file is rewritten atomically after every layer: an interrupt (Ctrl-C) leaves\n"
        "nothing or a valid file holding every finished layer.\n",
    .run = layers_main,
};
