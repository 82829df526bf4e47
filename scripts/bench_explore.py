#!/usr/bin/env python3
"""Benchmark of `tcpsim explore`, each figure against a baseline measured in the same run.

1. Schedules explored per second, against single model runs per second (`run_model` of the
   same program in file order): how much the snapshots and the bookkeeping cost per schedule.
2. The seed program (built-in `handshake`): time to explore it (target: under 1 s), and the
   schedules explored before and after reduction: all interleavings of its lines, the walk
   without sleep sets and the visited set (por=False), and with them.
3. The catalogue's largest program (most lines; iterative-server, four processes): the same
   figures, with a limit on the unreduced walk (it does not finish).
4. For each: one snapshot of a run half way through (explore.py's copy, which shares what
   cannot change), against a plain copy.deepcopy of the same run.

    python3 scripts/bench_explore.py [--skip-largest]
"""

import argparse
import copy
import time

from tcpsim.model import KernelProfile
from tcpsim.scenario import builtin_names, load
from tcpsim.sim.explore import _Explorer, explore
from tcpsim.sim.world import run_model

REF = KernelProfile.named("reference")


def model_runs_per_second(prog, seconds: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run_model(prog, REF)
        n += 1
    return n / (time.perf_counter() - start)


def snapshot_cost(prog) -> tuple[float, float]:
    """Microseconds per snapshot, and per plain deep copy, of a run half way through."""
    ex = _Explorer(prog, REF, 0, 10.0, 1, 0.1, True)
    r = ex.new_runner()
    for _ in range(len(prog.steps) // 2):
        opts = ex.options(r)
        if not opts:
            break
        ex.take(r, opts[0])

    def per_copy(fn) -> float:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.5:
            fn(r)
            n += 1
        return (time.perf_counter() - start) / n * 1e6

    return per_copy(ex.snapshot), per_copy(copy.deepcopy)


def report(name: str, limit_unreduced: int) -> None:
    prog = load(name)
    base = model_runs_per_second(prog)
    reduced = explore(prog, REF)
    full = explore(prog, REF, por=False, limit=limit_unreduced)
    rate = reduced.schedules / reduced.seconds
    print(f"{name}: {len(prog.steps)} lines, {len(prog.processes)} processes")
    print(f"  interleavings of the lines (no reduction at all): {reduced.interleavings}")
    print(f"  schedules without sleep sets/visited set: {full.schedules}"
          f"{'' if full.complete else ' (stopped at the limit)'} in {full.seconds:.3f} s, "
          f"{len(full.outcomes)} outcomes")
    print(f"  schedules with them: {reduced.schedules} in {reduced.seconds:.3f} s "
          f"({reduced.choice_points} choice points, {reduced.snapshots} snapshots, "
          f"{reduced.pruned} options slept, {reduced.merged} merged states), "
          f"{len(reduced.outcomes)} outcomes{'' if reduced.complete else ' (incomplete)'}")
    print(f"  {rate:.0f} schedules/s against {base:.0f} file-order model runs/s "
          f"(ratio {rate / base:.2f})")
    snap, plain = snapshot_cost(prog)
    print(f"  a snapshot half way: {snap:.0f} us against {plain:.0f} us for copy.deepcopy "
          f"(ratio {snap / plain:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-largest", action="store_true",
                    help="leave out the catalogue's largest program (minutes)")
    args = ap.parse_args()
    report("handshake", 100_000)  # target: the seed program in under 1 s
    if not args.skip_largest:
        largest = max(builtin_names(), key=lambda n: len(load(n).steps))
        report(largest, 2000)


if __name__ == "__main__":
    main()
