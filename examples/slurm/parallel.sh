#!/bin/bash
# AOPC on one machine with GNU parallel: a shard a core, then the merge into $OUT/all.
# From the repository root (or set XAI_HOME):
#     MODEL=models/caffenet.xai LIST=images.txt examples/slurm/parallel.sh
# A killed run is resumed by running the same command again.  Settings come from the environment.
set -euo pipefail
cd "${XAI_HOME:-.}"
MODEL=${MODEL:-models/caffenet.xai}
LIST=${LIST:-images.txt}
METHODS=${METHODS:-lrp-eps:100,lrp-eps:0.01,lrp-ab:2,sensitivity-l2,sensitivity-linf,deconv-l2,deconv-linf,random}
OUT=${OUT:-results}
SHARDS=${SHARDS:-$(nproc)}
AOPC_FLAGS=${AOPC_FLAGS:-}
export MODEL LIST METHODS OUT SHARDS AOPC_FLAGS
mkdir -p "$OUT"
# one thread a shard: the shards are the parallelism; a failed shard fails the whole run
# shellcheck disable=SC2016
seq 0 $((SHARDS - 1)) | OMP_NUM_THREADS=1 parallel --will-cite --halt now,fail=1 -j "$(nproc)" \
    'bin/aopc "$MODEL" --list "$LIST" --methods "$METHODS" $AOPC_FLAGS --shard {}/"$SHARDS" --out "$OUT/shard{}"'
shards=()
for ((i = 0; i < SHARDS; i++)); do shards+=("$OUT/shard$i"); done
bin/aopc-merge "${shards[@]}" --out "$OUT/all"
