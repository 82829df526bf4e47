"""Reading strace's record of a program's system calls.

`tcpsim trace` runs people's own programs under strace (the Debian tool for it; no library
reads its output, which is text meant for people, so this reader is written by hand).  It
runs strace as

    strace -f -ttt -T -yy -xx -s 4096 -qq -e signal=none -e trace=... -o FILE CMD

so that every line is one call of one thread: its pid, the epoch time it began (-ttt), its
arguments with every string in hex (-xx: no escaping rules to undo), each descriptor followed
by what it is (-yy: `3<TCP:[127.0.0.1:8080->127.0.0.1:42832]>`), its result and errno, and
the time it took (-T).  A call another thread interrupted is printed in two halves,
`name(args <unfinished ...>` and `<... name resumed>rest) = result`, which are joined here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import TcpsimError


@dataclass
class Syscall:
    pid: int
    t: float  # when the call began (epoch seconds)
    name: str
    args: list[str]  # the arguments as strace prints them, split at the top level
    result: str | None = None  # "0", "19", "4<TCP:[...]>", "?" ; None: it never returned
    errno: str | None = None  # "ECONNREFUSED"
    duration: float | None = None  # seconds in the call (-T)
    detail: str | None = None  # what strace adds after the result: "[{fd=3, revents=POLLIN}]"

    @property
    def returned(self) -> bool:
        return self.result is not None and self.result != "?"

    @property
    def value(self) -> int | None:
        """The result as a number (a descriptor's number without its <...> description)."""
        if not self.returned:
            return None
        m = re.match(r"0x[0-9a-f]+|-?\d+", self.result)
        return None if m is None else int(m.group(0), 0)

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.t + self.duration


@dataclass
class Exit:
    pid: int
    t: float
    how: str  # "exited with 0", "killed by SIGKILL"


@dataclass
class Record:
    calls: list[Syscall] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)


_LINE = re.compile(r"(?P<pid>\d+)\s+(?P<t>\d+\.\d+)\s+(?P<rest>.*)$")
# ") = 19 <0.000055>", ") = -1 ECONNREFUSED (Connection refused) <0.0001>",
# ") = 0x8001 (flags O_WRONLY|O_LARGEFILE) <...>", ") = 1 ([{fd=3, revents=POLLIN}]) <...>"
_RESULT = re.compile(r"\)\s+=\s+(?P<result>\S+)(?:\s+(?P<errno>E[A-Z0-9]+))?(?:\s+\((?P<what>.*)\))?"
                     r"(?:\s+<(?P<dur>\d+\.\d+)>)?\s*$")
_RESULT_UNAVAILABLE = re.compile(r"\)\s+=\s+\?(?:\s+<unavailable>)?\s*$")


def _angle(text: str, i: int, angles: int) -> int:
    """The nesting of -yy's <...> descriptions after text[i]: one opens right after a
    descriptor's number ("3<TCP:[...]>") or inside another ("<char 1:3>"); "->" (a socket's
    peer) and "=>" (strace's in => out values, "[16 => 16]") close nothing."""
    ch = text[i]
    if ch == "<" and (angles or (i and text[i - 1].isdigit())):
        return angles + 1
    if ch == ">" and angles and not (i and text[i - 1] in "-="):
        return angles - 1
    return angles


def split_args(text: str) -> list[str]:
    """strace's argument list split at its top-level commas (strings, {...}, [...] and <...>
    descriptions kept whole)."""
    out, depth, angles, cur, i, in_str = [], 0, 0, [], 0, False
    while i < len(text):
        ch = text[i]
        if in_str:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            cur.append(ch)
        elif ch in "<>":
            angles = _angle(text, i, angles)
            cur.append(ch)
        elif ch in "{[(":
            depth += 1
            cur.append(ch)
        elif ch in "}])":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0 and angles == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _call_end(rest: str) -> int:
    """Where the argument list of `rest` (text after "name(") closes, or -1."""
    depth, angles, in_str, i = 0, 0, False, 0
    while i < len(rest):
        ch = rest[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "<>":
            angles = _angle(rest, i, angles)
        elif ch in "{[(":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == ")":
            if depth == 0 and angles == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _finish(call: Syscall, tail: str, where: str) -> None:
    """`tail`: from the call's closing parenthesis on (") = 4<TCP:[...]> <0.2126>")."""
    m = _RESULT.match(tail)
    if m is not None:
        call.result, call.errno, call.detail = m.group("result"), m.group("errno"), m.group("what")
        if m.group("dur"):
            call.duration = float(m.group("dur"))
        if call.errno is not None and call.result not in ("-1", "?"):
            call.errno = None  # a positive result followed by a word is not an errno
        # "= ? ERESTARTSYS (To be restarted...)": interrupted by a signal, started again
        return
    if _RESULT_UNAVAILABLE.match(tail):
        call.result = "?"
        return
    raise TcpsimError(f"{where}: cannot read strace's result {tail.strip()!r}; this strace "
                      f"prints something tcpsim does not know: report it with the line")


def parse(text: str, source: str = "strace output") -> Record:
    """Every call and exit of a strace -f -ttt -T -yy -xx record, in the order they began."""
    rec = Record()
    pending: dict[int, Syscall] = {}  # pid -> its call printed as <unfinished ...>
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        m = _LINE.match(line)
        if m is None:
            if line.strip():
                raise TcpsimError(f"{source}:{n}: not a line strace -f -ttt writes: "
                                  f"{line[:80]!r}")
            continue
        pid, t, rest = int(m.group("pid")), float(m.group("t")), m.group("rest")
        where = f"{source}:{n}"
        if rest.startswith("+++"):
            rec.exits.append(Exit(pid, t, rest.strip("+ ")))
            pending.pop(pid, None)
            continue
        if rest.startswith("---"):
            continue  # a signal (-e signal=none leaves none but those that kill)
        if rest.startswith("<..."):
            rm = re.match(r"<\.\.\. (\w+) resumed>\s?(.*)$", rest)
            call = pending.pop(pid, None)
            if rm is None or call is None or call.name != rm.group(1):
                continue  # the first half was before the record began
            body = rm.group(2)
            close = _call_end(body)
            if close < 0:
                raise TcpsimError(f"{where}: cannot find the end of {call.name}'s arguments")
            call.args = split_args(",".join(call.args) + ("," if call.args else "")
                                   + body[:close]) if body[:close].strip() else call.args
            _finish(call, body[close:], where)
            continue
        cm = re.match(r"(\w+)\((.*)$", rest)
        if cm is None:
            raise TcpsimError(f"{where}: cannot read the call {rest[:80]!r}")
        name, body = cm.group(1), cm.group(2)
        call = Syscall(pid, t, name, [])
        rec.calls.append(call)
        killed = re.search(r"\s*<unfinished \.\.\.>\)\s+=\s+\?\s*$", body)
        if killed is not None:  # the process died in the call (SIGKILL): it never returned
            call.args = split_args(body[:killed.start()].rstrip().rstrip(","))
            continue
        if body.endswith("<unfinished ...>"):
            head = body[: -len("<unfinished ...>")].rstrip()
            call.args = split_args(head.rstrip(","))
            pending[pid] = call
            continue
        close = _call_end(body)
        if close < 0:
            if n == len(lines):  # strace itself was killed while it wrote the line
                call.args = split_args(body.rstrip().rstrip(","))
                continue
            raise TcpsimError(f"{where}: cannot find the end of {name}'s arguments in "
                              f"{line[:120]!r}")
        call.args = split_args(body[:close])
        _finish(call, body[close:], where)
    return rec


def hex_string(arg: str) -> bytes | None:
    """A -xx string argument ("\\x48\\x69"..., maybe cut short with ...) as bytes; None if
    `arg` is not a string."""
    m = re.match(r'^"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?$', arg)
    if m is None:
        return None
    return bytes.fromhex(m.group(1).replace("\\x", ""))


def fd_of(arg: str) -> tuple[int, str] | None:
    """`3<TCP:[127.0.0.1:8080->127.0.0.1:42832]>` as (3, "TCP:[...]"); (3, "") bare."""
    m = re.match(r"^(-?\d+)(?:<(.*)>)?$", arg)
    if m is None:
        return None
    return int(m.group(1)), m.group(2) or ""


def tcp_endpoints(desc: str) -> tuple[str | None, str | None] | None:
    """A -yy description of a TCP socket as (local, remote); None if it is no TCP socket.
    "TCP:[10733612]" (no address yet) gives (None, None)."""
    m = re.match(r"^TCP(v6)?:\[(.*)\]$", desc)
    if m is None:
        return None
    body = m.group(2)
    if "->" in body:
        a, b = body.split("->", 1)
        return a, b
    if re.fullmatch(r"\d+", body):  # an inode: not bound, not connected
        return None, None
    return body, None
