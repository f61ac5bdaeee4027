#!/usr/bin/env bash
# Submit a sharded bridgelaw run to Slurm: an array job of N shards and a merge job that waits
# for all of them.
#
#   scripts/slurm/submit.sh N OUT BRIDGELAW_ARGS...
#   scripts/slurm/submit.sh 100 reports/big/propagate propagate models/lgm50_chain_voltage_band.toml --method mc --samples 10000000 --seed 1
#   scripts/slurm/submit.sh 16 reports/big/sensitivity sensitivity models/x.toml --method sobol --samples 65536
#
# Parts go to OUT.parts/; extra sbatch options (account, partition, cores) go in SBATCH_ARGS,
# e.g. SBATCH_ARGS="--account=abc --partition=cpu --cpus-per-task=32". MERGE_FLAGS=--report adds
# the HTML report. BRIDGELAW is the binary (default: bridgelaw on PATH).
set -euo pipefail
if [ "$#" -lt 3 ]; then
    sed -n '2,10p' "$0" >&2
    exit 2
fi
N="$1"
OUT="$2"
shift 2
HERE="$(cd "$(dirname "$0")" && pwd)"
PARTS="$OUT.parts"
mkdir -p "$PARTS"
export SHARDS="$N" BRIDGELAW="${BRIDGELAW:-bridgelaw}" BRIDGELAW_CMD="$*" PARTS OUT MERGE_FLAGS="${MERGE_FLAGS:-}"
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable --array="1-$N" ${SBATCH_ARGS:-} --export=ALL "$HERE/shards.sbatch")
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency="afterok:${array%%;*}" ${SBATCH_ARGS:-} --export=ALL "$HERE/merge.sbatch")
echo "shards: job ${array%%;*} (array 1-$N) → $PARTS; merge: job ${merge%%;*} → $OUT"
