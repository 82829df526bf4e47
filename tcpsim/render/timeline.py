"""A Trace as a readable timeline: calls, segments (relative numbers) and state changes."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..trace import Call, RelSegment, Segment, State, Trace, format_options

_STYLE = {"call": "bold", "segment": "cyan", "state": "yellow", "bad": "bold red", "dim": "dim"}


def endpoint_namer(trace: Trace):
    """'127.0.0.1:8080' -> 'server:8080', from the sockets the program had (wildcards too)."""
    names = trace.endpoint_names()

    def name(ep: str) -> str:
        port = ep.rsplit(":", 1)[1]
        owner = names.get(ep) or names.get(f"0.0.0.0:{port}") or names.get(f"[::]:{port}")
        return f"{owner}:{port}" if owner else ep

    return name


def segment_text(rel: RelSegment, name=str) -> str:
    seg = rel.seg
    parts = [f"{name(seg.src)} > {name(seg.dst)}", f"[{seg.flags}]", f"seq {rel.seq}"]
    if seg.has_ack:
        parts.append(f"ack {rel.ack}")
    parts.append(f"win {seg.win}")
    if rel.options:
        parts.append(f"<{format_options(rel.options)}>")
    parts.append(f"len {seg.length}")
    return "  ".join(parts)


def call_text(ev: Call) -> str:
    if ev.kind == "return":
        head = f"... {ev.text.split('(', 1)[0].split('=')[-1].strip()} returns"
    else:
        head = ev.text
    if ev.blocked and ev.result is None:
        return f"{head} ... blocks"
    if ev.result is None:
        return head
    if ev.text.startswith("sleep") or ev.text.startswith("exit"):
        return head if ev.kind == "call" else f"... {ev.text} is over"
    result = f"-1 {ev.errno}" if ev.errno else str(ev.result)
    out = f"{head} = {result}"
    if ev.value and ev.value != str(ev.result):
        out += f" ({ev.value})"
    if ev.data is not None:
        shown = ev.data[:40].decode("latin-1").encode("unicode_escape").decode("ascii")
        out += f'  "{shown}"' + ("..." if len(ev.data) > 40 else "")
    return out


def state_text(ev: State) -> str:
    out = f"{ev.socket}: {ev.state}"
    if ev.queue is not None:
        out += f" (accept queue {ev.queue}, backlog {ev.backlog})"
    if ev.via == "sock_diag":
        out += "  (freed)" if ev.state == "CLOSE" else "  (in the kernel's socket table)"
    return out


def render_timeline(trace: Trace, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    name = endpoint_namer(trace)
    rel = {id(r.seg): r for r in trace.relative()}
    shown: dict[str, tuple] = {}
    for ev in trace.events:
        if isinstance(ev, State):
            prev = shown.get(ev.socket)
            if prev and prev[0] == ev.state and (ev.queue is None or prev[1] == ev.queue):
                continue  # the observation only confirms the step already shown
            shown[ev.socket] = (ev.state, ev.queue)
        line = Text(f"{ev.t * 1000:10.3f}  ", style=_STYLE["dim"])
        if isinstance(ev, Call):
            line.append(f"{ev.process:<8} ", style="bold magenta")
            line.append(call_text(ev), style=_STYLE["call"])
            if ev.ok is False:
                line.append(f"   expected = {ev.expected}", style=_STYLE["bad"])
        elif isinstance(ev, Segment):
            line.append(" " * 9)
            line.append(segment_text(rel[id(ev)], name), style=_STYLE["segment"])
        elif isinstance(ev, State):
            line.append(" " * 9)
            line.append(state_text(ev), style=_STYLE["state"])
        console.print(line, soft_wrap=True)


def render_header(trace: Trace, console: Console) -> None:
    k = trace.kernel
    sysctl = trace.sysctls
    facts = [f"Linux {k.get('release', '?')}", f"lo MTU {k.get('lo_mtu', '?')}"]
    for key, label in (("net.ipv4.tcp_rmem", "tcp_rmem"), ("net.ipv4.tcp_timestamps", "timestamps"),
                       ("net.ipv4.tcp_sack", "sack")):
        if key in sysctl:
            facts.append(f"{label} {sysctl[key]}")
    console.print(Text(f"tcpsim {trace.source}: {trace.program}", style="bold"), soft_wrap=True)
    console.print(Text(" · ".join(facts), style="dim"), soft_wrap=True)
    console.print(Text("       t ms  who      event", style="dim underline"))


def render_summary(trace: Trace, console: Console) -> None:
    calls = [c for c in trace.calls if c.result is not None]
    failed = [c for c in calls if c.ok is False]
    console.print()
    line = Text(f"{len(trace.segments)} segments, {len(calls)} calls; ")
    if failed:
        line.append(f"{len(failed)} result(s) differ from the program's expectations", style="bold red")
    else:
        line.append("every expected result matched", style="green")
    console.print(line, soft_wrap=True)
    final: dict[str, State] = {}
    for st in trace.states:
        final[st.socket] = st
    left = [st for st in final.values() if st.state != "CLOSE"]
    if left:
        console.print("At the end: " + ", ".join(f"{s.socket} {s.state}" for s in left)
                      + (" (TIME_WAIT lasts 60 s)" if any(s.state == "TIME_WAIT" for s in left) else ""),
                      soft_wrap=True)
    for note in trace.notes:
        console.print(Text(note, style="yellow"))
