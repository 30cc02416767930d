#!/usr/bin/env python3
"""Summarises scripts/bench-queue.sh runs: per mode and system (orch,
amqp-classic, amqp-quorum) the median [min-max] of throughput, p99 latency
and server and client CPU per message over the rounds, and the ratios of
Orch to RabbitMQ (for msgs/s higher is better; for p99 and CPU lower is)."""
import re
import statistics
import sys

LINE = re.compile(r"(?:(amqp-\w+|orch-base) )?batch=(\d+) .*rate=(\d+) receive=(\d+):.* ([\d.]+) msgs/s end to end; "
                  r"latency ms p50 ([\d.]+) p90 [\d.]+ p99 ([\d.]+).*client cpu ([\d.]+) us/msg; server cpu ([\d.]+) us/msg")
vals = {}  # (mode, metric) -> system -> [values]
for line in open(sys.argv[1]):
    m = LINE.match(line)
    if not m:
        continue
    sysname, batch, rate, recv, tput, p50, p99, ccpu, scpu = m.groups()
    sysname = sysname or "orch"
    mode = f"batch {batch}" + (f", {rate} msgs/s" if rate != "0" else "")
    metrics = {"p99 ms": p99, "server cpu us/msg": scpu, "client cpu us/msg": ccpu}
    if rate == "0":
        metrics["msgs/s"] = tput
    else:
        metrics["p50 ms"] = p50
    for k, v in metrics.items():
        vals.setdefault((mode, k), {}).setdefault(sysname, []).append(float(v))


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt(xs):
    return f"{num(statistics.median(xs))} [{num(min(xs))}-{num(max(xs))}]" if xs else "-"


def ratio(a, b):
    return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b and statistics.median(b) else "-"


base = any("orch-base" in by for by in vals.values())
bh, bs = (" Orch base | Orch/base |", " --- | --- |") if base else ("", "")
print("| run | metric | Orch |" + bh + " RabbitMQ classic | RabbitMQ quorum | Orch/classic | Orch/quorum |")
print("| --- | --- | --- |" + bs + " --- | --- | --- | --- |")
for (mode, metric), by in vals.items():
    o, b, c, q = by.get("orch", []), by.get("orch-base", []), by.get("amqp-classic", []), by.get("amqp-quorum", [])
    bc = f" {fmt(b)} | {ratio(o, b)} |" if base else ""
    print(f"| {mode} | {metric} | {fmt(o)} |{bc} {fmt(c)} | {fmt(q)} | {ratio(o, c)} | {ratio(o, q)} |")
print("(medians [min-max] over the rounds; msgs/s: higher is better; p99 and cpu: lower is better)")
