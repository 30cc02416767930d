#!/usr/bin/env python3
"""Summarises scripts/bench-compare.sh logs: every metric of `go test -bench`
lines and of orch-loadgen lines, per side (base, head), as median [min-max]
over the rounds, and the ratio of the medians head/base."""
import glob
import os
import re
import statistics
import sys

out = sys.argv[1]
metrics = {}  # name -> side -> [values]


def add(side, name, value):
    metrics.setdefault(name, {}).setdefault(side, []).append(value)


for path in sorted(glob.glob(os.path.join(out, "*-*.log"))):
    side = os.path.basename(path).split("-")[0]
    for line in open(path, errors="replace"):
        if line.startswith("Benchmark"):
            f = line.split()
            bench = re.sub(r"-\d+$", "", f[0])
            # after the name and iteration count come value/unit pairs
            for v, unit in zip(f[2::2], f[3::2]):
                if unit == "ns/op":
                    continue
                try:
                    add(side, f"{bench} {unit}", float(v))
                except ValueError:
                    pass
        m = re.match(r"batch=(\d+) .*rate=(\d+)(?: receive=(\d+))?:.* ([\d.]+) msgs/s end to end; latency ms p50 ([\d.]+) p90 [\d.]+ p99 ([\d.]+)", line)
        if m:
            b, rate, recv, tput, p50, p99 = m.groups()
            # Before issue 18 every receive asked for 10 messages.
            key = f"queue batch={b}" + (f" rate={rate}" if rate != "0" else "") + (f" receive={recv}" if recv not in (None, "10") else "")
            if rate == "0":
                add(side, key + " msgs/s", float(tput))
            add(side, key + " p50-ms", float(p50))
            add(side, key + " p99-ms", float(p99))
        m = re.match(r"long-poll wake .*p50 ([\d.]+) ms p99 ([\d.]+) ms", line)
        if m:
            add(side, "queue long-poll wake p50-ms", float(m.group(1)))
            add(side, "queue long-poll wake p99-ms", float(m.group(2)))


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt(vals):
    if not vals:
        return "-"
    return f"{num(statistics.median(vals))} [{num(min(vals))}-{num(max(vals))}]"


print(f"| metric | base median [min-max] | head median [min-max] | head/base |")
print("| --- | --- | --- | --- |")
for name in sorted(metrics):
    b, h = metrics[name].get("base", []), metrics[name].get("head", [])
    ratio = f"{statistics.median(h) / statistics.median(b):.3f}" if b and h and statistics.median(b) else "-"
    print(f"| {name} | {fmt(b)} | {fmt(h)} | {ratio} |")
