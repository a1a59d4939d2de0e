/* Deploy .prototxt files (protobuf text format, V1 'layers' and V2 'layer'): the net they define
   (cpb_net_from_prototxt), with their own input size and with --input 3,8,8; a small net is then
   finalized and run. */
#include "fuzz.h"
#include "../../tools/caffe_pb.h"

static void build(const uint8_t *data, size_t len, const int *chw)
{
    xai_net *net;
    size_t params = 0;
    int i;
    fuzz_set_budget(len);
    cpb_reason[0] = 0;
    if (!(net = cpb_net_from_prototxt((const char *)data, len, "fuzz.prototxt", chw))) {
        fuzz_need_reason(cpb_failure_reason());
        return;
    }
    /* no caffemodel justifies the weights here: only small nets get them */
    for (i = 0; i < net->nlayer; i++) params += net->layer[i].weight_count + net->layer[i].bias_count;
    if (params <= ((size_t)1 << 18)) {
        fuzz_budget = (size_t)-1;
        if (xai_net_finalize(net) != XAI_OK) fuzz_need_reason(xai_failure_reason());
        else fuzz_run_net(net);
    }
    xai_net_free(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const int chw[3] = {3, 8, 8};
    build(data, len, NULL);
    build(data, len, chw);
    return 0;
}
