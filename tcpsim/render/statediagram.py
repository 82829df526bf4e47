"""The TCP state diagram, drawn from the model's transition table (model/table.py).

Every arrow is one (state, next) pair of the table, labelled with the events of all its rows,
so the figure cannot drift from what the model does.  The layout is fixed and textbook-like,
as RFC 793/9293 draw it: CLOSE at the top, the opening states below it, ESTABLISHED in the
middle, the active close on the left, the passive close on the right, and CLOSE a second time
at the bottom as the end state.  The box positions and the bends of a few arrows are chosen
by hand (below); the labels are placed by a small deterministic search that keeps them off
the boxes, the arrows and each other.  No Graphviz is needed; `to_dot` hands the same graph
to it for those who prefer its layout, and `to_mermaid` writes it for Markdown.

Given a Trace, the path each socket took is drawn over the diagram: one colour per socket and
the model's steps numbered 1, 2, 3 ... in time order across all sockets.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from ..errors import TcpsimError
from ..i18n import t
from ..model.table import RFC_NAMES, RULES, STATES, Rule, citation
from .canvas import Canvas, text_width

Point = tuple[float, float]

WIDTH, HEIGHT = 1100, 920
BOX_W, BOX_H = 134, 34
END = "CLOSE_END"  # the second CLOSE box, at the bottom: where connections end

# Box centres, in the textbook's arrangement.
POS: dict[str, tuple[float, float]] = {
    "CLOSE": (550, 92),
    "LISTEN": (330, 200),
    "SYN_SENT": (850, 250),
    "NEW_SYN_RECV": (330, 325),
    "SYN_RECV": (150, 410),
    "ESTABLISHED": (550, 475),
    "FIN_WAIT1": (150, 600),
    "CLOSE_WAIT": (930, 600),
    "FIN_WAIT2": (150, 725),
    "CLOSING": (480, 725),
    "LAST_ACK": (930, 725),
    "TIME_WAIT": (480, 845),
    END: (800, 845),
}

# Arrows into CLOSE from these states go to the top box (a connection that never opened goes
# back to where it started); from every other state they go to the end box at the bottom.
_OPENING = frozenset({"CLOSE", "LISTEN", "SYN_SENT", "NEW_SYN_RECV", "SYN_RECV"})

# Table rows whose action creates another socket: a listener's SYN makes a request socket.
# The table keeps the listener in LISTEN, so this arrow is drawn apart (dashed, class "spawn").
_SPAWNS = {"make_request": "NEW_SYN_RECV"}

# The transitions of RFC 9293's figure (in Linux's names), drawn dark; resets, aborts,
# timeouts and what Linux adds of its own are drawn grey, so the textbook path stands out.
_TEXTBOOK = frozenset({
    ("CLOSE", "LISTEN"), ("LISTEN", "CLOSE"), ("CLOSE", "SYN_SENT"), ("SYN_SENT", "CLOSE"),
    ("LISTEN", "NEW_SYN_RECV"), ("SYN_SENT", "SYN_RECV"), ("SYN_SENT", "ESTABLISHED"),
    ("NEW_SYN_RECV", "ESTABLISHED"), ("SYN_RECV", "ESTABLISHED"), ("SYN_RECV", "FIN_WAIT1"),
    ("ESTABLISHED", "FIN_WAIT1"), ("ESTABLISHED", "CLOSE_WAIT"), ("FIN_WAIT1", "FIN_WAIT2"),
    ("FIN_WAIT1", "CLOSING"), ("FIN_WAIT2", "TIME_WAIT"), ("CLOSING", "TIME_WAIT"),
    ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", END), ("TIME_WAIT", END),
})

# Hand-routed arrows, where a straight line would run through a box, along another arrow, or
# into CLOSE at the same point as the others: (where it leaves, control point, where it
# enters), a port being a side of the box and a shift along it.  The other arrows are
# straight, or bent apart when the reverse arrow exists.
_ROUTES: dict[tuple[str, str], tuple[tuple[str, float], Point, tuple[str, float]]] = {
    ("NEW_SYN_RECV", "CLOSE"): (("right", -6), (520, 240), ("bottom", 8)),
    ("ESTABLISHED", END): (("bottom", 20), (660, 680), ("top", 0)),
    ("FIN_WAIT1", END): (("right", 6), (600, 620), ("top", -26)),
    ("CLOSING", END): (("right", 8), (690, 760), ("top", -52)),
    ("FIN_WAIT2", END): (("bottom", -30), (300, 960), ("bottom", -40)),  # under TIME_WAIT
    ("TIME_WAIT", END): (("right", 0), (640, 845), ("left", 0)),
    ("LAST_ACK", END): (("bottom", -40), (880, 790), ("top", 50)),
    ("CLOSE_WAIT", END): (("right", 6), (1130, 760), ("right", 4)),  # round LAST_ACK
}
# Where a label goes first, as (position along the arrow 0..1, side: 1 left of its direction,
# -1 right), where the search's own first choice would sit nearer another arrow.
_LABEL_AT: dict[tuple[str, str], tuple[float, int]] = {
    ("NEW_SYN_RECV", "ESTABLISHED"): (0.5, 1),
    ("SYN_RECV", "ESTABLISHED"): (0.45, -1),
    ("ESTABLISHED", END): (0.4, 1),
    ("LAST_ACK", END): (0.3, -1),
    ("FIN_WAIT2", END): (0.1, -1),
}
_LOOP_SIDE = {"LISTEN": "left", "SYN_SENT": "right", "NEW_SYN_RECV": "left",
              "TIME_WAIT": "left"}

# Where no label may go: the title, the start marker, the two legends (the path's legend in
# the room right of the opening states).
_RESERVED = ((0, 0, WIDTH, 48), (16, 52, 250, 80), (340, 70, 90, 40), (890, 300, 205, 260))
PATH_LEGEND = (892, 312)

LABEL_SIZE = 11.0
LABEL_LINE = 13.0
LABEL_WRAP = 150.0  # px: a label's phrases wrap onto a new line beyond this
# Okabe and Ito's colour-blind-safe palette (Color Universal Design, 2008), without its
# yellow, which vanishes on white: each socket's path stays apart for every kind of colour
# vision.  GREY (the edges outside the textbook's figure) is dark enough to survive a
# projector (contrast 4.6:1 on white; #9aa5b1 was 2.5:1).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
INK, GREY = "#2c3e50", "#6b7785"

@dataclass(frozen=True)
class Edge:
    """One arrow of the diagram: every table row from `src` to `dst`, merged."""

    src: str  # a diagram node: a state, or END
    dst: str
    rules: tuple[Rule, ...]
    kind: str  # "rule" (rows of the table) or "spawn" (a row's action creates `dst`)
    curve: tuple[Point, Point, Point]  # quadratic Bezier: start, control, end
    label: tuple[str, ...]  # the events, wrapped into lines
    label_box: tuple[float, float, float, float]  # x, y, w, h

    @property
    def events(self) -> list[str]:
        return [r.event for r in self.rules]

    @property
    def textbook(self) -> bool:
        return (self.src, self.dst) in _TEXTBOOK

    def tooltip(self) -> str:
        """One line per table row: STATE --event--> NEXT and where the rule comes from."""
        nxt = "CLOSE" if self.dst == END else self.dst
        note = f" · {t('diagram.legend.spawn')}" if self.kind == "spawn" else ""
        return "\n".join(f"{r.state} --{r.event}--> {nxt}{note} · {citation(r)}"
                         for r in self.rules)


@dataclass(frozen=True)
class Step:
    """One state change the model made, numbered in time order across all sockets."""

    n: int
    t: float
    socket: str
    old: str
    event: str
    new: str
    edge: tuple[str, str] | None  # the diagram's arrow it followed; None when it has none


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Point]
    edges: tuple[Edge, ...]

    def edge(self, src: str, dst: str) -> Edge | None:
        return next((e for e in self.edges if (e.src, e.dst) == (src, dst)), None)


def node_of(state: str, old: str) -> str:
    """The box an arrow from `old` into `state` ends at (CLOSE is drawn twice)."""
    return END if state == "CLOSE" and old not in _OPENING else state


def state_graph():
    """The diagram as a networkx DiGraph: the table's graph() with parallel rows merged into
    one edge per (state, next) pair (attribute `rules`), the bottom CLOSE as node END, and the
    request-socket arrow as an edge of kind "spawn"."""
    import networkx as nx

    from ..model.table import graph

    g = nx.DiGraph()
    for s in STATES:
        g.add_node(s, label=s, pos=POS[s])
    g.add_node(END, label="CLOSE", pos=POS[END])
    by_event = {(r.state, r.event): r for r in RULES}
    for u, v, data in graph().edges(data=True):
        r = by_event[(u, data["event"])]
        key = (u, node_of(v, u))
        if not g.has_edge(*key):
            g.add_edge(*key, rules=[], kind="rule")
        g.edges[key]["rules"].append(r)
        for action in r.actions:
            if action in _SPAWNS:
                g.add_edge(u, _SPAWNS[action], rules=[r], kind="spawn")
    return g


# -- geometry -----------------------------------------------------------------------------
def _bezier(c: tuple[Point, Point, Point], s: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2) = c
    a, b, d = (1 - s) ** 2, 2 * (1 - s) * s, s * s
    return a * x0 + b * x1 + d * x2, a * y0 + b * y1 + d * y2


def _normal(c: tuple[Point, Point, Point], s: float) -> Point:
    """The unit normal of the curve at s (the tangent turned a quarter to the left)."""
    (x0, y0), (x1, y1), (x2, y2) = c
    dx = 2 * (1 - s) * (x1 - x0) + 2 * s * (x2 - x1)
    dy = 2 * (1 - s) * (y1 - y0) + 2 * s * (y2 - y1)
    n = math.hypot(dx, dy) or 1.0
    return dy / n, -dx / n


def _samples(c, k: int = 40) -> list[Point]:
    return [_bezier(c, i / k) for i in range(k + 1)]


def _clip(centre: Point, toward: Point) -> Point:
    """Where the line from a box's centre toward a point leaves the box."""
    dx, dy = toward[0] - centre[0], toward[1] - centre[1]
    s = min(BOX_W / 2 / abs(dx) if dx else math.inf, BOX_H / 2 / abs(dy) if dy else math.inf)
    return centre[0] + dx * s, centre[1] + dy * s


def _loop(state: str) -> tuple[Point, Point, Point]:
    x, y = POS[state]
    side = _LOOP_SIDE.get(state, "top")
    if side in ("left", "right"):
        sx = -1 if side == "left" else 1
        edge_x = x + sx * BOX_W / 2
        return (edge_x, y - 12), (edge_x + sx * 80, y), (edge_x, y + 12)
    sy = -1 if side == "top" else 1
    edge_y = y + sy * BOX_H / 2
    return (x - 16, edge_y), (x, edge_y + sy * 64), (x + 16, edge_y)


def _port(state: str, side: str, shift: float) -> Point:
    x, y = POS[state]
    if side in ("left", "right"):
        return x + (BOX_W / 2 if side == "right" else -BOX_W / 2), y + shift
    return x + shift, y + (BOX_H / 2 if side == "bottom" else -BOX_H / 2)


def _curve(src: str, dst: str, reverse: bool) -> tuple[Point, Point, Point]:
    if src == dst:
        return _loop(src)
    if (src, dst) in _ROUTES:
        out, control, into = _ROUTES[(src, dst)]
        return _port(src, *out), control, _port(dst, *into)
    a, b = POS[src], POS[dst]
    if not reverse:
        p0, p1 = _clip(a, b), _clip(b, a)
        return p0, ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2), p1
    # an arrow and its reverse bow apart, each to its own left
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    nx_, ny_ = (b[1] - a[1]) / length, -(b[0] - a[0]) / length
    control = (a[0] + b[0]) / 2 + 26 * nx_, (a[1] + b[1]) / 2 + 26 * ny_
    return _clip(a, control), control, _clip(b, control)


def _wrap(text: str, width: float) -> list[str]:
    """The text broken at spaces into lines no wider than `width` px (a longer word stays
    whole)."""
    lines, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if line and text_width(trial, LABEL_SIZE) > width:
            lines.append(line)
            trial = word
        line = trial
    return lines + [line]


def _distance(box, p: Point) -> float:
    x, y, w, h = box
    return math.hypot(max(x - p[0], 0, p[0] - x - w), max(y - p[1], 0, p[1] - y - h))


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    return w * h if w > 0 and h > 0 else 0.0


def _place_label(curve, loop: bool, near_source: bool, hint, size: tuple[float, float], boxes,
                 placed, others: list[Point]) -> tuple:
    """The best free spot for a label beside its curve: off every box, label and curve, and
    far enough from the curve that a step badge on it does not cover the label."""
    w, h = size
    spots = []
    if loop:
        apex = _bezier(curve, 0.5)
        nx_, ny_ = _normal(curve, 0.5)
        nx_, ny_ = -nx_, -ny_  # outward, away from the box
        reach = abs(nx_) * w / 2 + abs(ny_) * h / 2 + 4
        for shift in (0, 14, -14, 28, -28):
            spots.append((apex[0] + nx_ * reach - ny_ * shift, apex[1] + ny_ * reach + nx_ * shift))
    else:
        # an abort's label reads best near the state it leaves: many of them meet at CLOSE
        order = ((0.3, 0.38, 0.22, 0.46, 0.54, 0.14, 0.62, 0.7) if near_source
                 else (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82))
        tries = ([hint] if hint else []) + [(s, side) for s in order for side in (1, -1)]
        for s, side in tries:
            px, py = _bezier(curve, s)
            nx_, ny_ = _normal(curve, s)
            reach = abs(nx_) * w / 2 + abs(ny_) * h / 2 + 11
            spots.append((px + side * nx_ * reach, py + side * ny_ * reach))
    own = _samples(curve)
    best, best_score = None, math.inf
    for rank, (cx, cy) in enumerate(spots):
        box = (cx - w / 2, cy - h / 2, w, h)
        score = rank * 0.5
        if box[0] < 4 or box[1] < 4 or box[0] + w > WIDTH - 4 or box[1] + h > HEIGHT - 4:
            score += 10_000
        score += 50 * sum(_overlap(box, b) for b in boxes)
        score += 50 * sum(_overlap(box, b) for b in placed)
        near = [_distance(box, p) for p in others
                if box[0] - 60 < p[0] < box[0] + w + 60 and box[1] - 60 < p[1] < box[1] + h + 60]
        score += 30 * near.count(0.0)
        # a label nearer another arrow than its own would be read as that arrow's
        score += 4 * max(0.0, min(_distance(box, p) for p in own) + 8 - min(near, default=60))
        if score < best_score:
            best, best_score = box, score
    return best


# The textbook's event / action form of a row (RFC 793's figure 6: "rcv SYN / snd SYN,ACK"):
# the actions a reader sees on the wire; the model's bookkeeping (a request socket made, the
# TIME_WAIT timer armed) and the error a call returns are in the tooltip, not the label.
_SHOWN_ACTIONS = ("send_syn", "send_synack", "send_ack", "schedule_ack", "send_fin",
                  "send_active_rst", "reset_reply", "reset_children")


def edge_label(rules) -> list[list[str]]:
    """An arrow's label as the textbooks write it: "rcv SYN / snd SYN,ACK", the events of rows
    with the same actions together ("close, shutdown(WR) / snd FIN"): one group per set of
    actions, each a list of phrases that are not broken (the events, then "/ actions")."""
    groups: dict[str, list[str]] = {}
    for r in rules:
        acts = list(dict.fromkeys(t(f"diagram.act.{a}") for a in r.actions
                                  if a in _SHOWN_ACTIONS))
        groups.setdefault(", ".join(acts), []).append(t(f"diagram.ev.{r.event}"))
    return [evs + ([f"/ {acts}"] if acts else []) for acts, evs in groups.items()]


def _pack(phrases: list[str], width: float) -> list[str]:
    """Phrases into lines no wider than width px, whole (one wider than width alone on its
    line): events joined by ", ", the actions after " "."""
    lines, line = [], ""
    for ph in phrases:
        sep = "" if not line else " " if ph.startswith("/ ") else ", "
        trial = line + sep + ph
        if line and text_width(trial + ("," if sep == ", " else ""), LABEL_SIZE) > width:
            lines.append(line + ("," if not ph.startswith("/ ") else ""))
            trial = ph
        line = trial
    return lines + [line]


def layout() -> Layout:
    """The diagram in pixels: fixed boxes, curved arrows, labels where they are readable (in
    the current language)."""
    from ..i18n import lang

    return _layout(lang())


@lru_cache(maxsize=2)
def _layout(language: str) -> Layout:
    g = state_graph()
    pending = []
    for u, v, data in g.edges(data=True):
        curve = _curve(u, v, g.has_edge(v, u) and u != v)
        pending.append((u, v, tuple(data["rules"]), data["kind"], curve))
    boxes = [(x - BOX_W / 2 - 3, y - BOX_H / 2 - 3, BOX_W + 6, BOX_H + 6) for x, y in POS.values()]
    boxes += list(_RESERVED)
    curves = [c for *_, c in pending]
    placed: list[tuple] = []
    labels = {}
    # big labels first, so they get the best spots; ties in table order keep it deterministic
    order = sorted(range(len(pending)), key=lambda i: -len(pending[i][2]))
    for i in order:
        u, v, rules, kind, curve = pending[i]
        lines = tuple(line for group in edge_label(rules) for line in _pack(group, LABEL_WRAP))
        size = (max(text_width(x, LABEL_SIZE) for x in lines) + 6, LABEL_LINE * len(lines) + 4)
        near_source = v == END and (u, v) not in _TEXTBOOK
        box = _place_label(curve, u == v, near_source, _LABEL_AT.get((u, v)), size, boxes, placed,
                           [p for j, c in enumerate(curves) if j != i for p in _samples(c)[2:-2]])
        placed.append(box)
        labels[i] = (lines, box)
    edges = tuple(Edge(u, v, rules, kind, curve, *labels[i])
                  for i, (u, v, rules, kind, curve) in enumerate(pending))
    return Layout(dict(POS), edges)


# -- the path of a program ----------------------------------------------------------------
def path_steps(trace) -> list[Step]:
    """The model's own state changes in a Trace (those with a table row), in time order,
    numbered from 1, each with the diagram arrow it followed."""
    lay = layout()
    out = []
    changes = [s for s in trace.states if s.via == "transition" and s.rule]
    for n, s in enumerate(sorted(changes, key=lambda s: s.t), 1):
        old, event = s.rule.split(" ", 1)
        arrow = _arrow_for(lay, old, event, s.state)
        out.append(Step(n, s.t, s.socket, old, event, s.state, arrow))
    return out


def _arrow_for(lay: Layout, old: str, event: str, new: str) -> tuple[str, str] | None:
    key = (old, node_of(new, old))
    if lay.edge(*key):
        return key
    # a request socket is born in NEW_SYN_RECV (the trace says "CLOSE rcv_syn"): the arrow
    # is the listener's row that made it
    for e in lay.edges:
        if e.kind == "spawn" and e.dst == new and event in e.events:
            return e.src, e.dst
    return None


def socket_colours(steps: list[Step]) -> dict[str, str]:
    """A colour per socket, in the order the sockets first moved."""
    out: dict[str, str] = {}
    for st in steps:
        out.setdefault(st.socket, PALETTE[len(out) % len(PALETTE)])
    return out


# -- drawing ------------------------------------------------------------------------------
def render_states(program_trace=None, program_name: str | None = None) -> Canvas:
    """The full state diagram; with a Trace, the path each socket took, numbered in time order."""
    lay = layout()
    steps = path_steps(program_trace) if program_trace is not None else []
    colours = socket_colours(steps)
    c = Canvas(WIDTH, HEIGHT)
    if program_trace is not None:
        title = t("diagram.path.title", program=program_name or program_trace.program or "?")
    else:
        title = t("diagram.states.title")
    c.text(WIDTH / 2, 30, title, size=17, bold=True, anchor="middle", color=INK, cls="title")

    for e in lay.edges:
        colour = INK if e.textbook else GREY
        _stroke(c, e.curve, color=colour, width=1.6 if e.textbook else 1.2,
                dash="6 4" if e.kind == "spawn" else "",
                cls="edge" if e.kind == "rule" else "spawn", title=e.tooltip())
    for e in lay.edges:
        colour = INK if e.textbook else GREY
        c.arrowhead(*e.curve[1], *e.curve[2], color=colour, size=9 if e.textbook else 8)
    _start_marker(c)
    _draw_path(c, lay, steps, colours)
    for e in lay.edges:
        x, y, w, h = e.label_box
        c.rect(x, y, w, h, fill="#ffffff", radius=3, cls="label-bg")
        for k, line in enumerate(e.label):
            c.text(x + w / 2, y + 2 + LABEL_LINE * (k + 1) - 2.5, line, size=LABEL_SIZE,
                   anchor="middle", color="#1d2b38" if e.textbook else "#4f5b66",
                   cls="edge-label", title=e.tooltip())
    visited = {s.old for s in steps} | {s.new for s in steps}
    for name, (x, y) in lay.nodes.items():
        state = "CLOSE" if name == END else name
        on_path = state in visited
        c.rect(x - BOX_W / 2, y - BOX_H / 2, BOX_W, BOX_H, fill="#fff7d6" if on_path else "#eef3fb",
               color=INK, width=2.2 if on_path else 1.4, radius=9, cls="state",
               title=state if name != END else f"CLOSE ({t('diagram.end')})")
        rfc = RFC_NAMES.get(state, state)
        if rfc.replace("-", "_") == state:  # the same name but for its punctuation
            c.text(x, y + 5, state, size=13, bold=True, anchor="middle", color=INK,
                   cls="state-name")
        else:  # Linux's name, and under it RFC 9293's (the textbooks')
            c.text(x, y + 1, state, size=13, bold=True, anchor="middle", color=INK,
                   cls="state-name")
            c.text(x, y + 13, rfc, size=9.5, anchor="middle", color="#4f5b66",
                   cls="state-rfc-name", title=t("diagram.rfc_name", rfc=rfc))
    _draw_badges(c, lay, steps, colours)
    _legend(c, steps, colours)
    return c


def _stroke(c: Canvas, curve, **style) -> None:
    """A curve, or a line when it is straight: Pillow draws a wide polyline with kinks where
    its short segments meet, so a straight arrow goes as one segment."""
    (x0, y0), (cx, cy), (x1, y1) = curve
    if abs((x1 - x0) * (cy - y0) - (y1 - y0) * (cx - x0)) < 1e-6:
        c.line(x0, y0, x1, y1, **style)
    else:
        c.curve(curve, **style)


def _start_marker(c: Canvas) -> None:
    x, y = POS["CLOSE"]
    left = x - BOX_W / 2
    c.circle(left - 130, y, 6, fill=INK, color=INK, cls="start")
    c.line(left - 124, y, left - 2, y, color=INK, width=1.6, arrow=True, cls="start-edge")
    c.text(left - 130, y - 14, t("diagram.start"), size=LABEL_SIZE, anchor="middle",
           color="#1d2b38", cls="start-label")


def _offset(curve, d: float):
    """The curve moved sideways by d px (start, control and end along the chord's normal)."""
    (x0, y0), _, (x2, y2) = curve
    n = math.hypot(x2 - x0, y2 - y0) or 1.0
    nx_, ny_ = (y2 - y0) / n, -(x2 - x0) / n
    return tuple((x + nx_ * d, y + ny_ * d) for x, y in curve)


def _draw_path(c: Canvas, lay: Layout, steps: list[Step], colours: dict[str, str]) -> None:
    # sockets that took the same arrow run side by side in lanes 3.5 px apart
    lanes: dict[tuple, list[str]] = {}
    for st in steps:
        socks = lanes.setdefault(_arrow_key(st), [])
        if st.socket not in socks:
            socks.append(st.socket)
    for st in steps:
        socks = lanes[_arrow_key(st)]
        d = (socks.index(st.socket) - (len(socks) - 1) / 2) * 3.5
        curve = _step_curve(lay, st)
        tip = f"{st.n}. {st.socket}: {st.old} --{st.event}--> {st.new} (t = {st.t * 1000:.3f} ms)"
        moved = _offset(curve, d)
        _stroke(c, moved, color=colours[st.socket], width=3.2, dash="" if st.edge else "3 3",
                cls="path-edge", title=tip)
        c.arrowhead(*moved[1], *moved[2], color=colours[st.socket], size=11)


def _arrow_key(st: Step) -> tuple[str, str]:
    return st.edge or (st.old, st.new)


def _step_curve(lay: Layout, st: Step):
    if st.edge:
        return lay.edge(*st.edge).curve
    # a step the table has no arrow for: a straight dashed line, so no step goes unseen
    a, b = lay.nodes[st.old], lay.nodes[node_of(st.new, st.old)]
    p0, p1 = _clip(a, b), _clip(b, a)
    return p0, ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2), p1


def _arc_points(curve, spacing: float, count: int) -> list[Point]:
    """`count` points `spacing` px apart along the curve, centred on its middle."""
    pts = _samples(curve, 80)
    acc = [0.0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        acc.append(acc[-1] + math.hypot(x1 - x0, y1 - y0))
    total = acc[-1]
    out = []
    for k in range(count):
        want = min(max(total / 2 + (k - (count - 1) / 2) * spacing, 12), total - 14)
        i = next((j for j, a in enumerate(acc) if a >= want), len(acc) - 1)
        out.append(pts[i])
    return out


def _draw_badges(c: Canvas, lay: Layout, steps: list[Step], colours: dict[str, str]) -> None:
    on_arrow: dict[tuple, list[Step]] = {}
    for st in steps:
        on_arrow.setdefault(_arrow_key(st), []).append(st)
    for group in on_arrow.values():
        curve = _step_curve(lay, group[0])
        for st, (x, y) in zip(group, _arc_points(curve, 21, len(group))):
            r = 9.5 if st.n < 10 else 10.5
            c.circle(x, y, r, fill=colours[st.socket], color="#ffffff", width=1.5, cls="step-badge")
            c.text(x, y + 3.8, str(st.n), size=10.5, bold=True, anchor="middle", color="#ffffff",
                   cls="step", title=f"{st.n}. {st.socket}: {st.old} --{st.event}--> {st.new}")


def _legend(c: Canvas, steps: list[Step], colours: dict[str, str]) -> None:
    x, y = 20, 66
    for colour, width, dash, key in ((INK, 1.6, "", "diagram.legend.rfc"),
                                     (GREY, 1.2, "", "diagram.legend.other"),
                                     (GREY, 1.2, "6 4", "diagram.legend.spawn")):
        c.line(x, y - 4, x + 26, y - 4, color=colour, width=width, dash=dash, cls="legend")
        c.text(x + 32, y, t(key), size=LABEL_SIZE, color="#1d2b38", cls="legend")
        y += 17
    if not steps:
        return
    x, y = PATH_LEGEND
    header = t("diagram.legend.path", sockets=", ".join(colours))
    for line in _wrap(header, 195) + _wrap(t("diagram.legend.order"), 195):
        c.text(x, y, line, size=LABEL_SIZE, color="#1d2b38", cls="legend")
        y += 14
    y += 6
    for sock, colour in colours.items():
        numbers = [str(s.n) for s in steps if s.socket == sock]
        c.line(x, y - 4, x + 22, y - 4, color=colour, width=3.2, cls="legend")
        c.text(x + 28, y, sock, size=LABEL_SIZE, bold=True, color=colour, cls="legend")
        c.text(x + 34 + text_width(sock, LABEL_SIZE, bold=True), y, " ".join(numbers), size=LABEL_SIZE - 1,
               color="#4f5b66", cls="legend")
        y += 16


# -- Graphviz and Mermaid -----------------------------------------------------------------
def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _numbered(e: Edge, steps: list[Step]) -> list[str]:
    """The events of an arrow, each prefixed with the steps that took it ("1, 4: connect")."""
    out = []
    for ev in e.events:
        ns = [str(s.n) for s in steps if s.edge == (e.src, e.dst) and s.event == ev]
        out.append(f"{', '.join(ns)}: {ev}" if ns else ev)
    # a step whose event is not the row's own (the trace's name for it differs) still shows
    extra = [f"{s.n}: {s.event}" for s in steps
             if s.edge == (e.src, e.dst) and s.event not in e.events]
    return out + extra


def to_dot(program_trace=None) -> str:
    """The diagram as Graphviz DOT text; with a Trace, the path edges coloured and numbered."""
    lay = layout()
    steps = path_steps(program_trace) if program_trace is not None else []
    colours = socket_colours(steps)
    title = (t("diagram.path.title", program=program_trace.program or "?")
             if program_trace is not None else t("diagram.states.title"))
    out = ["digraph tcp_states {",
           f"  graph [label={_dot_str(title)}, labelloc=t, fontsize=16, nodesep=0.45, "
           "ranksep=0.5, fontname=\"DejaVu Sans\"];",
           '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#2c3e50", '
           'fontname="DejaVu Sans Bold", fontsize=12];',
           '  edge [fontname="DejaVu Sans", fontsize=10, color="#2c3e50"];',
           f'  start [shape=point, width=0.12, style=filled, fillcolor="#2c3e50", label="", '
           f'xlabel={_dot_str(t("diagram.start"))}];',
           "  start -> CLOSE;"]
    visited = {s.old for s in steps} | {s.new for s in steps}
    for name in lay.nodes:
        state = "CLOSE" if name == END else name
        extra = ', fillcolor="#fff7d6", penwidth=2' if state in visited else ""
        out.append(f"  {name} [label={_dot_str(state)}{extra}];")
    for e in lay.edges:
        attrs = [f"label={_dot_str(chr(10).join(_numbered(e, steps)))}",
                 f"tooltip={_dot_str(e.tooltip())}"]
        if not e.textbook:
            attrs.append('color="#6b7785", fontcolor="#4f5b66"')
        if e.kind == "spawn":
            attrs.append("style=dashed")
        socks = list(dict.fromkeys(s.socket for s in steps if s.edge == (e.src, e.dst)))
        if socks:
            attrs.append(f'color="{":".join(colours[s] for s in socks)}", penwidth=2.5')
        out.append(f"  {e.src} -> {e.dst} [{', '.join(attrs)}];")
    for st in steps:
        if st.edge is None:
            label = _dot_str(f"{st.n}: {st.event}")
            out.append(f"  {st.old} -> {node_of(st.new, st.old)} [label={label}, "
                       f'style=dashed, color="{colours[st.socket]}", penwidth=2.5];')
    if steps:
        rows = "".join(f'<tr><td bgcolor="{colour}">  </td><td align="left">{_html(sock)}: '
                       f'{" ".join(str(s.n) for s in steps if s.socket == sock)}</td></tr>'
                       for sock, colour in colours.items())
        out.append(f'  legend [shape=none, style="", label=<<table border="0" cellspacing="2">'
                   f'<tr><td colspan="2">{_html(t("diagram.legend.order"))}</td></tr>'
                   f"{rows}</table>>];")
    out.append("}")
    return "\n".join(out) + "\n"


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mermaid(program_trace=None) -> str:
    """The diagram as a Mermaid stateDiagram-v2 block (without the ``` fence)."""
    lay = layout()
    steps = path_steps(program_trace) if program_trace is not None else []
    title = (t("diagram.path.title", program=program_trace.program or "?")
             if program_trace is not None else t("diagram.states.title"))
    out = ["stateDiagram-v2", f"    %% {title}", "    [*] --> CLOSE"]
    for e in lay.edges:
        dst = "CLOSE" if e.dst == END else e.dst  # Mermaid lays it out itself: one CLOSE
        out.append(f"    {e.src} --> {dst} : {', '.join(_numbered(e, steps))}")
    for st in steps:
        if st.edge is None:
            out.append(f"    {st.old} --> {st.new} : {st.n}: {st.event}")
    if steps:
        for sock, colour in socket_colours(steps).items():
            numbers = " ".join(str(s.n) for s in steps if s.socket == sock)
            out.append(f"    %% {sock} ({colour}): steps {numbers}")
        visited = sorted({s.old for s in steps} | {s.new for s in steps}, key=STATES.index)
        out.append("    classDef visited fill:#fff7d6,stroke:#2c3e50,stroke-width:2px")
        out.append(f"    class {', '.join(visited)} visited")
    return "\n".join(out) + "\n"


def render_with_dot(dot_text: str, fmt: str) -> bytes:
    """Graphviz's own layout of `to_dot` text, as svg or png bytes."""
    exe = shutil.which("dot")
    if exe is None:
        raise TcpsimError("Graphviz's dot is not installed (apt install graphviz); the built-in "
                          "layout (--engine builtin, the default) needs nothing")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise TcpsimError(f"Graphviz's dot did not run ({e}); use --engine builtin")
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise TcpsimError(f"Graphviz's dot failed: {first}; use --engine builtin")
    return done.stdout
