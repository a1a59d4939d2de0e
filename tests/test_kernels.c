/* The fast kernels (packed GEMM, im2col, max pooling, LRN) against the plain reference loops on every
   layer shape of CaffeNet, forward and backward, with LRP's weight modifiers; the same bits for 1 and
   2 threads.  The teaching build (XAI_NO_FAST) has no fast kernels: nothing to compare. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "test.h"

#ifdef XAI_NO_FAST
int main(void)
{
    printf("SKIP test_kernels: the teaching build (XAI_NO_FAST) has no fast kernels to compare\n");
    return test_report();
}
#else

static void fill(float *p, size_t n, uint64_t seed, float scale)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = scale * (xai__uniform(xai__random_key(seed, i, 0, 0, 0)) * 2 - 1);
}

/* A convolution's forward product with the im2col matrix never written (packed from the images)
   against im2col + GEMM: the same bits, every group, all images of the batch side by side. */
static void check_implicit_im2col(const xai_layer *L, const xai_tensor *x, const xai_tensor *y)
{
    int G = L->p.group, Cg = x->c / G, Og = L->p.num_output / G, K = Cg * L->p.kernel_h * L->p.kernel_w, N = y->h * y->w, g, b, m;
    size_t ld = (size_t)x->n * N, xs = (size_t)x->c * x->h * x->w;
    float *col = (float *)malloc(sizeof(float) * (size_t)x->c * L->p.kernel_h * L->p.kernel_w * ld);
    float *ce = (float *)malloc(sizeof(float) * (size_t)Og * ld), *ci = (float *)malloc(sizeof(float) * (size_t)Og * ld);
    int same = 1;
    xai__conv_geom geom = xai__conv_geom_of(L, x->c, x->h, x->w, y->h, y->w);
    for (b = 0; b < x->n; b++) xai__im2col(&geom, x->data + (size_t)b * xs, x->c, x->h, x->w, y->h, y->w, col + (size_t)b * N, ld);
    for (m = 0; m < 2; m++)
        for (g = 0; g < G; g++) {
            xai__im2col_view v;
            int mod = m ? XAI__MOD_NEG : XAI__MOD_NONE;
            v.p = &geom; v.x = x->data; v.xs = xs; v.C0 = g * Cg; v.H = x->h; v.W = x->w; v.OH = y->h; v.OW = y->w;
            v.oh0 = v.ow0 = 0;
            xai__gemm(Og, (int)ld, K, L->weight + (size_t)g * Og * K, K, 0, mod, col + (size_t)g * K * ld, (int)ld, 0, XAI__MOD_NONE, ce, (int)ld, 0);
            xai__gemm_im2col(Og, (int)ld, K, L->weight + (size_t)g * Og * K, K, mod, &v, ci, (int)ld, NULL);
            if (memcmp(ce, ci, sizeof(float) * (size_t)Og * ld)) same = 0;
            if (!m) { /* the weights packed once beforehand (the incremental pass): the same bits */
                float *packed = (float *)malloc(sizeof(float) * (size_t)xai__pack_a_rows(Og) * K);
                xai__pack_a_all(Og, K, L->weight + (size_t)g * Og * K, K, packed);
                xai__gemm_im2col(Og, (int)ld, K, L->weight + (size_t)g * Og * K, K, mod, &v, ci, (int)ld, packed);
                if (memcmp(ce, ci, sizeof(float) * (size_t)Og * ld)) same = 0;
                free(packed);
            }
        }
    CHECK(same, "%s (batch %d): implicit im2col = im2col + GEMM, also with the weights packed beforehand, bit for bit", L->name, x->n);
    free(col); free(ce); free(ci);
}

/* One layer of the CaffeNet (index li), its bottom filled at random. */
static void check_layer(xai_net *net, int li, int n)
{
    const xai_layer *L = &net->layer[li];
    xai_tape *fast = xai_tape_new(net, n), *ref = xai_tape_new(net, n);
    const xai_blob *bb = &net->blob[L->bottom[0]], *tb = &net->blob[L->top[0]];
    xai_tensor x, g, y1, y2, d1, d2;
    float *w1, *w2, *b1, *b2;
    int mods[2] = {XAI__MOD_NONE, XAI__MOD_POS}, mi;
    ref->reference = 1;
    xai_tensor_alloc(&x, n, bb->c, bb->h, bb->w);
    xai_tensor_alloc(&g, n, tb->c, tb->h, tb->w);
    xai_tensor_alloc(&y1, n, tb->c, tb->h, tb->w);
    xai_tensor_alloc(&y2, n, tb->c, tb->h, tb->w);
    xai_tensor_alloc(&d1, n, bb->c, bb->h, bb->w);
    xai_tensor_alloc(&d2, n, bb->c, bb->h, bb->w);
    fill(x.data, xai_tensor_count(&x), 11 + li, 1);
    fill(g.data, xai_tensor_count(&g), 23 + li, 1);
    if (L->p.type == XAI_CONVOLUTION) check_implicit_im2col(L, &x, &y1);
    for (mi = 0; mi < 2; mi++) {
        double e;
        xai__linear_forward(fast, L, &x, mods[mi], 1, &y1);
        xai__linear_forward(ref, L, &x, mods[mi], 1, &y2);
        e = test_max_rel_diff(y1.data, y2.data, xai_tensor_count(&y1));
        CHECK(e < 1e-5, "%s forward (mod %d, batch %d): fast vs reference %.2g", L->name, mods[mi], n, e);
        fill(d1.data, xai_tensor_count(&d1), 5, 1);
        memcpy(d2.data, d1.data, xai_tensor_count(&d1) * sizeof(float));
        xai__linear_backward_data(fast, L, &g, mods[mi], &d1, 1);
        xai__linear_backward_data(ref, L, &g, mods[mi], &d2, 1);
        e = test_max_rel_diff(d1.data, d2.data, xai_tensor_count(&d1));
        CHECK(e < 1e-5, "%s backward W^T g (mod %d, batch %d): fast vs reference %.2g", L->name, mods[mi], n, e);
    }
    w1 = (float *)calloc(L->weight_count, sizeof(float));
    w2 = (float *)calloc(L->weight_count, sizeof(float));
    b1 = (float *)calloc(L->bias_count, sizeof(float));
    b2 = (float *)calloc(L->bias_count, sizeof(float));
    xai__linear_backward_weight(fast, L, &x, &g, w1, b1);
    xai__linear_backward_weight(ref, L, &x, &g, w2, b2);
    CHECK(test_max_rel_diff(w1, w2, L->weight_count) < 1e-5, "%s weight gradient: fast vs reference %.2g", L->name, test_max_rel_diff(w1, w2, L->weight_count));
    CHECK(test_max_rel_diff(b1, b2, L->bias_count) < 1e-5, "%s bias gradient: fast vs reference", L->name);
    /* the same bits on 1 and 2 threads */
    set_threads(1);
    xai__linear_forward(fast, L, &x, XAI__MOD_NONE, 1, &y1);
    set_threads(2);
    xai__linear_forward(fast, L, &x, XAI__MOD_NONE, 1, &y2);
    CHECK(memcmp(y1.data, y2.data, xai_tensor_count(&y1) * sizeof(float)) == 0, "%s forward: 1 and 2 threads give the same bits", L->name);
    free(w1); free(w2); free(b1); free(b2);
    xai_tensor_free(&x); xai_tensor_free(&g); xai_tensor_free(&y1); xai_tensor_free(&y2); xai_tensor_free(&d1); xai_tensor_free(&d2);
    xai_tape_free(fast);
    xai_tape_free(ref);
}

/* Odd shapes: 1x1 convolutions (no im2col), stride and dilation, transposed fc. */
static void check_odd_shapes(void)
{
    xai_net *net = xai_net_new("odd");
    xai_layer_param a = xai_layer_defaults(XAI_CONVOLUTION), b = xai_layer_defaults(XAI_CONVOLUTION), c = xai_layer_defaults(XAI_CONVOLUTION);
    xai_layer_param f = xai_layer_defaults(XAI_INNER_PRODUCT);
    int li;
    a.num_output = 10; a.kernel_h = a.kernel_w = 1;                       /* pointwise */
    b.num_output = 6; b.kernel_h = 3; b.kernel_w = 2; b.stride_h = 2; b.pad_w = 1; b.dilation_h = 2; b.group = 2;
    c.num_output = 7; c.kernel_h = c.kernel_w = 1; c.stride_h = c.stride_w = 2;   /* 1x1 with stride: im2col */
    f.num_output = 13; f.transpose = 1;
    xai_net_input(net, "data", 4, 13, 11);
    xai_net_add(net, "pointwise", &a, "data", "a");
    xai_net_add(net, "strided", &b, "a", "b");
    xai_net_add(net, "pointwise_stride2", &c, "b", "c");
    xai_net_add(net, "fc_transposed", &f, "c", "f");
    xai_net_finalize(net);
    xai_net_fill_random(net, 4);
    for (li = 0; li < net->nlayer; li++) { check_layer(net, li, 1); check_layer(net, li, 3); }
    xai_net_free(net);
}

/* LRN: the plane-wise fast path against the reference loop, forward and gradient (CaffeNet's
   norm1 and norm2, and CIFAR-10 full's WITHIN_CHANNEL). */
static void check_lrn(int C, int H, int W, int region, int size, float alpha, float beta, const char *what)
{
    xai_net *net = xai_net_new("lrn");
    xai_layer_param p = xai_layer_defaults(XAI_LRN);
    xai_tape *fast, *ref;
    size_t n = (size_t)2 * C * H * W;
    float *x = (float *)malloc(n * sizeof(float));
    xai_method m;
    p.norm_region = region; p.local_size = size; p.alpha = alpha; p.beta = beta;
    xai_net_input(net, "data", C, H, W);
    xai_net_add(net, "norm", &p, "data", "norm");
    xai_net_finalize(net);
    fast = xai_tape_new(net, 2);
    ref = xai_tape_new(net, 2);
    ref->reference = 1;
    fill(x, n, 77, 60);    /* activations of CaffeNet's size: the normalisation matters */
    xai_net_forward(net, fast, x, 2);
    xai_net_forward(net, ref, x, 2);
    CHECK(test_max_rel_diff(fast->blob[1].data, ref->blob[1].data, n) < 1e-5, "%s forward: fast vs reference %.2g", what,
          test_max_rel_diff(fast->blob[1].data, ref->blob[1].data, n));
    CHECK(test_max_rel_diff(fast->scale[0], ref->scale[0], n) < 1e-5, "%s scale: fast vs reference", what);
    {
        float *g = (float *)malloc(n * sizeof(float));
        size_t i;
        fill(g, n, 78, 1);
        xai_method_parse("sensitivity-l2", &m);
        /* the gradient through the engine: start a signal at the top by hand */
        for (i = 0; i < 2; i++) {
            xai_tape *t = i ? ref : fast;
            xai__tape_signals(t);
            memcpy(t->signal[1].data, g, n * sizeof(float));
            {
                xai__ctx cx;
                cx.net = net; cx.t = t; cx.m = &m; cx.rule = &m.conv;
                xai__lrn_backward_gradient(&cx, &net->layer[0], 0);
            }
        }
        CHECK(test_max_rel_diff(fast->signal[0].data, ref->signal[0].data, n) < 1e-5, "%s gradient: fast vs reference %.2g", what,
              test_max_rel_diff(fast->signal[0].data, ref->signal[0].data, n));
        free(g);
    }
    free(x);
    xai_tape_free(fast);
    xai_tape_free(ref);
    xai_net_free(net);
}

/* Pooling: the plain loop (the window scanned as Caffe does) against the fast row-at-a-time kernel,
   for MAX (maxima and switches, bit for bit, ties and -FLT_MAX included) and AVE. */
static void check_pool(int C, int H, int W, int pool, int k, int s, int pad, int round_mode, int ties)
{
    xai_net *net = xai_net_new("pool");
    xai_layer_param p = xai_layer_defaults(XAI_POOLING);
    xai_tape *fast, *ref;
    size_t n, out, i;
    float *x;
    p.pool = pool; p.kernel_h = p.kernel_w = k; p.stride_h = p.stride_w = s; p.pad_h = p.pad_w = pad; p.round_mode = round_mode;
    xai_net_input(net, "data", C, H, W);
    xai_net_add(net, "pool", &p, "data", "pool");
    xai_net_finalize(net);
    fast = xai_tape_new(net, 2);
    ref = xai_tape_new(net, 2);
    ref->reference = 1;
    n = (size_t)2 * C * H * W;
    x = (float *)malloc(n * sizeof(float));
    fill(x, n, 91 + k, 10);
    if (ties)   /* few distinct values: many windows hold their maximum twice, and some -FLT_MAX */
        for (i = 0; i < n; i++) x[i] = i % 7 == 3 ? -FLT_MAX : (float)((int)(x[i] + 10) / 5);
    xai_net_forward(net, fast, x, 2);
    xai_net_forward(net, ref, x, 2);
    out = xai_tensor_count(&fast->blob[1]);
    CHECK(memcmp(fast->blob[1].data, ref->blob[1].data, out * sizeof(float)) == 0, "pool %s k%d s%d pad %d %dx%d%s: fast = plain loop, bit for bit",
          pool == XAI_POOL_MAX ? "MAX" : "AVE", k, s, pad, H, W, ties ? " (ties)" : "");
    if (pool == XAI_POOL_MAX)
        CHECK(memcmp(fast->switches[0], ref->switches[0], out * sizeof(int)) == 0, "pool MAX k%d s%d pad %d %dx%d%s: the same switches", k, s, pad,
              H, W, ties ? " (ties)" : "");
    free(x);
    xai_tape_free(fast);
    xai_tape_free(ref);
    xai_net_free(net);
}

int main(void)
{
    int ties;
    for (ties = 0; ties < 2; ties++) {
        check_pool(96, 55, 55, XAI_POOL_MAX, 3, 2, 0, XAI_ROUND_CEIL, ties);     /* CaffeNet's pool1 */
        check_pool(5, 13, 13, XAI_POOL_MAX, 3, 2, 0, XAI_ROUND_CEIL, ties);      /* pool5 */
        check_pool(3, 17, 19, XAI_POOL_MAX, 3, 2, 1, XAI_ROUND_CEIL, ties);      /* padding, ceil */
        check_pool(3, 17, 19, XAI_POOL_MAX, 2, 1, 0, XAI_ROUND_FLOOR, ties);     /* stride 1 */
        check_pool(3, 23, 21, XAI_POOL_MAX, 4, 3, 2, XAI_ROUND_CEIL, ties);      /* stride 3: the scalar selects */
        check_pool(3, 17, 19, XAI_POOL_AVE, 3, 2, 1, XAI_ROUND_CEIL, ties);
    }
    check_lrn(96, 27, 27, XAI_LRN_ACROSS_CHANNELS, 5, 1e-4f, 0.75f, "norm1 96x27x27");
    check_lrn(256, 13, 13, XAI_LRN_ACROSS_CHANNELS, 5, 1e-4f, 0.75f, "norm2 256x13x13");
    check_lrn(32, 16, 16, XAI_LRN_WITHIN_CHANNEL, 3, 5e-5f, 0.75f, "within-channel 32x16x16");
    check_lrn(7, 5, 5, XAI_LRN_ACROSS_CHANNELS, 3, 0.5f, 0.6f, "beta 0.6 (powf path)");
    xai_net *net = xai_net_caffenet();
    int li;
    xai_net_fill_random(net, 2);
    for (li = 0; li < net->nlayer; li++)
        if (net->layer[li].p.type == XAI_CONVOLUTION || net->layer[li].p.type == XAI_INNER_PRODUCT) check_layer(net, li, li >= 15 ? 3 : 1);
    xai_net_free(net);
    check_odd_shapes();
    return test_report();
}
#endif
