/* Training and the training curve (issue 11): a tiny run on a synthetic IDX dataset written here,
   snapshots that load and classify, weight gradients against finite differences, and
   bin/training-curve on the snapshots writing a well-formed TSV and SVG (parsed as XML here). */
#include "../xai.h"
#include "test.h"
#include <sys/stat.h>

static void be32(unsigned char *p, uint32_t v) { p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v; }

/* n images of 28x28: class k is a bright bar at row 2k+4, so a net can learn it in a few steps */
static void write_idx(const char *dir, const char *prefix, int n, uint64_t seed)
{
    char path[512];
    unsigned char *img = (unsigned char *)calloc((size_t)16 + (size_t)n * 784, 1), *lab = (unsigned char *)calloc((size_t)8 + n, 1);
    int i, p;
    be32(img, 0x803); be32(img + 4, (uint32_t)n); be32(img + 8, 28); be32(img + 12, 28);
    be32(lab, 0x801); be32(lab + 4, (uint32_t)n);
    for (i = 0; i < n; i++) {
        int k = (int)(xai_random_key(seed, (uint64_t)i, 0, 0, 0) % 10);
        lab[8 + i] = (unsigned char)k;
        for (p = 0; p < 784; p++) {
            int r = p / 28, noise = (int)(xai_random_key(seed, (uint64_t)i, 1, (uint64_t)p, 0) % 60);
            img[16 + (size_t)i * 784 + p] = (unsigned char)(r == 2 * k + 4 ? 200 + noise / 2 : noise);
        }
    }
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    test_write(path, img, (size_t)16 + (size_t)n * 784);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    test_write(path, lab, (size_t)8 + n);
    free(img);
    free(lab);
}

/* A small XML well-formedness check: tags nest and close, attributes are quoted, no stray '<'. */
static int xml_well_formed(const char *s, char *why, size_t whylen)
{
    char stack[64][64];
    int depth = 0, root_closed = 0;
    while (*s) {
        if (*s != '<') { s++; continue; }
        if (!strncmp(s, "<?", 2)) { s = strstr(s, "?>"); if (!s) { snprintf(why, whylen, "unclosed <?"); return 0; } s += 2; continue; }
        if (!strncmp(s, "<!--", 4)) { s = strstr(s, "-->"); if (!s) { snprintf(why, whylen, "unclosed comment"); return 0; } s += 3; continue; }
        if (s[1] == '/') {
            char name[64];
            int n = 0;
            s += 2;
            while (*s && *s != '>' && n < 63) name[n++] = *s++;
            name[n] = 0;
            if (*s != '>' || depth == 0 || strcmp(stack[depth - 1], name)) { snprintf(why, whylen, "closing </%s> does not match", name); return 0; }
            depth--;
            if (depth == 0) root_closed = 1;
            s++;
        } else {
            char name[64];
            int n = 0, self = 0;
            if (root_closed) { snprintf(why, whylen, "a second root element"); return 0; }
            s++;
            while (*s && *s != ' ' && *s != '>' && *s != '/' && n < 63) name[n++] = *s++;
            name[n] = 0;
            if (!n) { snprintf(why, whylen, "an empty tag name"); return 0; }
            while (*s && *s != '>') {
                if (*s == '"') { s = strchr(s + 1, '"'); if (!s) { snprintf(why, whylen, "an unterminated attribute"); return 0; } }
                else if (*s == '<') { snprintf(why, whylen, "'<' inside tag %s", name); return 0; }
                else if (*s == '=' && s[1] != '"') { snprintf(why, whylen, "an unquoted attribute in %s", name); return 0; }
                self = *s == '/';
                s++;
            }
            if (!*s) { snprintf(why, whylen, "an unclosed tag %s", name); return 0; }
            s++;
            if (!self) {
                if (depth == 64) { snprintf(why, whylen, "too deep"); return 0; }
                snprintf(stack[depth++], 64, "%s", name);
            }
        }
    }
    if (depth || !root_closed) { snprintf(why, whylen, "%d elements left open", depth); return 0; }
    return 1;
}

/* Weight gradients of xai_net_backward against central differences of a loss sum_i g_i s_i. */
static void test_weight_gradients(void)
{
    xai_net *net = xai_net_new("g");
    xai_layer_param c = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU), pool = xai_layer_defaults(XAI_POOLING);
    xai_layer_param lrn = xai_layer_defaults(XAI_LRN), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_tape *t;
    float x[2 * 2 * 6 * 6], g[2 * 3], *pg;
    size_t i, checked = 0, bad = 0;
    double gmax = 0;
    c.num_output = 4; c.kernel_h = c.kernel_w = 3; c.pad_h = c.pad_w = 1; c.group = 2;
    pool.kernel_h = pool.kernel_w = 2; pool.stride_h = pool.stride_w = 2; pool.pool = XAI_POOL_AVE;
    lrn.local_size = 3; lrn.alpha = 0.5f;
    fc.num_output = 3;
    xai_net_input(net, "data", 2, 6, 6);
    xai_net_add(net, "conv", &c, "data", "conv");
    xai_net_add(net, "relu", &relu, "conv", "conv");
    xai_net_add(net, "pool", &pool, "conv", "pool");
    xai_net_add(net, "norm", &lrn, "pool", "norm");
    xai_net_add(net, "fc", &fc, "norm", "fc");
    xai_net_finalize(net);
    xai_net_fill_random(net, 5);
    for (i = 0; i < sizeof x / sizeof *x; i++) x[i] = test_uniform(xai_random_key(9, i, 0, 0, 0)) * 2 - 1;
    for (i = 0; i < 6; i++) g[i] = test_uniform(xai_random_key(10, i, 0, 0, 0)) * 2 - 1;
    t = xai_tape_new(net, 2);
    pg = (float *)calloc(net->nparams, sizeof(float));
    xai_net_forward(net, t, x, 2);
    CHECK(xai_net_backward(net, t, g, pg) == XAI_OK, "backward: %s", xai_failure_reason());
    for (i = 0; i < net->nparams; i++) if (fabs(pg[i]) > gmax) gmax = fabs(pg[i]);
    for (i = 0; i < net->nparams; i++) {
        float w0 = net->params[i];
        double lp = 0, lm = 0, h = 1e-3, num;
        int k;
        if ((i >= net->layer[0].weight_offset + net->layer[0].weight_count && i < net->layer[0].bias_offset) ||
            (i >= net->layer[0].bias_offset + net->layer[0].bias_count && i < net->layer[4].weight_offset) ||
            (i >= net->layer[4].weight_offset + net->layer[4].weight_count && i < net->layer[4].bias_offset) ||
            i >= net->layer[4].bias_offset + net->layer[4].bias_count)
            continue;   /* alignment padding */
        net->params[i] = (float)(w0 + h);
        xai_net_forward(net, t, x, 2);
        for (k = 0; k < 2; k++) { int q; for (q = 0; q < 3; q++) lp += g[k * 3 + q] * xai_tape_scores(t, k)[q]; }
        net->params[i] = (float)(w0 - h);
        xai_net_forward(net, t, x, 2);
        for (k = 0; k < 2; k++) { int q; for (q = 0; q < 3; q++) lm += g[k * 3 + q] * xai_tape_scores(t, k)[q]; }
        net->params[i] = w0;
        num = (lp - lm) / (2 * h);
        checked++;
        if (fabs(num - pg[i]) > 5e-3 * gmax + 1e-4) bad++;
    }
    CHECK(checked > 100 && bad == 0, "weight gradients: %zu of %zu differ from finite differences (max |g| %g)", bad, checked, gmax);
    free(pg);
    xai_tape_free(t);
    xai_net_free(net);
}

int main(void)
{
    char d[256], cmd[2048], path[512], why[256];
    size_t len;
    char *tsv, *svg;
    int rc;
    snprintf(d, sizeof d, "%s", test_tmp("xai_test_training"));
    test_weight_gradients();
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/data", d, d);
    rc = system(cmd);
    (void)rc;
    snprintf(path, sizeof path, "%s/data", d);
    write_idx(path, "train", 512, 1);
    write_idx(path, "t10k", 100, 2);
    snprintf(cmd, sizeof cmd, "bin/train --data %s/data --epochs 2 --batch 32 --lr 0.02 --snapshot-every 8 --snapshot-dir %s/snaps --log %s/train.tsv "
                              "--out %s/final.xai > %s/train.out 2>&1", d, d, d, d, d);
    CHECK(system(cmd) == 0, "bin/train runs (see %s/train.out)", d);
    {
        int it, n = 0;
        for (it = 8; it <= 32; it += 8) {
            xai_net *net;
            snprintf(path, sizeof path, "%s/snaps/iter_%06d.xai", d, it);
            net = xai_net_load(path);
            CHECK(net != NULL, "snapshot %s loads: %s", path, net ? "" : xai_failure_reason());
            if (net) { n++; CHECK(xai_net_num_classes(net) == 10 && net->nlabel == 10, "snapshot: 10 labelled classes"); }
            xai_net_free(net);
        }
        CHECK(n == 4, "4 snapshots (every 8 of 32 iterations)");
    }
    snprintf(path, sizeof path, "%s/train.tsv", d);
    tsv = (char *)test_read(path, &len);
    CHECK(tsv && strstr(tsv, "iteration\ttrain_loss\ttest_accuracy\n8\t") && strstr(tsv, "\n32\t"), "the training log has a line per snapshot");
    free(tsv);
    /* the bars are easy: the last snapshot must have learned them */
    {
        xai_net *net;
        snprintf(path, sizeof path, "%s/final.xai", d);
        net = xai_net_load(path);
        snprintf(path, sizeof path, "%s/train.out", d);
        tsv = (char *)test_read(path, &len);
        CHECK(net && tsv && strstr(tsv, "test accuracy"), "the final model is written");
        if (tsv) {
            const char *last = strstr(tsv, "iteration     32");
            double acc = last ? atof(strstr(last, "test accuracy") + 14) : 0;
            CHECK(acc > 0.5, "the tiny run learns the synthetic classes (test accuracy %.2f)", acc);
        }
        free(tsv);
        xai_net_free(net);
    }
    /* the training curve on the snapshots */
    {
        FILE *f;
        int i;
        snprintf(path, sizeof path, "%s/list.txt", d);
        f = fopen(path, "w");
        for (i = 0; i < 6; i++) {
            xai_image img;
            int p;
            char name[512];
            xai_image_alloc(&img, 28, 28, 1);
            for (p = 0; p < 784; p++) img.data[p] = (float)(p / 28 == 2 * (i % 10) + 4 ? 220 : (p * 7 + i) % 50);
            snprintf(name, sizeof name, "%s/img%d.pgm", d, i);
            xai_image_write_pnm(name, &img);
            xai_image_free(&img);
            fprintf(f, "%s\n", name);
        }
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "bin/training-curve --snapshots %s/snaps --log %s/train.tsv --list %s/list.txt --out %s/curve --steps 5 --repeats 2 "
                              "--methods lrp-eps:0.01,sensitivity-l2,random > %s/curve.out 2>&1", d, d, d, d, d);
    CHECK(system(cmd) == 0, "bin/training-curve runs (see %s/curve.out)", d);
    snprintf(path, sizeof path, "%s/curve/training_curve.tsv", d);
    tsv = (char *)test_read(path, &len);
    CHECK(tsv && !strncmp(tsv, "iteration\ttest_accuracy\taopc_lrp-eps:0.01\taopc_lrp-eps:0.01_minus_random\t", 72), "training_curve.tsv header");
    if (tsv) {
        int lines = 0, fields_ok = 1;
        char *p = tsv, *nl;
        while ((nl = strchr(p, '\n')) != NULL) {
            int tabs = 0;
            char *q;
            for (q = p; q < nl; q++) tabs += *q == '\t';
            if (tabs != 7) fields_ok = 0;
            lines++;
            p = nl + 1;
        }
        CHECK(lines == 5 && fields_ok, "training_curve.tsv: a header and 4 snapshot rows of 8 columns (%d lines)", lines);
    }
    free(tsv);
    snprintf(path, sizeof path, "%s/curve/training_curve.svg", d);
    svg = (char *)test_read(path, &len);
    CHECK(svg && xml_well_formed(svg, why, sizeof why), "training_curve.svg is well-formed XML (%s)", svg ? why : "missing");
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "test accuracy") && strstr(svg, "lrp-eps:0.01"), "the figure has both curves and a legend");
    free(svg);
    snprintf(path, sizeof path, "%s/curve.out", d);
    tsv = (char *)test_read(path, &len);
    CHECK(tsv && strstr(tsv, "Pearson correlation"), "the curve tool prints the correlation");
    free(tsv);
    CHECK(!xml_well_formed("<svg><g></svg>", why, sizeof why) && !xml_well_formed("<svg a=1></svg>", why, sizeof why), "the XML check rejects broken XML");
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    rc = system(cmd);
    return test_report();
}
