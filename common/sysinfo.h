/* common/sysinfo.h - facts about the machine that reports record. */
#ifndef QP_COMMON_SYSINFO_H
#define QP_COMMON_SYSINFO_H

#include <stddef.h>

/* The CPU's model name ("model name" on x86, "Model" / "CPU part" lines are
 * not names on arm64, so those read "unknown CPU") from /proc/cpuinfo. */
void qp_cpu_model(char *buf, size_t size);

#endif
