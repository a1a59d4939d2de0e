#!/bin/sh
# The program in README.md's "Using xai.h in your program", as a user copies it: extracted from the
# README (the indented block from "#define XAI_IMPLEMENTATION" to its end), built with the README's
# command plus -std=c99 -Wall -Wextra -Werror, run from the repository root under AddressSanitizer
# with leak detection (or valgrind --leak-check=full when the compiler has no ASan): it must exit 0,
# write its heatmap and leave no leak or memory error.
cd "$(dirname "$0")/.." || exit 1
tmp=${TMPDIR:-/tmp}/xai_readme_program.$$
mkdir -p "$tmp"
passed=0
failed=0
check() {
    if [ "$1" = 0 ]; then passed=$((passed + 1)); else echo "FAIL readme program: $2"; failed=$((failed + 1)); fi
}
awk '/^    #define XAI_IMPLEMENTATION/ { on = 1 } on && !/^    / && !/^$/ { exit } on { sub(/^    /, ""); print }' README.md > "$tmp/prog.c"
lines=$(grep -c . "$tmp/prog.c")
[ "$lines" -gt 10 ] && grep -q '^int main' "$tmp/prog.c"
check $? "README.md has no program under '#define XAI_IMPLEMENTATION' ($lines lines found)"
# the output into the temporary folder, not the repository
sed -i "s#\"heat.png\"#\"$tmp/heat.png\"#" "$tmp/prog.c"
echo 'int main(void) { return 0; }' > "$tmp/probe.c"
if cc -fsanitize=address,undefined "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1 && "$tmp/probe"; then
    how="AddressSanitizer"
    cc -std=c99 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -I. "$tmp/prog.c" -o "$tmp/prog" -lm >"$tmp/log" 2>&1
    check $? "does not build: $(head -n 5 "$tmp/log")"
    ASAN_OPTIONS=detect_leaks=1 "$tmp/prog" >"$tmp/run" 2>&1
    rc=$?
else
    how="valgrind"
    cc -std=c99 -Wall -Wextra -Werror -O1 -g -I. "$tmp/prog.c" -o "$tmp/prog" -lm >"$tmp/log" 2>&1
    check $? "does not build: $(head -n 5 "$tmp/log")"
    valgrind --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=9 "$tmp/prog" >"$tmp/run" 2>&1
    rc=$?
fi
check $rc "exit status $rc under $how: $(head -n 20 "$tmp/run")"
[ -s "$tmp/heat.png" ]
check $? "wrote no heat.png"
echo "the README's program under $how: $lines lines"
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
