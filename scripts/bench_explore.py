#!/usr/bin/env python3
"""Benchmark of `tcpsim explore`, each figure against a baseline measured in the same run.

1. Each built-in explored with the partial-order reduction (persistent sets, sleep sets, the
   visited set: explore()), against the same walk without the persistent sets (por="sleep":
   the explorer before issue 21), and against single model runs per second (`run_model` of
   the same program in file order): time, schedules, outcomes.
2. The seed program (handshake; target: under 50 ms), concurrent-server (under 5 s), every
   built-in (under 1 s each), request-response-100.
3. The race check of `tcpsim run` (races()) on two generated programs: one server and 499
   clients, and 5,000 socket/close pairs (10,000 lines), against one model run of each
   (target: `tcpsim run` under 10 s each).

4. With --groups: each walk again with explore(groups=True) (groups of processes that can no
   longer meet walked on their own, their outcomes combined), against the walk without.

With --seconds S each walk stops after S seconds (the programs that do not finish); the last
line is the walks' total.

    python3 scripts/bench_explore.py [--quick] [--no-before] [--groups] [--seconds S] [NAME...]
"""

import argparse
import time

from tcpsim.model import KernelProfile
from tcpsim.scenario import builtin_names, load
from tcpsim.scenario.parser import parse
from tcpsim.sim.explore import explore, races
from tcpsim.sim.world import run_model

REF = KernelProfile.named("reference")
TARGETS = {"handshake": 0.05, "concurrent-server": 5.0}


def model_runs_per_second(prog, seconds: float = 0.3) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or not n:
        run_model(prog, REF)
        n += 1
    return n / (time.perf_counter() - start)


def walk(name: str, before: bool, limit: int, groups: bool = False,
         seconds: float | None = None) -> float:
    """One built-in's line; the seconds its walk took."""
    prog = load(name)
    base = model_runs_per_second(prog)
    new = explore(prog, REF, limit=limit, deadline=None if seconds is None else
                  time.perf_counter() + seconds)
    line = (f"{name:28} {new.seconds:8.3f} s {new.schedules:6} schedules "
            f"{len(new.outcomes):4} outcomes{'' if new.complete else ' (incomplete)'}"
            f"  ({new.seconds * base:7.1f} file-order runs)")
    if before:
        old = explore(prog, REF, por="sleep", limit=limit)
        line += (f" | before {old.seconds:8.3f} s {old.schedules:6} schedules"
                 f"{'' if old.complete else ' (stopped at the limit)'}"
                 f" ratio {old.seconds / max(new.seconds, 1e-9):6.1f}x")
    if groups:
        g = explore(prog, REF, limit=limit, groups=True)
        line += (f" | groups {g.seconds:8.3f} s {g.schedules:6} schedules {len(g.outcomes):4} "
                 f"outcomes{'' if g.complete else ' (incomplete)'} ratio "
                 f"{new.seconds / max(g.seconds, 1e-9):6.2f}x")
    target = TARGETS.get(name, 1.0)
    line += "" if new.seconds < target else f"  [over {target} s]"
    print(line, flush=True)
    return new.seconds


def generated(kind: str):
    if kind == "clients":
        lines = ["server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0",
                 "server: listen(s, 4096) = 0"]
        for i in range(499):
            lines += [f"c{i}: fd = socket()", f"c{i}: connect(fd, 127.0.0.1:8080) = 0"]
        for i in range(499):
            lines += ["server: c = accept(s)", "server: close(c) = 0"]
        for i in range(499):
            lines += [f"c{i}: close(fd) = 0"]
        lines += ["server: close(s) = 0"]
        return parse("\n".join(lines) + "\n", name="clients-499")
    lines = []
    for i in range(5000):
        lines += ["p: fd = socket()", "p: close(fd) = 0"]
    return parse("\n".join(lines) + "\n", name="socket-close-5000")


def race_check(kind: str) -> None:
    prog = generated(kind)
    start = time.perf_counter()
    run_model(prog, REF)
    one = time.perf_counter() - start
    start = time.perf_counter()
    racing = races(prog, REF)
    took = time.perf_counter() - start
    print(f"{prog.name:28} race check {took:7.2f} s ({'races' if racing else 'no race'}) "
          f"against one model run {one:7.2f} s (ratio {took / one:5.2f}); run + check "
          f"{one + took:6.2f} s{'' if one + took < 10 else '  [over 10 s]'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--no-before", action="store_true",
                    help="leave out the walk without persistent sets (minutes)")
    ap.add_argument("--limit", type=int, default=20_000,
                    help="schedules at most for each walk (concurrent-server does not finish)")
    ap.add_argument("--quick", action="store_true", help="the seed, concurrent-server, "
                    "request-response-100 and the race checks only")
    ap.add_argument("--groups", action="store_true",
                    help="each walk again with explore(groups=True), against the walk without")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop each walk after that many seconds (incomplete)")
    args = ap.parse_args()
    names = args.names or (["handshake", "concurrent-server", "request-response-100"]
                           if args.quick else builtin_names())
    total = 0.0
    for name in names:
        total += walk(name, not args.no_before, args.limit, args.groups, args.seconds)
    print(f"{'total':28} {total:8.3f} s ({len(names)} walks)", flush=True)
    if not args.names:
        race_check("clients")
        race_check("socket-close")


if __name__ == "__main__":
    main()
