#!/usr/bin/env python3
"""Summarises scripts/bench-queue.sh runs: per transport (TLS: Orch over
HTTPS against RabbitMQ over AMQPS; plain: Orch --plain-http against plain
AMQP), per mode and system the median [min-max] of throughput, p99 latency
and server and client CPU per message over the rounds, with the ratios of
Orch to RabbitMQ within the transport (for msgs/s higher is better; for p99
and CPU lower is); then, when both transports ran, what TLS costs each
system (TLS/plain, medians)."""
import re
import statistics
import sys

LINE = re.compile(r"(?:([\w-]+) )?batch=(\d+) .*rate=(\d+) receive=(\d+):.* ([\d.]+) msgs/s end to end; "
                  r"latency ms p50 ([\d.]+) p90 [\d.]+ p99 ([\d.]+).*client cpu ([\d.]+) us/msg; server cpu ([\d.]+) us/msg")
vals = {}  # (mode, metric) -> line label -> [values]
for line in open(sys.argv[1]):
    m = LINE.match(line)
    if not m:
        continue
    label, batch, rate, recv, tput, p50, p99, ccpu, scpu = m.groups()
    label = label or "orch"
    mode = f"batch {batch}" + (f", {rate} msgs/s" if rate != "0" else "")
    metrics = {"p99 ms": p99, "server cpu us/msg": scpu, "client cpu us/msg": ccpu}
    if rate == "0":
        metrics["msgs/s"] = tput
    else:
        metrics["p50 ms"] = p50
    for k, v in metrics.items():
        vals.setdefault((mode, k), {}).setdefault(label, []).append(float(v))


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt(xs):
    return f"{num(statistics.median(xs))} [{num(min(xs))}-{num(max(xs))}]" if xs else "-"


def ratio(a, b):
    return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b and statistics.median(b) else "-"


# Rows in a fixed order: mode by mode, throughput first.
METRICS = ["msgs/s", "p50 ms", "p99 ms", "server cpu us/msg", "client cpu us/msg"]
modes = list(dict.fromkeys(mode for mode, _ in vals))
rows = [(mode, k) for mode in modes for k in METRICS if (mode, k) in vals]
present = {name for by in vals.values() for name in by}
# The line labels of each transport's systems (bench-queue.sh): the TLS
# ones keep the names they had when only Orch ran TLS.
TRANSPORTS = [
    ("TLS: Orch over HTTPS, RabbitMQ over AMQPS (TLS 1.3 both)",
     {"sdk": "orch", "lean": "orch-lean", "base": "orch-base", "base-lean": "orch-base-lean",
      "classic": "amqps-classic", "quorum": "amqps-quorum"}),
    ("plain: Orch --plain-http, RabbitMQ over plain AMQP",
     {"sdk": "orch-plain", "lean": "orch-plain-lean", "base": "orch-plain-base", "base-lean": "orch-plain-base-lean",
      "classic": "amqp-classic", "quorum": "amqp-quorum"}),
]
shown = []
for title, s in TRANSPORTS:
    if not any(label in present for label in s.values()):
        continue
    shown.append(s)
    # Columns: (header, label) values, then (header, (a, b)) ratios of medians.
    cols = [("Orch (sdk)", s["sdk"])]
    if s["lean"] in present:
        cols.append(("Orch (lean)", s["lean"]))
    if s["base"] in present:
        cols += [("Orch base (sdk)", s["base"]), ("sdk: Orch/base", (s["sdk"], s["base"]))]
    if s["base-lean"] in present:
        cols += [("Orch base (lean)", s["base-lean"]), ("lean: Orch/base", (s["lean"], s["base-lean"]))]
    if s["classic"] in present or s["quorum"] in present:
        cols += [("RabbitMQ classic", s["classic"]), ("RabbitMQ quorum", s["quorum"]),
                 ("Orch sdk/classic", (s["sdk"], s["classic"])), ("Orch sdk/quorum", (s["sdk"], s["quorum"]))]
        if s["lean"] in present:
            cols += [("Orch lean/classic", (s["lean"], s["classic"])), ("Orch lean/quorum", (s["lean"], s["quorum"]))]
    print(f"\n{title}\n")
    print("| run | metric | " + " | ".join(h for h, _ in cols) + " |")
    print("| --- | --- |" + " --- |" * len(cols))
    for mode, metric in rows:
        by = vals[(mode, metric)]
        if not any(by.get(c) for _, c in cols if not isinstance(c, tuple)):
            continue
        cells = [ratio(by.get(c[0], []), by.get(c[1], [])) if isinstance(c, tuple) else fmt(by.get(c, [])) for _, c in cols]
        print(f"| {mode} | {metric} | " + " | ".join(cells) + " |")
print("(medians [min-max] over the rounds; msgs/s: higher is better; p99 and cpu: lower is better)")

if len(shown) == 2:
    tls, plain = shown
    names = [("Orch (sdk)", "sdk"), ("Orch (lean)", "lean"), ("RabbitMQ classic", "classic"), ("RabbitMQ quorum", "quorum")]
    names = [(h, k) for h, k in names if tls[k] in present and plain[k] in present]
    print("\nWhat TLS costs each system: TLS/plain, ratio of medians\n")
    print("| run | metric | " + " | ".join(h for h, _ in names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    for mode, metric in rows:
        by = vals[(mode, metric)]
        print(f"| {mode} | {metric} | " + " | ".join(ratio(by.get(tls[k], []), by.get(plain[k], [])) for _, k in names) + " |")
