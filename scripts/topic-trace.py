#!/usr/bin/env python3
"""Where the time from Publish returning to "received from all queues" goes.

usage: topic-trace.py CLIENT_TRACE [SERVER_TRACE]

CLIENT_TRACE is what `orch-loadgen --mode topic-latency --trace FILE` wrote
(one round); SERVER_TRACE what a server built with scripts/topic-trace.patch
wrote (ORCH_TRACE=FILE) during that round. Lines are "EVENT KEY UNIX_NS";
KEY is a message id, or ID/QUEUE for one queue's copy. Events:

  called, returned   the publisher's Publish call (client)
  pubstart, pubdone  Publish in the server (topic.Service.Publish)
  shown              the copies are receivable in every local queue
  show               this copy was put in its queue and its long polls woken
  woke               the long poll that took it was woken (absent: it was
                     already there when the receive came in)
  taken              ReceiveMessage took it and returns
  written            the answer was flushed to the connection (TLS write)
  recv               the consumer's receive call returned with it (client)

It prints the target figure (returned -> last copy received) and, per copy,
the distribution of each step, then the same steps for the slowest 2 % of
messages (their last copy), which is what the p99 is made of.
"""
import collections
import statistics
import sys


def load(paths):
    ev = collections.defaultdict(dict)
    for p in paths:
        for line in open(p):
            f = line.split()
            if len(f) == 3 and int(f[2]) > 10**18:  # a zero time.Time is no event
                ev[f[1]][f[0]] = int(f[2])
    return ev


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


def ms(a, b):
    return (a - b) / 1e6


def main():
    ev = load(sys.argv[1:])
    copies = collections.defaultdict(list)
    for k, e in ev.items():
        if "/" in k:
            copies[k.split("/")[0]].append(e)
    msgs = []
    for i, e in ev.items():
        cs = copies.get(i, [])
        if "/" in i or "returned" not in e or not cs or any("recv" not in c for c in cs):
            continue
        last = max(cs, key=lambda c: c["recv"])
        msgs.append((ms(last["recv"], e["returned"]), e, last))
    if not msgs:
        sys.exit("no complete messages in the trace")
    msgs.sort(key=lambda m: m[0])
    lat = [m[0] for m in msgs]
    print("messages %d; Publish returned -> received from all queues, ms: p50 %.2f p90 %.2f p99 %.2f max %.2f"
          % (len(lat), pct(lat, .5), pct(lat, .9), pct(lat, .99), lat[-1]))

    steps = [  # name, from, to (per copy)
        ("show -> woke", "show", "woke"),
        ("show -> taken, no wait", "show", "taken"),
        ("woke -> taken", "woke", "taken"),
        ("taken -> written", "taken", "written"),
        ("written -> client got it", "written", "recv"),
        ("show -> client got it", "show", "recv"),
    ]

    def step(c, a, b):
        if a not in c or b not in c:
            return None
        if a == "show" and b == "taken" and "woke" in c:
            return None
        return ms(c[b], c[a])

    allc = [c for cs in copies.values() for c in cs]
    print("per copy (all queues), ms:")
    for name, a, b in steps:
        v = [x for x in (step(c, a, b) for c in allc) if x is not None]
        if v:
            print("  %-26s n %6d  p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f"
                  % (name, len(v), pct(v, .5), pct(v, .9), pct(v, .99), max(v)))

    top = msgs[int(.98 * len(msgs)):]
    print("the slowest 2 %% (%d messages), their last copy, ms: median / mean / max" % len(top))
    rows = [
        ("Publish in the client", lambda e, c: ms(e["returned"], e["called"])),
        ("Publish in the server", lambda e, c: ms(e["pubdone"], e["pubstart"]) if "pubdone" in e else None),
        ("server answered -> publisher got it", lambda e, c: ms(e["returned"], e["pubdone"]) if "pubdone" in e else None),
        ("copy shown, from Publish returned", lambda e, c: ms(c["show"], e["returned"]) if "show" in c else None),
    ] + [(n, (lambda a, b: lambda e, c: step(c, a, b))(a, b)) for n, a, b in steps]
    for name, f in rows:
        v = [x for x in (f(e, c) for _, e, c in top) if x is not None]
        if v:
            print("  %-36s %8.2f %8.2f %8.2f" % (name, statistics.median(v), statistics.mean(v), max(v)))
    nowait = sum(1 for _, _, c in top if "show" in c and "woke" not in c)
    print("  taken without a waiting long poll: %d of %d" % (nowait, len(top)))


if __name__ == "__main__":
    main()
