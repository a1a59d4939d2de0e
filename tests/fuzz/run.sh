#!/bin/sh
# Runs each libFuzzer target for FUZZ_SECONDS (make fuzz).  Seeds: bin/fuzz/seeds/<target>
# (make fuzz writes them with bin/fuzz-seeds), the regression inputs
# tests/fuzz/regressions/<target>, and the real Caffe files
# of ../shared/caffe when present (copied into the work corpus, never committed).
# A crash, leak, over-budget allocation or a hang (-timeout) leaves its input in
# bin/fuzz/artifacts/<target>-*; the exit status is 1 if any target found something.
cd "$(dirname "$0")/../.." || exit 1
secs=${FUZZ_SECONDS:-60}
# an input that runs longer than this many seconds of wall time is reported as a hang; fuzz.h's
# FUZZ_WORK_MAX keeps the largest net it runs well within the default
timeout=${FUZZ_TIMEOUT:-10}
mkdir -p bin/fuzz/artifacts
shared=../shared/caffe
status=0
summary=""
for t in "$@"; do
    name=${t#fuzz_}
    work=bin/fuzz/corpus/$name
    mkdir -p "$work"
    if [ -d "$shared" ]; then
        case $name in
        prototxt) cp "$shared"/*/*.prototxt "$work"/ 2>/dev/null ;;
        caffemodel) cp "$shared"/lenet_v1/*.caffemodel "$shared"/lenet_v2/*.caffemodel "$work"/ 2>/dev/null ;;
        binaryproto) cp "$shared"/caffenet/imagenet_mean.binaryproto "$work"/ 2>/dev/null ;;
        labels) cp "$shared"/caffenet/synset_words.txt "$work"/ 2>/dev/null ;;
        esac
    fi
    dirs="$work bin/fuzz/seeds/$name"
    [ -d tests/fuzz/regressions/$name ] && dirs="$dirs tests/fuzz/regressions/$name"
    dict=""
    [ -f tests/fuzz/$name.dict ] && dict="-dict=tests/fuzz/$name.dict"
    echo "== $t: $secs s"
    bin/fuzz/$t -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len=1048576 \
        -print_final_stats=1 -artifact_prefix="bin/fuzz/artifacts/$name-" $dict $dirs >bin/fuzz/$name.log 2>&1
    rc=$?
    runs=$(grep -E '^stat::number_of_executed_units' bin/fuzz/$name.log | tail -n 1 | sed 's/.*: *//')
    cov=$(grep -E '^#[0-9]+' bin/fuzz/$name.log | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|runtime error|fuzz: ' bin/fuzz/$name.log | head -n 5
        line="$t: ${runs:-?} runs, coverage ${cov:-?}, FOUND A PROBLEM (exit $rc): see bin/fuzz/$name.log and bin/fuzz/artifacts/"
    else
        line="$t: ${runs:-?} runs, coverage ${cov:-?}, no crash"
    fi
    echo "$line"
    summary="$summary$line
"
done
printf '\n%s' "$summary"
exit $status
