/* bench/report.c - the reports of `qprof bench kernels`: the terminal
 * table, CSV and JSON of a qp_bench_result, and the `--list` of kernel
 * variants. docs/bench.md documents every column and key; a script may
 * depend on them, so new CSV columns go at the end and JSON keys are never
 * dropped (a value that was not measured is written empty or null).
 */
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/common.h"
#include "../kernels/kernels.h"
#include "../quant/quant.h"
#include "bench_impl.h"

/* ======================================================================== */
/* Header lines (table and CSV)                                             */
/* ======================================================================== */

/* The machine, the bandwidth, the method and the counters, each line
 * starting with `prefix` ("# " in CSV, so a CSV reader skips them). */
static void write_header(FILE *out, const qp_bench_result *r, const char *prefix)
{
    const qp_bench_opts *o = &r->opts;
    char model[256];
    qp_cpu_model(model, sizeof model);
    fprintf(out, "%scpu: %s, %ld logical CPUs, last-level cache %.1f MiB (%s)\n", prefix, model,
            sysconf(_SC_NPROCESSORS_ONLN), (double)r->llc_bytes / 1048576.0,
            r->llc_found ? "sysfs" : "unknown: assumed");
    if (r->n_bw > 0) {
        fprintf(out, "%smemory read bandwidth (%s loads, %.0f MiB, best of %d passes before and %d after "
                     "the rows):", prefix, r->bw[0].method, (double)r->bw[0].bytes / 1048576.0,
                r->bw[0].reps, r->bw[0].reps);
        for (int i = 0; i < r->n_bw; i++)
            fprintf(out, "%s %d thread%s %.1f GB/s", i ? "," : "", r->bw[i].threads,
                    r->bw[i].threads > 1 ? "s" : "", r->bw[i].best_gbs);
        fputc('\n', out);
    }
    fprintf(out, "%sshape: M=%" PRId64 " output rows x K=%" PRId64 " weights per row; timed: %s; "
                 "median of up to %d runs (>= %d, ~%.1f s a row) after 1 warm-up, variants alternating "
                 "run by run; %s\n",
            prefix, o->m, o->k, o->prequantized ? "qp_matmul_q (activations quantized beforehand)"
                                                : "qp_matmul (includes activation quantization)",
            o->reps, o->reps < QP_BENCH_MIN_RUNS ? o->reps : QP_BENCH_MIN_RUNS, o->max_time,
            o->hot ? "--hot: ONE copy of the weights, reused run after run (in cache if it fits: "
                     "the kernels' compute ceiling, not a memory figure)"
                   : "weights rotated over copies >= 2x LLC");
    fprintf(out, "%scounters (per run, this process's threads, user space):", prefix);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        if (r->counter_available[e])
            fprintf(out, " %s ok;", qp_perf_event_name((enum qp_perf_event)e));
        else
            fprintf(out, " %s unavailable (%s);", qp_perf_event_name((enum qp_perf_event)e),
                    r->counter_reason[e]);
    }
    fputc('\n', out);
}

/* ======================================================================== */
/* Table                                                                    */
/* ======================================================================== */

static void fmt_ratio(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2fx", x);
}

void qp_bench_report_table(FILE *out, const qp_bench_result *r)
{
    write_header(out, r, "");
    /* counter columns only where the counter works: a VM without a PMU
     * would otherwise show columns of nan */
    const int have_ipc = r->counter_available[QP_PERF_CYCLES] && r->counter_available[QP_PERF_INSTRUCTIONS];
    const int have_llc = r->counter_available[QP_PERF_LLC_MISSES];
    const int have_clk = r->counter_available[QP_PERF_TASK_CLOCK];
    fprintf(out, "\n%-7s %-5s %-7s %6s %3s %4s %10s %6s %7s %8s %5s %8s %-16s", "variant", "type", "layout",
            "n", "thr", "runs", "median_ms", "iqr%", "GB/s", "GFLOP/s", "%bw", "x_scalar", "x_best_other");
    if (have_ipc)
        fprintf(out, " %9s %5s", "Mcycles", "IPC");
    if (have_llc)
        fprintf(out, " %10s", "LLC-miss");
    if (have_clk)
        fprintf(out, " %7s %5s", "cpu_ms", "cpu%");
    fputc('\n', out);
    int starved = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const qp_bench_row *row = &r->rows[i];
        char xs[16], xb[48], type[16];
        fmt_ratio(xs, sizeof xs, row->x_scalar);
        fmt_ratio(xb, sizeof xb, row->x_best);
        if (row->best_name) {
            const size_t l = strlen(xb);
            snprintf(xb + l, sizeof xb - l, " %s", row->best_name);
        }
        /* a '*' marks a type this variant runs with the scalar fallback */
        snprintf(type, sizeof type, "%s%s", qp_bench_type_name(row->type),
                 row->accelerated || strcmp(qp_kernels_name(row->variant), "scalar") == 0 ? "" : "*");
        fprintf(out, "%-7s %-5s %-7s %6" PRId64 " %3d %4d %10.3f %6.1f %7.2f %8.2f %5.1f %8s %-16s",
                qp_kernels_name(row->variant), type, strcmp(row->layout, "rows") ? "packed" : "rows", row->n,
                row->threads, row->time.n, row->time.median * 1e3, 100.0 * qp_stats_rel_iqr(&row->time),
                row->gbs, row->gflops, row->bw_pct, xs, xb);
        if (have_ipc)
            fprintf(out, " %9.1f %5.2f", qp_bench_row_per_run(row, QP_PERF_CYCLES) / 1e6, qp_bench_row_ipc(row));
        if (have_llc)
            fprintf(out, " %10.0f", qp_bench_row_per_run(row, QP_PERF_LLC_MISSES));
        if (have_clk) {
            const double share = qp_bench_row_cpu_share(row);
            fprintf(out, " %7.2f %5.0f", qp_bench_row_per_run(row, QP_PERF_TASK_CLOCK) / 1e6, 100.0 * share);
            starved += share < 0.7;
        }
        fputc('\n', out);
    }
    fprintf(out, "\n%s\n", "x_scalar: scalar median / this median (> 1: faster); x_best_other: the fastest "
                           "other variant's median / this median; * : this variant runs the scalar code for "
                           "the type; layout: plain GGUF rows, or packed (rows interleaved at load "
                           "time by qp_pack_weights, as the forward pass does; --rows to time plain rows)");
    if (starved)
        fprintf(out, "note: in %d row(s) the threads ran less than 70%% of the wall time (cpu%%): other "
                     "processes had the cores, so times are inflated; compare ratios, not absolute times\n",
                starved);
    for (int i = 0; i < r->n_skips; i++)
        fprintf(out, "skipped: %s %s n=%" PRId64 " threads=%d (scalar above n=%d is slow; name scalar in "
                     "--variants to include it)\n",
                qp_kernels_name(r->skips[i].variant), qp_bench_type_name(r->skips[i].type), r->skips[i].n,
                r->skips[i].threads, QP_BENCH_SCALAR_MAX_N);
}

/* ======================================================================== */
/* CSV                                                                      */
/* ======================================================================== */

/* A CSV number: empty when not available, so spreadsheets see a gap. */
static void csv_num(FILE *out, double v, const char *fmt)
{
    fputc(',', out);
    if (!isnan(v) && !isinf(v))
        fprintf(out, fmt, v);
}

void qp_bench_report_csv(FILE *out, const qp_bench_result *r)
{
    write_header(out, r, "# ");
    fputs("variant,type,accelerated,m,k,n,threads,runs,median_ms,min_ms,max_ms,q1_ms,q3_ms,mad_ms,mean_ms,"
          "weight_bytes,weight_copies,gbs,gflops,bw_pct,membw_gbs,speedup_vs_scalar,"
          "speedup_vs_best_other,best_other,cycles,instructions,ipc,llc_misses,task_clock_ms,cpu_share,layout\n",
          out);
    for (int i = 0; i < r->n_rows; i++) {
        const qp_bench_row *row = &r->rows[i];
        fprintf(out, "%s,%s,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%d", qp_kernels_name(row->variant),
                qp_bench_type_name(row->type), row->accelerated, row->m, row->k, row->n, row->threads,
                row->time.n);
        csv_num(out, row->time.median * 1e3, "%.6g");
        csv_num(out, row->time.min * 1e3, "%.6g");
        csv_num(out, row->time.max * 1e3, "%.6g");
        csv_num(out, row->time.q1 * 1e3, "%.6g");
        csv_num(out, row->time.q3 * 1e3, "%.6g");
        csv_num(out, row->time.mad * 1e3, "%.6g");
        csv_num(out, row->time.mean * 1e3, "%.6g");
        fprintf(out, ",%zu,%d", row->weight_bytes, row->copies);
        csv_num(out, row->gbs, "%.3f");
        csv_num(out, row->gflops, "%.3f");
        csv_num(out, row->bw_pct, "%.2f");
        csv_num(out, qp_bench_membw_gbs(r, row->threads), "%.3f");
        csv_num(out, row->x_scalar, "%.3f");
        csv_num(out, row->x_best, "%.3f");
        fprintf(out, ",%s", row->best_name ? row->best_name : "");
        csv_num(out, qp_bench_row_per_run(row, QP_PERF_CYCLES), "%.0f");
        csv_num(out, qp_bench_row_per_run(row, QP_PERF_INSTRUCTIONS), "%.0f");
        csv_num(out, qp_bench_row_ipc(row), "%.3f");
        csv_num(out, qp_bench_row_per_run(row, QP_PERF_LLC_MISSES), "%.0f");
        csv_num(out, qp_bench_row_per_run(row, QP_PERF_TASK_CLOCK) / 1e6, "%.3f");
        csv_num(out, qp_bench_row_cpu_share(row), "%.3f");
        fprintf(out, ",%s\n", row->layout);
    }
}

/* ======================================================================== */
/* JSON                                                                     */
/* ======================================================================== */

/* A number, or null when not available: keys are never absent. */
static void json_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

/* Prints the document `root` (and frees it) followed by a newline. */
static qp_status json_write(FILE *out, cJSON *root, qp_error *err)
{
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory writing the JSON report");
    fputs(s, out);
    fputc('\n', out);
    free(s);
    return QP_OK;
}

static void json_machine(cJSON *root, const qp_bench_result *r)
{
    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    char model[256];
    qp_cpu_model(model, sizeof model);
    cJSON_AddStringToObject(mach, "cpu", model);
    cJSON_AddNumberToObject(mach, "logical_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(mach, "llc_bytes", (double)r->llc_bytes);
    cJSON_AddStringToObject(mach, "llc_source", r->llc_found ? "sysfs" : "fallback");
    cJSON *bws = cJSON_AddArrayToObject(mach, "memory_read_bandwidth");
    for (int i = 0; i < r->n_bw; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "threads", r->bw[i].threads);
        cJSON_AddNumberToObject(b, "best_gbs", r->bw[i].best_gbs);
        cJSON_AddNumberToObject(b, "median_gbs", r->bw[i].median_gbs);
        cJSON_AddNumberToObject(b, "bytes", (double)r->bw[i].bytes);
        cJSON_AddNumberToObject(b, "reps", r->bw[i].reps);
        cJSON_AddStringToObject(b, "method", r->bw[i].method);
        cJSON_AddItemToArray(bws, b);
    }
}

static void json_config(cJSON *root, const qp_bench_opts *o)
{
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "m", (double)o->m);
    cJSON_AddNumberToObject(cfg, "k", (double)o->k);
    cJSON *jt = cJSON_AddArrayToObject(cfg, "types");
    for (int i = 0; i < o->n_types; i++)
        cJSON_AddItemToArray(jt, cJSON_CreateString(qp_bench_type_name(o->types[i])));
    cJSON *jv = cJSON_AddArrayToObject(cfg, "variants");
    for (int i = 0; i < o->n_variants; i++)
        cJSON_AddItemToArray(jv, cJSON_CreateString(qp_kernels_name(o->variants[i])));
    cJSON *jn = cJSON_AddArrayToObject(cfg, "n");
    for (int i = 0; i < o->n_ns; i++)
        cJSON_AddItemToArray(jn, cJSON_CreateNumber((double)o->ns[i]));
    cJSON *jth = cJSON_AddArrayToObject(cfg, "threads");
    for (int i = 0; i < o->n_threads; i++)
        cJSON_AddItemToArray(jth, cJSON_CreateNumber(o->threads[i]));
    cJSON_AddNumberToObject(cfg, "reps", o->reps);
    cJSON_AddNumberToObject(cfg, "min_runs", o->reps < QP_BENCH_MIN_RUNS ? o->reps : QP_BENCH_MIN_RUNS);
    cJSON_AddNumberToObject(cfg, "max_time_s", o->max_time);
    cJSON_AddStringToObject(cfg, "timed", o->prequantized ? "qp_matmul_q" : "qp_matmul");
    cJSON_AddStringToObject(cfg, "weights", o->hot ? "hot" : "rotated");
    cJSON_AddStringToObject(cfg, "layout", o->rows_only ? "rows" : "packed where the variant has a layout");
}

static cJSON *json_row(const qp_bench_row *row)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "variant", qp_kernels_name(row->variant));
    cJSON_AddStringToObject(x, "type", qp_bench_type_name(row->type));
    cJSON_AddBoolToObject(x, "accelerated", row->accelerated);
    cJSON_AddStringToObject(x, "layout", row->layout);
    cJSON_AddNumberToObject(x, "m", (double)row->m);
    cJSON_AddNumberToObject(x, "k", (double)row->k);
    cJSON_AddNumberToObject(x, "n", (double)row->n);
    cJSON_AddNumberToObject(x, "threads", row->threads);
    cJSON_AddNumberToObject(x, "runs", row->time.n);
    cJSON_AddNumberToObject(x, "median_ms", row->time.median * 1e3);
    cJSON_AddNumberToObject(x, "min_ms", row->time.min * 1e3);
    cJSON_AddNumberToObject(x, "max_ms", row->time.max * 1e3);
    cJSON_AddNumberToObject(x, "q1_ms", row->time.q1 * 1e3);
    cJSON_AddNumberToObject(x, "q3_ms", row->time.q3 * 1e3);
    cJSON_AddNumberToObject(x, "mad_ms", row->time.mad * 1e3);
    cJSON_AddNumberToObject(x, "mean_ms", row->time.mean * 1e3);
    cJSON_AddNumberToObject(x, "weight_bytes", (double)row->weight_bytes);
    cJSON_AddNumberToObject(x, "weight_copies", row->copies);
    json_num(x, "gbs", row->gbs);
    json_num(x, "gflops", row->gflops);
    json_num(x, "bw_pct", row->bw_pct);
    json_num(x, "speedup_vs_scalar", row->x_scalar);
    json_num(x, "speedup_vs_best_other", row->x_best);
    if (row->best_name)
        cJSON_AddStringToObject(x, "best_other", row->best_name);
    else
        cJSON_AddNullToObject(x, "best_other");
    cJSON *pc = cJSON_AddObjectToObject(x, "counters_per_run");
    json_num(pc, "cycles", qp_bench_row_per_run(row, QP_PERF_CYCLES));
    json_num(pc, "instructions", qp_bench_row_per_run(row, QP_PERF_INSTRUCTIONS));
    json_num(pc, "ipc", qp_bench_row_ipc(row));
    json_num(pc, "llc_misses", qp_bench_row_per_run(row, QP_PERF_LLC_MISSES));
    json_num(pc, "task_clock_ms", qp_bench_row_per_run(row, QP_PERF_TASK_CLOCK) / 1e6);
    json_num(pc, "cpu_share", qp_bench_row_cpu_share(row));
    return x;
}

qp_status qp_bench_report_json(FILE *out, const qp_bench_result *r, qp_error *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return json_write(out, NULL, err);
    cJSON_AddStringToObject(root, "command", "bench kernels");
    cJSON_AddStringToObject(root, "qprof_version", QPROF_VERSION);
    json_machine(root, r);
    json_config(root, &r->opts);

    cJSON *ctr = cJSON_AddObjectToObject(root, "counters");
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        cJSON *ce = cJSON_AddObjectToObject(ctr, qp_perf_event_name((enum qp_perf_event)e));
        cJSON_AddBoolToObject(ce, "available", r->counter_available[e]);
        if (!r->counter_available[e])
            cJSON_AddStringToObject(ce, "reason", r->counter_reason[e]);
    }

    cJSON *res = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < r->n_rows; i++)
        cJSON_AddItemToArray(res, json_row(&r->rows[i]));
    cJSON *sk = cJSON_AddArrayToObject(root, "skipped");
    for (int i = 0; i < r->n_skips; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "variant", qp_kernels_name(r->skips[i].variant));
        cJSON_AddStringToObject(x, "type", qp_bench_type_name(r->skips[i].type));
        cJSON_AddNumberToObject(x, "n", (double)r->skips[i].n);
        cJSON_AddNumberToObject(x, "threads", r->skips[i].threads);
        char why[96];
        snprintf(why, sizeof why, "scalar is skipped above n=%d unless named in --variants",
                 QP_BENCH_SCALAR_MAX_N);
        cJSON_AddStringToObject(x, "reason", why);
        cJSON_AddItemToArray(sk, x);
    }
    return json_write(out, root, err);
}

/* ======================================================================== */
/* --list                                                                   */
/* ======================================================================== */

/* The "flags" (x86) or "Features" (arm64) line of /proc/cpuinfo, padded
 * with spaces at both ends so " avx2 " can be searched; "" if unreadable. */
static void cpu_flags(char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0 && strncmp(line, "Features", 8) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (v) {
            snprintf(buf, size, " %s", v + 1);
            buf[strcspn(buf, "\n")] = '\0';
            strncat(buf, " ", size - strlen(buf) - 1);
        }
        break;
    }
    fclose(f);
}

/* The instruction sets of v's description ("AVX2+FMA+F16C",
 * "AVX-512F/BW/VL/DQ+VNNI") that `flags` does not list. Linux drops a flag
 * from cpuinfo when the OS does not enable its register state, so this
 * covers the xgetbv half of the dispatcher's probe too. */
void qp_bench_why_unusable(const qp_kernels *v, const char *flags, char *buf, size_t size)
{
    char desc[128], missing[256] = "";
    snprintf(desc, sizeof desc, "%s", qp_kernels_describe(v));
    for (char *save = NULL, *tok = strtok_r(desc, "+/", &save); tok; tok = strtok_r(NULL, "+/", &save)) {
        char low[40], cand[3][64];
        size_t i = 0;
        /* lower case without '-': "AVX-512F" -> "avx512f" as cpuinfo spells it */
        for (; *tok && i < sizeof low - 1; tok++)
            if (*tok != '-')
                low[i++] = (char)(*tok >= 'A' && *tok <= 'Z' ? *tok - 'A' + 'a' : *tok);
        low[i] = '\0';
        /* descriptions read "AVX2+FMA+F16C" or "AVX-512F/BW/VL/DQ+VNNI": "BW" after
         * "AVX-512F" means avx512bw, and cpuinfo calls VNNI "avx512_vnni" */
        snprintf(cand[0], sizeof cand[0], " %s ", low);
        snprintf(cand[1], sizeof cand[1], " avx512%s ", low);
        snprintf(cand[2], sizeof cand[2], " avx512_%s ", low);
        int found = 0;
        for (int c = 0; c < 3 && !found; c++)
            found = strstr(flags, cand[c]) != NULL;
        if (!found && flags[0]) {
            /* name it as cpuinfo would: a short token of an AVX-512 list is
             * an AVX-512 subset ("bw" -> "avx512bw", "vnni" -> "avx512_vnni") */
            char name[64];
            if (strstr(qp_kernels_describe(v), "512") && strncmp(low, "avx", 3) != 0 &&
                strcmp(low, "fma") != 0 && strcmp(low, "f16c") != 0)
                snprintf(name, sizeof name, strcmp(low, "vnni") == 0 ? "avx512_%s" : "avx512%s", low);
            else
                snprintf(name, sizeof name, "%s", low);
            strncat(missing, missing[0] ? ", " : "", sizeof missing - strlen(missing) - 1);
            strncat(missing, name, sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0])
        snprintf(buf, size, "this CPU/OS lacks %s (/proc/cpuinfo)", missing);
    else
        snprintf(buf, size, "this CPU/OS lacks a feature of %s", qp_kernels_describe(v));
}

/* Appends `word` to the list `dst` (capacity cap), after `sep` unless it
 * is the first entry. */
static void list_append(char *dst, size_t cap, const char *sep, const char *word)
{
    strncat(dst, dst[0] ? sep : "", cap - strlen(dst) - 1);
    strncat(dst, word, cap - strlen(dst) - 1);
}

qp_status qp_bench_report_variants(FILE *out, int json, qp_error *err)
{
    const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
    int n = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
    if (n > QP_BENCH_MAX_VARIANTS)
        n = QP_BENCH_MAX_VARIANTS;
    const qp_kernels *def = qp_kernels_default();
    cJSON *root = json ? cJSON_CreateArray() : NULL;
    if (json && !root)
        return json_write(out, NULL, err);
    char flags[8192];
    cpu_flags(flags, sizeof flags);

    for (int i = 0; i < n; i++) {
        const qp_kernels *v = all[i];
        const int usable = qp_kernels_usable(v);
        const int is_scalar = strcmp(qp_kernels_name(v), "scalar") == 0;
        char why[320] = "";
        if (!usable)
            qp_bench_why_unusable(v, flags, why, sizeof why);
        /* weight types with kernels: those with a pairing activation type */
        char acc[256] = "", fb[256] = "", pk[256] = "";
        cJSON *jacc = cJSON_CreateArray(), *jfb = cJSON_CreateArray(), *jpk = cJSON_CreateArray();
        for (int t = 0; t < QP_TYPE_COUNT; t++) {
            if (!qp_type_info(t) || qp_act_type((enum qp_type)t) < 0)
                continue;
            const char *layout = qp_pack_name(v, (enum qp_type)t);
            if (layout) {
                list_append(pk, sizeof pk, ", ", layout);
                cJSON_AddItemToArray(jpk, cJSON_CreateString(layout));
            }
            const int a = is_scalar || qp_kernels_accelerates(v, (enum qp_type)t);
            list_append(a ? acc : fb, sizeof acc, " ", qp_bench_type_name((enum qp_type)t));
            cJSON_AddItemToArray(a ? jacc : jfb, cJSON_CreateString(qp_bench_type_name((enum qp_type)t)));
        }
        if (root) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "variant", qp_kernels_name(v));
            cJSON_AddStringToObject(o, "instruction_sets", qp_kernels_describe(v));
            cJSON_AddBoolToObject(o, "usable", usable);
            if (!usable)
                cJSON_AddStringToObject(o, "why_not", why);
            cJSON_AddBoolToObject(o, "default", v == def);
            cJSON_AddItemToObject(o, "own_kernels", jacc);
            cJSON_AddItemToObject(o, "scalar_fallback", jfb);
            cJSON_AddItemToObject(o, "packed_layouts", jpk);
            cJSON_AddItemToArray(root, o);
            continue;
        }
        cJSON_Delete(jacc);
        cJSON_Delete(jfb);
        cJSON_Delete(jpk);
        fprintf(out, "%s%s  [%s]\n", qp_kernels_name(v), v == def ? " (default)" : "", qp_kernels_describe(v));
        if (usable)
            fprintf(out, "  usable:          yes\n");
        else
            fprintf(out, "  usable:          no: %s\n", why);
        if (is_scalar) {
            fprintf(out, "  own kernels:     %s (the reference)\n", acc);
        } else {
            fprintf(out, "  own kernels:     %s\n", acc[0] ? acc : "none yet");
            fprintf(out, "  scalar fallback: %s\n", fb[0] ? fb : "none");
            fprintf(out, "  packed layouts:  %s\n", pk[0] ? pk : "none");
        }
    }
    return root ? json_write(out, root, err) : QP_OK;
}
