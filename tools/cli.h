/* tools/cli_model.h - the model options `qprof run` and `qprof ppl` share:
 * which weights the forward pass uses, with which kernels and threads.
 *
 *   --precision ref|quant  (default quant)
 *   --type file|TYPE       (default file)
 *   --kernels NAME         (default: the best for this CPU, QPROF_KERNELS)
 *   -t, --threads N        (default: online CPUs)
 *
 * --type file: every linear whose file tensor is quantized or F16/BF16
 * runs through qp_matmul on the file's own bytes; F32 linears stay on the
 * FP32 path (OpenBLAS is the faster F32 kernel). This is what llama.cpp
 * computes with the same file. --type TYPE: every linear is (re)quantized
 * to TYPE from its FP32 reference (qp_model_set_all), with llama.cpp's
 * fallbacks where a row does not fit TYPE's blocks, each one reported on
 * stderr; a linear whose file type is TYPE keeps the file's bytes.
 * --precision ref ignores all of that and runs every linear in FP32 (the
 * dequantized weights of a quantized file).
 */
#ifndef QP_TOOLS_CLI_MODEL_H
#define QP_TOOLS_CLI_MODEL_H

#include <stdio.h>

#include "../kernels/kernels.h"
#include "../model/model.h"

typedef struct qp_cli_model {
    /* options (set by qp_cli_model_option) */
    int n_threads;              /* 0: online CPUs */
    const char *kernels_name;   /* NULL: default */
    enum qp_precision precision;
    int type;                   /* QP_CLI_TYPE_FILE, or a qp_type */
    bool rows_only;             /* --rows: no packed copies */
    /* results of qp_cli_model_load */
    qp_model *model;
    const qp_kernels *kernels;
} qp_cli_model;

#define QP_CLI_TYPE_FILE (-2)

/* getopt_long entries (ids >= 0x200) for the model options; append to a
 * command's table. */
#define QP_CLI_MODEL_OPTIONS                                           \
    { "threads", required_argument, NULL, 't' },                       \
    { "kernels", required_argument, NULL, 0x201 },                     \
    { "precision", required_argument, NULL, 0x202 },                   \
    { "type", required_argument, NULL, 0x203 },                        \
    { "rows", no_argument, NULL, 0x204 }

/* Usage lines for the model options. */
#define QP_CLI_MODEL_USAGE                                                                  \
    "  -t, --threads N      threads (default: the online CPUs)\n"                           \
    "      --kernels NAME   kernel variant: scalar, avx2, avx512, neon (default: best)\n"   \
    "      --precision P    quant (default): quantized linears through qprof's kernels;\n"  \
    "                       ref: every linear in FP32 (dequantized weights, OpenBLAS)\n"    \
    "      --type T         file (default): each linear in its file type (F32 ones in\n"    \
    "                       FP32); q8_0, q4_k, ...: requantize every linear to T from\n"    \
    "                       FP32, with llama.cpp's fallbacks (reported on stderr)\n"    \
    "      --rows           multiply plain GGUF rows even where the kernel variant\n"     \
    "                       has a packed layout (default: packed, see kernels/pack.c)\n"

void qp_cli_model_defaults(qp_cli_model *c);

/* Handles getopt code `opt` with `arg` if it is one of the four; returns 1
 * when handled, 0 when not one of them, -2 for a bad value (after printing
 * the usage error for `cmd`). */
int qp_cli_model_option(qp_cli_model *c, const char *cmd, int opt, const char *arg);

/* Opens the model, applies --type, picks kernels and sets OpenBLAS's
 * thread count. Messages (fallbacks, errors) go to stderr. Returns the exit
 * code (0 on success; then free with qp_cli_model_close). */
int qp_cli_model_load(qp_cli_model *c, const char *cmd, const char *path);
void qp_cli_model_close(qp_cli_model *c);

/* One line: "weights: 210 x q4_1 (file), 1 x q8_0 (file) | kernels avx2 | 2 threads". */
void qp_cli_model_describe(const qp_cli_model *c, FILE *out);

/* The state options for this model: n_ctx, n_batch as given. */
qp_state_opts qp_cli_state_opts(const qp_cli_model *c, int n_ctx, int n_batch);

#endif
