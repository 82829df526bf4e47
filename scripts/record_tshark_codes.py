#!/usr/bin/env python3
"""Record tshark's tcp.completeness for every capture in captures/.

Wireshark's own value, for tests/test_compare_summary.py to hold `tcpsim compare`'s code to
(material nobody on this project wrote).  For each capture: each TCP stream (tcp.stream) with
its first frame and the conversation's completeness, read with two passes (-2), so that every
packet carries the conversation's final value (one pass shows the value before each packet).

    python3 scripts/record_tshark_codes.py            # needs tshark (scripts/test installs it)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "tshark_completeness.json"


def streams(path: Path) -> list[list[int]]:
    """[stream, first frame, completeness] of every TCP stream of the capture."""
    out = subprocess.run(["tshark", "-2", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.completeness"],
                         capture_output=True, text=True, check=True).stdout
    seen: dict[int, list[int]] = {}
    for line in out.splitlines():
        number, stream, value = (int(x) for x in line.split("\t"))
        row = seen.setdefault(stream, [stream, number, value])
        row[2] = value  # (the same on every packet with -2; the last one stands)
    return sorted(seen.values())


def main() -> int:
    version = subprocess.run(["tshark", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    data = {"tshark": version, "captures": {}}
    for path in sorted((ROOT / "captures").rglob("*.pcap*")):
        data["captures"][str(path.relative_to(ROOT / "captures"))] = streams(path)
    lines = [f"  {json.dumps(name)}: {json.dumps(rows)}" for name, rows in data["captures"].items()]
    OUT.write_text('{"tshark": ' + json.dumps(version) + ', "captures": {\n' + ",\n".join(lines)
                   + "\n}}\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['captures'])} captures ({version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
