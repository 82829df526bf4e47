"""What a parsed scenario program is: processes, each a list of calls, in one file order."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .calls import CALLS


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def family(self) -> int:
        return 10 if ":" in self.host else 2  # AF_INET6 / AF_INET

    @property
    def sockaddr(self) -> tuple:
        return (self.host, self.port) if self.family == 2 else (self.host, self.port, 0, 0)

    @classmethod
    def parse(cls, text: str) -> "Address":
        host, _, port = text.rpartition(":")
        host = host.strip("[]")
        ipaddress.ip_address(host)  # raises ValueError on a bad address
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port {port} is outside 0..65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.family == 10 else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Linger:
    """struct linger: l_onoff, l_linger (seconds)."""

    onoff: int
    seconds: int

    def __str__(self) -> str:
        return f"{{{self.onoff}, {self.seconds}}}"


@dataclass(frozen=True)
class Expect:
    """An expected result: `= 0`, `= 19`, `= -1 ECONNREFUSED`, `= POLLOUT|POLLHUP`, `= ECONNREFUSED`."""

    value: int
    errno: str | None = None
    text: str = ""
    ready: tuple | None = None  # epoll_wait: ((descriptor name, events), ...) in order

    def matches(self, value: int, err: str | None) -> bool:
        if self.errno is not None and self.value == -1:
            return value == -1 and err == self.errno
        return value == self.value and err is None


@dataclass(frozen=True)
class Step:
    """One line of a program: a call made by one process."""

    index: int  # position in file order (0-based)
    line: int  # 1-based line number in the source
    process: str
    call: str
    args: tuple  # values in the order of CALLS[call].params
    assign: str | None = None  # the descriptor name bound to the result (socket, accept)
    expect: Expect | None = None
    text: str = ""  # the call as written, without its expected result

    @property
    def spec(self):
        return CALLS[self.call]

    def arg(self, name: str):
        for p, v in zip(self.spec.params, self.args):
            if p.name == name:
                return v
        raise KeyError(name)


FAULT_KINDS = ("SYN", "SYN-ACK", "ACK", "FIN", "RST", "DATA")
ANY = "any"  # a net line that names no kind: every segment
FAULT_MARK = 0x7C500000  # the lab marks the segments net line N delays with FAULT_MARK | N
# the mark of the copy the lab injects for a `net: duplicate` line (lab/nfqueue.py): outside
# FAULT_MARK's 0xffff0000 prefix, so the NFQUEUE rule lets it through, and the first rule of
# the nft chain accepts it before any net line can count it
COPY_MARK = 0x7C510000


# DATA: a segment with a payload.  nft has no arithmetic, so the test "packet length > IP
# header + TCP header" is a set of (family, length, data offset) triples: the TCP header is
# doff words, the IP header 20 bytes (lo's IPv4 packets carry no options) or 40 (no IPv6
# extension headers on lo).  Tried in a private namespace (nft 1.0.6): one-
# and five-byte segments counted, pure ACKs and FINs (52 bytes, doff 8) not.
_NFT_DATA = ("meta nfproto . meta length . tcp doff { " + ", ".join(
    f"{fam} . {ip + 4 * doff + 1}-4294967295 . {doff}" for fam, ip in (("ipv4", 20), ("ipv6", 40))
    for doff in range(5, 16)) + " }")


@dataclass(frozen=True)
class Fault:
    """A `net:` line: drop, or delay by `delay` seconds, `count` segments of a kind (all of them
    if count is None) after the first `skip`, optionally only those sent to or from fixed ports
    (`from PROCESS`, resolved by the parser)."""

    line: int
    action: str  # "drop", "delay" or "duplicate"
    kind: str  # one of FAULT_KINDS, or ANY
    count: int | None = 1
    sender: str | None = None
    sports: tuple[int, ...] = ()  # the sender's own bound ports ...
    dports: tuple[int, ...] = ()  # ... or the ports it connects to
    text: str = ""
    skip: int = 0  # `after K`: let the first K matching segments through
    delay: float = 0.0  # seconds, for action "delay"; for "duplicate", when the copy comes
    seq: int | None = None  # `seq S`: only the DATA segments starting at relative seq S


    def takes(self, index: int) -> bool:
        """Whether the index-th matching segment (from 0) is dropped or delayed."""
        return index >= self.skip and (self.count is None or index < self.skip + self.count)

    def matches(self, flags: str, length: int, sport: int, dport: int,
                rel_seq: int | None = None) -> bool:
        """The same test the lab's nft rule makes (pure ACK: no payload; DATA: a payload;
        with `seq S`, the segment's sequence number relative to its direction's ISN is S)."""
        if self.seq is not None and rel_seq != self.seq:
            return False
        kind = {"SYN": flags == "S", "SYN-ACK": flags == "S.", "ACK": flags == "." and not length,
                "FIN": "F" in flags, "RST": "R" in flags, "DATA": length > 0, ANY: True}[self.kind]
        if not kind:
            return False
        if self.sender is None:
            return True
        return sport in self.sports if self.sports else dport in self.dports

    def nft_rule(self) -> str:
        """The nftables rule that does the same in the lab's namespace (prerouting)."""
        parts = ["meta l4proto tcp"]
        parts.append({"SYN": "tcp flags == syn", "SYN-ACK": "tcp flags == syn | ack",
                      "ACK": "tcp flags == ack meta nfproto . meta length { ipv4 . 40, ipv4 . 52, "
                             "ipv6 . 60, ipv6 . 72 }",
                      "FIN": "tcp flags & fin == fin", "RST": "tcp flags & rst == rst",
                      "DATA": _NFT_DATA, ANY: ""}[self.kind])
        if self.sender is not None:
            side, ports = ("sport", self.sports) if self.sports else ("dport", self.dports)
            parts.append(f"tcp {side} {{ {', '.join(map(str, ports))} }}")
        if self.seq is not None:
            # nft knows only absolute sequence numbers: the lab adds each connection's
            # ports and ISN + S to this set when it sees the SYN (lab/kernel.py SeqSets)
            parts.append(f"tcp sport . tcp dport . tcp sequence @{self.seq_set}")
        # numgen counts only the segments that matched so far, from 0
        if self.count is not None:
            parts.append(f"numgen inc mod 1000000000 {self.skip}-{self.skip + self.count - 1}")
        elif self.skip:
            parts.append(f"numgen inc mod 1000000000 >= {self.skip}")
        # a delayed segment is marked, and the lab's NFQUEUE rule hands it to the lab (nfqueue.py)
        # (a duplicated segment too: the lab lets it go on and sends its copy)
        verdict = "drop" if self.action == "drop" else f"meta mark set {FAULT_MARK | self.line:#x} accept"
        parts.append(f'counter {verdict} comment "line {self.line}"')
        return " ".join(p for p in parts if p)

    @property
    def seq_set(self) -> str:
        """The name of the nft set of (sport, dport, absolute seq) for `seq S` (lab)."""
        return f"seq{self.line}"


@dataclass(frozen=True)
class Program:
    name: str
    source: str  # a path, or "builtin:NAME"
    text: str
    steps: tuple[Step, ...]
    description: str = ""
    faults: tuple[Fault, ...] = ()
    # `sysctl: KEY = VALUE` lines: settings of the run's network namespace, in the lab and
    # in the model's profile alike, as (key, value) pairs in file order
    sysctls: tuple[tuple[str, str], ...] = ()

    @property
    def processes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.steps:
            seen.setdefault(s.process, None)
        return tuple(seen)

    def steps_of(self, process: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.process == process)

    @property
    def total_sleep(self) -> float:
        """Seconds of explicit pauses, summed per process, the longest process counting."""
        per: dict[str, float] = {}
        for s in self.steps:
            if s.call == "sleep":
                per[s.process] = per.get(s.process, 0.0) + s.args[0] / 1e9
        return max(per.values(), default=0.0)


__all__ = ["Address", "ANY", "COPY_MARK", "Fault", "FAULT_KINDS", "FAULT_MARK", "Linger", "Expect", "Step", "Program"]
