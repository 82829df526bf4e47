"""`tcpsim report`: one self-contained HTML file a student can hand in.

The program, the verdict of the real kernel (when the lab can run here) with its capture
attached, the sequence diagram, the state diagram with the path each socket took, and the
timeline with the reason for every step.  Everything is inline (SVG, CSS, the pcap as a data
URI): the file opens anywhere without a network.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from .. import __version__
from ..i18n import lang, t
from ..trace import Call, Segment, State, Trace
from .sequence import row_phases, segment_marks, sequence_canvas, visible_events
from .timeline import call_text, endpoint_namer, segment_text, state_text


def build_report(program, model: Trace, seed: int, verdict: dict | None,
                 lab_problem: str | None = None) -> str:
    """The HTML text.  verdict: what `verify` found (lab, diffs), or None with lab_problem
    saying why the kernel could not be asked."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from ..teach import explain
    from .statediagram import render_states

    whys = explain(model)
    marks = segment_marks(model, verdict["diffs"]) if verdict else None
    ladder = sequence_canvas(model, marks, {k: w.line() for k, w in whys.items()})
    states = render_states(model, program.name)
    from .tsg import tsg_canvas, worth_graphing

    # the time-sequence graph where data flowed in several segments
    tsg = tsg_canvas(model) if worth_graphing(model) else None
    env = Environment(loader=PackageLoader("tcpsim.render", "templates"),
                      autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(
        lang="zh-CN" if lang() == "zh" else "en",
        title=t("report.title", program=program.name),
        generated=t("report.generated", version=__version__, release=model.kernel.get("release"),
                    profile=model.kernel.get("profile"), seed=seed),
        description=program.description,
        program_text=program.text,
        h={k: t(f"report.{k}") for k in ("program", "timeline", "ladder", "states", "explain",
                                          "verify", "tsg")}
        | {f"col_{k}": t(f"report.col.{k}") for k in ("time", "who", "event", "why")},
        verdict=_verdict(verdict, lab_problem),
        pcap=_pcap(verdict["lab"], program.name) if verdict else None,
        ladder_svg=ladder.svg(),  # an <svg> element is valid HTML as it is
        states_svg=states.svg(),
        tsg_svg=tsg.svg() if tsg is not None else None,
        rows=_rows(model, whys),
    )


def _verdict(verdict: dict | None, problem: str | None) -> dict:
    if verdict is None:
        return {"kind": "none", "text": t("report.verify.none", reason=problem or "?"),
                "differences": []}
    kernel = f"Linux {verdict['lab'].kernel.get('release', '?')}"
    if verdict["ok"]:
        return {"kind": "match", "differences": [],
                "text": t("report.verify.match", kernel=kernel, segments=verdict["segments"],
                          calls=verdict["calls"])}
    return {"kind": "differs", "differences": [d.sentence for d in verdict["diffs"]],
            "text": t("report.verify.differs", kernel=kernel, n=len(verdict["diffs"]))}


def _pcap(lab: Trace, name: str) -> dict | None:
    from ..pcap import write_pcap

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.pcap"
        n = write_pcap(lab, path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": f"{name}.pcap", "data": data, "label": t("report.pcap", n=n)}


def _rows(trace: Trace, whys: dict) -> list[dict]:
    events = visible_events(trace)
    name = endpoint_namer(trace)
    rel = {id(r.seg): r for r in trace.relative()}
    rows, last_phase = [], None
    for ev, phase in zip(events, row_phases(events, trace)):
        why = whys.get(id(ev))
        row = {"t": f"{ev.t * 1000:.3f}", "why": why.text if why else "",
               "ref": t("why.cite", ref=why.ref) if why and why.ref else "",
               "phase": f"{t(f'phase.{phase}')} · {t(f'phase.note.{phase}')}"
               if phase != last_phase else ""}
        last_phase = phase
        if isinstance(ev, Call):
            row.update(kind="call", who=ev.process, text=call_text(ev))
        elif isinstance(ev, Segment):
            row.update(kind="segment", who="", text=segment_text(rel[id(ev)], name))
        elif isinstance(ev, State):
            row.update(kind="state", who="", text=state_text(ev))
        rows.append(row)
    return rows
