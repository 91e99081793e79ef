/* output/h5.c - HDF5 files as qprof writes and reads them (output.h).
 *
 * HDF5's automatic error printing is switched off; every returned id is
 * checked and closed on every path. A writer goes to a temporary file
 * beside its target and is renamed into place only when everything was
 * written and flushed, so a crash or a full disk leaves the previous file
 * or none. Errors accumulate: after the first failure the other calls do
 * nothing, and commit / close report it once. Names are variable-length
 * UTF-8 strings (h5py reads them as str); data sets carry "units" and
 * "description" attributes and their dimensions are attached to HDF5
 * dimension scales, so h5py's ds.dims and h5dump show what each axis is.
 */
#include "output.h"

#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_SCALES = 16, MAX_RANK = 8 };

static hid_t file_type_of(enum qp_h5_type t)
{
    switch (t) {
    case QP_H5_F64: return H5T_IEEE_F64LE;
    case QP_H5_I32: return H5T_STD_I32LE;
    case QP_H5_I64: return H5T_STD_I64LE;
    case QP_H5_U8: return H5T_STD_U8LE;
    default: return -1;
    }
}

static hid_t mem_type_of(enum qp_h5_type t)
{
    switch (t) {
    case QP_H5_F64: return H5T_NATIVE_DOUBLE;
    case QP_H5_I32: return H5T_NATIVE_INT32;
    case QP_H5_I64: return H5T_NATIVE_INT64;
    case QP_H5_U8: return H5T_NATIVE_UINT8;
    default: return -1;
    }
}

/* variable-length UTF-8 string type; -1 on failure */
static hid_t vlen_utf8(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

/* ==== writing ============================================================ */

struct qp_h5_writer {
    char *path, *tmp;
    hid_t file;
    hid_t str_type;
    hid_t scale[MAX_SCALES];
    int n_scales;
    int failed;
};

qp_status qp_h5_create(const char *path, qp_h5_writer **out, qp_error *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    qp_h5_writer *w = calloc(1, sizeof *w);
    const size_t n = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(n + 16);
    }
    if (!w || !w->path || !w->tmp) {
        if (w)
            free(w->path), free(w->tmp);
        free(w);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    }
    snprintf(w->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(w->tmp); /* reserves a unique name; HDF5 then truncates it */
    if (fd < 0) {
        qp_status st = qp_error_set(err, QP_ERR_RUNTIME, path, -1, "cannot create: %m");
        free(w->path), free(w->tmp), free(w);
        return st;
    }
    close(fd);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    w->str_type = vlen_utf8();
    if (w->file < 0 || w->str_type < 0)
        w->failed = 1;
    *out = w;
    return QP_OK;
}

static void set_attr(qp_h5_writer *w, hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                     const void *value)
{
    if (w->failed)
        return;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mem_type, value) < 0)
        w->failed = 1;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
}

void qp_h5_attr_str(qp_h5_writer *w, const char *name, const char *value)
{
    set_attr(w, w->file, name, w->str_type, w->str_type, &value);
}

void qp_h5_attr_int(qp_h5_writer *w, const char *name, long long value)
{
    set_attr(w, w->file, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &value);
}

void qp_h5_group(qp_h5_writer *w, const char *path)
{
    if (w->failed)
        return;
    hid_t g = H5Gcreate2(w->file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        w->failed = 1;
    else
        H5Gclose(g);
}

/* Creates and writes one data set; returns it open (the caller closes it)
 * or -1. */
static hid_t create_data(qp_h5_writer *w, const char *path, hid_t file_type, hid_t mem_type, int rank,
                         const uint64_t *dims, const void *data, const char *units, const char *desc,
                         const int *scales)
{
    if (w->failed)
        return -1;
    hsize_t hd[MAX_RANK];
    if (rank < 1 || rank > MAX_RANK || file_type < 0 || mem_type < 0) {
        w->failed = 1;
        return -1;
    }
    for (int i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t sp = H5Screate_simple(rank, hd, NULL);
    hid_t d = sp < 0 ? -1 : H5Dcreate2(w->file, path, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        w->failed = 1;
    } else {
        if (units)
            set_attr(w, d, "units", w->str_type, w->str_type, &units);
        if (desc)
            set_attr(w, d, "description", w->str_type, w->str_type, &desc);
        for (int i = 0; scales && i < rank && !w->failed; i++)
            if (scales[i] >= 0 &&
                (scales[i] >= w->n_scales || H5DSattach_scale(d, w->scale[scales[i]], (unsigned)i) < 0))
                w->failed = 1;
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (w->failed && d >= 0) {
        H5Dclose(d);
        d = -1;
    }
    return d;
}

void qp_h5_dataset(qp_h5_writer *w, const char *path, enum qp_h5_type type, int rank, const uint64_t *dims,
                   const void *data, const char *units, const char *desc, const int *scales)
{
    hid_t d = create_data(w, path, file_type_of(type), mem_type_of(type), rank, dims, data, units, desc, scales);
    if (d >= 0)
        H5Dclose(d);
}

static int make_scale(qp_h5_writer *w, hid_t d, const char *path)
{
    if (d < 0)
        return -1;
    if (w->n_scales == MAX_SCALES || H5DSset_scale(d, path) < 0) {
        H5Dclose(d);
        w->failed = 1;
        return -1;
    }
    w->scale[w->n_scales] = d;
    return w->n_scales++;
}

int qp_h5_scale_strings(qp_h5_writer *w, const char *path, const char *const *names, uint64_t n, const char *desc)
{
    return make_scale(w, path ? create_data(w, path, w->str_type, w->str_type, 1, &n, names, NULL, desc, NULL) : -1,
                      path);
}

int qp_h5_scale_index(qp_h5_writer *w, const char *path, uint64_t n, const char *desc)
{
    int32_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) {
        w->failed = 1;
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        idx[i] = (int32_t)i;
    hid_t d = create_data(w, path, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n, idx, NULL, desc, NULL);
    free(idx);
    return make_scale(w, d, path);
}

void qp_h5_fail(qp_h5_writer *w)
{
    w->failed = 1;
}

qp_status qp_h5_commit(qp_h5_writer *w, qp_error *err)
{
    if (!w)
        return QP_OK;
    for (int i = 0; i < w->n_scales; i++)
        H5Dclose(w->scale[i]);
    if (w->str_type >= 0)
        H5Tclose(w->str_type);
    if (w->file >= 0 && H5Fclose(w->file) < 0)
        w->failed = 1;
    qp_status st = QP_OK;
    if (w->failed) {
        unlink(w->tmp);
        st = qp_error_set(err, QP_ERR_RUNTIME, w->path, -1, "writing HDF5 failed (disk full or not writable?)");
    } else {
        /* HDF5 has flushed and closed the file; make the data durable
         * before the rename makes it visible under the final name */
        int fd = open(w->tmp, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(w->tmp, w->path) != 0) {
            st = qp_error_set(err, QP_ERR_RUNTIME, w->path, -1, "cannot rename into place: %m");
            unlink(w->tmp);
        }
    }
    free(w->path);
    free(w->tmp);
    free(w);
    return st;
}

/* ==== reading ============================================================ */

struct qp_h5_reader {
    hid_t file;
    char *path;
    qp_error *err;
    qp_status st;
};

qp_status qp_h5_open(const char *path, qp_h5_reader **out, qp_error *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (access(path, R_OK) != 0)
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "cannot open: %m");
    if (H5Fis_hdf5(path) <= 0)
        return qp_error_set(err, QP_ERR_INPUT, path, 0, "not an HDF5 file");
    qp_h5_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return qp_error_set(err, QP_ERR_RUNTIME, path, -1, "out of memory");
    }
    r->err = err;
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        free(r->path);
        free(r);
        return qp_error_set(err, QP_ERR_INPUT, path, -1, "HDF5 file cannot be opened");
    }
    *out = r;
    return QP_OK;
}

qp_status qp_h5_status(const qp_h5_reader *r)
{
    return r->st;
}

void qp_h5_invalid(qp_h5_reader *r, const char *obj, const char *what)
{
    if (r->st == QP_OK)
        r->st = qp_error_set(r->err, QP_ERR_INPUT, r->path, -1, "%s: %s", obj, what);
}

qp_status qp_h5_close(qp_h5_reader *r)
{
    if (!r)
        return QP_OK;
    const qp_status st = r->st;
    H5Fclose(r->file);
    free(r->path);
    free(r);
    return st;
}

int qp_h5_has_attr(qp_h5_reader *r, const char *name)
{
    return r->st == QP_OK && H5Aexists(r->file, name) > 0;
}

void qp_h5_read_attr_str(qp_h5_reader *r, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    if (r->st != QP_OK)
        return;
    if (H5Aexists(r->file, name) <= 0) {
        qp_h5_invalid(r, name, "missing attribute");
        return;
    }
    hid_t a = H5Aopen(r->file, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        qp_h5_invalid(r, name, "not a string attribute");
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = vlen_utf8();
        char *s = NULL;
        if (mt < 0 || H5Aread(a, mt, &s) < 0 || !s)
            qp_h5_invalid(r, name, "unreadable attribute");
        else
            snprintf(out, size, "%s", s);
        if (s)
            H5free_memory(s);
        if (mt >= 0)
            H5Tclose(mt);
    } else {
        qp_h5_invalid(r, name, "expected a variable-length string");
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
}

long long qp_h5_read_attr_int(qp_h5_reader *r, const char *name)
{
    long long v = 0;
    if (r->st != QP_OK)
        return 0;
    hid_t a = H5Aexists(r->file, name) > 0 ? H5Aopen(r->file, name, H5P_DEFAULT) : -1;
    if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &v) < 0)
        qp_h5_invalid(r, name, "missing or unreadable integer attribute");
    if (a >= 0)
        H5Aclose(a);
    return v;
}

/* Opens a data set and checks its shape (dims NULL: any of that rank);
 * returns the id or -1. */
static hid_t open_checked(qp_h5_reader *r, const char *path, int rank, const uint64_t *dims)
{
    if (r->st != QP_OK)
        return -1;
    if (H5Lexists(r->file, path, H5P_DEFAULT) <= 0) {
        qp_h5_invalid(r, path, "missing data set");
        return -1;
    }
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hsize_t got[MAX_RANK];
    int ok = sp >= 0 && rank <= MAX_RANK && H5Sget_simple_extent_ndims(sp) == rank &&
             H5Sget_simple_extent_dims(sp, got, NULL) == rank;
    for (int i = 0; ok && i < rank; i++)
        ok = dims == NULL || got[i] == dims[i];
    if (sp >= 0)
        H5Sclose(sp);
    if (!ok) {
        if (d >= 0)
            H5Dclose(d);
        qp_h5_invalid(r, path, "unexpected shape");
        return -1;
    }
    return d;
}

void qp_h5_read(qp_h5_reader *r, const char *path, enum qp_h5_type type, int rank, const uint64_t *dims,
                void *out)
{
    hid_t d = open_checked(r, path, rank, dims);
    if (d < 0)
        return;
    if (H5Dread(d, mem_type_of(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        qp_h5_invalid(r, path, "unreadable data");
    H5Dclose(d);
}

long long qp_h5_length(qp_h5_reader *r, const char *path)
{
    hid_t d = open_checked(r, path, 1, NULL);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return (long long)n;
}

void qp_h5_read_strings(qp_h5_reader *r, const char *path, uint64_t n, char *out, size_t width)
{
    hid_t d = open_checked(r, path, 1, &n);
    if (d < 0)
        return;
    hid_t mt = vlen_utf8();
    char **s = calloc((size_t)(n ? n : 1), sizeof *s);
    if (!s || mt < 0) {
        if (r->st == QP_OK)
            r->st = qp_error_set(r->err, QP_ERR_RUNTIME, r->path, -1, "out of memory");
    } else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
        qp_h5_invalid(r, path, "unreadable strings");
    } else {
        for (uint64_t i = 0; i < n; i++) {
            snprintf(out + i * width, width, "%s", s[i] ? s[i] : "");
            H5free_memory(s[i]);
        }
    }
    free(s);
    if (mt >= 0)
        H5Tclose(mt);
    H5Dclose(d);
}
