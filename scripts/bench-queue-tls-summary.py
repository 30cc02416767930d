#!/usr/bin/env python3
"""Summarises scripts/bench-queue-tls.sh runs: per load, the median [min-max]
of throughput, p99 and server CPU per 1,000 messages for TLS and for plain
HTTP over the rounds, and the TLS/plain ratio of each round (the two
servers alternate within a round, so a round's ratio compares the same
minute of a noisy machine) with the median of those ratios."""
import re
import statistics
import sys

LINE = re.compile(r"(tls|plain) +batch=(\d+) .*rate=(\d+) .* ([\d.]+) msgs/s end to end; "
                  r"latency ms p50 [\d.]+ p90 [\d.]+ p99 ([\d.]+).*server cpu ([\d.]+) ms per 1000 msgs"
                  r"(?:, ([\d.]+) us per call)?")
rounds = []  # one dict per round: (load, metric, mode) -> value
for line in open(sys.argv[1]):
    if line.startswith("round "):
        rounds.append({})
        continue
    m = LINE.match(line)
    if not m or not rounds:
        continue
    mode, batch, rate, tput, p99, cpu, percall = m.groups()
    load = f"batch {batch}" + (f" at {rate} msgs/s" if rate != "0" else "")
    metrics = {"server cpu ms/1000 msgs": cpu, "p99 ms": p99}
    if percall:
        metrics["server cpu us/call"] = percall
    if rate == "0":
        metrics["msgs/s"] = tput
    for k, v in metrics.items():
        rounds[-1][(load, k, mode)] = float(v)


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt(xs):
    return f"{num(statistics.median(xs))} [{num(min(xs))}-{num(max(xs))}]" if xs else "-"


keys = []
for r in rounds:
    for (load, metric, _) in r:
        if (load, metric) not in keys:
            keys.append((load, metric))
print("| load | metric | TLS | plain | TLS/plain per round | median ratio |")
print("| --- | --- | --- | --- | --- | --- |")
for load, metric in keys:
    t = [r[(load, metric, "tls")] for r in rounds if (load, metric, "tls") in r]
    p = [r[(load, metric, "plain")] for r in rounds if (load, metric, "plain") in r]
    ratios = [r[(load, metric, "tls")] / r[(load, metric, "plain")] for r in rounds
              if (load, metric, "tls") in r and r.get((load, metric, "plain"))]
    per = " · ".join(f"{x:.2f}" for x in ratios)
    med = f"{statistics.median(ratios):.2f}" if ratios else "-"
    print(f"| {load} | {metric} | {fmt(t)} | {fmt(p)} | {per} | {med} |")
print("(medians [min-max] over the rounds; msgs/s: higher is better; p99 and cpu: lower is better)")
