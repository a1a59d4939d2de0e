#!/bin/sh
# Every example and tool builds with the one command printed at its top ("Build: cc ..."), run from
# the repository root, under strict C99 as well: -std=c99 -Wall -Wextra -pedantic -Werror (no
# POSIX names used without their feature-test macro, no GNU extensions).  These are the front end's
# diagnostics: the compiler checks the file and stops (-fsyntax-only); tests/build_check.sh runs each
# line as written to the end (code generation and link).  One line a file; one job a core.
cd "$(dirname "$0")/.." || exit 1
tmp=${TMPDIR:-/tmp}/xai_c99_check.$$
mkdir -p "$tmp"
jobs=$(nproc 2>/dev/null || echo 2)
i=0
for f in examples/*.c tools/*.c; do
    i=$((i + 1))
    (
        line=$(grep -m1 -E '^ *(/\*)? *Build: ' "$f" | sed -e 's/.*Build: *//' -e 's/ *(.*//' -e 's/\*\/.*//')
        if [ -z "$line" ]; then echo "FAIL c99: $f has no 'Build:' line" >"$tmp/$i.out"; exit 0; fi
        cmd=$(printf '%s' "$line" | sed -e "s# -o [^ ]*# -o $tmp/program$i#")
        if (sh -c "$cmd -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only" >"$tmp/$i.log" 2>&1); then
            echo "ok c99: $f" >"$tmp/$i.out"
        else
            { echo "FAIL c99: $f: $cmd -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only"; head -n 10 "$tmp/$i.log"; } >"$tmp/$i.out"
        fi
    ) &
    [ $((i % jobs)) -eq 0 ] && wait
done
wait
cat "$tmp"/*.out
passed=$(cat "$tmp"/*.out | grep -c '^ok c99: ')
failed=$(cat "$tmp"/*.out | grep -c '^FAIL c99: ')
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
