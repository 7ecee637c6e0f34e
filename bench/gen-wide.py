#!/usr/bin/env python3
"""Generates a wide suite for measuring the loader: N namespaces joined in pairs by veth pairs (each pair its own
/30), and one small ICMP matrix over the first pair. It is never meant to be built: `reachlab list` loads it.

    bench/gen-wide.py 40000 > /tmp/wide40k.toml
"""
import argparse
import ipaddress

p = argparse.ArgumentParser()
p.add_argument("n", type=int, help="namespaces (rounded up to an even number)")
a = p.parse_args()
pairs = (a.n + 1) // 2
out = [f'name = "wide{a.n}"', ""]
for i in range(2 * pairs):
    out += ["[[namespace]]", f'name = "n{i}"', ""]
base = int(ipaddress.IPv4Address("10.0.0.0"))
for k in range(pairs):
    net = base + 4 * k
    x, y = ipaddress.IPv4Address(net + 1), ipaddress.IPv4Address(net + 2)
    out += ["[[veth]]", 'name = "eth0"', f'netns = "n{2 * k}"', f'address = "{x}/30"',
            f'peer = {{ name = "eth0", netns = "n{2 * k + 1}", address = "{y}/30" }}', ""]
out += ["[[matrix]]", 'probe = "icmp"', 'expect = """', "    n0 n1", "n0  -  Y", "n1  Y  -", '"""', ""]
print("\n".join(out))
