#!/usr/bin/env python3
"""Record captures made the way an engineer makes them: tcpdump on an interface while a real
program runs (not the lab's scapy capture), for `tcpsim compare` and its check against tshark.

Inside a private network namespace (`unshare -n`; lo up, lo's MTU set to 1500 so that segments
are Ethernet-sized), `tcpdump -i lo -s 128 -w` captures a Python upload of 2 MB: a client
sendall()s 2 MB to a server whose listener has SO_RCVBUF 32768 and which reads slowly (64 KiB
a read, pausing 0.4 s after its 4th, 12th and 20th read): its window fills, closes (zero
window, probed by the persist timer) and reopens (window updates).  Then, from that capture:
- upload-2mb-lost.pcap: the same frames but one: the client's data segment at frame
  LOST_FRAME (the first of the client's data segments from frame LOST_FROM on) is removed,
  as a busy capture host drops one;
- upload-2mb-midstream.pcap: the frames from MIDSTREAM_FRAME on, as a capture started while
  the upload was under way.
Writes captures/tcpdump/upload-2mb{,-lost,-midstream}.pcap and prints which frames were cut.
Needs root and tcpdump; touches nothing on the host (the namespace goes with the process).

    python3 scripts/record_tcpdump_captures.py
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "captures" / "tcpdump"
SIZE = 2 * 1024 * 1024
RCVBUF = 32768
PAUSES = {4: 0.4, 12: 0.4, 20: 0.4}  # after the n-th read, sleep this long (s)
LOST_FROM = 40  # the removed segment: the client's first data segment from here on
MIDSTREAM_FRAME = 60  # the mid-connection capture starts at this frame


def upload() -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    srv.bind(("127.0.0.1", 5001))
    srv.listen(1)
    got = []

    def serve():
        conn, _ = srv.accept()
        n = total = 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            total += len(data)
            n += 1
            if n in PAUSES:
                time.sleep(PAUSES[n])
        got.append(total)
        conn.close()

    th = threading.Thread(target=serve)
    th.start()
    cli = socket.create_connection(("127.0.0.1", 5001))
    cli.sendall(b"x" * SIZE)
    cli.close()
    th.join()
    srv.close()
    assert got == [SIZE], got


def records(path: Path) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    head, pos, out = data[:24], 24, []
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        out.append(data[pos:pos + 16 + incl])
        pos += 16 + incl
    return head, out


def client_data(rec: bytes) -> bool:
    """Whether a record (Ethernet, IPv4, TCP) is a data segment of the client."""
    frame = rec[16:]
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    sport = struct.unpack_from("!H", frame, tcp)[0]
    doff = (frame[tcp + 12] >> 4) * 4
    return sport != 5001 and total - ihl - doff > 0


def inside(out: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "mtu", "1500"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "upload.pcap"
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "128", "-U", "--immediate-mode", "-n", "-w", str(raw),
                                 "tcp port 5001"], stderr=subprocess.PIPE)
        line = dump.stderr.readline()  # "listening on lo, ..." once it captures
        assert b"listening" in line, line
        upload()
        time.sleep(1.0)  # (then tcpdump has written every frame: --immediate-mode, -U)
        dump.terminate()
        _, err = dump.communicate()
        print(err.decode().strip())
        head, recs = records(raw)
    out.mkdir(parents=True, exist_ok=True)
    (out / "upload-2mb.pcap").write_bytes(head + b"".join(recs))
    lost = next(i for i in range(LOST_FROM - 1, len(recs)) if client_data(recs[i]))
    (out / "upload-2mb-lost.pcap").write_bytes(head + b"".join(recs[:lost] + recs[lost + 1:]))
    (out / "upload-2mb-midstream.pcap").write_bytes(head + b"".join(recs[MIDSTREAM_FRAME - 1:]))
    print(f"upload-2mb.pcap: {len(recs)} frames; upload-2mb-lost.pcap: frame {lost + 1} removed "
          f"(a client data segment); upload-2mb-midstream.pcap: frames "
          f"{MIDSTREAM_FRAME}-{len(recs)}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(Path(sys.argv[2]))
        return
    if os.geteuid() != 0:
        sys.exit("needs root (a private network namespace and tcpdump on its lo)")
    subprocess.run(["unshare", "-n", sys.executable, __file__, "--inside", str(OUT)], check=True)


if __name__ == "__main__":
    main()
