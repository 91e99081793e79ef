/* tools/qprof.c - the `qprof` command line: dispatches to a subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/model.h"
#include "commands.h"

/* The command table: adding a command is one line here plus its file. */
static const qp_command *const commands[] = {
    &qp_cmd_info,
    &qp_cmd_layers,
    &qp_cmd_heatmap,
    &qp_cmd_bench,
    &qp_cmd_run,
    &qp_cmd_ppl,

};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

int qp_report(const qp_error *err)
{
    char buf[1200];
    fprintf(stderr, "qprof: %s\n", qp_error_format(err, buf, sizeof buf));
    return err->status == QP_OK ? 1 : (int)err->status;
}

int qp_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "qprof: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry 'qprof help %s'\n", cmd);
    va_end(ap);
    return 2;
}

static void print_help(FILE *out)
{
    fprintf(out,
            "qprof %s - where quantization hurts a GGUF model, and what it costs\n\n"
            "usage: qprof COMMAND [options] [args]\n\ncommands:\n",
            QPROF_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n  qprof help COMMAND   details of one command\n"
                 "  qprof --version      version\n\n"
                 "Exit codes: 0 success, 1 runtime failure, 2 usage or bad input.\n"
                 "Environment: QPROF_KERNELS=scalar|avx2|avx512|neon forces a kernel variant.\n");
}

static const qp_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("qprof %s\n", QPROF_VERSION);
        return 0;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            print_help(stdout);
            return 0;
        }
        const qp_command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "qprof: unknown command '%s' (see 'qprof --help')\n", argv[2]);
            return 2;
        }
        fputs(c->usage, stdout);
        return 0;
    }
    const qp_command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "qprof: unknown command '%s' (see 'qprof --help')\n", name);
        return 2;
    }
    /* an OpenBLAS older than the CPU runs its SSE3 kernels: the FP32
     * reference would be several times slower than it need be */
    const char *core = qp_blas_better_core();
    if (core && !getenv("OPENBLAS_CORETYPE")) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "qprof: warning: OpenBLAS runs its generic kernels on this CPU; set "
                        "OPENBLAS_CORETYPE=%s for its faster ones\n", core);
    }
    return c->run(argc - 1, argv + 1);
}
