/* xai-inspect: what an .xai model holds - layers, blob shapes, parameters, work, preprocessing, labels.
   Build: cc -O2 tools/xai-inspect.c -o xai-inspect -lm
   Usage: xai-inspect MODEL.xai [--save NEW.xai]

   Multiply-adds are those of Convolution (num_output x out_h x out_w x C/group x kh x kw) and
   InnerProduct (num_output x inputs) layers, per image; the other layers' work is small beside them
   (CaffeNet: 724 M in total). */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "../examples/cli.h"
#include <stdio.h>
#include <string.h>

/* multiply-adds of one layer for one image */
static double inspect_macs(const xai_net *net, const xai_layer *L)
{
    const xai_blob *top = &net->blob[L->top[0]];
    if (L->p.type == XAI_CONVOLUTION || L->p.type == XAI_INNER_PRODUCT)
        return (double)L->weight_count * top->h * top->w;   /* each weight once per output position */
    return 0;
}

static const char *inspect_order(int order) { return order == XAI_ORDER_BGR ? "BGR" : order == XAI_ORDER_RGB ? "RGB" : "gray"; }

/* "a,b" -> appended names of blobs */
static void inspect_names(const xai_net *net, const int *idx, int n, char *out, size_t size)
{
    size_t o = strlen(out);
    int i;
    for (i = 0; i < n && o + 2 < size; i++) o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "", net->blob[idx[i]].name);
}

static const char usage[] =
    "usage: xai-inspect MODEL.xai [--save NEW.xai]\n"
    "What an .xai model holds: its layers (type, bottoms and tops, top shape, parameters,\n"
    "multiply-adds per image), totals, the score blob, the preprocessing (channel order, scale, mean,\n"
    "resize and crop) and the labels.\n"
    "\n"
    "  --save NEW.xai   also write the model again in this xai.h's file version (an older file gets\n"
    "                   its checksums); the same weights and settings (default: nothing is written)\n"
    "  --help           this text;   --version   the version of xai.h\n"
    "\n"
    "example: xai-inspect models/fashion.xai\n"
    "         xai-inspect old.xai --save new.xai\n";

int main(int argc, char **argv)
{
    xai_net *net;
    const xai_preprocess *pre;
    double total_macs = 0;
    size_t total_params = 0;
    int i, namew = 5, flow = 16;
    const char *save = NULL;
    cli_tool = "xai-inspect";
    cli_standard_options(argc, argv, usage);
    if (argv[1][0] == '-' && argv[1][1]) cli_usage_error("unknown option", argv[1]);
    if (argc == 4 && !strcmp(argv[2], "--save")) save = argv[3];
    else if (argc > 2) cli_usage_error("one model and --save NEW.xai; what is", argv[2]);
    if (!(net = xai_net_load(argv[1]))) { fprintf(stderr, "xai-inspect: %s\n", xai_failure_reason()); return 1; }
    if (xai_net_load_note(net) && !save) fprintf(stderr, "xai-inspect: note: %s: %s\n", argv[1], xai_net_load_note(net));
    if (save) {
        cli_output("--save", save, ".xai");
        if (xai_net_save(net, save) != XAI_OK) {
            fprintf(stderr, "xai-inspect: %s\n", xai_failure_reason());
            xai_net_free(net);
            return 1;
        }
        printf("%s: written as file version %d\n", save, 2);
    }
    for (i = 0; i < net->nlayer; i++) {
        char f[4 * XAI_NAME_MAX] = "";
        int len = (int)strlen(net->layer[i].name);
        if (len > namew) namew = len < 40 ? len : 40;
        inspect_names(net, net->layer[i].bottom, net->layer[i].nbottom, f, sizeof f);
        len = (int)strlen(f) + 4;
        f[0] = 0;
        inspect_names(net, net->layer[i].top, net->layer[i].ntop, f, sizeof f);
        len += (int)strlen(f);
        if (len > flow) flow = len < 60 ? len : 60;
    }
    printf("%s: net '%s', %d layers, %d blobs\n", argv[1], net->name, net->nlayer, net->nblob);
    printf("input '%s' %dx%dx%d\n\n", net->blob[net->input_blob].name, net->input_c, net->input_h, net->input_w);
    printf("%-3s %-*s %-12s %-*s %-14s %12s %16s\n", "#", namew, "layer", "type", flow, "bottoms -> tops", "top shape", "parameters",
           "multiply-adds");
    for (i = 0; i < net->nlayer; i++) {
        const xai_layer *L = &net->layer[i];
        const xai_blob *top = &net->blob[L->top[0]];
        char f[4 * XAI_NAME_MAX + 8] = "", shape[48];
        size_t params = L->weight_count + L->bias_count;
        double macs = inspect_macs(net, L);
        inspect_names(net, L->bottom, L->nbottom, f, sizeof f);
        strcat(f, " -> ");
        inspect_names(net, L->top, L->ntop, f, sizeof f);
        snprintf(shape, sizeof shape, "%dx%dx%d", top->c, top->h, top->w);
        printf("%-3d %-*s %-12s %-*s %-14s %12zu", i, namew, L->name, xai_layer_type_name(L->p.type), flow, f, shape, params);
        if (macs > 0) printf(" %14.1f M", macs / 1e6);
        printf("\n");
        total_params += params;
        total_macs += macs;
    }
    printf("\ntotal: %zu parameters (%.1f M), %.0f multiply-adds per image (%.0f M)\n", total_params, total_params / 1e6, total_macs, total_macs / 1e6);
    printf("scores: blob '%s', %d classes\n", net->blob[net->score_blob].name, xai_net_num_classes(net));

    pre = &net->pre;
    printf("\npreprocessing: channel order %s, input = (pixel - mean) * %g", inspect_order(pre->channel_order), pre->scale);
    if (pre->channel_scale[0] != 1 || pre->channel_scale[1] != 1 || pre->channel_scale[2] != 1)
        printf(" * (%g, %g, %g) per channel", pre->channel_scale[0], pre->channel_scale[1], pre->channel_scale[2]);
    printf("\n");
    if (pre->mean_kind == XAI_MEAN_PIXEL) {
        printf("  mean: per channel");
        for (i = 0; i < net->input_c && i < 3; i++) printf(" %g", pre->mean_pixel[i]);
        printf(" (network order)\n");
    } else if (pre->mean_kind == XAI_MEAN_IMAGE) {
        size_t plane = (size_t)pre->mean_h * pre->mean_w, p;
        int c;
        printf("  mean: image %dx%dx%d, channel averages", pre->mean_c, pre->mean_h, pre->mean_w);
        for (c = 0; c < pre->mean_c && c < 4; c++) {
            double s = 0;
            for (p = 0; p < plane; p++) s += pre->mean_image[(size_t)c * plane + p];
            printf(" %.3f", s / (double)plane);
        }
        printf("\n");
    } else {
        printf("  mean: none\n");
    }
    if (pre->resize_w > 0) printf("  resize to %dx%d, then crop the centre %dx%d\n", pre->resize_w, pre->resize_h, net->input_w, net->input_h);
    else printf("  resize straight to the input %dx%d\n", net->input_w, net->input_h);

    printf("\nlabels: %d\n", net->nlabel);
    for (i = 0; i < net->nlabel && i < 5; i++) printf("  %d: %s\n", i, net->label[i]);
    if (net->nlabel > 5) printf("  ...\n  %d: %s\n", net->nlabel - 1, net->label[net->nlabel - 1]);
    xai_net_free(net);
    return 0;
}
