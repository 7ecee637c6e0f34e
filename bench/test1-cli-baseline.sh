#!/usr/bin/env bash
# Baseline for bench/run.py: Test1 as an instructor scripts it today with the Docker CLI — server1 (a namespace
# with its own dockerd, so the machine's engine is never touched), server2 and the host-only switch, the
# offline image imported, a user-defined bridge, three containers, then every cell of the suite's matrices
# pinged pair by pair (`docker exec … ping -c1 -W1`, `ip netns exec … ping`), a capture on server2, the NAT
# rule read back; then everything removed. Same checks as test-suites/test1-custom-bridge.toml.
set -uo pipefail
id=$$
s1=blt1-$id-s1 s2=blt1-$id-s2 sw=blt1-$id-sw
d=$(mktemp -d /tmp/rl-bench-XXXX)
D() { docker -H "unix://$d/docker.sock" "$@"; }
cleanup() {
  D rm -f alpine1 alpine2 alpine3 >/dev/null 2>&1
  pid=$(cat "$d/dockerd.pid" 2>/dev/null)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  grep -F " $d" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | while read -r m; do umount -l "$m"; done
  for n in "$s1" "$s2" "$sw"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$d"
}
trap cleanup EXIT
set -e
# The lab: server1 and server2 on a host-only switch.
for n in "$s1" "$s2" "$sw"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$sw" link add br0 type bridge; ip -n "$sw" link set br0 up
for pair in "$s1:192.168.56.3" "$s2:192.168.56.4"; do
  n=${pair%%:*} a=${pair#*:}
  ip link add enp0s3 netns "$n" type veth peer name "p${n: -2}" netns "$sw"
  ip -n "$sw" link set "p${n: -2}" master br0 up
  ip -n "$n" address add "$a/24" dev enp0s3; ip -n "$n" link set enp0s3 up
done
# server1's engine.
echo '{}' > "$d/daemon.json"
nsenter --net=/run/netns/"$s1" dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
  --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" >"$d/dockerd.log" 2>&1 &
for _ in $(seq 1 500); do curl -sf --unix-socket "$d/docker.sock" http://x/_ping >/dev/null 2>&1 && break; sleep 0.02; done
# The offline image: a static busybox, imported.
mkdir -p "$d/root/bin"; cp "$(command -v busybox)" "$d/root/bin/busybox"
for a in sh ping sleep nslookup; do ln -s busybox "$d/root/bin/$a"; done
tar -C "$d/root" -c . | D import - alpine >/dev/null
D network create alpine-net >/dev/null
D run -d --name alpine1 alpine sleep 3600 >/dev/null
D run -d --name alpine2 alpine sleep 3600 >/dev/null
D network connect alpine-net alpine2
D run -d --name alpine3 --network alpine-net alpine sleep 3600 >/dev/null
ip_of() { D inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
a1=$(ip_of alpine1 bridge) a2=$(ip_of alpine2 bridge) a2n=$(ip_of alpine2 alpine-net) a3=$(ip_of alpine3 alpine-net)
set +e
ip netns exec "$s2" tcpdump -i enp0s3 -nn -w "$d/s2.pcap" icmp >/dev/null 2>&1 &
tcpdump_pid=$!
sleep 0.3
fail=0
expect() { # expect Y|N|U command...
  local want=$1; shift
  if "$@" >/dev/null 2>&1; then got=Y; else got=N; fi
  [ "$want" = U ] && want=N
  [ "$got" = "$want" ] || { echo "unexpected: $* gave $got" >&2; fail=1; }
}
expect Y D exec alpine1 ping -c1 -W1 "$a2"
expect N D exec alpine1 ping -c1 -W1 "$a3"
expect Y D exec alpine1 ping -c1 -W1 192.168.56.3
expect Y D exec alpine1 ping -c1 -W1 192.168.56.4
expect Y D exec alpine2 ping -c1 -W1 "$a1"
expect Y D exec alpine2 ping -c1 -W1 "$a3"
expect Y D exec alpine2 ping -c1 -W1 192.168.56.3
expect Y D exec alpine2 ping -c1 -W1 192.168.56.4
expect N D exec alpine3 ping -c1 -W1 "$a1"
expect Y D exec alpine3 ping -c1 -W1 "$a2n"
expect Y D exec alpine3 ping -c1 -W1 192.168.56.3
expect Y D exec alpine3 ping -c1 -W1 192.168.56.4
for a in "$a1" "$a2" "$a3" 192.168.56.4; do expect Y ip netns exec "$s1" ping -c1 -W1 "$a"; done
for a in "$a1" "$a2" "$a3"; do expect N ip netns exec "$s2" ping -c1 -W1 "$a"; done
expect Y ip netns exec "$s2" ping -c1 -W1 192.168.56.3
expect U D exec alpine1 ping -c1 -W1 alpine2
expect Y D exec alpine2 ping -c1 -W1 alpine3
sleep 0.2; kill -INT "$tcpdump_pid"; wait "$tcpdump_pid"
# NAT: requests reach server2 from server1's address only; the MASQUERADE rule is there.
[ "$(tcpdump -nn -r "$d/s2.pcap" 'icmp and dst host 192.168.56.4 and not src host 192.168.56.3' 2>/dev/null | wc -l)" = 0 ] || fail=1
[ "$(tcpdump -nn -r "$d/s2.pcap" 'icmp and dst host 192.168.56.4 and src host 192.168.56.3' 2>/dev/null | wc -l)" -ge 1 ] || fail=1
ip netns exec "$s1" iptables -t nat -S POSTROUTING | grep -q 'MASQUERADE' || fail=1
exit $fail
