/* Absurd sizes in every reader (issue 8): an image header of 2^31 x 2^31, a blob claiming 10^12
   floats, a million layers, deep protobuf nesting, an 11-byte varint.  Each must fail fast (well
   under a second of CPU), with a reason naming the problem, and allocate no block larger than the
   input can justify: the allocator here counts, and every case checks the largest block. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static size_t lim_largest;   /* the largest single block since the last reset */
static void *lim_malloc(size_t n)
{
    if (n > lim_largest) lim_largest = n;
    return malloc(n);
}
static void *lim_realloc(void *p, size_t n)
{
    if (n > lim_largest) lim_largest = n;
    return realloc(p, n);
}
#define XAI_MALLOC(sz) lim_malloc(sz)
#define XAI_REALLOC(p, sz) lim_realloc(p, sz)
#define XAI_FREE(p) free(p)
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../tools/caffe_pb.h"
#include "test.h"

/* what a file of len bytes may make a reader allocate at once: a small multiple of itself */
#define JUSTIFIED(len) (16 * (size_t)(len) + ((size_t)1 << 20))
#define FAST_SECONDS 0.5

typedef struct lim_case {
    const char *what;
    clock_t t0;
    size_t len;
} lim_case;

static void lim_start(lim_case *c, const char *what, size_t len)
{
    c->what = what;
    c->len = len;
    lim_largest = 0;
    c->t0 = clock();
}

/* rc: the reader's result (0 = accepted); reason: its message; word: what it must name */
static void lim_end(const lim_case *c, int failed, const char *reason, const char *word)
{
    double secs = (double)(clock() - c->t0) / CLOCKS_PER_SEC;
    CHECK(failed, "%s: accepted", c->what);
    CHECK(secs < FAST_SECONDS, "%s: %.3f s of CPU to refuse it", c->what, secs);
    CHECK(lim_largest <= JUSTIFIED(c->len), "%s: a %zu-byte block for a %zu-byte input", c->what, lim_largest, c->len);
    CHECK(reason && strstr(reason, word) != NULL, "%s: the reason '%s' does not name '%s'", c->what, reason ? reason : "(none)", word);
}

/* ---- pictures ---- */

static void image_case(const char *what, const char *header, size_t body, const char *word)
{
    size_t hl = strlen(header), len = hl + body;
    unsigned char *buf = (unsigned char *)calloc(1, len + 1);
    xai_image img;
    lim_case c;
    int rc;
    memcpy(buf, header, hl);
    lim_start(&c, what, len);
    rc = xai_image_load_memory(buf, len, "huge.ppm", &img);
    lim_end(&c, rc != XAI_OK && !img.data, xai_failure_reason(), word);
    if (rc == XAI_OK) xai_image_free(&img);
    free(buf);
}

static void test_images(void)
{
    image_case("P6 2^31 x 2^31", "P6\n2147483648 2147483648\n255\n", 16, "width");
    image_case("P5 1 x 2^31", "P5\n1 2147483648\n255\n", 16, "height");
    image_case("PF 2^31 x 2^31", "PF\n2147483648 2147483648\n-1.0\n", 16, "width");
    image_case("P6 2^32+1 x 1 (wraps to 1 in 32 bits)", "P6\n4294967297 1\n255\n", 16, "width");
    image_case("P6 99999999999999999999 wide", "P6\n99999999999999999999 1\n255\n", 16, "width");
    image_case("P6 65536 x 65536: more pixels than accepted", "P6\n65536 65536\n255\n", 16, "pixels");
    image_case("P6 16384 x 16384 with 16 bytes of pixels", "P6\n16384 16384\n255\n", 16, "truncated");
    image_case("P3 16384 x 16384 with 16 bytes of ASCII", "P3\n16384 16384\n255\n", 16, "truncated");
    image_case("Pf 16384 x 16384 with 16 bytes of floats", "Pf\n16384 16384\n-1.0\n", 16, "truncated");
    image_case("P6 maxval 2^31", "P6\n1 1\n2147483648\n", 16, "maxval");
}

/* ---- protobuf writer (caffemodels, mean files) ---- */

#include "pb_encode.h"

/* core (consumed) wrapped in depth messages of field `field`, one in the other: the lengths
   worked out innermost first, then written outermost first (wrapping level by level would copy
   the growing message depth times: 20 GB for 100000 levels) */
static void pb_varlen(uint64_t v, size_t *n) { *n = 1; while (v >>= 7) (*n)++; }
static void nested(pb *out, int field, int depth, pb *core)
{
    size_t *size = (size_t *)malloc(((size_t)depth + 1) * sizeof(size_t)), kl, vl;
    pb c = *core;
    int k;
    pb_varlen((uint64_t)field << 3 | 2, &kl);
    size[depth] = c.len;
    for (k = depth - 1; k >= 0; k--) {
        pb_varlen(size[k + 1], &vl);
        size[k] = kl + vl + size[k + 1];
    }
    memset(core, 0, sizeof *core);
    for (k = 0; k < depth; k++) {
        pb_key(out, field, 2);
        pb_varint(out, size[k + 1]);
    }
    pb_raw(out, c.p, c.len);
    free(c.p);
    free(size);
}

static const char tiny_prototxt[] =
    "name: \"tiny\" input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" inner_product_param { num_output: 2 bias_term: false } }\n";

/* cpb_net_load_weights of a caffemodel into the tiny net */
static void caffemodel_case(const char *what, const pb *m, const char *word)
{
    xai_net *net = cpb_net_from_prototxt(tiny_prototxt, strlen(tiny_prototxt), "tiny.prototxt", NULL);
    lim_case c;
    int rc;
    if (!net) { CHECK(0, "tiny prototxt: %s", cpb_failure_reason()); return; }
    lim_start(&c, what, m->len);
    rc = cpb_net_load_weights(net, m->p, m->len, "huge.caffemodel");
    lim_end(&c, rc != XAI_OK, cpb_failure_reason(), word);
    xai_net_free(net);
}

static void blobproto_case(const char *what, const pb *m, const char *word)
{
    int ch = 0, h = 0, w = 0, rc;
    float *mean = NULL;
    lim_case c;
    lim_start(&c, what, m->len);
    rc = cpb_read_blobproto(m->p, m->len, "huge.binaryproto", &ch, &h, &w, &mean);
    lim_end(&c, rc != XAI_OK && !mean, cpb_failure_reason(), word);
    free(mean);
}

/* a V2 caffemodel whose layer 'fc' holds one blob: shape dims, then the data field's bytes
   (data_len claimed, data_have present) */
static pb fc_model(const int64_t *dims, int nd, uint64_t data_len, size_t data_have)
{
    pb net = {0}, layer = {0}, blob = {0}, shape = {0};
    int i;
    unsigned char *zeros = (unsigned char *)calloc(1, data_have + 1);
    for (i = 0; i < nd; i++) pb_u(&shape, 1, (uint64_t)dims[i]);
    pb_m(&blob, 7, &shape);
    pb_key(&blob, 5, 2);
    pb_varint(&blob, data_len);
    pb_raw(&blob, zeros, data_have);
    pb_s(&layer, 1, "fc");
    pb_s(&layer, 2, "InnerProduct");
    pb_m(&layer, 7, &blob);
    pb_m(&net, 100, &layer);
    free(zeros);
    return net;
}

static void test_huge_blobs(void)
{
    static const int64_t tera[2] = {1000000, 1000000}, tera4[4] = {1, 10000, 10000, 10000}, giga4[4] = {1, 1000, 1000, 1000};
    pb m;
    /* a caffemodel blob claiming 10^12 floats: the length runs past the file */
    m = fc_model(tera, 2, 4000000000000ull, 64);
    caffemodel_case("caffemodel: blob of 10^12 floats, 64 bytes of them", &m, "runs past");
    free(m.p);
    /* the shape says 10^12 values, the data is small: a shape mismatch, nothing allocated */
    m = fc_model(tera, 2, 64, 64);
    caffemodel_case("caffemodel: shape 10^6 x 10^6 for a 2 x 16 layer", &m, "does not match");
    free(m.p);
    /* a mean file of 10^12 values, then of 10^9 with no data */
    {
        pb b = {0}, shape = {0};
        int i;
        for (i = 0; i < 4; i++) pb_u(&shape, 1, (uint64_t)tera4[i]);
        pb_m(&b, 7, &shape);
        pb_key(&b, 5, 2);
        pb_varint(&b, 4000000000000ull);
        blobproto_case("binaryproto: 10^12 floats claimed", &b, "runs past");
        free(b.p);
        memset(&b, 0, sizeof b);
        for (i = 0; i < 4; i++) pb_u(&b, i + 1, (uint64_t)giga4[i]);   /* legacy num, channels, height, width */
        blobproto_case("binaryproto: 1 x 1000 x 1000 x 1000 without data", &b, "values");
        free(b.p);
    }
    /* .xai: a header that claims 10^12 data floats */
    {
        xai_net *net = xai_net_new("small");
        xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
        unsigned char *bytes;
        size_t n;
        lim_case c;
        xai_net *got;
        fc.num_output = 2;
        xai_net_input(net, "data", 1, 2, 2);
        xai_net_add(net, "fc", &fc, "data", "fc");
        xai_net_finalize(net);
        bytes = xai_net_save_memory(net, &n);
        xai__put_u64(bytes + 32, 1000000000000ull);
        lim_start(&c, ".xai: header claims 10^12 data floats", n);
        got = xai_net_load_memory(bytes, n, "huge.xai");
        lim_end(&c, got == NULL, xai_failure_reason(), "floats");
        xai_net_free(got);
        /* and the file size too, consistently: 10^12 floats after the metadata */
        xai__put_u64(bytes + 16, xai__get_u64(bytes + 24) + 4000000000000ull);
        lim_start(&c, ".xai: header claims a 4 TB file", n);
        got = xai_net_load_memory(bytes, n, "huge.xai");
        lim_end(&c, got == NULL, xai_failure_reason(), "truncated");
        xai_net_free(got);
        free(bytes);
        xai_net_free(net);
    }
    /* a deploy layer of 10^12 weights is refused before any caffemodel is read */
    {
        static const char huge[] = "input: \"data\" input_dim: 1 input_dim: 1 input_dim: 1000 input_dim: 1000\n"
                                   "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" inner_product_param { num_output: 1000000 } }\n";
        lim_case c;
        xai_net *net;
        lim_start(&c, "prototxt: an InnerProduct of 10^12 weights", sizeof huge);
        net = cpb_net_from_prototxt(huge, strlen(huge), "huge.prototxt", NULL);
        lim_end(&c, net == NULL, cpb_failure_reason(), "weights");
        xai_net_free(net);
    }
}

/* ---- a million layers ---- */

static void test_million_layers(void)
{
    const int n = 1000000;
    int i;
    /* prototxt: a million ReLU layers, 40 bytes each */
    {
        size_t cap = (size_t)n * 64, len = 0;
        char *text = (char *)malloc(cap);
        lim_case c;
        xai_net *net;
        len += (size_t)sprintf(text, "input: \"d\" input_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2\n");
        for (i = 0; i < n; i++) len += (size_t)sprintf(text + len, "layer{name:\"l%d\" type:\"ReLU\" bottom:\"d\" top:\"d\"}\n", i);
        lim_start(&c, "prototxt: a million layers", len);
        net = cpb_net_from_prototxt(text, len, "million.prototxt", NULL);
        lim_end(&c, net == NULL, cpb_failure_reason(), "layers");
        xai_net_free(net);
        free(text);
    }
    /* caffemodel: a million empty V2 layers (3 bytes each) */
    {
        pb m = {0};
        for (i = 0; i < n; i++) { pb_key(&m, 100, 2); pb_varint(&m, 0); }
        caffemodel_case("caffemodel: a million layers", &m, "layers");
        free(m.p);
    }
    /* .xai: a header with a million layers */
    {
        xai_net *net = xai_net_new("small"), *got;
        xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
        unsigned char *bytes;
        size_t len;
        lim_case c;
        fc.num_output = 2;
        xai_net_input(net, "data", 1, 2, 2);
        xai_net_add(net, "fc", &fc, "data", "fc");
        xai_net_finalize(net);
        bytes = xai_net_save_memory(net, &len);
        xai__put_u32(bytes + 40, (uint32_t)n);
        lim_start(&c, ".xai: a million layers in the header", len);
        got = xai_net_load_memory(bytes, len, "million.xai");
        lim_end(&c, got == NULL, xai_failure_reason(), "layer count");
        xai_net_free(got);
        free(bytes);
        xai_net_free(net);
    }
}

/* ---- deep nesting ---- */

static void test_deep_nesting(void)
{
    const int depth = 100000;
    int i;
    /* text: a { a { a { ... */
    {
        size_t len = 0;
        char *text = (char *)malloc((size_t)depth * 8 + 16);
        lim_case c;
        xai_net *net;
        for (i = 0; i < depth; i++) len += (size_t)sprintf(text + len, i % 2 ? "a <" : "a {");
        lim_start(&c, "prototxt: messages nested 100000 deep", len);
        net = cpb_net_from_prototxt(text, len, "deep.prototxt", NULL);
        lim_end(&c, net == NULL, cpb_failure_reason(), "nested");
        xai_net_free(net);
        /* the same through lists: a: [{a: [{ ... */
        for (len = 0, i = 0; i < depth; i++) len += (size_t)sprintf(text + len, "a:[{");
        lim_start(&c, "prototxt: lists of messages nested 100000 deep", len);
        net = cpb_net_from_prototxt(text, len, "deep.prototxt", NULL);
        lim_end(&c, net == NULL, cpb_failure_reason(), "nested");
        xai_net_free(net);
        free(text);
    }
    /* binary: a layer message nested 100000 deep in itself, and in a blob's shape; the reader
       does not recurse into fields it does not know, so it refuses without descending */
    {
        pb m = {0}, core = {0};
        nested(&m, 100, depth, &core);
        caffemodel_case("caffemodel: layers nested 100000 deep", &m, "fc");
        free(m.p);
    }
    {
        pb m = {0}, layer = {0}, blob = {0};
        nested(&blob, 7, depth, &blob);
        pb_s(&layer, 1, "fc");
        pb_m(&layer, 7, &blob);
        pb_m(&m, 100, &layer);
        caffemodel_case("caffemodel: a blob shape nested 100000 deep", &m, "fc");
        free(m.p);
    }
}

/* ---- varints ---- */

static void test_varints(void)
{
    static const unsigned char eleven[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    pb m = {0};
    /* as a field key */
    pb_raw(&m, eleven, 11);
    caffemodel_case("caffemodel: an 11-byte varint as a key", &m, "varint too long");
    free(m.p);
    memset(&m, 0, sizeof m);
    /* as a length */
    pb_key(&m, 100, 2);
    pb_raw(&m, eleven, 11);
    caffemodel_case("caffemodel: an 11-byte varint as a length", &m, "varint too long");
    free(m.p);
    memset(&m, 0, sizeof m);
    /* as a value, inside a layer */
    {
        pb layer = {0};
        pb_s(&layer, 1, "fc");
        pb_key(&layer, 50, 0);
        pb_raw(&layer, eleven, 11);
        pb_m(&m, 100, &layer);
        caffemodel_case("caffemodel: an 11-byte varint as a value", &m, "varint too long");
        free(m.p);
        memset(&m, 0, sizeof m);
    }
    /* a mean file's packed dims */
    {
        pb shape = {0};
        pb_key(&shape, 1, 2);
        pb_varint(&shape, 11);
        pb_raw(&shape, eleven, 11);
        pb_m(&m, 7, &shape);
        blobproto_case("binaryproto: an 11-byte packed dim", &m, "varint too long");
        free(m.p);
        memset(&m, 0, sizeof m);
    }
    /* ten bytes is the most a varint has, and is read */
    {
        unsigned char ten[12] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        cpb_wire w;
        cpb_field f;
        size_t pos = 0;
        cpb_wire_init(&w, ten, 11, "ten");
        CHECK(cpb_next(&w, &pos, 11, NULL, &f) == 1 && f.v == UINT64_MAX, "a 10-byte varint is read (%llu)", (unsigned long long)f.v);
    }
}

/* ---- size arithmetic ---- */

static void test_size_arithmetic(void)
{
    /* a convolution whose top is 2^24 x 2^24 x 2^16: c * h * w is 2^64, 0 in a size_t */
    static const char wrap[] = "input: \"data\" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n"
                               "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\"\n"
                               "  convolution_param { num_output: 16777216 kernel_size: 2 pad_h: 8388608 pad_w: 32768 bias_term: false } }\n";
    lim_case c;
    xai_net *net;
    lim_start(&c, "prototxt: a 2^24 x 2^24 x 2^16 blob (2^64 values)", sizeof wrap);
    net = cpb_net_from_prototxt(wrap, strlen(wrap), "wrap.prototxt", NULL);
    lim_end(&c, net == NULL, cpb_failure_reason(), "too large");
    xai_net_free(net);
    /* a net without weights (params NULL) saves and loads */
    {
        xai_layer_param relu = xai_layer_defaults(XAI_RELU);
        unsigned char *bytes;
        size_t len;
        xai_net *got;
        net = xai_net_new("weightless");
        xai_net_input(net, "data", 1, 2, 2);
        xai_net_add(net, "r", &relu, "data", "data");
        xai_net_finalize(net);
        bytes = xai_net_save_memory(net, &len);
        got = bytes ? xai_net_load_memory(bytes, len, "weightless.xai") : NULL;
        CHECK(got && got->nparams == 0 && got->nlayer == 1, "a net without weights saves and loads: %s", xai_failure_reason());
        xai_net_free(got);
        free(bytes);
        xai_net_free(net);
    }
}

int main(void)
{
    test_images();
    test_huge_blobs();
    test_million_layers();
    test_deep_nesting();
    test_varints();
    test_size_arithmetic();
    return test_report();
}
