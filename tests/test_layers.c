/* Each layer against small cases computed by hand (Caffe's semantics). */
#include "../xai.h"
#include "test.h"

/* A net with one input and one layer; returns the tape after a forward pass of x. */
static xai_tape *one_layer(xai_net **out, int c, int h, int w, const xai_layer_param *p, const float *weights, const float *bias, const float *x)
{
    xai_net *net = xai_net_new("t");
    xai_tape *t;
    xai_net_input(net, "data", c, h, w);
    if (xai_net_add(net, "layer", p, "data", "out") < 0 || xai_net_finalize(net) != XAI_OK) {
        printf("setup: %s\n", xai_failure_reason());
        xai_net_free(net);
        *out = NULL;
        return NULL;
    }
    if (weights) memcpy(net->layer[0].weight, weights, net->layer[0].weight_count * sizeof(float));
    if (bias) memcpy(net->layer[0].bias, bias, net->layer[0].bias_count * sizeof(float));
    t = xai_tape_new(net, 1);
    xai_net_forward(net, t, x, 1);
    *out = net;
    return t;
}

static void check_values(const xai_tensor *y, const float *expect, int n, const char *what)
{
    int i;
    char buf[128];
    CHECK((int)xai_tensor_count(y) == n, "%s: %d outputs, expected %d", what, (int)xai_tensor_count(y), n);
    for (i = 0; i < n && i < (int)xai_tensor_count(y); i++) {
        snprintf(buf, sizeof buf, "%s[%d]", what, i);
        CHECK_CLOSE(y->data[i], expect[i], 1e-6, buf);
    }
}

static void test_pooling(void)
{
    xai_net *net;
    xai_tape *t;
    xai_layer_param p = xai_layer_defaults(XAI_POOLING);
    float x[36];
    int i;
    /* AVE 3/2 pad 1 on 4x4: windows clipped to [-1, 5) count padding: sizes 3, 3, 2 per axis */
    for (i = 0; i < 16; i++) x[i] = (float)(i + 1);
    p.pool = XAI_POOL_AVE; p.kernel_h = p.kernel_w = 3; p.stride_h = p.stride_w = 2; p.pad_h = p.pad_w = 1;
    t = one_layer(&net, 1, 4, 4, &p, NULL, NULL, x);
    {
        const xai_tensor *y = xai_tape_blob(t, "out");
        float e[9] = {14.f / 9, (2 + 3 + 4 + 6 + 7 + 8) / 9.f, (4 + 8) / 6.f,
                      (5 + 6 + 9 + 10 + 13 + 14) / 9.f, 99.f / 9, (8 + 12 + 16) / 6.f,
                      (13 + 14) / 6.f, (14 + 15 + 16) / 6.f, 16.f / 4};
        CHECK(y->h == 3 && y->w == 3, "AVE 3/2 p1 on 4x4: %dx%d, expected 3x3", y->h, y->w);
        check_values(y, e, 9, "AVE pool");
    }
    xai_tape_free(t); xai_net_free(net);

    /* MAX 2/2 pad 1 on 5x5: ceil((5+2-2)/2)+1 = 4, but the 4th window would start in the padding: 3 */
    for (i = 0; i < 25; i++) x[i] = (float)(i + 1);
    p = xai_layer_defaults(XAI_POOLING);
    p.kernel_h = p.kernel_w = 2; p.stride_h = p.stride_w = 2; p.pad_h = p.pad_w = 1;
    t = one_layer(&net, 1, 5, 5, &p, NULL, NULL, x);
    {
        const xai_tensor *y = xai_tape_blob(t, "out");
        float e[9] = {1, 3, 5, 11, 13, 15, 21, 23, 25};
        CHECK(y->h == 3 && y->w == 3, "MAX 2/2 p1 on 5x5: %dx%d, expected 3x3 (the start-inside correction)", y->h, y->w);
        check_values(y, e, 9, "MAX pool corrected");
    }
    xai_tape_free(t); xai_net_free(net);

    /* CEIL vs FLOOR: 6x6, 3/2: ceil(3/2)+1 = 3, floor: 2 */
    for (i = 0; i < 36; i++) x[i] = (float)(i % 7);
    p = xai_layer_defaults(XAI_POOLING);
    p.kernel_h = p.kernel_w = 3; p.stride_h = p.stride_w = 2;
    t = one_layer(&net, 1, 6, 6, &p, NULL, NULL, x);
    CHECK(xai_tape_blob(t, "out")->h == 3, "CEIL 6x6 3/2: %d rows, expected 3", xai_tape_blob(t, "out")->h);
    {
        /* the last window is clipped to rows/cols 4..5 */
        const xai_tensor *y = xai_tape_blob(t, "out");
        float m = 0;
        int r, c;
        for (r = 4; r < 6; r++) for (c = 4; c < 6; c++) if (x[r * 6 + c] > m) m = x[r * 6 + c];
        CHECK_CLOSE(y->data[8], m, 0, "CEIL clipped last window");
    }
    xai_tape_free(t); xai_net_free(net);
    p.round_mode = XAI_ROUND_FLOOR;
    t = one_layer(&net, 1, 6, 6, &p, NULL, NULL, x);
    CHECK(xai_tape_blob(t, "out")->h == 2, "FLOOR 6x6 3/2: %d rows, expected 2", xai_tape_blob(t, "out")->h);
    xai_tape_free(t); xai_net_free(net);

    /* ties: the first maximum in scan order wins, and the switch records it */
    {
        float tie[4] = {1, 3, 3, 2}, same[4] = {5, 5, 5, 5};
        p = xai_layer_defaults(XAI_POOLING);
        p.kernel_h = p.kernel_w = 2; p.stride_h = p.stride_w = 2;
        t = one_layer(&net, 1, 2, 2, &p, NULL, NULL, tie);
        CHECK(t->switches[0][0] == 1, "tie 1,3,3,2: switch %d, expected 1 (first 3)", t->switches[0][0]);
        xai_tape_free(t); xai_net_free(net);
        t = one_layer(&net, 1, 2, 2, &p, NULL, NULL, same);
        CHECK(t->switches[0][0] == 0, "all equal: switch %d, expected 0", t->switches[0][0]);
        CHECK_CLOSE(xai_tape_blob(t, "out")->data[0], 5, 0, "all equal max");
        xai_tape_free(t); xai_net_free(net);
    }

    /* global pooling: the whole map */
    {
        float g[8] = {1, 2, 3, 6, -1, -2, -3, 10};
        p = xai_layer_defaults(XAI_POOLING);
        p.pool = XAI_POOL_AVE; p.global_pooling = 1;
        t = one_layer(&net, 2, 2, 2, &p, NULL, NULL, g);
        {
            float e[2] = {3, 1};
            check_values(xai_tape_blob(t, "out"), e, 2, "global AVE");
        }
        xai_tape_free(t); xai_net_free(net);
    }
}

static void test_lrn(void)
{
    xai_net *net;
    xai_tape *t;
    xai_layer_param p = xai_layer_defaults(XAI_LRN);
    /* ACROSS_CHANNELS, n = 3, alpha = 3 (alpha/n = 1), beta = 1, k = 1, one pixel x = 1, 2, 3:
       s = 1 + (0+1+4) = 6, 1 + (1+4+9) = 15, 1 + (4+9+0) = 14 */
    {
        float x[3] = {1, 2, 3}, e[3] = {1.f / 6, 2.f / 15, 3.f / 14};
        p.local_size = 3; p.alpha = 3; p.beta = 1; p.k = 1;
        t = one_layer(&net, 3, 1, 1, &p, NULL, NULL, x);
        check_values(xai_tape_blob(t, "out"), e, 3, "LRN across (alpha/n)");
        CHECK_CLOSE(t->scale[0][1], 15, 1e-6, "LRN scale kept on the tape");
        xai_tape_free(t); xai_net_free(net);
    }
    /* k shifts the scale: k = 2 gives 7, 16, 15 */
    {
        float x[3] = {1, 2, 3}, e[3] = {1.f / 7, 2.f / 16, 3.f / 15};
        p.k = 2;
        t = one_layer(&net, 3, 1, 1, &p, NULL, NULL, x);
        check_values(xai_tape_blob(t, "out"), e, 3, "LRN across k=2");
        xai_tape_free(t); xai_net_free(net);
    }
    /* WITHIN_CHANNEL, n = 3, alpha = 9 (alpha/n^2 = 1), beta = 0.5, ones on 3x3: the window holds
       4 (corner), 6 (edge) or 9 (centre) ones; Caffe ignores k here (set to 5 to check) */
    {
        float x[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        float c4 = 1 / sqrtf(5), c6 = 1 / sqrtf(7), c9 = 1 / sqrtf(10);
        float e[9] = {c4, c6, c4, c6, c9, c6, c4, c6, c4};
        p = xai_layer_defaults(XAI_LRN);
        p.norm_region = XAI_LRN_WITHIN_CHANNEL; p.local_size = 3; p.alpha = 9; p.beta = 0.5f; p.k = 5;
        t = one_layer(&net, 1, 3, 3, &p, NULL, NULL, x);
        check_values(xai_tape_blob(t, "out"), e, 9, "LRN within");
        xai_tape_free(t); xai_net_free(net);
    }
}

static void test_convolution(void)
{
    xai_net *net;
    xai_tape *t;
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    /* 3x3 input, 2x2 kernel, stride 1: cross-correlation, no flip */
    {
        float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1}, b[1] = {0.5f};
        float e[4] = {1 - 5 + 0.5f, 2 - 6 + 0.5f, 4 - 8 + 0.5f, 5 - 9 + 0.5f};
        p.num_output = 1; p.kernel_h = p.kernel_w = 2;
        t = one_layer(&net, 1, 3, 3, &p, w, b, x);
        check_values(xai_tape_blob(t, "out"), e, 4, "conv 2x2");
        xai_tape_free(t); xai_net_free(net);
    }
    /* pad 1, stride 2 on 3x3 with a 3x3 kernel of ones: (3+2-3)/2+1 = 2 outputs a side */
    {
        float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        float e[4] = {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9};
        p = xai_layer_defaults(XAI_CONVOLUTION);
        p.num_output = 1; p.kernel_h = p.kernel_w = 3; p.pad_h = p.pad_w = 1; p.stride_h = p.stride_w = 2; p.bias_term = 0;
        t = one_layer(&net, 1, 3, 3, &p, w, NULL, x);
        check_values(xai_tape_blob(t, "out"), e, 4, "conv pad 1 stride 2");
        CHECK(net->layer[0].bias == NULL, "bias_term false: no bias");
        xai_tape_free(t); xai_net_free(net);
    }
    /* dilation 2: a 2x2 kernel reads the corners of the 3x3 input */
    {
        float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 10, 100, 1000}, e[1] = {1 + 30 + 700 + 9000};
        p = xai_layer_defaults(XAI_CONVOLUTION);
        p.num_output = 1; p.kernel_h = p.kernel_w = 2; p.dilation_h = p.dilation_w = 2; p.bias_term = 0;
        t = one_layer(&net, 1, 3, 3, &p, w, NULL, x);
        check_values(xai_tape_blob(t, "out"), e, 1, "conv dilation 2");
        xai_tape_free(t); xai_net_free(net);
    }
    /* group 2: output channel g sees only input channel g */
    {
        float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}, w[2] = {2, 3}, b[2] = {0.5f, -1};
        float e[8] = {2.5f, 4.5f, 6.5f, 8.5f, 29, 59, 89, 119};
        p = xai_layer_defaults(XAI_CONVOLUTION);
        p.num_output = 2; p.kernel_h = p.kernel_w = 1; p.group = 2;
        t = one_layer(&net, 2, 2, 2, &p, w, b, x);
        check_values(xai_tape_blob(t, "out"), e, 8, "grouped conv");
        CHECK(net->layer[0].weight_shape[1] == 1, "grouped conv weight shape O x C/g: %d", net->layer[0].weight_shape[1]);
        xai_tape_free(t); xai_net_free(net);
    }
    /* rectangular: kernel 1x3, pad_w 1, stride_h 2 */
    {
        float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[3] = {1, 2, 3};   /* 2x4 */
        float e[4] = {0 + 2 + 6, 1 + 4 + 9, 2 + 6 + 12, 3 + 8 + 0};
        p = xai_layer_defaults(XAI_CONVOLUTION);
        p.num_output = 1; p.kernel_h = 1; p.kernel_w = 3; p.pad_w = 1; p.stride_h = 2; p.bias_term = 0;
        t = one_layer(&net, 1, 2, 4, &p, w, NULL, x);
        CHECK(xai_tape_blob(t, "out")->h == 1 && xai_tape_blob(t, "out")->w == 4, "rectangular conv shape");
        check_values(xai_tape_blob(t, "out"), e, 4, "rectangular conv");
        xai_tape_free(t); xai_net_free(net);
    }
}

static void test_inner_product(void)
{
    xai_net *net;
    xai_tape *t;
    xai_layer_param p = xai_layer_defaults(XAI_INNER_PRODUCT);
    float x[3] = {1, 1, 2}, wt[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 3, 5, 2, 4, 6}, b[2] = {0, 1};
    float e[2] = {14, 19};
    /* transpose: W stored K x O = [[1,2],[3,4],[5,6]] */
    p.num_output = 2; p.transpose = 1;
    t = one_layer(&net, 3, 1, 1, &p, wt, b, x);
    check_values(xai_tape_blob(t, "out"), e, 2, "InnerProduct transpose");
    CHECK(net->layer[0].weight_shape[0] == 3 && net->layer[0].weight_shape[1] == 2, "transposed weight shape K x O");
    xai_tape_free(t); xai_net_free(net);
    p.transpose = 0;
    t = one_layer(&net, 3, 1, 1, &p, w, b, x);
    check_values(xai_tape_blob(t, "out"), e, 2, "InnerProduct");
    xai_tape_free(t); xai_net_free(net);
    /* flattening is C, H, W: a 2x1x2 input, weights pick element 2 = (c 1, h 0, w 0) */
    {
        float x4[4] = {1, 2, 3, 4}, w4[4] = {0, 0, 1, 0}, e1[1] = {3};
        p = xai_layer_defaults(XAI_INNER_PRODUCT);
        p.num_output = 1; p.bias_term = 0;
        t = one_layer(&net, 2, 1, 2, &p, w4, NULL, x4);
        check_values(xai_tape_blob(t, "out"), e1, 1, "InnerProduct flattens C,H,W");
        xai_tape_free(t); xai_net_free(net);
    }
}

static void test_graph_layers(void)
{
    xai_net *net = xai_net_new("graph");
    xai_tape *t;
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), split = xai_layer_defaults(XAI_SPLIT);
    xai_layer_param sum = xai_layer_defaults(XAI_ELTWISE), prod = xai_layer_defaults(XAI_ELTWISE), mx = xai_layer_defaults(XAI_ELTWISE);
    xai_layer_param concat = xai_layer_defaults(XAI_CONCAT), drop = xai_layer_defaults(XAI_DROPOUT), soft = xai_layer_defaults(XAI_SOFTMAX);
    float x[2] = {-2, 3};
    relu.negative_slope = 0.1f;
    sum.ncoeff = 2; sum.coeff[0] = 2; sum.coeff[1] = -1;
    prod.operation = XAI_ELTWISE_PROD;
    mx.operation = XAI_ELTWISE_MAX;
    xai_net_input(net, "data", 2, 1, 1);
    CHECK(xai_net_add(net, "split", &split, "data", "a b") >= 0, "split: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "relu", &relu, "a", "r") >= 0, "relu: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "sum", &sum, "r,b", "s") >= 0, "sum: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "prod", &prod, "r,b", "p") >= 0, "prod: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "max", &mx, "r,b", "m") >= 0, "max: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "cat", &concat, "s,p,m", "c") >= 0, "concat: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "drop", &drop, "c", "c") >= 0, "dropout: %s", xai_failure_reason());
    CHECK(xai_net_add(net, "prob", &soft, "c", "prob") >= 0, "softmax: %s", xai_failure_reason());
    CHECK(xai_net_finalize(net) == XAI_OK, "finalize: %s", xai_failure_reason());
    t = xai_tape_new(net, 1);
    CHECK(xai_net_forward(net, t, x, 1) == XAI_OK, "forward: %s", xai_failure_reason());
    {
        /* r = relu(-2, 3) with slope 0.1 = (-0.2, 3); b = x = (-2, 3) */
        float r[2] = {-0.2f, 3}, s[2] = {2 * -0.2f + 2, 6 - 3}, pr[2] = {0.4f, 9}, m[2] = {-0.2f, 3};
        float c[6] = {1.6f, 3, 0.4f, 9, -0.2f, 3};
        check_values(xai_tape_blob(t, "r"), r, 2, "ReLU negative_slope");
        check_values(xai_tape_blob(t, "s"), s, 2, "Eltwise SUM coefficients");
        check_values(xai_tape_blob(t, "p"), pr, 2, "Eltwise PROD");
        check_values(xai_tape_blob(t, "m"), m, 2, "Eltwise MAX");
        /* the tie at element 1 (3 vs 3) goes to bottom 1, as in Caffe */
        CHECK(t->switches[4][0] == 0 && t->switches[4][1] == 1, "Eltwise MAX argmax %d %d, expected 0 1", t->switches[4][0], t->switches[4][1]);
        check_values(xai_tape_blob(t, "c"), c, 6, "Concat on channels (+ Dropout identity)");
        {
            double z = 0;
            float sm[6];
            int i;
            for (i = 0; i < 6; i++) z += exp(c[i]);
            for (i = 0; i < 6; i++) sm[i] = (float)(exp(c[i]) / z);
            check_values(xai_tape_blob(t, "prob"), sm, 6, "Softmax");
        }
        CHECK(net->score_blob == xai_net_find_blob(net, "c"), "score blob = the Softmax's bottom");
        CHECK(xai_net_find_blob(net, "c") != xai_net_find_blob(net, "a"), "in-place Dropout makes a new blob");
    }
    xai_tape_free(t);
    xai_net_free(net);
}

static void test_setup_errors(void)
{
    xai_net *net = xai_net_new("bad");
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    xai_net_input(net, "data", 3, 8, 8);
    p.num_output = 4; p.kernel_h = p.kernel_w = 3; p.group = 2;
    CHECK(xai_net_add(net, "conv", &p, "data", "conv") < 0 && strstr(xai_failure_reason(), "group"), "group 2 of 3 channels: %s", xai_failure_reason());
    p.group = 1;
    CHECK(xai_net_add(net, "conv", &p, "nothing", "conv") < 0 && strstr(xai_failure_reason(), "'nothing'"), "bottom names no blob: %s", xai_failure_reason());
    p.kernel_h = p.kernel_w = 11;
    CHECK(xai_net_add(net, "conv", &p, "data", "conv") < 0 && strstr(xai_failure_reason(), "does not fit"), "kernel larger than input: %s", xai_failure_reason());
    p = xai_layer_defaults(XAI_LRN);
    p.local_size = 4;
    CHECK(xai_net_add(net, "lrn", &p, "data", "lrn") < 0 && strstr(xai_failure_reason(), "odd"), "even LRN size: %s", xai_failure_reason());
    p = xai_layer_defaults(XAI_POOLING);
    p.kernel_h = p.kernel_w = 2; p.pad_h = p.pad_w = 2;
    CHECK(xai_net_add(net, "pool", &p, "data", "pool") < 0 && strstr(xai_failure_reason(), "pad"), "pool pad >= kernel: %s", xai_failure_reason());
    CHECK(net->nlayer == 0 && net->nblob == 1, "failed adds leave the net unchanged (%d layers, %d blobs)", net->nlayer, net->nblob);
    xai_net_free(net);
}

int main(void)
{
    test_pooling();
    test_lrn();
    test_convolution();
    test_inner_product();
    test_graph_layers();
    test_setup_errors();
    return test_report();
}
