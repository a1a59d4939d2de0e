/* bench: speed and memory of xai.h on CaffeNet with synthetic weights (SPEC 7).
   Build: cc -O2 -march=native -fopenmp bench/bench.c -o bench -lm      (`make bench` builds and runs it)

   bench [--peak GFLOPS] [--runs N] [--quick] [--memory] [--evaluator]

   Prints: the machine's peak FMA rate (measured with a loop of independent FMAs, or --peak), a GEMM
   micro-benchmark, the CaffeNet forward pass at batch 1 and 16 (median of N runs, GFLOP/s, share
   of peak, a per-layer table), each explainer's time per heatmap as a multiple of one forward
   pass, the evaluator (multiply-adds a step and the paper's protocol per image and in core-hours
   for its 5040 images, full and incremental, on CaffeNet and on the real SqueezeNet when
   ../shared has it), this process's peak resident memory, and the peak memory of bin/aopc's
   evaluation (one image, lrp-eps:1 and random, 15 steps, 2 repeats) on CaffeNet and SqueezeNet at
   batch 1 and 16, each run in a child process (getrusage's ru_maxrss once it has finished):
   CaffeNet from models/caffenet.xai, else with synthetic weights (the same shapes, so the same
   memory); SqueezeNet from models/squeezenet.xai, else converted by bin/caffe2xai from
   ../shared/caffe/squeezenet into a temporary folder; what is absent is skipped with a message.
   --memory: only that last part; --evaluator: only the evaluator.  Uses the library's public API only; the children: POSIX. */
#define _DEFAULT_SOURCE   /* wait4 and mkdtemp, also under -std=c99 */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The peak: every thread runs independent FMAs on 8-lane registers (10 chains hide the latency). */
static double measure_peak_gflops(void)
{
#if defined(__AVX2__) && defined(__FMA__) && !defined(XAI_NO_SIMD)
    double best = 0;
    int rep;
    for (rep = 0; rep < 3; rep++) {
        double t0 = xai_seconds(), t;
        long iters = 20000000;
        float sink = 0;
        int threads = 1;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : sink)
#endif
        {
            /* ten named registers, not an array: an array may live in memory, and then every FMA
               waits for a store and a load */
            __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
            __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4);
            __m256 a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9);
            long i;
            for (i = 0; i < iters; i++) {
                a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
                a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
                a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
                a9 = _mm256_fmadd_ps(a9, m, c);
            }
            a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), a6));
            a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a7, a8), a9));
            sink += _mm256_cvtss_f32(a0);
#ifdef _OPENMP
#pragma omp master
            threads = omp_get_num_threads();
#endif
        }
        t = xai_seconds() - t0;
        if (sink == 12345.678f) printf(" ");
        if (threads * iters * 10.0 * 8 * 2 / t / 1e9 > best) best = threads * iters * 10.0 * 8 * 2 / t / 1e9;
    }
    return best;
#else
    return 0;
#endif
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* Runs argv (argv[0] a path) with its output to /dev/null: its peak resident memory in KB, from the
   kernel once it has finished, and its wall time; -1 if it could not run or failed. */
static long run_child(char *const argv[], double *seconds)
{
    struct rusage ru;
    double t0 = xai_seconds();
    int status = 0;
    pid_t pid;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) { dup2(null, 1); dup2(null, 2); }
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    *seconds = xai_seconds() - t0;
    return ru.ru_maxrss;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* bin/aopc's peak memory on CaffeNet and SqueezeNet at batch 1 and 16. */
static void aopc_memory(void)
{
    char dir[] = "/tmp/xai_bench_XXXXXX", list[64], models[2][128], out[96], batch[8], cmd[128];
    const char *names[2] = {"CaffeNet", "SqueezeNet"}, *notes[2] = {"", ""};
    int m, b, batches[2] = {1, 16};
    FILE *f;
    printf("\naopc's evaluation, peak resident memory (1 image, lrp-eps:1 and random, 15 steps, 2 repeats):\n");
    if (!file_exists("bin/aopc")) { printf("  skipped: no bin/aopc (make bin/aopc)\n"); return; }
    if (!mkdtemp(dir)) { printf("  skipped: no temporary folder\n"); return; }
    snprintf(list, sizeof list, "%s/list.txt", dir);
    if ((f = fopen(list, "w"))) { fputs("examples/images/dog.ppm\n", f); fclose(f); }
    /* CaffeNet: the real one, else synthetic weights (memory depends on the shapes only) */
    if (file_exists("models/caffenet.xai")) {
        snprintf(models[0], sizeof models[0], "models/caffenet.xai");
    } else {
        xai_net *net = xai_net_caffenet();
        snprintf(models[0], sizeof models[0], "%s/caffenet.xai", dir);
        notes[0] = ", synthetic weights";
        if (net) xai_net_fill_random(net, 1);
        if (!net || xai_net_save(net, models[0]) != XAI_OK) models[0][0] = 0;
        xai_net_free(net);
    }
    /* SqueezeNet: models/squeezenet.xai, else converted from ../shared/caffe */
    if (file_exists("models/squeezenet.xai")) {
        snprintf(models[1], sizeof models[1], "models/squeezenet.xai");
    } else if (file_exists("../shared/caffe/squeezenet/squeezenet_v1.0.caffemodel") && file_exists("bin/caffe2xai")) {
        char *argv[] = {"bin/caffe2xai", "../shared/caffe/squeezenet/SqueezeNet_deploy.prototxt",
                        "../shared/caffe/squeezenet/squeezenet_v1.0.caffemodel", "-o", models[1], NULL};
        double s;
        snprintf(models[1], sizeof models[1], "%s/squeezenet.xai", dir);
        notes[1] = ", converted from ../shared/caffe";
        if (run_child(argv, &s) < 0) models[1][0] = 0;
    } else {
        models[1][0] = 0;
        printf("  SqueezeNet skipped: no models/squeezenet.xai, nor ../shared/caffe/squeezenet with bin/caffe2xai\n");
    }
    for (m = 0; m < 2; m++) {
        if (!models[m][0]) continue;
        for (b = 0; b < 2; b++) {
            char *argv[] = {"bin/aopc", models[m], "--list", list, "--methods", "lrp-eps:1,random", "--out", out, "--steps", "15",
                            "--repeats", "2", "--batch", batch, NULL};
            double s = 0;
            long kb;
            snprintf(out, sizeof out, "%s/out_%d_%d", dir, m, batches[b]);
            snprintf(batch, sizeof batch, "%d", batches[b]);
            kb = run_child(argv, &s);
            if (kb < 0) printf("  %-10s batch %2d: bin/aopc failed\n", names[m], batches[b]);
            else printf("  %-10s batch %2d: %7.1f MB, %5.1f s (%s%s)\n", names[m], batches[b], kb / 1024.0, s, models[m], notes[m]);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
}

/* The real SqueezeNet: models/squeezenet.xai, else converted from ../shared/caffe by bin/caffe2xai. */
static xai_net *load_squeezenet(void)
{
    char dir[] = "/tmp/xai_bench_XXXXXX", model[64], cmd[96];
    char *argv[] = {"bin/caffe2xai", "../shared/caffe/squeezenet/SqueezeNet_deploy.prototxt",
                    "../shared/caffe/squeezenet/squeezenet_v1.0.caffemodel", "-o", model, NULL};
    xai_net *net = NULL;
    double seconds;
    if (file_exists("models/squeezenet.xai")) return xai_net_load("models/squeezenet.xai");
    if (!file_exists("../shared/caffe/squeezenet/squeezenet_v1.0.caffemodel") || !file_exists("bin/caffe2xai") ||
        !mkdtemp(dir))
        return NULL;
    snprintf(model, sizeof model, "%s/squeezenet.xai", dir);
    if (run_child(argv, &seconds) >= 0) net = xai_net_load(model);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return net;
}

static double macs_of(const xai_net *net, int li)
{
    const xai_layer *L = &net->layer[li];
    const xai_blob *t = &net->blob[L->top[0]];
    if (L->p.type == XAI_CONVOLUTION || L->p.type == XAI_INNER_PRODUCT) return (double)L->weight_count * t->h * t->w;
    return 0;
}

/* The evaluator on one image (dog.ppm, else a synthetic input), 9 x 9 regions, 100 steps: the
   multiply-adds a step (full pass; incremental: each layer's dirty rectangle, averaged over the
   MoRF order of the image's lrp-eps:1 heatmap), then the paper's protocol timed on 2 curves a
   thread (xai_perturbation_curves, full and incremental, curves compared bit for bit) and scaled to
   its 80 curves an image (8 orderings x 10 repeats) and 5040 images; with `occlusion`, the
   occlusion:9:9 heatmap both ways. */
static void evaluator_bench(const xai_net *net, const char *name, int quick, int occlusion)
{
    size_t in = xai_net_input_size(net), q;
    int H = net->input_h, W = net->input_w, nreg, *ord, *rects, k, li, threads = 1, ntask, mode, cls = -1;
    float *x = (float *)malloc(in * sizeof(float)), *heat = (float *)malloc((size_t)H * W * sizeof(float)), *curves[2];
    const float **heats;
    int *orders, *repeats, loaded = 0;
    double full = 0, inc = 0, wall[2];
    xai_aopc_config cfg;
    xai_image img;
    xai_method m;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    ntask = (quick ? 1 : 2) * threads;
    xai_aopc_defaults(&cfg);
    nreg = xai_region_count(H, W, cfg.region);
    ord = (int *)malloc((size_t)nreg * sizeof(int));
    rects = (int *)malloc((size_t)net->nblob * 4 * sizeof(int));
    curves[0] = (float *)malloc((size_t)ntask * (cfg.steps + 1) * sizeof(float));
    curves[1] = (float *)malloc((size_t)ntask * (cfg.steps + 1) * sizeof(float));
    heats = (const float **)malloc((size_t)ntask * sizeof(float *));
    orders = (int *)malloc((size_t)ntask * sizeof(int));
    repeats = (int *)malloc((size_t)ntask * sizeof(int));
    if (xai_image_load("examples/images/dog.ppm", &img) == XAI_OK) {
        loaded = xai_net_preprocess(net, &img, x, NULL) == XAI_OK;
        xai_image_free(&img);
    }
    if (!loaded) for (q = 0; q < in; q++) x[q] = (float)(q % 251) - 125;   /* no picture: a synthetic input */
    xai_method_parse("lrp-eps:1", &m);
    if (xai_explain(net, NULL, x, 1, &m, &cls, NULL, heat, NULL) != XAI_OK ||
        xai_region_order(heat, H, W, cfg.region, XAI_ORDER_MORF, cfg.seed, 0, 0, ord) != XAI_OK) {
        printf("\nevaluator on %s: %s\n", name, xai_failure_reason());
        return;
    }
    for (k = 0; k < cfg.steps; k++) {
        int y0 = ord[k] / ((W + cfg.region - 1) / cfg.region) * cfg.region, x0 = ord[k] % ((W + cfg.region - 1) / cfg.region) * cfg.region;
        xai_net_dirty_rects(net, y0, x0, y0 + cfg.region, x0 + cfg.region, rects);
        for (li = 0; li < net->nlayer; li++) {
            const int *r = rects + 4 * net->layer[li].top[0];
            const xai_blob *t = &net->blob[net->layer[li].top[0]];
            full += macs_of(net, li);
            inc += macs_of(net, li) * (r[2] - r[0]) * (r[3] - r[1]) / ((double)t->h * t->w);
        }
    }
    printf("\nevaluator on %s (%dx%d regions, %d steps, the MoRF order of dog.ppm's lrp-eps:1 heatmap):\n", name,
           cfg.region, cfg.region, cfg.steps);
    printf("  multiply-adds a step: full pass %.0f M, incremental %.0f M (%.1f%%, averaged over the %d steps)\n",
           full / cfg.steps / 1e6, inc / cfg.steps / 1e6, 100 * inc / full, cfg.steps);
    for (k = 0; k < ntask; k++) { heats[k] = heat; orders[k] = XAI_ORDER_MORF; repeats[k] = k; }
    for (mode = 0; mode < 2; mode++) {
        double t0;
        cfg.no_incremental = mode == 0;
        t0 = xai_seconds();
        if (xai_perturbation_curves(net, x, cls, 0, &cfg, ntask, heats, orders, repeats, curves[mode]) != XAI_OK)
            printf("  curves: %s\n", xai_failure_reason());
        wall[mode] = xai_seconds() - t0;
    }
    printf("  %d curves of %d passes on %d threads: full %.2f s, incremental %.2f s (%.2fx); the curves %s\n", ntask,
           cfg.steps + 1, threads, wall[0], wall[1], wall[0] / wall[1],
           memcmp(curves[0], curves[1], (size_t)ntask * (cfg.steps + 1) * sizeof(float)) ? "DIFFER" : "bit-identical");
    for (mode = 0; mode < 2; mode++) {
        double per_image = wall[mode] / ntask * 80;
        printf("  the paper's protocol (80 curves an image), %-11s: %6.1f s an image, %6.1f core-hours for 5040 images\n",
               mode ? "incremental" : "full", per_image, per_image * 5040 * threads / 3600);
    }
    printf("  the paper: 360 core-hours a configuration (36 h for 2 on 20 cores)\n");
    if (occlusion) { /* occlusion, patch 9 every 9 pixels: the same heatmap both ways */
        float *h[2];
        int c[2] = {-1, -1};
        h[0] = (float *)malloc((size_t)H * W * sizeof(float));
        h[1] = (float *)malloc((size_t)H * W * sizeof(float));
        for (mode = 0; mode < 2; mode++) {
            double t0;
            cfg.no_incremental = mode == 0;
            cfg.perturb = XAI_PERTURB_CONSTANT;
            t0 = xai_seconds();
            if (xai_occlusion(net, x, &c[mode], 9, 9, &cfg, 0, h[mode], NULL) != XAI_OK)
                printf("  occlusion: %s\n", xai_failure_reason());
            wall[mode] = xai_seconds() - t0;
        }
        printf("  occlusion:9:9 (%d patches, one call on %d threads): full %.2f s, incremental %.2f s (%.2fx); "
               "the heatmaps %s\n", nreg, threads, wall[0], wall[1], wall[0] / wall[1],
               memcmp(h[0], h[1], (size_t)H * W * sizeof(float)) ? "DIFFER" : "bit-identical");
        free(h[0]); free(h[1]);
    }
    free(x); free(heat); free(ord); free(rects); free(curves[0]); free(curves[1]);
    free((void *)heats); free(orders); free(repeats);
}

int main(int argc, char **argv)
{
    double peak = 0, total_macs = 0;
    int runs = 7, quick = 0, memory_only = 0, evaluator_only = 0, i, li, b;
    int batches[2] = {1, 16};
    xai_net *net;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--peak") && i + 1 < argc) peak = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--memory")) memory_only = 1;
        else if (!strcmp(argv[i], "--evaluator")) evaluator_only = 1;
        else { fprintf(stderr, "usage: bench [--peak GFLOPS] [--runs N] [--quick] [--memory] [--evaluator]\n"); return 2; }
    }
    if (memory_only) {
        aopc_memory();
        return 0;
    }
    if (runs < 5) runs = 5;
    printf("xai.h bench: CaffeNet, synthetic weights (seed 1)\n");
#ifdef _OPENMP
    printf("threads: %d (OpenMP)", omp_get_max_threads());
#else
    printf("threads: 1 (no OpenMP)");
#endif
#if defined(__AVX2__) && defined(__FMA__) && !defined(XAI_NO_SIMD)
    printf(", kernels: AVX2+FMA\n");
#else
    printf(", kernels: portable C\n");
#endif
    if (peak <= 0) {
        peak = measure_peak_gflops();
        printf("peak FMA rate: %.1f GFLOP/s measured (independent FMAs on every thread)", peak);
    } else {
        printf("peak FMA rate: %.1f GFLOP/s (given)", peak);
    }
    printf("; SPEC 7's reference machine: 166 GFLOP/s (2 cores x 2 FMA x 8 lanes x 2.6 GHz)\n");
    if (peak <= 0) peak = 166;

    if (!(net = xai_net_caffenet())) { fprintf(stderr, "bench: %s\n", xai_failure_reason()); return 1; }
    xai_net_fill_random(net, 1);
    if (evaluator_only) {
        xai_net *squeeze = load_squeezenet();
        evaluator_bench(net, "CaffeNet (synthetic weights)", quick, 1);
        if (squeeze) evaluator_bench(squeeze, "SqueezeNet", quick, 0);
        xai_net_free(squeeze);
        xai_net_free(net);
        return 0;
    }
    for (li = 0; li < net->nlayer; li++) total_macs += macs_of(net, li);

    /* GEMM micro-benchmark: the convolutions' products at batch 16 */
    {
        struct { const char *name; int M, N, K; } shapes[] = {
            {"conv1 96x(16*3025)x363", 96, 16 * 3025, 363}, {"conv2 128x(16*729)x1200", 128, 16 * 729, 1200},
            {"conv3 384x(16*169)x2304", 384, 16 * 169, 2304}, {"conv4 192x(16*169)x1728", 192, 16 * 169, 1728},
            {"fc6 16x4096x9216 (W^T)", 16, 4096, 9216}};
        int s;
        printf("\nGEMM (C = A B, packed, %s)\n%-28s %10s %10s %8s\n", "median of 5", "shape", "ms", "GFLOP/s", "of peak");
        for (s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
            int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K, r, tb = s == 4;
            float *A = (float *)malloc((size_t)M * K * 4), *B = (float *)malloc((size_t)K * N * 4), *C = (float *)malloc((size_t)M * N * 4);
            double t[5], ms;
            size_t q;
            for (q = 0; q < (size_t)M * K; q++) A[q] = (float)(q % 7) * 0.1f;
            for (q = 0; q < (size_t)K * N; q++) B[q] = (float)(q % 5) * 0.1f;
            for (r = 0; r < 5; r++) {
                double t0 = xai_seconds();
                if (tb) xai_gemm(M, N, K, A, K, 0, B, K, 1, C, N, 0);
                else xai_gemm(M, N, K, A, K, 0, B, N, 0, C, N, 0);
                t[r] = xai_seconds() - t0;
            }
            ms = median(t, 5) * 1e3;
            printf("%-28s %10.2f %10.1f %7.0f%%\n", shapes[s].name, ms, 2.0 * M * N * K / ms / 1e6, 100 * 2.0 * M * N * K / ms / 1e6 / peak);
            free(A); free(B); free(C);
        }
    }

    /* the forward pass */
    for (b = 0; b < 2; b++) {
        int n = batches[b], r;
        xai_tape *t = xai_tape_new(net, n);
        size_t in = xai_net_input_size(net), q;
        float *x = (float *)malloc((size_t)n * in * sizeof(float));
        double *times = (double *)malloc((size_t)runs * sizeof(double)), ms, conv_macs = 0, conv_s = 0;
        double *layer_s = (double *)calloc((size_t)net->nlayer, sizeof(double));
        for (q = 0; q < (size_t)n * in; q++) x[q] = (float)(q % 251) - 125;
        xai_net_forward(net, t, x, n);     /* warm up */
        for (r = 0; r < runs; r++) {
            double t0 = xai_seconds();
            xai_net_forward(net, t, x, n);
            times[r] = xai_seconds() - t0;
        }
        ms = median(times, runs) * 1e3 / n;
        printf("\nforward, batch %d: %.2f ms per image (median of %d), %.1f GFLOP/s, %.0f%% of peak; SPEC target %s\n", n, ms, runs,
               2 * total_macs / ms / 1e6, 100 * 2 * total_macs / ms / 1e6 / peak, n == 1 ? "<= 25 ms" : "<= 13 ms");
        t->layer_seconds = layer_s;
        for (r = 0; r < 3; r++) xai_net_forward(net, t, x, n);
        printf("  %-8s %-13s %9s %9s %8s\n", "layer", "type", "ms/image", "GFLOP/s", "of peak");
        for (li = 0; li < net->nlayer; li++) {
            double lms = layer_s[li] / 3 * 1e3 / n, m = macs_of(net, li);
            if (net->layer[li].p.type == XAI_CONVOLUTION) { conv_macs += m; conv_s += layer_s[li] / 3 / n; }
            if (m > 0) printf("  %-8s %-13s %9.3f %9.1f %7.0f%%\n", net->layer[li].name, xai_layer_type_name(net->layer[li].p.type), lms, 2 * m / lms / 1e6, 100 * 2 * m / lms / 1e6 / peak);
            else printf("  %-8s %-13s %9.3f\n", net->layer[li].name, xai_layer_type_name(net->layer[li].p.type), lms);
        }
        printf("  all convolutions: %.1f GFLOP/s, %.0f%% of peak (target at batch 16: 75%%)\n", 2 * conv_macs / conv_s / 1e9, 100 * 2 * conv_macs / conv_s / 1e9 / peak);
        free(x); free(times); free(layer_s);
        xai_tape_free(t);
    }

    /* the explainers: one heatmap (forward + backward) as a multiple of one forward pass, batch 1 */
    {
        const char *methods[] = {"sensitivity-l2", "deconv-l2", "lrp-eps:0.01", "lrp-eps:100", "lrp-ab:2", "lrp-composite", "gradxinput", "guided-l2"};
        const char *target[] = {"2.5", "2.5", "2.5", "2.5", "4", "", "", ""};
        xai_tape *t = xai_tape_new(net, 1);
        size_t in = xai_net_input_size(net), q;
        float *x = (float *)malloc(in * sizeof(float)), *heat = (float *)malloc(227 * 227 * sizeof(float));
        int m;
        for (q = 0; q < in; q++) x[q] = (float)(q % 251) - 125;
        /* each heatmap is timed right after a forward pass of the same input, and the ratio is of
           those two medians: on a shared host a forward pass timed minutes earlier may have met
           another load than the heatmap */
        printf("\nexplainers, batch 1 (median of %d, each beside a forward pass timed just before it):\n", quick ? 3 : 7);
        printf("  %-16s %9s  %9s  %s\n", "method", "heatmap", "forward", "heatmap / forward");
        for (m = 0; m < (int)(sizeof methods / sizeof *methods); m++) {
            xai_method mm;
            double tt[7], tf[7], ms, fs;
            int r, nr = quick ? 3 : 7;
            xai_method_parse(methods[m], &mm);
            xai_explain(net, t, x, 1, &mm, NULL, NULL, heat, NULL);
            for (r = 0; r < nr; r++) {
                double t0 = xai_seconds();
                xai_net_forward(net, t, x, 1);
                tf[r] = xai_seconds() - t0;
                t0 = xai_seconds();
                xai_explain(net, t, x, 1, &mm, NULL, NULL, heat, NULL);
                tt[r] = xai_seconds() - t0;
            }
            ms = median(tt, nr) * 1e3;
            fs = median(tf, nr) * 1e3;
            printf("  %-16s %6.2f ms  %6.2f ms  %5.2fx%s%s\n", methods[m], ms, fs, ms / fs, target[m][0] ? "   target <= " : "", target[m]);
        }
        free(x); free(heat);
        xai_tape_free(t);
    }

    /* the input gradient (forward + backward to the input) at batch 16, for the PyTorch comparison */
    {
        xai_tape *t = xai_tape_new(net, 16);
        size_t in = xai_net_input_size(net), q;
        float *x = (float *)malloc(16 * in * sizeof(float)), *heat = (float *)malloc(16 * 227 * 227 * sizeof(float));
        double tt[5];
        int r, nr = quick ? 3 : 5;
        xai_method mm;
        for (q = 0; q < 16 * in; q++) x[q] = (float)(q % 251) - 125;
        xai_method_parse("sensitivity-l2", &mm);
        xai_explain(net, t, x, 16, &mm, NULL, NULL, heat, NULL);
        for (r = 0; r < nr; r++) {
            double t0 = xai_seconds();
            xai_explain(net, t, x, 16, &mm, NULL, NULL, heat, NULL);
            tt[r] = xai_seconds() - t0;
        }
        printf("\ninput gradient (sensitivity), batch 16 (median of %d): %.2f ms per image\n", nr, median(tt, nr) * 1e3 / 16);
        free(x); free(heat);
        xai_tape_free(t);
    }

    evaluator_bench(net, "CaffeNet (synthetic weights)", quick, 1);
    {
        xai_net *squeeze = load_squeezenet();
        if (squeeze) evaluator_bench(squeeze, "SqueezeNet", quick, 0);
        else printf("\nevaluator on SqueezeNet skipped: no models/squeezenet.xai, nor ../shared/caffe/squeezenet with bin/caffe2xai\n");
        xai_net_free(squeeze);
    }
    printf("\npeak resident memory: %.1f MB\n", peak_rss_kb() / 1024.0);
    xai_net_free(net);
    aopc_memory();
    return 0;
}
