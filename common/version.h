/* common/version.h - the one place the qprof version is written. */
#ifndef QP_COMMON_VERSION_H
#define QP_COMMON_VERSION_H
#define QPROF_VERSION "0.1.0"
#endif
