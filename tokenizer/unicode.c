/* tokenizer/unicode.c - code point classes, White_Space and UTF-8 (see unicode.h). */
#include "unicode.h"

#include "unicode_table.inc" /* qp_uc_ranges[]: generated, see scripts/gen_unicode_table.py */

/* ASCII is answered without a search (most text is ASCII). These are the
 * Unicode categories of U+0000..U+007F; tests/test_tokenizer.c checks them
 * against the generated table. */
static unsigned ascii_flags(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return QP_UCF_LETTER;
    if (c >= '0' && c <= '9')
        return QP_UCF_NUMBER;
    if ((c >= 0x09 && c <= 0x0D) || c == 0x20)
        return QP_UCF_SPACE;
    /* ASCII punctuation (categories P*): ! " # % & ' ( ) * , - . / : ; ? @ [ \ ] _ { }
     * The rest of 0x21..0x7E ($ + < = > ^ ` | ~) are symbols (S*). */
    switch (c) {
    case '!': case '"': case '#': case '%': case '&': case '\'': case '(': case ')':
    case '*': case ',': case '-': case '.': case '/': case ':': case ';': case '?':
    case '@': case '[': case '\\': case ']': case '_': case '{': case '}':
        return QP_UCF_PUNCT;
    default:
        return 0;
    }
}

enum qp_uc_class qp_uc_class(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return QP_UC_UNASSIGNED;
    /* Last entry whose first code point is <= cp. */
    size_t lo = 0, hi = QP_UC_N_RANGES; /* invariant: answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((qp_uc_ranges[mid] >> 3) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (enum qp_uc_class)(qp_uc_ranges[lo] & 7u);
}

bool qp_uc_is_space(uint32_t cp)
{
    /* The White_Space property (PropList.txt): 25 code points. */
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
    if (cp < 0x1680)
        return cp == 0x85 || cp == 0xA0;
    if (cp >= 0x2000 && cp <= 0x200A)
        return true;
    return cp == 0x1680 || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

unsigned qp_uc_flags(uint32_t cp)
{
    if (cp < 0x80)
        return ascii_flags(cp);
    unsigned f = qp_uc_is_space(cp) ? QP_UCF_SPACE : 0u;
    switch (qp_uc_class(cp)) {
    case QP_UC_LETTER: return f | QP_UCF_LETTER;
    case QP_UC_NUMBER: return f | QP_UCF_NUMBER;
    case QP_UC_PUNCT: return f | QP_UCF_PUNCT;
    default: return f;
    }
}

size_t qp_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned b0 = s[0];
    size_t len;
    uint32_t v;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        v = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        v = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        v = b0 & 0x07;
    } else { /* a continuation byte or 0xF8..0xFF where a sequence should start */
        *cp = QP_UC_REPLACEMENT;
        return 1;
    }
    if (len > n) {
        *cp = QP_UC_REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = QP_UC_REPLACEMENT;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return len;
}

size_t qp_utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *qp_uc_version(void)
{
    return QP_UC_UNIDATA_VERSION;
}
