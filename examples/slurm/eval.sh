#!/bin/bash
# AOPC on a Slurm cluster: one shard of the image list per array task, each into its own folder.
# From the repository root (or set XAI_HOME):
#     sbatch examples/slurm/eval.sh                  # 16 tasks: shards 0/16 .. 15/16
#     sbatch --array=3 examples/slurm/eval.sh        # rerun one failed or cancelled task: it resumes
#     bin/aopc-merge results/shard* --out results/all   # once all have finished (it checks that they have)
# Settings come from the environment (sbatch passes it on); SHARDS must be the array's full size,
# also when one task is resubmitted, since it decides which images a shard takes.
#SBATCH --job-name=aopc
#SBATCH --array=0-15
#SBATCH --cpus-per-task=4
#SBATCH --mem-per-cpu=1G
set -euo pipefail
cd "${XAI_HOME:-${SLURM_SUBMIT_DIR:-.}}"
MODEL=${MODEL:-models/caffenet.xai}
LIST=${LIST:-images.txt}
METHODS=${METHODS:-lrp-eps:100,lrp-eps:0.01,lrp-ab:2,sensitivity-l2,sensitivity-linf,deconv-l2,deconv-linf,random}
OUT=${OUT:-results}
SHARDS=${SHARDS:-16}
AOPC_FLAGS=${AOPC_FLAGS:-}
: "${SLURM_ARRAY_TASK_ID:?submit this script with sbatch --array (see its first lines)}"
# the folder of the shards: aopc creates its own, but not two at once on a fresh path
mkdir -p "$OUT"
# one OpenMP thread per CPU Slurm gave the task (libgomp rejects an empty OMP_NUM_THREADS)
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# AOPC_FLAGS is split into words on purpose (e.g. "--steps 100 --region 9")
# shellcheck disable=SC2086
exec bin/aopc "$MODEL" --list "$LIST" --methods "$METHODS" $AOPC_FLAGS \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --out "$OUT/shard$SLURM_ARRAY_TASK_ID"
