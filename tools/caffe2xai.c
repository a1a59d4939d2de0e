/* caffe2xai: a Caffe model (deploy prototxt, caffemodel, mean, labels) as an .xai model file.
   Build: cc -O2 tools/caffe2xai.c -o caffe2xai -lm
   Usage: caffe2xai DEPLOY.prototxt WEIGHTS.caffemodel -o MODEL.xai [--mean MEAN.binaryproto | --mean-pixel B,G,R]
                    [--labels synset_words.txt] [--input C,H,W] [--scale S] [--channel-order bgr|rgb|gray] [--resize W,H]

   The deploy prototxt defines the net (Caffe's TEST net: Data layers and layers with include
   { phase: TRAIN } are dropped; so are the layers that only read the scores - ArgMax, Accuracy,
   the losses, Silence - with a note naming them); the weights are copied from the caffemodel by layer
   name, every blob's shape checked.  Both caffemodel encodings are read (V1 of the 2014 BVLC
   releases, V2 of later Caffe), without libprotobuf: see caffe_pb.h.

   A caffemodel does not record how pictures become input, so these defaults apply:
   - channel order: BGR for a 3-channel input (Caffe's ImageNet models read OpenCV's BGR), gray for
     a 1-channel one; --channel-order rgb for nets trained on RGB data (Caffe's CIFAR-10 examples).
   - scale 1 (pixels 0..255); Caffe's LeNet wants --scale 0.00390625.
   - no mean unless given.  --mean reads a .binaryproto mean image (ILSVRC's 3x256x256); when it is
     larger than the input, pictures are resized to the mean's size, the mean subtracted and the
     centre cropped (Caffe's 256 -> 227 path), else resized straight to the input size.
     --mean-pixel gives one value per channel, in the network's channel order (B,G,R for ImageNet).
   - --resize W,H overrides the size pictures are resized to before the centre crop.
   - --input C,H,W gives the input size when the prototxt has none (a train_val prototxt), or
     replaces it.
   Labels: one a line, as many as the net has classes.
   Errors: "caffe2xai: <reason>" on stderr, exit status 1, and no output file. */
#if !defined(_DEFAULT_SOURCE) && !defined(_WIN32)
#define _DEFAULT_SOURCE   /* madvise and MADV_DONTNEED under -std=c99 (glibc hides them otherwise) */
#endif
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../examples/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define C2X_MMAP 1
#endif

/* The caffemodel is mapped, not read, where the system can: the weights are copied out of the
   mapping into the net, and each copied stretch is handed back (madvise DONTNEED: its pages leave
   memory and would be read from the file again if touched), so the conversion holds the weights
   about once, not twice.  Elsewhere, or for what cannot be mapped (a pipe), the file is read. */
static const unsigned char *c2x_map_start;
static size_t c2x_map_len;

static void c2x_release(const unsigned char *p, size_t n)
{
#ifdef C2X_MMAP
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)p + n;
    if (!c2x_map_start || p < c2x_map_start || p + n > c2x_map_start + c2x_map_len || page == 0 || page == (size_t)-1) return;
    a = (a + page - 1) / page * page;   /* whole pages inside the stretch */
    b = b / page * page;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
#else
    (void)p; (void)n;
#endif
}
#define CPB_RELEASE(p, n) c2x_release(p, n)
#include "caffe_pb.h"

/* The file mapped (*mapped = 1) or read (*mapped = 0); NULL with the reason set on failure. */
static unsigned char *c2x_load_weights_file(const char *path, size_t *len, int *mapped)
{
#ifdef C2X_MMAP
    struct stat st;
    int fd = open(path, O_RDONLY);
    *mapped = 0;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (unsigned long long)st.st_size <= CPB_MAX_FILE) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m != MAP_FAILED) {
            c2x_map_start = (const unsigned char *)m;
            c2x_map_len = (size_t)st.st_size;
            *len = (size_t)st.st_size;
            *mapped = 1;
            return (unsigned char *)m;
        }
    } else if (fd >= 0) {
        close(fd);
    }
#else
    *mapped = 0;
#endif
    return cpb_read_file(path, CPB_MAX_FILE, len);
}

static void c2x_unload_weights_file(unsigned char *buf, size_t len, int mapped)
{
#ifdef C2X_MMAP
    if (mapped) {
        munmap(buf, len);
        c2x_map_start = NULL;
        c2x_map_len = 0;
        return;
    }
#endif
    (void)len; (void)mapped;
    CPB_FREE(buf);
}

static const char caffe2xai_usage[] =
    "usage: caffe2xai DEPLOY.prototxt WEIGHTS.caffemodel -o MODEL.xai [options]\n"
    "A Caffe model as an .xai file, without libprotobuf: both caffemodel encodings (V1 of 2014, V2).\n"
    "Data layers are dropped; so are ArgMax, Accuracy, loss and Silence layers (they only read the\n"
    "scores), with a note naming them; any other layer type xai.h does not run is an error.\n"
    "\n"
    "  -o MODEL.xai              the model to write (folders are created; nothing is written on an error)\n"
    "  --mean MEAN.binaryproto   mean image (BlobProto, network channel order); a mean larger than the input\n"
    "                            means: resize pictures to the mean's size, subtract, crop the centre\n"
    "                            (default: no mean)\n"
    "  --mean-pixel B,G,R        mean per channel, in the network's channel order (one value for gray)\n"
    "  --labels FILE             class names, one a line (synset_words.txt), as many as the classes\n"
    "                            (default: none)\n"
    "  --input C,H,W             input size, when the prototxt gives none (or to replace it)\n"
    "  --scale S                 input = (pixel - mean) * S, S > 0; default 1 (Caffe's LeNet: 0.00390625)\n"
    "  --channel-order ORDER     bgr, rgb or gray; default bgr for 3 channels, gray for 1\n"
    "  --resize W,H              resize pictures to W x H, then crop the centre (default: the mean's size\n"
    "                            when it is larger than the input, else straight to the input size)\n"
    "  --help                    this text;   --version   the version of xai.h\n"
    "\n"
    "example: caffe2xai deploy.prototxt bvlc_reference_caffenet.caffemodel -o models/caffenet.xai \\\n"
    "             --mean imagenet_mean.binaryproto --labels synset_words.txt\n";

static int c2x_fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "caffe2xai: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

/* "a,b,c": exactly n positive integers (max allowed) */
static int c2x_ints(const char *s, int n, int *out)
{
    int i;
    for (i = 0; i < n; i++) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > (1 << 24) || *end != (i == n - 1 ? '\0' : ',')) return 0;
        out[i] = (int)v;
        s = end + 1;
    }
    return 1;
}

/* "a,b,c": 1 to 3 finite numbers; returns the count, 0 on a bad list */
static int c2x_floats(const char *s, float *out)
{
    int n = 0;
    for (;;) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v >= -1e30 && v <= 1e30) || n == 3) return 0;
        out[n++] = (float)v;
        if (*end == 0) return n;
        if (*end != ',') return 0;
        s = end + 1;
    }
}

static const char *c2x_order_name(int order) { return order == XAI_ORDER_BGR ? "BGR" : order == XAI_ORDER_RGB ? "RGB" : "gray"; }

static int caffe2xai_main(int argc, char **argv)
{
    const char *prototxt = NULL, *weights = NULL, *out = NULL, *mean = NULL, *mean_pixel = NULL, *labels = NULL;
    const char *input = NULL, *scale = NULL, *order = NULL, *resize = NULL;
    int i, chw[3], rs[2] = {0, 0}, norder = -1, npix = 0;
    float pix[3] = {0, 0, 0}, sc = 1;
    unsigned char *buf = NULL;
    size_t len;
    xai_net *net = NULL;
    char summary[512];
    cli_tool = "caffe2xai";
    if (argc < 2) { fputs(caffe2xai_usage, stderr); return 2; }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(caffe2xai_usage, stdout); return 0; }
        if (!strcmp(a, "--version")) { printf("caffe2xai (xai.h %s)\n", XAI_VERSION_STRING); return 0; }
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "-o")) slot = &out;
        else if (!strcmp(a, "--mean")) slot = &mean;
        else if (!strcmp(a, "--mean-pixel")) slot = &mean_pixel;
        else if (!strcmp(a, "--labels")) slot = &labels;
        else if (!strcmp(a, "--input")) slot = &input;
        else if (!strcmp(a, "--scale")) slot = &scale;
        else if (!strcmp(a, "--channel-order")) slot = &order;
        else if (!strcmp(a, "--resize")) slot = &resize;
        else if (a[0] == '-' && a[1]) { fputs(caffe2xai_usage, stderr); return c2x_fail("unknown option %s", a); }
        else if (!prototxt) { prototxt = a; continue; }
        else if (!weights) { weights = a; continue; }
        else { fputs(caffe2xai_usage, stderr); return c2x_fail("one prototxt and one caffemodel, then options: what is '%s'?", a); }
        if (i + 1 >= argc) return c2x_fail("%s needs a value", a);
        *slot = argv[++i];
    }
    if (!prototxt || !weights || !out) { fputs(caffe2xai_usage, stderr); return c2x_fail("%s", "a prototxt, a caffemodel and -o OUT are needed"); }
    if ((i = cli_check_output("-o", out, ".xai")) != 0) return i;
    cli_remove_stale_temporaries(out);
    if (mean && mean_pixel) return c2x_fail("%s", "--mean and --mean-pixel exclude each other");
    if (input && !c2x_ints(input, 3, chw)) return c2x_fail("--input '%s': give C,H,W, three positive integers", input);
    if (resize && !c2x_ints(resize, 2, rs)) return c2x_fail("--resize '%s': give W,H, two positive integers", resize);
    if (mean_pixel && !(npix = c2x_floats(mean_pixel, pix))) return c2x_fail("--mean-pixel '%s': give 1 or 3 numbers (B,G,R)", mean_pixel);
    if (scale) {
        char *end;
        double v = strtod(scale, &end);
        if (end == scale || *end || !(v > 0 && v <= 1e30)) return c2x_fail("--scale '%s': give a positive number", scale);
        sc = (float)v;
    }
    if (order) {
        if (!strcmp(order, "bgr") || !strcmp(order, "BGR")) norder = XAI_ORDER_BGR;
        else if (!strcmp(order, "rgb") || !strcmp(order, "RGB")) norder = XAI_ORDER_RGB;
        else if (!strcmp(order, "gray") || !strcmp(order, "grey")) norder = XAI_ORDER_GRAY;
        else return c2x_fail("--channel-order '%s': bgr, rgb or gray", order);
    }

    /* the net from the prototxt; then preprocessing, so that finalizing derives the input's mean */
    if (!(buf = cpb_read_file(prototxt, CPB_MAX_TEXT, &len))) return c2x_fail("%s", cpb_failure_reason());
    net = cpb_net_from_prototxt((const char *)buf, len, prototxt, input ? chw : NULL);
    CPB_FREE(buf);
    buf = NULL;
    if (!net) return c2x_fail("%s", cpb_failure_reason());
    if (cpb_dropped_note()[0]) fprintf(stderr, "caffe2xai: note: dropped %s: they only read the scores, which is all xai.h needs\n", cpb_dropped_note());
    if (norder < 0) norder = net->input_c == 3 ? XAI_ORDER_BGR : XAI_ORDER_GRAY;
    if ((norder == XAI_ORDER_GRAY) != (net->input_c == 1) && (order || net->input_c == 1 || net->input_c == 3)) {
        snprintf(summary, sizeof summary, "channel order %s does not fit the %d-channel input", c2x_order_name(norder), net->input_c);
        xai_net_free(net);
        return c2x_fail("%s", summary);
    }
    net->pre.channel_order = norder;
    net->pre.scale = sc;
    if (mean_pixel) {
        if (npix != net->input_c) {
            snprintf(summary, sizeof summary, "--mean-pixel has %d values, the input %d channels", npix, net->input_c);
            xai_net_free(net);
            return c2x_fail("%s", summary);
        }
        net->pre.mean_kind = XAI_MEAN_PIXEL;
        memcpy(net->pre.mean_pixel, pix, sizeof pix);
    }

    /* the weights: the file stays in memory while they are copied into the net, then goes */
    {
        int mapped;
        if (!(buf = c2x_load_weights_file(weights, &len, &mapped))) { xai_net_free(net); return c2x_fail("%s", cpb_failure_reason()); }
        i = cpb_net_load_weights(net, buf, len, weights);
        c2x_unload_weights_file(buf, len, mapped);
        buf = NULL;
    }
    if (i != XAI_OK) { xai_net_free(net); return c2x_fail("%s", cpb_failure_reason()); }

    if (mean) {
        if (!(buf = cpb_read_file(mean, CPB_MAX_FILE, &len)) || cpb_net_set_mean(net, buf, len, mean) != XAI_OK) {
            CPB_FREE(buf);
            xai_net_free(net);
            return c2x_fail("%s", cpb_failure_reason());
        }
        CPB_FREE(buf);
        buf = NULL;
    }
    if (resize) {
        if (rs[0] < net->input_w || rs[1] < net->input_h) {
            snprintf(summary, sizeof summary, "--resize %dx%d is smaller than the %dx%d input", rs[0], rs[1], net->input_w, net->input_h);
            xai_net_free(net);
            return c2x_fail("%s", summary);
        }
        net->pre.resize_w = rs[0];
        net->pre.resize_h = rs[1];
    }
    if (labels) {
        if (!(buf = cpb_read_file(labels, (size_t)1 << 30, &len)) || cpb_net_set_labels(net, (const char *)buf, len, labels) != XAI_OK) {
            CPB_FREE(buf);
            xai_net_free(net);
            return c2x_fail("%s", cpb_failure_reason());
        }
        CPB_FREE(buf);
        buf = NULL;
    }
    if (xai_net_save(net, out) != XAI_OK) { xai_net_free(net); return c2x_fail("%s", xai_failure_reason()); }

    /* what xai.h programs will see: read it back (a file they cannot read is no output); a device
       or a pipe (-o /dev/null) has nothing to read back, and is not ours to remove */
    {
        struct stat st;
        if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) goto summary;
    }
    xai_net_free(net);
    if (!(net = xai_net_load(out))) {
        fprintf(stderr, "caffe2xai: the written model does not load, so it is removed: %s\n", xai_failure_reason());
        remove(out);
        return 1;
    }
summary:
    {
        size_t o = 0, params = 0;
        const xai_preprocess *pre = &net->pre;
        for (i = 0; i < net->nlayer; i++) params += net->layer[i].weight_count + net->layer[i].bias_count;
        o += (size_t)snprintf(summary + o, sizeof summary - o, "%s: %s, %d layers, input '%s' %dx%dx%d, %zu parameters, %d classes", out, net->name,
                              net->nlayer, net->blob[net->input_blob].name, net->input_c, net->input_h, net->input_w, params,
                              xai_net_num_classes(net));
        o += (size_t)snprintf(summary + o, sizeof summary - o, ", %s", c2x_order_name(pre->channel_order));
        if (pre->scale != 1) o += (size_t)snprintf(summary + o, sizeof summary - o, ", scale %g", pre->scale);
        if (pre->mean_kind == XAI_MEAN_IMAGE) o += (size_t)snprintf(summary + o, sizeof summary - o, ", mean image %dx%dx%d", pre->mean_c, pre->mean_h, pre->mean_w);
        if (pre->mean_kind == XAI_MEAN_PIXEL) o += (size_t)snprintf(summary + o, sizeof summary - o, ", mean pixel %g,%g,%g", pre->mean_pixel[0], pre->mean_pixel[1], pre->mean_pixel[2]);
        if (pre->resize_w) o += (size_t)snprintf(summary + o, sizeof summary - o, ", resize %dx%d", pre->resize_w, pre->resize_h);
        if (net->nlabel && o < sizeof summary) snprintf(summary + o, sizeof summary - o, ", %d labels", net->nlabel);
        printf("%s\n", summary);
    }
    xai_net_free(net);
    return 0;
}

#ifndef CAFFE2XAI_NO_MAIN
int main(int argc, char **argv) { return caffe2xai_main(argc, argv); }
#endif
