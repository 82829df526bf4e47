"""Holding segments back for a while: the lab's delay line, on the kernel's NFQUEUE.

The kernel here has neither netem nor a qdisc that can hold one chosen packet from its first
byte (tbf and htb both start with a full bucket, so the first packet always passes at once).
It does have nfnetlink_queue: a netfilter rule hands a packet to userspace, and the packet
waits in the kernel until userspace gives its verdict.  The lab is that userspace: it notes
when each marked segment arrived and accepts it `delay` seconds later, so the segment reaches
the receiving socket exactly that much later, while the sender counts it as sent at once (as
on a long wire).  The protocol is small (include/uapi/linux/netfilter/nfnetlink_queue.h), so
it is spoken here directly over a netlink socket rather than through libnetfilter_queue.
"""

from __future__ import annotations

import errno
import heapq
import socket
import struct
import time

from ..errors import TcpsimError
from .kernel import _NLMSG, NLM_F_REQUEST, NLMSG_ERROR  # the netlink header sock_diag uses too

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_MARK, NFQA_TIMESTAMP = 1, 2, 3, 4
NF_ACCEPT = 1
NLM_F_ACK = 0x4
_NFGEN = struct.Struct("!BBH")  # family, version, res_id (the queue number), big-endian
_NLA = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _NLA.pack(_NLA.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _attrs(buf: bytes, off: int, end: int) -> dict[int, bytes]:
    out = {}
    while off + _NLA.size <= end:
        length, kind = _NLA.unpack_from(buf, off)
        if length < _NLA.size:
            break
        out[kind & 0x7FFF] = buf[off + _NLA.size:off + length]
        off += (length + 3) & ~3
    return out


class DelayQueue:
    """Queue `num` of this network namespace: segments held, and the time each is due."""

    def __init__(self, delays: dict[int, float], num: int = 0):
        self.delays = delays  # net line -> seconds
        self.num = num
        self._seq = 0
        self._held: list[tuple[float, int]] = []  # (due, packet id)
        self.late = 0.0  # the most a segment was let go after it was due (seconds)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self._request(NFQNL_MSG_CONFIG,
                      _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))
                      + _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _message(self, msg: int, body: bytes, flags: int) -> bytes:
        self._seq += 1
        payload = _NFGEN.pack(socket.AF_UNSPEC, 0, self.num) + body
        return _NLMSG.pack(_NLMSG.size + len(payload), (NFNL_SUBSYS_QUEUE << 8) | msg,
                           NLM_F_REQUEST | flags, self._seq, 0) + payload

    def _request(self, msg: int, body: bytes) -> None:
        """Send a configuration message and wait for the kernel's answer."""
        self.sock.send(self._message(msg, body, NLM_F_ACK))
        reply = self.sock.recv(65536)
        kind = _NLMSG.unpack_from(reply)[1]
        err = -struct.unpack_from("=i", reply, _NLMSG.size)[0] if kind == NLMSG_ERROR else 0
        if err:
            raise TcpsimError(f"the kernel refused the lab's packet queue "
                              f"({errno.errorcode.get(err, err)}); delays need nfnetlink_queue "
                              "(CONFIG_NETFILTER_NETLINK_QUEUE)")

    def take(self) -> int:
        """Read the segments queued since the last look; returns how many."""
        got = 0
        while True:
            try:
                buf = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return got
            off = 0
            while off + _NLMSG.size <= len(buf):
                length, kind = _NLMSG.unpack_from(buf, off)[:2]
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    a = _attrs(buf, off + _NLMSG.size + _NFGEN.size, off + length)
                    pid = struct.unpack_from("!I", a[NFQA_PACKET_HDR])[0]
                    mark = struct.unpack("!I", a[NFQA_MARK])[0] if NFQA_MARK in a else 0
                    arrived = time.time()
                    if NFQA_TIMESTAMP in a:  # when the frame reached lo: the send time
                        sec, usec = struct.unpack("!QQ", a[NFQA_TIMESTAMP])
                        arrived = sec + usec / 1e6
                    delay = self.delays.get(mark & 0xFFFF, 0.0)  # FAULT_MARK | line
                    heapq.heappush(self._held, (arrived + delay, pid))
                    got += 1
                off += (length + 3) & ~3

    @property
    def held(self) -> int:
        return len(self._held)

    def next_due(self) -> float | None:
        return self._held[0][0] if self._held else None

    def release_due(self, now: float) -> int:
        """Let every segment whose time has come go on to its receiver."""
        n = 0
        while self._held and self._held[0][0] <= now:
            due, pid = heapq.heappop(self._held)
            self.late = max(self.late, now - due)
            body = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))
            self.sock.send(self._message(NFQNL_MSG_VERDICT, body, 0))
            n += 1
        return n

    def close(self) -> None:
        self.sock.close()
