/* tools/cmd_bench.c - `qprof bench kernels`: how fast each kernel variant
 * multiplies a quantized weight matrix, against this machine's memory.
 *
 * This file only parses the options into a qp_bench_opts, runs
 * qp_bench_kernels_run and prints the result with bench/'s report writers:
 * the engine (weight sets, timing, bandwidth, counters) is
 * bench/kernels_bench.c, the table, CSV and JSON are bench/report.c, and
 * docs/bench.md explains every column.
 *
 * Results go to stdout (a table, --csv or --json); progress goes to stderr
 * only when it is a terminal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"
#include "../common/common.h"
#include "cli.h"
#include "commands.h"

enum bench_format { FMT_TABLE, FMT_CSV, FMT_JSON };

/* A library status as this command's exit code: bad input is a usage
 * error (exit 2, with the "try" line), anything else a runtime failure. */
static int usage_or_report(qp_status st, const qp_error *err)
{
    return st == QP_ERR_INPUT ? qp_usage_error("bench", "%s", err->msg) : qp_report(err);
}

static int bench_kernels_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"types", required_argument, NULL, 'T'},
        {"variants", required_argument, NULL, 'V'},
        {"shape", required_argument, NULL, 's'},
        {"tokens", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'n'}, /* its name before -n meant --tokens everywhere */
        {"threads", required_argument, NULL, 't'},
        {"reps", required_argument, NULL, 'r'},
        {"max-time", required_argument, NULL, 'M'},
        {"prequantized", no_argument, NULL, 'P'},
        {"hot", no_argument, NULL, 'H'},
        {"rows", no_argument, NULL, 'R'},
        {"no-counters", no_argument, NULL, 'N'},
        {"membw-mib", required_argument, NULL, 'B'},
        {"csv", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    qp_bench_opts o;
    qp_bench_opts_default(&o);
    enum bench_format format = FMT_TABLE;
    const char *types = QP_BENCH_DEFAULT_TYPES, *variants = NULL;
    int list = 0, c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "T:n:t:r:jlh", opts, NULL)) != -1) {
        int64_t tmp[QP_BENCH_MAX_LIST];
        char *end;
        switch (c) {
        case 'T': types = optarg; break;
        case 'V': variants = optarg; break;
        case 's':
            if (qp_bench_parse_shape(optarg, &o.m, &o.k) != 0)
                return qp_usage_error("bench", "bad --shape '%s' (expected MxK, e.g. 4096x14336)", optarg);
            break;
        case 'n':
            o.n_ns = qp_bench_parse_counts(optarg, o.ns, QP_BENCH_MAX_LIST, QP_BENCH_MAX_N);
            if (o.n_ns <= 0)
                return qp_usage_error("bench", "bad -n '%s' (expected N[,N...], 1..65536)", optarg);
            break;
        case 't':
            o.n_threads = qp_bench_parse_counts(optarg, tmp, QP_BENCH_MAX_LIST, QP_BENCH_MAX_THREADS);
            if (o.n_threads <= 0)
                return qp_usage_error("bench", "bad --threads '%s' (expected T[,T...], 1..%d)", optarg,
                                      QP_BENCH_MAX_THREADS);
            for (int i = 0; i < o.n_threads; i++)
                o.threads[i] = (int)tmp[i];
            break;
        case 'r':
            if (!qp_cli_int(optarg, 1, QP_BENCH_MAX_REPS, &o.reps))
                return qp_usage_error("bench", "bad --reps '%s'", optarg);
            break;
        case 'M':
            o.max_time = strtod(optarg, &end);
            if (*end || !(o.max_time >= 0) || o.max_time > 1e6)
                return qp_usage_error("bench", "bad --max-time '%s'", optarg);
            break;
        case 'B':
            if (!qp_cli_int(optarg, 1, QP_BENCH_MAX_MEMBW_MIB, &o.membw_mib))
                return qp_usage_error("bench", "bad --membw-mib '%s'", optarg);
            break;
        case 'P': o.prequantized = 1; break;
        case 'H': o.hot = 1; break;
        case 'R': o.rows_only = 1; break;
        case 'N': o.counters = 0; break;
        case 'C': format = FMT_CSV; break;
        case 'j': format = FMT_JSON; break;
        case 'l': list = 1; break;
        case 'h': fputs(qp_cmd_bench.usage, stdout); return 0;
        default: return qp_usage_error("bench", "bad option");
        }
    }
    if (optind != argc)
        return qp_usage_error("bench", "unexpected argument '%s'", argv[optind]);

    qp_error err;
    qp_error_clear(&err);
    qp_status st;
    if (list) {
        st = qp_bench_report_variants(stdout, format == FMT_JSON, &err);
    } else {
        /* the types after the options: they are checked against --shape's K */
        st = qp_bench_opts_set_types(&o, types, &err);
        if (st == QP_OK)
            st = qp_bench_opts_set_variants(&o, variants, &err);
        if (st != QP_OK)
            return usage_or_report(st, &err);
        qp_bench_result res;
        st = qp_bench_kernels_run(&o, &res, &err);
        if (st == QP_OK && format == FMT_JSON)
            st = qp_bench_report_json(stdout, &res, &err);
        else if (st == QP_OK && format == FMT_CSV)
            qp_bench_report_csv(stdout, &res);
        else if (st == QP_OK)
            qp_bench_report_table(stdout, &res);
        qp_bench_result_free(&res);
    }
    if (st != QP_OK)
        return qp_report(&err);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qprof: bench: error writing output\n");
        return 1;
    }
    return 0;
}

static int bench_main(int argc, char **argv)
{
    if (argc < 2)
        return qp_usage_error("bench", "expected a benchmark name (kernels)");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(qp_cmd_bench.usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "kernels") != 0)
        return qp_usage_error("bench", "unknown benchmark '%s' (known: kernels)", argv[1]);
    return bench_kernels_main(argc - 1, argv + 1);
}

const qp_command qp_cmd_bench = {
    .name = "bench",
    .summary = "kernel speed per type and variant vs this machine's memory bandwidth",
    .usage =
        "usage: qprof bench kernels [options]\n\n"
        "Times Y = X . W^T for quantized weights W (M rows of K weights) and n activation\n"
        "rows, per weight type, kernel variant, n and thread count. Weights are rotated\n"
        "over copies larger than 2x the last-level cache, so each run reads them from\n"
        "memory. Reports the median and spread of the runs, weight traffic (GB/s),\n"
        "GFLOP/s (2*M*K*n per run), % of the memory read bandwidth measured at start-up,\n"
        "speed-ups against scalar and the best other variant, and hardware counters\n"
        "where the kernel allows them. Columns: docs/bench.md.\n\n"
        "  -T, --types LIST  weight types (default " QP_BENCH_DEFAULT_TYPES ")\n"
        "  --variants LIST   kernel variants (default: every one this CPU can run)\n"
        "  --shape MxK       M output rows, K weights per row (default 4096x14336, the\n"
        "                    MUL_MAT shape of llama.cpp's test-backend-ops perf)\n"
        "  -n, --tokens LIST activation rows (tokens) per product (default 1,512); by default\n"
        "                    scalar is skipped for n > 32 (a run takes many seconds):\n"
        "                    name it in --variants to include it\n"
        "  -t, --threads LIST  thread counts (default 1,2)\n"
        "  -r, --reps R      timed runs per row, at most (default 10)\n"
        "  --max-time S      stop adding runs to a row after S seconds, once it has 3\n"
        "                    (default 3)\n"
        "  --prequantized    time qp_matmul_q: activations quantized before the clock\n"
        "  --hot             one copy of W, not rotated: with a shape that fits in cache\n"
        "                    (e.g. --shape 32x14336) this times decoding alone, the\n"
        "                    ceiling a matvec could reach with infinite bandwidth\n"
        "  --rows            plain GGUF rows for every variant; by default a variant\n"
        "                    with a packed layout for the type (--list names them) reads\n"
        "                    the weights packed, as the forward pass gives them to it\n"
        "  --no-counters     do not open perf counters\n"
        "  --membw-mib N     bandwidth buffer size (default max(8x LLC, 64 MiB))\n"
        "  --csv             CSV on stdout (header lines start with '#')\n"
        "  -j, --json        one JSON document on stdout\n"
        "  -l, --list        list the compiled-in variants, whether this CPU can run\n"
        "                    each, and which types each accelerates (with --json: JSON)\n"
        "  -h, --help        this text\n\n"
        "Environment: QPROF_NO_PERF=1 skips the counters; QPROF_NO_PROGRESS=1 hides the\n"
        "progress line (shown only when stderr is a terminal).\n",
    .run = bench_main,
};
