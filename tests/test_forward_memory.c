/* The forward-only tape (xai_tape_new_forward) and the evaluator that runs on it: the same scores,
   bit for bit, as a full tape for every batch size, group size and thread count - on
   models/fashion.xai, on a synthetic net with every layer type and the graph shapes SqueezeNet has
   (a blob read by two layers, Concat, Eltwise, in-place ReLU, a convolution wide enough to skip the
   chunk scratch), on the real Caffe nets of ../shared/caffe when present - in far less memory;
   and bin/aopc on SqueezeNet at batch 16 within 300 MB (issue 18, item 10).

   The test's block is small (XAI_FORWARD_BLOCK below), so that the small nets run in groups of
   a few images as SqueezeNet does at the default block. */
#define _DEFAULT_SOURCE   /* wait4 and mkdtemp, also under -std=c99 */
#define XAI_FORWARD_BLOCK ((size_t)1 << 20)
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../tools/caffe_pb.h"
#include "test.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHARED "../shared/caffe"

static void fill_input(float *x, size_t count, uint64_t seed, float lo, float hi)
{
    size_t i;
    for (i = 0; i < count; i++) {
        uint64_t z = (seed + i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
        x[i] = lo + (hi - lo) * (float)((z >> 40) & 0xffffff) / 16777216.0f;
    }
}

static size_t all_blob_bytes(const xai_net *net, int n)
{
    size_t sum = 0;
    int i;
    for (i = 0; i < net->nblob; i++) sum += (size_t)n * net->blob[i].c * net->blob[i].h * net->blob[i].w * sizeof(float);
    return sum;
}

/* Scores and output of n images through a full tape and a forward-only one (also when the
   forward-only tape has run a larger batch before, and in groups of `group` images). */
static void compare_forward(const xai_net *net, const char *what, const float *x, int n, int group)
{
    xai_tape *full = xai_tape_new(net, n), *fwd = xai_tape_new_forward(net, n + 3);
    size_t K = xai_tensor_count(&full->blob[net->score_blob]) / (size_t)n;
    size_t out = (size_t)net->blob[net->output_blob].c * net->blob[net->output_blob].h * net->blob[net->output_blob].w;
    float *big = (float *)malloc((n + 3) * xai_net_input_size(net) * sizeof(float));
    int rc;
    CHECK(full && fwd, "%s: tapes: %s", what, xai_failure_reason());
    if (!full || !fwd || !big) goto done;
    CHECK(fwd->forward_only && fwd->group >= 1 && fwd->group <= n + 3, "%s: group %d of %d", what, fwd->group, n + 3);
    CHECK(fwd->group == 1 || fwd->arena_bytes <= XAI_FORWARD_BLOCK, "%s: %zu bytes in groups of %d", what, fwd->arena_bytes, fwd->group);
    /* dirty the block with another batch first: nothing may depend on what was there */
    fill_input(big, (n + 3) * xai_net_input_size(net), 99, -50, 200);
    CHECK(xai_net_forward(net, fwd, big, n + 3) == XAI_OK, "%s: forward-only pass of %d", what, n + 3);
    if (group > 0 && group < fwd->group) fwd->group = group;   /* smaller groups fit the same block */
    rc = xai_net_forward(net, full, x, n);
    CHECK(rc == XAI_OK, "%s: full pass: %s", what, xai_failure_reason());
    rc = xai_net_forward(net, fwd, x, n);
    CHECK(rc == XAI_OK, "%s: forward-only pass: %s", what, xai_failure_reason());
    if (rc == XAI_OK) {
        CHECK(!memcmp(xai_tape_scores(full, 0), xai_tape_scores(fwd, 0), (size_t)n * K * sizeof(float)),
              "%s, %d images, groups of %d: the scores differ (first %.9g vs %.9g)", what, n, fwd->group, xai_tape_scores(full, 0)[0],
              xai_tape_scores(fwd, 0)[0]);
        CHECK(!memcmp(full->blob[net->output_blob].data, fwd->blob[net->output_blob].data, (size_t)n * out * sizeof(float)),
              "%s, %d images: the outputs differ", what, n);
        CHECK(fwd->blob[net->score_blob].n == n, "%s: the score blob reports %d images", what, fwd->blob[net->score_blob].n);
    }
done:
    free(big);
    xai_tape_free(full);
    xai_tape_free(fwd);
}

/* Perturbation curves: with a full tape (the taped pass), a forward-only one, the temporary one
   (tape NULL) and xai_perturbation_curves over the threads, at several batch sizes. */
static void compare_curves(const xai_net *net, const char *what, const float *x, int region, int steps)
{
    xai_aopc_config cfg;
    int H = net->input_h, W = net->input_w, K = xai_net_num_classes(net), cls, b, k;
    int batches[3] = {1, 3, 16}, orders[3] = {XAI_ORDER_MORF, XAI_ORDER_LERF, XAI_ORDER_RANDOM}, repeats[3] = {0, 1, 2};
    float *heat = (float *)malloc((size_t)H * W * sizeof(float)), *ref = (float *)malloc(3 * (size_t)(steps + 1) * sizeof(float));
    float *got = (float *)malloc(3 * (size_t)(steps + 1) * sizeof(float));
    const float *heats[3];
    xai_tape *t1 = xai_tape_new(net, 1);
    if (!heat || !ref || !got || !t1) { CHECK(0, "%s: memory", what); goto done; }
    fill_input(heat, (size_t)H * W, 7, -1, 1);
    heats[0] = heats[1] = heat;
    heats[2] = NULL;
    xai_net_forward(net, t1, x, 1);
    cls = xai_argmax(xai_tape_scores(t1, 0), K);
    xai_aopc_defaults(&cfg);
    cfg.region = region;
    cfg.steps = steps;
    /* the reference: the taped pass, one image a pass */
    cfg.batch = 1;
    for (k = 0; k < 3; k++)
        CHECK(xai_perturbation_curve(net, t1, x, heats[k], cls, orders[k], 5, repeats[k], &cfg, ref + (size_t)k * (steps + 1)) == XAI_OK,
              "%s: taped curve: %s", what, xai_failure_reason());
    for (b = 0; b < 3; b++) {
        xai_tape *full = xai_tape_new(net, batches[b]), *fwd = xai_tape_new_forward(net, batches[b]);
        cfg.batch = batches[b];
        for (k = 0; k < 3; k++) {
            float *c = got + (size_t)k * (steps + 1);
            CHECK(xai_perturbation_curve(net, full, x, heats[k], cls, orders[k], 5, repeats[k], &cfg, c) == XAI_OK, "%s: curve", what);
            CHECK(!memcmp(c, ref + (size_t)k * (steps + 1), (size_t)(steps + 1) * sizeof(float)), "%s: full tape, batch %d, order %d",
                  what, batches[b], orders[k]);
            memset(c, 0, (size_t)(steps + 1) * sizeof(float));
            CHECK(xai_perturbation_curve(net, fwd, x, heats[k], cls, orders[k], 5, repeats[k], &cfg, c) == XAI_OK, "%s: curve", what);
            CHECK(!memcmp(c, ref + (size_t)k * (steps + 1), (size_t)(steps + 1) * sizeof(float)),
                  "%s: forward-only tape, batch %d, order %d: the curve differs", what, batches[b], orders[k]);
            memset(c, 0, (size_t)(steps + 1) * sizeof(float));
            CHECK(xai_perturbation_curve(net, NULL, x, heats[k], cls, orders[k], 5, repeats[k], &cfg, c) == XAI_OK, "%s: curve", what);
            CHECK(!memcmp(c, ref + (size_t)k * (steps + 1), (size_t)(steps + 1) * sizeof(float)),
                  "%s: temporary tape, batch %d, order %d: the curve differs", what, batches[b], orders[k]);
        }
        memset(got, 0, 3 * (size_t)(steps + 1) * sizeof(float));
        CHECK(xai_perturbation_curves(net, x, cls, 5, &cfg, 3, heats, orders, repeats, got) == XAI_OK, "%s: curves", what);
        CHECK(!memcmp(got, ref, 3 * (size_t)(steps + 1) * sizeof(float)), "%s: xai_perturbation_curves, batch %d: the curves differ",
              what, batches[b]);
        xai_tape_free(full);
        xai_tape_free(fwd);
    }
done:
    free(heat); free(ref); free(got);
    xai_tape_free(t1);
}

static void check_net(const xai_net *net, const char *what, float lo, float hi, int region, int steps)
{
    int sizes[5] = {1, 2, 3, 7, 16}, threads, s;
    size_t in = xai_net_input_size(net);
    float *x = (float *)malloc(16 * in * sizeof(float));
    xai_tape *fwd = xai_tape_new_forward(net, 16);
    fill_input(x, 16 * in, 1, lo, hi);
    CHECK(fwd != NULL, "%s: forward tape: %s", what, xai_failure_reason());
    if (fwd) {
        size_t all = all_blob_bytes(net, 16);
        printf("%s: forward-only tape for 16 images: %.2f MB in groups of %d (every blob: %.2f MB)\n", what, fwd->arena_bytes / 1e6,
               fwd->group, all / 1e6);
        CHECK(fwd->arena_bytes < all_blob_bytes(net, fwd->group), "%s: %zu bytes for %d images, every blob %zu", what, fwd->arena_bytes,
              fwd->group, all_blob_bytes(net, fwd->group));
    }
    xai_tape_free(fwd);
    for (threads = 1; threads <= 2; threads++) {
        set_threads(threads);
        for (s = 0; s < 5; s++) {
            compare_forward(net, what, x, sizes[s], 0);
            compare_forward(net, what, x, sizes[s], 1);
            if (sizes[s] > 2) compare_forward(net, what, x, sizes[s], 2);
        }
        if (steps > 0 && threads == 2) compare_curves(net, what, x, region, steps);   /* curves: over the threads */
    }
    free(x);
}

/* input 3x48x48; conv1 (2304 outputs an image: written straight, no scratch) -> ReLU in place ->
   read by two branches (1x1 and 3x3) -> Concat -> Eltwise SUM with conv1's ReLU -> max pool ->
   LRN -> a Split and Eltwise MAX and PROD of its copies -> ave pool -> Dropout -> fc -> softmax */
static xai_net *synthetic_net(void)
{
    xai_net *net = xai_net_new("branches");
    xai_layer_param conv1 = xai_layer_defaults(XAI_CONVOLUTION), a = conv1, b = conv1, relu = xai_layer_defaults(XAI_RELU);
    xai_layer_param concat = xai_layer_defaults(XAI_CONCAT), sum = xai_layer_defaults(XAI_ELTWISE), mx = sum, prod = sum;
    xai_layer_param pool = xai_layer_defaults(XAI_POOLING), lrn = xai_layer_defaults(XAI_LRN), ave = pool;
    xai_layer_param drop = xai_layer_defaults(XAI_DROPOUT), fc = xai_layer_defaults(XAI_INNER_PRODUCT), soft = xai_layer_defaults(XAI_SOFTMAX);
    xai_layer_param split = xai_layer_defaults(XAI_SPLIT), c3 = conv1;
    int ok = 1;
    conv1.num_output = 8; conv1.kernel_h = conv1.kernel_w = 3; conv1.pad_h = conv1.pad_w = 1;
    a.num_output = 4; a.kernel_h = a.kernel_w = 1;
    b.num_output = 4; b.kernel_h = b.kernel_w = 3; b.pad_h = b.pad_w = 1;
    c3.num_output = 6; c3.kernel_h = c3.kernel_w = 3; c3.stride_h = c3.stride_w = 2;
    sum.operation = XAI_ELTWISE_SUM; sum.ncoeff = 2; sum.coeff[0] = 0.5f; sum.coeff[1] = -1.25f;
    mx.operation = XAI_ELTWISE_MAX;
    prod.operation = XAI_ELTWISE_PROD;
    pool.pool = XAI_POOL_MAX; pool.kernel_h = pool.kernel_w = 3; pool.stride_h = pool.stride_w = 2;
    ave.pool = XAI_POOL_AVE; ave.kernel_h = ave.kernel_w = 2; ave.stride_h = ave.stride_w = 2;
    lrn.local_size = 3; lrn.alpha = 1e-2f; lrn.beta = 0.75f;
    fc.num_output = 10;
    ok &= xai_net_input(net, "data", 3, 48, 48) == XAI_OK;
    ok &= xai_net_add(net, "conv1", &conv1, "data", "conv1") >= 0;
    ok &= xai_net_add(net, "relu1", &relu, "conv1", "conv1") >= 0;
    ok &= xai_net_add(net, "a", &a, "conv1", "a") >= 0;
    ok &= xai_net_add(net, "relu_a", &relu, "a", "a") >= 0;
    ok &= xai_net_add(net, "b", &b, "conv1", "b") >= 0;
    ok &= xai_net_add(net, "relu_b", &relu, "b", "b") >= 0;
    ok &= xai_net_add(net, "cat", &concat, "a,b", "cat") >= 0;
    ok &= xai_net_add(net, "sum", &sum, "cat,conv1", "sum") >= 0;
    ok &= xai_net_add(net, "pool", &pool, "sum", "pool") >= 0;
    ok &= xai_net_add(net, "lrn", &lrn, "pool", "lrn") >= 0;
    ok &= xai_net_add(net, "c3", &c3, "lrn", "c3") >= 0;
    ok &= xai_net_add(net, "split", &split, "c3", "s1,s2") >= 0;
    ok &= xai_net_add(net, "max", &mx, "s1,s2,c3", "max") >= 0;
    ok &= xai_net_add(net, "prod", &prod, "max,s2", "prod") >= 0;
    ok &= xai_net_add(net, "ave", &ave, "prod", "ave") >= 0;
    ok &= xai_net_add(net, "drop", &drop, "ave", "ave") >= 0;
    ok &= xai_net_add(net, "fc", &fc, "ave", "fc") >= 0;
    ok &= xai_net_add(net, "prob", &soft, "fc", "prob") >= 0;
    ok &= xai_net_finalize(net) == XAI_OK;
    CHECK(ok, "synthetic net: %s", xai_failure_reason());
    if (!ok) { xai_net_free(net); return NULL; }
    xai_net_fill_random(net, 3);
    return net;
}

static void test_refusals(const xai_net *net)
{
    xai_tape *t = xai_tape_new_forward(net, 2);
    size_t in = xai_net_input_size(net);
    float *x = (float *)calloc(2 * in, sizeof(float)), heat[48 * 48];
    xai_method m;
    xai_method_parse("lrp-eps:1", &m);
    if (!t || !x) { CHECK(0, "refusals: memory"); free(x); xai_tape_free(t); return; }
    CHECK(xai_explain(net, t, x, 1, &m, NULL, NULL, heat, NULL) == XAI_ERR_ARG && strstr(xai_failure_reason(), "forward-only"),
          "xai_explain on a forward-only tape: %s", xai_failure_reason());
    CHECK(xai_net_forward(net, t, x, 2) == XAI_OK, "forward");
    CHECK(xai_net_backward(net, t, x, NULL) == XAI_ERR_ARG && strstr(xai_failure_reason(), "forward-only"),
          "xai_net_backward on a forward-only tape: %s", xai_failure_reason());
    CHECK(xai_tape_blob(t, "cat") == NULL && xai_tape_blob(t, "prob") != NULL && xai_tape_blob(t, "fc") != NULL && xai_tape_blob(t, "data"),
          "xai_tape_blob: NULL for a blob the tape does not keep, the kept ones found");
    CHECK(xai_net_forward(net, t, x, 3) == XAI_ERR_ARG, "3 images on a tape of 2");
    t->train = 1;   /* training-time Dropout masks follow the place in the batch: a full tape's job */
    CHECK(xai_net_forward(net, t, x, 2) == XAI_ERR_ARG && strstr(xai_failure_reason(), "full tape"), "train on a forward-only tape: %s",
          xai_failure_reason());
    t->train = 0;
    t->group = 0;   /* taken as 1 */
    CHECK(xai_net_forward(net, t, x, 2) == XAI_OK, "group 0: %s", xai_failure_reason());
    free(x);
    xai_tape_free(t);
}

static int shared_present(void)
{
    FILE *f = fopen(SHARED "/README.md", "rb");
    if (f) fclose(f);
    return f != NULL;
}

static xai_net *load_caffe(const char *dir, const char *prototxt, const char *weights)
{
    char a[512], b[512];
    size_t lp = 0, lc = 0;
    unsigned char *pt, *cm;
    xai_net *net;
    snprintf(a, sizeof a, SHARED "/%s/%s", dir, prototxt);
    snprintf(b, sizeof b, SHARED "/%s/%s", dir, weights);
    pt = cpb_read_file(a, CPB_MAX_FILE, &lp);
    cm = cpb_read_file(b, CPB_MAX_FILE, &lc);
    net = pt && cm ? cpb_convert((const char *)pt, lp, a, cm, lc, b, NULL) : NULL;
    CHECK(net != NULL, "%s: %s", dir, cpb_failure_reason());
    free(pt);
    free(cm);
    return net;
}

/* built with AddressSanitizer (gcc says __SANITIZE_ADDRESS__, clang __has_feature) */
#if defined(__SANITIZE_ADDRESS__)
#define XAI_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XAI_TEST_ASAN 1
#endif
#endif
#ifndef XAI_TEST_ASAN
#define XAI_TEST_ASAN 0
#endif

/* bin/aopc on SqueezeNet at batch 16 (the default): its peak resident memory, from the kernel
   (getrusage of the finished child).  Before the forward-only tape: 1.8 GB on two threads. */
static void test_aopc_memory(xai_net *squeeze)
{
    char dir[] = "/tmp/xai_fwdmem_XXXXXX", model[256], list[256], out[256];
    struct rusage ru;
    int status = 0;
    pid_t pid;
    FILE *f;
    if (access("bin/aopc", X_OK) != 0) { printf("SKIP aopc memory: no bin/aopc (make bin/aopc)\n"); return; }
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(model, sizeof model, "%s/squeezenet.xai", dir);
    snprintf(list, sizeof list, "%s/list.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    CHECK(xai_net_save(squeeze, model) == XAI_OK, "save %s: %s", model, xai_failure_reason());
    f = fopen(list, "w");
    if (f) { fputs("examples/images/dog.ppm\n", f); fclose(f); }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) { dup2(null, 1); dup2(null, 2); }
        execl("bin/aopc", "aopc", model, "--list", list, "--methods", "random", "--out", out, "--steps", "15", "--repeats", "2",
              "--batch", "16", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0 && wait4(pid, &status, 0, &ru) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "bin/aopc ran (status %d)",
          status);
    printf("bin/aopc on SqueezeNet, batch 16, %s: peak resident memory %.1f MB\n",
#ifdef _OPENMP
           omp_get_num_procs() > 1 ? "threads" : "one thread",
#else
           "threads",
#endif
           ru.ru_maxrss / 1024.0);
#if XAI_TEST_ASAN
    /* make test-sanitize spawns the sanitized aopc: ASan's shadow memory and its quarantine of freed
       blocks add hundreds of MB, so the figure says nothing about the tape; make test checks the bound */
    printf("SKIP the 300 MB bound under AddressSanitizer (checked by make test)\n");
#else
    CHECK(ru.ru_maxrss < 300 * 1024, "bin/aopc on SqueezeNet at batch 16 took %.1f MB (at most 300)", ru.ru_maxrss / 1024.0);
#endif
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("could not remove %s\n", dir);
    }
}

int main(void)
{
    xai_net *net;
    set_threads(2);
    /* the shipped model */
    net = xai_net_load("models/fashion.xai");
    CHECK(net != NULL, "models/fashion.xai: %s", xai_failure_reason());
    if (net) check_net(net, "fashion.xai", -1, 1, 4, 30);
    xai_net_free(net);
    /* branches, Concat, Eltwise */
    net = synthetic_net();
    if (net) {
        check_net(net, "synthetic branches", -2, 2, 8, 20);
        test_refusals(net);
    }
    xai_net_free(net);
    /* the real Caffe nets */
    if (!shared_present()) {
        printf("SKIP the Caffe nets: no %s (the nets above cover the same paths)\n", SHARED);
    } else {
        static const char *const models[4][3] = {
            {"lenet_v1", "lenet.prototxt", "lenet_iter_10000.caffemodel"},
            {"cifar10_quick_v1", "cifar10_quick.prototxt", "cifar10_quick_iter_5000.caffemodel"},
            {"cifar10_full_v2", "cifar10_full.prototxt", "cifar10_full_iter_70000.caffemodel"},
            {"squeezenet", "SqueezeNet_deploy.prototxt", "squeezenet_v1.0.caffemodel"}};
        int i;
        for (i = 0; i < 4; i++) {
            net = load_caffe(models[i][0], models[i][1], models[i][2]);
            if (!net) continue;
            if (i < 3) {
                check_net(net, models[i][0], -100, 100, 4, 12);
            } else {   /* SqueezeNet: the scores at a few batch sizes (the curves cost minutes) */
                size_t in = xai_net_input_size(net), all = all_blob_bytes(net, 16);
                float *x = (float *)malloc(5 * in * sizeof(float));
                xai_tape *fwd = xai_tape_new_forward(net, 16);
                CHECK(fwd && fwd->arena_bytes < all / 10, "squeezenet: %zu bytes, every blob %zu", fwd ? fwd->arena_bytes : 0, all);
                xai_tape_free(fwd);
                fill_input(x, 5 * in, 3, -120, 120);
                set_threads(2);
                compare_forward(net, "squeezenet", x, 1, 0);
                compare_forward(net, "squeezenet", x, 5, 0);
                set_threads(1);
                compare_forward(net, "squeezenet", x, 2, 0);
                set_threads(2);
                free(x);
                test_aopc_memory(net);
            }
            xai_net_free(net);
        }
    }
    return test_report();
}
