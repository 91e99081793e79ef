/* eval/text.c - the token sequences a model is evaluated on: a file, a
 * prompt, or the built-in text, tokenized once. */
#include "eval.h"

#include <stdlib.h>
#include <string.h>

/* The built-in text is data/default_text.txt, embedded as it is by the
 * assembler (the Makefile names the dependency): the text stays a plain
 * file a person can read and edit, and profiles made with it stay
 * comparable with each other as long as it does not change. */
__asm__(".pushsection .rodata\n"
        ".globl qp_builtin_text_bytes_\n"
        ".hidden qp_builtin_text_bytes_\n"
        "qp_builtin_text_bytes_:\n"
        ".incbin \"data/default_text.txt\"\n"
        ".byte 0\n"
        ".globl qp_builtin_text_end_\n"
        ".hidden qp_builtin_text_end_\n"
        "qp_builtin_text_end_:\n"
        ".popsection\n");
extern const char qp_builtin_text_bytes_[], qp_builtin_text_end_[];

enum { MAX_TEXT_BYTES = 64 << 20 };

const char *qp_builtin_text(size_t *len)
{
    if (len)
        *len = (size_t)(qp_builtin_text_end_ - qp_builtin_text_bytes_) - 1; /* less the NUL */
    return qp_builtin_text_bytes_;
}

qp_status qp_tokenize_alloc(const qp_tokenizer *tok, const char *text, size_t len, bool parse_special,
                            int max_tokens, int32_t **ids, int *n, qp_error *err)
{
    *ids = NULL;
    *n = 0;
    int count = qp_tokenize(tok, text, len, true, parse_special, NULL, 0);
    if (count >= 0 && max_tokens > 0 && count > max_tokens)
        count = max_tokens;
    int32_t *buf = count >= 0 ? malloc((size_t)(count > 0 ? count : 1) * sizeof *buf) : NULL;
    if (!buf)
        return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory tokenizing %zu bytes", len);
    qp_tokenize(tok, text, len, true, parse_special, buf, count);
    *ids = buf;
    *n = count;
    return QP_OK;
}

qp_status qp_eval_tokens(const qp_tokenizer *tok, const char *path, const char *prompt, int n_tokens,
                         int32_t **ids, int *n, const char **source, qp_error *err)
{
    char *owned = NULL;
    const char *text;
    size_t len = 0;
    qp_status st;
    *ids = NULL;
    *n = 0;
    *source = "";
    if (path) {
        if ((st = qp_read_file(path, MAX_TEXT_BYTES, &owned, &len, err)) != QP_OK)
            return st;
        text = owned;
        *source = path;
    } else if (prompt) {
        text = prompt;
        len = strlen(prompt);
        *source = "--prompt";
    } else {
        /* repeated until it surely gives n_tokens (it gives ~600 tokens
         * with common tokenizers; 400 per copy leaves a margin) */
        size_t one;
        const char *b = qp_builtin_text(&one);
        const size_t copies = 1 + (size_t)(n_tokens > 0 ? n_tokens : 0) / 400;
        if (!(owned = malloc(one * copies + 1)))
            return qp_error_set(err, QP_ERR_RUNTIME, NULL, -1, "out of memory");
        for (size_t i = 0; i < copies; i++)
            memcpy(owned + i * one, b, one);
        owned[one * copies] = '\0';
        text = owned;
        len = one * copies;
        *source = "built-in text (data/default_text.txt)";
    }
    st = qp_tokenize_alloc(tok, text, len, false, n_tokens, ids, n, err);
    free(owned);
    return st;
}
