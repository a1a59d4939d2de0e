/* Results that cannot be corrupted (issue 17): bin/aopc and bin/aopc-merge on models/fashion.xai
   with a few images and few steps.  One writer per output folder (two runs at once, same shard and
   different shards; a filesystem without locks), the list recorded and a changed list refused or
   accepted with --list-changed, merges of missing, unfinished and empty shards and into an input,
   a merge stopped at each of its steps, non-finite and unparsable scores, strict options, the
   memory estimate, stale temporary files, a 50,000-line list, --help. */
#include "../xai.h"
#include "tools.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>

#define D "/tmp/xai_test_aopc_guard"
#define MODEL "models/fashion.xai"
#define FAST "--methods lrp-eps:0.01,random --steps 6 --region 4 --repeats 2"

/* The exit code of a shell command (-1 if it did not exit). */
static int run_rc(const char *cmd)
{
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_has(const char *path, const char *text)
{
    char *t = slurp(path);
    int yes = t && strstr(t, text) != NULL;
    free(t);
    return yes;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The first n fashion images (sorted names) as a list file. */
static void write_list(const char *path, int first, int n)
{
    static const char *img[10] = {"fashion_0_tshirt", "fashion_1_trouser", "fashion_2_pullover", "fashion_3_dress", "fashion_4_coat",
                                  "fashion_5_sandal", "fashion_6_shirt", "fashion_7_sneaker", "fashion_8_bag", "fashion_9_boot"};
    char buf[4096];
    int i, len = 0;
    for (i = first; i < first + n; i++) len += snprintf(buf + len, sizeof buf - (size_t)len, "examples/images/%s.pgm\n", img[i]);
    test_write(path, buf, (size_t)len);
}

/* The images column of summary.tsv's first data row. */
static int summary_images(const char *dir)
{
    char path[512], *t, *line;
    int n = -1;
    snprintf(path, sizeof path, "%s/summary.tsv", dir);
    if (!(t = slurp(path))) return -1;
    line = strstr(t, "lrp-eps:0.01\tmorf\t");
    if (line) {
        char *end = line + strcspn(line, "\n"), *tab = end;
        while (tab > line && tab[-1] != '\t') tab--;
        n = atoi(tab);
    }
    free(t);
    return n;
}

/* Every file of a equals b's file of the same name, and the same names (a merged folder). */
static int same_folder(const char *a, const char *b)
{
    DIR *d;
    struct dirent *e;
    int na = 0, nb = 0, same = 1;
    char pa[1024], pb[1024];
    if (!(d = opendir(a))) return 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        na++;
        snprintf(pa, sizeof pa, "%s/%s", a, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, e->d_name);
        if (!same_file(pa, pb)) same = 0;
    }
    closedir(d);
    if (!(d = opendir(b))) return 0;
    while ((e = readdir(d)) != NULL) nb += e->d_name[0] != '.';
    closedir(d);
    return same && na == nb && na > 0;
}

/* Starts cmd in the background; its pid (exec: the tool itself). */
static pid_t spawn(const char *cmd)
{
    char full[4200];
    pid_t pid;
    snprintf(full, sizeof full, "exec %s", cmd);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_rc(pid_t pid)
{
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Waits (up to 10 s) until path exists with text in it. */
static int wait_for(const char *path, const char *text)
{
    int i;
    for (i = 0; i < 10000; i++) {
        if (file_has(path, text)) return 1;
        usleep(1000);
    }
    return 0;
}

static void test_two_writers(void)
{
    char cmd[2048], pidtext[64];
    int same, other;
    pid_t a;
    write_list(D "/list10.txt", 0, 10);
    /* the same command twice at once: the second is refused at once, naming the first */
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list10.txt --methods lrp-eps:0.01,sensitivity-l2,random --steps 12 --region 3 --repeats 3 --out " D "/two >" D "/two_a.log 2>&1");
    a = spawn(cmd);
    wait_for(D "/two/lock", "pid");
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list10.txt --methods lrp-eps:0.01,sensitivity-l2,random --steps 12 --region 3 --repeats 3 --out " D "/two >" D "/two_b.log 2>&1");
    same = run_rc(cmd);
    snprintf(pidtext, sizeof pidtext, "pid %ld", (long)a);
    CHECK(same != 0 && file_has(D "/two_b.log", pidtext) && file_has(D "/two_b.log", "being written by another run"),
          "a second run into the same --out is refused naming the holder's %s (rc %d, see " D "/two_b.log)", pidtext, same);
    CHECK(wait_rc(a) == 0 && summary_images(D "/two") == 10, "the first run finishes undisturbed with its 10 images");
    /* two shards started into one folder */
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list10.txt --methods lrp-eps:0.01,sensitivity-l2,random --steps 12 --region 3 --repeats 3 --shard 0/2 --out " D "/shards >" D "/sh_a.log 2>&1");
    a = spawn(cmd);
    wait_for(D "/shards/lock", "pid");
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list10.txt --methods lrp-eps:0.01,sensitivity-l2,random --steps 12 --region 3 --repeats 3 --shard 1/2 --out " D "/shards >" D "/sh_b.log 2>&1");
    other = run_rc(cmd);
    snprintf(pidtext, sizeof pidtext, "pid %ld", (long)a);
    CHECK(other != 0 && file_has(D "/sh_b.log", pidtext), "shard 1/2 into shard 0/2's folder is refused naming %s (rc %d)", pidtext, other);
    CHECK(wait_rc(a) == 0 && summary_images(D "/shards") == 5, "shard 0/2 finishes with its 5 images");
    /* the lock held by another process (this test) */
    {
        int fd = open(D "/shards/lock", O_RDWR);
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 && ftruncate(fd, 0) == 0 && write(fd, "pid 4242 on testhost\n", 21) == 21, "the test holds the lock");
        snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list10.txt --methods lrp-eps:0.01,sensitivity-l2,random --steps 12 --region 3 --repeats 3 --shard 0/2 --out " D "/shards >" D "/sh_c.log 2>&1");
        CHECK(run_rc(cmd) != 0 && file_has(D "/sh_c.log", "pid 4242 on testhost"), "a held lock: refused naming the holder's pid and host");
        if (fd >= 0) close(fd);
    }
    /* a filesystem without locks: only --no-lock goes on */
    snprintf(cmd, sizeof cmd, "XAI_TEST_NO_LOCKS=1 bin/aopc " MODEL " --list " D "/list10.txt " FAST " --out " D "/nolock >" D "/nolock.log 2>&1");
    CHECK(run_rc(cmd) != 0 && file_has(D "/nolock.log", "no locks") && file_has(D "/nolock.log", "--no-lock"), "no locks: refused, naming --no-lock");
    snprintf(cmd, sizeof cmd, "XAI_TEST_NO_LOCKS=1 bin/aopc " MODEL " --list " D "/list10.txt " FAST " --no-lock --out " D "/nolock >" D "/nolock2.log 2>&1");
    CHECK(run_rc(cmd) == 0 && file_has(D "/nolock2.log", "without one"), "no locks with --no-lock: goes on with a note");
}

static void test_changed_list(void)
{
    char cmd[2048];
    write_list(D "/list4.txt", 0, 4);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list4.txt " FAST " --out " D "/lst >/dev/null 2>&1");
    CHECK(run_rc(cmd) == 0 && summary_images(D "/lst") == 4, "a run of 4 images");
    CHECK(file_has(D "/lst/config.tsv", "images\t4\n") && file_has(D "/lst/config.tsv", "images_hash\t"), "config.tsv records the list's count and hash");
    /* images 1..4: image 0 gone, image 4 new, at the same path */
    write_list(D "/list4.txt", 1, 4);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list4.txt " FAST " --out " D "/lst >" D "/lst.log 2>&1");
    CHECK(run_rc(cmd) != 0 && file_has(D "/lst.log", "1 no longer listed (examples/images/fashion_0_tshirt.pgm)") &&
          file_has(D "/lst.log", "1 new (examples/images/fashion_4_coat.pgm)") && file_has(D "/lst.log", "--list-changed"),
          "a changed list is refused naming the difference (see " D "/lst.log)");
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list4.txt " FAST " --list-changed --out " D "/lst >/dev/null 2>&1");
    CHECK(run_rc(cmd) == 0 && summary_images(D "/lst") == 4, "--list-changed: the summary counts the 4 listed images, not 5 (%d)", summary_images(D "/lst"));
    /* shrunk to 2: the summary has 2 */
    write_list(D "/list4.txt", 1, 2);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list4.txt " FAST " --list-changed --out " D "/lst >/dev/null 2>&1");
    CHECK(run_rc(cmd) == 0 && summary_images(D "/lst") == 2, "list shrunk to 2 with --list-changed: 2 images in the summary (%d)", summary_images(D "/lst"));
    /* the same images in another order: their noise would change; refused */
    test_write(D "/list4.txt", "examples/images/fashion_2_pullover.pgm\nexamples/images/fashion_1_trouser.pgm\n", 76);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list4.txt " FAST " --out " D "/lst >" D "/lst2.log 2>&1");
    CHECK(run_rc(cmd) != 0 && file_has(D "/lst2.log", "another order"), "a reordered list is refused, saying so");
}

static void test_merge(void)
{
    char cmd[2048];
    int i, k, stopped = 0, rc;
    write_list(D "/list5.txt", 0, 5);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list5.txt " FAST " --out " D "/single >/dev/null 2>&1");
    CHECK(run_rc(cmd) == 0, "the single run");
    for (i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list5.txt " FAST " --shard %d/3 --out " D "/s%d >/dev/null 2>&1", i, i);
        CHECK(run_rc(cmd) == 0, "shard %d/3", i);
    }
    /* a missing shard */
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 --out " D "/m_missing >" D "/m1.log 2>&1") != 0 && file_has(D "/m1.log", "shard 2/3 missing") &&
          !exists(D "/m_missing"), "merge without shard 2/3: refused naming it, nothing written");
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 --partial --out " D "/m_partial >/dev/null 2>&1") == 0 &&
          file_has(D "/m_partial/summary.tsv", "# partial merge: shard 2/3 missing"), "--partial: merged, summary.tsv's header names the missing shard");
    /* an unfinished shard: its curves cut to the header */
    run("rm -rf " D "/s1u && cp -r " D "/s1 " D "/s1u && head -n 1 " D "/s1/curves.tsv > " D "/s1u/curves.tsv");
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1u " D "/s2 --out " D "/m_unf >" D "/m2.log 2>&1") != 0 && file_has(D "/m2.log", "unfinished: 2 of 2 images missing"),
          "merge with an unfinished shard: refused, saying what it lacks");
    /* a shard given twice */
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s1u " D "/s2 --out " D "/m_twice >" D "/m3.log 2>&1") != 0 && file_has(D "/m3.log", "given twice"),
          "shard 1/3 given twice: refused");
    /* the full merge is the single run */
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_full >/dev/null 2>&1") == 0, "the full merge");
    CHECK(same_file(D "/single/summary.tsv", D "/m_full/summary.tsv") && same_file(D "/single/aopc_curves.tsv", D "/m_full/aopc_curves.tsv") &&
          same_file(D "/single/curves.tsv", D "/m_full/curves.tsv"), "merged = single run, byte for byte");
    /* --out an input (by name, and by another name of the same folder) */
    run("cp " D "/s1/curves.tsv " D "/s1_before.tsv");
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/s1 >" D "/m4.log 2>&1") != 0 && file_has(D "/m4.log", "is the input"),
          "--out equal to an input: refused");
    CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/../xai_test_aopc_guard/s1/ >/dev/null 2>&1") != 0, "--out the same folder by another name: refused");
    CHECK(same_file(D "/s1_before.tsv", D "/s1/curves.tsv") && !exists(D "/s1/merge.tsv"), "the input is untouched");
    /* empty shards: 2 images in 3 shards */
    write_list(D "/list2.txt", 0, 2);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list2.txt " FAST " --out " D "/e_single >/dev/null 2>&1");
    run(cmd);
    for (i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list2.txt " FAST " --shard %d/3 --out " D "/e%d >/dev/null 2>&1", i, i);
        run(cmd);
    }
    CHECK(run_rc("bin/aopc-merge " D "/e0 " D "/e1 " D "/e2 --out " D "/e_merged >" D "/m5.log 2>&1") == 0 && same_file(D "/e_single/summary.tsv", D "/e_merged/summary.tsv"),
          "a shard with no images merges (see " D "/m5.log)");
    /* stopped at every step of a re-merge: the folder is the old merge or the new one, never a mix */
    run("rm -rf " D "/m_kill " D "/m_old && cp -r " D "/m_partial " D "/m_old && cp -r " D "/m_partial " D "/m_kill");
    run("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_new >/dev/null 2>&1");
    for (k = 1; k < 40; k++) {
        int old_one, new_one, none;
        snprintf(cmd, sizeof cmd, "AOPC_MERGE_STOP_AFTER=%d bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_kill >/dev/null 2>&1", k);
        rc = run_rc(cmd);
        old_one = same_folder(D "/m_kill", D "/m_old");
        none = !exists(D "/m_kill");
        /* merge.tsv names the folders merged: the same in m_new */
        new_one = same_folder(D "/m_kill", D "/m_new");
        CHECK(old_one || new_one || none, "stopped at step %d: m_kill is the old merge, the new one or absent, never a mix", k);
        if (rc == 0) break;
        stopped++;
        CHECK(rc == 137, "stopped at step %d (rc %d)", k, rc);
        /* back to the old merge for the next stop */
        run("rm -rf " D "/m_kill && cp -r " D "/m_old " D "/m_kill");
    }
    printf("merge stopped at %d points before it completes\n", stopped);
    CHECK(stopped >= 6, "the merge has at least 6 points to stop at (%d)", stopped);
    CHECK(run_rc("AOPC_MERGE_STOP_AFTER=3 bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_kill >/dev/null 2>&1") == 137 &&
          run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_kill >" D "/m6.log 2>&1") == 0 && same_folder(D "/m_kill", D "/m_new"),
          "after a stopped merge the next one completes (leftovers removed) and is the new merge");
    {
        DIR *d = opendir(D);
        struct dirent *e;
        int left = 0;
        while (d && (e = readdir(d)) != NULL) left += strstr(e->d_name, ".merge-") != NULL;
        if (d) closedir(d);
        CHECK(left == 0, "no merge-tmp or merge-old folders left (%d)", left);
    }
    /* the merge's lock */
    {
        int fd = open(D "/m_new.lock", O_RDWR | O_CREAT, 0666);
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 && ftruncate(fd, 0) == 0 && write(fd, "pid 777 on mergehost\n", 21) == 21, "the test holds OUT.lock");
        CHECK(run_rc("bin/aopc-merge " D "/s0 " D "/s1 " D "/s2 --out " D "/m_new >" D "/m7.log 2>&1") != 0 && file_has(D "/m7.log", "pid 777 on mergehost"),
              "a second merge into one --out is refused naming the holder");
        if (fd >= 0) close(fd);
    }
}

/* A model whose scores overflow: class 0 = 3e38 x the sum of an 8x8 grey input; the black image
   scores 0, every perturbed one infinity. */
static void test_nonfinite(void)
{
    char cmd[2048], line[256];
    xai_net *net = xai_net_new("overflow");
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    xai_image img;
    int i;
    fc.num_output = 2;
    xai_net_input(net, "data", 1, 8, 8);
    xai_net_add(net, "fc", &fc, "data", "fc");
    xai_net_finalize(net);
    for (i = 0; i < 64; i++) net->layer[0].weight[i] = 3e38f;
    net->layer[0].bias[1] = -1;
    xai_net_save(net, D "/overflow.xai");
    xai_net_free(net);
    xai_image_alloc(&img, 8, 8, 1);
    xai_image_write_pnm(D "/black.pgm", &img);
    xai_image_free(&img);
    test_write(D "/black.txt", D "/black.pgm\n", strlen(D "/black.pgm\n"));
    CHECK(run_rc("bin/aopc " D "/overflow.xai --list " D "/black.txt --methods random --steps 3 --region 2 --repeats 2 --out " D "/inf >" D "/inf.log 2>&1") != 0 &&
          file_has(D "/inf.log", "black.pgm") && file_has(D "/inf.log", "order random, repeat 0, step 1: the score is inf"),
          "a non-finite score stops the run naming image, order, repeat and step (see " D "/inf.log)");
    CHECK(!file_has(D "/inf/curves.tsv", "inf") && !exists(D "/inf/summary.tsv"), "nothing non-finite written, no summary");
    /* curves.tsv rows that do not parse */
    write_list(D "/list3.txt", 0, 3);
    run("bin/aopc " MODEL " --list " D "/list3.txt " FAST " --out " D "/rows >/dev/null 2>&1");
    run("cp " D "/rows/curves.tsv " D "/rows_good.tsv");
    run("awk 'NR == 5 { $6 = \"nan\" } { print }' OFS='\\t' " D "/rows_good.tsv > " D "/rows/curves.tsv");
    CHECK(run_rc("bin/aopc " MODEL " --list " D "/list3.txt " FAST " --out " D "/rows >" D "/rows.log 2>&1") != 0 && file_has(D "/rows.log", "line 5: score 'nan' is not a finite number"),
          "NaN in a curve row: an error with the line number");
    run("awk 'NR == 7 { $6 = \"abc\" } { print }' OFS='\\t' " D "/rows_good.tsv > " D "/rows/curves.tsv");
    CHECK(run_rc("bin/aopc " MODEL " --list " D "/list3.txt " FAST " --out " D "/rows >" D "/rows.log 2>&1") != 0 && file_has(D "/rows.log", "line 7: score 'abc'"),
          "a score 'abc': an error with the line number");
    run("awk 'NR == 9 { print $1 \"\\t\" $2; next } { print }' " D "/rows_good.tsv > " D "/rows/curves.tsv");
    CHECK(run_rc("bin/aopc " MODEL " --list " D "/list3.txt " FAST " --out " D "/rows >" D "/rows.log 2>&1") != 0 && file_has(D "/rows.log", "line 9: 2 fields"),
          "a row of 2 fields: an error with the line number");
    snprintf(line, sizeof line, "cp " D "/rows_good.tsv " D "/rows/curves.tsv && awk 'NR == 4 { $6 = \"-inf\" } { print }' OFS='\\t' " D "/rows_good.tsv > " D "/rows/curves.tsv");
    run(line);
    CHECK(run_rc("bin/aopc-merge " D "/rows --out " D "/rows_merged >" D "/rows.log 2>&1") != 0 && file_has(D "/rows.log", "line 4: score '-inf'"),
          "aopc-merge: a non-finite score is an error with the line number");
    (void)cmd;
}

static void test_options(void)
{
    static const char *bad[][2] = {
        {"--steps abc", "--steps"}, {"--steps -1", "--steps"}, {"--steps 5x", "--steps"}, {"--region 0", "--region"}, {"--region 2.5", "--region"},
        {"--repeats x", "--repeats"}, {"--repeats 0", "--repeats"}, {"--seed -1", "--seed"}, {"--seed 1e3", "--seed"},
        {"--seed 99999999999999999999", "--seed"}, {"--batch 0", "--batch"}, {"--batch 2x", "--batch"}, {"--shard 3/2", "--shard"},
        {"--shard a/b", "--shard"}, {"--shard 1", "--shard"}, {"--shard -1/2", "--shard"}, {"--perturb foo", "--perturb"},
        {"--orders xyz", "--orders"}, {"--bogus 1", "--bogus"}, {"--steps", "--steps"}};
    char cmd[2048];
    size_t i;
    int rc;
    write_list(D "/list1.txt", 0, 1);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* good values first: only the bad one is wrong */
        snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list1.txt --methods random --steps 4 --region 4 --repeats 1 --out " D "/opt %s >" D "/opt.log 2>&1", bad[i][0]);
        rc = run_rc(cmd);
        CHECK(rc != 0 && file_has(D "/opt.log", bad[i][1]) && !exists(D "/opt/curves.tsv"), "aopc %s: refused naming %s (rc %d)", bad[i][0], bad[i][1], rc);
        CHECK(!strcmp(bad[i][1], "--orders") || rc == 2, "aopc %s: exit 2, a usage error (rc %d)", bad[i][0], rc);
    }
    CHECK(run_rc("bin/aopc-merge " D "/s0 --bogus --out " D "/x >" D "/opt.log 2>&1") == 2 && file_has(D "/opt.log", "--bogus"), "aopc-merge --bogus: refused");
    CHECK(run_rc("bin/aopc-merge " D "/s0 --out >" D "/opt.log 2>&1") == 2 && file_has(D "/opt.log", "--out"), "aopc-merge --out without a value: refused");
    /* --batch above steps + 1 is lowered */
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list1.txt --methods random --steps 4 --region 4 --repeats 1 --batch 1000 --out " D "/batch >" D "/batch.log 2>&1");
    CHECK(run_rc(cmd) == 0 && file_has(D "/batch.log", "--batch 1000 lowered to 5"), "--batch 1000 with 4 steps: lowered to 5, said");
    /* more memory than the machine has: refused before allocating (or writing anything) */
    snprintf(cmd, sizeof cmd, "AOPC_TEST_PHYS_MEMORY=1000000 bin/aopc " MODEL " --list " D "/list1.txt --methods random --steps 5 --region 4 --out " D "/mem >" D "/mem.log 2>&1");
    CHECK(run_rc(cmd) != 0 && file_has(D "/mem.log", "more than this machine's") && !exists(D "/mem"), "a memory estimate above physical memory: refused before starting");
    /* --help: all of it on stdout, exit 0; nothing: the usage on stderr, exit 2 */
    CHECK(run_rc("bin/aopc --help >" D "/help.txt 2>/dev/null") == 0 && file_has(D "/help.txt", "--shard I/N") && file_has(D "/help.txt", "(default 100)") &&
          file_has(D "/help.txt", "--list-changed") && file_has(D "/help.txt", "--no-lock") && file_has(D "/help.txt", "example:"),
          "aopc --help: every option with its default and an example, exit 0");
    CHECK(run_rc("bin/aopc >/dev/null 2>" D "/help.txt") == 2 && file_has(D "/help.txt", "usage: aopc"), "aopc without arguments: usage on stderr, exit 2");
    CHECK(run_rc("bin/aopc-merge --help >" D "/help.txt 2>/dev/null") == 0 && file_has(D "/help.txt", "--partial") && file_has(D "/help.txt", "example:"),
          "aopc-merge --help: exit 0 with --partial and an example");
    CHECK(run_rc("bin/aopc-merge >/dev/null 2>" D "/help.txt") == 2 && file_has(D "/help.txt", "usage: aopc-merge"), "aopc-merge without arguments: usage on stderr, exit 2");
}

/* sensitivity-l2 and -linf of a grey image are one map: both curves visible in aopc.svg */
static void test_svg(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list2.txt --methods sensitivity-l2,sensitivity-linf,random --steps 6 --region 4 --repeats 2 --out " D "/svg >/dev/null 2>&1");
    CHECK(run_rc(cmd) == 0, "l2 and linf on grey images");
    CHECK(file_has(D "/svg/aopc.svg", "sensitivity-linf = sensitivity-l2") && file_has(D "/svg/aopc.svg", "stroke-dasharray=\"4,8\""),
          "aopc.svg: the coinciding l-inf curve dashed over l2, its legend entry says so");
}

static void test_stale_tmp(void)
{
    char cmd[2048];
    write_list(D "/list2.txt", 0, 2);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list2.txt " FAST " --out " D "/stale >/dev/null 2>&1");
    run(cmd);
    test_write(D "/stale/curves.tsv.rewrite.tmp", "half", 4);
    test_write(D "/stale/summary.tsv.0badf00d.tmp", "half", 4);
    snprintf(cmd, sizeof cmd, "bin/aopc " MODEL " --list " D "/list2.txt " FAST " --out " D "/stale >" D "/stale.log 2>&1");
    CHECK(run_rc(cmd) == 0 && !exists(D "/stale/curves.tsv.rewrite.tmp") && !exists(D "/stale/summary.tsv.0badf00d.tmp") &&
          file_has(D "/stale.log", "left by a killed run"), "the next run removes a killed run's *.tmp files, saying so");
    /* an error path leaves none: a NaN row found on resume */
    run("awk 'NR == 3 { $6 = \"nan\" } { print }' OFS='\\t' " D "/stale/curves.tsv > " D "/stale/c && mv " D "/stale/c " D "/stale/curves.tsv");
    run_rc(cmd);
    CHECK(run_rc("ls " D "/stale | grep -q '\\.tmp$'") != 0, "no temporary file after a failed run");
}

/* 50,000 entries: the duplicate check and the resume bookkeeping in O(n log n) */
static void test_long_list(void)
{
    char *buf = (char *)malloc(50000 * 48);
    size_t len = 0;
    double t0, t1;
    int i, rc;
    len += (size_t)sprintf(buf + len, "examples/images/fashion_0_tshirt.pgm\n");
    for (i = 1; i < 49999; i++) len += (size_t)sprintf(buf + len, "/nonexistent/picture_%05d.pgm\n", i);
    len += (size_t)sprintf(buf + len, "/nonexistent/picture_00002.pgm\n");
    test_write(D "/long.txt", buf, len);
    t0 = seconds();
    rc = run_rc("bin/aopc " MODEL " --list " D "/long.txt --methods random --steps 2 --region 4 --repeats 1 --shard 0/50000 --out " D "/long >" D "/long.log 2>&1");
    t1 = seconds();
    printf("50,000-line list with a duplicate: refused in %.3f s\n", t1 - t0);
    CHECK(rc != 0 && file_has(D "/long.log", "/nonexistent/picture_00002.pgm is listed twice (lines 3 and 50000)"), "the duplicate named with both lines");
    len -= strlen("/nonexistent/picture_00002.pgm\n");
    len += (size_t)sprintf(buf + len, "/nonexistent/picture_49999.pgm\n");
    test_write(D "/long.txt", buf, len);
    t0 = seconds();
    rc = run_rc("bin/aopc " MODEL " --list " D "/long.txt --methods random --steps 2 --region 4 --repeats 1 --shard 0/50000 --out " D "/long >" D "/long.log 2>&1");
    t1 = seconds();
    printf("50,000-line list: checked, one image run and summarized in %.3f s\n", t1 - t0);
    CHECK(rc == 0 && file_has(D "/long/config.tsv", "images\t50000\n"), "the 50,000-line list accepted and recorded");
    t0 = seconds();
    rc = run_rc("bin/aopc " MODEL " --list " D "/long.txt --methods random --steps 2 --region 4 --repeats 1 --shard 0/50000 --out " D "/long >" D "/long.log 2>&1");
    t1 = seconds();
    printf("50,000-line list: resumed (nothing to do) in %.3f s\n", t1 - t0);
    CHECK(rc == 0 && file_has(D "/long.log", "1 already done, 0 to do"), "resumed: done");
    free(buf);
}

int main(void)
{
    run("rm -rf " D " && mkdir -p " D);
    test_two_writers();
    test_changed_list();
    test_merge();
    test_nonfinite();
    test_options();
    test_stale_tmp();
    test_svg();
    test_long_list();
    if (!test_failed) run("rm -rf " D);
    return test_report();
}
