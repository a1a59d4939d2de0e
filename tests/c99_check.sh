#!/bin/sh
# Every example and tool builds with the one command printed at its top ("Build: cc ..."), run from
# the repository root, under strict C99 as well: -std=c99 -Wall -Wextra -pedantic -Werror (no
# POSIX names used without their feature-test macro, no GNU extensions).  One line a file.
cd "$(dirname "$0")/.." || exit 1
tmp=${TMPDIR:-/tmp}/xai_c99_check.$$
mkdir -p "$tmp"
passed=0
failed=0
for f in examples/*.c tools/*.c; do
    line=$(grep -m1 -E '^ *(/\*)? *Build: ' "$f" | sed -e 's/.*Build: *//' -e 's/ *(.*//' -e 's/\*\/.*//')
    if [ -z "$line" ]; then echo "FAIL c99: $f has no 'Build:' line"; failed=$((failed + 1)); continue; fi
    cmd=$(printf '%s' "$line" | sed -e "s# -o [^ ]*# -o $tmp/program#")
    if (sh -c "$cmd -std=c99 -Wall -Wextra -pedantic -Werror" >"$tmp/log" 2>&1); then
        echo "ok c99: $f"
        passed=$((passed + 1))
    else
        echo "FAIL c99: $f: $cmd -std=c99 -Wall -Wextra -pedantic -Werror"
        head -n 10 "$tmp/log"
        failed=$((failed + 1))
    fi
done
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
