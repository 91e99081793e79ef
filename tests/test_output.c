/* tests/test_output.c - heatmap colours, layout and PNG output; the HDF5
 * writer and reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/output.h"

static const char *cols[3] = {"attn", "ffn", "q"};

static void test_viridis_endpoints(void **state)
{
    (void)state;
    qp_rgb a = qp_colormap_viridis(0), b = qp_colormap_viridis(1), m = qp_colormap_viridis(0.5);
    assert_int_equal(a.r, 0x44); assert_int_equal(a.g, 0x01); assert_int_equal(a.b, 0x54);
    assert_int_equal(b.r, 0xfd); assert_int_equal(b.g, 0xe7); assert_int_equal(b.b, 0x25);
    assert_int_equal(m.r, 0x21); assert_int_equal(m.g, 0x91); assert_int_equal(m.b, 0x8c);
    /* out of range and NaN clamp instead of indexing out of the table */
    qp_rgb n = qp_colormap_viridis(NAN), big = qp_colormap_viridis(7);
    assert_int_equal(n.r, a.r);
    assert_int_equal(big.g, b.g);
    /* brightness grows monotonically: the map reads in grey too */
    double prev = -1;
    for (int i = 0; i <= 100; i++) {
        qp_rgb c = qp_colormap_viridis(i / 100.0);
        double y = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        assert_true(y >= prev - 1.0);
        prev = y;
    }
}

/* Finds a pixel of exactly colour c; returns 1 if present. */
static int has_colour(const qp_canvas *cv, qp_rgb c)
{
    for (size_t i = 0; i < (size_t)cv->width * cv->height; i++)
        if (cv->pixels[3 * i] == c.r && cv->pixels[3 * i + 1] == c.g && cv->pixels[3 * i + 2] == c.b)
            return 1;
    return 0;
}

static void test_render_colours(void **state)
{
    (void)state;
    /* 2 x 3 values: min 1, max 6, and one cell without data */
    double v[6] = {1, 2, 3, 4, NAN, 6};
    qp_heatmap_panel p = {"t", v};
    qp_heatmap h = {.title = "T", .value_label = "x", .x_label = "block", .y_label = "layer",
                    .rows = 2, .cols = 3, .col_names = cols, .n_panels = 1, .panels = &p};
    qp_canvas cv;
    qp_error err;
    assert_int_equal(qp_heatmap_render(&h, &cv, &err), QP_OK);
    assert_true(cv.width > 100 && cv.height > 100);
    /* the smallest value gets the bottom of the map, the largest the top,
     * and a middle value its interpolated colour: the scale spans the data */
    assert_true(has_colour(&cv, qp_colormap_viridis(0.0)));
    assert_true(has_colour(&cv, qp_colormap_viridis(1.0)));
    assert_true(has_colour(&cv, qp_colormap_viridis(0.4))); /* value 3 of [1, 6] */
    qp_canvas_free(&cv);

    /* a fixed range clamps: with vmax = 100 the value 6 is dark, not yellow */
    h.vmin = 0;
    h.vmax = 100;
    assert_int_equal(qp_heatmap_render(&h, &cv, &err), QP_OK);
    assert_true(has_colour(&cv, qp_colormap_viridis(0.06)));
    qp_canvas_free(&cv);

    /* log scale: 1, 10, 100 are evenly spaced */
    double lv[3] = {1, 10, 100};
    qp_heatmap_panel lp = {"log", lv};
    qp_heatmap lh = {.title = "L", .rows = 1, .cols = 3, .col_names = cols, .n_panels = 1,
                     .panels = &lp, .log_scale = 1};
    assert_int_equal(qp_heatmap_render(&lh, &cv, &err), QP_OK);
    assert_true(has_colour(&cv, qp_colormap_viridis(0.5)));
    qp_canvas_free(&cv);
}

static void test_render_rejects_empty(void **state)
{
    (void)state;
    qp_heatmap h = {.title = "T", .rows = 0, .cols = 3, .col_names = cols, .n_panels = 1};
    qp_canvas cv;
    qp_error err;
    assert_int_equal(qp_heatmap_render(&h, &cv, &err), QP_ERR_INPUT);
    assert_null(cv.pixels);
}

static void read_png_size(const char *path, png_uint_32 *w, png_uint_32 *hgt)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, f), 8);
    assert_int_equal(png_sig_cmp(sig, 0, 8), 0);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not read back %s", path);
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    *w = png_get_image_width(png, info);
    *hgt = png_get_image_height(png, info);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

static void test_png_written_atomically(void **state)
{
    (void)state;
    char dir[] = "/tmp/qprof-hm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/h.png", dir);
    double v[6] = {1, 2, 3, 4, 5, 6};
    qp_heatmap_panel p[2] = {{"a", v}, {"b", v}};
    qp_heatmap h = {.title = "Two panels", .subtitle = "sub", .value_label = "x", .rows = 2,
                    .cols = 3, .col_names = cols, .n_panels = 2, .panels = p, .annotate = 1};
    qp_error err;
    assert_int_equal(qp_heatmap_write_png(&h, path, &err), QP_OK);
    qp_canvas cv;
    assert_int_equal(qp_heatmap_render(&h, &cv, &err), QP_OK);
    png_uint_32 w, hh;
    read_png_size(path, &w, &hh);
    assert_int_equal(w, (png_uint_32)cv.width);
    assert_int_equal(hh, (png_uint_32)cv.height);
    qp_canvas_free(&cv);

    /* only the final file is left: no temporary */
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    assert_int_equal(n, 1);
    unlink(path);

    /* unwritable place: a runtime error naming the path, nothing created */
    char bad[96];
    snprintf(bad, sizeof bad, "%s/no/such/dir/h.png", dir);
    assert_int_equal(qp_heatmap_write_png(&h, bad, &err), QP_ERR_RUNTIME);
    assert_string_equal(err.file, bad);
    rmdir(dir);
}

/* ---- HDF5 (output/h5.c) ---------------------------------------------------- */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_h5_write_read(void **state)
{
    (void)state;
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/qprof-h5-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.h5", dir);
    qp_error err;
    qp_h5_writer *w;
    assert_int_equal(qp_h5_create(path, &w, &err), QP_OK);
    qp_h5_attr_str(w, "format", "test");
    qp_h5_attr_int(w, "n", -7);
    const char *names[3] = {"a", "bb", "ccc"};
    const int sc = qp_h5_scale_strings(w, "name", names, 3, "names");
    const int sl = qp_h5_scale_index(w, "row", 2, "rows");
    assert_true(sc >= 0 && sl >= 0);
    qp_h5_group(w, "g");
    const double x[2][3] = {{1, 2, 3}, {4, 5, NAN}};
    const uint64_t dims[2] = {2, 3};
    const int scales[2] = {sl, sc};
    qp_h5_dataset(w, "g/x", QP_H5_F64, 2, dims, x, "ms", "a test", scales);
    /* nothing is under the final name before the commit */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(qp_h5_commit(w, &err), QP_OK);
    assert_int_equal(count_files(dir), 1);

    qp_h5_reader *r;
    assert_int_equal(qp_h5_open(path, &r, &err), QP_OK);
    char s[16];
    qp_h5_read_attr_str(r, "format", s, sizeof s);
    assert_string_equal(s, "test");
    assert_int_equal(qp_h5_read_attr_int(r, "n"), -7);
    assert_int_equal(qp_h5_length(r, "name"), 3);
    char got_names[3][8];
    qp_h5_read_strings(r, "name", 3, got_names[0], 8);
    assert_string_equal(got_names[2], "ccc");
    double y[2][3];
    qp_h5_read(r, "g/x", QP_H5_F64, 2, dims, y);
    assert_true(y[1][1] == 5 && isnan(y[1][2]));
    assert_int_equal(qp_h5_status(r), QP_OK);
    /* a wrong shape or a missing set is an input error, and the first one sticks */
    const uint64_t wrong[2] = {3, 2};
    qp_h5_read(r, "g/x", QP_H5_F64, 2, wrong, y);
    qp_h5_read(r, "nothing", QP_H5_F64, 2, dims, y);
    assert_int_equal(qp_h5_close(r), QP_ERR_INPUT);
    assert_non_null(strstr(err.msg, "g/x: unexpected shape"));

    /* a failed writer leaves the old file and no temporary */
    assert_int_equal(qp_h5_create(path, &w, &err), QP_OK);
    qp_h5_dataset(w, "g/x", QP_H5_F64, 2, dims, x, NULL, NULL, NULL); /* no group g: fails */
    assert_int_equal(qp_h5_commit(w, &err), QP_ERR_RUNTIME);
    assert_int_equal(count_files(dir), 1);
    assert_int_equal(qp_h5_open(path, &r, &err), QP_OK);
    qp_h5_read_attr_str(r, "format", s, sizeof s);
    assert_int_equal(qp_h5_close(r), QP_OK);
    /* not HDF5 */
    FILE *f = fopen(path, "wb");
    fputs("plain text", f);
    fclose(f);
    assert_int_equal(qp_h5_open(path, &r, &err), QP_ERR_INPUT);
    unlink(path);
    snprintf(path, sizeof path, "%s/missing/t.h5", dir);
    assert_int_equal(qp_h5_create(path, &w, &err), QP_ERR_RUNTIME);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viridis_endpoints),
        cmocka_unit_test(test_render_colours),
        cmocka_unit_test(test_render_rejects_empty),
        cmocka_unit_test(test_png_written_atomically),
        cmocka_unit_test(test_h5_write_read),
    };
    return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
