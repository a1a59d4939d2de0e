/* Mean .binaryproto files (a BlobProto): cpb_read_blobproto, then the mean set on a net whose
   input it fits (cpb_net_set_mean: the mean image cropped to the input). */
#include "fuzz.h"
#include "../../tools/caffe_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    int c = 0, h = 0, w = 0;
    float *mean = NULL;
    xai_net *net;
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    fuzz_set_budget(len);
    cpb_reason[0] = 0;
    if (cpb_read_blobproto(data, len, "fuzz.binaryproto", &c, &h, &w, &mean) != XAI_OK) {
        fuzz_need_reason(cpb_failure_reason());
        if (mean) abort();
        return 0;
    }
    if (c <= 0 || h <= 0 || w <= 0 || !mean) abort();
    free(mean);
    if (c > 3) return 0;
    /* a net with an input no larger than the mean: the mean applies */
    net = xai_net_new("mean");
    fc.num_output = 2;
    if (!net || xai_net_input(net, "data", c, h < 5 ? h : 5, w < 4 ? w : 4) != XAI_OK || xai_net_add(net, "fc", &fc, "data", "fc") < 0 ||
        xai_net_finalize(net) != XAI_OK)
        abort();
    cpb_reason[0] = 0;
    if (cpb_net_set_mean(net, data, len, "fuzz.binaryproto") != XAI_OK) fuzz_need_reason(cpb_failure_reason());
    else if (!net->input_mean) abort();
    xai_net_free(net);
    return 0;
}
