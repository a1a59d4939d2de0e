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
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_METHODS 16
#define MAX_SNAPSHOTS 4096

static int fail(const char *what) { fprintf(stderr, "training-curve: %s\n", what); return 1; }

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
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fail("an option without its value");
        i++;
        if (!strcmp(a, "--snapshots")) snapdir = v;
        else if (!strcmp(a, "--log")) logpath = v;
        else if (!strcmp(a, "--list")) listpath = v;
        else if (!strcmp(a, "--out")) outdir = v;
        else if (!strcmp(a, "--methods")) snprintf(methods_arg, sizeof methods_arg, "%s", v);
        else if (!strcmp(a, "--region")) cfg.region = atoi(v);
        else if (!strcmp(a, "--steps")) cfg.steps = atoi(v);
        else if (!strcmp(a, "--repeats")) cfg.repeats = atoi(v);
        else if (!strcmp(a, "--seed")) cfg.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--perturb")) cfg.perturb = !strcmp(v, "constant") ? XAI_PERTURB_CONSTANT : !strcmp(v, "blur") ? XAI_PERTURB_BLUR : XAI_PERTURB_UNIFORM;
        else { fprintf(stderr, "training-curve: unknown option %s\n", a); return 2; }
    }
    if (!snapdir || !logpath || !listpath || !outdir || cfg.region < 1 || cfg.steps < 1 || cfg.repeats < 1) {
        fprintf(stderr, "usage: training-curve --snapshots DIR --log TRAIN.tsv --list IMAGES.txt --out OUTDIR [--methods M,...] [--region R]\n"
                        "                      [--steps L] [--repeats N] [--perturb uniform|constant|blur] [--seed S]\n");
        return 2;
    }
    /* methods */
    {
        char *tok, *save = NULL;
        for (tok = strtok_r(methods_arg, ",", &save); tok && nm < MAX_METHODS; tok = strtok_r(NULL, ",", &save)) {
            names[nm] = tok;
            is_random[nm] = !strcmp(tok, "random");
            if (is_random[nm]) random_m = nm;
            else if (xai_method_parse(tok, &meth[nm]) != XAI_OK) return fail(xai_failure_reason());
            nm++;
        }
    }
    /* images */
    if (!(f = fopen(listpath, "r"))) { snprintf(line, sizeof line, "%s: cannot read", listpath); return fail(line); }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (nimg == cap) { cap = cap ? 2 * cap : 64; images = (char **)realloc(images, (size_t)cap * sizeof *images); }
        images[nimg++] = strdup(line);
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
#ifdef _WIN32
        _mkdir(outdir);
#else
        mkdir(outdir, 0777);
#endif
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
