#!/usr/bin/env python3
"""Record captures of the course's own C programs (scripts/seed/server.c, client.c), one of
each exchange the kernel shows for them, for `tcpsim compare CAPTURE --program handshake`.

Each run is a fresh private network namespace (a TIME_WAIT left on port 8080 would make the
next server's bind() fail: the course's server sets no SO_REUSEADDR), with loopback captured:
- "./server, then ./client 0.2 s later", as the course says to run them, until the server's
  FIN has gone first, the client's FIN has gone first, and the two FINs have crossed;
- both started at once, until the client's SYN has been refused (the server not listening yet).
Writes captures/seed/NAME.pcap and NAME.json (the segments, the kernel version and the
namespace's sysctls) for NAME in server-closes-first, client-closes-first, fins-cross,
refused.  Needs root and gcc; touches nothing on the host.

    python3 scripts/record_seed_captures.py [--runs N]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tcpsim.lab.capture import LoopbackCapture
from tcpsim.lab.kernel import kernel_info, sysctls
from tcpsim.lab.netns import private_netns
from tcpsim.pcap import write_pcap
from tcpsim.trace import Trace, decode_frame

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "captures" / "seed"
SERVER_PORT = 8080


def build(where: Path) -> tuple[Path, Path]:
    bins = []
    for name in ("server", "client"):
        exe = where / name
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / "seed" / f"{name}.c")], check=True)
        bins.append(exe)
    return bins[0], bins[1]


def one_run(server: Path, client: Path, gap: float) -> Trace:
    """Start ./server, then ./client `gap` seconds later, in a namespace of their own."""
    with private_netns():
        cap = LoopbackCapture()
        try:
            t0 = time.time()
            srv = subprocess.Popen([str(server)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            if gap:
                time.sleep(gap)
            cli = subprocess.Popen([str(client)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            cli.wait(5)
            try:
                srv.wait(0.5)
            except subprocess.TimeoutExpired:  # refused: the server waits in accept() for ever
                srv.kill()
                srv.wait()
            time.sleep(0.1)  # the last ACKs
            frames = cap.drain()
            kernel, settings = kernel_info(), sysctls()
        finally:
            cap.close()
    trace = Trace(source="pcap", program="handshake", t0=t0, kernel=kernel, sysctls=settings)
    for f in frames:
        seg = decode_frame(f.data, f.t)
        if seg is not None:
            seg.t = round(seg.t - t0, 6)
            trace.events.append(seg)
    return trace


def kind(trace: Trace) -> str:
    """Which exchange this is: refused, or which FIN went first, or the FINs crossed."""
    segs = trace.segments
    if any("R" in s.flags for s in segs) and not any(s.flags == "S." for s in segs):
        return "refused"
    fins = [s for s in segs if "F" in s.flags]
    if len(fins) != 2:
        return "other"
    first, second = fins
    if second.ack == first.seq:  # the second FIN was sent before the first one arrived
        return "fins-cross"
    return "server-closes-first" if first.src.endswith(f":{SERVER_PORT}") else "client-closes-first"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400, help="give up after this many runs")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = {"server-closes-first": 0.2, "client-closes-first": 0.2, "fins-cross": 0.2,
              "refused": 0.0}
    seen: dict[str, int] = {}
    tally: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server, client = build(Path(tmp))
        for n in range(1, args.runs + 1):
            missing = [k for k in wanted if k not in seen]
            if not missing:
                break
            gap = wanted[missing[0]]
            trace = one_run(server, client, gap)
            k = kind(trace)
            how = "0.2 s apart" if gap else "at once"
            tally[how, k] = tally.get((how, k), 0) + 1
            if k in wanted and k not in seen:
                print(f"run {n} ({how}): {k}")
                seen[k] = n
                trace.notes.append(f"scripts/record_seed_captures.py, run {n}: ./server and "
                                   f"./client started {gap:.1f} s apart; {k}")
                write_pcap(trace, OUT / f"{k}.pcap")
                trace.to_json(OUT / f"{k}.json")
    for (how, k), count in sorted(tally.items()):
        print(f"started {how}: {k} {count}")
    for k in wanted:
        if k not in seen:
            print(f"{k}: not seen in {args.runs} runs", file=sys.stderr)
    return 0 if len(seen) == len(wanted) else 1


if __name__ == "__main__":
    sys.exit(main())
