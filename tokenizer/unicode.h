/* tokenizer/unicode.h - the little Unicode the tokenizers need (private).
 *
 * Code point classes come from a range table generated from Python's
 * unicodedata by scripts/gen_unicode_table.py (tokenizer/unicode_table.inc);
 * whitespace is the Unicode White_Space property (PropList.txt), which is
 * what llama.cpp's pre-tokenizers mean by \s. UTF-8 is decoded the lenient
 * way llama.cpp's unicode_cpt_from_utf8 does (lead-byte pattern plus
 * continuation bytes; overlongs and surrogates pass), so word boundaries
 * agree with it; a byte that starts no valid sequence decodes as U+FFFD,
 * length 1, exactly as llama.cpp substitutes it.
 */
#ifndef QP_PROFILER_UNICODE_H
#define QP_PROFILER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* General-category classes (the first letter of the category). */
enum qp_uc_class {
    QP_UC_UNASSIGNED = 0, /* Cn, and anything above U+10FFFF */
    QP_UC_LETTER = 1,     /* L*: \p{L} */
    QP_UC_NUMBER = 2,     /* N*: \p{N} */
    QP_UC_PUNCT = 3,      /* P*: \p{P} */
    QP_UC_SYMBOL = 4,     /* S*: \p{S} */
    QP_UC_MARK = 5,       /* M*: \p{M} */
    QP_UC_SEPARATOR = 6,  /* Z*: \p{Z} */
    QP_UC_OTHER = 7,      /* Cc Cf Cs Co */
};

/* Flag bits of qp_uc_flags: what the pre-tokenizer regexes test. */
#define QP_UCF_LETTER 0x01u
#define QP_UCF_NUMBER 0x02u
#define QP_UCF_PUNCT  0x04u
#define QP_UCF_SPACE  0x08u /* White_Space */

#define QP_UC_REPLACEMENT 0xFFFDu

enum qp_uc_class qp_uc_class(uint32_t cp);
bool qp_uc_is_space(uint32_t cp);
/* QP_UCF_* bits of cp (letter/number/punct from the class, plus space). */
unsigned qp_uc_flags(uint32_t cp);

/* Decodes one code point from s[0..n) (n >= 1); returns the bytes used
 * (1..4). Invalid or truncated sequences give U+FFFD and 1. */
size_t qp_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Writes cp (<= 0x10FFFF) as UTF-8 into out[4]; returns the length. */
size_t qp_utf8_encode(uint32_t cp, unsigned char out[4]);

/* Unicode version of the class table, e.g. "14.0.0". */
const char *qp_uc_version(void);

#endif
