#!/usr/bin/env bash
# One shard of a sweep per Slurm array task (see `python -m iterand --help`):
#
#   sbatch --array=1-16 scripts/slurm_sweep.sh fig2 --data-root /data/cifar10
#   sbatch --array=1-8 --time=2-00:00:00 scripts/slurm_sweep.sh fig3 --data-root /data/imagenet
#
# Arguments are those of `python -m iterand sweep` (name first); --shard comes from the array. Shards are
# numbered from the array's first index, so --array=0-15 works as well as --array=1-16. Every task writes
# into the same --out (default runs/train, or $ITERAND_RUNS/train); resubmitting the same array skips the
# finished runs and resumes the interrupted ones, e.g. after the time limit or a preemption.
# $PYTHON picks the interpreter (default: python on the PATH, e.g. the activated environment).
#SBATCH --job-name=iterand-sweep
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    echo "error: run this as an array job, e.g. sbatch --array=1-16 $0 fig2" >&2
    exit 2
fi
shard="$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1))/${SLURM_ARRAY_TASK_COUNT}"
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
exec "${PYTHON:-python}" -m iterand sweep "$@" --shard "$shard"
