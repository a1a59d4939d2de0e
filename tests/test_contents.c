/* The contents list at the top of xai.h is true (issue 16): every section it names has its header
   (a line "==== 5. layers" opening a comment), in the listed order, and every header is listed; the implementation starts
   with the utilities; the first layer begins within the first third of the file, so a student meets
   the algorithms before the machinery (the appendices come last). */
#include "test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static int line_of(const char *text, const char *at)
{
    int n = 1;
    for (; text < at; text++) n += *text == '\n';
    return n;
}

int main(void)
{
    size_t len;
    char *src = read_all("xai.h", &len), *contents, *end, *line, *impl;
    char names[32][64];
    int nnames = 0, i, headers = 0, total_lines;
    const char *prev = NULL, *h;
    if (!src) { printf("FAIL cannot read xai.h (run from the repository root)\n"); return 1; }
    total_lines = line_of(src, src + len);
    contents = strstr(src, "CONTENTS");
    end = contents ? strstr(contents, "*/") : NULL;
    CHECK(contents && end, "xai.h has a CONTENTS list in its opening comment");
    if (!contents || !end) { test_report(); return 1; }
    /* entries: "      5. layers    ..." and "      Appendix A: fast paths   ..." */
    for (line = strchr(contents, '\n'); line && line < end && nnames < 32; line = strchr(line + 1, '\n')) {
        const char *p = line + 1;
        char name[64];
        int k = 0;
        while (*p == ' ') p++;
        if (!((p[0] >= '1' && p[0] <= '9' && p[1] == '.') || !strncmp(p, "Appendix ", 9))) continue;
        /* the entry's name: up to a run of two spaces or the end of the line */
        while (p[k] && p[k] != '\n' && !(p[k] == ' ' && p[k + 1] == ' ') && k < 63) { name[k] = p[k]; k++; }
        name[k] = 0;
        memcpy(names[nnames++], name, sizeof name);
    }
    CHECK(nnames >= 11, "the contents list names %d sections (9 and two appendices expected)", nnames);
    impl = strstr(src, "#if defined(XAI_IMPLEMENTATION)");
    CHECK(impl != NULL, "xai.h has its implementation under #if defined(XAI_IMPLEMENTATION)");
    for (i = 0; i < nnames; i++) {
        char want[96];
        snprintf(want, sizeof want, "\n/* ==== %.63s ", names[i]);
        h = strstr(src, want);
        CHECK(h != NULL, "the contents list names '%s', xai.h has no header '/* ==== %s'", names[i], names[i]);
        if (!h) continue;
        CHECK(!prev || h > prev, "'%s' (line %d) comes after the section listed before it", names[i], line_of(src, h));
        CHECK(!impl || h > impl, "'%s' is in the implementation", names[i]);
        prev = h;
    }
    /* every header is listed */
    for (h = strstr(src, "\n/* ==== "); h; h = strstr(h + 1, "\n/* ==== ")) {
        int listed = 0;
        headers++;
        for (i = 0; i < nnames; i++) {
            size_t n = strlen(names[i]);
            if (!strncmp(h + 9, names[i], n) && h[9 + n] == ' ') listed = 1;
        }
        CHECK(listed, "the header at line %d is not in the contents list", line_of(src, h));
    }
    CHECK(headers == nnames, "%d headers, %d entries", headers, nnames);
    /* the implementation starts with the utilities, and the layers come within the first third */
    if (impl) {
        const char *first = strstr(impl, "\n/* ==== ");
        CHECK(first && !strncmp(first + 9, "1. utilities", 12), "the first section of the implementation is '1. utilities'");
    }
    h = strstr(src, "\n/* ==== 5. layers");
    CHECK(h != NULL, "xai.h has '5. layers'");
    if (h) {
        int at = line_of(src, h);
        CHECK(3 * at <= total_lines, "the layers begin at line %d of %d, within the first third", at, total_lines);
        printf("  the layers begin at line %d of %d\n", at, total_lines);
    }
    free(src);
    test_report();
    return test_failed != 0;
}
