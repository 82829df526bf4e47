#!/usr/bin/env python3
"""The outcome signatures `tcpsim explore` finds for every built-in, as a JSON file: for each
program, the sorted hashes (sha256 of the repr of explore.signature(), first 16 hex digits) of
its exchanges, and whether the walk was complete.  tests/test_explore_sets.py checks that the
explorer still finds exactly these sets.

    python3 scripts/explore_signatures.py [--out tests/data/explore_signatures.json] [NAME...]
    python3 scripts/explore_signatures.py --check          # compare with the file, print diffs
"""

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "explore_signatures.json"


def digest(sig) -> str:
    return hashlib.sha256(repr(sig).encode()).hexdigest()[:16]


def one(name: str, por: bool = True) -> tuple[str, dict]:
    from tcpsim.model import KernelProfile
    from tcpsim.scenario import load
    from tcpsim.sim.explore import explore

    start = time.perf_counter()
    exp = explore(load(name), KernelProfile.named("reference"), por=por)
    return name, {"outcomes": sorted(digest(o.signature) for o in exp.outcomes),
                  "complete": exp.complete, "schedules": exp.schedules,
                  "seconds": round(time.perf_counter() - start, 3)}


def main() -> None:
    from tcpsim.scenario import builtin_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--out", default=str(DEFAULT))
    ap.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    names = args.names or builtin_names()
    with ProcessPoolExecutor(args.jobs) as pool:
        found = {}
        for name, res in pool.map(one, names):
            found[name] = res
            print(f"{name}: {len(res['outcomes'])} outcomes, {res['schedules']} schedules, "
                  f"{res['seconds']} s{'' if res['complete'] else ' (incomplete)'}",
                  file=sys.stderr, flush=True)
    if args.check:
        want = json.loads(Path(args.out).read_text())
        bad = [n for n in names if want.get(n, {}).get("outcomes") != found[n]["outcomes"]]
        print(f"{len(names) - len(bad)} of {len(names)} built-ins: the same exchange set")
        for n in bad:
            print(f"  differs: {n}")
        sys.exit(1 if bad else 0)
    old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    for name, res in found.items():
        old[name] = {"outcomes": res["outcomes"], "complete": res["complete"]}
    Path(args.out).write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
