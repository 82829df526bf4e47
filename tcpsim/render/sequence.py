"""The sequence (ladder) diagram of a Trace as a picture: SVG and PNG through canvas.py.

One vertical lane per process (per endpoint when a process talks to itself); time runs down,
one row per event in time order (so microseconds on loopback and a 40 ms delayed ACK are both
readable; each row carries its time).  Calls sit on their process's lane, states in pills on
the socket's lane, segments are slanted arrows from sender to receiver labelled with flags and
relative seq/ack/len, and the three phases of the textbook (connection establishment, data
transfer, connection release) are shaded bands.  Given the verdict of `verify`, each segment
is marked as matched by the kernel (✓) or not (✗).  A segment a `net: drop` line lost stops
half way with a cross; a retransmission or probe is labelled, beside its sender, with what sent
it and how long that waited ("TLP 208 ms", "RTO 416 ms": teach/explain.py resent_marks()).
"""

from __future__ import annotations

import re

from dataclasses import dataclass

from ..i18n import t
from ..trace import Call, Segment, State, Trace
from .canvas import Canvas, text_width
from .ladder import phases
from .timeline import call_text, endpoint_namer

ROW = 24.0  # pixels per event row
DROP = 0.85  # an arrow falls this many rows: it arrives after it leaves
LANE_GAP = 470.0
SIDE = 250.0  # room for call text outside the outer lanes
TOP = 96.0
TIME_COL = 64.0
PHASE_FILL = ("#e8f1fb", "#eef7ea", "#fbefe6")
PHASE_INK = ("#2f6db5", "#3c8a2e", "#b5652f")
SEG_INK, RST_INK, CALL_INK, STATE_INK = "#1f4e79", "#c0392b", "#5b2c83", "#8a6d00"
LOST_INK, TIMER_INK = "#d62728", "#b35900"
# verify's marks, in Okabe and Ito's colour-blind-safe pair (bluish green, vermillion): the
# shapes differ too (✓, ✗)
MATCH_INK, MISMATCH_INK = "#009e73", "#d55e00"
LOST_AT = 0.8  # a lost segment's arrow stops this far across, past its label
GAP_BREAK = 0.1  # s: a wait this long between two rows breaks the time axis (40 ms delayed
# ACKs do not; RTOs, probes, keepalives and sleeps do)


@dataclass
class Row:
    y: float
    event: object
    phase: int


def _lanes(trace: Trace) -> tuple[list[str], callable]:
    """The lanes, in the order the program names its processes, and the lane of an endpoint."""
    known = trace.owner()

    def owner(ep: str) -> str:
        return known(ep) or ep

    self_talk = any(owner(s.src) == owner(s.dst) for s in trace.segments)

    def lane_of(ep: str) -> str:
        return f"{owner(ep)}:{ep.rsplit(':', 1)[1]}" if self_talk else owner(ep)

    order: list[str] = []
    if not self_talk:
        order = list(dict.fromkeys(s.process for s in trace.sockets))
    for s in trace.segments:
        for ep in (s.src, s.dst):
            if lane_of(ep) not in order:
                order.append(lane_of(ep))
    for c in trace.calls:  # a process that made calls but sent nothing still gets a lane
        if not self_talk and c.process not in order:
            order.append(c.process)
    if not self_talk:  # a forked child (or thread) stands beside its parent, its clients
        # beyond: the server side of the textbook's concurrent server reads as one group
        placed: dict[str, int] = {}  # parent -> children placed beside it so far
        for c in trace.calls:
            m = _CALL.match(c.text.strip())
            if m and m.group(2) in ("fork", "thread") and m.group(3) in order \
                    and c.process in order:
                order.remove(m.group(3))
                order.insert(order.index(c.process) + 1 + placed.get(c.process, 0), m.group(3))
                placed[c.process] = placed.get(c.process, 0) + 1
    syn = next((s for s in trace.segments if s.flags == "S"), None)
    if len(order) == 2 and syn is not None and lane_of(syn.src) == order[1]:
        # the side that opens on the left, as the text ladder (render/ladder.py) and the
        # textbooks' handshake figures have it (RFC 9293 3.5: TCP Peer A, then B)
        order.reverse()
    return order, lane_of


def visible_events(trace: Trace) -> list:
    """The events drawn: every call and segment, and each state change once."""
    out, shown = [], {}
    for ev in trace.events:
        if isinstance(ev, State):
            if shown.get(ev.socket) == ev.state:
                continue
            shown[ev.socket] = ev.state
        out.append(ev)
    return out


def row_phases(events: list, trace: Trace) -> list[int]:
    """The phase of each row, connection by connection: a segment is in its own connection's
    phase (establishment up to the handshake's ACK, release from its first FIN or RST); a
    phase a segment starts begins at the call that sent it (the last call before it: a
    send(), a close()); other rows stay in the phase of the row before.  So a second
    connection's handshake after the first one's data is an establishment again, and calls
    returning from a handshake (accept(), connect()) stay in it."""
    seg_phase: dict[int, int] = {}
    by_conn: dict[tuple, list] = {}
    for rel in trace.relative():
        by_conn.setdefault(rel.seg.conn_key, []).append(rel)
    for rels in by_conn.values():
        for rel, p in zip(rels, phases(rels)):
            seg_phase[id(rel.seg)] = p
    out: list[int] = []
    phase = 0
    for i, ev in enumerate(events):
        if isinstance(ev, Segment) and id(ev) in seg_phase:
            p = seg_phase[id(ev)]
            if p != phase:
                # the phase begins at the last call before this segment (no segment between)
                j = i - 1
                while j >= 0 and not isinstance(events[j], Segment):
                    if isinstance(events[j], Call) and events[j].kind == "call":
                        for k in range(j, i):
                            out[k] = p
                        break
                    j -= 1
            phase = p
        out.append(phase)
    return out


def sequence_canvas(trace: Trace, marks: dict[int, bool] | None = None,
                    notes: dict[int, str] | None = None,
                    resent: dict[int, str] | None = None) -> Canvas:
    """The diagram.  marks: segment number (1-based) -> matched by the kernel; notes: a tooltip
    per event id (the explanations); resent: a label beside a segment's sender per event id,
    where the timers' own (resent_marks()) do not name one (compare's marks on a capture)."""
    lanes, lane_of = _lanes(trace)
    holder = _Holders(trace, lanes)
    events = visible_events(trace)
    row_phase = row_phases(events, trace)
    x_of = {lane: TIME_COL + SIDE + i * LANE_GAP for i, lane in enumerate(lanes)}
    width = TIME_COL + 2 * SIDE + max(0, len(lanes) - 1) * LANE_GAP
    # each phase opens with a row of its own for its name
    starts = [i for i, p in enumerate(row_phase) if i == 0 or row_phase[i - 1] != p]
    ys, shift, breaks = [], 0, []
    for i in range(len(events)):
        if i in starts:  # two rows when an arrow from the row before falls into it
            shift += 2 if i and isinstance(events[i - 1], Segment) else 1
        if i and events[i].t - events[i - 1].t >= GAP_BREAK:
            # rows are events, not time: a long wait gets a row of its own that says how long
            shift += 1
            breaks.append((TOP + (i + shift - 0.5) * ROW, events[i].t - events[i - 1].t))
        ys.append(TOP + (i + shift) * ROW)
    height = (ys[-1] if ys else TOP) + ROW * 2.5 + (24 if marks is not None else 0)
    c = Canvas(width, height)
    name = endpoint_namer(trace)
    rel = {id(r.seg): r for r in trace.relative()}
    labels = _socket_lanes(trace, lanes, lane_of)
    crowded: dict[str, int] = {}  # lane -> how many sockets show their states on it
    for lane in {(st.socket, holder.of(st.socket, st.t) or labels[st.socket])
                 for st in trace.states if st.socket in labels}:
        crowded[lane[1]] = crowded.get(lane[1], 0) + 1
    notes = notes or {}
    from ..teach.explain import dropped, resent_marks

    lost, tags = dropped(trace), {**(resent or {}), **resent_marks(trace)}

    c.text(16, 28, t("ladder.title", program=trace.program), size=17, bold=True, cls="title")
    # phase bands first, so everything else is drawn over them
    tops = [ys[first] - ROW * 1.6 for first in starts]
    for n, first in enumerate(starts):
        p = row_phase[first]
        y0 = tops[n]
        y1 = tops[n + 1] if n + 1 < len(starts) else ys[-1] + ROW * (0.4 + DROP)
        c.rect(0, y0, width, y1 - y0, fill=PHASE_FILL[p], cls=f"phase phase-{p}",
               title=t(f"phase.{p}"))
        c.text(12, y0 + 16, f"{t(f'phase.{p}')} · {t(f'phase.note.{p}')}", size=13,
               color=PHASE_INK[p], bold=True, cls="phase-label")
    for y, gap in breaks:  # a break in the time axis: a dotted rule, and the time it skips
        c.line(TIME_COL - 4, y, width - 8, y, color="#8a94a0", width=1.0, dash="2,4",
               cls="time-break", title=t("ladder.gap", gap=_duration(gap)))
        c.text(TIME_COL - 8, y + 4, "+" + _duration(gap), size=10, color="#4f5b66",
               anchor="end", italic=True, cls="time-break-label")
    # lanes
    for lane, x in x_of.items():
        c.text(x, TOP - 34, lane, size=15, bold=True, anchor="middle", cls="lane-name")
        c.line(x, TOP - 24, x, height - ROW - (24 if marks is not None else 0), color="#777",
               width=1.5, cls="lane")
    c.text(8, TOP - 34, t("ladder.time"), size=11, color="#555")
    seg_no = 0
    for i, ev in enumerate(events):
        y = ys[i]
        c.text(TIME_COL - 8, y + 4, f"{ev.t * 1000:.3f}", size=10, color="#666", anchor="end",
               mono=True, cls="time")
        tip = notes.get(id(ev), "")
        if isinstance(ev, Segment):
            seg_no += 1
            src = holder(ev.src, ev.dst, ev.t) or lane_of(ev.src)
            dst = holder(ev.dst, ev.src, ev.t) or lane_of(ev.dst)
            _segment(c, ev, rel[id(ev)], x_of[src], x_of[dst], y,
                     name, tip, None if marks is None else marks.get(seg_no, False),
                     lost.get(id(ev)), tags.get(id(ev)))
        elif isinstance(ev, Call):
            x = x_of.get(ev.process)
            if x is None:
                continue
            text = _short(ev)
            left = x == x_of[lanes[0]] or len(lanes) > 2 and x != x_of[lanes[-1]]
            c.circle(x, y, 3.5, fill=CALL_INK, color=CALL_INK, cls="call-dot")
            c.text(x - 10 if left else x + 10, y + 4, text, size=12, color=CALL_INK,
                   anchor="end" if left else "start", cls="call",
                   title=(ev.text + ("\n" + tip if tip else "")))
        elif isinstance(ev, State):
            lane = labels.get(ev.socket)
            if lane is None:
                continue
            lane = holder.of(ev.socket, ev.t) or lane
            x = x_of[lane]
            text = ev.state
            # where a lane holds several sockets (a listener and its children), the pill
            # names its socket first
            who = ev.socket.split(".", 1)[-1] + " " if crowded.get(lane, 0) > 1 else ""
            pre = text_width(who, 11, bold=True) if who else 0.0
            w = pre + text_width(text, 11) + 12
            left = lane == lanes[0] or len(lanes) > 2 and lane != lanes[-1]
            bx = x - 8 - w if left else x + 8
            c.rect(bx, y - 10, w, 16, fill="#fff6d5", color=STATE_INK, radius=7, cls="state",
                   title=f"{ev.socket}: {ev.state}" + ("\n" + tip if tip else ""))
            if who:
                c.text(bx + 6, y + 2, who.strip(), size=11, color=STATE_INK, bold=True,
                       cls="state-socket")
            c.text(bx + 6 + pre + (w - 12 - pre) / 2, y + 2, text, size=11, color=STATE_INK,
                   anchor="middle", cls="state-name")
    if marks is not None:  # the marks and the words apart: CJK fonts lack ✓ and ✗
        x = 16.0
        for mark, key, ink in (("✓", "ladder.matched", MATCH_INK),
                               ("✗", "ladder.unmatched", MISMATCH_INK)):
            c.text(x, height - 12, mark, size=13, bold=True, color=ink, cls="legend")
            c.text(x + 16, height - 12, t(key), size=12, color="#333", cls="legend")
            x += 16 + text_width(t(key), 12) + 24
    return c


def _segment(c: Canvas, seg: Segment, rel, x0: float, x1: float, y: float, name, tip: str,
             matched: bool | None, lost: int | None = None, tag: str | None = None) -> None:
    ink = RST_INK if "R" in seg.flags else SEG_INK
    y1 = y + DROP * ROW
    title = f"{name(seg.src)} > {name(seg.dst)}" + ("\n" + tip if tip else "")
    if lost is None:
        c.line(x0, y, x1, y1, color=ink, width=1.8, arrow=True, cls="segment", title=title)
    else:  # lost on the way: the arrow stops short, at a cross
        what = t("ladder.lost", line=lost)
        xe, ye = x0 + LOST_AT * (x1 - x0), y + LOST_AT * (y1 - y)
        c.line(x0, y, xe, ye, color=ink, width=1.8, dash="5,3", cls="segment lost",
               title=f"{title}\n{what}")
        for dx in (-1, 1):
            c.line(xe - 6, ye - 6 * dx, xe + 6, ye + 6 * dx, color=LOST_INK, width=2.4,
                   cls="loss-mark", title=what)
    if tag:  # what sent it (again), beside its sender, under the arrow
        right = x1 > x0
        c.text(x0 + (10 if right else -10), y + 15, tag, size=11, color=TIMER_INK, bold=True,
               anchor="start" if right else "end", cls="timer-label", title=tip)
    label = f"[{seg.flags}] seq {rel.seq}" + (f" ack {rel.ack}" if seg.has_ack else "") \
        + f" len {seg.length}" + (" " + t("seg.copy") if seg.copy else "")
    mid = (x0 + x1) / 2
    c.text(mid, (y + y1) / 2 - 5, label, size=12, color=ink, anchor="middle", mono=True,
           cls="segment-label")
    if matched is not None:  # left of the label, on the arrow's own row
        mx = mid - text_width(label, 12, mono=True) / 2 - 18
        c.text(mx, (y + y1) / 2 - 4, "✓" if matched else "✗", size=14, bold=True,
               color=MATCH_INK if matched else MISMATCH_INK, cls="match" if matched else "mismatch",
               title=t("ladder.matched" if matched else "ladder.unmatched"))


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


CALL_ROOM = SIDE - 22  # the widest a call's text may be beside its lane (px, at size 12)


def _short(ev: Call) -> str:
    """The call as the timeline writes it, cut (with …) to what fits beside its lane,
    measured with the font that draws it; the whole text is the tooltip."""
    text = call_text(ev)
    if text_width(text, 12) <= CALL_ROOM:
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits with its ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + "…", 12) <= CALL_ROOM:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


_CALL = re.compile(r"^(?:(\w+)\s*=\s*)?(\w+)(?:\((\w*))?")


class _Holders:
    """Which process's lane a shared socket's segments and states are drawn on, over time.

    After fork() a connected socket has several holders (the textbook's concurrent server:
    parent and child both hold the accepted socket until the parent closes its copy); the
    socket then belongs, for the picture, to the process still holding it, so the child's
    send() leaves from the child's lane.  While its creator holds it the creator keeps it;
    once nobody holds it (an orphan closing) it stays with its last holder.  The holders
    follow the program's calls as the model counts descriptors (Sock.files): fork()/thread()
    copy the parent's names, dup() adds one, close() and exit drop them."""

    def __init__(self, trace: Trace, lanes: list[str]):
        self.changes: dict[str, list[tuple[float, str]]] = {}  # label -> (t, lane) changes
        self.by_pair: dict[tuple[str, str], str] = {}  # (local, remote) -> label
        self.by_local: dict[str, list[str]] = {}  # local endpoint -> labels
        for sk in trace.sockets:
            if sk.local and sk.remote:
                self.by_pair[(sk.local, sk.remote)] = sk.label
            for ep in sk.seen + ([sk.local] if sk.local else []):
                self.by_local.setdefault(ep, []).append(sk.label)
        if not any(c.text.lstrip().split("=")[-1].strip().startswith(("fork(", "thread("))
                   for c in trace.calls):
            return  # nothing is ever shared across processes: the creator's lane throughout
        names: dict[str, dict[str, str]] = {}  # process -> descriptor name -> label
        for sk in trace.sockets:
            names.setdefault(sk.process, {})[sk.name] = sk.label
        holders: dict[str, list[str]] = {sk.label: [sk.process] for sk in trace.sockets}
        creator = {sk.label: sk.process for sk in trace.sockets}
        lane_now = dict(creator)
        for c in trace.calls:
            if c.kind != "call" or (c.result is not None and c.result < 0) or c.errno:
                continue
            m = _CALL.match(c.text.strip())
            if not m:
                continue
            target, call, arg = m.groups()
            arg = arg or ""
            mine = names.setdefault(c.process, {})
            touched = []
            if call in ("fork", "thread") and arg:
                names[arg] = mine if call == "thread" else dict(mine)
                for label in set(mine.values()):
                    holders.setdefault(label, []).append(arg)
            elif call == "dup" and target and arg in mine:
                mine[target] = mine[arg]
            elif call == "close" and arg in mine:
                label = mine.pop(arg)
                if label not in mine.values() and c.process in holders.get(label, []):
                    holders[label].remove(c.process)
                    touched.append(label)
            elif call == "exit":
                for label in set(mine.values()):
                    if c.process in holders.get(label, []):
                        holders[label].remove(c.process)
                        touched.append(label)
                mine.clear()
            for label in touched:
                hs = holders[label]
                lane = creator[label] if creator[label] in hs else (hs[0] if hs else None)
                if lane is not None and lane != lane_now[label] and lane in lanes:
                    lane_now[label] = lane
                    self.changes.setdefault(label, []).append((c.t, lane))

    def of(self, label: str, t: float) -> str | None:
        """The lane socket `label` is drawn on at time t, where it moved (else None)."""
        lane = None
        for when, where in self.changes.get(label, ()):
            if when > t:
                break
            lane = where
        return lane

    def __call__(self, local: str, remote: str, t: float) -> str | None:
        if not self.changes:
            return None
        label = self.by_pair.get((local, remote))
        return self.of(label, t) if label else None


def _socket_lanes(trace: Trace, lanes: list[str], lane_of) -> dict[str, str]:
    """socket label -> lane: by its process, or by its local port when a process talks to
    itself."""
    out = {}
    for s in trace.sockets:
        if s.process in lanes:
            out[s.label] = s.process
            continue
        for ep in s.seen + ([s.local] if s.local else []):
            if lane_of(ep) in lanes:
                out[s.label] = lane_of(ep)
    for st in trace.states:  # request sockets and children are named after their process
        proc = st.socket.split(".", 1)[0]
        if st.socket not in out and proc in lanes:
            out[st.socket] = proc
    return out


def segment_marks(model: Trace, differences) -> dict[int, bool]:
    """segment number -> matched, from the differences `verify` found (trace/diff.py)."""
    bad = {d.index for d in differences if d.kind in ("segment", "timing")}
    counted = next((d for d in differences if d.kind == "count" and d.field == "segments"), None)
    limit = counted.index - 1 if counted else len(model.segments)
    return {i: i <= limit and i not in bad for i in range(1, len(model.segments) + 1)}
