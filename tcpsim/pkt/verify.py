"""`tcpsim pkt verify`: a packetdrill script on the real kernel and on the model, side by side.

The kernel's run is the reference (it is what packetdrill itself would report on this
machine), so its verdict comes first; then where the model parts from it: the first event at
which the two did different things (a packet with other fields, a call with another result,
one side stopping where the other went on).  Times are not compared here: each run checked
its own against the script's tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import KernelProfile
from .run import Outcome, Unsupported, run_script, run_script_on_kernel
from .syntax import Script


@dataclass
class Parting:
    """Where the model's run parts from the kernel's: the script line, and what each run did
    there, in words ("> . 1:1(0) ack 1 win 1050", "had stopped", "passed")."""

    line: int
    kernel: str
    model: str


@dataclass
class Verdict:
    kernel: Outcome
    model: Outcome
    parting: Parting | None  # None: the model did what the kernel did, event for event

    @property
    def agree(self) -> bool:
        return self.parting is None


def _events(outcome: Outcome) -> list[tuple[int, str]]:
    """Each step as (script line, what happened) without its time: "7: 0.100578 > . 1:1(0)
    ack 1 win 1050" -> (7, "> . 1:1(0) ack 1 win 1050")."""
    out = []
    for step in outcome.steps:
        line, _, rest = step.partition(": ")
        words = rest.split(" ", 1)
        try:
            float(words[0])
            rest = words[1] if len(words) > 1 else ""
        except ValueError:
            pass
        out.append((int(line) if line.isdigit() else 0, rest))
    return out


def _end(outcome: Outcome) -> str:
    return "passed" if outcome.passed else f"had stopped (line {outcome.line}: {outcome.message})"


def _failure(outcome: Outcome) -> tuple:
    """A failure as both runs word it ("the kernel sent" and "the model sent" are the same)."""
    return (outcome.line, outcome.message.replace("the model sent", "the kernel sent"))


def parting(kernel: Outcome, model: Outcome) -> Parting | None:
    """The first event at which the two runs did different things, or None."""
    k, m = _events(kernel), _events(model)
    for (kl, kt), (ml, mt) in zip(k, m):
        if (kl, kt) != (ml, mt):
            return Parting(kl or ml, kt, mt)
    if len(k) != len(m):
        line, text = (k if len(k) > len(m) else m)[min(len(k), len(m))]
        return Parting(line, text if len(k) > len(m) else _end(kernel),
                       text if len(m) > len(k) else _end(model))
    if kernel.passed != model.passed or (not kernel.passed and _failure(kernel) != _failure(model)):
        # the same events, but a check (a time, a window the script gave) failed in one run
        # only, or otherwise: at the line of the first failure
        line = min(x.line for x in (kernel, model) if not x.passed)
        return Parting(line, _end(kernel), _end(model))
    return None


def verify_script(script: Script, profile: KernelProfile) -> Verdict:
    """Run the script on the kernel (root, a private namespace) and on the model."""
    kernel = run_script_on_kernel(script, profile)
    try:
        model = run_script(script, profile)
    except Unsupported as e:  # (Fast Open, say): the kernel's verdict goes with the sentence
        e.kernel = kernel
        raise
    return Verdict(kernel, model, parting(kernel, model))
