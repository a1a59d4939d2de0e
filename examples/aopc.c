/* aopc: how good are heatmaps?  Region perturbation and AOPC over a list of images, as in Samek et
   al., "Evaluating the Visualization of What a Deep Neural Network Has Learned" (2017), Sec. III.
   Build: cc -O2 examples/aopc.c -o aopc -lm            (add -fopenmp -march=native for speed)

   aopc MODEL.xai --list IMAGES.txt --methods M1,M2,... --out DIR [--steps 100] [--region 9]
        [--repeats 10] [--perturb uniform|constant|blur] [--seed S] [--batch B] [--shard I/N]
        [--orders morf,lerf] [--softmax] [--complexity] [--list-changed] [--no-lock] [--no-incremental]
   (aopc --help: every option with its default)

   Methods are xai_method_parse names (lrp-eps:100, lrp-ab:2, sensitivity-l2, deconv-linf, ...),
   "random" (a random region order, the baseline), or file:HEATDIR: heatmaps computed elsewhere,
   read from HEATDIR/NAME.pfm (NAME = the image's file name without extension; the PFM must have
   the network's input size).  IMAGES.txt: one image path a line ('#' comments).

   DIR/config.tsv   the settings, the shard I/N and the list (its count and a hash of its entries);
                    a rerun with other settings on the same DIR is refused, and so is a changed
                    list (naming what changed) unless --list-changed: then the rows of images no
                    longer listed stay in curves.tsv but count nowhere
   DIR/images.tsv   the list's entries, to name what changed
   DIR/lock         held (an fcntl lock) for the whole run: a second run into DIR is refused at once
                    with the holder's pid and host; on a filesystem without locks only --no-lock
                    goes on.  Temporary files (*.tmp) in DIR are those of a killed run: removed.
   DIR/curves.tsv   append-only: image, method, order, repeat, k, score, for k = 0..steps
   DIR/summary.tsv  method, order, steps, aopc, aopc_minus_random, sem, images (at L = steps)
   DIR/aopc_curves.tsv  AOPC(L) for every L;  DIR/abpc.tsv with --orders morf,lerf
   DIR/aopc.svg     AOPC relative to random against L (the paper's Fig. 4)

   --complexity: also how complex each heatmap is (the paper's Table I, Sec. IV): the bytes of
   its PNG file, the bytes of its JPEG file at quality 90 and the Shannon entropy of its colours.
   The image measured is the bare map `explain --heatmap-png` writes: the heatmap at
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

   Every score must be finite: a NaN or infinite score stops the run naming the image, method,
   order, repeat and step (nothing of that image is written); a row of curves.tsv that does not
   parse is an error with its line number.  The summary counts the images of the current list
   and shard only.  --batch above steps + 1 is lowered to it; a run whose tapes would need more
   than the machine's physical memory is refused before allocating them.

   Resumable: a rerun skips the images already complete in curves.tsv (and, with --complexity,
   in complexity.tsv; a killed run loses only the image in flight).  --shard I/N (0 <= I < N)
   takes images I, I+N, I+2N, ... of the list; run each shard into its own DIR and combine them
   with aopc-merge.  Every number is the same for any --batch, thread count, shard split or order
   of work. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700   /* POSIX 2008: fcntl locks, gethostname, opendir, realpath, sysconf under -std=c99 */
#endif
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "cli.h"
#include "plot.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(p) _mkdir(p)
#else
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#define make_dir(p) mkdir(p, 0777)
#endif
#ifdef _OPENMP
#include <omp.h>
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
    int list_count;        /* the list: its entries' count and FNV-1a hash (config.tsv) */
    uint64_t list_hash;
    run runs[MAX_RUNS];
    int nrun;
    int complexity;        /* --complexity (not in config.tsv: it changes no AOPC number) */
    int cx_run[MAX_RUNS];  /* the first run of each heatmap method, in --methods order */
    int ncx;
} settings;

/* One image's rows of a results file, either file: curves.tsv (a slot a score, nrun x repeats x
   (steps + 1) slots in that order, one number each) or complexity.tsv (a slot a heatmap method,
   in settings.cx_run order: png_bytes, jpeg_bytes, entropy_bits).  read_tsv reads both. */
typedef struct tsv_image {
    char *name;
    double *val;           /* slots x width numbers (a curve's scores are floats, kept exactly) */
    unsigned char *have;   /* whether each slot's row was read */
    size_t count;          /* slots read */
    size_t line;           /* its first row in the file */
} tsv_image;

/* A list entry: its text, its position (which keys its noise and its shard) and its line. */
typedef struct list_entry {
    const char *name;
    int index, line;
} list_entry;

static const char *order_name(int o) { return o == XAI_ORDER_MORF ? "morf" : o == XAI_ORDER_LERF ? "lerf" : "random"; }

/* aopc-merge writes into a temporary folder: its name is not the one to show */
static const char *shown_dir;

#ifdef AOPC_MERGE
static void merge_checkpoint(void);
#define CHECKPOINT() merge_checkpoint()
#else
#define CHECKPOINT() ((void)0)
#endif

static int die(const char *what)
{
    fprintf(stderr, "%s: %s\n", cli_tool, what);
    return 1;
}

static size_t rows_per_image(const settings *s) { return (size_t)s->nrun * s->cfg.repeats * (s->cfg.steps + 1); }

/* strdup and strtok_r are POSIX, not C99: our own */
static char *copy_string(const char *text)
{
    size_t n = strlen(text) + 1;
    char *p = (char *)malloc(n);
    if (p) memcpy(p, text, n);
    return p;
}

/* The next non-empty token of *rest between separators (as strtok_r), or NULL. */
static char *next_token(char **rest, const char *seps)
{
    char *t = *rest, *e;
    if (!t) return NULL;
    t += strspn(t, seps);
    if (!*t) { *rest = NULL; return NULL; }
    e = t + strcspn(t, seps);
    if (*e) { *e = 0; *rest = e + 1; } else *rest = NULL;
    return t;
}

/* Strict field numbers (config.tsv, curves.tsv): the whole text, in range; 0 if not. */
static int parse_long_field(const char *text, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(text, &end, 10);
    return end != text && !*end && errno != ERANGE && *v >= lo && *v <= hi;
}

static int parse_finite_field(const char *text, double *v)
{
    char *end;
    *v = strtod(text, &end);
    return end != text && !*end && isfinite(*v);
}

static int cmp_entry(const void *a, const void *b)
{
    const list_entry *x = (const list_entry *)a, *y = (const list_entry *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The position of name in a list sorted by cmp_entry, or -1: O(log n). */
static int list_index(const list_entry *sorted, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(sorted[mid].name, name);
        if (!c) return sorted[mid].index;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* FNV-1a 64 over the entries, each ended by a newline: the list's identity in config.tsv. */
static uint64_t list_hash(char *const *names, int n)
{
    uint64_t h = 14695981039346656037ull;
    int i;
    for (i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)names[i];
        for (; *p; p++) h = (h ^ *p) * 1099511628211ull;
        h = (h ^ '\n') * 1099511628211ull;
    }
    return h;
}

/* Splits a list's text (in place) into its entries: one a line, blanks around trimmed, empty lines
   and '#' comments skipped.  Duplicates are found by sorting (O(n log n)): "listed twice" names
   both lines.  Returns the count, or -1 with err. */
static int split_list(char *text, const char *path, char ***names_out, int **lines_out, char *err, size_t errlen)
{
    char **names = NULL, *p = text;
    int *lines = NULL, n = 0, cap = 0, lineno = 0, i;
    list_entry *sorted;
    while (p && *p) {
        char *line = p, *end;
        size_t len = 0;
        /* not strcspn: a checked build reads the whole rest of the text per call (quadratic) */
        while (p[len] && p[len] != '\n') len++;
        p = p[len] ? p + len + 1 : NULL;
        line[len] = 0;
        lineno++;
        while (*line == ' ' || *line == '\t') line++;
        end = line + strlen(line);
        while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        if (!*line || *line == '#') continue;
        if (n == cap) {
            char **nn;
            int *nl;
            cap = cap ? 2 * cap : 256;
            nn = (char **)realloc(names, (size_t)cap * sizeof *names);
            if (nn) names = nn;
            nl = (int *)realloc(lines, (size_t)cap * sizeof *lines);
            if (nl) lines = nl;
            if (!nn || !nl) { free(names); free(lines); snprintf(err, errlen, "%s: out of memory", path); return -1; }
        }
        names[n] = line;
        lines[n++] = lineno;
    }
    sorted = (list_entry *)malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) { free(names); free(lines); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    for (i = 0; i < n; i++) { sorted[i].name = names[i]; sorted[i].index = i; sorted[i].line = lines[i]; }
    if (n > 1) qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);
    for (i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1].name, sorted[i].name)) {
            snprintf(err, errlen, "%s: image %s is listed twice (lines %d and %d)", path, sorted[i].name, sorted[i - 1].line, sorted[i].line);
            free(sorted); free(names); free(lines);
            return -1;
        }
    free(sorted);
    *names_out = names;
    if (lines_out) *lines_out = lines; else free(lines);
    return n;
}

/* The list sorted for lookups by name (the entries point into names). */
static list_entry *sorted_list(char *const *names, int n)
{
    list_entry *e = (list_entry *)malloc((size_t)(n ? n : 1) * sizeof *e);
    int i;
    if (!e) return NULL;
    for (i = 0; i < n; i++) { e[i].name = names[i]; e[i].index = i; e[i].line = 0; }
    if (n > 1) qsort(e, (size_t)n, sizeof *e, cmp_entry);
    return e;
}

/* methods x orders -> runs */
static int make_runs(settings *s, char *err, size_t errlen)
{
    char buf[4096], *tok, *save;
    int want_morf = 0, want_lerf = 0;
    snprintf(buf, sizeof buf, "%s", s->orders);
    save = buf;
    for (tok = next_token(&save, ","); tok; tok = next_token(&save, ",")) {
        if (!strcmp(tok, "morf")) want_morf = 1;
        else if (!strcmp(tok, "lerf")) want_lerf = 1;
        else { snprintf(err, errlen, "--orders: '%s' is not morf or lerf", tok); return 0; }
    }
    if (!want_morf && !want_lerf) { snprintf(err, errlen, "--orders names no order"); return 0; }
    snprintf(buf, sizeof buf, "%s", s->methods);
    s->nrun = 0;
    s->ncx = 0;
    save = buf;
    for (tok = next_token(&save, ","); tok; tok = next_token(&save, ",")) {
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

/* The settings that decide the numbers, as key/value lines; with_list adds the list's count and
   hash (images, images_hash), with_shard the shard I/N. */
static void config_text(const settings *s, char *out, size_t len, int with_shard, int with_list)
{
    const char *pert[] = {"uniform", "constant", "blur"};
    int n = snprintf(out, len, "methods\t%s\norders\t%s\nsteps\t%d\nregion\t%d\nrepeats\t%d\nperturb\t%s\nblur_sigma\t%g\nseed\t%llu\nsoftmax\t%d\nmodel\t%s\nlist\t%s\n",
                     s->methods, s->orders, s->cfg.steps, s->cfg.region, s->cfg.repeats, pert[s->cfg.perturb], s->cfg.blur_sigma,
                     (unsigned long long)s->cfg.seed, s->cfg.softmax, s->model, s->list);
    if (with_list && n > 0 && (size_t)n < len)
        n += snprintf(out + n, len - (size_t)n, "images\t%d\nimages_hash\t%016llx\n", s->list_count, (unsigned long long)s->list_hash);
    if (with_shard && n > 0 && (size_t)n < len) snprintf(out + n, len - (size_t)n, "shard\t%d/%d\n", s->shard, s->nshards);
}

/* Drops the lines of a config text whose key is images or images_hash (in place). */
CLI_FN void strip_list_lines(char *text)
{
    char *r = text, *w = text;
    while (*r) {
        size_t n = strcspn(r, "\n") + (r[strcspn(r, "\n")] == '\n');
        if (strncmp(r, "images\t", 7) && strncmp(r, "images_hash\t", 12)) { memmove(w, r, n); w += n; }
        r += n;
    }
    *w = 0;
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
/* Parses config.tsv back into settings (for aopc-merge): every number strict; 0 with err naming
   the key if a value does not parse. */
static int parse_config(const char *path, const char *text, settings *s, char *err, size_t errlen)
{
    char line[LINE_MAX_BYTES];
    const char *p = text;
    int lineno = 0, have_shard = 0, have_list = 0;
    memset(s, 0, sizeof *s);
    xai_aopc_defaults(&s->cfg);
    while (*p) {
        size_t n = strcspn(p, "\n");
        char *tab, *end;
        long v;
        double d;
        int ok = 1;
        lineno++;
        if (n >= sizeof line) { snprintf(err, errlen, "%s: line %d is too long", path, lineno); return 0; }
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (p[n] == '\n');
        if (!(tab = strchr(line, '\t'))) continue;
        *tab++ = 0;
        if (!strcmp(line, "methods")) snprintf(s->methods, sizeof s->methods, "%s", tab);
        else if (!strcmp(line, "orders")) snprintf(s->orders, sizeof s->orders, "%s", tab);
        else if (!strcmp(line, "steps")) { ok = parse_long_field(tab, 0, 1000000, &v); s->cfg.steps = (int)v; }
        else if (!strcmp(line, "region")) { ok = parse_long_field(tab, 1, 1000000, &v); s->cfg.region = (int)v; }
        else if (!strcmp(line, "repeats")) { ok = parse_long_field(tab, 1, 1000000, &v); s->cfg.repeats = (int)v; }
        else if (!strcmp(line, "softmax")) { ok = parse_long_field(tab, 0, 1, &v); s->cfg.softmax = (int)v; }
        else if (!strcmp(line, "images")) { ok = parse_long_field(tab, 0, 2000000000L, &v); s->list_count = (int)v; have_list |= 1; }
        else if (!strcmp(line, "blur_sigma")) { ok = parse_finite_field(tab, &d); s->cfg.blur_sigma = (float)d; }
        else if (!strcmp(line, "perturb")) {
            if (!strcmp(tab, "uniform")) s->cfg.perturb = XAI_PERTURB_UNIFORM;
            else if (!strcmp(tab, "constant")) s->cfg.perturb = XAI_PERTURB_CONSTANT;
            else if (!strcmp(tab, "blur")) s->cfg.perturb = XAI_PERTURB_BLUR;
            else ok = 0;
        } else if (!strcmp(line, "seed")) {
            errno = 0;
            s->cfg.seed = strtoull(tab, &end, 10);
            ok = *tab >= '0' && *tab <= '9' && !*end && errno != ERANGE;
        } else if (!strcmp(line, "images_hash")) {
            errno = 0;
            s->list_hash = strtoull(tab, &end, 16);
            ok = end != tab && !*end && errno != ERANGE;
            have_list |= 2;
        } else if (!strcmp(line, "shard")) {
            long a, b;
            char *slash = strchr(tab, '/');
            ok = slash != NULL;
            if (ok) { *slash = 0; ok = parse_long_field(tab, 0, 1000000, &a) && parse_long_field(slash + 1, 1, 1000000, &b) && a < b; }
            if (ok) { s->shard = (int)a; s->nshards = (int)b; have_shard = 1; }
        } else if (!strcmp(line, "model")) snprintf(s->model, sizeof s->model, "%s", tab);
        else if (!strcmp(line, "list")) snprintf(s->list, sizeof s->list, "%s", tab);
        if (!ok) { snprintf(err, errlen, "%s: line %d: %s '%s' does not parse", path, lineno, line, tab); return 0; }
    }
    if (!have_shard) { s->shard = 0; s->nshards = 1; }
    if (have_list != 3) { snprintf(err, errlen, "%s: no images and images_hash lines (made by an older aopc: rerun aopc on it to record its list)", path); return 0; }
    return 1;
}
#endif

static int find_run(const settings *s, const char *method, const char *order)
{
    int i;
    for (i = 0; i < s->nrun; i++)
        if (!strcmp(s->runs[i].method, method) && !strcmp(order_name(s->runs[i].order), order)) return i;
    return -1;
}

static int cmp_image(const void *a, const void *b) { return strcmp(((const tsv_image *)a)->name, ((const tsv_image *)b)->name); }

/* An image of an array sorted by name (read_curves' result), or -1: O(log n). */
static int find_image(const tsv_image *im, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(im[mid].name, name);
        if (!c) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

static void free_images(tsv_image *im, int n)
{
    int i;
    for (i = 0; i < n; i++) { free(im[i].name); free(im[i].val); free(im[i].have); }
    free(im);
}

/* One row of a results file: the slot it fills and its numbers from its fields; 0 with err set when
   the row does not fit this configuration. */
typedef int (*tsv_row_fn)(const settings *s, char **field, const char *path, size_t lineno, size_t *slot, double *v, char *err,
                          size_t errlen);

/* A results file (curves.tsv, complexity.tsv): every image with its rows, sorted by name, slots
   slots of width numbers each; *partial says whether some image lacks a slot or the last row was
   cut (a kill).  A row of another field count, one row() refuses and an image whose rows are in
   two places are errors naming the line.  *exists (may be NULL): whether the file is there; NULL
   and no error when it is not; a file with only its header gives an empty, not NULL, result. */
static tsv_image *read_tsv(const char *path, const settings *s, int nfield, const char *fields, size_t slots, int width, tsv_row_fn row,
                           int *nimg, int *partial, int *exists, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char line[LINE_MAX_BYTES];
    tsv_image *im = NULL;
    int n = 0, cap = 0, cur = -1, i;
    size_t lineno = 0;
    *nimg = 0;
    *partial = 0;
    err[0] = 0;
    if (exists) *exists = f != NULL;
    if (!f) return NULL;
    while (fgets(line, sizeof line, f)) {
        char *field[8], *p = line;
        int nf = 0, q;
        double v[3];
        size_t slot;
        lineno++;
        if (!strchr(line, '\n')) {
            int c = getc(f);
            if (c == EOF) { *partial = 1; break; }   /* a row cut by a kill */
            snprintf(err, errlen, "%s: line %zu: longer than %d bytes", path, lineno, LINE_MAX_BYTES - 2);
            break;
        }
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1 && !strncmp(line, "image\t", 6)) continue;
        while (nf < nfield) { field[nf++] = p; p = strchr(p, '\t'); if (!p) break; *p++ = 0; }
        if (nf != nfield || p) {
            if (p) snprintf(err, errlen, "%s: line %zu: more than %d fields, a row has %d (%s)", path, lineno, nfield, nfield, fields);
            else snprintf(err, errlen, "%s: line %zu: %d fields, a row has %d (%s)", path, lineno, nf, nfield, fields);
            break;
        }
        if (!row(s, field, path, lineno, &slot, v, err, errlen)) break;
        /* a new image where the name changes: blocks are contiguous; two blocks of one image are
           found below by sorting */
        if (cur < 0 || strcmp(im[cur].name, field[0])) {
            if (n == cap) {
                tsv_image *ni;
                cap = cap ? 2 * cap : 64;
                if (!(ni = (tsv_image *)realloc(im, (size_t)cap * sizeof *im))) { snprintf(err, errlen, "%s: out of memory", path); break; }
                im = ni;
            }
            im[n].name = copy_string(field[0]);
            im[n].val = (double *)calloc(slots * (size_t)width, sizeof(double));
            im[n].have = (unsigned char *)calloc(slots, 1);
            im[n].count = 0;
            im[n].line = lineno;
            cur = n++;
            if (!im[cur].name || !im[cur].val || !im[cur].have) { snprintf(err, errlen, "%s: out of memory", path); break; }
        }
        if (!im[cur].have[slot]) { im[cur].have[slot] = 1; im[cur].count++; }
        for (q = 0; q < width; q++) im[cur].val[slot * (size_t)width + (size_t)q] = v[q];
    }
    fclose(f);
    if (!err[0]) {
        if (n > 1) qsort(im, (size_t)n, sizeof *im, cmp_image);
        for (i = 1; i < n; i++)
            if (!strcmp(im[i - 1].name, im[i].name)) {
                size_t a = im[i - 1].line < im[i].line ? im[i - 1].line : im[i].line, b = im[i - 1].line ^ im[i].line ^ a;
                snprintf(err, errlen, "%s: lines %zu and %zu: rows of image %s in two places (two runs wrote into this folder?)", path, a, b, im[i].name);
                break;
            }
    }
    if (err[0]) { free_images(im, n); return NULL; }
    for (i = 0; i < n; i++) if (im[i].count != slots) *partial = 1;
    *nimg = n;
    if (!im) im = (tsv_image *)calloc(1, sizeof *im);   /* found but empty: not NULL */
    return im;
}

/* A row of curves.tsv: image, method, order, repeat, k, score. */
static int curves_row(const settings *s, char **field, const char *path, size_t lineno, size_t *slot, double *v, char *err, size_t errlen)
{
    int ri = find_run(s, field[1], field[2]);
    long rep, k;
    double score;
    if (ri < 0 || !parse_long_field(field[3], 0, s->cfg.repeats - 1, &rep) || !parse_long_field(field[4], 0, s->cfg.steps, &k)) {
        snprintf(err, errlen, "%s: line %zu: method %s, order %s, repeat '%s', k '%s' do not match config.tsv", path, lineno, field[1], field[2], field[3], field[4]);
        return 0;
    }
    if (!parse_finite_field(field[5], &score)) {
        snprintf(err, errlen, "%s: line %zu: score '%s' is not a finite number (image %s, %s %s, repeat %ld, step %ld)", path, lineno, field[5], field[0], field[1], field[2], rep, k);
        return 0;
    }
    *slot = ((size_t)ri * s->cfg.repeats + (size_t)rep) * (size_t)(s->cfg.steps + 1) + (size_t)k;
    v[0] = (float)score;   /* the curves are floats */
    return 1;
}

/* Reads curves.tsv (read_tsv). */
static tsv_image *read_curves(const char *path, const settings *s, int *nimg, int *partial, int *exists, char *err, size_t errlen)
{
    return read_tsv(path, s, 6, "image, method, order, repeat, k, score", rows_per_image(s), 1, curves_row, nimg, partial, exists, err,
                    errlen);
}

/* Keeps the images of one shard of the list (index % nshards == shard) and drops the others (rows
   of images no longer listed): the summary counts only the current list.  Returns the new count. */
static int keep_listed(tsv_image *im, int n, const list_entry *sorted, int nlist, int shard, int nshards)
{
    int i, m = 0;
    for (i = 0; i < n; i++) {
        int at = list_index(sorted, nlist, im[i].name);
        if (at >= 0 && at % nshards == shard) im[m++] = im[i];
        else { free(im[i].name); free(im[i].val); free(im[i].have); }
    }
    return m;
}

/* Appends one image's rows: one block, flushed, so a kill cuts at most this image. */
static int write_block(FILE *f, const settings *s, const char *name, const double *score)
{
    int ri, rep, k;
    for (ri = 0; ri < s->nrun; ri++)
        for (rep = 0; rep < s->cfg.repeats; rep++)
            for (k = 0; k <= s->cfg.steps; k++)
                fprintf(f, "%s\t%s\t%s\t%d\t%d\t%.9g\n", name, s->runs[ri].method, order_name(s->runs[ri].order), rep, k,
                        score[((size_t)ri * s->cfg.repeats + rep) * (s->cfg.steps + 1) + k]);
    return fflush(f) == 0 && !ferror(f);
}

/* summary.tsv, aopc_curves.tsv, abpc.tsv, aopc.svg and the table on stdout, from the complete
   images only, in the order of their names: the same bits for one run or merged shards. */
static int summarize(const char *dir, const settings *s, tsv_image *im, int n, const char *note)
{
    int L = s->cfg.steps, ri, i, k, nimg = 0, random_run = -1, rc = 0;
    size_t per = rows_per_image(s), stride = (size_t)s->cfg.repeats * (L + 1);
    xai_aopc_stat *st = (xai_aopc_stat *)calloc((size_t)s->nrun, sizeof *st);
    plot_text sum = {NULL, 0, 0}, curves = {NULL, 0, 0}, abpc = {NULL, 0, 0};
    plot_series series[MAX_RUNS];
    double *xs = (double *)malloc((size_t)(L + 1) * sizeof(double)), *ys = (double *)malloc((size_t)s->nrun * (L + 1) * sizeof(double));
    float *curve = (float *)malloc(per * sizeof(float));   /* an image's scores, as the floats they were */
    char path[4400], *svg;
    if (n > 1) qsort(im, (size_t)n, sizeof *im, cmp_image);
    for (ri = 0; ri < s->nrun; ri++) {
        xai_aopc_stat_init(&st[ri], L);
        if (s->runs[ri].is_random) random_run = ri;
    }
    for (i = 0; i < n; i++) {
        size_t q;
        if (im[i].count != per) continue;
        nimg++;
        for (q = 0; q < per; q++) curve[q] = (float)im[i].val[q];
        for (ri = 0; ri < s->nrun; ri++) xai_aopc_stat_add(&st[ri], curve + ri * stride, s->cfg.repeats);
    }
    if (note) { plot_printf(&sum, "# %s\n", note); printf("\n%s\n", note); }
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
            for (q = 0; q < stride; q++) diff[q] = (float)im[i].val[ri * stride + q] - (float)im[i].val[lr * stride + q];
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
        CHECKPOINT();
    }
    path_join(path, sizeof path, dir, "summary.tsv");
    if (!rc && xai_file_write(path, sum.p, sum.len) != XAI_OK) rc = 1;
    CHECKPOINT();
    path_join(path, sizeof path, dir, "aopc_curves.tsv");
    if (!rc && xai_file_write(path, curves.p, curves.len) != XAI_OK) rc = 1;
    CHECKPOINT();
    if (abpc.len) {
        path_join(path, sizeof path, dir, "abpc.tsv");
        if (!rc && xai_file_write(path, abpc.p, abpc.len) != XAI_OK) rc = 1;
        CHECKPOINT();
    }
    if (rc) fprintf(stderr, "%s: %s\n", cli_tool, xai_failure_reason());
    else printf("\nwrote %s/summary.tsv, aopc_curves.tsv, %saopc.svg\n", shown_dir ? shown_dir : dir, abpc.len ? "abpc.tsv, " : "");
    for (ri = 0; ri < s->nrun; ri++) xai_aopc_stat_free(&st[ri]);
    free(st); free(sum.p); free(curves.p); free(abpc.p); free(xs); free(ys); free(curve);
    return rc;
}

/* ---- heatmap complexity (--complexity) ---- */

static int cx_method(const settings *s, const char *method)
{
    int c;
    for (c = 0; c < s->ncx; c++)
        if (!strcmp(s->runs[s->cx_run[c]].method, method)) return c;
    return -1;
}



/* A row of complexity.tsv: image, method, png_bytes, jpeg_bytes, entropy_bits. */
static int complexity_row(const settings *s, char **field, const char *path, size_t lineno, size_t *slot, double *v, char *err,
                          size_t errlen)
{
    int c = cx_method(s, field[1]), q;
    if (c < 0) {
        snprintf(err, errlen, "%s: line %zu: method %s is not a heatmap method of config.tsv", path, lineno, field[1]);
        return 0;
    }
    for (q = 0; q < 3; q++)
        if (!parse_finite_field(field[2 + q], &v[q])) {
            snprintf(err, errlen, "%s: line %zu: '%s' is not a finite number", path, lineno, field[2 + q]);
            return 0;
        }
    *slot = (size_t)c;
    return 1;
}

/* Reads complexity.tsv (read_tsv). */
static tsv_image *read_complexity(const char *path, const settings *s, int *nimg, int *partial, char *err, size_t errlen)
{
    return read_tsv(path, s, 5, "image, method, png_bytes, jpeg_bytes, entropy_bits", (size_t)s->ncx, 3, complexity_row, nimg, partial,
                    NULL, err, errlen);
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
static int write_cx_file(const char *path, const settings *s, tsv_image *cx, int n)
{
    char tmp[4600];
    FILE *f;
    int i, ok;
    snprintf(tmp, sizeof tmp, "%s.rewrite.tmp", path);
    if (!(f = fopen(tmp, "wb"))) return 0;
    ok = fprintf(f, "image\tmethod\tpng_bytes\tjpeg_bytes\tentropy_bits\n") > 0;
    for (i = 0; i < n && ok; i++)
        if (cx[i].count == (size_t)s->ncx) ok = write_cx_block(f, s, cx[i].name, cx[i].val);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) { remove(tmp); return 0; }
    return 1;
}

/* complexity_summary.tsv and the paper's Table I on stdout: per method the mean and standard error
   over the complete images, in the order of their names, two passes in double: the same bits for
   one run or merged shards. */
static int summarize_complexity(const char *dir, const settings *s, tsv_image *cx, int n)
{
    static const char *col[3] = {"png_bytes", "jpeg_bytes", "entropy_bits"};
    plot_text sum = {NULL, 0, 0};
    char path[4400];
    int c, q, i, nimg = 0, rc = 0;
    if (n > 1) qsort(cx, (size_t)n, sizeof *cx, cmp_image);
    for (i = 0; i < n; i++) nimg += cx[i].count == (size_t)s->ncx;
    plot_printf(&sum, "method\timages");
    for (q = 0; q < 3; q++) plot_printf(&sum, "\t%s\t%s_sem", col[q], col[q]);
    plot_printf(&sum, "\n");
    printf("\nHeatmap complexity (the paper's Table I): %d images; each heatmap as explain --heatmap-png writes it (8-bit RGB),\n"
           "its PNG and its JPEG at quality 90 in KB (1024 bytes), the entropy of its colours in bits; mean %s standard error\n",
           nimg, "\xc2\xb1");
    printf("%-24s %-20s %-20s %s\n", "method", "PNG KB", "JPEG KB", "entropy");
    for (c = 0; c < s->ncx; c++) {
        double mean[3], sem[3];
        char cell[3][64];
        for (q = 0; q < 3; q++) {
            double acc = 0, ss = 0;
            for (i = 0; i < n; i++) if (cx[i].count == (size_t)s->ncx) acc += cx[i].val[3 * c + q];
            mean[q] = nimg ? acc / nimg : NAN;
            for (i = 0; i < n; i++) if (cx[i].count == (size_t)s->ncx) ss += (cx[i].val[3 * c + q] - mean[q]) * (cx[i].val[3 * c + q] - mean[q]);
            sem[q] = nimg > 1 ? sqrt(ss / (nimg - 1) / nimg) : 0.0;
            snprintf(cell[q], sizeof cell[q], "%.3f %s %.3f", q < 2 ? mean[q] / 1024 : mean[q], "\xc2\xb1", q < 2 ? sem[q] / 1024 : sem[q]);
        }
        plot_printf(&sum, "%s\t%d\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n", s->runs[s->cx_run[c]].method, nimg, mean[0], sem[0], mean[1], sem[1], mean[2], sem[2]);
        /* each cell holds one two-byte sign: pad to 21 bytes to align 20 columns */
        printf("%-24s %-21s %-21s %s\n", s->runs[s->cx_run[c]].method, cell[0], cell[1], cell[2]);
    }
    path_join(path, sizeof path, dir, "complexity_summary.tsv");
    if (xai_file_write(path, sum.p, sum.len) != XAI_OK) { fprintf(stderr, "aopc: %s\n", xai_failure_reason()); rc = 1; }
    else printf("\nwrote %s/complexity_summary.tsv\n", shown_dir ? shown_dir : dir);
    CHECKPOINT();
    free(sum.p);
    return rc;
}

#ifdef AOPC_MERGE
/* aopc-merge: the complexity rows of the shards that have complexity.tsv, the complete rows of
   each shard's own listed images, into out/complexity.tsv (in the order of the names) and its
   summary.  0 if no shard has any. */
static int merge_complexity(const char *const *dirs, const int *shard_of, int ndir, int nshards, const settings *s, const list_entry *sorted,
                            int nlist, const char *out)
{
    tsv_image *all = NULL;
    int n = 0, cap = 0, i, j, with = 0, rc;
    char path[4400], err[8192];
    for (i = 0; i < ndir; i++) {
        tsv_image *cx;
        int ncx, partial;
        FILE *f;
        path_join(path, sizeof path, dirs[i], "complexity.tsv");
        if (!(f = fopen(path, "rb"))) continue;
        fclose(f);
        with++;
        cx = read_complexity(path, s, &ncx, &partial, err, sizeof err);
        if (err[0]) { free_images(all, n); return die(err); }
        ncx = keep_listed(cx, ncx, sorted, nlist, shard_of[i], nshards);
        for (j = 0; j < ncx; j++) {
            if (cx[j].count != (size_t)s->ncx) { free(cx[j].name); free(cx[j].val); free(cx[j].have); continue; }
            if (n == cap) { cap = cap ? 2 * cap : 256; all = (tsv_image *)realloc(all, (size_t)cap * sizeof *all); }
            all[n++] = cx[j];
        }
        free(cx);
    }
    if (!with) return 0;
    if (with < ndir) fprintf(stderr, "aopc-merge: only %d of %d folders have complexity.tsv: the complexity summary covers their images\n", with, ndir);
    if (n > 1) qsort(all, (size_t)n, sizeof *all, cmp_image);
    path_join(path, sizeof path, out, "complexity.tsv");
    if (!write_cx_file(path, s, all, n)) { free_images(all, n); snprintf(err, sizeof err, "%s: write error", path); return die(err); }
    rc = summarize_complexity(out, s, all, n);
    free_images(all, n);
    return rc;
}
#endif

/* ---- the output folder: one writer at a time, no stale temporaries ---- */

/* Takes the exclusive advisory lock (fcntl, so NFS with lockd too) on lockpath for the rest of the
   process, and writes "pid PID on HOST" into it.  A second writer is refused at once, naming the
   holder from the file.  A filesystem without locks (ENOLCK, EOPNOTSUPP) is refused too unless
   no_lock: then a note, and on.  Returns 1 if held or allowed without, 0 with err.
   XAI_TEST_NO_LOCKS=1 (tests only) acts as a filesystem without locks. */
static int lock_folder(const char *tool, const char *lockpath, const char *folder, int no_lock, char *err, size_t errlen)
{
#ifndef _WIN32
    int fd = open(lockpath, O_RDWR | O_CREAT, 0666), e = 0;
    struct flock fl;
    char me[400], host[256];
    if (fd < 0) { snprintf(err, errlen, "%s: cannot create the lock file: %s", lockpath, strerror(errno)); return 0; }
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (getenv("XAI_TEST_NO_LOCKS") && atoi(getenv("XAI_TEST_NO_LOCKS"))) e = ENOLCK;
    else if (fcntl(fd, F_SETLK, &fl) != 0) e = errno;
    if (e == EACCES || e == EAGAIN) {
        char holder[300];
        ssize_t got = 0;
        int tries;
        /* the holder writes its name right after taking the lock: wait a moment for it */
        for (tries = 0; tries < 50; tries++) {
            got = pread(fd, holder, sizeof holder - 1, 0);
            if (got > 0) break;
            struct timespec ms = {0, 2000000L};
            nanosleep(&ms, NULL);
        }
        holder[got > 0 ? got : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        if (!holder[0]) {
            memset(&fl, 0, sizeof fl);
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) snprintf(holder, sizeof holder, "pid %ld", (long)fl.l_pid);
            else snprintf(holder, sizeof holder, "a process that did not say who it is");
        }
        close(fd);
        snprintf(err, errlen, "%s is being written by another run (%s; lock %s): two writers would mix their rows; wait for it to finish or use another --out",
                 folder, holder, lockpath);
        return 0;
    }
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) {
        close(fd);
        if (!no_lock) {
            snprintf(err, errlen, "%s: this filesystem has no locks (%s), so a second run into %s could not be refused; "
                     "rerun with --no-lock if you are sure no other run writes there", lockpath, strerror(e), folder);
            return 0;
        }
        fprintf(stderr, "%s: %s: no locks on this filesystem (%s); going on without one (--no-lock): no other run may write into %s\n", tool, lockpath, strerror(e), folder);
        return 1;
    }
    if (e) { close(fd); snprintf(err, errlen, "%s: cannot lock: %s", lockpath, strerror(e)); return 0; }
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    snprintf(me, sizeof me, "pid %ld on %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, strlen(me), 0) != (ssize_t)strlen(me)) { /* the lock holds without the name */ }
    /* fd stays open: the lock lasts until the process ends, however it ends */
    return 1;
#else
    (void)tool; (void)lockpath; (void)folder; (void)no_lock; (void)err; (void)errlen;
    return 1;
#endif
}

/* Removes the files *.tmp in dir: under the lock they can only be a killed run's. */
CLI_FN void remove_stale_tmp(const char *tool, const char *dir)
{
#ifndef _WIN32
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct stat st;
        if (n < 5 || strcmp(e->d_name + n - 4, ".tmp")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (remove(path) == 0) fprintf(stderr, "%s: removed %s, left by a killed run\n", tool, path);
    }
    closedir(d);
#else
    (void)tool; (void)dir;
#endif
}

#ifndef AOPC_MERGE
/* Keeps only complete images: written to a temporary file and renamed over curves.tsv. */
static int rewrite_complete(const char *path, const settings *s, tsv_image *im, int n)
{
    char tmp[4600];
    FILE *f;
    int i, ok;
    snprintf(tmp, sizeof tmp, "%s.rewrite.tmp", path);
    if (!(f = fopen(tmp, "wb"))) return 0;
    ok = fprintf(f, "image\tmethod\torder\trepeat\tk\tscore\n") > 0;
    for (i = 0; i < n && ok; i++)
        if (im[i].count == rows_per_image(s)) ok = write_block(f, s, im[i].name, im[i].val);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) { remove(tmp); return 0; }
    return 1;
}

/* --shard I/N: two whole numbers, 0 <= I < N <= 1000000. */
static int parse_shard(const char *arg, int *i, int *n)
{
    char buf[64], *slash;
    long a, b;
    if (strlen(arg) >= sizeof buf) return 0;
    memcpy(buf, arg, strlen(arg) + 1);
    if (!(slash = strchr(buf, '/')) || strchr(buf, '-') || strchr(buf, '+')) return 0;
    *slash = 0;
    if (!parse_long_field(buf, 0, 999999, &a) || !parse_long_field(slash + 1, 1, 1000000, &b) || a >= b) return 0;
    *i = (int)a;
    *n = (int)b;
    return 1;
}

/* The heatmap of one run for one image (network input size), or 0 with a message. */
static int heatmap_for(const xai_net *net, xai_tape *t1, const run *r, const char *image_path, const float *x, int cls, float *heat, char *err, size_t errlen)
{
    if (r->is_file) {
        char path[4400], name[1024];
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

static const char aopc_usage[] =
    "usage: aopc MODEL.xai --list IMAGES.txt --methods M1,M2,... --out DIR [options]\n"
    "\n"
    "Region perturbation and AOPC (Samek et al. 2017, Sec. III) of heatmap methods over a list of images.\n"
    "\n"
    "  MODEL.xai            the network (caffe2xai converts Caffe models)\n"
    "  --list FILE          the images, one path a line ('#' comments); required\n"
    "  --methods M1,M2,...  explain methods (lrp-eps:100, lrp-ab:2, sensitivity-l2, deconv-linf, ...),\n"
    "                       random (the baseline order) or file:HEATDIR (HEATDIR/NAME.pfm); required\n"
    "  --out DIR            the results (created; resumable; locked while a run writes); required\n"
    "  --steps L            regions perturbed, one a step (default 100)\n"
    "  --region R           R x R pixel regions (default 9)\n"
    "  --repeats N          runs with fresh noise per curve (default 10)\n"
    "  --perturb P          uniform (the paper), constant (the mean) or blur (default uniform)\n"
    "  --seed S             noise and random orders, 0 to 2^64-1 (default 1)\n"
    "  --batch B            perturbed images per forward pass, never changes a number; above\n"
    "                       steps + 1 it is lowered to that (default 16)\n"
    "  --shard I/N          images I, I+N, I+2N, ... of the list, 0 <= I < N (default 0/1);\n"
    "                       each shard into its own DIR, then aopc-merge\n"
    "  --orders O           morf, lerf or morf,lerf (ABPC) (default morf)\n"
    "  --softmax            score the softmax probability instead of f_c (default off)\n"
    "  --complexity         also PNG/JPEG bytes and colour entropy of each heatmap (default off)\n"
    "  --list-changed       go on in a DIR started with another list: rows of images no longer\n"
    "                       listed count nowhere (default: a changed list is refused)\n"
    "  --no-lock            go on where the filesystem has no locks (default: refused)\n"
    "  --no-incremental     every step a full forward pass (default: only what the step\n"
    "                       changed is recomputed; the same numbers, bit for bit)\n"
    "  --help, --version\n"
    "\n"
    "Writes DIR/config.tsv, images.tsv, curves.tsv, summary.tsv, aopc_curves.tsv, aopc.svg (and abpc.tsv,\n"
    "complexity.tsv, complexity_summary.tsv).  Every number is the same for any --batch, thread count\n"
    "or shard split; a killed run resumes when rerun with the same command.\n"
    "\n"
    "example:\n"
    "  ls examples/images/fashion_*.pgm > list.txt\n"
    "  bin/aopc models/fashion.xai --list list.txt --methods lrp-eps:0.01,sensitivity-l2,random \\\n"
    "      --steps 20 --region 3 --repeats 3 --out results\n";

/* How the list differs from the one DIR was started with (DIR/images.tsv), for the refusal. */
static void describe_list_change(const char *dir, char *const *names, int n, char *out, size_t len)
{
    char path[4400], tmp[64], *text, **old = NULL;
    int nold, i = 0, j = 0, removed = 0, added = 0, at = 0;
    char removed_names[600] = "", added_names[600] = "";
    list_entry *a, *b;
    path_join(path, sizeof path, dir, "images.tsv");
    if (!(text = read_text(path)) || (nold = split_list(text, path, &old, NULL, tmp, sizeof tmp)) < 0) {
        snprintf(out, len, "the list is not the one this folder was started with (%s is missing or unreadable)", path);
        free(text);
        return;
    }
    a = sorted_list(old, nold);
    b = sorted_list(names, n);
    while (a && b && (i < nold || j < n)) {
        int c = i == nold ? 1 : j == n ? -1 : strcmp(a[i].name, b[j].name);
        if (c < 0) { if (removed++ < 3) snprintf(removed_names + strlen(removed_names), sizeof removed_names - strlen(removed_names), "%s%s", removed > 1 ? ", " : "", a[i].name); i++; }
        else if (c > 0) { if (added++ < 3) snprintf(added_names + strlen(added_names), sizeof added_names - strlen(added_names), "%s%s", added > 1 ? ", " : "", b[j].name); j++; }
        else { i++; j++; }
    }
    if (removed || added)
        snprintf(out, len, "the list differs from the one this folder was started with (%s): %d no longer listed%s%s%s%s, %d new%s%s%s%s",
                 path, removed, removed ? " (" : "", removed_names, removed > 3 ? ", ..." : "", removed ? ")" : "",
                 added, added ? " (" : "", added_names, added > 3 ? ", ..." : "", added ? ")" : "");
    else {
        while (at < n && at < nold && !strcmp(old[at], names[at])) at++;
        snprintf(out, len, "the list holds the images of %s in another order (entry %d is %s, was %s): an image's noise and shard follow its place",
                 path, at + 1, at < n ? names[at] : "-", at < nold ? old[at] : "-");
    }
    free(a); free(b); free(old); free(text);
}

/* Bytes a run's buffers take: per thread a tape of batch images for the curves (every blob, plus
   the pooling switches: about twice), one tape of one image for the heatmaps (forward and
   backward, about three times) and the weights. */
static double memory_estimate(const xai_net *net, int batch, int threads)
{
    double blob = 0;
    int i;
    for (i = 0; i < net->nblob; i++) blob += (double)net->blob[i].c * net->blob[i].h * net->blob[i].w;
    return 4.0 * (2.0 * blob * batch * threads + 3.0 * blob + (double)net->nparams);
}

/* The machine's physical memory in bytes, 0 if unknown.  AOPC_TEST_PHYS_MEMORY (tests only)
   stands in for it. */
static double physical_memory(void)
{
    const char *fake = getenv("AOPC_TEST_PHYS_MEMORY");
    if (fake && *fake) return atof(fake);
#if !defined(_WIN32) && defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        if (pages > 0 && size > 0) return (double)pages * (double)size;
    }
#endif
    return 0;
}

int main(int argc, char **argv)
{
    settings s;
    const char *dir = NULL;
    char err[40000], path[4400], cxpath[4400], cfgtext[16384], *old, *listtext, **names = NULL;
    int i, nnames = 0, nimg = 0, ncxi = 0, partial = 0, done = 0, todo = 0, rc = 0, list_changed = 0, no_lock = 0, threads = 1;
    tsv_image *im;
    tsv_image *cx = NULL;
    list_entry *sorted;
    xai_net *net;
    xai_tape *t1;
    FILE *out, *cxout = NULL;
    float *x, *heats, *block, *curves;
    double *block_out;   /* block as written: read_tsv's numbers */
    const float **task_heat;
    int *same_as = NULL;
    int *task_order, *task_repeat, *task_slot;
    double t0, *cxv, need, phys;
    cli_tool = "aopc";
    cli_standard_options(argc, argv, aopc_usage);
    memset(&s, 0, sizeof s);
    xai_aopc_defaults(&s.cfg);
    snprintf(s.orders, sizeof s.orders, "morf");
    s.nshards = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--softmax")) { s.cfg.softmax = 1; continue; }
        if (!strcmp(a, "--complexity")) { s.complexity = 1; continue; }
        if (!strcmp(a, "--list-changed")) { list_changed = 1; continue; }
        if (!strcmp(a, "--no-lock")) { no_lock = 1; continue; }
        if (!strcmp(a, "--no-incremental")) { s.cfg.no_incremental = 1; continue; }
        if (a[0] != '-') {
            if (s.model[0]) { fprintf(stderr, "aopc: '%s': one model only (%s is the model; see aopc --help)\n", a, s.model); return 2; }
            if (strlen(a) >= sizeof s.model) cli_fail("MODEL", a, "is too long a path");
            snprintf(s.model, sizeof s.model, "%s", a);
            continue;
        }
        if (strcmp(a, "--list") && strcmp(a, "--methods") && strcmp(a, "--out") && strcmp(a, "--steps") && strcmp(a, "--region") &&
            strcmp(a, "--repeats") && strcmp(a, "--seed") && strcmp(a, "--batch") && strcmp(a, "--orders") && strcmp(a, "--shard") && strcmp(a, "--perturb")) {
            fprintf(stderr, "aopc: unknown option %s (see aopc --help)\n", a);
            return 2;
        }
        v = cli_value(argc, argv, &i);
        if (!strcmp(a, "--list")) { if (strlen(v) >= sizeof s.list) cli_fail(a, v, "is too long a path"); snprintf(s.list, sizeof s.list, "%s", v); }
        else if (!strcmp(a, "--methods")) { if (strlen(v) >= sizeof s.methods) cli_fail(a, v, "is too long"); snprintf(s.methods, sizeof s.methods, "%s", v); }
        else if (!strcmp(a, "--out")) { if (strlen(v) >= 4000) cli_fail(a, v, "is too long a path"); dir = v; }
        else if (!strcmp(a, "--steps")) s.cfg.steps = cli_int(a, v, 0, 1000000);
        else if (!strcmp(a, "--region")) s.cfg.region = cli_int(a, v, 1, 100000);
        else if (!strcmp(a, "--repeats")) s.cfg.repeats = cli_int(a, v, 1, 100000);
        else if (!strcmp(a, "--seed")) s.cfg.seed = cli_u64(a, v);
        else if (!strcmp(a, "--batch")) s.cfg.batch = cli_int(a, v, 1, 1 << 20);
        else if (!strcmp(a, "--orders")) { if (strlen(v) >= sizeof s.orders) cli_fail(a, v, "is not morf, lerf or morf,lerf"); snprintf(s.orders, sizeof s.orders, "%s", v); }
        else if (!strcmp(a, "--shard")) { if (!parse_shard(v, &s.shard, &s.nshards)) cli_fail(a, v, "is not I/N with 0 <= I < N <= 1000000"); }
        else {
            if (!strcmp(v, "uniform")) s.cfg.perturb = XAI_PERTURB_UNIFORM;
            else if (!strcmp(v, "constant")) s.cfg.perturb = XAI_PERTURB_CONSTANT;
            else if (!strcmp(v, "blur")) s.cfg.perturb = XAI_PERTURB_BLUR;
            else cli_fail(a, v, "is not uniform, constant or blur");
        }
    }
    if (!s.model[0] || !s.list[0] || !s.methods[0] || !dir) {
        fprintf(stderr, "aopc: MODEL.xai, --list, --methods and --out are required (see aopc --help)\n");
        return 2;
    }
    if (!make_runs(&s, err, sizeof err)) return die(err);
    if (s.complexity && !s.ncx) { fprintf(stderr, "aopc: --complexity: no method has a heatmap (random has none); ignored\n"); s.complexity = 0; }
    if (!(net = xai_net_load(s.model))) return die(xai_failure_reason());
    if (xai_net_load_note(net)) fprintf(stderr, "aopc: note: %s: %s\n", s.model, xai_net_load_note(net));
    if (s.cfg.steps > xai_region_count(net->input_h, net->input_w, s.cfg.region)) {
        snprintf(err, sizeof err, "--steps %d: the %dx%d input has only %d regions of %dx%d", s.cfg.steps, net->input_w, net->input_h,
                 xai_region_count(net->input_h, net->input_w, s.cfg.region), s.cfg.region, s.cfg.region);
        return die(err);
    }
    /* a curve has steps + 1 points: a bigger batch only takes memory */
    if (s.cfg.batch > s.cfg.steps + 1) {
        fprintf(stderr, "aopc: --batch %d lowered to %d (steps + 1: a curve has no more points)\n", s.cfg.batch, s.cfg.steps + 1);
        s.cfg.batch = s.cfg.steps + 1;
    }
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (threads > s.nrun * s.cfg.repeats) threads = s.nrun * s.cfg.repeats;
    need = memory_estimate(net, s.cfg.batch, threads);
    phys = physical_memory();
    if (phys > 0 && need > phys) {
        snprintf(err, sizeof err, "--batch %d with %d threads needs about %.0f MB, more than this machine's %.0f MB of memory: lower --batch or OMP_NUM_THREADS",
                 s.cfg.batch, threads, need / 1048576, phys / 1048576);
        xai_net_free(net);
        return die(err);
    }
    if (!(listtext = read_text(s.list))) { snprintf(err, sizeof err, "%s: cannot read the image list", s.list); return die(err); }
    if ((nnames = split_list(listtext, s.list, &names, NULL, err, sizeof err)) < 0) return die(err);
    if (!nnames) { snprintf(err, sizeof err, "%s: no images", s.list); return die(err); }
    s.list_count = nnames;
    s.list_hash = list_hash(names, nnames);
    if (!(sorted = sorted_list(names, nnames))) return die("out of memory");
    /* the output folder: ours alone for the run */
    {
        struct stat st;
        if (cli_make_parents(dir) != 0 || (make_dir(dir) != 0 && errno != EEXIST) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, sizeof err, "--out %s: cannot create the folder", dir);
            return die(err);
        }
    }
    path_join(path, sizeof path, dir, "lock");
    if (!lock_folder("aopc", path, dir, no_lock, err, sizeof err)) return die(err);
    remove_stale_tmp("aopc", dir);
    /* its settings and list */
    config_text(&s, cfgtext, sizeof cfgtext, 1, 1);
    path_join(path, sizeof path, dir, "config.tsv");
    if ((old = read_text(path)) != NULL && strcmp(old, cfgtext) != 0) {
        char bare[16384];
        int had_list = strstr(old, "\nimages_hash\t") != NULL;
        config_text(&s, bare, sizeof bare, 1, 0);
        strip_list_lines(old);
        if (strcmp(old, bare) != 0) {
            config_text(&s, bare, sizeof bare, 1, 0);
            snprintf(err, sizeof err, "%s holds results made with other settings:\n%s\nthis run asks for:\n%s(use another --out)", path, old, bare);
            return die(err);
        }
        if (!had_list) fprintf(stderr, "aopc: %s has no record of its list (an older aopc): recording this one\n", path);
        else if (!list_changed) {
            char why[9000];
            describe_list_change(dir, names, nnames, why, sizeof why);
            snprintf(err, sizeof err, "%s: %s.\n(rerun with --list-changed to keep the rows of the images still listed and count only the listed ones, or use another --out)", dir, why);
            return die(err);
        } else fprintf(stderr, "aopc: --list-changed: the list differs from the one %s was started with; rows of images no longer listed are kept but count nowhere\n", dir);
        free(old);
        old = NULL;
    }
    if (!old) {
        /* the entries first, config.tsv last: a config.tsv always has its list beside it */
        plot_text entries = {NULL, 0, 0};
        char lpath[4400];
        for (i = 0; i < nnames; i++) plot_printf(&entries, "%s\n", names[i]);
        path_join(lpath, sizeof lpath, dir, "images.tsv");
        if (!entries.p || xai_file_write(lpath, entries.p, entries.len) != XAI_OK || xai_file_write(path, cfgtext, strlen(cfgtext)) != XAI_OK) return die(xai_failure_reason());
        free(entries.p);
    }
    free(old);
    /* resume: what is complete stays; a cut block is dropped */
    path_join(path, sizeof path, dir, "curves.tsv");
    im = read_curves(path, &s, &nimg, &partial, NULL, err, sizeof err);
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
        int j = find_image(im, nimg, names[i]), k = s.complexity ? find_image(cx, ncxi, names[i]) : -1;
        if (j >= 0 && im[j].count == rows_per_image(&s) && (!s.complexity || (k >= 0 && cx[k].count == (size_t)s.ncx))) done++;
        else todo++;
    }
    fprintf(stderr, "aopc: %d images in this shard, %d already done, %d to do\n", done + todo, done, todo);
    t1 = xai_tape_new(net, 1);
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    heats = (float *)malloc((size_t)s.nrun * net->input_h * net->input_w * sizeof(float));
    block = (float *)malloc(rows_per_image(&s) * sizeof(float));
    block_out = (double *)malloc(rows_per_image(&s) * sizeof(double));
    curves = (float *)malloc(rows_per_image(&s) * sizeof(float));
    task_heat = (const float **)malloc((size_t)s.nrun * s.cfg.repeats * sizeof *task_heat);
    same_as = (int *)malloc((size_t)s.nrun * sizeof *same_as);
    task_order = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    task_repeat = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    task_slot = (int *)malloc((size_t)s.nrun * s.cfg.repeats * sizeof(int));
    cxv = (double *)calloc((size_t)s.ncx * 3 + 1, sizeof(double));
    if (!t1 || !x || !heats || !block || !block_out || !curves || !task_heat || !same_as || !task_order || !task_repeat || !task_slot || !cxv) return die(xai_failure_reason());
    t0 = now_seconds();
    {
        int finished = 0;
        for (i = s.shard; i < nnames && !rc; i += s.nshards) {
            int j = find_image(im, nimg, names[i]), k = s.complexity ? find_image(cx, ncxi, names[i]) : -1, cls, ri, rep;
            int need_curves = !(j >= 0 && im[j].count == rows_per_image(&s)), need_cx = s.complexity && !(k >= 0 && cx[k].count == (size_t)s.ncx);
            xai_image img;
            size_t L1 = (size_t)s.cfg.steps + 1, plane = (size_t)net->input_h * net->input_w, q;
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
                /* a NaN would sort anywhere: an order from it means nothing */
                for (q = 0; q < plane && isfinite(heat[q]); q++) {}
                if (q < plane) {
                    snprintf(err, sizeof err, "%s: %s: the heatmap has a non-finite value (%g at pixel %zu, %zu)", names[i], r->method, heat[q], q % (size_t)net->input_w, q / (size_t)net->input_w);
                    rc = die(err);
                    break;
                }
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
                /* a non-finite score would poison every mean it enters: stop, naming it */
                for (q = 0; q < rows_per_image(&s) && isfinite(block[q]); q++) {}
                if (q < rows_per_image(&s)) {
                    size_t step = q % L1, rr = q / L1 % (size_t)s.cfg.repeats, run_at = q / L1 / (size_t)s.cfg.repeats;
                    snprintf(err, sizeof err, "%s (image %d of the list): %s, order %s, repeat %zu, step %zu: the score is %g, not a finite number; "
                             "nothing of this image is written (a model whose scores overflow?)", names[i], i + 1, s.runs[run_at].method,
                             order_name(s.runs[run_at].order), rr, step, block[q]);
                    rc = die(err);
                    break;
                }
            }
            if (rc) break;
            /* complexity first: a kill between the blocks leaves an image whose curves are redone
               and whose complexity rows are kept, never written twice */
            if (need_cx && !write_cx_block(cxout, &s, names[i], cxv)) { snprintf(err, sizeof err, "%s: write error (disk full?); the complete images stay", cxpath); rc = die(err); break; }
            for (q = 0; q < rows_per_image(&s); q++) block_out[q] = block[q];
            if (need_curves && !write_block(out, &s, names[i], block_out)) { snprintf(err, sizeof err, "%s: write error (disk full?); the complete images stay", path); rc = die(err); break; }
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
    free_images(cx, ncxi);
    /* the summary: the complete images of this shard of the current list only */
    if (!rc) {
        im = read_curves(path, &s, &nimg, &partial, NULL, err, sizeof err);
        if (err[0]) rc = die(err);
        else {
            nimg = keep_listed(im, nimg, sorted, nnames, s.shard, s.nshards);
            rc = summarize(dir, &s, im, nimg, NULL);
        }
        free_images(im, nimg);
    }
    if (!rc && s.complexity) {
        cx = read_complexity(cxpath, &s, &ncxi, &partial, err, sizeof err);
        if (err[0]) rc = die(err);
        else {
            ncxi = keep_listed(cx, ncxi, sorted, nnames, s.shard, s.nshards);
            rc = summarize_complexity(dir, &s, cx, ncxi);
        }
        free_images(cx, ncxi);
    }
    free(x); free(heats); free(block); free(block_out); free(curves); free(cxv); free(names); free(listtext); free(sorted);
    free(task_heat); free(same_as); free(task_order); free(task_repeat); free(task_slot);
    xai_tape_free(t1);
    xai_net_free(net);
    return rc;
}
#endif
