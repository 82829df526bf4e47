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


def _addr(ep: tuple[bytes, int]) -> str:
    ip = ipaddress.ip_address(ep[0])
    return f"[{ip}]:{ep[1]}" if ip.version == 6 else f"{ip}:{ep[1]}"


@dataclass(slots=True)
class Finding:
    number: int  # the packet, counted from 1 as Wireshark does
    kind: str  # "departure" (not what a conforming stack does) or "note"
    rule: str  # RFC section or Linux function
    text: str

    def to_dict(self) -> dict:
        return {"packet": self.number, "kind": self.kind, "rule": self.rule, "text": self.text}


def _has_timestamp(options: bytes) -> bool:
    """Whether raw TCP option bytes hold a timestamp (kind 8)."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            return False
        if kind == 1:
            i += 1
            continue
        if kind == 8:
            return True
        if i + 1 >= len(options) or options[i + 1] < 2:
            return False
        i += options[i + 1]
    return False


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
        seen = ("a socket connected to itself" if self.self_connect else
                "both sides" if self.a.packets and self.b.packets else "one side only")
        start = "begins mid-stream" if self.midstream else "begins with its handshake"
        phases = ", ".join(self.phases) or "no phase complete"
        return (f"{self.packets} packets, {seen}; {start}; phases: {phases}; "
                + "; ".join(f"{e.name} {' -> '.join(s for _, s, _ in e.path) or e.state}"
                            for e in ((self.a,) if self.self_connect else (self.a, self.b))))

    def to_dict(self) -> dict:
        end = lambda e: {"endpoint": _addr(e.ep), "role": e.name, "packets": e.packets,  # noqa: E731
                         "states": [{"packet": n, "state": s, "rule": r} for n, s, r in e.path],
                         "final": e.state}
        return {"id": self.id, "verdict": self.verdict, "packets": [self.first, self.last],
                "count": self.packets, "time": [self.t_first, self.t_last],
                "midstream": self.midstream, "phases": self.phases,
                "ends": [end(self.a), end(self.b)],
                "findings": [f.to_dict() for f in self.findings]}


class Tracker:
    """Feed packets in capture order; finished connections come out of feed() and finish()."""

    def __init__(self):
        self.conns: dict[tuple, Connection] = {}
        self.count = 0
        self.idle = 0  # connections finished after IDLE s without a packet
        self.crowded = 0  # connections finished early because MAX_OPEN were open
        self._sweep_at = float("-inf")  # capture time of the next look for idle connections
        self._done: deque[tuple[float, tuple, Connection]] = deque()  # in the order they finished

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
                    x.fin_seq is None is y.fin_seq:
                c.packets += 1
                c.last, c.t_last = p.number, p.t
                x.packets += 1
                x.last_tx = p.number
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
        (compare/summary.py sums the part's packets then)."""
        if b.arrays is not None:
            from .replay import feed_arrays

            out = feed_arrays(self, b)
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
        seqs, acks, lengths, ts, numbers = b.seq, b.ack, b.length, b.t, b.number
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
                            x.fin_seq is None is y.fin_seq:
                        t = ts[i]
                        c.packets += 1
                        c.last, c.t_last = numbers[i], t
                        x.packets += 1
                        x.last_tx = numbers[i]
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
              out: list) -> bool:
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
                x.fin_seq is None is y.fin_seq):
            return False
        c.packets += 1
        c.last, c.t_last = number, t
        x.packets += 1
        x.last_tx = number
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
        for c in idle:
            self._let_go(c, f"no packet for {now - c.t_last:.0f} s: taken as finished here (an "
                         f"inactivity timeout of {IDLE:g} s, as Zeek's tcp_inactivity_timeout); a "
                         "later packet of it would start a new, mid-stream connection")
        self.idle += len(idle)
        return idle

    def _crowd(self, new: Connection, now: float, out: list[Connection]) -> None:
        """More than MAX_OPEN connections at once: finish the tenth of them idle the longest."""
        import heapq

        open_ = [c for c in self.conns.values() if c.done_at is None and c is not new]
        gone = sorted(heapq.nsmallest(MAX_OPEN // 10, open_, key=lambda c: (c.t_last, c.first)),
                      key=lambda c: c.first)
        for c in gone:
            self._let_go(c, f"finished early, {now - c.t_last:.3f} s after its last packet: more "
                         f"than {MAX_OPEN} connections were open at once and it had been idle "
                         "the longest; a later packet of it would start a new, mid-stream "
                         "connection")
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
        self.count += 1
        a, b = End(p.src, "client"), End(p.dst, "server")
        c = Connection(self.count, a, b, p.number, t_first=p.t)
        if p.flags & (SYN | ACK) == SYN:
            b.state = "LISTEN"  # taken to be listening until it answers
        else:
            # no SYN: the capture began after the handshake; take both ends as established
            c.midstream = True
            if p.flags & SYN:  # a SYN-ACK first: its sender is the server
                a.name, b.name = "server", "client"
            if not p.flags & SYN:
                a.state = b.state = "ESTABLISHED"
            c.findings.append(Finding(p.number, "note", "capture",
                                      "the capture begins in the middle of this connection: "
                                      "its handshake was not captured"))
        self.conns[key] = c
        return c

    def _packet(self, c: Connection, p: Packet) -> None:
        if p.src == p.dst:
            x = y = c.a  # a socket connected to itself: one end plays both parts
        else:
            x, y = (c.a, c.b) if p.src == c.a.ep else (c.b, c.a)
        c.packets += 1
        c.last, c.t_last = p.number, p.t
        x.packets += 1
        if p.flags & SYN:
            sig = (p.flags, p.seq, p.ack, p.win, p.options)
            if x.first_syn is None:
                x.first_syn = (p.number, *sig)
            elif x.first_syn[1:] == sig and _has_timestamp(p.options):
                # the same TS value: a stack that sends its SYN again stamps it anew, so this
                # one is the network's copy (e.g. tcpsim's `net: duplicate SYN`)
                self._note(c, p, "RFC 7323 3.2", f"an exact copy of packet {x.first_syn[0]}, "
                           "the same TS value: the network duplicated it, the sender did not "
                           "send it again")
                return
        if p.flags & SYN and x.isn is not None and p.seq == x.isn and \
                (not p.flags & ACK or x.synacks):
            self._not_received(c, x, p)  # a SYN or SYN-ACK sent again
        if p.flags & ACK and y.fin_seq is not None and x is not y:
            self._peer_fin(c, x, y, p)
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
        if x.state in ("SYN_SENT",) and not f & SYN:
            self._departure(c, p, "RFC 9293 3.10.7.3",
                            f"{x.name} sends a segment without SYN while its own SYN is unanswered "
                            "(SYN_SENT): no conforming stack does that")
        if f & ACK:
            self._ack(c, x, y, p)
        if p.length:
            self._data(c, x, y, p)
        if f & FIN:
            self._fin(c, x, y, p)

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
                           f"{x.name} sends its SYN again after {gap:.3f} s: no SYN-ACK reached it "
                           "(the timer backs off; see the kernel's SYN schedule)")
                if y.state == "NEW_SYN_RECV":
                    self._move(c, y, "rcv_syn", p, quiet=True)
                    y.syn_again = p.number
            else:
                self._departure(c, p, "RFC 9293 3.10.7.4; RFC 5961 4",
                                f"a SYN from {x.name} in {x.state}: a synchronized connection "
                                "answers it with a challenge ACK, not a new handshake")
            return
        # SYN-ACK
        if y.state == "SYN_SENT" and p.ack != y.snd_nxt:
            self._departure(c, p, "RFC 9293 3.10.7.3",
                            f"the SYN-ACK acknowledges {y.rel(p.ack)}, not {y.name}'s SYN (1): "
                            f"{y.name} should answer with a reset")
            return
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
            if x.syn_again is not None and abs(gap - timer) > 0.1 * timer:
                self._note(c, p, rule("NEW_SYN_RECV", "rcv_syn").ref,
                           f"{x.name} sends its SYN-ACK again after {gap:.3f} s, in answer to the "
                           f"SYN sent again (packet {x.syn_again}): its first SYN-ACK was lost")
            elif x.state == "NEW_SYN_RECV":
                self._note(c, p, rule("NEW_SYN_RECV", "timer_synack").ref,
                           f"{x.name} sends its SYN-ACK again after {gap:.3f} s, when its timer "
                           f"fires ({timer:g} s): its first was lost, or the ACK of it was")
            x.syn_again = None
        elif x.isn == p.seq and any(st == "SYN_RECV" for _, st, _ in x.path):
            pass  # simultaneous open: the SYN-ACK of a side that went SYN_RECV
        else:
            self._departure(c, p, "RFC 9293 3.10.7.4",
                            f"a SYN-ACK from {x.name} in {x.state}")
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
            self._departure(c, p, "RFC 9293 3.10.7.4 (SEG.ACK > SND.NXT)",
                            f"{x.name} acknowledges {y.rel(p.ack)}, but {y.name} has sent only up "
                            f"to {y.rel(y.snd_nxt)}")
            return
        if y.state == "NEW_SYN_RECV" and p.ack == y.snd_nxt:
            self._move(c, y, "rcv_ack", p)
        elif y.state == "SYN_RECV" and p.ack == y.snd_nxt:
            self._move(c, y, "rcv_ack", p)
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
            self._departure(c, p, "RFC 9293 3.10.4",
                            f"{x.name} sends data after its own FIN")
        elif x.snd_nxt is not None and not _after(end, x.snd_nxt):
            first = x.sent.get(p.seq)
            since = f" after {p.t - first:.3f} s" if first is not None else ""
            self._note(c, p, "RFC 6298; tcp_retransmit_skb()",
                       f"{x.name} sends bytes {x.rel(p.seq)}-{x.rel(end)} again{since}: a "
                       "retransmission")
        elif x.snd_nxt is not None and _after(p.seq, x.snd_nxt):
            self._note(c, p, "capture",
                       f"{(p.seq - x.snd_nxt) % MOD} bytes from {x.name} before this segment "
                       "are missing from the capture")
        if x.snd_nxt is None or _after(end, x.snd_nxt):
            x.snd_nxt = end
        x.sent.setdefault(p.seq, p.t)
        if len(x.sent) > SENT_LIMIT:
            self._forget(x)
        if y.state in ("CLOSE", "TIME_WAIT") and not c.midstream and y.packets:
            self._note(c, p, "RFC 9293 3.10.7.1",
                       f"data for {y.name}, whose end of the connection is gone: a reset is due")

    def _fin(self, c: Connection, x: End, y: End, p: Packet) -> None:
        seq = (p.seq + p.length) % MOD
        if "release" not in c.phases:
            c.phases.append("release")
        if x.fin_seq is None:
            x.fin_seq, x.last_fin = seq, p.t
            x.snd_nxt = (seq + 1) % MOD if x.snd_nxt is None or not _after(x.snd_nxt, seq + 1) \
                else x.snd_nxt
            self._move(c, x, "close", p)
        elif seq == x.fin_seq:
            gap = p.t - (x.last_fin or p.t)
            x.last_fin = p.t
            self._note(c, p, "RFC 6298; tcp_retransmit_timer()",
                       f"{x.name} sends its FIN again after {gap:.3f} s: it was not acknowledged")
            if y.state == "TIME_WAIT":
                self._move(c, y, "rcv_fin", p)
            return
        else:
            self._departure(c, p, "RFC 9293 3.10.4",
                            f"{x.name} sends a second FIN at a different sequence number")
            return
        x.fin_pkt = p.number
        self._move(c, y, "rcv_fin", p)  # (an ACK of y's FIN on it has moved y already)

    # -- RST -----------------------------------------------------------------------------
    def _rst(self, c: Connection, x: End, y: End, p: Packet) -> None:
        if y.state == "SYN_SENT" and x.state in ("LISTEN", "CLOSE"):
            x.state = "CLOSE"
            self._note(c, p, "RFC 9293 3.10.7.1; tcp_v4_send_reset()",
                       f"{x.name} answers the SYN with a reset: nothing listens on "
                       f"{_addr(x.ep)} (connect() fails with ECONNREFUSED)")
            self._move(c, y, "rcv_rst", p)
            return
        why_rule, why = self._why_reset(x, y)
        self._note(c, p, why_rule, f"{x.name} resets the connection: {why}")
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
                    "data reached it after it had closed (its socket can no longer read)")
        if x.state == "CLOSE":
            return ("RFC 9293 3.10.7.1", "it has no socket for this connection any more")
        return (rule("ESTABLISHED", "close_unread").ref + "; RFC 2525 2.17",
                "it closed with data still unread, or with SO_LINGER {1, 0}: an abort")

    # -- bookkeeping ---------------------------------------------------------------------
    def _move(self, c: Connection, e: End, event: str, p: Packet, quiet: bool = False) -> None:
        r = rule(e.state, event)
        if r is None:
            self._departure(c, p, "model/table.py",
                            f"{e.name} in {e.state}: the transition table has no rule for "
                            f"{event.replace('_', ' ')} there")
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
            self._note(c, p, "capture",
                       f"{x.name} had not yet received the FIN of packet {y.fin_pkt} when it sent "
                       "this (its ack does not cover it): the FIN was still on the wire")

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
            self._note(c, p, "capture",
                       f"packet {', '.join(map(str, sorted(lost)))} did not reach {x.name}: it was "
                       "lost after the point where the capture was made")

    @staticmethod
    def _record(e: End, p: Packet, state: str, ref: str) -> None:
        e.path.append((p.number, state, ref))

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
        c.findings.append(Finding(p.number, "departure", ref, text))

    @staticmethod
    def _note(c: Connection, p: Packet, ref: str, text: str) -> None:
        c.findings.append(Finding(p.number, "note", ref, text))

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
