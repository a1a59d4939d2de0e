/* A tiny protobuf wire-format encoder for the tests and the fuzz seeds: they write caffemodels
   and mean files byte by byte, to feed the readers in tools/caffe_pb.h. */
#ifndef XAI_TEST_PB_ENCODE_H
#define XAI_TEST_PB_ENCODE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PBE_FN static __attribute__((unused))
#else
#define PBE_FN static
#endif

typedef struct pb {
    unsigned char *p;
    size_t len, cap;
} pb;

PBE_FN void pb_raw(pb *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = (unsigned char *)realloc(b->p, cap);
        if (!b->p) { printf("FAIL out of memory in the encoder\n"); exit(1); }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}
PBE_FN void pb_free(pb *b) { free(b->p); memset(b, 0, sizeof *b); }
PBE_FN void pb_byte(pb *b, unsigned v) { unsigned char c = (unsigned char)v; pb_raw(b, &c, 1); }
PBE_FN void pb_varint(pb *b, uint64_t v)
{
    do {
        unsigned c = (unsigned)(v & 0x7f);
        v >>= 7;
        pb_byte(b, v ? c | 0x80 : c);
    } while (v);
}
PBE_FN void pb_key(pb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (unsigned)wire); }
PBE_FN void pb_u(pb *b, int field, uint64_t v) { pb_key(b, field, 0); pb_varint(b, v); }
PBE_FN void pb_bytes(pb *b, int field, const void *d, size_t n) { pb_key(b, field, 2); pb_varint(b, n); pb_raw(b, d, n); }
PBE_FN void pb_s(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
PBE_FN void pb_m(pb *b, int field, pb *m) { pb_bytes(b, field, m->p, m->len); pb_free(m); }   /* consumes m */
PBE_FN void pb_le(pb *b, uint64_t v, int n) { int i; for (i = 0; i < n; i++) pb_byte(b, (unsigned)(v >> (8 * i)) & 0xff); }
PBE_FN void pb_f32(pb *b, int field, float f) { uint32_t u; memcpy(&u, &f, 4); pb_key(b, field, 5); pb_le(b, u, 4); }
PBE_FN void pb_f64(pb *b, int field, double d) { uint64_t u; memcpy(&u, &d, 8); pb_key(b, field, 1); pb_le(b, u, 8); }
#endif
