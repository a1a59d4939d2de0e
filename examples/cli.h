/* cli.h - what every command-line tool of xai.h shares: strict numbers, option values, --help and
   --version, output folders.  Header-only, C99, libc only; include it after xai.h (it prints
   XAI_VERSION_STRING).

   Numbers are parsed strictly: the whole argument must be the number, in range and finite, or the
   tool prints "TOOL: --flag: 'abc' is not a whole number from 1 to 100" and exits with 2.  A user
   never gets a silent 0 from a typo. */
#ifndef XAI_CLI_H
#define XAI_CLI_H

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <unistd.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CLI_FN static __attribute__((unused))
#else
#define CLI_FN static
#endif

static const char *cli_tool = "xai";   /* the name in error messages: set it first thing in main */

CLI_FN void cli_fail(const char *flag, const char *value, const char *what)
{
    fprintf(stderr, "%s: %s: '%s' %s\n", cli_tool, flag, value, what);
    exit(2);
}

/* The value of the option at argv[*i] (which must have one): argv[*i + 1], and *i moves past it. */
CLI_FN const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value (see %s --help)\n", cli_tool, argv[*i], cli_tool);
        exit(2);
    }
    return argv[++*i];
}

/* A whole number in [lo, hi]; leading blanks, a sign where lo < 0, nothing after the digits. */
CLI_FN long cli_long(const char *flag, const char *s, long lo, long hi)
{
    char *end, msg[96];
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < lo || v > hi || (lo >= 0 && strchr(s, '-'))) {
        snprintf(msg, sizeof msg, "is not a whole number from %ld to %ld", lo, hi);
        cli_fail(flag, s, msg);
    }
    return v;
}

CLI_FN int cli_int(const char *flag, const char *s, int lo, int hi) { return (int)cli_long(flag, s, lo, hi); }

/* An unsigned 64-bit number (seeds): digits only, no sign, no wrap-around. */
CLI_FN uint64_t cli_u64(const char *flag, const char *s)
{
    char *end;
    unsigned long long v;
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    errno = 0;
    v = strtoull(p, &end, 10);
    if (*p < '0' || *p > '9' || *end || errno == ERANGE) cli_fail(flag, s, "is not a whole number from 0 to 18446744073709551615");
    return (uint64_t)v;
}

/* A finite number in [lo, hi] (lo_open: lo itself excluded). */
CLI_FN double cli_double(const char *flag, const char *s, double lo, double hi, int lo_open)
{
    char *end, msg[96];
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo || v > hi || (lo_open && v == lo)) {
        snprintf(msg, sizeof msg, "is not a finite number %s %g and at most %g", lo_open ? "above" : "of at least", lo, hi);
        cli_fail(flag, s, msg);
    }
    return v;
}

/* --help and --version, when one of them is the only argument or anywhere among the arguments:
   the usage on standard output (exit 0), or the version.  No arguments at all: the usage on
   standard error, exit 2. */
CLI_FN void cli_standard_options(int argc, char **argv, const char *usage)
{
    int i;
    if (argc < 2) {
        fputs(usage, stderr);
        exit(2);
    }
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(argv[i], "--version")) {
            printf("%s (xai.h %s)\n", cli_tool, XAI_VERSION_STRING);
            exit(0);
        }
    }
}

/* Creates the folders above path (not path itself), as mkdir -p on its dirname.  0 on success. */
CLI_FN int cli_make_parents(const char *path)
{
#if !defined(_WIN32)
    char buf[4096];
    size_t n = strlen(path), k;
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (k = 1; k < n; k++) {
        if (buf[k] != '/') continue;
        buf[k] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return -1;
        }
        buf[k] = '/';
    }
#else
    (void)path;
#endif
    return 0;
}

/* An option or argument the tool does not know, or a missing one: the reason, a pointer to
   --help, exit 2. */
CLI_FN void cli_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s (see %s --help)\n", cli_tool, what, arg ? " " : "", arg ? arg : "", cli_tool);
    exit(2);
}

/* Creates path and the folders above it, as mkdir -p.  0 on success. */
CLI_FN int cli_make_dirs(const char *path)
{
#if !defined(_WIN32)
    char buf[4096];
    struct stat st;
    size_t n = strlen(path);
    if (n + 2 >= sizeof buf) return -1;
    memcpy(buf, path, n);
    buf[n] = '/';
    buf[n + 1] = 0;
    if (cli_make_parents(buf) != 0) return -1;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
#else
    (void)path;
    return 0;
#endif
}

/* 1 if path ends in ext (".png"), any case. */
CLI_FN int cli_has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), k = strlen(ext), i;
    if (n < k) return 0;
    for (i = 0; i < k; i++) {
        char a = path[n - k + i], b = ext[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* An output file the tool is about to write, checked before any work is done: its extension
   matches the format (a name without an extension, such as /dev/stdout, is taken as it is), its
   folders are made, and its folder is writable.  On failure the message names the file the user
   gave (never a temporary name); flag names the option.  0, or the exit status (2: a wrong name,
   1: the file system refused). */
CLI_FN int cli_check_output(const char *flag, const char *path, const char *ext)
{
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!*base) {
        fprintf(stderr, "%s: %s: '%s' names a folder, not a file\n", cli_tool, flag, path);
        return 2;
    }
    if (ext && dot && dot != base && !cli_has_ext(base, ext)) {
        fprintf(stderr, "%s: %s: '%s' does not end in %s, the format this option writes\n", cli_tool, flag, path, ext);
        return 2;
    }
    if (cli_make_parents(path) != 0) {
        fprintf(stderr, "%s: %s: cannot create the folders above %s (%s)\n", cli_tool, flag, path, strerror(errno));
        return 1;
    }
#if !defined(_WIN32)
    {
        char dir[4096];
        size_t n = (size_t)(base - path);
        struct stat st;
        if (n >= sizeof dir) n = sizeof dir - 1;
        if (n) memcpy(dir, path, n);
        else dir[n++] = '.';
        dir[n] = 0;
        /* a device (/dev/null) is written in place; a regular file's temporary goes beside it */
        if (!(stat(path, &st) == 0 && !S_ISREG(st.st_mode)) && access(dir, W_OK) != 0) {
            fprintf(stderr, "%s: %s: cannot write %s (%s)\n", cli_tool, flag, path, strerror(errno));
            return 1;
        }
    }
#endif
    return 0;
}

CLI_FN void cli_output(const char *flag, const char *path, const char *ext)
{
    int rc = cli_check_output(flag, path, ext);
    if (rc) exit(rc);
}

/* xai.h 0.9 wrote PATH through PATH.XXXXXXXX.tmp (8 hex digits), renamed when complete; a run killed
   meanwhile left that temporary behind.  This removes such leftovers of earlier runs into path (call
   it before writing).  Today's xai.h names its temporaries PATH.PID-TAG.tmp and removes a killed
   writer's itself, when that process is gone. */
CLI_FN int cli_remove_stale_temporaries(const char *path)
{
    int removed = 0;
#if !defined(_WIN32)
    char dir[4096], full[8192];
    const char *base = strrchr(path, '/');
    size_t n = base ? (size_t)(base - path) : 0, blen;
    DIR *d;
    struct dirent *e;
    base = base ? base + 1 : path;
    blen = strlen(base);
    if (n + 1 >= sizeof dir || !blen) return 0;
    if (n) memcpy(dir, path, n);
    else dir[n++] = '.';
    dir[n] = 0;
    if (!(d = opendir(dir))) return 0;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        int k;
        if (strlen(nm) != blen + 13 || strncmp(nm, base, blen) || nm[blen] != '.' || strcmp(nm + blen + 9, ".tmp")) continue;
        for (k = 1; k <= 8 && strchr("0123456789abcdef", nm[blen + k]) && nm[blen + k]; k++) {}
        if (k <= 8) continue;
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        if (remove(full) == 0) {
            fprintf(stderr, "%s: removed %s, left by an earlier run that did not finish\n", cli_tool, full);
            removed++;
        }
    }
    closedir(d);
#else
    (void)path;
#endif
    return removed;
}

/* An output folder (training-curve --out, train --snapshot-dir): made with its parents. */
CLI_FN void cli_output_dir(const char *flag, const char *path)
{
    if (cli_make_dirs(path) != 0) {
        fprintf(stderr, "%s: %s: cannot create the folder %s (%s)\n", cli_tool, flag, path, strerror(errno));
        exit(1);
    }
}

/* What xai_net_preprocess will do to this picture that the user may not expect, on standard
   error: a grey picture repeated into three channels (or colour turned into grey), a picture
   resized from its size (and whether its aspect ratio is kept), a centre crop. */
CLI_FN void cli_warn_adapted(const char *image, const xai_image *img, const xai_net *net)
{
    int rw = net->pre.resize_w > 0 ? net->pre.resize_w : net->input_w;
    int rh = net->pre.resize_h > 0 ? net->pre.resize_h : net->input_h;
    if (img->c == 1 && net->input_c == 3)
        fprintf(stderr, "%s: warning: %s is grey, the model reads colour: its grey value is used for all three channels\n", cli_tool, image);
    else if (img->c >= 3 && net->input_c == 1)
        fprintf(stderr, "%s: warning: %s is in colour, the model reads grey: it is turned into grey (0.299 R + 0.587 G + 0.114 B)\n", cli_tool, image);
    if (img->w != rw || img->h != rh) {
        int kept = (long long)img->w * rh == (long long)img->h * rw;
        fprintf(stderr, "%s: warning: %s is resized from %d x %d to %d x %d (%s)", cli_tool, image, img->w, img->h, rw, rh,
                kept ? "aspect ratio kept" : "aspect ratio not kept");
        if (rw != net->input_w || rh != net->input_h) fprintf(stderr, ", then its centre %d x %d is cut out", net->input_w, net->input_h);
        fprintf(stderr, ": the model's input is %d x %d\n", net->input_w, net->input_h);
    }
}

#endif /* XAI_CLI_H */
