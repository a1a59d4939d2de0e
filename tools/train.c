/* train: trains the shipped CaffeNet-style model on Fashion-MNIST, reproducibly from a seed.
   Build: cc -O2 tools/train.c -o train -lm          (add -fopenmp -march=native: it is 10x faster)

   train --data DIR [--out MODEL.xai] [--epochs E] [--batch B] [--lr LR] [--momentum M]
         [--decay WD] [--seed S] [--snapshot-every N] [--snapshot-dir DIR] [--log LOG.tsv]
         [--train-limit N] [--test-limit N] [--flip 0|1]

   DIR holds the four Fashion-MNIST IDX files, uncompressed (train-images-idx3-ubyte,
   train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte); `make fashion-data`
   decompresses Debian's dataset-fashion-mnist into data/fashion-mnist/.

   The net has CaffeNet's layer types: conv1 32 5x5 pad 2 - ReLU - max pool 3/2 - LRN 5 -
   conv2 64 3x3 pad 1 group 2 - ReLU - max pool 3/2 - LRN 5 - fc3 256 - ReLU - Dropout 0.5 -
   fc4 10 - Softmax.  Input: 28x28 gray, (pixel - the training set's mean pixel) / 256.  SGD with momentum and weight decay (not on biases), softmax cross-entropy,
   the learning rate divided by 10 after 60% and 85% of the iterations; each training image is
   mirrored left to right with probability 1/2 (--flip 0 turns that off).  Weights start from
   xai_net_fill_random(seed); the order of the examples and the Dropout masks are hashes of the
   seed: the same seed gives the same model, for any thread count.
   Snapshots (--snapshot-every N iterations) are complete models: DIR/iter_000500.xai, ...; the
   log has one line per snapshot and at the end: iteration, training loss (mean since the last
   line), test accuracy. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../examples/cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SHARDS 4   /* slices of a batch computed apart (threads) and added in order */

typedef struct dataset {
    int n, rows, cols;
    unsigned char *pixels, *labels;
} dataset;

static const char usage[] =
    "usage: train --data DIR [options]\n"
    "Trains the shipped CaffeNet-style model on Fashion-MNIST, reproducibly from a seed (the same seed\n"
    "gives the same model for any thread count).\n"
    "\n"
    "  --data DIR            the four uncompressed Fashion-MNIST IDX files (make fashion-data)\n"
    "  --out MODEL.xai       the trained model (default: not written)\n"
    "  --epochs E            passes over the training set, 1 or more (default 8)\n"
    "  --batch B             images a step, a multiple of 4 up to 1024 (default 64)\n"
    "  --lr LR               learning rate, > 0; divided by 10 after 60% and 85% of the steps (default 0.01)\n"
    "  --momentum M          SGD momentum, 0 <= M < 1 (default 0.9)\n"
    "  --decay WD            weight decay, >= 0, not on biases (default 0.0005)\n"
    "  --seed S              weights, example order and dropout masks, 0 or more (default 1)\n"
    "  --snapshot-every N    write a snapshot every N steps, 0: none (default 0)\n"
    "  --snapshot-dir DIR    where the snapshots go: DIR/iter_000200.xai, ... (created; needed with N > 0)\n"
    "  --log LOG.tsv         iteration, training loss, test accuracy at each snapshot or epoch (default: none)\n"
    "  --train-limit N       use only the first N training images (default: all 60000)\n"
    "  --test-limit N        measure accuracy on the first N test images (default: all 10000)\n"
    "  --flip 0|1            mirror each training image with probability 1/2 (default 1)\n"
    "  --help                this text;   --version   the version of xai.h\n"
    "Output folders are created.\n"
    "\n"
    "example: make fashion-data && train --data data/fashion-mnist --epochs 6 --lr 0.02 --seed 1 \\\n"
    "             --log out/train.tsv --out out/fashion.xai\n";

static int fail(const char *what) { fprintf(stderr, "train: %s\n", what); return 1; }

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { fclose(f); return NULL; }
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* IDX files (LeCun's MNIST format): big-endian magic 0x803 / 0x801, counts, then bytes. */
static int load_idx(const char *dir, const char *prefix, dataset *d, char *err, size_t errlen)
{
    char path[4096];
    size_t li, ll;
    unsigned char *img, *lab;
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    if (!(img = read_all(path, &li))) { snprintf(err, errlen, "%s: cannot read (run `make fashion-data`)", path); return 0; }
    /* sides of at most 2^16 and 2^31 images keep the product below 2^63: a header whose product
       wraps to the file's size would otherwise pass and be read far past the buffer */
    if (li < 16 || be32(img) != 0x803 || be32(img + 4) > INT_MAX || be32(img + 8) > 65536 || be32(img + 12) > 65536 ||
        (size_t)be32(img + 4) * be32(img + 8) * be32(img + 12) != li - 16) {
        snprintf(err, errlen, "%s: not an IDX image file of the size its header gives", path);
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    if (!(lab = read_all(path, &ll))) { snprintf(err, errlen, "%s: cannot read", path); return 0; }
    if (ll < 8 || be32(lab) != 0x801 || be32(lab + 4) != be32(img + 4) || ll - 8 != be32(lab + 4)) {
        snprintf(err, errlen, "%s: not an IDX label file matching the images", path);
        return 0;
    }
    d->n = (int)be32(img + 4);
    d->rows = (int)be32(img + 8);
    d->cols = (int)be32(img + 12);
    d->pixels = img + 16;
    d->labels = lab + 8;
    return 1;
}

static xai_net *build_net(float mean)
{
    xai_net *net = xai_net_new("fashion-caffenet");
    xai_layer_param c1 = xai_layer_defaults(XAI_CONVOLUTION), c2 = xai_layer_defaults(XAI_CONVOLUTION);
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), pool = xai_layer_defaults(XAI_POOLING), lrn = xai_layer_defaults(XAI_LRN);
    xai_layer_param fc3 = xai_layer_defaults(XAI_INNER_PRODUCT), fc4 = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_layer_param drop = xai_layer_defaults(XAI_DROPOUT), soft = xai_layer_defaults(XAI_SOFTMAX);
    static const char *const labels[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    c1.num_output = 32; c1.kernel_h = c1.kernel_w = 5; c1.pad_h = c1.pad_w = 2;
    c2.num_output = 64; c2.kernel_h = c2.kernel_w = 3; c2.pad_h = c2.pad_w = 1; c2.group = 2;
    pool.kernel_h = pool.kernel_w = 3; pool.stride_h = pool.stride_w = 2;
    lrn.local_size = 5; lrn.alpha = 1e-4f; lrn.beta = 0.75f;
    fc3.num_output = 256; fc4.num_output = 10;
    if (xai_net_input(net, "data", 1, 28, 28) || xai_net_add(net, "conv1", &c1, "data", "conv1") < 0 ||
        xai_net_add(net, "relu1", &relu, "conv1", "conv1") < 0 || xai_net_add(net, "pool1", &pool, "conv1", "pool1") < 0 ||
        xai_net_add(net, "norm1", &lrn, "pool1", "norm1") < 0 || xai_net_add(net, "conv2", &c2, "norm1", "conv2") < 0 ||
        xai_net_add(net, "relu2", &relu, "conv2", "conv2") < 0 || xai_net_add(net, "pool2", &pool, "conv2", "pool2") < 0 ||
        xai_net_add(net, "norm2", &lrn, "pool2", "norm2") < 0 || xai_net_add(net, "fc3", &fc3, "norm2", "fc3") < 0 ||
        xai_net_add(net, "relu3", &relu, "fc3", "fc3") < 0 || xai_net_add(net, "drop3", &drop, "fc3", "fc3") < 0 ||
        xai_net_add(net, "fc4", &fc4, "fc3", "fc4") < 0 || xai_net_add(net, "prob", &soft, "fc4", "prob") < 0) {
        xai_net_free(net);
        return NULL;
    }
    net->pre.channel_order = XAI_ORDER_GRAY;
    net->pre.scale = 0.00390625f;   /* 1/256, Caffe's MNIST scale */
    net->pre.mean_kind = XAI_MEAN_PIXEL;
    net->pre.mean_pixel[0] = mean;
    if (xai_net_finalize(net) != XAI_OK || xai_net_set_labels(net, 10, labels) != XAI_OK) { xai_net_free(net); return NULL; }
    return net;
}

/* The batch as network input; flip[k] mirrors image k left to right (training-time augmentation). */
static void make_input(const xai_net *net, const dataset *d, const int *idx, const int *flip, int n, float *x)
{
    size_t plane = (size_t)d->rows * d->cols;
    int k, r, c;
    for (k = 0; k < n; k++)
        for (r = 0; r < d->rows; r++)
            for (c = 0; c < d->cols; c++) {
                int from = flip && flip[k] ? d->cols - 1 - c : c;
                x[k * plane + (size_t)r * d->cols + c] =
                    ((float)d->pixels[(size_t)idx[k] * plane + (size_t)r * d->cols + from] - net->pre.mean_pixel[0]) * net->pre.scale;
            }
}

static double accuracy(const xai_net *net, xai_tape *t, const dataset *d, int limit, float *x)
{
    int i, k, n = limit < d->n ? limit : d->n, right = 0, idx[1024];
    t->train = 0;
    for (i = 0; i < n; i += t->n_max) {
        int b = n - i < t->n_max ? n - i : t->n_max;
        for (k = 0; k < b; k++) idx[k] = i + k;
        make_input(net, d, idx, NULL, b, x);
        xai_net_forward(net, t, x, b);
        for (k = 0; k < b; k++) right += xai_argmax(xai_tape_scores(t, k), 10) == d->labels[i + k];
    }
    return (double)right / n;
}

static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

int main(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *snapdir = NULL, *logpath = NULL;
    int epochs = 8, batch = 64, every = 0, train_limit = 1 << 30, test_limit = 1 << 30, i, it, iters, k, *order, *idx, *flip, flips = 1;
    double lr0 = 0.01, momentum = 0.9, decay = 5e-4, loss_sum = 0, acc = 0;
    unsigned long long seed = 1;
    int loss_n = 0;
    char err[8192], path[4200];
    dataset tr, te;
    xai_net *net;
    xai_tape *tapes[SHARDS];
    float *x, *grad, *pgrad, *pgrads, *velocity, mean = 0;
    int per;
    FILE *logf = NULL;
    time_t start = time(NULL);
    cli_tool = "train";
    cli_standard_options(argc, argv, usage);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data")) data = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--out")) { out = cli_value(argc, argv, &i); cli_output(a, out, ".xai"); }
        else if (!strcmp(a, "--epochs")) epochs = cli_int(a, cli_value(argc, argv, &i), 1, 1000000);
        else if (!strcmp(a, "--batch")) batch = cli_int(a, cli_value(argc, argv, &i), SHARDS, 1024);
        else if (!strcmp(a, "--lr")) lr0 = cli_double(a, cli_value(argc, argv, &i), 0, 1e6, 1);
        else if (!strcmp(a, "--momentum")) momentum = cli_double(a, cli_value(argc, argv, &i), 0, 0.999999, 0);
        else if (!strcmp(a, "--decay")) decay = cli_double(a, cli_value(argc, argv, &i), 0, 1e6, 0);
        else if (!strcmp(a, "--seed")) seed = cli_u64(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--snapshot-every")) every = cli_int(a, cli_value(argc, argv, &i), 0, INT_MAX);
        else if (!strcmp(a, "--snapshot-dir")) snapdir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--log")) { logpath = cli_value(argc, argv, &i); cli_output(a, logpath, ".tsv"); }
        else if (!strcmp(a, "--train-limit")) train_limit = cli_int(a, cli_value(argc, argv, &i), 1, INT_MAX);
        else if (!strcmp(a, "--test-limit")) test_limit = cli_int(a, cli_value(argc, argv, &i), 1, INT_MAX);
        else if (!strcmp(a, "--flip")) flips = cli_int(a, cli_value(argc, argv, &i), 0, 1);
        else if (a[0] == '-') cli_usage_error("unknown option", a);
        else cli_usage_error("takes only options; what is", a);
    }
    if (!data) cli_usage_error("--data DIR is needed", NULL);
    if (batch % SHARDS) { snprintf(err, sizeof err, "%d", batch); cli_fail("--batch", err, "is not a multiple of 4"); }
    if (every > 0 && !snapdir) cli_usage_error("--snapshot-every needs --snapshot-dir", NULL);
    if (snapdir) cli_output_dir("--snapshot-dir", snapdir);
    if (!load_idx(data, "train", &tr, err, sizeof err) || !load_idx(data, "t10k", &te, err, sizeof err)) return fail(err);
    if (tr.rows != 28 || tr.cols != 28) return fail("expected 28x28 images");
    if (train_limit < tr.n) tr.n = train_limit;
    {
        double s = 0;
        size_t p, plane = 28 * 28;
        for (p = 0; p < (size_t)tr.n * plane; p++) s += tr.pixels[p];
        mean = (float)(s / ((double)tr.n * plane));
    }
    if (!(net = build_net(mean))) return fail(xai_failure_reason());
    xai_net_fill_random(net, seed);
    for (i = 0; i < net->nlayer; i++)      /* biases start at 0, as Caffe's constant filler */
        if (net->layer[i].bias) memset(net->layer[i].bias, 0, net->layer[i].bias_count * sizeof(float));
    per = batch / SHARDS;
    for (i = 0; i < SHARDS; i++) if (!(tapes[i] = xai_tape_new(net, per))) return fail(xai_failure_reason());
    pgrads = (float *)malloc((size_t)SHARDS * net->nparams * sizeof(float));
    x = (float *)malloc((size_t)batch * 28 * 28 * sizeof(float));
    grad = (float *)malloc((size_t)batch * 10 * sizeof(float));
    pgrad = (float *)calloc(net->nparams, sizeof(float));
    velocity = (float *)calloc(net->nparams, sizeof(float));
    order = (int *)malloc((size_t)tr.n * sizeof(int));
    idx = (int *)malloc((size_t)batch * sizeof(int));
    flip = (int *)malloc((size_t)batch * sizeof(int));
    if (!pgrads || !x || !grad || !pgrad || !velocity || !order || !idx || !flip) return fail("out of memory");
    if (logpath) {
        if (!(logf = fopen(logpath, "w"))) { snprintf(err, sizeof err, "%s: cannot create", logpath); return fail(err); }
        fprintf(logf, "iteration\ttrain_loss\ttest_accuracy\n");
    }
    iters = epochs * (tr.n / batch > 0 ? tr.n / batch : 1);
    printf("train: %d training images (mean pixel %.3f), %d epochs of %d batches of %d, %d threads\n", tr.n, mean, epochs, iters / epochs, batch,
#ifdef _OPENMP
           omp_get_max_threads()
#else
           1
#endif
    );
    for (it = 0; it < iters; it++) {
        int epoch = it / (iters / epochs), pos = it % (iters / epochs);
        double lr = lr0 * (it < 0.6 * iters ? 1 : it < 0.85 * iters ? 0.1 : 0.01), loss = 0;
        if (pos == 0) {
            /* this epoch's order: Fisher-Yates with hashed swaps */
            for (i = 0; i < tr.n; i++) order[i] = i;
            for (i = tr.n - 1; i > 0; i--) {
                int j = (int)(xai_random_key(seed, 0x5eed, (uint64_t)epoch, (uint64_t)i, 0) % (uint64_t)(i + 1)), tmp = order[i];
                order[i] = order[j]; order[j] = tmp;
            }
        }
        for (k = 0; k < batch; k++) {
            idx[k] = order[pos * batch + k];
            flip[k] = flips && (xai_random_key(seed, 0xf11b, (uint64_t)it, (uint64_t)k, 0) & 1);
        }
        make_input(net, &tr, idx, flip, batch, x);
        /* The batch in SHARDS fixed slices, each forward and backward on its own tape and
           gradient, the slices spread over the threads and their gradients added in slice order:
           the same numbers for any thread count, and one parallel region a step instead of one
           a layer (a small net spends more on synchronising layers than on computing them). */
        {
            int sh, failed = 0;
            double shard_loss[SHARDS];
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(| : failed)
#endif
            for (sh = 0; sh < SHARDS; sh++) {
                int k0 = sh * per, kk, c;
                xai_tape *ts = tapes[sh];
                float *g = grad + (size_t)k0 * 10, *pg = pgrads + (size_t)sh * net->nparams;
                ts->train = 1;
                ts->dropout_key = xai_random_key(seed, 0xd20, (uint64_t)it, (uint64_t)sh, 0);
                shard_loss[sh] = 0;
                if (xai_net_forward(net, ts, x + (size_t)k0 * 784, per) != XAI_OK) { failed = 1; continue; }
                /* softmax cross-entropy: dL/dscore = (p - onehot) / batch */
                for (kk = 0; kk < per; kk++) {
                    float p[10];
                    int label = tr.labels[idx[k0 + kk]];
                    memcpy(p, xai_tape_scores(ts, kk), sizeof p);
                    xai_softmax(p, 10);
                    shard_loss[sh] -= log(p[label] > 1e-30f ? p[label] : 1e-30f);
                    for (c = 0; c < 10; c++) g[kk * 10 + c] = (p[c] - (c == label)) / batch;
                }
                memset(pg, 0, net->nparams * sizeof(float));
                if (xai_net_backward(net, ts, g, pg) != XAI_OK) failed = 1;
            }
            if (failed) return fail(xai_failure_reason());
            for (sh = 0; sh < SHARDS; sh++) loss += shard_loss[sh];
            memcpy(pgrad, pgrads, net->nparams * sizeof(float));
            for (sh = 1; sh < SHARDS; sh++) {
                const float *pg = pgrads + (size_t)sh * net->nparams;
                size_t q;
                for (q = 0; q < net->nparams; q++) pgrad[q] += pg[q];
            }
        }
        loss_sum += loss / batch;
        loss_n++;
        /* Caffe's SGD: v = momentum v + lr (g + decay w); w -= v.  No decay on biases. */
        for (i = 0; i < net->nlayer; i++) {
            xai_layer *L = &net->layer[i];
            size_t q;
            for (q = 0; q < L->weight_count; q++) {
                size_t at = L->weight_offset + q;
                velocity[at] = (float)(momentum * velocity[at] + lr * (pgrad[at] + decay * net->params[at]));
                net->params[at] -= velocity[at];
            }
            for (q = 0; q < L->bias_count; q++) {
                size_t at = L->bias_offset + q;
                velocity[at] = (float)(momentum * velocity[at] + lr * pgrad[at]);
                net->params[at] -= velocity[at];
            }
        }
        /* test accuracy at each snapshot, or (without snapshots) at the end of each epoch */
        if ((every > 0 && (it + 1) % every == 0) || (every <= 0 && (it + 1) % (iters / epochs) == 0) || it + 1 == iters) {
            xai_tape *te_tape = xai_tape_new(net, 500 < te.n ? 500 : te.n);
            float *tx = (float *)malloc((size_t)te_tape->n_max * 28 * 28 * sizeof(float));
            acc = accuracy(net, te_tape, &te, test_limit, tx);
            free(tx);
            xai_tape_free(te_tape);
            printf("iteration %6d  epoch %2d  loss %.4f  test accuracy %.4f  (%ld s)\n", it + 1, epoch + 1, loss_sum / loss_n, acc, (long)(time(NULL) - start));
            fflush(stdout);
            if (logf) { fprintf(logf, "%d\t%.6f\t%.6f\n", it + 1, loss_sum / loss_n, acc); fflush(logf); }
            loss_sum = 0;
            loss_n = 0;
            if (snapdir && every > 0 && (it + 1) % every == 0) {
                snprintf(path, sizeof path, "%s/iter_%06d.xai", snapdir, it + 1);
                if (xai_net_save(net, path) != XAI_OK) return fail(xai_failure_reason());
            }
        }
    }
    if (logf && fclose(logf) != 0) return fail("log: write error");
    if (out) {
        if (xai_net_save(net, out) != XAI_OK) return fail(xai_failure_reason());
        printf("train: wrote %s, test accuracy %.4f, %ld s, cpu %.0f s\n", out, acc, (long)(time(NULL) - start), seconds());
    }
    for (i = 0; i < SHARDS; i++) xai_tape_free(tapes[i]);
    xai_net_free(net);
    free(pgrads); free(x); free(grad); free(pgrad); free(velocity); free(order); free(idx); free(flip);
    /* the IDX buffers, from their headers on (LeakSanitizer counts them otherwise) */
    free(tr.pixels - 16); free(tr.labels - 8); free(te.pixels - 16); free(te.labels - 8);
    return 0;
}
