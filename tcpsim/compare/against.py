"""A run of a program held against every exchange the program can produce.

`compare CAPTURE --program P` holds a capture, `verify P` the lab's run.  The file-order
exchange is tried first (it is what `tcpsim run` shows, and it needs no walk); when it does
not match, the program's exchanges are explored (sim/explore.py) and the run is looked up in
the set: an exchange of the set is a match, named with the ordering decision that produces it;
a run outside the set gets the nearest exchange and the first place where it departs.

Some decisions of the kernel turn on microseconds the model does not keep (model.kernel.Race,
docs/races.md): the model takes one way, and when the file order's run differs after a race,
the other way is tried, the latest race before the first difference first, and kept when the
run then agrees further (_resolve_races).  A match that needed it names the races.

A capture's connections are paired with the model's in the order they begin, and each capture
endpoint is given the name of the model endpoint in the same place (the first segment of a
connection says which end is which), so that the ports a real run happened to pick do not
count.  A capture shows segments only, so only the segments of an exchange are looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..model import KernelProfile
from ..pcap.reader import Packet
from ..render.explore import distance, first_difference
from ..scenario import Program
from ..sim.explore import Exploration, explore, signature
from ..model.kernel import Race
from ..sim.runner import Stuck
from ..sim.world import SimWorld, run_model
from ..trace import Segment, Trace
from ..i18n import t
from ..trace.diff import (Difference, compare, compare_capture, compare_exchange,
                          result_text)
from ..trace.segment import flags_text, parse_options
from .tracker import _addr


@dataclass
class Held:
    """What a run is, against a program's exchanges."""
    model: Trace  # the exchange it was held against: the file order's, the matched, the nearest
    differences: list[Difference]
    exploration: Exploration | None = None  # walked when the file order did not match
    outcome: int | None = None  # the exchange of the set it is (an index), None: the file order
    nearest: int | None = None  # outside the set: the closest exchange
    first_difference: str = ""  # ... and where the run first departs from it
    races: list[Race] = field(default_factory=list)  # the races the run took the other way

    @property
    def ok(self) -> bool:
        return not self.differences and self.nearest is None


def hold(program: Program, profile: KernelProfile, view: Callable[[Trace], Trace],
         fields: Callable[[Trace, Trace], list[Difference]],
         fields_other: Callable[[Trace, Trace], list[Difference]] | None = None,
         segments_only: bool = False, where: str = "kernel", seed: int = 0,
         timeout: float = 10.0, limit: int = 100_000) -> Held:
    """view(model trace): the run, as a Trace comparable with that model trace;
    fields(model, run): their differences (fields_other: for an exchange of another schedule);
    segments_only: the run shows segments only (a capture), so only they are looked up."""
    world = SimWorld(profile, seed, program.faults, program.sysctls)
    model = run_model(program, profile, seed=seed, timeout=timeout, world=world)
    held = Held(model, fields(model, view(model)))
    if not held.differences:
        return held
    raced = _resolve_races(program, profile, view, fields, seed, timeout, held,
                           world.kernel.races)
    if raced is not None and not raced.differences:
        return raced
    exp = explore(program, profile, seed=seed, timeout=timeout, limit=limit)
    first = held.differences
    held.exploration = exp

    def part(sig: tuple) -> tuple:
        return (sig[0], (), (), ()) if segments_only else sig

    seen_sigs, best = [], None
    for i, o in enumerate(exp.outcomes):
        run = view(o.trace)
        seen_sigs.append(part(signature(run)))
        if seen_sigs[-1] == part(o.signature):
            diffs = (fields_other or fields)(o.trace, run)
            if best is None or len(diffs) < len(best[1]):
                best = (i, diffs, o.trace)
            if not diffs:
                break
    if best is not None and (raced is None or len(best[1]) <= len(raced.differences)):
        held.outcome, held.differences, held.model = best
        return held
    if len(exp.outcomes) == 1 and exp.complete:  # one exchange: its differences say it all
        if raced is not None:
            return raced
        held.exploration, held.differences = None, first
        return held
    j = min(range(len(exp.outcomes)),
            key=lambda i: distance(part(exp.outcomes[i].signature), seen_sigs[i]))
    held.nearest = j
    held.first_difference = first_difference(part(exp.outcomes[j].signature), seen_sigs[j], where)
    held.model = exp.outcomes[j].trace
    held.differences = (fields_other or fields)(held.model, view(held.model))
    if raced is not None and _first_segment(raced.differences) > _first_segment(held.differences):
        raced.exploration = exp  # the file order with its races agrees further: say that
        return raced
    return held


RACE_RUNS = 60  # model runs spent at most on a run's races (a 100 KB transfer: 0.1 s each)
RACE_SEGMENTS = 3  # before each first difference, the races of the last 3 places raced at
RACE_PER_SEGMENT = 6  # ... each of them (the kernel decides again at each ACK that comes)
RACE_CHAIN = 4  # a "drs" flip taken again at the next copies of the same place, at most


def _first_segment(diffs: list[Difference]) -> float:
    """Where a run first departs in its segments (inf: they agree)."""
    return min((d.index for d in diffs if d.kind == "segment"), default=float("inf"))


def _resolve_races(program: Program, profile: KernelProfile, view, fields, seed: int,
                   timeout: float, held: Held, races: list[Race]) -> Held | None:
    """The file order's run with its races taken as the kernel's run shows them: while the
    run differs, flip a race met before its first differing segment (those of the latest
    places first) and keep the one that brings the run closest, if it agrees further than
    before (the first difference later, or as late with fewer differences).  Greedy and
    bounded (RACE_RUNS): each race decides what comes right after it, so the race that
    explains a difference is among the last ones before it.
    A Held (with its differences, if some remain) when a flip brought the run closer, else
    None."""
    flips: frozenset[int] = frozenset()
    diffs = held.differences
    score = (_first_segment(diffs), -len(diffs))
    runs = 0
    while diffs and runs < RACE_RUNS:
        first = score[0]
        at: dict[int, list[int]] = {}  # segment -> the races met there, after the last flip
        for i in range(max(flips, default=-1) + 1, len(races)):
            if races[i].segment <= first:
                at.setdefault(races[i].segment, []).append(i)
        tries = [i for seg in sorted(at, reverse=True)[:RACE_SEGMENTS]
                 for i in at[seg][:RACE_PER_SEGMENT]]
        best = None  # the flip that brings the run closest, of those tried
        for i in tries:
            if runs >= RACE_RUNS:
                break
            tried_flips = flips | {i}
            for _ in range(RACE_CHAIN):
                runs += 1
                world = SimWorld(profile, seed, program.faults, program.sysctls)
                try:
                    model = run_model(program, profile, seed=seed, timeout=timeout,
                                      world=world, flips=tried_flips)
                except Stuck:  # the other way led the model nowhere: not the kernel's way
                    model = None
                    break
                d = fields(model, view(model))
                tried = (_first_segment(d), -len(d))
                # tcp_rcv_space_adjust()'s gate, closed at one skb a read copies, stays closed
                # for the skbs copied right after it, within the kernel's RTT estimate: the
                # model's next copy decides again (a new race at the same place); take it the
                # same way while that alone brings the run no closer
                met = world.kernel.races
                again = [j for j in range(i + 1, len(met)) if j not in tried_flips
                         and met[j].kind == "drs" == races[i].kind
                         and met[j].sock == races[i].sock and met[j].segment == races[i].segment]
                if not d or tried > score or not again or runs >= RACE_RUNS:
                    break
                tried_flips = tried_flips | {again[0]}
            if model is None:
                continue
            if tried > score and (best is None or tried > best[0]):
                best = (tried, tried_flips, d, world.kernel.races, model)
            if not d:
                break
        if best is None:
            break
        score, flips, diffs, races, model = best
        held = Held(model, diffs)
    if not flips:
        return None
    held.races = [races[i] for i in sorted(flips)]
    return held


def trace_packets(trace: Trace) -> list[Packet]:
    """A run's segments as a capture's packets (the frames the lab captured, decoded as the
    pcap reader decodes them), on the run's own clock."""
    from ..pcap.reader import LINK_ETHERNET, _decode

    out = []
    for n, seg in enumerate(trace.segments, 1):
        frame = seg.wire_frame()
        p = _decode(frame, 0, len(frame), LINK_ETHERNET, n, trace.t0 + seg.t, keep=True)
        if isinstance(p, Packet):
            out.append(p)
    return out


def waiting(trace: Trace) -> list[str]:
    """The calls that blocked and never returned ("server: accept(s)")."""
    started: dict[int, object] = {}
    for c in trace.calls:
        if c.kind == "call" and c.blocked:
            started[c.step] = c
        elif c.kind == "return":
            started.pop(c.step, None)
    return sorted(f"{c.process}: {c.text}" for c in started.values())


def hold_traced(packets: list[Packet], run: Trace, program: Program, profile: KernelProfile,
                limit: int = 100_000) -> Held:
    """A traced run (`tcpsim trace`, lab/traced.py): its capture against the program's
    exchanges, each call's result against the model's, and the calls left waiting when the
    run was ended against those the model leaves waiting.  The program recovered from the
    run expects of each call what the kernel returned, so a call whose result differs in the
    model's exchange is one the model ran otherwise."""
    hung = waiting(run)

    def results(m: Trace) -> list[Difference]:
        out = [Difference("call", i, "result", result_text(c.result, c.errno, None),
                          c.expected or "", t("trace.call_result", call=f"{c.process}: {c.text}",
                                              k=c.expected, m=result_text(c.result, c.errno)))
               for i, c in enumerate(m.calls, 1) if c.ok is False]
        if waiting(m) != hung:
            none = t("diff.nothing")
            out.append(Difference("call", 0, "waiting", ", ".join(waiting(m)) or none,
                                  ", ".join(hung) or none,
                                  t("trace.waiting", m=", ".join(waiting(m)) or none,
                                    k=", ".join(hung) or none)))
        return out

    # a send written by its length (more bytes than strace showed) sends filler in the model:
    # then the bytes of segments are not compared, their lengths are
    sizes_only = any(s.call == "send" and isinstance(s.args[1], int) for s in program.steps)

    def bytes_of(tr: Trace) -> Trace:
        if sizes_only:
            tr.events = [replace(e, payload=b"") if isinstance(e, Segment) else e
                         for e in tr.events]
        return tr

    def view(m: Trace) -> Trace:
        """The capture with the run's calls, on the capture's clock: a quiet stretch before a
        segment is then measured from the call that sent it (a program that took 50 ms to
        start is not a timer)."""
        cap = bytes_of(capture_trace(packets, m))
        shift = run.t0 - cap.t0
        calls = [replace(c, t=round(c.t + shift, 6)) for c in run.calls]
        cap.events = sorted(calls + cap.events, key=lambda e: e.t)
        return cap

    try:
        return hold(program, profile, view,
                    lambda m, r: compare_capture(_copy_of(m, bytes_of), r, calls=True) + results(m),
                    lambda m, r: compare_exchange(_copy_of(m, bytes_of), r, "capture", calls=True)
                    + results(m), segments_only=True, where="capture", limit=limit)
    except Stuck as stuck:  # every process of the model waits for ever: so did the run?
        m = stuck.trace
        return Held(m, compare_capture(_copy_of(m, bytes_of), view(m), calls=True) + results(m))


def _copy_of(trace: Trace, change) -> Trace:
    """change() applied to a shallow copy (the model's trace is kept as it is)."""
    return change(replace(trace, events=list(trace.events)))


def hold_capture(packets: list[Packet], program: Program, profile: KernelProfile,
                 limit: int = 100_000) -> Held:
    """A capture against the program's exchanges (segments only)."""
    return hold(program, profile, lambda m: capture_trace(packets, m), compare_capture,
                lambda m, run: compare_exchange(m, run, "capture"), segments_only=True,
                where="capture", limit=limit)


def hold_lab(lab: Trace, program: Program, profile: KernelProfile, seed: int = 0,
             timeout: float = 10.0, limit: int = 100_000) -> Held:
    """The lab's run against the program's exchanges: everything for the file order; for an
    exchange of the set, what its signature leaves out (segment fields, timing)."""
    return hold(program, profile, lambda m: lab, compare, compare_exchange, seed=seed,
                timeout=timeout, limit=limit)


def capture_trace(packets: list[Packet], model: Trace) -> Trace:
    """The capture as a Trace whose endpoints carry the model's names."""
    rename: dict[str, str] = {}
    model_conns = list(dict.fromkeys(s.conn_key for s in model.segments))
    firsts = {}
    for s in model.segments:
        firsts.setdefault(s.conn_key, s)
    seen: dict[tuple, int] = {}  # capture connection -> its index, in the order they begin
    t0 = packets[0].t if packets else 0.0
    segs = []
    for p in packets:
        src, dst = _addr(p.src), _addr(p.dst)
        key = tuple(sorted((src, dst)))
        if key not in seen:
            i = seen[key] = len(seen)
            if i < len(model_conns):
                m = firsts[model_conns[i]]
                rename.setdefault(src, m.src)
                rename.setdefault(dst, m.dst)
        segs.append(Segment(t=round(p.t - t0, 6), src=rename.get(src, src), dst=rename.get(dst, dst),
                            flags=flags_text(p.flags), seq=p.seq, ack=p.ack, win=p.win,
                            options=parse_options(p.options), length=p.length,
                            payload=p.payload))
    return Trace(source="pcap", program=model.program, t0=t0, sockets=model.sockets, events=segs)

