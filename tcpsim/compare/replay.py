"""Whole connections at once: the tracker's work on a connection, replayed from one it did.

A connection's story depends only on its own packets: which way each goes, its flags, its
sequence and acknowledgement numbers relative to each side's first, its length (and a SYN's
window and options, which the tracker compares).  Packet numbers and times are only recorded
(its notes, which quote intervals, are not replayed: a connection with a finding is never).
So a connection of a Block that starts with a SYN, is not known to the tracker, has all its
packets in the block and is through (both ends CLOSE or TIME_WAIT) at the last of them has a
signature (those fields, packet by packet, as bytes); the first one of each signature is run
through a scratch Tracker, and every later one with the same signature is a Replayed: the
scratch connection's record with its own numbers, times and sequence numbers, made only when
something reads more than its verdict and counts.  The rest of the block (and any block with
a packet decoded one by one, times going back, or too many connections open) goes through
Tracker.feed, packet by packet.

What a Tracker does between packets is kept exact: connection ids are counted when a
replayed connection's first packet comes, it is added to the finished connections (and to
conns, for late segments) at its last packet, and the lingering connections are let go at
the same packets as feeding would (times never go back in a block that is replayed, so the
latest skipped packet's time stands for all of them; the look for idle connections is made
packet by packet when one falls due between two events).
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from ..pcap.reader import _COLUMNS as _BLOCK_COLUMNS
from ..pcap.reader import Block, Packet
from .tracker import IDLE, LINGER, MAX_LINGERING, MAX_OPEN, MOD, SYN, Connection, End, Tracker

ENABLED = True  # (off: every packet fed, for checking that replaying changes nothing)
MEMO_LIMIT = 4096  # signatures remembered (a template each, or None: not replayable) ...
LONGEST = 1024  # packets of a connection replayed at most (a longer one is fed: it would not
# repeat, and its scratch run would be the work of feeding it once more)
MEMO_BYTES = 8 << 20  # ... and at most this many bytes of them (a long connection's is long)
CARRY = 1 << 15  # packets of connections still open at a block's end carried into the next
# block at most (their whole connection is then replayed there, not fed packet by packet)
OPEN = object()  # a signature's scratch run: one connection, no findings, not through yet
_N0 = 1 << 40  # packet numbers of the scratch run: _N0 + index
_T0 = float(1 << 30)  # its times: _T0 + index (exact as floats)
_SIG = np.dtype([("fwd", "u1"), ("flags", "u1"), ("seq", "<u4"), ("ack", "<u4"),
                 ("length", "<u4"), ("win", "<u2"), ("opt", "V40")])


class Template:
    __slots__ = ("conn", "bases", "verdict", "conn_state")

    def __init__(self, conn: Connection, bases: tuple[int, int]):
        self.conn, self.bases, self.verdict = conn, bases, conn.verdict
        self.conn_state = False  # Zeek's, of every connection replayed from it (summary.py)


class Replayed:
    """A connection the tracker did not walk packet by packet: its template's record, made
    real (a Connection) the first time anything but its verdict and counts is read."""

    __slots__ = ("id", "first", "last", "t_first", "t_last", "packets", "done_at", "verdict",
                 "midstream", "_tpl", "_numbers", "_times", "_idx", "_key", "_fwd", "_bases",
                 "_real", "_blk")
    self_connect = False

    def real(self) -> Connection:
        if self._real is None:
            self._real = _make(self)
        return self._real

    def __getattr__(self, name):
        return getattr(self.real(), name)


def feed_arrays(tracker: Tracker, b, carry: bool = False) -> list | None:
    """Tracker.feed_block for a Block of arrays; None when it cannot be replayed (the caller
    then feeds it packet by packet).  carry: the connections still open at the block's end
    (a scratch run of their packets so far: one connection, no findings, not through) may be
    carried into the next block (tracker._carry) instead of being fed, once each; their ids
    are counted here, at their first packet, and kept for them (tracker._ids)."""
    A = b.arrays
    n = b.n
    t = A["t"]
    if not ENABLED or n < 2 or len(tracker.conns) + len(b.keys) > MAX_OPEN or \
            bool(np.any(t[1:] < t[:-1])):
        return None
    flow = A["flow"]
    order = flow_order(flow, len(b.keys))  # each flow's packets together, in capture order
    fs = flow[order]
    starts = np.flatnonzero(np.r_[True, fs[1:] != fs[:-1]])
    ends = np.r_[starts[1:], n]
    flags = A["flags"]
    size = ends - starts
    cand = (size >= 2) & (size <= LONGEST) & ((flags[order[starts]] & 0x17) == SYN) & \
        (t[order[ends - 1]] - t[order[starts]] < IDLE)
    keys = b.keys
    conns = tracker.conns
    key_of = fs[starts].tolist()
    get = conns.get
    groups = [g for g in np.flatnonzero(cand).tolist()
              if (k := keys[key_of[g]])[0] != k[1] and get(k) is None]
    if not groups:
        return None
    sig, bases = _signatures(A, b, order, fs, starts, ends)
    memo = tracker.__dict__.setdefault("_memo", {})
    replayed = []  # the Replayed, in the order of their groups
    chosen = []
    carried = []  # groups carried into the next block
    room_c = CARRY if carry else 0
    if room_c:
        # carried at most once (the block's first b.carried flows came from the last one);
        # not past what an idle look could finish within this block (Tracker._sweep())
        once = getattr(b, "carried", 0)
        t_end = float(t[n - 1]) - IDLE
    starts_l, ends_l = starts.tolist(), ends.tolist()
    first_pos, last_pos = order[starts], order[ends - 1]
    numbers = A["number"]
    n_first, n_last = numbers[first_pos].tolist(), numbers[last_pos].tolist()
    t_first, t_last = t[first_pos].tolist(), t[last_pos].tolist()
    fwd_first = A["fwd"][first_pos].tolist()
    sig_bytes, width = sig.tobytes(), sig.itemsize  # (each flow's: a slice of these bytes)
    for g in groups:
        s, e = starts_l[g], ends_l[g]
        key_sig = sig_bytes[s * width:e * width]
        tpl = memo.get(key_sig, False)
        if tpl is False:
            room = len(memo) < MEMO_LIMIT and tracker.__dict__.get("_memo_bytes", 0) < MEMO_BYTES
            tpl = _template(b, order[s:e], bases[g]) if room else None
            if room:
                memo[key_sig] = tpl
                tracker._memo_bytes = tracker.__dict__.get("_memo_bytes", 0) + len(key_sig)
        if tpl is None:
            continue
        if tpl is OPEN:
            if e - s <= room_c and key_of[g] >= once and t_last[g] >= t_end:
                room_c -= e - s
                carried.append(g)
            continue
        r = Replayed()
        # (the block is kept until it comes out, for its summary: compare/summary.py)
        r._tpl, r._numbers, r._times, r._idx, r._real = tpl, numbers, t, order[s:e], None
        r._blk = b
        r._key = keys[key_of[g]]
        r._bases = bases[g]
        r._fwd = fwd_first[g]
        r.first, r.last, r.t_first, r.t_last = n_first[g], n_last[g], t_first[g], t_last[g]
        r.packets = e - s
        r.done_at = t_last[g]  # (when it finishes: its last packet, _run())
        r.verdict = tpl.verdict
        r.midstream = False
        replayed.append(r)
        chosen.append(g)
    if not replayed and not carried:
        return None
    picked = np.zeros(len(starts), dtype=bool)
    picked[chosen] = True
    picked[carried] = True
    skip = np.zeros(n, dtype=bool)
    skip[order] = np.repeat(picked, ends - starts)
    reserve = []  # the keys of the carried connections: their ids counted at their first
    if carried:
        reserve = [keys[key_of[g]] for g in carried]
        at = np.sort(np.concatenate([order[starts_l[g]:ends_l[g]] for g in carried]))
        tracker._carry = _carry_block(b, at)
    out = _run(tracker, b, skip, replayed, first_pos[chosen], last_pos[chosen], reserve,
               first_pos[carried])
    # (compare/summary.py's Summaries.block() takes these flows as they are)
    tracker._replayed = (b, fs[starts[chosen]], replayed, order, fs, starts)
    return out


def flow_order(flow, flows: int):
    """np.argsort(flow, kind="stable") (flow: the block's flow numbers, below `flows`): by a
    radix sort of 16-bit numbers when they fit, twenty times faster than a merge sort."""
    if flows <= 1 << 16:
        return np.argsort(flow.astype(np.uint16), kind="stable")
    return np.argsort(flow, kind="stable")


def _signatures(A, b, order, fs, starts, ends):
    """Each packet's signature record (in the flows' order) and each flow's sequence bases."""
    n = len(order)
    fwd = A["fwd"][order].astype(np.int64)
    # (unsigned 32-bit: their differences are modulo 2^32, as MOD makes them)
    seq = A["seq"][order].astype(np.uint32, copy=False)
    ack = A["ack"][order].astype(np.uint32, copy=False)
    flags = A["flags"][order]
    group = np.repeat(np.arange(len(starts)), ends - starts)
    # the first packet of each flow in each direction: its seq is that direction's base
    gd = group * 2 + fwd
    firsts = np.full(2 * len(starts), -1, dtype=np.int64)
    for d in (0, 1):  # (the first of each: the earliest; groups are in order)
        at = np.flatnonzero(fwd == d)
        g = group[at]
        first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
        firsts[2 * g[first] + d] = at[first]
    has = firsts >= 0
    base = np.where(has, seq[np.maximum(firsts, 0)], 0)
    # a direction that sends nothing: its acks' base is the first ack sent to it
    first_ack = np.where(has, ack[np.maximum(firsts, 0)], 0)
    other = group * 2 + (1 - fwd)
    ack_base = np.where(has[other], base[other], first_ack[gd])
    rec = np.zeros(n, dtype=_SIG)
    rec["fwd"] = fwd
    rec["flags"] = flags
    rec["seq"] = seq - base[gd]
    # an ACK's number relative to the other side's; without ACK it is only ever compared
    # with another SYN's of the same side (Tracker._packet), so it stays as it is
    rec["ack"] = np.where(flags & 0x10, ack - ack_base, ack)
    rec["length"] = A["length"][order]
    syn = (flags & SYN) != 0
    rec["win"] = A["win"][order]  # (every packet's: zero windows, updates, full windows)
    si = np.flatnonzero(syn)
    if len(si):
        u8 = np.frombuffer(b._buf, dtype=np.uint8)
        at = A["_opt"][order[si]]
        size = A["_hlen"][order[si]] - 20
        cols = np.arange(40)
        raw = u8[np.minimum(at[:, None] + cols, len(u8) - 1)]
        raw[cols[None, :] >= size[:, None]] = 0
        rec["opt"][si] = raw.view("V40").ravel()
    # the bases of each flow, for its direction "a" (its first packet's source) and "b"
    f0 = fwd[starts]
    ga = 2 * np.arange(len(starts)) + f0
    gb = ga + 1 - 2 * f0
    bases = [(x if hx else None, y if hy else None) for x, hx, y, hy in zip(
        base[ga].tolist(), has[ga].tolist(), base[gb].tolist(), has[gb].tolist())]
    return rec, bases


def _packets(b, idx, canonical: bool) -> list[Packet]:
    A = b.arrays
    lo, hi = b.keys[int(A["flow"][idx[0]])]
    out = []
    for j, i in enumerate(idx.tolist()):
        src, dst = (lo, hi) if A["fwd"][i] else (hi, lo)
        h, o = int(A["_hlen"][i]), int(A["_opt"][i])
        out.append(Packet(_N0 + j if canonical else int(A["number"][i]),
                          _T0 + j if canonical else float(A["t"][i]), src, dst,
                          int(A["flags"][i]), int(A["seq"][i]), int(A["ack"][i]),
                          int(A["win"][i]), bytes(b._buf[o:o + h - 20]) if h > 20 else b"",
                          int(A["length"][i])))
    return out


def _template(b, idx, bases) -> Template | None:
    """Run the connection through a scratch Tracker on canonical numbers and times; a
    template when it is one connection, through at its last packet, without findings."""
    scratch = Tracker()
    scratch._sweep_at = float("inf")
    got = []
    packets = _packets(b, idx, True)
    for p in packets:
        got += scratch.feed(p)
    got += scratch.finish()
    if len(got) != 1:
        return None
    c = got[0]
    if c.findings or c.packets != len(packets) or c.self_connect:
        return None
    if c.done_at is None:
        return OPEN
    if c.done_at != _T0 + len(packets) - 1:
        return None
    return Template(c, bases)


def _make(r: Replayed) -> Connection:
    """The Connection of a Replayed: its template's, with its own numbers, times and seqs."""
    tpl, idx = r._tpl, r._idx
    numbers, times = r._numbers[idx].tolist(), r._times[idx].tolist()
    tb, nb = tpl.bases, r._bases

    def num(v):
        return numbers[v - _N0] if v is not None and v >= _N0 else v

    def tim(v):
        return None if v is None else times[int(v - _T0)]

    lo, hi = r._key
    eps = (lo, hi) if r._fwd else (hi, lo)
    src = tpl.conn
    ends = []
    for d, (e, ep) in enumerate(((src.a, eps[0]), (src.b, eps[1]))):
        def sq(v, d=d):
            return None if v is None else (v - tb[d] + nb[d]) % MOD
        first_syn = None
        if e.first_syn is not None:
            # the same flags, window and options as the template's SYN (they are in the
            # signature), and so its ack when it has no ACK flag; its seq is its own
            number, flags, seq, ack, win, options = e.first_syn
            if flags & 0x10:
                ack = (ack - tb[1 - d] + nb[1 - d]) % MOD
            first_syn = (num(number), flags, sq(seq), ack, win, options)
        ack = None if e.last_ack is None else (e.last_ack - tb[1 - d] + nb[1 - d]) % MOD
        ends.append(End(ep, e.name, e.state, [(num(k), s, ref) for k, s, ref in e.path],
                        [(num(k), s) for k, s in e.undo], num(e.last_tx), num(e.fin_pkt),
                        e.synacks, num(e.syn_again), e.peer_fin_pending, sq(e.isn),
                        sq(e.snd_nxt), sq(e.fin_seq), tim(e.last_syn), tim(e.last_fin),
                        {sq(k): tim(v) for k, v in e.sent.items()}, sq(e.sent_old), e.packets,
                        first_syn, e.ws, e.wnd, ack, tim(e.ack_t), e.dupacks, tim(e.nxt_t),
                        e.probe, e.lost, sq(e.hole)))
    rtt = None if src.rtt is None else (tim(src.rtt[0]), tim(src.rtt[1]))
    return Connection(r.id, ends[0], ends[1], r.first, r.last, r.t_first, r.t_last, r.packets,
                      list(src.phases), [], False, r.done_at, rtt)


def _run(tracker: Tracker, b, skip, replayed, firsts, lasts, reserve=(), reserve_at=()) -> list:
    """The block in capture order: its other packets fed, the replayed connections counted
    at their first packet (positions firsts) and finished at their last (lasts), the carried
    ones (keys reserve) counted at their first packet (reserve_at)."""
    A = b.arrays
    n = b.n
    # 0 fed, 1 skipped, 2 first of a replayed, 4 its last, 8 first of a carried connection
    kind = np.zeros(n, dtype=np.int8)
    kind[skip] = 1
    rid = np.full(n, -1, dtype=np.int64)
    kind[firsts] = 2
    kind[lasts] |= 4
    rid[firsts] = rid[lasts] = np.arange(len(firsts))
    if len(reserve):
        kind[reserve_at] = 8
        rid[reserve_at] = np.arange(len(reserve))
    events = np.flatnonzero(kind != 1)
    # the latest skipped packet before each event (times do not go back: it is the latest)
    pos = np.where(kind == 1, np.arange(n), -1)
    last_skip = np.maximum.accumulate(pos)
    ev_l = events.tolist()
    ev_kind = kind[events].tolist()
    ev_skip = last_skip[events].tolist()
    ev_rid = rid[events].tolist()
    tl = A["t"]  # (the times of events as floats below: ev_t; these only where rare)
    out: list = []
    fed = events[kind[events] == 0]
    f_flags, f_seq, f_ack, f_len, f_flow, f_fwd, f_num, f_win = (
        A[name][fed].tolist() for name in ("flags", "seq", "ack", "length", "flow", "fwd",
                                           "number", "win"))
    fast = tracker._fast
    keys = b.keys
    fi = 0  # the next of the fed packets
    prev = -1
    # the events up to the next fed packet (a stretch) are taken together when no idle look
    # falls due among them: next_fed[j], the first fed event from j on
    ev_kinds = kind[events]
    next_fed = np.flatnonzero(ev_kinds == 0)
    next_fed = np.r_[next_fed, len(ev_l)][np.searchsorted(next_fed, np.arange(len(ev_l)))]
    next_fed = next_fed.tolist()
    ev_t = tl[events].tolist()
    j, n_ev = 0, len(ev_l)
    while j < n_ev:
        i = ev_l[j]
        k = ev_kind[j]
        ti = ev_t[j]
        if k and ti < tracker._sweep_at:
            j1 = min(next_fed[j], bisect_left(ev_t, tracker._sweep_at, j))
            _stretch(tracker, out, replayed, reserve, ev_kind[j:j1], ev_rid[j:j1],
                     ev_t[j:j1])
            prev = ev_l[j1 - 1]
            j = j1
            continue
        j += 1
        s = ev_skip[j - 1]
        if s > prev:  # skipped packets since the last event
            latest = float(tl[s])
            if latest >= tracker._sweep_at:
                _skipped(tracker, out, tl, kind, prev + 1, i, latest)
            else:  # (_let_go(), inline)
                done = tracker._done
                if done and (done[0][0] + LINGER < latest or len(done) > MAX_LINGERING):
                    out += tracker._expire(latest, [])
        prev = i
        if k == 0:
            if ti >= tracker._sweep_at:
                out += tracker._sweep(ti)
            if not (f_flags[fi] & 0x17 == 0x10 and
                    fast(keys[f_flow[fi]], f_fwd[fi], f_seq[fi], f_ack[fi], f_len[fi],
                         f_num[fi], ti, out, f_win[fi])):
                out += tracker.feed(_packet(b, i))
            fi += 1
            continue
        if ti >= tracker._sweep_at:
            out += tracker._sweep(ti)
        _stretch(tracker, out, replayed, reserve, (k,), (ev_rid[j - 1],), (ti,))
    # skipped packets after the last event
    if n - 1 > prev and last_skip[n - 1] > prev:
        _skipped(tracker, out, tl, kind, prev + 1, n,
                 float(tl[n - 1] if kind[n - 1] == 1 else tl[int(last_skip[n - 1])]))
    return out


def _stretch(tracker: Tracker, out: list, replayed, reserve, kinds, rids, times) -> None:
    """Events of _run() in a row, no fed packet and no idle look among them: replayed
    connections counted at their first packet (kind & 2) and finished at their last (& 4),
    carried ones counted (8); then the lingering connections let go as Tracker._expire()
    would at the last of them.  The same ones as letting go at every packet: they go in
    the order they finished, each once it has lingered LINGER s or while more than
    MAX_LINGERING linger; one due at an earlier packet is due at the last, and one let go
    because too many lingered then would be at the last as well (no more linger there)."""
    ids, conns, done = tracker._ids, tracker.conns, tracker._done
    count = tracker.count
    if not ids and 8 not in kinds:  # (no id kept for a connection: ids one after another)
        firsts = [replayed[x] for k, x in zip(kinds, rids) if k & 2]
        for r, cid in zip(firsts, range(count + 1, count + 1 + len(firsts))):
            r.id = cid
        count += len(firsts)
    else:
        for k, x in zip(kinds, rids):
            if k == 8:  # a carried connection's first packet: its id, kept for it
                count += 1
                ids[reserve[x]] = count
            elif k & 2:
                r = replayed[x]
                cid = ids.pop(r._key, None) if ids else None
                if cid is None:
                    count += 1
                    cid = count
                r.id = cid
    # (each replayed connection's done_at, its last packet's time, is set already; one
    # finishes at most once in a block, and no other connection of its key is in conns)
    fin = [replayed[x] for k, x in zip(kinds, rids) if k & 4]
    if fin:
        fin_keys = [r._key for r in fin]
        done.extend(zip([ti for k, ti in zip(kinds, times) if k & 4], fin_keys, fin))
        conns.update(zip(fin_keys, fin))
    tracker.count = count
    last = times[-1]
    # Tracker._expire(last, []) inlined
    while done and (done[0][0] + LINGER < last or len(done) > MAX_LINGERING):
        _, key, old = done.popleft()
        if conns.get(key) is old:
            del conns[key]
        out.append(old)


def _packet(b, i: int) -> Packet:
    A = b.arrays
    lo, hi = b.keys[int(A["flow"][i])]
    src, dst = (lo, hi) if A["fwd"][i] else (hi, lo)
    h, o = int(A["_hlen"][i]), int(A["_opt"][i])
    return Packet(int(A["number"][i]), float(A["t"][i]), src, dst, int(A["flags"][i]),
                  int(A["seq"][i]), int(A["ack"][i]), int(A["win"][i]),
                  bytes(b._buf[o:o + h - 20]) if h > 20 else b"", int(A["length"][i]))


def _skipped(tracker: Tracker, out: list, tl, kind, lo: int, hi: int,
             latest: float) -> None:
    """What a Tracker does between packets, for the replayed (skipped) packets lo..hi-1 of
    a block, `latest` the time of the last of them: let go of the lingering connections due
    by then, and, in the rare case that the idle look falls due among them, walk them one by
    one so that it runs at the same packet as feeding would."""
    if latest >= tracker._sweep_at:
        for q in range(lo, hi):
            if kind[q] == 1:
                tq = float(tl[q])
                if tq >= tracker._sweep_at:
                    out += tracker._sweep(tq)
                _let_go(tracker, out, tq)
    else:
        _let_go(tracker, out, latest)


def _let_go(tracker: Tracker, out: list, t: float) -> None:
    done = tracker._done
    if done and (done[0][0] + LINGER < t or len(done) > MAX_LINGERING):
        out += tracker._expire(t, [])


def _carry_block(b, at) -> Block:
    """The packets at positions `at` of Block b (of arrays) as a Block of their own: their
    flows renumbered, their TCP options copied into 40-byte slots of a buffer of their own
    (the block's buffer is let go)."""
    A = b.arrays
    c = Block()
    arrays = {name: A[name][at] for name in _BLOCK_COLUMNS}
    flows, inv = np.unique(arrays["flow"], return_inverse=True)
    arrays["flow"] = inv.ravel().astype(A["flow"].dtype)
    u8 = np.frombuffer(b._buf, dtype=np.uint8)
    raw = u8[np.minimum(arrays["_opt"][:, None] + np.arange(40), len(u8) - 1)]
    arrays["_opt"] = np.arange(len(at), dtype=A["_opt"].dtype) * 40
    c.n, c.arrays, c._buf, c._packets, c.carried = len(at), arrays, raw.tobytes(), None, 0
    keys = b.keys
    c.keys = [keys[f] for f in flows.tolist()]
    for name in _BLOCK_COLUMNS:
        setattr(c, name, None)
    return c


def merge(carry: Block, b) -> Block | None:
    """The carried packets (all before b's) and Block b as one Block of arrays, the carried
    flows first (b.carried of them); None when b has no arrays."""
    if b.arrays is None:
        return None
    A, C = b.arrays, carry.arrays
    m = len(carry.keys)
    index = {k: i for i, k in enumerate(carry.keys)}
    keys = list(carry.keys)
    get = index.get
    remap = np.arange(m, m + len(b.keys), dtype=A["flow"].dtype)
    for i, k in enumerate(b.keys):
        j = get(k)
        if j is not None:  # (the flow went on in b: one flow)
            remap[i] = j
    keys += b.keys  # (a key carried as well keeps an unused place here)
    arrays = {}
    for name in _BLOCK_COLUMNS:
        x = A[name]
        if name == "flow":
            x = remap[x]
        arrays[name] = np.concatenate((C[name], x))
    buf = b._buf
    arrays["_opt"][:carry.n] += len(buf)
    out = Block()
    out.n, out.arrays, out._buf, out._packets, out.carried = carry.n + b.n, arrays, \
        buf + carry._buf, None, m
    out.keys = keys
    for name in _BLOCK_COLUMNS:
        setattr(out, name, None)
    return out
