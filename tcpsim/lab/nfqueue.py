"""Holding segments back for a while: the lab's delay line, on the kernel's NFQUEUE.

The kernel here has neither netem nor a qdisc that can hold one chosen packet from its first
byte (tbf and htb both start with a full bucket, so the first packet always passes at once).
It does have nfnetlink_queue: a netfilter rule hands a packet to userspace, and the packet
waits in the kernel until userspace gives its verdict.  The lab is that userspace: it notes
when each marked segment arrived and accepts it `delay` seconds later, so the segment reaches
the receiving socket exactly that much later, while the sender counts it as sent at once (as
on a long wire).  The protocol is small (include/uapi/linux/netfilter/nfnetlink_queue.h), so
it is spoken here directly over a netlink socket rather than through libnetfilter_queue.

A `net: duplicate` line's segments come through the same queue: the lab lets the original go
on at once and sends an exact copy of its IP packet (the TCP checksum filled in, since lo
leaves it partial) through a raw socket of the namespace, right after (or `by` seconds after
the original reached lo).  The copy crosses lo as any packet does, so the capture sees it
once more, as the receiving kernel does; it carries COPY_MARK, which the nft chain's first
rule accepts before any net line counts it, and which the NFQUEUE rule does not queue.
"""

from __future__ import annotations

import collections
import errno
import heapq
import socket
import struct
import time

from ..errors import TcpsimError
from ..scenario.syntax import COPY_MARK
from ..trace.segment import internet_checksum
from .kernel import _NLMSG, NLM_F_REQUEST, NLMSG_ERROR  # the netlink header sock_diag uses too

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META, NFQNL_COPY_PACKET = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_MARK, NFQA_TIMESTAMP = 1, 2, 3, 4
NFQA_PAYLOAD = 10
SO_MARK = 36
NF_ACCEPT = 1
NLM_F_ACK = 0x4
_NFGEN = struct.Struct("!BBH")  # family, version, res_id (the queue number), big-endian
_NLA = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _NLA.pack(_NLA.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _tcp_flags(packet: bytes) -> int:
    """The TCP flags byte of an IP packet (IPv4 with options, or IPv6 on lo)."""
    off = (packet[0] & 0xF) * 4 if packet[0] >> 4 == 4 else 40
    return packet[off + 13]


def tcp_checksummed(packet: bytes) -> bytes:
    """The IP packet with its TCP checksum computed in full: on lo the kernel leaves only the
    pseudo-header's sum there (CHECKSUM_PARTIAL), which a packet sent again from a raw socket
    (CHECKSUM_NONE) would fail at the receiver's tcp_checksum_complete()."""
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 0xF) * 4
        tcp = bytearray(packet[ihl:struct.unpack_from("!H", packet, 2)[0]])
        pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        head = packet[:ihl]
    else:  # IPv6 on lo: no extension headers
        tcp = bytearray(packet[40:40 + struct.unpack_from("!H", packet, 4)[0]])
        pseudo = packet[8:40] + struct.pack("!I3xB", len(tcp), 6)
        head = packet[:40]
    tcp[16:18] = b"\0\0"
    tcp[16:18] = struct.pack("!H", internet_checksum(pseudo + bytes(tcp)))
    return head + bytes(tcp)


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

    def __init__(self, delays: dict[int, float], num: int = 0,
                 copies: dict[int, float] | None = None):
        self.delays = delays  # net line -> seconds
        self.copies = copies or {}  # net: duplicate line -> seconds from the original to its copy
        self.num = num
        self._seq = 0
        self._order = 0
        # (due, order, packet id, copy): a held segment (copy None), or a copy to send
        self._held: list[tuple[float, int, int, bytes | None]] = []
        self.late = 0.0  # the most a segment was let go after it was due (seconds)
        self.copied = 0  # copies sent
        # their IP packets, and whether the capture has shown the original yet, until the
        # capture shows them (is_copy())
        self.sent_copies: list[list] = []
        self._twins: set[bytes] = set()  # copies whose original has their very bytes
        self._recent: collections.deque = collections.deque(maxlen=256)  # frames not copies
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        # a copy needs the packet's bytes (at most 64 KiB: lo's packets at its own MTU)
        mode = struct.pack("!IB", 0xFFFF, NFQNL_COPY_PACKET) if self.copies else \
            struct.pack("!IB", 0, NFQNL_COPY_META)
        self._request(NFQNL_MSG_CONFIG,
                      _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))
                      + _attr(NFQA_CFG_PARAMS, mode))
        self.sock.setblocking(False)
        self._raw: dict[int, socket.socket] = {}
        for fam in ((socket.AF_INET, socket.AF_INET6) if self.copies else ()):
            raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)  # the header is ours
            raw.setsockopt(socket.SOL_SOCKET, SO_MARK, COPY_MARK)
            self._raw[4 if fam == socket.AF_INET else 6] = raw

    def fileno(self) -> int:
        return self.sock.fileno()

    def is_copy(self, packet: bytes, t: float) -> bool:
        """Whether a captured IP packet is a copy this queue sent, and forget that copy if so.
        Its bytes tell, except for a packet whose original has the copy's very bytes: an RST,
        whose sender fills its checksum in whole (ip_send_unicast_reply()), where lo leaves
        a socket's segments CHECKSUM_PARTIAL.  Then the capture order tells: the original is
        captured as lo sends it (dev_queue_xmit_nit()), before NFQUEUE holds it at ingress, so
        before the lab sends its copy; of the two, the copy is the second.  (The capture's
        timestamps do not tell: the original's may be later than the copy's sendto(); `t` is
        kept for the callers.)"""
        for i, entry in enumerate(self.sent_copies):
            data, original_seen = entry
            if data == packet:
                if data in self._twins and not original_seen:
                    entry[1] = True  # the original, captured after the copy was sent
                    return False
                del self.sent_copies[i]
                return True
        self._recent.append(packet)
        return False

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
                    line = mark & 0xFFFF  # FAULT_MARK | line
                    self._order += 1
                    if line in self.copies:  # on at once, and its copy after it
                        heapq.heappush(self._held, (arrived, self._order, pid, None))
                        self._order += 1
                        copy = tcp_checksummed(a[NFQA_PAYLOAD])
                        # (NFQUEUE hands every packet over checksummed in full, so its bytes
                        # cannot tell; an RST is the one whose original lo sends so)
                        if _tcp_flags(copy) & 0x04:
                            self._twins.add(copy)
                        heapq.heappush(self._held, (arrived + self.copies[line], self._order, 0,
                                                    copy))
                    else:
                        heapq.heappush(self._held, (arrived + self.delays.get(line, 0.0),
                                                    self._order, pid, None))
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
            due, _, pid, copy = heapq.heappop(self._held)
            self.late = max(self.late, now - due)
            if copy is not None:
                version = copy[0] >> 4
                dst = socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6,
                                       copy[16:20] if version == 4 else copy[24:40])
                self._raw[version].sendto(copy, (dst, 0))
                self.copied += 1
                # the original of a twin may be in the capture already (is_copy())
                seen = copy in self._twins and copy in self._recent
                if seen:
                    self._recent.remove(copy)
                self.sent_copies.append([copy, seen])
                n += 1
                continue
            body = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))
            self.sock.send(self._message(NFQNL_MSG_VERDICT, body, 0))
            n += 1
        return n

    def close(self) -> None:
        self.sock.close()
        for raw in self._raw.values():
            raw.close()
