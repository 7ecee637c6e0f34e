#!/usr/bin/env bash
# Baseline for the Docker suites in bench/run.sh: the irreducible part of a private engine — a namespace, dockerd
# started in it until its API answers, then stopped and removed — by hand, without reachlab.
set -euo pipefail
n=blengine$$ d=$(mktemp -d /tmp/rl-bench-XXXX)
cleanup() {
  [ -s "$d/dockerd.pid" ] && kill -9 "$(cat "$d/dockerd.pid")" 2>/dev/null || true
  sleep 0.05
  grep -F " $d" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | while read -r m; do umount -l "$m"; done
  ip netns del "$n" 2>/dev/null || true
  rm -rf "$d"
}
trap cleanup EXIT
ip netns add "$n"
echo '{}' > "$d/daemon.json"
nsenter --net=/run/netns/"$n" dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
  --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" >/dev/null 2>&1 &
for _ in $(seq 1 500); do
  curl -sf --unix-socket "$d/docker.sock" http://x/_ping >/dev/null 2>&1 && exit 0
  sleep 0.02
done
echo "dockerd did not start" >&2; exit 1
