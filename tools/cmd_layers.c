/* tools/cmd_layers.c - `qprof layers`: per-layer, per-block latency and
 * error of quantization types against the FP32 reference, into HDF5 and
 * PNG heatmaps, with a one-screen summary. The work is qp_layers_run
 * (profiler/); this file is options, the text, signals and output. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../eval/eval.h"
#include "../profiler/profiler.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"
#include "commands.h"

#define QP_CLI_KV_DEFAULT "f32"

enum { MAX_TYPES = 16, OPT_PNG = QP_OPT_FIRST_FREE, OPT_NO_PNG, OPT_RESUME, OPT_MAX_MEMORY };

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

/* Writes the heatmaps and says where. Returns the exit code. */
static int write_pngs(const qp_profile *prof, const char *out_path, const char *png_dir)
{
    char prefix[1200], *written[64];
    int n_written = 0;
    qp_error err;
    qp_error_clear(&err);
    qp_profile_png_prefix(out_path, png_dir, prefix, sizeof prefix);
    if (qp_profile_write_pngs(prof, prefix, NULL, written, 64, &n_written, &err) != QP_OK)
        return qp_report(&err);
    fprintf(stderr, "qprof: wrote %s and %d heatmaps (%s*.png)\n", out_path, n_written, prefix);
    for (int i = 0; i < n_written; i++)
        free(written[i]);
    return 0;
}

/* What an interrupted run kept. */
static void report_stop(const qp_profile *prof, const char *out_path)
{
    int done = 0;
    for (int i = 0; prof->done && i < prof->n_types * prof->n_layers; i++)
        done += prof->done[i];
    if (done)
        fprintf(stderr, "qprof: layers: interrupted; %d of %d (type, layer) units saved in %s; "
                        "run again with --resume to continue\n", done, prof->n_types * prof->n_layers, out_path);
    else
        fprintf(stderr, "qprof: layers: interrupted before any layer finished; nothing written\n");
}

static int layers_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"types", required_argument, NULL, 'T'}, {"file", required_argument, NULL, 'f'},
        {"text", required_argument, NULL, 'f'}, /* its name before -f meant --file everywhere */
        {"prompt", required_argument, NULL, 'p'}, {"tokens", required_argument, NULL, 'n'},
        {"reps", required_argument, NULL, 'r'}, {"output", required_argument, NULL, 'o'},
        {"png", required_argument, NULL, OPT_PNG}, {"no-png", no_argument, NULL, OPT_NO_PNG},
        {"resume", no_argument, NULL, OPT_RESUME}, {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"help", no_argument, NULL, 'h'},
        QP_CLI_RUN_OPTIONS, {NULL, 0, NULL, 0},
    };
    const char *types_arg = NULL, *text_path = NULL, *prompt = NULL, *out_path = "profile.h5", *png_dir = NULL;
    int n_tokens = 512, reps = 3, no_png = 0, resume = 0, c;
    uint64_t max_memory = 0;
    qp_cli cli;
    qp_cli_defaults(&cli);
    optind = 1;
    while ((c = getopt_long(argc, argv, "T:f:p:n:r:o:t:h", opts, NULL)) != -1) {
        const int h = qp_cli_option(&cli, "layers", c, optarg);
        if (h < 0)
            return 2;
        if (h > 0)
            continue;
        switch (c) {
        case 'T': types_arg = optarg; break;
        case 'f': text_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n':
            if (!qp_cli_int(optarg, 2, 32768, &n_tokens))
                return qp_usage_error("layers", "--tokens must be 2..32768");
            break;
        case 'r':
            if (!qp_cli_int(optarg, 1, 64, &reps))
                return qp_usage_error("layers", "--reps must be 1..64");
            break;
        case 'o': out_path = optarg; break;
        case OPT_PNG: png_dir = optarg; break;
        case OPT_NO_PNG: no_png = 1; break;
        case OPT_RESUME: resume = 1; break;
        case OPT_MAX_MEMORY:
            if (!qp_parse_size(optarg, &max_memory) || max_memory == 0)
                return qp_usage_error("layers", "--max-memory wants a size such as 2G or 512M, not '%s'", optarg);
            break;
        case 'h': fputs(qp_cmd_layers.usage, stdout); return 0;
        default: return qp_usage_error("layers", "bad option");
        }
    }
    if (optind != argc - 1)
        return qp_usage_error("layers", "expected one model file");
    if (text_path && prompt)
        return qp_usage_error("layers", "--file and --prompt exclude each other");
    qp_error err;
    qp_error_clear(&err);
    int types[MAX_TYPES], n_types = 0;
    if (types_arg && (n_types = qp_type_list_parse(types_arg, types, MAX_TYPES, &err)) < 0)
        return qp_usage_error("layers", "--types: %s", err.msg);
    int rc = qp_cli_resolve(&cli, "layers");
    if (rc)
        return rc;
    const char *model_path = argv[optind];
    const double t0 = qp_now();
    const int asked = n_tokens;

    qp_model *m = NULL;
    qp_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    const char *source = NULL;
    if (qp_model_open(model_path, &m, &err) != QP_OK || qp_tokenizer_load(qp_model_gguf(m), &tok, &err) != QP_OK ||
        qp_eval_tokens(tok, text_path, prompt, n_tokens, &ids, &n_tokens, &source, &err) != QP_OK) {
        rc = qp_report(&err);
        goto out;
    }

    if (n_tokens < asked)
        fprintf(stderr, "qprof: layers: the text gives %d tokens; profiling those (asked: %d)\n", n_tokens, asked);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "qprof: profiling %d tokens, %d reps, %s kernels, %d threads -> %s\n", n_tokens, reps,
            qp_kernels_name(cli.kernels), cli.n_threads, out_path);
    const qp_layers_opts lo = {.types = types, .n_types = n_types, .tokens = ids, .n_tokens = n_tokens,
                               .reps = reps, .threads = cli.n_threads, .kernels = cli.kernels,
                               .out_path = out_path, .resume = resume, .rows_only = cli.rows_only,
                               .model_path = model_path, .text_source = source, .stop = &stop_flag,
                               .kv_type = cli.kv_type >= 0 ? (enum qp_kv_type)cli.kv_type : QP_KV_F32,
                               .max_memory = max_memory,
                               .log = log_line, .progress = true};
    qp_profile prof;
    if (qp_layers_run(m, &lo, &prof, &err) != QP_OK) {
        if (stop_flag) {
            report_stop(&prof, out_path);
            rc = 1;
        } else {
            rc = qp_report(&err);
        }
    } else if (!no_png && (rc = write_pngs(&prof, out_path, png_dir)) != 0) {
        /* reported */
    } else {
        qp_profile_print_summary(&prof, qp_now() - t0, stdout);
    }
    qp_profile_free(&prof);

out:
    free(ids);
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
        "  -T, --types LIST    comma-separated, e.g. q8_0,q4_K,q4_0,q2_K (default: every\n"
        "                      type some tensor of the model can take; tensors whose rows\n"
        "                      do not fit a type's block use llama.cpp's fallback, reported)\n"
        "  -f, --file FILE     profile the first tokens of FILE\n"
        "  -p, --prompt STR    profile the tokens of STR\n"
        "                      (default: a built-in English text)\n"
        "  -n, --tokens N      tokens to profile (default 512)\n"
        "  -r, --reps R        timed runs per precision (default 3)\n"
        "  -o, --output FILE   HDF5 profile (default profile.h5; layout: docs/profile-h5.md)\n"
        "      --png DIR       write the heatmaps into DIR (default: beside FILE, FILE-*.png)\n"
        "      --no-png        no heatmaps (qprof heatmap draws them later)\n"
        "      --resume        continue an interrupted FILE (same model, types and tokens)\n"
        "      --max-memory SIZE  keep at most SIZE in memory (2G, 512M): above it the types'\n"
        "                      residual streams go to a file beside FILE; below what one\n"
        "                      layer needs, an error naming that (default: no cap)\n"
        QP_CLI_RUN_USAGE
        "                       (--rows is recorded in FILE as packed_layouts = none)\n\n"
        "The file is rewritten atomically after every layer: an interrupt (Ctrl-C) leaves\n"
        "nothing or a valid file holding every finished layer.\n",
    .run = layers_main,
};
