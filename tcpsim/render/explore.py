"""`tcpsim explore`: every exchange a program can produce, and the ordering that makes each one.

Each outcome is shown as its segments (dimmed where they are the same as the first outcome's),
the call results that differ from the first outcome, what hangs, the last states, and the
decision that separates it from its nearest neighbour ("server's close() before client's").
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..i18n import t
from ..sim.explore import RACES, SENDING_CALLS, Choice, Exploration, Outcome
from ..trace.diff import result_text


def _call(step) -> str:
    return t("explore.call", process=step.process, call=step.call, line=step.line)


def describe(mine: Choice, theirs: Choice | None = None, steps=()) -> str:
    """The ordering decision `mine`, phrased against the option another outcome took.  When
    the other option is a call that sends nothing (a recv()), the decision is about that
    process's next call that does: "server's close() before client's close()"."""
    if mine.kind == "timer":
        key = "explore.timer.sleep" if mine.first == "sleep" else "explore.timer.timer"
        return t(key, call=_call(mine.steps[0]), timer=mine.timer, socket=mine.socket)
    if mine.kind == "tick":
        key = "explore.tick.timer" if mine.first == "timer" else "explore.tick.call"
        return t(key, call=_call(mine.steps[0]), timer=mine.timer, socket=mine.socket)
    if mine.kind == "arrival":
        key = "explore.arrival.segment" if mine.first == "segment" else "explore.arrival.call"
        return t(key, call=_call(mine.steps[0]), segment=mine.segment)
    if mine.kind == "together":
        a, b = mine.steps
        return t("explore.together", a=_call(a), b=_call(b), sender=a.process,
                 first=mine.first)
    if theirs is not None and theirs.kind not in RACES:
        other = theirs.steps[0]
        if other.call in ("recv", "readall", "poll"):  # waits for data: the decision is what comes next
            later = [s for s in steps if s.process == other.process and s.index > other.index
                     and s.call in SENDING_CALLS]
            other = later[0] if later else other
        return t("explore.before", a=_call(mine.steps[0]), b=_call(other))
    return t("explore.first", a=_call(mine.steps[0]))


def nearest(exp: Exploration, i: int) -> int | None:
    """The outcome whose schedule shares the longest prefix of decisions with outcome i."""
    best, best_len = None, -1
    mine = exp.outcomes[i].path
    for j, other in enumerate(exp.outcomes):
        if j == i:
            continue
        n = 0
        for (a, _), (b, _) in zip(mine, other.path):
            if a.key != b.key:
                break
            n += 1
        if n > best_len:
            best, best_len = j, n
    return best


def how(exp: Exploration, i: int) -> str:
    """The decisions that make outcome i: where its schedule leaves the model's own order
    (the first option at each choice point, which makes outcome 0), leaving out a call that
    sends nothing (a recv(): what matters is the process's next call that does, a decision
    of its own); for outcome 0, or when nothing else is left, what separates it from its
    nearest neighbour."""
    o = exp.outcomes[i]
    parts = [describe(c, opts[0], exp.steps) for c, opts in o.path
             if c.key != opts[0].key and (c.kind != "call" or c.steps[0].call in SENDING_CALLS)]
    if not parts:
        j = nearest(exp, i)
        if j is not None and j in o.versus:
            mine, theirs = o.versus[j]
            parts.append(describe(mine, theirs, exp.steps))
    return t("explore.joiner").join(dict.fromkeys(parts))


def segment_lines(outcome: Outcome) -> list[tuple[str, str]]:
    """(connection, 'who [flags] seq S ack A len L') for each segment."""
    return [(" - ".join(conn), _seg_text(seg, 12)) for conn, segs in outcome.signature[0]
            for seg in segs]


def render_exploration(exp: Exploration, program, console: Console) -> None:
    console.print(Text(t("explore.title", program=exp.program), style="bold"), soft_wrap=True)
    console.print(Text(t("explore.counts", schedules=exp.schedules, interleavings=exp.interleavings,
                         outcomes=len(exp.outcomes), ms=round(exp.seconds * 1000)),
                       style="dim"), soft_wrap=True)
    if not exp.complete:
        console.print(Text(t("explore.incomplete", limit=exp.schedules), style="bold yellow"),
                      soft_wrap=True)
    if len(exp.outcomes) == 1:
        console.print(t("explore.single"), soft_wrap=True)
    base = segment_lines(exp.outcomes[0]) if exp.outcomes else []
    base_calls = dict((c[0], c[1:]) for c in exp.outcomes[0].signature[1]) if exp.outcomes else {}
    steps = {s.index: s for s in program.steps}
    for i, o in enumerate(exp.outcomes):
        console.print()
        head = Text(t("explore.outcome", n=i + 1, total=len(exp.outcomes), runs=o.runs),
                    style="bold cyan")
        console.print(head, soft_wrap=True)
        why = how(exp, i)
        if why:
            console.print(Text("  " + why, style="italic"), soft_wrap=True)
        lines = segment_lines(o)
        conns = {c for c, _ in lines}
        for k, (conn, text) in enumerate(lines):
            same = k < len(base) and base[k] == (conn, text) and i > 0
            prefix = f"  {conn}: " if len(conns) > 1 else "  "
            console.print(Text(prefix + text, style="dim" if same else ""), soft_wrap=True)
        for index, result, err in o.signature[1]:
            if i and base_calls.get(index) == (result, err):
                continue
            if i == 0 and err is None:
                continue
            s = steps[index]
            value = f"{result}" + (f" {err}" if err else "")
            console.print(Text("  " + t("explore.result", call=_call(s), value=value),
                               style="red" if err else ""), soft_wrap=True)
        for process, line in o.hangs:
            console.print(Text("  " + t("explore.hangs", process=process, line=line),
                               style="bold red"), soft_wrap=True)
        states = ", ".join(f"{label} {state}" for label, state in o.signature[2])
        console.print(Text("  " + t("explore.states", states=states), style="dim"), soft_wrap=True)


def exploration_json(exp: Exploration) -> dict:
    return {
        "program": exp.program, "schedules": exp.schedules, "interleavings": exp.interleavings,
        "choice_points": exp.choice_points, "snapshots": exp.snapshots,
        "pruned_by_sleep_sets": exp.pruned, "merged_states": exp.merged,
        "complete": exp.complete, "seconds": round(exp.seconds, 4),
        "outcomes": [{
            "runs": o.runs,
            "how": how(exp, i),
            "segments": [{"connection": list(conn), "from": w, "flags": f, "seq": s, "ack": a,
                          "len": n} for conn, segs in o.signature[0] for w, f, s, a, n in segs],
            "calls": [{"step": st, "result": r, "errno": e} for st, r, e in o.signature[1]],
            "states": dict(o.signature[2]),
            "hangs": [{"process": p, "line": line} for p, line in o.hangs],
        } for i, o in enumerate(exp.outcomes)],
    }


def _seg_text(seg, width: int = 0) -> str:
    """One segment of a signature: 'who [flags] seq S ack A len L' (who padded to width)."""
    who, flags, seq, ack, length = seg
    return f"{who:<{width}} [{flags}] seq {seq}" + (f" ack {ack}" if ack is not None else "") + (
        f" len {length}" if length else "")


def first_difference(expected: tuple, seen: tuple, where: str = "kernel", steps=()) -> str:
    """The first place where an exchange (seen; where: "kernel" or "capture") departs from an
    outcome (expected); steps: the program's lines, to name a call."""
    at = t(f"diff.where.{where}")
    by_index = {s.index: s for s in steps}
    conns_e, conns_s = dict(expected[0]), dict(seen[0])
    for conn in sorted(set(conns_e) | set(conns_s)):
        a, b = conns_e.get(conn, ()), conns_s.get(conn, ())
        for k in range(max(len(a), len(b))):
            x = _seg_text(a[k]) if k < len(a) else t("diff.nothing")
            y = _seg_text(b[k]) if k < len(b) else t("diff.nothing")
            if x != y:
                return t("exchange.diff.segment", n=k + 1, conn=" - ".join(conn), expected=x,
                         seen=y, where=at)
    calls_e = {c[0]: c[1:] for c in expected[1]}
    calls_s = {c[0]: c[1:] for c in seen[1]}
    for step in sorted(set(calls_e) | set(calls_s)):
        if calls_e.get(step) != calls_s.get(step):
            call = _call(by_index[step]) if step in by_index else f"#{step + 1}"
            return t("exchange.diff.call", call=call,
                     expected=result_text(*calls_e.get(step, (None, None))),
                     seen=result_text(*calls_s.get(step, (None, None))), where=at)
    if expected[2] != seen[2]:
        return t("exchange.diff.states", expected=dict(expected[2]), seen=dict(seen[2]), where=at)
    return t("exchange.diff.hangs", expected=list(expected[3]), seen=list(seen[3]), where=at)


def distance(a: tuple, b: tuple) -> tuple[int, int]:
    """How far apart two exchanges are: first, how many segments agree before each connection's
    first difference (more is nearer: the nearest exchange departs as late as possible), then
    how many segments, results, states and hangs differ."""
    agree, n = 0, 0
    ca, cb = dict(a[0]), dict(b[0])
    for conn in set(ca) | set(cb):
        x, y = ca.get(conn, ()), cb.get(conn, ())
        same = [p == q for p, q in zip(x, y)]
        agree += same.index(False) if False in same else len(same)
        n += same.count(False) + abs(len(x) - len(y))
    for part in (1, 2, 3):
        n += len(set(a[part]) ^ set(b[part]))
    return -agree, n


def nearest_outcome(exp: Exploration, sig: tuple) -> tuple[int, str]:
    """The outcome closest to an exchange outside the set, and where they first differ."""
    j = min(range(len(exp.outcomes)), key=lambda i: distance(exp.outcomes[i].signature, sig))
    return j, first_difference(exp.outcomes[j].signature, sig, steps=exp.steps)
