/* profiler/profile_png.h - heatmap images of a qp_profile. */
#ifndef QP_PROFILER_PROFILE_PNG_H
#define QP_PROFILER_PROFILE_PNG_H

#include "../common/error.h"
#include "profile.h"

/* Writes the standard heatmaps to "<prefix><name>.png" (prefix e.g.
 * "out/profile-"), each atomically. `filter` (may be NULL): comma-separated
 * parts of names to keep ("rel_l2,overview"). The paths written are strdup'd
 * into written[0..max_written) (caller frees), their count in *n_written. */
qp_status qp_profile_write_pngs(const qp_profile *p, const char *prefix, const char *filter,
                                char **written, int max_written, int *n_written, qp_error *err);

#endif
