"""Running a scenario program in a world: the real kernel (the lab) or the model (the simulator).

One runner for both, so that a program means the same thing to each.  All processes of the
program run here on non-blocking sockets: a call that would block is parked (the other
processes go on, see scenario/schedule.py) and completed the moment the kernel lets it.
After every call the world settles (every segment in flight is delivered), then every parked
call that can complete does, in file order; timers play out while processes wait.

A world offers sockets with the Python socket API (bind, listen, accept raising
BlockingIOError, connect_ex, send, recv, shutdown, close, setsockopt, getsockopt,
getsockname, getpeername) and: now(), settle() -> new segments, wait(waits, until), poll(),
tcp_info(), kernel_sockets(), bad_fd(), describe() -> (kernel, sysctls).
"""

from __future__ import annotations

import copy
import functools
import errno as E
import struct
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from ..errors import STUCK, TcpsimError
from ..i18n import t
from ..scenario import Program, Schedule, Step
from ..scenario.calls import SYMBOLS, errno_name, flag_names
from ..scenario.syntax import Linger
from ..trace import Call, SocketInfo, State, Trace

_MSG = SYMBOLS["msg"]
_POLL = SYMBOLS["poll"]
POLLIN, POLLOUT, POLLRDHUP = _POLL["POLLIN"], _POLL["POLLOUT"], _POLL["POLLRDHUP"]
POLLNVAL = 0x20


def _time(event) -> float:
    return event.t


class Stuck(TcpsimError):
    """Every process waits and nothing has happened for a while; carries the trace so far."""

    exit_code = STUCK

    def __init__(self, message: str, trace: Trace):
        super().__init__(message)
        self.trace = trace


class World(Protocol):  # pragma: no cover - a description of what the runner needs
    def now(self) -> float: ...
    def socket(self, family: int, type: int, proto: int): ...
    def settle(self) -> list: ...
    def wait(self, waits: list, until: float) -> None: ...
    def poll(self, sock, events: int) -> int: ...
    def tcp_info(self, sock) -> dict: ...
    def kernel_sockets(self) -> list[tuple[str, str, str]]: ...
    def bad_fd(self, call: str) -> tuple[int, str | None]: ...
    def describe(self) -> tuple[dict, dict]: ...


def endpoint(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]  # a dual-stack socket talking IPv4, as the kernel's table shows it
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class _Sock:
    sock: object
    label: str
    process: str
    vfd: int
    nonblocking: bool = False  # as the program set it; the world's socket never blocks
    local: str | None = None
    remote: str | None = None
    peer_hint: str | None = None  # the address given to connect(), before getpeername() works
    seen_state: str | None = None  # the state when the addresses were last read
    dirty: bool = True  # a call may have changed the addresses (bind, listen, connect)
    order: int = 0  # when it joined its descriptor table (the table's iteration order)

    def __deepcopy__(self, memo: dict) -> "_Sock":
        """explore.py's snapshots: every field is a number, a string or None, but the socket."""
        new = object.__new__(_Sock)
        memo[id(self)] = new
        new.__dict__.update(self.__dict__)
        new.sock = copy.deepcopy(self.sock, memo)
        return new


@dataclass
class _Epoll:
    """An epoll descriptor: the world's epoll (world.epoll(): ctl(), wait(), close())."""
    sock: object
    label: str
    process: str
    vfd: int


@dataclass
class _Process:
    name: str
    fds: dict[int, _Sock] = field(default_factory=dict)  # the program's descriptor numbers
    names: dict[str, int | None] = field(default_factory=dict)  # name -> number, None once closed
    epolls: dict[int, _Epoll] = field(default_factory=dict)  # epoll descriptors, by number
    rank: int = 0  # where a look at every descriptor reaches this table: its first holder's place

    def new_fd(self) -> int:
        n = 3  # 0, 1, 2 are stdin, stdout, stderr; the kernel hands out the lowest free one
        while n in self.fds or n in self.epolls:
            n += 1
        return n


Outcome = tuple  # (result, errno name or None, extras dict)


@functools.cache
def _libc():
    """libc, loaded the first time a call needs it (`tcpsim run` never does)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _is_real(sock) -> bool:
    """A kernel socket of the lab (a Python socket), not one of the model's: the calls CPython
    makes differently from a C program go through libc for those."""
    import socket as _socket

    return isinstance(sock, _socket.socket)


def _other_family(sock, call: str, addr) -> int:
    """bind(2) or connect(2) of `addr` (a scenario Address) on a socket of the other family,
    as a C program makes it: CPython's socket module cannot (it resolves the address in the
    socket's own family and fails before any system call).  The kernel's errno, 0 if none."""
    import ctypes
    import socket as _socket

    if addr.family == 2:
        raw = (struct.pack("=H", _socket.AF_INET) + struct.pack("!H", addr.port)
               + _socket.inet_pton(_socket.AF_INET, addr.host) + bytes(8))
    else:
        raw = (struct.pack("=H", _socket.AF_INET6) + struct.pack("!HI", addr.port, 0)
               + _socket.inet_pton(_socket.AF_INET6, addr.host) + bytes(4))
    if getattr(_libc(), call)(sock.fileno(), ctypes.c_char_p(raw), len(raw)) < 0:
        return ctypes.get_errno()
    return 0


def _recv_nothing(sock, flags: int) -> bytes:
    """recv(fd, buf, 0, flags) as a C program makes it.  CPython's socket.recv(0) returns b''
    without a system call, where tcp_recvmsg_locked() waits for one byte (sock_rcvlowat() is
    never below 1) and then copies none: on the lab's non-blocking socket that is EAGAIN
    until data (or EOF, or an error) is there, then 0.  The model's sockets say so themselves."""
    import ctypes

    if not _is_real(sock):
        return sock.recv(0, flags)
    if _libc().recv(sock.fileno(), None, ctypes.c_size_t(0), flags) < 0:
        err = ctypes.get_errno()
        if err in (E.EAGAIN, E.EWOULDBLOCK):
            raise BlockingIOError(err, "recv")
        raise OSError(err, E.errorcode.get(err, "recv"))
    return b""


@dataclass
class _Pending:
    step: Step
    sock: _Sock | None
    events: int  # poll events that may end the wait (0: only the deadline)
    # the runner's method that tries to finish the call (None while it must still wait) and
    # its arguments: plain data, not a closure, so that a runner can be copied (explore.py)
    attempt: str
    args: tuple = ()
    deadline: float | None = None
    sent: int = 0  # send(): bytes the kernel took so far
    got: bytes | bytearray = b""  # recv(MSG_WAITALL): bytes read so far (gathered in place)
    taken: int = 0  # readall(): bytes read so far (counted, not kept)
    tries: int = 0  # close() that lingers: attempts so far (Runner._lingered)


class _Observed:
    """What the runner keeps to look only at the sockets the world says changed
    (Runner._observe, for a world with changed() and table_entry(): the model's), so that a
    look costs what changed, not what exists: plain data keyed by what is looked up.  The
    events are those of Runner._snapshot_all, the look at everything (the lab's), in its order."""

    def __init__(self):
        self.holders: dict[int, tuple] = {}  # socket id -> its descriptors (process, number)
        self.label_sid: dict[str, int] = {}  # a descriptor's label -> its socket id
        self.fd_labels: dict[str, int] = {}  # label -> how many descriptors carry it
        self.tab: dict[int, tuple] = {}  # socket id -> its row of the kernel's table
        self.tab_at: dict[tuple, frozenset] = {}  # (local, remote) -> ids of the rows there
        self.tab_seen: dict[int, str] = {}  # id -> the label its row (no descriptor's) showed
        self.tab_alive: dict[str, int] = {}  # label -> rows shown under it
        self.covers: dict[tuple, int] = {}  # (local, remote) -> descriptors showing that pair
        self.sock_covers: dict[int, tuple] = {}  # _Sock.order -> the pairs it showed last
        self.label_tuples: dict[str, frozenset] = {}  # label -> its pairs in Runner.tuple_label
        self.listening: dict[int, tuple] = {}  # _Sock.order -> (rank, order, port, label)
        self.listeners: dict[int, str] = {}  # port -> label, from `listening` in look order
        self.listening_changed = False
        self.ls_order: dict[str, int] = {}  # Runner.last_state's labels -> insertion number
        self.ls_n = 0
        self.retabled: set[tuple] = set()  # pairs tuple_label named since the last look
        self.relabelled: set[str] = set()  # labels that gained or lost a pair since then
        self.uncovered: set[tuple] = set()  # pairs no descriptor shows any more, or now one does
        self.poked: set[int] = set()  # socket ids a call or the runner touched since then
        self.gone: set[str] = set()  # labels that lost a descriptor since then

    def __deepcopy__(self, memo: dict) -> "_Observed":
        """explore.py's snapshots: every container holds numbers, strings and immutable
        tuples or frozensets of them, so one level of copying is a deep copy."""
        new = object.__new__(_Observed)
        memo[id(self)] = new
        d = new.__dict__
        d.update(self.__dict__)
        for k in _OBSERVED_CONTAINERS:
            d[k] = d[k].copy()
        return new


_OBSERVED_CONTAINERS = tuple(k for k, v in _Observed().__dict__.items() if isinstance(v, (dict, set)))


# A run whose calls all wait, with no deadline, while only timers send segments for this
# long (world time) is stuck: longer than any timer sequence that ends by itself (the RTO's
# give-up after tcp_retries2 15: 924.6 s; keepalive to a dead peer at the defaults: 7200 s
# + 9 x 75 s), where a keepalive answered by a live peer goes on for ever.
TIMERS_ONLY = 4 * 3600.0

class Runner:
    """One run of a program in one world; run() returns its Trace."""

    # tests: every look at the changed sockets (_observe) is checked against a look at all
    # of them (_snapshot_all) on a copy of the runner
    check_observe = False

    def __init__(self, program: Program, world, source: str, tail: float = 0.1,
                 timeout: float = 10.0, chooser: Callable[[list[Step]], Step] | None = None):
        """chooser: None runs lines in file order (scenario/schedule.py); otherwise processes
        run concurrently and chooser picks which of the lines that may start goes next."""
        self.program, self.world = program, world
        self.chooser = chooser
        self.tail, self.timeout = tail, timeout
        self.called = 0.0  # when a call last returned or moved on (world time)
        self.procs = {name: _Process(name) for name in program.processes}
        self.pending: dict[str, _Pending] = {}
        self.sched = Schedule(program)
        self.labels: set[str] = set()
        self.tuple_label: dict[tuple[str, str], str] = {}
        self.provisional: dict[tuple[str, str], str] = {}
        self.last_state: dict[str, tuple] = {}
        self.sid_label: dict[int, str] = {}  # model sockets -> labels (the model names its steps)
        self.listener_label: dict[str, str] = {}  # port -> listener label
        self.infos: dict[str, SocketInfo] = {}
        self._proc_index = {}  # process -> its place in the program's list
        for i, proc in enumerate(self.procs.values()):
            proc.rank = self._proc_index[proc.name] = i
        self._threads = any(step.call == "thread" for step in program.steps)
        self._order = 0  # descriptors put in a table so far (_Sock.order)
        self._label_next: dict[str, int] = {}  # a label's base -> the next #n to try
        # the world says which sockets changed (the model): only those are looked at
        self._ob = _Observed() if hasattr(world, "changed") else None
        self.trace = Trace(source=source, program=program.name, program_text=program.text)
        self.t0 = 0.0

    # -- the run -------------------------------------------------------------------------
    def run(self) -> Trace:
        self.start()
        while True:
            ready = self.ready()
            if not ready:
                break
            self.begin(ready[0] if self.chooser is None else self.chooser(ready))
        return self.finish()

    def start(self) -> None:
        w, tr = self.world, self.trace
        tr.kernel, tr.sysctls = w.describe()
        self.t0 = tr.t0 = w.now()
        self.progress = self.called = w.now()

    def ready(self) -> list[Step]:
        """Settle the world and wait (timers play out) until some line may start: the next
        line in file order, or with a chooser every free process's next line.  [] once the
        program has finished; Stuck if it never can."""
        while True:
            self._settle()
            if self.chooser is None:
                step = self.sched.next_step()
                ready = [step] if step is not None else []
            else:
                ready = self.sched.runnable()
            if ready:
                return ready
            if self.sched.finished:
                return []
            self._wait()

    def begin(self, step: Step) -> None:
        """Start one line (it may finish at once or park its process)."""
        self._begin(step)

    def finish(self) -> Trace:
        w, tr = self.world, self.trace
        end = w.now() + self.tail  # watch a little longer: delayed ACKs, final ACKs
        while w.now() < end:
            w.wait([], end)
            self._settle()
        tr.end = self._t()
        self._relabel()
        return tr

    def close(self) -> None:
        seen: set[int] = set()  # threads share one table: close its descriptors once
        for proc in self.procs.values():
            if id(proc.fds) in seen:
                continue
            seen.add(id(proc.fds))
            for s in proc.fds.values():
                s.sock.close()
            for e in proc.epolls.values():
                e.sock.close()

    def _t(self) -> float:
        return round(self.world.now() - self.t0, 6)

    # -- starting and finishing calls ----------------------------------------------------
    def _begin(self, step: Step) -> None:
        if not self.sched.done:
            self.t0 = self.trace.t0 = self.world.now()  # t = 0 is the first call
        self.sched.start(step)
        proc = self.procs[step.process]
        ev = Call(t=self._t(), process=step.process, step=step.index, line=step.line,
                  text=step.text)
        fd_name = step.args[0] if step.spec.params and step.spec.params[0].kind == "fd" else None
        s = None
        if fd_name is not None:
            ev.fd = proc.names.get(fd_name)
            s = (proc.fds.get(ev.fd) or proc.epolls.get(ev.fd)) if ev.fd is not None else None
        self.trace.events.append(ev)
        if fd_name is not None and s is None:
            outcome = self._bad_fd(step)
        else:
            outcome = getattr(self, "_do_" + step.call)(proc, step, s)
        if isinstance(outcome, _Pending):
            ev.blocked = True
            self.pending[step.process] = outcome
            self.sched.park(step)
        else:
            self._finish(ev, step, outcome)

    def _finish(self, ev: Call, step: Step, outcome: Outcome) -> None:
        result, err, extra = outcome
        ev.result, ev.errno = result, err
        ready = extra.pop("ready", None)  # epoll_wait: ((name, events), ...)
        for k, v in extra.items():
            setattr(ev, k, v)
        if step.expect is not None:
            ev.expected = step.expect.text
            ev.ok = step.expect.matches(result, err)
            if step.expect.ready is not None:
                ev.ok = ev.ok and tuple(ready or ()) == step.expect.ready
        self.progress = self.called = self.world.now()

    def _complete_ready(self) -> bool:
        """Try every parked call again; True if one finished or moved on (a blocking send or
        recv(MSG_WAITALL) that took some bytes: what that did, a window update and the data it
        lets in, must be settled before anyone waits for a timer)."""
        if not self.pending:
            return False
        done = False
        for name, p in sorted(self.pending.items(), key=lambda kv: kv[1].step.index):
            before = (p.sent, len(p.got), p.taken)
            outcome = getattr(self, p.attempt)(p, *p.args)
            if outcome is None:
                if (p.sent, len(p.got), p.taken) != before:
                    done, self.called = True, self.world.now()
                continue
            del self.pending[name]
            self.sched.resume(name)
            if p.attempt == "_lingered" and p.tries == 1 and self._unblock(p, outcome):
                done = True
                continue
            ev = Call(t=self._t(), process=name, step=p.step.index, line=p.step.line,
                      text=p.step.text, kind="return", fd=p.sock.vfd if p.sock else None)
            self.trace.events.append(ev)
            self._finish(ev, p.step, outcome)
            done = True
        return done

    # -- settling, waiting, observing ----------------------------------------------------
    def _settle(self) -> None:
        while True:
            segments = self.world.settle()
            for seg in segments:
                seg.t = round(seg.t - self.t0, 6)
            self._append_in_time_order(segments)
            if segments:
                self.progress = self.world.now()
            if not self._complete_ready() and not self._unsettled():
                break
        self._snapshot()

    def _unsettled(self) -> bool:
        """Segments the world still delivers at once (SimWorld.tun_peer: one a settle())."""
        unsettled = getattr(self.world, "unsettled", None)
        return bool(unsettled and unsettled())

    def _append_in_time_order(self, segments: list) -> None:
        """Segments, with the model's own state changes between them where it reports them."""
        steps = getattr(self.world, "transitions", None)
        if steps is None:
            self.trace.events.extend(segments)
            return
        changes = []
        steps = steps()
        if not steps and not segments:
            return
        for t, sid, local, remote, state, rule in steps:
            label = self.sid_label.get(sid) or self.tuple_label.get((local, remote))
            if label is None and local and remote:
                peer = self.tuple_label.get((remote, local), remote)
                parent = self.listener_label.get(local.rsplit(":", 1)[1], local)
                label = self.provisional.setdefault((local, remote), f"{parent}[{peer}]")
            if label is not None:
                changes.append(State(round(t - self.t0, 6), label, state, "transition",
                                     rule=rule))
        if not changes or not segments:  # one kind: the same order as the merge below
            self.trace.events.extend(sorted(changes or segments, key=_time))
            return
        merged = sorted([(c.t, 0, i, c) for i, c in enumerate(changes)]
                        + [(g.t, 1, i, g) for i, g in enumerate(segments)])
        self.trace.events.extend(e for *_, e in merged)

    def _wait(self) -> None:
        deadlines = [p.deadline for p in self.pending.values() if p.deadline is not None]
        stuck_at = self.progress + self.timeout
        waits = [(p.sock.sock, p.events) for p in self.pending.values() if p.sock and p.events]
        # a lingering close() made from a thread of its own (the lab's): its return wakes us
        waits += [(p.args[0], POLLIN) for p in self.pending.values()
                  if p.attempt == "_lingered" and hasattr(p.args[0], "fileno")]
        # a call with a deadline (sleep, poll with a timeout) will return: only a program with
        # none can be stuck
        self.world.wait(waits, min(deadlines) if deadlines else stuck_at)
        if not deadlines and self.world.now() >= stuck_at:
            self._settle()
            if self.world.now() >= self.progress + self.timeout:
                raise Stuck(self._stuck_message(), self._partial())
        if not deadlines and self.world.now() - self.called >= TIMERS_ONLY:
            # only timers' segments for hours, no call returning: a keepalive answered
            # forever (the lab, on the clock, would have called it stuck long before)
            raise Stuck(self._stuck_message(timers=True), self._partial())

    def _stuck_message(self, timers: bool = False) -> str:
        waits = ", ".join(f"{p.step.process} waits in {p.step.text} (line {p.step.line})"
                          for p in self.pending.values())
        if timers:
            return (f"the program is stuck: {waits}, and for {TIMERS_ONLY / 3600:g} hours only "
                    "timers have sent segments (keepalive probes answered, say) while no call "
                    "returned; check the order of its lines")
        wrong = next((c for c in self.trace.calls if c.ok is False), None)
        if wrong is not None:
            # a result the program did not expect came first: that call is where this run
            # and the program part, and what waits now follows from it
            got = wrong.errno or wrong.result
            return (f"the program is stuck: {waits}, and nothing has happened for "
                    f"{self.timeout:g} s; it parted from the program earlier, at line "
                    f"{wrong.line}: {wrong.text} returned {got} where the program expects "
                    f"{wrong.expected}")
        return (f"the program is stuck: {waits}, and nothing has happened for {self.timeout:g} s; "
                "check the order of its lines, or give --timeout if the kernel needs longer")

    def _partial(self) -> Trace:
        self.trace.end = self._t()
        self._relabel()
        self.trace.notes.append(t("note.stuck"))
        return self.trace

    def _snapshot(self) -> None:
        """Record every socket whose kernel state changed since the last look."""
        if self._ob is None:
            self._snapshot_all()
        elif not self.check_observe:
            self._observe()
        else:
            shadow, n = copy.deepcopy(self), len(self.trace.events)
            shadow._snapshot_all()
            self._observe()
            mine, theirs = self._observed_state(), shadow._observed_state()
            assert self.trace.events[n:] == shadow.trace.events[n:], \
                (self.trace.events[n:], shadow.trace.events[n:])
            assert mine == theirs, (mine, theirs)

    def _observed_state(self) -> tuple:
        return (list(self.last_state.items()), self.tuple_label, self.provisional,
                self.listener_label, self.trace.sockets,
                [[(v, s.label, s.local, s.remote, s.seen_state, s.dirty) for v, s in p.fds.items()]
                 for p in self.procs.values()])

    def _snapshot_all(self) -> None:
        """A look at every socket (a world that cannot say which changed: the lab's)."""
        t = self._t()
        alive: set[str] = set()
        table = self.world.kernel_sockets()
        # a connection that reached TIME_WAIT with its descriptor still open: TCP_INFO reads
        # CLOSE, and the connection lives on in the kernel's table under the socket's name
        in_table = {self.tuple_label[(l, r)]: (l, r, st) for l, r, st in table
                    if (l, r) in self.tuple_label}
        covered: set[tuple[str, str]] = set()
        listeners: dict[int, str] = {}
        for proc in self.procs.values():
            for s in proc.fds.values():
                info = self.world.tcp_info(s.sock)
                if s.dirty or info["state"] != s.seen_state:
                    self._addresses(s)
                    s.dirty, s.seen_state = False, info["state"]
                covered.add((s.local, s.remote))
                if s.peer_hint:
                    covered.add((s.local, s.peer_hint))
                    self._name((s.local, s.peer_hint), s.label, keep=True)
                if info["state"] == "LISTEN":
                    listeners[int(s.local.rsplit(":", 1)[1])] = s.label
                    self.listener_label[s.local.rsplit(":", 1)[1]] = s.label
                state, via = info["state"], "tcp_info"
                if state == "CLOSE" and s.label in in_table:
                    local, remote, state = in_table[s.label]
                    covered.add((local, remote))
                    via = "sock_diag"
                self._emit(t, s.label, state, via, info.get("queue"), info.get("backlog"))
                alive.add(s.label)
        for local, remote, state in table:
            if (local, remote) in covered:
                continue
            label = self.tuple_label.get((local, remote))
            if label is None:  # a connection no descriptor has yet: a child of a listener
                parent = listeners.get(int(local.rsplit(":", 1)[1]), local)
                peer = self.tuple_label.get((remote, local), remote)
                label = self.provisional.setdefault((local, remote), f"{parent}[{peer}]")
            self._emit(t, label, state, "sock_diag")
            alive.add(label)
        for label, last in list(self.last_state.items()):
            if label not in alive and last[0] != "CLOSE":
                self._emit(t, label, "CLOSE", "sock_diag")  # freed: the kernel keeps nothing

    def _observe(self) -> None:
        """_snapshot_all's events, looking only at what the world says changed: the sockets it
        names (their descriptors, their rows of the kernel's table), the rows at pairs of
        addresses that were named or that a descriptor stopped or started showing, the
        labels that lost a descriptor or a row.  Each part in _snapshot_all's order:
        descriptors (process, then table order), rows (the kernel's order: by id), freed."""
        ob, w = self._ob, self.world
        changed = w.changed()
        if not (changed or ob.poked or ob.uncovered or ob.retabled or ob.relabelled or ob.gone):
            return  # nothing to look at
        t = self._t()
        changed |= ob.poked
        ob.poked = set()
        moved, ob.uncovered = ob.uncovered, set()
        moved |= ob.retabled
        ob.retabled = set()
        labels, ob.relabelled = ob.relabelled, set()
        gone, ob.gone = ob.gone, set()
        left = []  # ids whose row left the table
        for sid in changed:
            new, old = w.table_entry(sid), ob.tab.get(sid)
            if new == old:
                continue
            if old is not None:
                at = ob.tab_at[old[:2]] - {sid}
                if at:
                    ob.tab_at[old[:2]] = at
                else:
                    del ob.tab_at[old[:2]]
                moved.add(old[:2])
            if new is None:
                del ob.tab[sid]
                left.append(sid)
            else:
                ob.tab[sid] = new
                ob.tab_at[new[:2]] = ob.tab_at.get(new[:2], frozenset()) | {sid}
                moved.add(new[:2])
        for key in moved:
            label = self.tuple_label.get(key)
            if label is not None:
                labels.add(label)
        # the descriptors: those of the changed sockets, and of the labels whose rows changed
        sids = set(changed)
        for label in labels:
            if label in ob.label_sid:
                sids.add(ob.label_sid[label])
        procs = self.procs
        fds = [procs[name].fds[vfd] for sid in sids for name, vfd in ob.holders.get(sid, ())]
        if len(fds) > 1:
            fds.sort(key=lambda s: (procs[s.process].rank, s.order))
        in_table = {}  # as _snapshot_all's: the last row (by id) of a label's pairs, named before
        for s in fds:
            if s.label not in in_table:
                ids = [sid for key in ob.label_tuples.get(s.label, ()) for sid in ob.tab_at.get(key, ())]
                in_table[s.label] = ob.tab[max(ids)] if ids else None
        emitted = set()
        for s in fds:
            info = w.tcp_info(s.sock)
            if s.dirty or info["state"] != s.seen_state:
                self._addresses(s)
                s.dirty, s.seen_state = False, info["state"]
            covers = [(s.local, s.remote)]
            if s.peer_hint:
                covers.append((s.local, s.peer_hint))
                self._name((s.local, s.peer_hint), s.label, keep=True)
            state, via = info["state"], "tcp_info"
            if state == "LISTEN":
                entry = (procs[s.process].rank, s.order, int(s.local.rsplit(":", 1)[1]), s.label)
                if ob.listening.get(s.order) != entry:
                    ob.listening[s.order], ob.listening_changed = entry, True
            elif ob.listening.pop(s.order, None) is not None:
                ob.listening_changed = True
            row = in_table[s.label]
            if state == "CLOSE" and row is not None:
                local, remote, state = row
                covers.append((local, remote))
                via = "sock_diag"
            self._set_covers(s, tuple(covers), moved)
            self._emit(t, s.label, state, via, info.get("queue"), info.get("backlog"))
            emitted.add(s.label)
        if ob.listening_changed:
            ob.listening_changed = False
            ob.listeners = {port: label for _, _, port, label in sorted(ob.listening.values())}
            self.listener_label.update((str(port), label) for port, label in ob.listeners.items())
        # the rows: those that changed, at pairs named or (un)covered, of labels shown above
        moved |= ob.retabled
        for label in emitted:
            moved |= ob.label_tuples.get(label, frozenset())
        rows = set(left)
        for key in moved:
            rows.update(ob.tab_at.get(key, ()))
        for sid in (sorted(rows) if len(rows) > 1 else rows):
            prev = ob.tab_seen.pop(sid, None)
            if prev is not None:
                self._count(ob.tab_alive, prev, -1)
                gone.add(prev)
            row = ob.tab.get(sid)
            if row is None or (row[0], row[1]) in ob.covers:
                continue
            local, remote, state = row
            label = self.tuple_label.get((local, remote))
            if label is None:  # a connection no descriptor has yet: a child of a listener
                parent = ob.listeners.get(int(local.rsplit(":", 1)[1]), local)
                peer = self.tuple_label.get((remote, local), remote)
                label = self.provisional.setdefault((local, remote), f"{parent}[{peer}]")
            self._emit(t, label, state, "sock_diag")
            ob.tab_seen[sid] = label
            self._count(ob.tab_alive, label, 1)
        # freed: labels no descriptor and no row shows any more
        dead = [label for label in gone if label not in ob.fd_labels
                and label not in ob.tab_alive and label in self.last_state
                and self.last_state[label][0] != "CLOSE"]
        if len(dead) > 1:
            dead.sort(key=ob.ls_order.__getitem__)
        for label in dead:
            self._emit(t, label, "CLOSE", "sock_diag")  # freed: the kernel keeps nothing

    @staticmethod
    def _count(counts: dict, key, n: int) -> None:
        left = counts.get(key, 0) + n
        if left:
            counts[key] = left
        else:
            del counts[key]

    def _set_covers(self, s: _Sock, covers: tuple, moved: set) -> None:
        """The pairs of addresses descriptor s shows now (a row there is its, not shown)."""
        ob = self._ob
        before = ob.sock_covers.get(s.order, ())
        if covers == before:
            return
        for key in before:
            self._count(ob.covers, key, -1)
            if key not in ob.covers:
                moved.add(key)
        for key in covers:
            if key not in ob.covers:
                moved.add(key)
            self._count(ob.covers, key, 1)
        if covers:
            ob.sock_covers[s.order] = covers
        else:
            del ob.sock_covers[s.order]

    def _name(self, key: tuple, label: str, keep: bool = False) -> None:
        """tuple_label[key] = label (keep: unless the pair has a name already)."""
        old = self.tuple_label.get(key)
        if old == label or (keep and old is not None):
            return
        self.tuple_label[key] = label
        ob = self._ob
        if ob is not None:
            ob.retabled.add(key)
            if old is not None:
                ob.label_tuples[old] -= {key}
                ob.relabelled.add(old)
            ob.label_tuples[label] = ob.label_tuples.get(label, frozenset()) | {key}
            ob.relabelled.add(label)

    def _held(self, s: _Sock) -> None:
        """s has just been put in a descriptor table."""
        self._order += 1
        s.order = self._order
        ob = self._ob
        if ob is not None:
            sid = s.sock.sid
            ob.holders[sid] = ob.holders.get(sid, ()) + ((s.process, s.vfd),)
            ob.label_sid[s.label] = sid
            self._count(ob.fd_labels, s.label, 1)
            ob.poked.add(sid)

    def _dropped(self, s: _Sock) -> None:
        """s has just left its descriptor table."""
        ob = self._ob
        if ob is None:
            return
        sid = s.sock.sid
        rest = tuple(x for x in ob.holders[sid] if x != (s.process, s.vfd))
        if rest:
            ob.holders[sid] = rest
        else:
            del ob.holders[sid]
        self._count(ob.fd_labels, s.label, -1)
        ob.gone.add(s.label)
        ob.poked.add(sid)
        self._set_covers(s, (), ob.uncovered)
        if ob.listening.pop(s.order, None) is not None:
            ob.listening_changed = True

    def _emit(self, t, label, state, via, queue=None, backlog=None) -> None:
        key = (state, queue, backlog)
        if self.last_state.get(label) == key:
            return
        if self._ob is not None and label not in self.last_state:
            self._ob.ls_n += 1
            self._ob.ls_order[label] = self._ob.ls_n
        self.last_state[label] = key
        self.trace.events.append(State(t, label, state, via, queue, backlog))

    def _addresses(self, s: _Sock) -> None:
        try:
            s.local = endpoint(s.sock.getsockname())
        except OSError:
            pass
        try:
            s.remote = endpoint(s.sock.getpeername())
        except OSError:
            s.remote = "[::]:0" if s.sock.family == 10 else "0.0.0.0:0"
        if not s.remote.endswith(":0"):
            self._name((s.local, s.remote), s.label)
        info = self.infos.get(s.label)
        if info is None:
            info = SocketInfo(label=s.label, process=s.process, name=s.label.split(".", 1)[1])
            self.trace.sockets.append(info)
            self.infos[s.label] = info
        info.local, info.remote = s.local, None if s.remote.endswith(":0") else s.remote
        if s.local and not s.local.endswith(":0") and s.local not in info.seen:
            info.seen.append(s.local)

    def _relabel(self) -> None:
        """Children first seen in the accept queue take the name accept() later gave them."""
        rename = {p: self.tuple_label[t] for t, p in self.provisional.items() if t in self.tuple_label}
        if not rename:
            return
        events = self.trace.events
        for i, ev in enumerate(events):
            if isinstance(ev, State) and ev.socket in rename:
                # a new State, not an edit: snapshots of the run share the old one (explore.py);
                # made field by field (dataclasses.replace() looks every field up by name)
                events[i] = State(ev.t, rename[ev.socket], ev.state, ev.via, ev.queue,
                                  ev.backlog, ev.rule)


    # -- the calls -----------------------------------------------------------------------
    def _new_sock(self, proc: _Process, step: Step, sock, nonblocking: bool) -> _Sock:
        sock.setblocking(False)
        base = f"{proc.name}.{step.assign or step.call}"
        n = self._label_next.get(base, 1)  # base#2, #3...: only this base makes them
        label = base if n == 1 else f"{base}#{n}"
        while label in self.labels:
            n += 1
            label = f"{base}#{n}"
        self._label_next[base] = n + 1
        self.labels.add(label)
        s = _Sock(sock, label, proc.name, proc.new_fd(), nonblocking)
        proc.fds[s.vfd] = s
        self._held(s)
        if hasattr(sock, "sid"):
            self.sid_label[sock.sid] = label
        if step.assign:
            proc.names[step.assign] = s.vfd
        self._addresses(s)
        old = self.provisional.get((s.local, s.remote))
        if old is not None and old in self.last_state:
            # accept() gave a descriptor to the child the kernel's table showed before: its
            # states so far are this socket's (the events are renamed at the end, _relabel),
            # so the child is neither freed nor newly seen
            self.last_state[label] = self.last_state.pop(old)
            if self._ob is not None:
                self._ob.ls_n += 1
                self._ob.ls_order[label] = self._ob.ls_n
        return s

    @staticmethod
    def _err(e: OSError, extra=None) -> Outcome:
        return (-1, errno_name(e.errno), extra or {})

    def _zero(self, call, *args) -> Outcome:
        """A call that returns 0 or fails with an errno."""
        try:
            call(*args)
        except OSError as e:
            return self._err(e)
        return (0, None, {})

    def _bad_fd(self, step: Step) -> Outcome:
        """A name that was closed: the same call on a descriptor that is not open."""
        if step.call == "poll":
            return (POLLNVAL, None, {"value": "POLLNVAL"})  # poll(2) flags it, it does not fail
        if step.call.startswith("epoll_"):
            return (-1, "EBADF", {})  # fdget() of a closed descriptor
        rc, err = self.world.bad_fd(step.call)
        return (rc, err, {})

    def _do_socket(self, proc, step, _s) -> Outcome:
        family, stype, protocol = step.args
        nonblocking = bool(stype & SYMBOLS["socktype"]["SOCK_NONBLOCK"])
        stype &= ~(SYMBOLS["socktype"]["SOCK_NONBLOCK"] | SYMBOLS["socktype"]["SOCK_CLOEXEC"])
        try:
            sock = self.world.socket(family, stype, protocol)
        except OSError as e:
            return self._err(e)
        return (self._new_sock(proc, step, sock, nonblocking).vfd, None, {})

    def _poke(self, s: _Sock) -> None:
        """A call may have changed s's addresses: the next look reads them."""
        s.dirty = True
        if self._ob is not None:
            self._ob.poked.add(s.sock.sid)

    def _do_bind(self, proc, step, s) -> Outcome:
        self._poke(s)
        addr = step.args[1]
        if addr.family != s.sock.family and _is_real(s.sock):
            err = _other_family(s.sock, "bind", addr)
            return (-1, errno_name(err), {}) if err else (0, None, {})
        return self._zero(s.sock.bind, addr.sockaddr)

    def _do_listen(self, proc, step, s) -> Outcome:
        self._poke(s)
        return self._zero(s.sock.listen, step.args[1])

    def _do_accept(self, proc, step, s):
        p = _Pending(step, s, POLLIN, "_accept", (proc,))
        outcome = self._accept(p, proc)
        if outcome is not None:
            return outcome
        if s.nonblocking:
            return (-1, "EAGAIN", {})
        return p

    def _accept(self, p: _Pending, proc: _Process) -> Outcome | None:
        try:
            conn, _ = p.sock.sock.accept()
        except BlockingIOError:
            return None
        except OSError as e:
            return self._err(e)
        return (self._new_sock(proc, p.step, conn, False).vfd, None, {})

    def _do_connect(self, proc, step, s):
        s.peer_hint = endpoint(step.args[1].sockaddr)
        self._poke(s)
        addr = step.args[1]
        if addr.family != s.sock.family and _is_real(s.sock):
            err = _other_family(s.sock, "connect", addr)
        else:
            err = s.sock.connect_ex(addr.sockaddr)
        self._addresses(s)  # the kernel chose the local port: name the connection now
        self._name((s.local, s.peer_hint), s.label, keep=True)
        if err == 0:
            return (0, None, {})
        if err != E.EINPROGRESS or s.nonblocking:
            return (-1, errno_name(err), {})
        return _Pending(step, s, POLLOUT, "_connected")

    def _connected(self, p: _Pending) -> Outcome | None:
        if not self.world.poll(p.sock.sock, POLLOUT):
            return None
        # Calling connect() again finishes as a blocking connect() does in
        # __inet_stream_connect(): 0 and SS_CONNECTED, or the error (taken from sk_err)
        # and SS_UNCONNECTED, so that later calls see the socket a blocking one leaves.
        err = p.sock.sock.connect_ex(p.step.args[1].sockaddr)
        return (0, None, {}) if err in (0, E.EISCONN) else (-1, errno_name(err), {})

    def _do_send(self, proc, step, s):
        p = _Pending(step, s, POLLOUT, "_send_again")
        outcome = self._send(p)
        if outcome is not None:
            return outcome
        if s.nonblocking or step.args[2] & _MSG["MSG_DONTWAIT"]:
            return (p.sent, None, {}) if p.sent else (-1, "EAGAIN", {})
        return p

    def _send_again(self, p: _Pending) -> Outcome | None:
        """A blocked send() goes on when the kernel would wake it: sk_stream_write_space()
        wakes the writer once the socket is writeable (__sk_stream_is_writeable(), what
        tcp_poll() reports as POLLOUT; an error or hang-up too)."""
        if not self.world.poll(p.sock.sock, POLLOUT):
            return None
        return self._send(p)

    def _send(self, p: _Pending) -> Outcome | None:
        data, flags = p.step.args[1], p.step.args[2]
        try:
            # a view of the rest: a blocked 10 MB send retried many times copies nothing
            p.sent += p.sock.sock.send(memoryview(data)[p.sent:], flags)
        except BlockingIOError:
            pass
        except OSError as e:
            if p.sent:
                return (p.sent, None, {})
            sigpipe = {} if flags & _MSG["MSG_NOSIGNAL"] else {"value": "SIGPIPE"}
            return self._err(e, sigpipe if e.errno == E.EPIPE else None)
        return (p.sent, None, {}) if p.sent == len(data) else None

    def _do_recv(self, proc, step, s):
        p = _Pending(step, s, POLLIN | POLLRDHUP, "_recv")
        outcome = self._recv(p)
        if outcome is not None:
            return outcome
        if s.nonblocking or step.args[2] & _MSG["MSG_DONTWAIT"]:
            if p.got:  # MSG_WAITALL without blocking: what there was
                return (len(p.got), None, {"data": bytes(p.got)})
            return (-1, "EAGAIN", {})
        return p

    def _recv(self, p: _Pending) -> Outcome | None:
        n, flags = p.step.args[1], p.step.args[2]
        if flags & _MSG["MSG_WAITALL"]:
            return self._recv_waitall(p, n, flags & ~_MSG["MSG_WAITALL"])
        try:
            data = p.sock.sock.recv(n, flags) if n else _recv_nothing(p.sock.sock, flags)
        except BlockingIOError:
            return None
        except OSError as e:
            return self._err(e)
        return (len(data), None, {"data": data})

    def _recv_waitall(self, p: _Pending, n: int, flags: int) -> Outcome | None:
        """MSG_WAITALL: tcp_recvmsg_locked() keeps copying until n bytes (its target,
        sock_rcvlowat()) or EOF, an error or a signal; the world's sockets never block, so
        the bytes are gathered here as the kernel lets them in.  With MSG_PEEK nothing is
        taken: the call returns once n bytes are queued."""
        peek = flags & _MSG["MSG_PEEK"]
        want = n if peek else n - len(p.got)
        try:
            data = p.sock.sock.recv(want, flags)
        except BlockingIOError:
            data = None
        except OSError as e:
            if p.got:  # what was copied before the error is returned (copied ? : err)
                return (len(p.got), None, {"data": bytes(p.got)})
            return self._err(e)
        if data is not None:
            if peek:
                p.got = data
            else:  # in place: a 100 MiB read gathered by concatenation would be quadratic
                if not isinstance(p.got, bytearray):
                    p.got = bytearray(p.got)
                p.got += data
        if data == b"" or len(p.got) >= n:  # EOF, or all of it
            return (len(p.got), None, {"data": bytes(p.got)})
        return None

    def _do_readall(self, proc, step, s):
        p = _Pending(step, s, POLLIN | POLLRDHUP, "_readall")
        outcome = self._readall(p)
        if outcome is not None:
            return outcome
        if s.nonblocking:
            return (p.taken, None, {}) if p.taken else (-1, "EAGAIN", {})
        return p

    def _readall(self, p: _Pending) -> Outcome | None:
        """readall(fd, N): the loop `while ((n = recv(fd, buf, N, 0)) > 0) total += n;` as
        one line, so a program need not know how the kernel splits a transfer into reads (it
        depends on timing: the reads of a 1 MiB transfer differ run to run).  Each recv()
        is a real call, in the lab and in the model; the line returns the total at
        end-of-file, or at an error after some bytes (the error alone if none came)."""
        n = p.step.args[1]
        while True:
            try:
                data = p.sock.sock.recv(n)
            except BlockingIOError:
                return None
            except OSError as e:
                return (p.taken, None, {}) if p.taken else self._err(e)
            if not data:
                return (p.taken, None, {})
            p.taken += len(data)

    def _close(self, proc: _Process, s: _Sock, linger: list | None = None) -> Outcome:
        """close(): linger, for a socket with SO_LINGER {1, N}, gets the world's handle on
        a close() that may wait (_do_close)."""
        for name, n in proc.names.items():
            if n == s.vfd:
                proc.names[name] = None
        if isinstance(s, _Epoll):  # ep_eventpoll_release(): it stops watching; nothing is sent
            del proc.epolls[s.vfd]
            return self._zero(s.sock.close)
        self._addresses(s)
        del proc.fds[s.vfd]
        self._dropped(s)
        if linger is not None:  # SO_LINGER {1, N}: the close() may wait (_do_close)
            linger.append(self.world.close_lingering(s.sock, s.local, s.remote))
            rc, err, extra = 0, None, {}
        else:
            rc, err, extra = self._zero(s.sock.close)
        # fork() copied the descriptor: the socket closes with its last one (fput()), so the
        # call says who still holds it, where that decides that nothing is sent
        if self._ob is None:
            holders = [p.name for p in self.procs.values()
                       if any(x.label == s.label for x in p.fds.values())]
        else:  # the same, from the socket's descriptors (a label is one socket's)
            mine = self._ob.holders.get(s.sock.sid, ())
            if self._threads:  # a table shared by threads: each of them holds it
                tables = {id(self.procs[name].fds) for name, _ in mine}
                holders = [p.name for p in self.procs.values() if id(p.fds) in tables]
            else:
                holders = sorted({name for name, _ in mine}, key=self._proc_index.__getitem__)
        if holders and not err:
            extra["value"] = t("close.shared", who=", ".join(holders))
        return (rc, err, extra)

    def _do_close(self, proc, step, s):
        """close(); with SO_LINGER {1, N > 0} it may block: inet_release() hands the linger
        time to __tcp_close() (not at exit(): PF_EXITING), which after its FIN waits in
        sk_stream_wait_close() while the socket is in FIN_WAIT1, CLOSING or LAST_ACK
        (sk_stream_closing()), at most N seconds, then returns 0 whatever came of it (a
        non-blocking socket too: no flag is read there).  Another descriptor still open on
        the socket: no __tcp_close() yet, nothing waits."""
        seconds = None if isinstance(s, _Epoll) else self._linger_time(s)
        if seconds is None or not hasattr(self.world, "close_lingering"):
            return self._close(proc, s)
        handle: list = []
        rc, err, extra = self._close(proc, s, handle)
        if "value" in extra:  # shared: the other holders keep it open
            handle[0].waiting()
            handle[0].close()
            return (rc, err, extra)
        deadline = None if seconds < 0 else handle[0].deadline(seconds)
        return _Pending(step, s, 0, "_lingered", (handle[0],), deadline=deadline)

    def _linger_time(self, s: _Sock) -> float | None:
        """SO_LINGER's time in seconds when it is on and not 0 (< 0: for ever,
        sock_setsockopt() makes a negative l_linger MAX_SCHEDULE_TIMEOUT); None if close()
        does not linger."""
        try:
            onoff, secs = struct.unpack("ii", s.sock.getsockopt(1, 13, 8))  # SO_LINGER
        except (OSError, KeyError):  # (a model socket already freed: nothing to wait for)
            return None
        if not onoff or secs == 0:
            return None
        return -1.0 if secs < 0 else float(secs)

    def _lingered(self, p: _Pending, handle) -> Outcome | None:
        p.tries += 1
        if handle.waiting() and (p.deadline is None or self.world.now() < p.deadline):
            return None
        handle.close()
        err = getattr(handle, "error", None)
        return self._err(err) if err is not None else (0, None, {})

    def _unblock(self, p: _Pending, outcome: Outcome) -> bool:
        """A lingering close() done at its first try, once the world settled after it: its
        FIN was answered within the call, as on lo a peer in FIN_WAIT2 answers at once (the
        ACK waits in the socket's backlog and release_sock() in sk_wait_event() takes it
        before any sleep): the call did not block.  Its event becomes one that returned."""
        events = self.trace.events
        for i in range(len(events) - 1, -1, -1):
            ev = events[i]
            if isinstance(ev, Call) and ev.step == p.step.index and ev.kind == "call":
                # a new event in its place, not an edit: explore's copies share the old one
                events[i] = ev = replace(ev, blocked=False)
                self._finish(ev, p.step, outcome)
                return True
        return False

    def _do_fork(self, proc, step, _s) -> Outcome:
        """fork(): the child gets the parent's descriptor table, each entry a new reference to
        the same open socket (dup_fd() in kernel/fork.c); a socket closes with its last one
        (fput() -> sock_close() -> tcp_close())."""
        if proc.epolls:
            raise TcpsimError(f"line {step.line}: fork() with an epoll descriptor open is not "
                              "modelled yet; close it before the fork")
        child = self.procs[step.args[0]]
        for vfd, s in proc.fds.items():
            child.fds[vfd] = replace(s, sock=s.sock.dup(), process=child.name)
            child.fds[vfd].sock.setblocking(False)
            self._held(child.fds[vfd])
        child.names = dict(proc.names)
        return (0, None, {})

    def _do_dup(self, proc, step, s) -> Outcome:
        """dup(): a new descriptor, the lowest free, for the same open socket (get_file())."""
        if isinstance(s, _Epoll):
            raise TcpsimError(f"line {step.line}: dup() of an epoll descriptor is not modelled "
                              "yet")
        vfd = proc.new_fd()
        proc.fds[vfd] = replace(s, sock=s.sock.dup(), vfd=vfd)
        proc.fds[vfd].sock.setblocking(False)
        self._held(proc.fds[vfd])
        if step.assign:
            proc.names[step.assign] = vfd
        return (vfd, None, {})

    def _do_thread(self, proc, step, _s) -> Outcome:
        """A thread (clone(CLONE_FILES)): the same descriptor table, not a copy; a descriptor
        one thread closes is closed for the other."""
        child = self.procs[step.args[0]]
        child.fds, child.names, child.epolls = proc.fds, proc.names, proc.epolls
        sharing = [p for p in self.procs.values() if p.fds is proc.fds]
        rank = min(p.rank for p in sharing)  # a look at all meets the table at its first holder
        for p in sharing:
            p.rank = rank
        return (0, None, {})

    def _do_exit(self, proc, step, _s) -> Outcome:
        for vfd in sorted(proc.fds.keys() | proc.epolls.keys()):
            self._close(proc, proc.fds.get(vfd) or proc.epolls[vfd])
        return (0, None, {})

    def _do_shutdown(self, proc, step, s) -> Outcome:
        return self._zero(s.sock.shutdown, step.args[1])

    def _do_setsockopt(self, proc, step, s) -> Outcome:
        opt, value = step.args[1], step.args[2]
        raw = struct.pack("ii", value.onoff, value.seconds) if isinstance(value, Linger) else value
        return self._zero(s.sock.setsockopt, opt.level, opt.number, raw)

    def _do_getsockopt(self, proc, step, s) -> Outcome:
        opt = step.args[1]
        try:
            if opt.value == "linger":
                onoff, secs = struct.unpack("ii", s.sock.getsockopt(opt.level, opt.number, 8))
                return (onoff, None, {"value": str(Linger(onoff, secs))})
            v = s.sock.getsockopt(opt.level, opt.number)
        except OSError as e:
            return self._err(e)
        if opt.name == "SO_ERROR":
            return (v, None, {"value": errno_name(v) if v else "0"})
        return (v, None, {})

    def _do_fcntl(self, proc, step, s) -> Outcome:
        cmd, flags = step.args[1], step.args[2]
        o_nonblock = SYMBOLS["fcntl_flags"]["O_NONBLOCK"]
        if cmd == SYMBOLS["fcntl_cmd"]["F_SETFL"]:
            s.nonblocking = bool(flags & o_nonblock)
            return (0, None, {})
        return (2 | (o_nonblock if s.nonblocking else 0), None, {})  # O_RDWR, as sockets are

    def _do_ioctl(self, proc, step, s) -> Outcome:
        try:
            return (self.world.ioctl(s.sock, step.args[1]), None, {})
        except OSError as e:
            return self._err(e)

    def _do_poll(self, proc, step, s):
        events, timeout = step.args[1], step.args[2]
        deadline = None if timeout < 0 else self.world.now() + timeout / 1e9
        p = _Pending(step, s, events, "_polled", deadline=deadline)
        outcome = self._polled(p)
        if outcome is not None or timeout == 0:
            return outcome or (0, None, {"value": "0"})
        return p

    def _polled(self, p: _Pending) -> Outcome | None:
        revents = self.world.poll(p.sock.sock, p.step.args[1])
        if revents or (p.deadline is not None and self.world.now() >= p.deadline):
            return (revents, None, {"value": flag_names("poll", revents)})
        return None

    # -- epoll -----------------------------------------------------------------------------
    def _do_epoll_create(self, proc, step, _s) -> Outcome:
        e = _Epoll(self.world.epoll(), f"{proc.name}.{step.assign or 'epoll'}", proc.name,
                   proc.new_fd())
        proc.epolls[e.vfd] = e
        if step.assign:
            proc.names[step.assign] = e.vfd
        return (e.vfd, None, {})

    def _do_epoll_ctl(self, proc, step, e) -> Outcome:
        op, name, events = step.args[1], step.args[2], step.args[3]
        vfd = proc.names.get(name)
        target = proc.fds.get(vfd) if vfd is not None else None
        if target is None:
            return (-1, "EBADF", {})  # do_epoll_ctl(): fdget() of the target
        return self._zero(e.sock.ctl, op, target.sock, events)

    def _do_epoll_wait(self, proc, step, e):
        maxevents, timeout = step.args[1], step.args[2]
        deadline = None if timeout < 0 else self.world.now() + timeout / 1e9
        p = _Pending(step, e, POLLIN, "_epolled", (proc,), deadline=deadline)
        outcome = self._epolled(p, proc)
        if outcome is not None or timeout == 0:
            return outcome or (0, None, {"value": "", "ready": ()})
        return p

    def _epolled(self, p: _Pending, proc: _Process) -> Outcome | None:
        """epoll_wait() without blocking (ep_send_events()); a blocked one is tried again
        whenever the epoll descriptor may be readable (the world waits on it)."""
        try:
            got = p.sock.sock.wait(p.step.args[1])
        except OSError as e:
            return self._err(e)
        if not got and (p.deadline is None or self.world.now() < p.deadline):
            return None
        names = {n: name for name, n in proc.names.items() if n is not None}
        ready = []
        for sock, events in got:
            vfd = next((s.vfd for s in proc.fds.values() if s.sock is sock), None)
            ready.append((names.get(vfd, str(vfd)), events))
        text = ", ".join(f"{name} {flag_names('epoll', ev)}" for name, ev in ready)
        return (len(ready), None, {"value": text, "ready": tuple(ready)})

    def _do_sleep(self, proc, step, _s):
        return _Pending(step, None, 0, "_slept", deadline=self.world.now() + step.args[0] / 1e9)

    def _slept(self, p: _Pending) -> Outcome | None:
        return (0, None, {}) if self.world.now() >= p.deadline else None
