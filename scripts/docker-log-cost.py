#!/usr/bin/env python3
"""CPU that Docker spends per line a container prints (json-file log driver).

Runs orch-example/tools printing N receipt-sized lines (`tools echo LINE --`
chained N times) and the same container printing nothing, alternately, REPS
times each; for each run it reads the CPU time of dockerd, containerd and the
containerd shims from /proc (utime+stime) from `docker create` to `docker wait`
(not attached: an attached client would double dockerd's copying). The
difference between a pair, divided by N, is Docker's CPU per printed line.
Other users of the same Docker count in both arms of a pair; medians cancel
most of that. docs/benchmarks.md ("Queue trigger: the handler's lines").

Usage: scripts/docker-log-cost.py [N (default 15000)] [REPS (default 4)]
"""
import glob
import os
import statistics
import subprocess
import sys


def docker_cpu():
    ticks = 0
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            s = open(path).read()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        if comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"):
            f = s[s.rindex(")") + 2 :].split()
            ticks += int(f[11]) + int(f[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(n):
    line = "RECEIPT_order=o12345_customer=c_drink=latte_total=3.00"  # a receipt line's length
    args = []
    for _ in range(n):
        args += ["echo", line, "--"]
    args += ["exit", "0"]
    c0 = docker_cpu()
    name = f"docker-log-cost-{os.getpid()}-{n}"
    cid = subprocess.check_output(["docker", "create", "--name", name, "orch-example/tools"] + args).decode().strip()
    try:
        subprocess.check_call(["docker", "start", cid], stdout=subprocess.DEVNULL)
        subprocess.check_call(["docker", "wait", cid], stdout=subprocess.DEVNULL)
        return docker_cpu() - c0
    finally:
        subprocess.call(["docker", "rm", cid], stdout=subprocess.DEVNULL)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    per_line = []
    for _ in range(reps):
        quiet, loud = run(0), run(n)
        per_line.append((loud - quiet) / n * 1e6)
    print(f"Docker CPU per printed line, µs: median {statistics.median(per_line):.1f} "
          f"[{min(per_line):.1f}-{max(per_line):.1f}] over {reps} pairs of {n} lines; "
          f"load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
