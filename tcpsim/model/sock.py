"""The model's plain data: the segment, the socket, the numbers they use.

What Linux keeps in include/net/sock.h (struct sock), include/linux/tcp.h (struct tcp_sock),
include/net/inet_connection_sock.h (the delayed-ACK engine, icsk_ack) and include/net/tcp.h
(TCP_TIMEWAIT_LEN, TCP_RTO_MIN, the sequence-number comparisons before() and after()).
Seg is a segment as the model sends it; Sock is a full, request or timewait socket, all
numbers, strings and flat containers, so that a snapshot (sim/explore.py) is a cheap copy.
The code working on them is in the modules named after the kernel files: tcp.py, tcp_input.py,
tcp_output.py, tcp_timer.py, tcp_minisocks.py; kernel.py puts them together.
"""

from __future__ import annotations

import errno as E
from copy import copy
from dataclasses import dataclass, field, fields

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
RCV_SHUTDOWN, SEND_SHUTDOWN = 1, 2
TCP_TIMEWAIT_LEN = 60.0
TCP_MIN_MSS_DEFAULT = 536  # TCP_MSS_DEFAULT: the receiver's first guess of the peer's MSS
TCP_MAX_QUICKACKS = 16
TCP_MAX_WSCALE = 14  # a larger shift on the wire is taken as 14 (tcp_parse_options())
TCP_RTO_MIN = 0.2
TCP_TIMEOUT_INIT = 1.0
TCP_RTO_MAX = 120.0
TCPOLEN_TSTAMP_ALIGNED = 12
TCP_NAGLE_OFF, TCP_NAGLE_CORK, TCP_NAGLE_PUSH = 1, 2, 4  # the nonagle of tcp_write_xmit()
TCP_MSS_DEFAULT = 536
# tcp_tso_segs() on lo: at most 64 KiB of GSO (gso_max_size), and at least bbr_min_tso_segs()
# (2 at any pacing rate lo reaches): tcp_write_xmit() sends and grows skbs of up to 2 MSS
TSO_SEGS = 2
GSO_MAX_SIZE = 65536  # lo's gso_max_size (GSO_LEGACY_MAX_SIZE): a larger packet is segmented
# The truesize of an skb lo delivers, beyond its payload (which is in page frags): the
# sender's head (from skb_small_head_cache) and its struct sk_buff: what sk_rmem_alloc is
# charged per queued skb (skb_set_owner_r()).  Measured on 6.18.44 (ss -tm, skmem r, after
# one segment of 1, 100, 1000, 2048, 8192 or 32741 bytes): 832 + the payload.  (896 was
# fitted to the windows of the first captures; 832 gives the same windows in all of them.)
SKB_TRUESIZE_LO = 832
SKB_OVERHEAD = SKB_TRUESIZE_LO  # the old name
# SOCK_MIN_RCVBUF: 2048 + sizeof(struct sk_buff), the least sk_rcvbuf SO_RCVBUF sets
# (__sock_set_rcvbuf(); measured: SO_RCVBUF 1 and 1000 read back 2304 on 6.18)
SOCK_MIN_RCVBUF = 2048 + 256

UNJUDGED = -1.0  # Kernel.outfate: a segment the world still has to judge (sim/world.py)

POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM, POLLRDHUP = (
    0x1, 0x4, 0x8, 0x10, 0x40, 0x100, 0x2000)



def seq_lt(a: int, b: int) -> bool:
    return ((a - b) & 0xFFFFFFFF) > 0x7FFFFFFF


def seq_le(a: int, b: int) -> bool:
    return a == b or seq_lt(a, b)


def _oserror(code: int) -> OSError:
    if code in (E.EAGAIN, E.EINPROGRESS):
        return BlockingIOError(code, E.errorcode[code])
    return OSError(code, E.errorcode.get(code, str(code)))


@dataclass(slots=True)
class Seg:
    """A segment as the model sends it."""

    src: tuple
    dst: tuple
    flags: int
    seq: int
    ack: int
    win: int
    options: list = field(default_factory=list)
    payload: bytes = b""
    ip_id: int = 0
    # a GSO packet's segment size (skb_shinfo(skb)->gso_size: the sender's MSS), 0 for one
    # segment; lo hands the packet over whole, and the receiver measures its peer's MSS by it
    gso_size: int = 0
    # lo hands over a clone of the sender's skb (tcp_transmit_skb()), whose data stays shared
    # (skb_cloned()) until the sender frees its own copy on the ACK; a GSO packet lo cuts
    # (tcp_gso_segment()) arrives as new skbs, and so does whatever a packetdrill script sends
    shared: bool = False

    @property
    def seg_len(self) -> int:
        return len(self.payload) + bool(self.flags & SYN) + bool(self.flags & FIN)


@dataclass(slots=True)
class Sock:
    """A struct sock (or request sock, or timewait sock) of the model, as plain data."""

    id: int
    family: int = 2
    state: str = "CLOSE"
    kind: str = "full"  # full | request | timewait
    local: tuple | None = None
    remote: tuple | None = None
    bound: bool = False
    addr_locked: bool = False  # SOCK_BINDADDR_LOCK: bind() named the local address
    port_locked: bool = False  # SOCK_BINDPORT_LOCK: bind() named the port
    sock_state: str = "unconnected"  # the socket layer's SS_* state (af_inet.c)
    # options
    reuseaddr: bool = False
    linger: tuple | None = None  # (onoff, seconds)
    nodelay: bool = False
    syncnt: int = 0
    rcvbuf: int = 0
    sndbuf: int = 0
    opts: dict = field(default_factory=dict)  # options stored but not modelled
    # listener
    backlog: int = 0
    accept_queue: list = field(default_factory=list)
    parent: int | None = None
    # life
    orphan: bool = False
    shutdown: int = 0
    err: int = 0
    done: bool = False  # SOCK_DONE: a FIN arrived
    # send side
    iss: int = 0
    snd_una: int = 0
    snd_nxt: int = 0
    write_seq: int = 0
    snd_wnd: int = 0
    snd_wscale: int = 0
    mss_cache: int = 536  # tcp_sync_mss(): mss_mtu bounded by half the largest window seen
    mss_mtu: int = 536  # tcp_mtu_to_mss(): the peer's MSS (and ours) less the TS option
    max_window: int = 0  # the largest window the peer offered (tcp_bound_to_half_wnd())
    unsent: bytearray = field(default_factory=bytearray)  # the write queue's bytes
    # the write queue's skbs, oldest first: (length, flags), flags PSH and FIN as
    # tcp_mark_push() and tcp_send_fin() set them; their lengths add up to len(unsent)
    wq: list = field(default_factory=list)
    push_end: int = 0  # write_seq at the end of the last send() (PSH goes there)
    pushed_seq: int = 0  # tcp_mark_push() moves it to write_seq (forced_push())
    fin_queued: bool = False
    fin_sent: bool = False
    # receive side
    irs: int = 0
    rcv_nxt: int = 0
    rcv_wup: int = 0
    rcv_wnd: int = 0
    rcv_wscale: int = 0
    rcv_ssthresh: int = 0
    rcvq: list = field(default_factory=list)  # [payload bytes] in order; b"" marks FIN
    rcvq_ts: list = field(default_factory=list)  # each rcvq skb's truesize (sk_rmem_alloc)
    # where the receive queue's tail skb ends if it is a clone whose data the sender still
    # holds (skb_cloned() until the sender's snd_una passes it); -1: the tail is its own
    rcvq_tail_clone: int = -1
    scaling_ratio: int = 128  # TCP_DEFAULT_SCALING_RATIO, then measured (tcp_measure_rcv_mss)
    window_clamp: int = 0
    last_seg_size: int = 0  # icsk_ack.last_seg_size (tcp_measure_rcv_mss())
    advmss: int = 0
    # options agreed
    ts_ok: bool = False
    sack_ok: bool = False
    ws_ok: bool = False
    ts_recent: int = 0
    ts_offset: int = 0
    # delayed ACK engine (inet_connection_sock icsk_ack)
    ack_sched: bool = False
    ack_pushed: int = 0  # 1: ICSK_ACK_PUSHED, 2: ICSK_ACK_PUSHED2
    quick: int = 0
    pingpong: int = 0
    ato: float = 0.0
    lrcvtime: float = 0.0
    rcv_mss: int = TCP_MIN_MSS_DEFAULT
    # timers: name -> deadline
    timers: dict = field(default_factory=dict)
    rx_backlog: list = field(default_factory=list)  # segments that came while a call held it
    # sk_backlog.len: the truesize of what joined the backlog since __release_sock() last
    # finished (it zeroes it only then, so what it is processing still counts)
    backlog_len: int = 0
    timer_order: dict = field(default_factory=dict)  # name -> arming count
    retries: int = 0
    rto: float = TCP_TIMEOUT_INIT
    # the persist timer (tcp_probe_timer()): icsk_backoff and icsk_probes_out; and when an
    # out-of-window segment was last answered, in jiffies (tp->last_oow_ack_time; -1: never)
    backoff: int = 0
    probes_out: int = 0
    last_oow_ack: int = -1
    retrans_stamp: float = 0.0  # when the first SYN went out
    snd_sml: int = 0  # end of the last small segment sent (Minshall's Nagle)
    ip_id: int = 0

    def __deepcopy__(self, memo: dict) -> "Sock":
        """A copy for the explorer's snapshots (sim/explore.py), made without walking every
        field: all are numbers, strings or tuples of them, except the containers in
        SOCK_CONTAINERS, whose items are too, so one level of copying is a deep copy."""
        new = object.__new__(Sock)
        memo[id(self)] = new
        for name in _FIELDS:
            setattr(new, name, getattr(self, name))
        for name in SOCK_CONTAINERS:
            setattr(new, name, copy(getattr(self, name)))
        return new


_FIELDS = tuple(f.name for f in fields(Sock))
SOCK_CONTAINERS = ("opts", "accept_queue", "unsent", "wq", "rcvq", "rcvq_ts", "timers",
                   "timer_order", "rx_backlog")
