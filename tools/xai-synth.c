/* xai-synth: a model with synthetic weights from a seed, for tests, benchmarks and trying things
   without downloading anything.
   Build: cc -O2 tools/xai-synth.c -o xai-synth -lm
   Usage: xai-synth caffenet [--seed S] -o OUT.xai */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL;
    unsigned long long seed = 1;
    xai_net *net;
    int i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-') { fprintf(stderr, "xai-synth: unknown option %s\n", argv[i]); return 2; }
        else arch = argv[i];
    }
    if (!arch || !out || strcmp(arch, "caffenet") != 0) {
        fprintf(stderr, "usage: xai-synth caffenet [--seed S] -o OUT.xai\n");
        return 2;
    }
    if (!(net = xai_net_caffenet())) { fprintf(stderr, "xai-synth: %s\n", xai_failure_reason()); return 1; }
    xai_net_fill_random(net, seed);
    {
        /* ImageNet-style labels so the tools print something readable */
        char **labels = (char **)malloc(1000 * sizeof(char *));
        for (i = 0; i < 1000; i++) { labels[i] = (char *)malloc(32); snprintf(labels[i], 32, "synthetic class %d", i); }
        xai_net_set_labels(net, 1000, (const char *const *)labels);
        for (i = 0; i < 1000; i++) free(labels[i]);
        free(labels);
    }
    if (xai_net_save(net, out) != XAI_OK) { fprintf(stderr, "xai-synth: %s\n", xai_failure_reason()); xai_net_free(net); return 1; }
    printf("%s: synthetic CaffeNet, seed %llu, %zu floats of weights\n", out, seed, net->nparams);
    xai_net_free(net);
    return 0;
}
