/* .xai model files (xai_net_load_memory): a file that loads must save to bytes that load again to
   the same bytes, and must run. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    xai_net *net, *again;
    unsigned char *a, *b;
    size_t na, nb;
    fuzz_set_budget(len);
    if (!(net = xai_net_load_memory(data, len, "fuzz.xai"))) {
        fuzz_need_reason(xai_failure_reason());
        return 0;
    }
    /* save(load(x)) is a fixed point: it loads, and saves to the same bytes */
    if (!(a = xai_net_save_memory(net, &na))) abort();
    fuzz_set_budget(na);
    if (!(again = xai_net_load_memory(a, na, "saved.xai"))) {
        fprintf(stderr, "fuzz: a loaded net, saved, does not load: %s\n", xai_failure_reason());
        abort();
    }
    if (!(b = xai_net_save_memory(again, &nb))) abort();
    if (na != nb || memcmp(a, b, na) != 0) {
        fprintf(stderr, "fuzz: save(load(save(load(x)))) differs from save(load(x))\n");
        abort();
    }
    free(a);
    free(b);
    xai_net_free(again);
    fuzz_run_net(net);
    xai_net_free(net);
    return 0;
}
