#!/usr/bin/env python3
"""Summarises scripts/bench-queue.sh runs: per mode and system (orch with
the stock SDK, orch-lean with orch-loadgen's lean client, orch-base and
orch-base-lean for an older build, amqp-classic, amqp-quorum) the median
[min-max] of throughput, p99 latency and server and client CPU per message
over the rounds, and the ratios of Orch to RabbitMQ (for msgs/s higher is
better; for p99 and CPU lower is)."""
import re
import statistics
import sys

LINE = re.compile(r"(?:(amqp-\w+|orch-base-lean|orch-base|orch-lean) )?batch=(\d+) .*rate=(\d+) receive=(\d+):.* ([\d.]+) msgs/s end to end; "
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


present = {name for by in vals.values() for name in by}
# Columns: (header, system) values, then (header, a, b) ratios of medians.
cols = [("Orch (sdk)", "orch")]
if "orch-lean" in present:
    cols.append(("Orch (lean)", "orch-lean"))
if "orch-base" in present:
    cols += [("Orch base (sdk)", "orch-base"), ("sdk: Orch/base", ("orch", "orch-base"))]
if "orch-base-lean" in present:
    cols += [("Orch base (lean)", "orch-base-lean"), ("lean: Orch/base", ("orch-lean", "orch-base-lean"))]
cols += [("RabbitMQ classic", "amqp-classic"), ("RabbitMQ quorum", "amqp-quorum"),
         ("Orch sdk/classic", ("orch", "amqp-classic")), ("Orch sdk/quorum", ("orch", "amqp-quorum"))]
if "orch-lean" in present:
    cols += [("Orch lean/classic", ("orch-lean", "amqp-classic")), ("Orch lean/quorum", ("orch-lean", "amqp-quorum"))]
print("| run | metric | " + " | ".join(h for h, _ in cols) + " |")
print("| --- | --- |" + " --- |" * len(cols))
for (mode, metric), by in vals.items():
    cells = [ratio(by.get(c[0], []), by.get(c[1], [])) if isinstance(c, tuple) else fmt(by.get(c, [])) for _, c in cols]
    print(f"| {mode} | {metric} | " + " | ".join(cells) + " |")
print("(medians [min-max] over the rounds; msgs/s: higher is better; p99 and cpu: lower is better)")
