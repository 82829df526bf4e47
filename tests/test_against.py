"""A run held against every exchange of its program: `compare CAPTURE --program P` and
`verify P` accept any exchange the program can produce, name it, and give a run outside the
set its nearest exchange and the first place it departs.

The captures in captures/seed/ are the course's own C programs (scripts/seed/*.c) run on the
real kernel by scripts/record_seed_captures.py: one of each exchange the kernel showed."""

import json

import pytest

from tcpsim.compare.against import hold_capture, hold_lab
from tcpsim.model import KernelProfile
from tcpsim.pcap.reader import read_packets
from tcpsim.render.explore import how
from tcpsim.scenario import load
from tcpsim.sim.explore import explore, signature
from tcpsim.sim.world import run_model
from tcpsim.trace import Call, Trace
from tcpsim.trace.diff import compare

from .conftest import CAPTURES, PROGRAMS, run_cli

SEED = CAPTURES / "seed"
RACES = CAPTURES / "races"
REF = KernelProfile.named("reference")


def held(name: str, path=None):
    profile = KernelProfile.from_trace(Trace.load(SEED / f"{name}.json"))
    return hold_capture(read_packets(path or SEED / f"{name}.pcap", True), load("handshake"),
                        profile)


def edited(tmp_path, name: str, edit) -> str:
    """The capture with `edit` applied to its packets (scapy), checksums made right again."""
    import scapy.layers.inet  # noqa: F401 - the IP and TCP layers, for rdpcap to decode
    import scapy.layers.l2  # noqa: F401
    from scapy.utils import rdpcap, wrpcap

    packets = list(rdpcap(str(SEED / f"{name}.pcap")))
    packets = edit(packets)
    for p in packets:
        del p["IP"].chksum, p["TCP"].chksum
    path = tmp_path / f"edited-{name}.pcap"
    wrpcap(str(path), packets)
    return str(path)


# -- the seed's captures: each is one of the program's exchanges -----------------------------
def test_the_server_closing_first_is_the_file_order_exchange():
    h = held("server-closes-first")
    assert h.ok and h.outcome is None and h.exploration is None  # no walk was needed


@pytest.mark.parametrize("name, index, decision", [
    ("client-closes-first", 1,
     "when client's close() (line 17) runs before server's close() (line 12)"),
    ("fins-cross", 4,
     "when server's close() (line 12) and client's close() (line 17) run at the same time: each "
     "before the other's segment arrives (server sends first, client takes the other's segment "
     "in first)"),
    ("refused", 7, "when client's connect() (line 15) runs before server's listen() (line 9)"),
])
def test_each_other_capture_of_the_seed_is_named_with_its_ordering(name, index, decision):
    h = held(name)
    assert h.ok, [d.sentence for d in h.differences]
    assert (h.outcome, len(h.exploration.outcomes)) == (index, 8)
    assert how(h.exploration, h.outcome) == decision


def test_a_capture_missing_its_last_ack_is_outside_the_set_with_the_nearest_exchange(tmp_path):
    h = held("client-closes-first",
             edited(tmp_path, "client-closes-first", lambda packets: packets[:-1]))
    assert not h.ok and h.outcome is None and h.nearest == 1
    assert h.first_difference == ("segment 8 of client - server: client [.] seq 2 ack 21 in the "
                                  "model but nothing in the capture")
    assert [d.sentence for d in h.differences] == [
        "the model sends 1 more segment(s), first [.] client > server seq 2 (8 in the model, 7 in "
        "the capture)"]


def test_a_capture_of_an_exchange_of_the_set_with_a_wrong_field_differs_in_that_field(tmp_path):
    def smaller_window(packets):
        packets[5]["TCP"].window = 500  # the client's FIN
        return packets

    h = held("client-closes-first", edited(tmp_path, "client-closes-first", smaller_window))
    assert not h.ok and h.outcome == 1 and h.nearest is None
    assert [d.sentence for d in h.differences] == [
        "segment 6 ([F.] client > server seq 1): win is 64 in the model but 500 in the capture"]


# -- the command ------------------------------------------------------------------------------
def test_compare_names_the_exchange_a_capture_shows():
    r = run_cli("compare", SEED / "client-closes-first.pcap", "--program", "handshake")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("match handshake: the 8 segments of ")
    assert lines[0].endswith("are exchange 2 of the program's 8 (profile pcap:6.18.44-fc-v595)")
    assert lines[1] == "  when client's close() (line 17) runs before server's close() (line 12)"
    assert lines[2] == "Every exchange of the program: tcpsim explore handshake"


def test_compare_says_a_file_order_match_is_one_of_several():
    r = run_cli("compare", SEED / "server-closes-first.pcap", "--program", "handshake")
    assert r.returncode == 0
    assert r.stdout.splitlines()[1] == ("This is the file-order exchange; the program has others: "
                                        "tcpsim explore handshake")


def test_compare_outside_the_set_gives_the_nearest_and_exits_1(tmp_path):
    # the server's FIN taken out: the client's FIN comes first, as in exchange 2, but nothing
    # answers it
    path = edited(tmp_path, "fins-cross", lambda packets: packets[:5] + packets[6:])
    r = run_cli("compare", path, "--program", "handshake", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["match"] is False and doc["exchange"] is None and doc["exchanges"] == 8
    assert doc["nearest"]["index"] == 2
    assert doc["first_difference"] == ("segment 7 of client - server: server [F.] seq 20 ack 2 in "
                                       "the model but server [.] seq 21 ack 2 in the capture")
    zh = run_cli("compare", path, "--program", "handshake", "--lang", "zh")
    assert zh.returncode == 1
    assert "不是该程序 8 种交互中的任何一种；最接近的是第 2 种" in zh.stdout


def test_compare_json_names_the_exchange():
    r = run_cli("compare", SEED / "refused.pcap", "--program", "handshake", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["match"] is True and doc["complete"] is True
    assert doc["exchange"] == {"index": 8, "of": 8, "how": "when client's connect() (line 15) "
                               "runs before server's listen() (line 9)"}


# -- verify: the lab's run against the set ----------------------------------------------------
def test_a_run_showing_another_exchange_of_the_set_is_accepted_and_named():
    # the model's own trace of the other side of the delayed-ACK race stands in for the kernel
    prog = load(str(PROGRAMS / "delack-race.tcp"))
    exp = explore(prog, REF)
    other = next(i for i, o in enumerate(exp.outcomes) if i and not o.hangs)
    kernel = exp.outcomes[other].trace
    assert compare(run_model(prog, REF), kernel)  # not the file order's exchange
    h = hold_lab(kernel, prog, REF)
    assert h.ok and h.outcome == other


def test_verify_knows_a_timer_may_fire_between_the_labs_calls():
    # the lab's calls take a millisecond each: the ACK due at the next tick may come first
    prog = load(str(PROGRAMS / "fin-ack-tick.tcp"))
    exp = explore(prog, REF)
    tick = next(i for i, o in enumerate(exp.outcomes) if "tick" in {c.kind for c, _ in o.path}
                and o.path[-1][0].first == "timer")
    h = hold_lab(exp.outcomes[tick].trace, prog, REF)
    assert h.ok and h.outcome == tick


@pytest.mark.parametrize("name, program, race", [
    ("simultaneous-open-data-first", "simultaneous-open", ("arrival", "call")),
    ("fin-ack-tick-timer-first", str(PROGRAMS / "fin-ack-tick.tcp"), ("tick", "timer")),
    # the seed program's processes running free (lab --free) on a busy machine
    ("handshake-free-ack-at-tick", "handshake", ("tick", "timer")),
])
def test_the_kernel_takes_the_side_of_a_race_the_models_own_order_does_not(name, program, race):
    # recorded by scripts/record_race_captures.py: runs under load
    kernel = Trace.load(RACES / f"{name}.json")
    prog = load(program)
    assert compare(run_model(prog, REF), kernel)  # not the file order's exchange
    h = hold_lab(kernel, prog, REF)
    assert h.ok and h.outcome
    assert race in {(c.kind, c.first) for c, _ in h.exploration.outcomes[h.outcome].path}


def test_the_seeds_eighth_exchange_is_the_servers_close_a_tick_late():
    pcap = RACES / "handshake-free-ack-at-tick.pcap"
    r = run_cli("compare", pcap, "--program", "handshake")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[:2] == [
        f"match handshake: the 9 segments of {pcap} are exchange 3 of the program's 8 "
        "(profile lab:6.18.44-fc-v595)",
        "  when client's close() (line 17) runs before server's close() (line 12); when the "
        "delack timer of server.c, due within a jiffy, fires before server's close() (line 12)"]
    without = explore(load("handshake"), REF, ticks=False)  # calls that never run late
    assert signature(Trace.load(RACES / "handshake-free-ack-at-tick.json")) not in {
        o.signature for o in without.outcomes}


def test_compare_names_the_race_against_the_clock_a_capture_shows():
    pcap = RACES / "simultaneous-open-data-first.pcap"
    r = run_cli("compare", pcap, "--program", "simultaneous-open")
    assert r.returncode == 0, r.stdout
    # 3 exchanges since session 13: a's ACK of b's FIN no longer races a's close() within a
    # jiffy (the SYN-ACK a takes as old data sets ato to 40 ms: tcp_enter_quickack_mode())
    assert r.stdout.startswith(f"match simultaneous-open: the 11 segments of {pcap} are "
                               "exchange 2 of the program's 3")
    assert ("when a's send() (line 14) runs before the delayed [S.] a.s > b.t arrives"
            in r.stdout)


def test_a_run_outside_the_set_is_held_against_the_nearest_exchange():
    prog = load("handshake")
    kernel = run_model(prog, REF)
    last = [e for e in kernel.events if hasattr(e, "flags")][-1]
    kernel.events.remove(last)  # the final ACK never came
    h = hold_lab(kernel, prog, REF)
    assert not h.ok and h.nearest == 0
    assert h.first_difference == ("segment 8 of client - server: server [.] seq 21 ack 2 in the "
                                  "model but nothing on the kernel")


def test_a_timer_and_a_call_within_a_jiffy_may_come_in_either_order():
    # the pause ends just before the delayed ACK on the kernel, just after it in the model:
    # counted from the segment before it, the ACK is on time
    prog = load(str(PROGRAMS / "delack-race.tcp"))
    model = run_model(prog, REF)
    kernel = Trace.from_dict(model.to_dict())
    ack = next(e for e in kernel.events if getattr(e, "flags", "") == "." and e.src.endswith(":8080")
               and e.t > 0.03)
    wake = next(e for e in kernel.events if isinstance(e, Call) and e.kind == "return"
                and e.text.startswith("sleep"))
    wake.t = ack.t - 0.0002
    kernel.events.sort(key=lambda e: e.t)
    assert compare(model, kernel) == []
    ack.t -= 0.035  # but an ACK 35 ms early is late neither way
    assert [d.kind for d in compare(model, kernel)] == ["timing"]


@pytest.mark.parametrize("name", ["delack-race", "fin-ack-tick", "one-process-tick"])
def test_verify_accepts_whichever_side_of_the_race_the_kernel_takes(live, name):
    for _ in range(3):
        r = run_cli("verify", PROGRAMS / f"{name}.tcp")
        assert r.returncode == 0, r.stdout
        assert r.stdout.startswith(f"match {name}: ")


def test_a_user_timeout_in_fin_wait1_verifies(live):
    """The built-in user-timeout-fin-wait1 (found by test_fuzz): TCP_USER_TIMEOUT ends
    a socket in FIN_WAIT1 with ETIMEDOUT (the table's retries_out there), and the RTO resends
    the lost data with the lost FIN collapsed into it (tcp_retrans_try_collapse(): FP.)."""
    r = run_cli("verify", "user-timeout-fin-wait1")
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("match user-timeout-fin-wait1: ")


def test_verify_points_to_the_other_exchanges_of_a_race_with_the_kernels_clock(live):
    r = run_cli("verify", PROGRAMS / "one-process-tick.tcp")
    assert r.returncode == 0, r.stdout
    assert f"tcpsim explore {PROGRAMS / 'one-process-tick.tcp'}" in r.stdout


def test_a_read_that_differs_shows_its_first_bytes_not_all_of_them():
    """A 100 KB read whose length differs: the sentence names the bytes' start and count."""
    prog = load("transfer-100k")
    model = run_model(prog, KernelProfile.builtin("reference"))
    kernel = run_model(prog, KernelProfile.builtin("reference"))
    read = next(c for c in kernel.calls if c.data and len(c.data) == 100000)
    read.data, read.result = read.data[:60000], 60000
    sentence = next(d.sentence for d in compare(model, kernel) if d.kind == "call")
    assert sentence.endswith("in the model but 60000 b'abcdefghijklmnopqrstuvwxyzabcdefghijklmn'... "
                             "(60000 bytes) on the kernel")
    assert len(sentence) < 300
