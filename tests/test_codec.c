/* test_codec.c -- tests of xai.h's image encoders (CRC-32, Adler-32,
   zlib/DEFLATE, PNG, JPEG) and of xai_image_entropy.

   Encoded files are decoded by the independent decoders in decoders.h.
   Prints "FAIL name: detail" for each failed check, then "N passed, M failed";
   exits non-zero if anything failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#define XAI_IMPLEMENTATION
#include "../xai.h"

#include "decoders.h"

static int passed, failed;

#define CHECK(cond, name, ...)                                                                                         \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s: ", name);                                                                                 \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

/* ------------------------------------------------------------ test images */

static unsigned long rng_state = 2463534242UL;

static unsigned rnd(void) /* xorshift32 */
{
    unsigned long x = rng_state;
    x ^= (x << 13) & 0xffffffffUL;
    x ^= x >> 17;
    x ^= (x << 5) & 0xffffffffUL;
    rng_state = x;
    return (unsigned)(x & 0xffffffffUL);
}

enum { IMG_RANDOM, IMG_GRADIENT, IMG_CONSTANT, IMG_NATURAL, IMG_SMOOTH, IMG_KINDS };
static const char *kind_name[IMG_KINDS] = {"random", "gradient", "constant", "natural", "smooth"};

static int clamp255(double v)
{
    int i = (int)floor(v + 0.5);
    return i < 0 ? 0 : i > 255 ? 255 : i;
}

/* natural: smooth shading, hard-edged shapes and a little sensor noise;
   smooth: the same without noise and edges (for JPEG error bounds). */
static unsigned char *make_image(int kind, int w, int h, int comp)
{
    unsigned char *p = (unsigned char *)malloc((size_t)w * h * comp);
    int x, y, c;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (c = 0; c < comp; c++) {
                double v;
                switch (kind) {
                case IMG_RANDOM: v = rnd() & 255; break;
                case IMG_GRADIENT: v = (x * 255.0 / (w > 1 ? w - 1 : 1)) * (c % 2 ? 0.5 : 1) + y * 0.7 * c; break;
                case IMG_CONSTANT: v = 37 + 50 * c; break;
                case IMG_SMOOTH:
                    v = 128 + 90 * sin(x / (9.0 + 3 * c)) * cos(y / 11.0) + 20 * sin((x + y) / 31.0);
                    break;
                default: { /* natural */
                    double dx = x - w * 0.4, dy = y - h * 0.55;
                    v = 110 + 60 * sin(x / 23.0 + c) * cos(y / 17.0) + 0.2 * y;
                    if (dx * dx + dy * dy < (h * 0.25) * (h * 0.25)) v = 200 - 40 * c + 0.3 * dx; /* a disc */
                    if (x > w * 0.7 && y < h * 0.3) v = 30 + 25 * c;                            /* a block */
                    if (c == 3) v = 255 - (x * 3 + y) % 64;                                       /* alpha */
                    v += (int)(rnd() % 5) - 2;
                }
                }
                p[((size_t)y * w + x) * comp + c] = (unsigned char)clamp255(v);
            }
    return p;
}

/* mean absolute error of channel c */
static double mae(const unsigned char *a, const unsigned char *b, int w, int h, int comp, int c)
{
    double s = 0;
    size_t i, n = (size_t)w * h;
    for (i = 0; i < n; i++) s += abs(a[i * comp + c] - b[i * comp + c]);
    return s / n;
}

/* --------------------------------------------------------------- checksums */

static void test_checksums(void)
{
    const unsigned char *s = (const unsigned char *)"123456789";
    unsigned char *big;
    unsigned long crc, a;
    size_t i, n = 3000000;

    crc = xai__crc32(0, s, 9);
    CHECK(crc == 0xCBF43926UL, "crc32 check value", "crc32(\"123456789\") = %08lx", crc);
    crc = xai__crc32(xai__crc32(0, s, 4), s + 4, 5);
    CHECK(crc == 0xCBF43926UL, "crc32 continued", "crc32 in two parts = %08lx", crc);
    CHECK(xai__crc32(0, s, 0) == 0, "crc32 empty", "%08lx", xai__crc32(0, s, 0));
    a = xai__adler32(1, (const unsigned char *)"Wikipedia", 9);
    CHECK(a == 0x11E60398UL, "adler32 check value", "adler32(\"Wikipedia\") = %08lx", a);
    big = (unsigned char *)malloc(n); /* long runs of 0xff stress the 5552-byte reduction */
    for (i = 0; i < n; i++) big[i] = i % 7 ? 0xff : (unsigned char)i;
    a = xai__adler32(1, big, n);
    CHECK(a == tdec_adler(big, n), "adler32 long input", "%08lx vs %08lx", a, tdec_adler(big, n));
    a = xai__adler32(xai__adler32(1, big, 10001), big + 10001, n - 10001);
    CHECK(a == tdec_adler(big, n), "adler32 continued", "%08lx", a);
    CHECK(tdec_crc(big, n) == xai__crc32(0, big, n), "crc32 vs bitwise crc", "long input differs");
    free(big);
}

/* ------------------------------------------------------------ deflate/zlib */

/* Compress, inflate with the test decoder, compare.  Returns the
   compressed size, or 0 on failure (already reported). */
static size_t zlib_roundtrip(const char *name, const unsigned char *data, size_t n)
{
    size_t zlen = 0, olen = 0;
    unsigned char *z = xai__zlib_compress(data, n, 3, &zlen), *o;
    CHECK(z != NULL, name, "compress failed: %s", xai_failure_reason());
    if (!z) return 0;
    o = tdec_inflate(z, zlen, &olen);
    CHECK(o != NULL, name, "inflate refused the stream: %s", tdec_error);
    if (o) CHECK(olen == n && (n == 0 || memcmp(o, data, n) == 0), name, "round trip differs (%lu vs %lu bytes)",
                 (unsigned long)olen, (unsigned long)n);
    free(o);
    free(z);
    return o ? zlen : 0;
}

static void test_zlib(void)
{
    size_t n = 400000, i, zlen;
    unsigned char *d = (unsigned char *)malloc(n), *z, *o;
    char name[80];
    unsigned char one = 'x';
    int k;

    zlen = zlib_roundtrip("zlib empty", &one, 0);
    CHECK(zlen > 0 && zlen <= 8, "zlib empty size", "%lu bytes", (unsigned long)zlen);
    zlib_roundtrip("zlib one byte", &one, 1);
    zlib_roundtrip("zlib short text", (const unsigned char *)"abcabcabcabcabcX", 16);

    memset(d, 0, n); /* long runs: many 258-byte matches at distance 1 */
    zlen = zlib_roundtrip("zlib zeros", d, n);
    CHECK(zlen > 0 && zlen < 1000, "zlib zeros size", "400000 zeros -> %lu bytes", (unsigned long)zlen);

    for (i = 0; i < n; i++) d[i] = (unsigned char)rnd(); /* incompressible: stored blocks */
    zlen = zlib_roundtrip("zlib random", d, n);
    CHECK(zlen > 0 && zlen <= n + n / 1000 + 16, "zlib random size", "%lu bytes for %lu",
          (unsigned long)zlen, (unsigned long)n);
    CHECK(tdec_block_types[0] > 0, "zlib random stored", "no stored blocks (types %d/%d/%d)", tdec_block_types[0],
          tdec_block_types[1], tdec_block_types[2]);

    /* skewed byte distribution: dynamic Huffman pays (zlib -6 and -9 give
       0.684 n on such data; the source entropy is about 0.61 n) */
    for (i = 0; i < n; i++) {
        unsigned r = rnd();
        d[i] = (unsigned char)((r & 255) < 200 ? r >> 29 : (r >> 8) & 255);
    }
    zlen = zlib_roundtrip("zlib skewed", d, n);
    CHECK(zlen > 0 && zlen < n * 7 / 10, "zlib skewed size", "%lu bytes for %lu", (unsigned long)zlen,
          (unsigned long)n);
    CHECK(tdec_block_types[2] > 0, "zlib skewed dynamic", "no dynamic blocks");

    /* a random block repeated at distance exactly 32768 (the window) and
       at 32769 (just out of it) */
    for (i = 0; i < 32768; i++) d[i] = (unsigned char)rnd();
    for (i = 32768; i < 4 * 32768; i++) d[i] = d[i - 32768];
    zlen = zlib_roundtrip("zlib distance 32768", d, 4 * 32768);
    CHECK(zlen > 0 && zlen < 40000, "zlib distance 32768 used", "%lu bytes", (unsigned long)zlen);
    for (i = 0; i < 32769; i++) d[i] = (unsigned char)rnd();
    for (i = 32769; i < 4 * 32769; i++) d[i] = d[i - 32769];
    zlen = zlib_roundtrip("zlib distance 32769", d, 4 * 32769);
    CHECK(zlen > 4 * 32769 - 100, "zlib no match beyond window", "%lu bytes: matched beyond 32768?",
          (unsigned long)zlen);

    /* text-like data with many short and medium matches (lazy matching) */
    {
        static const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
                                      "explain ", "saliency ", "gradient ", "caffe ", "layer ", "pixel "};
        size_t at = 0;
        while (at < 200000) {
            const char *wd = words[rnd() % 14];
            size_t l = strlen(wd);
            memcpy(d + at, wd, l);
            at += l;
        }
        zlen = zlib_roundtrip("zlib words", d, at);
        CHECK(zlen > 0 && zlen < at / 3, "zlib words size", "%lu bytes for %lu", (unsigned long)zlen,
              (unsigned long)at);
        /* min_match 6 (zlib's Z_FILTERED, used for PNG) must stay valid */
        z = xai__zlib_compress(d, at, 6, &zlen);
        o = z ? tdec_inflate(z, zlen, &i) : NULL;
        CHECK(o && i == at && memcmp(o, d, at) == 0, "zlib min_match 6 round trip", "%s", o ? "differs" : tdec_error);
        free(o);
        free(z);
    }

    /* every byte value in short inputs, which go out as fixed-code blocks
       (literals 144-255 have 9-bit codes) */
    {
        int fixed = 0;
        for (k = 0; k < 256; k++) {
            d[0] = (unsigned char)k;
            d[1] = (unsigned char)(255 - k);
            d[2] = (unsigned char)(k * 7);
            sprintf(name, "zlib short bytes %d", k);
            zlib_roundtrip(name, d, 3);
            fixed += tdec_block_types[1];
        }
        CHECK(fixed == 256, "zlib short inputs use fixed blocks", "%d of 256", fixed);
    }

    /* many random small inputs over a small alphabet */
    for (k = 0; k < 300; k++) {
        size_t len = rnd() % 3000, alpha = 1 + rnd() % 6;
        for (i = 0; i < len; i++) d[i] = (unsigned char)('a' + rnd() % alpha);
        sprintf(name, "zlib small #%d", k);
        zlib_roundtrip(name, d, len);
    }

    /* corrupted streams must be refused */
    for (i = 0; i < n; i++) d[i] = (unsigned char)(i / 1000 + (rnd() % 3));
    z = xai__zlib_compress(d, n, 3, &zlen);
    CHECK(z != NULL && zlen > 100, "zlib corruption setup", "compress failed");
    if (z) {
        size_t olen;
        int refused = 0, tries = 0;
        o = tdec_inflate(z, zlen, &olen); /* sets tdec_block_types */
        free(o);
        CHECK(tdec_block_types[0] == 0, "zlib corruption setup", "stored blocks: padding bits would be ignored");
        /* Single bit flips inside the compressed data.  Almost all must be
           refused.  One can slip through only by a true Adler-32 collision:
           on low-entropy data a flipped distance bit can copy e.g. 61,63,62
           instead of 62,61,63, which keeps both Adler sums (zlib accepts
           that too).  So an accepted stream must at least carry the same
           checksum as the original, proving the check itself ran. */
        for (k = 0; k < 64; k++) {
            size_t at = 2 + 1 + (size_t)k * (zlen - 10) / 64;
            z[at] ^= (unsigned char)(1 << (k & 7));
            o = tdec_inflate(z, zlen, &olen);
            tries++;
            if (!o) refused++;
            else CHECK(tdec_adler(o, olen) == tdec_adler(d, n), "inflate accepts only adler32 collisions",
                       "flip at byte %lu accepted with a different checksum", (unsigned long)at);
            free(o);
            z[at] ^= (unsigned char)(1 << (k & 7));
        }
        CHECK(refused >= tries - 4, "inflate refuses bit flips", "%d of %d corrupted streams accepted",
              tries - refused, tries);
        o = tdec_inflate(z, zlen - 5, &olen);
        CHECK(o == NULL, "inflate refuses truncation", "truncated stream accepted");
        free(o);
        z[zlen - 1] ^= 1;
        o = tdec_inflate(z, zlen, &olen);
        CHECK(o == NULL && strstr(tdec_error, "Adler") != NULL, "inflate checks adler32", "bad checksum: %s",
              o ? "accepted" : tdec_error);
        free(o);
        z[zlen - 1] ^= 1;
        z[1] ^= 1;
        o = tdec_inflate(z, zlen, &olen);
        CHECK(o == NULL, "inflate checks zlib header", "bad FCHECK accepted");
        free(o);
        z[1] ^= 1;
        o = tdec_inflate(z, zlen, &olen);
        CHECK(o != NULL && olen == n && memcmp(o, d, n) == 0, "zlib corruption restored", "original fails: %s",
              tdec_error);
        free(o);
        free(z);
    }
    free(d);
}

/* Code-length builder: complete, limited, and optimal when the limit does
   not bind (compared with a plain Huffman construction). */
static unsigned long ref_huffman_cost(const unsigned long *freq, int n)
{
    unsigned long w[300], cost = 0;
    int m = 0, i;
    for (i = 0; i < n; i++)
        if (freq[i]) w[m++] = freq[i];
    while (m > 1) { /* merge the two smallest; cost = sum of merged weights */
        int a = 0, b = 1, j;
        if (w[b] < w[a]) a = 1, b = 0;
        for (j = 2; j < m; j++) {
            if (w[j] < w[a]) b = a, a = j;
            else if (w[j] < w[b]) b = j;
        }
        w[a] += w[b];
        cost += w[a];
        w[b] = w[--m];
    }
    return cost;
}

static void check_lengths(const char *name, const unsigned long *freq, int n, int maxbits, int expect_optimal)
{
    unsigned char lens[300];
    unsigned long kraft = 0, cost = 0, ref = ref_huffman_cost(freq, n);
    int i, maxlen = 0, zero_freq_coded = 0, used = 0;
    xai__zl_huff_lengths(freq, n, maxbits, lens);
    for (i = 0; i < n; i++) {
        if (lens[i] > maxlen) maxlen = lens[i];
        if (lens[i]) kraft += 1UL << (15 - lens[i]);
        if (lens[i] && !freq[i]) zero_freq_coded++;
        if (freq[i]) used++;
        if (freq[i] && !lens[i]) zero_freq_coded = -1000;
        cost += freq[i] * lens[i];
    }
    CHECK(maxlen <= maxbits, name, "code length %d > limit %d", maxlen, maxbits);
    CHECK(kraft == 1UL << 15, name, "Kraft sum %lu/32768: code not complete", kraft);
    CHECK(zero_freq_coded >= 0 && (used >= 2 ? zero_freq_coded == 0 : 1), name, "codes for unused symbols: %d",
          zero_freq_coded);
    CHECK(cost >= ref, name, "cost %lu below the Huffman optimum %lu?", cost, ref);
    if (expect_optimal) CHECK(cost == ref, name, "cost %lu, optimal %lu", cost, ref);
}

static void test_huffman_lengths(void)
{
    unsigned long f[300];
    int i, k;
    char name[64];
    memset(f, 0, sizeof f); /* Fibonacci weights: unlimited depth would be ~30 */
    f[0] = f[1] = 1;
    for (i = 2; i < 30; i++) f[i] = f[i - 1] + f[i - 2];
    check_lengths("huffman fibonacci limit 15", f, 30, 15, 0);
    check_lengths("huffman fibonacci limit 7", f, 19, 7, 0);
    memset(f, 0, sizeof f);
    f[100] = 5; /* one symbol still gets a 1-bit code, paired with an unused one */
    check_lengths("huffman one symbol", f, 286, 15, 0);
    {
        unsigned char lens[286];
        xai__zl_huff_lengths(f, 286, 15, lens);
        CHECK(lens[100] == 1 && lens[0] == 1, "huffman one symbol", "lengths %d and %d", lens[100], lens[0]);
    }
    memset(f, 0, sizeof f);
    check_lengths("huffman no symbol", f, 30, 15, 1);
    for (k = 0; k < 50; k++) {
        int n = 2 + (int)(rnd() % 285);
        for (i = 0; i < n; i++) f[i] = rnd() % 4 ? 1 + rnd() % 1000 : 0;
        f[0] = f[1] = 1 + rnd() % 100;
        sprintf(name, "huffman random #%d", k);
        check_lengths(name, f, n, 15, 1); /* random weights: the limit never binds */
    }
}

/* -------------------------------------------------------------------- PNG */

static void png_roundtrip(const char *name, const unsigned char *px, int w, int h, int comp, size_t *size)
{
    size_t len = 0;
    int dw = 0, dh = 0, dc = 0;
    unsigned char *png = xai_png_encode(px, w, h, comp, &len), *back;
    if (size) *size = 0;
    CHECK(png != NULL, name, "encode failed: %s", xai_failure_reason());
    if (!png) return;
    back = tdec_png(png, len, &dw, &dh, &dc);
    CHECK(back != NULL, name, "decoder refused the PNG: %s", tdec_error);
    if (back) {
        CHECK(dw == w && dh == h && dc == comp, name, "decoded as %dx%dx%d", dw, dh, dc);
        CHECK(dw == w && dh == h && dc == comp && memcmp(back, px, (size_t)w * h * comp) == 0, name,
              "pixels differ");
    }
    if (size) *size = len;
    free(back);
    free(png);
}

static void test_png(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 37}, {37, 1}, {17, 9}, {33, 31}, {64, 64}, {300, 200}};
    char name[96];
    int s, kind, comp, k;
    size_t len;
    unsigned char *px, *png;

    for (s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++)
        for (kind = 0; kind < IMG_KINDS; kind++)
            for (comp = 1; comp <= 4; comp++) {
                int w = sizes[s][0], h = sizes[s][1];
                px = make_image(kind, w, h, comp);
                sprintf(name, "png %s %dx%dx%d", kind_name[kind], w, h, comp);
                png_roundtrip(name, px, w, h, comp, NULL);
                free(px);
            }
    for (k = 0; k < 150; k++) { /* assorted small sizes */
        int w = 1 + (int)(rnd() % 40), h = 1 + (int)(rnd() % 40);
        comp = 1 + (int)(rnd() % 4);
        kind = (int)(rnd() % IMG_KINDS);
        px = make_image(kind, w, h, comp);
        sprintf(name, "png small #%d %s %dx%dx%d", k, kind_name[kind], w, h, comp);
        png_roundtrip(name, px, w, h, comp, NULL);
        free(px);
    }

    /* compression actually happens */
    px = make_image(IMG_CONSTANT, 256, 256, 3);
    png_roundtrip("png constant 256x256", px, 256, 256, 3, &len);
    CHECK(len > 0 && len < 1024, "png constant 256x256 size", "%lu bytes (raw 196608)", (unsigned long)len);
    free(px);
    px = make_image(IMG_NATURAL, 300, 200, 3);
    png_roundtrip("png natural 300x200", px, 300, 200, 3, &len);
    CHECK(len > 0 && len < 300 * 200 * 3 / 2, "png natural 300x200 size", "%lu bytes (raw 180000)",
          (unsigned long)len);
    /* Noise makes short matches a loss: with zlib's Z_FILTERED strategy
       (as libpng) this image takes ~76.6 KB, with plain matching ~84.8 KB. */
    CHECK(len > 0 && len < 80000, "png natural uses filtered strategy", "%lu bytes (libpng ~77000)",
          (unsigned long)len);
    CHECK(tdec_block_types[2] > 0, "png natural uses dynamic blocks", "block types %d/%d/%d", tdec_block_types[0],
          tdec_block_types[1], tdec_block_types[2]);
    CHECK((tdec_png_filters[0] > 0) + (tdec_png_filters[1] > 0) + (tdec_png_filters[2] > 0) +
                  (tdec_png_filters[3] > 0) + (tdec_png_filters[4] > 0) >=
              3,
          "png natural uses several filters", "filters %d/%d/%d/%d/%d", tdec_png_filters[0], tdec_png_filters[1],
          tdec_png_filters[2], tdec_png_filters[3], tdec_png_filters[4]);
    free(px);
    px = make_image(IMG_SMOOTH, 256, 256, 1);
    png_roundtrip("png smooth 256x256 gray", px, 256, 256, 1, &len);
    CHECK(len > 0 && len < 256 * 256 / 3, "png smooth gray size", "%lu bytes (raw 65536; libpng ~19000)",
          (unsigned long)len);
    free(px);

    /* filter choice by the minimum sum of absolute differences, worked out
       by hand.  Horizontal ramp 0,3,6,...: row 0 Sub (all 3s); later rows
       Up (all 0s; Paeth ties and the lower type wins).  Vertical ramp
       (row y all 5y): row 0 None (all 0s); row 1 Sub (5,0,0,..; ties with
       Paeth); later rows Paeth (5,0,0,.. while Sub gives 5y,0,0,..). */
    {
        int x, y;
        px = (unsigned char *)malloc(40 * 10);
        for (y = 0; y < 10; y++)
            for (x = 0; x < 40; x++) px[y * 40 + x] = (unsigned char)(x * 3);
        png_roundtrip("png filters horizontal ramp", px, 40, 10, 1, NULL);
        CHECK(tdec_png_filters[1] == 1 && tdec_png_filters[2] == 9, "png filter choice: Sub then Up",
              "filters %d/%d/%d/%d/%d", tdec_png_filters[0], tdec_png_filters[1], tdec_png_filters[2],
              tdec_png_filters[3], tdec_png_filters[4]);
        for (y = 0; y < 10; y++)
            for (x = 0; x < 40; x++) px[y * 40 + x] = (unsigned char)(y * 5);
        png_roundtrip("png filters vertical ramp", px, 40, 10, 1, NULL);
        CHECK(tdec_png_filters[0] == 1 && tdec_png_filters[1] == 1 && tdec_png_filters[4] == 8,
              "png filter choice: None, Sub, then Paeth",
              "filters %d/%d/%d/%d/%d", tdec_png_filters[0], tdec_png_filters[1], tdec_png_filters[2],
              tdec_png_filters[3], tdec_png_filters[4]);
        free(px);
    }

    /* incompressible and over 1 MiB: stored blocks, IDAT split in pieces */
    px = make_image(IMG_RANDOM, 640, 600, 3);
    png_roundtrip("png random 640x600", px, 640, 600, 3, &len);
    CHECK(len < 640 * 600 * 3 + 600 + 2000, "png random size bounded", "%lu bytes (raw 1152000)",
          (unsigned long)len);
    CHECK(tdec_png_idat_count >= 2, "png splits IDAT", "%d IDAT chunks for %lu bytes", tdec_png_idat_count,
          (unsigned long)len);
    free(px);

    /* the decoder's CRC check works, so the round trips above checked CRCs */
    px = make_image(IMG_GRADIENT, 20, 20, 3);
    png = xai_png_encode(px, 20, 20, 3, &len);
    if (png) {
        int dw, dh, dc;
        unsigned char *back;
        png[8 + 8 + 3] ^= 0x40; /* a byte of IHDR's width */
        back = tdec_png(png, len, &dw, &dh, &dc);
        CHECK(back == NULL && strstr(tdec_error, "CRC") != NULL, "png corrupted IHDR refused", "%s",
              back ? "accepted" : tdec_error);
        free(back);
        CHECK(memcmp(png + 12, "IHDR", 4) == 0 && png[24] == 8 && png[25] == 2, "png IHDR fields",
              "type/depth/colour wrong");
    }
    free(png);

    /* argument errors */
    len = 99;
    CHECK(xai_png_encode(px, 0, 20, 3, &len) == NULL && len == 0, "png refuses width 0", "accepted");
    CHECK(xai_png_encode(px, 20, -1, 3, &len) == NULL, "png refuses negative height", "accepted");
    CHECK(xai_png_encode(px, 20, 20, 5, &len) == NULL, "png refuses comp 5", "accepted");
    CHECK(xai_png_encode(NULL, 20, 20, 3, &len) == NULL, "png refuses NULL pixels", "accepted");
    CHECK(xai_png_encode(px, 20, 20, 3, NULL) == NULL, "png refuses NULL out_len", "accepted");
    CHECK(xai_png_write("/tmp/never.png", px, 65536, 65536, 1) == XAI_ERR_LIMIT, "png refuses 2^32 pixels",
          "not XAI_ERR_LIMIT");
    CHECK(strlen(xai_failure_reason()) > 0, "png failure reason", "empty reason");
    CHECK(xai_png_write("/tmp/never.png", px, 46341, 46341, 1) == XAI_ERR_LIMIT, "png refuses > 2^31 bytes",
          "not XAI_ERR_LIMIT");
    free(px);
}

/* ------------------------------------------------------------------- JPEG */

/* The payload of the first segment with this marker, or NULL. */
static const unsigned char *jpeg_segment(const unsigned char *d, size_t len, int marker, size_t *seglen)
{
    size_t pos = 2;
    while (pos + 4 <= len && d[pos] == 0xff) {
        size_t l = ((size_t)d[pos + 2] << 8) | d[pos + 3];
        if (d[pos + 1] == marker) {
            *seglen = l - 2;
            return d + pos + 4;
        }
        if (d[pos + 1] == 0xda) break;
        pos += 2 + l;
    }
    return NULL;
}

/* The code, as a string of 0/1, of symbol sym in the Huffman table
   (class<<4|id) defined in the file's DHT segments (T.81 Annex C). */
static void jpeg_code(const unsigned char *d, size_t len, int tc, int sym, char *out)
{
    size_t pos = 2;
    out[0] = 0;
    while (pos + 4 <= len && d[pos] == 0xff && d[pos + 1] != 0xda) {
        size_t l = ((size_t)d[pos + 2] << 8) | d[pos + 3], o = 4;
        if (d[pos + 1] == 0xc4)
            while (o < l + 2) {
                const unsigned char *t = d + pos + o;
                int total = 0, n, i, k = 0, code = 0;
                for (n = 1; n <= 16; n++) total += t[n];
                if (t[0] == tc)
                    for (n = 1; n <= 16; n++, code <<= 1)
                        for (i = 0; i < t[n]; i++, k++, code++)
                            if (t[17 + k] == sym) {
                                int b;
                                for (b = 0; b < n; b++) out[b] = (char)('0' + ((code >> (n - 1 - b)) & 1));
                                out[n] = 0;
                                return;
                            }
                o += 17 + (size_t)total;
            }
        pos += 2 + l;
    }
}

static void test_jpeg_tables(void)
{
    /* ITU T.81 Annex K, table K.1 (luminance quantisation), row by row */
    static const int k1[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                               14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                               18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                               49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
    /* T.81 figure A.6, zigzag position of each natural index */
    static const int zpos[64] = {0,  1,  5,  6,  14, 15, 27, 28, 2,  4,  7,  13, 16, 26, 29, 42,
                                 3,  8,  12, 17, 25, 30, 41, 43, 9,  11, 18, 24, 31, 40, 44, 53,
                                 10, 19, 23, 32, 39, 45, 52, 54, 20, 22, 33, 38, 46, 51, 55, 60,
                                 21, 34, 37, 47, 50, 56, 59, 61, 35, 36, 48, 49, 57, 58, 62, 63};
    /* some codes of tables K.3-K.6 */
    static const struct {
        int tc, sym;
        const char *code;
    } codes[] = {{0x00, 0, "00"},          {0x00, 1, "010"},         {0x00, 5, "110"},
                 {0x00, 6, "1110"},        {0x00, 11, "111111110"},  {0x01, 0, "00"},
                 {0x01, 3, "110"},         {0x01, 11, "11111111110"}, {0x10, 0x00, "1010"},
                 {0x10, 0x01, "00"},       {0x10, 0x02, "01"},       {0x10, 0x03, "100"},
                 {0x10, 0x11, "1100"},     {0x10, 0xf0, "11111111001"}, {0x10, 0x0a, "1111111110000011"},
                 {0x10, 0xfa, "1111111111111110"}, {0x11, 0x00, "00"}, {0x11, 0x01, "01"},
                 {0x11, 0x11, "1011"},     {0x11, 0xf0, "1111111010"}, {0x11, 0xfa, "1111111111111110"}};
    static const int qual[4] = {50, 25, 100, 1};
    unsigned char *px = make_image(IMG_SMOOTH, 24, 24, 3), *jpg;
    size_t len, seglen;
    const unsigned char *seg;
    char got[20];
    int qi, k;

    for (qi = 0; qi < 4; qi++) {
        int q = qual[qi], scale = q < 50 ? 5000 / q : 200 - 2 * q, bad = 0;
        jpg = xai_jpeg_encode(px, 24, 24, 3, q, &len);
        CHECK(jpg != NULL, "jpeg tables encode", "%s", xai_failure_reason());
        if (!jpg) continue;
        seg = jpeg_segment(jpg, len, 0xdb, &seglen);
        CHECK(seg && seglen == 130 && seg[0] == 0 && seg[65] == 1, "jpeg DQT layout", "quality %d", q);
        if (seg && seglen == 130)
            for (k = 0; k < 64; k++) {
                int want = (k1[k] * scale + 50) / 100;
                want = want < 1 ? 1 : want > 255 ? 255 : want;
                if (seg[1 + zpos[k]] != want) bad++;
            }
        CHECK(bad == 0, "jpeg luminance table scaling", "quality %d: %d entries differ from libjpeg's", q, bad);
        if (q == 100) CHECK(seg && seg[1] == 1 && seg[64] == 1 && seg[66] == 1, "jpeg quality 100", "not all 1");
        if (q == 1) CHECK(seg && seg[1] == 255 && seg[66] == 255, "jpeg quality 1", "not clamped to 255");
        if (qi == 0) {
            for (k = 0; k < (int)(sizeof codes / sizeof codes[0]); k++) {
                jpeg_code(jpg, len, codes[k].tc, codes[k].sym, got);
                CHECK(strcmp(got, codes[k].code) == 0, "jpeg Annex K Huffman code",
                      "table %02x symbol %02x: %s, want %s", codes[k].tc, codes[k].sym, got, codes[k].code);
            }
            CHECK(len > 20 && jpg[0] == 0xff && jpg[1] == 0xd8 && jpg[len - 2] == 0xff && jpg[len - 1] == 0xd9,
                  "jpeg SOI/EOI", "missing");
            seg = jpeg_segment(jpg, len, 0xe0, &seglen);
            CHECK(seg && seglen == 14 && memcmp(seg, "JFIF", 5) == 0 && seg[5] == 1, "jpeg JFIF APP0", "missing");
            seg = jpeg_segment(jpg, len, 0xc0, &seglen);
            CHECK(seg && seglen == 15 && seg[5] == 3 && seg[7] == 0x22 && seg[10] == 0x11 && seg[13] == 0x11,
                  "jpeg 4:2:0 sampling", "SOF0 sampling factors wrong");
            /* Each DHT table (Tc/Th byte, 16 counts, values) must match the
               Annex K.3 tables byte for byte.  The CRC-32s were taken from a
               JPEG written by libjpeg (ImageMagick, optimize-coding off). */
            {
                static const struct {
                    int tc;
                    unsigned long crc;
                    size_t len;
                } std_dht[4] = {{0x00, 0x13bc22c1UL, 29}, {0x01, 0xbf876d00UL, 29}, {0x10, 0x76431cc4UL, 179},
                                {0x11, 0xdb3e692fUL, 179}};
                size_t pos = 2;
                int found = 0;
                while (pos + 4 <= len && jpg[pos] == 0xff && jpg[pos + 1] != 0xda) {
                    size_t l = ((size_t)jpg[pos + 2] << 8) | jpg[pos + 3], o = 4;
                    if (jpg[pos + 1] == 0xc4)
                        while (o < l + 2) {
                            const unsigned char *tb = jpg + pos + o;
                            size_t n = 17;
                            int b;
                            for (b = 1; b <= 16; b++) n += tb[b];
                            for (b = 0; b < 4; b++)
                                if (tb[0] == std_dht[b].tc) {
                                    found++;
                                    CHECK(n == std_dht[b].len && tdec_crc(tb, n) == std_dht[b].crc,
                                          "jpeg DHT equals libjpeg's Annex K table", "table %02x differs",
                                          std_dht[b].tc);
                                }
                            o += n;
                        }
                    pos += 2 + l;
                }
                CHECK(found == 4, "jpeg has four DHT tables", "%d found", found);
            }
        }
        free(jpg);
    }
    free(px);
    px = make_image(IMG_SMOOTH, 24, 24, 1);
    jpg = xai_jpeg_encode(px, 24, 24, 1, 75, &len);
    seg = jpg ? jpeg_segment(jpg, len, 0xc0, &seglen) : NULL;
    CHECK(seg && seglen == 9 && seg[5] == 1 && seg[7] == 0x11, "jpeg gray SOF0", "one 1x1 component expected");
    seg = jpg ? jpeg_segment(jpg, len, 0xdb, &seglen) : NULL;
    CHECK(seg && seglen == 65, "jpeg gray one DQT table", "length %lu", (unsigned long)(seg ? seglen : 0));
    free(jpg);
    free(px);
}

/* Encode, decode, return the size and the worst channel's mean absolute
   error (or -1 when decoding failed). */
static double jpeg_error(const char *name, const unsigned char *px, int w, int h, int comp, int q, size_t *size)
{
    size_t len = 0;
    int dw = 0, dh = 0, dc = 0, c;
    double worst = 0;
    unsigned char *jpg = xai_jpeg_encode(px, w, h, comp, q, &len), *back;
    *size = len;
    CHECK(jpg != NULL, name, "encode failed: %s", xai_failure_reason());
    if (!jpg) return -1;
    back = tdec_jpeg(jpg, len, &dw, &dh, &dc);
    free(jpg);
    CHECK(back != NULL, name, "decoder refused the JPEG: %s", tdec_error);
    if (!back) return -1;
    CHECK(dw == w && dh == h && dc == comp, name, "decoded as %dx%dx%d", dw, dh, dc);
    if (dw != w || dh != h || dc != comp) {
        free(back);
        return -1;
    }
    for (c = 0; c < comp; c++) {
        double e = mae(px, back, w, h, comp, c);
        if (e > worst) worst = e;
    }
    free(back);
    return worst;
}

static void test_jpeg(void)
{
    static const int sizes[][2] = {{1, 1}, {17, 9}, {9, 17}, {8, 8}, {16, 16}, {33, 31}, {64, 48}, {123, 77}};
    char name[96];
    int s, comp;
    size_t len90, len10, len;
    double e90, e10, e;
    unsigned char *px;

    for (comp = 1; comp <= 3; comp += 2) {
        px = make_image(IMG_SMOOTH, 64, 48, comp);
        sprintf(name, "jpeg smooth 64x48x%d q90", comp);
        e90 = jpeg_error(name, px, 64, 48, comp, 90, &len90);
        CHECK(e90 >= 0 && e90 < 3, name, "mean absolute error %.2f (want < 3)", e90);
        sprintf(name, "jpeg smooth 64x48x%d q10", comp);
        e10 = jpeg_error(name, px, 64, 48, comp, 10, &len10);
        CHECK(e10 > e90 && len10 < len90, name, "q10: %lu bytes, error %.2f; q90: %lu bytes, error %.2f",
              (unsigned long)len10, e10, (unsigned long)len90, e90);
        free(px);

        px = make_image(IMG_NATURAL, 300, 200, comp);
        sprintf(name, "jpeg natural 300x200x%d q90", comp);
        e = jpeg_error(name, px, 300, 200, comp, 90, &len);
        CHECK(e >= 0 && e < 6, name, "mean absolute error %.2f", e);
        CHECK(len < 300 * 200 * (size_t)comp / 2, name, "%lu bytes: little compression", (unsigned long)len);
        free(px);

        for (s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++) {
            int w = sizes[s][0], h = sizes[s][1];
            px = make_image(IMG_SMOOTH, w, h, comp);
            sprintf(name, "jpeg smooth %dx%dx%d q90", w, h, comp);
            e = jpeg_error(name, px, w, h, comp, 90, &len);
            CHECK(e >= 0 && e < 4, name, "mean absolute error %.2f", e);
            free(px);
            px = make_image(IMG_CONSTANT, w, h, comp);
            sprintf(name, "jpeg constant %dx%dx%d q75", w, h, comp);
            e = jpeg_error(name, px, w, h, comp, 75, &len);
            CHECK(e >= 0 && e < 1.01, name, "mean absolute error %.2f on a flat image", e);
            free(px);
        }
        /* flat colours at quality 100 (all divisors 1): only rounding error */
        {
            static const unsigned char colours[6][3] = {{255, 0, 0},   {0, 255, 0},    {0, 0, 255},
                                                        {37, 87, 137}, {250, 240, 10}, {128, 128, 128}};
            int ci, i, worst = 0;
            for (ci = 0; ci < 6; ci++) {
                unsigned char flat[20 * 12 * 3], *jpg, *back;
                int dw, dh, dc;
                for (i = 0; i < 20 * 12 * comp; i++) flat[i] = colours[ci][comp == 1 ? 0 : i % 3];
                jpg = xai_jpeg_encode(flat, 20, 12, comp, 100, &len);
                back = jpg ? tdec_jpeg(jpg, len, &dw, &dh, &dc) : NULL;
                CHECK(back != NULL, "jpeg flat colour q100", "%s", jpg ? tdec_error : xai_failure_reason());
                if (back)
                    for (i = 0; i < 20 * 12 * comp; i++)
                        if (abs(back[i] - flat[i]) > worst) worst = abs(back[i] - flat[i]);
                free(jpg);
                free(back);
            }
            sprintf(name, "jpeg flat colours q100 comp %d", comp);
            CHECK(worst <= 1, name, "largest error %d levels", worst);
        }

        /* random noise exercises large coefficients, ZRL runs and 0xFF stuffing */
        px = make_image(IMG_RANDOM, 41, 23, comp);
        sprintf(name, "jpeg random 41x23x%d q100", comp);
        e = jpeg_error(name, px, 41, 23, comp, 100, &len);
        CHECK(e >= 0 && e < (comp == 1 ? 2 : 60), name, "mean absolute error %.2f", e);
        free(px);
    }

    px = make_image(IMG_SMOOTH, 16, 16, 3);
    len = 99;
    CHECK(xai_jpeg_encode(px, 16, 16, 4, 90, &len) == NULL && len == 0, "jpeg refuses comp 4", "accepted");
    CHECK(xai_jpeg_encode(px, 16, 16, 2, 90, &len) == NULL, "jpeg refuses comp 2", "accepted");
    CHECK(xai_jpeg_encode(px, 0, 16, 3, 90, &len) == NULL, "jpeg refuses width 0", "accepted");
    CHECK(xai_jpeg_write("/tmp/never.jpg", px, 70000, 1, 1, 90) == XAI_ERR_LIMIT, "jpeg refuses width 70000",
          "not XAI_ERR_LIMIT");
    {
        unsigned char *jpg = xai_jpeg_encode(px, 16, 16, 3, 0, &len);
        CHECK(jpg != NULL, "jpeg clamps quality 0", "refused: %s", xai_failure_reason());
        free(jpg);
        jpg = xai_jpeg_encode(px, 16, 16, 3, 1000, &len);
        CHECK(jpg != NULL, "jpeg clamps quality 1000", "refused: %s", xai_failure_reason());
        free(jpg);
    }
    free(px);
}

/* ------------------------------------------------------------- write files */

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = (unsigned char *)malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static void test_write(void)
{
    char path[256];
    unsigned char *px = make_image(IMG_NATURAL, 50, 40, 3), *mem, *disk;
    size_t mlen, dlen = 0;
    int rc;
    long pid = 0;
#ifndef _WIN32
    pid = (long)getpid();
#endif
    sprintf(path, "/tmp/xai_test_codec_%ld.png", pid);
    rc = xai_png_write(path, px, 50, 40, 3);
    CHECK(rc == XAI_OK, "png write", "returned %d: %s", rc, xai_failure_reason());
    mem = xai_png_encode(px, 50, 40, 3, &mlen);
    disk = read_file(path, &dlen);
    CHECK(mem && disk && mlen == dlen && memcmp(mem, disk, mlen) == 0, "png write contents", "file differs");
    free(mem);
    free(disk);
    remove(path);

    sprintf(path, "/tmp/xai_test_codec_%ld.jpg", pid);
    rc = xai_jpeg_write(path, px, 50, 40, 3, 85);
    CHECK(rc == XAI_OK, "jpeg write", "returned %d: %s", rc, xai_failure_reason());
    mem = xai_jpeg_encode(px, 50, 40, 3, 85, &mlen);
    disk = read_file(path, &dlen);
    CHECK(mem && disk && mlen == dlen && memcmp(mem, disk, mlen) == 0, "jpeg write contents", "file differs");
    free(mem);
    free(disk);
    remove(path);

    rc = xai_png_write("/nonexistent-dir/x.png", px, 50, 40, 3);
    CHECK(rc == XAI_ERR_IO, "png write to missing directory", "returned %d", rc);
    rc = xai_jpeg_write("/nonexistent-dir/x.jpg", px, 50, 40, 3, 90);
    CHECK(rc == XAI_ERR_IO, "jpeg write to missing directory", "returned %d", rc);
    rc = xai_png_write("/tmp/never.png", px, 50, 40, 7);
    CHECK(rc == XAI_ERR_ARG, "png write bad comp", "returned %d", rc);
    free(px);
}

/* ---------------------------------------------------------------- entropy */

static void check_entropy(const char *name, const unsigned char *px, int w, int h, int comp, double want)
{
    double H = xai_image_entropy(px, w, h, comp);
    CHECK(fabs(H - want) < 1e-9, name, "entropy %.12f, want %.12f", H, want);
}

static void test_entropy(void)
{
    unsigned char px[256 * 4];
    int i;

    memset(px, 77, sizeof px);
    check_entropy("entropy constant gray", px, 16, 16, 1, 0.0);
    check_entropy("entropy constant rgba", px, 8, 8, 4, 0.0);
    CHECK(!signbit(xai_image_entropy(px, 16, 16, 1)), "entropy constant is +0", "negative zero");

    for (i = 0; i < 64; i++) { /* two colours, half and half */
        px[3 * i] = (unsigned char)(i < 32 ? 255 : 0);
        px[3 * i + 1] = 0;
        px[3 * i + 2] = (unsigned char)(i < 32 ? 0 : 255);
    }
    check_entropy("entropy two colours", px, 8, 8, 3, 1.0);

    for (i = 0; i < 256; i++) px[i] = (unsigned char)i;
    check_entropy("entropy 256 gray levels", px, 16, 16, 1, 8.0);

    for (i = 0; i < 64; i++) { /* 4 colours; each channel alone takes 2 values */
        px[3 * i] = (unsigned char)(i % 4 & 1 ? 200 : 10);
        px[3 * i + 1] = (unsigned char)(i % 4 & 2 ? 200 : 10);
        px[3 * i + 2] = (unsigned char)(i % 4 & 1 ? 200 : 10);
    }
    check_entropy("entropy 4 rgb colours", px, 8, 8, 3, 2.0);

    for (i = 0; i < 64; i++) { /* the tuple counts: 3 values differing only in alpha */
        px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = 9;
        px[4 * i + 3] = (unsigned char)(i % 3 * 100);
    }
    check_entropy("entropy alpha distinguishes", px, 3, 1, 4, log(3.0) / log(2.0));

    for (i = 0; i < 16; i++) { /* p = 3/4, 1/4 */
        px[2 * i] = 5;
        px[2 * i + 1] = (unsigned char)(i < 12 ? 1 : 2);
    }
    check_entropy("entropy 3/4 and 1/4", px, 4, 4, 2, -(0.75 * log(0.75) + 0.25 * log(0.25)) / log(2.0));

    CHECK(xai_image_entropy(px, 4, 4, 0) < 0, "entropy refuses comp 0", "accepted");
    CHECK(xai_image_entropy(NULL, 4, 4, 1) < 0, "entropy refuses NULL", "accepted");
    CHECK(xai_image_entropy(px, 0, 4, 1) < 0, "entropy refuses width 0", "accepted");

    {
        unsigned char *big = make_image(IMG_RANDOM, 512, 512, 1);
        double H = xai_image_entropy(big, 512, 512, 1);
        CHECK(H > 7.99 && H <= 8.0, "entropy random gray", "%.4f, want just under 8", H);
        free(big);
    }
}

int main(void)
{
    test_checksums();
    test_zlib();
    test_huffman_lengths();
    test_png();
    test_jpeg_tables();
    test_jpeg();
    test_write();
    test_entropy();
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0;
}
