"""The real kernel as a world for the runner: sockets in a private network namespace.

The runner (sim/runner.py) runs every process of the program in this one thread on
non-blocking sockets (but a close() that lingers, which no flag makes non-blocking: a thread
of its own, LingeringClose).  settle() waits until every frame sent on lo has also been received (the
capture sees both copies), so which calls block depends on the kernel alone, never on a
guessed sleep.  Loopback delivers in the sender's softirq, so this settles within
microseconds; timers (delayed ACK, retransmission) show up while the runner waits.
"""

from __future__ import annotations

import ctypes
import errno
import os
import math
from contextlib import nullcontext
import platform
import select
import socket
import threading
import time

from ..i18n import t
from ..scenario import Program
from ..scenario.calls import errno_name
from ..sim.runner import Runner, Stuck
from ..trace import Call, Trace, decode_frame
from ..trace.diff import TIMING_ABS
from .capture import LoopbackCapture
from ..sim.world import drop_notes
from .kernel import (SeqSets, SockTable, fault_counts, install_faults, ioctl_int, kernel_info, lab_congestion,
                     pin_congestion, record_congestion, set_sysctls, sysctls, tcp_info)
from .netns import private_netns, realtime, set_link_mtu
from .nfqueue import DelayQueue

_libc = ctypes.CDLL(None, use_errno=True)
_SETTLE_LIMIT = 1.0  # seconds to wait for frames still in flight before giving up on them
_NARGS = {"bind": 3, "listen": 2, "accept": 3, "connect": 3, "send": 4, "recv": 4, "close": 1,
          "shutdown": 2, "setsockopt": 5, "getsockopt": 5, "fcntl": 2, "ioctl": 3}

LabStuck = Stuck
# sk_stream_closing(): the states a lingering close() waits in (sk_stream_wait_close())
_CLOSING = frozenset({"FIN_WAIT1", "CLOSING", "LAST_ACK"})
# close(2)'s number, as /proc/TID/syscall shows a thread blocked in it
_SYS_CLOSE = {"x86_64": 3, "aarch64": 57, "riscv64": 57, "i686": 6, "armv7l": 6}.get(
    platform.machine())


def _blocked_in_close(tid: int) -> bool:
    """Is thread tid asleep inside close(2)?  /proc/TID/syscall names the call a blocked
    thread is in ("running" while it runs); a thread waiting for Python's lock is in futex()."""
    try:
        with open(f"/proc/self/task/{tid}/syscall") as f:
            words = f.read().split()
    except OSError:
        return False
    return bool(words) and words[0] == str(_SYS_CLOSE)


class LingeringClose:
    """A close() of a socket with SO_LINGER {1, N}, made from a thread of its own, as a
    program's process blocks in it: inet_release() gives __tcp_close() the linger time, and
    after the FIN (or with the socket already in FIN_WAIT1, CLOSING or LAST_ACK) it waits in
    sk_stream_wait_close() until the state is none of those or the time has run out.  The
    runner's thread goes on with the other processes meanwhile (before, the one thread the
    lab runs every process in was held up: selfcheck's cause 5).  Made only once the
    thread sleeps in close(2) or has returned, so that the close has made its state change
    and sent its FIN before the next call.  fileno(): readable once close() returned."""

    def __init__(self, world: "LabWorld", sock: socket.socket, local: str | None,
                 remote: str | None):
        self.world, self.key = world, (local, remote)
        self.done, self.error, self.tid = False, None, None
        self.r, self.w = os.pipe()
        self.thread = threading.Thread(target=self._close, args=(sock,), daemon=True,
                                       name="tcpsim-linger")
        self.thread.start()
        while not self.done:
            if self.tid is not None and _SYS_CLOSE is not None and _blocked_in_close(self.tid):
                break
            select.select([self.r], [], [], 0.0002)  # the thread takes Python's lock meanwhile

    def _close(self, sock: socket.socket) -> None:
        self.tid = threading.get_native_id()
        try:
            sock.close()  # CPython lets go of its lock around close(2)
        except OSError as e:
            self.error = e
        finally:
            self.done = True
            os.write(self.w, b"x")

    def fileno(self) -> int:
        return self.r

    def waiting(self) -> bool:
        """Does close() still wait?  While the kernel's state of the connection is one of
        sk_stream_closing()'s it does; once it is not (or the connection is gone) the thread
        is woken (sk_state_change()) and returns at once: wait for it."""
        if self.done:
            return False
        if self.key[0] and self.key[1] and self.world.state_of(*self.key) in _CLOSING:
            return True
        self.thread.join(1.0)
        return not self.done

    def deadline(self, seconds: float) -> float:
        """When to stop waiting for the thread whatever it says: the linger time, and the
        timer wheel's rounding (sk_wait_event() -> schedule_timeout()) with room to spare;
        the thread's own return ends the wait before that."""
        return time.time() + seconds + 0.5

    def close(self) -> None:
        if self.r >= 0:
            self.thread.join(0.5)
            os.close(self.r)
            os.close(self.w)
            self.r = self.w = -1


class LabWorld:
    """Real sockets, a loopback capture, and the kernel's own view of its sockets."""

    def __init__(self, capture: LoopbackCapture, held: DelayQueue | None = None,
                 congestion: str | None = None, seqsets: SeqSets | None = None):
        self.cap = capture
        self.seqsets = seqsets  # `seq S` net lines: learn each connection's ISN from its SYN
        self.congestion = congestion  # the algorithm each socket is pinned to (lab_congestion)
        self.held = held  # segments a `net: delay` line holds back, when the program has one
        self._table: SockTable | None = None  # made at first use, in the lab's namespace
        # The kernel's table as last read, and the connections segments have named since:
        # every socket without a descriptor (a listener's child, an orphan, TIME_WAIT) is
        # one a segment named, so exact lookups of these keep the table without a dump.
        self.known: dict[tuple[str, str], str] = {}
        self.named: set[tuple[str, str]] = set()
        self.dump_due = False
        self.lingering: list[LingeringClose] = []

    def now(self) -> float:
        return time.time()

    def describe(self) -> tuple[dict, dict]:
        return kernel_info(), sysctls()

    def socket(self, family: int, type: int, proto: int) -> socket.socket:
        sock = socket.socket(family, type, proto)
        if self.congestion and type == socket.SOCK_STREAM:
            pin_congestion(sock, self.congestion)
        return sock

    def settle(self) -> list:
        out = []
        limit = time.monotonic() + _SETTLE_LIMIT
        while True:
            released = self._release()
            # a held segment let go now names its connection only now: e.g. a delayed SYN
            # makes its request socket when it arrives, long after it was captured
            self.dump_due |= bool(released)
            for f in self.cap.drain():
                seg = decode_frame(f.data, f.t)
                if seg is not None:
                    if self.held is not None and self.held.is_copy(f.data[14:], f.t):
                        seg.copy = True  # a net: duplicate's copy
                    out.append(seg)
                    self.named.update(((seg.src, seg.dst), (seg.dst, seg.src)))
                    if self.seqsets is not None:
                        self.seqsets.see(seg.src, seg.dst, seg.flags, seg.seq)
            if self.cap.dedupe.in_flight and not released:
                self.cap.count_drops()  # a twin the kernel dropped never comes: stop waiting
            if not (released or self.cap.dedupe.in_flight) or time.monotonic() >= limit:
                return out
            if released and not self.cap.dedupe.in_flight:
                # what a segment let go sets off on lo is processed before the verdict (or
                # the copy's sendto()) returns (nf_reinject(): okfn() with bottom halves
                # off, and lo's softirq as they are let on): it is in the capture already.
                # Waiting a millisecond for more let a copy due 1 ms later go before the
                # call that was to come first (`net: duplicate by 1ms`)
                continue
            select.select([self.cap], [], [], 0.001)

    def _release(self) -> int:
        """Note the segments newly held back, and let go of those whose delay is over."""
        if self.held is None:
            return 0
        self.held.take()
        return self.held.release_due(time.time())

    def wait(self, waits: list, until: float) -> None:
        """Sleep until a frame arrives, a waited-for socket is ready, a held segment is due,
        or `until` passes."""
        poller = select.poll()
        poller.register(self.cap.fileno(), select.POLLIN)
        for sock, events in waits:
            poller.register(sock.fileno(), events)
        if self.held is not None:
            poller.register(self.held.fileno(), select.POLLIN)
            self.held.take()
            due = self.held.next_due()
            until = min(until, due) if due is not None else until
        poller.poll(max(0, math.ceil((until - time.time()) * 1000)))

    def epoll(self) -> "LabEpoll":
        return LabEpoll()

    def poll(self, sock: socket.socket, events: int) -> int:
        p = select.poll()
        p.register(sock.fileno(), events)
        got = p.poll(0)
        return got[0][1] if got else 0

    def tcp_info(self, sock: socket.socket) -> dict:
        return tcp_info(sock)

    def ioctl(self, sock: socket.socket, request: int) -> int:
        return ioctl_int(sock, request)

    def close_lingering(self, sock: socket.socket, local: str | None,
                        remote: str | None) -> LingeringClose:
        """close() of a socket with SO_LINGER {1, N}: it may block (LingeringClose)."""
        self.lingering.append(LingeringClose(self, sock, local, remote))
        return self.lingering[-1]

    def state_of(self, local: str, remote: str) -> str | None:
        """The kernel's state of one connection (None: it has none)."""
        if self._table is None:
            self._table = SockTable()
        return self._table.lookup([(local, remote)]).get((local, remote))

    def kernel_sockets(self) -> list[tuple[str, str, str]]:
        """The kernel's TCP sockets without a dump each time (SockTable says why): the
        connections known or named by a segment since, looked up by their exact tuple."""
        if self._table is None:
            self._table = SockTable()
        if self.dump_due:
            self.dump_due = False
            self.known = {(l, r): st for l, r, st in self._table.dump()}
        else:
            self.known = self._table.lookup(self.known.keys() | self.named)
        self.named.clear()
        return [(l, r, st) for (l, r), st in self.known.items()]

    def close(self) -> None:
        for linger in self.lingering:
            linger.close()
        if self._table is not None:
            self._table.close()

    def bad_fd(self, call: str) -> tuple[int, str | None]:
        """Make the same call on a descriptor that is not open (the kernel says EBADF)."""
        ctypes.set_errno(0)
        call = {"readall": "recv"}.get(call, call)  # a loop of recv() calls: the first fails
        rc = getattr(_libc, call)(*([-1] + [0] * (_NARGS[call] - 1)))
        return rc, errno_name(ctypes.get_errno()) if rc == -1 else None


class LabEpoll:
    """A real epoll instance (select.epoll) as the runner uses one: ctl(), wait() ->
    [(socket, events)], close(); fileno() for the lab's wait (the epoll descriptor is
    readable while an item is ready: ep_eventpoll_poll())."""

    def __init__(self):
        self.ep = select.epoll()
        self.socks: dict[int, socket.socket] = {}

    def fileno(self) -> int:
        return self.ep.fileno()

    def ctl(self, op: int, sock: socket.socket, events: int) -> None:
        fd = sock.fileno()
        if op == 1:  # EPOLL_CTL_ADD
            self.ep.register(fd, events)
        elif op == 3:  # EPOLL_CTL_MOD
            self.ep.modify(fd, events)
        elif op == 2:  # EPOLL_CTL_DEL
            self.ep.unregister(fd)
        else:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self.socks[fd] = sock

    def wait(self, maxevents: int) -> list:
        if maxevents <= 0:  # do_epoll_wait() (Python's own check would raise ValueError)
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return [(self.socks.get(fd), events) for fd, events in self.ep.poll(0, maxevents)]

    def close(self) -> None:
        self.ep.close()


# One tick of this kernel's clock (HZ=250): the one-jiffy delayed ACK fires within it, so the
# lab's calls must follow each other faster than that for a program's back-to-back calls to
# meet the kernel as a C program's do.
JIFFY = 0.004


# The lab's thread runs at a real-time priority during a run (netns.realtime says why;
# scripts/bench_stall.py measures what it buys).
REALTIME = True


def stall(trace: Trace) -> tuple[float, tuple[int, int]]:
    """The longest the lab took from one call to the next where the program runs them back to
    back (the first returned at once, was no sleep, and nothing parked returned between them),
    and the two lines.  The model's calls take no time; the lab's take ~0.1 ms on an idle
    machine, more on a busy one."""
    worst, where = 0.0, (0, 0)
    prev = None
    for e in trace.events:
        if not isinstance(e, Call):
            continue
        if e.kind == "call" and prev is not None and e.t - prev.t > worst:
            worst, where = e.t - prev.t, (prev.line, e.line)
        back_to_back = e.kind == "call" and not e.blocked and not e.text.startswith("sleep")
        prev = e if back_to_back else None
    return round(worst, 6), where


def run_lab(program: Program, tail: float = 0.1, timeout: float = 10.0,
            sysctls: dict[str, str] | None = None, mtu: int | None = None) -> Trace:
    """Run the program on the real kernel, in a private network namespace made for this run
    (with `sysctls` set in that namespace only, and lo's MTU `mtu` there).  Each socket runs
    the congestion control lab_congestion() names, whatever the host's default."""
    LoopbackCapture.prepare()
    # the program's own `sysctl:` lines first, what the caller gives (--sysctl) over them
    cc, sysctls = lab_congestion({**dict(program.sysctls), **(sysctls or {})})
    with private_netns(), (realtime() if REALTIME else nullcontext()):
        if mtu is not None:
            set_link_mtu(mtu)
        set_sysctls(sysctls)
        install_faults(program.faults)
        delays = {f.line: f.delay for f in program.faults if f.action == "delay"}
        copies = {f.line: f.delay for f in program.faults if f.action == "duplicate"}
        held = DelayQueue(delays, copies=copies) if delays or copies else None
        seqsets = SeqSets(program.faults) if any(f.seq is not None for f in program.faults) \
            else None
        cap = LoopbackCapture()
        runner = Runner(program, LabWorld(cap, held, cc, seqsets), "lab", tail=tail,
                        timeout=timeout)
        try:
            trace = runner.run()
            record_congestion(trace, cc)
            trace.drops = fault_counts(program.faults)
            trace.stall, where = stall(trace)
            if trace.stall > JIFFY:
                trace.notes.append(t("note.stall", ms=f"{trace.stall * 1000:.1f}", a=where[0],
                                     b=where[1]))
            trace.capture_lost = cap.count_drops()
            if trace.capture_lost:
                trace.notes.append(t("note.capture_lost", n=trace.capture_lost))
            trace.notes += drop_notes(program.faults, trace.drops)
            if held is not None:
                trace.late = round(held.late, 6)
                if held.late > TIMING_ABS:
                    trace.notes.append(t("note.late", ms=f"{held.late * 1000:.1f}"))
            return trace
        finally:
            runner.close()
            runner.world.close()
            cap.close()
            if held is not None:
                held.close()
            if seqsets is not None:
                seqsets.close()
