/* .caffemodel files (protobuf wire format, V1 and V2 NetParameter): their weights loaded into the
   tiny net and into LeNet (cpb_net_load_weights: index, check every blob, finalize, copy). */
#include "fuzz.h"
#include "../../tools/caffe_pb.h"
#include "caffe_nets.h"

static void load_into(const char *prototxt, const uint8_t *data, size_t len)
{
    xai_net *net;
    fuzz_set_budget(len);
    if (!(net = cpb_net_from_prototxt(prototxt, strlen(prototxt), "deploy.prototxt", NULL))) {
        fprintf(stderr, "fuzz: the embedded prototxt: %s\n", cpb_failure_reason());
        abort();
    }
    cpb_reason[0] = 0;
    if (cpb_net_load_weights(net, data, len, "fuzz.caffemodel") != XAI_OK) fuzz_need_reason(cpb_failure_reason());
    else fuzz_run_net(net);
    xai_net_free(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    load_into(fuzz_tiny_prototxt, data, len);
    load_into(fuzz_lenet_prototxt, data, len);
    return 0;
}
