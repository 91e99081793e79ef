/* output/canvas.c - rectangles and bitmap text on an RGB raster. */
#include "output.h"

#include <stdlib.h>
#include <string.h>

#include "font5x7.inc"

qp_status qp_canvas_init(qp_canvas *c, int width, int height, qp_rgb bg, qp_error *err)
{
    c->pixels = NULL;
    c->width = c->height = 0;
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return qp_error_set(err, QP_ERR_INPUT, NULL, -1, "image size %dx%d out of range", width,
                            height);
    c->pixels = malloc((size_t)width * (size_t)height * 3);
    if (!c->pixels)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory for a %dx%d image",
                            width, height);
    c->width = width;
    c->height = height;
    qp_canvas_fill(c, 0, 0, width, height, bg);
    return QP_OK;
}

void qp_canvas_free(qp_canvas *c)
{
    free(c->pixels);
    c->pixels = NULL;
    c->width = c->height = 0;
}

static inline void put(qp_canvas *c, int x, int y, qp_rgb col)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->pixels + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

void qp_canvas_fill(qp_canvas *c, int x, int y, int w, int h, qp_rgb color)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w;
    int y1 = y + h > c->height ? c->height : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            put(c, xx, yy, color);
}

void qp_canvas_hline(qp_canvas *c, int x, int y, int w, qp_rgb color) { qp_canvas_fill(c, x, y, w, 1, color); }
void qp_canvas_vline(qp_canvas *c, int x, int y, int h, qp_rgb color) { qp_canvas_fill(c, x, y, 1, h, color); }

void qp_canvas_rect(qp_canvas *c, int x, int y, int w, int h, qp_rgb color)
{
    qp_canvas_hline(c, x, y, w, color);
    qp_canvas_hline(c, x, y + h - 1, w, color);
    qp_canvas_vline(c, x, y, h, color);
    qp_canvas_vline(c, x + w - 1, y, h, color);
}

/* g p q y are stored with their body in rows 0-4 and drawn 2 pixels lower,
 * so their tails hang below the baseline into the line gap (a 5x7 cell has
 * no room for descenders otherwise, and "q" would read as "9"). */
static int glyph_drop(char ch)
{
    return (ch == 'g' || ch == 'p' || ch == 'q' || ch == 'y') ? 2 : 0;
}

static const unsigned char *glyph(char ch)
{
    unsigned char u = (unsigned char)ch;
    if (u < 32 || u > 126)
        u = '?';
    return qp_font5x7[u - 32];
}

/* The font is ASCII; UTF-8 text is drawn one glyph per code point, with the
 * arrow that model descriptions use ("f16→f32") spelled "->" and anything
 * else outside ASCII as '?'. */
static const char *to_ascii(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 3 < size;) {
        if (*p < 0x80) {
            buf[o++] = (char)*p++;
            continue;
        }
        int len = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
        if (len == 3 && p[1] == 0x86 && p[2] == 0x92 && *p == 0xE2) { /* U+2192 */
            buf[o++] = '-';
            buf[o++] = '>';
        } else {
            buf[o++] = '?';
        }
        for (int i = 0; i < len && *p; i++)
            p++;
    }
    buf[o] = '\0';
    return buf;
}

int qp_text_width(const char *s, int scale)
{
    char tmp[1024];
    s = to_ascii(s, tmp, sizeof tmp);
    size_t n = strlen(s);
    /* the last character needs no inter-character gap */
    return n ? (int)(n * QP_FONT_ADVANCE - 1) * scale : 0;
}

int qp_canvas_text(qp_canvas *c, int x, int y, const char *s, int scale, qp_rgb color)
{
    char tmp[1024];
    s = to_ascii(s, tmp, sizeof tmp);
    for (const char *p = s; *p; p++, x += QP_FONT_ADVANCE * scale) {
        const unsigned char *g = glyph(*p);
        for (int r = 0; r < QP_FONT_H; r++)
            for (int col = 0; col < QP_FONT_W; col++)
                if (g[r] & (0x10 >> col))
                    qp_canvas_fill(c, x + col * scale, y + (r + glyph_drop(*p)) * scale, scale,
                                   scale, color);
    }
    return qp_text_width(s, scale);
}

int qp_canvas_text_up(qp_canvas *c, int x, int y, const char *s, int scale, qp_rgb color)
{
    char tmp[1024];
    s = to_ascii(s, tmp, sizeof tmp);
    int w = qp_text_width(s, scale);
    /* glyph pixel (col, row) of the k-th character lands at
     * x + row, y + w - (k * advance + col): the text runs upwards */
    int k = 0;
    for (const char *p = s; *p; p++, k++) {
        const unsigned char *g = glyph(*p);
        for (int r = 0; r < QP_FONT_H; r++)
            for (int col = 0; col < QP_FONT_W; col++)
                if (g[r] & (0x10 >> col))
                    qp_canvas_fill(c, x + (r + glyph_drop(*p)) * scale,
                                   y + w - (k * QP_FONT_ADVANCE + col + 1) * scale, scale, scale,
                                   color);
    }
    return w;
}
