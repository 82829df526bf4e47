"""Scenario programs: the socket calls of one or more processes, one call per line.

The format is documented in docs/scenario-format.md; built-in programs live in programs/.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import TcpsimError
from .parser import ScenarioError, parse
from .schedule import Schedule
from .syntax import Address, Expect, Linger, Program, Step

__all__ = ["Address", "Expect", "Linger", "Program", "Step", "Schedule", "ScenarioError",
           "parse", "load", "builtin_names", "transfer"]

_SUFFIX = ".tcp"


def _programs_dir():
    return resources.files(__package__) / "programs"


def builtin_names() -> list[str]:
    return sorted(p.name[: -len(_SUFFIX)] for p in _programs_dir().iterdir()
                  if p.name.endswith(_SUFFIX))


def load(ref: str) -> Program:
    """A built-in program by name, or a program file by path."""
    path = Path(ref)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TcpsimError(f"cannot read program file {ref}: {e}; give a readable UTF-8 text file")
        return parse(text, source=str(path), name=path.stem)
    if ref in builtin_names():
        text = (_programs_dir() / (ref + _SUFFIX)).read_text(encoding="utf-8")
        return parse(text, source=f"builtin:{ref}", name=ref)
    if path.exists():
        raise TcpsimError(f"{ref} is not a regular file; give a program file or a built-in name")
    raise TcpsimError(f"no program named '{ref}': `tcpsim scenarios` lists the built-in programs, "
                      "or give the path of a program file")


def transfer(n: int) -> Program:
    """A one-way transfer of n bytes over loopback: the client sends them and closes, the
    server reads them all (MSG_WAITALL), then EOF.  The lab's capture is checked at volume
    with it (scripts/check_capture.py, tests/test_lab_live.py)."""
    return parse("\n".join([
        "server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0", "server: listen(s, 3) = 0",
        "server: c = accept(s)", "client: fd = socket()",
        "client: connect(fd, 127.0.0.1:8080) = 0", f"client: send(fd, {n}) = {n}",
        "client: close(fd) = 0", f"server: recv(c, {n}, MSG_WAITALL) = {n}",
        "server: recv(c, 100) = 0", "server: close(c) = 0"]) + "\n", name=f"transfer-{n}")
