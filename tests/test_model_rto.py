"""The retransmission timer for data (issue 18), driven by hand: what Linux 6.18 did on lo.

tcp_schedule_loss_probe() with one segment out, tcp_rearm_rto(), tcp_retransmit_timer() with
tcp_enter_loss() and the backoff, tcp_xmit_retransmit_queue() after it.  The built-ins
lost-request, lost-request-backoff, lost-write-rto and user-timeout hold the same rules against
the kernel's captures and live.
"""

import pytest

from .model_harness import Net, flags


def _lost_write(n: int):
    """(net, client, child): a client with MSS 988 (TCP_MAXSEG 1000) whose n-byte write is lost."""
    net = Net()
    lst = net.listener()
    c = net.k.socket(2)
    net.k.setsockopt(c, 6, 2, 1000)  # TCP_MAXSEG
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    child = net.k.accept(lst)
    net.k.send(c, bytes(n))
    sent, = net.take()
    assert len(sent.payload) == n
    return net, c, child


def test_a_lone_lost_segment_goes_again_as_a_probe_at_the_rto_time():
    net, c, child = _lost_write(5)
    sk = net.k.socks[c]
    assert "retransmit" not in sk.timers  # one timer: the probe replaced the RTO
    # 2 srtt + tcp_rto_min, no later than the RTO: 51 jiffies, run at the next tick
    sent_at = net.k.now
    assert 0.204 < sk.timers["loss_probe"] - sent_at < 0.2081
    probe, = net.advance(sk.timers["loss_probe"] - net.k.now)
    assert (flags(probe), len(probe.payload)) == ("P.", 5)
    # a probe is not a loss: the window stays, no backoff (tcpi_retransmits 0, cwnd 10)
    assert (sk.snd_cwnd, sk.backoff, sk.retries, sk.ca_loss) == (10, 0, 0, False)
    # then the RTO, 204 ms from the probe (measured 208 ms after it on the wheel)
    assert 0.204 < sk.timers["retransmit"] - net.k.now < 0.2081


def test_the_rto_marks_everything_lost_and_resends_one_mss_then_slow_start():
    net, c, child = _lost_write(3000)
    sk = net.k.socks[c]
    probe, = net.advance(0.010)  # several segments out: the PTO is a jiffy (run at the 2nd)
    assert (flags(probe), len(probe.payload)) == ("P.", 36)  # the last MSS, cut off
    rto, = net.advance(0.208)
    assert (flags(rto), len(rto.payload), rto.seq) == (".", 988, probe.seq - 1976 - 988)
    assert (sk.snd_cwnd, sk.snd_ssthresh, sk.backoff, sk.ca_loss) == (1, 7, 1, True)
    assert sk.rto == pytest.approx(0.408)
    net.deliver([rto])
    ack, = net.take()
    net.deliver([ack])
    nxt, = net.take()  # cwnd 2: the next lost skb, two segments
    assert (flags(nxt), len(nxt.payload), sk.snd_cwnd) == ("P.", 1976, 2)
    net.deliver([nxt])
    ack, = net.take()
    net.deliver([ack])
    tail, = net.take()
    assert (flags(tail), len(tail.payload)) == ("P.", 36)
    net.deliver([tail])
    net.deliver(net.take())
    # recovered: TCP_CA_Open, the RTO back to 204 ms (a timestamp sample), nothing out
    assert (sk.ca_loss, sk.backoff, sk.packets_out) == (False, 0, 0)
    assert sk.rto == pytest.approx(0.204) and "retransmit" not in sk.timers


def test_tcp_retries2_gives_up_at_the_first_rto_past_its_time():
    # measured in a namespace with net.ipv4.tcp_retries2 = 3, the peer silent: the probe at
    # 0.207 s, RTOs at 0.415, 0.835, 1.667 and 3.331 s, then recv() = ETIMEDOUT at 6.69 s:
    # tcp_model_timeout() is ((2 << 3) - 1) x 200 ms = 3 s from the first RTO, and
    # tcp_write_timeout() looks only when the timer fires (no clamp without TCP_USER_TIMEOUT)
    import dataclasses
    import errno

    from .model_harness import REFERENCE

    profile = dataclasses.replace(REFERENCE, sysctls={**REFERENCE.sysctls,
                                                      "net.ipv4.tcp_retries2": "3"})
    net = Net(profile)
    _, c, child = net.connected()
    net.k.send(c, b"ping\n")
    net.take()
    times = []
    while net.state(c) == "ESTABLISHED":
        sent = net.advance(net.k.next_timer() - net.k.now)
        times.append((round(net.k.now, 3), len(sent)))
    assert [n for _, n in times] == [1, 1, 1, 1, 1, 0]  # the probe, four RTOs, the give-up
    assert [t for t, _ in times] == [0.208, 0.416, 0.832, 1.664, 3.328, 6.656]
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT
