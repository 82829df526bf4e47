"""One generated program in the model and on the real kernel, as `verify` holds them; the
cause of a divergence as a key that groups divergences; and the shrinker.

Outcomes (Result.status), each counted apart in the report:
- "agree": the lab's run is one of the program's exchanges (verify's "match");
- "diverge": it is not, twice in a row (the lab is run again before a divergence counts:
  the kernel is not deterministic at the jiffy level), or the model (or the lab) crashed;
- "flaky": the first lab run diverged and the second agreed (a timing the lab cannot hold);
- "incomplete": the lab's capture lost frames (verify's "incomplete");
- "too-big": the run is not the file order's and the exchange set could not be walked within
  the walk limit, so the answer stays open;
- "refused": the model refuses a call it does not model (the reason is kept);
- "stuck": the program hangs in both worlds (every process waits; the generator's fault).
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass, field, replace

LIMIT = 2000  # schedules walked at most per program (the exchange set), as verify's --limit
# the lab's and the model's stuck timeout: no generated program waits on a timer longer than
# 3 s (two lost SYNs: 1 s then 2 s), so 5 s of nothing is a hang (verify waits 10 s)
TIMEOUT = 5.0


@dataclass
class Result:
    index: int
    text: str
    status: str
    cause: str = ""  # diverge: the grouping key; refused: the reason
    first: str = ""  # the first difference, in words
    differences: list[str] = field(default_factory=list)
    model_json: str = ""  # the traces, for a divergence (written to DIR)
    lab_json: str = ""
    seconds: float = 0.0
    stall_ms: float = 0.0


def _kind_of_call(text: str) -> str:
    return text.split("(", 1)[0].split()[0] if text else "?"


def _result_class(result: str, errno: str | None) -> str:
    if errno:
        return errno
    if result in ("None", ""):
        return "no return"
    return "0" if result == "0" else "n"


def _rule_before(model, t: float, endpoint: str | None = None) -> str:
    """The model's last table rule applied at or before time t (the rule behind a
    difference): of the socket that had `endpoint` when given (a segment's sender), else of
    any socket."""
    labels = None
    if endpoint is not None:
        labels = {s.label for s in model.sockets if endpoint in s.seen or s.local == endpoint}
    rule = ""
    for s in model.states:
        if s.t <= t and s.rule and (not labels or s.socket in labels):
            rule = s.rule
    return rule


# a segment's fields, most telling first: the first of them that differs names the cause
_FIELDS = ("from", "flags", "seq", "ack", "len", "payload", "options", "win", "copy")


def _rows_of(model, lab, d) -> tuple[list, list, list]:
    """The model's and the kernel's segment rows (and the model's segments) that d's index
    counts in: the whole traces (the file order's comparison), or one connection's (an
    exchange of another schedule is compared connection by connection: compare_exchange())."""
    from ..trace.diff import _by_connection, segment_rows

    def fits(mrows, krows) -> bool:
        fields = d.field.split(",")
        i = d.index - 1
        return i < min(len(mrows), len(krows)) and \
            repr([mrows[i][f] for f in fields]) == d.expected and \
            repr([krows[i][f] for f in fields]) == d.seen

    mrows, krows = segment_rows(model), segment_rows(lab)
    if not fits(mrows, krows):
        mine, theirs = _by_connection(model), _by_connection(lab)
        for key in mine.keys() & theirs.keys():
            rows = segment_rows(mine[key]), segment_rows(theirs[key])
            if fits(*rows):
                return rows[0], rows[1], mine[key].segments
    return mrows, krows, model.segments


def _counted_rows(model, lab) -> tuple[list, list, list]:
    """The segment rows (and the model's segments) whose counts differ: the whole traces',
    or, when those are as long (an exchange of another schedule, compared connection by
    connection), the first connection's whose are not."""
    from ..trace.diff import _by_connection, segment_rows

    mrows, krows = segment_rows(model), segment_rows(lab)
    if len(mrows) == len(krows):
        mine, theirs = _by_connection(model), _by_connection(lab)
        empty = replace(lab, events=[])
        for key in list(mine) + [k for k in theirs if k not in mine]:
            a, b = mine.get(key, empty), theirs.get(key, empty)
            if len(a.segments) != len(b.segments):
                return segment_rows(a), segment_rows(b), a.segments
    return mrows, krows, model.segments


def cause_of(held, lab) -> tuple[str, str]:
    """(the grouping key, the first difference in words) of a divergence: the first
    differing field, what the model and the kernel had there, and the rule the model applied
    last before it."""
    model = held.model
    diffs = held.differences
    if not diffs:
        return "outside the exchange set: " + re.sub(r"\d+", "N", held.first_difference), \
            held.first_difference
    d = diffs[0]
    words = held.first_difference or d.sentence
    t, sender = float("inf"), None
    if d.kind == "segment":
        mrows, krows, msegs = _rows_of(model, lab, d)
        m, k = mrows[d.index - 1], krows[d.index - 1]
        seg = msegs[d.index - 1]
        t, sender = seg.t, seg.src
        field_ = next(f for f in _FIELDS if f in d.field.split(","))
        if field_ == "from":  # another segment in that place: who sends what first
            key = f"segment order: the model's [{m['flags']}] where the kernel's [{k['flags']}]"
        else:
            key = f"segment {field_}: model [{m['flags']}] kernel [{k['flags']}]"
    elif d.kind == "call":
        mc, kc = model.calls[d.index - 1], lab.calls[d.index - 1]
        t = mc.t
        if d.field in ("process", "line", "kind"):
            key = f"call order: model {_kind_of_call(mc.text)} ({mc.kind}), kernel {_kind_of_call(kc.text)} ({kc.kind})"
        elif d.field == "blocked":
            key = f"call {_kind_of_call(kc.text)}: model {'blocks' if mc.blocked else 'returns'}, kernel {'blocks' if kc.blocked else 'returns'}"
        else:
            key = (f"call {_kind_of_call(kc.text)} {d.field}: model {_result_class(str(mc.result), mc.errno)}, "
                   f"kernel {_result_class(str(kc.result), kc.errno)}")
    elif d.kind == "count":
        if d.field == "segments":
            mrows, krows, msegs = _counted_rows(model, lab)
            # who sends more, as the difference says (seed 5's run of 150 and seed 2027's of
            # 10,000 crashed here: the whole traces' rows, where it counted one connection's)
            who = "model" if int(d.expected) > int(d.seen) else "kernel"
            more, fewer = (mrows, krows) if who == "model" else (krows, mrows)
            extra = more[len(fewer)]["flags"] if len(more) > len(fewer) else "?"
            key = f"segments: the {who} sends one more [{extra}]"
            if who == "model" and len(mrows) > len(krows):
                t, sender = msegs[len(krows)].t, msegs[len(krows)].src
        else:
            who = "model" if int(d.expected) > int(d.seen) else "kernel"
            key = f"calls: the {who} has more call events"
    elif d.kind == "state":
        key = f"state: model {d.expected.split(' -> ')[-1]}, kernel {d.seen.split(' -> ')[-1]}"
    elif d.kind == "timing":
        key = f"timing {d.field}"
    else:
        key = f"{d.kind} {d.field}"
    key = re.sub(r"\(queue \d+/\d+\)", "", key)
    rule = _rule_before(model, t, sender)
    return (key + (f"; model rule {rule}" if rule else "")), words


def _crash_cause(e: BaseException, side: str = "model") -> str:
    """A crash of the model (or of the lab): the exception and the function it came from."""
    where = ""
    for frame in traceback.extract_tb(e.__traceback__):
        if "/tcpsim/" in frame.filename:
            where = f"{frame.filename.rsplit('/tcpsim/', 1)[1]}:{frame.name}"
    return f"{side} crash: {type(e).__name__} in {where}"


def check_once(text: str, name: str, profile_name: str | None, mtu: int | None,
               timeout: float = TIMEOUT, limit: int = LIMIT, keep: bool = False,
               index: int = 0) -> Result:
    """The program in the lab and held against the model's exchanges, once."""
    from ..compare.against import hold_lab
    from ..errors import TcpsimError
    from ..lab import run_lab
    from ..lab.executor import stall
    from ..model import KernelProfile
    from ..scenario import parse
    from ..sim.runner import Stuck
    from ..sim.world import run_model

    start = time.perf_counter()
    prog = parse(text, name=name)

    def profile_for(lab=None):
        if profile_name or lab is None:
            return KernelProfile.named(profile_name or "reference").with_sysctls({}).with_mtu(mtu)
        return KernelProfile.from_trace(lab)

    res = Result(index, text, "agree")
    try:
        lab = run_lab(prog, timeout=timeout, mtu=mtu)
    except Stuck as e:  # the kernel's run hangs: does the model's?
        try:
            run_model(prog, profile_for(), timeout=timeout)
        except Stuck:
            res.status, res.cause = "stuck", "every process waits, in both worlds"
        except TcpsimError as e2:
            res.status, res.cause = "refused", str(e2).split(";")[0]
        except Exception as e2:  # noqa: BLE001 - a model crash is a finding
            res.status, res.cause = "diverge", _crash_cause(e2)
            res.first = f"{type(e2).__name__}: {e2}"
        else:
            res.status, res.cause = "diverge", "the kernel's run hangs, the model's ends"
            res.first = str(e)
        res.seconds = time.perf_counter() - start
        return res
    except TcpsimError:  # the lab cannot run at all (no root...): the run ends, as one by one
        raise
    except Exception as e:  # noqa: BLE001 - a lab crash is a finding too (our bug, not the model's)
        res.status, res.cause = "diverge", _crash_cause(e, "lab")
        res.first = f"{type(e).__name__}: {e}"
        res.seconds = time.perf_counter() - start
        return res
    res.stall_ms = round(stall(lab)[0] * 1000, 1)
    if lab.capture_lost:
        res.status, res.cause = "incomplete", f"the capture lost {lab.capture_lost} frames"
        res.seconds = time.perf_counter() - start
        return res
    profile = profile_for(lab)
    try:
        held = hold_lab(lab, prog, profile, timeout=timeout, limit=limit)
    except Stuck as e:
        res.status, res.cause = "diverge", "the model's run hangs, the kernel's ends"
        res.first = str(e)
        if keep:
            res.lab_json = lab.to_json()
            res.model_json = e.trace.to_json()
    except TcpsimError as e:
        res.status, res.cause = "refused", str(e).split(";")[0]
    except Exception as e:  # noqa: BLE001 - a model crash is a finding
        res.status, res.cause = "diverge", _crash_cause(e)
        res.first = f"{type(e).__name__}: {e}"
        if keep:
            res.lab_json = lab.to_json()
    else:
        if not held.ok:
            exp = held.exploration
            if exp is not None and not exp.complete and held.outcome is None:
                res.status, res.cause = "too-big", f"more than {exp.schedules} schedules"
            else:
                res.status = "diverge"
                res.cause, res.first = cause_of(held, lab)
                res.differences = [d.sentence for d in held.differences[:8]]
            if keep:
                res.lab_json = lab.to_json()
                res.model_json = held.model.to_json()
    res.seconds = time.perf_counter() - start
    return res


def check(text: str, name: str, profile_name: str | None, mtu: int | None,
          timeout: float = TIMEOUT, limit: int = LIMIT, keep: bool = False,
          index: int = 0) -> Result:
    """check_once(), and again when it diverged: a divergence counts only when the second
    lab run diverges too (else "flaky")."""
    first = check_once(text, name, profile_name, mtu, timeout, limit, keep, index)
    if first.status != "diverge" or " crash: " in first.cause:
        return first
    again = check_once(text, name, profile_name, mtu, timeout, limit, keep, index)
    if again.status == "diverge":
        again.seconds += first.seconds
        return again
    first.status = "flaky"
    first.seconds += again.seconds
    return first
