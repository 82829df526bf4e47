"""The runner looks only at the sockets the model says changed (Runner._observe): every look
gives the events, the names and the state a look at every socket (Runner._snapshot_all, the
lab's way) gives.  Runner.check_observe makes each look check itself against a look at all
on a copy of the runner (an AssertionError names the first difference)."""

import pytest

from tcpsim.model import KernelProfile
from tcpsim.scenario import builtin_names, load, parse
from tcpsim.sim.explore import explore
from tcpsim.sim.runner import Runner, Stuck
from tcpsim.sim.world import SimWorld, run_model

from .conftest import PROGRAMS

REF = KernelProfile.named("reference")
ALL = builtin_names() + sorted(str(p) for p in PROGRAMS.glob("*.tcp"))


@pytest.fixture
def checked(monkeypatch):
    monkeypatch.setattr(Runner, "check_observe", True)


def _run(prog, profile):
    try:
        return run_model(prog, profile)
    except Stuck as stuck:  # a program of tests/programs may be stuck on purpose
        return stuck.trace


@pytest.mark.parametrize("mtu", [None, 1500])
@pytest.mark.parametrize("name", ALL)
def test_each_look_at_the_changed_sockets_is_a_look_at_all(checked, name, mtu):
    trace = _run(load(name), REF.with_mtu(mtu))
    assert trace.events


def test_a_look_at_all_is_what_a_world_that_names_no_changes_gets():
    prog = load("concurrent-server")
    looked = run_model(prog, REF)

    class Blind(SimWorld):  # the lab's interface: no changed(), no table_entry()
        def __getattribute__(self, name):
            if name in ("changed", "table_entry"):
                raise AttributeError(name)
            return super().__getattribute__(name)

    world = Blind(REF, 0, prog.faults, prog.sysctls)
    runner = Runner(prog, world, "model")
    assert runner._ob is None
    assert runner.run().to_dict()["events"] == looked.to_dict()["events"]


def test_a_broken_report_of_changes_is_caught(checked, monkeypatch):
    taken = SimWorld.changed

    def one_missing(self):
        out = taken(self)
        return set(sorted(out)[1:])

    monkeypatch.setattr(SimWorld, "changed", one_missing)
    with pytest.raises(AssertionError):
        run_model(load("teardown-client-first"), REF)


def test_explore_snapshots_copy_what_the_runner_keeps_to_look(checked):
    # explore.py deep-copies the runner at every choice: each branch goes on looking right
    assert len(explore(load("handshake"), REF).outcomes) >= 7


def _many_clients(n: int) -> str:
    lines = ["server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0",
             f"server: listen(s, {n + 1}) = 0"]
    lines += [f"c{i}: fd = socket()\nc{i}: connect(fd, 127.0.0.1:8080) = 0" for i in range(n)]
    lines += [f"server: a{i} = accept(s)" for i in range(n)]
    for i in range(n):
        lines += [f'c{i}: send(fd, "ping") = 4', f"server: recv(a{i}, 100) = 4",
                  f"c{i}: close(fd) = 0", f"server: recv(a{i}, 100) = 0",
                  f"server: close(a{i}) = 0"]
    return "\n".join(lines + ["server: close(s) = 0"]) + "\n"


def test_many_processes_and_reused_names(checked):
    # scripts/bench_sim.py's big programs, small: many clients at once, and one name
    # given to many sockets in turn (labels s, s#2, s#3...)
    trace = run_model(parse(_many_clients(12), name="many"), REF)
    assert all(c.ok is not False for c in trace.calls)
    states = {(e.socket, e.state) for e in trace.states}
    assert ("c11.fd", "TIME_WAIT") in states and ("server.a11", "CLOSE") in states
    trace = run_model(parse("p: s = socket()\np: close(s) = 0\n" * 30, name="pairs"), REF)
    assert [c.result for c in trace.calls] == [3, 0] * 30
    assert {e.socket for e in trace.states} >= {"p.s", "p.s#2", "p.s#30"}
