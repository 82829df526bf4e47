"""Running a packetdrill script against the model: no kernel, no root, no tun device.

The model plays the local kernel, as the kernel under test does in packetdrill.  Inbound
packets (`<`) are injected at their script times in virtual time; outbound packets (`>`) and
call results are checked the way packetdrill checks them (run_packet.c, run_system_call.c):

- Sequence numbers are relative to each side's ISN in the script: the remote ISN is the
  seq of the script's inbound SYN (packetdrill injects it as written), the local one is
  learned from the first outbound SYN or SYN-ACK (script value against the kernel's).
- An outbound packet must match in every flag (PSH and FIN included), seq, ack, window when
  the script gives one, urgent pointer, options in order with their values (`<...>` skips
  them; TS val is not compared, as packetdrill's default tcp_ts_tick_usecs=0 does not), and
  payload length; then its time: within tolerance_usecs (4 ms) or tolerance_percent (12.5 %)
  of the time since the previous event, whichever is larger.
- An inbound TS ecr is mapped to the TS val the model actually sent for that script value.
- A relative time counts from when the previous event ended, or from the previous inbound
  packet's script time for consecutive inbound packets (adjust_relative_event_times()).
- A call with `...END` blocks on its own thread: later events go on, and its result and
  return time are checked when it returns.  A call without one runs on the main thread: if
  it blocks, time passes (timers fire, nothing is injected) until it returns.

Packets the model sends after the last event are reported, not failed: packetdrill does not
look at them either.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass, field

from ..errors import TcpsimError
from ..model import Kernel, KernelProfile, Seg
from ..model.kernel import POLLERR, POLLHUP
from ..scenario.calls import SOCKOPTS, SYMBOLS, errno_name
from .syntax import Call, Code, Command, Ellipsis_, Event, Or, Packet, Script, \
    Struct, Syscall, Word

LOCAL_IP = "192.168.0.2"  # packetdrill picks one in 192.168.0.0/16 (not .1, the gateway)
REMOTE_IP = "192.0.2.1"  # TEST-NET-1, packetdrill's default remote
BIND_PORT = CONNECT_PORT = 8080  # config.c: live_bind_port, live_connect_port
REMOTE_PORT = 40000  # the remote end of an inbound connection (packetdrill: an ephemeral port)
TOLERANCE_USECS = 4000
TOLERANCE_PERCENT = 12.5
SNIFF_MARGIN = 2.0  # an expected packet is waited for this long after its time
MAX_BLOCK = 300.0  # a call on the main thread that blocks longer than this blocks forever
SYN, FIN, RST, PSH, ACK, URG, ECE, CWR = 0x02, 0x01, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_LETTERS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, ".": ACK, "U": URG, "E": ECE, "W": CWR}
O_RDWR, O_NONBLOCK = 0o2, 0o4000
POLLNVAL = 0x20

# packetdrill's script options that change what a run checks; others are refused
OPTIONS = {"tolerance_usecs", "tolerance_percent", "mtu", "tcp_ts_ecr_scaled", "bind_port",
           "connect_port", "ip_version", "verbose", "v", "tcp_ts_tick_usecs"}


class Unsupported(TcpsimError):
    """The script needs something the model does not do (a shell command, another protocol)."""

    exit_code = 5


@dataclass
class Outcome:
    passed: bool
    line: int | None = None  # the failing line
    message: str = ""
    steps: list[str] = field(default_factory=list)  # what happened, event by event
    leftover: list[str] = field(default_factory=list)  # packets sent after the last event


class Failure(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def flag_bits(text: str) -> int:
    bits = 0
    for ch in text:
        bits |= _LETTERS.get(ch, 0)
    return bits


def flag_letters(bits: int) -> str:
    """packetdrill's spelling: S. for SYN-ACK, P. for PSH-ACK, . for a bare ACK."""
    out = "".join(ch for ch, b in (("F", FIN), ("S", SYN), ("R", RST), ("P", PSH), ("U", URG),
                                   ("E", ECE), ("W", CWR)) if bits & b)
    return out + ("." if bits & ACK else "") if bits else "-"


def symbol(name: str) -> int:
    """The value of a C symbol a script may use (Linux x86_64)."""
    for group in SYMBOLS.values():
        if name in group:
            return group[name]
    if name in SOCKOPTS:
        return SOCKOPTS[name].number
    extra = {"O_RDWR": O_RDWR, "PF_INET": 2, "PF_INET6": 10, "IPPROTO_IP": 0, "SOL_TCP": 6,
             "POLLNVAL": POLLNVAL}  # packetdrill's scripts use these; programs do not
    if name in extra:
        return extra[name]
    if name.startswith("E") and hasattr(E, name):
        return getattr(E, name)
    raise KeyError(name)


class _Fd:
    def __init__(self, sid: int, nonblocking: bool = False):
        self.sid, self.nonblocking = sid, nonblocking


class PktRun:
    """One run of one script against a fresh model kernel."""

    def __init__(self, script: Script, profile: KernelProfile, seed: int = 0):
        self.script = script
        opts = script.options
        bad = sorted(set(opts) - OPTIONS)
        if bad:
            raise Unsupported(f"{script.path}: the script option --{bad[0]} is not modelled by "
                              "tcpsim")
        if opts.get("ip_version", "ipv4") != "ipv4":
            raise Unsupported(f"{script.path}: --ip_version={opts['ip_version']}: tcpsim runs "
                              "packetdrill scripts over IPv4 only")
        if "mtu" in opts:
            profile = KernelProfile(profile.name + f"+mtu{opts['mtu']}", profile.release,
                                    int(opts["mtu"]), profile.hz, profile.sysctls)
        self.tolerance = float(opts.get("tolerance_usecs", TOLERANCE_USECS)) / 1e6
        self.percent = float(opts.get("tolerance_percent", TOLERANCE_PERCENT))
        self.ecr_scaled = "tcp_ts_ecr_scaled" in opts
        self.bind_port = int(opts.get("bind_port", BIND_PORT))
        self.connect_port = int(opts.get("connect_port", CONNECT_PORT))
        self.profile = profile
        self.kernel = Kernel(profile, seed, addresses=(LOCAL_IP, "::1"))
        self.fds: dict[int, _Fd] = {}
        self.sniffed: list[tuple[float, Seg]] = []  # outbound, not yet matched
        self.local: tuple | None = None  # the connection's endpoints, when known
        self.remote: tuple | None = None
        self.local_isn_script = self.local_isn_live = 0
        self.remote_isn = 0
        self.ts_map: dict[int, int] = {}  # script TS val -> the model's
        self.first_ts: tuple[int, int] | None = None  # (script, live): for a scaled ecr
        self.now = 0.0  # virtual seconds since the script's time 0
        self.pending: tuple[Event, object] | None = None  # a blocking call on its thread
        self.steps: list[str] = []

    # -- the clock and the wire ------------------------------------------------------------
    def _collect(self) -> None:
        for seg in self.kernel.outbox:
            if seg.dst[0] in self.kernel.addresses:
                continue  # to itself: not on the tun device (the scripts have none)
            self.sniffed.append((self.kernel.now, seg))
        self.kernel.outbox.clear()

    def _advance(self, t: float, until=None) -> bool:
        """Let time run to t, firing timers (and finishing a blocked call) on the way; stop
        early, returning True, when until() becomes true."""
        while True:
            self._try_pending()
            if until is not None and until():
                return True
            nxt = self.kernel.next_timer()
            wake = getattr(self.pending[1], "deadline", None) if self.pending else None
            if wake is not None and wake <= t and (nxt is None or wake < nxt):
                self.kernel.now = max(self.kernel.now, wake)  # a poll() timeout runs out
                continue
            if nxt is None or nxt > t:
                break
            self.kernel.handle_timer(max(nxt, self.kernel.now))
            self._collect()
        self.kernel.now = max(self.kernel.now, t)
        self._try_pending()
        return until is not None and until()

    # -- events ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        last: Event | None = None
        last_time = 0.0
        for ev in self.script.events:
            if last is None and (ev.time.kind != "absolute" or ev.time.start != 0):
                return Outcome(False, ev.line, "the first event must be at time 0", self.steps)
            start, end = self._when(ev, last)
            if ev.time.kind in ("absolute", "absolute range") and last is not None and \
                    start < last_time - 1e-9 and last.time.kind.startswith("absolute"):
                return Outcome(False, ev.line, f"time goes backward in the script, from "
                               f"{last_time:.6f} s to {start:.6f} s", self.steps)
            try:
                self._event(ev, start, end, last_time)
            except Failure as f:
                return Outcome(False, f.line, f.message, self.steps)
            last, last_time = ev, start
        try:
            if self.pending is not None:  # syscalls_free(): wait a second for it
                self._advance(self.now + 1.0, until=lambda: self.pending is None)
                if self.pending is not None:
                    ev = self.pending[0]
                    raise Failure(ev.line, f"{ev.action.name}() is still blocked when the "
                                           "script ends")
        except Failure as f:
            return Outcome(False, f.line, f.message, self.steps)
        self._collect()
        leftover = [self._describe(t, s) for t, s in self.sniffed]
        return Outcome(True, None, "", self.steps, leftover)

    def _when(self, ev: Event, last: Event | None) -> tuple[float, float | None]:
        """The event's script time (and range end) as packetdrill computes it."""
        tm = ev.time
        if tm.kind in ("absolute", "absolute range"):
            return tm.start, tm.end
        if tm.kind == "any":
            return self.now, None
        inbound = lambda e: isinstance(e.action, Packet) and e.action.direction == "<"  # noqa: E731
        offset = last.resolved if last is not None and inbound(last) and inbound(ev) else self.now
        return offset + tm.start, (offset + tm.end if tm.end is not None else None)

    def _event(self, ev: Event, start: float, end: float | None, last_time: float) -> None:
        ev.resolved = start
        a = ev.action
        if isinstance(a, Packet):
            if a.extra:
                raise Unsupported(f"{self.script.path}:{ev.line}: {a.extra}: IP-level details "
                                  "of packets are not modelled by tcpsim")
            if a.direction == "<":
                self._advance(start)
                if self.now > start:
                    self._check_time(ev, "inbound packet", start, end, self.now, last_time)
                self.now = max(self.now, start)
                self._inject(ev, a)
            else:
                self._expect(ev, a, start, end, last_time)
        elif isinstance(a, Syscall):
            self._advance(start)
            if self.now > start:  # the main thread was held up past the event's time
                self._check_time(ev, "system call", start, end, self.now, last_time)
            self.now = max(self.now, start)
            self._syscall(ev, a)
        elif isinstance(a, Command):
            self._command(ev, a)
        elif isinstance(a, Code):
            raise Unsupported(f"{self.script.path}:{ev.line}: a %{{ python }}% block: tcpsim does "
                              "not run the Python code of packetdrill scripts")

    def _command(self, ev: Event, a: Command) -> None:
        """`sysctl -q net.ipv4.X=Y` sets the model's profile; other commands are refused."""
        words = a.text.replace(";", " ").split()
        if words and words[0] == "sysctl":
            sets = [w for w in words[1:] if not w.startswith("-")]
            if sets and all("=" in w for w in sets):
                changes = {}
                for w in sets:
                    k, v = w.split("=", 1)
                    changes[k] = v.strip("\"'")
                self.profile = self.profile.with_sysctls(changes)
                self.kernel.profile = self.profile
                self.steps.append(f"{ev.line}: sysctl {' '.join(sets)}")
                return
        raise Unsupported(f"{self.script.path}:{ev.line}: the shell command `{a.text}`: tcpsim "
                          "runs no commands (only `sysctl -q net.ipv4.KEY=VALUE` is understood)")

    # -- inbound -----------------------------------------------------------------------------
    def _inject(self, ev: Event, p: Packet) -> None:
        if self.local is None:
            raise Failure(ev.line, "an inbound packet, but no socket is listening or connecting "
                                   "yet (bind()/listen() or connect() first)")
        bits = flag_bits(p.flags)
        if bits & SYN and not bits & ACK:
            self.remote_isn = p.seq  # packetdrill injects the remote ISN as the script has it
        local_offset = (self.local_isn_live - self.local_isn_script) & 0xFFFFFFFF
        ack = ((p.ack or 0) + local_offset) & 0xFFFFFFFF if bits & ACK else (p.ack or 0)
        options = []
        for name, value in p.options or []:
            if name == "TS" and bits & ACK:
                value = [value[0], self._live_ecr(ev, value[1])]
            elif name == "sack":
                value = [[(l + local_offset) & 0xFFFFFFFF, (r + local_offset) & 0xFFFFFFFF]
                         for l, r in value]
            options.append([name, value])
        seg = Seg(self.remote, self.local, bits, p.seq & 0xFFFFFFFF, ack, p.win or 0, options,
                  bytes(p.length))
        self.steps.append(f"{ev.line}: {self.now:.6f} < {flag_letters(bits)} "
                          f"{p.seq}:{p.end}({p.length})" + (f" ack {p.ack}" if bits & ACK else ""))
        self.kernel.now = max(self.kernel.now, self.now)
        self.kernel.receive(seg)
        self._collect()
        self._try_pending()

    def _live_ecr(self, ev: Event, ecr: int) -> int:
        if ecr in self.ts_map:
            return self.ts_map[ecr]
        if self.ecr_scaled and self.first_ts is not None:
            return (ecr - self.first_ts[0] + self.first_ts[1]) & 0xFFFFFFFF
        raise Failure(ev.line, f"unable to infer the live TS ecr for script TS ecr {ecr}: no "
                               "outbound packet of the script had that TS val")

    # -- outbound ----------------------------------------------------------------------------
    def _expect(self, ev: Event, p: Packet, start: float, end: float | None,
                last_time: float) -> None:
        deadline = (end if end is not None else start) + SNIFF_MARGIN
        if ev.time.kind == "any":
            deadline = self.now + MAX_BLOCK
        if not self._advance(deadline, until=lambda: bool(self.sniffed)):
            raise Failure(ev.line, f"expected an outbound {p.flags or '-'} packet at "
                                   f"{start:.6f} s; the model sent nothing by {deadline:.6f} s")
        t, seg = self.sniffed.pop(0)
        self.now = max(self.now, t)
        bits = seg.flags
        if bits & SYN:  # the kernel's ISN, against the script's
            self.local_isn_script, self.local_isn_live = p.seq, seg.seq
            if self.local is None or seg.src != self.local:
                self.local, self.remote = seg.src, seg.dst
        local_offset = (self.local_isn_script - self.local_isn_live) & 0xFFFFFFFF
        seq = (seg.seq + local_offset) & 0xFFFFFFFF
        ack = seg.ack
        actual = (f"{flag_letters(bits)} {seq}:{(seq + len(seg.payload)) & 0xFFFFFFFF}"
                  f"({len(seg.payload)})" + (f" ack {ack}" if bits & ACK else "") +
                  f" win {seg.win}")
        self.steps.append(f"{ev.line}: {t:.6f} > {actual}")
        want = flag_bits(p.flags)

        def fail(what: str) -> None:
            raise Failure(ev.line, f"{what}; the script expects {p.flags or '-'} "
                                   f"{p.seq}:{p.end}({p.length})"
                                   + (f" ack {p.ack}" if p.ack is not None else "")
                                   + f", the model sent {actual}")

        for name, bit in (("FIN", FIN), ("SYN", SYN), ("RST", RST), ("PSH", PSH), ("ACK", ACK),
                          ("URG", URG), ("ECE", ECE), ("CWR", CWR)):
            if (want & bit) != (bits & bit):
                fail(f"bad outbound TCP flags ({name} {'missing' if want & bit else 'not expected'})")
        if seq != p.seq & 0xFFFFFFFF:
            fail(f"bad outbound sequence number (expected {p.seq}, got {seq})")
        if len(seg.payload) != p.length:
            fail(f"bad outbound payload length (expected {p.length}, got {len(seg.payload)})")
        if (want & ACK) and p.ack is not None and ack != (p.ack & 0xFFFFFFFF):
            fail(f"bad outbound ack number (expected {p.ack}, got {ack})")
        if p.win is not None and seg.win != p.win:
            fail(f"bad outbound window (expected {p.win}, got {seg.win})")
        if p.urg is not None and p.urg != 0:
            fail(f"bad outbound urgent pointer (expected {p.urg}, got 0)")
        self._check_options(ev, p, seg, fail)
        self._check_time(ev, "outbound packet", start, end, t, last_time)

    def _check_options(self, ev: Event, p: Packet, seg: Seg, fail) -> None:
        actual = [[n, v] for n, v in seg.options]
        for name, value in actual:  # remember the TS vals: inbound ecrs are mapped with them
            if name == "TS":
                script_val = next((v[0] for n, v in (p.options or []) if n == "TS"), None)
                if script_val is not None:
                    self.ts_map[script_val] = value[0]
                    if self.first_ts is None:
                        self.first_ts = (script_val, value[0])
        if p.options is None:
            return
        text = lambda opts: ",".join(n if v is None else (  # noqa: E731
            f"TS val {v[0]} ecr {v[1]}" if n == "TS" else
            f"sack {' '.join(f'{a}:{b}' for a, b in v)}" if n == "sack" else f"{n} {v}")
            for n, v in opts) or "none"
        if [n for n, _ in actual] != [n for n, _ in p.options]:
            fail(f"bad outbound TCP options (expected <{text(p.options)}>, got <{text(actual)}>)")
        for (name, want), (_, got) in zip(p.options, actual):
            if name in ("TS", "nop", "eol"):
                continue  # TS val is not compared (tcp_ts_tick_usecs=0), nor the ecr
            if got != want:  # (SACK blocks: the remote ISN is the script's, no mapping)
                fail(f"bad value in outbound TCP option {name} (expected "
                     f"<{text(p.options)}>, got <{text(actual)}>)")

    def _check_time(self, ev: Event, what: str, start: float, end: float | None, actual: float,
                    last_time: float) -> None:
        if ev.time.kind == "any":
            return
        tolerance = max(self.tolerance, self.percent / 100 * (start - last_time))
        hi = end if end is not None else start
        if actual < start - tolerance - 1e-9 or actual > hi + tolerance + 1e-9:
            expected = f"{start:.6f}" if end is None else f"{start:.6f}~{end:.6f}"
            raise Failure(ev.line, f"timing error: expected {what} at {expected} s (tolerance "
                                   f"{tolerance * 1e3:g} ms) but it happened at {actual:.6f} s")

    def _describe(self, t: float, seg: Seg) -> str:
        off = (self.local_isn_script - self.local_isn_live) & 0xFFFFFFFF
        seq = (seg.seq + off) & 0xFFFFFFFF
        return (f"{t:.6f} > {flag_letters(seg.flags)} {seq}:{(seq + len(seg.payload)) & 0xFFFFFFFF}"
                f"({len(seg.payload)})" + (f" ack {seg.ack}" if seg.flags & ACK else "")
                + f" win {seg.win}")

    # -- system calls ------------------------------------------------------------------------
    def _try_pending(self) -> None:
        if self.pending is None:
            return
        ev, attempt = self.pending
        got = attempt()
        if got is None:
            return
        self.pending = None
        self._collect()
        self._check_result(ev, ev.action, got)
        if ev.action.end is not None:
            offset = ev.resolved - ev.time.start if ev.time.kind.startswith("relative") else 0.0
            self._check_time(ev, "system call return", offset + ev.action.end, None,
                             self.kernel.now, ev.resolved)

    def _syscall(self, ev: Event, c: Syscall) -> None:
        handler = getattr(self, "_sys_" + c.name, None)
        if handler is None:
            raise Unsupported(f"{self.script.path}:{ev.line}: {c.name}() is not modelled by "
                              "tcpsim")
        if self.pending is not None and c.end is not None:
            self._advance(self.now + 1.0, until=lambda: self.pending is None)
            if self.pending is not None:
                raise Failure(ev.line, "a blocking system call while another blocking system "
                                       "call is still in progress")
        self.kernel.now = max(self.kernel.now, self.now)
        try:
            got = handler(ev, c)
        except OSError as e:
            got = (-1, errno_name(e.errno))
        self._collect()
        if callable(got):  # it would block
            if c.end is not None:
                self.steps.append(f"{ev.line}: {self.now:.6f} {c.name}() blocks")
                self.pending = (ev, got)
                self._try_pending()
                return
            got = self._block(ev, c, got)
            self._collect()
            self.now = max(self.now, self.kernel.now)
        self._check_result(ev, c, got)

    def _block(self, ev: Event, c: Syscall, attempt) -> tuple:
        """A call on the main thread that blocks: time passes (timers fire, nothing is
        injected) until it returns, as packetdrill's main thread waits in the call."""
        result: list = []

        def done() -> bool:
            r = attempt()
            if r is not None:
                result.append(r)
            return bool(result)
        deadline = getattr(attempt, "deadline", None)
        limit = self.now + MAX_BLOCK if deadline is None else min(deadline, self.now + MAX_BLOCK)
        if not self._advance(limit, until=done) and not (deadline is not None and done()):
            raise Failure(ev.line, f"{c.name}() blocks and nothing will wake it: packetdrill "
                                   "would hang here (give the call a `...END` time, or make "
                                   "the socket non-blocking)")
        return result[0]

    def _check_result(self, ev: Event, c: Syscall, got: tuple) -> None:
        ret, err = got[0], got[1]
        extra = got[2] if len(got) > 2 else None
        self.steps.append(f"{ev.line}: {self.kernel.now:.6f} {c.name}() = {ret}"
                          + (f" {err}" if err else ""))
        want = c.result
        if isinstance(want, Ellipsis_):
            return
        try:
            want_value = self._value(want)
        except KeyError as e:
            raise Failure(ev.line, f"the symbol {e.args[0]} is unknown to tcpsim") from None
        if want_value != ret or (c.errno or None) != (err or None):
            said = f"{want_value}" + (f" {c.errno}" if c.errno else "")
            raise Failure(ev.line, f"{c.name}() returned {ret}" + (f" {err}" if err else "")
                          + f"; the script expects {said}")
        if extra is not None:
            extra(ev)

    def _value(self, x) -> int:
        if isinstance(x, int):
            return x
        if isinstance(x, Word):
            return symbol(x.name)
        if isinstance(x, Or):
            v = 0
            for part in x.parts:
                v |= self._value(part)
            return v
        if isinstance(x, list) and len(x) == 1:
            return self._value(x[0])
        if isinstance(x, Call) and x.name in ("htons", "htonl") and x.args:
            return self._value(x.args[0])
        raise KeyError(str(x))

    def _fd(self, ev: Event, arg) -> _Fd:
        try:
            fd = self._value(arg)
        except KeyError:
            raise Failure(ev.line, "expected a file descriptor number") from None
        if fd not in self.fds:
            raise OSError(E.EBADF, "EBADF")
        return self.fds[fd]

    def _new_fd(self, sid: int, nonblocking: bool = False) -> int:
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = _Fd(sid, nonblocking)
        return fd

    def _args(self, ev: Event, c: Syscall, n: int) -> list:
        if len(c.args) != n:
            raise Failure(ev.line, f"{c.name}() takes {n} arguments here, not {len(c.args)}")
        return c.args

    def _sockaddr(self, ev: Event, arg, default: tuple) -> tuple:
        if isinstance(arg, Ellipsis_):
            return default
        if isinstance(arg, Struct):
            port = arg.fields.get("sin_port")
            addr = arg.fields.get("sin_addr")
            host = default[0]
            if isinstance(addr, Call) and addr.name == "inet_addr" and addr.args:
                host = str(addr.args[0])
                if host not in ("0.0.0.0", LOCAL_IP, REMOTE_IP, "127.0.0.1"):
                    host = REMOTE_IP if default[0] == REMOTE_IP else LOCAL_IP
            return host, self._value(port) if port is not None else default[1]
        raise Failure(ev.line, "expected ... or a {sa_family=..., sin_port=..., sin_addr=...} "
                               "address")

    def _sys_socket(self, ev, c):
        family, kind, proto = self._args(ev, c, 3)
        fam = 2 if isinstance(family, Ellipsis_) else self._value(family)
        if fam != 2:
            raise Unsupported(f"{self.script.path}:{ev.line}: socket() of family {fam}: tcpsim "
                              "runs packetdrill scripts over IPv4 only")
        flags = self._value(kind)
        if flags & 0xF != 1:
            raise Unsupported(f"{self.script.path}:{ev.line}: a socket that is not SOCK_STREAM")
        sid = self.kernel.socket(2)
        return self._new_fd(sid, bool(flags & O_NONBLOCK)), None

    def _sys_bind(self, ev, c):
        fd, addr, _len = self._args(ev, c, 3)
        f = self._fd(ev, fd)
        local = self._sockaddr(ev, addr, (LOCAL_IP, self.bind_port))
        self.kernel.bind(f.sid, local)
        return 0, None

    def _sys_listen(self, ev, c):
        fd, backlog = self._args(ev, c, 2)
        f = self._fd(ev, fd)
        self.kernel.listen(f.sid, self._value(backlog))
        sk = self.kernel.sock(f.sid)
        host = LOCAL_IP if sk.local[0] == "0.0.0.0" else sk.local[0]
        self.local, self.remote = (host, sk.local[1]), (REMOTE_IP, REMOTE_PORT)
        return 0, None

    def _sys_accept(self, ev, c):
        fd, _addr, _len = self._args(ev, c, 3)
        f = self._fd(ev, fd)

        def attempt():
            try:
                child = self.kernel.accept(f.sid)
            except BlockingIOError:
                return None
            except OSError as e:
                return -1, errno_name(e.errno)
            return self._new_fd(child), None
        got = attempt()
        if got is None and not f.nonblocking:
            return attempt
        return got if got is not None else (-1, "EAGAIN")

    def _sys_connect(self, ev, c):
        fd, addr, _len = self._args(ev, c, 3)
        f = self._fd(ev, fd)
        remote = self._sockaddr(ev, addr, (REMOTE_IP, self.connect_port))
        err = self.kernel.connect(f.sid, remote)
        sk = self.kernel.sock(f.sid)
        if sk.local is not None and sk.remote is not None:
            self.local, self.remote = sk.local, sk.remote
        if err == E.EINPROGRESS and not f.nonblocking:
            def attempt():
                e = self.kernel.connect(f.sid, remote)
                if e == E.EALREADY:
                    return None
                return (0, None) if e in (0, E.EISCONN) else (-1, errno_name(e))
            return attempt
        return (0, None) if err == 0 else (-1, errno_name(err))

    def _data_call(self, ev, c, fd, count, flags, sending: bool):
        f = self._fd(ev, fd)
        n = self._value(count)
        fl = 0 if flags is None else self._value(flags)
        nonblocking = f.nonblocking or bool(fl & 0x40)

        def attempt():
            try:
                if sending:
                    return self.kernel.send(f.sid, bytes(n), fl), None
                return len(self.kernel.recv(f.sid, n, fl)), None
            except BlockingIOError:
                return None
            except OSError as e:
                return -1, errno_name(e.errno)
        got = attempt()
        if got is None and not nonblocking:
            return attempt
        return got if got is not None else (-1, "EAGAIN")

    def _sys_write(self, ev, c):
        fd, _buf, count = self._args(ev, c, 3)
        return self._data_call(ev, c, fd, count, None, True)

    def _sys_read(self, ev, c):
        fd, _buf, count = self._args(ev, c, 3)
        return self._data_call(ev, c, fd, count, None, False)

    def _sys_send(self, ev, c):
        fd, _buf, count, flags = self._args(ev, c, 4)
        return self._data_call(ev, c, fd, count, flags, True)

    def _sys_recv(self, ev, c):
        fd, _buf, count, flags = self._args(ev, c, 4)
        return self._data_call(ev, c, fd, count, flags, False)

    def _sys_sendto(self, ev, c):
        fd, _buf, count, flags, _addr, _len = self._args(ev, c, 6)
        return self._data_call(ev, c, fd, count, flags, True)

    def _sys_recvfrom(self, ev, c):
        fd, _buf, count, flags, _addr, _len = self._args(ev, c, 6)
        return self._data_call(ev, c, fd, count, flags, False)

    def _sys_close(self, ev, c):
        (fd,) = self._args(ev, c, 1)
        f = self._fd(ev, fd)
        self.kernel.close(f.sid)
        del self.fds[self._value(fd)]
        return 0, None

    def _sys_shutdown(self, ev, c):
        fd, how = self._args(ev, c, 2)
        f = self._fd(ev, fd)
        self.kernel.shutdown(f.sid, self._value(how))
        return 0, None

    def _sockopt(self, ev, level, name) -> tuple[int, int, str]:
        lvl = self._value(level)
        if not isinstance(name, Word) or name.name not in SOCKOPTS:
            raise Unsupported(f"{self.script.path}:{ev.line}: the socket option {name} is not "
                              "modelled by tcpsim")
        o = SOCKOPTS[name.name]
        return lvl, o.number, o.value

    def _sys_setsockopt(self, ev, c):
        fd, level, name, value, _len = self._args(ev, c, 5)
        f = self._fd(ev, fd)
        lvl, opt, shape = self._sockopt(ev, level, name)
        if shape == "linger":
            if not isinstance(value, Struct):
                raise Failure(ev.line, "SO_LINGER takes {onoff=N, linger=N}")
            import struct as _struct
            v = _struct.pack("ii", self._value(value.fields.get("onoff", 0)),
                             self._value(value.fields.get("linger", 0)))
        else:
            v = self._value(value)
        self.kernel.setsockopt(f.sid, lvl, opt, v)
        return 0, None

    def _sys_getsockopt(self, ev, c):
        fd, level, name, value, _len = self._args(ev, c, 5)
        f = self._fd(ev, fd)
        lvl, opt, shape = self._sockopt(ev, level, name)
        got = self.kernel.getsockopt(f.sid, lvl, opt)

        def check(event):
            if isinstance(value, Ellipsis_) or shape == "linger":
                return
            want = self._value(value)
            if want != got:
                raise Failure(event.line, f"getsockopt({name.name}) gave {got}; the script "
                                          f"expects {want}")
        return 0, None, check

    def _sys_fcntl(self, ev, c):
        if len(c.args) not in (2, 3):
            raise Failure(ev.line, "fcntl() takes 2 or 3 arguments")
        f = self._fd(ev, c.args[0])
        cmd = self._value(c.args[1])
        if cmd == 3:  # F_GETFL
            return O_RDWR | (O_NONBLOCK if f.nonblocking else 0), None
        if cmd == 4 and len(c.args) == 3:  # F_SETFL
            f.nonblocking = bool(self._value(c.args[2]) & O_NONBLOCK)
            return 0, None
        raise Unsupported(f"{self.script.path}:{ev.line}: fcntl() command {cmd} is not modelled")

    def _sys_poll(self, ev, c):
        fds, nfds, timeout = self._args(ev, c, 3)
        if not isinstance(fds, list) or not all(isinstance(x, Struct) for x in fds):
            raise Failure(ev.line, "poll() takes [{fd=N, events=..., revents=...}, ...]")
        wait = self._value(timeout)
        entries = [(x, self._value(x.fields["fd"]), self._value(x.fields.get("events", 0)))
                   for x in fds]
        deadline = self.now + wait / 1000 if wait >= 0 else None

        def revents():
            out = []
            for _, fd, events in entries:
                f = self.fds.get(fd)
                out.append(POLLNVAL if f is None else
                           self.kernel.poll(f.sid) & (events | POLLERR | POLLHUP))
            return out

        def finish(got):
            def check(event):
                for (x, fd, _), r in zip(entries, got):
                    want = x.fields.get("revents")
                    if want is not None and not isinstance(want, Ellipsis_) and \
                            self._value(want) != r:
                        raise Failure(event.line, f"poll() gave fd {fd} revents {r:#x}; the "
                                                  f"script expects {self._value(want):#x}")
            return sum(1 for r in got if r), None, check

        def attempt():
            got = revents()
            if any(got) or (deadline is not None and self.kernel.now >= deadline - 1e-12):
                return finish(got)
            return None
        got = attempt()
        if got is not None or wait == 0:
            return got if got is not None else finish(revents())
        attempt.deadline = deadline  # a timeout: it returns then at the latest
        return attempt


def run_script(script: Script, profile: KernelProfile, seed: int = 0) -> Outcome:
    return PktRun(script, profile, seed).run()


def packetdrill_profile(base: KernelProfile) -> KernelProfile:
    """packetdrill's environment: a tun device of MTU 1500 and the sysctls its defaults.sh
    sets (gtests/net/common/defaults.sh), e.g. tcp_rmem's 15 MB maximum: window scale 8."""
    return KernelProfile(f"{base.name}+packetdrill", base.release, 1500, base.hz, {**base.sysctls, **{
        "net.ipv4.tcp_rmem": f"4096 540000 {15 * 1024 * 1024}",
        "net.ipv4.tcp_wmem": f"4096 {256 * 1024} 4194304",
        "net.ipv4.tcp_timestamps": "1", "net.ipv4.tcp_sack": "1", "net.ipv4.tcp_dsack": "1",
        "net.ipv4.tcp_syn_retries": "5", "net.ipv4.tcp_synack_retries": "5",
        "net.ipv4.tcp_window_scaling": "1", "net.ipv4.tcp_ecn": "0",
    }})
