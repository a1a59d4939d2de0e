/* Writes the fuzzers' seed corpora: small valid (and a few nearly valid) files of every format,
   one folder per target.   bin/fuzz-seeds DIR   (make fuzz: DIR = bin/fuzz/seeds)
   The files are what the tests use: nets built with xai.h and saved, pictures written by hand,
   the tiny and LeNet deploy nets of caffe_nets.h, and caffemodels encoded here for them. */
#define XAI_IMPLEMENTATION
#include "../../xai.h"
#include "caffe_nets.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;
static int nwritten;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    if (!(f = fopen(path, "wb")) || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "seeds: cannot write %s\n", path);
        exit(1);
    }
    nwritten++;
}
static void put_text(const char *target, const char *name, const char *text) { put(target, name, text, strlen(text)); }

/* ---- protobuf wire format, for the caffemodels and mean files ---- */
#include "../pb_encode.h"

/* A BlobProto: shape (BlobShape or legacy 4-D) and values (packed floats, unpacked floats or
   doubles: how = 0, 1, 2). */
static void blob_body(pb *bp, const int64_t *dims, int nd, int legacy, size_t n, int how, float seed)
{
    pb b = *bp, s = {0};
    size_t i;
    int k;
    if (legacy) {
        for (k = 0; k < 4; k++) pb_u(&b, k + 1, (uint64_t)(k < 4 - nd ? 1 : dims[k - (4 - nd)]));
    } else {
        pb d = {0};
        for (k = 0; k < nd; k++) pb_varint(&d, (uint64_t)dims[k]);
        pb_m(&s, 1, &d);   /* packed dims */
        pb_m(&b, 7, &s);
    }
    if (how == 0) {
        pb v = {0};
        for (i = 0; i < n; i++) { float f = seed + 0.25f * (float)i; uint32_t u; memcpy(&u, &f, 4); pb_le(&v, u, 4); }
        pb_m(&b, 5, &v);
    } else if (how == 1) {
        for (i = 0; i < n; i++) { float f = seed - 0.5f * (float)i; uint32_t u; memcpy(&u, &f, 4); pb_key(&b, 5, 5); pb_le(&b, u, 4); }
    } else {
        pb v = {0};
        for (i = 0; i < n; i++) { double d = seed + 0.125 * (double)i; uint64_t u; memcpy(&u, &d, 8); pb_le(&v, u, 8); }
        pb_m(&b, 8, &v);
    }
    *bp = b;
}
static void blob(pb *out, int field, const int64_t *dims, int nd, int legacy, size_t n, int how, float seed)
{
    pb b = {0};
    blob_body(&b, dims, nd, legacy, n, how, seed);
    pb_m(out, field, &b);
}

/* The tiny net's caffemodel: V2 (layer, field 100) or V1 (layers, field 2, V1 field numbers). */
static pb tiny_caffemodel(int v1, int legacy, int how)
{
    static const int64_t cw[4] = {3, 2, 3, 3}, cb[1] = {3}, fw[2] = {4, 12}, fb[1] = {4};
    pb net = {0}, L = {0};
    int name = v1 ? 4 : 1, type = v1 ? 5 : 2, blobs = v1 ? 6 : 7, layer = v1 ? 2 : 100, bottom = v1 ? 2 : 3, top = v1 ? 3 : 4;
    pb_s(&net, 1, "tiny");
    pb_s(&L, name, "data");
    if (v1) pb_u(&L, type, 5); else pb_s(&L, type, "Data");
    pb_s(&L, top, "data");
    pb_m(&net, layer, &L);
    pb_s(&L, name, "conv");
    if (v1) pb_u(&L, type, 4); else pb_s(&L, type, "Convolution");
    pb_s(&L, bottom, "data");
    pb_s(&L, top, "conv");
    blob(&L, blobs, cw, 4, legacy, 54, how, 0.5f);
    blob(&L, blobs, cb, 1, legacy, 3, how, -1);
    pb_m(&net, layer, &L);
    pb_s(&L, name, "relu");
    if (v1) pb_u(&L, type, 18); else pb_s(&L, type, "ReLU");
    pb_m(&net, layer, &L);
    pb_s(&L, name, "fc");
    if (v1) pb_u(&L, type, 14); else pb_s(&L, type, "InnerProduct");
    blob(&L, blobs, fw, 2, legacy, 48, how, 0.125f);
    blob(&L, blobs, fb, 1, legacy, 4, how, 2);
    pb_m(&net, layer, &L);
    return net;
}

static void caffemodel_seeds(void)
{
    pb m;
    m = tiny_caffemodel(0, 0, 0); put("caffemodel", "tiny_v2_packed.caffemodel", m.p, m.len); free(m.p);
    m = tiny_caffemodel(0, 1, 1); put("caffemodel", "tiny_v2_legacy_unpacked.caffemodel", m.p, m.len); free(m.p);
    m = tiny_caffemodel(1, 1, 0); put("caffemodel", "tiny_v1_legacy.caffemodel", m.p, m.len); free(m.p);
    m = tiny_caffemodel(1, 0, 2); put("caffemodel", "tiny_v1_double.caffemodel", m.p, m.len); free(m.p);
    /* a layer without blobs and unknown fields only */
    {
        pb net = {0}, L = {0};
        pb_s(&L, 1, "fc");
        pb_u(&L, 77, 5);
        pb_m(&net, 100, &L);
        pb_u(&net, 5, 1);
        put("caffemodel", "no_blobs.caffemodel", net.p, net.len);
        free(net.p);
    }
}

static void binaryproto_seeds(void)
{
    static const int64_t d4[4] = {1, 3, 4, 5}, d3[3] = {1, 6, 6};
    pb b = {0};
    blob_body(&b, d4, 4, 1, 60, 0, 100);
    put("binaryproto", "mean_legacy_3x4x5.binaryproto", b.p, b.len);
    b.len = 0;
    blob_body(&b, d3, 3, 0, 36, 1, 7);
    put("binaryproto", "mean_shape_1x6x6.binaryproto", b.p, b.len);
    b.len = 0;
    blob_body(&b, d4, 4, 0, 60, 2, 3);
    put("binaryproto", "mean_double_3x4x5.binaryproto", b.p, b.len);
    free(b.p);
}

/* ---- prototxt ---- */
static void prototxt_seeds(void)
{
    put_text("prototxt", "tiny_v2.prototxt", fuzz_tiny_prototxt);
    put_text("prototxt", "lenet.prototxt", fuzz_lenet_prototxt);
    put_text("prototxt", "tiny_v1.prototxt",
             "name: \"tiny\"\ninput: \"data\"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 6\ninput_dim: 6\n"
             "layers { name: \"conv\" type: CONVOLUTION bottom: \"data\" top: \"conv\" blobs_lr: 1 blobs_lr: 2\n"
             "         convolution_param { num_output: 3 kernel_size: 3 } }\n"
             "layers { name: \"relu\" type: RELU bottom: \"conv\" top: \"conv\" }\n"
             "layers { name: \"pool\" type: POOLING bottom: \"conv\" top: \"pool\" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }\n"
             "layers { name: \"fc\" type: INNER_PRODUCT bottom: \"pool\" top: \"fc\" inner_product_param { num_output: 4 } }\n"
             "layers { name: \"loss\" type: SOFTMAX_LOSS bottom: \"fc\" bottom: \"label\" }\n");
    /* every layer type xai.h runs, an Input layer, phase rules, lists, strings, comments */
    put_text("prototxt", "all_layers.prototxt",
             "# every supported layer\nname: 'all'\n"
             "layer { name: \"in\" type: \"Input\" top: \"data\" input_param { shape { dim: 1 dim: 3 dim: 12 dim: 12 } } }\n"
             "layer { name: \"d\" type: \"Data\" top: \"data\" top: \"label\" include { phase: TRAIN } }\n"
             "layer { name: \"c1\" type: \"Convolution\" bottom: \"data\" top: \"c1\"\n"
             "  convolution_param { num_output: 4 pad: 1 kernel_size: 3 stride: 1 group: 1 dilation: 1 bias_term: true\n"
             "    weight_filler { type: \"gaussian\" std: 0.01 } } }\n"
             "layer { name: \"r1\" type: \"ReLU\" bottom: \"c1\" top: \"c1\" relu_param { negative_slope: 0.1 } }\n"
             "layer { name: \"n1\" type: \"LRN\" bottom: \"c1\" top: \"n1\" lrn_param { local_size: 3 alpha: 1e-4 beta: 0.75 k: 2 } }\n"
             "layer { name: \"s\" type: \"Split\" bottom: \"n1\" top: \"a\" top: \"b\" }\n"
             "layer { name: \"c2\" type: \"Convolution\" bottom: \"a\" top: \"c2\" convolution_param { num_output: 4 kernel_h: 1 kernel_w: 3 pad_h: 0 pad_w: 1 group: 2 } }\n"
             "layer { name: \"e\" type: \"Eltwise\" bottom: \"c2\" bottom: \"b\" top: \"e\" eltwise_param { operation: SUM coeff: [1, -0.5] } }\n"
             "layer { name: \"m\" type: \"Eltwise\" bottom: \"e\" bottom: \"b\" top: \"m\" eltwise_param { operation: MAX } }\n"
             "layer { name: \"cat\" type: \"Concat\" bottom: \"m\" bottom: \"e\" top: \"cat\" concat_param { axis: 1 } }\n"
             "layer { name: \"p\" type: \"Pooling\" bottom: \"cat\" top: \"p\" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }\n"
             "layer { name: \"g\" type: \"Pooling\" bottom: \"p\" top: \"g\" pooling_param { pool: AVE global_pooling: true } }\n"
             "layer { name: \"drop\" type: \"Dropout\" bottom: \"g\" top: \"g\" dropout_param { dropout_ratio: 0.5 } }\n"
             "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"g\" top: \"fc\" inner_product_param { num_output: 5 transpose: false } }\n"
             "layer { name: \"prob\" type: \"Softmax\" bottom: \"fc\" top: \"prob\" softmax_param { axis: 1 } }\n"
             "layer { name: \"acc\" type: \"Accuracy\" bottom: \"fc\" bottom: \"label\" top: \"acc\" include: { phase: TEST } }\n");
    put_text("prototxt", "input_shape.prototxt",
             "name: \"shape\"\ninput: \"x\"\ninput_shape { dim: 1 dim: 1 dim: 5 dim: 7 }\n"
             "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"x\" top: \"fc\" inner_product_param { num_output: 3 bias_term: false } }\n");
    put_text("prototxt", "train_val.prototxt",
             "name: \"tv\"\nlayer { name: \"mnist\" type: \"Data\" top: \"data\" top: \"label\" transform_param { scale: 0.00390625 }\n"
             "  data_param { source: \"x\\tlmdb\\u00e9\" batch_size: 64 backend: LMDB } }\n"
             "layer { name: \"ip\" type: \"InnerProduct\" bottom: \"data\" top: \"ip\" inner_product_param { num_output: 10 } }\n"
             "layer { name: \"loss\" type: \"SoftmaxWithLoss\" bottom: \"ip\" bottom: \"label\" top: \"loss\" }\n");
}

/* ---- pictures ---- */
static void image_seeds(void)
{
    unsigned char buf[512];
    int i, n;
    put_text("image", "p2.pgm", "P2\n# a comment\n3 2\n15\n0 1 2\n13 14 15\n");
    put_text("image", "p3.ppm", "P3 2 2 255 255 0 0  0 255 0\n0 0 255  10 20 30\n");
    n = snprintf((char *)buf, sizeof buf, "P5\n4 3\n255\n");
    for (i = 0; i < 12; i++) buf[n + i] = (unsigned char)(i * 21);
    put("image", "p5.pgm", buf, (size_t)n + 12);
    n = snprintf((char *)buf, sizeof buf, "P6\n#c\n3 2\n65535\n");
    for (i = 0; i < 36; i++) buf[n + i] = (unsigned char)(i * 7);
    put("image", "p6_16bit.ppm", buf, (size_t)n + 36);
    n = snprintf((char *)buf, sizeof buf, "P6 2 2 255\n");
    for (i = 0; i < 12; i++) buf[n + i] = (unsigned char)(255 - i * 20);
    put("image", "p6.ppm", buf, (size_t)n + 12);
    {
        xai_image img;
        char path[1024];
        size_t len;
        unsigned char *data;
        FILE *f;
        xai_image_alloc(&img, 3, 2, 3);
        for (i = 0; i < 18; i++) img.data[i] = (float)i * 1.5f - 4.0f;
        snprintf(path, sizeof path, "%s/image/pf_little.pfm", root);
        if (xai_image_write_pfm(path, &img) != XAI_OK) { fprintf(stderr, "seeds: %s\n", xai_failure_reason()); exit(1); }
        nwritten++;
        xai_image_free(&img);
        /* the same picture big-endian: scale +1, bytes swapped */
        if (!(f = fopen(path, "rb"))) exit(1);
        data = (unsigned char *)malloc(4096);
        len = fread(data, 1, 4096, f);
        fclose(f);
        {
            const char *hdr = "PF\n3 2\n1.0\n";
            size_t hl = strlen("PF\n3 2\n-1.0\n"), k;
            unsigned char out[4096];
            memcpy(out, hdr, strlen(hdr));
            for (k = 0; k + 4 <= len - hl; k += 4) {
                out[strlen(hdr) + k] = data[hl + k + 3];
                out[strlen(hdr) + k + 1] = data[hl + k + 2];
                out[strlen(hdr) + k + 2] = data[hl + k + 1];
                out[strlen(hdr) + k + 3] = data[hl + k];
            }
            put("image", "pf_big.pfm", out, strlen(hdr) + (len - hl));
        }
        free(data);
        xai_image_alloc(&img, 2, 2, 1);
        for (i = 0; i < 4; i++) img.data[i] = (float)i - 1.5f;
        snprintf(path, sizeof path, "%s/image/pf_gray.pfm", root);
        if (xai_image_write_pfm(path, &img) != XAI_OK) exit(1);
        nwritten++;
        xai_image_free(&img);
    }
}

/* ---- .xai models ---- */
static void save(xai_net *net, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/xai", root);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/xai/%s", root, name);
    if (xai_net_save(net, path) != XAI_OK) { fprintf(stderr, "seeds: %s\n", xai_failure_reason()); exit(1); }
    nwritten++;
    xai_net_free(net);
}

static void xai_seeds(void)
{
    xai_layer_param conv = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU), pool = xai_layer_defaults(XAI_POOLING),
                    fc = xai_layer_defaults(XAI_INNER_PRODUCT), sm = xai_layer_defaults(XAI_SOFTMAX), lrn = xai_layer_defaults(XAI_LRN),
                    cat = xai_layer_defaults(XAI_CONCAT), elt = xai_layer_defaults(XAI_ELTWISE), split = xai_layer_defaults(XAI_SPLIT),
                    drop = xai_layer_defaults(XAI_DROPOUT);
    static const char *const labels[] = {"n01 cat", "n02 dog", "n03 \xc3\xa9l\xc3\xa9phant"};
    float mean[3 * 8 * 8];
    xai_net *net;
    int i;
    /* conv, relu, max pool, fc, softmax; labels; mean pixel */
    net = xai_net_new("tiny");
    conv.num_output = 3; conv.kernel_h = conv.kernel_w = 3; conv.pad_h = conv.pad_w = 1;
    pool.kernel_h = pool.kernel_w = 2; pool.stride_h = pool.stride_w = 2;
    fc.num_output = 3;
    xai_net_input(net, "data", 3, 6, 6);
    xai_net_add(net, "conv", &conv, "data", "conv");
    xai_net_add(net, "relu", &relu, "conv", "conv");
    xai_net_add(net, "pool", &pool, "conv", "pool");
    xai_net_add(net, "fc", &fc, "pool", "fc");
    xai_net_add(net, "prob", &sm, "fc", "prob");
    xai_net_finalize(net);
    xai_net_fill_random(net, 1);
    xai_net_set_labels(net, 3, labels);
    {
        float px[3] = {104, 117, 123};
        net->pre.channel_order = XAI_ORDER_BGR;
        xai_net_set_mean_pixel(net, px);
    }
    save(net, "tiny_labels_meanpixel.xai");
    /* LRN, split, eltwise, concat, dropout, average pooling; mean image, resize */
    net = xai_net_new("branches");
    xai_net_input(net, "data", 3, 6, 6);
    conv.num_output = 4; conv.group = 1;
    xai_net_add(net, "c1", &conv, "data", "c1");
    lrn.local_size = 3;
    xai_net_add(net, "n1", &lrn, "c1", "n1");
    xai_net_add(net, "s", &split, "n1", "a,b");
    conv.group = 2; conv.kernel_h = 1;  conv.pad_h = 0;
    xai_net_add(net, "c2", &conv, "a", "c2");
    elt.operation = XAI_ELTWISE_SUM; elt.ncoeff = 2; elt.coeff[0] = 1; elt.coeff[1] = -0.5f;
    xai_net_add(net, "e", &elt, "c2,b", "e");
    elt.operation = XAI_ELTWISE_MAX; elt.ncoeff = 0;
    xai_net_add(net, "m", &elt, "e,b", "m");
    xai_net_add(net, "cat", &cat, "m,e", "cat");
    pool.pool = XAI_POOL_AVE;
    xai_net_add(net, "p", &pool, "cat", "p");
    drop.dropout_ratio = 0.5f;
    xai_net_add(net, "d", &drop, "p", "p");
    fc.num_output = 2; fc.transpose = 1; fc.bias_term = 0;
    xai_net_add(net, "fc", &fc, "p", "fc");
    for (i = 0; i < 3 * 8 * 8; i++) mean[i] = (float)(i % 50);
    xai_net_set_mean_image(net, 3, 8, 8, mean);
    net->pre.resize_w = net->pre.resize_h = 8;
    xai_net_finalize(net);
    xai_net_fill_random(net, 2);
    save(net, "branches_meanimage.xai");
    /* gray input, LRN within channel, global pooling */
    net = xai_net_new("gray");
    xai_net_input(net, "x", 1, 5, 5);
    lrn.norm_region = XAI_LRN_WITHIN_CHANNEL;
    xai_net_add(net, "n", &lrn, "x", "n");
    pool = xai_layer_defaults(XAI_POOLING);
    pool.global_pooling = 1; pool.pool = XAI_POOL_MAX;
    xai_net_add(net, "g", &pool, "n", "g");
    fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    fc.num_output = 2;
    xai_net_add(net, "fc", &fc, "g", "fc");
    net->pre.scale = 0.00390625f;
    xai_net_finalize(net);
    xai_net_fill_random(net, 3);
    save(net, "gray_global.xai");
}

static void labels_seeds(void)
{
    put_text("labels", "synset.txt", "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01484850 great white shark\n");
    put_text("labels", "crlf_bom.txt", "\xEF\xBB\xBF" "zero\r\none\r\ntwo  \r\nthree");
    put_text("labels", "one.txt", "airplane\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: fuzz-seeds DIR\n"); return 2; }
    root = argv[1];
    mkdir(root, 0777);
    caffemodel_seeds();
    binaryproto_seeds();
    prototxt_seeds();
    image_seeds();
    xai_seeds();
    labels_seeds();
    printf("fuzz-seeds: %d files in %s\n", nwritten, root);
    return 0;
}
