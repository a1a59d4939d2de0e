/* caffe_pb.h - Caffe's files without libprotobuf, read onto xai.h.   public domain / MIT, like xai.h

   What the Caffe model zoo ships: a deploy .prototxt (protobuf text format), a .caffemodel (protobuf
   wire format, NetParameter in the V1 encoding of 2014 - NetParameter.layers, field 2 - or in the
   current V2 one - NetParameter.layer, field 100), a mean .binaryproto (a BlobProto) and
   synset_words.txt.  Field numbers are BVLC Caffe's src/caffe/proto/caffe.proto.

   Every function is static: include xai.h first (in the one .c file that defines XAI_IMPLEMENTATION
   before it), then this file.  Used by tools/caffe2xai.c, tests/test_caffe.c and the fuzz targets.

      xai_net *cpb_net_from_prototxt(text, len, file, input_chw)   the TEST-phase net, not finalized
      int      cpb_net_load_weights(net, data, len, file)          the caffemodel's blobs, by layer name
      xai_net *cpb_convert(...)                                    both of the above, finalized
      int      cpb_read_blobproto(data, len, file, &c, &h, &w, &v) a mean .binaryproto
      int      cpb_net_set_mean(net, data, len, file)              ... as the net's mean image
      int      cpb_net_set_labels(net, text, len, file)            synset_words.txt, one class a line
      const char *cpb_failure_reason(void)                         why the last call failed
      const char *cpb_dropped_note(void)                           the layers after the score that
                                                                   cpb_net_from_prototxt dropped, or ""

   Errors name the file and where: "x.caffemodel: offset 1234: layer 'conv1' (V1 layers, field 2):
   blobs[0] (field 6): data (field 5): length 4000 runs past the end of the message at 3990", or
   "deploy.prototxt:12:5: layer 'conv1': convolution_param: kernel_size: ...".  The reason is one
   static buffer per program (not per thread): the tools are single-threaded.

   Memory: the caffemodel is read in place (the caller holds the file); blobs are decoded straight
   into net->params, and only after every blob has been checked against its layer, so the file has
   justified every byte the net allocates.  Peak memory of a conversion: the file plus the weights. */
#ifndef CAFFE_PB_H
#define CAFFE_PB_H

#ifndef XAI_H_INCLUDE
#include "../xai.h"
#endif
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define CPB_FN static __attribute__((unused))
#define CPB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CPB_FN static
#define CPB_PRINTF(a, b)
#endif

/* xai.h's allocator when the includer set one (or has the implementation), else the C library's */
#ifdef XAI_MALLOC
#define CPB_MALLOC(sz) XAI_MALLOC(sz)
#define CPB_REALLOC(p, sz) XAI_REALLOC(p, sz)
#define CPB_FREE(p) XAI_FREE(p)
#else
#define CPB_MALLOC(sz) malloc(sz)
#define CPB_REALLOC(p, sz) realloc(p, sz)
#define CPB_FREE(p) free(p)
#endif

#define CPB_MAX_DEPTH 100                    /* text format: messages nested deeper are refused */
#define CPB_MAX_TEXT ((size_t)64 << 20)      /* a 64 MB prototxt is no net definition */
#define CPB_MAX_AXES 32                      /* Caffe's kMaxBlobAxes */
#define CPB_MAX_DIM (1 << 24)                /* a larger kernel, pad or input side is taken as corrupt */
#define CPB_MAX_LAYERS 65536                 /* xai.h's own limit (and the .xai reader's): more is refused early */
/* Caffe reads at most INT_MAX bytes of protobuf; allow 4 GB where size_t has room */
#define CPB_MAX_FILE (sizeof(size_t) > 4 ? (size_t)0xFFFFFFFFu : (size_t)INT_MAX)

/* ---- errors, memory, small helpers --------------------------------------------------------------- */

static char cpb_reason[1024];

CPB_FN const char *cpb_failure_reason(void) { return cpb_reason; }

/* Names the layers that only read the scores (ArgMax, Accuracy, losses, Silence) and were dropped
   by the last cpb_net_from_prototxt, for the tool to tell its user: "'argmax' (ArgMax)". */
static char cpb_dropped[1024];
CPB_FN const char *cpb_dropped_note(void) { return cpb_dropped; }

CPB_FN CPB_PRINTF(2, 3) int cpb_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cpb_reason, sizeof cpb_reason, fmt, ap);
    va_end(ap);
    return code;
}

/* Grows an array to hold need elements (doubling); returns the new block, or NULL (the old one
   is kept) with a reason. */
CPB_FN void *cpb_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *np;
    if (need <= *cap) return p;
    while (ncap < need) {
        if (ncap > (((size_t)-1) / 2) / elem) { cpb_fail(XAI_ERR_MEMORY, "out of memory"); return NULL; }
        ncap *= 2;
    }
    np = CPB_REALLOC(p, ncap * elem);
    if (!np) { cpb_fail(XAI_ERR_MEMORY, "out of memory (%zu bytes)", ncap * elem); return NULL; }
    *cap = ncap;
    return np;
}

/* A name from a file, fit for a message: control bytes as \xHH, cut after 80 bytes. */
CPB_FN const char *cpb_show(const char *s, size_t n, char *buf, size_t size)
{
    size_t i, o = 0;
    for (i = 0; i < n && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 80) { memcpy(buf + o, "...", 3); o += 3; break; }
        if (c < 32 || c == 127 || c == '\'') { snprintf(buf + o, size - o, "\\x%02x", c); o += 4; }
        else buf[o++] = (char)c;
    }
    buf[o] = 0;
    return buf;
}

CPB_FN int cpb_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

CPB_FN uint32_t cpb_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

CPB_FN uint64_t cpb_u64le(const unsigned char *p) { return (uint64_t)cpb_u32le(p) | (uint64_t)cpb_u32le(p + 4) << 32; }

/* CPB_RELEASE(p, n): the copy of the values in [p, p + n) is done and they are not read again.
   caffe2xai maps the caffemodel and hands those pages back, so converting a 233 MB model holds
   its weights once plus a few MB of the file, not twice.  Here: nothing. */
#ifndef CPB_RELEASE
#define CPB_RELEASE(p, n) ((void)(p), (void)(n))
#endif
#define CPB_CHUNK ((size_t)1 << 21)   /* values copied between releases */

/* n little-endian floats (or doubles, as floats) from src to dst */
CPB_FN void cpb_floats(float *dst, const unsigned char *src, size_t n)
{
    size_t i, at, m;
    for (at = 0; at < n; at += m) {
        m = n - at < CPB_CHUNK ? n - at : CPB_CHUNK;
        if (cpb_little_endian()) memcpy(dst + at, src + 4 * at, m * 4);
        else
            for (i = at; i < at + m; i++) {
                uint32_t u = cpb_u32le(src + 4 * i);
                memcpy(&dst[i], &u, 4);
            }
        CPB_RELEASE(src + 4 * at, m * 4);
    }
}
CPB_FN void cpb_doubles(float *dst, const unsigned char *src, size_t n)
{
    size_t i, at, m;
    for (at = 0; at < n; at += m) {
        m = n - at < CPB_CHUNK ? n - at : CPB_CHUNK;
        for (i = at; i < at + m; i++) {
            uint64_t u = cpb_u64le(src + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        CPB_RELEASE(src + 8 * at, m * 8);
    }
}

/* A whole file, refused before allocating when it is larger than max bytes. */
CPB_FN unsigned char *cpb_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (!f) { cpb_fail(XAI_ERR_IO, "%s: cannot open for reading", path); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        cpb_fail(XAI_ERR_IO, "%s: cannot determine the file size (a directory?)", path);
        return NULL;
    }
    if ((unsigned long)size > max) {
        fclose(f);
        cpb_fail(XAI_ERR_LIMIT, "%s: %ld bytes, more than the %zu accepted", path, size, max);
        return NULL;
    }
    if (!(buf = (unsigned char *)CPB_MALLOC((size_t)size + 1))) {
        fclose(f);
        cpb_fail(XAI_ERR_MEMORY, "%s: out of memory for %ld bytes", path, size);
        return NULL;
    }
    if (size && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        CPB_FREE(buf);
        cpb_fail(XAI_ERR_IO, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

/* ---- 1. the protobuf wire format ------------------------------------------------------------------

   A message is a run of fields, each a varint key (field number << 3 | wire type) and a value:
   wire type 0 a varint, 1 eight bytes, 2 a varint length and that many bytes (strings, messages,
   packed repeated numbers), 5 four bytes.  Types 3 and 4 (groups) are long deprecated and refused;
   unknown fields of the other types are skipped.  Offsets in messages are from the file's start. */

typedef struct cpb_names {
    int num;
    const char *name;
} cpb_names;   /* the fields of one message type, for messages; ends with {0, NULL} */

static const cpb_names cpb_net_fields[] = {{1, "name"}, {2, "layers"}, {3, "input"}, {4, "input_dim"}, {5, "force_backward"},
                                           {6, "state"}, {7, "debug_info"}, {8, "input_shape"}, {100, "layer"}, {0, NULL}};
static const cpb_names cpb_v1_fields[] = {{1, "layer"}, {2, "bottom"}, {3, "top"}, {4, "name"}, {5, "type"}, {6, "blobs"},
                                          {7, "blobs_lr"}, {8, "weight_decay"}, {9, "concat_param"}, {10, "convolution_param"},
                                          {12, "dropout_param"}, {17, "inner_product_param"}, {18, "lrn_param"},
                                          {19, "pooling_param"}, {24, "eltwise_param"}, {30, "relu_param"}, {32, "include"},
                                          {33, "exclude"}, {36, "transform_param"}, {0, NULL}};
static const cpb_names cpb_v2_fields[] = {{1, "name"}, {2, "type"}, {3, "bottom"}, {4, "top"}, {5, "loss_weight"}, {6, "param"},
                                          {7, "blobs"}, {8, "include"}, {9, "exclude"}, {10, "phase"}, {100, "transform_param"},
                                          {104, "concat_param"}, {106, "convolution_param"}, {108, "dropout_param"},
                                          {110, "eltwise_param"}, {117, "inner_product_param"}, {118, "lrn_param"},
                                          {121, "pooling_param"}, {123, "relu_param"}, {125, "softmax_param"},
                                          {143, "input_param"}, {0, NULL}};
static const cpb_names cpb_blob_fields[] = {{1, "num"}, {2, "channels"}, {3, "height"}, {4, "width"}, {5, "data"},
                                            {6, "diff"}, {7, "shape"}, {8, "double_data"}, {9, "double_diff"}, {0, NULL}};
static const cpb_names cpb_shape_fields[] = {{1, "dim"}, {0, NULL}};

typedef struct cpb_wire {
    const unsigned char *p;   /* the whole file */
    size_t len;
    const char *file;
    char path[1024];          /* where we are: "layer 'conv1' (V1 layers, field 2): blobs[0] (field 6)" */
} cpb_wire;

typedef struct cpb_field {
    int num, wire;
    uint64_t v;               /* wire types 0, 1, 5 */
    size_t at;                /* the key's offset */
    size_t start, end;        /* wire type 2: the payload */
} cpb_field;

CPB_FN void cpb_wire_init(cpb_wire *w, const unsigned char *p, size_t len, const char *file)
{
    w->p = p;
    w->len = len;
    w->file = file;
    w->path[0] = 0;
}

/* Appends a segment to the path; returns the old length for cpb_pop. */
CPB_FN CPB_PRINTF(2, 3) size_t cpb_push(cpb_wire *w, const char *fmt, ...)
{
    size_t old = strlen(w->path), at = old;
    va_list ap;
    if (old && old + 2 < sizeof w->path) { memcpy(w->path + old, ": ", 3); at += 2; }
    va_start(ap, fmt);
    if (at < sizeof w->path) vsnprintf(w->path + at, sizeof w->path - at, fmt, ap);
    va_end(ap);
    return old;
}
CPB_FN void cpb_pop(cpb_wire *w, size_t old) { w->path[old] = 0; }

CPB_FN CPB_PRINTF(3, 4) int cpb_wfail(const cpb_wire *w, size_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cpb_fail(XAI_ERR_FORMAT, "%s: offset %zu: %s%s%s", w->file, at, w->path, w->path[0] ? ": " : "", msg);
}

CPB_FN const char *cpb_field_name(const cpb_names *names, int num)
{
    for (; names && names->name; names++)
        if (names->num == num) return names->name;
    return NULL;
}

/* "data (field 5)" or "field 17" */
CPB_FN const char *cpb_fdesc(const cpb_names *names, int num, char *buf, size_t size)
{
    const char *n = cpb_field_name(names, num);
    if (n) snprintf(buf, size, "%s (field %d)", n, num);
    else snprintf(buf, size, "field %d", num);
    return buf;
}

/* "the end of the message at 3990", or of the file, which a truncated file reaches first */
CPB_FN const char *cpb_end_desc(const cpb_wire *w, size_t end, char *buf, size_t size)
{
    if (end == w->len) snprintf(buf, size, "the end of the file at %zu (truncated file?)", end);
    else snprintf(buf, size, "the end of the message at %zu", end);
    return buf;
}

static const char *const cpb_wire_names[8] = {"varint", "fixed64", "length-delimited", "start group",
                                              "end group", "fixed32", "invalid", "invalid"};

CPB_FN int cpb_varint(const cpb_wire *w, size_t *pos, size_t end, uint64_t *v, const char *what)
{
    size_t at = *pos;
    uint64_t r = 0;
    int i;
    char e[96];
    for (i = 0;; i++) {
        unsigned b;
        if (i == 10) return cpb_wfail(w, at, "%svarint too long (more than 10 bytes)", what);
        if (*pos >= end) return cpb_wfail(w, at, "%svarint runs past %s", what, cpb_end_desc(w, end, e, sizeof e));
        b = w->p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << (7 * i);   /* the 10th byte's extra bits fall off, as in protobuf */
        if (!(b & 0x80)) break;
    }
    *v = r;
    return XAI_OK;
}

/* The next field of the message [*pos, end): 1 and the field, 0 at the end, or an error. */
CPB_FN int cpb_next(const cpb_wire *w, size_t *pos, size_t end, const cpb_names *names, cpb_field *f)
{
    uint64_t key, n;
    char fd[80], e[96];
    int rc;
    if (*pos >= end) return 0;
    f->at = *pos;
    if ((rc = cpb_varint(w, pos, end, &key, "field key: ")) != XAI_OK) return rc;
    if ((key >> 3) == 0 || (key >> 3) > 536870911u)
        return cpb_wfail(w, f->at, "field number %llu is invalid (not a protobuf message?)", (unsigned long long)(key >> 3));
    f->num = (int)(key >> 3);
    f->wire = (int)(key & 7);
    cpb_fdesc(names, f->num, fd, sizeof fd);
    switch (f->wire) {
    case 0:
        snprintf(e, sizeof e, "%s: ", fd);
        return cpb_varint(w, pos, end, &f->v, e) == XAI_OK ? 1 : XAI_ERR_FORMAT;
    case 1:
    case 5:
        n = f->wire == 1 ? 8 : 4;
        if (end - *pos < n) return cpb_wfail(w, f->at, "%s: %d-byte value runs past %s", fd, (int)n, cpb_end_desc(w, end, e, sizeof e));
        f->v = n == 8 ? cpb_u64le(w->p + *pos) : cpb_u32le(w->p + *pos);
        f->start = *pos;
        *pos += (size_t)n;
        f->end = *pos;
        return 1;
    case 2:
        snprintf(e, sizeof e, "%s: length: ", fd);
        if ((rc = cpb_varint(w, pos, end, &n, e)) != XAI_OK) return rc;
        if (n > end - *pos)
            return cpb_wfail(w, f->at, "%s: length %llu runs past %s", fd, (unsigned long long)n, cpb_end_desc(w, end, e, sizeof e));
        f->start = *pos;
        *pos += (size_t)n;
        f->end = *pos;
        return 1;
    case 3:
    case 4:
        return cpb_wfail(w, f->at, "%s: wire type %d (%s): groups are not supported", fd, f->wire, cpb_wire_names[f->wire]);
    default:
        return cpb_wfail(w, f->at, "%s: invalid wire type %d", fd, f->wire);
    }
}

/* A known field must come with its wire type. */
CPB_FN int cpb_want(const cpb_wire *w, const cpb_field *f, const cpb_names *names, int wire)
{
    char fd[80];
    if (f->wire == wire) return XAI_OK;
    return cpb_wfail(w, f->at, "%s: wire type %d (%s), expected %d (%s)", cpb_fdesc(names, f->num, fd, sizeof fd), f->wire,
                     cpb_wire_names[f->wire], wire, cpb_wire_names[wire]);
}

/* -- BlobProto -- */

typedef struct cpb_blob {
    int has_legacy;                 /* num, channels, height, width (fields 1-4): the old 4-D shape */
    int64_t legacy[4];
    int has_shape, ndim;            /* BlobShape (field 7) */
    int64_t dim[CPB_MAX_AXES];
    size_t nfloat, ndouble;         /* data (field 5), double_data (field 8) */
} cpb_blob;

/* The dims of a BlobShape message, packed or not. */
CPB_FN int cpb_shape_scan(const cpb_wire *w, size_t pos, size_t end, cpb_blob *b)
{
    cpb_field f;
    int r;
    while ((r = cpb_next(w, &pos, end, cpb_shape_fields, &f)) > 0) {
        size_t q;
        uint64_t v;
        if (f.num != 1) continue;
        if (f.wire != 0 && f.wire != 2) return cpb_want(w, &f, cpb_shape_fields, 2);
        q = f.wire == 2 ? f.start : 0;
        while (f.wire == 2 ? q < f.end : q == 0) {
            if (f.wire == 2) {
                if (cpb_varint(w, &q, f.end, &v, "dim (field 1), packed: ") != XAI_OK) return XAI_ERR_FORMAT;
            } else {
                v = f.v;   /* unpacked: one dim a field */
                q = 1;
            }
            if (b->ndim == CPB_MAX_AXES) return cpb_wfail(w, f.at, "dim (field 1): more than %d axes", CPB_MAX_AXES);
            b->dim[b->ndim++] = (int64_t)v;
        }
    }
    b->has_shape = 1;
    return r;
}

/* What a BlobProto holds, without copying it: the shape and the number of values. */
CPB_FN int cpb_blob_scan(const cpb_wire *w, size_t pos, size_t end, cpb_blob *b)
{
    cpb_field f;
    int r;
    char fd[80];
    memset(b, 0, sizeof *b);
    while ((r = cpb_next(w, &pos, end, cpb_blob_fields, &f)) > 0) {
        size_t old;
        switch (f.num) {
        case 1: case 2: case 3: case 4:
            if (cpb_want(w, &f, cpb_blob_fields, 0)) return XAI_ERR_FORMAT;
            b->has_legacy = 1;
            b->legacy[f.num - 1] = (int32_t)(uint32_t)f.v;   /* int32 fields: the low 32 bits */
            break;
        case 5:
            if (f.wire == 2) {
                if ((f.end - f.start) % 4)
                    return cpb_wfail(w, f.at, "data (field 5): %zu bytes of packed floats, not a multiple of 4", f.end - f.start);
                b->nfloat += (f.end - f.start) / 4;
            } else if (f.wire == 5) {
                b->nfloat++;
            } else {
                return cpb_wfail(w, f.at, "%s: wire type %d (%s), expected 2 (packed) or 5 (fixed32)", cpb_fdesc(cpb_blob_fields, 5, fd, sizeof fd),
                                 f.wire, cpb_wire_names[f.wire]);
            }
            break;
        case 8:
            if (f.wire == 2) {
                if ((f.end - f.start) % 8)
                    return cpb_wfail(w, f.at, "double_data (field 8): %zu bytes of packed doubles, not a multiple of 8", f.end - f.start);
                b->ndouble += (f.end - f.start) / 8;
            } else if (f.wire == 1) {
                b->ndouble++;
            } else {
                return cpb_wfail(w, f.at, "%s: wire type %d (%s), expected 2 (packed) or 1 (fixed64)", cpb_fdesc(cpb_blob_fields, 8, fd, sizeof fd),
                                 f.wire, cpb_wire_names[f.wire]);
            }
            break;
        case 7:
            if (cpb_want(w, &f, cpb_blob_fields, 2)) return XAI_ERR_FORMAT;
            old = cpb_push((cpb_wire *)w, "shape (field 7)");
            r = cpb_shape_scan(w, f.start, f.end, b);
            cpb_pop((cpb_wire *)w, old);
            if (r < 0) return r;
            break;
        default:
            break;   /* diff, double_diff, unknown: skipped */
        }
    }
    return r;
}

/* Copies a scanned blob's values (double_data when it has any, as Caffe's Blob::FromProto). */
CPB_FN void cpb_blob_copy(const cpb_wire *w, size_t pos, size_t end, int use_double, float *dst)
{
    cpb_field f;
    while (cpb_next(w, &pos, end, cpb_blob_fields, &f) > 0) {
        if (!use_double && f.num == 5) {
            if (f.wire == 2) {
                size_t n = (f.end - f.start) / 4;
                cpb_floats(dst, w->p + f.start, n);
                dst += n;
            } else if (f.wire == 5) {
                cpb_floats(dst++, w->p + f.start, 1);
            }
        } else if (use_double && f.num == 8) {
            if (f.wire == 2) {
                size_t n = (f.end - f.start) / 8;
                cpb_doubles(dst, w->p + f.start, n);
                dst += n;
            } else if (f.wire == 1) {
                cpb_doubles(dst++, w->p + f.start, 1);
            }
        }
    }
}

/* "96x3x11x11" */
CPB_FN const char *cpb_dims_str(const int64_t *d, int n, char *buf, size_t size)
{
    size_t o = 0;
    int i;
    buf[0] = 0;
    if (n == 0) snprintf(buf, size, "(no shape)");
    for (i = 0; i < n && o + 24 < size; i++) o += (size_t)snprintf(buf + o, size - o, i ? "x%lld" : "%lld", (long long)d[i]);
    return buf;
}

/* ---- 2. the caffemodel: an index of its layers, then the blobs of each deploy layer ------------- */

typedef struct cpb_mlayer {
    const char *name;             /* into the file, not terminated; NULL when the layer has none */
    size_t name_len;
    size_t at;                    /* the layer's key */
    int v1, index;                /* V1 layers (field 2) or layer (field 100); #index in that field */
    size_t first_blob;
    int nblob;
} cpb_mlayer;

typedef struct cpb_model {
    cpb_wire w;
    cpb_mlayer *layer;
    size_t nlayer, cap_layer;
    size_t *blob;                 /* 3 a blob: key offset, payload start, payload end */
    size_t nblob, cap_blob;
} cpb_model;

CPB_FN void cpb_model_free(cpb_model *m)
{
    CPB_FREE(m->layer);
    CPB_FREE(m->blob);
    m->layer = NULL;
    m->blob = NULL;
}

/* "layer 'conv1' (V1 layers, field 2)" */
CPB_FN size_t cpb_push_layer(cpb_wire *w, const cpb_mlayer *L)
{
    char nm[200];
    if (L->name) return cpb_push(w, "layer '%s' (%s, field %d)", cpb_show(L->name, L->name_len, nm, sizeof nm), L->v1 ? "V1 layers" : "layer", L->v1 ? 2 : 100);
    return cpb_push(w, "layer #%d (%s, field %d)", L->index, L->v1 ? "V1 layers" : "layer", L->v1 ? 2 : 100);
}

/* One layer's name and blobs (V1LayerParameter or LayerParameter). */
CPB_FN int cpb_scan_layer(cpb_model *m, cpb_mlayer *L, size_t pos, size_t end)
{
    const cpb_names *names = L->v1 ? cpb_v1_fields : cpb_v2_fields;
    int name_field = L->v1 ? 4 : 1, blobs_field = L->v1 ? 6 : 7, r;
    size_t old = cpb_push_layer(&m->w, L);
    cpb_field f;
    while ((r = cpb_next(&m->w, &pos, end, names, &f)) > 0) {
        if (L->v1 && f.num == 1) {
            r = cpb_wfail(&m->w, f.at, "the pre-2014 V0 layer format (field 1 'layer' inside 'layers') is not supported: "
                                       "upgrade the file with Caffe's tools/upgrade_net_proto_binary");
            break;
        }
        if (f.num == name_field) {
            if ((r = cpb_want(&m->w, &f, names, 2)) != XAI_OK) break;
            L->name = (const char *)m->w.p + f.start;
            L->name_len = f.end - f.start;
            cpb_pop(&m->w, old);
            cpb_push_layer(&m->w, L);
        } else if (f.num == blobs_field) {
            size_t *nb;
            if ((r = cpb_want(&m->w, &f, names, 2)) != XAI_OK) break;
            if (!(nb = (size_t *)cpb_grow(m->blob, &m->cap_blob, 3 * (m->nblob + 1), sizeof(size_t)))) { r = XAI_ERR_MEMORY; break; }
            m->blob = nb;
            nb[3 * m->nblob] = f.at;
            nb[3 * m->nblob + 1] = f.start;
            nb[3 * m->nblob + 2] = f.end;
            if (!L->nblob) L->first_blob = m->nblob;   /* a layer's blobs are contiguous: it is scanned whole */
            m->nblob++;
            L->nblob++;
        } else if ((f.num == 5 && L->v1 && f.wire != 0) || (f.num == 2 && !L->v1 && f.wire != 2)) {
            r = cpb_want(&m->w, &f, names, L->v1 ? 0 : 2);   /* the type, which messages quote */
            break;
        }
    }
    cpb_pop(&m->w, old);
    return r < 0 ? r : XAI_OK;
}

/* Indexes the NetParameter's layers; the file must outlive the index. */
CPB_FN int cpb_model_index(cpb_model *m, const unsigned char *p, size_t len, const char *file)
{
    size_t pos = 0;
    cpb_field f;
    int r, nv1 = 0, nv2 = 0;
    memset(m, 0, sizeof *m);
    cpb_wire_init(&m->w, p, len, file);
    while ((r = cpb_next(&m->w, &pos, len, cpb_net_fields, &f)) > 0) {
        cpb_mlayer *L;
        if (f.num != 2 && f.num != 100) continue;
        if ((r = cpb_want(&m->w, &f, cpb_net_fields, 2)) != XAI_OK) break;
        if (m->nlayer == CPB_MAX_LAYERS) {
            r = cpb_wfail(&m->w, f.at, "more than %d layers (xai.h nets have at most that many)", CPB_MAX_LAYERS);
            break;
        }
        if (!(L = (cpb_mlayer *)cpb_grow(m->layer, &m->cap_layer, m->nlayer + 1, sizeof(cpb_mlayer)))) { r = XAI_ERR_MEMORY; break; }
        m->layer = L;
        L += m->nlayer++;
        memset(L, 0, sizeof *L);
        L->at = f.at;
        L->v1 = f.num == 2;
        L->index = L->v1 ? nv1++ : nv2++;
        if ((r = cpb_scan_layer(m, L, f.start, f.end)) != XAI_OK) break;
    }
    if (r >= 0 && nv1 && nv2)
        r = cpb_fail(XAI_ERR_FORMAT, "%s: both 'layers' (field 2, V1) and 'layer' (field 100, V2): Caffe refuses such a file too", file);
    if (r >= 0 && !nv1 && !nv2)
        r = cpb_fail(XAI_ERR_FORMAT, "%s: no layers (neither field 2 'layers' nor field 100 'layer'): not a caffemodel?", file);
    if (r < 0) {
        size_t n = strlen(cpb_reason);
        if (!m->nlayer && n + 32 < sizeof cpb_reason) memcpy(cpb_reason + n, " (is it a caffemodel?)", 23);
        cpb_model_free(m);
        return r;
    }
    return XAI_OK;
}

/* The last caffemodel layer of that name (Caffe copies every match in order: the last one stays). */
CPB_FN const cpb_mlayer *cpb_model_find(const cpb_model *m, const char *name)
{
    size_t i, n = strlen(name);
    for (i = m->nlayer; i-- > 0;)
        if (m->layer[i].name && m->layer[i].name_len == n && memcmp(m->layer[i].name, name, n) == 0) return &m->layer[i];
    return NULL;
}

/* Caffe's shape of a deploy layer's blob: conv weights O,C/g,kh,kw; fc O,K (K,O transposed); bias O. */
CPB_FN int cpb_target_shape(const xai_layer *L, int which, int64_t *d)
{
    if (which == 1) { d[0] = (int64_t)L->bias_count; return 1; }
    if (L->p.type == XAI_INNER_PRODUCT) { d[0] = L->weight_shape[0]; d[1] = L->weight_shape[1]; return 2; }
    d[0] = L->weight_shape[0]; d[1] = L->weight_shape[1]; d[2] = L->weight_shape[2]; d[3] = L->weight_shape[3];
    return 4;
}

/* Checks blob `which` (0 weights, 1 bias) of a deploy layer against the caffemodel, and copies it
   into dst unless dst is NULL.  Shapes as Blob::ShapeEquals: a legacy 4-D shape matches the target
   padded on the left with 1s (so 1x1x500x800 is an InnerProduct's 500x800), a BlobShape exactly. */
CPB_FN int cpb_blob_load(cpb_model *m, const cpb_mlayer *ml, const xai_layer *L, int which, float *dst)
{
    const size_t *sp = m->blob + 3 * (ml->first_blob + (size_t)which);
    int64_t want[4], pad[4];
    int nwant = cpb_target_shape(L, which, want), match = 1, i, rc = XAI_OK;
    size_t count = which ? L->bias_count : L->weight_count, have;
    size_t old = cpb_push_layer(&m->w, ml), old2 = cpb_push(&m->w, "blobs[%d] (field %d)", which, ml->v1 ? 6 : 7);
    char s1[160], s2[160];
    cpb_blob b;
    (void)old2;
    if ((rc = cpb_blob_scan(&m->w, sp[1], sp[2], &b)) < 0) goto done;
    if (b.has_legacy) {
        for (i = 0; i < 4; i++) pad[i] = i < 4 - nwant ? 1 : want[i - (4 - nwant)];
        for (i = 0; i < 4; i++) match &= b.legacy[i] == pad[i];
        if (!match) {
            rc = cpb_wfail(&m->w, sp[0], "shape %s (legacy num x channels x height x width) does not match the deploy layer's %s %s",
                           cpb_dims_str(b.legacy, 4, s1, sizeof s1), which ? "bias" : "weights", cpb_dims_str(want, nwant, s2, sizeof s2));
            goto done;
        }
    } else {
        match = b.ndim == nwant;
        for (i = 0; match && i < nwant; i++) match &= b.dim[i] == want[i];
        if (!match) {
            rc = cpb_wfail(&m->w, sp[0], "shape %s does not match the deploy layer's %s %s", cpb_dims_str(b.dim, b.ndim, s1, sizeof s1),
                           which ? "bias" : "weights", cpb_dims_str(want, nwant, s2, sizeof s2));
            goto done;
        }
    }
    have = b.ndouble ? b.ndouble : b.nfloat;
    if (have != count) {
        rc = cpb_wfail(&m->w, sp[0], "%zu %s values for shape %s (%zu values)", have, b.ndouble ? "double_data" : "data",
                       cpb_dims_str(want, nwant, s2, sizeof s2), count);
        goto done;
    }
    if (dst) cpb_blob_copy(&m->w, sp[1], sp[2], b.ndouble > 0, dst);
done:
    cpb_pop(&m->w, old);
    return rc;
}

/* Every deploy layer with parameters takes its blobs from the caffemodel layer of the same name,
   as Net::CopyTrainedLayersFrom; copy = 0 only checks. */
CPB_FN int cpb_model_weights(cpb_model *m, xai_net *net, int copy)
{
    int li, rc;
    for (li = 0; li < net->nlayer; li++) {
        xai_layer *L = &net->layer[li];
        const cpb_mlayer *ml;
        int need = (L->weight_count ? 1 : 0) + (L->bias_count ? 1 : 0);
        if (!need) continue;
        if (!(ml = cpb_model_find(m, L->name))) {
            char list[400];
            size_t i, o = 0;
            list[0] = 0;
            for (i = 0; i < m->nlayer && o + 140 < sizeof list; i++) {
                char nm[100];
                if (!m->layer[i].nblob) continue;
                o += (size_t)snprintf(list + o, sizeof list - o, "%s'%s'", o ? ", " : "",
                                      m->layer[i].name ? cpb_show(m->layer[i].name, m->layer[i].name_len, nm, 60) : "(unnamed)");
            }
            return cpb_fail(XAI_ERR_FORMAT, "no weights for layer '%s' in %s (its layers with weights: %s)", L->name, m->w.file,
                            o ? list : "none");
        }
        if (ml->nblob != need) {
            size_t old = cpb_push_layer(&m->w, ml);
            rc = cpb_wfail(&m->w, ml->at, "%d blobs, the deploy layer '%s' needs %d (weights%s; bias_term: %s)", ml->nblob, L->name, need,
                           need == 2 ? " and bias" : "", L->p.bias_term ? "true" : "false");
            cpb_pop(&m->w, old);
            return rc;
        }
        if ((rc = cpb_blob_load(m, ml, L, 0, copy ? L->weight : NULL)) != XAI_OK) return rc;
        if (need == 2 && (rc = cpb_blob_load(m, ml, L, 1, copy ? L->bias : NULL)) != XAI_OK) return rc;
    }
    return XAI_OK;
}

/* The caffemodel's weights into the net.  Every blob is checked first, then the net is finalized
   (if it is not yet: its one allocation is then no larger than the file justifies), then copied. */
CPB_FN int cpb_net_load_weights(xai_net *net, const unsigned char *data, size_t len, const char *file)
{
    cpb_model m;
    int rc;
    if ((rc = cpb_model_index(&m, data, len, file)) != XAI_OK) return rc;
    if ((rc = cpb_model_weights(&m, net, 0)) == XAI_OK && !net->finalized && xai_net_finalize(net) != XAI_OK)
        rc = cpb_fail(XAI_ERR_MEMORY, "net '%s': %s", net->name, xai_failure_reason());
    if (rc == XAI_OK) rc = cpb_model_weights(&m, net, 1);
    cpb_model_free(&m);
    return rc;
}

/* A BlobProto file (a mean .binaryproto): C x H x W floats from XAI_MALLOC.  The shape is
   1 x C x H x W (legacy fields or BlobShape), or C x H x W. */
CPB_FN int cpb_read_blobproto(const unsigned char *data, size_t len, const char *file, int *c, int *h, int *w, float **out)
{
    cpb_wire wr;
    cpb_blob b;
    int64_t d[4];
    int nd, i, rc;
    size_t count = 1, have;
    char s[160];
    *out = NULL;
    cpb_wire_init(&wr, data, len, file);
    cpb_push(&wr, "BlobProto");
    if ((rc = cpb_blob_scan(&wr, 0, len, &b)) < 0) return rc;
    if (b.has_legacy) { memcpy(d, b.legacy, sizeof d); nd = 4; }
    else if (b.has_shape && b.ndim <= 4) { memcpy(d, b.dim, (size_t)b.ndim * sizeof d[0]); nd = b.ndim; }
    else return cpb_wfail(&wr, 0, "shape %s: a mean image is 1 x C x H x W", cpb_dims_str(b.dim, b.ndim, s, sizeof s));
    if (!((nd == 4 && d[0] == 1) || nd == 3))
        return cpb_wfail(&wr, 0, "shape %s: a mean image is 1 x C x H x W", cpb_dims_str(d, nd, s, sizeof s));
    for (i = nd - 3; i < nd; i++) {
        if (d[i] <= 0 || d[i] > CPB_MAX_DIM) return cpb_wfail(&wr, 0, "shape %s is empty or too large", cpb_dims_str(d, nd, s, sizeof s));
        if (count > ((size_t)-1) / sizeof(float) / (size_t)d[i]) return cpb_wfail(&wr, 0, "shape %s is too large", cpb_dims_str(d, nd, s, sizeof s));
        count *= (size_t)d[i];
    }
    have = b.ndouble ? b.ndouble : b.nfloat;
    if (have != count)
        return cpb_wfail(&wr, 0, "%zu %s values for shape %s (%zu values)", have, b.ndouble ? "double_data" : "data", cpb_dims_str(d, nd, s, sizeof s), count);
    /* the data is in the file, so count floats are no more than the file's size */
    if (!(*out = (float *)CPB_MALLOC(count * sizeof(float)))) return cpb_fail(XAI_ERR_MEMORY, "%s: out of memory", file);
    cpb_blob_copy(&wr, 0, len, b.ndouble > 0, *out);
    *c = (int)d[nd - 3];
    *h = (int)d[nd - 2];
    *w = (int)d[nd - 1];
    return XAI_OK;
}

/* ---- 3. the protobuf text format ------------------------------------------------------------------

   A message is a run of fields: `name: value`, `name { ... }`, `name: { ... }` (or < >), values
   numbers, identifiers (enums, true/false) or quoted strings (C escapes, adjacent strings joined),
   `name: [v, v]` for repeated values; `#` starts a comment; `,` or `;` may end a field.  Parsed
   into a tree of nodes; Caffe's meaning comes after, in section 4. */

enum { CPB_T_MSG, CPB_T_STR, CPB_T_TOK };

typedef struct cpb_tnode {
    size_t name, value, value_len;   /* offsets into chars (0-terminated); value of STR and TOK */
    int kind, line, col;
    int child, last, next;            /* first and last child, next sibling; -1 none */
} cpb_tnode;

typedef struct cpb_text {
    const char *file;
    cpb_tnode *node;                  /* node 0: the whole file */
    size_t n, cap;
    char *chars;
    size_t nchars, cap_chars;
    int nlayer;                       /* top-level layer / layers fields so far */
} cpb_text;

CPB_FN void cpb_text_free(cpb_text *T)
{
    CPB_FREE(T->node);
    CPB_FREE(T->chars);
    T->node = NULL;
    T->chars = NULL;
    T->n = T->nchars = T->cap = T->cap_chars = 0;
}

typedef struct cpb_lexer {
    cpb_text *T;
    const char *s;
    size_t len, pos;
    int line, col;
} cpb_lexer;

CPB_FN CPB_PRINTF(4, 5) int cpb_lfail(const cpb_text *T, int line, int col, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cpb_fail(XAI_ERR_FORMAT, "%s:%d:%d: %s", T->file, line, col, msg);
}

CPB_FN int cpb_putc(cpb_text *T, char c)
{
    char *p = (char *)cpb_grow(T->chars, &T->cap_chars, T->nchars + 1, 1);
    if (!p) return XAI_ERR_MEMORY;
    T->chars = p;
    T->chars[T->nchars++] = c;
    return XAI_OK;
}

CPB_FN int cpb_node_new(cpb_text *T, int parent, size_t name, int kind, int line, int col)
{
    cpb_tnode *nn = (cpb_tnode *)cpb_grow(T->node, &T->cap, T->n + 1, sizeof(cpb_tnode)), *x;
    int id = (int)T->n;
    if (!nn) return XAI_ERR_MEMORY;
    if (T->n >= (size_t)INT_MAX) return cpb_fail(XAI_ERR_LIMIT, "%s: too many fields", T->file);
    /* counted while parsing: a million layers are refused after 65537, not after the whole file */
    if (parent == 0 && (!strcmp(T->chars + name, "layer") || !strcmp(T->chars + name, "layers")) && ++T->nlayer > CPB_MAX_LAYERS)
        return cpb_fail(XAI_ERR_LIMIT, "%s:%d:%d: more than %d layers (xai.h nets have at most that many)", T->file, line, col, CPB_MAX_LAYERS);
    T->node = nn;
    x = &nn[T->n++];
    x->name = name;
    x->value = x->value_len = 0;
    x->kind = kind;
    x->line = line;
    x->col = col;
    x->child = x->last = x->next = -1;
    if (parent >= 0) {
        if (nn[parent].last >= 0) nn[nn[parent].last].next = id;
        else nn[parent].child = id;
        nn[parent].last = id;
    }
    return id;
}

CPB_FN int cpb_lpeek(const cpb_lexer *L) { return L->pos < L->len ? (unsigned char)L->s[L->pos] : -1; }

CPB_FN void cpb_ladv(cpb_lexer *L)
{
    if (L->s[L->pos] == '\n') { L->line++; L->col = 1; }
    else L->col++;
    L->pos++;
}

/* whitespace and # comments */
CPB_FN void cpb_lskip(cpb_lexer *L)
{
    int c;
    while ((c = cpb_lpeek(L)) >= 0) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') cpb_ladv(L);
        else if (c == '#') while ((c = cpb_lpeek(L)) >= 0 && c != '\n') cpb_ladv(L);
        else break;
    }
}

CPB_FN int cpb_is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
CPB_FN int cpb_is_digit(int c) { return c >= '0' && c <= '9'; }
CPB_FN int cpb_is_tok(int c) { return cpb_is_alpha(c) || cpb_is_digit(c) || c == '.' || c == '+' || c == '-'; }
CPB_FN int cpb_hexval(int c)
{
    return cpb_is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* UTF-8 for \u and \U escapes */
CPB_FN int cpb_put_utf8(cpb_text *T, unsigned long u)
{
    int rc = XAI_OK;
    if (u < 0x80) return cpb_putc(T, (char)u);
    if (u < 0x800) {
        rc |= cpb_putc(T, (char)(0xC0 | (u >> 6)));
    } else if (u < 0x10000) {
        rc |= cpb_putc(T, (char)(0xE0 | (u >> 12)));
        rc |= cpb_putc(T, (char)(0x80 | ((u >> 6) & 0x3F)));
    } else {
        rc |= cpb_putc(T, (char)(0xF0 | (u >> 18)));
        rc |= cpb_putc(T, (char)(0x80 | ((u >> 12) & 0x3F)));
        rc |= cpb_putc(T, (char)(0x80 | ((u >> 6) & 0x3F)));
    }
    rc |= cpb_putc(T, (char)(0x80 | (u & 0x3F)));
    return rc ? XAI_ERR_MEMORY : XAI_OK;
}

/* One or more adjacent quoted strings into chars; *off and *n say where. */
CPB_FN int cpb_lex_string(cpb_lexer *L, size_t *off, size_t *n)
{
    cpb_text *T = L->T;
    *off = T->nchars;
    while (cpb_lpeek(L) == '"' || cpb_lpeek(L) == '\'') {
        int q = cpb_lpeek(L), line = L->line, col = L->col, c;
        cpb_ladv(L);
        for (;;) {
            int eline = L->line, ecol = L->col;
            if ((c = cpb_lpeek(L)) < 0 || c == '\n') return cpb_lfail(T, line, col, "string not closed on its line");
            cpb_ladv(L);
            if (c == q) break;
            if (c != '\\') { if (cpb_putc(T, (char)c)) return XAI_ERR_MEMORY; continue; }
            if ((c = cpb_lpeek(L)) < 0) return cpb_lfail(T, line, col, "string not closed on its line");
            cpb_ladv(L);
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'a': c = '\a'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'v': c = '\v'; break;
            case '\\': case '\'': case '"': case '?': break;
            case 'x': case 'X': {
                int v = 0, k = 0, h;
                while (k < 2 && (h = cpb_hexval(cpb_lpeek(L))) >= 0) { v = v * 16 + h; cpb_ladv(L); k++; }
                if (!k) return cpb_lfail(T, eline, ecol, "\\x without hex digits");
                c = v;
                break;
            }
            case 'u': case 'U': {
                unsigned long v = 0;
                int k, want = c == 'u' ? 4 : 8, h;
                for (k = 0; k < want; k++) {
                    if ((h = cpb_hexval(cpb_lpeek(L))) < 0) return cpb_lfail(T, eline, ecol, "\\%c needs %d hex digits", c, want);
                    v = v * 16 + (unsigned long)h;
                    cpb_ladv(L);
                }
                if (v > 0x10FFFF) return cpb_lfail(T, eline, ecol, "\\U%08lx is not a Unicode code point", v);
                if (cpb_put_utf8(T, v)) return XAI_ERR_MEMORY;
                continue;
            }
            default:
                if (c >= '0' && c <= '7') {
                    int v = c - '0', k = 1;
                    while (k < 3 && cpb_lpeek(L) >= '0' && cpb_lpeek(L) <= '7') { v = v * 8 + (cpb_lpeek(L) - '0'); cpb_ladv(L); k++; }
                    c = v & 0xFF;
                    break;
                }
                return cpb_lfail(T, eline, ecol, "unknown escape '\\%c' in a string", c);
            }
            if (cpb_putc(T, (char)c)) return XAI_ERR_MEMORY;
        }
        cpb_lskip(L);
    }
    *n = T->nchars - *off;
    return cpb_putc(T, 0);
}

/* A scalar value (string or token) into node id. */
CPB_FN int cpb_lex_value(cpb_lexer *L, int id)
{
    cpb_text *T = L->T;
    int c = cpb_lpeek(L), rc;
    size_t off = 0, n = 0;
    if (c == '"' || c == '\'') {
        if ((rc = cpb_lex_string(L, &off, &n)) != XAI_OK) return rc;
        T->node[id].kind = CPB_T_STR;
    } else if (c >= 0 && cpb_is_tok(c)) {
        off = T->nchars;
        while ((c = cpb_lpeek(L)) >= 0 && cpb_is_tok(c)) {
            if (cpb_putc(T, (char)c)) return XAI_ERR_MEMORY;
            cpb_ladv(L);
        }
        n = T->nchars - off;
        if (cpb_putc(T, 0)) return XAI_ERR_MEMORY;
        T->node[id].kind = CPB_T_TOK;
    } else {
        return cpb_lfail(T, L->line, L->col, "expected a value for '%s', found %s", T->chars + T->node[id].name,
                         c < 0 ? "the end of the file" : c == '{' ? "'{' (a message after ':' needs no value)" : "something else");
    }
    T->node[id].value = off;
    T->node[id].value_len = n;
    return XAI_OK;
}

/* The fields of a message up to its closing bracket (close = 0: up to the end of the file). */
CPB_FN int cpb_parse_fields(cpb_lexer *L, int parent, int depth, int close)
{
    cpb_text *T = L->T;
    const cpb_tnode *pn = &T->node[parent];
    int oline = pn->line, ocol = pn->col, rc;
    for (;;) {
        int c, line, col, id, had_colon = 0;
        size_t name;
        cpb_lskip(L);
        c = cpb_lpeek(L);
        if (c < 0) {
            if (close) return cpb_lfail(T, L->line, L->col, "the file ends inside '%s' opened at line %d, column %d", T->chars + T->node[parent].name, oline, ocol);
            return XAI_OK;
        }
        if (close && c == close) { cpb_ladv(L); return XAI_OK; }
        if (c == 0) return cpb_lfail(T, L->line, L->col, "a zero byte");
        if (!cpb_is_alpha(c)) {
            if (c == '}' || c == '>') return cpb_lfail(T, L->line, L->col, "'%c' closes no message", c);
            if (c == '[') return cpb_lfail(T, L->line, L->col, "extensions ([name]) are not supported");
            if (c >= 32 && c < 127) return cpb_lfail(T, L->line, L->col, "expected a field name, found '%c'", c);
            return cpb_lfail(T, L->line, L->col, "expected a field name, found byte 0x%02x", c);
        }
        line = L->line;
        col = L->col;
        name = T->nchars;
        while ((c = cpb_lpeek(L)) >= 0 && (cpb_is_alpha(c) || cpb_is_digit(c))) {
            if (cpb_putc(T, (char)c)) return XAI_ERR_MEMORY;
            cpb_ladv(L);
        }
        if (cpb_putc(T, 0)) return XAI_ERR_MEMORY;
        cpb_lskip(L);
        if (cpb_lpeek(L) == ':') { had_colon = 1; cpb_ladv(L); cpb_lskip(L); }
        c = cpb_lpeek(L);
        if (c == '{' || c == '<') {
            if (depth + 1 > CPB_MAX_DEPTH) return cpb_lfail(T, L->line, L->col, "messages nested deeper than %d", CPB_MAX_DEPTH);
            if ((id = cpb_node_new(T, parent, name, CPB_T_MSG, line, col)) < 0) return id;
            cpb_ladv(L);
            if ((rc = cpb_parse_fields(L, id, depth + 1, c == '{' ? '}' : '>')) != XAI_OK) return rc;
        } else if (had_colon && c == '[') {
            /* name: [v, v, ...] is name: v repeated */
            cpb_ladv(L);
            cpb_lskip(L);
            if (cpb_lpeek(L) == ']') cpb_ladv(L);
            else for (;;) {
                int eline = L->line, ecol = L->col;
                c = cpb_lpeek(L);
                if ((id = cpb_node_new(T, parent, name, CPB_T_TOK, eline, ecol)) < 0) return id;
                if (c == '{' || c == '<') {
                    if (depth + 1 > CPB_MAX_DEPTH) return cpb_lfail(T, L->line, L->col, "messages nested deeper than %d", CPB_MAX_DEPTH);
                    T->node[id].kind = CPB_T_MSG;
                    cpb_ladv(L);
                    if ((rc = cpb_parse_fields(L, id, depth + 1, c == '{' ? '}' : '>')) != XAI_OK) return rc;
                } else if ((rc = cpb_lex_value(L, id)) != XAI_OK) {
                    return rc;
                }
                cpb_lskip(L);
                c = cpb_lpeek(L);
                if (c == ',') { cpb_ladv(L); cpb_lskip(L); continue; }
                if (c == ']') { cpb_ladv(L); break; }
                return cpb_lfail(T, L->line, L->col, "expected ',' or ']' in the list of '%s'", T->chars + name);
            }
        } else if (had_colon) {
            if ((id = cpb_node_new(T, parent, name, CPB_T_TOK, line, col)) < 0) return id;
            if ((rc = cpb_lex_value(L, id)) != XAI_OK) return rc;
        } else {
            return cpb_lfail(T, L->line, L->col, "expected ':' or '{' after the field name '%s'", T->chars + name);
        }
        cpb_lskip(L);
        if (cpb_lpeek(L) == ',' || cpb_lpeek(L) == ';') cpb_ladv(L);
    }
}

/* Parses a whole prototxt; T must be freed with cpb_text_free, also after an error. */
CPB_FN int cpb_text_parse(cpb_text *T, const char *s, size_t len, const char *file)
{
    cpb_lexer L;
    memset(T, 0, sizeof *T);
    T->file = file;
    if (len > CPB_MAX_TEXT) return cpb_fail(XAI_ERR_LIMIT, "%s: %zu bytes, more than a net definition needs", file, len);
    if (cpb_putc(T, 0) || cpb_node_new(T, -1, 0, CPB_T_MSG, 1, 1) < 0) return XAI_ERR_MEMORY;
    L.T = T;
    L.s = s;
    L.len = len;
    L.pos = 0;
    L.line = L.col = 1;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) L.pos = 3;   /* a UTF-8 byte order mark */
    return cpb_parse_fields(&L, 0, 0, 0);
}

/* -- the tree, read -- */

CPB_FN const char *cpb_tname(const cpb_text *T, int n) { return T->chars + T->node[n].name; }
CPB_FN const char *cpb_tval(const cpb_text *T, int n) { return T->chars + T->node[n].value; }

/* The next child of msg named name after child `after` (-1: the first), or -1. */
CPB_FN int cpb_tnext(const cpb_text *T, int msg, const char *name, int after)
{
    int c = after < 0 ? T->node[msg].child : T->node[after].next;
    for (; c >= 0; c = T->node[c].next)
        if (strcmp(cpb_tname(T, c), name) == 0) return c;
    return -1;
}

CPB_FN int cpb_tcount(const cpb_text *T, int msg, const char *name)
{
    int n = 0, c = -1;
    while ((c = cpb_tnext(T, msg, name, c)) >= 0) n++;
    return n;
}

CPB_FN CPB_PRINTF(3, 4) int cpb_tfail(const cpb_text *T, int n, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cpb_fail(XAI_ERR_FORMAT, "%s:%d:%d: %s", T->file, T->node[n].line, T->node[n].col, msg);
}

/* A singular field: its node, -1 when absent, or an error when it is given twice or is a message
   where a value belongs (want_msg 0) or the other way round (want_msg 1). */
CPB_FN int cpb_tfield(const cpb_text *T, int msg, const char *name, int want_msg, const char *ctx, int *out)
{
    int n = cpb_tnext(T, msg, name, -1), second;
    *out = -1;
    if (n < 0) return XAI_OK;
    if ((second = cpb_tnext(T, msg, name, n)) >= 0)
        return cpb_tfail(T, second, "%s: '%s' is given twice (it is not a repeated field)", ctx, name);
    if (want_msg && T->node[n].kind != CPB_T_MSG) return cpb_tfail(T, n, "%s: '%s' must be a message { ... }", ctx, name);
    if (!want_msg && T->node[n].kind == CPB_T_MSG) return cpb_tfail(T, n, "%s: '%s' takes a value, not a message", ctx, name);
    *out = n;
    return XAI_OK;
}

/* The node's value as a number token (not a message, not a quoted string). */
CPB_FN const char *cpb_ttok(const cpb_text *T, int n, const char *ctx, const char *what)
{
    if (T->node[n].kind == CPB_T_MSG) { cpb_tfail(T, n, "%s: '%s' takes %s, not a message", ctx, cpb_tname(T, n), what); return NULL; }
    if (T->node[n].kind == CPB_T_STR) { cpb_tfail(T, n, "%s: '%s' takes %s, not a quoted string", ctx, cpb_tname(T, n), what); return NULL; }
    return cpb_tval(T, n);
}

CPB_FN int cpb_tint(const cpb_text *T, int n, const char *ctx, long long lo, long long hi, long long *out)
{
    const char *s = cpb_ttok(T, n, ctx, "an integer");
    char *end;
    long long v;
    if (!s) return XAI_ERR_FORMAT;
    v = strtoll(s, &end, 0);
    if (end == s || *end || v < lo || v > hi)
        return cpb_tfail(T, n, "%s: %s: '%s' is not an integer in %lld..%lld", ctx, cpb_tname(T, n), s, lo, hi);
    *out = v;
    return XAI_OK;
}

CPB_FN int cpb_tfloat(const cpb_text *T, int n, const char *ctx, float *out)
{
    const char *s = cpb_ttok(T, n, ctx, "a number");
    char buf[64], *end;
    size_t len;
    double v;
    if (!s) return XAI_ERR_FORMAT;
    len = strlen(s);
    if (len >= sizeof buf) return cpb_tfail(T, n, "%s: %s: '%.40s...' is not a number", ctx, cpb_tname(T, n), s);
    memcpy(buf, s, len + 1);
    /* the text format allows a float suffix (1e-4f); "inf", "nan" are strtod's */
    if (len > 1 && (buf[len - 1] == 'f' || buf[len - 1] == 'F') && (cpb_is_digit(buf[len - 2]) || buf[len - 2] == '.')) buf[len - 1] = 0;
    v = strtod(buf, &end);
    if (end == buf || *end) return cpb_tfail(T, n, "%s: %s: '%s' is not a number", ctx, cpb_tname(T, n), s);
    if (!(v <= FLT_MAX && v >= -FLT_MAX)) return cpb_tfail(T, n, "%s: %s: %s is not a finite float", ctx, cpb_tname(T, n), s);
    *out = (float)v;
    return XAI_OK;
}

CPB_FN int cpb_tbool(const cpb_text *T, int n, const char *ctx, int *out)
{
    const char *s = cpb_ttok(T, n, ctx, "true or false");
    if (!s) return XAI_ERR_FORMAT;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "t") || !strcmp(s, "1")) *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "f") || !strcmp(s, "0")) *out = 0;
    else return cpb_tfail(T, n, "%s: %s: '%s' is not true or false", ctx, cpb_tname(T, n), s);
    return XAI_OK;
}

typedef struct cpb_enum {
    const char *name;
    int value;
} cpb_enum;   /* ends with {NULL, 0} */

CPB_FN int cpb_tenum(const cpb_text *T, int n, const char *ctx, const cpb_enum *e, int *out)
{
    const char *s = cpb_ttok(T, n, ctx, "an enum value");
    const cpb_enum *x;
    char list[200];
    size_t o = 0;
    if (!s) return XAI_ERR_FORMAT;
    for (x = e; x->name; x++)
        if (!strcmp(s, x->name)) { *out = x->value; return XAI_OK; }
    if (cpb_is_digit((unsigned char)s[0]) || s[0] == '-') {
        char *end;
        long v = strtol(s, &end, 0);
        for (x = e; !*end && x->name; x++)
            if (v == x->value) { *out = x->value; return XAI_OK; }
    }
    list[0] = 0;
    for (x = e; x->name && o + 40 < sizeof list; x++) o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", x->name);
    return cpb_tfail(T, n, "%s: %s: '%s' is not one of %s", ctx, cpb_tname(T, n), s, list);
}

/* A quoted string without zero bytes. */
CPB_FN int cpb_tstr(const cpb_text *T, int n, const char *ctx, const char **out)
{
    if (T->node[n].kind != CPB_T_STR)
        return cpb_tfail(T, n, "%s: '%s' takes a quoted string%s", ctx, cpb_tname(T, n), T->node[n].kind == CPB_T_MSG ? ", not a message" : "");
    if (strlen(cpb_tval(T, n)) != T->node[n].value_len) return cpb_tfail(T, n, "%s: '%s' holds a zero byte", ctx, cpb_tname(T, n));
    *out = cpb_tval(T, n);
    return XAI_OK;
}

/* Optional singular fields: 1 and the value when given, 0 when absent, or an error. */
CPB_FN int cpb_opt_int(const cpb_text *T, int msg, const char *name, const char *ctx, long long lo, long long hi, int *out)
{
    int n, rc;
    long long v;
    if ((rc = cpb_tfield(T, msg, name, 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return 0;
    if ((rc = cpb_tint(T, n, ctx, lo, hi, &v)) != XAI_OK) return rc;
    *out = (int)v;
    return 1;
}
CPB_FN int cpb_opt_float(const cpb_text *T, int msg, const char *name, const char *ctx, float *out)
{
    int n, rc;
    if ((rc = cpb_tfield(T, msg, name, 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return 0;
    return (rc = cpb_tfloat(T, n, ctx, out)) != XAI_OK ? rc : 1;
}
CPB_FN int cpb_opt_bool(const cpb_text *T, int msg, const char *name, const char *ctx, int *out)
{
    int n, rc;
    if ((rc = cpb_tfield(T, msg, name, 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return 0;
    return (rc = cpb_tbool(T, n, ctx, out)) != XAI_OK ? rc : 1;
}
CPB_FN int cpb_opt_enum(const cpb_text *T, int msg, const char *name, const char *ctx, const cpb_enum *e, int *out)
{
    int n, rc;
    if ((rc = cpb_tfield(T, msg, name, 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return 0;
    return (rc = cpb_tenum(T, n, ctx, e, out)) != XAI_OK ? rc : 1;
}

/* Caffe's parser refuses fields its .proto does not have; so do the messages read here. */
CPB_FN int cpb_tknown(const cpb_text *T, int msg, const char *ctx, const char *const *known)
{
    int c;
    for (c = T->node[msg].child; c >= 0; c = T->node[c].next) {
        const char *const *k;
        for (k = known; *k; k++)
            if (!strcmp(*k, cpb_tname(T, c))) break;
        if (!*k) return cpb_tfail(T, c, "%s: unknown field '%s'", ctx, cpb_tname(T, c));
    }
    return XAI_OK;
}

/* ---- 4. the deploy net: Caffe's layers onto xai.h's ---------------------------------------------- */

/* V1LayerParameter.LayerType and the V2 type string each became (Caffe's UpgradeV1LayerType) */
typedef struct cpb_v1type {
    const char *v1;
    int num;
    const char *v2;
} cpb_v1type;
static const cpb_v1type cpb_v1_types[] = {
    {"NONE", 0, ""}, {"ABSVAL", 35, "AbsVal"}, {"ACCURACY", 1, "Accuracy"}, {"ARGMAX", 30, "ArgMax"}, {"BNLL", 2, "BNLL"},
    {"CONCAT", 3, "Concat"}, {"CONTRASTIVE_LOSS", 37, "ContrastiveLoss"}, {"CONVOLUTION", 4, "Convolution"},
    {"DECONVOLUTION", 39, "Deconvolution"}, {"DATA", 5, "Data"}, {"DROPOUT", 6, "Dropout"}, {"DUMMY_DATA", 32, "DummyData"},
    {"EUCLIDEAN_LOSS", 7, "EuclideanLoss"}, {"ELTWISE", 25, "Eltwise"}, {"EXP", 38, "Exp"}, {"FLATTEN", 8, "Flatten"},
    {"HDF5_DATA", 9, "HDF5Data"}, {"HDF5_OUTPUT", 10, "HDF5Output"}, {"HINGE_LOSS", 28, "HingeLoss"}, {"IM2COL", 11, "Im2col"},
    {"IMAGE_DATA", 12, "ImageData"}, {"INFOGAIN_LOSS", 13, "InfogainLoss"}, {"INNER_PRODUCT", 14, "InnerProduct"},
    {"LRN", 15, "LRN"}, {"MEMORY_DATA", 29, "MemoryData"}, {"MULTINOMIAL_LOGISTIC_LOSS", 16, "MultinomialLogisticLoss"},
    {"MVN", 34, "MVN"}, {"POOLING", 17, "Pooling"}, {"POWER", 26, "Power"}, {"RELU", 18, "ReLU"}, {"SIGMOID", 19, "Sigmoid"},
    {"SIGMOID_CROSS_ENTROPY_LOSS", 27, "SigmoidCrossEntropyLoss"}, {"SILENCE", 36, "Silence"}, {"SOFTMAX", 20, "Softmax"},
    {"SOFTMAX_LOSS", 21, "SoftmaxWithLoss"}, {"SPLIT", 22, "Split"}, {"SLICE", 33, "Slice"}, {"TANH", 23, "TanH"},
    {"WINDOW_DATA", 24, "WindowData"}, {"THRESHOLD", 31, "Threshold"}, {NULL, 0, NULL}};

/* Caffe's type string -> XAI_* type; -1: not run by xai.h */
CPB_FN int cpb_xai_type(const char *type)
{
    int t;
    for (t = 0; t < XAI_LAYER_TYPE_COUNT; t++)
        if (!strcmp(type, xai_layer_type_name(t))) return t;
    return -1;
}

/* Layers that feed training; an inference net has no use for them. */
CPB_FN int cpb_train_only(const char *type)
{
    static const char *const list[] = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData", NULL};
    const char *const *t;
    for (t = list; *t; t++)
        if (!strcmp(*t, type)) return 1;
    return 0;
}

/* Layers that only read what the net computed (the class with the highest score, a loss, an
   accuracy, a sink): dropped, so long as no kept layer reads their tops. */
CPB_FN int cpb_reader_only(const char *type)
{
    size_t n = strlen(type);
    return !strcmp(type, "ArgMax") || !strcmp(type, "Accuracy") || !strcmp(type, "Silence") || (n >= 4 && !strcmp(type + n - 4, "Loss"));
}

static const cpb_enum cpb_phase_enum[] = {{"TRAIN", 0}, {"TEST", 1}, {NULL, 0}};

/* Does a NetStateRule match the TEST state (level 0, no stages)?  Caffe's Net::StateMeetsRule. */
CPB_FN int cpb_rule_matches(const cpb_text *T, int rule, const char *ctx, int *match)
{
    static const char *const known[] = {"phase", "min_level", "max_level", "stage", "not_stage", NULL};
    int phase, level, rc;
    *match = 1;
    if ((rc = cpb_tknown(T, rule, ctx, known)) != XAI_OK) return rc;
    if ((rc = cpb_opt_enum(T, rule, "phase", ctx, cpb_phase_enum, &phase)) < 0) return rc;
    if (rc == 1 && phase != 1) *match = 0;
    if ((rc = cpb_opt_int(T, rule, "min_level", ctx, INT_MIN, INT_MAX, &level)) < 0) return rc;
    if (rc == 1 && 0 < level) *match = 0;
    if ((rc = cpb_opt_int(T, rule, "max_level", ctx, INT_MIN, INT_MAX, &level)) < 0) return rc;
    if (rc == 1 && 0 > level) *match = 0;
    if (cpb_tcount(T, rule, "stage") > 0) *match = 0;   /* the state has no stages */
    return XAI_OK;
}

/* 1: the layer is part of the TEST net (include/exclude rules), 0: not, or an error. */
CPB_FN int cpb_in_test_net(const cpb_text *T, int layer, const char *ctx)
{
    int ninc = cpb_tcount(T, layer, "include"), nexc = cpb_tcount(T, layer, "exclude"), r = -1, m, rc;
    if (ninc && nexc) return cpb_tfail(T, layer, "%s: both include and exclude rules (Caffe allows one kind)", ctx);
    while ((r = cpb_tnext(T, layer, ninc ? "include" : "exclude", r)) >= 0) {
        if (T->node[r].kind != CPB_T_MSG) return cpb_tfail(T, r, "%s: '%s' must be a message { phase: ... }", ctx, cpb_tname(T, r));
        if ((rc = cpb_rule_matches(T, r, ctx, &m)) != XAI_OK) return rc;
        if (m) return ninc ? 1 : 0;
    }
    return ninc ? 0 : 1;
}

enum { CPB_LAYER_DROP, CPB_LAYER_KEEP, CPB_LAYER_INPUT, CPB_LAYER_READER };

typedef struct cpb_dlayer {
    int node, v1, what, type;        /* CPB_LAYER_*, XAI_* type */
    char name[XAI_NAME_MAX];
    char type_name[64];              /* Caffe's V2 string */
} cpb_dlayer;

/* Name, type and fate of a deploy layer. */
CPB_FN int cpb_classify(const cpb_text *T, int node, int v1, int index, cpb_dlayer *D)
{
    char ctx[XAI_NAME_MAX + 64];
    const char *s;
    int n, rc, keep;
    memset(D, 0, sizeof *D);
    D->node = node;
    D->v1 = v1;
    snprintf(ctx, sizeof ctx, "%s #%d", v1 ? "layers" : "layer", index);
    if (T->node[node].kind != CPB_T_MSG) return cpb_tfail(T, node, "%s: must be a message { ... }", ctx);
    if (v1 && (n = cpb_tnext(T, node, "layer", -1)) >= 0)
        return cpb_tfail(T, n, "%s: the pre-2014 V0 format (a 'layer' inside 'layers') is not supported: upgrade the file with "
                               "Caffe's tools/upgrade_net_proto_text", ctx);
    if ((rc = cpb_tfield(T, node, "name", 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return cpb_tfail(T, node, "%s has no name (weights are matched by layer name)", ctx);
    if ((rc = cpb_tstr(T, n, ctx, &s)) != XAI_OK) return rc;
    if (!*s || strlen(s) >= XAI_NAME_MAX) return cpb_tfail(T, n, "%s: name is empty or longer than %d bytes", ctx, XAI_NAME_MAX - 1);
    memcpy(D->name, s, strlen(s) + 1);
    snprintf(ctx, sizeof ctx, "layer '%s'", D->name);
    if ((rc = cpb_tfield(T, node, "type", 0, ctx, &n)) != XAI_OK) return rc;
    if (n < 0) return cpb_tfail(T, node, "%s has no type", ctx);
    if (v1) {
        const cpb_v1type *t;
        const char *tok = cpb_ttok(T, n, ctx, "a layer type such as CONVOLUTION");
        if (!tok) return XAI_ERR_FORMAT;
        for (t = cpb_v1_types; t->v1; t++)
            if (!strcmp(tok, t->v1) || (cpb_is_digit((unsigned char)tok[0]) && atoi(tok) == t->num)) break;
        if (!t->v1 || !t->v2[0]) return cpb_tfail(T, n, "%s: type %s is not a Caffe V1 layer type", ctx, tok);
        snprintf(D->type_name, sizeof D->type_name, "%s", t->v2);
    } else {
        if (T->node[n].kind == CPB_T_TOK)
            return cpb_tfail(T, n, "%s: type takes a quoted string such as \"Convolution\" (an identifier like %s belongs to the "
                                   "old 'layers' format)", ctx, cpb_tval(T, n));
        if ((rc = cpb_tstr(T, n, ctx, &s)) != XAI_OK) return rc;
        snprintf(D->type_name, sizeof D->type_name, "%s", s);
    }
    if ((keep = cpb_in_test_net(T, node, ctx)) < 0) return keep;
    D->type = cpb_xai_type(D->type_name);
    if (!keep || cpb_train_only(D->type_name)) D->what = CPB_LAYER_DROP;
    else if (cpb_reader_only(D->type_name)) D->what = CPB_LAYER_READER;
    else if (!strcmp(D->type_name, "Input")) D->what = CPB_LAYER_INPUT;
    else if (D->type >= 0) D->what = CPB_LAYER_KEEP;
    else
        return cpb_tfail(T, n, "%s: layer type \"%s\" is not supported (xai.h runs Convolution, InnerProduct, ReLU, Pooling, LRN, "
                               "Dropout, Softmax, Concat, Eltwise and Split; Data layers are dropped, and so are ArgMax, Accuracy, loss and Silence "
                               "layers, which only read the scores)", ctx, D->type_name);
    return XAI_OK;
}

/* A repeated pad/kernel_size/stride/dilation: none (def), one value for both axes, or h and w. */
CPB_FN int cpb_two(const cpb_text *T, int msg, const char *name, const char *ctx, int def, int lo, int *h, int *w)
{
    int n = cpb_tcount(T, msg, name), a = -1, rc;
    long long v[2];
    *h = *w = def;
    if (n == 0) return 0;
    if (n > 2) return cpb_tfail(T, cpb_tnext(T, msg, name, -1), "%s: %d values of %s: one for both axes, or one for each", ctx, n, name);
    for (n = 0; (a = cpb_tnext(T, msg, name, a)) >= 0; n++)
        if ((rc = cpb_tint(T, a, ctx, lo, CPB_MAX_DIM, &v[n])) != XAI_OK) return rc;
    *h = (int)v[0];
    *w = (int)v[n == 2 ? 1 : 0];
    return 1;
}

/* name_h and name_w, which replace name (given both, never with name) */
CPB_FN int cpb_hw(const cpb_text *T, int msg, const char *name, const char *ctx, int given, int lo, int *h, int *w)
{
    char nh[32], nw[32];
    int rh, rw, vh = 0, vw = 0;
    snprintf(nh, sizeof nh, "%s_h", name);
    snprintf(nw, sizeof nw, "%s_w", name);
    if ((rh = cpb_opt_int(T, msg, nh, ctx, lo, CPB_MAX_DIM, &vh)) < 0) return rh;
    if ((rw = cpb_opt_int(T, msg, nw, ctx, lo, CPB_MAX_DIM, &vw)) < 0) return rw;
    if (!rh && !rw) return XAI_OK;
    if (given) return cpb_tfail(T, msg, "%s: either %s or %s/%s, not both", ctx, strcmp(name, "kernel") ? name : "kernel_size", nh, nw);
    if (!rh || !rw) return cpb_tfail(T, msg, "%s: %s and %s go together", ctx, nh, nw);
    *h = vh;
    *w = vw;
    return XAI_OK;
}

/* The param message of a layer: its node, or -1. */
CPB_FN int cpb_param_msg(const cpb_text *T, int layer, const char *name, const char *ctx, int *out)
{
    return cpb_tfield(T, layer, name, 1, ctx, out);
}

static const cpb_enum cpb_pool_enum[] = {{"MAX", 0}, {"AVE", 1}, {"STOCHASTIC", 2}, {NULL, 0}};
static const cpb_enum cpb_round_enum[] = {{"CEIL", 0}, {"FLOOR", 1}, {NULL, 0}};
static const cpb_enum cpb_norm_enum[] = {{"ACROSS_CHANNELS", 0}, {"WITHIN_CHANNEL", 1}, {NULL, 0}};
static const cpb_enum cpb_eltwise_enum[] = {{"PROD", 0}, {"SUM", 1}, {"MAX", 2}, {NULL, 0}};
static const cpb_enum cpb_engine_enum[] = {{"DEFAULT", 0}, {"CAFFE", 1}, {"CUDNN", 2}, {NULL, 0}};

/* Caffe's layer parameters onto xai_layer_param. */
CPB_FN int cpb_layer_param(const cpb_text *T, const cpb_dlayer *D, xai_layer_param *p)
{
    char ctx[XAI_NAME_MAX + 64], pctx[XAI_NAME_MAX + 96];
    int layer = D->node, m = -1, rc, v, given, e;
    *p = xai_layer_defaults(D->type >= 0 ? D->type : 0);
    snprintf(ctx, sizeof ctx, "layer '%s'", D->name);
#define CPB_TRY(x) do { if ((rc = (x)) < 0) return rc; } while (0)
    switch (D->type) {
    case XAI_CONVOLUTION: {
        static const char *const known[] = {"num_output", "bias_term", "pad", "kernel_size", "stride", "dilation", "pad_h", "pad_w",
                                            "kernel_h", "kernel_w", "stride_h", "stride_w", "group", "weight_filler", "bias_filler",
                                            "engine", "axis", "force_nd_im2col", NULL};
        snprintf(pctx, sizeof pctx, "%s: convolution_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "convolution_param", ctx, &m));
        if (m < 0) return cpb_tfail(T, layer, "%s: convolution_param is missing (num_output and kernel_size are needed)", ctx);
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        if ((rc = cpb_opt_int(T, m, "num_output", pctx, 1, CPB_MAX_DIM, &p->num_output)) <= 0)
            return rc < 0 ? rc : cpb_tfail(T, m, "%s: num_output is missing", pctx);
        CPB_TRY(cpb_opt_bool(T, m, "bias_term", pctx, &p->bias_term));
        CPB_TRY(cpb_opt_int(T, m, "group", pctx, 1, CPB_MAX_DIM, &p->group));
        CPB_TRY(cpb_opt_enum(T, m, "engine", pctx, cpb_engine_enum, &e));
        CPB_TRY(cpb_opt_bool(T, m, "force_nd_im2col", pctx, &e));
        if ((rc = cpb_opt_int(T, m, "axis", pctx, -4, 3, &v)) < 0) return rc;
        if (rc == 1 && v != 1 && v != -3) return cpb_tfail(T, m, "%s: axis %d is not supported (1, the channels, is)", pctx, v);
        CPB_TRY(given = cpb_two(T, m, "kernel_size", pctx, 0, 1, &p->kernel_h, &p->kernel_w));
        CPB_TRY(cpb_hw(T, m, "kernel", pctx, given, 1, &p->kernel_h, &p->kernel_w));
        if (p->kernel_h <= 0) return cpb_tfail(T, m, "%s: kernel_size (or kernel_h and kernel_w) is missing", pctx);
        CPB_TRY(given = cpb_two(T, m, "pad", pctx, 0, 0, &p->pad_h, &p->pad_w));
        CPB_TRY(cpb_hw(T, m, "pad", pctx, given, 0, &p->pad_h, &p->pad_w));
        CPB_TRY(given = cpb_two(T, m, "stride", pctx, 1, 1, &p->stride_h, &p->stride_w));
        CPB_TRY(cpb_hw(T, m, "stride", pctx, given, 1, &p->stride_h, &p->stride_w));
        CPB_TRY(cpb_two(T, m, "dilation", pctx, 1, 1, &p->dilation_h, &p->dilation_w));
        break;
    }
    case XAI_INNER_PRODUCT: {
        static const char *const known[] = {"num_output", "bias_term", "weight_filler", "bias_filler", "axis", "transpose", NULL};
        snprintf(pctx, sizeof pctx, "%s: inner_product_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "inner_product_param", ctx, &m));
        if (m < 0) return cpb_tfail(T, layer, "%s: inner_product_param is missing (num_output is needed)", ctx);
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        if ((rc = cpb_opt_int(T, m, "num_output", pctx, 1, INT_MAX, &p->num_output)) <= 0)
            return rc < 0 ? rc : cpb_tfail(T, m, "%s: num_output is missing", pctx);
        CPB_TRY(cpb_opt_bool(T, m, "bias_term", pctx, &p->bias_term));
        CPB_TRY(cpb_opt_bool(T, m, "transpose", pctx, &p->transpose));
        if ((rc = cpb_opt_int(T, m, "axis", pctx, -4, 3, &v)) < 0) return rc;
        if (rc == 1 && v != 1 && v != -3) return cpb_tfail(T, m, "%s: axis %d is not supported (1: flatten C, H, W)", pctx, v);
        break;
    }
    case XAI_RELU: {
        static const char *const known[] = {"negative_slope", "engine", NULL};
        snprintf(pctx, sizeof pctx, "%s: relu_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "relu_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_float(T, m, "negative_slope", pctx, &p->negative_slope));
        CPB_TRY(cpb_opt_enum(T, m, "engine", pctx, cpb_engine_enum, &e));
        break;
    }
    case XAI_POOLING: {
        static const char *const known[] = {"pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h", "kernel_w", "stride", "stride_h",
                                            "stride_w", "engine", "global_pooling", "round_mode", NULL};
        int pool = 0, hk = 0, hs = 0, hp = 0;
        snprintf(pctx, sizeof pctx, "%s: pooling_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "pooling_param", ctx, &m));
        if (m < 0) return cpb_tfail(T, layer, "%s: pooling_param is missing (kernel_size is needed)", ctx);
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_enum(T, m, "pool", pctx, cpb_pool_enum, &pool));
        if (pool == 2) return cpb_tfail(T, cpb_tnext(T, m, "pool", -1), "%s: pool STOCHASTIC is not supported (MAX and AVE are)", pctx);
        p->pool = pool;
        CPB_TRY(cpb_opt_bool(T, m, "global_pooling", pctx, &p->global_pooling));
        CPB_TRY(cpb_opt_enum(T, m, "round_mode", pctx, cpb_round_enum, &p->round_mode));
        CPB_TRY(cpb_opt_enum(T, m, "engine", pctx, cpb_engine_enum, &e));
        /* PoolingParameter's kernel_size, pad and stride are single values */
        CPB_TRY(hk = cpb_opt_int(T, m, "kernel_size", pctx, 1, CPB_MAX_DIM, &p->kernel_h));
        p->kernel_w = p->kernel_h;
        CPB_TRY(cpb_hw(T, m, "kernel", pctx, hk, 1, &p->kernel_h, &p->kernel_w));
        CPB_TRY(hp = cpb_opt_int(T, m, "pad", pctx, 0, CPB_MAX_DIM, &p->pad_h));
        p->pad_w = p->pad_h;
        CPB_TRY(cpb_hw(T, m, "pad", pctx, hp, 0, &p->pad_h, &p->pad_w));
        CPB_TRY(hs = cpb_opt_int(T, m, "stride", pctx, 1, CPB_MAX_DIM, &p->stride_h));
        p->stride_w = p->stride_h;
        CPB_TRY(cpb_hw(T, m, "stride", pctx, hs, 1, &p->stride_h, &p->stride_w));
        if (p->global_pooling) {
            if (hk || cpb_tcount(T, m, "kernel_h")) return cpb_tfail(T, m, "%s: global_pooling with a kernel size (Caffe refuses it)", pctx);
        } else if (p->kernel_h <= 0) {
            return cpb_tfail(T, m, "%s: kernel_size (or kernel_h and kernel_w, or global_pooling) is missing", pctx);
        }
        break;
    }
    case XAI_LRN: {
        static const char *const known[] = {"local_size", "alpha", "beta", "norm_region", "k", "engine", NULL};
        snprintf(pctx, sizeof pctx, "%s: lrn_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "lrn_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_int(T, m, "local_size", pctx, 1, 1023, &p->local_size));
        CPB_TRY(cpb_opt_float(T, m, "alpha", pctx, &p->alpha));
        CPB_TRY(cpb_opt_float(T, m, "beta", pctx, &p->beta));
        CPB_TRY(cpb_opt_float(T, m, "k", pctx, &p->k));
        CPB_TRY(cpb_opt_enum(T, m, "norm_region", pctx, cpb_norm_enum, &p->norm_region));
        CPB_TRY(cpb_opt_enum(T, m, "engine", pctx, cpb_engine_enum, &e));
        break;
    }
    case XAI_DROPOUT: {
        static const char *const known[] = {"dropout_ratio", NULL};
        snprintf(pctx, sizeof pctx, "%s: dropout_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "dropout_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_float(T, m, "dropout_ratio", pctx, &p->dropout_ratio));
        break;
    }
    case XAI_SOFTMAX: {
        static const char *const known[] = {"axis", "engine", NULL};
        snprintf(pctx, sizeof pctx, "%s: softmax_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "softmax_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_enum(T, m, "engine", pctx, cpb_engine_enum, &e));
        if ((rc = cpb_opt_int(T, m, "axis", pctx, -4, 3, &p->axis)) < 0) return rc;
        if (p->axis == -3) p->axis = 1;
        if (p->axis != 1) return cpb_tfail(T, m, "%s: axis %d is not supported (1, over the channels, is)", pctx, p->axis);
        break;
    }
    case XAI_CONCAT: {
        static const char *const known[] = {"axis", "concat_dim", NULL};
        int ha, hd, dim = 1;
        snprintf(pctx, sizeof pctx, "%s: concat_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "concat_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(ha = cpb_opt_int(T, m, "axis", pctx, -4, 3, &p->axis));
        CPB_TRY(hd = cpb_opt_int(T, m, "concat_dim", pctx, 0, 3, &dim));
        if (ha && hd) return cpb_tfail(T, m, "%s: either axis or concat_dim, not both", pctx);
        if (hd) p->axis = dim;
        if (p->axis == -3) p->axis = 1;
        if (p->axis != 1) return cpb_tfail(T, m, "%s: axis %d is not supported (1, the channels, is)", pctx, p->axis);
        break;
    }
    case XAI_ELTWISE: {
        static const char *const known[] = {"operation", "coeff", "stable_prod_grad", NULL};
        int c = -1;
        snprintf(pctx, sizeof pctx, "%s: eltwise_param", ctx);
        CPB_TRY(cpb_param_msg(T, layer, "eltwise_param", ctx, &m));
        if (m < 0) break;
        CPB_TRY(cpb_tknown(T, m, pctx, known));
        CPB_TRY(cpb_opt_enum(T, m, "operation", pctx, cpb_eltwise_enum, &p->operation));
        CPB_TRY(cpb_opt_bool(T, m, "stable_prod_grad", pctx, &e));
        while ((c = cpb_tnext(T, m, "coeff", c)) >= 0) {
            if (p->ncoeff == XAI_MAX_BOTTOMS) return cpb_tfail(T, c, "%s: more than %d coefficients", pctx, XAI_MAX_BOTTOMS);
            CPB_TRY(cpb_tfloat(T, c, pctx, &p->coeff[p->ncoeff]));
            p->ncoeff++;
        }
        break;
    }
    case XAI_SPLIT:
        break;
    default:
        return cpb_tfail(T, layer, "%s: layer type \"%s\" is not supported", ctx, D->type_name);
    }
#undef CPB_TRY
    return XAI_OK;
}

/* A layer's bottoms or tops as xai_net_add takes them: "a,b". */
CPB_FN int cpb_blob_list(const cpb_text *T, int layer, const char *field, const char *ctx, char *out, size_t size, int *count)
{
    int c = -1, rc, n = 0;
    size_t o = 0;
    out[0] = 0;
    while ((c = cpb_tnext(T, layer, field, c)) >= 0) {
        const char *s;
        size_t len;
        if ((rc = cpb_tstr(T, c, ctx, &s)) != XAI_OK) return rc;
        len = strlen(s);
        if (!len || len >= XAI_NAME_MAX) return cpb_tfail(T, c, "%s: %s name is empty or longer than %d bytes", ctx, field, XAI_NAME_MAX - 1);
        if (strpbrk(s, ", \t")) return cpb_tfail(T, c, "%s: %s name '%s' holds a comma or a space, which xai.h's blob lists cannot", ctx, field, s);
        if (n == (strcmp(field, "top") ? XAI_MAX_BOTTOMS : XAI_MAX_TOPS))
            return cpb_tfail(T, c, "%s: more than %d %ss", ctx, n, field);
        if (o + len + 2 > size) return cpb_tfail(T, c, "%s: too many %ss", ctx, field);
        if (n) out[o++] = ',';
        memcpy(out + o, s, len + 1);
        o += len;
        n++;
    }
    *count = n;
    return XAI_OK;
}

/* An input shape (BlobShape dims or input_dim): N x C x H x W, or N x C for a vector input. */
CPB_FN int cpb_shape_dims(const cpb_text *T, int msg, const char *field, const char *ctx, int *chw)
{
    long long d[4];
    int n = cpb_tcount(T, msg, field), c = -1, i = 0, rc;
    if (n != 4 && n != 2)
        return cpb_tfail(T, msg, "%s: %d values of %s: an input is num, channels, height, width (or num, channels)", ctx, n, field);
    while ((c = cpb_tnext(T, msg, field, c)) >= 0)
        if ((rc = cpb_tint(T, c, ctx, 1, CPB_MAX_DIM, &d[i++])) != XAI_OK) return rc;
    chw[0] = (int)d[1];
    chw[1] = n == 4 ? (int)d[2] : 1;
    chw[2] = n == 4 ? (int)d[3] : 1;
    return XAI_OK;
}

typedef struct cpb_named {
    const char *name;
    int index;
} cpb_named;

CPB_FN int cpb_named_cmp(const void *a, const void *b)
{
    const cpb_named *x = (const cpb_named *)a, *y = (const cpb_named *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first kept layer (in file order) whose name an earlier kept layer has, or -1: sorted, not
   pairwise, so 65536 layers cost n log n comparisons, not n^2 / 2. */
CPB_FN int cpb_first_duplicate(const cpb_dlayer *D, size_t nd)
{
    cpb_named *v = (cpb_named *)CPB_MALLOC((nd ? nd : 1) * sizeof *v);
    size_t i, n = 0;
    int first = -1;
    if (!v) return -2;
    for (i = 0; i < nd; i++)
        if (D[i].what == CPB_LAYER_KEEP) { v[n].name = D[i].name; v[n].index = (int)i; n++; }
    qsort(v, n, sizeof *v, cpb_named_cmp);
    for (i = 1; i < n; i++)
        if (!strcmp(v[i].name, v[i - 1].name) && (first < 0 || v[i].index < first)) first = v[i].index;
    CPB_FREE(v);
    return first;
}

/* The deploy prototxt as an xai_net, not finalized (cpb_net_load_weights finalizes it once the
   caffemodel has justified its size).  input_chw: C, H, W to use instead of the prototxt's input
   size, or NULL.  The net is Caffe's TEST net: train-only layers and rule-excluded ones dropped. */
CPB_FN xai_net *cpb_net_from_prototxt(const char *text, size_t len, const char *file, const int *input_chw)
{
    cpb_text T;
    cpb_dlayer *D = NULL;
    size_t nd = 0, capd = 0;
    xai_net *net = NULL;
    char input[XAI_NAME_MAX], *bottoms = NULL, *tops = NULL, nm[XAI_NAME_MAX];
    int root = 0, n, c, rc, have_size = 0, chw[3] = {0, 0, 0}, input_node = -1, nv1, nv2, i, dup;
    size_t listsize = (size_t)(XAI_MAX_BOTTOMS > XAI_MAX_TOPS ? XAI_MAX_BOTTOMS : XAI_MAX_TOPS) * (XAI_NAME_MAX + 1);
    const char *s;
    input[0] = 0;
    cpb_dropped[0] = 0;
    if (cpb_text_parse(&T, text, len, file) != XAI_OK) goto fail;
    nv1 = cpb_tcount(&T, root, "layers");
    nv2 = cpb_tcount(&T, root, "layer");
    if (nv1 && nv2) {
        cpb_tfail(&T, cpb_tnext(&T, root, "layers", -1), "both 'layers' (V1) and 'layer' (V2) fields: Caffe refuses such a net too");
        goto fail;
    }
    if (!nv1 && !nv2) { cpb_fail(XAI_ERR_FORMAT, "%s: no layers (no 'layer { ... }' or 'layers { ... }')", file); goto fail; }
    /* the layers, classified */
    for (c = -1, i = 0; (c = cpb_tnext(&T, root, nv1 ? "layers" : "layer", c)) >= 0; i++) {
        cpb_dlayer *nD = (cpb_dlayer *)cpb_grow(D, &capd, nd + 1, sizeof(cpb_dlayer));
        if (!nD) goto fail;
        D = nD;
        if (cpb_classify(&T, c, nv1 > 0, i, &D[nd]) != XAI_OK) goto fail;
        nd++;
    }
    /* the input: input + input_dim or input_shape, or an Input layer */
    if ((n = cpb_tcount(&T, root, "input")) > 1) {
        cpb_tfail(&T, cpb_tnext(&T, root, "input", cpb_tnext(&T, root, "input", -1)), "%d inputs: xai.h nets have one input blob", n);
        goto fail;
    }
    if (n == 1) {
        int ni = cpb_tnext(&T, root, "input", -1), ndim = cpb_tcount(&T, root, "input_dim"), nshape = cpb_tcount(&T, root, "input_shape");
        if (cpb_tstr(&T, ni, "input", &s) != XAI_OK) goto fail;
        if (!*s || strlen(s) >= XAI_NAME_MAX || strpbrk(s, ", \t")) { cpb_tfail(&T, ni, "input name '%s' is empty, too long or has a separator", s); goto fail; }
        memcpy(input, s, strlen(s) + 1);
        input_node = ni;
        if (ndim && nshape) { cpb_tfail(&T, ni, "input '%s' has both input_dim and input_shape", input); goto fail; }
        if (ndim) {
            if (cpb_shape_dims(&T, root, "input_dim", "input_dim", chw) != XAI_OK) goto fail;
            have_size = 1;
        } else if (nshape) {
            int sh = cpb_tnext(&T, root, "input_shape", -1);
            if (nshape > 1) { cpb_tfail(&T, sh, "%d input_shape messages for one input", nshape); goto fail; }
            if (T.node[sh].kind != CPB_T_MSG) { cpb_tfail(&T, sh, "input_shape must be a message { dim: ... }"); goto fail; }
            if (cpb_shape_dims(&T, sh, "dim", "input_shape", chw) != XAI_OK) goto fail;
            have_size = 1;
        }
    } else if (cpb_tcount(&T, root, "input_dim") || cpb_tcount(&T, root, "input_shape")) {
        n = cpb_tnext(&T, root, "input_dim", -1);
        cpb_tfail(&T, n >= 0 ? n : cpb_tnext(&T, root, "input_shape", -1), "an input size without an 'input' name");
        goto fail;
    }
    for (i = 0; i < (int)nd; i++) {
        int pm, sh, ntop;
        char ctx[XAI_NAME_MAX + 16], one[XAI_NAME_MAX * 2 + 2];
        static const char *const known[] = {"shape", NULL};
        if (D[i].what != CPB_LAYER_INPUT) continue;
        snprintf(ctx, sizeof ctx, "layer '%s'", D[i].name);
        if (input[0]) { cpb_tfail(&T, D[i].node, "%s: a second input ('%s' was the first): xai.h nets have one input blob", ctx, input); goto fail; }
        if (cpb_blob_list(&T, D[i].node, "top", ctx, one, sizeof one, &ntop) != XAI_OK) goto fail;
        if (ntop != 1) { cpb_tfail(&T, D[i].node, "%s: an Input layer with %d tops: xai.h nets have one input blob", ctx, ntop); goto fail; }
        memcpy(input, one, strlen(one) + 1);
        input_node = D[i].node;
        if (cpb_param_msg(&T, D[i].node, "input_param", ctx, &pm) != XAI_OK) goto fail;
        if (pm < 0) continue;
        if (cpb_tknown(&T, pm, "input_param", known) != XAI_OK) goto fail;
        if ((sh = cpb_tnext(&T, pm, "shape", -1)) < 0) continue;
        if (cpb_tcount(&T, pm, "shape") > 1) { cpb_tfail(&T, pm, "%s: input_param has more than one shape", ctx); goto fail; }
        if (T.node[sh].kind != CPB_T_MSG) { cpb_tfail(&T, sh, "%s: shape must be a message { dim: ... }", ctx); goto fail; }
        if (cpb_shape_dims(&T, sh, "dim", ctx, chw) != XAI_OK) goto fail;
        have_size = 1;
    }
    bottoms = (char *)CPB_MALLOC(listsize);
    tops = (char *)CPB_MALLOC(listsize);
    if (!bottoms || !tops) { cpb_fail(XAI_ERR_MEMORY, "out of memory"); goto fail; }
    if (!input[0]) {
        /* none declared (a train_val prototxt): the first bottom no kept layer makes */
        char **made = NULL;
        size_t nmade = 0, capm = 0;
        for (i = 0; i < (int)nd && !input[0]; i++) {
            int nb, nt, k;
            char *p;
            if (D[i].what != CPB_LAYER_KEEP) continue;
            if (cpb_blob_list(&T, D[i].node, "bottom", D[i].name, bottoms, listsize, &nb) != XAI_OK ||
                cpb_blob_list(&T, D[i].node, "top", D[i].name, tops, listsize, &nt) != XAI_OK) { CPB_FREE(made); goto fail; }
            for (p = strtok(bottoms, ","); p && !input[0]; p = strtok(NULL, ",")) {
                for (k = 0; k < (int)nmade && strcmp(made[k], p); k++) {}
                if (k == (int)nmade) { memcpy(input, p, strlen(p) + 1); input_node = D[i].node; }
            }
            /* tops point into T's text, which outlives this loop */
            for (k = -1; (k = cpb_tnext(&T, D[i].node, "top", k)) >= 0;) {
                char **nm2 = (char **)cpb_grow(made, &capm, nmade + 1, sizeof(char *));
                if (!nm2) { CPB_FREE(made); goto fail; }
                made = nm2;
                made[nmade++] = T.chars + T.node[k].value;
            }
        }
        CPB_FREE(made);
        if (!input[0]) { cpb_fail(XAI_ERR_FORMAT, "%s: no input blob: no 'input', no Input layer, and every bottom is made by a layer", file); goto fail; }
    }
    if (input_chw) {
        for (i = 0; i < 3; i++) chw[i] = input_chw[i];
        have_size = 1;
    }
    if (!have_size) {
        cpb_fail(XAI_ERR_ARG, "%s: the input '%s' has no size (no input_dim, input_shape or Input layer shape): give one with "
                 "--input C,H,W, e.g. --input 3,227,227", file, input);
        goto fail;
    }
    n = cpb_tnext(&T, root, "name", -1);
    if (n >= 0 && T.node[n].kind == CPB_T_STR && strlen(cpb_tval(&T, n)) < XAI_NAME_MAX && cpb_tval(&T, n)[0]) snprintf(nm, sizeof nm, "%s", cpb_tval(&T, n));
    else snprintf(nm, sizeof nm, "net");
    if (!(net = xai_net_new(nm))) { cpb_fail(XAI_ERR_MEMORY, "%s", xai_failure_reason()); goto fail; }
    if ((dup = cpb_first_duplicate(D, nd)) == -2) { cpb_fail(XAI_ERR_MEMORY, "out of memory"); goto fail; }
    if (xai_net_input(net, input, chw[0], chw[1], chw[2]) != XAI_OK) {
        if (input_node >= 0) cpb_tfail(&T, input_node, "input '%s' %dx%dx%d: %s", input, chw[0], chw[1], chw[2], xai_failure_reason());
        else cpb_fail(XAI_ERR_ARG, "%s: input '%s' %dx%dx%d: %s", file, input, chw[0], chw[1], chw[2], xai_failure_reason());
        goto fail;
    }
    /* the readers dropped: none of their tops may be read by a layer that runs */
    for (i = 0; i < (int)nd; i++) {
        int k, nt, j;
        char *p;
        size_t o;
        if (D[i].what != CPB_LAYER_READER) continue;
        if (cpb_blob_list(&T, D[i].node, "top", D[i].name, tops, listsize, &nt) != XAI_OK) goto fail;
        for (p = nt ? strtok(tops, ",") : NULL; p; p = strtok(NULL, ","))
            for (j = i + 1; j < (int)nd; j++) {
                if (D[j].what != CPB_LAYER_KEEP) continue;
                for (k = -1; (k = cpb_tnext(&T, D[j].node, "bottom", k)) >= 0;)
                    if (T.node[k].kind == CPB_T_STR && !strcmp(cpb_tval(&T, k), p)) {
                        cpb_tfail(&T, k, "layer '%s' reads '%s', the top of %s layer '%s', which xai.h does not run", D[j].name, p,
                                  D[i].type_name, D[i].name);
                        goto fail;
                    }
            }
        o = strlen(cpb_dropped);
        if (o + strlen(D[i].name) + strlen(D[i].type_name) + 8 < sizeof cpb_dropped)
            snprintf(cpb_dropped + o, sizeof cpb_dropped - o, "%s'%s' (%s)", o ? ", " : "", D[i].name, D[i].type_name);
    }
    for (i = 0; i < (int)nd; i++) {
        xai_layer_param p;
        int nb, nt;
        char ctx[XAI_NAME_MAX + 16];
        if (D[i].what != CPB_LAYER_KEEP) continue;
        snprintf(ctx, sizeof ctx, "layer '%s'", D[i].name);
        if (cpb_layer_param(&T, &D[i], &p) != XAI_OK) goto fail;
        if (cpb_blob_list(&T, D[i].node, "bottom", ctx, bottoms, listsize, &nb) != XAI_OK ||
            cpb_blob_list(&T, D[i].node, "top", ctx, tops, listsize, &nt) != XAI_OK) goto fail;
        if (i == dup) {
            cpb_tfail(&T, D[i].node, "%s: a second layer of that name (weights are matched by name)", ctx);
            goto fail;
        }
        if ((rc = xai_net_add(net, D[i].name, &p, bottoms, tops)) < 0) {
            cpb_tfail(&T, D[i].node, "%s (%s): %s", ctx, D[i].type_name, xai_failure_reason());
            goto fail;
        }
    }
    if (net->nlayer == 0) { cpb_fail(XAI_ERR_FORMAT, "%s: no layer left once the training layers are dropped", file); goto fail; }
    CPB_FREE(D);
    CPB_FREE(bottoms);
    CPB_FREE(tops);
    cpb_text_free(&T);
    return net;
fail:
    xai_net_free(net);
    CPB_FREE(D);
    CPB_FREE(bottoms);
    CPB_FREE(tops);
    cpb_text_free(&T);
    return NULL;
}

/* Prototxt and caffemodel in memory -> a finalized net with the trained weights. */
CPB_FN xai_net *cpb_convert(const char *prototxt, size_t plen, const char *pfile, const unsigned char *model, size_t mlen,
                            const char *mfile, const int *input_chw)
{
    xai_net *net = cpb_net_from_prototxt(prototxt, plen, pfile, input_chw);
    if (net && cpb_net_load_weights(net, model, mlen, mfile) != XAI_OK) {
        xai_net_free(net);
        net = NULL;
    }
    return net;
}

/* A mean .binaryproto as the net's mean image.  The mean must have the input's channels and be at
   least its size; a larger one (ILSVRC's 256x256 for a 227x227 input) means Caffe's path: resize
   the picture to the mean's size, subtract, crop the centre. */
CPB_FN int cpb_net_set_mean(xai_net *net, const unsigned char *data, size_t len, const char *file)
{
    int c = 0, h = 0, w = 0, rc;
    float *mean;
    if ((rc = cpb_read_blobproto(data, len, file, &c, &h, &w, &mean)) != XAI_OK) return rc;
    if (c != net->input_c || h < net->input_h || w < net->input_w) {
        CPB_FREE(mean);
        return cpb_fail(XAI_ERR_ARG, "%s: the %dx%dx%d mean image does not fit the %dx%dx%d input (same channels, at least as large)", file, c, h, w,
                        net->input_c, net->input_h, net->input_w);
    }
    rc = xai_net_set_mean_image(net, c, h, w, mean);
    CPB_FREE(mean);
    if (rc != XAI_OK) return cpb_fail(rc, "%s: %s", file, xai_failure_reason());
    net->pre.resize_w = w > net->input_w || h > net->input_h ? w : 0;
    net->pre.resize_h = w > net->input_w || h > net->input_h ? h : 0;
    return XAI_OK;
}

/* synset_words.txt: one class a line, in the net's class order, as many as the net has classes.
   A line is kept whole ("n01440764 tench, Tinca tinca"), without its line end. */
CPB_FN int cpb_net_set_labels(xai_net *net, const char *text, size_t len, const char *file)
{
    size_t i, start = 0, nlines = 0, k = 0;
    int classes = xai_net_num_classes(net), rc;
    char **labels;
    char *copy;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) start = 3;
    for (i = start; i < len; i++)
        if (text[i] == '\n') nlines++;
    if (len > start && text[len - 1] != '\n') nlines++;
    if (nlines != (size_t)classes)
        return cpb_fail(XAI_ERR_ARG, "%s: %zu labels, the net has %d classes (blob '%s')", file, nlines, classes, net->blob[net->score_blob].name);
    labels = (char **)CPB_MALLOC(nlines * sizeof(char *) + 1);
    copy = (char *)CPB_MALLOC(len + 1);
    if (!labels || !copy) { CPB_FREE(labels); CPB_FREE(copy); return cpb_fail(XAI_ERR_MEMORY, "%s: out of memory", file); }
    memcpy(copy, text, len);
    copy[len] = 0;
    for (i = start; i < len && k < nlines; k++) {
        size_t e = i, j;
        while (e < len && copy[e] != '\n') e++;
        j = e;
        while (j > i && (copy[j - 1] == '\r' || copy[j - 1] == ' ' || copy[j - 1] == '\t')) j--;
        copy[j] = 0;
        if (j == i) { rc = cpb_fail(XAI_ERR_FORMAT, "%s:%zu: an empty label", file, k + 1); goto done; }
        if (memchr(copy + i, 0, j - i)) { rc = cpb_fail(XAI_ERR_FORMAT, "%s:%zu: a zero byte", file, k + 1); goto done; }
        if (j - i > 4095) { rc = cpb_fail(XAI_ERR_LIMIT, "%s:%zu: a label longer than 4095 bytes", file, k + 1); goto done; }
        labels[k] = copy + i;
        i = e + 1;
    }
    rc = xai_net_set_labels(net, (int)nlines, (const char *const *)labels);
    if (rc != XAI_OK) rc = cpb_fail(rc, "%s: %s", file, xai_failure_reason());
done:
    CPB_FREE(labels);
    CPB_FREE(copy);
    return rc;
}

#endif /* CAFFE_PB_H */
