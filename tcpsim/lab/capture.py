"""Capturing loopback with scapy, each segment once.

Linux hands a packet socket on lo every frame twice: the outgoing copy (PACKET_OUTGOING)
when it is transmitted and the incoming copy (PACKET_HOST) when it is received.  We keep the
outgoing copy (its time is when the kernel sent it) and pair it with its incoming twin; an
outgoing frame whose twin has not arrived yet is still in flight, which tells the lab when
the network has settled.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

PACKET_HOST, PACKET_OUTGOING = 0, 4


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
        self._sock.ins.setblocking(False)
        self.dedupe = Dedupe()

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

    def close(self) -> None:
        self._sock.close()
