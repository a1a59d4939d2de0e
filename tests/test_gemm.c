/* test_gemm.c -- correctness and determinism of xai__gemm, the packed GEMM every convolution and
 * fully connected layer runs on.  The "hash" line summarises every output bit: it must be the
 * same for any OMP_NUM_THREADS, and the same for an AVX2 build and a -mfma -DXAI_NO_SIMD build
 * (both use one fused chain).
 *
 * Checks, per case:
 *  - xai__gemm within 1e-5 of xai__gemm_ref, relative to sum_k |a||b| + |C0|;
 *  - xai__gemm bitwise equal to xai__gemm_canon (the canonical order as a
 *    plain loop) -- so every path/tile/thread split gives the same bits;
 *  - each row computed alone (M=1), each column alone (N=1), and random
 *    sub-rectangles, bitwise equal to the full product;
 *  - with OpenMP: 1, 2 and 3 threads bitwise equal;
 *  - C's padding columns (ldc > N) are never written.
 */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include <stdio.h>

static int g_pass, g_fail;
static unsigned long long g_rng = 88172645463325252ULL, g_hash = 1469598103934665603ULL;

static unsigned rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng >> 11);
}
static int rndi(int n) { return n > 0 ? (int)(rnd() % (unsigned)n) : 0; }
static float rndf(void)
{
    unsigned r = rnd() % 64;
    if (r == 0) return 0.0f;
    if (r == 1) return -0.0f; /* signed zeros exercise the modifiers' tie rules */
    return (float)((int)(rnd() % 2000001) - 1000000) / 1000000.0f;
}

static void hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) g_hash = (g_hash ^ b[i]) * 1099511628211ULL;
}

#ifdef _OPENMP
static void set_threads(int n) { omp_set_num_threads(n); }
#endif

static void check(int ok, const char *what, int M, int N, int K, int ta, int tb, int ma, int mb, int acc)
{
    if (ok) {
        g_pass++;
    } else {
        g_fail++;
        if (g_fail < 30)
            printf("FAIL %s: M=%d N=%d K=%d transA=%d transB=%d modA=%d modB=%d acc=%d\n", what, M, N, K, ta, tb, ma,
                   mb, acc);
    }
}

static int bits_eq(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* One full case.  subchecks: also do the row/column/sub-block/thread checks. */
static void run_case(int M, int N, int K, int ta, int tb, int ma, int mb, int acc, int pad, int subchecks)
{
    int lda = (ta ? M : K) + (pad ? 1 + rndi(5) : 0), ldb = (tb ? K : N) + (pad ? 1 + rndi(5) : 0);
    int ldc = N + (pad ? 1 + rndi(5) : 0);
    size_t na = (size_t)(ta ? K : M) * (lda > 0 ? lda : 1) + 1, nb = (size_t)(tb ? N : K) * (ldb > 0 ? ldb : 1) + 1;
    size_t nc = (size_t)M * (ldc > 0 ? ldc : 1) + 1;
    float *A = (float *)malloc(sizeof(float) * na), *B = (float *)malloc(sizeof(float) * nb);
    float *C0 = (float *)malloc(sizeof(float) * nc), *C = (float *)malloc(sizeof(float) * nc);
    float *R = (float *)malloc(sizeof(float) * nc), *Z = (float *)malloc(sizeof(float) * nc);
    size_t x;
    int i, j, k, ok;
    xai__gemm_op g;
    memset(&g, 0, sizeof g);
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    for (x = 0; x < na; x++) A[x] = rndf();
    for (x = 0; x < nb; x++) B[x] = rndf();
    for (x = 0; x < nc; x++) C0[x] = rndf();

    /* 1. against the double-precision reference */
    memcpy(C, C0, sizeof(float) * nc);
    memcpy(R, C0, sizeof(float) * nc);
    xai__gemm(M, N, K, A, lda, ta, ma, B, ldb, tb, mb, C, ldc, acc);
    xai__gemm_ref(M, N, K, A, lda, ta, ma, B, ldb, tb, mb, R, ldc, acc);
    ok = 1;
    {
        /* the tolerance's sum_k |a||b|, from |opA(A)| and |opB(B)| laid out row by row once (the
           same terms in the same order: |(double)a * b| = (double)|a| * |b| exactly) */
        float *aa = (float *)malloc(sizeof(float) * ((size_t)M * K + 1)), *bb = (float *)malloc(sizeof(float) * ((size_t)N * K + 1));
        for (i = 0; i < M; i++)
            for (k = 0; k < K; k++) aa[(size_t)i * K + k] = fabsf(xai__mod(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k], ma));
        for (j = 0; j < N; j++)
            for (k = 0; k < K; k++) bb[(size_t)j * K + k] = fabsf(xai__mod(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j], mb));
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                const float *ai = aa + (size_t)i * K, *bj = bb + (size_t)j * K;
                double s = acc ? fabs(C0[(size_t)i * ldc + j]) : 0.0, d;
                for (k = 0; k < K; k++) s += (double)ai[k] * bj[k];
                d = fabs((double)C[(size_t)i * ldc + j] - R[(size_t)i * ldc + j]);
                if (!(d <= 1e-5 * s + 1e-30)) ok = 0;
            }
        free(aa);
        free(bb);
    }
    for (i = 0; i < M; i++) /* padding columns untouched */
        for (j = N; j < ldc; j++)
            if (!bits_eq(C[(size_t)i * ldc + j], C0[(size_t)i * ldc + j])) ok = 0;
    if (!bits_eq(C[nc - 1], C0[nc - 1])) ok = 0;
    check(ok, "vs reference", M, N, K, ta, tb, ma, mb, acc);
    hash_bytes(C, sizeof(float) * nc);

    /* 2. bitwise against the canonical loop */
    memcpy(R, C0, sizeof(float) * nc);
    g.A = A; g.lda = (size_t)lda; g.transA = ta; g.modA = ma;
    g.B = B; g.ldb = (size_t)ldb; g.transB = tb; g.modB = mb;
    g.C = R; g.crs = (size_t)ldc; g.ccs = 1;
    g.M = M; g.N = N; g.K = K; g.accumulate = acc;
    if (K > 0) {
        xai__gemm_canon(&g, 0, M, 0, N);
    } else if (!acc) {
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) R[(size_t)i * ldc + j] = 0.0f;
    }
    check(memcmp(C, R, sizeof(float) * nc) == 0, "bitwise vs canonical", M, N, K, ta, tb, ma, mb, acc);

    if (subchecks && M > 0 && N > 0) {
        /* 3. each row alone (M = 1) */
        memcpy(Z, C0, sizeof(float) * nc);
        for (i = 0; i < M; i++)
            xai__gemm(1, N, K, ta ? A + i : A + (size_t)i * lda, lda, ta, ma, B, ldb, tb, mb, Z + (size_t)i * ldc, ldc,
                      acc);
        check(memcmp(C, Z, sizeof(float) * nc) == 0, "rows alone", M, N, K, ta, tb, ma, mb, acc);
        /* 4. each column alone (N = 1) */
        memcpy(Z, C0, sizeof(float) * nc);
        for (j = 0; j < N; j++)
            xai__gemm(M, 1, K, A, lda, ta, ma, tb ? B + (size_t)j * ldb : B + j, ldb, tb, mb, Z + j, ldc, acc);
        check(memcmp(C, Z, sizeof(float) * nc) == 0, "columns alone", M, N, K, ta, tb, ma, mb, acc);
        /* 5. a tiling of C into random rectangles (odd sizes, odd offsets) */
        memcpy(Z, C0, sizeof(float) * nc);
        {
            int i0 = 0;
            while (i0 < M) {
                int mi = 1 + rndi(M - i0 < 9 ? M - i0 : 9 + rndi(M - i0 - 8)), j0 = 0;
                if (i0 + mi > M) mi = M - i0;
                while (j0 < N) {
                    int nj = 1 + rndi(N - j0 < 9 ? N - j0 : 9 + rndi(N - j0 - 8));
                    if (j0 + nj > N) nj = N - j0;
                    xai__gemm(mi, nj, K, ta ? A + i0 : A + (size_t)i0 * lda, lda, ta, ma,
                              tb ? B + (size_t)j0 * ldb : B + j0, ldb, tb, mb, Z + (size_t)i0 * ldc + j0, ldc, acc);
                    j0 += nj;
                }
                i0 += mi;
            }
        }
        check(memcmp(C, Z, sizeof(float) * nc) == 0, "random sub-blocks", M, N, K, ta, tb, ma, mb, acc);
    }
#ifdef _OPENMP
    if (subchecks || (double)M * N * K >= XAI__GEMM_PAR_MIN) {
        /* 6. thread counts */
        {
            int nt, saved = omp_get_max_threads();
            for (nt = 1; nt <= 3; nt++) {
                set_threads(nt);
                memcpy(Z, C0, sizeof(float) * nc);
                xai__gemm(M, N, K, A, lda, ta, ma, B, ldb, tb, mb, Z, ldc, acc);
                check(memcmp(C, Z, sizeof(float) * nc) == 0, "thread count", M, N, K, ta, tb, ma, mb, acc);
            }
            set_threads(saved);
        }
    }
#endif
    free(A); free(B); free(C0); free(C); free(R); free(Z);
}

/* LRP-alpha-beta's dual product: C = opA(A) . opB(B)+ and C2 = opA(A2) . opB(B)- from one pass over
 * B must give exactly the bits of two separate calls, at every thread count. */
static void run_dual(int M, int N, int K, int ta, int tb, int acc)
{
    int lda = (ta ? M : K) + 1 + rndi(3), ldb = (tb ? K : N) + 1 + rndi(3), ldc = N + 1 + rndi(3);
    size_t na = (size_t)(ta ? K : M) * lda + 1, nb = (size_t)(tb ? N : K) * ldb + 1, nc = (size_t)M * ldc + 1, x;
    float *A = (float *)malloc(sizeof(float) * na), *A2 = (float *)malloc(sizeof(float) * na), *B = (float *)malloc(sizeof(float) * nb);
    float *C0 = (float *)malloc(sizeof(float) * nc), *C = (float *)malloc(sizeof(float) * nc), *C2 = (float *)malloc(sizeof(float) * nc);
    float *R = (float *)malloc(sizeof(float) * nc), *R2 = (float *)malloc(sizeof(float) * nc);
    int nt, nts = 1, saved = 1;
    for (x = 0; x < na; x++) A[x] = rndf();
    for (x = 0; x < na; x++) A2[x] = rndf();
    for (x = 0; x < nb; x++) B[x] = rndf();
    for (x = 0; x < nc; x++) C0[x] = rndf();
    memcpy(R, C0, sizeof(float) * nc);
    memcpy(R2, C0, sizeof(float) * nc);
    xai__gemm(M, N, K, A, lda, ta, XAI__MOD_NONE, B, ldb, tb, XAI__MOD_POS, R, ldc, acc);
    xai__gemm(M, N, K, A2, lda, ta, XAI__MOD_NONE, B, ldb, tb, XAI__MOD_NEG, R2, ldc, acc);
#ifdef _OPENMP
    saved = omp_get_max_threads();
    nts = 3;
#endif
    for (nt = 1; nt <= nts; nt++) {
#ifdef _OPENMP
        set_threads(nt);
#endif
        memcpy(C, C0, sizeof(float) * nc);
        memcpy(C2, C0, sizeof(float) * nc);
        xai__gemm_dual(M, N, K, A, A2, lda, ta, B, ldb, tb, C, C2, ldc, acc);
        check(memcmp(C, R, sizeof(float) * nc) == 0 && memcmp(C2, R2, sizeof(float) * nc) == 0,
              "dual (alpha-beta) = two calls, bitwise", M, N, K, ta, tb, 0, nt, acc);
    }
#ifdef _OPENMP
    set_threads(saved);
#endif
    free(A); free(A2); free(B); free(C0); free(C); free(C2); free(R); free(R2);
}

/* Leading dimensions (< 2^31, as the API takes int) whose row offsets pass
 * 2^31 elements: catches int overflow in index arithmetic.  The buffers are
 * mostly untouched virtual memory (calloc); only used elements are written. */
static void run_huge_ld(int ta, int tb)
{
    const int M = 5, N = 19, K = 40;
    int lda = ta ? (1 << 26) + 3 : (1 << 29) + 7; /* ta: K rows of lda, else M rows */
    int ldb = tb ? (1 << 27) + 5 : (1 << 26) + 1; /* tb: N rows of ldb, else K rows */
    int ldc = (1 << 29) + 11;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = (float *)calloc(na, sizeof(float)), *B = (float *)calloc(nb, sizeof(float));
    float *C = (float *)calloc(nc, sizeof(float)), *R = (float *)malloc(sizeof(float) * M * N);
    int i, j, k, ok = 1, pass;
    xai__gemm_op g;
    memset(&g, 0, sizeof g);
    if (!A || !B || !C || !R) {
        printf("huge-offset test skipped (no %.0f GB of virtual memory)\n", 4.0 * (na + nb + nc) / 1e9);
        free(A); free(B); free(C); free(R);
        return;
    }
    for (i = 0; i < M; i++)
        for (k = 0; k < K; k++) A[ta ? (size_t)k * lda + i : (size_t)i * lda + k] = rndf();
    for (k = 0; k < K; k++)
        for (j = 0; j < N; j++) B[tb ? (size_t)j * ldb + k : (size_t)k * ldb + j] = rndf();
    g.A = A; g.lda = (size_t)lda; g.transA = ta; g.modA = 0;
    g.B = B; g.ldb = (size_t)ldb; g.transB = tb; g.modB = 0;
    g.C = R; g.crs = (size_t)N; g.ccs = 1; /* canonical result into a compact buffer */
    g.M = M; g.N = N; g.K = K; g.accumulate = 0;
    xai__gemm_canon(&g, 0, M, 0, N);
    for (pass = 0; pass < 2; pass++) { /* all rows at once (general path), then row by row (small path) */
        if (pass == 0) xai__gemm(M, N, K, A, lda, ta, 0, B, ldb, tb, 0, C, ldc, 0);
        else
            for (i = 0; i < M; i++)
                xai__gemm(1, N, K, ta ? A + i : A + (size_t)i * lda, lda, ta, 0, B, ldb, tb, 0, C + (size_t)i * ldc, ldc,
                          1); /* accumulate onto pass 0: C + C */
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                float want = pass == 0 ? R[i * N + j] : R[i * N + j] + R[i * N + j];
                if (!bits_eq(C[(size_t)i * ldc + j], want)) ok = 0;
            }
    }
    check(ok, "huge offsets", M, N, K, ta, tb, 0, 0, 0);
    free(A); free(B); free(C); free(R);
}

#ifdef XAI__AVX2
#define GEMM_BUILD "AVX2+FMA"
#else
#define GEMM_BUILD "portable"
#endif

int main(void)
{
    static const int ks[] = {0, 1, 2, 5, 8, 9, 17, 255, 256, 257, 511, 513};
    int M, N, ki, ta, tb, ma, mb, acc, i;
    printf("build: %s, MR x NR = %d x %d, KC = %d, MC = %d, NC = %d, %s\n",
           GEMM_BUILD, XAI__MR, XAI__NR, XAI__KC, XAI__MC, XAI__NC,
#ifdef _OPENMP
           "OpenMP"
#else
           "no OpenMP"
#endif
    );

    /* all small M, N around MR/NR edges, K around KC edges, random flags */
    for (M = 0; M <= 20; M++)
        for (N = 0; N <= 20; N++)
            for (ki = 0; ki < (int)(sizeof ks / sizeof ks[0]); ki++)
            {
                /* draw in a fixed order (argument evaluation order is unspecified) */
                int r_ta = rndi(2), r_tb = rndi(2), r_ma = rndi(5), r_mb = rndi(5), r_acc = rndi(2), r_pad = rndi(2);
                run_case(M, N, ks[ki], r_ta, r_tb, r_ma, r_mb, r_acc, r_pad, (M + N + ki) % 7 == 0);
            }
    printf("small shapes done: %d passed, %d failed\n", g_pass, g_fail);

    /* every flag combination on a few awkward shapes */
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (ma = 0; ma < 5; ma++)
                for (mb = 0; mb < 5; mb++)
                    for (acc = 0; acc < 2; acc++) {
                        run_case(7, 19, 300, ta, tb, ma, mb, acc, 1, 1);
                        run_case(3, 37, 513, ta, tb, ma, mb, acc, 1, 1);
                        run_case(37, 2, 260, ta, tb, ma, mb, acc, 1, 1);
                        run_case(13, 50, 31, ta, tb, ma, mb, acc, 0, 1);
                    }
    printf("all flags done: %d passed, %d failed\n", g_pass, g_fail);

    /* larger shapes: several NC/MC blocks, threads, the small-M/N paths at size */
    {
        static const int big[][3] = {{150, 1100, 300}, {97, 300, 700}, {300, 40, 257}, {1, 4100, 600},
                                     {4, 2050, 515}, {2, 3000, 256}, {1500, 3, 300}, {16, 1030, 1000},
                                     {6, 2048, 512}, {5, 17, 2000}, {200, 200, 1},
                                     {18, 60, 15000} /* transB: packed A > 1 MiB -> blocked, not panel order */};
        for (i = 0; i < (int)(sizeof big / sizeof big[0]); i++)
            for (ta = 0; ta < 2; ta++)
                for (tb = 0; tb < 2; tb++)
                {
                    int r_ma = rndi(5), r_mb = rndi(5), r_acc = rndi(2), r_pad = rndi(2);
                    run_case(big[i][0], big[i][1], big[i][2], ta, tb, r_ma, r_mb, r_acc, r_pad,
                             big[i][0] * big[i][1] < 20000);
                }
    }
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) run_huge_ld(ta, tb);
    { /* the dual product: small M (one pass over B) and larger (two calls), ragged N and K, big N */
        static const int dual[][3] = {{1, 1, 1}, {1, 7, 9}, {2, 17, 255}, {3, 33, 513}, {4, 9, 300}, {1, 2100, 600},
                                      {4, 1030, 257}, {2, 3000, 40}, {5, 40, 70}, {16, 300, 260}, {3, 2, 50}};
        for (i = 0; i < (int)(sizeof dual / sizeof dual[0]); i++)
            for (ta = 0; ta < 2; ta++)
                for (tb = 0; tb < 2; tb++)
                    for (acc = 0; acc < 2; acc++) run_dual(dual[i][0], dual[i][1], dual[i][2], ta, tb, acc);
    }
    printf("dual done: %d passed, %d failed\n", g_pass, g_fail);
    printf("hash %016llx\n", g_hash);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
