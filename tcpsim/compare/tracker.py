"""Following each TCP connection of a capture through the model's transition table.

A capture shows segments, not calls, so each end's state is inferred from what it sends and
what reaches it: a SYN means connect() (CLOSE -> SYN_SENT), a FIN from ESTABLISHED means
close() or shutdown() (-> FIN_WAIT1), the ACK of a FIN moves FIN_WAIT1 to FIN_WAIT2, and so on.
Every step is looked up in model/table.py, so the story of a connection names the same rules
(and kernel functions) as `tcpsim run`; a segment for which the table has no row in the
receiver's or sender's state is a departure, as are acknowledgements of bytes never sent.
Retransmissions (with their interval), gaps and resets (with the likely reason) are noted.

The capture point is assumed to be near both ends (as on loopback, or one hop away): a
segment is taken as received when it is captured.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field

from ..i18n import t
from ..model.table import rule
from ..pcap.reader import Packet

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MOD = 1 << 32
LINGER = 3.0  # a finished connection is kept this long (capture time) for late segments (a FIN
# resent after a lost last ACK comes an RTO later); one later than that starts a new, mid-stream
# connection.  Memory stays bounded by the connections open (or finishing) at once.
MAX_LINGERING = 2_000  # ... and at most this many finished ones at once
# Memory stays bounded whatever the capture (issue 21):
IDLE = 300.0  # a connection without a packet for this long (capture time) is finished here, as
# Zeek finishes one idle past its tcp_inactivity_timeout (5 min, init-bare.zeek); a later
# packet of it starts a new, mid-stream connection.  Checked every IDLE / 4 of capture time.
MAX_OPEN = 50_000  # at most this many connections followed at once: past it, the tenth of
# them idle the longest are finished early (a scan's half-open connections, say)
SENT_LIMIT = 10_000  # data segments of one end remembered one by one (for the interval a
# retransmission note gives); past it the older half is kept only as the start of the newest
# of them (End.sent_old), which is all that acknowledging and resetting need
_THROUGH = frozenset(("CLOSE", "TIME_WAIT"))


def _after(a: int, b: int) -> bool:
    """a > b in sequence space (RFC 9293 3.4)."""
    return 0 < (a - b) % MOD < (1 << 31)


def _unremarkable(x, y, seq: int, ack: int, win: int, length: int) -> bool:
    """Whether an in-order ACK between established ends (header prediction) has nothing for
    Wireshark's analysis: not a zero window, nothing sent into one, not a duplicate ACK or
    window update (the same ack without data), not filling the peer's window to its edge."""
    if not win or not y.wnd or (not length and ack == x.last_ack):
        return False
    return not (length and y.ws is not None and y.last_ack is not None and
                (seq + length - y.last_ack - y.wnd) % MOD == 0)


def _first_sent(x, seq: int) -> float | None:
    """When x last sent the segment that holds byte seq (one that starts there, else the
    nearest start before it: a segment resent in parts, or cut from a GSO packet)."""
    at = x.sent.get(seq)
    if at is not None:
        return at
    best = None
    for s, when in x.sent.items():
        if not _after(s, seq) and (best is None or _after(s, best[0])):
            best = (s, when)
    return None if best is None else best[1]


def _seen(x, ack: int, win: int, length: int, t: float) -> None:
    """What Wireshark's analysis remembers of a segment x sent (an ACK without flags but ACK)."""
    x.wnd = win << (x.ws or 0)
    if ack != x.last_ack:
        # (ack_t matters only for a fast retransmission after duplicate ACKs, which take the
        # full path and set it: here it is set only when the ack moves)
        x.last_ack, x.dupacks, x.ack_t = ack, 0, t
    if length:
        x.nxt_t = t
    if x.probe:
        x.probe = ""


def _addr(ep: tuple[bytes, int]) -> str:
    ip = ipaddress.ip_address(ep[0])
    return f"[{ip}]:{ep[1]}" if ip.version == 6 else f"{ip}:{ep[1]}"


@dataclass(slots=True)
class Finding:
    number: int  # the packet, counted from 1 as Wireshark does
    kind: str  # "departure" (not what a conforming stack does) or "note"
    rule: str  # RFC section or Linux function
    text: str
    analysis: str | None = None  # Wireshark's tcp.analysis name for it, when it has one

    def to_dict(self) -> dict:
        d = {"packet": self.number, "kind": self.kind, "rule": self.rule, "text": self.text}
        if self.analysis is not None:
            d["analysis"] = self.analysis
        return d


# Wireshark's tcp.analysis names (epan/dissectors/packet-tcp.c) the tracker gives findings:
# the capture's own losses, flow control, and retransmissions.  A fast or spurious
# retransmission is also a retransmission to Wireshark (both fields are set).
CAPTURE_LOSS = ("lost_segment", "ack_lost_segment")
ANALYSIS = ("zero_window", "zero_window_probe", "window_full", "window_update", "duplicate_ack",
            "out_of_order", "retransmission", "fast_retransmission", "spurious_retransmission",
            "keep_alive", "keep_alive_ack") + CAPTURE_LOSS
_PLAIN = 0x07  # FIN, SYN, RST: never a window update, duplicate ACK, probe or zero window


def _secs(x: float) -> str:
    """An interval in seconds, to the millisecond, or to the microsecond below a millisecond
    (a retransmission on loopback comes 46 us after the original: not "0.000 s")."""
    return f"{x:.3f}" if x >= 0.0005 or x <= 0 else f"{x:.6f}"


def option_at(options: bytes, kind: int) -> int | None:
    """Where option `kind` starts in raw TCP option bytes, or None: the walk of
    tcp_parse_options() (EOL ends it, NOP is one byte, a length below 2 or past the end stops
    it)."""
    i = 0
    while i < len(options):
        k = options[i]
        if k == 0:
            return None
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            return None
        if k == kind:
            return i
        i += options[i + 1]
    return None


def wscale(options: bytes) -> int | None:
    """The window scale option's shift (kind 3, length 3, as tcp_parse_options() takes it),
    or None."""
    i = option_at(options, 3)
    if i is None or options[i + 1] != 3 or i + 2 >= len(options):
        return None
    return min(options[i + 2], 14)  # (RFC 7323 2.3: larger shifts are taken as 14)


def _has_sack(options: bytes) -> bool:
    """Whether raw TCP option bytes hold SACK blocks (kind 5)."""
    return option_at(options, 5) is not None


def _has_timestamp(options: bytes) -> bool:
    """Whether raw TCP option bytes hold a timestamp (kind 8)."""
    return option_at(options, 8) is not None


@dataclass(slots=True)
class End:
    """One end of a connection, as far as the capture tells."""

    ep: tuple[bytes, int]
    name: str  # "client" (sent the first SYN, or the first segment seen) or "server"
    state: str = "CLOSE"
    path: list[tuple[int, str, str]] = field(default_factory=list)  # (packet, state, rule ref)
    undo: list[tuple[int, str]] = field(default_factory=list)  # (packet, state before): receipts
    last_tx: int = 0  # the last packet it sent
    fin_pkt: int | None = None  # the packet that carried its FIN
    synacks: int = 0  # SYN-ACKs it sent
    syn_again: int | None = None  # the peer's resent SYN it has not answered yet (packet)
    peer_fin_pending: bool = False  # the peer's FIN was on the wire when it last sent
    isn: int | None = None
    snd_nxt: int | None = None  # one past the highest sequence number sent
    fin_seq: int | None = None  # the sequence number of its FIN
    last_syn: float | None = None  # when its SYN (or SYN-ACK) was last sent
    last_fin: float | None = None
    sent: dict = field(default_factory=dict)  # seq -> time, of data not yet acknowledged
    sent_old: int | None = None  # the newest start of the segments forgotten past SENT_LIMIT
    packets: int = 0
    first_syn: tuple | None = None  # (packet, flags, seq, ack, win, options) of its first SYN
    # Wireshark's sequence analysis (tcp_analyze_sequence_number()), per direction:
    ws: int | None = None  # the shift its windows are scaled by (None: the handshake was not seen)
    wnd: int | None = None  # its last window, in bytes (scaled; a SYN's never is)
    last_ack: int | None = None  # the ack of its last segment with ACK
    ack_t: float | None = None  # ... and when it was sent
    dupacks: int = 0  # duplicate ACKs it sent in a row
    nxt_t: float | None = None  # when its snd_nxt last went forward
    probe: str = ""  # its last segment's analysis when a probe (keep_alive, zero_window_probe)
    lost: int = 0  # bytes of it the capture missed (sent, since acknowledged or overtaken)
    hole: int | None = None  # where the bytes an ack showed missing began, until it sends again
    gaps: int = 0  # places where the capture missed some of it

    def rel(self, seq: int) -> int:
        return (seq - self.isn) % MOD if self.isn is not None else seq


@dataclass(slots=True)
class Connection:
    id: int
    a: End
    b: End
    first: int  # packet numbers
    last: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    packets: int = 0
    phases: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    midstream: bool = False
    done_at: float | None = None  # capture time when both ends were through
    rtt: tuple | None = None  # the handshake's round trip: (the last SYN's time, its ACK's)

    @property
    def departures(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "departure"]

    @property
    def verdict(self) -> str:
        if self.departures:
            return "departs"
        if self.midstream or not (self.a.packets and (self.b.packets or self.self_connect)):
            return "partial"
        return "conforms"

    @property
    def self_connect(self) -> bool:
        return self.a.ep == self.b.ep

    def story(self) -> str:
        """The connection in a line, in the chosen language (compare/report.py writes it)."""
        from .report import _story

        return _story(self)

    def to_dict(self) -> dict:
        end = lambda e: {"endpoint": _addr(e.ep), "role": e.name, "packets": e.packets,  # noqa: E731
                         "states": [{"packet": n, "state": s, "rule": r} for n, s, r in e.path],
                         "final": e.state}
        return {"id": self.id, "verdict": self.verdict, "packets": [self.first, self.last],
                "count": self.packets, "time": [self.t_first, self.t_last],
                "midstream": self.midstream, "phases": self.phases,
                "ends": [end(self.a), end(self.b)],
                "findings": [f.to_dict() for f in self.findings]} | (
                    # what the capture missed of each end (only when it missed anything)
                    {"capture_loss": {e.name: {"bytes": e.lost, "gaps": e.gaps}
                                      for e in (self.a, self.b) if e.gaps}}
                    if self.a.gaps or self.b.gaps else {})


def _v6(text: str) -> str:
    """An IPv6 connection's kernel functions: the tcp_v4_* ones with a twin in
    net/ipv6/tcp_ipv6.c under their tcp_v6_* names (teach/explain.py's list)."""
    if "tcp_v4_" not in text:
        return text
    from ..teach.explain import _V4_NAMES

    return _V4_NAMES.sub(r"tcp_v6_\1", text)


def _template(key: str) -> str:
    """The message `key` of the current language, to fill many times (i18n's t() per call
    costs four times an f-string: a scan finishes a million connections with the same one)."""
    from ..i18n import CATALOGS, lang

    return CATALOGS[lang()][key]


def _role(e: End) -> str:
    """An end's role ("client", "server") in the current language."""
    return t(f"compare.role.{e.name}")


class Tracker:
    """Feed packets in capture order; finished connections come out of feed() and finish()."""

    def __init__(self):
        self.conns: dict[tuple, Connection] = {}
        self.count = 0
        self.idle = 0  # connections finished after IDLE s without a packet
        self.crowded = 0  # connections finished early because MAX_OPEN were open
        self._sweep_at = float("-inf")  # capture time of the next look for idle connections
        self._done: deque[tuple[float, tuple, Connection]] = deque()  # in the order they finished
        # compare/replay.py: a block's connections still open at its end, carried into the
        # next block (a Block, or None), and the ids counted at their first packets
        self._carry = None
        self._ids: dict[tuple, int] = {}

    def feed(self, p: Packet) -> list[Connection]:
        out = self._sweep(p.t) if p.t >= self._sweep_at else []
        src, dst = p.src, p.dst
        key = (src, dst) if src < dst else (dst, src)
        c = self.conns.get(key)
        if c is not None and c.__class__ is not Connection:
            c = self._unreplay(key, c)
        if c is not None and p.flags & 0x17 == ACK:
            # header prediction, as tcp_rcv_established() does it: an ACK, perhaps with new
            # data in order, between two established ends is most of any capture and changes
            # nothing but the numbers.  Anything else takes the full path below.
            x, y = (c.a, c.b) if src == c.a.ep else (c.b, c.a)
            if x.state == "ESTABLISHED" == y.state and src != dst and \
                    x.snd_nxt == p.seq and y.snd_nxt is not None and \
                    not 0 < (p.ack - y.snd_nxt) % MOD < 0x80000000 and \
                    x.fin_seq is None is y.fin_seq and \
                    _unremarkable(x, y, p.seq, p.ack, p.win, p.length):
                c.packets += 1
                c.last, c.t_last = p.number, p.t
                x.packets += 1
                x.last_tx = p.number
                _seen(x, p.ack, p.win, p.length, p.t)
                if y.sent or y.sent_old is not None:
                    self._prune(y, p.ack)
                if p.length:
                    if "data" not in c.phases:
                        c.phases.append("data")
                    x.snd_nxt = (p.seq + p.length) % MOD
                    x.sent[p.seq] = p.t
                    if len(x.sent) > SENT_LIMIT:
                        self._forget(x)
                done = self._done
                if done and (done[0][0] + LINGER < p.t or len(done) > MAX_LINGERING):
                    return self._expire(p.t, out)
                return out
        if c is not None and c.done_at is not None and p.flags & (SYN | ACK) == SYN:
            out.append(c)  # the port pair is used again by a new connection
            self._done = deque(d for d in self._done if d[2] is not c)
            c = None
        if c is None:
            c = self._new(key, p)
            if len(self.conns) > MAX_OPEN:
                self._crowd(c, p.t, out)
        self._packet(c, p)
        if c.done_at is None and (c.a.state in _THROUGH or c.b.state in _THROUGH) and \
                self._through(c):
            c.done_at = p.t
            self._done.append((p.t, key, c))
        done = self._done
        if done and (done[0][0] + LINGER < p.t or len(done) > MAX_LINGERING):
            return self._expire(p.t, out)
        return out

    def feed_blocks(self, b, step: int = 4096, each=None):
        """feed_block() of a Block, the finished connections given every `step` packets when
        it is fed packet by packet (a scan finishes thousands of connections per block: they
        are not all held until its end).  each(part, finished): called with the Block (or the
        part of it) just fed and the connections it finished, before they are given
        (compare/summary.py sums the part's packets then).  The connections of a block
        still open at its end may be carried into the next (compare/replay.py): flush()
        after the last block."""
        carry = self._carry
        if carry is not None:
            from .replay import merge

            self._carry = None
            merged = merge(carry, b)
            if merged is None:  # (b has lists: the carried packets, all earlier, go first)
                yield from self._feed_blocks(carry, step, each, False)
            else:
                b = merged
        yield from self._feed_blocks(b, step, each, True)

    def flush(self, step: int = 4096, each=None):
        """After the last block: the packets carried from it (feed_blocks()), fed."""
        carry, self._carry = self._carry, None
        if carry is not None:
            yield from self._feed_blocks(carry, step, each, False)

    def _feed_blocks(self, b, step: int, each, carry: bool):
        if b.arrays is not None:
            from .replay import feed_arrays

            out = feed_arrays(self, b, carry)
            if out is not None:
                if each is not None:
                    each(b, out)
                yield out
                return
        if b.n <= step:
            out = self.feed_block(b, replay=False)
            if each is not None:
                each(b, out)
            yield out
            return
        for start in range(0, b.n, step):
            part = b.part(start, min(b.n, start + step))
            out = self.feed_block(part, replay=False)
            if each is not None:
                each(part, out)
            yield out

    def feed_block(self, b, start: int = 0, stop: int | None = None,
                   replay: bool = True) -> list[Connection]:
        """feed() of every packet of a pcap.reader.Block (from start to stop), in order: whole
        connections replayed where they can be (compare/replay.py), else the header-prediction
        path of feed() runs here on the block's lists, and only the other packets are made
        into Packets and fed."""
        if replay and b.arrays is not None and start == 0 and stop is None:
            from .replay import feed_arrays

            out = feed_arrays(self, b)
            if out is not None:
                return out
        b.lists()
        out: list[Connection] = []
        conns, feed = self.conns, self.feed
        keys, flow, fwd, flags = b.keys, b.flow, b.fwd, b.flags
        seqs, acks, lengths, ts, numbers, wins = b.seq, b.ack, b.length, b.t, b.number, b.win
        for i in range(start, b.n if stop is None else stop):
            key = keys[flow[i]]
            if ts[i] >= self._sweep_at:
                out += self._sweep(ts[i])
            if flags[i] & 0x17 == ACK:
                c = conns.get(key)
                if c is not None and c.__class__ is not Connection:
                    c = self._unreplay(key, c)
                if c is not None:
                    # feed()'s header prediction (tcp_rcv_established()), the same tests
                    lo, hi = key
                    a = c.a
                    if (lo if fwd[i] else hi) == a.ep:
                        x, y = a, c.b
                    else:
                        x, y = c.b, a
                    seq = seqs[i]
                    if x.state == "ESTABLISHED" == y.state and lo != hi and \
                            x.snd_nxt == seq and y.snd_nxt is not None and \
                            not 0 < (acks[i] - y.snd_nxt) % MOD < 0x80000000 and \
                            x.fin_seq is None is y.fin_seq and wins[i] and y.wnd and \
                            (lengths[i] or acks[i] != x.last_ack) and \
                            not (lengths[i] and y.ws is not None and y.last_ack is not None and
                                 (seq + lengths[i] - y.last_ack - y.wnd) % MOD == 0):
                        # (_unremarkable() and _seen(), inline on this hot path)
                        t = ts[i]
                        c.packets += 1
                        c.last, c.t_last = numbers[i], t
                        x.packets += 1
                        x.last_tx = numbers[i]
                        x.wnd = wins[i] << (x.ws or 0)
                        if acks[i] != x.last_ack:
                            x.last_ack, x.dupacks, x.ack_t = acks[i], 0, t
                        if lengths[i]:
                            x.nxt_t = t
                        if x.probe:
                            x.probe = ""
                        if y.sent or y.sent_old is not None:
                            self._prune(y, acks[i])
                        if lengths[i]:
                            if "data" not in c.phases:
                                c.phases.append("data")
                            x.snd_nxt = (seq + lengths[i]) % MOD
                            x.sent[seq] = t
                            if len(x.sent) > SENT_LIMIT:
                                self._forget(x)
                        done = self._done  # (feed() replaces it when a port is used again)
                        if done and (done[0][0] + LINGER < t or len(done) > MAX_LINGERING):
                            out += self._expire(t, [])
                        continue
            out += feed(b.packet(i))
        return out

    def _fast(self, key, fwd: bool, seq: int, ack: int, length: int, number: int, t: float,
              out: list, win: int) -> bool:
        """feed()'s header prediction for a pure ACK given by its fields (compare/replay.py's
        packets that are not replayed); False when it takes feed()'s full path."""
        c = self.conns.get(key)
        if c is None:
            return False
        if c.__class__ is not Connection:
            c = self._unreplay(key, c)
        lo, hi = key
        a = c.a
        if (lo if fwd else hi) == a.ep:
            x, y = a, c.b
        else:
            x, y = c.b, a
        if not (x.state == "ESTABLISHED" == y.state and lo != hi and x.snd_nxt == seq and
                y.snd_nxt is not None and not 0 < (ack - y.snd_nxt) % MOD < 0x80000000 and
                x.fin_seq is None is y.fin_seq and win and y.wnd and
                (length or ack != x.last_ack)):
            return False
        if length and y.ws is not None and y.last_ack is not None and \
                (seq + length - y.last_ack - y.wnd) % MOD == 0:
            return False  # (window full: _unremarkable()'s tests, inline on this hot path)
        c.packets += 1
        c.last, c.t_last = number, t
        x.packets += 1
        x.last_tx = number
        # _seen(), inline
        x.wnd = win << (x.ws or 0)
        if ack != x.last_ack:  # (see _seen())
            x.last_ack, x.dupacks, x.ack_t = ack, 0, t
        if length:
            x.nxt_t = t
        if x.probe:
            x.probe = ""
        if y.sent or y.sent_old is not None:
            self._prune(y, ack)
        if length:
            if "data" not in c.phases:
                c.phases.append("data")
            x.snd_nxt = (seq + length) % MOD
            x.sent[seq] = t
            if len(x.sent) > SENT_LIMIT:
                self._forget(x)
        done = self._done
        if done and (done[0][0] + LINGER < t or len(done) > MAX_LINGERING):
            out += self._expire(t, [])
        return True

    def _unreplay(self, key, r) -> Connection:
        """A late packet for a connection replayed whole (compare/replay.py): the real
        Connection takes its place here and among the finished ones."""
        c = r.real()
        self.conns[key] = c
        done = self._done
        for i in range(len(done) - 1, -1, -1):
            if done[i][2] is r:
                done[i] = (done[i][0], key, c)
                break
        return c

    def _expire(self, now: float, out: list[Connection]) -> list[Connection]:
        """Let go of the finished connections that have lingered long enough."""
        done = self._done
        emitted = {id(c) for c in out}  # (connections are equal only to themselves)
        while done and (done[0][0] + LINGER < now or len(done) > MAX_LINGERING):
            _, k, old = done.popleft()
            if self.conns.get(k) is old:
                del self.conns[k]
            if id(old) not in emitted:
                out.append(old)
        return out

    def _sweep(self, now: float) -> list[Connection]:
        """Finish the connections idle for IDLE s (the check is made when capture time first
        reaches each IDLE / 4 step, so that it costs nothing per packet)."""
        self._sweep_at = now + IDLE / 4
        idle = [c for c in self.conns.values() if c.done_at is None and c.t_last + IDLE < now]
        text = _template("compare.idle")  # (looked up once: thousands at a time in a scan)
        for c in idle:
            self._let_go(c, text.format(s=f"{now - c.t_last:.0f}", idle=f"{IDLE:g}"))
        self.idle += len(idle)
        return idle

    def _crowd(self, new: Connection, now: float, out: list[Connection]) -> None:
        """More than MAX_OPEN connections at once: finish the tenth of them idle the longest."""
        import heapq

        open_ = [c for c in self.conns.values() if c.done_at is None and c is not new]
        gone = sorted(heapq.nsmallest(MAX_OPEN // 10, open_, key=lambda c: (c.t_last, c.first)),
                      key=lambda c: c.first)
        text = _template("compare.crowded")  # (looked up once: thousands at a time)
        for c in gone:
            self._let_go(c, text.format(s=f"{now - c.t_last:.3f}", n=MAX_OPEN))
        self.crowded += len(gone)
        out += gone

    def _let_go(self, c: Connection, why: str) -> None:
        del self.conns[(c.a.ep, c.b.ep) if c.a.ep <= c.b.ep else (c.b.ep, c.a.ep)]
        c.findings.append(Finding(c.last, "note", "capture", why))

    def finish(self) -> list[Connection]:
        out = sorted(self.conns.values(), key=lambda c: c.first)
        self.conns.clear()
        self._done.clear()
        return out

    # -- one packet ----------------------------------------------------------------------
    def _new(self, key, p: Packet) -> Connection:
        ids = self._ids
        cid = ids.pop(key, None) if ids else None  # (counted at its first packet already:
        if cid is None:  # a connection carried to the next block, compare/replay.py)
            self.count += 1
            cid = self.count
        a, b = End(p.src, "client"), End(p.dst, "server")
        c = Connection(cid, a, b, p.number, t_first=p.t)
        if p.flags & (SYN | ACK) == SYN:
            b.state = "LISTEN"  # taken to be listening until it answers
        else:
            # no SYN: the capture began after the handshake; take both ends as established
            c.midstream = True
            if p.flags & SYN:  # a SYN-ACK first: its sender is the server
                a.name, b.name = "server", "client"
            elif p.src[1] < 32768 <= p.dst[1]:
                # the other end's port is in Linux's ephemeral range (ip_local_port_range,
                # 32768-60999) and this one's is not: this one is the server
                a.name, b.name = "server", "client"
            if not p.flags & SYN:
                a.state = b.state = "ESTABLISHED"
            c.findings.append(Finding(p.number, "note", "capture", t("compare.midstream")))
        self.conns[key] = c
        return c

    def _packet(self, c: Connection, p: Packet) -> None:
        if p.src == p.dst:
            x = y = c.a  # a socket connected to itself: one end plays both parts
        else:
            x, y = (c.a, c.b) if p.src == c.a.ep else (c.b, c.a)
        c.packets += 1
        prev = c.t_last  # (the connection's last packet before this one)
        c.last, c.t_last = p.number, p.t
        x.packets += 1
        if p.flags & SYN:
            sig = (p.flags, p.seq, p.ack, p.win, p.options)
            if x.first_syn is None:
                x.first_syn = (p.number, *sig)
            elif x.first_syn[1:] == sig and _has_timestamp(p.options):
                # the same TS value: a stack that sends its SYN again stamps it anew, so this
                # one is the network's copy (e.g. tcpsim's `net: duplicate SYN`)
                self._note(c, p, "RFC 7323 3.2", t("compare.syn_copy", n=x.first_syn[0]))
                return
        if p.flags & SYN and x.isn is not None and p.seq == x.isn and \
                (not p.flags & ACK or x.synacks):
            self._not_received(c, x, p)  # a SYN or SYN-ACK sent again
        if p.flags & ACK and y.fin_seq is not None and x is not y:
            self._peer_fin(c, x, y, p)
        if x.snd_nxt is None and p.flags & (SYN | ACK) == SYN:
            x.wnd = p.win  # (a first SYN: nothing to analyse yet, and its window is unscaled)
        elif x is not y:
            self._analyse(c, x, y, p, prev)
        x.last_tx = p.number
        f = p.flags
        if f & RST:
            self._rst(c, x, y, p)
            return
        if f & SYN:
            self._syn(c, x, y, p)
            return
        if x.isn is None:  # mid-stream: learn the numbers
            x.isn = (p.seq - 1) % MOD
            x.snd_nxt = p.seq
        if x.state == "SYN_SENT" and f & ACK and y.isn is None and y.state == "LISTEN" and \
                x is not y:
            # it acknowledges a SYN-ACK the capture did not see (the peer's number is ack - 1):
            # capture loss, and the handshake goes on as if it had been captured
            y.isn, y.snd_nxt, y.synacks = (p.ack - 1) % MOD, p.ack, 1
            y.gaps += 1
            self._note(c, p, "capture", t("compare.lost_synack", who=_role(x), peer=_role(y)))
            self._move(c, y, "rcv_syn", p, quiet=True)
            y.state = "NEW_SYN_RECV"
            self._record(y, p, "NEW_SYN_RECV", rule("NEW_SYN_RECV", "created").ref)
            self._move(c, x, "rcv_synack", p)
        if x.state in ("SYN_SENT",) and not f & SYN:
            self._departure(c, p, "RFC 9293 3.10.7.3", t("compare.no_syn", who=_role(x)))
        if f & ACK:
            self._ack(c, x, y, p)
        if p.length:
            self._data(c, x, y, p)
        if f & FIN:
            self._fin(c, x, y, p)

    # -- Wireshark's analysis, told by the kernel's rules --------------------------------
    def _analyse(self, c: Connection, x: End, y: End, p: Packet, prev: float) -> None:
        """Wireshark's per-segment analysis (tcp_analyze_sequence_number() in
        epan/dissectors/packet-tcp.c: the same tests on the same remembered values), each
        finding explained by the kernel function that makes such a segment; retransmissions
        are named in _data, _syn and _fin (_resent()), acks beyond what was seen in _ack."""
        f, n, seq, ack, win = p.flags, p.length, p.seq, p.ack, p.win
        nxt = x.snd_nxt
        plain = not f & _PLAIN
        wnd = win if f & SYN else win << (x.ws or 0)
        if not plain and x.hole is None and (nxt is None or f & RST or not _after(seq, nxt)) \
                and not (n == 1 and y.wnd == 0):
            # a SYN, FIN or RST in order: none of the tests below can name it (the common
            # case, kept short: every connection has a few)
            if f & ACK:
                if ack != x.last_ack:
                    x.last_ack, x.dupacks = ack, 0
                x.ack_t = p.t
            x.wnd, x.probe = wnd, ""
            return
        probe = ""
        if plain and n <= 1 and nxt is not None and seq == (nxt - 1) % MOD:
            if y.wnd == 0:  # Linux's window probe: no data, at SND.UNA - 1
                probe = "zero_window_probe"
                self._note(c, p, "tcp_probe_timer(); tcp_xmit_probe_skb()",
                           t("compare.zero_window_probe", who=_role(x), peer=_role(y)), probe)
            else:
                probe = "keep_alive"
                self._note(c, p, "tcp_keepalive_timer(); tcp_xmit_probe_skb()",
                           t("compare.keep_alive", who=_role(x), s=_secs(p.t - prev)), probe)
        elif n == 1 and nxt is not None and seq == nxt and y.wnd == 0:
            probe = "zero_window_probe"  # one byte into the zero window (not Linux's way)
            self._note(c, p, "tcp_write_wakeup()",
                       t("compare.zero_window_probe_byte", who=_role(x), peer=_role(y)), probe)
        if win == 0 and plain:
            self._note(c, p, "__tcp_select_window()", t("compare.zero_window", who=_role(x)),
                       "zero_window")
        if x.hole is not None and not f & RST:
            # the peer acknowledged bytes of x the capture missed (_ack, counted there): the
            # next segment of x follows them, as Wireshark's "previous segment not captured"
            if _after(seq, x.hole):
                self._note(c, p, "capture", t("compare.lost_segment", who=_role(x),
                                              n=(seq - x.hole) % MOD), "lost_segment")
            x.hole = None
        elif nxt is not None and not f & RST and _after(seq, nxt):
            gap = (seq - nxt) % MOD
            x.lost += gap
            x.gaps += 1
            x.snd_nxt, x.nxt_t = seq, p.t  # (the missing bytes taken as sent)
            self._note(c, p, "capture", t("compare.lost_segment", who=_role(x), n=gap),
                       "lost_segment")
            nxt = seq
        same = plain and f & ACK and not n and nxt is not None and seq == nxt and \
            ack == x.last_ack
        dup = False
        if same and win and x.wnd is not None and wnd != x.wnd:
            self._note(c, p, "tcp_cleanup_rbuf(); tcp_send_ack()",
                       t("compare.window_reopens" if x.wnd == 0 else "compare.window_update",
                         who=_role(x), old=x.wnd, new=wnd), "window_update")
        if n and plain and y.ws is not None and y.last_ack is not None and y.wnd is not None \
                and (seq + n - y.last_ack - y.wnd) % MOD == 0:
            self._note(c, p, "tcp_write_xmit(); tcp_snd_wnd_test()",
                       t("compare.window_full", who=_role(x), peer=_role(y), wnd=y.wnd,
                         ack=x.rel(y.last_ack)),
                       "window_full")
        if same and win and wnd == x.wnd:
            if y.probe == "keep_alive":
                self._note(c, p, "tcp_send_dupack()", t("compare.keep_alive_ack", who=_role(x)),
                           "keep_alive_ack")
            else:
                dup = True
                x.dupacks += 1
                self._note(c, p, "tcp_send_dupack(); tcp_data_queue()",
                           t("compare.duplicate_ack_sack" if _has_sack(p.options) else
                             "compare.duplicate_ack", who=_role(x), ack=y.rel(ack), k=x.dupacks),
                           "duplicate_ack")
        if f & ACK:
            if ack != x.last_ack and not dup:
                x.last_ack, x.dupacks = ack, 0
            x.ack_t = p.t
        x.wnd = wnd
        x.probe = probe

    def _resent(self, c: Connection, x: End, y: End, p: Packet, end: int) -> tuple[str, str]:
        """Which of Wireshark's retransmissions a segment that does not advance x's sequence
        is (the tests of tcp_analyze_sequence_number(), in its order), with the kernel's
        reason as a sentence's tail and the rule."""
        first = _first_sent(x, p.seq)
        gap = None if first is None else p.t - first
        if y.dupacks >= 2 and y.last_ack == p.seq and y.ack_t is not None and \
                p.t - y.ack_t < 0.02:
            return "fast_retransmission", t("compare.why.fast", k=y.dupacks)
        rtt = c.rtt[1] - c.rtt[0] if c.rtt is not None else 0.003
        if x.nxt_t is not None and p.t - x.nxt_t < rtt and x.snd_nxt != end:
            return "out_of_order", t("compare.why.out_of_order", ms=f"{rtt * 1000:.3f}")
        if p.length and y.last_ack is not None and not _after(end, y.last_ack):
            return "spurious_retransmission", t("compare.why.spurious",
                                                ack=x.rel(y.last_ack))
        if gap is None:
            return "retransmission", ""
        if end == x.snd_nxt and gap < 0.2 and not y.dupacks:
            return "retransmission", t("compare.why.tlp", s=_secs(gap))
        return "retransmission", t("compare.why.rto", s=_secs(gap))

    # -- SYN and SYN-ACK -----------------------------------------------------------------
    def _syn(self, c: Connection, x: End, y: End, p: Packet) -> None:
        if "handshake" not in c.phases:
            c.phases.append("handshake")
        if not p.flags & ACK:
            if x.state in ("CLOSE", "LISTEN") and x.isn is None:
                x.state = "CLOSE"  # (it was only taken to be listening)
                x.isn, x.snd_nxt, x.last_syn = p.seq, (p.seq + 1) % MOD, p.t
                self._move(c, x, "connect", p)
                if y.state == "SYN_SENT":  # the SYNs crossed: simultaneous open
                    self._move(c, y, "rcv_syn", p)
            elif x.state == "SYN_SENT" and p.seq == x.isn:
                gap = p.t - (x.last_syn or p.t)
                x.last_syn = p.t
                self._note(c, p, "RFC 6298 5.5; tcp_retransmit_timer()",
                           t("compare.syn_again", who=_role(x), s=_secs(gap)),
                           self._resent(c, x, y, p, (p.seq + 1) % MOD)[0])
                if y.state == "NEW_SYN_RECV":
                    self._move(c, y, "rcv_syn", p, quiet=True)
                    y.syn_again = p.number
            else:
                self._departure(c, p, "RFC 9293 3.10.7.4; RFC 5961 4",
                                t("compare.syn_synchronized", who=_role(x), state=x.state))
            return
        # SYN-ACK
        if y.state == "SYN_SENT" and p.ack != y.snd_nxt:
            self._departure(c, p, "RFC 9293 3.10.7.3",
                            t("compare.synack_wrong_ack", ack=y.rel(p.ack), peer=_role(y)))
            return
        if y.first_syn is not None and x.ws is None:
            # RFC 7323 2.2 (tcp_parse_options(), tcp_select_initial_window()): windows are
            # scaled only when both SYNs carry the option; a SYN's own window never is
            mine, theirs = wscale(p.options), wscale(y.first_syn[5])
            x.ws, y.ws = (mine, theirs) if mine is not None and theirs is not None else (0, 0)
        if x.state == "SYN_SENT" and x.isn == p.seq:
            self._move(c, x, "rcv_syn", p)  # it got the crossing SYN: simultaneous open
        if x.state in ("LISTEN", "CLOSE"):
            x.isn, x.snd_nxt, x.last_syn = p.seq, (p.seq + 1) % MOD, p.t
            if x.state == "CLOSE":
                x.state = "LISTEN"
            self._move(c, x, "rcv_syn", p, quiet=True)
            x.state = "NEW_SYN_RECV"
            self._record(x, p, "NEW_SYN_RECV", rule("NEW_SYN_RECV", "created").ref)
        elif x.state in ("NEW_SYN_RECV", "SYN_RECV") and p.seq == x.isn:
            gap = p.t - (x.last_syn or p.t)
            x.last_syn = p.t
            timer = 2.0 ** (x.synacks - 1)  # TCP_TIMEOUT_INIT, doubling (reqsk_timeout())
            again = self._resent(c, x, y, p, (p.seq + 1) % MOD)[0]
            if x.syn_again is not None and abs(gap - timer) > 0.1 * timer:
                self._note(c, p, rule("NEW_SYN_RECV", "rcv_syn").ref,
                           t("compare.synack_again_syn", who=_role(x), s=_secs(gap),
                             n=x.syn_again), again)
            elif x.state == "NEW_SYN_RECV":
                self._note(c, p, rule("NEW_SYN_RECV", "timer_synack").ref,
                           t("compare.synack_again_timer", who=_role(x), s=_secs(gap),
                             timer=f"{timer:g}"), again)
            x.syn_again = None
        elif x.isn == p.seq and any(st == "SYN_RECV" for _, st, _ in x.path):
            pass  # simultaneous open: the SYN-ACK of a side that went SYN_RECV
        else:
            self._departure(c, p, "RFC 9293 3.10.7.4",
                            t("compare.synack_synchronized", who=_role(x), state=x.state))
            return
        x.synacks += 1
        if y.state == "SYN_SENT":
            self._move(c, y, "rcv_synack", p)
        elif y.state == "SYN_RECV":
            self._move(c, y, "rcv_ack", p)
        self._prune(y, p.ack)

    # -- ACK, data, FIN ------------------------------------------------------------------
    def _ack(self, c: Connection, x: End, y: End, p: Packet) -> None:
        if y.snd_nxt is not None and _after(p.ack, y.snd_nxt):
            if y.state not in ("ESTABLISHED", "CLOSE_WAIT") or y.fin_seq is not None or \
                    x is y:
                # y cannot have sent those bytes (no data before the handshake is through,
                # none after its FIN): not the capture's loss
                self._departure(c, p, "RFC 9293 3.10.7.4 (SEG.ACK > SND.NXT)",
                                t("compare.ack_unsent", who=_role(x), ack=y.rel(p.ack),
                                  peer=_role(y), nxt=y.rel(y.snd_nxt)))
                return
            # bytes y sent that the capture did not see (Wireshark's ack_lost_segment): taken
            # as sent, and the connection followed on
            gap = (p.ack - y.snd_nxt) % MOD
            self._note(c, p, "capture", t("compare.ack_lost_segment", who=_role(x),
                                          ack=y.rel(p.ack), peer=_role(y),
                                          nxt=y.rel(y.snd_nxt), n=gap), "ack_lost_segment")
            y.lost += gap
            y.gaps += 1
            if y.hole is None:
                y.hole = y.snd_nxt
            y.snd_nxt = p.ack
        if y.state == "NEW_SYN_RECV" and p.ack == y.snd_nxt:
            self._move(c, y, "rcv_ack", p)
        elif y.state == "SYN_RECV" and p.ack == y.snd_nxt:
            self._move(c, y, "rcv_ack", p)
        if c.rtt is None and x.last_syn is not None and y.synacks and not p.flags & SYN:
            c.rtt = (x.last_syn, p.t)  # the handshake's round trip, as Wireshark's ts_first_rtt
        elif y.fin_seq is not None and p.ack == (y.fin_seq + 1) % MOD and \
                y.state in ("FIN_WAIT1", "CLOSING", "LAST_ACK"):
            self._move(c, y, "rcv_ack_of_fin", p)
            if y.state == "CLOSE" and "release" not in c.phases:
                c.phases.append("release")
        self._prune(y, p.ack)

    def _data(self, c: Connection, x: End, y: End, p: Packet) -> None:
        end = (p.seq + p.length) % MOD
        if "data" not in c.phases:
            c.phases.append("data")
        if x.fin_seq is not None and _after(end, x.fin_seq):
            self._departure(c, p, "RFC 9293 3.10.4", t("compare.data_after_fin", who=_role(x)))
        elif x.snd_nxt is not None and _after(x.snd_nxt, p.seq) and \
                not (p.length == 1 and (p.seq + 1) % MOD == x.snd_nxt and x.probe):
            # (a one-byte keep-alive or window probe at SND.NXT - 1 is not resent data)
            first = _first_sent(x, p.seq)
            since = t("compare.after", s=_secs(p.t - first)) if first is not None else ""
            kind, why = self._resent(c, x, y, p, end)
            self._note(c, p, "RFC 6298; tcp_retransmit_skb()",
                       t("compare.data_again", who=_role(x), a=x.rel(p.seq), b=x.rel(end),
                         since=since) + why, kind)
            if p.seq in x.sent:
                x.sent[p.seq] = p.t  # (the next one's interval from this one: the RTO backs off)
        if x.snd_nxt is None or _after(end, x.snd_nxt):
            x.snd_nxt, x.nxt_t = end, p.t
        x.sent.setdefault(p.seq, p.t)
        if len(x.sent) > SENT_LIMIT:
            self._forget(x)
        if y.state in ("CLOSE", "TIME_WAIT") and not c.midstream and y.packets:
            self._note(c, p, "RFC 9293 3.10.7.1", t("compare.data_for_gone", peer=_role(y)))

    def _fin(self, c: Connection, x: End, y: End, p: Packet) -> None:
        seq = (p.seq + p.length) % MOD
        if "release" not in c.phases:
            c.phases.append("release")
        if x.fin_seq is None:
            x.fin_seq, x.last_fin, x.nxt_t = seq, p.t, p.t
            x.snd_nxt = (seq + 1) % MOD if x.snd_nxt is None or not _after(x.snd_nxt, seq + 1) \
                else x.snd_nxt
            self._move(c, x, "close", p)
        elif seq == x.fin_seq:
            gap = p.t - (x.last_fin or p.t)
            x.last_fin = p.t
            self._note(c, p, "RFC 6298; tcp_retransmit_timer()",
                       t("compare.fin_again", who=_role(x), s=_secs(gap)),
                       self._resent(c, x, y, p, (seq + 1) % MOD)[0])
            if y.state == "TIME_WAIT":
                self._move(c, y, "rcv_fin", p)
            return
        else:
            self._departure(c, p, "RFC 9293 3.10.4", t("compare.second_fin", who=_role(x)))
            return
        x.fin_pkt = p.number
        self._move(c, y, "rcv_fin", p)  # (an ACK of y's FIN on it has moved y already)

    # -- RST -----------------------------------------------------------------------------
    def _rst(self, c: Connection, x: End, y: End, p: Packet) -> None:
        if y.state == "SYN_SENT" and x.state in ("LISTEN", "CLOSE"):
            x.state = "CLOSE"
            self._note(c, p, "RFC 9293 3.10.7.1; tcp_v4_send_reset()",
                       t("compare.refused", who=_role(x), addr=_addr(x.ep)))
            self._move(c, y, "rcv_rst", p)
            return
        why_rule, why = self._why_reset(x, y)
        self._note(c, p, why_rule, t("compare.reset", who=_role(x), why=why))
        if x.state not in ("CLOSE", "TIME_WAIT"):
            self._record(x, p, "CLOSE", why_rule)
            x.state = "CLOSE"
        if y.state == "TIME_WAIT":
            self._record(y, p, "CLOSE", "tcp_timewait_state_process(): RST ends TIME_WAIT")
            y.state = "CLOSE"
        elif y.state not in ("CLOSE",):
            self._move(c, y, "rcv_rst", p)

    @staticmethod
    def _why_reset(x: End, y: End) -> tuple[str, str]:
        if x.state in ("FIN_WAIT1", "FIN_WAIT2") and y.snd_nxt is not None and \
                y.isn is not None and (y.sent or y.sent_old is not None):
            return (rule("FIN_WAIT2", "rcv_data_after_close").ref + "; RFC 1122 4.2.2.13",
                    t("compare.reset.data_after_close"))
        if x.state == "CLOSE":
            return ("RFC 9293 3.10.7.1", t("compare.reset.no_socket"))
        return (rule("ESTABLISHED", "close_unread").ref + "; RFC 2525 2.17",
                t("compare.reset.abort"))

    # -- bookkeeping ---------------------------------------------------------------------
    def _move(self, c: Connection, e: End, event: str, p: Packet, quiet: bool = False) -> None:
        r = rule(e.state, event)
        if r is None:
            self._departure(c, p, "model/table.py",
                            t("compare.no_rule", who=_role(e), state=e.state,
                              event=event.replace('_', ' ')))
            return
        if not quiet or r.next != e.state:
            self._record(e, p, r.next, r.ref)
        if event.startswith("rcv_") and p.src != e.ep and r.next != e.state:
            e.undo.append((p.number, e.state))
        e.state = r.next

    def _peer_fin(self, c: Connection, x: End, y: End, p: Packet) -> None:
        """Whether y's FIN had reached x when x sent p, told by p's ack.  A FIN captured before
        x sent something that does not acknowledge it was still on the wire (a capture taken
        near y, or a slow path): x's steps since are undone, and made when x does ACK it."""
        covered = not _after((y.fin_seq + 1) % MOD, p.ack)
        if covered and x.peer_fin_pending:
            x.peer_fin_pending = False
            self._move(c, x, "rcv_fin", p)
        elif not covered and not x.peer_fin_pending and any(n == y.fin_pkt for n, _ in x.undo):
            while x.undo and x.undo[-1][0] >= y.fin_pkt:
                number, before = x.undo.pop()
                x.state = before
                while x.path and x.path[-1][0] == number:
                    x.path.pop()
            x.peer_fin_pending = True
            self._note(c, p, "capture", t("compare.fin_on_wire", who=_role(x), n=y.fin_pkt))

    def _not_received(self, c: Connection, x: End, p: Packet) -> None:
        """x sends its SYN or SYN-ACK again, as if the segments it was taken to have received
        since it last sent never reached it: lost after the capture point.  Undo those steps."""
        lost = []
        while x.undo and x.undo[-1][0] > x.last_tx:
            number, before = x.undo.pop()
            lost.append(number)
            x.state = before
            while x.path and x.path[-1][0] == number:
                x.path.pop()
        if lost:
            self._note(c, p, "capture", t("compare.lost_after", who=_role(x),
                                          n=", ".join(map(str, sorted(lost)))))

    @staticmethod
    def _record(e: End, p: Packet, state: str, ref: str) -> None:
        e.path.append((p.number, state, _v6(ref) if len(e.ep[0]) == 16 else ref))

    @staticmethod
    def _prune(e: End, ack: int) -> None:
        """Forget the data segments that ack covers (those that start before it)."""
        sent = e.sent
        if sent:
            for seq in [s for s in sent if 0 < (ack - s) % MOD < 0x80000000]:
                del sent[seq]
        if e.sent_old is not None and 0 < (ack - e.sent_old) % MOD < 0x80000000:
            e.sent_old = None  # (the newest forgotten start is covered, so all of them are)

    @staticmethod
    def _forget(e: End) -> None:
        """Past SENT_LIMIT: keep the newer half one by one, the rest as its newest start."""
        sent = e.sent
        old = list(sent)[:len(sent) // 2]
        newest = e.sent_old
        for s in old:
            if newest is None or _after(s, newest):
                newest = s
            del sent[s]
        e.sent_old = newest

    @staticmethod
    def _departure(c: Connection, p: Packet, ref: str, text: str) -> None:
        if len(c.a.ep[0]) == 16:
            ref, text = _v6(ref), _v6(text)
        c.findings.append(Finding(p.number, "departure", ref, text))

    @staticmethod
    def _note(c: Connection, p: Packet, ref: str, text: str, analysis: str | None = None) -> None:
        if len(c.a.ep[0]) == 16:
            ref, text = _v6(ref), _v6(text)
        c.findings.append(Finding(p.number, "note", ref, text, analysis))

    @staticmethod
    def _through(c: Connection) -> bool:
        return all(e.state in ("CLOSE", "TIME_WAIT") for e in (c.a, c.b)) and \
            any(e.path for e in (c.a, c.b))


def analyse(packets) -> list[Connection]:
    """Every connection of a sequence of packets, in the order they began."""
    t = Tracker()
    out = []
    for p in packets:
        out += t.feed(p)
    out += t.finish()
    return sorted(out, key=lambda c: c.first)
