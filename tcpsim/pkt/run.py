"""Running a packetdrill script against the model: no kernel, no root, no tun device (and,
through the same runner, against the real kernel over a tun device: lab/pktkernel.py).

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
import ipaddress
import select
import socket as _socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TcpsimError
from ..model import Kernel, KernelProfile, Seg
from ..model import eventpoll as EP
from ..model.tcp_ipv4_err import MIB_COUNTERS, IcmpNotModelled
from ..model.kernel import POLLERR, POLLHUP, POLLOUT
from ..scenario.calls import SOCKOPTS, SYMBOLS, errno_name
from . import code as pcode
from . import shell
from .syntax import ELLIPSIS, Call, Code, Command, Ellipsis_, Event, Or, Packet, Script, ScriptError, \
    Struct, Syscall, Word

LOCAL_IP = "192.168.0.2"  # packetdrill picks one in 192.168.0.0/16 (not .1, the gateway)
REMOTE_IP = "192.0.2.1"  # TEST-NET-1, packetdrill's default remote
# --ip_version=ipv6 (config.c set_ipv6_defaults()): a unique local address of fd3d:fa7b:d17d::/48
# (packetdrill picks one at random there; tcpsim the ::2, as the .2 of IPv4) and the
# documentation prefix 2001:db8::/32 for the remote end
LOCAL_IP6, REMOTE_IP6 = "fd3d:fa7b:d17d::2", "2001:db8::1"
# config.c: the flavours -- the socket's domain, and the family of the packets on the wire
IP_VERSIONS = {"ipv4": (2, 4), "ipv4-mapped-ipv6": (10, 4), "ipv6": (10, 6)}
BIND_PORT = CONNECT_PORT = 8080  # config.c: live_bind_port, live_connect_port
REMOTE_PORT = 40000  # the remote end of an inbound connection (packetdrill: an ephemeral port)
TOLERANCE_USECS = 4000
TOLERANCE_PERCENT = 12.5
SNIFF_MARGIN = 2.0  # an expected packet is waited for this long after its time
MAX_BLOCK = 300.0  # a call on the main thread that blocks longer than this blocks forever
MAX_TIMERS = 200_000  # timer firings one run may take: more is a script that idles for ages
MAX_WRITE = 64 * 1024 * 1024  # the largest write() the model takes (its buffers are real bytes)
SYN, FIN, RST, PSH, ACK, URG, ECE, CWR = 0x02, 0x01, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_LETTERS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, ".": ACK, "U": URG, "E": ECE, "W": CWR}
O_RDWR, O_NONBLOCK = 0o2, 0o4000
FD_CALLS = {"socket", "accept"}  # end_syscall(CHECK_FD): they return a new fd
MSG_FASTOPEN = 0x20000000
MSG_EOR = 0x80  # include/linux/socket.h
# TCP Fast Open's socket options (include/uapi/linux/tcp.h), run on the kernel; the model
# has TCP_FASTOPEN only (model/tcp_fastopen.py).  do_tcp_setsockopt() TCP_FASTOPEN: the
# listener's queue length;
# TCP_FASTOPEN_CONNECT: connect() defers the SYN to the first write; TCP_FASTOPEN_KEY: the
# listener's cookie key, 16 or 32 bytes; TCP_FASTOPEN_NO_COOKIE: SYN data without a cookie
FASTOPEN_SOCKOPTS = {"TCP_FASTOPEN": 23, "TCP_FASTOPEN_CONNECT": 30, "TCP_FASTOPEN_KEY": 33,
                     "TCP_FASTOPEN_NO_COOKIE": 34}
# Socket options run on the kernel only (the model has none of them: "unsupported" there, by
# name): SO_ZEROCOPY (sock_setsockopt(): MSG_ZEROCOPY sends then pin the user's pages and
# report their completion on the error queue, sock_zerocopy_callback()), SO_TIMESTAMPING
# (SO_TIMESTAMPING_OLD on x86_64: sock_set_timestamping(), the SOF_TIMESTAMPING_* flags),
# TCP_INQ (do_tcp_setsockopt(): recvmsg() adds a TCP_CM_INQ cmsg, tcp_recvmsg()), SO_MARK
# (sk_mark, set on the socket's packets; the tun device shows none of it), and IPv4's
# (do_ip_setsockopt()): IP_TOS (the TOS byte of the socket's packets, its ECN bits kept
# by TCP), IP_MTU_DISCOVER (the DF bit's policy, IP_PMTUDISC_*), IP_FREEBIND
KERNEL_SOCKOPTS = {"SO_ZEROCOPY": (1, 60), "SO_TIMESTAMPING": (1, 37), "TCP_INQ": (6, 36),
                   "SO_MARK": (1, 36), "IP_TOS": (0, 1), "IP_MTU_DISCOVER": (0, 10),
                   "IP_FREEBIND": (0, 15)}
# the cmsgs recvmsg() compares (run_system_call.c cmsg_expect_eq()): ip_recv_error()'s and
# ipv6_recv_error()'s sock_extended_err (followed by the offender's address), and
# __sock_recv_timestamp()'s scm_timestamping (three timespecs)
SOL_IP, SOL_IPV6, SOL_SOCKET = 0, 41, 1
IP_RECVERR, IPV6_RECVERR, SCM_TIMESTAMPING, SCM_TIMESTAMPING_OPT_STATS = 11, 25, 37, 54
MSG_ERRQUEUE, MSG_ZEROCOPY = 0x2000, 0x4000000
# Names packetdrill's own run_all.py defines with -D (no Linux header has them): packetdrill
# run without that -D fails the script at run time where one is evaluated, "unknown symbol"
# (script.c symbol_to_int()); their values in run_all.py's IPv4 run
RUN_ALL_SYMBOLS = {"CMSG_LEVEL_IP": "SOL_IP", "CMSG_TYPE_RECVERR": "IP_RECVERR"}
TCP_SYN_SENT = 2  # tcpi_state
POLLNVAL = 0x20

# packetdrill's script options (config.c) the model follows; "int" ones must be numbers.
# strict_segments turns off the aggregation of outbound fragments (_aggregate); verbose changes
# nothing
# here: the model sends every segment as it is.  Others are reported as unsupported.
OPTIONS = {"tolerance_usecs": "int", "tolerance_percent": "number", "mtu": "int",
           "tcp_ts_ecr_scaled": "flag", "bind_port": "int", "connect_port": "int",
           "ip_version": "word", "verbose": "flag", "v": "flag", "tcp_ts_tick_usecs": "int",
           "local_ip": "ip", "remote_ip": "ip", "strict_segments": "flag", "mss": "int",
           "gateway_ip": "ip", "netmask_ip": "ip"}


class Unsupported(TcpsimError):
    """The script needs something the model does not do (a shell command, another protocol):
    the message names it, as `<where>: <feature> is not modelled by tcpsim ...`."""

    exit_code = 5

    def __init__(self, message: str, feature: str = ""):
        super().__init__(message)
        self.feature = feature


def unsupported(where: str, feature: str, hint: str = "") -> Unsupported:
    """The one sentence for a feature the model lacks; `feature` names it."""
    return Unsupported(f"{where}: {feature} is not modelled by tcpsim" + (f" ({hint})" if hint
                       else ""), feature)


class _Shape(Exception):
    """A value of the wrong shape where a call needs a number (turned into a Failure)."""


@dataclass
class Outcome:
    passed: bool
    line: int | None = None  # the failing line
    message: str = ""
    steps: list[str] = field(default_factory=list)  # what happened, event by event
    leftover: list[str] = field(default_factory=list)  # packets sent after the last event
    notes: list[str] = field(default_factory=list)  # what the run could not set up as asked
    # on the kernel: where the machine, not the kernel, held the run up past the tolerance (a
    # call that should not block took longer; the runtime reached an event late).  A timing
    # error after one of these may be the machine's: packetdrill meets the same and says only
    # "timing error", so the run says which step was slow.
    held_up: list[str] = field(default_factory=list)


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
    """The value of a C symbol a script may use (Linux x86_64), as packetdrill's
    symbols_linux.c gives them: our tables first, then the constants Python's socket, errno,
    select and os modules carry (the same Linux headers).  A name known nowhere is reported
    as unsupported, naming it (packetdrill itself knows a few hundred more, such as
    TCP_ZEROCOPY_RECEIVE or SOF_TIMESTAMPING_TX_ACK, for features the model lacks)."""
    for group in SYMBOLS.values():
        if name in group:
            return group[name]
    if name in SOCKOPTS:
        return SOCKOPTS[name].number
    extra = {"O_RDWR": O_RDWR, "PF_INET": 2, "PF_INET6": 10, "IPPROTO_IP": 0, "SOL_TCP": 6,
             "SOL_IP": 0, "SOL_IPV6": 41, "POLLNVAL": POLLNVAL, "MSG_EOR": 0x80,
             "MSG_FASTOPEN": 0x20000000, "MSG_ZEROCOPY": 0x4000000, "MSG_ERRQUEUE": 0x2000,
             "MSG_TRUNC": 0x20, "MSG_WAITALL": 0x100, "MSG_OOB": 0x1,
             "O_RDONLY": 0, "O_WRONLY": 1,  # packetdrill's scripts use these; programs do not
             # the error queue's and timestamping's (include/uapi/linux/errqueue.h,
             # net_tstamp.h, asm-generic/socket.h on x86_64, linux/tcp.h, linux/in.h)
             "SO_ZEROCOPY": 60, "SO_TIMESTAMPING": 37, "SCM_TIMESTAMPING": 37,
             "SCM_TIMESTAMPING_OPT_STATS": 54, "SO_MARK": 36, "IP_RECVERR": 11,
             "IPV6_RECVERR": 25, "TCP_INQ": 36, "TCP_CM_INQ": 36,
             "SO_EE_ORIGIN_NONE": 0, "SO_EE_ORIGIN_LOCAL": 1, "SO_EE_ORIGIN_ICMP": 2,
             "SO_EE_ORIGIN_ICMP6": 3, "SO_EE_ORIGIN_TXSTATUS": 4,
             "SO_EE_ORIGIN_TIMESTAMPING": 4, "SO_EE_ORIGIN_ZEROCOPY": 5,
             "SO_EE_CODE_ZEROCOPY_COPIED": 1,
             "SCM_TSTAMP_SND": 0, "SCM_TSTAMP_SCHED": 1, "SCM_TSTAMP_ACK": 2,
             "IP_MTU_DISCOVER": 10, "IP_FREEBIND": 15, "IP_PMTUDISC_DONT": 0,
             "IP_PMTUDISC_WANT": 1, "IP_PMTUDISC_DO": 2, "IP_PMTUDISC_PROBE": 3,
             **{"SOF_TIMESTAMPING_" + n: 1 << i for i, n in enumerate((
                 "TX_HARDWARE", "TX_SOFTWARE", "RX_HARDWARE", "RX_SOFTWARE", "SOFTWARE",
                 "SYS_HARDWARE", "RAW_HARDWARE", "OPT_ID", "TX_SCHED", "TX_ACK", "OPT_CMSG",
                 "OPT_TSONLY", "OPT_STATS", "OPT_PKTINFO", "OPT_TX_SWHW", "BIND_PHC",
                 "OPT_ID_TCP"))},
             # symbols_linux.c's epoll names (include/uapi/linux/eventpoll.h)
             **{n: getattr(EP, n) for n in dir(EP) if n.startswith("EPOLL") and
                n != "EPOLLEXCLUSIVE_OK_BITS"}}
    if name in extra:
        return extra[name]
    if name.startswith("E") and hasattr(E, name):
        return getattr(E, name)
    import os
    for module in (_socket, select, os):
        value = getattr(module, name, None)
        if isinstance(value, int) and name.isupper():
            return int(value)
    raise Unsupported(f"the symbol {name} is not modelled by tcpsim (it knows the constants of "
                      "the socket calls it models)", f"the symbol {name}")


# the flags of send()/recv() the model follows; any other is named as unsupported
SEND_FLAGS = {"MSG_DONTWAIT": 0x40, "MSG_NOSIGNAL": 0x4000, "MSG_MORE": 0x8000,
              "MSG_EOR": MSG_EOR}
RECV_FLAGS = {"MSG_DONTWAIT": 0x40, "MSG_PEEK": 0x2, "MSG_WAITALL": 0x100}
_FLAG_NAMES = {0x1: "MSG_OOB", 0x2: "MSG_PEEK", 0x4: "MSG_DONTROUTE", 0x8: "MSG_CTRUNC",
               0x20: "MSG_TRUNC", 0x40: "MSG_DONTWAIT", 0x80: "MSG_EOR", 0x100: "MSG_WAITALL",
               0x2000: "MSG_ERRQUEUE", 0x4000: "MSG_NOSIGNAL", 0x8000: "MSG_MORE",
               0x4000000: "MSG_ZEROCOPY", 0x20000000: "MSG_FASTOPEN"}


def _same_errno(name: str, got: str | None) -> bool:
    """errno names of one number are one errno (EOPNOTSUPP is ENOTSUP, EWOULDBLOCK EAGAIN on
    Linux): packetdrill compares the numbers (end_syscall())."""
    if got is None:
        return False
    number = getattr(E, name, None)
    return name == got or (number is not None and number == getattr(E, got, None))


class _Fd:
    def __init__(self, sid: int | None, nonblocking: bool = False, epoll: int | None = None):
        self.sid, self.nonblocking = sid, nonblocking
        self.epoll = epoll  # an epoll descriptor's instance (the kernel's id), else None
        self.pipe: int | None = None  # a pipe() end or an open() file on the kernel: its fd
        self.path: str | None = None  # the file's, for an open() one


class PktRun:
    """One run of one script against a fresh model kernel."""

    def __init__(self, script: Script, profile: KernelProfile, seed: int = 0, kernel=None):
        """kernel: a factory (profile, local_ip, remote_ip, mtu) -> the kernel to run the
        script against; None: the model's (lab/pktkernel.py has the real one)."""
        self.script = script
        opts = {k: self._option(script, k, v) for k, v in script.options.items()}
        self.ip_version = opts.get("ip_version", "ipv4")
        if self.ip_version not in IP_VERSIONS:  # config.c: "bad --ip_version"
            raise ScriptError(f"{script.path}: bad --ip_version={self.ip_version}; give ipv4, "
                              "ipv4-mapped-ipv6 or ipv6")
        self.domain, wire = IP_VERSIONS[self.ip_version]
        if self.ip_version == "ipv4-mapped-ipv6" and kernel is None:
            raise unsupported(script.path, "--ip_version=ipv4-mapped-ipv6",
                              "the model runs packetdrill scripts over IPv4 and IPv6; "
                              "`tcpsim pkt run --kernel` runs IPv4-mapped IPv6 sockets")
        for name in ("local_ip", "remote_ip", "gateway_ip"):
            if name in opts and ipaddress.ip_address(opts[name]).version != wire:
                raise ScriptError(f"{script.path}: --{name}={opts[name]} is not an IPv{wire} "
                                  f"address, as --ip_version={self.ip_version} needs")
        if "mtu" in opts:
            if not 576 <= opts["mtu"] <= 65536:
                raise ScriptError(f"{script.path}: --mtu={opts['mtu']} is out of range; give "
                                  "an MTU from 576 to 65536")
            profile = KernelProfile(profile.name + f"+mtu{opts['mtu']}", profile.release,
                                    opts["mtu"], profile.hz, profile.sysctls)
        self.tolerance = opts.get("tolerance_usecs", TOLERANCE_USECS) / 1e6
        self.strict_segments = "strict_segments" in opts  # no aggregation of fragments
        self.percent = opts.get("tolerance_percent", TOLERANCE_PERCENT)
        self.ecr_scaled = "tcp_ts_ecr_scaled" in opts
        self.bind_port = opts.get("bind_port", BIND_PORT)
        self.connect_port = opts.get("connect_port", CONNECT_PORT)
        for port in (self.bind_port, self.connect_port):
            if not 0 < port < 65536:
                raise ScriptError(f"{script.path}: the port {port} is out of range; give a port "
                                  "from 1 to 65535")
        # the addresses on the wire, in the form the kernel writes them (compressed)
        self.local_ip = str(ipaddress.ip_address(opts.get(
            "local_ip", LOCAL_IP if wire == 4 else LOCAL_IP6)))
        self.remote_ip = str(ipaddress.ip_address(opts.get(
            "remote_ip", REMOTE_IP if wire == 4 else REMOTE_IP6)))
        self.profile = profile
        self.restore: dict | None = None  # the sysctls before set_sysctls.py changed them
        self.timers = 0  # timer firings so far (bounded by MAX_TIMERS)
        if kernel is None:
            self.kernel = Kernel(profile, seed, addresses=(
                (self.local_ip, "::1") if wire == 4 else (self.local_ip, "127.0.0.1")))
            self.kernel.jiffy_phase = 0.5  # time 0 anywhere in a jiffy (Kernel.jiffy_phase)
            self.kernel.rtx_gso_psh = False  # tun, not lo (Kernel.rtx_gso_psh)
            self.kernel.rx_tun = True  # the script's packets come in through tun
        else:
            self.kernel = kernel(profile, self.local_ip, self.remote_ip, profile.mtu)
        if opts.get("mss"):
            # --mss (config.c): every inbound TCP packet is written with a virtio_net_hdr of
            # gso_type TCPV4 and that gso_size (netdev.c linux_tun_write()), a GRO packet
            # as the kernel sees it; the model takes no such skbs
            if kernel is None:
                raise unsupported(script.path, "the script option --mss", "inbound packets "
                                  "as GSO packets; `tcpsim pkt run --kernel` runs the script")
            self.kernel.gso_size = opts["mss"]
        self.who = "the kernel" if kernel is not None else "the model"  # in failures
        self.on_kernel = kernel is not None
        self.held_up: list[str] = []  # see Outcome.held_up
        self.fds: dict[int, _Fd] = {}
        self.sniffed: list[tuple[float, Seg]] = []  # outbound, not yet matched
        self.local: tuple | None = None  # the connection's endpoints, when known
        self.remote: tuple | None = None
        self.local_isn_script = self.local_isn_live = 0
        self.remote_isn = 0
        self.past: set = set()  # the local ends of connections the script has moved on from
        self.fresh = False  # a socket() since: only a new connection's SYN is the script's
        self.listening = False  # listen() since, and no SYN yet
        self.passive = 0  # passive connections so far
        self.ts_map: dict[int, int] = {}  # script TS val -> the model's
        self.first_ts: tuple[int, int] | None = None  # (script, live): for a scaled ecr
        self.now = 0.0  # virtual seconds since the script's time 0
        self.nstat_history: dict[str, int] = {}  # nstat's history file, on the model
        self.pending: tuple[Event, object] | None = None  # a blocking call on its thread
        self.under_test: int | None = None  # the socket %{ }% blocks read
        self.code_env: dict = {}  # names %{ }% blocks assigned
        self.steps: list[str] = []

    @staticmethod
    def _option(script: Script, name: str, value: str):
        """A script option's value (config.c's parse of --name=value), checked."""
        kind = OPTIONS.get(name)
        if kind is None:
            raise unsupported(script.path, f"the script option --{name}")
        try:
            if kind == "int":
                return int(value, 0)
            if kind == "number":
                return float(value)
            if kind == "ip":
                ipaddress.ip_address(value)
                return value
        except ValueError:
            what = {"int": "a whole number", "number": "a number", "ip": "an IP address"}
            raise ScriptError(f"{script.path}: the script option --{name} takes {what[kind]}, "
                              f"not {value!r}") from None
        return value

    # -- the clock and the wire ------------------------------------------------------------
    def _collect(self) -> None:
        # on the kernel each packet's time is when it left (tun.py: the packet socket's
        # timestamp, as packetdrill's sniffer has it); the model's leave now
        times = self.kernel.outtime if self.on_kernel else ()
        for i, seg in enumerate(self.kernel.outbox):
            if seg.dst[0] in self.kernel.addresses:
                continue  # to itself: not on the tun device (the scripts have none)
            self.sniffed.append((times[i] if i < len(times) else self.kernel.now, seg))
        self.kernel.outbox.clear()
        self.kernel.outfate.clear()
        self.kernel.outtime.clear()

    def _advance(self, t: float, until=None) -> bool:
        """Let time run to t, firing timers (and finishing a blocked call) on the way; stop
        early, returning True, when until() becomes true."""
        if getattr(self.kernel, "real_time", False):
            # the real kernel runs its own timers: wait in real time, reading the wire
            while True:
                self._try_pending()
                self._collect()
                if until is not None and until():
                    return True
                if not self.kernel.wait(t):
                    break
            self._try_pending()
            self._collect()
            return until is not None and until()
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
            self.timers += 1
            if self.timers > MAX_TIMERS:  # e.g. an event hours ahead with a timer that re-arms
                raise Failure(self.line, f"the model fired {MAX_TIMERS} timers on the way to "
                                         f"{t:.6f} s; tcpsim stops here rather than walk on (a "
                                         "script's events should be seconds or minutes apart)")
            self.kernel.handle_timer(max(nxt, self.kernel.now))
            self._collect()
        self.kernel.now = max(self.kernel.now, t)
        self._try_pending()
        return until is not None and until()

    # -- events ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            outcome = self._run()
            outcome.held_up = self.held_up
            return outcome
        except _Shape as e:  # get_s32(): "bad type; expected integer"
            return Outcome(False, self.line, f"a number is needed here, not {e}", self.steps)
        except Unsupported as e:  # a symbol deep in a call: say where it is
            where = f"{self.script.path}:{self.line}"
            if not str(e).startswith(self.script.path):
                raise Unsupported(f"{where}: {e}", e.feature) from None
            raise

    def _run(self) -> Outcome:
        last: Event | None = None
        last_time = 0.0
        self.line = 0
        if self.script.init is not None:  # run.c: the init command runs before time 0
            self.line = self.script.init.line
            try:
                self._command(self.script.init, self.script.init.action)
            except Failure as f:
                return Outcome(False, f.line, f.message, self.steps)
            if hasattr(self.kernel, "restart_clock"):  # a command's run takes milliseconds:
                self.kernel.restart_clock()  # time 0 is taken after it (run_script())
                self.now = 0.0
        for ev in self.script.events:
            self.line = ev.line
            # run.c get_next_event(): the first event's time must be 0 (`0`, `+0`, `0~1`)
            if last is None and (ev.time.kind == "any" or ev.time.start != 0):
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
        if self.script.cleanup is not None:  # run_cleanup_command(): after the last event
            self.line = self.script.cleanup.line
            try:
                self._command(self.script.cleanup, self.script.cleanup.action, cleanup=True)
            except Failure as f:
                return Outcome(False, f.line, f.message, self.steps)
        return Outcome(True, None, "", self.steps, leftover)

    def _when(self, ev: Event, last: Event | None) -> tuple[float, float | None]:
        """The event's script time (and range end) as packetdrill computes it."""
        tm = ev.time
        if tm.kind in ("absolute", "absolute range"):
            return tm.start, tm.end
        # run.c adjust_relative_event_times(): a relative time counts from now, when the
        # event is reached (now_usecs()), so the time the previous event took to run (a
        # call, the check of a sniffed packet) is in it; only an inbound packet after an
        # inbound packet counts from the other's script time.  On the kernel now is the
        # wall clock's; the model's clock does not move while the runner works
        now = max(self.now, self.kernel.now) if self.on_kernel else self.now
        if tm.kind == "any":
            return now, None
        inbound = lambda e: isinstance(e.action, Packet) and e.action.direction == "<"  # noqa: E731
        offset = last.resolved if last is not None and inbound(last) and inbound(ev) else now
        return offset + tm.start, (offset + tm.end if tm.end is not None else None)

    def _event(self, ev: Event, start: float, end: float | None, last_time: float) -> None:
        ev.resolved = start
        a = ev.action
        if isinstance(a, Packet):
            where = f"{self.script.path}:{ev.line}"
            if a.extra:
                raise unsupported(where, a.extra)
            if a.tos is not None and not self.on_kernel:
                # the kernel's run writes and checks the TOS byte (ECN's bits); the model
                # keeps no IP header
                raise unsupported(where, f"IP-level details of packets {a.tos[2]}")
            for name, _ in a.options or []:
                if name == "md5" and a.direction == "<":
                    continue  # written as given; the kernel (and the model) without a key
                    # drops the segment (tcp_inbound_hash())
                if name in ("md5", "ECN"):
                    raise unsupported(where, {"md5": "the TCP MD5 signature option (md5)",
                                              "ECN": "the AccECN option (ECN e0b/e1b/ceb)"}[name])
            if a.direction == "<":
                self._advance(start)
                self._note_late(ev, "inbound packet", start, end, last_time)
                if self.now > start:
                    self._check_time(ev, "inbound packet", start, end, self.now, last_time)
                self.now = max(self.now, start)
                if a.icmp is not None:
                    self._inject_icmp(ev, a.icmp)
                else:
                    self._inject(ev, a)
            else:
                self._expect(ev, a, start, end, last_time)
        elif isinstance(a, Syscall):
            self._advance(start)
            self._note_late(ev, "system call", start, end, last_time)
            if self.now > start:  # the main thread was held up past the event's time
                self._check_time(ev, "system call", start, end, self.now, last_time)
            self.now = max(self.now, start)
            self._syscall(ev, a)
        elif isinstance(a, Command):
            self._advance(start)  # run_command_event(): wait_for_event() first
            self.now = max(self.now, start)
            self._command(ev, a)
        elif isinstance(a, Code):
            self._advance(start)
            self.now = max(self.now, start)
            self._code(ev, a)

    @staticmethod
    def _no_fastopen(where: str, what: str) -> Unsupported:
        """What the model has not of TCP Fast Open (getsockopt(TCP_FASTOPEN_KEY), data on a
        SYN-ACK, the sysctls it does not follow): the one sentence that says so (exit 5)."""
        return unsupported(where, f"TCP Fast Open ({what})", "the model does Fast Open's "
                           "server side (cookies, SYN data, TCP_FASTOPEN, setting "
                           "TCP_FASTOPEN_KEY) and its client side (MSG_FASTOPEN, "
                           "TCP_FASTOPEN_CONNECT, TCP_FASTOPEN_NO_COOKIE, the cookie cache, SYN "
                           "data sent again), not the active side's blackhole detection, data "
                           "on a SYN-ACK or reading the key; `tcpsim pkt run --kernel` runs the "
                           "script on the real kernel")

    def _code(self, ev: Event, a: Code) -> None:
        """A %{ }% block (code.c): its assertions on the TCP_INFO of the socket under test
        (the newest one), taken now; names it assigns live on into the next block.  The
        block is checked against a whitelist and never run as a program (pkt/code.py)."""
        where = f"{self.script.path}:{ev.line}"
        code, why = pcode.compile_block(a.text)
        if code is None:
            raise unsupported(where, why, "tcpsim evaluates assertions on TCP_INFO only")
        if self.under_test is None:
            raise Failure(ev.line, "a %{ }% block before any socket: no TCP_INFO to read")
        if hasattr(self.kernel, "tcp_info_raw"):
            info = pcode.parse_tcp_info(self.kernel.tcp_info_raw(self.under_test))
        else:
            info = pcode.model_tcp_info(self.kernel.socks[self.under_test], self.kernel)
            missing = sorted(pcode.names(code) - info.keys())
            if missing:
                raise unsupported(where, f"the TCP_INFO field {missing[0]}", "the model does "
                                  "not keep it")
        failed = pcode.run_block(code, info, self.code_env)
        self.steps.append(f"{ev.line}: %{{ }}% " + ("ok" if failed is None else failed))
        if failed is not None:
            raise Failure(ev.line, f"the %{{ }}% assertion failed: {failed}")

    def _command(self, ev: Event, a: Command, cleanup: bool = False) -> None:
        """A backquoted command (run.c run_command_event(), the init and cleanup commands): the
        sysctl settings the model follows change its profile (shell.py); packetdrill runs any
        command, the model none, so another command is reported as unsupported, by name."""
        where = f"{self.script.path}:{ev.line}"
        changes: dict[str, str] = {}
        actions = shell.read(a.text)
        foreign = [act for act in actions if isinstance(act, shell.Foreign)]
        if foreign and self.on_kernel and not cleanup:
            # the kernel's run: what packetdrill runs with system(), run in the run's
            # namespace (RealKernel.run_command()), if all of it stays there
            for act in foreign:  # (the settings among them are tcpsim's to apply)
                why = shell.namespace_refusal(act.text,
                                              getattr(self.kernel, "private_tmp", False))
                if why is not None:
                    raise Unsupported(f"{where}: tcpsim does not run the shell command "
                                      f"`{act.text}`: {why}", "a shell command")
            if len(foreign) == len(actions):  # nothing but such commands: the text as it is
                texts = [a.text]
            else:  # with settings tcpsim applies itself: each other command alone, in turn
                texts = [act.text for act in foreign]
            for text in texts:
                status, said = self.kernel.run_command(text, str(Path(self.script.path).parent))
                # the command took milliseconds of real time: packetdrill's next relative
                # event counts from the clock (adjust_relative_event_times(): now_usecs())
                self.now = max(self.now, self.kernel.now)
                self.steps.append(f"{ev.line}: `{text}` exit {status}")
                # the shell's status is its last command's (and a failing command before a
                # setting does not stop the script: sh goes on)
                last = texts == [a.text] or shell.simple_commands(a.text)[-1] == text
                if status and last:  # safe_system(): "non-zero status N"
                    raise Failure(ev.line, f"error executing `{a.text}` command: non-zero "
                                           f"status {status}" + (f" ({said})" if said else ""))
        for act in actions:
            if isinstance(act, shell.Foreign):
                if cleanup:  # after the last event: it cannot change the verdict
                    self.steps.append(f"{ev.line}: cleanup command `{act.text}` not run")
                    continue
                if self.on_kernel:
                    continue  # run above
                if act.text.strip() in ("true", ":", "false"):  # they only exit: 0, 0 and 1
                    self.steps.append(f"{ev.line}: `{act.text}`")
                    if act.text.strip() == "false" and act is actions[-1]:
                        raise Failure(ev.line, f"error executing `{a.text}` command: non-zero "
                                               "status 1")
                    continue
                counter = shell.nstat(act.text) if len(actions) == 1 else None
                if counter is not None and (counter == "" or counter in MIB_COUNTERS):
                    # nstat over the model's counters (Kernel.mib): what changed since the
                    # last nstat, which becomes the history; grep's status says if NAME did
                    mib = dict(self.kernel.mib)
                    changed = {k for k, v in mib.items() if v != self.nstat_history.get(k, 0)}
                    self.nstat_history = mib
                    self.steps.append(f"{ev.line}: `{act.text}` (the model's counters)")
                    if counter and counter not in changed:
                        raise Failure(ev.line, f"error executing `{a.text}` command: non-zero "
                                               "status 1")
                    continue
                if counter:
                    raise unsupported(where, f"the counter {counter} (nstat)", "the model keeps "
                                      + ", ".join(MIB_COUNTERS) + " only")
                raise unsupported(where, f"the shell command `{act.text}`", "the model runs no "
                                  "commands; it follows sysctl settings of the sysctls it "
                                  "models; `tcpsim pkt run --kernel` runs it in its namespace")
            if isinstance(act, shell.Flush) or isinstance(act, shell.Defaults):
                # the TCP metrics cache (tcp_metrics.c: Fast Open cookies, RTTs of past
                # connections) flushed, as defaults.sh does first: in the kernel's run, the
                # namespace's; the model keeps no such cache
                if not cleanup and ev is not self.script.init:
                    self.kernel.flush_metrics()  # (before time 0 the namespace is new, empty)
                if isinstance(act, shell.Flush):
                    self.steps.append(f"{ev.line}: TCP metrics flushed")
                    continue
            if isinstance(act, shell.Defaults):
                changes.update({k: v for k, v in shell.DEFAULTS_SH.items()
                                if k in shell.MODEL_SYSCTLS})
                if self.on_kernel and not cleanup:
                    # defaults.sh's last line, whose status is the script's: a pfifo root on
                    # tun0 (the default is pfifo_fast; a second `add` fails, as under
                    # packetdrill); the model has no qdisc
                    status, said = self.kernel.run_command(shell.DEFAULTS_QDISC)
                    self.now = max(self.now, self.kernel.now)
                    if status:
                        raise Failure(ev.line, f"error executing `{a.text}` command: non-zero "
                                               f"status {status}" + (f" ({said})" if said else ""))
                continue
            if isinstance(act, shell.Restore):
                if self.restore is not None:
                    changes.update(self.restore)
                continue
            value = act.value.strip("\"'")
            why = shell.refusal(act.key, value)
            if why is not None:  # sysctl: setting key "...": Invalid argument
                raise Failure(ev.line, f"the command `{a.text}` fails: {why} (the kernel "
                                       "answers EINVAL, and packetdrill stops there)")
            if act.key not in shell.MODEL_SYSCTLS and not (self.who == "the kernel" and
                                                           act.key.startswith("net.ipv4.")):
                # (the kernel's run sets any net.ipv4 setting in its namespace: RealKernel
                # applies it, or lists it as unapplied where the namespace has none of its own)
                if act.key in shell.DEFAULTS_SH and shell.DEFAULTS_SH[act.key] == value:
                    continue  # defaults.sh's value again: the environment the model stands for
                if act.key == "net.ipv4.tcp_fastopen_blackhole_timeout_sec" and value == "0":
                    # the kernel's default since 5.14: tcp_fastopen_active_should_disable()
                    # never disables Fast Open, as the model never does
                    continue
                if act.key.startswith("net.ipv4.tcp_fastopen"):
                    raise self._no_fastopen(where, f"the sysctl {act.key}")
                raise unsupported(where, f"the sysctl {act.key}", "its effect on TCP is not "
                                  "part of the model")
            if act.key == "net.ipv4.tcp_ecn" and not self.on_kernel and \
                    value.strip() not in ("0", "2"):
                raise unsupported(where, f"net.ipv4.tcp_ecn={value.strip()}", "the model takes "
                                  "ECN only as a passive open negotiates it (tcp_ecn 0 or 2): "
                                  "no ECN SYNs of its own, no AccECN")
            if self.restore is None:
                self.restore = {}
            self.restore.setdefault(act.key, self.profile.sysctls.get(act.key, value))
            changes[act.key] = value
        if changes and not cleanup:
            self.profile = self.profile.with_sysctls(changes)
            self.kernel.profile = self.profile
            self.steps.append(f"{ev.line}: sysctl " + " ".join(f"{k}={v}" for k, v in
                                                                 changes.items()))

    # -- inbound -----------------------------------------------------------------------------
    def _inject(self, ev: Event, p: Packet) -> None:
        if self.local is None:
            raise Failure(ev.line, "an inbound packet, but no socket is listening or connecting "
                                   "yet (bind()/listen() or connect() first)")
        bits = flag_bits(p.flags)
        if bits & SYN and bits & ACK and p.length and not self.on_kernel:
            # a SYN-ACK with data: the client side of Fast Open, not modelled (a SYN's data
            # goes to the model's tcp_try_fastopen()); the kernel's run injects it as written
            raise self._no_fastopen(f"{self.script.path}:{ev.line}", "data on a SYN-ACK")
        if bits & SYN and not bits & ACK and self.listening:
            self.listening = False  # this SYN makes the listener's child the one under test
            self.passive += 1
            self.remote = (self.remote_ip, REMOTE_PORT + self.passive - 1)
        if bits & SYN:
            # packetdrill injects the remote ISN as the script has it (a SYN, or the SYN-ACK
            # of an active open: do_inbound_script_packet()); the remote's later seqs are
            # relative to it (socket.h remote_seq_script_to_live_offset(): 0 for a SYN, else
            # the remote ISN), and so are the acks and SACK blocks the kernel sends back
            self.remote_isn = p.seq
        seq = p.seq if bits & SYN else p.seq + self.remote_isn
        if bits & (ECE | CWR) and not bits & SYN and not self.on_kernel and any(
                s.ecn_ok and s.local == self.local and s.remote == self.remote
                for s in self.kernel.socks.values()):
            raise unsupported(f"{self.script.path}:{ev.line}", "ECN's congestion signals (ECE, "
                              "CWR) on a connection that negotiated ECN", "the model has ECN's "
                              "negotiation only")
        local_offset = self._local_offset(bits)
        ack = ((p.ack or 0) + local_offset) & 0xFFFFFFFF if bits & ACK else (p.ack or 0)
        options = []
        for name, value in p.options or []:
            if name == "TS" and bits & ACK:
                value = [value[0], self._live_ecr(ev, value[1])]
            elif name == "sack":
                value = [[(l + local_offset) & 0xFFFFFFFF, (r + local_offset) & 0xFFFFFFFF]
                         for l, r in value]
            options.append([name, value])
        seg = Seg(self.remote, self.local, bits, seq & 0xFFFFFFFF, ack, p.win or 0, options,
                  bytes(p.length))
        if p.tos is not None:  # new_tcp_packet(): the script's ECN bits or TOS byte, else 0
            seg.tos = p.tos[1]
        seg.urg = p.urg or 0  # (written on the wire by the kernel's run; the model reads none)
        # a script's packets come in as plain skbs whatever their size, as over tun (--kernel):
        # no gso_size for tcp_measure_rcv_mss(), and not a clone of a sender's skb (pkt
        # export's model run takes its peer's packets the same way: Kernel.gso_rx, rx_shared)
        self.steps.append(f"{ev.line}: {self.now:.6f} < {flag_letters(bits)} "
                          f"{p.seq}:{p.end}({p.length})" + (f" ack {p.ack}" if bits & ACK else ""))
        self.kernel.now = max(self.kernel.now, self.now)
        self.kernel.receive(seg)
        self._collect()
        self._try_pending()

    def _inject_icmp(self, ev: Event, icmp) -> None:
        """An inbound ICMPv4 message about the connection under test (run_packet.c: the
        echoed header is the local side's packet, set_icmp_echoed_tuple(); its seq relative
        to the local ISN, map_inbound_icmp_tcp_packet())."""
        where = f"{self.script.path}:{ev.line}"
        if ":" in self.local_ip:  # icmp_packet.c new_icmp_packet(): ICMPv6 over IPv6
            raise unsupported(where, "ICMPv6 packets")
        if self.local is None or self.remote is None:
            raise Failure(ev.line, "an inbound ICMP packet, but no connection yet")
        seq = (icmp.seq + self._local_offset(0)) & 0xFFFFFFFF
        self.steps.append(f"{ev.line}: {self.now:.6f} < icmp {icmp.name}"
                          + (f" mtu {icmp.mtu}" if icmp.mtu is not None else "")
                          + f" [{icmp.seq}:{icmp.seq + icmp.length}({icmp.length})]")
        self.kernel.now = max(self.kernel.now, self.now)
        try:
            self.kernel.receive_icmp(self.remote[0], self.local[0], icmp.type, icmp.code,
                                     icmp.mtu, (self.local, self.remote, seq, icmp.length))
        except IcmpNotModelled as e:
            raise unsupported(where, str(e), "`tcpsim pkt run --kernel` sends it to the "
                              "kernel") from None
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
        if not self._advance(deadline, until=self._sniffed_ready):
            raise Failure(ev.line, f"expected an outbound {p.flags or '-'} packet at "
                                   f"{start:.6f} s; {self.who} sent nothing by {deadline:.6f} s")
        t, seg = self.sniffed.pop(0)
        if len(seg.payload) < p.length and not self.strict_segments:
            seg = self._aggregate(ev, p, seg, deadline)
        self.now = max(self.now, t)
        bits = seg.flags
        if bits & SYN:  # the kernel's ISN, against the script's
            self.local_isn_script, self.local_isn_live = p.seq, seg.seq
            if self.local is None or seg.src != self.local:
                if self.local is not None:
                    self.past.add(self.local)
                self.local, self.remote = seg.src, seg.dst
            self.fresh = False
        seq = (seg.seq - self._local_offset(bits)) & 0xFFFFFFFF
        ack = self._script_ack(seg)
        actual = (f"{flag_letters(bits)} {seq}:{(seq + len(seg.payload)) & 0xFFFFFFFF}"
                  f"({len(seg.payload)})" + (f" ack {ack}" if bits & ACK else "") +
                  f" win {seg.win}")
        self.steps.append(f"{ev.line}: {t:.6f} > {actual}")
        if p.tos is not None:
            # run_packet.c verify_outbound_live_tos(), before the TCP header's fields
            check, value = p.tos[0], p.tos[1]
            bits_ecn = seg.tos & 3
            if check == "ect01" and bits_ecn not in (1, 2):
                raise Failure(ev.line, "live packet field ip_ecn: expected: 0x1 or 0x2 vs "
                                       f"actual: 0x{bits_ecn:x}")
            got = seg.tos if check == "tos" else bits_ecn
            if check != "ect01" and got != value:
                name = "tos" if check == "tos" else "ip_ecn"
                raise Failure(ev.line, f"live packet field {name}: expected: {value} "
                                       f"(0x{value:x}) vs actual: {got} (0x{got:x})")
        want = flag_bits(p.flags)

        def fail(what: str) -> None:
            raise Failure(ev.line, f"{what}; the script expects {p.flags or '-'} "
                                   f"{p.seq}:{p.end}({p.length})"
                                   + (f" ack {p.ack}" if p.ack is not None else "")
                                   + f", {self.who} sent {actual}")

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
        if p.urg is not None and p.urg != seg.urg:
            fail(f"bad outbound urgent pointer (expected {p.urg}, got {seg.urg})")
        self._check_options(ev, p, seg, fail)
        self._check_time(ev, "outbound packet", start, end, t, last_time)

    def _local_offset(self, bits: int) -> int:
        """Script to live for the local side's numbers (socket.h
        local_seq_script_to_live_offset()): a SYN's by the two ISNs' difference, any other
        packet's by the live ISN (its numbers are relative to the local ISN, whatever the
        script's SYN said)."""
        if bits & SYN:
            return (self.local_isn_live - self.local_isn_script) & 0xFFFFFFFF
        return self.local_isn_live

    def _sniffed_ready(self) -> bool:
        """Whether a packet of the connection under test was sniffed.  As run_packet.c
        sniff_outbound_live_packet() does, packets of another connection (a socket the script
        is done with: its FIN after close()) are dropped unseen; a SYN from a port not used
        before is a new connection (find_connect_for_live_packet())."""
        while self.sniffed:
            seg = self.sniffed[0][1]
            if self.local is None or (seg.src, seg.dst) == (self.local, self.remote) and \
                    not self.fresh or (seg.flags & SYN and not seg.flags & ACK and
                                       seg.src not in self.past):
                return True
            self.sniffed.pop(0)
        return False

    def _script_ack(self, seg: Seg) -> int:
        """An outbound ack in the script's numbers (map_live_to_script(): less the remote
        ISN, but for a SYN-ACK's: remote_seq_live_to_script_offset())."""
        return seg.ack if seg.flags & SYN else (seg.ack - self.remote_isn) & 0xFFFFFFFF

    def _aggregate(self, ev: Event, p: Packet, first: Seg, deadline: float) -> Seg:
        """run_packet.c sniff_outbound_live_packet(): unless --strict_segments, sniffed
        packets are gathered until their payload reaches the script's, so a script is not
        bound to how the kernel cut a write (TSO/GSO autosizing, pacing): each fragment's
        headers must match the one before (verify_packet_fragments), every fragment but the
        last as long as the first, and aggregate_packets() makes them one."""
        parts = [first]
        got = len(first.payload)
        while got < p.length:
            if not self._advance(deadline, until=lambda: bool(self.sniffed)):
                break  # the length check then says how much came
            _, nxt = self.sniffed.pop(0)
            prev = parts[-1]
            if (nxt.src, nxt.dst) != (prev.src, prev.dst) or nxt.ack != prev.ack or \
                    (nxt.flags | PSH) != (prev.flags | PSH) or \
                    nxt.seq != (prev.seq + len(prev.payload)) & 0xFFFFFFFF:
                self.sniffed.insert(0, (self.kernel.now, nxt))
                break
            if len(nxt.payload) < p.length - got and len(nxt.payload) != len(prev.payload):
                raise Failure(ev.line, f"fragment payload: expected {len(prev.payload)} bytes "
                                       f"vs actual {len(nxt.payload)} bytes; total payload: "
                                       f"expected {p.length} bytes vs actual "
                                       f"{got + len(nxt.payload)} bytes")
            parts.append(nxt)
            got += len(nxt.payload)
        if len(parts) == 1:
            return first
        last = parts[-1]
        # packet.c aggregate_packets(): the headers are the last fragment's (its flags, PSH
        # or none), but for the first one's seq and CWR bit
        flags = (last.flags & ~CWR) | (first.flags & CWR)
        return Seg(first.src, first.dst, flags, first.seq, last.ack,
                   last.win, last.options, b"".join(x.payload for x in parts), first.ip_id,
                   tos=last.tos)

    def _check_options(self, ev: Event, p: Packet, seg: Seg, fail) -> None:
        off = 0 if seg.flags & SYN else self.remote_isn  # offset_sack_blocks(), as the ack
        actual = [[n, [[(a - off) & 0xFFFFFFFF, (b - off) & 0xFFFFFFFF] for a, b in v]]
                  if n == "sack" else [n, v] for n, v in seg.options]
        for name, value in actual:  # remember the TS vals: inbound ecrs are mapped with them
            if name == "TS":
                script_val = next((v[0] for n, v in (p.options or []) if n == "TS"), None)
                if script_val is not None:
                    self.ts_map[script_val] = value[0]
                    if self.first_ts is None:
                        self.first_ts = (script_val, value[0])
        if p.options is None:
            return
        text = lambda opts: ",".join(n if v is None or v == "" else (  # noqa: E731
            f"TS val {v[0]} ecr {v[1]}" if n == "TS" else
            f"sack {' '.join(f'{a}:{b}' for a, b in v)}" if n == "sack" else f"{n} {v}")
            for n, v in opts) or "none"
        if [n for n, _ in actual] != [n for n, _ in p.options]:
            fail(f"bad outbound TCP options (expected <{text(p.options)}>, got <{text(actual)}>)")
        for (name, want), (_, got) in zip(p.options, actual):
            if name in ("TS", "nop", "eol"):
                continue  # TS val is not compared (tcp_ts_tick_usecs=0), nor the ecr
            if got != want:
                fail(f"bad value in outbound TCP option {name} (expected "
                     f"<{text(p.options)}>, got <{text(actual)}>)")

    def _check_time(self, ev: Event, what: str, start: float, end: float | None, actual: float,
                    last_time: float) -> None:
        if ev.time.kind == "any":
            return
        tolerance = self._tolerance(start, last_time)
        hi = end if end is not None else start
        if actual < start - tolerance - 1e-9 or actual > hi + tolerance + 1e-9:
            expected = f"{start:.6f}" if end is None else f"{start:.6f}~{end:.6f}"
            raise Failure(ev.line, f"timing error: expected {what} at {expected} s (tolerance "
                                   f"{tolerance * 1e3:g} ms) but it happened at {actual:.6f} s")

    def _tolerance(self, start: float, last_time: float) -> float:
        """run.c verify_time(): tolerance_usecs, or tolerance_percent of the time since the
        previous event when that is larger."""
        return max(self.tolerance, self.percent / 100 * (start - last_time))

    def _note_late(self, ev: Event, what: str, start: float, end: float | None,
                   last_time: float) -> None:
        """The runtime itself reached an event later than its time allows (the thread was not
        scheduled, or the call before took long): the machine's lateness, said apart."""
        if not self.on_kernel or ev.time.kind == "any":
            return
        tolerance = self._tolerance(start, last_time)
        late = self.now - (end if end is not None else start)
        if late > tolerance:
            self.held_up.append(f"line {ev.line}: the runtime reached this {what} "
                                f"{late * 1e3:.1f} ms after its time")

    def _describe(self, t: float, seg: Seg) -> str:
        seq = (seg.seq - self._local_offset(seg.flags)) & 0xFFFFFFFF
        return (f"{t:.6f} > {flag_letters(seg.flags)} {seq}:{(seq + len(seg.payload)) & 0xFFFFFFFF}"
                f"({len(seg.payload)})" + (f" ack {self._script_ack(seg)}" if seg.flags & ACK
                                           else "")
                + f" win {seg.win}")

    # -- system calls ------------------------------------------------------------------------
    def _try_pending(self) -> None:
        if self.pending is None:
            return
        ev, attempt = self.pending
        try:
            got = attempt()
        except KeyError:  # the script closed the fd the call blocks on
            got = (-1, "EBADF")
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
            raise unsupported(f"{self.script.path}:{ev.line}", f"the system call {c.name}()")
        if self.pending is not None and c.end is not None:
            self._advance(self.now + 1.0, until=lambda: self.pending is None)
            if self.pending is not None:
                raise Failure(ev.line, "a blocking system call while another blocking system "
                                       "call is still in progress")
        self.kernel.now = max(self.kernel.now, self.now)
        began = self.kernel.now
        try:
            got = handler(ev, c)
        except OSError as e:
            got = (-1, errno_name(e.errno))
        took = self.kernel.now - began
        if self.on_kernel and not callable(got) and took > self.tolerance:
            # a call that returned at once by the kernel's account (it did not block) but
            # held the script's thread past the tolerance: the CPU was elsewhere
            self.held_up.append(f"line {ev.line}: {c.name}() took {took * 1e3:.1f} ms without "
                                "blocking")
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
        want_value = self._value(want)
        if c.name in FD_CALLS and want_value >= 0 and ret >= 0:
            pass  # end_syscall()'s CHECK_FD: any fd will do; the script's number names it
        elif want_value != ret or (c.errno is not None and not _same_errno(c.errno, err)):
            said = f"{want_value}" + (f" {c.errno}" if c.errno else "")
            raise Failure(ev.line, f"{c.name}() returned {ret}" + (f" {err}" if err else "")
                          + f"; the script expects {said}")
        if extra is not None:
            extra(ev)

    def _value(self, x) -> int:
        """A number where a call needs one (packetdrill's get_s32()/get_s64())."""
        if isinstance(x, bool):
            raise _Shape(str(x))
        if isinstance(x, int):
            return x
        if isinstance(x, Word):
            if x.name in RUN_ALL_SYMBOLS:
                raise Failure(self.line, f"unknown symbol: '{x.name}' (no Linux header has it: "
                              f"packetdrill's run_all.py defines it, -D {x.name}="
                              f"{RUN_ALL_SYMBOLS[x.name]} in its IPv4 run)")
            return symbol(x.name)
        if isinstance(x, Or):
            v = 0
            for part in x.parts:
                v |= self._value(part)
            return v
        if isinstance(x, list) and len(x) == 1:
            return self._value(x[0])
        if isinstance(x, Call) and x.name in ("htons", "htonl") and len(x.args) == 1:
            return self._value(x.args[0])
        shown = {Ellipsis_: "...", Struct: "a {...} struct", list: "a [...] list",
                 str: "a string", Call: "a function call"}.get(type(x), repr(x))
        raise _Shape(shown)

    def _fd(self, ev: Event, arg, epoll_ok: bool = False) -> _Fd:
        try:
            fd = self._value(arg)
        except _Shape:
            raise Failure(ev.line, "expected a file descriptor number") from None
        if fd not in self.fds:
            # run_system_call.c to_live_fd(): a script fd no call made, or one closed, is the
            # script's error, not the kernel's EBADF (packetdrill dies at the line)
            name = ev.action.name if isinstance(ev.action, Syscall) else "the"
            raise Failure(ev.line, f"runtime error in {name} call: unable to find fd with "
                                   f"script fd {fd}")
        f = self.fds[fd]
        if f.epoll is not None and not epoll_ok:
            # an epoll descriptor where a socket is needed: sockfd_lookup() says ENOTSOCK;
            # read()/write() find no read_iter/write_iter in eventpoll_fops: EINVAL
            name = ev.action.name if isinstance(ev.action, Syscall) else ""
            raise OSError(E.EINVAL if name in ("read", "write") else E.ENOTSOCK, "")
        if f.pipe is not None and not epoll_ok:
            if f.path is not None:
                raise unsupported(f"{self.script.path}:{ev.line}",
                                  f"{ev.action.name}() of a file",
                                  "tcpsim sendfile()s from files and closes them only")
            raise unsupported(f"{self.script.path}:{ev.line}", f"{ev.action.name}() of a pipe",
                              "tcpsim splices to pipes and closes them only")
        return f

    def _script_fd(self, ev: Event, want, check: bool) -> int:
        """The fd a call that makes one gets: the script's number when it names one
        (refused while open, with check: check_duplicate_fd()), else the lowest free one."""
        if isinstance(want, int) and not isinstance(want, bool) and want >= 0:
            if check and want in self.fds:
                raise Failure(ev.line, f"duplicate fd {want} in the script: fd {want} is "
                                       "still open")
            return want
        fd = 3
        while fd in self.fds:
            fd += 1
        return fd

    def _new_fd(self, ev: Event, sid: int, nonblocking: bool = False) -> int:
        """run_system_call.c: scripts name fds by the number they expect a call to return
        (socket() = 3, accept() = 4), and packetdrill maps that script fd to whatever fd the
        kernel returned; here the script's number is the fd.  With `...` or a negative
        number (an expected error) the lowest free one is taken, as the kernel does."""
        want = ev.action.result if isinstance(ev.action, Syscall) else None
        # check_duplicate_fd(), which socket() makes and accept() does not
        # (run_syscall_accept() names the new socket with the script's fd: an older
        # socket the script left open under that number stays open, unnamed)
        fd = self._script_fd(ev, want, check=ev.action.name != "accept")
        self.fds[fd] = _Fd(sid, nonblocking)
        self.under_test = sid  # the socket a %{ }% block reads (the newest one)
        return fd

    def _args(self, ev: Event, c: Syscall, n: int) -> list:
        if len(c.args) != n:
            raise Failure(ev.line, f"{c.name}() takes {n} arguments here, not {len(c.args)}")
        return c.args

    def _sa(self, ip: str) -> str:
        """An address of the wire as the script's sockets name it: config.c
        finalize_ipv4_mapped_ipv6_config() binds and connects to IPv4 addresses mapped into
        IPv6 (::ffff:a.b.c.d) when the flavour is ipv4-mapped-ipv6."""
        return f"::ffff:{ip}" if self.ip_version == "ipv4-mapped-ipv6" else ip

    def _sockaddr(self, ev: Event, arg, default: tuple) -> tuple:
        if isinstance(arg, Ellipsis_):
            return self._sa(default[0]), default[1]
        if isinstance(arg, Struct) and self.ip_version != "ipv4":
            raise unsupported(f"{self.script.path}:{ev.line}",
                              f"a sockaddr written out under --ip_version={self.ip_version}")
        if isinstance(arg, Struct):
            port = arg.fields.get("sin_port")
            addr = arg.fields.get("sin_addr")
            host = default[0]
            if isinstance(addr, Call) and addr.name == "inet_addr" and addr.args:
                host = str(addr.args[0])
                if host not in ("0.0.0.0", self.local_ip, self.remote_ip, "127.0.0.1"):
                    host = self.remote_ip if default[0] == self.remote_ip else self.local_ip
            return host, self._value(port) if port is not None else default[1]
        raise Failure(ev.line, "expected ... or a {sa_family=..., sin_port=..., sin_addr=...} "
                               "address")

    def _sys_socket(self, ev, c):
        family, kind, proto = self._args(ev, c, 3)
        # run_syscall_socket(): `...` is the flavour's domain (config.c socket_domain)
        fam = self.domain if isinstance(family, Ellipsis_) else self._value(family)
        if fam != self.domain:
            raise unsupported(f"{self.script.path}:{ev.line}", f"socket() of family {fam} "
                              f"under --ip_version={self.ip_version}")
        flags = self._value(kind)
        if flags & 0xF != 1:
            raise unsupported(f"{self.script.path}:{ev.line}", "a socket that is not SOCK_STREAM")
        if not isinstance(proto, Ellipsis_) and self._value(proto) not in (0, 6):
            return -1, "EPROTONOSUPPORT"  # inet_create(): no such protocol for SOCK_STREAM
        sid = self.kernel.socket(fam)
        # run_system_call.c run_syscall_socket(): the new socket is the one under test; the
        # packets of the connection before it are no longer the script's
        if self.local is not None:
            self.past.add(self.local)
        self.fresh = True
        return self._new_fd(ev, sid, bool(flags & O_NONBLOCK)), None

    def _sys_bind(self, ev, c):
        fd, addr, _len = self._args(ev, c, 3)
        f = self._fd(ev, fd)
        local = self._sockaddr(ev, addr, (self.local_ip, self.bind_port))
        self.kernel.bind(f.sid, local)
        return 0, None

    def _sys_listen(self, ev, c):
        fd, backlog = self._args(ev, c, 2)
        f = self._fd(ev, fd)
        self.kernel.listen(f.sid, self._value(backlog))
        sk = self.kernel.sock(f.sid)
        host = self.local_ip if sk.local[0] in ("0.0.0.0", "::") else sk.local[0]
        # the first passive connection comes from REMOTE_PORT, each later one from a port of
        # its own (handle_listen_for_script_packet(): next_ephemeral_port())
        port = REMOTE_PORT + self.passive
        self.local, self.remote = (host, sk.local[1]), (self.remote_ip, port)
        self.fresh = False
        self.listening = True
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
            return self._new_fd(ev, child), None
        got = attempt()
        if got is None and not f.nonblocking:
            return attempt
        return got if got is not None else (-1, "EAGAIN")

    def _sys_connect(self, ev, c):
        fd, addr, _len = self._args(ev, c, 3)
        f = self._fd(ev, fd)
        remote = self._sockaddr(ev, addr, (self.remote_ip, self.connect_port))
        err = self.kernel.connect(f.sid, remote)
        sk = self.kernel.sock(f.sid)
        if sk.local is not None and sk.remote is not None:
            self.local, self.remote = sk.local, sk.remote
            self.fresh = False
        if err == E.EINPROGRESS and not f.nonblocking:
            def attempt():
                e = self.kernel.connect(f.sid, remote)
                if e == E.EALREADY:
                    return None
                return (0, None) if e in (0, E.EISCONN) else (-1, errno_name(e))
            return attempt
        return (0, None) if err == 0 else (-1, errno_name(err))

    def _data_call(self, ev, c, fd, count, flags, sending: bool, buf=ELLIPSIS, to=None,
                   iov=None):
        """to: where sendto()/sendmsg() send (packetdrill fills in the connect address:
        run_syscall_connect()), ("inet", (host, port)) or ("family", AF) for a bare family;
        iov: sendmsg()'s iovec lengths.  The kernel's run passes them on (tcp_sendmsg_fastopen()
        connects to that address with MSG_FASTOPEN, or refuses AF_UNSPEC); TCP ignores them
        otherwise, and so does the model."""
        f = self._fd(ev, fd)
        n = self._value(count)
        if (isinstance(buf, Word) and buf.name == "NULL" or buf == 0) and n > 0:
            return -1, "EFAULT"  # import_ubuf()/copy_from_user() of a NULL buffer
        fl = 0 if flags is None else self._value(flags)
        where = f"{self.script.path}:{ev.line}"
        known = sum((SEND_FLAGS if sending else RECV_FLAGS).values())
        if sending:
            known |= MSG_FASTOPEN
        if sending:
            known |= MSG_ZEROCOPY
            if not self.on_kernel:
                # tcp_sendmsg_locked(): MSG_ZEROCOPY on a socket without SOCK_ZEROCOPY is an
                # ordinary send; the model's sockets never have it (SO_ZEROCOPY: unsupported)
                fl &= ~MSG_ZEROCOPY
        if fl & ~known:
            bit = fl & ~known & -(fl & ~known)
            name = _FLAG_NAMES.get(bit, hex(bit))
            raise unsupported(where, f"the {c.name}() flag {name}")
        if n < 0:  # a size_t: the kernel would read or write far past the buffer
            raise Failure(ev.line, f"{c.name}() of {n} bytes: a length cannot be negative")
        if sending and n > MAX_WRITE:
            raise unsupported(where, f"a {c.name}() of {n} bytes", f"the model holds sent data "
                              f"as real bytes; it takes at most {MAX_WRITE} in one call")
        n = min(n, 1 << 31)  # a read asks for at most this; nothing larger can be queued
        nonblocking = f.nonblocking or bool(fl & 0x40)
        # a blocking send() returns once all is queued (sk_stream_wait_memory()), a blocking
        # recv(MSG_WAITALL) once n bytes, EOF or an error (tcp_recvmsg_locked()'s target):
        # the bytes each attempt moves add up; after an error, what moved is the result
        waitall = not sending and bool(fl & 0x100) and not fl & 0x2
        moved, tries = [0], [0]
        data = bytes(n) if sending else b""
        # Fast Open on the kernel (tcp_sendmsg_locked(): MSG_FASTOPEN, or a socket whose
        # connect() TCP_FASTOPEN_CONNECT deferred): the call is a connect and a send in one.
        # A blocking one is made blocking in the kernel, on a thread of its own, as
        # packetdrill's thread makes it: it waits for the handshake inside
        # __inet_stream_connect() with sk_write_pending raised (inet_wait_for_connect()),
        # which changes what the kernel does with the SYN-ACK (tcp_rcv_synsent_state_process()
        # holds its ACK back for the data), and a failed handshake is the call's error with
        # the SYN's bytes not counted (tcp_sendmsg_locked(): out_err).  Retried non-blocking
        # attempts would do neither.
        if sending and self.on_kernel and not nonblocking and (
                fl & MSG_FASTOPEN or self.kernel.tcp_state(f.sid) == TCP_SYN_SENT):
            done = self.kernel.send_blocking(f.sid, data, fl, to, iov)

            def blocked():
                got = done()
                if got is None:
                    return None
                return (got, None) if got >= 0 else (-1, errno_name(-got))
            return blocked() or blocked

        if sending and not self.on_kernel and (fl & MSG_FASTOPEN or
                                               self.kernel.sock(f.sid).defer_connect):
            return self._fastopen_call(f, data, fl, to, nonblocking)

        def attempt():
            try:
                if sending:
                    tries[0] += 1
                    if tries[0] > 1 and not self.kernel.poll(f.sid) & (POLLOUT | POLLERR | POLLHUP):
                        return None  # the blocked writer is woken once writeable
                    if tries[0] == 1 and (to is not None or iov is not None) and self.on_kernel:
                        moved[0] += self.kernel.sendto(f.sid, data, fl, to, iov)
                    else:
                        moved[0] += self.kernel.send(f.sid, memoryview(data)[moved[0]:], fl)
                else:
                    got = len(self.kernel.recv(f.sid, n - moved[0], fl & ~0x100))
                    moved[0] += got
                    if waitall and got and moved[0] < n and not nonblocking:
                        return None
                    return moved[0], None
                if moved[0] < n and not nonblocking:
                    return None
                return moved[0], None
            except BlockingIOError as e:
                if e.errno not in (None, E.EAGAIN):
                    # EINPROGRESS (a Fast Open SYN that carries no data: no cookie yet) and
                    # EALREADY (a connect in progress) are errors of their own, not EAGAIN
                    return -1, errno_name(e.errno)
                if moved[0] and nonblocking:
                    return moved[0], None
                return None
            except OSError as e:
                if moved[0]:
                    return moved[0], None
                return -1, errno_name(e.errno)
        got = attempt()
        if got is None and not nonblocking:
            return attempt
        return got if got is not None else (-1, "EAGAIN")

    def _fastopen_call(self, f, data: bytes, fl: int, to, nonblocking: bool):
        """The model's tcp_sendmsg_locked() with MSG_FASTOPEN, or on a socket whose connect()
        TCP_FASTOPEN_CONNECT deferred: tcp_sendmsg_fastopen() connects, the SYN takes what
        it can of the data.  Non-blocking: those bytes, or EINPROGRESS when the SYN took
        none.  Blocking: the call waits in __inet_stream_connect() for the handshake
        (inet_wait_for_connect(), sk_write_pending raised while data is left: the SYN-ACK's
        ACK waits for it), then sends the rest as a write() does; a failed handshake is the
        call's error, the SYN's bytes not counted (out_err)."""
        to_addr = to[1] if to is not None and to[0] == "inet" else None
        err, copied = self.kernel.sendmsg_fastopen(f.sid, data, fl | (0x40 if nonblocking else 0),
                                                   to)
        sk = self.kernel.sock(f.sid)
        if sk.local is not None and sk.remote is not None:
            self.local, self.remote = sk.local, sk.remote
            self.fresh = False
        if err == E.EINPROGRESS and nonblocking:
            if copied:
                return copied, None
            return -1, "EINPROGRESS"
        if err and err != E.EINPROGRESS:
            return -1, errno_name(err)
        moved = [copied]
        pending = [0]
        if err == E.EINPROGRESS:  # blocking: inet_wait_for_connect(sk, timeo, writebias)
            pending[0] = int(copied < len(data))
            sk.write_pending += pending[0]

        def attempt():
            if pending[0] is not None and sk.state in ("SYN_SENT", "SYN_RECV"):
                return None
            if pending[0] is not None:
                sk.write_pending -= pending[0]
                pending[0] = None
                if err == E.EINPROGRESS:
                    e = self.kernel.connect(f.sid, to_addr)  # SS_CONNECTED, or the error
                    if e not in (0, E.EISCONN):
                        return -1, errno_name(e)
            try:
                if moved[0] < len(data):
                    if moved[0] > copied and not self.kernel.poll(f.sid) & (POLLOUT | POLLERR |
                                                                           POLLHUP):
                        return None
                    moved[0] += self.kernel.send(f.sid, memoryview(data)[moved[0]:], fl)
            except BlockingIOError:
                if nonblocking:
                    return (moved[0], None) if moved[0] else (-1, "EAGAIN")
                return None
            except OSError as e:
                return (moved[0], None) if moved[0] else (-1, errno_name(e.errno))
            if moved[0] < len(data) and not nonblocking:
                return None
            return moved[0], None
        pending[0] = pending[0] if err == E.EINPROGRESS else None
        return attempt() or attempt

    def _sys_write(self, ev, c):
        fd, buf, count = self._args(ev, c, 3)
        return self._data_call(ev, c, fd, count, None, True, buf)

    def _sys_read(self, ev, c):
        fd, buf, count = self._args(ev, c, 3)
        return self._data_call(ev, c, fd, count, None, False, buf)

    def _sys_send(self, ev, c):
        fd, buf, count, flags = self._args(ev, c, 4)
        return self._data_call(ev, c, fd, count, flags, True, buf)

    def _sys_recv(self, ev, c):
        fd, buf, count, flags = self._args(ev, c, 4)
        return self._data_call(ev, c, fd, count, flags, False, buf)

    def _sys_sendto(self, ev, c):
        fd, buf, count, flags, addr, _len = self._args(ev, c, 6)
        # syscall_sendto(): `...` is the connect address (run_syscall_connect()), a number a
        # bare address family (AF_UNSPEC: a sockaddr of that family and zeros)
        to = (("inet", (self._sa(self.remote_ip), self.connect_port))
              if isinstance(addr, Ellipsis_)
              else ("family", self._value(addr)))
        return self._data_call(ev, c, fd, count, flags, True, buf, to=to)

    def _sys_recvfrom(self, ev, c):
        fd, buf, count, flags, _addr, _len = self._args(ev, c, 6)
        return self._data_call(ev, c, fd, count, flags, False, buf)

    def _msghdr(self, ev, c, msg) -> list[int]:
        """sendmsg()/recvmsg(): parser.y's msghdr {msg_name(...)=..., msg_iov(N)=[{..., LEN},
        ...], msg_flags=F}: the bytes are the sum of the iovecs' lengths (iov_len)."""
        if not isinstance(msg, Struct) or "msg_iov" not in msg.fields:
            raise Failure(ev.line, f"{c.name}() takes a message {{msg_name(...)=..., "
                                   "msg_iov(1)=[{..., LEN}], msg_flags=0}")
        if "msg_control" in msg.fields and (c.name != "recvmsg" or not self.on_kernel):
            raise unsupported(f"{self.script.path}:{ev.line}", "control messages (msg_control)")
        iov = msg.fields["msg_iov"]
        if not isinstance(iov, list) or not all(isinstance(v, Struct) for v in iov):
            raise Failure(ev.line, "msg_iov takes a list of iovecs, [{..., LEN}, ...]")
        lengths = []
        for v in iov:
            length = v.fields.get("iov_len", v.fields.get("1"))
            if length is None:
                raise Failure(ev.line, "an iovec takes {..., LEN} or {iov_base=..., iov_len=LEN}")
            lengths.append(self._value(length))
        return lengths

    def _sys_sendmsg(self, ev, c):
        fd, msg, flags = self._args(ev, c, 3)
        lengths = self._msghdr(ev, c, msg)
        # syscall_sendmsg(): a msg_name of `...` is the connect address; none is NULL
        to = (("inet", (self._sa(self.remote_ip), self.connect_port)) if "msg_name" in msg.fields
              else None)
        return self._data_call(ev, c, fd, sum(lengths), flags, True, to=to, iov=lengths)

    def _sys_recvmsg(self, ev, c):
        fd, msg, flags = self._args(ev, c, 3)
        if self.on_kernel and not self._value(flags) & 0x100:
            # msg_flags and the cmsgs compared, always (syscall_recvmsg()): TCP_INQ's cmsg
            # with no room for it is MSG_CTRUNC; MSG_WAITALL's blocking reads add up in
            # _data_call() (no script has both)
            return self._recvmsg_control(ev, c, fd, msg, flags)
        if self._value(flags) & MSG_ERRQUEUE:
            # the model's error queue is always empty: TCP queues there only MSG_ZEROCOPY's
            # and SO_TIMESTAMPING's reports (tcp_v4_err() sets sk_err, never ip_icmp_error()),
            # neither of which the model has; ip_recv_error() is then -EAGAIN at once, and a
            # failed recvmsg() leaves the msghdr as packetdrill filled it (nothing to compare)
            self._fd(ev, fd)
            return -1, "EAGAIN"
        got = self._data_call(ev, c, fd, sum(self._msghdr(ev, c, msg)), flags, False)
        want = msg.fields.get("msg_flags", 0)
        if not isinstance(want, Ellipsis_) and self._value(want) != 0:
            raise unsupported(f"{self.script.path}:{ev.line}", "recvmsg()'s msg_flags other than 0")
        return got

    def _sys_pipe(self, ev, c):
        """pipe([R, W]) = 0 on the kernel (syscall_pipe(): the script names both ends,
        get_pipe_expression(); run_syscall_pipe() maps them to the live ones)."""
        (ends,) = self._args(ev, c, 1)
        if not self.on_kernel:
            raise unsupported(f"{self.script.path}:{ev.line}", "the system call pipe()",
                              "`tcpsim pkt run --kernel` runs the script on the real kernel")
        if not isinstance(ends, list) or len(ends) != 2:
            raise Failure(ev.line, "pipe() takes [READ_FD, WRITE_FD]")
        script = [self._value(x) for x in ends]
        for fd in script:
            if fd in self.fds:
                raise Failure(ev.line, f"duplicate fd {fd} in the script: fd {fd} is still "
                                       "open")
        for fd, live in zip(script, self.kernel.pipe()):
            self.fds[fd] = _Fd(None)
            self.fds[fd].pipe = live
        return 0, None

    def _sys_open(self, ev, c):
        """open(PATH, FLAGS) = FD on the kernel (syscall_open(): open(2), the result checked
        as a descriptor, run_syscall_open() naming it with the script's fd).  The run has a
        /tmp of its own (lab/netns.py private_tmp()), where its shell commands write."""
        name, flags = self._args(ev, c, 2)
        if not self.on_kernel:
            raise unsupported(f"{self.script.path}:{ev.line}", "the system call open()",
                              "`tcpsim pkt run --kernel` runs the script on the real kernel")
        if not isinstance(name, str):
            raise Failure(ev.line, "open() takes a file name in quotes (\"/tmp/file\")")
        fl = self._value(flags)
        if fl & 0o3 or fl & 0o100:  # O_WRONLY, O_RDWR, O_CREAT
            raise unsupported(f"{self.script.path}:{ev.line}", "open() for writing",
                              "tcpsim opens files only to read them, for sendfile()")
        try:
            live = self.kernel.open_file(name, fl)
        except OSError as e:
            return -1, errno_name(e.errno)
        fd = self._script_fd(ev, ev.action.result, check=True)
        self.fds[fd] = _Fd(None)
        self.fds[fd].pipe, self.fds[fd].path = live, name
        return fd, None

    def _sys_sendfile(self, ev, c):
        """sendfile(OUT, IN, [OFFSET], COUNT) on the kernel (syscall_sendfile(): the offset
        read from its brackets, sendfile(2) with a pointer to it, the result compared
        exactly).  A blocking socket's call waits for room and sends it all (do_sendfile() ->
        splice into the socket, sk_stream_wait_memory()); made here as non-blocking calls
        retried, each from the offset the last one reached, as send() is (_data_call())."""
        out_fd, in_fd, offset, count = self._args(ev, c, 4)
        if not self.on_kernel:
            raise unsupported(f"{self.script.path}:{ev.line}", "the system call sendfile()",
                              "`tcpsim pkt run --kernel` runs the script on the real kernel")
        out = self._fd(ev, out_fd)
        src = self._fd(ev, in_fd, epoll_ok=True)
        if src.pipe is None or src.path is None:
            raise unsupported(f"{self.script.path}:{ev.line}", "sendfile() from a socket, a "
                              "pipe or an epoll", "tcpsim sendfile()s from files open()ed")
        if not (isinstance(offset, list) and len(offset) == 1):
            raise Failure(ev.line, "sendfile() takes its offset in brackets: [0]")
        start, n = self._value(offset), self._value(count)
        moved = [0]

        def attempt():
            try:
                got = self.kernel.sendfile(out.sid, src.pipe, start + moved[0], n - moved[0])
            except BlockingIOError:
                if out.nonblocking:
                    return (moved[0], None) if moved[0] else (-1, "EAGAIN")
                return None
            except OSError as e:
                return (moved[0], None) if moved[0] else (-1, errno_name(e.errno))
            moved[0] += got
            if got and moved[0] < n and not out.nonblocking:
                return None
            return moved[0], None
        return attempt() or attempt

    def _sys_splice(self, ev, c):
        """splice(fd_in, NULL, fd_out, NULL, len, flags) on the kernel, between the socket
        and a pipe (syscall_splice(); tcp_splice_read() for a socket's data into a pipe)."""
        fd_in, off_in, fd_out, off_out, count, flags = self._args(ev, c, 6)
        if not self.on_kernel:
            raise unsupported(f"{self.script.path}:{ev.line}", "the system call splice()",
                              "`tcpsim pkt run --kernel` runs the script on the real kernel")
        for off in (off_in, off_out):
            if not (isinstance(off, Word) and off.name == "NULL" or off == 0):
                raise unsupported(f"{self.script.path}:{ev.line}", "splice() with offsets")
        ends = []
        for arg in (fd_in, fd_out):
            f = self._fd(ev, arg, epoll_ok=True)
            if f.epoll is not None:
                return -1, "EINVAL"
            ends.append(("pipe", f.pipe) if f.pipe is not None else ("sock", f.sid))
        n, fl = self._value(count), self._value(flags)
        blocking = not any(f.nonblocking for f in (self.fds[self._value(fd_in)],
                                                    self.fds[self._value(fd_out)])
                           if f.pipe is None) and not fl & 0x2  # SPLICE_F_NONBLOCK

        def attempt():
            try:
                return self.kernel.splice(ends[0], ends[1], n, fl, blocking), None
            except BlockingIOError:
                return None if blocking else (-1, "EAGAIN")
            except OSError as e:
                return -1, errno_name(e.errno)
        return attempt() or attempt

    def _recvmsg_control(self, ev, c, fd, msg, flags):
        """recvmsg() on the kernel as syscall_recvmsg() makes it: a control buffer exactly as
        long as the script's cmsgs take (cmsg_new(): the sum of their CMSG_SPACE()), then the
        result, msg_flags exactly, and the cmsgs one by one (cmsg_expect_eq())."""
        lengths = self._msghdr(ev, c, msg)
        expected = [self._cmsg(ev, x) for x in msg.fields.get("msg_control") or []]
        want_flags = self._value(msg.fields["msg_flags"]) if "msg_flags" in msg.fields else 0
        f = self._fd(ev, fd)
        fl = self._value(flags)
        controllen = sum(16 + (len(data) + 7 & ~7) for _, _, data, _ in expected)
        n = sum(lengths)
        live_start = self.kernel.wall_clock_start()  # state->live_start_time_usecs

        def finish(got):
            ret, msg_flags, cmsgs = got

            def check(event):
                if msg_flags != want_flags & 0xFFFFFFFF:
                    raise Failure(event.line, f"Expected msg_flags 0x{want_flags & 0xFFFFFFFF:08X}"
                                              f" but got 0x{msg_flags:08X}")
                self._check_cmsgs(event, expected, cmsgs, live_start)
            return ret, None, check

        def attempt():
            try:
                return finish(self.kernel.recvmsg(f.sid, n, fl, controllen))
            except BlockingIOError:
                # the error queue never waits (ip_recv_error(): -EAGAIN when empty)
                if f.nonblocking or fl & (0x40 | MSG_ERRQUEUE):
                    return -1, "EAGAIN"
                return None
            except OSError as e:
                return -1, errno_name(e.errno)
        return attempt() or attempt

    def _cmsg(self, ev, x) -> tuple[int, int, bytes, object]:
        """One cmsg of the script's msg_control, as cmsg_new() builds it: (level, type, its
        data's bytes, what to compare them as).  sock_extended_err is followed by the
        offender's address, a sockaddr_in at SOL_IP, else a sockaddr_in6 (ip_recv_error()'s
        struct errhdr); scm_timestamping is three timespecs, the script giving ts[0]."""
        if not isinstance(x, Struct) or not {"cmsg_level", "cmsg_type", "cmsg_data"} <= \
                x.fields.keys():
            raise Failure(ev.line, "a cmsg takes {cmsg_level=..., cmsg_type=..., cmsg_data=...}")
        level = self._value(x.fields["cmsg_level"])
        kind = self._value(x.fields["cmsg_type"])
        d = x.fields["cmsg_data"]
        if isinstance(d, Struct) and "scm_sec" in d.fields:
            ts = (self._value(d.fields["scm_sec"]), self._value(d.fields.get("scm_nsec", 0)))
            return level, kind, struct.pack("qq32x", *ts), ("ts", ts)
        if isinstance(d, Struct) and "ee_errno" in d.fields:
            names = ("ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data")
            v = [self._value(d.fields.get(k, 0)) for k in names]
            ee = (v[0] & 0xFFFFFFFF, v[1] & 0xFF, v[2] & 0xFF, v[3] & 0xFF, v[4] & 0xFFFFFFFF,
                  v[5] & 0xFFFFFFFF)
            data = struct.pack("IBBBxII", *ee) + bytes(16 if level == SOL_IP else 28)
            return level, kind, data, ("ee", ee)
        if isinstance(d, list):
            raise unsupported(f"{self.script.path}:{ev.line}", "the statistics of "
                              "SCM_TIMESTAMPING_OPT_STATS (a cmsg_data list)")
        return level, kind, struct.pack("I", self._value(d) & 0xFFFFFFFF), None  # get_s32()

    def _check_cmsgs(self, ev, expected: list, actual: list, live_start: float) -> None:
        """run_system_call.c cmsg_expect_eq(): level, type and length of each; a
        sock_extended_err field by field, an scm_timestamping's non-zero times within
        tolerance_usecs of the script's time (script_time_to_live_time_usecs()), any other
        data byte for byte; then the counts."""
        i = 0
        for (level, kind, data, how), (alevel, akind, alen, adata) in zip(expected, actual):
            if alevel != level:
                raise Failure(ev.line, f"Bad level in cmsg {i}: expected={level} actual={alevel}")
            if akind != kind:
                raise Failure(ev.line, f"Bad type in cmsg {i}: expected={kind} actual={akind}")
            if alen != 16 + len(data):
                raise Failure(ev.line, f"Bad len in cmsg {i}: expected={16 + len(data)} "
                                       f"actual={alen}")
            if (alevel, akind) in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
                got = struct.unpack("IBBBxII", adata[:16])
                want = struct.unpack("IBBBxII", data[:16])
                for name, w, g in zip(("errno", "origin", "type", "code", "info", "data"),
                                      want, got):
                    if w != g:
                        raise Failure(ev.line, f"Bad {name} in extended err {i}: expected={w} "
                                               f"actual={g}")
            elif (alevel, akind) == (SOL_SOCKET, SCM_TIMESTAMPING):
                want = struct.unpack("6q", data)
                got = struct.unpack("6q", adata[:48])
                for k in range(3):
                    sec, nsec = want[2 * k], want[2 * k + 1]
                    if not sec and not nsec:
                        continue  # a zero timestamp is not compared
                    start_us = round(live_start * 1e6)
                    exp_us = start_us + sec * 1000000 + nsec // 1000
                    act_us = got[2 * k] * 1000000 + got[2 * k + 1] // 1000
                    if abs(exp_us - act_us) > round(self.tolerance * 1e6):
                        raise Failure(ev.line, f"Bad timestamp {k} in scm_timestamping {i}: "
                                               f"expected={(exp_us - start_us) / 1e6:.6f} s "
                                               f"actual={(act_us - start_us) / 1e6:.6f} s "
                                               "(script time)")
            elif (alevel, akind) == (SOL_SOCKET, SCM_TIMESTAMPING_OPT_STATS):
                raise unsupported(f"{self.script.path}:{ev.line}", "the statistics of "
                                  "SCM_TIMESTAMPING_OPT_STATS")
            elif adata[:len(data)] != data:
                raise Failure(ev.line, f"Bad data in cmsg {i}: expected={data.hex()} "
                                       f"actual={adata.hex()}")
            i += 1
        if len(actual) > i and len(expected) == i:
            raise Failure(ev.line, f"received more than {i} cmsgs")
        if len(expected) > i:
            raise Failure(ev.line, f"received only {i} cmsgs")

    def _sys_close(self, ev, c):
        (fd,) = self._args(ev, c, 1)
        f = self._fd(ev, fd, epoll_ok=True)
        if f.pipe is not None:
            self.kernel.close_pipe(f.pipe)
        elif f.epoll is not None:
            self.kernel.epoll_close(f.epoll)
        else:
            self.kernel.close(f.sid)
        del self.fds[self._value(fd)]
        return 0, None

    def _sys_shutdown(self, ev, c):
        fd, how = self._args(ev, c, 2)
        f = self._fd(ev, fd)
        self.kernel.shutdown(f.sid, self._value(how))
        return 0, None

    def _sockopt(self, ev, level, name, getter: bool = False) -> tuple[int, int, str]:
        lvl = self._value(level)
        if isinstance(name, Word) and name.name in KERNEL_SOCKOPTS:
            if not self.on_kernel:
                raise unsupported(f"{self.script.path}:{ev.line}",
                                  f"the socket option {name.name}", "`tcpsim pkt run --kernel` "
                                  "runs the script on the real kernel")
            return lvl, KERNEL_SOCKOPTS[name.name][1], "int"
        if isinstance(name, Word) and name.name in FASTOPEN_SOCKOPTS:
            if not self.on_kernel and name.name == "TCP_FASTOPEN_KEY" and getter:
                # (the model has the server's queue length and its key, set; the client's
                # TCP_FASTOPEN_CONNECT and TCP_FASTOPEN_NO_COOKIE)
                raise self._no_fastopen(f"{self.script.path}:{ev.line}",
                                        f"the socket option {name.name}")
            return lvl, FASTOPEN_SOCKOPTS[name.name], (
                "bytes" if name.name == "TCP_FASTOPEN_KEY" else "int")
        if not isinstance(name, Word) or name.name not in SOCKOPTS:
            raise unsupported(f"{self.script.path}:{ev.line}", "the socket option "
                              f"{name.name if isinstance(name, Word) else name}")
        o = SOCKOPTS[name.name]
        return lvl, o.number, o.value

    def _sys_setsockopt(self, ev, c):
        fd, level, name, value, length = self._args(ev, c, 5)
        f = self._fd(ev, fd)
        lvl, opt, shape = self._sockopt(ev, level, name)
        if shape == "bytes":
            # a string value (TCP_FASTOPEN_KEY's 16 bytes, "\xf7\x63..."): its bytes, as
            # many as optlen says (syscall_setsockopt() passes the string with the script's
            # optlen; the kernel checks that length: do_tcp_setsockopt() EINVAL)
            if not isinstance(value, str):
                raise Failure(ev.line, f"{name.name} takes a string of bytes (\"\\x..\")")
            raw = value.encode("latin-1", "replace")
            size = self._value(length)
            v = raw[:size].ljust(size, b"\0")
        elif shape == "linger":
            if not isinstance(value, Struct):
                raise Failure(ev.line, "SO_LINGER takes {onoff=N, linger=N}")
            v = struct.pack("ii", self._value(value.fields.get("onoff", 0)),
                             self._value(value.fields.get("linger", 0)))
        else:
            v = self._value(value)
            size = self._value(length) if not isinstance(length, Ellipsis_) else 4
            if self.on_kernel and size != 4 and 0 <= size <= 64:
                # syscall_setsockopt(): the int's address with the script's optlen; the
                # kernel reads that many bytes (do_ip_setsockopt(): a char when optlen is 1)
                v = struct.pack("<I", v & 0xFFFFFFFF)[:size].ljust(size, b"\0")
        self.kernel.setsockopt(f.sid, lvl, opt, v)
        return 0, None

    def _sys_getsockopt(self, ev, c):
        fd, level, name, value, _len = self._args(ev, c, 5)
        f = self._fd(ev, fd)
        lvl, opt, shape = self._sockopt(ev, level, name, getter=True)
        if shape == "bytes":  # TCP_FASTOPEN_KEY: the keys, 16 or 32 bytes
            got = self.kernel.getsockopt(f.sid, lvl, opt, 32)
        else:
            got = self.kernel.getsockopt(f.sid, lvl, opt)

        def check(event):
            if isinstance(value, Ellipsis_) or shape == "linger":
                return
            if shape == "bytes":
                want = value.encode("latin-1", "replace") if isinstance(value, str) else None
                if want != got:
                    raise Failure(event.line, f"getsockopt({name.name}) gave {got!r}; the "
                                              f"script expects {want!r}")
                return
            want = self._value(value)
            # run_system_call.c compares the 32-bit values: 0xffffffff is the int -1
            if want != got and not (isinstance(got, int) and (want - got) % 2**32 == 0):
                raise Failure(event.line, f"getsockopt({name.name}) gave {got}; the script "
                                          f"expects {want}")
        return 0, None, check

    def _sys_ioctl(self, ev, c):
        """ioctl(fd, SIOCINQ|SIOCOUTQ|SIOCOUTQNSD, [N]) = 0: the count is checked as
        getsockopt()'s value is (run_system_call.c syscall_ioctl())."""
        fd, request, value = self._args(ev, c, 3)
        f = self._fd(ev, fd)
        try:
            got = self.kernel.ioctl(f.sid, self._value(request))
        except OSError as e:
            return -1, errno_name(e.errno)

        def check(event):
            if isinstance(value, Ellipsis_):
                return
            want = self._value(value)
            if want != got:
                raise Failure(event.line, f"ioctl() gave {got}; the script expects {want}")
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
        raise unsupported(f"{self.script.path}:{ev.line}", f"fcntl() command {cmd}")

    def _sys_poll(self, ev, c):
        fds, nfds, timeout = self._args(ev, c, 3)
        if not isinstance(fds, list) or not all(isinstance(x, Struct) for x in fds):
            raise Failure(ev.line, "poll() takes [{fd=N, events=..., revents=...}, ...]")
        wait = self._value(timeout)
        if not all("fd" in x.fields for x in fds):
            raise Failure(ev.line, "poll() takes [{fd=N, events=..., revents=...}, ...]: a "
                                   "pollfd without fd=")
        entries = [(x, self._value(x.fields["fd"]), self._value(x.fields.get("events", 0)))
                   for x in fds]
        deadline = self.now + wait / 1000 if wait >= 0 else None

        for _, fd, _events in entries:
            if fd in self.fds and self.fds[fd].epoll is not None:
                raise unsupported(f"{self.script.path}:{ev.line}", "poll() of an epoll descriptor")

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


    # -- epoll (run_system_call.c syscall_epoll_create/_ctl/_wait) -------------------------
    def _epfd(self, ev, arg) -> _Fd:
        """An epoll descriptor (do_epoll_ctl()/do_epoll_wait(): another file is EINVAL)."""
        f = self._fd(ev, arg, epoll_ok=True)
        if f.epoll is None:
            raise OSError(E.EINVAL, "")
        return f

    def _epoll_event(self, ev, c, x, fd: int | None = None) -> tuple[int, str, int]:
        """parser.y's epollev, {events=E, fd=N} (or ptr=, u32=, u64=), as
        get_epoll_event_from_expr() reads it: (events, the data's kind, its value).  In
        epoll_ctl() fd= must name the call's fd; in epoll_wait() it must be a known fd."""
        kinds = [k for k in ("ptr", "fd", "u32", "u64") if isinstance(x, Struct) and k in x.fields]
        if not isinstance(x, Struct) or "events" not in x.fields or len(kinds) != 1 or \
                len(x.fields) != 2:
            raise Failure(ev.line, f"{c.name}() takes an epoll_event {{events=..., fd=N}} (or "
                                   "ptr=, u32=, u64= for the data)")
        kind = kinds[0]
        events = self._value(x.fields["events"]) & 0xFFFFFFFF
        value = self._value(x.fields[kind])
        if kind == "fd":
            if fd is not None and value != fd:
                raise Failure(ev.line, "wrong fd specified in epoll_event")
            if value not in self.fds:  # to_live_fd()
                raise Failure(ev.line, f"unable to find socket with script fd {value}")
        mask = 0xFFFFFFFF if kind in ("fd", "u32") else 0xFFFFFFFFFFFFFFFF
        return events, kind, value & mask

    def _new_epfd(self, ev: Event, eid: int) -> int:
        """epoll_create()'s descriptor: the script's number (check_duplicate_fd()), or the
        lowest free one; the socket under test stays the one it was."""
        fd = self._script_fd(ev, ev.action.result, check=True)
        self.fds[fd] = _Fd(None, epoll=eid)
        return fd

    def _sys_epoll_create(self, ev, c):
        """epoll_create(size): size must be positive (SYSCALL epoll_create: EINVAL)."""
        (size,) = self._args(ev, c, 1)
        if self._value(size) <= 0:
            return -1, "EINVAL"
        return self._new_epfd(ev, self.kernel.epoll_create()), None

    def _sys_epoll_ctl(self, ev, c):
        epfd, op, fd, event = self._args(ev, c, 4)
        e = self._epfd(ev, epfd)
        f = self._fd(ev, fd, epoll_ok=True)
        events, _kind, data = self._epoll_event(ev, c, event, self._value(fd))
        where = f"{self.script.path}:{ev.line}"
        if f is e:
            return -1, "EINVAL"  # do_epoll_ctl(): an epoll cannot watch itself
        if f.epoll is not None:
            raise unsupported(where, "an epoll descriptor watched by epoll (nested epoll)")
        operation = self._value(op)
        if not self.on_kernel and events & EP.EPOLLEXCLUSIVE and operation == EP.EPOLL_CTL_ADD \
                and any(other != e.epoll for other in self.kernel.ep_watched(f.sid)):
            raise unsupported(where, "EPOLLEXCLUSIVE on a socket several epolls watch",
                              "which one is woken depends on the threads waiting in each")
        self.kernel.epoll_ctl(e.epoll, operation, f.sid, events, data)
        return 0, None

    def _sys_epoll_wait(self, ev, c):
        """epoll_wait(epfd, {events=E, fd=N}, maxevents, timeout) = count: only the first
        event returned is compared (syscall_epoll_wait() reads event_live[0], zeros when none
        came), its events exactly and its data as the script's kind of it."""
        epfd, event, maxevents, timeout = self._args(ev, c, 4)
        e = self._epfd(ev, epfd)
        want, kind, value = self._epoll_event(ev, c, event)
        n, wait = self._value(maxevents), self._value(timeout)
        if not 0 < n <= EP.EP_MAX_EVENTS:
            return -1, "EINVAL"  # do_epoll_wait()
        deadline = self.now + wait / 1000 if wait >= 0 else None

        def finish(got):
            def check(event_):
                events, data = got[0] if got else (0, 0)
                if events != want:
                    raise Failure(event_.line, "epoll_event->events does not match script: "
                                               f"expected: {want:#x} actual: {events:#x}")
                if kind in ("fd", "u32"):
                    data &= 0xFFFFFFFF  # data.fd, data.u32: the union's low 32 bits
                if data != value:
                    raise Failure(event_.line, "epoll_event->data does not match script: "
                                               f"expected: {value} actual: {data}")
            return len(got), None, check

        def attempt():
            got = self.kernel.epoll_wait(e.epoll, n)
            if got or (deadline is not None and self.kernel.now >= deadline - 1e-12):
                return finish(got)
            return None
        got = attempt()
        if got is not None or wait == 0:
            return got if got is not None else finish([])
        attempt.deadline = deadline  # a timeout: it returns then at the latest
        return attempt

def run_script(script: Script, profile: KernelProfile, seed: int = 0) -> Outcome:
    return PktRun(script, profile, seed).run()


def run_script_on_kernel(script: Script, profile: KernelProfile) -> Outcome:
    """The script against the real kernel, in a private namespace made for the run, over a
    tun device as packetdrill's own (lab/pktkernel.py).  Needs root."""
    from ..lab.netns import private_netns, private_tmp, realtime
    from ..lab.pktkernel import RealKernel

    made = []

    def kernel(*args):
        made.append(RealKernel(*args))
        made[-1].private_tmp = tmp
        return made[-1]

    with private_netns(), private_tmp() as tmp, realtime():
        try:
            outcome = PktRun(script, profile, kernel=kernel).run()
        finally:
            for k in made:
                k.close_all()
    if made and made[0].unapplied:
        outcome.notes += [f"not set in the run's namespace: {k}={v}"
                         for k, v in made[0].unapplied.items()
                         if not (k.endswith("congestion_control") and made[0].pinned == v)]
    return outcome


def packetdrill_profile(base: KernelProfile) -> KernelProfile:
    """packetdrill's environment: a tun device of MTU 1500 and the sysctls its defaults.sh
    sets (gtests/net/common/defaults.sh: shell.DEFAULTS_SH), e.g. tcp_rmem's 15 MB maximum:
    window scale 8; window scaling on, as the kernel's default is."""
    return KernelProfile(f"{base.name}+packetdrill", base.release, 1500, base.hz, {
        **base.sysctls, **shell.DEFAULTS_SH, "net.ipv4.tcp_window_scaling": "1"})
