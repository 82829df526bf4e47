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
import operator
import time
from dataclasses import dataclass, field
from math import comb

from ..model import KernelProfile
from ..model.kernel import SOCK_CONTAINERS, Sock
from ..scenario import Program, Step
from ..trace import Trace
from ..trace.segment import flags_text
from .runner import Runner, Stuck
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
    connections are not ordered against each other: that order is not part of the exchange."""
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
        return EVERYTHING
    fd_name = step.args[0] if step.spec.params and step.spec.params[0].kind == "fd" else None
    vfd = proc.names.get(fd_name) if fd_name is not None else None
    if vfd in proc.epolls:
        return _epoll_footprint(runner, proc, step, proc.epolls[vfd])
    s = proc.fds.get(vfd) if vfd is not None else None
    if s is None:
        return frozenset() if fd_name is not None else EVERYTHING  # EBADF touches nothing
    out = {("sock", s.label)}
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
    if s.seen_state == "LISTEN" and step.call in ("close", "shutdown"):
        return EVERYTHING  # resets every child still in the accept queue
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
# random or bookkeeping values that only change absolute numbers, never what happens next
# (rcvq_tail_capture is a count of the capture's reads: only whether it is the current one
# matters, fingerprint() keeps that)
_SKIP = frozenset({"id", "iss", "irs", "ts_offset", "ts_recent", "ip_id", "timer_order",
                   "local", "remote", "accept_queue", "parent", "timers",
                   "rcvq_tail_capture"} | set(_SND_SEQ)
                  | set(_RCV_SEQ) | set(_TIMES))
_KEPT = tuple(f for f in Sock.__slots__ if f not in _SKIP)
_KEPT_CONTAINERS = tuple(i for i, f in enumerate(_KEPT) if f in SOCK_CONTAINERS)
_kept = operator.attrgetter(*_KEPT)
_snd_seq, _rcv_seq, _times = (operator.attrgetter(*fs) for fs in (_SND_SEQ, _RCV_SEQ, _TIMES))


def _frozen(v):
    """A container field as a value that compares and hashes."""
    return (tuple(sorted(v.items())) if isinstance(v, dict) else
            bytes(v) if isinstance(v, bytearray) else tuple(v))


def fingerprint(r: Runner) -> tuple:
    """The state of a run up to what cannot change the rest of it: ISNs, ports and the clock
    are made relative (they differ between two orders of the same calls), sockets are named
    by the program's labels.  Two runs with equal fingerprints and equal exchanges so far
    (signature) have the same futures."""
    k = r.world.kernel
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
                      tuple(sorted((n, ago(t)) for n, t in sk.timers.items())), *kept,
                      sk.rcvq_tail_capture == k.capture_reads))
    # the timer races already decided on this path, for timers still due as decided: a branch
    # that decided one is not in the state its parent was in, though nothing else moved
    # (and the arrival races, for segments still in flight)
    in_flight = {n: i for i, (_, n, _, _) in enumerate(sorted(r.world._flight))}
    decided = tuple(sorted(((str(key[0]), sock_name(key[1]), key[2]) for key in r.decided
                            if key[0] != "arrival" and key[1] in k.socks
                            and key[2] in k.socks[key[1]].timers
                            and round(k.socks[key[1]].timers[key[2]], 9) == key[3]), key=repr)
                     + sorted(("arrival", in_flight[key[1]]) for key in r.decided
                              if key[0] == "arrival" and key[1] in in_flight))
    flight = tuple((ago(at), seg.flags, len(seg.payload), held)
                   for at, _, seg, held in sorted(r.world._flight))
    pending = tuple(sorted((name, p.step.index, p.attempt, p.sent,
                            None if p.deadline is None else ago(p.deadline - EPOCH))
                           for name, p in r.pending.items()))
    fds = tuple(sorted((proc.name, tuple(sorted((n, proc.fds[v].label if v in proc.fds else
                                                 proc.epolls[v].label if v in proc.epolls else None)
                                                for n, v in proc.names.items())))
                       for proc in r.procs.values()))
    # each epoll's items (socket, events) and its ready list, in order (model/eventpoll.py):
    # what later epoll_wait() calls report
    epolls = tuple(sorted(((e.label, tuple(sorted((sock_name(sid), it.events) for sid, it in
                                                  k.epolls[e.sock.eid].items.items())),
                            tuple(sock_name(sid) for sid in k.epolls[e.sock.eid].ready))
                           for proc in r.procs.values() for e in proc.epolls.values()), key=repr))
    # ordered by name and addresses: the order socket ids were handed out is not state
    return (tuple(sorted(socks, key=lambda f: repr(f[:3]))), flight, pending, fds, tuple(r.sched.started),
            tuple(sorted(r.last_state.items())), tuple(sorted(r.world.wire._matched.items())),
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
        return copy.deepcopy(runner, memo)

    def options(self, r: Runner) -> list[Choice]:
        """Run until the next real choice; [] when the program has finished."""
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
                out = [Choice("call", (s,)) for s in ready]
                fps = {s.index: footprint(r, s) for s in ready}
                for a in ready:
                    for b in ready:
                        if a is not b and a.call in SENDING_CALLS and _same_connection(
                                fps[a.index], fps[b.index]):
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
            return EVERYTHING
        fp = frozenset()
        for s in choice.steps:
            fp = _union(fp, footprint(r, s))
        return fp

    def run(self) -> Exploration:
        start = time.perf_counter()
        result = Exploration(self.program.name, interleavings=interleavings(self.program),
                             steps=list(self.program.steps))
        by_sig: dict[tuple, Outcome] = {}
        visited: dict[tuple, frozenset] = {}  # state -> the sleep set it was explored with
        # (runner, sleep set {key: footprint}, path so far)
        stack: list[tuple[Runner, dict, list]] = [(self.new_runner(), {}, [])]
        told = start
        while stack:
            if self.progress is not None and time.perf_counter() - told >= PROGRESS_EVERY:
                told = time.perf_counter()
                self.progress(result.schedules, len(result.outcomes))
            if result.schedules >= self.limit or (
                    self.enough is not None and len(result.outcomes) >= self.enough):
                result.complete = False
                break
            r, sleep, path = stack.pop()
            opts = self.next_choice(r, result, by_sig, path)
            if not opts:
                continue
            result.choice_points += 1
            if self.por:
                here = (fingerprint(r), signature(r.trace))
                seen = visited.get(here)
                asleep = frozenset(sleep)
                if seen is not None and seen <= asleep:
                    result.merged += 1  # explored from here already, with no more asleep
                    continue
                visited[here] = asleep if seen is None else seen & asleep
            fps = {o.key: self.footprint(r, o) for o in opts}
            awake = [o for o in opts if o.key not in sleep]
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
            for i, (o, child_sleep) in reversed(list(enumerate(children))):
                child = r if i == 0 else self.snapshot(r)
                if i:
                    result.snapshots += 1
                self.take(child, o)
                stack.append((child, child_sleep, path + [(o, tuple(opts))]))
        result.seconds = time.perf_counter() - start
        return result

    def next_choice(self, r: Runner, result: Exploration, by_sig: dict,
                    path: list) -> list[Choice]:
        """The options at the run's next choice point; [] once the run has ended (finished,
        or hanging: accept() after ECONNREFUSED), its outcome recorded."""
        try:
            opts = self.options(r)
        except Stuck as stuck:  # an outcome too: the program hangs
            self.record(result, by_sig, r, stuck.trace, path, waiting(stuck.trace))
            return []
        if not opts:
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
            enough: int | None = None, ticks: bool = True, progress=None) -> Exploration:
    """Every distinct exchange of the program.  limit: stop after that many schedules;
    enough: stop once that many outcomes are known (`run` only asks whether there are two);
    por=False turns the sleep sets and the visited set off (the benchmark's "before");
    ticks=False: calls that never run late, so no races with the kernel's clock (tick_race,
    arrival_race): the exchanges a program would have if its calls took no time at all.
    progress: called with (schedules walked, exchanges found) every PROGRESS_EVERY seconds."""
    return _Explorer(program, profile, seed, timeout, limit, tail, por, enough, ticks,
                     progress).run()


def sample(program: Program, profile: KernelProfile, runs: int, seed: int = 0,
           timeout: float = 10.0, ticks: bool = True) -> Exploration:
    """`runs` schedules drawn at random (a choice at each point, uniformly): no reduction,
    no guarantee, but a quick way to meet the outcomes of a program too large to walk."""
    import random

    ex = _Explorer(program, profile, seed, timeout, runs, 0.1, False, ticks=ticks)
    rng = random.Random(seed)
    result = Exploration(program.name, interleavings=interleavings(program), complete=False)
    by_sig: dict[tuple, Outcome] = {}
    start = time.perf_counter()
    for _ in range(runs):
        r, path = ex.new_runner(), []
        while opts := ex.next_choice(r, result, by_sig, path):
            o = rng.choice(opts)
            path.append((o, tuple(opts)))
            ex.take(r, o)
    result.seconds = time.perf_counter() - start
    return result


def races(program: Program, profile: KernelProfile, seed: int = 0, ticks: bool = True) -> bool:
    """Whether the program has more than one exchange: a few random schedules first (they
    meet a second exchange of most racing programs at once), then the whole walk."""
    if len(sample(program, profile, 12, seed, ticks=ticks).outcomes) > 1:
        return True
    return len(explore(program, profile, seed, enough=2, ticks=ticks).outcomes) > 1
