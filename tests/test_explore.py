"""Every exchange a concurrent program can produce (`tcpsim explore`), and the kernel's runs
of the processes truly concurrent (`lab --free`) landing in that set."""

import json
from collections import Counter

import pytest

from tcpsim.model import KernelProfile
from tcpsim.render.explore import first_difference, how, nearest_outcome, segment_lines
from tcpsim.scenario import builtin_names, load
from tcpsim.sim.explore import explore, interleavings, races, signature
from tcpsim.sim.world import run_model

from .conftest import PROGRAMS, lab_unavailable, run_cli

REF = KernelProfile.named("reference")
HANDSHAKE = ["client [S] seq 0", "server [S.] seq 0 ack 1", "client [.] seq 1 ack 1",
             "server [P.] seq 1 ack 1 len 19", "client [.] seq 1 ack 20"]


def exchanges(exp):
    return [[" ".join(text.split()) for _, text in segment_lines(o)] for o in exp.outcomes]


@pytest.fixture(scope="module")
def seed():
    return explore(load("handshake"), REF)


def test_the_seed_program_has_the_seven_exchanges_seen_idle_and_the_servers_late_close(seed):
    # measured here with the seed's own C programs (docs/concurrency.md): 500 runs, the first
    # seven and nothing else; the eighth (the server's close() a tick late) with both CPUs busy
    assert sorted(exchanges(seed)) == sorted([
        HANDSHAKE + ["server [F.] seq 20 ack 1", "client [F.] seq 1 ack 21",
                     "server [.] seq 21 ack 2"],  # the server closes first
        HANDSHAKE + ["client [F.] seq 1 ack 20", "server [F.] seq 20 ack 2",
                     "client [.] seq 2 ack 21"],  # the client closes first
        # ... and the server's ACK of its FIN, due at the next tick, comes before its close()
        HANDSHAKE + ["client [F.] seq 1 ack 20", "server [.] seq 20 ack 2",
                     "server [F.] seq 20 ack 2", "client [.] seq 2 ack 21"],
        # the FINs cross (both close at once): each FIN acks only the data, then two ACKs
        HANDSHAKE + ["server [F.] seq 20 ack 1", "client [F.] seq 1 ack 20",
                     "client [.] seq 2 ack 21", "server [.] seq 21 ack 2"],
        HANDSHAKE + ["server [F.] seq 20 ack 1", "client [F.] seq 1 ack 20",
                     "server [.] seq 21 ack 2", "client [.] seq 2 ack 21"],
        HANDSHAKE + ["client [F.] seq 1 ack 20", "server [F.] seq 20 ack 1",
                     "server [.] seq 21 ack 2", "client [.] seq 2 ack 21"],
        HANDSHAKE + ["client [F.] seq 1 ack 20", "server [F.] seq 20 ack 1",
                     "client [.] seq 2 ack 21", "server [.] seq 21 ack 2"],
        ["client [S] seq 0", "server [R.] seq 0 ack 1"],  # connect() before listen()
    ])
    assert seed.complete
    assert seed.interleavings == 330  # C(11, 4): the two processes' lines, all interleavings
    assert seed.schedules < 60


def test_both_teardown_orders_come_with_the_decision_that_makes_them(seed):
    ends = {tuple(x[-3:]): how(seed, i) for i, x in enumerate(exchanges(seed))}
    server_first = ("server [F.] seq 20 ack 1", "client [F.] seq 1 ack 21",
                    "server [.] seq 21 ack 2")
    client_first = ("client [F.] seq 1 ack 20", "server [F.] seq 20 ack 2",
                    "client [.] seq 2 ack 21")
    assert ends[server_first] == ("when server's close() (line 12) runs before client's "
                                  "close() (line 17)")
    assert ends[client_first] == ("when client's close() (line 17) runs before server's "
                                  "close() (line 12)")


def test_a_refused_connect_leaves_the_server_hanging_in_accept(seed):
    refused = next(o for o in seed.outcomes if len(o.signature[0][0][1]) == 2)
    assert refused.hangs == (("server", 10),)
    calls = {step: (result, err) for step, result, err in refused.signature[1]}
    assert calls[8] == (-1, "ECONNREFUSED")
    assert calls[9] == (-1, "ENOTCONN")  # tcp_disconnect() after the failed connect()
    assert 3 not in calls  # accept() never returns
    assert dict(refused.signature[2]) == {"client.fd": "CLOSE", "server.s": "LISTEN"}
    assert how(seed, seed.outcomes.index(refused)) == (
        "when client's connect() (line 15) runs before server's listen() (line 9)")


def test_the_reductions_keep_every_outcome_and_explore_fewer_schedules():
    for name in ("handshake", "close-unread", "listener-close", "data-after-close",
                 "simultaneous-open", "close-in-syn-recv"):
        prog = load(name)
        reduced, full = explore(prog, REF), explore(prog, REF, por=False)
        assert {o.signature for o in reduced.outcomes} == {o.signature for o in full.outcomes}
        assert reduced.schedules < full.schedules <= interleavings(prog)


# (iterative-server, concurrent-server (seven processes) and epoll-server walk for a minute or
# more: 12910 schedules for
# epoll-server; test_an_epoll_call_depends_on_the_sockets_its_epoll_watches covers epoll)
@pytest.mark.parametrize("name", [n for n in builtin_names()
                                  if n not in ("iterative-server", "concurrent-server",
                                               "epoll-server")])
def test_the_file_order_exchange_is_the_first_explored_outcome(name):
    # the walk takes the earliest line first at every choice: its first schedule is the file
    # order, so compare and verify can name a file-order match "outcome 1" without walking
    prog = load(name)
    exp = explore(prog, REF)
    assert exp.complete
    file_order = signature(run_model(prog, REF))
    assert [o.signature for o in exp.outcomes].index(file_order) == 0


@pytest.mark.parametrize("name", ["iterative-server", "nagle", "close-unread", "backlog-full"])
def test_a_snapshot_is_a_deep_copy_though_socks_are_copied_one_level_deep(name):
    # Sock.__deepcopy__ copies its containers one level deep: that is a deep copy only while
    # every field holds numbers, strings, bytes or tuples of them
    import copy
    from dataclasses import fields

    from tcpsim.model.kernel import SOCK_CONTAINERS
    from tcpsim.sim.world import SimWorld

    def plain(v) -> bool:
        return v is None or isinstance(v, (int, float, str, bytes)) or (
            isinstance(v, tuple) and all(map(plain, v)))

    world = SimWorld(REF)
    run_model(load(name), REF, world=world)
    socks = list(world.kernel.socks.values())
    assert socks
    for sk in socks:
        for f in fields(sk):
            v = getattr(sk, f.name)
            if f.name in SOCK_CONTAINERS:
                items = list(v.items()) if isinstance(v, dict) else list(v)
                assert all(map(plain, items)), (f.name, v)
            else:
                assert plain(v), (f.name, v)
        twin = copy.deepcopy(sk)
        assert twin == sk
        for c in SOCK_CONTAINERS:
            assert getattr(twin, c) is not getattr(sk, c)


def test_a_pause_within_a_jiffy_of_the_delayed_ack_races_with_it():
    exp = explore(load(str(PROGRAMS / "delack-race.tcp")), REF)
    tails = {tuple(x[-3:]): how(exp, i) for i, x in enumerate(exchanges(exp))}
    assert tails[("server [.] seq 5 ack 9", "server [F.] seq 5 ack 9",
                  "client [.] seq 9 ack 6")] == (
        "when the delack timer of server.c fires before the pause in server's sleep() "
        "(line 16) ends")
    assert tails[("client [P.] seq 5 ack 5 len 4", "server [F.] seq 5 ack 9",
                  "client [.] seq 9 ack 6")] == (
        "when the pause in server's sleep() (line 16) ends before the delack timer of "
        "server.c fires")


def test_a_timer_due_at_the_next_tick_races_the_next_call_when_calls_take_time():
    # the server never received data: it ACKs the client's FIN at the next tick, and its own
    # close() comes right after; with calls that take time (the lab's) the tick may be first
    prog = load(str(PROGRAMS / "fin-ack-tick.tcp"))
    ticked = ["client [F.] seq 1 ack 3", "server [.] seq 3 ack 2", "server [F.] seq 3 ack 2",
              "client [.] seq 2 ack 4"]
    free = explore(prog, REF, ticks=False)
    assert ticked not in [x[-4:] for x in exchanges(free)]
    lab = explore(prog, REF)
    i = [x[-4:] for x in exchanges(lab)].index(ticked)
    assert how(lab, i) == ("when the delack timer of server.c, due within a jiffy, fires before "
                           "server's close() (line 14)")
    assert {o.signature for o in free.outcomes} < {o.signature for o in lab.outcomes}


def test_delayed_segments_due_together_may_arrive_around_a_call_when_calls_take_time():
    # both SYN-ACKs are held 20 ms and due at once; a's connect() returns on the first, and
    # in the lab (calls that take time) a's send() may run before the second arrives
    prog = load("simultaneous-open")
    data_first = ["a [.] seq 1 ack 1", "a [P.] seq 1 ack 1 len 6", "b [.] seq 1 ack 1"]
    free = explore(prog, REF, ticks=False)
    assert all(x[4:7] != data_first for x in exchanges(free))
    lab = explore(prog, REF)
    i = [x[4:7] for x in exchanges(lab)].index(data_first)
    assert how(lab, i).startswith("when a's send() (line 14) runs before the delayed [S.] a.s > "
                                  "b.t arrives (due at the same moment as the segment before it)")
    assert {o.signature for o in free.outcomes} < {o.signature for o in lab.outcomes}


def test_a_single_process_races_only_with_the_kernels_clock():
    prog = load(str(PROGRAMS / "one-process-tick.tcp"))
    assert not races(prog, REF, ticks=False)
    assert races(prog, REF)


def test_programs_that_race_are_told_from_those_that_do_not():
    assert races(load("handshake"), REF)
    assert races(load("iterative-server"), REF)
    for name in ("connect-refused", "self-connect", "syn-timeout", "simultaneous-close"):
        assert not races(load(name), REF), name


def test_an_exchange_outside_the_set_gets_the_nearest_and_its_first_difference(seed):
    sig = seed.outcomes[0].signature
    (conn, segs), = sig[0]
    changed = ((conn, segs[:-1] + (("server", "R", 21, None, 0),)),)
    j, diff = nearest_outcome(seed, (changed,) + sig[1:])
    assert j == 0
    assert diff == ("segment 8 of client - server: server [.] seq 21 ack 2 in the model but "
                    "server [R] seq 21 on the kernel")
    # the client's close() has not returned: named by its process, call and line
    assert first_difference(sig, sig[:1] + (sig[1][:-1],) + sig[2:], steps=seed.steps) == (
        "client's close() (line 17) returns 0 in the model but nothing yet (it blocks) on the "
        "kernel")


def test_explore_cli_shows_counts_each_exchange_and_json():
    r = run_cli("explore", "handshake", check=True)
    assert "schedules explored (of 330 interleavings of the lines), 8 distinct exchange(s)" in r.stdout
    assert r.stdout.count("Exchange ") == 8
    assert "server hangs in line 10" in r.stdout
    data = json.loads(run_cli("explore", "handshake", "--json", check=True).stdout)
    assert len(data["outcomes"]) == 8 and data["interleavings"] == 330 and data["complete"]
    zh = run_cli("explore", "handshake", "--lang", "zh", check=True).stdout
    assert "种不同的交互" in zh


def test_run_says_when_there_is_more_than_one_exchange():
    assert "tcpsim explore handshake" in run_cli("run", "handshake", check=True).stdout
    assert "tcpsim explore" not in run_cli("run", "connect-refused", check=True).stdout


def test_scenarios_labels_the_programs_that_race():
    lines = {ln.split()[0]: ln for ln in run_cli("scenarios", check=True).stdout.splitlines()
             if ln and not ln.startswith(" ")}
    assert " races " in lines["handshake"]
    assert " races " not in lines["connect-refused"]


def test_explore_a_missing_program_says_so():
    r = run_cli("explore", "no-such-program")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no program named 'no-such-program'" in r.stderr


@pytest.mark.skipif(lab_unavailable() is not None, reason=str(lab_unavailable()))
def test_fifty_free_runs_of_the_seed_program_all_land_in_the_explored_set(seed):
    from tcpsim.lab.free import run_free

    known = {o.signature: i for i, o in enumerate(seed.outcomes)}
    seen, outside = Counter(), []
    prog = load("handshake")
    for _ in range(50):
        run = run_free(prog, timeout=1.0)
        seen[known.get(run.signature)] += 1
        if run.signature not in known:
            outside.append(nearest_outcome(seed, run.signature))
    print("free runs of the seed program, by exchange:", dict(seen))
    assert not outside, outside
    assert len(seen) >= 2  # processes started at once do race


@pytest.mark.skipif(lab_unavailable() is not None, reason=str(lab_unavailable()))
def test_lab_free_cli_reports_the_distribution():
    r = run_cli("lab", "--free", "handshake", "--runs", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Every one of the 3 runs is in the explored set" in r.stdout


def test_an_epoll_call_depends_on_the_sockets_its_epoll_watches():
    """epoll_wait() observes every socket its epoll watches (and takes their wakeups): it
    does not commute with a call on one of them.  Before, its footprint was empty and the
    walk took the client's send() and the server's epoll_wait() for independent, and never
    ran the file order of epoll-edge (epoll_wait after the data: 1, not 0)."""
    from tcpsim.sim.explore import footprint, independent
    from tcpsim.sim.runner import Runner
    from tcpsim.sim.world import SimWorld

    prog = load("epoll-edge")
    r = Runner(prog, SimWorld(REF), "model")
    r.start()
    wait = next(s for s in prog.steps if s.call == "epoll_wait")
    send = next(s for s in prog.steps if s.call == "send")
    while r.sched.next_step() is not wait:
        r.begin(r.ready()[0])
    assert not independent(footprint(r, wait), footprint(r, send))
    exp = explore(prog, REF)
    assert exp.complete
    assert signature(run_model(prog, REF)) in [o.signature for o in exp.outcomes]


def test_a_branch_a_sibling_covers_is_no_outcome(monkeypatch):
    """options() answers None where a call that must run alone is asleep (a sibling branch
    covers the rest of this one): the run stopped half way is not an exchange.  Session 16's
    walk recorded it as one: epoll-edge's 12 exchanges "the old walk missed" were such runs."""
    from tcpsim.sim.explore import Exploration, _Explorer

    ex = _Explorer(load("handshake"), REF, 0, 10.0, 100, 0.1, True)
    r, result = ex.new_runner(), Exploration("handshake")
    monkeypatch.setattr(ex, "options", lambda r, sleep=None: None)
    assert ex.next_choice(r, result, {}, [], {}) is None
    assert result.outcomes == [] and result.schedules == 0


def test_groups_that_can_no_longer_meet_combine_into_the_plain_walks_exchanges():
    """explore(groups=True): where the processes split into groups whose futures never meet
    (two copies of the seed program on two ports), each group's choices are walked on their
    own and the outcomes' parts combined, each new combination replayed and checked; one
    whose replay comes out otherwise (a hang in one group ends the run 10 s later, and the
    other group's sockets are seen later: TIME_WAIT, then CLOSE) sends the walk back to the
    plain way from there.  The set is the plain walk's, every outcome a run that ended or
    hangs."""
    from tcpsim.scenario.parser import parse

    seed_lines = [ln for ln in load("handshake").text.splitlines() if ln and ln[0] != "#"]
    text = "".join(ln.replace("server", f"server{i}").replace("client", f"client{i}")
                   .replace("8080", str(8080 + i)) + "\n" for i in (1, 2) for ln in seed_lines)
    prog = parse(text, name="two-seeds")
    grouped = explore(prog, REF, groups=True)
    plain = explore(prog, REF)
    assert grouped.complete and plain.complete
    assert grouped.grouped >= 1 and grouped.unmatched >= 1
    assert {o.signature for o in grouped.outcomes} == {o.signature for o in plain.outcomes}
    assert len(plain.outcomes) == 64  # the seed's 8 exchanges on each port
    every = {s.index for s in prog.steps}
    for o in grouped.outcomes:
        assert o.hangs or {c[0] for c in o.signature[1]} == every
        assert signature(o.trace, o.hangs) == o.signature  # each one's trace is its own


# schedules walked by the tests that check every choice point: concurrent-server's states
# merge since session 18 (fingerprint()'s clocks), and its first 300 schedules are thousands
# of choice points (about 3 minutes on the loaded machine); 20 are some hundreds
WALKED = {"concurrent-server": 20}


@pytest.mark.parametrize("name", ["handshake", "simultaneous-open", "epoll-edge",
                                  "request-response", "concurrent-server"])
def test_the_one_pass_signature_is_the_plain_one_at_every_choice_point(name, monkeypatch):
    """signature() (one pass over the events, at every choice point of a walk) gives what it
    gave written with the trace's views (_signature_plain(): relative(), calls,
    observed_states), on every trace a walk meets, whole or half-way."""
    from tcpsim.sim import explore as ex

    seen = []

    def both(trace, hangs=()):
        one = fast(trace, hangs)
        assert one == ex._signature_plain(trace, hangs)
        seen.append(one)
        return one

    fast = ex.signature
    monkeypatch.setattr(ex, "signature", both)
    explore(load(name), REF, limit=WALKED.get(name, 300))
    assert len(seen) > 10


@pytest.mark.parametrize("name", ["handshake", "epoll-edge", "request-response",
                                  "concurrent-server", "fin-wait1-linger"])
def test_the_exchange_so_far_kept_from_one_choice_point_to_the_next_is_the_whole_pass(
        name, monkeypatch):
    """The walk's exchange so far (_Explorer.so_far(): signature()'s pass kept with the run,
    copied with its snapshots, going on from the last choice point) is signature() of the
    trace as it stands, at every choice point a walk meets."""
    from tcpsim.sim import explore as ex

    seen = []
    kept = ex._Explorer.so_far

    def both(r):
        one = kept(r)
        assert one == ex.signature(r.trace)
        seen.append(one)
        return one

    monkeypatch.setattr(ex._Explorer, "so_far", staticmethod(both))
    explore(load(name), REF, limit=WALKED.get(name, 300))
    assert len(seen) > 10
    assert len(set(seen)) > 5  # (the runs moved on between them)


def _two_seeds():
    from tcpsim.scenario.parser import parse

    seed_lines = [ln for ln in load("handshake").text.splitlines() if ln and ln[0] != "#"]
    return parse("".join(ln.replace("server", f"server{i}").replace("client", f"client{i}")
                         .replace("8080", str(8080 + i)) + "\n"
                         for i in (1, 2) for ln in seed_lines), name="two-seeds")


def test_two_orders_of_calls_on_two_connections_leave_one_state_though_their_clocks_differ():
    """fingerprint() takes a socket's times of its last transmit, ACK and measure (lsndtime,
    rcv_tstamp, wstamp, rcv_rtt_time, rack_mstamp) in jiffies from now, as lrcvtime: two
    orders of independent calls leave them microseconds apart (loopback latency), which made
    nearly every state of concurrent-server a new one.  tcp_tso_should_defer()'s "sent more
    than 1 ms ago" is kept as it is."""
    from tcpsim.sim import explore as ex

    e = ex._Explorer(_two_seeds(), REF, 0, 10.0, 100, 0.1, True)
    r = e.new_runner()
    for _ in range(3):  # server1 sends its greeting while client2 can connect
        e.take(r, e.options(r)[0])
    opts = e.options(r)
    send = next(o for o in opts if o.kind == "call" and o.steps[0].call == "send")
    conn = next(o for o in opts if o.kind == "call" and o.steps[0].call == "connect")
    assert ex.independent(e.footprint(r, send), e.footprint(r, conn))
    one, two = e.snapshot(r), e.snapshot(r)
    e.take(one, send)
    e.take(one, conn)
    e.take(two, conn)
    e.take(two, send)

    def clocks(x):
        return sorted((sk.lsndtime, sk.wstamp, sk.rcv_tstamp, sk.rcv_rtt_time, sk.rack_mstamp)
                      for sk in x.world.kernel.socks.values())

    assert clocks(one) != clocks(two)  # microseconds apart
    assert ex.fingerprint(one) == ex.fingerprint(two)
    assert e.so_far(one) == e.so_far(two)
    sk = max(one.world.kernel.socks.values(), key=lambda sk: sk.wstamp)
    now = one.world.kernel.now
    sk.wstamp = now - 0.0005
    recent = ex.fingerprint(one)
    sk.wstamp = now - 0.0015  # the same jiffy from now, but past tcp_tso_should_defer()'s 1 ms
    assert ex.fingerprint(one) != recent


def test_closing_a_shared_copy_of_a_listener_touches_only_the_count_of_its_descriptors():
    """concurrent-server: child1's close(s) drops one of the listener's descriptors (fput()):
    it commutes with the server's accept() on it, not with another holder's close(s), which
    it may make the last one (inet_csk_listen_stop())."""
    from tcpsim.sim import explore as ex

    prog = load("concurrent-server")
    e = ex._Explorer(prog, REF, 0, 10.0, 100, 0.1, True)
    r = e.new_runner()
    opts = e.options(r)
    while not any(o.steps[0].process == "child1" for o in opts):
        e.take(r, opts[0])
        opts = e.options(r)
    child_close = next(s for s in prog.steps if s.process == "child1" and s.call == "close")
    accept = next(s for s in prog.steps if s.process == "server" and s.call == "accept"
                  and not r.sched.started[s.index])
    last = [s for s in prog.steps if s.process == "server"][-1]
    assert last.call == "close" and last.args[0] == "s" and child_close.args[0] == "s"
    assert ex.footprint(r, child_close) == {("file", "server.s")}
    assert ex.independent(ex.footprint(r, child_close), ex.footprint(r, accept))
    assert not ex.independent(ex.footprint(r, child_close), ex.footprint(r, last))


# -- progress on a terminal (issue 21) ---------------------------------------------------------
def test_a_walk_reports_its_progress_as_it_goes(monkeypatch):
    """explore(progress=...) is told (schedules walked, exchanges found) every PROGRESS_EVERY
    seconds: counts that only grow, and never past the walk's own totals."""
    from tcpsim.sim import explore as ex

    monkeypatch.setattr(ex, "PROGRESS_EVERY", 0.0)
    told = []
    exp = explore(load("handshake"), KernelProfile.named("reference"),
                  progress=lambda n, k: told.append((n, k)))
    assert len(told) > 10
    assert told == sorted(told) and told[-1][0] <= exp.schedules
    assert told[-1][1] <= len(exp.outcomes)


def test_explore_shows_progress_on_a_terminal_and_nothing_elsewhere(monkeypatch):
    import io

    from rich.console import Console

    from tcpsim import cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "_err", Console(file=buf, force_terminal=True, width=100))
    with cli._walk_progress("seed") as progress:
        progress(12, 3)
    assert "exploring seed: 12 schedules walked, 3 exchanges so far" in buf.getvalue()
    monkeypatch.setattr(cli, "_err", Console(file=io.StringIO(), force_terminal=False))
    with cli._walk_progress("seed") as progress:
        assert progress is None  # a pipe or a file: nothing drawn


def _many_clients(clients: int) -> str:
    """One server and `clients` clients, each connect/send/recv/close (scripts/bench_sim.py's
    big program, smaller)."""
    lines = ["server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0",
             f"server: listen(s, {clients + 1}) = 0"]
    lines += [f"c{i}: fd = socket()\nc{i}: connect(fd, 127.0.0.1:8080) = 0"
              for i in range(1, clients + 1)]
    lines += [f"server: a{i} = accept(s)" for i in range(1, clients + 1)]
    for i in range(1, clients + 1):
        lines += [f'c{i}: send(fd, "ping") = 4', f"server: recv(a{i}, 100) = 4",
                  f'server: send(a{i}, "pong") = 4', f"c{i}: recv(fd, 100) = 4",
                  f"c{i}: close(fd) = 0", f"server: recv(a{i}, 100) = 0",
                  f"server: close(a{i}) = 0"]
    return "\n".join(lines + ["server: close(s) = 0"]) + "\n"


def test_the_race_check_says_when_its_budget_ran_out():
    """A walk copies the whole run at each choice: for a program of many processes the
    question "is there another exchange?" stays open past the budget, and says so (None),
    never "no"; a small program still gets its answer within it."""
    from tcpsim.scenario import parse

    big = parse(_many_clients(60), name="many-clients")
    assert races(big, REF, budget=0.2) is None
    assert races(load("handshake"), REF, budget=5.0) is True
    assert races(load("connect-refused"), REF, budget=5.0) is False


def test_run_of_a_large_program_names_explore_when_the_race_check_is_open(tmp_path):
    prog = tmp_path / "many.tcp"
    prog.write_text(_many_clients(300))
    out = run_cli("run", prog, "--no-ladder", check=True).stdout
    assert "was not settled in 3 s" in out and f"tcpsim explore {prog} walks them" in out
