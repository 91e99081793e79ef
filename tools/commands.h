/* tools/commands.h - the qprof subcommands. Each takes argc/argv starting at
 * the command name (so getopt_long works as usual) and returns the exit code:
 * 0 success, 1 runtime failure, 2 usage or bad input. */
#ifndef QP_TOOLS_COMMANDS_H
#define QP_TOOLS_COMMANDS_H

#include "../common/common.h"


typedef struct qp_command {
    const char *name;
    const char *summary;  /* one line for `qprof --help` */
    const char *usage;    /* full text for `qprof help CMD` */
    int (*run)(int argc, char **argv);
} qp_command;

extern const qp_command qp_cmd_info;
extern const qp_command qp_cmd_bench;
extern const qp_command qp_cmd_run;
extern const qp_command qp_cmd_ppl;
extern const qp_command qp_cmd_layers;
extern const qp_command qp_cmd_heatmap;

/* Prints "qprof: FILE: offset N: msg" to stderr and returns the exit code. */
int qp_report(const qp_error *err);
/* Prints "qprof: CMD: msg" + "try 'qprof help CMD'" and returns 2. */
int qp_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
