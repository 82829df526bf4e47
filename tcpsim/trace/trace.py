"""The Trace: one ordered record of calls, segments and socket states.

The lab (real kernel), the model, a pcap and a packetdrill script all produce this one type,
so that one diff can compare any two.  Times are seconds since the first call.

Its JSON form (--json) is described by the JSON Schema trace.schema.json beside this module;
every Trace read from JSON is checked against it first, so that a file of another shape is
refused in one sentence naming the file and the JSON path of the problem.
"""

from __future__ import annotations

import functools
import json
import reprlib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from ..errors import TcpsimError
from .segment import Segment

FORMAT = "tcpsim-trace/1"
SCHEMA = "trace.schema.json"  # the JSON Schema of FORMAT, shipped beside this module


@dataclass
class Call:
    """A call starting (kind "call") or returning (kind "return").

    A call that completes at once is one "call" event with its result; one that blocks is a
    "call" event with blocked=True, then a "return" event when the kernel lets it go on.
    """

    t: float
    process: str
    step: int  # index of the program line
    line: int
    text: str  # the statement as written
    kind: str = "call"
    blocked: bool = False
    result: int | None = None
    errno: str | None = None
    fd: int | None = None  # the descriptor number the call acted on (per process, from 3)
    data: bytes | None = None  # bytes a recv returned
    value: str | None = None  # a readable rendering of getsockopt/poll results
    expected: str | None = None
    ok: bool | None = None  # did the result match the expectation (None: nothing expected)

    @property
    def finished(self) -> bool:
        return self.result is not None


@dataclass
class State:
    """The kernel's state of one socket, recorded when it changed.

    socket: a stable label, "process.name" from the descriptor name the program gave it.
    via: "tcp_info" (read from the open descriptor) or "sock_diag" (the kernel's socket table,
    as /proc/net/tcp and ss show it: sockets with no descriptor, such as TIME_WAIT, orphans
    and connections waiting in the accept queue); both are observations, made after each
    call.  "transition" marks a step the model reports as it happens (SYN_SENT inside a
    connect, say), which no observation of the real kernel can see.
    """

    t: float
    socket: str
    state: str
    via: str = "tcp_info"
    queue: int | None = None  # listeners: accept-queue length (tcpi_unacked)
    backlog: int | None = None  # listeners: the backlog (tcpi_sacked)
    # the model's steps: "STATE event", the row of model/table.py (absent from JSON when None,
    # so traces written before it existed read and write back the same)
    rule: str | None = field(default=None, metadata={"optional": True})


@dataclass
class SocketInfo:
    label: str
    process: str
    name: str
    local: str | None = None
    remote: str | None = None
    seen: list = field(default_factory=list)  # every local endpoint it had (ports change)


@dataclass
class Trace:
    source: str  # "lab", "model", "pcap", "packetdrill"
    program: str = ""
    program_text: str = ""
    t0: float = 0.0  # wall-clock time (epoch seconds) of t = 0
    end: float = 0.0  # when observation stopped
    kernel: dict = field(default_factory=dict)  # release, machine, lo MTU
    sysctls: dict = field(default_factory=dict)
    sockets: list[SocketInfo] = field(default_factory=list)
    events: list = field(default_factory=list)  # Call | Segment | State, in time order
    notes: list[str] = field(default_factory=list)
    drops: dict = field(default_factory=dict)  # net: line -> segments it dropped
    # how late the lab's delay line let a held segment go, at most (seconds): the lab's own
    # lateness on a busy machine, not the kernel's; timing is compared within that much more
    late: float = 0.0
    # frames the lab's capture lost (the packet socket's PACKET_STATISTICS drop count): the
    # segments are then not the kernel's whole exchange, and no comparison may trust them
    capture_lost: int = 0
    # the longest the lab took between two calls the program runs back to back (seconds): a
    # kernel timer may fire in such a gap where a C program's calls, microseconds apart, meet none
    stall: float = 0.0

    # -- views ---------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        return [e for e in self.events if isinstance(e, Call)]

    @property
    def segments(self) -> list[Segment]:
        return [e for e in self.events if isinstance(e, Segment)]

    @property
    def states(self) -> list[State]:
        return [e for e in self.events if isinstance(e, State)]

    def endpoint_names(self) -> dict[str, str]:
        """"ip:port" -> process name, for every local endpoint a socket of the program had."""
        names = {}
        for s in self.sockets:
            for ep in s.seen + ([s.local] if s.local else []):
                names[ep] = s.process
        return names

    def owner(self):
        """A function: endpoint "ip:port" -> the process whose socket had it (a listener bound
        to the wildcard address owns every connection on its port), or None."""
        names = self.endpoint_names()

        def owner(ep: str) -> str | None:
            port = ep.rsplit(":", 1)[1]
            return names.get(ep) or names.get(f"0.0.0.0:{port}") or names.get(f"[::]:{port}")

        return owner

    @property
    def observed_states(self) -> list[State]:
        """States at the observation points (what the lab can see), without the model's steps."""
        return [s for s in self.states if s.via != "transition"]

    def state_history(self, label: str) -> list[str]:
        return [s.state for s in self.observed_states if s.socket == label]

    def relative(self) -> list["RelSegment"]:
        """Segments with sequence numbers relative to each direction's ISN (as Wireshark shows).

        The ISN of a direction is the seq of its first SYN, or of its first segment when the
        capture starts mid-connection.  TS values are made relative the same way, so that
        traces with different random ISNs and TS offsets compare equal.
        """
        isn: dict[tuple[str, str], int] = {}
        ts0: dict[tuple[str, str], int] = {}
        out = []
        # (explore's signature() reads this view at every schedule: one pass, the options
        # walked once, x % 2**32 as x & 0xFFFFFFFF, which is the same number)
        for seg in self.events:
            if not isinstance(seg, Segment):
                continue
            d, back = (seg.src, seg.dst), (seg.dst, seg.src)
            if seg.flags == "S" and d in isn and isn[d] != seg.seq:
                # a new SYN on the same four-tuple: a new connection, numbered afresh
                for key in (d, back):
                    isn.pop(key, None)
                    ts0.pop(key, None)
            base_d = isn.setdefault(d, seg.seq)
            base_back = isn.get(back)
            rel_ack = (seg.ack - base_back) & 0xFFFFFFFF \
                if base_back is not None and "." in seg.flags else seg.ack
            opts = []
            ts_seen = False
            for name, v in seg.options:
                if name == "TS":
                    if not ts_seen:  # the first TS option (Segment.option()) starts its side
                        ts_seen = True
                        if v and d not in ts0:
                            ts0[d] = v[0]
                    ecr = (v[1] - ts0[back]) & 0xFFFFFFFF if v[1] and back in ts0 else v[1]
                    v = [(v[0] - ts0[d]) & 0xFFFFFFFF, ecr]
                elif name == "sack":
                    base = 0 if base_back is None else base_back
                    v = [[(a - base) & 0xFFFFFFFF, (b - base) & 0xFFFFFFFF] for a, b in v]
                opts.append([name, v])
            out.append(RelSegment(seg, (seg.seq - base_d) & 0xFFFFFFFF, rel_ack, opts))
        return out

    # -- notebooks -----------------------------------------------------------------------
    def svg(self) -> str:
        """The sequence (ladder) diagram of this trace, as SVG text."""
        from ..render.sequence import sequence_canvas

        return sequence_canvas(self).svg()

    def _repr_svg_(self) -> str:  # Jupyter shows a Trace as its ladder diagram
        return self.svg()

    def _repr_html_(self) -> str:
        return f'<div style="overflow:auto">{self.svg()}</div>'

    # -- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def enc(obj):
            d = {}
            for f in fields(obj):
                v = getattr(obj, f.name)
                if v is None and f.metadata.get("optional"):
                    continue
                d[f.name] = v.hex() if isinstance(v, bytes) else v
            return d

        kinds = {Call: "call", Segment: "segment", State: "state"}
        return {
            "format": FORMAT,
            "source": self.source,
            "program": self.program,
            "program_text": self.program_text,
            "t0": self.t0,
            "end": self.end,
            "kernel": self.kernel,
            "sysctls": self.sysctls,
            "sockets": [asdict(s) for s in self.sockets],
            "notes": self.notes,
            "drops": {str(k): v for k, v in self.drops.items()},
            **({"late": self.late} if self.late else {}),  # only the lab's delay line has it
            **({"capture_lost": self.capture_lost} if self.capture_lost else {}),
            **({"stall": self.stall} if self.stall else {}),
            "events": [{"type": kinds[type(e)], **enc(e)} for e in self.events],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, d: dict, where: str = "the trace") -> "Trace":
        """where: what to call the data in an error (the file it came from)."""
        if isinstance(d, dict) and d.get("format") != FORMAT:
            raise TcpsimError(f"{where} is not a tcpsim trace (format {_short(d.get('format'))}, "
                              f"expected {FORMAT!r}); give a JSON file written by tcpsim --json")
        check(d, where)
        types = {"call": Call, "segment": Segment, "state": State}
        events = []
        for e in d["events"]:
            kind = types[e["type"]]
            args = {}
            for f in fields(kind):
                v = e.get(f.name)
                if f.name in ("payload", "frame", "data") and isinstance(v, str):
                    v = bytes.fromhex(v)
                if v is not None or f.name in e:
                    args[f.name] = v
            events.append(kind(**args))
        return cls(
            source=d["source"], program=d.get("program", ""), program_text=d.get("program_text", ""),
            t0=d.get("t0", 0.0), end=d.get("end", 0.0), kernel=d.get("kernel", {}),
            sysctls=d.get("sysctls", {}),
            sockets=[SocketInfo(**{f.name: s[f.name] for f in fields(SocketInfo) if f.name in s})
                     for s in d.get("sockets", [])],
            events=events, notes=d.get("notes", []),
            drops={int(k): v for k, v in d.get("drops", {}).items()},
            late=d.get("late", 0.0), capture_lost=d.get("capture_lost", 0),
            stall=d.get("stall", 0.0),
        )

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_not_json)
        except (OSError, UnicodeDecodeError, RecursionError, ValueError) as e:
            # ValueError: JSONDecodeError, and an integer of more digits than int() reads
            why = e.strerror if isinstance(e, OSError) and e.strerror else (
                "it nests too deeply" if isinstance(e, RecursionError) else e)
            raise TcpsimError(f"cannot read trace {path}: {why}; give a JSON file written by "
                              "tcpsim --json")
        return cls.from_dict(data, where=f"trace {path}")


def _not_json(constant: str):
    """json.loads takes NaN and Infinity, which JSON (and so a trace) has not."""
    raise ValueError(f"{constant} is not a JSON value")


@functools.cache
def schema() -> dict:
    """The JSON Schema of the Trace JSON (trace.schema.json)."""
    return json.loads((resources.files(__package__) / SCHEMA).read_text(encoding="utf-8"))


@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _short(value) -> str:
    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict = 40, 40, 3, 3
    return r.repr(value)


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "an integer", float: "a number", type(None): "null"}


_SCHEMA_TYPES = {"object": "an object", "array": "an array", "string": "a string",
                 "boolean": "a boolean", "integer": "an integer", "number": "a number",
                 "null": "null"}


def check(data, where: str = "the trace") -> None:
    """Refuse data the schema refuses, in one sentence naming where and the JSON path of the
    first problem, so that a bad file never reaches the code that trusts its shape."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is None:
        return
    if error.validator == "type":
        wants = error.validator_value
        wants = " or ".join(_SCHEMA_TYPES[w] for w in (wants if isinstance(wants, list) else [wants]))
        why = f"{_JSON_TYPES.get(type(error.instance), 'a value')} where it should be {wants}"
    elif error.validator == "pattern" and "description" in error.schema:
        why = f"{_short(error.instance)} is not {error.schema['description']}"
    else:  # the validator's message, with a long value cut short
        why = error.message.replace(repr(error.instance), _short(error.instance))
        if len(why) > 160:
            why = why[:157] + "..."
    raise TcpsimError(f"{where} does not have the shape of a tcpsim trace: at {error.json_path}, "
                      f"{why}; give a JSON file written by tcpsim --json")


@dataclass
class RelSegment:
    """A segment with relative seq/ack and TS values."""

    seg: Segment
    seq: int
    ack: int
    options: list

    @property
    def flags(self) -> str:
        return self.seg.flags

    @property
    def end_seq(self) -> int:
        return self.seq + self.seg.length + ("S" in self.flags) + ("F" in self.flags)
