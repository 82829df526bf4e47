"""One test per rule of the transition table, named test_<state>_<event>.

Each drives the model kernel by hand (segments move only when the test says so) and checks
what Linux does there: the next state, the segments sent with their fields, the errno.  The
last test checks that every rule of the table has its test.
"""

import errno

import pytest

from tcpsim.model import RULES, graph
from tcpsim.model.kernel import ACK, RST, SYN, Seg

from .model_harness import REFERENCE, SERVER, Net, flags


def test_close_listen():
    net = Net()
    s = net.listener()
    assert net.state(s) == "LISTEN" and net.take() == []


def test_close_connect():
    net = Net()
    c = net.k.socket(2)
    assert net.k.connect(c, SERVER) == errno.EINPROGRESS
    syn, = net.take()
    assert net.state(c) == "SYN_SENT"
    assert (flags(syn), syn.ack, syn.win) == ("S", 0, 65495)
    assert [n for n, _ in syn.options] == ["mss", "sackOK", "TS", "nop", "wscale"]
    assert syn.options[0] == ["mss", 65495] and syn.options[-1] == ["wscale", 10]
    assert syn.src[1] % 2 == 0  # connect() takes even ephemeral ports


def test_listen_rcv_syn():
    net = Net()
    s = net.listener()
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    net.deliver(net.take())
    synack, = net.take()
    req = [x for x in net.k.socks.values() if x.kind == "request"]
    assert len(req) == 1 and req[0].state == "NEW_SYN_RECV" and net.state(s) == "LISTEN"
    assert (flags(synack), synack.win) == ("S.", 65483)  # rounded to mss minus the TS option
    assert synack.options[2][0] == "TS" and synack.options[2][1][1] == net.wire[0].options[2][1][0]


def test_listen_rcv_syn_queue_full():
    net = Net()
    s = net.listener(backlog=0)
    clients = [net.k.socket(2) for _ in range(2)]
    net.k.connect(clients[0], SERVER)
    net.settle()
    assert len(net.k.socks[s].accept_queue) == 1
    net.k.connect(clients[1], SERVER)
    syn, = net.take()
    net.deliver([syn])
    assert net.take() == []  # dropped silently: no SYN-ACK, no RST (tcp_abort_on_overflow=0)
    assert net.state(clients[1]) == "SYN_SENT"


def test_listen_close():
    net = Net()
    lst = net.listener()
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    net.settle()
    net.k.close(lst)
    rst, = net.take()
    assert flags(rst) == "R." and net.state(lst) == "freed"
    net.deliver([rst])
    assert net.state(c) == "CLOSE"
    with pytest.raises(ConnectionResetError):
        net.k.recv(c, 10)


def _request(net):
    net.listener()
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    syn, = net.take()
    net.deliver([syn])
    synack, = net.take()
    req = next(x for x in net.k.socks.values() if x.kind == "request")
    return c, syn, synack, req


def test_new_syn_recv_created():
    net = Net()
    _, syn, synack, req = _request(net)
    assert synack.seq == req.iss and synack.ack == syn.seq + 1


def test_new_syn_recv_rcv_syn():
    net = Net()
    _, syn, synack, req = _request(net)
    net.deliver([syn])  # the client's SYN again
    again, = net.take()
    assert flags(again) == "S." and again.seq == synack.seq


def test_new_syn_recv_rcv_ack():
    net = Net()
    c, _, synack, req = _request(net)
    net.deliver([synack])
    ack, = net.take()
    net.deliver([ack])
    lst = next(x for x in net.k.socks.values() if x.state == "LISTEN")
    assert lst.accept_queue == [req.id] and net.state(req.id) == "ESTABLISHED"


def test_new_syn_recv_timer_synack():
    net = Net()
    _, _, synack, req = _request(net)
    times = []
    while len(times) < 3:
        segs = [s for s in net.advance(net.k.next_timer() - net.k.now) if s.src == SERVER]
        if segs:  # (the client's SYN retransmissions, never delivered, are not looked at)
            times.append(round(net.k.now, 3))
            assert [flags(s) for s in segs] == ["S."]
    # tcp_synack_retries, doubling from 1 s: 1, 3 and 7 s, each on the timer wheel
    # (reqsk_queue_hash_req(), reqsk_timer_handler(): mod_timer()), at the next bucket of
    # its level after the nominal time (8 jiffies at HZ 250 for 1-2 s, 64 for 4 s)
    assert times == [1.024, 3.04, 7.168]


def test_new_syn_recv_synack_retries_out():
    net = Net()
    _, _, _, req = _request(net)
    sent = [s for s in net.advance(100.0) if s.src == SERVER]
    assert len(sent) == 5 and net.state(req.id) == "freed"  # 5 retries, then dropped at 63 s


def test_the_listeners_tcp_syncnt_bounds_its_synack_retries():
    net = Net()
    lst = net.listener()
    net.k.setsockopt(lst, 6, 7, 1)  # TCP_SYNCNT on the listener (reqsk_timer_handler)
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    net.deliver(net.take())
    net.take()
    req = next(x for x in net.k.socks.values() if x.kind == "request")
    sent = [s for s in net.advance(2.9) if s.src == SERVER]
    assert len(sent) == 1 and net.state(req.id) == "NEW_SYN_RECV"  # resent at 1 s
    net.advance(0.2)
    assert net.state(req.id) == "freed"  # dropped at 3 s, not after a minute


def test_syn_sent_rcv_synack():
    net = Net()
    net.listener()
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    net.deliver(net.take())
    net.deliver(net.take())
    ack, = net.take()
    assert net.state(c) == "ESTABLISHED" and flags(ack) == "." and ack.win == 64
    assert [n for n, _ in ack.options] == ["nop", "nop", "TS"]


def test_syn_sent_rcv_syn():
    net = Net()
    a, b = net.k.socket(2), net.k.socket(2)
    net.k.bind(a, ("127.0.0.1", 5001))
    net.k.bind(b, ("127.0.0.1", 5002))
    net.k.connect(a, ("127.0.0.1", 5002))
    net.k.connect(b, ("127.0.0.1", 5001))
    syn_a, syn_b = net.take()  # the SYNs cross
    net.deliver([syn_a, syn_b])
    assert net.state(a) == net.state(b) == "SYN_RECV"
    synacks = net.take()
    assert [flags(s) for s in synacks] == ["S.", "S."]
    assert synacks[0].seq == syn_b.seq and synacks[1].seq == syn_a.seq  # each reuses its ISN


def test_syn_recv_rcv_ack():
    net = Net()
    a, b = net.k.socket(2), net.k.socket(2)
    net.k.bind(a, ("127.0.0.1", 5001))
    net.k.bind(b, ("127.0.0.1", 5002))
    net.k.connect(a, ("127.0.0.1", 5002))
    net.k.connect(b, ("127.0.0.1", 5001))
    net.settle()
    assert net.state(a) == net.state(b) == "ESTABLISHED"


def _crossed_syns(net):
    """a and b connect to each other and their SYNs cross: both in SYN_RECV, SYN-ACKs out."""
    a, b = net.k.socket(2), net.k.socket(2)
    net.k.bind(a, ("127.0.0.1", 5001))
    net.k.bind(b, ("127.0.0.1", 5002))
    net.k.connect(a, ("127.0.0.1", 5002))
    net.k.connect(b, ("127.0.0.1", 5001))
    net.deliver(net.take())
    return a, b, net.take()


def test_syn_recv_close():
    net = Net()
    a, _, _ = _crossed_syns(net)
    net.k.close(a)
    fin, = net.take()
    assert flags(fin) == "F." and net.state(a) == "FIN_WAIT1"


def test_syn_recv_close_linger0():
    """Live: the built-in rst-in-syn-recv ([R.] seq 1 ack 1 from b's SYN_RECV socket)."""
    net = Net()
    a, b, _ = _crossed_syns(net)
    net.k.setsockopt(b, 1, 13, (1, 0))
    net.k.close(b)
    rst, = net.take()
    assert flags(rst) == "R." and net.state(b) == "freed"  # closed and its descriptor gone
    assert rst.seq == net.k.socks[a].rcv_nxt  # exactly at rcv_nxt: acceptable (RFC 5961 3.2)


def test_a_fast_open_child_closed_with_its_data_unread_sends_rst():
    """A Fast Open child (tcp_fastopen_create_child()) closed with its SYN's data unread:
    __tcp_close() sends RST, as upstream packetdrill's unread-data-closed-trigger-rst.pkt
    shows the kernel doing."""
    net = Net(REFERENCE.with_sysctls({"net.ipv4.tcp_fastopen": "0x202"}))
    lst = net.listener()
    net.k.setsockopt(lst, 6, 23, 1)  # TCP_FASTOPEN: a queue of one
    net.deliver([Seg(("127.0.0.1", 40000), SERVER, SYN, 1000, 0, 20000, [["mss", 1460]],
                     b"x" * 10)])
    synack, = net.take()
    assert flags(synack) == "S." and synack.ack == 1011  # the data acknowledged
    child = net.k.accept(lst)
    assert net.state(child) == "SYN_RECV"
    net.k.close(child)
    rst, = net.take()
    assert flags(rst) == "R." and (rst.seq, rst.ack) == (synack.seq + 1, 1011)
    assert net.state(child) == "freed" and net.k.socks[lst].fastopen_qlen == 0


def test_syn_recv_rcv_rst():
    """The fuzzer's AssertionError 'no rule for rcv_rst in SYN_RECV'; the kernel closes the
    socket and the blocked connect() returns ECONNRESET (tcp_reset(); live: rst-in-syn-recv)."""
    net = Net()
    a, b, synacks = _crossed_syns(net)
    net.k.setsockopt(b, 1, 13, (1, 0))
    net.k.close(b)
    net.deliver(net.take())  # b's RST reaches a, whose SYN-ACK from b is still on the way
    assert net.state(a) == "CLOSE"
    assert net.k.socks[a].err == errno.ECONNRESET


def test_syn_sent_rcv_rst():
    net = Net()
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 9))
    net.settle()
    syn, rst = net.wire
    assert (flags(rst), rst.seq, rst.ack, rst.win, rst.options) == ("R.", 0, syn.seq + 1, 0, [])
    assert net.state(c) == "CLOSE"
    assert net.k.getsockopt(c, 1, 4) == errno.ECONNREFUSED


def test_syn_sent_timer_syn():
    net = Net()
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 9))
    syn, = net.take()  # lost
    times = []
    for _ in range(7):
        retry, = net.advance(net.k.next_timer() - net.k.now)
        assert retry.seq == syn.seq  # the same ISN
        times.append(round(net.k.now))
    assert times == [1, 2, 3, 4, 5, 7, 11]  # tcp_syn_linear_timeouts=4, then doubling


def test_syn_sent_syn_retries_out():
    net = Net()
    c = net.k.socket(2)
    net.k.setsockopt(c, 6, 7, 2)  # TCP_SYNCNT 2
    net.k.connect(c, ("127.0.0.1", 9))
    net.take()
    # at 1, 2, 3, 4 (linear), 5 (doubling), each 24 ms late on the timer wheel (its 8-jiffy
    # buckets at HZ 250 from the first SYN's): 1.024, 2.048, 3.072, 4.096, 5.120
    sent = net.advance(7.1)
    assert len(sent) == 5 and net.state(c) == "SYN_SENT"
    # gives up at the first expiry after (2 << 2) - 1 = 7 s: the 2 s timer's, at 7.136 s
    assert net.advance(0.05) == [] and net.state(c) == "CLOSE"
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT  # measured on the kernel: 7.1 s, 6 SYNs


def test_established_retries_out():
    # TCP_USER_TIMEOUT 1000 with the peer silent (measured on the kernel, the built-in
    # user-timeout: 204.6, 413.5, 833.5, ETIMEDOUT at 1441.8 ms): the loss probe, RTOs 204
    # and 408 ms later on the timer wheel (51 jiffies run at the 52nd tick, 102 at the next
    # 8-jiffy boundary), then no more sends: ETIMEDOUT 1000 ms after the first RTO
    # (retrans_stamp), on the wheel too
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, 6, 18, 1000)  # TCP_USER_TIMEOUT
    net.k.send(c, b"ping\n")
    net.take()  # lost
    times = []
    while net.state(c) == "ESTABLISHED" and len(times) < 10:
        sent = net.advance(net.k.next_timer() - net.k.now)
        times.append((round(net.k.now, 3), [len(s.payload) for s in sent]))
    assert [t for t, _ in times[:3]] == [0.208, 0.416, 0.832]
    assert [n for _, n in times] == [[5], [5], [5], []]
    # tcp_clamp_rto_to_user_timeout(): 0.416 + 1.0, 146 jiffies on, at an 8-jiffy boundary
    assert times[-1][0] == pytest.approx(1.440)
    assert net.state(c) == "CLOSE" and net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_syn_sent_close():
    net = Net()
    c = net.k.socket(2)
    net.k.connect(c, SERVER)
    net.take()
    net.k.close(c)
    assert net.take() == [] and net.state(c) == "freed"


def test_established_rcv_fin():
    net = Net()
    _, c, child = net.connected(with_data=True)
    net.k.close(c)
    fin, = net.take()
    net.deliver([fin])
    assert net.state(child) == "CLOSE_WAIT" and net.take() == []  # the ACK waits
    ack, = net.advance(0.040)  # ... for the delayed-ACK timer, HZ/25
    assert flags(ack) == "." and ack.ack == fin.seq + 1


def test_established_rcv_fin_with_no_data_acks_after_a_jiffy():
    net = Net()
    c, child = net.close_wait()
    ack, = net.advance(0.004)  # ato is 0 until data arrives: the next timer tick
    assert flags(ack) == "."


def test_established_close():
    net = Net()
    _, c, _ = net.connected()
    net.k.close(c)
    fin, = net.take()
    assert flags(fin) == "F." and net.state(c) == "FIN_WAIT1"


def test_established_shutdown_wr():
    net = Net()
    _, c, _ = net.connected()
    net.k.shutdown(c, 1)
    fin, = net.take()
    assert flags(fin) == "F." and net.state(c) == "FIN_WAIT1"
    with pytest.raises(BrokenPipeError):
        net.k.send(c, b"x")


def test_established_close_unread():
    net = Net()
    _, c, child = net.connected()
    net.k.send(child, b"unread")
    net.settle()
    sk = net.k.socks[c]
    snd_nxt, rcv_nxt = sk.snd_nxt, sk.rcv_nxt
    net.k.close(c)
    rst, = net.take()
    assert (flags(rst), rst.seq, rst.ack) == ("R.", snd_nxt, rcv_nxt)  # RFC 2525 2.17, no FIN
    assert net.state(c) == "freed"


def test_established_close_linger0():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, 1, 13, (1, 0))
    net.k.close(c)
    rst, = net.take()
    assert flags(rst) == "R." and net.state(c) == "freed"


def test_established_rcv_rst():
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, 1, 13, (1, 0))
    net.k.close(c)
    net.settle()
    assert net.state(child) == "CLOSE"
    with pytest.raises(ConnectionResetError):
        net.k.recv(child, 10)
    with pytest.raises(BrokenPipeError):
        net.k.send(child, b"x")
    assert net.k.recv(child, 10) == b""


def test_fin_wait1_rcv_ack_of_fin():
    net = Net()
    c, child = net.fin_wait2()
    assert net.state(c) == "FIN_WAIT2"


def test_fin_wait1_rcv_fin():
    net = Net()
    _, c, child = net.connected()
    net.k.close(c)
    net.k.close(child)
    fin_c, fin_s = net.take()  # simultaneous close: both FINs in flight
    net.deliver([fin_c, fin_s])
    assert net.state(c) == "CLOSING" and net.state(child) == "CLOSING"
    acks = net.take()
    assert [flags(a) for a in acks] == [".", "."]
    net.deliver(acks)
    assert net.state(c) == net.state(child) == "TIME_WAIT"


def test_fin_wait1_close_unread():
    net = Net()
    _, c, child = net.connected()
    net.k.shutdown(c, 1)
    net.take()
    net.k.send(child, b"data")
    net.deliver(net.take())
    net.k.close(c)
    assert [flags(s) for s in net.take()][-1] == "R."


def test_fin_wait1_close_linger0():
    net = Net()
    _, c, _ = net.connected()
    net.k.shutdown(c, 1)
    net.take()
    net.k.setsockopt(c, 1, 13, (1, 0))
    net.k.close(c)
    rst, = net.take()
    assert flags(rst) == "R."


def test_fin_wait1_rcv_rst():
    net = Net()
    _, c, child = net.connected()
    net.k.shutdown(c, 1)
    net.take()
    net.k.setsockopt(child, 1, 13, (1, 0))
    net.k.close(child)
    net.deliver(net.take())
    assert net.state(c) == "CLOSE"


def test_fin_wait1_rcv_data_after_close():
    net = Net()
    _, c, child = net.connected()
    net.k.close(c)
    net.take()  # the FIN is lost
    net.k.send(child, b"late")
    data, = net.take()
    net.deliver([data])
    rst, = net.take()
    assert (flags(rst), rst.seq) == ("R", data.ack)  # tcp_v4_send_reset(): seq = its ack


def test_fin_wait2_rcv_fin():
    net = Net()
    c, child = net.fin_wait2(close=True)
    net.k.close(child)
    fin, = net.take()
    net.deliver([fin])
    ack, = net.take()
    assert flags(ack) == "." and net.state(c) == "TIME_WAIT"


def test_fin_wait2_close_unread():
    net = Net()
    c, child = net.fin_wait2()
    net.k.send(child, b"data")
    net.deliver(net.take())
    net.k.close(c)
    assert flags(net.take()[-1]) == "R."


def test_fin_wait2_rcv_rst():
    net = Net()
    c, child = net.fin_wait2()
    net.k.setsockopt(child, 1, 13, (1, 0))
    net.k.close(child)
    net.deliver(net.take())
    assert net.state(c) == "CLOSE"


def test_fin_wait2_rcv_data_after_close():
    net = Net()
    c, child = net.fin_wait2()
    net.k.close(c)  # orphaned FIN_WAIT2: timewait socket in substate FIN_WAIT2
    sk = net.k.socks[c]
    assert sk.state == "FIN_WAIT2"
    net.k.send(child, b"late")
    data, = net.take()
    net.deliver([data])
    rst, = net.take()
    assert (flags(rst), rst.seq) == ("R", data.ack)  # TCP_TW_RST: new data after the close
    assert net.state(c) == "freed"


def test_fin_wait2_timer_fin_wait2():
    net = Net()
    c, child = net.fin_wait2(close=True)
    assert net.state(c) == "FIN_WAIT2"
    net.advance(59.9)
    assert net.state(c) == "FIN_WAIT2"
    net.advance(0.2)
    assert net.state(c) == "freed"  # tcp_fin_timeout = 60 s


def _keepalive(net, sid, idle=1, intvl=1, cnt=3):
    for opt, value in ((9, 1),):
        net.k.setsockopt(sid, 1, opt, value)  # SO_KEEPALIVE
    for opt, value in ((4, idle), (5, intvl), (6, cnt)):  # TCP_KEEPIDLE, _KEEPINTVL, _KEEPCNT
        net.k.setsockopt(sid, 6, opt, value)


def _keepalive_gives_up(net, sid):
    """Three probes the peer never answers, then RST and ETIMEDOUT: 1 s is 250 jiffies,
    which the timer wheel runs at the next multiple of 8 jiffies, so the first probe goes
    251-258 jiffies after TCP_KEEPIDLE was set and the others 256 jiffies (1024 ms) apart
    (measured on the kernel: probes 1024 ms apart, the RST 1024 ms after the third)."""
    sk = net.k.socks[sid]
    una, local = sk.snd_una, sk.local
    j0 = int(net.k.now / 0.004 + 1e-9)  # the jiffy TCP_KEEPIDLE was set in
    times = []

    def next_from_sk():  # what the socket's own next timer sends (the peer's FIN may be resent)
        sent = net.advance(sk.timers["keepalive"] - net.k.now)
        return [seg for seg in sent if seg.src == local]

    for _ in range(3):
        probe, = next_from_sk()
        assert (flags(probe), probe.seq, probe.payload) == (".", (una - 1) & 0xFFFFFFFF, b"")
        times.append(round(net.k.now / 0.004) - j0)
    rst, = next_from_sk()
    times.append(round(net.k.now / 0.004) - j0)
    assert flags(rst) == "R." and rst.seq == sk.snd_nxt
    first = ((j0 + 250) // 8 + 1) * 8  # the wheel's level 1: the next multiple of 8 after
    assert times == [first - j0 + 256 * i for i in range(4)]
    assert net.state(sid) in ("CLOSE", "freed")


def test_established_keepalive_out():
    net = Net()
    _, c, child = net.connected()
    _keepalive(net, c)
    _keepalive_gives_up(net, c)
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_close_wait_keepalive_out():
    net = Net()
    c, child = net.close_wait()
    assert [flags(a) for a in net.advance(0.01)] == ["."]  # the FIN's ACK (lost: not delivered)
    _keepalive(net, child)
    _keepalive_gives_up(net, child)
    assert net.k.getsockopt(child, 1, 4) == errno.ETIMEDOUT


def test_fin_wait2_keepalive_out():
    net = Net()
    c, child = net.fin_wait2()
    assert net.state(c) == "FIN_WAIT2"
    _keepalive(net, c)
    _keepalive_gives_up(net, c)
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_closing_rcv_ack_of_fin():
    test_fin_wait1_rcv_fin()


def test_closing_rcv_rst():
    net = Net()
    _, c, child = net.connected()
    net.k.close(c)
    net.k.close(child)
    net.deliver(net.take())
    net.take()
    net.rst_to(c)
    assert net.state(c) == "freed"


def test_close_wait_close():
    net = Net()
    c, child = net.close_wait()
    net.k.close(child)
    fin, = net.take()
    assert flags(fin) == "F." and net.state(child) == "LAST_ACK"


def test_close_wait_shutdown_wr():
    net = Net()
    c, child = net.close_wait()
    net.k.shutdown(child, 1)
    fin, = net.take()
    assert flags(fin) == "F." and net.state(child) == "LAST_ACK"


def test_close_wait_close_unread():
    net = Net()
    _, c, child = net.connected()
    net.k.send(c, b"x")
    net.k.close(c)
    net.deliver(net.take())
    net.take()
    net.k.close(child)
    assert flags(net.take()[-1]) == "R."


def test_close_wait_close_linger0():
    net = Net()
    c, child = net.close_wait()
    net.k.setsockopt(child, 1, 13, (1, 0))
    net.k.close(child)
    assert flags(net.take()[-1]) == "R."


def test_close_wait_rcv_rst():
    net = Net()
    _, c, child = net.connected()
    net.k.shutdown(c, 1)
    net.deliver(net.take())
    sk = net.k.socks[c]
    net.deliver([Seg(sk.local, sk.remote, RST, sk.snd_nxt, 0, 0)])
    assert net.state(child) == "CLOSE"
    assert net.k.recv(child, 1) == b""  # the FIN came first: SOCK_DONE ends reads before sk_err
    with pytest.raises(BrokenPipeError):
        net.k.send(child, b"x")  # tcp_reset() in CLOSE_WAIT reports EPIPE


def test_last_ack_rcv_ack_of_fin():
    net = Net()
    c, child = net.close_wait()
    net.k.close(child)
    net.settle()
    assert net.state(child) == "freed" and net.state(c) == "TIME_WAIT"


def test_last_ack_rcv_rst():
    net = Net()
    c, child = net.close_wait()
    net.k.close(child)
    net.take()
    net.rst_to(child)
    assert net.state(child) == "freed"


def test_time_wait_rcv_fin():
    net = Net()
    c, child = net.close_wait()
    net.k.close(child)
    fin, = net.take()
    net.deliver([fin])
    net.take()
    net.advance(30.0)
    net.deliver([fin])  # retransmitted FIN
    ack, = net.take()
    assert flags(ack) == "." and net.state(c) == "TIME_WAIT"
    net.advance(59.9)
    assert net.state(c) == "TIME_WAIT"  # the 60 s started over with the FIN


def test_time_wait_timer_timewait():
    net = Net()
    c, child = net.close_wait()
    net.k.close(child)
    net.settle()
    net.advance(59.9)
    assert net.state(c) == "TIME_WAIT"
    net.advance(0.2)
    assert net.state(c) == "freed"  # TCP_TIMEWAIT_LEN


def test_a_segment_for_no_connection_gets_rst():
    net = Net()
    net.deliver([Seg(("127.0.0.1", 40000), SERVER, ACK, 5, 77, 100)])
    rst, = net.take()
    assert (flags(rst), rst.seq, rst.win) == ("R", 77, 0)


def test_fin_wait1_retries_out():
    # TCP_USER_TIMEOUT 1000, the peer silent, shutdown(SHUT_WR) after the data: the FIN goes
    # out, the data and FIN are resent by the RTOs, and 1000 ms after the first RTO
    # tcp_write_timeout() ends the socket from FIN_WAIT1 with ETIMEDOUT (measured: the
    # kernel's recv() gets ETIMEDOUT at 1221 ms, the built-in user-timeout-fin-wait1)
    net = Net()
    _, c, child = net.connected()
    net.k.setsockopt(c, 6, 18, 1000)  # TCP_USER_TIMEOUT
    net.k.send(c, b"ping\n")
    net.k.shutdown(c, 1)
    net.take()  # lost
    assert net.state(c) == "FIN_WAIT1"
    while net.state(c) == "FIN_WAIT1" and net.k.now < 5:
        net.advance(net.k.next_timer() - net.k.now)
    assert net.state(c) == "CLOSE" and net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT
    assert 1.2 < net.k.now < 1.5


def test_every_rule_of_the_table_has_its_test():
    names = {n for n in globals() if n.startswith("test_")}
    missing = [f"test_{r.state.lower()}_{r.event}" for r in RULES
               if f"test_{r.state.lower()}_{r.event}" not in names]
    assert not missing


def test_the_state_graph_is_built_from_the_table():
    g = graph()
    assert g.number_of_edges() == len(RULES)
    assert g.has_edge("SYN_SENT", "ESTABLISHED") and g.has_edge("TIME_WAIT", "CLOSE")
    assert {"LISTEN", "NEW_SYN_RECV", "CLOSING"} <= set(g.nodes)


def test_syn_sent_timer_syn_on_a_kernel_before_6_5():
    from tcpsim.model import KernelProfile

    net = Net(KernelProfile.builtin("linux-6.1"))
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 9))
    net.take()
    times = []
    while net.state(c) == "SYN_SENT":
        if net.advance(net.k.next_timer() - net.k.now):
            times.append(round(net.k.now, 3))
    # exponential from the first retry, tcp_syn_retries=6: 1, 3, 7, 15, 31 and 63 s, each on
    # the timer wheel (HZ 250): rounded up to its level's next bucket (8 jiffies for 1-2 s,
    # 64 for 4-16 s, 512 for 32 s), so each retry is later than its nominal time, and the
    # give-up at 127 s comes at 131 s
    assert times == [1.024, 3.04, 7.168, 15.36, 31.488, 65.536]
    assert round(net.k.now, 3) == 131.072 and net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_established_rcv_rst_inside_the_window_but_not_at_rcv_nxt_gets_a_challenge_ack():
    net = Net()
    _, c, child = net.connected()
    sk = net.k.socks[child]
    net.deliver([Seg(sk.remote, sk.local, RST | ACK, (sk.rcv_nxt + 1) & 0xFFFFFFFF, 0, 0)])
    ack, = net.take()
    assert flags(ack) == "." and ack.ack == sk.rcv_nxt and net.state(child) == "ESTABLISHED"


def test_fin_wait2_close_linger0():
    net = Net()
    c, child = net.fin_wait2()
    net.k.setsockopt(c, 1, 13, (1, 0))
    net.k.close(c)
    rst, = net.take()
    assert flags(rst) == "R." and net.state(c) == "freed"  # tcp_need_reset() covers FIN_WAIT2
