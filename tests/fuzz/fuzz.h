/* What every fuzz target shares: xai.h (and the Caffe readers) built over a budgeted allocator.
   A reader may allocate only what its input can justify: a single block larger than
   FUZZ_RATIO x the input + 1 MiB aborts the run, so libFuzzer reports it as a crash with the input.
   Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined; with -DFUZZ_MAIN a target
   is a plain program that runs the files named on its command line once (no libFuzzer needed). */
#ifndef XAI_FUZZ_H
#define XAI_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FUZZ_FN static __attribute__((unused))
#else
#define FUZZ_FN static
#endif

#define FUZZ_RATIO 64
/* The largest net fuzz_run_net runs, in multiply-adds an image (fuzz_net_work).  In the fuzz build
   (coverage, ASan, UBSan) a run costs about 0.6 us of CPU per multiply-add: the largest takes about
   0.7 s of CPU (2 s of wall time on a loaded 2-core machine), well within the 10 s of wall time
   libFuzzer allows an input before it reports a hang (run.sh's -timeout).  Without this bound a
   LeNet-sized net took 3.4 s and a CIFAR-sized one 9 s. */
#define FUZZ_WORK_MAX ((double)(1 << 20))
static size_t fuzz_budget = (size_t)-1;

FUZZ_FN void fuzz_over_budget(size_t n)
{
    fprintf(stderr, "fuzz: an allocation of %zu bytes, more than the input justifies (budget %zu)\n", n, fuzz_budget);
    abort();
}
FUZZ_FN void *fuzz_malloc(size_t n)
{
    if (n > fuzz_budget) fuzz_over_budget(n);
    return malloc(n);
}
FUZZ_FN void *fuzz_realloc(void *p, size_t n)
{
    if (n > fuzz_budget) fuzz_over_budget(n);
    return realloc(p, n);
}
/* the budget for an input of len bytes; (size_t)-1 lifts it (a forward pass's activations are
   sized by the net, not by the file) */
FUZZ_FN void fuzz_set_budget(size_t len) { fuzz_budget = FUZZ_RATIO * len + ((size_t)1 << 20); }

#define XAI_MALLOC(sz) fuzz_malloc(sz)
#define XAI_REALLOC(p, sz) fuzz_realloc(p, sz)
#define XAI_FREE(p) free(p)
#define XAI_IMPLEMENTATION
#include "../../xai.h"

/* A failure must say why: an error without a reason is a bug too. */
FUZZ_FN void fuzz_need_reason(const char *reason)
{
    if (!reason || !reason[0]) {
        fprintf(stderr, "fuzz: an error without a reason\n");
        abort();
    }
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "  refused: %s\n", reason);
}

/* The time a net takes in fuzz_run_net grows with its multiply-adds: those of one image's forward
   pass, roughly (a convolution's weights times its output pixels, a fully connected layer's
   weights, the other layers' outputs times their window). */
FUZZ_FN double fuzz_net_work(const xai_net *net)
{
    double work = 0;
    int i;
    for (i = 0; i < net->nlayer; i++) {
        const xai_layer *L = &net->layer[i];
        const xai_blob *t = &net->blob[L->top[0]];
        double out = (double)t->c * t->h * t->w;
        if (L->p.type == XAI_CONVOLUTION) work += (double)L->weight_count * t->h * t->w;
        else if (L->p.type == XAI_INNER_PRODUCT) work += (double)L->weight_count;
        else if (L->p.type == XAI_POOLING) work += out * L->p.kernel_h * L->p.kernel_w;
        else if (L->p.type == XAI_LRN) work += out * L->p.local_size;
        else work += out * L->nbottom;
    }
    return work;
}

/* A net that loaded: run it forward and explain it with a few methods when it is small enough
   (activations and im2col buffers are the net's, not the file's, so the budget is lifted). */
FUZZ_FN void fuzz_run_net(xai_net *net)
{
    static const char *const methods[] = {"sensitivity-l2", "deconv-linf", "lrp-eps:0.01", "lrp-ab:2", "lrp-zb", "guided-l2", "lrp-eps:0.01+taylor"};
    size_t floats = 0, m;
    float *x, *heat;
    xai_tape *tape;
    int i;
    if (!net->finalized) return;
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "  a net of %.0f multiply-adds an image\n", fuzz_net_work(net));
    if (fuzz_net_work(net) > FUZZ_WORK_MAX) return;
    for (i = 0; i < net->nblob; i++) floats += (size_t)net->blob[i].c * net->blob[i].h * net->blob[i].w;
    if (floats > ((size_t)1 << 16) || net->nparams > ((size_t)1 << 20)) return;
    for (i = 0; i < net->nlayer; i++) {
        const xai_layer *L = &net->layer[i];
        const xai_blob *t = &net->blob[L->top[0]];
        if (L->p.type == XAI_CONVOLUTION && (size_t)L->weight_count / (size_t)L->p.num_output * L->p.group * t->h * t->w > ((size_t)1 << 20)) return;
        if (L->p.type == XAI_POOLING && (size_t)L->p.kernel_h * L->p.kernel_w * t->c * t->h * t->w > ((size_t)1 << 22)) return;
    }
    fuzz_budget = (size_t)-1;
    xai_net_fill_random(net, 7);
    tape = xai_tape_new(net, 2);
    x = (float *)malloc(2 * xai_net_input_size(net) * sizeof(float));
    heat = (float *)malloc(2 * (size_t)net->input_h * net->input_w * sizeof(float));
    if (tape && x && heat) {
        for (m = 0; m < 2 * xai_net_input_size(net); m++) x[m] = (float)((m * 37) % 255) - 100.0f;
        if (xai_net_forward(net, tape, x, 2) != XAI_OK) fuzz_need_reason(xai_failure_reason());
        for (i = 0; i < (int)(sizeof methods / sizeof methods[0]); i++) {
            xai_method me;
            if (xai_method_parse(methods[i], &me) != XAI_OK) abort();
            if (xai_explain(net, tape, x, 2, &me, NULL, NULL, heat, NULL) != XAI_OK) fuzz_need_reason(xai_failure_reason());
        }
    }
    free(x);
    free(heat);
    xai_tape_free(tape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#ifdef FUZZ_MAIN
int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long n;
        if (!f) { perror(argv[i]); return 1; }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = (unsigned char *)malloc((size_t)n + 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); return 1; }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}
#endif
#endif
