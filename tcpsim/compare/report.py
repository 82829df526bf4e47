"""Reading a capture through the tracker, and showing what was found (text or JSON).

Connections are shown as they finish, so that a capture of any size is read in constant
memory: a few connections get their story each; many get a summary table with the ones that
depart from a conforming stack listed.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..errors import DIFFERS, OK, STOPPED, USAGE
from ..i18n import t
from ..pcap.reader import LINK_NAMES, Reader
from .summary import COMPLETENESS_NAMES, Summaries, Summary
from .tracker import IDLE, MAX_OPEN, Connection, Tracker, _addr

DETAIL_LIMIT = 10  # connections shown in full; beyond this, a summary table
LISTED_LIMIT = 20  # connections with departures listed under the summary


class Scan:
    """The connections of a capture, each when it is finished; afterwards `reader` has the
    counts and where reading stopped."""

    def __init__(self, path: str | Path, progress=None, summaries: bool = True):
        self.reader = Reader(path)  # a file that is not a capture at all: one sentence, now
        self.progress = progress
        self.tracker = Tracker()
        # each connection's numbers (compare/summary.py): summary(c) once it has come out
        self.summaries = Summaries(self.tracker) if summaries else None

    def __iter__(self):
        tracker = self.tracker
        # the tracker makes no reference cycles: the cyclic collector would only walk the
        # millions of objects of a big capture again and again (twice the time of a 1M-SYN scan)
        collecting = gc.isenabled()
        gc.disable()
        try:
            with self.reader as reader:
                feed, progress, sums = tracker.feed_blocks, self.progress, self.summaries
                # (each part's packets summed once the tracker has said whose they are)
                each = None if sums is None else sums.block
                for block in reader.blocks():
                    for done in feed(block, each=each):
                        yield from done
                    if progress is not None:
                        progress(reader.offset, reader.size)
                for done in tracker.flush(each=each):
                    yield from done
                yield from tracker.finish()
        finally:
            if collecting:
                gc.enable()

    def summary(self, c: Connection) -> Summary | None:
        """c's numbers (each connection's once, when it has come out of the scan)."""
        return None if self.summaries is None else self.summaries.pop(c)

    def conn_state(self, c: Connection) -> str | None:
        """summary(c).conn_state(), without making the summary of a replayed connection."""
        return None if self.summaries is None else self.summaries.pop_state(c)


def _header(reader: Reader, tracker: Tracker) -> str:
    links = ", ".join(LINK_NAMES.get(k, t("compare.link_type", n=k)) for k in sorted(reader.linktypes))
    return (t("compare.header", name=reader.name, format=reader.format,
              links=links or t("compare.no_interfaces"), frames=reader.frames,
              tcp=reader.frames - reader.other - reader.truncated)
            + (t("compare.header.truncated", n=reader.truncated) if reader.truncated else "")
            + (t("compare.header.other", n=reader.other) if reader.other else "")
            + (t("compare.header.idle", n=tracker.idle, s=f"{IDLE:g}") if tracker.idle else "")
            + (t("compare.header.crowded", n=tracker.crowded, max=MAX_OPEN)
               if tracker.crowded else ""))


def _stopped(reader: Reader) -> str | None:
    s = reader.stopped
    if s is None:
        return None
    return t("compare.stopped", frame=s.number, offset=s.offset, reason=s.reason)


def exit_code(departing: int, reader: Reader) -> int:
    """0: read to the end and every connection conforms (or is partial); 1: some depart;
    2: the file is damaged and nothing could be read from it; 4: reading stopped part way."""
    if reader.stopped is not None:
        return USAGE if reader.frames == 0 else STOPPED
    return DIFFERS if departing else OK


def render_text(path: str | Path, out: Console, show_progress: bool = False) -> int:
    """Print the findings; returns the exit code (see exit_code)."""
    scan = Scan(path)
    big = show_progress and scan.reader.size > 20_000_000
    bar = None
    if big:  # (rich.progress loaded only then)
        from rich.progress import BarColumn, Progress, TextColumn

        bar = Progress(TextColumn(t("compare.reading")), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%"),
                       console=Console(stderr=True, emoji=False), transient=True)
    if bar:
        task = bar.add_task("read", total=scan.reader.size)
        scan.progress = lambda done, total: bar.update(task, completed=done)
    verdicts: Counter = Counter()
    states: Counter = Counter()  # Zeek's conn_state of each connection
    listed: list[Connection] = []
    shown = 0
    departing = 0
    if bar:
        bar.start()
    try:
        for c in scan:
            verdict = c.verdict
            verdicts[verdict] += 1
            if shown < DETAIL_LIMIT:
                summary = scan.summary(c)
                state = None if summary is None else summary.conn_state()
            else:  # (only its Zeek state is shown: the table)
                state = scan.conn_state(c)
            if state is not None:
                states[state] += 1
            if verdict == "departs":
                departing += 1
                if len(listed) < LISTED_LIMIT:
                    listed.append(c)
            if shown < DETAIL_LIMIT:
                _detail(c, out, summary)
                shown += 1
    finally:
        if bar:
            bar.stop()
    reader = scan.reader
    total = sum(verdicts.values())
    out.print(escape(_header(reader, scan.tracker)), soft_wrap=True)
    if total > DETAIL_LIMIT:
        _summary(verdicts, listed, departing, out, states)
    elif total == 0:
        out.print(t("compare.none"), soft_wrap=True)
    note = _stopped(reader)
    if note:
        out.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
    return exit_code(departing, reader)


def _v6(c) -> bool:
    return len(c.a.ep[0]) == 16


def _ref(c, ref: str) -> str:
    """A rule's reference as the kernel names it for c: the tcp_v6_* twin of a tcp_v4_*
    function over IPv6 (net/ipv6/tcp_ipv6.c; teach/explain.py's list)."""
    if not _v6(c) or "tcp_v4_" not in ref:
        return ref
    from ..teach.explain import _V4_NAMES

    return _V4_NAMES.sub(r"tcp_v6_\1", ref)


def _v6_refs(c, d: dict) -> dict:
    """c.to_dict() with its references as the kernel names them over IPv6 (_ref)."""
    if _v6(c):
        for end in d["ends"]:
            for step in end["states"]:
                step["rule"] = _ref(c, step["rule"])
        for f in d["findings"]:
            f["rule"] = _ref(c, f["rule"])
    return d


def _role(e) -> str:
    return t(f"compare.role.{e.name}") if e.name in ("client", "server") else e.name


def _story(c: Connection) -> str:
    """Connection.story() in the chosen language."""
    seen = t("compare.seen.self" if c.self_connect else
             "compare.seen.both" if c.a.packets and c.b.packets else "compare.seen.one")
    start = t("compare.start.mid" if c.midstream else "compare.start.handshake")
    phases = t("compare.list_sep").join(t(f"compare.phase.{p}") for p in c.phases) or \
        t("compare.phases.none")
    ends = t("compare.ends_sep").join(f"{_role(e)} {' -> '.join(s for _, s, _ in e.path) or e.state}"
                     for e in ((c.a,) if c.self_connect else (c.a, c.b)))
    ends_seen = (c.a,) if c.self_connect else (c.a, c.b)
    lost = "".join(t("compare.sep") + t("compare.story.lost", who=_role(e), n=e.lost, k=e.gaps)
                   for e in ends_seen if e.gaps)
    return t("compare.story", packets=c.packets, seen=seen, start=start, phases=phases + lost,
             ends=ends)


def _direction(s: Summary, d, src: str, dst: str) -> str:
    """One direction's numbers: packets, bytes, duration, its windows (scaled by its SYN's
    shift when both SYNs offered one: RFC 7323 2.2)."""
    text = t("compare.direction", src=src, dst=dst, packets=d.packets, bytes=d.bytes,
             duration=f"{d.duration():.6f}".rstrip("0").rstrip(".") or "0")
    if d.win is None:
        return text
    shift = s.shift(d)
    if s.a.wscale is not None and s.b.wscale is not None:  # negotiated, if only a shift of 0
        return text + t("compare.window.scaled", shift=shift, factor=1 << shift,
                        scaled=s.scaled(d), raw=d.win)
    return text + t("compare.window.unscaled", raw=d.win)


def _codes(s: Summary) -> str:
    """Wireshark's tcp.completeness and Zeek's conn_state and history."""
    names = [n for bit, n in COMPLETENESS_NAMES if s.completeness & bit]
    z = s.zeek
    state = z.conn_state()
    return t("compare.codes", value=s.completeness, names="+".join(names) or "-", state=state,
             meaning=t(f"compare.zeek.{state}"), history=z.history or "-")


def _detail(c: Connection, out: Console, summary: Summary | None = None) -> None:
    colour = {"conforms": "green", "departs": "red", "partial": "yellow"}[c.verdict]
    head = t("compare.connection", id=c.id, a=_addr(c.a.ep), b=_addr(c.b.ep), first=c.first,
             last=c.last)
    out.print(f"[bold]{escape(head)}[/]  [{colour}]{t('compare.verdict.' + c.verdict)}[/]",
              soft_wrap=True)
    out.print(f"  {escape(_story(c))}", soft_wrap=True)
    if summary is not None and summary.conn_state() is not None:
        a, b = _addr(c.a.ep), _addr(c.b.ep)
        out.print(f"  [dim]{escape(_direction(summary, summary.a, a, b))}[/]", soft_wrap=True)
        if not c.self_connect:
            out.print(f"  [dim]{escape(_direction(summary, summary.b, b, a))}[/]",
                      soft_wrap=True)
        out.print(f"  [dim]{escape(_codes(summary))}[/]", soft_wrap=True)
    for e in (c.a,) if c.self_connect else (c.a, c.b):
        steps = ", ".join(f"{s} (#{n}: {_ref(c, r)})" for n, s, r in e.path)
        if steps:
            out.print(f"  [dim]{escape(_role(e))} {_addr(e.ep)}:[/] {escape(steps)}",
                      soft_wrap=True)
    for f in c.findings:
        # a note Wireshark has a name for goes by that name (tcp.analysis.window_full...), so
        # an analyst finds it as in Wireshark; the rule behind it is left out where the text
        # already names each of its functions
        mark = f"[red]{t('compare.mark.departs')}[/]" if f.kind == "departure" else \
            f"[cyan]{f.analysis}[/]" if f.analysis else f"[dim]{t('compare.mark.note')}[/]"
        ref = _ref(c, f.rule)
        said = all(part.strip() in f.text for part in ref.split(";") if part.strip())
        out.print(f"  #{f.number:<6} {mark}  {escape(f.text)}"
                  + ("" if said else f" [dim]({escape(ref)})[/]"), soft_wrap=True)


def _summary(verdicts: Counter, listed: list[Connection], departing: int, out: Console,
             states: Counter | None = None) -> None:
    from rich.table import Table

    tab = Table(t("compare.table.verdict"), t("compare.table.connections"))
    for v in ("conforms", "partial", "departs"):
        tab.add_row(t("compare.verdict." + v), str(verdicts.get(v, 0)))
    out.print(tab)
    if states:
        tab = Table(t("compare.table.conn_state"), t("compare.table.meaning"),
                    t("compare.table.connections"))
        for state, n in sorted(states.items(), key=lambda kv: (-kv[1], kv[0])):
            tab.add_row(state, t(f"compare.zeek.{state}"), str(n))
        out.print(tab)
    for c in listed:
        first = c.departures[0]
        out.print("  " + escape(t("compare.listed", id=c.id, a=_addr(c.a.ep), b=_addr(c.b.ep),
                                  n=first.number, text=first.text))
                  + f" [dim]({escape(_ref(c, first.rule))})[/]", soft_wrap=True)
    if departing > len(listed):
        out.print("  " + escape(t("compare.more", n=departing - len(listed))), soft_wrap=True)


def write_json(path: str | Path, stream) -> int:
    """Stream the findings as one JSON document; returns the exit code (see exit_code)."""
    departing = 0
    scan = Scan(path)
    stream.write('{"format": "tcpsim-compare/1", "connections": [')
    first = True
    for c in scan:
        departing += c.verdict == "departs"
        d = _v6_refs(c, c.to_dict())
        summary = scan.summary(c)
        if summary is not None and summary.conn_state() is not None:
            d.update(summary.to_dict((d["ends"][0]["endpoint"], d["ends"][1]["endpoint"])))
        stream.write(("" if first else ",") + "\n  " + json.dumps(d))
        first = False
    reader = scan.reader
    info = {"file": str(reader.path), "format": reader.format, "frames": reader.frames,
            "tcp": reader.frames - reader.other - reader.truncated, "other": reader.other,
            "truncated": reader.truncated, "linktypes": sorted(reader.linktypes),
            "stopped": None if reader.stopped is None else
            {"frame": reader.stopped.number, "offset": reader.stopped.offset,
             "reason": reader.stopped.reason}}
    # connections finished before their end to bound memory (only when there are any)
    if scan.tracker.idle:
        info["idle"] = scan.tracker.idle
    if scan.tracker.crowded:
        info["crowded"] = scan.tracker.crowded
    stream.write("\n], \"capture\": " + json.dumps(info) + "}\n")
    return exit_code(departing, reader)
