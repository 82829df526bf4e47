"""The ordering rule every executor of a program follows (the lab and the model alike).

Lines run in file order.  A call that blocks parks its process: the following lines of the
other processes run meanwhile, and the parked process resumes when the kernel completes its
call.  So the next line to run is always the earliest not-yet-run line, in file order, whose
process is not parked.  The executor decides when a parked call completes; this class only
keeps the bookkeeping, as plain data, so that it is cheap to copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .syntax import Program, Step


@dataclass
class Schedule:
    program: Program
    done: int = 0  # how many lines have started
    started: list[bool] = field(default_factory=list)
    parked: dict[str, Step] = field(default_factory=dict)  # process -> its blocked call

    def __post_init__(self):
        if not self.started:
            self.started = [False] * len(self.program.steps)
        # a forked child exists once its parent's fork() line has run
        self.forks = {s.args[0]: s.index for s in self.program.steps
                      if s.call in ("fork", "thread")}
        self.low = 0  # every line before this one has started (next_step() starts there)

    def _unborn(self, process: str) -> bool:
        at = self.forks.get(process)
        return at is not None and not self.started[at]

    def next_step(self) -> Step | None:
        """The earliest line not yet started whose process is free to run it."""
        seen: set[str] = set()
        steps, started, low = self.program.steps, self.started, self.low
        while low < len(steps) and started[low]:
            low += 1
        self.low = low
        for i in range(low, len(steps)):
            step = steps[i]
            if started[i]:
                continue
            if step.process not in seen and step.process not in self.parked \
                    and not self._unborn(step.process):
                return step
            seen.add(step.process)  # later lines of this process wait for this one
        return None

    def runnable(self) -> list[Step]:
        """Every line that may start now when processes run concurrently (`tcpsim explore`,
        `lab --free`): each free process's next line.  All processes start at once
        (docs/concurrency.md)."""
        nxt: dict[str, Step] = {}
        for step in self.program.steps:
            if not self.started[step.index] and step.process not in nxt:
                nxt[step.process] = step
        return [step for name, step in nxt.items()
                if name not in self.parked and not self._unborn(name)]

    def leave_to_others(self, process: str) -> None:
        """This executor runs only `process` (lab --free: one OS process each); the other
        processes' lines are someone else's."""
        for step in self.program.steps:
            if step.process != process and not self.started[step.index]:
                self.start(step)

    def start(self, step: Step) -> None:
        self.started[step.index] = True
        self.done += 1

    def park(self, step: Step) -> None:
        self.parked[step.process] = step

    def resume(self, process: str) -> Step:
        return self.parked.pop(process)

    @property
    def finished(self) -> bool:
        return self.done == len(self.program.steps) and not self.parked

    def copy(self) -> "Schedule":
        return Schedule(self.program, self.done, list(self.started), dict(self.parked))
