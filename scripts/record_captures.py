#!/usr/bin/env python3
"""Record the reference captures: each built-in program run on the real kernel.

For every program (all built-ins, or the names given) this writes captures/NAME.pcap and
captures/NAME.json (the Trace, with the kernel version and the namespace's sysctls), and the
model's built-in "reference" profile (tcpsim/model/profiles/reference.json) from that kernel.
With --mtu N (lo's MTU in the lab's namespace, e.g. 1500) it writes captures/NAME@mtuN.pcap
and .json instead, and leaves the profile (whose lo_mtu is lo's own) alone.
Every socket runs cubic, set on each (lab/kernel.py lab_congestion()), whatever the host's
default; the trace and the profile say which ran and what the default was.
Needs root (a private network namespace); touches nothing on the host.

    python3 scripts/record_captures.py [--mtu N] [NAME ...]
"""

import argparse
import json
import sys
from pathlib import Path

from tcpsim.errors import TcpsimError
from tcpsim.lab import run_lab
from tcpsim.model import KernelProfile
from tcpsim.pcap import write_pcap
from tcpsim.scenario import builtin_names, load

OUT = Path(__file__).resolve().parent.parent / "captures"
PROFILE = OUT.parent / "tcpsim" / "model" / "profiles" / "reference.json"


def main(names: list[str], mtu: int | None = None) -> int:
    OUT.mkdir(exist_ok=True)
    for name in names or builtin_names():
        try:
            trace = run_lab(load(name), mtu=mtu)
        except TcpsimError as e:
            print(f"{name}: {e}", file=sys.stderr)
            return 1
        failed = [c for c in trace.calls if c.ok is False]
        if failed:
            print(f"{name}: {len(failed)} result(s) differ from the program's expectations; "
                  "not recorded", file=sys.stderr)
            return 1
        stem = f"{name}@mtu{mtu}" if mtu else name
        n = write_pcap(trace, OUT / f"{stem}.pcap")
        trace.to_json(OUT / f"{stem}.json")
        print(f"{stem}: {n} segments, Linux {trace.kernel['release']}")
    if mtu:
        return 0
    # the model's built-in "reference" profile is the kernel these captures come from
    profile = KernelProfile.from_trace(trace)
    data = {**profile.to_json(), "name": "reference"}
    PROFILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PROFILE.relative_to(OUT.parent)}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mtu", type=int, default=None, help="lo's MTU in the lab (e.g. 1500)")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    sys.exit(main(args.names, args.mtu))
