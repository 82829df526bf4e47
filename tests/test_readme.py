"""The README says what the code does: its exit-status table and its sample outputs are checked
against the code and the real output, so that they cannot drift again."""

import importlib
import os
import pkgutil
import re
import shlex

import pytest

import tcpsim
from tcpsim.errors import EXIT_CODES, TcpsimError

from .conftest import ROOT, lab_unavailable, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_exit_status_table_is_the_one_the_code_defines():
    section = README.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    assert {int(code): meaning.strip() for code, meaning in rows} == EXIT_CODES
    assert len(rows) == len(EXIT_CODES)  # each code once


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_exit_code_the_code_uses_is_in_the_table():
    for mod in pkgutil.walk_packages(tcpsim.__path__, "tcpsim."):
        if not mod.name.endswith("__main__"):  # that one runs the command
            importlib.import_module(mod.name)
    for cls in _subclasses(TcpsimError):
        assert cls.exit_code in EXIT_CODES, cls
    # and no bare number passed to sys.exit or set as an exit code anywhere
    for path in (ROOT / "tcpsim").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for code in re.findall(r"(?:sys\.exit\(|exit_code = )(\d+)", text):
            assert int(code) in EXIT_CODES, f"{path}: exit code {code}"


def _samples() -> list[tuple[str, list[str]]]:
    """Each `$ command` of the README's indented blocks, with the lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    lines = README.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("    $ "):
            continue
        shown = []
        for follow in lines[i + 1:]:
            if follow.startswith("    $ ") or (follow and not follow.startswith("    ")):
                break
            shown.append(follow[4:].rstrip())
        while shown and not shown[-1]:
            shown.pop()
        out.append((line[6:].split("  #")[0].strip(), shown))
    return out


def _matches(shown: list[str], real: list[str]) -> bool:
    """The shown lines appear in the real output in order; a line `...` stands for any number
    of lines, and `...` within a line for any part of it."""
    def line_re(s: str) -> re.Pattern:
        return re.compile(".*?".join(map(re.escape, s.split("..."))) + r"\Z")

    def walk(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(real)
        if shown[i].strip() == "...":
            return any(walk(i + 1, k) for k in range(j, len(real) + 1))
        return j < len(real) and bool(line_re(shown[i]).match(real[j])) and walk(i + 1, j + 1)

    return walk(0, 0)


SAMPLES = _samples()


def test_the_readme_has_its_samples():
    commands = [c for c, _ in SAMPLES]
    assert "tcpsim run handshake" in commands and "tcpsim scenarios" in commands


@pytest.mark.parametrize("command, shown", SAMPLES, ids=[c for c, _ in SAMPLES])
def test_a_readme_sample_is_the_real_output(command, shown):
    words = shlex.split(command)
    if words[0] == "sudo":
        reason = lab_unavailable()
        if reason:
            pytest.skip(f"the sample runs the lab: {reason}")
        words = words[1:]
    assert words[0] in ("tcpsim", ".venv/bin/tcpsim"), command
    # the README's reader: English, no terminal width of their own
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TCPSIM_LANG")}
    r = run_cli(*words[1:], env=env)
    assert r.returncode == 0, r.stderr
    real = [line.rstrip() for line in r.stdout.splitlines()]
    assert _matches(shown, real), "\n".join(["README:", *shown, "", "real:", *real])
