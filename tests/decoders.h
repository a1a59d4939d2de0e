/* decoders.h -- test-only decoders for checking xai.h's image encoders.

   Written separately from the encoders (no shared code or tables) and
   deliberately strict: they refuse what zlib, libpng or libjpeg would
   refuse, so a round trip through them says something.
     tdec_inflate  zlib stream (RFC 1950/1951): stored, fixed, dynamic
                   blocks; Huffman tables must be complete, as zlib wants
     tdec_png      8-bit non-interlaced PNG, colour types 0, 2, 4, 6
     tdec_jpeg     baseline sequential JPEG, 1 or 3 components, any
                   sampling factors (upsampled by replication)
   Each returns a malloc'd buffer or NULL, with the reason in tdec_error. */
#ifndef TESTS_DECODERS_H
#define TESTS_DECODERS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char tdec_error[200];
static int tdec_block_types[3]; /* blocks seen by tdec_inflate, by BTYPE */

static unsigned char *tdec_fail(const char *why)
{
    strncpy(tdec_error, why, sizeof tdec_error - 1);
    tdec_error[sizeof tdec_error - 1] = 0;
    return NULL;
}

/* ---------------------------------------------------------------- inflate */

typedef struct {
    const unsigned char *in;
    size_t inlen, inpos;
    unsigned long bitbuf;
    int bitcnt;
    unsigned char *out;
    size_t outlen, outcap;
    const char *err;
} tdec_inf;

typedef struct {
    short count[16];  /* number of codes of each length */
    short symbol[320]; /* symbols ordered by code */
} tdec_huff;

static int tdec_getbits(tdec_inf *s, int need)
{
    unsigned long v = s->bitbuf;
    while (s->bitcnt < need) {
        if (s->inpos >= s->inlen) {
            s->err = "inflate: input ends early";
            return 0;
        }
        v |= (unsigned long)s->in[s->inpos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    s->bitbuf = v >> need;
    s->bitcnt -= need;
    return (int)(v & ((1UL << need) - 1));
}

/* Returns 0 for a complete code, >0 if incomplete, <0 if over-subscribed. */
static int tdec_build(tdec_huff *h, const short *len, int n)
{
    short offs[16];
    int i, left = 1;
    memset(h->count, 0, sizeof h->count);
    for (i = 0; i < n; i++) h->count[len[i]]++;
    if (h->count[0] == n) return 1; /* no codes at all */
    for (i = 1; i < 16; i++) {
        left = left * 2 - h->count[i];
        if (left < 0) return -1;
    }
    offs[1] = 0;
    for (i = 1; i < 15; i++) offs[i + 1] = (short)(offs[i] + h->count[i]);
    for (i = 0; i < n; i++)
        if (len[i]) h->symbol[offs[len[i]]++] = (short)i;
    return left;
}

/* zlib's rule: a table may be incomplete only if it is a single 1-bit code. */
static int tdec_build_strict(tdec_huff *h, const short *len, int n, int allow_single)
{
    int r = tdec_build(h, len, n), i, used = 0;
    if (r < 0) return 0;
    if (r == 0) return 1;
    for (i = 1; i < 16; i++) used += h->count[i];
    return allow_single && used == 1 && h->count[1] == 1;
}

static int tdec_decode(tdec_inf *s, const tdec_huff *h)
{
    int code = 0, first = 0, index = 0, len;
    for (len = 1; len < 16; len++) {
        int count;
        code |= tdec_getbits(s, 1);
        if (s->err) return -1;
        count = h->count[len];
        if (code - first < count) return h->symbol[index + code - first];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    s->err = "inflate: invalid Huffman code";
    return -1;
}

static int tdec_put(tdec_inf *s, int byte)
{
    if (s->outlen == s->outcap) {
        size_t cap = s->outcap ? s->outcap * 2 : 1024;
        unsigned char *p = (unsigned char *)realloc(s->out, cap);
        if (!p) {
            s->err = "inflate: out of memory";
            return 0;
        }
        s->out = p;
        s->outcap = cap;
    }
    s->out[s->outlen++] = (unsigned char)byte;
    return 1;
}

static const short tdec_lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,  15,  17,  19,  23, 27,
                                     31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short tdec_lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const short tdec_dbase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                     33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                     1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short tdec_dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int tdec_codes(tdec_inf *s, const tdec_huff *lc, const tdec_huff *dc)
{
    for (;;) {
        int sym = tdec_decode(s, lc), len, dist;
        if (sym < 0) return 0;
        if (sym < 256) {
            if (!tdec_put(s, sym)) return 0;
            continue;
        }
        if (sym == 256) return 1;
        sym -= 257;
        if (sym >= 29) {
            s->err = "inflate: bad length symbol";
            return 0;
        }
        len = tdec_lbase[sym] + tdec_getbits(s, tdec_lext[sym]);
        sym = tdec_decode(s, dc);
        if (sym < 0) return 0;
        if (sym >= 30) {
            s->err = "inflate: bad distance symbol";
            return 0;
        }
        dist = tdec_dbase[sym] + tdec_getbits(s, tdec_dext[sym]);
        if (s->err) return 0;
        if ((size_t)dist > s->outlen) {
            s->err = "inflate: distance too far back";
            return 0;
        }
        while (len--)
            if (!tdec_put(s, s->out[s->outlen - (size_t)dist])) return 0;
    }
}

static int tdec_stored(tdec_inf *s)
{
    size_t len, nlen;
    s->bitbuf = 0; /* go to a byte boundary */
    s->bitcnt = 0;
    if (s->inpos + 4 > s->inlen) {
        s->err = "inflate: stored header cut";
        return 0;
    }
    len = s->in[s->inpos] | ((size_t)s->in[s->inpos + 1] << 8);
    nlen = s->in[s->inpos + 2] | ((size_t)s->in[s->inpos + 3] << 8);
    s->inpos += 4;
    if (len != (~nlen & 0xffff)) {
        s->err = "inflate: stored LEN/NLEN mismatch";
        return 0;
    }
    if (s->inpos + len > s->inlen) {
        s->err = "inflate: stored data cut";
        return 0;
    }
    while (len--)
        if (!tdec_put(s, s->in[s->inpos++])) return 0;
    return 1;
}

static int tdec_fixed(tdec_inf *s)
{
    tdec_huff lc, dc;
    short len[320];
    int i;
    for (i = 0; i < 144; i++) len[i] = 8;
    for (; i < 256; i++) len[i] = 9;
    for (; i < 280; i++) len[i] = 7;
    for (; i < 288; i++) len[i] = 8;
    tdec_build(&lc, len, 288);
    for (i = 0; i < 32; i++) len[i] = 5;
    tdec_build(&dc, len, 32);
    return tdec_codes(s, &lc, &dc);
}

static int tdec_dynamic(tdec_inf *s)
{
    static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    short len[320];
    tdec_huff lc, dc, cc;
    int nlen = tdec_getbits(s, 5) + 257, ndist = tdec_getbits(s, 5) + 1, ncode = tdec_getbits(s, 4) + 4;
    int i = 0;
    if (s->err) return 0;
    if (nlen > 286 || ndist > 30) {
        s->err = "inflate: too many codes";
        return 0;
    }
    for (i = 0; i < 19; i++) len[order[i]] = i < ncode ? (short)tdec_getbits(s, 3) : 0;
    if (s->err) return 0;
    if (!tdec_build_strict(&cc, len, 19, 0)) {
        s->err = "inflate: bad code-length code";
        return 0;
    }
    i = 0;
    while (i < nlen + ndist) {
        int sym = tdec_decode(s, &cc), rep = 0, val = 0;
        if (sym < 0) return 0;
        if (sym < 16) {
            len[i++] = (short)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0) {
                s->err = "inflate: repeat with no previous length";
                return 0;
            }
            val = len[i - 1];
            rep = 3 + tdec_getbits(s, 2);
        } else if (sym == 17) {
            rep = 3 + tdec_getbits(s, 3);
        } else {
            rep = 11 + tdec_getbits(s, 7);
        }
        if (s->err) return 0;
        if (i + rep > nlen + ndist) {
            s->err = "inflate: too many code lengths";
            return 0;
        }
        while (rep--) len[i++] = (short)val;
    }
    if (len[256] == 0) {
        s->err = "inflate: no end-of-block code";
        return 0;
    }
    if (!tdec_build_strict(&lc, len, nlen, 1)) {
        s->err = "inflate: bad literal/length code";
        return 0;
    }
    if (!tdec_build_strict(&dc, len + nlen, ndist, 1)) {
        s->err = "inflate: bad distance code";
        return 0;
    }
    return tdec_codes(s, &lc, &dc);
}

static unsigned long tdec_adler(const unsigned char *p, size_t n)
{
    unsigned long a = 1, b = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

/* Inflates a whole zlib stream; counts blocks by type in tdec_block_types.
   Trailing bytes after the Adler-32 are refused. */
static unsigned char *tdec_inflate(const unsigned char *in, size_t inlen, size_t *outlen)
{
    tdec_inf s;
    int last = 0;
    unsigned long adler;
    memset(&s, 0, sizeof s);
    memset(tdec_block_types, 0, sizeof tdec_block_types);
    s.in = in;
    s.inlen = inlen;
    if (inlen < 6) return tdec_fail("zlib: stream too short");
    if ((in[0] & 15) != 8 || (in[0] >> 4) > 7) return tdec_fail("zlib: not deflate with window <= 32K");
    if ((in[0] * 256 + in[1]) % 31 != 0) return tdec_fail("zlib: bad header check");
    if (in[1] & 0x20) return tdec_fail("zlib: preset dictionary");
    s.inpos = 2;
    while (!last) {
        int type, ok;
        last = tdec_getbits(&s, 1);
        type = tdec_getbits(&s, 2);
        if (s.err) break;
        if (type == 3) {
            s.err = "inflate: block type 3";
            break;
        }
        tdec_block_types[type]++;
        ok = type == 0 ? tdec_stored(&s) : type == 1 ? tdec_fixed(&s) : tdec_dynamic(&s);
        if (!ok) break;
    }
    if (!s.err) {
        if (s.inpos + 4 != s.inlen) {
            s.err = s.inpos + 4 > s.inlen ? "zlib: Adler-32 missing" : "zlib: trailing bytes";
        } else {
            adler = ((unsigned long)in[s.inpos] << 24) | ((unsigned long)in[s.inpos + 1] << 16) |
                    ((unsigned long)in[s.inpos + 2] << 8) | in[s.inpos + 3];
            if (adler != tdec_adler(s.out, s.outlen)) s.err = "zlib: Adler-32 mismatch";
        }
    }
    if (s.err) {
        free(s.out);
        return tdec_fail(s.err);
    }
    if (!s.out) s.out = (unsigned char *)malloc(1); /* empty but valid */
    *outlen = s.outlen;
    return s.out;
}

/* -------------------------------------------------------------------- PNG */

static unsigned long tdec_crc(const unsigned char *p, size_t n) /* bit at a time */
{
    unsigned long c = 0xffffffffUL;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xedb88320UL : c >> 1;
    }
    return c ^ 0xffffffffUL;
}

static unsigned long tdec_be32(const unsigned char *p)
{
    return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
}

static int tdec_png_idat_count;  /* IDAT chunks in the last PNG */
static int tdec_png_filters[5];   /* rows of the last PNG by filter type */

static unsigned char *tdec_png(const unsigned char *png, size_t len, int *w, int *h, int *comp)
{
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char *z = NULL, *raw, *img;
    size_t zlen = 0, pos = 8, rawlen, stride, x;
    int seen_ihdr = 0, seen_iend = 0, width = 0, height = 0, nc = 0, y, bpp;
    tdec_png_idat_count = 0;
    memset(tdec_png_filters, 0, sizeof tdec_png_filters);
    if (len < 8 || memcmp(png, sig, 8) != 0) return tdec_fail("png: bad signature");
    while (!seen_iend) {
        unsigned long clen;
        const unsigned char *type, *data;
        if (pos + 12 > len) {
            free(z);
            return tdec_fail("png: chunk header cut");
        }
        clen = tdec_be32(png + pos);
        type = png + pos + 4;
        data = png + pos + 8;
        if (clen > 0x7fffffffUL || pos + 12 + clen > len) {
            free(z);
            return tdec_fail("png: chunk cut");
        }
        if (tdec_crc(type, clen + 4) != tdec_be32(data + clen)) {
            free(z);
            return tdec_fail("png: CRC mismatch");
        }
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0) {
            free(z);
            return tdec_fail("png: IHDR not first");
        }
        if (memcmp(type, "IHDR", 4) == 0) {
            static const int ncomp[7] = {1, 0, 3, 0, 2, 0, 4};
            if (seen_ihdr || clen != 13) {
                free(z);
                return tdec_fail("png: bad IHDR");
            }
            width = (int)tdec_be32(data);
            height = (int)tdec_be32(data + 4);
            if (width <= 0 || height <= 0 || data[8] != 8 || data[9] > 6 || ncomp[data[9]] == 0 || data[10] ||
                data[11] || data[12])
                return tdec_fail("png: unsupported IHDR");
            nc = ncomp[data[9]];
            seen_ihdr = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            unsigned char *p = (unsigned char *)realloc(z, zlen + clen + 1);
            if (!p) {
                free(z);
                return tdec_fail("png: out of memory");
            }
            z = p;
            memcpy(z + zlen, data, clen);
            zlen += clen;
            tdec_png_idat_count++;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
        } else if (!(type[0] & 0x20)) {
            free(z);
            return tdec_fail("png: unknown critical chunk");
        }
        pos += 12 + clen;
    }
    if (pos != len) {
        free(z);
        return tdec_fail("png: data after IEND");
    }
    if (!z) return tdec_fail("png: no IDAT");
    raw = tdec_inflate(z, zlen, &rawlen);
    free(z);
    if (!raw) return NULL;
    stride = (size_t)width * (size_t)nc;
    bpp = nc;
    if (rawlen != (size_t)height * (stride + 1)) {
        free(raw);
        return tdec_fail("png: wrong amount of image data");
    }
    img = (unsigned char *)malloc((size_t)height * stride);
    if (!img) {
        free(raw);
        return tdec_fail("png: out of memory");
    }
    for (y = 0; y < height; y++) {
        const unsigned char *src = raw + (size_t)y * (stride + 1) + 1;
        unsigned char *dst = img + (size_t)y * stride;
        const unsigned char *up = y ? dst - stride : NULL;
        int ft = src[-1];
        if (ft > 4) {
            free(raw);
            free(img);
            return tdec_fail("png: bad filter type");
        }
        tdec_png_filters[ft]++;
        for (x = 0; x < stride; x++) {
            int a = x >= (size_t)bpp ? dst[x - bpp] : 0;
            int b = up ? up[x] : 0;
            int c = (up && x >= (size_t)bpp) ? up[x - bpp] : 0;
            int pred = 0;
            if (ft == 1) pred = a;
            else if (ft == 2) pred = b;
            else if (ft == 3) pred = (a + b) / 2;
            else if (ft == 4) {
                int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
                pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
            }
            dst[x] = (unsigned char)((src[x] + pred) & 255);
        }
    }
    free(raw);
    *w = width;
    *h = height;
    *comp = nc;
    return img;
}

/* ------------------------------------------------------------------- JPEG */

typedef struct {
    int present;
    unsigned char vals[256];
    int mincode[17], maxcode[18], valptr[17]; /* T.81 F.2.2.3 */
} tdec_jh;

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    unsigned long buf;
    int cnt;
    int bad;
} tdec_jbits;

static int tdec_jbit(tdec_jbits *b)
{
    if (b->cnt == 0) {
        unsigned c;
        if (b->pos >= b->len) {
            b->bad = 1;
            return 0;
        }
        c = b->p[b->pos++];
        if (c == 0xff) {
            if (b->pos >= b->len || b->p[b->pos] != 0) { /* a marker inside the scan */
                b->bad = 1;
                return 0;
            }
            b->pos++; /* stuffed zero */
        }
        b->buf = c;
        b->cnt = 8;
    }
    b->cnt--;
    return (int)((b->buf >> b->cnt) & 1);
}

static int tdec_jreceive(tdec_jbits *b, int s)
{
    int v = 0;
    while (s--) v = (v << 1) | tdec_jbit(b);
    return v;
}

static int tdec_jextend(int v, int s) /* T.81 F.2.2.1 */
{
    return s && v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

static int tdec_jdecode(tdec_jbits *b, const tdec_jh *h)
{
    int code = tdec_jbit(b), l = 1;
    while (l <= 16 && code > h->maxcode[l]) {
        code = (code << 1) | tdec_jbit(b);
        l++;
    }
    if (l > 16 || b->bad) {
        b->bad = 1;
        return 0;
    }
    return h->vals[h->valptr[l] + code - h->mincode[l]];
}

/* jpeg: comp is 1 or 3 (RGB). */
static unsigned char *tdec_jpeg(const unsigned char *d, size_t len, int *w, int *h, int *comp)
{
    static const int zz[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                               12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                               35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                               58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};
    int q[4][64], qset[4] = {0, 0, 0, 0};
    tdec_jh dc[4], ac[4];
    int nc = 0, width = 0, height = 0, cid[3], ch[3], cv[3], ctq[3], ctd[3], cta[3], hmax = 1, vmax = 1;
    int seen_sof = 0, seen_sos = 0, seen_eoi = 0, i, k;
    unsigned char *planes[3] = {NULL, NULL, NULL}, *img = NULL;
    int pw[3] = {0, 0, 0}, ph[3] = {0, 0, 0};
    size_t pos = 2;
    double cosv[8][8];

    memset(dc, 0, sizeof dc);
    memset(ac, 0, sizeof ac);
    if (len < 4 || d[0] != 0xff || d[1] != 0xd8) return tdec_fail("jpeg: no SOI");
    for (k = 0; k < 8; k++)
        for (i = 0; i < 8; i++)
            cosv[k][i] = (k ? 1.0 : sqrt(0.5)) * cos((2 * i + 1) * k * 3.14159265358979323846 / 16);

    while (!seen_eoi) {
        int m;
        size_t seg;
        const unsigned char *s;
        if (pos + 2 > len || d[pos] != 0xff) goto bad;
        m = d[pos + 1];
        pos += 2;
        if (m == 0xff) {
            pos--; /* fill byte */
            continue;
        }
        if (m == 0xd9) {
            seen_eoi = 1;
            break;
        }
        if (pos + 2 > len) goto bad;
        seg = ((size_t)d[pos] << 8) | d[pos + 1];
        if (seg < 2 || pos + seg > len) goto bad;
        s = d + pos + 2;
        seg -= 2;
        if (m == 0xdb) { /* DQT */
            size_t o = 0;
            while (o < seg) {
                int t = s[o] & 15;
                if ((s[o] >> 4) != 0 || t > 3 || o + 65 > seg) goto bad;
                for (k = 0; k < 64; k++) q[t][k] = s[o + 1 + k]; /* zigzag order */
                qset[t] = 1;
                o += 65;
            }
        } else if (m == 0xc4) { /* DHT */
            size_t o = 0;
            while (o < seg) {
                int cls = s[o] >> 4, t = s[o] & 15, total = 0, l, code = 0, kk = 0;
                tdec_jh *hh;
                if (cls > 1 || t > 3 || o + 17 > seg) goto bad;
                hh = cls ? &ac[t] : &dc[t];
                for (l = 1; l <= 16; l++) total += s[o + l];
                if (total > 256 || o + 17 + (size_t)total > seg) goto bad;
                memcpy(hh->vals, s + o + 17, (size_t)total);
                for (l = 1; l <= 16; l++) { /* T.81 C.2 and F.2.2.3 */
                    int n = s[o + l];
                    hh->valptr[l] = kk;
                    hh->mincode[l] = code;
                    code += n;
                    kk += n;
                    hh->maxcode[l] = n ? code - 1 : -1;
                    if (code >= (1 << l)) goto bad; /* over-full, or uses an all-1s code (C.2) */
                    code <<= 1;
                }
                hh->maxcode[17] = 0x7fffffff;
                hh->present = 1;
                o += 17 + (size_t)total;
            }
        } else if (m == 0xc0) { /* SOF0, baseline */
            if (seen_sof || seg < 6 || s[0] != 8) goto bad;
            height = (s[1] << 8) | s[2];
            width = (s[3] << 8) | s[4];
            nc = s[5];
            if (width <= 0 || height <= 0 || (nc != 1 && nc != 3) || seg != 6 + 3 * (size_t)nc) goto bad;
            for (i = 0; i < nc; i++) {
                cid[i] = s[6 + 3 * i];
                ch[i] = s[7 + 3 * i] >> 4;
                cv[i] = s[7 + 3 * i] & 15;
                ctq[i] = s[8 + 3 * i];
                if (ch[i] < 1 || ch[i] > 2 || cv[i] < 1 || cv[i] > 2 || ctq[i] > 3) goto bad;
                if (ch[i] > hmax) hmax = ch[i];
                if (cv[i] > vmax) vmax = cv[i];
            }
            seen_sof = 1;
        } else if (m == 0xda) { /* SOS: one interleaved scan of all components */
            int mcux, mcuy, mx, my, pred[3] = {0, 0, 0};
            tdec_jbits b;
            if (!seen_sof || seen_sos || seg != 4 + 2 * (size_t)nc || s[0] != nc) goto bad;
            for (i = 0; i < nc; i++) {
                if (s[1 + 2 * i] != cid[i]) goto bad;
                ctd[i] = s[2 + 2 * i] >> 4;
                cta[i] = s[2 + 2 * i] & 15;
                if (ctd[i] > 3 || cta[i] > 3 || !dc[ctd[i]].present || !ac[cta[i]].present || !qset[ctq[i]])
                    goto bad;
            }
            if (s[1 + 2 * nc] != 0 || s[2 + 2 * nc] != 63 || s[3 + 2 * nc] != 0) goto bad;
            mcux = (width + 8 * hmax - 1) / (8 * hmax);
            mcuy = (height + 8 * vmax - 1) / (8 * vmax);
            if (nc == 1) { /* non-interleaved: one block per MCU (T.81 A.2.2) */
                mcux = (width + 7) / 8;
                mcuy = (height + 7) / 8;
                ch[0] = cv[0] = hmax = vmax = 1;
            }
            for (i = 0; i < nc; i++) {
                pw[i] = mcux * ch[i] * 8;
                ph[i] = mcuy * cv[i] * 8;
                planes[i] = (unsigned char *)malloc((size_t)pw[i] * (size_t)ph[i]);
                if (!planes[i]) goto bad;
            }
            memset(&b, 0, sizeof b);
            b.p = d;
            b.len = len;
            b.pos = pos + 2 + seg;
            for (my = 0; my < mcuy; my++)
                for (mx = 0; mx < mcux; mx++)
                    for (i = 0; i < nc; i++) {
                        int by, bx;
                        for (by = 0; by < cv[i]; by++)
                            for (bx = 0; bx < ch[i]; bx++) {
                                double coef[64], tmp[64];
                                int t, x, y, u, v;
                                memset(coef, 0, sizeof coef);
                                t = tdec_jdecode(&b, &dc[ctd[i]]);
                                if (t > 11) goto bad;
                                pred[i] += tdec_jextend(tdec_jreceive(&b, t), t);
                                coef[0] = pred[i] * q[ctq[i]][0];
                                for (k = 1; k < 64;) {
                                    int rs = tdec_jdecode(&b, &ac[cta[i]]), r = rs >> 4, sz = rs & 15;
                                    if (sz == 0) {
                                        if (r != 15) break; /* EOB */
                                        k += 16;
                                        continue;
                                    }
                                    k += r;
                                    if (k > 63 || sz > 10) goto bad;
                                    coef[zz[k]] = tdec_jextend(tdec_jreceive(&b, sz), sz) * q[ctq[i]][k];
                                    k++;
                                }
                                if (b.bad || k > 64) goto bad;
                                /* inverse DCT (T.81 A.3.3), rows then columns */
                                for (v = 0; v < 8; v++)
                                    for (x = 0; x < 8; x++) {
                                        double sum = 0;
                                        for (u = 0; u < 8; u++) sum += cosv[u][x] * coef[v * 8 + u];
                                        tmp[v * 8 + x] = sum / 2;
                                    }
                                for (y = 0; y < 8; y++)
                                    for (x = 0; x < 8; x++) {
                                        double sum = 0;
                                        int val;
                                        for (v = 0; v < 8; v++) sum += cosv[v][y] * tmp[v * 8 + x];
                                        val = (int)floor(sum / 2 + 128.5);
                                        val = val < 0 ? 0 : val > 255 ? 255 : val;
                                        planes[i][(size_t)((my * cv[i] + by) * 8 + y) * (size_t)pw[i] +
                                                  (size_t)((mx * ch[i] + bx) * 8 + x)] = (unsigned char)val;
                                    }
                            }
                    }
            if (b.bad) goto bad;
            pos = b.pos; /* the next marker follows the scan's last byte */
            seen_sos = 1;
            continue;
        } else if ((m >= 0xc1 && m <= 0xcf) || m == 0xdd) {
            goto bad; /* not baseline, or restart intervals: not produced by xai */
        }
        pos += 2 + seg; /* APPn, COM and others: skip */
    }
    if (!seen_sos) goto bad;
    if (pos != len) goto bad; /* nothing may follow EOI */
    img = (unsigned char *)malloc((size_t)width * (size_t)height * (size_t)nc);
    if (!img) goto bad;
    for (k = 0; k < height; k++)
        for (i = 0; i < width; i++) {
            unsigned char *o = img + ((size_t)k * (size_t)width + (size_t)i) * (size_t)nc;
            double c[3];
            int j;
            for (j = 0; j < nc; j++) /* nearest-neighbour upsampling */
                c[j] = planes[j][(size_t)(k * cv[j] / vmax) * (size_t)pw[j] + (size_t)(i * ch[j] / hmax)];
            if (nc == 1) {
                o[0] = (unsigned char)c[0];
            } else { /* JFIF YCbCr to RGB */
                double rgb[3];
                rgb[0] = c[0] + 1.402 * (c[2] - 128);
                rgb[1] = c[0] - 0.344136 * (c[1] - 128) - 0.714136 * (c[2] - 128);
                rgb[2] = c[0] + 1.772 * (c[1] - 128);
                for (j = 0; j < 3; j++) {
                    int v = (int)floor(rgb[j] + 0.5);
                    o[j] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    for (i = 0; i < 3; i++) free(planes[i]);
    *w = width;
    *h = height;
    *comp = nc;
    return img;
bad:
    for (i = 0; i < 3; i++) free(planes[i]);
    return tdec_fail("jpeg: malformed or unsupported stream");
}

#endif /* TESTS_DECODERS_H */
