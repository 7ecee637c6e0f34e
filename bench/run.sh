#!/usr/bin/env bash
# The benchmark is bench/run.py (alternating runs, medians, ratios, bench/results.md); this name is kept for
# habit: `sudo bench/run.sh [--quick]`.
exec python3 "$(dirname "$0")/run.py" "$@"
