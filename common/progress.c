#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double qp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void qp_progress_begin(qp_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t_start = qp_now();
    p->t_last = 0;
    const char *off = getenv("QPROF_NO_PROGRESS");
    p->enabled = isatty(STDERR_FILENO) && !(off && *off && *off != '0');
}

void qp_progress_update(qp_progress *p, int64_t done, const char *what)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = qp_now();
    if (done < p->total && now - p->t_last < 0.1)
        return;
    p->t_last = now;

    enum { WIDTH = 30 };
    double frac = p->total > 0 ? (double)done / (double)p->total : 0;
    if (frac > 1)
        frac = 1;
    int fill = (int)(frac * WIDTH);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';

    double el = now - p->t_start;
    double eta = frac > 0 ? el / frac - el : 0;
    /* \r + clear-to-end-of-line: one line that rewrites itself */
    fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %5.1fs eta %5.1fs%s%s", p->label ? p->label : "",
            bar, (long long)done, (long long)p->total, el, eta, what ? "  " : "", what ? what : "");
    fflush(stderr);
}

void qp_progress_end(qp_progress *p)
{
    if (p->enabled) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}
