"""Comparing two Traces (the model's and the kernel's) and explaining each difference.

What is compared, after normalisation (relative seq/ack per direction, ports replaced by the
process that owns them):
- every segment in order: sender, flags, seq, ack, window, TCP options (kinds in order, and
  every value except the TS clock readings), payload;
- every call and return in order: process, line, whether it blocked, result, errno, data
  (and epoll_wait's ready sockets with their events);
- every socket's states at the observation points (after each call, and when segments arrive);
  the model's finer steps (State.via == "transition") are shown but not compared;
- timing, with a tolerance: where either trace shows a quiet stretch of TIMING_FLOOR or more
  before a segment (no call, no other segment: a timer at work, the delayed ACK or a
  retransmission), the two stretches must agree within TIMING_ABS + TIMING_REL of the larger
  one; likewise how long each blocked call waited.  The time the lab's calls themselves take
  is left out, as the model does not count it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import t
from .segment import Segment
from .trace import Call, Trace

TIMING_FLOOR = 0.020
TIMING_ABS = 0.010
TIMING_REL = 0.20


@dataclass
class Difference:
    kind: str  # segment | call | state | timing | count
    index: int  # position in the compared sequence
    field: str
    expected: str  # the model's
    seen: str  # the kernel's
    sentence: str


def _namer(trace: Trace):
    owner = trace.owner()
    return lambda ep: owner(ep) or ep


def segment_rows(trace: Trace) -> list[dict]:
    name = _namer(trace)
    rows = []
    for r in trace.relative():
        seg = r.seg
        opts = [[n, None if n == "TS" else v] for n, v in r.options]
        rows.append({"from": name(seg.src), "to": name(seg.dst), "flags": seg.flags, "seq": r.seq,
                     "ack": r.ack if seg.has_ack else None, "win": seg.win,
                     "options": opts, "len": seg.length, "payload": seg.payload, "t": seg.t,
                     "copy": bool(seg.copy)})
    return rows


def _describe_segment(row: dict) -> str:
    return f"[{row['flags']}] {row['from']} > {row['to']} seq {row['seq']}"


def _compare_segments(model: Trace, lab: Trace, seen: str = "kernel",
                      calls: bool | None = None) -> list[Difference]:
    """seen: "kernel" (a lab run) or "capture" (a pcap); calls: the run has its calls, so a
    quiet stretch is measured from the last call or segment (default: a lab run has them)."""
    where = t(f"diff.where.{seen}")
    out = []
    m, k = segment_rows(model), segment_rows(lab)
    for i, (a, b) in enumerate(zip(m, k), 1):
        fields = [f for f in ("from", "flags", "seq", "ack", "win", "len", "options", "payload")
                  if a[f] != b[f]]
        if a["copy"] != b["copy"] and seen == "kernel":  # a pcap cannot say (net: duplicate)
            fields.append("copy")
        if fields:
            parts = [t("diff.field", field=f, model=_show(a[f]), seen=_show(b[f]), where=where)
                     for f in fields]
            out.append(Difference("segment", i, ",".join(fields), repr([a[f] for f in fields]),
                                  repr([b[f] for f in fields]),
                                  t("diff.segment", i=i, what=_describe_segment(b),
                                    parts=t("diff.sep").join(parts))))
    if len(m) != len(k):
        extra, who = ((m[len(k)], t("diff.who.model")) if len(m) > len(k) else
                      (k[len(m)], t("diff.who.kernel") if seen == "kernel" else t("diff.who.capture")))
        out.append(Difference("count", min(len(m), len(k)) + 1, "segments", str(len(m)), str(len(k)),
                              t("diff.count.segments", who=who, n=abs(len(m) - len(k)),
                                what=_describe_segment(extra), m=len(m), k=len(k), where=where)))
    if calls is None:
        calls = seen == "kernel"  # a capture has no calls: measure from segment to segment
    idle_m, idle_k = _idle_before_segments(model, calls), _idle_before_segments(lab, calls)
    # A timer and a call may fall within a jiffy of each other (a pause ending as the delayed
    # ACK fires): then the call lands just before the timer's segment on one side and just
    # after it on the other.  A segment is on time if it is, counted either way.
    apart_m, apart_k = _idle_before_segments(model, False), _idle_before_segments(lab, False)
    slack = model.late + lab.late
    for i in range(min(len(m), len(k), len(idle_m), len(idle_k))):
        gm, gk = idle_m[i], idle_k[i]
        if _too_far(gm, gk, slack) and _too_far(apart_m[i], apart_k[i], slack):
            out.append(Difference(
                "timing", i + 1, "gap", f"{gm * 1000:.1f} ms", f"{gk * 1000:.1f} ms",
                t("diff.gap", i=i + 1, what=_describe_segment(k[i]), gm=f"{gm * 1000:.1f}",
                  gk=f"{gk * 1000:.1f}", where=where)))
    return out


def _idle_before_segments(trace: Trace, calls: bool = True) -> list[float]:
    """For each segment, the time since the last call or segment before it.

    A segment a call sends follows that call within microseconds; one a timer sends comes
    after a quiet stretch (the delayed ACK's 40 ms, an RTO).  Measured this way, the time the
    lab's calls take (which the model does not count) drops out."""
    out, last = [], 0.0
    for ev in trace.events:
        if isinstance(ev, Call):
            if calls:
                last = ev.t
        elif isinstance(ev, Segment):
            out.append(max(0.0, ev.t - last))
            last = ev.t
    return out


def _too_far(gm: float, gk: float, slack: float = 0.0) -> bool:
    """slack: how late the lab itself was (Trace.late), allowed on top."""
    big = max(gm, gk)
    return big >= TIMING_FLOOR and abs(gm - gk) > TIMING_ABS + TIMING_REL * big + slack


_SHOWN_BYTES = 40  # of a payload in a sentence: enough to tell which bytes, not a screenful


def _show(v) -> str:
    if isinstance(v, bytes):
        if len(v) > _SHOWN_BYTES:
            return f"{v[:_SHOWN_BYTES].decode('latin-1')!r}... ({len(v)} bytes)"
        return repr(v.decode("latin-1"))
    if isinstance(v, list):
        return "<" + ",".join(n if val is None else f"{n} {val}" for n, val in v) + ">"
    return str(v)


def _ready(c: Call) -> str | None:
    """epoll_wait's ready sockets and their events ("c2 EPOLLIN, c1 EPOLLIN"): its result is
    only their count."""
    return c.value if c.text.startswith("epoll_wait(") else None


def _call_row(c: Call) -> tuple:
    return (c.process, c.line, c.kind, c.blocked, c.result, c.errno, c.data, _ready(c))


def _compare_calls(model: Trace, lab: Trace) -> list[Difference]:
    out = []
    m, k = model.calls, lab.calls
    fields = ("process", "line", "kind", "blocked", "result", "errno", "data", "value")
    for i, (a, b) in enumerate(zip(m, k), 1):
        ra, rb = _call_row(a), _call_row(b)
        for f, va, vb in zip(fields, ra, rb):
            if va != vb:
                what = t("diff.call", line=b.line, process=b.process, text=b.text)
                if f in ("process", "line", "kind"):
                    sentence = t("diff.call.order", i=i, line=a.line, process=a.process,
                                 text=a.text, kind=a.kind, what=what, kind_k=b.kind)
                elif f == "blocked":
                    sentence = t("diff.call.blocked", what=what,
                                 m=t("diff.blocks" if va else "diff.returns"),
                                 k=t("diff.blocks" if vb else "diff.returns"))
                else:
                    sentence = t("diff.call.result", what=what, m=_result(a), k=_result(b))
                out.append(Difference("call", i, f, str(va), str(vb), sentence))
                break
    if len(m) != len(k):
        out.append(Difference("count", min(len(m), len(k)) + 1, "calls", str(len(m)), str(len(k)),
                              t("diff.count.calls", m=len(m), k=len(k))))
    # how long each blocked call waited (a timer at work: a retransmission, a give-up)
    waits_m, waits_k = _waits(model), _waits(lab)
    for step, (c, dk) in waits_k.items():
        dm = waits_m.get(step, (c, None))[1]
        if dm is not None and _too_far(dm, dk, model.late + lab.late):
            out.append(Difference(
                "timing", 0, "wait", f"{dm * 1000:.1f} ms", f"{dk * 1000:.1f} ms",
                t("diff.wait", what=t("diff.call", line=c.line, process=c.process, text=c.text),
                  dm=f"{dm * 1000:.1f}", dk=f"{dk * 1000:.1f}")))
    return out


def _waits(trace: Trace) -> dict[int, tuple[Call, float]]:
    started = {}
    out = {}
    for c in trace.calls:
        if c.kind == "call" and c.blocked:
            started[c.step] = c
        elif c.kind == "return" and c.step in started:
            out[c.step] = (started[c.step], c.t - started.pop(c.step).t)
    return out


def _compare_drops(model: Trace, lab: Trace) -> list[Difference]:
    out = []
    for line in sorted(set(model.drops) | set(lab.drops)):
        dm, dk = model.drops.get(line, 0), lab.drops.get(line, 0)
        if dm != dk:
            out.append(Difference("drops", line, "dropped", str(dm), str(dk),
                                  t("diff.drops", line=line, m=dm, k=dk)))
    return out


def result_text(result, errno: str | None, data: bytes | None = None) -> str:
    """A call's result as the differences print it: "-1 ECONNRESET", "6 b'hello'", or that
    it has not returned (result None)."""
    if result is None:
        return t("diff.nothing_yet")
    out = f"-1 {errno}" if errno else str(result)
    if data is not None:  # a read's bytes: the first _SHOWN_BYTES of them, not a screenful
        out += f" {data!r}" if len(data) <= _SHOWN_BYTES else \
            f" {data[:_SHOWN_BYTES]!r}... ({len(data)} bytes)"
    return out


def _result(c: Call) -> str:
    ready = _ready(c)
    return result_text(c.result, c.errno, c.data) + (f" ({ready})" if ready else "")


def _compare_states(model: Trace, lab: Trace) -> list[Difference]:
    out = []
    ms, ks = model.observed_states, lab.observed_states
    labels = list(dict.fromkeys([s.socket for s in ks] + [s.socket for s in ms]))
    for label in labels:
        hm = [(s.state, s.queue, s.backlog) for s in ms if s.socket == label]
        hk = [(s.state, s.queue, s.backlog) for s in ks if s.socket == label]
        if hm != hk:
            show = lambda h: " -> ".join(st + (f"(queue {q}/{b})" if q is not None else "")  # noqa: E731
                                         for st, q, b in h) or t("diff.never")
            out.append(Difference("state", 0, label, show(hm), show(hk),
                                  t("diff.state", label=label, m=show(hm), k=show(hk))))
    return out


def compare_capture(model: Trace, capture: Trace, calls: bool = False) -> list[Difference]:
    """The differences between the model's segments and a capture's (whose endpoints have been
    named after the model's, see compare/against.py): fields, count and timers' timing.
    calls: the capture comes with the calls of its programs (`tcpsim trace`)."""
    return _compare_segments(model, capture, seen="capture", calls=calls)


def _by_connection(trace: Trace) -> dict[tuple, Trace]:
    """The trace cut into one per connection (its two ends named by their processes): that
    connection's segments, and every call."""
    owner = trace.owner()

    def conn(seg: Segment) -> tuple:
        return tuple(sorted((owner(seg.src) or seg.src, owner(seg.dst) or seg.dst)))

    keys = list(dict.fromkeys(conn(e) for e in trace.events if isinstance(e, Segment)))
    return {k: Trace(source=trace.source, program=trace.program, sockets=trace.sockets,
                     events=[e for e in trace.events if isinstance(e, Call)
                             or (isinstance(e, Segment) and conn(e) == k)]) for k in keys}


def compare_exchange(model: Trace, run: Trace, seen: str = "kernel",
                     calls: bool | None = None) -> list[Difference]:
    """The differences between a run and an exchange of the program with the same signature
    (sim/explore.py: each connection's segments, call results, last states) that came from
    another schedule: what the signature leaves out, connection by connection (segment
    fields, timers' timing), and the drops.  How the connections' segments interleave, the
    order of calls and the states along the way belong to the schedule: not compared."""
    mine, theirs = _by_connection(model), _by_connection(run)
    out = []
    for key in mine.keys() | theirs.keys():
        empty = Trace(source=run.source, sockets=run.sockets)
        out += _compare_segments(mine.get(key, empty), theirs.get(key, empty), seen, calls)
    return out + (_compare_drops(model, run) if seen == "kernel" else [])


def compare(model: Trace, lab: Trace) -> list[Difference]:
    """Every difference between the model's trace and the kernel's, most telling first."""
    return (_compare_calls(model, lab) + _compare_segments(model, lab) + _compare_drops(model, lab)
            + _compare_states(model, lab))
