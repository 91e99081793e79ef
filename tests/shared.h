/* tests/shared.h - locating ../shared test data from a cmocka test.
 *
 * The data lives beside the checkout (../shared), never in the repo. Tests
 * run from the repository root; QPROF_SHARED overrides the location.
 * Absent data skips the test with "skipped: ../shared not found", except
 * under CI (CI=true), where it is a failure.
 * Include after <cmocka.h>.
 */
#ifndef QP_TESTS_SHARED_H
#define QP_TESTS_SHARED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static inline const char *qp_test_shared_dir(void)
{
    const char *d = getenv("QPROF_SHARED");
    if (!d || !*d)
        d = "../shared";
    struct stat st;
    return (stat(d, &st) == 0 && S_ISDIR(st.st_mode)) ? d : NULL;
}

/* Builds "<shared>/<rel>" into buf; NULL if ../shared is absent. */
static inline const char *qp_test_shared_path(char *buf, size_t size, const char *rel)
{
    const char *d = qp_test_shared_dir();
    if (!d)
        return NULL;
    snprintf(buf, size, "%s/%s", d, rel);
    return buf;
}

/* Use at the top of a test that needs ../shared. */
#define QP_REQUIRE_SHARED()                                                    \
    do {                                                                       \
        if (!qp_test_shared_dir()) {                                           \
            const char *ci_ = getenv("CI");                                    \
            if (ci_ && strcmp(ci_, "true") == 0)                               \
                fail_msg("../shared not found (required under CI=true)");      \
            printf("skipped: ../shared not found\n");                          \
            skip();                                                            \
        }                                                                      \
    } while (0)

#endif
