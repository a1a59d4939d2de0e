/* The command-line programs as a user meets them (issues 17 and 18): --help, --version and no
   arguments for every example and tool; every bad option value refused with the flag named; the
   warnings when a picture is adapted to the model; output names, folders and failed writes;
   explain's figures; caffe2xai's dropped reader layers and its stale temporaries.
   The programs are run from bin/ (XAI_TEST_BIN=DIR runs another build's, e.g. an older one). */
#include "../xai.h"
#include "tools.h"
#include "../tools/caffe_pb.h"
#include <sys/stat.h>

/* inside bin/ (the build's own folder), so that runs from two checkouts, or the sanitizer's shadow
   root, never share it */
#define D "bin/test_cli_files"
#define SHARED "../shared/caffe"

static const char *bin = "bin";
static char out_text[65536], err_text[65536];

/* Runs "BIN/prog args" with stdout and stderr captured into out_text and err_text; the exit status
   (-1 when killed by a signal). */
static int tool(const char *prog, const char *args)
{
    char cmd[8192];
    size_t len;
    unsigned char *p;
    int st;
    snprintf(cmd, sizeof cmd, "%s/%s %s >%s/stdout 2>%s/stderr", bin, prog, args, D, D);
    st = system(cmd);
    out_text[0] = err_text[0] = 0;
    if ((p = test_read(D "/stdout", &len)) != NULL) { snprintf(out_text, sizeof out_text, "%s", (char *)p); free(p); }
    if ((p = test_read(D "/stderr", &len)) != NULL) { snprintf(err_text, sizeof err_text, "%s", (char *)p); free(p); }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* width and height of a PNG file from its IHDR, 0 when it is none */
static void png_size(const char *path, unsigned *w, unsigned *h)
{
    size_t len;
    unsigned char *p = test_read(path, &len);
    *w = *h = 0;
    if (p && len > 24 && !memcmp(p + 1, "PNG", 3)) {
        *w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19];
        *h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 | (unsigned)p[22] << 8 | p[23];
    }
    free(p);
}

/* ---- --help, --version, no arguments -------------------------------------------------------------- */

typedef struct program {
    const char *name;
    const char *options;   /* every option the usage must explain, space-separated */
    int needs_args;        /* 0: runs without arguments (walkthrough) */
} program;

static const program programs[] = {
    {"classify", "--top", 1},
    {"explain", "--method --eps --alpha --class --png --heatmap-png --pfm --raw-pfm --overlay --cmap --clip --all", 1},
    {"training-curve", "--snapshots --log --list --out --methods --region --steps --repeats --perturb --seed", 1},
    {"walkthrough", "", 0},
    {"caffe2xai", "-o --mean --mean-pixel --labels --input --scale --channel-order --resize", 1},
    {"train", "--data --out --epochs --batch --lr --momentum --decay --seed --snapshot-every --snapshot-dir --log --train-limit --test-limit --flip", 1},
    {"xai-inspect", "--save", 1},
    {"xai-synth", "-o --seed", 1},
};

static void test_help(void)
{
    size_t k;
    for (k = 0; k < sizeof programs / sizeof *programs; k++) {
        const program *p = &programs[k];
        char opts[512], *o, *save;
        int rc = tool(p->name, "--help"), all = 1;
        snprintf(opts, sizeof opts, "%s", p->options);
        for (o = strtok_r(opts, " ", &save); o; o = strtok_r(NULL, " ", &save)) {
            char with_space[64];
            snprintf(with_space, sizeof with_space, "%s ", o);
            if (!strstr(out_text, with_space)) { printf("  %s --help does not explain %s\n", p->name, o); all = 0; }
        }
        {
            int help_ok = rc == 0 && !strncmp(out_text, "usage: ", 7) && strstr(out_text, "example: ") && strstr(out_text, "--version") &&
                          !err_text[0] && all && (!*p->options || strstr(out_text, "default"));
            int bare_rc = tool(p->name, p->needs_args ? "" : "extra");
            int bare_ok = p->needs_args ? bare_rc == 2 && !out_text[0] && !strncmp(err_text, "usage: ", 7)
                                        : bare_rc == 2 && !out_text[0] && strstr(err_text, "extra");
            CHECK(help_ok && bare_ok, "%s: --help gives the full usage with defaults and an example on stdout, exit 0 (rc %d); %s (rc %d)", p->name, rc,
                  p->needs_args ? "without arguments the usage goes to stderr, exit 2" : "an argument it does not take: exit 2 naming it", bare_rc);
        }
        rc = tool(p->name, "--version");
        CHECK(rc == 0 && strstr(out_text, XAI_VERSION_STRING) && strstr(out_text, p->name), "%s --version: '%.80s' (rc %d)", p->name, out_text, rc);
    }
    /* what explain's colours mean is in its usage */
    tool("explain", "--help");
    CHECK(strstr(out_text, "99.5") && strstr(out_text, "percentile"), "explain --help says signed maps are scaled by the 99.5th percentile");
}

/* ---- strict numbers and option values (issue 17.5) ------------------------------------------------ */

typedef struct bad {
    const char *prog, *args, *flag, *value;
} bad;

static void test_bad_values(void)
{
    static const bad cases[] = {
        {"classify", "models/fashion.xai examples/images/fashion_4_coat.pgm --top abc", "--top", "'abc'"},
        {"classify", "models/fashion.xai examples/images/fashion_4_coat.pgm --top 0", "--top", "'0'"},
        {"classify", "models/fashion.xai examples/images/fashion_4_coat.pgm --top 3x", "--top", "'3x'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --eps abc", "--eps", "'abc'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --eps 0", "--eps", "'0'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --eps -1", "--eps", "'-1'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --eps nan", "--eps", "'nan'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --alpha inf", "--alpha", "'inf'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --alpha 0.5", "--alpha", "'0.5'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --class abc", "--class", "'abc'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --class -1", "--class", "'-1'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --clip 100", "--clip", "'100'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --clip abc", "--clip", "'abc'"},
        {"explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --cmap jet", "--cmap", "'jet'"},
        {"training-curve", "--snapshots x --log x --list x --out " D "/tc --steps abc", "--steps", "'abc'"},
        {"training-curve", "--snapshots x --log x --list x --out " D "/tc --seed -1", "--seed", "'-1'"},
        {"training-curve", "--snapshots x --log x --list x --out " D "/tc --region 0", "--region", "'0'"},
        {"training-curve", "--snapshots x --log x --list x --out " D "/tc --repeats 2.5", "--repeats", "'2.5'"},
        {"training-curve", "--snapshots x --log x --list x --out " D "/tc --perturb noise", "--perturb", "'noise'"},
        {"train", "--data x --epochs abc", "--epochs", "'abc'"},
        {"train", "--data x --seed -1", "--seed", "'-1'"},
        {"train", "--data x --batch 6", "--batch", "'6'"},
        {"train", "--data x --lr inf", "--lr", "'inf'"},
        {"train", "--data x --momentum 1", "--momentum", "'1'"},
        {"train", "--data x --flip 2", "--flip", "'2'"},
        {"train", "--data x --train-limit 1e3", "--train-limit", "'1e3'"},
        {"xai-synth", "caffenet --seed -1 -o " D "/s.xai", "--seed", "'-1'"},
        {"xai-synth", "caffenet --seed abc -o " D "/s.xai", "--seed", "'abc'"},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof *cases; k++) {
        int rc = tool(cases[k].prog, cases[k].args);
        CHECK(rc == 2 && strstr(err_text, cases[k].flag) && strstr(err_text, cases[k].value) && !strstr(out_text, "heatmap") &&
                  !strstr(out_text, "train:") && !exists(D "/tc") && !exists(D "/s.xai"),
              "%s %s: refused naming %s and %s, exit 2, no output (rc %d, stderr '%.100s')", cases[k].prog, cases[k].args, cases[k].flag,
              cases[k].value, rc, err_text);
    }
    /* a class beyond the model's: refused before anything is written */
    {
        int rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-ab:2 --class 10 --pfm " D "/c10.pfm");
        CHECK(rc == 2 && strstr(err_text, "--class") && strstr(err_text, "'10'") && !exists(D "/c10.pfm"), "--class 10 of 10 classes: refused naming it (rc %d): '%s'",
              rc, err_text);
    }
}

/* ---- adapted pictures, output names (issue 18.4) --------------------------------------------------- */

static void test_adapted(void)
{
    int rc, quiet;
    /* the right size and channels: nothing to say */
    rc = tool("classify", "models/fashion.xai examples/images/fashion_4_coat.pgm --top 1");
    quiet = rc == 0 && !err_text[0];
    rc = tool("classify", "models/fashion.xai examples/images/chelsea.ppm --top 1");
    CHECK(quiet && rc == 0 && strstr(err_text, "warning") && strstr(err_text, "chelsea.ppm") && strstr(err_text, "colour") &&
              strstr(err_text, "grey") && strstr(err_text, "320 x 213") && strstr(err_text, "aspect ratio not kept"),
          "a 320 x 213 colour photo for the 28 x 28 grey model: warned (grey, resize, aspect); none for a fitting picture: '%s'", err_text);
    rc = tool("classify", D "/cnn.xai examples/images/fashion_4_coat.pgm --top 1");
    CHECK(rc == 0 && strstr(err_text, "grey") && strstr(err_text, "three channels") && strstr(err_text, "28 x 28") &&
              strstr(err_text, "aspect ratio kept"), "a grey 28 x 28 picture for the 24 x 24 colour model: warned: '%s'", err_text);
    rc = tool("explain", "models/fashion.xai examples/images/chelsea.ppm --method lrp-eps:0.01 --pfm " D "/chelsea.pfm");
    CHECK(rc == 0 && strstr(err_text, "warning") && strstr(err_text, "aspect ratio not kept") && exists(D "/chelsea.pfm"),
          "explain warns the same way and goes on: '%s'", err_text);

    /* an output name whose extension is another format's */
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --png " D "/x.jpg");
    CHECK(rc == 2 && strstr(err_text, "x.jpg") && strstr(err_text, ".png") && !exists(D "/x.jpg"), "--png x.jpg: refused (rc %d): '%s'", rc, err_text);
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --pfm " D "/x.png");
    CHECK(rc == 2 && strstr(err_text, "x.png") && !exists(D "/x.png"), "--pfm x.png: refused (rc %d)", rc);
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --all " D "/x.pfm");
    CHECK(rc == 2 && strstr(err_text, "x.pfm") && !exists(D "/x.pfm"), "--all x.pfm: refused (rc %d)", rc);
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --cmap jet --png " D "/jet.png");
    CHECK(rc == 2 && strstr(err_text, "jet") && !exists(D "/jet.png"), "--cmap jet: refused, not drawn as hot (rc %d)", rc);
}

/* ---- output folders, the user's file named, no success line after a failure (issue 18.5) ---------- */

static void test_outputs(void)
{
    int rc;
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --png " D "/new/deeper/h.png --pfm " D
                         "/new/other/h.pfm");
    CHECK(rc == 0 && exists(D "/new/deeper/h.png") && exists(D "/new/other/h.pfm"), "--png and --pfm create their folders (rc %d): '%s'", rc, err_text);
    /* a folder that cannot be made: a file stands where it should be */
    test_write(D "/afile", "x", 1);
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --png " D "/afile/h.png");
    CHECK(rc != 0 && strstr(err_text, D "/afile/h.png") && !strstr(err_text, ".tmp") && !strstr(out_text, "heatmap"),
          "an unwritable --png: the error names the file asked for, not a temporary; no result line (rc %d): '%s'", rc, err_text);
    /* a write that fails midway (a full disk): no result line */
    if (exists("/dev/full")) {
        rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --pfm /dev/full");
        CHECK(rc == 1 && !strstr(out_text, "heatmap") && strstr(err_text, "/dev/full"), "--pfm /dev/full: exit 1 and no result line (rc %d): '%s'", rc, out_text);
        rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --all /dev/full");
        CHECK(rc == 1 && !strstr(out_text, "wrote") && !strstr(out_text, "f_c"), "--all /dev/full: exit 1 and no result line (rc %d): '%s'", rc, out_text);
    }
}

/* ---- explain's figures (issue 18.2) ---------------------------------------------------------------- */

static void test_figures(void)
{
    unsigned w, h;
    int rc;
    xai_net *net;
    rc = tool("explain", "models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 --png " D "/fig.png --heatmap-png " D
                         "/bare.png");
    png_size(D "/fig.png", &w, &h);
    CHECK(rc == 0 && w >= 224 && h >= 224 + 40, "--png of a 28 x 28 map: at least 224 pixels plus title and colour bar (%u x %u)", w, h);
    png_size(D "/bare.png", &w, &h);
    CHECK(rc == 0 && w == 28 && h == 28, "--heatmap-png: the bare map, a pixel a value (%u x %u)", w, h);
    CHECK(strstr(out_text, "99.5th percentile of |h|"), "the scale of a signed map is said: '%s'", out_text);
    /* an all-zero map (a model whose weights are all 0) is said to be so, in words and in the figure */
    if ((net = xai_net_load(D "/cnn.xai")) != NULL) {
        memset(net->params, 0, net->nparams * sizeof(float));
        xai_net_save(net, D "/zero.xai");
        xai_net_free(net);
    }
    rc = tool("explain", D "/zero.xai " D "/img00.ppm --method lrp-eps:0.01 --png " D "/zero.png --class 1");
    CHECK(rc == 0 && exists(D "/zero.png") && strstr(out_text, "all zero"), "an all-zero map is said to be so (rc %d): '%s'", rc, out_text);
}

/* ---- caffe2xai: readers of the scores dropped with a note; stale temporaries (18.7, 17.6) --------- */

static const char reader_net[] =
    "name: \"readers\"\n"
    "layer { name: \"data\" type: \"Input\" top: \"data\" input_param { shape: { dim: 1 dim: 1 dim: 4 dim: 4 } } }\n"
    "layer { name: \"label\" type: \"Input\" top: \"label\" input_param { shape: { dim: 1 } } include { phase: TRAIN } }\n"
    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" inner_product_param { num_output: 3 } }\n"
    "layer { name: \"prob\" type: \"Softmax\" bottom: \"fc\" top: \"prob\" }\n"
    "layer { name: \"argmax\" type: \"ArgMax\" bottom: \"prob\" top: \"argmax\" }\n"
    "layer { name: \"accuracy\" type: \"Accuracy\" bottom: \"fc\" bottom: \"label\" top: \"accuracy\" }\n"
    "layer { name: \"loss\" type: \"SoftmaxWithLoss\" bottom: \"fc\" bottom: \"label\" top: \"loss\" }\n"
    "layer { name: \"sink\" type: \"Silence\" bottom: \"argmax\" }\n";

static void test_caffe_readers(void)
{
    xai_net *net;
    char text[4096];
    const char *note;
    int rc;
    net = cpb_net_from_prototxt(reader_net, strlen(reader_net), "readers.prototxt", NULL);
    note = cpb_dropped_note();
    CHECK(net && net->nlayer == 2 && strstr(note, "'argmax' (ArgMax)") && strstr(note, "'accuracy' (Accuracy)") &&
              strstr(note, "'loss' (SoftmaxWithLoss)") && strstr(note, "'sink' (Silence)"),
          "ArgMax, Accuracy, a loss and Silence after the scores are dropped and named (%s; note '%s')", net ? "built" : cpb_failure_reason(), note);
    xai_net_free(net);
    /* only those are dropped: a layer that reads what a dropped reader made cannot run, and other
       layer types xai.h does not run are refused as before */
    {
        char why_after[1200];
        int after_refused, odd_refused;
        snprintf(text, sizeof text, "%slayer { name: \"after\" type: \"ReLU\" bottom: \"argmax\" top: \"after\" }\n", reader_net);
        net = cpb_net_from_prototxt(text, strlen(text), "readers.prototxt", NULL);
        after_refused = !net && strstr(cpb_failure_reason(), "'after'") && strstr(cpb_failure_reason(), "ArgMax");
        snprintf(why_after, sizeof why_after, "%s", cpb_failure_reason());
        xai_net_free(net);
        snprintf(text, sizeof text, "%slayer { name: \"odd\" type: \"Reduction\" bottom: \"fc\" top: \"odd\" }\n", reader_net);
        net = cpb_net_from_prototxt(text, strlen(text), "readers.prototxt", NULL);
        odd_refused = !net && strstr(cpb_failure_reason(), "Reduction") && strstr(cpb_failure_reason(), "not supported");
        CHECK(after_refused && odd_refused, "a layer reading ArgMax's top is refused (%s), and so is a Reduction layer (%s)", why_after, cpb_failure_reason());
        xai_net_free(net);
    }

    /* the tool on a real deploy file that ends in ArgMax (LeNet from ../shared, when present) */
    {
        size_t len;
        unsigned char *deploy = test_read(SHARED "/lenet_v2/lenet.prototxt", &len);
        if (!deploy || !exists(SHARED "/lenet_v2/lenet_iter_10000.caffemodel")) {
            printf("SKIP caffe2xai on LeNet with ArgMax: %s absent\n", SHARED "/lenet_v2");
            free(deploy);
            return;
        }
        test_write(D "/lenet_argmax.prototxt", deploy, len);
        free(deploy);
        {
            FILE *f = fopen(D "/lenet_argmax.prototxt", "ab");
            if (f) { fputs("layer { name: \"argmax\" type: \"ArgMax\" bottom: \"prob\" top: \"argmax\" }\n", f); fclose(f); }
        }
        /* a temporary a killed run left beside the output */
        mkdir(D "/models", 0777);
        test_write(D "/models/lenet.xai.0badc0de.tmp", "half", 4);
        test_write(D "/models/lenet.xai.keep.tmp", "other", 5);
        rc = tool("caffe2xai", D "/lenet_argmax.prototxt " SHARED "/lenet_v2/lenet_iter_10000.caffemodel -o " D "/models/lenet.xai --scale 0.00390625");
        CHECK(rc == 0 && strstr(err_text, "note") && strstr(err_text, "'argmax' (ArgMax)") && exists(D "/models/lenet.xai"),
              "caffe2xai converts a deploy file ending in ArgMax, with a note naming it (rc %d): '%s'", rc, err_text);
        CHECK(rc == 0 && !exists(D "/models/lenet.xai.0badc0de.tmp") && exists(D "/models/lenet.xai.keep.tmp"),
              "the stale OUT.XXXXXXXX.tmp of a killed run is removed by the next run, nothing else");
        rc = tool("caffe2xai", D "/lenet_argmax.prototxt " SHARED "/lenet_v2/lenet_iter_10000.caffemodel -o " D "/new/models/lenet.xai --scale 0.00390625");
        CHECK(rc == 0 && exists(D "/new/models/lenet.xai"), "caffe2xai -o creates its folders (rc %d): '%s'", rc, err_text);
        rc = tool("caffe2xai", D "/lenet_argmax.prototxt " SHARED "/lenet_v2/lenet_iter_10000.caffemodel -o " D "/lenet.pfm");
        CHECK(rc == 2 && strstr(err_text, ".xai") && !exists(D "/lenet.pfm"), "caffe2xai -o lenet.pfm: refused (rc %d)", rc);
    }
}

/* ---- a version 1 model (no checksums): a note, and xai-inspect --save upgrades it ------------------ */

static unsigned rd32le(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24; }

static void test_old_model(void)
{
    size_t len, at, data;
    unsigned char *f = test_read("models/fashion.xai", &len);
    char first[4096];
    int rc;
    CHECK(f && len > 64 && rd32le(f + 8) == 2, "models/fashion.xai is a version 2 file");
    if (!f || len <= 64) { free(f); return; }
    /* version 1: no checksums in bytes 48..63, no channel scale after the resize fields */
    data = rd32le(f + 24);
    at = 64 + 4 + rd32le(f + 64);
    at += 4 + rd32le(f + at) + 12 + 4 + 4 + 4 + 12 + 12 + 8 + 8;
    f[8] = 1; f[9] = f[10] = f[11] = 0;
    memset(f + 48, 0, 16);
    memmove(f + at, f + at + 12, data - at - 12);
    memset(f + data - 12, 0, 12);
    test_write(D "/old.xai", f, len);
    free(f);
    rc = tool("classify", D "/old.xai examples/images/fashion_4_coat.pgm --top 1");
    CHECK(rc == 0 && strstr(err_text, "note: " D "/old.xai") && strstr(err_text, "no checksums") && strstr(out_text, "Coat"),
          "a version 1 model classifies with a note (rc %d): '%s'", rc, err_text);
    snprintf(first, sizeof first, "%s", strstr(out_text, "rank") ? strstr(out_text, "rank") : "");
    rc = tool("xai-inspect", D "/old.xai --save " D "/up/new.xai");
    CHECK(rc == 0 && exists(D "/up/new.xai") && !strstr(err_text, "note"), "xai-inspect --save writes it again (rc %d): '%s'", rc, err_text);
    rc = tool("classify", D "/up/new.xai examples/images/fashion_4_coat.pgm --top 1");
    CHECK(rc == 0 && !strstr(err_text, "note") && first[0] && strstr(out_text, first), "the saved model: no note, the same scores (rc %d): '%s'",
          rc, err_text);
    f = test_read(D "/up/new.xai", &len);
    CHECK(f && len > 12 && rd32le(f + 8) == 2, "the saved model is version 2");
    free(f);
}

int main(void)
{
    const char *env = getenv("XAI_TEST_BIN");
    if (env && *env) bin = env;
    if (run("rm -rf " D) != 0) printf("could not clear %s\n", D);
    mkdir(D, 0777);
    test_cnn_fixture(D, 1, 7, 0);
    test_help();
    test_bad_values();
    test_adapted();
    test_outputs();
    test_figures();
    test_caffe_readers();
    test_old_model();
    run("rm -rf " D);
    return test_report();
}
