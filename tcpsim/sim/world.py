"""The simulated world: one modelled kernel on loopback, a virtual clock, an event queue.

It offers the runner (runner.py) the same interface as the real kernel does (lab/executor.py),
with sockets that behave as Python's non-blocking sockets do, so one runner drives both.
Everything is deterministic for a given seed: ISNs, TS offsets, ephemeral ports.
"""

from __future__ import annotations

import dataclasses
import errno as E
import heapq
import struct

from ..i18n import t
from ..model import Kernel, KernelProfile, Seg
from ..model.kernel import POLLERR, POLLHUP, UNJUDGED, _oserror
from ..model.sock import FIN, PSH
from ..scenario import Program
from ..trace import Segment, Trace
from ..trace.segment import flags_text
from .runner import Runner

EPOCH = 1_700_000_000.0  # virtual t = 0, as a wall-clock time for pcap files
LOOPBACK_LATENCY = 10e-6  # seconds from transmit to receive on lo (measured: 10-20 us)


def _addr(t) -> str:
    text = _ADDR.get(t)
    if text is None:  # once per address (every segment and state change names two)
        text = _ADDR[t] = f"[{t[0]}]:{t[1]}" if ":" in t[0] else f"{t[0]}:{t[1]}"
    return text


_ADDR: dict[tuple, str] = {}


def _options(opts: list) -> list:
    return [[n, list(v) if isinstance(v, list) else v] for n, v in opts]


class ModelSocket:
    """A socket of the model with the Python socket API (always non-blocking)."""

    def __init__(self, world: "SimWorld", sid: int, family: int):
        self.world, self.sid, self.family = world, sid, family

    @property
    def _k(self) -> Kernel:
        return self.world.kernel

    def fileno(self) -> int:
        return self.sid

    def setblocking(self, flag: bool) -> None:
        pass

    def bind(self, sockaddr) -> None:
        self._k.bind(self.sid, (sockaddr[0], sockaddr[1]), 10 if len(sockaddr) == 4 else 2)

    def listen(self, backlog: int) -> None:
        self._k.listen(self.sid, backlog)

    def accept(self):
        child = self._k.accept(self.sid)
        sk = self._k.sock(child)
        return ModelSocket(self.world, child, self.family), sk.remote

    def connect_ex(self, sockaddr) -> int:
        return self._k.connect(self.sid, (sockaddr[0], sockaddr[1]),
                               family=10 if len(sockaddr) == 4 else 2)

    def send(self, data: bytes, flags: int = 0) -> int:
        return self._k.send(self.sid, data, flags)  # a view: the model copies what it takes

    def recv(self, n: int, flags: int = 0) -> bytes:
        return self._k.recv(self.sid, n, flags)

    def shutdown(self, how: int) -> None:
        self._k.shutdown(self.sid, how)

    def dup(self) -> "ModelSocket":
        self._k.dup(self.sid)
        return ModelSocket(self.world, self.sid, self.family)

    def close(self) -> None:
        if self.sid in self._k.socks and not self._k.sock(self.sid).orphan:
            self._k.close(self.sid)

    def setsockopt(self, level: int, opt: int, value) -> None:
        self._k.setsockopt(self.sid, level, opt, value)

    def getsockopt(self, level: int, opt: int, buflen: int | None = None):
        v = self._k.getsockopt(self.sid, level, opt)
        if buflen is not None:
            return struct.pack("ii", *v) if isinstance(v, tuple) else struct.pack("i", v)
        return v

    def getsockname(self):
        sk = self._k.sock(self.sid)
        if sk.local:
            return sk.local
        return ("0.0.0.0", 0) if self.family == 2 else ("::", 0, 0, 0)

    def getpeername(self):
        sk = self._k.sock(self.sid)
        if not sk.remote or sk.state in ("CLOSE", "SYN_SENT", "LISTEN"):  # inet_getname()
            raise _oserror(E.ENOTCONN)
        return sk.remote


def _cut(seg: Seg) -> list[Seg]:
    """The segments of a GSO packet as skb_gso_segment() makes them (tcp_gso_segment(): PSH
    and FIN on the last only; inet_gso_segment(): IP ids in a row), or [seg]."""
    if not seg.gso or len(seg.payload) <= seg.gso:
        return [seg]
    out = []
    for i, off in enumerate(range(0, len(seg.payload), seg.gso)):
        last = off + seg.gso >= len(seg.payload)
        out.append(dataclasses.replace(
            seg, seq=(seg.seq + off) % (1 << 32), payload=seg.payload[off:off + seg.gso],
            flags=seg.flags if last else seg.flags & ~(PSH | FIN),
            ip_id=(seg.ip_id + i) & 0xFFFF, gso=0))
    return out


class Dup:
    """A Wire fate: deliver the segment (after the call, as the lab's queue does) and a copy
    of it `after` seconds later (0: at once, right after what the original set off)."""

    __slots__ = ("after",)

    def __init__(self, after: float):
        self.after = after


class ModelEpoll:
    """An epoll instance of the model (model/eventpoll.py), as the runner uses one: ctl(),
    wait() -> [(socket, events)], close(), and ready() for the world's wait."""

    def __init__(self, world: "SimWorld"):
        self.world = world
        self.eid = world.kernel.epoll_create()
        self.socks: dict[int, ModelSocket] = {}

    def ctl(self, op: int, sock: ModelSocket, events: int) -> None:
        self.world.kernel.epoll_ctl(self.eid, op, sock.sid, events, sock.sid)
        self.socks[sock.sid] = sock

    def wait(self, maxevents: int) -> list:
        return [(self.socks.get(sid), events)
                for events, sid in self.world.kernel.epoll_wait(self.eid, maxevents)]

    def ready(self) -> bool:
        return self.world.kernel.epoll_poll(self.eid)

    def close(self) -> None:
        self.world.kernel.epoll_close(self.eid)


class ModelLinger:
    """A close() of a socket with SO_LINGER {1, N} in the model (the lab's counterpart is
    lab/executor.py LingeringClose): the model's close() has made its state change and sent its
    FIN at once; the call waits as sk_stream_wait_close() does, while the socket is in
    FIN_WAIT1, CLOSING or LAST_ACK (sk_stream_closing()), at most the linger time."""

    def __init__(self, world: "SimWorld", sid: int):
        self.world, self.sid = world, sid

    def waiting(self) -> bool:
        sk = self.world.kernel.socks.get(self.sid)
        return sk is not None and sk.state in ("FIN_WAIT1", "CLOSING", "LAST_ACK")

    def deadline(self, seconds: float) -> float:
        """sk_wait_event() -> wait_woken() -> schedule_timeout(N * HZ): a timer on the wheel."""
        k = self.world.kernel
        return EPOCH + k._wheel_deadline(int(seconds * self.world.profile.hz))

    def close(self) -> None:
        pass


class Wire:
    """What the program's `net:` lines do to each segment, in the order they are sent."""

    def __init__(self, faults):
        self.faults = list(faults)
        self.dropped = {f.line: 0 for f in self.faults}  # net line -> segments it took
        self._matched = {f.line: 0 for f in self.faults}  # net line -> segments it matched
        # `seq S` counts from each direction's ISN, learnt from its SYN as the lab learns it
        self._isn: dict[tuple, int] = {}

    def fate(self, flags: str, length: int, sport: int, dport: int, seq: int | None = None,
             key: tuple | None = None) -> float | Dup | None:
        """None to deliver the segment as usual, 0 to lose it, the seconds to hold it, or a
        Dup.  key: (src, dst) of the segment, with seq its absolute sequence number."""
        if not self.faults:
            return None  # no net: lines (the ISNs below serve only their `seq S`)
        if "S" in flags and key is not None:
            self._isn[key] = seq
        rel = None
        if key in self._isn and seq is not None:
            rel = (seq - self._isn[key]) % (1 << 32)
        for f in self.faults:  # like nft: each rule counts the segments that reach it
            if f.matches(flags, length, sport, dport, rel):
                index = self._matched[f.line]
                self._matched[f.line] += 1
                if f.takes(index):
                    self.dropped[f.line] += 1
                    if f.action == "duplicate":
                        return Dup(f.delay)
                    return 0.0 if f.action == "drop" else f.delay
        return None


class SimWorld:
    """One kernel on loopback in virtual time."""

    def __init__(self, profile: KernelProfile, seed: int = 0, faults=(), sysctls=()):
        if sysctls:  # the program's `sysctl:` lines, as the lab sets them in its namespace
            profile = profile.with_sysctls(dict(sysctls))
        self.profile = profile
        self.faults = list(faults)
        self.wire = Wire(self.faults)
        self.dropped = self.wire.dropped
        self.kernel = Kernel(profile, seed)
        self.kernel.lo_fate = self._fate  # lo delivers at once inside send() and recv()
        self.kernel.lo_latency = LOOPBACK_LATENCY
        self.t = 0.0
        self._flight: list[tuple[float, int, Seg, bool]] = []  # (arrival, order, seg, held)
        self._prompt = 0  # segments in flight that are not held back
        self._copies: set[int] = set()  # orders in _flight of net: duplicate copies
        # order in _flight -> what the lab's queue lets go in turn after it: a duplicate's
        # copy, the next segment of a GSO packet it holds
        self._chain: dict[int, list[tuple[Seg, bool]]] = {}
        # net: duplicate lines' segments in the lab's queue (DelayQueue), in the order they
        # were sent: (sent, order, pieces, after); _take() lets each go with its copy
        self._nfq: list[tuple[float, int, list[Seg], float]] = []
        self._count = 0
        self._captured: list = []
        # held segments due at the same instant arrive one at a time (explore's "arrival"
        # race): on the lab's delay line they are microseconds apart, in the order they were
        # sent, and a call the first one wakes may run before the next arrives
        self.one_at_a_time = False
        self._early = None  # (time, segments) of the last wait a ready socket ended at once
        # a packetdrill export's world (pkt/export.py): the peer is a script writing each
        # packet into tun on its own (tun_get_user()), so a call a segment wakes
        # (sock_def_readable()) returns before the next one comes in: settle() delivers one
        # segment at a time and the runner tries its parked calls between them
        self.tun_peer = False

    # -- time and the wire ---------------------------------------------------------------
    def now(self) -> float:
        return EPOCH + self.t

    def _collect(self) -> None:
        """Take what the kernel transmitted: capture it now, deliver it after the latency
        (and after its delay, for a segment a `net: delay` line holds back)."""
        k = self.kernel
        if not k.outbox:  # nothing sent since the last look (outfate and outtime are empty too)
            self.t = max(self.t, k.now)
            return
        for seg, fate, sent in zip(k.outbox, k.outfate, k.outtime):
            delivered = fate is None  # judged and delivered at once, inside a call
            if fate == UNJUDGED:
                fate = self._fate(seg)  # lost on the way: captured as sent, never delivered
                delivered = False
            self._captured.append(self._segment(seg, sent))
            self._count += 1
            if delivered:
                pass
            elif isinstance(fate, Dup):
                # in the lab's queue until the lab reads it (_take())
                self._nfq.append((sent, self._count, _cut(seg), fate.after))
            elif fate is None:
                heapq.heappush(self._flight, (sent + LOOPBACK_LATENCY, self._count, seg, False))
                self._prompt += 1
            elif fate > 0:
                # a GSO packet held in the lab's queue went in cut into its segments, each let
                # go in turn (nfqnl_enqueue_packet(): skb_gso_segment())
                pieces = _cut(seg)
                self._push(sent + LOOPBACK_LATENCY + fate, pieces[0], True, False,
                           [(p, False) for p in pieces[1:]], order=self._count)
        k.outbox.clear()
        k.outfate.clear()
        k.outtime.clear()
        self.t = max(self.t, k.now)  # what lo delivered inside a call took its latency

    @staticmethod
    def _segment(seg: Seg, sent: float) -> Segment:
        return Segment(
            t=EPOCH + sent, src=_addr(seg.src), dst=_addr(seg.dst),
            flags=flags_text(seg.flags), seq=seg.seq, ack=seg.ack, win=seg.win,
            options=_options(seg.options), length=len(seg.payload),
            payload=seg.payload, ttl=64, ip_id=seg.ip_id, df=True, why=seg.why)

    def _fate(self, seg: Seg) -> float | Dup | None:
        if not self.wire.faults:
            return None  # no net: lines
        return self.wire.fate(flags_text(seg.flags), len(seg.payload), seg.src[1], seg.dst[1],
                              seg.seq, (seg.src, seg.dst))

    def _deliver(self) -> None:
        at, order, seg, held = heapq.heappop(self._flight)
        if not held:
            self._prompt -= 1
        self._advance(at, deliver=False)  # the timers due first; the wire's order is kept
        if order in self._copies:  # a net: duplicate line's copy: on lo (captured) only now
            self._copies.discard(order)
            self._captured.append(self._segment(seg, at - LOOPBACK_LATENCY))
            self._captured[-1].copy = True
            self._captured[-1].why = None
        self.kernel.receive(seg)
        self._collect()
        rest = self._chain.pop(order, None)
        if rest:
            # the lab sends the next once its verdict on this one returns (or its copy's
            # sendto()): by then lo has carried everything this one set off (the softirq
            # runs inside the call), so the same here
            while self._prompt:
                self._deliver()
            nxt, copy = rest[0]
            self._push(self.t + LOOPBACK_LATENCY, nxt, False, copy, rest[1:])

    def _take(self) -> None:
        """The lab reads its queue (DelayQueue.take(), release_due()) once what lo carries
        has settled: the next net: duplicate line's segment goes on, and its copy at once
        after it (chained: after what the original set off on lo), or `after` seconds after
        it reached lo (held, as a delayed segment).  A segment the original or its copy set
        off that a net: duplicate line takes waits in the queue for the lab's next read,
        after those read before it (nfqnl_recv_verdict() reinjects the original, and the
        copy's sendto() crosses lo, before either call returns)."""
        sent, order, pieces, after = self._nfq.pop(0)
        at = max(self.t, sent) + LOOPBACK_LATENCY
        if after:
            self._push(at, pieces[0], False, False, [(p, False) for p in pieces[1:]],
                       order=order)
            self._push(sent + LOOPBACK_LATENCY + after, pieces[0], True, True,
                       [(p, True) for p in pieces[1:]])
        else:
            self._push(at, pieces[0], False, False,
                       [(p, c) for p in pieces for c in (False, True)][1:], order=order)

    def _push(self, at: float, seg: Seg, held: bool, copy: bool, then: list,
              order: int | None = None) -> None:
        """Put a segment in flight (order: the number _collect() gave it already), a net:
        duplicate line's copy if `copy`, with what comes in turn after it."""
        if order is None:
            self._count += 1
            order = self._count
        heapq.heappush(self._flight, (at, order, seg, held))
        if not held:
            self._prompt += 1
        if copy:
            self._copies.add(order)
        if then:
            self._chain[order] = then

    def _advance(self, t: float, deliver: bool = True) -> None:
        """Move the clock to t, firing every timer and delivering every held segment due on
        the way, in time order."""
        while True:
            nxt = self.kernel.next_timer()
            arrive = self._flight[0][0] if self._flight and deliver else None
            if arrive is not None and arrive <= t and (nxt is None or arrive <= nxt):
                held = self._flight[0][3]
                self._deliver()
                if (held and self.one_at_a_time and not self._prompt
                        and self.held_due(arrive) is not None):
                    # the next one may come after a call: the runner looks first (not while
                    # the first one's answer is on the wire: run_model delivers the next one,
                    # due earlier, before that answer, and the file order's exchange must
                    # stay run_model's)
                    t = arrive
                    break
                continue
            if nxt is None or nxt > t:
                break
            self.t = max(self.t, nxt)
            self.kernel.handle_timer(self.t)
            self._collect()
        self.t = max(self.t, t)
        self.kernel.now = self.t

    def held_due(self, at: float) -> tuple | None:
        """The next segment in flight if it is held back and due by `at`."""
        if self._flight and self._flight[0][3] and self._flight[0][0] <= at:
            return self._flight[0]
        return None

    def settle(self) -> list:
        """Deliver what loopback delivers at once (a segment held back by a delay stays on the
        wire: time passes for it only while the program waits)."""
        self.t = max(self.t, self.kernel.now)  # a call's own deliveries took lo's latency
        self.kernel.now = self.t
        self._collect()
        while self._prompt or self._nfq:
            if not self._prompt:
                self._take()  # lo has settled: the lab reads its queue
            self._deliver()
            if self.tun_peer:
                break
        self.kernel.capture_reads += 1  # the lab reads its capture now (LabWorld.settle())
        out, self._captured = self._captured, []
        return out

    def unsettled(self) -> bool:
        """Segments still on their way that settle() delivers at once (tun_peer: one a call)."""
        return bool(self._prompt or self._nfq)

    def wait(self, waits: list, until: float) -> None:
        """Jump to the next timer or held segment, or to `until` if nothing is due before it.
        A waited-for socket that is ready already ends the wait at once, as poll() does in
        the lab (lab/executor.py): a blocked send() that took part of its bytes goes on as
        soon as the buffer is writeable again (tcp_poll()), not at the next timer; once per
        instant, so that a call that is ready but cannot finish lets time pass."""
        self._collect()
        if self._prompt or self._nfq:  # a retried call sent segments: settle() delivers them
            return
        mark = (self.t, self._count)
        ready = waits and any([s.ready() if isinstance(s, ModelEpoll) else
                               s.sid in self.kernel.socks and self.poll(s, ev) for s, ev in waits])
        if ready and self._early != mark:
            self._early = mark
            return
        nxt = self.kernel.next_timer()
        if self._flight and (nxt is None or self._flight[0][0] < nxt):
            nxt = self._flight[0][0]
        target = until - EPOCH
        if nxt is not None and nxt <= target:
            self._advance(nxt)
        else:
            self._advance(max(self.t, target))

    def transitions(self) -> list[tuple]:
        """The model's state changes since the last call: (time, sock, local, remote, state,
        rule) where rule is "OLD_STATE event", the row of the table that made the change.  The lab sees states only between calls; the model can show every step."""
        if not self.kernel.log:
            return []
        out = [(EPOCH + t, sid, _addr(l) if l else None, _addr(r) if r else None, new,
                f"{old} {event}" if event else None)
               for t, sid, l, r, old, new, event, _ref in self.kernel.log]
        self.kernel.log.clear()
        return out

    # -- what the runner asks ------------------------------------------------------------
    def describe(self) -> tuple[dict, dict]:
        return ({"release": self.profile.release, "machine": "tcpsim model",
                 "profile": self.profile.name, "lo_mtu": self.profile.mtu}, dict(self.profile.sysctls))

    def socket(self, family: int, type: int, proto: int) -> ModelSocket:
        if type != 1 or proto not in (0, 6) or family not in (2, 10):
            raise _oserror(E.EINVAL if family in (2, 10) else E.EAFNOSUPPORT)
        return ModelSocket(self, self.kernel.socket(family), family)

    def poll(self, sock: ModelSocket, events: int) -> int:
        return self.kernel.poll(sock.sid) & (events | POLLERR | POLLHUP)

    def close_lingering(self, sock: ModelSocket, local: str | None,
                        remote: str | None) -> ModelLinger:
        """close() of a socket with SO_LINGER {1, N}: it may wait (ModelLinger)."""
        sock.close()
        return ModelLinger(self, sock.sid)

    def epoll(self) -> ModelEpoll:
        return ModelEpoll(self)

    def tcp_info(self, sock: ModelSocket) -> dict:
        return self.kernel.tcp_info(sock.sid)

    def ioctl(self, sock: ModelSocket, request: int) -> int:
        return self.kernel.ioctl(sock.sid, request)

    def kernel_sockets(self) -> list[tuple[str, str, str]]:
        return [(_addr(l), _addr(r), st) for l, r, st in self.kernel.table()]

    # -- what changed (the runner observes only those sockets; a world without these two, the
    # lab's, is observed whole after every settle) ----------------------------------------
    def changed(self) -> set[int]:
        """The model's sockets (ids, as ModelSocket.sid) whose state, addresses, place in the
        kernel's tables or accept queue may have changed since the last call."""
        out, self.kernel.changed = self.kernel.changed, set()
        return out

    def table_entry(self, sid: int) -> tuple[str, str, str] | None:
        """This socket's row of kernel_sockets(), or None if it has none."""
        row = self.kernel.table_entry(sid)
        return None if row is None else (_addr(row[0]), _addr(row[1]), row[2])

    def bad_fd(self, call: str) -> tuple[int, str | None]:
        return -1, "EBADF"


def run_model(program: Program, profile: KernelProfile, seed: int = 0, tail: float = 0.1,
              timeout: float = 10.0, world: SimWorld | None = None,
              flips: frozenset[int] = frozenset()) -> Trace:
    """Run the program in the model, in file order; the Trace has the same shape as the lab's.
    flips: the races (model.kernel.Race, by number) to take the other way; the run's races
    are in world.kernel.races."""
    world = world or SimWorld(profile, seed, program.faults, program.sysctls)
    world.kernel.flips = frozenset(flips)
    runner = Runner(program, world, "model", tail=tail, timeout=timeout)
    return model_notes(runner.run(), program, profile, seed, world)


def model_notes(trace: Trace, program: Program, profile: KernelProfile, seed: int,
                world: SimWorld) -> Trace:
    """What every model trace says about itself: the profile and seed, the net: lines' drops."""
    trace.notes.append(t("note.model", profile=profile.name, release=profile.release, seed=seed))
    cc, host = profile.congestion_control, profile.host_congestion_control
    if cc != profile.modelled_congestion:
        trace.notes.append(t("note.cc_unmodelled", cc=cc, modelled=profile.modelled_congestion))
    elif host and host != cc:
        trace.notes.append(t("note.cc_pinned", cc=cc, default=host))
    trace.notes += drop_notes(program.faults, world.dropped)
    trace.drops = dict(world.dropped)
    return trace


def drop_notes(faults, dropped: dict[int, int]) -> list[str]:
    verb = {"drop": t("note.dropped"), "delay": t("note.delayed"),
            "duplicate": t("note.duplicated")}
    return [t("note.drops", line=f.line, text=f.text, verb=verb[f.action], n=dropped.get(f.line, 0))
            for f in faults]


def rules_followed(program: Program, profile: KernelProfile) -> set[tuple[str, str]]:
    """The (state, event) rows of the transition table a program's run goes through."""
    world = SimWorld(profile, faults=program.faults, sysctls=program.sysctls)
    run_model(program, profile, world=world)
    return world.kernel.covered
