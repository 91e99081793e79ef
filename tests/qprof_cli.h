/* tests/qprof_cli.h - running the qprof binary from a cmocka test.
 *
 * Tests that check the command line as a user meets it (exit codes, what
 * goes to stdout and what to stderr) run the qprof of the same build
 * through popen. Every tests/test_*.c is compiled alone (see the
 * Makefile), so the helpers are static inline: a file that uses only part
 * of them gets no -Wunused-function.
 * Include after <cmocka.h>.
 */
#ifndef QP_TESTS_QPROF_CLI_H
#define QP_TESTS_QPROF_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- locating the binary ---- */

/* $QPROF_BIN when set; else the qprof beside this test's build folder
 * (<build>/tests/test_x -> <build>/qprof, so `make check` runs
 * build-san/qprof); else "build/qprof", relative to the repository root
 * where the tests run. */
static inline const char *qp_cli_bin(void)
{
    const char *b = getenv("QPROF_BIN");
    if (b && *b)
        return b;
    static char path[4096]; /* "<build>/tests/test_x", cut to "<build>/qprof" */
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return "build/qprof";
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (slash)
        *slash = '\0'; /* <build>/tests */
    slash = strrchr(path, '/');
    if (!slash)
        return "build/qprof";
    /* "/qprof" replaces "/tests", which is as long: it fits */
    strcpy(slash, "/qprof");
    return path;
}

/* ---- running it ---- */

/* Reads FP to its end into a malloc'd, NUL-terminated buffer (its length
 * in *len when len is not NULL). */
static inline char *qp_cli_read_all(FILE *fp, size_t *len)
{
    /* buf: cap bytes, n of them read, one kept for the NUL */
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (cap - n < 4096) {
            char *grown = realloc(buf, cap * 2);
            assert_non_null(grown);
            buf = grown;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Runs the shell command CMD and returns all it writes to stdout (malloc'd,
 * NUL-terminated); *status gets its exit code, -1 when it did not exit. */
static inline char *qp_cli_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *buf = qp_cli_read_all(p, NULL);
    const int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* Where the child's stderr goes. */
enum qp_cli_stderr {
    QP_CLI_STDERR_MERGE,   /* 2>&1: into the captured stdout */
    QP_CLI_STDERR_CAPTURE, /* a temporary file, returned apart */
    QP_CLI_STDERR_INHERIT, /* left alone (the test's stderr, or a redirect in ARGS) */
};

/* Runs `ENV 'qprof' ARGS`, ARGS from fmt, through the shell. ENV is NULL
 * or "NAME=value ..." for this command only. *out gets stdout (malloc'd);
 * *err gets stderr (malloc'd) with QP_CLI_STDERR_CAPTURE and is left
 * untouched otherwise (err may then be NULL). Returns the exit code, -1
 * when qprof did not exit (a signal: a sanitizer abort, a crash). */
__attribute__((format(printf, 5, 0))) static inline int
qp_cli_vrun(const char *env, enum qp_cli_stderr mode, char **out, char **err, const char *fmt,
            va_list ap)
{
    char args[2048], errf[64] = "", redir[80] = "", cmd[4096 + 2048 + 256];
    const int na = vsnprintf(args, sizeof args, fmt, ap);
    assert_true(na >= 0 && (size_t)na < sizeof args); /* a cut command would test something else */
    if (mode == QP_CLI_STDERR_MERGE) {
        snprintf(redir, sizeof redir, " 2>&1");
    } else if (mode == QP_CLI_STDERR_CAPTURE) {
        /* mkstemp: a name no concurrent test run shares */
        snprintf(errf, sizeof errf, "/tmp/qprof_cli_err_XXXXXX");
        const int fd = mkstemp(errf);
        assert_true(fd >= 0);
        close(fd);
        snprintf(redir, sizeof redir, " 2>'%s'", errf);
    }
    const int n = snprintf(cmd, sizeof cmd, "%s%s'%s' %s%s", env ? env : "", env ? " " : "",
                           qp_cli_bin(), args, redir);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    int status;
    *out = qp_cli_capture(cmd, &status);
    if (mode == QP_CLI_STDERR_CAPTURE) {
        FILE *fp = fopen(errf, "rb");
        assert_non_null(fp);
        *err = qp_cli_read_all(fp, NULL);
        fclose(fp);
        unlink(errf);
    }
    return status;
}

__attribute__((format(printf, 5, 6))) static inline int
qp_cli_run(const char *env, enum qp_cli_stderr mode, char **out, char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int rc = qp_cli_vrun(env, mode, out, err, fmt, ap);
    va_end(ap);
    return rc;
}

#endif
