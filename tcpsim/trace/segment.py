"""One TCP segment as it crossed the wire, and decoding it from a captured frame.

Decoding is by hand (struct), not with scapy: it is on the path of every captured frame and
must stay cheap; scapy is kept for writing pcaps and crafting packets.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass, field

# TCP header flag bits, in the order tcpdump prints them (RFC 9293 3.1, RFC 3168 for E/W).
_FLAG_BITS = (("F", 0x01), ("S", 0x02), ("R", 0x04), ("P", 0x08), ("U", 0x20), ("E", 0x40),
              ("W", 0x80))
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
# TCP Fast Open's options (include/net/tcp.h): RFC 7413's kind 34, and the experimental kind
# 254 whose first two bytes are the magic 0xF989
TCPOPT_FASTOPEN, TCPOPT_EXP, FASTOPEN_MAGIC = 34, 254, b"\xf9\x89"
LINKTYPE_ETHERNET = 1


@dataclass
class Segment:
    """A TCP segment: header fields exactly as sent, plus where and when it was seen.

    seq/ack are absolute; Trace.relative() gives the per-direction relative numbers.
    options keeps wire order: a list of [name, value] with names as tcpdump prints them
    (mss, sackOK, TS [val, ecr], nop, wscale, sack [[left, right], ...], eol), and Fast Open's
    as packetdrill names them (FO and FOEXP, the cookie in hex, "" for a cookie request).
    """

    t: float
    src: str  # "127.0.0.1:40000" or "[::1]:40000"
    dst: str
    flags: str  # tcpdump style: "S", "S.", "P.", "F.", "R.", "." ...
    seq: int
    ack: int
    win: int
    options: list = field(default_factory=list)
    length: int = 0  # payload bytes
    payload: bytes = b""
    ttl: int = 0
    ip_id: int = 0
    df: bool = False
    frame: bytes = b""  # the whole captured frame (link header included), for pcap output
    # True for the copy a `net: duplicate` line made: sent by the network, not by TCP
    copy: bool | None = field(default=None, metadata={"optional": True})
    # the model's own record of why it sent this segment (a timer's name and the numbers
    # behind its length, model/tcp_timer.py _cause()): never on the wire, never compared;
    # absent from JSON when None, as a captured segment always is
    why: dict | None = field(default=None, metadata={"optional": True})

    @property
    def has_ack(self) -> bool:
        return "." in self.flags

    @property
    def conn_key(self) -> tuple[str, str]:
        return tuple(sorted((self.src, self.dst)))

    def wire_frame(self) -> bytes:
        """The frame as captured, or, for a segment the model made, the frame it stands for."""
        if self.frame:
            return self.frame
        return encode_frame(_split(self.src), _split(self.dst), flags_bits(self.flags), self.seq,
                            self.ack, self.win, self.options, self.payload, self.ttl, self.ip_id,
                            self.df)

    def option(self, name: str):
        for n, v in self.options:
            if n == name:
                return v
        return None


def flags_bits(text: str) -> int:
    bits = sum(bit for letter, bit in _FLAG_BITS if letter in text)
    return bits | (0x10 if "." in text else 0)


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def flags_text(bits: int) -> str:
    text = _FLAGS_TEXT.get(bits)
    if text is None:  # once per set of flags (the simulator asks for every segment)
        text = "".join(letter for letter, bit in _FLAG_BITS if bits & bit)
        if bits & 0x10:
            text += "."
        text = _FLAGS_TEXT[bits] = text or "none"
    return text


_FLAGS_TEXT: dict[int, str] = {}


@functools.lru_cache(maxsize=1024)
def _host(addr: bytes) -> str:
    ip = ipaddress.ip_address(addr)
    return f"[{ip}]" if ip.version == 6 else str(ip)


@functools.lru_cache(maxsize=1024)
def _packed(host: str) -> bytes:
    return ipaddress.ip_address(host).packed


def _endpoint(addr: bytes, port: int) -> str:
    return f"{_host(bytes(addr))}:{port}"


def parse_options(raw: bytes) -> list:
    opts: list = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            opts.append(["eol", None])
            break
        if kind == 1:
            opts.append(["nop", None])
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            opts.append(["bad", raw[i:].hex()])
            break
        size = raw[i + 1]
        body = raw[i + 2:i + size]
        if kind == 2 and size == 4:
            opts.append(["mss", struct.unpack("!H", body)[0]])
        elif kind == 3 and size == 3:
            opts.append(["wscale", body[0]])
        elif kind == 4 and size == 2:
            opts.append(["sackOK", None])
        elif kind == 5 and size >= 10 and (size - 2) % 8 == 0:
            blocks = [list(struct.unpack("!II", body[j:j + 8])) for j in range(0, len(body), 8)]
            opts.append(["sack", blocks])
        elif kind == 8 and size == 10:
            opts.append(["TS", list(struct.unpack("!II", body))])
        elif kind == TCPOPT_FASTOPEN:
            # RFC 7413's Fast Open option: the cookie as hex ("" for a cookie request), as
            # the kernel reads it (tcp_parse_options(): TCPOPT_FASTOPEN ->
            # tcp_parse_fastopen_option()); named as packetdrill names it
            opts.append(["FO", body.hex()])
        elif kind == TCPOPT_EXP and size >= 4 and body[:2] == FASTOPEN_MAGIC:
            # the experimental Fast Open option (kind 254, magic 0xF989) the kernel still
            # reads and answers in kind (tcp_parse_options(): TCPOPT_EXP, TCPOPT_FASTOPEN_MAGIC)
            opts.append(["FOEXP", body[2:].hex()])
        elif kind == 19 and size <= 18:  # TCPOPT_MD5SIG: its digest's bytes
            opts.append(["md5", body.hex()])
        else:
            opts.append([f"opt-{kind}", body.hex()])
        i += size
    return opts


def format_options(opts: list) -> str:
    parts = []
    for name, v in opts:
        if name == "TS":
            parts.append(f"TS val {v[0]} ecr {v[1]}")
        elif name == "sack":
            parts.append("sack " + " ".join(f"{{{a}:{b}}}" for a, b in v))
        elif v is None or (name in ("FO", "FOEXP") and not v):
            parts.append(name)
        else:
            parts.append(f"{name} {v}")
    return ",".join(parts)


def decode_ip(packet: bytes, t: float = 0.0, frame: bytes = b"") -> Segment | None:
    """A Segment from an IPv4 or IPv6 packet carrying TCP; None for anything else."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        if len(packet) < 20:
            return None
        ihl = (packet[0] & 0x0F) * 4
        total, ip_id, frag, ttl, proto = struct.unpack("!2xHHHBB", packet[:10])
        if proto != 6 or len(packet) < ihl + 20:
            return None
        src, dst = packet[12:16], packet[16:20]
        tcp = packet[ihl:total] if total >= ihl else packet[ihl:]
        df = bool(frag & 0x4000)
    elif version == 6:
        if len(packet) < 40:
            return None
        plen, nxt, ttl = struct.unpack("!HBB", packet[4:8])
        if nxt != 6 or len(packet) < 60:
            return None  # extension headers are not followed here
        src, dst = packet[8:24], packet[24:40]
        tcp = packet[40:40 + plen]
        ip_id, df = 0, False
    else:
        return None
    sport, dport, seq, ack, off_flags, win = struct.unpack("!HHIIHH", tcp[:16])
    doff = (off_flags >> 12) * 4
    if doff < 20 or doff > len(tcp):
        return None
    payload = bytes(tcp[doff:])
    return Segment(
        t=t, src=_endpoint(src, sport), dst=_endpoint(dst, dport),
        flags=flags_text(off_flags & 0xFF), seq=seq, ack=ack, win=win,
        options=parse_options(bytes(tcp[20:doff])), length=len(payload), payload=payload,
        ttl=ttl, ip_id=ip_id, df=df, frame=bytes(frame),
    )


def decode_frame(frame: bytes, t: float = 0.0, linktype: int = LINKTYPE_ETHERNET) -> Segment | None:
    """A Segment from a link-layer frame (Ethernet, as Linux loopback gives)."""
    if linktype != LINKTYPE_ETHERNET or len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype not in (ETH_P_IP, ETH_P_IPV6):
        return None
    return decode_ip(frame[14:], t, frame)


def encode_options(opts: list) -> bytes:
    out = bytearray()
    for name, v in opts:
        if name == "nop":
            out.append(1)
        elif name == "eol":
            out.append(0)
        elif name == "mss":
            out += struct.pack("!BBH", 2, 4, v)
        elif name == "wscale":
            out += struct.pack("!BBB", 3, 3, v)
        elif name == "sackOK":
            out += b"\x04\x02"
        elif name == "TS":
            out += struct.pack("!BBII", 8, 10, v[0], v[1])
        elif name == "sack":
            out += struct.pack("!BB", 5, 2 + 8 * len(v))
            for a, b in v:
                out += struct.pack("!II", a, b)
        elif name in ("FO", "FOEXP"):
            # the cookie's bytes exactly as given (hex; "" is a cookie request): kind 34, or
            # kind 254 with the magic 0xF989 (packetdrill's new_tcp_fast_open_option())
            cookie = bytes.fromhex(v or "")
            if name == "FO":
                out += struct.pack("!BB", TCPOPT_FASTOPEN, 2 + len(cookie)) + cookie
            else:
                out += struct.pack("!BB", TCPOPT_EXP, 4 + len(cookie)) + FASTOPEN_MAGIC + cookie
        elif name == "md5":
            # TCPOPT_MD5SIG (19) with the digest's bytes as given (packetdrill's
            # new_md5_option(): no signature is computed; up to 16 bytes)
            digest = bytes.fromhex(v)
            out += struct.pack("!BB", 19, 2 + len(digest)) + digest
        else:
            raise ValueError(f"cannot encode TCP option {name}")
    while len(out) % 4:
        out.append(0)  # EOL padding, as an option list that does not fill its last word needs
    return bytes(out)


def internet_checksum(data: bytes) -> int:
    """The 16-bit one's complement of the one's complement sum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode_frame(src: tuple, dst: tuple, flags: int, seq: int, ack: int, win: int, options: list,
                 payload: bytes = b"", ttl: int = 64, ip_id: int = 0, df: bool = True,
                 tos: int = 0, urg: int = 0) -> bytes:
    """An Ethernet frame (zero MACs, as on Linux loopback) carrying one TCP segment (tos: the
    IP header's TOS byte, or IPv6's traffic class; urg: the urgent pointer)."""
    opts = encode_options(options)
    doff = (20 + len(opts)) // 4
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, doff << 4, flags, win, 0,
                      urg) + opts
    tcp += payload
    v6 = ":" in src[0]
    saddr, daddr = _packed(src[0]), _packed(dst[0])
    if v6:
        pseudo = saddr + daddr + struct.pack("!IxxxB", len(tcp), 6)
    else:
        pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", internet_checksum(pseudo + tcp)) + tcp[18:]
    if v6:
        ip = struct.pack("!IHBB", 6 << 28 | tos << 20, len(tcp), 6, ttl) + saddr + daddr
        return b"\0" * 12 + struct.pack("!H", ETH_P_IPV6) + ip + tcp
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(tcp), ip_id, 0x4000 if df else 0, ttl,
                         6, 0, saddr, daddr)
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return b"\0" * 12 + struct.pack("!H", ETH_P_IP) + header + tcp
