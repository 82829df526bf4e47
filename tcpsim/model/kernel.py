"""A sans-I/O model of the Linux TCP stack.

Events go in with the time passed in: a socket call, an arriving segment, timers firing.
Actions come out: segments in `outbox`, call results (or OSError with Linux's errno, as the
real socket API raises them), and timers to arm (next_timer()).  No sockets, threads, clock
reads or printing here; all state is plain data, cheap to copy.

State changes follow the table in table.py; the functions named in comments are the kernel's
(net/ipv4/tcp*.c, net/ipv4/af_inet.c) whose behaviour each piece reproduces.  The code lives
where a kernel developer would look for it:

  sock.py           Seg, Sock, the constants and seq_lt()/seq_le(): the plain data
  tcp.py            the socket calls (af_inet.c, inet_connection_sock.c, tcp.c), tcp_done()
  tcp_input.py      segments in (tcp_ipv4.c tcp_v4_rcv(), tcp_input.c), the delayed-ACK engine
  tcp_output.py     segments out, windows, options, ACKs now or delayed (tcp_output.c)
  tcp_timer.py      the timers (tcp_timer.c, reqsk_timer_handler())
  tcp_minisocks.py  request and timewait socks (tcp_minisocks.c, tcp_conn_request())
  tcp_cong.py       the congestion window without loss (tcp_cong.c, tcp_cubic.c, tcp_output.c)

Kernel, here, puts them together and keeps what they share: the socket and hash tables, the
state changes (_transition follows the table's row, _set_state logs it), the random source.
Every name the rest of tcpsim imports from tcpsim.model.kernel is still importable from here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .profile import KernelProfile
# the plain data, and every name other modules import from here (sim/, pkt/, the tests)
from .sock import (UNJUDGED, ACK, FIN, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM,  # noqa: F401
                   POLLWRNORM, PSH, RCV_SHUTDOWN, RST, SEND_SHUTDOWN, SKB_OVERHEAD, SKB_TRUESIZE_LO,
                   SOCK_CONTAINERS, SYN, TCP_MAX_QUICKACKS, TCP_MAX_WSCALE, TCP_MIN_MSS_DEFAULT,
                   TCP_RTO_MIN, TCP_TIMEOUT_INIT, TCP_TIMEWAIT_LEN, TCPOLEN_TSTAMP_ALIGNED, _FIELDS,
                   Seg, Sock, _oserror, seq_le, seq_lt)
from .table import rule
from .tcp import TcpCalls
from .eventpoll import EventPoll
from .tcp_cong import TcpCong
from .tcp_input import TcpInput
from .tcp_ipv4_err import TcpIpv4Err
from .tcp_fastopen import TcpFastopen, TcpFastopenClient
from .tcp_minisocks import TcpMinisocks
from .tcp_output import TcpOutput
from .tcp_recovery import TcpRecovery
from .tcp_timer import TcpTimers


@dataclass(frozen=True)
class Race:
    """A decision the kernel makes on microseconds the model does not keep (docs/races.md):
    which one (`kind`), on which socket, before which of the run's segments (`segment`: how
    many the kernel had sent), and whether this run took the way the model does not default
    to (`flipped`)."""
    kind: str
    sock: int
    segment: int
    flipped: bool

    def __deepcopy__(self, memo: dict) -> "Race":
        return self  # immutable: the explorer's snapshots share it


# the events of the caller's own calls: tcp_v4_connect(), inet_listen() and close() wake
# nobody (a closed descriptor has left every epoll anyway: eventpoll_release())
_NO_STATE_WAKEUP = frozenset({"connect", "listen", "close", "close_unread", "close_linger0",
                              "rcv_syn"})


class TimerHeap(list):
    """The heap of TcpTimers (entries: tuples of numbers and a name), copied one level deep
    for the explorer's snapshots; `limit`: its size that calls for a rebuild."""

    limit = 64

    def __deepcopy__(self, memo: dict) -> "TimerHeap":
        new = TimerHeap(self)
        new.limit = self.limit
        memo[id(self)] = new
        return new


class _Random(random.Random):
    """The kernel's random source (ISNs, ports, TS offsets), copied for the explorer's
    snapshots through its state, not by walking the 625 words of it one by one."""

    def __deepcopy__(self, memo: dict) -> "_Random":
        new = _Random(0)
        new.setstate(self.getstate())
        memo[id(self)] = new
        return new


class Kernel(TcpCalls, TcpInput, TcpOutput, TcpCong, TcpRecovery, TcpTimers, TcpMinisocks,
             EventPoll, TcpIpv4Err, TcpFastopen, TcpFastopenClient):
    """One Linux kernel's TCP, on loopback."""

    def __init__(self, profile: KernelProfile, seed: int = 0, addresses=("127.0.0.1", "::1")):
        self.profile = profile
        self.rng = _Random(seed)
        self.now = 0.0
        self.socks: dict[int, Sock] = {}
        self.next_id = 1
        self.ehash: dict[tuple, int] = {}  # (local, remote) -> sock id
        self.outbox: list[Seg] = []
        self.addresses = tuple(addresses)  # the first of each family is the source address
        self.log: list[tuple] = []  # (time, id, local, remote, from, to, event, ref): every change
        # the socks whose state, addresses, place in the tables, kind or accept queue may have
        # changed since the world last took them (SimWorld.changed(): the runner observes
        # only those): every such write below and in the mixins adds the sock's id
        self.changed: set[int] = set()
        self.armed = 0  # counts timer arming; timers due at once fire newest first
        self.timer_heap = TimerHeap()  # (deadline, sock id, name): TcpTimers._arm()
        self.covered: set[tuple[str, str]] = set()  # (state, event) rules followed so far
        # Loopback inside a call (see _xmit): the world's judge of each segment (None: on
        # time, 0: lost, else held back so long), and each outbox segment's verdict so far
        self.lo_fate = None
        # whether an arriving GSO packet's gso_size counts (tcp_measure_rcv_mss()): False where
        # the peer is a packetdrill script, whose packets arrive as plain skbs (pkt export)
        self.gso_rx = True
        # whether an arriving skb may be a clone of the sender's (lo): False there too
        self.rx_shared = True
        # how many times the lab's capture has read what lo carried (the world counts them:
        # after every call's and timer's deliveries, SimWorld.settle()); until it reads a
        # frame the capture holds a clone of its skb (packet_rcv(), two: the outgoing and the
        # host copy), so the receiver's skb of that frame is skb_cloned() and takes nothing
        # into it (skb_try_coalesce(); TcpInput._queue_rcv_skb())
        self.capture_reads = 0
        # whether a retransmitted skb of several MSS leaves with PSH: on lo it does (measured:
        # lost-write-rto's 1976 bytes), over packetdrill's tun it does not (measured: the
        # same 1976 bytes, and upstream fr-4pkt-fack-last-byte.pkt): False for a script's run
        self.rtx_gso_psh = True
        # where the model's time 0 falls in a jiffy (tcp_jiffies32 = floor(t / jiffy +
        # phase)): 0 on lo, where the built-ins were matched to their captures; a script's
        # run takes half a jiffy (pkt/run.py): its time 0 falls anywhere in one.  Measured
        # (upstream sack-shift-sacked-7-3-4-8-9-fack.pkt over tun): RACK's 27 ms REO timer,
        # 7 jiffies on the wheel, fired 28.8-30.9 ms after the SACK in 3 runs; phase 0
        # gives the latest it can, 32 ms
        self.jiffy_phase = 0.0
        # the SNMP counters the model keeps, by nstat's names (/proc/net/netstat's TcpExt
        # fields): those in MIB_COUNTERS (model/tcp_ipv4_err.py), read by a script's nstat
        self.mib: dict[str, int] = {}
        # whether segments arrive through tun (packetdrill), each a new linear skb with its
        # own truesize (tun_get_user(), TcpInput._rx_skb()), or from lo, the sender's skb
        self.rx_tun = False
        self.lo_latency = 0.0  # seconds from transmit to receive on lo (the world's)
        # tcp_metrics.c's Fast Open part per destination (struct tcp_fastopen_metrics, by
        # (saddr, daddr)): tcp_fastopen.py; `ip tcp_metrics flush` empties it
        self.fastopen_cache: dict[tuple, dict] = {}
        self.outfate: list = []
        self.outtime: list[float] = []  # when each outbox segment left
        self._lo_queue: list[Seg] = []  # the backlog of the CPU (process_backlog())
        self._softirq = False  # inside net_rx_action(): what arrives waits its turn
        # inside one dev_queue_xmit(): the segments GSO cut from one skb all reach lo's backlog
        # before the softirq runs (see TcpOutput._transmit)
        self._bh_off = False
        self.owned: set[int] = set()  # sockets a send() or recv() holds (lock_sock())
        # sockets whose backlog is being processed (__release_sock()): True once an ACK was
        # deferred to tcp_release_cb() (TCP_ACK_DEFERRED)
        self.ack_deferred: dict[int, bool] = {}
        # races the model cannot decide (Race): each one met, in order; those whose number is
        # in `flips` go the other way (compare/against.py tries them against a kernel's run)
        self.races: list[Race] = []
        self.flips: frozenset[int] = frozenset()
        self.xmitted = 0  # segments sent so far: where a race shows
        # what the segments sent now are for (a timer's name and its numbers: TcpTimers.
        # _cause()), copied onto each Seg for the explanations; None outside a timer
        self.cause: dict | None = None
        self.epolls: dict = {}  # epoll instances (eventpoll.py), by their ids

    # -- loopback inside a call (net/core/dev.c, net/core/sock.c) ------------------------
    def _xmit(self, seg: Seg) -> None:
        """Every segment leaves here.  Inside a send() or recv(), lo delivers at once, as
        loopback_xmit() does: netif_rx() queues it, and the softirq that runs when the
        transmit path re-enables bottom halves processes it, and what that sends, before the
        call goes on; a segment for the socket the call holds waits in its backlog until the
        call releases it (tcp_add_backlog(), __release_sock()).  Elsewhere (timers, other
        calls) the world delivers after the fact, in order."""
        self.outbox.append(seg)
        self.outtime.append(self.now)
        self.xmitted += 1
        if self.lo_fate is None or not self.owned:
            self.outfate.append(UNJUDGED)
            return
        fate = self.lo_fate(seg)
        self.outfate.append(fate)
        if fate is None:  # it arrives lo_latency later: the clock moves on as it is processed
            self._lo_queue.append((seg, self.now + self.lo_latency))
            self._net_rx()

    def _net_rx(self) -> None:
        """net_rx_action() -> process_backlog(): arrivals in order, one softirq at a time."""
        if self._softirq or self._bh_off:
            return
        self._softirq = True
        try:
            while self._lo_queue:
                seg, at = self._lo_queue.pop(0)
                self.now = max(self.now, at)
                sid = self.ehash.get((seg.dst, seg.src))
                if sid in self.owned:  # tcp_v4_rcv(): sock_owned_by_user() -> the backlog
                    sk = self.socks[sid]
                    sk.rx_backlog.append(seg)
                    sk.backlog_len += SKB_TRUESIZE_LO + len(seg.payload)  # sk_add_backlog()
                else:
                    self.receive(seg)
        finally:
            self._softirq = False

    def _lock(self, sid: int) -> bool:
        """lock_sock() for a send() or recv(); False if already held (or no such socket)."""
        if sid in self.owned or sid not in self.socks:
            return False
        self.owned.add(sid)
        return True

    def _release(self, sid: int) -> None:
        """release_sock() -> __release_sock(): the backlog, in order, with the socket still
        held (what its processing makes arrive for it joins the backlog), then let go."""
        sk = self.socks.get(sid)
        self.ack_deferred[sid] = False
        while sk is not None and sk.rx_backlog and self.socks.get(sid) is sk:
            self.receive(sk.rx_backlog.pop(0))
        if sk is not None:
            sk.backlog_len = 0
        self._release_cb(sid, sk)
        self.owned.discard(sid)
        # release_sock(): tcp_release_cb() runs with bottom halves off, so what its ACK lets
        # in over lo is processed once the socket is let go, as ordinary arrivals, before
        # anything later (left in the backlog, it was overtaken by later segments and lost);
        # so they were never in sk_backlog and its len does not count them (tcp_space()):
        # measured, partial-window-probe at MTU 1500, the first of two 28960-byte segments
        # that the deferred ACK let in is ACKed at once, window 63204 = the free space of the
        # queue alone (a window of 9904, the backlog's 59584 bytes counted too, asked for
        # no ACK)
        if sk is not None:
            sk.backlog_len = 0
        while sk is not None and sk.rx_backlog and self.socks.get(sid) is sk:
            self.receive(sk.rx_backlog.pop(0))

    def _flush_backlog(self, sk: Sock) -> None:
        """sk_flush_backlog(): the backlog processed while the call still holds the socket,
        then tcp_release_cb() (__sk_flush_backlog())."""
        self.ack_deferred[sk.id] = False
        while sk.rx_backlog:
            self.receive(sk.rx_backlog.pop(0))
        sk.backlog_len = 0
        self._release_cb(sk.id, sk)

    def _release_cb(self, sid: int, sk) -> None:
        """tcp_release_cb(): an ACK __tcp_ack_snd_check() deferred while the backlog was
        processed (TCP_ACK_DEFERRED, tcp_backlog_ack_defer) goes now, if still due, with
        what the whole backlog made of rcv_nxt and the window.  Measured: a window update
        let two 47417-byte segments in while the reader's recv() held the socket; the first
        asked for an ACK at once (quick-ACK after idle), and the one ACK came after both
        (ack past the second, window 0).  tcp_add_backlog() would have merged them into
        one skb, but the lab's capture holds a clone of each (packet_rcv()), so
        skb_try_coalesce() refuses the first (skb_cloned())."""
        if self.ack_deferred.pop(sid, False) and sk is not None and self.socks.get(sid) is sk \
                and sk.ack_sched:
            self._send_ack(sk)

    def _locked(self, call, sid: int, *args):
        """A call that holds the socket (lock_sock() ... release_sock())."""
        held = self._lock(sid)
        try:
            return call(self, sid, *args)
        finally:
            if held:
                self._release(sid)

    def send(self, sid: int, data: bytes, flags: int = 0) -> int:
        return self._locked(TcpCalls.send, sid, data, flags)

    def recv(self, sid: int, n: int, flags: int = 0) -> bytes:
        return self._locked(TcpCalls.recv, sid, n, flags)

    def sendmsg_fastopen(self, sid: int, data: bytes, flags: int, to) -> tuple[int, int]:
        return self._locked(TcpFastopenClient.sendmsg_fastopen, sid, data, flags, to)

    def flush_metrics(self) -> None:
        """`ip tcp_metrics flush all` (tcp_metrics_flush_all()): the cached Fast Open
        cookies and MSS go (the model caches nothing else there)."""
        self.fastopen_cache.clear()

    # -- bookkeeping ---------------------------------------------------------------------
    def _new(self, **kw) -> Sock:
        s = Sock(id=self.next_id, **kw)
        self.next_id += 1
        self.socks[s.id] = s
        self.changed.add(s.id)
        return s

    def _free(self, sk: Sock) -> None:
        self.changed.add(sk.id)
        self._unhash(sk)
        self.socks.pop(sk.id, None)

    def _unhash(self, sk: Sock) -> None:
        key = (sk.local, sk.remote)
        if self.ehash.get(key) == sk.id:
            del self.ehash[key]
            self.changed.add(sk.id)

    def _hash(self, sk: Sock) -> None:
        self.ehash[(sk.local, sk.remote)] = sk.id
        self.changed.add(sk.id)

    def _set_state(self, sk: Sock, state: str, event: str = "", ref: str = "") -> None:
        if sk.state != state:
            self.log.append((self.now, sk.id, sk.local, sk.remote, sk.state, state, event, ref))
            self.changed.add(sk.id)
        sk.state = state

    def _transition(self, sk: Sock, event: str, seg: Seg | None = None) -> None:
        """Follow the table: the row for (state, event) gives the next state and the actions."""
        r = rule(sk.state, event)
        if r is None:
            raise AssertionError(f"no rule for {event} in {sk.state}")  # a model bug
        self.covered.add((r.state, r.event))
        self._set_state(sk, r.next, event, r.ref)
        for action in r.actions:
            getattr(self, "_act_" + action)(sk, seg)
        if self.epolls and r.next != r.state and event not in _NO_STATE_WAKEUP:
            # sk->sk_state_change() (sock_def_wakeup(): every waiter, no key): the kernel
            # signals the changes segments and timers make (tcp_finish_connect(), tcp_fin(),
            # tcp_rcv_state_process(), tcp_done()) and shutdown()'s (inet_shutdown()); the
            # caller's own connect(), listen() and close() signal none, nor a SYN (a
            # listener is woken when the child joins its queue; a crossed SYN moves
            # SYN_SENT to SYN_RECV in tcp_rcv_synsent_state_process() without one), nor a
            # row that keeps the state (a SYN sent again)
            self._ep_wake(sk, 0)

    def sock(self, sid: int) -> Sock:
        return self.socks[sid]

    def table_entry(self, sid: int) -> tuple | None:
        """The one row of table() for this sock, or None (not in the tables)."""
        s = self.socks.get(sid)
        if s is None:
            return None
        if s.state == "LISTEN":
            return (s.local, ("0.0.0.0" if s.family == 2 else "::", 0), "LISTEN")
        if self.ehash.get((s.local, s.remote)) == s.id:
            return (s.local, s.remote, "SYN_RECV" if s.kind == "request" else s.state)
        return None

    def table(self) -> list[tuple]:
        """Every socket the kernel's tables hold, as sock_diag shows them (request socks as
        SYN_RECV, timewait socks in their substate)."""
        out = []
        for s in self.socks.values():
            if s.state == "LISTEN":
                out.append((s.local, ("0.0.0.0" if s.family == 2 else "::", 0), "LISTEN"))
            elif self.ehash.get((s.local, s.remote)) == s.id:
                out.append((s.local, s.remote, "SYN_RECV" if s.kind == "request" else s.state))
        return out

    def _race(self, kind: str, sk: Sock) -> bool:
        """A race (Race) met now: False, the model's way, unless this one is to be flipped."""
        flipped = len(self.races) in self.flips
        self.races.append(Race(kind, sk.id, self.xmitted, flipped))
        return flipped

    # -- clocks and numbers --------------------------------------------------------------
    def _ts_val(self, sk: Sock) -> int:
        return (int(self.now * 1000) + sk.ts_offset) & 0xFFFFFFFF  # TCP_TS_HZ = 1000

    def _isn(self) -> int:
        return self.rng.getrandbits(32)
