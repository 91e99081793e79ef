/* tools/default_text.h - the built-in text of `qprof layers`. */
#ifndef QP_TOOLS_DEFAULT_TEXT_H
#define QP_TOOLS_DEFAULT_TEXT_H
extern const char qp_default_text[];
#endif
