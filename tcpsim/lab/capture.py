"""Capturing loopback with scapy, each segment once.

Linux hands a packet socket on lo every frame twice: the outgoing copy (PACKET_OUTGOING)
when it is transmitted and the incoming copy (PACKET_HOST) when it is received.  We keep the
outgoing copy (its time is when the kernel sent it) and pair it with its incoming twin; an
outgoing frame whose twin has not arrived yet is still in flight, which tells the lab when
the network has settled.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

PACKET_HOST, PACKET_OUTGOING = 0, 4
SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats: tp_packets, tp_drops
# The packet socket's receive buffer.  A frame on lo (MTU 65536, GSO) is up to 64 KiB and the
# socket gets two copies of it; net.core.rmem_default (208 KiB) held about three, and a
# 100,000-byte transfer lost its second segment in 4 of 4 runs.  Memory is charged only for
# frames queued, and the lab reads them as they come (it polls the capture while it waits).
CAPTURE_BUFFER = 256 << 20


@dataclass
class Frame:
    pkttype: int
    t: float  # kernel timestamp, epoch seconds
    data: bytes


class Dedupe:
    """Keep one copy of each looped-back frame and count the ones still in flight."""

    def __init__(self):
        self._unmatched: deque[bytes] = deque()  # outgoing frames whose incoming copy is due

    @property
    def in_flight(self) -> int:
        return len(self._unmatched)

    def forget(self) -> None:
        self._unmatched.clear()

    def feed(self, frame: Frame) -> Frame | None:
        """The frame to keep, or None for the incoming twin of a frame already kept."""
        if frame.pkttype == PACKET_OUTGOING:
            self._unmatched.append(frame.data)
            return frame
        try:
            self._unmatched.remove(frame.data)
        except ValueError:
            return frame  # received but never sent here (e.g. injected): keep it
        return None


class LoopbackCapture:
    """A scapy packet socket on lo, read without blocking from the lab's own thread."""

    @staticmethod
    def prepare() -> None:
        """Import scapy (slow) before the run starts, so that an interrupt never lands in the
        middle of an import, where Python may swallow it."""
        logging.getLogger("scapy").setLevel(logging.ERROR)
        import scapy.arch.linux  # noqa: F401

    def __init__(self, iface: str = "lo"):
        self.prepare()
        from scapy.arch.linux import L2ListenSocket

        self._sock = L2ListenSocket(iface=iface)
        ins = self._sock.ins
        ins.setblocking(False)
        try:
            ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_BUFFER)  # root: past rmem_max
        except PermissionError:
            ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CAPTURE_BUFFER)
        self.dedupe = Dedupe()
        self.dropped = 0  # frames the kernel could not queue for us (PACKET_STATISTICS)

    def fileno(self) -> int:
        return self._sock.ins.fileno()

    def drain(self) -> list[Frame]:
        """Every frame captured so far, one copy each, in capture order."""
        kept = []
        while True:
            try:
                data, sa_ll, ts = self._sock._recv_raw(self._sock.ins, 262144)
            except (BlockingIOError, InterruptedError):
                return kept
            t = float(ts) if ts is not None else time.time()
            frame = self.dedupe.feed(Frame(sa_ll[2], t, bytes(data)))
            if frame is not None:
                kept.append(frame)

    def count_drops(self) -> int:
        """Frames the kernel dropped for want of room since the capture began.  Reading
        PACKET_STATISTICS resets it (packet_getsockopt), so the total is kept here; a dropped
        frame's twin never comes, so the frames still waiting for theirs are forgotten."""
        _, drops = _TPACKET_STATS.unpack(
            self._sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size))
        if drops:
            self.dropped += drops
            self.dedupe.forget()
        return self.dropped

    def close(self) -> None:
        self._sock.close()
