/* The fuzzers' findings, kept: every file in tests/fuzz/regressions/<target>/ once crashed, hung
   or over-allocated in that reader.  Each goes through what its fuzz target does (tests/fuzz/),
   with the same allocation budget, and must now either load and run, or fail with a reason.
   Under make test-sanitize, ASan and UBSan watch each one. */
#include "fuzz/fuzz.h"
#include "../tools/caffe_pb.h"
#include "fuzz/caffe_nets.h"
#include "test.h"
#include <dirent.h>
#include <time.h>

#define REG_DIR "tests/fuzz/regressions"

static int reg_xai(const unsigned char *d, size_t len)
{
    xai_net *net;
    fuzz_set_budget(len);
    if (!(net = xai_net_load_memory(d, len, "regression.xai"))) return -1;
    fuzz_run_net(net);
    xai_net_free(net);
    return 0;
}

static int reg_image(const unsigned char *d, size_t len)
{
    xai_image img;
    fuzz_set_budget(len);
    if (xai_image_load_memory(d, len, "regression.ppm", &img) != XAI_OK) return -1;
    xai_image_free(&img);
    return 0;
}

static int reg_caffemodel(const unsigned char *d, size_t len)
{
    const char *protos[2] = {fuzz_tiny_prototxt, fuzz_lenet_prototxt};
    int i, ok = -1;
    for (i = 0; i < 2; i++) {
        xai_net *net = cpb_net_from_prototxt(protos[i], strlen(protos[i]), "deploy.prototxt", NULL);
        fuzz_set_budget(len);
        if (net && cpb_net_load_weights(net, d, len, "regression.caffemodel") == XAI_OK) { fuzz_run_net(net); ok = 0; }
        xai_net_free(net);
    }
    return ok;
}

static int reg_prototxt(const unsigned char *d, size_t len)
{
    xai_net *net;
    fuzz_set_budget(len);
    if (!(net = cpb_net_from_prototxt((const char *)d, len, "regression.prototxt", NULL))) return -1;
    xai_net_free(net);
    return 0;
}

static int reg_binaryproto(const unsigned char *d, size_t len)
{
    int c, h, w;
    float *mean = NULL;
    fuzz_set_budget(len);
    if (cpb_read_blobproto(d, len, "regression.binaryproto", &c, &h, &w, &mean) != XAI_OK) return -1;
    free(mean);
    return 0;
}

static int reg_labels(const unsigned char *d, size_t len)
{
    xai_net *net = xai_net_new("labels");
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    size_t i, lines = 0;
    int rc;
    for (i = 0; i < len; i++) lines += d[i] == '\n';
    if (len && d[len - 1] != '\n') lines++;
    fc.num_output = lines && lines <= 4096 ? (int)lines : 1;
    xai_net_input(net, "data", 1, 1, 1);
    xai_net_add(net, "fc", &fc, "data", "fc");
    xai_net_finalize(net);
    fuzz_set_budget(len);
    rc = cpb_net_set_labels(net, (const char *)d, len, "regression.txt") == XAI_OK ? 0 : -1;
    xai_net_free(net);
    return rc;
}

typedef struct reg_target {
    const char *name;
    int (*run)(const unsigned char *, size_t);
    int caffe;   /* the reason is cpb_failure_reason(), else xai_failure_reason() */
} reg_target;

int main(void)
{
    static const reg_target targets[] = {{"xai", reg_xai, 0},           {"image", reg_image, 0},           {"caffemodel", reg_caffemodel, 1},
                                         {"prototxt", reg_prototxt, 1}, {"binaryproto", reg_binaryproto, 1}, {"labels", reg_labels, 1}};
    size_t t;
    int files = 0;
    for (t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[256];
        DIR *d;
        struct dirent *e;
        snprintf(dir, sizeof dir, "%s/%s", REG_DIR, targets[t].name);
        if (!(d = opendir(dir))) continue;
        while ((e = readdir(d)) != NULL) {
            char path[600];
            unsigned char *data;
            size_t len;
            clock_t t0;
            double secs;
            int rc;
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (!(data = test_read(path, &len))) { CHECK(0, "%s: cannot read", path); continue; }
            files++;
            cpb_reason[0] = 0;
            xai_failure_reason();
            t0 = clock();
            rc = targets[t].run(data, len);
            secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
            if (rc != 0) {
                const char *why = targets[t].caffe ? cpb_failure_reason() : xai_failure_reason();
                CHECK(why[0] != 0, "%s: refused without a reason", path);
            } else {
                CHECK(1, "%s: loads and runs", path);
            }
            CHECK(secs < 2.0, "%s: %.2f s of CPU", path, secs);
            free(data);
        }
        closedir(d);
    }
    printf("%d regression inputs from %s\n", files, REG_DIR);
    CHECK(files > 0, "no regression inputs found in %s (run from the repository root)", REG_DIR);
    return test_report();
}
