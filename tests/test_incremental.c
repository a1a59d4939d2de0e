/* The incremental perturbation curves (issue 19): bit for bit the curves of the full recomputation
   (cfg.no_incremental) on CaffeNet, SqueezeNet, models/fashion.xai and small nets with every layer kind;
   and xai_net_dirty_rects against brute force (two full forward passes) and hand-computed CaffeNet rows;
   occlusion by the incremental pass = by full passes, bit for bit, and a case computed by hand. */
#include "../xai.h"
#include "../tools/caffe_pb.h"
#include "test.h"
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SHARED "../shared/caffe"

static void fill(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = lo + (hi - lo) * test_uniform(xai_random_key(seed, i, 0, 0, 0));
}

static int grid_rows(int h, int r) { return (h + r - 1) / r; }

/* region (gy, gx) of the grid, negative counting from the last row / column */
static int region_at(int H, int W, int r, int gy, int gx)
{
    int ny = grid_rows(H, r), nx = grid_rows(W, r);
    if (gy < 0) gy += ny;
    if (gx < 0) gx += nx;
    if (gy < 0) gy = 0;
    if (gx < 0) gx = 0;
    if (gy >= ny) gy = ny - 1;
    if (gx >= nx) gx = nx - 1;
    return gy * nx + gx;
}

/* A heatmap for regions of r pixels: MoRF perturbs first the corner regions, the narrow last row and
   column (where r does not divide the size), neighbours of those (dirty rectangles of consecutive
   steps overlapping), the middle; LeRF first other border and middle regions; the rest by noise. */
static void make_heat(float *heat, int H, int W, int r, uint64_t seed)
{
    int ny = grid_rows(H, r), nx = grid_rows(W, r), i;
    const int morf[][2] = {{-1, -1}, {-1, 0}, {0, -1}, {0, 0}, {-2, -1}, {-1, -2}, {-2, -2}, {-100, -100},
                           {0, 1}, {1, 0}, {-1, -3}, {-3, -1}};
    const int lerf[][2] = {{-1, 1}, {1, -1}, {-100, -100}, {2, 2}, {-1, -1}, {0, -2}, {-2, 0}, {1, 1}};
    fill(heat, (size_t)H * W, seed, 0, 1);
    for (i = 0; i < (int)(sizeof morf / sizeof morf[0]); i++) {
        int gy = morf[i][0] == -100 ? ny / 2 : morf[i][0], gx = morf[i][1] == -100 ? nx / 2 : morf[i][1];
        int reg = region_at(H, W, r, gy, gx);
        heat[(size_t)(reg / nx) * r * W + (size_t)(reg % nx) * r] += 1e4f * (float)(20 - i);
    }
    for (i = 0; i < (int)(sizeof lerf / sizeof lerf[0]); i++) {
        int gy = lerf[i][0] == -100 ? ny / 2 + 1 : lerf[i][0], gx = lerf[i][1] == -100 ? nx / 2 : lerf[i][1];
        int reg = region_at(H, W, r, gy, gx);
        heat[(size_t)(reg / nx) * r * W + (size_t)(reg % nx) * r] -= 1e4f * (float)(20 - i);
    }
}

/* ---- 1. curves: incremental == full, bit for bit ------------------------------------------------ */

enum { TAPE_NULL, TAPE_FORWARD, TAPE_FULL, TAPE_REFERENCE };
static const char *const tape_names[] = {"tape NULL", "forward-only tape", "full tape", "reference loops"};
static const char *const perturb_names[] = {"uniform", "constant", "blur"};
static const char *const order_names[] = {"MoRF", "LeRF", "random"};

typedef struct pcase {
    int region, steps;   /* steps 0: every region */
    int perturb, batch, order, tape, threads, softmax, repeat;
} pcase;

/* One curve both ways on the same tape (the incremental pass first, then cfg.no_incremental); on a
   difference, the first differing step and both values.  1 if the curve moved (not vacuous). */
static int compare_case(const xai_net *net, const char *what, const float *x, const float *heat, int cls, const pcase *c)
{
    xai_aopc_config cfg;
    xai_tape *tape = NULL;
    int nreg = xai_region_count(net->input_h, net->input_w, c->region), k, first = -1, ndiff = 0, moved = 0, rc1, rc2;
    float *inc, *full;
    char desc[400];
    xai_aopc_defaults(&cfg);
    cfg.region = c->region;
    cfg.steps = c->steps > 0 && c->steps < nreg ? c->steps : nreg;
    cfg.perturb = c->perturb;
    cfg.batch = c->batch;
    cfg.softmax = c->softmax;
    cfg.seed = 7;
    snprintf(desc, sizeof desc, "%s: region %d, %d steps, %s, %s, batch %d, %s, %d thread(s)%s", what, c->region,
             cfg.steps, order_names[c->order], perturb_names[c->perturb], c->batch, tape_names[c->tape], c->threads,
             c->softmax ? ", softmax" : "");
    inc = (float *)malloc((size_t)(cfg.steps + 1) * sizeof(float));
    full = (float *)malloc((size_t)(cfg.steps + 1) * sizeof(float));
    if (c->tape == TAPE_FORWARD || c->tape == TAPE_REFERENCE) tape = xai_tape_new_forward(net, c->batch);
    if (c->tape == TAPE_FULL) tape = xai_tape_new(net, c->batch);
    if (!inc || !full || (c->tape != TAPE_NULL && !tape)) {
        CHECK(0, "%s: memory", desc);
        goto done;
    }
    if (c->tape == TAPE_REFERENCE) tape->reference = 1;
    set_threads(c->threads);
    memset(inc, 0xff, (size_t)(cfg.steps + 1) * sizeof(float));
    memset(full, 0xfe, (size_t)(cfg.steps + 1) * sizeof(float));
    rc1 = xai_perturbation_curve(net, tape, x, c->order == XAI_ORDER_RANDOM ? NULL : heat, cls, c->order, 11,
                                 c->repeat, &cfg, inc);
    CHECK(rc1 == XAI_OK, "%s: incremental curve: %s", desc, xai_failure_reason());
    cfg.no_incremental = 1;
    rc2 = xai_perturbation_curve(net, tape, x, c->order == XAI_ORDER_RANDOM ? NULL : heat, cls, c->order, 11,
                                 c->repeat, &cfg, full);
    CHECK(rc2 == XAI_OK, "%s: full curve: %s", desc, xai_failure_reason());
    if (rc1 != XAI_OK || rc2 != XAI_OK) goto done;
    for (k = cfg.steps; k >= 0; k--)
        if (memcmp(&inc[k], &full[k], sizeof(float))) { first = k; ndiff++; }
    CHECK(first < 0, "%s: the incremental curve differs from the full one first at step %d: %.9g vs %.9g (%d of %d values differ)",
          desc, first, first >= 0 ? inc[first] : 0.0, first >= 0 ? full[first] : 0.0, ndiff, cfg.steps + 1);
    for (k = 1; k <= cfg.steps; k++)
        if (full[k] != full[0]) moved = 1;
done:
    set_threads(2);
    xai_tape_free(tape);
    free(inc);
    free(full);
    return moved;
}

/* Several runs at once over the threads (xai_perturbation_curves, each thread its own tapes): the
   incremental curves equal the full ones, and (alone_too) each equals xai_perturbation_curve's. */
static void compare_many(const xai_net *net, const char *what, const float *x, const float *heat, int cls, int region,
                         int steps, int perturb, int batch, int threads, int alone_too)
{
    const float *heats[4];
    int orders[4] = {XAI_ORDER_MORF, XAI_ORDER_LERF, XAI_ORDER_RANDOM, XAI_ORDER_RANDOM}, repeats[4] = {0, 1, 2, 3};
    int nreg = xai_region_count(net->input_h, net->input_w, region), t, k;
    xai_aopc_config cfg;
    float *inc, *full, *one;
    size_t len;
    heats[0] = heats[1] = heat;
    heats[2] = heats[3] = NULL;
    xai_aopc_defaults(&cfg);
    cfg.region = region;
    cfg.steps = steps > 0 && steps < nreg ? steps : nreg;
    cfg.perturb = perturb;
    cfg.batch = batch;
    cfg.seed = 3;
    len = (size_t)(cfg.steps + 1);
    inc = (float *)malloc(4 * len * sizeof(float));
    full = (float *)malloc(4 * len * sizeof(float));
    one = (float *)malloc(len * sizeof(float));
    if (!inc || !full || !one) { CHECK(0, "%s: memory", what); free(inc); free(full); free(one); return; }
    set_threads(threads);
    CHECK(xai_perturbation_curves(net, x, cls, 4, &cfg, 4, heats, orders, repeats, inc) == XAI_OK, "%s: curves: %s", what,
          xai_failure_reason());
    cfg.no_incremental = 1;
    CHECK(xai_perturbation_curves(net, x, cls, 4, &cfg, 4, heats, orders, repeats, full) == XAI_OK, "%s: curves: %s", what,
          xai_failure_reason());
    for (t = 0; t < 4; t++) {
        int first = -1;
        for (k = 0; k <= cfg.steps && first < 0; k++)
            if (memcmp(&inc[t * len + k], &full[t * len + k], sizeof(float))) first = k;
        CHECK(first < 0, "%s: xai_perturbation_curves, %d threads, region %d, %s, batch %d, task %d (%s): incremental differs "
              "from full first at step %d: %.9g vs %.9g", what, threads, region, perturb_names[perturb], batch, t,
              order_names[orders[t]], first, first >= 0 ? inc[t * len + first] : 0.0, first >= 0 ? full[t * len + first] : 0.0);
        if (alone_too) {   /* one thread, one curve, the full pass: the same again */
            set_threads(1);
            CHECK(xai_perturbation_curve(net, NULL, x, heats[t], cls, orders[t], 4, repeats[t], &cfg, one) == XAI_OK, "%s", what);
            CHECK(!memcmp(one, inc + t * len, len * sizeof(float)),
                  "%s: xai_perturbation_curves (incremental, %d threads) task %d differs from xai_perturbation_curve alone (full, 1 thread)",
                  what, threads, t);
            set_threads(threads);
        }
    }
    set_threads(2);
    free(inc); free(full); free(one);
}

/* the class predicted on x, and whether the forward pass ran */
static int predicted(const xai_net *net, const float *x)
{
    xai_tape *t = xai_tape_new_forward(net, 1);
    int cls = -1;
    if (t && xai_net_forward(net, t, x, 1) == XAI_OK) cls = xai_argmax(xai_tape_scores(t, 0), xai_net_num_classes(net));
    CHECK(cls >= 0, "%s: forward: %s", net->name, xai_failure_reason());
    xai_tape_free(t);
    return cls;
}

/* Every case of the list on one net; at least one curve must move, or the comparisons said nothing. */
static void compare_cases(const xai_net *net, const char *what, const float *x, const pcase *cases, int ncase)
{
    int H = net->input_h, W = net->input_w, i, moved = 0, cls = predicted(net, x);
    float *heat = (float *)malloc((size_t)H * W * sizeof(float));
    if (!heat || cls < 0) { CHECK(0, "%s: memory or forward", what); free(heat); return; }
    for (i = 0; i < ncase; i++) {
        make_heat(heat, H, W, cases[i].region, 100 + (uint64_t)i);
        moved |= compare_case(net, what, x, heat, cls, &cases[i]);
    }
    CHECK(moved, "%s: no curve moved: the comparisons were vacuous", what);
    free(heat);
}

/* ---- small nets, built here ---------------------------------------------------------------------- */

static xai_layer_param conv_p(int out, int kh, int kw, int stride, int ph, int pw, int dil, int group)
{
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    p.num_output = out;
    p.kernel_h = kh; p.kernel_w = kw;
    p.stride_h = p.stride_w = stride;
    p.pad_h = ph; p.pad_w = pw;
    p.dilation_h = p.dilation_w = dil;
    p.group = group;
    return p;
}

static xai_layer_param pool_p(int pool, int k, int stride, int pad, int round_mode)
{
    xai_layer_param p = xai_layer_defaults(XAI_POOLING);
    p.pool = pool;
    p.kernel_h = p.kernel_w = k;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.round_mode = round_mode;
    return p;
}

static xai_layer_param lrn_p(int region, int local_size)
{
    xai_layer_param p = xai_layer_defaults(XAI_LRN);
    p.norm_region = region;
    p.local_size = local_size;
    p.alpha = 0.05f;
    p.beta = 0.75f;
    p.k = 2;
    return p;
}

static xai_layer_param eltwise_p(int op)
{
    xai_layer_param p = xai_layer_defaults(XAI_ELTWISE);
    p.operation = op;
    return p;
}

static xai_net *finish(xai_net *net, int ok, uint64_t seed)
{
    ok = ok && xai_net_finalize(net) == XAI_OK;
    CHECK(ok, "net '%s': %s", net->name, xai_failure_reason());
    if (!ok) { xai_net_free(net); return NULL; }
    xai_net_fill_random(net, seed);
    return net;
}

/* 3 x 23 x 21 (no region size used here divides both sides), every layer kind:
     conv1 3x3 pad 1 -> leaky ReLU (in place) -> Split s1, s2
     gconv: s1, grouped (2) and dilated (2) 3x3, pad 2 | pconv: s2, 1x1 | wconv: conv1, 3x5, pad 1,2
     Eltwise SUM (0.5, -1.25) of gconv, pconv | MAX of gconv, pconv, wconv | PROD of those two
     Concat of the three -> LRN ACROSS_CHANNELS 3 -> [MAX pool 3 stride 2 pad 1 | conv 3x3 stride 2 pad 1]
     -> Concat (12 x 11) -> LRN WITHIN_CHANNEL 3 -> Softmax (per position, spatial) -> conv 3x3 group 2
     (10 x 9) -> ReLU -> AVE pool 3 stride 2 pad 1 (ceil: 6 x 5) -> Dropout -> conv 2x2 (5 x 4)
     -> global MAX pool -> InnerProduct 7 -> Softmax */
static xai_net *net_kinds(void)
{
    xai_net *net = xai_net_new("kinds");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), split = xai_layer_defaults(XAI_SPLIT);
    xai_layer_param cat = xai_layer_defaults(XAI_CONCAT), soft = xai_layer_defaults(XAI_SOFTMAX);
    xai_layer_param drop = xai_layer_defaults(XAI_DROPOUT), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_layer_param sum = eltwise_p(XAI_ELTWISE_SUM), mx = eltwise_p(XAI_ELTWISE_MAX), prod = eltwise_p(XAI_ELTWISE_PROD);
    xai_layer_param conv1 = conv_p(8, 3, 3, 1, 1, 1, 1, 1), gconv = conv_p(6, 3, 3, 1, 2, 2, 2, 2);
    xai_layer_param pconv = conv_p(6, 1, 1, 1, 0, 0, 1, 1), wconv = conv_p(6, 3, 5, 1, 1, 2, 1, 1);
    xai_layer_param sconv = conv_p(8, 3, 3, 2, 1, 1, 1, 1), conv3 = conv_p(12, 3, 3, 1, 0, 0, 1, 2);
    xai_layer_param conv4 = conv_p(10, 2, 2, 1, 0, 0, 1, 1);
    xai_layer_param pool1 = pool_p(XAI_POOL_MAX, 3, 2, 1, XAI_ROUND_CEIL), pool2 = pool_p(XAI_POOL_AVE, 3, 2, 1, XAI_ROUND_CEIL);
    xai_layer_param gpool = pool_p(XAI_POOL_MAX, 1, 1, 0, XAI_ROUND_CEIL);
    xai_layer_param lrn1 = lrn_p(XAI_LRN_ACROSS_CHANNELS, 3), lrn2 = lrn_p(XAI_LRN_WITHIN_CHANNEL, 3);
    int ok = 1;
    relu.negative_slope = 0.1f;
    sum.ncoeff = 2; sum.coeff[0] = 0.5f; sum.coeff[1] = -1.25f;
    gpool.global_pooling = 1;
    fc.num_output = 7;
    ok &= xai_net_input(net, "data", 3, 23, 21) == XAI_OK;
    ok &= xai_net_add(net, "conv1", &conv1, "data", "conv1") >= 0;
    ok &= xai_net_add(net, "relu1", &relu, "conv1", "conv1") >= 0;
    ok &= xai_net_add(net, "split", &split, "conv1", "s1,s2") >= 0;
    ok &= xai_net_add(net, "gconv", &gconv, "s1", "gconv") >= 0;
    ok &= xai_net_add(net, "pconv", &pconv, "s2", "pconv") >= 0;
    ok &= xai_net_add(net, "wconv", &wconv, "conv1", "wconv") >= 0;
    ok &= xai_net_add(net, "sum", &sum, "gconv,pconv", "sum") >= 0;
    ok &= xai_net_add(net, "max", &mx, "gconv,pconv,wconv", "max") >= 0;
    ok &= xai_net_add(net, "prod", &prod, "sum,max", "prod") >= 0;
    ok &= xai_net_add(net, "cat", &cat, "sum,max,prod", "cat") >= 0;
    ok &= xai_net_add(net, "lrn1", &lrn1, "cat", "lrn1") >= 0;
    ok &= xai_net_add(net, "pool1", &pool1, "lrn1", "pool1") >= 0;
    ok &= xai_net_add(net, "sconv", &sconv, "lrn1", "sconv") >= 0;
    ok &= xai_net_add(net, "cat2", &cat, "pool1,sconv", "cat2") >= 0;
    ok &= xai_net_add(net, "lrn2", &lrn2, "cat2", "lrn2") >= 0;
    ok &= xai_net_add(net, "smx", &soft, "lrn2", "smx") >= 0;
    ok &= xai_net_add(net, "conv3", &conv3, "smx", "conv3") >= 0;
    ok &= xai_net_add(net, "relu3", &relu, "conv3", "conv3") >= 0;
    ok &= xai_net_add(net, "pool2", &pool2, "conv3", "pool2") >= 0;
    ok &= xai_net_add(net, "drop", &drop, "pool2", "pool2") >= 0;
    ok &= xai_net_add(net, "conv4", &conv4, "pool2", "conv4") >= 0;
    ok &= xai_net_add(net, "gpool", &gpool, "conv4", "gpool") >= 0;
    ok &= xai_net_add(net, "fc", &fc, "gpool", "fc") >= 0;
    ok &= xai_net_add(net, "prob", &soft, "fc", "prob") >= 0;
    return finish(net, ok, 5);
}

/* No 1 x 1 tail: the scores are a convolution's spatial output (3 x 4 x 4 = 48 classes), so the
   incremental pass runs the whole net on its state tape.  2 x 17 x 19: conv 3x3 stride 2 (8 x 9) ->
   ReLU -> AVE pool 3 stride 1 pad 1 FLOOR -> MAX pool 3 stride 2 no pad, ceil (the last window
   hangs over: 4 x 4) -> conv 1x1. */
static xai_net *net_no_tail(void)
{
    xai_net *net = xai_net_new("no tail");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU);
    xai_layer_param c1 = conv_p(5, 3, 3, 2, 0, 0, 1, 1), c2 = conv_p(3, 1, 1, 1, 0, 0, 1, 1);
    xai_layer_param pa = pool_p(XAI_POOL_AVE, 3, 1, 1, XAI_ROUND_FLOOR), pm = pool_p(XAI_POOL_MAX, 3, 2, 0, XAI_ROUND_CEIL);
    int ok = 1;
    ok &= xai_net_input(net, "data", 2, 17, 19) == XAI_OK;
    ok &= xai_net_add(net, "c1", &c1, "data", "c1") >= 0;
    ok &= xai_net_add(net, "relu", &relu, "c1", "c1") >= 0;
    ok &= xai_net_add(net, "pa", &pa, "c1", "pa") >= 0;
    ok &= xai_net_add(net, "pm", &pm, "pa", "pm") >= 0;
    ok &= xai_net_add(net, "c2", &c2, "pm", "c2") >= 0;
    net = finish(net, ok, 6);
    CHECK(!net || (xai_net_num_classes(net) == 48 && net->blob[net->score_blob].h == 4), "no tail: %d classes",
          net ? xai_net_num_classes(net) : 0);
    return net;
}

/* Strides above the region: 1 x 19 x 17, conv 5x5 stride 3 pad 2 (7 x 6) -> ReLU -> MAX pool 2
   stride 2 ceil (4 x 3) -> conv 3x3 pad 2 dilation 2 group 2 (4 x 3) -> ReLU -> global AVE pool
   -> InnerProduct 5 (no Softmax: the scores are its top). */
static xai_net *net_strides(void)
{
    xai_net *net = xai_net_new("strides");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_layer_param c1 = conv_p(4, 5, 5, 3, 2, 2, 1, 1), c2 = conv_p(6, 3, 3, 1, 2, 2, 2, 2);
    xai_layer_param pm = pool_p(XAI_POOL_MAX, 2, 2, 0, XAI_ROUND_CEIL), ga = pool_p(XAI_POOL_AVE, 1, 1, 0, XAI_ROUND_CEIL);
    int ok = 1;
    ga.global_pooling = 1;
    fc.num_output = 5;
    ok &= xai_net_input(net, "data", 1, 19, 17) == XAI_OK;
    ok &= xai_net_add(net, "c1", &c1, "data", "c1") >= 0;
    ok &= xai_net_add(net, "relu1", &relu, "c1", "c1") >= 0;
    ok &= xai_net_add(net, "pm", &pm, "c1", "pm") >= 0;
    ok &= xai_net_add(net, "c2", &c2, "pm", "c2") >= 0;
    ok &= xai_net_add(net, "relu2", &relu, "c2", "c2") >= 0;
    ok &= xai_net_add(net, "ga", &ga, "c2", "ga") >= 0;
    ok &= xai_net_add(net, "fc", &fc, "ga", "fc") >= 0;
    return finish(net, ok, 8);
}

/* Nothing spatial after the input: InnerProduct first, so there is nothing to do incrementally
   (the whole net is the tail) and the curve must still be the full pass's. */
static xai_net *net_flat(void)
{
    xai_net *net = xai_net_new("flat");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), fc1 = xai_layer_defaults(XAI_INNER_PRODUCT), fc2 = fc1;
    xai_layer_param soft = xai_layer_defaults(XAI_SOFTMAX);
    int ok = 1;
    fc1.num_output = 6;
    fc2.num_output = 4;
    ok &= xai_net_input(net, "data", 2, 5, 7) == XAI_OK;
    ok &= xai_net_add(net, "fc1", &fc1, "data", "fc1") >= 0;
    ok &= xai_net_add(net, "relu", &relu, "fc1", "fc1") >= 0;
    ok &= xai_net_add(net, "fc2", &fc2, "fc1", "fc2") >= 0;
    ok &= xai_net_add(net, "prob", &soft, "fc2", "prob") >= 0;
    return finish(net, ok, 9);
}

/* ---- 2. dirty rectangles against brute force --------------------------------------------------- */

/* Full passes (full tapes keep every blob) of x and of x with rows [y0, y1) x columns [x0, x1) of
   every channel set to other values, for each rectangle rects[i] = y0, x0, y1, x1: every element of
   every blob that changed lies in the blob's rectangle from xai_net_dirty_rects.  Tight where it
   must be: the input, and each convolution reading the input (random nonzero weights: every output
   whose window meets the rectangle changes). */
static void check_dirty(const xai_net *net, const char *what, const float *x, const int (*rects)[4], int nrect)
{
    int nb = net->nblob, b, li, c, y, xx, i;
    int *rect = (int *)malloc(4 * (size_t)nb * sizeof(int)), *box = (int *)malloc(4 * (size_t)nb * sizeof(int));
    size_t in = xai_net_input_size(net), plane = (size_t)net->input_h * net->input_w;
    float *x2 = (float *)malloc(in * sizeof(float));
    xai_tape *ta = xai_tape_new(net, 1), *tb = xai_tape_new(net, 1);
    if (!rect || !box || !x2 || !ta || !tb) { CHECK(0, "%s: memory", what); goto done; }
    CHECK(xai_net_forward(net, ta, x, 1) == XAI_OK, "%s: forward: %s", what, xai_failure_reason());
    for (i = 0; i < nrect; i++) {
        int y0 = rects[i][0], x0 = rects[i][1], y1 = rects[i][2], x1 = rects[i][3], rc;
        rc = xai_net_dirty_rects(net, y0, x0, y1, x1, rect);
        CHECK(rc == XAI_OK, "%s: xai_net_dirty_rects: %s", what, xai_failure_reason());
        if (rc != XAI_OK) continue;
        memcpy(x2, x, in * sizeof(float));
        for (c = 0; c < net->input_c; c++)
            for (y = y0; y < y1; y++)
                for (xx = x0; xx < x1; xx++) {
                    size_t at = c * plane + (size_t)y * net->input_w + xx;
                    x2[at] = x[at] + 0.5f + 20 * test_uniform(xai_random_key(77, at, (uint64_t)i, 0, 0));
                }
        CHECK(xai_net_forward(net, tb, x2, 1) == XAI_OK, "%s: forward: %s", what, xai_failure_reason());
        for (b = 0; b < nb; b++) {
            const xai_tensor *A = &ta->blob[b], *B = &tb->blob[b];
            const int *r = rect + 4 * b;
            int *bx = box + 4 * b, outside = 0, oc = 0, oy = 0, ox = 0;
            bx[0] = bx[1] = 1 << 30;
            bx[2] = bx[3] = -1;
            for (c = 0; c < A->c; c++)
                for (y = 0; y < A->h; y++)
                    for (xx = 0; xx < A->w; xx++) {
                        if (!memcmp(&XAI_AT(A, 0, c, y, xx), &XAI_AT(B, 0, c, y, xx), sizeof(float))) continue;
                        if (y < bx[0]) bx[0] = y;
                        if (xx < bx[1]) bx[1] = xx;
                        if (y + 1 > bx[2]) bx[2] = y + 1;
                        if (xx + 1 > bx[3]) bx[3] = xx + 1;
                        if (!(y >= r[0] && y < r[2] && xx >= r[1] && xx < r[3]) && !outside++) { oc = c; oy = y; ox = xx; }
                    }
            if (bx[2] < 0) bx[0] = bx[1] = bx[2] = bx[3] = 0;
            CHECK(outside == 0,
                  "%s, input rect [%d,%d)x[%d,%d): blob %d '%s' (%dx%dx%d): %d changed elements outside its dirty rect "
                  "[%d,%d)x[%d,%d), the first at channel %d (%d, %d); the changes span [%d,%d)x[%d,%d)",
                  what, y0, y1, x0, x1, b, net->blob[b].name, A->c, A->h, A->w, outside, r[0], r[2], r[1], r[3], oc, oy,
                  ox, bx[0], bx[2], bx[1], bx[3]);
        }
        b = net->input_blob;
        CHECK(!memcmp(rect + 4 * b, box + 4 * b, 4 * sizeof(int)) && rect[4 * b] == y0 && rect[4 * b + 1] == x0 &&
                  rect[4 * b + 2] == y1 && rect[4 * b + 3] == x1,
              "%s: the input's rect [%d,%d)x[%d,%d) for [%d,%d)x[%d,%d)", what, rect[4 * b], rect[4 * b + 2],
              rect[4 * b + 1], rect[4 * b + 3], y0, y1, x0, x1);
        for (li = 0; li < net->nlayer; li++) {
            const xai_layer *L = &net->layer[li];
            if (L->p.type != XAI_CONVOLUTION || L->bottom[0] != net->input_blob) continue;
            b = L->top[0];
            CHECK(!memcmp(rect + 4 * b, box + 4 * b, 4 * sizeof(int)),
                  "%s, input rect [%d,%d)x[%d,%d): convolution '%s' on the input: dirty rect [%d,%d)x[%d,%d), what "
                  "changed [%d,%d)x[%d,%d) (must be equal)", what, y0, y1, x0, x1, L->name, rect[4 * b], rect[4 * b + 2],
                  rect[4 * b + 1], rect[4 * b + 3], box[4 * b], box[4 * b + 2], box[4 * b + 1], box[4 * b + 3]);
        }
    }
done:
    free(rect); free(box); free(x2);
    xai_tape_free(ta);
    xai_tape_free(tb);
}

static int imin(int a, int b) { return a < b ? a : b; }

/* The corner, the top and left borders, the narrow last column and bottom-right corner of the r grid,
   the middle, one pixel, the whole image. */
static void dirty_suite(const xai_net *net, const char *what, const float *x, int r)
{
    int H = net->input_h, W = net->input_w, lh = H % r ? H % r : r, lw = W % r ? W % r : r, i;
    int rects[8][4];
    rects[0][0] = 0; rects[0][1] = 0; rects[0][2] = r; rects[0][3] = r;
    rects[1][0] = 0; rects[1][1] = W / 2; rects[1][2] = r; rects[1][3] = W / 2 + r;
    rects[2][0] = H / 2; rects[2][1] = 0; rects[2][2] = H / 2 + r; rects[2][3] = r;
    rects[3][0] = r; rects[3][1] = W - lw; rects[3][2] = 2 * r; rects[3][3] = W;
    rects[4][0] = H - lh; rects[4][1] = W - lw; rects[4][2] = H; rects[4][3] = W;
    rects[5][0] = H / 2 - r / 2; rects[5][1] = W / 2 - r / 2; rects[5][2] = H / 2 - r / 2 + r; rects[5][3] = W / 2 - r / 2 + r;
    rects[6][0] = H / 2 + 1; rects[6][1] = W / 3; rects[6][2] = H / 2 + 2; rects[6][3] = W / 3 + 1;
    rects[7][0] = 0; rects[7][1] = 0; rects[7][2] = H; rects[7][3] = W;
    for (i = 0; i < 8; i++) {
        rects[i][2] = imin(rects[i][2], H);
        rects[i][3] = imin(rects[i][3], W);
    }
    check_dirty(net, what, x, (const int (*)[4])rects, 8);
}

/* CaffeNet by hand.  conv1: kernel 11, stride 4, no pad, 55 x 55; output o reads input rows
   [4o, 4o + 11), so it meets input rows [a, b) iff 4o <= b - 1 and 4o + 10 >= a:
     rows [0, 9):    o <= 2, o >= 0             -> [0, 3)
     rows [9, 18):   o <= 4, 4o >= -1           -> [0, 5)
     cols [225, 227) (the narrow last column of the 9 grid): o <= 56 (55 outputs: 54), 4o >= 215 -> [54, 55)
   pool1: kernel 3, stride 2, 27 x 27; output o reads conv1 rows [2o, 2o + 3):
     conv1 rows [0, 3): 2o <= 2, o >= 0 -> [0, 2);   rows [0, 5): 2o <= 4 -> [0, 3)
     conv1 cols [54, 55): 2o <= 54, 2o + 2 >= 54 -> o in {26, 27}, 27 outputs -> [26, 27)
   norm1 (LRN across channels): pool1's rect.
   conv2: kernel 5, pad 2, stride 1, 27 x 27; output o reads norm1 rows [o - 2, o + 3):
     norm1 rows [0, 2): o - 2 <= 1 -> [0, 4);   rows [0, 3): o - 2 <= 2 -> [0, 5)
     norm1 cols [26, 27): o + 2 >= 26, o - 2 <= 26 -> [24, 27) (27 outputs) */
static void caffenet_by_hand(const xai_net *net)
{
    int *rect = (int *)malloc(4 * (size_t)net->nblob * sizeof(int)), i;
    int conv1 = net->layer[xai_net_find_layer(net, "conv1")].top[0], pool1 = net->layer[xai_net_find_layer(net, "pool1")].top[0];
    int norm1 = net->layer[xai_net_find_layer(net, "norm1")].top[0], conv2 = net->layer[xai_net_find_layer(net, "conv2")].top[0];
    int fc6 = net->layer[xai_net_find_layer(net, "fc6")].top[0], all0;
    static const int expect[3][5][4] = {
        /* input rect,            conv1,            pool1,          norm1,          conv2 (y0, x0, y1, x1) */
        {{0, 0, 9, 9},     {0, 0, 3, 3},    {0, 0, 2, 2},    {0, 0, 2, 2},    {0, 0, 4, 4}},
        {{9, 225, 18, 227}, {0, 54, 5, 55}, {0, 26, 3, 27}, {0, 26, 3, 27}, {0, 24, 5, 27}},
        {{9, 0, 18, 9},    {0, 0, 5, 3},    {0, 0, 3, 2},    {0, 0, 3, 2},    {0, 0, 5, 4}},
    };
    if (!rect) { CHECK(0, "memory"); return; }
    for (i = 0; i < 3; i++) {
        const int *e = expect[i][0];
        int blobs[4], j;
        blobs[0] = conv1; blobs[1] = pool1; blobs[2] = norm1; blobs[3] = conv2;
        CHECK(xai_net_dirty_rects(net, e[0], e[1], e[2], e[3], rect) == XAI_OK, "caffenet: %s", xai_failure_reason());
        for (j = 0; j < 4; j++) {
            const int *want = expect[i][j + 1], *got = rect + 4 * blobs[j];
            CHECK(!memcmp(want, got, 4 * sizeof(int)),
                  "CaffeNet, input rows [%d,%d) cols [%d,%d): blob '%s' rows [%d,%d) cols [%d,%d), by hand rows [%d,%d) cols [%d,%d)",
                  e[0], e[2], e[1], e[3], net->blob[blobs[j]].name, got[0], got[2], got[1], got[3], want[0], want[2], want[1],
                  want[3]);
        }
        CHECK(rect[4 * fc6] == 0 && rect[4 * fc6 + 1] == 0 && rect[4 * fc6 + 2] == 1 && rect[4 * fc6 + 3] == 1,
              "CaffeNet: fc6 reads everything: its rect is its whole 1 x 1");
    }
    /* the incremental pass does less than the full one: a 9 x 9 region dirties 3 x 3 of conv1's 55 x 55 */
    xai_net_dirty_rects(net, 99, 99, 108, 108, rect);
    CHECK(rect[4 * conv1 + 2] - rect[4 * conv1] < net->blob[conv1].h && rect[4 * conv1 + 3] - rect[4 * conv1 + 1] < net->blob[conv1].w &&
              rect[4 * conv1 + 2] > rect[4 * conv1],
          "CaffeNet: the middle 9 x 9 region dirties conv1 rows [%d,%d) cols [%d,%d) of 55 x 55", rect[4 * conv1],
          rect[4 * conv1 + 2], rect[4 * conv1 + 1], rect[4 * conv1 + 3]);
    /* an empty input rectangle: nothing can change */
    CHECK(xai_net_dirty_rects(net, 5, 5, 5, 20, rect) == XAI_OK, "empty rect: %s", xai_failure_reason());
    for (i = 0, all0 = 1; i < 4 * net->nblob; i++) if (rect[i]) all0 = 0;
    CHECK(all0, "CaffeNet: an empty input rectangle gives all-zero rectangles");
    free(rect);
}

/* ---- 3. bad input --------------------------------------------------------------------------------- */

static void test_bad_input(void)
{
    xai_net *net = xai_net_new("unfinished");
    xai_layer_param c = conv_p(2, 3, 3, 1, 0, 0, 1, 1);
    int rects[16] = {0}, rc;
    xai_net_input(net, "data", 1, 8, 8);
    xai_net_add(net, "c", &c, "data", "c");
    rc = xai_net_dirty_rects(net, 0, 0, 2, 2, rects);
    CHECK(rc == XAI_ERR_ARG && strstr(xai_failure_reason(), "finalized"), "dirty rects of a net not finalized: %d, %s", rc,
          xai_failure_reason());
    rc = xai_net_dirty_rects(NULL, 0, 0, 2, 2, rects);
    CHECK(rc == XAI_ERR_ARG && strstr(xai_failure_reason(), "finalized"), "dirty rects of no net: %d, %s", rc, xai_failure_reason());
    xai_net_free(net);
}

/* ---- the nets ------------------------------------------------------------------------------------ */

static int shared_present(void)
{
    FILE *f = fopen(SHARED "/README.md", "rb");
    if (f) fclose(f);
    return f != NULL;
}

static xai_net *load_squeezenet(void)
{
    const char *a = SHARED "/squeezenet/SqueezeNet_deploy.prototxt", *b = SHARED "/squeezenet/squeezenet_v1.0.caffemodel";
    size_t lp = 0, lc = 0;
    unsigned char *pt = cpb_read_file(a, CPB_MAX_FILE, &lp), *cm = cpb_read_file(b, CPB_MAX_FILE, &lc);
    xai_net *net = pt && cm ? cpb_convert((const char *)pt, lp, a, cm, lc, b, NULL) : NULL;
    CHECK(net != NULL, "squeezenet: %s", cpb_failure_reason());
    free(pt);
    free(cm);
    return net;
}

static void small_nets(void)
{
    static const pcase kinds_cases[] = {
        /* region steps perturb batch order tape threads softmax repeat */
        {1, 0, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_FORWARD, 1, 0, 0},   /* every pixel */
        {2, 60, XAI_PERTURB_BLUR, 7, XAI_ORDER_LERF, TAPE_FULL, 2, 0, 1},
        {3, 0, XAI_PERTURB_CONSTANT, 1, XAI_ORDER_RANDOM, TAPE_NULL, 1, 0, 2},   /* 3 > conv strides 2 */
        {4, 0, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_MORF, TAPE_REFERENCE, 1, 0, 3},
        {5, 0, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_RANDOM, TAPE_FORWARD, 2, 1, 4},
        {13, 0, XAI_PERTURB_BLUR, 1, XAI_ORDER_MORF, TAPE_REFERENCE, 2, 0, 5},   /* 2 x 2 regions, 10 and 8 wide */
        {1, 40, XAI_PERTURB_CONSTANT, 16, XAI_ORDER_LERF, TAPE_REFERENCE, 1, 1, 6},
        {7, 0, XAI_PERTURB_UNIFORM, 3, XAI_ORDER_LERF, TAPE_FULL, 1, 0, 7},
    };
    static const pcase tail_cases[] = {
        {1, 0, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_FORWARD, 2, 0, 0},
        {4, 0, XAI_PERTURB_BLUR, 7, XAI_ORDER_LERF, TAPE_REFERENCE, 1, 0, 1},
        {5, 0, XAI_PERTURB_CONSTANT, 1, XAI_ORDER_RANDOM, TAPE_FULL, 1, 1, 2},
        {3, 0, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_MORF, TAPE_NULL, 2, 0, 3},
    };
    static const pcase stride_cases[] = {
        {1, 0, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_MORF, TAPE_FORWARD, 1, 0, 0},
        {2, 0, XAI_PERTURB_CONSTANT, 16, XAI_ORDER_LERF, TAPE_REFERENCE, 2, 0, 1},   /* 2 < stride 3 */
        {4, 0, XAI_PERTURB_BLUR, 1, XAI_ORDER_RANDOM, TAPE_FULL, 2, 0, 2},           /* 4 > stride 3 */
        {5, 0, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_NULL, 1, 1, 3},
    };
    static const pcase flat_cases[] = {
        {2, 0, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_MORF, TAPE_FORWARD, 1, 0, 0},
        {3, 0, XAI_PERTURB_BLUR, 1, XAI_ORDER_LERF, TAPE_REFERENCE, 2, 0, 1},
    };
    struct { xai_net *(*make)(void); const pcase *cases; int ncase, r; } nets[4];
    int i;
    nets[0].make = net_kinds; nets[0].cases = kinds_cases; nets[0].ncase = sizeof kinds_cases / sizeof kinds_cases[0]; nets[0].r = 4;
    nets[1].make = net_no_tail; nets[1].cases = tail_cases; nets[1].ncase = sizeof tail_cases / sizeof tail_cases[0]; nets[1].r = 5;
    nets[2].make = net_strides; nets[2].cases = stride_cases; nets[2].ncase = sizeof stride_cases / sizeof stride_cases[0]; nets[2].r = 4;
    nets[3].make = net_flat; nets[3].cases = flat_cases; nets[3].ncase = sizeof flat_cases / sizeof flat_cases[0]; nets[3].r = 3;
    for (i = 0; i < 4; i++) {
        xai_net *net = nets[i].make();
        size_t in;
        float *x, *heat;
        if (!net) continue;
        in = xai_net_input_size(net);
        x = (float *)malloc(in * sizeof(float));
        heat = (float *)malloc((size_t)net->input_h * net->input_w * sizeof(float));
        if (x && heat) {
            int cls;
            fill(x, in, 20 + (uint64_t)i, -2, 2);
            dirty_suite(net, net->name, x, nets[i].r);
            dirty_suite(net, net->name, x, 1);
            compare_cases(net, net->name, x, nets[i].cases, nets[i].ncase);
            cls = predicted(net, x);
            make_heat(heat, net->input_h, net->input_w, 3, 55);
            if (cls >= 0) {
                compare_many(net, net->name, x, heat, cls, 3, 0, XAI_PERTURB_UNIFORM, 7, 2, 1);
                compare_many(net, net->name, x, heat, cls, 2, 0, XAI_PERTURB_BLUR, 16, 1, 0);
            }
        }
        free(x);
        free(heat);
        xai_net_free(net);
    }
}

/* Synthetic weights as xai_net_fill_random makes them (He: std sqrt(2 / fan_in), biases 0.1 std) from
   a plain 64-bit LCG, uniform: CaffeNet's 61 M weights in 0.1 s, where xai_net_fill_random's four
   hashes a weight take 1.7 s of the test's budget. */
static void fast_fill(xai_net *net, uint64_t seed)
{
    int li;
    size_t i;
    for (li = 0; li < net->nlayer; li++) {
        xai_layer *L = &net->layer[li];
        uint64_t s = xai_random_key(seed, (uint64_t)li, 0, 0, 0);
        float a;
        if (!L->weight_count) continue;
        a = sqrtf(6.0f / (float)(L->weight_count / (size_t)L->p.num_output));   /* uniform [-a, a): std sqrt(2 / fan_in) */
        for (i = 0; i < L->weight_count; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            L->weight[i] = a * (2 * test_uniform(s) - 1);
        }
        for (i = 0; i < L->bias_count; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            L->bias[i] = 0.17f * (2 * test_uniform(s) - 1);
        }
    }
}

/* CaffeNet with synthetic weights: 227 x 227, 25-35 ms of CPU a full pass, so a few steps a curve,
   chosen by the heatmap (corners, the narrow last row and column, neighbours, the middle). */
static void caffenet(void)
{
    static const pcase cases[] = {
        {9, 9, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_FORWARD, 2, 0, 0},
        {9, 6, XAI_PERTURB_BLUR, 7, XAI_ORDER_LERF, TAPE_FULL, 1, 0, 1},
        {1, 4, XAI_PERTURB_CONSTANT, 1, XAI_ORDER_MORF, TAPE_NULL, 1, 0, 2},        /* single pixels */
        {13, 8, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_MORF, TAPE_FORWARD, 1, 1, 3},     /* 13 > conv1's stride 4 */
        {13, 5, XAI_PERTURB_CONSTANT, 16, XAI_ORDER_RANDOM, TAPE_FORWARD, 1, 0, 4},
    };
    xai_net *net = xai_net_caffenet();
    size_t in;
    float *x, *heat;
    CHECK(net != NULL, "xai_net_caffenet: %s", xai_failure_reason());
    if (!net) return;
    fast_fill(net, 42);
    in = xai_net_input_size(net);
    x = (float *)malloc(in * sizeof(float));
    heat = (float *)malloc((size_t)net->input_h * net->input_w * sizeof(float));
    if (!x || !heat) { CHECK(0, "memory"); goto done; }
    fill(x, in, 31, -120, 130);
    caffenet_by_hand(net);
    {   /* the corner, the narrow last column, the 2 x 2 corner, the middle, one pixel, all of it */
        static const int rects[6][4] = {{0, 0, 9, 9},       {9, 225, 18, 227},  {225, 225, 227, 227},
                                        {108, 99, 117, 108}, {113, 57, 114, 58}, {0, 0, 227, 227}};
        check_dirty(net, "CaffeNet", x, rects, 6);
    }
    compare_cases(net, "CaffeNet", x, cases, sizeof cases / sizeof cases[0]);
    {
        int cls = predicted(net, x);
        make_heat(heat, net->input_h, net->input_w, 9, 56);
        if (cls >= 0) compare_many(net, "CaffeNet", x, heat, cls, 9, 4, XAI_PERTURB_UNIFORM, 7, 2, 0);
    }
done:
    free(x);
    free(heat);
    xai_net_free(net);
}

/* models/fashion.xai, 1 x 28 x 28: every step at regions 2 and 4 (28 = 7 x 4 = 14 x 2: regions divide
   the size here; the small nets above cover the narrow ones). */
static void fashion(void)
{
    static const pcase cases[] = {
        {2, 0, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_FORWARD, 2, 0, 0},
        {4, 0, XAI_PERTURB_BLUR, 7, XAI_ORDER_LERF, TAPE_FULL, 1, 0, 1},
        {4, 0, XAI_PERTURB_CONSTANT, 1, XAI_ORDER_RANDOM, TAPE_REFERENCE, 1, 1, 2},
        {2, 0, XAI_PERTURB_UNIFORM, 7, XAI_ORDER_LERF, TAPE_NULL, 1, 0, 3},
        {3, 40, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_REFERENCE, 2, 0, 4},   /* 28 = 9 x 3 + 1 */
    };
    xai_net *net = xai_net_load("models/fashion.xai");
    float *x, *heat;
    int cls;
    CHECK(net != NULL, "models/fashion.xai: %s", xai_failure_reason());
    if (!net) return;
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    heat = (float *)malloc((size_t)net->input_h * net->input_w * sizeof(float));
    if (x && heat) {
        fill(x, xai_net_input_size(net), 41, -0.3f, 0.7f);
        dirty_suite(net, "fashion", x, 4);
        compare_cases(net, "fashion", x, cases, sizeof cases / sizeof cases[0]);
        make_heat(heat, net->input_h, net->input_w, 4, 57);
        if ((cls = predicted(net, x)) >= 0) compare_many(net, "fashion", x, heat, cls, 4, 0, XAI_PERTURB_UNIFORM, 16, 2, 1);
    }
    free(x);
    free(heat);
    xai_net_free(net);
}

/* The real SqueezeNet v1.0 (fire modules: Split, Concat; ceil pooling; conv10 then global pooling,
   the tail) on the reference input image of ../shared. */
static void squeezenet(void)
{
    static const pcase cases[] = {
        {9, 6, XAI_PERTURB_UNIFORM, 16, XAI_ORDER_MORF, TAPE_FORWARD, 1, 0, 0},
        {13, 4, XAI_PERTURB_BLUR, 7, XAI_ORDER_RANDOM, TAPE_NULL, 2, 0, 1},
    };
    xai_net *net;
    size_t in, len = 0;
    float *x = NULL;
    unsigned char *raw;
    if (!shared_present()) { printf("SKIP SqueezeNet: no %s\n", SHARED); return; }
    if (!(net = load_squeezenet())) return;
    in = xai_net_input_size(net);
    raw = test_read(SHARED "/squeezenet/input.f32", &len);
    x = (float *)malloc(in * sizeof(float));
    if (x) {
        if (raw && len >= in * sizeof(float)) memcpy(x, raw, in * sizeof(float));   /* image 0: uniform(-128, 128) */
        else fill(x, in, 61, -128, 128);
        static const int rects[2][4] = {{0, 0, 9, 9}, {108, 225, 117, 227}};
        check_dirty(net, "SqueezeNet", x, rects, 2);
        compare_cases(net, "SqueezeNet", x, cases, sizeof cases / sizeof cases[0]);
    }
    free(raw);
    free(x);
    xai_net_free(net);
}

/* Occlusion: xai_occlusion by the incremental pass = by full passes, bit for bit; and a case by hand:
   conv (1x1, weight 1) then f = w . x, 1 x 5 x 5, patches of 2 every pixel (the last row and column
   1 wide) replaced by 0: a patch's drop is sum over its pixels of w x, a pixel's value the mean
   drop of the patches covering it. */
static void occlusion_compare(const xai_net *net, const char *what, const float *x, int size, int stride, int perturb,
                              int threads)
{
    size_t hw = (size_t)net->input_h * net->input_w;
    float *a = (float *)malloc(hw * sizeof(float)), *b = (float *)malloc(hw * sizeof(float)), sa = 0, sb = 0;
    int ca = -1, cb = -1, ra, rb;
    xai_aopc_config cfg;
    xai_aopc_defaults(&cfg);
    cfg.perturb = perturb;
    cfg.batch = 7;
    set_threads(threads);
    cfg.no_incremental = 1;
    ra = xai_occlusion(net, x, &ca, size, stride, &cfg, 5, a, &sa);
    cfg.no_incremental = 0;
    rb = xai_occlusion(net, x, &cb, size, stride, &cfg, 5, b, &sb);
    set_threads(2);
    CHECK(ra == XAI_OK && rb == XAI_OK, "%s occlusion:%d:%d: %s", what, size, stride, xai_failure_reason());
    CHECK(ra == XAI_OK && rb == XAI_OK && ca == cb && sa == sb && !memcmp(a, b, hw * sizeof(float)),
          "%s occlusion:%d:%d %s, %d threads: incremental = full passes, bit for bit (classes %d %d)", what, size,
          stride, perturb_names[perturb], threads, ca, cb);
    free(a);
    free(b);
}

static void occlusion(void)
{
    xai_net *net = xai_net_new("occlusion by hand");
    xai_layer_param c = xai_layer_defaults(XAI_CONVOLUTION), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    float x[25], heat[25], want[25], wsum[25] = {0};
    int ok = 1, cls = 0, y, xx, p, i, n[25] = {0};
    xai_aopc_config cfg;
    xai_method m;
    c.num_output = 1; c.kernel_h = c.kernel_w = 1; c.bias_term = 0;
    fc.num_output = 2;
    ok &= xai_net_input(net, "data", 1, 5, 5) == XAI_OK;
    ok &= xai_net_add(net, "conv", &c, "data", "conv") >= 0;
    ok &= xai_net_add(net, "fc", &fc, "conv", "fc") >= 0;
    ok &= xai_net_finalize(net) == XAI_OK;
    CHECK(ok, "occlusion net: %s", xai_failure_reason());
    if (ok) {
        net->layer[0].weight[0] = 1;
        fill(net->layer[1].weight, 50, 71, -1, 1);
        fill(x, 25, 72, 0, 3);
        for (p = 0; p < 25; p++) {   /* patch at (p / 5, p % 5), clipped */
            double drop = 0;
            for (y = p / 5; y < p / 5 + 2 && y < 5; y++)
                for (xx = p % 5; xx < p % 5 + 2 && xx < 5; xx++) drop += (double)net->layer[1].weight[y * 5 + xx] * x[y * 5 + xx];
            for (y = p / 5; y < p / 5 + 2 && y < 5; y++)
                for (xx = p % 5; xx < p % 5 + 2 && xx < 5; xx++) { wsum[y * 5 + xx] += (float)drop; n[y * 5 + xx]++; }
        }
        for (i = 0; i < 25; i++) want[i] = wsum[i] / n[i];
        xai_aopc_defaults(&cfg);
        cfg.perturb = XAI_PERTURB_CONSTANT;
        for (cfg.no_incremental = 0; cfg.no_incremental < 2; cfg.no_incremental++) {
            double worst = 0;
            CHECK(xai_occlusion(net, x, &cls, 2, 1, &cfg, 0, heat, NULL) == XAI_OK, "occlusion: %s", xai_failure_reason());
            for (i = 0; i < 25; i++) if (fabs(heat[i] - want[i]) > worst) worst = fabs(heat[i] - want[i]);
            CHECK(worst < 1e-5, "occlusion by hand (%s): off by %g", cfg.no_incremental ? "full" : "incremental", worst);
        }
        /* the method in xai_explain: the same map as xai_occlusion with the defaults */
        CHECK(xai_method_parse("occlusion:2:1", &m) == XAI_OK && m.kind == XAI_OCCLUSION && m.patch == 2 && m.stride == 1,
              "occlusion:2:1 parsed: %s", xai_failure_reason());
        {
            float h2[25];
            int t = 0;
            CHECK(xai_explain(net, NULL, x, 1, &m, &t, NULL, h2, NULL) == XAI_OK && !memcmp(h2, heat, sizeof h2),
                  "xai_explain occlusion:2:1 = xai_occlusion");
        }
        CHECK(xai_method_parse("occlusion:0", &m) != XAI_OK && xai_method_parse("occlusion:3:2.5", &m) != XAI_OK &&
                  xai_method_parse("occlusion+sparkle", &m) != XAI_OK,
              "occlusion: size 0, stride 2.5 and an unknown option refused");
        cls = 0;
        CHECK(xai_occlusion(net, x, &cls, 0, 1, &cfg, 0, heat, NULL) == XAI_ERR_ARG, "occlusion: patch 0 refused");
    }
    xai_net_free(net);
    net = net_kinds();
    if (net) {
        size_t in = xai_net_input_size(net);
        float *xk = (float *)malloc(in * sizeof(float));
        fill(xk, in, 23, -2, 2);
        occlusion_compare(net, net->name, xk, 4, 3, XAI_PERTURB_UNIFORM, 1);
        occlusion_compare(net, net->name, xk, 5, 5, XAI_PERTURB_BLUR, 2);
        occlusion_compare(net, net->name, xk, 1, 1, XAI_PERTURB_CONSTANT, 2);
        free(xk);
        xai_net_free(net);
    }
    net = xai_net_load("models/fashion.xai");
    CHECK(net != NULL, "models/fashion.xai: %s", xai_failure_reason());
    if (net) {
        float xf[28 * 28];
        fill(xf, 28 * 28, 24, -1, 1);
        occlusion_compare(net, "fashion", xf, 4, 2, XAI_PERTURB_UNIFORM, 2);
        occlusion_compare(net, "fashion", xf, 7, 7, XAI_PERTURB_CONSTANT, 1);
        xai_net_free(net);
    }
    net = xai_net_caffenet();
    if (net) {
        size_t in = xai_net_input_size(net);
        float *xc = (float *)malloc(in * sizeof(float));
        fast_fill(net, 43);
        fill(xc, in, 25, -100, 100);
        occlusion_compare(net, "CaffeNet", xc, 90, 76, XAI_PERTURB_UNIFORM, 2);   /* 3 x 3, overlapping, the last clipped */
        free(xc);
        xai_net_free(net);
    }
}

static void timed(void (*part)(void), const char *name)
{
    double t0 = xai_seconds();
    clock_t c0 = clock();
    part();
    printf("%s: %.2f s (%.2f s of CPU)\n", name, xai_seconds() - t0, (double)(clock() - c0) / CLOCKS_PER_SEC);
}

int main(void)
{
    set_threads(2);
    test_bad_input();
    timed(small_nets, "small nets");
    timed(caffenet, "CaffeNet");
    timed(fashion, "fashion.xai");
    timed(squeezenet, "SqueezeNet");
    timed(occlusion, "occlusion");
    return test_report();
}
