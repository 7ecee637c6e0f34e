#!/usr/bin/env bash
# Baseline for bench/run.sh: the lab's "Network Namespaces" slides typed as a student would (iproute2 and
# busybox ping), both directions, then removed. Names carry the PID so runs never collide.
set -euo pipefail
a=bl$$a b=bl$$b
ip netns add "$a"; ip netns add "$b"
trap 'ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null' EXIT
ip link add veth-s1 netns "$a" type veth peer name veth-s2 netns "$b"
ip -n "$a" address add 10.0.0.11/24 dev veth-s1; ip -n "$a" link set veth-s1 up
ip -n "$b" address add 10.0.0.12/24 dev veth-s2; ip -n "$b" link set veth-s2 up
ip netns exec "$a" busybox ping -c1 -W1 10.0.0.12 >/dev/null
ip netns exec "$b" busybox ping -c1 -W1 10.0.0.11 >/dev/null
