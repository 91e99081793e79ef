/* profiler/heatmap.h - PNG heatmaps of per-layer, per-block measurements.
 *
 * One image holds one or more panels (e.g. one per quantization type) that
 * share rows (layers), columns (blocks or tensors) and one colour scale, so
 * the panels compare directly. Every image carries a title, axis labels,
 * row and column names and a colour bar with its units: it must be readable
 * without the README.
 */
#ifndef QP_PROFILER_HEATMAP_H
#define QP_PROFILER_HEATMAP_H

#include "../common/error.h"
#include "canvas.h"

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

#endif
