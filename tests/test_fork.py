"""fork(): a child with copies of its parent's descriptors; a socket closes with its last one.

The rules are the kernel's: fork() copies the descriptor table, each entry a new reference to
the same open file (dup_fd() in kernel/fork.c); close() drops one reference, and only the
last one's fput() reaches sock_close() -> tcp_close().  Held against the kernel by the
built-in concurrent-server (verified live, tests/test_model_vs_kernel.py) and by the lab's
run of the programs here (the lab gives the child a dup() of the parent's socket)."""

import pytest

from tcpsim.model import KernelProfile
from tcpsim.scenario import ScenarioError, load, parse
from tcpsim.sim.world import run_model

from .conftest import lab_unavailable

REF = KernelProfile.named("reference")

SERVE = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
server: c = accept(s) = 4
server: fork(child)
server: close(c) = 0
child: close(s) = 0
child: send(c, "hi") = 2
{child_close}
client: recv(fd, 100) = 2
client: recv(fd, 100) = {eof}
"""


def _segments(trace):
    return [(s.flags, s.length) for s in trace.segments]


def test_the_parents_close_sends_nothing_while_the_child_holds_the_socket():
    trace = run_model(parse(SERVE.format(child_close="child: close(c) = 0", eof="0")), REF)
    closes = [c for c in trace.calls if c.text == "close(c)"]
    assert [(c.process, c.value) for c in closes] == [
        ("server", "still open in child: the socket stays, nothing is sent"), ("child", None)]
    # the FIN is the child's close, after its data: the last descriptor
    assert _segments(trace)[3:] == [("P.", 2), (".", 0), ("F.", 0), (".", 0)]
    fin = next(s for s in trace.segments if "F" in s.flags)
    child_close = next(c for c in trace.calls if c.process == "child" and c.text == "close(c)")
    assert fin.t >= child_close.t


def test_a_child_that_keeps_its_copy_keeps_the_connection_open():
    """The textbook's warning: the client never sees end-of-file while a copy is open."""
    text = SERVE.format(child_close="", eof="0").replace("client: recv(fd, 100) = 0\n",
                                                          "client: poll(fd, POLLIN, 100ms) = 0\n")
    trace = run_model(parse(text), REF)
    assert not any("F" in s.flags for s in trace.segments)
    assert trace.calls[-1].result == 0  # poll timed out: nothing more arrived


def test_exit_closes_the_childs_copies():
    trace = run_model(parse(SERVE.format(child_close="child: exit", eof="0")), REF)
    assert [s.flags for s in trace.segments].count("F.") == 1


def test_the_child_starts_with_the_parents_descriptor_names():
    prog = parse(SERVE.format(child_close="child: close(c) = 0", eof="0"))
    assert prog.processes == ("server", "client", "child")
    with pytest.raises(ScenarioError, match="'t' is not a descriptor of this process yet"):
        parse(SERVE.format(child_close="child: close(t) = 0", eof="0"))


def test_a_childs_line_before_its_fork_is_refused():
    text = "p: s = socket()\nchild: t = socket()\np: fork(child)\n"
    with pytest.raises(ScenarioError, match="fork\\(child\\) names a process that already exists"):
        parse(text)


def test_a_child_forked_twice_is_refused():
    text = "p: s = socket()\np: fork(child)\np: fork(child)\n"
    with pytest.raises(ScenarioError, match="already forked at line 2"):
        parse(text)


def test_the_concurrent_server_forks_a_child_per_client():
    prog = load("concurrent-server")
    forks = [s.args[0] for s in prog.steps if s.call == "fork"]
    assert forks == ["child1", "child2", "child3"]
    trace = run_model(prog, REF)
    assert all(c.ok is not False for c in trace.calls)
    # each connection: the server's FIN comes from the child's close, the listener closes last
    fins = [s for s in trace.segments if s.flags == "F." and s.src.endswith(":8080")]
    assert len(fins) == 3


@pytest.fixture
def live():
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")


def _holds_live(text: str) -> None:
    """The program on the real kernel: every call as expected, and the model agrees."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.lab import run_lab

    prog = parse(text)
    kernel = run_lab(prog)
    assert all(c.ok is not False for c in kernel.calls), [(c.text, c.result) for c in kernel.calls]
    held = hold_lab(kernel, prog, KernelProfile.from_trace(kernel))
    assert held.ok, [d.sentence for d in held.differences]


@pytest.mark.parametrize("child_close", ["child: close(c) = 0", "child: exit", ""])
def test_the_lab_shares_the_socket_as_the_kernel_does(live, child_close):
    text = SERVE.format(child_close=child_close, eof="0")
    if not child_close:
        text = text.replace("client: recv(fd, 100) = 0\n", "client: poll(fd, POLLIN, 100ms) = 0\n")
    _holds_live(text)


THREADED = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: thread(worker)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
server: c = accept(s) = 4
worker: send(c, "hi") = 2
worker: close(c) = 0
server: send(c, "again") = -1 EBADF
client: recv(fd, 100) = 2
client: recv(fd, 100) = 0
"""


def test_a_thread_shares_the_table_so_its_close_is_the_processes():
    """thread(): clone(CLONE_FILES), one table: the worker uses the descriptor the main
    thread accepted after the thread started, and its close() is the last: FIN at once, and
    the main thread's next call on it fails with EBADF."""
    trace = run_model(parse(THREADED), REF)
    assert all(c.ok is not False for c in trace.calls), [(c.text, c.result, c.errno)
                                                         for c in trace.calls]
    close = next(c for c in trace.calls if c.text == "close(c)")
    assert close.value is None  # nobody else holds it: nothing to say
    assert [s.flags for s in trace.segments].count("F.") == 1


def test_the_lab_shares_a_threads_table_as_the_kernel_does(live):
    _holds_live(THREADED)


DUPPED = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
client: fd = socket()
client: connect(fd, 127.0.0.1:8080) = 0
server: c = accept(s) = 4
server: out = dup(c) = 5
server: close(c) = 0
server: send(out, "hi") = 2
server: close(out) = 0
client: recv(fd, 100) = 2
client: recv(fd, 100) = 0
"""


def test_dup_is_a_second_descriptor_for_the_same_socket():
    trace = run_model(parse(DUPPED), REF)
    assert all(c.ok is not False for c in trace.calls), [(c.text, c.result) for c in trace.calls]
    first = next(c for c in trace.calls if c.text == "close(c)")
    assert first.value == "still open in server: the socket stays, nothing is sent"
    assert [s.flags for s in trace.segments][3:] == ["P.", ".", "F.", "."]


def test_the_lab_dups_as_the_kernel_does(live):
    _holds_live(DUPPED)


def test_lab_free_runs_a_forked_child_as_a_forked_process(live):
    """lab --free: the parent's OS process forks at its fork() line and the child runs on
    the descriptors it inherited; each run is one of the program's exchanges."""
    from tcpsim.lab.free import run_free
    from tcpsim.sim.explore import explore

    # the client waits for the server to listen (all processes start at once in lab --free)
    prog = parse(SERVE.format(child_close="child: close(c) = 0", eof="0").replace(
        "client: fd = socket()", "client: sleep 100ms\nclient: fd = socket()"))
    known = {o.signature for o in explore(prog, REF).outcomes}
    served = 0
    for _ in range(4):
        run = run_free(prog, timeout=1.0)
        assert run.signature in known
        served += any(s.flags == "P." for s in run.trace.segments)
    assert served >= 1
    owners = {s.label: s.process for s in run.trace.sockets}
    assert owners.get("server.c") in (None, "server")  # the child's copy is the parent's socket
