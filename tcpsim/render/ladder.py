"""The ladder diagram of a Trace: two lanes per connection, arrows between them, in phases.

The phases are the textbook's three: connection establishment (the handshake, up to the ACK
that completes it), data transfer, connection release (from the first FIN or RST on).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from ..i18n import t
from ..trace import Call, RelSegment, Segment, State, Trace

LANE = 22
MIDDLE = 50
WIDTH = 2 * LANE + MIDDLE


def phases(rels: list[RelSegment]) -> list[int]:
    """The phase of each segment of one connection: 0 up to the ACK that completes the
    handshake, 1 after it, 2 from the first FIN or RST on."""
    out, phase, synack = [], 0, False
    for r in rels:
        if "F" in r.flags or "R" in r.flags:
            phase = 2
        elif phase == 0 and "S" in r.flags:
            synack = synack or "." in r.flags
        elif phase == 0 and synack:
            out.append(0)  # the third segment of the handshake
            phase = 1
            continue
        out.append(phase)
    return out


def _arrow(rel: RelSegment, rightward: bool, lost: bool = False) -> Text:
    """An arrow from the sender's lane to the receiver's; a lost segment's stops at ✗."""
    seg = rel.seg
    label = f" [{seg.flags}] seq {rel.seq}"
    if seg.has_ack:
        label += f" ack {rel.ack}"
    label += f" win {seg.win}"
    if seg.length:
        label += f" len {seg.length}"
    if seg.copy:
        label += " " + t("seg.copy.short")
    label += " "
    room = MIDDLE - 2 - len(label)
    if room < 2:
        label, room = label[: MIDDLE - 4] + " ", 2
    style = "bold red" if "R" in seg.flags else "cyan"
    if lost:  # it never arrived
        end = Text("✗", style="bold red")
        if rightward:
            return Text("──" + label + "─" * (room - 3), style=style) + end + Text("   ")
        return Text("   ") + end + Text("─" * (room - 3) + label + "──", style=style)
    if rightward:
        return Text("──" + label + "─" * room + "▶", style=style)
    return Text("◀" + "─" * room + label + "──", style=style)


def _lane(text: str, right: bool) -> str:
    text = text if len(text) <= LANE else text[: LANE - 1] + "…"
    return text.rjust(LANE) if right else text.ljust(LANE)


def _line(left: str = "", middle: Text | str = "", right: str = "", style: str = "") -> Text:
    t = Text(_lane(left, False), style=style or "bold magenta")
    t.append(middle if isinstance(middle, Text) else Text(str(middle).center(MIDDLE)))
    t.append(_lane(right, True), style=style or "bold magenta")
    return t


def _connections(trace: Trace) -> dict[tuple, list[RelSegment]]:
    conns: dict[tuple, list[RelSegment]] = {}
    for rel in trace.relative():
        conns.setdefault(rel.seg.conn_key, []).append(rel)
    return conns


def _labels_for(trace: Trace, local: str, remote: str) -> set[str]:
    out = set()
    for info in trace.sockets:
        if (local == info.local or local in info.seen) and info.remote in (remote, None):
            out.add(info.label)
    return out


def render_ladder(trace: Trace, console: Console | None = None) -> None:
    console = console or Console(highlight=False, emoji=False)
    known = trace.owner()

    def owner(ep: str) -> str:
        return known(ep) or ep

    conns = _connections(trace)
    single = len(conns) == 1
    from ..teach.explain import dropped, resent_marks

    lost, tags = dropped(trace), resent_marks(trace)
    for key, rels in conns.items():
        left_ep, right_ep = rels[0].seg.src, rels[0].seg.dst
        left, right = owner(left_ep), owner(right_ep)
        left_labels = _labels_for(trace, left_ep, right_ep)
        right_labels = _labels_for(trace, right_ep, left_ep)
        if single:
            right_labels |= {s.label for s in trace.sockets if s.process == right
                             and s.remote is None}
        ours = {id(r.seg) for r in rels}
        console.print()
        console.print(_line(f"{left} ({left_ep.rsplit(':', 1)[1]})", "",
                            f"{right} ({right_ep.rsplit(':', 1)[1]})", style="bold underline"),
                      soft_wrap=True)
        _phase_header(console, 0)
        shown = 0
        rel_of = {id(r.seg): r for r in rels}
        phase_of = {id(r.seg): p for r, p in zip(rels, phases(rels))}
        for ev in trace.events:
            if isinstance(ev, Segment):
                if id(ev) not in ours:
                    continue
                rel, phase = rel_of[id(ev)], phase_of[id(ev)]
                if phase != shown:
                    _phase_header(console, phase)
                    shown = phase
                tag = tags.get(id(ev), "")  # what sent it again, in the sender's lane
                right = ev.src == left_ep
                console.print(_line(tag if right else "", _arrow(rel, right, id(ev) in lost),
                                    "" if right else tag, style="bold dark_orange"),
                              soft_wrap=True)
            elif isinstance(ev, State) and (ev.socket in left_labels or ev.socket in right_labels):
                text = ev.state + (f" q{ev.queue}/{ev.backlog}" if ev.queue is not None else "")
                if ev.socket in left_labels:
                    console.print(_line(text, "", "", style="yellow"), soft_wrap=True)
                else:
                    console.print(_line("", "", text, style="yellow"), soft_wrap=True)
            elif isinstance(ev, Call) and single and ev.process in (left, right):
                text = _call_short(ev)
                console.print(_line(text if ev.process == left else "", "",
                                    text if ev.process == right else "", style="magenta"),
                              soft_wrap=True)


def _phase_header(console: Console, phase: int) -> None:
    title = f"── {t(f'phase.{phase}')} ({t(f'phase.note.{phase}')}) "
    console.print(Text(title, style="bold green")
                  + Text("─" * max(2, WIDTH - cell_len(title)), style="green"),
                  soft_wrap=True)


def _call_short(ev: Call) -> str:
    head = ev.text if ev.text.startswith(("sleep", "exit")) else ev.text.split("(", 1)[0] + "()"
    if ev.kind == "return":
        head = "↳ " + head
    if ev.blocked and ev.result is None:
        return head + " ..."
    if ev.result is None or ev.text.startswith(("sleep", "exit")):
        return head
    return f"{head} = {'-1 ' + ev.errno if ev.errno else ev.result}"
