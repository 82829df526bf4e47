"""`tcpsim explore`: every exchange a program can produce, and the ordering that makes each one.

Each outcome is shown as its segments (dimmed where they are the same as the first outcome's),
the call results that differ from the first outcome, what hangs, the last states, and the
decision that separates it from its nearest neighbour ("server's close() before client's").
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..i18n import t
from ..sim.explore import Choice, Exploration, Outcome


def _call(step) -> str:
    return t("explore.call", process=step.process, call=step.call, line=step.line)


def describe(mine: Choice, theirs: Choice | None = None) -> str:
    """The ordering decision `mine`, phrased against the option another outcome took."""
    if mine.kind == "timer":
        timer, sock = mine.timer.split(":", 1)
        key = "explore.timer.sleep" if mine.first == "sleep" else "explore.timer.timer"
        return t(key, call=_call(mine.steps[0]), timer=timer, socket=sock)
    if mine.kind == "together":
        a, b = mine.steps
        return t("explore.together", a=_call(a), b=_call(b), sender=a.process,
                 first=mine.first)
    if theirs is not None and theirs.kind != "timer":
        return t("explore.before", a=_call(mine.steps[0]), b=_call(theirs.steps[0]))
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
    j = nearest(exp, i)
    if j is None or j not in exp.outcomes[i].versus:
        return ""
    mine, theirs = exp.outcomes[i].versus[j]
    return describe(mine, theirs)


def segment_lines(outcome: Outcome) -> list[tuple[str, str]]:
    """(connection, 'who [flags] seq S ack A len L') for each segment."""
    out = []
    for conn, segs in outcome.signature[0]:
        name = " - ".join(conn)
        for who, flags, seq, ack, length in segs:
            text = f"{who:<12} [{flags}] seq {seq}" + (f" ack {ack}" if ack is not None else "")
            out.append((name, text + (f" len {length}" if length else "")))
    return out


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
