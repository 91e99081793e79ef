/* common/file.c - whole-file reads of text inputs (corpora, prompts). */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

qp_status qp_read_file(const char *path, size_t max_bytes, char **out, size_t *len, qp_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(fp);
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "is a directory");
    }
    /* a regular file says its size: refuse it before allocating */
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max_bytes) {
        fclose(fp);
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "file of %lld bytes is larger than the %zu allowed",
                            (long long)sb.st_size, max_bytes);
    }
    size_t cap = 0, n = 0;
    char *b = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes + 1) {
                free(b);
                fclose(fp);
                return qp_error_set(err, QP_ERR_INPUT, path, -1, "input longer than the %zu bytes allowed",
                                    max_bytes);
            }
            size_t want = cap ? 2 * cap : (size_t)1 << 16;
            cap = want > max_bytes + 1 ? max_bytes + 1 : want;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                fclose(fp);
                return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
            }
            b = nb;
        }
        const size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    const int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(b);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "read error");
    }
    if (n > max_bytes) {
        free(b);
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "input longer than the %zu bytes allowed", max_bytes);
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return QP_OK;
}

int qp_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0))
        return 0;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mult > 1 && *end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mult > 1.8e19)
        return 0;
    *out = (uint64_t)(v * mult);
    return 1;
}
