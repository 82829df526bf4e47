"""The data phase in the model kernel, driven by hand (issue 17): what Linux 6.18 did on lo.

Segments move only when a test says so (tests/model_harness.py), so each rule shows alone:
tcp_bound_to_half_wnd, forced_push, tcp_grow_skb, tcp_send_fin, the receive window from the
skbs' truesize (tcp_measure_rcv_mss, tcp_grow_window, __tcp_select_window) and the window
update after a read (tcp_cleanup_rbuf).  The live tests (tests/test_lab_live.py) hold the
same programs against the kernel.
"""

import pytest

from tcpsim.model.kernel import ACK, FIN, POLLOUT, PSH, Seg
from tcpsim.scenario import parse
from tcpsim.sim.world import run_model
from tcpsim.trace import Call

from .model_harness import REFERENCE, Net, flags


def _data(segs):
    return [(flags(s), len(s.payload)) for s in segs if s.payload]


def test_a_send_beyond_the_first_window_leaves_in_half_window_segments():
    net = Net()
    _, c, child = net.connected()
    assert net.k.socks[c].mss_cache == 32741  # half of the SYN-ACK's 65483 (tcp_sync_mss)
    net.k.send(c, b"x" * 100000)
    first = net.take()
    # the second is pushed: more than half the largest window written (forced_push)
    assert _data(first) == [(".", 32741), ("P.", 32741)]
    net.deliver(first[:1])
    ack, = net.take()
    assert (flags(ack), ack.win) == (".", 93)  # (131072 - truesize) * 249/256, aligned up
    net.deliver(first[1:])
    assert net.take() == []  # less than a segment's room left: the ACK waits
    net.deliver([ack])
    # the window opened: the last two skbs leave as one (tcp_grow_skb), PSH from the last
    assert _data(net.take()) == [("P.", 34518)]


def test_the_fin_rides_on_the_last_unsent_skb():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x" * 65484)
    assert _data(net.take()) == [(".", 32741), ("P.", 32741)]  # 2 bytes wait for the window
    net.k.close(c)
    assert net.take() == []  # tcp_send_fin(): no FIN of its own while data is queued
    assert net.k.socks[c].wq == [(2, PSH | FIN)]


def test_a_read_of_more_than_an_mss_unacknowledged_acks_at_once():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x" * 100000)
    net.settle()
    sk = net.k.socks[child]
    assert (sk.rcv_nxt - sk.rcv_wup) % 2**32 == 67259  # two segments wait for a delayed ACK
    assert len(net.k.recv(child, 1 << 20)) == 100000
    ack, = net.take()  # tcp_cleanup_rbuf(): more than an MSS unacknowledged
    assert (flags(ack), ack.ack, ack.win) == (".", sk.rcv_nxt, 93)


# -- the congestion window (tcp_cong.py), measured at MTU 1500 on lo -----------------------
MTU1500 = REFERENCE.with_mtu(1500)


def test_the_initial_window_leaves_in_halves_as_gso_packets_at_mtu_1500():
    net = Net(MTU1500)
    _, c, child = net.connected()
    sk = net.k.socks[c]
    assert (sk.mss_cache, sk.snd_cwnd, sk.snd_ssthresh) == (1448, 10, 0x7FFFFFFF)
    net.k.send(c, b"x" * 30000)
    first = net.take()
    # one skb of 30000 (the size goal is 22 MSS); tcp_cwnd_test() lets half the window go
    # at a time: two GSO packets of 5 MSS, each one packet on lo with its gso_size
    assert _data(first) == [("P.", 7240), ("P.", 7240)]
    assert [s.gso for s in first] == [1448, 1448]
    assert (sk.packets_out, sk.is_cwnd_limited) == (10, True)
    net.deliver(first[:1])
    ack1, = net.take()
    net.deliver(first[1:])
    ack2, = net.take()
    assert (ack1.win, ack2.win) == (78, 92)
    net.deliver([ack1])  # 5 segments acked: slow start, 10 -> 15; half of 15 is 7
    assert sk.snd_cwnd == 15
    # 7 MSS go; the 3 left under the window would not carry the last 5384 bytes: it waits
    # for the next ACK (tcp_tso_should_defer(), cwnd-limited)
    assert _data(net.take()) == [("P.", 10136)]
    net.deliver([ack2])
    assert sk.snd_cwnd == 20
    assert _data(net.take()) == [("P.", 5384)]
    assert sk.packets_out == 11


def test_the_window_does_not_grow_when_the_sender_does_not_fill_it():
    """tcp_is_cwnd_limited(): on lo's MTU two segments fill the peer's window, and the
    kernel's snd_cwnd (TCP_INFO) stays 10 through a 1 MB transfer."""
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x" * 100000)
    net.settle()
    net.k.recv(child, 1 << 20)
    net.settle()
    sk = net.k.socks[c]
    assert (sk.snd_una, sk.packets_out, sk.snd_cwnd) == (sk.snd_nxt, 0, 10)


def test_the_window_restarts_after_an_idle_rto():
    net = Net(MTU1500)
    _, c, child = net.connected()
    sk = net.k.socks[c]
    net.k.send(c, b"x" * 30000)
    net.settle()
    grown = sk.snd_cwnd
    assert grown > 20 and sk.packets_out == 0
    net.k.recv(child, 1 << 20)
    net.settle()
    net.advance(0.1)  # less than the RTO (204 ms) idle: the window stays
    net.k.send(c, b"x" * 1448)
    net.settle()
    assert sk.snd_cwnd >= grown
    net.advance(0.5)  # more: tcp_cwnd_restart() halves it per RTO, down to 10
    net.k.send(c, b"x" * 30000)
    assert sk.snd_cwnd == 10
    assert _data(net.take()) == [("P.", 7240), ("P.", 7240)]


def test_the_gso_size_goal_and_tso_segments_follow_the_mss():
    net = Net(MTU1500)
    _, c, _ = net.connected()
    sk = net.k.socks[c]
    # tcp_xmit_size_goal(): half of lo's first window (65160) in whole MSS, then at most
    # sk_gso_max_size (64 KiB less MAX_TCP_HEADER + 1) once the window is larger
    assert net.k._xmit_size_goal(sk, 1448) == 22 * 1448
    sk.max_window = 200000
    assert net.k._xmit_size_goal(sk, 1448) == 45 * 1448
    assert net.k._tso_segs(sk, 1448) == 45  # tcp_tso_autosize() on lo's tiny min RTT
    assert net.k._tso_segs(sk, 32741) == 2  # tcp_min_tso_segs at lo's MTU
    lo = Net()
    _, c2, _ = lo.connected()
    assert lo.k._xmit_size_goal(lo.k.socks[c2], 32741) == 32741  # lo's MTU: the MSS itself


def _connect_losing_syns(lost: int):
    """(net, client, child) after `lost` SYNs were lost, each sent again by the timer."""
    net = Net(MTU1500)
    lst = net.listener()
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 8080))
    net.take()  # the first SYN
    for _ in range(lost):  # each lost; tcp_retransmit_timer() sends it again
        again = net.advance(net.k.next_timer() - net.k.now)
    net.deliver(again)
    net.settle()
    return net, c, net.k.accept(lst)


def test_after_two_lost_syns_the_window_starts_at_one_segment():
    """tcp_init_transfer(): cwnd 1 when the SYN went more than once again (and the SYN-ACK
    does not echo the first one's timestamp: tcp_try_undo_spurious_syn()); measured: a
    30000-byte write at MTU 1500 leaves as 1448, 1448, 1448, ... (no PSH on a single MSS cut
    from the write, tso_fragment()), where one lost SYN leaves the window at 10."""
    net, c, child = _connect_losing_syns(1)
    assert (net.k.socks[c].total_retrans, net.k.socks[c].snd_cwnd) == (1, 10)
    net.k.send(c, b"x" * 30000)
    assert _data(net.take()) == [("P.", 7240), ("P.", 7240)]
    net, c, child = _connect_losing_syns(2)
    sk = net.k.socks[c]
    assert (sk.total_retrans, sk.snd_cwnd, net.k.socks[child].snd_cwnd) == (2, 1, 10)
    net.k.send(c, b"x" * 30000)
    first = net.take()
    assert _data(first) == [(".", 1448)]
    net.deliver(first)
    net.deliver(net.take())  # its ACK: slow start, 1 -> 2, half of it is 1 segment at a time
    assert sk.snd_cwnd == 2
    assert _data(net.take()) == [(".", 1448), (".", 1448)]


# -- receive-buffer autotuning, DRS (tcp_rcv_space_adjust, tcp_rcvbuf_grow) -------------------

AUTOTUNE = """\
server: s = socket()
{rcvbuf}server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
client: send(fd, 100000) = 100000
client: close(fd) = 0
server: getsockopt(c, SO_RCVBUF)
server: recv(c, 1048576) = 100000
server: getsockopt(c, SO_RCVBUF)
server: recv(c, 1048576) = 0
server: close(c) = 0
"""


def _rcvbufs(text):
    from tcpsim.scenario import parse
    from tcpsim.sim.world import run_model

    trace = run_model(parse(text, "autotune.tcp"), REFERENCE)
    return [c.result for c in trace.calls if c.text.startswith("getsockopt")]


def test_a_read_of_more_than_the_last_measure_grows_the_receive_buffer():
    """Measured on 6.18 (SO_RCVBUF and tcpi_rcv_space after the read, in the lab and on bare
    sockets): the read of 100,000 bytes in three skbs copies 67258 bytes (the last two skbs,
    less the FIN still queued) more than an RTT after the first skb's measure, more than the
    65483 of tcp_init_buffer_space(), so sk_rcvbuf grows to 145794 (tcp_rcvbuf_grow(): twice
    67258, plus twice its growth, as space at scaling_ratio 249)."""
    assert _rcvbufs(AUTOTUNE.format(rcvbuf="")) == [131072, 145794]


def test_a_receive_buffer_set_with_so_rcvbuf_never_grows():
    """SO_RCVBUF locks the buffer (SOCK_RCVBUF_LOCK): tcp_rcvbuf_grow() leaves it."""
    text = AUTOTUNE.format(rcvbuf="server: setsockopt(s, SO_RCVBUF, 65536) = 0\n")
    assert _rcvbufs(text) == [131072, 131072]


def test_the_buffer_grows_by_the_kernels_own_numbers():
    """The first growth of a 1 MiB transfer as the kernel's tracepoint tcp_rcvbuf_grow showed
    it: 95232 bytes read in an RTT after 65483, at scaling_ratio 252 -> sk_rcvbuf 369290 and
    window_clamp 363519."""
    net = Net()
    _, c, child = net.connected()
    sk = net.k.socks[child]
    sk.scaling_ratio, sk.rcvq_space = 252, 65483
    net.k._rcvbuf_grow(sk, 95232)
    assert (sk.rcvbuf_grown, sk.window_clamp, sk.rcvq_space) == (369290, 363519, 95232)


def test_a_waitall_read_of_a_mib_keeps_the_data_moving_without_a_timer():
    """A recv(MSG_WAITALL) that takes part of what it wants sends window updates that let more
    data in at once; the run settles that before anyone waits for a timer (it used to sleep
    until the 40 ms delayed ACK, twice: 1 MiB took 1014 ms where the kernel takes 4 ms)."""
    from tcpsim.scenario import transfer
    from tcpsim.sim.world import run_model

    trace = run_model(transfer(1 << 20), REFERENCE)
    data = [s for s in trace.segments if s.length]
    assert sum(s.length for s in data) == 1 << 20
    assert max(b.t - a.t for a, b in zip(data, data[1:])) < 0.001


# -- readall(fd, N): a C read loop as one line ------------------------------------------------

READALL = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
{client}server: readall(c, 65536)
server: close(c) = 0
"""


def _readall(client):
    from tcpsim.scenario import parse
    from tcpsim.sim.world import run_model

    trace = run_model(parse(READALL.format(client=client), "readall.tcp"), REFERENCE)
    ends = [c for c in trace.calls if c.text.startswith("readall") and c.finished]
    return ends[-1].result, ends[-1].errno


def test_readall_returns_every_byte_at_end_of_file():
    """However the kernel splits the transfer into reads, the line's result is the total."""
    assert _readall("client: send(fd, 1048576) = 1048576\nclient: close(fd) = 0\n") == (
        1048576, None)
    assert _readall("client: close(fd) = 0\n") == (0, None)


def test_readall_returns_what_came_before_an_error_and_the_error_alone_otherwise():
    linger0 = "client: setsockopt(fd, SO_LINGER, {1, 0}) = 0\n"
    assert _readall(linger0 + "client: close(fd) = 0\n") == (-1, "ECONNRESET")
    # the bytes read before the reset are the result (the loop's total), as a C loop has it
    assert _readall("client: send(fd, 10) = 10\nclient: sleep 1ms\n" + linger0 +
                    "client: close(fd) = 0\n") == (10, None)


# -- the send buffer (sk_sndbuf, sk_wmem_queued): measured on 6.18.44 ----------------------
SO_SNDBUF = (1, 7)


def _sndbuf(net, sid):
    return net.k.getsockopt(sid, *SO_SNDBUF)


BBR = REFERENCE.with_sysctls({"net.ipv4.tcp_congestion_control": "bbr"})  # this host's default


def test_the_send_buffer_starts_at_tcp_wmem1_and_expands_at_establishment():
    net = Net(BBR)
    lst = net.listener()
    c = net.k.socket(2)
    assert _sndbuf(net, c) == 16384  # tcp_init_sock(): tcp_wmem[1]
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    child = net.k.accept(lst)
    # tcp_sndbuf_expand(): 3 (bbr) * 10 packets * (roundup_pow_of_two(65495 + 512) + 256)
    assert _sndbuf(net, c) == _sndbuf(net, child) == 3939840


@pytest.mark.parametrize("cc, mtu, expanded", [("bbr", 65536, 3939840), ("cubic", 65536, 2626560),
                                               ("bbr", 1500, 69120), ("cubic", 1500, 46080)])
def test_the_expansion_depends_on_the_congestion_control_and_the_mss(cc, mtu, expanded):
    profile = REFERENCE.with_sysctls({"net.ipv4.tcp_congestion_control": cc}).with_mtu(mtu)
    net = Net(profile)
    _, c, child = net.connected()
    assert (_sndbuf(net, c), _sndbuf(net, child)) == (expanded, expanded)


@pytest.mark.parametrize("value, sndbuf", [(4096, 8192), (1, 4608), (0, 4608), (-1, 8388608),
                                           (10**9, 8388608)])
def test_so_sndbuf_doubles_within_wmem_max_and_locks_the_buffer(value, sndbuf):
    net = Net()
    lst = net.listener()
    c = net.k.socket(2)
    net.k.setsockopt(c, *SO_SNDBUF, value)
    assert _sndbuf(net, c) == sndbuf
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    assert _sndbuf(net, c) == sndbuf  # SOCK_SNDBUF_LOCK: no tcp_sndbuf_expand()


def test_each_skb_is_charged_its_832_byte_head_until_acknowledged():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x" * 100)
    sk = net.k.socks[c]
    assert net.k._wmem_queued(sk) == 832 + 100  # sent, in the retransmit queue
    net.settle()
    assert net.k._wmem_queued(sk) == 0  # the ACK freed it (tcp_clean_rtx_queue)


def test_an_skb_of_several_packets_acknowledged_in_part_is_trimmed_to_snd_una():
    """tcp_clean_rtx_queue() -> tcp_tso_acked(): tcp_trim_head() cuts the acknowledged bytes
    off an skb of several packets (its truesize and packets shrink); one of a single packet
    stays whole until all of it is acknowledged.  The loss probe resends from the same queue."""
    net = Net()
    lst = net.listener()
    c = net.k.socket(2)
    net.k.setsockopt(c, 6, 2, 1000)  # TCP_MAXSEG: MSS 988, a 4000-byte send is one skb
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    net.k.accept(lst)
    sk = net.k.socks[c]
    net.k.send(c, b"x" * 4000)
    net.take()  # sent, not yet delivered
    (skb,) = sk.rtxq
    assert (len(skb.data), skb.pcount, net.k._wmem_queued(sk)) == (4000, 5, 832 + 4000)
    assert sk.packets_out == 5  # tcp_packets_out_inc(): the cwnd counts the same queue
    sk.snd_una = (skb.seq + 2 * 988 + 10) & 0xFFFFFFFF  # an ACK of two packets and 10 bytes
    assert net.k._clean_rtx_queue(sk) == 2  # the packets out of flight (tcp_cong_control())
    (skb,) = sk.rtxq
    assert (skb.seq, len(skb.data), skb.pcount, sk.packets_out) == (sk.snd_una, 2014, 3, 3)
    assert net.k._wmem_queued(sk) == 832 + 2014
    # the 4000-byte skb ended short of 5 x 988 and is still partly unacknowledged: a small
    # segment in flight, so Nagle would hold 100 bytes (tcp_minshall_update()); TCP_NODELAY
    net.k.setsockopt(c, 6, 1, 1)
    net.k.send(c, b"y" * 100)
    net.take()
    small = sk.rtxq[-1]
    assert (len(small.data), small.pcount, len(sk.rtxq)) == (100, 1, 2)
    sk.snd_una = (small.seq + 50) & 0xFFFFFFFF  # half of a one-packet skb
    assert net.k._clean_rtx_queue(sk) == 3
    assert sk.rtxq == [small] and sk.packets_out == 1  # the small one stays whole
    assert net.k._wmem_queued(sk) == 832 + 100


def test_a_full_send_buffer_takes_part_then_fails_with_eagain_and_clears_pollout():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, *SO_SNDBUF, 4096)  # 8192: one skb of an MSS fills it
    assert net.k.send(c, b"x" * 100000) == 32741  # one skb, then no room for another
    with pytest.raises(BlockingIOError):
        net.k.send(c, b"x" * 100000)
    assert not net.k.poll(c) & POLLOUT  # tcp_poll(): not writeable, SOCK_NOSPACE set
    assert net.k.socks[c].nospace
    net.settle()  # the ACK frees the skb: writeable again (sk_stream_write_space())
    assert net.k.poll(c) & POLLOUT and not net.k.socks[c].nospace
    assert net.k.send(c, b"x" * 100000) == 47616  # the MSS after the larger window


@pytest.mark.parametrize("cc, figures", [
    # bbr's first three only: the model runs cubic's window for bbr (tcp_cong.py), which does
    # not grow on lo, so its buffer stays 3939840 where bbr's reaches 4194304
    ("bbr", [("send", 3919467, None), ("send", -1, "EAGAIN"), ("poll", 0, None)]),
    ("cubic", [("send", 2633835, None), ("send", -1, "EAGAIN"), ("poll", 0, None),
               ("getsockopt", 2626560, None), ("send", 95232, None)])])
def test_a_nonblocking_send_on_lo_fills_the_expanded_buffer_and_more_after_the_ack(cc, figures):
    # measured on real sockets: with bbr 3919467, EAGAIN, no POLLOUT; after the delayed ACK
    # the buffer is 4194304 (tcp_new_space(): bbr's cwnd grew past 10 packets, capped at
    # tcp_wmem[2]) and the next send takes 333312; with cubic (and reno) 2633835, and the
    # buffer stays 2626560 (its cwnd does not grow on lo) and the next send takes 95232
    text = "\n".join([
        "server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0", "server: listen(s, 3) = 0",
        "server: c = accept(s)", "client: fd = socket()", "client: connect(fd, 127.0.0.1:8080) = 0",
        "client: fcntl(fd, F_SETFL, O_NONBLOCK) = 0", "client: send(fd, 10000000)",
        "client: send(fd, 10000000)", "client: poll(fd, POLLOUT, 0)", "client: sleep 100ms",
        "client: getsockopt(fd, SO_SNDBUF)", "client: send(fd, 10000000)", ""])
    profile = REFERENCE.with_sysctls({"net.ipv4.tcp_congestion_control": cc})
    trace = run_model(parse(text), profile)
    results = [(e.text.split("(")[0], e.result, e.errno) for e in trace.events
               if isinstance(e, Call) and e.process == "client" and e.result is not None
               and e.text.startswith(("send", "poll", "getsockopt"))]
    assert results[:len(figures)] == figures and len(results) == 5


def test_children_inherit_the_listeners_locked_send_buffer():
    # measured: SO_SNDBUF 4096 on the listener; the accepted child reads 8192 after the
    # handshake (sk_clone_lock() copies sk_sndbuf and SOCK_SNDBUF_LOCK), the client 3939840
    net = Net(BBR)
    lst = net.listener()
    net.k.setsockopt(lst, *SO_SNDBUF, 4096)
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    child = net.k.accept(lst)
    assert (_sndbuf(net, lst), _sndbuf(net, child), _sndbuf(net, c)) == (8192, 8192, 3939840)


def test_tcp_notsent_lowat_stops_a_send_at_the_unsent_mark():
    # tcp_stream_memory_free(): no new skb while the unsent bytes reach notsent_lowat; the
    # kernel's first send after a handshake took the same 98223 (the notsent-lowat built-in as
    # first recorded; it now sends 50 corked bytes first, and then its first send takes 98304)
    net = Net()
    _, c, child = net.connected()
    assert net.k.getsockopt(c, 6, 25) == 0  # unset: the sysctl's mark applies
    net.k.setsockopt(c, 6, 25, 16384)
    assert net.k.send(c, b"x" * 300000) == 98223  # the third skb waits for the window
    assert not net.k.poll(c) & POLLOUT  # 2 * 32741 unsent >= 16384
    net.settle()  # the window opens, the skb leaves: nothing unsent
    assert net.k.poll(c) & POLLOUT
    net.k.setsockopt(c, 6, 25, -1)
    assert net.k.getsockopt(c, 6, 25) == -1  # a u32 read back as an int


# -- the zero window and small receive buffers (tcp_timer.c tcp_probe_timer) ------------------
SO_RCVBUF = (1, 8)


def _locked_pair(net, rcvbuf: int = 16384):
    """(client, server child) with SO_RCVBUF set on the listener (inherited by the child)."""
    from .model_harness import SERVER

    lst = net.k.socket(2)
    net.k.setsockopt(lst, *SO_RCVBUF, rcvbuf)
    net.k.bind(lst, ("0.0.0.0", SERVER[1]))
    net.k.listen(lst, 3)
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    hs = net.settle()
    return c, net.k.accept(lst), hs


def _opt(seg, name):
    return next((v for n, v in seg.options if n == name), None)


def test_so_rcvbuf_sets_the_window_scale_from_the_locked_buffer():
    # tcp_select_initial_window(): the scale is for the buffer's whole window, not tcp_rmem[2]
    for rcvbuf, win, ws in ((4096, 4096, 0), (16384, 16384, 0), (65536, 65483, 1)):
        net = Net()
        _, child, (syn, synack, _) = _locked_pair(net, rcvbuf)
        assert (synack.win, _opt(synack, "wscale"), _opt(syn, "wscale")) == (win, ws, 10)
        assert net.k.socks[child].rcvbuf == 2 * rcvbuf
    # on the connecting side: its SYN's window and scale
    net = Net()
    c = net.k.socket(2)
    net.k.setsockopt(c, *SO_RCVBUF, 1)
    assert net.k.getsockopt(c, *SO_RCVBUF) == 2304  # SOCK_MIN_RCVBUF
    net.listener()
    net.k.connect(c, ("127.0.0.1", 8080))
    syn, = net.take()
    assert (syn.win, _opt(syn, "wscale")) == (1152, 0)


def _zero_window(net):
    """The slow-reader built-in up to the zero window: (client, child, the zero-window ACK)."""
    c, child, _ = _locked_pair(net)
    net.k.send(c, b"x" * 16384)
    assert _data(net.settle()) == [(".", 8192), ("P.", 8192)]  # the first ACKed at once
    net.deliver(net.advance(0.05))  # the delayed ACK of the second: window 8192
    net.k.send(c, b"y" * 90112)
    assert _data(net.settle()) == [(".", 8192)]  # one segment's room
    ack, = net.advance(0.04)  # delayed: three skbs leave less than a segment free
    assert (flags(ack), ack.win) == (".", 0)
    net.deliver([ack])
    return c, child, ack


def test_a_zero_window_starts_the_persist_timer_and_its_probes_back_off():
    net = Net()
    c, child, zwa = _zero_window(net)
    sk = net.k.socks[c]
    # tcp_check_probe_timer(): nothing in flight, data waiting: ICSK_TIME_PROBE0 at the RTO,
    # 212 ms after two delayed-ACK RTT samples (the kernel's tcpi_rto here: 212000; its
    # probes went at 212-216 ms, ~430 and ~860 ms)
    assert sk.timers["probe0"] - net.k.now == pytest.approx(0.212)
    assert net.advance(0.208) == []
    probe, = net.advance(0.004)
    # tcp_xmit_probe_skb(): a pure ACK one below snd_una, no data
    assert (flags(probe), probe.seq, len(probe.payload)) == (".", (sk.snd_una - 1) % 2**32, 0)
    net.deliver([probe])
    answer, = net.take()  # old (tcp_sequence): a duplicate ACK at once, still no room
    assert (flags(answer), answer.ack, answer.win) == (".", zwa.ack, 0)
    net.deliver([answer])
    # tcp_ack_probe(): restarted from the answer, the backoff doubled
    assert sk.backoff == 1 and sk.timers["probe0"] - net.k.now == pytest.approx(0.424)
    probe2, = net.advance(0.425)
    net.deliver([probe2])
    assert net.take() == []  # 424 ms after the first answer: within tcp_invalid_ratelimit
    assert sk.timers["probe0"] - net.k.now == pytest.approx(0.847)  # not restarted by an ACK
    probe3, = net.advance(0.848)
    net.deliver([probe3])
    answer3, = net.take()  # more than 500 ms since the last answer
    # icsk_probes_out counts the probes since the last ACK (tcp_ack() clears it): 2 and 3
    assert (answer3.ack, answer3.win, sk.backoff, sk.probes_out) == (zwa.ack, 0, 3, 2)


def test_a_read_reopens_the_window_and_ends_the_probes():
    net = Net()
    c, child, _ = _zero_window(net)
    sk = net.k.socks[c]
    net.deliver(net.advance(0.212))  # one probe, which doubles the backoff
    net.take()  # (its answer is lost)
    assert sk.backoff == 1
    assert len(net.k.recv(child, 1 << 20)) == 24576
    update, = net.take()  # tcp_cleanup_rbuf(): a window where there was none
    assert (flags(update), update.win) == (".", 16384)
    net.deliver([update])
    # what fits of the head goes; the retransmission timer replaces the probe timer
    # (tcp_rearm_rto()), the backoff stays until an RTT sample (tcp_ack_update_rtt())
    assert "probe0" not in sk.timers and sk.backoff == 1
    data, = net.take()
    assert (flags(data), len(data.payload), data.gso) == ("P.", 16384, 8192)  # 2 MSS GSO
    net.deliver([data])
    net.deliver(net.advance(0.05))  # its (delayed) ACK: an RTT sample, RFC 6298 5.7
    assert sk.backoff == 0


def test_a_window_too_small_for_the_head_skb_is_probed_with_data():
    """tcp_write_wakeup(): a window that opened less than the head skb gets what fits of it,
    PSH set, the rest waits (partial-window-probe shows it on the kernel)."""
    net = Net()
    c, child, zwa = _zero_window(net)
    sk = net.k.socks[c]
    crafted = Seg(zwa.src, zwa.dst, ACK, zwa.seq, zwa.ack, 100, zwa.options)
    net.deliver([crafted])
    assert net.take() == []  # tcp_snd_wnd_test(): the 8192-byte head does not fit
    assert sk.timers["probe0"] - net.k.now == pytest.approx(0.212)  # tcp_ack_probe()
    # grown by the tcp_write_xmit() that could not send it (tcp_grow_skb(): the cwnd quota,
    # at most tcp_tso_segs(), in MSS)
    head = sk.wq[0][0]
    probe, = net.advance(0.213)
    assert (flags(probe), probe.seq, len(probe.payload)) == ("P.", zwa.ack, 100)
    assert head % 8192 == 0 and sk.wq[0][0] == head - 100  # tcp_fragment(): the rest waits
    assert "probe0" not in sk.timers  # tcp_send_probe0(): something in flight, probes over


def test_a_gso_packet_tells_the_receiver_its_peers_mss():
    """tcp_measure_rcv_mss(): len = gso_size ?: skb->len: after 4096-byte GSO packets of
    2048-byte segments the receiver's MSS guess stays 2048 (tiny-rcvbuf's exchange)."""
    net = Net()
    c, child, _ = _locked_pair(net, 4096)
    net.k.send(c, b"x" * 20480)
    net.settle()
    for _ in range(4):
        net.k.recv(child, 1 << 20)
        segs = net.settle()
        assert any(len(s.payload) == 4096 and s.gso == 2048 for s in segs)
        assert net.k.socks[child].rcv_mss == 2048


def test_a_waitall_read_that_takes_part_is_asked_again_at_once():
    """The runner: a recv(MSG_WAITALL) that read part of what it waits for has let the peer
    send more (its ACK reopened the window); the world settles and the call goes on, as the
    kernel's call would, rather than waiting for the next timer (the delayed ACK, 40 ms)."""
    from tcpsim.model import KernelProfile
    from tcpsim.scenario import load, parse
    from tcpsim.sim.world import run_model

    text = load("tiny-rcvbuf").text
    reads = "".join(line + "\n" for line in text.splitlines() if line.startswith("server: recv"))
    text = text.replace(reads, "server: recv(c, 20480, MSG_WAITALL) = 20480\n"
                               "server: recv(c, 1024) = 0\n")
    trace = run_model(parse(text, name="tiny-waitall"), KernelProfile.builtin("reference"))
    assert [c.result for c in trace.calls if c.kind == "return" and "recv" in c.text] == [20480]
    data = [g for g in trace.segments if g.length]
    assert [g.length for g in data] == [2048, 2048, 4096, 4096, 4096, 4096]
    assert data[-1].t - data[0].t < 0.001  # no delayed ACK in between


def test_an_skb_coming_after_the_sender_freed_the_tail_is_coalesced_into_it():
    """tcp_try_coalesce(): the third skb of slow-reader's zero window came after the client
    processed the ACK of the second (its copy freed, the server's no longer a clone), so it
    joins that skb, charged its payload only (measured with ss -tm: 26240 bytes held)."""
    net = Net()
    c, child, _ = _zero_window(net)
    sk = net.k.socks[child]
    assert [len(p) for p in sk.rcvq] == [8192, 16384]
    assert sk.rcvq_ts == [832 + 8192, 832 + 8192 + 8192]
    # the first skb is still a clone when the second comes (its ACK is not processed yet)
    net2 = Net()
    c2, child2, _ = _locked_pair(net2)
    net2.k.send(c2, b"x" * 16384)
    net2.settle()
    assert net2.k.socks[child2].rcvq_ts == [832 + 8192, 832 + 8192]
    # a read of 16384 leaves the merged skb half read and charged whole: one MSS of window
    assert len(net.k.recv(child, 16384)) == 16384
    update, = net.take()
    assert (update.win, sk.rcvq_ts) == (8192, [832 + 8192 + 8192])


def test_an_ack_due_while_the_backlog_is_processed_waits_for_release_sock():
    """tcp_backlog_ack_defer: segments that came while a call held the socket are processed
    by __release_sock(); the first asks for an ACK at once (quick-ACK after an idle RTO) but
    it is deferred to tcp_release_cb() and covers both (partial-window-probe's exchange)."""
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, 6, 1, 1)  # TCP_NODELAY: two segments
    net.advance(0.3)
    net.k.send(c, b"a" * 1000)
    net.k.send(c, b"b" * 1000)
    first, second = net.take()
    sk = net.k.socks[child]
    net.k.owned.add(child)  # a recv() holds it: tcp_add_backlog()
    sk.rx_backlog += [first, second]
    net.k._release(child)
    ack, = net.take()
    assert (flags(ack), ack.ack) == (".", sk.rcv_nxt)
    assert sk.rcv_nxt == (second.seq + 1000) % 2**32
    # without a held socket, the first is ACKed on its own
    net2 = Net()
    _, c2, child2 = net2.connected()
    net2.k.setsockopt(c2, 6, 1, 1)
    net2.advance(0.3)
    net2.k.send(c2, b"a" * 1000)
    net2.k.send(c2, b"b" * 1000)
    first2, second2 = net2.take()
    net2.deliver([first2])
    assert [a.ack for a in net2.take()] == [(first2.seq + 1000) % 2**32]


def test_the_backlog_counts_against_the_window_until_release_sock_is_done():
    """tcp_space() subtracts sk_backlog.len, which __release_sock() zeroes only after the
    whole backlog: a segment processed from the backlog counts twice (backlog and queue)
    while it is processed (locked-rcvbuf's last window, 55843 x 2 on the kernel)."""
    net = Net()
    c, child, _ = _locked_pair(net, 65536)
    net.k.send(c, b"x" * 7749)
    seg, = net.take()
    sk = net.k.socks[child]
    net.k._lock(child)
    net.k.lo_fate = lambda s: None  # lo delivers at once inside the call
    net.k._xmit(seg)
    net.k.outbox.pop()
    assert sk.rx_backlog == [seg] and sk.backlog_len == 832 + 7749
    seen = []
    orig = net.k._grow_window
    net.k._grow_window = lambda s, n, t: (seen.append(net.k._tcp_space(s)), orig(s, n, t))
    net.k._release(child)
    full = 131072 - 2 * (832 + 7749)  # the skb in the queue and still in sk_backlog.len
    assert seen == [full * sk.scaling_ratio >> 8] and sk.backlog_len == 0


def test_a_ten_mib_transfer_arrives_whole_and_in_order():
    """What the reader's tcp_release_cb() ACK lets in over lo is processed once the socket
    is let go (release_sock()), before later segments: left in the backlog, it was overtaken
    and lost, and a 3 MiB transfer stalled (the model has no data retransmission)."""
    from tcpsim.scenario import transfer
    from tcpsim.sim.world import run_model

    n = 10 << 20
    trace = run_model(transfer(n), REFERENCE)
    assert n in [c.result for c in trace.calls if c.text.startswith("recv")]
    data = [s for s in trace.segments if s.length and s.src.endswith(trace.segments[0].src[-6:])]
    assert sum(s.length for s in data) == n  # every byte sent once: none lost, none resent


def _exchange(text: str):
    from tcpsim.sim.world import run_model
    trace = run_model(parse(text), REFERENCE)
    client = trace.segments[0].src
    return [("c" if s.src == client else "s", s.flags, s.length, s.win) for s in trace.segments]


MIB_TO_LOCKED = """server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
server: setsockopt(c, SO_RCVBUF, 1048576) = 0
client: send(fd, 1048576) = 1048576
client: close(fd) = 0
server: readall(c, 1048576) = 1048576
server: close(c) = 0
"""


def test_the_segments_gso_cuts_from_one_skb_reach_the_receiver_before_its_acks():
    """__dev_queue_xmit(): the list validate_xmit_skb() cuts from a GSO skb over 64 KiB goes
    to loopback_xmit() whole with bottom halves off; the softirq that processes it runs after
    the last.  Measured (this program, 5 of 5 runs): 65483 and 32740 back to back, then the
    receiver's two ACKs; the model used to let the first's ACK out between them."""
    ex = _exchange(MIB_TO_LOCKED)
    assert [(who, fl, n) for who, fl, n, _ in ex[3:11]] == [
        ("c", ".", 32741), ("s", ".", 0), ("c", "P.", 32741), ("s", ".", 0),
        ("c", ".", 65483), ("c", "P.", 32740), ("s", ".", 0), ("s", ".", 0)]


def test_a_short_last_segment_of_a_gso_skb_is_a_small_segment_for_nagle():
    """tcp_minshall_update(): skb->len < tcp_skb_pcount(skb) * mss_now marks snd_sml, so while
    the 32818-byte end of a 98301-byte skb is unacknowledged the next 65534-byte skb leaves as
    one 65483-byte segment and Nagle holds its 51 bytes (tcp_mss_split_point()); measured in
    transfer-1m (SO_RCVBUF 131072 on the listener), every run."""
    ex = _exchange(MIB_TO_LOCKED.replace("server: setsockopt(c, SO_RCVBUF, 1048576) = 0\n", "")
                   .replace("server: bind", "server: setsockopt(s, SO_RCVBUF, 131072) = 0\n"
                            "server: bind"))
    assert [(who, fl, n) for who, fl, n, _ in ex[3:10]] == [
        ("c", ".", 32767), ("s", ".", 0), ("c", "P.", 32767), ("c", ".", 65483),
        ("c", "P.", 32818), ("c", ".", 65483), ("s", ".", 0)]


def test_advmss_loses_the_timestamp_option_before_the_buffer_space_is_set():
    """tcp_rcv_state_process() (6.16+) and tcp_rcv_synsent_state_process() take
    TCPOLEN_TSTAMP_ALIGNED off advmss before tcp_init_transfer(): measured with SO_RCVBUF
    262144 on the listener, tcpi_advmss 65483, tcpi_rcv_ssthresh 196661 after accept
    (262144 - 65483: tcp_init_buffer_space()'s one-MSS reserve) and 392898 after a 32767-byte
    segment, whose ACK offers 49113 x 8."""
    net = Net()
    lst = net.k.socket(2)
    net.k.setsockopt(lst, 1, 8, 262144)  # SO_RCVBUF
    net.k.bind(lst, ("0.0.0.0", 8080))
    net.k.listen(lst, 3)
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    child = net.k.accept(lst)
    sk = net.k.socks[child]
    assert (sk.advmss, sk.rcv_ssthresh, net.k.socks[c].advmss) == (65483, 196661, 65483)
    net.k.send(c, b"x" * 32767)
    net.deliver(net.take())
    ack, = net.take()
    assert (sk.rcv_ssthresh, ack.win) == (392898, 49113)


def test_segments_lo_cut_from_one_skb_do_not_coalesce_under_the_capture():
    """skb_try_coalesce() refuses a tail the lab's capture still holds a clone of
    (packet_rcv()), a segment lo cut from a GSO skb too.  Measured (SO_RCVBUF 262144 on the
    listener): the ACK of 65483 + 32818 offers 43982 x 8, the receive queue charged 832 beyond
    each segment's payload (an AF_PACKET socket on lo: 12 segments in 501489 bytes); the model
    merged the second into the first and offered 44046."""
    ex = _exchange(MIB_TO_LOCKED.replace("server: setsockopt(c, SO_RCVBUF, 1048576) = 0\n", "")
                   .replace("server: bind", "server: setsockopt(s, SO_RCVBUF, 262144) = 0\n"
                            "server: bind"))
    acks = [win for who, fl, n, win in ex[3:] if who == "s" and not n][:4]
    assert acks == [49113, 55574, 48084, 43982]


# -- when a duplicate is ACKed (issue 18) ----------------------------------------------------
def test_a_duplicate_into_a_half_full_buffer_is_dsacked_by_the_pending_delayed_ack():
    """slow-reader at MTU 1500: the server's locked 32768-byte buffer holds the client's
    16384 bytes (7240 + 7240 + 1904) unread; the last 1904 wait for the delayed ACK.  The
    client's tail loss probe resends the last 456 bytes.  tcp_data_queue() takes them as
    old data: tcp_dsack_set(), tcp_enter_quickack_mode(), inet_csk_schedule_ack(); but
    __tcp_ack_snd_check() first runs __tcp_select_window() (1904 > rcv_mss unacknowledged),
    which ends quick-ACK mode with less than half the buffer free, so no ACK at once: the
    delayed ACK, 40 ms after the 1904-byte segment, carries the D-SACK.  Measured on 6.18:
    probe at 5.6 ms, ACK at 41.6 ms (1904 bytes at 0.77 ms), win 12576, sack 15929:16385
    (skb:kfree_skb TCP_OLD_DATA; nstat DelayedACKLost 1, DelayedACKs 1)."""
    trace = run_model(parse(SLOW_READER_HEAD, "slow-reader-head"), MTU1500)
    rel = trace.relative()
    server = rel[1].seg.src
    tail = next(r for r in rel if r.seg.length == 1904)
    probe = next(r for r in rel if r.seg.length == 456)
    assert (probe.seq, probe.seg.t > tail.seg.t) == (15929, True)
    after = [r for r in rel if r.seg.src == server and r.seg.t > tail.seg.t]
    ack = after[0]
    assert ack.seg.t > probe.seg.t
    # the delayed ACK's own time: 40 ms after the 1904 bytes arrived (lo: 10 us each way)
    assert round(ack.seg.t - tail.seg.t, 6) == 0.04001
    sack = next(v for n, v in ack.options if n == "sack")
    assert (ack.seg.flags, ack.ack, ack.seg.win, sack) == (".", 16385, 12576, [[15929, 16385]])
    # and it echoes the original's timestamp, not the probe's: the probe starts above
    # rcv_wup (tcp_replace_ts_recent(); the kernel's ACK: TS val 42 ecr 1, the probe's val 6)
    ts = {id(r): next(v for n, v in r.options if n == "TS") for r in (tail, probe, ack)}
    assert ts[id(probe)][0] > ts[id(tail)][0] == ts[id(ack)][1]


SLOW_READER_HEAD = """\
server: s = socket()
server: setsockopt(s, SO_RCVBUF, 16384) = 0
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
client: send(fd, 16384) = 16384
client: sleep 50ms
"""


def test_a_window_reopened_after_an_idle_rto_restarts_the_congestion_window():
    """tcp_ack_update_window(): a changed window with data queued runs
    tcp_slow_start_after_idle_check(); after slow-reader's 2 s of zero window (no new data
    sent: lsndtime at 52 ms), the window the read reopens (21720, 15 MSS at MTU 1500) finds
    snd_cwnd 20 and tcp_cwnd_restart() takes it to 10.  Measured with TCP_INFO on 6.18:
    snd_cwnd 20 before the read, 10 right after; the kernel then sends 7240 + 7240."""
    from tcpsim.scenario import load

    rel = run_model(load("slow-reader"), MTU1500).relative()
    server = rel[1].seg.src
    reopen = next(i for i, r in enumerate(rel)
                  if r.seg.src == server and r.seg.t > 1.9 and r.seg.win == 21720)
    burst = [r for r in rel[reopen + 1:reopen + 3]]
    assert [(r.seg.src != server, r.seg.flags, r.seq, r.seg.length) for r in burst] == [
        (True, "P.", 28961, 7240), (True, "P.", 36201, 7240)]
    assert rel[reopen + 3].seg.src == server  # 10 MSS out: the cwnd is full


def test_a_simultaneous_opens_ack_of_a_fin_waits_the_delayed_ack_set_by_old_data():
    """tests/programs/simultaneous-open-fin-ack.tcp: a took b's SYN-ACK as old data (the ACK
    of it D-SACKs the SYN), so its ato is TCP_ATO_MIN (tcp_enter_quickack_mode()), and b's
    FIN, with pingpong from tcp_fin(), waits the 40 ms delayed ACK (measured on 6.18: 42.7 ms
    after the FIN arrived), not the one jiffy of a socket that never set ato."""
    from tcpsim.scenario import load

    from .conftest import PROGRAMS

    trace = run_model(load(str(PROGRAMS / "simultaneous-open-fin-ack.tcp")), REFERENCE)
    rel = trace.relative()
    a = rel[0].seg.src
    syn_ack_ack = next(r for r in rel if r.seg.src == a and r.seg.flags == ".")
    assert [v for n, v in syn_ack_ack.options if n == "sack"] == [[[0, 1]]]
    fin = next(r for r in rel if r.seg.src != a and "F" in r.seg.flags)
    ack = next(r for r in rel if r.seg.src == a and r.seg.t > fin.seg.t)
    assert (ack.seg.flags, ack.seq, ack.ack) == (".", 7, 2)
    # sent 20 ms + 40 ms after the FIN left b (net: delay all by 20ms)
    assert round(ack.seg.t - fin.seg.t, 3) == 0.06
