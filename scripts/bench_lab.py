#!/usr/bin/env python3
"""Benchmark: the lab's overhead per program, against `python3 -c pass` in the same run.

Overhead is the wall time of `tcpsim lab PROGRAM` beyond the program's own pauses (its
sleep lines); it includes Python start-up, imports, the namespace, the capture, reading the
kernel's state after every call, and the 100 ms the lab keeps watching after the last call.
Target: under 0.5 s per program.  Needs root (the lab's private namespace).

    python3 scripts/bench_lab.py [--runs N] [PROGRAM ...]
"""

import argparse
import statistics
import sys
import time

from benchlib import wall

from tcpsim.lab import run_lab
from tcpsim.scenario import builtin_names, load


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("programs", nargs="*")
    args = ap.parse_args()
    baseline = wall([sys.executable, "-c", "pass"], args.runs)
    print(f"baseline `python3 -c pass`: {baseline * 1000:.0f} ms (median of {args.runs})")
    print(f"{'program':<24} {'pauses':>8} {'cli wall':>9} {'overhead':>9} {'x baseline':>10} "
          f"{'in-process':>11}  target")
    worst = 0.0
    for name in args.programs or builtin_names():
        prog = load(name)
        pauses = prog.total_sleep
        cli = wall([sys.executable, "-m", "tcpsim", "lab", name], args.runs)
        inproc = []
        for _ in range(args.runs):
            t = time.perf_counter()
            run_lab(prog)
            inproc.append(time.perf_counter() - t - pauses)
        overhead = cli - pauses
        worst = max(worst, overhead)
        print(f"{name:<24} {pauses * 1000:6.0f}ms {cli * 1000:7.0f}ms {overhead * 1000:7.0f}ms "
              f"{overhead / baseline:9.1f}x {statistics.median(inproc) * 1000:9.0f}ms  "
              f"{'ok' if overhead < 0.5 else 'OVER 0.5 s'}")
    return 0 if worst < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
