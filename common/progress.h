/* common/progress.h - a one-line progress bar on stderr.
 *
 * Drawn only when stderr is a terminal (so logs and pipes stay clean), and
 * at most ~10 times a second so a tight loop does not spend its time
 * printing. Library code may use it: it is the one sanctioned output of the
 * library besides the dispatcher's fallback warning.
 */
#ifndef QP_COMMON_PROGRESS_H
#define QP_COMMON_PROGRESS_H

#include <stdint.h>

typedef struct qp_progress {
    const char *label;
    int64_t total;
    int64_t done;
    double t_start;   /* seconds, monotonic */
    double t_last;    /* last redraw */
    int enabled;      /* stderr is a TTY and QPROF_NO_PROGRESS unset */
} qp_progress;

void qp_progress_begin(qp_progress *p, const char *label, int64_t total);
/* Sets the count of finished items; `what` (may be NULL) is shown after the bar. */
void qp_progress_update(qp_progress *p, int64_t done, const char *what);
/* Clears the line. */
void qp_progress_end(qp_progress *p);

/* Monotonic seconds. */
double qp_now(void);

#endif
