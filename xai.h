/* xai.h - explainable AI for Caffe image classifiers, in one C header.   public domain / MIT (see end)

   Which pixels made a convolutional network decide, and how good is that answer?  xai.h runs Caffe
   models (CaffeNet, AlexNet, LeNet, CIFAR-10 nets, SqueezeNet), explains a class score with a heatmap
   (sensitivity analysis, deconvolution, layer-wise relevance propagation) and measures each heatmap
   by region perturbation (AOPC), as in W. Samek et al., "Evaluating the Visualization of What a Deep
   Neural Network Has Learned", IEEE TNNLS 28(11), 2017 (arXiv 1509.06321).

   Do this:
      #define XAI_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the implementation.

   THE FIVE-MINUTE VERSION

   Every method runs the network forward once, keeping what it needs on a "tape" (xai_tape), then
   carries a signal from the class score f_c back to the pixels, layer by layer in reverse.  The
   methods differ only in each layer's backward rule: xai__method_table (section 7) holds the whole
   difference, one row per method.

   Sensitivity analysis (Simonyan et al. 2014): the gradient df_c/dx, started at 1 and sent back by
   the chain rule.  It says which pixels would change the score most if nudged - not which pixels
   the score is made of.
   Deconvolution (Zeiler & Fergus 2014): the same backward walk, started at f_c, but each ReLU lets
   through only positive signal, whatever the forward pass did.  Sharper pictures of what excites
   the network, still not a decomposition of f_c.
   Layer-wise relevance propagation (Bach et al. 2015): f_c is split among the inputs of each layer
   in proportion to their contributions z_ij = x_i w_ij (eq. 58, the epsilon-rule; eq. 60, the
   alpha-beta rule, splits positive and negative contributions apart).  The relevance sums to f_c
   at every layer, less what the biases and eps absorb, and its sign says for or against.
   Region perturbation / AOPC (Samek et al. 2017): delete the image region by region, most relevant
   first, and record f_c after each step.  AOPC, the mean drop of f_c over the first L steps, is
   larger for the heatmap that found the evidence.

   examples/walkthrough.c prints every number of all four on a network small enough to check by
   hand; docs/WALKTHROUGH.md reads this file alongside its output.

   A program (build: cc -O2 prog.c -lm):

      #define XAI_IMPLEMENTATION
      #include "xai.h"
      int main(void) {
          xai_net *net = xai_net_load("models/fashion.xai");
          xai_image img, heat;
          xai_method m;
          float *x, *h;
          int rc = 1;
          if (!net || xai_image_load("examples/images/fashion_0_tshirt.pgm", &img) != XAI_OK) {
              puts(xai_failure_reason());
              xai_net_free(net);
              return 1;
          }
          x = (float *)malloc(xai_net_input_size(net) * sizeof(float));
          h = (float *)malloc((size_t)net->input_h * net->input_w * sizeof(float));
          if (x && h && xai_net_preprocess(net, &img, x, NULL) == XAI_OK &&
              xai_method_parse("lrp-eps:0.01", &m) == XAI_OK &&
              xai_explain(net, NULL, x, 1, &m, NULL, NULL, h, NULL) == XAI_OK &&   // the predicted class
              xai_heatmap_render(h, net->input_w, net->input_h, XAI_CMAP_BWR, 99.5f, &heat) == XAI_OK) {
              rc = xai_image_write_png("heat.png", &heat) == XAI_OK ? 0 : 1;
              xai_image_free(&heat);
          }
          if (rc) puts(xai_failure_reason());
          free(x); free(h); xai_image_free(&img); xai_net_free(net);
          return rc;
      }

   BUILD OPTIONS (define before the include that has XAI_IMPLEMENTATION)
      XAI_STATIC            every function static (private to the file that includes it)
      XAI_MALLOC(sz), XAI_REALLOC(p,sz), XAI_FREE(p)   your allocator (all three, or none)
      XAI_ASSERT(x)         your assert (default: assert.h)
      XAI_NO_SIMD           portable C only, even where AVX2+FMA are available
      XAI_NO_FAST           the teaching build: Appendix A (packed GEMM, im2col, AVX2) is left out
                            and every layer runs its plain loop, the definition a debugger can step
                            through; the same results up to float rounding, many times slower
      XAI_NO_IMAGE_WRITE    Appendix B (PNG, JPEG, entropy) is left out: images are written as PNM
                            and PFM only, and the PNG/JPEG/complexity functions fail saying so
      XAI_FORWARD_BLOCK     bytes a forward-only tape (the evaluator's) may use for its blobs
                            before it runs fewer images at a time (default 32 MB)
   Compile with -fopenmp to spread convolutions over cores (results do not change with the thread
   count), and with -march=native (or -mavx2 -mfma) to get the AVX2 kernels.

   CONVENTIONS
   - Tensors are float32 NCHW, like Caffe's blobs.  A network is Caffe's: layers in topological order,
     each with named bottom and top blobs.  Network input is what Caffe's first layer reads (for
     ImageNet models: BGR, 0..255 minus the mean); images are RGB and xai_net_preprocess converts.
   - A function that can fail returns XAI_OK (0) or a negative XAI_ERR_* code (or NULL), and
     xai_failure_reason() says what went wrong, naming the file, the offset or field, and why.
     The reason is kept per thread.  Nothing here exits the process or prints.
   - Files are written under a temporary name (PATH.PID-TAG.tmp) and renamed when complete: a crash
     never leaves a half-written output, and the next writer of PATH removes a killed one's leftover.
   - A model file carries a CRC-32 per section and every weight must be finite: a damaged or broken
     model is refused at load, not run.

   CONTENTS (in reading order; search for "==== 5." to jump to a section)
      declarations           the public API, below this comment
      1. utilities           errors, allocation, counter-based random numbers, little-endian I/O,
                             atomic file writes, CRC-32
      2. tensors
      3. images              PNM/PFM read and write, resize, crop; heatmaps as colour pictures
      4. reference loops     convolution, fully connected and GEMM as plain loops: the definitions
      5. layers              for each Caffe layer type: forward, then its backward rules
      6. network             building, shapes, preprocessing, the forward pass and its tape
      7. explainers          the method table, the backward engine xai__backward, xai_explain
      8. evaluator           region order, perturbation curves, AOPC and its statistics
      9. model file          the .xai format: layout, writer, validating reader, checksums
      Appendix A: fast paths       packed GEMM, implicit im2col, AVX2 and OpenMP kernels
      Appendix B: image encoders   DEFLATE, PNG, baseline JPEG, entropy (the paper's Table I)
      licence
*/

#ifndef XAI_H_INCLUDE
#define XAI_H_INCLUDE

/* The library's version (semantic versioning): tools print it with --version. */
#define XAI_VERSION_MAJOR 0
#define XAI_VERSION_MINOR 9
#define XAI_VERSION_PATCH 0
#define XAI_VERSION_STRING "0.9.0"

#include <stddef.h>
#include <stdint.h>

#ifndef XAIDEF
#ifdef XAI_STATIC
#define XAIDEF static
#else
#define XAIDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------------------------------ */

enum {
    XAI_OK = 0,
    XAI_ERR_IO = -1,      /* a file could not be opened, read or written */
    XAI_ERR_FORMAT = -2,  /* a file or string is malformed */
    XAI_ERR_MEMORY = -3,  /* out of memory */
    XAI_ERR_ARG = -4,     /* a bad argument or an inconsistent network */
    XAI_ERR_LIMIT = -5    /* a size beyond what the library accepts */
};
XAIDEF const char *xai_failure_reason(void);
/* Writes len bytes to path under a temporary name, then renames: never a half-written file. */
XAIDEF int xai_file_write(const char *path, const void *data, size_t len);
XAIDEF double xai_seconds(void);   /* wall-clock time, for timing */
/* The library's random numbers: a hash of a seed and four counters (64-bit mixes, the same on every
   machine and in any order of calls).  The evaluator's noise, dropout and xai_net_fill_random use
   it; so may a program that wants reproducible draws (tools/train.c shuffles with it). */
XAIDEF uint64_t xai_random_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* ---- tensors ----------------------------------------------------------------------------------- */

typedef struct xai_tensor {
    int n, c, h, w;   /* batch, channels, height, width */
    float *data;      /* n*c*h*w floats, NCHW, row-major */
} xai_tensor;

#define XAI_AT(t, in, ic, ih, iw) \
    ((t)->data[(((size_t)(in) * (t)->c + (ic)) * (t)->h + (ih)) * (t)->w + (iw)])

XAIDEF int    xai_tensor_alloc(xai_tensor *t, int n, int c, int h, int w);   /* zero-filled */
XAIDEF void   xai_tensor_free(xai_tensor *t);
XAIDEF size_t xai_tensor_count(const xai_tensor *t);

/* ---- images ------------------------------------------------------------------------------------ */

/* An image: w x h pixels of c interleaved channels (1 gray, 3 RGB), rows top to bottom.  Read from
   PNM, values are scaled to 0..255 whatever the file's maxval; from PFM they are as stored. */
typedef struct xai_image {
    int w, h, c;
    float *data;
} xai_image;

XAIDEF int  xai_image_alloc(xai_image *img, int w, int h, int c);   /* zero-filled */
XAIDEF void xai_image_free(xai_image *img);
/* PPM/PGM (P6 P3 P5 P2, maxval 1..65535, comments) and PFM (PF colour, Pf gray, either byte order) */
XAIDEF int  xai_image_load(const char *path, xai_image *img);
XAIDEF int  xai_image_load_memory(const void *data, size_t len, const char *name, xai_image *img);
XAIDEF int  xai_image_write_pnm(const char *path, const xai_image *img);  /* P5/P6, 8 bit, rounded, clamped */
XAIDEF int  xai_image_write_pfm(const char *path, const xai_image *img);  /* Pf/PF, little-endian */
XAIDEF int  xai_image_resize(const xai_image *src, int w, int h, xai_image *dst);   /* bilinear */
XAIDEF int  xai_image_crop(const xai_image *src, int x, int y, int w, int h, xai_image *dst);

/* ---- the network ------------------------------------------------------------------------------- */

#define XAI_NAME_MAX 128      /* layer and blob names, including the terminating 0 */
#define XAI_LABEL_MAX 4096    /* class labels, including the terminating 0 */
#define XAI_DIM_MAX 65536     /* the input's channels, height and width */
#define XAI_MAX_BOTTOMS 16
#define XAI_MAX_TOPS 16

/* Layer types, with Caffe's names (xai_layer_type_name). */
enum {
    XAI_CONVOLUTION, XAI_INNER_PRODUCT, XAI_RELU, XAI_POOLING, XAI_LRN, XAI_DROPOUT,
    XAI_SOFTMAX, XAI_CONCAT, XAI_ELTWISE, XAI_SPLIT,
    XAI_LAYER_TYPE_COUNT
};
enum { XAI_POOL_MAX = 0, XAI_POOL_AVE = 1 };                       /* PoolingParameter.pool */
enum { XAI_ROUND_CEIL = 0, XAI_ROUND_FLOOR = 1 };                  /* PoolingParameter.round_mode */
enum { XAI_LRN_ACROSS_CHANNELS = 0, XAI_LRN_WITHIN_CHANNEL = 1 };  /* LRNParameter.norm_region */
enum { XAI_ELTWISE_PROD = 0, XAI_ELTWISE_SUM = 1, XAI_ELTWISE_MAX = 2 };

/* Every layer parameter, with Caffe's names and (from xai_layer_defaults) Caffe's defaults. */
typedef struct xai_layer_param {
    int type;
    /* Convolution, InnerProduct */
    int num_output, bias_term;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group;
    int transpose;                   /* InnerProduct: weights stored K x num_output */
    /* Pooling */
    int pool, global_pooling, round_mode;
    /* LRN */
    int local_size, norm_region;
    float alpha, beta, k;
    /* ReLU, Dropout */
    float negative_slope, dropout_ratio;
    /* Eltwise: coefficients for SUM (ncoeff 0 = all ones) */
    int operation, ncoeff;
    float coeff[XAI_MAX_BOTTOMS];
    /* Concat */
    int axis;
} xai_layer_param;

typedef struct xai_layer {
    char name[XAI_NAME_MAX];
    xai_layer_param p;
    int nbottom, bottom[XAI_MAX_BOTTOMS];   /* blob indices */
    int ntop, top[XAI_MAX_TOPS];
    float *weight, *bias;                   /* into net->params; NULL when the layer has none */
    int weight_shape[4];                    /* Caffe's blob shape: conv O,C/g,kh,kw; fc O,K,1,1 (K,O if transpose) */
    size_t weight_count, bias_count;
    size_t weight_offset, bias_offset;      /* in floats, from net->params */
} xai_layer;

/* A blob in static single assignment: an in-place layer (ReLU top = bottom) makes a new blob of the
   same name, so the tape keeps both and a lookup by name finds the last one, as Caffe shows it. */
typedef struct xai_blob {
    char name[XAI_NAME_MAX];
    int c, h, w;       /* per image */
    int producer;      /* layer index, -1 for the input */
} xai_blob;

enum { XAI_ORDER_GRAY = 0, XAI_ORDER_RGB = 1, XAI_ORDER_BGR = 2 };
enum { XAI_MEAN_NONE = 0, XAI_MEAN_PIXEL = 1, XAI_MEAN_IMAGE = 2 };

/* How a picture becomes network input, as Caffe's DataTransformer: input = (pixel - mean) * scale,
   times a per-channel factor where a model wants one (torchvision's (x / 255 - mean) / std is mean
   255 mean, scale 1/255, channel_scale 1/std). */
typedef struct xai_preprocess {
    int channel_order;        /* the order the network reads; RGB images are swapped for BGR */
    float scale;              /* 1 for ImageNet nets, 0.00390625 for Caffe's LeNet */
    float channel_scale[3];   /* per channel, network order, after scale: 1 unless set (file version 2) */
    int mean_kind;
    float mean_pixel[3];      /* XAI_MEAN_PIXEL: per channel, in the network's order */
    int mean_c, mean_h, mean_w;
    float *mean_image;        /* XAI_MEAN_IMAGE: C x H x W, network order (ILSVRC: 3x256x256 BGR) */
    int resize_w, resize_h;   /* Caffe's path: resize to this, then crop the centre; 0 = resize to the input */
} xai_preprocess;

typedef struct xai_net {
    char name[XAI_NAME_MAX];
    int nlayer, nblob;
    xai_layer *layer;
    xai_blob *blob;
    int input_blob, input_c, input_h, input_w;
    int score_blob;           /* pre-softmax class scores: the bottom of the last Softmax, else the last top */
    int output_blob;          /* the last layer's top */
    xai_preprocess pre;
    int nlabel;
    char **label;             /* class names, or NULL */
    float *params;            /* every weight and bias in one 64-byte aligned allocation */
    size_t nparams;
    float *input_mean;        /* derived: the mean as the input sees it (C x H x W), NULL if none */
    int cap_layer, cap_blob, finalized;
    int file_version;         /* the .xai version it was loaded from, 0 if built in memory */
} xai_net;

XAIDEF xai_layer_param xai_layer_defaults(int type);
XAIDEF const char *xai_layer_type_name(int type);     /* "Convolution", ... */

/* Build a network by hand: new, input, add layers in order, finalize (shapes, checks, one zeroed
   allocation for all weights), then fill net->layer[i].weight / .bias. */
XAIDEF xai_net *xai_net_new(const char *name);
XAIDEF int  xai_net_input(xai_net *net, const char *blob, int c, int h, int w);
/* bottoms and tops: blob names separated by commas or spaces ("conv1", "a,b").  Returns the layer
   index or a negative error. */
XAIDEF int  xai_net_add(xai_net *net, const char *name, const xai_layer_param *p,
                        const char *bottoms, const char *tops);
XAIDEF int  xai_net_finalize(xai_net *net);
XAIDEF int  xai_net_set_labels(xai_net *net, int n, const char *const *labels);
XAIDEF int  xai_net_set_mean_image(xai_net *net, int c, int h, int w, const float *mean);
XAIDEF int  xai_net_set_mean_pixel(xai_net *net, const float *mean);   /* input channels values, network order */
XAIDEF void xai_net_free(xai_net *net);
XAIDEF int  xai_net_find_blob(const xai_net *net, const char *name);    /* last blob of that name, or -1 */
XAIDEF int  xai_net_find_layer(const xai_net *net, const char *name);
XAIDEF size_t xai_net_input_size(const xai_net *net);                   /* C*H*W floats per image */
XAIDEF int  xai_net_num_classes(const xai_net *net);

/* Synthetic weights from a seed: Gaussian with std sqrt(2/fan_in) (He et al.), biases 0.1 on
   layers followed by ReLU and 0 elsewhere.  Identical on every machine. */
XAIDEF void xai_net_fill_random(xai_net *net, uint64_t seed);
/* The BVLC reference CaffeNet (models/bvlc_reference_caffenet/deploy.prototxt), finalized, zero
   weights, ImageNet preprocessing (BGR, per-channel ILSVRC mean, resize 256 and crop 227). */
XAIDEF xai_net *xai_net_caffenet(void);

/* Image -> network input (C*H*W floats) by the model's preprocessing.  shown, if not NULL, receives
   the RGB (or gray) picture the network sees, at the input size: heatmaps are drawn over it. */
XAIDEF int xai_net_preprocess(const xai_net *net, const xai_image *img, float *input, xai_image *shown);

/* ---- the forward pass -------------------------------------------------------------------------- */

/* What one forward pass keeps for n images: every blob, max-pool switches, LRN scales. */
typedef struct xai_tape {
    const xai_net *net;
    int n_max, n;             /* capacity, images in the last pass */
    xai_tensor *blob;         /* [net->nblob] activations */
    xai_tensor *signal;       /* [net->nblob] the backward signal (explainers) */
    int **switches;           /* [net->nlayer] MAX pooling and Eltwise MAX: argmax, else NULL */
    float **scale;            /* [net->nlayer] LRN: the scale s = k + alpha/n sum x^2, else NULL */
    float *work;              /* scratch for the kernels */
    size_t work_size;
    int reference;            /* 1: run the plain reference loops (the tests' yardstick) */
    int train;                /* 1: training-time Dropout (xai_net_backward follows it) */
    uint64_t dropout_key;     /* training: Dropout masks hash (key, layer, element): set it per batch */
    double *layer_seconds;    /* if not NULL ([net->nlayer]): each forward adds each layer's wall time */
    /* LRP-alpha-beta (set by xai_explain for its own forward pass): a linear layer with split[li] = 1
       computes its top as z+ + z- and keeps both parts, zpart[2 li] and zpart[2 li + 1], for the
       backward rule, which then needs no forward products of its own. */
    unsigned char *split;     /* [net->nlayer] */
    xai_tensor *zpart;        /* [2 * net->nlayer], allocated when first used */
    /* xai_tape_new_forward: the blobs share one block (arena, arena_bytes long), a blob's memory
       reused once the layers that read it have run; after a pass only the input, score and output
       blobs hold their values, and nothing can go backward.  0 and NULL on a full tape. */
    int forward_only;
    void *arena;
    size_t arena_bytes;
    int group;                /* forward-only: images run through the net at once; may be lowered */
    float **packed;           /* [net->nlayer] the incremental pass's state: conv weights packed once */
} xai_tape;

XAIDEF xai_tape *xai_tape_new(const xai_net *net, int n_max);
/* A tape for scores only (the evaluator's perturbed passes): the same kernels and the same bits as
   a full tape, in far less memory.  A blob's bytes are reused once its last reader has run, and the
   net runs tape->group images at a time (as many as keep that block within XAI_FORWARD_BLOCK bytes,
   32 MB unless defined before the implementation); only the input, score and output blobs hold all
   n_max images.  SqueezeNet at 16 images: 31 MB of blobs instead of 805 MB.  xai_explain and
   xai_net_backward refuse it; xai_tape_blob gives NULL for the blobs it does not keep. */
XAIDEF xai_tape *xai_tape_new_forward(const xai_net *net, int n_max);
XAIDEF void xai_tape_free(xai_tape *tape);
/* Runs n <= n_max images (input: n*C*H*W floats) through the whole net. */
XAIDEF int  xai_net_forward(const xai_net *net, xai_tape *tape, const float *input, int n);
XAIDEF const xai_tensor *xai_tape_blob(const xai_tape *tape, const char *name);
/* Class scores of image i of the last pass (the score blob, before softmax). */
XAIDEF const float *xai_tape_scores(const xai_tape *tape, int i);
XAIDEF int  xai_argmax(const float *v, int n);      /* first maximum */
XAIDEF void xai_softmax(float *v, int n);
/* C = op(A) op(B), plus C's old values if accumulate: row-major, op(A) M x K and op(B) K x N, where
   transA (transB) 1 reads A as K x M (B as N x K); lda, ldb, ldc are row strides in floats.  The
   product the convolutions and fully connected layers run on: packed, blocked, AVX2 and OpenMP
   where built in (in the XAI_NO_FAST build the plain loops, double sums).  Each element's sum runs
   in one order whatever N or the thread count. */
XAIDEF void xai_gemm(int M, int N, int K, const float *A, int lda, int transA, const float *B, int ldb, int transB,
                     float *C, int ldc, int accumulate);

/* ---- the model file ---------------------------------------------------------------------------- */

XAIDEF xai_net *xai_net_load(const char *path);
XAIDEF xai_net *xai_net_load_memory(const void *data, size_t len, const char *name);
XAIDEF int      xai_net_save(const xai_net *net, const char *path);
/* The file's bytes in a buffer from XAI_MALLOC (what xai_net_save writes). */
XAIDEF unsigned char *xai_net_save_memory(const xai_net *net, size_t *len);
/* What a tool should tell its user after a load, or NULL: a version 1 file has no checksums, so
   damage to it cannot be detected (loading and saving it again writes version 2). */
XAIDEF const char *xai_net_load_note(const xai_net *net);

/* ---- the explainers ---------------------------------------------------------------------------- */

/* One backward engine walks the net in reverse; a method says what each layer type does there.
   Sensitivity, deconvolution and LRP differ only in their backward rules per layer type
   (xai__method_table in the implementation is the whole difference, in one table). */
enum {
    XAI_SENSITIVITY,          /* gradient df_c/dx (Simonyan et al. 2014) */
    XAI_DECONVOLUTION,        /* Zeiler & Fergus 2014: ReLU passes max(0, signal) */
    XAI_LRP,                  /* layer-wise relevance propagation (Bach et al. 2015) */
    XAI_GRADIENT_X_INPUT,     /* gradient, heatmap sum_c x * df/dx */
    XAI_GUIDED_BACKPROP,      /* Springenberg et al. 2015: gradient and deconvolution's ReLU together */
    XAI_OCCLUSION,            /* Zeiler & Fergus 2014: the drop of f_c under a moving patch (no backward pass) */
    XAI_METHOD_KIND_COUNT
};

/* LRP rules.  For a linear layer z_j = sum_i x_i w_ij + b_j (Convolution, InnerProduct), with
   z_ij = x_i w_ij, R_i = sum_j (share of z_ij in z_j) R_j: */
enum {
    XAI_RULE_EPSILON,         /* Bach 2015 eq. 58: z_ij / (z_j + eps sign z_j) */
    XAI_RULE_ALPHA_BETA,      /* Bach 2015 eq. 60: alpha z+_ij/z+_j - beta z-_ij/z-_j, alpha - beta = 1 */
    XAI_RULE_ZPLUS,           /* alpha = 1, beta = 0 (Montavon et al. 2017) */
    XAI_RULE_ZB,              /* deep Taylor, pixels bounded by [0 - mean, 255 - mean] * scale */
    XAI_RULE_WSQUARE,         /* w^2_ij / sum_i w^2_ij: ignores the input */
    XAI_RULE_FLAT,            /* 1 / (number of inputs): ignores input and weights */
    XAI_RULE_GAMMA,           /* (w + gamma w+) x, Montavon et al. 2019 */
    /* sums (average pooling, Eltwise SUM), z_j = sum_i z_ij: */
    XAI_RULE_PROPORTIONAL,    /* z_ij / (z_j + s sign z_j), s = 1e-12 sum_i |z_ij|: the plain split (the
                                 LRP toolbox's pooling, zennit's Norm); XAI_RULE_EPSILON also applies */
    /* LRN: */
    XAI_RULE_IDENTITY,        /* relevance passes unchanged (the paper's time) */
    XAI_RULE_TAYLOR           /* linearised at x, then the eps-rule (Binder et al. 2016) */
};
enum { XAI_HEAT_L2, XAI_HEAT_LINF, XAI_HEAT_SUM, XAI_HEAT_SUM_X_INPUT };  /* signal -> one value a pixel */

typedef struct xai_rule {
    int rule;                  /* XAI_RULE_* */
    float eps, alpha, beta, gamma;
} xai_rule;

typedef struct xai_method {
    char name[64];             /* as parsed, e.g. "lrp-eps:0.01" */
    int kind;                  /* XAI_SENSITIVITY ... */
    /* LRP only: a rule for each layer slot, as zennit's composites map layer types to rules.  The
       linear slots: the first linear layer (the pixel layer), the other convolutions, the
       InnerProduct layers (plain methods set all three alike; composites differ).  Then average
       pooling and Eltwise SUM (XAI_RULE_PROPORTIONAL unless named otherwise) and LRN
       (XAI_RULE_IDENTITY, or XAI_RULE_TAYLOR).  MAX pooling and Eltwise MAX are winner-take-all;
       ReLU, Dropout, Concat and Split pass relevance through.  Set a slot by hand to change it. */
    xai_rule first, conv, fc, pool, sum, lrn;
    int heatmap;               /* XAI_HEAT_* */
    int patch, stride, perturb;   /* occlusion only: the patch's size, its step, XAI_PERTURB_* (see xai_occlusion) */
} xai_method;

/* Names (xai_method_describe lists them): sensitivity-l2, sensitivity-linf, deconv-l2,
   deconv-linf, guided-l2, guided-linf, gradxinput, lrp-eps[:EPS] (0.01), lrp-ab[:ALPHA] (2, beta =
   alpha - 1), lrp-zplus, lrp-gamma[:GAMMA] (0.25), lrp-zb, lrp-w2, lrp-flat (those three rules on the
   pixel layer, eps 0.01 elsewhere), lrp-composite (zB on the pixel layer, alpha 2 beta 1 on the other
   convolutions, eps 0.01 on the fc layers).  Options for LRP: "+taylor", the Taylor rule for LRN
   (lrp-eps:0.01+taylor); "+pool-eps", average pooling and Eltwise SUM by the convolutions'
   eps-rule instead of the plain split (the behaviour before version 0.9).  occlusion[:SIZE[:STRIDE]]
   (9, STRIDE = SIZE) with +uniform or +blur (default: the mean) for the patch.  Parameters are
   checked: EPS in (0, 1e6], ALPHA in [1, 1000], GAMMA in [0, 1000], SIZE and STRIDE in [1, 4096]. */
XAIDEF int xai_method_parse(const char *name, xai_method *m);
/* The i-th method of the table: "name[:PARAM]  what it is", or NULL past the last. */
XAIDEF const char *xai_method_describe(int i);

/* Explain n images: input n*C*H*W (network input, see xai_net_preprocess).  target[i] is the class
   to explain, or -1 for the predicted one; on return it holds the class used (target may be NULL:
   predicted classes).  Outputs, each may be NULL: signal n*C*H*W, the raw signal at the input in
   the network's channel order; heatmap n*H*W, one value a pixel.  score, if not NULL, receives
   f_c of each image.  tape: from xai_tape_new(net, >= n), or NULL for a temporary one.
   Cost: one forward and one backward pass.  For the alpha-beta rules (and z+) the forward pass
   computes each such layer's z_j as z+_j + z-_j, the rule's two denominators, and keeps them on the
   tape: 4 matrix products a layer in all (2 forward, 2 backward) instead of 5, and an InnerProduct
   at batch <= 4 reads W once for both parts.  The activations then equal the plain forward pass's
   up to float rounding (about 1e-7 relative), not bit for bit. */
XAIDEF int xai_explain(const xai_net *net, xai_tape *tape, const float *input, int n, const xai_method *m,
                       int *target, float *signal, float *heatmap, float *score);

/* The chain rule from the last forward pass on this tape: score_grad (n x classes) is dL/dscores;
   every blob's dL/dblob lands in the tape's signal, and weight and bias gradients are ADDED into
   param_grad (net->nparams floats, laid out like net->params), unless it is NULL.  For training. */
XAIDEF int xai_net_backward(const xai_net *net, xai_tape *tape, const float *score_grad, float *param_grad);

/* The per-layer signal of the last xai_explain on this tape (relevance for LRP), by blob name. */
XAIDEF const xai_tensor *xai_tape_signal(const xai_tape *tape, const char *name);


/* ---- heatmap pictures -------------------------------------------------------------------------- */

enum { XAI_CMAP_BWR, XAI_CMAP_HOT, XAI_CMAP_GRAY };

/* Heatmap (w x h floats) -> RGB picture, 0..255.  XAI_CMAP_BWR is for signed maps (LRP): blue for
   negative, white for 0, red for positive, scaled by max |h|.  HOT (black, red, yellow, white)
   and GRAY are for unsigned maps (sensitivity, deconvolution), scaled by max h; negative values
   show as 0.  clip_percentile in (0, 100): scale by that percentile of |h| instead of the maximum,
   so a few extreme pixels do not wash out the rest (values beyond saturate); 0: the maximum. */
XAIDEF int xai_heatmap_render(const float *heat, int w, int h, int cmap, float clip_percentile, xai_image *out);
/* out = (1 - alpha) * base + alpha * top; gray bases are taken as RGB. */
XAIDEF int xai_image_overlay(const xai_image *base, const xai_image *top, float alpha, xai_image *out);

/* Image files.  8-bit pixels, interleaved, rows top to bottom.  PNG: comp 1 gray, 2 gray+alpha, 3 RGB,
   4 RGBA; real DEFLATE (LZ77 with hash chains, dynamic Huffman blocks), per-row filters chosen as
   libpng does.  JPEG: baseline, comp 1 or 3, IJG quality scaling of the Annex K tables, standard
   Huffman tables, 4:2:0 chroma subsampling for colour (what libjpeg's cjpeg does by default).
   The _encode functions return a buffer from XAI_MALLOC; the _write functions write atomically. */
XAIDEF unsigned char *xai_png_encode(const unsigned char *pixels, int w, int h, int comp, size_t *out_len);
XAIDEF int xai_png_write(const char *path, const unsigned char *pixels, int w, int h, int comp);
XAIDEF unsigned char *xai_jpeg_encode(const unsigned char *pixels, int w, int h, int comp, int quality,
                                      size_t *out_len);
XAIDEF int xai_jpeg_write(const char *path, const unsigned char *pixels, int w, int h, int comp, int quality);
/* Shannon entropy in bits of the distribution of pixel values, a value being the whole comp-byte
   tuple (an RGB colour is one symbol); < 0 on error. */
XAIDEF double xai_image_entropy(const unsigned char *pixels, int w, int h, int comp);
/* A float picture (0..255, rounded and clamped) as 8-bit pixels (XAI_MALLOC), and as PNG or JPEG. */
XAIDEF unsigned char *xai_image_to_u8(const xai_image *img);
XAIDEF int xai_image_write_png(const char *path, const xai_image *img);
XAIDEF int xai_image_write_jpeg(const char *path, const xai_image *img, int quality);
/* How complex a heatmap looks (Samek et al. 2017, Table I): heat (w x h, one value a pixel) drawn
   by xai_heatmap_render with colour map cmap and no clipping (BWR scaled by max |h|, HOT and GRAY
   by max h), rounded to 8-bit RGB by xai_image_to_u8: the picture explain --heatmap-png writes.
   *png_bytes: the size of that picture as a PNG file (xai_png_encode); *jpeg_bytes: as a JPEG file
   at quality 90, the paper's (xai_jpeg_encode: baseline, 4:2:0); *entropy: the Shannon entropy in
   bits of its colours (xai_image_entropy, an RGB triple one symbol).  Outputs may be NULL. */
XAIDEF int xai_heatmap_complexity(const float *heat, int w, int h, int cmap, size_t *png_bytes, size_t *jpeg_bytes,
                                  double *entropy);

/* ---- the evaluator: region perturbation and AOPC ------------------------------------------------ */

enum { XAI_ORDER_MORF, XAI_ORDER_LERF, XAI_ORDER_RANDOM };          /* region orderings */
enum { XAI_PERTURB_UNIFORM, XAI_PERTURB_CONSTANT, XAI_PERTURB_BLUR };

typedef struct xai_aopc_config {
    int region;          /* r: regions are r x r squares on a grid from (0,0) (9) */
    int steps;           /* L: regions perturbed, one a step (100) */
    int repeats;         /* runs with fresh noise (10) */
    int perturb;         /* XAI_PERTURB_UNIFORM (the paper), CONSTANT (the mean) or BLUR */
    float blur_sigma;    /* XAI_PERTURB_BLUR: Gaussian sigma in pixels (3) */
    uint64_t seed;       /* noise and random orderings (1) */
    int batch;           /* perturbed images per forward pass (16); never changes a result */
    int softmax;         /* 1: score the softmax probability instead of f_c (0) */
    int no_incremental;  /* 1: every step a full forward pass; 0: only what the step changed (the same bits) */
} xai_aopc_config;

XAIDEF void xai_aopc_defaults(xai_aopc_config *cfg);
XAIDEF int  xai_region_count(int h, int w, int r);
/* The regions of a heatmap (h x w) in the order to perturb them: MoRF by descending summed
   relevance, LeRF ascending, ties to the lower region index (row-major); RANDOM a permutation
   keyed by (seed, image_id, repeat).  out: xai_region_count(h, w, r) indices. */
XAIDEF int  xai_region_order(const float *heat, int h, int w, int r, int order, uint64_t seed, uint64_t image_id,
                             int repeat, int *out);
/* One region-perturbation run (Samek et al. 2017, Sec. III): x(0) = input (network input space,
   C x H x W), x(k) = x(k-1) with the k-th region of the ordering replaced; curve[k] = f_c(x(k)) for
   k = 0..steps.  heat may be NULL for XAI_ORDER_RANDOM.  image_id and repeat key the noise, so
   the curve is the same for any batch size, thread count, shard or order of work.  tape: from
   xai_tape_new_forward (or xai_tape_new: the same curve) with n_max >= cfg->batch, or NULL for a
   temporary forward-only one.  Unless cfg->no_incremental, a step recomputes only what its region
   changed (each blob's dirty rectangle, below) and the layers after the last spatial one run
   batched over steps: the same curve, bit for bit, in about a third of the multiply-adds. */
XAIDEF int  xai_perturbation_curve(const xai_net *net, xai_tape *tape, const float *input, const float *heat, int cls,
                                   int order, uint64_t image_id, int repeat, const xai_aopc_config *cfg, float *curve);
/* Many runs of one image at once: run t has heatmap heat[t] (NULL for random), ordering order[t]
   and repeat index repeat[t]; curves: ntask x (steps + 1).  The runs are spread over the threads,
   each with its own forward-only tape (a whole curve a thread keeps small networks' cores busy,
   where splitting every layer would cost more in synchronisation than it saves).  Each curve is
   exactly what xai_perturbation_curve gives, for any thread count. */
XAIDEF int xai_perturbation_curves(const xai_net *net, const float *input, int cls, uint64_t image_id,
                                   const xai_aopc_config *cfg, int ntask, const float *const *heat, const int *order,
                                   const int *repeat, float *curves);
/* Occlusion (Zeiler & Fergus 2014): the drop of f_c when a size x size patch of the input is
   replaced as cfg->perturb says (uniform noise keyed by cfg->seed, image_id and the patch's index),
   the patch moved from (0,0) every `stride` pixels and clipped at the border (the evaluator's grid
   when stride = size); heatmap (H x W): at each pixel the mean drop of the patches covering it.
   *cls: the class, -1 for the predicted one (set on return); score: f_c of the input (may be NULL);
   cfg->softmax: drops of the probability.  Unless cfg->no_incremental, a patch recomputes only
   what it changes, from the clean image's blobs: the same heatmap, bit for bit, as full passes. */
XAIDEF int xai_occlusion(const xai_net *net, const float *input, int *cls, int size, int stride,
                         const xai_aopc_config *cfg, uint64_t image_id, float *heatmap, float *score);
/* The part of each blob that can change when the input's rows [y0, y1) x columns [x0, x1) change:
   rects[4 b .. 4 b + 3] = y0, x0, y1, x1 of blob b (all 0 when nothing can), from each layer's
   geometry (kernel, stride, pad, dilation, Caffe's rounding).  What the incremental pass recomputes. */
XAIDEF int xai_net_dirty_rects(const xai_net *net, int y0, int x0, int y1, int x1, int *rects);
/* AOPC(L) = 1/(L+1) sum_{k=0..L} (curve[0] - curve[k]) of one curve, for L = 0..steps. */
XAIDEF void xai_aopc_of_curve(const float *curve, int steps, double *aopc);

/* Mean and standard error of AOPC(L) over images, each image the mean of its repeats.  Sums are
   in double in the order images are added: add them in a fixed order to get the same bits. */
typedef struct xai_aopc_stat {
    int steps, images;
    double *sum, *sumsq;       /* [steps + 1] */
} xai_aopc_stat;
XAIDEF int    xai_aopc_stat_init(xai_aopc_stat *st, int steps);
XAIDEF void   xai_aopc_stat_free(xai_aopc_stat *st);
/* one image: curves[repeats][steps + 1] */
XAIDEF int    xai_aopc_stat_add(xai_aopc_stat *st, const float *curves, int repeats);
XAIDEF double xai_aopc_stat_mean(const xai_aopc_stat *st, int L);
XAIDEF double xai_aopc_stat_sem(const xai_aopc_stat *st, int L);

#ifdef __cplusplus
}
#endif
#endif /* XAI_H_INCLUDE */

/* ============================================================================================== */
/*                                      IMPLEMENTATION                                            */
/* ============================================================================================== */
#if defined(XAI_IMPLEMENTATION) && !defined(XAI_IMPLEMENTATION_DONE)
#define XAI_IMPLEMENTATION_DONE   /* a second include with XAI_IMPLEMENTATION adds nothing */

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if !defined(_WIN32)
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#if defined(XAI_MALLOC) && defined(XAI_REALLOC) && defined(XAI_FREE)
/* the caller's allocator */
#elif !defined(XAI_MALLOC) && !defined(XAI_REALLOC) && !defined(XAI_FREE)
#define XAI_MALLOC(sz) malloc(sz)
#define XAI_REALLOC(p, sz) realloc(p, sz)
#define XAI_FREE(p) free(p)
#else
#error "xai.h: define all three of XAI_MALLOC, XAI_REALLOC and XAI_FREE, or none"
#endif
#ifndef XAI_ASSERT
#include <assert.h>
#define XAI_ASSERT(x) assert(x)
#endif

/* The one AVX2 gate: the AVX2 kernels (Appendix A) exist only with the fast paths, AVX2 and FMA. */
#if !defined(XAI_NO_FAST) && !defined(XAI_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#define XAI__AVX2 1
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
/* Loops whose iterations write only their own outputs run over the threads when there is enough
   work (a variable `work`, in floats, at the use site): results never depend on the thread count. */
#define XAI__PARALLEL_FOR _Pragma("omp parallel for schedule(static) if (work > 32768)")
#else
#define XAI__PARALLEL_FOR (void)work;
#endif

/* ==== 1. utilities ============================================================================ */

#if defined(__cplusplus) && __cplusplus >= 201103L
#define XAI__THREAD_LOCAL thread_local
#elif defined(__GNUC__) || defined(__clang__)
#define XAI__THREAD_LOCAL __thread
#elif defined(_MSC_VER)
#define XAI__THREAD_LOCAL __declspec(thread)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define XAI__THREAD_LOCAL _Thread_local
#else
#define XAI__THREAD_LOCAL
#endif

static XAI__THREAD_LOCAL char xai__reason[512];

XAIDEF const char *xai_failure_reason(void) { return xai__reason; }

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static int xai__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(xai__reason, sizeof xai__reason, fmt, ap);
    va_end(ap);
    return code;
}

/* Prefix the current reason with a context ("model.xai: " + reason). */
static int xai__fail_context(int code, const char *context)
{
    char tmp[sizeof xai__reason];
    memcpy(tmp, xai__reason, sizeof tmp);
    snprintf(xai__reason, sizeof xai__reason, "%.200s: %.300s", context, tmp);
    return code;
}

static void *xai__malloc(size_t bytes)
{
    void *p = bytes ? XAI_MALLOC(bytes) : NULL;
    if (bytes && !p) xai__fail(XAI_ERR_MEMORY, "out of memory (%zu bytes)", bytes);
    return p;
}

static void *xai__calloc(size_t count, size_t size)
{
    void *p;
    if (size && count > (size_t)-1 / size) {
        xai__fail(XAI_ERR_LIMIT, "size overflow (%zu x %zu)", count, size);
        return NULL;
    }
    p = xai__malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

/* 64-byte aligned blocks (cache lines, AVX loads): the original pointer sits just below. */
static void *xai__aligned_alloc(size_t bytes)
{
    unsigned char *raw, *p;
    if (bytes > (size_t)-1 - 64 - sizeof(void *)) {
        xai__fail(XAI_ERR_LIMIT, "size overflow (%zu bytes)", bytes);
        return NULL;
    }
    raw = (unsigned char *)xai__malloc(bytes + 64 + sizeof(void *));
    if (!raw) return NULL;
    p = (unsigned char *)(((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63);
    memcpy(p - sizeof(void *), &raw, sizeof raw);
    return p;
}

static void xai__aligned_free(void *p)
{
    void *raw;
    if (!p) return;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
    XAI_FREE(raw);
}

/* a*b*c*d floats, or 0 with a reason when the product overflows or passes limit. */
static size_t xai__count4(size_t a, size_t b, size_t c, size_t d, size_t limit)
{
    size_t r = a;
    if (b && r > limit / b) return 0;
    r *= b;
    if (c && r > limit / c) return 0;
    r *= c;
    if (d && r > limit / d) return 0;
    r *= d;
    return r > limit ? 0 : r;
}

static void xai__copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= XAI_NAME_MAX) n = XAI_NAME_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Counter-based random numbers: a value is a hash of its key (seed, and up to four counters), so it
   does not depend on how many values were drawn before it, in which order or on which thread.
   The mixer is SplitMix64's finaliser (Steele et al. 2014). */
static uint64_t xai__mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t xai__random_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t h = xai__mix64(seed);
    h = xai__mix64(h ^ a);
    h = xai__mix64(h ^ b);
    h = xai__mix64(h ^ c);
    return xai__mix64(h ^ d);
}

XAIDEF uint64_t xai_random_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return xai__random_key(seed, a, b, c, d);
}

/* Wall-clock seconds, for the profile (xai_tape.layer_seconds) and the tools' progress lines. */
XAIDEF double xai_seconds(void)
{
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(CLOCK_MONOTONIC) && !defined(_WIN32)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

/* uniform in [0, 1), 24 bits: exactly representable as a float */
static float xai__uniform(uint64_t key) { return (float)(key >> 40) * (1.0f / 16777216.0f); }

/* Little-endian fields, byte by byte: the same file on every host. */
static uint32_t xai__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t xai__get_u64(const unsigned char *p)
{
    return (uint64_t)xai__get_u32(p) | (uint64_t)xai__get_u32(p + 4) << 32;
}
static float xai__get_f32(const unsigned char *p)
{
    uint32_t u = xai__get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void xai__put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static void xai__put_u64(unsigned char *p, uint64_t v)
{
    xai__put_u32(p, (uint32_t)v);
    xai__put_u32(p + 4, (uint32_t)(v >> 32));
}
static void xai__put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    xai__put_u32(p, u);
}
static int xai__host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Whole files.  Reading refuses files over max_bytes before allocating. */
static unsigned char *xai__read_file(const char *path, size_t max_bytes, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (!f) { xai__fail(XAI_ERR_IO, "%s: cannot open for reading", path); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        xai__fail(XAI_ERR_IO, "%s: cannot determine the file size", path);
        return NULL;
    }
    if ((unsigned long)size > max_bytes) {
        fclose(f);
        xai__fail(XAI_ERR_LIMIT, "%s: %ld bytes, more than the %zu this reader accepts", path, size, max_bytes);
        return NULL;
    }
    buf = (unsigned char *)xai__malloc((size_t)size + 1);
    if (!buf) { fclose(f); return NULL; }
    if (size && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        XAI_FREE(buf);
        xai__fail(XAI_ERR_IO, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

/* Writes to "<path>.<random>.tmp" and renames it over path only when every byte is out: a crash or
   a full disk never leaves a half-written file under the real name. */
typedef struct xai__out {
    FILE *f;
    char tmp[4096 + 32];
    const char *path;
    int failed, direct;
} xai__out;

/* A killed writer leaves "PATH.PID-TAG.tmp" behind: the next writer of PATH removes those whose
   process is gone (by /proc; where there is no /proc nothing is removed). */
static void xai__remove_stale_tmp(const char *path)
{
#if !defined(_WIN32)
    char dir[4096 + 1], name[4096 + 300];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    struct stat st;
    struct dirent *e;
    DIR *d;
    if (stat("/proc/self", &st) != 0 || !blen) return;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!(d = opendir(dir))) return;
    while ((e = readdir(d)) != NULL) {
        const char *p = e->d_name;
        unsigned long pid = 0;
        int digits = 0, hex = 0;
        if (strncmp(p, base, blen) != 0 || p[blen] != '.') continue;
        for (p += blen + 1; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
            pid = pid * 10 + (unsigned long)(*p - '0');
        if (!digits || *p++ != '-') continue;
        for (; ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) && hex < 8; p++) hex++;
        if (hex != 8 || strcmp(p, ".tmp") != 0 || pid == (unsigned long)getpid()) continue;
        snprintf(name, sizeof name, "/proc/%lu", pid);
        if (stat(name, &st) == 0 || errno != ENOENT) continue;   /* alive, or cannot tell */
        snprintf(name, sizeof name, "%s/%s", dir, e->d_name);
        remove(name);
    }
    closedir(d);
#else
    (void)path;
#endif
}

static int xai__out_open(xai__out *o, const char *path)
{
    static unsigned counter;
    unsigned long tag = (unsigned long)(xai__mix64((uint64_t)time(NULL) ^ ((uint64_t)clock() << 20) ^
                                                   (uint64_t)(uintptr_t)o ^ (uint64_t)++counter << 40) & 0xffffffffu);
    memset(o, 0, sizeof *o);
    if (strlen(path) > 4096) return xai__fail(XAI_ERR_ARG, "output path too long");
    o->path = path;
#if !defined(_WIN32)
    {
        /* a device or a pipe (/dev/full, /dev/stdout, a FIFO) is written in place: a temporary
           renamed over it would replace the device node with a regular file (as root) */
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            o->direct = 1;
            if (!(o->f = fopen(path, "wb"))) return xai__fail(XAI_ERR_IO, "%s: cannot open for writing", path);
            return XAI_OK;
        }
    }
#endif
#if !defined(_WIN32)
    xai__remove_stale_tmp(path);
    snprintf(o->tmp, sizeof o->tmp, "%s.%lu-%08lx.tmp", path, (unsigned long)getpid(), tag);
#else
    snprintf(o->tmp, sizeof o->tmp, "%s.%08lx.tmp", path, tag);
#endif
    o->f = fopen(o->tmp, "wb");
    if (!o->f) return xai__fail(XAI_ERR_IO, "%s: cannot create %s", path, o->tmp);
    return XAI_OK;
}

static void xai__out_write(xai__out *o, const void *data, size_t len)
{
    if (!o->failed && len && fwrite(data, 1, len, o->f) != len) o->failed = 1;
}

static int xai__out_close(xai__out *o)
{
    int bad = o->failed;
    if (fflush(o->f) != 0 || ferror(o->f)) bad = 1;
    if (fclose(o->f) != 0) bad = 1;
    if (o->direct) return bad ? xai__fail(XAI_ERR_IO, "%s: write error (disk full?)", o->path) : XAI_OK;
    if (bad) {
        remove(o->tmp);
        return xai__fail(XAI_ERR_IO, "%s: write error (disk full?); nothing was written", o->path);
    }
    if (rename(o->tmp, o->path) != 0) {
        /* Windows' rename does not replace an existing file */
        remove(o->path);
        if (rename(o->tmp, o->path) != 0) {
            remove(o->tmp);
            return xai__fail(XAI_ERR_IO, "%s: cannot rename %s into place", o->path, o->tmp);
        }
    }
    return XAI_OK;
}

static int xai__write_file(const char *path, const void *data, size_t len)
{
    xai__out o;
    int rc = xai__out_open(&o, path);
    if (rc) return rc;
    xai__out_write(&o, data, len);
    return xai__out_close(&o);
}

XAIDEF int xai_file_write(const char *path, const void *data, size_t len) { return xai__write_file(path, data, len); }

/* CRC-32 with the polynomial of PNG, zlib and Ethernet (PNG spec, annex D), in its reflected form
   0xEDB88320.  Start with crc = 0; feeding the result back in continues the same CRC over more bytes.
   Eight bytes a step ("slicing by 8"): table[k][b] is the CRC of byte b followed by k zero bytes, so
   the eight lookups of a step add up to the CRC of the eight bytes.  A model's weights (233 MB for
   CaffeNet) are checked in 0.1 s instead of 1 s one byte at a time.  The tables live on the stack,
   built per call (2,300 steps): nothing shared between threads, nothing to initialise. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static unsigned long xai__crc32(unsigned long crc, const unsigned char *p, size_t n)
{
    uint32_t table[8][256], c;
    int i, k;
    for (i = 0; i < 256; i++) {
        c = (uint32_t)i;
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));   /* one bit at a time */
        table[0][i] = c;
    }
    for (k = 1; k < 8; k++)
        for (i = 0; i < 256; i++) table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 255];
    c = ~(uint32_t)crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = table[7][lo & 255] ^ table[6][(lo >> 8) & 255] ^ table[5][(lo >> 16) & 255] ^ table[4][lo >> 24] ^
            table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
    }
    for (; n; p++, n--) c = (c >> 8) ^ table[0][(c ^ *p) & 255];
    return ~c & 0xffffffffUL;
}

/* ==== 2. tensors ============================================================================== */

#define XAI__MAX_FLOATS ((size_t)1 << 34)   /* 64 GiB: beyond this a size is taken as corrupt */

XAIDEF size_t xai_tensor_count(const xai_tensor *t)
{
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

XAIDEF int xai_tensor_alloc(xai_tensor *t, int n, int c, int h, int w)
{
    size_t count;
    t->data = NULL;
    t->n = t->c = t->h = t->w = 0;
    if (n < 0 || c < 0 || h < 0 || w < 0)
        return xai__fail(XAI_ERR_ARG, "tensor %dx%dx%dx%d: negative size", n, c, h, w);
    count = xai__count4((size_t)n, (size_t)c, (size_t)h, (size_t)w, XAI__MAX_FLOATS);
    if (!count && n && c && h && w) return xai__fail(XAI_ERR_LIMIT, "tensor %dx%dx%dx%d: too large", n, c, h, w);
    if (count) {
        t->data = (float *)xai__aligned_alloc(count * sizeof(float));
        if (!t->data) return XAI_ERR_MEMORY;
        memset(t->data, 0, count * sizeof(float));
    }
    t->n = n; t->c = c; t->h = h; t->w = w;
    return XAI_OK;
}

XAIDEF void xai_tensor_free(xai_tensor *t)
{
    if (!t) return;
    xai__aligned_free(t->data);
    t->data = NULL;
    t->n = t->c = t->h = t->w = 0;
}

/* ==== 3. images =============================================================================== */

#define XAI__MAX_IMAGE_PIXELS ((size_t)1 << 28)   /* 16384 x 16384 */
#define XAI__MAX_IMAGE_FILE ((size_t)1 << 32)

XAIDEF int xai_image_alloc(xai_image *img, int w, int h, int c)
{
    size_t count;
    img->data = NULL;
    img->w = img->h = img->c = 0;
    if (w <= 0 || h <= 0 || c <= 0 || c > 4) return xai__fail(XAI_ERR_ARG, "image %dx%dx%d: bad size", w, h, c);
    if ((size_t)w * (size_t)h > XAI__MAX_IMAGE_PIXELS)
        return xai__fail(XAI_ERR_LIMIT, "image %dx%d: more than %zu pixels", w, h, XAI__MAX_IMAGE_PIXELS);
    count = (size_t)w * (size_t)h * (size_t)c;
    img->data = (float *)xai__calloc(count, sizeof(float));
    if (!img->data) return XAI_ERR_MEMORY;
    img->w = w; img->h = h; img->c = c;
    return XAI_OK;
}

XAIDEF void xai_image_free(xai_image *img)
{
    if (!img) return;
    XAI_FREE(img->data);
    img->data = NULL;
    img->w = img->h = img->c = 0;
}

/* A cursor over a PNM header: whitespace and '#' comments between tokens (Netpbm). */
typedef struct xai__scan {
    const unsigned char *p;
    size_t len, pos;
    const char *name;
} xai__scan;

static void xai__scan_space(xai__scan *s)
{
    while (s->pos < s->len) {
        unsigned char ch = s->p[s->pos];
        if (ch == '#') {
            while (s->pos < s->len && s->p[s->pos] != '\n' && s->p[s->pos] != '\r') s->pos++;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') {
            s->pos++;
        } else {
            break;
        }
    }
}

/* An unsigned decimal of at most max; 0 on success. */
static int xai__scan_uint(xai__scan *s, unsigned long max, unsigned long *out, const char *what)
{
    unsigned long v = 0;
    size_t start;
    xai__scan_space(s);
    start = s->pos;
    while (s->pos < s->len && s->p[s->pos] >= '0' && s->p[s->pos] <= '9') {
        v = v * 10 + (unsigned long)(s->p[s->pos] - '0');
        if (v > max)
            return xai__fail(XAI_ERR_LIMIT, "%s: %s at byte %zu is larger than %lu", s->name, what, start, max);
        s->pos++;
    }
    if (s->pos == start) {
        if (s->pos >= s->len)
            return xai__fail(XAI_ERR_FORMAT, "%s: truncated: %s missing at byte %zu", s->name, what, start);
        return xai__fail(XAI_ERR_FORMAT, "%s: %s expected at byte %zu, found '%c'", s->name, what, start,
                         s->p[s->pos] >= 32 && s->p[s->pos] < 127 ? s->p[s->pos] : '?');
    }
    *out = v;
    return XAI_OK;
}

static int xai__load_pnm(xai__scan *s, xai_image *img)
{
    int kind = s->p[1] - '0', binary = kind == 5 || kind == 6, c = (kind == 3 || kind == 6) ? 3 : 1;
    unsigned long w, h, maxval;
    size_t count, i, bytes_per;
    int rc;
    s->pos = 2;
    if ((rc = xai__scan_uint(s, 1ul << 24, &w, "width")) || (rc = xai__scan_uint(s, 1ul << 24, &h, "height")) ||
        (rc = xai__scan_uint(s, 65535, &maxval, "maxval")))
        return rc;
    if (w == 0 || h == 0) return xai__fail(XAI_ERR_FORMAT, "%s: image size %lux%lu is empty", s->name, w, h);
    if (maxval == 0) return xai__fail(XAI_ERR_FORMAT, "%s: maxval 0", s->name);
    if ((size_t)w * h > XAI__MAX_IMAGE_PIXELS)
        return xai__fail(XAI_ERR_LIMIT, "%s: %lux%lu pixels, more than the %zu accepted", s->name, w, h,
                         XAI__MAX_IMAGE_PIXELS);
    count = (size_t)w * h * (size_t)c;
    bytes_per = maxval > 255 ? 2 : 1;
    if (binary) {
        /* exactly one whitespace byte separates maxval from the raster */
        if (s->pos >= s->len) return xai__fail(XAI_ERR_FORMAT, "%s: truncated after the header", s->name);
        s->pos++;
        if (s->len - s->pos < count * bytes_per)
            return xai__fail(XAI_ERR_FORMAT, "%s: truncated: %zu bytes of pixels at byte %zu, %zu needed for %lux%lu",
                             s->name, s->len - s->pos, s->pos, count * bytes_per, w, h);
    } else if ((s->len - s->pos) / 2 + 1 < count) {
        /* an ASCII value takes at least a digit and a separator: refuse before allocating */
        return xai__fail(XAI_ERR_FORMAT, "%s: truncated: %zu bytes cannot hold %zu ASCII values", s->name,
                         s->len - s->pos, count);
    }
    if ((rc = xai_image_alloc(img, (int)w, (int)h, c)) != XAI_OK) return rc;
    for (i = 0; i < count; i++) {
        unsigned long v;
        if (binary) {
            const unsigned char *q = s->p + s->pos + i * bytes_per;
            v = bytes_per == 2 ? (unsigned long)q[0] << 8 | q[1] : q[0];   /* 16 bit is big-endian */
        } else if ((rc = xai__scan_uint(s, 65535, &v, "pixel value")) != XAI_OK) {
            xai_image_free(img);
            return rc;
        }
        if (v > maxval) {
            xai_image_free(img);
            return xai__fail(XAI_ERR_FORMAT, "%s: pixel value %lu at sample %zu exceeds maxval %lu", s->name, v, i,
                             maxval);
        }
        img->data[i] = maxval == 255 ? (float)v : (float)((double)v * 255.0 / (double)maxval);
    }
    return XAI_OK;
}

/* PFM: "PF" (RGB) or "Pf" (gray), "w h", a scale whose sign gives the byte order (negative: little
   endian), one whitespace, then float rows from the BOTTOM of the image up. */
static int xai__load_pfm(xai__scan *s, xai_image *img)
{
    int c = s->p[1] == 'F' ? 3 : 1, little;
    unsigned long w, h;
    size_t count, x, y, k, start;
    double scale;
    char num[64];
    int rc, n = 0;
    s->pos = 2;
    if ((rc = xai__scan_uint(s, 1ul << 24, &w, "width")) || (rc = xai__scan_uint(s, 1ul << 24, &h, "height")))
        return rc;
    if (w == 0 || h == 0) return xai__fail(XAI_ERR_FORMAT, "%s: image size %lux%lu is empty", s->name, w, h);
    if ((size_t)w * h > XAI__MAX_IMAGE_PIXELS)
        return xai__fail(XAI_ERR_LIMIT, "%s: %lux%lu pixels, more than the %zu accepted", s->name, w, h,
                         XAI__MAX_IMAGE_PIXELS);
    xai__scan_space(s);
    start = s->pos;
    while (s->pos < s->len && n < 63 && strchr("+-.0123456789eE", s->p[s->pos]) && s->p[s->pos])
        num[n++] = (char)s->p[s->pos++];
    num[n] = 0;
    scale = n ? strtod(num, NULL) : 0.0;
    if (!n || scale == 0.0 || scale != scale)
        return xai__fail(XAI_ERR_FORMAT, "%s: bad PFM scale at byte %zu (a nonzero number is needed)", s->name, start);
    little = scale < 0;
    if (s->pos >= s->len) return xai__fail(XAI_ERR_FORMAT, "%s: truncated after the header", s->name);
    s->pos++;
    count = (size_t)w * h * (size_t)c;
    if ((s->len - s->pos) / 4 < count)
        return xai__fail(XAI_ERR_FORMAT, "%s: truncated: %zu bytes of floats at byte %zu, %zu needed for %lux%lu",
                         s->name, s->len - s->pos, s->pos, count * 4, w, h);
    if ((rc = xai_image_alloc(img, (int)w, (int)h, c)) != XAI_OK) return rc;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (k = 0; k < (size_t)c; k++) {
                size_t at = s->pos + (((h - 1 - y) * w + x) * (size_t)c + k) * 4;
                const unsigned char *q = s->p + at;
                unsigned char b[4];
                float f;
                if (little) { b[0] = q[0]; b[1] = q[1]; b[2] = q[2]; b[3] = q[3]; }
                else { b[0] = q[3]; b[1] = q[2]; b[2] = q[1]; b[3] = q[0]; }
                f = xai__get_f32(b);
                if (!(f == f) || f > FLT_MAX || f < -FLT_MAX) {
                    xai_image_free(img);
                    return xai__fail(XAI_ERR_FORMAT, "%s: value at byte %zu is not a finite number", s->name, at);
                }
                img->data[(y * w + x) * (size_t)c + k] = f;
            }
    return XAI_OK;
}

XAIDEF int xai_image_load_memory(const void *data, size_t len, const char *name, xai_image *img)
{
    xai__scan s;
    const unsigned char *p = (const unsigned char *)data;
    img->data = NULL;
    img->w = img->h = img->c = 0;
    s.p = p; s.len = len; s.pos = 0; s.name = name ? name : "image";
    if (len < 2 || p[0] != 'P')
        return xai__fail(XAI_ERR_FORMAT, "%s: not a PPM, PGM or PFM file (no 'P' magic)", s.name);
    if (p[1] == '2' || p[1] == '3' || p[1] == '5' || p[1] == '6') return xai__load_pnm(&s, img);
    if (p[1] == 'F' || p[1] == 'f') return xai__load_pfm(&s, img);
    return xai__fail(XAI_ERR_FORMAT, "%s: format P%c is not supported (P2, P3, P5, P6, PF, Pf are)", s.name,
                     p[1] >= 32 && p[1] < 127 ? p[1] : '?');
}

XAIDEF int xai_image_load(const char *path, xai_image *img)
{
    size_t len;
    unsigned char *buf = xai__read_file(path, XAI__MAX_IMAGE_FILE, &len);
    int rc;
    img->data = NULL;
    img->w = img->h = img->c = 0;
    if (!buf) return XAI_ERR_IO;
    rc = xai_image_load_memory(buf, len, path, img);
    XAI_FREE(buf);
    return rc;
}

XAIDEF int xai_image_write_pnm(const char *path, const xai_image *img)
{
    char header[64];
    size_t count = (size_t)img->w * img->h, i;
    unsigned char *buf;
    int hl, rc, c = img->c == 1 ? 1 : 3, k;
    if (!img->data || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3 && img->c != 4))
        return xai__fail(XAI_ERR_ARG, "%s: cannot write an image of %dx%dx%d as PNM", path, img->w, img->h, img->c);
    hl = snprintf(header, sizeof header, "P%d\n%d %d\n255\n", c == 1 ? 5 : 6, img->w, img->h);
    buf = (unsigned char *)xai__malloc((size_t)hl + count * (size_t)c);
    if (!buf) return XAI_ERR_MEMORY;
    memcpy(buf, header, (size_t)hl);
    for (i = 0; i < count; i++)
        for (k = 0; k < c; k++) {
            float v = img->data[i * (size_t)img->c + (size_t)k];
            size_t at = (size_t)hl + i * (size_t)c + (size_t)k;
            buf[at] = (unsigned char)(v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)(v + 0.5f));
        }
    rc = xai__write_file(path, buf, (size_t)hl + count * (size_t)c);
    XAI_FREE(buf);
    return rc;
}

XAIDEF int xai_image_write_pfm(const char *path, const xai_image *img)
{
    char header[64];
    size_t x, y, k, at, row = (size_t)img->w * (size_t)img->c;
    unsigned char *buf;
    int hl, rc;
    if (!img->data || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
        return xai__fail(XAI_ERR_ARG, "%s: cannot write an image of %dx%dx%d as PFM", path, img->w, img->h, img->c);
    hl = snprintf(header, sizeof header, "P%c\n%d %d\n-1.0\n", img->c == 3 ? 'F' : 'f', img->w, img->h);
    buf = (unsigned char *)xai__malloc((size_t)hl + row * (size_t)img->h * 4);
    if (!buf) return XAI_ERR_MEMORY;
    memcpy(buf, header, (size_t)hl);
    at = (size_t)hl;
    for (y = (size_t)img->h; y-- > 0;)     /* bottom row first */
        for (x = 0; x < (size_t)img->w; x++)
            for (k = 0; k < (size_t)img->c; k++, at += 4)
                xai__put_f32(buf + at, img->data[y * row + x * (size_t)img->c + k]);
    rc = xai__write_file(path, buf, at);
    XAI_FREE(buf);
    return rc;
}

/* Bilinear, pixel centres aligned (a pixel covers [x, x+1), its centre is x + 0.5), edges clamped:
   what skimage.transform.resize(order=1) - and so Caffe's Python preprocessing - does on upscaling. */
XAIDEF int xai_image_resize(const xai_image *src, int w, int h, xai_image *dst)
{
    int x, y, k, rc;
    double sx = (double)src->w / w, sy = (double)src->h / h;
    if ((rc = xai_image_alloc(dst, w, h, src->c)) != XAI_OK) return rc;
    for (y = 0; y < h; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        int y0, y1;
        double ay;
        if (fy < 0) fy = 0;
        y0 = (int)fy;
        if (y0 > src->h - 1) y0 = src->h - 1;
        y1 = y0 + 1 < src->h ? y0 + 1 : src->h - 1;
        ay = fy - y0;
        for (x = 0; x < w; x++) {
            double fx = (x + 0.5) * sx - 0.5, ax;
            int x0, x1;
            if (fx < 0) fx = 0;
            x0 = (int)fx;
            if (x0 > src->w - 1) x0 = src->w - 1;
            x1 = x0 + 1 < src->w ? x0 + 1 : src->w - 1;
            ax = fx - x0;
            for (k = 0; k < src->c; k++) {
                const float *r0 = src->data + (size_t)y0 * src->w * src->c,
                            *r1 = src->data + (size_t)y1 * src->w * src->c;
                double top = r0[x0 * src->c + k] * (1 - ax) + r0[x1 * src->c + k] * ax;
                double bot = r1[x0 * src->c + k] * (1 - ax) + r1[x1 * src->c + k] * ax;
                dst->data[((size_t)y * w + x) * src->c + k] = (float)(top * (1 - ay) + bot * ay);
            }
        }
    }
    return XAI_OK;
}

XAIDEF int xai_image_crop(const xai_image *src, int x, int y, int w, int h, xai_image *dst)
{
    int row, rc;
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x > src->w - w || y > src->h - h)
        return xai__fail(XAI_ERR_ARG, "crop %dx%d at (%d,%d) does not fit in a %dx%d image", w, h, x, y, src->w,
                         src->h);
    if ((rc = xai_image_alloc(dst, w, h, src->c)) != XAI_OK) return rc;
    for (row = 0; row < h; row++)
        memcpy(dst->data + (size_t)row * w * src->c, src->data + ((size_t)(y + row) * src->w + x) * src->c,
               (size_t)w * src->c * sizeof(float));
    return XAI_OK;
}


/* -- heatmap pictures -- */

static int xai__cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

XAIDEF int xai_heatmap_render(const float *heat, int w, int h, int cmap, float clip_percentile, xai_image *out)
{
    size_t n = (size_t)w * h, i;
    double scale = 0;
    int rc;
    if (cmap < XAI_CMAP_BWR || cmap > XAI_CMAP_GRAY)
        return xai__fail(XAI_ERR_ARG, "heatmap: unknown colour map %d", cmap);
    if (!(clip_percentile >= 0 && clip_percentile < 100))
        return xai__fail(XAI_ERR_ARG, "heatmap: percentile %g not in [0, 100)", clip_percentile);
    if ((rc = xai_image_alloc(out, w, h, 3)) != XAI_OK) return rc;
    if (clip_percentile > 0) {
        float *mag = (float *)xai__malloc(n * sizeof(float));
        size_t k;
        if (!mag) { xai_image_free(out); return XAI_ERR_MEMORY; }
        for (i = 0; i < n; i++) mag[i] = cmap == XAI_CMAP_BWR ? fabsf(heat[i]) : (heat[i] > 0 ? heat[i] : 0);
        qsort(mag, n, sizeof(float), xai__cmp_float);
        k = (size_t)((double)clip_percentile / 100.0 * (double)(n - 1) + 0.5);
        scale = mag[k];
        XAI_FREE(mag);
    }
    if (scale <= 0)
        for (i = 0; i < n; i++) {
            double v = cmap == XAI_CMAP_BWR ? fabs(heat[i]) : heat[i];
            if (v > scale) scale = v;
        }
    for (i = 0; i < n; i++) {
        double t = scale > 0 ? heat[i] / scale : 0;
        float *px = out->data + 3 * i;
        if (t > 1) t = 1;
        if (t < -1) t = -1;
        if (cmap == XAI_CMAP_BWR) {          /* white at 0, towards red (+) or blue (-) */
            px[0] = (float)(255 * (t < 0 ? 1 + t : 1));
            px[1] = (float)(255 * (1 - fabs(t)));
            px[2] = (float)(255 * (t > 0 ? 1 - t : 1));
        } else {
            if (t < 0) t = 0;
            if (cmap == XAI_CMAP_HOT) {      /* black -> red -> yellow -> white */
                double r = 3 * t, g = 3 * t - 1, b = 3 * t - 2;
                px[0] = (float)(255 * (r > 1 ? 1 : r));
                px[1] = (float)(255 * (g < 0 ? 0 : g > 1 ? 1 : g));
                px[2] = (float)(255 * (b < 0 ? 0 : b));
            } else {
                px[0] = px[1] = px[2] = (float)(255 * t);
            }
        }
    }
    return XAI_OK;
}

XAIDEF int xai_image_overlay(const xai_image *base, const xai_image *top, float alpha, xai_image *out)
{
    size_t i, n = (size_t)base->w * base->h;
    int c, rc;
    if (base->w != top->w || base->h != top->h)
        return xai__fail(XAI_ERR_ARG, "overlay: %dx%d over %dx%d", top->w, top->h, base->w, base->h);
    if ((rc = xai_image_alloc(out, base->w, base->h, 3)) != XAI_OK) return rc;
    for (i = 0; i < n; i++)
        for (c = 0; c < 3; c++) {
            float b = base->data[i * base->c + (base->c >= 3 ? c : 0)],
                  t = top->data[i * top->c + (top->c >= 3 ? c : 0)];
            out->data[3 * i + c] = (1 - alpha) * b + alpha * t;
        }
    return XAI_OK;
}

XAIDEF unsigned char *xai_image_to_u8(const xai_image *img)
{
    size_t n = (size_t)img->w * img->h * img->c, i;
    unsigned char *out = (unsigned char *)xai__malloc(n ? n : 1);
    if (!out) return NULL;
    for (i = 0; i < n; i++) {
        float v = img->data[i];
        out[i] = (unsigned char)(v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)(v + 0.5f));
    }
    return out;
}

/* ==== 4. reference loops ====================================================================== */
/* The products every layer needs, each first as a plain loop that reads like its definition (the
   tests' yardstick), then dispatched to the fast path.  mod changes each weight as it is read:
   LRP's rules use w+ = max(0,w), w- = min(0,w), w^2 and 1 without copying the weights. */

enum { XAI__MOD_NONE, XAI__MOD_POS, XAI__MOD_NEG, XAI__MOD_SQUARE, XAI__MOD_ONE };

static float xai__mod(float v, int mod)
{
    switch (mod) {
    case XAI__MOD_POS: return v > 0 ? v : 0;
    case XAI__MOD_NEG: return v < 0 ? v : 0;
    case XAI__MOD_SQUARE: return v * v;
    case XAI__MOD_ONE: return 1;
    default: return v;
    }
}

/* The taps t in [*lo, *hi) of a window of k taps d apart from position i0 that fall inside [0, n):
   the loops below visit only those, in the order the window lists them. */
static void xai__taps(int i0, int d, int n, int k, int *lo, int *hi)
{
    *lo = i0 >= 0 ? 0 : (-i0 + d - 1) / d;
    *hi = n - 1 - i0 < 0 ? 0 : (n - 1 - i0) / d + 1;
    if (*hi > k) *hi = k;
    if (*lo > *hi) *lo = *hi;
}

/* Convolution, Caffe's cross-correlation with zero padding.
   x (n, C, H, W) -> y (n, O, OH, OW); weight (O, C/group, kh, kw); group g mixes only its own channels.
   y[o][oh][ow] = b[o] + sum_{c,ki,kj} w[o][c][ki][kj] * x[g*C/G + c][oh*sh - ph + ki*dh][ow*sw - pw + kj*dw].
   The outputs in rows [oh0, oh1) and columns [ow0, ow1) only (the incremental pass, section 8);
   xai__conv_forward_ref computes them all. */
static void xai__conv_forward_ref_rect(const xai_layer *L, const xai_tensor *x, int wmod, int with_bias, xai_tensor *y,
                                       int oh0, int ow0, int oh1, int ow1)
{
    const xai_layer_param *p = &L->p;
    int G = p->group, Cg = x->c / G, Og = p->num_output / G, n, g, o, oh, ow, c, ki, kj;
    for (n = 0; n < x->n; n++)
        for (g = 0; g < G; g++)
            for (o = g * Og; o < (g + 1) * Og; o++)
                for (oh = oh0; oh < oh1; oh++)
                    for (ow = ow0; ow < ow1; ow++) {
                        double acc = with_bias && L->bias ? L->bias[o] : 0.0;
                        int iw0 = ow * p->stride_w - p->pad_w, dw = p->dilation_w, kj0, kj1;
                        xai__taps(iw0, dw, x->w, p->kernel_w, &kj0, &kj1);
                        for (c = 0; c < Cg; c++)
                            for (ki = 0; ki < p->kernel_h; ki++) {
                                int ih = oh * p->stride_h - p->pad_h + ki * p->dilation_h;
                                const float *wrow = L->weight + (((size_t)o * Cg + c) * p->kernel_h + ki) * p->kernel_w;
                                const float *xrow;
                                if (ih < 0 || ih >= x->h) continue;
                                xrow = &XAI_AT(x, n, g * Cg + c, ih, 0);
                                /* a float times a float is exact in double: the same sum whether or not
                                   the compiler fuses the multiply and the add */
                                if (wmod == XAI__MOD_NONE)
                                    for (kj = kj0; kj < kj1; kj++) acc += (double)wrow[kj] * xrow[iw0 + kj * dw];
                                else
                                    for (kj = kj0; kj < kj1; kj++)
                                        acc += (double)xai__mod(wrow[kj], wmod) * xrow[iw0 + kj * dw];
                            }
                        XAI_AT(y, n, o, oh, ow) = (float)acc;
                    }
}

static void xai__conv_forward_ref(const xai_layer *L, const xai_tensor *x, int wmod, int with_bias, xai_tensor *y)
{
    xai__conv_forward_ref_rect(L, x, wmod, with_bias, y, 0, 0, y->h, y->w);
}

/* The transpose: dx (+)= W^T g, every output's signal sent back along the weights it was made with. */
static int xai__conv_backward_data_ref(const xai_layer *L, const xai_tensor *gy, int wmod, xai_tensor *dx,
                                       int accumulate)
{
    const xai_layer_param *p = &L->p;
    int G = p->group, Cg = dx->c / G, Og = p->num_output / G, n, g, o, oh, ow, c, ki, kj;
    size_t i, plane = (size_t)dx->c * dx->h * dx->w;
    double *acc = (double *)xai__calloc(plane, sizeof(double));
    if (!acc) return XAI_ERR_MEMORY;
    for (n = 0; n < gy->n; n++) {
        memset(acc, 0, plane * sizeof(double));
        for (g = 0; g < G; g++)
            for (o = g * Og; o < (g + 1) * Og; o++)
                for (oh = 0; oh < gy->h; oh++)
                    for (ow = 0; ow < gy->w; ow++) {
                        double gv = XAI_AT(gy, n, o, oh, ow);
                        int iw0 = ow * p->stride_w - p->pad_w, dw = p->dilation_w, kj0, kj1;
                        if (gv == 0) continue;
                        xai__taps(iw0, dw, dx->w, p->kernel_w, &kj0, &kj1);
                        for (c = 0; c < Cg; c++)
                            for (ki = 0; ki < p->kernel_h; ki++) {
                                int ih = oh * p->stride_h - p->pad_h + ki * p->dilation_h;
                                const float *wrow = L->weight + (((size_t)o * Cg + c) * p->kernel_h + ki) * p->kernel_w;
                                double *arow;
                                if (ih < 0 || ih >= dx->h) continue;
                                arow = acc + ((size_t)(g * Cg + c) * dx->h + ih) * dx->w;
                                if (wmod == XAI__MOD_NONE)
                                    for (kj = kj0; kj < kj1; kj++) arow[iw0 + kj * dw] += gv * wrow[kj];
                                else
                                    for (kj = kj0; kj < kj1; kj++) arow[iw0 + kj * dw] += gv * xai__mod(wrow[kj], wmod);
                            }
                    }
        for (i = 0; i < plane; i++) {
            float *d = dx->data + (size_t)n * plane + i;
            *d = accumulate ? *d + (float)acc[i] : (float)acc[i];
        }
    }
    XAI_FREE(acc);
    return XAI_OK;
}

/* Training: dW += sum over images and positions of g * x, db += sum of g. */
static void xai__conv_backward_weight_ref(const xai_layer *L, const xai_tensor *x, const xai_tensor *gy, float *dw,
                                          float *db)
{
    const xai_layer_param *p = &L->p;
    int G = p->group, Cg = x->c / G, Og = p->num_output / G, n, g, o, oh, ow, c, ki, kj;
    for (g = 0; g < G; g++)
        for (o = g * Og; o < (g + 1) * Og; o++) {
            for (c = 0; c < Cg; c++)
                for (ki = 0; ki < p->kernel_h; ki++)
                    for (kj = 0; kj < p->kernel_w; kj++) {
                        double acc = 0;
                        int off = kj * p->dilation_w - p->pad_w, ow0, ow1;
                        /* the outputs whose input column ow*sw + off lies inside the row */
                        ow0 = off >= 0 ? 0 : (-off + p->stride_w - 1) / p->stride_w;
                        ow1 = x->w - 1 - off < 0 ? 0 : (x->w - 1 - off) / p->stride_w + 1;
                        if (ow1 > gy->w) ow1 = gy->w;
                        for (n = 0; n < x->n; n++)
                            for (oh = 0; oh < gy->h; oh++) {
                                int ih = oh * p->stride_h - p->pad_h + ki * p->dilation_h;
                                const float *grow = &XAI_AT(gy, n, o, oh, 0), *xrow;
                                if (ih < 0 || ih >= x->h) continue;
                                xrow = &XAI_AT(x, n, g * Cg + c, ih, 0);
                                for (ow = ow0; ow < ow1; ow++) acc += (double)grow[ow] * xrow[ow * p->stride_w + off];
                            }
                        dw[(((size_t)o * Cg + c) * p->kernel_h + ki) * p->kernel_w + kj] += (float)acc;
                    }
            if (db) {
                double acc = 0;
                for (n = 0; n < x->n; n++)
                    for (oh = 0; oh < gy->h; oh++)
                        for (ow = 0; ow < gy->w; ow++) acc += XAI_AT(gy, n, o, oh, ow);
                db[o] += (float)acc;
            }
        }
}

/* InnerProduct: y[o] = b[o] + sum_k W[o][k] x[k], x flattened in C,H,W order.
   transpose: W is stored K x O (W[k][o]). */
static float xai__ip_weight(const xai_layer *L, int o, size_t k, size_t K)
{
    return L->p.transpose ? L->weight[k * (size_t)L->p.num_output + (size_t)o] : L->weight[(size_t)o * K + k];
}

static void xai__ip_forward_ref(const xai_layer *L, const xai_tensor *x, int wmod, int with_bias, xai_tensor *y)
{
    size_t K = (size_t)x->c * x->h * x->w, k;
    int n, o;
    for (n = 0; n < x->n; n++)
        for (o = 0; o < L->p.num_output; o++) {
            double acc = with_bias && L->bias ? L->bias[o] : 0.0;
            const float *xn = x->data + (size_t)n * K;
            for (k = 0; k < K; k++) acc += (double)xai__mod(xai__ip_weight(L, o, k, K), wmod) * xn[k];
            y->data[(size_t)n * L->p.num_output + o] = (float)acc;
        }
}

static void xai__ip_backward_data_ref(const xai_layer *L, const xai_tensor *gy, int wmod, xai_tensor *dx,
                                      int accumulate)
{
    size_t K = (size_t)dx->c * dx->h * dx->w, k;
    int n, o;
    double *acc = (double *)xai__malloc(K * sizeof(double));
    for (n = 0; n < gy->n; n++) {
        /* dx[k] = sum_o w[o][k] g[o], each sum in increasing o; o outer where memory allows, so that W
           is read row by row (fc6's 151 MB) instead of with a stride of K */
        if (acc && !L->p.transpose) {
            memset(acc, 0, K * sizeof(double));
            for (o = 0; o < L->p.num_output; o++) {
                double g = gy->data[(size_t)n * L->p.num_output + o];
                const float *w = L->weight + (size_t)o * K;
                for (k = 0; k < K; k++) acc[k] += (double)xai__mod(w[k], wmod) * g;
            }
        }
        for (k = 0; k < K; k++) {
            float *d = dx->data + (size_t)n * K + k;
            double sum = 0;
            if (acc && !L->p.transpose) {
                sum = acc[k];
            } else {
                for (o = 0; o < L->p.num_output; o++)
                    sum += (double)xai__mod(xai__ip_weight(L, o, k, K), wmod) * gy->data[(size_t)n * L->p.num_output + o];
            }
            *d = accumulate ? *d + (float)sum : (float)sum;
        }
    }
    XAI_FREE(acc);
}

static void xai__ip_backward_weight_ref(const xai_layer *L, const xai_tensor *x, const xai_tensor *gy, float *dw,
                                        float *db)
{
    size_t K = (size_t)x->c * x->h * x->w, k;
    int n, o, O = L->p.num_output;
    for (o = 0; o < O; o++) {
        for (k = 0; k < K; k++) {
            double acc = 0;
            for (n = 0; n < x->n; n++) acc += (double)gy->data[(size_t)n * O + o] * x->data[(size_t)n * K + k];
            dw[L->p.transpose ? k * (size_t)O + (size_t)o : (size_t)o * K + k] += (float)acc;
        }
        if (db) {
            double acc = 0;
            for (n = 0; n < x->n; n++) acc += gy->data[(size_t)n * O + o];
            db[o] += (float)acc;
        }
    }
}

/* The GEMM's plain reference: C = (accumulate ? C : 0) + opA(A) opB(B) with double sums, no
   blocking (the tests' yardstick for xai__gemm below). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static void xai__gemm_ref(int M, int N, int K, const float *A, int lda, int transA, int modA, const float *B, int ldb,
                          int transB, int modB, float *C, int ldc, int accumulate)
{
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = accumulate ? (double)C[(size_t)i * ldc + j] : 0.0;
            for (k = 0; k < K; k++) {
                float a = xai__mod(transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k], modA);
                float b = xai__mod(transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j], modB);
                s += (double)a * (double)b;
            }
            C[(size_t)i * ldc + j] = (float)s;
        }
}

/* ==== 5. layers =============================================================================== */
/* For each Caffe layer type: its forward pass, then its backward rules side by side.  A backward
   rule reads the top's signal and ADDS its share into each bottom's signal (a blob read by several
   layers sums what they send back, like Caffe's Split).  Which rule runs is decided by the
   method table in section 7. */

#define XAI__X(t, L, i) (&(t)->blob[(L)->bottom[i]])     /* bottom activations */
#define XAI__Y(t, L, j) (&(t)->blob[(L)->top[j]])        /* top activations */
#define XAI__DX(t, L, i) (&(t)->signal[(L)->bottom[i]])  /* bottom signal, added into */
#define XAI__DY(t, L, j) (&(t)->signal[(L)->top[j]])     /* top signal */

/* What a backward rule is told: the net, the tape, the method and this layer's LRP rule. */
typedef struct xai__ctx {
    const xai_net *net;
    xai_tape *t;
    const xai_method *m;
    const xai_rule *rule;
} xai__ctx;

typedef int (*xai__forward_fn)(const xai_net *net, const xai_layer *L, xai_tape *t, int li);
typedef int (*xai__backward_fn)(const xai__ctx *cx, const xai_layer *L, int li);

/* A rectangle of a blob's positions: rows [y0, y1), columns [x0, x1); empty when y0 >= y1 or
   x0 >= x1.  The incremental pass (section 8) has a layer recompute only such a part of its top
   (its forward_rect), each element by the same arithmetic as its full forward: the same bits. */
typedef struct xai__rect { int y0, x0, y1, x1; } xai__rect;
typedef int (*xai__forward_rect_fn)(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r);

/* every channel of x (all its images) into y from channel c_off on, rectangle r of each plane */
static void xai__copy_rect(const xai_tensor *x, xai_tensor *y, int c_off, const xai__rect *r)
{
    int n, c, h;
    if (r->x1 <= r->x0) return;
    for (n = 0; n < x->n; n++)
        for (c = 0; c < x->c; c++)
            for (h = r->y0; h < r->y1; h++)
                memcpy(&XAI_AT(y, n, c_off + c, h, r->x0), &XAI_AT(x, n, c, h, r->x0),
                       (size_t)(r->x1 - r->x0) * sizeof(float));
}

/* -- fast or plain --------------------------------------------------------------------------------
   The products of the linear layers, max pooling and LRN each have two paths: the plain loops
   (section 4 and each layer's own loop: the definitions, the tests' yardstick) and the fast ones
   (Appendix A; LRN's beside its plain loop).  xai__fast is the one place that chooses: the fast
   path, unless this is the teaching build (XAI_NO_FAST: Appendix A is not compiled, every layer runs
   its plain loop, a debugger steps through the definitions) or the tape asks for the plain loops
   (tape->reference).  The #ifndefs below only hide Appendix A's names where it is absent. */
static int xai__fast(const xai_tape *t)
{
#ifdef XAI_NO_FAST
    (void)t;
    return 0;
#else
    return !t->reference;
#endif
}

#ifndef XAI_NO_FAST
/* A convolution's shape in plain integers, with Caffe's names: what the fast paths (Appendix A) read
   instead of the layer. */
typedef struct xai__conv_geom {
    int C, H, W, OH, OW;      /* input channels and size, output size */
    int num_output, group, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
} xai__conv_geom;

static xai__conv_geom xai__conv_geom_of(const xai_layer *L, int C, int H, int W, int OH, int OW)
{
    const xai_layer_param *p = &L->p;
    xai__conv_geom g;
    g.C = C; g.H = H; g.W = W; g.OH = OH; g.OW = OW;
    g.num_output = p->num_output; g.group = p->group;
    g.kernel_h = p->kernel_h; g.kernel_w = p->kernel_w; g.stride_h = p->stride_h; g.stride_w = p->stride_w;
    g.pad_h = p->pad_h; g.pad_w = p->pad_w; g.dilation_h = p->dilation_h; g.dilation_w = p->dilation_w;
    return g;
}

/* Appendix A's entry points: plain numbers and pointers (the tape's work buffer is passed as one) */
static int xai__conv_forward_gemm(const xai__conv_geom *p, int n, const float *x, const float *weight,
                                  const float *bias, int wmod, float *y, float **work, size_t *work_size);
static int xai__conv_forward_gemm_rect(const xai__conv_geom *p, int n, const float *x, const float *weight,
                                       const float *packed, const float *bias, int oh0, int ow0, int oh1, int ow1,
                                       float *y, float **work, size_t *work_size);
static float *xai__conv_pack_weights(const xai__conv_geom *p, const float *weight);
static int xai__conv_backward_data_gemm(const xai__conv_geom *p, int n, const float *gy, const float *weight, int wmod,
                                        float *dx, int accumulate, float **work, size_t *work_size);
static int xai__conv_backward_weight_gemm(const xai__conv_geom *p, int n, const float *x, const float *gy, float *dw,
                                          float *db, float **work, size_t *work_size);
static void xai__fc_forward_gemm(int n, int K, int O, int transpose, const float *x, const float *weight,
                                 const float *bias, int wmod, float *y);
static void xai__fc_backward_data_gemm(int n, int K, int O, int transpose, const float *gy, const float *weight,
                                       int wmod, float *dx, int accumulate);
static void xai__fc_backward_weight_gemm(int n, int K, int O, int transpose, const float *x, const float *gy, float *dw,
                                         float *db);
static void xai__gemm_dual(int M, int N, int K, const float *A, const float *A2, int lda, int transA, const float *B,
                           int ldb, int transB, float *C, float *C2, int ldc, int accumulate);
static void xai__max_pool_fast(const float *x, int planes, int H, int W, int OH, int OW, int kh, int kw, int sh, int sx,
                               int ph, int pw, float *y, int *arg);
static void xai__gemm(int M, int N, int K, const float *A, int lda, int transA, int modA, const float *B, int ldb,
                      int transB, int modB, float *C, int ldc, int accumulate);
#endif

/* the public product (declared with the forward pass): the fast GEMM, or the plain one */
XAIDEF void xai_gemm(int M, int N, int K, const float *A, int lda, int transA, const float *B, int ldb, int transB,
                     float *C, int ldc, int accumulate)
{
#ifndef XAI_NO_FAST
    xai__gemm(M, N, K, A, lda, transA, XAI__MOD_NONE, B, ldb, transB, XAI__MOD_NONE, C, ldc, accumulate);
#else
    xai__gemm_ref(M, N, K, A, lda, transA, XAI__MOD_NONE, B, ldb, transB, XAI__MOD_NONE, C, ldc, accumulate);
#endif
}

/* Convolution and InnerProduct: y = W x (+ b), each weight through mod (section 4). */
static int xai__linear_forward(xai_tape *t, const xai_layer *L, const xai_tensor *x, int wmod, int with_bias,
                               xai_tensor *y)
{
    (void)t;
#ifndef XAI_NO_FAST
    if (xai__fast(t)) {
        const float *bias = with_bias ? L->bias : NULL;
        if (L->p.type == XAI_CONVOLUTION) {
            xai__conv_geom g = xai__conv_geom_of(L, x->c, x->h, x->w, y->h, y->w);
            return xai__conv_forward_gemm(&g, x->n, x->data, L->weight, bias, wmod, y->data, &t->work, &t->work_size);
        }
        xai__fc_forward_gemm(x->n, x->c * x->h * x->w, L->p.num_output, L->p.transpose, x->data, L->weight, bias, wmod,
                             y->data);
        return XAI_OK;
    }
#endif
    if (L->p.type == XAI_CONVOLUTION) xai__conv_forward_ref(L, x, wmod, with_bias, y);
    else xai__ip_forward_ref(L, x, wmod, with_bias, y);
    return XAI_OK;
}

/* dx (+)= W^T g */
static int xai__linear_backward_data(xai_tape *t, const xai_layer *L, const xai_tensor *gy, int wmod, xai_tensor *dx,
                                     int accumulate)
{
    (void)t;
#ifndef XAI_NO_FAST
    if (xai__fast(t)) {
        if (L->p.type == XAI_CONVOLUTION) {
            xai__conv_geom g = xai__conv_geom_of(L, dx->c, dx->h, dx->w, gy->h, gy->w);
            return xai__conv_backward_data_gemm(&g, gy->n, gy->data, L->weight, wmod, dx->data, accumulate, &t->work,
                                                &t->work_size);
        }
        xai__fc_backward_data_gemm(gy->n, dx->c * dx->h * dx->w, L->p.num_output, L->p.transpose, gy->data, L->weight,
                                   wmod, dx->data, accumulate);
        return XAI_OK;
    }
#endif
    if (L->p.type == XAI_CONVOLUTION) return xai__conv_backward_data_ref(L, gy, wmod, dx, accumulate);
    xai__ip_backward_data_ref(L, gy, wmod, dx, accumulate);
    return XAI_OK;
}

/* LRP-alpha-beta's pairs: y+ = x . w+ and y- = x . w- (no bias); dx+ = g+ . w+^T and dx- = g- . w-^T.
   The same numbers as two calls with POS and NEG; an InnerProduct gets both from one pass over W. */
static int xai__linear_forward_pair(xai_tape *t, const xai_layer *L, const xai_tensor *x, xai_tensor *yp,
                                    xai_tensor *yn)
{
    int rc;
#ifndef XAI_NO_FAST
    if (L->p.type == XAI_INNER_PRODUCT && xai__fast(t)) {
        int K = x->c * x->h * x->w, O = L->p.num_output;
        if (L->p.transpose)
            xai__gemm_dual(x->n, O, K, x->data, x->data, K, 0, L->weight, O, 0, yp->data, yn->data, O, 0);
        else xai__gemm_dual(x->n, O, K, x->data, x->data, K, 0, L->weight, K, 1, yp->data, yn->data, O, 0);
        return XAI_OK;
    }
#endif
    if ((rc = xai__linear_forward(t, L, x, XAI__MOD_POS, 0, yp)) != XAI_OK) return rc;
    return xai__linear_forward(t, L, x, XAI__MOD_NEG, 0, yn);
}

static int xai__linear_backward_data_pair(xai_tape *t, const xai_layer *L, const xai_tensor *gp, const xai_tensor *gn,
                                          xai_tensor *dxp, xai_tensor *dxn)
{
    int rc;
#ifndef XAI_NO_FAST
    if (L->p.type == XAI_INNER_PRODUCT && xai__fast(t)) {
        int K = dxp->c * dxp->h * dxp->w, O = L->p.num_output;
        if (L->p.transpose)
            xai__gemm_dual(gp->n, K, O, gp->data, gn->data, O, 0, L->weight, O, 1, dxp->data, dxn->data, K, 0);
        else xai__gemm_dual(gp->n, K, O, gp->data, gn->data, O, 0, L->weight, K, 0, dxp->data, dxn->data, K, 0);
        return XAI_OK;
    }
#endif
    if ((rc = xai__linear_backward_data(t, L, gp, XAI__MOD_POS, dxp, 0)) != XAI_OK) return rc;
    return xai__linear_backward_data(t, L, gn, XAI__MOD_NEG, dxn, 0);
}

/* Training: dW += g x^T, db += sum of g */
static int xai__linear_backward_weight(xai_tape *t, const xai_layer *L, const xai_tensor *x, const xai_tensor *gy,
                                       float *dw, float *db)
{
    (void)t;
#ifndef XAI_NO_FAST
    if (xai__fast(t)) {
        if (L->p.type == XAI_CONVOLUTION) {
            xai__conv_geom g = xai__conv_geom_of(L, x->c, x->h, x->w, gy->h, gy->w);
            return xai__conv_backward_weight_gemm(&g, x->n, x->data, gy->data, dw, db, &t->work, &t->work_size);
        }
        xai__fc_backward_weight_gemm(x->n, x->c * x->h * x->w, L->p.num_output, L->p.transpose, x->data, gy->data, dw,
                                     db);
        return XAI_OK;
    }
#endif
    if (L->p.type == XAI_CONVOLUTION) xai__conv_backward_weight_ref(L, x, gy, dw, db);
    else xai__ip_backward_weight_ref(L, x, gy, dw, db);
    return XAI_OK;
}

/* z + eps*sign(z), sign(0) = +1 (Bach 2015 eq. 58); eps < 0 means "no stabiliser: a zero
   denominator drops its term" (the alpha-beta rule, eq. 60).  Returns r / that, or 0. */
static float xai__stabilised_ratio(float r, float z, float eps)
{
    float d = eps < 0 ? z : z >= 0 ? z + eps : z - eps;
    return d == 0 ? 0.0f : r / d;
}

/* The plain split of a sum (XAI_RULE_PROPORTIONAL): r / (z + s sign z) with s = 1e-12 of
   magnitude = sum_i |z_ij|, so only a sum that cancels to nearly nothing is held up; a sum of
   nothing (all z_ij = 0) drops its term. */
static float xai__proportional_ratio(float r, float z, float magnitude)
{
    return xai__stabilised_ratio(r, z, 1e-12f * magnitude);
}

/* LRP writes every linear rule as a sum of terms, each an input source and a weight modifier:
       z_j  = sum_terms coef * (sum_i src_i mod(w_ij) + bmod(b_j))          the denominator
       R_i += scale * sum_terms coef * src_i * sum_j mod(w_ij) * R_j / z_j   the redistribution
   eps-rule: one term (x, w, b); alpha-beta: two parts, z+ = x+ w+ + x- w- + b+ and
   z- = x+ w- + x- w+ + b- (z = z+ + z-); zB adds (-l, w+) and (-h, w-); w^2 is (1, w^2); flat is (1, 1). */
enum { XAI__SRC_X, XAI__SRC_XPOS, XAI__SRC_XNEG, XAI__SRC_LOW, XAI__SRC_HIGH, XAI__SRC_ONE };
typedef struct xai__term { int src, wmod, bmod; float coef; } xai__term;
enum { XAI__BIAS_ZERO = -1 };
static const xai__term xai__ab_positive[2] = {{XAI__SRC_XPOS, XAI__MOD_POS, XAI__MOD_POS, 1},
                                              {XAI__SRC_XNEG, XAI__MOD_NEG, XAI__BIAS_ZERO, 1}};
static const xai__term xai__ab_negative[2] = {{XAI__SRC_XPOS, XAI__MOD_NEG, XAI__MOD_NEG, 1},
                                              {XAI__SRC_XNEG, XAI__MOD_POS, XAI__BIAS_ZERO, 1}};

static void xai__signs(const xai_tensor *x, int *has_pos, int *has_neg)
{
    size_t i, count = xai_tensor_count(x);
    int pos = 0, neg = 0;
    for (i = 0; i < count; i++) {
        pos |= x->data[i] > 0;
        neg |= x->data[i] < 0;
    }
    *has_pos = pos;
    *has_neg = neg;
}

static int xai__nonnegative(const xai_tensor *x)
{
    int has_pos, has_neg;
    xai__signs(x, &has_pos, &has_neg);
    return !has_neg;
}

/* The factor from (pixel - mean) to input on network channel c: scale, times channel_scale[c]. */
static float xai__input_scale(const xai_net *net, int c)
{
    return net->pre.scale * (c < 3 ? net->pre.channel_scale[c] : 1.0f);
}

/* A term's input: x, x+, x-, the pixel bounds l and h of zB, or ones.  NULL when that input is all
   zeros (x+ of a nonpositive x, x- of a nonnegative x: a ReLU's output has no x- at all), so the
   term's products can be skipped; x itself when the term reads x unchanged.  Else out, filled. */
static int xai__lrp_source(const xai_net *net, const xai_layer *L, int src, const xai_tensor *x, xai_tensor *out,
                           const xai_tensor **in)
{
    size_t i, count = xai_tensor_count(x), plane = (size_t)x->c * x->h * x->w, hw = (size_t)x->h * x->w;
    int has_neg, has_pos;
    *in = NULL;
    if ((src == XAI__SRC_LOW || src == XAI__SRC_HIGH) && L->bottom[0] != net->input_blob)
        return xai__fail(XAI_ERR_ARG, "layer '%s': the zB rule needs the pixel layer (bottom '%s'), not '%s'", L->name,
                         net->blob[net->input_blob].name, net->blob[L->bottom[0]].name);
    if (src == XAI__SRC_XPOS || src == XAI__SRC_XNEG) {
        xai__signs(x, &has_pos, &has_neg);
        if ((src == XAI__SRC_XPOS && !has_pos) || (src == XAI__SRC_XNEG && !has_neg)) return XAI_OK;
        if (src == XAI__SRC_XPOS && !has_neg) src = XAI__SRC_X;
    }
    if (src == XAI__SRC_X) {
        *in = x;
        return XAI_OK;
    }
    for (i = 0; i < count; i++) {
        /* the mean only for the pixel layer's bounds: a larger hidden bottom would read past it */
        float v = x->data[i], mean = net->input_mean && (src == XAI__SRC_LOW || src == XAI__SRC_HIGH)
                                         ? net->input_mean[i % plane]
                                         : 0.0f;
        switch (src) {
        case XAI__SRC_XPOS: v = v > 0 ? v : 0; break;
        case XAI__SRC_XNEG: v = v < 0 ? v : 0; break;
        case XAI__SRC_LOW: v = (0.0f - mean) * xai__input_scale(net, (int)(i % plane / hw)); break;     /* darkest */
        case XAI__SRC_HIGH: v = (255.0f - mean) * xai__input_scale(net, (int)(i % plane / hw)); break;  /* brightest */
        case XAI__SRC_ONE: v = 1; break;
        default: break;
        }
        out->data[i] = v;
    }
    *in = out;
    return XAI_OK;
}

/* z (shaped like the top) = the terms' denominator for the bottom x.  One product per term whose
   input is not all zeros. */
static int xai__lrp_denominator(const xai_net *net, xai_tape *t, const xai_layer *L, const xai__term *term, int nterm,
                                xai_tensor *z)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor src, tmp;
    size_t count = xai_tensor_count(z), spatial = (size_t)z->h * z->w, i;
    int k, nc, rc = XAI_OK;
    memset(&src, 0, sizeof src); memset(&tmp, 0, sizeof tmp);
    if (xai_tensor_alloc(&tmp, z->n, z->c, z->h, z->w) || xai_tensor_alloc(&src, x->n, x->c, x->h, x->w)) {
        rc = XAI_ERR_MEMORY;
        goto done;
    }
    memset(z->data, 0, count * sizeof(float));
    for (k = 0; k < nterm; k++) {
        const xai_tensor *in;
        float coef = term[k].coef;
        size_t work = count;
        if ((rc = xai__lrp_source(net, L, term[k].src, x, &src, &in)) != XAI_OK) goto done;
        if (!in) continue;
        if ((rc = xai__linear_forward(t, L, in, term[k].wmod, 0, &tmp)) != XAI_OK) goto done;
        XAI__PARALLEL_FOR
        for (nc = 0; nc < z->n * z->c; nc++) {  /* one (image, channel) plane: one bias */
            int c = nc % z->c;
            float b = (term[k].bmod != XAI__BIAS_ZERO && L->bias) ? xai__mod(L->bias[c], term[k].bmod) : 0.0f;
            for (i = (size_t)nc * spatial; i < (size_t)(nc + 1) * spatial; i++) z->data[i] += coef * (tmp.data[i] + b);
        }
    }
done:
    xai_tensor_free(&src); xai_tensor_free(&tmp);
    return rc;
}

/* -- Convolution and InnerProduct: forward ------------------------------------------------------
   conv: bottom (n, C, H, W) -> top (n, O, OH, OW), OH = (H + 2ph - dh(kh-1) - 1)/sh + 1 (floor)
   fc:   bottom (n, C, H, W) -> top (n, O, 1, 1), K = C*H*W
   For LRP-alpha-beta (t->split[li], set by xai_explain) the top is computed as z+ + z-, the rule's
   two parts, which are kept for the backward pass: two products where the plain forward and the
   rule's own z+ and z- would take three.  The top equals the plain one up to rounding. */
static int xai__linear_layer_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    xai_tensor *y = XAI__Y(t, L, 0), *zp, *zn;
    size_t i, count = xai_tensor_count(y), work = count;
    int rc;
    if (!t->split || !t->split[li]) return xai__linear_forward(t, L, XAI__X(t, L, 0), XAI__MOD_NONE, 1, y);
    zp = &t->zpart[2 * li];
    zn = zp + 1;
    if (!zp->data || !zn->data) {
        xai_tensor_free(zp); xai_tensor_free(zn);
        if (xai_tensor_alloc(zp, t->n_max, y->c, y->h, y->w) || xai_tensor_alloc(zn, t->n_max, y->c, y->h, y->w))
            return XAI_ERR_MEMORY;
    }
    zp->n = zn->n = t->n;
    if (xai__nonnegative(XAI__X(t, L, 0))) { /* after a ReLU: z+ = x w+ + b+, z- = x w- + b- */
        size_t spatial = (size_t)y->h * y->w;
        int nc;
        if ((rc = xai__linear_forward_pair(t, L, XAI__X(t, L, 0), zp, zn)) != XAI_OK) return rc;
        XAI__PARALLEL_FOR
        for (nc = 0; nc < y->n * y->c; nc++) {
            float b = L->bias ? L->bias[nc % y->c] : 0.0f, bp = xai__mod(b, XAI__MOD_POS),
                  bn = xai__mod(b, XAI__MOD_NEG);
            for (i = (size_t)nc * spatial; i < (size_t)(nc + 1) * spatial; i++) {
                zp->data[i] += bp;
                zn->data[i] += bn;
                y->data[i] = zp->data[i] + zn->data[i];
            }
        }
        return XAI_OK;
    }
    if ((rc = xai__lrp_denominator(net, t, L, xai__ab_positive, 2, zp)) != XAI_OK) return rc;
    if ((rc = xai__lrp_denominator(net, t, L, xai__ab_negative, 2, zn)) != XAI_OK) return rc;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) y->data[i] = zp->data[i] + zn->data[i];
    return XAI_OK;
}

/* Convolution, the outputs in rectangle r only (every channel and image). */
static int xai__conv_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    (void)net; (void)li;
#ifndef XAI_NO_FAST
    if (xai__fast(t)) {
        xai__conv_geom g = xai__conv_geom_of(L, x->c, x->h, x->w, y->h, y->w);
        if (t->packed && !t->packed[li] && !(t->packed[li] = xai__conv_pack_weights(&g, L->weight)))
            return XAI_ERR_MEMORY;
        return xai__conv_forward_gemm_rect(&g, x->n, x->data, L->weight, t->packed ? t->packed[li] : NULL, L->bias,
                                           r->y0, r->x0, r->y1, r->x1, y->data, &t->work, &t->work_size);
    }
#endif
    xai__conv_forward_ref_rect(L, x, XAI__MOD_NONE, 1, y, r->y0, r->x0, r->y1, r->x1);
    return XAI_OK;
}

/* -- Convolution and InnerProduct: backward ------------------------------------------------------
   sensitivity, deconvolution, guided backprop: dx += W^T g (the chain rule; Zeiler & Fergus use the
   same transposed filters). */
static int xai__linear_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    (void)li;
    return xai__linear_backward_data(cx->t, L, XAI__DY(cx->t, L, 0), XAI__MOD_NONE, XAI__DX(cx->t, L, 0), 1);
}

/* LRP: the redistribution of the terms above, scaled (alpha, -beta).  z: the denominator if the
   forward pass kept it, else NULL (computed here; the plain eps term's z is the top itself). */
static int xai__lrp_linear_part(const xai__ctx *cx, const xai_layer *L, const xai__term *term, int nterm, float eps,
                                float scale, const xai_tensor *z)
{
    xai_tape *t = cx->t;
    const xai_tensor *x = XAI__X(t, L, 0), *y = XAI__Y(t, L, 0), *R = XAI__DY(t, L, 0);
    xai_tensor *dx = XAI__DX(t, L, 0);
    xai_tensor zown, s, src, back;
    size_t i, count = xai_tensor_count(y), xcount = xai_tensor_count(x), work = count;
    int k, rc = XAI_OK;
    memset(&zown, 0, sizeof zown); memset(&s, 0, sizeof s); memset(&src, 0, sizeof src); memset(&back, 0, sizeof back);
    if (xai_tensor_alloc(&s, y->n, y->c, y->h, y->w) || xai_tensor_alloc(&src, x->n, x->c, x->h, x->w) ||
        xai_tensor_alloc(&back, x->n, x->c, x->h, x->w)) {
        rc = XAI_ERR_MEMORY;
        goto done;
    }
    if (!z && nterm == 1 && term[0].src == XAI__SRC_X && term[0].wmod == XAI__MOD_NONE &&
        term[0].bmod == XAI__MOD_NONE && term[0].coef == 1) {
        z = y;  /* the forward pass's z */
    } else if (!z) {
        if (xai_tensor_alloc(&zown, y->n, y->c, y->h, y->w)) { rc = XAI_ERR_MEMORY; goto done; }
        if ((rc = xai__lrp_denominator(cx->net, t, L, term, nterm, &zown)) != XAI_OK) goto done;
        z = &zown;
    }
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) s.data[i] = xai__stabilised_ratio(R->data[i], z->data[i], eps);
    for (k = 0; k < nterm; k++) {
        float c = scale * term[k].coef;
        const xai_tensor *in;
        if ((rc = xai__lrp_source(cx->net, L, term[k].src, x, &src, &in)) != XAI_OK) goto done;
        if (!in) continue;
        if ((rc = xai__linear_backward_data(t, L, &s, term[k].wmod, &back, 0)) != XAI_OK) goto done;
        work = xcount;
        XAI__PARALLEL_FOR
        for (i = 0; i < xcount; i++) dx->data[i] += c * in->data[i] * back.data[i];
    }
done:
    xai_tensor_free(&zown); xai_tensor_free(&s); xai_tensor_free(&src); xai_tensor_free(&back);
    return rc;
}

/* alpha-beta after a ReLU (x >= 0, so only the x+ terms): R_i = x_i (alpha sum_j w+_ij R_j / z+_j
   - beta sum_j w-_ij R_j / z-_j), the two parts' products as one pair (one pass over an fc's W).
   The same numbers as two xai__lrp_linear_part calls. */
static int xai__lrp_alpha_beta_pair(const xai__ctx *cx, const xai_layer *L, const xai_tensor *zp, const xai_tensor *zn,
                                    float alpha, float beta)
{
    xai_tape *t = cx->t;
    const xai_tensor *x = XAI__X(t, L, 0), *y = XAI__Y(t, L, 0), *R = XAI__DY(t, L, 0);
    xai_tensor *dx = XAI__DX(t, L, 0);
    xai_tensor sp, sn, backp, backn;
    size_t i, count = xai_tensor_count(y), xcount = xai_tensor_count(x), work = count;
    int rc = XAI_OK;
    memset(&sp, 0, sizeof sp);
    memset(&sn, 0, sizeof sn);
    memset(&backp, 0, sizeof backp);
    memset(&backn, 0, sizeof backn);
    if (xai_tensor_alloc(&sp, y->n, y->c, y->h, y->w) || xai_tensor_alloc(&sn, y->n, y->c, y->h, y->w) ||
        xai_tensor_alloc(&backp, x->n, x->c, x->h, x->w) || xai_tensor_alloc(&backn, x->n, x->c, x->h, x->w)) {
        rc = XAI_ERR_MEMORY;
        goto done;
    }
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) {
        sp.data[i] = xai__stabilised_ratio(R->data[i], zp->data[i], -1);
        sn.data[i] = xai__stabilised_ratio(R->data[i], zn->data[i], -1);
    }
    if ((rc = xai__linear_backward_data_pair(t, L, &sp, &sn, &backp, &backn)) != XAI_OK) goto done;
    work = xcount;
    XAI__PARALLEL_FOR
    for (i = 0; i < xcount; i++) {
        dx->data[i] += alpha * x->data[i] * backp.data[i];
        dx->data[i] += -beta * x->data[i] * backn.data[i];
    }
done:
    xai_tensor_free(&sp); xai_tensor_free(&sn); xai_tensor_free(&backp); xai_tensor_free(&backn);
    return rc;
}

static int xai__linear_backward_lrp(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_rule *r = cx->rule;
    switch (r->rule) {
    case XAI_RULE_EPSILON: {
        static const xai__term eps_rule[] = {{XAI__SRC_X, XAI__MOD_NONE, XAI__MOD_NONE, 1}};
        return xai__lrp_linear_part(cx, L, eps_rule, 1, r->eps, 1, NULL);
    }
    case XAI_RULE_ALPHA_BETA:
    case XAI_RULE_ZPLUS: {
        /* z+ and z- from the forward pass when it kept them (xai_explain does), else computed */
        const xai_tensor *zp =
            cx->t->split && cx->t->split[li] && cx->t->zpart[2 * li].data ? &cx->t->zpart[2 * li] : NULL;
        float alpha = r->rule == XAI_RULE_ZPLUS ? 1.0f : r->alpha, beta = r->rule == XAI_RULE_ZPLUS ? 0.0f : r->beta;
        int rc;
        if (zp && beta != 0 && xai__nonnegative(XAI__X(cx->t, L, 0)))
            return xai__lrp_alpha_beta_pair(cx, L, zp, zp + 1, alpha, beta);
        rc = xai__lrp_linear_part(cx, L, xai__ab_positive, 2, -1, alpha, zp);
        if (rc == XAI_OK && beta != 0)
            rc = xai__lrp_linear_part(cx, L, xai__ab_negative, 2, -1, -beta, zp ? zp + 1 : NULL);
        return rc;
    }
    case XAI_RULE_ZB: {
        static const xai__term zb[] = {{XAI__SRC_X, XAI__MOD_NONE, XAI__BIAS_ZERO, 1},
                                       {XAI__SRC_LOW, XAI__MOD_POS, XAI__BIAS_ZERO, -1},
                                       {XAI__SRC_HIGH, XAI__MOD_NEG, XAI__BIAS_ZERO, -1}};
        return xai__lrp_linear_part(cx, L, zb, 3, -1, 1, NULL);
    }
    case XAI_RULE_WSQUARE: {
        static const xai__term w2[] = {{XAI__SRC_ONE, XAI__MOD_SQUARE, XAI__BIAS_ZERO, 1}};
        return xai__lrp_linear_part(cx, L, w2, 1, -1, 1, NULL);
    }
    case XAI_RULE_FLAT: {
        static const xai__term flat[] = {{XAI__SRC_ONE, XAI__MOD_ONE, XAI__BIAS_ZERO, 1}};
        return xai__lrp_linear_part(cx, L, flat, 1, -1, 1, NULL);
    }
    case XAI_RULE_GAMMA: {
        xai__term gamma[2] = {{XAI__SRC_X, XAI__MOD_NONE, XAI__MOD_NONE, 1},
                              {XAI__SRC_X, XAI__MOD_POS, XAI__MOD_POS, 1}};
        gamma[1].coef = r->gamma;
        return xai__lrp_linear_part(cx, L, gamma, 2, r->eps, 1, NULL);
    }
    default:
        return xai__fail(XAI_ERR_ARG, "layer '%s': unknown LRP rule %d", L->name, r->rule);
    }
}

/* -- ReLU ----------------------------------------------------------------------------------------
   bottom (n, C, H, W) -> top (same): y = x > 0 ? x : negative_slope * x */
/* max(x, 0) + s min(x, 0): without a branch, which random signs would mispredict half the time */
static float xai__relu_of(float v, float s)
{
    float pos = v > 0 ? v : 0, neg = v > 0 ? 0 : v;
    return pos + s * neg;
}

static int xai__relu_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t i, count = xai_tensor_count(x), work = count;
    float s = L->p.negative_slope;
    (void)net; (void)li;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) y->data[i] = xai__relu_of(x->data[i], s);
    return XAI_OK;
}

static int xai__relu_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    int nc, h, w;
    (void)net; (void)li;
    for (nc = 0; nc < x->n * x->c; nc++)
        for (h = r->y0; h < r->y1; h++) {
            size_t row = ((size_t)nc * x->h + h) * x->w;
            for (w = r->x0; w < r->x1; w++) y->data[row + w] = xai__relu_of(x->data[row + w], L->p.negative_slope);
        }
    return XAI_OK;
}

/* sensitivity: the gradient, g where the forward input was positive */
static int xai__relu_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(x), work = count;
    (void)li;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) dx->data[i] += x->data[i] > 0 ? g->data[i] : L->p.negative_slope * g->data[i];
    return XAI_OK;
}

/* deconvolution: the ReLU applied to the signal itself, whatever the forward input was */
static int xai__relu_backward_deconv(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(g), work = count;
    (void)li;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) dx->data[i] += g->data[i] > 0 ? g->data[i] : L->p.negative_slope * g->data[i];
    return XAI_OK;
}

/* guided backprop: both masks, forward input positive and signal positive */
static int xai__relu_backward_guided(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(x), work = count;
    (void)li;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++)
        if (x->data[i] > 0 && g->data[i] > 0) dx->data[i] += g->data[i];
    return XAI_OK;
}

/* LRP (and Dropout for every method): relevance passes unchanged, R_x = R_y */
static int xai__backward_identity(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(g), work = count;
    (void)li;
    XAI__PARALLEL_FOR
    for (i = 0; i < count; i++) dx->data[i] += g->data[i];
    return XAI_OK;
}

/* -- Pooling -------------------------------------------------------------------------------------
   bottom (n, C, H, W) -> top (n, C, OH, OW); OH = ceil((H + 2p - k)/s) + 1 (FLOOR: floor), less one
   when the last window would start in the padding.  MAX records the argmax (h*W + w), first
   maximum in scan order wins.  AVE divides by the window clipped to [-pad, H + pad). */
static void xai__pool_window(const xai_layer_param *p, int H, int W, int oh, int ow, int *hs, int *he, int *ws, int *we,
                             int *pool_size)
{
    int h0 = oh * p->stride_h - p->pad_h, w0 = ow * p->stride_w - p->pad_w;
    int h1 = h0 + p->kernel_h, w1 = w0 + p->kernel_w;
    if (h1 > H + p->pad_h) h1 = H + p->pad_h;
    if (w1 > W + p->pad_w) w1 = W + p->pad_w;
    *pool_size = (h1 - h0) * (w1 - w0);    /* counts padding, as Caffe's AVE does */
    *hs = h0 > 0 ? h0 : 0;
    *ws = w0 > 0 ? w0 : 0;
    *he = h1 < H ? h1 : H;
    *we = w1 < W ? w1 : W;
}

/* Output (oh, ow) of plane xp (H x W): MAX the first maximum in scan order, *arg where it is
   (h*W + w); AVE the sum over the window divided by its size counting padding. */
static float xai__pool_at(const xai_layer_param *p, const float *xp, int H, int W, int oh, int ow, int *arg)
{
    int hs, he, ws, we, ps, h, w;
    xai__pool_window(p, H, W, oh, ow, &hs, &he, &ws, &we, &ps);
    if (p->pool == XAI_POOL_MAX) {
        float best = -FLT_MAX;
        int at = -1;
        for (h = hs; h < he; h++)
            for (w = ws; w < we; w++)
                if (xp[h * W + w] > best) { best = xp[h * W + w]; at = h * W + w; }
        *arg = at;
        return best;
    } else {
        double sum = 0;
        for (h = hs; h < he; h++)
            for (w = ws; w < we; w++) sum += xp[h * W + w];
        *arg = -1;
        return (float)(sum / ps);
    }
}

/* planes (image, channel) of x into y, each plane's switches in sw (MAX) */
static void xai__pool_planes(const xai_tape *t, const xai_layer *L, const xai_tensor *x, const xai_tensor *y,
                             const float *xd, float *yd, int *sw, int planes)
{
    int nc;
    size_t work = (size_t)planes * x->h * x->w;
    (void)t;
#ifndef XAI_NO_FAST
    if (L->p.pool == XAI_POOL_MAX && xai__fast(t)) {
        xai__max_pool_fast(xd, planes, x->h, x->w, y->h, y->w, L->p.kernel_h, L->p.kernel_w, L->p.stride_h,
                           L->p.stride_w, L->p.pad_h, L->p.pad_w, yd, sw);
        return;
    }
#endif
    XAI__PARALLEL_FOR
    for (nc = 0; nc < planes; nc++) {          /* one (image, channel) plane */
        const float *xp = xd + (size_t)nc * x->h * x->w;
        int oh, ow, arg;
        for (oh = 0; oh < y->h; oh++)
            for (ow = 0; ow < y->w; ow++) {
                size_t at = ((size_t)nc * y->h + oh) * y->w + ow;
                yd[at] = xai__pool_at(&L->p, xp, x->h, x->w, oh, ow, &arg);
                if (L->p.pool == XAI_POOL_MAX) sw[at] = arg;
            }
    }
}

/* A forward-only tape keeps the switches of one image (no backward pass reads them): image by image. */
static int xai__pool_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    int n0, step = t->forward_only ? 1 : x->n;
    size_t xs = (size_t)x->c * x->h * x->w, ys = (size_t)y->c * y->h * y->w;
    (void)net;
    for (n0 = 0; n0 < x->n; n0 += step) {
        int *sw = t->switches[li] ? t->switches[li] + (t->forward_only ? 0 : n0 * ys) : NULL;
        xai__pool_planes(t, L, x, y, x->data + n0 * xs, y->data + n0 * ys, sw, step * x->c);
    }
    return XAI_OK;
}

/* Rectangle r of the top.  The fast MAX path takes the same maximum in the same order: the same bits. */
static int xai__pool_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t ys = (size_t)y->c * y->h * y->w;
    int nc, oh, ow, arg;
    (void)net;
    for (nc = 0; nc < x->n * x->c; nc++) {
        const float *xp = x->data + (size_t)nc * x->h * x->w;
        for (oh = r->y0; oh < r->y1; oh++)
            for (ow = r->x0; ow < r->x1; ow++) {
                size_t at = ((size_t)nc * y->h + oh) * y->w + ow;
                y->data[at] = xai__pool_at(&L->p, xp, x->h, x->w, oh, ow, &arg);
                if (t->switches[li]) t->switches[li][t->forward_only ? at % ys : at] = arg;
            }
    }
    return XAI_OK;
}

/* sensitivity, deconvolution: MAX sends each signal to its recorded winner (overlapping windows
   add up); AVE spreads it evenly over the window (the true gradient). */
static int xai__pool_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    const int *sw = cx->t->switches[li];
    int nc, planes = g->n * g->c;
    size_t work = xai_tensor_count(x);
    XAI__PARALLEL_FOR
    for (nc = 0; nc < planes; nc++) {
        float *dp = dx->data + (size_t)nc * x->h * x->w;
        int oh, ow, h, w;
        for (oh = 0; oh < g->h; oh++)
            for (ow = 0; ow < g->w; ow++) {
                size_t at = ((size_t)nc * g->h + oh) * g->w + ow;
                int hs, he, ws, we, ps;
                if (L->p.pool == XAI_POOL_MAX) {
                    if (sw[at] >= 0) dp[sw[at]] += g->data[at];
                    continue;
                }
                xai__pool_window(&L->p, x->h, x->w, oh, ow, &hs, &he, &ws, &we, &ps);
                for (h = hs; h < he; h++)
                    for (w = ws; w < we; w++) dp[h * x->w + w] += g->data[at] / (float)ps;
            }
    }
    return XAI_OK;
}

/* LRP: MAX is winner-take-all (the same switches); AVE is a sum with weights 1/size, z_ij = x_i / size
   and z_j = y_j, so the relevance goes in proportion to the inputs: the plain split (the pool slot's
   default) or the eps-rule when the method names it. */
static int xai__pool_backward_lrp(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *y = XAI__Y(cx->t, L, 0), *R = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    const xai_rule *rule = cx->rule;
    int nc, planes = R->n * R->c;
    size_t work = xai_tensor_count(x);
    if (L->p.pool == XAI_POOL_MAX) return xai__pool_backward_gradient(cx, L, li);
    XAI__PARALLEL_FOR
    for (nc = 0; nc < planes; nc++) {
        const float *xp = x->data + (size_t)nc * x->h * x->w;
        float *dp = dx->data + (size_t)nc * x->h * x->w;
        int oh, ow, h, w;
        for (oh = 0; oh < R->h; oh++)
            for (ow = 0; ow < R->w; ow++) {
                size_t at = ((size_t)nc * R->h + oh) * R->w + ow;
                int hs, he, ws, we, ps;
                float s;
                xai__pool_window(&L->p, x->h, x->w, oh, ow, &hs, &he, &ws, &we, &ps);
                if (rule->rule == XAI_RULE_EPSILON) {
                    s = xai__stabilised_ratio(R->data[at], y->data[at], rule->eps);
                } else {
                    float magnitude = 0;   /* sum_i |z_ij|, for the tiny stabiliser */
                    for (h = hs; h < he; h++)
                        for (w = ws; w < we; w++) magnitude += fabsf(xp[h * x->w + w]);
                    s = xai__proportional_ratio(R->data[at], y->data[at], magnitude / (float)ps);
                }
                s /= (float)ps;
                for (h = hs; h < he; h++)
                    for (w = ws; w < we; w++) dp[h * x->w + w] += xp[h * x->w + w] * s;
            }
    }
    return XAI_OK;
}

/* -- LRN -----------------------------------------------------------------------------------------
   bottom (n, C, H, W) -> top (same).  ACROSS_CHANNELS: s_c = k + alpha/n sum_{c' in c-(n-1)/2 ..
   c+(n-1)/2} x_c'^2; WITHIN_CHANNEL: s = 1 + alpha/n^2 sum over the n x n window (zeros outside).
   y = x s^-beta.  The tape keeps s. */
static float xai__lrn_coef(const xai_layer_param *p)
{
    return p->norm_region == XAI_LRN_ACROSS_CHANNELS ? p->alpha / p->local_size
                                                     : p->alpha / ((float)p->local_size * p->local_size);
}

/* Sum of x^2 over the window of element (c, h, w) of image plane set xp (C x H x W). */
static float xai__lrn_window_sum(const xai_layer_param *p, const float *xp, int C, int H, int W, int c, int h, int w)
{
    int half = (p->local_size - 1) / 2, i, j;
    float sum = 0;
    if (p->norm_region == XAI_LRN_ACROSS_CHANNELS) {
        for (i = c - half; i <= c + half; i++)
            if (i >= 0 && i < C) { float v = xp[((size_t)i * H + h) * W + w]; sum += v * v; }
    } else {
        for (i = h - half; i <= h + half; i++)
            for (j = w - half; j <= w + half; j++)
                if (i >= 0 && i < H && j >= 0 && j < W) { float v = xp[((size_t)c * H + i) * W + j]; sum += v * v; }
    }
    return sum;
}

/* s^-beta; CaffeNet's beta = 0.75 as 1/sqrt(s sqrt(s)), three times faster than powf */
static float xai__pow_neg(float s, float beta)
{
    if (beta == 0.75f) {
        float r = sqrtf(s);
        return 1.0f / (r * sqrtf(r));
    }
    return powf(s, -beta);
}

/* The plain loop: each output from its definition (those in rectangle r). */
static void xai__lrn_forward_ref(const xai_layer *L, const xai_tensor *x, const xai__rect *r, float *scale,
                                 xai_tensor *y)
{
    float coef = xai__lrn_coef(&L->p);
    float k = L->p.norm_region == XAI_LRN_ACROSS_CHANNELS ? L->p.k : 1.0f;   /* Caffe's WITHIN_CHANNEL ignores k */
    size_t plane = (size_t)x->c * x->h * x->w;
    int n, c, h, w;
    for (n = 0; n < x->n; n++)
        for (c = 0; c < x->c; c++)
            for (h = r->y0; h < r->y1; h++)
                for (w = r->x0; w < r->x1; w++) {
                    size_t at = (size_t)n * plane + ((size_t)c * x->h + h) * x->w + w;
                    float s =
                        k + coef * xai__lrn_window_sum(&L->p, x->data + (size_t)n * plane, x->c, x->h, x->w, c, h, w);
                    scale[at] = s;
                    y->data[at] = x->data[at] * powf(s, -L->p.beta);
                }
}

/* The fast path: plane nc (image, channel) at a time, the window sum of squares accumulating plane
   by plane in the order the reference adds.  Rectangle r of the plane: its rows as one run when r
   spans the width (the full pass), else row by row; each element the same operations either way. */
static void xai__lrn_plane_fast(const xai_layer *L, const xai_tensor *x, int nc, const xai__rect *r, float *scale,
                                xai_tensor *y)
{
    float coef = xai__lrn_coef(&L->p), beta = L->p.beta;
    float k = L->p.norm_region == XAI_LRN_ACROSS_CHANNELS ? L->p.k : 1.0f;
    size_t hw = (size_t)x->h * x->w;
    int n = nc / x->c, c = nc % x->c, half = (L->p.local_size - 1) / 2, i, whole = r->x0 == 0 && r->x1 == x->w, row;
    const float *xp = x->data + (size_t)nc * hw;
    float *sp = scale + (size_t)nc * hw, *yp = y->data + (size_t)nc * hw;
    if (r->y1 <= r->y0 || r->x1 <= r->x0) return;
    for (row = r->y0; row < (whole ? r->y0 + 1 : r->y1); row++) {
        size_t q0 = (size_t)row * x->w + r->x0, q1 = whole ? (size_t)r->y1 * x->w : (size_t)row * x->w + r->x1, q;
        if (L->p.norm_region == XAI_LRN_ACROSS_CHANNELS) {
            memset(sp + q0, 0, (q1 - q0) * sizeof(float));
            for (i = c - half; i <= c + half; i++) {
                const float *xi;
                if (i < 0 || i >= x->c) continue;   /* before the pointer: x->data - hw is undefined */
                xi = x->data + ((size_t)n * x->c + i) * hw;
                for (q = q0; q < q1; q++) sp[q] += xi[q] * xi[q];
            }
        } else {
            for (q = q0; q < q1; q++)
                sp[q] = xai__lrn_window_sum(&L->p, x->data + (size_t)n * x->c * hw, x->c, x->h, x->w, c,
                                            (int)(q / x->w), (int)(q % x->w));
        }
        for (q = q0; q < q1; q++) {
            sp[q] = k + coef * sp[q];
            yp[q] = xp[q] * xai__pow_neg(sp[q], beta);
        }
    }
}

static int xai__lrn_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai__rect all;
    size_t work = xai_tensor_count(x);
    int nc;
    (void)net;
    all.y0 = all.x0 = 0; all.y1 = x->h; all.x1 = x->w;
    if (!xai__fast(t)) {
        xai__lrn_forward_ref(L, x, &all, t->scale[li], XAI__Y(t, L, 0));
        return XAI_OK;
    }
    XAI__PARALLEL_FOR
    for (nc = 0; nc < x->n * x->c; nc++) xai__lrn_plane_fast(L, x, nc, &all, t->scale[li], XAI__Y(t, L, 0));
    return XAI_OK;
}

static int xai__lrn_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    int nc;
    (void)net;
    if (!xai__fast(t)) {
        xai__lrn_forward_ref(L, x, r, t->scale[li], XAI__Y(t, L, 0));
        return XAI_OK;
    }
    for (nc = 0; nc < x->n * x->c; nc++) xai__lrn_plane_fast(L, x, nc, r, t->scale[li], XAI__Y(t, L, 0));
    return XAI_OK;
}

/* dy_k/dx_j = [j = k] s_k^-beta - 2 beta coef x_k x_j s_k^(-beta-1) for j in the window of k, so
   out_j = s_j^-beta g_j - 2 beta coef x_j sum_{k: j in window(k)} x_k s_k^(-beta-1) g_k.
   The windows are symmetric (local_size is odd), so "k whose window holds j" is "k in j's window". */
static int xai__lrn_transpose(const xai_tape *t, const xai_layer *L, const xai_tensor *x, const float *scale,
                              const float *g, float *out)
{
    const xai_layer_param *p = &L->p;
    float coef = xai__lrn_coef(p), beta = p->beta;
    size_t plane = (size_t)x->c * x->h * x->w, hw = (size_t)x->h * x->w, count = xai_tensor_count(x), work = count, at;
    int nc, planes = x->n * x->c, half = (p->local_size - 1) / 2;
    float *q = (float *)xai__malloc(count * sizeof(float));   /* x_k s_k^(-beta-1) g_k */
    if (!q) return XAI_ERR_MEMORY;
    if (!xai__fast(t)) {
        for (at = 0; at < count; at++) q[at] = x->data[at] * powf(scale[at], -beta - 1) * g[at];
    } else {
        XAI__PARALLEL_FOR
        for (at = 0; at < count; at++) q[at] = x->data[at] * (xai__pow_neg(scale[at], beta) / scale[at]) * g[at];
    }
    XAI__PARALLEL_FOR
    for (nc = 0; nc < planes; nc++) {
        int n = nc / x->c, c = nc % x->c, h, w, i, j;
        const float *xp = x->data + (size_t)nc * hw, *sp = scale + (size_t)nc * hw, *gp = g + (size_t)nc * hw,
                    *qn = q + (size_t)n * plane;
        float *op = out + (size_t)nc * hw;
        for (h = 0; h < x->h; h++)
            for (w = 0; w < x->w; w++) {
                size_t pq = (size_t)h * x->w + w;
                float sum = 0, sb;
                if (p->norm_region == XAI_LRN_ACROSS_CHANNELS) {
                    for (i = c - half; i <= c + half; i++)
                        if (i >= 0 && i < x->c) sum += qn[(size_t)i * hw + pq];
                } else {
                    for (i = h - half; i <= h + half; i++)
                        for (j = w - half; j <= w + half; j++)
                            if (i >= 0 && i < x->h && j >= 0 && j < x->w)
                                sum += qn[(size_t)c * hw + (size_t)i * x->w + j];
                }
                sb = xai__fast(t) ? xai__pow_neg(sp[pq], beta) : powf(sp[pq], -beta);
                op[pq] = sb * gp[pq] - 2 * beta * coef * xp[pq] * sum;
            }
    }
    XAI_FREE(q);
    return XAI_OK;
}

/* sensitivity: the true gradient */
static int xai__lrn_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(x);
    float *out = (float *)xai__calloc(count, sizeof(float));
    int rc;
    if (!out) return XAI_ERR_MEMORY;
    if ((rc = xai__lrn_transpose(cx->t, L, x, cx->t->scale[li], g->data, out)) == XAI_OK)
        for (i = 0; i < count; i++) dx->data[i] += out[i];
    XAI_FREE(out);
    return rc;
}

/* LRP: identity (the paper's time, default), or the first-order Taylor rule of Binder et al. 2016:
   the layer is linearised at x, z_jk = x_j dy_k/dx_j, and relevance follows the eps-rule on it:
   R_j = x_j sum_k dy_k/dx_j R_k / (z_k + eps sign z_k),  z_k = sum_j z_jk = y_k - 2 beta x_k (s_k - k) s_k^(-beta-1).
 */
static int xai__lrn_backward_lrp(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *x = XAI__X(cx->t, L, 0), *y = XAI__Y(cx->t, L, 0), *R = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    const float *scale = cx->t->scale[li];
    float k = L->p.norm_region == XAI_LRN_ACROSS_CHANNELS ? L->p.k : 1.0f;
    float eps = cx->rule->eps;
    size_t i, count = xai_tensor_count(x);
    float *s, *out;
    int rc;
    if (cx->rule->rule != XAI_RULE_TAYLOR) return xai__backward_identity(cx, L, li);
    s = (float *)xai__calloc(count, sizeof(float));
    out = (float *)xai__calloc(count, sizeof(float));
    if (!s || !out) { XAI_FREE(s); XAI_FREE(out); return XAI_ERR_MEMORY; }
    for (i = 0; i < count; i++) {
        float z = y->data[i] - 2 * L->p.beta * x->data[i] * (scale[i] - k) * powf(scale[i], -L->p.beta - 1);
        s[i] = xai__stabilised_ratio(R->data[i], z, eps);
    }
    if ((rc = xai__lrn_transpose(cx->t, L, x, scale, s, out)) == XAI_OK)
        for (i = 0; i < count; i++) dx->data[i] += x->data[i] * out[i];
    XAI_FREE(s);
    XAI_FREE(out);
    return rc;
}

/* -- Dropout: identity at test time.  Training (tape->train): each unit is kept with probability
   1 - ratio and scaled by 1/(1 - ratio), as Caffe does; the mask is a hash, not a stream. ------- */
static int xai__dropout_keep(const xai_tape *t, const xai_layer *L, int li, size_t i)
{
    return xai__uniform(xai__random_key(t->dropout_key, (uint64_t)li, (uint64_t)i, 0, 0)) >= L->p.dropout_ratio;
}

static int xai__copy_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t i, count = xai_tensor_count(x);
    (void)net;
    if (L->p.type == XAI_DROPOUT && t->train) {
        float scale = 1.0f / (1.0f - L->p.dropout_ratio);
        for (i = 0; i < count; i++) y->data[i] = xai__dropout_keep(t, L, li, i) ? x->data[i] * scale : 0.0f;
        return XAI_OK;
    }
    memcpy(y->data, x->data, count * sizeof(float));
    return XAI_OK;
}

/* test time (the incremental pass never trains): a copy */
static int xai__copy_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    (void)net; (void)li;
    if (t->train) return xai__fail(XAI_ERR_ARG, "layer '%s': no partial pass in training", L->name);
    xai__copy_rect(XAI__X(t, L, 0), XAI__Y(t, L, 0), 0, r);
    return XAI_OK;
}

/* sensitivity (and training): the gradient of the mask; identity at test time */
static int xai__dropout_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *g = XAI__DY(cx->t, L, 0);
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(g);
    float scale = 1.0f / (1.0f - L->p.dropout_ratio);
    if (!cx->t->train) return xai__backward_identity(cx, L, li);
    for (i = 0; i < count; i++)
        if (xai__dropout_keep(cx->t, L, li, i)) dx->data[i] += g->data[i] * scale;
    return XAI_OK;
}

/* -- Softmax: over channels, at each position.  Explanations start below it, at the scores. ------ */
static int xai__softmax_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    const xai_tensor *x = XAI__X(t, L, 0);
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t spatial = (size_t)x->h * x->w, pos;
    int n, c;
    (void)net; (void)li;
    for (n = 0; n < x->n; n++)
        for (pos = 0; pos < spatial; pos++) {
            const float *xp = x->data + (size_t)n * x->c * spatial + pos;
            float *yp = y->data + (size_t)n * x->c * spatial + pos;
            float mx = -FLT_MAX;
            double sum = 0;
            for (c = 0; c < x->c; c++) if (xp[c * spatial] > mx) mx = xp[c * spatial];
            for (c = 0; c < x->c; c++) { yp[c * spatial] = expf(xp[c * spatial] - mx); sum += yp[c * spatial]; }
            for (c = 0; c < x->c; c++) yp[c * spatial] = (float)(yp[c * spatial] / sum);
        }
    return XAI_OK;
}

/* -- Concat (axis 1): bottoms (n, C_i, H, W) -> top (n, sum C_i, H, W); backward: the slices. ---- */
static int xai__concat_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t spatial = (size_t)y->h * y->w;
    int n, b, offset;
    (void)net; (void)li;
    for (n = 0; n < y->n; n++)
        for (b = 0, offset = 0; b < L->nbottom; offset += XAI__X(t, L, b)->c, b++) {
            const xai_tensor *x = XAI__X(t, L, b);
            memcpy(y->data + ((size_t)n * y->c + offset) * spatial, x->data + (size_t)n * x->c * spatial,
                   (size_t)x->c * spatial * sizeof(float));
        }
    return XAI_OK;
}

static int xai__concat_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    int b, offset;
    (void)net; (void)li;
    for (b = 0, offset = 0; b < L->nbottom; offset += XAI__X(t, L, b)->c, b++)
        xai__copy_rect(XAI__X(t, L, b), XAI__Y(t, L, 0), offset, r);
    return XAI_OK;
}

static int xai__concat_backward(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *g = XAI__DY(cx->t, L, 0);
    size_t spatial = (size_t)g->h * g->w, i;
    int n, b, offset;
    (void)li;
    for (n = 0; n < g->n; n++)
        for (b = 0, offset = 0; b < L->nbottom; offset += XAI__DX(cx->t, L, b)->c, b++) {
            xai_tensor *dx = XAI__DX(cx->t, L, b);
            const float *src = g->data + ((size_t)n * g->c + offset) * spatial;
            float *dst = dx->data + (size_t)n * dx->c * spatial;
            for (i = 0; i < (size_t)dx->c * spatial; i++) dst[i] += src[i];
        }
    return XAI_OK;
}

/* -- Eltwise: bottoms of one shape -> top.  SUM: sum_i coeff_i x_i; PROD; MAX with the argmax
   (Caffe's tie rule: between bottoms 0 and 1 the later wins, from bottom 2 on the earlier). ----- */
static float xai__eltwise_coeff(const xai_layer *L, int b) { return L->p.ncoeff ? L->p.coeff[b] : 1.0f; }

/* element i of the top; MAX records the winning bottom in arg[i] */
static float xai__eltwise_at(const xai_tape *t, const xai_layer *L, size_t i, int *arg)
{
    float v = XAI__X(t, L, 0)->data[i];
    int b;
    if (L->p.operation == XAI_ELTWISE_SUM) {
        v *= xai__eltwise_coeff(L, 0);
        for (b = 1; b < L->nbottom; b++) v += xai__eltwise_coeff(L, b) * XAI__X(t, L, b)->data[i];
    } else if (L->p.operation == XAI_ELTWISE_PROD) {
        for (b = 1; b < L->nbottom; b++) v *= XAI__X(t, L, b)->data[i];
    } else {
        float v1 = XAI__X(t, L, 1)->data[i];
        int a = 1;
        if (v > v1) a = 0; else v = v1;
        for (b = 2; b < L->nbottom; b++)
            if (XAI__X(t, L, b)->data[i] > v) { v = XAI__X(t, L, b)->data[i]; a = b; }
        arg[i] = a;
    }
    return v;
}

static int xai__eltwise_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    xai_tensor *y = XAI__Y(t, L, 0);
    size_t i, count = xai_tensor_count(y);
    (void)net;
    for (i = 0; i < count; i++) y->data[i] = xai__eltwise_at(t, L, i, t->switches[li]);
    return XAI_OK;
}

static int xai__eltwise_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    xai_tensor *y = XAI__Y(t, L, 0);
    int nc, h, w;
    (void)net;
    for (nc = 0; nc < y->n * y->c; nc++)
        for (h = r->y0; h < r->y1; h++)
            for (w = r->x0; w < r->x1; w++) {
                size_t i = ((size_t)nc * y->h + h) * y->w + w;
                y->data[i] = xai__eltwise_at(t, L, i, t->switches[li]);
            }
    return XAI_OK;
}

/* gradient (sensitivity, deconvolution): SUM coeff_i g; PROD g times the other factors; MAX to the winner */
static int xai__eltwise_backward_gradient(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *g = XAI__DY(cx->t, L, 0);
    size_t i, count = xai_tensor_count(g);
    int b, k;
    for (i = 0; i < count; i++)
        for (b = 0; b < L->nbottom; b++) {
            float d = g->data[i];
            if (L->p.operation == XAI_ELTWISE_SUM) d *= xai__eltwise_coeff(L, b);
            else if (L->p.operation == XAI_ELTWISE_PROD) {
                for (k = 0; k < L->nbottom; k++)
                    if (k != b) d *= XAI__X(cx->t, L, k)->data[i];
            } else if (cx->t->switches[li][i] != b) d = 0;
            XAI__DX(cx->t, L, b)->data[i] += d;
        }
    return XAI_OK;
}

/* LRP: SUM in proportion to the contributions z_bj = coeff_b x_b (the sum slot: the plain split by
   default, or the eps-rule); MAX winner-take-all.  A product has no relevance rule: it is refused
   rather than guessed. */
static int xai__eltwise_backward_lrp(const xai__ctx *cx, const xai_layer *L, int li)
{
    const xai_tensor *y = XAI__Y(cx->t, L, 0), *R = XAI__DY(cx->t, L, 0);
    const xai_rule *rule = cx->rule;
    size_t i, count = xai_tensor_count(R);
    int b;
    if (L->p.operation == XAI_ELTWISE_MAX) return xai__eltwise_backward_gradient(cx, L, li);
    if (L->p.operation == XAI_ELTWISE_PROD)
        return xai__fail(XAI_ERR_ARG, "layer '%s': LRP has no rule for Eltwise PROD", L->name);
    for (i = 0; i < count; i++) {
        float s, magnitude = 0;
        if (rule->rule == XAI_RULE_EPSILON) {
            s = xai__stabilised_ratio(R->data[i], y->data[i], rule->eps);
        } else {
            for (b = 0; b < L->nbottom; b++)
                magnitude += fabsf(xai__eltwise_coeff(L, b) * XAI__X(cx->t, L, b)->data[i]);
            s = xai__proportional_ratio(R->data[i], y->data[i], magnitude);
        }
        for (b = 0; b < L->nbottom; b++)
            XAI__DX(cx->t, L, b)->data[i] += xai__eltwise_coeff(L, b) * XAI__X(cx->t, L, b)->data[i] * s;
    }
    return XAI_OK;
}

/* -- Split: one bottom copied to every top; backward sums the tops' signals. ---------------------- */
static int xai__split_forward(const xai_net *net, const xai_layer *L, xai_tape *t, int li)
{
    int j;
    (void)net; (void)li;
    for (j = 0; j < L->ntop; j++)
        memcpy(XAI__Y(t, L, j)->data, XAI__X(t, L, 0)->data, xai_tensor_count(XAI__X(t, L, 0)) * sizeof(float));
    return XAI_OK;
}

static int xai__split_forward_rect(const xai_net *net, const xai_layer *L, xai_tape *t, int li, const xai__rect *r)
{
    int j;
    (void)net; (void)li;
    for (j = 0; j < L->ntop; j++) xai__copy_rect(XAI__X(t, L, 0), XAI__Y(t, L, j), 0, r);
    return XAI_OK;
}

static int xai__split_backward(const xai__ctx *cx, const xai_layer *L, int li)
{
    xai_tensor *dx = XAI__DX(cx->t, L, 0);
    size_t i, count = xai_tensor_count(dx);
    int j;
    (void)li;
    for (j = 0; j < L->ntop; j++)
        for (i = 0; i < count; i++) dx->data[i] += XAI__DY(cx->t, L, j)->data[i];
    return XAI_OK;
}

/* ==== 6. network ============================================================================== */

#define XAI__MAX_LAYERS 65536
#define XAI__MAX_DIM (1 << 24)

static const char *const xai__type_names[XAI_LAYER_TYPE_COUNT] = {
    "Convolution", "InnerProduct", "ReLU", "Pooling", "LRN", "Dropout", "Softmax", "Concat", "Eltwise", "Split"};

XAIDEF const char *xai_layer_type_name(int type)
{
    return type >= 0 && type < XAI_LAYER_TYPE_COUNT ? xai__type_names[type] : "(unknown)";
}

/* Caffe's defaults (caffe.proto). */
XAIDEF xai_layer_param xai_layer_defaults(int type)
{
    xai_layer_param p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.bias_term = 1;
    p.stride_h = p.stride_w = 1;
    p.dilation_h = p.dilation_w = 1;
    p.group = 1;
    p.pool = XAI_POOL_MAX;
    p.round_mode = XAI_ROUND_CEIL;
    p.local_size = 5;
    p.alpha = 1;
    p.beta = 0.75f;
    p.k = 1;
    p.dropout_ratio = 0.5f;
    p.operation = XAI_ELTWISE_SUM;
    p.axis = 1;
    return p;
}

XAIDEF xai_net *xai_net_new(const char *name)
{
    xai_net *net = (xai_net *)xai__calloc(1, sizeof(xai_net));
    if (!net) return NULL;
    xai__copy_name(net->name, name ? name : "net");
    net->input_blob = net->score_blob = net->output_blob = -1;
    net->pre.channel_order = XAI_ORDER_RGB;
    net->pre.scale = 1;
    net->pre.channel_scale[0] = net->pre.channel_scale[1] = net->pre.channel_scale[2] = 1;
    return net;
}

XAIDEF void xai_net_free(xai_net *net)
{
    if (!net) return;
    XAI_FREE(net->layer);
    XAI_FREE(net->blob);
    if (net->label) XAI_FREE(net->label[0]);
    XAI_FREE(net->label);
    xai__aligned_free(net->params);
    XAI_FREE(net->pre.mean_image);
    XAI_FREE(net->input_mean);
    XAI_FREE(net);
}

XAIDEF int xai_net_find_blob(const xai_net *net, const char *name)
{
    int i;
    for (i = net->nblob - 1; i >= 0; i--)
        if (strcmp(net->blob[i].name, name) == 0) return i;
    return -1;
}

XAIDEF int xai_net_find_layer(const xai_net *net, const char *name)
{
    int i;
    for (i = 0; i < net->nlayer; i++)
        if (strcmp(net->layer[i].name, name) == 0) return i;
    return -1;
}

XAIDEF size_t xai_net_input_size(const xai_net *net) { return (size_t)net->input_c * net->input_h * net->input_w; }

XAIDEF int xai_net_num_classes(const xai_net *net)
{
    const xai_blob *b = &net->blob[net->score_blob];
    return b->c * b->h * b->w;
}

static int xai__add_blob(xai_net *net, const char *name, int c, int h, int w, int producer)
{
    xai_blob *b;
    if (net->nblob == net->cap_blob) {
        int cap = net->cap_blob ? net->cap_blob * 2 : 16;
        xai_blob *nb = (xai_blob *)XAI_REALLOC(net->blob, (size_t)cap * sizeof(xai_blob));
        if (!nb) return xai__fail(XAI_ERR_MEMORY, "out of memory");
        net->blob = nb;
        net->cap_blob = cap;
    }
    /* c * h * w by xai__count4: 2^24 x 2^24 x 2^16 would wrap a size_t to 0 and pass */
    if (c <= 0 || h <= 0 || w <= 0 || c > XAI__MAX_DIM || h > XAI__MAX_DIM || w > XAI__MAX_DIM ||
        !xai__count4((size_t)c, (size_t)h, (size_t)w, 1, (size_t)1 << 31))
        return xai__fail(XAI_ERR_LIMIT, "blob '%s': shape %dx%dx%d is empty or too large", name, c, h, w);
    b = &net->blob[net->nblob];
    memset(b, 0, sizeof *b);
    xai__copy_name(b->name, name);
    b->c = c; b->h = h; b->w = w;
    b->producer = producer;
    return net->nblob++;
}

XAIDEF int xai_net_input(xai_net *net, const char *blob, int c, int h, int w)
{
    int b;
    if (net->finalized) return xai__fail(XAI_ERR_ARG, "net '%s' is finalized: no more inputs", net->name);
    if (net->input_blob >= 0)
        return xai__fail(XAI_ERR_ARG, "net '%s': a second input '%s' (one input blob is supported)", net->name, blob);
    if (!blob || !*blob || strlen(blob) >= XAI_NAME_MAX)
        return xai__fail(XAI_ERR_ARG, "input blob name empty or longer than %d", XAI_NAME_MAX - 1);
    if (c <= 0 || h <= 0 || w <= 0 || c > XAI_DIM_MAX || h > XAI_DIM_MAX || w > XAI_DIM_MAX)
        return xai__fail(XAI_ERR_LIMIT, "input %dx%dx%d: each side must be 1..%d", c, h, w, XAI_DIM_MAX);
    if ((b = xai__add_blob(net, blob, c, h, w, -1)) < 0) return b;
    net->input_blob = net->score_blob = net->output_blob = b;
    net->input_c = c; net->input_h = h; net->input_w = w;
    return XAI_OK;
}

/* Splits "a,b c" into names; returns the count or a negative error. */
static int xai__split_names(const char *list, char names[][XAI_NAME_MAX], int max, const char *layer, const char *what)
{
    int n = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t len = 0;
        while (*p == ',' || *p == ' ' || *p == '\t') p++;
        if (!*p) break;
        while (p[len] && p[len] != ',' && p[len] != ' ' && p[len] != '\t') len++;
        if (n == max) return xai__fail(XAI_ERR_LIMIT, "layer '%s': more than %d %ss", layer, max, what);
        if (len >= XAI_NAME_MAX)
            return xai__fail(XAI_ERR_LIMIT, "layer '%s': a %s name longer than %d", layer, what, XAI_NAME_MAX - 1);
        memcpy(names[n], p, len);
        names[n][len] = 0;
        n++;
        p += len;
    }
    return n;
}

/* Checks a layer's parameters against its bottoms (Caffe's LayerSetUp and Reshape) and computes
   the top shape and the weight shapes. */
static int xai__layer_setup(const xai_net *net, xai_layer *L, int *oc, int *oh, int *ow)
{
    xai_layer_param *p = &L->p;
    const xai_blob *b = &net->blob[L->bottom[0]];
    int C = b->c, H = b->h, W = b->w, i, need_bottoms = 1, need_tops = 1;
    const char *nm = L->name;
    *oc = C; *oh = H; *ow = W;
    L->weight_count = L->bias_count = 0;
    memset(L->weight_shape, 0, sizeof L->weight_shape);
    switch (p->type) {
    case XAI_CONVOLUTION: {
        long long eh, ew;   /* the dilated kernel: up to 2^48, so not an int until it fits the input */
        if (p->num_output <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': num_output %d must be positive", nm, p->num_output);
        if (p->kernel_h <= 0 || p->kernel_w <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': kernel_size %dx%d must be positive", nm, p->kernel_h,
                             p->kernel_w);
        if (p->stride_h <= 0 || p->stride_w <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': stride %dx%d must be positive", nm, p->stride_h, p->stride_w);
        if (p->pad_h < 0 || p->pad_w < 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': pad %dx%d is negative", nm, p->pad_h, p->pad_w);
        if (p->dilation_h <= 0 || p->dilation_w <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': dilation %dx%d must be positive", nm, p->dilation_h,
                             p->dilation_w);
        if (p->group <= 0 || C % p->group || p->num_output % p->group)
            return xai__fail(XAI_ERR_ARG, "layer '%s': group %d must divide the %d input channels and num_output %d",
                             nm, p->group, C, p->num_output);
        if (p->kernel_h > XAI__MAX_DIM || p->kernel_w > XAI__MAX_DIM || p->pad_h > XAI__MAX_DIM ||
            p->pad_w > XAI__MAX_DIM || p->dilation_h > XAI__MAX_DIM || p->dilation_w > XAI__MAX_DIM ||
            p->stride_h > XAI__MAX_DIM || p->stride_w > XAI__MAX_DIM)
            return xai__fail(XAI_ERR_LIMIT, "layer '%s': kernel, pad, stride or dilation beyond %d", nm, XAI__MAX_DIM);
        eh = (long long)p->dilation_h * (p->kernel_h - 1) + 1;
        ew = (long long)p->dilation_w * (p->kernel_w - 1) + 1;
        if (H + 2LL * p->pad_h < eh || W + 2LL * p->pad_w < ew)
            return xai__fail(XAI_ERR_ARG, "layer '%s': kernel %lldx%lld does not fit the %dx%d input with pad %dx%d",
                             nm, eh, ew, H, W, p->pad_h, p->pad_w);
        *oc = p->num_output;
        *oh = (int)((H + 2LL * p->pad_h - eh) / p->stride_h + 1);
        *ow = (int)((W + 2LL * p->pad_w - ew) / p->stride_w + 1);
        L->weight_shape[0] = p->num_output; L->weight_shape[1] = C / p->group;
        L->weight_shape[2] = p->kernel_h; L->weight_shape[3] = p->kernel_w;
        L->weight_count = xai__count4((size_t)p->num_output, (size_t)(C / p->group), (size_t)p->kernel_h,
                                      (size_t)p->kernel_w, (size_t)1 << 32);
        if (!L->weight_count) return xai__fail(XAI_ERR_LIMIT, "layer '%s': more than 2^32 weights", nm);
        L->bias_count = p->bias_term ? (size_t)p->num_output : 0;
        break;
    }
    case XAI_INNER_PRODUCT: {
        size_t K = (size_t)C * H * W;
        if (p->num_output <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': num_output %d must be positive", nm, p->num_output);
        if (p->axis != 1)
            return xai__fail(XAI_ERR_ARG, "layer '%s': InnerProduct axis %d is not supported (1 is)", nm, p->axis);
        if (K > (size_t)INT_MAX) return xai__fail(XAI_ERR_LIMIT, "layer '%s': %zu inputs", nm, K);
        *oc = p->num_output; *oh = 1; *ow = 1;
        L->weight_shape[0] = p->transpose ? (int)K : p->num_output;
        L->weight_shape[1] = p->transpose ? p->num_output : (int)K;
        L->weight_shape[2] = L->weight_shape[3] = 1;
        L->weight_count = xai__count4(K, (size_t)p->num_output, 1, 1, (size_t)1 << 32);
        if (!L->weight_count) return xai__fail(XAI_ERR_LIMIT, "layer '%s': more than 2^32 weights", nm);
        L->bias_count = p->bias_term ? (size_t)p->num_output : 0;
        break;
    }
    case XAI_POOLING: {
        if (p->pool != XAI_POOL_MAX && p->pool != XAI_POOL_AVE)
            return xai__fail(XAI_ERR_ARG, "layer '%s': pooling method %d is not supported (MAX 0 and AVE 1 are)", nm,
                             p->pool);
        if (p->global_pooling) {
            p->kernel_h = H; p->kernel_w = W;
            p->pad_h = p->pad_w = 0;
            p->stride_h = p->stride_w = 1;
        }
        if (p->kernel_h <= 0 || p->kernel_w <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': kernel_size %dx%d must be positive", nm, p->kernel_h,
                             p->kernel_w);
        if (p->stride_h <= 0 || p->stride_w <= 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': stride %dx%d must be positive", nm, p->stride_h, p->stride_w);
        if (p->pad_h < 0 || p->pad_w < 0 || p->pad_h >= p->kernel_h || p->pad_w >= p->kernel_w)
            return xai__fail(XAI_ERR_ARG, "layer '%s': pad %dx%d must be below the kernel %dx%d", nm, p->pad_h,
                             p->pad_w, p->kernel_h, p->kernel_w);
        if (p->kernel_h > XAI__MAX_DIM || p->kernel_w > XAI__MAX_DIM || p->stride_h > XAI__MAX_DIM ||
            p->stride_w > XAI__MAX_DIM)
            return xai__fail(XAI_ERR_LIMIT, "layer '%s': kernel or stride beyond %d", nm, XAI__MAX_DIM);
        if (p->round_mode != XAI_ROUND_CEIL && p->round_mode != XAI_ROUND_FLOOR)
            return xai__fail(XAI_ERR_ARG, "layer '%s': round_mode %d is not CEIL 0 or FLOOR 1", nm, p->round_mode);
        {
            double fh = (double)(H + 2 * p->pad_h - p->kernel_h) / p->stride_h,
                   fw = (double)(W + 2 * p->pad_w - p->kernel_w) / p->stride_w;
            *oh = (int)(p->round_mode == XAI_ROUND_CEIL ? ceil(fh) : floor(fh)) + 1;
            *ow = (int)(p->round_mode == XAI_ROUND_CEIL ? ceil(fw) : floor(fw)) + 1;
            /* the last window must start inside the image (or its left padding) */
            if (p->pad_h || p->pad_w) {
                if ((long)(*oh - 1) * p->stride_h >= H + p->pad_h) (*oh)--;
                if ((long)(*ow - 1) * p->stride_w >= W + p->pad_w) (*ow)--;
            }
            if (*oh <= 0 || *ow <= 0)
                return xai__fail(XAI_ERR_ARG, "layer '%s': the %dx%d input gives no output", nm, H, W);
        }
        break;
    }
    case XAI_LRN:
        if (p->local_size <= 0 || p->local_size % 2 == 0 || p->local_size > 1023)
            return xai__fail(XAI_ERR_ARG, "layer '%s': local_size %d must be odd, 1..1023 (as Caffe requires)", nm,
                             p->local_size);
        if (p->norm_region != XAI_LRN_ACROSS_CHANNELS && p->norm_region != XAI_LRN_WITHIN_CHANNEL)
            return xai__fail(XAI_ERR_ARG, "layer '%s': norm_region %d is not ACROSS_CHANNELS 0 or WITHIN_CHANNEL 1", nm,
                             p->norm_region);
        if (!(p->alpha == p->alpha && p->beta == p->beta && p->k == p->k) || p->k < 0 || p->alpha < 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': alpha, beta and k must be numbers, alpha and k not negative",
                             nm);
        break;
    case XAI_RELU:
        if (!(p->negative_slope == p->negative_slope))
            return xai__fail(XAI_ERR_ARG, "layer '%s': negative_slope is not a number", nm);
        break;
    case XAI_DROPOUT:
    case XAI_SOFTMAX:
        if (p->type == XAI_DROPOUT && !(p->dropout_ratio >= 0 && p->dropout_ratio < 1))
            return xai__fail(XAI_ERR_ARG, "layer '%s': dropout_ratio %g must be in [0, 1)", nm, p->dropout_ratio);
        if (p->type == XAI_SOFTMAX && p->axis != 1)
            return xai__fail(XAI_ERR_ARG, "layer '%s': Softmax axis %d is not supported (1 is)", nm, p->axis);
        break;
    case XAI_CONCAT:
        need_bottoms = 0;
        if (p->axis != 1)
            return xai__fail(XAI_ERR_ARG, "layer '%s': Concat axis %d is not supported (1, channels, is)", nm, p->axis);
        for (i = 1, *oc = C; i < L->nbottom; i++) {
            const xai_blob *bi = &net->blob[L->bottom[i]];
            if (bi->h != H || bi->w != W)
                return xai__fail(XAI_ERR_ARG, "layer '%s': bottom '%s' is %dx%d, bottom '%s' %dx%d", nm, bi->name,
                                 bi->h, bi->w, b->name, H, W);
            *oc += bi->c;
            if (*oc > XAI__MAX_DIM) return xai__fail(XAI_ERR_LIMIT, "layer '%s': too many channels", nm);
        }
        break;
    case XAI_ELTWISE:
        need_bottoms = 0;
        if (L->nbottom < 2)
            return xai__fail(XAI_ERR_ARG, "layer '%s': Eltwise needs at least 2 bottoms, has %d", nm, L->nbottom);
        if (p->operation < XAI_ELTWISE_PROD || p->operation > XAI_ELTWISE_MAX)
            return xai__fail(XAI_ERR_ARG, "layer '%s': Eltwise operation %d is not PROD 0, SUM 1 or MAX 2", nm,
                             p->operation);
        if (p->ncoeff && (p->ncoeff != L->nbottom || p->operation != XAI_ELTWISE_SUM))
            return xai__fail(XAI_ERR_ARG, "layer '%s': %d coefficients for %d bottoms (SUM only, one each)", nm,
                             p->ncoeff, L->nbottom);
        for (i = 1; i < L->nbottom; i++) {
            const xai_blob *bi = &net->blob[L->bottom[i]];
            if (bi->c != C || bi->h != H || bi->w != W)
                return xai__fail(XAI_ERR_ARG, "layer '%s': bottom '%s' is %dx%dx%d, bottom '%s' %dx%dx%d", nm, bi->name,
                                 bi->c, bi->h, bi->w, b->name, C, H, W);
        }
        break;
    case XAI_SPLIT:
        need_tops = 0;
        break;
    default:
        return xai__fail(XAI_ERR_ARG, "layer '%s': unknown layer type %d", nm, p->type);
    }
    if (need_bottoms && L->nbottom != 1)
        return xai__fail(XAI_ERR_ARG, "layer '%s' (%s) takes 1 bottom, has %d", nm, xai_layer_type_name(p->type),
                         L->nbottom);
    if (need_tops && L->ntop != 1)
        return xai__fail(XAI_ERR_ARG, "layer '%s' (%s) makes 1 top, has %d", nm, xai_layer_type_name(p->type), L->ntop);
    if (L->ntop < 1) return xai__fail(XAI_ERR_ARG, "layer '%s' has no top", nm);
    return XAI_OK;
}

XAIDEF int xai_net_add(xai_net *net, const char *name, const xai_layer_param *p, const char *bottoms, const char *tops)
{
    char names[XAI_MAX_TOPS > XAI_MAX_BOTTOMS ? XAI_MAX_TOPS : XAI_MAX_BOTTOMS][XAI_NAME_MAX];
    xai_layer L;
    int i, n, rc, oc, oh, ow, li = net->nlayer;
    if (net->finalized) return xai__fail(XAI_ERR_ARG, "net '%s' is finalized: no more layers", net->name);
    if (!name || !*name || strlen(name) >= XAI_NAME_MAX)
        return xai__fail(XAI_ERR_ARG, "layer %d: name empty or longer than %d", li, XAI_NAME_MAX - 1);
    if (net->input_blob < 0)
        return xai__fail(XAI_ERR_ARG, "layer '%s': the net has no input yet (xai_net_input)", name);
    if (li >= XAI__MAX_LAYERS)
        return xai__fail(XAI_ERR_LIMIT, "layer '%s': more than %d layers", name, XAI__MAX_LAYERS);
    memset(&L, 0, sizeof L);
    xai__copy_name(L.name, name);
    L.p = *p;
    if ((n = xai__split_names(bottoms, names, XAI_MAX_BOTTOMS, name, "bottom")) < 0) return n;
    if (n == 0) return xai__fail(XAI_ERR_ARG, "layer '%s' has no bottom", name);
    for (i = 0; i < n; i++) {
        int b = xai_net_find_blob(net, names[i]);
        if (b < 0)
            return xai__fail(XAI_ERR_ARG, "layer '%s': bottom '%s' names no blob made before it", name, names[i]);
        L.bottom[i] = b;
    }
    L.nbottom = n;
    if ((n = xai__split_names(tops, names, XAI_MAX_TOPS, name, "top")) < 0) return n;
    L.ntop = n;
    if ((rc = xai__layer_setup(net, &L, &oc, &oh, &ow)) != XAI_OK) return rc;
    if (net->nlayer == net->cap_layer) {
        int cap = net->cap_layer ? net->cap_layer * 2 : 16;
        xai_layer *nl = (xai_layer *)XAI_REALLOC(net->layer, (size_t)cap * sizeof(xai_layer));
        if (!nl) return xai__fail(XAI_ERR_MEMORY, "out of memory");
        net->layer = nl;
        net->cap_layer = cap;
    }
    for (i = 0; i < L.ntop; i++) {
        int b = xai__add_blob(net, names[i], oc, oh, ow, li);
        if (b < 0) { net->nblob -= i; return b; }
        L.top[i] = b;
    }
    net->layer[net->nlayer++] = L;
    net->output_blob = L.top[0];
    net->score_blob = L.p.type == XAI_SOFTMAX ? L.bottom[0] : L.top[0];
    return li;
}

/* The mean as the network input sees it, C x H x W: the per-channel mean, or the mean image
   cropped at the centre like the picture (Caffe subtracts the 256x256 mean, then crops 227). */
static int xai__derive_input_mean(xai_net *net)
{
    xai_preprocess *pre = &net->pre;
    size_t plane = (size_t)net->input_h * net->input_w, i;
    int c, y;
    XAI_FREE(net->input_mean);
    net->input_mean = NULL;
    if (pre->mean_kind == XAI_MEAN_NONE || net->input_blob < 0) return XAI_OK;
    net->input_mean = (float *)xai__calloc(plane * (size_t)net->input_c, sizeof(float));
    if (!net->input_mean) return XAI_ERR_MEMORY;
    if (pre->mean_kind == XAI_MEAN_PIXEL) {
        if (net->input_c > 3)
            return xai__fail(XAI_ERR_ARG, "net '%s': a mean pixel for %d channels (3 at most)", net->name,
                             net->input_c);
        for (c = 0; c < net->input_c; c++)
            for (i = 0; i < plane; i++) net->input_mean[c * plane + i] = pre->mean_pixel[c];
        return XAI_OK;
    }
    if (pre->mean_kind != XAI_MEAN_IMAGE || !pre->mean_image)
        return xai__fail(XAI_ERR_ARG, "net '%s': mean kind %d without data", net->name, pre->mean_kind);
    if (pre->mean_c != net->input_c || pre->mean_h < net->input_h || pre->mean_w < net->input_w)
        return xai__fail(XAI_ERR_ARG, "net '%s': the %dx%dx%d mean image cannot serve the %dx%dx%d input", net->name,
                         pre->mean_c, pre->mean_h, pre->mean_w, net->input_c, net->input_h, net->input_w);
    for (c = 0; c < net->input_c; c++)
        for (y = 0; y < net->input_h; y++)
            memcpy(net->input_mean + c * plane + (size_t)y * net->input_w,
                   pre->mean_image +
                       ((size_t)c * pre->mean_h + (size_t)(y + (pre->mean_h - net->input_h) / 2)) * pre->mean_w +
                       (pre->mean_w - net->input_w) / 2,
                   (size_t)net->input_w * sizeof(float));
    return XAI_OK;
}

XAIDEF int xai_net_set_mean_image(xai_net *net, int c, int h, int w, const float *mean)
{
    size_t count = xai__count4((size_t)c, (size_t)h, (size_t)w, 1, (size_t)1 << 28);
    if (c <= 0 || h <= 0 || w <= 0 || !count) return xai__fail(XAI_ERR_ARG, "mean image %dx%dx%d: bad size", c, h, w);
    XAI_FREE(net->pre.mean_image);
    net->pre.mean_image = (float *)xai__malloc(count * sizeof(float));
    if (!net->pre.mean_image) return XAI_ERR_MEMORY;
    memcpy(net->pre.mean_image, mean, count * sizeof(float));
    net->pre.mean_kind = XAI_MEAN_IMAGE;
    net->pre.mean_c = c; net->pre.mean_h = h; net->pre.mean_w = w;
    return net->finalized ? xai__derive_input_mean(net) : XAI_OK;
}

XAIDEF int xai_net_set_mean_pixel(xai_net *net, const float *mean)
{
    int c;
    if (net->input_c > 3)
        return xai__fail(XAI_ERR_ARG, "net '%s': a mean pixel for %d channels (3 at most)", net->name, net->input_c);
    for (c = 0; c < net->input_c; c++) net->pre.mean_pixel[c] = mean[c];
    XAI_FREE(net->pre.mean_image);
    net->pre.mean_image = NULL;
    net->pre.mean_kind = XAI_MEAN_PIXEL;
    return net->finalized ? xai__derive_input_mean(net) : XAI_OK;
}

XAIDEF int xai_net_set_labels(xai_net *net, int n, const char *const *labels)
{
    size_t total = 0;
    char *text;
    int i;
    if (n < 0 || n > (1 << 20)) return xai__fail(XAI_ERR_LIMIT, "%d labels", n);
    for (i = 0; i < n; i++) {
        size_t len = strlen(labels[i]);
        if (len >= XAI_LABEL_MAX)
            return xai__fail(XAI_ERR_LIMIT, "label %d is %zu bytes long, at most %d allowed", i, len,
                             XAI_LABEL_MAX - 1);
        total += len + 1;
    }
    if (net->label) XAI_FREE(net->label[0]);
    XAI_FREE(net->label);
    net->label = NULL;
    net->nlabel = 0;
    if (n == 0) return XAI_OK;
    net->label = (char **)xai__calloc((size_t)n, sizeof(char *));
    text = (char *)xai__malloc(total);
    if (!net->label || !text) { XAI_FREE(net->label); XAI_FREE(text); net->label = NULL; return XAI_ERR_MEMORY; }
    for (i = 0; i < n; i++) {
        size_t len = strlen(labels[i]) + 1;
        memcpy(text, labels[i], len);
        net->label[i] = text;
        text += len;
    }
    net->nlabel = n;
    return XAI_OK;
}

/* Lays the weights out (each blob at a multiple of 16 floats = 64 bytes) in one allocation. */
static size_t xai__align16(size_t n) { return (n + 15) & ~(size_t)15; }

static void xai__layout(xai_net *net)
{
    size_t offset = 0;
    int i;
    for (i = 0; i < net->nlayer; i++) {
        xai_layer *L = &net->layer[i];
        L->weight_offset = offset;
        offset += xai__align16(L->weight_count);
        L->bias_offset = offset;
        offset += xai__align16(L->bias_count);
    }
    net->nparams = offset;
}

static void xai__point_weights(xai_net *net)
{
    int i;
    for (i = 0; i < net->nlayer; i++) {
        xai_layer *L = &net->layer[i];
        L->weight = L->weight_count ? net->params + L->weight_offset : NULL;
        L->bias = L->bias_count ? net->params + L->bias_offset : NULL;
    }
}

XAIDEF int xai_net_finalize(xai_net *net)
{
    int rc;
    if (net->finalized) return XAI_OK;
    if (net->input_blob < 0 || net->nlayer == 0)
        return xai__fail(XAI_ERR_ARG, "net '%s' has no input or no layer", net->name);
    xai__layout(net);
    if (net->nparams) {
        net->params = (float *)xai__aligned_alloc(net->nparams * sizeof(float));
        if (!net->params) return XAI_ERR_MEMORY;
        memset(net->params, 0, net->nparams * sizeof(float));
    }
    xai__point_weights(net);
    if ((rc = xai__derive_input_mean(net)) != XAI_OK) return rc;
    net->finalized = 1;
    return XAI_OK;
}

/* Gaussian from four uniforms (Irwin-Hall): plain arithmetic, so the same bits everywhere. */
static float xai__gaussian(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    float s = 0;
    uint64_t d;
    for (d = 0; d < 4; d++) s += xai__uniform(xai__random_key(seed, a, b, c, d));
    return (s - 2.0f) * 1.7320508f;
}

XAIDEF void xai_net_fill_random(xai_net *net, uint64_t seed)
{
    int li;
    size_t i;
    for (li = 0; li < net->nlayer; li++) {
        xai_layer *L = &net->layer[li];
        float std;
        if (!L->weight_count) continue;
        std = sqrtf(2.0f / (float)(L->weight_count / (size_t)L->p.num_output));
        for (i = 0; i < L->weight_count; i++) L->weight[i] = std * xai__gaussian(seed, (uint64_t)li, 0, i);
        for (i = 0; i < L->bias_count; i++) L->bias[i] = 0.1f * xai__gaussian(seed, (uint64_t)li, 1, i);
    }
}

static xai_layer_param xai__conv_param(int num_output, int kernel, int stride, int pad, int group)
{
    xai_layer_param p = xai_layer_defaults(XAI_CONVOLUTION);
    p.num_output = num_output;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.group = group;
    return p;
}

static xai_layer_param xai__pool_param(int pool, int kernel, int stride)
{
    xai_layer_param p = xai_layer_defaults(XAI_POOLING);
    p.pool = pool;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = stride;
    return p;
}

static xai_layer_param xai__lrn_param(int local_size, float alpha, float beta)
{
    xai_layer_param p = xai_layer_defaults(XAI_LRN);
    p.local_size = local_size;
    p.alpha = alpha;
    p.beta = beta;
    return p;
}

static xai_layer_param xai__fc_param(int num_output)
{
    xai_layer_param p = xai_layer_defaults(XAI_INNER_PRODUCT);
    p.num_output = num_output;
    return p;
}

XAIDEF xai_net *xai_net_caffenet(void)
{
    xai_net *net = xai_net_new("CaffeNet");
    xai_layer_param relu = xai_layer_defaults(XAI_RELU), drop = xai_layer_defaults(XAI_DROPOUT);
    xai_layer_param softmax = xai_layer_defaults(XAI_SOFTMAX);
    xai_layer_param conv1 = xai__conv_param(96, 11, 4, 0, 1), conv2 = xai__conv_param(256, 5, 1, 2, 2);
    xai_layer_param conv3 = xai__conv_param(384, 3, 1, 1, 1), conv4 = xai__conv_param(384, 3, 1, 1, 2);
    xai_layer_param conv5 = xai__conv_param(256, 3, 1, 1, 2), pool = xai__pool_param(XAI_POOL_MAX, 3, 2);
    xai_layer_param norm = xai__lrn_param(5, 1e-4f, 0.75f), fc6 = xai__fc_param(4096), fc8 = xai__fc_param(1000);
    /* Caffe's deploy.prototxt, a layer a line: name, parameters, bottom, top */
    const struct { const char *name; const xai_layer_param *p; const char *bottom, *top; } layers[] = {
        {"conv1", &conv1, "data", "conv1"},  {"relu1", &relu, "conv1", "conv1"}, {"pool1", &pool, "conv1", "pool1"},
        {"norm1", &norm, "pool1", "norm1"},  {"conv2", &conv2, "norm1", "conv2"}, {"relu2", &relu, "conv2", "conv2"},
        {"pool2", &pool, "conv2", "pool2"},  {"norm2", &norm, "pool2", "norm2"},  {"conv3", &conv3, "norm2", "conv3"},
        {"relu3", &relu, "conv3", "conv3"},  {"conv4", &conv4, "conv3", "conv4"}, {"relu4", &relu, "conv4", "conv4"},
        {"conv5", &conv5, "conv4", "conv5"}, {"relu5", &relu, "conv5", "conv5"}, {"pool5", &pool, "conv5", "pool5"},
        {"fc6", &fc6, "pool5", "fc6"},       {"relu6", &relu, "fc6", "fc6"},      {"drop6", &drop, "fc6", "fc6"},
        {"fc7", &fc6, "fc6", "fc7"},         {"relu7", &relu, "fc7", "fc7"},      {"drop7", &drop, "fc7", "fc7"},
        {"fc8", &fc8, "fc7", "fc8"},         {"prob", &softmax, "fc8", "prob"},
    };
    size_t i;
    if (!net) return NULL;
    if (xai_net_input(net, "data", 3, 227, 227) != XAI_OK) { xai_net_free(net); return NULL; }
    for (i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (xai_net_add(net, layers[i].name, layers[i].p, layers[i].bottom, layers[i].top) < 0) {
            xai_net_free(net);
            return NULL;
        }
    net->pre.channel_order = XAI_ORDER_BGR;
    net->pre.mean_kind = XAI_MEAN_PIXEL;
    net->pre.mean_pixel[0] = 104.007f;  /* B, G, R: the ILSVRC 2012 mean image averaged per channel */
    net->pre.mean_pixel[1] = 116.669f;
    net->pre.mean_pixel[2] = 122.679f;
    net->pre.resize_w = net->pre.resize_h = 256;
    if (xai_net_finalize(net) != XAI_OK) { xai_net_free(net); return NULL; }
    return net;
}

/* Picture -> network input: gray/colour to the net's channels, resize (Caffe's 256 then a centre
   crop, or straight to the input size), RGB -> BGR where the net reads BGR, minus mean, times scale. */
XAIDEF int xai_net_preprocess(const xai_net *net, const xai_image *img, float *input, xai_image *shown)
{
    xai_image conv, sized, crop;
    int C = net->input_c, H = net->input_h, W = net->input_w, rw, rh, x, y, c, rc;
    size_t plane = (size_t)H * W;
    if (!net->finalized) return xai__fail(XAI_ERR_ARG, "net '%s' is not finalized", net->name);
    if (C != 1 && C != 3) return xai__fail(XAI_ERR_ARG, "net '%s' reads %d channels: images give 1 or 3", net->name, C);
    if (!img->data || img->w <= 0 || img->h <= 0 || img->c <= 0)
        return xai__fail(XAI_ERR_ARG, "preprocess: empty image");
    if ((rc = xai_image_alloc(&conv, img->w, img->h, C)) != XAI_OK) return rc;
    for (y = 0; y < img->h; y++)
        for (x = 0; x < img->w; x++) {
            const float *px = img->data + ((size_t)y * img->w + x) * img->c;
            float *q = conv.data + ((size_t)y * img->w + x) * C;
            if (C == 1)
                q[0] = img->c >= 3 ? 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2] : px[0]; /* ITU-R BT.601 luma */
            else for (c = 0; c < 3; c++) q[c] = img->c >= 3 ? px[c] : px[0];
        }
    rw = net->pre.resize_w > 0 ? net->pre.resize_w : W;
    rh = net->pre.resize_h > 0 ? net->pre.resize_h : H;
    if (rw < W || rh < H) {
        xai_image_free(&conv);
        return xai__fail(XAI_ERR_ARG, "net '%s': resize %dx%d is smaller than the input %dx%d", net->name, rw, rh, W,
                         H);
    }
    if (conv.w != rw || conv.h != rh) {
        rc = xai_image_resize(&conv, rw, rh, &sized);
        xai_image_free(&conv);
        if (rc) return rc;
    } else {
        sized = conv;
    }
    rc = xai_image_crop(&sized, (rw - W) / 2, (rh - H) / 2, W, H, &crop);   /* Caffe: (256 - 227) / 2 = 14 */
    xai_image_free(&sized);
    if (rc) return rc;
    for (c = 0; c < C; c++) {
        int from = (C == 3 && net->pre.channel_order == XAI_ORDER_BGR) ? 2 - c : c;
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                size_t at = (size_t)c * plane + (size_t)y * W + x;
                float v = crop.data[((size_t)y * W + x) * C + from];
                input[at] = (v - (net->input_mean ? net->input_mean[at] : 0.0f)) * xai__input_scale(net, c);
            }
    }
    if (shown) *shown = crop;
    else xai_image_free(&crop);
    return XAI_OK;
}

/* -- the forward pass ---------------------------------------------------------------------------- */

static const xai__forward_fn xai__forward_table[XAI_LAYER_TYPE_COUNT] = {
    xai__linear_layer_forward,   /* Convolution */
    xai__linear_layer_forward,   /* InnerProduct */
    xai__relu_forward,           /* ReLU */
    xai__pool_forward,           /* Pooling */
    xai__lrn_forward,            /* LRN */
    xai__copy_forward,           /* Dropout */
    xai__softmax_forward,        /* Softmax */
    xai__concat_forward,         /* Concat */
    xai__eltwise_forward,        /* Eltwise */
    xai__split_forward           /* Split */
};

/* The partial forwards of the incremental pass (section 8); NULL: the layer always runs in full. */
static const xai__forward_rect_fn xai__forward_rect_table[XAI_LAYER_TYPE_COUNT] = {
    xai__conv_forward_rect,      /* Convolution */
    NULL,                        /* InnerProduct: every output reads every input */
    xai__relu_forward_rect,      /* ReLU */
    xai__pool_forward_rect,      /* Pooling */
    xai__lrn_forward_rect,       /* LRN */
    xai__copy_forward_rect,      /* Dropout */
    NULL,                        /* Softmax */
    xai__concat_forward_rect,    /* Concat */
    xai__eltwise_forward_rect,   /* Eltwise */
    xai__split_forward_rect      /* Split */
};

/* the blobs a forward-only tape keeps apart, for all n_max images: read before or after a pass */
static int xai__kept_blob(const xai_net *net, int b)
{
    return b == net->input_blob || b == net->score_blob || b == net->output_blob;
}

static size_t xai__blob_floats(const xai_net *net, int b)   /* one image's */
{
    return (size_t)net->blob[b].c * net->blob[b].h * net->blob[b].w;
}

XAIDEF void xai_tape_free(xai_tape *tape)
{
    int i;
    if (!tape) return;
    for (i = 0; i < tape->net->nblob; i++) {
        if (tape->blob && (!tape->arena || xai__kept_blob(tape->net, i))) xai_tensor_free(&tape->blob[i]);
        if (tape->signal) xai_tensor_free(&tape->signal[i]);
    }
    for (i = 0; i < tape->net->nlayer && !tape->arena; i++) {
        if (tape->switches) XAI_FREE(tape->switches[i]);
        if (tape->scale) XAI_FREE(tape->scale[i]);
    }
    for (i = 0; tape->packed && i < tape->net->nlayer; i++) XAI_FREE(tape->packed[i]);
    XAI_FREE(tape->packed);
    xai__aligned_free(tape->arena);
    if (tape->zpart)
        for (i = 0; i < 2 * tape->net->nlayer; i++) xai_tensor_free(&tape->zpart[i]);
    XAI_FREE(tape->zpart);
    XAI_FREE(tape->split);
    XAI_FREE(tape->blob);
    XAI_FREE(tape->signal);
    XAI_FREE(tape->switches);
    XAI_FREE(tape->scale);
    xai__aligned_free(tape->work);
    XAI_FREE(tape);
}

/* Layer li's own buffers on a tape that keeps them: MAX pooling's and Eltwise MAX's switches, LRN's
   scales, count elements (its top's on the tape). */
static int xai__tape_layer_buffers(xai_tape *t, const xai_layer *L, int li, size_t count)
{
    if ((L->p.type == XAI_POOLING && L->p.pool == XAI_POOL_MAX) ||
        (L->p.type == XAI_ELTWISE && L->p.operation == XAI_ELTWISE_MAX))
        if (!(t->switches[li] = (int *)xai__calloc(count, sizeof(int)))) return XAI_ERR_MEMORY;
    if (L->p.type == XAI_LRN && !(t->scale[li] = (float *)xai__calloc(count, sizeof(float)))) return XAI_ERR_MEMORY;
    return XAI_OK;
}

XAIDEF xai_tape *xai_tape_new(const xai_net *net, int n_max)
{
    xai_tape *t;
    int i;
    if (!net->finalized) { xai__fail(XAI_ERR_ARG, "net '%s' is not finalized", net->name); return NULL; }
    if (n_max <= 0 || n_max > (1 << 20)) { xai__fail(XAI_ERR_ARG, "tape for %d images", n_max); return NULL; }
    t = (xai_tape *)xai__calloc(1, sizeof(xai_tape));
    if (!t) return NULL;
    t->net = net;
    t->n_max = t->n = n_max;
    t->blob = (xai_tensor *)xai__calloc((size_t)net->nblob, sizeof(xai_tensor));
    t->switches = (int **)xai__calloc((size_t)net->nlayer, sizeof(int *));
    t->scale = (float **)xai__calloc((size_t)net->nlayer, sizeof(float *));
    t->split = (unsigned char *)xai__calloc((size_t)net->nlayer, 1);
    t->zpart = (xai_tensor *)xai__calloc(2 * (size_t)net->nlayer, sizeof(xai_tensor));
    if (!t->blob || !t->switches || !t->scale || !t->split || !t->zpart) goto fail;
    for (i = 0; i < net->nblob; i++)
        if (xai_tensor_alloc(&t->blob[i], n_max, net->blob[i].c, net->blob[i].h, net->blob[i].w)) goto fail;
    for (i = 0; i < net->nlayer; i++) {
        const xai_layer *L = &net->layer[i];
        if (xai__tape_layer_buffers(t, L, i, xai_tensor_count(&t->blob[L->top[0]])) != XAI_OK) goto fail;
    }
    return t;
fail:
    xai_tape_free(t);
    return NULL;
}

/* -- the forward-only tape ------------------------------------------------------------------------
   Each value a pass writes (a blob, or a layer's max-pool switches or LRN scales, which only a
   backward pass reads) lives from the layer that writes it to the last layer that reads it.  Values
   whose lives overlap get disjoint bytes of one block: the largest placed first, each at the lowest
   offset clear of the live ones it meets (greedy by size, as TFLite's arena planner).  A ReLU that
   is its bottom's last reader writes over it: y[i] depends on x[i] alone, read before it is written.
   The input, the scores and the output are kept apart, for all n_max images; the rest of the net
   runs `group` images at a time, as many as keep the block within XAI_FORWARD_BLOCK bytes (at least
   one image): a batch's numbers do not depend on how it is split (Appendix A).  Offsets are 64-byte
   multiples, the alignment xai_tensor_alloc gives, so every kernel runs as on a full tape: the
   same bits. */
#ifndef XAI_FORWARD_BLOCK
#define XAI_FORWARD_BLOCK ((size_t)32 << 20)
#endif

typedef struct xai__live { size_t bytes, offset; int first, last, group; } xai__live;

static int xai__by_bytes_desc(const void *a, const void *b)
{
    const xai__live *x = *(const xai__live *const *)a, *y = *(const xai__live *const *)b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->first != y->first ? (x->first < y->first ? -1 : 1) : (x < y ? -1 : x > y);
}

/* Plans the block for `group` images: v[0..nblob) the blobs (the kept ones outside, bytes 0),
   v[nblob + li] layer li's switches, v[nblob + nlayer + li] its LRN scales.  Returns the block's
   size in bytes (> 0), 0 with the reason set on failure. */
static size_t xai__plan_arena(const xai_net *net, int group, xai__live *v, xai__live **order)
{
    int nv = net->nblob + 2 * net->nlayer, i, j, li, k, nroot = 0;
    size_t total = 64;
    for (i = 0; i < nv; i++) { v[i].bytes = v[i].offset = 0; v[i].first = v[i].last = -1; v[i].group = i; }
    for (i = 0; i < net->nblob; i++) {
        const xai_blob *B = &net->blob[i];
        size_t count = xai__count4((size_t)group, (size_t)B->c, (size_t)B->h, (size_t)B->w, XAI__MAX_FLOATS);
        if (!count) {
            xai__fail(XAI_ERR_LIMIT, "forward tape: blob '%s' of %d images is too large", B->name, group);
            return 0;
        }
        if (!xai__kept_blob(net, i)) v[i].bytes = xai__align16(count) * sizeof(float);   /* 16 floats: 64 bytes */
        v[i].first = v[i].last = B->producer;
    }
    for (li = 0; li < net->nlayer; li++) {
        const xai_layer *L = &net->layer[li];
        size_t count = (size_t)group * xai__blob_floats(net, L->top[0]);
        for (j = 0; j < L->nbottom; j++) if (v[L->bottom[j]].last < li) v[L->bottom[j]].last = li;
        int max_pool = L->p.type == XAI_POOLING && L->p.pool == XAI_POOL_MAX;
        if (max_pool || (L->p.type == XAI_ELTWISE && L->p.operation == XAI_ELTWISE_MAX)) {
            size_t images = max_pool ? (size_t)group : 1;   /* pooling runs image by image */
            v[net->nblob + li].bytes = xai__align16(count / images) * sizeof(int);
            v[net->nblob + li].first = v[net->nblob + li].last = li;
        }
        if (L->p.type == XAI_LRN) {
            v[net->nblob + net->nlayer + li].bytes = xai__align16(count) * sizeof(float);
            v[net->nblob + net->nlayer + li].first = v[net->nblob + net->nlayer + li].last = li;
        }
    }
    /* in-place ReLU: the top joins its bottom's group, which then lives until the top's last reader */
    for (li = 0; li < net->nlayer; li++) {
        const xai_layer *L = &net->layer[li];
        int b = L->bottom[0], y = L->top[0], root;
        if (L->p.type != XAI_RELU || v[b].last != li || xai__kept_blob(net, b) || xai__kept_blob(net, y)) continue;
        root = v[b].group;
        v[y].group = root;
        if (v[y].last > v[root].last) v[root].last = v[y].last;
    }
    for (i = 0; i < nv; i++)
        if (v[i].bytes && v[i].group == i) order[nroot++] = &v[i];
    qsort(order, (size_t)nroot, sizeof *order, xai__by_bytes_desc);
    for (i = 0; i < nroot; i++) {
        xai__live *a = order[i];
        size_t at = 0;
        int moved = 1;
        while (moved) {   /* past every placed value it meets, until none overlaps */
            moved = 0;
            for (k = 0; k < i; k++) {
                const xai__live *o = order[k];
                if (o->first > a->last || a->first > o->last) continue;              /* never alive together */
                if (at < o->offset + o->bytes && o->offset < at + a->bytes) { at = o->offset + o->bytes; moved = 1; }
            }
        }
        a->offset = at;
        if (at + a->bytes > total) total = at + a->bytes;
    }
    for (i = 0; i < nv; i++) v[i].offset = v[v[i].group].offset;
    return total;
}

XAIDEF xai_tape *xai_tape_new_forward(const xai_net *net, int n_max)
{
    xai_tape *t;
    xai__live *v = NULL, **order = NULL;
    int i, nv;
    unsigned char *base;
    if (!net->finalized) { xai__fail(XAI_ERR_ARG, "net '%s' is not finalized", net->name); return NULL; }
    if (n_max <= 0 || n_max > (1 << 20)) { xai__fail(XAI_ERR_ARG, "tape for %d images", n_max); return NULL; }
    nv = net->nblob + 2 * net->nlayer;
    t = (xai_tape *)xai__calloc(1, sizeof(xai_tape));
    if (!t) return NULL;
    t->net = net;
    t->n_max = t->n = t->group = n_max;
    t->forward_only = 1;
    t->blob = (xai_tensor *)xai__calloc((size_t)net->nblob, sizeof(xai_tensor));
    t->switches = (int **)xai__calloc((size_t)net->nlayer, sizeof(int *));
    t->scale = (float **)xai__calloc((size_t)net->nlayer, sizeof(float *));
    v = (xai__live *)xai__calloc((size_t)nv, sizeof(xai__live));
    order = (xai__live **)xai__calloc((size_t)nv, sizeof(xai__live *));
    if (!t->blob || !t->switches || !t->scale || !v || !order) goto fail;
    /* the group: the block shrinks about in proportion to it */
    while ((t->arena_bytes = xai__plan_arena(net, t->group, v, order)) > XAI_FORWARD_BLOCK && t->group > 1) {
        int smaller = (int)((double)t->group * XAI_FORWARD_BLOCK / t->arena_bytes);
        t->group = smaller < 1 ? 1 : smaller < t->group ? smaller : t->group - 1;
    }
    if (!t->arena_bytes || !(t->arena = xai__aligned_alloc(t->arena_bytes))) goto fail;
    memset(t->arena, 0, t->arena_bytes);
    base = (unsigned char *)t->arena;
    for (i = 0; i < net->nblob; i++) {
        xai_tensor *b = &t->blob[i];
        if (xai__kept_blob(net, i)) {
            if (xai_tensor_alloc(b, n_max, net->blob[i].c, net->blob[i].h, net->blob[i].w)) goto fail;
            continue;
        }
        b->n = t->group; b->c = net->blob[i].c; b->h = net->blob[i].h; b->w = net->blob[i].w;
        b->data = (float *)(base + v[i].offset);
    }
    for (i = 0; i < net->nlayer; i++) {
        const xai__live *sw = &v[net->nblob + i], *scale = &v[net->nblob + net->nlayer + i];
        if (sw->bytes) t->switches[i] = (int *)(base + sw->offset);
        if (scale->bytes) t->scale[i] = (float *)(base + scale->offset);
    }
    XAI_FREE(v); XAI_FREE(order);
    return t;
fail:
    XAI_FREE(v); XAI_FREE(order);
    xai_tape_free(t);
    return NULL;
}

/* Images n0 .. n0+m-1 through layers l0 .. l1-1: the kept blobs are pointed at those images, the
   others hold just them. */
static int xai__forward_images(const xai_net *net, xai_tape *tape, int n0, int m, int l0, int l1)
{
    int i, rc = XAI_OK;
    for (i = 0; i < net->nblob; i++) {
        tape->blob[i].n = m;
        if (tape->signal) tape->signal[i].n = m;
        if (n0 && xai__kept_blob(net, i)) tape->blob[i].data += (size_t)n0 * xai__blob_floats(net, i);
    }
    for (i = l0; i < l1 && rc == XAI_OK; i++) {
        double t0 = tape->layer_seconds ? xai_seconds() : 0;
        rc = xai__forward_table[net->layer[i].p.type](net, &net->layer[i], tape, i);
        if (tape->layer_seconds) tape->layer_seconds[i] += xai_seconds() - t0;
    }
    for (i = 0; i < net->nblob && n0; i++)
        if (xai__kept_blob(net, i)) tape->blob[i].data -= (size_t)n0 * xai__blob_floats(net, i);
    return rc;
}

XAIDEF int xai_net_forward(const xai_net *net, xai_tape *tape, const float *input, int n)
{
    int i, rc = XAI_OK, n0, step;
    if (!tape || tape->net != net) return xai__fail(XAI_ERR_ARG, "forward: the tape belongs to another net");
    if (n <= 0 || n > tape->n_max)
        return xai__fail(XAI_ERR_ARG, "forward: %d images, the tape holds %d", n, tape->n_max);
    if (tape->forward_only && tape->train) /* its masks follow each element's place in the batch */
        return xai__fail(XAI_ERR_ARG, "forward: training-time Dropout needs a full tape (xai_tape_new)");
    tape->n = n;
    if (input != tape->blob[net->input_blob].data)   /* else built in place (the evaluator) */
        memcpy(tape->blob[net->input_blob].data, input, (size_t)n * xai_net_input_size(net) * sizeof(float));
    step = tape->forward_only && tape->group < n ? (tape->group > 0 ? tape->group : 1) : n;
    for (n0 = 0; n0 < n && rc == XAI_OK; n0 += step)
        rc = xai__forward_images(net, tape, n0, n - n0 < step ? n - n0 : step, 0, net->nlayer);
    for (i = 0; i < net->nblob; i++) {
        tape->blob[i].n = n;
        if (tape->signal) tape->signal[i].n = n;
    }
    return rc;
}

XAIDEF const xai_tensor *xai_tape_blob(const xai_tape *tape, const char *name)
{
    int b = xai_net_find_blob(tape->net, name);
    if (b >= 0 && tape->forward_only && !xai__kept_blob(tape->net, b)) return NULL;   /* overwritten */
    return b < 0 ? NULL : &tape->blob[b];
}

XAIDEF const float *xai_tape_scores(const xai_tape *tape, int i)
{
    const xai_tensor *s = &tape->blob[tape->net->score_blob];
    return s->data + (size_t)i * s->c * s->h * s->w;
}

XAIDEF int xai_argmax(const float *v, int n)
{
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

XAIDEF void xai_softmax(float *v, int n)
{
    float mx = v[xai_argmax(v, n)];
    double sum = 0;
    int i;
    for (i = 0; i < n; i++) { v[i] = expf(v[i] - mx); sum += v[i]; }
    for (i = 0; i < n; i++) v[i] = (float)(v[i] / sum);
}

/* ==== 7. explainers ===========================================================================
   A method is a row of the table below: its kind, which says what each layer type does on the way
   back (xai__method_table: the rules of section 5), and for LRP a rule for each layer slot (the
   first linear layer, the other convolutions, the fc layers, average pooling, Eltwise SUM, LRN),
   as zennit's composites map layer types to rules.  One backward engine, xai__backward, starts a
   signal at the class score and walks the layers in reverse, asking these tables what each layer
   does.  Sensitivity, deconvolution and LRP differ only there. */

typedef struct xai__method_row {
    const char *name;
    int kind, heatmap;
    const char *param;        /* what NAME:VALUE sets in the rules that have it: "eps", "alpha", "gamma" */
    int first, conv, fc;      /* the linear slots' rules (LRP) */
    const char *doc;
} xai__method_row;

#define XAI__EPS XAI_RULE_EPSILON
#define XAI__AB XAI_RULE_ALPHA_BETA   /* short names, to keep the table in 120 columns */
#define XAI__ZPLUS XAI_RULE_ZPLUS
#define XAI__GAMMA XAI_RULE_GAMMA
#define XAI__ZB XAI_RULE_ZB
#define XAI__W2 XAI_RULE_WSQUARE
#define XAI__FLAT XAI_RULE_FLAT
static const xai__method_row xai__methods[] = {
    /* name              kind                  heatmap               param    first       conv        fc */
    {"sensitivity-l2",   XAI_SENSITIVITY,      XAI_HEAT_L2,          NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "gradient df_c/dx, its l2 norm over the colour channels (Simonyan et al. 2014)"},
    {"sensitivity-linf", XAI_SENSITIVITY,      XAI_HEAT_LINF,        NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "the same, its largest absolute value over the channels"},
    {"deconv-l2",        XAI_DECONVOLUTION,    XAI_HEAT_L2,          NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "deconvolution: ReLU rectifies the signal going back (Zeiler & Fergus 2014), l2 norm"},
    {"deconv-linf",      XAI_DECONVOLUTION,    XAI_HEAT_LINF,        NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "the same, largest absolute value"},
    {"guided-l2",        XAI_GUIDED_BACKPROP,  XAI_HEAT_L2,          NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "guided backpropagation: the gradient with deconvolution's ReLU (Springenberg et al. 2015)"},
    {"guided-linf",      XAI_GUIDED_BACKPROP,  XAI_HEAT_LINF,        NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "the same, largest absolute value"},
    {"gradxinput",       XAI_GRADIENT_X_INPUT, XAI_HEAT_SUM_X_INPUT, NULL,    XAI__EPS,   XAI__EPS,   XAI__EPS,
     "gradient times input, summed over the channels"},
    {"lrp-eps",          XAI_LRP,              XAI_HEAT_SUM,         "eps",   XAI__EPS,   XAI__EPS,   XAI__EPS,
     "LRP, eps-rule everywhere (Bach et al. 2015, eq. 58); EPS default 0.01, the paper also uses 100"},
    {"lrp-ab",           XAI_LRP,              XAI_HEAT_SUM,         "alpha", XAI__AB,    XAI__AB,    XAI__AB,
     "LRP, alpha-beta rule everywhere (eq. 60), beta = alpha - 1; ALPHA default 2"},
    {"lrp-zplus",        XAI_LRP,              XAI_HEAT_SUM,         NULL,    XAI__ZPLUS, XAI__ZPLUS, XAI__ZPLUS,
     "LRP, z+ rule (alpha 1, beta 0; Montavon et al. 2017)"},
    {"lrp-gamma",        XAI_LRP,              XAI_HEAT_SUM,         "gamma", XAI__GAMMA, XAI__GAMMA, XAI__GAMMA,
     "LRP, gamma rule (w + gamma w+; Montavon et al. 2019); GAMMA default 0.25"},
    {"lrp-zb",           XAI_LRP,              XAI_HEAT_SUM,         NULL,    XAI__ZB,    XAI__EPS,   XAI__EPS,
     "LRP, zB rule (deep Taylor, pixel bounds) on the pixel layer, eps 0.01 elsewhere"},
    {"lrp-w2",           XAI_LRP,              XAI_HEAT_SUM,         NULL,    XAI__W2,    XAI__EPS,   XAI__EPS,
     "LRP, w^2 rule on the pixel layer, eps 0.01 elsewhere"},
    {"lrp-flat",         XAI_LRP,              XAI_HEAT_SUM,         NULL,    XAI__FLAT,  XAI__EPS,   XAI__EPS,
     "LRP, flat rule on the pixel layer, eps 0.01 elsewhere"},
    {"lrp-composite",    XAI_LRP,              XAI_HEAT_SUM,         NULL,    XAI__ZB,    XAI__AB,    XAI__EPS,
     "LRP composite: zB on the pixel layer, alpha 2 beta 1 on the other convolutions, eps 0.01 on fc"},
    {"occlusion",        XAI_OCCLUSION,        XAI_HEAT_SUM,         "size",  XAI__EPS,   XAI__EPS,   XAI__EPS,
     "the drop of f_c when a SIZE x SIZE patch (9) is replaced, every STRIDE pixels (:SIZE:STRIDE; "
     "SIZE), by the mean (+uniform, +blur: noise, blur), averaged where patches overlap (Zeiler & Fergus 2014)"},
};
#undef XAI__EPS
#undef XAI__AB
#undef XAI__ZPLUS
#undef XAI__GAMMA
#undef XAI__ZB
#undef XAI__W2
#undef XAI__FLAT
#define XAI__METHOD_COUNT (int)(sizeof xai__methods / sizeof xai__methods[0])

static const xai__backward_fn xai__method_table[XAI_METHOD_KIND_COUNT][XAI_LAYER_TYPE_COUNT] = {
    /* sensitivity: the chain rule everywhere */
    {xai__linear_backward_gradient, xai__linear_backward_gradient, xai__relu_backward_gradient,
     xai__pool_backward_gradient, xai__lrn_backward_gradient, xai__dropout_backward_gradient, NULL,
     xai__concat_backward, xai__eltwise_backward_gradient, xai__split_backward},
    /* deconvolution: as sensitivity, but ReLU rectifies the signal and LRN passes it */
    {xai__linear_backward_gradient, xai__linear_backward_gradient, xai__relu_backward_deconv,
     xai__pool_backward_gradient, xai__backward_identity, xai__backward_identity, NULL, xai__concat_backward,
     xai__eltwise_backward_gradient, xai__split_backward},
    /* LRP: linear layers redistribute by their rule, ReLU passes, max pooling is winner-take-all */
    {xai__linear_backward_lrp, xai__linear_backward_lrp, xai__backward_identity, xai__pool_backward_lrp,
     xai__lrn_backward_lrp, xai__backward_identity, NULL, xai__concat_backward, xai__eltwise_backward_lrp,
     xai__split_backward},
    /* gradient x input: sensitivity's walk; the heatmap multiplies by the input */
    {xai__linear_backward_gradient, xai__linear_backward_gradient, xai__relu_backward_gradient,
     xai__pool_backward_gradient, xai__lrn_backward_gradient, xai__backward_identity, NULL, xai__concat_backward,
     xai__eltwise_backward_gradient, xai__split_backward},
    /* guided backprop: the gradient with deconvolution's ReLU added */
    {xai__linear_backward_gradient, xai__linear_backward_gradient, xai__relu_backward_guided,
     xai__pool_backward_gradient, xai__lrn_backward_gradient, xai__backward_identity, NULL, xai__concat_backward,
     xai__eltwise_backward_gradient, xai__split_backward},
    /* occlusion: forward passes only (xai_occlusion, section 8) */
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* A rule with its default parameters: eps 0.01 (1e-9 under gamma), alpha 2 beta 1, gamma 0.25. */
static xai_rule xai__rule_default(int rule)
{
    xai_rule r;
    r.rule = rule;
    r.eps = rule == XAI_RULE_GAMMA ? 1e-9f : rule == XAI_RULE_EPSILON ? 0.01f : 0.0f;
    r.alpha = rule == XAI_RULE_ZPLUS ? 1.0f : 2.0f;
    r.beta = r.alpha - 1;
    r.gamma = 0.25f;
    return r;
}

/* NAME:VALUE sets the named parameter of every slot whose rule has it. */
static void xai__rule_param(xai_rule *r, const char *param, float v)
{
    if (!strcmp(param, "eps") && r->rule == XAI_RULE_EPSILON) r->eps = v;
    if (!strcmp(param, "alpha") && r->rule == XAI_RULE_ALPHA_BETA) { r->alpha = v; r->beta = v - 1; }
    if (!strcmp(param, "gamma") && r->rule == XAI_RULE_GAMMA) r->gamma = v;
}

XAIDEF const char *xai_method_describe(int i)
{
    static XAI__THREAD_LOCAL char line[192];
    char usage[40], param[8] = {0};
    const xai__method_row *row;
    size_t k;
    if (i < 0 || i >= XAI__METHOD_COUNT) return NULL;
    row = &xai__methods[i];
    for (k = 0; row->param && row->param[k] && k < sizeof param - 1; k++) param[k] = (char)(row->param[k] - 'a' + 'A');
    snprintf(usage, sizeof usage, row->param ? "%s[:%s]" : "%s", row->name, param);
    snprintf(line, sizeof line, "%-17s %s", usage, row->doc);
    return line;
}

XAIDEF int xai_method_parse(const char *name, xai_method *m)
{
    char base[64], *colon, *plus, *option;
    const xai__method_row *row = NULL;
    double value = 0, value2 = 0;
    int has_value = 0, i;
    memset(m, 0, sizeof *m);
    if (!name || strlen(name) >= sizeof base) return xai__fail(XAI_ERR_ARG, "method name missing or too long");
    xai__copy_name(m->name, name);   /* m->name is 64 bytes: the check above keeps it whole */
    strcpy(base, name);
    option = (plus = strchr(base, '+')) != NULL ? plus + 1 : NULL;
    if (plus) *plus = 0;
    if ((colon = strchr(base, ':')) != NULL) {
        char *end, *second;
        *colon = 0;
        if ((second = strchr(colon + 1, ':')) != NULL && !strcmp(base, "occlusion")) {   /* SIZE:STRIDE */
            *second = 0;
            value2 = strtod(second + 1, &end);
            if (end == second + 1 || *end || !(value2 >= 1 && value2 <= 4096) || value2 != (int)value2)
                return xai__fail(XAI_ERR_ARG, "method '%s': stride '%s' must be a whole number in [1, 4096]", name,
                                 second + 1);
        }
        value = strtod(colon + 1, &end);
        if (end == colon + 1 || *end)
            return xai__fail(XAI_ERR_ARG, "method '%s': '%s' is not a number", name, colon + 1);
        has_value = 1;
    }
    for (i = 0; i < XAI__METHOD_COUNT; i++)
        if (!strcmp(base, xai__methods[i].name)) row = &xai__methods[i];
    if (!row) {
        char list[512];
        size_t len = 0;
        for (i = 0; i < XAI__METHOD_COUNT && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", xai__methods[i].name);
        return xai__fail(XAI_ERR_ARG, "unknown method '%s' (%s)", name, list);
    }
    m->kind = row->kind;
    m->heatmap = row->heatmap;
    m->first = xai__rule_default(row->first);
    m->conv = xai__rule_default(row->conv);
    m->fc = xai__rule_default(row->fc);
    m->pool = m->sum = xai__rule_default(XAI_RULE_PROPORTIONAL);
    m->lrn = xai__rule_default(XAI_RULE_IDENTITY);
    if (m->kind == XAI_OCCLUSION) {
        if (has_value && !(value >= 1 && value <= 4096 && value == (int)value))
            return xai__fail(XAI_ERR_ARG, "method '%s': size %s must be a whole number in [1, 4096]", name, colon + 1);
        m->patch = has_value ? (int)value : 9;
        m->stride = value2 > 0 ? (int)value2 : m->patch;
        m->perturb = XAI_PERTURB_CONSTANT;
        for (; option; option = plus) {   /* +uniform, +blur, +constant */
            if ((plus = strchr(option, '+')) != NULL) *plus++ = 0;
            if (!strcmp(option, "uniform")) m->perturb = XAI_PERTURB_UNIFORM;
            else if (!strcmp(option, "blur")) m->perturb = XAI_PERTURB_BLUR;
            else if (!strcmp(option, "constant")) m->perturb = XAI_PERTURB_CONSTANT;
            else return xai__fail(XAI_ERR_ARG, "method '%s': unknown option +%s (+uniform, +blur, +constant)", name, option);
        }
        return XAI_OK;
    }
    if (has_value) {
        /* the ranges where the rules stay finite: eps > 0, alpha >= 1 (beta = alpha - 1 >= 0), gamma >= 0 */
        int eps = row->param && !strcmp(row->param, "eps"), alpha = row->param && !strcmp(row->param, "alpha");
        double lo = eps ? 0 : alpha ? 1 : 0, hi = eps ? 1e6 : 1000;
        if (!row->param) return xai__fail(XAI_ERR_ARG, "method '%s' takes no value", name);
        if (!(value >= lo && value <= hi) || (eps && value == 0))
            return xai__fail(XAI_ERR_ARG, "method '%s': %s %s must be %s %g and at most %g", name, row->param,
                             colon + 1, eps ? "above" : "at least", lo, hi);
        xai__rule_param(&m->first, row->param, (float)value);
        xai__rule_param(&m->conv, row->param, (float)value);
        xai__rule_param(&m->fc, row->param, (float)value);
    }
    while (option) {   /* +taylor, +pool-eps, in any order */
        char *next = strchr(option, '+');
        if (next) *next++ = 0;
        if (m->kind != XAI_LRP) return xai__fail(XAI_ERR_ARG, "method '%s': +%s is an LRP option", name, option);
        if (!strcmp(option, "taylor")) {
            /* the Taylor rule's eps: the convolutions' when theirs is the eps-rule, else tiny */
            m->lrn.rule = XAI_RULE_TAYLOR;
            m->lrn.eps = m->conv.rule == XAI_RULE_EPSILON ? m->conv.eps : 1e-9f;
        } else if (!strcmp(option, "pool-eps")) {
            if (m->conv.rule != XAI_RULE_EPSILON)
                return xai__fail(XAI_ERR_ARG, "method '%s': +pool-eps takes the convolutions' eps, and they have none",
                                 name);
            m->pool = m->sum = m->conv;
        } else {
            return xai__fail(XAI_ERR_ARG, "method '%s': unknown option '+%s' (+taylor and +pool-eps are known)", name,
                             option);
        }
        option = next;
    }
    return XAI_OK;
}

/* Which LRP rule a layer gets: its slot.  Linear layers: the pixel layer (the first linear layer),
   other convolutions, fully connected; then average pooling, Eltwise SUM, LRN. */
static const xai_rule *xai__rule_for(const xai_net *net, const xai_method *m, int li)
{
    int first = 0, type = net->layer[li].p.type;
    if (type == XAI_POOLING) return &m->pool;
    if (type == XAI_ELTWISE) return &m->sum;
    if (type == XAI_LRN) return &m->lrn;
    while (first < net->nlayer && net->layer[first].p.type != XAI_CONVOLUTION &&
           net->layer[first].p.type != XAI_INNER_PRODUCT)
        first++;
    if (li == first) return &m->first;
    return type == XAI_CONVOLUTION ? &m->conv : &m->fc;
}

static int xai__tape_signals(xai_tape *t)
{
    const xai_net *net = t->net;
    int i;
    if (!t->signal) {
        if (!(t->signal = (xai_tensor *)xai__calloc((size_t)net->nblob, sizeof(xai_tensor)))) return XAI_ERR_MEMORY;
        for (i = 0; i < net->nblob; i++)
            if (xai_tensor_alloc(&t->signal[i], t->n_max, net->blob[i].c, net->blob[i].h, net->blob[i].w))
                return XAI_ERR_MEMORY;
    }
    for (i = 0; i < net->nblob; i++) {
        t->signal[i].n = t->n;
        memset(t->signal[i].data, 0, xai_tensor_count(&t->signal[i]) * sizeof(float));
    }
    return XAI_OK;
}

/* The engine.  start: the signal at the scores, n x K.  param_grad, when not NULL, receives the
   weight gradients of the linear layers (training; only with the sensitivity rules). */
static int xai__backward(const xai_net *net, xai_tape *t, const xai_method *m, const float *start, float *param_grad)
{
    unsigned char *reached;
    int j, li, rc = XAI_OK, K = xai_net_num_classes(net);
    if (t->forward_only) return xai__fail(XAI_ERR_ARG, "backward: the tape is forward-only (xai_tape_new_forward)");
    if ((rc = xai__tape_signals(t)) != XAI_OK) return rc;
    if (!(reached = (unsigned char *)xai__calloc((size_t)net->nblob, 1))) return XAI_ERR_MEMORY;
    memcpy(t->signal[net->score_blob].data, start, (size_t)t->n * K * sizeof(float));
    reached[net->score_blob] = 1;
    for (li = net->nlayer - 1; li >= 0 && rc == XAI_OK; li--) {
        const xai_layer *L = &net->layer[li];
        xai__ctx cx;
        int live = 0;
        for (j = 0; j < L->ntop; j++) live |= reached[L->top[j]];
        if (!live) continue;              /* nothing flows back through this layer (Softmax above the scores) */
        cx.net = net; cx.t = t; cx.m = m;
        cx.rule = xai__rule_for(net, m, li);
        if (!xai__method_table[m->kind][L->p.type]) {
            rc = xai__fail(XAI_ERR_ARG, "layer '%s': no backward rule for %s below the scores", L->name,
                           xai_layer_type_name(L->p.type));
            break;
        }
        rc = xai__method_table[m->kind][L->p.type](&cx, L, li);
        if (rc == XAI_OK && param_grad && (L->p.type == XAI_CONVOLUTION || L->p.type == XAI_INNER_PRODUCT))
            rc = xai__linear_backward_weight(t, L, XAI__X(t, L, 0), XAI__DY(t, L, 0), param_grad + L->weight_offset,
                                             L->bias ? param_grad + L->bias_offset : NULL);
        for (j = 0; j < L->nbottom; j++) reached[L->bottom[j]] = 1;
    }
    XAI_FREE(reached);
    return rc;
}

/* One value a pixel from the signal over the channels (Samek et al. 2017, Sec. III). */
static void xai__heatmap(const xai_method *m, const xai_tensor *x, const xai_tensor *s, float *heat)
{
    size_t plane = (size_t)s->h * s->w, p;
    int n, c;
    for (n = 0; n < s->n; n++)
        for (p = 0; p < plane; p++) {
            double acc = 0;
            for (c = 0; c < s->c; c++) {
                size_t at = ((size_t)n * s->c + c) * plane + p;
                double v = s->data[at];
                switch (m->heatmap) {
                case XAI_HEAT_L2: acc += v * v; break;
                case XAI_HEAT_LINF: if (fabs(v) > acc) acc = fabs(v); break;
                case XAI_HEAT_SUM_X_INPUT: acc += v * x->data[at]; break;
                default: acc += v; break;
                }
            }
            heat[(size_t)n * plane + p] = (float)(m->heatmap == XAI_HEAT_L2 ? sqrt(acc) : acc);
        }
}

/* Occlusion, image by image (xai_occlusion, section 8): the method's patch and perturbation, the
   other settings xai_aopc_defaults', noise keyed by image 0 (an image's map never depends on its
   place in the batch); the signal is the heatmap on every channel. */
static int xai__explain_occlusion(const xai_net *net, const float *input, int n, const xai_method *m, int *target,
                                  float *signal, float *heatmap, float *score)
{
    xai_aopc_config cfg;
    size_t in = xai_net_input_size(net), plane = (size_t)net->input_h * net->input_w, q;
    float *heat = (float *)xai__malloc(plane * sizeof(float));
    int i, c, rc = XAI_OK;
    if (!heat) return XAI_ERR_MEMORY;
    xai_aopc_defaults(&cfg);
    cfg.perturb = m->perturb;
    for (i = 0; i < n && rc == XAI_OK; i++) {
        int cls = target ? target[i] : -1;
        if ((rc = xai_occlusion(net, input + (size_t)i * in, &cls, m->patch, m->stride, &cfg, 0, heat,
                                score ? score + i : NULL)) != XAI_OK)
            break;
        if (target) target[i] = cls;
        if (heatmap) memcpy(heatmap + (size_t)i * plane, heat, plane * sizeof(float));
        if (signal)
            for (c = 0; c < net->input_c; c++)
                for (q = 0; q < plane; q++) signal[(size_t)i * in + (size_t)c * plane + q] = heat[q];
    }
    XAI_FREE(heat);
    return rc;
}

XAIDEF int xai_explain(const xai_net *net, xai_tape *tape, const float *input, int n, const xai_method *m,
                       int *target, float *signal, float *heatmap, float *score)
{
    xai_tape *t = tape;
    int *cls = NULL, i, rc, K;
    float *start = NULL;
    if (!net->finalized) return xai__fail(XAI_ERR_ARG, "net '%s' is not finalized", net->name);
    if (m->kind < 0 || m->kind >= XAI_METHOD_KIND_COUNT)
        return xai__fail(XAI_ERR_ARG, "explain: unknown method kind %d", m->kind);
    if (m->kind == XAI_OCCLUSION) return xai__explain_occlusion(net, input, n, m, target, signal, heatmap, score);
    if (t && t->forward_only) return xai__fail(XAI_ERR_ARG, "explain: the tape is forward-only (xai_tape_new_forward)");
    if (!t && !(t = xai_tape_new(net, n))) return XAI_ERR_MEMORY;
    K = xai_net_num_classes(net);
    cls = (int *)xai__calloc((size_t)n, sizeof(int));
    start = (float *)xai__calloc((size_t)n * K, sizeof(float));
    if (!cls || !start) { rc = XAI_ERR_MEMORY; goto done; }
    if (m->kind == XAI_LRP) /* alpha-beta layers: the forward pass keeps z+ and z- for the backward rule */
        for (i = 0; i < net->nlayer; i++) {
            int rule = xai__rule_for(net, m, i)->rule,
                linear = net->layer[i].p.type == XAI_CONVOLUTION || net->layer[i].p.type == XAI_INNER_PRODUCT;
            t->split[i] = (unsigned char)(linear && (rule == XAI_RULE_ALPHA_BETA || rule == XAI_RULE_ZPLUS));
        }
    if ((rc = xai_net_forward(net, t, input, n)) != XAI_OK) goto done;
    for (i = 0; i < n; i++) {
        const float *s = xai_tape_scores(t, i);
        cls[i] = target && target[i] >= 0 ? target[i] : xai_argmax(s, K);
        if (cls[i] >= K) { rc = xai__fail(XAI_ERR_ARG, "explain: class %d, the net has %d", cls[i], K); goto done; }
        /* gradients start from df/df = 1; deconvolution and LRP from the score itself (Bach 2015) */
        start[(size_t)i * K + cls[i]] = (m->kind == XAI_DECONVOLUTION || m->kind == XAI_LRP) ? s[cls[i]] : 1.0f;
        if (score) score[i] = s[cls[i]];
    }
    if ((rc = xai__backward(net, t, m, start, NULL)) != XAI_OK) goto done;
    if (signal) memcpy(signal, t->signal[net->input_blob].data, (size_t)n * xai_net_input_size(net) * sizeof(float));
    if (heatmap) xai__heatmap(m, &t->blob[net->input_blob], &t->signal[net->input_blob], heatmap);
    if (target) for (i = 0; i < n; i++) target[i] = cls[i];
done:
    if (t) memset(t->split, 0, (size_t)net->nlayer);
    XAI_FREE(cls);
    XAI_FREE(start);
    if (t != tape) xai_tape_free(t);
    return rc;
}

XAIDEF int xai_net_backward(const xai_net *net, xai_tape *tape, const float *score_grad, float *param_grad)
{
    xai_method m;
    memset(&m, 0, sizeof m);
    m.kind = XAI_SENSITIVITY;
    if (!tape || tape->net != net) return xai__fail(XAI_ERR_ARG, "backward: the tape belongs to another net");
    return xai__backward(net, tape, &m, score_grad, param_grad);
}

XAIDEF const xai_tensor *xai_tape_signal(const xai_tape *tape, const char *name)
{
    int b = xai_net_find_blob(tape->net, name);
    return b < 0 || !tape->signal ? NULL : &tape->signal[b];
}


/* ==== 8. evaluator ============================================================================
   Region perturbation (Samek et al. 2017, Sec. III, Algorithm 1): destroy the image region by
   region in the order a heatmap ranks them and record the class score after each step.  A heatmap
   that finds the evidence makes the score fall fast; AOPC, the area over that curve, measures it.

   Choices the paper leaves open:
   - regions are r x r squares on a grid from (0,0); where r does not divide the size the last row
     and column are narrower (227 = 25 x 9 + 2: 26 x 26 regions, the last 2 pixels wide);
   - "uniform" noise draws each pixel and channel from the continuous uniform [0, 255) in picture
     space, then preprocesses it like a real pixel ((u - mean) * scale); the value is a hash of
     (seed, image, repeat, step, pixel * C + channel), so it never depends on batch, threads or shards;
   - "blur" replaces a region by the picture blurred with a Gaussian (sigma 3, edges replicated),
     computed once from the unperturbed picture; "constant" puts the mean (0 in input space);
   - the score is the pre-softmax f_c of the class predicted on the clean image (softmax optional). */

XAIDEF void xai_aopc_defaults(xai_aopc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->region = 9;
    cfg->steps = 100;
    cfg->repeats = 10;
    cfg->perturb = XAI_PERTURB_UNIFORM;
    cfg->blur_sigma = 3;
    cfg->seed = 1;
    cfg->batch = 16;
}

/* The region grid, in one place: r x r squares from (0,0), numbered row by row; where r does not
   divide the size, the last row and column are narrower. */
static int xai__grid_cols(int w, int r) { return (w + r - 1) / r; }

/* Region `region`'s pixels: rows [*y0, *y1), columns [*x0, *x1). */
static void xai__region_box(int region, int h, int w, int r, int *y0, int *x0, int *y1, int *x1)
{
    int nx = xai__grid_cols(w, r);
    *y0 = (region / nx) * r;
    *x0 = (region % nx) * r;
    *y1 = *y0 + r < h ? *y0 + r : h;
    *x1 = *x0 + r < w ? *x0 + r : w;
}

XAIDEF int xai_region_count(int h, int w, int r)
{
    return r <= 0 ? 0 : xai__grid_cols(h, r) * xai__grid_cols(w, r);
}

typedef struct xai__ranked { double score; int index; } xai__ranked;

static int xai__by_score_desc(const void *a, const void *b)
{
    const xai__ranked *x = (const xai__ranked *)a, *y = (const xai__ranked *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index - y->index;     /* ties: the lower region index first, whatever the sort */
}

static int xai__by_score_asc(const void *a, const void *b)
{
    const xai__ranked *x = (const xai__ranked *)a, *y = (const xai__ranked *)b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->index - y->index;
}

XAIDEF int xai_region_order(const float *heat, int h, int w, int r, int order, uint64_t seed, uint64_t image_id,
                            int repeat, int *out)
{
    int n = xai_region_count(h, w, r), region, i, x, y, y0, x0, y1, x1;
    xai__ranked *rk;
    if (r <= 0 || h <= 0 || w <= 0) return xai__fail(XAI_ERR_ARG, "regions of %d pixels on %dx%d", r, w, h);
    if (order == XAI_ORDER_RANDOM) {
        /* Fisher-Yates, each swap drawn from its own key */
        for (i = 0; i < n; i++) out[i] = i;
        for (i = n - 1; i > 0; i--) {
            int j = (int)(xai__random_key(seed, image_id, (uint64_t)repeat, 0xffffffffull, (uint64_t)i) %
                          (uint64_t)(i + 1)),
                tmp = out[i];
            out[i] = out[j];
            out[j] = tmp;
        }
        return XAI_OK;
    }
    if (order != XAI_ORDER_MORF && order != XAI_ORDER_LERF)
        return xai__fail(XAI_ERR_ARG, "unknown region order %d", order);
    if (!heat) return xai__fail(XAI_ERR_ARG, "MoRF and LeRF need a heatmap");
    if (!(rk = (xai__ranked *)xai__calloc((size_t)n, sizeof(xai__ranked)))) return XAI_ERR_MEMORY;
    for (region = 0; region < n; region++) {
        rk[region].index = region;
        xai__region_box(region, h, w, r, &y0, &x0, &y1, &x1);
        for (y = y0; y < y1; y++)
            for (x = x0; x < x1; x++) rk[region].score += heat[(size_t)y * w + x];
    }
    for (i = 0; i < n; i++) if (!(rk[i].score == rk[i].score)) rk[i].score = -HUGE_VAL;   /* NaN ranks last */
    qsort(rk, (size_t)n, sizeof *rk, order == XAI_ORDER_MORF ? xai__by_score_desc : xai__by_score_asc);
    for (i = 0; i < n; i++) out[i] = rk[i].index;
    XAI_FREE(rk);
    return XAI_OK;
}

/* The picture blurred, back in input space: pixels = input / scale + mean, separable Gaussian with
   replicated edges, then (blurred - mean) * scale. */
static int xai__blur_input(const xai_net *net, const float *input, float sigma, float *out)
{
    int C = net->input_c, H = net->input_h, W = net->input_w, rad = (int)ceilf(3 * sigma), c, y, x, k;
    size_t plane = (size_t)H * W, i;
    float *kern, *tmp, *pix;
    double norm = 0;
    if (!(sigma > 0) || rad > 1000) return xai__fail(XAI_ERR_ARG, "blur sigma %g", sigma);
    kern = (float *)xai__malloc((size_t)(2 * rad + 1) * sizeof(float));
    tmp = (float *)xai__malloc(plane * sizeof(float));
    pix = (float *)xai__malloc(plane * sizeof(float));
    if (!kern || !tmp || !pix) { XAI_FREE(kern); XAI_FREE(tmp); XAI_FREE(pix); return XAI_ERR_MEMORY; }
    for (k = -rad; k <= rad; k++) norm += kern[k + rad] = expf(-(float)(k * k) / (2 * sigma * sigma));
    for (k = 0; k <= 2 * rad; k++) kern[k] = (float)(kern[k] / norm);
    for (c = 0; c < C; c++) {
        const float *mean = net->input_mean ? net->input_mean + c * plane : NULL;
        for (i = 0; i < plane; i++) pix[i] = input[c * plane + i] / xai__input_scale(net, c) + (mean ? mean[i] : 0);
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                double acc = 0;
                for (k = -rad; k <= rad; k++) {
                    int xx = x + k < 0 ? 0 : x + k >= W ? W - 1 : x + k;
                    acc += kern[k + rad] * pix[(size_t)y * W + xx];
                }
                tmp[(size_t)y * W + x] = (float)acc;
            }
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                double acc = 0;
                for (k = -rad; k <= rad; k++) {
                    int yy = y + k < 0 ? 0 : y + k >= H ? H - 1 : y + k;
                    acc += kern[k + rad] * tmp[(size_t)yy * W + x];
                }
                out[c * plane + (size_t)y * W + x] =
                    ((float)acc - (mean ? mean[(size_t)y * W + x] : 0)) * xai__input_scale(net, c);
            }
    }
    XAI_FREE(kern); XAI_FREE(tmp); XAI_FREE(pix);
    return XAI_OK;
}

/* Replaces rows [y0, y1) x columns [x0, x1) of x (C x H x W), the noise keyed by step. */
static void xai__perturb_box(const xai_net *net, float *x, int y0, int x0, int y1, int x1, int step,
                             const xai_aopc_config *cfg, uint64_t image_id, int repeat, const float *blurred)
{
    int C = net->input_c, H = net->input_h, W = net->input_w, c, y, xx;
    size_t plane = (size_t)H * W;
    for (c = 0; c < C; c++)
        for (y = y0; y < y1; y++)
            for (xx = x0; xx < x1; xx++) {
                size_t p = (size_t)y * W + xx, at = c * plane + p;
                float v = 0;
                if (cfg->perturb == XAI_PERTURB_UNIFORM) {
                    float u = 255.0f * xai__uniform(xai__random_key(cfg->seed, image_id, (uint64_t)repeat,
                                                                    (uint64_t)step, p * (uint64_t)C + (uint64_t)c));
                    v = (u - (net->input_mean ? net->input_mean[at] : 0.0f)) * xai__input_scale(net, c);
                } else if (cfg->perturb == XAI_PERTURB_BLUR) {
                    v = blurred[at];
                }
                x[at] = v;
            }
}

/* Replaces region `region` of x at step `step`. */
static void xai__perturb_region(const xai_net *net, float *x, int region, int step, const xai_aopc_config *cfg,
                                uint64_t image_id, int repeat, const float *blurred)
{
    int y0, x0, y1, x1;
    xai__region_box(region, net->input_h, net->input_w, cfg->region, &y0, &x0, &y1, &x1);
    xai__perturb_box(net, x, y0, x0, y1, x1, step, cfg, image_id, repeat, blurred);
}

/* -- the incremental pass -------------------------------------------------------------------------
   Step k differs from step k-1 in one region, so most of each blob stays as it was (Krypton:
   Nakandala et al., SIGMOD 2019).  The state tape keeps every blob of the previous step; the changed
   input rectangle becomes a dirty rectangle on each blob (xai__dirty_top, from each layer's
   geometry), and each layer recomputes only its top's dirty part (its forward_rect, section 5), each
   element by the same arithmetic as the full pass.  The tail, the layers after the last spatial one
   (fc6 to fc8 on CaffeNet), reads everything anyway: it runs on a tape of its own, batched over up
   to 64 consecutive steps, so that its weights are read once a batch (the caller's tape and
   cfg->batch serve the full pass only).  The curve is the full pass's, bit for bit
   (cfg->no_incremental runs that one; tests/test_incremental.c compares them). */

/* Outputs [*lo, *hi) of a window layer along one axis (kernel k, stride s, pad p, dilation d; out
   outputs) whose window meets inputs [a, b): o*s - p <= b - 1 and o*s - p + (k - 1)*d >= a. */
static void xai__window_reach(int a, int b, int k, int s, int p, int d, int out, int *lo, int *hi)
{
    long long first = (long long)a + p - (long long)(k - 1) * d, last = (long long)b - 1 + p;
    long long l = first <= 0 ? 0 : (first + s - 1) / s, h = last < 0 ? 0 : last / s + 1;
    *lo = (int)(l < out ? l : out);
    *hi = (int)(h < out ? h : out);
}

/* The part of layer L's tops that can change when rect[b] of each bottom b changed. */
static xai__rect xai__dirty_top(const xai_net *net, const xai_layer *L, const xai__rect *rect)
{
    const xai_blob *top = &net->blob[L->top[0]];
    const xai_layer_param *p = &L->p;
    xai__rect u, r;
    int j, any = 0, half;
    memset(&u, 0, sizeof u);
    for (j = 0; j < L->nbottom; j++) {   /* Concat, Eltwise: the union of the bottoms' */
        const xai__rect *b = &rect[L->bottom[j]];
        if (b->y0 >= b->y1 || b->x0 >= b->x1) continue;
        if (!any) u = *b;
        if (b->y0 < u.y0) u.y0 = b->y0;
        if (b->x0 < u.x0) u.x0 = b->x0;
        if (b->y1 > u.y1) u.y1 = b->y1;
        if (b->x1 > u.x1) u.x1 = b->x1;
        any = 1;
    }
    if (!any) return u;
    r = u;
    switch (p->type) {
    case XAI_CONVOLUTION:
    case XAI_POOLING: {
        int dh = p->type == XAI_CONVOLUTION ? p->dilation_h : 1, dw = p->type == XAI_CONVOLUTION ? p->dilation_w : 1;
        xai__window_reach(u.y0, u.y1, p->kernel_h, p->stride_h, p->pad_h, dh, top->h, &r.y0, &r.y1);
        xai__window_reach(u.x0, u.x1, p->kernel_w, p->stride_w, p->pad_w, dw, top->w, &r.x0, &r.x1);
        break;
    }
    case XAI_LRN:                        /* across channels: position by position */
        if (p->norm_region != XAI_LRN_WITHIN_CHANNEL) break;
        half = (p->local_size - 1) / 2;
        r.y0 = u.y0 - half > 0 ? u.y0 - half : 0;
        r.x0 = u.x0 - half > 0 ? u.x0 - half : 0;
        r.y1 = u.y1 + half < top->h ? u.y1 + half : top->h;
        r.x1 = u.x1 + half < top->w ? u.x1 + half : top->w;
        break;
    case XAI_INNER_PRODUCT:
        r.y0 = r.x0 = 0; r.y1 = top->h; r.x1 = top->w;
        break;
    default:                             /* ReLU, Dropout, Softmax, Concat, Eltwise, Split */
        break;
    }
    return r;
}

XAIDEF int xai_net_dirty_rects(const xai_net *net, int y0, int x0, int y1, int x1, int *rects)
{
    xai__rect *r;
    int i, j;
    if (!net || !net->finalized) return xai__fail(XAI_ERR_ARG, "dirty rectangles: the net is not finalized");
    if (!(r = (xai__rect *)xai__calloc((size_t)net->nblob, sizeof(xai__rect)))) return XAI_ERR_MEMORY;
    r[net->input_blob].y0 = y0 > 0 ? y0 : 0;
    r[net->input_blob].x0 = x0 > 0 ? x0 : 0;
    r[net->input_blob].y1 = y1 < net->input_h ? y1 : net->input_h;
    r[net->input_blob].x1 = x1 < net->input_w ? x1 : net->input_w;
    for (i = 0; i < net->nlayer; i++) {
        xai__rect top = xai__dirty_top(net, &net->layer[i], r);
        for (j = 0; j < net->layer[i].ntop; j++) r[net->layer[i].top[j]] = top;
    }
    for (i = 0; i < net->nblob; i++) {
        int empty = r[i].y0 >= r[i].y1 || r[i].x0 >= r[i].x1;
        rects[4 * i] = empty ? 0 : r[i].y0;
        rects[4 * i + 1] = empty ? 0 : r[i].x0;
        rects[4 * i + 2] = empty ? 0 : r[i].y1;
        rects[4 * i + 3] = empty ? 0 : r[i].x1;
    }
    XAI_FREE(r);
    return XAI_OK;
}

/* The tail: the layers from the returned index on, the longest run at the end whose tops are all
   1 x 1.  0 when the whole net is (nothing to gain), nlayer when none is. */
static int xai__tail_start(const xai_net *net)
{
    int T = net->nlayer, j, flat = 1;
    while (T > 0 && flat) {
        const xai_layer *L = &net->layer[T - 1];
        for (j = 0; j < L->ntop && flat; j++) flat = net->blob[L->top[j]].h == 1 && net->blob[L->top[j]].w == 1;
        if (flat) T--;
    }
    if (net->blob[net->score_blob].producer < T) T = net->nlayer;   /* the score before the tail: no tail */
    return T;
}

/* Layers 0 .. T-1 of the state tape s, after the input changed in rect r: each top's dirty part. */
static int xai__forward_dirty(const xai_net *net, xai_tape *s, int T, xai__rect *rect, const xai__rect *r)
{
    int li, j, rc = XAI_OK;
    memset(rect, 0, (size_t)net->nblob * sizeof *rect);
    rect[net->input_blob] = *r;
    for (li = 0; li < T && rc == XAI_OK; li++) {
        const xai_layer *L = &net->layer[li];
        const xai_blob *top = &net->blob[L->top[0]];
        xai__rect d = xai__dirty_top(net, L, rect);
        for (j = 0; j < L->ntop; j++) rect[L->top[j]] = d;
        if (d.y0 >= d.y1 || d.x0 >= d.x1) continue;
        if ((d.y0 == 0 && d.x0 == 0 && d.y1 == top->h && d.x1 == top->w) || !xai__forward_rect_table[L->p.type])
            rc = xai__forward_table[L->p.type](net, L, s, li);
        else
            rc = xai__forward_rect_table[L->p.type](net, L, s, li, &d);
    }
    return rc;
}

/* The score a curve records: f_c, or its softmax probability. */
static float xai__curve_score(const float *s, int K, int cls, int softmax)
{
    float mx;
    double sum = 0;
    int q;
    if (!softmax) return s[cls];
    mx = s[xai_argmax(s, K)];
    for (q = 0; q < K; q++) sum += exp((double)s[q] - mx);
    return (float)(exp((double)s[cls] - mx) / sum);
}

/* What the incremental pass keeps: every blob of the previous step (state, one image), and the
   tail's blobs for `batch` consecutive steps (tail: only the tail's layers and their inputs). */
typedef struct xai__incremental {
    xai_tape *state, *tail;
    int T, batch;
} xai__incremental;

#ifndef XAI_TAIL_BLOCK
#define XAI_TAIL_BLOCK ((size_t)16 << 20)   /* bytes for the tail's batch: fc6-fc8 of 64 steps on CaffeNet */
#endif

static void xai__incremental_free(xai__incremental *inc)
{
    xai_tape_free(inc->state);
    xai_tape_free(inc->tail);
    memset(inc, 0, sizeof *inc);
}

/* For curves of `steps` steps; inc->T = 0 when the pass would gain nothing (the net is all tail). */
static int xai__incremental_new(const xai_net *net, int steps, xai__incremental *inc)
{
    size_t per = 0;
    int li, j, b;
    xai_tape *t;
    memset(inc, 0, sizeof *inc);
    if ((inc->T = xai__tail_start(net)) == 0) return XAI_OK;
    if (!(inc->state = xai_tape_new(net, 1))) return XAI_ERR_MEMORY;
    if (!(inc->state->packed = (float **)xai__calloc((size_t)net->nlayer, sizeof(float *)))) goto fail;
    if (inc->T == net->nlayer) return XAI_OK;
    for (b = 0; b < net->nblob; b++)   /* the tail's blobs: made by it, or read by it (made before it) */
        if (net->blob[b].producer >= inc->T) per += xai__blob_floats(net, b) * sizeof(float);
    for (li = inc->T; li < net->nlayer; li++)
        for (j = 0; j < net->layer[li].nbottom; j++) {
            b = net->layer[li].bottom[j];
            if (net->blob[b].producer < inc->T) per += xai__blob_floats(net, b) * sizeof(float);
        }
    inc->batch = (int)(XAI_TAIL_BLOCK / (per ? per : 1));
    if (inc->batch > 64) inc->batch = 64;   /* past that the weights' reads are a small part */
    if (inc->batch > steps + 1) inc->batch = steps + 1;
    if (inc->batch < 1) inc->batch = 1;
    if (!(t = inc->tail = (xai_tape *)xai__calloc(1, sizeof(xai_tape)))) goto fail;
    t->net = net;
    t->n_max = t->n = inc->batch;
    t->blob = (xai_tensor *)xai__calloc((size_t)net->nblob, sizeof(xai_tensor));
    t->switches = (int **)xai__calloc((size_t)net->nlayer, sizeof(int *));
    t->scale = (float **)xai__calloc((size_t)net->nlayer, sizeof(float *));
    if (!t->blob || !t->switches || !t->scale) goto fail;
    for (li = inc->T; li < net->nlayer; li++) {
        const xai_layer *L = &net->layer[li];
        size_t count = (size_t)inc->batch * xai__blob_floats(net, L->top[0]);
        for (j = 0; j < L->nbottom + L->ntop; j++) {
            int blob = j < L->nbottom ? L->bottom[j] : L->top[j - L->nbottom];
            const xai_blob *B = &net->blob[blob];
            if (!t->blob[blob].data && xai_tensor_alloc(&t->blob[blob], inc->batch, B->c, B->h, B->w)) goto fail;
        }
        if (xai__tape_layer_buffers(t, L, li, count) != XAI_OK) goto fail;
    }
    return XAI_OK;
fail:
    xai__incremental_free(inc);
    return XAI_ERR_MEMORY;
}

/* After a step on the state: its score into out[*first] at once (no tail), or the tail's inputs into
   the tail's slot *filled, the tail run when the batch is full or this is the last step, the scores
   into out[*first ..]. */
static int xai__incremental_score(const xai_net *net, xai__incremental *inc, int cls, int softmax, int last,
                                  int *filled, int *first, float *out)
{
    xai_tape *s = inc->state, *t = inc->tail;
    int K = xai_net_num_classes(net), j, b, rc;
    if (!t) {
        out[(*first)++] = xai__curve_score(xai_tape_scores(s, 0), K, cls, softmax);
        return XAI_OK;
    }
    for (j = inc->T; j < net->nlayer; j++)   /* the tail's inputs from before it */
        for (b = 0; b < net->layer[j].nbottom; b++) {
            int blob = net->layer[j].bottom[b];
            size_t floats = xai__blob_floats(net, blob);
            if (net->blob[blob].producer < inc->T)
                memcpy(t->blob[blob].data + (size_t)*filled * floats, s->blob[blob].data, floats * sizeof(float));
        }
    if (++*filled < inc->batch && !last) return XAI_OK;
    if ((rc = xai__forward_images(net, t, 0, *filled, inc->T, net->nlayer)) != XAI_OK) return rc;
    for (j = 0; j < *filled; j++) out[*first + j] = xai__curve_score(xai_tape_scores(t, j), K, cls, softmax);
    *first += *filled;
    *filled = 0;
    return XAI_OK;
}

/* The curve by the incremental pass. */
static int xai__curve_incremental(const xai_net *net, int reference, xai__incremental *inc, const float *input,
                                  const int *ord, int cls, uint64_t image_id, int repeat, const xai_aopc_config *cfg,
                                  const float *blurred, float *curve)
{
    xai_tape *s = inc->state;
    int T = inc->T, k, filled = 0, first = 0, rc = XAI_OK;
    float *x = s->blob[net->input_blob].data;
    xai__rect *rect = (xai__rect *)xai__calloc((size_t)net->nblob, sizeof(xai__rect)), region;
    if (!rect) return XAI_ERR_MEMORY;
    s->reference = reference;
    if (inc->tail) inc->tail->reference = reference;
    s->n = 1;
    memcpy(x, input, xai_net_input_size(net) * sizeof(float));
    if ((rc = xai__forward_images(net, s, 0, 1, 0, T)) != XAI_OK) goto done;
    for (k = 0; k <= cfg->steps; k++) {
        if (k > 0) {   /* x(k) = x(k-1) with region ord[k-1] replaced: only its rectangle changed */
            xai__perturb_region(net, x, ord[k - 1], k, cfg, image_id, repeat, blurred);
            xai__region_box(ord[k - 1], net->input_h, net->input_w, cfg->region, &region.y0, &region.x0, &region.y1,
                            &region.x1);
            if ((rc = xai__forward_dirty(net, s, T, rect, &region)) != XAI_OK) goto done;
        }
        if ((rc = xai__incremental_score(net, inc, cls, cfg->softmax, k == cfg->steps, &filled, &first, curve)) !=
            XAI_OK)
            goto done;
    }
done:
    XAI_FREE(rect);
    return rc;
}

/* One curve on tape t (the full pass), or by the incremental pass with inc (NULL: made here). */
static int xai__perturbation_curve(const xai_net *net, xai_tape *tape, xai__incremental *inc, const float *input,
                                   const float *heat, int cls, int order, uint64_t image_id, int repeat,
                                   const xai_aopc_config *cfg, float *curve)
{
    size_t in = xai_net_input_size(net);
    int nreg = xai_region_count(net->input_h, net->input_w, cfg->region), K = xai_net_num_classes(net), k, filled = 0,
        first = 0, rc = XAI_OK, j;
    int *ord = NULL;
    float *x = NULL, *batch = NULL, *blurred = NULL;
    xai_tape *t = tape;
    xai__incremental own;
    memset(&own, 0, sizeof own);
    if (cfg->steps < 0 || cfg->steps > nreg)
        return xai__fail(XAI_ERR_ARG, "%d steps, but the %dx%d input has %d regions of %d pixels", cfg->steps,
                         net->input_w, net->input_h, nreg, cfg->region);
    if (cfg->batch <= 0) return xai__fail(XAI_ERR_ARG, "batch %d", cfg->batch);
    if (cls < 0 || cls >= K) return xai__fail(XAI_ERR_ARG, "class %d, the net has %d", cls, K);
    if (cfg->perturb < XAI_PERTURB_UNIFORM || cfg->perturb > XAI_PERTURB_BLUR)
        return xai__fail(XAI_ERR_ARG, "perturbation %d", cfg->perturb);
    if (t && t->n_max < cfg->batch)
        return xai__fail(XAI_ERR_ARG, "the tape holds %d images, the batch is %d", t->n_max, cfg->batch);
    if (!cfg->no_incremental && !inc) {
        if ((rc = xai__incremental_new(net, cfg->steps, &own)) != XAI_OK) return rc;
        inc = &own;
    }
    if (inc && inc->T == 0) inc = NULL;   /* all tail: the full pass */
    ord = (int *)xai__malloc((size_t)nreg * sizeof(int));
    if (!ord) { rc = XAI_ERR_MEMORY; goto done; }
    if ((rc = xai_region_order(heat, net->input_h, net->input_w, cfg->region, order, cfg->seed, image_id, repeat,
                               ord)) != XAI_OK)
        goto done;
    if (cfg->perturb == XAI_PERTURB_BLUR) {
        if (!(blurred = (float *)xai__malloc(in * sizeof(float)))) { rc = XAI_ERR_MEMORY; goto done; }
        if ((rc = xai__blur_input(net, input, cfg->blur_sigma, blurred)) != XAI_OK) goto done;
    }
    if (inc) {
        rc = xai__curve_incremental(net, tape ? tape->reference : 0, inc, input, ord, cls, image_id, repeat, cfg,
                                    blurred, curve);
        goto done;
    }
    if (!t && !(t = xai_tape_new_forward(net, cfg->batch))) { rc = XAI_ERR_MEMORY; goto done; }
    x = (float *)xai__malloc(in * sizeof(float));
    batch = t->blob[net->input_blob].data;   /* the perturbed images are built where the pass reads them */
    if (!x) { rc = XAI_ERR_MEMORY; goto done; }
    memcpy(x, input, in * sizeof(float));
    for (k = 0; k <= cfg->steps; k++) {
        if (k > 0) xai__perturb_region(net, x, ord[k - 1], k, cfg, image_id, repeat, blurred);   /* cumulative */
        memcpy(batch + (size_t)filled * in, x, in * sizeof(float));
        if (++filled == cfg->batch || k == cfg->steps) {
            if ((rc = xai_net_forward(net, t, batch, filled)) != XAI_OK) goto done;
            for (j = 0; j < filled; j++)
                curve[first + j] = xai__curve_score(xai_tape_scores(t, j), K, cls, cfg->softmax);
            first += filled;
            filled = 0;
        }
    }
done:
    XAI_FREE(ord); XAI_FREE(x); XAI_FREE(blurred);
    if (t != tape) xai_tape_free(t);
    xai__incremental_free(&own);
    return rc;
}

XAIDEF int xai_perturbation_curve(const xai_net *net, xai_tape *tape, const float *input, const float *heat, int cls,
                                  int order, uint64_t image_id, int repeat, const xai_aopc_config *cfg, float *curve)
{
    return xai__perturbation_curve(net, tape, NULL, input, heat, cls, order, image_id, repeat, cfg, curve);
}

/* One thread's: the incremental pass's state, or (no_incremental, or a net that is all tail) a
   forward-only tape. */
static int xai__curves_tapes(const xai_net *net, const xai_aopc_config *cfg, xai_tape **t, xai__incremental *inc)
{
    int rc;
    memset(inc, 0, sizeof *inc);
    *t = NULL;
    if (!cfg->no_incremental) {
        if ((rc = xai__incremental_new(net, cfg->steps, inc)) != XAI_OK) return rc;
        if (inc->T > 0) return XAI_OK;
    }
    return (*t = xai_tape_new_forward(net, cfg->batch)) ? XAI_OK : XAI_ERR_MEMORY;
}

XAIDEF int xai_perturbation_curves(const xai_net *net, const float *input, int cls, uint64_t image_id,
                                   const xai_aopc_config *cfg, int ntask, const float *const *heat, const int *order,
                                   const int *repeat, float *curves)
{
    int rc = XAI_OK, nthreads = 1;
    if (ntask <= 0) return XAI_OK;
#ifdef _OPENMP
    nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nthreads > ntask) nthreads = ntask;
#endif
    if (nthreads <= 1) {
        xai__incremental inc;
        xai_tape *t = NULL;
        int k;
        if ((rc = xai__curves_tapes(net, cfg, &t, &inc)) != XAI_OK) return rc;
        for (k = 0; k < ntask && rc == XAI_OK; k++)
            rc = xai__perturbation_curve(net, t, t ? NULL : &inc, input, heat[k], cls, order[k], image_id, repeat[k],
                                         cfg, curves + (size_t)k * (cfg->steps + 1));
        xai_tape_free(t);
        xai__incremental_free(&inc);
        return rc;
    }
#ifdef _OPENMP
    {
    char failure[sizeof xai__reason];   /* the reason is per thread: carried back to the caller's */
    failure[0] = 0;
#pragma omp parallel num_threads(nthreads)
    {
        xai__incremental inc;
        xai_tape *t = NULL;
        int k, mine = xai__curves_tapes(net, cfg, &t, &inc);
        char reason[sizeof xai__reason];
        memcpy(reason, xai__reason, sizeof reason);
#pragma omp for schedule(dynamic, 1)
        for (k = 0; k < ntask; k++) {
            if (mine != XAI_OK) continue;
            mine = xai__perturbation_curve(net, t, t ? NULL : &inc, input, heat[k], cls, order[k], image_id,
                                           repeat[k], cfg, curves + (size_t)k * (cfg->steps + 1));
            if (mine != XAI_OK) memcpy(reason, xai__reason, sizeof reason);
        }
#pragma omp critical(xai__curves_error)
        if (mine != XAI_OK && rc == XAI_OK) {
            rc = mine;
            memcpy(failure, reason, sizeof reason);
        }
        xai_tape_free(t);
        xai__incremental_free(&inc);
    }
    if (rc != XAI_OK) memcpy(xai__reason, failure, sizeof failure);
    }
#endif
    return rc;
}

/* -- occlusion ---------------------------------------------------------------------------------------
   Patch p differs from the clean image in its box only, so the incremental pass starts each patch
   from the clean image's blobs: the boxes the previous patch dirtied are copied back from a clean
   copy, then the new patch's dirty rectangles are recomputed. */

/* Patch p's box: the grid of the patch positions from (0,0) every stride pixels, clipped. */
static void xai__patch_box(int p, int H, int W, int size, int stride, xai__rect *r)
{
    int nx = (W + stride - 1) / stride;
    r->y0 = (p / nx) * stride;
    r->x0 = (p % nx) * stride;
    r->y1 = r->y0 + size < H ? r->y0 + size : H;
    r->x1 = r->x0 + size < W ? r->x0 + size : W;
}

/* The scores of patches p0 .. p1-1 (scores[p]) by the incremental pass; a patch's score depends on
   the clean image and that patch alone, so the patches can be shared out among threads. */
static int xai__occlusion_incremental(const xai_net *net, const float *input, int cls, int size, int stride, int p0,
                                      int p1, const xai_aopc_config *cfg, uint64_t image_id, const float *blurred,
                                      float *scores)
{
    xai__incremental own, *inc = &own;
    xai_tape *s, *clean = xai_tape_new(net, 1);
    int T, p, b, filled = 0, first = p0, rc;
    xai__rect *rect = (xai__rect *)xai__calloc((size_t)net->nblob, sizeof(xai__rect)), box;
    rc = xai__incremental_new(net, p1 - p0, inc);
    if (rc == XAI_OK && (!clean || !rect)) rc = XAI_ERR_MEMORY;
    if (rc != XAI_OK) goto done;
    s = inc->state;
    T = inc->T;
    s->n = 1;
    memcpy(s->blob[net->input_blob].data, input, xai_net_input_size(net) * sizeof(float));
    memcpy(clean->blob[net->input_blob].data, input, xai_net_input_size(net) * sizeof(float));
    if ((rc = xai__forward_images(net, s, 0, 1, 0, T)) != XAI_OK) goto done;
    if ((rc = xai__forward_images(net, clean, 0, 1, 0, T)) != XAI_OK) goto done;
    for (p = p0; p < p1; p++) {
        for (b = 0; b < net->nblob; b++)   /* the previous patch's boxes back to the clean values */
            if (rect[b].y0 < rect[b].y1 && rect[b].x0 < rect[b].x1)
                xai__copy_rect(&clean->blob[b], &s->blob[b], 0, &rect[b]);
        xai__patch_box(p, net->input_h, net->input_w, size, stride, &box);
        xai__perturb_box(net, s->blob[net->input_blob].data, box.y0, box.x0, box.y1, box.x1, p, cfg, image_id, 0,
                         blurred);
        if ((rc = xai__forward_dirty(net, s, T, rect, &box)) != XAI_OK) goto done;
        if ((rc = xai__incremental_score(net, inc, cls, cfg->softmax, p == p1 - 1, &filled, &first, scores)) !=
            XAI_OK)
            goto done;
    }
done:
    xai_tape_free(clean);
    XAI_FREE(rect);
    xai__incremental_free(inc);
    return rc;
}

/* The patches shared out among the threads, a contiguous run each, each thread with its state. */
static int xai__occlusion_threads(const xai_net *net, const float *input, int cls, int size, int stride, int P,
                                  const xai_aopc_config *cfg, uint64_t image_id, const float *blurred, float *scores)
{
    int rc = XAI_OK, nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nthreads > P) nthreads = P;
#endif
    if (nthreads <= 1)
        return xai__occlusion_incremental(net, input, cls, size, stride, 0, P, cfg, image_id, blurred, scores);
#ifdef _OPENMP
    {
    char failure[sizeof xai__reason];   /* the reason is per thread: carried back to the caller's */
    failure[0] = 0;
#pragma omp parallel num_threads(nthreads)
    {
        int id = omp_get_thread_num(), n = omp_get_num_threads(), mine;
        mine = xai__occlusion_incremental(net, input, cls, size, stride, (int)((long long)P * id / n),
                                          (int)((long long)P * (id + 1) / n), cfg, image_id, blurred, scores);
#pragma omp critical(xai__occlusion_error)
        if (mine != XAI_OK && rc == XAI_OK) {
            rc = mine;
            memcpy(failure, xai__reason, sizeof failure);
        }
    }
    if (rc != XAI_OK) memcpy(xai__reason, failure, sizeof failure);
    }
#endif
    return rc;
}

XAIDEF int xai_occlusion(const xai_net *net, const float *input, int *cls, int size, int stride,
                         const xai_aopc_config *cfg, uint64_t image_id, float *heatmap, float *score)
{
    int H = net->input_h, W = net->input_w, K = xai_net_num_classes(net), P, p, k, filled = 0, rc = XAI_OK, y, x;
    size_t in = xai_net_input_size(net);
    float *scores = NULL, *blurred = NULL, clean_score;
    double *sum = NULL;
    int *count = NULL;
    xai_tape *t = NULL;
    xai__rect box;
    if (!net->finalized) return xai__fail(XAI_ERR_ARG, "occlusion: net '%s' is not finalized", net->name);
    if (size < 1 || size > 4096 || stride < 1 || stride > 4096)
        return xai__fail(XAI_ERR_ARG, "occlusion: patch %d every %d pixels; each must be in [1, 4096]", size, stride);
    if (cfg->batch <= 0) return xai__fail(XAI_ERR_ARG, "batch %d", cfg->batch);
    if (cfg->perturb < XAI_PERTURB_UNIFORM || cfg->perturb > XAI_PERTURB_BLUR)
        return xai__fail(XAI_ERR_ARG, "perturbation %d", cfg->perturb);
    P = ((H + stride - 1) / stride) * ((W + stride - 1) / stride);
    scores = (float *)xai__malloc((size_t)P * sizeof(float));
    sum = (double *)xai__calloc((size_t)H * W, sizeof(double));
    count = (int *)xai__calloc((size_t)H * W, sizeof(int));
    if (!scores || !sum || !count || !(t = xai_tape_new_forward(net, cfg->batch))) { rc = XAI_ERR_MEMORY; goto done; }
    /* the clean image: the class and the score the drops are measured from */
    if ((rc = xai_net_forward(net, t, input, 1)) != XAI_OK) goto done;
    if (*cls < 0) *cls = xai_argmax(xai_tape_scores(t, 0), K);
    if (*cls >= K) { rc = xai__fail(XAI_ERR_ARG, "occlusion: class %d, the net has %d", *cls, K); goto done; }
    clean_score = xai__curve_score(xai_tape_scores(t, 0), K, *cls, cfg->softmax);
    if (score) *score = xai_tape_scores(t, 0)[*cls];
    if (cfg->perturb == XAI_PERTURB_BLUR) {
        if (!(blurred = (float *)xai__malloc(in * sizeof(float)))) { rc = XAI_ERR_MEMORY; goto done; }
        if ((rc = xai__blur_input(net, input, cfg->blur_sigma, blurred)) != XAI_OK) goto done;
    }
    if (!cfg->no_incremental && xai__tail_start(net) > 0) {
        if ((rc = xai__occlusion_threads(net, input, *cls, size, stride, P, cfg, image_id, blurred, scores)) != XAI_OK)
            goto done;
    } else {
        float *batch = t->blob[net->input_blob].data;
        for (p = 0; p < P; p++) {   /* each patch a full forward pass, cfg->batch at a time */
            float *xp = batch + (size_t)filled * in;
            memcpy(xp, input, in * sizeof(float));
            xai__patch_box(p, H, W, size, stride, &box);
            xai__perturb_box(net, xp, box.y0, box.x0, box.y1, box.x1, p, cfg, image_id, 0, blurred);
            if (++filled == cfg->batch || p == P - 1) {
                if ((rc = xai_net_forward(net, t, batch, filled)) != XAI_OK) goto done;
                for (k = 0; k < filled; k++)
                    scores[p + 1 - filled + k] = xai__curve_score(xai_tape_scores(t, k), K, *cls, cfg->softmax);
                filled = 0;
            }
        }
    }
    for (p = 0; p < P; p++) {   /* each drop over its patch, in patch order */
        xai__patch_box(p, H, W, size, stride, &box);
        for (y = box.y0; y < box.y1; y++)
            for (x = box.x0; x < box.x1; x++) {
                sum[(size_t)y * W + x] += (double)clean_score - scores[p];
                count[(size_t)y * W + x]++;
            }
    }
    for (k = 0; k < H * W; k++) heatmap[k] = count[k] ? (float)(sum[k] / count[k]) : 0.0f;
done:
    XAI_FREE(scores); XAI_FREE(blurred); XAI_FREE(sum); XAI_FREE(count);
    xai_tape_free(t);
    return rc;
}

XAIDEF void xai_aopc_of_curve(const float *curve, int steps, double *aopc)
{
    double sum = 0;
    int L;
    for (L = 0; L <= steps; L++) {
        sum += (double)curve[0] - curve[L];
        aopc[L] = sum / (L + 1);
    }
}

XAIDEF int xai_aopc_stat_init(xai_aopc_stat *st, int steps)
{
    memset(st, 0, sizeof *st);
    if (steps < 0) return xai__fail(XAI_ERR_ARG, "%d steps", steps);
    st->steps = steps;
    st->sum = (double *)xai__calloc((size_t)steps + 1, sizeof(double));
    st->sumsq = (double *)xai__calloc((size_t)steps + 1, sizeof(double));
    if (!st->sum || !st->sumsq) { xai_aopc_stat_free(st); return XAI_ERR_MEMORY; }
    return XAI_OK;
}

XAIDEF void xai_aopc_stat_free(xai_aopc_stat *st)
{
    XAI_FREE(st->sum);
    XAI_FREE(st->sumsq);
    st->sum = st->sumsq = NULL;
}

XAIDEF int xai_aopc_stat_add(xai_aopc_stat *st, const float *curves, int repeats)
{
    double *aopc = (double *)xai__calloc((size_t)st->steps + 1, sizeof(double)),
           *mean = (double *)xai__calloc((size_t)st->steps + 1, sizeof(double));
    int r, L;
    if (!aopc || !mean) { XAI_FREE(aopc); XAI_FREE(mean); return XAI_ERR_MEMORY; }
    for (r = 0; r < repeats; r++) {
        xai_aopc_of_curve(curves + (size_t)r * (st->steps + 1), st->steps, aopc);
        for (L = 0; L <= st->steps; L++) mean[L] += aopc[L];
    }
    for (L = 0; L <= st->steps; L++) {
        double m = mean[L] / repeats;
        st->sum[L] += m;
        st->sumsq[L] += m * m;
    }
    st->images++;
    XAI_FREE(aopc);
    XAI_FREE(mean);
    return XAI_OK;
}

XAIDEF double xai_aopc_stat_mean(const xai_aopc_stat *st, int L)
{
    return st->images ? st->sum[L] / st->images : 0.0;
}

XAIDEF double xai_aopc_stat_sem(const xai_aopc_stat *st, int L)
{
    double m, var;
    if (st->images < 2) return 0.0;
    m = st->sum[L] / st->images;
    var = (st->sumsq[L] - st->images * m * m) / (st->images - 1);
    return var > 0 ? sqrt(var / st->images) : 0.0;
}

/* ==== 9. model file ===========================================================================

   The .xai file, version 2.  Little-endian throughout; strings are a u32 byte count and the bytes
   (no terminating 0).

     offset  size  field
     0       8     magic "XAIMODEL"
     8       4     u32 version (2; version 1 still reads: the same file without the checksums)
     12      4     u32 header bytes (64)
     16      8     u64 file bytes: the whole file, so truncation shows at once
     24      8     u64 data offset: where the float data starts, a multiple of 64
     32      8     u64 data floats: the length of the float data
     40      4     u32 layer count
     44      4     u32 label count
     48      4     u32 CRC-32 of the metadata, bytes [64, data offset)
     52      4     u32 CRC-32 of the layers' weights (the first nparams floats of the data)
     56      4     u32 CRC-32 of the rest of the data (the mean image and its padding)
     60      4     u32 CRC-32 of the header's bytes [0, 60)   (version 1: 48 to 63 are zero)
     64            metadata:
                     string  net name
                     string  input blob name;  u32 input channels, height, width
                     u32 channel order (0 gray, 1 RGB, 2 BGR);  f32 scale
                     u32 mean kind (0 none, 1 pixel, 2 image);  f32 mean pixel[3]
                     u32 mean channels, height, width;  u64 mean offset (floats into the data)
                     u32 resize width, height (0: resize straight to the input)
                     f32 channel scale[3]   (version 2; version 1: 1, 1, 1)
                     label count x string
                     layer count x layer:
                       string name;  u32 type (XAI_CONVOLUTION = 0 ... XAI_SPLIT = 9)
                       u32 bottom count, that many strings;  u32 top count, that many strings
                       i32 num_output, bias_term, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                           pad_w, dilation_h, dilation_w, group, transpose, pool, global_pooling,
                           round_mode, local_size, norm_region
                       f32 alpha, beta, k, negative_slope, dropout_ratio
                       i32 operation, axis, coefficient count;  f32 coefficients
                       u32 blob count (0, 1 weights, 2 weights and bias), each:
                           u32 dims[4] (conv O,C/group,kh,kw; fc O,K,1,1 or K,O,1,1 transposed;
                           bias O,1,1,1);  u64 offset (floats into the data)
                   zero padding up to the data offset
     data offset   float32 data: every layer's weights then bias, in layer order, each starting
                   at a multiple of 16 floats (64 bytes), then the mean image.  The layers'
                   part is exactly net->params, so it is read with one call (or mapped).

   The reader checks every length against the file, every layer against its bottoms (the same
   checks as xai_net_add), and every blob's shape and offset against its layer; then each section's
   CRC-32, so that a flipped byte in a label, an LRN parameter, a weight or the mean is an error and
   not a different answer; then that every weight and mean value is finite (naming layer and blob).
   The structural checks come first because their messages say more than "damaged". */

#define XAI__MAGIC "XAIMODEL"
#define XAI__FILE_VERSION 2
#define XAI__HEADER_BYTES 64
#define XAI__MAX_META ((size_t)1 << 28)
#define XAI__MAX_LABEL_BYTES XAI_LABEL_MAX
#define XAI__NPARAM_I32 17
#define XAI__NPARAM_F32 5

/* -- writer -- */
typedef struct xai__buf {
    unsigned char *p;
    size_t len, cap;
    int failed;
} xai__buf;

static unsigned char *xai__buf_grow(xai__buf *b, size_t n)
{
    if (b->failed) return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *np;
        while (cap < b->len + n) cap *= 2;
        np = (unsigned char *)XAI_REALLOC(b->p, cap);
        if (!np) { b->failed = 1; xai__fail(XAI_ERR_MEMORY, "out of memory"); return NULL; }
        b->p = np;
        b->cap = cap;
    }
    b->len += n;
    return b->p + b->len - n;
}
static void xai__buf_u32(xai__buf *b, uint32_t v) { unsigned char *q = xai__buf_grow(b, 4); if (q) xai__put_u32(q, v); }
static void xai__buf_u64(xai__buf *b, uint64_t v) { unsigned char *q = xai__buf_grow(b, 8); if (q) xai__put_u64(q, v); }
static void xai__buf_f32(xai__buf *b, float v) { unsigned char *q = xai__buf_grow(b, 4); if (q) xai__put_f32(q, v); }
static void xai__buf_str(xai__buf *b, const char *s)
{
    size_t n = strlen(s);
    unsigned char *q;
    xai__buf_u32(b, (uint32_t)n);
    if ((q = xai__buf_grow(b, n)) != NULL) memcpy(q, s, n);
}

/* The CRC-32 of count floats as the file stores them (little-endian), then zeros up to padded_count. */
static uint32_t xai__crc32_floats(const float *src, size_t count, size_t padded_count)
{
    static const unsigned char zeros[64] = {0};
    unsigned long crc = 0;
    size_t at, pad;
    if (xai__host_is_little_endian()) {
        if (count) crc = xai__crc32(0, (const unsigned char *)src, count * 4);
    } else {
        unsigned char tmp[4096];
        for (at = 0; at < count; at += 1024) {
            size_t n = count - at < 1024 ? count - at : 1024, i;
            for (i = 0; i < n; i++) xai__put_f32(tmp + 4 * i, src[at + i]);
            crc = xai__crc32(crc, tmp, n * 4);
        }
    }
    for (pad = (padded_count - count) * 4; pad; pad -= at) {
        at = pad < sizeof zeros ? pad : sizeof zeros;
        crc = xai__crc32(crc, zeros, at);
    }
    return (uint32_t)crc;
}

/* Header and metadata, padded to the data offset. */
static int xai__write_meta(const xai_net *net, xai__buf *b, uint64_t *data_floats)
{
    const xai_preprocess *pre = &net->pre;
    size_t mean_count = pre->mean_kind == XAI_MEAN_IMAGE ? (size_t)pre->mean_c * pre->mean_h * pre->mean_w : 0;
    uint64_t data_offset;
    int i, j;
    if (!net->finalized) return xai__fail(XAI_ERR_ARG, "net '%s' is not finalized", net->name);
    *data_floats = net->nparams + xai__align16(mean_count);
    {
        unsigned char *q = xai__buf_grow(b, XAI__HEADER_BYTES);
        if (!q) return XAI_ERR_MEMORY;
        memset(q, 0, XAI__HEADER_BYTES);
    }
    xai__buf_str(b, net->name);
    xai__buf_str(b, net->blob[net->input_blob].name);
    xai__buf_u32(b, (uint32_t)net->input_c);
    xai__buf_u32(b, (uint32_t)net->input_h);
    xai__buf_u32(b, (uint32_t)net->input_w);
    xai__buf_u32(b, (uint32_t)pre->channel_order);
    xai__buf_f32(b, pre->scale);
    xai__buf_u32(b, (uint32_t)(mean_count || pre->mean_kind != XAI_MEAN_IMAGE ? pre->mean_kind : XAI_MEAN_NONE));
    for (i = 0; i < 3; i++) xai__buf_f32(b, pre->mean_pixel[i]);
    xai__buf_u32(b, mean_count ? (uint32_t)pre->mean_c : 0);
    xai__buf_u32(b, mean_count ? (uint32_t)pre->mean_h : 0);
    xai__buf_u32(b, mean_count ? (uint32_t)pre->mean_w : 0);
    xai__buf_u64(b, mean_count ? (uint64_t)net->nparams : 0);
    xai__buf_u32(b, (uint32_t)pre->resize_w);
    xai__buf_u32(b, (uint32_t)pre->resize_h);
    for (i = 0; i < 3; i++) xai__buf_f32(b, pre->channel_scale[i]);
    for (i = 0; i < net->nlabel; i++) xai__buf_str(b, net->label[i]);
    for (i = 0; i < net->nlayer; i++) {
        const xai_layer *L = &net->layer[i];
        const xai_layer_param *p = &L->p;
        int32_t iv[XAI__NPARAM_I32] = {p->num_output, p->bias_term,  p->kernel_h, p->kernel_w,       p->stride_h,
                                       p->stride_w,   p->pad_h,      p->pad_w,    p->dilation_h,     p->dilation_w,
                                       p->group,      p->transpose,  p->pool,     p->global_pooling, p->round_mode,
                                       p->local_size, p->norm_region};
        float fv[XAI__NPARAM_F32] = {p->alpha, p->beta, p->k, p->negative_slope, p->dropout_ratio};
        xai__buf_str(b, L->name);
        xai__buf_u32(b, (uint32_t)p->type);
        xai__buf_u32(b, (uint32_t)L->nbottom);
        for (j = 0; j < L->nbottom; j++) xai__buf_str(b, net->blob[L->bottom[j]].name);
        xai__buf_u32(b, (uint32_t)L->ntop);
        for (j = 0; j < L->ntop; j++) xai__buf_str(b, net->blob[L->top[j]].name);
        for (j = 0; j < XAI__NPARAM_I32; j++) xai__buf_u32(b, (uint32_t)iv[j]);
        for (j = 0; j < XAI__NPARAM_F32; j++) xai__buf_f32(b, fv[j]);
        xai__buf_u32(b, (uint32_t)p->operation);
        xai__buf_u32(b, (uint32_t)p->axis);
        xai__buf_u32(b, (uint32_t)p->ncoeff);
        for (j = 0; j < p->ncoeff; j++) xai__buf_f32(b, p->coeff[j]);
        xai__buf_u32(b, (uint32_t)((L->weight_count ? 1 : 0) + (L->bias_count ? 1 : 0)));
        if (L->weight_count) {
            for (j = 0; j < 4; j++) xai__buf_u32(b, (uint32_t)L->weight_shape[j]);
            xai__buf_u64(b, L->weight_offset);
        }
        if (L->bias_count) {
            xai__buf_u32(b, (uint32_t)L->bias_count); xai__buf_u32(b, 1); xai__buf_u32(b, 1); xai__buf_u32(b, 1);
            xai__buf_u64(b, L->bias_offset);
        }
    }
    data_offset = (b->len + 63) & ~(uint64_t)63;
    {
        size_t pad = (size_t)(data_offset - b->len);
        unsigned char *q = xai__buf_grow(b, pad);
        if (q) memset(q, 0, pad);
    }
    if (b->failed) return XAI_ERR_MEMORY;
    memcpy(b->p, XAI__MAGIC, 8);
    xai__put_u32(b->p + 8, XAI__FILE_VERSION);
    xai__put_u32(b->p + 12, XAI__HEADER_BYTES);
    xai__put_u64(b->p + 16, data_offset + *data_floats * 4);
    xai__put_u64(b->p + 24, data_offset);
    xai__put_u64(b->p + 32, *data_floats);
    xai__put_u32(b->p + 40, (uint32_t)net->nlayer);
    xai__put_u32(b->p + 44, (uint32_t)net->nlabel);
    xai__put_u32(b->p + 48, (uint32_t)xai__crc32(0, b->p + XAI__HEADER_BYTES, (size_t)data_offset - XAI__HEADER_BYTES));
    xai__put_u32(b->p + 52, xai__crc32_floats(net->params, net->nparams, net->nparams));
    xai__put_u32(b->p + 56, xai__crc32_floats(net->pre.mean_image, mean_count, (size_t)(*data_floats - net->nparams)));
    xai__put_u32(b->p + 60, (uint32_t)xai__crc32(0, b->p, 60));
    return XAI_OK;
}

/* floats as little-endian bytes, count of them from src, padded with zeros to padded_count */
static void xai__floats_le(unsigned char *dst, const float *src, size_t count, size_t padded_count)
{
    size_t i;
    /* count 0: src is NULL for a net without weights, and memcpy from NULL is undefined */
    if (xai__host_is_little_endian()) { if (count) memcpy(dst, src, count * 4); }
    else for (i = 0; i < count; i++) xai__put_f32(dst + 4 * i, src[i]);
    memset(dst + 4 * count, 0, 4 * (padded_count - count));
}

XAIDEF unsigned char *xai_net_save_memory(const xai_net *net, size_t *len)
{
    xai__buf b;
    uint64_t data_floats;
    size_t mean_count, meta;
    memset(&b, 0, sizeof b);
    if (xai__write_meta(net, &b, &data_floats) != XAI_OK) { XAI_FREE(b.p); return NULL; }
    meta = b.len;
    if (!xai__buf_grow(&b, (size_t)data_floats * 4)) { XAI_FREE(b.p); return NULL; }
    mean_count = (size_t)(data_floats - net->nparams);
    xai__floats_le(b.p + meta, net->params, net->nparams, net->nparams);
    if (mean_count)
        xai__floats_le(b.p + meta + net->nparams * 4, net->pre.mean_image,
                       (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w, mean_count);
    *len = b.len;
    return b.p;
}

XAIDEF int xai_net_save(const xai_net *net, const char *path)
{
    xai__buf b;
    xai__out o;
    uint64_t data_floats;
    size_t mean_count, at;
    int rc;
    memset(&b, 0, sizeof b);
    if ((rc = xai__write_meta(net, &b, &data_floats)) != XAI_OK) { XAI_FREE(b.p); return xai__fail_context(rc, path); }
    if ((rc = xai__out_open(&o, path)) != XAI_OK) { XAI_FREE(b.p); return rc; }
    xai__out_write(&o, b.p, b.len);
    XAI_FREE(b.p);
    if (xai__host_is_little_endian()) {
        xai__out_write(&o, net->params, net->nparams * 4);   /* the weights as they lie in memory */
    } else {
        unsigned char tmp[4096];
        for (at = 0; at < net->nparams; at += 1024) {
            size_t n = net->nparams - at < 1024 ? net->nparams - at : 1024;
            xai__floats_le(tmp, net->params + at, n, n);
            xai__out_write(&o, tmp, n * 4);
        }
    }
    mean_count = (size_t)(data_floats - net->nparams);
    if (mean_count) {
        size_t real = (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w;
        unsigned char *tmp = (unsigned char *)xai__malloc(mean_count * 4);
        if (!tmp) { o.failed = 1; }
        else {
            xai__floats_le(tmp, net->pre.mean_image, real, mean_count);
            xai__out_write(&o, tmp, mean_count * 4);
            XAI_FREE(tmp);
        }
    }
    return xai__out_close(&o);
}

/* -- reader -- */
typedef struct xai__reader {
    const unsigned char *p;
    size_t len, pos;
    const char *file;
    int failed;
} xai__reader;

static int xai__need(xai__reader *r, size_t n, const char *what)
{
    if (r->failed) return 0;
    if (r->len - r->pos < n) {
        r->failed = 1;
        xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: %s runs past the end of the metadata (%zu bytes)", r->file, r->pos,
                  what, r->len);
        return 0;
    }
    return 1;
}
static uint32_t xai__rd_u32(xai__reader *r, const char *what)
{
    uint32_t v = 0;
    if (xai__need(r, 4, what)) { v = xai__get_u32(r->p + r->pos); r->pos += 4; }
    return v;
}
static uint64_t xai__rd_u64(xai__reader *r, const char *what)
{
    uint64_t v = 0;
    if (xai__need(r, 8, what)) { v = xai__get_u64(r->p + r->pos); r->pos += 8; }
    return v;
}
static float xai__rd_f32(xai__reader *r, const char *what)
{
    float v = 0;
    if (xai__need(r, 4, what)) { v = xai__get_f32(r->p + r->pos); r->pos += 4; }
    if (!r->failed && !(v == v && v <= FLT_MAX && v >= -FLT_MAX)) {
        r->failed = 1;
        xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: %s is not a finite number", r->file, r->pos - 4, what);
    }
    return v;
}
/* A string of at most max-1 bytes into out (0-terminated). */
static void xai__rd_str(xai__reader *r, char *out, size_t max, const char *what)
{
    size_t at = r->pos, i;
    uint32_t n = xai__rd_u32(r, what);
    out[0] = 0;
    if (r->failed) return;
    if (n >= max) {
        r->failed = 1;
        xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: %s is %u bytes long, at most %zu allowed", r->file, at, what, n,
                  max - 1);
        return;
    }
    if (!xai__need(r, n, what)) return;
    for (i = 0; i < n; i++)
        if (r->p[r->pos + i] == 0) {
            r->failed = 1;
            xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: %s contains a zero byte", r->file, at, what);
            return;
        }
    memcpy(out, r->p + r->pos, n);
    out[n] = 0;
    r->pos += n;
}

typedef struct xai__header {
    uint32_t version, header_bytes, nlayer, nlabel;
    uint64_t file_bytes, data_offset, data_floats;
    uint32_t crc_meta, crc_weights, crc_rest, crc_header;   /* version 2 */
} xai__header;

static int xai__read_header(const unsigned char *p, size_t avail, uint64_t file_len, const char *file, xai__header *h)
{
    if (avail < XAI__HEADER_BYTES)
        return xai__fail(XAI_ERR_FORMAT,
                         "%s: %zu bytes, shorter than the %d-byte header: truncated or not an .xai model", file, avail,
                         XAI__HEADER_BYTES);
    if (memcmp(p, XAI__MAGIC, 8) != 0)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 0: magic is not \"XAIMODEL\": not an .xai model file", file);
    h->version = xai__get_u32(p + 8);
    if (h->version != XAI__FILE_VERSION && h->version != 1)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 8: file version %u, this xai.h reads versions 1 and %d: %s", file,
                         h->version, XAI__FILE_VERSION,
                         h->version > XAI__FILE_VERSION
                             ? "update xai.h, or convert the model again with this version's caffe2xai"
                             : "convert the model again with this version's caffe2xai");
    h->header_bytes = xai__get_u32(p + 12);
    if (h->header_bytes != XAI__HEADER_BYTES)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 12: header bytes %u, expected %d", file, h->header_bytes,
                         XAI__HEADER_BYTES);
    h->file_bytes = xai__get_u64(p + 16);
    if (h->file_bytes != file_len)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 16: the header says %llu bytes, the file has %llu: %s", file,
                         (unsigned long long)h->file_bytes, (unsigned long long)file_len,
                         h->file_bytes > file_len ? "truncated" : "trailing bytes");
    h->data_offset = xai__get_u64(p + 24);
    h->data_floats = xai__get_u64(p + 32);
    if (h->data_offset % 64 || h->data_offset < XAI__HEADER_BYTES || h->data_offset > file_len ||
        h->data_offset - XAI__HEADER_BYTES > XAI__MAX_META)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 24: data offset %llu is not a multiple of 64 inside the file",
                         file, (unsigned long long)h->data_offset);
    if (h->data_floats > (file_len - h->data_offset) / 4 || h->data_offset + h->data_floats * 4 != file_len)
        return xai__fail(XAI_ERR_FORMAT,
                         "%s: offset 32: %llu floats of data do not fill the file from offset %llu to its end (%llu)",
                         file, (unsigned long long)h->data_floats, (unsigned long long)h->data_offset,
                         (unsigned long long)file_len);
    h->nlayer = xai__get_u32(p + 40);
    h->nlabel = xai__get_u32(p + 44);
    if (h->nlayer == 0 || h->nlayer > XAI__MAX_LAYERS)
        return xai__fail(XAI_ERR_FORMAT, "%s: offset 40: layer count %u (1..%d)", file, h->nlayer, XAI__MAX_LAYERS);
    if (h->nlabel > (1u << 20)) return xai__fail(XAI_ERR_FORMAT, "%s: offset 44: label count %u", file, h->nlabel);
    h->crc_meta = xai__get_u32(p + 48);
    h->crc_weights = xai__get_u32(p + 52);
    h->crc_rest = xai__get_u32(p + 56);
    h->crc_header = xai__get_u32(p + 60);
    return XAI_OK;
}

/* Each section against its CRC-32 (version 2), after the structural checks.  head_meta holds the
   file's bytes [0, data offset); the data are the net's params and mean as loaded. */
static int xai__check_sums(const xai_net *net, const unsigned char *head_meta, const xai__header *h, const char *file)
{
    size_t mean_count = net->pre.mean_image ? (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w : 0;
    uint32_t got;
    const char *damaged = "the file is damaged: copy or convert the model again";
    if (h->version < 2) return XAI_OK;
    if ((got = (uint32_t)xai__crc32(0, head_meta, 60)) != h->crc_header)
        return xai__fail(XAI_ERR_FORMAT,
                         "%s: offset 60: the header (bytes 0 to 59) fails its CRC-32 (stored %08x, computed %08x): %s",
                         file, (unsigned)h->crc_header, (unsigned)got, damaged);
    got = (uint32_t)xai__crc32(0, head_meta + XAI__HEADER_BYTES, (size_t)h->data_offset - XAI__HEADER_BYTES);
    if (got != h->crc_meta)
        return xai__fail(
            XAI_ERR_FORMAT,
            "%s: offset 48: the metadata (bytes 64 to %llu: names, labels, preprocessing, layer parameters) "
            "fails its CRC-32 (stored %08x, computed %08x): %s",
            file, (unsigned long long)h->data_offset - 1, (unsigned)h->crc_meta, (unsigned)got, damaged);
    if ((got = xai__crc32_floats(net->params, net->nparams, net->nparams)) != h->crc_weights)
        return xai__fail(
            XAI_ERR_FORMAT,
            "%s: offset 52: the weights (bytes %llu to %llu) fail their CRC-32 (stored %08x, computed %08x): %s", file,
            (unsigned long long)h->data_offset, (unsigned long long)(h->data_offset + net->nparams * 4) - 1,
            (unsigned)h->crc_weights, (unsigned)got, damaged);
    if ((got = xai__crc32_floats(net->pre.mean_image, mean_count, (size_t)h->data_floats - net->nparams)) !=
        h->crc_rest)
        return xai__fail(
            XAI_ERR_FORMAT,
            "%s: offset 56: the mean image (bytes %llu to the end) fails its CRC-32 (stored %08x, computed %08x): %s",
            file, (unsigned long long)(h->data_offset + net->nparams * 4), (unsigned)h->crc_rest, (unsigned)got,
            damaged);
    return XAI_OK;
}

/* Every weight, bias and mean value finite: a NaN would pass through every layer into the
   heatmaps and scores without a word. */
static int xai__check_finite(const xai_net *net, const char *file)
{
    size_t mean_count = net->pre.mean_image ? (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w : 0, i;
    int li, part;
    for (li = 0; li < net->nlayer; li++) {
        const xai_layer *L = &net->layer[li];
        for (part = 0; part < 2; part++) {
            size_t count = part ? L->bias_count : L->weight_count;
            const float *v = count ? net->params + (part ? L->bias_offset : L->weight_offset) : NULL;
            for (i = 0; i < count; i++)
                if (!(v[i] == v[i] && v[i] <= FLT_MAX && v[i] >= -FLT_MAX))
                    return xai__fail(XAI_ERR_FORMAT,
                                     "%s: layer %d '%s': %s element %zu of %zu is %s, not a finite number", file, li,
                                     L->name, part ? "bias" : "weights", i, count, v[i] != v[i] ? "NaN" : "infinite");
        }
    }
    for (i = 0; i < mean_count; i++)
        if (!(net->pre.mean_image[i] == net->pre.mean_image[i] && fabsf(net->pre.mean_image[i]) <= FLT_MAX))
            return xai__fail(XAI_ERR_FORMAT, "%s: mean image element %zu of %zu is %s, not a finite number", file, i,
                             mean_count, net->pre.mean_image[i] != net->pre.mean_image[i] ? "NaN" : "infinite");
    return XAI_OK;
}

/* Builds the net from the metadata (bytes [0, data offset)) and checks it against the header. */
static xai_net *xai__parse_meta(const unsigned char *meta, const xai__header *h, const char *file)
{
    xai__reader r;
    xai_net *net;
    char name[XAI_NAME_MAX], ctx[XAI_NAME_MAX + 256];
    char tops[XAI_MAX_TOPS * XAI_NAME_MAX + XAI_MAX_TOPS], bottoms[XAI_MAX_BOTTOMS * XAI_NAME_MAX + XAI_MAX_BOTTOMS];
    char **labels = NULL;
    uint32_t c, hh, w, i, j, u;
    uint64_t mean_offset;
    int rc;
    r.p = meta; r.len = (size_t)h->data_offset; r.pos = XAI__HEADER_BYTES; r.file = file; r.failed = 0;
    xai__rd_str(&r, name, sizeof name, "net name");
    if (r.failed || !(net = xai_net_new(name))) return NULL;
    xai__rd_str(&r, name, sizeof name, "input blob name");
    c = xai__rd_u32(&r, "input channels"); hh = xai__rd_u32(&r, "input height"); w = xai__rd_u32(&r, "input width");
    if (r.failed) goto fail;
    if (c == 0 || hh == 0 || w == 0 || c > XAI_DIM_MAX || hh > XAI_DIM_MAX || w > XAI_DIM_MAX) {
        xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: input shape %ux%ux%u is empty or too large", file, r.pos - 12, c, hh,
                  w);
        goto fail;
    }
    if (xai_net_input(net, name, (int)c, (int)hh, (int)w) != XAI_OK) {
        xai__fail_context(XAI_ERR_FORMAT, file);
        goto fail;
    }
    net->pre.channel_order = (int)xai__rd_u32(&r, "channel order");
    net->pre.scale = xai__rd_f32(&r, "scale");
    net->pre.mean_kind = (int)xai__rd_u32(&r, "mean kind");
    for (i = 0; i < 3; i++) net->pre.mean_pixel[i] = xai__rd_f32(&r, "mean pixel");
    net->pre.mean_c = (int)xai__rd_u32(&r, "mean channels");
    net->pre.mean_h = (int)xai__rd_u32(&r, "mean height");
    net->pre.mean_w = (int)xai__rd_u32(&r, "mean width");
    mean_offset = xai__rd_u64(&r, "mean offset");
    net->pre.resize_w = (int)xai__rd_u32(&r, "resize width");
    net->pre.resize_h = (int)xai__rd_u32(&r, "resize height");
    for (i = 0; i < 3 && h->version >= 2; i++) {
        net->pre.channel_scale[i] = xai__rd_f32(&r, "channel scale");
        if (!r.failed && net->pre.channel_scale[i] == 0) {
            xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: channel scale %u is 0", file, r.pos - 4, i);
            goto fail;
        }
    }
    if (r.failed) goto fail;
    if (net->pre.channel_order < 0 || net->pre.channel_order > XAI_ORDER_BGR || net->pre.mean_kind < 0 ||
        net->pre.mean_kind > XAI_MEAN_IMAGE || net->pre.resize_w < 0 || net->pre.resize_h < 0 ||
        net->pre.resize_w > 65536 || net->pre.resize_h > 65536) {
        xai__fail(XAI_ERR_FORMAT, "%s: offset %d: bad preprocessing (channel order %d, mean kind %d, resize %dx%d)",
                  file, XAI__HEADER_BYTES, net->pre.channel_order, net->pre.mean_kind, net->pre.resize_w,
                  net->pre.resize_h);
        goto fail;
    }
    if (h->nlabel) {
        /* each label takes at least its 4-byte length: refuse a count the metadata cannot hold */
        if (h->nlabel > (r.len - r.pos) / 4) {
            xai__fail(XAI_ERR_FORMAT, "%s: offset 44: %u labels cannot fit in %zu bytes of metadata", file, h->nlabel,
                      r.len - r.pos);
            goto fail;
        }
        labels = (char **)xai__calloc(h->nlabel, sizeof(char *));
        if (!labels) goto fail;
        for (i = 0; i < h->nlabel && !r.failed; i++) {
            char lab[XAI__MAX_LABEL_BYTES];
            xai__rd_str(&r, lab, sizeof lab, "label");
            if (!r.failed && !(labels[i] = (char *)xai__malloc(strlen(lab) + 1))) goto fail;
            if (!r.failed) memcpy(labels[i], lab, strlen(lab) + 1);
        }
        if (r.failed || xai_net_set_labels(net, (int)h->nlabel, (const char *const *)labels) != XAI_OK) goto fail;
    }
    for (i = 0; i < h->nlayer; i++) {
        xai_layer_param p = xai_layer_defaults(0);
        size_t at = r.pos;
        uint32_t type, nb, nt, nblob;
        int32_t iv[XAI__NPARAM_I32];
        float fv[XAI__NPARAM_F32];
        char one[XAI_NAME_MAX];
        char what[32];
        snprintf(what, sizeof what, "layer %u's name", i);
        xai__rd_str(&r, name, sizeof name, what);
        snprintf(ctx, sizeof ctx, "%s: offset %zu: layer %u '%s'", file, at, i, name);
        type = xai__rd_u32(&r, "layer type");
        if (r.failed) goto fail;
        if (type >= XAI_LAYER_TYPE_COUNT) { xai__fail(XAI_ERR_FORMAT, "%s: type %u is unknown", ctx, type); goto fail; }
        p = xai_layer_defaults((int)type);
        nb = xai__rd_u32(&r, "bottom count");
        if (!r.failed && (nb == 0 || nb > XAI_MAX_BOTTOMS)) {
            xai__fail(XAI_ERR_FORMAT, "%s: %u bottoms (1..%d)", ctx, nb, XAI_MAX_BOTTOMS);
            goto fail;
        }
        bottoms[0] = 0;
        for (j = 0; j < nb && !r.failed; j++) {
            xai__rd_str(&r, one, sizeof one, "bottom name");
            if (strchr(one, ',') || strchr(one, ' ') || strchr(one, '\t') || !one[0]) {
                xai__fail(XAI_ERR_FORMAT, "%s: bottom name '%s' is empty or has a separator", ctx, one);
                goto fail;
            }
            strcat(bottoms, j ? "," : ""); strcat(bottoms, one);
        }
        nt = xai__rd_u32(&r, "top count");
        if (!r.failed && (nt == 0 || nt > XAI_MAX_TOPS)) {
            xai__fail(XAI_ERR_FORMAT, "%s: %u tops (1..%d)", ctx, nt, XAI_MAX_TOPS);
            goto fail;
        }
        tops[0] = 0;
        for (j = 0; j < nt && !r.failed; j++) {
            xai__rd_str(&r, one, sizeof one, "top name");
            if (strchr(one, ',') || strchr(one, ' ') || strchr(one, '\t') || !one[0]) {
                xai__fail(XAI_ERR_FORMAT, "%s: top name '%s' is empty or has a separator", ctx, one);
                goto fail;
            }
            strcat(tops, j ? "," : ""); strcat(tops, one);
        }
        for (j = 0; j < XAI__NPARAM_I32; j++) iv[j] = (int32_t)xai__rd_u32(&r, "layer parameter");
        for (j = 0; j < XAI__NPARAM_F32; j++) fv[j] = xai__rd_f32(&r, "layer parameter");
        p.operation = (int)xai__rd_u32(&r, "eltwise operation");
        p.axis = (int)xai__rd_u32(&r, "axis");
        u = xai__rd_u32(&r, "coefficient count");
        if (r.failed) goto fail;
        if (u > XAI_MAX_BOTTOMS) {
            xai__fail(XAI_ERR_FORMAT, "%s: %u coefficients (at most %d)", ctx, u, XAI_MAX_BOTTOMS);
            goto fail;
        }
        p.ncoeff = (int)u;
        for (j = 0; j < u; j++) p.coeff[j] = xai__rd_f32(&r, "coefficient");
        p.num_output = iv[0];
        p.bias_term = iv[1];
        p.kernel_h = iv[2];
        p.kernel_w = iv[3];
        p.stride_h = iv[4];
        p.stride_w = iv[5];
        p.pad_h = iv[6];
        p.pad_w = iv[7];
        p.dilation_h = iv[8];
        p.dilation_w = iv[9];
        p.group = iv[10];
        p.transpose = iv[11];
        p.pool = iv[12];
        p.global_pooling = iv[13];
        p.round_mode = iv[14];
        p.local_size = iv[15];
        p.norm_region = iv[16];
        p.alpha = fv[0]; p.beta = fv[1]; p.k = fv[2]; p.negative_slope = fv[3]; p.dropout_ratio = fv[4];
        if (r.failed) goto fail;
        if ((rc = xai_net_add(net, name, &p, bottoms, tops)) < 0) { xai__fail_context(XAI_ERR_FORMAT, ctx); goto fail; }
        {
            xai_layer *L = &net->layer[net->nlayer - 1];
            size_t expect = (L->weight_count ? 1u : 0u) + (L->bias_count ? 1u : 0u);
            nblob = xai__rd_u32(&r, "blob count");
            if (r.failed) goto fail;
            if (nblob != expect) {
                xai__fail(XAI_ERR_FORMAT, "%s: %u weight blobs, the layer has %zu", ctx, nblob, expect);
                goto fail;
            }
            for (j = 0; j < nblob; j++) {
                uint32_t d[4];
                uint64_t off;
                size_t blob_at = r.pos, count;
                int k;
                for (k = 0; k < 4; k++) d[k] = xai__rd_u32(&r, "blob shape");
                off = xai__rd_u64(&r, "blob offset");
                if (r.failed) goto fail;
                count = xai__count4(d[0], d[1], d[2], d[3], (size_t)1 << 40);
                if (j == 0 && L->weight_count) {
                    if (count != L->weight_count || (int)d[0] != L->weight_shape[0] ||
                        (int)d[1] != L->weight_shape[1] || (int)d[2] != L->weight_shape[2] ||
                        (int)d[3] != L->weight_shape[3]) {
                        xai__fail(XAI_ERR_FORMAT,
                                  "%s: offset %zu: weight blob %ux%ux%ux%u, the layer needs %dx%dx%dx%d", ctx, blob_at,
                                  d[0], d[1], d[2], d[3], L->weight_shape[0], L->weight_shape[1], L->weight_shape[2],
                                  L->weight_shape[3]);
                        goto fail;
                    }
                } else if (count != L->bias_count || d[0] != L->bias_count) {
                    xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: bias blob %ux%ux%ux%u, the layer needs %zu", ctx,
                              blob_at, d[0], d[1], d[2], d[3], L->bias_count);
                    goto fail;
                }
                /* where finalize will put it: blobs one after the other, 64-byte aligned */
                {
                    size_t want = 0;
                    int q;
                    for (q = 0; q < net->nlayer; q++) {
                        const xai_layer *Q = &net->layer[q];
                        if (Q == L) break;
                        want += xai__align16(Q->weight_count) + xai__align16(Q->bias_count);
                    }
                    if (j == 1 || !L->weight_count) want += xai__align16(L->weight_count);
                    if (off != want) {
                        xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: blob at data float %llu, the layout puts it at %zu",
                                  ctx, blob_at + 16, (unsigned long long)off, want);
                        goto fail;
                    }
                }
            }
        }
    }
    if (r.pos > r.len) goto fail;
    for (; r.pos < r.len; r.pos++)
        if (meta[r.pos]) {
            xai__fail(XAI_ERR_FORMAT, "%s: offset %zu: unexpected bytes after the last layer (padding must be zero)",
                      file, r.pos);
            goto fail;
        }
    xai__layout(net);
    {
        size_t mean_count = net->pre.mean_kind == XAI_MEAN_IMAGE
                                ? xai__count4((size_t)net->pre.mean_c, (size_t)net->pre.mean_h, (size_t)net->pre.mean_w,
                                              1, (size_t)1 << 32)
                                : 0;
        if (net->pre.mean_kind == XAI_MEAN_IMAGE && (!mean_count || mean_offset != net->nparams)) {
            xai__fail(XAI_ERR_FORMAT, "%s: mean image %dx%dx%d at data float %llu, the layout puts it at %zu", file,
                      net->pre.mean_c, net->pre.mean_h, net->pre.mean_w, (unsigned long long)mean_offset, net->nparams);
            goto fail;
        }
        if (h->data_floats != net->nparams + xai__align16(mean_count)) {
            xai__fail(XAI_ERR_FORMAT, "%s: offset 32: %llu data floats, the layers and mean need %zu", file,
                      (unsigned long long)h->data_floats, net->nparams + xai__align16(mean_count));
            goto fail;
        }
    }
    if (labels) { for (i = 0; i < h->nlabel; i++) XAI_FREE(labels[i]); XAI_FREE(labels); }
    return net;
fail:
    if (labels) { for (i = 0; i < h->nlabel; i++) XAI_FREE(labels[i]); XAI_FREE(labels); }
    xai_net_free(net);
    return NULL;
}

/* The loaded data checked (sums, then finite values); then the net is ready. */
static int xai__finish_load(xai_net *net, const unsigned char *head_meta, const xai__header *h, const char *file)
{
    int rc;
    if (xai__check_sums(net, head_meta, h, file) != XAI_OK || xai__check_finite(net, file) != XAI_OK)
        return XAI_ERR_FORMAT;
    net->file_version = (int)h->version;
    net->finalized = 1;
    xai__point_weights(net);
    if ((rc = xai__derive_input_mean(net)) != XAI_OK) { net->finalized = 0; return xai__fail_context(rc, file); }
    return XAI_OK;
}

static void xai__floats_from_le(float *dst, const unsigned char *src, size_t count)
{
    size_t i;
    if (!count) return;   /* dst is NULL for a net without weights */
    if (xai__host_is_little_endian()) memcpy(dst, src, count * 4);
    else for (i = 0; i < count; i++) dst[i] = xai__get_f32(src + 4 * i);
}

static int xai__alloc_data(xai_net *net)
{
    size_t mean_count =
        net->pre.mean_kind == XAI_MEAN_IMAGE ? (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w : 0;
    if (net->nparams && !(net->params = (float *)xai__aligned_alloc(net->nparams * sizeof(float))))
        return XAI_ERR_MEMORY;
    if (mean_count && !(net->pre.mean_image = (float *)xai__malloc(mean_count * sizeof(float)))) return XAI_ERR_MEMORY;
    return XAI_OK;
}

XAIDEF const char *xai_net_load_note(const xai_net *net)
{
    if (net && net->file_version == 1)
        return "a version 1 .xai file: it has no checksums, so damage to it cannot be detected; "
               "xai-inspect MODEL --save NEW.xai (or converting the model again) adds them";
    return NULL;
}

XAIDEF xai_net *xai_net_load_memory(const void *data, size_t len, const char *name)
{
    const unsigned char *p = (const unsigned char *)data;
    const char *file = name ? name : "model";
    xai__header h;
    xai_net *net;
    if (xai__read_header(p, len, len, file, &h) != XAI_OK) return NULL;
    if (!(net = xai__parse_meta(p, &h, file))) return NULL;
    if (xai__alloc_data(net) != XAI_OK) { xai_net_free(net); return NULL; }
    xai__floats_from_le(net->params, p + h.data_offset, net->nparams);
    if (net->pre.mean_image)
        xai__floats_from_le(net->pre.mean_image, p + h.data_offset + net->nparams * 4,
                            (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w);
    if (xai__finish_load(net, p, &h, file) != XAI_OK) { xai_net_free(net); return NULL; }
    return net;
}

XAIDEF xai_net *xai_net_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[XAI__HEADER_BYTES], *meta = NULL;
    xai__header h;
    xai_net *net = NULL;
    long size;
    size_t mean_count;
    if (!f) { xai__fail(XAI_ERR_IO, "%s: cannot open for reading", path); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        xai__fail(XAI_ERR_IO, "%s: cannot determine the file size", path);
        goto done;
    }
    if (xai__read_header(head, fread(head, 1, sizeof head, f), (uint64_t)size, path, &h) != XAI_OK) goto done;
    if (!(meta = (unsigned char *)xai__malloc((size_t)h.data_offset))) goto done;
    memcpy(meta, head, sizeof head);
    if (fread(meta + sizeof head, 1, (size_t)h.data_offset - sizeof head, f) != (size_t)h.data_offset - sizeof head) {
        xai__fail(XAI_ERR_IO, "%s: read error in the metadata", path);
        goto done;
    }
    if (!(net = xai__parse_meta(meta, &h, path))) goto done;
    if (xai__alloc_data(net) != XAI_OK) goto fail;
    /* the weights in one read, straight into their place */
    if (net->nparams && fread(net->params, 4, net->nparams, f) != net->nparams) {
        xai__fail(XAI_ERR_IO, "%s: read error in the weights", path);
        goto fail;
    }
    if (!xai__host_is_little_endian())
        xai__floats_from_le(net->params, (const unsigned char *)net->params, net->nparams);
    mean_count = net->pre.mean_image ? (size_t)net->pre.mean_c * net->pre.mean_h * net->pre.mean_w : 0;
    if (mean_count && fread(net->pre.mean_image, 4, mean_count, f) != mean_count) {
        xai__fail(XAI_ERR_IO, "%s: read error in the mean image", path);
        goto fail;
    }
    if (mean_count && !xai__host_is_little_endian())
        xai__floats_from_le(net->pre.mean_image, (const unsigned char *)net->pre.mean_image, mean_count);
    if (xai__finish_load(net, meta, &h, path) != XAI_OK) goto fail;
    goto done;
fail:
    xai_net_free(net);
    net = NULL;
done:
    XAI_FREE(meta);
    fclose(f);
    return net;
}

/* ==== Appendix A: fast paths ================================================================== */
#ifndef XAI_NO_FAST
/* Everything here takes plain numbers and pointers and uses only section 1's allocator and error
   helpers, the weight modifiers of section 4 (XAI__MOD_*) and xai__conv_geom: the appendix could move
   to a header of its own by a plain file move.  XAI_NO_FAST leaves it out (the teaching build). */

/* Output positions 0 <= o < OW whose input o*stride + off lies in [0, W): [lo, hi). */
static void xai__valid_range(int off, int stride, int W, int OW, int *lo, int *hi)
{
    *lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    *hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / stride + 1;
    if (*hi > OW) *hi = OW;
    if (*lo > *hi) *lo = *hi;
}

/* ---- GEMM (begin) ---- */

/* ---------------------------------------------------------------------------
 * GEMM:  C[M x N] = (accumulate ? C : 0) + opA(A)[M x K] . opB(B)[K x N]
 *
 * Goto/BLIS structure.  Five loops around a register-blocked micro-kernel:
 *
 *   loop 5  jc: N in blocks of NC  -- packed B block (KC x NC) lives in L2/L3
 *   loop 4  pc: K in blocks of KC  -- pack opB(B)[pc.., jc..] into NR-column panels
 *   loop 3  ic: M in blocks of MC  -- pack opA(A)[ic.., pc..] into MR-row panels (L2)
 *   loop 2  jr: NR columns         -- one B micro-panel (KC x NR) stays in L1
 *   loop 1  ir: MR rows            -- micro-kernel: MR x NR tile of C in registers
 *
 * Packing copies the operands into the exact order the micro-kernel reads
 * them (contiguous, aligned, transposes and LRP modifiers already applied:
 * w+, w-, w^2 are made here, in the copy that happens anyway, instead of
 * being stored per model, which for CaffeNet would be 3 more 233 MB copies),
 * so the kernel only streams memory; it also zero-pads ragged edges so edge
 * tiles run the very same micro-kernel.
 *
 * Determinism contract (why: batch n must equal n single runs bit for bit,
 * and 1 thread must equal 2 threads).  Every C[i][j] is computed as
 *     for each K block [pc, pc+KC) in order:
 *         acc = 0;  for k in block, increasing:  acc = madd(a_ik, b_kj, acc)
 *         C = (pc == 0 && !accumulate) ? acc : C + acc
 * whatever M, N, tile position, thread count or code path (general, small-M,
 * small-N).  madd is a fused multiply-add whenever the target has one (the
 * AVX2 kernel, fmaf elsewhere) and a*b+c otherwise; each build is bitwise
 * self-consistent.  Threads only ever split the output, never K.
 *
 * Paths (all follow the order above; only the memory traffic differs):
 *   M <= 4 (or N <= 4):  xai__gemm_small  -- streams the big operand, no packing
 *   N <= 48 < M:         run as C^T = B^T A^T so the big operand plays B
 *   transB, small A:     xai__gemm_panels -- W read row by row, opA packed once
 *   otherwise:           xai__gemm_blocked -- the five loops above
 * OpenMP: C is cut into one rectangle per thread (xai__gemm_grid), each
 * computed by the serial code with its own packing buffers.
 * ------------------------------------------------------------------------- */


/* One multiply-add of the canonical chain.  With a hardware FMA we call fmaf
 * explicitly (the compiler turns it into one instruction), so there is no
 * room for the compiler to contract some a*b+c and not others. */
#if defined(__FMA__) || defined(__FP_FAST_FMAF) || defined(FP_FAST_FMAF) || defined(__ARM_FEATURE_FMA)
#define XAI__MADD(a, b, c) fmaf((a), (b), (c))
#else
#define XAI__MADD(a, b, c) ((a) * (b) + (c))
#endif

/* Block sizes.  KC is part of the numerical contract (it fixes where the
 * partial sums are rounded into C); MC and NC only affect speed.
 *  MR x NR = 6 x 16: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16.
 *  KC = 256: B micro-panel KC*NR*4 = 16 KiB and A micro-panel 6 KiB sit in a
 *           32-48 KiB L1 together, and a C update every 256 FMAs is noise.
 *  MC = 144: packed A block MC*KC*4 = 144 KiB, a small part of a 1-2 MiB L2,
 *           so it survives while B micro-panels stream through.
 *  NC = 1024: packed B block KC*NC*4 = 1 MiB, in L2 (2 MiB here) or L3; it
 *           is reused for every MC block of A. */
#define XAI__KC 256
#ifdef XAI__AVX2
#define XAI__MR 6
#define XAI__NR 16
#else
#define XAI__MR 4 /* portable: robust across gcc/clang, -O2/-O3, SSE2/AVX (14-23 GFLOP/s here) */
#define XAI__NR 8
#endif
#ifndef XAI__MC
#define XAI__MC 144 /* multiple of MR (6 and 4) */
#endif
#ifndef XAI__NC
#define XAI__NC 1024 /* multiple of NR */
#endif
/* Path selection (speed only; every path gives the same bits -- the tests
 * rebuild with these changed and compare hashes). */
#ifndef XAI__GEMM_SMALL
#define XAI__GEMM_SMALL 4 /* M (or N) <= this: streaming path, the big operand is not packed */
#endif
#ifndef XAI__GEMM_SWAP_N
#define XAI__GEMM_SWAP_N 48 /* N <= this < M: compute C^T = B^T A^T so the big operand is B */
#endif
#ifndef XAI__RESIDENT_A
#define XAI__RESIDENT_A (1u << 20) /* transB, packed opA <= 1 MiB: panel order (xai__gemm_panels) */
#endif
typedef char xai__gemm_small_max4[XAI__GEMM_SMALL <= 4 ? 1 : -1]; /* the small path keeps <= 4 rows in registers */
#define XAI__GEMM_PAR_MIN 200000.0 /* M*N*K below this: one thread (fork/join would cost more) */

/* Everything one GEMM call needs; C has general strides so the small-N case
 * can run as the transposed small-M problem (C^T = B^T A^T). */
typedef struct xai__gemm_op {
    const float *A; size_t lda; int transA, modA;
    const float *B; size_t ldb; int transB, modB;
    float *C; size_t crs, ccs; /* C[i][j] = C[i*crs + j*ccs] */
    int M, N, K, accumulate;
    /* dual (small path only, C2 != NULL): C = opA(A) . opB(B)+ and C2 = opA(A2) . opB(B)-, each
       with its own chains exactly as two separate calls, from one pass over B (LRP-alpha-beta) */
    const float *A2; float *C2;
    /* implicit im2col (conv forward, transB = 0): B is the im2col matrix of an image batch, read
       from the images while packing, never written out; B and ldb unused */
    const struct xai__im2col_view *conv;
    /* opA already packed for the whole M x K (xai__pack_a_all), or NULL: packed block by block */
    const float *packed_a;
} xai__gemm_op;

/* B[k][j] of a convolution's im2col, several images side by side: row k = (c - C0, ki, kj) of the
   group's channels, column j = (image b, oh, ow); x[b][c][oh*sh - ph + ki*dh][ow*sw - pw + kj*dw],
   0 outside.  The same numbers xai__im2col writes.  The columns may be a rectangle of the outputs:
   OH x OW of them from (oh0, ow0) on (the incremental pass; 0, 0 and the output size otherwise). */
typedef struct xai__im2col_view {
    const xai__conv_geom *p;
    const float *x;          /* the first image */
    size_t xs;               /* floats per image */
    int C0, H, W, OH, OW;    /* the group's first channel; input size; output rows and columns taken */
    int oh0, ow0;            /* the first output row and column taken */
} xai__im2col_view;

static float xai__im2col_at(const xai__im2col_view *v, int k, int j)
{
    const xai__conv_geom *p = v->p;
    int khw = p->kernel_h * p->kernel_w, N = v->OH * v->OW, r = k % khw, pos = j % N;
    int ih = (v->oh0 + pos / v->OW) * p->stride_h - p->pad_h + r / p->kernel_w * p->dilation_h;
    int iw = (v->ow0 + pos % v->OW) * p->stride_w - p->pad_w + r % p->kernel_w * p->dilation_w;
    if (ih < 0 || ih >= v->H || iw < 0 || iw >= v->W) return 0.0f;
    return v->x[(size_t)(j / N) * v->xs + ((size_t)(v->C0 + k / khw) * v->H + ih) * v->W + iw];
}

#ifdef XAI__AVX2
static inline __m256 xai__mod8(__m256 v, int mod)
{
    switch (mod) {
    case XAI__MOD_POS: return _mm256_max_ps(v, _mm256_setzero_ps()); /* v > 0 ? v : 0 */
    case XAI__MOD_NEG: return _mm256_min_ps(v, _mm256_setzero_ps()); /* v < 0 ? v : 0 */
    case XAI__MOD_SQUARE: return _mm256_mul_ps(v, v);
    case XAI__MOD_ONE: return _mm256_set1_ps(1.0f);
    default: return v;
    }
}

/* In-register 8x8 transpose: afterwards r[q] lane p = old r[p] lane q.
 * (Callers index r[] only with constants, never in loops, so that the
 * compiler keeps all eight in registers instead of on the stack.) */
static inline void xai__tr8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* d[q*ldd + p] = s[p*lds + q] for p, q < 8: an 8x8 block copied transposed. */
static inline void xai__tr8_copy(const float *s, size_t lds, float *d, size_t ldd)
{
    __m256 r[8];
    r[0] = _mm256_loadu_ps(s);           r[1] = _mm256_loadu_ps(s + lds);
    r[2] = _mm256_loadu_ps(s + 2 * lds); r[3] = _mm256_loadu_ps(s + 3 * lds);
    r[4] = _mm256_loadu_ps(s + 4 * lds); r[5] = _mm256_loadu_ps(s + 5 * lds);
    r[6] = _mm256_loadu_ps(s + 6 * lds); r[7] = _mm256_loadu_ps(s + 7 * lds);
    xai__tr8(r);
    _mm256_storeu_ps(d, r[0]);           _mm256_storeu_ps(d + ldd, r[1]);
    _mm256_storeu_ps(d + 2 * ldd, r[2]); _mm256_storeu_ps(d + 3 * ldd, r[3]);
    _mm256_storeu_ps(d + 4 * ldd, r[4]); _mm256_storeu_ps(d + 5 * ldd, r[5]);
    _mm256_storeu_ps(d + 6 * ldd, r[6]); _mm256_storeu_ps(d + 7 * ldd, r[7]);
}

static inline void xai__store6(float *d, __m256 v) /* lanes 0..5: 4 + 2 floats */
{
    _mm_storeu_ps(d, _mm256_castps256_ps128(v));
    _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(v, 1));
}

/* The same for 6 rows x 8 columns -> 8 rows of 6 (an A micro-panel, MR = 6). */
static inline void xai__tr6_copy(const float *s, size_t lds, float *d)
{
    __m256 r[8];
    r[0] = _mm256_loadu_ps(s);           r[1] = _mm256_loadu_ps(s + lds);
    r[2] = _mm256_loadu_ps(s + 2 * lds); r[3] = _mm256_loadu_ps(s + 3 * lds);
    r[4] = _mm256_loadu_ps(s + 4 * lds); r[5] = _mm256_loadu_ps(s + 5 * lds);
    r[6] = r[7] = _mm256_setzero_ps();
    xai__tr8(r);
    xai__store6(d, r[0]);      xai__store6(d + 6, r[1]);  xai__store6(d + 12, r[2]); xai__store6(d + 18, r[3]);
    xai__store6(d + 24, r[4]); xai__store6(d + 30, r[5]); xai__store6(d + 36, r[6]); xai__store6(d + 42, r[7]);
}
#endif

static void xai__mod_buf(float *p, size_t n, int mod)
{
    size_t i = 0;
    if (mod == XAI__MOD_NONE) return;
#ifdef XAI__AVX2
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, xai__mod8(_mm256_loadu_ps(p + i), mod));
#endif
    switch (mod) { /* switch outside the loops so each loop is branch-free */
    case XAI__MOD_POS: for (; i < n; i++) p[i] = p[i] > 0.0f ? p[i] : 0.0f; break;
    case XAI__MOD_NEG: for (; i < n; i++) p[i] = p[i] < 0.0f ? p[i] : 0.0f; break;
    case XAI__MOD_SQUARE: for (; i < n; i++) p[i] = p[i] * p[i]; break;
    case XAI__MOD_ONE: for (; i < n; i++) p[i] = 1.0f; break;
    default: break;
    }
}

static float xai__gemm_opa(const xai__gemm_op *g, int i, int k)
{
    return xai__mod(g->transA ? g->A[(size_t)k * g->lda + i] : g->A[(size_t)i * g->lda + k], g->modA);
}

static float xai__gemm_opb(const xai__gemm_op *g, int k, int j)
{
    if (g->conv) return xai__mod(xai__im2col_at(g->conv, k, j), g->modB);
    return xai__mod(g->transB ? g->B[(size_t)j * g->ldb + k] : g->B[(size_t)k * g->ldb + j], g->modB);
}

/* The canonical order written as a plain triple loop over the region
 * [i0,i1) x [j0,j1).  Slow; used only when a buffer cannot be allocated,
 * and by the tests as the bitwise oracle. */
static void xai__gemm_canon(const xai__gemm_op *g, int i0, int i1, int j0, int j1)
{
    int i, j, k, pc;
    for (i = i0; i < i1; i++)
        for (j = j0; j < j1; j++) {
            float *c = g->C + (size_t)i * g->crs + (size_t)j * g->ccs;
            for (pc = 0; pc < g->K; pc += XAI__KC) {
                int kend = g->K - pc < XAI__KC ? g->K : pc + XAI__KC;
                float acc = 0.0f;
                for (k = pc; k < kend; k++) acc = XAI__MADD(xai__gemm_opa(g, i, k), xai__gemm_opb(g, k, j), acc);
                *c = (pc == 0 && !g->accumulate) ? acc : *c + acc;
            }
        }
}

/* gemm_canon of all rows, columns [j0,j1); for a dual op both of its products. */
static void xai__gemm_canon_dual(const xai__gemm_op *g, int j0, int j1)
{
    xai__gemm_op g1 = *g, g2 = *g;
    if (!g->C2) {
        xai__gemm_canon(g, 0, g->M, j0, j1);
        return;
    }
    g1.modB = XAI__MOD_POS; g1.C2 = NULL;
    g2.modB = XAI__MOD_NEG; g2.C2 = NULL; g2.A = g->A2; g2.C = g->C2;
    xai__gemm_canon(&g1, 0, g->M, j0, j1);
    xai__gemm_canon(&g2, 0, g->M, j0, j1);
}

/* ---- packing --------------------------------------------------------------
 * A block (rows i0..i0+mc, k p0..p0+kc) -> MR-row micro-panels; panel p is
 * stored k-major: pa[p*MR*kc + k*MR + r].  Rows past mc are zero.
 * B block (k p0..p0+kc, cols j0..j0+nc) -> NR-column micro-panels:
 * pb[q*NR*kc + k*NR + c].  Columns past nc are zero.
 * Source memory is always walked along its contiguous direction for as long
 * as possible (few long streams keep the hardware prefetcher busy: reading a
 * 64-byte piece from each of 256 rows runs at a third of the speed).
 * The modifier is applied afterwards over the whole block (padding too, which
 * is harmless: padded rows/columns only reach discarded outputs). */
static void xai__pack_a(const xai__gemm_op *g, int i0, int mc, int p0, int kc, float *pa)
{
    int ir, r, k, mcp = (mc + XAI__MR - 1) / XAI__MR * XAI__MR;
    if (!g->transA) { /* row i contiguous in k: MR rows side by side, each read start to end */
        for (ir = 0; ir < mc; ir += XAI__MR) {
            int mr = mc - ir < XAI__MR ? mc - ir : XAI__MR;
            const float *s = g->A + (size_t)(i0 + ir) * g->lda + p0;
            float *d = pa + (size_t)ir * kc;
            k = 0;
#ifdef XAI__AVX2
            if (mr == XAI__MR) /* 6 rows x 8 k -> transpose -> 8 k-slices of 6 */
                for (; k + 8 <= kc; k += 8) xai__tr6_copy(s + k, g->lda, d + (size_t)k * 6);
#endif
            for (; k < kc; k++)
                for (r = 0; r < XAI__MR; r++) d[(size_t)k * XAI__MR + r] = r < mr ? s[(size_t)r * g->lda + k] : 0.0f;
        }
    } else { /* opA row i is column i of A: walk A's rows (k), scatter MR-runs to the panels */
        for (k = 0; k < kc; k++) {
            const float *s = g->A + (size_t)(p0 + k) * g->lda + i0;
            for (ir = 0; ir < mc; ir += XAI__MR) {
                int mr = mc - ir < XAI__MR ? mc - ir : XAI__MR;
                float *d = pa + (size_t)ir * kc + (size_t)k * XAI__MR;
                for (r = 0; r < XAI__MR; r++) d[r] = r < mr ? s[ir + r] : 0.0f;
            }
        }
    }
    xai__mod_buf(pa, (size_t)mcp * kc, g->modA);
}

/* opA (M x K, not transposed, no modifier) packed once for every block: K block pc at
   xai__pack_a_rows(M) * pc, rows from ic (a multiple of MR) at ic * kc within it, the very floats
   xai__pack_a writes for that block.  A weight matrix used for many products (the incremental
   pass's convolutions) is then packed once instead of for each product. */
static int xai__pack_a_rows(int M) { return (M + XAI__MR - 1) / XAI__MR * XAI__MR; }

static void xai__pack_a_all(int M, int K, const float *A, int lda, float *out)
{
    xai__gemm_op g;
    int pc;
    memset(&g, 0, sizeof g);
    g.A = A; g.lda = (size_t)lda; g.M = M; g.K = K;
    for (pc = 0; pc < K; pc += XAI__KC)
        xai__pack_a(&g, 0, M, pc, K - pc < XAI__KC ? K - pc : XAI__KC, out + (size_t)xai__pack_a_rows(M) * pc);
}

/* The B block of an implicit im2col (see xai__im2col_view), one NR-column panel at a time, written
   in order.  Column c of the panel reads x at off[c] + (the k row's offset) when its input row
   ih0[c] + ki*dh and column iw0[c] + kj*dw fall inside the image.  8 columns along one output row
   at stride 1, inside the image, are one plain load; others a masked gather. */
static void xai__pack_b_im2col(const xai__gemm_op *g, int p0, int kc, int j0, int nc, float *pb)
{
    const xai__im2col_view *v = g->conv;
    const xai__conv_geom *p = v->p;
    int N = v->OH * v->OW, HW = v->H * v->W, jr, c, k, h;
    int ncp = (nc + XAI__NR - 1) / XAI__NR * XAI__NR;
    for (jr = 0; jr < nc; jr += XAI__NR) {
        int nr = nc - jr < XAI__NR ? nc - jr : XAI__NR, run[XAI__NR / 8];
        int off[XAI__NR], ih0[XAI__NR], iw0[XAI__NR];
        int ch = v->C0 + p0 / (p->kernel_h * p->kernel_w), ki = p0 / p->kernel_w % p->kernel_h, kj = p0 % p->kernel_w;
        float *d = pb + (size_t)jr * kc;
        for (c = 0; c < XAI__NR; c++) { /* past nr: a column that reads nothing (always outside) */
            int j = j0 + jr + c, b = j / N, oh = v->oh0 + j % N / v->OW, ow = v->ow0 + j % N % v->OW;
            ih0[c] = c < nr ? oh * p->stride_h - p->pad_h : -(1 << 30);
            iw0[c] = ow * p->stride_w - p->pad_w;
            off[c] = c < nr ? b * (int)v->xs + ih0[c] * v->W + iw0[c] : 0;
        }
        for (h = 0; h < XAI__NR / 8; h++) { /* 8 columns along one output row at stride 1: one load */
            run[h] = p->stride_w == 1 && h * 8 + 8 <= nr;
            for (c = h * 8 + 1; c < h * 8 + 8 && run[h]; c++)
                run[h] = ih0[c] == ih0[c - 1] && iw0[c] == iw0[c - 1] + 1 && off[c] == off[c - 1] + 1;
        }
        for (k = 0; k < kc; k++, d += XAI__NR) {
            int ih = ki * p->dilation_h, iw = kj * p->dilation_w, dk = ch * HW + ih * v->W + iw;
            for (h = 0; h < XAI__NR; h += 8) {
                if (run[h / 8] && ih0[h] + ih >= 0 && ih0[h] + ih < v->H && iw0[h] + iw >= 0 &&
                    iw0[h + 7] + iw < v->W) {
                    const float *src = v->x + off[h] + dk;
#ifdef XAI__AVX2
                    _mm256_storeu_ps(d + h, _mm256_loadu_ps(src));
#else
                    for (c = 0; c < 8; c++) d[h + c] = src[c];
#endif
                } else { /* across rows, strided, or over the padding: each column checked */
#ifdef XAI__AVX2
                    __m256i ihv =
                        _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(ih0 + h)), _mm256_set1_epi32(ih));
                    __m256i iwv =
                        _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(iw0 + h)), _mm256_set1_epi32(iw));
                    __m256i ok = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi32(ihv, _mm256_set1_epi32(-1)),
                                                                   _mm256_cmpgt_epi32(_mm256_set1_epi32(v->H), ihv)),
                                                  _mm256_and_si256(_mm256_cmpgt_epi32(iwv, _mm256_set1_epi32(-1)),
                                                                   _mm256_cmpgt_epi32(_mm256_set1_epi32(v->W), iwv)));
                    __m256i idx =
                        _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(off + h)), _mm256_set1_epi32(dk));
                    _mm256_storeu_ps(
                        d + h, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), v->x, idx, _mm256_castsi256_ps(ok), 4));
#else
                    for (c = h; c < h + 8; c++)
                        d[c] = ih0[c] + ih >= 0 && ih0[c] + ih < v->H && iw0[c] + iw >= 0 && iw0[c] + iw < v->W
                                   ? v->x[off[c] + dk]
                                   : 0.0f;
#endif
                }
            }
            if (++kj == p->kernel_w) { /* the next k: (channel, kernel row, kernel column) */
                kj = 0;
                if (++ki == p->kernel_h) { ki = 0; ch++; }
            }
        }
    }
    xai__mod_buf(pb, (size_t)ncp * kc, g->modB);
}

static void xai__pack_b(const xai__gemm_op *g, int p0, int kc, int j0, int nc, float *pb)
{
    int jr, c, k, ncp = (nc + XAI__NR - 1) / XAI__NR * XAI__NR;
    if (g->conv) {
        xai__pack_b_im2col(g, p0, kc, j0, nc, pb);
        return;
    }
    if (!g->transB) { /* row k of B contiguous in j: walk it, scatter NR-runs to the panels */
        for (k = 0; k < kc; k++) {
            const float *s = g->B + (size_t)(p0 + k) * g->ldb + j0;
            for (jr = 0; jr < nc; jr += XAI__NR) {
                int nr = nc - jr < XAI__NR ? nc - jr : XAI__NR;
                float *d = pb + (size_t)jr * kc + (size_t)k * XAI__NR;
#ifdef XAI__AVX2
                if (nr == XAI__NR) {
                    _mm256_store_ps(d, _mm256_loadu_ps(s + jr));
                    _mm256_store_ps(d + 8, _mm256_loadu_ps(s + jr + 8));
                    continue;
                }
#endif
                for (c = 0; c < XAI__NR; c++) d[c] = c < nr ? s[jr + c] : 0.0f;
            }
        }
    } else { /* column j of opB is row j of B (W stored N x K): transpose 8 rows at a time */
        for (jr = 0; jr < nc; jr += XAI__NR) {
            int nr = nc - jr < XAI__NR ? nc - jr : XAI__NR, c0 = 0;
            const float *s = g->B + (size_t)(j0 + jr) * g->ldb + p0;
            float *d = pb + (size_t)jr * kc;
#ifdef XAI__AVX2
            for (; c0 + 8 <= nr; c0 += 8) {
                const float *sc = s + (size_t)c0 * g->ldb;
                for (k = 0; k + 8 <= kc; k += 8) { /* 8 rows x 8 k -> 8 k-slices of 8 columns */
                    if (!(k & 15) && p0 + k + 128 < g->K) /* a little ahead of the hardware prefetcher */
                        for (c = 0; c < 8; c++)
                            _mm_prefetch((const char *)(sc + (size_t)c * g->ldb + k + 128), _MM_HINT_T0);
                    xai__tr8_copy(sc + k, g->ldb, d + (size_t)k * XAI__NR + c0, XAI__NR);
                }
                for (; k < kc; k++)
                    for (c = c0; c < c0 + 8; c++) d[(size_t)k * XAI__NR + c] = s[(size_t)c * g->ldb + k];
            }
#endif
            for (c = c0; c < XAI__NR; c++)
                for (k = 0; k < kc; k++) d[(size_t)k * XAI__NR + c] = c < nr ? s[(size_t)c * g->ldb + k] : 0.0f;
        }
    }
    xai__mod_buf(pb, (size_t)ncp * kc, g->modB);
}

/* ---- micro-kernel -----------------------------------------------------------
 * c[MR x NR] (row stride ldc) = first ? acc : c + acc, acc = sum over kc of
 * a-column x b-row, each accumulator one FMA chain in increasing k. */
#ifdef XAI__AVX2
static void xai__ukernel(int kc, const float *a, const float *b, float *c, size_t ldc, int first)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int k, i;
    for (i = 0; i < 6; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    for (k = 0; k < kc; k++) { /* one rank-1 update: 2 loads of B, 6 broadcasts of A, 12 FMAs */
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
        av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
        a += 6;
        b += 16;
    }
#define XAI__UK_ROW(r, x0, x1)                                                              \
    do {                                                                                    \
        float *cr = c + (size_t)(r) * ldc;                                                  \
        if (!first) {                                                                       \
            x0 = _mm256_add_ps(_mm256_loadu_ps(cr), x0);                                    \
            x1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), x1);                                \
        }                                                                                   \
        _mm256_storeu_ps(cr, x0);                                                           \
        _mm256_storeu_ps(cr + 8, x1);                                                       \
    } while (0)
    XAI__UK_ROW(0, c00, c01); XAI__UK_ROW(1, c10, c11); XAI__UK_ROW(2, c20, c21);
    XAI__UK_ROW(3, c30, c31); XAI__UK_ROW(4, c40, c41); XAI__UK_ROW(5, c50, c51);
#undef XAI__UK_ROW
}
#else
/* Portable micro-kernel: one row of the tile at a time, so the NR running
 * sums are a small array every compiler keeps in (vector) registers; the
 * B micro-panel is re-read from L1 for each row.  Same chains as above. */
static void xai__ukernel(int kc, const float *a, const float *b, float *c, size_t ldc, int first)
{
    int k, i, j;
    for (i = 0; i < XAI__MR; i++) {
        float acc[XAI__NR];
        const float *ak = a + i, *bk = b;
        for (j = 0; j < XAI__NR; j++) acc[j] = 0.0f;
        for (k = 0; k < kc; k++, ak += XAI__MR, bk += XAI__NR)
            for (j = 0; j < XAI__NR; j++) acc[j] = XAI__MADD(*ak, bk[j], acc[j]);
        for (j = 0; j < XAI__NR; j++) c[i * ldc + j] = first ? acc[j] : c[i * ldc + j] + acc[j];
    }
}
#endif

/* Loops 2 and 1 over one packed A block x packed B block.  Edge tiles run the
 * same micro-kernel into a scratch tile (padding rows/cols computed and
 * dropped), then the valid part gets the same "first ? acc : c + acc"; so
 * does every tile when C is stored transposed (ccs != 1, the small-N case). */
static void xai__macro_kernel(int mc, int nc, int kc, const float *pa, const float *pb, float *c, size_t crs,
                              size_t ccs, int first)
{
    float tmp[XAI__MR * XAI__NR];
    int jr, ir, i, j;
    for (jr = 0; jr < nc; jr += XAI__NR) {                                           /* loop 2 */
        int nr = nc - jr < XAI__NR ? nc - jr : XAI__NR;
        for (ir = 0; ir < mc; ir += XAI__MR) {                                       /* loop 1 */
            int mr = mc - ir < XAI__MR ? mc - ir : XAI__MR;
            const float *a = pa + (size_t)ir * kc, *b = pb + (size_t)jr * kc;
            float *cc = c + (size_t)ir * crs + (size_t)jr * ccs;
            if (mr == XAI__MR && nr == XAI__NR && ccs == 1) {
                xai__ukernel(kc, a, b, cc, crs, first);
            } else {
                xai__ukernel(kc, a, b, tmp, XAI__NR, 1);
                for (i = 0; i < mr; i++)
                    for (j = 0; j < nr; j++) {
                        float *o = cc + (size_t)i * crs + (size_t)j * ccs;
                        *o = first ? tmp[i * XAI__NR + j] : *o + tmp[i * XAI__NR + j];
                    }
            }
        }
    }
}

/* Standard Goto/BLIS order on one thread's C region [i0,i1) x [j0,j1).
 * pa holds MC x KC, pb holds KC x NC. */
static void xai__gemm_blocked(const xai__gemm_op *g, int i0, int i1, int j0, int j1, float *pa, float *pb)
{
    int jc, pc, ic, K = g->K;
    for (jc = j0; jc < j1; jc += XAI__NC) {                                           /* loop 5 */
        int nc = j1 - jc < XAI__NC ? j1 - jc : XAI__NC;
        for (pc = 0; pc < K; pc += XAI__KC) {                                         /* loop 4 */
            int kc = K - pc < XAI__KC ? K - pc : XAI__KC;
            int first = pc == 0 && !g->accumulate;
            xai__pack_b(g, pc, kc, jc, nc, pb);
            for (ic = i0; ic < i1; ic += XAI__MC) {                                   /* loop 3 */
                int mc = i1 - ic < XAI__MC ? i1 - ic : XAI__MC;
                const float *a = pa;
                if (g->packed_a) a = g->packed_a + (size_t)xai__pack_a_rows(g->M) * pc + (size_t)ic * kc;
                else xai__pack_a(g, ic, mc, pc, kc, pa);
                xai__macro_kernel(mc, nc, kc, a, pb, g->C + (size_t)ic * g->crs + (size_t)jc * g->ccs, g->crs,
                                  g->ccs, first);
            }
        }
    }
}

/* Variant for few rows times a weight matrix stored N x K (transB = 1), e.g.
 * an InnerProduct at batch 16.  Each element of W is used for only a few
 * FMAs, so reading W fast matters as much as the arithmetic.  The blocked
 * order would read W in 1 KiB pieces from a thousand rows in turn, which the
 * hardware prefetcher cannot follow (about 5 GB/s here).  Instead all of opA
 * for the region is packed once (pa: rows x K, stays in L2) and B is taken
 * one NR-column panel at a time: NR rows of W, read from start to end one K
 * block after the other, i.e. NR steady streams (about 16 GB/s here).  Same
 * K blocks, same chains. */
static void xai__gemm_panels(const xai__gemm_op *g, int i0, int i1, int j0, int j1, float *pa, float *pb)
{
    int rows = i1 - i0, rowsp = (rows + XAI__MR - 1) / XAI__MR * XAI__MR, jr, pc, K = g->K;
    for (pc = 0; pc < K; pc += XAI__KC)
        xai__pack_a(g, i0, rows, pc, K - pc < XAI__KC ? K - pc : XAI__KC, pa + (size_t)rowsp * pc);
    for (jr = j0; jr < j1; jr += XAI__NR) {
        int nr = j1 - jr < XAI__NR ? j1 - jr : XAI__NR;
        for (pc = 0; pc < K; pc += XAI__KC) {
            int kc = K - pc < XAI__KC ? K - pc : XAI__KC;
            xai__pack_b(g, pc, kc, jr, nr, pb);
            xai__macro_kernel(rows, nr, kc, pa + (size_t)rowsp * pc, pb,
                              g->C + (size_t)i0 * g->crs + (size_t)jr * g->ccs, g->crs, g->ccs,
                              pc == 0 && !g->accumulate);
        }
    }
}

/* One thread's share of the general path: pick the loop order, get buffers. */
static void xai__gemm_region(const xai__gemm_op *g, int i0, int i1, int j0, int j1)
{
    int K = g->K, rows = i1 - i0, cols = j1 - j0;
    size_t rowsp = (size_t)(rows + XAI__MR - 1) / XAI__MR * XAI__MR, na, nb;
    int panels = g->transB && rowsp * K * sizeof(float) <= XAI__RESIDENT_A;
    float *pa, *pb;
    if (panels) {
        na = rowsp * K;
        nb = (size_t)XAI__NR * XAI__KC;
    } else {
        int kcap = K < XAI__KC ? K : XAI__KC;
        na = (size_t)(rowsp < XAI__MC ? rowsp : XAI__MC) * kcap;
        nb = (size_t)kcap * (cols < XAI__NC ? (cols + XAI__NR - 1) / XAI__NR * XAI__NR : XAI__NC);
    }
    pa = (float *)xai__aligned_alloc(sizeof(float) * na);
    pb = (float *)xai__aligned_alloc(sizeof(float) * nb);
    if (!pa || !pb) xai__gemm_canon(g, i0, i1, j0, j1); /* out of memory: same numbers, slowly */
    else if (panels) xai__gemm_panels(g, i0, i1, j0, j1, pa, pb);
    else xai__gemm_blocked(g, i0, i1, j0, j1, pa, pb);
    xai__aligned_free(pa);
    xai__aligned_free(pb);
}

/* ---- small-M path -----------------------------------------------------------
 * M <= XAI__GEMM_SMALL (e.g. an InnerProduct at batch 1).  Packing B would
 * copy the whole weight matrix for a handful of FMAs per element, so B is
 * streamed straight from memory; only the tiny opA is packed (k-contiguous,
 * modifier applied).  Same KC blocks, same FMA chains as the general path.
 *  transB = 1 ("dot"): column j of opB is a contiguous row of B (W is N x K).
 *     8 rows of W are read side by side in k; each 8x8 block is transposed
 *     (registers -> a 256-byte L1 scratch) into k-slices, so that vector
 *     lane r runs column j0+r's own chain, exactly as in the micro-kernel.
 *  transB = 0 ("axpy"): row k of B is contiguous in j; accumulators for a
 *     run of columns live in a small L1 buffer and every B row is streamed.
 * Software prefetch matters here: it lifts the streams from ~11 to ~15 GB/s. */
#define XAI__SMALL_JW 1024 /* axpy: columns per chunk; 4 x 1024 floats = 16 KiB in L1 */

static void xai__small_dot(const xai__gemm_op *g, const float *ap, const float *ap2, int j0)
{
    const float *w[8];
    int M = g->M, K = g->K, nv = g->N - j0 < 8 ? g->N - j0 : 8, dual = g->C2 != NULL;
    int modB = dual ? XAI__MOD_POS : g->modB;
    int r, i, k, pc;
    float out[4][8], out2[4][8];
    for (r = 0; r < 8; r++) /* lanes past N re-read the last row; dropped at the end */
        w[r] = g->B + (size_t)(j0 + (r < nv ? r : nv - 1)) * g->ldb;
    for (pc = 0; pc < K; pc += XAI__KC) {
        int kend = K - pc < XAI__KC ? K : pc + XAI__KC;
        int first = pc == 0 && !g->accumulate;
#ifdef XAI__AVX2
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        __m256 dacc0 = acc0, dacc1 = acc0, dacc2 = acc0, dacc3 = acc0; /* dual: the B- chains */
        const float *a0 = ap, *a1 = ap + (size_t)K * (M > 1), *a2 = ap + (size_t)K * 2 * (M > 2),
                    *a3 = ap + (size_t)K * 3 * (M > 3);
        const float *d0 = dual ? ap2 : ap, *d1 = d0 + (size_t)K * (M > 1), *d2 = d0 + (size_t)K * 2 * (M > 2),
                    *d3 = d0 + (size_t)K * 3 * (M > 3);
        for (k = pc; k + 8 <= kend; k += 8) {
            /* 8 columns x 8 k -> tb[q] = slice at k+q (lanes = columns), kept in L1 */
            float tb[64];
            int q;
            if (nv == 8) xai__tr8_copy(w[0] + k, g->ldb, tb, 8);
            else
                for (q = 0; q < 8; q++)
                    for (r = 0; r < 8; r++) tb[q * 8 + r] = w[r][k + q];
            if (!(k & 15) && k + 128 < K) /* 8 streams: the hardware prefetcher alone reaches ~3/4 of the bandwidth */
                for (r = 0; r < 8; r++) _mm_prefetch((const char *)(w[r] + k + 128), _MM_HINT_T0);
            for (q = 0; q < 8; q++) {
                __m256 raw = _mm256_loadu_ps(tb + 8 * q), b = xai__mod8(raw, modB);
                acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k + q), b, acc0);
                if (M > 1) acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k + q), b, acc1);
                if (M > 2) acc2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k + q), b, acc2);
                if (M > 3) acc3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k + q), b, acc3);
                if (dual) {
                    b = xai__mod8(raw, XAI__MOD_NEG);
                    dacc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(d0 + k + q), b, dacc0);
                    if (M > 1) dacc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(d1 + k + q), b, dacc1);
                    if (M > 2) dacc2 = _mm256_fmadd_ps(_mm256_broadcast_ss(d2 + k + q), b, dacc2);
                    if (M > 3) dacc3 = _mm256_fmadd_ps(_mm256_broadcast_ss(d3 + k + q), b, dacc3);
                }
            }
        }
        for (; k < kend; k++) { /* ragged end of the block: same chain, one k at a time */
            float v[8], vn[8];
            __m256 t;
            for (r = 0; r < 8; r++) v[r] = xai__mod(w[r][k], modB);
            t = _mm256_loadu_ps(v);
            acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), t, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k), t, acc1);
            acc2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k), t, acc2);
            acc3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k), t, acc3);
            if (dual) {
                for (r = 0; r < 8; r++) vn[r] = xai__mod(w[r][k], XAI__MOD_NEG);
                t = _mm256_loadu_ps(vn);
                dacc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(d0 + k), t, dacc0);
                dacc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(d1 + k), t, dacc1);
                dacc2 = _mm256_fmadd_ps(_mm256_broadcast_ss(d2 + k), t, dacc2);
                dacc3 = _mm256_fmadd_ps(_mm256_broadcast_ss(d3 + k), t, dacc3);
            }
        }
        _mm256_storeu_ps(out[0], acc0);
        _mm256_storeu_ps(out[1], acc1);
        _mm256_storeu_ps(out[2], acc2);
        _mm256_storeu_ps(out[3], acc3);
        _mm256_storeu_ps(out2[0], dacc0);
        _mm256_storeu_ps(out2[1], dacc1);
        _mm256_storeu_ps(out2[2], dacc2);
        _mm256_storeu_ps(out2[3], dacc3);
#else
        for (i = 0; i < M; i++)
            for (r = 0; r < 8; r++) out[i][r] = out2[i][r] = 0.0f;
        for (k = pc; k < kend; k++)
            for (r = 0; r < 8; r++) {
                float b = xai__mod(w[r][k], modB), bn = xai__mod(w[r][k], XAI__MOD_NEG);
                for (i = 0; i < M; i++) out[i][r] = XAI__MADD(ap[(size_t)i * K + k], b, out[i][r]);
                if (dual)
                    for (i = 0; i < M; i++) out2[i][r] = XAI__MADD(ap2[(size_t)i * K + k], bn, out2[i][r]);
            }
#endif
        for (i = 0; i < M; i++)
            for (r = 0; r < nv; r++) {
                size_t at = (size_t)i * g->crs + (size_t)(j0 + r) * g->ccs;
                g->C[at] = first ? out[i][r] : g->C[at] + out[i][r];
                if (dual) g->C2[at] = first ? out2[i][r] : g->C2[at] + out2[i][r];
            }
    }
}

/* Columns j0 .. j0+nv-1 (nv <= XAI__SMALL_JW); acc: 4 x XAI__SMALL_JW floats, and as many again
   after them for the dual's B- chains. */
static void xai__small_axpy(const xai__gemm_op *g, const float *ap, const float *ap2, int j0, int nv, float *acc)
{
    int M = g->M, K = g->K, dual = g->C2 != NULL, modB = dual ? XAI__MOD_POS : g->modB;
    int i, j, k, pc;
    float *acc2 = acc + 4 * XAI__SMALL_JW;
    for (pc = 0; pc < K; pc += XAI__KC) {
        int kend = K - pc < XAI__KC ? K : pc + XAI__KC;
        int first = pc == 0 && !g->accumulate;
        for (i = 0; i < M * XAI__SMALL_JW; i++) acc[i] = acc2[i] = 0.0f;
        for (k = pc; k < kend; k++) { /* one row of B: acc[i][.] = madd(a_ik, b_k., acc[i][.]) */
            const float *b = g->B + (size_t)k * g->ldb + j0;
            j = 0;
#ifdef XAI__AVX2
            {
                __m256 x0 = _mm256_broadcast_ss(ap + k), x1 = x0, x2 = x0, x3 = x0, zero = _mm256_setzero_ps();
                __m256 y0 = x0, y1 = x0, y2 = x0, y3 = x0; /* the dual's A2 */
                if (M > 1) x1 = _mm256_broadcast_ss(ap + (size_t)K + k);
                if (M > 2) x2 = _mm256_broadcast_ss(ap + (size_t)K * 2 + k);
                if (M > 3) x3 = _mm256_broadcast_ss(ap + (size_t)K * 3 + k);
                if (dual) {
                    y0 = _mm256_broadcast_ss(ap2 + k);
                    if (M > 1) y1 = _mm256_broadcast_ss(ap2 + (size_t)K + k);
                    if (M > 2) y2 = _mm256_broadcast_ss(ap2 + (size_t)K * 2 + k);
                    if (M > 3) y3 = _mm256_broadcast_ss(ap2 + (size_t)K * 3 + k);
                }
                for (; j + 8 <= nv; j += 8) {
                    __m256 raw = _mm256_loadu_ps(b + j), v = xai__mod8(raw, modB);
                    float *o = acc + j, *o2 = acc2 + j;
                    /* each row of B is a separate short stream: fetch two rows ahead */
                    if (!(j & 15) && k + 2 < K) _mm_prefetch((const char *)(b + 2 * g->ldb + j), _MM_HINT_T0);
                    _mm256_store_ps(o, _mm256_fmadd_ps(x0, v, _mm256_load_ps(o)));
                    if (M > 1)
                        _mm256_store_ps(o + XAI__SMALL_JW, _mm256_fmadd_ps(x1, v, _mm256_load_ps(o + XAI__SMALL_JW)));
                    if (M > 2)
                        _mm256_store_ps(o + 2 * XAI__SMALL_JW,
                                        _mm256_fmadd_ps(x2, v, _mm256_load_ps(o + 2 * XAI__SMALL_JW)));
                    if (M > 3)
                        _mm256_store_ps(o + 3 * XAI__SMALL_JW,
                                        _mm256_fmadd_ps(x3, v, _mm256_load_ps(o + 3 * XAI__SMALL_JW)));
                    if (dual) {
                        v = _mm256_min_ps(raw, zero);
                        _mm256_store_ps(o2, _mm256_fmadd_ps(y0, v, _mm256_load_ps(o2)));
                        if (M > 1)
                            _mm256_store_ps(o2 + XAI__SMALL_JW,
                                            _mm256_fmadd_ps(y1, v, _mm256_load_ps(o2 + XAI__SMALL_JW)));
                        if (M > 2)
                            _mm256_store_ps(o2 + 2 * XAI__SMALL_JW,
                                            _mm256_fmadd_ps(y2, v, _mm256_load_ps(o2 + 2 * XAI__SMALL_JW)));
                        if (M > 3)
                            _mm256_store_ps(o2 + 3 * XAI__SMALL_JW,
                                            _mm256_fmadd_ps(y3, v, _mm256_load_ps(o2 + 3 * XAI__SMALL_JW)));
                    }
                }
            }
#endif
            for (; j < nv; j++) {
                float v = xai__mod(b[j], modB), vn = xai__mod(b[j], XAI__MOD_NEG);
                for (i = 0; i < M; i++)
                    acc[i * XAI__SMALL_JW + j] = XAI__MADD(ap[(size_t)i * K + k], v, acc[i * XAI__SMALL_JW + j]);
                if (dual)
                    for (i = 0; i < M; i++)
                        acc2[i * XAI__SMALL_JW + j] =
                            XAI__MADD(ap2[(size_t)i * K + k], vn, acc2[i * XAI__SMALL_JW + j]);
            }
        }
        for (i = 0; i < M; i++)
            for (j = 0; j < nv; j++) {
                size_t at = (size_t)i * g->crs + (size_t)(j0 + j) * g->ccs;
                g->C[at] = first ? acc[i * XAI__SMALL_JW + j] : g->C[at] + acc[i * XAI__SMALL_JW + j];
                if (dual) g->C2[at] = first ? acc2[i * XAI__SMALL_JW + j] : g->C2[at] + acc2[i * XAI__SMALL_JW + j];
            }
    }
}

static void xai__gemm_small(const xai__gemm_op *g, int nthreads)
{
    int M = g->M, N = g->N, K = g->K, i, k, t;
    int dot = g->transB != 0, width, nchunks;
    float *ap, *ap2 = NULL;
    if (dot) {
        width = 8;
    } else { /* chunks of <= XAI__SMALL_JW columns, a multiple of the thread count */
        nchunks = (N + XAI__SMALL_JW - 1) / XAI__SMALL_JW;
        nchunks = (nchunks + nthreads - 1) / nthreads * nthreads;
        width = ((N + nchunks - 1) / nchunks + 7) / 8 * 8;
    }
    nchunks = (N + width - 1) / width;
    /* opA packed row by row, k contiguous, modifier applied */
    ap = (float *)xai__aligned_alloc(sizeof(float) * (size_t)M * K * (g->C2 ? 2 : 1));
    if (!ap) {
        xai__gemm_canon_dual(g, 0, N);
        return;
    }
    for (i = 0; i < M; i++)
        for (k = 0; k < K; k++) ap[(size_t)i * K + k] = xai__gemm_opa(g, i, k);
    if (g->C2) { /* the dual's second A, packed the same way */
        xai__gemm_op g2 = *g;
        g2.A = g->A2;
        ap2 = ap + (size_t)M * K;
        for (i = 0; i < M; i++)
            for (k = 0; k < K; k++) ap2[(size_t)i * K + k] = xai__gemm_opa(&g2, i, k);
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nthreads > 1)
#endif
    for (t = 0; t < nchunks; t++) {
        int j0 = t * width, nv = N - j0 < width ? N - j0 : width;
        if (dot) {
            xai__small_dot(g, ap, ap2, j0);
        } else {
            float *acc = (float *)xai__aligned_alloc(sizeof(float) * 8 * XAI__SMALL_JW);
            if (acc) xai__small_axpy(g, ap, ap2, j0, nv, acc);
            else xai__gemm_canon_dual(g, j0, j0 + nv);
            xai__aligned_free(acc);
        }
    }
    xai__aligned_free(ap);
}

/* Split C into pm x pn rectangles, one per thread, each a serial Goto GEMM
 * with its own buffers (no barriers, no shared packing).  Pick the split with
 * the least per-thread work: padded tile area plus a rough packing cost
 * (each thread packs the B columns and, once per NC block, the A rows it
 * touches). */
static void xai__gemm_grid(int M, int N, int nt, int *pm, int *pn)
{
    int d;
    double best = -1.0;
    *pm = 1;
    *pn = nt;
    for (d = 1; d <= nt; d++) {
        if (nt % d == 0) {
            int mp = (M + XAI__MR - 1) / XAI__MR, np = (N + XAI__NR - 1) / XAI__NR;
            double rows = (double)((mp + d - 1) / d) * XAI__MR;
            double cols = (double)((np + nt / d - 1) / (nt / d)) * XAI__NR;
            double cost = rows * cols + 8.0 * (cols + rows * ((cols + XAI__NC - 1) / XAI__NC));
            if (best < 0.0 || cost < best) {
                best = cost;
                *pm = d;
                *pn = nt / d;
            }
        }
    }
}

/* Threads for an M x N x K product: one below XAI__GEMM_PAR_MIN (fork/join would cost more), or
 * inside a parallel region. */
static int xai__gemm_threads(int M, int N, int K)
{
#ifdef _OPENMP
    if ((double)M * N * K >= XAI__GEMM_PAR_MIN && !omp_in_parallel()) return omp_get_max_threads();
#endif
    (void)M; (void)N; (void)K;
    return 1;
}

/* The general path: C split into one rectangle per thread, each a serial Goto GEMM. */
static void xai__gemm_general(const xai__gemm_op *g, int nt)
{
    int pm, pn, t;
    xai__gemm_grid(g->M, g->N, nt, &pm, &pn);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nt > 1)
#endif
    for (t = 0; t < pm * pn; t++) {
        int mp = (g->M + XAI__MR - 1) / XAI__MR, np = (g->N + XAI__NR - 1) / XAI__NR;
        int rstep = (mp + pm - 1) / pm * XAI__MR, cstep = (np + pn - 1) / pn * XAI__NR;
        int i0 = (t / pn) * rstep, j0 = (t % pn) * cstep;
        int i1 = i0 + rstep < g->M ? i0 + rstep : g->M, j1 = j0 + cstep < g->N ? j0 + cstep : g->N;
        if (i0 < i1 && j0 < j1) xai__gemm_region(g, i0, i1, j0, j1);
    }
}

/* C[M x N] = (accumulate ? C : 0) + opA(A) . opB(B), all row-major.
 * opA(A)[i][k] = mod(transA ? A[k*lda + i] : A[i*lda + k]), likewise opB with
 * (k, j) and ldb; mod is NONE/POS/NEG/SQUARE/ONE (LRP's w, w+, w-, w^2, flat). */
static void xai__gemm(int M, int N, int K, const float *A, int lda, int transA, int modA, const float *B, int ldb,
                      int transB, int modB, float *C, int ldc, int accumulate)
{
    xai__gemm_op g;
    int nt, i, j;
    if (M <= 0 || N <= 0) return;
    memset(&g, 0, sizeof g);
    if (K <= 0) { /* empty sum */
        if (!accumulate)
            for (i = 0; i < M; i++)
                for (j = 0; j < N; j++) C[(size_t)i * ldc + j] = 0.0f;
        return;
    }
    nt = xai__gemm_threads(M, N, K);
    if (N <= XAI__GEMM_SWAP_N && N < M) {
        /* Few columns, many rows (e.g. W^T . g at batch 16): compute C^T =
         * opB(B)^T . opA(A)^T instead, with C addressed transposed, so the big
         * operand takes B's place and is streamed (same products, same order). */
        g.A = B; g.lda = (size_t)ldb; g.transA = !transB; g.modA = modB;
        g.B = A; g.ldb = (size_t)lda; g.transB = !transA; g.modB = modA;
        g.C = C; g.crs = 1; g.ccs = (size_t)ldc;
        g.M = N; g.N = M;
    } else {
        g.A = A; g.lda = (size_t)lda; g.transA = transA; g.modA = modA;
        g.B = B; g.ldb = (size_t)ldb; g.transB = transB; g.modB = modB;
        g.C = C; g.crs = (size_t)ldc; g.ccs = 1;
        g.M = M; g.N = N;
    }
    g.K = K; g.accumulate = accumulate;
    g.A2 = NULL; g.C2 = NULL; g.conv = NULL;
    if (g.M <= XAI__GEMM_SMALL) {
        xai__gemm_small(&g, nt);
        return;
    }
    xai__gemm_general(&g, nt);
}

/* C[M x N] = opA(W) . im2col(images): a convolution's forward product without the im2col matrix
 * (see xai__pack_b_im2col).  The same bits as xai__gemm on the written-out matrix. */
static void xai__gemm_im2col(int M, int N, int K, const float *A, int lda, int modA, const xai__im2col_view *v,
                             float *C, int ldc, const float *packed_a)
{
    xai__gemm_op g;
    int nt;
    if (M <= 0 || N <= 0) return;
    nt = xai__gemm_threads(M, N, K);
    memset(&g, 0, sizeof g);
    g.A = A; g.lda = (size_t)lda; g.modA = modA;
    g.C = C; g.crs = (size_t)ldc; g.ccs = 1;
    g.M = M; g.N = N; g.K = K;
    g.conv = v;
    g.packed_a = modA == XAI__MOD_NONE ? packed_a : NULL;
    if (K <= 0) { /* empty sums */
        int i, j;
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) C[(size_t)i * ldc + j] = 0.0f;
        return;
    }
    xai__gemm_general(&g, nt);
}

/* LRP-alpha-beta's pair: C = opA(A) . opB(B)+ and C2 = opA(A2) . opB(B)-, the same bits as two
 * xai__gemm calls with modB POS and NEG.  On the small path (an InnerProduct at batch <= 4, where
 * reading W is the whole cost) both come from one pass over B. */
static void xai__gemm_dual(int M, int N, int K, const float *A, const float *A2, int lda, int transA, const float *B,
                           int ldb, int transB, float *C, float *C2, int ldc, int accumulate)
{
    xai__gemm_op g;
    int nt;
    if (M <= 0 || N <= 0 || K <= 0 || M > XAI__GEMM_SMALL || (N <= XAI__GEMM_SWAP_N && N < M)) {
        xai__gemm(M, N, K, A, lda, transA, XAI__MOD_NONE, B, ldb, transB, XAI__MOD_POS, C, ldc, accumulate);
        xai__gemm(M, N, K, A2, lda, transA, XAI__MOD_NONE, B, ldb, transB, XAI__MOD_NEG, C2, ldc, accumulate);
        return;
    }
    nt = xai__gemm_threads(M, N, K);
    memset(&g, 0, sizeof g);
    g.A = A; g.lda = (size_t)lda; g.transA = transA; g.modA = XAI__MOD_NONE;
    g.B = B; g.ldb = (size_t)ldb; g.transB = transB; g.modB = XAI__MOD_POS;
    g.C = C; g.crs = (size_t)ldc; g.ccs = 1;
    g.M = M; g.N = N; g.K = K; g.accumulate = accumulate;
    g.A2 = A2; g.C2 = C2; g.conv = NULL;
    xai__gemm_small(&g, nt);
}

/* ---- GEMM (end) ---- */

/* Convolution as im2col + one GEMM per group (Chellapilla et al. 2006; forward, the im2col matrix is
   only virtual: the GEMM packs it from the images), the fully connected layers as one GEMM for the
   whole batch.  Every output element's sum runs in the same order whatever the batch size or
   thread count (see xai__gemm), so a batch of n gives exactly the numbers of n single runs.
   These entry points take plain numbers and pointers (xai__conv_geom is integers only): the
   layers of section 5 call them through the dispatch there. */

/* Scratch that grows with the largest request; the caller owns it (a tape's work buffer). */
static float *xai__grow(float **buf, size_t *size, size_t floats)
{
    if (floats > *size) {
        xai__aligned_free(*buf);
        *buf = (float *)xai__aligned_alloc(floats * sizeof(float));
        *size = *buf ? floats : 0;
    }
    return *buf;
}

/* col[(c*kh + ki)*kw + kj][oh*OW + ow] = x[c][oh*sh - ph + ki*dh][ow*sw - pw + kj*dw] (0 outside);
   rows ldcol floats apart, so several images can sit side by side in one matrix. */
static void xai__im2col(const xai__conv_geom *p, const float *x, int C, int H, int W, int OH, int OW, float *col,
                        size_t ldcol)
{
    int cki;
    /* over (channel, kernel row) pairs: each writes its own column rows, and conv1's 3 channels
       x 11 rows share out evenly where 3 channels alone would not */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)C * OH * OW * p->kernel_h * p->kernel_w > 100000)
#endif
    for (cki = 0; cki < C * p->kernel_h; cki++) {
        int c = cki / p->kernel_h, ki = cki % p->kernel_h, kj, oh, ow, lo, hi;
        for (kj = 0; kj < p->kernel_w; kj++) {
            float *dst = col + (((size_t)c * p->kernel_h + ki) * p->kernel_w + kj) * ldcol;
            int off = kj * p->dilation_w - p->pad_w;
            xai__valid_range(off, p->stride_w, W, OW, &lo, &hi);
            for (oh = 0; oh < OH; oh++, dst += OW) {
                int ih = oh * p->stride_h - p->pad_h + ki * p->dilation_h;
                const float *row;
                if (ih < 0 || ih >= H) { memset(dst, 0, (size_t)OW * sizeof(float)); continue; }
                row = x + ((size_t)c * H + ih) * W;
                if (lo > 0) memset(dst, 0, (size_t)lo * sizeof(float));
                if (p->stride_w == 1) memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof(float));
                else for (ow = lo; ow < hi; ow++) dst[ow] = row[ow * p->stride_w + off];
                if (hi < OW) memset(dst + hi, 0, (size_t)(OW - hi) * sizeof(float));
            }
        }
    }
}

/* The transpose of im2col: dx[c][ih][iw] += col[...]; channels in parallel (each owns its plane). */
static void xai__col2im(const xai__conv_geom *p, const float *col, size_t ldcol, int C, int H, int W, int OH, int OW,
                        float *dx)
{
    int c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)C * OH * OW * p->kernel_h * p->kernel_w > 100000)
#endif
    for (c = 0; c < C; c++) {
        int ki, kj, oh, ow, lo, hi;
        for (ki = 0; ki < p->kernel_h; ki++)
            for (kj = 0; kj < p->kernel_w; kj++) {
                const float *src = col + (((size_t)c * p->kernel_h + ki) * p->kernel_w + kj) * ldcol;
                int off = kj * p->dilation_w - p->pad_w;
                xai__valid_range(off, p->stride_w, W, OW, &lo, &hi);
                for (oh = 0; oh < OH; oh++, src += OW) {
                    int ih = oh * p->stride_h - p->pad_h + ki * p->dilation_h;
                    float *row;
                    if (ih < 0 || ih >= H) continue;
                    row = dx + ((size_t)c * H + ih) * W;
                    for (ow = lo; ow < hi; ow++) row[ow * p->stride_w + off] += src[ow];
                }
            }
    }
}

/* Convolutions run on chunks of nb images: their im2col matrices side by side (written out for the
   backward passes, virtual in the forward pass), so the products
   are wide even where one image's output is small (conv3-5: 13 x 13), and one GEMM per group
   serves the chunk.  Each output still sums in the same order, so nb never changes a bit. */
typedef struct xai__conv_plan {
    int G, Cg, Og, K, N, nb;        /* groups, channels and outputs per group, K = Cg*kh*kw, N = OH*OW */
    size_t col_rows;                /* C*kh*kw */
    float *col, *tmp;               /* col_rows x nb*N (with_col), and O x nb*N */
} xai__conv_plan;

static int xai__conv_plan_make(const xai__conv_geom *p, int n, int with_col, float **work, size_t *work_size,
                               xai__conv_plan *pl)
{
    size_t per;
    pl->G = p->group;
    pl->Cg = p->C / p->group;
    pl->Og = p->num_output / p->group;
    pl->K = pl->Cg * p->kernel_h * p->kernel_w;
    pl->N = p->OH * p->OW;
    pl->col_rows = (size_t)p->C * p->kernel_h * p->kernel_w;
    per = ((with_col ? pl->col_rows : 0) + (size_t)p->num_output) * (size_t)pl->N;
    pl->nb = (int)((size_t)8 << 20) / (per ? per : 1) > 0 ? (int)(((size_t)8 << 20) / per) : 1;   /* ~32 MB a chunk */
    if (pl->nb > n) pl->nb = n;
    if (!with_col && (size_t)pl->nb * p->C * p->H * p->W >= (size_t)1 << 30)
        pl->nb = (int)((((size_t)1 << 30) - 1) / ((size_t)p->C * p->H * p->W)); /* int offsets */
    if (pl->nb < 1) pl->nb = 1;
    pl->col = xai__grow(work, work_size, per * (size_t)pl->nb);
    if (!pl->col) return XAI_ERR_MEMORY;
    pl->tmp = pl->col + (with_col ? pl->col_rows : 0) * (size_t)pl->nb * pl->N;
    return XAI_OK;
}

/* y (n, O, OH, OW) = W * im2col(x), + bias (may be NULL).  The im2col matrix is never written: the
   GEMM packs its panels straight from the images (xai__gemm_im2col), the same numbers without its
   memory traffic. */
static int xai__conv_forward_gemm(const xai__conv_geom *p, int n, const float *x, const float *weight,
                                  const float *bias, int wmod, float *y, float **work, size_t *work_size)
{
    xai__conv_plan pl;
    size_t xs = (size_t)p->C * p->H * p->W, ys = (size_t)p->num_output * p->OH * p->OW;
    int n0, g, b, rc, implicit = xs < (size_t)1 << 30; /* else the matrix, as the offsets are int */
    if (implicit && (size_t)p->OH * p->OW >= 2048) {
        /* an image 2048 outputs wide is a wide enough product alone: written straight into y
           (O x OH*OW is its NCHW layout), without the chunk's scratch, which would take the
           layer's output memory again.  The same sums in the same order: the same bits. */
        int N = p->OH * p->OW, Og = p->num_output / p->group, K = p->C / p->group * p->kernel_h * p->kernel_w;
        for (n0 = 0; n0 < n; n0++) {
            float *yn = y + (size_t)n0 * ys;
            int o;
            size_t work = ys;
            for (g = 0; g < p->group; g++) {
                xai__im2col_view v;
                v.p = p; v.x = x + (size_t)n0 * xs; v.xs = xs;
                v.C0 = g * (p->C / p->group); v.H = p->H; v.W = p->W; v.OH = p->OH; v.OW = p->OW;
                v.oh0 = v.ow0 = 0;
                xai__gemm_im2col(Og, N, K, weight + (size_t)g * Og * K, K, wmod, &v, yn + (size_t)g * Og * N, N, NULL);
            }
            XAI__PARALLEL_FOR
            for (o = 0; o < p->num_output; o++) {
                float *dst = yn + (size_t)o * N, bv = bias ? bias[o] : 0.0f;
                int i;
                for (i = 0; i < N; i++) dst[i] = dst[i] + bv;
            }
        }
        return XAI_OK;
    }
    if ((rc = xai__conv_plan_make(p, n, !implicit, work, work_size, &pl)) != XAI_OK) return rc;
    for (n0 = 0; n0 < n; n0 += pl.nb) {
        int nb = n - n0 < pl.nb ? n - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.N;
        if (!implicit)
            for (b = 0; b < nb; b++)
                xai__im2col(p, x + (size_t)(n0 + b) * xs, p->C, p->H, p->W, p->OH, p->OW, pl.col + (size_t)b * pl.N,
                            ld);
        for (g = 0; g < pl.G; g++) {
            xai__im2col_view v;
            v.p = p; v.x = x + (size_t)n0 * xs; v.xs = xs;
            v.C0 = g * pl.Cg; v.H = p->H; v.W = p->W; v.OH = p->OH; v.OW = p->OW;
            v.oh0 = v.ow0 = 0;
            if (implicit)
                xai__gemm_im2col(pl.Og, (int)ld, pl.K, weight + (size_t)g * pl.Og * pl.K, pl.K, wmod, &v,
                                 pl.tmp + (size_t)g * pl.Og * ld, (int)ld, NULL);
            else
                xai__gemm(pl.Og, (int)ld, pl.K, weight + (size_t)g * pl.Og * pl.K, pl.K, 0, wmod,
                          pl.col + (size_t)g * pl.K * ld, (int)ld, 0, XAI__MOD_NONE, pl.tmp + (size_t)g * pl.Og * ld,
                          (int)ld, 0);
        }
        /* the chunk's columns back into NCHW, adding the bias: a plane per (image, channel),
           over the threads (each writes its own planes) */
        {
            int bo, planes = nb * p->num_output;
            size_t work = (size_t)planes * pl.N;
            XAI__PARALLEL_FOR
            for (bo = 0; bo < planes; bo++) {
                int bb = bo / p->num_output, oo = bo % p->num_output, i;
                const float *src = pl.tmp + (size_t)oo * ld + (size_t)bb * pl.N;
                float *dst = y + ((size_t)(n0 + bb) * p->num_output + oo) * pl.N, bv = bias ? bias[oo] : 0.0f;
                for (i = 0; i < pl.N; i++) dst[i] = src[i] + bv;
            }
        }
    }
    return XAI_OK;
}

/* The outputs in rows [oh0, oh1) and columns [ow0, ow1) only (the incremental pass, section 8):
   the im2col columns of that rectangle (implicit, as above), one GEMM per group, the bias added as
   above.  The GEMM gives each element the same bits whichever columns it computes. */
static int xai__conv_forward_gemm_rect(const xai__conv_geom *p, int n, const float *x, const float *weight,
                                       const float *packed, const float *bias, int oh0, int ow0, int oh1, int ow1,
                                       float *y, float **work, size_t *work_size)
{
    int rows = oh1 - oh0, cols = ow1 - ow0, N = rows * cols, Og = p->num_output / p->group,
        K = p->C / p->group * p->kernel_h * p->kernel_w, b, g, oh, ow, o;
    size_t xs = (size_t)p->C * p->H * p->W, ys = (size_t)p->num_output * p->OH * p->OW;
    float *tmp;
    if (rows <= 0 || cols <= 0) return XAI_OK;
    if (xs >= (size_t)1 << 30) return xai__fail(XAI_ERR_LIMIT, "partial convolution of an input of %zu floats", xs);
    if (!(tmp = xai__grow(work, work_size, (size_t)p->num_output * N))) return XAI_ERR_MEMORY;
    for (b = 0; b < n; b++) {
        for (g = 0; g < p->group; g++) {
            xai__im2col_view v;
            v.p = p; v.x = x + (size_t)b * xs; v.xs = xs;
            v.C0 = g * (p->C / p->group); v.H = p->H; v.W = p->W; v.OH = rows; v.OW = cols;
            v.oh0 = oh0; v.ow0 = ow0;
            xai__gemm_im2col(Og, N, K, weight + (size_t)g * Og * K, K, XAI__MOD_NONE, &v, tmp + (size_t)g * Og * N, N,
                             packed ? packed + (size_t)g * xai__pack_a_rows(Og) * K : NULL);
        }
        for (o = 0; o < p->num_output; o++) {
            const float *src = tmp + (size_t)o * N;
            float bv = bias ? bias[o] : 0.0f;
            for (oh = oh0; oh < oh1; oh++, src += cols) {
                float *dst = y + (size_t)b * ys + ((size_t)o * p->OH + oh) * p->OW + ow0;
                for (ow = 0; ow < cols; ow++) dst[ow] = src[ow] + bv;
            }
        }
    }
    return XAI_OK;
}

/* Each group's weights packed once for xai__conv_forward_gemm_rect (freed with XAI_FREE). */
static float *xai__conv_pack_weights(const xai__conv_geom *p, const float *weight)
{
    int Og = p->num_output / p->group, K = p->C / p->group * p->kernel_h * p->kernel_w, g;
    size_t per = (size_t)xai__pack_a_rows(Og) * K;
    float *packed = (float *)xai__malloc(per * p->group * sizeof(float));
    if (!packed) return NULL;
    for (g = 0; g < p->group; g++) xai__pack_a_all(Og, K, weight + (size_t)g * Og * K, K, packed + g * per);
    return packed;
}

/* dx (+)= col2im(W^T g) */
static int xai__conv_backward_data_gemm(const xai__conv_geom *p, int n, const float *gy, const float *weight, int wmod,
                                        float *dx, int accumulate, float **work, size_t *work_size)
{
    xai__conv_plan pl;
    size_t xs = (size_t)p->C * p->H * p->W;
    int n0, b, g, rc;
    if ((rc = xai__conv_plan_make(p, n, 1, work, work_size, &pl)) != XAI_OK) return rc;
    if (!accumulate) memset(dx, 0, (size_t)n * xs * sizeof(float));
    for (n0 = 0; n0 < n; n0 += pl.nb) {
        int nb = n - n0 < pl.nb ? n - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.N;
        {
            int bo, O = p->num_output, planes = nb * O;
            size_t work = (size_t)planes * pl.N;
            XAI__PARALLEL_FOR
            for (bo = 0; bo < planes; bo++)
                memcpy(pl.tmp + (size_t)(bo % O) * ld + (size_t)(bo / O) * pl.N,
                       gy + ((size_t)(n0 + bo / O) * O + bo % O) * pl.N, (size_t)pl.N * sizeof(float));
        }
        for (g = 0; g < pl.G; g++)
            xai__gemm(pl.K, (int)ld, pl.Og, weight + (size_t)g * pl.Og * pl.K, pl.K, 1, wmod,
                      pl.tmp + (size_t)g * pl.Og * ld, (int)ld, 0, XAI__MOD_NONE, pl.col + (size_t)g * pl.K * ld,
                      (int)ld, 0);
        for (b = 0; b < nb; b++)
            xai__col2im(p, pl.col + (size_t)b * pl.N, ld, p->C, p->H, p->W, p->OH, p->OW, dx + (size_t)(n0 + b) * xs);
    }
    return XAI_OK;
}

/* dW += g * im2col(x)^T, db += sum of g (training; db may be NULL) */
static int xai__conv_backward_weight_gemm(const xai__conv_geom *p, int n, const float *x, const float *gy, float *dw,
                                          float *db, float **work, size_t *work_size)
{
    xai__conv_plan pl;
    size_t xs = (size_t)p->C * p->H * p->W;
    int n0, b, g, o, rc, O = p->num_output;
    if ((rc = xai__conv_plan_make(p, n, 1, work, work_size, &pl)) != XAI_OK) return rc;
    for (n0 = 0; n0 < n; n0 += pl.nb) {
        int nb = n - n0 < pl.nb ? n - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.N;
        for (b = 0; b < nb; b++) {
            xai__im2col(p, x + (size_t)(n0 + b) * xs, p->C, p->H, p->W, p->OH, p->OW, pl.col + (size_t)b * pl.N, ld);
            for (o = 0; o < O; o++)
                memcpy(pl.tmp + (size_t)o * ld + (size_t)b * pl.N, gy + ((size_t)(n0 + b) * O + o) * pl.N,
                       (size_t)pl.N * sizeof(float));
        }
        for (g = 0; g < pl.G; g++)
            xai__gemm(pl.Og, pl.K, (int)ld, pl.tmp + (size_t)g * pl.Og * ld, (int)ld, 0, XAI__MOD_NONE,
                      pl.col + (size_t)g * pl.K * ld, (int)ld, 1, XAI__MOD_NONE, dw + (size_t)g * pl.Og * pl.K, pl.K,
                      1);
        if (db)
            for (o = 0; o < O; o++) {
                const float *row = pl.tmp + (size_t)o * ld;
                double acc = 0;
                size_t i;
                for (i = 0; i < ld; i++) acc += row[i];
                db[o] += (float)acc;
            }
    }
    return XAI_OK;
}

/* fc: y (n x O) = x (n x K) W^T + b, the whole batch in one product; W is O x K, or K x O when
   transpose; bias may be NULL */
static void xai__fc_forward_gemm(int n, int K, int O, int transpose, const float *x, const float *weight,
                                 const float *bias, int wmod, float *y)
{
    int i, o;
    if (transpose) xai__gemm(n, O, K, x, K, 0, XAI__MOD_NONE, weight, O, 0, wmod, y, O, 0);
    else xai__gemm(n, O, K, x, K, 0, XAI__MOD_NONE, weight, K, 1, wmod, y, O, 0);
    if (bias)
        for (i = 0; i < n; i++)
            for (o = 0; o < O; o++) y[(size_t)i * O + o] += bias[o];
}

/* dx (n x K) (+)= g (n x O) W */
static void xai__fc_backward_data_gemm(int n, int K, int O, int transpose, const float *gy, const float *weight,
                                       int wmod, float *dx, int accumulate)
{
    if (transpose) xai__gemm(n, K, O, gy, O, 0, XAI__MOD_NONE, weight, O, 1, wmod, dx, K, accumulate);
    else xai__gemm(n, K, O, gy, O, 0, XAI__MOD_NONE, weight, K, 0, wmod, dx, K, accumulate);
}

/* dW += g^T x (n summed), db += column sums of g (db may be NULL) */
static void xai__fc_backward_weight_gemm(int n, int K, int O, int transpose, const float *x, const float *gy, float *dw,
                                         float *db)
{
    int i, o;
    if (transpose) xai__gemm(K, O, n, x, K, 1, XAI__MOD_NONE, gy, O, 0, XAI__MOD_NONE, dw, O, 1);
    else xai__gemm(O, K, n, gy, O, 1, XAI__MOD_NONE, x, K, 0, XAI__MOD_NONE, dw, K, 1);
    if (db)
        for (o = 0; o < O; o++) {
            double acc = 0;
            for (i = 0; i < n; i++) acc += gy[(size_t)i * O + o];
            db[o] += (float)acc;
        }
}

/* Max pooling, a row of outputs at a time: the window's inputs in scan order (h, then w) for all
   outputs of the row together, so the outputs' comparisons are independent of each other (no
   chain of max after max) and select rather than branch.  The same maxima and switches as the
   plain loop of section 5 (first maximum in scan order).  x: planes of H x W; y, arg: OH x OW. */
static void xai__max_pool_fast(const float *x, int planes, int H, int W, int OH, int OW, int kh, int kw, int sh, int sx,
                               int ph, int pw, float *y, int *arg)
{
    size_t work = (size_t)planes * H * W;
    int nc;
    XAI__PARALLEL_FOR
    for (nc = 0; nc < planes; nc++) {          /* one (image, channel) plane */
        const float *xp = x + (size_t)nc * H * W;
        int oh, ow, h;
        for (oh = 0; oh < OH; oh++) {
            float *yrow = y + ((size_t)nc * OH + oh) * OW;
            int *arow = arg + ((size_t)nc * OH + oh) * OW, dh, dw;
            for (ow = 0; ow < OW; ow++) { yrow[ow] = -FLT_MAX; arow[ow] = -1; }
            for (dh = 0; dh < kh; dh++) {
                h = oh * sh - ph + dh;
                if (h < 0 || h >= H) continue;
                for (dw = 0; dw < kw; dw++) {
                    /* the outputs whose window column dw lies inside the row: 0 <= ow*sx - pw + dw < W */
                    const float *xr = xp + (size_t)h * W - pw + dw;
                    int lo, hi;
                    xai__valid_range(dw - pw, sx, W, OW, &lo, &hi);
#ifdef XAI__AVX2
                    if (sx <= 2) {
                        /* eight outputs at once, the same selects lane by lane.  Their inputs
                           are 8 (stride 1) or every other of 16 (stride 2) consecutive floats:
                           masked loads (never a gather, slow on many cores), lanes outside
                           the row or past the last output never win */
                        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                        const __m256i wlo = _mm256_set1_epi32(-1), whi = _mm256_set1_epi32(W);
                        const __m256 lowest = _mm256_set1_ps(-FLT_MAX);
                        for (ow = 0; ow < OW; ow += 8) {
                            int base = ow * sx - pw + dw;     /* the column of output ow's input */
                            __m256i o = _mm256_add_epi32(_mm256_set1_epi32(ow), lane);
                            __m256i wv = _mm256_add_epi32(_mm256_set1_epi32(base),
                                                          sx == 1 ? lane : _mm256_add_epi32(lane, lane));
                            __m256i in_out = _mm256_cmpgt_epi32(_mm256_set1_epi32(OW), o);
                            __m256i ok_i = _mm256_and_si256(
                                in_out, _mm256_and_si256(_mm256_cmpgt_epi32(wv, wlo), _mm256_cmpgt_epi32(whi, wv)));
                            __m256 ok = _mm256_castsi256_ps(ok_i), v, cur, wins;
                            __m256i a, at;
                            const float *row = xp + (size_t)h * W;
                            __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(base), lane);
                            __m256i m0 = _mm256_and_si256(_mm256_cmpgt_epi32(c0, wlo), _mm256_cmpgt_epi32(whi, c0));
                            v = _mm256_maskload_ps(row + base, m0);
                            if (sx == 2) {
                                __m256i c1 = _mm256_add_epi32(c0, _mm256_set1_epi32(8));
                                __m256i m1 = _mm256_and_si256(_mm256_cmpgt_epi32(c1, wlo), _mm256_cmpgt_epi32(whi, c1));
                                __m256 v1 = _mm256_maskload_ps(row + base + 8, m1);
                                /* [x0 x2 x8 x10 | x4 x6 x12 x14] -> [x0 x2 x4 x6 x8 x10 x12 x14] */
                                v = _mm256_castpd_ps(_mm256_permute4x64_pd(
                                    _mm256_castps_pd(_mm256_shuffle_ps(v, v1, _MM_SHUFFLE(2, 0, 2, 0))),
                                    _MM_SHUFFLE(3, 1, 2, 0)));
                            }
                            v = _mm256_blendv_ps(lowest, v, ok);
                            cur = _mm256_maskload_ps(yrow + ow, in_out);
                            a = _mm256_maskload_epi32(arow + ow, in_out);
                            wins = _mm256_and_ps(_mm256_cmp_ps(v, cur, _CMP_GT_OQ), ok);
                            at = _mm256_add_epi32(_mm256_set1_epi32(h * W), wv);
                            _mm256_maskstore_ps(yrow + ow, in_out, _mm256_blendv_ps(cur, v, wins));
                            _mm256_maskstore_epi32(arow + ow, in_out,
                                                   _mm256_castps_si256(_mm256_blendv_ps(
                                                       _mm256_castsi256_ps(a), _mm256_castsi256_ps(at), wins)));
                        }
                        lo = hi;   /* all done */
                    }
#endif
                    for (ow = lo; ow < hi; ow++) {
                        float v = xr[ow * sx], cur = yrow[ow];
                        int wins = -(v > cur), at = h * W + ow * sx - pw + dw;
                        yrow[ow] = v > cur ? v : cur;
                        arow[ow] ^= (arow[ow] ^ at) & wins;    /* at where v wins, unchanged elsewhere */
                    }
                }
            }
        }
    }
}

#endif /* XAI_NO_FAST */

/* ==== Appendix B: image encoders ============================================================== */
/* PNG and JPEG files for heatmaps, and the measures of the paper's Table I (file sizes, entropy):
   Adler-32, zlib/DEFLATE, PNG, baseline JPEG, entropy.  Uses only section 1 (allocator, errors,
   CRC-32) and the public image functions.  XAI_NO_IMAGE_WRITE leaves it out: the library then
   writes PNM and PFM only, and these functions fail with a reason that says so. */
#ifndef XAI_NO_IMAGE_WRITE

/* ---- checksums ---------------------------------------------------------- */

/* Adler-32 (RFC 1950, 8.2).  Start with adler = 1.  The sums are reduced
   modulo 65521 every 5552 bytes, the most that cannot overflow 32 bits
   (zlib's NMAX). */
static unsigned long xai__adler32(unsigned long adler, const unsigned char *p, size_t n)
{
    unsigned long a = adler & 0xffff, b = (adler >> 16) & 0xffff;
    while (n > 0) {
        size_t k = n < 5552 ? n : 5552;
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

/* ---- growable output buffer with a bit accumulator ---------------------- */

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;         /* an allocation failed: later writes are dropped */
    unsigned long bits; /* bits not yet written out as a byte */
    int nbits;
} xai__obuf;

static void xai__obuf_reserve(xai__obuf *b, size_t extra)
{
    size_t want, cap;
    unsigned char *p;
    if (b->failed) return;
    if (extra > (size_t)-1 - b->len) {
        b->failed = 1;
        return;
    }
    want = b->len + extra;
    if (want <= b->cap) return;
    cap = b->cap ? b->cap : 4096;
    while (cap < want) cap = cap > (size_t)-1 / 2 ? want : cap * 2;
    p = (unsigned char *)XAI_REALLOC(b->data, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->data = p;
    b->cap = cap;
}

static void xai__obuf_byte(xai__obuf *b, unsigned c)
{
    if (b->len == b->cap) xai__obuf_reserve(b, 1);
    if (b->failed) return;
    b->data[b->len++] = (unsigned char)c;
}

static void xai__obuf_bytes(xai__obuf *b, const void *p, size_t n)
{
    if (n == 0) return;
    xai__obuf_reserve(b, n);
    if (b->failed) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* PNG, zlib's Adler-32 and JPEG all store integers big-endian. */
static void xai__obuf_be16(xai__obuf *b, unsigned long v)
{
    xai__obuf_byte(b, (unsigned)(v >> 8) & 0xff);
    xai__obuf_byte(b, (unsigned)v & 0xff);
}

static void xai__obuf_be32(xai__obuf *b, unsigned long v)
{
    xai__obuf_be16(b, (v >> 16) & 0xffff);
    xai__obuf_be16(b, v & 0xffff);
}

/* Checks shared by the encoders.  The w*h*comp <= 2^31 bound keeps every
   later size computation (rows, filter bytes, keys) far from overflow. */
static int xai__codec_check(const unsigned char *pixels, int w, int h, int comp, const char *who)
{
    if (!pixels) return xai__fail(XAI_ERR_ARG, "%s: pixels is NULL", who);
    if (w <= 0 || h <= 0) return xai__fail(XAI_ERR_LIMIT, "%s: bad image size %dx%d", who, w, h);
    if ((size_t)w > ((size_t)1 << 31) / (size_t)h / (size_t)comp)
        return xai__fail(XAI_ERR_LIMIT, "%s: image %dx%dx%d is too large", who, w, h, comp);
    return XAI_OK;
}

/* ---- DEFLATE compressor (RFC 1951) in a zlib stream (RFC 1950) ----------

   LZ77: every position is hashed on its next 3 bytes; head[] holds the
   latest position with each hash and prev[] chains each position to the
   previous one with the same hash, over the 32 KiB window.  Matching is
   lazy, as in zlib: a match is only taken if the next position does not
   start a longer one.  Every XAI__ZL_BLOCK symbols the block is written
   in whichever form is smallest: dynamic Huffman (BTYPE=2), fixed Huffman
   (BTYPE=1) or stored (BTYPE=0). */

#define XAI__ZL_WSIZE 32768  /* window: distances 1..32768 (RFC 1951, 3.2.5) */
#define XAI__ZL_HBITS 15     /* hash table of 2^15 heads */
#define XAI__ZL_MAXMATCH 258 /* longest match DEFLATE can code */
#define XAI__ZL_CHAIN 128    /* candidates tried per position (zlib level 6) */
#define XAI__ZL_GOOD 8       /* to beat a match this long, walk a quarter of the chain */
#define XAI__ZL_NICE 128     /* a match this long ends the search (zlib level 6) */
#define XAI__ZL_LAZY 16      /* look one position ahead only below this length */
#define XAI__ZL_TOOFAR 4096  /* a 3-byte match further back costs more than 3 literals */
#define XAI__ZL_BLOCK 16384  /* symbols per block, as zlib at its default memLevel */
#define XAI__ZL_NLIT 286     /* literal/length symbols: 0-255, 256 = end, 257-285 */
#define XAI__ZL_NDIST 30     /* distance symbols */

/* RFC 1951, 3.2.5: base and extra bits of length codes 257..285 and of
   distance codes 0..29. */
static const unsigned short xai__zl_len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                                    15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                                    67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char xai__zl_len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const unsigned short xai__zl_dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char xai__zl_dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* RFC 1951, 3.2.7: the order in which code-length code lengths are sent. */
static const unsigned char xai__zl_clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* One LZ77 symbol: a literal byte (dist == 0, litlen = the byte) or a
   match (litlen = length 3..258, dist = distance 1..32768). */
typedef struct {
    unsigned short litlen, dist;
} xai__zl_sym;

typedef struct {
    const unsigned char *data;
    size_t n;
    size_t *head;        /* per hash: latest position + 1, 0 = none */
    size_t *prev;        /* per position mod WSIZE: previous position + 1 with the same hash */
    xai__zl_sym *syms;   /* the symbols of the block being collected */
    size_t nsyms;
    size_t block_start;  /* first input byte the pending symbols cover */
    size_t min_match;    /* shorter matches are sent as literals */
    xai__obuf out;
} xai__zl;

/* DEFLATE packs data elements starting at the least significant bit of
   each byte (RFC 1951, 3.1.1).  n <= 16. */
static void xai__zl_bits(xai__obuf *b, unsigned long value, int n)
{
    b->bits |= value << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) {
        xai__obuf_byte(b, (unsigned)(b->bits & 0xff));
        b->bits >>= 8;
        b->nbits -= 8;
    }
}

static void xai__zl_align(xai__obuf *b)
{
    if (b->nbits > 0) xai__zl_bits(b, 0, 8 - b->nbits);
}

static int xai__zl_len_code(unsigned len) /* 0..28, i.e. symbol 257 + result */
{
    int c = 0;
    while (c < 28 && len >= xai__zl_len_base[c + 1]) c++;
    return c;
}

static int xai__zl_dist_code(unsigned dist)
{
    int c = 0;
    while (c < 29 && dist >= xai__zl_dist_base[c + 1]) c++;
    return c;
}

/* Code lengths of an optimal prefix code in which no code is longer than
   maxbits: the package-merge algorithm (Larmore and Hirschberg, 1990).
   Sort the used symbols by frequency.  The deepest level's list is the
   symbols themselves; each level above merges the symbols with "packages"
   made of adjacent pairs of the list below.  Taking the 2n-2 lightest
   items of the top list, a symbol's code length is the number of times it
   is taken, counting items inside the chosen packages.  The taken items of
   every list form a prefix of it, and the symbols in a prefix are the
   lightest ones, so only the symbol-or-package flags need to be kept.
   At least two codes are always made, because a one-code Huffman table is
   refused by zlib's inflate for code lengths (and zlib's encoder does the
   same).  n <= 288, maxbits <= 15. */
static void xai__zl_huff_lengths(const unsigned long *freq, int n, int maxbits, unsigned char *lens)
{
    int sym[288], nsym = 0, count[15], level, i, m;
    unsigned long wa[2 * 288], wb[2 * 288], *cur = wa, *below = wb, *t;
    unsigned char leaf[15][2 * 288];

    memset(lens, 0, (size_t)n);
    for (i = 0; i < n; i++)
        if (freq[i]) {
            int j = nsym++; /* insertion sort by (frequency, symbol) */
            while (j > 0 && freq[sym[j - 1]] > freq[i]) {
                sym[j] = sym[j - 1];
                j--;
            }
            sym[j] = i;
        }
    if (nsym < 2) { /* zero or one symbol used: two 1-bit codes */
        int a = nsym ? sym[0] : 0;
        lens[a] = 1;
        lens[a == 0 ? 1 : 0] = 1;
        return;
    }

    for (i = 0; i < nsym; i++) {
        below[i] = freq[sym[i]];
        leaf[maxbits - 1][i] = 1;
    }
    count[maxbits - 1] = nsym;
    for (level = maxbits - 2; level >= 0; level--) {
        int npack = count[level + 1] / 2, a = 0, p = 0, k = 0;
        while (a < nsym || p < npack) {
            unsigned long pw = p < npack ? below[2 * p] + below[2 * p + 1] : 0;
            if (p >= npack || (a < nsym && freq[sym[a]] <= pw)) {
                cur[k] = freq[sym[a++]];
                leaf[level][k++] = 1;
            } else {
                cur[k] = pw;
                leaf[level][k++] = 0;
                p++;
            }
        }
        count[level] = k;
        t = cur, cur = below, below = t;
    }

    m = 2 * nsym - 2;
    for (level = 0; level < maxbits && m > 0; level++) {
        int nleaf = 0;
        for (i = 0; i < m; i++) nleaf += leaf[level][i];
        for (i = 0; i < nleaf; i++) lens[sym[i]]++;
        m = 2 * (m - nleaf); /* packages taken here came from 2 items each below */
    }
}

/* Canonical codes from code lengths (RFC 1951, 3.2.2), stored bit-reversed
   because Huffman codes are sent most significant bit first into the
   LSB-first bit stream. */
static void xai__zl_codes(const unsigned char *lens, int n, unsigned short *codes)
{
    int count[16], next[16], i, bits, code = 0;
    memset(count, 0, sizeof count);
    for (i = 0; i < n; i++) count[lens[i]]++;
    count[0] = 0;
    for (bits = 1; bits <= 15; bits++) {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    for (i = 0; i < n; i++) {
        int len = lens[i], c, r = 0, k;
        if (!len) continue;
        c = next[len]++;
        for (k = 0; k < len; k++) r = (r << 1) | ((c >> k) & 1);
        codes[i] = (unsigned short)r;
    }
}

/* Run-length codes the code lengths with 16 (copy the previous length 3-6
   times), 17 (3-10 zeros) and 18 (11-138 zeros), RFC 1951, 3.2.7.  The
   literal/length and distance lengths are coded as one sequence, which the
   RFC allows.  Returns the number of symbols (at most n). */
static int xai__zl_rle(const unsigned char *lens, int n, unsigned char *sym, unsigned char *extra)
{
    int i = 0, k = 0;
    while (i < n) {
        int v = lens[i], run = 1;
        while (i + run < n && lens[i + run] == v) run++;
        i += run;
        if (v == 0) {
            while (run >= 11) {
                int r = run < 138 ? run : 138;
                sym[k] = 18, extra[k++] = (unsigned char)(r - 11);
                run -= r;
            }
            if (run >= 3) {
                sym[k] = 17, extra[k++] = (unsigned char)(run - 3);
                run = 0;
            }
        } else {
            sym[k] = (unsigned char)v, extra[k++] = 0;
            run--;
            while (run >= 3) {
                int r = run < 6 ? run : 6;
                sym[k] = 16, extra[k++] = (unsigned char)(r - 3);
                run -= r;
            }
        }
        while (run-- > 0) sym[k] = (unsigned char)v, extra[k++] = 0;
    }
    return k;
}

static void xai__zl_write_syms(xai__zl *z, const unsigned char *llen, const unsigned short *lcode,
                               const unsigned char *dlen, const unsigned short *dcode)
{
    size_t i;
    for (i = 0; i < z->nsyms; i++) {
        const xai__zl_sym *s = &z->syms[i];
        if (s->dist == 0) {
            xai__zl_bits(&z->out, lcode[s->litlen], llen[s->litlen]);
        } else {
            int lc = xai__zl_len_code(s->litlen), dc = xai__zl_dist_code(s->dist);
            xai__zl_bits(&z->out, lcode[257 + lc], llen[257 + lc]);
            xai__zl_bits(&z->out, s->litlen - xai__zl_len_base[lc], xai__zl_len_extra[lc]);
            xai__zl_bits(&z->out, dcode[dc], dlen[dc]);
            xai__zl_bits(&z->out, s->dist - xai__zl_dist_base[dc], xai__zl_dist_extra[dc]);
        }
    }
    xai__zl_bits(&z->out, lcode[256], llen[256]); /* end of block */
}

static void xai__zl_write_stored(xai__zl *z, size_t start, size_t end, int final)
{
    do { /* a stored block holds at most 65535 bytes (RFC 1951, 3.2.4) */
        size_t len = end - start < 65535 ? end - start : 65535;
        xai__zl_bits(&z->out, final && start + len == end, 1);
        xai__zl_bits(&z->out, 0, 2);
        xai__zl_align(&z->out);
        xai__obuf_byte(&z->out, (unsigned)(len & 0xff)); /* LEN and NLEN, little-endian */
        xai__obuf_byte(&z->out, (unsigned)(len >> 8));
        xai__obuf_byte(&z->out, (unsigned)(~len & 0xff));
        xai__obuf_byte(&z->out, (unsigned)((~len >> 8) & 0xff));
        xai__obuf_bytes(&z->out, z->data + start, len);
        start += len;
    } while (start < end);
}

/* Writes the pending symbols, covering input bytes [block_start, end), as
   the smallest of the three block types. */
static void xai__zl_flush_block(xai__zl *z, size_t end, int final)
{
    unsigned long lfreq[XAI__ZL_NLIT], dfreq[XAI__ZL_NDIST], cfreq[19];
    unsigned char llen[XAI__ZL_NLIT], dlen[XAI__ZL_NDIST], clen[19];
    unsigned char flen[288], fdlen[XAI__ZL_NDIST];
    unsigned short lcode[288], dcode[XAI__ZL_NDIST], ccode[19];
    unsigned char seq[XAI__ZL_NLIT + XAI__ZL_NDIST], rle[XAI__ZL_NLIT + XAI__ZL_NDIST];
    unsigned char rle_extra[XAI__ZL_NLIT + XAI__ZL_NDIST];
    unsigned long extra = 0, dyn_bits, fix_bits, sto_bits;
    size_t i, raw = end - z->block_start, chunks;
    int hlit, hdist, hclen, nrle, k;

    memset(lfreq, 0, sizeof lfreq);
    memset(dfreq, 0, sizeof dfreq);
    memset(cfreq, 0, sizeof cfreq);
    for (i = 0; i < z->nsyms; i++) {
        const xai__zl_sym *s = &z->syms[i];
        if (s->dist == 0) {
            lfreq[s->litlen]++;
        } else {
            int lc = xai__zl_len_code(s->litlen), dc = xai__zl_dist_code(s->dist);
            lfreq[257 + lc]++;
            dfreq[dc]++;
            extra += xai__zl_len_extra[lc] + xai__zl_dist_extra[dc];
        }
    }
    lfreq[256] = 1;

    /* Dynamic block: trees, then the header that describes them (3.2.7). */
    xai__zl_huff_lengths(lfreq, XAI__ZL_NLIT, 15, llen);
    xai__zl_huff_lengths(dfreq, XAI__ZL_NDIST, 15, dlen);
    for (hlit = XAI__ZL_NLIT; hlit > 257 && llen[hlit - 1] == 0; hlit--) {}
    for (hdist = XAI__ZL_NDIST; hdist > 1 && dlen[hdist - 1] == 0; hdist--) {}
    memcpy(seq, llen, (size_t)hlit);
    memcpy(seq + hlit, dlen, (size_t)hdist);
    nrle = xai__zl_rle(seq, hlit + hdist, rle, rle_extra);
    for (k = 0; k < nrle; k++) cfreq[rle[k]]++;
    xai__zl_huff_lengths(cfreq, 19, 7, clen);
    for (hclen = 19; hclen > 4 && clen[xai__zl_clen_order[hclen - 1]] == 0; hclen--) {}

    dyn_bits = 3 + 5 + 5 + 4 + 3 * (unsigned long)hclen + extra;
    for (k = 0; k < 19; k++) dyn_bits += cfreq[k] * clen[k];
    for (k = 0; k < nrle; k++) dyn_bits += rle[k] == 16 ? 2 : rle[k] == 17 ? 3 : rle[k] == 18 ? 7 : 0;
    for (k = 0; k < XAI__ZL_NLIT; k++) dyn_bits += lfreq[k] * llen[k];
    for (k = 0; k < XAI__ZL_NDIST; k++) dyn_bits += dfreq[k] * dlen[k];

    /* Fixed block: the code of RFC 1951, 3.2.6.  All 288 lengths count:
       the unused symbols 286 and 287 shift the canonical 9-bit codes. */
    for (k = 0; k < 288; k++) flen[k] = (unsigned char)(k < 144 ? 8 : k < 256 ? 9 : k < 280 ? 7 : 8);
    for (k = 0; k < XAI__ZL_NDIST; k++) fdlen[k] = 5;
    fix_bits = 3 + extra;
    for (k = 0; k < XAI__ZL_NLIT; k++) fix_bits += lfreq[k] * flen[k];
    for (k = 0; k < XAI__ZL_NDIST; k++) fix_bits += dfreq[k] * 5;

    /* Stored: 3 header bits, padding to a byte, LEN and NLEN, the bytes. */
    chunks = raw == 0 ? 1 : (raw + 65534) / 65535;
    sto_bits = 3 + (unsigned long)((8 - (z->out.nbits + 3) % 8) % 8) + 32 + 40 * (unsigned long)(chunks - 1) +
               8 * (unsigned long)raw;

    if (sto_bits <= fix_bits && sto_bits <= dyn_bits) {
        xai__zl_write_stored(z, z->block_start, end, final);
    } else if (fix_bits <= dyn_bits) {
        xai__zl_codes(flen, 288, lcode);
        xai__zl_codes(fdlen, XAI__ZL_NDIST, dcode);
        xai__zl_bits(&z->out, (unsigned long)final, 1);
        xai__zl_bits(&z->out, 1, 2);
        xai__zl_write_syms(z, flen, lcode, fdlen, dcode);
    } else {
        xai__zl_codes(llen, XAI__ZL_NLIT, lcode);
        xai__zl_codes(dlen, XAI__ZL_NDIST, dcode);
        xai__zl_codes(clen, 19, ccode);
        xai__zl_bits(&z->out, (unsigned long)final, 1);
        xai__zl_bits(&z->out, 2, 2);
        xai__zl_bits(&z->out, (unsigned long)(hlit - 257), 5);
        xai__zl_bits(&z->out, (unsigned long)(hdist - 1), 5);
        xai__zl_bits(&z->out, (unsigned long)(hclen - 4), 4);
        for (k = 0; k < hclen; k++) xai__zl_bits(&z->out, clen[xai__zl_clen_order[k]], 3);
        for (k = 0; k < nrle; k++) {
            int s = rle[k];
            xai__zl_bits(&z->out, ccode[s], clen[s]);
            if (s >= 16) xai__zl_bits(&z->out, rle_extra[k], s == 16 ? 2 : s == 17 ? 3 : 7);
        }
        xai__zl_write_syms(z, llen, lcode, dlen, dcode);
    }
    z->nsyms = 0;
    z->block_start = end;
}

static void xai__zl_add(xai__zl *z, unsigned litlen, unsigned dist, size_t end)
{
    z->syms[z->nsyms].litlen = (unsigned short)litlen;
    z->syms[z->nsyms].dist = (unsigned short)dist;
    if (++z->nsyms == XAI__ZL_BLOCK) xai__zl_flush_block(z, end, 0);
}

static unsigned xai__zl_hash(const unsigned char *p)
{
    unsigned long v = ((unsigned long)p[0] << 16) | ((unsigned long)p[1] << 8) | p[2];
    return (unsigned)(((v * 2654435761UL) & 0xffffffffUL) >> (32 - XAI__ZL_HBITS));
}

static void xai__zl_insert(xai__zl *z, size_t pos)
{
    unsigned h;
    if (pos + 3 > z->n) return;
    h = xai__zl_hash(z->data + pos);
    z->prev[pos & (XAI__ZL_WSIZE - 1)] = z->head[h];
    z->head[h] = pos + 1;
}

/* Longest match for the bytes at pos among earlier positions with the
   same hash, if longer than beat (the match the caller already has).
   pos itself must not be inserted yet.  Returns the length, or 0 if no
   usable match beats beat, and sets *dist. */
static size_t xai__zl_longest(const xai__zl *z, size_t pos, size_t beat, size_t *dist)
{
    const unsigned char *d = z->data, *cur = d + pos;
    size_t maxlen = z->n - pos, cand, best = beat > z->min_match - 1 ? beat : z->min_match - 1;
    int chain = beat >= XAI__ZL_GOOD ? XAI__ZL_CHAIN / 4 : XAI__ZL_CHAIN;
    *dist = 0;
    if (maxlen > XAI__ZL_MAXMATCH) maxlen = XAI__ZL_MAXMATCH;
    if (maxlen < 3 || best >= maxlen) return 0;
    cand = z->head[xai__zl_hash(cur)];
    while (cand != 0 && chain-- > 0) {
        size_t c = cand - 1, len = 0, next;
        /* Out of the window: stop.  This also makes prev[] safe: its slot
           for c can only have been reused by a position 32768 later. */
        if (pos - c > XAI__ZL_WSIZE) break;
        if (d[c + best] == cur[best]) { /* could it be longer than the best? */
            while (len < maxlen && d[c + len] == cur[len]) len++;
            if (len > best) {
                best = len;
                *dist = pos - c;
                if (len >= XAI__ZL_NICE || len >= maxlen) break;
            }
        }
        next = z->prev[c & (XAI__ZL_WSIZE - 1)];
        if (next >= cand) break;
        cand = next;
    }
    if (*dist == 0 || (best == 3 && *dist > XAI__ZL_TOOFAR)) return 0; /* *dist set: best >= min_match */
    return best;
}

static void xai__zl_lz77(xai__zl *z)
{
    size_t pos = 0, len = 0, dist = 0, i;
    int have = 0; /* len/dist for pos were found by the previous look-ahead */
    while (pos < z->n) {
        if (!have) len = xai__zl_longest(z, pos, 0, &dist);
        have = 0;
        xai__zl_insert(z, pos);
        if (len > 0 && len < XAI__ZL_LAZY && pos + 1 < z->n) {
            size_t dist2, len2 = xai__zl_longest(z, pos + 1, len, &dist2);
            if (len2 > len) { /* better match one byte on: send a literal */
                xai__zl_add(z, z->data[pos], 0, pos + 1);
                pos++;
                len = len2, dist = dist2, have = 1;
                continue;
            }
        }
        if (len > 0) {
            xai__zl_add(z, (unsigned)len, (unsigned)dist, pos + len);
            for (i = 1; i < len; i++) xai__zl_insert(z, pos + i);
            pos += len;
        } else {
            xai__zl_add(z, z->data[pos], 0, pos + 1);
            pos++;
        }
    }
    xai__zl_flush_block(z, z->n, 1);
}

/* Compresses n bytes into a zlib stream: 2-byte header, DEFLATE blocks,
   Adler-32 of the data (RFC 1950, 2.2).  Matches shorter than min_match
   (3..258) are not used: 3 suits most data; 6 is zlib's Z_FILTERED
   strategy, which libpng uses because short matches in filtered image
   rows cost more bits than the literals they replace.  Returns a buffer
   to release with XAI_FREE, or NULL with the reason set. */
static unsigned char *xai__zlib_compress(const unsigned char *data, size_t n, int min_match, size_t *out_len)
{
    xai__zl z;
    if (!out_len || (!data && n)) {
        xai__fail(XAI_ERR_ARG, "zlib: bad arguments");
        return NULL;
    }
    *out_len = 0;
    memset(&z, 0, sizeof z);
    z.data = data;
    z.n = n;
    z.min_match = min_match < 3 ? 3 : min_match > XAI__ZL_MAXMATCH ? XAI__ZL_MAXMATCH : (size_t)min_match;
    z.head = (size_t *)XAI_MALLOC(((size_t)1 << XAI__ZL_HBITS) * sizeof(size_t));
    z.prev = (size_t *)XAI_MALLOC(XAI__ZL_WSIZE * sizeof(size_t));
    z.syms = (xai__zl_sym *)XAI_MALLOC(XAI__ZL_BLOCK * sizeof(xai__zl_sym));
    if (z.head && z.prev && z.syms) {
        memset(z.head, 0, ((size_t)1 << XAI__ZL_HBITS) * sizeof(size_t));
        memset(z.prev, 0, XAI__ZL_WSIZE * sizeof(size_t));
        /* CMF 0x78: method 8 (deflate), 32 KiB window.  FLG 0x9c: no
           dictionary, level "default", and CMF*256 + FLG divisible by 31. */
        xai__obuf_byte(&z.out, 0x78);
        xai__obuf_byte(&z.out, 0x9c);
        xai__zl_lz77(&z);
        xai__zl_align(&z.out);
        xai__obuf_be32(&z.out, xai__adler32(1, data, n));
    } else {
        z.out.failed = 1;
    }
    XAI_FREE(z.head);
    XAI_FREE(z.prev);
    XAI_FREE(z.syms);
    if (z.out.failed) {
        XAI_FREE(z.out.data);
        xai__fail(XAI_ERR_MEMORY, "zlib: out of memory compressing %lu bytes", (unsigned long)n);
        return NULL;
    }
    *out_len = z.out.len;
    return z.out.data;
}

/* ---- PNG encoder ---------------------------------------------------------- */

/* PNG spec 9.4: the neighbour (left a, above b, upper-left c) nearest to a+b-c. */
static int xai__png_paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

static void xai__png_chunk(xai__obuf *b, const char *type, const unsigned char *data, size_t len)
{
    unsigned long crc = xai__crc32(0, (const unsigned char *)type, 4);
    crc = xai__crc32(crc, data, len); /* the CRC covers type and data (PNG spec 5.3) */
    xai__obuf_be32(b, (unsigned long)len);
    xai__obuf_bytes(b, type, 4);
    xai__obuf_bytes(b, data, len);
    xai__obuf_be32(b, crc);
}

/* 8-bit PNG, colour type by comp: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
   Returns XAI_OK and the file in *out (release with XAI_FREE). */
static int xai__png_encode(const unsigned char *pixels, int w, int h, int comp, unsigned char **out,
                           size_t *out_len)
{
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    static const unsigned char color_type[5] = {0, 0, 4, 2, 6};
    const size_t idat_max = (size_t)1 << 20; /* chunk lengths must stay below 2^31 */
    unsigned char ihdr[13], *raw, *cand, *z;
    size_t stride, zlen, at;
    xai__obuf png;
    int y, f, rc;

    *out = NULL;
    *out_len = 0;
    if (comp < 1 || comp > 4) return xai__fail(XAI_ERR_ARG, "png: comp must be 1..4, not %d", comp);
    rc = xai__codec_check(pixels, w, h, comp, "png");
    if (rc != XAI_OK) return rc;
    stride = (size_t)w * (size_t)comp;
    if (stride > (size_t)-1 / 5) return xai__fail(XAI_ERR_LIMIT, "png: rows too long");

    /* Filter every row (PNG spec 9), each row preceded by its filter type.
       Choice per row as libpng does and the spec suggests (12.8): compute
       all five filters and keep the one whose bytes, read as signed, have
       the smallest sum of magnitudes; ties go to the lower type. */
    raw = (unsigned char *)XAI_MALLOC((size_t)h * (stride + 1));
    cand = (unsigned char *)XAI_MALLOC(5 * stride);
    if (!raw || !cand) {
        XAI_FREE(raw);
        XAI_FREE(cand);
        return xai__fail(XAI_ERR_MEMORY, "png: out of memory");
    }
    for (y = 0; y < h; y++) {
        const unsigned char *row = pixels + (size_t)y * stride;
        const unsigned char *up = y > 0 ? row - stride : NULL; /* row 0 has zeros above */
        unsigned long best_sum = 0;
        int best = 0;
        size_t i;
        for (i = 0; i < stride; i++) {
            int a = i >= (size_t)comp ? row[i - (size_t)comp] : 0;
            int b = up ? up[i] : 0;
            int c = up && i >= (size_t)comp ? up[i - (size_t)comp] : 0;
            cand[i] = row[i];                                                        /* None */
            cand[stride + i] = (unsigned char)(row[i] - a);                           /* Sub */
            cand[2 * stride + i] = (unsigned char)(row[i] - b);                       /* Up */
            cand[3 * stride + i] = (unsigned char)(row[i] - ((a + b) >> 1));          /* Average */
            cand[4 * stride + i] = (unsigned char)(row[i] - xai__png_paeth(a, b, c));  /* Paeth */
        }
        for (f = 0; f < 5; f++) {
            unsigned long sum = 0;
            for (i = 0; i < stride; i++) {
                int v = cand[(size_t)f * stride + i];
                sum += (unsigned long)(v < 128 ? v : 256 - v);
            }
            if (f == 0 || sum < best_sum) best_sum = sum, best = f;
        }
        raw[(size_t)y * (stride + 1)] = (unsigned char)best;
        memcpy(raw + (size_t)y * (stride + 1) + 1, cand + (size_t)best * stride, stride);
    }
    XAI_FREE(cand);
    z = xai__zlib_compress(raw, (size_t)h * (stride + 1), 6, &zlen);
    XAI_FREE(raw);
    if (!z) return XAI_ERR_MEMORY; /* reason set by the compressor */

    /* IHDR (PNG spec 11.2.2): size, bit depth 8, colour type, deflate,
       adaptive filtering, no interlace. */
    ihdr[0] = (unsigned char)(w >> 24), ihdr[1] = (unsigned char)(w >> 16);
    ihdr[2] = (unsigned char)(w >> 8), ihdr[3] = (unsigned char)w;
    ihdr[4] = (unsigned char)(h >> 24), ihdr[5] = (unsigned char)(h >> 16);
    ihdr[6] = (unsigned char)(h >> 8), ihdr[7] = (unsigned char)h;
    ihdr[8] = 8;
    ihdr[9] = color_type[comp];
    ihdr[10] = ihdr[11] = ihdr[12] = 0;

    memset(&png, 0, sizeof png);
    xai__obuf_reserve(&png, 8 + 25 + zlen + 12 * (zlen / idat_max + 1) + 12);
    xai__obuf_bytes(&png, signature, 8);
    xai__png_chunk(&png, "IHDR", ihdr, 13);
    at = 0;
    do {
        size_t len = zlen - at < idat_max ? zlen - at : idat_max;
        xai__png_chunk(&png, "IDAT", z + at, len);
        at += len;
    } while (at < zlen);
    xai__png_chunk(&png, "IEND", NULL, 0);
    XAI_FREE(z);
    if (png.failed) {
        XAI_FREE(png.data);
        return xai__fail(XAI_ERR_MEMORY, "png: out of memory");
    }
    *out = png.data;
    *out_len = png.len;
    return XAI_OK;
}

XAIDEF unsigned char *xai_png_encode(const unsigned char *pixels, int w, int h, int comp, size_t *out_len)
{
    unsigned char *png;
    size_t len;
    if (!out_len) {
        xai__fail(XAI_ERR_ARG, "png: out_len is NULL");
        return NULL;
    }
    *out_len = 0;
    if (xai__png_encode(pixels, w, h, comp, &png, &len) != XAI_OK) return NULL;
    *out_len = len;
    return png;
}

XAIDEF int xai_png_write(const char *path, const unsigned char *pixels, int w, int h, int comp)
{
    unsigned char *png;
    size_t len;
    int rc;
    if (!path) return xai__fail(XAI_ERR_ARG, "png: path is NULL");
    rc = xai__png_encode(pixels, w, h, comp, &png, &len);
    if (rc != XAI_OK) return rc;
    rc = xai__write_file(path, png, len);
    XAI_FREE(png);
    return rc;
}

/* ---- baseline JPEG encoder (ITU T.81, JFIF 1.02) ---------------------------

   Sequential baseline DCT, Huffman tables of Annex K.3, quantisation
   tables of Annex K.1/K.2 scaled by quality as IJG libjpeg does.  Colour
   images are converted to YCbCr (JFIF) and the chroma is subsampled 2x2
   (4:2:0, libjpeg cjpeg's default): one MCU is 16x16 pixels, coded as four
   Y blocks, one Cb and one Cr block.  Grey images have one component and
   8x8 MCUs.  Blocks that stick out of the image repeat its edge pixels. */

/* Zigzag order (T.81 figure A.6): the natural index of the k-th coefficient. */
static const unsigned char xai__jpg_zigzag[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* Annex K, tables K.1 (luminance) and K.2 (chrominance), natural order. */
static const unsigned char xai__jpg_base_q[2][64] = {
    {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
     14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
     18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99},
    {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
     99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99}};

/* Annex K.3: number of codes of each length 1..16, then the symbols. */
static const unsigned char xai__jpg_dc_bits[2][16] = {{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
                                                      {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}};
static const unsigned char xai__jpg_dc_vals[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const unsigned char xai__jpg_ac_bits[2][16] = {{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d},
                                                      {0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}};
static const unsigned char xai__jpg_ac_vals[2][162] = {
    {0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
     0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33,
     0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34,
     0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55,
     0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76,
     0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
     0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5,
     0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
     0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1,
     0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa},
    {0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13,
     0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62,
     0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29,
     0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54,
     0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
     0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
     0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3,
     0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2,
     0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
     0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}};

typedef struct {
    xai__obuf out;
    double basis[8][8];        /* basis[u][x] = C(u)/2 cos((2x+1)u pi/16), T.81 A.3.3 */
    unsigned char q[2][64];    /* quantisation tables, natural order: 0 luma, 1 chroma */
    unsigned short code[4][256];
    unsigned char size[4][256]; /* Huffman codes: 0 DC luma, 1 AC luma, 2 DC chroma, 3 AC chroma */
} xai__jpg;

/* Huffman codes from a bits/values list (T.81 Annex C): codes of one
   length are consecutive, and the next length starts at twice the next. */
static void xai__jpg_huff(xai__jpg *j, int t, const unsigned char *bits, const unsigned char *vals)
{
    unsigned code = 0;
    int len, i, k = 0;
    for (len = 1; len <= 16; len++) {
        for (i = 0; i < bits[len - 1]; i++, k++) {
            j->code[t][vals[k]] = (unsigned short)code++;
            j->size[t][vals[k]] = (unsigned char)len;
        }
        code <<= 1;
    }
}

/* Entropy-coded data is packed from the most significant bit (T.81 F.1.2.3)
   and every 0xFF byte is followed by a stuffed 0x00 (B.1.1.5).  n <= 16. */
static void xai__jpg_bits(xai__obuf *b, unsigned long value, int n)
{
    b->bits = (b->bits << n) | (value & ((1UL << n) - 1));
    b->nbits += n;
    while (b->nbits >= 8) {
        unsigned c = (unsigned)(b->bits >> (b->nbits - 8)) & 0xff;
        xai__obuf_byte(b, c);
        if (c == 0xff) xai__obuf_byte(b, 0);
        b->nbits -= 8;
    }
    b->bits &= (1UL << b->nbits) - 1;
}

/* Magnitude category of v (T.81 F.1.2.1) and the bits that follow it:
   v itself if positive, v-1 in the low bits if negative. */
static int xai__jpg_category(int v, unsigned long *bits)
{
    int a = v < 0 ? -v : v, s = 0;
    while (a) s++, a >>= 1;
    *bits = (unsigned long)(v < 0 ? v - 1 : v) & ((1UL << s) - 1);
    return s;
}

/* One 8x8 block of level-shifted samples: forward DCT, quantisation, and
   Huffman coding of the DC difference and the zigzag AC run/size pairs
   (T.81 F.1.2).  tbl is 0 for luma and 1 for chroma. */
static void xai__jpg_block(xai__jpg *j, const double in[64], int tbl, int *dc_pred)
{
    const unsigned short *dcc = j->code[2 * tbl], *acc = j->code[2 * tbl + 1];
    const unsigned char *dcs = j->size[2 * tbl], *acs = j->size[2 * tbl + 1];
    double rows[64], coef[64];
    int qc[64], x, y, u, v, k, run, s;
    unsigned long bits;

    for (y = 0; y < 8; y++) /* 1-D DCT of each row, then of each column */
        for (u = 0; u < 8; u++) {
            double sum = 0;
            for (x = 0; x < 8; x++) sum += in[y * 8 + x] * j->basis[u][x];
            rows[y * 8 + u] = sum;
        }
    for (u = 0; u < 8; u++)
        for (v = 0; v < 8; v++) {
            double sum = 0;
            for (y = 0; y < 8; y++) sum += rows[y * 8 + u] * j->basis[v][y];
            coef[v * 8 + u] = sum;
        }
    /* Round to nearest, halves away from zero.  Samples in -128..127 keep
       every DC difference within category 11 and AC value within 10. */
    for (k = 0; k < 64; k++) {
        double t = coef[xai__jpg_zigzag[k]] / j->q[tbl][xai__jpg_zigzag[k]];
        qc[k] = (int)(t < 0 ? t - 0.5 : t + 0.5);
    }

    s = xai__jpg_category(qc[0] - *dc_pred, &bits);
    *dc_pred = qc[0];
    xai__jpg_bits(&j->out, dcc[s], dcs[s]);
    xai__jpg_bits(&j->out, bits, s);
    run = 0;
    for (k = 1; k < 64; k++) {
        if (qc[k] == 0) {
            run++;
            continue;
        }
        for (; run > 15; run -= 16) xai__jpg_bits(&j->out, acc[0xf0], acs[0xf0]); /* ZRL: 16 zeros */
        s = xai__jpg_category(qc[k], &bits);
        xai__jpg_bits(&j->out, acc[(run << 4) | s], acs[(run << 4) | s]);
        xai__jpg_bits(&j->out, bits, s);
        run = 0;
    }
    if (run > 0) xai__jpg_bits(&j->out, acc[0x00], acs[0x00]); /* EOB */
}

static void xai__jpg_marker(xai__obuf *b, unsigned marker, unsigned long seglen)
{
    xai__obuf_byte(b, 0xff);
    xai__obuf_byte(b, marker);
    xai__obuf_be16(b, seglen); /* the length counts itself, not the marker */
}

/* Quality 1..100 (clamped) as in libjpeg's jpeg_quality_scaling.  Grey
   images (comp 1) and RGB (comp 3) only.  Returns XAI_OK and the file in
   *out (release with XAI_FREE). */
static int xai__jpeg_encode(const unsigned char *pixels, int w, int h, int comp, int quality,
                            unsigned char **out, size_t *out_len)
{
    static const unsigned char jfif[14] = {'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
    xai__jpg *j;
    int nc = comp == 3 ? 3 : 1, scale, t, i, k, mx, my, x, y, rc;
    int pred[3] = {0, 0, 0};

    *out = NULL;
    *out_len = 0;
    if (comp != 1 && comp != 3) return xai__fail(XAI_ERR_ARG, "jpeg: comp must be 1 or 3, not %d", comp);
    rc = xai__codec_check(pixels, w, h, comp, "jpeg");
    if (rc != XAI_OK) return rc;
    if (w > 65535 || h > 65535) /* SOF stores 16-bit sizes */
        return xai__fail(XAI_ERR_LIMIT, "jpeg: image %dx%d is larger than 65535", w, h);
    j = (xai__jpg *)XAI_MALLOC(sizeof *j);
    if (!j) return xai__fail(XAI_ERR_MEMORY, "jpeg: out of memory");
    memset(j, 0, sizeof *j);

    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
    for (t = 0; t < 2; t++)
        for (k = 0; k < 64; k++) {
            int v = (xai__jpg_base_q[t][k] * scale + 50) / 100;
            j->q[t][k] = (unsigned char)(v < 1 ? 1 : v > 255 ? 255 : v); /* 8-bit tables: baseline */
        }
    for (t = 0; t < 2; t++) {
        xai__jpg_huff(j, 2 * t, xai__jpg_dc_bits[t], xai__jpg_dc_vals);
        xai__jpg_huff(j, 2 * t + 1, xai__jpg_ac_bits[t], xai__jpg_ac_vals[t]);
    }
    for (k = 0; k < 8; k++)
        for (i = 0; i < 8; i++)
            j->basis[k][i] = (k == 0 ? sqrt(0.5) : 1.0) / 2 * cos((2 * i + 1) * k * 3.14159265358979323846 / 16);

    /* Headers: SOI, APP0 (JFIF), DQT, SOF0, DHT, SOS (T.81 B.2). */
    xai__obuf_byte(&j->out, 0xff);
    xai__obuf_byte(&j->out, 0xd8);
    xai__jpg_marker(&j->out, 0xe0, 2 + sizeof jfif); /* JFIF 1.01, aspect 1:1, no thumbnail */
    xai__obuf_bytes(&j->out, jfif, sizeof jfif);
    xai__jpg_marker(&j->out, 0xdb, 2 + 65 * (unsigned long)(nc == 3 ? 2 : 1));
    for (t = 0; t < (nc == 3 ? 2 : 1); t++) {
        xai__obuf_byte(&j->out, (unsigned)t); /* 8-bit entries, table t */
        for (k = 0; k < 64; k++) xai__obuf_byte(&j->out, j->q[t][xai__jpg_zigzag[k]]);
    }
    xai__jpg_marker(&j->out, 0xc0, 8 + 3 * (unsigned long)nc);
    xai__obuf_byte(&j->out, 8); /* sample precision */
    xai__obuf_be16(&j->out, (unsigned long)h);
    xai__obuf_be16(&j->out, (unsigned long)w);
    xai__obuf_byte(&j->out, (unsigned)nc);
    for (i = 0; i < nc; i++) { /* id, sampling factors H<<4|V, quantisation table */
        xai__obuf_byte(&j->out, (unsigned)(i + 1));
        xai__obuf_byte(&j->out, nc == 3 && i == 0 ? 0x22 : 0x11);
        xai__obuf_byte(&j->out, i == 0 ? 0 : 1);
    }
    for (t = 0; t < (nc == 3 ? 2 : 1); t++) {
        xai__jpg_marker(&j->out, 0xc4, 2 + 17 + 12 + 17 + 162);
        xai__obuf_byte(&j->out, (unsigned)t); /* DC table t */
        xai__obuf_bytes(&j->out, xai__jpg_dc_bits[t], 16);
        xai__obuf_bytes(&j->out, xai__jpg_dc_vals, 12);
        xai__obuf_byte(&j->out, 0x10 | (unsigned)t); /* AC table t */
        xai__obuf_bytes(&j->out, xai__jpg_ac_bits[t], 16);
        xai__obuf_bytes(&j->out, xai__jpg_ac_vals[t], 162);
    }
    xai__jpg_marker(&j->out, 0xda, 6 + 2 * (unsigned long)nc);
    xai__obuf_byte(&j->out, (unsigned)nc);
    for (i = 0; i < nc; i++) { /* id, DC table << 4 | AC table */
        xai__obuf_byte(&j->out, (unsigned)(i + 1));
        xai__obuf_byte(&j->out, i == 0 ? 0x00 : 0x11);
    }
    xai__obuf_byte(&j->out, 0);  /* spectral selection 0..63 */
    xai__obuf_byte(&j->out, 63);
    xai__obuf_byte(&j->out, 0);  /* no successive approximation */

    if (nc == 1) {
        for (my = 0; my < h; my += 8)
            for (mx = 0; mx < w; mx += 8) {
                double blk[64];
                for (y = 0; y < 8; y++)
                    for (x = 0; x < 8; x++) {
                        int px = mx + x < w ? mx + x : w - 1, py = my + y < h ? my + y : h - 1;
                        blk[y * 8 + x] = pixels[(size_t)py * (size_t)w + (size_t)px] - 128.0;
                    }
                xai__jpg_block(j, blk, 0, &pred[0]);
            }
    } else {
        for (my = 0; my < h; my += 16)
            for (mx = 0; mx < w; mx += 16) {
                double Y[4][64], cb[64], cr[64];
                memset(cb, 0, sizeof cb);
                memset(cr, 0, sizeof cr);
                for (y = 0; y < 16; y++)
                    for (x = 0; x < 16; x++) {
                        int px = mx + x < w ? mx + x : w - 1, py = my + y < h ? my + y : h - 1;
                        const unsigned char *p = pixels + ((size_t)py * (size_t)w + (size_t)px) * 3;
                        double r = p[0], g = p[1], bl = p[2];
                        /* JFIF YCbCr; the +128 of Cb/Cr cancels the level shift */
                        Y[(y >> 3) * 2 + (x >> 3)][(y & 7) * 8 + (x & 7)] =
                            0.299 * r + 0.587 * g + 0.114 * bl - 128.0;
                        /* 4:2:0: each chroma sample is the mean of a 2x2 square */
                        cb[(y >> 1) * 8 + (x >> 1)] += 0.25 * (-0.168736 * r - 0.331264 * g + 0.5 * bl);
                        cr[(y >> 1) * 8 + (x >> 1)] += 0.25 * (0.5 * r - 0.418688 * g - 0.081312 * bl);
                    }
                for (k = 0; k < 4; k++) xai__jpg_block(j, Y[k], 0, &pred[0]);
                xai__jpg_block(j, cb, 1, &pred[1]);
                xai__jpg_block(j, cr, 1, &pred[2]);
            }
    }
    if (j->out.nbits > 0) xai__jpg_bits(&j->out, 0x7f, 8 - j->out.nbits); /* pad with 1s (F.1.2.3) */
    xai__obuf_byte(&j->out, 0xff);
    xai__obuf_byte(&j->out, 0xd9); /* EOI */

    if (j->out.failed) {
        XAI_FREE(j->out.data);
        XAI_FREE(j);
        return xai__fail(XAI_ERR_MEMORY, "jpeg: out of memory");
    }
    *out = j->out.data;
    *out_len = j->out.len;
    XAI_FREE(j);
    return XAI_OK;
}

XAIDEF unsigned char *xai_jpeg_encode(const unsigned char *pixels, int w, int h, int comp, int quality,
                                      size_t *out_len)
{
    unsigned char *jpg;
    size_t len;
    if (!out_len) {
        xai__fail(XAI_ERR_ARG, "jpeg: out_len is NULL");
        return NULL;
    }
    *out_len = 0;
    if (xai__jpeg_encode(pixels, w, h, comp, quality, &jpg, &len) != XAI_OK) return NULL;
    *out_len = len;
    return jpg;
}

XAIDEF int xai_jpeg_write(const char *path, const unsigned char *pixels, int w, int h, int comp, int quality)
{
    unsigned char *jpg;
    size_t len;
    int rc;
    if (!path) return xai__fail(XAI_ERR_ARG, "jpeg: path is NULL");
    rc = xai__jpeg_encode(pixels, w, h, comp, quality, &jpg, &len);
    if (rc != XAI_OK) return rc;
    rc = xai__write_file(path, jpg, len);
    XAI_FREE(jpg);
    return rc;
}

/* ---- entropy of the pixel values ------------------------------------------ */

static int xai__cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Shannon entropy, in bits, of the distribution of pixel values, a value
   being the whole comp-byte tuple (an RGB colour is one symbol).  The
   tuples are packed into 32-bit keys and sorted, so equal values sit
   together; then H = -sum p log2 p over the runs.  Returns a negative
   value on failure, with the reason set. */
XAIDEF double xai_image_entropy(const unsigned char *pixels, int w, int h, int comp)
{
    size_t n, i, run;
    uint32_t *keys;
    double H = 0.0;
    if (comp < 1 || comp > 4) {
        xai__fail(XAI_ERR_ARG, "entropy: comp must be 1..4, not %d", comp);
        return -1.0;
    }
    if (xai__codec_check(pixels, w, h, comp, "entropy") != XAI_OK) return -1.0;
    n = (size_t)w * (size_t)h;
    if (n > (size_t)-1 / sizeof *keys) {
        xai__fail(XAI_ERR_LIMIT, "entropy: image too large");
        return -1.0;
    }
    keys = (uint32_t *)XAI_MALLOC(n * sizeof *keys);
    if (!keys) {
        xai__fail(XAI_ERR_MEMORY, "entropy: out of memory");
        return -1.0;
    }
    for (i = 0; i < n; i++) {
        uint32_t key = 0;
        int c;
        for (c = 0; c < comp; c++) key = (key << 8) | pixels[i * (size_t)comp + (size_t)c];
        keys[i] = key;
    }
    qsort(keys, n, sizeof *keys, xai__cmp_u32);
    for (i = 0; i < n; i += run) {
        double p;
        for (run = 1; i + run < n && keys[i + run] == keys[i]; run++) {}
        p = (double)run / (double)n;
        H -= p * log2(p);
    }
    XAI_FREE(keys);
    return H;
}

XAIDEF int xai_image_write_png(const char *path, const xai_image *img)
{
    unsigned char *px = xai_image_to_u8(img);
    int rc;
    if (!px) return XAI_ERR_MEMORY;
    rc = xai_png_write(path, px, img->w, img->h, img->c);
    XAI_FREE(px);
    return rc;
}

XAIDEF int xai_image_write_jpeg(const char *path, const xai_image *img, int quality)
{
    unsigned char *px = xai_image_to_u8(img);
    int rc;
    if (!px) return XAI_ERR_MEMORY;
    rc = xai_jpeg_write(path, px, img->w, img->h, img->c, quality);
    XAI_FREE(px);
    return rc;
}

XAIDEF int xai_heatmap_complexity(const float *heat, int w, int h, int cmap, size_t *png_bytes, size_t *jpeg_bytes,
                                  double *entropy)
{
    xai_image pic;
    unsigned char *px, *file;
    size_t len;
    int rc;
    if ((rc = xai_heatmap_render(heat, w, h, cmap, 0, &pic)) != XAI_OK) return rc;
    px = xai_image_to_u8(&pic);
    xai_image_free(&pic);
    if (!px) return XAI_ERR_MEMORY;
    if (png_bytes) {
        if ((file = xai_png_encode(px, w, h, 3, &len)) == NULL) rc = XAI_ERR_MEMORY;
        else { *png_bytes = len; XAI_FREE(file); }
    }
    if (jpeg_bytes && rc == XAI_OK) {
        if ((file = xai_jpeg_encode(px, w, h, 3, 90, &len)) == NULL) rc = XAI_ERR_MEMORY;
        else { *jpeg_bytes = len; XAI_FREE(file); }
    }
    if (entropy && rc == XAI_OK && (*entropy = xai_image_entropy(px, w, h, 3)) < 0) rc = XAI_ERR_MEMORY;
    XAI_FREE(px);
    return rc;
}

#else /* XAI_NO_IMAGE_WRITE */

static int xai__no_image_write(const char *what)
{
    return xai__fail(XAI_ERR_ARG, "%s: this build has no image encoders (XAI_NO_IMAGE_WRITE): write PNM or PFM", what);
}
XAIDEF unsigned char *xai_png_encode(const unsigned char *pixels, int w, int h, int comp, size_t *out_len)
{
    (void)pixels; (void)w; (void)h; (void)comp; (void)out_len;
    xai__no_image_write("PNG");
    return NULL;
}
XAIDEF int xai_png_write(const char *path, const unsigned char *pixels, int w, int h, int comp)
{
    (void)pixels; (void)w; (void)h; (void)comp;
    return xai__no_image_write(path);
}
XAIDEF unsigned char *xai_jpeg_encode(const unsigned char *pixels, int w, int h, int comp, int quality, size_t *out_len)
{
    (void)pixels; (void)w; (void)h; (void)comp; (void)quality; (void)out_len;
    xai__no_image_write("JPEG");
    return NULL;
}
XAIDEF int xai_jpeg_write(const char *path, const unsigned char *pixels, int w, int h, int comp, int quality)
{
    (void)pixels; (void)w; (void)h; (void)comp; (void)quality;
    return xai__no_image_write(path);
}
XAIDEF double xai_image_entropy(const unsigned char *pixels, int w, int h, int comp)
{
    (void)pixels; (void)w; (void)h; (void)comp;
    xai__no_image_write("entropy");
    return -1.0;
}
XAIDEF int xai_image_write_png(const char *path, const xai_image *img) { (void)img; return xai__no_image_write(path); }
XAIDEF int xai_image_write_jpeg(const char *path, const xai_image *img, int quality)
{
    (void)img;
    (void)quality;
    return xai__no_image_write(path);
}
XAIDEF int xai_heatmap_complexity(const float *heat, int w, int h, int cmap, size_t *png_bytes, size_t *jpeg_bytes,
                                  double *entropy)
{
    (void)heat; (void)w; (void)h; (void)cmap; (void)png_bytes; (void)jpeg_bytes; (void)entropy;
    return xai__no_image_write("heatmap complexity");
}

#endif /* XAI_NO_IMAGE_WRITE */

#endif /* XAI_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the xai.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in the spirit of increasing public trust and
confidence in open source software and the intended use of the software.
THIS SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
