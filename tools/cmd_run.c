/* tools/cmd_run.c - `qprof run MODEL -p TEXT`: generate text with qprof's
 * own forward pass, streaming it to stdout, with speeds on stderr.
 *
 * stdout carries only the text: the prompt as the tokenizer gives it back,
 * then each generated token as it comes, then one newline. Token text
 * follows llama2.c's conventions, which qp_detokenize implements (the
 * SentencePiece space after BOS is dropped, <0xXX> byte tokens are their
 * byte, control tokens print nothing), so `qprof run stories260K.gguf -p ""
 * -n 200 --temp 0` prints what llama2.c's `run -t 0 -n 200` prints.
 * Printing re-detokenizes the whole sequence and writes the new suffix,
 * which is exact for every tokenizer rule that looks at neighbours (the
 * cost, a few microseconds per token, is invisible next to a forward pass).
 *
 * stderr: the weights used, then prompt speed, time to first token and
 * generation speed, in llama.cpp's terms (prompt eval = one batched pass
 * over the prompt; eval = the single-token passes), each with the CPU time
 * the process spent in it (the honest figure on a shared machine).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "../eval/eval.h"
#include "cli.h"
#include "commands.h"

#define QP_CLI_KV_DEFAULT "f16"

enum { OPT_TEMP = QP_OPT_FIRST_FREE, OPT_TOP_P, OPT_SEED, OPT_IGNORE_EOS, OPT_NO_SPECIAL, MAX_PROMPT_BYTES = 64 << 20 };

typedef struct run_opts {
    const char *prompt;      /* -p */
    const char *prompt_file; /* -f */
    int n_predict;           /* -n */
    int n_ctx;               /* -c, 0: prompt + n_predict */
    float temp, top_p;
    unsigned long long seed;
    bool ignore_eos;
    bool parse_special;
} run_opts;

/* ======================================================================== */
/* streaming output                                                         */
/* ======================================================================== */

/* Where generated text goes: the stream of the sequence, then stdout. */
typedef struct printer {
    qp_detok_stream *ds;
    bool failed;            /* a write error, or the stream refused */
} printer;

static bool print_tokens(printer *p, const int32_t *ids, int n)
{
    const char *text;
    size_t len;
    if (qp_detok_stream_push(p->ds, ids, n, &text, &len, NULL) != QP_OK ||
        fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
        p->failed = true;
    return !p->failed;
}

static bool on_token(int32_t token, int pos, void *user)
{
    (void)pos;
    return print_tokens(user, &token, 1);
}

/* ======================================================================== */
/* prompt                                                                   */
/* ======================================================================== */

/* ======================================================================== */
/* main                                                                     */
/* ======================================================================== */

static int run_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "prompt", required_argument, NULL, 'p' },
        { "file", required_argument, NULL, 'f' },
        { "tokens", required_argument, NULL, 'n' },
        { "n-predict", required_argument, NULL, 'n' }, /* llama.cpp's name, kept as an alias */
        { "ctx", required_argument, NULL, 'c' },
        { "temp", required_argument, NULL, OPT_TEMP },
        { "top-p", required_argument, NULL, OPT_TOP_P },
        { "seed", required_argument, NULL, OPT_SEED },
        { "ignore-eos", no_argument, NULL, OPT_IGNORE_EOS },
        { "no-special", no_argument, NULL, OPT_NO_SPECIAL },
        { "help", no_argument, NULL, 'h' },
        QP_CLI_RUN_OPTIONS,
        QP_CLI_WEIGHT_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    run_opts ro = { .n_predict = 64, .temp = 0.0f, .top_p = 1.0f, .parse_special = true };
    qp_cli cm;
    qp_cli_defaults(&cm);
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:f:n:c:t:h", opts, NULL)) != -1) {
        const int h = qp_cli_option(&cm, "run", c, optarg);
        if (h == 1)
            continue;
        if (h < 0)
            return 2;
        switch (c) {
        case 'p': ro.prompt = optarg; break;
        case 'f': ro.prompt_file = optarg; break;
        case 'n':
            if (!qp_cli_int(optarg, 0, 1 << 20, &ro.n_predict))
                return qp_usage_error("run", "-n wants a token count in 0..2^20, not '%s'", optarg);
            break;
        case 'c':
            if (!qp_cli_int(optarg, 1, 1 << 20, &ro.n_ctx))
                return qp_usage_error("run", "--ctx wants a size in 1..2^20, not '%s'", optarg);
            break;
        case OPT_TEMP:
            ro.temp = strtof(optarg, &end);
            if (!*optarg || *end || !(ro.temp >= 0.0f) || !isfinite(ro.temp))
                return qp_usage_error("run", "--temp wants a number >= 0, not '%s'", optarg);
            break;
        case OPT_TOP_P:
            ro.top_p = strtof(optarg, &end);
            if (!*optarg || *end || !(ro.top_p > 0.0f && ro.top_p <= 1.0f))
                return qp_usage_error("run", "--top-p wants a number in (0, 1], not '%s'", optarg);
            break;
        case OPT_SEED:
            errno = 0;
            ro.seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || optarg[0] == '-')
                return qp_usage_error("run", "--seed wants an unsigned integer, not '%s'", optarg);
            break;
        case OPT_IGNORE_EOS: ro.ignore_eos = true; break;
        case OPT_NO_SPECIAL: ro.parse_special = false; break;
        case 'h': fputs(qp_cmd_run.usage, stdout); return 0;
        default: return qp_usage_error("run", "bad option");
        }
    }
    if (optind != argc - 1)
        return qp_usage_error("run", "expected one model file");
    if (ro.prompt && ro.prompt_file)
        return qp_usage_error("run", "-p and -f both give the prompt: use one");
    const char *path = argv[optind];

    qp_error err;
    qp_error_clear(&err);
    char *file_text = NULL;
    size_t plen = 0;
    const char *ptext = ro.prompt ? ro.prompt : "";
    if (ro.prompt_file) {
        if (qp_read_file(ro.prompt_file, MAX_PROMPT_BYTES, &file_text, &plen, &err) != QP_OK)
            return qp_report(&err);
        ptext = file_text;
    } else {
        plen = strlen(ptext);
    }

    int rc = qp_cli_open_model(&cm, "run", path);
    if (rc) {
        free(file_text);
        return rc;
    }
    qp_tokenizer *tok = NULL;
    qp_state *st = NULL;
    qp_sampler *smp = NULL;
    int32_t *prompt = NULL;
    printer out = { 0 };
    const qp_hparams *hp = qp_model_hparams(cm.model);

    if (qp_tokenizer_load(qp_model_gguf(cm.model), &tok, &err) != QP_OK) {
        if (!err.file[0])
            snprintf(err.file, sizeof err.file, "%s", path);
        rc = qp_report(&err);
        goto done;
    }
    int n_prompt = 0;
    if (qp_tokenize_alloc(tok, ptext, plen, ro.parse_special, 0, &prompt, &n_prompt, &err) != QP_OK) {
        rc = qp_report(&err);
        goto done;
    }
    if (n_prompt == 0) {
        rc = qp_usage_error("run", "the prompt is empty and this tokenizer adds no BOS: "
                                   "give some text with -p");
        goto done;
    }
    const int n_ctx = ro.n_ctx ? ro.n_ctx : n_prompt + ro.n_predict;
    if (n_prompt > n_ctx) {
        rc = qp_usage_error("run", "the prompt has %d tokens, more than the context of %d",
                            n_prompt, n_ctx);
        goto done;
    }
    if (n_ctx > hp->n_ctx_train)
        fprintf(stderr, "qprof: run: warning: context %d is longer than the model's training "
                        "context %d\n", n_ctx, hp->n_ctx_train);
    qp_cli_describe(&cm, stderr);

    const qp_state_opts so = qp_cli_state_opts(&cm, n_ctx, n_prompt < 512 ? n_prompt : 512);
    if (qp_state_create(cm.model, &so, &st, &err) != QP_OK ||
        qp_sampler_create(hp->n_vocab, ro.temp, ro.top_p, ro.seed, &smp, &err) != QP_OK) {
        rc = qp_report(&err);
        goto done;
    }

    if (qp_detok_stream_create(tok, n_prompt + ro.n_predict, &out.ds, &err) != QP_OK) {
        rc = qp_report(&err);
        goto done;
    }
    print_tokens(&out, prompt, n_prompt); /* the prompt, as the tokenizer gives it back */

    /* llama2.c ends a story at BOS (its training data separates stories
     * with it), llama.cpp at end-of-generation tokens: both stop here */
    int32_t stop[2];
    int n_stop = 0;
    if (!ro.ignore_eos) {
        if (qp_tokenizer_eos(tok) >= 0)
            stop[n_stop++] = qp_tokenizer_eos(tok);
        if (qp_tokenizer_bos(tok) >= 0 && qp_tokenizer_bos(tok) != qp_tokenizer_eos(tok))
            stop[n_stop++] = qp_tokenizer_bos(tok);
    }
    const qp_gen_opts go = { .n_predict = ro.n_predict, .stop = stop, .n_stop = n_stop,
                             .on_token = on_token, .user = &out };
    qp_gen_stats gs;
    const qp_status gst = qp_generate(st, smp, prompt, n_prompt, &go, NULL, &gs, &err);
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout) || out.failed) {
        fprintf(stderr, "qprof: run: error writing the output\n");
        rc = 1;
        goto done;
    }
    if (gst != QP_OK) {
        rc = qp_report(&err);
        goto done;
    }
    fprintf(stderr, "prompt:     %5d tokens in %8.3f s = %8.2f tokens/s (%.3f CPU-s)\n",
            gs.n_prompt, gs.t_prompt, gs.t_prompt > 0 ? gs.n_prompt / gs.t_prompt : 0.0,
            gs.cpu_prompt);
    if (gs.n_gen > 0)
        fprintf(stderr, "first token: %.3f s after start\n", gs.t_first);
    fprintf(stderr, "generation: %5d tokens, %d decode passes in %8.3f s = %8.2f tokens/s "
                    "(%.3f CPU-s)%s\n",
            gs.n_gen, gs.n_decode, gs.t_decode,
            gs.t_decode > 0 ? gs.n_decode / gs.t_decode : 0.0, gs.cpu_decode,
            gs.ctx_full ? " (context full)" : gs.stopped ? " (end of text)" : "");
done:
    qp_detok_stream_free(out.ds);
    free(prompt), free(file_text);
    qp_sampler_free(smp);
    qp_state_free(st);
    qp_tokenizer_free(tok);
    qp_cli_close(&cm);
    return rc;
}

const qp_command qp_cmd_run = {
    .name = "run",
    .summary = "generate text with qprof's forward pass (speeds on stderr)",
    .usage =
        "usage: qprof run MODEL.gguf [-p TEXT | -f FILE] [-n N] [options]\n\n"
        "Tokenizes the prompt (with BOS where the model's tokenizer adds one), runs it\n"
        "through the model in one batch, then generates up to N tokens one at a time,\n"
        "streaming the text to stdout: the prompt, the generated tokens, a newline.\n"
        "Generation stops early at end-of-text (EOS, or BOS as llama2.c does).\n"
        "stderr gets the weights used and prompt / generation speeds in tokens/s\n"
        "and the time to the first generated token.\n\n"
        "  -p, --prompt TEXT    the prompt (default: empty, i.e. BOS alone)\n"
        "  -f, --file FILE      read the prompt from FILE\n"
        "  -n, --tokens N       tokens to generate (default 64; --n-predict as llama.cpp)\n"
        "  -c, --ctx N          KV cache size (default: prompt + N)\n"
        "      --temp T         0 (default): greedy, the most likely token; > 0: sample\n"
        "                       from softmax(logits / T)\n"
        "      --top-p P        sample only from the smallest set of tokens holding P of\n"
        "                       the probability (default 1: all)\n"
        "      --seed S         random seed for --temp > 0 (default 0); a seed and the\n"
        "                       same weights always give the same text\n"
        "      --ignore-eos     always generate N tokens (for timing)\n"
        "      --no-special     match special tokens' text (<|im_start|>) as plain text\n"
        QP_CLI_RUN_USAGE
        QP_CLI_WEIGHT_USAGE
        "  -h, --help           this text\n\n"
        "Default weights: a quantized file runs on its own quantized bytes through\n"
        "qprof's kernels (what llama.cpp runs); an F32 file runs in FP32.\n"
        "Example: qprof run model.gguf -p \"Once upon a time\" -n 64 --temp 0\n",
    .run = run_main,
};
