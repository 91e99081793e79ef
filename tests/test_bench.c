/* tests/test_bench.c - the kernel benchmark engine and its reports through
 * the library (bench/bench.h; the private steps through bench_impl.h):
 * option parsing and checking, weight sets, one tiny real run, the derived
 * columns on hand-made rows, and the CSV/JSON/--list writers against the
 * columns and keys docs/bench.md documents. tests/test_bench_support.c
 * covers membw, perfcount, the statistics and the command line.
 *
 * Expected sizes are worked out in the comments from the GGUF block
 * layouts: Q8_0 is 34 bytes per 32 weights, Q4_K 144 bytes per 256.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bench/bench.h"
#include "bench/bench_impl.h"
#include "common/common.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

/* |a - b| <= eps * |b|, with both values in the message */
#define assert_rel(a, b, eps)                                                           \
    do {                                                                                \
        const double a_ = (a), b_ = (b);                                                \
        if (!(fabs(a_ - b_) <= (eps) * fabs(b_)))                                       \
            fail_msg("%s = %.17g, expected %.17g (rel %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

/* The CSV columns in order, as docs/bench.md's CSV section lists them. */
static const char *const CSV_COLUMNS[] = {
    "variant", "type", "accelerated", "m", "k", "n", "threads", "runs", "median_ms", "min_ms", "max_ms",
    "q1_ms", "q3_ms", "mad_ms", "mean_ms", "weight_bytes", "weight_copies", "gbs", "gflops", "bw_pct",
    "membw_gbs", "speedup_vs_scalar", "speedup_vs_best_other", "best_other", "cycles", "instructions",
    "ipc", "llc_misses", "task_clock_ms", "cpu_share", "layout",
};
#define N_CSV_COLUMNS ((int)(sizeof CSV_COLUMNS / sizeof CSV_COLUMNS[0]))

/* The keys of one JSON result, in order, as docs/bench.md shows them. */
static const char *const JSON_ROW_KEYS[] = {
    "variant", "type", "accelerated", "layout", "m", "k", "n", "threads", "runs", "median_ms", "min_ms",
    "max_ms", "q1_ms", "q3_ms", "mad_ms", "mean_ms", "weight_bytes", "weight_copies", "gbs", "gflops",
    "bw_pct", "speedup_vs_scalar", "speedup_vs_best_other", "best_other", "counters_per_run",
};
static const char *const JSON_COUNTER_KEYS[] = {"cycles", "instructions", "ipc", "llc_misses", "task_clock_ms",
                                                "cpu_share"};

/* A compiled-in variant by name, usable here or not (qp_kernels_by_name
 * refuses unusable ones); NULL if not compiled in. */
static const qp_kernels *variant_named(const char *name)
{
    const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
    const int n = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
    for (int i = 0; i < n && i < QP_BENCH_MAX_VARIANTS; i++)
        if (strcmp(qp_kernels_name(all[i]), name) == 0)
            return all[i];
    return NULL;
}

/* The first compiled-in variant other than scalar (every build has one:
 * avx2 on x86-64, neon on arm64). */
static const qp_kernels *other_variant(void)
{
    const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
    const int n = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
    for (int i = 0; i < n && i < QP_BENCH_MAX_VARIANTS; i++)
        if (strcmp(qp_kernels_name(all[i]), "scalar") != 0)
            return all[i];
    return NULL;
}

/* Runs a report writer (0 table, 1 CSV, 2 JSON) into a malloc'd string. */
static char *report_to_string(const qp_bench_result *r, int which)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (which == 0)
        qp_bench_report_table(f, r);
    else if (which == 1)
        qp_bench_report_csv(f, r);
    else
        assert_int_equal(qp_bench_report_json(f, r, NULL), QP_OK);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* ======================================================================== */
/* Options                                                                  */
/* ======================================================================== */

static void test_opts_default(void **state)
{
    (void)state;
    qp_bench_opts o;
    qp_bench_opts_default(&o);
    assert_int_equal(o.m, 4096);
    assert_int_equal(o.k, 14336);
    assert_int_equal(o.n_ns, 2);
    assert_int_equal(o.ns[0], 1);
    assert_int_equal(o.ns[1], 512);
    assert_int_equal(o.n_threads, 2);
    assert_int_equal(o.threads[0], 1);
    assert_int_equal(o.threads[1], 2);
    assert_int_equal(o.reps, 10);
    assert_true(o.max_time == 3.0);
    assert_int_equal(o.counters, 1);
    assert_int_equal(o.n_types, 0);
    assert_int_equal(o.n_variants, 0);
    assert_int_equal(o.prequantized + o.hot + o.rows_only + o.membw_mib, 0);
}

static void test_parse_counts_and_shape(void **state)
{
    (void)state;
    int64_t v[QP_BENCH_MAX_LIST];
    assert_int_equal(qp_bench_parse_counts("1,2,512", v, QP_BENCH_MAX_LIST, 65536), 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 512);
    assert_int_equal(qp_bench_parse_counts("65536", v, QP_BENCH_MAX_LIST, 65536), 1);
    assert_int_equal(v[0], 65536);
    assert_int_equal(qp_bench_parse_counts("65537", v, QP_BENCH_MAX_LIST, 65536), -1);
    assert_int_equal(qp_bench_parse_counts("0", v, QP_BENCH_MAX_LIST, 65536), -1);
    assert_int_equal(qp_bench_parse_counts("", v, QP_BENCH_MAX_LIST, 65536), -1);
    assert_int_equal(qp_bench_parse_counts("1,,2", v, QP_BENCH_MAX_LIST, 65536), -1);
    assert_int_equal(qp_bench_parse_counts("1,", v, QP_BENCH_MAX_LIST, 65536), -1);
    assert_int_equal(qp_bench_parse_counts("2x", v, QP_BENCH_MAX_LIST, 65536), -1);
    /* 17 entries: one more than the list holds */
    assert_int_equal(qp_bench_parse_counts("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", v, QP_BENCH_MAX_LIST, 99),
                     16);
    assert_int_equal(qp_bench_parse_counts("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", v, QP_BENCH_MAX_LIST, 99),
                     -1);
    assert_int_equal(qp_bench_parse_counts("1,2,3", v, 2, 99), -1);

    int64_t m = 0, k = 0;
    assert_int_equal(qp_bench_parse_shape("4096x14336", &m, &k), 0);
    assert_int_equal(m, 4096);
    assert_int_equal(k, 14336);
    assert_int_equal(qp_bench_parse_shape("3X7", &m, &k), 0);
    assert_int_equal(m, 3);
    assert_int_equal(k, 7);
    assert_int_equal(qp_bench_parse_shape("16777216x16777216", &m, &k), 0);
    m = k = 5;
    assert_int_equal(qp_bench_parse_shape("16777217x1", &m, &k), -1);
    assert_int_equal(qp_bench_parse_shape("12", &m, &k), -1);
    assert_int_equal(qp_bench_parse_shape("0x5", &m, &k), -1);
    assert_int_equal(qp_bench_parse_shape("5x", &m, &k), -1);
    assert_int_equal(qp_bench_parse_shape("5x6y", &m, &k), -1);
    assert_int_equal(qp_bench_parse_shape("x6", &m, &k), -1);
    /* a failed parse leaves the shape as it was */
    assert_int_equal(m, 5);
    assert_int_equal(k, 5);
}

static void test_set_types(void **state)
{
    (void)state;
    qp_bench_opts o;
    qp_bench_opts_default(&o);
    qp_error err;
    o.k = 256;
    assert_int_equal(qp_bench_opts_set_types(&o, "q8_0,q4_K", &err), QP_OK);
    assert_int_equal(o.n_types, 2);
    assert_int_equal(o.types[0], QP_TYPE_Q8_0);
    assert_int_equal(o.types[1], QP_TYPE_Q4_K);
    /* the default list at the default K */
    qp_bench_opts_default(&o);
    assert_int_equal(qp_bench_opts_set_types(&o, QP_BENCH_DEFAULT_TYPES, &err), QP_OK);
    assert_int_equal(o.n_types, 6);
    assert_int_equal(o.types[5], QP_TYPE_F16);

    /* each defect, with the message the command line prints */
    o.k = 100;
    assert_int_equal(qp_bench_opts_set_types(&o, "q4_K", &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "K=100 is not a multiple of q4_K's block size 256");
    o.k = 256;
    assert_int_equal(qp_bench_opts_set_types(&o, "nosuch", &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "unknown type 'nosuch'");
    assert_int_equal(qp_bench_opts_set_types(&o, "q8_K", &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "type 'q8_K' has no kernels to benchmark");
    assert_int_equal(qp_bench_opts_set_types(&o, "q4_K,", &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "bad --types list 'q4_K,'");
    assert_int_equal(qp_bench_opts_set_types(&o, "", &err), QP_ERR_INPUT);
}

static void test_set_variants(void **state)
{
    (void)state;
    qp_bench_opts o;
    qp_bench_opts_default(&o);
    qp_error err;
    /* NULL: every usable variant, scalar first, not "given" */
    assert_int_equal(qp_bench_opts_set_variants(&o, NULL, &err), QP_OK);
    const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
    const int n_all = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
    int usable = 0;
    for (int i = 0; i < n_all; i++)
        usable += qp_kernels_usable(all[i]);
    assert_int_equal(o.n_variants, usable);
    assert_string_equal(qp_kernels_name(o.variants[0]), "scalar");
    assert_int_equal(o.variants_given, 0);

    assert_int_equal(qp_bench_opts_set_variants(&o, "scalar", &err), QP_OK);
    assert_int_equal(o.n_variants, 1);
    assert_ptr_equal(o.variants[0], variant_named("scalar"));
    assert_int_equal(o.variants_given, 1);

    assert_int_equal(qp_bench_opts_set_variants(&o, "nosuch", &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "unknown kernel variant 'nosuch'"));
    assert_int_equal(qp_bench_opts_set_variants(&o, ",", &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "bad --variants list ','");
}

/* A small valid option set: q8_0 at 16 x 256, n 1, one thread, scalar. */
static void small_opts(qp_bench_opts *o)
{
    qp_bench_opts_default(o);
    o->m = 16;
    o->k = 256;
    o->ns[0] = 1;
    o->n_ns = 1;
    o->threads[0] = 1;
    o->n_threads = 1;
    o->reps = 3;
    o->membw_mib = 8;
    o->counters = 0;
    o->hot = 1;
    assert_int_equal(qp_bench_opts_set_types(o, "q8_0", NULL), QP_OK);
    assert_int_equal(qp_bench_opts_set_variants(o, "scalar", NULL), QP_OK);
}

/* Each option out of range: QP_ERR_INPUT before anything is measured, and
 * a result that frees cleanly. */
static void test_run_bad_options(void **state)
{
    (void)state;
    enum { N_CASES = 12 };
    for (int c = 0; c < N_CASES; c++) {
        qp_bench_opts o;
        small_opts(&o);
        switch (c) {
        case 0: o.n_types = 0; break;
        case 1: o.n_variants = 0; break;
        case 2: o.reps = 0; break;
        case 3: o.threads[0] = 0; break;
        case 4: o.threads[0] = QP_BENCH_MAX_THREADS + 1; break;
        case 5: o.ns[0] = 0; break;
        case 6: o.m = 0; break;
        case 7: o.k = 100; break; /* not whole Q8_0 blocks of 32 */
        case 8: o.max_time = -1.0; break;
        case 9: o.membw_mib = -1; break;
        case 10: o.variants[0] = NULL; break;
        case 11: o.n_threads = QP_BENCH_MAX_LIST + 1; break;
        }
        qp_bench_result r;
        qp_error err;
        qp_error_clear(&err);
        assert_int_equal(qp_bench_kernels_run(&o, &r, &err), QP_ERR_INPUT);
        assert_int_equal(err.status, QP_ERR_INPUT);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(r.n_rows, 0);
        assert_int_equal(r.n_bw, 0);
        qp_bench_result_free(&r);
    }
    /* K not whole blocks names the type, as set_types does */
    qp_bench_opts o;
    small_opts(&o);
    o.k = 100;
    qp_bench_result r;
    qp_error err;
    assert_int_equal(qp_bench_kernels_run(&o, &r, &err), QP_ERR_INPUT);
    assert_string_equal(err.msg, "K=100 is not a multiple of q8_0's block size 32");
    qp_bench_result_free(&r);

    /* weights beyond 16 GiB are refused before they are allocated:
     * 2^24 rows of 2^24 F16 weights are 2^49 bytes */
    small_opts(&o);
    o.m = o.k = QP_BENCH_MAX_SHAPE;
    assert_int_equal(qp_bench_opts_set_types(&o, "f16", NULL), QP_OK);
    assert_int_equal(qp_bench_kernels_run(&o, &r, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "are too large"));
    assert_int_equal(r.n_rows, 0);
    qp_bench_result_free(&r);
}

/* ======================================================================== */
/* Weight sets                                                              */
/* ======================================================================== */

static void test_weights_copies_and_rotation(void **state)
{
    (void)state;
    qp_bench_weights ws;
    /* Q8_0, 130 rows of 256: 8 blocks x 34 = 272 bytes a row, 35360 a copy;
     * to reach 2 x 64 KiB = 131072 bytes: ceil(131072 / 35360) = 4 copies */
    assert_int_equal(qp_bench_weights_make(&ws, QP_TYPE_Q8_0, 130, 256, 65536, 0, NULL), QP_OK);
    assert_int_equal(ws.row_bytes, 272);
    assert_int_equal(ws.bytes, 130 * 272);
    assert_int_equal(ws.copies, 4);
    /* rows repeat with the period QP_BENCH_DISTINCT_ROWS; the copies are equal */
    assert_memory_equal(ws.data + 64 * 272, ws.data, 272);
    assert_memory_equal(ws.data + 129 * 272, ws.data + 1 * 272, 272);
    assert_memory_not_equal(ws.data + 1 * 272, ws.data, 272);
    for (int c = 1; c < ws.copies; c++)
        assert_memory_equal(ws.data + (size_t)c * ws.bytes, ws.data, ws.bytes);
    /* round robin over the copies */
    for (int i = 0; i < 2 * ws.copies; i++)
        assert_ptr_equal(qp_bench_weights_next(&ws), ws.data + (size_t)(i % ws.copies) * ws.bytes);
    /* the weights are what qp_quantize_row makes: they dequantize to
     * floats of the generator's spread (|w| < 4 x 0.02 x 0.866) */
    float row[256];
    assert_int_equal(qp_dequantize_row(QP_TYPE_Q8_0, ws.data, row, 256, NULL), QP_OK);
    double sum2 = 0.0;
    for (int i = 0; i < 256; i++) {
        assert_true(fabsf(row[i]) < 0.07f);
        sum2 += (double)row[i] * row[i];
    }
    assert_true(sqrt(sum2 / 256) > 0.005 && sqrt(sum2 / 256) < 0.03);
    free(ws.data);

    /* hot: one copy whatever the cache; a copy of >= 2 x LLC: one copy */
    assert_int_equal(qp_bench_weights_make(&ws, QP_TYPE_Q8_0, 130, 256, 65536, 1, NULL), QP_OK);
    assert_int_equal(ws.copies, 1);
    free(ws.data);
    assert_int_equal(qp_bench_weights_make(&ws, QP_TYPE_Q8_0, 130, 256, 17680, 0, NULL), QP_OK);
    assert_int_equal(ws.copies, 1);
    free(ws.data);
    /* Q4_K at K = 100: no whole row */
    qp_error err;
    assert_int_equal(qp_bench_weights_make(&ws, QP_TYPE_Q4_K, 4, 100, 65536, 0, &err), QP_ERR_INPUT);
    assert_null(ws.data);
}

/* ======================================================================== */
/* Derived columns                                                          */
/* ======================================================================== */

static void test_perf_accumulate(void **state)
{
    (void)state;
    qp_perf_values sum, one;
    memset(&sum, 0xff, sizeof sum); /* garbage before the first run */
    memset(&one, 0, sizeof one);
    one.valid[QP_PERF_CYCLES] = 1;
    one.value[QP_PERF_CYCLES] = 100.0;
    one.valid[QP_PERF_TASK_CLOCK] = 1;
    one.value[QP_PERF_TASK_CLOCK] = 7.0;
    qp_bench_perf_accumulate(&sum, &one, 1);
    one.value[QP_PERF_CYCLES] = 50.0;
    one.valid[QP_PERF_TASK_CLOCK] = 0; /* task-clock missed the second run */
    qp_bench_perf_accumulate(&sum, &one, 0);
    assert_int_equal(sum.valid[QP_PERF_CYCLES], 1);
    assert_true(sum.value[QP_PERF_CYCLES] == 150.0);
    assert_int_equal(sum.valid[QP_PERF_TASK_CLOCK], 0);
    assert_int_equal(sum.valid[QP_PERF_INSTRUCTIONS], 0);
    /* and stays invalid though a later run counts */
    one.valid[QP_PERF_TASK_CLOCK] = 1;
    qp_bench_perf_accumulate(&sum, &one, 0);
    assert_int_equal(sum.valid[QP_PERF_TASK_CLOCK], 0);
}

static qp_bench_row make_row(const qp_kernels *v, int64_t n, int threads, double median_s)
{
    qp_bench_row r;
    memset(&r, 0, sizeof r);
    r.variant = v;
    r.type = QP_TYPE_Q4_K;
    r.m = 16;
    r.k = 256;
    r.n = n;
    r.threads = threads;
    r.layout = "rows";
    r.copies = 1;
    r.weight_bytes = 16 * 144;
    r.time.n = 3;
    r.time.median = median_s;
    r.time.min = r.time.q1 = r.time.mean = median_s;
    r.time.max = r.time.q3 = median_s;
    r.gbs = (double)r.weight_bytes / median_s / 1e9;
    r.gflops = 2.0 * 16 * 256 * (double)n / median_s / 1e9;
    return r;
}

/* A hand-made result, finalized: scalar 4 ms and another variant 1 ms at
 * (n 1, 1 thread), a row alone at n 2, and one at 2 threads, for which no
 * bandwidth was measured. */
static void synthetic_result(qp_bench_result *res, qp_bench_row *rows)
{
    const qp_kernels *sc = variant_named("scalar"), *ot = other_variant();
    assert_non_null(sc);
    assert_non_null(ot);
    memset(res, 0, sizeof *res);
    qp_bench_opts_default(&res->opts);
    res->opts.m = 16;
    res->opts.k = 256;
    res->opts.types[0] = QP_TYPE_Q4_K;
    res->opts.n_types = 1;
    res->opts.variants[0] = sc;
    res->opts.variants[1] = ot;
    res->opts.n_variants = 2;
    res->llc_bytes = 8 << 20;
    res->llc_found = 1;
    res->bw[0] = (qp_membw_result){.best_gbs = 10.0, .median_gbs = 9.0, .bytes = 64 << 20, .threads = 1,
                                   .reps = 5, .method = "c"};
    res->n_bw = 1;
    for (int e = 0; e < QP_PERF_N_EVENTS; e++)
        snprintf(res->counter_reason[e], sizeof res->counter_reason[e], "not requested");
    rows[0] = make_row(sc, 1, 1, 4e-3);
    rows[1] = make_row(ot, 1, 1, 1e-3);
    rows[2] = make_row(ot, 2, 1, 2e-3);
    rows[3] = make_row(ot, 1, 2, 5e-4);
    res->rows = rows;
    res->n_rows = 4;
    qp_bench_finalize_rows(res);
}

static void test_finalize_rows(void **state)
{
    (void)state;
    qp_bench_result res;
    qp_bench_row rows[4];
    synthetic_result(&res, rows);
    /* scalar: no scalar to compare with; the other is 4x faster */
    assert_true(isnan(rows[0].x_scalar));
    assert_rel(rows[0].x_best, 0.25, 1e-12);
    assert_string_equal(rows[0].best_name, qp_kernels_name(other_variant()));
    assert_rel(rows[1].x_scalar, 4.0, 1e-12);
    assert_rel(rows[1].x_best, 4.0, 1e-12);
    assert_string_equal(rows[1].best_name, "scalar");
    /* alone in its (type, n, threads) */
    assert_true(isnan(rows[2].x_scalar) && isnan(rows[2].x_best));
    assert_null(rows[2].best_name);
    /* % of the 1-thread bandwidth: 2304 bytes / 1 ms = 0.002304 GB/s of 10 */
    assert_rel(rows[1].bw_pct, 0.02304, 1e-12);
    assert_rel(qp_bench_membw_gbs(&res, 1), 10.0, 0.0);
    assert_true(qp_bench_membw_gbs(&res, 2) == 0.0);
    assert_true(isnan(rows[3].bw_pct));
}

static void test_row_counters(void **state)
{
    (void)state;
    qp_bench_row r = make_row(variant_named("scalar"), 1, 2, 0.5e-3);
    /* 3 runs: 3e6 cycles, 6e6 instructions, 3 ms of CPU time in all */
    r.pv.valid[QP_PERF_CYCLES] = r.pv.valid[QP_PERF_INSTRUCTIONS] = r.pv.valid[QP_PERF_TASK_CLOCK] = 1;
    r.pv.value[QP_PERF_CYCLES] = 3e6;
    r.pv.value[QP_PERF_INSTRUCTIONS] = 6e6;
    r.pv.value[QP_PERF_TASK_CLOCK] = 3e6;
    assert_rel(qp_bench_row_per_run(&r, QP_PERF_CYCLES), 1e6, 1e-12);
    assert_rel(qp_bench_row_ipc(&r), 2.0, 1e-12);
    /* 1 ms of CPU per run over 0.5 ms x 2 threads: every thread had a core */
    assert_rel(qp_bench_row_cpu_share(&r), 1.0, 1e-12);
    assert_true(isnan(qp_bench_row_per_run(&r, QP_PERF_LLC_MISSES)));
    r.pv.valid[QP_PERF_CYCLES] = 0;
    assert_true(isnan(qp_bench_row_ipc(&r)));
    r.pv.valid[QP_PERF_TASK_CLOCK] = 0;
    assert_true(isnan(qp_bench_row_cpu_share(&r)));
}

/* ======================================================================== */
/* A real run                                                               */
/* ======================================================================== */

/* Q8_0 and Q4_K at 16 x 256, n = 1 and 40, one thread, every usable
 * variant, hot (one copy: nothing hundreds of MiB large in a unit test). */
static void test_run_tiny(void **state)
{
    (void)state;
    qp_bench_opts o;
    small_opts(&o);
    o.ns[1] = 40;
    o.n_ns = 2;
    qp_error err;
    assert_int_equal(qp_bench_opts_set_types(&o, "q8_0,q4_K", &err), QP_OK);
    assert_int_equal(qp_bench_opts_set_variants(&o, NULL, &err), QP_OK);
    const int nv = o.n_variants;
    assert_true(nv >= 1);

    qp_bench_result r;
    qp_error_clear(&err);
    assert_int_equal(qp_bench_kernels_run(&o, &r, &err), QP_OK);
    /* every variant at n = 1; at n = 40 > 32 all but scalar, which is skipped */
    assert_int_equal(r.n_rows, 2 * (nv + nv - 1));
    assert_int_equal(r.n_skips, 2);
    assert_int_equal(r.n_bw, 1);
    assert_int_equal(r.bw[0].threads, 1);
    assert_int_equal(r.bw[0].bytes, 8 << 20);
    assert_true(r.bw[0].best_gbs > 0.0);
    assert_int_equal(r.opts.m, 16);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        assert_int_equal(r.counter_available[e], 0);
        assert_string_equal(r.counter_reason[e], "not requested");
    }
    int i = 0;
    for (int t = 0; t < 2; t++) {
        const enum qp_type type = t == 0 ? QP_TYPE_Q8_0 : QP_TYPE_Q4_K;
        /* 16 rows: Q8_0 8 x 34 = 272 bytes a row, Q4_K 144 */
        const size_t bytes = 16 * (size_t)(t == 0 ? 272 : 144);
        for (int ni = 0; ni < 2; ni++) {
            const int64_t n = ni == 0 ? 1 : 40;
            for (int v = ni == 0 ? 0 : 1; v < nv; v++, i++) {
                const qp_bench_row *row = &r.rows[i];
                assert_ptr_equal(row->variant, o.variants[v]);
                assert_int_equal(row->type, type);
                assert_int_equal(row->m, 16);
                assert_int_equal(row->k, 256);
                assert_int_equal(row->n, n);
                assert_int_equal(row->threads, 1);
                assert_int_equal(row->weight_bytes, bytes);
                assert_int_equal(row->copies, 1);
                assert_int_equal(row->accelerated, qp_kernels_accelerates(row->variant, type));
                const char *pack = qp_pack_name(row->variant, type);
                assert_string_equal(row->layout, pack ? pack : "rows");
                /* reps = 3 = QP_BENCH_MIN_RUNS: exactly 3 timed runs */
                assert_int_equal(row->time.n, 3);
                assert_true(row->time.min > 0.0 && row->time.min <= row->time.median &&
                            row->time.median <= row->time.max);
                /* the rates are the documented formulas of the median */
                assert_rel(row->gbs, (double)bytes / row->time.median / 1e9, 1e-12);
                assert_rel(row->gflops, 2.0 * 16 * 256 * (double)n / row->time.median / 1e9, 1e-12);
                assert_rel(row->bw_pct, 100.0 * row->gbs / r.bw[0].best_gbs, 1e-12);
                /* n = 1 has scalar to compare with, n = 40 not */
                if (v == 0 || n == 40)
                    assert_true(isnan(row->x_scalar));
                else
                    assert_rel(row->x_scalar, r.rows[i - v].time.median / row->time.median, 1e-12);
                assert_int_equal(row->best_name == NULL, (n == 1 ? nv : nv - 1) == 1);
                assert_true(isnan(qp_bench_row_cpu_share(row)));
            }
        }
    }
    assert_string_equal(qp_kernels_name(r.skips[0].variant), "scalar");
    assert_int_equal(r.skips[0].type, QP_TYPE_Q8_0);
    assert_int_equal(r.skips[0].n, 40);
    assert_int_equal(r.skips[1].type, QP_TYPE_Q4_K);

    /* the table names every row and skip */
    char *table = report_to_string(&r, 0);
    int lines = 0;
    for (const char *p = table; (p = strchr(p, '\n')); p++)
        lines++;
    /* 4 header lines, blank, column names, rows, blank, legend, 2 skips */
    assert_int_equal(lines, 4 + 1 + 1 + r.n_rows + 1 + 1 + 2);
    assert_non_null(strstr(table, "skipped: scalar q8_0 n=40 threads=1"));
    free(table);
    qp_bench_result_free(&r);
    assert_null(r.rows);
}

/* ======================================================================== */
/* Reports against docs/bench.md                                            */
/* ======================================================================== */

/* Reads docs/bench.md (tests run from the repository root); NULL if absent. */
static char *read_doc(void)
{
    char *doc = NULL;
    size_t len;
    if (qp_read_file("docs/bench.md", 1 << 20, &doc, &len, NULL) != QP_OK)
        return NULL;
    return doc;
}

static void test_report_csv(void **state)
{
    (void)state;
    qp_bench_result res;
    qp_bench_row rows[4];
    synthetic_result(&res, rows);
    char *csv = report_to_string(&res, 1);

    char *save = NULL, *line;
    int comments = 0, data = 0;
    for (line = strtok_r(csv, "\n", &save); line && line[0] == '#'; line = strtok_r(NULL, "\n", &save))
        comments++;
    /* cpu, bandwidth, shape, counters */
    assert_int_equal(comments, 4);
    assert_non_null(line);
    /* the header row: exactly the documented columns, in order */
    int nc = 0;
    for (char *s2 = NULL, *c = strtok_r(line, ",", &s2); c; c = strtok_r(NULL, ",", &s2), nc++) {
        assert_true(nc < N_CSV_COLUMNS);
        assert_string_equal(c, CSV_COLUMNS[nc]);
    }
    assert_int_equal(nc, N_CSV_COLUMNS);
    /* the other variant's row: values, empty cells where nothing was counted */
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save), data++) {
        if (data != 1)
            continue;
        char want[256];
        snprintf(want, sizeof want,
                 "%s,q4_K,0,16,256,1,1,3,1,1,1,1,1,0,1,2304,1,0.002,0.008,0.02,10.000,4.000,4.000,scalar,"
                 ",,,,,,rows",
                 qp_kernels_name(other_variant()));
        assert_string_equal(line, want);
    }
    assert_int_equal(data, 4);
    free(csv);

    /* docs/bench.md's CSV table lists the same columns in the same order */
    char *doc = read_doc();
    if (!doc) {
        printf("docs/bench.md not found: documented columns not compared\n");
        return;
    }
    const char *sec = strstr(doc, "## CSV (`--csv`)");
    assert_non_null(sec);
    const char *end = strstr(sec, "\n## ");
    int k = 0;
    for (const char *p = strstr(sec, "\n| `"); p && p < end; p = strstr(p + 1, "\n| `")) {
        /* the first cell's backquoted names: "| `m`, `k`, `n`, `threads` |" */
        const char *cell_end = strchr(p + 2, '|');
        for (const char *q = strchr(p + 2, '`'); q && q < cell_end; q = strchr(q + 1, '`')) {
            const char *close = strchr(q + 1, '`');
            assert_true(k < N_CSV_COLUMNS);
            assert_int_equal((size_t)(close - q - 1), strlen(CSV_COLUMNS[k]));
            assert_memory_equal(q + 1, CSV_COLUMNS[k], strlen(CSV_COLUMNS[k]));
            k++;
            q = close;
        }
    }
    assert_int_equal(k, N_CSV_COLUMNS);
    free(doc);
}

/* The keys of object o, in order, must be keys[0..n-1]. */
static void assert_keys(const cJSON *o, const char *const *keys, int n)
{
    assert_true(cJSON_IsObject(o));
    int i = 0;
    for (const cJSON *c = o->child; c; c = c->next, i++) {
        assert_true(i < n);
        assert_string_equal(c->string, keys[i]);
    }
    assert_int_equal(i, n);
}

static void test_report_json(void **state)
{
    (void)state;
    qp_bench_result res;
    qp_bench_row rows[4];
    synthetic_result(&res, rows);
    qp_bench_skip skip = {variant_named("scalar"), QP_TYPE_Q4_K, 512, 1};
    res.skips = &skip;
    res.n_skips = 1;
    char *s = report_to_string(&res, 2);
    cJSON *root = cJSON_Parse(s);
    free(s);
    assert_non_null(root);

    static const char *const top[] = {"command", "qprof_version", "machine", "config", "counters", "results",
                                      "skipped"};
    assert_keys(root, top, 7);
    static const char *const mach[] = {"cpu", "logical_cpus", "llc_bytes", "llc_source",
                                       "memory_read_bandwidth"};
    assert_keys(cJSON_GetObjectItemCaseSensitive(root, "machine"), mach, 5);
    static const char *const bw[] = {"threads", "best_gbs", "median_gbs", "bytes", "reps", "method"};
    assert_keys(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(root, "machine"), "memory_read_bandwidth"), 0),
                bw, 6);
    static const char *const cfg[] = {"m", "k", "types", "variants", "n", "threads", "reps", "min_runs",
                                      "max_time_s", "timed", "weights", "layout"};
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    assert_keys(config, cfg, 12);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(config, "min_runs")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(config, "weights")->valuestring, "rotated");
    /* all four counters, each with available and, when false, reason */
    static const char *const ctr[] = {"cycles", "instructions", "llc-misses", "task-clock"};
    const cJSON *counters = cJSON_GetObjectItemCaseSensitive(root, "counters");
    assert_keys(counters, ctr, 4);
    static const char *const unavailable[] = {"available", "reason"};
    for (const cJSON *c = counters->child; c; c = c->next)
        assert_keys(c, unavailable, 2);

    const cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "results");
    assert_int_equal(cJSON_GetArraySize(results), 4);
    const int n_row_keys = (int)(sizeof JSON_ROW_KEYS / sizeof JSON_ROW_KEYS[0]);
    const int n_ctr_keys = (int)(sizeof JSON_COUNTER_KEYS / sizeof JSON_COUNTER_KEYS[0]);
    for (const cJSON *x = results->child; x; x = x->next) {
        assert_keys(x, JSON_ROW_KEYS, n_row_keys);
        assert_keys(cJSON_GetObjectItemCaseSensitive(x, "counters_per_run"), JSON_COUNTER_KEYS, n_ctr_keys);
    }
    /* values: the other variant at n 1; what was not measured is null */
    const cJSON *x = cJSON_GetArrayItem(results, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(x, "weight_bytes")->valueint, 2304);
    assert_rel(cJSON_GetObjectItemCaseSensitive(x, "median_ms")->valuedouble, 1.0, 1e-12);
    assert_rel(cJSON_GetObjectItemCaseSensitive(x, "speedup_vs_scalar")->valuedouble, 4.0, 1e-12);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(x, "best_other")->valuestring, "scalar");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x, "counters_per_run"), "cycles")));
    x = cJSON_GetArrayItem(results, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(x, "best_other")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(x, "speedup_vs_best_other")));
    x = cJSON_GetArrayItem(results, 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(x, "bw_pct")));
    const cJSON *sk = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "skipped"), 0);
    static const char *const skip_keys[] = {"variant", "type", "n", "threads", "reason"};
    assert_keys(sk, skip_keys, 5);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sk, "reason")->valuestring,
                        "scalar is skipped above n=32 unless named in --variants");

    /* docs/bench.md's example has the same keys in the same places */
    char *doc = read_doc();
    if (!doc) {
        printf("docs/bench.md not found: documented keys not compared\n");
        cJSON_Delete(root);
        return;
    }
    const char *sec = strstr(doc, "## JSON (`--json`)");
    assert_non_null(sec);
    const char *start = strstr(sec, "```json\n");
    assert_non_null(start);
    start += 8;
    const char *stop = strstr(start, "```");
    assert_non_null(stop);
    cJSON *ex = cJSON_ParseWithLength(start, (size_t)(stop - start));
    assert_non_null(ex);
    assert_keys(ex, top, 7);
    assert_keys(cJSON_GetObjectItemCaseSensitive(ex, "machine"), mach, 5);
    assert_keys(cJSON_GetObjectItemCaseSensitive(ex, "config"), cfg, 12);
    const cJSON *ex_row = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ex, "results"), 0);
    assert_keys(ex_row, JSON_ROW_KEYS, n_row_keys);
    assert_keys(cJSON_GetObjectItemCaseSensitive(ex_row, "counters_per_run"), JSON_COUNTER_KEYS, n_ctr_keys);
    assert_keys(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ex, "skipped"), 0), skip_keys, 5);
    cJSON_Delete(ex);
    free(doc);
    cJSON_Delete(root);
}

/* ======================================================================== */
/* --list                                                                   */
/* ======================================================================== */

static void test_why_unusable(void **state)
{
    (void)state;
    char why[320];
    const qp_kernels *avx2 = variant_named("avx2"), *avx512 = variant_named("avx512");
    if (!avx2 || !avx512) {
        printf("skipped: the x86 variants are not compiled in\n");
        skip();
    }
    qp_bench_why_unusable(avx512, " fpu sse2 avx2 fma f16c ", why, sizeof why);
    assert_string_equal(why, "this CPU/OS lacks avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni (/proc/cpuinfo)");
    qp_bench_why_unusable(avx512, " avx512f avx512bw avx512vl avx512dq avx2 ", why, sizeof why);
    assert_string_equal(why, "this CPU/OS lacks avx512_vnni (/proc/cpuinfo)");
    qp_bench_why_unusable(avx2, " sse2 avx2 ", why, sizeof why);
    assert_string_equal(why, "this CPU/OS lacks fma, f16c (/proc/cpuinfo)");
    /* no cpuinfo: the description, nothing guessed */
    qp_bench_why_unusable(avx512, "", why, sizeof why);
    assert_string_equal(why, "this CPU/OS lacks a feature of AVX-512F/BW/VL/DQ+VNNI");
}

static void test_report_variants(void **state)
{
    (void)state;
    const qp_kernels *all[QP_BENCH_MAX_VARIANTS];
    const int n = qp_kernels_all(all, QP_BENCH_MAX_VARIANTS);
    /* types with kernels: scalar owns all of them */
    int with_kernels = 0;
    for (int t = 0; t < QP_TYPE_COUNT; t++)
        with_kernels += qp_type_info(t) && qp_act_type((enum qp_type)t) >= 0;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(qp_bench_report_variants(f, 1, NULL), QP_OK);
    assert_int_equal(fclose(f), 0);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    assert_true(cJSON_IsArray(root));
    assert_int_equal(cJSON_GetArraySize(root), n);
    int defaults = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *o = cJSON_GetArrayItem(root, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "variant")->valuestring, qp_kernels_name(all[i]));
        const int usable = qp_kernels_usable(all[i]);
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "usable")), usable);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "why_not") != NULL, !usable);
        defaults += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "default"));
        /* every type with kernels is either the variant's own or a fallback */
        const int own = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "own_kernels"));
        const int fb = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "scalar_fallback"));
        assert_int_equal(own + fb, with_kernels);
        if (i == 0) {
            assert_string_equal(qp_kernels_name(all[i]), "scalar");
            assert_int_equal(own, with_kernels);
        }
    }
    assert_int_equal(defaults, 1);
    cJSON_Delete(root);

    /* the text form: one "usable:" line per variant, scalar the reference */
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(qp_bench_report_variants(f, 0, NULL), QP_OK);
    assert_int_equal(fclose(f), 0);
    int usable_lines = 0;
    for (const char *p = buf; (p = strstr(p, "  usable:")); p++)
        usable_lines++;
    assert_int_equal(usable_lines, n);
    assert_non_null(strstr(buf, "(the reference)"));
    assert_non_null(strstr(buf, "(default)"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_default),
        cmocka_unit_test(test_parse_counts_and_shape),
        cmocka_unit_test(test_set_types),
        cmocka_unit_test(test_set_variants),
        cmocka_unit_test(test_run_bad_options),
        cmocka_unit_test(test_weights_copies_and_rotation),
        cmocka_unit_test(test_perf_accumulate),
        cmocka_unit_test(test_finalize_rows),
        cmocka_unit_test(test_row_counters),
        cmocka_unit_test(test_run_tiny),
        cmocka_unit_test(test_report_csv),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_why_unusable),
        cmocka_unit_test(test_report_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
