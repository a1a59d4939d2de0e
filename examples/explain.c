/* explain: which pixels made the network decide?  A heatmap by one method, or the paper's figure.
   Build: cc -O2 examples/explain.c -o explain -lm        (add -fopenmp -march=native for speed)
   Usage: explain MODEL.xai IMAGE --method NAME [--png OUT.png] ...   (explain --help: every option)

   Heatmaps have the network's input size: the picture as the network sees it (Caffe's resize and
   centre crop).  The PFM files keep the raw values; the PNG files are for reading (scaled, coloured,
   labelled). */
#define XAI_IMPLEMENTATION
#include "../xai.h"
#include "cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: explain MODEL.xai IMAGE --method NAME [options]     a heatmap by one method\n"
    "       explain MODEL.xai IMAGE --all OUT.png [options]     the picture and the paper's seven heatmaps\n"
    "Which pixels made the network decide: a heatmap, as PNG (for reading) and PFM (raw values).\n"
    "\n"
    "  MODEL.xai        a model (models/fashion.xai, or one made by caffe2xai)\n"
    "  IMAGE            a PNM picture (.ppm colour, .pgm grey; JPEG/PNG: convert photo.jpg photo.ppm);\n"
    "                   one of another size or channel count is adapted, with a warning saying how\n"
    "  --method NAME    sensitivity-l2, sensitivity-linf, deconv-l2, deconv-linf, lrp-eps:EPS,\n"
    "                   lrp-ab:ALPHA, lrp-zplus, lrp-zb, lrp-w2, lrp-flat, lrp-gamma:G, lrp-composite,\n"
    "                   gradxinput, guided-l2, guided-linf; +taylor after an LRP name: the Taylor rule\n"
    "                   through LRN layers; occlusion:SIZE:STRIDE, the drop of f_c under a moving\n"
    "                   patch (+uniform, +blur: what replaces the patch; default the mean)\n"
    "  --eps E          the LRP epsilon rule's eps, a finite number > 0 (default: the method's, 0.01)\n"
    "  --alpha A        the LRP alpha-beta rule's alpha, finite, >= 1; beta = A - 1 (default: the method's)\n"
    "  --class C        explain class C, 0 to classes - 1 (default: the predicted class)\n"
    "  --png OUT.png    the heatmap in colour, upscaled (nearest neighbour) to at least 224 pixels,\n"
    "                   with the class, f_c and a colour bar with its scale (default: not written)\n"
    "  --heatmap-png OUT.png  the bare heatmap: a pixel a value at the input size, coloured as --png\n"
    "                   but scaled by the maximum (the picture the complexity table measures)\n"
    "  --pfm OUT.pfm    the heatmap, one float a pixel at the input size, raw values (default: not written)\n"
    "  --raw-pfm OUT.pfm  the signal at each pixel and channel, RGB order (default: not written)\n"
    "  --overlay OUT.png  the heatmap over the picture, at the input size (default: not written)\n"
    "  --cmap NAME      bwr (blue-white-red around 0), hot or gray (default: bwr for signed maps,\n"
    "                   LRP and gradxinput; hot for the others); another name is an error\n"
    "  --clip P         scale colours by the P-th percentile of |h| (0 <= P < 100; 0: by the maximum);\n"
    "                   default 99.5 for signed maps (one extreme pixel does not wash the map out,\n"
    "                   the top 0.5% saturate), 0 for the others\n"
    "  --all OUT.png    the paper's figure: the picture, sensitivity l2/linf, deconvolution l2/linf,\n"
    "                   LRP eps 0.01 and 100, LRP alpha 2 beta 1, side by side and labelled\n"
    "  --help           this text;   --version   the version of xai.h\n"
    "Output folders are created; an output's extension must match its format.\n"
    "\n"
    "example: explain models/fashion.xai examples/images/fashion_4_coat.pgm --method lrp-eps:0.01 \\\n"
    "             --png out/coat_lrp.png --pfm out/coat_lrp.pfm\n";

/* DejaVu Sans Mono at 11 pixels, one 7x13 cell a character from ' ' to '~', a byte a row
   (bit 6 = leftmost column); rendered once with Pillow. */
static const unsigned char font7x13[95][13] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x14, 0x14, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x0a, 0x16, 0x3f, 0x14, 0x14, 0x7e, 0x28, 0x28, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x08, 0x1e, 0x28, 0x28, 0x1c, 0x0e, 0x0a, 0x3c, 0x08, 0x08, 0x00},
    {0x00, 0x00, 0x30, 0x48, 0x32, 0x0c, 0x10, 0x2e, 0x0a, 0x0e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x30, 0x30, 0x30, 0x6b, 0x46, 0x66, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x08, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x04, 0x08, 0x08, 0x18, 0x10, 0x10, 0x18, 0x08, 0x08, 0x04, 0x00, 0x00},
    {0x00, 0x10, 0x18, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x18, 0x10, 0x00, 0x00},
    {0x00, 0x00, 0x08, 0x2a, 0x1c, 0x1c, 0x2a, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x08, 0x08, 0x7e, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x18, 0x10, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x06, 0x04, 0x0c, 0x08, 0x08, 0x10, 0x10, 0x20, 0x20, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x36, 0x22, 0x22, 0x2a, 0x22, 0x36, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x38, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x26, 0x06, 0x04, 0x0c, 0x18, 0x30, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x26, 0x06, 0x1c, 0x06, 0x02, 0x26, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x0c, 0x0c, 0x14, 0x24, 0x24, 0x7e, 0x04, 0x04, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x20, 0x20, 0x3c, 0x06, 0x02, 0x06, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x30, 0x20, 0x3c, 0x26, 0x22, 0x26, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3e, 0x06, 0x04, 0x0c, 0x08, 0x08, 0x18, 0x10, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x26, 0x26, 0x1c, 0x26, 0x22, 0x26, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x26, 0x22, 0x26, 0x3e, 0x02, 0x04, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00, 0x08, 0x18, 0x10, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x02, 0x1c, 0x60, 0x1c, 0x06, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x7e, 0x00, 0x7e, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x60, 0x1c, 0x06, 0x1c, 0x60, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x06, 0x04, 0x0c, 0x08, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x32, 0x62, 0x4e, 0x52, 0x52, 0x4e, 0x20, 0x30, 0x1e, 0x00},
    {0x00, 0x00, 0x18, 0x1c, 0x14, 0x34, 0x24, 0x3e, 0x22, 0x62, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x26, 0x26, 0x3c, 0x26, 0x22, 0x22, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x32, 0x20, 0x20, 0x20, 0x20, 0x32, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x38, 0x24, 0x22, 0x22, 0x22, 0x22, 0x26, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3e, 0x20, 0x20, 0x3e, 0x20, 0x20, 0x20, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3e, 0x20, 0x20, 0x3e, 0x20, 0x20, 0x20, 0x20, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x32, 0x20, 0x20, 0x26, 0x22, 0x32, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x22, 0x22, 0x22, 0x3e, 0x22, 0x22, 0x22, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x38, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x22, 0x24, 0x28, 0x38, 0x28, 0x24, 0x26, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x66, 0x76, 0x76, 0x7a, 0x6a, 0x62, 0x62, 0x62, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x22, 0x32, 0x32, 0x2a, 0x2a, 0x2e, 0x26, 0x26, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x26, 0x22, 0x22, 0x22, 0x22, 0x26, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x26, 0x22, 0x26, 0x3c, 0x20, 0x20, 0x20, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x26, 0x22, 0x22, 0x22, 0x22, 0x26, 0x1c, 0x04, 0x00, 0x00},
    {0x00, 0x00, 0x3c, 0x26, 0x26, 0x26, 0x3c, 0x24, 0x22, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x1c, 0x20, 0x20, 0x38, 0x0c, 0x02, 0x26, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x7e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x26, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x62, 0x22, 0x26, 0x24, 0x14, 0x14, 0x1c, 0x18, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x43, 0x43, 0x4a, 0x7a, 0x3a, 0x36, 0x36, 0x26, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x22, 0x34, 0x1c, 0x18, 0x1c, 0x14, 0x26, 0x62, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x62, 0x26, 0x14, 0x18, 0x08, 0x08, 0x08, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x3e, 0x06, 0x04, 0x08, 0x08, 0x10, 0x20, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x1c, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x1c, 0x00, 0x00},
    {0x00, 0x00, 0x20, 0x20, 0x10, 0x10, 0x08, 0x08, 0x0c, 0x04, 0x06, 0x00, 0x00},
    {0x00, 0x18, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x18, 0x00, 0x00},
    {0x00, 0x00, 0x18, 0x14, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f},
    {0x00, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x3c, 0x06, 0x3e, 0x22, 0x26, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x20, 0x20, 0x20, 0x3c, 0x36, 0x22, 0x22, 0x36, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1e, 0x30, 0x20, 0x20, 0x30, 0x1e, 0x00, 0x00, 0x00},
    {0x00, 0x02, 0x02, 0x02, 0x1e, 0x26, 0x26, 0x26, 0x26, 0x1e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1c, 0x22, 0x3e, 0x20, 0x20, 0x1e, 0x00, 0x00, 0x00},
    {0x00, 0x0e, 0x08, 0x08, 0x3e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1e, 0x26, 0x26, 0x26, 0x26, 0x1e, 0x06, 0x3c, 0x00},
    {0x00, 0x20, 0x20, 0x20, 0x3c, 0x36, 0x22, 0x22, 0x22, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x08, 0x00, 0x00, 0x38, 0x08, 0x08, 0x08, 0x08, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x08, 0x00, 0x00, 0x38, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x38, 0x00},
    {0x00, 0x20, 0x20, 0x20, 0x26, 0x2c, 0x38, 0x3c, 0x24, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x38, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x0e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x7e, 0x6a, 0x6a, 0x6a, 0x6a, 0x6a, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x3c, 0x36, 0x22, 0x22, 0x22, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1c, 0x26, 0x22, 0x22, 0x26, 0x1c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x3c, 0x36, 0x22, 0x22, 0x36, 0x3c, 0x20, 0x20, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1e, 0x26, 0x22, 0x22, 0x26, 0x1e, 0x02, 0x02, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1e, 0x18, 0x10, 0x10, 0x10, 0x10, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x1c, 0x20, 0x38, 0x0c, 0x06, 0x3c, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x10, 0x10, 0x3e, 0x10, 0x10, 0x10, 0x18, 0x0e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x22, 0x22, 0x22, 0x22, 0x26, 0x1e, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x22, 0x26, 0x34, 0x14, 0x1c, 0x18, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x43, 0x42, 0x6a, 0x3a, 0x36, 0x34, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x26, 0x14, 0x18, 0x18, 0x34, 0x22, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x22, 0x26, 0x14, 0x14, 0x18, 0x08, 0x18, 0x30, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x3e, 0x04, 0x08, 0x10, 0x10, 0x3e, 0x00, 0x00, 0x00},
    {0x00, 0x0e, 0x08, 0x08, 0x08, 0x30, 0x18, 0x08, 0x08, 0x08, 0x0e, 0x00, 0x00},
    {0x00, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00},
    {0x00, 0x30, 0x08, 0x08, 0x08, 0x0e, 0x08, 0x08, 0x08, 0x18, 0x30, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00},
};

/* s in the 7x13 font at (x, y), in colour ink (0..255 grey) */
static void draw_text(xai_image *img, int x, int y, const char *s, float ink)
{
    for (; *s; s++, x += 7) {
        int c = (unsigned char)*s, r, b;
        if (c < 32 || c > 126) c = '?';
        for (r = 0; r < 13; r++)
            for (b = 0; b < 7; b++)
                if (font7x13[c - 32][r] >> (6 - b) & 1) {
                    int px = x + b, py = y + r, k;
                    if (px < 0 || py < 0 || px >= img->w || py >= img->h) continue;
                    for (k = 0; k < 3; k++) img->data[((size_t)py * img->w + px) * 3 + k] = ink;
                }
    }
}

static void fill(xai_image *img, int x0, int y0, int w, int h, float r, float g, float b)
{
    int x, y;
    for (y = y0; y < y0 + h; y++)
        for (x = x0; x < x0 + w; x++) {
            float *px;
            if (x < 0 || y < 0 || x >= img->w || y >= img->h) continue;
            px = img->data + ((size_t)y * img->w + x) * 3;
            px[0] = r; px[1] = g; px[2] = b;
        }
}

/* a note in black on a white box with a black frame, centred on (cx, cy): readable on any colour */
static void draw_note(xai_image *img, int cx, int cy, const char *s)
{
    int w = 7 * (int)strlen(s) + 8, h = 17, x0 = cx - w / 2, y0 = cy - h / 2;
    fill(img, x0 - 1, y0 - 1, w + 2, h + 2, 0, 0, 0);
    fill(img, x0, y0, w, h, 255, 255, 255);
    draw_text(img, x0 + 4, y0 + 2, s, 0);
}

/* src magnified z times (each pixel a z x z square, so small inputs stay crisp) at (x0, y0) */
static void paste(xai_image *dst, const xai_image *src, int x0, int y0, int z)
{
    int x, y, k;
    for (y = 0; y < src->h * z; y++)
        for (x = 0; x < src->w * z; x++)
            for (k = 0; k < 3; k++)
                dst->data[((size_t)(y0 + y) * dst->w + x0 + x) * 3 + k] = src->data[((size_t)(y / z) * src->w + x / z) * src->c + (src->c >= 3 ? k : 0)];
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The value xai_heatmap_render maps to full colour: the clip-th percentile of |h| (BWR) or of
   max(h, 0) (HOT, GRAY), or their maximum when clip is 0 or that percentile is 0. */
static double colour_scale(const float *heat, size_t n, int cmap, double clip)
{
    double scale = 0;
    size_t i;
    float *mag = (float *)malloc(n * sizeof(float));
    if (!mag) return 0;
    for (i = 0; i < n; i++) mag[i] = cmap == XAI_CMAP_BWR ? fabsf(heat[i]) : (heat[i] > 0 ? heat[i] : 0);
    if (clip > 0) {
        qsort(mag, n, sizeof(float), cmp_float);
        scale = mag[(size_t)(clip / 100.0 * (double)(n - 1) + 0.5)];
    }
    if (scale <= 0)
        for (i = 0; i < n; i++) if (mag[i] > scale) scale = mag[i];
    free(mag);
    return scale;
}

static int all_zero(const float *heat, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) if (heat[i] != 0) return 0;
    return 1;
}

/* A colour bar w x 10 at (x, y) from -1 (BWR) or 0 to 1 of the scale, its ends and middle
   labelled with the values they stand for. */
static int colour_bar(xai_image *img, int x, int y, int w, int cmap, double scale)
{
    float ramp[512];
    xai_image bar;
    char lo[32], mid[32], hi[32];
    int k, n = w < 512 ? w : 512;
    for (k = 0; k < n; k++) ramp[k] = cmap == XAI_CMAP_BWR ? -1.0f + 2.0f * k / (n - 1) : (float)k / (n - 1);
    if (xai_heatmap_render(ramp, n, 1, cmap, 0, &bar) != XAI_OK) return 1;
    for (k = 0; k < 10; k++) {
        int c;
        for (c = 0; c < w; c++) {
            float *px = img->data + ((size_t)(y + k) * img->w + x + c) * 3;
            const float *from = bar.data + (size_t)(c * n / w) * 3;
            px[0] = from[0]; px[1] = from[1]; px[2] = from[2];
        }
    }
    xai_image_free(&bar);
    fill(img, x, y + 10, 1, 4, 0, 0, 0);
    fill(img, x + w - 1, y + 10, 1, 4, 0, 0, 0);
    fill(img, x + w / 2, y + 10, 1, 4, 0, 0, 0);
    snprintf(lo, sizeof lo, cmap == XAI_CMAP_BWR ? "%.3g" : "0", -scale);
    snprintf(mid, sizeof mid, "%.3g", cmap == XAI_CMAP_BWR ? 0 : scale / 2);
    snprintf(hi, sizeof hi, "%.3g", scale);
    draw_text(img, x, y + 15, lo, 0);
    draw_text(img, x + w / 2 - 7 * (int)strlen(mid) / 2, y + 15, mid, 0);
    draw_text(img, x + w - 7 * (int)strlen(hi), y + 15, hi, 0);
    return 0;
}

/* "99.5th percentile of |h|", "maximum of h" */
static void scale_words(char *buf, size_t size, int cmap, double clip)
{
    const char *of = cmap == XAI_CMAP_BWR ? "|h|" : "h";
    if (clip > 0) snprintf(buf, size, "%gth percentile of %s", clip, of);
    else snprintf(buf, size, "maximum of %s", of);
}

/* One heatmap for reading: the title (two lines), the map upscaled by whole pixels to at least 224
   pixels a side, a note over an all-zero map, and the colour bar with its scale. */
static int heat_figure(const float *heat, int w, int h, int cmap, double clip, const char *line1, const char *line2, xai_image *out)
{
    xai_image hp;
    size_t n = (size_t)w * h;
    int small = w < h ? w : h, z = small < 224 ? (224 + small - 1) / small : 1, pad = 10, W = w * z, H = h * z, k;
    int text = 7 * (int)(strlen(line1) > strlen(line2) ? strlen(line1) : strlen(line2)), cw = (W > text ? W : text) + 2 * pad;
    int x0 = (cw - W) / 2, y0 = pad + 2 * 15 + 4;
    double scale = colour_scale(heat, n, cmap, clip);
    char words[64], note[128];
    if (xai_heatmap_render(heat, w, h, cmap, (float)clip, &hp) != XAI_OK) return 1;
    if (xai_image_alloc(out, cw, y0 + H + 8 + 10 + 15 + 4 + 15 + pad, 3) != XAI_OK) { xai_image_free(&hp); return 1; }
    for (k = 0; k < out->w * out->h * 3; k++) out->data[k] = 255;
    draw_text(out, pad, pad, line1, 0);
    draw_text(out, pad, pad + 15, line2, 0);
    paste(out, &hp, x0, y0, z);
    xai_image_free(&hp);
    if (all_zero(heat, n)) draw_note(out, x0 + W / 2, y0 + H / 2, "all zero");
    if (colour_bar(out, x0, y0 + H + 8, W, cmap, scale)) { xai_image_free(out); return 1; }
    scale_words(words, sizeof words, cmap, clip);
    snprintf(note, sizeof note, "scale: %s", words);
    draw_text(out, x0, y0 + H + 8 + 10 + 15 + 4, note, 90);
    return 0;
}

#define DEFAULT_CLIP 99.5   /* signed maps: colours scaled by the 99.5th percentile of |h| */

static int is_signed(const xai_method *m) { return m->heatmap == XAI_HEAT_SUM || m->heatmap == XAI_HEAT_SUM_X_INPUT; }

/* --eps and --alpha into the method's rules; an option no rule of the method uses is said so */
static void set_params(xai_method *m, double eps, double alpha)
{
    xai_rule *r[3];
    int i, used_eps = 0, used_alpha = 0;
    r[0] = &m->first; r[1] = &m->conv; r[2] = &m->fc;
    for (i = 0; i < 3; i++) {
        if (eps > 0 && r[i]->rule == XAI_RULE_EPSILON) { r[i]->eps = (float)eps; used_eps = 1; }
        if (alpha >= 1 && r[i]->rule == XAI_RULE_ALPHA_BETA) { r[i]->alpha = (float)alpha; r[i]->beta = (float)(alpha - 1); used_alpha = 1; }
    }
    if (eps > 0 && !used_eps) fprintf(stderr, "explain: warning: --eps is not used: %s has no epsilon rule\n", m->name);
    if (alpha >= 1 && !used_alpha) fprintf(stderr, "explain: warning: --alpha is not used: %s has no alpha-beta rule\n", m->name);
}

static int fail(const char *what) { fprintf(stderr, "explain: %s\n", what); return 1; }

/* an option's output file: remembered, checked now (extension, folders, writable) */
static const char *output(int argc, char **argv, int *i, const char *ext)
{
    const char *flag = argv[*i], *v = cli_value(argc, argv, i);
    cli_output(flag, v, ext);
    return v;
}

/* the paper's methods (Samek et al. 2017, Sec. IV) */
static const char *paper_methods[] = {"sensitivity-l2", "sensitivity-linf", "deconv-l2", "deconv-linf", "lrp-eps:0.01", "lrp-eps:100", "lrp-ab:2"};

int main(int argc, char **argv)
{
    const char *model = NULL, *image = NULL, *method = NULL, *png = NULL, *plain = NULL, *pfm = NULL, *raw = NULL, *overlay = NULL, *all = NULL;
    const char *cmap_name = NULL;
    double eps = -1, alpha = -1, clip = -1;
    int cls = -1, i, rc = 0, cmap;
    xai_net *net;
    xai_image img, shown, pic;
    xai_tape *tape;
    xai_method m;
    float *x, *heat, *signal, score;
    size_t plane;
    cli_tool = "explain";
    cli_standard_options(argc, argv, usage);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            if (!model) model = a;
            else if (!image) image = a;
            else cli_usage_error("one model and one picture; what is", a);
        }
        else if (!strcmp(a, "--method")) method = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--eps")) eps = cli_double(a, cli_value(argc, argv, &i), 0, 1e30, 1);
        else if (!strcmp(a, "--alpha")) alpha = cli_double(a, cli_value(argc, argv, &i), 1, 1e30, 0);
        else if (!strcmp(a, "--class")) cls = cli_int(a, cli_value(argc, argv, &i), 0, INT_MAX);
        else if (!strcmp(a, "--png")) png = output(argc, argv, &i, ".png");
        else if (!strcmp(a, "--heatmap-png")) plain = output(argc, argv, &i, ".png");
        else if (!strcmp(a, "--pfm")) pfm = output(argc, argv, &i, ".pfm");
        else if (!strcmp(a, "--raw-pfm")) raw = output(argc, argv, &i, ".pfm");
        else if (!strcmp(a, "--overlay")) overlay = output(argc, argv, &i, ".png");
        else if (!strcmp(a, "--all")) all = output(argc, argv, &i, ".png");
        else if (!strcmp(a, "--cmap")) {
            cmap_name = cli_value(argc, argv, &i);
            if (strcmp(cmap_name, "bwr") && strcmp(cmap_name, "hot") && strcmp(cmap_name, "gray") && strcmp(cmap_name, "grey"))
                cli_fail(a, cmap_name, "is not a colour map: bwr, hot or gray");
        }
        else if (!strcmp(a, "--clip")) clip = cli_double(a, cli_value(argc, argv, &i), 0, 99.999, 0);
        else cli_usage_error("unknown option", a);
    }
    if (!model || !image) cli_usage_error("a model and a picture are needed", NULL);
    if (!method && !all) cli_usage_error("--method NAME or --all OUT.png is needed", NULL);
    if (method && xai_method_parse(method, &m) != XAI_OK) return fail(xai_failure_reason());
    if (method) set_params(&m, eps, alpha);
    if (!(net = xai_net_load(model))) return fail(xai_failure_reason());
    if (xai_net_load_note(net)) fprintf(stderr, "explain: note: %s: %s\n", model, xai_net_load_note(net));
    if (xai_image_load(image, &img) != XAI_OK) return fail(xai_failure_reason());
    cli_warn_adapted(image, &img, net);
    plane = (size_t)net->input_h * net->input_w;
    x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    heat = (float *)malloc(plane * sizeof(float));
    signal = (float *)malloc(xai_net_input_size(net) * sizeof(float));
    tape = xai_tape_new(net, 1);
    if (!x || !heat || !signal || !tape) return fail(xai_failure_reason());
    if (xai_net_preprocess(net, &img, x, &shown) != XAI_OK) return fail(xai_failure_reason());
    if (cls >= xai_net_num_classes(net)) {
        char v[32], why[96];
        snprintf(v, sizeof v, "%d", cls);
        snprintf(why, sizeof why, "is beyond the model's %d classes (0 to %d)", xai_net_num_classes(net), xai_net_num_classes(net) - 1);
        cli_fail("--class", v, why);
    }

    if (method) {
        int target = cls;
        double sum = 0;
        size_t p;
        char line1[160], line2[160], words[64];
        if (xai_explain(net, tape, x, 1, &m, &target, signal, heat, &score) != XAI_OK) return fail(xai_failure_reason());
        for (p = 0; p < plane; p++) sum += heat[p];
        cmap = cmap_name ? (!strcmp(cmap_name, "bwr") ? XAI_CMAP_BWR : !strcmp(cmap_name, "hot") ? XAI_CMAP_HOT : XAI_CMAP_GRAY)
                         : is_signed(&m) ? XAI_CMAP_BWR : XAI_CMAP_HOT;
        if (clip < 0) clip = cmap == XAI_CMAP_BWR ? DEFAULT_CLIP : 0;
        snprintf(line1, sizeof line1, "class %d%s%s%s, f_c = %.4g", target, target < net->nlabel ? " (" : "",
                 target < net->nlabel ? net->label[target] : "", target < net->nlabel ? ")" : "", score);
        scale_words(words, sizeof words, cmap, clip);
        snprintf(line2, sizeof line2, "%s", m.name);
        if (png) {
            xai_image fig;
            if (heat_figure(heat, net->input_w, net->input_h, cmap, clip, line1, line2, &fig) != XAI_OK) return fail(xai_failure_reason());
            if (xai_image_write_png(png, &fig) != XAI_OK) rc = fail(xai_failure_reason());
            xai_image_free(&fig);
        }
        if (plain || overlay) {
            xai_image hp;
            if (plain) {
                /* scaled by the maximum, as xai_heatmap_complexity measures the picture */
                if (xai_heatmap_render(heat, net->input_w, net->input_h, cmap, 0, &hp) != XAI_OK) return fail(xai_failure_reason());
                if (xai_image_write_png(plain, &hp) != XAI_OK) rc = fail(xai_failure_reason());
                xai_image_free(&hp);
            }
            if (overlay) {
                xai_image ov;
                memset(&ov, 0, sizeof ov);
                if (xai_heatmap_render(heat, net->input_w, net->input_h, cmap, (float)clip, &hp) != XAI_OK) return fail(xai_failure_reason());
                if (xai_image_overlay(&shown, &hp, 0.6f, &ov) != XAI_OK || xai_image_write_png(overlay, &ov) != XAI_OK) rc = fail(xai_failure_reason());
                xai_image_free(&ov);
                xai_image_free(&hp);
            }
        }
        if (pfm) {
            xai_image h;
            h.w = net->input_w; h.h = net->input_h; h.c = 1; h.data = heat;
            if (xai_image_write_pfm(pfm, &h) != XAI_OK) rc = fail(xai_failure_reason());
        }
        if (raw) {
            /* network channel order (BGR for ImageNet nets) back to the picture's RGB */
            xai_image r;
            int c, C = net->input_c;
            if (xai_image_alloc(&r, net->input_w, net->input_h, C == 3 ? 3 : 1) != XAI_OK) return fail(xai_failure_reason());
            for (c = 0; c < r.c; c++) {
                int from = (C == 3 && net->pre.channel_order == XAI_ORDER_BGR) ? 2 - c : c;
                for (p = 0; p < plane; p++) r.data[p * r.c + c] = signal[(size_t)from * plane + p];
            }
            if (xai_image_write_pfm(raw, &r) != XAI_OK) rc = fail(xai_failure_reason());
            xai_image_free(&r);
        }
        /* the result line only when every file asked for is written */
        if (rc == 0) {
            printf("%s: class %d (%s), f_c = %.6g; %s heatmap %dx%d, sum %.6g%s\n", image, target, target < net->nlabel ? net->label[target] : "",
                   score, m.name, net->input_w, net->input_h, sum, all_zero(heat, plane) ? " (all zero)" : "");
            if (png || overlay) printf("  colours scaled by the %s = %.6g\n", words, colour_scale(heat, plane, cmap, clip));
        }
    }
    if (all) {
        /* a title, the picture, then each method of the paper; 4 panels a row, two lines under each
           (the method, its scale); small inputs (Fashion-MNIST's 28x28) magnified to at least 120
           pixels so the labels fit; the colour bars and how they are scaled at the bottom */
        int n = (int)(sizeof paper_methods / sizeof *paper_methods) + 1, cols = 4, rows = (n + cols - 1) / cols, pad = 8, lab = 32, top = 22;
        int z = net->input_w < 120 ? (120 + net->input_w - 1) / net->input_w : 1, foot = 2 * 32 + 8;
        int W = net->input_w * z, H = net->input_h * z, target = cls, k, bw;
        char line[200], words[64];
        double sclip = clip >= 0 ? clip : DEFAULT_CLIP, uclip = clip >= 0 ? clip : 0;
        if (xai_image_alloc(&pic, cols * (W + pad) + pad, top + rows * (H + pad + lab) + pad + foot, 3) != XAI_OK) return fail(xai_failure_reason());
        for (k = 0; k < pic.w * pic.h * 3; k++) pic.data[k] = 255;
        paste(&pic, &shown, pad, top + pad, z);
        draw_text(&pic, pad, top + pad + H + 3, "input", 0);
        for (k = 1; k < n; k++) {
            xai_method mm;
            xai_image hp;
            int t = target, px = pad + (k % cols) * (W + pad), py = top + pad + (k / cols) * (H + pad + lab), cm;
            double cl;
            xai_method_parse(paper_methods[k - 1], &mm);
            if (xai_explain(net, tape, x, 1, &mm, &t, NULL, heat, &score) != XAI_OK) return fail(xai_failure_reason());
            if (k == 1) {
                snprintf(line, sizeof line, "class %d%s%s%s, f_c = %.4g", t, t < net->nlabel ? " (" : "", t < net->nlabel ? net->label[t] : "",
                         t < net->nlabel ? ")" : "", score);
                draw_text(&pic, pad, pad, line, 0);
            }
            target = t;
            cm = is_signed(&mm) ? XAI_CMAP_BWR : XAI_CMAP_HOT;
            cl = cm == XAI_CMAP_BWR ? sclip : uclip;
            if (xai_heatmap_render(heat, net->input_w, net->input_h, cm, (float)cl, &hp) != XAI_OK) return fail(xai_failure_reason());
            paste(&pic, &hp, px, py, z);
            xai_image_free(&hp);
            if (all_zero(heat, plane)) draw_note(&pic, px + W / 2, py + H / 2, "all zero");
            draw_text(&pic, px, py + H + 3, paper_methods[k - 1], 0);
            snprintf(line, sizeof line, "scale %.3g", colour_scale(heat, plane, cm, cl));
            draw_text(&pic, px, py + H + 17, line, 90);
        }
        /* the two colour bars, in units of each panel's scale */
        bw = W < 200 ? W : 200;
        k = top + rows * (H + pad + lab) + pad;
        scale_words(words, sizeof words, XAI_CMAP_BWR, sclip);
        snprintf(line, sizeof line, "LRP: scale = %s", words);
        colour_bar(&pic, pad, k, bw, XAI_CMAP_BWR, 1);
        draw_text(&pic, pad + bw + 10, k, line, 0);
        scale_words(words, sizeof words, XAI_CMAP_HOT, uclip);
        snprintf(line, sizeof line, "others: scale = %s", words);
        colour_bar(&pic, pad, k + 32, bw, XAI_CMAP_HOT, 1);
        draw_text(&pic, pad + bw + 10, k + 32, line, 0);
        draw_text(&pic, pad + bw + 10, k + 13, "(bar in units of each panel's scale)", 90);
        if (xai_image_write_png(all, &pic) != XAI_OK) rc = fail(xai_failure_reason());
        else printf("%s: class %d (%s); wrote %s: input and %d heatmaps\n", image, target, target < net->nlabel ? net->label[target] : "", all, n - 1);
        xai_image_free(&pic);
    }
    free(x); free(heat); free(signal);
    xai_image_free(&img); xai_image_free(&shown);
    xai_tape_free(tape);
    xai_net_free(net);
    return rc;
}
