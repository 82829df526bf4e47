"""Keepalive in the model (tcp_keepalive_timer(), tcp_set_keepalive(), the TCP_KEEP* options):
what was measured on the kernel (Linux 6.18, HZ 250), driven by hand."""

import errno

import pytest

from tcpsim.model import KernelProfile

from .model_harness import REFERENCE, Net, flags

JIFFY = 0.004


def _jiffy(net) -> int:
    return int(net.k.now / JIFFY + 1e-9)


def _keepalive(net, sid, idle=1, intvl=1, cnt=3):
    net.k.setsockopt(sid, 1, 9, 1)  # SO_KEEPALIVE
    for opt, value in ((4, idle), (5, intvl), (6, cnt)):  # TCP_KEEPIDLE, _KEEPINTVL, _KEEPCNT
        net.k.setsockopt(sid, 6, opt, value)


def _next(net):
    """Advance to the next timer; what it sent (not delivered yet)."""
    return net.advance(net.k.next_timer() - net.k.now)


def test_the_options_read_the_sysctls_until_set_and_refuse_what_the_kernel_refuses():
    # measured in a fresh namespace: 0 7200 75 9; EINVAL below 1 and above 32767 (IDLE,
    # INTVL) or 127 (CNT); SO_KEEPALIVE 2 or -1 reads back 1
    net = Net()
    s = net.k.socket(2)
    assert [net.k.getsockopt(s, *o) for o in ((1, 9), (6, 4), (6, 5), (6, 6))] == [0, 7200, 75, 9]
    for opt, top in ((4, 32767), (5, 32767), (6, 127)):
        for bad in (0, -1, top + 1):
            with pytest.raises(OSError) as e:
                net.k.setsockopt(s, 6, opt, bad)
            assert e.value.errno == errno.EINVAL
        net.k.setsockopt(s, 6, opt, top)
        assert net.k.getsockopt(s, 6, opt) == top
    for value, read in ((2, 1), (-1, 1), (0, 0)):
        net.k.setsockopt(s, 1, 9, value)
        assert net.k.getsockopt(s, 1, 9) == read
    assert "keepalive" not in net.k.socks[s].timers  # tcp_set_keepalive(): CLOSE arms nothing


def test_the_defaults_are_the_profiles_sysctls():
    prof = REFERENCE.with_sysctls({"net.ipv4.tcp_keepalive_time": "2",
                                   "net.ipv4.tcp_keepalive_intvl": "1",
                                   "net.ipv4.tcp_keepalive_probes": "1"})
    net = Net(prof)
    _, c, _ = net.connected()
    net.k.setsockopt(c, 1, 9, 1)
    assert [net.k.getsockopt(c, 6, o) for o in (4, 5, 6)] == [2, 1, 1]
    j0 = _jiffy(net)
    probe, = _next(net)
    assert _jiffy(net) == ((j0 + 500) // 8 + 1) * 8  # 500 jiffies: level 1, a multiple of 8
    rst, = _next(net)
    assert flags(rst) == "R." and _jiffy(net) - j0 > 750
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_a_listeners_keepalive_is_inherited():
    # measured: a listener with SO_KEEPALIVE and TCP_KEEPIDLE 5 gives its child 1, 5 (and 9)
    net = Net()
    lst = net.listener()
    net.k.setsockopt(lst, 1, 9, 1)
    net.k.setsockopt(lst, 6, 4, 5)
    assert "keepalive" not in net.k.socks[lst].timers
    c = net.k.socket(2)
    net.k.connect(c, ("127.0.0.1", 8080))
    net.settle()
    child = net.k.accept(lst)
    assert [net.k.getsockopt(child, *o) for o in ((1, 9), (6, 4), (6, 6))] == [1, 5, 9]
    assert "keepalive" in net.k.socks[child].timers and "keepalive" not in net.k.socks[c].timers


@pytest.mark.parametrize("idle, gap", [(1, 256), (2, 504)])
def test_an_answered_probe_starts_the_idle_time_over(idle, gap):
    # measured (keepalive): probe [.] seq snd_una - 1, the peer's duplicate ACK [.] at its
    # snd_nxt, the next probe an idle time later, and no give-up however long it lasts.
    # With TCP_KEEPIDLE 2 and TCP_KEEPINTVL 1 the probes went 2016 ms (504 jiffies) apart:
    # the timer runs after the interval (256 jiffies), finds 256 of the 500 jiffies of
    # silence, and looks again after the 244 left (rounded up to a multiple of 8)
    net = Net()
    _, c, child = net.connected(with_data=True)
    net.settle()
    net.advance(0.1)
    net.settle()  # the delayed ACKs
    _keepalive(net, c, idle=idle)
    csk, ssk = net.k.socks[c], net.k.socks[child]
    times = []
    for _ in range(6):
        while not (sent := _next(net)):
            pass
        probe, = sent
        times.append(_jiffy(net))
        assert (flags(probe), probe.seq, probe.ack, probe.payload) == (
            ".", (csk.snd_una - 1) & 0xFFFFFFFF, csk.rcv_nxt, b"")
        net.deliver([probe])
        answer, = net.take()
        assert (flags(answer), answer.seq, answer.ack) == (".", ssk.snd_nxt, ssk.rcv_nxt)
        net.deliver([answer])
        assert csk.probes_out == 0
    assert [b - a for a, b in zip(times, times[1:])] == [gap] * 5
    assert net.state(c) == "ESTABLISHED"


def test_data_received_postpones_the_first_probe():
    """keepalive_time_elapsed(): the silence counts from the last data or ACK received; the
    timer that finds it too short looks again when the idle time will be up."""
    net = Net()
    _, c, child = net.connected()
    _keepalive(net, c, idle=2)
    net.advance(1.5)
    net.k.send(child, b"news")
    net.settle()
    j_data = _jiffy(net)
    sent = _next(net)  # the timer at ~2 s finds 0.5 s of silence: nothing, again later
    assert sent == [] and "keepalive" in net.k.socks[c].timers
    probe, = _next(net)
    assert flags(probe) == "." and _jiffy(net) - j_data >= 500


def test_user_timeout_decides_instead_of_the_probe_count():
    # measured (keepalive-user-timeout): TCP_KEEPCNT 9, TCP_USER_TIMEOUT 2500: probes at
    # ~1 and ~2 s, the RST at the third run (~3.07 s)
    net = Net()
    _, c, _ = net.connected()
    _keepalive(net, c, cnt=9)
    net.k.setsockopt(c, 6, 18, 2500)
    sent = [flags(_next(net)[0]) for _ in range(3)]
    assert sent == [".", ".", "R."]
    assert net.k.getsockopt(c, 1, 4) == errno.ETIMEDOUT


def test_no_probe_while_data_is_in_flight():
    """tcp_keepalive_timer(): packets out or unsent data: look again after the idle time."""
    net = Net()
    _, c, child = net.connected()
    _keepalive(net, c)
    net.k.send(c, b"x")
    net.take()  # lost: the data stays in flight
    sk = net.k.socks[c]
    deadline = sk.timers["keepalive"]
    net.k.handle_timer(deadline)
    net.k.outbox.clear()
    assert sk.probes_out == 0 and sk.timers["keepalive"] > deadline


def test_a_keepalive_answered_for_ever_with_no_call_returning_is_stuck_not_endless():
    """keepalive with the client's request emptied (send of "": the server's recv never
    returns): the peer answers every probe, so the timers never give up.  The run stops as
    stuck after 4 hours of world time with only timers sending (sim/runner.py TIMERS_ONLY);
    it ran for ever before (found by tests/test_fuzz.py)."""
    from tcpsim.scenario import load, parse
    from tcpsim.sim.runner import Stuck, TIMERS_ONLY
    from tcpsim.sim.world import run_model

    text = load("keepalive").text.replace('send(fd, "ping\\n") = 5', 'send(fd, "") = 0')
    with pytest.raises(Stuck, match="only timers have sent segments") as e:
        run_model(parse(text, "ka"), REFERENCE)
    assert e.value.trace.end >= TIMERS_ONLY
