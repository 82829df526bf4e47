#!/usr/bin/env python3
"""Holds the lab's loopback capture against tcpdump's, in the same namespace, at volume.

A transfer of N bytes (one send, read by a run of recv calls) runs in the lab while tcpdump
captures the same loopback in the lab's namespace.  Printed per size: segments and payload
bytes each captured, the kernel's drop count for the lab's packet socket, the wall time, and
how many of tcpdump's segments the lab lacks.  The lab must hold every segment tcpdump holds,
every byte sent, and report no drop.  Needs root and tcpdump.

    python3 scripts/check_capture.py [--sizes 1048576,104857600] [--runs N]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

from tcpsim.lab import executor, run_lab
from tcpsim.lab.capture import LoopbackCapture
from tcpsim.pcap.reader import Reader
from tcpsim.scenario import transfer
from tcpsim.trace.segment import flags_bits


class WithTcpdump(LoopbackCapture):
    """The lab's capture, and tcpdump started beside it in the same (the lab's) namespace."""

    pcap = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.proc = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-B", "262144", "-U",
                                      "--immediate-mode",
                                      "-w", WithTcpdump.pcap, "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump says "listening on lo" once its socket is open
        self.proc.stderr.readline()

    def close(self):
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()
        super().close()


def tcpdump_segments(path: str) -> Counter:
    with Reader(path) as r:
        return Counter((p.src[1], p.dst[1], p.seq, p.ack, p.flags, p.length) for p in r)


def lab_segments(trace) -> Counter:
    return Counter((int(s.src.rsplit(":", 1)[1]), int(s.dst.rsplit(":", 1)[1]), s.seq, s.ack,
                    flags_bits(s.flags), s.length) for s in trace.segments)


def payload(segments: Counter, port: int = 8080) -> int:
    return sum(n * k[5] for k, n in segments.items() if k[1] == port)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1048576,104857600")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        print("needs root and tcpdump")
        return 2
    executor.LoopbackCapture = WithTcpdump
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        WithTcpdump.pcap = os.path.join(tmp, "tcpdump.pcap")
        print(f"{'bytes':>10} {'run':>3} {'tcpdump segs':>12} {'lab segs':>9} {'tcpdump payload':>15} "
              f"{'lab payload':>11} {'lab lost':>8} {'wall':>7} {'missing':>7}")
        for n in map(int, args.sizes.split(",")):
            prog = transfer(n)
            for run in range(args.runs):
                t = time.perf_counter()
                trace = run_lab(prog, timeout=30)
                wall = time.perf_counter() - t
                lab, td = lab_segments(trace), tcpdump_segments(WithTcpdump.pcap)
                missing = td - lab  # segments tcpdump holds and the lab does not
                # every byte sent is in the lab's capture (retransmissions add more)
                ok = not missing and not trace.capture_lost and payload(lab) >= n
                bad += not ok
                print(f"{n:>10} {run + 1:>3} {td.total():>12} {lab.total():>9} "
                      f"{payload(td):>15} {payload(lab):>11} {trace.capture_lost:>8} "
                      f"{wall:6.2f}s {sum(missing.values()):>7}{'' if ok else '  DIFFERS'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
