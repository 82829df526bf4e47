"""The data phase in the model kernel, driven by hand (issue 17): what Linux 6.18 did on lo.

Segments move only when a test says so (tests/model_harness.py), so each rule shows alone:
tcp_bound_to_half_wnd, forced_push, tcp_grow_skb, tcp_send_fin, the receive window from the
skbs' truesize (tcp_measure_rcv_mss, tcp_grow_window, __tcp_select_window) and the window
update after a read (tcp_cleanup_rbuf).  The live tests (tests/test_lab_live.py) hold the
same programs against the kernel.
"""

from tcpsim.model.kernel import FIN, PSH

from .model_harness import Net, flags


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
