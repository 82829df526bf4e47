import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
PROGRAMS = Path(__file__).resolve().parent / "programs"


@functools.cache
def lab_unavailable() -> str | None:
    """Why the real-kernel lab cannot run here, or None when it can."""
    from tcpsim.errors import PrivilegeError
    from tcpsim.lab.netns import private_netns

    try:
        with private_netns():
            pass
    except PrivilegeError as e:
        return str(e)
    return None


@pytest.fixture
def live():
    """Skip (with the reason printed by -ra) where no private network namespace can be made."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")


def run_cli(*args, check=False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcpsim", *map(str, args)], capture_output=True,
                          text=True, check=check, cwd=kw.pop("cwd", ROOT), **kw)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def _test_runners() -> set[int]:
    """This process, its parent and its siblings: pytest and its xdist workers, whose own
    in-process lab runs make namespaces of their own (and the kernel reuses freed inode
    numbers, so one of those may carry the number a finished run's namespace had)."""
    me, parent = os.getpid(), os.getppid()
    out = {me, parent}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "stat").read_text().split(")")[1].split()[1] == str(parent):
                out.add(int(proc.name))
        except (OSError, IndexError):
            continue
    return out


def namespace_holders(ns: str) -> list[str]:
    """The command lines of the processes that refer to network namespace `ns` (a task in it,
    or an open fd on it), the test runners excepted.  Read the command lines: the kernel
    reuses a freed namespace's inode number, and another test's run may hold it by then."""
    out = []
    runners = _test_runners()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in runners:
            continue
        try:
            refs = {os.readlink(task / "ns" / "net") for task in (proc / "task").iterdir()}
            refs |= {os.readlink(fd) for fd in (proc / "fd").iterdir()}
            if ns in refs:
                out.append((proc / "cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
    return out
