/* output/output.h - pictures: an RGB canvas with a bitmap font, PNG
 * writing, and heatmaps. The public header of output/.
 */
#ifndef QP_OUTPUT_H
#define QP_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"

/* ==================================================================== */
/* canvas: a tiny RGB raster with text, for the heatmaps.
 *
 * Just enough drawing for legible charts without a graphics dependency:
 * filled rectangles, lines, and text in a built-in 5x7 bitmap font scaled
 * by an integer factor (horizontal or rotated 90 degrees for y-axis
 * labels). The PNG encoding is in png_write.c, the only file that touches
 * libpng.
 */

typedef struct qp_rgb {
    uint8_t r, g, b;
} qp_rgb;

typedef struct qp_canvas {
    int width, height;
    uint8_t *pixels; /* [height][width][3], row-major, top row first */
} qp_canvas;

/* Glyph cell of the font at scale 1: 5x7 pixels drawn in a 6x9 cell. */
enum { QP_FONT_W = 5, QP_FONT_H = 7, QP_FONT_ADVANCE = 6, QP_FONT_LINE = 9 };

/* Allocates a width x height canvas filled with `bg`; sizes are checked
 * (1..16384) before allocating. */
qp_status qp_canvas_init(qp_canvas *c, int width, int height, qp_rgb bg, qp_error *err);
void qp_canvas_free(qp_canvas *c);

/* Clipped to the canvas. */
void qp_canvas_fill(qp_canvas *c, int x, int y, int w, int h, qp_rgb color);
void qp_canvas_hline(qp_canvas *c, int x, int y, int w, qp_rgb color);
void qp_canvas_vline(qp_canvas *c, int x, int y, int h, qp_rgb color);
void qp_canvas_rect(qp_canvas *c, int x, int y, int w, int h, qp_rgb color); /* outline */

/* Text with its top-left corner at (x, y); characters outside printable
 * ASCII are drawn as '?'. Returns the width in pixels. */
int qp_canvas_text(qp_canvas *c, int x, int y, const char *s, int scale, qp_rgb color);
/* Text rotated 90 degrees counter-clockwise (reads bottom to top), with the
 * bottom-left of the first character at (x, y + its width). */
int qp_canvas_text_up(qp_canvas *c, int x, int y, const char *s, int scale, qp_rgb color);
/* Width of `s` in pixels at `scale`. */
int qp_text_width(const char *s, int scale);

/* Writes the canvas as an 8-bit RGB PNG, atomically (temporary file in the
 * same directory, then rename): a failure leaves no partial file. */
qp_status qp_canvas_write_png(const qp_canvas *c, const char *path, qp_error *err);

/* ==================================================================== */
/* heatmap: PNG heatmaps of per-layer, per-block measurements.
 *
 * One image holds one or more panels (e.g. one per quantization type) that
 * share rows (layers), columns (blocks or tensors) and one colour scale, so
 * the panels compare directly. Every image carries a title, axis labels,
 * row and column names and a colour bar with its units: it must be readable
 * without the README.
 */

typedef struct qp_heatmap_panel {
    const char *name;     /* caption above the panel, e.g. "q4_K"; may be NULL */
    const double *values; /* [rows][cols]; NaN (or <= 0 on a log scale) = no data */
} qp_heatmap_panel;

typedef struct qp_heatmap {
    const char *title;       /* first line, large */
    const char *subtitle;    /* second line (model, reference, tokens); may be NULL */
    const char *value_label; /* colour bar caption with units, e.g. "relative L2 error (%)" */
    const char *x_label;     /* e.g. "block" */
    const char *y_label;     /* e.g. "layer" */
    int rows, cols;
    const char *const *col_names; /* cols names */
    const char *const *row_names; /* rows names, or NULL for 0, 1, 2, ... */
    int n_panels;
    const qp_heatmap_panel *panels;
    int log_scale;  /* colour by log10(value) */
    double vmin, vmax; /* colour range; vmin >= vmax: from the data */
    int annotate;   /* write each value in its cell (when it fits) */
} qp_heatmap;

/* Colour of t in [0, 1] on the viridis map (dark purple -> yellow; perceptually
 * uniform and readable in grey and by colour-blind readers). */
qp_rgb qp_colormap_viridis(double t);

/* Draws the heatmap into a canvas it allocates (qp_canvas_free it). */
qp_status qp_heatmap_render(const qp_heatmap *h, qp_canvas *out, qp_error *err);

/* Renders and writes a PNG atomically. */
qp_status qp_heatmap_write_png(const qp_heatmap *h, const char *path, qp_error *err);

/* ==================================================================== */
/* h5: HDF5 files as qprof writes and reads them (output/h5.c). A writer
 * goes to PATH.tmp.XXXXXX and is renamed into place by qp_h5_commit only
 * when everything was written: a crash or a full disk leaves the previous
 * file or none. Both sides remember their first failure and do nothing
 * after it, so a caller writes or reads everything and checks once. */

enum qp_h5_type { QP_H5_F64, QP_H5_I32, QP_H5_I64, QP_H5_U8 };

typedef struct qp_h5_writer qp_h5_writer;

/* QP_ERR_RUNTIME when the temporary cannot be created. */
qp_status qp_h5_create(const char *path, qp_h5_writer **out, qp_error *err);
/* Root attributes. */
void qp_h5_attr_str(qp_h5_writer *w, const char *name, const char *value);
void qp_h5_attr_int(qp_h5_writer *w, const char *name, long long value);
void qp_h5_group(qp_h5_writer *w, const char *path);
/* Dimension scales, returning the id to name in a data set's `scales`:
 * n UTF-8 strings, or the indices 0..n-1 (int32). -1 on failure. */
int qp_h5_scale_strings(qp_h5_writer *w, const char *path, const char *const *names, uint64_t n, const char *desc);
int qp_h5_scale_index(qp_h5_writer *w, const char *path, uint64_t n, const char *desc);
/* A data set of dims[0] x ... x dims[rank-1] values, little-endian in the
 * file, with "units" and "description" attributes (each may be NULL) and
 * its dimensions attached to scales[0..rank) (may be NULL; -1: none). */
void qp_h5_dataset(qp_h5_writer *w, const char *path, enum qp_h5_type type, int rank, const uint64_t *dims,
                   const void *data, const char *units, const char *desc, const int *scales);
/* Marks the file as failed (e.g. the caller ran out of memory). */
void qp_h5_fail(qp_h5_writer *w);
/* Closes; renames the file into place, or removes it after any failure
 * (QP_ERR_RUNTIME). Frees w (NULL is fine). */
qp_status qp_h5_commit(qp_h5_writer *w, qp_error *err);

typedef struct qp_h5_reader qp_h5_reader;

/* QP_ERR_INPUT when path is unreadable or not HDF5. */
qp_status qp_h5_open(const char *path, qp_h5_reader **out, qp_error *err);
/* The first failure so far (QP_OK: none). */
qp_status qp_h5_status(const qp_h5_reader *r);
/* Records that `obj` is invalid ("obj: what"), QP_ERR_INPUT. */
void qp_h5_invalid(qp_h5_reader *r, const char *obj, const char *what);
/* Closes and returns the first failure. Frees r (NULL is fine). */
qp_status qp_h5_close(qp_h5_reader *r);
int qp_h5_has_attr(qp_h5_reader *r, const char *name);
void qp_h5_read_attr_str(qp_h5_reader *r, const char *name, char *out, size_t size);
long long qp_h5_read_attr_int(qp_h5_reader *r, const char *name);
/* Length of a 1-d data set, or -1. */
long long qp_h5_length(qp_h5_reader *r, const char *path);
/* Reads a data set whose shape must be exactly dims[0..rank). */
void qp_h5_read(qp_h5_reader *r, const char *path, enum qp_h5_type type, int rank, const uint64_t *dims,
                void *out);
/* Reads n strings into out[i * width], each cut to width - 1 bytes. */
void qp_h5_read_strings(qp_h5_reader *r, const char *path, uint64_t n, char *out, size_t width);

#endif
