#!/usr/bin/env bash
# Benchmarks, as ratios against a baseline measured in the same run (absolute times depend on the machine).
#   sudo bench/run.sh            # needs hyperfine (apt-get install hyperfine) and busybox (busybox-static)
# 1. netns suite end to end (build, 2 probes, judge, reports, teardown) vs. the same lab by hand with iproute2.
# 2. Test1 end to end (private engine, LAN, 3 containers, 26 checks, teardown) vs. starting and removing a private
#    dockerd by hand (bench/engine-baseline.sh): what the lab costs on top of the engine itself.
# 3. routed fixture (6 namespaces, 5 veths, a bridge, 20 probes of which 7 must time out at 600 ms): shows that
#    all probes run at once, so the run costs about one timeout rather than 7 of them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/reachlab
out=${1:-target/bench}
mkdir -p "$out"
hyperfine -N --warmup 3 --runs 30 --export-markdown "$out/netns.md" \
  -n "iproute2 + ping (baseline)" "bash bench/netns-baseline.sh" \
  -n "reachlab run netns.toml" "$bin run test-suites/netns.toml --report-dir $out/reports"
hyperfine -N --warmup 1 --runs 10 --export-markdown "$out/routed.md" \
  -n "one probe timeout (sleep 0.6)" "sleep 0.6" \
  -n "reachlab run routed.toml (7 timeouts)" "$bin run fixtures/suites/routed.toml --report-dir $out/reports"
hyperfine -N --warmup 1 --runs 10 --export-markdown "$out/test1.md" \
  -n "private dockerd start + stop (baseline)" "bash bench/engine-baseline.sh" \
  -n "reachlab run test1-custom-bridge.toml" "$bin run test-suites/test1-custom-bridge.toml --report-dir $out/reports"
cat "$out/netns.md" "$out/test1.md" "$out/routed.md"

# 4. Grading the fixture class (9 submissions, each its own lab): --jobs 1 vs --jobs 2 on this 2-core machine.
hyperfine -N --warmup 0 --runs 2 --export-markdown "$out/grade.md" \
  -n "grade --jobs 1" "$bin grade --suite test-suites/grading/test1.toml fixtures/submissions/test1 --force --jobs 1 --report-dir $out/grade1" \
  -n "grade --jobs 2" "$bin grade --suite test-suites/grading/test1.toml fixtures/submissions/test1 --force --jobs 2 --report-dir $out/grade2"
cat "$out/grade.md"
