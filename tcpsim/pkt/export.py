"""Writing a packetdrill script from a tcpsim program: one process is the kernel under test.

The program runs in the model with packetdrill's environment (packetdrill_profile: MTU 1500,
its defaults.sh sysctls).  The chosen process's calls become system call lines, the
segments its sockets send become outbound lines (`>`), and the segments that reach them
become inbound lines (`<`) at the time they arrive, so that packetdrill (or `tcpsim pkt run`)
plays the peer.  packetdrill's conventions: relative sequence numbers from each side's ISN
(both 0 in the script), `...` addresses (bind to --bind_port, connect to --connect_port),
descriptors from 3, calls that block written `START...END`, a first event at time 0.
"""

from __future__ import annotations

from ..errors import TcpsimError
from ..model import KernelProfile
from ..scenario import Program
from ..scenario.calls import SYMBOLS, flag_names
from ..sim.world import LOOPBACK_LATENCY, Dup, SimWorld, Wire, run_model
from ..trace import Trace
from .run import packetdrill_profile

MOD = 1 << 32


class ExportError(TcpsimError):
    """The program cannot be written as one packetdrill script."""


def default_process(program: Program) -> str:
    """The server (the process that listens) if there is one, else the first process."""
    for s in program.steps:
        if s.call == "listen":
            return s.process
    return program.processes[0]


def _sym(group: str, value: int) -> str:
    names: dict[int, str] = {}
    for k, v in SYMBOLS[group].items():
        names.setdefault(v, k)  # the first name of several (SIOCINQ, not its alias FIONREAD)
    return names.get(value, str(value))


def _options(opts: list, peer_isn: int) -> str:
    out = []
    for name, value in opts:
        if name == "TS":
            out.append(f"TS val {value[0]} ecr {value[1]}")
        elif name == "sack":  # blocks are in the peer's sequence space
            out.append("sack " + " ".join(f"{(a - peer_isn) % MOD}:{(b - peer_isn) % MOD}"
                                          for a, b in value))
        elif value is None:
            out.append(name)
        else:
            out.append(f"{name} {value}")
    return f" <{','.join(out)}>" if out else ""


class _Writer:
    def __init__(self, program: Program, trace: Trace, process: str):
        self.program, self.trace, self.process = program, trace, process
        self.lines: list[tuple[float, int, int, str]] = []  # (time, rank, order, text)
        self.bind_port = self.connect_port = None
        self.open: set[int] = set()
        self.fd_of: dict[str, int] = {}  # descriptor names -> numbers (epoll_ctl's target)

    def fail(self, why: str) -> ExportError:
        return ExportError(f"program {self.program.name} cannot be written as a packetdrill "
                           f"script for process {self.process}: {why}")

    def add(self, t: float, rank: int, text: str) -> None:
        self.lines.append((t, rank, len(self.lines), text))

    # -- calls -----------------------------------------------------------------------------
    def call(self, step, start: float, end: float | None, result, errno, fd,
             value: str | None = None) -> None:
        name, args = step.call, step.args
        if step.assign and not errno and result is not None:
            self.fd_of[step.assign] = result
        self.value = value  # epoll_wait's ready sockets ("c EPOLLIN, s EPOLLOUT")
        if name == "sleep":
            return
        if name == "exit":
            for n in sorted(self.open):
                self.add(start, 1, f"close({n}) = 0")
            self.open.clear()
            return
        spell = self._spell(step, result, fd)
        if spell is None:
            return
        if errno:
            outcome = f"-1 {errno}"
        elif name == "poll":
            outcome = "1" if result else "0"
        elif name in ("getsockopt", "ioctl"):
            outcome = "0"
        else:
            outcome = str(result)
        if name in ("socket", "accept", "epoll_create") and not errno and result is not None:
            self.open.add(result)
        if name == "close" and fd is not None:
            self.open.discard(fd)
        when = f"{start:.6f}" + (f"...{end:.6f}" if end is not None else "")
        self.add(start, 1, f"{when} {spell} = {outcome}")

    def _spell(self, step, result, fd) -> str | None:
        name, a = step.call, step.args
        if name == "socket":
            family, kind = a[0], a[1]
            if family != 2:
                raise self.fail("an IPv6 socket (the scripts are IPv4)")
            kinds = flag_names("socktype", kind)
            return f"socket(..., {kinds}, IPPROTO_TCP)"
        if name == "bind":
            port = a[1].port
            if self.bind_port not in (None, port):
                raise self.fail("it binds two different ports (a script has one --bind_port)")
            self.bind_port = port
            return f"bind({fd}, ..., ...)"
        if name == "listen":
            return f"listen({fd}, {a[1]})"
        if name == "accept":
            return f"accept({fd}, ..., ...)"
        if name == "connect":
            if ":" in a[1].host:
                raise self.fail("it connects over IPv6 (the scripts are IPv4)")
            if self.connect_port not in (None, a[1].port):
                raise self.fail("it connects to two different ports")
            self.connect_port = a[1].port
            return f"connect({fd}, ..., ...)"
        if name == "send":
            data, flags = a[1], a[2]
            return (f"send({fd}, ..., {len(data)}, {flag_names('msg', flags)})" if flags
                    else f"write({fd}, ..., {len(data)})")
        if name == "recv":
            n, flags = a[1], a[2]
            return (f"recv({fd}, ..., {n}, {flag_names('msg', flags)})" if flags
                    else f"read({fd}, ..., {n})")
        if name == "close":
            return f"close({fd})"
        if name == "shutdown":
            return f"shutdown({fd}, {_sym('how', a[1])})"
        if name in ("setsockopt", "getsockopt"):
            opt = a[1]
            level = "SOL_SOCKET" if opt.level == 1 else "IPPROTO_TCP"
            if name == "getsockopt":
                value = "..." if opt.value == "linger" else f"[{result}]"
                return f"getsockopt({fd}, {level}, {opt.name}, {value}, [4])"
            if opt.value == "linger":
                return (f"setsockopt({fd}, {level}, {opt.name}, {{onoff={a[2].onoff}, "
                        f"linger={a[2].seconds}}}, 8)")
            return f"setsockopt({fd}, {level}, {opt.name}, [{a[2]}], 4)"
        if name == "fcntl":
            if a[1] == 3:
                return f"fcntl({fd}, F_GETFL)"
            flags = "O_RDWR|O_NONBLOCK" if a[2] & 0o4000 else "O_RDWR"
            return f"fcntl({fd}, F_SETFL, {flags})"
        if name == "ioctl":
            return f"ioctl({fd}, {_sym('ioctl', a[1])}, [{result}])"
        if name == "poll":
            timeout = a[2] if a[2] < 0 else a[2] // 1_000_000
            revents = flag_names("poll", result or 0)
            return (f"poll([{{fd={fd}, events={flag_names('poll', a[1])}, revents={revents}}}], "
                    f"1, {timeout})")
        if name == "epoll_create":
            return "epoll_create(1)"
        if name == "epoll_ctl":
            target = self.fd_of.get(a[2])
            return (f"epoll_ctl({fd}, {_sym('epoll_op', a[1])}, {target}, "
                    f"{{events={flag_names('epoll', a[3])}, fd={target}}})")
        if name == "epoll_wait":
            # syscall_epoll_wait() compares the first event returned (zeros when none came)
            first = (self.value or "").split(",")[0].split()
            event = (f"{{events={first[1]}, fd={self.fd_of.get(first[0])}}}" if first
                     else "{events=0, ptr=0}")
            timeout = a[2] if a[2] < 0 else a[2] // 1_000_000
            return f"epoll_wait({fd}, {event}, {a[1]}, {timeout})"
        raise self.fail(f"{name}() has no packetdrill spelling in tcpsim")

    # -- the whole script ------------------------------------------------------------------
    def write(self) -> str:
        trace, proc = self.trace, self.process
        mine = set()
        for s in trace.sockets:
            if s.process == proc:
                mine.update(e for e in [s.local, *s.seen] if e and not e.startswith("0.0.0.0"))
        steps = {s.index: s for s in self.program.steps}
        started: dict[int, tuple] = {}
        for c in trace.calls:
            if c.process != proc:
                continue
            step = steps[c.step]
            if c.kind == "call" and c.blocked:
                started[c.step] = (c.t, c.fd)
            elif c.kind == "return":
                # the runner goes on with a blocked send, or a blocked recv(MSG_WAITALL) that
                # has read part, once per batch of arrivals; packetdrill's blocked thread is
                # woken by each arrival that lets it (sk_stream_write_space(),
                # sk_data_ready()): the script could not pin what each wake-up moves
                if step.call == "send":
                    raise self.fail(f"its send() on line {step.line} blocked on a full send "
                                    "buffer (a blocked writer wakes at each ACK that makes room)")
                if step.call == "recv" and step.args[2] & 0x100:  # MSG_WAITALL
                    raise self.fail(f"its recv(MSG_WAITALL) on line {step.line} blocked "
                                    "(a blocked reader wakes at each arrival)")
                t0, fd = started.pop(c.step, (c.t, c.fd))
                self.call(step, t0, c.t, c.result, c.errno, fd, c.value)
            else:
                self.call(step, c.t, None, c.result, c.errno, c.fd, c.value)
        segments = [g for g in trace.segments if g.src in mine or g.dst in mine]
        if any(g.src in mine and g.dst in mine for g in segments):
            raise self.fail("its sockets talk to each other (one script has one remote end)")
        peers = {g.dst if g.src in mine else g.src for g in segments}
        if len(peers) > 1:
            raise self.fail(f"it has {len(peers)} connections (a script follows one)")
        own_isn = next((g.seq for g in segments if g.src in mine and "S" in g.flags), 0)
        peer_isn = next((g.seq for g in segments if g.dst in mine and "S" in g.flags), 0)
        wire = Wire(self.program.faults)
        for g in trace.segments:  # the net: lines count every segment, ours or not
            if g.copy:  # a net: duplicate line's copy: no line takes it, the peer's TCP
                fate = None  # did not send it, and ours gets it as one more packet
                if g.src in mine:
                    continue
            else:
                fate = wire.fate(g.flags, g.length, int(g.src.rsplit(":", 1)[1]),
                                 int(g.dst.rsplit(":", 1)[1]), g.seq, (g.src, g.dst))
                if isinstance(fate, Dup):
                    fate = None  # it arrives as usual; its copy is a segment of the trace
            if g not in segments:
                continue
            out = g.src in mine
            flags = g.flags.replace("none", "-")
            if "S" in g.flags:
                # packetdrill counts each side's numbers from its latest SYN (socket.h
                # local_seq_script_to_live_offset(), remote_seq_...: a new connect() on the
                # socket starts them again), so the script does
                if out:
                    own_isn = g.seq
                else:
                    peer_isn = g.seq
            isn, other = (own_isn, peer_isn) if out else (peer_isn, own_isn)
            seq = (g.seq - isn) % MOD
            text = f"{'>' if out else '<'} {flags} {seq}:{(seq + g.length) % MOD}({g.length})"
            if "." in g.flags:
                text += f" ack {(g.ack - other) % MOD}"
            text += f" win {g.win}" + _options(g.options, other)
            if out:
                self.add(g.t, 2, text)
            elif fate is None or fate > 0:  # a lost segment never reaches us
                arrive = g.t + LOOPBACK_LATENCY + (fate or 0.0)
                self.add(round(arrive, 6), 0, text)
        if not self.lines:
            raise self.fail("it makes no calls")
        self.lines.sort()
        t0 = self.lines[0][0]
        head = [f"// {self.program.name}: process {proc} as the kernel under test, the peer "
                "played by the script",
                f"// written by tcpsim pkt export from the model (packetdrill's environment: "
                "MTU 1500, its defaults.sh sysctls)"]
        # the program's `sysctl:` lines, as a shell line the script runs first (in its
        # namespace: `pkt run --kernel`, and packetdrill's own run)
        for key, value in self.program.sysctls:
            head.append(f"0.000000 `sysctl -q {key}={value}`")
        if self.bind_port not in (None, 8080):
            head.insert(0, f"--bind_port={self.bind_port}")
        if self.connect_port not in (None, 8080):
            head.insert(0, f"--connect_port={self.connect_port}")
        body = []
        last = returns = 0.0
        for t, rank, _, text in self.lines:
            last = max(last, t - t0)
            if rank == 1:  # a call: its text starts with its own time (START or START...END)
                when, rest = text.split(" ", 1)
                parts = [float(p) - t0 for p in when.split("...")]
                returns = max(returns, parts[-1])
                body.append(f"{'...'.join(f'{p:.6f}' for p in parts)} {rest}")
            else:
                body.append(f"{t - t0:.6f} {text}")
        if returns > last + 0.5:
            # after its last line packetdrill waits at most a second for a call still blocked
            # (run_system_call.c await_idle_thread(): MAX_WAIT_SECS), and the timer wheel
            # may run the call's timer tens of milliseconds after the model's: a last line at
            # the call's return keeps the script running until then
            body.append(f"{returns:.6f} `true`")
        return "\n".join(head + [""] + body) + "\n"


def export(program: Program, process: str | None = None,
           base: KernelProfile | None = None) -> str:
    """The packetdrill script of one process of a program."""
    proc = process or default_process(program)
    if proc not in program.processes:
        raise ExportError(f"program {program.name} has no process {proc!r}; its processes are "
                          f"{', '.join(program.processes)}")
    forks = {s.args[0]: s.process for s in program.steps if s.call in ("fork", "thread")}
    if proc in forks or proc in forks.values():
        raise ExportError(f"program {program.name} cannot be written as a packetdrill script "
                          f"for process {proc}: fork() and thread() have no packetdrill spelling (a script is "
                          "one process), and its sockets are shared with "
                          f"{forks.get(proc) or ', '.join(c for c, p in forks.items() if p == proc)}")
    profile = packetdrill_profile(base or KernelProfile.named("reference"))
    # the script's peer answers between the script's lines, never inside a call: the model
    # runs without lo's deliveries inside send() and recv() (Kernel._xmit)
    world = SimWorld(profile, 0, program.faults, program.sysctls)
    world.kernel.lo_fate = None
    # and its packets come in through tun as plain skbs, whatever their size: no gso_size
    world.kernel.gso_rx = False
    world.kernel.rx_shared = False  # nor clones of the sender's: tcp_try_coalesce() takes them
    world.kernel.rtx_gso_psh = False  # and a resent skb of several MSS has no PSH over tun
    world.kernel.rx_tun = True  # each a new skb of tun's, with its own truesize
    world.tun_peer = True  # one at a time: a blocked call returns between two of them
    trace = run_model(program, profile, world=world)
    return _Writer(program, trace, proc).write()
