#!/usr/bin/env python3
"""Record the lab taking the other side of a race that only the lab's timing opens.

The model's calls take no time; the lab's take tens of microseconds to a millisecond, so on
the kernel a timer due within a jiffy may fire before the next call (explore's "tick" race),
and of two segments the delay line holds until the same moment, the second may arrive after
a call the first one woke (explore's "arrival" race).  `tcpsim verify` accepts either side;
these captures show that the kernel really takes the side the model's own order does not.

Each race is run in the lab (`run_lab`, a fresh private namespace each time) until a run is
held as an exchange whose schedule takes that side, while busy processes keep both CPUs
loaded (under load the lab's calls take longer: the side shows up in about 1 run of 3).
Writes captures/races/NAME.pcap and NAME.json.  Needs root; touches nothing on the host.

    python3 scripts/record_race_captures.py [--tries N] [NAME ...]
"""

import argparse
import multiprocessing
import sys
from pathlib import Path

from tcpsim.compare.against import hold_lab
from tcpsim.errors import TcpsimError
from tcpsim.lab import run_lab
from tcpsim.model import KernelProfile
from tcpsim.pcap import write_pcap
from tcpsim.scenario import load

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "captures" / "races"

# name -> (program, the race's kind, the side the capture must show)
RACES = {
    "simultaneous-open-data-first": ("simultaneous-open", "arrival", "call"),
    "fin-ack-tick-timer-first": (str(ROOT / "tests" / "programs" / "fin-ack-tick.tcp"), "tick",
                                 "timer"),
}


def takes(held, kind: str, side: str) -> bool:
    """The run is an exchange of the set whose schedule decided the race for `side`."""
    if not held.ok or held.exploration is None:
        return False
    path = held.exploration.outcomes[held.outcome].path
    return any(c.kind == kind and c.first == side for c, _ in path)


def spin() -> None:
    while True:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=", ".join(RACES))
    ap.add_argument("--tries", type=int, default=60)
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in RACES]
    if unknown:
        ap.error(f"no race named {', '.join(unknown)}; the races are {', '.join(RACES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    profile = KernelProfile.named("reference")
    load_procs = [multiprocessing.Process(target=spin, daemon=True)
                  for _ in range(multiprocessing.cpu_count())]
    for p in load_procs:
        p.start()
    try:
        for name in args.names or RACES:
            program, kind, side = RACES[name]
            prog = load(program)
            for i in range(1, args.tries + 1):
                try:
                    trace = run_lab(prog)
                except TcpsimError as e:
                    print(f"{name}: {e}", file=sys.stderr)
                    return 1
                if takes(hold_lab(trace, prog, profile), kind, side):
                    break
            else:
                print(f"{name}: not seen in {args.tries} runs", file=sys.stderr)
                return 1
            n = write_pcap(trace, OUT / f"{name}.pcap")
            trace.to_json(OUT / f"{name}.json")
            print(f"{name}: run {i}, {n} segments, Linux {trace.kernel['release']}")
    finally:
        for p in load_procs:
            p.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
