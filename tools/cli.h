/* tools/cli.h - what every qprof command parses the same way, and the
 * model loading that `run` and `ppl` share.
 *
 * One option letter means one thing in every command:
 *   -t, --threads N     threads (1..QP_MAX_THREADS; default: the online CPUs)
 *   -T, --types LIST    quantization types (layers; bench kernels)
 *   -n N                a number of tokens: generated (run), profiled
 *                       (layers), activation rows per product (bench)
 *   -c, --ctx N         context / chunk length in tokens (run, ppl)
 *   -k, --chunks N      chunks of text (ppl)
 *   -f FILE             text from a file (layers --text, run --file)
 *   -p TEXT             text from the command line (--prompt)
 *   -o PATH             the output file or directory (--output)
 *   -r, --reps N        timed repetitions (layers, bench)
 *   -j, --json          JSON on stdout (info, bench)
 *   -m, --metric LIST   heatmap metrics (heatmap)
 *   -l, --list          list what there is (bench)
 *   -h, --help          the command's help
 * and these are long-only: --kernels NAME, --rows, --kv-type T, --precision P,
 * --type T.
 *
 * The model options:
 *   --kernels NAME         (default: the best for this CPU, QPROF_KERNELS)
 *   --rows                 plain GGUF rows, no packed copies
 *   --kv-type f16|f32|q8_0 the KV cache's type (run, ppl: f16 as llama.cpp;
 *                          layers: f32, the reference being FP32 arithmetic)
 *   --precision ref|quant  (run, ppl; default quant)
 *   --type file|TYPE       (run, ppl; default file: qp_model_use_weights)
 */
#ifndef QP_TOOLS_CLI_H
#define QP_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "../model/model.h"

typedef struct qp_cli {
    /* options (qp_cli_option) */
    int n_threads;              /* 0: online CPUs */
    const char *kernels_name;   /* NULL: default */
    bool rows_only;             /* --rows: no packed copies */
    int kv_type;                /* --kv-type: enum qp_kv_type, -1: the command's default */
    enum qp_precision precision;
    int type;                   /* QP_TYPE_FILE, or a qp_type */
    /* resolved by qp_cli_resolve / qp_cli_open_model */
    const qp_kernels *kernels;
    qp_model *model;
} qp_cli;

/* getopt_long ids of the long-only options (>= 0x200, below any command's own). */
enum { QP_OPT_KERNELS = 0x201, QP_OPT_PRECISION, QP_OPT_TYPE, QP_OPT_ROWS, QP_OPT_KV_TYPE, QP_OPT_FIRST_FREE = 0x210 };

/* getopt_long entries: threads, kernels and rows (every command that
 * computes), then precision and type (commands that run a model). */
#define QP_CLI_RUN_OPTIONS                                           \
    { "threads", required_argument, NULL, 't' },                     \
    { "kernels", required_argument, NULL, QP_OPT_KERNELS },          \
    { "rows", no_argument, NULL, QP_OPT_ROWS },                      \
    { "kv-type", required_argument, NULL, QP_OPT_KV_TYPE }
#define QP_CLI_WEIGHT_OPTIONS                                        \
    { "precision", required_argument, NULL, QP_OPT_PRECISION },      \
    { "type", required_argument, NULL, QP_OPT_TYPE }

/* A command defines QP_CLI_KV_DEFAULT ("f16" or "f32") before its usage text. */
#define QP_CLI_RUN_USAGE                                                                    \
    "  -t, --threads N      threads (default: the online CPUs)\n"                           \
    "      --kernels NAME   kernel variant: scalar, avx2, avx512, neon (default: best)\n"   \
    "      --rows           multiply plain GGUF rows even where the kernel variant\n"       \
    "                       has a packed layout (default: packed, see kernels/pack.c)\n"   \
    "      --kv-type T      KV cache type: f16, f32, q8_0 (default: " QP_CLI_KV_DEFAULT ")\n"
#define QP_CLI_WEIGHT_USAGE                                                                 \
    "      --precision P    quant (default): quantized linears through qprof's kernels;\n"  \
    "                       ref: every linear in FP32 (dequantized weights, OpenBLAS)\n"    \
    "      --type T         file (default): each linear in its file type (F32 ones in\n"    \
    "                       FP32); q8_0, q4_k, ...: requantize every linear to T from\n"    \
    "                       FP32, with llama.cpp's fallbacks (reported on stderr)\n"

void qp_cli_defaults(qp_cli *c);

/* Handles getopt code `opt` with `arg` if it is one of the shared options:
 * 1 when handled, 0 when not one of them, -2 for a bad value (after
 * printing the usage error for `cmd`). */
int qp_cli_option(qp_cli *c, const char *cmd, int opt, const char *arg);

/* Parses a whole decimal integer in [lo, hi] into *out: 1, or 0 when s is
 * not one. The one number parser of the command line. */
int qp_cli_int(const char *s, long lo, long hi, int *out);

/* Picks the kernels (--kernels or the default) and the thread count.
 * Returns the exit code (2: an unknown or unusable variant). */
int qp_cli_resolve(qp_cli *c, const char *cmd);

/* qp_cli_resolve, opens the model and, unless --precision ref, applies
 * --type and the packed copies (qp_model_use_weights); fallbacks and
 * errors go to stderr. Returns the exit code (then qp_cli_close). */
int qp_cli_open_model(qp_cli *c, const char *cmd, const char *path);
void qp_cli_close(qp_cli *c);

/* One line: "linears: 210 x q4_1 (file) | precision quant | kernels avx2
 * (packed: q4_1 x8) | 2 threads". */
void qp_cli_describe(const qp_cli *c, FILE *out);

/* The state options for this model and these options (the KV cache F16
 * unless --kv-type said otherwise). */
qp_state_opts qp_cli_state_opts(const qp_cli *c, int n_ctx, int n_batch);

#endif
