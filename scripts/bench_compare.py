#!/usr/bin/env python3
"""Benchmark `tcpsim compare` against tshark on a large generated capture (not a test).

Generates a pcap of 1,000,000 packets: many short connections, each a copy of the
reference capture of `request-response` (handshake, a request, a reply, the release) with its
own client address and port, the connections overlapping in time as on a busy server.  Then
runs, in the same session, on the same file:
  - baseline: `tshark -q -z conv,tcp -r FILE` (Wireshark's TCP conversation table);
  - `tcpsim compare FILE` (every connection followed through the transition table; the
    summary table a large capture gets);
and reports packets per second of each, the ratio, and each one's peak memory (max RSS of the
process, from wait4).  Targets (issue 5): at least 3x tshark's rate; under 100 MB.

    python3 scripts/bench_compare.py [--packets N] [--keep FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tcpsim.pcap.io import read_pcap_frames  # noqa: E402

TEMPLATE = ROOT / "captures" / "request-response.pcap"
OPEN_AT_ONCE = 200  # connections in progress at any time


def generate(path: Path, packets: int) -> int:
    """Write the capture; returns the number of packets written."""
    frames = read_pcap_frames(TEMPLATE)
    t_first = frames[0][0]
    server_port = struct.unpack_from("!H", frames[0][1], 36)[0]
    per_conn = len(frames)
    conns = -(-packets // per_conn)
    span = frames[-1][0] - t_first
    stagger = span / OPEN_AT_ONCE  # a new connection every `stagger` seconds
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    written = 0
    base = 1_700_000_000.0
    records = []
    for i in range(conns):
        ip = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        port = 1024 + i % 60000
        start = base + i * stagger
        for t, f in frames:
            g = bytearray(f)
            sport = struct.unpack_from("!H", g, 34)[0]
            if sport == server_port:  # server -> client: the client is the destination
                g[30:34] = ip
                struct.pack_into("!H", g, 36, port)
            else:
                g[26:30] = ip
                struct.pack_into("!H", g, 34, port)
            records.append((start + (t - t_first), bytes(g)))
    records.sort(key=lambda r: r[0])  # overlapping connections interleave
    with open(path, "wb") as fh:
        fh.write(out)
        buf = bytearray()
        for t, g in records[:max(packets, 0) or len(records)]:
            sec = int(t)
            buf += struct.pack("<IIII", sec, int((t - sec) * 1e6), len(g), len(g)) + g
            written += 1
            if len(buf) > 1 << 22:
                fh.write(buf)
                buf.clear()
        fh.write(buf)
    return written


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of one run of cmd."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="write the generated capture here and keep it")
    ap.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        print(generate(args.generate_only, args.packets))
        return 0
    if shutil.which("tshark") is None:
        print("tshark is needed for the baseline (Debian package tshark)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp())
    path = args.keep or tmp / "many.pcap"
    t0 = time.perf_counter()
    # generated in a child process: a child forked from a big parent would count the parent's
    # pages in its peak RSS until it execs
    n = int(subprocess.run([sys.executable, __file__, "--packets", str(args.packets),
                            "--generate-only", str(path)], capture_output=True, text=True,
                           check=True).stdout)
    print(f"generated {n} packets ({path.stat().st_size / 1e6:.0f} MB) in "
          f"{time.perf_counter() - t0:.1f} s: {path}")
    tshark = measure(["tshark", "-q", "-z", "conv,tcp", "-r", str(path)])
    ours = measure([sys.executable, "-m", "tcpsim", "compare", str(path)])
    print(f"{'':28} {'seconds':>8} {'packets/s':>10} {'peak MB':>8}")
    for name, (wall, rss, code) in (("tshark -z conv,tcp", tshark), ("tcpsim compare", ours)):
        print(f"{name:28} {wall:8.2f} {n / wall:10.0f} {rss:8.1f}" + (f"  (exit {code})" if code not in (0, 1) else ""))
    print(f"rate ratio tcpsim/tshark: {tshark[0] / ours[0]:.2f}x (target >= 3x); "
          f"tcpsim peak memory {ours[1]:.0f} MB (target < 100 MB)")
    if not args.keep:
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
