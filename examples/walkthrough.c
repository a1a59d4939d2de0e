/* walkthrough: sensitivity, deconvolution, LRP and AOPC on a network small enough to check by hand.
   Build: cc -O2 examples/walkthrough.c -o walkthrough -lm
   Usage: walkthrough

   It builds a 1x4x4 -> conv 2x2 -> ReLU -> max-pool 2x2 -> 2 classes network with the public API,
   weights small integers, and prints every number the library computes on it: the forward pass,
   then for each method the signal at every blob with the rule that made it, the LRP conservation
   sums, and a three-step region-perturbation run with the AOPC arithmetic.  docs/WALKTHROUGH.md
   reads this output line by line; tests/test_walkthrough.c checks it against a hand computation.
   Tags like [fwd.conv] at the end of a line name the numbers for the test. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "cli.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input x, one channel of 4x4 "mean-subtracted pixels" (hence the negative values). */
static const float input_x[16] = {
    1,  0, -1, -1,
    1,  1,  2,  0,
    0,  0,  1, -1,
    0, -1, -1,  6,
};
static const float conv_w[4] = {1, -1,    /* w(0,0) w(0,1) */
                                1,  1};   /* w(1,0) w(1,1) */
static const float conv_b = -1;
static const float fc_w[8] = {2, -4, 1,  3,     /* v_0: class 0 over pool (0,0) (0,1) (1,0) (1,1) */
                              1,  1, 0, -1};    /* v_1: class 1 */
static const float fc_b[2] = {0, 1};
#define EPS 0.01

/* Four decimals; a value that rounds to zero prints as 0.0000, never -0.0000. */
static double clean(double v) { return fabs(v) < 0.00005 ? 0.0 : v; }
static void num(double v) { printf(" %8.4f", clean(v)); }

/* One line of text, with the tag (if any) from column 70. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void line(const char *tag, const char *fmt, ...)
{
    char buf[512];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!tag) { printf("%s\n", buf); return; }
    printf("%s%*s[%s]\n", buf, n < 69 ? 70 - n : 1, "", tag);
}

/* A number as a person writes it: integers without decimals, others with 4; op() puts a negative
   operand in parentheses, val() does not. */
static const char *val(double v, char *buf)
{
    v = clean(v);
    sprintf(buf, v == floor(v) ? "%.0f" : "%.4f", v);
    return buf;
}
static const char *op(double v, char *buf)
{
    char tmp[40];
    sprintf(buf, clean(v) < 0 ? "(%s)" : "%s", val(v, tmp));
    return buf;
}

/* "a*b + c*d + ..." of n products, then "+ bias" if bias is not NULL, into buf. */
static void products(char *buf, const float *a, const float *b, int n, const float *bias)
{
    char o1[48], o2[48];
    int k, len = 0;
    for (k = 0; k < n; k++) len += sprintf(buf + len, "%s%s*%s", k ? " + " : "", op(a[k], o1), op(b[k], o2));
    if (bias) sprintf(buf + len, " + %s", op(*bias, o1));
}

/* A blob as a grid (one channel): rows on lines, indented. */
static void grid(const float *v, int h, int w)
{
    int i, j;
    for (i = 0; i < h; i++) {
        printf("    ");
        for (j = 0; j < w; j++) num(v[i * w + j]);
        printf("\n");
    }
}

static double total(const xai_tensor *t)
{
    double s = 0;
    size_t i;
    for (i = 0; i < xai_tensor_count(t); i++) s += t->data[i];
    return s;
}

static xai_net *build(void)
{
    xai_net *net = xai_net_new("walkthrough");
    xai_layer_param conv = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU);
    xai_layer_param pool = xai_layer_defaults(XAI_POOLING), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    int lc, lf;
    conv.num_output = 1;
    conv.kernel_h = conv.kernel_w = 2;          /* stride 1, no padding: Caffe's defaults */
    pool.pool = XAI_POOL_MAX;
    pool.kernel_h = pool.kernel_w = 2;          /* stride 1: the windows overlap, as CaffeNet's 3/2 do */
    fc.num_output = 2;
    /* every blob has its own name (no in-place ReLU), so xai_tape_signal finds each one */
    if (!net || xai_net_input(net, "data", 1, 4, 4) != XAI_OK || xai_net_add(net, "conv", &conv, "data", "conv") < 0 ||
        xai_net_add(net, "relu", &relu, "conv", "relu") < 0 || xai_net_add(net, "pool", &pool, "relu", "pool") < 0 ||
        xai_net_add(net, "fc", &fc, "pool", "fc") < 0 || xai_net_finalize(net) != XAI_OK) {
        fprintf(stderr, "walkthrough: %s\n", xai_failure_reason());
        exit(1);
    }
    lc = xai_net_find_layer(net, "conv");
    lf = xai_net_find_layer(net, "fc");
    memcpy(net->layer[lc].weight, conv_w, sizeof conv_w);
    net->layer[lc].bias[0] = conv_b;
    memcpy(net->layer[lf].weight, fc_w, sizeof fc_w);
    memcpy(net->layer[lf].bias, fc_b, sizeof fc_b);
    return net;
}

/* One backward step: which layer, which rule, what it computes, then the signal it left. */
static void step(const xai_tape *t, const char *blob, const char *what, const char *rule, const char *tag)
{
    const xai_tensor *s = xai_tape_signal(t, blob);
    line(NULL, "  %-13s %s", what, rule);
    line(tag, "  signal at %s (%dx%dx%d)", blob, s->c, s->h, s->w);
    if (s->h == 1 && s->w == 1) grid(s->data, 1, s->c);
    else grid(s->data, s->c * s->h, s->w);
}

static void explain(const xai_net *net, xai_tape *t, const char *name, float *heat)
{
    xai_method m;
    int cls = -1;
    if (xai_method_parse(name, &m) != XAI_OK || xai_explain(net, t, input_x, 1, &m, &cls, NULL, heat, NULL) != XAI_OK) {
        fprintf(stderr, "walkthrough: %s\n", xai_failure_reason());
        exit(1);
    }
}

static void heatmap(const float *heat, const char *how, const char *tag)
{
    line(tag, "  heatmap h(p): %s", how);
    grid(heat, 4, 4);
}

/* LRP conservation at one layer: the sum of R at the blob, against the blob above. */
static void conservation(const xai_tape *t, const char *blob, const char *above, const char *why, const char *tag)
{
    double s = total(xai_tape_signal(t, blob)), a = total(xai_tape_signal(t, above));
    line(tag, "  sum R(%s) = %.4f   (sum R(%s) = %.4f; %s)", blob, clean(s), above, clean(a), why);
}

/* Region perturbation of one heatmap, with the AOPC arithmetic. */
static void perturbation(const xai_net *net, const float *heat, int cls, const char *label, const char *key)
{
    xai_aopc_config cfg;
    float curve[4];
    double aopc[4], score[4] = {0, 0, 0, 0};
    int order[4], k, L, y, x, n;
    char buf[256], tag[64];
    xai_aopc_defaults(&cfg);
    cfg.region = 2;                        /* 4x4 input: 2x2 squares, 4 regions */
    cfg.steps = 3;
    cfg.repeats = 1;
    cfg.perturb = XAI_PERTURB_CONSTANT;    /* the mean: 0 in input space; no noise, so exact */
    cfg.batch = 4;
    if (xai_region_order(heat, 4, 4, cfg.region, XAI_ORDER_MORF, cfg.seed, 0, 0, order) != XAI_OK ||
        xai_perturbation_curve(net, NULL, input_x, heat, cls, XAI_ORDER_MORF, 0, 0, &cfg, curve) != XAI_OK) {
        fprintf(stderr, "walkthrough: %s\n", xai_failure_reason());
        exit(1);
    }
    xai_aopc_of_curve(curve, cfg.steps, aopc);
    for (y = 0; y < 4; y++)
        for (x = 0; x < 4; x++) score[(y / 2) * 2 + x / 2] += heat[y * 4 + x];
    printf("\n");
    line(NULL, "  %s heatmap", label);
    sprintf(tag, "aopc.%s.scores", key);
    line(tag, "    region scores (sum of h): %.4f %.4f %.4f %.4f", clean(score[0]), clean(score[1]), clean(score[2]), clean(score[3]));
    sprintf(tag, "aopc.%s.order", key);
    line(tag, "    MoRF order: %d %d %d %d", order[0], order[1], order[2], order[3]);
    for (k = 0; k <= cfg.steps; k++) {
        if (k == 0) n = sprintf(buf, "    k = 0  x(0) = x:            ");
        else n = sprintf(buf, "    k = %d  region %d set to 0:  ", k, order[k - 1]);
        sprintf(buf + n, "f_c(x(%d)) = %7.4f   f_c(x(0)) - f_c(x(%d)) = %.4f", k, clean(curve[k]), k, clean(curve[0] - curve[k]));
        line(NULL, "%s", buf);
    }
    sprintf(tag, "aopc.%s.curve", key);
    line(tag, "    curve f_c(x(k)), k = 0..3: %.4f %.4f %.4f %.4f", clean(curve[0]), clean(curve[1]), clean(curve[2]), clean(curve[3]));
    for (L = 0; L <= cfg.steps; L++) {
        n = sprintf(buf, "    AOPC(%d) = (", L);
        for (k = 0; k <= L; k++) n += sprintf(buf + n, "%s%.4f", k ? " + " : "", clean(curve[0] - curve[k]));
        sprintf(buf + n, ") / %d = %.4f", L + 1, clean(aopc[L]));
        sprintf(tag, "aopc.%s.%d", key, L);
        line(tag, "%s", buf);
    }
}

static const char usage[] =
    "usage: walkthrough\n"
    "Sensitivity, deconvolution, LRP and AOPC on a 1x4x4 -> conv 2x2 -> ReLU -> max-pool -> 2 classes\n"
    "network small enough to check by hand: every number the library computes, with the rule that\n"
    "made it (docs/WALKTHROUGH.md reads the output line by line).  It takes no arguments.\n"
    "\n"
    "  --help      this text;   --version   the version of xai.h\n"
    "\n"
    "example: walkthrough | less\n";

int main(int argc, char **argv)
{
    xai_net *net;
    xai_tape *t;
    float heat_sens[16], heat_deconv[16], heat_eps[16], heat_ab[16], patch[4], pv[4];
    const xai_tensor *xs, *zs, *ps, *fs, *R, *G;
    const int *sw;
    int cls, q, a, b, k, lp;
    double eps_bias = 0, eps_eps = 0, ab_bias = 0, zp, zn;
    char o1[48], o2[48], o3[48], o4[48], o5[48], buf[256];
    cli_tool = "walkthrough";
    if (argc > 1) {
        cli_standard_options(argc, argv, usage);
        cli_usage_error("takes no arguments; what is", argv[1]);
    }
    net = build();
    t = xai_tape_new(net, 1);
    lp = xai_net_find_layer(net, "pool");
    if (!t || xai_net_forward(net, t, input_x, 1) != XAI_OK) {
        fprintf(stderr, "walkthrough: %s\n", xai_failure_reason());
        return 1;
    }
    xs = xai_tape_blob(t, "data");
    zs = xai_tape_blob(t, "conv");
    ps = xai_tape_blob(t, "pool");
    fs = xai_tape_blob(t, "fc");
    sw = t->switches[lp];
    cls = xai_argmax(fs->data, 2);
    for (q = 0; q < 4; q++) pv[q] = ps->data[q];

    line(NULL, "xai.h walkthrough: every number of one explanation, on a network small enough to check");
    line(NULL, "by hand (docs/WALKTHROUGH.md reads this output line by line)");
    line(NULL, "%s", "");
    line(NULL, "The network (xai_net_new, xai_net_input, xai_net_add, xai_net_finalize, then weights by hand):");
    line(NULL, "  data  the input x                                                      1x4x4");
    line(NULL, "  conv  Convolution, one 2x2 filter w = [%g %g; %g %g], bias b = %g, stride 1  -> 1x3x3",
         conv_w[0], conv_w[1], conv_w[2], conv_w[3], conv_b);
    line(NULL, "  relu  ReLU                                                              -> 1x3x3");
    line(NULL, "  pool  Pooling MAX 2x2, stride 1 (the windows overlap)                   -> 1x2x2");
    line(NULL, "  fc    InnerProduct, 2 classes: f_k = v_k . p + c_k                      -> 1x1x2");
    line(NULL, "        v_0 = [%g %g %g %g], c_0 = %g;  v_1 = [%g %g %g %g], c_1 = %g", fc_w[0], fc_w[1], fc_w[2], fc_w[3],
         fc_b[0], fc_w[4], fc_w[5], fc_w[6], fc_w[7], fc_b[1]);
    line(NULL, "Methods (xai_method_parse): sensitivity-l2, deconv-l2, lrp-eps:0.01, lrp-ab:2 (alpha 2, beta 1).");
    line(NULL, "Numbers are rounded to 4 decimals; (i,j) is (row, column), counted from 0.");

    /* ---- 1. forward ---- */
    line(NULL, "%s", "");
    line(NULL, "1. FORWARD PASS (xai_net_forward; each layer's forward rule is in xai.h section 5)");
    line(NULL, "%s", "");
    line("fwd.data", "  data: the input x");
    grid(xs->data, 4, 4);
    line("fwd.conv", "  conv: z(i,j) = sum_ab x(i+a,j+b) w(a,b) + b");
    grid(zs->data, 3, 3);
    for (a = 0; a < 2; a++)
        for (b = 0; b < 2; b++) patch[a * 2 + b] = xs->data[a * 4 + 1 + b];
    products(buf, patch, conv_w, 4, &conv_b);
    line(NULL, "    e.g. z(0,1) = x(0,1)w(0,0) + x(0,2)w(0,1) + x(1,1)w(1,0) + x(1,2)w(1,1) + b");
    line(NULL, "                = %s = %s", buf, val(zs->data[1], o1));
    line("fwd.relu", "  relu: a = max(0, z)");
    grid(xai_tape_blob(t, "relu")->data, 3, 3);
    line("fwd.pool", "  pool: p = the maximum of each 2x2 window of a");
    grid(ps->data, 2, 2);
    line("fwd.switch", "    switches, the winner of each window as (i,j) in a: (%d,%d) (%d,%d) (%d,%d) (%d,%d)",
         sw[0] / 3, sw[0] % 3, sw[1] / 3, sw[1] % 3, sw[2] / 3, sw[2] % 3, sw[3] / 3, sw[3] % 3);
    line(NULL, "    windows (0,0) and (0,1) share their winner a(0,1); window (1,0) is all zeros, and the");
    line(NULL, "    first maximum in scan order, a(1,0), wins the tie (the tape keeps these switches)");
    line("fwd.fc", "  fc: f_k = sum_q v_k(q) p(q) + c_k");
    grid(fs->data, 1, 2);
    for (k = 0; k < 2; k++) {
        products(buf, fc_w + 4 * k, pv, 4, fc_b + k);
        line(NULL, "    f_%d = %s = %s", k, buf, val(fs->data[k], o1));
    }
    line("fwd.fc_c", "    predicted class c = %d (xai_argmax); every method explains f_c = %.4f", cls, fs->data[cls]);

    /* ---- 2. sensitivity ---- */
    explain(net, t, "sensitivity-l2", heat_sens);
    line(NULL, "%s", "");
    line(NULL, "2. SENSITIVITY ANALYSIS (Simonyan et al. 2014): s = df_c/dx, the chain rule, backwards");
    line(NULL, "   xai_explain runs the forward pass, then the engine xai__backward walks the layers in");
    line(NULL, "   reverse, each by its rule in row XAI_SENSITIVITY of xai__method_table");
    line(NULL, "%s", "");
    step(t, "fc", "start", "g(fc) = df_c/df: 1 at c, 0 elsewhere", "sens.fc");
    step(t, "pool", "fc -> pool", "xai__linear_backward_gradient: g(pool) = V^T g(fc), here v_c", "sens.pool");
    step(t, "relu", "pool -> relu", "xai__pool_backward_gradient: each g(pool) to its window's switch, summed", "sens.relu");
    G = xai_tape_signal(t, "pool");
    line(NULL, "    a(0,1) gets %s + %s = %s from two windows; a(1,0) gets %s; a(2,2) gets %s", val(G->data[0], o1), op(G->data[1], o2),
         val(G->data[0] + G->data[1], o3), val(G->data[2], o4), val(G->data[3], o5));
    step(t, "conv", "relu -> conv", "xai__relu_backward_gradient: g(conv) = g(relu) * 1[z > 0]", "sens.conv");
    line(NULL, "    z(1,0) = %s <= 0: the gradient stops there", val(zs->data[3], o1));
    step(t, "data", "conv -> data", "xai__linear_backward_gradient: g(x) = W^T g(conv): g(i,j) w(a,b) to x(i+a,j+b)", "sens.data");
    G = xai_tape_signal(t, "conv");
    line(NULL, "    e.g. g(x(3,3)) = w(1,1) g(conv 2,2) = %s*%s = %s", op(conv_w[3], o1), op(G->data[8], o2), val(conv_w[3] * G->data[8], o3));
    line(NULL, "         g(x(0,2)) = w(0,1) g(conv 0,1) = %s*%s = %s", op(conv_w[1], o1), op(G->data[1], o2), val(conv_w[1] * G->data[1], o3));
    heatmap(heat_sens, "||s(p)||_2 over the channels (one channel: |s(p)|)", "sens.heat");

    /* ---- 3. deconvolution ---- */
    explain(net, t, "deconv-l2", heat_deconv);
    line(NULL, "%s", "");
    line(NULL, "3. DECONVOLUTION (Zeiler & Fergus 2014): the same walk, but ReLU passes max(0, signal)");
    line(NULL, "   row XAI_DECONVOLUTION of xai__method_table; the signal starts at f_c, not 1, as for LRP");
    line(NULL, "%s", "");
    step(t, "fc", "start", "d(fc) = f_c at c, 0 elsewhere", "deconv.fc");
    step(t, "pool", "fc -> pool", "xai__linear_backward_gradient: d(pool) = V^T d(fc)", "deconv.pool");
    step(t, "relu", "pool -> relu", "xai__pool_backward_gradient: to the switches, summed", "deconv.relu");
    step(t, "conv", "relu -> conv", "xai__relu_backward_deconv: d(conv) = max(0, d(relu)), whatever z was", "deconv.conv");
    G = xai_tape_signal(t, "relu");
    line(NULL, "    a(0,1): %s is cut although z = %s > 0; a(1,0): %s passes although z = %s", val(G->data[1], o1),
         val(zs->data[1], o2), val(G->data[3], o3), val(zs->data[3], o4));
    line(NULL, "    (sensitivity did the reverse: it kept the negative signal at (0,1) and cut (1,0))");
    step(t, "data", "conv -> data", "xai__linear_backward_gradient: d(x) = W^T d(conv)", "deconv.data");
    heatmap(heat_deconv, "||d(p)||_2 over the channels", "deconv.heat");

    /* ---- 4. LRP epsilon ---- */
    explain(net, t, "lrp-eps:0.01", heat_eps);
    line(NULL, "%s", "");
    line(NULL, "4. LRP, EPSILON RULE (Bach et al. 2015, eq. 58): R_i = sum_j z_ij / (z_j + eps sign(z_j)) R_j");
    line(NULL, "   z_ij = x_i w_ij is input i's share of neuron j, z_j = sum_i z_ij + b_j its value,");
    line(NULL, "   eps = 0.01, sign(0) = +1.  Row XAI_LRP of xai__method_table: linear layers");
    line(NULL, "   xai__linear_backward_lrp (which calls xai__lrp_linear_part), ReLU xai__backward_identity,");
    line(NULL, "   max pooling xai__pool_backward_lrp");
    line(NULL, "%s", "");
    step(t, "fc", "start", "R(fc) = f_c at c, 0 elsewhere", "eps.fc");
    step(t, "pool", "fc -> pool", "xai__linear_backward_lrp: R(q) = p(q) v_c(q) / (f_c + eps) R(fc)", "eps.pool");
    R = xai_tape_signal(t, "pool");
    for (q = 0; q < 4; q++)
        line(NULL, "    R(%d,%d) = %s*%s / (%s + 0.01) * %s = %.4f", q / 2, q % 2, op(ps->data[q], o1), op(fc_w[cls * 4 + q], o2),
             val(fs->data[cls], o3), op(xai_tape_signal(t, "fc")->data[cls], o4), clean(R->data[q]));
    conservation(t, "pool", "fc", "eps kept R(fc) eps/(f_c + eps)", "eps.sum.pool");
    step(t, "relu", "pool -> relu", "xai__pool_backward_lrp: MAX is winner-take-all, R to the switch, summed", "eps.relu");
    line(NULL, "    a(0,1) gets %.4f + (%.4f) from its two windows; window (1,0) has p = 0, so R = 0",
         clean(R->data[0]), clean(R->data[1]));
    conservation(t, "relu", "pool", "routing keeps every R", "eps.sum.relu");
    step(t, "conv", "relu -> conv", "xai__backward_identity: R(conv) = R(relu)", "eps.conv");
    step(t, "data", "conv -> data", "xai__linear_backward_lrp: z_ij = x(i+a,j+b) w(a,b), z_j = z(i,j)", "eps.data");
    R = xai_tape_signal(t, "conv");
    line(NULL, "    by hand, the two neurons with R != 0 (their patches do not overlap):");
    for (q = 0; q < 9; q++) {
        double Rj = R->data[q], zj = zs->data[q], d = zj >= 0 ? zj + EPS : zj - EPS;
        int i = q / 3, j = q % 3;
        if (Rj == 0) continue;
        line(NULL, "      conv(%d,%d): z = %s, R = %.4f, R/(z + eps) = %.4f", i, j, val(zj, o1), clean(Rj), clean(Rj / d));
        for (a = 0; a < 2; a++)
            for (b = 0; b < 2; b++) {
                double xv = xs->data[(i + a) * 4 + j + b], wv = conv_w[a * 2 + b];
                line(NULL, "        z_ij = x(%d,%d) w(%d,%d) = %s*%s = %s,  R(x(%d,%d)) = %s * %s = %.4f", i + a, j + b, a, b,
                     op(xv, o1), op(wv, o2), val(xv * wv, o3), i + a, j + b, op(xv * wv, o4), op(Rj / d, o5), clean(xv * wv * Rj / d));
            }
        eps_bias += conv_b * Rj / d;
        eps_eps += (zj >= 0 ? EPS : -EPS) * Rj / d;
    }
    conservation(t, "data", "conv", "the bias and eps took the rest", "eps.sum.data");
    line("eps.absorbed", "    to the bias: sum_j b R_j/(z_j+eps) = %.4f", clean(eps_bias));
    line("eps.absorbed_eps", "    to eps:      sum_j eps R_j/(z_j+eps) = %.4f", clean(eps_eps));
    line(NULL, "    (b = %g < 0 took negative relevance, so the inputs hold more than R(conv))", conv_b);
    heatmap(heat_eps, "sum of R(p) over the channels, signed", "eps.heat");

    /* ---- 5. LRP alpha-beta ---- */
    explain(net, t, "lrp-ab:2", heat_ab);
    line(NULL, "%s", "");
    line(NULL, "5. LRP, ALPHA-BETA RULE (Bach et al. 2015, eq. 60), alpha = 2, beta = 1 (alpha - beta = 1)");
    line(NULL, "   R_i = sum_j (alpha z+_ij / z+_j - beta z-_ij / z-_j) R_j with z+_ij = max(0, x_i w_ij),");
    line(NULL, "   z-_ij = min(0, x_i w_ij) (a negative x times a negative w counts as positive),");
    line(NULL, "   z+_j = sum_i z+_ij + max(0, b_j), z-_j = sum_i z-_ij + min(0, b_j); a zero denominator");
    line(NULL, "   drops its term.  Two paths compute it, with the same numbers.  The plain one, where the");
    line(NULL, "   input has signs (here conv, on the pixels): xai__linear_backward_lrp calls xai__lrp_linear_part");
    line(NULL, "   twice, the positive part times alpha, the negative part times -beta.  The one that runs after");
    line(NULL, "   a ReLU (x >= 0; here fc): xai__lrp_alpha_beta_pair, both parts from one pass over W, with the");
    line(NULL, "   z+ and z- the forward pass kept.  The start and the routing are as for eps.");
    line(NULL, "%s", "");
    zp = fc_b[cls] > 0 ? fc_b[cls] : 0;
    zn = fc_b[cls] < 0 ? fc_b[cls] : 0;
    for (q = 0; q < 4; q++) {
        double c = (double)ps->data[q] * fc_w[cls * 4 + q];
        if (c > 0) zp += c; else zn += c;
    }
    sprintf(buf, "xai__lrp_alpha_beta_pair: z+ = %s, z- = %s (c_%d = %g)", val(zp, o1), val(zn, o2), cls, fc_b[cls]);
    step(t, "pool", "fc -> pool", buf, "ab.pool");
    R = xai_tape_signal(t, "pool");
    for (q = 0; q < 4; q++) {
        double c = (double)ps->data[q] * fc_w[cls * 4 + q];
        if (c > 0) line(NULL, "    R(%d,%d) = 2 * %s/%s * %s = %.4f", q / 2, q % 2, val(c, o1), val(zp, o2), val(fs->data[cls], o3), clean(R->data[q]));
        else if (c < 0) line(NULL, "    R(%d,%d) = -1 * %s/%s * %s = %.4f", q / 2, q % 2, op(c, o1), op(zn, o2), val(fs->data[cls], o3), clean(R->data[q]));
        else line(NULL, "    R(%d,%d) = 0 (p(q) v_c(q) = 0)", q / 2, q % 2);
    }
    conservation(t, "pool", "fc", "alpha - beta = 1 and no bias: exact", "ab.sum.pool");
    step(t, "conv", "pool -> conv", "winner-take-all, then identity through ReLU, as for eps", "ab.conv");
    step(t, "data", "conv -> data", "xai__lrp_linear_part twice (the pixels have signs)", "ab.data");
    R = xai_tape_signal(t, "conv");
    line(NULL, "    by hand, the two neurons with R != 0:");
    for (q = 0; q < 9; q++) {
        double Rj = R->data[q], in = 0;
        int i = q / 3, j = q % 3;
        if (Rj == 0) continue;
        zp = conv_b > 0 ? conv_b : 0;
        zn = conv_b < 0 ? conv_b : 0;
        for (a = 0; a < 2; a++)
            for (b = 0; b < 2; b++) {
                double c = (double)xs->data[(i + a) * 4 + j + b] * conv_w[a * 2 + b];
                if (c > 0) zp += c; else zn += c;
            }
        line(NULL, "      conv(%d,%d): R = %.4f, z+ = %s, z- = %s (b = %g is in z-)", i, j, clean(Rj), val(zp, o1), val(zn, o2), conv_b);
        for (a = 0; a < 2; a++)
            for (b = 0; b < 2; b++) {
                double c = (double)xs->data[(i + a) * 4 + j + b] * conv_w[a * 2 + b], r;
                r = c > 0 ? 2 * c / zp * Rj : c < 0 ? -1 * c / zn * Rj : 0;
                in += r;
                if (c > 0)
                    line(NULL, "        x(%d,%d) w(%d,%d) = %s > 0:  R = 2 * %s/%s * %s = %.4f", i + a, j + b, a, b, val(c, o1), val(c, o2),
                         val(zp, o3), op(Rj, o4), clean(r));
                else if (c < 0)
                    line(NULL, "        x(%d,%d) w(%d,%d) = %s < 0:  R = -1 * %s/%s * %s = %.4f", i + a, j + b, a, b, val(c, o1), op(c, o2),
                         op(zn, o3), op(Rj, o4), clean(r));
                else
                    line(NULL, "        x(%d,%d) w(%d,%d) = 0:  R = 0", i + a, j + b, a, b);
            }
        ab_bias += Rj - in;
    }
    conservation(t, "data", "conv", "the bias took the rest", "ab.sum.data");
    line("ab.absorbed", "    the bias took %.4f: b sits in z-_j, so it gets -beta b/z-_j R_j", clean(ab_bias));
    heatmap(heat_ab, "sum of R(p) over the channels, signed", "ab.heat");

    /* ---- 6. region perturbation ---- */
    line(NULL, "%s", "");
    line(NULL, "6. REGION PERTURBATION AND AOPC (Samek et al. 2017, Sec. III)");
    line(NULL, "   regions: 2x2 squares on a grid from (0,0), numbered row by row: 0 1 / 2 3");
    line(NULL, "   (xai_region_count: %d).  xai_region_order: a region's score is the sum of h over its", xai_region_count(4, 4, 2));
    line(NULL, "   pixels; MoRF, most relevant first, ties to the lower index.  xai_perturbation_curve:");
    line(NULL, "   x(0) = x, x(k) = x(k-1) with the k-th region set to 0 (XAI_PERTURB_CONSTANT: the mean,");
    line(NULL, "   0 in input space), f_c after each step.  xai_aopc_of_curve:");
    line(NULL, "   AOPC(L) = 1/(L+1) sum_{k=0..L} (f_c(x(0)) - f_c(x(k))).  Higher is better.");
    perturbation(net, heat_eps, cls, "LRP-epsilon", "eps");
    perturbation(net, heat_sens, cls, "sensitivity-l2", "sens");
    perturbation(net, heat_deconv, cls, "deconv-l2", "deconv");
    line(NULL, "%s", "");
    line(NULL, "   LRP ranks regions 0 and 1 last: their relevance is negative, evidence against class %d.", cls);
    line(NULL, "   Sensitivity and deconvolution see only magnitudes and remove region 0 second, which lifts");
    line(NULL, "   f_c back up; sensitivity then removes region 1 too.  AOPC(3): LRP > deconvolution >");
    line(NULL, "   sensitivity, the paper's order, here on a single image.");

    xai_tape_free(t);
    xai_net_free(net);
    return 0;
}
