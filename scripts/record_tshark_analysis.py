#!/usr/bin/env python3
"""Record Wireshark's TCP analysis of every capture in captures/ (and its subdirectories) for
tests/test_compare_analysis.py, which holds `tcpsim compare`'s findings to it frame by frame.

Runs `tshark -r CAP -T fields -e frame.number -e tcp.analysis.NAME ...` (one field for each
analysis name below: a field is present, "1", on the frames Wireshark flags with it) with
Wireshark's default TCP preferences, and writes tests/data/tshark_analysis.json:
{"tshark": version, "captures": {path relative to captures/: {frame: [names]}}}, only the
frames with at least one name.  tshark is a tool nobody on the team wrote: the test compares
with it, and lists every disagreement left with its reason.

    python3 scripts/record_tshark_analysis.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
OUT = ROOT / "tests" / "data" / "tshark_analysis.json"
NAMES = ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
         "lost_segment", "ack_lost_segment", "window_update", "window_full", "keep_alive",
         "keep_alive_ack", "duplicate_ack", "zero_window", "zero_window_probe",
         "zero_window_probe_ack")


def analysis(path: Path) -> dict[str, list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
           "-e", "frame.number"]
    for name in NAMES:
        cmd += ["-e", f"tcp.analysis.{name}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    frames = {}
    for line in out.splitlines():
        number, *fields = line.split("|")
        names = [n for n, v in zip(NAMES, fields) if v]
        if names:
            frames[number] = names
    return frames


def main() -> None:
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    caps = {str(p.relative_to(CAPTURES)): analysis(p) for p in sorted(CAPTURES.rglob("*.pcap"))}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"tshark": version, "captures": caps}, indent=1, sort_keys=True)
                   + "\n")
    flagged = sum(len(f) for f in caps.values())
    print(f"{OUT.relative_to(ROOT)}: {len(caps)} captures, {flagged} frames flagged ({version})")


if __name__ == "__main__":
    main()
