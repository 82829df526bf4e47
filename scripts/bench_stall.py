#!/usr/bin/env python3
"""Benchmark: how long the lab stalls between back-to-back calls, with and without running its
thread at a real-time priority, on a machine kept busy by CPU-bound processes (same run).

Trace.stall is the longest gap between two calls a program runs back to back; a gap past one
jiffy (4 ms) lets the one-jiffy delayed ACK fire where a C program's calls would meet none.
Prints the median and worst stall per program and mode, and how many runs stalled past a jiffy.
Needs root.

    python3 scripts/bench_stall.py [--runs N] [--load K] [PROGRAM ...]
"""

import argparse
import statistics
import subprocess
import sys

from tcpsim.lab import executor, run_lab
from tcpsim.scenario import load


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--load", type=int, default=2)
    ap.add_argument("programs", nargs="*", default=["iterative-server", "close-in-syn-recv",
                                                    "handshake", "request-response"])
    args = ap.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.load)]
    try:
        print(f"load: {args.load} CPU-bound processes; {args.runs} runs per program and mode")
        print(f"{'program':<22} {'mode':<9} {'median':>8} {'worst':>8} {'> jiffy':>8}")
        for name in args.programs:
            prog = load(name)
            for mode in ("ordinary", "realtime"):
                executor.REALTIME = mode == "realtime"
                stalls = [run_lab(prog).stall for _ in range(args.runs)]
                over = sum(s > executor.JIFFY for s in stalls)
                print(f"{name:<22} {mode:<9} {statistics.median(stalls) * 1000:6.2f}ms "
                      f"{max(stalls) * 1000:6.2f}ms {over:>5}/{args.runs}")
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
