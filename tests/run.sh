#!/bin/sh
# Runs every test program given on the command line and adds up their "N passed, M failed" lines.
# A program that crashes, or ends without that line, counts as one failure.
# The programs run RUN_JOBS at a time (default: one a core) and report in the order given; a script
# runs alone (tests/build_check.sh: parallel itself, and its builds of the tests use their folders).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xai_run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
max=${RUN_JOBS:-$(nproc 2>/dev/null || echo 2)}
passed=0
failed=0
started=0
reported=0

# report: adds up the report of the oldest test not yet reported, once it has finished
report() {
    reported=$((reported + 1))
    eval "wait \$pid_$reported; prog=\$prog_$reported"
    name=$(basename "$prog")
    out=$(cat "$tmp/$reported.out")
    rc=$(cat "$tmp/$reported.rc")
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        printf '%s\n' "$out" | tail -n 20
        echo "$name: crashed or printed no summary (exit $rc)"
        failed=$((failed + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed}
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)' || true
    echo "$name: $line"
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$name: exit status $rc with no failed check"
        failed=$((failed + 1))
    fi
}

for t in "$@"; do
    case $t in *.sh) alone=1 ;; *) alone=0 ;; esac
    while [ $((started - reported)) -ge "$max" ] || { [ "$alone" = 1 ] && [ "$started" -gt "$reported" ]; }; do report; done
    started=$((started + 1))
    ( "$t" >"$tmp/$started.out" 2>&1; echo $? >"$tmp/$started.rc" ) &
    eval "pid_$started=\$!; prog_$started=\$t"
    [ "$alone" = 1 ] && report
done
while [ "$reported" -lt "$started" ]; do report; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
