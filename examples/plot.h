/* plot.h: line plots as SVG for the example programs (AOPC curves, training curves).
   Not part of the library: just enough drawing for readable axes, ticks and a legend. */
#ifndef XAI_EXAMPLES_PLOT_H
#define XAI_EXAMPLES_PLOT_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plot_series {
    const char *name;
    const double *x, *y;
    int n;
    int right_axis;     /* 1: scaled against the right-hand axis (twin axes) */
} plot_series;

typedef struct plot_text { char *p; size_t len, cap; } plot_text;

static void plot_printf(plot_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->p && t->len + (size_t)n < t->cap) { t->len += (size_t)n; return; }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->p = (char *)realloc(t->p, t->cap);
        if (!t->p) return;
    }
}

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten, about 5 ticks. */
static double plot_step(double lo, double hi)
{
    double raw = (hi - lo) / 5, mag, f;
    if (!(raw > 0)) return 1;
    mag = pow(10, floor(log10(raw)));
    f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void plot_range(const plot_series *s, int ns, int right, int use_x, double *lo, double *hi)
{
    int i, k, any = 0;
    *lo = 0; *hi = 1;
    for (i = 0; i < ns; i++) {
        if (!use_x && s[i].right_axis != right) continue;
        for (k = 0; k < s[i].n; k++) {
            double v = use_x ? s[i].x[k] : s[i].y[k];
            if (!(v == v)) continue;
            if (!any || v < *lo) *lo = v;
            if (!any || v > *hi) *hi = v;
            any = 1;
        }
    }
    if (*hi - *lo < 1e-12) { *lo -= 0.5; *hi += 0.5; }
    {
        double st = plot_step(*lo, *hi);
        *lo = floor(*lo / st) * st;
        *hi = ceil(*hi / st) * st;
    }
}

static const char *plot_colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void plot_escape(plot_text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') plot_printf(t, "&lt;");
        else if (*s == '>') plot_printf(t, "&gt;");
        else if (*s == '&') plot_printf(t, "&amp;");
        else if (*s == '"') plot_printf(t, "&quot;");
        else plot_printf(t, "%c", *s);
    }
}

/* The first earlier series with exactly the same points as series i, or -1: drawn on top of each
   other the later would hide the earlier (sensitivity-l2 and -linf of a grey image are one map). */
static int plot_same_as(const plot_series *s, int i)
{
    int j, k;
    for (j = 0; j < i; j++) {
        if (s[j].n != s[i].n || s[j].right_axis != s[i].right_axis) continue;
        for (k = 0; k < s[i].n; k++)
            if (s[j].x[k] != s[i].x[k] || s[j].y[k] != s[i].y[k]) break;
        if (k == s[i].n) return j;
    }
    return -1;
}

/* Returns the SVG text (malloc'd) of the series; ylabel_right non-NULL adds a right-hand axis.  A
   series that coincides with an earlier one is drawn dashed over it (both colours show) and its
   legend entry says "= EARLIER". */
static char *plot_svg(const char *title, const char *xlabel, const char *ylabel, const char *ylabel_right, const plot_series *s, int ns)
{
    plot_text t = {NULL, 0, 0};
    const double W = 760, H = 460, left = 80, right = ylabel_right ? 80 : 30, top = 50, bottom = 60;
    double x0, x1, y0, y1, r0 = 0, r1 = 1, st, v;
    int i, k, axes = ylabel_right ? 2 : 1, a;
    plot_range(s, ns, 0, 1, &x0, &x1);
    plot_range(s, ns, 0, 0, &y0, &y1);
    if (ylabel_right) plot_range(s, ns, 1, 0, &r0, &r1);
#define PX(x) (left + ((x) - x0) / (x1 - x0) * (W - left - right))
#define PY(y, lo, hi) (H - bottom - ((y) - (lo)) / ((hi) - (lo)) * (H - top - bottom))
    plot_printf(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"13\">\n", W, H, W, H);
    plot_printf(&t, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%g\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
    plot_escape(&t, title);
    plot_printf(&t, "</text>\n");
    /* grid and ticks */
    st = plot_step(x0, x1);
    for (v = x0; v <= x1 + st * 1e-9; v += st) {
        plot_printf(&t, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#e0e0e0\"/>\n", PX(v), top, PX(v), H - bottom);
        plot_printf(&t, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n", PX(v), H - bottom + 18, fabs(v) < st * 1e-9 ? 0.0 : v);
    }
    for (a = 0; a < axes; a++) {
        double lo = a ? r0 : y0, hi = a ? r1 : y1;
        st = plot_step(lo, hi);
        for (v = lo; v <= hi + st * 1e-9; v += st) {
            if (!a) plot_printf(&t, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", left, PY(v, lo, hi), W - right, PY(v, lo, hi));
            plot_printf(&t, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"%s\">%g</text>\n", a ? W - right + 6 : left - 6, PY(v, lo, hi) + 4, a ? "start" : "end",
                        fabs(v) < st * 1e-9 ? 0.0 : v);
        }
    }
    if (y0 < 0 && y1 > 0) plot_printf(&t, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#888\"/>\n", left, PY(0, y0, y1), W - right, PY(0, y0, y1));
    plot_printf(&t, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", left, top, W - left - right, H - top - bottom);
    plot_printf(&t, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">", (left + W - right) / 2, H - 18);
    plot_escape(&t, xlabel);
    plot_printf(&t, "</text>\n<text transform=\"translate(22,%g) rotate(-90)\" text-anchor=\"middle\">", (top + H - bottom) / 2);
    plot_escape(&t, ylabel);
    plot_printf(&t, "</text>\n");
    if (ylabel_right) {
        plot_printf(&t, "<text transform=\"translate(%g,%g) rotate(90)\" text-anchor=\"middle\">", W - 18, (top + H - bottom) / 2);
        plot_escape(&t, ylabel_right);
        plot_printf(&t, "</text>\n");
    }
    /* the lines, then the legend */
    for (i = 0; i < ns; i++) {
        const char *col = plot_colors[i % 10];
        double lo = s[i].right_axis ? r0 : y0, hi = s[i].right_axis ? r1 : y1;
        int same = plot_same_as(s, i) >= 0;
        plot_printf(&t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col,
                    same ? " stroke-dasharray=\"4,8\"" : s[i].right_axis ? " stroke-dasharray=\"6,3\"" : "");
        for (k = 0; k < s[i].n; k++) plot_printf(&t, "%.1f,%.1f ", PX(s[i].x[k]), PY(s[i].y[k], lo, hi));
        plot_printf(&t, "\"/>\n");
        if (s[i].n <= 30)
            for (k = 0; k < s[i].n; k++) plot_printf(&t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(s[i].x[k]), PY(s[i].y[k], lo, hi), col);
    }
    for (i = 0; i < ns; i++) {
        double ly = top + 14 + 18 * i;
        int same = plot_same_as(s, i);
        plot_printf(&t, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", left + 12, ly - 4, left + 36, ly - 4,
                    plot_colors[i % 10], same >= 0 ? " stroke-dasharray=\"4,8\"" : s[i].right_axis ? " stroke-dasharray=\"6,3\"" : "");
        plot_printf(&t, "<text x=\"%g\" y=\"%g\">", left + 42, ly);
        plot_escape(&t, s[i].name);
        if (same >= 0) {
            plot_printf(&t, " = ");
            plot_escape(&t, s[same].name);
            plot_printf(&t, " (the same curve, dashed over it)");
        }
        plot_printf(&t, "</text>\n");
    }
    plot_printf(&t, "</svg>\n");
#undef PX
#undef PY
    return t.p;
}
#endif
