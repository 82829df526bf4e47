"""`tcpsim lab --free`: the program's processes as real, concurrent OS processes.

The ordinary lab runs every process in one thread, one call at a time, in file order.  Here
each process of the program is a forked OS process that runs its own lines on blocking
sockets (the runner's non-blocking emulation completes a call exactly when the kernel would
wake a blocking one), and nothing orders them against each other: all are released at the
same instant, and the two CPUs and the scheduler decide.  The parent captures loopback,
collects every call's result from the children, and reads the kernel's socket table at the
end.  A process still waiting when nothing has happened for `timeout` seconds hangs (as the
seed's server does in accept() when its client was refused).  Every child is killed before
the namespace is left, so sockets a process left open are never closed into the capture.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import struct
import time
from dataclasses import dataclass, replace

from ..errors import TcpsimError
from ..scenario import Program
from ..sim.explore import signature
from ..sim.runner import Runner
from ..trace import State, Trace, decode_frame
from .capture import LoopbackCapture
from .executor import LabWorld
from .kernel import (install_faults, kernel_info, lab_congestion, record_congestion, set_sysctls,
                     sysctls)
from .kernel import kernel_sockets as read_kernel_sockets
from .netns import private_netns

_LEN = struct.Struct("!I")
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h


@dataclass
class FreeRun:
    trace: Trace
    hangs: tuple  # (process, line) of calls that never returned

    @property
    def signature(self) -> tuple:
        return signature(self.trace, self.hangs)


class _ProcessWorld(LabWorld):
    """The world of one child: its own sockets only; the parent captures."""

    def settle(self) -> list:
        return []

    def wait(self, waits: list, until: float) -> None:
        poller = select.poll()
        for sock, events in waits:
            poller.register(sock.fileno(), events)
        poller.poll(max(0, min(60_000, int((until - time.time()) * 1000) + 1)))

    def kernel_sockets(self) -> list:
        return []  # the parent reads the table once, at the end


class _ProcessRunner(Runner):
    """Runs one process's lines; after every change, tells the parent its calls so far."""

    def __init__(self, program: Program, process: str, out: int, cc: str | None = None,
                 outs: dict[str, int] | None = None):
        super().__init__(program, _ProcessWorld(None, congestion=cc), "lab", tail=0.0, timeout=24 * 3600.0,
                         chooser=lambda ready: ready[0])
        self.sched.leave_to_others(process)
        self.out, self.cc = out, cc
        self.outs = outs or {}  # the pipes of the children this process will fork

    def _do_fork(self, proc, step, _s):
        """fork() as the kernel does it: this OS process forks, and the child runs the
        child's lines on the very descriptors it inherited (no dup(): the copy is fork's)."""
        name = step.args[0]
        parent = os.getpid()
        pid = os.fork()
        if pid:
            return (0, None, {})
        try:  # pragma: no cover - runs in the forked child
            _orphan_proof(parent, keep=(self.outs[name],) + tuple(
                self.outs[c] for c in _descendants(self.program, name)) + tuple(
                s.sock.fileno() for s in proc.fds.values()))
            child = _ProcessRunner(self.program, name, self.outs[name], self.cc, self.outs)
            child.start()
            child.procs[name].fds = {vfd: replace(s, process=name) for vfd, s in proc.fds.items()}
            child.procs[name].names = dict(proc.names)
            child.labels = set(self.labels)
            # the inherited sockets are the parent's, and the parent says what they are: the
            # child publishes only those it makes itself
            child.infos = dict(self.infos)
            child.run()
            child._publish(final=True)
            signal.pause()
        finally:
            os._exit(0)

    def begin(self, step) -> None:
        super().begin(step)
        self._publish()

    def _complete_ready(self) -> bool:
        done = super()._complete_ready()
        if done:
            self._publish()
        return done

    def _publish(self, final: bool = False) -> None:
        msg = pickle.dumps((self.t0, self.trace.calls, self.trace.sockets, final))
        os.write(self.out, _LEN.pack(len(msg)) + msg)


def _descendants(program: Program, process: str) -> list[str]:
    """The processes `process` forks, and theirs, in file order."""
    out, todo = [], [process]
    while todo:
        p = todo.pop(0)
        for s in program.steps:
            if s.call == "fork" and s.process == p:
                out.append(s.args[0])
                todo.append(s.args[0])
    return out


def _orphan_proof(parent: int, keep: tuple[int, ...]) -> None:  # pragma: no cover - child
    """A child dies with the lab, whatever kills the lab (SIGKILL included), and holds
    nothing of the parent's but its two pipes: not the handle on the host's namespace that
    private_netns() keeps to come back to, nor the capture, nor the sock_diag socket."""
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(1)
    if os.getppid() != parent:  # the lab died before prctl() took effect
        os._exit(1)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir() itself had open


def _child(program: Program, process: str, go: int, out: int, cc: str,
           outs: dict[str, int]) -> None:
    os.read(go, 1)  # every process is released at once, when the parent closes the pipe
    runner = _ProcessRunner(program, process, out, cc, outs)
    runner.run()
    runner._publish(final=True)
    signal.pause()  # keep the sockets as they are until the parent has looked at them


class _Inbox:
    def __init__(self, fd: int):
        self.fd, self.buf, self.last = fd, b"", None

    def read(self) -> bool:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        self.buf += data
        while len(self.buf) >= 4:
            n = _LEN.unpack_from(self.buf)[0]
            if len(self.buf) < 4 + n:
                break
            self.last = pickle.loads(self.buf[4:4 + n])
            self.buf = self.buf[4 + n:]
        return bool(data)

    @property
    def finished(self) -> bool:
        return bool(self.last and self.last[3])


def run_free(program: Program, timeout: float = 2.0, tail: float = 0.2,
             overrides: dict[str, str] | None = None) -> FreeRun:
    """One free run of the program in a private network namespace made for it."""
    if any(f.action == "delay" for f in program.faults):
        raise TcpsimError("lab --free cannot hold segments back (net: delay needs the ordinary "
                          "lab's single thread); run this program without --free")
    if any(s.call == "thread" for s in program.steps):
        raise TcpsimError("lab --free does not run thread() yet (its processes are OS "
                          "processes); run this program without --free: the ordinary lab "
                          "gives a thread the very descriptor table")
    forked = {s.args[0] for s in program.steps if s.call == "fork"}
    LoopbackCapture.prepare()
    cc, overrides = lab_congestion({**dict(program.sysctls), **(overrides or {})})
    with private_netns():
        set_sysctls(overrides)
        install_faults(program.faults)
        cap = LoopbackCapture()
        go_r, go_w = os.pipe()
        kids: dict[str, tuple[int, _Inbox]] = {}
        parent = os.getpid()
        try:
            # a pipe for every process; a forked one's is handed down by its parent, who
            # starts it at its fork() line (_ProcessRunner._do_fork())
            pipes = {proc: os.pipe() for proc in program.processes}
            outs = {proc: w for proc, (r, w) in pipes.items()}
            for proc in program.processes:
                r, w = pipes[proc]
                if proc in forked:
                    continue
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child
                    try:
                        _orphan_proof(parent, keep=(go_r, w) + tuple(
                            outs[c] for c in _descendants(program, proc)))
                        _child(program, proc, go_r, w, cc, outs)
                    finally:
                        os._exit(0)
                kids[proc] = (pid, _Inbox(r))
            for proc, (r, w) in pipes.items():
                os.close(w)
                os.set_blocking(r, False)
                if proc in forked:
                    kids[proc] = (None, _Inbox(r))
            os.close(go_r)
            t0 = time.time()
            os.close(go_w)  # go
            frames, last = [], time.time()
            while not all(box.finished for _, box in kids.values()):
                fds = [cap.fileno()] + [box.fd for _, box in kids.values()]
                ready, _, _ = select.select(fds, [], [], 0.05)
                got = cap.drain() if cap.fileno() in ready else []
                frames += got
                moved = bool(got) | any(box.read() for _, box in kids.values()
                                        if box.fd in ready)
                if moved:
                    last = time.time()
                elif time.time() - last > timeout:
                    break  # every process left waits, and nothing has happened: they hang
            end = time.time() + tail
            while time.time() < end:  # the last ACKs, a delayed ACK
                select.select([cap.fileno()], [], [], max(0.0, end - time.time()))
                frames += cap.drain()
            table = read_kernel_sockets()
            lost = cap.count_drops()
            describe = kernel_info(), sysctls()
        finally:
            for pid, box in kids.values():
                if pid is not None:  # a forked one dies with its parent (PR_SET_PDEATHSIG)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.waitpid(pid, 0)
                os.close(box.fd)
            cap.close()
    run = _assemble(program, t0, frames, kids, table, describe)
    record_congestion(run.trace, cc)
    run.trace.capture_lost = lost
    return run


def _assemble(program, t0, frames, kids, table, describe) -> FreeRun:
    trace = Trace(source="lab", program=program.name, program_text=program.text)
    trace.kernel, trace.sysctls = describe
    trace.t0 = t0
    events: list = []
    for f in frames:
        seg = decode_frame(f.data, f.t)
        if seg is not None:
            seg.t = round(seg.t - t0, 6)
            events.append(seg)
    hangs = []
    for proc, (_, box) in kids.items():
        if box.last is None:
            continue
        child_t0, calls, sockets, finished = box.last
        returned = {c.step for c in calls if c.kind == "return"}
        for c in calls:
            c.t = round(c.t + child_t0 - t0, 6)
            events.append(c)
            if c.blocked and c.kind == "call" and c.step not in returned:
                hangs.append((c.process, c.line))
        trace.sockets += sockets
    events.sort(key=lambda e: e.t)
    trace.events = events
    end = max((e.t for e in events), default=0.0)
    # each socket's last state: the kernel's table, or CLOSE once the kernel freed it
    for info in trace.sockets:
        state = "CLOSE"
        for local, remote, st in table:
            peer = None if remote.endswith(":0") else remote
            if local in info.seen + [info.local] and peer == info.remote:
                state = st
                break
        trace.events.append(State(end, info.label, state, "sock_diag"))
    trace.end = end
    return FreeRun(trace, tuple(sorted(hangs)))
