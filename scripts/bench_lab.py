#!/usr/bin/env python3
"""Benchmark: what the lab costs, per program and per call, against baselines in the same run.

Per program: the wall time of `tcpsim lab PROGRAM` beyond the program's own pauses (its sleep
lines), against `python3 -c pass`; it includes Python start-up, imports, the namespace, the
capture, reading the kernel's state after every call, and the 100 ms the lab keeps watching
after the last call.  Target: under 0.5 s per program.

Per call: the time from one call to the next in the lab's trace, where the first returned at
once (no block, no sleep): the call, settling the loopback, and reading the kernel's view of
every socket.  Against a bare socket call (connect/accept/send/recv/close on loopback in a
private namespace, no observation), measured in the same run.  Target: median at most 1 ms on
an idle machine, 2 ms with two CPU-bound processes beside it (--load 2; the per-program
target is for an idle machine only).  A C program makes
its calls microseconds apart: every millisecond the lab adds is time in which a kernel timer
(the one-jiffy delayed ACK) may fire where it would not between the program's own calls.
Needs root (the lab's private namespace).

    python3 scripts/bench_lab.py [--runs N] [--load K] [PROGRAM ...]
"""

import argparse
import socket
import statistics
import subprocess
import sys
import time

from benchlib import wall

from tcpsim.lab import run_lab
from tcpsim.lab.netns import private_netns
from tcpsim.scenario import builtin_names, load
from tcpsim.trace import Call


def bare_call() -> float:
    """Median seconds per socket call of a loopback connection's life, nothing observed."""
    per = []
    with private_netns():
        lst = socket.socket()
        lst.bind(("127.0.0.1", 8080))
        lst.listen(8)
        for _ in range(200):
            t = time.perf_counter()
            c = socket.socket()
            c.connect(("127.0.0.1", 8080))
            a, _ = lst.accept()
            c.send(b"x")
            a.recv(10)
            c.close()
            a.close()
            per.append((time.perf_counter() - t) / 7)
        lst.close()
    return statistics.median(per)


def call_gaps(trace) -> list[float]:
    calls = [e for e in trace.events if isinstance(e, Call)]
    gaps = []
    for a, b in zip(calls, calls[1:]):
        if a.kind == "call" and b.kind == "call" and not a.blocked and \
                not a.text.startswith("sleep"):
            gaps.append(b.t - a.t)
    return gaps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--load", type=int, default=0, help="CPU-bound processes to run beside it")
    ap.add_argument("programs", nargs="*")
    args = ap.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.load)]
    try:
        return _bench(args)
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def _bench(args) -> int:
    baseline = wall([sys.executable, "-c", "pass"], args.runs)
    bare = bare_call()
    print(f"load: {args.load} CPU-bound processes beside it")
    print(f"baseline `python3 -c pass`: {baseline * 1000:.0f} ms (median of {args.runs}); "
          f"a bare socket call: {bare * 1e6:.0f} us")
    print(f"{'program':<24} {'pauses':>8} {'cli wall':>9} {'overhead':>9} {'x baseline':>10} "
          f"{'in-process':>11} {'per call':>9} {'x bare':>7}  target")
    worst, gaps_all = 0.0, []
    for name in args.programs or builtin_names():
        prog = load(name)
        pauses = prog.total_sleep
        cli = wall([sys.executable, "-m", "tcpsim", "lab", name], args.runs)
        inproc, gaps = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            trace = run_lab(prog)
            inproc.append(time.perf_counter() - t - pauses)
            gaps += call_gaps(trace)
        gaps_all += gaps
        overhead = cli - pauses
        worst = max(worst, overhead)
        per = statistics.median(gaps) if gaps else float("nan")
        print(f"{name:<24} {pauses * 1000:6.0f}ms {cli * 1000:7.0f}ms {overhead * 1000:7.0f}ms "
              f"{overhead / baseline:9.1f}x {statistics.median(inproc) * 1000:9.0f}ms "
              f"{per * 1000:7.2f}ms {per / bare:6.0f}x  "
              f"{'-' if args.load else 'ok' if overhead < 0.5 else 'OVER 0.5 s'}")
    per_call = statistics.median(gaps_all)
    p90 = statistics.quantiles(gaps_all, n=10)[-1]
    limit = 0.001 if args.load == 0 else 0.002
    print(f"per call, all programs: median {per_call * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms "
          f"({len(gaps_all)} calls; {per_call / bare:.0f}x a bare call); target "
          f"{limit * 1000:.0f} ms: {'ok' if per_call <= limit else 'MISSED'}")
    # the 0.5 s per program holds on an idle machine; loaded, start-up is the machine's
    return 0 if (worst < 0.5 or args.load) and per_call <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
