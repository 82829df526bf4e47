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
process, from wait4).  Targets (issue 21): at least 5x tshark's rate; under 100 MB.

Two more generated captures measure memory whatever the capture (issue 21):
  - a SYN scan: --scan N SYNs (default 1,000,000) from one address to as many others, 100,000
    a second, none answered: every one a connection left open (target: under 300 MB);
  - never acknowledged: --noack N segments (default 10,000,000): a handshake, then one side's
    full-sized data segments (cut to their headers, as tcpdump -s 54 writes them), no ACK of
    them captured (target: under 100 MB).
Each is read by tcpsim compare and by tshark (killed past --tshark-limit seconds or 8 GB).

    python3 scripts/bench_compare.py [--packets N] [--keep DIR] [--only bench,scan,noack]
        [--trees DIR,DIR] [--rounds N] [--tshark-limit S]

--trees: run `tcpsim compare` from each of these source trees (PYTHONPATH), one after the
other after the same tshark run (a before/after in one run: give a clone of the old tree
and this one); --rounds: measure everything this many times (the best of them is printed
last); --tshark-limit 0: no tshark on the scan and no-ACK captures (their figures are
memory and time, and tshark takes minutes on them).
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


def _records(path: Path, rows, sec, usec, wirelen) -> None:
    """Write a little-endian microsecond pcap (Ethernet) of the frames in rows (uint8 matrix)."""
    import numpy as np

    n, size = rows.shape
    out = np.empty((n, 16 + size), dtype=np.uint8)
    hdr = out[:, :16].view("<u4")
    hdr[:, 0], hdr[:, 1], hdr[:, 2], hdr[:, 3] = sec, usec, size, wirelen
    out[:, 16:] = rows
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(0, n, 1 << 20):
            fh.write(out[i:i + (1 << 20)].tobytes())


def _put(rows, col: int, values, width: int) -> None:
    """Big-endian integers into columns col:col+width of every row."""
    import numpy as np

    v = np.asarray(values, dtype=np.uint64)
    for k in range(width):
        rows[:, col + width - 1 - k] = (v >> np.uint64(8 * k)) & np.uint64(0xFF)


def _frame(flags: int, options: bytes = b"", total: int | None = None) -> bytes:
    """An Ethernet/IPv4/TCP frame (addresses, ports, numbers filled in later)."""
    tcp = struct.pack("!HHIIBBHHH", 0, 0, 0, 0, (20 + len(options)) // 4 << 4, flags, 65535,
                      0, 0) + options
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total or 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     b"\0" * 4, b"\0" * 4)
    return b"\0" * 12 + b"\x08\x00" + ip + tcp


def generate_scan(path: Path, packets: int) -> int:
    """packets SYNs from 192.0.2.1:40000 to as many addresses (port 80), 100,000 a second."""
    import numpy as np

    i = np.arange(packets, dtype=np.uint64)
    rows = np.tile(np.frombuffer(_frame(0x02, b"\x02\x04\x05\xb4"), dtype=np.uint8), (packets, 1))
    _put(rows, 26, 0xC0000201, 4)  # 192.0.2.1
    _put(rows, 30, (10 << 24) + i, 4)  # 10.0.0.0 on
    _put(rows, 34, 40000, 2)
    _put(rows, 36, 80, 2)
    _put(rows, 38, i * 7919 + 12345, 4)  # its ISN
    t = 1_700_000_000 * 1_000_000 + i * 10  # 10 us apart
    _records(path, rows, t // 1_000_000, t % 1_000_000, rows.shape[1])
    return packets


def generate_noack(path: Path, packets: int) -> int:
    """A handshake, then packets - 3 full-sized segments from the client (1460 bytes each, cut
    to their 54 bytes of headers), 100,000 a second; the server acknowledges none of them."""
    import numpy as np

    n = max(packets - 3, 0)
    cip, sip, cport, sport, cisn, sisn = 0x0A000001, 0x0A000002, 43210, 8080, 1000, 5000
    hs = [(_frame(0x02), cip, sip, cport, sport, cisn, 0),
          (_frame(0x12), sip, cip, sport, cport, sisn, cisn + 1),
          (_frame(0x10), cip, sip, cport, sport, cisn + 1, sisn + 1)]
    rows = np.zeros((3 + n, 54), dtype=np.uint8)
    for k, (f, src, dst, sp, dp, seq, ack) in enumerate(hs):
        rows[k] = np.frombuffer(f, dtype=np.uint8)
        _put(rows[k:k + 1], 26, src, 4)
        _put(rows[k:k + 1], 30, dst, 4)
        _put(rows[k:k + 1], 34, sp, 2)
        _put(rows[k:k + 1], 36, dp, 2)
        _put(rows[k:k + 1], 38, seq, 4)
        _put(rows[k:k + 1], 42, ack, 4)
    data = rows[3:]
    data[:] = np.frombuffer(_frame(0x10, total=1500), dtype=np.uint8)
    _put(data, 26, cip, 4)
    _put(data, 30, sip, 4)
    _put(data, 34, cport, 2)
    _put(data, 36, sport, 2)
    _put(data, 38, (cisn + 1 + np.arange(n, dtype=np.uint64) * 1460) % (1 << 32), 4)
    _put(data, 42, sisn + 1, 4)
    i = np.arange(3 + n, dtype=np.uint64)
    t = 1_700_000_000 * 1_000_000 + i * 10
    wire = np.full(3 + n, 1514, dtype=np.uint32)
    wire[:3] = 54
    _records(path, rows, t // 1_000_000, t % 1_000_000, wire)
    return 3 + n


def measure(cmd: list[str], limit: float | None = None, env: dict | None = None,
            cwd: str | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of one run of cmd (killed past limit s)."""
    import resource

    def cap():  # tshark's conversation table grows with the capture: 8 GB at most
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=cap if limit else None, env=env, cwd=cwd)
    deadline = t0 + limit if limit else None
    while True:  # (wait4 itself, for the child's peak RSS; polled when there is a limit)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            deadline = None
        else:
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def compare_run(label: str, path: Path, n: int, tshark_limit: float | None,
                trees: list[str] | None = None) -> dict:
    """tshark -z conv,tcp and tcpsim compare (from each tree) on one file, back to back; one
    table.  Returns {name: (wall, peak MB, exit, ratio or None)}."""
    import os

    if tshark_limit == 0:
        tshark = None
    else:
        tshark = measure(["tshark", "-q", "-z", "conv,tcp", "-r", str(path)], tshark_limit)
    runs = [("tshark -z conv,tcp", tshark)] if tshark else []
    for tree in trees or [None]:
        env = None if tree is None else dict(os.environ, PYTHONPATH=tree)
        name = "tcpsim compare" if tree is None else f"tcpsim {Path(tree).name}"
        # (run in the tree: `python3 -m` puts the working directory first on sys.path)
        runs.append((name, measure([sys.executable, "-m", "tcpsim", "compare",
                                    str(path.resolve())], env=env, cwd=tree)))
    print(f"{label}: {n} packets ({path.stat().st_size / 1e6:.0f} MB)")
    print(f"  {'':26} {'seconds':>8} {'packets/s':>10} {'peak MB':>8} {'ratio':>7}")
    got = {}
    for name, (wall, rss, code) in runs:
        note = "" if code in (0, 1) else f"  (exit {code}: did not finish)"
        ratio = tshark[0] / wall if tshark and tshark[2] == 0 and name != runs[0][0] else None
        print(f"  {name:26} {wall:8.2f} {n / wall:10.0f} {rss:8.1f} "
              f"{'' if ratio is None else f'{ratio:6.2f}x'}{note}")
        got[name] = (wall, rss, code, ratio)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--scan", type=int, default=1_000_000, help="SYNs of the scan capture")
    ap.add_argument("--noack", type=int, default=10_000_000,
                    help="packets of the never-acknowledged capture")
    ap.add_argument("--only", default="bench,scan,noack", help="which captures to measure")
    ap.add_argument("--tshark-limit", type=float, default=300.0,
                    help="seconds tshark may take on the scan and no-ACK captures (0: do not "
                         "run it on them)")
    ap.add_argument("--trees", help="run tcpsim compare from each of these source trees "
                    "(comma-separated; PYTHONPATH), after the same tshark run")
    ap.add_argument("--rounds", type=int, default=1, help="measure this many times; the "
                    "best of each is printed at the end")
    ap.add_argument("--keep", type=Path, help="write the generated captures in this directory "
                    "and keep them (a file there already is used as it is)")
    ap.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="bench", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        make = {"bench": generate, "scan": generate_scan, "noack": generate_noack}[args.kind]
        print(make(args.generate_only, {"bench": args.packets, "scan": args.scan,
                                        "noack": args.noack}[args.kind]))
        return 0
    unknown = [k for k in args.only.split(",") if k not in ("bench", "scan", "noack")]
    if unknown:
        print(f"--only: no capture named {', '.join(unknown)}; give some of bench,scan,noack",
              file=sys.stderr)
        return 2
    if shutil.which("tshark") is None:
        print("tshark is needed for the baseline (Debian package tshark)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp())
    where = args.keep or tmp
    where.mkdir(parents=True, exist_ok=True)
    counts = {"bench": args.packets, "scan": args.scan, "noack": args.noack}
    labels = {"bench": "benchmark (copies of request-response; targets >= 5x, < 100 MB)",
              "scan": "SYN scan (target < 300 MB)",
              "noack": "never-acknowledged segments (target < 100 MB)"}
    trees = args.trees.split(",") if args.trees else None
    best: dict = {}
    try:
        paths = {}
        for kind in args.only.split(","):
            path = paths[kind] = where / f"{kind}-{counts[kind]}.pcap"
            if not path.exists():
                t0 = time.perf_counter()
                # generated in a child process: a child forked from a big parent would count
                # the parent's pages in its peak RSS until it execs
                size = "--packets" if kind == "bench" else f"--{kind}"
                subprocess.run([sys.executable, __file__, "--kind", kind, size,
                                str(counts[kind]), "--generate-only", str(path)],
                               capture_output=True, text=True, check=True)
                print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in "
                      f"{time.perf_counter() - t0:.1f} s")
        for _ in range(args.rounds):
            for kind, path in paths.items():
                n = int(counts[kind] if kind != "noack" else max(counts[kind], 3))
                got = compare_run(labels[kind], path, n,
                                  None if kind == "bench" else args.tshark_limit, trees)
                for name, row in got.items():
                    old = best.get((kind, name))
                    best[(kind, name)] = row if old is None else (
                        min(old[0], row[0]), min(old[1], row[1]), row[2],
                        None if row[3] is None else max(old[3] or 0, row[3]))
        if args.rounds > 1:
            print(f"best of {args.rounds} rounds (seconds, peak MB, ratio to tshark):")
            for (kind, name), (wall, rss, _, ratio) in best.items():
                print(f"  {kind:6} {name:26} {wall:8.2f} {rss:8.1f} "
                      f"{'' if ratio is None else f'{ratio:6.2f}x'}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
