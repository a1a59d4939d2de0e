/* classify: the top classes of a picture.
   Build: cc -O2 examples/classify.c -o classify -lm        (add -fopenmp -march=native for speed)
   Usage: classify MODEL.xai IMAGE.ppm [--top K] */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *model = NULL, *image = NULL;
    int top = 5, i, j, K, *order;
    xai_net *net;
    xai_image img;
    xai_tape *tape;
    float *x, *prob;
    const float *score;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atoi(argv[++i]);
        else if (argv[i][0] == '-') { fprintf(stderr, "classify: unknown option %s\n", argv[i]); return 2; }
        else if (!model) model = argv[i];
        else if (!image) image = argv[i];
        else { fprintf(stderr, "classify: too many arguments\n"); return 2; }
    }
    if (!model || !image || top <= 0) {
        fprintf(stderr, "usage: classify MODEL.xai IMAGE.ppm [--top K]\n");
        return 2;
    }
    if (!(net = xai_net_load(model))) { fprintf(stderr, "classify: %s\n", xai_failure_reason()); return 1; }
    if (xai_image_load(image, &img) != XAI_OK) { fprintf(stderr, "classify: %s\n", xai_failure_reason()); xai_net_free(net); return 1; }
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
