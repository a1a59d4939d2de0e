#!/usr/bin/env bash
# xai.h compiles warning-free as C99 and as C++, with and without OpenMP, with and without AVX2,
# with XAI_STATIC, and links when one file has the implementation and another only the
# declarations; every example builds with the one cc command at its top; the teaching build
# (XAI_NO_FAST, XAI_NO_IMAGE_WRITE) builds and runs the suite's core.
# The builds, and the plain programs once built, run in parallel, BUILD_JOBS at a time (default:
# one a core).
cd "$(dirname "$0")/.." || exit 1
tmp=${TMPDIR:-/tmp}/xai_build_check.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
max=${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
passed=0
failed=0
jobs=0
running=0
cat > "$tmp/impl.c" <<'C'
#define XAI_IMPLEMENTATION
#include "xai.h"
int other(void);
int main(void) { xai_net *n = xai_net_new("x"); xai_net_free(n); return other(); }
C
cat > "$tmp/decl.c" <<'C'
#include "xai.h"
int other(void) { return xai_failure_reason() == 0; }
C
pass() { passed=$((passed + 1)); }
fail() { echo "FAIL build: $1"; [ -z "$2" ] || head -n 20 "$2"; failed=$((failed + 1)); }

# build KIND WHAT CMD...: runs CMD in the background, at most $max at once; job N's exit status
# goes to $tmp/N.rc and its output to $tmp/N.log.  KIND quiet: it must succeed without printing
# anything (no warning); ok and plain: it must succeed; test: a plain test that must build and
# pass; step: a step of another check (nothing counted).
build() {
    if [ "$running" -ge "$max" ]; then wait -n; running=$((running - 1)); fi
    jobs=$((jobs + 1))
    printf '%s\n%s\n' "$1" "$2" >"$tmp/$jobs.what"
    shift 2
    ( "$@" >"$tmp/$jobs.log" 2>&1; echo $? >"$tmp/$jobs.rc" ) &
    running=$((running + 1))
}
built() { [ "$(cat "$tmp/$1.rc" 2>/dev/null)" = 0 ]; }   # did job $1 succeed?

W="-Wall -Wextra"
# the teaching build (issue 16): XAI_NO_FAST and XAI_NO_IMAGE_WRITE leave both appendices out; the
# suite's core is built that way and run, and classify classifies with the plain loops only
PLAIN="-DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE"
build step "the plain library" sh -c "cc -O2 $W -march=native -fopenmp $PLAIN -I. -c tests/libxai.c -o $tmp/libxai.o && ar rcs $tmp/libxai.a $tmp/libxai.o"
lib_job=$jobs
# plain T: builds tests/T.c the plain way and runs it (its output in $tmp/T.out), with a folder of
# its own for its files (TMPDIR, and test_faults' FDIR): the suite's own build of T may be running
# at the same time.  A test with its own XAI_IMPLEMENTATION is built whole; the others are linked
# with the plain library.
plain() {
    mkdir -p "$tmp/$1.tmp"
    # compiling the library into these takes longer than they run: -O1 (half the compile)
    case $1 in test_explain | test_limits | test_faults | test_kernels) opt=-O1 ;; *) opt=-O2 ;; esac
    if grep -qE '^#define XAI_IMPLEMENTATION( |$)' "tests/$1.c"; then
        cc $opt $W -march=native -fopenmp $PLAIN -DFDIR="\"$tmp/$1.tmp/faults\"" -I. "tests/$1.c" -o "$tmp/$1" -lm || return 1
    else
        cc -O2 $W -march=native -fopenmp $PLAIN -DFDIR="\"$tmp/$1.tmp/faults\"" -I. -c "tests/$1.c" -o "$tmp/$1.o" || return 1
        while [ ! -f "$tmp/$lib_job.rc" ]; do sleep 0.2; done
        built "$lib_job" || { cat "$tmp/$lib_job.log"; return 1; }
        cc -O2 $W -march=native -fopenmp "$tmp/$1.o" "$tmp/libxai.a" -o "$tmp/$1" -lm || return 1
    fi
    TMPDIR="$tmp/$1.tmp" "$tmp/$1" >"$tmp/$1.out" 2>&1
    return 0
}
# the longest first (the plain loops make test_net and test_caffe run for about 20 s each)
for t in test_net test_caffe test_training test_faults test_limits test_explain test_kernels test_image test_layers test_walkthrough test_contents; do
    build test "$t" plain "$t"
done
build quiet "XAI_NO_FAST XAI_NO_IMAGE_WRITE C99 pedantic" cc -std=c99 -pedantic $W -O2 $PLAIN -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a8" -lm
build plain "examples/classify.c with $PLAIN does not build or classify the coat" sh -c \
    "cc -O2 $PLAIN examples/classify.c -o $tmp/classify -lm && $tmp/classify models/fashion.xai examples/images/fashion_4_coat.pgm --top 1 2>&1 | grep -q ' Coat\$'"
# Each code path is compiled once at -O2, where gcc's flow warnings (maybe-uninitialized, array
# bounds, string overflow) appear: the portable loops (C99 pedantic), the SIMD kernels with the
# OpenMP loops (C99), and C++ with both.  A configuration that adds only declarations or macros
# (XAI_NO_SIMD over -march=native, C++ without OpenMP) is checked by the front end (-fsyntax-only),
# and clang at -O0: its warnings come from the front end at every level.
build quiet "C99 pedantic" cc -std=c99 -pedantic $W -O2 -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a1" -lm
build quiet "C99 -fopenmp -mavx2 -mfma" cc -std=c99 $W -O2 -fopenmp -mavx2 -mfma -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a2" -lm
build quiet "XAI_NO_SIMD with -march=native" cc -std=c99 $W -O2 -march=native -DXAI_NO_SIMD -I. "$tmp/impl.c" -fsyntax-only
build quiet "XAI_STATIC" cc -std=c99 $W -O2 -DXAI_STATIC -Wno-unused-function -I. "$tmp/impl.c" -c -o "$tmp/s.o"
if command -v c++ >/dev/null 2>&1; then
    build quiet "C++" c++ -x c++ $W -O2 -I. "$tmp/impl.c" -fsyntax-only
    build quiet "C++ -fopenmp -march=native" c++ -x c++ $W -O2 -fopenmp -march=native -I. "$tmp/impl.c" -x c++ "$tmp/decl.c" -o "$tmp/a6"
fi
if command -v clang >/dev/null 2>&1; then
    build quiet "clang C99 -march=native" clang -std=c99 $W -O0 -march=native -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a7" -lm
fi
# each example's own build line: "Build: cc ..." at its top, run from the repository root; and with
# the flags it suggests for speed (-fopenmp -march=native) the same file with everything in it is
# checked by the compiler's front end (-fsyntax-only): make compiles that code with those flags as two
# pieces (bin/libxai.a and the example with XAI_IMPLEMENTATION_DONE), so the code generation is proven
# there and only the one file's names and declarations are left to prove here
for f in examples/*.c tools/*.c; do
    line=$(grep -m1 -E '^ *(/\*)? *Build: ' "$f" | sed -e 's/.*Build: *//' -e 's/ *(.*//' -e 's/\*\/.*//')
    [ -n "$line" ] || { fail "$f has no 'Build:' line"; continue; }
    out=$tmp/$(basename "$f" .c)
    cmd=$(printf '%s' "$line" | sed -e "s# -o [^ ]*# -o $out#")
    build ok "$f: $cmd" sh -c "$cmd"
    build quiet "$f with -fopenmp -march=native -Wall -Wextra" sh -c "$cmd -fopenmp -march=native $W -fsyntax-only"
done
wait

# the verdicts, in the order the jobs were started
i=0
while [ "$i" -lt "$jobs" ]; do
    i=$((i + 1))
    { read -r kind; read -r what; } <"$tmp/$i.what"
    case $kind in
    quiet) if built "$i" && [ ! -s "$tmp/$i.log" ]; then pass; else fail "$what" "$tmp/$i.log"; fi ;;
    ok) if built "$i"; then pass; else fail "$what" "$tmp/$i.log"; fi ;;
    plain) if built "$i"; then pass; else fail "$what" "$tmp/$i.log"; fi ;;
    test)
        if ! built "$i"; then fail "tests/$what.c with $PLAIN" "$tmp/$i.log"
        elif grep -qE '^[0-9]+ passed, 0 failed$' "$tmp/$what.out"; then pass
        else echo "FAIL plain build: $what"; grep -E '^FAIL' "$tmp/$what.out" | head -n 10; failed=$((failed + 1))
        fi ;;
    esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
