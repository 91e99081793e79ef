/* common/sha256.c - the SHA-256 of a file, through OpenSSL's libcrypto:
 * profiles, plans and sweeps record which model file they were made from,
 * so that --resume and readers can refuse another model. */
#include "common.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

qp_status qp_sha256_file(const char *path, char out[65], qp_error *err)
{
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot open: %m");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    qp_status st = QP_OK;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "sha256: initialisation failed");
    } else {
        size_t n;
        while ((n = fread(buf, 1, 1 << 20, f)) > 0)
            if (EVP_DigestUpdate(ctx, buf, n) != 1)
                break;
        unsigned char md[32];
        unsigned int len = 0;
        if (ferror(f))
            st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "read error while hashing");
        else if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32)
            st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "sha256 failed");
        else
            for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return st;
}
