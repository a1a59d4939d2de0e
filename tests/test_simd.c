/* The SIMD and the portable paths agree (issue 4, issue 6).

   xai.h is one header: a program holds one of the two paths, chosen when it is compiled.  So this
   file is built twice: as bin/test_simd with the project's flags (-march=native: AVX2+FMA where
   the machine has them), and as bin/simd_scalar_twin with -DXAI_NO_SIMD -DXAI_TEST_SIMD_TWIN.
   The twin computes the same things and writes them to a file; the test computes them itself,
   runs the twin, and compares number by number:
     - the synthetic CaffeNet (every layer shape of the paper's network) at batch 2: scores, and
       the signal and heatmap of each of the paper's methods and of LRP with the Taylor LRN rule;
     - two small nets with every other layer type (grouped convolutions, LRN within a channel,
       AVE pooling, leaky ReLU, Split, Eltwise SUM and MAX, Concat, global AVE and MAX pooling),
       with every method xai_method_parse knows, and the weight gradients the trainer uses.
   Each array must agree within 1e-4 of its largest magnitude (scores 1e-5); and where the target
   has FMA, both builds use it in the same order (the GEMM's determinism contract), so the numbers
   must be the same bits.  A build without the AVX2 path (make SIMD=0) has nothing to compare and
   says so. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "test.h"
#include <stdint.h>

static const char *all_methods[] = {
    "sensitivity-l2", "sensitivity-linf", "deconv-l2", "deconv-linf", "lrp-eps:0.01", "lrp-eps:100",
    "lrp-ab:2", "lrp-eps:0.01+taylor", "lrp-zplus", "lrp-w2", "lrp-flat", "lrp-gamma", "lrp-zb",
    "lrp-composite", "gradxinput", "guided-l2", "guided-linf"};
#define PAPER_METHODS 8   /* the first eight: the paper's seven and LRP-eps with Taylor's LRN */

/* ---- what both builds compute ------------------------------------------------------------------ */

typedef struct { float *v; size_t n, cap; } results;

static void put(results *r, const float *v, size_t n)
{
    if (r->n + n > r->cap) {
        r->cap = (r->n + n) * 2;
        r->v = (float *)realloc(r->v, r->cap * sizeof(float));
        if (!r->v) { printf("out of memory\n"); exit(1); }
    }
    memcpy(r->v + r->n, v, n * sizeof(float));
    r->n += n;
}

static float uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

static xai_layer_param conv(int out, int k, int pad, int stride, int group)
{
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    p.num_output = out; p.kernel_h = p.kernel_w = k; p.pad_h = p.pad_w = pad;
    p.stride_h = p.stride_w = stride; p.group = group;
    return p;
}

/* A chain of CaffeNet's kinds at sizes that leave remainders in every register block. */
static xai_net *chain_net(void)
{
    xai_net *net = xai_net_new("chain");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), leaky = xai_layer_defaults(XAI_RELU);
    xai_layer_param lrn1 = xai_layer_defaults(XAI_LRN), lrn2 = xai_layer_defaults(XAI_LRN);
    xai_layer_param mx = xai_layer_defaults(XAI_POOLING), av = xai_layer_defaults(XAI_POOLING);
    xai_layer_param c1 = conv(20, 5, 2, 2, 1), c2 = conv(34, 3, 1, 1, 2), c3 = conv(17, 1, 0, 1, 1);
    xai_layer_param fc1 = xai_layer_defaults(XAI_INNER_PRODUCT), fc2 = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_layer_param drop = xai_layer_defaults(XAI_DROPOUT);
    lrn1.local_size = 5; lrn1.alpha = 1e-2f; lrn1.beta = 0.75f; lrn1.k = 1;
    lrn2.norm_region = XAI_LRN_WITHIN_CHANNEL; lrn2.local_size = 3; lrn2.alpha = 0.1f; lrn2.beta = 0.75f;
    mx.kernel_h = mx.kernel_w = 3; mx.stride_h = mx.stride_w = 2;
    av.pool = XAI_POOL_AVE; av.kernel_h = av.kernel_w = 3; av.stride_h = av.stride_w = 2;
    fc1.num_output = 37; fc2.num_output = 11;
    leaky.negative_slope = 0.1f;
    xai_net_input(net, "data", 3, 35, 33);
    xai_net_add(net, "conv1", &c1, "data", "conv1");
    xai_net_add(net, "relu1", &relu, "conv1", "conv1");
    xai_net_add(net, "norm1", &lrn1, "conv1", "norm1");
    xai_net_add(net, "pool1", &mx, "norm1", "pool1");
    xai_net_add(net, "conv2", &c2, "pool1", "conv2");
    xai_net_add(net, "relu2", &relu, "conv2", "conv2");
    xai_net_add(net, "norm2", &lrn2, "conv2", "norm2");
    xai_net_add(net, "conv3", &c3, "norm2", "conv3");
    xai_net_add(net, "relu3", &leaky, "conv3", "conv3");
    xai_net_add(net, "pool3", &av, "conv3", "pool3");
    xai_net_add(net, "fc1", &fc1, "pool3", "fc1");
    xai_net_add(net, "relu4", &relu, "fc1", "fc1");
    xai_net_add(net, "drop", &drop, "fc1", "fc1");
    xai_net_add(net, "fc2", &fc2, "fc1", "fc2");
    if (xai_net_finalize(net) != XAI_OK) { printf("chain net: %s\n", xai_failure_reason()); exit(1); }
    return net;
}

/* Two branches from the pixels, Eltwise SUM and MAX, Concat, Split, global AVE and MAX pooling
   (PROD has no LRP rule; the pixel layers read the data blob itself, as zB needs). */
static xai_net *graph_net(void)
{
    xai_net *net = xai_net_new("graph");
    xai_layer_param split = xai_layer_defaults(XAI_SPLIT), a = conv(9, 3, 1, 1, 1), b = conv(9, 1, 0, 1, 1);
    xai_layer_param sum = xai_layer_defaults(XAI_ELTWISE), mx = xai_layer_defaults(XAI_ELTWISE);
    xai_layer_param cat = xai_layer_defaults(XAI_CONCAT), relu = xai_layer_defaults(XAI_RELU);
    xai_layer_param gave = xai_layer_defaults(XAI_POOLING), gmax = xai_layer_defaults(XAI_POOLING);
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    sum.ncoeff = 2; sum.coeff[0] = 1; sum.coeff[1] = -0.5f;
    mx.operation = XAI_ELTWISE_MAX;
    gave.pool = XAI_POOL_AVE; gave.global_pooling = 1;
    gmax.global_pooling = 1;
    fc.num_output = 7;
    xai_net_input(net, "data", 3, 13, 15);
    xai_net_add(net, "a", &a, "data", "a");
    xai_net_add(net, "b", &b, "data", "b");
    xai_net_add(net, "sum", &sum, "a,b", "sum");
    xai_net_add(net, "max", &mx, "a,b", "max");
    xai_net_add(net, "cat", &cat, "sum,max", "cat");
    xai_net_add(net, "relu", &relu, "cat", "cat");
    xai_net_add(net, "split", &split, "cat", "c1,c2");
    xai_net_add(net, "gave", &gave, "c1", "gave");
    xai_net_add(net, "gmax", &gmax, "c2", "gmax");
    xai_net_add(net, "cat2", &cat, "gave,gmax", "cat2");
    xai_net_add(net, "fc", &fc, "cat2", "fc");
    if (xai_net_finalize(net) != XAI_OK) { printf("graph net: %s\n", xai_failure_reason()); exit(1); }
    return net;
}

/* Scores; then per method the signal and the heatmap of each image; then (small nets) the weight
   gradients of a cross-entropy-like score gradient.  Every number in one array, in a fixed order. */
static void compute(xai_net *net, int n, int nmethods, int with_grad, uint64_t seed, results *r)
{
    size_t in = xai_net_input_size(net), hw = (size_t)net->input_h * net->input_w;
    int classes = xai_net_num_classes(net), i, k;
    float *x = (float *)malloc(n * in * sizeof(float)), *sig = (float *)malloc(n * in * sizeof(float));
    float *heat = (float *)malloc(n * hw * sizeof(float));
    xai_tape *t = xai_tape_new(net, n);
    uint64_t s = seed;
    size_t j;
    for (j = 0; j < n * in; j++) x[j] = 100.0f * (uniform(&s) - 0.5f);
    xai_net_forward(net, t, x, n);
    for (i = 0; i < n; i++) put(r, xai_tape_scores(t, i), classes);
    for (k = 0; k < nmethods; k++) {
        xai_method m;
        if (xai_method_parse(all_methods[k], &m) != XAI_OK || xai_explain(net, t, x, n, &m, NULL, sig, heat, NULL) != XAI_OK) {
            printf("%s: %s\n", all_methods[k], xai_failure_reason());
            exit(1);
        }
        put(r, sig, n * in);
        put(r, heat, n * hw);
    }
    if (with_grad) {
        float *g = (float *)calloc((size_t)n * classes, sizeof(float)), *pg = (float *)calloc(net->nparams, sizeof(float));
        for (j = 0; j < (size_t)n * classes; j++) g[j] = uniform(&s) - 0.5f;
        xai_net_forward(net, t, x, n);
        xai_net_backward(net, t, g, pg);
        put(r, pg, net->nparams);
        free(g); free(pg);
    }
    xai_tape_free(t);
    free(x); free(sig); free(heat);
}

typedef struct { const char *what; size_t n; int scores; } part;   /* for the report */

static size_t compute_all(results *r, part *parts)
{
    xai_net *nets[3];
    int i, k, np = 0;
    const char *names[3] = {"CaffeNet", "chain", "graph"};
    /* first number: which path this build runs (1 AVX2, 0 portable), so the test knows the twin
       really is the portable build */
    float path = 0;
#ifdef XAI__AVX2
    path = 1;
#endif
    put(r, &path, 1);
    nets[0] = xai_net_caffenet();
    nets[1] = chain_net();
    nets[2] = graph_net();
    for (i = 0; i < 3; i++) {
        int n = i == 0 ? 2 : 3, nm = i == 0 ? PAPER_METHODS : (int)(sizeof all_methods / sizeof *all_methods);
        size_t in = xai_net_input_size(nets[i]), hw = (size_t)nets[i]->input_h * nets[i]->input_w;
        xai_net_fill_random(nets[i], 11 + i);
        compute(nets[i], n, nm, i > 0, 1000 + i, r);
        /* the layout, so a difference can be named */
        parts[np].what = names[i]; parts[np].n = (size_t)n * xai_net_num_classes(nets[i]); parts[np++].scores = 1;
        for (k = 0; k < nm; k++) {
            static char label[128][96];
            snprintf(label[np], sizeof label[np], "%s %s signal", names[i], all_methods[k]);
            parts[np].what = label[np]; parts[np].n = n * in; parts[np++].scores = 0;
            snprintf(label[np], sizeof label[np], "%s %s heatmap", names[i], all_methods[k]);
            parts[np].what = label[np]; parts[np].n = n * hw; parts[np++].scores = 0;
        }
        if (i > 0) { parts[np].what = i == 1 ? "chain weight gradients" : "graph weight gradients"; parts[np].n = nets[i]->nparams; parts[np++].scores = 0; }
        xai_net_free(nets[i]);
    }
    return np;
}

#ifdef XAI_TEST_SIMD_TWIN
/* ---- the twin: the portable path, its numbers to a file ---------------------------------------- */
int main(int argc, char **argv)
{
    results r = {0};
    part parts[128];
    if (argc != 2) { fprintf(stderr, "usage: simd_scalar_twin OUT.f32\n"); return 2; }
    compute_all(&r, parts);
    if (xai_file_write(argv[1], r.v, r.n * sizeof(float)) != XAI_OK) { fprintf(stderr, "%s\n", xai_failure_reason()); return 1; }
    free(r.v);
    return 0;
}
#else
/* ---- the test: this build's numbers against the twin's ----------------------------------------- */
int main(void)
{
    results r = {0};
    part parts[128];
    int np, p;
    size_t at = 1, len = 0, j, differ = 0;
    float *twin = NULL;
    FILE *f;
    const char *path = "bin/simd_scalar_twin.f32";
#ifndef XAI__AVX2
    printf("SKIP test_simd: this build has no SIMD path (no AVX2+FMA, or XAI_NO_SIMD): nothing to compare\n");
    test_report();
    return 0;
#endif
    np = (int)compute_all(&r, parts);
    remove(path);
    CHECK(system("bin/simd_scalar_twin bin/simd_scalar_twin.f32") == 0, "bin/simd_scalar_twin ran (make bin/simd_scalar_twin)");
    if ((f = fopen(path, "rb"))) {
        fseek(f, 0, SEEK_END);
        len = (size_t)ftell(f) / sizeof(float);
        fseek(f, 0, SEEK_SET);
        twin = (float *)malloc(len * sizeof(float) + 1);
        if (fread(twin, sizeof(float), len, f) != len) len = 0;
        fclose(f);
        remove(path);
    }
    CHECK(len == r.n, "the twin wrote %zu numbers, this build %zu", len, r.n);
    if (len != r.n) { test_report(); return 1; }
    CHECK(r.v[0] == 1 && twin[0] == 0, "this build runs the AVX2 path (%g) and the twin the portable one (%g)", r.v[0], twin[0]);
    for (p = 0; p < np; p++) {
        double big = 0, worst = 0, tol = parts[p].scores ? 1e-5 : 1e-4;
        for (j = 0; j < parts[p].n; j++) {
            double a = r.v[at + j], b = twin[at + j];
            if (fabs(a) > big) big = fabs(a);
            if (fabs(a - b) > worst) worst = fabs(a - b);
            if (a != b) differ++;
        }
        CHECK(big > 0 && worst <= tol * big, "%s: SIMD and portable differ by %.3g, %.3g of the largest magnitude %.3g",
              parts[p].what, worst, big > 0 ? worst / big : 0.0, big);
        if (p < 3 || worst > 0.1 * tol * big) printf("  %-44s largest %.3g, difference %.3g of it\n", parts[p].what, big, big > 0 ? worst / big : 0.0);
        at += parts[p].n;
    }
    printf("  %zu numbers compared, %zu not bit-identical\n", r.n - 1, differ);
#ifdef __FMA__
    /* the contract (xai.h, GEMM): where the target has a fused multiply-add, every path uses it in
       the same order, so the two builds agree bit for bit, not just within the tolerance */
    CHECK(differ == 0, "with FMA in both builds the paths should give the same bits: %zu numbers differ", differ);
#endif
    free(r.v); free(twin);
    test_report();
    return test_failed != 0;
}
#endif
