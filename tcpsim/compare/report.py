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
from ..pcap.reader import LINK_NAMES, Reader
from .summary import Summaries, Summary
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
            yield from self._scan(tracker)
        finally:
            if collecting:
                gc.enable()

    def _scan(self, tracker):
        with self.reader as reader:
            feed, progress, sums = tracker.feed_blocks, self.progress, self.summaries
            for block in reader.blocks():
                if sums is None:
                    for done in feed(block):
                        yield from done
                else:  # the block's packets summed once the tracker has said whose they are
                    finished = [c for done in feed(block) for c in done]
                    sums.block(block, finished)
                    yield from finished
                if progress is not None:
                    progress(reader.offset, reader.size)
            yield from tracker.finish()

    def summary(self, c: Connection) -> Summary | None:
        """c's numbers (each connection's once, when it has come out of the scan)."""
        return None if self.summaries is None else self.summaries.pop(c)


def _header(reader: Reader, tracker: Tracker) -> str:
    links = ", ".join(LINK_NAMES.get(t, f"link type {t}") for t in sorted(reader.linktypes))
    return (f"{reader.name}: {reader.format}, {links or 'no interfaces'}; "
            f"{reader.frames} frames, {reader.frames - reader.other - reader.truncated} TCP"
            + (f", {reader.truncated} cut short by the snaplen" if reader.truncated else "")
            + (f", {reader.other} other" if reader.other else "")
            + (f"; {tracker.idle} connection(s) taken as finished after {IDLE:g} s without a "
               "packet" if tracker.idle else "")
            + (f"; {tracker.crowded} finished early, idle the longest when more than {MAX_OPEN} "
               "were open" if tracker.crowded else ""))


def _stopped(reader: Reader) -> str | None:
    s = reader.stopped
    if s is None:
        return None
    return (f"reading stopped at frame {s.number} (byte {s.offset}): {s.reason}; the findings "
            "above cover the frames before it")


def exit_code(departing: int, reader: Reader) -> int:
    """0: read to the end and every connection conforms (or is partial); 1: some depart;
    2: the file is damaged and nothing could be read from it; 4: reading stopped part way."""
    if reader.stopped is not None:
        return USAGE if reader.frames == 0 else STOPPED
    return DIFFERS if departing else OK


def render_text(path: str | Path, out: Console, show_progress: bool = False) -> int:
    """Print the findings; returns the exit code (see exit_code)."""
    from rich.progress import BarColumn, Progress, TextColumn

    scan = Scan(path)
    big = show_progress and scan.reader.size > 20_000_000
    bar = Progress(TextColumn("reading"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   console=Console(stderr=True, emoji=False), transient=True) if big else None
    if bar:
        task = bar.add_task("read", total=scan.reader.size)
        scan.progress = lambda done, total: bar.update(task, completed=done)
    verdicts: Counter = Counter()
    listed: list[Connection] = []
    shown = 0
    departing = 0
    if bar:
        bar.start()
    try:
        for c in scan:
            verdicts[c.verdict] += 1
            if c.verdict == "departs":
                departing += 1
                if len(listed) < LISTED_LIMIT:
                    listed.append(c)
            if shown < DETAIL_LIMIT:
                _detail(c, out)
                shown += 1
    finally:
        if bar:
            bar.stop()
    reader = scan.reader
    total = sum(verdicts.values())
    out.print(_header(reader, scan.tracker), soft_wrap=True)
    if total > DETAIL_LIMIT:
        _summary(verdicts, listed, departing, out)
    elif total == 0:
        out.print("no TCP connection in this capture", soft_wrap=True)
    note = _stopped(reader)
    if note:
        out.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
    return exit_code(departing, reader)


def _detail(c: Connection, out: Console) -> None:
    colour = {"conforms": "green", "departs": "red", "partial": "yellow"}[c.verdict]
    out.print(f"[bold]connection {c.id}[/]  {_addr(c.a.ep)} ⇄ {_addr(c.b.ep)}  packets "
              f"{c.first}-{c.last}  [{colour}]{c.verdict}[/]", soft_wrap=True)
    out.print(f"  {escape(c.story())}", soft_wrap=True)
    for e in (c.a,) if c.self_connect else (c.a, c.b):
        steps = ", ".join(f"{s} (#{n}: {r})" for n, s, r in e.path)
        if steps:
            out.print(f"  [dim]{e.name} {_addr(e.ep)}:[/] {escape(steps)}", soft_wrap=True)
    for f in c.findings:
        mark = "[red]departs[/]" if f.kind == "departure" else "[dim]note[/]   "
        out.print(f"  #{f.number:<6} {mark}  {escape(f.text)} [dim]({escape(f.rule)})[/]",
                  soft_wrap=True)


def _summary(verdicts: Counter, listed: list[Connection], departing: int, out: Console) -> None:
    from rich.table import Table

    t = Table("verdict", "connections")
    for v in ("conforms", "partial", "departs"):
        t.add_row(v, str(verdicts.get(v, 0)))
    out.print(t)
    for c in listed:
        first = c.departures[0]
        out.print(f"  connection {c.id} ({_addr(c.a.ep)} ⇄ {_addr(c.b.ep)}): #{first.number} "
                  f"{escape(first.text)} [dim]({escape(first.rule)})[/]", soft_wrap=True)
    if departing > len(listed):
        out.print(f"  ... and {departing - len(listed)} more; --json lists them all", soft_wrap=True)


def write_json(path: str | Path, stream) -> int:
    """Stream the findings as one JSON document; returns the exit code (see exit_code)."""
    departing = 0
    scan = Scan(path)
    stream.write('{"format": "tcpsim-compare/1", "connections": [')
    first = True
    for c in scan:
        departing += c.verdict == "departs"
        stream.write(("" if first else ",") + "\n  " + json.dumps(c.to_dict()))
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
