/* xai-synth: a model with synthetic weights from a seed, for tests, benchmarks and trying things
   without downloading anything.
   Build: cc -O2 tools/xai-synth.c -o xai-synth -lm
   Usage: xai-synth caffenet [--seed S] -o OUT.xai */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../examples/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: xai-synth caffenet [--seed S] -o OUT.xai\n"
    "A model with synthetic weights from a seed (the same seed, the same file), for tests, benchmarks\n"
    "and trying the tools without downloading anything.  The one architecture: caffenet (CaffeNet's\n"
    "layers, 227x227x3 input, 1000 classes labelled \"synthetic class N\").\n"
    "\n"
    "  -o OUT.xai    the model to write (folders are created)\n"
    "  --seed S      the weights' seed, 0 or more (default 1)\n"
    "  --help        this text;   --version   the version of xai.h\n"
    "\n"
    "example: xai-synth caffenet --seed 7 -o out/synthetic.xai\n";

int main(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL;
    unsigned long long seed = 1;
    xai_net *net;
    int i;
    cli_tool = "xai-synth";
    cli_standard_options(argc, argv, usage);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed")) seed = cli_u64("--seed", cli_value(argc, argv, &i));
        else if (!strcmp(argv[i], "-o")) { out = cli_value(argc, argv, &i); cli_output("-o", out, ".xai"); }
        else if (argv[i][0] == '-' && argv[i][1]) cli_usage_error("unknown option", argv[i]);
        else if (!arch) arch = argv[i];
        else cli_usage_error("one architecture; what is", argv[i]);
    }
    if (!arch || !out) cli_usage_error("an architecture (caffenet) and -o OUT.xai are needed", NULL);
    if (strcmp(arch, "caffenet") != 0) cli_fail("architecture", arch, "is not one this tool makes: caffenet");
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
