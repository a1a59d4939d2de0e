/* aopc-merge: combines the output folders of aopc shards into exactly the numbers of one run.
   Build: cc -O2 examples/aopc-merge.c -o aopc-merge -lm
   Usage: aopc-merge DIR1 DIR2 ... --out DIR [--partial] [--no-lock]   (aopc-merge --help)
   The shards must be 0..N-1 of one N, made with one list and one configuration (config.tsv but
   for the shard line), each finished; otherwise the merge is refused naming what is missing, or,
   with --partial, done anyway with what is absent in the first line of summary.tsv.  A shard
   with no images (more shards than images) is fine.  The summary is computed from the union of
   the shards' complete images, each shard counting only its own images of the list, in the order
   of their names, with sums in double: the same bits as a single run over all images.  The
   complexity rows of shards run with --complexity are combined the same way.
   --out may not be an input nor hold one.  The outputs are written into a new folder beside it
   (OUT.merge-tmp.PID) and renamed into place only when complete, the previous OUT moved away
   first: a kill leaves the old complete OUT, no OUT, or the new complete OUT, never a mix (the
   next merge removes the leftovers).  OUT.lock is held while merging: one merge at a time.
   OUT/merge.tsv, written last, names the folders merged. */
#define AOPC_MERGE
#include "aopc.c"

static const char merge_usage[] =
    "usage: aopc-merge DIR1 DIR2 ... --out DIR [--partial] [--no-lock]\n"
    "\n"
    "Combines the folders of aopc --shard I/N runs into exactly the numbers of one run.\n"
    "\n"
    "  DIR1 DIR2 ...   the shard folders: 0..N-1 of one N, one list, one configuration, each finished\n"
    "  --out DIR       the merged results (not an input; replaced as a whole when complete); required\n"
    "  --partial       merge missing or unfinished shards anyway; summary.tsv's first line says what\n"
    "                  is absent (default: refused, naming what is missing)\n"
    "  --no-lock       go on where the filesystem has no locks (default: refused)\n"
    "  --help, --version\n"
    "\n"
    "Writes DIR/config.tsv, images.tsv, curves.tsv, summary.tsv, aopc_curves.tsv, aopc.svg (abpc.tsv,\n"
    "complexity.tsv, complexity_summary.tsv when the shards have them) and merge.tsv.\n"
    "\n"
    "example:\n"
    "  for i in 0 1 2 3; do bin/aopc models/fashion.xai --list list.txt --methods lrp-eps:0.01,random \\\n"
    "      --steps 20 --region 3 --shard $i/4 --out results/shard$i & done; wait\n"
    "  bin/aopc-merge results/shard0 results/shard1 results/shard2 results/shard3 --out results/all\n";

/* AOPC_MERGE_STOP_AFTER=k (tests only): the merge stops dead at its k-th step (a file written, a
   folder renamed), as a kill would stop it. */
static void merge_checkpoint(void)
{
    static int steps;
    const char *k = getenv("AOPC_MERGE_STOP_AFTER");
    if (k && ++steps == atoi(k)) {
        fflush(stdout);
        _exit(137);
    }
}

/* Removes a folder of files (the merge's own temporary and old folders). */
static void remove_folder(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Removes OUT.merge-tmp.* and OUT.merge-old.* beside out: a killed merge's (under OUT.lock). */
static void remove_stale_merges(const char *out)
{
    char parent[4200], base[4200], path[8400];
    const char *slash = strrchr(out, '/');
    DIR *d;
    struct dirent *e;
    size_t nb;
    if (slash) { snprintf(parent, sizeof parent, "%.*s", (int)(slash - out) ? (int)(slash - out) : 1, out); snprintf(base, sizeof base, "%s", slash + 1); }
    else { snprintf(parent, sizeof parent, "."); snprintf(base, sizeof base, "%s", out); }
    nb = strlen(base);
    if (!(d = opendir(parent))) return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, nb) || (strncmp(e->d_name + nb, ".merge-tmp.", 11) && strncmp(e->d_name + nb, ".merge-old.", 11))) continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        remove_folder(path);
        fprintf(stderr, "aopc-merge: removed %s, left by a killed merge\n", path);
    }
    closedir(d);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends to a message buffer. */
static void note_add(char *buf, size_t len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (n + 1 < len) vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
}

int main(int argc, char **argv)
{
    static const char *dirs[4096];
    static int shard_of[4096];
    const char *out = NULL;
    int ndir = 0, i, j, n = 0, cap = 0, rc, partial = 0, no_lock = 0, nshards = 0, nlist, *owner, unfinished = 0;
    settings s, t;
    char outdir[4096], path[4400], tmpdir[4300], olddir[4300], err[40000], first_cfg[16384], cfg[16384], absent[8192] = "", *text, *listtext, **names;
    char outreal[4200] = "";
    tsv_image *all = NULL;
    list_entry *sorted;
    FILE *f;
    size_t len;
    cli_tool = "aopc-merge";
    cli_standard_options(argc, argv, merge_usage);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) out = cli_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--partial")) partial = 1;
        else if (!strcmp(argv[i], "--no-lock")) no_lock = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "aopc-merge: unknown option %s (see aopc-merge --help)\n", argv[i]); return 2; }
        else if (ndir == 4096) { fprintf(stderr, "aopc-merge: more than 4096 folders\n"); return 2; }
        else dirs[ndir++] = argv[i];
    }
    if (!out || !ndir) { fprintf(stderr, "aopc-merge: the shard folders and --out DIR are required (see aopc-merge --help)\n"); return 2; }
    if ((len = strlen(out)) >= sizeof outdir - 64) cli_fail("--out", out, "is too long a path");
    memcpy(outdir, out, len + 1);
    while (len > 1 && outdir[len - 1] == '/') outdir[--len] = 0;
    /* --out may be no input and hold none: replacing it would destroy a shard */
    if (is_dir(outdir) && !realpath(outdir, outreal)) outreal[0] = 0;
    for (i = 0; i < ndir; i++) {
        char real[4200];
        struct stat a, b;
        if (!is_dir(dirs[i]) || !realpath(dirs[i], real)) { snprintf(err, sizeof err, "%s: no such folder", dirs[i]); return die(err); }
        if ((stat(outdir, &a) == 0 && stat(dirs[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) ||
            (outreal[0] && !strcmp(real, outreal))) {
            snprintf(err, sizeof err, "--out %s is the input %s: the merge would overwrite a shard; choose another --out", out, dirs[i]);
            return die(err);
        }
        if (outreal[0] && !strncmp(real, outreal, strlen(outreal)) && real[strlen(outreal)] == '/') {
            snprintf(err, sizeof err, "--out %s holds the input %s: replacing it would delete that shard; choose another --out", out, dirs[i]);
            return die(err);
        }
    }
    /* the shards: one configuration and list, shards 0..N-1 of one N */
    for (i = 0; i < ndir; i++) {
        settings *c = i ? &t : &s;
        path_join(path, sizeof path, dirs[i], "config.tsv");
        if (!(text = read_text(path))) { snprintf(err, sizeof err, "%s: missing or unreadable (not an aopc folder?)", path); return die(err); }
        if (!parse_config(path, text, c, err, sizeof err)) return die(err);
        free(text);
        if (!make_runs(c, err, sizeof err)) return die(err);
        config_text(c, i ? cfg : first_cfg, sizeof cfg, 0, 1);
        if (i && strcmp(cfg, first_cfg)) {
            snprintf(err, sizeof err, "%s was made with other settings or another list than %s:\n%s\nversus\n%s", dirs[i], dirs[0], cfg, first_cfg);
            return die(err);
        }
        if (i && c->nshards != nshards) {
            snprintf(err, sizeof err, "%s is shard %d/%d, %s is shard %d/%d: not one split", dirs[i], c->shard, c->nshards, dirs[0], s.shard, nshards);
            return die(err);
        }
        nshards = c->nshards;
        shard_of[i] = c->shard;
    }
    path_join(path, sizeof path, dirs[0], "images.tsv");
    if (!(listtext = read_text(path))) { snprintf(err, sizeof err, "%s: missing or unreadable", path); return die(err); }
    if ((nlist = split_list(listtext, path, &names, NULL, err, sizeof err)) < 0) return die(err);
    if (nlist != s.list_count || list_hash(names, nlist) != s.list_hash) {
        snprintf(err, sizeof err, "%s does not hold the list its config.tsv names (%d images, hash %016llx)", path, s.list_count, (unsigned long long)s.list_hash);
        return die(err);
    }
    if (!(sorted = sorted_list(names, nlist))) return die("out of memory");
    if (!(owner = (int *)malloc((size_t)nshards * sizeof *owner))) return die("out of memory");
    for (i = 0; i < nshards; i++) owner[i] = -1;
    for (i = 0; i < ndir; i++) {
        if (owner[shard_of[i]] >= 0) {
            snprintf(err, sizeof err, "shard %d/%d is given twice: %s and %s", shard_of[i], nshards, dirs[owner[shard_of[i]]], dirs[i]);
            return die(err);
        }
        owner[shard_of[i]] = i;
    }
    for (i = 0, j = 0; i < nshards; i++)
        if (owner[i] < 0 && j++ < 8) note_add(absent, sizeof absent, "%sshard %d/%d missing", absent[0] ? "; " : "", i, nshards);
    if (j > 8) note_add(absent, sizeof absent, "; ... %d shards missing in all", j);
    /* each shard's complete rows of its own images; what it lacks */
    for (i = 0; i < ndir; i++) {
        tsv_image *im;
        int nimg, cut, exists, expected = shard_of[i] < nlist ? (nlist - shard_of[i] + nshards - 1) / nshards : 0, complete = 0, k;
        path_join(path, sizeof path, dirs[i], "curves.tsv");
        im = read_curves(path, &s, &nimg, &cut, &exists, err, sizeof err);
        if (err[0]) return die(err);
        nimg = im ? keep_listed(im, nimg, sorted, nlist, shard_of[i], nshards) : 0;
        for (j = 0; j < nimg; j++) {
            if (im[j].count != rows_per_image(&s)) { free(im[j].name); free(im[j].val); free(im[j].have); continue; }
            if (n == cap) {
                tsv_image *na;
                cap = cap ? 2 * cap : 256;
                if (!(na = (tsv_image *)realloc(all, (size_t)cap * sizeof *all))) return die("out of memory");
                all = na;
            }
            all[n++] = im[j];
            complete++;
        }
        free(im);
        if (complete < expected) {
            const char *example = "";
            /* the first listed image of the shard without its rows */
            for (k = shard_of[i]; k < nlist; k += nshards)
                if (find_image(all, n, names[k]) < 0) {
                    int m, found = 0;
                    for (m = n - complete; m < n && !found; m++) found = !strcmp(all[m].name, names[k]);
                    if (!found) { example = names[k]; break; }
                }
            unfinished++;
            note_add(absent, sizeof absent, "%s%s (shard %d/%d) unfinished: %d of %d images missing", absent[0] ? "; " : "", dirs[i], shard_of[i], nshards,
                     expected - complete, expected);
            if (example[0]) note_add(absent, sizeof absent, ", e.g. %s", example);
            if (!exists) note_add(absent, sizeof absent, " (no curves.tsv)");
        }
    }
    if (absent[0] && !partial) {
        snprintf(err, sizeof err, "not merging: %s.\n(rerun the missing or unfinished shards: the same command resumes them; or --partial merges what is there and says so in summary.tsv)", absent);
        return die(err);
    }
    if (absent[0]) fprintf(stderr, "aopc-merge: --partial: %s\n", absent);
    /* one merge into OUT at a time; a killed one's leftovers go */
    if (cli_make_parents(outdir) != 0) { snprintf(err, sizeof err, "--out %s: cannot create its parent folders", out); return die(err); }
    snprintf(path, sizeof path, "%s.lock", outdir);
    if (!lock_folder("aopc-merge", path, outdir, no_lock, err, sizeof err)) return die(err);
    remove_stale_merges(outdir);
    if (is_dir(outdir)) {
        DIR *d = opendir(outdir);
        struct dirent *e;
        int files = 0;
        path_join(path, sizeof path, outdir, "merge.tsv");
        while (d && (e = readdir(d)) != NULL) files += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        if (d) closedir(d);
        if (files && !(f = fopen(path, "rb"))) {
            snprintf(err, sizeof err, "--out %s exists and is not an aopc-merge output (no merge.tsv): it would be replaced; choose another --out", out);
            return die(err);
        }
        if (files) fclose(f);
    } else if (access(outdir, F_OK) == 0) {
        snprintf(err, sizeof err, "--out %s exists and is not a folder", out);
        return die(err);
    }
    /* everything into a new folder, renamed into place when complete */
    snprintf(tmpdir, sizeof tmpdir, "%s.merge-tmp.%ld", outdir, (long)getpid());
    snprintf(olddir, sizeof olddir, "%s.merge-old.%ld", outdir, (long)getpid());
    if (make_dir(tmpdir) != 0) { snprintf(err, sizeof err, "%s: cannot create", tmpdir); return die(err); }
    shown_dir = outdir;
    rc = 0;
    path_join(path, sizeof path, tmpdir, "config.tsv");
    if (xai_file_write(path, first_cfg, strlen(first_cfg)) != XAI_OK) rc = 1;
    CHECKPOINT();
    if (!rc) {
        plot_text entries = {NULL, 0, 0};
        for (i = 0; i < nlist; i++) plot_printf(&entries, "%s\n", names[i]);
        path_join(path, sizeof path, tmpdir, "images.tsv");
        if (!entries.p || xai_file_write(path, entries.p, entries.len) != XAI_OK) rc = 1;
        free(entries.p);
        CHECKPOINT();
    }
    if (n > 1) qsort(all, (size_t)n, sizeof *all, cmp_image);
    if (!rc) {
        char tmp[4500];
        int ok;
        path_join(path, sizeof path, tmpdir, "curves.tsv");
        snprintf(tmp, sizeof tmp, "%s.merge.tmp", path);
        ok = (f = fopen(tmp, "wb")) != NULL;
        if (ok) {
            ok = fprintf(f, "image\tmethod\torder\trepeat\tk\tscore\n") > 0;
            for (j = 0; j < n && ok; j++) ok = write_block(f, &s, all[j].name, all[j].val);
            if (fclose(f) != 0) ok = 0;
        }
        if (!ok || rename(tmp, path) != 0) { remove(tmp); xai__fail(XAI_ERR_IO, "%s/curves.tsv: write error (disk full?)", outdir); rc = 1; }
        CHECKPOINT();
    }
    if (rc) { remove_folder(tmpdir); return die(xai_failure_reason()); }
    printf("aopc-merge: %d images from %d folders into %s\n", n, ndir, outdir);
    if (absent[0]) snprintf(err, sizeof err, "partial merge: %s", absent);
    rc = summarize(tmpdir, &s, all, n, absent[0] ? err : NULL);
    free_images(all, n);
    /* complexity.tsv of the shards run with --complexity */
    if (!rc) rc = merge_complexity(dirs, shard_of, ndir, nshards, &s, sorted, nlist, tmpdir);
    if (!rc) {
        plot_text m = {NULL, 0, 0};
        plot_printf(&m, "shards\t%d\nimages\t%d\npartial\t%s\n", nshards, n, absent[0] ? absent : "no");
        for (i = 0; i < ndir; i++) plot_printf(&m, "folder\t%s\n", dirs[i]);
        path_join(path, sizeof path, tmpdir, "merge.tsv");
        if (!m.p || xai_file_write(path, m.p, m.len) != XAI_OK) rc = die(xai_failure_reason());
        free(m.p);
        CHECKPOINT();
    }
    if (rc) { remove_folder(tmpdir); return rc; }
    /* the swap: old OUT away, the new one in, the old one removed */
    if (is_dir(outdir)) {
        if (rename(outdir, olddir) != 0) { snprintf(err, sizeof err, "%s: cannot move the previous merge away: %s", outdir, strerror(errno)); remove_folder(tmpdir); return die(err); }
        CHECKPOINT();
    }
    if (rename(tmpdir, outdir) != 0) {
        /* the previous merge back in place; the new one goes */
        snprintf(err, sizeof err, "%s: cannot rename the new merge into place: %s; the previous one is kept", outdir, strerror(errno));
        if (is_dir(olddir)) rename(olddir, outdir);
        remove_folder(tmpdir);
        return die(err);
    }
    CHECKPOINT();
    if (is_dir(olddir)) remove_folder(olddir);
    free(names); free(listtext); free(sorted); free(owner);
    (void)unfinished;
    return 0;
}
