#!/bin/sh
# xai.h compiles warning-free as C99 and as C++, with and without OpenMP, with and without AVX2,
# with XAI_STATIC, and links when one file has the implementation and another only the
# declarations; every example builds with the one cc command at its top.
cd "$(dirname "$0")/.." || exit 1
tmp=${TMPDIR:-/tmp}/xai_build_check.$$
mkdir -p "$tmp"
passed=0
failed=0
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
try() {
    what=$1
    shift
    if out=$("$@" 2>&1) && [ -z "$out" ]; then
        passed=$((passed + 1))
    else
        echo "FAIL build: $what"
        printf '%s\n' "$out" | head -n 20
        failed=$((failed + 1))
    fi
}
W="-Wall -Wextra"
try "C99 pedantic" cc -std=c99 -pedantic $W -O2 -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
try "C99 -fopenmp" cc -std=c99 $W -O2 -fopenmp -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
try "AVX2+FMA" cc -std=c99 $W -O2 -mavx2 -mfma -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
try "XAI_NO_SIMD with -march=native" cc -std=c99 $W -O2 -march=native -DXAI_NO_SIMD -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
try "XAI_STATIC" cc -std=c99 $W -O2 -DXAI_STATIC -Wno-unused-function -I. "$tmp/impl.c" -c -o "$tmp/s.o"
if command -v c++ >/dev/null 2>&1; then
    try "C++" c++ -x c++ $W -O2 -I. "$tmp/impl.c" -x c++ "$tmp/decl.c" -o "$tmp/a"
    try "C++ -fopenmp -march=native" c++ -x c++ $W -O2 -fopenmp -march=native -I. "$tmp/impl.c" -x c++ "$tmp/decl.c" -o "$tmp/a"
fi
if command -v clang >/dev/null 2>&1; then
    try "clang C99 -march=native" clang -std=c99 $W -O2 -march=native -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
fi
# each example's own build line: "Build: cc ..." at its top, run from the repository root
for f in examples/*.c tools/*.c; do
    line=$(grep -m1 -E '^ *(/\*)? *Build: ' "$f" | sed -e 's/.*Build: *//' -e 's/ *(.*//' -e 's/\*\/.*//')
    [ -n "$line" ] || { echo "FAIL build: $f has no 'Build:' line"; failed=$((failed + 1)); continue; }
    cmd=$(printf '%s' "$line" | sed -e "s# -o [^ ]*# -o $tmp/example#")
    if (sh -c "$cmd" >"$tmp/log" 2>&1); then passed=$((passed + 1)); else echo "FAIL build: $f: $cmd"; head -n 20 "$tmp/log"; failed=$((failed + 1)); fi
    if (sh -c "$cmd -fopenmp" >"$tmp/log" 2>&1); then passed=$((passed + 1)); else echo "FAIL build: $f with -fopenmp"; head -n 20 "$tmp/log"; failed=$((failed + 1)); fi
done
# the teaching build (issue 16): XAI_NO_FAST and XAI_NO_IMAGE_WRITE leave both appendices out; the
# suite's core is built that way and run, and classify classifies with the plain loops only
try "XAI_NO_FAST XAI_NO_IMAGE_WRITE C99 pedantic" cc -std=c99 -pedantic $W -O2 -DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE -I. "$tmp/impl.c" "$tmp/decl.c" -o "$tmp/a" -lm
if cc -O2 -DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE examples/classify.c -o "$tmp/classify" -lm >"$tmp/log" 2>&1 &&
   "$tmp/classify" models/fashion.xai examples/images/fashion_4_coat.pgm --top 1 2>&1 | grep -q ' Coat$'; then
    passed=$((passed + 1))
else
    echo "FAIL build: examples/classify.c with -DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE does not build or classify the coat"
    head -n 20 "$tmp/log"
    failed=$((failed + 1))
fi
for t in test_layers test_net test_explain test_image test_walkthrough test_training test_contents test_caffe test_limits test_faults test_kernels; do
    if ! cc -O2 $W -march=native -fopenmp -DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE -I. "tests/$t.c" -o "$tmp/$t" -lm >"$tmp/log" 2>&1; then
        echo "FAIL build: tests/$t.c with -DXAI_NO_FAST -DXAI_NO_IMAGE_WRITE"; head -n 20 "$tmp/log"; failed=$((failed + 1)); continue
    fi
    out=$("$tmp/$t" 2>&1)
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, 0 failed$')
    if [ -n "$line" ]; then passed=$((passed + 1)); else echo "FAIL plain build: $t"; printf '%s\n' "$out" | grep -E '^FAIL' | head -n 10; failed=$((failed + 1)); fi
done
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
