#!/usr/bin/env python3
"""Record the kernel taking the side of a race with its clock that the model's order does not.

The model's calls take no time; real ones do, so on the kernel a timer due within a jiffy may
fire before the next call (explore's "tick" race), and of two segments the lab's delay line
holds until the same moment, the second may arrive after a call the first one woke
(explore's "arrival" race).  The explored set holds both sides; these captures show that the
kernel really takes the side the model's own order does not.

Each race is run (`run_lab`, or `run_free` for the processes as concurrent OS processes; a
fresh private namespace each time) until a run is an exchange of the set whose schedule takes
that side, while busy processes keep the CPUs loaded (the calls then run later: the lab's
side showed up within a few runs with 2; the free runs' took 772 runs with 6, --load 6).  Writes
captures/races/NAME.pcap and NAME.json.  Needs root; touches nothing on the host.

    python3 scripts/record_race_captures.py [--tries N] [--load N] [NAME ...]
"""

import argparse
import multiprocessing
import sys
from pathlib import Path

from tcpsim.compare.against import hold_lab
from tcpsim.errors import TcpsimError
from tcpsim.lab import run_lab
from tcpsim.lab.free import run_free
from tcpsim.model import KernelProfile
from tcpsim.pcap import write_pcap
from tcpsim.scenario import load
from tcpsim.sim.explore import explore

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "captures" / "races"

# name -> (program, free-running?, the race's kind, the side the capture must show)
RACES = {
    "simultaneous-open-data-first": ("simultaneous-open", False, "arrival", "call"),
    "fin-ack-tick-timer-first": (str(ROOT / "tests" / "programs" / "fin-ack-tick.tcp"), False,
                                 "tick", "timer"),
    # the seed program: the client closes first, and the server's ACK of its FIN comes at the
    # next tick, before the server's own close()
    "handshake-free-ack-at-tick": ("handshake", True, "tick", "timer"),
}


def takes(exp, i, kind: str, side: str) -> bool:
    """Outcome i of the set is one whose schedule decided the race for `side`."""
    return i is not None and any(c.kind == kind and c.first == side
                                 for c, _ in exp.outcomes[i].path)


def one(prog, free: bool, profile: KernelProfile, exp):
    """One run, and which exchange of the set it is (None: not one held as such)."""
    if free:
        run = run_free(prog, timeout=1.0)
        index = {o.signature: i for i, o in enumerate(exp.outcomes)}
        return run.trace, index.get(run.signature)
    trace = run_lab(prog)
    held = hold_lab(trace, prog, profile)
    return trace, (held.outcome if held.ok else None)


def spin() -> None:
    while True:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=", ".join(RACES))
    ap.add_argument("--tries", type=int, default=500)
    ap.add_argument("--load", type=int, default=multiprocessing.cpu_count(),
                    help="busy processes to run meanwhile (default: one per CPU)")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in RACES]
    if unknown:
        ap.error(f"no race named {', '.join(unknown)}; the races are {', '.join(RACES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    profile = KernelProfile.named("reference")
    load_procs = [multiprocessing.Process(target=spin, daemon=True)
                  for _ in range(args.load)]
    for p in load_procs:
        p.start()
    try:
        for name in args.names or RACES:
            program, free, kind, side = RACES[name]
            prog = load(program)
            exp = explore(prog, profile)
            for i in range(1, args.tries + 1):
                try:
                    trace, outcome = one(prog, free, profile, exp)
                except TcpsimError as e:
                    print(f"{name}: {e}", file=sys.stderr)
                    return 1
                if takes(exp, outcome, kind, side):
                    break
            else:
                print(f"{name}: not seen in {args.tries} runs", file=sys.stderr)
                return 1
            trace.notes.append(f"scripts/record_race_captures.py, run {i} "
                               f"({'free' if free else 'lab'}), {args.load} busy processes: "
                               f"the {kind} race, {side} first")
            n = write_pcap(trace, OUT / f"{name}.pcap")
            trace.to_json(OUT / f"{name}.json")
            print(f"{name}: run {i}, {n} segments, Linux {trace.kernel['release']}")
    finally:
        for p in load_procs:
            p.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
