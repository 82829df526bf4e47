"""Every exchange a program can produce when its processes run concurrently.

Each process runs its own lines in order; between processes only the kernel orders them (a
blocking call waits for its event) and the start order of scenario/schedule.py's runnable().
Whenever two processes could make their next call, either may go first: the explorer runs
the model once per distinct choice sequence (depth first, replaying a prefix of choices, so no
snapshot of the world is needed) and groups the runs by their outcome: the segments (relative
numbers), every call's result and errno, and every socket's last state.

Reduction: a call that neither sends a segment nor reads shared state commutes with every
other call (socket(), setsockopt/getsockopt/fcntl on its own descriptor, and a sleep that only
starts), so it is taken first without branching.  Not yet done (docs/issue8-plan.md): sleep
sets for the remaining independent pairs, races between a call and a pending timer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from math import comb

from ..model import KernelProfile
from ..scenario import Program, Step
from ..trace import Trace
from .runner import Stuck
from .world import run_model

# Calls whose order against other processes' calls cannot change any outcome.
LOCAL_CALLS = frozenset({"socket", "setsockopt", "getsockopt", "fcntl", "sleep"})


@dataclass
class Outcome:
    signature: tuple
    trace: Trace  # the first run that produced it
    choices: list[tuple[Step, list[Step]]]  # at each real choice: what went first, over what
    runs: int = 0
    # for each other outcome (by index): the choice that, flipped, leads from one to the other
    versus: dict[int, tuple[Step, list[Step]]] = field(default_factory=dict)


@dataclass
class Exploration:
    program: str
    outcomes: list[Outcome] = field(default_factory=list)
    schedules: int = 0  # runs of the model (distinct choice sequences after reduction)
    interleavings: int = 0  # all interleavings of the processes' lines, before any reduction
    seconds: float = 0.0


class _Replay:
    """Chooses by a prefix of choice indices, then the first option; records every point."""

    def __init__(self, prefix: list[int]):
        self.prefix = prefix
        self.options: list[int] = []  # how many options each real choice point had
        self.taken: list[tuple[Step, list[Step]]] = []

    def __call__(self, ready: list[Step]) -> Step:
        local = [s for s in ready if s.call in LOCAL_CALLS]
        if local or len(ready) == 1:
            return (local or ready)[0]  # commutes with everything: no branch
        depth = len(self.options)
        pick = self.prefix[depth] if depth < len(self.prefix) else 0
        self.options.append(len(ready))
        self.taken.append((ready[pick], [s for s in ready if s is not ready[pick]]))
        return ready[pick]


def signature(trace: Trace) -> tuple:
    """What makes two exchanges the same: segments (who sends, flags, relative seq/ack, len),
    call results and errnos per process line, and each socket's last state."""
    names = trace.endpoint_names()

    def who(ep: str) -> str:
        port = ep.rsplit(":", 1)[1]
        return names.get(ep) or names.get(f"0.0.0.0:{port}") or ep

    segs = tuple((who(r.seg.src), r.seg.flags, r.seq, r.ack if r.seg.has_ack else None,
                  r.seg.length) for r in trace.relative())
    calls = tuple(sorted((c.step, c.result, c.errno) for c in trace.calls
                         if c.result is not None))  # a result, whether or not the call waited
    last: dict[str, str] = {}
    for st in trace.observed_states:
        last[st.socket] = st.state
    return segs, calls, tuple(sorted(last.items()))


def interleavings(program: Program) -> int:
    """The number of ways to interleave the processes' lines, each process in its own order."""
    total, out = 0, 1
    for name in program.processes:
        n = sum(1 for s in program.steps if s.process == name)
        total += n
        out *= comb(total, n)
    return out


def explore(program: Program, profile: KernelProfile, seed: int = 0,
            limit: int = 20000, timeout: float = 10.0) -> Exploration:
    start = time.perf_counter()
    result = Exploration(program.name, interleavings=interleavings(program))
    by_sig: dict[tuple, Outcome] = {}
    # (prefix, the run it flips: its outcome and the choice it had made at the flipped point)
    stack: list[tuple[list[int], tuple | None]] = [([], None)]
    while stack and result.schedules < limit:
        prefix, parent = stack.pop()
        chooser = _Replay(prefix)
        try:
            trace = run_model(program, profile, seed=seed, chooser=chooser, timeout=timeout)
            hang = ()
        except Stuck as stuck:  # a real outcome: the program hangs (accept() after a refusal)
            trace = stuck.trace
            hang = tuple(sorted((c.process, c.line) for c in trace.calls
                                if c.blocked and c.kind == "call" and not any(
                                    r.kind == "return" and r.step == c.step for r in trace.calls)))
        result.schedules += 1
        sig = signature(trace) + (hang,)
        if sig not in by_sig:
            by_sig[sig] = Outcome(sig, trace, chooser.taken)
            result.outcomes.append(by_sig[sig])
        outcome = by_sig[sig]
        outcome.runs += 1
        if parent is not None and parent[0] is not outcome:  # this flip changed the exchange
            a, b = result.outcomes.index(parent[0]), result.outcomes.index(outcome)
            outcome.versus.setdefault(a, chooser.taken[len(prefix) - 1])
            parent[0].versus.setdefault(b, parent[1])
        picks = prefix + [0] * (len(chooser.options) - len(prefix))
        for depth in range(len(chooser.options) - 1, len(prefix) - 1, -1):
            for alt in range(chooser.options[depth] - 1, 0, -1):
                stack.append((picks[:depth] + [alt], (outcome, chooser.taken[depth])))
    result.seconds = time.perf_counter() - start
    return result


def describe_choice(first: Step, over: list[Step]) -> str:
    others = ", ".join(f"{s.process}'s {s.call}() (line {s.line})" for s in over)
    return f"{first.process}'s {first.call}() (line {first.line}) before {others}"
