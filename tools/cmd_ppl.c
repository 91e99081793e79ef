/* tools/cmd_ppl.c - `qprof ppl MODEL CORPUS`: perplexity as llama.cpp's
 * llama-perplexity computes it, and KL divergence against a base run.
 *
 * The protocol and the statistics live in eval/perplexity.c; this file
 * reads the text, tokenizes it once (BOS first where the tokenizer adds it;
 * special tokens' text is plain text, as llama-perplexity's common_tokenize
 * with parse_special off), and prints:
 *   stdout  the running estimate after each chunk, "[1]7.1234,[2]..." as
 *           llama-perplexity prints it, then "Final estimate: PPL = x +/- y";
 *           with --kld a per-chunk table and the final statistics instead
 *           (fields in docs/ppl.md, names as llama-perplexity's);
 *   stderr  the weights used, the chunk plan, a progress line (terminal
 *           only) and the time taken.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../eval/eval.h"
#include "../tokenizer/tokenizer.h"
#include "../eval/eval.h"
#include "cli.h"
#include "commands.h"

#define QP_CLI_KV_DEFAULT "f16"

enum { OPT_SAVE = QP_OPT_FIRST_FREE, OPT_KLD, MAX_TEXT_BYTES = 1 << 30 };

typedef struct ppl_print {
    qp_progress prog;
    bool kld;
    bool header_done;
} ppl_print;

/* ======================================================================== */
/* output                                                                   */
/* ======================================================================== */

static void on_chunk(int c, int n_chunks, const qp_ppl_acc *acc, const qp_kld_acc *kld,
                     void *user)
{
    ppl_print *pp = user;
    char what[64];
    snprintf(what, sizeof what, "PPL %.4f", qp_ppl_value(acc));
    if (!kld) {
        printf("[%d]%.4f,", c + 1, qp_ppl_value(acc));
    } else {
        qp_kld_print_running(kld, c, !pp->header_done, stdout);
        pp->header_done = true;
    }
    fflush(stdout);
    qp_progress_update(&pp->prog, c + 1, what);
    (void)n_chunks;
}

/* ======================================================================== */
/* main                                                                     */
/* ======================================================================== */

static int ppl_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "ctx", required_argument, NULL, 'c' },
        { "chunks", required_argument, NULL, 'k' },
        { "save-logits", required_argument, NULL, OPT_SAVE },
        { "kld", required_argument, NULL, OPT_KLD },
        { "help", no_argument, NULL, 'h' },
        QP_CLI_RUN_OPTIONS,
        QP_CLI_WEIGHT_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    int n_ctx = 0, n_chunks = 0;
    const char *save = NULL, *kld = NULL;
    qp_cli cm;
    qp_cli_defaults(&cm);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:k:t:h", opts, NULL)) != -1) {
        const int h = qp_cli_option(&cm, "ppl", c, optarg);
        if (h == 1)
            continue;
        if (h < 0)
            return 2;
        switch (c) {
        case 'c':
            if (!qp_cli_int(optarg, 4, 1 << 20, &n_ctx))
                return qp_usage_error("ppl", "--ctx wants a size in 4..2^20, not '%s'", optarg);
            break;
        case 'k':
            if (!qp_cli_int(optarg, 1, 1 << 20, &n_chunks))
                return qp_usage_error("ppl", "--chunks wants a count >= 1, not '%s'", optarg);
            break;
        case OPT_SAVE: save = optarg; break;
        case OPT_KLD: kld = optarg; break;
        case 'h': fputs(qp_cmd_ppl.usage, stdout); return 0;
        default: return qp_usage_error("ppl", "bad option");
        }
    }
    const int n_args = argc - optind;
    if (n_args < 1 || n_args > 2 || (n_args == 1 && !kld))
        return qp_usage_error("ppl", "expected a model file and a text file (the text may be "
                                     "left out with --kld: the base file holds the tokens)");
    if (save && kld && strcmp(save, kld) == 0)
        return qp_usage_error("ppl", "--save-logits and --kld name the same file");
    const char *path = argv[optind], *corpus = n_args == 2 ? argv[optind + 1] : NULL;

    qp_error err;
    qp_error_clear(&err);
    char *text = NULL;
    size_t len = 0;
    if (corpus && qp_read_file(corpus, MAX_TEXT_BYTES, &text, &len, &err) != QP_OK)
        return qp_report(&err);
    int rc = qp_cli_open_model(&cm, "ppl", path);
    if (rc) {
        free(text);
        return rc;
    }
    qp_tokenizer *tok = NULL;
    qp_state *st = NULL;
    int32_t *tokens = NULL;
    int n_tokens = 0;
    if (qp_tokenizer_load(qp_model_gguf(cm.model), &tok, &err) != QP_OK) {
        if (!err.file[0])
            snprintf(err.file, sizeof err.file, "%s", path);
        rc = qp_report(&err);
        goto done;
    }
    const double t_tok = qp_now();
    if (text) {
        if (qp_tokenize_alloc(tok, text, len, false, 0, &tokens, &n_tokens, &err) != QP_OK) {
            rc = qp_report(&err);
            goto done;
        }
        fprintf(stderr, "ppl: %s: %zu bytes -> %d tokens in %.2f s\n", corpus, len, n_tokens,
                qp_now() - t_tok);
    }
    qp_cli_describe(&cm, stderr);

    /* a base file fixes n_ctx unless --ctx says otherwise (a mismatch is
     * then reported by qp_perplexity with the file's offset) */
    int ctx = n_ctx;
    if (!ctx && kld) {
        qp_logits_header h;
        int32_t *ft = NULL;
        qp_logits_file *f = NULL;
        if (qp_logits_open(kld, &h, &ft, &f, &err) != QP_OK) {
            rc = qp_report(&err);
            goto done;
        }
        ctx = (int)h.n_ctx;
        free(ft);
        qp_logits_close(f, false, NULL);
    }
    if (!ctx)
        ctx = 512;
    const int32_t bos = qp_tokenizer_add_bos(tok) ? qp_tokenizer_bos(tok) : -1;
    qp_ppl_plan plan;
    if (text && qp_ppl_plan_make(n_tokens, ctx, n_chunks, bos, &plan, &err) != QP_OK) {
        snprintf(err.file, sizeof err.file, "%s", corpus);
        rc = qp_report(&err);
        goto done;
    }
    if (ctx > qp_model_hparams(cm.model)->n_ctx_train)
        fprintf(stderr, "qprof: ppl: warning: context %d is longer than the model's training "
                        "context %d\n", ctx, qp_model_hparams(cm.model)->n_ctx_train);
    const qp_state_opts so = qp_cli_state_opts(&cm, ctx, ctx < 512 ? ctx : 512);
    if (qp_state_create(cm.model, &so, &st, &err) != QP_OK) {
        rc = qp_report(&err);
        goto done;
    }
    if (text)
        fprintf(stderr, "ppl: %d chunks of %d tokens, scoring the last %d of each (positions "
                        "%d..%d)%s\n", plan.n_chunks, ctx, plan.n_scored, plan.first + 1,
                ctx - 1, bos >= 0 ? "; BOS first in each chunk" : "");

    ppl_print pp = { .kld = kld != NULL };
    qp_progress_begin(&pp.prog, "ppl", text ? plan.n_chunks : 0);
    if (isatty(STDOUT_FILENO))
        pp.prog.enabled = 0; /* the running estimate on the terminal is the progress */
    const qp_ppl_opts po = { .n_ctx = ctx, .max_chunks = n_chunks, .bos = bos,
                             .save_path = save, .kld_path = kld, .on_chunk = on_chunk,
                             .user = &pp };
    qp_ppl_result r;
    const qp_status s = qp_perplexity(st, tokens, n_tokens, &po, &r, &err);
    qp_progress_end(&pp.prog);
    if (s != QP_OK) {
        printf("\n");
        fflush(stdout);
        if (!err.file[0] && corpus)
            snprintf(err.file, sizeof err.file, "%s", corpus);
        rc = qp_report(&err);
        goto done;
    }
    if (!r.has_kld)
        printf("\n"); /* ends the line of running estimates */
    if (r.has_kld)
        qp_kld_stats_print(&r.kld, stdout);
    else
        printf("Final estimate: PPL = %.4f +/- %.5f\n", qp_ppl_value(&r.acc),
               qp_ppl_error(&r.acc));
    fprintf(stderr, "ppl: %d chunks, %lld tokens scored in %.1f s (%.1f tokens/s evaluated)%s%s\n",
            r.plan.n_chunks, (long long)r.acc.count, r.seconds,
            r.seconds > 0 ? (double)r.plan.n_chunks * r.plan.n_ctx / r.seconds : 0.0,
            save ? "; log-probs saved to " : "", save ? save : "");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qprof: ppl: error writing the output\n");
        rc = 1;
    }
done:
    free(tokens), free(text);
    qp_state_free(st);
    qp_tokenizer_free(tok);
    qp_cli_close(&cm);
    return rc;
}

const qp_command qp_cmd_ppl = {
    .name = "ppl",
    .summary = "perplexity of a text (llama-perplexity's protocol) and KL divergence",
    .usage =
        "usage: qprof ppl MODEL.gguf TEXT [--ctx N] [--chunks N] [--save-logits F] [--kld F]\n"
        "       qprof ppl MODEL.gguf --kld BASE [options]\n\n"
        "Tokenizes TEXT once (BOS first where the tokenizer adds one), cuts it into\n"
        "chunks of N tokens, evaluates each from an empty cache with BOS in place of its\n"
        "first token, and scores the second half of each chunk: llama.cpp's\n"
        "llama-perplexity protocol, so the numbers are comparable with it. stdout: the\n"
        "running estimate per chunk, then \"Final estimate: PPL = x +/- y\".\n\n"
        "  -c, --ctx N          tokens per chunk (default 512, or the base file's)\n"
        "  -k, --chunks N       evaluate at most N chunks (default: all of the text)\n"
        "      --save-logits F  write this model's log-probabilities of every scored\n"
        "                       position to F (float32, n_vocab per position: a base for\n"
        "                       --kld; 4 * n_vocab * (N/2 - 1) bytes per chunk)\n"
        "      --kld F          compare with the base in F: KL divergence (mean, median,\n"
        "                       percentiles, max), same-top-token rate, RMS of the change\n"
        "                       in the correct token's probability, both perplexities.\n"
        "                       TEXT, if given, must give the tokens F was made from\n"
        QP_CLI_RUN_USAGE
        QP_CLI_WEIGHT_USAGE
        "  -h, --help           this text\n\n"
        "The file format and every output field: docs/ppl.md. A progress line goes to\n"
        "stderr when stderr is a terminal and stdout is not.\n"
        "Example: qprof ppl model.gguf wiki.test.raw --chunks 20 --save-logits base.bin\n"
        "         qprof ppl model.gguf wiki.test.raw --chunks 20 --type q4_0 --kld base.bin\n",
    .run = ppl_main,
};
