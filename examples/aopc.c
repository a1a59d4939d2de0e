/* aopc: how good are heatmaps?  Region perturbation and AOPC over a list of images, as in Samek et
   al., "Evaluating the Visualization of What a Deep Neural Network Has Learned" (2017), Sec. III.
   Build: cc -O2 examples/aopc.c -o aopc -lm            (add -fopenmp -march=native for speed)

   aopc MODEL.xai --list IMAGES.txt --methods M1,M2,... --out DIR [--steps 100] [--region 9]
        [--repeats 10] [--perturb uniform|constant|blur] [--seed S] [--batch B] [--shard I/N]
        [--orders morf,lerf] [--softmax] [--complexity]

   Methods are xai_method_parse names (lrp-eps:100, lrp-ab:2, sensitivity-l2, deconv-linf, ...),
   "random" (a random region order, the baseline), or file:HEATDIR: heatmaps computed elsewhere,
   read from HEATDIR/NAME.pfm (NAME = the image's file name without extension; the PFM must have
   the network's input size).  IMAGES.txt: one image path a line ('#' comments).

   DIR/config.tsv   the settings; a rerun with other settings on the same DIR is refused
   DIR/curves.tsv   append-only: image, method, order, repeat, k, score, for k = 0..steps
   DIR/summary.tsv  method, order, steps, aopc, aopc_minus_random, sem, images (at L = steps)
   DIR/aopc_curves.tsv  AOPC(L) for every L;  DIR/abpc.tsv with --orders morf,lerf
   DIR/aopc.svg     AOPC relative to random against L (the paper's Fig. 4)

   --complexity: also how complex each heatmap is (the paper's Table I, Sec. IV): the bytes of
   its PNG file, the bytes of its JPEG file at quality 90 and the Shannon entropy of its colours.
   The image measured is the picture `explain --png` draws, the one the user sees: the heatmap at
   the network's input size (the one whose regions AOPC perturbs), colour-mapped by
   xai_heatmap_render without clipping, XAI_CMAP_BWR (blue-white-red, scaled by max |h|) for
   signed maps (LRP, gradxinput: xai_method.heatmap SUM or SUM_X_INPUT) and XAI_CMAP_HOT (scaled
   by max h) for the others (sensitivity, deconvolution, guided), rounded to 8-bit RGB
   (xai_image_to_u8).  PNG: xai_png_encode, RGB, the whole file (signature and chunks); JPEG:
   xai_jpeg_encode, baseline, 4:2:0, standard Huffman tables, the whole JFIF file; entropy:
   xai_image_entropy, bits, an RGB colour one symbol.  file:HEATDIR heatmaps have no known kind:
   BWR if the map has a negative value, HOT otherwise.  "random" has no heatmap and no row.
   How ours differs from the paper: it saved its heatmap images as PNG and JPEG (quality 90) and
   reports mean file sizes in KB (SPEC section 6), without the pixel size or format of those
   images; its sizes (e.g. 183 KB for sensitivity PNGs) exceed the raw size of a 227x227 8-bit RGB
   picture (151 KB, which a PNG can hardly exceed), so its files held more pixels or channels than
   ours (an RGBA file, as matplotlib writes, or a larger picture) and probably another colour map:
   compare the methods' ranking and ratios with the paper's, not our KB with its KB.  Entropy here
   is that of the colour histogram: it ignores where the colours are (a smooth ramp through the
   whole colour map scores as high as noise).
   DIR/complexity.tsv  append-only: image, method, png_bytes, jpeg_bytes, entropy_bits
   DIR/complexity_summary.tsv  method, images, and the mean and standard error over images of
                    png_bytes, jpeg_bytes, entropy_bits; on stdout the table in KB (1024 bytes).
   --complexity changes no AOPC number and is not a setting in config.tsv: it may be added to a
   finished run (only the missing complexity rows are computed; the curves are kept).

   Resumable: a rerun skips the images already complete in curves.tsv (and, with --complexity,
   in complexity.tsv; a killed run loses only the image in flight).  --shard I/N (0 <= I < N)
   takes images I, I+N, I+2N, ... of the list; run each shard into its own DIR and combine them
   with aopc-merge.  Every number is the same for any --batch, thread count, shard split or order
   of work. */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "plot.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(p) _mkdir(p)
#else
#define make_dir(p) mkdir(p, 0777)
#endif

#define MAX_RUNS 64
#define LINE_MAX_BYTES 8192

/* One curve family of an image: a method's heatmap read in one order, or the random order. */
typedef struct run {
    char method[512];      /* as written in curves.tsv */
    int order;             /* XAI_ORDER_* */
    int is_random, is_file;
    int cx;                /* its method's index among the heatmap methods; -1 for random */
    xai_method m;
} run;

typedef struct settings {
    xai_aopc_config cfg;
    char methods[4096], orders[64], model[4096], list[4096];
    int shard, nshards;
    run runs[MAX_RUNS];
    int nrun;
    int complexity;        /* --complexity (not in config.tsv: it changes no AOPC number) */
    int cx_run[MAX_RUNS];  /* the first run of each heatmap method, in --methods order */
    int ncx;
} settings;

/* An image's curves: nrun x repeats x (steps + 1) scores, in that order. */
typedef struct image_rec {
    char *name;
    float *score;
    unsigned char *have;
    size_t count;
} image_rec;

static const char *order_name(int o) { return o == XAI_ORDER_MORF ? "morf" : o == XAI_ORDER_LERF ? "lerf" : "random"; }

static int die(const char *what)
{
    fprintf(stderr, "aopc: %s\n", what);
    return 1;
}

static size_t rows_per_image(const settings *s) { return (size_t)s->nrun * s->cfg.repeats * (s->cfg.steps + 1); }

/* methods x orders -> runs */
static int make_runs(settings *s, char *err, size_t errlen)
{
    char buf[4096], *tok, *save = NULL;
    int want_morf = 0, want_lerf = 0;
    snprintf(buf, sizeof buf, "%s", s->orders);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "morf")) want_morf = 1;
        else if (!strcmp(tok, "lerf")) want_lerf = 1;
        else { snprintf(err, errlen, "--orders: '%s' is not morf or lerf", tok); return 0; }
    }
    if (!want_morf && !want_lerf) { snprintf(err, errlen, "--orders names no order"); return 0; }
    snprintf(buf, sizeof buf, "%s", s->methods);
    s->nrun = 0;
    s->ncx = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int o;
        for (o = XAI_ORDER_MORF; o <= XAI_ORDER_RANDOM; o++) {
            run *r;
            int is_random = !strcmp(tok, "random");
            if ((o == XAI_ORDER_RANDOM) != is_random || (o == XAI_ORDER_MORF && !want_morf) || (o == XAI_ORDER_LERF && !want_lerf)) continue;
            if (s->nrun == MAX_RUNS) { snprintf(err, errlen, "more than %d method and order pairs", MAX_RUNS); return 0; }
            r = &s->runs[s->nrun++];
            memset(r, 0, sizeof *r);
            snprintf(r->method, sizeof r->method, "%s", tok);
            r->order = o;
            r->is_random = is_random;
            r->is_file = !strncmp(tok, "file:", 5);
            if (!is_random && !r->is_file && xai_method_parse(tok, &r->m) != XAI_OK) {
                snprintf(err, errlen, "--methods: %s", xai_failure_reason());
                return 0;
            }
            r->cx = -1;
            if (!is_random) {
                int c;
                for (c = 0; c < s->ncx; c++)
                    if (!strcmp(s->runs[s->cx_run[c]].method, tok)) r->cx = c;
                if (r->cx < 0) { r->cx = s->ncx; s->cx_run[s->ncx++] = s->nrun - 1; }
            }
        }
    }
    if (!s->nrun) { snprintf(err, errlen, "--methods names no method"); return 0; }
    return 1;
}

/* The settings that decide the numbers, as key/value lines. */
static void config_text(const settings *s, char *out, size_t len, int with_shard)
{
    const char *pert[] = {"uniform", "constant", "blur"};
    int n = snprintf(out, len, "methods\t%s\norders\t%s\nsteps\t%d\nregion\t%d\nrepeats\t%d\nperturb\t%s\nblur_sigma\t%g\nseed\t%llu\nsoftmax\t%d\nmodel\t%s\nlist\t%s\n",
                     s->methods, s->orders, s->cfg.steps, s->cfg.region, s->cfg.repeats, pert[s->cfg.perturb], s->cfg.blur_sigma,
                     (unsigned long long)s->cfg.seed, s->cfg.softmax, s->model, s->list);
    if (with_shard && n > 0 && (size_t)n < len) snprintf(out + n, len - (size_t)n, "shard\t%d/%d\n", s->shard, s->nshards);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { fclose(f); return NULL; }
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static void path_join(char *out, size_t len, const char *dir, const char *file) { snprintf(out, len, "%s/%s", dir, file); }

#ifdef AOPC_MERGE
/* Parses config.tsv back into settings (for aopc-merge). */
static int parse_config(const char *text, settings *s)
{
    char line[LINE_MAX_BYTES];
    const char *p = text;
    memset(s, 0, sizeof *s);
    xai_aopc_defaults(&s->cfg);
    while (*p) {
        size_t n = strcspn(p, "\n");
        char *tab;
        if (n >= sizeof line) return 0;
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (p[n] == '\n');
        if (!(tab = strchr(line, '\t'))) continue;
        *tab++ = 0;
        if (!strcmp(line, "methods")) snprintf(s->methods, sizeof s->methods, "%s", tab);
        else if (!strcmp(line, "orders")) snprintf(s->orders, sizeof s->orders, "%s", tab);
        else if (!strcmp(line, "steps")) s->cfg.steps = atoi(tab);
        else if (!strcmp(line, "region")) s->cfg.region = atoi(tab);
        else if (!strcmp(line, "repeats")) s->cfg.repeats = atoi(tab);
        else if (!strcmp(line, "perturb")) s->cfg.perturb = !strcmp(tab, "constant") ? XAI_PERTURB_CONSTANT : !strcmp(tab, "blur") ? XAI_PERTURB_BLUR : XAI_PERTURB_UNIFORM;
        else if (!strcmp(line, "blur_sigma")) s->cfg.blur_sigma = (float)atof(tab);
        else if (!strcmp(line, "seed")) s->cfg.seed = strtoull(tab, NULL, 10);
        else if (!strcmp(line, "softmax")) s->cfg.softmax = atoi(tab);
        else if (!strcmp(line, "model")) snprintf(s->model, sizeof s->model, "%s", tab);
        else if (!strcmp(line, "list")) snprintf(s->list, sizeof s->list, "%s", tab);
    }
    return s->cfg.steps >= 0 && s->cfg.repeats > 0;
}

#endif

static int find_run(const settings *s, const char *method, const char *order)
{
    int i;
    for (i = 0; i < s->nrun; i++)
        if (!strcmp(s->runs[i].method, method) && !strcmp(order_name(s->runs[i].order), order)) return i;
    return -1;
}

static int find_image(image_rec *im, int n, const char *name)
{
    int i;
    for (i = n - 1; i >= 0; i--)
        if (!strcmp(im[i].name, name)) return i;
    return -1;
}

static void free_images(image_rec *im, int n)
{
    int i;
    for (i = 0; i < n; i++) { free(im[i].name); free(im[i].score); free(im[i].have); }
    free(im);
}

/* Reads curves.tsv: every image with its rows; *partial says whether some image is incomplete. */
static image_rec *read_curves(const char *path, const settings *s, int *nimg, int *partial, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char line[LINE_MAX_BYTES];
    image_rec *im = NULL;
    int n = 0, cap = 0, cur = -1;
    size_t per = rows_per_image(s), lineno = 0;
    *nimg = 0;
    *partial = 0;
    err[0] = 0;
    if (!f) return NULL;
    while (fgets(line, sizeof line, f)) {
        char *field[6], *p = line;
        int nf = 0, ri, rep, k;
        size_t at;
        lineno++;
        if (!strchr(line, '\n')) { *partial = 1; break; }   /* a row cut by a kill */
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1 && !strncmp(line, "image\t", 6)) continue;
        while (nf < 6) { field[nf++] = p; p = strchr(p, '\t'); if (!p) break; *p++ = 0; }
        if (nf != 6) { *partial = 1; continue; }
        ri = find_run(s, field[1], field[2]);
        rep = atoi(field[3]);
        k = atoi(field[4]);
        if (ri < 0 || rep < 0 || rep >= s->cfg.repeats || k < 0 || k > s->cfg.steps) {
            snprintf(err, errlen, "%s: line %zu: method %s, order %s, repeat %d, k %d do not match config.tsv", path, lineno, field[1], field[2], rep, k);
            break;
        }
        if (cur < 0 || strcmp(im[cur].name, field[0])) {
            cur = find_image(im, n, field[0]);
            if (cur >= 0 && cur != n - 1) { snprintf(err, errlen, "%s: line %zu: rows of image %s in two places", path, lineno, field[0]); break; }
            if (cur < 0) {
                if (n == cap) { cap = cap ? 2 * cap : 64; im = (image_rec *)realloc(im, (size_t)cap * sizeof *im); }
                im[n].name = strdup(field[0]);
                im[n].score = (float *)calloc(per, sizeof(float));
                im[n].have = (unsigned char *)calloc(per, 1);
                im[n].count = 0;
                cur = n++;
            }
        }
        at = ((size_t)ri * s->cfg.repeats + (size_t)rep) * (size_t)(s->cfg.steps + 1) + (size_t)k;
        if (!im[cur].have[at]) { im[cur].have[at] = 1; im[cur].count++; }
        im[cur].score[at] = strtof(field[5], NULL);
    }
    fclose(f);
    {
        int i;
        for (i = 0; i < n; i++) if (im[i].count != per) *partial = 1;
    }
    *nimg = n;
    return im;
}

/* Appends one image's rows: one block, flushed, so a kill cuts at most this image. */
static int write_block(FILE *f, const settings *s, const char *name, const float *score)
{
    int ri, rep, k;
    for (ri = 0; ri < s->nrun; ri++)
        for (rep = 0; rep < s->cfg.repeats; rep++)
            for (k = 0; k <= s->cfg.steps; k++)
                fprintf(f, "%s\t%s\t%s\t%d\t%d\t%.9g\n", name, s->runs[ri].method, order_name(s->runs[ri].order), rep, k,
                        score[((size_t)ri * s->cfg.repeats + rep) * (s->cfg.steps + 1) + k]);
    return fflush(f) == 0 && !ferror(f);
}

static int cmp_image(const void *a, const void *b) { return strcmp(((const image_rec *)a)->name, ((const image_rec *)b)->name); }

/* summary.tsv, aopc_curves.tsv, abpc.tsv, aopc.svg and the table on stdout, from the complete
   images only, in the order of their names: the same bits for one run or merged shards. */
static int summarize(const char *dir, const settings *s, image_rec *im, int n)
{
    int L = s->cfg.steps, ri, i, k, nimg = 0, random_run = -1, rc = 0;
    size_t per = rows_per_image(s), stride = (size_t)s->cfg.repeats * (L + 1);
    xai_aopc_stat *st = (xai_aopc_stat *)calloc((size_t)s->nrun, sizeof *st);
    plot_text sum = {NULL, 0, 0}, curves = {NULL, 0, 0}, abpc = {NULL, 0, 0};
    plot_series series[MAX_RUNS];
    double *xs = (double *)malloc((size_t)(L + 1) * sizeof(double)), *ys = (double *)malloc((size_t)s->nrun * (L + 1) * sizeof(double));
    char path[4200], *svg;
    qsort(im, (size_t)n, sizeof *im, cmp_image);
    for (ri = 0; ri < s->nrun; ri++) {
        xai_aopc_stat_init(&st[ri], L);
        if (s->runs[ri].is_random) random_run = ri;
    }
    for (i = 0; i < n; i++) {
        if (im[i].count != per) continue;
        nimg++;
        for (ri = 0; ri < s->nrun; ri++) xai_aopc_stat_add(&st[ri], im[i].score + ri * stride, s->cfg.repeats);
    }
    plot_printf(&sum, "method\torder\tsteps\taopc\taopc_minus_random\tsem\timages\n");
    plot_printf(&curves, "method\torder\tL\taopc\tsem\n");
    printf("\nAOPC at L = %d: %d images, regions %dx%d, %s perturbation, %d repeats, score %s\n", L, nimg, s->cfg.region, s->cfg.region,
           s->cfg.perturb == XAI_PERTURB_UNIFORM ? "uniform" : s->cfg.perturb == XAI_PERTURB_CONSTANT ? "constant" : "blur", s->cfg.repeats,
           s->cfg.softmax ? "softmax" : "f_c before softmax");
    printf("%-24s %-6s %12s %14s %10s\n", "method", "order", "AOPC", "AOPC - random", "sem");
    for (ri = 0; ri < s->nrun; ri++) {
        double a = xai_aopc_stat_mean(&st[ri], L), rel = random_run >= 0 ? a - xai_aopc_stat_mean(&st[random_run], L) : NAN;
        plot_printf(&sum, "%s\t%s\t%d\t%.9g\t%.9g\t%.9g\t%d\n", s->runs[ri].method, order_name(s->runs[ri].order), L, a, rel, xai_aopc_stat_sem(&st[ri], L), nimg);
        printf("%-24s %-6s %12.5f %14.5f %10.5f\n", s->runs[ri].method, order_name(s->runs[ri].order), a, rel, xai_aopc_stat_sem(&st[ri], L));
        for (k = 0; k <= L; k++) {
            plot_printf(&curves, "%s\t%s\t%d\t%.9g\t%.9g\n", s->runs[ri].method, order_name(s->runs[ri].order), k, xai_aopc_stat_mean(&st[ri], k),
                        xai_aopc_stat_sem(&st[ri], k));
            xs[k] = k;
        }
    }
    /* ABPC: the area between the LeRF and MoRF curves of a method */
    for (ri = 0; ri < s->nrun; ri++) {
        int lr;
        xai_aopc_stat ab;
        float *diff;
        if (s->runs[ri].order != XAI_ORDER_MORF) continue;
        for (lr = 0; lr < s->nrun; lr++) if (s->runs[lr].order == XAI_ORDER_LERF && !strcmp(s->runs[lr].method, s->runs[ri].method)) break;
        if (lr == s->nrun) continue;
        if (!abpc.len) { plot_printf(&abpc, "method\tsteps\tabpc\tsem\timages\n"); printf("\n%-24s %12s %10s\n", "method", "ABPC", "sem"); }
        xai_aopc_stat_init(&ab, L);
        diff = (float *)malloc(stride * sizeof(float));
        for (i = 0; i < n; i++) {
            size_t q;
            if (im[i].count != per) continue;
            /* ABPC = 1/(L+1) sum_k (LeRF_k - MoRF_k) is the AOPC of the curve MoRF_k - LeRF_k, whose
               first point is 0 (both start from the same clean image) */
            for (q = 0; q < stride; q++) diff[q] = im[i].score[ri * stride + q] - im[i].score[lr * stride + q];
            xai_aopc_stat_add(&ab, diff, s->cfg.repeats);
        }
        free(diff);
        plot_printf(&abpc, "%s\t%d\t%.9g\t%.9g\t%d\n", s->runs[ri].method, L, xai_aopc_stat_mean(&ab, L), xai_aopc_stat_sem(&ab, L), nimg);
        printf("%-24s %12.5f %10.5f\n", s->runs[ri].method, xai_aopc_stat_mean(&ab, L), xai_aopc_stat_sem(&ab, L));
        xai_aopc_stat_free(&ab);
    }
    /* the figure: AOPC relative to random against L, MoRF curves */
    {
        int ns = 0;
        for (ri = 0; ri < s->nrun; ri++) {
            if (s->runs[ri].order != XAI_ORDER_MORF) continue;
            for (k = 0; k <= L; k++)
                ys[(size_t)ns * (L + 1) + k] = xai_aopc_stat_mean(&st[ri], k) - (random_run >= 0 ? xai_aopc_stat_mean(&st[random_run], k) : 0);
            series[ns].name = s->runs[ri].method;
            series[ns].x = xs;
            series[ns].y = ys + (size_t)ns * (L + 1);
            series[ns].n = L + 1;
            series[ns].right_axis = 0;
            ns++;
        }
        svg = plot_svg(random_run >= 0 ? "AOPC relative to random (MoRF)" : "AOPC (MoRF)", "perturbation steps L",
                       random_run >= 0 ? "AOPC(L) - AOPC_random(L)" : "AOPC(L)", NULL, series, ns);
        path_join(path, sizeof path, dir, "aopc.svg");
        if (!svg || xai_file_write(path, svg, strlen(svg)) != XAI_OK) rc = 1;
        free(svg);
    }
    path_join(path, sizeof path, dir, "summary.tsv");
    if (xai_file_write(path, sum.p, sum.len) != XAI_OK) rc = 1;
    path_join(path, sizeof path, dir, "aopc_curves.tsv");
    if (xai_file_write(path, curves.p, curves.len) != XAI_OK) rc = 1;
    if (abpc.len) {
        path_join(path, sizeof path, dir, "abpc.tsv");
        if (xai_file_write(path, abpc.p, abpc.len) != XAI_OK) rc = 1;
    }
    if (rc) fprintf(stderr, "aopc: %s\n", xai_failure_reason());
    else printf("\nwrote %s/summary.tsv, aopc_curves.tsv, %saopc.svg\n", dir, abpc.len ? "abpc.tsv, " : "");
    for (ri = 0; ri < s->nrun; ri++) xai_aopc_stat_free(&st[ri]);
    free(st); free(sum.p); free(curves.p); free(abpc.p); free(xs); free(ys);
    return rc;
}

/* ---- heatmap complexity (--complexity) ---- */

/* An image's complexity rows: for each heatmap method (settings.cx_run order) png_bytes,
   jpeg_bytes, entropy_bits. */
typedef struct cx_rec {
    char *name;
    double *val;           /* ncx x 3 */
    unsigned char *have;   /* ncx */
    int count;
} cx_rec;

static int cx_method(const settings *s, const char *method)
{
    int c;
    for (c = 0; c < s->ncx; c++)
        if (!strcmp(s->runs[s->cx_run[c]].method, method)) return c;
    return -1;
}

static int find_cx(cx_rec *cx, int n, const char *name)
{
    int i;
    for (i = n - 1; i >= 0; i--)
        if (!strcmp(cx[i].name, name)) return i;
    return -1;
}

static void free_cx(cx_rec *cx, int n)
{
    int i;
    for (i = 0; i < n; i++) { free(cx[i].name); free(cx[i].val); free(cx[i].have); }
    free(cx);
}

/* Reads complexity.tsv: every image with its rows; *partial says whether a row was cut or an image
   lacks a method.  NULL with *n = 0 and no error if the file does not exist. */
static cx_rec *read_complexity(const char *path, const settings *s, int *nimg, int *partial, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char line[LINE_MAX_BYTES];
    cx_rec *cx = NULL;
    int n = 0, cap = 0, cur = -1, i;
    size_t lineno = 0;
    *nimg = 0;
    *partial = 0;
    err[0] = 0;
    if (!f) return NULL;
    while (fgets(line, sizeof line, f)) {
        char *field[5], *p = line;
        int nf = 0, c;
        lineno++;
        if (!strchr(line, '\n')) { *partial = 1; break; }   /* a row cut by a kill */
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1 && !strncmp(line, "image\t", 6)) continue;
        while (nf < 5) { field[nf++] = p; p = strchr(p, '\t'); if (!p) break; *p++ = 0; }
        if (nf != 5) { *partial = 1; continue; }
        if ((c = cx_method(s, field[1])) < 0) {
            snprintf(err, errlen, "%s: line %zu: method %s is not a heatmap method of config.tsv", path, lineno, field[1]);
            break;
        }
        if (cur < 0 || strcmp(cx[cur].name, field[0])) {
            cur = find_cx(cx, n, field[0]);
            if (cur >= 0 && cur != n - 1) { snprintf(err, errlen, "%s: line %zu: rows of image %s in two places", path, lineno, field[0]); break; }
            if (cur < 0) {
                if (n == cap) { cap = cap ? 2 * cap : 64; cx = (cx_rec *)realloc(cx, (size_t)cap * sizeof *cx); }
                cx[n].name = strdup(field[0]);
                cx[n].val = (double *)calloc((size_t)s->ncx * 3, sizeof(double));
                cx[n].have = (unsigned char *)calloc((size_t)s->ncx, 1);
                cx[n].count = 0;
                cur = n++;
            }
        }
        if (!cx[cur].have[c]) { cx[cur].have[c] = 1; cx[cur].count++; }
        cx[cur].val[3 * c] = strtod(field[2], NULL);
        cx[cur].val[3 * c + 1] = strtod(field[3], NULL);
        cx[cur].val[3 * c + 2] = strtod(field[4], NULL);
    }
    fclose(f);
    for (i = 0; i < n; i++) if (cx[i].count != s->ncx) *partial = 1;
    *nimg = n;
    return cx;
}

/* Appends one image's rows in one block, flushed: a kill cuts at most this image. */
static int write_cx_block(FILE *f, const settings *s, const char *name, const double *val)
{
    int c;
    for (c = 0; c < s->ncx; c++)
        fprintf(f, "%s\t%s\t%.0f\t%.0f\t%.17g\n", name, s->runs[s->cx_run[c]].method, val[3 * c], val[3 * c + 1], val[3 * c + 2]);
    return fflush(f) == 0 && !ferror(f);
}

/* Writes the complete images of cx to path, through a temporary file. */
static int write_cx_file(const char *path, const settings *s, cx_rec *cx, int n)
{
    char tmp[4400];
    FILE *f;
    int i, ok;
    snprintf(tmp, sizeof tmp, "%s.rewrite.tmp", path);
    if (!(f = fopen(tmp, "wb"))) return 0;
    ok = fprintf(f, "image\tmethod\tpng_bytes\tjpeg_bytes\tentropy_bits\n") > 0;
    for (i = 0; i < n && ok; i++)
        if (cx[i].count == s->ncx) ok = write_cx_block(f, s, cx[i].name, cx[i].val);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) { remove(tmp); return 0; }
    return 1;
}

static int cmp_cx(const void *a, const void *b) { return strcmp(((const cx_rec *)a)->name, ((const cx_rec *)b)->name); }

/* complexity_summary.tsv and the paper's Table I on stdout: per method the mean and standard error
   over the complete images, in the order of their names, two passes in double: the same bits for
   one run or merged shards. */
static int summarize_complexity(const char *dir, const settings *s, cx_rec *cx, int n)
{
    static const char *col[3] = {"png_bytes", "jpeg_bytes", "entropy_bits"};
    plot_text sum = {NULL, 0, 0};
    char path[4200];
    int c, q, i, nimg = 0, rc = 0;
    qsort(cx, (size_t)n, sizeof *cx, cmp_cx);
    for (i = 0; i < n; i++) nimg += cx[i].count == s->ncx;
    plot_printf(&sum, "method\timages");
    for (q = 0; q < 3; q++) plot_printf(&sum, "\t%s\t%s_sem", col[q], col[q]);
    plot_printf(&sum, "\n");
    printf("\nHeatmap complexity (the paper's Table I): %d images; each heatmap as explain --png draws it (8-bit RGB),\n"
           "its PNG and its JPEG at quality 90 in KB (1024 bytes), the entropy of its colours in bits; mean %s standard error\n",
           nimg, "\xc2\xb1");
    printf("%-24s %-20s %-20s %s\n", "method", "PNG KB", "JPEG KB", "entropy");
    for (c = 0; c < s->ncx; c++) {
        double mean[3], sem[3];
        char cell[3][64];
        for (q = 0; q < 3; q++) {
            double acc = 0, ss = 0;
            for (i = 0; i < n; i++) if (cx[i].count == s->ncx) acc += cx[i].val[3 * c + q];
            mean[q] = nimg ? acc / nimg : NAN;
            for (i = 0; i < n; i++) if (cx[i].count == s->ncx) ss += (cx[i].val[3 * c + q] - mean[q]) * (cx[i].val[3 * c + q] - mean[q]);
            sem[q] = nimg > 1 ? sqrt(ss / (nimg - 1) / nimg) : 0.0;
            snprintf(cell[q], sizeof cell[q], "%.3f %s %.3f", q < 2 ? mean[q] / 1024 : mean[q], "\xc2\xb1", q < 2 ? sem[q] / 1024 : sem[q]);
        }
        plot_printf(&sum, "%s\t%d\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n", s->runs[s->cx_run[c]].method, nimg, mean[0], sem[0], mean[1], sem[1], mean[2], sem[2]);
        /* each cell holds one two-byte sign: pad to 21 bytes to align 20 columns */
        printf("%-24s %-21s %-21s %s\n", s->runs[s->cx_run[c]].method, cell[0], cell[1], cell[2]);
    }
    path_join(path, sizeof path, dir, "complexity_summary.tsv");
    if (xai_file_write(path, sum.p, sum.len) != XAI_OK) { fprintf(stderr, "aopc: %s\n", xai_failure_reason()); rc = 1; }
    else printf("\nwrote %s/complexity_summary.tsv\n", dir);
    free(sum.p);
    return rc;
}

#ifdef AOPC_MERGE
/* aopc-merge: the complexity rows of the shards that have complexity.tsv, their complete images,
   into out/complexity.tsv (in the order of the names) and its summary.  0 if no shard has any. */
static int merge_complexity(const char *const *dirs, int ndir, const settings *s, const char *out)
{
    cx_rec *all = NULL;
    int n = 0, cap = 0, i, j, with = 0, rc;
    char path[4200], err[8192];
    for (i = 0; i < ndir; i++) {
        cx_rec *cx;
        int ncx, partial;
        FILE *f;
        path_join(path, sizeof path, dirs[i], "complexity.tsv");
        if (!(f = fopen(path, "rb"))) continue;
        fclose(f);
        with++;
        cx = read_complexity(path, s, &ncx, &partial, err, sizeof err);
        if (err[0]) { free_cx(all, n); return die(err); }
        for (j = 0; j < ncx; j++) {
            if (cx[j].count != s->ncx) { free(cx[j].name); free(cx[j].val); free(cx[j].have); continue; }
            if (find_cx(all, n, cx[j].name) >= 0) {
                snprintf(err, sizeof err, "image %s has complexity rows in two shards (%s and an earlier one)", cx[j].name, dirs[i]);
                free_cx(all, n);
                return die(err);
            }
            if (n == cap) { cap = cap ? 2 * cap : 256; all = (cx_rec *)realloc(all, (size_t)cap * sizeof *all); }
            all[n++] = cx[j];
        }
        free(cx);
    }
    if (!with) return 0;
    if (with < ndir) fprintf(stderr, "aopc-merge: only %d of %d folders have complexity.tsv: the complexity summary covers their images\n", with, ndir);
    qsort(all, (size_t)n, sizeof *all, cmp_cx);
    path_join(path, sizeof path, out, "complexity.tsv");
    if (!write_cx_file(path, s, all, n)) { free_cx(all, n); snprintf(err, sizeof err, "%s: write error", path); return die(err); }
    rc = summarize_complexity(out, s, all, n);
    free_cx(all, n);
    return rc;
}
#endif

#ifndef AOPC_MERGE
/* Keeps only complete images: written to a temporary file and renamed over curves.tsv. */
static int rewrite_complete(const char *path, const settings *s, image_rec *im, int n)
{
    char tmp[4400];
    FILE *f;
    int i, ok;
    snprintf(tmp, sizeof tmp, "%s.rewrite.tmp", path);
    if (!(f = fopen(tmp, "wb"))) return 0;
    ok = fprintf(f, "image\tmethod\torder\trepeat\tk\tscore\n") > 0;
    for (i = 0; i < n && ok; i++)
        if (im[i].count == rows_per_image(s)) ok = write_block(f, s, im[i].name, im[i].score);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) { remove(tmp); return 0; }
    return 1;
}

static int parse_shard(const char *arg, int *i, int *n)
{
    char *end;
    long a = strtol(arg, &end, 10), b;
    if (*end != '/') return 0;
    b = strtol(end + 1, &end, 10);
    if (*end || b < 1 || a < 0 || a >= b || b > 1000000) return 0;
    *i = (int)a;
    *n = (int)b;
    return 1;
}

/* The heatmap of one run for one image (network input size), or 0 with a message. */
static int heatmap_for(const xai_net *net, xai_tape *t1, const run *r, const char *image_path, const float *x, int cls, float *heat, char *err, size_t errlen)
{
    if (r->is_file) {
        char path[4200], name[1024];
        const char *base = strrchr(image_path, '/'), *dot;
        xai_image h;
        size_t len;
        base = base ? base + 1 : image_path;
        dot = strrchr(base, '.');
        len = dot ? (size_t)(dot - base) : strlen(base);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, base, len);
        name[len] = 0;
        snprintf(path, sizeof path, "%s/%s.pfm", r->method + 5, name);
        if (xai_image_load(path, &h) != XAI_OK) { snprintf(err, errlen, "%s", xai_failure_reason()); return 0; }
        if (h.w != net->input_w || h.h != net->input_h || h.c != 1) {
            snprintf(err, errlen, "%s: a %dx%dx%d heatmap, the network input is %dx%d (one value a pixel)", path, h.w, h.h, h.c, net->input_w, net->input_h);
            xai_image_free(&h);
            return 0;
        }
        memcpy(heat, h.data, (size_t)h.w * h.h * sizeof(float));
        xai_image_free(&h);
        return 1;
    } else {
        int target = cls;
        if (xai_explain(net, t1, x, 1, &r->m, &target, NULL, heat, NULL) != XAI_OK) {
            snprintf(err, errlen, "%s: %s: %s", image_path, r->method, xai_failure_reason());
            return 0;
        }
        return 1;
    }
}

/* The colour map explain uses for a method (for xai_heatmap_complexity): blue-white-red for signed maps (LRP, gradxinput), hot
   for the others; a heatmap read from a file: blue-white-red if it has a negative value. */
static int heatmap_cmap(const run *r, const float *heat, size_t n)
{
    size_t i;
    if (!r->is_file) return r->m.heatmap == XAI_HEAT_SUM || r->m.heatmap == XAI_HEAT_SUM_X_INPUT ? XAI_CMAP_BWR : XAI_CMAP_HOT;
    for (i = 0; i < n; i++)
        if (heat[i] < 0) return XAI_CMAP_BWR;
    return XAI_CMAP_HOT;
}

static double now_seconds(void)
{
#if defined(CLOCK_MONOTONIC) && !defined(_WIN32)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return (double)time(NULL);
#endif
}

static int usage(void)
{
    fprintf(stderr, "usage: aopc MODEL.xai --list IMAGES.txt --methods M1,M2,... --out DIR [--steps 100] [--region 9] [--repeats 10]\n"
                    "            [--perturb uniform|constant|blur] [--seed S] [--batch B] [--shard I/N] [--orders morf,lerf] [--softmax]\n"
                    "            [--complexity]\n");
    return 2;
}

int main(int argc, char **argv)
{
    settings s;
    const char *dir = NULL;
    char err[8192], path[4200], cxpath[4200], cfgtext[16384], *old, *listtext, *line, *save = NULL, **names = NULL;
    int i, nnames = 0, cap = 0, nimg = 0, ncxi = 0, partial = 0, done = 0, todo = 0, rc = 0;
    image_rec *im;
    cx_rec *cx = NULL;
    xai_net *net;
    xai_tape *t1;
    FILE *out, *cxout = NULL;
    float *x, *heats, *block, *curves;
    const float **task_heat;
    int *same_as = NULL;
    int *task_order, *task_repeat, *task_slot;
    double t0, *cxv;
    memset(&s, 0, sizeof s);
    xai_aopc_defaults(&s.cfg);
    snprintf(s.orders, sizeof s.orders, "morf");
    s.nshards = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--softmax")) { s.cfg.softmax = 1; continue; }
        if (!strcmp(a, "--complexity")) { s.complexity = 1; continue; }
        if (a[0] != '-') { if (s.model[0]) return usage(); snprintf(s.model, sizeof s.model, "%s", a); continue; }
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--list")) snprintf(s.list, sizeof s.list, "%s", v);
        else if (!strcmp(a, "--methods")) snprintf(s.methods, sizeof s.methods, "%s", v);
        else if (!strcmp(a, "--out")) dir = v;
        else if (!strcmp(a, "--steps")) s.cfg.steps = atoi(v);
        else if (!strcmp(a, "--region")) s.cfg.region = atoi(v);
        else if (!strcmp(a, "--repeats")) s.cfg.repeats = atoi(v);
        else if (!strcmp(a, "--seed")) s.cfg.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--batch")) s.cfg.batch = atoi(v);
        else if (!strcmp(a, "--orders")) snprintf(s.orders, sizeof s.orders, "%s", v);
        else if (!strcmp(a, "--shard")) { if (!parse_shard(v, &s.shard, &s.nshards)) return die("--shard wants I/N with 0 <= I < N"); }
        else if (!strcmp(a, "--perturb")) {
            if (!strcmp(v, "uniform")) s.cfg.perturb = XAI_PERTURB_UNIFORM;
            else if (!strcmp(v, "constant")) s.cfg.perturb = XAI_PERTURB_CONSTANT;
            else if (!strcmp(v, "blur")) s.cfg.perturb = XAI_PERTURB_BLUR;
            else return die("--perturb is uniform, constant or blur");
        } else return usage();
    }
    if (!s.model[0] || !s.list[0] || !s.methods[0] || !dir) return usage();
    if (s.cfg.steps < 0 || s.cfg.region < 1 || s.cfg.repeats < 1 || s.cfg.batch < 1) return die("--steps, --region, --repeats and --batch must be positive");
    if (!make_runs(&s, err, sizeof err)) return die(err);
    if (s.complexity && !s.ncx) { fprintf(stderr, "aopc: --complexity: no method has a heatmap (random has none); ignored\n"); s.complexity = 0; }
    if (!(net = xai_net_load(s.model))) return die(xai_failure_reason());
    if (s.cfg.steps > xai_region_count(net->input_h, net->input_w, s.cfg.region)) {
        snprintf(err, sizeof err, "--steps %d: the %dx%d input has only %d regions of %dx%d", s.cfg.steps, net->input_w, net->input_h,
                 xai_region_count(net->input_h, net->input_w, s.cfg.region), s.cfg.region, s.cfg.region);
        return die(err);
    }
    if (!(listtext = read_text(s.list))) { snprintf(err, sizeof err, "%s: cannot read the image list", s.list); return die(err); }
    for (line = strtok_r(listtext, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        if (!*line || *line == '#') continue;
        if (nnames == cap) { cap = cap ? 2 * cap : 256; names = (char **)realloc(names, (size_t)cap * sizeof *names); }
        for (i = 0; i < nnames; i++)
            if (!strcmp(names[i], line)) { snprintf(err, sizeof err, "%s: image %s is listed twice", s.list, line); return die(err); }
        names[nnames++] = line;
    }
    if (!nnames) { snprintf(err, sizeof err, "%s: no images", s.list); return die(err); }
    /* the output folder and its settings */
    make_dir(dir);
    config_text(&s, cfgtext, sizeof cfgtext, 1);
    path_join(path, sizeof path, dir, "config.tsv");
    if ((old = read_text(path)) != NULL) {
        if (strcmp(old, cfgtext) != 0) {
            snprintf(err, sizeof err, "%s holds results made with other settings:\n%s\nthis run asks for:\n%s(use another --out)", path, old, cfgtext);
            return die(err);
        }
        free(old);
    } else if (xai_file_write(path, cfgtext, strlen(cfgtext)) != XAI_OK) {
        return die(xai_failure_reason());
    }
    /* resume: what is complete stays; a cut block is dropped */
    path_join(path, sizeof path, dir, "curves.tsv");
    im = read_curves(path, &s, &nimg, &partial, err, sizeof err);
    if (err[0]) return die(err);
    if (partial && !rewrite_complete(path, &s, im, nimg)) { snprintf(err, sizeof err, "%s: cannot drop the incomplete rows", path); return die(err); }
    if (!(out = fopen(path, "ab"))) { snprintf(err, sizeof err, "%s: cannot open for appending", path); return die(err); }
    if (ftell(out) == 0) { fprintf(out, "image\tmethod\torder\trepeat\tk\tscore\n"); fflush(out); }
    /* the same for complexity.tsv, which may hold fewer or more images than curves.tsv (added to a
       finished run; or killed between the two blocks of an image) */
    path_join(cxpath, sizeof cxpath, dir, "complexity.tsv");
    if (s.complexity) {
        cx = read_complexity(cxpath, &s, &ncxi, &partial, err, sizeof err);
        if (err[0]) return die(err);
        if (partial && !write_cx_file(cxpath, &s, cx, ncxi)) { snprintf(err, sizeof err, "%s: cannot drop the incomplete rows", cxpath); return die(err); }
        if (!(cxout = fopen(cxpath, "ab"))) { snprintf(err, sizeof err, "%s: cannot open for appending", cxpath); return die(err); }
        if (ftell(cxout) == 0) { fprintf(cxout, "image\tmethod\tpng_bytes\tjpeg_bytes\tentropy_bits\n"); fflush(cxout); }
    }
    for (i = s.shard; i < nnames; i += s.nshards) {
        int j = find_image(im, nimg, names[i]), k = s.complexity ? find_cx(cx, ncxi, names[i]) : -1;
        if (j >= 0 && im[j].count == rows_per_image(&s) && (!s.complexity || (k >= 0 && cx[k].count == s.ncx))) done++;
        else todo++;
    }
    fprintf(stderr, "aopc: %d images in this shard, %d already done, %d to do\n", done + todo, done, todo);
    t1 = xai_tape_new(net, 1);
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    heats = (float *)malloc((size_t)s.nrun * net->input_h * net->input_w * sizeof(float));
    block = (float *)malloc(rows_per_image(&s) * sizeof(float));
    curves = (float *)malloc(rows_per_image(&s) * sizeof(float));
    task_heat = (const float **)malloc((size_t)s.nrun * s.cfg.repeats * sizeof *task_heat);
    same_as = (int *)malloc((size_t)s.nrun * sizeof *same_as);
    task_order = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    task_repeat = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    task_slot = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    cxv = (double *)calloc((size_t)s.ncx * 3 + 1, sizeof(double));
    if (!t1 || !x || !heats || !block || !curves || !task_heat || !same_as || !task_order || !task_repeat || !task_slot || !cxv) return die(xai_failure_reason());
    t0 = now_seconds();
    {
        int finished = 0;
        for (i = s.shard; i < nnames && !rc; i += s.nshards) {
            int j = find_image(im, nimg, names[i]), k = s.complexity ? find_cx(cx, ncxi, names[i]) : -1, cls, ri, rep;
            int need_curves = !(j >= 0 && im[j].count == rows_per_image(&s)), need_cx = s.complexity && !(k >= 0 && cx[k].count == s.ncx);
            xai_image img;
            size_t L1 = (size_t)s.cfg.steps + 1, plane = (size_t)net->input_h * net->input_w;
            if (!need_curves && !need_cx) continue;
            if (xai_image_load(names[i], &img) != XAI_OK || xai_net_preprocess(net, &img, x, NULL) != XAI_OK) { rc = die(xai_failure_reason()); break; }
            xai_image_free(&img);
            if (xai_net_forward(net, t1, x, 1) != XAI_OK) { rc = die(xai_failure_reason()); break; }
            cls = xai_argmax(xai_tape_scores(t1, 0), xai_net_num_classes(net));
            for (ri = 0; ri < s.nrun && !rc; ri++) {
                const run *r = &s.runs[ri];
                float *heat = heats + (size_t)ri * plane;
                /* MoRF and LeRF of one method share a heatmap: compute it once */
                if (r->is_random) continue;
                if (ri > 0 && !strcmp(s.runs[ri - 1].method, r->method)) { memcpy(heat, heat - plane, plane * sizeof(float)); continue; }
                if (!heatmap_for(net, t1, r, names[i], x, cls, heat, err, sizeof err)) { rc = die(err); break; }
                if (need_cx) {
                    size_t png, jpg;
                    double *v = cxv + 3 * r->cx;
                    if (xai_heatmap_complexity(heat, net->input_w, net->input_h, heatmap_cmap(r, heat, plane), &png, &jpg, &v[2]) != XAI_OK) {
                        snprintf(err, sizeof err, "%s: %s: complexity: %s", names[i], r->method, xai_failure_reason());
                        rc = die(err);
                        break;
                    }
                    v[0] = (double)png;
                    v[1] = (double)jpg;
                }
            }
            if (!rc && need_curves) {
                /* every (method, order, repeat) curve of the image at once, spread over the threads;
                   without noise a fixed order gives the same curve every repeat: computed once */
                int ntask = 0, fixed = s.cfg.perturb != XAI_PERTURB_UNIFORM;
                /* a heatmap bit-identical to an earlier method's, in the same order, has the same
                   curves (the noise does not depend on the method): copied, not recomputed.  On
                   one-channel images l2 and linf over the channels are the same map. */
                for (ri = 0; ri < s.nrun; ri++) {
                    int rj;
                    same_as[ri] = -1;
                    for (rj = 0; rj < ri && !s.runs[ri].is_random; rj++)
                        if (!s.runs[rj].is_random && same_as[rj] < 0 && s.runs[rj].order == s.runs[ri].order &&
                            !memcmp(heats + (size_t)rj * plane, heats + (size_t)ri * plane, plane * sizeof(float))) { same_as[ri] = rj; break; }
                }
                for (ri = 0; ri < s.nrun; ri++)
                    for (rep = 0; rep < s.cfg.repeats; rep++) {
                        if (same_as[ri] >= 0) continue;
                        if (rep > 0 && fixed && !s.runs[ri].is_random) continue;
                        task_heat[ntask] = s.runs[ri].is_random ? NULL : heats + (size_t)ri * plane;
                        task_order[ntask] = s.runs[ri].order;
                        task_repeat[ntask] = rep;
                        task_slot[ntask++] = ri * s.cfg.repeats + rep;
                    }
                if (xai_perturbation_curves(net, x, cls, (uint64_t)i, &s.cfg, ntask, task_heat, task_order, task_repeat, curves) != XAI_OK) {
                    snprintf(err, sizeof err, "%s: %s", names[i], xai_failure_reason());
                    rc = die(err);
                    break;
                }
                for (ri = 0; ri < ntask; ri++) memcpy(block + (size_t)task_slot[ri] * L1, curves + (size_t)ri * L1, L1 * sizeof(float));
                for (ri = 0; ri < s.nrun; ri++)
                    for (rep = 1; rep < s.cfg.repeats; rep++)
                        if (fixed && !s.runs[ri].is_random)
                            memcpy(block + ((size_t)ri * s.cfg.repeats + rep) * L1, block + (size_t)ri * s.cfg.repeats * L1, L1 * sizeof(float));
                for (ri = 0; ri < s.nrun; ri++)
                    if (same_as[ri] >= 0)
                        memcpy(block + (size_t)ri * s.cfg.repeats * L1, block + (size_t)same_as[ri] * s.cfg.repeats * L1, s.cfg.repeats * L1 * sizeof(float));
            }
            if (rc) break;
            /* complexity first: a kill between the blocks leaves an image whose curves are redone
               and whose complexity rows are kept, never written twice */
            if (need_cx && !write_cx_block(cxout, &s, names[i], cxv)) { snprintf(err, sizeof err, "%s: write error (disk full?); the complete images stay", cxpath); rc = die(err); break; }
            if (need_curves && !write_block(out, &s, names[i], block)) { snprintf(err, sizeof err, "%s: write error (disk full?); the complete images stay", path); rc = die(err); break; }
            finished++;
            {
                double el = now_seconds() - t0, rate = finished / (el > 1e-9 ? el : 1e-9), left = (todo - finished) / rate;
                fprintf(stderr, "aopc: %d/%d images, %.2f images/s, %dm%02ds left\n", done + finished, done + todo, rate, (int)left / 60, (int)left % 60);
            }
        }
    }
    if (fclose(out) != 0 && !rc) { snprintf(err, sizeof err, "%s: write error", path); rc = die(err); }
    if (cxout && fclose(cxout) != 0 && !rc) { snprintf(err, sizeof err, "%s: write error", cxpath); rc = die(err); }
    free_images(im, nimg);
    free_cx(cx, ncxi);
    if (!rc) {
        im = read_curves(path, &s, &nimg, &partial, err, sizeof err);
        if (err[0]) rc = die(err);
        else rc = summarize(dir, &s, im, nimg);
        free_images(im, nimg);
    }
    if (!rc && s.complexity) {
        cx = read_complexity(cxpath, &s, &ncxi, &partial, err, sizeof err);
        if (err[0]) rc = die(err);
        else rc = summarize_complexity(dir, &s, cx, ncxi);
        free_cx(cx, ncxi);
    }
    free(x); free(heats); free(block); free(curves); free(cxv); free(names); free(listtext);
    free(task_heat); free(same_as); free(task_order); free(task_repeat); free(task_slot);
    xai_tape_free(t1);
    xai_net_free(net);
    return rc;
}
#endif
