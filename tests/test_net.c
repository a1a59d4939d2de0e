/* The network and the .xai model file: a synthetic CaffeNet end to end, batches against single
   images, the file's round trip, and each corruption failing with its own message. */
#include "../xai.h"
#include "test.h"

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }
static size_t skip_str(const unsigned char *p, size_t at) { return at + 4 + rd32(p + at); }

/* Offsets of fields in a file, found by walking the layout the header documents. */
typedef struct { size_t layer0_bottom, layer0_num_output, layer0_weight_dims, layer1_name; } offsets;

static offsets walk(const unsigned char *f)
{
    offsets o;
    size_t at = 64;
    uint32_t nlabel = rd32(f + 44), i, nb, nt, ncoeff;
    at = skip_str(f, at);            /* net name */
    at = skip_str(f, at) + 12;       /* input name, c h w */
    at += 4 + 4 + 4 + 12 + 12 + 8 + 8 + 12;   /* order, scale, mean kind, mean pixel, mean dims, mean offset, resize, channel scale */
    for (i = 0; i < nlabel; i++) at = skip_str(f, at);
    at = skip_str(f, at) + 4;        /* layer 0 name, type */
    nb = rd32(f + at); at += 4;
    o.layer0_bottom = at;
    for (i = 0; i < nb; i++) at = skip_str(f, at);
    nt = rd32(f + at); at += 4;
    for (i = 0; i < nt; i++) at = skip_str(f, at);
    o.layer0_num_output = at;
    at += 17 * 4 + 5 * 4 + 8;
    ncoeff = rd32(f + at); at += 4 + 4 * ncoeff;
    at += 4;                         /* blob count */
    o.layer0_weight_dims = at;
    at += 2 * 24;                    /* weights and bias */
    o.layer1_name = at;
    return o;
}

static xai_net *small_net(void)
{
    xai_net *net = xai_net_new("small");
    xai_layer_param conv = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU);
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT), soft = xai_layer_defaults(XAI_SOFTMAX);
    const char *labels[3] = {"zero", "one", "two"};
    conv.num_output = 2; conv.kernel_h = conv.kernel_w = 3;
    fc.num_output = 3;
    xai_net_input(net, "data", 1, 4, 4);
    xai_net_add(net, "conv", &conv, "data", "conv");
    xai_net_add(net, "relu", &relu, "conv", "conv");
    xai_net_add(net, "fc", &fc, "conv", "fc");
    xai_net_add(net, "prob", &soft, "fc", "prob");
    xai_net_finalize(net);
    xai_net_set_labels(net, 3, labels);
    xai_net_fill_random(net, 7);
    return net;
}

static void expect_load_error(const unsigned char *data, size_t len, const char *needle, const char *what)
{
    xai_net *net = xai_net_load_memory(data, len, "bad.xai");
    CHECK(!net && strstr(xai_failure_reason(), needle) && strstr(xai_failure_reason(), "bad.xai"), "%s: reason '%s' (wanted '%s')", what,
          net ? "(loaded)" : xai_failure_reason(), needle);
    xai_net_free(net);
}

static void test_model_file(void)
{
    xai_net *net = small_net(), *back;
    size_t len, flen;
    unsigned char *file = xai_net_save_memory(net, &len), *copy;
    offsets o;
    const char *path = test_tmp("xai_test_small.xai");
    CHECK(file != NULL, "save to memory: %s", xai_failure_reason());
    if (!file) return;
    CHECK(len % 4 == 0 && rd32(file + 24) % 64 == 0, "data offset aligned to 64");
    /* round trip, through a file */
    CHECK(xai_net_save(net, path) == XAI_OK, "save: %s", xai_failure_reason());
    copy = test_read(path, &flen);
    CHECK(copy && flen == len && memcmp(copy, file, len) == 0, "the file is the memory image");
    free(copy);
    back = xai_net_load(path);
    CHECK(back != NULL, "load: %s", xai_failure_reason());
    if (back) {
        CHECK(back->nlayer == 4 && back->nparams == net->nparams && memcmp(back->params, net->params, net->nparams * 4) == 0, "weights round trip");
        CHECK(back->nlabel == 3 && strcmp(back->label[2], "two") == 0, "labels round trip");
        CHECK(((uintptr_t)back->params & 63) == 0 && ((uintptr_t)back->layer[2].weight & 63) == 0, "weights 64-byte aligned in memory");
        CHECK(back->score_blob == xai_net_find_blob(back, "fc"), "score blob after load");
        xai_net_free(back);
    }
    remove(path);

    /* each corruption, its own message */
    copy = (unsigned char *)malloc(len);
    memcpy(copy, file, len);
    expect_load_error(copy, 40, "shorter than the 64-byte header", "truncated header");
    expect_load_error(copy, len - 4, "truncated", "truncated data");
    copy[0] = 'Y';
    expect_load_error(copy, len, "magic", "wrong magic");
    memcpy(copy, file, len);
    wr32(copy + 8, 3);
    expect_load_error(copy, len, "version 3", "newer version");
    memcpy(copy, file, len);
    wr32(copy + 8, 0);
    expect_load_error(copy, len, "convert the model again", "older version");
    memcpy(copy, file, len);
    o = walk(copy);
    /* num_output 2 -> 3: the weight blob (2x1x3x3) no longer fits the layer */
    CHECK(rd32(copy + o.layer0_num_output) == 2, "walked to num_output (%u)", rd32(copy + o.layer0_num_output));
    wr32(copy + o.layer0_num_output, 3);
    expect_load_error(copy, len, "weight blob 2x1x3x3, the layer needs 3x1x3x3", "blob size disagrees with its layer");
    memcpy(copy, file, len);
    CHECK(rd32(copy + o.layer0_weight_dims) == 2, "walked to the weight dims");
    wr32(copy + o.layer0_weight_dims + 4, 2);
    expect_load_error(copy, len, "weight blob 2x2x3x3", "blob dims disagree");
    memcpy(copy, file, len);
    CHECK(memcmp(copy + o.layer0_bottom + 4, "data", 4) == 0, "walked to the bottom name");
    memcpy(copy + o.layer0_bottom + 4, "dada", 4);
    expect_load_error(copy, len, "bottom 'dada' names no blob", "bottom names no blob");
    memcpy(copy, file, len);
    wr32(copy + o.layer1_name, 1000000);
    expect_load_error(copy, len, "layer 1's name is 1000000 bytes long", "absurd string length");
    memcpy(copy, file, len);
    wr32(copy + 40, 1000000);
    expect_load_error(copy, len, "layer count 1000000", "a million layers");
    memcpy(copy, file, len);
    wr32(copy + 40, 9);
    expect_load_error(copy, len, "layer 4", "more layers than the metadata holds");
    memcpy(copy, file, len);
    wr32(copy + 24, rd32(copy + 24) + 1);
    expect_load_error(copy, len, "data offset", "unaligned data offset");
    free(copy);
    free(file);
    xai_net_free(net);
}

/* A net with every section a flipped byte could change silently: labels, an LRN parameter,
   weights, a mean image. */
static xai_net *checksum_net(void)
{
    xai_net *net = xai_net_new("sums");
    xai_layer_param conv = xai_layer_defaults(XAI_CONVOLUTION), lrn = xai_layer_defaults(XAI_LRN);
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT), soft = xai_layer_defaults(XAI_SOFTMAX);
    const char *labels[3] = {"zero", "one", "two"};
    float mean[16];
    int i;
    conv.num_output = 2; conv.kernel_h = conv.kernel_w = 3;
    lrn.local_size = 3; lrn.alpha = 0.000123f;
    fc.num_output = 3;
    xai_net_input(net, "data", 1, 4, 4);
    xai_net_add(net, "conv", &conv, "data", "conv");
    xai_net_add(net, "norm", &lrn, "conv", "norm");
    xai_net_add(net, "fc", &fc, "norm", "fc");
    xai_net_add(net, "prob", &soft, "fc", "prob");
    xai_net_finalize(net);
    xai_net_set_labels(net, 3, labels);
    for (i = 0; i < 16; i++) mean[i] = 100.0f + (float)i;
    xai_net_set_mean_image(net, 1, 4, 4, mean);
    xai_net_fill_random(net, 11);
    return net;
}

static size_t find_bytes(const unsigned char *hay, size_t n, const void *needle, size_t k)
{
    size_t i;
    for (i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return i;
    return (size_t)-1;
}

/* Version 2's CRC-32 per section: each flipped byte an error naming its section; version 1 still
   loads, with a note; a non-finite weight, bias or mean value is an error naming where it is. */
static void test_checksums(void)
{
    xai_net *net = checksum_net(), *back;
    size_t len, at, data;
    unsigned char *file = xai_net_save_memory(net, &len), *copy;
    float alpha = 0.000123f;
    const char *path = test_tmp("xai_test_sums.xai");
    CHECK(file != NULL, "save: %s", xai_failure_reason());
    if (!file) { xai_net_free(net); return; }
    copy = (unsigned char *)malloc(len);
    data = rd32(file + 24);
    CHECK(rd32(file + 8) == 2, "written as version 2 (%u)", rd32(file + 8));
    back = xai_net_load_memory(file, len, "good.xai");
    CHECK(back && back->file_version == 2 && xai_net_load_note(back) == NULL, "version 2 loads without a note: %s",
          back ? "" : xai_failure_reason());
    xai_net_free(back);

    /* a label's letter: "two" -> "twp" parses as well as before */
    memcpy(copy, file, len);
    at = find_bytes(copy, data, "two", 3);
    CHECK(at != (size_t)-1, "found the label");
    if (at != (size_t)-1) { copy[at + 2] ^= 1; expect_load_error(copy, len, "the metadata (bytes 64 to", "a flipped byte in a label"); }
    /* LRN's alpha, one bit of its mantissa */
    memcpy(copy, file, len);
    at = find_bytes(copy, data, &alpha, 4);
    CHECK(at != (size_t)-1, "found LRN's alpha");
    if (at != (size_t)-1) { copy[at] ^= 1; expect_load_error(copy, len, "fails its CRC-32", "a flipped bit in LRN's alpha"); }
    /* a weight, the mean image, the header's own sum */
    memcpy(copy, file, len);
    copy[data + 4 * 5 + 1] ^= 0x10;
    expect_load_error(copy, len, "the weights (bytes", "a flipped byte in a weight");
    memcpy(copy, file, len);
    copy[data + net->nparams * 4 + 4 * 3] ^= 0x01;
    expect_load_error(copy, len, "the mean image", "a flipped byte in the mean");
    memcpy(copy, file, len);
    copy[len - 1] ^= 0x01;   /* the mean's zero padding */
    expect_load_error(copy, len, "the mean image", "a flipped byte in the padding after the mean");
    memcpy(copy, file, len);
    copy[61] ^= 0x01;
    expect_load_error(copy, len, "offset 60: the header", "a flipped byte in the header's CRC");
    memcpy(copy, file, len);
    copy[49] ^= 0x01;
    expect_load_error(copy, len, "offset 60: the header", "a flipped byte in the metadata's CRC (the header covers it)");

    /* version 1: 48..63 zero and no channel scale (the 12 bytes after the resize fields) */
    memcpy(copy, file, len);
    wr32(copy + 8, 1);
    memset(copy + 48, 0, 16);
    at = skip_str(copy, skip_str(copy, 64)) + 12 + 4 + 4 + 4 + 12 + 12 + 8 + 8;
    memmove(copy + at, copy + at + 12, data - at - 12);
    memset(copy + data - 12, 0, 12);
    back = xai_net_load_memory(copy, len, "old.xai");
    CHECK(back != NULL, "version 1 still loads: %s", back ? "" : xai_failure_reason());
    if (back) {
        const char *note = xai_net_load_note(back);
        CHECK(back->file_version == 1 && note && strstr(note, "no checksums"), "version 1 has a note: %s", note ? note : "(none)");
        CHECK(back->nparams == net->nparams && memcmp(back->params, net->params, net->nparams * 4) == 0, "version 1: the same weights");
        xai_net_free(back);
    }
    free(copy);
    free(file);

    /* non-finite values written by a program (their sums agree): refused at load, named */
    {
        struct { int layer, bias; size_t index; float value; const char *needle; } bad[] = {
            {0, 0, 3, NAN, "layer 0 'conv': weights element 3 of 18 is NaN"},
            {2, 1, 1, INFINITY, "layer 2 'fc': bias element 1 of 3 is infinite"},
            {-1, 0, 5, NAN, "mean image element 5 of 16 is NaN"},
        };
        int k;
        for (k = 0; k < 3; k++) {
            float *slot = bad[k].layer < 0 ? &net->pre.mean_image[bad[k].index]
                        : bad[k].bias ? &net->layer[bad[k].layer].bias[bad[k].index] : &net->layer[bad[k].layer].weight[bad[k].index];
            float keep = *slot;
            *slot = bad[k].value;
            file = xai_net_save_memory(net, &len);
            CHECK(file != NULL, "save with a non-finite value");
            if (file) expect_load_error(file, len, bad[k].needle, bad[k].needle);
            free(file);
            CHECK(xai_net_save(net, path) == XAI_OK, "save to a file: %s", xai_failure_reason());
            back = xai_net_load(path);
            CHECK(!back && strstr(xai_failure_reason(), bad[k].needle) && strstr(xai_failure_reason(), path), "from a file: %s",
                  back ? "(loaded)" : xai_failure_reason());
            xai_net_free(back);
            *slot = keep;
        }
        remove(path);
    }
    xai_net_free(net);
}

/* The per-channel scale (version 2): input = (pixel - mean) * scale * channel_scale[c], kept by the
   file; a version 1 file reads as 1, 1, 1; a zero factor is refused. */
static void test_channel_scale(void)
{
    xai_net *net = xai_net_new("chs"), *back;
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    const float mean[3] = {10, 20, 30}, cs[3] = {0.5f, 2.0f, 4.0f};
    xai_image img;
    float pix[2 * 2 * 3], x[12], want;
    unsigned char *file;
    size_t len, at;
    int i, c, ok = 1;
    fc.num_output = 2;
    xai_net_input(net, "data", 3, 2, 2);
    xai_net_add(net, "fc", &fc, "data", "fc");
    xai_net_finalize(net);
    xai_net_fill_random(net, 3);
    net->pre.channel_order = XAI_ORDER_RGB;
    net->pre.scale = 0.25f;
    xai_net_set_mean_pixel(net, mean);
    for (c = 0; c < 3; c++) net->pre.channel_scale[c] = cs[c];
    for (i = 0; i < 12; i++) pix[i] = (float)(i * 17 % 256);
    img.w = img.h = 2; img.c = 3; img.data = pix;
    CHECK(xai_net_preprocess(net, &img, x, NULL) == XAI_OK, "preprocess: %s", xai_failure_reason());
    for (c = 0; c < 3; c++)
        for (i = 0; i < 4; i++) {
            want = (pix[i * 3 + c] - mean[c]) * 0.25f * cs[c];
            if (x[c * 4 + i] != want) ok = 0;
        }
    CHECK(ok, "input = (pixel - mean) * scale * channel scale, per channel");
    file = xai_net_save_memory(net, &len);
    back = file ? xai_net_load_memory(file, len, "chs.xai") : NULL;
    CHECK(back && back->pre.channel_scale[0] == 0.5f && back->pre.channel_scale[1] == 2.0f && back->pre.channel_scale[2] == 4.0f,
          "the channel scale survives the file: %s", back ? "" : xai_failure_reason());
    xai_net_free(back);
    if (file) {
        unsigned char *copy = (unsigned char *)malloc(len);
        float two = 2.0f, zero = 0.0f;
        at = find_bytes(file + 64, rd32(file + 24) - 64, &two, 4);
        if (at != (size_t)-1) at += 64;
        CHECK(at != (size_t)-1, "found the channel scale 2 in the metadata");
        memcpy(copy, file, len);
        if (at != (size_t)-1) {
            memcpy(copy + at, &zero, 4);
            expect_load_error(copy, len, "channel scale 1 is 0", "a zero channel scale");
        }
        free(copy);
        free(file);
    }
    xai_net_free(net);
}

static void test_caffenet(void)
{
    xai_net *net = xai_net_caffenet(), *back;
    xai_tape *t1, *t4;
    float *x, *scores4;
    size_t in = 3 * 227 * 227, i;
    int k, same = 1, finite = 1;
    const char *path = test_tmp("xai_test_caffenet.xai");
    CHECK(net != NULL, "CaffeNet builds: %s", xai_failure_reason());
    if (!net) return;
    /* the reference CaffeNet: 61 M parameters, 58.6 M of them in fc6-fc8; blob sizes 55, 27, 13, 6 */
    {
        size_t total = 0, fc = 0;
        for (k = 0; k < net->nlayer; k++) {
            total += net->layer[k].weight_count + net->layer[k].bias_count;
            if (net->layer[k].p.type == XAI_INNER_PRODUCT) fc += net->layer[k].weight_count + net->layer[k].bias_count;
        }
        CHECK(total == 60965224, "CaffeNet parameters: %zu", total);
        CHECK(fc == 58631144, "fc6-fc8 parameters: %zu", fc);
        CHECK(net->blob[xai_net_find_blob(net, "conv1")].h == 55 && net->blob[xai_net_find_blob(net, "pool1")].h == 27 &&
              net->blob[xai_net_find_blob(net, "pool2")].h == 13 && net->blob[xai_net_find_blob(net, "pool5")].h == 6, "blob sizes 55 27 13 6");
        CHECK(xai_net_num_classes(net) == 1000, "1000 classes");
    }
    xai_net_fill_random(net, 1);
    CHECK(xai_net_save(net, path) == XAI_OK, "save CaffeNet: %s", xai_failure_reason());
    back = xai_net_load(path);
    CHECK(back != NULL, "load CaffeNet: %s", xai_failure_reason());
    remove(path);
    if (!back) { xai_net_free(net); return; }
    x = (float *)malloc(4 * in * sizeof(float));
    for (i = 0; i < 4 * in; i++) x[i] = (float)((int)((i * 2654435761u) >> 24) - 128);
    t4 = xai_tape_new(back, 4);
    t1 = xai_tape_new(back, 1);
    CHECK(xai_net_forward(back, t4, x, 4) == XAI_OK, "forward batch 4: %s", xai_failure_reason());
    scores4 = (float *)malloc(4000 * sizeof(float));
    for (k = 0; k < 4; k++) memcpy(scores4 + k * 1000, xai_tape_scores(t4, k), 1000 * sizeof(float));
    for (i = 0; i < 4000; i++) if (!(fabsf(scores4[i]) < 1e30f)) finite = 0;
    CHECK(finite, "1000 finite scores");
    for (k = 0; k < 4; k++) {
        xai_net_forward(back, t1, x + k * in, 1);
        if (memcmp(xai_tape_scores(t1, 0), scores4 + k * 1000, 1000 * sizeof(float)) != 0) same = 0;
    }
    CHECK(same, "a batch of 4 gives exactly the scores of 4 single runs");
    {
        const float *p = xai_tape_blob(t1, "prob")->data;
        double s = 0;
        for (i = 0; i < 1000; i++) s += p[i];
        CHECK(fabs(s - 1) < 1e-4, "softmax sums to 1: %g", s);
    }
    xai_tape_free(t1);
    xai_tape_free(t4);
    free(x);
    free(scores4);
    xai_net_free(back);
    xai_net_free(net);
}

int main(void)
{
    test_model_file();
    test_checksums();
    test_channel_scale();
    test_caffenet();
    return test_report();
}
