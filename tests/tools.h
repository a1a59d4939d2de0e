/* For the tests that run the command-line tools (test_aopc, test_complexity): a model and pictures
   to run them on, start a command, kill it at a chosen moment, compare the files it wrote.
   POSIX (fork, waitpid, kill).  Include after xai.h with XAI_IMPLEMENTATION. */
#ifndef XAI_TEST_TOOLS_H
#define XAI_TEST_TOOLS_H
#include "test.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_FN int run(const char *cmd) { return system(cmd); }

TEST_FN int count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    int n = 0, ch;
    if (!f) return 0;
    while ((ch = getc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* Starts cmd and kills it with SIGKILL once path has `lines` lines, after a further delay_us:
   wherever it is then (computing, writing a block, rewriting the file).  1 if it was killed,
   0 if it finished first. */
TEST_FN int kill_when(const char *cmd, const char *path, int lines, int delay_us)
{
    char full[4200];
    int status;
    pid_t pid;
    snprintf(full, sizeof full, "exec %s", cmd);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) return 0;
        if (count_lines(path) >= lines) {
            usleep((useconds_t)delay_us);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        }
        usleep(500);
    }
}

TEST_FN char *slurp(const char *path)
{
    size_t len;
    return (char *)test_read(path, &len);
}

TEST_FN int same_file(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = test_read(a, &la), *y = test_read(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x); free(y);
    return same;
}

/* The same lines in any order (curves written in different orders), and more than one. */
TEST_FN int test_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
TEST_FN int same_lines(const char *a, const char *b)
{
    char *ta = slurp(a), *tb = slurp(b), **la = NULL, **lb = NULL, *p;
    int na = 0, nb = 0, i, same;
    if (!ta || !tb) { free(ta); free(tb); return 0; }
    for (p = strtok(ta, "\n"); p; p = strtok(NULL, "\n")) { la = (char **)realloc(la, (size_t)(na + 1) * sizeof *la); la[na++] = p; }
    for (p = strtok(tb, "\n"); p; p = strtok(NULL, "\n")) { lb = (char **)realloc(lb, (size_t)(nb + 1) * sizeof *lb); lb[nb++] = p; }
    same = na == nb;
    if (same) {
        qsort(la, (size_t)na, sizeof *la, test_cmp_str);
        qsort(lb, (size_t)nb, sizeof *lb, test_cmp_str);
        for (i = 0; i < na; i++) if (strcmp(la[i], lb[i])) { same = 0; break; }
    }
    free(la); free(lb); free(ta); free(tb);
    return same && na > 1;
}
/* A small CNN on 24x24 colour pictures (conv 3x3, ReLU, max pool 3/2, fc 5; BGR, mean pixel,
   scale 0.01; weights from seed) as DIR/cnn.xai, and nimg pictures DIR/imgNN.ppm (24 to 26
   wide) listed in DIR/list.txt; textured adds a finer pattern (busier heatmaps).  Needs xai.h
   with its implementation included first. */
TEST_FN void test_cnn_fixture(const char *dir, int nimg, uint64_t seed, int textured)
{
    xai_net *net = xai_net_new("cnn");
    xai_layer_param c = xai_layer_defaults(XAI_CONVOLUTION), relu = xai_layer_defaults(XAI_RELU), pool = xai_layer_defaults(XAI_POOLING), fc = xai_layer_defaults(XAI_INNER_PRODUCT);
    char path[512], list[65536];
    int i, len = 0;
    c.num_output = 16; c.kernel_h = c.kernel_w = 3; c.pad_h = c.pad_w = 1;
    pool.kernel_h = pool.kernel_w = 3; pool.stride_h = pool.stride_w = 2;
    fc.num_output = 5;
    xai_net_input(net, "data", 3, 24, 24);
    xai_net_add(net, "conv1", &c, "data", "conv1");
    xai_net_add(net, "relu1", &relu, "conv1", "conv1");
    xai_net_add(net, "pool1", &pool, "conv1", "pool1");
    xai_net_add(net, "fc", &fc, "pool1", "fc");
    net->pre.channel_order = XAI_ORDER_BGR;
    net->pre.mean_kind = XAI_MEAN_PIXEL;
    net->pre.mean_pixel[0] = 100; net->pre.mean_pixel[1] = 110; net->pre.mean_pixel[2] = 120;
    net->pre.scale = 0.01f;
    free(net->input_mean); net->input_mean = NULL;
    net->finalized = 0;
    xai_net_finalize(net);
    xai_net_fill_random(net, seed);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/cnn.xai", dir);
    xai_net_save(net, path);
    for (i = 0; i < nimg; i++) {
        xai_image img;
        int k;
        xai_image_alloc(&img, 24 + i % 3, 24, 3);
        for (k = 0; k < img.w * img.h * 3; k++)
            img.data[k] = (float)((k * 7 + i * 31 + (k / 50) * i + (textured ? (k % 13) * (k % 5) : 0)) % 256);
        snprintf(path, sizeof path, "%s/img%02d.ppm", dir, i);
        xai_image_write_pnm(path, &img);
        xai_image_free(&img);
        len += snprintf(list + len, sizeof list - (size_t)len, "%s\n", path);
    }
    snprintf(path, sizeof path, "%s/list.txt", dir);
    test_write(path, list, (size_t)len);
    xai_net_free(net);
}
#endif
