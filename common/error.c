#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void qp_error_clear(qp_error *e)
{
    if (!e)
        return;
    e->status = QP_OK;
    e->offset = -1;
    e->file[0] = '\0';
    e->msg[0] = '\0';
}

qp_status qp_error_set(qp_error *e, qp_status status, const char *file,
                       int64_t offset, const char *fmt, ...)
{
    if (!e)
        return status;
    e->status = status;
    e->offset = offset;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return status;
}

const char *qp_error_format(const qp_error *e, char *buf, int size)
{
    int n = 0;
    buf[0] = '\0';
    if (e->file[0])
        n += snprintf(buf + n, size > n ? (size_t)(size - n) : 0, "%s: ", e->file);
    if (e->offset >= 0 && n < size)
        n += snprintf(buf + n, (size_t)(size - n), "offset %lld: ", (long long)e->offset);
    if (n < size)
        snprintf(buf + n, (size_t)(size - n), "%s", e->msg[0] ? e->msg : "unknown error");
    return buf;
}
