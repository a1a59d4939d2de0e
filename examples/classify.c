/* classify: the top classes of a picture.
   Build: cc -O2 examples/classify.c -o classify -lm        (add -fopenmp -march=native for speed)
   Usage: classify MODEL.xai IMAGE.ppm [--top K]            (classify --help: every option) */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: classify MODEL.xai IMAGE [--top K]\n"
    "The top classes of a picture: rank, class index, score f_c (before softmax), probability, label.\n"
    "\n"
    "  MODEL.xai       a model (models/fashion.xai, or one made by caffe2xai)\n"
    "  IMAGE           a PNM picture: .ppm (colour) or .pgm (grey); JPEG/PNG: convert first, e.g.\n"
    "                  convert photo.jpg photo.ppm (ImageMagick).  A picture of another size or\n"
    "                  channel count is adapted to the model's input, with a warning saying how\n"
    "  --top K         how many classes to list, 1 or more (default 5; more than the classes: all)\n"
    "  --help          this text;   --version   the version of xai.h\n"
    "\n"
    "example: classify models/fashion.xai examples/images/fashion_4_coat.pgm --top 3\n";

int main(int argc, char **argv)
{
    const char *model = NULL, *image = NULL;
    int top = 5, i, j, K, *order;
    xai_net *net;
    xai_image img;
    xai_tape *tape;
    float *x, *prob;
    const float *score;
    cli_tool = "classify";
    cli_standard_options(argc, argv, usage);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--top")) top = cli_int("--top", cli_value(argc, argv, &i), 1, INT_MAX);
        else if (argv[i][0] == '-' && argv[i][1]) cli_usage_error("unknown option", argv[i]);
        else if (!model) model = argv[i];
        else if (!image) image = argv[i];
        else cli_usage_error("one model and one picture; what is", argv[i]);
    }
    if (!model || !image) cli_usage_error("a model and a picture are needed", NULL);
    if (!(net = xai_net_load(model))) { fprintf(stderr, "classify: %s\n", xai_failure_reason()); return 1; }
    if (xai_net_load_note(net)) fprintf(stderr, "classify: note: %s: %s\n", model, xai_net_load_note(net));
    if (xai_image_load(image, &img) != XAI_OK) { fprintf(stderr, "classify: %s\n", xai_failure_reason()); xai_net_free(net); return 1; }
    cli_warn_adapted(image, &img, net);
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    tape = xai_tape_new(net, 1);
    if (!x || !tape || xai_net_preprocess(net, &img, x, NULL) != XAI_OK || xai_net_forward(net, tape, x, 1) != XAI_OK) {
        fprintf(stderr, "classify: %s\n", xai_failure_reason());
        return 1;
    }
    K = xai_net_num_classes(net);
    score = xai_tape_scores(tape, 0);
    prob = (float *)malloc((size_t)K * sizeof(float));
    order = (int *)malloc((size_t)K * sizeof(int));
    memcpy(prob, score, (size_t)K * sizeof(float));
    xai_softmax(prob, K);
    for (i = 0; i < K; i++) order[i] = i;
    if (top > K) top = K;
    for (i = 0; i < top; i++)     /* partial selection sort: highest score first, lower index on ties */
        for (j = i + 1; j < K; j++)
            if (score[order[j]] > score[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    printf("%s (%dx%d) with %s:\n", image, img.w, img.h, model);
    printf("%5s %6s %12s %9s  %s\n", "rank", "class", "score", "prob", "label");
    for (i = 0; i < top; i++) {
        int c = order[i];
        printf("%5d %6d %12.4f %9.5f  %s\n", i + 1, c, score[c], prob[c], c < net->nlabel ? net->label[c] : "");
    }
    free(order); free(prob); free(x);
    xai_tape_free(tape);
    xai_image_free(&img);
    xai_net_free(net);
    return 0;
}
