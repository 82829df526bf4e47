"""A streaming reader of pcap and pcapng files: TCP packets out, one small tuple each.

scapy builds a full packet object per frame, which is far too slow for captures of millions
of packets; this reader parses the file formats and the few headers TCP needs with
struct.unpack_from on a fixed-size buffer, so memory stays flat however large the file.

Formats: pcap (both byte orders, microsecond and nanosecond magic) and pcapng (Section Header,
Interface Description with if_tsresol and if_tsoffset, Enhanced, Simple and the obsolete Packet
block; other blocks skipped), per the IETF drafts draft-ietf-opsawg-pcap and -pcapng.
Link types: Ethernet (with 802.1Q / 802.1ad VLAN tags), Linux cooked SLL and SLL2, raw IP
(101, and DLT_RAW 12/14), BSD null/loopback (0) and OpenBSD loop (108).  IPv4 and IPv6 (the
common extension headers are followed).

A problem with the file is a CaptureError (one sentence).  When part of the file was read,
`Reader.stopped` says where and why reading stopped, and the packets before it stand.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import TcpsimError

CHUNK = 1 << 21  # bytes read at a time (a Block's records; 2 MiB: as fast as 4 MiB over
# numpy, and each block's arrays and copies, alive at once, half the memory)
MAX_RECORD = 1 << 26  # a record longer than this is taken as a corrupt length field

LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_SLL2 = 0, 1, 101, 108, 113, 276
LINK_NAMES = {LINK_NULL: "BSD loopback", LINK_ETHERNET: "Ethernet", LINK_RAW: "raw IP", 12: "raw IP",
              14: "raw IP", LINK_LOOP: "OpenBSD loopback", LINK_SLL: "Linux cooked (SLL)",
              LINK_SLL2: "Linux cooked (SLL2)"}
_IPV6_EXT = {0, 43, 60}  # hop-by-hop, routing, destination options: 8-byte units after the first 8


class CaptureError(TcpsimError):
    """The file cannot be read as a capture (or not at all)."""


@dataclass(slots=True)
class Packet:
    """One TCP segment of a capture.  src/dst are (address bytes, port); seq/ack absolute."""

    number: int  # frame number, counted from 1 as Wireshark does (every frame, TCP or not)
    t: float  # seconds since the epoch
    src: tuple[bytes, int]
    dst: tuple[bytes, int]
    flags: int  # the TCP flag bits (FIN 0x01 ... CWR 0x80)
    seq: int
    ack: int
    win: int
    options: bytes  # the raw option bytes (trace.segment.parse_options reads them)
    length: int  # payload bytes, from the IP length (a short snaplen does not shorten it)
    payload: bytes = b""  # the captured payload, when the Reader was asked to keep it


@dataclass
class Stop:
    """Where and why reading stopped before the end of the file."""

    number: int  # the frame that could not be read
    offset: int  # byte offset in the file
    reason: str


class Reader:
    """Iterate over the TCP packets of a pcap or pcapng file."""

    def __init__(self, path: str | Path, payload: bool = False):
        self.path = Path(path)
        self.keep_payload = payload
        # "-" is standard input, as for tcpdump -r - and tshark -r -: a pipe cannot seek, so the
        # file is read front to back only (its magic number stays in the buffer, see _head)
        self.stdin = str(path) == "-"
        self.name = "standard input" if self.stdin else self.path.name
        if self.stdin:
            path = "standard input"
            self._f = sys.stdin.buffer
        else:
            try:
                self._f = open(self.path, "rb")
            except OSError as e:
                raise CaptureError(f"cannot open {path}: {e.strerror}; give the path of a pcap "
                                   "or pcapng file") from None
        head = self._head = self._f.read(4)
        if not head:
            raise CaptureError(f"{path} is empty; give a pcap or pcapng capture")
        if len(head) < 4:
            raise CaptureError(f"{path} is too short to be a capture ({len(head)} bytes)")
        if head == b"\x0a\x0d\x0d\x0a":
            self.format = "pcapng"
        elif head in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                       b"\xa1\xb2\x3c\x4d"):
            self.format = "pcap"
        else:
            raise CaptureError(f"{path} is not a pcap or pcapng capture (it starts with bytes "
                               f"{head.hex(' ')}); give a file written by tcpdump, Wireshark or "
                               "dumpcap")
        self.frames = 0  # every frame read, TCP or not
        self.other = 0  # frames that are not TCP over IP
        self.truncated = 0  # TCP frames cut by the snaplen before the end of the TCP header
        self.linktypes: set[int] = set()
        self.stopped: Stop | None = None
        self.size = 0 if self.stdin else self.path.stat().st_size  # 0: no progress bar
        self.offset = 0  # bytes consumed so far (for a progress bar)

    def close(self) -> None:
        if not self.stdin:
            self._f.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Packet]:
        return self._pcap() if self.format == "pcap" else self._pcapng_packets()

    def blocks(self) -> Iterator["Block"]:
        """The TCP packets as Blocks of arrays (the same packets, numbers and counts as
        iterating; `tcpsim compare`'s fast path): pcap records are found by a tight walk of
        their headers and decoded all at once with numpy where they are plain Ethernet/IPv4/TCP,
        one by one (_decode) otherwise; pcapng packets are decoded one by one."""
        if self.format == "pcap":
            return self._pcap_blocks()
        return self._pcapng_blocks()

    def _pcapng_blocks(self) -> Iterator["Block"]:
        decode, keep = _decode, self.keep_payload
        items: list = []
        for t, link, buf, off, caplen in self._pcapng():
            self.frames += 1
            try:
                p = decode(buf, off, off + caplen, link, self.frames, t, keep)
            except (struct.error, IndexError):
                p = _TRUNCATED
            if p is None:
                self.other += 1
            elif p is _TRUNCATED:
                self.truncated += 1
            else:
                items.append(p)
                if len(items) >= BLOCK:
                    yield Block.of_packets(items)
                    items = []
        if items:
            yield Block.of_packets(items)

    def _pcapng_packets(self) -> Iterator[Packet]:
        decode = _decode
        for t, link, buf, off, caplen in self._pcapng():
            self.frames += 1
            try:
                p = decode(buf, off, off + caplen, link, self.frames, t, self.keep_payload)
            except (struct.error, IndexError):
                p = _TRUNCATED
            if p is None:
                self.other += 1
            elif p is _TRUNCATED:
                self.truncated += 1
            else:
                yield p

    # -- the buffer -----------------------------------------------------------------------
    def _start_buffer(self):
        """The buffer at the start of the file (the magic number already read); _need(n) fills
        it from _pos on."""
        self._buf = self._head
        self._pos = 0
        self._base = 0  # file offset of _buf[0]

    def _need(self, n: int) -> bool:
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        rest = self._buf[self._pos:]
        more = self._f.read(max(CHUNK, n - have))
        self._base += self._pos
        self._buf = rest + more
        self._pos = 0
        return len(self._buf) >= n

    def _stop(self, reason: str) -> None:
        self.stopped = Stop(self.frames + 1, self._base + self._pos, reason)

    # -- pcap ------------------------------------------------------------------------------
    def _pcap_header(self) -> tuple[str, bool, int, int]:
        """The pcap file header: (byte order, nanosecond times, snaplen, link type); the
        records start after it."""
        self._start_buffer()
        if not self._need(24):
            raise CaptureError(f"{self.path} ends inside its pcap file header; the file is cut "
                               "short")
        magic = self._buf[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        snaplen, network = struct.unpack_from(endian + "16xII", self._buf, 0)
        link = network & 0xFFFF  # the upper bits may carry FCS information
        self.linktypes.add(link)
        self._pos = 24
        return endian, nano, snaplen, link

    def _pcap(self) -> Iterator[Packet]:
        """The packets of a pcap file.  The records in the buffer are read in one tight loop
        (this is the hot path of `tcpsim compare` on big files); _need refills between."""
        endian, nano, snaplen, link = self._pcap_header()
        header = struct.Struct(endian + "IIII").unpack_from
        scale = 1e-9 if nano else 1e-6
        most = max(snaplen, 262144)
        decode, keep, frames = _decode, self.keep_payload, 0
        while True:
            self.offset = self._base + self._pos
            if not self._need(16):
                if len(self._buf) - self._pos:
                    self._stop("the file ends inside a packet header (it was cut short)")
                return
            buf, pos, size = self._buf, self._pos, len(self._buf)
            while pos + 16 <= size:
                sec, frac, caplen, wirelen = header(buf, pos)
                if caplen > MAX_RECORD or (caplen > most and caplen > wirelen):
                    self._pos = pos
                    self._stop(f"a packet header gives a length of {caplen} bytes, which cannot "
                               "be right (a corrupt length field)")
                    return
                end = pos + 16 + caplen
                if end > size:
                    break  # the record goes on past the buffer: refill
                frames += 1
                self.frames = frames
                try:
                    p = decode(buf, pos + 16, end, link, frames, sec + frac * scale, keep)
                except (struct.error, IndexError):
                    p = _TRUNCATED
                pos = end
                if p is None:
                    self.other += 1
                elif p is _TRUNCATED:
                    self.truncated += 1
                else:
                    self._pos = pos
                    yield p
            self._pos = pos
            if pos + 16 <= size and not self._need(16 + header(buf, pos)[2]):
                self._stop("the file ends inside a packet (it was cut short)")
                return

    def _pcap_blocks(self) -> Iterator["Block"]:
        """The packets of a pcap file in Blocks: the same walk as _pcap, but the records of
        the buffer are only located in the loop (one unpack each) and decoded together."""
        endian, nano, snaplen, link = self._pcap_header()
        header = struct.Struct(endian + "IIII").unpack_from
        caplen_at = struct.Struct(endian + "8xI").unpack_from
        scale = 1e-9 if nano else 1e-6
        most = max(snaplen, 262144)
        frames = 0
        while True:
            self.offset = self._base + self._pos
            if not self._need(16):
                if len(self._buf) - self._pos:
                    self._stop("the file ends inside a packet header (it was cut short)")
                return
            buf, pos, size = self._buf, self._pos, len(self._buf)
            corrupt = None
            while True:
                # most records are found all at once (_chain); the walk goes on from where
                # that stopped, one header at a time
                found, pos = _chain(buf, pos, size, endian, most) if size - pos > 1 << 16 \
                    else (None, pos)
                offs = []
                add = offs.append
                limit = BLOCK - (0 if found is None else len(found))
                while pos + 16 <= size and len(offs) < limit:
                    caplen = caplen_at(buf, pos)[0]
                    if caplen > most:
                        _, _, caplen, wirelen = header(buf, pos)
                        if caplen > MAX_RECORD or caplen > wirelen:
                            corrupt = caplen
                            break
                    end = pos + 16 + caplen
                    if end > size:
                        break  # the record goes on past the buffer: refill
                    add(pos)
                    pos = end
                if found is not None and len(found):
                    offs = found.tolist() + offs
                if offs:
                    block = _decode_pcap_block(self, buf, offs, link, endian, scale, frames + 1)
                    frames += len(offs)
                    self.frames = frames
                    self._pos = pos
                    self.offset = self._base + pos
                    if block.n:
                        yield block
                if len(offs) < BLOCK or corrupt is not None:
                    break
            self._pos = pos
            if corrupt is not None:
                self._stop(f"a packet header gives a length of {corrupt} bytes, which cannot "
                           "be right (a corrupt length field)")
                return
            if pos + 16 <= size and not self._need(16 + header(buf, pos)[2]):
                self._stop("the file ends inside a packet (it was cut short)")
                return

    # -- pcapng ----------------------------------------------------------------------------
    def _pcapng(self):
        self._start_buffer()
        endian = "<"
        ifaces: list[tuple[int, float, float]] = []  # (linktype, seconds per tick, offset)
        while True:
            self.offset = self._base + self._pos
            if not self._need(12):
                if len(self._buf) - self._pos:
                    self._stop("the file ends inside a block header (it was cut short)")
                return
            btype = self._buf[self._pos:self._pos + 4]
            if btype == b"\x0a\x0d\x0d\x0a":  # Section Header Block: sets the byte order
                bom = self._buf[self._pos + 8:self._pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    raise CaptureError(f"{self.path}: a pcapng section header has no valid "
                                       "byte-order magic; the file is damaged")
                ifaces = []
            kind, length = struct.unpack_from(endian + "II", self._buf, self._pos)
            if length < 12 or length % 4 or length > MAX_RECORD:
                if self.frames == 0 and not ifaces and kind == 0x0A0D0D0A:
                    raise CaptureError(f"{self.path}: the pcapng section header gives a block "
                                       f"length of {length}; the file is damaged")
                self._stop(f"a block gives a length of {length} bytes, which cannot be right "
                           "(a corrupt length field)")
                return
            if not self._need(length):
                self._stop("the file ends inside a block (it was cut short)")
                return
            b, body = self._pos, self._pos + 8
            end = b + length - 4
            self._pos = b + length
            buf = self._buf
            if kind == 1:  # Interface Description Block
                link = struct.unpack_from(endian + "H", buf, body)[0]
                tick, offset = _idb_options(buf, body + 8, end, endian)
                ifaces.append((link, tick, offset))
                self.linktypes.add(link)
            elif kind in (6, 2):  # Enhanced Packet Block, obsolete Packet Block
                if kind == 6:
                    iface, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", buf, body)
                else:
                    iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(
                        endian + "HHIIII", buf, body)
                if iface >= len(ifaces):
                    self._stop(f"a packet names interface {iface}, which the file never "
                               "described (a damaged file)")
                    return
                if body + 20 + caplen > end:
                    self._stop("a packet is longer than its block (a corrupt length field)")
                    return
                link, tick, offset = ifaces[iface]
                yield ((hi << 32) | lo) * tick + offset, link, buf, body + 20, caplen
            elif kind == 3:  # Simple Packet Block: no timestamp, interface 0
                if not ifaces:
                    self._stop("a packet comes before any interface description (a damaged file)")
                    return
                wirelen = struct.unpack_from(endian + "I", buf, body)[0]
                caplen = min(wirelen, end - body - 4)
                yield 0.0, ifaces[0][0], buf, body + 4, caplen


def _idb_options(buf, off: int, end: int, endian: str) -> tuple[float, float]:
    """if_tsresol (code 9) and if_tsoffset (code 14) of an Interface Description Block."""
    tick, offset = 1e-6, 0.0
    while off + 4 <= end:
        code, size = struct.unpack_from(endian + "HH", buf, off)
        if code == 0:
            break
        if code == 9 and size >= 1:
            v = buf[off + 4]
            tick = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        elif code == 14 and size >= 8:
            offset = float(struct.unpack_from(endian + "q", buf, off + 4)[0])
        off += 4 + size + (-size % 4)
    return tick, offset


_TRUNCATED = object()
_U16 = struct.Struct("!H")
_IP4 = struct.Struct("!BxHxxHxBxx4s4s")  # version/ihl, total length, fragment, protocol, addresses
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_ETH_IP4_TCP = struct.Struct("!12xHBxHxxHxBxx4s4sHHIIBBH").unpack_from  # the three at once


def _decode(buf, off: int, end: int, link: int, number: int, t: float, keep: bool = False):
    """The Packet in one frame, None when it carries no TCP over IP, _TRUNCATED when the
    snaplen cut it before the end of the TCP header."""
    if link == LINK_ETHERNET and end - off >= 54:
        # the common case first, in one unpack: untagged Ethernet, IPv4 without options, TCP
        (etype, vihl, total, frag, proto, saddr, daddr,
         sport, dport, seq, ack, doff, flags, win) = _ETH_IP4_TCP(buf, off)
        if etype == 0x0800 and vihl == 0x45 and proto == 6 and not frag & 0x1FFF:
            hlen = (doff >> 4) * 4
            tcp = off + 34
            if hlen == 20:
                options = b""
            elif hlen < 20 or end - tcp < hlen:
                return _TRUNCATED
            else:
                options = bytes(buf[tcp + 20:tcp + hlen])
            ip_end = off + 14 + total if total else end
            length = ip_end - tcp - hlen
            return Packet(number, t, (saddr, sport), (daddr, dport), flags, seq, ack, win,
                          options, length if length > 0 else 0,
                          bytes(buf[tcp + hlen:min(end, ip_end)]) if keep else b"")
    # the link layer: find the network header and its type
    if link == LINK_ETHERNET:
        etype = _U16.unpack_from(buf, off + 12)[0]
        off += 14
        while etype in (0x8100, 0x88A8, 0x9100):  # VLAN tags (802.1Q, 802.1ad, QinQ)
            etype = _U16.unpack_from(buf, off + 2)[0]
            off += 4
    elif link == LINK_SLL:
        etype = _U16.unpack_from(buf, off + 14)[0]
        off += 16
    elif link == LINK_SLL2:
        etype = _U16.unpack_from(buf, off)[0]
        off += 20
    elif link in (LINK_RAW, 12, 14):
        etype = 0x0800 if buf[off] >> 4 == 4 else 0x86DD
    elif link in (LINK_NULL, LINK_LOOP):
        family = buf[off:off + 4]
        fam = struct.unpack("<I" if link == LINK_NULL and family[0] else ">I", family)[0]
        etype = 0x0800 if fam == 2 else 0x86DD if fam in (10, 24, 28, 30) else 0
        off += 4
    else:
        return None
    # the network layer
    if etype == 0x0800:
        if end - off < 20:
            return None if end <= off else _TRUNCATED
        vihl, total, frag, proto, saddr, daddr = _IP4.unpack_from(buf, off)
        if vihl >> 4 != 4 or proto != 6 or frag & 0x1FFF:
            return None  # not IPv4 carrying TCP, or a later fragment (no TCP header in it)
        ihl = (vihl & 0x0F) * 4
        tcp = off + ihl
        ip_end = off + total if total else end  # 0: a segmentation-offload capture
    elif etype == 0x86DD:
        if end - off < 40:
            return _TRUNCATED
        plen = _U16.unpack_from(buf, off + 4)[0]
        nxt = buf[off + 6]
        saddr, daddr = bytes(buf[off + 8:off + 24]), bytes(buf[off + 24:off + 40])
        tcp = off + 40
        ip_end = tcp + plen
        while nxt in _IPV6_EXT and tcp + 8 <= end:
            nxt, size = buf[tcp], (buf[tcp + 1] + 1) * 8
            tcp += size
        if nxt == 44 and tcp + 8 <= end:  # a fragment header: only the first fragment has TCP
            if _U16.unpack_from(buf, tcp + 2)[0] & 0xFFF8:
                return None
            nxt = buf[tcp]
            tcp += 8
        if nxt != 6:
            return None
    else:
        return None
    # the TCP header
    if end - tcp < 20:
        return _TRUNCATED
    sport, dport, seq, ack, doff, flags, win = _TCP.unpack_from(buf, tcp)
    hlen = (doff >> 4) * 4
    if hlen < 20 or end - tcp < hlen:
        return _TRUNCATED
    options = bytes(buf[tcp + 20:tcp + hlen]) if hlen > 20 else b""
    payload = bytes(buf[tcp + hlen:min(end, ip_end)]) if keep else b""
    return Packet(number, t, (saddr, sport), (daddr, dport), flags, seq, ack, win, options,
                  max(0, ip_end - tcp - hlen), payload)


BLOCK = 1 << 17  # packets decoded at a time by Reader.blocks()


def _chain(buf: bytes, pos: int, size: int, endian: str, most: int):
    """The pcap records from pos on, found all at once: (their offsets, where the walk goes
    on), at most BLOCK of them.  Record headers are guessed (the top two bytes of the time
    in seconds as the first record's, lengths under 16 MB), the guesses that another guess
    points to kept, and only the stretch from pos where each record's length leads to the
    next one is taken: exactly the records the one-at-a-time walk finds."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    u8 = np.frombuffer(buf, dtype=np.uint8)
    n = size - pos - 15  # places a 16-byte header can start
    if endian == "<":
        s_hi, s_lo, c_hi, w_hi = 3, 2, 11, 15
    else:
        s_hi, s_lo, c_hi, w_hi = 0, 1, 8, 12
    # (one pass over the buffer for the top byte, the other tests only where it matched)
    cand = np.flatnonzero(u8[pos + s_hi:pos + s_hi + n] == u8[pos + s_hi]) + pos
    cand = cand[(u8[cand + s_lo] == u8[pos + s_lo]) & (u8[cand + c_hi] == 0) &
                (u8[cand + w_hi] == 0)]
    if not len(cand) or cand[0] != pos:
        return None, pos
    c = (_be(u8, cand, 8, 12) if endian == ">" else _be_rev(u8, cand, 8, 12))
    nxt = cand + 16 + c
    pointed = np.zeros(size + 1, dtype=bool)  # (np.isin(cand, nxt), by a table of offsets)
    pointed[np.minimum(nxt, size)] = True
    keep = pointed[cand]
    keep[0] = True
    cand, c, nxt = cand[keep], c[keep], nxt[keep]
    good = (c <= most) & (nxt <= size)  # a record the walk takes (whole in the buffer)
    good[:-1] &= nxt[:-1] == cand[1:]  # ... and followed by the next one found
    bad = np.flatnonzero(~good)
    # the records up to the first that is not followed by the next found are all records; so
    # is that one, when it is whole in the buffer and not too long
    k = int(bad[0]) if len(bad) else len(cand)
    if k < len(cand) and c[k] <= most and nxt[k] <= size:
        k += 1
    k = min(k, BLOCK)
    if k == 0:
        return None, pos
    return cand[:k], int(nxt[k - 1])
_COLUMNS = ("number", "t", "flags", "seq", "ack", "win", "length", "flow", "fwd", "_opt",
            "_hlen")


class Block:
    """The TCP packets of a stretch of a capture, field by field (lists of ints and floats,
    made with numpy): packet i is number[i], t[i], flags[i], ... ; its endpoints are
    keys[flow[i]] (the pair in sorted order, as the tracker keys connections), the first of
    them its source when fwd[i].  packet(i) makes the Packet (with its options)."""

    __slots__ = ("n", "number", "t", "flags", "seq", "ack", "win", "length", "flow", "fwd",
                 "keys", "_buf", "_opt", "_hlen", "_packets", "arrays", "carried")

    def lists(self) -> "Block":
        """Make the lists from the arrays (a Block decoded all at once keeps only arrays until
        asked: the tracker's replay of whole connections needs no lists)."""
        if self.number is None:
            for name in _COLUMNS:
                setattr(self, name, self.arrays[name].tolist())
        return self

    def part(self, start: int, stop: int) -> "Block":
        """Packets start to stop as a Block of their own, with lists (made from the arrays for
        this part only: a block fed packet by packet is not made into lists all at once)."""
        b = Block()
        b.n, b.keys, b._buf, b.arrays = stop - start, self.keys, self._buf, None
        if self.number is None:
            for name in _COLUMNS:
                setattr(b, name, self.arrays[name][start:stop].tolist())
        else:
            for name in _COLUMNS:
                setattr(b, name, getattr(self, name)[start:stop])
        b._packets = {i - start: p for i, p in self._packets.items() if start <= i < stop} \
            if self._packets else None
        return b

    def packet(self, i: int) -> Packet:
        p = self._packets.get(i) if self._packets else None
        if p is not None:
            return p
        lo, hi = self.keys[self.flow[i]]
        src, dst = (lo, hi) if self.fwd[i] else (hi, lo)
        h, o = self._hlen[i], self._opt[i]
        return Packet(self.number[i], self.t[i], src, dst, self.flags[i], self.seq[i],
                      self.ack[i], self.win[i], bytes(self._buf[o:o + h - 20]) if h > 20 else b"",
                      self.length[i])

    @classmethod
    def of_packets(cls, packets: list[Packet]) -> "Block":
        b = cls()
        b.n = len(packets)
        b.number = [p.number for p in packets]
        b.t = [p.t for p in packets]
        b.flags = [p.flags for p in packets]
        b.seq = [p.seq for p in packets]
        b.ack = [p.ack for p in packets]
        b.win = [p.win for p in packets]
        b.length = [p.length for p in packets]
        b.keys, b.flow, b.fwd = [], [], []
        index: dict = {}
        for p in packets:
            src, dst = p.src, p.dst
            key = (src, dst) if src < dst else (dst, src)
            k = index.get(key)
            if k is None:
                k = index[key] = len(b.keys)
                b.keys.append(key)
            b.flow.append(k)
            b.fwd.append(src == key[0])
        b._buf, b._opt, b._hlen = None, None, None
        b._packets = dict(enumerate(packets))
        b.arrays = None
        return b


def _be(u8, at, a: int, b: int):
    """The big-endian unsigned integers in bytes a:b after each offset of at."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    v = u8[at + a].astype(np.int64 if b - a > 4 else np.uint32 if b - a > 2 else np.int32)
    for k in range(a + 1, b):
        v = (v << 8) | u8[at + k]
    return v


def _be_rev(u8, at, a: int, b: int):
    """The little-endian ones."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    v = u8[at + b - 1].astype(np.uint32)
    for k in range(b - 2, a - 1, -1):
        v = (v << 8) | u8[at + k]
    return v


def _pairs(lo, hi):
    """The distinct (lo, hi) pairs (a list of [lo, hi]) and each row's index among them: by a
    64-bit mix of the two, checked to have no collision (else by the pairs themselves)."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    mix = lo.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + hi.astype(np.uint64)
    u, first, inv = np.unique(mix, return_index=True, return_inverse=True)
    inv = inv.ravel()
    if np.array_equal(lo[first][inv], lo) and np.array_equal(hi[first][inv], hi):
        return np.stack((lo[first], hi[first]), axis=1), inv.astype(np.int32)
    pair = np.empty((len(lo), 2), dtype=np.int64)
    pair[:, 0], pair[:, 1] = lo, hi
    uniq, inv = np.unique(pair.view("V16").ravel(), return_inverse=True)
    return uniq.view(np.int64).reshape(-1, 2), inv.ravel().astype(np.int32)


def _keys(uniq) -> list:
    """The tracker's keys ((address bytes, port), (address bytes, port)) of the pairs of
    IPv4 endpoints (address << 16 | port) in the rows of uniq (a numpy array)."""
    out = []
    for col in (uniq[:, 0], uniq[:, 1]):
        raw = (col >> 16).astype(">u4").tobytes()  # (every address's 4 bytes, in order)
        out.append(zip([raw[i:i + 4] for i in range(0, len(raw), 4)],
                       (col & 0xFFFF).tolist()))
    return list(zip(*out))


def _record_dtype(endian: str):
    """A pcap record's header (in the file's byte order) and the Ethernet, IPv4 and TCP
    header fields _decode_pcap_block() reads (in network order), at their offsets."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    fields = {"sec": (endian + "u4", 0), "frac": (endian + "u4", 4),
              "caplen": (endian + "u4", 8), "etype": (">u2", 28), "vihl": ("u1", 30),
              "total": (">u2", 32), "frag": (">u2", 36), "proto": ("u1", 39),
              "saddr": (">u4", 42), "daddr": (">u4", 46), "sport": (">u2", 50),
              "dport": (">u2", 52), "seq": (">u4", 54), "ack": (">u4", 58), "doff": ("u1", 62),
              "flags": ("u1", 63), "win": (">u2", 64)}
    return np.dtype({"names": list(fields), "formats": [f for f, _ in fields.values()],
                     "offsets": [o for _, o in fields.values()], "itemsize": 16 + 54})


def _decode_pcap_block(reader: "Reader", buf: bytes, offs: list[int], link: int, endian: str,
                       scale: float, first: int) -> Block:
    """The TCP packets of the pcap records at offs (numbered from first): plain
    Ethernet/IPv4/TCP records decoded together, every other one by _decode, as _pcap does."""
    import numpy as np  # (here only: what reads packet by packet starts without numpy)

    # a copy of the buffer 54 bytes longer: every record's first 54 bytes can be gathered
    # (those of a record shorter than that are not used)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    base = 0
    if offs[-1] + 16 + 54 > len(u8):  # (the last record may be shorter than that: pad)
        base = offs[0]
        u8 = np.concatenate((u8[base:], np.zeros(16 + 54, dtype=np.uint8)))
    o = np.array(offs, dtype=np.int64) - base
    n = len(offs)
    # each record's header and first 54 bytes in one gather, its fields read as views
    rec = np.lib.stride_tricks.sliding_window_view(u8, 16 + 54)[o].view(
        _record_dtype(endian)).ravel()
    sec, frac = rec["sec"].astype(np.uint32), rec["frac"].astype(np.uint32)
    caplen = rec["caplen"].astype(np.int64)
    t = sec + frac * scale  # as _pcap computes it (an int plus a float: the same double)
    frame = o + 16
    if link == LINK_ETHERNET:
        hlen = (rec["doff"] >> 4).astype(np.int32) * 4
        ok = (caplen >= 54) & (rec["etype"] == 0x0800) & (rec["vihl"] == 0x45) & \
            (rec["proto"] == 6) & ((rec["frag"] & 0x1FFF) == 0) & (hlen >= 20) & \
            (caplen - 34 >= hlen)
    else:
        ok = np.zeros(n, dtype=bool)
    slow = np.flatnonzero(~ok).tolist()
    b = Block()
    b._buf = buf
    b._packets = None
    b.arrays = None
    vec = np.flatnonzero(ok)
    if len(vec) == n:
        sel = slice(None)
    else:
        sel = vec
    numbers = np.arange(first, first + n, dtype=np.int64)
    if len(vec):
        fv = frame[sel]
        r = rec[sel]
        total = r["total"].astype(np.int32)
        h = hlen[sel]
        cl = caplen[sel]
        ip_end = np.where(total != 0, 14 + total, cl)
        length = np.maximum(ip_end - 34 - h, 0).astype(np.int32)
        src = (r["saddr"].astype(np.int64) << 16) | r["sport"].astype(np.int32)
        dst = (r["daddr"].astype(np.int64) << 16) | r["dport"].astype(np.int32)
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        uniq, flow = _pairs(lo, hi)
        keys = _keys(uniq)
        cols = [numbers[sel], t[sel], r["flags"].copy(), r["seq"].astype(np.uint32),
                r["ack"].astype(np.uint32), r["win"].astype(np.int32), length, flow, src == lo,
                fv + 54 + base, h]
        if not slow:  # all of them: arrays only, lists when asked (Block.lists)
            b.arrays = dict(zip(_COLUMNS, cols))
            for name in _COLUMNS:
                setattr(b, name, None)
            b.keys = keys
            b.n = n
            return b
        cols = [c.tolist() for c in cols]
    else:
        keys = []
        cols = [[] for _ in range(11)]
    if slow:
        # the records the vector decode does not take, one by one as _pcap decodes them
        others = []
        secs, fracs, caps = sec.tolist(), frac.tolist(), caplen.tolist()  # (ints, as _pcap's)
        for i in slow:
            pos = offs[i] + 16
            try:
                p = _decode(buf, pos, pos + caps[i], link, first + i, secs[i] + fracs[i] * scale,
                            False)
            except (struct.error, IndexError):
                p = _TRUNCATED
            if p is None:
                reader.other += 1
            elif p is _TRUNCATED:
                reader.truncated += 1
            else:
                others.append(p)
        if others:
            return _merge(b, cols, keys, others)
    (b.number, b.t, b.flags, b.seq, b.ack, b.win, b.length, b.flow, b.fwd, b._opt,
     b._hlen) = cols
    b.keys = keys
    b.n = len(b.number)
    return b


def _merge(b: Block, cols: list, keys: list, others: list[Packet]) -> Block:
    """b with the packets decoded one by one put in their places (by number)."""
    index = {k: i for i, k in enumerate(keys)}
    rows = list(zip(*cols)) if cols[0] else []
    extra = {}
    for p in others:
        src, dst = p.src, p.dst
        key = (src, dst) if src < dst else (dst, src)
        k = index.get(key)
        if k is None:
            k = index[key] = len(keys)
            keys.append(key)
        extra[p.number] = p
        rows.append((p.number, p.t, p.flags, p.seq, p.ack, p.win, p.length, k, src == key[0],
                     0, 0))
    rows.sort(key=lambda r: r[0])
    cols = [list(c) for c in zip(*rows)]
    (b.number, b.t, b.flags, b.seq, b.ack, b.win, b.length, b.flow, b.fwd, b._opt,
     b._hlen) = cols
    b.keys = keys
    b.n = len(b.number)
    b._packets = {i: extra[num] for i, num in enumerate(b.number) if num in extra}
    return b


def read_packets(path: str | Path, payload: bool = False) -> list[Packet]:
    """Every TCP packet of a capture (for small files and tests)."""
    with Reader(path, payload) as r:
        return list(r)
