#!/usr/bin/env python3
"""What paths cost: the same failing run with paths (the default, and --trace) against --no-trace, alternating
A B A B in one run, medians, spreads, and the `explain` phase (the path pass) from report.json's timings.
Writes bench/trace-cost.md (or --out). Run as root on an otherwise idle machine, after `cargo build --release`:

    sudo python3 bench/trace-cost.py            # ≈ 3 min on 2 cores
    sudo python3 bench/trace-cost.py --rounds 1 # a check that the benchmark itself works

Rows:
  test3-wrong   fixtures/suites/test3-wrong.toml: the handout's Test3 mistake, 8 failing ICMP cells (engine,
                macvlan, the switch), default paths vs --no-trace
  star6         a 6-host star whose 30 cells all expect the opposite (every pair reaches): default (16 paths),
                --trace (30) vs --no-trace
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "reachlab")


def once(suite, extra, tmp):
    """One run: (seconds, explain ms, paths). A run must fail (exit 1): these suites have failing cells."""
    reports = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, NO_COLOR="1", REACHLAB_STATE_DIR=os.path.join(tmp, "state"))
    t = time.perf_counter()
    p = subprocess.run([BIN, "run", suite, "--json", "--report-dir", reports, *extra], env=env,
                       capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode != 1:
        sys.exit(f"bench: {suite} {extra} exited {p.returncode}: {p.stderr[-2000:]}")
    report = json.loads(p.stdout)
    suite_report = report["suites"][0]
    explain = sum(p["ms"] for p in suite_report.get("timings") or [] if p["phase"] == "explain")
    paths = sum(1 for c in suite_report["checks"] if c.get("path"))
    return took, explain, paths


def fmt(ts):
    m = statistics.median(ts)
    return f"{m:.2f} s (min {min(ts):.2f}, max {max(ts):.2f}, n={len(ts)})"


def flipped_star(tmp):
    text = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen-star.py"), "6", "--timeout-ms", "1000"],
                          check=True, capture_output=True, text=True).stdout
    lines = [l.replace(" Y", " N") if l.startswith("h") and " Y" in l else l for l in text.splitlines()]
    path = os.path.join(tmp, "star6-flipped.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "trace-cost.md"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="reachlab-trace-bench-")
    rows = []
    try:
        cases = [
            ("test3-wrong (8 failing cells)", os.path.join(ROOT, "fixtures/suites/test3-wrong.toml"),
             [("default", []), ("--no-trace", ["--no-trace"])]),
            ("star of 6, every cell flipped (30 failing cells)", flipped_star(tmp),
             [("default", []), ("--trace", ["--trace"]), ("--no-trace", ["--no-trace"])]),
        ]
        for name, suite, modes in cases:
            once(suite, [], tmp)  # warm-up (image import, page cache)
            times = {m: [] for m, _ in modes}
            explain = {m: [] for m, _ in modes}
            paths = {}
            for _ in range(args.rounds):
                for m, extra in modes:
                    t, e, n = once(suite, extra, tmp)
                    times[m].append(t)
                    explain[m].append(e)
                    paths[m] = n
            base = statistics.median(times["--no-trace"])
            for m, _ in modes:
                extra_s = statistics.median(times[m]) - base
                rows.append((name, m, paths[m], fmt(times[m]), f"{statistics.median(explain[m]):.0f} ms",
                             "—" if m == "--no-trace" else f"{extra_s:+.2f} s"))
    finally:
        subprocess.run(["rm", "-rf", tmp])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = [
        "# What paths cost",
        "",
        f"Written by `sudo python3 bench/trace-cost.py --rounds {args.rounds}` at commit {commit}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores. Each suite's modes "
        "alternate in one run; whole-run times are medians (min, max, rounds); `explain` is the path pass "
        "alone (report.json's timings); the last column is the median run against `--no-trace`'s.",
        "",
        "| suite | mode | paths | whole run | explain | against --no-trace |",
        "|---|---|---:|---|---:|---:|",
    ]
    out += [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows]
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
