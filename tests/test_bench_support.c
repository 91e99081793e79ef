/* tests/test_bench_support.c - the pieces under `qprof bench kernels`:
 * statistics of repeated timings (common/common.h), the cache size and read
 * bandwidth probes (bench/bench.h), the perf counters and their fallback
 * (bench/bench.h), and a smoke run of the command itself, whose CSV
 * and JSON are parsed for the documented columns (docs/bench.md).
 *
 * Expected statistics are worked out by hand in the comments, with the
 * percentile definition of stats.h (linear interpolation, rank
 * h = (n - 1) p / 100).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bench/bench.h"
#include "common/common.h"
#include "kernels/kernels.h"
#include "tests/qprof_cli.h"

#define EPS 1e-12

/* |a - b| <= eps, with both values in the message (this cmocka has no
 * assert_double_equal) */
#define assert_near(a, b, eps)                                                          \
    do {                                                                                \
        const double a_ = (a), b_ = (b);                                                \
        if (!(fabs(a_ - b_) <= (eps)))                                                  \
            fail_msg("%s = %.17g, expected %.17g (+- %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

/* ======================================================================== */
/* stats                                                                    */
/* ======================================================================== */

static void test_stats_odd(void **state)
{
    (void)state;
    /* sorted: 1 3 5; deviations from 3: 2 0 2 -> sorted 0 2 2, median 2 */
    const double x[] = {5.0, 1.0, 3.0};
    qp_stats s;
    assert_int_equal(qp_stats_compute(x, 3, &s, NULL), QP_OK);
    assert_int_equal(s.n, 3);
    assert_near(s.min, 1.0, EPS);
    assert_near(s.max, 5.0, EPS);
    assert_near(s.median, 3.0, EPS);
    assert_near(s.mean, 3.0, EPS);
    /* q1: h = 2 * 0.25 = 0.5 -> 1 + 0.5 * (3 - 1) = 2; q3 symmetric: 4 */
    assert_near(s.q1, 2.0, EPS);
    assert_near(s.q3, 4.0, EPS);
    assert_near(s.mad, 2.0, EPS);
    /* the input is left as it was */
    assert_near(x[0], 5.0, 0.0);
    assert_near(x[1], 1.0, 0.0);
}

static void test_stats_even(void **state)
{
    (void)state;
    /* sorted 1 2 3 4: median = (2 + 3) / 2 = 2.5;
     * q1: h = 3 * 0.25 = 0.75 -> 1 + 0.75 = 1.75; q3: h = 2.25 -> 3.25;
     * |x - 2.5| = 1.5 0.5 0.5 1.5 -> sorted 0.5 0.5 1.5 1.5, median 1.0 */
    const double x[] = {4.0, 1.0, 3.0, 2.0};
    qp_stats s;
    assert_int_equal(qp_stats_compute(x, 4, &s, NULL), QP_OK);
    assert_near(s.median, 2.5, EPS);
    assert_near(s.q1, 1.75, EPS);
    assert_near(s.q3, 3.25, EPS);
    assert_near(s.mad, 1.0, EPS);
    assert_near(s.mean, 2.5, EPS);
    /* (3.25 - 1.75) / 2.5 = 0.6 */
    assert_near(qp_stats_rel_iqr(&s), 0.6, EPS);
}

static void test_stats_outlier(void **state)
{
    (void)state;
    /* one preempted run: the mean moves to 208, the median and MAD do not */
    const double x[] = {10.0, 10.0, 1000.0, 10.0, 10.0};
    qp_stats s;
    assert_int_equal(qp_stats_compute(x, 5, &s, NULL), QP_OK);
    assert_near(s.median, 10.0, EPS);
    assert_near(s.mad, 0.0, EPS);
    assert_near(s.mean, 208.0, EPS);
    assert_near(s.max, 1000.0, EPS);
    assert_near(s.q3, 10.0, EPS);
}

static void test_stats_single_and_bad(void **state)
{
    (void)state;
    const double one = 7.5;
    qp_stats s;
    assert_int_equal(qp_stats_compute(&one, 1, &s, NULL), QP_OK);
    assert_near(s.min, 7.5, 0.0);
    assert_near(s.median, 7.5, 0.0);
    assert_near(s.q1, 7.5, 0.0);
    assert_near(s.q3, 7.5, 0.0);
    assert_near(s.max, 7.5, 0.0);
    assert_near(s.mad, 0.0, 0.0);

    qp_error err;
    qp_error_clear(&err);
    assert_int_equal(qp_stats_compute(&one, 0, &s, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "0 samples"));
    const double with_nan[] = {1.0, NAN, 2.0};
    qp_error_clear(&err);
    assert_int_equal(qp_stats_compute(with_nan, 3, &s, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "sample 1"));
}

static void test_stats_percentile(void **state)
{
    (void)state;
    const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_near(qp_stats_percentile(x, 10, 0.0), 1.0, EPS);
    assert_near(qp_stats_percentile(x, 10, 100.0), 10.0, EPS);
    /* h = 9 * 0.9 = 8.1 -> 9 + 0.1 * (10 - 9) = 9.1 */
    assert_near(qp_stats_percentile(x, 10, 90.0), 9.1, 1e-9);
    /* h = 9 * 0.5 = 4.5 -> 5.5, the even-count median */
    assert_near(qp_stats_percentile(x, 10, 50.0), 5.5, EPS);
    /* out-of-range p clamps to the ends */
    assert_near(qp_stats_percentile(x, 10, -5.0), 1.0, EPS);
    assert_near(qp_stats_percentile(x, 10, 250.0), 10.0, EPS);

    double y[] = {3.0, -1.0, 2.0, 2.0, 0.5};
    qp_stats_sort(y, 5);
    for (int i = 1; i < 5; i++)
        assert_true(y[i - 1] <= y[i]);
    assert_near(y[0], -1.0, 0.0);
    assert_near(y[4], 3.0, 0.0);
}

/* ======================================================================== */
/* membw: cache size and bandwidth                                          */
/* ======================================================================== */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fake sysfs cache directory: index<i>/{type,size}. */
static void make_index(const char *root, int i, const char *type, const char *size)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/index%d", root, i);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(dir, "type", type);
    write_file(dir, "size", size);
}

static void remove_tree(const char *root, int n_index)
{
    char path[512];
    for (int i = 0; i < n_index; i++) {
        snprintf(path, sizeof path, "%s/index%d/type", root, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/index%d/size", root, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/index%d", root, i);
        rmdir(path);
    }
    rmdir(root);
}

static void test_llc_from_sysfs_layout(void **state)
{
    (void)state;
    char root[] = "/tmp/qp_test_cacheXXXXXX";
    assert_non_null(mkdtemp(root));
    /* the layout of the Zen development VM, plus a bigger instruction cache
     * that must be ignored and an unreadable size that must be skipped */
    make_index(root, 0, "Data\n", "32K\n");
    make_index(root, 1, "Instruction\n", "65536K\n");
    make_index(root, 2, "Unified\n", "512K\n");
    make_index(root, 3, "Unified\n", "8192K\n");
    make_index(root, 4, "Unified\n", "lots\n");
    int found = -1;
    assert_int_equal(qp_llc_bytes(root, &found), (size_t)8 << 20);
    assert_int_equal(found, 1);
    remove_tree(root, 5);

    /* no such directory: the documented fallback */
    found = -1;
    assert_int_equal(qp_llc_bytes("/nonexistent/qprof/cache", &found), QP_LLC_FALLBACK_BYTES);
    assert_int_equal(found, 0);
    assert_int_equal(QP_LLC_FALLBACK_BYTES, (size_t)32 << 20);

    /* the real machine: something between 64 KiB and 4 GiB either way */
    const size_t real = qp_llc_bytes(NULL, NULL);
    assert_true(real >= (size_t)64 << 10 && real <= (size_t)4 << 30);
}

static void test_membw_small_buffer(void **state)
{
    (void)state;
    const size_t bytes = (size_t)1 << 20;
    void *buf = qp_membw_alloc(bytes, 1);
    assert_non_null(buf);
    assert_int_equal((uintptr_t)buf % 64, 0);
    for (int threads = 1; threads <= 2; threads++) {
        qp_membw_result r;
        qp_error err;
        qp_error_clear(&err);
        assert_int_equal(qp_membw_read(buf, bytes, threads, 3, &r, &err), QP_OK);
        assert_true(isfinite(r.best_gbs) && r.best_gbs > 0.0);
        assert_true(isfinite(r.median_gbs) && r.median_gbs > 0.0);
        assert_true(r.median_gbs <= r.best_gbs);
        /* 1 MiB read in less than a nanosecond would be > 1e6 GB/s: a loop
         * the compiler removed, not a measurement */
        assert_true(r.best_gbs < 1e6);
        assert_int_equal(r.bytes, bytes);
        assert_int_equal(r.threads, threads);
        assert_int_equal(r.reps, 3);
        assert_non_null(r.method);
        assert_true(!strcmp(r.method, "avx2") || !strcmp(r.method, "c"));
    }
    free(buf);
}

static void test_membw_bad_arguments(void **state)
{
    (void)state;
    void *buf = qp_membw_alloc(4096, 0);
    assert_non_null(buf);
    qp_membw_result r;
    qp_error err;
    qp_error_clear(&err);
    assert_int_equal(qp_membw_read((char *)buf + 8, 1024, 1, 1, &r, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "aligned"));
    assert_int_equal(qp_membw_read(buf, 4096, 0, 1, &r, &err), QP_ERR_INPUT);
    assert_int_equal(qp_membw_read(buf, 4096, 1, 0, &r, &err), QP_ERR_INPUT);
    /* 64 bytes for 2 threads: less than a cache line each */
    qp_error_clear(&err);
    assert_int_equal(qp_membw_read(buf, 64, 2, 1, &r, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "too small"));
    free(buf);
}

/* ======================================================================== */
/* perfcount                                                                */
/* ======================================================================== */

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile uint64_t spin_sink;

/* Burns `seconds` of this thread's CPU time in user space. */
static double spin_cpu(double seconds)
{
    const double t0 = thread_cpu_seconds();
    uint64_t x = 1;
    while (thread_cpu_seconds() - t0 < seconds)
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    spin_sink = x;
    return thread_cpu_seconds() - t0;
}

static void *spin_thread(void *p)
{
    *(double *)p = spin_cpu(0.03);
    return NULL;
}

static void test_perf_disabled_by_env(void **state)
{
    (void)state;
    setenv("QPROF_NO_PERF", "1", 1);
    qp_perfcount pc;
    assert_int_equal(qp_perfcount_open(&pc, QP_PERF_ALL), 0);
    unsetenv("QPROF_NO_PERF");
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        assert_false(qp_perfcount_available(&pc, (enum qp_perf_event)e));
        assert_string_equal(qp_perfcount_reason(&pc, (enum qp_perf_event)e), "disabled by QPROF_NO_PERF");
    }
    /* the fallback path: start/stop still work and report nothing */
    qp_perf_values v;
    memset(&v, 0xFF, sizeof v);
    qp_perfcount_start(&pc);
    spin_cpu(0.001);
    qp_perfcount_stop(&pc, &v);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        assert_int_equal(v.valid[e], 0);
        assert_near(v.value[e], 0.0, 0.0);
    }
    qp_perfcount_close(&pc);
    qp_perfcount_close(&pc); /* twice is harmless */

    /* QPROF_NO_PERF=0 means "not disabled" */
    setenv("QPROF_NO_PERF", "0", 1);
    assert_int_equal(qp_perfcount_open(&pc, 0), 0);
    unsetenv("QPROF_NO_PERF");
    assert_string_equal(qp_perfcount_reason(&pc, QP_PERF_CYCLES), "not requested");
    qp_perfcount_close(&pc);

    assert_string_equal(qp_perf_event_name(QP_PERF_CYCLES), "cycles");
    assert_string_equal(qp_perf_event_name(QP_PERF_LLC_MISSES), "llc-misses");
    assert_string_equal(qp_perf_event_name((enum qp_perf_event)99), "?");
}

/* Whatever this machine allows: every event is either open or has a
 * reason; open events count the calling thread AND a thread it starts
 * afterwards (inherit), and a second interval does not include the first. */
static void test_perf_open_or_clean_reason(void **state)
{
    (void)state;
    unsetenv("QPROF_NO_PERF");
    qp_perfcount pc;
    const int opened = qp_perfcount_open(&pc, QP_PERF_ALL);
    int counted = 0;
    for (int e = 0; e < QP_PERF_N_EVENTS; e++) {
        const int ok = qp_perfcount_available(&pc, (enum qp_perf_event)e);
        counted += ok;
        const char *why = qp_perfcount_reason(&pc, (enum qp_perf_event)e);
        if (ok)
            assert_string_equal(why, "");
        else
            assert_true(strlen(why) > 5);
        printf("  %-12s %s\n", qp_perf_event_name((enum qp_perf_event)e), ok ? "available" : why);
    }
    assert_int_equal(opened, counted);

    /* interval 1: 30 ms in this thread and 30 ms in a thread started now */
    qp_perf_values v1, v2;
    double helper = 0.0;
    pthread_t th;
    qp_perfcount_start(&pc);
    const double own = spin_cpu(0.03);
    assert_int_equal(pthread_create(&th, NULL, spin_thread, &helper), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    qp_perfcount_stop(&pc, &v1);
    /* interval 2: next to nothing */
    qp_perfcount_start(&pc);
    qp_perfcount_stop(&pc, &v2);

    if (qp_perfcount_available(&pc, QP_PERF_TASK_CLOCK) && v1.valid[QP_PERF_TASK_CLOCK]) {
        const double ms = v1.value[QP_PERF_TASK_CLOCK] / 1e6, want = (own + helper) * 1e3;
        printf("  task-clock %.1f ms for %.1f ms of CPU in two threads\n", ms, want);
        /* both threads: well above one thread's 30 ms */
        assert_true(ms > 0.8 * want);
        assert_true(ms < 1.5 * want + 20.0);
        /* the exited helper's time is not reported again */
        assert_true(!v2.valid[QP_PERF_TASK_CLOCK] || v2.value[QP_PERF_TASK_CLOCK] / 1e6 < 10.0);
    }
    if (qp_perfcount_available(&pc, QP_PERF_INSTRUCTIONS) && v1.valid[QP_PERF_INSTRUCTIONS]) {
        /* 60 ms of a multiply-add loop is hundreds of millions of instructions */
        assert_true(v1.value[QP_PERF_INSTRUCTIONS] > 1e6);
        assert_true(v1.running_frac[QP_PERF_INSTRUCTIONS] > 0.0 &&
                    v1.running_frac[QP_PERF_INSTRUCTIONS] <= 1.0);
    }
    if (qp_perfcount_available(&pc, QP_PERF_CYCLES) && v1.valid[QP_PERF_CYCLES])
        assert_true(v1.value[QP_PERF_CYCLES] > 1e6);
    qp_perfcount_close(&pc);
    for (int e = 0; e < QP_PERF_N_EVENTS; e++)
        assert_false(qp_perfcount_available(&pc, (enum qp_perf_event)e));
}

/* ======================================================================== */
/* smoke run of the command                                                 */
/* ======================================================================== */

static int column_of(char **cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i], name) == 0)
            return i;
    fail_msg("CSV column '%s' missing", name);
    return -1;
}

/* Splits a CSV line in place (no quoting in qprof's CSV). */
static int split_csv(char *line, char **cols, int max)
{
    int n = 0;
    cols[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') {
            *p = '\0';
            cols[n++] = p + 1;
        }
    return n;
}

#define SMOKE_ARGS "bench kernels --types q8_0 --shape 64x256 -n 1 --reps 3 --membw-mib 8"

static void test_smoke_csv(void **state)
{
    (void)state;
    if (access(qp_cli_bin(), X_OK) != 0) {
        printf("skipped: qprof not built next to this test\n");
        skip();
    }
    char *out;
    assert_int_equal(
        qp_cli_run("QPROF_NO_PROGRESS=1", QP_CLI_STDERR_INHERIT, &out, NULL, SMOKE_ARGS " --csv"), 0);

    char *cols[64], *hdr[64];
    int n_hdr = 0, rows = 0, saw_bw = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            saw_bw |= strstr(line, "memory read bandwidth") != NULL;
            continue;
        }
        if (!n_hdr) {
            n_hdr = split_csv(line, hdr, 64);
            continue;
        }
        const int n = split_csv(line, cols, 64);
        assert_int_equal(n, n_hdr);
        assert_string_equal(cols[column_of(hdr, n_hdr, "type")], "q8_0");
        assert_true(strlen(cols[column_of(hdr, n_hdr, "variant")]) > 0);
        assert_int_equal(atoi(cols[column_of(hdr, n_hdr, "m")]), 64);
        assert_int_equal(atoi(cols[column_of(hdr, n_hdr, "k")]), 256);
        assert_int_equal(atoi(cols[column_of(hdr, n_hdr, "n")]), 1);
        const int threads = atoi(cols[column_of(hdr, n_hdr, "threads")]);
        assert_true(threads == 1 || threads == 2);
        assert_int_equal(atoi(cols[column_of(hdr, n_hdr, "runs")]), 3);
        const double med = atof(cols[column_of(hdr, n_hdr, "median_ms")]);
        const double mn = atof(cols[column_of(hdr, n_hdr, "min_ms")]);
        const double mx = atof(cols[column_of(hdr, n_hdr, "max_ms")]);
        assert_true(med > 0.0 && mn <= med && med <= mx);
        /* 64 rows of 256 q8_0 weights: 64 * 8 blocks * 34 bytes */
        assert_int_equal(atoi(cols[column_of(hdr, n_hdr, "weight_bytes")]), 64 * 8 * 34);
        /* copies reach 2x the LLC: 17408 bytes each */
        const int copies = atoi(cols[column_of(hdr, n_hdr, "weight_copies")]);
        assert_true((size_t)copies * 17408 >= 2 * qp_llc_bytes(NULL, NULL));
        const double gbs = atof(cols[column_of(hdr, n_hdr, "gbs")]);
        /* GB/s is weight bytes / median time, to the printed precision */
        assert_true(fabs(gbs - 17408.0 / (med * 1e-3) / 1e9) < 0.01 * gbs + 0.002);
        const double gflops = atof(cols[column_of(hdr, n_hdr, "gflops")]);
        assert_true(fabs(gflops - 2.0 * 64 * 256 / (med * 1e-3) / 1e9) < 0.01 * gflops + 0.002);
        assert_true(atof(cols[column_of(hdr, n_hdr, "membw_gbs")]) > 0.0);
        column_of(hdr, n_hdr, "speedup_vs_scalar");
        column_of(hdr, n_hdr, "ipc");
        column_of(hdr, n_hdr, "task_clock_ms");
        column_of(hdr, n_hdr, "cpu_share");
        column_of(hdr, n_hdr, "mean_ms");
        rows++;
    }
    assert_true(n_hdr > 0);
    assert_true(saw_bw);
    /* at least scalar at 1 and 2 threads */
    assert_true(rows >= 2);
    free(out);
}

static void test_smoke_json_and_usage(void **state)
{
    (void)state;
    if (access(qp_cli_bin(), X_OK) != 0) {
        printf("skipped: qprof not built next to this test\n");
        skip();
    }
    char *out;
    assert_int_equal(qp_cli_run("QPROF_NO_PROGRESS=1 QPROF_NO_PERF=1", QP_CLI_STDERR_INHERIT, &out,
                                NULL, SMOKE_ARGS " --threads 1 --json"),
                     0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    assert_true(cJSON_IsArray(res) && cJSON_GetArraySize(res) >= 1);
    const cJSON *r0 = cJSON_GetArrayItem(res, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r0, "variant")->valuestring, "scalar");
    assert_true(cJSON_GetObjectItemCaseSensitive(r0, "median_ms")->valuedouble > 0.0);
    /* scalar has no scalar to compare with */
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r0, "speedup_vs_scalar")));
    /* QPROF_NO_PERF: the counters say why they are missing */
    const cJSON *cyc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "counters"), "cycles");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cyc, "available")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cyc, "reason")->valuestring,
                        "disabled by QPROF_NO_PERF");
    const cJSON *bw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "machine"), "memory_read_bandwidth");
    assert_int_equal(cJSON_GetArraySize(bw), 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "config"),
                                                         "weights")->valuestring, "rotated");
    cJSON_Delete(root);
    free(out);

    /* --hot: one copy of W, however small it is (rotated, 17408 bytes need
     * several copies to exceed 2 x LLC, as test_smoke_csv checks) */
    assert_int_equal(qp_cli_run("QPROF_NO_PROGRESS=1 QPROF_NO_PERF=1", QP_CLI_STDERR_INHERIT, &out,
                                NULL, SMOKE_ARGS " --threads 1 --hot --json"),
                     0);
    root = cJSON_Parse(out);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "config"),
                                                         "weights")->valuestring, "hot");
    res = cJSON_GetObjectItemCaseSensitive(root, "results");
    assert_true(cJSON_IsArray(res) && cJSON_GetArraySize(res) >= 1);
    for (int i = 0; i < cJSON_GetArraySize(res); i++)
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, i), "weight_copies")->valueint, 1);
    cJSON_Delete(root);
    free(out);

    /* K = 100 is no multiple of q4_K's 256: bad input, exit 2 */
    assert_int_equal(qp_cli_run(NULL, QP_CLI_STDERR_INHERIT, &out, NULL,
                                "bench kernels --types q4_K --shape 64x100 2>/dev/null"),
                     2);
    free(out);
    assert_int_equal(qp_cli_run(NULL, QP_CLI_STDERR_INHERIT, &out, NULL,
                                "bench kernels --variants nosuch 2>/dev/null"),
                     2);
    free(out);
    assert_int_equal(qp_cli_run(NULL, QP_CLI_STDERR_INHERIT, &out, NULL, "bench kernels --list"), 0);
    assert_non_null(strstr(out, "scalar"));
    assert_non_null(strstr(out, "usable:"));
    free(out);
}

/* The layout column: a variant with a packed layout for the type reads
 * packed weights by default (as the forward pass gives them), plain rows
 * with --rows; both agree with the library's qp_pack_name. */
static void test_smoke_layout(void **state)
{
    (void)state;
    if (access(qp_cli_bin(), X_OK) != 0) {
        printf("skipped: qprof not built next to this test\n");
        skip();
    }
    const char *args[2] = { "bench kernels --types q4_K --shape 17x512 -n 1,5 --reps 3 --membw-mib 8 --threads 1 --json",
                            "bench kernels --types q4_K --shape 17x512 -n 1,5 --reps 3 --membw-mib 8 --threads 1 --json --rows" };
    int packed_rows = 0;
    for (int a = 0; a < 2; a++) {
        char *out;
        assert_int_equal(qp_cli_run("QPROF_NO_PROGRESS=1 QPROF_NO_PERF=1", QP_CLI_STDERR_INHERIT, &out, NULL,
                                    "%s", args[a]),
                         0);
        cJSON *root = cJSON_Parse(out);
        assert_non_null(root);
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
        assert_true(cJSON_IsArray(res) && cJSON_GetArraySize(res) >= 2);
        for (int i = 0; i < cJSON_GetArraySize(res); i++) {
            const cJSON *r = cJSON_GetArrayItem(res, i);
            const char *vname = cJSON_GetObjectItemCaseSensitive(r, "variant")->valuestring;
            const char *layout = cJSON_GetObjectItemCaseSensitive(r, "layout")->valuestring;
            const char *want = qp_pack_name(qp_kernels_by_name(vname, NULL), QP_TYPE_Q4_K);
            if (a == 1 || !want)
                assert_string_equal(layout, "rows");
            else
                assert_string_equal(layout, want);
            packed_rows += a == 0 && want;
            assert_true(cJSON_GetObjectItemCaseSensitive(r, "median_ms")->valuedouble > 0.0);
        }
        cJSON_Delete(root);
        free(out);
    }
    printf("layout: %d packed rows\n", packed_rows);

    /* --list names each variant's packed layouts */
    char *out;
    assert_int_equal(qp_cli_run(NULL, QP_CLI_STDERR_INHERIT, &out, NULL, "bench kernels --list --json"), 0);
    cJSON *root = cJSON_Parse(out);
    assert_true(cJSON_IsArray(root) && cJSON_GetArraySize(root) >= 1);
    for (int i = 0; i < cJSON_GetArraySize(root); i++) {
        const cJSON *o = cJSON_GetArrayItem(root, i);
        const qp_kernels *v = qp_kernels_by_name(cJSON_GetObjectItemCaseSensitive(o, "variant")->valuestring, NULL);
        const cJSON *pk = cJSON_GetObjectItemCaseSensitive(o, "packed_layouts");
        assert_true(cJSON_IsArray(pk));
        if (!v) /* compiled in, not usable here: by_name refuses it */
            continue;
        int want = 0;
        for (int t = 0; t < QP_TYPE_COUNT; t++)
            want += qp_pack_name(v, (enum qp_type)t) != NULL;
        assert_int_equal(cJSON_GetArraySize(pk), want);
        if (qp_pack_name(v, QP_TYPE_Q4_K)) {
            int found = 0;
            for (int j = 0; j < cJSON_GetArraySize(pk); j++)
                found += strcmp(cJSON_GetArrayItem(pk, j)->valuestring, qp_pack_name(v, QP_TYPE_Q4_K)) == 0;
            assert_int_equal(found, 1);
        }
    }
    cJSON_Delete(root);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_odd),
        cmocka_unit_test(test_stats_even),
        cmocka_unit_test(test_stats_outlier),
        cmocka_unit_test(test_stats_single_and_bad),
        cmocka_unit_test(test_stats_percentile),
        cmocka_unit_test(test_llc_from_sysfs_layout),
        cmocka_unit_test(test_membw_small_buffer),
        cmocka_unit_test(test_membw_bad_arguments),
        cmocka_unit_test(test_perf_disabled_by_env),
        cmocka_unit_test(test_perf_open_or_clean_reason),
        cmocka_unit_test(test_smoke_csv),
        cmocka_unit_test(test_smoke_json_and_usage),
        cmocka_unit_test(test_smoke_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
