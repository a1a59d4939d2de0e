/* The explainers: sensitivity against finite differences, LRP's conservation, two-layer cases
   computed by hand for every rule, max pooling's winner-take-all with overlaps and ties, LRN
   identity and Taylor, batches against single images. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "test.h"

static float frand(uint64_t *s)   /* a small LCG: the tests' own random numbers in [-1, 1) */
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void fill(float *p, size_t n, float scale, uint64_t *s)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = scale * frand(s);
}

static void randomize(xai_net *net, uint64_t seed, int zero_bias)
{
    uint64_t s = seed;
    int i;
    for (i = 0; i < net->nlayer; i++) {
        xai_layer *L = &net->layer[i];
        if (L->weight) fill(L->weight, L->weight_count, 1.5f / sqrtf((float)(L->weight_count / (size_t)L->p.num_output)), &s);
        if (L->bias) fill(L->bias, L->bias_count, zero_bias ? 0.0f : 0.2f, &s);
    }
}

static xai_layer_param conv_p(int n, int k, int pad, int group)
{
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    p.num_output = n; p.kernel_h = p.kernel_w = k; p.pad_h = p.pad_w = pad; p.group = group;
    return p;
}

/* A chain with every layer type of CaffeNet and both kinds of LRN and pooling. */
static xai_net *chain_net(int zero_bias, uint64_t seed)
{
    xai_net *net = xai_net_new("chain");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), leaky = xai_layer_defaults(XAI_RELU), drop = xai_layer_defaults(XAI_DROPOUT);
    xai_layer_param lrn1 = xai_layer_defaults(XAI_LRN), lrn2 = xai_layer_defaults(XAI_LRN), mx = xai_layer_defaults(XAI_POOLING), av = xai_layer_defaults(XAI_POOLING);
    xai_layer_param c1 = conv_p(4, 3, 1, 1), c2 = conv_p(6, 3, 1, 2), fc1 = xai_layer_defaults(XAI_INNER_PRODUCT), fc2 = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_layer_param soft = xai_layer_defaults(XAI_SOFTMAX);
    lrn1.local_size = 3; lrn1.alpha = 0.5f; lrn1.beta = 0.75f; lrn1.k = 2;
    lrn2.norm_region = XAI_LRN_WITHIN_CHANNEL; lrn2.local_size = 3; lrn2.alpha = 0.5f; lrn2.beta = 0.75f;
    mx.kernel_h = mx.kernel_w = 3; mx.stride_h = mx.stride_w = 2;
    av.pool = XAI_POOL_AVE; av.kernel_h = av.kernel_w = 2; av.stride_h = av.stride_w = 2;
    fc1.num_output = 5; fc2.num_output = 3;
    leaky.negative_slope = 0.1f;
    xai_net_input(net, "data", 3, 8, 8);
    xai_net_add(net, "conv1", &c1, "data", "conv1");
    xai_net_add(net, "relu1", &relu, "conv1", "conv1");
    xai_net_add(net, "norm1", &lrn1, "conv1", "norm1");
    xai_net_add(net, "pool1", &mx, "norm1", "pool1");
    xai_net_add(net, "conv2", &c2, "pool1", "conv2");
    xai_net_add(net, "relu2", &relu, "conv2", "conv2");
    xai_net_add(net, "norm2", &lrn2, "conv2", "norm2");
    xai_net_add(net, "pool2", &av, "norm2", "pool2");
    xai_net_add(net, "fc1", &fc1, "pool2", "fc1");
    xai_net_add(net, "relu3", &leaky, "fc1", "fc1");
    xai_net_add(net, "drop", &drop, "fc1", "fc1");
    xai_net_add(net, "fc2", &fc2, "fc1", "fc2");
    xai_net_add(net, "prob", &soft, "fc2", "prob");
    if (xai_net_finalize(net) != XAI_OK) { printf("chain net: %s\n", xai_failure_reason()); exit(1); }
    randomize(net, seed, zero_bias);
    return net;
}

/* A graph: Split, two branches, Eltwise SUM/MAX/PROD, Concat, global AVE pooling. */
static xai_net *graph_net(int with_prod, int zero_bias, uint64_t seed)
{
    xai_net *net = xai_net_new("graph");
    xai_layer_param split = xai_layer_defaults(XAI_SPLIT), a = conv_p(3, 3, 1, 1), b = conv_p(3, 1, 0, 1);
    xai_layer_param sum = xai_layer_defaults(XAI_ELTWISE), mx = xai_layer_defaults(XAI_ELTWISE), prod = xai_layer_defaults(XAI_ELTWISE);
    xai_layer_param cat = xai_layer_defaults(XAI_CONCAT), relu = xai_layer_defaults(XAI_RELU), gp = xai_layer_defaults(XAI_POOLING);
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    sum.ncoeff = 2; sum.coeff[0] = 1; sum.coeff[1] = -0.5f;
    mx.operation = XAI_ELTWISE_MAX;
    prod.operation = XAI_ELTWISE_PROD;
    gp.pool = XAI_POOL_AVE; gp.global_pooling = 1;
    fc.num_output = 4;
    xai_net_input(net, "data", 2, 6, 6);
    xai_net_add(net, "split", &split, "data", "d1,d2");
    xai_net_add(net, "a", &a, "d1", "a");
    xai_net_add(net, "b", &b, "d2", "b");
    xai_net_add(net, "sum", &sum, "a,b", "sum");
    xai_net_add(net, "max", &mx, "a,b", "max");
    if (with_prod) xai_net_add(net, "prod", &prod, "a,b", "prod");
    xai_net_add(net, "cat", &cat, with_prod ? "sum,max,prod" : "sum,max", "cat");
    xai_net_add(net, "relu", &relu, "cat", "cat");
    xai_net_add(net, "pool", &gp, "cat", "pool");
    xai_net_add(net, "fc", &fc, "pool", "fc");
    if (xai_net_finalize(net) != XAI_OK) { printf("graph net: %s\n", xai_failure_reason()); exit(1); }
    randomize(net, seed, zero_bias);
    return net;
}

static float score_of(const xai_net *net, xai_tape *t, const float *x, int c)
{
    xai_net_forward(net, t, x, 1);
    return xai_tape_scores(t, 0)[c];
}

/* Sensitivity = df_c/dx: central differences, computed in double, one input at a time, at two
   step sizes; where the two disagree a kink (ReLU, max) lies within the step and the input is
   left out. */
static double central_difference(const xai_net *net, xai_tape *t, float *x, size_t i, int c, double h)
{
    float x0 = x[i];
    double fp, fm;
    x[i] = (float)(x0 + h); fp = score_of(net, t, x, c);
    x[i] = (float)(x0 - h); fm = score_of(net, t, x, c);
    x[i] = x0;
    return (fp - fm) / (((double)(float)(x0 + h)) - (double)(float)(x0 - h));
}

static void check_gradient(xai_net *net, const char *what, uint64_t seed)
{
    size_t n = xai_net_input_size(net), i;
    float *x = (float *)malloc(n * sizeof(float)), *g = (float *)malloc(n * sizeof(float));
    xai_tape *t = xai_tape_new(net, 1);
    xai_method m;
    int target = -1, checked = 0, bad = 0;
    double gmax = 0, worst = 0, h = 2e-3, tol;
    uint64_t s = seed;
    fill(x, n, 1.0f, &s);
    xai_method_parse("sensitivity-l2", &m);
    CHECK(xai_explain(net, t, x, 1, &m, &target, g, NULL, NULL) == XAI_OK, "%s: explain: %s", what, xai_failure_reason());
    for (i = 0; i < n; i++) if (fabs(g[i]) > gmax) gmax = fabs(g[i]);
    tol = 2e-3 * gmax;
    for (i = 0; i < n; i++) {
        double wide = central_difference(net, t, x, i, target, h), narrow = central_difference(net, t, x, i, target, h / 2);
        if (fabs(wide - narrow) > tol) continue;   /* a kink within h */
        checked++;
        if (fabs(narrow - g[i]) > worst) worst = fabs(narrow - g[i]);
        if (fabs(narrow - g[i]) > tol) bad++;
    }
    CHECK(checked >= (int)(0.8 * n), "%s: only %d of %zu inputs away from kinks", what, checked, n);
    CHECK(bad == 0, "%s: %d of %d gradients differ from finite differences (worst %g, max |g| %g)", what, bad, checked, worst, gmax);
    CHECK(gmax > 1e-3, "%s: the gradient is not all zero (%g)", what, gmax);
    xai_tape_free(t);
    free(x);
    free(g);
}

/* LRP with zero biases: the relevance at the input of every layer sums to f_c. */
static void check_conservation(xai_net *net, const char *method, double tol, const char *what)
{
    size_t n = xai_net_input_size(net);
    float *x = (float *)malloc(n * sizeof(float)), *heat = (float *)malloc(n * sizeof(float)), f;
    xai_tape *t = xai_tape_new(net, 1);
    xai_method m;
    int li, target = -1, bad = 0;
    double sum_heat = 0;
    uint64_t s = 99;
    size_t i;
    fill(x, n, 1.0f, &s);
    CHECK(xai_method_parse(method, &m) == XAI_OK, "parse %s", method);
    CHECK(xai_explain(net, t, x, 1, &m, &target, NULL, heat, &f) == XAI_OK, "%s: explain: %s", what, xai_failure_reason());
    for (i = 0; i < (size_t)net->input_h * net->input_w; i++) sum_heat += heat[i];
    CHECK(test_close(sum_heat, f, tol), "%s: heatmap sums to %.7g, f_c = %.7g", what, sum_heat, f);
    for (li = 0; li < net->nlayer; li++) {
        const xai_layer *L = &net->layer[li];
        double total = 0;
        int b;
        if (L->p.type == XAI_SOFTMAX) continue;
        for (b = 0; b < L->nbottom; b++) {
            const xai_tensor *r = &t->signal[L->bottom[b]];
            for (i = 0; i < xai_tensor_count(r); i++) total += r->data[i];
        }
        if (L->p.type == XAI_SOFTMAX || (net->blob[L->bottom[0]].producer >= 0 && net->layer[net->blob[L->bottom[0]].producer].ntop > 1) ||
            (L->nbottom > 1))
            continue;   /* inside a branch only part of f_c flows: checked at the cuts (the Split's bottom, the input) */
        if (!test_close(total, f, tol)) { bad++; printf("  %s: layer %s: relevance at its bottom %.7g, f_c %.7g\n", what, L->name, total, f); }
    }
    CHECK(bad == 0, "%s: relevance is conserved at every layer", what);
    CHECK(fabs(f) > 1e-3, "%s: f_c is not zero (%g)", what, f);
    xai_tape_free(t);
    free(x);
    free(heat);
}

/* The hand-computed two-layer net: x = (1, 2); fc1 W = [[1,-1],[2,1],[1,1]], b = (0,-1,0):
   z = (-1, 3, 3), a = relu(z) = (0, 3, 3); fc2 w = (1, 2, -1), b = 0.5: f = 3.5. */
static xai_net *hand_net(void)
{
    xai_net *net = xai_net_new("hand");
    xai_layer_param fc1 = xai_layer_defaults(XAI_INNER_PRODUCT), fc2 = xai_layer_defaults(XAI_INNER_PRODUCT), relu = xai_layer_defaults(XAI_RELU);
    float w1[6] = {1, -1, 2, 1, 1, 1}, b1[3] = {0, -1, 0}, w2[3] = {1, 2, -1}, b2[1] = {0.5f};
    fc1.num_output = 3; fc2.num_output = 1;
    xai_net_input(net, "data", 2, 1, 1);
    xai_net_add(net, "fc1", &fc1, "data", "fc1");
    xai_net_add(net, "relu", &relu, "fc1", "fc1");
    xai_net_add(net, "fc2", &fc2, "fc1", "fc2");
    xai_net_finalize(net);
    memcpy(net->layer[0].weight, w1, sizeof w1); memcpy(net->layer[0].bias, b1, sizeof b1);
    memcpy(net->layer[2].weight, w2, sizeof w2); memcpy(net->layer[2].bias, b2, sizeof b2);
    return net;
}

static void explain_hand(xai_net *net, const float *x, const char *method, const float *expect, const char *what)
{
    xai_method m;
    float sig[2];
    char buf[160];
    int i;
    CHECK(xai_method_parse(method, &m) == XAI_OK, "parse %s: %s", method, xai_failure_reason());
    CHECK(xai_explain(net, NULL, x, 1, &m, NULL, sig, NULL, NULL) == XAI_OK, "%s: %s", what, xai_failure_reason());
    for (i = 0; i < 2; i++) {
        snprintf(buf, sizeof buf, "%s, input %d", what, i);
        CHECK_CLOSE(sig[i], expect[i], 1e-5, buf);
    }
}

static void test_hand_cases(void)
{
    xai_net *net = hand_net();
    float x[2] = {1, 2};
    {   /* gradient: df/da = (1,2,-1), ReLU mask (0,1,1) -> (0,2,-1), W1^T -> (4-1, 2-1) */
        float e[2] = {3, 1};
        explain_hand(net, x, "sensitivity-l2", e, "sensitivity");
    }
    {   /* guided: also drop negative signal: (0,2,0) -> (4, 2) */
        float e[2] = {4, 2};
        explain_hand(net, x, "guided-l2", e, "guided backprop");
    }
    {   /* deconvolution starts from f = 3.5: (3.5, 7, -3.5) -> relu of the signal (3.5, 7, 0) -> W1^T */
        float e[2] = {3.5f + 14, -3.5f + 7};
        explain_hand(net, x, "deconv-l2", e, "deconvolution");
    }
    {   /* eps = 0.01: fc2 z_i = a_i w_i = (0, 6, -3), z = 3.5 -> R_a = (0, 6, -3) * 3.5/3.51;
           fc1: unit 1 (z = 3) gets x_i w_1i = (2, 2), unit 2 (z = 3) gets (1, 2), each / 3.01 */
        double r1 = 6 * 3.5 / 3.51, r2 = -3 * 3.5 / 3.51;
        float e[2] = {(float)((2 * r1 + 1 * r2) / 3.01), (float)((2 * r1 + 2 * r2) / 3.01)};
        explain_hand(net, x, "lrp-eps:0.01", e, "LRP-eps");
    }
    {   /* alpha 2, beta 1: fc2 z+ = 6 + 0.5 (b+), z- = -3: R_a = (0, 2*6/6.5*3.5, -1*(-3/-3)*3.5);
           fc1 unit 1: contributions (2, 2), b = -1: z+ = 4, z- = -1 (the bias alone): R = 2 * (2/4, 2/4) * R_1;
           unit 2: (1, 2), b = 0: z+ = 3, no negative part (its term is dropped): R = 2 * (1/3, 2/3) * R_2 */
        double r1 = 2 * 6 / 6.5 * 3.5, r2 = -3.5;
        float e[2] = {(float)(r1 + 2.0 / 3 * r2), (float)(r1 + 4.0 / 3 * r2)};
        explain_hand(net, x, "lrp-ab:2", e, "LRP-alpha2-beta1");
    }
    {   /* z+ (alpha 1, beta 0) */
        double r1 = 6 / 6.5 * 3.5;   /* the negative contribution of unit 2 gets nothing */
        float e[2] = {(float)(r1 / 2), (float)(r1 / 2)};
        explain_hand(net, x, "lrp-zplus", e, "LRP-z+");
    }
    xai_net_free(net);

    /* zB, w^2 and flat on a one-layer net: f = 2 x0 - x1, pixels in [0, 255] * scale = [0, 1] */
    {
        xai_net *one = xai_net_new("one");
        xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
        float w[2] = {2, -1}, xz[2] = {0.5f, 0.5f};
        fc.num_output = 1; fc.bias_term = 0;
        xai_net_input(one, "data", 2, 1, 1);
        xai_net_add(one, "fc", &fc, "data", "fc");
        xai_net_finalize(one);
        one->pre.scale = 1.0f / 255;
        memcpy(one->layer[0].weight, w, sizeof w);
        {   /* zB: x w - l w+ - h w- = (1 - 0 - 0, -0.5 - 0 + 1) = (1, 0.5), R = f = 0.5 shared 2:1 */
            float e[2] = {0.5f * 1 / 1.5f, 0.5f * 0.5f / 1.5f};
            explain_hand(one, xz, "lrp-zb", e, "LRP-zB");
        }
        {   /* w^2: (4, 1) / 5 of f */
            float e[2] = {0.4f, 0.1f};
            explain_hand(one, xz, "lrp-w2", e, "LRP-w2");
        }
        {   /* eps on a negative score: x = (0.5, 2), f = -1, z_i = (1, -2); the stabiliser takes the
               sign of z: R = z_i / (f - eps) * f with eps = 1 */
            float xn[2] = {0.5f, 2}, e[2] = {0.5f, -1};
            explain_hand(one, xn, "lrp-eps:1", e, "LRP-eps, negative z");
        }
        {   /* flat: half each */
            float e[2] = {0.25f, 0.25f};
            explain_hand(one, xz, "lrp-flat", e, "LRP-flat");
        }
        xai_net_free(one);
    }
}

static void test_maxpool_routing(void)
{
    /* 5x5 -> MAX 3/2 -> 2x2 -> fc of ones.  The centre is the maximum of all four overlapping
       windows: its gradient is 4; with all inputs equal each window's first pixel wins. */
    xai_net *net = xai_net_new("pool");
    xai_layer_param mx = xai_layer_defaults(XAI_POOLING), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_method m;
    float x[25], g[25], r[25];
    int i, ok = 1;
    mx.kernel_h = mx.kernel_w = 3; mx.stride_h = mx.stride_w = 2;
    fc.num_output = 1; fc.bias_term = 0;
    xai_net_input(net, "data", 1, 5, 5);
    xai_net_add(net, "pool", &mx, "data", "pool");
    xai_net_add(net, "fc", &fc, "pool", "fc");
    xai_net_finalize(net);
    for (i = 0; i < 4; i++) net->layer[1].weight[i] = 1;
    for (i = 0; i < 25; i++) x[i] = 1;
    x[12] = 9;
    xai_method_parse("sensitivity-l2", &m);
    xai_explain(net, NULL, x, 1, &m, NULL, g, NULL, NULL);
    for (i = 0; i < 25; i++) if (g[i] != (i == 12 ? 4.0f : 0.0f)) ok = 0;
    CHECK(ok, "overlapping max windows add up at the shared winner");
    xai_method_parse("lrp-eps:1e-9", &m);   /* then eps = 0 by hand: the parser wants eps > 0 */
    m.first.eps = m.conv.eps = m.fc.eps = 0;
    xai_explain(net, NULL, x, 1, &m, NULL, r, NULL, NULL);
    for (i = 0; i < 25; i++) if (r[i] != (i == 12 ? 36.0f : 0.0f)) ok = 0;
    CHECK(ok, "LRP: winner-take-all, relevance 4 x 9 at the centre");
    for (i = 0; i < 25; i++) x[i] = 2;
    xai_method_parse("sensitivity-l2", &m);
    xai_explain(net, NULL, x, 1, &m, NULL, g, NULL, NULL);
    for (i = 0; i < 25; i++) if (g[i] != ((i == 0 || i == 2 || i == 10 || i == 12) ? 1.0f : 0.0f)) ok = 0;
    CHECK(ok, "ties: each window's first maximum takes the signal");
    xai_net_free(net);
}

static void test_lrn_rules(void)
{
    /* one pixel, 3 channels: LRN (n 3, alpha 3, beta 1, k 1) then fc of ones without bias, so the
       relevance arriving at the LRN's top is y itself */
    xai_net *net = xai_net_new("lrn");
    xai_layer_param lrn = xai_layer_defaults(XAI_LRN), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_tape *t;
    xai_method m;
    float x[3] = {1, 2, 3}, r[3], y[3], J[3][3];
    double e[3];
    int j, k;
    lrn.local_size = 3; lrn.alpha = 3; lrn.beta = 1; lrn.k = 1;
    fc.num_output = 1; fc.bias_term = 0;
    xai_net_input(net, "data", 3, 1, 1);
    xai_net_add(net, "norm", &lrn, "data", "norm");
    xai_net_add(net, "fc", &fc, "norm", "fc");
    xai_net_finalize(net);
    for (k = 0; k < 3; k++) net->layer[1].weight[k] = 1;
    y[0] = 1.f / 6; y[1] = 2.f / 15; y[2] = 3.f / 14;
    xai_method_parse("lrp-eps:1e-9", &m);   /* then eps = 0 by hand: the parser wants eps > 0 */
    m.first.eps = m.conv.eps = m.fc.eps = 0;
    xai_explain(net, NULL, x, 1, &m, NULL, r, NULL, NULL);
    for (k = 0; k < 3; k++) CHECK_CLOSE(r[k], y[k], 1e-6, "LRN as identity: R_x = R_y = y");
    /* Taylor: dy_k/dx_j = [j=k]/s_k - 2 x_k x_j / s_k^2 inside the window (alpha/n = 1, beta = 1),
       s = (6, 15, 14), windows {0,1}, {0,1,2}, {1,2}; R_j = x_j sum_k J_kj R_k / sum_j' x_j' J_kj' */
    {
        float s[3] = {6, 15, 14};
        int win[3][3] = {{1, 1, 0}, {1, 1, 1}, {0, 1, 1}};
        for (k = 0; k < 3; k++)
            for (j = 0; j < 3; j++) J[k][j] = win[k][j] ? (j == k ? 1 / s[k] : 0) - 2 * x[k] * x[j] / (s[k] * s[k]) : 0;
        for (j = 0; j < 3; j++) {
            e[j] = 0;
            for (k = 0; k < 3; k++) {
                double zk = 0;
                int q;
                for (q = 0; q < 3; q++) zk += x[q] * J[k][q];
                e[j] += x[j] * J[k][j] * y[k] / zk;
            }
        }
    }
    xai_method_parse("lrp-eps:1e-9+taylor", &m);
    m.first.eps = m.conv.eps = m.fc.eps = m.lrn.eps = 0;
    CHECK(m.lrn.rule == XAI_RULE_TAYLOR, "+taylor parsed");
    t = xai_tape_new(net, 1);
    xai_explain(net, t, x, 1, &m, NULL, r, NULL, NULL);
    for (k = 0; k < 3; k++) CHECK_CLOSE(r[k], e[k], 1e-5, "LRN Taylor rule by hand");
    CHECK_CLOSE(r[0] + r[1] + r[2], y[0] + y[1] + y[2], 1e-5, "Taylor LRN conserves (first order)");
    xai_tape_free(t);
    xai_net_free(net);
}

static void test_batch(void)
{
    const char *methods[] = {"sensitivity-l2", "sensitivity-linf", "deconv-l2", "lrp-eps:0.01", "lrp-eps:100", "lrp-ab:2",
                             "lrp-composite", "gradxinput", "guided-l2", "lrp-eps:0.01+taylor", "lrp-gamma", "lrp-w2"};
    xai_net *net = chain_net(0, 5);
    size_t n = xai_net_input_size(net), hw = 64;
    /* 6 images: beyond the GEMM's small path (<= 4 rows), so both of its paths are compared */
    float *x = (float *)malloc(6 * n * sizeof(float)), *s3 = (float *)malloc(6 * n * sizeof(float)), *h3 = (float *)malloc(6 * hw * sizeof(float));
    float s1[192], h1[64];
    xai_tape *t3 = xai_tape_new(net, 6), *t1 = xai_tape_new(net, 1);
    uint64_t s = 3;
    int mi, i, target[6] = {-1, 2, -1, -1, 0, -1};
    fill(x, 6 * n, 1.0f, &s);
    for (mi = 0; mi < (int)(sizeof methods / sizeof *methods); mi++) {
        xai_method m;
        int same = 1, tg[6];
        memcpy(tg, target, sizeof tg);
        xai_method_parse(methods[mi], &m);
        CHECK(xai_explain(net, t3, x, 6, &m, tg, s3, h3, NULL) == XAI_OK, "%s batch: %s", methods[mi], xai_failure_reason());
        CHECK(tg[1] == 2 && tg[4] == 0, "an explicit target is kept");
        for (i = 0; i < 6; i++) {
            int one = tg[i];
            xai_explain(net, t1, x + i * n, 1, &m, &one, s1, h1, NULL);
            if (memcmp(s1, s3 + i * n, n * sizeof(float)) || memcmp(h1, h3 + i * hw, hw * sizeof(float))) same = 0;
        }
        CHECK(same, "%s: a batch of 6 gives exactly the single-image signals and heatmaps", methods[mi]);
    }
    xai_tape_free(t3); xai_tape_free(t1);
    free(x); free(s3); free(h3);
    xai_net_free(net);
}

/* LRP-alpha-beta: xai_explain's forward pass computes each linear layer's top as z+ + z- and keeps
   the parts; the backward rule computed on a plain forward pass (its own products) must agree. */
static void test_alpha_beta_split(void)
{
    const char *methods[] = {"lrp-ab:2", "lrp-ab:3", "lrp-zplus", "lrp-composite"};
    xai_net *net = chain_net(0, 6);
    size_t n = xai_net_input_size(net), i;
    int mi, li, K = xai_net_num_classes(net);
    float x[192], kept[192], own[192], score, start[16];
    uint64_t s = 12;
    fill(x, n, 1.0f, &s);
    for (mi = 0; mi < (int)(sizeof methods / sizeof *methods); mi++) {
        xai_method m;
        xai_tape *t = xai_tape_new(net, 1), *plain = xai_tape_new(net, 1);
        int cls = -1, parts_ok = 1, reset = 1;
        xai_method_parse(methods[mi], &m);
        CHECK(xai_explain(net, t, x, 1, &m, &cls, kept, NULL, &score) == XAI_OK, "%s: %s", methods[mi], xai_failure_reason());
        for (li = 0; li < net->nlayer; li++) {
            const xai_layer *L = &net->layer[li];
            const xai_tensor *zp = &t->zpart[2 * li], *zn = zp + 1, *y = &t->blob[L->top[0]];
            int ab = (L->p.type == XAI_CONVOLUTION || L->p.type == XAI_INNER_PRODUCT) &&
                     (xai__rule_for(net, &m, li)->rule == XAI_RULE_ALPHA_BETA || xai__rule_for(net, &m, li)->rule == XAI_RULE_ZPLUS);
            reset &= t->split[li] == 0;
            if (ab != (zp->data != NULL)) parts_ok = 0;
            if (!zp->data) continue;
            for (i = 0; i < xai_tensor_count(y); i++)
                if (y->data[i] != zp->data[i] + zn->data[i] || zp->data[i] < 0 || zn->data[i] > 0) parts_ok = 0;
        }
        CHECK(parts_ok, "%s: each alpha-beta layer kept z+ >= 0 and z- <= 0, its top is z+ + z-", methods[mi]);
        CHECK(reset, "%s: the tape's split flags are cleared after explaining", methods[mi]);
        xai_net_forward(net, plain, x, 1);
        CHECK_CLOSE(score, xai_tape_scores(plain, 0)[cls], 1e-5, "alpha-beta forward (z+ + z-) = the plain forward's score");
        memset(start, 0, sizeof start);
        start[cls] = xai_tape_scores(plain, 0)[cls];
        CHECK(K <= 16 && xai__backward(net, plain, &m, start, NULL) == XAI_OK, "%s: backward on a plain forward", methods[mi]);
        memcpy(own, plain->signal[net->input_blob].data, n * sizeof(float));
        CHECK(test_max_rel_diff(kept, own, n) < 1e-5, "%s: kept parts = the rule's own products (%g)", methods[mi], test_max_rel_diff(kept, own, n));
        xai_tape_free(t); xai_tape_free(plain);
    }
    xai_net_free(net);
}

static void test_heatmap_reductions(void)
{
    xai_net *net = chain_net(0, 8);
    size_t n = xai_net_input_size(net), p;
    float x[192], sig[192], h2[64], hinf[64], hsum[64];
    xai_method m;
    uint64_t s = 4;
    int ok = 1;
    fill(x, n, 1.0f, &s);
    xai_method_parse("sensitivity-l2", &m);
    xai_explain(net, NULL, x, 1, &m, NULL, sig, h2, NULL);
    xai_method_parse("sensitivity-linf", &m);
    xai_explain(net, NULL, x, 1, &m, NULL, NULL, hinf, NULL);
    xai_method_parse("gradxinput", &m);
    xai_explain(net, NULL, x, 1, &m, NULL, NULL, hsum, NULL);
    for (p = 0; p < 64; p++) {
        double l2 = 0, li = 0, gx = 0;
        int c;
        for (c = 0; c < 3; c++) {
            double v = sig[c * 64 + p];
            l2 += v * v;
            if (fabs(v) > li) li = fabs(v);
            gx += v * x[c * 64 + p];
        }
        if (!test_close(h2[p], sqrt(l2), 1e-6) || !test_close(hinf[p], li, 1e-6) || !test_close(hsum[p], gx, 1e-5)) ok = 0;
    }
    CHECK(ok, "heatmaps: l2 and l-inf norms over channels, gradient x input sums");
    xai_net_free(net);
}

static void test_conv_equals_fc(void)
{
    /* a convolution whose kernel covers the whole input is an InnerProduct: every rule must agree */
    const char *methods[] = {"sensitivity-l2", "deconv-l2", "lrp-eps:0.01", "lrp-ab:2", "lrp-zplus", "lrp-w2", "lrp-flat", "lrp-gamma:0.5"};
    xai_net *a = xai_net_new("conv"), *b = xai_net_new("fc");
    xai_layer_param conv = conv_p(4, 3, 0, 1), fc = xai_layer_defaults(XAI_INNER_PRODUCT), relu = xai_layer_defaults(XAI_RELU), top = xai_layer_defaults(XAI_INNER_PRODUCT);
    float x[18], sa[18], sb[18];
    uint64_t s = 11;
    int mi;
    fc.num_output = 4; top.num_output = 2;
    xai_net_input(a, "data", 2, 3, 3); xai_net_input(b, "data", 2, 3, 3);
    xai_net_add(a, "l1", &conv, "data", "l1"); xai_net_add(b, "l1", &fc, "data", "l1");
    xai_net_add(a, "r", &relu, "l1", "l1"); xai_net_add(b, "r", &relu, "l1", "l1");
    xai_net_add(a, "l2", &top, "l1", "l2"); xai_net_add(b, "l2", &top, "l1", "l2");
    xai_net_finalize(a); xai_net_finalize(b);
    randomize(a, 21, 0);
    memcpy(b->params, a->params, a->nparams * sizeof(float));
    fill(x, 18, 1.0f, &s);
    for (mi = 0; mi < (int)(sizeof methods / sizeof *methods); mi++) {
        xai_method m;
        xai_method_parse(methods[mi], &m);
        xai_explain(a, NULL, x, 1, &m, NULL, sa, NULL, NULL);
        xai_explain(b, NULL, x, 1, &m, NULL, sb, NULL, NULL);
        CHECK(test_max_rel_diff(sa, sb, 18) < 1e-5, "%s: a full-size convolution explains like an InnerProduct (%g)", methods[mi], test_max_rel_diff(sa, sb, 18));
    }
    xai_net_free(a); xai_net_free(b);
}

/* Average pooling and Eltwise SUM have their own LRP slot: the plain proportional split
   R_i = z_ij / (z_j + s sign z_j) R_j with s = 1e-12 sum_i |z_ij| (a zero window passes nothing on),
   whatever the linear layers' rule; "+pool-eps" brings back the convolutions' eps-rule there. */
static void test_pool_and_sum_slots(void)
{
    static const char *methods[] = {"lrp-eps:100", "lrp-eps:0.01", "lrp-ab:2", "lrp-composite", "lrp-zplus"};
    xai_net *net = xai_net_new("avepool");
    xai_layer_param c = conv_p(1, 1, 0, 1), av = xai_layer_defaults(XAI_POOLING), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_method m;
    xai_tape *t;
    /* four 2x2 windows: one that nearly cancels (sum 2^-23), one of zeros, two ordinary ones */
    float x[16] = {1, -1 + 0x1p-23f, 1, 2, 0.5f, -0.5f, 3, 4, 0, 0, -1, 2, 0, 0, -3, 1};
    int mi, i, j;
    av.pool = XAI_POOL_AVE; av.kernel_h = av.kernel_w = 2; av.stride_h = av.stride_w = 2;
    fc.num_output = 1; fc.bias_term = 0;
    xai_net_input(net, "data", 1, 4, 4);
    xai_net_add(net, "conv1", &c, "data", "conv1");
    xai_net_add(net, "pool", &av, "conv1", "pool");
    xai_net_add(net, "fc", &fc, "pool", "fc");
    if (xai_net_finalize(net) != XAI_OK) { printf("avepool net: %s\n", xai_failure_reason()); exit(1); }
    net->layer[0].weight[0] = 1; net->layer[0].bias[0] = 0;
    for (i = 0; i < 4; i++) net->layer[2].weight[i] = i == 1 ? -0.5f : 1.0f;
    t = xai_tape_new(net, 1);
    for (mi = 0; mi < 5; mi++) {
        for (j = 0; j < 2; j++) {   /* j = 1: "+pool-eps" where the method has an eps on its convolutions */
            const xai_tensor *rin, *rout;
            char name[64];
            double worst = 0;
            int finite = 1;
            if (j == 1 && strncmp(methods[mi], "lrp-eps", 7)) continue;
            snprintf(name, sizeof name, "%s%s", methods[mi], j ? "+pool-eps" : "");
            CHECK(xai_method_parse(name, &m) == XAI_OK, "%s parses", name);
            CHECK(m.pool.rule == (j ? XAI_RULE_EPSILON : XAI_RULE_PROPORTIONAL) && m.sum.rule == m.pool.rule, "%s: pool and sum slots", name);
            xai_explain(net, t, x, 1, &m, NULL, NULL, NULL, NULL);
            rin = xai_tape_signal(t, "conv1");
            rout = xai_tape_signal(t, "pool");
            for (i = 0; i < 16; i++) {
                int py = (i / 4) / 2, px = (i % 4) / 2, k, q = py * 2 + px;
                double sum = 0, mag = 0, want;
                for (k = 0; k < 4; k++) {
                    double v = x[(py * 2 + k / 2) * 4 + px * 2 + k % 2];
                    sum += v; mag += fabs(v);
                }
                if (j == 0) {   /* plain split, in terms of z_ij = x_i / 4 */
                    double s = 1e-12 * mag / 4, z = sum / 4;
                    want = z == 0 ? 0 : (x[i] / 4.0) / (z + (z >= 0 ? s : -s)) * rout->data[q];
                } else {        /* the eps-rule of the convolutions, eps = 100 or 0.01 */
                    double z = sum / 4, e = m.conv.eps;
                    want = (x[i] / 4.0) / (z + (z >= 0 ? e : -e)) * rout->data[q];
                }
                if (!isfinite(rin->data[i])) finite = 0;
                worst = fmax(worst, fabs(rin->data[i] - want) / fmax(1e-6, fabs(want)));
            }
            CHECK(finite && worst <= 1e-6, "%s: average pooling's relevance is the hand split (worst relative difference %g)", name, worst);
        }
    }
    xai_tape_free(t);
    xai_net_free(net);

    /* Eltwise SUM s = a + b with a = 3x and b = -x: R_a = 3x / 2x R_s = 1.5 R_s, R_b = -0.5 R_s */
    {
        xai_layer_param split = xai_layer_defaults(XAI_SPLIT), ca = conv_p(1, 1, 0, 1), cb = conv_p(1, 1, 0, 1);
        xai_layer_param sum = xai_layer_defaults(XAI_ELTWISE), f = xai_layer_defaults(XAI_INNER_PRODUCT);
        float xs[4] = {1, 2, -0.5f, 0.25f};
        const xai_tensor *ra, *rb, *rs;
        int ok = 1;
        f.num_output = 1; f.bias_term = 0;
        net = xai_net_new("sum");
        xai_net_input(net, "data", 1, 2, 2);
        xai_net_add(net, "split", &split, "data", "d1,d2");
        xai_net_add(net, "a", &ca, "d1", "a");
        xai_net_add(net, "b", &cb, "d2", "b");
        xai_net_add(net, "sum", &sum, "a,b", "sum");
        xai_net_add(net, "fc", &f, "sum", "fc");
        if (xai_net_finalize(net) != XAI_OK) { printf("sum net: %s\n", xai_failure_reason()); exit(1); }
        net->layer[1].weight[0] = 3; net->layer[1].bias[0] = 0;
        net->layer[2].weight[0] = -1; net->layer[2].bias[0] = 0;
        for (i = 0; i < 4; i++) net->layer[4].weight[i] = 1;
        t = xai_tape_new(net, 1);
        xai_method_parse("lrp-eps:100", &m);
        xai_explain(net, t, xs, 1, &m, NULL, NULL, NULL, NULL);
        ra = xai_tape_signal(t, "a"); rb = xai_tape_signal(t, "b"); rs = xai_tape_signal(t, "sum");
        for (i = 0; i < 4; i++) {
            if (fabs(ra->data[i] - 1.5 * rs->data[i]) > 1e-6 * fabs(rs->data[i]) + 1e-12) ok = 0;
            if (fabs(rb->data[i] + 0.5 * rs->data[i]) > 1e-6 * fabs(rs->data[i]) + 1e-12) ok = 0;
            if (rs->data[i] == 0) ok = 0;
        }
        CHECK(ok, "lrp-eps:100: Eltwise SUM splits in proportion to the summands (1.5 R, -0.5 R)");
        xai_tape_free(t);
        xai_net_free(net);
    }
}

/* The method table: defaults of each slot, parameter ranges, options, the description list. */
static void test_method_table(void)
{
    static const char *refused[] = {"lrp-ab:1e10", "lrp-ab:inf", "lrp-ab:nan", "lrp-eps:0", "lrp-eps:-1", "lrp-eps:inf",
                                    "lrp-eps:1e7", "lrp-gamma:-1", "lrp-gamma:nan", "lrp-zplus:2", "sensitivity-l2:1",
                                    "lrp-eps:0.01+bogus", "lrp-ab:2+pool-eps", "deconv-l2+pool-eps", "lrp-eps:", "lrp-eps:1x"};
    xai_method m;
    int i, n = 0;
    for (i = 0; i < (int)(sizeof refused / sizeof refused[0]); i++)
        CHECK(xai_method_parse(refused[i], &m) != XAI_OK && strlen(xai_failure_reason()) > 10, "'%s' refused: %s", refused[i],
              xai_failure_reason());
    CHECK(xai_method_parse("lrp-composite", &m) == XAI_OK && m.first.rule == XAI_RULE_ZB && m.conv.rule == XAI_RULE_ALPHA_BETA &&
              m.conv.alpha == 2 && m.conv.beta == 1 && m.fc.rule == XAI_RULE_EPSILON && m.fc.eps == 0.01f &&
              m.pool.rule == XAI_RULE_PROPORTIONAL && m.sum.rule == XAI_RULE_PROPORTIONAL && m.lrn.rule == XAI_RULE_IDENTITY,
          "lrp-composite's slots");
    CHECK(xai_method_parse("lrp-ab:3", &m) == XAI_OK && m.first.alpha == 3 && m.conv.beta == 2 && m.fc.alpha == 3, "lrp-ab:3 sets every slot");
    CHECK(xai_method_parse("lrp-eps:100+pool-eps+taylor", &m) == XAI_OK && m.pool.rule == XAI_RULE_EPSILON && m.pool.eps == 100 &&
              m.sum.eps == 100 && m.lrn.rule == XAI_RULE_TAYLOR && m.lrn.eps == 100, "options combine");
    CHECK(xai_method_parse("lrp-gamma", &m) == XAI_OK && m.conv.gamma == 0.25f && m.fc.rule == XAI_RULE_GAMMA, "lrp-gamma default");
    CHECK(xai_method_parse("lrp-eps:1e6", &m) == XAI_OK && xai_method_parse("lrp-ab:1", &m) == XAI_OK &&
              xai_method_parse("lrp-gamma:0", &m) == XAI_OK, "range ends accepted");
    while (xai_method_describe(n)) {
        char base[64];
        const char *d = xai_method_describe(n);
        size_t k = strcspn(d, " [");
        memcpy(base, d, k); base[k] = 0;
        CHECK(xai_method_parse(base, &m) == XAI_OK && !strcmp(m.name, base), "described method '%s' parses", base);
        n++;
    }
    CHECK(n >= 15 && xai_method_describe(-1) == NULL, "%d methods described", n);
}

static void test_errors(void)
{
    xai_method m;
    CHECK(xai_method_parse("lrp-foo", &m) != XAI_OK && strstr(xai_failure_reason(), "lrp-foo"), "unknown method named");
    CHECK(xai_method_parse("lrp-ab:0.5", &m) != XAI_OK && strstr(xai_failure_reason(), "alpha"), "alpha < 1 refused");
    CHECK(xai_method_parse("lrp-eps:x", &m) != XAI_OK, "bad number refused");
    CHECK(xai_method_parse("sensitivity-l2+taylor", &m) != XAI_OK, "+taylor only for LRP");
    {
        xai_net *net = graph_net(1, 0, 1);
        float x[72] = {0};
        xai_method_parse("lrp-eps:0.01", &m);
        CHECK(xai_explain(net, NULL, x, 1, &m, NULL, NULL, NULL, NULL) != XAI_OK && strstr(xai_failure_reason(), "PROD"), "LRP through Eltwise PROD refused: %s",
              xai_failure_reason());
        xai_net_free(net);
    }
}

int main(void)
{
    xai_net *net;
    net = chain_net(0, 1);
    check_gradient(net, "chain (conv, grouped conv, ReLU, leaky ReLU, LRN both kinds, MAX and AVE pooling, fc)", 1);
    xai_net_free(net);
    net = graph_net(1, 0, 2);
    check_gradient(net, "graph (Split, Eltwise SUM/MAX/PROD, Concat, global AVE pooling)", 2);
    xai_net_free(net);

    net = chain_net(1, 3);
    check_conservation(net, "lrp-eps:1e-9", 1e-4, "LRP-eps, chain");
    check_conservation(net, "lrp-ab:2", 1e-4, "LRP-alpha2-beta1, chain");
    check_conservation(net, "lrp-ab:3", 1e-4, "LRP-alpha3-beta2, chain");
    check_conservation(net, "lrp-zplus", 1e-4, "LRP-z+, chain");
    check_conservation(net, "lrp-eps:1e-9+taylor", 2e-2, "LRP-eps with Taylor LRN, chain (first order)");
    xai_net_free(net);
    net = graph_net(0, 1, 4);
    check_conservation(net, "lrp-eps:1e-9", 1e-4, "LRP-eps, graph");
    xai_net_free(net);

    test_hand_cases();
    test_maxpool_routing();
    test_lrn_rules();
    test_batch();
    test_alpha_beta_split();
    test_heatmap_reductions();
    test_conv_equals_fc();
    test_pool_and_sum_slots();
    test_method_table();
    test_errors();
    return test_report();
}
