"""How many generated programs hang in the model (selfcheck's "stuck"), and where.

    PYTHONPATH=. python3 scripts/selfcheck_stuck.py [--n 1000] [--seed 0] [--show 5]

Runs programs 0..N-1 of the seed in the model only (tcpsim.sim.world.run_model, with
selfcheck's stuck timeout), no lab: a program that hangs in the model hangs on the kernel too
in nearly every case (selfcheck counts those "stuck": each costs the lab's 5 s timeout).
Prints the count, and the calls the hung programs wait in, grouped by kind of call.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=3, help="programs to print per kind of wait")
    args = ap.parse_args(argv)

    from tcpsim.errors import TcpsimError
    from tcpsim.model import KernelProfile
    from tcpsim.scenario import parse
    from tcpsim.selfcheck.check import TIMEOUT
    from tcpsim.selfcheck.gen import generate
    from tcpsim.sim.runner import Stuck
    from tcpsim.sim.world import run_model

    profile = KernelProfile.named("reference").with_sysctls({})
    stuck, refused, kinds, shown = [], 0, Counter(), Counter()
    start = time.perf_counter()
    for i in range(args.n):
        text = generate(args.seed, i)
        try:
            run_model(parse(text, name=f"g{i}"), profile, timeout=TIMEOUT)
        except Stuck as e:
            stuck.append(i)
            waits = re.findall(r"waits in (?:\w+ = )?(\w+)\(", str(e)) or ["?"]
            kind = "+".join(sorted(set(waits)))
            kinds[kind] += 1
            if shown[kind] < args.show:
                shown[kind] += 1
                print(f"--- program {i}: {e}\n{text}")
        except TcpsimError:
            refused += 1
    print(f"seed {args.seed}: {len(stuck)} of {args.n} programs stuck in the model "
          f"({100 * len(stuck) / args.n:.1f}%), {refused} refused; "
          f"{time.perf_counter() - start:.0f} s")
    for kind, n in kinds.most_common():
        print(f"  {n:4d} wait in {kind}")
    print("stuck:", " ".join(map(str, stuck)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
