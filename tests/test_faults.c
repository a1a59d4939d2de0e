/* Write errors (issue 8): a full disk is reported with an error (the tools: a message and a
   non-zero exit), and nothing already finished is damaged: an existing output keeps its bytes, no
   temporary file is left, and the evaluator resumes to the summary of an uninterrupted run.
   Two ways to fill a disk: RLIMIT_FSIZE (writes past N bytes fail with EFBIG; works anywhere),
   and, where this machine lets root make a private mount namespace, a real tmpfs of a few pages
   (writes fail with ENOSPC).  Kills of the evaluator are tested in test_aopc.c. */
#define XAI_IMPLEMENTATION   /* its own: the stale-temporary test calls xai__out_open */
#include "../xai.h"
#include "test.h"
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FDIR   /* tests/build_check.sh builds its copy with a folder of its own, so that both copies can run at once */
#define FDIR "/tmp/xai_test_faults"
#endif

/* ---- helpers ---- */

static int sh(const char *cmd) { fflush(stdout); return system(cmd); }

static unsigned char *slurp(const char *path, size_t *len)
{
    size_t n;
    unsigned char *p = test_read(path, len ? len : &n);
    return p;
}

static int same_bytes(const char *path, const unsigned char *want, size_t wlen)
{
    size_t len;
    unsigned char *got = slurp(path, &len);
    int same = got && len == wlen && memcmp(got, want, len) == 0;
    free(got);
    return same;
}

/* names in dir that end in ".tmp" (a writer's leftover) */
static int tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".tmp")) n++;
    }
    closedir(d);
    return n;
}

/* Writes past limit bytes fail (EFBIG) until fsize_lift; SIGXFSZ is ignored so the write
   returns the error instead of killing the process.  Only regular files are limited: the pipe
   that carries this test's output is not. */
static struct rlimit fsize_saved;
static void fsize_limit(rlim_t limit)
{
    struct rlimit r;
    fflush(stdout);
    getrlimit(RLIMIT_FSIZE, &fsize_saved);
    r = fsize_saved;
    r.rlim_cur = limit;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &r);
}
static void fsize_lift(void) { setrlimit(RLIMIT_FSIZE, &fsize_saved); }

/* Runs a shell command with RLIMIT_FSIZE = limit (0: none), its output (stdout and stderr)
   through a pipe into log: a log file of its own would be limited too.  Returns its exit status,
   -1 if it did not exit (a signal: a crash). */
static int run_limited(const char *cmd, rlim_t limit, const char *log)
{
    pid_t pid;
    int status, fd[2];
    FILE *out;
    char buf[4096];
    ssize_t n;
    fflush(stdout);
    if (pipe(fd) != 0) return -1;
    pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[1]);
        if (limit) {
            struct rlimit r;
            getrlimit(RLIMIT_FSIZE, &r);
            r.rlim_cur = limit;
            signal(SIGXFSZ, SIG_IGN);   /* inherited through exec: the tool sees EFBIG */
            setrlimit(RLIMIT_FSIZE, &r);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    out = fopen(log, "wb");
    while ((n = read(fd[0], buf, sizeof buf)) > 0)
        if (out) fwrite(buf, 1, (size_t)n, out);
    close(fd[0]);
    if (out) fclose(out);
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int contains(const char *path, const char *word)
{
    size_t len;
    char *t = (char *)slurp(path, &len);
    int yes = t && strstr(t, word) != NULL;
    free(t);
    return yes;
}

/* ---- fixtures ---- */

static xai_net *small_net(int classes, uint64_t seed)
{
    xai_net *net = xai_net_new("faults");
    xai_layer_param c = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU), pool = xai_layer_defaults(XAI_POOLING),
                    fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    c.num_output = 8; c.kernel_h = c.kernel_w = 3; c.pad_h = c.pad_w = 1;
    pool.kernel_h = pool.kernel_w = 2; pool.stride_h = pool.stride_w = 2;
    fc.num_output = classes;
    xai_net_input(net, "data", 3, 12, 12);
    xai_net_add(net, "conv1", &c, "data", "conv1");
    xai_net_add(net, "relu1", &relu, "conv1", "conv1");
    xai_net_add(net, "pool1", &pool, "conv1", "pool1");
    xai_net_add(net, "fc", &fc, "pool1", "fc");
    net->pre.channel_order = XAI_ORDER_BGR;
    net->pre.scale = 0.02f;
    xai_net_finalize(net);
    xai_net_fill_random(net, seed);
    return net;
}

static void picture(xai_image *img, int w, int h, int k)
{
    int i;
    xai_image_alloc(img, w, h, 3);
    for (i = 0; i < w * h * 3; i++) img->data[i] = (float)(xai_random_key((uint64_t)k, (uint64_t)i, 0, 0, 0) & 255);   /* noise: PNG cannot shrink it */
}

/* ---- the library's writers under RLIMIT_FSIZE ---- */

typedef int (*writer_fn)(const char *path, int version);

static xai_net *wnet[2];
static int w_model(const char *path, int v) { return xai_net_save(wnet[v], path); }
#ifndef XAI_NO_IMAGE_WRITE
static int w_png(const char *path, int v) { xai_image img; int rc; picture(&img, 40 + 200 * v, 30 + 150 * v, v); rc = xai_image_write_png(path, &img); xai_image_free(&img); return rc; }
#endif
static int w_pnm(const char *path, int v) { xai_image img; int rc; picture(&img, 40 + 100 * v, 30, v); rc = xai_image_write_pnm(path, &img); xai_image_free(&img); return rc; }
static int w_pfm(const char *path, int v) { xai_image img; int rc; picture(&img, 20 + 40 * v, 10, v); rc = xai_image_write_pfm(path, &img); xai_image_free(&img); return rc; }
#ifndef XAI_NO_IMAGE_WRITE
static int w_jpeg(const char *path, int v) { xai_image img; int rc; picture(&img, 64 + 200 * v, 48 + 150 * v, v); rc = xai_image_write_jpeg(path, &img, 90); xai_image_free(&img); return rc; }
#endif
static int w_file(const char *path, int v)
{
    static char text[20000];
    memset(text, 'a' + v, sizeof text);
    return xai_file_write(path, text, v ? sizeof text : 100);
}

/* version 0 is written whole, then version 1 (larger than limit) must fail and leave version 0 */
static void writer_case(const char *what, writer_fn fn, const char *name, rlim_t limit)
{
    char path[256];
    unsigned char *before;
    size_t blen;
    int rc;
    snprintf(path, sizeof path, "%s/lib/%s", FDIR, name);
    CHECK(fn(path, 0) == XAI_OK, "%s: the first, small write: %s", what, xai_failure_reason());
    before = slurp(path, &blen);
    CHECK(before && blen > 0 && blen < limit, "%s: the first version is %zu bytes, under the %d-byte limit", what, blen, (int)limit);
    fsize_limit(limit);
    rc = fn(path, 1);
    fsize_lift();
    CHECK(rc == XAI_ERR_IO, "%s: a write past the limit returns XAI_ERR_IO (%d)", what, rc);
    CHECK(strstr(xai_failure_reason(), "write error") != NULL && strstr(xai_failure_reason(), name) != NULL,
          "%s: the reason names the file and the write error: '%s'", what, xai_failure_reason());
    CHECK(before && same_bytes(path, before, blen), "%s: the finished file keeps its bytes", what);
    CHECK(tmp_files(FDIR "/lib") == 0, "%s: no temporary file left", what);
    free(before);
}

static void test_library_writers(void)
{
    sh("rm -rf " FDIR "/lib && mkdir -p " FDIR "/lib");
    wnet[0] = small_net(2, 1);
    wnet[1] = small_net(300, 2);   /* 300 x 288 weights: ~350 KB */
    writer_case("xai_net_save", w_model, "model.xai", 65536);
#ifndef XAI_NO_IMAGE_WRITE   /* the build without encoders writes PNM and PFM only */
    writer_case("xai_image_write_png", w_png, "heat.png", 16384);
    writer_case("xai_image_write_jpeg", w_jpeg, "pic.jpg", 4096);
#endif
    writer_case("xai_image_write_pnm", w_pnm, "pic.ppm", 8192);
    writer_case("xai_image_write_pfm", w_pfm, "heat.pfm", 4096);
    writer_case("xai_file_write", w_file, "summary.tsv", 4096);
    xai_net_free(wnet[0]);
    xai_net_free(wnet[1]);
}

/* ---- the tools under RLIMIT_FSIZE ---- */

/* caffe2xai's inputs: a deploy prototxt and a caffemodel holding its weights (protobuf by hand) */
static void put_varint(FILE *f, uint64_t v)
{
    do { unsigned char c = (unsigned char)(v & 0x7f); v >>= 7; if (v) c |= 0x80; fputc(c, f); } while (v);
}
static void caffe_fixture(const char *prototxt, const char *caffemodel)
{
    static const char deploy[] = "name: \"f\" input: \"data\" input_dim: 1 input_dim: 1 input_dim: 16 input_dim: 16\n"
                                 "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" inner_product_param { num_output: 8 bias_term: false } }\n";
    FILE *f;
    int i;
    test_write(prototxt, deploy, strlen(deploy));
    /* NetParameter { layer (100) { name (1) "fc"; blobs (7) { shape (7) { dim 8 dim 256 } data (5) packed } } } */
    if (!(f = fopen(caffemodel, "wb"))) return;
    {
        size_t data = 8 * 256 * 4, shape = 2 + 3, blob = 2 + shape + 1 + 2 + data, layer = 4 + 1 + 2 + blob;
        put_varint(f, 100 << 3 | 2); put_varint(f, layer);
        put_varint(f, 1 << 3 | 2); put_varint(f, 2); fputs("fc", f);
        put_varint(f, 7 << 3 | 2); put_varint(f, blob);
        put_varint(f, 7 << 3 | 2); put_varint(f, shape);
        put_varint(f, 1 << 3 | 0); put_varint(f, 8);
        put_varint(f, 1 << 3 | 0); put_varint(f, 256);
        put_varint(f, 5 << 3 | 2); put_varint(f, data);
        for (i = 0; i < 8 * 256; i++) { float v = (float)(i % 17) * 0.01f; fwrite(&v, 4, 1, f); }
    }
    fclose(f);
}

static void test_caffe2xai(void)
{
    char cmd[1024];
    unsigned char *before;
    size_t blen;
    int rc;
    sh("rm -rf " FDIR "/c2x && mkdir -p " FDIR "/c2x");
    caffe_fixture(FDIR "/c2x/deploy.prototxt", FDIR "/c2x/w.caffemodel");
    snprintf(cmd, sizeof cmd, "bin/caffe2xai %s/c2x/deploy.prototxt %s/c2x/w.caffemodel -o %s/c2x/m.xai", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 0, FDIR "/c2x/log");
    CHECK(rc == 0, "caffe2xai converts the fixture (exit %d, see %s/c2x/log)", rc, FDIR);
    before = slurp(FDIR "/c2x/m.xai", &blen);
    CHECK(before && blen > 8192, "caffe2xai: a model of %zu bytes", blen);
    /* again, another scale, and the disk full after 4 KB */
    snprintf(cmd, sizeof cmd, "bin/caffe2xai %s/c2x/deploy.prototxt %s/c2x/w.caffemodel -o %s/c2x/m.xai --scale 0.5", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 4096, FDIR "/c2x/log");
    CHECK(rc == 1, "caffe2xai on a full disk: exit 1 (%d)", rc);
    CHECK(contains(FDIR "/c2x/log", "caffe2xai: ") && contains(FDIR "/c2x/log", "write error"), "caffe2xai on a full disk: says so on stderr");
    CHECK(before && same_bytes(FDIR "/c2x/m.xai", before, blen), "caffe2xai on a full disk: the earlier model keeps its bytes");
    CHECK(tmp_files(FDIR "/c2x") == 0, "caffe2xai on a full disk: no temporary file left");
    /* a new output on a full disk: no file at all */
    snprintf(cmd, sizeof cmd, "bin/caffe2xai %s/c2x/deploy.prototxt %s/c2x/w.caffemodel -o %s/c2x/new.xai", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 4096, FDIR "/c2x/log");
    CHECK(rc == 1 && access(FDIR "/c2x/new.xai", F_OK) != 0, "caffe2xai on a full disk: exit 1 (%d) and no output file", rc);
    free(before);
}

/* explain --png/--pfm on a full disk */
static void test_explain(void)
{
    char cmd[1024];
    unsigned char *before;
    size_t blen;
    int rc;
    xai_net *net = small_net(3, 5);
    xai_image img;
    sh("rm -rf " FDIR "/ex && mkdir -p " FDIR "/ex");
    xai_net_save(net, FDIR "/ex/m.xai");
    xai_net_free(net);
    picture(&img, 12, 12, 3);
    xai_image_write_pnm(FDIR "/ex/p.ppm", &img);
    xai_image_free(&img);
    snprintf(cmd, sizeof cmd, "bin/explain %s/ex/m.xai %s/ex/p.ppm --method lrp-eps --all %s/ex/all.png", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 0, FDIR "/ex/log");
    before = slurp(FDIR "/ex/all.png", &blen);
    CHECK(rc == 0 && before && blen > 1024, "explain --all writes a figure (exit %d, %zu bytes)", rc, blen);
    rc = run_limited(cmd, 1024, FDIR "/ex/log");
    CHECK(rc != 0 && rc != -1, "explain on a full disk: a non-zero exit, not a crash (%d)", rc);
    CHECK(contains(FDIR "/ex/log", "write error"), "explain on a full disk: says so");
    CHECK(before && same_bytes(FDIR "/ex/all.png", before, blen), "explain on a full disk: the earlier figure keeps its bytes");
    CHECK(tmp_files(FDIR "/ex") == 0, "explain on a full disk: no temporary file left");
    free(before);
}

/* The evaluator's fixture: a model, pictures and a list. */
static void aopc_fixture(const char *dir, int nimg)
{
    xai_net *net = small_net(3, 9);
    char path[512], list[8192];
    int i, len = 0;
    snprintf(path, sizeof path, "%s/m.xai", dir);
    xai_net_save(net, path);
    xai_net_free(net);
    for (i = 0; i < nimg; i++) {
        xai_image img;
        picture(&img, 12 + i % 2, 12, i);
        snprintf(path, sizeof path, "%s/img%02d.ppm", dir, i);
        xai_image_write_pnm(path, &img);
        xai_image_free(&img);
        len += snprintf(list + len, sizeof list - (size_t)len, "%s\n", path);
    }
    snprintf(path, sizeof path, "%s/list.txt", dir);
    test_write(path, list, (size_t)len);
}

#define AOPC_ARGS "--methods lrp-eps:0.01,sensitivity-l2,random --steps 10 --region 3 --repeats 2 --orders morf,lerf"

static void test_aopc_full_disk(void)
{
    char cmd[2048], ref[256], got[256];
    unsigned char *sum, *svg;
    size_t slen, vlen;
    int rc;
    sh("rm -rf " FDIR "/ev && mkdir -p " FDIR "/ev");
    aopc_fixture(FDIR "/ev", 12);
    snprintf(cmd, sizeof cmd, "bin/aopc %s/ev/m.xai --list %s/ev/list.txt " AOPC_ARGS " --out %s/ev/ref", FDIR, FDIR, FDIR);
    CHECK(run_limited(cmd, 0, FDIR "/ev/ref.log") == 0, "aopc: the uninterrupted reference run (see %s/ev/ref.log)", FDIR);
    snprintf(ref, sizeof ref, "%s/ev/ref/summary.tsv", FDIR);
    /* curves.tsv cannot grow past 6 KB: the run stops with an error after a few images */
    snprintf(cmd, sizeof cmd, "bin/aopc %s/ev/m.xai --list %s/ev/list.txt " AOPC_ARGS " --out %s/ev/run", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 6144, FDIR "/ev/run.log");
    CHECK(rc == 1, "aopc on a full disk: exit 1 (%d)", rc);
    CHECK(contains(FDIR "/ev/run.log", "write error"), "aopc on a full disk: says so");
    snprintf(got, sizeof got, "%s/ev/run/summary.tsv", FDIR);
    CHECK(access(got, F_OK) != 0, "aopc on a full disk: no summary from a partial run");
    /* room again: the rerun keeps the complete images, redoes the cut one, and ends as the reference */
    rc = run_limited(cmd, 0, FDIR "/ev/run.log");
    CHECK(rc == 0, "aopc resumes once there is room (%d)", rc);
    sum = slurp(ref, &slen);
    CHECK(sum && same_bytes(got, sum, slen), "aopc after a full disk: the summary of an uninterrupted run");
    /* everything done, the disk full again: the summary cannot be rewritten, and stays whole */
    snprintf(cmd, sizeof cmd, "%s/ev/run/aopc.svg", FDIR);
    svg = slurp(cmd, &vlen);
    snprintf(cmd, sizeof cmd, "bin/aopc %s/ev/m.xai --list %s/ev/list.txt " AOPC_ARGS " --out %s/ev/run", FDIR, FDIR, FDIR);
    rc = run_limited(cmd, 64, FDIR "/ev/run.log");
    CHECK(rc == 1, "aopc writing its summary on a full disk: exit 1 (%d)", rc);
    CHECK(contains(FDIR "/ev/run.log", "write error"), "aopc writing its summary on a full disk: says so");
    CHECK(sum && same_bytes(got, sum, slen), "aopc writing its summary on a full disk: summary.tsv keeps its bytes");
    snprintf(cmd, sizeof cmd, "%s/ev/run/aopc.svg", FDIR);
    CHECK(svg && same_bytes(cmd, svg, vlen), "aopc writing its summary on a full disk: aopc.svg keeps its bytes");
    CHECK(tmp_files(FDIR "/ev/run") == 0, "aopc on a full disk: no temporary file left");
    free(sum);
    free(svg);
}

/* ---- a real full filesystem: a tmpfs of a few pages in a private mount namespace ---- */

static int can_mount_tmpfs(void)
{
    return sh("unshare -m sh -c 'mkdir -p " FDIR "/probe && mount -t tmpfs -o size=16k tmpfs " FDIR "/probe' >/dev/null 2>&1") == 0;
}

static void test_tmpfs(void)
{
    char script[4096];
    size_t slen;
    unsigned char *sum;
    int rc;
    if (!can_mount_tmpfs()) {
        printf("SKIP no private tmpfs here (needs root and unshare -m): the full disk is simulated with RLIMIT_FSIZE only\n");
        return;
    }
    sh("rm -rf " FDIR "/fs " FDIR "/ts && mkdir -p " FDIR "/fs " FDIR "/ts");
    aopc_fixture(FDIR "/ts", 12);
    /* inside the namespace: 16 KB of tmpfs; aopc fills it, fails; the tmpfs grows; aopc resumes;
       then a filler eats the space and the rerun cannot write its summary.  Exit codes to files. */
    snprintf(script, sizeof script,
             "D=%s\n"
             "mount -t tmpfs -o size=16k tmpfs $D/fs || exit 9\n"
             "A=\"bin/aopc $D/ts/m.xai --list $D/ts/list.txt " AOPC_ARGS " --out $D/fs/run\"\n"
             "$A >$D/ts/1.log 2>&1; echo $? >$D/ts/1.rc\n"
             "mount -o remount,size=4m $D/fs\n"
             "$A >$D/ts/2.log 2>&1; echo $? >$D/ts/2.rc\n"
             "cp $D/fs/run/summary.tsv $D/ts/summary.tsv\n"
             "dd if=/dev/zero of=$D/fs/filler bs=4k >/dev/null 2>&1\n"
             "$A >$D/ts/3.log 2>&1; echo $? >$D/ts/3.rc\n"
             "cmp -s $D/fs/run/summary.tsv $D/ts/summary.tsv; echo $? >$D/ts/3.cmp\n"
             "ls $D/fs/run | grep -c '\\.tmp$' >$D/ts/3.tmp\n"
             "bin/xai-synth caffenet -o $D/fs/c.xai >$D/ts/4.log 2>&1; echo $? >$D/ts/4.rc\n"
             "ls $D/fs | grep -c '\\.tmp$' >$D/ts/4.tmp; ls $D/fs/c.xai >/dev/null 2>&1; echo $? >$D/ts/4.none\n",
             FDIR);
    test_write(FDIR "/ts/script.sh", script, strlen(script));
    rc = sh("unshare -m sh " FDIR "/ts/script.sh");
    CHECK(rc == 0, "the tmpfs script ran (%d)", rc);
    CHECK(contains(FDIR "/ts/1.rc", "1\n") && contains(FDIR "/ts/1.log", "write error"), "aopc on a full tmpfs: exit 1 and says so");
    CHECK(contains(FDIR "/ts/2.rc", "0\n"), "aopc resumes once the tmpfs has room");
    sum = slurp(FDIR "/ev/ref/summary.tsv", &slen);
    CHECK(sum && same_bytes(FDIR "/ts/summary.tsv", sum, slen), "aopc after a full tmpfs: the summary of an uninterrupted run");
    free(sum);
    CHECK(contains(FDIR "/ts/3.rc", "1\n") && contains(FDIR "/ts/3.log", "write error"), "aopc writing its summary on a full tmpfs: exit 1, says so");
    CHECK(contains(FDIR "/ts/3.cmp", "0\n"), "aopc writing its summary on a full tmpfs: summary.tsv keeps its bytes");
    CHECK(contains(FDIR "/ts/3.tmp", "0\n"), "aopc on a full tmpfs: no temporary file left");
    CHECK(contains(FDIR "/ts/4.rc", "1\n") && contains(FDIR "/ts/4.log", "write error"), "xai-synth on a full tmpfs: exit 1, says so");
    CHECK(contains(FDIR "/ts/4.tmp", "0\n") && contains(FDIR "/ts/4.none", "2\n"), "xai-synth on a full tmpfs: no file, no temporary file");
}

/* ---- devices: /dev/full and /dev/null as outputs ---- */

static int is_chardev(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

/* Device nodes of our own (mknod, as root): /dev/full (1, 7) fails every write with ENOSPC,
   /dev/null (1, 3) takes everything.  A writer must write into them, not rename a temporary over
   them (which as root would replace the machine's /dev/full with a regular file). */
static void test_devices(void)
{
    const char *full = FDIR "/dev/full", *null = FDIR "/dev/null";
    xai_net *net;
    xai_image img;
    int rc;
    sh("rm -rf " FDIR "/dev && mkdir -p " FDIR "/dev");
    if (sh("mknod " FDIR "/dev/full c 1 7 2>/dev/null && mknod " FDIR "/dev/null c 1 3 2>/dev/null") != 0 || !is_chardev(full)) {
        printf("SKIP mknod is not allowed here: no device outputs tested\n");
        return;
    }
    net = small_net(3, 4);
    rc = xai_file_write(full, "abc", 3);
    CHECK(rc == XAI_ERR_IO && strstr(xai_failure_reason(), "write error"), "xai_file_write to a full device: XAI_ERR_IO (%d): %s", rc, xai_failure_reason());
    CHECK(is_chardev(full), "xai_file_write to a full device: the device is still there");
    rc = xai_net_save(net, full);
    CHECK(rc == XAI_ERR_IO && is_chardev(full), "xai_net_save to a full device: XAI_ERR_IO (%d), the device stays", rc);
    picture(&img, 30, 20, 1);
#ifndef XAI_NO_IMAGE_WRITE
    rc = xai_image_write_png(full, &img);
    CHECK(rc == XAI_ERR_IO && is_chardev(full), "xai_image_write_png to a full device: XAI_ERR_IO (%d), the device stays", rc);
#endif
    rc = xai_image_write_pfm(null, &img);
    CHECK(rc == XAI_OK && is_chardev(null), "xai_image_write_pfm to a null device: written (%d), the device stays", rc);
    rc = xai_net_save(net, null);
    CHECK(rc == XAI_OK && is_chardev(null), "xai_net_save to a null device: written (%d), the device stays", rc);
    xai_image_free(&img);
    xai_net_free(net);
    CHECK(tmp_files(FDIR "/dev") == 0, "devices: no temporary file beside them");
    {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "bin/caffe2xai %s/c2x/deploy.prototxt %s/c2x/w.caffemodel -o %s", FDIR, FDIR, full);
        rc = run_limited(cmd, 0, FDIR "/dev/log");
        CHECK(rc == 1 && contains(FDIR "/dev/log", "write error") && is_chardev(full), "caffe2xai -o a full device: exit 1 (%d), says so, the device stays", rc);
    }
    {
        char cmd[1024];
        /* -o /dev/null: converted, nothing to read back, and the device is not removed */
        snprintf(cmd, sizeof cmd, "bin/caffe2xai %s/c2x/deploy.prototxt %s/c2x/w.caffemodel -o %s", FDIR, FDIR, null);
        rc = run_limited(cmd, 0, FDIR "/dev/log");
        CHECK(rc == 0 && is_chardev(null), "caffe2xai -o a null device: exit 0 (%d), the device stays", rc);
    }
}

/* A killed writer's temporary file is removed by the next writer of the same path, and only
   that: a live writer's, another path's and other names stay. */
static void test_stale_tmp(void)
{
    char live[512], killed[512] = "";
    const char *dead = FDIR "/stale/m.xai.999999999-0000abcd.tmp";   /* above any pid_max */
    const char *keep[] = {FDIR "/stale/other.xai.999999999-0000abcd.tmp", FDIR "/stale/m.xaix.999999999-0000abcd.tmp",
                          FDIR "/stale/m.xai.999999999-0000abcd.tmp.keep", FDIR "/stale/m.xai.999999999.tmp"};
    struct stat st;
    DIR *d;
    struct dirent *e;
    pid_t child;
    int k, status;
    sh("rm -rf " FDIR "/stale && mkdir -p " FDIR "/stale");
    snprintf(live, sizeof live, FDIR "/stale/m.xai.%lu-0000abcd.tmp", (unsigned long)getppid());
    fclose(fopen(dead, "w"));
    fclose(fopen(live, "w"));
    for (k = 0; k < 4; k++) fclose(fopen(keep[k], "w"));
    /* a writer killed midway: its temporary file stays behind */
    if ((child = fork()) == 0) {
        xai__out o;
        if (xai__out_open(&o, FDIR "/stale/m.xai") != XAI_OK) _exit(1);
        xai__out_write(&o, "half", 4);
        fflush(o.f);
        _exit(0);
    }
    waitpid(child, &status, 0);
    if ((d = opendir(FDIR "/stale")) != NULL) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "m.xai.%lu-", (unsigned long)child);
        while ((e = readdir(d)) != NULL)
            if (!strncmp(e->d_name, prefix, strlen(prefix))) snprintf(killed, sizeof killed, FDIR "/stale/%s", e->d_name);
        closedir(d);
    }
    CHECK(killed[0] && stat(killed, &st) == 0, "the killed writer left its temporary file (%s)", killed[0] ? killed : "none");
    CHECK(xai_file_write(FDIR "/stale/m.xai", "whole", 5) == XAI_OK, "the next writer: %s", xai_failure_reason());
    CHECK(killed[0] && stat(killed, &st) != 0, "the killed writer's temporary file is gone");
    CHECK(stat(dead, &st) != 0, "a temporary file of a pid that does not exist is gone");
    CHECK(stat(live, &st) == 0, "a live process's temporary file stays");
    for (k = 0; k < 4; k++) CHECK(stat(keep[k], &st) == 0, "%s stays", keep[k]);
    CHECK(tmp_files(FDIR "/stale") == 4, "4 files ending in .tmp remain (%d)", tmp_files(FDIR "/stale"));
}

int main(void)
{
    sh("rm -rf " FDIR " && mkdir -p " FDIR);
    test_library_writers();
    test_caffe2xai();
    test_explain();
    test_aopc_full_disk();
    test_tmpfs();
    test_devices();
    test_stale_tmp();
    if (!test_failed) sh("rm -rf " FDIR);
    return test_report();
}
