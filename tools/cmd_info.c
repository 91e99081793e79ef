/* tools/cmd_info.c - `qprof info model.gguf [--json]`: what is in a GGUF
 * file (gguf/info.c renders it; the JSON schema is docs/info-json.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gguf/gguf.h"
#include "commands.h"

/* ---- command ------------------------------------------------------------------ */

static int info_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(qp_cmd_info.usage, stdout); return 0;
        default: return qp_usage_error("info", "bad option");
        }
    }
    if (optind != argc - 1)
        return qp_usage_error("info", "expected one model file");
    const char *path = argv[optind];

    qp_gguf_file *f = NULL;
    qp_error err;
    qp_error_clear(&err);
    if (qp_gguf_open(path, &f, &err) != QP_OK)
        return qp_report(&err);
    int rc = 0;
    if (json)
        rc = qp_gguf_print_info_json(stdout, path, f, &err) != QP_OK ? qp_report(&err) : 0;
    else
        qp_gguf_print_info(stdout, path, f);
    qp_gguf_close(f);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qprof: info: error writing output\n");
        return 1;
    }
    return rc;
}

const qp_command qp_cmd_info = {
    .name = "info",
    .summary = "architecture, metadata and tensor table of a GGUF file",
    .usage = "usage: qprof info MODEL.gguf [--json]\n\n"
             "Prints the GGUF header, the architecture's hyper-parameters, every metadata key\n"
             "(long arrays and strings abbreviated), a tensor table (name, shape with ne[0]\n"
             "first, type, elements, bytes), totals per type and the average bits per weight.\n\n"
             "  -j, --json   the same as one JSON document (schema: docs/info-json.md)\n"
             "  -h, --help   this text\n",
    .run = info_main,
};
