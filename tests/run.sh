#!/bin/sh
# Runs every test program given on the command line and adds up their "N passed, M failed" lines.
# A program that crashes, or ends without that line, counts as one failure.
# The programs run RUN_JOBS at a time (default: one a core), started in the order given (put the
# longest first) and each started as soon as one has finished; they report in the order given.
# Each runs with a folder of its own as TMPDIR, so that no two share a temporary file (the
# scripts' builds of the tests run beside the tests themselves).
# The tests run side by side on every core: an OpenMP thread waiting for work sleeps rather than
# spins (unless OMP_WAIT_POLICY says otherwise), so that it does not take the core from the test
# beside it (under load, spinning took a third of test_gemm's CPU time).
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xai_run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
max=${RUN_JOBS:-$(nproc 2>/dev/null || echo 2)}
passed=0
failed=0
started=0
reported=0
running=0
finished=0   # jobs 1..N whose end has been counted: their .rc exists

# report: adds up the report of the oldest test not yet reported (it has finished)
report() {
    reported=$((reported + 1))
    eval "prog=\$prog_$reported"
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

# reap: waits until a running job has finished (its .rc written), then reports every finished
# job in order up to the first one still running
reap() {
    while :; do
        n=0
        i=$((reported + 1))
        while [ "$i" -le "$started" ]; do
            eval "done_i=\$done_$i"
            if [ -z "$done_i" ] && [ -f "$tmp/$i.rc" ]; then
                eval "wait \$pid_$i; done_$i=1"
                n=$((n + 1))
            fi
            i=$((i + 1))
        done
        [ "$n" -gt 0 ] && break
        sleep 0.1
    done
    running=$((running - n))
    while [ "$reported" -lt "$started" ] && eval "[ -n \"\$done_$((reported + 1))\" ]"; do report; done
}

for t in "$@"; do
    while [ "$running" -ge "$max" ]; do reap; done
    started=$((started + 1))
    mkdir "$tmp/$started.tmp"
    ( TMPDIR="$tmp/$started.tmp" "$t" >"$tmp/$started.out" 2>&1; echo $? >"$tmp/$started.rc.part"; mv "$tmp/$started.rc.part" "$tmp/$started.rc" ) &
    eval "pid_$started=\$!; prog_$started=\$t"
    running=$((running + 1))
done
while [ "$reported" -lt "$started" ]; do reap; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
