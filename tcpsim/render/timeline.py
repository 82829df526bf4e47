"""A Trace as a readable timeline: calls, segments (relative numbers) and state changes."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..i18n import t
from ..trace import Call, RelSegment, Segment, State, Trace, format_options

_STYLE = {"call": "bold", "segment": "cyan", "state": "yellow", "bad": "bold red", "dim": "dim"}


def endpoint_namer(trace: Trace):
    """'127.0.0.1:8080' -> 'server:8080', from the sockets the program had (wildcards too)."""
    known = trace.owner()

    def name(ep: str) -> str:
        owner = known(ep)
        return f"{owner}:{ep.rsplit(':', 1)[1]}" if owner else ep

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
    if seg.copy:  # a net: duplicate line's: the sender's TCP did not send it
        parts.append(t("seg.copy"))
    return "  ".join(parts)


def call_text(ev: Call) -> str:
    if ev.kind == "return":
        head = t("call.returns", name=ev.text.split('(', 1)[0].split('=')[-1].strip())
    else:
        head = ev.text
    if ev.blocked and ev.result is None:
        return t("call.blocks", head=head)
    if ev.result is None:
        return head
    if ev.text.startswith("sleep") or ev.text.startswith("exit"):
        return head if ev.kind == "call" else t("call.over", text=ev.text)
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
        out += t("state.queue", queue=ev.queue, backlog=ev.backlog)
    if ev.via == "sock_diag":
        out += t("state.freed") if ev.state == "CLOSE" else t("state.table")
    return out


def render_timeline(trace: Trace, console: Console | None = None, explain: bool = False) -> None:
    """One line per call, segment and state change; with explain, a line under each saying
    why it happened (tcpsim/teach/explain.py), in the current language."""
    console = console or Console(highlight=False, emoji=False)
    name = endpoint_namer(trace)
    rel = {id(r.seg): r for r in trace.relative()}
    whys = {}
    if explain:
        from ..teach import explain as explain_trace

        whys = explain_trace(trace)
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
        why = whys.get(id(ev))
        if why is not None:
            console.print(Text(" " * 21 + "↳ " + why.line(), style="dim italic"), soft_wrap=True)


def render_header(trace: Trace, console: Console) -> None:
    k = trace.kernel
    sysctl = trace.sysctls
    facts = [f"Linux {k.get('release', '?')}", f"lo MTU {k.get('lo_mtu', '?')}"]
    for key, label in (("net.ipv4.tcp_rmem", "tcp_rmem"), ("net.ipv4.tcp_timestamps", "timestamps"),
                       ("net.ipv4.tcp_sack", "sack")):
        if key in sysctl:
            facts.append(f"{label} {sysctl[key]}")
    console.print(Text(t("run.title", source=t(f"source.{trace.source}"), program=trace.program), style="bold"),
                  soft_wrap=True)
    console.print(Text(" · ".join(facts), style="dim"), soft_wrap=True)
    console.print(Text(t("run.columns"), style="dim underline"))


def render_summary(trace: Trace, console: Console) -> None:
    calls = [c for c in trace.calls if c.result is not None]
    failed = [c for c in calls if c.ok is False]
    console.print()
    line = Text(t("summary.counts", segments=len(trace.segments), calls=len(calls)))
    if failed:
        line.append(t("summary.differ", n=len(failed)), style="bold red")
    else:
        line.append(t("summary.matched"), style="green")
    console.print(line, soft_wrap=True)
    final: dict[str, State] = {}
    for st in trace.states:
        final[st.socket] = st
    left = [st for st in final.values() if st.state != "CLOSE"]
    if left:
        console.print(t("summary.end", sockets=", ".join(f"{s.socket} {s.state}" for s in left))
                      + (t("summary.timewait") if any(s.state == "TIME_WAIT" for s in left) else ""),
                      soft_wrap=True)
    for note in trace.notes:
        console.print(Text(note, style="yellow"))
