"""Small writes in the model kernel, driven by hand (issue 17): what Linux 6.18 did on lo.

Nagle and TCP_NODELAY (tcp_nagle_check), TCP_CORK and its probe timer (tcp_check_probe_timer,
tcp_write_wakeup), MSG_MORE (tcp_push), TCP_MAXSEG (user_mss, tcp_mss_clamp), the size goal
and TSO segments at a small MSS (tcp_xmit_size_goal, tcp_tso_autosize), TCP_NOTSENT_LOWAT
(tcp_stream_memory_free).  The built-ins nagle-nodelay, cork, cork-timeout, msg-more, maxseg
and notsent-lowat hold the same rules against the kernel's captures and live.
"""

import errno

import pytest

from tcpsim.model.kernel import POLLOUT, PSH
from tcpsim.scenario import ScenarioError, parse

from .model_harness import Net, flags

MSG_MORE = 0x8000
TCP = 6
TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_NOTSENT_LOWAT = 1, 2, 3, 25


def _data(segs):
    return [(flags(s), s.payload) for s in segs if s.payload]


def _pingpong():
    """(net, client, server child) after one request and reply: the server delays its ACKs."""
    net = Net()
    _, c, child = net.connected(with_data=True)
    assert net.k.socks[child].pingpong
    return net, c, child


def test_nagle_holds_a_second_small_write_until_the_first_is_acked():
    net, c, child = _pingpong()
    net.k.send(c, b"part 1, ")
    first = net.take()
    net.k.send(c, b"part 2\n")
    assert net.take() == []  # tcp_minshall_check(): a small segment is unacknowledged
    net.deliver(first)
    assert net.take() == []  # pingpong: the server's ACK waits for its timer
    ack, = net.advance(0.040)
    net.deliver([ack])
    assert _data(net.take()) == [("P.", b"part 2\n")]


def test_nodelay_sends_both_small_writes_at_once():
    net, c, child = _pingpong()
    net.k.setsockopt(c, TCP, TCP_NODELAY, 1)
    assert net.k.getsockopt(c, TCP, TCP_NODELAY) == 1
    net.k.send(c, b"part 1, ")
    net.k.send(c, b"part 2\n")
    assert _data(net.take()) == [("P.", b"part 1, "), ("P.", b"part 2\n")]


def test_setting_nodelay_pushes_what_nagle_held():
    net, c, child = _pingpong()
    net.k.send(c, b"part 1, ")
    net.k.send(c, b"part 2\n")
    assert _data(net.take()) == [("P.", b"part 1, ")]
    net.k.setsockopt(c, TCP, TCP_NODELAY, 1)  # __tcp_sock_set_nodelay(): push pending frames
    assert _data(net.take()) == [("P.", b"part 2\n")]
    net.k.setsockopt(c, TCP, TCP_NODELAY, 0)
    assert net.k.getsockopt(c, TCP, TCP_NODELAY) == 0


def test_cork_holds_small_writes_even_with_nothing_in_flight_and_uncork_sends_one_segment():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, TCP, TCP_CORK, 1)
    assert net.k.getsockopt(c, TCP, TCP_CORK) == 1
    for part in (b"GET / HTTP/1.0\r\n", b"Host: x\r\n", b"\r\n"):
        net.k.send(c, part)
    assert net.take() == []
    net.k.setsockopt(c, TCP, TCP_CORK, 0)
    seg, = net.take()
    assert (flags(seg), len(seg.payload)) == ("P.", 27)  # PSH from the last send()'s tcp_push()
    assert net.k.getsockopt(c, TCP, TCP_CORK) == 0


def test_corked_data_leaves_when_the_probe_timer_fires_after_the_rto():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, TCP, TCP_CORK, 1)
    net.k.send(c, b"GET / HTTP/1.0\r\n")
    net.k.send(c, b"\r\n")
    assert net.k.socks[c].timers["probe0"] == pytest.approx(net.k.now + 0.204)
    assert net.advance(0.2035) == []
    seg, = net.advance(0.001)  # tcp_probe_timer() -> tcp_write_wakeup(): PSH, the cork on
    assert (flags(seg), len(seg.payload)) == ("P.", 18)
    assert net.k.getsockopt(c, TCP, TCP_CORK) == 1
    assert "probe0" not in net.k.socks[c].timers


def test_cork_holds_only_the_partial_tail_and_its_timer_starts_when_nothing_is_in_flight():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, TCP, TCP_CORK, 1)
    net.k.send(c, b"x" * 40000)
    seg, = net.take()  # the full skb heads the queue: tcp_push_one() sends it, cork or not
    assert (flags(seg), len(seg.payload)) == (".", 32741)
    sk = net.k.socks[c]
    assert sk.wq == [(7259, PSH)] and "probe0" not in sk.timers  # data in flight
    net.advance(0.010)
    net.deliver([seg])
    ack, = net.take()
    net.deliver([ack])  # all acknowledged, the tail still corked: the timer starts now
    assert net.take() == []
    assert sk.timers["probe0"] == pytest.approx(net.k.now + 0.204)
    tail, = net.advance(0.205)
    assert (flags(tail), len(tail.payload)) == ("P.", 7259)


def test_msg_more_holds_the_write_without_psh_and_the_next_send_pushes_both():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"header: ", MSG_MORE)
    assert net.take() == []
    assert net.k.socks[c].wq == [(8, 0)]  # no PSH marked (tcp_push() with MSG_MORE)
    net.k.send(c, b"body\n")
    assert _data(net.take()) == [("P.", b"header: body\n")]


def test_msg_more_on_a_full_segment_still_sends_it():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x" * 32741 + b"y", MSG_MORE)  # the full skb heads the queue: tcp_push_one()
    seg, = net.take()
    assert (flags(seg), len(seg.payload)) == (".", 32741)
    # held (TCP_NAGLE_CORK), yet marked PSH: more than half the peer's window was written
    # since the last push (forced_push() in tcp_push())
    assert net.k.socks[c].wq == [(1, PSH)]


def test_maxseg_before_connect_bounds_the_advertised_and_the_used_mss():
    net = Net()
    lst = net.listener()
    c = net.k.socket(2)
    assert net.k.getsockopt(c, TCP, TCP_MAXSEG) == 536  # mss_cache before a route: TCP_MSS_DEFAULT
    net.k.setsockopt(c, TCP, TCP_MAXSEG, 1000)
    assert net.k.getsockopt(c, TCP, TCP_MAXSEG) == 1000  # user_mss, the socket still CLOSE
    net.k.connect(c, ("127.0.0.1", 8080))
    syn, = net.take()
    assert (syn.win, syn.options[0]) == (65000, ["mss", 1000])  # the window rounded to it
    net.deliver([syn])
    net.settle()
    child = net.k.accept(lst)
    assert net.k.getsockopt(c, TCP, TCP_MAXSEG) == 988  # less the timestamp option
    assert net.k.getsockopt(child, TCP, TCP_MAXSEG) == 988
    net.k.send(c, b"x" * 4000)
    seg, = net.take()  # one skb of 5 MSS, sent whole: one GSO packet on lo
    assert (flags(seg), len(seg.payload)) == ("P.", 4000)
    net.deliver([seg])
    ack, = net.take()
    assert ack.win == 102  # (131072 - 4832) * 211 >> 8, aligned up to 1024


def test_maxseg_size_goal_and_tso_segments():
    net = Net()
    _, c, child = net.connected()
    sk = net.k.socks[c]
    assert net.k._xmit_size_goal(sk, 32741) == 32741  # lo's MSS: one MSS per skb
    assert net.k._tso_segs(sk, 32741) == 2  # at least min_tso_segs
    assert net.k._xmit_size_goal(sk, 988) == 33 * 988  # half of the peer's 65483 window
    assert net.k._tso_segs(sk, 988) == 66  # 65343 // 988
    # sk_gso_max_size is 65536 - MAX_TCP_HEADER (192) - 1: measured (the send-buffer work) at
    # lo MTU 13112, a transfer to a large window left in GSO packets of 65300 bytes, 5 MSS of
    # 13060 (with MAX_TCP_HEADER 256 it would be 4, 52240)
    assert net.k._tso_segs(sk, 13060) * 13060 == 65300


def test_a_listeners_maxseg_and_nodelay_go_to_its_children():
    net = Net()
    lst = net.listener()
    net.k.setsockopt(lst, TCP, TCP_MAXSEG, 1200)
    net.k.setsockopt(lst, TCP, TCP_NODELAY, 1)
    assert net.k.getsockopt(lst, TCP, TCP_MAXSEG) == 1200
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 8080))
    syn = net.take()
    net.deliver(syn)
    synack, = net.take()
    assert synack.options[0] == ["mss", 1200]
    net.deliver([synack])
    net.settle()
    child = net.k.accept(lst)
    assert net.k.getsockopt(child, TCP, TCP_NODELAY) == 1
    assert net.k.getsockopt(child, TCP, TCP_MAXSEG) == 1188
    assert net.k.getsockopt(c, TCP, TCP_MAXSEG) == 1188


@pytest.mark.parametrize("value, ok", [(0, True), (87, False), (88, True), (32767, True),
                                       (32768, False), (-1, False)])
def test_maxseg_bounds(value, ok):
    net = Net()
    c = net.k.socket(2)
    if ok:
        net.k.setsockopt(c, TCP, TCP_MAXSEG, value)
        assert net.k.getsockopt(c, TCP, TCP_MAXSEG) == (value or 536)
    else:
        with pytest.raises(OSError) as info:
            net.k.setsockopt(c, TCP, TCP_MAXSEG, value)
        assert info.value.errno == errno.EINVAL


def test_notsent_lowat_takes_pollout_away_while_twice_the_unsent_bytes_reach_it():
    net = Net()
    _, c, child = net.connected()
    assert net.k.getsockopt(c, TCP, TCP_NOTSENT_LOWAT) == 0
    net.k.setsockopt(c, TCP, TCP_NOTSENT_LOWAT, 100)
    net.k.setsockopt(c, TCP, TCP_CORK, 1)
    net.k.send(c, b"x" * 40)
    assert net.k.poll(c) & POLLOUT  # 2 * 40 < 100
    net.k.send(c, b"x" * 10)
    assert not net.k.poll(c) & POLLOUT  # 2 * 50 is not below 100
    net.k.setsockopt(c, TCP, TCP_CORK, 0)
    assert net.k.poll(c) & POLLOUT


def test_the_program_format_writes_the_small_write_options_and_flags():
    p = parse("c: fd = socket()\n"
              'c: send(fd, "x", MSG_MORE)\n'
              'c: send(fd, "x", MSG_MORE|MSG_NOSIGNAL)\n'
              "c: setsockopt(fd, TCP_CORK, 1) = 0\n"
              "c: setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 1000) = 0\n"
              "c: getsockopt(fd, TCP_MAXSEG) = 988\n"
              "c: setsockopt(fd, TCP_NOTSENT_LOWAT, 100) = 0\n")
    s = p.steps
    assert s[1].args[2] == 0x8000 and s[2].args[2] == 0x8000 | 0x4000
    assert (s[3].args[1].name, s[3].args[1].level, s[3].args[1].number, s[3].args[2]) == \
        ("TCP_CORK", 6, 3, 1)
    assert (s[4].args[1].number, s[4].args[2]) == (2, 1000)
    assert s[5].expect.value == 988
    assert (s[6].args[1].number, s[6].args[2]) == (25, 100)


@pytest.mark.parametrize("text, message", [
    ('c: send(fd, "x", MSG_MOAR)',
     "'MSG_MOAR' is not one of MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL, MSG_MORE; "
     "did you mean MSG_MORE?"),
    ("c: setsockopt(fd, TCP_CROK, 1)", "unknown socket option 'TCP_CROK'; did you mean TCP_CORK?"),
    ("c: setsockopt(fd, TCP_NOTSENT_LOWATT, 1)",
     "unknown socket option 'TCP_NOTSENT_LOWATT'; did you mean TCP_NOTSENT_LOWAT?"),
    ("c: setsockopt(fd, TCP_MAXSEG, {1, 0})", "TCP_MAXSEG takes a number"),
])
def test_the_parser_says_what_is_wrong_with_a_small_write_line_in_one_sentence(text, message):
    with pytest.raises(ScenarioError) as info:
        parse("c: fd = socket()\n" + text, source="t.tcp")
    assert info.value.message == message


def test_two_unacknowledged_segments_get_a_tail_loss_probe_a_jiffy_on():
    net, c, child = _pingpong()
    net.k.setsockopt(c, TCP, TCP_NODELAY, 1)
    net.k.send(c, b"part 1, ")
    net.k.send(c, b"part 2\n")
    sent = net.take()
    net.deliver(sent)
    assert net.take() == []  # pingpong: the server's ACK waits 40 ms
    due = net.k.socks[c].timers["loss_probe"]
    # usecs_to_jiffies(2 srtt + 2 ms): one jiffy, which the timer wheel runs at the second
    # tick; armed on a tick here (the harness's clock stands at 0): 8 ms
    assert due - net.k.now == pytest.approx(0.008)
    probe, = net.advance(0.012)
    assert (flags(probe), probe.seq, probe.payload) == ("P.", sent[1].seq, b"part 2\n")
    net.deliver([probe])
    ack, = net.take()  # the duplicate is ACKed at once, with a D-SACK of it
    assert ack.ack == (sent[1].seq + 7) % 2**32
    assert ["sack", [[sent[1].seq, (sent[1].seq + 7) % 2**32]]] in ack.options
    net.deliver([ack])
    sk = net.k.socks[c]
    assert (sk.rtxq, sk.tlp_high_seq, "loss_probe" in sk.timers) == ([], 0, False)


def test_one_unacknowledged_segment_gets_no_early_probe():
    # tcp_schedule_loss_probe(): with one segment out the PTO is 2 srtt + tcp_rto_min, no
    # later than the RTO: the RTO's time, but the timer is a loss probe's (measured: a lost
    # request sent again 204.7-206.9 ms later with TCPLossProbes 1, TCPTimeouts 0)
    net, c, child = _pingpong()
    net.k.send(c, b"part 1, ")
    net.take()
    timers = net.k.socks[c].timers
    assert "retransmit" not in timers  # the probe and the RTO share the one transmit timer
    # 51 jiffies (usecs_to_jiffies(200 ms + 2 srtt)), run at the next tick
    assert timers["loss_probe"] - net.k.now == pytest.approx(0.208)


def test_a_loss_probe_sends_new_data_when_the_window_takes_it():
    net, c, child = _pingpong()
    net.k.setsockopt(c, TCP, TCP_NODELAY, 1)
    net.k.send(c, b"part 1, ")
    net.k.send(c, b"part 2\n")
    net.take()
    net.k.setsockopt(c, TCP, TCP_CORK, 1)
    net.k.send(c, b"part 3\n")
    assert net.take() == []  # corked
    probe, = net.advance(0.012)  # tcp_send_loss_probe(): tcp_write_xmit() with Nagle off
    assert (flags(probe), probe.payload) == ("P.", b"part 3\n")
    assert net.k.socks[c].tlp_high_seq == net.k.socks[c].snd_nxt
