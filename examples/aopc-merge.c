/* aopc-merge: combines the output folders of aopc shards into exactly the numbers of one run.
   Build: cc -O2 examples/aopc-merge.c -o aopc-merge -lm
   Usage: aopc-merge DIR1 DIR2 ... --out DIR
   The shards must share every setting (config.tsv, but for the shard line) and no image; the
   summary is computed from the union of their complete images, in the order of their names, with
   sums in double: the same bits as a single run over all images.  The complexity rows of shards
   run with --complexity (complexity.tsv) are combined the same way into complexity.tsv and
   complexity_summary.tsv. */
#define AOPC_MERGE
#include "aopc.c"

int main(int argc, char **argv)
{
    const char *out = NULL, *dirs[4096];
    int ndir = 0, i, j, n = 0, cap = 0, rc;
    settings s, t;
    char path[4200], err[40000], first_cfg[16384], cfg[16384], *text;
    image_rec *all = NULL;
    FILE *f;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-' || ndir == 4096) { fprintf(stderr, "usage: aopc-merge DIR1 DIR2 ... --out DIR\n"); return 2; }
        else dirs[ndir++] = argv[i];
    }
    if (!out || !ndir) { fprintf(stderr, "usage: aopc-merge DIR1 DIR2 ... --out DIR\n"); return 2; }
    for (i = 0; i < ndir; i++) {
        image_rec *im;
        int nimg, partial;
        path_join(path, sizeof path, dirs[i], "config.tsv");
        if (!(text = read_text(path)) || !parse_config(text, i ? &t : &s)) { snprintf(err, sizeof err, "%s: missing or unreadable", path); return die(err); }
        free(text);
        if (!make_runs(i ? &t : &s, err, sizeof err)) return die(err);
        config_text(i ? &t : &s, i ? cfg : first_cfg, sizeof cfg, 0);
        if (i && strcmp(cfg, first_cfg)) {
            snprintf(err, sizeof err, "%s was made with other settings than %s:\n%s\nversus\n%s", dirs[i], dirs[0], cfg, first_cfg);
            return die(err);
        }
        path_join(path, sizeof path, dirs[i], "curves.tsv");
        im = read_curves(path, &s, &nimg, &partial, err, sizeof err);
        if (err[0]) return die(err);
        if (!im && nimg == 0) { snprintf(err, sizeof err, "%s: missing", path); return die(err); }
        for (j = 0; j < nimg; j++) {
            if (im[j].count != rows_per_image(&s)) { free(im[j].name); free(im[j].score); free(im[j].have); continue; }
            if (find_image(all, n, im[j].name) >= 0) { snprintf(err, sizeof err, "image %s is in two shards (%s and an earlier one)", im[j].name, dirs[i]); return die(err); }
            if (n == cap) { cap = cap ? 2 * cap : 256; all = (image_rec *)realloc(all, (size_t)cap * sizeof *all); }
            all[n++] = im[j];
        }
        free(im);
    }
    make_dir(out);
    path_join(path, sizeof path, out, "config.tsv");
    if (xai_file_write(path, first_cfg, strlen(first_cfg)) != XAI_OK) return die(xai_failure_reason());
    qsort(all, (size_t)n, sizeof *all, cmp_image);
    path_join(path, sizeof path, out, "curves.tsv");
    {
        char tmp[4300];
        int ok;
        snprintf(tmp, sizeof tmp, "%s.merge.tmp", path);
        if (!(f = fopen(tmp, "wb"))) { snprintf(err, sizeof err, "%s: cannot create", tmp); return die(err); }
        ok = fprintf(f, "image\tmethod\torder\trepeat\tk\tscore\n") > 0;
        for (j = 0; j < n && ok; j++) ok = write_block(f, &s, all[j].name, all[j].score);
        if (fclose(f) != 0) ok = 0;
        if (!ok || rename(tmp, path) != 0) { remove(tmp); snprintf(err, sizeof err, "%s: write error", path); return die(err); }
    }
    printf("aopc-merge: %d images from %d folders into %s\n", n, ndir, out);
    rc = summarize(out, &s, all, n);
    free_images(all, n);
    /* complexity.tsv of the shards run with --complexity */
    if (!rc) rc = merge_complexity(dirs, ndir, &s, out);
    return rc;
}
