#!/usr/bin/env python3
"""Generates an N-host star: N namespaces on one bridge (the switch, in a namespace of its own), all pairs
probed with ICMP. `--blocked K` leaves the links of the first K hosts down, so their cells are `N`.

    bench/gen-star.py 100 > /tmp/star100.toml
    bench/gen-star.py 50 --blocked 17 > /tmp/star50-cut.toml

Every cell is reasoned: hosts whose links are up share 10.0.0.0/16 on one bridge and reach each other; a host
whose link is down reaches nobody and nobody reaches it.
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("n", type=int)
p.add_argument("--blocked", type=int, default=0)
p.add_argument("--timeout-ms", type=int, default=1000)
a = p.parse_args()
hosts = [f"h{i}" for i in range(a.n)]
out = [f'name = "star{a.n}{"-cut" + str(a.blocked) if a.blocked else ""}"',
       f'description = "{a.n} hosts on one bridge, all pairs; {a.blocked} with their link down"',
       "[settings]", f"timeout_ms = {a.timeout_ms}", "", '[[namespace]]', 'name = "lan"', "",
       '[[bridge]]', 'name = "br0"', 'netns = "lan"', ""]
for i, h in enumerate(hosts):
    out += ['[[namespace]]', f'name = "{h}"', ""]
for i, h in enumerate(hosts):
    up = "" if i >= a.blocked else "up = false\n"
    out += ['[[veth]]', 'name = "eth0"', f'netns = "{h}"', f'address = "10.0.{i // 250}.{i % 250 + 1}/16"',
            up + f'peer = {{ name = "p-{h}", netns = "lan", master = "br0" }}', ""]
width = max(len(h) for h in hosts) + 1
grid = [" " * width + " ".join(h.ljust(width) for h in hosts)]
for i, src in enumerate(hosts):
    cells = []
    for j, dst in enumerate(hosts):
        cells.append("-" if i == j else ("N" if i < a.blocked or j < a.blocked else "Y"))
    grid.append(src.ljust(width) + " ".join(c.ljust(width) for c in cells))
out += ['[[matrix]]', 'probe = "icmp"', 'expect = """', *grid, '"""', ""]
print("\n".join(out))
