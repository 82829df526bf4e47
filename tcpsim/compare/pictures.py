"""The pictures of a capture's connections: the sequence (ladder) diagram and the time-sequence
graph, drawn by the renderers `run --sequence` and `--tsg` use (render/sequence.py, tsg.py)
from a Trace made of the capture's packets.

The connections are read by the tracker first (report.Scan), so that a port pair used twice
is two connections, as compare's text numbers them; then the chosen ones' packets are read
again (only theirs are kept).  Each segment the tracker found sent again is labelled (with
how long after its first sending); one after bytes the capture never showed, with how many
were missing; the tracker's findings are the segments' tooltips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..i18n import t
from ..pcap.reader import Reader
from ..trace import Segment, Trace
from ..trace.segment import flags_text, parse_options
from .report import Scan
from .tracker import MOD, _addr


class NoConnection(Exception):
    """The capture has no connection of the number asked for (or none at all)."""


@dataclass
class Chosen:
    trace: Trace
    tags: dict[int, str]  # id(segment) -> a label beside its sender (resent, after a gap)
    notes: dict[int, str]  # id(segment) -> its tooltip (the tracker's findings on it)


def _key(c):
    a, b = c.a.ep, c.b.ep
    return (a, b) if a < b else (b, a)


def choose(path: str | Path, which: tuple[int, ...] = ()) -> Chosen:
    """The Trace of the connections numbered `which` (compare's numbers; default: the first)."""
    scan = Scan(path, summaries=False)
    picked, count = [], 0
    for c in scan:
        count += 1
        if (c.id in which) if which else not picked:
            picked.append(c.real() if c.__class__.__name__ == "Replayed" else c)
    missing = [n for n in which if n not in {c.id for c in picked}]
    if missing or not picked:
        raise NoConnection(t("compare.no_connection", which=missing[0], capture=Path(path).name,
                             n=count) if missing else
                           t("compare.picture.none", capture=Path(path).name))
    ranges = {}
    for c in picked:
        ranges.setdefault(_key(c), []).append((c.first, c.last, c))
    findings = {f.number: f for c in picked for f in c.findings}
    segs, notes, tags = [], {}, {}
    t0 = None
    with Reader(path) as reader:
        for p in reader:
            key = (p.src, p.dst) if p.src < p.dst else (p.dst, p.src)
            spans = ranges.get(key)
            if spans is None or not any(a <= p.number <= b for a, b, _ in spans):
                continue
            if t0 is None:
                t0 = p.t
            seg = Segment(t=round(p.t - t0, 6), src=_addr(p.src), dst=_addr(p.dst),
                          flags=flags_text(p.flags), seq=p.seq, ack=p.ack, win=p.win,
                          options=parse_options(p.options), length=p.length)
            segs.append(seg)
            f = findings.get(p.number)
            if f is not None:
                notes[id(seg)] = f"#{p.number}: {f.text} ({f.rule})"
    tags.update(_marks(segs))
    name = Path(path).name
    label = name + " · " + t("compare.list_sep").join(t("compare.picture.connection", id=c.id)
                                                      for c in picked)
    return Chosen(Trace(source="pcap", program=label, t0=t0 or 0.0, events=segs), tags, notes)


def _marks(segs: list[Segment]) -> dict[int, str]:
    """id(segment) -> "resent 208 ms" for a segment covering no new sequence number (a
    retransmission: RFC 6298; its wait since that byte was first sent), or "gap 1448 B" for
    one that starts past everything its sender was seen to send (bytes the capture missed;
    the tracker's finding on it, in its tooltip, says so in words)."""
    out: dict[int, str] = {}
    top: dict[tuple, int] = {}  # direction -> one past the highest sequence number seen
    first_sent: dict[tuple, dict] = {}  # direction -> seq -> when first seen
    for seg in segs:
        d = (seg.src, seg.dst)
        span = seg.length + ("S" in seg.flags) + ("F" in seg.flags)
        if not span or "R" in seg.flags:
            continue
        end = (seg.seq + span) % MOD
        hi = top.get(d)
        sent = first_sent.setdefault(d, {})
        if hi is not None and not 0 < (end - hi) % MOD < 1 << 31:
            when = sent.get(seg.seq)
            out[id(seg)] = t("compare.tag.resent", wait=_ms(seg.t - when)) if when is not None \
                else t("compare.tag.resent.bare")
        elif hi is not None and 0 < (seg.seq - hi) % MOD < 1 << 31:
            out[id(seg)] = t("compare.tag.gap", n=(seg.seq - hi) % MOD)
        sent.setdefault(seg.seq, seg.t)
        if hi is None or 0 < (end - hi) % MOD < 1 << 31:
            top[d] = end
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def sequence_picture(chosen: Chosen):
    from ..render.sequence import sequence_canvas

    return sequence_canvas(chosen.trace, None, chosen.notes, chosen.tags)


def tsg_picture(chosen: Chosen):
    from ..render.tsg import tsg_canvas

    return tsg_canvas(chosen.trace)
