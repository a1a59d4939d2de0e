/* caffe2xai and its readers (tools/caffe_pb.h): hand-encoded protobuf messages through every path
   and every error, the text format, the real Caffe files of ../shared/caffe against their
   reference outputs, and a synthetic CaffeNet in the V1 encoding of the 2014 BVLC release.

   bin/test_caffe --write-synthetic-caffenet FILE [SEED] writes that caffemodel (233 MB) and exits:
   for measuring a real-size conversion with /usr/bin/time. */
#define CAFFE2XAI_NO_MAIN
#define XAI_IMPLEMENTATION_DONE   /* the library comes from bin/libxai.a: the tool's own XAI_IMPLEMENTATION adds nothing */
#include "../tools/caffe2xai.c"   /* the tool as caffe2xai_main, with xai.h and caffe_pb.h */
#include "test.h"
#include <time.h>

#define SHARED "../shared/caffe"

#include "pb_encode.h"
static void pb_packed_f32(pb *b, int field, const float *v, size_t n)
{
    size_t i;
    pb_key(b, field, 2);
    pb_varint(b, 4 * n);
    if (cpb_little_endian()) pb_raw(b, v, 4 * n);
    else for (i = 0; i < n; i++) { uint32_t u; memcpy(&u, &v[i], 4); pb_le(b, u, 4); }
}
static void pb_packed_f64(pb *b, int field, const float *v, size_t n)
{
    size_t i;
    pb_key(b, field, 2);
    pb_varint(b, 8 * n);
    for (i = 0; i < n; i++) { double d = v[i]; uint64_t u; memcpy(&u, &d, 8); pb_le(b, u, 8); }
}
/* one unknown field of each wire type */
static void pb_unknowns(pb *b, int field)
{
    pb_u(b, field, 123456789);
    pb_f64(b, field + 1, 2.5);
    pb_s(b, field + 2, "skip me");
    pb_f32(b, field + 3, 1.5f);
}

enum { SHAPE_LEGACY, SHAPE_PACKED, SHAPE_UNPACKED };
enum { DATA_PACKED, DATA_UNPACKED, DATA_DOUBLE_PACKED, DATA_DOUBLE_UNPACKED };

/* A BlobProto: dims (padded with 1s on the left for the legacy 4-D form), n values. */
static void pb_blob(pb *layer, int field, const int64_t *dims, int nd, int shape, const float *v, size_t n, int data, int extras)
{
    pb b = {0, 0, 0}, s = {0, 0, 0};
    size_t i;
    int k;
    if (shape == SHAPE_LEGACY) {
        for (k = 0; k < 4; k++) pb_u(&b, k + 1, (uint64_t)(k < 4 - nd ? 1 : dims[k - (4 - nd)]));
    } else if (shape == SHAPE_PACKED) {
        pb d = {0, 0, 0};
        for (k = 0; k < nd; k++) pb_varint(&d, (uint64_t)dims[k]);
        pb_m(&s, 1, &d);
        pb_m(&b, 7, &s);
    } else {
        for (k = 0; k < nd; k++) pb_u(&s, 1, (uint64_t)dims[k]);
        pb_m(&b, 7, &s);
    }
    if (extras) { pb_unknowns(&b, 50); pb_packed_f32(&b, 6, v, n < 3 ? n : 3); }   /* unknown fields and a diff */
    switch (data) {
    case DATA_PACKED: pb_packed_f32(&b, 5, v, n); break;
    case DATA_UNPACKED: for (i = 0; i < n; i++) pb_f32(&b, 5, v[i]); break;
    case DATA_DOUBLE_PACKED: pb_packed_f64(&b, 8, v, n); break;
    default: for (i = 0; i < n; i++) pb_f64(&b, 8, v[i]); break;
    }
    pb_m(layer, field, &b);
}

/* ---- the tiny net: conv 3x2x3x3, ReLU, 2x2 max pool, fc 4x12, softmax ----------------------------- */

static const char tiny_v2[] =
    "name: \"tiny\"\n"
    "input: \"data\"\n"
    "input_dim: 1 input_dim: 2 input_dim: 6 input_dim: 6\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\"\n"
    "        convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: \"xavier\" } } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"conv\" top: \"conv\" }\n"
    "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"pool\" top: \"fc\" inner_product_param { num_output: 4 } }\n"
    "layer { name: \"prob\" type: \"Softmax\" bottom: \"fc\" top: \"prob\" }\n";

static const char tiny_v1[] =
    "name: \"tiny\"\n"
    "input: \"data\"\n"
    "input_dim: 1\ninput_dim: 2\ninput_dim: 6\ninput_dim: 6\n"
    "layers { name: \"conv\" type: CONVOLUTION bottom: \"data\" top: \"conv\" blobs_lr: 1 blobs_lr: 2\n"
    "         convolution_param { num_output: 3 kernel_size: 3 } }\n"
    "layers { name: \"relu\" type: RELU bottom: \"conv\" top: \"conv\" }\n"
    "layers { name: \"pool\" type: POOLING bottom: \"conv\" top: \"pool\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layers { name: \"fc\" type: INNER_PRODUCT bottom: \"pool\" top: \"fc\" inner_product_param { num_output: 4 } }\n"
    "layers { name: \"prob\" type: SOFTMAX bottom: \"fc\" top: \"prob\" }\n";

static size_t tiny_v1_loss_at;   /* where tiny_model_v1's blob-less loss layer starts */
static float conv_w[54], conv_b[3], fc_w[48], fc_b[4];
static const int64_t conv_w_dims[4] = {3, 2, 3, 3}, conv_b_dims[1] = {3}, fc_w_dims[2] = {4, 12}, fc_b_dims[1] = {4};

static void tiny_values(void)
{
    int i;
    for (i = 0; i < 54; i++) conv_w[i] = (float)(i - 27) / 37.0f;
    for (i = 0; i < 3; i++) conv_b[i] = 0.25f * (float)(i + 1);
    for (i = 0; i < 48; i++) fc_w[i] = (float)((i * 7) % 13 - 6) / 11.0f;
    for (i = 0; i < 4; i++) fc_b[i] = -0.5f + (float)i / 3.0f;
}

/* The tiny net's caffemodel in the V1 encoding: a DATA layer and a loss layer without blobs, unknown
   fields of every wire type at every level, legacy dims, packed and unpacked floats. */
static pb tiny_model_v1(void)
{
    pb net = {0, 0, 0}, L = {0, 0, 0}, m = {0, 0, 0};
    pb_s(&net, 1, "tiny");
    pb_unknowns(&net, 9000);
    /* data: DATA (5), tops data and label, a data_param */
    pb_s(&L, 3, "data"); pb_s(&L, 3, "label"); pb_s(&L, 4, "data"); pb_u(&L, 5, 5);
    pb_s(&m, 1, "examples/mnist/mnist_train_lmdb"); pb_u(&m, 4, 64); pb_m(&L, 11, &m);
    pb_m(&net, 2, &L);
    /* conv: CONVOLUTION (4) */
    pb_s(&L, 2, "data"); pb_s(&L, 3, "conv"); pb_s(&L, 4, "conv"); pb_u(&L, 5, 4);
    pb_blob(&L, 6, conv_w_dims, 4, SHAPE_LEGACY, conv_w, 54, DATA_PACKED, 1);
    pb_blob(&L, 6, conv_b_dims, 1, SHAPE_LEGACY, conv_b, 3, DATA_UNPACKED, 0);
    pb_f32(&L, 7, 1); pb_f32(&L, 7, 2); pb_f32(&L, 8, 1); pb_f32(&L, 8, 0);
    pb_u(&m, 1, 3); pb_u(&m, 4, 3); pb_m(&L, 10, &m);
    pb_unknowns(&L, 700);
    pb_m(&net, 2, &L);
    pb_s(&L, 2, "conv"); pb_s(&L, 3, "conv"); pb_s(&L, 4, "relu"); pb_u(&L, 5, 18); pb_m(&net, 2, &L);
    pb_s(&L, 2, "conv"); pb_s(&L, 3, "pool"); pb_s(&L, 4, "pool"); pb_u(&L, 5, 17);
    pb_u(&m, 1, 0); pb_u(&m, 2, 2); pb_u(&m, 3, 2); pb_m(&L, 19, &m);
    pb_m(&net, 2, &L);
    /* fc: INNER_PRODUCT (14), weights 1x1x4x12, bias 1x1x1x4 */
    pb_s(&L, 2, "pool"); pb_s(&L, 3, "fc"); pb_s(&L, 4, "fc"); pb_u(&L, 5, 14);
    pb_blob(&L, 6, fc_w_dims, 2, SHAPE_LEGACY, fc_w, 48, DATA_UNPACKED, 0);
    pb_blob(&L, 6, fc_b_dims, 1, SHAPE_LEGACY, fc_b, 4, DATA_PACKED, 1);
    pb_m(&net, 2, &L);
    /* loss: SOFTMAX_LOSS (21) */
    tiny_v1_loss_at = net.len;
    pb_s(&L, 2, "fc"); pb_s(&L, 2, "label"); pb_s(&L, 4, "loss"); pb_u(&L, 5, 21); pb_m(&net, 2, &L);
    return net;
}

/* The V2 encoding: BlobShape packed and unpacked, floats unpacked, double_data packed and not.
   variant selects damage for the error tests (0: none). */
enum { V2_OK, V2_NAME_VARINT, V2_DATA_VARINT, V2_SHAPE_WRONG, V2_COUNT_WRONG, V2_NO_FC, V2_ONE_BLOB, V2_LENGTH_PAST,
       V2_VARINT_11, V2_GROUP, V2_TYPE_VARINT, V2_FIELD_ZERO, V2_DOUBLE_UNPACKED };

static pb tiny_model_v2(int variant)
{
    pb net = {0, 0, 0}, L = {0, 0, 0};
    pb_s(&net, 1, "tiny");
    if (variant == V2_VARINT_11) {
        int i;
        pb_key(&net, 9001, 0);
        for (i = 0; i < 10; i++) pb_byte(&net, 0x80);
        pb_byte(&net, 0x01);
    }
    if (variant == V2_GROUP) { pb_key(&net, 5, 3); pb_key(&net, 5, 4); }
    if (variant == V2_FIELD_ZERO) pb_u(&net, 0, 1);
    pb_unknowns(&net, 9000);
    if (variant == V2_NAME_VARINT) pb_u(&L, 1, 7);
    else pb_s(&L, 1, "conv");
    if (variant == V2_TYPE_VARINT) pb_u(&L, 2, 4);
    else pb_s(&L, 2, "Convolution");
    pb_s(&L, 3, "data"); pb_s(&L, 4, "conv");
    if (variant == V2_DATA_VARINT) {
        pb b = {0, 0, 0};
        pb_u(&b, 5, 1);
        pb_m(&L, 7, &b);
    } else if (variant == V2_SHAPE_WRONG) {
        static const int64_t bad[4] = {3, 2, 3, 2};
        pb_blob(&L, 7, bad, 4, SHAPE_PACKED, conv_w, 36, DATA_PACKED, 0);
    } else if (variant == V2_COUNT_WRONG) {
        pb_blob(&L, 7, conv_w_dims, 4, SHAPE_PACKED, conv_w, 53, DATA_PACKED, 0);
    } else if (variant == V2_LENGTH_PAST) {
        /* a blob whose data claims 4000 bytes inside a 12-byte message */
        pb b = {0, 0, 0};
        pb_key(&b, 5, 2);
        pb_varint(&b, 4000);
        pb_raw(&b, conv_w, 8);
        pb_m(&L, 7, &b);
    } else {
        pb_blob(&L, 7, conv_w_dims, 4, SHAPE_PACKED, conv_w, 54, DATA_PACKED, 1);
    }
    if (variant != V2_ONE_BLOB) pb_blob(&L, 7, conv_b_dims, 1, SHAPE_UNPACKED, conv_b, 3, DATA_UNPACKED, 0);
    pb_unknowns(&L, 700);
    pb_m(&net, 100, &L);
    pb_s(&L, 1, "relu"); pb_s(&L, 2, "ReLU"); pb_s(&L, 3, "conv"); pb_s(&L, 4, "conv"); pb_m(&net, 100, &L);
    if (variant != V2_NO_FC) {
        pb_s(&L, 1, "fc"); pb_s(&L, 2, "InnerProduct"); pb_s(&L, 3, "pool"); pb_s(&L, 4, "fc");
        pb_blob(&L, 7, fc_w_dims, 2, SHAPE_PACKED, fc_w, 48, DATA_UNPACKED, 0);
        pb_blob(&L, 7, fc_b_dims, 1, SHAPE_PACKED, fc_b, 4, variant == V2_DOUBLE_UNPACKED ? DATA_DOUBLE_UNPACKED : DATA_DOUBLE_PACKED, 1);
        pb_m(&net, 100, &L);
    }
    return net;
}

static int same_floats(const float *a, const float *b, size_t n) { return a && b && memcmp(a, b, n * sizeof(float)) == 0; }

static void check_tiny_weights(xai_net *net, const char *what)
{
    int c, f;
    CHECK(net != NULL, "%s: %s", what, cpb_failure_reason());
    if (!net) return;
    c = xai_net_find_layer(net, "conv");
    f = xai_net_find_layer(net, "fc");
    CHECK(net->finalized && c >= 0 && f >= 0, "%s: finalized, conv and fc", what);
    if (c < 0 || f < 0) return;
    CHECK(same_floats(net->layer[c].weight, conv_w, 54) && same_floats(net->layer[c].bias, conv_b, 3), "%s: conv weights and bias", what);
    CHECK(same_floats(net->layer[f].weight, fc_w, 48) && same_floats(net->layer[f].bias, fc_b, 4), "%s: fc weights and bias", what);
    CHECK(net->layer[f].weight_shape[0] == 4 && net->layer[f].weight_shape[1] == 12, "%s: fc is 4x12", what);
}

static xai_net *convert_text(const char *text, const pb *model, const char *mfile, const int *chw)
{
    return cpb_convert(text, strlen(text), "t.prototxt", model->p, model->len, mfile, chw);
}

/* conversion fails and the reason holds every needle (NULL-terminated list) */
static void expect_fail(const char *text, const pb *model, const char *what, const char *n1, const char *n2, const char *n3)
{
    xai_net *net = convert_text(text, model, "tiny.caffemodel", NULL);
    const char *r = cpb_failure_reason();
    CHECK(!net && (!n1 || strstr(r, n1)) && (!n2 || strstr(r, n2)) && (!n3 || strstr(r, n3)), "%s: %s (wanted '%s' '%s' '%s')", what,
          net ? "(converted)" : r, n1 ? n1 : "", n2 ? n2 : "", n3 ? n3 : "");
    xai_net_free(net);
}

static void test_wire_format(void)
{
    pb v1 = tiny_model_v1(), v2 = tiny_model_v2(V2_OK), m;
    xai_net *net;
    size_t cut, bad = 0;
    tiny_values();
    pb_free(&v1);
    pb_free(&v2);
    v1 = tiny_model_v1();
    v2 = tiny_model_v2(V2_OK);

    net = convert_text(tiny_v1, &v1, "tiny_v1.caffemodel", NULL);
    check_tiny_weights(net, "V1 prototxt + V1 caffemodel");
    if (net) CHECK(net->nlayer == 5 && !strcmp(net->name, "tiny") && net->input_c == 2 && net->input_h == 6, "V1: 5 layers, input 2x6x6");
    xai_net_free(net);
    net = convert_text(tiny_v2, &v1, "tiny_v1.caffemodel", NULL);
    check_tiny_weights(net, "V2 prototxt + V1 caffemodel");
    xai_net_free(net);
    net = convert_text(tiny_v2, &v2, "tiny_v2.caffemodel", NULL);
    check_tiny_weights(net, "V2 prototxt + V2 caffemodel (BlobShape, unpacked floats, double_data)");
    xai_net_free(net);
    net = convert_text(tiny_v1, &v2, "tiny_v2.caffemodel", NULL);
    check_tiny_weights(net, "V1 prototxt + V2 caffemodel");
    xai_net_free(net);
    m = tiny_model_v2(V2_DOUBLE_UNPACKED);
    net = convert_text(tiny_v2, &m, "tiny.caffemodel", NULL);
    check_tiny_weights(net, "unpacked double_data");
    xai_net_free(net);
    pb_free(&m);

    /* every truncation fails, or kept every layer with weights */
    for (cut = 0; cut < v2.len; cut++) {
        net = cpb_convert(tiny_v2, strlen(tiny_v2), "t.prototxt", v2.p, cut, "cut.caffemodel", NULL);
        if (net) bad++;
        xai_net_free(net);
    }
    CHECK(bad == 0, "%zu truncations of the V2 model converted", bad);
    net = cpb_convert(tiny_v2, strlen(tiny_v2), "t.prototxt", v2.p, v2.len - 9, "cut.caffemodel", NULL);
    CHECK(!net && strstr(cpb_failure_reason(), "cut.caffemodel: offset ") && strstr(cpb_failure_reason(), "truncated"),
          "truncated: %s", cpb_failure_reason());
    xai_net_free(net);
    for (cut = 0, bad = 0; cut < v1.len; cut++) {
        net = cpb_convert(tiny_v1, strlen(tiny_v1), "t.prototxt", v1.p, cut, "cut.caffemodel", NULL);
        if (net && cut < tiny_v1_loss_at) bad++;   /* only the blob-less loss layer may go */
        xai_net_free(net);
    }
    CHECK(bad == 0, "%zu truncations of the V1 model converted", bad);

#define DAMAGED(variant, what, a, b, c) do { m = tiny_model_v2(variant); expect_fail(tiny_v2, &m, what, a, b, c); pb_free(&m); } while (0)
    DAMAGED(V2_VARINT_11, "varint of 11 bytes", "tiny.caffemodel: offset ", "varint too long", "field 9001");
    DAMAGED(V2_GROUP, "group wire type", "field 5", "wire type 3 (start group)", "groups are not supported");
    DAMAGED(V2_FIELD_ZERO, "field number 0", "field number 0", NULL, NULL);
    DAMAGED(V2_NAME_VARINT, "wrong wire type of a name", "layer #0 (layer, field 100)", "name (field 1): wire type 0 (varint), expected 2", NULL);
    DAMAGED(V2_TYPE_VARINT, "wrong wire type of a type", "layer 'conv' (layer, field 100)", "type (field 2): wire type 0", NULL);
    DAMAGED(V2_DATA_VARINT, "wrong wire type of data", "layer 'conv' (layer, field 100): blobs[0] (field 7): data (field 5): wire type 0",
            "expected 2 (packed) or 5", NULL);
    DAMAGED(V2_LENGTH_PAST, "length past the end", "layer 'conv' (layer, field 100): blobs[0] (field 7): data (field 5): length 4000 runs past the end of the message at",
            "tiny.caffemodel: offset ", NULL);
    DAMAGED(V2_SHAPE_WRONG, "shape mismatch", "layer 'conv'", "shape 3x2x3x2 does not match the deploy layer's weights 3x2x3x3", NULL);
    DAMAGED(V2_COUNT_WRONG, "value count", "53 data values for shape 3x2x3x3 (54 values)", NULL, NULL);
    DAMAGED(V2_NO_FC, "missing weights", "no weights for layer 'fc' in tiny.caffemodel", "'conv'", NULL);
    DAMAGED(V2_ONE_BLOB, "blob count", "1 blobs, the deploy layer 'conv' needs 2", NULL, NULL);
#undef DAMAGED

    /* legacy shape mismatch: an fc of 4x11 */
    {
        static const int64_t d[2] = {4, 11};
        pb L = {0, 0, 0};
        m = tiny_model_v1();
        pb_s(&L, 4, "fc"); pb_u(&L, 5, 14);
        pb_blob(&L, 6, d, 2, SHAPE_LEGACY, fc_w, 44, DATA_PACKED, 0);
        pb_blob(&L, 6, fc_b_dims, 1, SHAPE_LEGACY, fc_b, 4, DATA_PACKED, 0);
        pb_m(&m, 2, &L);   /* a later layer of the same name wins, as in Caffe */
        expect_fail(tiny_v1, &m, "legacy shape mismatch", "shape 1x1x4x11 (legacy num x channels x height x width) does not match the deploy layer's weights 4x12",
                    "layer 'fc' (V1 layers, field 2): blobs[0] (field 6)", NULL);
        pb_free(&m);
    }
    /* V0: a V1 layer holding field 1 */
    {
        pb L = {0, 0, 0}, v0 = {0, 0, 0};
        pb_s(&v0, 1, "conv1"); pb_s(&v0, 2, "conv");
        pb_m(&L, 1, &v0);
        pb_m(&m, 2, &L);
        expect_fail(tiny_v1, &m, "V0 caffemodel", "V0 layer format", "not supported", "layer #0 (V1 layers, field 2)");
        pb_free(&m);
    }
    /* both encodings in one file; no layers; not protobuf */
    {
        pb L = {0, 0, 0};
        m = tiny_model_v1();
        pb_s(&L, 1, "x");
        pb_m(&m, 100, &L);
        expect_fail(tiny_v1, &m, "V1 and V2 in one file", "both 'layers' (field 2, V1) and 'layer' (field 100, V2)", NULL, NULL);
        pb_free(&m);
        pb_s(&m, 1, "empty");
        expect_fail(tiny_v1, &m, "no layers", "no layers", NULL, NULL);
        pb_free(&m);
        pb_raw(&m, "\xff\xd8\xff\xe0 JFIF", 9);
        expect_fail(tiny_v1, &m, "a JPEG", "tiny.caffemodel: offset 0", NULL, NULL);
        pb_free(&m);
    }
    /* a deploy layer of 3.6e9 weights: the caffemodel must justify it before anything is allocated */
    {
        static const char huge[] = "input: \"data\" input_dim: 1 input_dim: 60000 input_dim: 1 input_dim: 1\n"
                                   "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" inner_product_param { num_output: 60000 } }\n";
        static const int64_t d[2] = {60000, 60000}, db[1] = {60000};
        pb L = {0, 0, 0};
        clock_t t0 = clock();
        pb_s(&L, 1, "fc"); pb_s(&L, 2, "InnerProduct");
        pb_blob(&L, 7, d, 2, SHAPE_PACKED, fc_w, 48, DATA_PACKED, 0);
        pb_blob(&L, 7, db, 1, SHAPE_PACKED, fc_w, 48, DATA_PACKED, 0);
        pb_m(&m, 100, &L);
        expect_fail(huge, &m, "a blob claiming 3.6e9 floats", "48 data values for shape 60000x60000 (3600000000 values)", NULL, NULL);
        CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0, "the huge layer failed at once (nothing allocated)");
        pb_free(&m);
    }
    /* a mean .binaryproto claiming 10^12 floats */
    {
        static const int64_t d[4] = {1, 3, 1000000, 333334};
        float *v = NULL;
        int c, h, w;
        pb blob = {0, 0, 0};
        pb_blob(&blob, 1, d, 4, SHAPE_LEGACY, conv_w, 12, DATA_PACKED, 0);
        /* the BlobProto is the whole file: drop the field key and length pb_blob put around it */
        {
            size_t skip = 1, len;
            uint64_t n = 0;
            int shift = 0;
            do { n |= (uint64_t)(blob.p[skip] & 0x7f) << shift; shift += 7; } while (blob.p[skip++] & 0x80);
            len = (size_t)n;
            CHECK(cpb_read_blobproto(blob.p + skip, len, "big.binaryproto", &c, &h, &w, &v) != XAI_OK && !v &&
                      strstr(cpb_failure_reason(), "12 data values for shape 1x3x1000000x333334"), "huge mean: %s", cpb_failure_reason());
            CHECK(cpb_read_blobproto(blob.p + skip, len - 3, "big.binaryproto", &c, &h, &w, &v) != XAI_OK &&
                      strstr(cpb_failure_reason(), "truncated"), "truncated mean: %s", cpb_failure_reason());
        }
        pb_free(&blob);
    }
    pb_free(&v1);
    pb_free(&v2);
}

/* ---- the text format ----------------------------------------------------------------------------- */

static xai_net *from_text(const char *text, const int *chw)
{
    return cpb_net_from_prototxt(text, strlen(text), "t.prototxt", chw);
}

static void expect_text_fail(const char *text, const int *chw, const char *what, const char *n1, const char *n2)
{
    xai_net *net = from_text(text, chw);
    const char *r = cpb_failure_reason();
    CHECK(!net && (!n1 || strstr(r, n1)) && (!n2 || strstr(r, n2)), "%s: %s (wanted '%s' '%s')", what, net ? "(parsed)" : r, n1 ? n1 : "", n2 ? n2 : "");
    xai_net_free(net);
}

static const xai_layer_param *param_of(const xai_net *net, const char *name)
{
    int i = net ? xai_net_find_layer(net, name) : -1;
    return i >= 0 ? &net->layer[i].p : NULL;
}

static void test_text_format(void)
{
    static const int chw[3] = {3, 10, 12};
    xai_net *net;
    const xai_layer_param *p;
    char deep[2000];
    cpb_text T;
    int i;

    /* comments, escapes, adjacent strings, `name: {`, < >, lists, repeated fields, separators */
    net = from_text("# a comment line\n"
                    "name: \"a\\\"b\\\\c\" 'd\\x41\\101\\n' # the net's name\n"
                    "input: 'data' input_shape: { dim: [1, 3, 10, 12] }\n"
                    "layer: { name: \"c1\"; type: \"Convolution\", bottom: \"data\" top: \"c1\"\n"
                    "  convolution_param < num_output: 4 kernel_h: 3 kernel_w: 1 pad: [1, 0] stride_h: 2 stride_w: 1\n"
                    "                      dilation: 2 bias_term: false group: 1 engine: CAFFE > }\n"
                    "layer { name: \"c2\" type: \"Convolution\" bottom: \"data\" top: \"c2\"\n"
                    "  convolution_param { num_output: 6 kernel_size: 3 kernel_size: 1 pad: 1 stride: 1 stride: 2 group: 3 } }\n"
                    "layer { name: \"cat\" type: \"Concat\" bottom: \"c1\" bottom: 'c1' top: \"cat\" concat_param { concat_dim: 1 } }\n"
                    "layer { name: \"r\" type: \"ReLU\" bottom: \"cat\" top: \"cat\" relu_param { negative_slope: 0.125 } }\n"
                    "layer { name: \"n\" type: \"LRN\" bottom: \"cat\" top: \"n\"\n"
                    "  lrn_param { local_size: 3 alpha: 5e-05 beta: 0.75 k: 2.0f norm_region: WITHIN_CHANNEL } }\n"
                    "layer { name: \"s\" type: \"Split\" bottom: \"n\" top: \"s1\" top: \"s2\" }\n"
                    "layer { name: \"e\" type: \"Eltwise\" bottom: \"s1\" bottom: \"s2\" top: \"e\" eltwise_param { operation: SUM coeff: [1, -0.5] } }\n"
                    "layer { name: \"p\" type: \"Pooling\" bottom: \"e\" top: \"p\" pooling_param { pool: AVE global_pooling: true } }\n"
                    "layer { name: \"p2\" type: \"Pooling\" bottom: \"e\" top: \"p2\" pooling_param { pool: 0 kernel_h: 3 kernel_w: 2 stride: 2 round_mode: FLOOR } }\n"
                    "layer { name: \"d\" type: \"Dropout\" bottom: \"p\" top: \"p\" dropout_param { dropout_ratio: 0.25 } }\n"
                    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"p\" top: \"fc\" inner_product_param { num_output: 5 transpose: true axis: 1 } }\n"
                    "layer { name: \"sm\" type: \"Softmax\" bottom: \"fc\" top: \"prob\" softmax_param { axis: 1 } }\n",
                    NULL);
    CHECK(net != NULL, "text format features: %s", cpb_failure_reason());
    if (net) {
        CHECK(!strcmp(net->name, "a\"b\\cdAA\n"), "escaped, joined name: '%s'", net->name);
        CHECK(net->input_c == 3 && net->input_h == 10 && net->input_w == 12, "input_shape with a dim list");
        p = param_of(net, "c1");
        CHECK(p && p->num_output == 4 && p->kernel_h == 3 && p->kernel_w == 1 && p->pad_h == 1 && p->pad_w == 0 && p->stride_h == 2 &&
                  p->stride_w == 1 && p->dilation_h == 2 && p->dilation_w == 2 && !p->bias_term, "conv: kernel_h/_w, pad list, stride_h/_w, dilation, bias_term");
        p = param_of(net, "c2");
        CHECK(p && p->kernel_h == 3 && p->kernel_w == 1 && p->pad_h == 1 && p->pad_w == 1 && p->stride_h == 1 && p->stride_w == 2 && p->group == 3,
              "conv: repeated kernel_size and stride per axis, group");
        CHECK(net->layer[2].nbottom == 2 && net->blob[net->layer[2].top[0]].c == 8, "concat of two bottoms");
        p = param_of(net, "r");
        CHECK(p && p->negative_slope == 0.125f, "ReLU negative_slope");
        p = param_of(net, "n");
        CHECK(p && p->local_size == 3 && p->alpha == 5e-05f && p->beta == 0.75f && p->k == 2.0f && p->norm_region == XAI_LRN_WITHIN_CHANNEL, "LRN");
        CHECK(xai_net_find_layer(net, "s") >= 0 && net->layer[xai_net_find_layer(net, "s")].ntop == 2, "Split with two tops");
        p = param_of(net, "e");
        CHECK(p && p->operation == XAI_ELTWISE_SUM && p->ncoeff == 2 && p->coeff[1] == -0.5f, "Eltwise coefficients");
        p = param_of(net, "p");
        CHECK(p && p->pool == XAI_POOL_AVE && p->global_pooling, "global AVE pooling");
        p = param_of(net, "p2");
        CHECK(p && p->pool == XAI_POOL_MAX && p->kernel_h == 3 && p->kernel_w == 2 && p->stride_h == 2 && p->round_mode == XAI_ROUND_FLOOR, "pooling _h/_w, FLOOR");
        p = param_of(net, "d");
        CHECK(p && p->dropout_ratio == 0.25f, "dropout_ratio");
        p = param_of(net, "fc");
        CHECK(p && p->num_output == 5 && p->transpose, "InnerProduct transpose");
        CHECK(net->score_blob == xai_net_find_blob(net, "fc"), "scores: the Softmax's bottom");
    }
    xai_net_free(net);

    /* the input forms */
    net = from_text("input: \"data\"\ninput_dim: 10\ninput_dim: 3\ninput_dim: 227\ninput_dim: 227\n"
                    "layers { name: \"r\" type: RELU bottom: \"data\" top: \"r\" }\n", NULL);
    CHECK(net && net->input_c == 3 && net->input_h == 227 && !strcmp(net->blob[net->input_blob].name, "data"), "input + input_dim: %s", cpb_failure_reason());
    xai_net_free(net);
    net = from_text("layer { name: \"in\" type: \"Input\" top: \"img\" input_param { shape { dim: 1 dim: 1 dim: 28 dim: 28 } } }\n"
                    "layer { name: \"r\" type: \"ReLU\" bottom: \"img\" top: \"r\" }\n", NULL);
    CHECK(net && net->input_c == 1 && net->input_w == 28 && !strcmp(net->blob[net->input_blob].name, "img") && net->nlayer == 1,
          "Input layer: %s", cpb_failure_reason());
    xai_net_free(net);
    net = from_text("input: \"data\" input_shape { dim: 1 dim: 5 }\nlayer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n", NULL);
    CHECK(net && net->input_c == 5 && net->input_h == 1 && net->input_w == 1, "a vector input (num, channels)");
    xai_net_free(net);
    expect_text_fail("input: \"data\"\nlayer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n", NULL, "no input size",
                     "input 'data' has no size", "--input C,H,W");
    net = from_text("input: \"data\"\nlayer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n", chw);
    CHECK(net && net->input_c == 3 && net->input_h == 10 && net->input_w == 12, "--input gives the size");
    xai_net_free(net);

    /* a train_val prototxt: Data layers of both phases, loss and accuracy dropped; the input is the first
       bottom no kept layer makes */
    {
        static const char tv[] =
            "name: \"tv\"\n"
            "layer { name: \"mnist\" type: \"Data\" top: \"data\" top: \"label\" include { phase: TRAIN } data_param { source: \"x\" } }\n"
            "layer { name: \"mnist\" type: \"Data\" top: \"data\" top: \"label\" include { phase: TEST } }\n"
            "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n"
            "layer { name: \"only_train\" type: \"ReLU\" bottom: \"r\" top: \"r\" include { phase: TRAIN } }\n"
            "layer { name: \"not_test\" type: \"Python\" bottom: \"r\" top: \"q\" exclude { phase: TEST } }\n"
            "layer { name: \"test_only\" type: \"Dropout\" bottom: \"r\" top: \"r\" include { phase: TEST } }\n"
            "layer { name: \"staged\" type: \"ReLU\" bottom: \"r\" top: \"r\" include { stage: \"deploy\" } }\n"
            "layer { name: \"acc\" type: \"Accuracy\" bottom: \"r\" bottom: \"label\" top: \"acc\" include { phase: TEST } }\n"
            "layer { name: \"loss\" type: \"SoftmaxWithLoss\" bottom: \"r\" bottom: \"label\" top: \"loss\" }\n"
            "layer { name: \"sil\" type: \"Silence\" bottom: \"label\" }\n";
        net = from_text(tv, chw);
        CHECK(net && net->nlayer == 2 && !strcmp(net->layer[0].name, "r") && !strcmp(net->layer[1].name, "test_only") &&
                  !strcmp(net->blob[net->input_blob].name, "data"), "train_val: phases, stages, Data, loss, Accuracy dropped: %s",
              net ? "" : cpb_failure_reason());
        xai_net_free(net);
        expect_text_fail(tv, NULL, "train_val without --input", "'data' has no size", "--input C,H,W");
    }

    /* errors: where, and what */
    expect_text_fail("input: \"data\"\ninput_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\nlayer {\n  name: \"x\"\n  type \"ReLU\"\n}\n", NULL,
                     "missing colon", "t.prototxt:5:8: expected ':' or '{' after the field name 'type'", NULL);
    expect_text_fail("layer {\n  name: \"x\"\n", NULL, "unclosed message", "t.prototxt:3:1: the file ends inside 'layer' opened at line 1, column 1", NULL);
    expect_text_fail("name: \"abc\nlayer { }\n", NULL, "unclosed string", "t.prototxt:1:7: string not closed", NULL);
    expect_text_fail("name: \"a\\qb\"\n", NULL, "bad escape", "t.prototxt:1:9: unknown escape", NULL);
    expect_text_fail("layer { name: \"x\" } }\n", NULL, "stray brace", "t.prototxt:1:21: '}' closes no message", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"x\" type: \"PReLU\" bottom: \"data\" top: \"x\" }\n", NULL, "unsupported type",
                     "t.prototxt:2:19: layer 'x': layer type \"PReLU\" is not supported", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layers { name: \"sig\" type: SIGMOID bottom: \"data\" top: \"x\" }\n", NULL, "unsupported V1 type",
                     "layer 'sig': layer type \"Sigmoid\" is not supported", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layers { layer { name: \"conv1\" type: \"conv\" num_output: 4 } bottom: \"data\" top: \"conv1\" }\n", NULL, "V0 prototxt",
                     "t.prototxt:2:10: layers #0: the pre-2014 V0 format", "not supported");
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" pooling_param { pool: STOCHASTIC kernel_size: 2 } }\n", NULL,
                     "STOCHASTIC pooling", "layer 'p': pooling_param: pool STOCHASTIC is not supported", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3 } }\n",
                     NULL, "kernel_size and kernel_h", "either kernel_size or kernel_h/kernel_w, not both", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 kernel_size: 3 kernal: 1 } }\n",
                     NULL, "unknown field", "t.prototxt:2:112: layer 'c': convolution_param: unknown field 'kernal'", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 2 num_output: 3 kernel_size: 1 } }\n",
                     NULL, "a singular field twice", "'num_output' is given twice", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: two kernel_size: 1 } }\n",
                     NULL, "not a number", "num_output: 'two' is not an integer", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: Convolution bottom: \"data\" top: \"c\" }\n", NULL, "V2 type as an identifier",
                     "type takes a quoted string such as \"Convolution\"", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4\n"
                     "layer { name: \"c\" type: \"InnerProduct\" bottom: \"nothing\" top: \"c\" inner_product_param { num_output: 2 } }\n", NULL,
                     "unknown bottom", "t.prototxt:2:1: layer 'c' (InnerProduct): layer 'c': bottom 'nothing' names no blob", NULL);
    expect_text_fail("input: \"data\" input_dim: 1 input_dim: 1 input_dim: 4\nlayer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n", NULL, "three input_dim", "3 values of input_dim", NULL);
    expect_text_fail("layers { name: \"a\" type: RELU } layer { name: \"b\" type: \"ReLU\" }\n", NULL, "V1 and V2 layers", "both 'layers' (V1) and 'layer' (V2)", NULL);

    /* nesting: 100 levels parse, 101 do not */
    for (i = 0; i < 2; i++) {
        int depth = 100 + i, k, o = 0;
        for (k = 0; k < depth; k++) o += sprintf(deep + o, "m {");
        for (k = 0; k < depth; k++) deep[o++] = '}';
        deep[o] = 0;
        k = cpb_text_parse(&T, deep, strlen(deep), "deep.prototxt");
        if (i == 0) CHECK(k == XAI_OK, "100 levels: %s", cpb_failure_reason());
        else CHECK(k != XAI_OK && strstr(cpb_failure_reason(), "deep.prototxt:1:303: messages nested deeper than 100"), "101 levels: %s", cpb_failure_reason());
        cpb_text_free(&T);
    }
}

/* ---- the real Caffe files ----------------------------------------------------------------------- */

static int shared_present(void)
{
    FILE *f = fopen(SHARED "/README.md", "rb");
    if (f) fclose(f);
    return f != NULL;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *b = cpb_read_file(path, CPB_MAX_FILE, len);
    CHECK(b != NULL, "read %s: %s", path, cpb_failure_reason());
    return b;
}

typedef struct real_model {
    const char *dir, *prototxt, *weights, *output, *format;
    int classes;
} real_model;

static const real_model real_models[] = {
    {"lenet_v1", "lenet.prototxt", "lenet_iter_10000.caffemodel", "ip2", "V1", 10},
    {"lenet_v2", "lenet.prototxt", "lenet_iter_10000.caffemodel", "ip2", "V2", 10},
    {"cifar10_quick_v1", "cifar10_quick.prototxt", "cifar10_quick_iter_5000.caffemodel", "ip2", "V1", 10},
    {"cifar10_full_v2", "cifar10_full.prototxt", "cifar10_full_iter_70000.caffemodel", "ip1", "V2", 10},
    {"squeezenet", "SqueezeNet_deploy.prototxt", "squeezenet_v1.0.caffemodel", "pool_final", "V2", 1000},
};

static void test_real_models(void)
{
    size_t i;
    char a[512], b[512];
    for (i = 0; i < sizeof real_models / sizeof real_models[0]; i++) {
        const real_model *r = &real_models[i];
        unsigned char *pt, *cm;
        float *in, *ref;
        size_t lp, lc, lin, lref;
        xai_net *net;
        snprintf(a, sizeof a, SHARED "/%s/%s", r->dir, r->prototxt);
        snprintf(b, sizeof b, SHARED "/%s/%s", r->dir, r->weights);
        pt = slurp(a, &lp);
        cm = slurp(b, &lc);
        net = pt && cm ? cpb_convert((const char *)pt, lp, a, cm, lc, b, NULL) : NULL;
        free(pt);
        free(cm);
        CHECK(net != NULL, "%s: convert: %s", r->dir, cpb_failure_reason());
        if (!net) continue;
        snprintf(a, sizeof a, SHARED "/%s/input.f32", r->dir);
        snprintf(b, sizeof b, SHARED "/%s/logits.f32", r->dir);
        in = (float *)slurp(a, &lin);
        ref = (float *)slurp(b, &lref);
        CHECK(xai_net_num_classes(net) == r->classes, "%s: %d classes", r->dir, xai_net_num_classes(net));
        if (in && ref && lin == 2 * xai_net_input_size(net) * 4 && lref == (size_t)2 * r->classes * 4) {
            xai_tape *t = xai_tape_new(net, 2);
            const xai_tensor *o;
            int rc = t ? xai_net_forward(net, t, in, 2) : -1, k;
            o = rc == XAI_OK ? xai_tape_blob(t, r->output) : NULL;
            CHECK(o && xai_tensor_count(o) == (size_t)2 * r->classes, "%s: forward: %s", r->dir, xai_failure_reason());
            if (o) {
                double worst = 0;
                for (k = 0; k < 2; k++) {
                    double d = test_max_rel_diff(o->data + (size_t)k * r->classes, ref + (size_t)k * r->classes, (size_t)r->classes);
                    CHECK(d <= 1e-4, "%s: image %d: logits differ by %.3g relative", r->dir, k, d);
                    if (d > worst) worst = d;
                }
                CHECK(o == xai_tape_blob(t, net->blob[net->score_blob].name), "%s: '%s' is the net's score blob", r->dir, r->output);
                printf("%s (%s caffemodel): %d layers, %s matches logits.f32 to %.2g relative (both images)\n", r->dir, r->format, net->nlayer,
                       r->output, worst);
            }
            xai_tape_free(t);
        } else {
            CHECK(0, "%s: input.f32 or logits.f32 has the wrong size", r->dir);
        }
        free(in);
        free(ref);
        xai_net_free(net);
    }
}

static void test_mean_and_labels(void)
{
    size_t len, plane = 256 * 256, k;
    unsigned char *data = slurp(SHARED "/caffenet/imagenet_mean.binaryproto", &len);
    float *mean = NULL;
    int c = 0, h = 0, w = 0, ch;
    if (data && cpb_read_blobproto(data, len, "imagenet_mean.binaryproto", &c, &h, &w, &mean) == XAI_OK) {
        static const double expect[3] = {104.007, 116.669, 122.679};   /* B, G, R */
        CHECK(c == 3 && h == 256 && w == 256, "ILSVRC mean is %dx%dx%d", c, h, w);
        for (ch = 0; ch < 3 && c == 3 && h == 256 && w == 256; ch++) {
            double s = 0;
            for (k = 0; k < plane; k++) s += mean[ch * plane + k];
            CHECK_CLOSE(s / (double)plane, expect[ch], 1e-4, "ILSVRC mean channel average");
        }
    } else {
        CHECK(0, "imagenet_mean.binaryproto: %s", cpb_failure_reason());
    }
    free(mean);
    free(data);
    data = slurp(SHARED "/caffenet/synset_words.txt", &len);
    if (data) {
        size_t lines = 0;
        for (k = 0; k < len; k++) lines += data[k] == '\n';
        CHECK(lines == 1000, "synset_words.txt has %zu lines", lines);
    }
    free(data);
}

/* The tool itself: arguments, defaults, files, and no output after an error. */
static int run_tool(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5, const char *a6,
                    const char *a7, const char *a8, const char *a9)
{
    const char *v[11] = {"caffe2xai", a0, a1, a2, a3, a4, a5, a6, a7, a8, a9};
    char *argv[11];
    int argc = 1, i;
    for (i = 1; i < 11 && v[i]; i++) argv[argc++] = (char *)v[i];
    argv[0] = (char *)v[0];
    fflush(stdout);
    return caffe2xai_main(argc, argv);
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void test_tool(void)
{
    const char *out = test_tmp("xai_test_caffe.xai");
    xai_net *net;
    int rc;
    remove(out);
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--scale", "0.00390625", NULL, NULL, NULL, NULL);
    net = rc == 0 ? xai_net_load(out) : NULL;
    CHECK(net && net->pre.scale == 0.00390625f && net->pre.channel_order == XAI_ORDER_GRAY && net->pre.mean_kind == XAI_MEAN_NONE &&
              net->pre.resize_w == 0 && net->nlabel == 0, "caffe2xai lenet_v1: gray, scale, no mean (rc %d)", rc);
    xai_net_free(net);
    remove(out);
    rc = run_tool(SHARED "/squeezenet/SqueezeNet_deploy.prototxt", SHARED "/squeezenet/squeezenet_v1.0.caffemodel", "-o", out, "--mean",
                  SHARED "/caffenet/imagenet_mean.binaryproto", "--labels", SHARED "/caffenet/synset_words.txt", NULL, NULL);
    net = rc == 0 ? xai_net_load(out) : NULL;
    CHECK(net && net->pre.channel_order == XAI_ORDER_BGR && net->pre.mean_kind == XAI_MEAN_IMAGE && net->pre.mean_c == 3 &&
              net->pre.mean_h == 256 && net->pre.resize_w == 256 && net->pre.resize_h == 256 && net->nlabel == 1000 &&
              !strcmp(net->label[0], "n01440764 tench, Tinca tinca"), "caffe2xai squeezenet: BGR, mean image, resize 256, labels (rc %d)", rc);
    if (net && net->input_mean)
        CHECK(net->input_mean[0] == net->pre.mean_image[14 * 256 + 14], "the mean image is cropped at the centre like the picture");
    xai_net_free(net);
    remove(out);
    rc = run_tool(SHARED "/cifar10_quick_v1/cifar10_quick.prototxt", SHARED "/cifar10_quick_v1/cifar10_quick_iter_5000.caffemodel", "-o", out,
                  "--channel-order", "rgb", "--mean-pixel", "125.3,123,113.9", "--resize", "40,36");
    net = rc == 0 ? xai_net_load(out) : NULL;
    CHECK(net && net->pre.channel_order == XAI_ORDER_RGB && net->pre.mean_kind == XAI_MEAN_PIXEL && net->pre.mean_pixel[2] == 113.9f &&
              net->pre.resize_w == 40 && net->pre.resize_h == 36 && net->input_mean && net->input_mean[0] == 125.3f,
          "caffe2xai cifar10_quick: RGB, mean pixel, resize (rc %d)", rc);
    xai_net_free(net);
    remove(out);

    printf("(the caffe2xai errors below are expected)\n");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--labels",
                  SHARED "/caffenet/synset_words.txt", NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "1000 labels for 10 classes: exit 1, no output");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v2/lenet.prototxt", "-o", out, NULL, NULL, NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "a prototxt as the caffemodel: exit 1, no output");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--mean-pixel", "1,2,3", NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "3 mean values for 1 channel: exit 1");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--mean",
                  SHARED "/caffenet/imagenet_mean.binaryproto", NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "a 3-channel mean for a gray net: exit 1");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", "/nonexistent.caffemodel", "-o", out, NULL, NULL, NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "a missing caffemodel: exit 1");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--bogus", NULL, NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "an unknown option: exit 1");
    rc = run_tool(SHARED "/lenet_v1/lenet.prototxt", SHARED "/lenet_v1/lenet_iter_10000.caffemodel", "-o", out, "--channel-order", "bgr", NULL, NULL, NULL, NULL);
    CHECK(rc == 1 && !file_exists(out), "BGR for a gray net: exit 1");
}

/* ---- CaffeNet in the 2014 V1 encoding -------------------------------------------------------------- */

/* BVLC's deploy.prototxt (models/bvlc_reference_caffenet, as in ../shared/caffe/caffenet), for when
   ../shared is absent: the structure of the reference CaffeNet. */
static const char caffenet_deploy[] =
    "name: \"CaffeNet\"\n"
    "layer { name: \"data\" type: \"Input\" top: \"data\" input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } } }\n"
    "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\" convolution_param { num_output: 96 kernel_size: 11 stride: 4 } }\n"
    "layer { name: \"relu1\" type: \"ReLU\" bottom: \"conv1\" top: \"conv1\" }\n"
    "layer { name: \"pool1\" type: \"Pooling\" bottom: \"conv1\" top: \"pool1\" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n"
    "layer { name: \"norm1\" type: \"LRN\" bottom: \"pool1\" top: \"norm1\" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n"
    "layer { name: \"conv2\" type: \"Convolution\" bottom: \"norm1\" top: \"conv2\" convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2 } }\n"
    "layer { name: \"relu2\" type: \"ReLU\" bottom: \"conv2\" top: \"conv2\" }\n"
    "layer { name: \"pool2\" type: \"Pooling\" bottom: \"conv2\" top: \"pool2\" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n"
    "layer { name: \"norm2\" type: \"LRN\" bottom: \"pool2\" top: \"norm2\" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n"
    "layer { name: \"conv3\" type: \"Convolution\" bottom: \"norm2\" top: \"conv3\" convolution_param { num_output: 384 pad: 1 kernel_size: 3 } }\n"
    "layer { name: \"relu3\" type: \"ReLU\" bottom: \"conv3\" top: \"conv3\" }\n"
    "layer { name: \"conv4\" type: \"Convolution\" bottom: \"conv3\" top: \"conv4\" convolution_param { num_output: 384 pad: 1 kernel_size: 3 group: 2 } }\n"
    "layer { name: \"relu4\" type: \"ReLU\" bottom: \"conv4\" top: \"conv4\" }\n"
    "layer { name: \"conv5\" type: \"Convolution\" bottom: \"conv4\" top: \"conv5\" convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2 } }\n"
    "layer { name: \"relu5\" type: \"ReLU\" bottom: \"conv5\" top: \"conv5\" }\n"
    "layer { name: \"pool5\" type: \"Pooling\" bottom: \"conv5\" top: \"pool5\" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n"
    "layer { name: \"fc6\" type: \"InnerProduct\" bottom: \"pool5\" top: \"fc6\" inner_product_param { num_output: 4096 } }\n"
    "layer { name: \"relu6\" type: \"ReLU\" bottom: \"fc6\" top: \"fc6\" }\n"
    "layer { name: \"drop6\" type: \"Dropout\" bottom: \"fc6\" top: \"fc6\" dropout_param { dropout_ratio: 0.5 } }\n"
    "layer { name: \"fc7\" type: \"InnerProduct\" bottom: \"fc6\" top: \"fc7\" inner_product_param { num_output: 4096 } }\n"
    "layer { name: \"relu7\" type: \"ReLU\" bottom: \"fc7\" top: \"fc7\" }\n"
    "layer { name: \"drop7\" type: \"Dropout\" bottom: \"fc7\" top: \"fc7\" dropout_param { dropout_ratio: 0.5 } }\n"
    "layer { name: \"fc8\" type: \"InnerProduct\" bottom: \"fc7\" top: \"fc8\" inner_product_param { num_output: 1000 } }\n"
    "layer { name: \"prob\" type: \"Softmax\" bottom: \"fc8\" top: \"prob\" }\n";

/* A filler message: type, std */
static void pb_filler(pb *L, int field, const char *type, float std)
{
    pb f = {0, 0, 0};
    pb_s(&f, 1, type);
    if (std > 0) pb_f32(&f, 3, std);
    pb_m(L, field, &f);
}

/* net as the training snapshot of the 2014 BVLC release writes it: NetParameter.layers (field 2) of
   V1LayerParameter, enum types, the train net's data and loss layers, blobs_lr and weight_decay,
   legacy num/channels/height/width dims, fc weights 1x1xOxI, floats packed. */
static pb caffenet_v1(const xai_net *net)
{
    pb out = {0, 0, 0}, L = {0, 0, 0}, m = {0, 0, 0};
    int li;
    pb_s(&out, 1, "CaffeNet");
    pb_s(&L, 3, "data"); pb_s(&L, 3, "label"); pb_s(&L, 4, "data"); pb_u(&L, 5, 5);
    pb_s(&m, 1, "examples/imagenet/ilsvrc12_train_leveldb"); pb_u(&m, 4, 256); pb_m(&L, 11, &m);
    pb_u(&m, 2, 1); pb_u(&m, 3, 227); pb_s(&m, 4, "data/ilsvrc12/imagenet_mean.binaryproto"); pb_m(&L, 36, &m);
    pb_u(&m, 1, 0); pb_m(&L, 32, &m);   /* include { phase: TRAIN } */
    pb_m(&out, 2, &L);
    for (li = 0; li < net->nlayer; li++) {
        const xai_layer *X = &net->layer[li];
        const xai_layer_param *p = &X->p;
        static const int v1type[XAI_LAYER_TYPE_COUNT] = {4, 14, 18, 17, 15, 6, 21, 3, 25, 22};
        int j;
        if (p->type == XAI_SOFTMAX) {   /* the train net ends in a loss */
            pb_s(&L, 2, net->blob[X->bottom[0]].name); pb_s(&L, 2, "label"); pb_s(&L, 3, "loss"); pb_s(&L, 4, "loss"); pb_u(&L, 5, 21);
            pb_m(&out, 2, &L);
            continue;
        }
        for (j = 0; j < X->nbottom; j++) pb_s(&L, 2, net->blob[X->bottom[j]].name);
        for (j = 0; j < X->ntop; j++) pb_s(&L, 3, net->blob[X->top[j]].name);
        pb_s(&L, 4, X->name);
        pb_u(&L, 5, (uint64_t)v1type[p->type]);
        if (X->weight_count) {
            int64_t wd[4], bd[1];
            int nd = p->type == XAI_CONVOLUTION ? 4 : 2;
            for (j = 0; j < 4; j++) wd[j] = X->weight_shape[j];
            bd[0] = (int64_t)X->bias_count;
            pb_blob(&L, 6, wd, nd, SHAPE_LEGACY, X->weight, X->weight_count, DATA_PACKED, 0);
            pb_blob(&L, 6, bd, 1, SHAPE_LEGACY, X->bias, X->bias_count, DATA_PACKED, 0);
            pb_f32(&L, 7, 1); pb_f32(&L, 7, 2); pb_f32(&L, 8, 1); pb_f32(&L, 8, 0);
        }
        switch (p->type) {
        case XAI_CONVOLUTION:
            pb_u(&m, 1, (uint64_t)p->num_output);
            if (p->pad_h) pb_u(&m, 3, (uint64_t)p->pad_h);
            pb_u(&m, 4, (uint64_t)p->kernel_h);
            if (p->group != 1) pb_u(&m, 5, (uint64_t)p->group);
            if (p->stride_h != 1) pb_u(&m, 6, (uint64_t)p->stride_h);
            pb_filler(&m, 7, "gaussian", 0.01f);
            pb_filler(&m, 8, "constant", 0);
            pb_m(&L, 10, &m);
            break;
        case XAI_INNER_PRODUCT:
            pb_u(&m, 1, (uint64_t)p->num_output);
            pb_filler(&m, 3, "gaussian", 0.005f);
            pb_filler(&m, 4, "constant", 0);
            pb_m(&L, 17, &m);
            break;
        case XAI_POOLING:
            pb_u(&m, 1, (uint64_t)p->pool); pb_u(&m, 2, (uint64_t)p->kernel_h); pb_u(&m, 3, (uint64_t)p->stride_h);
            pb_m(&L, 19, &m);
            break;
        case XAI_LRN:
            pb_u(&m, 1, (uint64_t)p->local_size); pb_f32(&m, 2, p->alpha); pb_f32(&m, 3, p->beta);
            pb_m(&L, 18, &m);
            break;
        case XAI_DROPOUT:
            pb_f32(&m, 1, p->dropout_ratio);
            pb_m(&L, 12, &m);
            break;
        default:
            break;
        }
        pb_m(&out, 2, &L);
    }
    return out;
}

static xai_net *synthetic_caffenet(uint64_t seed)
{
    xai_net *net = xai_net_caffenet();
    if (net) xai_net_fill_random(net, seed);
    return net;
}

static void compare_nets(const xai_net *got, const xai_net *ref, const char *what)
{
    int i, same = 1;
    CHECK(got != NULL, "%s: %s", what, cpb_failure_reason());
    if (!got) return;
    CHECK(got->nlayer >= ref->nlayer - 1 && got->nparams == ref->nparams, "%s: %d layers, %zu params (want %d, %zu)", what, got->nlayer, got->nparams,
          ref->nlayer, ref->nparams);
    if (got->nparams != ref->nparams) return;
    for (i = 0; i < ref->nlayer && i < got->nlayer; i++) {
        if (strcmp(got->layer[i].name, ref->layer[i].name) || memcmp(&got->layer[i].p, &ref->layer[i].p, sizeof(xai_layer_param)) ||
            got->layer[i].weight_offset != ref->layer[i].weight_offset || got->layer[i].bias_offset != ref->layer[i].bias_offset) {
            same = 0;
            printf("FAIL %s: layer %d '%s' differs from '%s'\n", what, i, got->layer[i].name, ref->layer[i].name);
        }
    }
    CHECK(same, "%s: every layer as xai_net_caffenet() builds it", what);
    CHECK(memcmp(got->params, ref->params, ref->nparams * sizeof(float)) == 0, "%s: params bitwise identical", what);
    CHECK(got->input_c == 3 && got->input_h == 227 && got->input_w == 227, "%s: input 3x227x227", what);
}

static void test_caffenet_v1(void)
{
    xai_net *ref = synthetic_caffenet(42), *got;
    pb model;
    unsigned char *deploy = NULL, *tv = NULL;
    size_t ld = 0, ltv = 0;
    clock_t t0;
    CHECK(ref != NULL, "xai_net_caffenet: %s", xai_failure_reason());
    if (!ref) return;
    model = caffenet_v1(ref);
    CHECK(model.len > 240000000, "the synthetic caffemodel is %zu bytes, the size of the real one (about 233 MiB)", model.len);
    if (shared_present()) deploy = slurp(SHARED "/caffenet/deploy.prototxt", &ld);
    else printf("SKIP ../shared/caffe absent: CaffeNet from the embedded copy of its deploy.prototxt\n");
    t0 = clock();
    got = deploy ? cpb_convert((const char *)deploy, ld, "deploy.prototxt", model.p, model.len, "caffenet_v1.caffemodel", NULL)
                 : cpb_convert(caffenet_deploy, strlen(caffenet_deploy), "deploy.prototxt", model.p, model.len, "caffenet_v1.caffemodel", NULL);
    printf("synthetic CaffeNet, V1 caffemodel of %.1f MB: converted in %.2f s\n", model.len / 1e6, (double)(clock() - t0) / CLOCKS_PER_SEC);
    compare_nets(got, ref, "CaffeNet V1 with deploy.prototxt");
    xai_net_free(got);
    got = cpb_convert(caffenet_deploy, strlen(caffenet_deploy), "embedded.prototxt", model.p, model.len, "caffenet_v1.caffemodel", NULL);
    compare_nets(got, ref, "CaffeNet V1 with the embedded deploy text");
    xai_net_free(got);
    if (shared_present() && (tv = slurp(SHARED "/caffenet/train_val.prototxt", &ltv)) != NULL) {
        static const int chw[3] = {3, 227, 227};
        got = cpb_convert((const char *)tv, ltv, "train_val.prototxt", model.p, model.len, "caffenet_v1.caffemodel", chw);
        compare_nets(got, ref, "CaffeNet V1 with train_val.prototxt and --input 3,227,227");
        if (got) CHECK(got->nlayer == ref->nlayer - 1 && got->score_blob == xai_net_find_blob(got, "fc8"), "train_val: no Softmax, scores at fc8");
        xai_net_free(got);
        got = cpb_convert((const char *)tv, ltv, "train_val.prototxt", model.p, model.len, "caffenet_v1.caffemodel", NULL);
        CHECK(!got && strstr(cpb_failure_reason(), "--input C,H,W"), "train_val without --input: %s", cpb_failure_reason());
        xai_net_free(got);
    }
    free(tv);
    free(deploy);
    pb_free(&model);
    xai_net_free(ref);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--write-synthetic-caffenet")) {
        xai_net *net = synthetic_caffenet(argc >= 4 ? strtoull(argv[3], NULL, 10) : 1);
        pb model;
        int ok;
        if (!net) { printf("%s\n", xai_failure_reason()); return 1; }
        model = caffenet_v1(net);
        ok = test_write(argv[2], model.p, model.len);
        printf("%s: %zu bytes, synthetic CaffeNet in the V1 encoding\n", argv[2], model.len);
        pb_free(&model);
        xai_net_free(net);
        return ok ? 0 : 1;
    }
    tiny_values();
    test_wire_format();
    test_text_format();
    if (shared_present()) {
        test_real_models();
        test_mean_and_labels();
        test_tool();
    } else {
        printf("SKIP ../shared/caffe absent: the real Caffe models, mean, labels and the tool's runs on them\n");
    }
    test_caffenet_v1();
    return test_report();
}
