#!/usr/bin/env bash
# Loader scaling: `reachlab list` on generated wide suites (bench/gen-wide.py), below and above the limits, and
# the loader alone with the limits lifted (the loading_figures test). Pure: builds nothing, needs no root.
#   bench/load.sh [REACHLAB_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/reachlab}
[ -x "$bin" ] || cargo build --release --bin reachlab
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in 1000 2000 4000 40000 80000 160000; do
  bench/gen-wide.py "$n" > "$dir/wide$n.toml"
  /usr/bin/time -f "list, $n namespaces ($(stat -c %s "$dir/wide$n.toml") bytes): %e s, %M KB, exit %x" \
    "$bin" list "$dir/wide$n.toml" 2>&1 >/dev/null | tail -1 || true
done
cargo test -q --release --test loader -- --ignored loading_figures --nocapture 2>&1 | grep namespaces
