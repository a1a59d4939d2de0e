/* Class label lists (synset_words.txt, caffe2xai --labels): cpb_net_set_labels on a net with as
   many classes as the file has lines, and one more; labels that were taken survive a save and
   load of the model. */
#include "fuzz.h"
#include "../../tools/caffe_pb.h"

static void try_labels(const uint8_t *data, size_t len, int classes)
{
    xai_net *net = xai_net_new("labels"), *again;
    xai_layer_param fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    unsigned char *bytes;
    size_t n;
    int i;
    fc.num_output = classes;
    if (!net || xai_net_input(net, "data", 1, 1, 1) != XAI_OK || xai_net_add(net, "fc", &fc, "data", "fc") < 0 || xai_net_finalize(net) != XAI_OK)
        abort();
    cpb_reason[0] = 0;
    if (cpb_net_set_labels(net, (const char *)data, len, "fuzz.txt") != XAI_OK) {
        fuzz_need_reason(cpb_failure_reason());
        xai_net_free(net);
        return;
    }
    if (net->nlabel != classes) abort();
    if (!(bytes = xai_net_save_memory(net, &n))) abort();
    if (!(again = xai_net_load_memory(bytes, n, "labels.xai"))) {
        fprintf(stderr, "fuzz: labels taken, then the model does not load: %s\n", xai_failure_reason());
        abort();
    }
    for (i = 0; i < classes; i++)
        if (strcmp(net->label[i], again->label[i]) != 0) abort();
    free(bytes);
    xai_net_free(again);
    xai_net_free(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    size_t i, lines = 0;
    fuzz_set_budget(len);
    for (i = 0; i < len; i++) lines += data[i] == '\n';
    if (len && data[len - 1] != '\n') lines++;
    if (lines == 0 || lines > 4096) lines = 1;
    try_labels(data, len, (int)lines);
    try_labels(data, len, (int)lines + 1);
    return 0;
}
