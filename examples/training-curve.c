/* training-curve: heatmap quality follows network quality (Samek et al. 2017, Sec. IV-D, Fig. 7).
   Build: cc -O2 examples/training-curve.c -o training-curve -lm     (add -fopenmp -march=native)

   training-curve --snapshots DIR --log TRAIN.tsv --list IMAGES.txt --out OUTDIR
                  [--methods lrp-eps:0.01,sensitivity-l2,random] [--region 2] [--steps 30]
                  [--repeats 5] [--perturb uniform|constant|blur] [--seed S]

   For every snapshot DIR/iter_NNNNNN.xai that bin/train wrote (--snapshot-every), in order of
   iteration: the AOPC of each method on the same images, with the same seed and so the same noise
   and random orderings, and the test accuracy from TRAIN.tsv (bin/train --log).  Writes
   OUTDIR/training_curve.tsv (iteration, test_accuracy, then per method its AOPC and its AOPC minus
   random's), OUTDIR/training_curve.svg (AOPC relative to random and accuracy against iteration, on
   twin axes, as the paper's Fig. 7), and prints Pearson's correlation between each method's AOPC
   and the test accuracy across snapshots. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "plot.h"
#include "cli.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_METHODS 16
#define MAX_SNAPSHOTS 4096

static const char usage[] =
    "usage: training-curve --snapshots DIR --log TRAIN.tsv --list IMAGES.txt --out OUTDIR [options]\n"
    "Heatmap quality against network quality (Samek et al. 2017, Fig. 7): the AOPC of each method at\n"
    "every snapshot DIR/iter_NNNNNN.xai of a training run (bin/train --snapshot-every), on the same\n"
    "pictures and noise, beside the test accuracy from the training log; Pearson's r between them.\n"
    "\n"
    "  --snapshots DIR       the snapshots bin/train wrote (--snapshot-dir)\n"
    "  --log TRAIN.tsv       bin/train's --log: iteration, training loss, test accuracy\n"
    "  --list IMAGES.txt     the pictures, one path a line (# starts a comment)\n"
    "  --out OUTDIR          writes OUTDIR/training_curve.tsv and .svg (folders are created)\n"
    "  --methods M1,M2,...   methods as explain --method names them, and random (default\n"
    "                        lrp-eps:0.01,sensitivity-l2,random)\n"
    "  --region R            perturbed regions are R x R pixels, R >= 1 (default 2)\n"
    "  --steps L             perturbation steps, L >= 1 (default 30)\n"
    "  --repeats N           noise draws per image, N >= 1 (default 5)\n"
    "  --perturb KIND        uniform, constant or blur (default uniform)\n"
    "  --seed S              the seed of the noise and the random order, 0 or more (default 1)\n"
    "  --help                this text;   --version   the version of xai.h\n"
    "\n"
    "example: make training-curve, or\n"
    "  training-curve --snapshots out/training/snapshots --log out/training/train.tsv \\\n"
    "      --list out/training/list.txt --out out/training --region 2 --steps 30 --repeats 5\n";

static int fail(const char *what) { fprintf(stderr, "training-curve: %s\n", what); return 1; }

/* a copy of s (strdup is POSIX, not C99) */
static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = (char *)malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static double pearson(const double *x, const double *y, int n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    int i;
    for (i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
    mx /= n; my /= n;
    for (i = 0; i < n; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (y[i] - my) * (y[i] - my); }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

int main(int argc, char **argv)
{
    const char *snapdir = NULL, *logpath = NULL, *listpath = NULL, *outdir = NULL;
    char methods_arg[4096] = "lrp-eps:0.01,sensitivity-l2,random", path[4200], line[8192];
    char *names[MAX_METHODS], **images = NULL;
    xai_method meth[MAX_METHODS];
    int is_random[MAX_METHODS], nm = 0, nimg = 0, cap = 0, iters[MAX_SNAPSHOTS], ns = 0, i, s, m, random_m = -1;
    double *aopc, *acc;
    xai_aopc_config cfg;
    FILE *f;
    DIR *d;
    struct dirent *e;
    xai_aopc_defaults(&cfg);
    cfg.region = 2; cfg.steps = 30; cfg.repeats = 5;
    cli_tool = "training-curve";
    cli_standard_options(argc, argv, usage);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--snapshots")) snapdir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--log")) logpath = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--list")) listpath = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--out")) outdir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--methods")) {
            const char *v = cli_value(argc, argv, &i);
            if (strlen(v) >= sizeof methods_arg) cli_fail(a, v, "is too long");
            strcpy(methods_arg, v);
        }
        else if (!strcmp(a, "--region")) cfg.region = cli_int(a, cli_value(argc, argv, &i), 1, 4096);
        else if (!strcmp(a, "--steps")) cfg.steps = cli_int(a, cli_value(argc, argv, &i), 1, 1 << 24);
        else if (!strcmp(a, "--repeats")) cfg.repeats = cli_int(a, cli_value(argc, argv, &i), 1, 100000);
        else if (!strcmp(a, "--seed")) cfg.seed = cli_u64(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--perturb")) {
            const char *v = cli_value(argc, argv, &i);
            if (!strcmp(v, "uniform")) cfg.perturb = XAI_PERTURB_UNIFORM;
            else if (!strcmp(v, "constant")) cfg.perturb = XAI_PERTURB_CONSTANT;
            else if (!strcmp(v, "blur")) cfg.perturb = XAI_PERTURB_BLUR;
            else cli_fail(a, v, "is not uniform, constant or blur");
        }
        else if (a[0] == '-') cli_usage_error("unknown option", a);
        else cli_usage_error("takes only options; what is", a);
    }
    if (!snapdir || !logpath || !listpath || !outdir) cli_usage_error("--snapshots, --log, --list and --out are needed", NULL);
    /* methods: comma-separated, split in place */
    {
        char *tok = methods_arg;
        while (*tok && nm < MAX_METHODS) {
            char *comma = strchr(tok, ',');
            if (comma) *comma = 0;
            if (*tok) {
                names[nm] = tok;
                is_random[nm] = !strcmp(tok, "random");
                if (is_random[nm]) random_m = nm;
                else if (xai_method_parse(tok, &meth[nm]) != XAI_OK) return fail(xai_failure_reason());
                nm++;
            }
            if (!comma) break;
            tok = comma + 1;
        }
        if (!nm) cli_fail("--methods", methods_arg, "names no method");
    }
    cli_output_dir("--out", outdir);
    /* images */
    if (!(f = fopen(listpath, "r"))) { snprintf(line, sizeof line, "%s: cannot read", listpath); return fail(line); }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (nimg == cap) { cap = cap ? 2 * cap : 64; images = (char **)realloc(images, (size_t)cap * sizeof *images); }
        images[nimg++] = copy_string(line);
    }
    fclose(f);
    if (!nimg) return fail("no images in the list");
    /* snapshots, by iteration */
    if (!(d = opendir(snapdir))) { snprintf(line, sizeof line, "%s: cannot open the snapshot folder", snapdir); return fail(line); }
    while ((e = readdir(d)) != NULL) {
        int it;
        char tail[8];
        if (sscanf(e->d_name, "iter_%d.xa%1s", &it, tail) == 2 && !strcmp(tail, "i") && ns < MAX_SNAPSHOTS) iters[ns++] = it;
    }
    closedir(d);
    if (!ns) { snprintf(line, sizeof line, "%s: no iter_NNNNNN.xai snapshots", snapdir); return fail(line); }
    qsort(iters, (size_t)ns, sizeof *iters, cmp_int);
    aopc = (double *)calloc((size_t)ns * nm, sizeof(double));
    acc = (double *)malloc((size_t)ns * sizeof(double));
    /* accuracies from the training log */
    for (s = 0; s < ns; s++) acc[s] = NAN;
    if (!(f = fopen(logpath, "r"))) { snprintf(line, sizeof line, "%s: cannot read the training log", logpath); return fail(line); }
    while (fgets(line, sizeof line, f)) {
        int it;
        double loss, a;
        if (sscanf(line, "%d\t%lf\t%lf", &it, &loss, &a) == 3)
            for (s = 0; s < ns; s++) if (iters[s] == it) acc[s] = a;
    }
    fclose(f);
    for (s = 0; s < ns; s++)
        if (!(acc[s] == acc[s])) { snprintf(line, sizeof line, "%s: no accuracy for iteration %d", logpath, iters[s]); return fail(line); }
    /* the AOPC of every method at every snapshot: same images, seed, regions */
    for (s = 0; s < ns; s++) {
        xai_net *net;
        xai_tape *t1;
        float *x, *heat, *curve;
        const float **task_heat = (const float **)malloc((size_t)nm * cfg.repeats * sizeof *task_heat);
        int *task_order = (int *)malloc((size_t)nm * cfg.repeats * sizeof(int)), *task_repeat = (int *)malloc((size_t)nm * cfg.repeats * sizeof(int));
        size_t plane;
        xai_aopc_stat *st = (xai_aopc_stat *)calloc((size_t)nm, sizeof *st);
        snprintf(path, sizeof path, "%s/iter_%06d.xai", snapdir, iters[s]);
        if (!(net = xai_net_load(path))) return fail(xai_failure_reason());
        t1 = xai_tape_new(net, 1);
        plane = (size_t)net->input_h * net->input_w;
        x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
        heat = (float *)malloc((size_t)nm * plane * sizeof(float));
        curve = (float *)malloc((size_t)nm * cfg.repeats * (cfg.steps + 1) * sizeof(float));
        for (m = 0; m < nm; m++) xai_aopc_stat_init(&st[m], cfg.steps);
        for (i = 0; i < nimg; i++) {
            xai_image img;
            int cls, r;
            if (xai_image_load(images[i], &img) != XAI_OK || xai_net_preprocess(net, &img, x, NULL) != XAI_OK) return fail(xai_failure_reason());
            xai_image_free(&img);
            xai_net_forward(net, t1, x, 1);
            cls = xai_argmax(xai_tape_scores(t1, 0), xai_net_num_classes(net));
            /* every method's heatmap, then all curves of the image at once over the threads */
            for (m = 0; m < nm; m++) {
                int target = cls;
                if (!is_random[m] && xai_explain(net, t1, x, 1, &meth[m], &target, NULL, heat + (size_t)m * plane, NULL) != XAI_OK)
                    return fail(xai_failure_reason());
                for (r = 0; r < cfg.repeats; r++) {
                    task_heat[m * cfg.repeats + r] = is_random[m] ? NULL : heat + (size_t)m * plane;
                    task_order[m * cfg.repeats + r] = is_random[m] ? XAI_ORDER_RANDOM : XAI_ORDER_MORF;
                    task_repeat[m * cfg.repeats + r] = r;
                }
            }
            if (xai_perturbation_curves(net, x, cls, (uint64_t)i, &cfg, nm * cfg.repeats, task_heat, task_order, task_repeat, curve) != XAI_OK)
                return fail(xai_failure_reason());
            for (m = 0; m < nm; m++) xai_aopc_stat_add(&st[m], curve + (size_t)m * cfg.repeats * (cfg.steps + 1), cfg.repeats);
        }
        printf("iteration %6d  test accuracy %.4f ", iters[s], acc[s]);
        for (m = 0; m < nm; m++) {
            aopc[(size_t)s * nm + m] = xai_aopc_stat_mean(&st[m], cfg.steps);
            printf(" %s %.4f", names[m], aopc[(size_t)s * nm + m]);
            xai_aopc_stat_free(&st[m]);
        }
        printf("\n");
        fflush(stdout);
        free(st); free(x); free(heat); free(curve); free(task_heat); free(task_order); free(task_repeat);
        xai_tape_free(t1);
        xai_net_free(net);
    }
    /* the table, the figure, the correlations */
    {
        plot_text tsv = {NULL, 0, 0};
        plot_series series[MAX_METHODS + 1];
        double *xs = (double *)malloc((size_t)ns * sizeof(double)), *ys = (double *)malloc((size_t)ns * (nm + 1) * sizeof(double));
        char *svg;
        int nser = 0;
        plot_printf(&tsv, "iteration\ttest_accuracy");
        for (m = 0; m < nm; m++) plot_printf(&tsv, "\taopc_%s\taopc_%s_minus_random", names[m], names[m]);
        plot_printf(&tsv, "\n");
        for (s = 0; s < ns; s++) {
            plot_printf(&tsv, "%d\t%.6f", iters[s], acc[s]);
            for (m = 0; m < nm; m++)
                plot_printf(&tsv, "\t%.9g\t%.9g", aopc[(size_t)s * nm + m], random_m >= 0 ? aopc[(size_t)s * nm + m] - aopc[(size_t)s * nm + random_m] : NAN);
            plot_printf(&tsv, "\n");
            xs[s] = iters[s];
        }
        snprintf(path, sizeof path, "%s/training_curve.tsv", outdir);
        if (xai_file_write(path, tsv.p, tsv.len) != XAI_OK) return fail(xai_failure_reason());
        for (m = 0; m < nm; m++) {
            if (is_random[m]) continue;
            for (s = 0; s < ns; s++) ys[(size_t)nser * ns + s] = aopc[(size_t)s * nm + m] - (random_m >= 0 ? aopc[(size_t)s * nm + random_m] : 0);
            series[nser].name = names[m]; series[nser].x = xs; series[nser].y = ys + (size_t)nser * ns; series[nser].n = ns; series[nser].right_axis = 0;
            nser++;
        }
        for (s = 0; s < ns; s++) ys[(size_t)nser * ns + s] = acc[s];
        series[nser].name = "test accuracy (right axis)"; series[nser].x = xs; series[nser].y = ys + (size_t)nser * ns; series[nser].n = ns; series[nser].right_axis = 1;
        nser++;
        svg = plot_svg("AOPC and test accuracy during training", "training iteration", random_m >= 0 ? "AOPC - AOPC of random order" : "AOPC",
                       "test accuracy", series, nser);
        snprintf(path, sizeof path, "%s/training_curve.svg", outdir);
        if (!svg || xai_file_write(path, svg, strlen(svg)) != XAI_OK) return fail(xai_failure_reason());
        /* both: AOPC itself grows with the scale of f_c as training sharpens the scores (random's
           too), AOPC - random is the part the heatmap's order adds */
        printf("\nPearson correlation with test accuracy across %d snapshots:\n", ns);
        printf("  %-24s %-12s %s\n", "method", "AOPC", random_m >= 0 ? "AOPC - random" : "");
        for (m = 0; m < nm; m++) {
            double *col = (double *)malloc((size_t)ns * sizeof(double));
            for (s = 0; s < ns; s++) col[s] = aopc[(size_t)s * nm + m];
            printf("  %-24s r = %+.3f", names[m], pearson(col, acc, ns));
            if (random_m >= 0 && !is_random[m]) {
                for (s = 0; s < ns; s++) col[s] = aopc[(size_t)s * nm + m] - aopc[(size_t)s * nm + random_m];
                printf("   r = %+.3f", pearson(col, acc, ns));
            }
            printf("\n");
            free(col);
        }
        printf("wrote %s/training_curve.tsv and %s/training_curve.svg\n", outdir, outdir);
        free(svg); free(tsv.p); free(xs); free(ys);
    }
    for (i = 0; i < nimg; i++) free(images[i]);
    free(images); free(aopc); free(acc);
    return 0;
}
