"""Every exchange a program can produce when its processes run concurrently (`tcpsim explore`).

The semantics (docs/concurrency.md): each process runs its own lines in order; between
processes only the kernel orders them: a blocking call waits for its event, data is received
after it is sent.  All processes start at once.  So whenever two processes could both make
their next call, either may go first -- or both at once, each before the segments of the
other arrive (two CPUs: a segment that reaches a socket while its owner is inside a call waits
in the socket's backlog until the call ends, tcp_v4_rcv() -> sk_add_backlog(); that is how two
FINs cross).  And when a process wakes from a pause within one jiffy of a kernel timer (the
delayed ACK, a retransmission), either may come first: the timer wheel fires a jiffy late or
early relative to a nanosleep.

The explorer walks that tree depth first.  At each choice it copies the whole run (the model
kernel, the runner, the trace: a state snapshot) and takes each option in a copy.  Two
reductions keep it small:
  - local calls (socket(), setsockopt/getsockopt/fcntl on their own descriptor, the start of
    a sleep) commute with everything: they run at once without a choice;
  - sleep sets (Godefroid 1996): once a call has been explored from a state, a sibling branch
    does not take it again until something it depends on has run.  Two calls depend on each
    other when they touch the same connection, the same socket or the same listening port.
Runs are grouped by their outcome (signature()): each connection's segments with relative
numbers, every call's result and errno, each socket's last state, and the calls left hanging.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import operator
import time
from dataclasses import dataclass, field
from math import comb

from ..model import KernelProfile
from ..model.kernel import SOCK_CONTAINERS, Sock
from ..scenario import Program, Step
from ..trace import Trace
from ..trace.segment import Segment
from ..trace.trace import Call, State
from ..trace.segment import flags_text
from .runner import Runner, Stuck, endpoint
from .world import EPOCH, SimWorld, _addr, model_notes

# Calls whose order against other processes' calls cannot change any outcome.
LOCAL_CALLS = frozenset({"socket", "setsockopt", "getsockopt", "fcntl", "sleep", "epoll_create"})
# Calls that may send a segment: only these can overlap another call with effect.
SENDING_CALLS = frozenset({"connect", "send", "close", "shutdown", "exit"})
EPHEMERAL_FROM = 32768  # net.ipv4.ip_local_port_range starts here by default
RACES = ("timer", "tick", "arrival")  # choices against the kernel's clock, not between calls
EVERYTHING = None  # the footprint of a call whose effects are not pinned to a socket


@dataclass(frozen=True)
class Choice:
    """One option at a choice point.
    kind "call": steps[0] goes next.  "together": steps[0] and steps[1] run at once, each
    before the other's segments arrive; steps[0] sends first, and process `first` takes the
    other's segments in first.  "timer": the pause in steps[0] ends before (first "sleep")
    or after (first "timer") the kernel timer `timer` of socket `sid` (named `socket`),
    which falls within a jiffy of it.  "tick": that timer, due within a jiffy, fires before
    (first "timer") or after (first "call") the call steps[0] that can run now.  "arrival":
    the held-back segment `segment` (the `sid`th sent), due now with the one just delivered,
    arrives before (first "segment") or after (first "call") the call steps[0]."""
    kind: str
    steps: tuple[Step, ...]
    first: str = ""  # a process ("together"); "sleep" or "timer" ("timer"); "call" or "timer"
    timer: str = ""
    sid: int = 0
    socket: str = ""
    segment: str = ""

    @property
    def key(self) -> tuple:
        return (self.kind, tuple(s.index for s in self.steps), self.first, self.timer, self.sid)


@dataclass
class Outcome:
    signature: tuple
    trace: Trace  # the first run that produced it
    path: list[tuple[Choice, tuple[Choice, ...]]]  # at each choice point: taken, all options
    runs: int = 0
    # for each other outcome (by index): (this one's option, the other's) where they part
    versus: dict[int, tuple[Choice, Choice]] = field(default_factory=dict)

    @property
    def hangs(self) -> tuple:
        return self.signature[-1]


@dataclass
class Exploration:
    program: str
    outcomes: list[Outcome] = field(default_factory=list)
    schedules: int = 0  # complete runs (leaves of the explored tree)
    choice_points: int = 0
    snapshots: int = 0
    pruned: int = 0  # options a sleep set skipped
    merged: int = 0  # branches that reached a state (and exchange so far) already explored
    interleavings: int = 0  # all interleavings of the processes' lines, before any reduction
    seconds: float = 0.0
    complete: bool = True  # False when the limit stopped the walk
    grouped: int = 0  # choice points whose groups' outcomes were combined (_Explorer.grouped)
    unmatched: int = 0  # combined outcomes whose replay came out otherwise (then walked on)
    steps: list = field(default_factory=list)  # the program's lines


def interleavings(program: Program) -> int:
    """The number of ways to interleave the processes' lines, each process in its own order."""
    total, out = 0, 1
    for name in program.processes:
        n = sum(1 for s in program.steps if s.process == name)
        total += n
        out *= comb(total, n)
    return out


def signature(trace: Trace, hangs: tuple = ()) -> tuple:
    """What makes two exchanges the same: each connection's segments in order (who sends,
    flags, relative seq/ack, length), the result and errno of every call, each socket's last
    state, and the calls still waiting when the program hangs.  Segments of different
    connections are not ordered against each other: that order is not part of the exchange.
    One pass over the events (it runs at every choice point of a walk): the numbers are
    Trace.relative()'s, without the options it also makes relative; _signature_plain() is the
    same written with the trace's views, which a test holds it to.  The pass is _Fold's, which
    a walk also keeps from one choice point to the next (_Explorer.so_far())."""
    f = _Fold()
    f.fold(trace.events, trace.owner())
    return f.key(hangs)


class _Fold:
    """signature()'s one pass over a trace's events, as far as it has gone: a walk keeps one
    with each run and goes on from where it stopped at the last choice point (the events are
    only ever appended to during a run; Runner._relabel() renames States at the end), so the
    exchange so far costs the events since then, not all of them (request-response-100: a
    thousand events at each of its choice points).  The owners of the endpoints are taken
    when first met; _Explorer.so_far() checks they still hold and folds afresh if not."""
    __slots__ = ("n", "names", "isn", "conns", "calls", "last")

    def __init__(self):
        self.n = 0  # events folded
        self.names: dict = {}  # endpoint -> its owner (or itself), as first met
        self.isn: dict = {}
        self.conns: dict[tuple, list] = {}
        self.calls: list = []
        self.last: dict[str, str] = {}

    def copy(self) -> "_Fold":
        new = object.__new__(_Fold)
        new.n, new.names, new.isn = self.n, dict(self.names), dict(self.isn)
        new.conns = {k: list(v) for k, v in self.conns.items()}
        new.calls, new.last = list(self.calls), dict(self.last)
        return new

    def fold(self, events: list, owner) -> None:
        names, isn, conns, calls, last = self.names, self.isn, self.conns, self.calls, self.last
        for e in itertools.islice(events, self.n, None):
            if isinstance(e, Segment):
                src, dst, seq = e.src, e.dst, e.seq
                d, back = (src, dst), (dst, src)
                if e.flags == "S" and d in isn and isn[d] != seq:
                    isn.pop(d, None)  # a new SYN on the same four-tuple: numbered afresh
                    isn.pop(back, None)
                base = isn.setdefault(d, seq)
                a = names.get(src)
                if a is None:
                    a = names[src] = owner(src) or src
                b = names.get(dst)
                if b is None:
                    b = names[dst] = owner(dst) or dst
                if "." in e.flags:
                    ack = (e.ack - isn[back]) % 2**32 if back in isn else e.ack
                else:
                    ack = None
                conns.setdefault((a, b) if a <= b else (b, a), []).append(
                    (a, e.flags, (seq - base) % 2**32, ack, e.length))
            elif isinstance(e, Call):
                if e.result is not None:  # (epoll_wait's ready sockets too: its result is a count)
                    calls.append((e.step, e.result, e.errno) + (
                        (e.value,) if e.text.startswith("epoll_wait(") else ()))
            elif isinstance(e, State) and e.via != "transition":
                last[e.socket] = e.state
        self.n = len(events)

    def key(self, hangs: tuple = ()) -> tuple:
        return (tuple(sorted((k, tuple(v)) for k, v in self.conns.items())),
                tuple(sorted(self.calls)), tuple(sorted(self.last.items())), hangs)


def _signature_plain(trace: Trace, hangs: tuple = ()) -> tuple:
    """signature() written with the trace's views (relative(), calls, observed_states), as it
    was before it became one pass: what a test holds signature() to."""
    owner = trace.owner()
    conns: dict[tuple, list] = {}
    for r in trace.relative():
        a, b = owner(r.seg.src) or r.seg.src, owner(r.seg.dst) or r.seg.dst
        conns.setdefault(tuple(sorted((a, b))), []).append(
            (a, r.seg.flags, r.seq, r.ack if r.seg.has_ack else None, r.seg.length))
    # (epoll_wait's ready sockets too: its result is only their count)
    calls = tuple(sorted((c.step, c.result, c.errno) + ((c.value,) if c.text.startswith(
        "epoll_wait(") else ()) for c in trace.calls if c.result is not None))
    last: dict[str, str] = {}
    for st in trace.observed_states:
        last[st.socket] = st.state
    return (tuple(sorted((k, tuple(v)) for k, v in conns.items())), calls,
            tuple(sorted(last.items())), hangs)


def _elements(sig: tuple) -> frozenset:
    """A signature as the set of its parts: each connection's segments, each call's result,
    each socket's last state, each hanging call."""
    conns, calls, last, hangs = sig
    return frozenset([("conn",) + c for c in conns] + [("call", c) for c in calls]
                     + [("state",) + x for x in last] + [("hang", h) for h in hangs])


def _assemble(elems: frozenset) -> tuple:
    """The signature made of these parts (_elements() undone)."""
    by: dict = {"conn": [], "call": [], "state": [], "hang": []}
    for e in elems:
        by[e[0]].append(e)
    return (tuple(sorted(e[1:] for e in by["conn"])), tuple(sorted(e[1] for e in by["call"])),
            tuple(sorted(e[1:] for e in by["state"])), tuple(sorted(e[1] for e in by["hang"])))


class _Stop(Exception):
    """The walk is out of schedules or time."""


def waiting(trace: Trace) -> tuple:
    """(process, line) of every call that started to wait and never returned."""
    returned = {c.step for c in trace.calls if c.kind == "return"}
    return tuple(sorted((c.process, c.line) for c in trace.calls
                        if c.blocked and c.kind == "call" and c.step not in returned))


# -- what a call touches --------------------------------------------------------------------
def footprint(runner: Runner, step: Step):
    """The sockets, connections and ports a call may affect or observe, at this point of the
    run; EVERYTHING when that is not pinned down.  Disjoint footprints commute."""
    if step.call in LOCAL_CALLS:
        return frozenset()
    proc = runner.procs[step.process]
    if step.call == "exit":
        return _exit_footprint(runner, proc)
    fd_name = step.args[0] if step.spec.params and step.spec.params[0].kind == "fd" else None
    vfd = proc.names.get(fd_name) if fd_name is not None else None
    if vfd in proc.epolls:
        return _epoll_footprint(runner, proc, step, proc.epolls[vfd])
    s = proc.fds.get(vfd) if vfd is not None else None
    if s is None:
        return frozenset() if fd_name is not None else EVERYTHING  # EBADF touches nothing
    out = {("sock", s.label)}
    if step.call in ("close", "dup"):
        # the file's count of descriptors (fget()/fput()): which close() is the last one
        out.add(("file", s.label))
    if step.call == "bind":
        port = step.args[1].sockaddr[1]
        if not port or port >= EPHEMERAL_FROM:
            return EVERYTHING  # may take, or be taken by, the port a connect() picks
        out.add(("bind", port))
    if step.call == "connect":  # reaches the listener on that port, if there is one
        out.add(("listen", step.args[1].sockaddr[1]))
    local_port = int(s.local.rsplit(":", 1)[1]) if s.local else 0
    if step.call in ("listen", "accept"):
        if not local_port:
            return EVERYTHING  # listen() on an unbound socket picks a port
        out.add(("listen", local_port))
    if step.call == "close" and _holders(runner, proc, s):
        # a copy of the descriptor lives on (fork(), dup()): close() only drops this one,
        # fput(); the socket closes with the last one (__fput() -> sock_close()), so it touches
        # the other holders' closes (and dup()s) alone: not their other calls on the socket,
        # which it leaves as it was
        return frozenset({("file", s.label)})
    if s.seen_state == "LISTEN" and step.call in ("close", "shutdown"):
        # inet_csk_listen_stop(): resets every child still in the accept queue (and the
        # request socks of the SYN queue): the connections at its port nobody accepted yet
        if not local_port:
            return EVERYTHING
        return frozenset(out | {("listen", local_port)} | _unaccepted(runner, local_port))
    if s.local and s.remote and not s.remote.endswith(":0"):
        out.add(("conn", frozenset((s.local, s.remote))))
    return frozenset(out)


def _watched(s) -> set:
    """What a call that polls socket s observes: the socket, its connection, its listening
    port (a connection joining the accept queue wakes it)."""
    out = {("sock", s.label)}
    if s.local and s.remote and not s.remote.endswith(":0"):
        out.add(("conn", frozenset((s.local, s.remote))))
    if s.seen_state == "LISTEN" and s.local:
        out.add(("listen", int(s.local.rsplit(":", 1)[1])))
    return out


def _epoll_footprint(runner: Runner, proc, step: Step, e):
    """An epoll call observes (and epoll_wait consumes the wakeups of) every socket the epoll
    watches, and epoll_ctl the socket it adds, modifies or removes."""
    out = {("epoll", e.label)}
    watched = runner.world.kernel.epolls.get(e.sock.eid)
    sids = set(watched.items) if watched is not None else set()
    for s in proc.fds.values():
        if getattr(s.sock, "sid", None) in sids:
            out |= _watched(s)
    if step.call == "epoll_ctl":
        vfd = proc.names.get(step.args[2])
        if vfd in proc.fds:
            out |= _watched(proc.fds[vfd])
    return frozenset(out)


def _conn(local: str | None, remote: str | None):
    """The token of the connection between two addresses; None while one is not known."""
    if local and remote and not remote.endswith(":0") and not local.endswith(":0"):
        return ("conn", frozenset((local, remote)))
    return None


def _holders(runner: Runner, proc, s) -> bool:
    """Whether a descriptor other than s (another process's fork() copy, a dup()) holds s's
    socket.  Threads share one table (runner._do_thread): that is one holder."""
    for other in {id(p.fds): p for p in runner.procs.values()}.values():
        for x in other.fds.values():
            if x is not s and x.label == s.label:
                return True
    return False


def _port(addr: str | None) -> int:
    return int(addr.rsplit(":", 1)[1]) if addr else 0


def _unaccepted(runner: Runner, port: int) -> frozenset:
    """The connections at a listening port that nobody accepted yet: its request socks and
    the children in its accept queue (a child's parent is cleared by accept(), tcp.py).  A
    future accept() returns one of these (or one that does not exist yet); closing the
    listener resets them (inet_csk_listen_stop())."""
    conns = set()
    for sk in runner.world.kernel.socks.values():
        if sk.parent is None or sk.local is None or sk.remote is None or sk.local[1] != port:
            continue
        c = _conn(endpoint(sk.local), endpoint(sk.remote))
        conns.add(c if c is not None else ("sid", sk.id))
    return frozenset(conns)


def _close_footprint(runner: Runner, proc, s, leaving=None):
    """What close() of s touches: see footprint().  leaving: the descriptor table that
    closes all its descriptors at once (exit())."""
    shared = _holders(runner, proc, s) if leaving is None else any(
        x.label == s.label for p in runner.procs.values() if p.fds is not leaving
        for x in p.fds.values())
    if shared:
        return frozenset({("file", s.label)})  # fput() of a shared file: nothing is sent
    out = {("sock", s.label), ("file", s.label)}
    c = _conn(s.local, s.remote)
    if c is not None:
        out.add(c)
    if s.seen_state == "LISTEN":
        if not s.local or not _port(s.local):
            return EVERYTHING
        out.add(("listen", _port(s.local)))
        out |= _unaccepted(runner, _port(s.local))
    elif c is None and s.seen_state not in (None, "CLOSE"):
        return EVERYTHING  # a connecting socket whose peer is not pinned down yet
    return frozenset(out)


def _exit_footprint(runner: Runner, proc):
    """exit() closes every descriptor of the process (do_exit() -> exit_files()): the union
    of those closes."""
    out = frozenset()
    for e in proc.epolls.values():
        out |= {("epoll", e.label)}
    for s in proc.fds.values():
        out = _union(out, _close_footprint(runner, proc, s, leaving=proc.fds))
        if out is EVERYTHING:
            return out
    return out


# -- what a process may still touch (persistent sets) ------------------------------------------
def _fresh_tokens(runner: Runner, v, call: str, step: Step):
    """What a call on a socket that does not exist yet may touch: a socket() of a line still
    to come (v = ["new", bound port]) or an accept() still to come (v = ["acc", port]).  Its
    connection does not exist yet either, and no existing socket reaches it but through the
    port it binds, listens on or connects to, or the listener that accepts it."""
    if v[0] == "acc":  # one of the connections waiting at that port, or a later one
        return frozenset({("listen", v[1])}) | _unaccepted(runner, v[1])
    bound = v[1]
    if call == "bind":
        port = step.args[1].sockaddr[1]
        if not port or port >= EPHEMERAL_FROM:
            return EVERYTHING
        v[1] = port  # inet_csk_get_port(): conflicts with every socket at that port
        return frozenset({("port", port), ("bind", port), ("listen", port)})
    if call == "connect":  # reaches the listener at that port (a new 4-tuple: nothing else)
        return frozenset({("listen", step.args[1].sockaddr[1])} | (
            {("port", bound)} if bound else set()))
    if call in LOCAL_CALLS:
        return frozenset()
    if bound:
        return frozenset({("port", bound), ("listen", bound)}) | _unaccepted(runner, bound)
    if call in ("listen", "accept"):
        return EVERYTHING  # an unbound listener picks a port
    return frozenset()  # a socket of its own: nothing that exists now


def _futures(runner: Runner) -> dict:
    """For each process, the sockets, connections and ports its lines still to run (its
    parked call included) may touch, as tokens comparable with footprint()'s; EVERYTHING where
    that is not pinned down.  A line on a descriptor that exists is its footprint now, widened
    to the whole socket (its connection, its listening port's waiting connections); a line on
    a descriptor still to be made (socket(), accept()) is _fresh_tokens().  A forked child
    walks its lines from a copy of its parent's names at the fork() line (dup_fd())."""
    sched, steps = runner.sched, runner.program.steps
    threads = {s.args[0] for s in steps if s.call == "thread"} | {
        s.process for s in steps if s.call == "thread"}
    lines: dict[str, list[Step]] = {}
    for st in steps:
        if not sched.started[st.index]:
            lines.setdefault(st.process, []).append(st)
    out: dict[str, object] = {}
    envs: dict[str, dict] = {}
    for name, proc in runner.procs.items():
        if sched._unborn(name):
            continue
        env = {}
        for n, vfd in proc.names.items():
            env[n] = (["sock", proc.fds[vfd]] if vfd in proc.fds else
                      ["epoll", proc.epolls[vfd]] if vfd in proc.epolls else None)
        for vfd, x in proc.fds.items():  # descriptors no name holds still close at exit()
            env[("fd", vfd)] = ["sock", x]
        for vfd, e in proc.epolls.items():
            env[("fd", vfd)] = ["epoll", e]
        envs[name] = env
    todo = [n for n in runner.procs if n in envs]
    while todo:
        name = todo.pop()
        if name in threads:
            out[name] = EVERYTHING  # one descriptor table for two processes
            continue
        env, acc = envs[name], frozenset()
        parked = sched.parked.get(name)
        if parked is not None:
            acc = footprint(runner, parked)
            if parked.assign and parked.call == "accept":
                s = runner.procs[name].fds.get(runner.procs[name].names.get(parked.args[0]))
                port = _port(s.local) if s is not None else 0
                if not port:
                    out[name] = EVERYTHING
                    continue
                env[parked.assign] = ["acc", port]
        for st in lines.get(name, ()):
            if acc is EVERYTHING:
                break
            acc = _union(acc, _future_line(runner, st, env, envs, todo))
        out[name] = acc
    for name in runner.procs:
        out.setdefault(name, EVERYTHING)  # a child whose fork() is not on the way
    return out


def _whole(runner: Runner, s) -> frozenset:
    """Everything a socket that exists may take part in, whatever the call."""
    out = {("sock", s.label), ("file", s.label)}
    c = _conn(s.local, s.remote)
    if c is not None:
        out.add(c)
    port = _port(s.local)
    if port and (c is None or s.seen_state == "LISTEN"):
        out |= {("listen", port)} | _unaccepted(runner, port)
    return frozenset(out)


def _future_line(runner: Runner, st: Step, env: dict, envs: dict, todo: list):
    call = st.call
    if call == "socket":
        if st.assign:
            env[st.assign] = ["new", 0]
        return frozenset()
    if call == "sleep":
        return frozenset()
    if call == "thread":
        return EVERYTHING
    if call == "fork":
        child = st.args[0]
        envs[child] = {n: (list(v) if v is not None else None) for n, v in env.items()}
        todo.append(child)
        out = frozenset()
        for v in env.values():
            out = _union(out, _value_tokens(runner, v, "fork", st))
        return out
    if call == "exit":
        out = frozenset()
        for v in env.values():
            out = _union(out, _value_tokens(runner, v, "close", st))
        return out
    if call == "epoll_create":
        return EVERYTHING if st.assign else frozenset()
    if not st.spec.params or st.spec.params[0].kind != "fd":
        return EVERYTHING
    v = env.get(st.args[0])
    out = _value_tokens(runner, v, call, st)
    if call in ("close",) and v is not None:
        env[st.args[0]] = None
    if st.assign:
        if call == "accept" and v is not None and v[0] == "sock" and _port(v[1].local):
            env[st.assign] = ["acc", _port(v[1].local)]
        elif call == "accept" and v is not None and v[0] == "new" and v[1]:
            env[st.assign] = ["acc", v[1]]
        elif call == "dup" and v is not None:
            env[st.assign] = list(v)
        else:
            return EVERYTHING
    return out


def _value_tokens(runner: Runner, v, call: str, st: Step):
    if v is None:
        return frozenset()  # EBADF: touches nothing
    if v[0] == "epoll":
        return EVERYTHING
    if v[0] == "sock":
        s = v[1]
        if call in LOCAL_CALLS:
            return frozenset()
        if call == "bind":
            port = st.args[1].sockaddr[1]
            if not port or port >= EPHEMERAL_FROM:
                return EVERYTHING
            return _whole(runner, s) | {("port", port), ("bind", port), ("listen", port)}
        if call == "listen" and not _port(s.local):
            return EVERYTHING
        if call == "connect":
            return _whole(runner, s) | {("listen", st.args[1].sockaddr[1])}
        if call in ("listen", "accept"):
            return _whole(runner, s) | {("listen", _port(s.local))} | _unaccepted(
                runner, _port(s.local))
        if s.seen_state in ("SYN_SENT", None) and _conn(s.local, s.remote) is None \
                and call not in ("fork", "dup"):
            return EVERYTHING  # its connection is not pinned down yet
        return _whole(runner, s)
    return _fresh_tokens(runner, v, call, st)


def _linked(ready: list, fps: dict) -> bool:
    """Whether the ready calls' footprints alone chain them all together."""
    if any(fps[s.index] is EVERYTHING for s in ready):
        return True
    group, rest = set(fps[ready[0].index]), [fps[s.index] for s in ready[1:]]
    grew = True
    while rest and grew:
        grew = False
        for f in list(rest):
            if group & f:
                group |= f
                rest.remove(f)
                grew = True
    return not rest


def _same_connection(a, b) -> bool:
    """Both calls act on the two ends of one connection: their segments can cross.  A call
    whose footprint is not pinned down (exit(), closing a listener) is not run together with
    another: it is ordered against it either way, which covers what it affects."""
    if a is EVERYTHING or b is EVERYTHING:
        return False
    return any(tok[0] == "conn" for tok in a & b)


def _union(a, b):
    return EVERYTHING if a is EVERYTHING or b is EVERYTHING else a | b


def independent(a, b) -> bool:
    return a is not EVERYTHING and b is not EVERYTHING and not (a & b)


# -- states worth comparing -------------------------------------------------------------------
_SND_SEQ = ("snd_una", "snd_nxt", "write_seq", "push_end", "snd_sml", "pushed_seq")
_RCV_SEQ = ("rcv_nxt", "rcv_wup")
_TIMES = ("lrcvtime", "retrans_stamp")
# more times on the model's clock, each the time of the socket's last transmit, ACK taken or
# measure begun: lsndtime and rcv_tstamp are jiffies in the kernel (tcp_jiffies32, read
# through Kernel._jiffies()); wstamp, rcv_rtt_time and rack_mstamp its microsecond clock
# (tcp_wstamp_ns, tcp_mstamp), whose differences of a few microseconds are loopback latency
# the model does not keep (its own races: tso_defer, rack_reo).  Two orders of the same calls
# on different connections leave them microseconds apart: taken as they were, nearly every
# state met at a choice point of concurrent-server was a new one (2284 of 2582 in 20 s,
# differing in these alone).  In jiffies, as _TIMES; a value <= 0 is "never" (kept as is).
_CLOCKS = ("lsndtime", "rcv_tstamp", "wstamp", "rcv_rtt_time", "rack_mstamp")
# random or bookkeeping values that only change absolute numbers, never what happens next
# (rcvq_tail_capture is a count of the capture's reads: only whether it is the current one
# matters, fingerprint() keeps that)
_SKIP = frozenset({"id", "iss", "irs", "ts_offset", "ts_recent", "ip_id", "timer_order",
                   "local", "remote", "accept_queue", "parent", "timers",
                   "rcvq_tail_capture"} | set(_SND_SEQ)
                  | set(_RCV_SEQ) | set(_TIMES) | set(_CLOCKS))
_KEPT = tuple(f for f in Sock.__slots__ if f not in _SKIP)
_KEPT_CONTAINERS = tuple(i for i, f in enumerate(_KEPT) if f in SOCK_CONTAINERS)
_kept = operator.attrgetter(*_KEPT)
_snd_seq, _rcv_seq, _times, _clocks = (operator.attrgetter(*fs) for fs in (
    _SND_SEQ, _RCV_SEQ, _TIMES, _CLOCKS))


def _frozen(v):
    """A container field as a value that compares and hashes."""
    return (tuple(sorted(v.items())) if isinstance(v, dict) else
            bytes(v) if isinstance(v, bytearray) else tuple(v))


def fingerprint(r: Runner, only: tuple | None = None) -> tuple:
    """The state of a run up to what cannot change the rest of it: ISNs, ports and the clock
    are made relative (they differ between two orders of the same calls), sockets are named
    by the program's labels.  Two runs with equal fingerprints and equal exchanges so far
    (signature) have the same futures.  only: (processes, socket ids, endpoints) of a group
    that can no longer meet the others (_Explorer.focus()): its part of the state alone."""
    k = r.world.kernel
    procs, sids, eps = only if only is not None else (None, None, None)
    now = k.now
    jiffy = k.profile.jiffy

    def ago(t: float) -> int:
        # in jiffies, the kernel's own resolution for its timers and receive times
        # (tcp_jiffies32): two orders of the same calls differ by microseconds of loopback
        # latency, which the kernel cannot tell apart
        return round((t - now) / jiffy)

    names = {addr: info.label for info in r.trace.sockets for addr in info.seen}

    def addr(a):
        if a is None:
            return None
        text = f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"
        return names.get(text, a[1] if a[1] < EPHEMERAL_FROM else "ephemeral")

    def sock_name(sid):
        sk = k.socks.get(sid)
        label = r.sid_label.get(sid)
        return label if label else ("child", addr(sk.local), addr(sk.remote)) if sk else sid

    socks = []
    for sid, sk in k.socks.items():
        if sids is not None and sid not in sids:
            continue
        kept = list(_kept(sk))
        for i in _KEPT_CONTAINERS:
            kept[i] = _frozen(kept[i])
        iss, irs = sk.iss, sk.irs
        socks.append((sock_name(sid), addr(sk.local), addr(sk.remote),
                      tuple(sock_name(c) for c in sk.accept_queue),
                      sock_name(sk.parent) if sk.parent is not None else None,
                      tuple((v - iss) % 2**32 for v in _snd_seq(sk)),
                      tuple((v - irs) % 2**32 for v in _rcv_seq(sk)),
                      tuple(ago(v) for v in _times(sk)),
                      tuple((v,) if v <= 0 else ago(v) for v in _clocks(sk)),
                      # tcp_tso_should_defer(): sent more than 1 ms ago (for good: the clock
                      # only moves on)
                      now - sk.wstamp > 0.001,
                      tuple(sorted((n, ago(t)) for n, t in sk.timers.items())), *kept,
                      sk.rcvq_tail_capture == k.capture_reads))
    # the timer races already decided on this path, for timers still due as decided: a branch
    # that decided one is not in the state its parent was in, though nothing else moved
    # (and the arrival races, for segments still in flight)
    in_flight = {n: i for i, (_, n, _, _) in enumerate(sorted(r.world._flight))}
    decided = tuple(sorted(((str(key[0]), sock_name(key[1]), key[2]) for key in r.decided
                            if key[0] != "arrival" and key[1] in k.socks
                            and (sids is None or key[1] in sids)
                            and key[2] in k.socks[key[1]].timers
                            and round(k.socks[key[1]].timers[key[2]], 9) == key[3]), key=repr)
                     + sorted(("arrival", in_flight[key[1]]) for key in r.decided
                              if key[0] == "arrival" and key[1] in in_flight))
    flight = tuple((ago(at), seg.flags, len(seg.payload), held)
                   for at, _, seg, held in sorted(r.world._flight)
                   if eps is None or _addr(seg.src) in eps or _addr(seg.dst) in eps)
    pending = tuple(sorted((name, p.step.index, p.attempt, p.sent,
                            None if p.deadline is None else ago(p.deadline - EPOCH))
                           for name, p in r.pending.items() if procs is None or name in procs))
    fds = tuple(sorted((proc.name, tuple(sorted((n, proc.fds[v].label if v in proc.fds else
                                                 proc.epolls[v].label if v in proc.epolls else None)
                                                for n, v in proc.names.items())))
                       for proc in r.procs.values() if procs is None or proc.name in procs))
    # each epoll's items (socket, events) and its ready list, in order (model/eventpoll.py):
    # what later epoll_wait() calls report
    epolls = tuple(sorted(((e.label, tuple(sorted((sock_name(sid), it.events) for sid, it in
                                                  k.epolls[e.sock.eid].items.items())),
                            tuple(sock_name(sid) for sid in k.epolls[e.sock.eid].ready))
                           for proc in r.procs.values() for e in proc.epolls.values()
                           if procs is None or proc.name in procs), key=repr))
    started = tuple(r.sched.started) if procs is None else tuple(
        r.sched.started[st.index] for st in r.program.steps if st.process in procs)
    last = tuple(sorted(r.last_state.items())) if sids is None else tuple(sorted(
        (label, v) for label, v in r.last_state.items()
        if label in {r.sid_label.get(sid) for sid in sids}))
    # ordered by name and addresses: the order socket ids were handed out is not state
    return (tuple(sorted(socks, key=lambda f: repr(f[:3]))), flight, pending, fds, started,
            last, tuple(sorted(r.world.wire._matched.items())),
            ago(r.progress - EPOCH), decided, epolls)


# -- driving a run ----------------------------------------------------------------------------
class _Explorer:
    def __init__(self, program: Program, profile: KernelProfile, seed: int, timeout: float,
                 limit: int, tail: float, por: bool, enough: int | None = None,
                 ticks: bool = True, progress=None):
        self.program, self.profile, self.seed = program, profile, seed
        # progress(schedules, exchanges): told now and then (PROGRESS_EVERY) while it walks
        self.progress = progress
        self.timeout, self.limit, self.tail, self.por = timeout, limit, tail, por
        self.enough, self.ticks = enough, ticks
        self.deadline: float | None = None  # time.perf_counter() past which the walk stops
        self.told = time.perf_counter()  # the last progress report
        self.groups = False  # combine the outcomes of groups that can no longer meet (grouped())
        self.stubborn = True  # persistent() tries stubborn_set() where the components are large
        self.memo: dict = {}  # focus(): (state, exchange so far, group) -> its leaves
        self.jiffy = profile.jiffy
        # shared, never copied: the program and its lines, the profile
        self.memo_base = {id(program): program, id(program.steps): program.steps,
                          id(profile): profile}
        for s in program.steps:
            self.memo_base[id(s)] = s

    def new_runner(self) -> Runner:
        world = SimWorld(self.profile, self.seed, self.program.faults, self.program.sysctls)
        r = Runner(self.program, world, "model", tail=self.tail, timeout=self.timeout)
        world.one_at_a_time = self.ticks  # see arrival_race
        r.start()
        r.decided = set()  # the timer and arrival races already decided on this path
        return r

    def snapshot(self, runner: Runner) -> Runner:
        memo = dict(self.memo_base)
        tr, k = runner.trace, runner.world.kernel
        # what the trace has recorded is never changed afterwards (a renamed State is replaced,
        # not edited: Runner._relabel): the copies share it, and only the list is new (copied
        # whole: a deep copy would visit each event, 1000 of them for 100 request/response
        # rounds, at every snapshot)
        memo[id(tr.events)] = list(tr.events)
        memo[id(tr.sysctls)], memo[id(tr.kernel)] = tr.sysctls, tr.kernel  # set at the start
        # containers of tuples of numbers and strings: one level of copying is a deep copy
        memo[id(k.covered)], memo[id(k.ehash)] = set(k.covered), dict(k.ehash)
        # a flag per line of the program (400 for request-response-100): a deep copy visited
        # each one
        memo[id(runner.sched.started)] = list(runner.sched.started)
        f = runner.__dict__.get("fold")
        if f is not None:  # the exchange so far (so_far()): lists and dicts of plain values
            memo[id(f)] = f.copy()
        return copy.deepcopy(runner, memo)

    @staticmethod
    def so_far(r: Runner) -> tuple:
        """signature(r.trace), going on from the fold kept with the run (_Fold): the events
        since the last choice point only.  Folded afresh when an endpoint's owner is no longer
        the one it had when first met (Trace.owner(): a socket's addresses are seen after the
        call that made them).  (Runner._relabel(), the one edit of events already recorded,
        runs when the run ends, finish() or Stuck: no choice point comes after it.)"""
        tr = r.trace
        owner = tr.owner()
        f = r.__dict__.get("fold")
        if f is None or f.n > len(tr.events) or any(
                (owner(a) or a) != name for a, name in f.names.items()):
            f = r.fold = _Fold()
        f.fold(tr.events, owner)
        return f.key()

    def options(self, r: Runner, sleep: dict | None = None) -> list[Choice] | None:
        """Run until the next real choice; [] when the program has finished; None when a call
        that must run alone (persistent()) is asleep: a sibling branch covers this one.  sleep
        (the branch's sleep set) loses what a call run alone here depends on."""
        while True:
            r._settle()
            ready = r.sched.runnable()
            if ready:
                local = [s for s in ready if footprint(r, s) == frozenset()]
                if local:
                    r.begin(local[0])  # commutes with every other call: no choice
                    continue
                race = (self.arrival_race(r, ready[0]) or self.tick_race(r, ready[0])
                        if self.ticks else [])
                if race:
                    return race
                if len(ready) == 1:
                    r.begin(ready[0])
                    continue
                fps = {s.index: footprint(r, s) for s in ready}
                if self.por is True:
                    group = self.persistent(r, ready, fps)
                    if len(group) == 1:
                        alone = group[0]
                        key = Choice("call", (alone,)).key
                        if sleep is not None:
                            if key in sleep:
                                return None  # a sibling branch took it: all covered there
                            for k in [k for k, fp in sleep.items()
                                      if not independent(fp, fps[alone.index])]:
                                del sleep[k]
                        r.begin(alone)
                        continue
                out = [Choice("call", (s,)) for s in ready]
                for a in ready:
                    for b in ready:
                        if a is not b and a.call in SENDING_CALLS and _same_connection(
                                self.pinned(r, a, fps), self.pinned(r, b, fps)):
                            # a sends first; either side may take the other's segment
                            # first (each releases its socket lock when its call ends)
                            out.append(Choice("together", (a, b), first=a.process))
                            out.append(Choice("together", (a, b), first=b.process))
                return out
            if r.sched.finished:
                return []
            race = self.timer_race(r)
            if race:
                return race
            r._wait()

    @staticmethod
    def pinned(r: Runner, step: Step, fps: dict):
        """The footprint for _same_connection(): exit() and closing a listener act on many
        connections, and are ordered against each call on them rather than run together."""
        if step.call == "exit":
            return EVERYTHING
        if step.call in ("close", "shutdown"):
            proc = r.procs[step.process]
            s = proc.fds.get(proc.names.get(step.args[0]))
            if s is not None and s.seen_state == "LISTEN":
                return EVERYTHING
        return fps[step.index]

    def persistent(self, r: Runner, ready: list, fps: dict) -> list[Step]:
        """The ready calls that must be ordered against each other here: those of the
        processes that may ever touch what ready[0]'s process touches, directly or through
        others (a component of the processes, linked where what their lines still to run may
        touch meets: _futures(), with each ready call's footprint now).  They are a persistent
        set (Godefroid 1996, ch. 4): a run from here that takes none of them takes only calls
        of the other processes, which never touch the same socket, connection or port as any
        of them (and cannot wake one of their parked calls), so taking them first and the
        rest later keeps every outcome.  The kernel does nothing on its own while a call can
        run (the clock stands still but for the races, decided before any call).
        options() uses the group only when it is one call, which then runs with no choice:
        branching on the group alone when it is larger walked far more schedules on
        concurrent-server (one exchange in its first 11610 schedules, against 320 exchanges
        in 10851 when every ready call is an option with the sleep sets), as the DFS then
        enumerates the product of the groups' orders before anything else."""
        if _linked(ready, fps):
            return ready  # their footprints now already tie them together: no need to look on
        roots = self.components(r, ready, fps)
        mine = roots[ready[0].process]
        group = [s for s in ready if roots[s.process] == mine]
        if len(group) == 1 or not self.stubborn:
            return group
        return self.stubborn_set(r, ready, fps)

    def stubborn_set(self, r: Runner, ready: list, fps: dict) -> list[Step]:
        """A finer persistent set (Godefroid 1996, ch. 4, stubborn sets with the processes'
        next calls): a set T of processes whose next calls (ready, or parked: a call waiting
        for an event) no call of a process outside T may touch before T moves.  Before one of
        T's calls runs, only the other processes' calls can, and their processes' futures
        (_futures(): what their lines still to run may touch) miss T's next calls: so each is
        independent of them, and cannot wake or disable one.  T's own later lines do not
        count (they come after its next calls), which is where this is finer than the
        components of the futures (persistent()): a server at work on one connection is not
        linked to the clients it will accept later.  Tried from each ready call in turn; the
        first T with one ready call, else ready (every option, as persistent() answers)."""
        fut = _futures(r)
        binding = {tok for f in fut.values() if f is not EVERYTHING for tok in f
                   if tok[0] == "port"}
        cur: dict = {}
        for s in ready:
            proc = r.procs[s.process]
            vfd = proc.names.get(s.args[0]) if s.spec.params and \
                s.spec.params[0].kind == "fd" else None
            x = proc.fds.get(vfd)
            cur[s.process] = _union(fps[s.index], frozenset(
                {("port", _port(x.local)), ("port", _port(x.remote))} & binding
                if x is not None else ()))
        for name, st in r.sched.parked.items():
            cur[name] = footprint(r, st)
        for st in list(ready) + list(r.sched.parked.values()):
            if st.call == "accept" and cur[st.process] is not EVERYTHING:
                # it takes one of the connections waiting at its port: a call on one of them
                # (a close() that resets it) changes what it returns (footprint() leaves
                # them out, as they commute call against call)
                proc = r.procs[st.process]
                x = proc.fds.get(proc.names.get(st.args[0]))
                if x is None or not _port(x.local):
                    cur[st.process] = EVERYTHING
                else:
                    cur[st.process] = cur[st.process] | _unaccepted(r, _port(x.local))
        for seed in ready:
            t, todo, tangled = {seed.process}, [seed.process], False
            while todo and not tangled:
                c = cur.get(todo.pop(), frozenset())
                if c is EVERYTHING:
                    tangled = True
                    break
                for q, f in fut.items():
                    if q not in t and (f is EVERYTHING or f & c):
                        t.add(q)
                        todo.append(q)
            if tangled:
                continue
            mine = [s for s in ready if s.process in t]
            if len(mine) == 1:
                return mine
        return ready

    def components(self, r: Runner, ready: list, fps: dict) -> dict:
        """Each process's component (a representative process): processes are linked where
        what their lines still to run may touch meets (_futures(), with each ready call's
        footprint now); a process that may touch anything is linked with every other."""
        fut = _futures(r)
        # the ports a line still to run binds: a socket at one of them conflicts with it
        binding = {tok for f in fut.values() if f is not EVERYTHING for tok in f
                   if tok[0] == "port"}
        for s in ready:
            proc = r.procs[s.process]
            vfd = proc.names.get(s.args[0]) if s.spec.params and \
                s.spec.params[0].kind == "fd" else None
            x = proc.fds.get(vfd)
            # a port a later bind() may want (inet_csk_bind_conflict()) is this socket's too
            ext = _union(fps[s.index], frozenset(
                {("port", _port(x.local)), ("port", _port(x.remote))} & binding
                if x is not None else ()))
            fut[s.process] = _union(fut[s.process], ext)
        names = list(fut)
        if any(f is EVERYTHING for f in fut.values()):
            linked = {n for n, f in fut.items() if f is EVERYTHING}
        else:
            linked = set()
        # union-find over the processes, through the tokens they share
        parent = {n: n for n in names}

        def root(n):
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        owner: dict = {}
        for n in names:
            f = fut[n]
            if f is EVERYTHING:
                continue
            for tok in f:
                o = owner.setdefault(tok, n)
                if o != n:
                    parent[root(n)] = root(o)
        if linked:  # a process that may touch anything is linked with every other
            first = next(iter(linked))
            for n in names:
                parent[root(n)] = root(first)
        return {n: root(n) for n in names}

    def tick_race(self, r: Runner, step: Step) -> list[Choice]:
        """A kernel timer due within a jiffy while a call can run.  The model's calls take no
        time; real ones do (the lab's about a millisecond each; a free-running process's a few
        microseconds, but the scheduler may hold it back for longer), and the kernel's timers
        fire on a tick whose phase nothing fixes, so the timer may come first (the peer's ACK
        of a FIN, due at the next tick, before the program's next close()).  Calls are taken
        to run late by at most a jiffy: an idle machine never showed a free-running program
        late (500 runs of the seed's C programs), a busy one did (docs/concurrency.md)."""
        kernel = r.world.kernel
        for sid, sk in sorted(kernel.socks.items()):
            for name, t in sorted(sk.timers.items()):
                key = ("tick", sid, name, round(t, 9))
                if key in r.decided or not 0 < t - kernel.now <= self.jiffy:
                    continue
                label = r.sid_label.get(sid) or f"socket {sid}"
                return [Choice("tick", (step,), first, name, sid, label)
                        for first in ("call", "timer")]  # as the model runs it first
        return []

    def arrival_race(self, r: Runner, step: Step) -> list[Choice]:
        """A segment held back by `net: delay`, due at the same instant as the one just
        delivered, while a call can run.  The model's calls take no time, so two segments sent
        by two calls leave together and arrive together; in the lab the second call ran
        microseconds later, its segment arrives that much later, and the lab's delay line lets
        each go on its own: a call the first one woke (connect() returning, then send()) may
        run in between (simultaneous-open: a's data before b's ACK)."""
        w = r.world
        nxt = w.held_due(w.t)
        if nxt is None or ("arrival", nxt[1]) in r.decided:
            return []
        seg = nxt[2]
        names = {a: info.label for info in r.trace.sockets for a in info.seen}
        text = (f"[{flags_text(seg.flags)}] {names.get(_addr(seg.src), _addr(seg.src))} > "
                f"{names.get(_addr(seg.dst), _addr(seg.dst))}")
        return [Choice("arrival", (step,), first, sid=nxt[1], segment=text)
                for first in ("segment", "call")]  # as the model runs it first

    def timer_race(self, r: Runner) -> list[Choice]:
        """A pause (sleep, poll with a timeout) ending within a jiffy of a kernel timer."""
        kernel = r.world.kernel
        for p in sorted(r.pending.values(), key=lambda p: p.step.index):
            if p.deadline is None:
                continue
            d = p.deadline - EPOCH  # on the kernel's clock
            for sid, sk in kernel.socks.items():
                for name, t in sk.timers.items():
                    key = (p.step.index, sid, name, round(t, 9))
                    if key in r.decided or abs(t - d) > self.jiffy or t == d:
                        continue
                    label = r.sid_label.get(sid) or f"socket {sid}"
                    nominal, other = ("sleep", "timer") if d < t else ("timer", "sleep")
                    return [Choice("timer", (p.step,), first, name, sid, label)
                            for first in (nominal, other)]
        return []

    def take(self, r: Runner, choice: Choice) -> None:
        if choice.kind == "call":
            r.begin(choice.steps[0])
        elif choice.kind == "together":
            w = r.world
            # its segments stay on the wire until both have run: lo does not deliver inside
            # these calls (Kernel._xmit), as each holds its socket while the other's arrive
            at_once, w.kernel.lo_fate = w.kernel.lo_fate, None
            try:
                r.begin(choice.steps[0])
                w._collect()
                mark = w._count
                r.begin(choice.steps[1])
                w._collect()
            finally:
                w.kernel.lo_fate = at_once
            if choice.first == choice.steps[1].process:  # the second call's segments land first
                w._flight = [(at, n - mark * 2 if n > mark else n, seg, held)
                             for at, n, seg, held in w._flight]
                heapq.heapify(w._flight)
                # a net: duplicate line's copies are known by their place in that order
                w._copies = {n - mark * 2 if n > mark else n for n in w._copies}
                w._chain = {n - mark * 2 if n > mark else n: c for n, c in w._chain.items()}
        elif choice.kind == "arrival":
            r.decided.add(("arrival", choice.sid))
            if choice.first == "segment":
                r.world.wait([], r.world.now())  # it is due: delivered now
        elif choice.kind == "tick":
            t = r.world.kernel.socks[choice.sid].timers[choice.timer]
            r.decided.add(("tick", choice.sid, choice.timer, round(t, 9)))
            if choice.first == "timer":
                # the clock moves to the timer, which fires (just past it: EPOCH + t loses
                # the last bits of t)
                r.world.wait([], EPOCH + t + 1e-6)
        else:  # move the end of the pause just short of, or just past, the timer
            p = r.pending[choice.steps[0].process]
            t = r.world.kernel.socks[choice.sid].timers[choice.timer]
            r.decided.add((p.step.index, choice.sid, choice.timer, round(t, 9)))
            if choice.first == "sleep" and p.deadline - EPOCH >= t:
                p.deadline = max(r.world.now(), EPOCH + t - 1e-6)
            elif choice.first == "timer" and p.deadline - EPOCH <= t:
                p.deadline = EPOCH + t + 1e-6

    def footprint(self, r: Runner, choice: Choice):
        if choice.kind in RACES:
            return self.race_footprint(r, choice)
        fp = frozenset()
        for s in choice.steps:
            fp = _union(fp, footprint(r, s))
        return fp

    def race_footprint(self, r: Runner, choice: Choice):
        """A race against the kernel's clock touches the socket whose timer it is (or the
        connection the held-back segment belongs to) and, for a pause, the paused call: a
        timer's handler (tcp_write_timer(), tcp_delack_timer(), tcp_keepalive_timer()...) and
        a segment's delivery (tcp_v4_rcv()) act on that socket and, through what they send,
        on its peer, nothing else.  Either option moves the clock by at most a jiffy, which
        every other socket sees too; but any other timer due that close has been raced at the
        same point (tick_race()/timer_race() offer each before any call), a segment in flight
        arrives within that time either way, and fingerprint() tells times apart only to a
        jiffy: so calls on other connections commute with the race, and stay asleep across
        it."""
        k = r.world.kernel
        if choice.kind == "arrival":
            entry = next((e for e in r.world._flight if e[1] == choice.sid), None)
            if entry is None:
                return EVERYTHING
            local, remote = _addr(entry[2].src), _addr(entry[2].dst)
        else:
            sk = k.socks.get(choice.sid)
            if sk is None or sk.local is None:
                return EVERYTHING
            local = endpoint(sk.local)
            remote = endpoint(sk.remote) if sk.remote is not None else None
        out = {("listen", _port(local))} | ({("listen", _port(remote))} if remote else set())
        c = _conn(local, remote)
        if c is not None:
            out.add(c)
        elif choice.kind != "arrival" and k.socks[choice.sid].state != "LISTEN":
            return EVERYTHING
        label = r.sid_label.get(choice.sid) if choice.kind != "arrival" else None
        if label:
            out.add(("sock", label))
        for proc in r.procs.values():  # the descriptors of either end
            for x in proc.fds.values():
                if x.local in (local, remote) and (
                        not x.remote or x.remote.endswith(":0") or x.remote in (local, remote)):
                    out.add(("sock", x.label))
        if choice.kind == "timer":
            return _union(frozenset(out), footprint(r, choice.steps[0]))
        return frozenset(out)

    # -- groups that can no longer meet -----------------------------------------------------
    def split(self, r: Runner, within: frozenset | None = None) -> list[frozenset] | None:
        """The processes with lines still to run (or a parked call), cut into the groups whose
        futures no longer meet (components()): None unless there are two or more (within:
        only those processes, the rest being another walk's business).  An unborn child goes
        with the process whose fork() makes it: it cannot run before that line."""
        sched = r.sched
        busy = set(sched.parked)
        for st in r.program.steps:
            if not sched.started[st.index]:
                busy.add(st.process)
        if within is not None:
            busy &= within
        if len(busy) < 2:
            return None
        ready = sched.runnable()
        fps = {s.index: footprint(r, s) for s in ready}
        if any(f is EVERYTHING for f in fps.values()):
            return None
        roots = self.components(r, ready, fps)
        if len(set(roots.values())) < 2:
            return None
        parent = dict(roots)
        for child, at in sched.forks.items():
            if not sched.started[at]:
                forker = r.program.steps[at].process
                a, b = parent[child], parent[forker]
                for n, v in parent.items():
                    if v == a:
                        parent[n] = b
        groups: dict = {}
        for n in sorted(busy, key=lambda n: r.procs[n].rank):
            groups.setdefault(parent[n], set()).add(n)
        if len(groups) < 2:
            return None
        return [frozenset(g) for g in groups.values()]

    def owners(self, r: Runner, o: Choice) -> set:
        """The processes an option belongs to: a call's (or a pause's) process; for a race
        with the clock, the processes holding a descriptor of the timer's (or the held-back
        segment's) connection, none when nobody does (its outcome is the clock's alone)."""
        if o.kind in ("call", "together", "timer"):
            return {s.process for s in o.steps}
        fp = self.race_footprint(r, o)
        if fp is EVERYTHING:
            return set(r.procs)
        labels = {tok[1] for tok in fp if tok[0] == "sock"}
        return {name for name, proc in r.procs.items()
                if any(x.label in labels for x in proc.fds.values())}

    @staticmethod
    def match_key(o: Choice) -> tuple:
        """An option as a replay meets it again: a race by its timer's socket or its segment
        (socket ids, segment numbers and the call it is raced against depend on the other
        groups' order)."""
        if o.kind == "tick":
            return ("tick", o.first, o.timer, o.socket)
        if o.kind == "arrival":
            return ("arrival", o.first, o.segment)
        return o.key

    def group_map(self, r: Runner, groups: list) -> tuple:
        """Which group each part of a signature belongs to: processes (calls, hangs); socket
        labels (last states: the group holding a descriptor of it, or of its peer); the
        connections' keys (process pairs, as signature() names them) through the connections
        alive now.  Anything else belongs to no group and must stay the same in every walk."""
        proc_g = {p: i for i, g in enumerate(groups) for p in g}
        label_g: dict = {}
        for name, proc in r.procs.items():
            gi = proc_g.get(name)
            if gi is None:
                continue
            for x in proc.fds.values():
                if label_g.setdefault(x.label, gi) != gi:
                    label_g[x.label] = -1
        k = r.world.kernel
        by_local = {sk.local: sid for sid, sk in k.socks.items()
                    if sk.local is not None and sk.remote is not None}
        owner = r.trace.owner()
        key_g: dict = {}
        for sid, sk in k.socks.items():
            if sk.local is None or sk.remote is None:
                continue
            label = r.sid_label.get(sid)
            peer = r.sid_label.get(by_local.get(sk.remote))
            gi = label_g.get(label) if label is not None else None
            if gi is None and peer is not None:
                gi = label_g.get(peer)
            if gi is None:
                continue
            if label is not None and label not in label_g:
                label_g[label] = gi
            a, b = endpoint(sk.local), endpoint(sk.remote)
            key = tuple(sorted((owner(a) or a, owner(b) or b)))
            if key_g.setdefault(key, gi) != gi:
                key_g[key] = -1
        return proc_g, label_g, key_g

    @staticmethod
    def project(elems: frozenset, maps: tuple, steps: list) -> dict:
        """A signature's elements by group (None: no group's; -1: more than one's)."""
        proc_g, label_g, key_g = maps
        out: dict = {}
        for e in elems:
            if e[0] == "conn":
                gi = key_g.get(e[1])
                if gi is None:
                    a, b = proc_g.get(e[1][0]), proc_g.get(e[1][1])
                    gi = a if b is None or b == a else b if a is None else -1
            elif e[0] == "call":
                gi = proc_g.get(steps[e[1][0]].process)
            elif e[0] == "state":
                gi = label_g.get(e[1])
            else:
                gi = proc_g.get(e[1][0])
            out.setdefault(gi, set()).add(e)
        return {gi: frozenset(v) for gi, v in out.items()}

    def combine(self, r: Runner, groups: list, result: Exploration) -> list | None:
        """Every outcome from here, when the groups can no longer meet: each group's choices
        walked on their own (focus(): the other groups run the model's own order meanwhile),
        and the outcome's parts combined (a signature is a union of per-connection, per-call,
        per-socket and per-process parts, each of one group; what is no group's comes from
        one run in the model's own order).  [(elements, witness)], or None when the parts do
        not come apart cleanly (a part of two groups'): then the caller walks on as before.
        Sound as the persistent sets are: groups whose futures never meet commute; and
        grouped() replays every outcome it keeps, and checks it."""
        maps = self.group_map(r, groups)
        steps = self.program.steps
        first = self.snapshot(r)
        result.snapshots += 1
        try:
            while opts := self.options(first):
                self.take(first, opts[0])
            trace, hangs = first.finish(), ()
        except Stuck as stuck:
            trace, hangs = stuck.trace, waiting(stuck.trace)
        result.schedules += 1
        by = self.project(_elements(signature(trace, hangs)), maps, steps)
        if -1 in by:
            return None
        rest = by.get(None, frozenset())
        parts = []
        for i, g in enumerate(groups):
            mine = self.focus(self.snapshot(r), g, i, maps, result)
            result.snapshots += 1
            if mine is None:
                return None
            parts.append(mine)
        return [(rest.union(*(p for p, _ in combo)), ((), tuple(w for _, w in combo)))
                for combo in itertools.product(*parts)]

    def local(self, r: Runner, group: frozenset) -> tuple:
        """The group's processes, sockets (its descriptors', their peers', the connections
        waiting at its listeners) and their endpoints: fingerprint(only=...)."""
        k = r.world.kernel
        labels = {x.label for name in group for x in r.procs[name].fds.values()}
        sids = {sid for sid, label in r.sid_label.items() if label in labels and sid in k.socks}
        eps = {sk.local for sid, sk in k.socks.items() if sid in sids and sk.local}
        for sid, sk in k.socks.items():
            if sid not in sids and (sk.remote in eps or sk.parent in sids):
                sids.add(sid)
        return (group, frozenset(sids), frozenset(
            endpoint(k.socks[sid].local) for sid in sids if k.socks[sid].local is not None))

    def focus(self, r: Runner, group: frozenset, gi: int, maps: tuple,
              result: Exploration) -> list | None:
        """The group's parts of the outcomes from here, walking only its options: where
        another process's option is offered, the first such runs at once (the model's own
        order for the other groups).  [(part, witness)], the witness being (the group's
        options taken, (the witnesses of the groups it split into later,...)): what a replay
        follows; None when a part belongs to two groups.  Remembered for the group's own part
        of the state (fingerprint(only=...)) and of the exchange so far, across every walk of
        the exploration: the other groups cannot change what the group does from there."""
        steps = self.program.steps
        mine = frozenset((g, x) for g, m in zip(("label", "key"), maps[1:]) for x, v in m.items()
                         if v == gi)

        def part(elems):
            by = self.project(elems, maps, steps)
            return None if -1 in by else by.get(gi, frozenset())

        while True:
            self.check(result)
            try:
                opts = self.options(r)
            except Stuck as stuck:
                result.schedules += 1
                p = part(_elements(signature(stuck.trace, waiting(stuck.trace))))
                return None if p is None else [(p, ((), ()))]
            if not opts:
                result.schedules += 1
                p = part(_elements(signature(r.finish(), ())))
                return None if p is None else [(p, ((), ()))]
            other = [o for o in opts if not self.owners(r, o) & group]
            if not other:
                break
            self.take(r, other[0])
        result.choice_points += 1
        so_far = part(_elements(self.so_far(r)))
        if so_far is None:
            return None
        here = (fingerprint(r, self.local(r, group)), so_far, group, mine)
        known = self.memo.get(here)
        if known is not None:
            result.merged += 1
            return known
        inner = self.split(r, group)
        if inner is not None:
            sub = self.combine(r, inner, result)
            if sub is not None:
                out: dict = {}
                for elems, w in sub:
                    p = part(elems)
                    if p is None:
                        return None
                    out.setdefault(p, ((), (w,)))
                self.memo[here] = list(out.items())
                return self.memo[here]
        leaves: dict = {}
        for i, o in enumerate(opts):
            if i + 1 < len(opts):
                child = self.snapshot(r)
                result.snapshots += 1
            else:
                child = r
            self.take(child, o)
            key = self.match_key(o)
            got = self.focus(child, group, gi, maps, result)
            if got is None:
                return None
            for p, (keys, subs) in got:
                if p not in leaves:
                    leaves[p] = ((key,) + keys, subs)
        self.memo[here] = list(leaves.items())
        return self.memo[here]

    def replay(self, r: Runner, witness: tuple) -> tuple:
        """One run from here following a combined witness: at each choice point the option
        that is next for one of the groups, else the model's own (the first).  (trace, hangs,
        path from here)."""
        pos: dict = {}

        def heads(w, out):
            keys, subs = w
            i = pos.get(id(w), 0)
            if i < len(keys):
                out[keys[i]] = w
            else:
                for s in subs:
                    heads(s, out)
            return out

        path = []
        while True:
            try:
                opts = self.options(r)
            except Stuck as stuck:
                return stuck.trace, waiting(stuck.trace), path
            if not opts:
                return r.finish(), (), path
            nxt = heads(witness, {})
            o = next((o for o in opts if self.match_key(o) in nxt), opts[0])
            w = nxt.get(self.match_key(o))
            if w is not None:
                pos[id(w)] = pos.get(id(w), 0) + 1
            path.append((o, tuple(opts)))
            self.take(r, o)

    def check(self, result: Exploration) -> None:
        """Out of schedules or time (or enough outcomes): the walk stops (_Stop)."""
        if self.progress is not None and time.perf_counter() - self.told >= PROGRESS_EVERY:
            self.told = time.perf_counter()
            self.progress(result.schedules, len(result.outcomes))
        if result.schedules >= self.limit or (
                self.enough is not None and len(result.outcomes) >= self.enough) or (
                self.deadline is not None and time.perf_counter() >= self.deadline):
            raise _Stop

    def grouped(self, r: Runner, path: list, result: Exploration, by_sig: dict) -> bool:
        """Every outcome from here by combining the groups' parts (combine()), each new one
        replayed for its trace and checked: False when that cannot be done (nothing is lost:
        the caller walks on from here as before)."""
        groups = self.split(r)
        if groups is None:
            return False
        combos = self.combine(self.snapshot(r), groups, result)
        result.snapshots += 1
        if combos is None:
            return False
        for elems, witness in combos:
            sig = _assemble(elems)
            if sig in by_sig:
                by_sig[sig].runs += 1
                continue
            self.check(result)
            child = self.snapshot(r)
            result.snapshots += 1
            trace, hangs, tail = self.replay(child, witness)
            self.record(result, by_sig, child, trace, path + tail, hangs)
            if sig not in by_sig:
                result.unmatched += 1
                return False  # a real outcome all the same; the walk goes on from here
        return True

    def run(self) -> Exploration:
        start = time.perf_counter()
        result = Exploration(self.program.name, interleavings=interleavings(self.program),
                             steps=list(self.program.steps))
        by_sig: dict[tuple, Outcome] = {}
        visited: dict[tuple, frozenset] = {}  # state -> the sleep set it was explored with
        # ("run", runner, sleep set {key: footprint}, path so far), or a choice point still
        # to take options from: ("node", runner as it was there, [(option, its sleep set)],
        # the next one's index, all options, path so far).  A copy is made when an option is
        # taken, not before: the last option takes the runner itself.
        stack: list[tuple] = [("run", self.new_runner(), {}, [])]
        told = start
        while stack:
            if self.progress is not None and time.perf_counter() - told >= PROGRESS_EVERY:
                told = time.perf_counter()
                self.progress(result.schedules, len(result.outcomes))
            if result.schedules >= self.limit or (
                    self.enough is not None and len(result.outcomes) >= self.enough) or (
                    self.deadline is not None and time.perf_counter() >= self.deadline):
                result.complete = False
                break
            entry = stack.pop()
            if entry[0] == "node":
                _, base, children, i, opts, path = entry
                o, child_sleep = children[i]
                if i + 1 < len(children):
                    child = self.snapshot(base)
                    result.snapshots += 1
                    stack.append(("node", base, children, i + 1, opts, path))
                else:
                    child = base
                self.take(child, o)
                stack.append(("run", child, child_sleep, path + [(o, opts)]))
                continue
            _, r, sleep, path = entry
            opts = self.next_choice(r, result, by_sig, path, sleep if self.por else None)
            if opts is None:
                result.pruned += 1
                continue
            if not opts:
                continue
            result.choice_points += 1
            if self.por:
                here = (fingerprint(r), self.so_far(r))
                seen = visited.get(here)
                asleep = frozenset(sleep)
                if seen is not None and seen <= asleep:
                    result.merged += 1  # explored from here already, with no more asleep
                    continue
                visited[here] = asleep if seen is None else seen & asleep
                if seen is None and self.por is True and self.groups:
                    try:
                        done_here = self.grouped(r, path, result, by_sig)
                    except _Stop:
                        result.complete = False
                        break
                    if done_here:
                        result.grouped += 1
                        visited[here] = frozenset()  # every option explored from here
                        continue
            fps = {o.key: self.footprint(r, o) for o in opts}
            awake = [o for o in opts if o.key not in sleep]
            if self.por and seen is not None:
                # explored from here already: only what was asleep then and is awake now
                # remains (Godefroid 1996, sleep sets with state caching, section 6.3)
                result.merged += 1
                awake = [o for o in awake if o.key in seen]
            result.pruned += len(opts) - len(awake)
            if not awake:
                continue  # every option is covered by a sibling branch
            children = []
            done: dict = dict(sleep)
            for i, o in enumerate(awake):
                child_sleep = ({k: fp for k, fp in done.items() if independent(fp, fps[o.key])}
                               if self.por else {})
                children.append((o, child_sleep))
                if o.kind not in RACES:
                    done[o.key] = fps[o.key]
            stack.append(("node", r, children, 0, tuple(opts), path))
        result.seconds = time.perf_counter() - start
        return result

    def next_choice(self, r: Runner, result: Exploration, by_sig: dict,
                    path: list, sleep: dict | None = None) -> list[Choice] | None:
        """The options at the run's next choice point; [] once the run has ended (finished,
        or hanging: accept() after ECONNREFUSED), its outcome recorded; None when a sibling
        branch covers this one (options())."""
        try:
            opts = self.options(r, sleep)
        except Stuck as stuck:  # an outcome too: the program hangs
            self.record(result, by_sig, r, stuck.trace, path, waiting(stuck.trace))
            return []
        if opts == []:  # (None: pruned, not an end: the run stopped half way)
            self.record(result, by_sig, r, r.finish(), path, ())
        return opts

    def record(self, result: Exploration, by_sig: dict, r: Runner, trace: Trace, path: list,
               hangs: tuple) -> None:
        model_notes(trace, self.program, self.profile, self.seed, r.world)
        result.schedules += 1
        sig = signature(trace, hangs)
        outcome = by_sig.get(sig)
        if outcome is None:
            outcome = by_sig[sig] = Outcome(sig, trace, path)
            for j, other in enumerate(result.outcomes):
                parted = _parting(path, other.path)
                if parted is not None:
                    outcome.versus[j] = parted
                    other.versus[len(result.outcomes)] = (parted[1], parted[0])
            result.outcomes.append(outcome)
        outcome.runs += 1


def _parting(a: list, b: list) -> tuple[Choice, Choice] | None:
    """Where two paths take different options at the same choice point."""
    for (ca, opts_a), (cb, opts_b) in zip(a, b):
        if ca.key != cb.key:
            return (ca, cb) if opts_a == opts_b else None
    return None


PROGRESS_EVERY = 0.25  # seconds between two progress reports of a walk


def explore(program: Program, profile: KernelProfile, seed: int = 0, limit: int = 100_000,
            timeout: float = 10.0, tail: float = 0.1, por: bool = True,
            enough: int | None = None, ticks: bool = True, progress=None,
            deadline: float | None = None, groups: bool = False) -> Exploration:
    """Every distinct exchange of the program.  limit: stop after that many schedules;
    enough: stop once that many outcomes are known (`run` only asks whether there are two);
    por=False turns the sleep sets and the visited set off (the benchmark's "before");
    ticks=False: calls that never run late, so no races with the kernel's clock (tick_race,
    arrival_race): the exchanges a program would have if its calls took no time at all.
    progress: called with (schedules walked, exchanges found) every PROGRESS_EVERY seconds.
    deadline: a time.perf_counter() past which the walk stops, incomplete.
    groups: where the processes split into groups that can no longer meet, walk each
    group's choices on its own and combine the outcomes' parts (_Explorer.grouped()); off by
    default: it does not pay yet (docs/concurrency.md "Not done yet")."""
    ex = _Explorer(program, profile, seed, timeout, limit, tail, por, enough, ticks, progress)
    ex.deadline, ex.groups = deadline, groups
    return ex.run()


def sample(program: Program, profile: KernelProfile, runs: int, seed: int = 0,
           timeout: float = 10.0, ticks: bool = True,
           deadline: float | None = None) -> Exploration:
    """`runs` schedules drawn at random (a choice at each point, uniformly): no reduction,
    no guarantee, but a quick way to meet the outcomes of a program too large to walk."""
    import random

    ex = _Explorer(program, profile, seed, timeout, runs, 0.1, False, ticks=ticks)
    ex.deadline = deadline
    rng = random.Random(seed)
    result = Exploration(program.name, interleavings=interleavings(program), complete=False)
    by_sig: dict[tuple, Outcome] = {}
    start = time.perf_counter()
    for _ in range(runs):
        r, path = ex.new_runner(), []
        while opts := ex.next_choice(r, result, by_sig, path):
            if deadline is not None and time.perf_counter() >= deadline:
                result.seconds = time.perf_counter() - start
                return result  # out of time: this schedule is not counted
            o = rng.choice(opts)
            path.append((o, tuple(opts)))
            ex.take(r, o)
    result.seconds = time.perf_counter() - start
    return result


def races(program: Program, profile: KernelProfile, seed: int = 0, ticks: bool = True,
          budget: float | None = None) -> bool | None:
    """Whether the program has more than one exchange: a short walk first (with the
    persistent sets, a program whose processes never touch each other's sockets is one
    schedule plus its races with the clock, and the walk backs up from the end, where most
    racing programs differ: the teardown), then a few random schedules (they meet a second
    exchange of most other racing programs at once), then the whole walk.  budget: seconds
    it may take; None when that ran out before the answer (a walk of a program of hundreds
    of processes costs far more than its one run: each choice copies the whole run)."""
    deadline = None if budget is None else time.perf_counter() + budget

    def late() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    short = explore(program, profile, seed, enough=2, ticks=ticks, limit=SHORT_WALK,
                    deadline=deadline)
    if len(short.outcomes) > 1 or short.complete:
        return len(short.outcomes) > 1
    if late():
        return None
    if len(sample(program, profile, 12, seed, ticks=ticks, deadline=deadline).outcomes) > 1:
        return True
    if late():
        return None
    full = explore(program, profile, seed, enough=2, ticks=ticks, deadline=deadline)
    if len(full.outcomes) > 1:
        return True
    return None if late() and not full.complete else False


SHORT_WALK = 16  # schedules races() walks before it samples
