/* tests/install/ggml_link.c - one program using ggml's GGUF API and
 * libqprof's side by side (test-install.sh links it with the whole of
 * libqprof.a and a library of ggml's names, ggml_names.c): qprof's GGUF
 * reader is qp_gguf_*, so it never collides with ggml's gguf_*. Checks that
 * each call reaches its own library; prints one line, exit 0 when it does. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qprof/gguf/gguf.h>

/* ggml's declarations (ggml/include/gguf.h), as a program using it has them */
struct gguf_context;
struct gguf_init_params { bool no_alloc; void **ctx; };
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
void gguf_free(struct gguf_context *ctx);
const char *gguf_type_name(int type);
size_t gguf_type_size(int type);
int64_t gguf_find_key(const struct gguf_context *ctx, const char *key);
int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name);
int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx);

int main(void)
{
    /* ggml's side: the stubs' sentinels */
    struct gguf_init_params params = { true, NULL };
    struct gguf_context *ctx = gguf_init_from_file("model.gguf", params);
    const int ggml_ok = ctx && gguf_find_key(ctx, "general.name") == 4243 &&
                        gguf_find_tensor(ctx, "output.weight") == 4244 &&
                        gguf_get_tensor_type(ctx, 12) == 12 && gguf_get_n_tensors(ctx) == 4245 &&
                        strcmp(gguf_type_name(8), "ggml-stub-string") == 0 &&
                        gguf_type_size(0) == 4242;
    gguf_free(ctx);

    /* qprof's side: a GGUF written and parsed in memory */
    qp_error err;
    qp_error_clear(&err);
    qp_gguf_writer *w = qp_gguf_writer_new();
    void *buf = NULL;
    size_t size = 0;
    qp_gguf_file *f = NULL;
    int qprof_ok = w && qp_gguf_writer_set_str(w, "general.name", "both") == QP_OK &&
                   qp_gguf_writer_write_memory(w, &buf, &size, &err) == QP_OK &&
                   qp_gguf_open_memory(buf, size, "memory", &f, &err) == QP_OK;
    qprof_ok = qprof_ok && qp_gguf_find_key(f, "general.name") == 0 && qp_gguf_n_tensors(f) == 0 &&
               strcmp(qp_gguf_type_name(QP_GGUF_TYPE_STRING), "str") == 0 &&
               qp_gguf_type_size(QP_GGUF_TYPE_UINT32) == 4;
    qp_gguf_close(f);
    free(buf);
    qp_gguf_writer_free(w);

    printf("ggml's gguf_* calls reached ggml: %s; qprof's qp_gguf_* calls reached qprof: %s\n",
           ggml_ok ? "yes" : "NO", qprof_ok ? "yes" : "NO");
    return ggml_ok && qprof_ok ? 0 : 1;
}
