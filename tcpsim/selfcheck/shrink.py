"""Shrinking a diverging program to a minimal one that still diverges for the same cause.

Delta debugging (Zeller's ddmin) over the program's lines, after trying to drop whole
processes; then each number (a send's or a read's size, a sleep) is made smaller.  A
candidate is kept only if the parser accepts it and the lab diverges with the same cause
(check.check(): a divergence is confirmed by a second lab run before it counts).  Bounded by
a number of candidate runs and by time: the program found so far is returned when either
runs out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from .check import Result, check

BUDGET_RUNS = 80  # candidate programs tried at most per cause
BUDGET_SECONDS = 240.0
SHRINK_TIMEOUT = 5.0  # the stuck timeout while shrinking (check.TIMEOUT)


def _lines(text: str) -> tuple[list[str], list[str]]:
    head = [ln for ln in text.splitlines() if ln.startswith("#")]
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return head, body


def _text(head: list[str], body: list[str]) -> str:
    return "\n".join(head + body) + "\n"


def _parses(text: str) -> bool:
    from ..scenario import parse

    try:
        parse(text, name="shrink")
    except Exception:  # noqa: BLE001 - any refusal: not a program
        return False
    return True


def shrink(found: Result, profile_name: str | None, mtu: int | None,
           test: Callable[[str], Result] | None = None,
           runs: int = BUDGET_RUNS, seconds: float = BUDGET_SECONDS) -> tuple[Result, int]:
    """The smallest program found that diverges as found does, and the candidates tried.
    test(text): the oracle (default: check() in the lab); the tests give a fake one."""
    if test is None:
        def test(text: str) -> Result:
            return check(text, "shrink", profile_name, mtu, timeout=SHRINK_TIMEOUT,
                         keep=True, index=found.index)
    deadline = time.monotonic() + seconds
    tried = 0
    best = found
    head, body = _lines(found.text)
    seen: set[str] = set()

    def keeps(cand: list[str]) -> bool:
        nonlocal tried, best
        text = _text(head, cand)
        if text in seen or tried >= runs or time.monotonic() > deadline or not _parses(text):
            return False
        seen.add(text)
        tried += 1
        r = test(text)
        if r.status == "diverge" and r.cause == found.cause:
            best = r
            return True
        return False

    # 1. whole processes (net and sysctl lines count as one each)
    def proc(ln: str) -> str:
        return ln.split(":", 1)[0]

    for p in sorted({proc(ln) for ln in body}, key=lambda p: p == "server"):
        cand = [ln for ln in body if proc(ln) != p]
        if cand and keeps(cand):
            body = cand
    # 2. ddmin over lines
    n = 2
    while len(body) >= 2 and tried < runs and time.monotonic() < deadline:
        chunk = max(1, len(body) // n)
        parts = [body[i:i + chunk] for i in range(0, len(body), chunk)]
        reduced = False
        for i in range(len(parts)):
            cand = [ln for j, part in enumerate(parts) if j != i for ln in part]
            if cand and keeps(cand):
                body, n, reduced = cand, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(body):
                break
            n = min(len(body), n * 2)
    # 3. smaller numbers: sizes and pauses
    for i in range(len(body)):
        for _ in range(6):
            m = re.search(r"(send\(\w+, |recv\(\w+, |readall\(\w+, |sleep )(\d+)", body[i])
            if not m or int(m.group(2)) <= 1:
                break
            value = int(m.group(2))
            smaller = [v for v in (1, value // 16, value // 2) if 0 < v < value]
            changed = False
            for v in dict.fromkeys(smaller):
                line = body[i][:m.start(2)] + str(v) + body[i][m.end(2):]
                # a read of the same size as its send shrinks with it (MSG_WAITALL pairs)
                cand = [line if j == i else (ln.replace(f", {value}, MSG_WAITALL", f", {v}, MSG_WAITALL")
                                             if j > i else ln) for j, ln in enumerate(body)]
                if keeps(cand):
                    body, changed = cand, True
                    break
            if not changed:
                break
    return best, tried
