"""The time-sequence graph of one direction of a connection, as tcptrace draws it.

Sequence number (relative, in bytes) against time: each data segment the sender sent is a
vertical bar from its first byte to its end, with small ticks at both ends; a segment that
covers no new byte (a retransmission, a probe) is drawn in another colour, and one a `net:`
line lost is crossed.  The receiver's cumulative ACK is a step line under the bars; the right
edge of the window it offered (ACK + the window, scaled by the shift its SYN announced:
RFC 7323 2.2) a step line above them; its SACK blocks short bars beside the ACK line.  A sender
that fills the window runs into the upper line; a lost segment shows as a gap the ACK line
waits at until the retransmission fills it.  Time is linear here (unlike the sequence diagram,
whose rows are events): slopes are rates.

The graph is drawn on a Canvas (render/canvas.py), so it is SVG or PNG like the other pictures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..i18n import t
from ..trace import Trace
from .canvas import Canvas, text_width

WIDTH, HEIGHT = 960.0, 600.0
LEFT, RIGHT, TOP, BOTTOM = 86.0, 24.0, 64.0, 56.0  # the plot's margins
DATA_INK, RTX_INK, LOST_INK = "#0072b2", "#d55e00", "#d62728"  # Okabe-Ito, as the others
ACK_INK, WIN_INK, SACK_INK = "#009e73", "#e69f00", "#cc79a7"
AXIS_INK, GRID_INK = "#2c3e50", "#e3e8ee"


@dataclass
class Flow:
    """One direction of one connection: who sends the data, to whom."""
    src: str
    dst: str
    bytes: int  # payload bytes sent, retransmissions included


def flows(trace: Trace) -> list[Flow]:
    """Every direction that carried payload, the busiest first."""
    sent: dict[tuple[str, str], int] = {}
    for seg in trace.segments:
        if seg.length and not seg.copy:
            sent[(seg.src, seg.dst)] = sent.get((seg.src, seg.dst), 0) + seg.length
    return [Flow(s, d, n) for (s, d), n in sorted(sent.items(), key=lambda kv: -kv[1])]


def worth_graphing(trace: Trace) -> bool:
    """Whether a graph shows more than a line: the busiest direction sent several segments of
    data (a greeting of one segment is the sequence diagram's to show)."""
    found = flows(trace)
    return bool(found) and sum(1 for s in trace.segments if s.length and not s.copy and
                               (s.src, s.dst) == (found[0].src, found[0].dst)) >= 2


def _ticks(top: float, n: int = 6) -> list[float]:
    """Round steps (1, 2 or 5 times a power of ten) from 0 past top."""
    if top <= 0:
        return [0.0]
    raw = top / n
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    out, v = [0.0], 0.0
    while v < top - step * 1e-9:  # up to the first step at or past top
        v += step
        out.append(round(v, 12))
    return out


def _bytes(v: float) -> str:
    return f"{v / 1e6:g} MB" if v >= 1e6 else f"{v / 1e3:g} kB" if v >= 1e3 else f"{v:g}"


@dataclass
class Series:
    """What the graph shows, in numbers (relative sequence numbers, seconds of the trace)."""
    flow: Flow
    bars: list  # (t, seq, end, sent before, lost): each segment of the flow with payload/FIN
    acks: list  # (t, ack, window's right edge): each ACK of the other direction
    sacks: list  # (t, left, right): each SACK block of those ACKs
    shift: int | None  # the receiver's window scale, None when scaling is off


def series(trace: Trace, flow: Flow | None = None) -> Series:
    """The numbers of flow's graph (default: the direction that carried the most payload;
    with none, the first segment's)."""
    from ..teach.explain import dropped

    found = flows(trace)
    if flow is None and found:
        flow = found[0]
    elif flow is None:  # no data at all: the first segment's direction, its ACKs and window
        first = trace.segments[0] if trace.segments else None
        flow = Flow(first.src if first else "?", first.dst if first else "?", 0)
    rels = trace.relative()
    lost = dropped(trace)
    mine = [r for r in rels if (r.seg.src, r.seg.dst) == (flow.src, flow.dst)]
    back = [r for r in rels if (r.seg.src, r.seg.dst) == (flow.dst, flow.src)]
    # the receiver's window shift: what its SYN (or SYN-ACK) announced, if both sides did
    # (RFC 7323 2.2: scaling is on only when both offer it; a SYN's own window is unscaled)
    offered = {(r.seg.src, r.seg.dst): dict(r.seg.options).get("wscale")
               for r in rels if "S" in r.flags}
    shift = offered.get((flow.dst, flow.src))
    if offered.get((flow.src, flow.dst)) is None:
        shift = None
    acks, sacks = [], []
    for r in back:
        if not r.seg.has_ack or "R" in r.flags:
            continue
        win = r.seg.win if "S" in r.flags else r.seg.win << (shift or 0)
        acks.append((r.seg.t, r.ack, r.ack + win))
        for name, blocks in r.options:
            if name == "sack":
                sacks += [(r.seg.t, left, right) for left, right in blocks]
    bars, highest = [], 0
    for r in mine:
        length = r.seg.length + ("F" in r.flags)
        if length:
            bars.append((r.seg.t, r.seq, r.seq + length, r.seq + length <= highest,
                         id(r.seg) in lost))
            highest = max(highest, r.seq + length)
    return Series(flow, bars, acks, sacks, shift)


def tsg_canvas(trace: Trace, flow: Flow | None = None) -> Canvas:
    """The graph of flow (default: the direction that carried the most payload)."""
    data = series(trace, flow)
    flow = data.flow
    times = [b[0] for b in data.bars] + [a[0] for a in data.acks]
    t0, t1 = min(times, default=0.0), max(times, default=0.0)
    span = max(t1 - t0, 1e-6)
    # the scale is the data's (and the ACKs'): a window far above it is cut at the top (and
    # drawn dashed there), as it would flatten every bar (a 6 KB transfer, a 300 KB window)
    top_seq = max([b[2] for b in data.bars] + [a[1] for a in data.acks] + [1]) * 1.15
    ticks_t, ticks_s = _ticks(span * 1000), _ticks(top_seq)
    x_max, y_max = ticks_t[-1] / 1000 or span, ticks_s[-1] or top_seq
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def X(tt: float) -> float:
        return LEFT + (tt - t0) / x_max * pw

    def Y(seq: float) -> float:
        return TOP + ph - min(seq, y_max) / y_max * ph

    from .timeline import endpoint_namer

    name = endpoint_namer(trace)
    c = Canvas(WIDTH, HEIGHT)
    c.text(16, 28, t("tsg.title", program=trace.program, src=name(flow.src),
                     dst=name(flow.dst), source=t(f"tsg.source.{trace.source}")
                     if trace.source in ("lab", "model") else trace.source),
           size=16, bold=True, cls="title")
    # axes and grid
    for v in ticks_t:
        x = LEFT + v / 1000 / x_max * pw
        c.line(x, TOP, x, TOP + ph, color=GRID_INK, width=1, cls="grid")
        c.text(x, TOP + ph + 16, f"{v:g}", size=10, anchor="middle", color=AXIS_INK,
               cls="tick")
    for v in ticks_s:
        y = Y(v)
        c.line(LEFT, y, LEFT + pw, y, color=GRID_INK, width=1, cls="grid")
        c.text(LEFT - 6, y + 4, _bytes(v), size=10, anchor="end", color=AXIS_INK, cls="tick")
    c.line(LEFT, TOP + ph, LEFT + pw, TOP + ph, color=AXIS_INK, width=1.2, cls="axis")
    c.line(LEFT, TOP, LEFT, TOP + ph, color=AXIS_INK, width=1.2, cls="axis")
    c.text(LEFT + pw / 2, HEIGHT - 14, t("tsg.time"), size=11, anchor="middle",
           color=AXIS_INK, cls="axis-label")
    c.text(18, TOP + ph / 2, t("tsg.seq"), size=11, anchor="middle", color=AXIS_INK,
           rotate=-90, cls="axis-label")
    # the receiver's ACK and window edge: step lines, each holding until the next ACK
    acks = data.acks
    for (ta, ack, edge), nxt in zip(acks, acks[1:] + [None]):
        tb = nxt[0] if nxt else t1
        c.line(X(ta), Y(ack), X(tb), Y(ack), color=ACK_INK, width=1.6, cls="ack")
        c.line(X(ta), Y(edge), X(tb), Y(edge), color=WIN_INK, width=1.2, cls="window",
               dash="4,3" if edge > y_max else "")
        if nxt is not None:
            c.line(X(tb), Y(ack), X(tb), Y(nxt[1]), color=ACK_INK, width=1.6, cls="ack")
            c.line(X(tb), Y(edge), X(tb), Y(nxt[2]), color=WIN_INK, width=1.2, cls="window")
    for ta, left, right in data.sacks:  # what arrived beyond the cumulative ACK
        c.line(X(ta) + 3, Y(left), X(ta) + 3, Y(right), color=SACK_INK, width=2.4, cls="sack")
    # the data: a bar per segment, new bytes in one colour, bytes sent before in another
    for tt, seq, end, again, lost in data.bars:
        x, ya, yb = X(tt), Y(seq), Y(end)
        ink, cls = (RTX_INK, "retransmission") if again else (DATA_INK, "data")
        c.line(x, ya, x, yb, color=ink, width=1.6, cls=cls,
               title=f"seq {seq}:{end} at {(tt - t0) * 1000:.3f} ms")
        for y in (ya, yb):
            c.line(x - 3, y, x + 3, y, color=ink, width=1.2, cls=cls + "-tick")
        if lost:
            for d in (5, -5):
                c.line(x - 5, (ya + yb) / 2 - d, x + 5, (ya + yb) / 2 + d, color=LOST_INK,
                       width=2, cls="lost")
    # legend, top right inside the plot
    items = [(DATA_INK, "tsg.legend.data")] + (
        [(RTX_INK, "tsg.legend.rtx")] if any(s.cls == "retransmission" for s in c.shapes)
        else []) + [(ACK_INK, "tsg.legend.ack"), (WIN_INK, "tsg.legend.window")]
    if data.sacks:
        items.append((SACK_INK, "tsg.legend.sack"))
    widest = max(text_width(t(key), 11) for _, key in items)
    lx, ly = LEFT + pw - widest - 40, TOP + 8
    c.rect(lx - 8, ly - 4, widest + 44, 18 * len(items) + 6, fill="#ffffff", color=GRID_INK,
           cls="legend-box")
    for i, (ink, key) in enumerate(items):
        y = ly + 10 + 18 * i
        c.line(lx, y - 4, lx + 20, y - 4, color=ink, width=2.4, cls="legend")
        c.text(lx + 28, y, t(key), size=11, color=AXIS_INK, cls="legend")
    return c
