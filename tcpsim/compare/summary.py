"""A connection of a capture in the numbers analysts search by: bytes, packets and duration per
direction, the window scale each side announced, Wireshark's tcp.completeness and Zeek's
conn_state and history.

These are other tools' codes, computed here by their own rules from the packets (not from the
model's states), so that `tcpsim compare` lines up with a Wireshark column or a Zeek conn.log:

- tcp.completeness (Wireshark 4.0, epan/dissectors/packet-tcp.c, dissect_tcp()): a bitmask
  grown packet by packet.  The first packet of a conversation counts only if it is a pure SYN
  (1, and 8 if it carries data: TCP Fast Open); after it, a SYN-ACK adds 2, a segment with
  ACK and without SYN adds 8 when it carries data and 4 when it does not (so a FIN-ACK or an
  RST-ACK without data adds 4), a FIN with ACK adds 16, any RST adds 32.  tshark prints the
  value a conversation had before each packet; with two passes (-2), its final value.
- conn_state and history (Zeek, src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc:
  Process(), update_history(), update_window(), update_last_seq(), UpdateStateMachine();
  src/analyzer/protocol/tcp/TCP_Endpoint.cc: CheckHistory(), DidRxmit(), ZeroWindow(), Gap();
  scripts/base/protocols/conn/main.zeek: conn_state()).  Each end is INACTIVE, SYN_SENT,
  SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED or RESET; letters are upper case for the
  originator (the sender of the first packet, unless Zeek flips the roles: "^").  S, H, F, R
  are added again only when their sequence number differs from the last of their kind; A, D,
  I, Q once per direction; T, W, G (and C) at the 1st, 10th, 100th... time.  D is only for
  a packet with neither SYN, FIN nor RST (a FIN carrying data is an F).  Two simplifications,
  said here so nobody trusts them further: a content gap (G) is an ACK beyond the bytes the
  capture showed while both ends are established (Zeek's reassembler does it byte-exactly),
  and Zeek's flip of a mid-stream connection by well-known server ports is not made.

Connections are split where the tracker splits them (compare/tracker.py); Wireshark and Zeek
split a reused port pair by their own rules, which agree on every capture in captures/.
"""

from __future__ import annotations

import numpy as np

from ..pcap.reader import Packet
from .replay import Replayed, flow_order
from .tracker import wscale

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MOD = 1 << 32

# tcp.completeness bits (packet-tcp.c: TCP_COMPLETENESS_*)
SYNSENT, SYNACK, C_ACK, DATA, C_FIN, C_RST = 1, 2, 4, 8, 16, 32
COMPLETENESS_NAMES = ((SYNSENT, "SYN"), (SYNACK, "SYN-ACK"), (C_ACK, "ACK"), (DATA, "DATA"),
                      (C_FIN, "FIN"), (C_RST, "RST"))

# Zeek's endpoint states (TCP_Endpoint.h: EndpointState)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
TOO_LARGE_SEQ_DELTA = 1048576  # TCPSessionAdapter.cc
# history masks (TCP_Endpoint.h: HIST_*), the responder's shifted by 16 (CheckHistory())
H_SYN, H_FIN, H_RST, H_FIN_RST, H_DATA, H_ACK, H_MULTI = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40


def _delta(a: int, b: int) -> int:
    """seq_delta(): a - b as a signed 32-bit number."""
    return (a - b + (1 << 31)) % MOD - (1 << 31)


class _ZEnd:
    """TCP_Endpoint: what Zeek keeps of one end."""

    __slots__ = ("ep", "is_orig", "state", "prev_state", "start", "ack_seq", "last_seq",
                 "fin_cnt", "last_syn", "last_fin", "last_rst", "counts", "thresh", "seen_max")

    def __init__(self, ep, is_orig: bool):
        self.ep, self.is_orig = ep, is_orig
        self.state = self.prev_state = INACTIVE
        self.start = self.ack_seq = self.last_seq = 0
        self.fin_cnt = 0
        self.last_syn = self.last_fin = self.last_rst = 0
        self.counts = None  # letter -> count (ScaledHistoryEntry()), once there is one
        self.thresh = None  # letter -> next threshold
        self.seen_max = None  # one past the highest byte this end was seen to send

    def set_state(self, s: int) -> None:
        if s != self.state:
            self.prev_state, self.state = self.state, s

    def size(self, peer: "_ZEnd") -> int:
        """TCP_Endpoint::Size(): payload bytes by sequence numbers."""
        if self.prev_state == SYN_SENT and self.state == RESET and peer.state == INACTIVE:
            return 0  # (and NoDataAcked(): no data acknowledged, which is the case here)
        last = _delta(self.last_seq, self.start)
        ack = _delta(self.ack_seq, self.start)
        size = max(last, ack, 0)
        if size:
            size -= 1
        if self.fin_cnt and size:
            size -= 1
        return size


class Zeek:
    """Zeek's TCP analyzer, reduced to what conn.log's conn_state and history need."""

    __slots__ = ("orig", "resp", "history", "seen")

    def __init__(self, orig_ep, resp_ep):
        self.orig, self.resp = _ZEnd(orig_ep, True), _ZEnd(resp_ep, False)
        self.history = ""
        self.seen = 0  # Session::hist_seen

    # -- Session / TCP_Endpoint history --------------------------------------------------
    def _check(self, e: _ZEnd, mask: int, code: str) -> bool:
        """TCP_Endpoint::CheckHistory(): False (and the letter added) the first time."""
        if code in "AD" and self.history == "H":
            # a connection that began with a SYN-ACK, now productive: flip it
            self._flip()
            self.history = "^h"
        if not e.is_orig:
            mask <<= 16
            code = code.lower()
        if not self.seen & mask:
            self.seen |= mask
            self.history += code
            return False
        return True

    def _add(self, e: _ZEnd, code: str) -> None:
        self.history += code if e.is_orig else code.lower()

    def _scaled(self, e: _ZEnd, code: str) -> None:
        """Session::ScaledHistoryEntry(): at the 1st, 10th, 100th... time."""
        if e.counts is None:
            e.counts, e.thresh = {}, {}
        n = e.counts[code] = e.counts.get(code, 0) + 1
        if n == e.thresh.get(code, 1):
            self.history += code if e.is_orig else code.lower()
            e.thresh[code] = e.thresh.get(code, 1) * 10

    def _flip(self) -> None:
        """Connection::FlipRoles() (its '^' is added by the caller's history)."""
        self.orig, self.resp = self.resp, self.orig
        self.orig.is_orig, self.resp.is_orig = True, False

    # -- TCPSessionAdapter::Process() ------------------------------------------------------
    def packet(self, src, flags: int, seq: int, ack: int, win: int, length: int) -> None:
        e = self.orig if src == self.orig.ep else self.resp
        peer = self.resp if e is self.orig else self.orig
        if not flags & (SYN | FIN | RST) and e.state == ESTABLISHED == peer.state:
            self._established(e, peer, flags, seq, ack, win, length)
            return
        is_orig = e.is_orig  # (as the caller gave it: a flip below does not change it)
        syn, fin, rst, has_ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
        seg_len = length + (1 if syn else 0) + (1 if fin else 0) - (length if rst else 0)
        # init_endpoint()
        if e.state == INACTIVE:
            if syn:
                e.start = e.ack_seq = seq
                e.last_seq = (seq + seg_len) % MOD
            else:
                e.start = e.ack_seq = (seq - 1) % MOD
                e.last_seq = seq
        elif e.state in (SYN_SENT, SYN_ACK_SENT, ESTABLISHED, PARTIAL) and syn and \
                seq != e.start:
            e.start = e.ack_seq = seq
            e.last_seq = (seq + seg_len) % MOD
        elif e.state in (ESTABLISHED, PARTIAL) and syn:
            e.start = e.ack_seq = seq
            e.last_seq = (seq + seg_len) % MOD
        elif e.state == RESET and syn and e.prev_state == INACTIVE:
            e.start = e.ack_seq = seq
            e.last_seq = (seq + seg_len) % MOD
        rel_seq = _delta(seq, e.start)
        self._history(e, flags, rel_seq, length)
        # update_window(): a zero window, unless with or after a RST, or after the peer's FIN
        if win == 0 and not rst and peer.state != CLOSED and e.state != RESET:
            self._scaled(e, "W")
        if fin:
            e.fin_cnt += 1
        if has_ack:
            if peer.state == INACTIVE:  # init_peer()
                peer.start = peer.ack_seq = peer.last_seq = (ack - 1) % MOD
            elif not rst and _delta(ack, peer.ack_seq) > 0:  # update_ack_seq()
                peer.ack_seq = ack
        self._last_seq(e, (seq + seg_len) % MOD, flags, length)
        self._state_machine(e, peer, is_orig, seq, length, flags)
        if length and not rst:
            end = (seq + length) % MOD
            if e.seen_max is None or _delta(end, e.seen_max) > 0:
                e.seen_max = end
        if has_ack and not rst and not fin and peer.seen_max is not None and \
                e.state == peer.state == ESTABLISHED and _delta(ack, peer.seen_max) > 0:
            # TCP_Reassembler::Gap() through AckReceived(): bytes acknowledged that the
            # capture never showed (only between established ends: established_or_cleanly_closing)
            self._scaled(peer, "G")
            peer.seen_max = ack

    def _established(self, e: _ZEnd, peer: _ZEnd, flags: int, seq: int, ack: int, win: int,
                     length: int) -> None:
        """packet() for a segment without SYN, FIN or RST between two ESTABLISHED ends, the
        common case, with the same rules: init_endpoint() and UpdateStateMachine() change
        nothing; update_history() makes D or A once; update_window(), update_ack_seq(),
        update_last_seq() and the gap as packet() does them."""
        shift = 0 if e.is_orig else 16
        if length:
            if not self.seen & (H_DATA << shift):
                self._check(e, H_DATA, "D")
        elif flags & ACK and not self.seen & (H_ACK << shift):
            self._check(e, H_ACK, "A")
        if win == 0:
            self._scaled(e, "W")
        # (_delta(a, b) > 0 written out: 0 < (a - b) mod 2^32 < 2^31)
        if flags & ACK and 0 < (ack - peer.ack_seq) % MOD < 0x80000000:
            peer.ack_seq = ack
        last = (seq + length) % MOD
        if 0 < (last - e.last_seq) % MOD < 0x80000000:
            e.last_seq = last
        elif length > 0:
            self._scaled(e, "T")
        if length:
            top = e.seen_max
            if top is None or 0 < (last - top) % MOD < 0x80000000:
                e.seen_max = last
        top = peer.seen_max
        if flags & ACK and top is not None and 0 < (ack - top) % MOD < 0x80000000:
            self._scaled(peer, "G")
            peer.seen_max = ack

    def _history(self, e: _ZEnd, flags: int, rel_seq: int, length: int) -> None:
        """update_history()."""
        bits = (flags & SYN != 0) + (flags & FIN != 0) + (flags & RST != 0)
        if bits > 1:
            if flags & FIN and flags & RST:
                self._check(e, H_FIN_RST, "I")
            else:
                self._check(e, H_MULTI, "Q")
        elif bits == 1:
            if flags & SYN:
                code = "H" if flags & ACK else "S"
                if self._check(e, H_SYN, code) and rel_seq != e.last_syn:
                    self._add(e, code)
                e.last_syn = rel_seq
            if flags & FIN:
                if self._check(e, H_FIN, "F") and rel_seq + length != e.last_fin:
                    self._add(e, "F")
                e.last_fin = rel_seq + length
            if flags & RST:
                if self._check(e, H_RST, "R") and rel_seq != e.last_rst:
                    self._add(e, "R")
                e.last_rst = rel_seq
        elif length:
            self._check(e, H_DATA, "D")
        elif flags & ACK:
            self._check(e, H_ACK, "A")

    def _last_seq(self, e: _ZEnd, last: int, flags: int, length: int) -> int:
        """update_last_seq(): a segment with data that ends at or before the highest sequence
        number seen is a retransmission (T)."""
        delta = _delta(last, e.last_seq)
        if flags & (SYN | RST) and abs(delta) > TOO_LARGE_SEQ_DELTA:
            pass
        elif flags & FIN and e.last_seq == (e.start + 1) % MOD:
            e.last_seq = last
        elif e.state == RESET:
            pass
        elif delta > 0:
            e.last_seq = last
        elif length > 0:
            self._scaled(e, "T")
        return delta

    def _state_machine(self, e: _ZEnd, peer: _ZEnd, is_orig: bool, seq: int, length: int,
                       flags: int) -> None:
        """UpdateStateMachine()."""
        syn, fin, rst, has_ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
        s = e.state
        if s == INACTIVE:  # UpdateInactiveState()
            if syn:
                if is_orig:
                    e.set_state(SYN_ACK_SENT if has_ack else SYN_SENT)
                else:
                    if not has_ack and peer.state == SYN_ACK_SENT and seq == e.start:
                        # a SYN/SYN-ACK reversal: flip, and the connection is established
                        self._flip()
                        self.history += "^"
                        peer.set_state(ESTABLISHED)
                    if peer.state == SYN_SENT:
                        peer.set_state(ESTABLISHED)
                    e.set_state(ESTABLISHED)
            if fin:
                e.set_state(CLOSED)
            if rst:
                e.set_state(RESET)
            if e.state == INACTIVE:
                if not is_orig and length == 0 and self.orig.state == SYN_SENT:
                    pass  # an ACK of the SYN before the SYN-ACK: not a partial connection
                elif has_ack and peer.state == ESTABLISHED:
                    e.set_state(ESTABLISHED)
                else:
                    e.set_state(PARTIAL)
        elif s in (SYN_SENT, SYN_ACK_SENT):  # UpdateSYN_SentState()
            if fin:
                e.set_state(CLOSED)
            if rst:
                e.set_state(RESET)
        elif s in (ESTABLISHED, PARTIAL):  # UpdateEstablishedState()
            if syn and s == PARTIAL and peer.state == INACTIVE and not has_ack:
                e.set_state(SYN_SENT)
            if fin and not rst:
                e.set_state(CLOSED)
                if peer.state == RESET and peer.prev_state == CLOSED:
                    peer.set_state(CLOSED)
            if rst:
                e.set_state(RESET)
        elif s == CLOSED:  # UpdateClosedState()
            if rst and peer.state != CLOSED:
                e.set_state(RESET)
        # RESET: UpdateResetState() changes nothing

    # -- main.zeek ---------------------------------------------------------------------------
    def conn_state(self) -> str:
        """conn_state() of scripts/base/protocols/conn/main.zeek."""
        os_, rs = self.orig.state, self.resp.state
        o_inactive = os_ in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (
                    os_ == RESET and self.orig.size(self.resp) == 0 and
                    self.resp.size(self.orig) == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os_ == RESET:
            if r_inactive:
                import re

                return "RSTOS0" if re.fullmatch(r"\^?S[^HAFGIQ]*R.*", self.history) else "OTH"
            return "RSTO"
        if rs == CLOSED and os_ == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"


class Direction:
    """One direction of a connection: what its sender sent."""

    __slots__ = ("packets", "bytes", "t_first", "t_last", "wscale", "win", "syn_seen")

    def __init__(self):
        self.packets = self.bytes = 0
        self.t_first = self.t_last = None
        self.wscale = None  # the shift its SYN or SYN-ACK announced (None: none announced)
        self.win = None  # the last window it advertised, raw
        self.syn_seen = False

    def duration(self) -> float:
        return 0.0 if self.t_first is None else self.t_last - self.t_first


class Summary:
    """The numbers of one connection; `a` is the tracker's client end (c.a), `b` the other."""

    __slots__ = ("a_ep", "b_ep", "a", "b", "completeness", "started", "zeek")

    def __init__(self, a_ep, b_ep):
        self.a_ep, self.b_ep = a_ep, b_ep
        self.a, self.b = Direction(), Direction()
        self.completeness = 0
        self.started = False
        self.zeek = None

    def add(self, src, flags: int, seq: int, ack: int, win: int, length: int, t: float,
            options: bytes | None = None) -> None:
        d = self.a if src == self.a_ep else self.b
        d.packets += 1
        d.bytes += length
        if d.t_first is None:
            d.t_first = t
        d.t_last = t
        if not flags & RST:  # (a reset's window says nothing about the receiver)
            d.win = win
        if flags & SYN:
            d.syn_seen = True
            if options:
                d.wscale = wscale(options)
        # packet-tcp.c, dissect_tcp(): "initialize or move forward the conversation completeness"
        c = self.completeness
        if not self.started:
            self.started = True
            if flags & (SYN | ACK) == SYN:
                c |= SYNSENT | (DATA if length else 0)
        else:
            sa = flags & (SYN | ACK)
            if sa == SYN | ACK:
                c |= SYNACK
            elif sa == ACK:
                c |= DATA if length else C_ACK
            if flags & (FIN | ACK) == FIN | ACK:
                c |= C_FIN
            if flags & RST:
                c |= C_RST
        self.completeness = c
        z = self.zeek
        if z is None:
            z = self.zeek = Zeek(src, self.b_ep if src == self.a_ep else self.a_ep)
        z.packet(src, flags, seq, ack, win, length)

    def bulk(self, isa, flags, seq, ack, win, length, t) -> bool:
        """add() for a run of packets at once (numpy arrays in capture order; isa: sent by a),
        when none has SYN, FIN or RST and both of Zeek's ends are ESTABLISHED, so that each
        packet goes through Zeek._established() (states never change there).  Counts, bytes,
        times and windows are array reductions; Zeek's sequence numbers (update_last_seq(),
        update_ack_seq(), the reassembler's highest byte) are running maxima over unwrapped
        numbers; letters are added only at the packets that make one (the first D or A of an
        end, the 1st, 10th, 100th... W, T or G), in packet order.  False, and nothing
        changed, when a condition fails (the caller adds the packets one by one)."""
        z = self.zeek
        if z is None or not self.started or z.history == "H" or \
                not z.orig.state == z.resp.state == ESTABLISHED or \
                bool(np.any(flags & (SYN | FIN | RST))):
            return False
        seq, ack, length = (np.asarray(x, dtype=np.int64) for x in (seq, ack, length))
        hasack = (flags & ACK) != 0
        orig_a = z.orig.ep == self.a_ep
        from_orig = isa if orig_a else ~isa
        plan = ((z.orig, from_orig, z.resp), (z.resp, ~from_orig, z.orig))
        events = []  # (position, order in the packet, letter, its count, end)
        updates = []  # (end, attribute, new value) once all is known
        totals = []  # (end, letter, its count after the run)

        def scaled(e, code, pos, order):
            """Session::ScaledHistoryEntry() at positions pos: the letter at the ones whose
            count is 1, 10, 100..."""
            if not len(pos):
                return
            c0 = (e.counts or {}).get(code, 0)
            n, p10 = len(pos), 1
            while p10 <= c0 + n:
                if p10 > c0:
                    events.append((int(pos[p10 - c0 - 1]), order, code, p10, e))
                p10 *= 10
            totals.append((e, code, c0 + n))
        for e, m, peer in plan:
            at = np.flatnonzero(m)
            if not len(at):
                continue
            lens = length[at]
            # update_last_seq(): the end's last = seq + len, advanced or a T when it has data
            last = (seq[at] + lens) % MOD
            got = _running_max(e.last_seq, last)
            if got is None:
                return False
            adv, top = got
            updates.append((e, "last_seq", top))
            scaled(e, "T", at[~adv & (lens > 0)], 2)
            # update_ack_seq() of the peer: the end's ACKs
            acked = at[hasack[at]]
            if len(acked):
                got = _running_max(peer.ack_seq, ack[acked] % MOD)
                if got is None:
                    return False
                updates.append((peer, "ack_seq", got[1]))
            scaled(e, "W", at[win[at] == 0], 1)
            # update_history(): the first D and the first A of this end
            shift = 0 if e.is_orig else 16
            if not z.seen & (H_DATA << shift):
                d = at[lens > 0]
                if len(d):
                    events.append((int(d[0]), 0, "D", 0, e))
            if not z.seen & (H_ACK << shift):
                a_ = at[(lens == 0) & hasack[at]]
                if len(a_):
                    events.append((int(a_[0]), 0, "A", 0, e))
            # the end's highest byte seen (seen_max): its data, and the peer's ACKs beyond it
            # (TCP_Reassembler::Gap(): a G each time)
            pm = ~m & hasack
            pm[at[lens > 0]] = True
            pos = np.flatnonzero(pm)
            is_data = m[pos]
            vals = np.where(is_data, (seq[pos] + length[pos]) % MOD, ack[pos] % MOD)
            top0 = e.seen_max
            if top0 is None:  # ACKs count only once the end's first data has set it
                first = np.flatnonzero(is_data)
                if not len(first):
                    continue
                k = int(first[0])
                top0, pos, is_data, vals = int(vals[k]), pos[k + 1:], is_data[k + 1:], \
                    vals[k + 1:]
            got = _running_max(top0, vals)
            if got is None:
                return False
            adv, top = got
            updates.append((e, "seen_max", top))
            scaled(e, "G", pos[adv & ~is_data], 3)
        # all known: apply
        for d, m in ((self.a, isa), (self.b, ~isa)):
            at = np.flatnonzero(m)
            if len(at):
                d.packets += len(at)
                d.bytes += int(length[at].sum())
                if d.t_first is None:
                    d.t_first = float(t[at[0]])
                d.t_last = float(t[at[-1]])
                d.win = int(win[at[-1]])
        # packet-tcp.c, dissect_tcp(): an ACK without SYN adds DATA or ACK
        if bool(np.any(hasack & (length > 0))):
            self.completeness |= DATA
        if bool(np.any(hasack & (length == 0))):
            self.completeness |= C_ACK
        for e, name, v in updates:
            setattr(e, name, v)
        for _, _, code, n, e in sorted(events, key=lambda x: (x[0], x[1])):
            if code in "DA":
                z._check(e, H_DATA if code == "D" else H_ACK, code)
            else:
                if e.counts is None:
                    e.counts, e.thresh = {}, {}
                e.counts[code] = n - 1  # (its count before this packet)
                z._scaled(e, code)
        for e, code, n in totals:
            if e.counts is None:
                e.counts, e.thresh = {}, {}
            e.counts[code] = n
        return True

    def conn_state(self) -> str | None:
        return None if self.zeek is None else self.zeek.conn_state()

    def shift(self, d: Direction) -> int:
        """The shift d's windows are scaled by: its own SYN's, if both SYNs offered one
        (RFC 7323 2.2; tcp_finish_connect(), tcp_openreq_init_rwin()), else 0."""
        if self.a.wscale is None or self.b.wscale is None:
            return 0
        return d.wscale

    def scaled(self, d: Direction) -> int | None:
        return None if d.win is None else d.win << self.shift(d)

    def completeness_text(self) -> str:
        names = [n for bit, n in COMPLETENESS_NAMES if self.completeness & bit]
        return f"{self.completeness} ({'+'.join(names) or 'nothing'})"

    def to_dict(self, names: tuple[str, str] | None = None) -> dict:
        """The JSON of `compare --json`, merged into the connection's (names: the endpoints a
        and b as text, when the caller has them)."""
        a_text, b_text = names or (_ep_text(self.a_ep), _ep_text(self.b_ep))

        def one(d: Direction, src, dst) -> dict:
            return {"from": src, "to": dst, "packets": d.packets,
                    "bytes": d.bytes, "duration": round(d.duration(), 6), "wscale": d.wscale,
                    "window": d.win, "window_scaled": self.scaled(d)}

        z = self.zeek
        out = {"directions": [one(self.a, a_text, b_text), one(self.b, b_text, a_text)],
               "completeness": self.completeness,
               "completeness_names": [n for bit, n in COMPLETENESS_NAMES
                                      if self.completeness & bit]}
        if z is not None:
            a_orig = z.orig.ep == self.a_ep
            out["zeek"] = {"conn_state": z.conn_state(), "history": z.history,
                           "orig": a_text if a_orig else b_text,
                           "resp": b_text if a_orig else a_text,
                           "orig_bytes": z.orig.size(z.resp), "resp_bytes": z.resp.size(z.orig)}
        return out


def _running_max(top: int, vals):
    """The sequential rule `top = v if 0 < (v - top) mod 2^32 < 2^31` over vals (ints mod
    2^32, in order), at once: (which advanced it, the last top), or None when some value is
    2^31 or more away from the top before it (the unwrapped comparison would not be the
    rule's)."""
    if not len(vals):
        return np.zeros(0, dtype=bool), top
    d = (np.diff(np.r_[np.int64(top), vals]) + (1 << 31)) % MOD - (1 << 31)
    u = np.cumsum(d)  # unwrapped, relative to top
    before = np.maximum.accumulate(np.r_[np.int64(0), u])[:-1]
    rel = u - before
    if bool(np.any(rel >= 1 << 31)) or bool(np.any(rel < -(1 << 31))):
        return None
    return rel > 0, (top + int(max(before[-1], u[-1]))) % MOD


def _ep_text(ep) -> str:
    from .tracker import _addr

    return _addr(ep)


def of_packets(packets: list[Packet], a_ep=None) -> Summary:
    """The summary of one connection's packets (in capture order)."""
    first = packets[0]
    a_ep = a_ep or first.src
    s = Summary(a_ep, first.dst if first.src == a_ep else first.src)
    for p in packets:
        s.add(p.src, p.flags, p.seq, p.ack, p.win, p.length, p.t, p.options)
    return s


def _key_of(c):
    """The tracker's key of a connection (or of a compare/replay.py Replayed)."""
    if c.__class__.__name__ == "Replayed":
        return c._key
    a, b = c.a.ep, c.b.ep
    return (a, b) if a < b else (b, a)


class Summaries:
    """The summaries of a Tracker's connections, made block by block beside it: after the
    tracker has read a block, each of the block's packets is added to the connection that
    took it (the one of its port pair whose packets began last at or before it), and a
    connection the tracker replayed whole (compare/replay.py) is summed once per template and
    the same zero windows, then copied with its own times and last windows."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.sums: dict[int, Summary] = {}
        self._memo: dict = {}

    def pop(self, c) -> Summary | None:
        s = self.sums.pop(c.id, None)
        if s.__class__ is Replayed:  # (a replayed connection's, made when it comes out)
            return _Lazy(self, s, s._blk)
        return s

    def pop_state(self, c) -> str | None:
        """pop(c).conn_state(), without making a replayed connection's summary (its Zeek
        state is its template's: windows change no state)."""
        s = self.sums.pop(c.id, None)
        if s is None:
            return None
        if s.__class__ is Replayed:
            tpl = s._tpl
            state = tpl.conn_state
            if state is False:  # (the same for every connection of the template)
                state = tpl.conn_state = self._template(s, s._blk)[7]
            return state
        return s.conn_state()

    def _summary_of(self, c) -> Summary:
        s = self.sums.get(c.id)
        if s.__class__ is Replayed:
            s = _Lazy(self, s, s._blk)
        if isinstance(s, _Lazy):  # a late packet for a replayed connection: made real
            s = self.sums[c.id] = s.real()
        return s

    def block(self, b, done: list) -> None:
        """Sum the packets of Block b, which the tracker has just read, finishing `done`."""
        conns = self.tracker.conns
        owners: dict = {}
        got = self.tracker.__dict__.get("_replayed")
        replayed = got if got is not None and got[0] is b else None
        for c in done:  # (_key_of() written out: once per finished connection)
            if c.__class__ is Replayed:
                if replayed is not None:
                    # (never a packet's owner here: a replayed connection of this block has
                    # its flow to itself, taken out below, and one of an earlier block that
                    # a packet of this block reached was made a Connection by the tracker)
                    continue
                key = c._key
            else:
                a, b_ = c.a.ep, c.b.ep
                key = (a, b_) if a < b_ else (b_, a)
            got = owners.get(key)
            if got is None:
                owners[key] = [c]
            else:
                got.append(c)

        def candidates(key) -> list:
            """The connections of key that may own a packet of this block, oldest first."""
            if key not in owners:
                cur = conns.get(key)
                return [] if cur is None else [cur]
            cands = list(owners[key])
            cur = conns.get(key)
            if cur is not None and all(c is not cur for c in cands):
                cands.append(cur)
            return sorted(cands, key=lambda c: c.first) if len(cands) > 1 else cands

        keys = b.keys
        A = b.arrays
        if A is None or b.number is not None:  # lists: packet by packet, in capture order
            self._lists(b, candidates)
            return
        # all at once (compare/replay.py's blocks): each flow's packets together
        if replayed is not None:  # (the tracker's order of this block)
            _, rflows, rs, order, fs, starts = replayed
            starts = starts.tolist()
        else:
            flow = A["flow"]
            order = flow_order(flow, len(keys))
            fs = flow[order]
            starts = np.flatnonzero(np.r_[True, fs[1:] != fs[:-1]]).tolist()
        ends = starts[1:] + [len(order)]
        todo = []  # (key, candidates, start, end) of the flows summed packet by packet
        numbers, sums, get = A["number"], self.sums, conns.get
        flows = fs[starts]
        if replayed is not None:
            # the connections the tracker replayed whole: each flow's packets are all its
            # own (its scratch run took them all), summed when it comes out (pop(): a
            # _Lazy), so only the other flows are looked at here
            self.tracker._replayed = None
            sums.update(zip([r.id for r in rs], rs))
            other = np.ones(len(keys), dtype=bool)
            other[rflows] = False
            at = np.flatnonzero(other[flows]).tolist()
            flows = flows[at].tolist()
            starts, ends = [starts[k] for k in at], [ends[k] for k in at]
        else:
            flows = flows.tolist()
        for f, s, e in zip(flows, starts, ends):
            key = keys[f]
            mine = owners.get(key)
            if mine is not None:
                r, cur = mine[0], get(key)
                if len(mine) == 1 and (cur is None or cur is r):  # (candidates(key), written
                    cands, single = [r], True  # out for one finished connection)
                else:
                    cands = candidates(key)
                    r, single = cands[0], len(cands) == 1
            else:  # (candidates(key) written out: the common case, once per flow)
                r = get(key)
                if r is None:
                    continue
                cands, single = [r], True
            if single and r.__class__ is Replayed and r._numbers is numbers and \
                    len(r._idx) == e - s:
                sums[r.id] = _Lazy(self, r, b)  # (made only when more than its
                continue  # conn_state is asked for: a big capture's table needs only that)
            if e - s >= RUN_MIN and len(cands) == 1 and key[0] != key[1] and \
                    r.__class__.__name__ != "Replayed":
                self._walk(b, key, r, order[s:e], A, _array_options)
                continue
            todo.append((key, cands, s, e))
        if not todo:
            return
        # their packets' fields taken at once (one index per column, not one per flow)
        at = np.concatenate([order[s:e] for _, _, s, e in todo])
        cols = [A[name][at].tolist() for name in _COLUMNS]
        rows = list(zip(*cols))
        pos = at.tolist()
        k = 0
        for key, cands, s, e in todo:
            n = e - s
            self._rows(b, key, cands, rows[k:k + n], pos[k:k + n])
            k += n

    def _rows(self, b, key, cands, rows, pos) -> None:
        """Sum rows (number, fwd, flags, seq, ack, win, length, t) at block positions pos."""
        lo, hi = key
        firsts = [c.first for c in cands]
        last_c, s = None, None
        for (number, fwd, flags, seq, ack, win, length, t), i in zip(rows, pos):
            c = cands[0]
            if len(cands) > 1:
                k = len(firsts) - 1
                while k > 0 and firsts[k] > number:
                    k -= 1
                c = cands[k]
            if c is not last_c:
                last_c, s = c, self._summary(c)
            s.add(lo if fwd else hi, flags, seq, ack, win, length, t,
                  _array_options(b, i) if flags & SYN else None)

    def _lists(self, b, candidates) -> None:
        keys, flow, fwd, flags, seq, ack, win, length, t, number = \
            b.keys, b.flow, b.fwd, b.flags, b.seq, b.ack, b.win, b.length, b.t, b.number
        sums = self.sums
        rest = None  # the packets summed one by one below (None: all)
        if b.n >= RUN_MIN:  # a flow with many packets here: its long runs summed over arrays
            flows = np.fromiter(flow, np.int64, b.n)
            big = np.flatnonzero(np.bincount(flows) >= RUN_MIN).tolist()
            A = None
            for f in big:
                key = keys[f]
                cands = candidates(key)
                if len(cands) != 1 or key[0] == key[1]:
                    continue
                if A is None:
                    A = {name: np.fromiter(getattr(b, name), np.float64 if name == "t" else
                                           np.int64, b.n) for name in _WALK}
                    mine = np.zeros(b.n, dtype=bool)
                at = np.flatnonzero(flows == f)
                mine[at] = True
                self._walk(b, key, cands[0], at, A, _options)
            if A is not None:
                rest = np.flatnonzero(~mine).tolist()
        known: dict = {}  # flow -> (its candidates, their first packets, its key)
        for i in (range(b.n) if rest is None else rest):
            f = flow[i]
            got = known.get(f)
            if got is None:
                key = keys[f]
                cands = candidates(key)
                got = known[f] = (cands, [c.first for c in cands], key)
            cands, firsts, key = got
            if not cands:
                continue
            c = cands[0]
            if len(cands) > 1:
                n, k = number[i], len(firsts) - 1
                while k > 0 and firsts[k] > n:
                    k -= 1
                c = cands[k]
            s = sums.get(c.id)
            if s is None or s.__class__ is not Summary:
                s = self._summary(c)
            fl = flags[i]
            s.add(key[0] if fwd[i] else key[1], fl, seq[i], ack[i], win[i], length[i], t[i],
                  _options(b, i) if fl & SYN else None)

    def _walk(self, b, key, c, at, A, options) -> None:
        """Sum connection c's packets at positions `at` of block b (in capture order; A: the
        block's columns as arrays, options(b, i): packet i's TCP options): its runs of
        RUN_MIN packets or more without SYN, FIN or RST by Summary.bulk(), the others one by
        one with add()."""
        s = self._summary(c)
        lo, hi = key
        cols = {name: A[name][at] for name in _WALK}
        fl = cols["flags"]
        ordinary = (fl & (SYN | FIN | RST)) == 0
        edges = np.flatnonzero(np.diff(np.r_[0, ordinary.astype(np.int8), 0]))
        runs = [(x, y) for x, y in zip(edges[0::2].tolist(), edges[1::2].tolist())
                if y - x >= RUN_MIN]
        a_lo = s.a_ep == lo

        def one(j0, j1):
            rows = zip(*(cols[name][j0:j1].tolist() for name in _WALK))
            for j, (fwd, flags, seq, ack, win, length, t) in zip(range(j0, j1), rows):
                s.add(lo if fwd else hi, flags, seq, ack, win, length, t,
                      options(b, int(at[j])) if flags & SYN else None)

        done = 0
        for x, y in runs:
            one(done, x)
            # (the first packets of a run may be what establishes the ends: one by one)
            x0 = x
            while x < y:
                isa = cols["fwd"][x:y] != 0
                if s.bulk(isa if a_lo else ~isa, *(cols[name][x:y] for name in (
                        "flags", "seq", "ack", "win", "length", "t"))):
                    x = y
                    break
                if x - x0 >= 3:
                    break
                one(x, x + 1)
                x += 1
            one(x, y)
            done = y
        one(done, len(at))

    def _summary(self, c) -> Summary:
        s = self._summary_of(c)
        if s is None:
            if c.__class__.__name__ == "Replayed":
                lo, hi = c._key
                a, b = (lo, hi) if c._fwd else (hi, lo)
            else:
                a, b = c.a.ep, c.b.ep
            s = self.sums[c.id] = Summary(a, b)
        return s

    def _template(self, r, b) -> Summary:
        """The summary of r's packets (the first connection of its template's), by template."""
        got = self._memo.get(id(r._tpl))
        if got is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            lo, hi = r._key
            tpl = Summary(*((lo, hi) if r._fwd else (hi, lo)))
            for _, add in _adds(b, r._key, r._idx):
                tpl.add(*add)
            # (the template kept, so that its id stays its own; the bases, to move seqs; the
            # windows, which its signature leaves out)
            wins = b.arrays["win"][r._idx]
            got = self._memo[id(r._tpl)] = (
                tpl, r._tpl, r._bases, wins, tpl.to_dict(("a", "b")),
                [w == 0 for w in wins.tolist()], (tpl.shift(tpl.a), tpl.shift(tpl.b)),
                tpl.conn_state())
        return got

    def replayed(self, r, b) -> Summary:
        """A replayed connection's summary: its template's where the same windows were zero,
        with its own times, last windows and sequence numbers."""
        tpl, _, bases0, wins0 = self._template(r, b)[:4]
        A = b.arrays
        idx = r._idx
        wins = A["win"][idx]
        if not np.array_equal(wins == 0, wins0 == 0):  # (a W more or less: summed itself)
            lo, hi = r._key
            s = Summary(*((lo, hi) if r._fwd else (hi, lo)))
            for _, add in _adds(b, r._key, idx):
                s.add(*add)
            return s
        lo, hi = r._key
        a_ep, b_ep = (lo, hi) if r._fwd else (hi, lo)
        s = Summary(a_ep, b_ep)
        s.completeness, s.started = tpl.completeness, True
        z0 = tpl.zeek
        z = s.zeek = Zeek.__new__(Zeek)
        z.history, z.seen = z0.history, z0.seen
        swap = z0.orig.ep != tpl.a_ep  # the originator is b
        shift = [(n - o) if n is not None and o is not None else 0
                 for o, n in zip(bases0, r._bases)]
        z.orig = _copy_end(z0.orig, b_ep if swap else a_ep, shift[1 if swap else 0])
        z.resp = _copy_end(z0.resp, a_ep if swap else b_ep, shift[0 if swap else 1])
        fwd = A["fwd"][idx]
        t = A["t"][idx]
        mine = fwd == (1 if r._fwd else 0)
        rst = (A["flags"][idx] & RST) != 0
        for d, d0, m in ((s.a, tpl.a, mine), (s.b, tpl.b, ~mine)):
            d.packets, d.bytes, d.wscale, d.syn_seen = d0.packets, d0.bytes, d0.wscale, \
                d0.syn_seen
            at = np.flatnonzero(m)
            if len(at):
                d.t_first, d.t_last = float(t[at[0]]), float(t[at[-1]])
                won = np.flatnonzero(m & ~rst)
                d.win = int(wins[won[-1]]) if len(won) else None
        return s


_COLUMNS = ("number", "fwd", "flags", "seq", "ack", "win", "length", "t")
_WALK = _COLUMNS[1:]
RUN_MIN = 128  # packets of a run summed over arrays at least (Summary.bulk(): fewer, one by one)


def _adds(b, key, idx):
    """(number, Summary.add()'s arguments) of the packets at positions idx of block b, from
    its arrays when it has no lists (a block decoded all at once is never made into lists
    whole here: that would be the memory of the whole block's packets as Python objects)."""
    lo, hi = key
    if b.number is None:
        A = b.arrays
        cols = [A[name][idx].tolist() for name in _COLUMNS]

        def options(j):
            return _array_options(b, int(idx[j]))
    else:
        idx = list(idx)
        cols = [[getattr(b, name)[i] for i in idx] for name in _COLUMNS]

        def options(j):
            return _options(b, idx[j])
    for j, (number, fwd, flags, seq, ack, win, length, t) in enumerate(zip(*cols)):
        yield number, (lo if fwd else hi, flags, seq, ack, win, length, t,
                       options(j) if flags & SYN else None)


def _array_options(b, i: int) -> bytes:
    """The raw TCP options of packet i of a Block decoded all at once."""
    A = b.arrays
    h, o = int(A["_hlen"][i]), int(A["_opt"][i])
    return bytes(b._buf[o:o + h - 20]) if h > 20 else b""


def _options(b, i: int) -> bytes:
    """The raw TCP options of packet i of a Block with lists (as Block.packet() reads them)."""
    p = b._packets.get(i) if b._packets else None
    if p is not None:
        return p.options
    h, o = b._hlen[i], b._opt[i]
    return bytes(b._buf[o:o + h - 20]) if h > 20 else b""


class _Lazy:
    """The summary of a replayed connection, made when first read; its conn_state (all a
    big capture's table needs) is its template's: windows change no state."""

    __slots__ = ("_owner", "_r", "_b", "_real")

    def __init__(self, owner: Summaries, r, b):
        self._owner, self._r, self._b, self._real = owner, r, b, None

    def conn_state(self) -> str | None:
        if self._real is not None:
            return self._real.conn_state()
        return self._owner._template(self._r, self._b)[7]  # (the template's, made once)

    def to_dict(self, names: tuple[str, str] | None = None) -> dict:
        """Summary.to_dict() without making the Summary: the template's, with this
        connection's times, windows and names (a JSON of a million connections is mostly
        these)."""
        if self._real is not None or names is None:
            return self.real().to_dict(names)
        owner, r, b = self._owner, self._r, self._b
        got = owner._template(r, b)
        td, zeros0, shifts = got[4], got[5], got[6]
        A = b.arrays
        idx = r._idx
        wins = A["win"][idx].tolist()
        if [w == 0 for w in wins] != zeros0:
            return self.real().to_dict(names)
        fwd, t, flags = A["fwd"][idx].tolist(), A["t"][idx].tolist(), A["flags"][idx].tolist()
        a_fwd = 1 if r._fwd else 0
        first, last, win = [None, None], [None, None], [None, None]
        for f, tt, w, fl in zip(fwd, t, wins, flags):
            d = 0 if f == a_fwd else 1
            if first[d] is None:
                first[d] = tt
            last[d] = tt
            if not fl & RST:
                win[d] = w
        dirs = []
        for d, row in enumerate(td["directions"]):
            dirs.append({"from": names[d], "to": names[1 - d], "packets": row["packets"],
                         "bytes": row["bytes"],
                         "duration": round(last[d] - first[d], 6) if first[d] is not None
                         else 0.0, "wscale": row["wscale"], "window": win[d],
                         "window_scaled": None if win[d] is None else win[d] << shifts[d]})
        z = dict(td["zeek"])
        z["orig"], z["resp"] = (names[0], names[1]) if z["orig"] == "a" else (names[1], names[0])
        return {"directions": dirs, "completeness": td["completeness"],
                "completeness_names": list(td["completeness_names"]), "zeek": z}

    def real(self) -> Summary:
        if self._real is None:
            self._real = self._owner.replayed(self._r, self._b)
            self._b = None
        return self._real

    def __getattr__(self, name):
        return getattr(self.real(), name)


def _copy_end(e: _ZEnd, ep, shift: int) -> _ZEnd:
    """A template's end for another connection: its own sequence numbers (shift)."""
    out = _ZEnd(ep, e.is_orig)
    for name in _ZEnd.__slots__[2:]:
        setattr(out, name, getattr(e, name))
    for name in ("start", "ack_seq", "last_seq"):
        setattr(out, name, (getattr(e, name) + shift) % MOD)
    if e.seen_max is not None:
        out.seen_max = (e.seen_max + shift) % MOD
    if e.counts is not None:
        out.counts, out.thresh = dict(e.counts), dict(e.thresh)
    return out
