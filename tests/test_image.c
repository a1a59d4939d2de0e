/* Image readers and writers, resizing, cropping, preprocessing; every reader on malformed input. */
#include "../xai.h"
#include "test.h"

static int load_str(const char *s, size_t len, xai_image *img) { return xai_image_load_memory(s, len, "mem", img); }

static void expect_error(const char *data, size_t len, const char *needle, const char *what)
{
    xai_image img;
    int rc = load_str(data, len, &img);
    CHECK(rc != XAI_OK && strstr(xai_failure_reason(), needle), "%s: rc %d, reason '%s' (wanted '%s')", what, rc, xai_failure_reason(), needle);
    CHECK(img.data == NULL, "%s: no image left behind", what);
    if (rc == XAI_OK) xai_image_free(&img);
}

static void test_pnm_read(void)
{
    xai_image img;
    /* P3 with comments, maxval 255 */
    const char *p3 = "P3\n# a comment\n2 1 # trailing\n255\n255 0 10  0 128 255\n";
    CHECK(load_str(p3, strlen(p3), &img) == XAI_OK, "P3: %s", xai_failure_reason());
    CHECK(img.w == 2 && img.h == 1 && img.c == 3 && img.data[2] == 10 && img.data[4] == 128, "P3 values");
    xai_image_free(&img);
    /* P2 with maxval 15: scaled to 0..255 */
    {
        const char *p2 = "P2 2 2 15 0 15 5 10";
        CHECK(load_str(p2, strlen(p2), &img) == XAI_OK, "P2: %s", xai_failure_reason());
        CHECK(img.c == 1 && img.data[1] == 255 && fabsf(img.data[2] - 85) < 1e-4f, "P2 maxval 15 scaled: %g %g", img.data[1], img.data[2]);
        xai_image_free(&img);
    }
    /* P5 16 bit, big-endian: 65535 -> 255, 257 -> 1 */
    {
        unsigned char p5[] = {'P', '5', '\n', '2', ' ', '1', '\n', '6', '5', '5', '3', '5', '\n', 0xff, 0xff, 0x01, 0x01};
        CHECK(xai_image_load_memory(p5, sizeof p5, "p5", &img) == XAI_OK, "P5 16-bit: %s", xai_failure_reason());
        CHECK(img.data[0] == 255 && fabsf(img.data[1] - 1) < 1e-5f, "P5 16-bit values %g %g", img.data[0], img.data[1]);
        xai_image_free(&img);
    }
    /* P6 binary: a raster byte may look like whitespace or '#' */
    {
        unsigned char p6[] = {'P', '6', ' ', '1', ' ', '1', ' ', '2', '5', '5', '\n', '#', ' ', '\n'};
        CHECK(xai_image_load_memory(p6, sizeof p6, "p6", &img) == XAI_OK, "P6: %s", xai_failure_reason());
        CHECK(img.data[0] == '#' && img.data[1] == ' ' && img.data[2] == '\n', "P6 raster bytes are data");
        xai_image_free(&img);
    }
}

static void test_malformed(void)
{
    char big[64];
    expect_error("", 0, "no 'P' magic", "empty file");
    expect_error("P", 1, "no 'P' magic", "just P");
    expect_error("P7 1 1 255\n", 11, "not supported", "P7");
    expect_error("P6\n", 3, "truncated", "header cut after magic");
    expect_error("P6 2", 4, "truncated", "header cut in the size");
    expect_error("P6 2 x 255\n", 11, "height expected", "letter in the header");
    expect_error("P6 0 5 255\n", 11, "empty", "zero width");
    expect_error("P6 2 2 0\n", 9, "maxval 0", "maxval 0");
    expect_error("P6 2 2 70000\n", 13, "larger than 65535", "maxval 70000");
    expect_error("P6 99999999 99999999 255\n", 25, "larger than", "absurd size");
    snprintf(big, sizeof big, "P6 16777216 16777216 255\n");
    expect_error(big, strlen(big), "pixels", "2^24 x 2^24 overflow");
    expect_error("P6 100 100 255\nabc", 18, "truncated", "truncated raster");
    expect_error("P5 2 1 65535\n\x01\x02\x03", 16, "truncated", "truncated 16-bit raster");
    expect_error("P3 1 1 255\n1 2", 14, "truncated", "P3 truncated values");
    expect_error("P2 2 1 10\n5 11", 14, "exceeds maxval", "P2 value over maxval");
    expect_error("P2 2 2 10\n5 5 5", 15, "missing", "P2 one value missing");
    expect_error("P2 2 1 10\n5 -1", 14, "expected", "P2 negative value");
    expect_error("Pf\n1 1\nabc\n0000", 15, "scale", "PFM bad scale");
    expect_error("Pf\n1 1\n0\n0000", 13, "scale", "PFM zero scale");
    expect_error("PF\n2 2\n-1.0\n00000000", 20, "truncated", "PFM truncated");
    {
        unsigned char nan[] = {'P', 'f', '\n', '1', ' ', '1', '\n', '-', '1', '\n', 0, 0, 0xc0, 0x7f};
        xai_image img;
        int rc = xai_image_load_memory(nan, sizeof nan, "nan", &img);
        CHECK(rc != XAI_OK && strstr(xai_failure_reason(), "finite"), "PFM NaN refused: %s", xai_failure_reason());
    }
    {
        xai_image img;
        int rc = xai_image_load("/nonexistent/x.ppm", &img);
        CHECK(rc == XAI_ERR_IO && strstr(xai_failure_reason(), "/nonexistent/x.ppm"), "missing file names the path: %s", xai_failure_reason());
    }
}

static void test_roundtrip(void)
{
    xai_image a, b;
    int i;
    const char *pnm = test_tmp("xai_test_rt.ppm"), *pfm = test_tmp("xai_test_rt.pfm");
    xai_image_alloc(&a, 5, 3, 3);
    for (i = 0; i < 45; i++) a.data[i] = (float)((i * 37) % 256);
    CHECK(xai_image_write_pnm(pnm, &a) == XAI_OK, "write PPM: %s", xai_failure_reason());
    CHECK(xai_image_load(pnm, &b) == XAI_OK, "read PPM back: %s", xai_failure_reason());
    CHECK(b.w == 5 && b.h == 3 && b.c == 3 && memcmp(a.data, b.data, 45 * sizeof(float)) == 0, "PPM round trip");
    xai_image_free(&b);
    for (i = 0; i < 45; i++) a.data[i] = (float)(i - 20) * 0.37f + 1e-7f * i;
    CHECK(xai_image_write_pfm(pfm, &a) == XAI_OK, "write PFM: %s", xai_failure_reason());
    CHECK(xai_image_load(pfm, &b) == XAI_OK, "read PFM back: %s", xai_failure_reason());
    CHECK(b.w == 5 && b.h == 3 && memcmp(a.data, b.data, 45 * sizeof(float)) == 0, "PFM round trip is exact");
    xai_image_free(&b);
    /* PFM stores the bottom row first, little-endian with a negative scale */
    {
        size_t len;
        unsigned char *raw = test_read(pfm, &len);
        float first;
        CHECK(raw && len == 12 + 45 * 4 && memcmp(raw, "PF\n5 3\n-1.0\n", 12) == 0, "PFM header");
        if (raw) {
            memcpy(&first, raw + 12, 4);
            CHECK(first == a.data[2 * 15], "PFM's first row is the image's last");
            free(raw);
        }
    }
    /* big-endian PFM (positive scale) reads too */
    {
        unsigned char be[] = {'P', 'f', '\n', '1', ' ', '1', '\n', '1', '\n', 0x3f, 0xc0, 0, 0};
        CHECK(xai_image_load_memory(be, sizeof be, "be", &b) == XAI_OK && b.data[0] == 1.5f, "big-endian PFM");
        xai_image_free(&b);
    }
    xai_image_free(&a);
    remove(pnm);
    remove(pfm);
}

static void test_resize_crop(void)
{
    xai_image a, b;
    int i;
    xai_image_alloc(&a, 4, 4, 1);
    for (i = 0; i < 16; i++) a.data[i] = 7;
    CHECK(xai_image_resize(&a, 9, 5, &b) == XAI_OK, "resize");
    for (i = 0; i < 45; i++) if (b.data[i] != 7) break;
    CHECK(i == 45, "a constant image stays constant");
    xai_image_free(&b);
    /* a ramp 0, 10, 20, 30 doubled: centres at -0.25, 0.25, 0.75, ... -> 0, 2.5, 7.5, 12.5, ... 30 */
    for (i = 0; i < 16; i++) a.data[i] = (float)(10 * (i % 4));
    xai_image_resize(&a, 8, 4, &b);
    CHECK(b.data[0] == 0 && fabsf(b.data[1] - 2.5f) < 1e-5f && fabsf(b.data[2] - 7.5f) < 1e-5f && b.data[7] == 30, "bilinear ramp: %g %g %g %g",
          b.data[0], b.data[1], b.data[2], b.data[7]);
    xai_image_free(&b);
    CHECK(xai_image_crop(&a, 1, 2, 2, 2, &b) == XAI_OK && b.data[0] == 10 && b.data[3] == 20, "crop");
    xai_image_free(&b);
    CHECK(xai_image_crop(&a, 3, 3, 2, 2, &b) != XAI_OK, "crop outside refused");
    xai_image_free(&a);
}

static void test_preprocess(void)
{
    /* Caffe's path: 256x256 picture, mean image 256x256, crop 227 at (14, 14), RGB -> BGR */
    xai_net *net = xai_net_caffenet();
    xai_image img, shown;
    float *x = (float *)malloc(xai_net_input_size(net) * sizeof(float)), *mean;
    int c, ok = 1;
    size_t i, plane = 227 * 227;
    xai_image_alloc(&img, 256, 256, 3);
    for (i = 0; i < 256 * 256; i++) { img.data[3 * i] = 200; img.data[3 * i + 1] = 100; img.data[3 * i + 2] = (float)(i % 256); }
    CHECK(xai_net_preprocess(net, &img, x, &shown) == XAI_OK, "preprocess: %s", xai_failure_reason());
    /* channel 0 is blue (the picture's third channel, = column), minus 104.007 */
    CHECK(fabsf(x[0] - (14 - 104.007f)) < 1e-3f, "B at (0,0) = column 14 - mean: %g", x[0]);
    CHECK(fabsf(x[plane] - (100 - 116.669f)) < 1e-3f, "G - mean: %g", x[plane]);
    CHECK(fabsf(x[2 * plane + 5] - (200 - 122.679f)) < 1e-3f, "R - mean: %g", x[2 * plane + 5]);
    CHECK(shown.w == 227 && shown.h == 227 && shown.data[2] == 14, "shown picture is the RGB crop");
    xai_image_free(&shown);
    /* a mean image, cropped like the picture */
    mean = (float *)malloc(3 * 256 * 256 * sizeof(float));
    for (c = 0; c < 3; c++) for (i = 0; i < 256 * 256; i++) mean[c * 256 * 256 + i] = (float)(i / 256);   /* = row */
    CHECK(xai_net_set_mean_image(net, 3, 256, 256, mean) == XAI_OK, "set mean image");
    xai_net_preprocess(net, &img, x, NULL);
    for (c = 0; c < 3 && ok; c++)
        for (i = 0; i < 227; i++) {
            float pix = c == 0 ? (float)(14 + i) : c == 1 ? 100 : 200;   /* first row: y = 0 -> mean row 14 */
            if (fabsf(x[c * plane + i] - (pix - 14)) > 1e-4f) { ok = 0; break; }
        }
    CHECK(ok, "mean image cropped at (14,14)");
    free(mean);
    xai_image_free(&img);
    /* a gray picture of another size is resized to 256 first and replicated to three channels */
    xai_image_alloc(&img, 100, 50, 1);
    for (i = 0; i < 5000; i++) img.data[i] = 50;
    net->pre.mean_kind = XAI_MEAN_NONE;
    free(net->input_mean); net->input_mean = NULL;
    CHECK(xai_net_preprocess(net, &img, x, NULL) == XAI_OK && x[0] == 50 && x[2 * plane + 1000] == 50, "gray to BGR");
    xai_image_free(&img);
    free(x);
    xai_net_free(net);
}

int main(void)
{
    test_pnm_read();
    test_malformed();
    test_roundtrip();
    test_resize_crop();
    test_preprocess();
    return test_report();
}
