/* output/heatmap.c - layout and colouring of heatmap images.
 *
 * Layout, left to right: y-axis label (rotated), row names, one grid per
 * panel (panel caption and column names above it), colour bar with ticks
 * and its caption (rotated). Title and subtitle on top, x-axis label below.
 * Sizes derive from the font cell (6x9 pixels at scale 1) so nothing
 * overlaps whatever the names are.
 */
#include "output.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* viridis sampled at 0, 0.1, ..., 1.0 (matplotlib's map, CC0); linear
 * interpolation between the 11 samples is visually indistinguishable. */
static const qp_rgb viridis[11] = {
    {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
    {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
    {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25},
};

qp_rgb qp_colormap_viridis(double t)
{
    if (!(t > 0))
        t = 0; /* also NaN */
    if (t > 1)
        t = 1;
    double s = t * 10;
    int i = (int)s;
    if (i >= 10)
        return viridis[10];
    double f = s - i;
    qp_rgb a = viridis[i], b = viridis[i + 1];
    return (qp_rgb){(uint8_t)lround(a.r + f * (b.r - a.r)), (uint8_t)lround(a.g + f * (b.g - a.g)),
                    (uint8_t)lround(a.b + f * (b.b - a.b))};
}

static const qp_rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, GREY = {96, 96, 96},
                    NODATA = {225, 225, 225}, NODATA_HATCH = {190, 190, 190};

enum {
    MARGIN = 16,
    GAP = 28,          /* between panels */
    LABEL_SCALE = 2,   /* axis labels, names, ticks */
    TITLE_SCALE = 3,
    CELL_SCALE = 1,    /* values written in cells */
    BAR_W = 22,
    TICKS = 6,
};

/* Value -> position in [0, 1] of the colour range; NaN when no data. */
static double normalise(const qp_heatmap *h, double v, double lo, double hi)
{
    if (isnan(v) || (h->log_scale && v <= 0))
        return NAN;
    double x = h->log_scale ? log10(v) : v;
    return hi > lo ? (x - lo) / (hi - lo) : 0.5;
}

/* The colour range in the scale's own units (log10 when log_scale). */
static void value_range(const qp_heatmap *h, double *lo, double *hi)
{
    if (h->vmin < h->vmax) {
        *lo = h->log_scale ? log10(h->vmin > 0 ? h->vmin : 1e-30) : h->vmin;
        *hi = h->log_scale ? log10(h->vmax > 0 ? h->vmax : 1e-30) : h->vmax;
        return;
    }
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int p = 0; p < h->n_panels; p++)
        for (int i = 0; i < h->rows * h->cols; i++) {
            double v = h->panels[p].values[i];
            if (isnan(v) || isinf(v) || (h->log_scale && v <= 0))
                continue;
            double x = h->log_scale ? log10(v) : v;
            if (x < *lo)
                *lo = x;
            if (x > *hi)
                *hi = x;
        }
    if (!(*lo <= *hi)) { /* no data at all */
        *lo = 0;
        *hi = 1;
    }
}

static void format_value(double v, char *buf, size_t size)
{
    double a = fabs(v);
    if (v == 0)
        snprintf(buf, size, "0");
    else if (a >= 1e4 || a < 1e-3)
        snprintf(buf, size, "%.1e", v);
    else
        snprintf(buf, size, "%.3g", v);
}

static const char *row_name(const qp_heatmap *h, int r, char *buf, size_t size)
{
    if (h->row_names)
        return h->row_names[r];
    snprintf(buf, size, "%d", r);
    return buf;
}

/* Cell text in black on bright cells, white on dark ones. */
static qp_rgb text_on(qp_rgb bg)
{
    return (0.299 * bg.r + 0.587 * bg.g + 0.114 * bg.b) > 140 ? BLACK : WHITE;
}

qp_status qp_heatmap_render(const qp_heatmap *h, qp_canvas *out, qp_error *err)
{
    out->pixels = NULL;
    if (h->rows < 1 || h->cols < 1 || h->n_panels < 1 || h->rows > 4096 || h->cols > 4096 ||
        h->n_panels > 64)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "heatmap of %d x %d x %d panels is empty or too large",
                            h->rows, h->cols, h->n_panels);

    const int ch = QP_FONT_LINE * LABEL_SCALE; /* label line height */
    char buf[64];

    /* cell size: wide enough for the widest column name and a cell value */
    int name_w = 0;
    for (int c = 0; c < h->cols; c++) {
        int w = qp_text_width(h->col_names[c], LABEL_SCALE);
        if (w > name_w)
            name_w = w;
    }
    int cell_w = name_w + 8;
    int value_w = qp_text_width("-0.00e+00", CELL_SCALE) + 4;
    if (h->annotate && cell_w < value_w)
        cell_w = value_w;
    if (cell_w < 24)
        cell_w = 24;
    /* panels at least as wide as their captions, so captions never overlap */
    for (int p = 0; p < h->n_panels; p++) {
        int w = h->panels[p].name ? qp_text_width(h->panels[p].name, LABEL_SCALE) + 4 : 0;
        if (w > cell_w * h->cols)
            cell_w = (w + h->cols - 1) / h->cols;
    }
    int cell_h = h->rows <= 40 ? 18 : (h->rows <= 100 ? 10 : 4);
    int annotate = h->annotate && cell_h >= QP_FONT_LINE * CELL_SCALE + 2;
    int grid_w = cell_w * h->cols, grid_h = cell_h * h->rows;

    int rowname_w = 0;
    for (int r = 0; r < h->rows; r++) {
        int w = qp_text_width(row_name(h, r, buf, sizeof buf), LABEL_SCALE);
        if (w > rowname_w)
            rowname_w = w;
    }
    /* show every row name if they fit in the cell height, else every k-th */
    int row_step = 1;
    while (row_step * cell_h < ch)
        row_step++;

    /* vertical layout */
    int y_title = MARGIN;
    int y_sub = y_title + QP_FONT_LINE * TITLE_SCALE + 4;
    int y_caption = y_sub + (h->subtitle ? ch + 8 : 0);
    int y_colnames = y_caption + ch + 4;
    int y_grid = y_colnames + ch + 2;
    int y_xlabel = y_grid + grid_h + 10;
    int height = y_xlabel + ch + MARGIN;

    /* horizontal layout */
    int x_ylabel = MARGIN;
    int x_rownames = x_ylabel + ch + 8;
    int x_grid0 = x_rownames + rowname_w + 8;
    int panels_w = h->n_panels * grid_w + (h->n_panels - 1) * GAP;
    int x_bar = x_grid0 + panels_w + GAP;
    int tick_w = qp_text_width("-0.00e+00", LABEL_SCALE);
    int x_barlabel = x_bar + BAR_W + 8 + tick_w + 10;
    int width = x_barlabel + ch + MARGIN;
    int title_w = qp_text_width(h->title ? h->title : "", TITLE_SCALE) + 2 * MARGIN;
    int sub_w = h->subtitle ? qp_text_width(h->subtitle, LABEL_SCALE) + 2 * MARGIN : 0;
    if (width < title_w)
        width = title_w;
    if (width < sub_w)
        width = sub_w;
    /* the bar is at least as tall as its rotated caption, which must fit */
    char cap[160];
    snprintf(cap, sizeof cap, "%s%s", h->value_label ? h->value_label : "", h->log_scale ? " (log scale)" : "");
    int cap_w = qp_text_width(cap, LABEL_SCALE);
    int bar_h = grid_h < 120 ? 120 : grid_h;
    if (bar_h < cap_w + 8)
        bar_h = cap_w + 8;
    if (y_grid + bar_h + 10 + ch + MARGIN > height)
        height = y_grid + bar_h + 10 + ch + MARGIN;

    qp_status st = qp_canvas_init(out, width, height, WHITE, err);
    if (st != QP_OK)
        return st;

    double lo, hi;
    value_range(h, &lo, &hi);

    if (h->title)
        qp_canvas_text(out, MARGIN, y_title, h->title, TITLE_SCALE, BLACK);
    if (h->subtitle)
        qp_canvas_text(out, MARGIN, y_sub, h->subtitle, LABEL_SCALE, GREY);
    if (h->y_label)
        qp_canvas_text_up(out, x_ylabel,
                          y_grid + grid_h / 2 - qp_text_width(h->y_label, LABEL_SCALE) / 2,
                          h->y_label, LABEL_SCALE, BLACK);
    for (int r = 0; r < h->rows; r += row_step) {
        const char *s = row_name(h, r, buf, sizeof buf);
        int w = qp_text_width(s, LABEL_SCALE);
        qp_canvas_text(out, x_grid0 - 8 - w, y_grid + r * cell_h + (cell_h - QP_FONT_H * LABEL_SCALE) / 2,
                       s, LABEL_SCALE, BLACK);
    }

    for (int p = 0; p < h->n_panels; p++) {
        const qp_heatmap_panel *pn = &h->panels[p];
        int x0 = x_grid0 + p * (grid_w + GAP);
        if (pn->name)
            qp_canvas_text(out, x0 + grid_w / 2 - qp_text_width(pn->name, LABEL_SCALE) / 2,
                           y_caption, pn->name, LABEL_SCALE, BLACK);
        for (int c = 0; c < h->cols; c++)
            qp_canvas_text(out, x0 + c * cell_w + (cell_w - qp_text_width(h->col_names[c], LABEL_SCALE)) / 2,
                           y_colnames, h->col_names[c], LABEL_SCALE, BLACK);
        for (int r = 0; r < h->rows; r++)
            for (int c = 0; c < h->cols; c++) {
                double v = pn->values[r * h->cols + c];
                double t = normalise(h, v, lo, hi);
                int x = x0 + c * cell_w, y = y_grid + r * cell_h;
                if (isnan(t)) {
                    qp_canvas_fill(out, x, y, cell_w, cell_h, NODATA);
                    for (int d = 0; d < cell_w; d += 6) /* a few hatch dots: "no data" */
                        qp_canvas_fill(out, x + d, y + (d / 6 % 2) * (cell_h / 2), 2, 2, NODATA_HATCH);
                    continue;
                }
                qp_rgb col = qp_colormap_viridis(t);
                qp_canvas_fill(out, x, y, cell_w, cell_h, col);
                if (annotate) {
                    format_value(v, buf, sizeof buf);
                    int w = qp_text_width(buf, CELL_SCALE);
                    if (w <= cell_w - 2)
                        qp_canvas_text(out, x + (cell_w - w) / 2,
                                       y + (cell_h - QP_FONT_H * CELL_SCALE) / 2, buf, CELL_SCALE,
                                       text_on(col));
                }
            }
        qp_canvas_rect(out, x0 - 1, y_grid - 1, grid_w + 2, grid_h + 2, GREY);
    }
    if (h->x_label)
        qp_canvas_text(out, x_grid0 + panels_w / 2 - qp_text_width(h->x_label, LABEL_SCALE) / 2,
                       y_xlabel, h->x_label, LABEL_SCALE, BLACK);

    /* colour bar: top = high values */
    for (int y = 0; y < bar_h; y++)
        qp_canvas_fill(out, x_bar, y_grid + y, BAR_W, 1,
                       qp_colormap_viridis(1.0 - (double)y / (bar_h - 1)));
    qp_canvas_rect(out, x_bar - 1, y_grid - 1, BAR_W + 2, bar_h + 2, GREY);
    for (int k = 0; k < TICKS; k++) {
        double f = (double)k / (TICKS - 1);
        double x = hi - f * (hi - lo);
        double v = h->log_scale ? pow(10, x) : x;
        int y = y_grid + (int)lround(f * (bar_h - 1));
        qp_canvas_hline(out, x_bar + BAR_W, y, 5, BLACK);
        format_value(v, buf, sizeof buf);
        qp_canvas_text(out, x_bar + BAR_W + 8, y - QP_FONT_H * LABEL_SCALE / 2, buf, LABEL_SCALE,
                       BLACK);
    }
    if (h->value_label) {
        qp_canvas_text_up(out, x_barlabel, y_grid + bar_h / 2 - qp_text_width(cap, LABEL_SCALE) / 2,
                          cap, LABEL_SCALE, BLACK);
    }
    return QP_OK;
}

qp_status qp_heatmap_write_png(const qp_heatmap *h, const char *path, qp_error *err)
{
    qp_canvas c;
    qp_status st = qp_heatmap_render(h, &c, err);
    if (st != QP_OK)
        return st;
    st = qp_canvas_write_png(&c, path, err);
    qp_canvas_free(&c);
    return st;
}
