/* The walkthrough (issue 10): bin/walkthrough's numbers against a computation by hand, and
   docs/WALKTHROUGH.md against xai.h and the program's output.  Run from the repository root after
   make (make test does both).

   The hand computation.  The network (examples/walkthrough.c): input x (1x4x4), conv 2x2 with
   w = [1 -1; 1 1], b = -1 -> z (3x3), ReLU -> a, MAX pool 2x2 stride 1 -> p (2x2), fc with
   v_0 = [2 -4 1 3], c_0 = 0, v_1 = [1 1 0 -1], c_1 = 1.  Worked on paper, every fraction checked
   exactly (rational arithmetic), independently of this program and of the library:
     z = [2 3 1; -1 -1 1; -2 -4 6], p = [3 3; 0 6] with switches a(0,1) a(0,1) a(1,0) a(2,2),
     f = (12, 1), c = 0.
     LRP-eps (eps = 0.01): R(pool) = p v_0 K with K = 12/12.01; a(0,1) collects 6K - 12K = -6K,
     a(2,2) 18K; at the input the two neurons give R = z_ij U with U1 = -6K/3.01 (conv(0,1),
     z = 3) and U2 = 18K/6.01 (conv(2,2), z = 6).
     LRP-alpha-beta (2, 1): fc z+ = 6 + 18 = 24, z- = -12: R(pool) = (6, -12, 0, 18); conv(0,1)
     R = -6, z+ = 4, z- = -1 (the bias); conv(2,2) R = 18, z+ = 8, z- = -2.
     Region perturbation (2x2 regions, constant 0): the scores after each step were computed by
     running the forward pass by hand on each perturbed input. */
#include "test.h"
#include <ctype.h>
#include <time.h>

#define K (12.0 / 12.01)
#define U1 (-6.0 * K / 3.01)
#define U2 (18.0 * K / 6.01)

static char *out;   /* the program's output */
static char *doc;   /* docs/WALKTHROUGH.md */
static char *hdr;   /* xai.h */

/* ---- reading the output --------------------------------------------------------------------- */

/* The line that ends in "[tag]": its start, and where the tag begins; NULL if absent. */
static const char *tag_line(const char *tag, const char **tag_at)
{
    char key[96];
    const char *p, *s;
    snprintf(key, sizeof key, "[%s]\n", tag);
    p = strstr(out, key);
    if (!p) return NULL;
    CHECK(!strstr(p + 1, key), "tag [%s] appears twice in the output", tag);
    for (s = p; s > out && s[-1] != '\n'; s--) {}
    *tag_at = p;
    return s;
}

/* n numbers: on the lines after the tag's line (a grid), or, with a marker, on the tag's own line
   after the marker.  Returns how many were read. */
static int numbers(const char *tag, const char *marker, double *v, int n)
{
    const char *at, *s = tag_line(tag, &at), *p;
    int k = 0;
    char *end;
    if (!s) return 0;
    if (marker) {
        const char *m = strstr(s, marker);
        if (!m || m >= at) return 0;
        p = m + strlen(marker);
    } else {
        p = strchr(at, '\n') + 1;
    }
    while (k < n) {
        while (*p == ' ' || *p == '\n') p++;
        if (marker && p >= at) break;
        v[k] = strtod(p, &end);
        if (end == p) break;
        k++;
        p = end;
    }
    return k;
}

static void expect(const char *tag, const char *marker, const double *want, int n)
{
    double got[32];
    int i, k = numbers(tag, marker, got, n);
    CHECK(k == n, "[%s]: %d of %d numbers found in the output", tag, k, n);
    for (i = 0; i < k; i++)
        CHECK(fabs(got[i] - want[i]) <= 1e-4, "[%s] number %d: the program prints %.4f, by hand %.6f", tag, i, got[i], want[i]);
}

static void expect1(const char *tag, const char *marker, double want) { expect(tag, marker, &want, 1); }

static void absolute(const double *in, double *o, int n)
{
    int i;
    for (i = 0; i < n; i++) o[i] = fabs(in[i]);
}

/* ---- the numbers, by hand ------------------------------------------------------------------- */

static void test_forward(void)
{
    static const double x[16] = {1, 0, -1, -1, 1, 1, 2, 0, 0, 0, 1, -1, 0, -1, -1, 6};
    static const double z[9] = {2, 3, 1, -1, -1, 1, -2, -4, 6}, a[9] = {2, 3, 1, 0, 0, 1, 0, 0, 6};
    static const double p[4] = {3, 3, 0, 6}, f[2] = {12, 1};
    const char *at, *s;
    expect("fwd.data", NULL, x, 16);
    expect("fwd.conv", NULL, z, 9);
    expect("fwd.relu", NULL, a, 9);
    expect("fwd.pool", NULL, p, 4);
    s = tag_line("fwd.switch", &at);
    CHECK(s && strstr(s, "(0,1) (0,1) (1,0) (2,2)") && strstr(s, "(0,1) (0,1) (1,0) (2,2)") < at,
          "max-pool switches: a(0,1) twice, the tie in the zero window to a(1,0), then a(2,2)");
    expect("fwd.fc", NULL, f, 2);
    expect1("fwd.fc_c", "f_c =", 12);
    CHECK(strstr(out, "predicted class c = 0") != NULL, "class 0 is predicted");
}

static void test_sensitivity(void)
{
    static const double fc[2] = {1, 0}, pool[4] = {2, -4, 1, 3};
    static const double relu[9] = {0, -2, 0, 1, 0, 0, 0, 0, 3}, conv[9] = {0, -2, 0, 0, 0, 0, 0, 0, 3};
    static const double data[16] = {0, -2, 2, 0, 0, -2, -2, 0, 0, 0, 3, -3, 0, 0, 3, 3};
    double heat[16];
    expect("sens.fc", NULL, fc, 2);
    expect("sens.pool", NULL, pool, 4);
    expect("sens.relu", NULL, relu, 9);
    expect("sens.conv", NULL, conv, 9);
    expect("sens.data", NULL, data, 16);
    absolute(data, heat, 16);
    expect("sens.heat", NULL, heat, 16);
}

static void test_deconvolution(void)
{
    static const double fc[2] = {12, 0}, pool[4] = {24, -48, 12, 36};
    static const double relu[9] = {0, -24, 0, 12, 0, 0, 0, 0, 36}, conv[9] = {0, 0, 0, 12, 0, 0, 0, 0, 36};
    static const double data[16] = {0, 0, 0, 0, 12, -12, 0, 0, 12, 12, 36, -36, 0, 0, 36, 36};
    double heat[16];
    expect("deconv.fc", NULL, fc, 2);
    expect("deconv.pool", NULL, pool, 4);
    expect("deconv.relu", NULL, relu, 9);
    expect("deconv.conv", NULL, conv, 9);
    expect("deconv.data", NULL, data, 16);
    absolute(data, heat, 16);
    expect("deconv.heat", NULL, heat, 16);
}

static void test_lrp_epsilon(void)
{
    const double fc[2] = {12, 0}, pool[4] = {6 * K, -12 * K, 0, 18 * K};
    const double conv[9] = {0, -6 * K, 0, 0, 0, 0, 0, 0, 18 * K};
    const double data[16] = {0, 0, U1, 0, 0, U1, 2 * U1, 0, 0, 0, U2, U2, 0, 0, -U2, 6 * U2};
    expect("eps.fc", NULL, fc, 2);
    expect("eps.pool", NULL, pool, 4);
    expect1("eps.sum.pool", "sum R(pool) =", 12 * K);       /* 12 - 12 * 0.01/12.01 */
    expect("eps.relu", NULL, conv, 9);
    expect1("eps.sum.relu", "sum R(relu) =", 12 * K);
    expect("eps.conv", NULL, conv, 9);
    expect("eps.data", NULL, data, 16);
    /* each neuron passes on R_j (z_j - b)/(z_j + eps): 4 U1 + 7 U2 */
    expect1("eps.sum.data", "sum R(data) =", 4 * U1 + 7 * U2);
    expect1("eps.absorbed", "=", -(U1 + U2));
    expect1("eps.absorbed_eps", "=", 0.01 * (U1 + U2));
    expect("eps.heat", NULL, data, 16);
}

static void test_lrp_alpha_beta(void)
{
    static const double pool[4] = {6, -12, 0, 18}, conv[9] = {0, -6, 0, 0, 0, 0, 0, 0, 18};
    /* conv(0,1): 2 z+_ij/4 (-6) for z+_ij = 0, 1, 1, 2; conv(2,2): 2 z+_ij/8 18 for 1, 1, 6 and
       -1 * (-1)/(-2) 18 = -9 for the negative product x(3,2) w(1,0) = -1 */
    static const double data[16] = {0, 0, -3, 0, 0, -3, -6, 0, 0, 0, 4.5, 4.5, 0, 0, -9, 27};
    expect("ab.pool", NULL, pool, 4);
    expect1("ab.sum.pool", "sum R(pool) =", 12);
    expect("ab.conv", NULL, conv, 9);
    expect("ab.data", NULL, data, 16);
    expect1("ab.sum.data", "sum R(data) =", 15);
    expect1("ab.absorbed", "took", -3);
    expect("ab.heat", NULL, data, 16);
}

static void test_aopc(void)
{
    /* region sums of the heatmaps; MoRF orders; f_0 after each step; AOPC(L) */
    const double eps_scores[4] = {U1, 3 * U1, 0, 7 * U2}, eps_order[4] = {3, 2, 0, 1}, eps_curve[4] = {12, -3, -3, -1};
    static const double sens_scores[4] = {4, 4, 0, 12}, sens_order[4] = {3, 0, 1, 2}, sens_curve[4] = {12, -3, -1, 0};
    static const double dec_scores[4] = {24, 0, 24, 144}, dec_order[4] = {3, 0, 2, 1}, dec_curve[4] = {12, -3, -1, -1};
    static const double eps_aopc[4] = {0, 15.0 / 2, 30.0 / 3, 43.0 / 4};
    static const double sens_aopc[4] = {0, 15.0 / 2, 28.0 / 3, 40.0 / 4};
    static const double dec_aopc[4] = {0, 15.0 / 2, 28.0 / 3, 41.0 / 4};
    const char *key[3] = {"eps", "sens", "deconv"};
    const double *scores[3] = {eps_scores, sens_scores, dec_scores}, *order[3] = {eps_order, sens_order, dec_order};
    const double *curve[3] = {eps_curve, sens_curve, dec_curve}, *aopc[3] = {eps_aopc, sens_aopc, dec_aopc};
    char tag[64], marker[32];
    int m, L;
    for (m = 0; m < 3; m++) {
        snprintf(tag, sizeof tag, "aopc.%s.scores", key[m]);
        expect(tag, ":", scores[m], 4);
        snprintf(tag, sizeof tag, "aopc.%s.order", key[m]);
        expect(tag, ":", order[m], 4);
        snprintf(tag, sizeof tag, "aopc.%s.curve", key[m]);
        expect(tag, ":", curve[m], 4);
        for (L = 0; L <= 3; L++) {
            snprintf(tag, sizeof tag, "aopc.%s.%d", key[m], L);
            snprintf(marker, sizeof marker, "/ %d =", L + 1);
            expect1(tag, marker, aopc[m][L]);
        }
    }
}

/* ---- the document against xai.h and the output ----------------------------------------------- */

static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* The first whole-word occurrence of name in text at or after from, or NULL. */
static const char *word(const char *text, const char *from, const char *name)
{
    size_t n = strlen(name);
    const char *p = from;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || !ident_char(p[-1])) && !ident_char(p[n])) return p;
        p += n;
    }
    return NULL;
}

/* The definition of a function (or table) in the implementation: a line that starts with "static"
   or "XAIDEF", names it followed by '(' or '[', and does not end in ';' (a prototype). */
static const char *definition(const char *name)
{
    const char *impl = strstr(hdr, "\n#if defined(XAI_IMPLEMENTATION)"), *p = impl;
    if (!impl) return NULL;
    while (p && (p = word(hdr, p, name)) != NULL) {
        const char *ls = p, *le = strchr(p, '\n');
        size_t n = strlen(name);
        while (ls > hdr && ls[-1] != '\n') ls--;
        if ((p[n] == '(' || p[n] == '[') && (!strncmp(ls, "static ", 7) || !strncmp(ls, "XAIDEF ", 7)) && le && le[-1] != ';')
            return p;
        p += n;
    }
    return NULL;
}

/* Section n of the implementation: from its "==== n." header to the next header (0 past the
   numbered sections: the appendices). */
static int section_of(const char *at)
{
    const char *p = hdr, *h;
    int n = 0;
    while ((h = strstr(p, "\n/* ==== ")) != NULL && h < at) {
        n = atoi(h + 9);
        p = h + 1;
    }
    return n;
}

static void test_document_names(void)
{
    const char *line = doc;
    int fenced = 0, names = 0, rows = 0;
    while (*line) {
        const char *next = strchr(line, '\n'), *p, *q;
        size_t len = next ? (size_t)(next - line) : strlen(line);
        char row[2048];
        int section = -1;
        if (len >= sizeof row) len = sizeof row - 1;
        memcpy(row, line, len);
        row[len] = 0;
        if (!strncmp(row, "```", 3)) fenced = !fenced;
        else if (!fenced) {
            /* a table row whose last cell is a number names the xai.h section of its functions */
            if (row[0] == '|') {
                char *end = row + strlen(row), *cell;
                while (end > row && (end[-1] == '|' || end[-1] == ' ')) end--;
                cell = end;
                while (cell > row && isdigit((unsigned char)cell[-1])) cell--;
                if (cell < end && cell > row && (cell[-1] == ' ' || cell[-1] == '|')) section = atoi(cell);
            }
            for (p = strchr(row, '`'); p && (q = strchr(p + 1, '`')) != NULL; p = strchr(q + 1, '`')) {
                char name[128];
                size_t n = (size_t)(q - p - 1);
                int call = n > 2 && p[n - 1] == '(' && p[n] == ')';
                if (call) n -= 2;
                if (n == 0 || n >= sizeof name) continue;
                memcpy(name, p + 1, n);
                name[n] = 0;
                if (strncmp(name, "xai", 3) && strncmp(name, "XAI", 3)) continue;
                if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n) continue;
                names++;
                if (call) {
                    const char *def = definition(name);
                    CHECK(def != NULL, "WALKTHROUGH.md names %s(), which xai.h does not define", name);
                    if (def && section >= 0) {
                        rows++;
                        CHECK(section_of(def) == section, "WALKTHROUGH.md puts %s() in section %d, xai.h has it in section %d", name,
                              section, section_of(def));
                    }
                } else {
                    CHECK(word(hdr, hdr, name) != NULL, "WALKTHROUGH.md names %s, which xai.h does not have", name);
                }
            }
            /* "section N (title)": xai.h has the header "==== N. title" */
            for (p = strstr(row, "section "); p; p = strstr(p + 1, "section ")) {
                int n;
                char title[64], want[96];
                if (sscanf(p, "section %d (%63[a-z ])", &n, title) == 2) {
                    snprintf(want, sizeof want, "/* ==== %d. %s", n, title);
                    CHECK(strstr(hdr, want) != NULL, "WALKTHROUGH.md cites 'section %d (%s)', xai.h has no such header", n, title);
                }
            }
        }
        line = next ? next + 1 : line + len;
    }
    CHECK(names >= 20, "WALKTHROUGH.md names %d functions and constants of xai.h (expected the guided reading)", names);
    CHECK(rows >= 10, "WALKTHROUGH.md's table places %d functions in sections", rows);
}

/* Each block fenced as ```output is a verbatim run of whole lines of the program's output. */
static void test_document_output(void)
{
    const char *p = doc;
    int blocks = 0;
    while ((p = strstr(p, "\n```output\n")) != NULL) {
        const char *start = p + 11, *end = strstr(start, "\n```");
        char *block;
        const char *hit;
        size_t n;
        if (!end) { CHECK(0, "WALKTHROUGH.md: an output block is not closed"); break; }
        n = (size_t)(end - start) + 1;   /* with the last newline */
        block = (char *)malloc(n + 1);
        memcpy(block, start, n);
        block[n] = 0;
        hit = strstr(out, block);
        while (hit && hit != out && hit[-1] != '\n') hit = strstr(hit + 1, block);
        CHECK(hit != NULL, "WALKTHROUGH.md output block %d (its first line: '%.*s') is not in bin/walkthrough's output", blocks + 1,
              (int)strcspn(block, "\n"), block);
        free(block);
        blocks++;
        p = end;
    }
    CHECK(blocks >= 6, "WALKTHROUGH.md quotes %d output blocks", blocks);
}

/* Every xai.h name the program prints exists in xai.h. */
static void test_output_names(void)
{
    const char *p = out;
    int n = 0;
    while (*p) {
        if ((!strncmp(p, "xai_", 4) || !strncmp(p, "XAI_", 4)) && (p == out || !ident_char(p[-1]))) {
            char name[128];
            size_t k = 0;
            while (ident_char(p[k]) && k < sizeof name - 1) { name[k] = p[k]; k++; }
            name[k] = 0;
            CHECK(word(hdr, hdr, name) != NULL, "bin/walkthrough prints %s, which xai.h does not have", name);
            n++;
            p += k;
        } else {
            p++;
        }
    }
    CHECK(n >= 15, "bin/walkthrough names %d functions of xai.h", n);
}

int main(void)
{
    char path[512], cmd[1024];
    const char *dir = getenv("TMPDIR");
    size_t len;
    char *again = NULL;
    unsigned long tag = (unsigned long)time(NULL) ^ ((unsigned long)clock() << 16);
    snprintf(path, sizeof path, "%s/xai_test_walkthrough.%lx.txt", dir && *dir ? dir : "/tmp", tag);
    snprintf(cmd, sizeof cmd, "bin/walkthrough > '%s'", path);
    if (system(cmd) != 0) {
        CHECK(0, "bin/walkthrough runs (tests run from the repository root after make)");
        remove(path);
        return test_report();
    }
    out = (char *)test_read(path, &len);
    CHECK(system(cmd) == 0 && (again = (char *)test_read(path, &len)) != NULL && out && !strcmp(out, again),
          "bin/walkthrough prints the same bytes twice");
    free(again);
    remove(path);
    doc = (char *)test_read("docs/WALKTHROUGH.md", &len);
    hdr = (char *)test_read("xai.h", &len);
    CHECK(out && doc && hdr, "bin/walkthrough's output, docs/WALKTHROUGH.md and xai.h are readable");
    if (!out || !doc || !hdr) return test_report();
    test_forward();
    test_sensitivity();
    test_deconvolution();
    test_lrp_epsilon();
    test_lrp_alpha_beta();
    test_aopc();
    test_output_names();
    test_document_names();
    test_document_output();
    return test_report();
}
