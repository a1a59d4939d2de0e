/* The evaluator: region perturbation and AOPC on networks where the answer is known, regions and
   their borders, ties, and the aopc tool: shards merged, threads, batch sizes, kills and resumes. */
#include "../xai.h"
#include "tools.h"
#include <sys/stat.h>
#include <time.h>

/* f_0 = sum_i w_i x_i (class 0), class 1 a constant below it: a linear model whose exact
   decomposition is w * x. */
static xai_net *linear_net(int c, int h, int w, const float *weights)
{
    xai_net *net = xai_net_new("linear");
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    size_t n = (size_t)c * h * w;
    fc.num_output = 2;
    xai_net_input(net, "data", c, h, w);
    xai_net_add(net, "fc", &fc, "data", "fc");
    xai_net_finalize(net);
    memcpy(net->layer[0].weight, weights, n * sizeof(float));
    net->layer[0].bias[1] = -1e6f;
    return net;
}

static void test_regions(void)
{
    int order[9], i, ok = 1;
    float heat[100];
    CHECK(xai_region_count(227, 227, 9) == 26 * 26, "227 with r = 9: 26 x 26 regions");
    CHECK(xai_region_count(10, 10, 4) == 9, "10 with r = 4: 3 x 3 regions");
    for (i = 0; i < 100; i++) heat[i] = 0;
    xai_region_order(heat, 10, 10, 4, XAI_ORDER_MORF, 1, 0, 0, order);
    for (i = 0; i < 9; i++) if (order[i] != i) ok = 0;
    CHECK(ok, "MoRF ties: region index order");
    xai_region_order(heat, 10, 10, 4, XAI_ORDER_LERF, 1, 0, 0, order);
    for (i = 0; i < 9; i++) if (order[i] != i) ok = 0;
    CHECK(ok, "LeRF ties: region index order");
    /* region 8 (bottom-right, 2x2) gets the top score through one pixel; region 4 ties with 2 */
    heat[99] = 5; heat[0] = -1; heat[5] = 1; heat[44] = 1;
    xai_region_order(heat, 10, 10, 4, XAI_ORDER_MORF, 1, 0, 0, order);
    CHECK(order[0] == 8 && order[1] == 1 && order[2] == 4 && order[8] == 0, "MoRF: %d %d %d .. %d", order[0], order[1], order[2], order[8]);
    xai_region_order(heat, 10, 10, 4, XAI_ORDER_LERF, 1, 0, 0, order);
    CHECK(order[0] == 0 && order[1] == 2 && order[8] == 8, "LeRF: %d %d .. %d", order[0], order[1], order[8]);
    {
        int a[9], b[9], c[9], same = 1, perm = 1, seen[9] = {0};
        xai_region_order(NULL, 10, 10, 4, XAI_ORDER_RANDOM, 7, 3, 1, a);
        xai_region_order(NULL, 10, 10, 4, XAI_ORDER_RANDOM, 7, 3, 1, b);
        xai_region_order(NULL, 10, 10, 4, XAI_ORDER_RANDOM, 7, 3, 2, c);
        for (i = 0; i < 9; i++) { if (a[i] != b[i]) same = 0; if (a[i] < 0 || a[i] > 8 || seen[a[i]]++) perm = 0; }
        CHECK(same && perm, "random order: a seeded permutation");
        CHECK(memcmp(a, c, sizeof a) != 0, "random order: another repeat, another permutation");
    }
}

/* f = sum of all inputs, constant perturbation (0): each step drops the score by C x the region's
   area exactly, so every channel of the region is hit and nothing outside it; border regions are
   narrower (10 = 4 + 4 + 2). */
static void test_perturbation_exact(void)
{
    float w[300], x[300], heat[100], curve[10];
    xai_net *net;
    xai_aopc_config cfg;
    int i, order[9], ok = 1;
    for (i = 0; i < 300; i++) { w[i] = 1; x[i] = 1; }
    net = linear_net(3, 10, 10, w);
    for (i = 0; i < 100; i++) heat[i] = (float)(i % 10 + i / 10);   /* grows to the bottom right */
    xai_aopc_defaults(&cfg);
    cfg.region = 4; cfg.steps = 9; cfg.perturb = XAI_PERTURB_CONSTANT; cfg.batch = 4;
    CHECK(xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_MORF, 0, 0, &cfg, curve) == XAI_OK, "curve: %s", xai_failure_reason());
    xai_region_order(heat, 10, 10, 4, XAI_ORDER_MORF, 1, 0, 0, order);
    CHECK(curve[0] == 300, "f(x0) = 300: %g", curve[0]);
    for (i = 1; i <= 9; i++) {
        int rr = order[i - 1] / 3, rc = order[i - 1] % 3, area = (rr == 2 ? 2 : 4) * (rc == 2 ? 2 : 4);
        if (curve[i - 1] - curve[i] != 3 * area) ok = 0;
    }
    CHECK(ok, "each step removes 3 channels x the region's area, border regions 2 wide");
    CHECK(curve[9] == 0, "all regions gone: f = 0 (%g)", curve[9]);
    /* uniform noise: every value in [0, 255) before the mean, so f stays in range; the same key
       gives the same noise */
    {
        float c2[10];
        cfg.perturb = XAI_PERTURB_UNIFORM;
        xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_MORF, 5, 2, &cfg, curve);
        cfg.batch = 1;
        xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_MORF, 5, 2, &cfg, c2);
        CHECK(memcmp(curve, c2, sizeof curve) == 0, "uniform noise: batch 4 and batch 1 give the same curve");
        CHECK(curve[9] > 0.3 * 255 * 300 && curve[9] < 0.7 * 255 * 300, "uniform noise over the whole image: mean near 127.5 (sum %g)", curve[9]);
        xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_MORF, 5, 3, &cfg, c2);
        CHECK(memcmp(curve, c2, sizeof curve) != 0, "another repeat, other noise");
        {   /* many runs at once, over the threads: each curve exactly as computed alone */
            const float *hs[6] = {heat, heat, NULL, heat, NULL, heat};
            int orders[6] = {XAI_ORDER_MORF, XAI_ORDER_LERF, XAI_ORDER_RANDOM, XAI_ORDER_MORF, XAI_ORDER_RANDOM, XAI_ORDER_LERF};
            int reps[6] = {2, 0, 1, 3, 4, 7}, k, same = 1;
            float many[6][10], one[10];
            cfg.batch = 3;
            CHECK(xai_perturbation_curves(net, x, 0, 5, &cfg, 6, hs, orders, reps, &many[0][0]) == XAI_OK, "curves: %s", xai_failure_reason());
            for (k = 0; k < 6; k++) {
                xai_perturbation_curve(net, NULL, x, hs[k], 0, orders[k], 5, reps[k], &cfg, one);
                if (memcmp(one, many[k], sizeof one)) same = 0;
            }
            CHECK(same, "xai_perturbation_curves: every curve bit for bit as alone");
        }
    }
    xai_net_free(net);
}

/* The linear model: heatmap w * x (what LRP gives it) ranks regions by their true contribution,
   so MoRF falls fastest, then random, then LeRF; and a two-step AOPC by hand. */
static void test_linear_ranking(void)
{
    float w[100], x[100], heat[100], morf[26], lerf[26], rnd[26];
    double aopc[26], am = 0, al = 0, ar = 0;
    xai_net *net;
    xai_aopc_config cfg;
    xai_method m;
    uint64_t s = 1;
    int i, r, target = 0;
    for (i = 0; i < 100; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.3f;
        x[i] = 1 + (float)(i % 7);
    }
    net = linear_net(1, 10, 10, w);
    xai_method_parse("lrp-eps:1e-9", &m);   /* then eps = 0 by hand: the parser wants eps > 0 */
    m.first.eps = m.conv.eps = m.fc.eps = 0;
    xai_explain(net, NULL, x, 1, &m, &target, NULL, heat, NULL);
    for (i = 0; i < 100; i++) CHECK_CLOSE(heat[i], w[i] * x[i], 1e-5, "LRP of a linear model is w x");
    xai_aopc_defaults(&cfg);
    cfg.region = 2; cfg.steps = 25; cfg.perturb = XAI_PERTURB_CONSTANT;
    xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_MORF, 0, 0, &cfg, morf);
    xai_perturbation_curve(net, NULL, x, heat, 0, XAI_ORDER_LERF, 0, 0, &cfg, lerf);
    xai_aopc_of_curve(morf, 25, aopc); am = aopc[25];
    xai_aopc_of_curve(lerf, 25, aopc); al = aopc[25];
    for (r = 0; r < 10; r++) {
        xai_perturbation_curve(net, NULL, x, NULL, 0, XAI_ORDER_RANDOM, 0, r, &cfg, rnd);
        xai_aopc_of_curve(rnd, 25, aopc);
        ar += aopc[25] / 10;
    }
    CHECK(am > ar && ar > al, "AOPC: MoRF %g > random %g > LeRF %g", am, ar, al);
    /* by hand: regions 2x2; the two most relevant regions have scores s1 >= s2; constant
       perturbation removes exactly their contributions: curve f, f - s1, f - s1 - s2, so
       AOPC(2) = (0 + s1 + (s1 + s2)) / 3 */
    {
        double score[25] = {0}, s1 = -1e30, s2 = -1e30;
        int q;
        for (i = 0; i < 100; i++) score[(i / 10 / 2) * 5 + (i % 10) / 2] += (double)w[i] * x[i];
        for (q = 0; q < 25; q++) if (score[q] > s1) { s2 = s1; s1 = score[q]; } else if (score[q] > s2) s2 = score[q];
        xai_aopc_of_curve(morf, 25, aopc);
        CHECK_CLOSE(aopc[2], (0 + s1 + (s1 + s2)) / 3, 1e-5, "two-step AOPC by hand");
        CHECK_CLOSE(aopc[0], 0, 0, "AOPC(0) = 0");
    }
    xai_net_free(net);
}

static void test_stats(void)
{
    /* two images, two repeats each: AOPC(1) of curves (3, 1), (3, 2) -> 1, 0.5 -> image mean 0.75;
       (4, 4), (4, 0) -> 0, 2 -> 1: mean 0.875, sem = |1 - 0.75| / 2 * sqrt(2) / sqrt(2) ... by hand */
    xai_aopc_stat st;
    float a[4] = {3, 1, 3, 2}, b[4] = {4, 4, 4, 0};
    xai_aopc_stat_init(&st, 1);
    xai_aopc_stat_add(&st, a, 2);
    xai_aopc_stat_add(&st, b, 2);
    CHECK_CLOSE(xai_aopc_stat_mean(&st, 1), 0.875, 1e-12, "AOPC mean over images and repeats");
    /* sample sd of (0.75, 1) = 0.1767767; sem = sd / sqrt(2) = 0.125 */
    CHECK_CLOSE(xai_aopc_stat_sem(&st, 1), 0.125, 1e-12, "AOPC standard error over images");
    xai_aopc_stat_free(&st);
}

/* --- the aopc tool --- */

static void test_tool(void)
{
    char d[128];   /* the test's folder (tests/run.sh gives each test its own TMPDIR) */
    const char *common = "--methods lrp-eps:0.01,sensitivity-l2,random --steps 20 --region 3 --repeats 2 --orders morf,lerf";
    char cmd[4096], a[1024], b[1024];
    int i, k, rc;
    if (strlen(test_tmp("xai_test_aopc")) >= sizeof d) { CHECK(0, "TMPDIR too long: %s", test_tmp("xai_test_aopc")); return; }
    snprintf(d, sizeof d, "%s", test_tmp("xai_test_aopc"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    run(cmd);
    test_cnn_fixture(d, 9, 3, 0);
    /* one run, batch 16, 2 threads */
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=2 bin/aopc %s/cnn.xai --list %s/list.txt %s --batch 16 --out %s/single >%s/single.log 2>&1", d, d, common, d, d);
    rc = run(cmd);
    snprintf(a, sizeof a, "%s/single/summary.tsv", d);
    {
        char *sum = slurp(a);
        CHECK(rc == 0 && sum != NULL, "aopc runs (see %s/single.log)", d);
        free(sum);
    }
    {
        char *sum = slurp(a);
        CHECK(sum && strstr(sum, "method\torder\tsteps\taopc\taopc_minus_random\tsem\timages\n") && strstr(sum, "lrp-eps:0.01\tmorf\t20\t") &&
              strstr(sum, "random\trandom\t20\t"), "summary.tsv columns and rows");
        free(sum);
        snprintf(b, sizeof b, "%s/single/aopc.svg", d);
        sum = slurp(b);
        CHECK(sum && strstr(sum, "<svg") && strstr(sum, "</svg>") && strstr(sum, "lrp-eps:0.01"), "aopc.svg written with a legend");
        free(sum);
        snprintf(b, sizeof b, "%s/single/abpc.tsv", d);
        sum = slurp(b);
        CHECK(sum && strstr(sum, "sensitivity-l2\t20\t"), "abpc.tsv with MoRF and LeRF");
        free(sum);
    }
    /* batch 1 and 1 thread: identical curves */
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 bin/aopc %s/cnn.xai --list %s/list.txt %s --batch 1 --out %s/b1 >/dev/null 2>&1", d, d, common, d);
    run(cmd);
    snprintf(a, sizeof a, "%s/single/curves.tsv", d);
    snprintf(b, sizeof b, "%s/b1/curves.tsv", d);
    CHECK(same_file(a, b), "batch 1 / 1 thread and batch 16 / 2 threads: identical curves.tsv");
    /* three shards in parallel, merged */
    snprintf(cmd, sizeof cmd, "for i in 0 1 2; do bin/aopc %s/cnn.xai --list %s/list.txt %s --batch 5 --shard $i/3 --out %s/shard$i >/dev/null 2>&1 & done; wait", d, d, common, d);
    run(cmd);
    snprintf(cmd, sizeof cmd, "bin/aopc-merge %s/shard0 %s/shard1 %s/shard2 --out %s/merged >/dev/null 2>&1", d, d, d, d);
    CHECK(run(cmd) == 0, "aopc-merge runs");
    snprintf(a, sizeof a, "%s/single/summary.tsv", d);
    snprintf(b, sizeof b, "%s/merged/summary.tsv", d);
    CHECK(same_file(a, b), "three shards merged: summary.tsv equal to the single run, bit for bit");
    snprintf(a, sizeof a, "%s/single/aopc_curves.tsv", d);
    snprintf(b, sizeof b, "%s/merged/aopc_curves.tsv", d);
    CHECK(same_file(a, b), "three shards merged: aopc_curves.tsv equal");
    snprintf(a, sizeof a, "%s/single/curves.tsv", d);
    snprintf(b, sizeof b, "%s/merged/curves.tsv", d);
    CHECK(same_lines(a, b), "three shards merged: the same curve rows");
    /* a shard merged twice is refused */
    snprintf(cmd, sizeof cmd, "bin/aopc-merge %s/shard0 %s/shard0 --out %s/bad >/dev/null 2>&1", d, d, d);
    CHECK(run(cmd) != 0, "aopc-merge refuses an image in two shards");
    /* other settings on the same folder are refused */
    snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt %s --seed 9 --out %s/single >/dev/null 2>&1", d, d, common, d);
    CHECK(run(cmd) != 0, "a rerun with another --seed on the same DIR is refused");
    /* killed with SIGKILL at several moments (after 1..8 images, then a little later, mid-image or
       mid-write), rerun each time: at the end the same summary as an uninterrupted run */
    for (k = 0; k < 4; k++) {
        char dir[256], curves[300];
        int kills = 0, rows = 5 * 2 * 21;   /* runs x repeats x (steps + 1) a image */
        snprintf(dir, sizeof dir, "%s/killed%d", d, k);
        snprintf(curves, sizeof curves, "%s/curves.tsv", dir);
        snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt %s --out %s >/dev/null 2>&1", d, d, common, dir);
        for (i = 1 + k % 3; i < 9; i += 2 + k % 2) kills += kill_when(cmd, curves, 1 + rows * i, (k * 7919 + i * 104729) % 20000);
        i = kills;
        snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt %s --out %s >/dev/null 2>&1", d, d, common, dir);
        CHECK(run(cmd) == 0, "resumed run completes");
        snprintf(a, sizeof a, "%s/single/summary.tsv", d);
        snprintf(b, sizeof b, "%s/summary.tsv", dir);
        CHECK(same_file(a, b), "killed %d times and resumed: the summary of an uninterrupted run (trial %d)", i, k);
        CHECK(i >= 1, "trial %d: the run was killed at least once before it finished", k);
    }
    /* a cut last row (a kill in the middle of a write) is dropped and redone */
    {
        char dir[256], *txt;
        size_t len;
        FILE *f;
        snprintf(dir, sizeof dir, "%s/cut", d);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/single/config.tsv %s/ && head -c 3000 %s/single/curves.tsv > %s/curves.tsv", dir, d, dir, d, dir);
        run(cmd);
        snprintf(a, sizeof a, "%s/curves.tsv", dir);
        txt = (char *)test_read(a, &len);
        CHECK(txt && len == 3000 && txt[len - 1] != '\n', "fixture: a file cut inside a row");
        free(txt);
        snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt %s --out %s >/dev/null 2>&1", d, d, common, dir);
        CHECK(run(cmd) == 0, "resumes after a cut row");
        snprintf(a, sizeof a, "%s/single/summary.tsv", d);
        snprintf(b, sizeof b, "%s/summary.tsv", dir);
        CHECK(same_file(a, b), "cut row: same summary");
        f = fopen(b, "rb");
        if (f) fclose(f);
    }
    /* heatmaps from elsewhere: file:HEATDIR with the tool's own heatmaps equals the method */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/heat' && mkdir -p '%s/heat'", d, d);
    run(cmd);
    {
        xai_net *net;
        char path[512];
        float *x, *heat;
        xai_method m;
        snprintf(path, sizeof path, "%s/cnn.xai", d);
        net = xai_net_load(path);
        x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
        heat = (float *)malloc(24 * 24 * sizeof(float));
        xai_method_parse("lrp-eps:0.01", &m);
        for (i = 0; i < 9; i++) {
            xai_image img, h;
            snprintf(path, sizeof path, "%s/img%02d.ppm", d, i);
            xai_image_load(path, &img);
            xai_net_preprocess(net, &img, x, NULL);
            xai_explain(net, NULL, x, 1, &m, NULL, NULL, heat, NULL);
            h.w = 24; h.h = 24; h.c = 1; h.data = heat;
            snprintf(path, sizeof path, "%s/heat/img%02d.pfm", d, i);
            xai_image_write_pfm(path, &h);
            xai_image_free(&img);
        }
        free(x); free(heat);
        xai_net_free(net);
        snprintf(cmd, sizeof cmd, "bin/aopc %s/cnn.xai --list %s/list.txt --methods file:%s/heat --steps 20 --region 3 --repeats 2 --orders morf,lerf --out %s/file >/dev/null 2>&1", d, d, d, d);
        CHECK(run(cmd) == 0, "file:HEATDIR runs");
        snprintf(a, sizeof a, "%s/single/summary.tsv", d);
        snprintf(b, sizeof b, "%s/file/summary.tsv", d);
        {
            char *sa = slurp(a), *sb = slurp(b), *la, *lb;
            la = sa ? strstr(sa, "lrp-eps:0.01\tmorf\t20\t") : NULL;
            lb = sb ? strstr(sb, "\tmorf\t20\t") : NULL;
            if (la) la += strlen("lrp-eps:0.01\tmorf\t20\t");
            if (lb) lb += strlen("\tmorf\t20\t");
            CHECK(la && lb && strcspn(la, "\t") == strcspn(lb, "\t") && strncmp(la, lb, strcspn(la, "\t")) == 0,
                  "heatmaps read from PFM files give the method's AOPC");
            free(sa); free(sb);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    run(cmd);
}

int main(void)
{
    test_regions();
    test_perturbation_exact();
    test_linear_ranking();
    test_stats();
    test_tool();
    return test_report();
}
