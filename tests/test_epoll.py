"""epoll in the program format, on the model (the lab side is verified live with the
built-ins epoll-server and epoll-edge; packetdrill's side is tests/pkt/epoll-*.pkt)."""

from tcpsim.model import KernelProfile
from tcpsim.scenario import load, parse
from tcpsim.sim.world import run_model

REF = KernelProfile.named("reference")


def _calls(text: str):
    trace = run_model(parse(text, source="t.tcp"), REF)
    return [(c.text, c.result, c.errno, c.value, c.ok) for c in trace.calls
            if c.result is not None]


PROLOGUE = """server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 8) = 0
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
server: c = accept(s)
server: ep = epoll_create()
"""


def test_a_ready_list_other_than_the_expected_one_is_flagged():
    got = _calls(PROLOGUE + """server: epoll_ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN|EPOLLOUT) = 0
server: epoll_wait(ep, 4, 0) = c EPOLLIN
server: epoll_wait(ep, 4, 0) = c EPOLLOUT
""")
    assert got[-2][1:] == (1, None, "c EPOLLOUT", False)
    assert got[-1][1:] == (1, None, "c EPOLLOUT", True)  # level-triggered: again


def test_edge_triggered_reports_once_per_arrival_and_level_while_unread():
    got = _calls(PROLOGUE + """server: epoll_ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN|EPOLLET) = 0
server: epoll_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN) = 0
client: send(fd, "a") = 1
server: epoll_wait(ep, 4, 0) = c EPOLLIN
server: epoll_wait(ep, 4, 0) = 0
server: epoll_ctl(ep, EPOLL_CTL_MOD, c, EPOLLIN) = 0
server: epoll_wait(ep, 4, 0) = c EPOLLIN
server: epoll_wait(ep, 4, 0) = c EPOLLIN
server: close(c) = 0
server: epoll_wait(ep, 4, 0) = 0
""")
    assert all(ok is not False for *_, ok in got), got


def test_maxevents_leaves_the_rest_ready_in_order():
    """ep_send_events() stops at maxevents; the items not taken stay first on the list."""
    got = _calls("""server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 8) = 0
a: fa = socket()
a: connect(fa, 127.0.0.1:8080) = 0
b: fb = socket()
b: connect(fb, 127.0.0.1:8080) = 0
server: c1 = accept(s)
server: c2 = accept(s)
server: ep = epoll_create()
server: epoll_ctl(ep, EPOLL_CTL_ADD, c1, EPOLLIN|EPOLLET) = 0
server: epoll_ctl(ep, EPOLL_CTL_ADD, c2, EPOLLIN|EPOLLET) = 0
b: send(fb, "b") = 1
a: send(fa, "a") = 1
server: epoll_wait(ep, 1, 0) = c2 EPOLLIN
server: epoll_wait(ep, 1, 0) = c1 EPOLLIN
server: epoll_wait(ep, 1, 0) = 0
""")
    assert all(ok is not False for *_, ok in got), got


def test_the_builtins_expect_what_the_model_does():
    for name in ("epoll-server", "epoll-edge"):
        trace = run_model(load(name), REF)
        assert all(c.ok is not False for c in trace.calls), name
