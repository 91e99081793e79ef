/* output/png_write.c - the one file that touches libpng.
 *
 * libpng reports errors by longjmp; the setjmp stays here, and everything
 * the jump could skip (the FILE, the temporary file, the row pointers) is
 * owned by variables that survive it (volatile where they change after
 * setjmp). The image goes to PATH.tmp.XXXXXX, then rename(): a failure
 * never leaves a partial PNG under the final name.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

qp_status qp_canvas_write_png(const qp_canvas *c, const char *path, qp_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create: %m");
        free(tmp);
        return st;
    }
    FILE *volatile fp = fdopen(fd, "wb");
    png_bytep *volatile rows = NULL;
    png_structp png = NULL;
    png_infop info = NULL;
    qp_status st = QP_ERR_RUNTIME;

    if (!fp) {
        close(fd);
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot open temporary file: %m");
        goto fail;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (png)
        info = png_create_info_struct(png);
    if (!png || !info) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "libpng initialisation failed");
        goto fail;
    }
    rows = malloc((size_t)c->height * sizeof *rows);
    if (!rows) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
        goto fail;
    }
    if (setjmp(png_jmpbuf(png))) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "PNG encoding failed (disk full?)");
        goto fail;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < c->height; y++)
        rows[y] = c->pixels + (size_t)y * (size_t)c->width * 3;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    rows = NULL;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "write failed: %m");
        goto fail_closed_png;
    }
    FILE *f = fp;
    fp = NULL;
    if (fclose(f) != 0) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "write failed: %m");
        goto fail_closed_png;
    }
    if (rename(tmp, path) != 0) {
        qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot rename into place: %m");
        goto fail_closed_png;
    }
    free(tmp);
    return QP_OK;

fail:
    if (png)
        png_destroy_write_struct(&png, info ? &info : NULL);
fail_closed_png:
    free(rows);
    if (fp)
        fclose(fp);
    unlink(tmp);
    free(tmp);
    return st;
}
