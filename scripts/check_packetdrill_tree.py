"""Run `tcpsim pkt run` over every .pkt of a packetdrill checkout and tabulate how each ends.

    python3 scripts/check_packetdrill_tree.py /tmp/packetdrill [--timeout 20] [--jobs 2] [-v]

The goal (issue 16): every script real packetdrill accepts is READ: it passes, fails at a
line (the model differs from the script), or exits 5 naming the feature the model lacks.
Never "malformed" (exit 2, a ScriptError), a traceback, or a hang.  Scripts are taken from
gtests/net/tcp and gtests/net/packetdrill; each runs in its own process
with a timeout, as a user would run it, from the script's directory (packetdrill's
`../common/defaults.sh` is relative to it).  Nothing of packetdrill's is copied here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# gtests/net/psp is left out: its scripts use words (MSS) that packetdrill's -D defines supply,
# so packetdrill itself refuses them run alone
TREES = ("gtests/net/tcp", "gtests/net/packetdrill")


def classify(path: Path, timeout: float, kernel: bool = False,
             extra: tuple = ()) -> tuple[str, str]:
    """(outcome, detail): pass, fail, unsupported (detail: the feature), malformed,
    traceback, hang, or exit N for anything else."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        r = subprocess.run([sys.executable, "-m", "tcpsim", "pkt", "run", path.name]
                           + (["--kernel"] if kernel else []) + list(extra),
                           cwd=path.parent, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang", f"no answer in {timeout:g} s"
    out = " ".join((r.stdout + r.stderr).split())
    if "Traceback" in r.stderr:
        return "traceback", r.stderr.strip().splitlines()[-1]
    if r.returncode == 0:
        return "pass", ""
    if r.returncode == 1:
        return "fail", out
    if r.returncode == 5:
        # Unsupported messages read "<where>: <feature> is not modelled ...": count by feature
        m = re.search(r"\.pkt(?::\d+)?: (.+?) (?:is|are) not modelled", out)
        return "unsupported", m.group(1) if m else out
    if r.returncode == 2:
        return "malformed", out
    return f"exit {r.returncode}", out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkout", type=Path, help="a packetdrill checkout (google/packetdrill)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per script")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every script's outcome")
    ap.add_argument("--kernel", action="store_true",
                    help="run them on the real kernel over tun (pkt run --kernel; root)")
    a = ap.parse_args()
    scripts = sorted(p for t in TREES if (a.checkout / t).is_dir()
                     for p in (a.checkout / t).rglob("*.pkt"))
    if not scripts:
        print(f"no .pkt files under {a.checkout}/{{{','.join(TREES)}}}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda p: classify(p, a.timeout, a.kernel), scripts))
    kinds = Counter(k for k, _ in results)
    features = Counter(d for k, d in results if k == "unsupported")
    for p, (k, d) in zip(scripts, results):
        if a.verbose or k not in ("pass", "fail", "unsupported"):
            print(f"{k:12} {p.relative_to(a.checkout)}  {d[:300]}")
    print(f"\n{len(scripts)} scripts")
    for k in ("pass", "fail", "unsupported", "malformed", "traceback", "hang"):
        print(f"  {k:12} {kinds.pop(k, 0)}")
    for k, n in kinds.items():
        print(f"  {k:12} {n}")
    print("\nunsupported, by feature:")
    for f, n in features.most_common():
        print(f"  {n:4}  {f}")
    table = a.checkout / "gtests/net/packetdrill/symbols_linux.c"
    if table.is_file():  # every symbol packetdrill knows: a value, or Unsupported naming it
        sys.path.insert(0, str(ROOT))
        from tcpsim.pkt.run import Unsupported, symbol
        names = re.findall(r'\{\s*\w+,\s*"(\w+)"', table.read_text())
        known = named = 0
        for n in names:
            try:
                symbol(n)
                known += 1
            except Unsupported:
                named += 1
        print(f"\nsymbols_linux.c: {len(names)} symbols, {known} known, {named} unsupported by "
              f"name, {len(names) - known - named} other")
    bad = sum(n for k, n in Counter(k for k, _ in results).items()
              if k not in ("pass", "fail", "unsupported"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
