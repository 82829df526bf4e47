#!/usr/bin/env python3
"""Benchmark: `tcpsim verify --all`'s wall time at several --jobs, against the sequential run
(--jobs 1) of the same invocation, and how many verdicts differ from it.

Each run's table rows (program, verdict, segments, calls, differences) are compared with the
sequential run's, and the verdict lines printed below the table too; a row that differs is
named (the lab is timing sensitive: a parallel run adds load).  Also printed: the sum of the
programs' own pauses (their sleep lines), which a sequential run cannot go under, and the
longest single program's, which no run can, and `verify LONGEST` alone (the floor of a
parallel run: time-wait-expiry sleeps 63 s, TIME_WAIT's fixed 60 s and the timer wheel's
slack).  Target (issue 21): under 60 s on 2 cores, which that one program alone exceeds.
Needs root (the lab's private namespaces).

    python3 scripts/bench_verify.py [--jobs 2,4,8] [--runs N] [--load K]
"""

import argparse
import os
import subprocess
import sys
import time

from tcpsim.scenario import builtin_names, load


def verify_all(jobs: int) -> tuple[float, int, dict[str, str], list[str]]:
    """Wall seconds, exit status, {program: its table row}, the lines after the table."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "tcpsim", "verify", "--all", "--jobs", str(jobs)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - t
    rows, after = {}, []
    for line in r.stdout.splitlines():
        if "│" in line:
            cells = [c.strip() for c in line.split("│")[1:-1]]
            if cells and cells[0] in NAMES:
                rows[cells[0]] = " ".join(cells[1:])
        elif rows and not line.startswith(("└", "┏", "┃", "┡", "┌", "╭", "╰")):
            after.append(line)
    return wall, r.returncode, rows, after


NAMES = set(builtin_names())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="2,4,8",
                    help="comma-separated, each after the sequential baseline (1 again: how "
                         "much two sequential runs differ)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each parallel --jobs")
    ap.add_argument("--load", type=int, default=0, help="CPU-bound processes to run beside it")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    pauses = [load(n).total_sleep for n in builtin_names()]
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.load)]
    try:
        print(f"{len(NAMES)} built-ins; load: {args.load} CPU-bound processes beside it; "
              f"{os.cpu_count()} CPUs")
        print(f"their pauses: {sum(pauses):.1f} s in all, {max(pauses):.1f} s the longest")
        longest = max(builtin_names(), key=lambda n: load(n).total_sleep)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tcpsim", "verify", longest],
                       stdout=subprocess.DEVNULL)
        floor = time.perf_counter() - t
        print(f"the floor, `verify {longest}` alone: {floor:.1f} s")
        base, code, rows, after = verify_all(1)
        print(f"{'--jobs':>6} {'wall':>8} {'x seq':>7} {'x floor':>8} {'exit':>5} "
              f"{'verdicts differ':>16} {'rows differ':>12}  which")
        print(f"{1:>6} {base:7.1f}s {1:6.2f}x {base / floor:7.2f}x {code:>5} "
              f"{'(baseline)':>16} {'':>12}  "
              f"{sum(1 for v in rows.values() if not v.startswith('match'))} not 'match'")
        for j in jobs:
            for _ in range(args.runs):
                wall, c, got, got_after = verify_all(j)
                differ = sorted(n for n in NAMES if got.get(n) != rows.get(n))
                # a verdict ("match", "differs", "incomplete"), or only another exchange of
                # the program's set (its segment count: a race the kernel took the other way)
                verdicts = sum(1 for n in differ
                               if (got.get(n) or "?").split()[0] != (rows.get(n) or "?").split()[0])
                note = ", ".join(f"{n} ({rows.get(n)} -> {got.get(n)})" for n in differ)
                if not differ and got_after != after:
                    note = "the same rows; the verdict lines differ"
                print(f"{j:>6} {wall:7.1f}s {wall / base:6.2f}x {wall / floor:7.2f}x {c:>5} "
                      f"{verdicts:>16} {len(differ):>12}  "
                      f"{note}", flush=True)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
