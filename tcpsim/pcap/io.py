"""pcap output of a Trace, and reading the frames back.

Frames are written as captured (Ethernet link type, as Linux loopback gives them) with their
kernel timestamps, with one change: the TCP checksum.  Loopback offloads it (CHECKSUM_PARTIAL)
and never fills it in, so a raw capture of lo fails checksum validation in Wireshark; we write
the correct sum, the one a real NIC would have put there.  The Trace keeps the raw frame.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

from ..errors import TcpsimError
from ..trace import Trace
from ..trace.segment import internet_checksum

LINKTYPE_ETHERNET = 1
SNAPLEN = 262144  # loopback frames reach 65550 bytes (MTU 65536 plus the Ethernet header)


def with_tcp_checksum(frame: bytes) -> bytes:
    """The frame with its TCP checksum computed (RFC 9293 3.1), for IPv4 and IPv6 over Ethernet."""
    if len(frame) < 14:
        return frame
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        ihl, total = (ip[0] & 0x0F) * 4, struct.unpack_from("!H", ip, 2)[0]
        tcp = bytearray(ip[ihl:total])
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 6:
        ihl = 40
        tcp = bytearray(ip[40:40 + struct.unpack_from("!H", ip, 4)[0]])
        pseudo = ip[8:40] + struct.pack("!IxxxB", len(tcp), 6)
    else:
        return frame
    if len(tcp) < 20:
        return frame
    tcp[16:18] = b"\0\0"
    struct.pack_into("!H", tcp, 16, internet_checksum(pseudo + bytes(tcp)))
    return frame[:14 + ihl] + bytes(tcp) + frame[14 + ihl + len(tcp):]


def write_pcap(trace: Trace, path: str | Path) -> int:
    """Write the trace's segments ("-": to standard output); returns how many were written."""
    from scapy.utils import PcapWriter  # scapy is slow to import: only when writing

    segments = trace.segments
    try:
        if str(path) == "-":  # as tcpdump -w -; the writer closes its file: give it a copy of fd 1
            sys.stdout.flush()
            target = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        else:
            target = str(path)
        with PcapWriter(target, linktype=LINKTYPE_ETHERNET, snaplen=SNAPLEN, sync=False) as w:
            w.write_header(None)  # write_packet() alone would leave the file without one
            for seg in segments:
                usec_total = round((trace.t0 + seg.t) * 1e6)
                sec, usec = divmod(usec_total, 1_000_000)
                frame = with_tcp_checksum(seg.wire_frame())
                w.write_packet(frame, sec=sec, usec=usec, caplen=len(frame), wirelen=len(frame))
    except OSError as e:
        raise TcpsimError(f"cannot write {path}: {e.strerror}; choose a writable path")
    return len(segments)


def read_pcap_frames(path: str | Path) -> list[tuple[float, bytes]]:
    """(epoch time, frame bytes) of every packet of a pcap file, via scapy."""
    from scapy.utils import RawPcapReader

    try:
        with RawPcapReader(str(path)) as reader:
            out = []
            while True:
                # iterating cuts each frame at scapy's MTU (65535 bytes); a loopback frame
                # with a 65483-byte segment is 65549, so ask for up to the snaplen
                try:
                    data, meta = reader._read_packet(size=SNAPLEN)
                except EOFError:
                    return out
                out.append((meta.sec + meta.usec / 1e6, bytes(data)))
    except OSError as e:
        raise TcpsimError(f"cannot read pcap {path}: {e}; give a pcap file")
