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
from dataclasses import dataclass, field, fields
from typing import NamedTuple

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ECE, CWR = 0x40, 0x80  # RFC 3168's header bits (only the passive negotiation is modelled)
# TCP_SKB_CB(skb)->eor on a write-queue skb (Sock.wq's flags; never a header bit): the end of
# a send(MSG_EOR), which nothing is appended to or collapsed into (tcp_skb_can_collapse_to())
EOR = 0x1000
RCV_SHUTDOWN, SEND_SHUTDOWN = 1, 2
TCP_TIMEWAIT_LEN = 60.0
TCP_MIN_MSS_DEFAULT = 536  # TCP_MSS_DEFAULT: the receiver's first guess of the peer's MSS
TCP_MAX_QUICKACKS = 16
TCP_MAX_WSCALE = 14  # a larger shift on the wire is taken as 14 (tcp_parse_options())
TCP_RTO_MIN = 0.2
TCP_TIMEOUT_MIN_US = 2000  # the loss probe's floor, in us (include/net/tcp.h)
TCP_TIMEOUT_INIT = 1.0
TCP_RTO_MAX = 120.0
TCPOLEN_TSTAMP_ALIGNED = 12
TCP_NAGLE_OFF, TCP_NAGLE_CORK, TCP_NAGLE_PUSH = 1, 2, 4  # the nonagle of tcp_write_xmit()
TCP_MSS_DEFAULT = 536
TCP_MIN_MSS, MAX_TCP_WINDOW = 88, 32767  # the bounds of TCP_MAXSEG (do_tcp_setsockopt())
# L1_CACHE_ALIGN(128 + MAX_HEADER): 192 with this kernel's config, measured two ways: the
# send buffer tcp_sndbuf_expand() gives after the handshake steps from 69120 (3 * 10 * 2304) to
# 130560 (3 * 10 * 4352) between lo MTU 1576 and 1577, an MSS of 1536 and 1537, so the MSS's
# headers and shared info take 512 bytes (192 + 320); and at MTU 13112 (MSS 13060) lo carries
# GSO packets of 65300 bytes, more than 65536 - 256 - 1 would allow.  sk_gso_max_size is lo's
# gso_max_size less it and 1 (sk_setup_caps()): 65343
MAX_TCP_HEADER = 192
SKB_SHINFO_SIZE = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
SKB_DATA_ALIGN_SK_BUFF = 256  # SKB_DATA_ALIGN(sizeof(struct sk_buff))
GSO_MAX_SIZE = 65536  # lo's gso_max_size (GSO_LEGACY_MAX_SIZE): a larger packet is segmented
# The truesize of a data skb, beyond its payload (which is in page frags): its head from
# skb_small_head_cache, SKB_SMALL_HEAD_CACHE_SIZE (SKB_HEAD_ALIGN(MAX_TCP_HEADER) is 512, a
# power of two, so 64 more: 576), and its struct sk_buff (256).  The sender is charged it per
# queued skb in sk_wmem_queued (tcp_stream_alloc_skb(); measured on 6.18.44 with SO_MEMINFO:
# sk_wmem_queued less SIOCOUTQ is 832 per skb for every send size from 1 to 100000 bytes, at
# lo's MTU and at 1500), and the receiver in sk_rmem_alloc (skb_set_owner_r(): lo delivers the
# sender's skb).  832, not the 896 fitted to the bulk transfers (whose 32741-byte skbs give the
# same scaling_ratio either way): the windows after 988-, 4000- and 4940-byte skbs (69, 102 and
# 105 x1024, TCP_MAXSEG 1000) fit 832 only; `ss -tmi` shows r1832 after 1000 bytes arrive, and
# 832 + the payload after one segment of 1, 100, 2048, 8192 or 32741 bytes.
_SKB_SMALL_HEAD_SIZE = MAX_TCP_HEADER + SKB_SHINFO_SIZE  # SKB_HEAD_ALIGN(MAX_TCP_HEADER)
SKB_SMALL_HEAD_CACHE_SIZE = _SKB_SMALL_HEAD_SIZE + (
    64 if _SKB_SMALL_HEAD_SIZE & (_SKB_SMALL_HEAD_SIZE - 1) == 0 else 0)  # + L1_CACHE_BYTES
SKB_TRUESIZE_LO = SKB_SMALL_HEAD_CACHE_SIZE + SKB_DATA_ALIGN_SK_BUFF  # 832
SKB_TX_TRUESIZE = SKB_TRUESIZE_LO  # the same skb, as the sender's sk_wmem_queued counts it
SKB_OVERHEAD = SKB_TRUESIZE_LO  # the old name
# SOCK_MIN_RCVBUF: TCP_SKB_MIN_TRUESIZE, 2048 + sizeof(struct sk_buff), the least sk_rcvbuf
# SO_RCVBUF sets (__sock_set_rcvbuf(); measured: SO_RCVBUF 1 and 1000 read back 2304 on 6.18)
SOCK_MIN_RCVBUF = 2048 + 256
SOCK_MIN_SNDBUF = 2 * (2048 + 256)  # 2 * TCP_SKB_MIN_TRUESIZE: SO_SNDBUF's floor (4608)
# tcp_sndbuf_expand()'s per-MSS memory: roundup_pow_of_two(MSS + MAX_TCP_HEADER +
# SKB_DATA_ALIGN(sizeof(struct skb_shared_info))) + SKB_DATA_ALIGN(sizeof(struct sk_buff))
SNDBUF_SKB_HEADROOM = MAX_TCP_HEADER + SKB_SHINFO_SIZE  # 512
TCP_INIT_CWND = 10
# What copying a received byte to the reader costs, for the receive-buffer autotuning's clock
# (tcp_rcv_space_adjust() runs after each skb a recv() copies, and compares the time since its
# last measure with the receiver's RTT, tens of microseconds on lo).  Measured here: one recv()
# of 1,000,000 bytes queued on lo took 435-464 us (3 runs, tracepoint tcp_rcv_space_adjust).
COPY_SECONDS_PER_BYTE = 0.45e-9
# Below this the receiver's RTT estimate and the time since tcp_rcv_space_adjust()'s last
# measure are microseconds the model does not keep (a race, docs/races.md "drs"): on lo the
# estimate is tens of us, or the 1000 us of one millisecond tick in a timestamp sample.
DRS_RACE_SECONDS = 1e-3

# ioctl(2) requests tcp_ioctl() answers (include/uapi/linux/sockios.h, asm-generic/ioctls.h)
SIOCINQ, SIOCOUTQ, SIOCOUTQNSD = 0x541B, 0x5411, 0x894B

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
    # a GSO packet's segment size (skb_shinfo(skb)->gso_size: the sender's MSS) when the
    # payload is several MSS sent as one packet (lo hands the skb over unsplit), 0 for a
    # segment of one MSS or less; the receiver measures its peer's MSS by it
    gso: int = 0
    # lo hands over a clone of the sender's skb (tcp_transmit_skb()), whose data stays shared
    # (skb_cloned()) until the sender frees its own copy on the ACK; a GSO packet lo cuts
    # (tcp_gso_segment()) arrives as new skbs, but the lab's capture holds a clone of each
    # (packet_rcv()) until it reads them, which the same ACK stands for; whatever a
    # packetdrill script sends is never shared (Kernel.rx_shared False)
    shared: bool = False
    # teaching only (tcpsim/teach/explain.py): what a timer's segment was sent for, set by
    # TcpTimers.handle_timer() (Kernel.cause: the timer's name and the numbers behind its
    # length); None for a segment a call or an arrival sent (tcp_output.py passes it by
    # position: keep it here)
    why: dict | None = None
    # the IP header's TOS byte (its low two bits ECN's), as the lab reads it off the wire
    # (pkt run --kernel checks a script's [ect0] against it); the model sends 0
    tos: int = 0
    urg: int = 0  # the urgent pointer as on the wire (the lab's; the model sends 0)

    @property
    def seg_len(self) -> int:
        return len(self.payload) + bool(self.flags & SYN) + bool(self.flags & FIN)


class RtxSkb(NamedTuple):
    """An skb of the retransmit queue: TCP_SKB_CB(skb)->seq, its bytes (kept for the loss
    probe), TCP_SKB_CB(skb)->tcp_flags (PSH, FIN) and tcp_skb_mss() (its gso_size, the MSS
    it was sent at)."""

    seq: int
    data: bytes
    flags: int
    mss: int
    sent: float = 0.0  # skb->skb_mstamp_ns: when it left (an RTT sample when acknowledged)
    retrans: bool = False  # TCPCB_RETRANS: sent again (Karn: no RTT sample from its ACK)
    lost: bool = False  # TCPCB_LOST: marked lost (an RTO, RACK), not yet resent
    sacked: bool = False  # TCPCB_SACKED_ACKED: the peer holds it (a SACK block covered it)
    # sent again after being marked lost (TCPCB_SACKED_RETRANS, with TCPCB_LOST kept: the
    # kernel's lost_out still counts it, retrans_out too until it is SACKed or lost again)
    rtx_lost: bool = False
    # which transmit burst sent it (Sock.xmit_burst): one tcp_write_xmit() or one ACK's
    # retransmissions share a timestamp (tcp_mstamp_refresh() once per burst); the model's
    # clock does not move between two calls that meet nothing, the kernel's moves microseconds
    burst: int = 0
    # TCP_SKB_CB(skb)->tx.delivered: tp->delivered when it was last sent (tcp_rate_skb_sent())
    tx_delivered: int = 0

    @property
    def end_seq(self) -> int:
        """TCP_SKB_CB(skb)->end_seq: a FIN takes one sequence number."""
        return (self.seq + len(self.data) + bool(self.flags & FIN)) & 0xFFFFFFFF

    @property
    def pcount(self) -> int:
        """tcp_skb_pcount(), as tcp_set_skb_tso_segs() sets it: one packet, or the bytes over
        the MSS rounded up."""
        return max(1, -(-len(self.data) // self.mss))


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
    # tp->nonagle: TCP_NAGLE_OFF (TCP_NODELAY), TCP_NAGLE_CORK (TCP_CORK), TCP_NAGLE_PUSH (a
    # push owed by TCP_NODELAY or uncorking, cleared by the next new skb: tcp_skb_entail())
    nonagle: int = 0
    user_mss: int = 0  # tp->rx_opt.user_mss: TCP_MAXSEG (do_tcp_setsockopt())
    notsent_lowat: int = 0  # tp->notsent_lowat: TCP_NOTSENT_LOWAT (0: the sysctl's, UINT_MAX)
    syncnt: int = 0
    rcvbuf: int = 0
    sndbuf: int = 0  # sk_sndbuf; 0: tcp_wmem[1], as tcp_init_sock() sets it
    sndbuf_lock: bool = False  # SOCK_SNDBUF_LOCK: SO_SNDBUF was set (no tcp_sndbuf_expand())
    nospace: bool = False  # SOCK_NOSPACE: a send() or poll() found no room (tcp_check_space())
    opts: dict = field(default_factory=dict)  # options stored but not modelled
    # listener
    backlog: int = 0
    accept_queue: list = field(default_factory=list)
    # TCP Fast Open's server side (tcp_fastopen.py): the listener's fastopenq (max_qlen, qlen);
    # the cookie option [name, hex] a request's SYN-ACK carries; a passive Fast Open child's
    # listener id while its handshake is pending (tp->fastopen_rsk; 0: none); and
    # tp->syn_data_acked (TCPI_OPT_SYN_DATA)
    fastopen_max_qlen: int = 0
    fastopen_qlen: int = 0
    fastopen_synack: list | None = None
    fastopen_rsk: int = 0
    fastopen_key: bytes = b""  # TCP_FASTOPEN_KEY's primary key (fastopenq.ctx), b"": the sysctl's
    syn_data_acked: bool = False
    # RFC 3168 ECN negotiated on a passive open (inet_rsk(req)->ecn_ok, then the child's
    # tp->ecn_flags TCP_ECN_OK, TCPI_OPT_ECN); nothing after the handshake is modelled
    ecn_ok: bool = False
    # Fast Open's client side (tcp_fastopen.py): TCP_FASTOPEN_CONNECT and _NO_COOKIE
    # (tp->fastopen_connect, fastopen_no_cookie), inet DEFER_CONNECT (connect() returned
    # without a SYN), tp->fastopen_req while a Fast Open connect is under way (a dict: the
    # data, its size, what the SYN copied, whether the SYN went), tp->syn_fastopen and
    # syn_fastopen_exp (the SYN carried the option, the experimental one), tp->syn_data,
    # tp->fastopen_client_fail (tcpi_fastopen_client_fail), sk_write_pending (a blocked
    # writer waits for the handshake: inet_wait_for_connect()'s writebias), and how the
    # SYN-ACK's ACK goes (tcp_rcv_synsent_state_process(): "" at once, "rtx" none,
    # "delay" held back)
    fastopen_connect: bool = False
    fastopen_no_cookie: bool = False
    defer_connect: bool = False
    fastopen_req: dict | None = None
    syn_fastopen: bool = False
    syn_fastopen_exp: bool = False
    syn_data: bool = False
    fastopen_client_fail: int = 0
    write_pending: int = 0
    synack_ack: str = ""
    parent: int | None = None
    # life
    files: int = 1  # descriptors that refer to it (fork() copies them); tcp_close() at the last
    orphan: bool = False
    shutdown: int = 0
    err: int = 0
    err_soft: int = 0  # sk_err_soft: an ICMP error while connected (tcp_v4_err())
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
    # the retransmit queue (sk->tcp_rtx_queue): the skbs sent and not yet acknowledged,
    # oldest first, as RtxSkb (seq, data, flags, mss).  They stay charged to sk_wmem_queued
    # until tcp_clean_rtx_queue() frees them (or trims one of several packets to snd_una:
    # tcp_tso_acked()); the tail loss probe resends the last (tcp_send_loss_probe())
    rtxq: list = field(default_factory=list)
    tlp_high_seq: int = 0  # snd_nxt when a loss probe went; 0 when none is outstanding
    # tcp_enter_loss(): icsk_ca_state TCP_CA_Loss after an RTO, until snd_una passes
    # high_seq (snd_nxt then; tcp_process_loss())
    ca_loss: bool = False
    high_seq: int = 0
    # tp->frto: F-RTO (RFC 5682) under way for this RTO (tcp_enter_loss(), tcp_frto sysctl)
    frto: bool = False
    # tp->retrans_stamp for data: when the first RTO retransmission of an episode went
    # (tcp_retransmit_skb(); the loss probe does not set it); -1: none
    data_retrans_stamp: float = -1.0
    mss_clamp: int = 0  # tp->rx_opt.mss_clamp: the peer's MSS option (tcp_sndbuf_expand())
    fin_sent: bool = False
    # congestion window (tcp_cong.py): in segments, as tcp_sock keeps it (tcp_sndbuf_expand()
    # sizes the send buffer by it)
    snd_cwnd: int = TCP_INIT_CWND  # tcp_init_sock(), tcp_init_transfer()
    snd_ssthresh: int = 0x7FFFFFFF  # TCP_INFINITE_SSTHRESH
    snd_cwnd_cnt: int = 0  # tcp_cong_avoid_ai()'s count of acked segments
    # the rtxq's packets: the sum of its skbs' tcp_skb_pcount(), kept as the kernel keeps it
    # (tcp_packets_out_inc() as an skb is sent, less what tcp_clean_rtx_queue() frees or trims)
    packets_out: int = 0
    max_packets_out: int = 0  # tcp_cwnd_validate()'s record of this round
    is_cwnd_limited: bool = False
    cwnd_usage_seq: int = 0
    lsndtime: float = -1.0  # when data was last sent (tcp_event_data_sent()); -1: never
    total_retrans: int = 0  # SYNs or SYN-ACKs sent again (tcp_init_transfer()'s cwnd of 1)
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
    # the tail skb's frame is still held by the lab's capture when this is the kernel's
    # capture_reads count (-1: read, or not from lo)
    rcvq_tail_capture: int = -1
    # the tail skb's room for more bytes when it is linear (a packet tun made: skb_tailroom()),
    # -1 when its bytes are page frags (lo), which skb_try_coalesce() takes by reference
    rcvq_tailroom: int = -1
    # the out-of-order queue (tp->out_of_order_queue), by seq: [seq, payload, fin, truesize,
    # shared] per skb; and what the ACKs say of it (tp->rx_opt): the SACK blocks, most recent
    # first (selective_acks, at most 4), and a D-SACK block waiting to be sent
    # (duplicate_sack[0] while rx_opt.dsack), both [start, end)
    ofo: list = field(default_factory=list)
    sacks: list = field(default_factory=list)
    dsack: tuple | None = None
    ack_now: bool = False  # ICSK_ACK_NOW: the next __tcp_ack_snd_check() sends at once
    # SACK compression (__tcp_ack_snd_check()): rcv_nxt when dup_ack_counter was reset, the
    # ACKs owed to the out-of-order data since, and those the hrtimer holds back
    comp_rcv_nxt: int = -1
    dup_ack_counter: int = 0
    compressed_ack: int = 0
    scaling_ratio: int = 128  # TCP_DEFAULT_SCALING_RATIO, then measured (tcp_measure_rcv_mss)
    window_clamp: int = 0
    last_seg_size: int = 0  # icsk_ack.last_seg_size (tcp_measure_rcv_mss())
    # receive-buffer autotuning (tcp_rcv_space_adjust(), tcp_rcvbuf_grow()): sk_rcvbuf as it
    # grew (0: never; a buffer set with SO_RCVBUF is locked and never grows), the bytes read
    # in the last measured RTT (rcvq_space.space) and where and when that measure began
    rcvbuf_grown: int = 0
    rcvq_space: int = 0
    rcvq_space_seq: int = 0
    rcvq_space_time: float = 0.0
    # the receiver's RTT estimate (rcv_rtt_est: rtt_us << 3, and the window it is timing)
    rcv_rtt_us: int = 0
    rcv_rtt_seq: int = 0
    rcv_rtt_time: float = 0.0
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
    # icsk_ack.lrcvtime: the last data's arrival, first set as the connection is established
    # (tcp_finish_connect(), tcp_create_openreq_child()); never for a simultaneous open
    # (jiffies 0: long ago), whose ACK of a SYN-ACK taken as old data sets ato
    lrcvtime: float = -1e9
    # keepalive (tcp_keepalive_timer()): tp->rcv_tstamp, when tcp_ack() last took an ACK;
    # SOCK_KEEPOPEN (SO_KEEPALIVE); TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT,
    # 0 while unset: keepalive_time_when() and the others then read the sysctls
    rcv_tstamp: float = 0.0
    keepopen: bool = False
    keepalive_time: int = 0
    keepalive_intvl: int = 0
    keepalive_probes: int = 0
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
    # the probe timer (tcp_probe_timer(): the zero window's persist timer, TCP_CORK's limit):
    # icsk_backoff and icsk_probes_out; and when an out-of-window segment was last answered,
    # in jiffies (tp->last_oow_ack_time; -1: never)
    backoff: int = 0
    probes_out: int = 0
    last_oow_ack: int = -1
    tw_rcv_wnd: int = 0  # a timewait sock's: tcp_receive_window() when it was made
    retrans_stamp: float = 0.0  # when the first SYN (or a request's first SYN-ACK) went out
    snd_sml: int = 0  # end of the last small segment sent (Minshall's Nagle)
    ip_id: int = 0
    wstamp: float = 0.0  # tp->tcp_wstamp_ns: when the socket last transmitted (any segment)
    # the RTT estimator (tcp_rtt_estimator()), in microseconds: srtt_us is 8 x the smoothed
    # RTT, mdev_us 4 x its mean deviation, as tcp_sock keeps them; 0: no sample yet
    srtt_us: int = 0
    mdev_us: int = 0
    mdev_max_us: int = 0
    rttvar_us: int = 0
    rtt_seq: int = 0
    # loss recovery (tcp_input.c, tcp_recovery.c): icsk_ca_state TCP_CA_Recovery after a
    # fast retransmit, its PRR counters (tcp_init_cwnd_reduction()), the window before it
    # (prior_cwnd), RACK's most recently delivered skb (rack.mstamp, rack.end_seq, rack.rtt_us)
    # and the least RTT seen (tcp_min_rtt(), in us; 0: none)
    ca_recovery: bool = False
    prior_cwnd: int = 0
    prr_delivered: int = 0
    prr_out: int = 0
    rack_mstamp: float = -1.0
    rack_end_seq: int = 0
    rack_burst: int = 0
    rack_rtt_us: int = 0
    rack_advanced: bool = False
    min_rtt_us: int = 0
    # sk_pacing_rate in bytes per second (tcp_update_pacing_rate()); -1: ~0UL, as
    # sock_init_data() leaves it until the first update
    pacing_rate: int = -1
    reordering: int = 3  # tp->reordering: tcp_reordering
    xmit_burst: int = 0  # counts the transmit bursts (RtxSkb.burst)
    reord_seen: int = 0  # tp->reord_seen: reorderings detected (tcp_check_sack_reordering())
    # tp->delivered (packets delivered, the SYN's included), and RACK's reordering window in
    # steps of a quarter of min RTT (tp->rack.reo_wnd_steps), widened by a D-SACK
    # (rack.dsack_seen) once per round (rack.last_delivered), kept for reo_wnd_persist
    # recoveries (tcp_rack_update_reo_wnd())
    delivered: int = 0
    reo_wnd_steps: int = 1
    reo_wnd_persist: int = 0
    rack_dsack_seen: bool = False
    rack_last_delivered: int = 0
    # undo (tcp_init_undo(), tcp_undo_cwnd_reduction()): whether a reduction may be undone
    # (tp->undo_marker != 0) and from where, the retransmissions not yet shown spurious by a
    # D-SACK (undo_retrans, -1: none sent), ssthresh before the reduction (prior_ssthresh,
    # 0: none), cubic's window at the last loss (last_max_cwnd) and the D-SACKed segments
    undo_on: bool = False
    undo_marker: int = 0
    undo_retrans: int = -1
    prior_ssthresh: int = 0
    last_max_cwnd: int = 0
    # the rest of cubic's struct bictcp (tcp_cubic.c, model/tcp_cong.py _bictcp_update()):
    # cnt, last_cwnd, last_time (jiffies), bic_origin_point, bic_K, delay_min (us),
    # epoch_start (jiffies; None: no epoch, the kernel's 0), ack_cnt, tcp_cwnd
    bic_cnt: int = 0
    bic_last_cwnd: int = 0
    bic_last_time: int = 0
    bic_origin_point: int = 0
    bic_k: int = 0
    bic_delay_min: int = 0
    bic_epoch_start: int | None = None
    bic_ack_cnt: int = 0
    bic_tcp_cwnd: int = 0
    dsack_dups: int = 0
    sacked_out: int = 0  # packets of the retransmit queue the peer SACKed
    lost_out: int = 0  # packets marked lost and not yet sent again (the model's retrans_out)

    def __deepcopy__(self, memo: dict) -> "Sock":
        """A copy for the explorer's snapshots (sim/explore.py), made without walking every
        field: all are numbers, strings or tuples of them, except the containers in
        SOCK_CONTAINERS, whose items are too, so one level of copying is a deep copy."""
        new = object.__new__(Sock)
        memo[id(self)] = new
        _copy_fields(self, new)
        return new


_FIELDS = tuple(f.name for f in fields(Sock))
SOCK_CONTAINERS = ("opts", "accept_queue", "unsent", "wq", "rtxq", "rcvq", "rcvq_ts", "timers",
                   "timer_order", "rx_backlog", "ofo", "sacks")


def _make_copy_fields():
    """dst's fields set from src's, the containers (lists, dicts, a bytearray: .copy() is
    copy.copy() for each) copied one level: one generated assignment a field, as dataclasses
    writes __init__ (a getattr()/setattr() loop over 180 fields took 4 times as long)."""
    lines = ["def _copy_fields(src, dst):"]
    for name in _FIELDS:
        copied = ".copy()" if name in SOCK_CONTAINERS else ""
        lines.append(f"    dst.{name} = src.{name}{copied}")
    scope: dict = {}
    exec("\n".join(lines), scope)
    return scope["_copy_fields"]


_copy_fields = _make_copy_fields()
