#!/usr/bin/env bash
# The oracle over many seeds: each seed's topology is built by `reachlab up`, probed by `reachlab probe --json`,
# and every cell compared with a serial `ping -n -c1 -W1` in the same lab (harness/tests/oracle). Prints each
# seed's mismatches and, at the end, the summary: labs, cells compared, mismatches by kind.
#
#   flock /work/machine.lock bench/oracle.sh [N=500] [FIRST=1]
#
# As root, on the real kernel; it builds labs, so take the machine lock. Sizes and profiles are drawn from each
# seed (mostly small, some up to 40 hosts); allow ~10 s per seed on average (serial ping of unanswered cells
# costs a second each). REACHLAB_ORACLE_KEEP=DIR keeps the suite of every seed with a mismatch;
# mismatches are counted for every seed; those of seeds listed as known-failing do not fail their trial.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
first=${2:-1}
log=target/oracle-seeds-$first-$((first + n - 1)).log
cargo test -q --test oracle --no-run
REACHLAB_ORACLE_SEEDS=$n REACHLAB_ORACLE_FIRST=$first cargo test -q --test oracle -- --test-threads 1 seed_ \
  >"$log" 2>&1 || true
grep -E '^seed_[0-9]+_[a-z]+_[0-9]+: |^  [0-9]+ × ' "$log" | cut -c1-220 || true
sed -n '/^oracle summary/,$p' "$log"
echo "full log: $log"
