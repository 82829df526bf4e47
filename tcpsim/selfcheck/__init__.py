"""`tcpsim selfcheck`: random programs (gen.py) run in the model and on the real kernel
(check.py, as `verify` holds them), divergences grouped by cause and each cause's program
shrunk to a minimal one (shrink.py), written to a directory with both traces.

run() is the library's entry; cli.py's selfcheck command renders its Report.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .check import Result, check
from .gen import generate
from .shrink import shrink

__all__ = ["Report", "Cause", "generate", "check", "shrink", "run", "STATUSES"]

# every outcome a program can have, in the order the summary shows them (check.py says each)
STATUSES = ("agree", "diverge", "flaky", "incomplete", "too-big", "refused", "stuck")


@dataclass
class Cause:
    key: str  # the first differing field, what each side had, the model's rule before it
    count: int
    programs: list[int]  # the indexes of the programs that diverged so
    first: str  # the first difference of the minimal program, in words
    minimal: str  # the minimal program's text
    lines: int  # its lines (calls and net/sysctl lines)
    tried: int  # candidates the shrinker ran
    path: str = ""  # DIR/cause-K.tcp


@dataclass
class Report:
    seed: int
    n: int
    counts: Counter
    causes: list[Cause] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)  # the model's reasons, counted
    apart: dict[str, list[int]] = field(default_factory=dict)  # status -> program indexes
    seconds: float = 0.0
    statuses: dict[int, str] = field(default_factory=dict)  # program index -> its outcome

    @property
    def diverged(self) -> int:
        return self.counts.get("diverge", 0)

    def to_dict(self) -> dict:
        return {"seed": self.seed, "programs": self.n,
                "counts": {s: self.counts.get(s, 0) for s in STATUSES},
                "causes": [vars(c) for c in self.causes],
                "refused": dict(self.refused), "apart": self.apart,
                "seconds": round(self.seconds, 1), "generator": generator_id()}


def generator_id() -> str:
    """Which generator drew the programs (the first 12 hex digits of gen.py's SHA-1): the same
    seed draws the same programs only with the same generator, so `--again` warns when an
    earlier report's differs."""
    import hashlib

    from . import gen

    return hashlib.sha1(Path(gen.__file__).read_bytes()).hexdigest()[:12]


def findings_of(report: dict) -> tuple[int, list[int], list[dict]]:
    """An earlier report (its selfcheck.json, as a dict): its seed, the programs it found
    diverging or counted apart (in order), and its causes.  ValueError if it is not one."""
    try:
        seed = int(report["seed"])
        causes = list(report["causes"])
        found = {int(i) for c in causes for i in c["programs"]}
        found |= {int(i) for idx in dict(report.get("apart", {})).values() for i in idx}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return seed, sorted(found), causes


def _check_job(seed: int, index: int, profile: str | None, mtu: int | None) -> Result:
    from ..errors import TcpsimError
    from .check import _crash_cause

    try:
        r = check(generate(seed, index), f"selfcheck-{seed}-{index}", profile, mtu, keep=False,
                  index=index)
    except TcpsimError:  # the lab cannot run at all (no root...): the run ends
        raise
    except Exception as e:  # noqa: BLE001 - selfcheck's own bug: a finding, not the run's end
        r = Result(index, "", "diverge", _crash_cause(e, "selfcheck"), f"{type(e).__name__}: {e}")
    r.text = ""  # the parent regenerates it from (seed, index)
    return r


def _shrink_job(found: Result, profile: str | None, mtu: int | None, shrink_runs: int):
    from .shrink import BUDGET_SECONDS

    try:
        best, tried = (found, 0) if shrink_runs <= 0 else \
            shrink(found, profile, mtu, runs=shrink_runs, seconds=BUDGET_SECONDS)
        if not best.lab_json:  # as found, not shrunk: run it once more for its traces
            again = check(best.text, "selfcheck", profile, mtu, keep=True, index=best.index)
            if again.status == "diverge" and again.cause == found.cause:
                best = again
    except Exception:  # noqa: BLE001 - a cause left unshrunk rather than a run lost
        return found, 0
    return best, tried


def run(n: int, seed: int = 0, profile: str | None = None, mtu: int | None = None,
        jobs: int = 1, out: str | Path | None = None, shrink_runs: int = 80,
        progress=None, map_jobs=None, indices: list[int] | None = None) -> Report:
    """Generate n programs of seed, check each, group the divergences by cause, shrink one
    program per cause and write it (and both traces) to out.  indices: check those
    programs of seed instead of the first n (`--again`: an earlier report's findings).
    progress(stage, done, total, counts): told as programs finish; map_jobs(job, items, jobs,
    done): runs job(*item) for each item in workers (cli.py's _in_workers), None: one by one
    here."""
    import time

    start = time.perf_counter()
    counts: Counter = Counter()

    def runner(job, items, stage, record=None):
        finished = [0]

        def done(item, result):
            finished[0] += 1
            if record is not None:
                record(result)
            if stage == "check":
                counts[result.status] += 1
            if progress is not None:
                progress(stage, finished[0], len(items), counts)

        if map_jobs is None:
            results = []
            for item in items:
                results.append(job(*item))
                done(item, results[-1])
            return results
        return map_jobs(job, items, jobs, done)

    which = list(range(n)) if indices is None else list(indices)
    outdir = Path(out) if out else None
    if outdir is not None:
        # each program's outcome as it comes (DIR/results.jsonl): a run cut short (killed,
        # the machine gone) keeps what it had checked
        outdir.mkdir(parents=True, exist_ok=True)
        stream = (outdir / "results.jsonl").open("w", encoding="utf-8")

        def record(r: Result) -> None:
            stream.write(json.dumps({"index": r.index, "status": r.status, "cause": r.cause,
                                     "first": r.first, "seconds": round(r.seconds, 2)}) + "\n")
            stream.flush()
    else:
        stream, record = None, None
    try:
        results: list[Result] = runner(_check_job, [(seed, i, profile, mtu) for i in which],
                                       "check", record)
    finally:
        if stream is not None:
            stream.close()
    report = Report(seed, len(which), Counter({s: 0 for s in STATUSES}))
    report.statuses = {r.index: r.status for r in results}
    for r in results:
        r.text = generate(seed, r.index)
        report.counts[r.status] += 1
        if r.status == "refused":
            report.refused[r.cause] += 1
        if r.status not in ("agree", "diverge"):
            report.apart.setdefault(r.status, []).append(r.index)
    by_cause: dict[str, list[Result]] = {}
    for r in results:
        if r.status == "diverge":
            by_cause.setdefault(r.cause, []).append(r)
    # one program per cause, the shortest, shrunk (in workers: one cause each)
    firsts = [min(rs, key=lambda r: (len(r.text.splitlines()), len(r.text)))
              for rs in by_cause.values()]
    shrunk = runner(_shrink_job, [(f, profile, mtu, shrink_runs) for f in firsts], "shrink") if firsts else []
    order = sorted(zip(by_cause.items(), shrunk), key=lambda x: -len(x[0][1]))
    if outdir is not None:
        for old in outdir.glob("cause-*.*"):  # a previous run's causes: not this run's
            if old.name.split(".", 1)[0][6:].isdigit():
                old.unlink()
    for k, ((key, rs), (best, tried)) in enumerate(order, 1):
        cause = Cause(key, len(rs), [r.index for r in rs], best.first, best.text,
                      len([ln for ln in best.text.splitlines() if ln and not ln.startswith("#")]),
                      tried)
        if outdir is not None:
            cause.path = str(_write(outdir, k, cause, best, seed))
        report.causes.append(cause)
    report.seconds = time.perf_counter() - start
    if outdir is not None:
        (outdir / "selfcheck.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _write(outdir: Path, k: int, cause: Cause, best: Result, seed: int) -> Path:
    """DIR/cause-K.tcp (the minimal program, its cause in the comment), .model.json and
    .kernel.json (the traces), .txt (the first difference in words, and the others)."""
    body = [ln for ln in best.text.splitlines() if not ln.startswith("#")]
    head = [f"# selfcheck cause {k}: {cause.key}",
            f"# {cause.count} of the programs of seed {seed} diverged so "
            f"(programs {', '.join(map(str, cause.programs[:10]))}"
            f"{', ...' if len(cause.programs) > 10 else ''}); this is program "
            f"{best.index}, shrunk.",
            f"# first difference: {cause.first}"]
    path = outdir / f"cause-{k}.tcp"
    path.write_text("\n".join(head + body) + "\n", encoding="utf-8")
    if best.model_json:
        (outdir / f"cause-{k}.model.json").write_text(best.model_json, encoding="utf-8")
    if best.lab_json:
        (outdir / f"cause-{k}.kernel.json").write_text(best.lab_json, encoding="utf-8")
    (outdir / f"cause-{k}.txt").write_text(
        "\n".join([cause.key, "", cause.first, ""] + [f"- {d}" for d in best.differences]) + "\n",
        encoding="utf-8")
    return path
