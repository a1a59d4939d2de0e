/* Heatmap complexity (the paper's Table I): rendered heatmaps whose colour entropy is known, the
   sizes and entropy ranking a noisy map above a smooth one, and aopc --complexity: its rows equal
   the PNG and JPEG sizes and the entropy of the heatmap picture computed here independently (and
   the size of the PNG `explain --heatmap-png` writes), it changes no AOPC number, shards merged equal one
   run, it can be added to a finished run, and kills and resumes leave every image's rows exactly
   once; xai_heatmap_complexity equals its parts.  (The encoders themselves are checked against
   decoders in test_codec.c, and the entropy of raw pixel arrays there too.) */
#include "../xai.h"
#include "tools.h"
#include <sys/stat.h>

static const char *methods[3] = {"sensitivity-l2", "deconv-l2", "lrp-eps:0.01"};
#define NMETH 3
#define NIMG 9

/* The picture the tool measures: render, round to 8 bits. */
static unsigned char *picture(const float *heat, int w, int h, int cmap)
{
    xai_image img;
    unsigned char *px;
    if (xai_heatmap_render(heat, w, h, cmap, 0, &img) != XAI_OK) return NULL;
    px = xai_image_to_u8(&img);
    xai_image_free(&img);
    return px;
}

static double picture_entropy(const float *heat, int w, int h, int cmap)
{
    unsigned char *px = picture(heat, w, h, cmap);
    double e = px ? xai_image_entropy(px, w, h, 3) : -1;
    free(px);
    return e;
}

/* Heatmaps whose rendered colours have a known distribution. */
static void test_rendered_entropy(void)
{
    float heat[256];
    int i;
    /* blue-white-red: +2, -2, 0, +1 on a quarter each -> red, blue, white, pink: 2 bits */
    for (i = 0; i < 64; i++) heat[i] = i < 16 ? 2.0f : i < 32 ? -2.0f : i < 48 ? 0.0f : 1.0f;
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_BWR), 2.0, 1e-12, "BWR, four values on a quarter each: 2 bits");
    /* scaled by max |h|: +1 and -1 are the two ends whatever the scale; 3/4 and 1/4 */
    for (i = 0; i < 64; i++) heat[i] = i < 48 ? 1e-3f : -1e-3f;
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_BWR), -(0.75 * log2(0.75) + 0.25 * log2(0.25)), 1e-12, "BWR, 3/4 red and 1/4 blue");
    /* a constant map is one colour: 0 bits, signed or not */
    for (i = 0; i < 64; i++) heat[i] = 0.7f;
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_BWR), 0.0, 0, "BWR, constant: 0 bits");
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_HOT), 0.0, 0, "HOT, constant: 0 bits");
    /* hot: negative values show as 0; half black, half white */
    for (i = 0; i < 64; i++) heat[i] = i % 2 ? 3.0f : -5.0f;
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_HOT), 1.0, 1e-12, "HOT, negative and maximum: black and white, 1 bit");
    for (i = 0; i < 64; i++) heat[i] = -1.0f - (float)i;
    CHECK_CLOSE(picture_entropy(heat, 8, 8, XAI_CMAP_HOT), 0.0, 0, "HOT, all negative: all black, 0 bits");
    /* the hot ramp 0..255 once each: 256 different colours (red, then green, then blue rising in
       steps of 3), 8 bits */
    for (i = 0; i < 256; i++) heat[i] = (float)i;
    CHECK_CLOSE(picture_entropy(heat, 16, 16, XAI_CMAP_HOT), 8.0, 1e-12, "HOT ramp: 256 colours, 8 bits");
    {
        unsigned char *px = picture(heat, 16, 16, XAI_CMAP_HOT);
        CHECK(px && px[3 * 85] == 255 && px[3 * 85 + 1] == 0 && px[3 * 86 + 1] == 3 && px[3 * 170 + 1] == 255 && px[3 * 171 + 2] == 3 &&
                  px[3 * 255 + 2] == 255, "HOT ramp: the colour map's knees where expected");
        free(px);
    }
}

/* A noisy map is more complex than a smooth blob by all three measures (signed noise for the
   signed colour map, positive noise for hot, whose negative values are all black).  The entropy
   counts colours, not their arrangement: the blob, which spans the whole colour map, has about as
   much of it as noise that is black on 40% of the pixels. */
static void test_noisy_vs_smooth(void)
{
    enum { W = 64, H = 64 };
    static float noisy[2][W * H], smooth[W * H];
    uint64_t s = 7;
    int i, c;
    for (i = 0; i < W * H; i++) {
        double dx = i % W - 40.0, dy = i / W - 24.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        noisy[XAI_CMAP_HOT][i] = (float)((s >> 40) & 0xffff) / 65536.0f;
        noisy[XAI_CMAP_BWR][i] = noisy[XAI_CMAP_HOT][i] - 0.4f;
        smooth[i] = (float)exp(-(dx * dx + dy * dy) / 200.0);
    }
    for (c = XAI_CMAP_BWR; c <= XAI_CMAP_HOT; c++) {
        unsigned char *a = picture(noisy[c], W, H, c), *b = picture(smooth, W, H, c), *pa, *pb, *ja, *jb;
        size_t la = 0, lb = 0, ka = 0, kb = 0;
        pa = xai_png_encode(a, W, H, 3, &la);
        pb = xai_png_encode(b, W, H, 3, &lb);
        ja = xai_jpeg_encode(a, W, H, 3, 90, &ka);
        jb = xai_jpeg_encode(b, W, H, 3, 90, &kb);
        CHECK(pa && pb && la > 2 * lb, "%s: noisy PNG %zu bytes > 2 x smooth %zu", c ? "hot" : "bwr", la, lb);
        CHECK(ja && jb && ka > 2 * kb, "%s: noisy JPEG %zu bytes > 2 x smooth %zu", c ? "hot" : "bwr", ka, kb);
        CHECK(xai_image_entropy(a, W, H, 3) > xai_image_entropy(b, W, H, 3) + 1, "%s: noisy entropy > smooth entropy + 1", c ? "hot" : "bwr");
        free(a); free(b); free(pa); free(pb); free(ja); free(jb);
    }
}

/* xai_heatmap_complexity is the sum of its parts; any output may be NULL; a bad map is refused */
static void test_helper(void)
{
    float heat[40 * 30];
    int i, c;
    for (i = 0; i < 40 * 30; i++) heat[i] = (float)sin(i * 0.37) * (float)(i % 40) - 3;
    for (c = XAI_CMAP_BWR; c <= XAI_CMAP_GRAY; c++) {
        unsigned char *px = picture(heat, 40, 30, c), *f;
        size_t png = 0, jpg = 0, len = 0, png2 = 0;
        double ent = -1;
        CHECK(xai_heatmap_complexity(heat, 40, 30, c, &png, &jpg, &ent) == XAI_OK, "xai_heatmap_complexity: %s", xai_failure_reason());
        f = xai_png_encode(px, 40, 30, 3, &len);
        CHECK(png == len, "cmap %d: PNG bytes %zu, the parts %zu", c, png, len);
        free(f);
        f = xai_jpeg_encode(px, 40, 30, 3, 90, &len);
        CHECK(jpg == len, "cmap %d: JPEG bytes %zu, the parts %zu", c, jpg, len);
        free(f);
        CHECK(ent == xai_image_entropy(px, 40, 30, 3), "cmap %d: entropy", c);
        CHECK(xai_heatmap_complexity(heat, 40, 30, c, &png2, NULL, NULL) == XAI_OK && png2 == png, "cmap %d: NULL outputs", c);
        free(px);
    }
    CHECK(xai_heatmap_complexity(heat, 40, 30, 7, NULL, NULL, NULL) != XAI_OK, "xai_heatmap_complexity refuses colour map 7");
}

/* --- the aopc tool --- */

static char D[256];   /* this test's folder, by process id: test runs may overlap */

/* complexity.tsv parsed: [image][method] png, jpeg, entropy and how often each row occurs. */
typedef struct table {
    double v[NIMG][NMETH][3];
    int seen[NIMG][NMETH];
    int header, rows, bad, cut;
} table;

static int read_table(const char *path, table *t)
{
    char *txt = slurp(path), *line, *next;
    memset(t, 0, sizeof *t);
    if (!txt) return 0;
    t->cut = txt[0] && txt[strlen(txt) - 1] != '\n';
    for (line = txt; line && *line; line = next) {
        char name[64], meth[64];
        double png, jpg, ent;
        int im, m;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!strcmp(line, "image\tmethod\tpng_bytes\tjpeg_bytes\tentropy_bits")) { t->header++; continue; }
        if (sscanf(line, "%63[^\t]\t%63[^\t]\t%lf\t%lf\t%lf", name, meth, &png, &jpg, &ent) != 5 || !strstr(name, "/img")) { t->bad++; continue; }
        im = atoi(strstr(name, "/img") + 4);
        for (m = 0; m < NMETH && strcmp(meth, methods[m]); m++) {}
        if (m == NMETH || im < 0 || im >= NIMG) { t->bad++; continue; }
        t->v[im][m][0] = png; t->v[im][m][1] = jpg; t->v[im][m][2] = ent;
        t->seen[im][m]++;
        t->rows++;
    }
    free(txt);
    return 1;
}

/* every image and heatmap method exactly once, nothing else, no cut row */
static int table_exact(const table *t)
{
    int i, m;
    if (t->header != 1 || t->bad || t->cut || t->rows != NIMG * NMETH) return 0;
    for (i = 0; i < NIMG; i++)
        for (m = 0; m < NMETH; m++)
            if (t->seen[i][m] != 1) return 0;
    return 1;
}

/* The expected rows, computed here from the library's parts: explain the predicted class, draw the
   heatmap as explain --heatmap-png does, encode it, count its colours. */
static void expected_table(table *t)
{
    char path[512];
    xai_net *net;
    float *x, *heat;
    int i, m;
    memset(t, 0, sizeof *t);
    snprintf(path, sizeof path, "%s/cnn.xai", D);
    net = xai_net_load(path);
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    heat = (float *)malloc(24 * 24 * sizeof(float));
    for (i = 0; i < NIMG; i++) {
        xai_image img;
        snprintf(path, sizeof path, "%s/img%02d.ppm", D, i);
        xai_image_load(path, &img);
        xai_net_preprocess(net, &img, x, NULL);
        xai_image_free(&img);
        for (m = 0; m < NMETH; m++) {
            xai_method me;
            unsigned char *px, *f;
            size_t len = 0;
            int cmap;
            xai_method_parse(methods[m], &me);
            xai_explain(net, NULL, x, 1, &me, NULL, NULL, heat, NULL);
            cmap = me.heatmap == XAI_HEAT_SUM ? XAI_CMAP_BWR : XAI_CMAP_HOT;
            px = picture(heat, 24, 24, cmap);
            f = xai_png_encode(px, 24, 24, 3, &len);
            t->v[i][m][0] = (double)len;
            free(f);
            f = xai_jpeg_encode(px, 24, 24, 3, 90, &len);
            t->v[i][m][1] = (double)len;
            free(f);
            t->v[i][m][2] = xai_image_entropy(px, 24, 24, 3);
            t->seen[i][m] = 1;
            free(px);
        }
    }
    free(x); free(heat);
    xai_net_free(net);
}

/* the complexity_summary.tsv row of a method: 6 numbers after method and images */
static int summary_row(const char *path, const char *method, int *images, double v[6])
{
    char *txt = slurp(path), key[128], *p;
    int ok;
    snprintf(key, sizeof key, "\n%s\t", method);
    p = txt ? strstr(txt, key) : NULL;
    ok = p && sscanf(p + strlen(key), "%d\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf", images, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 7;
    free(txt);
    return ok;
}

#define STEPS 12
#define REPEATS 2
#define CURVE_ROWS (4 * REPEATS * (STEPS + 1))   /* curves.tsv rows an image: 4 runs (3 methods and random, MoRF) */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char *COMMON = "--methods sensitivity-l2,deconv-l2,lrp-eps:0.01,random --steps " STR(STEPS) " --region 3 --repeats " STR(REPEATS);

static void aopc_cmd(char *cmd, size_t len, const char *extra, const char *out)
{
    snprintf(cmd, len, "bin/aopc %s/cnn.xai --list %s/list.txt %s %s --out %s/%s >%s/%s.log 2>&1", D, D, COMMON, extra, D, out, D, out);
}

static void in_dir(char *buf, size_t len, const char *sub, const char *file) { snprintf(buf, len, "%s/%s/%s", D, sub, file); }

static void test_tool(void)
{
    char cmd[4096], a[512], b[512];
    table want, got;
    int i, m, q;
    snprintf(D, sizeof D, "/tmp/xai_test_complexity.%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s", D);
    run(cmd);
    test_cnn_fixture(D, NIMG, 5, 1);
    expected_table(&want);

    /* one run with --complexity */
    aopc_cmd(cmd, sizeof cmd, "--complexity --batch 7", "single");
    CHECK(run(cmd) == 0, "aopc --complexity runs (see %s/single.log)", D);
    in_dir(a, sizeof a, "single", "complexity.tsv");
    CHECK(read_table(a, &got) && table_exact(&got), "complexity.tsv: a header and one row per image and heatmap method, random none");
    {
        int same = 1;
        for (i = 0; i < NIMG; i++)
            for (m = 0; m < NMETH; m++) {
                if (got.v[i][m][0] != want.v[i][m][0] || got.v[i][m][1] != want.v[i][m][1]) same = 0;
                if (fabs(got.v[i][m][2] - want.v[i][m][2]) > 1e-12) same = 0;
                if (!same) { printf("image %d %s: tool %g %g %.17g, here %g %g %.17g\n", i, methods[m], got.v[i][m][0], got.v[i][m][1], got.v[i][m][2], want.v[i][m][0], want.v[i][m][1], want.v[i][m][2]); break; }
            }
        CHECK(same, "complexity.tsv: PNG and JPEG bytes and entropy equal those of the heatmap picture computed here");
    }
    /* different methods give different pictures, and the numbers are plausible */
    CHECK(want.v[0][0][0] != want.v[0][2][0] && want.v[0][0][2] > 0 && want.v[0][0][1] > 100, "the methods' pictures differ; sizes and entropy plausible");
    /* the image the user sees: explain --heatmap-png writes a file of exactly png_bytes */
    for (m = 0; m < NMETH; m++) {
        size_t len = 0;
        unsigned char *png;
        snprintf(cmd, sizeof cmd, "bin/explain %s/cnn.xai %s/img04.ppm --method %s --heatmap-png %s/explain%d.png >/dev/null 2>&1", D, D, methods[m], D, m);
        snprintf(a, sizeof a, "%s/explain%d.png", D, m);
        png = run(cmd) == 0 ? test_read(a, &len) : NULL;
        CHECK(png && (double)len == got.v[4][m][0], "%s: explain --heatmap-png writes %zu bytes, complexity.tsv says %g", methods[m], len, got.v[4][m][0]);
        free(png);
    }
    /* the summary: mean and standard error over images of each column */
    in_dir(a, sizeof a, "single", "complexity_summary.tsv");
    {
        char *txt = slurp(a);
        const char *head = "method\timages\tpng_bytes\tpng_bytes_sem\tjpeg_bytes\tjpeg_bytes_sem\tentropy_bits\tentropy_bits_sem\n";
        CHECK(txt && !strncmp(txt, head, strlen(head)) && !strstr(txt, "random"),
              "complexity_summary.tsv: columns, no random");
        free(txt);
    }
    for (m = 0; m < NMETH; m++) {
        double v[6];
        int images = 0, ok;
        ok = summary_row(a, methods[m], &images, v);
        CHECK(ok && images == NIMG, "complexity_summary.tsv: row of %s over %d images", methods[m], NIMG);
        for (q = 0; ok && q < 3; q++) {
            double mean = 0, ss = 0;
            for (i = 0; i < NIMG; i++) mean += want.v[i][m][q] / NIMG;
            for (i = 0; i < NIMG; i++) ss += (want.v[i][m][q] - mean) * (want.v[i][m][q] - mean);
            CHECK_CLOSE(v[2 * q], mean, 1e-8, "mean");
            CHECK_CLOSE(v[2 * q + 1], sqrt(ss / (NIMG - 1) / NIMG), 1e-8, "standard error");
        }
    }
    in_dir(a, sizeof a, "", "single.log");
    {
        char *log = slurp(a);
        CHECK(log && strstr(log, "Heatmap complexity") && strstr(log, "PNG KB") && strstr(log, "JPEG KB") && strstr(log, "entropy") && strstr(log, "lrp-eps:0.01 ") &&
                  strstr(log, "\xc2\xb1") && strstr(log, "AOPC at L = " STR(STEPS)),
              "stdout: the AOPC table and the complexity table (method, PNG KB, JPEG KB, entropy, mean +- sem)");
        free(log);
    }

    /* --complexity changes no AOPC number */
    aopc_cmd(cmd, sizeof cmd, "--batch 7", "plain");
    CHECK(run(cmd) == 0, "aopc without --complexity runs");
    in_dir(a, sizeof a, "single", "curves.tsv");
    in_dir(b, sizeof b, "plain", "curves.tsv");
    CHECK(same_file(a, b), "--complexity: the same curves.tsv");
    in_dir(a, sizeof a, "single", "summary.tsv");
    in_dir(b, sizeof b, "plain", "summary.tsv");
    CHECK(same_file(a, b), "--complexity: the same summary.tsv");
    in_dir(b, sizeof b, "plain", "complexity.tsv");
    CHECK(!slurp(b), "without --complexity: no complexity.tsv");
    /* ... and may be added to a finished run: the curves stay, the rows come */
    snprintf(cmd, sizeof cmd, "cp %s/plain/curves.tsv %s/plain_curves.tsv", D, D);
    run(cmd);
    aopc_cmd(cmd, sizeof cmd, "--complexity", "plain");
    CHECK(run(cmd) == 0, "--complexity added to a finished run");
    snprintf(a, sizeof a, "%s/plain_curves.tsv", D);
    in_dir(b, sizeof b, "plain", "curves.tsv");
    CHECK(same_file(a, b), "added --complexity: curves.tsv untouched");
    in_dir(a, sizeof a, "single", "complexity.tsv");
    in_dir(b, sizeof b, "plain", "complexity.tsv");
    CHECK(same_file(a, b), "added --complexity: the rows of a run that had it from the start");
    in_dir(a, sizeof a, "single", "complexity_summary.tsv");
    in_dir(b, sizeof b, "plain", "complexity_summary.tsv");
    CHECK(same_file(a, b), "added --complexity: the same complexity_summary.tsv");

    /* three shards in parallel, merged: the numbers of the single run, bit for bit */
    snprintf(cmd, sizeof cmd, "for i in 0 1 2; do bin/aopc %s/cnn.xai --list %s/list.txt %s --complexity --batch 4 --shard $i/3 --out %s/shard$i >/dev/null 2>&1 & done; wait", D, D, COMMON, D);
    run(cmd);
    snprintf(cmd, sizeof cmd, "bin/aopc-merge %s/shard0 %s/shard1 %s/shard2 --out %s/merged >%s/merged.log 2>&1", D, D, D, D, D);
    CHECK(run(cmd) == 0, "aopc-merge runs");
    in_dir(a, sizeof a, "single", "complexity_summary.tsv");
    in_dir(b, sizeof b, "merged", "complexity_summary.tsv");
    CHECK(same_file(a, b), "shards merged: complexity_summary.tsv equal to the single run's");
    in_dir(a, sizeof a, "single", "complexity.tsv");
    in_dir(b, sizeof b, "merged", "complexity.tsv");
    CHECK(same_lines(a, b), "shards merged: the same complexity rows");
    CHECK(read_table(b, &got) && table_exact(&got), "shards merged: each image and method once");
    in_dir(a, sizeof a, "single", "summary.tsv");
    in_dir(b, sizeof b, "merged", "summary.tsv");
    CHECK(same_file(a, b), "shards merged: summary.tsv equal");
    in_dir(a, sizeof a, "", "merged.log");
    {
        char *log = slurp(a);
        CHECK(log && strstr(log, "Heatmap complexity") && strstr(log, "deconv-l2 "), "aopc-merge prints the complexity table");
        free(log);
    }

    /* killed with SIGKILL at several moments, keyed to complexity.tsv (after k images' rows: often
       between an image's complexity block and its curves block) or to curves.tsv, then resumed:
       every image's rows exactly once, the single run's summaries */
    for (q = 0; q < 4; q++) {
        char dir[64], watch[512];
        int kills = 0, k;
        snprintf(dir, sizeof dir, "killed%d", q);
        aopc_cmd(cmd, sizeof cmd, "--complexity --batch 3", dir);
        for (k = 1 + q % 2; k < NIMG; k += 2 + q % 2) {
            int delay = (q * 7919 + k * 104729) % (q < 2 ? 400 : 15000);
            if (q % 2 == 0) { in_dir(watch, sizeof watch, dir, "complexity.tsv"); kills += kill_when(cmd, watch, 1 + NMETH * k, delay); }
            else { in_dir(watch, sizeof watch, dir, "curves.tsv"); kills += kill_when(cmd, watch, 1 + CURVE_ROWS * k, delay); }
        }
        CHECK(run(cmd) == 0, "resumed run completes (trial %d)", q);
        CHECK(kills >= 1, "trial %d: killed at least once before it finished", q);
        in_dir(a, sizeof a, dir, "complexity.tsv");
        CHECK(read_table(a, &got) && table_exact(&got), "killed %d times and resumed: every image's complexity rows once (trial %d)", kills, q);
        in_dir(a, sizeof a, "single", "complexity_summary.tsv");
        in_dir(b, sizeof b, dir, "complexity_summary.tsv");
        CHECK(same_file(a, b), "killed and resumed: the complexity summary of an uninterrupted run (trial %d)", q);
        in_dir(a, sizeof a, "single", "summary.tsv");
        in_dir(b, sizeof b, dir, "summary.tsv");
        CHECK(same_file(a, b), "killed and resumed: the AOPC summary of an uninterrupted run (trial %d)", q);
    }

    /* heatmaps read from files (file:HEATDIR): the LRP maps written as PFM have negative values,
       so they are drawn blue-white-red like lrp-eps:0.01 and give its rows */
    {
        xai_net *net;
        float *x, *heat;
        xai_method me;
        int same = 1;
        snprintf(cmd, sizeof cmd, "mkdir -p %s/heat", D);
        run(cmd);
        snprintf(a, sizeof a, "%s/cnn.xai", D);
        net = xai_net_load(a);
        x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
        heat = (float *)malloc(24 * 24 * sizeof(float));
        xai_method_parse("lrp-eps:0.01", &me);
        for (i = 0; i < NIMG; i++) {
            xai_image img, h;
            snprintf(a, sizeof a, "%s/img%02d.ppm", D, i);
            xai_image_load(a, &img);
            xai_net_preprocess(net, &img, x, NULL);
            xai_image_free(&img);
            xai_explain(net, NULL, x, 1, &me, NULL, NULL, heat, NULL);
            h.w = 24; h.h = 24; h.c = 1; h.data = heat;
            snprintf(a, sizeof a, "%s/heat/img%02d.pfm", D, i);
            xai_image_write_pfm(a, &h);
        }
        free(x); free(heat);
        xai_net_free(net);
        snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt --methods file:%s/heat --steps 4 --region 3 --repeats 1 --complexity --out %s/file >%s/file.log 2>&1", D, D, D, D, D);
        CHECK(run(cmd) == 0, "file:HEATDIR with --complexity runs");
        in_dir(a, sizeof a, "file", "complexity.tsv");
        {
            char *txt = slurp(a), *p = txt;
            int rows = 0;
            while (p && (p = strstr(p, "\tfile:")) != NULL) {
                double png, jpg, ent;
                int im = atoi(p - 6);   /* ...imgNN.ppm<TAB>file: */
                p = strchr(p + 1, '\t');
                if (!p || sscanf(p + 1, "%lf\t%lf\t%lf", &png, &jpg, &ent) != 3 || im < 0 || im >= NIMG) { same = 0; break; }
                if (png != want.v[im][2][0] || jpg != want.v[im][2][1] || fabs(ent - want.v[im][2][2]) > 1e-12) same = 0;
                rows++;
            }
            CHECK(same && rows == NIMG, "file:HEATDIR: the complexity of the method whose heatmaps the files hold (%d rows)", rows);
            free(txt);
        }
    }

    /* the states a kill can leave, made by hand: (1) a row cut in the middle; (2) an image with
       only some of its methods; (3) complexity rows for an image whose curves are missing (a kill
       between the two blocks) */
    {
        static const char *setup[3] = {
            "head -c 700 %s/single/complexity.tsv > %s/%s/complexity.tsv",
            "head -n 11 %s/single/complexity.tsv > %s/%s/complexity.tsv",
            "head -n 16 %s/single/complexity.tsv > %s/%s/complexity.tsv"};
        for (q = 0; q < 3; q++) {
            char dir[64], fmt[512], sub[512];
            size_t len = 0;
            char *txt;
            snprintf(dir, sizeof dir, "state%d", q);
            /* curves: the first 4 images complete (header + 4 x runs x repeats x (steps + 1)) */
            snprintf(cmd, sizeof cmd, "mkdir -p %s/%s && cp %s/single/config.tsv %s/%s/ && head -n %d %s/single/curves.tsv > %s/%s/curves.tsv", D, dir, D, D, dir,
                     1 + 4 * CURVE_ROWS, D, D, dir);
            run(cmd);
            snprintf(fmt, sizeof fmt, "%s", setup[q]);
            snprintf(sub, sizeof sub, fmt, D, D, dir);
            run(sub);
            in_dir(a, sizeof a, dir, "complexity.tsv");
            txt = (char *)test_read(a, &len);
            CHECK(txt && (q ? txt[len - 1] == '\n' : txt[len - 1] != '\n'), "state %d made", q);
            free(txt);
            aopc_cmd(cmd, sizeof cmd, "--complexity", dir);
            CHECK(run(cmd) == 0, "state %d: resumes", q);
            CHECK(read_table(a, &got) && table_exact(&got), "state %d: every image's complexity rows once", q);
            in_dir(a, sizeof a, "single", "complexity_summary.tsv");
            in_dir(b, sizeof b, dir, "complexity_summary.tsv");
            CHECK(same_file(a, b), "state %d: the complexity summary of an uninterrupted run", q);
            in_dir(a, sizeof a, "single", "summary.tsv");
            in_dir(b, sizeof b, dir, "summary.tsv");
            CHECK(same_file(a, b), "state %d: the AOPC summary of an uninterrupted run", q);
        }
    }
    if (!test_failed) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", D);
        run(cmd);
    } else {
        printf("kept %s for a look\n", D);
    }
}

int main(void)
{
    test_rendered_entropy();
    test_noisy_vs_smooth();
    test_helper();
    test_tool();
    return test_report();
}
