"""`tcpsim trace`: people's own programs, run on the real kernel and held to the model.

Each command line runs under strace (lab/strace.py says how) in one private network
namespace made for the run, loopback captured as the lab captures it; a command starts once
the one before it has blocked in a call (./server waits in accept()) or exited, or `after`
seconds after it.  The calls on TCP sockets become the program they are, in the scenario
format (one line per call, in the order the calls began, each with the result the kernel
gave as its expected result), and the capture becomes the kernel's run of that program,
which compare/against.py holds against every exchange the program can produce.

What is not recovered is said, never guessed: a call the format lacks, a descriptor shared
by a forked child or a second thread (issue 20's fork() is not in the format yet).
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TcpsimError
from ..i18n import t
from ..scenario import Program, parse
from ..scenario.calls import CALLS, SOCKOPTS
from ..trace import Call, SocketInfo, Trace, decode_frame
from .capture import LoopbackCapture
from .kernel import kernel_info, sysctls
from ..model.profile import DEFAULT_CONGESTION
from .netns import pin_route_congestion, private_netns
from .strace import (Record, Syscall, fd_of, hex_string, parse as parse_strace, split_args,
                     tcp_endpoints)

# what strace records: the calls a program makes on sockets, and those that make processes
TRACED = ("%network,read,write,readv,writev,close,fcntl,ioctl,poll,ppoll,select,pselect6,"
          "epoll_create,epoll_create1,epoll_ctl,epoll_wait,epoll_pwait,nanosleep,"
          "clock_nanosleep,dup,dup2,dup3,exit_group,clone,clone3,fork,vfork")
# Each command runs as the first process of a PID namespace of its own (unshare(1) from
# util-linux), which dies with tcpsim however tcpsim dies (PR_SET_PDEATHSIG on unshare, and
# --kill-child on strace): when a PID namespace's first process dies the kernel kills every
# process in it, so no traced program outlives the run, not even a daemon it forked (strace
# 6.1 has no --kill-on-exit, and a tracee whose tracer dies runs on detached).
ISOLATE = ["unshare", "--pid", "--fork", "--kill-child=SIGKILL"]
# -s: the bytes of a string strace shows; a send of more is written by its length (SHOWN_DATA),
# and an interpreter's start-up reads of its library stay short
STRACE = ["strace", "-f", "-ttt", "-T", "-yy", "-xx", "-s", "4096", "-qq", "-e", "signal=none",
          "-e", f"trace={TRACED}"]

# The calls a process may be blocked in when the next command is started (/proc/TID/syscall's
# first field), by machine (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/
# unistd.h for arm64).  wait4 is left out: a shell waiting for its child is not a server ready.
_BLOCKING = {
    "x86_64": {0, 7, 23, 34, 35, 42, 43, 45, 47, 230, 232, 270, 271, 281, 288, 299, 441},
    "aarch64": {63, 22, 72, 73, 101, 115, 202, 203, 207, 212, 242, 243, 441},
}
# a call that took at least this long waited for the network or a peer: shown as blocking
BLOCKED = 0.001
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Traced:
    trace: Trace  # the kernel's run: the calls strace saw and the segments captured
    program: Program | None  # the program those calls are (None: nothing to hold)
    text: str  # its text, in the scenario format
    unsupported: list[str] = field(default_factory=list)  # what the program did that the format lacks
    outputs: dict[str, str] = field(default_factory=dict)  # what each command printed
    hangs: list[str] = field(default_factory=list)  # commands killed at the end, still waiting
    congestion: str = ""  # the namespace's default congestion control
    # sockets that connected: label -> (the address, when the connect began, epoch seconds)
    connects: dict[str, tuple[str, float]] = field(default_factory=dict)
    strace: list[str] = field(default_factory=list)  # each command's strace record, as written
    statuses: list[int | None] = field(default_factory=list)  # each command's exit status
    left_out: dict[str, list[str]] = field(default_factory=dict)  # process -> calls left out


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _session_tasks(sid: int) -> list[int]:
    """Every thread of every process in session `sid` (a command and what it started)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and int(d) != sid:  # field 6: the session
                out += [int(x) for x in os.listdir(f"/proc/{d}/task")]
        except (OSError, ValueError):
            continue
    return out


def _blocked_or_gone(sid: int, proc: subprocess.Popen) -> bool:
    """Has the command blocked in a call that waits (accept, recv, poll...) or exited?"""
    if proc.poll() is not None:
        return True
    waits = _BLOCKING.get(platform.machine())
    for tid in _session_tasks(sid):
        try:
            state = Path(f"/proc/{tid}/stat").read_text()
            state = state[state.rindex(")") + 2]
            call = Path(f"/proc/{tid}/syscall").read_text().split()
        except (OSError, IndexError):
            continue
        if _comm(tid) in ("strace", "unshare"):
            continue
        if state == "S" and call and call[0].isdigit():
            if waits is None or int(call[0]) in waits:
                return True
    return False


def _comm(tid: int) -> str:
    try:
        return Path(f"/proc/{tid}/comm").read_text().strip()
    except OSError:
        return ""


def _name(cmd: str, taken: set[str]) -> str:
    """A process name for a command: its program's name (the script's for an interpreter)."""
    words = shlex.split(cmd)
    word = words[0] if words else "p"
    interpreters = {"python", "python3", "sh", "bash", "perl", "ruby", "node", "env"}
    for w in words:
        base = os.path.basename(w)
        if base.split(".")[0] not in interpreters and not base.startswith("-"):
            word = w
            break
    base = re.sub(r"[^A-Za-z0-9_]", "_", os.path.basename(word).split(".")[0]) or "p"
    if base[0].isdigit():
        base = "p" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _sweep_stale_dirs() -> None:
    """The work directories of earlier runs killed outright (SIGKILL runs no cleanup): each
    is named with its run's pid, and removed once that process is gone."""
    for d in Path(tempfile.gettempdir()).glob("tcpsim-trace-*-*"):
        pid = d.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


def run_traced(commands: list[str], after: float | None = None, timeout: float = 10.0,
               tail: float = 0.1, ready_wait: float = 60.0) -> Traced:
    """Run the commands in a private namespace under strace, capture loopback, and recover
    the program.  `after`: start each command that many seconds after the one before it,
    instead of once it blocks.  `timeout`: seconds with nothing happening (no segment, no
    call) before the commands still running are killed."""
    if not commands:
        raise TcpsimError("give at least one command to trace, such as ./server")
    if shutil.which("strace") is None:
        raise TcpsimError("tcpsim trace needs strace to record the programs' calls; install "
                          "it (Debian: apt install strace)")
    LoopbackCapture.prepare()
    names: list[str] = []
    taken: set[str] = set()
    for cmd in commands:
        names.append(_name(cmd, taken))
    _sweep_stale_dirs()
    with tempfile.TemporaryDirectory(prefix=f"tcpsim-trace-{os.getpid()}-") as tmp, \
            private_netns("tcpsim trace"):
        pinned = pin_route_congestion(DEFAULT_CONGESTION)
        cap = LoopbackCapture()
        procs: list[subprocess.Popen] = []
        frames = []
        hangs: list[str] = []
        try:
            for i, cmd in enumerate(commands):
                if i:
                    deadline = time.time() + (after if after is not None else ready_wait)
                    while time.time() < deadline:
                        frames += cap.drain()
                        if after is None and _blocked_or_gone(procs[-1].pid, procs[-1]):
                            break
                        time.sleep(0.002)
                with open(Path(tmp) / f"{i}.out", "wb") as out:
                    procs.append(subprocess.Popen(
                        ISOLATE + STRACE + ["-o", str(Path(tmp) / f"{i}.strace"), "sh", "-c", cmd],
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        start_new_session=True, preexec_fn=_die_with_parent))
            # the run ends when every command has exited, or when nothing has happened for
            # `timeout` seconds: no segment, no command ending (a server that polls with a
            # timeout makes calls for ever, and still waits for nobody), and every command
            # still running has begun: made a call on a TCP socket (on a busy machine an
            # interpreter under strace takes seconds to get there)
            quiet_since, running = time.time(), len(procs)
            watch = [_Watch(Path(tmp) / f"{i}.strace") for i in range(len(procs))]
            began_at = time.time()
            while any(p.poll() is None for p in procs):
                got = cap.drain()
                frames += got
                now_running = sum(p.poll() is None for p in procs)
                for i, p in enumerate(procs):
                    if p.poll() is None and not watch[i].begun and watch[i].look(began_at):
                        quiet_since = time.time()
                if got or now_running != running:
                    quiet_since, running = time.time(), now_running
                elif time.time() - quiet_since > timeout and all(
                        watch[i].begun or p.poll() is not None for i, p in enumerate(procs)):
                    break
                time.sleep(0.005)
            for i, p in enumerate(procs):
                if p.poll() is None:
                    hangs.append(commands[i])
                    _kill(p)
            end = time.time() + tail
            while time.time() < end:
                frames += cap.drain()
                time.sleep(0.005)
            frames += cap.drain()
            kernel, settings = kernel_info(), sysctls()
            lost = cap.count_drops()
        finally:
            for p in procs:
                if p.poll() is None:
                    _kill(p)
            cap.close()
        records, outputs, texts = [], {}, []
        for i in range(len(procs)):
            path = Path(tmp) / f"{i}.strace"
            text = path.read_text(errors="replace") if path.exists() else ""
            texts.append(text)
            records.append(parse_strace(text, f"strace of {commands[i]!r}"))
            outputs[names[i]] = (Path(tmp) / f"{i}.out").read_bytes().decode(errors="replace")
    segs = [seg for seg in (decode_frame(f.data, f.t) for f in frames) if seg is not None]
    traced = recover(records, names, commands, tuple(seg.t for seg in segs))
    trace = traced.trace
    trace.kernel, trace.sysctls = kernel, settings
    default = settings.get("net.ipv4.tcp_congestion_control", "")
    trace.kernel["default_congestion_control"] = default
    # what the connections ran: the namespace's routes pin Linux's own default (cubic, the
    # model's) over this machine's (bbr here), unless `ip` could not (netns.py)
    traced.congestion = DEFAULT_CONGESTION if pinned else default
    trace.kernel["congestion_control"] = traced.congestion
    if pinned:
        trace.sysctls["net.ipv4.tcp_congestion_control"] = traced.congestion
    for seg in segs:
        seg.t = round(seg.t - trace.t0, 6)
        trace.events.append(seg)
    trace.events.sort(key=lambda e: e.t)
    _name_connecting_ends(traced)
    trace.end = round(max((e.t for e in trace.events), default=0.0), 6)
    trace.capture_lost = lost
    if lost:
        trace.notes.append(t("note.capture_lost", n=lost))
    for cmd in hangs:
        trace.notes.append(t("trace.hang", command=cmd, s=f"{timeout:g}"))
    traced.outputs, traced.hangs, traced.strace = outputs, hangs, texts
    traced.statuses = [None if commands[i] in hangs else p.returncode for i, p in enumerate(procs)]
    for i, status in enumerate(traced.statuses):
        if status in (126, 127) and not any(ln.startswith(names[i] + ":")
                                            for ln in traced.text.splitlines()):
            said = outputs[names[i]].strip().splitlines()
            raise TcpsimError(f"{commands[i]!r} could not be run ({said[-1] if said else f'exit status {status}'}); "
                              f"give a command that runs here, such as ./server after gcc server.c -o server")
    return traced


class _Watch:
    """Has a command begun: made a call on a TCP socket (a -yy description in strace's record,
    read as it grows, every 50 ms), or run for a minute without one?"""

    def __init__(self, path: Path):
        self.path, self.offset, self.tail, self.begun, self.next = path, 0, b"", False, 0.0

    def look(self, since: float) -> bool:
        now = time.time()
        if now < self.next:
            return False
        self.next = now + 0.05
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            data = b""
        self.offset += len(data)
        chunk, self.tail = self.tail + data, (self.tail + data)[-8:]
        self.begun = b"<TCP" in chunk or now - since > 60.0
        return self.begun


def _kill(p: subprocess.Popen) -> None:
    """Kill what a command started, then strace (which first writes how each call ended)."""
    for tid in _session_tasks(p.pid):
        if _comm(tid) in ("strace", "unshare"):
            continue
        try:
            os.kill(tid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        p.wait(2.0)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


# -- from system calls to a program ---------------------------------------------------------

_SOCKOPT_LEVELS = {"SOL_SOCKET", "SOL_TCP", "IPPROTO_TCP"}
_POLL = re.compile(r"\{fd=(\d+)(?:<[^{}]*?>)?, events=([A-Z|]+)(?:, revents=([A-Z|]+))?\}")


def _poll_timeout(name: str, args: list[str]) -> str | None:
    """poll()'s timeout as the format writes it (None: for ever)."""
    if name == "poll":
        ms = int(args[2]) if len(args) > 2 and args[2].lstrip("-").isdigit() else -1
        return None if ms < 0 else f"{ms}ms"
    m = re.match(r"\{tv_sec=(\d+), tv_nsec=(\d+)\}", args[2]) if len(args) > 2 else None
    if m is None:
        return None
    return f"{int(m.group(1)) * 1000 + int(m.group(2)) // 1_000_000}ms"


def _select_timeout(arg: str) -> str | None:
    """select()'s timeval or pselect6()'s timespec as the format's timeout (None: for ever)."""
    m = re.match(r"\{tv_sec=(\d+), tv_(usec|nsec)=(\d+)\}", arg)
    if m is None:
        return None
    sub_ms = int(m.group(3)) // (1000 if m.group(2) == "usec" else 1_000_000)
    return f"{int(m.group(1)) * 1000 + sub_ms}ms"


def _address(arg: str) -> str | None:
    """strace's sockaddr ({sa_family=AF_INET, sin_port=htons(8080), sin_addr=...}) as the
    format writes it: 127.0.0.1:8080, [::1]:8080."""
    port = re.search(r"sin6?_port=htons\((\d+)\)", arg)
    if port is None:
        return None
    strings = re.findall(r'"((?:\\x[0-9a-f]{2})*)"', arg)
    if not strings:
        return None
    host = bytes.fromhex(strings[0].replace("\\x", "")).decode()
    return f"[{host}]:{port.group(1)}" if "AF_INET6" in arg else f"{host}:{port.group(1)}"


def c_string(data: bytes) -> str:
    """Bytes as a C string literal of the format ("Hello\\n")."""
    out = []
    for b in data:
        ch = chr(b)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return '"' + "".join(out) + '"'


# a send of more bytes than this is written as its length (`send(s, 100000)`), and the
# segments' bytes are then not compared (compare/against.py hold_traced())
SHOWN_DATA = 4096


@dataclass
class _Line:
    t: float
    process: str
    text: str  # the call, as the format writes it
    expect: str | None  # "= 19", "= -1 ECONNREFUSED", None
    call: Syscall
    fd: int | None = None
    data: bytes | None = None  # a read's bytes
    value: str | None = None  # what the timeline adds ("still open in child1: ...")
    result: int | None = None  # the line's own result, where it is not its call's (dup2's close)


class _Process:
    def __init__(self, name: str):
        self.name = name
        self.fds: dict[int, str] = {}  # descriptor -> its name in the program
        self.kinds: dict[int, str] = {}  # descriptor -> "tcp" | "epoll"
        self.count: dict[str, int] = {}
        self.lines: list[_Line] = []
        self.sockets: dict[str, SocketInfo] = {}  # every socket it has, by name
        self.own: list[SocketInfo] = []  # those it made itself (a forked child shares the rest)
        self.left_out: set[str] = set()  # calls on its sockets left out (_NO_EFFECT)
        self.connects: dict[str, tuple[str, float]] = {}  # socket name -> (address, when)

    def rename(self, name: str) -> None:
        """A second process of one command: its lines and its sockets' labels follow."""
        self.name = name
        for ln in self.lines:
            ln.process = name
        for info in self.own:
            info.process, info.label = name, f"{name}.{info.name}"

    def share(self, name: str) -> "_Process":
        """A thread: the same descriptor table, names and all."""
        child = _Process(name)
        child.fds, child.kinds, child.count, child.sockets = \
            self.fds, self.kinds, self.count, self.sockets
        return child

    def fork(self, name: str) -> "_Process":
        """A child with copies of this process's descriptors (the same sockets)."""
        child = _Process(name)
        child.fds, child.kinds, child.count = dict(self.fds), dict(self.kinds), dict(self.count)
        child.sockets = dict(self.sockets)
        return child

    def new_name(self, prefix: str, fd: int, kind: str = "tcp") -> str:
        n = self.count[prefix] = self.count.get(prefix, 0) + 1
        name = prefix if n == 1 else f"{prefix}{n}"
        self.fds[fd], self.kinds[fd] = name, kind
        if kind == "tcp":
            self.sockets[name] = SocketInfo(f"{self.name}.{name}", self.name, name)
            self.own.append(self.sockets[name])
        return name

    def see(self, fd: int, desc: str) -> None:
        """What -yy says of a descriptor: its addresses, once it has them."""
        ends = tcp_endpoints(desc)
        name = self.fds.get(fd)
        if ends is None or name is None or name not in self.sockets:
            return
        info = self.sockets[name]
        local, remote = ends
        if local and local not in info.seen:
            info.seen.append(local)
            info.local = local
        if remote:
            info.remote = remote


def _expect(c: Syscall, ok: str | None = None) -> str | None:
    if not c.returned:
        return None
    if c.errno:
        return f"= -1 {c.errno}"
    return f"= {ok if ok is not None else c.value}"


def _flags(arg: str, known: dict[str, str]) -> str:
    """The flags of strace's `A|B` the format knows, in its spelling ("0" for none)."""
    got = [known[f] for f in arg.split("|") if f in known]
    return "|".join(got) if got else "0"


_MSG = {"MSG_PEEK": "MSG_PEEK", "MSG_DONTWAIT": "MSG_DONTWAIT", "MSG_WAITALL": "MSG_WAITALL",
        "MSG_NOSIGNAL": "MSG_NOSIGNAL", "MSG_MORE": "MSG_MORE", "MSG_OOB": "MSG_OOB"}


_CLONES = ("clone", "clone3", "fork", "vfork")
# calls that read what the socket is and change nothing the model or the wire shows: left out
# of the program, and named as left out
_NO_EFFECT = {"getsockname", "getpeername"}


def _call(c: Syscall, proc: _Process, unsupported: list[str]) -> None:
    """One recorded call as a line of `proc` (nothing, if it is not a call on a TCP socket)."""
    if c.result == "?" and (c.errno or "").startswith("ERESTART"):
        return  # a signal (SIGCHLD) interrupted it and the kernel starts it again: strace shows
        # the restarted call as a call of its own
    args = c.args
    first = fd_of(args[0]) if args else None
    if first is not None:
        proc.see(*first)
    res = fd_of(c.result) if c.returned and c.result else None
    text = None
    expect = _expect(c)
    fd = first[0] if first else None
    data = None
    name = proc.fds.get(fd) if fd is not None else None
    if c.name == "socket":
        if res is None or tcp_endpoints(res[1]) is None:
            return
        fam = args[0]
        kind = "|".join(x for x in args[1].split("|") if x in ("SOCK_STREAM", "SOCK_NONBLOCK"))
        text = f"{proc.new_name('s', res[0])} = socket({fam}, {kind}, 0)"
        expect = None
        fd = None
    elif c.name in ("select", "pselect6"):
        # select() of one socket is poll() of it: readfds POLLIN, writefds POLLOUT, exceptfds
        # POLLPRI (do_select() asks each file's poll, tcp_poll(), for those)
        sets = [[fd_of(x)[0] for x in split_args(a[1:-1]) if fd_of(x)]
                if a.startswith("[") else [] for a in args[1:4]]
        fds = {n for fdset in sets for n in fdset}
        if not fds or not any(proc.kinds.get(n) == "tcp" for n in fds):
            return
        if len(fds) != 1:
            unsupported.append(t("trace.unsupported.call", process=proc.name,
                                 call=f"{c.name}() of {len(fds)} descriptors"))
            return
        fd = fds.pop()
        events = "|".join(e for e, fdset in zip(("POLLIN", "POLLOUT", "POLLPRI"), sets)
                          if fd in fdset)
        timeout = _select_timeout(args[4] if len(args) > 4 else "NULL")
        if timeout is not None and not c.returned:
            return  # killed while its timeout ran
        text = f"poll({proc.fds[fd]}, {events}{'' if timeout is None else ', ' + timeout})"
        # a timeout is 0 in both; what was ready, select() says less of than poll() (it has
        # no POLLHUP): not written as the expected result
        expect = "= 0" if c.returned and not c.errno and c.value == 0 else None
    elif c.name in ("poll", "ppoll") and args and args[0].startswith("["):
        polled = [p for p in _POLL.findall(args[0]) if proc.kinds.get(int(p[0])) == "tcp"]
        if not polled:
            return
        others = len(_POLL.findall(args[0])) - len(polled)
        woke = re.findall(r"fd=(\d+)", c.detail or "")
        if len(polled) != 1 or any(int(n) != int(polled[0][0]) for n in woke):
            # several sockets, or another descriptor (a pipe, an eventfd) woke it
            unsupported.append(t("trace.unsupported.call", process=proc.name,
                                 call=f"{c.name}() of {len(polled) + others} descriptors"))
            return
        if others:  # a pipe or eventfd beside one socket, and the socket is what woke it
            proc.left_out.add(f"{c.name}()'s other descriptors")
        names = [proc.fds.get(int(polled[0][0]))]
        timeout = _poll_timeout(c.name, args)
        if timeout is not None and not c.returned:
            return  # killed while its timeout ran (the run ended): not a wait for ever
        text = f"poll({names[0]}, {polled[0][1]}{'' if timeout is None else ', ' + timeout})"
        expect = None
        if c.returned and not c.errno:
            got = re.search(r"revents=([A-Z|]+)", c.detail or "")
            expect = f"= {got.group(1)}" if got and c.value else "= 0"
        fd = int(polled[0][0])
    elif c.name == "exit_group":
        if not proc.fds:
            return
        text, expect, fd = "exit", None, None  # the kernel closes what is still open (do_exit())
    elif name is None or proc.kinds.get(fd) != "tcp" and c.name not in (
            "close", "epoll_ctl", "epoll_wait", "epoll_pwait"):
        if c.name in ("epoll_create", "epoll_create1") and res is not None:
            text = f"{proc.new_name('ep', res[0], 'epoll')} = epoll_create()"
            expect = None
        else:
            return
    elif c.name == "epoll_ctl":
        target = fd_of(args[2]) if len(args) > 2 else None
        tname = proc.fds.get(target[0]) if target else None
        if tname is None or proc.kinds.get(target[0]) != "tcp":
            proc.left_out.add("epoll_ctl() of descriptors that are not TCP sockets")
            return
        events = re.search(r"events=([A-Z|]+)", args[3]) if len(args) > 3 else None
        text = f"epoll_ctl({name}, {args[1]}, {tname}" + (f", {events.group(1)})" if events
                                                           else ")")
    elif c.name in ("epoll_wait", "epoll_pwait"):
        woke = [int(n) for n in re.findall(r"u32=(\d+)", args[1])] if len(args) > 1 else []
        if any(proc.kinds.get(n) != "tcp" for n in woke):
            # (the data strace shows is the program's own: most put the descriptor there)
            unsupported.append(t("trace.unsupported.call", process=proc.name,
                                 call=f"{c.name}() woken by what is not a TCP socket"))
            return
        ms = int(args[3]) if len(args) > 3 and args[3].lstrip("-").isdigit() else -1
        if ms >= 0 and not c.returned:
            return  # killed while its timeout ran
        text = f"epoll_wait({name}, {args[2]}" + (f", {ms}ms)" if ms >= 0 else ")")
    elif c.name == "bind":
        text = f"bind({name}, {_address(args[1])})"
    elif c.name == "listen":
        text = f"listen({name}, {args[1]})"
    elif c.name in ("accept", "accept4"):
        if res is not None and c.returned and not c.errno:
            new = proc.new_name("c", res[0])
            proc.see(res[0], res[1])
            text = f"{new} = accept({name})"
            expect = None
        else:
            text = f"accept({name})"
        if c.name == "accept4" and "SOCK_NONBLOCK" in (args[-1] if args else "") and \
                res is not None and c.returned and not c.errno:
            # accept4(SOCK_NONBLOCK) is accept() and O_NONBLOCK on the new descriptor at once
            proc.lines.append(_Line(c.t, proc.name, text, expect, c, fd, data))
            text, expect, fd = f"fcntl({new}, F_SETFL, O_NONBLOCK)", None, res[0]
    elif c.name in ("dup", "dup2", "dup3"):
        if res is None or c.errno:
            return
        if res[0] in proc.fds and res[0] != fd:
            # dup2() onto an open descriptor closes what it named, silently (do_dup2():
            # filp_close() of the file it replaced): the format's close() of it, then the dup
            old = proc.fds.pop(res[0])
            proc.kinds.pop(res[0], None)
            proc.lines.append(_Line(c.t, proc.name, f"close({old})", None, c, res[0], result=0,
                                    value=t("close.dup2", call=f"{c.name}({name}, {old})")))
        text = f"{proc.new_name('d', res[0])} = dup({name})"
        expect = None
    elif c.name == "poll" or c.name == "ppoll":
        return  # (handled before: its descriptors are in an array)
    elif c.name == "connect":
        text = f"connect({name}, {_address(args[1])})"
        proc.connects.setdefault(name, (_address(args[1]), c.t))
    elif c.name in ("sendto", "write", "send", "sendmsg", "writev"):
        if c.name in ("sendmsg", "writev"):
            blob = b"".join(hex_string(s) or b"" for s in
                            re.findall(r'"(?:\\x[0-9a-f]{2})*"(?:\.\.\.)?', ",".join(args[1:])))
            total = None
            m = re.search(r"iov_len=(\d+)", ",".join(args))
            if c.name == "writev":
                total = sum(int(x) for x in re.findall(r"iov_len=(\d+)", ",".join(args)))
            elif m:
                total = sum(int(x) for x in re.findall(r"iov_len=(\d+)", ",".join(args)))
            flags = args[2] if c.name == "sendmsg" and len(args) > 2 else "0"
        else:
            blob = hex_string(args[1]) or b""
            total = int(args[2])
            flags = args[3] if c.name == "sendto" and len(args) > 3 else "0"
        total = total if total is not None else len(blob)
        what = c_string(blob) if total <= SHOWN_DATA and len(blob) == total else str(total)
        text = f"send({name}, {what}, {_flags(flags, _MSG)})"
    elif c.name in ("recvfrom", "read", "recv", "recvmsg", "readv"):
        if c.name in ("recvmsg", "readv"):
            size = sum(int(x) for x in re.findall(r"iov_len=(\d+)", ",".join(args)))
            flags = args[2] if c.name == "recvmsg" and len(args) > 2 else "0"
            got = b"".join(hex_string(s) or b"" for s in
                           re.findall(r'"(?:\\x[0-9a-f]{2})*"(?:\.\.\.)?', ",".join(args[1:])))
        else:
            size = int(args[2])
            flags = args[3] if c.name == "recvfrom" and len(args) > 3 else "0"
            got = hex_string(args[1]) or b""
        text = f"recv({name}, {size}, {_flags(flags, _MSG)})"
        if c.returned and not c.errno:
            data = got[: c.value or 0]
    elif c.name == "close":
        text = f"close({name})"
        proc.fds.pop(fd, None)
        proc.kinds.pop(fd, None)
    elif c.name == "shutdown":
        text = f"shutdown({name}, {args[1]})"
    elif c.name in ("setsockopt", "getsockopt"):
        if args[1] not in _SOCKOPT_LEVELS or args[2] not in SOCKOPTS:
            if c.errno:  # it failed, and changed nothing (Python tries IPV6_V6ONLY on any)
                proc.left_out.add(f"{c.name}({args[1]}, {args[2]}) = -1 {c.errno}")
                return
            unsupported.append(t("trace.unsupported.call", process=proc.name,
                                 call=f"{c.name}({args[1]}, {args[2]})"))
            return
        if c.name == "getsockopt":
            text = f"getsockopt({name}, {args[2]})"
            expect = None
        else:
            val = args[3]
            m = re.match(r"\{l_onoff=(\d+), l_linger=(\d+)\}", val)
            if m:
                val = f"{{{m.group(1)}, {m.group(2)}}}"
            else:
                val = val.strip("[]")
            text = f"setsockopt({name}, {args[2]}, {val})"
    elif c.name == "fcntl":
        if args[1] != "F_SETFL":
            return
        flags = "O_NONBLOCK" if "O_NONBLOCK" in args[2] else "0"
        text = f"fcntl({name}, F_SETFL, {flags})"
        expect = None
    elif c.name == "ioctl":
        req = {"FIONREAD": "SIOCINQ", "TIOCOUTQ": "SIOCOUTQ", "SIOCINQ": "SIOCINQ",
               "SIOCOUTQ": "SIOCOUTQ"}.get(args[1])
        if req is None:
            return
        text = f"ioctl({name}, {req})"
        m = re.match(r"\[(\d+)\]", args[2]) if len(args) > 2 else None
        expect = f"= {m.group(1)}" if m and not c.errno else expect
    elif c.name in _NO_EFFECT:
        proc.left_out.add(c.name)
        return
    else:
        unsupported.append(t("trace.unsupported.call", process=proc.name, call=c.name))
        return
    if text is not None:
        proc.lines.append(_Line(c.t, proc.name, text, expect, c, fd, data))


def recover(records: list[Record], names: list[str], commands: list[str],
            segment_times: tuple[float, ...] = ()) -> Traced:
    """The program the recorded calls are, and the kernel's run of it (its calls only)."""
    unsupported: list[str] = []
    procs: list[_Process] = []
    children = 0
    for rec, name, cmd in zip(records, names, commands):
        by_pid: dict[int, _Process] = {}
        forked: list[_Process] = []  # children forked with sockets open, threads, in order
        forks: list[_Line] = []  # their fork()/thread() lines
        owner: dict[int, _Process] = {}  # id(line) -> the process that made it
        for c in sorted(rec.calls, key=lambda c: c.t):
            proc = by_pid.setdefault(c.pid, _Process(name))
            if c.name in _CLONES:
                thread = "CLONE_THREAD" in ",".join(c.args)
                if c.returned and not c.errno and (c.value or 0) > 0 and (proc.fds or thread):
                    # a child born holding the sockets: fork() in the program; a thread
                    # shares the table (a thread made before any socket, too: it may use
                    # the sockets made later)
                    children += 1
                    call = "thread" if thread else "fork"
                    name_ = f"{call}{children}" if thread else f"child{children}"
                    child = by_pid[c.value] = (proc.share if thread else proc.fork)(name_)
                    forked.append(child)
                    forks.append(_Line(c.t, proc.name, f"{call}({child.name})", None, c))
                    owner[id(forks[-1])] = proc
                continue
            fd = fd_of(c.args[0]) if c.name == "close" and c.args else None
            info = proc.sockets.get(proc.fds.get(fd[0], "")) if fd else None
            before = len(proc.lines)
            _call(c, proc, unsupported)
            if info is not None and len(proc.lines) > before and not c.errno:
                # who still holds the socket (a forked child, the parent): then nothing is sent
                holders = [p.name for p in dict.fromkeys(by_pid.values())
                           if p.fds is not proc.fds and any(p.sockets.get(n) is info for n in p.fds.values())]
                if holders:
                    proc.lines[-1].value = t("close.shared", who=", ".join(holders))
        # a fork/thread line only for a child that made calls on sockets
        for ln in forks:
            child = next(p for p in forked if ln.text.endswith(f"({p.name})"))
            if child.lines:
                owner[id(ln)].lines.append(ln)
        forks.clear()
        users = [p for p in dict.fromkeys(by_pid.values()) if p.lines and p not in forked]
        if len(users) > 1:
            unsupported.append(t("trace.unsupported.processes", command=cmd, n=len(users)))
            for k, p in enumerate(users[1:], 2):
                p.rename(f"{name}_{k}")
        procs += users + [p for p in forked if p.lines]
    lines = sorted((ln for p in procs for ln in p.lines), key=lambda ln: ln.t)
    t0 = lines[0].t if lines else time.time()
    header = ["# Recovered by `tcpsim trace " + " ".join(shlex.quote(c) for c in commands) + "`:",
              "# the calls each command made on TCP sockets, in the order they began, each with",
              "# the result the kernel gave."]
    # the expected results in a column, but not after a line too long to read in one
    width = max((len(f"{ln.process}: {ln.text}") for ln in lines
                 if len(f"{ln.process}: {ln.text}") <= 48), default=0)
    body = [(f"{ln.process}: {ln.text}".ljust(width) + f" {ln.expect}") if ln.expect
            else f"{ln.process}: {ln.text}" for ln in lines]
    text = "\n".join(header + body) + "\n"
    program = None
    if lines:
        try:
            program = parse(text, source="<trace>", name=", ".join(p.name for p in procs))
        except TcpsimError as e:  # a call recorded in a form the format cannot say
            unsupported.append(t("trace.unsupported.parse", why=str(e).splitlines()[0]))
    label = ", ".join(p.name for p in procs) or "nothing"
    trace = Trace(source="trace", program=label, program_text=text, t0=t0)
    for p in procs:
        trace.sockets += p.own
    offset = len(header)
    starts = [ln.call.t for ln in lines]
    for i, ln in enumerate(lines):
        c = ln.call
        rel = round(c.t - t0, 6)
        # it waited if it took long, or another call began while it was in the kernel (a recv
        # that returns the bytes a send made meanwhile), or segments came and went meanwhile
        # (a connect's handshake on loopback), as the lab shows a call it had to wait for
        if ln.text == "exit":  # exit_group() never returns; the format's exit ends at once
            trace.events.append(Call(t=rel, result=0, process=ln.process, step=i,
                                     line=offset + i + 1, text=ln.text))
            continue
        spec = CALLS.get(re.match(r"(?:\w+ = )?(\w+)", ln.text).group(1))
        # (only a call that may block: strace's own delays make any call last a while)
        blocked = c.end is None or (spec is None or spec.blocks) and (
            c.duration >= BLOCKED or any(c.t < s < c.end for s in starts[i + 1:i + 64])
            or any(c.t < s < c.end for s in segment_times))
        result = -1 if c.errno else c.value if ln.result is None else ln.result
        common = dict(process=ln.process, step=i, line=offset + i + 1, text=ln.text, fd=ln.fd)
        if blocked:
            trace.events.append(Call(t=rel, kind="call", blocked=True, **common))
            if c.returned:
                trace.events.append(Call(t=round(c.end - t0, 6), kind="return", result=result,
                                         errno=c.errno, data=ln.data, **common))
        else:
            trace.events.append(Call(t=rel, result=result, errno=c.errno, data=ln.data,
                                     value=ln.value, **common))
    connects = {f"{p.name}.{k}": v for p in procs for k, v in p.connects.items()}
    return Traced(trace, program, text, list(dict.fromkeys(unsupported)), connects=connects,
                  left_out={p.name: sorted(p.left_out) for p in procs if p.left_out})


def _name_connecting_ends(traced: Traced) -> None:
    """A socket whose connect failed never showed strace its port (-yy printed an inode):
    its end is the source of the first SYN to the address it connected to, sent after the
    connect began, from a port no other socket has."""
    trace = traced.trace
    known = {a for s in trace.sockets for a in s.seen}
    for s in trace.sockets:
        if s.local is not None or s.label not in traced.connects:
            continue
        addr, when = traced.connects[s.label]
        for seg in trace.segments:
            if seg.flags == "S" and seg.dst == addr and seg.t >= when - trace.t0 - 1e-4 \
                    and seg.src not in known:
                s.local, s.remote = seg.src, addr
                s.seen.append(seg.src)
                known.add(seg.src)
                break
