"""A capture held against what the model predicts for a program (`compare --program`).

The capture's connections are paired with the model's in the order they begin, and each
capture endpoint is given the name of the model endpoint in the same place (the first segment
of a connection says which end is which), so that the ports a real run happened to pick do not
count.  Then the segments are compared as `verify` compares the kernel's.
"""

from __future__ import annotations

from ..pcap.reader import Packet
from ..trace import Segment, Trace
from ..trace.diff import Difference, compare_capture
from ..trace.segment import flags_text, parse_options
from .tracker import _addr


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


def against_program(packets: list[Packet], model: Trace) -> list[Difference]:
    return compare_capture(model, capture_trace(packets, model))
