/* common/error.h - errors as values.
 *
 * Library code never prints and never exits: a failing function returns a
 * qp_status and fills a qp_error. Only tools/ turns that into a message of
 * the form "qprof: FILE: offset N: what is wrong" and an exit code, and the
 * status values are chosen so they *are* the exit codes.
 */
#ifndef QP_COMMON_ERROR_H
#define QP_COMMON_ERROR_H

#include <stdint.h>

typedef enum qp_status {
    QP_OK = 0,
    QP_ERR_RUNTIME = 1, /* I/O failure, out of memory, interrupted: exit 1 */
    QP_ERR_INPUT = 2,   /* malformed file, bad argument, unsupported: exit 2 */
} qp_status;

typedef struct qp_error {
    qp_status status;
    int64_t offset;     /* byte offset in `file`, or -1 when it has none */
    char file[512];     /* path or name of the input, "" when none */
    char msg[512];      /* what is wrong, lower case, no trailing period */
} qp_error;

/* Clears *e (if not NULL). */
void qp_error_clear(qp_error *e);

/* Fills *e (if not NULL) and returns `status`, so callers can write
 *     return qp_error_set(err, QP_ERR_INPUT, path, off, "bad magic %08x", m);
 * `file` may be NULL; `offset` < 0 means "no offset". */
qp_status qp_error_set(qp_error *e, qp_status status, const char *file,
                       int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Formats "FILE: offset N: msg" (parts omitted when absent) into buf. */
const char *qp_error_format(const qp_error *e, char *buf, int size);

#endif
