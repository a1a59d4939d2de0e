/* The tests' small harness: CHECK counts, a failure prints where and why, test_report prints the
   "N passed, N failed" line that tests/run.sh adds up. */
#ifndef XAI_TEST_H
#define XAI_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TEST_FN static __attribute__((unused))
#else
#define TEST_FN static
#endif

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            test_passed++;                                                      \
        } else {                                                                \
            test_failed++;                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                         \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
        }                                                                       \
    } while (0)

/* |a - b| <= tol * max(1, |a|, |b|) */
TEST_FN int test_close(double a, double b, double tol)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (m < 1) m = 1;
    return fabs(a - b) <= tol * m;
}

#define CHECK_CLOSE(a, b, tol, what)                                                       \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        CHECK(test_close(a_, b_, tol), "%s: %.9g vs %.9g (tol %g)", what, a_, b_, (double)(tol)); \
    } while (0)

/* Largest |a_i - b_i| / max(1e-30, max_i |b_i|): relative to the array's scale. */
TEST_FN double test_max_rel_diff(const float *a, const float *b, size_t n)
{
    double scale = 1e-30, diff = 0;
    size_t i;
    for (i = 0; i < n; i++) if (fabs(b[i]) > scale) scale = fabs(b[i]);
    for (i = 0; i < n; i++) if (fabs((double)a[i] - b[i]) > diff) diff = fabs((double)a[i] - b[i]);
    return diff / scale;
}

/* Test data from the library's counter-based random numbers (xai_random_key): uniform in [0, 1), 24 bits */
TEST_FN float test_uniform(uint64_t key) { return (float)(key >> 40) * (1.0f / 16777216.0f); }

/* The OpenMP threads of the next parallel regions (nothing to set without OpenMP). */
TEST_FN void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

TEST_FN int test_report(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* Reads a whole file (tests only). */
TEST_FN unsigned char *test_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}

/* NAME in the folder for the test's files: $TMPDIR when set (tests/run.sh gives each test a folder
   of its own, so that two runs of a test never share a file), else /tmp.  Eight paths live at once. */
TEST_FN const char *test_tmp(const char *name)
{
    static char path[8][512];
    static int next;
    const char *dir = getenv("TMPDIR");
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir && *dir ? dir : "/tmp", name);
    return p;
}

TEST_FN int test_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}
#endif
