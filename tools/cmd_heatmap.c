/* tools/cmd_heatmap.c - `qprof heatmap profile.h5`: re-render the heatmaps
 * of an existing profile. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../profiler/profiler.h"
#include "commands.h"

static int heatmap_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"metric", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *filter = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'm': filter = optarg; break;
        case 'h': fputs(qp_cmd_heatmap.usage, stdout); return 0;
        default: return qp_usage_error("heatmap", "bad option");
        }
    }
    if (optind != argc - 1)
        return qp_usage_error("heatmap", "expected one profile file");
    const char *path = argv[optind];
    qp_profile p;
    qp_error err;
    qp_error_clear(&err);
    if (qp_profile_read_h5(&p, path, &err) != QP_OK)
        return qp_report(&err);
    char prefix[1200];
    if (dir) {
        snprintf(prefix, sizeof prefix, "%s/", dir);
    } else {
        snprintf(prefix, sizeof prefix, "%s", path);
        char *dot = strrchr(prefix, '.'), *slash = strrchr(prefix, '/');
        if (dot && (!slash || dot > slash))
            *dot = '\0';
        strncat(prefix, "-", sizeof prefix - strlen(prefix) - 1);
    }
    char *written[64];
    int n = 0, rc = 0;
    if (qp_profile_write_pngs(&p, prefix, filter, written, 64, &n, &err) != QP_OK)
        rc = qp_report(&err);
    for (int i = 0; i < n; i++) {
        printf("%s\n", written[i]);
        free(written[i]);
    }
    if (!rc && n == 0) {
        fprintf(stderr, "qprof: heatmap: no heatmap matches --metric %s\n", filter ? filter : "");
        rc = 2;
    }
    qp_profile_free(&p);
    return rc;
}

const qp_command qp_cmd_heatmap = {
    .name = "heatmap",
    .summary = "draw the PNG heatmaps of a profile made by qprof layers",
    .usage = "usage: qprof heatmap PROFILE.h5 [-o DIR] [--metric LIST]\n\n"
             "Re-renders the heatmaps of an existing profile and prints their paths.\n"
             "  -o, --output DIR   write into DIR (default: beside the file, PROFILE-*.png)\n"
             "  -m, --metric LIST  comma-separated parts of image names to draw, e.g.\n"
             "                     rel_l2,sqnr_db,latency,weights,overview (default: all)\n"
             "Images: error-{local,accumulated}-{rel_l2,cosine,sqnr_db,max_abs}, latency-ratio,\n"
             "weights-rel_rmse, overview.\n",
    .run = heatmap_main,
};
