/* tests/test_common.c - common/: whole-file reads, SHA-256, percentiles at
 * their edges, huge-page allocation. (The timing statistics are tested
 * with the benchmark that uses them, tests/test_bench*.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/qprof-common-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    /* bytes, an embedded NUL included, come back as written plus a NUL */
    write_file(path, "ab\0cd\n", 6);
    char *b = NULL;
    size_t n = 0;
    qp_error err;
    assert_int_equal(qp_read_file(path, 100, &b, &n, &err), QP_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "ab\0cd\n\0", 7);
    free(b);
    /* exactly at the limit is fine, one byte over is refused before reading */
    assert_int_equal(qp_read_file(path, 6, &b, &n, &err), QP_OK);
    free(b);
    assert_int_equal(qp_read_file(path, 5, &b, &n, &err), QP_ERR_INPUT);
    assert_null(b);
    assert_string_equal(err.file, path);
    /* an empty file is an empty string */
    write_file(path, "", 0);
    assert_int_equal(qp_read_file(path, 5, &b, &n, &err), QP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(b[0], '\0');
    free(b);
    /* a file larger than the first 64 KiB buffer grows it */
    size_t big = 300000;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    write_file(path, data, big);
    assert_int_equal(qp_read_file(path, big, &b, &n, &err), QP_OK);
    assert_int_equal(n, big);
    assert_memory_equal(b, data, big);
    free(b);
    free(data);
    /* missing, a directory */
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(qp_read_file(path, 100, &b, &n, &err), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_equal(qp_read_file(dir, 100, &b, &n, &err), QP_ERR_INPUT);
    assert_null(b);
}

/* A pipe has no size: it is read until the limit, then refused. */
static void test_read_pipe(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    for (int over = 0; over <= 1; over++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            FILE *f = fopen(path, "wb");
            for (int i = 0; f && i < 1000 + over; i++)
                fputc('x', f);
            _exit(f && fclose(f) == 0 ? 0 : 1);
        }
        char *b = NULL;
        size_t n = 0;
        qp_error err;
        const qp_status st = qp_read_file(path, 1000, &b, &n, &err);
        int ws;
        /* the writer may die of SIGPIPE once the reader gives up */
        waitpid(pid, &ws, 0);
        if (over) {
            assert_int_equal(st, QP_ERR_INPUT);
            assert_null(b);
        } else {
            assert_int_equal(st, QP_OK);
            assert_int_equal(n, 1000);
            free(b);
        }
    }
}

static void test_sha256(void **state)
{
    (void)state;
    char path[128], hex[65];
    snprintf(path, sizeof path, "%s/abc", dir);
    write_file(path, "abc", 3);
    qp_error err;
    assert_int_equal(qp_sha256_file(path, hex, &err), QP_OK);
    /* FIPS 180-2, appendix B.1 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(qp_sha256_file(path, hex, &err), QP_ERR_INPUT);
    assert_string_equal(hex, "");
}

static void test_percentile_edges(void **state)
{
    (void)state;
    const double one[1] = {7};
    assert_true(qp_stats_percentile(one, 1, 0) == 7 && qp_stats_percentile(one, 1, 99.9) == 7);
    assert_true(isnan(qp_stats_percentile(one, 0, 50)));
    double x[4] = {4, 1, 3, 2};
    qp_stats_sort(x, 4);
    assert_true(x[0] == 1 && x[3] == 4);
    assert_true(qp_stats_percentile(x, 4, 50) == 2.5);
}

static void test_parse_size(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_true(qp_parse_size("1536", &v) && v == 1536);
    assert_true(qp_parse_size("512M", &v) && v == 512ull << 20);
    assert_true(qp_parse_size("1.5G", &v) && v == 3ull << 29);
    assert_true(qp_parse_size("24GiB", &v) && v == 24ull << 30);
    assert_true(qp_parse_size("2TB", &v) && v == 2ull << 40);
    assert_true(qp_parse_size("4k", &v) && v == 4096);
    assert_true(qp_parse_size("0", &v) && v == 0);
    const char *bad[] = {"", "M", "-1G", "1X", "1 G", "1GG", "nan", "1e30"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(qp_parse_size(bad[i], &v));
}

static void test_huge_alloc(void **state)
{
    (void)state;
    void *p = qp_huge_alloc(1, 1);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % QP_HUGE_PAGE_BYTES, 0);
    memset(p, 1, QP_HUGE_PAGE_BYTES); /* rounded up to a whole huge page */
    free(p);
    assert_null(qp_huge_alloc(0, 1));
    assert_null(qp_huge_alloc(SIZE_MAX - 10, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_read_pipe),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_percentile_edges),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_huge_alloc),
    };
    return cmocka_run_group_tests_name("common", tests, setup, teardown);
}
