"""The model against the real kernel: the reference captures offline, the lab live."""

import pytest

from tcpsim.compare.against import hold_lab
from tcpsim.lab import run_lab
from tcpsim.model import KernelProfile
from tcpsim.scenario import builtin_names, load, parse
from tcpsim.sim.world import run_model
from tcpsim.trace import Trace
from tcpsim.trace.diff import compare

from .conftest import CAPTURES, PROGRAMS, lab_unavailable

CAPTURED = sorted(p.stem for p in CAPTURES.glob("*.json"))


@pytest.mark.parametrize("name", CAPTURED)
def test_model_matches_the_reference_capture_field_for_field(name):
    # the file order's run, with any race (docs/races.md) taken the way the capture shows
    kernel = Trace.load(CAPTURES / f"{name}.json")
    held = hold_lab(kernel, parse(kernel.program_text, name=name), KernelProfile.from_trace(kernel))
    assert [d.sentence for d in held.differences] == [] and held.outcome is None
    assert all(r.kind == "tso_defer" for r in held.races)


def test_tcpsim_run_handshake_is_the_captured_exchange():
    """What `tcpsim run handshake` shows (built-in reference profile) is the captured exchange."""
    kernel = Trace.load(CAPTURES / "handshake.json")
    model = run_model(load("handshake"), KernelProfile.builtin("reference"))
    assert compare(model, kernel) == []
    assert len(model.segments) == 8 and model.segments[3].payload == b"Hello from server!\n"


def test_a_wrong_profile_makes_the_comparison_fail_with_reasons():
    kernel = Trace.load(CAPTURES / "handshake.json")
    model = run_model(load("handshake"), KernelProfile.builtin("tun-1500"))
    diffs = compare(model, kernel)
    assert diffs[0].sentence == (
        "segment 1 ([S] client > server seq 0): win is 64240 in the model but 65495 on the kernel; "
        "options is <mss 1460,sackOK,TS,nop,wscale 10> in the model but "
        "<mss 65495,sackOK,TS,nop,wscale 10> on the kernel")


def test_an_edited_capture_is_caught_at_the_right_place():
    kernel = Trace.load(CAPTURES / "teardown-four-segment.json")
    model = run_model(parse(kernel.program_text), KernelProfile.from_trace(kernel))
    late = kernel.segments[8]  # the delayed ACK of the client's FIN
    late.t -= 0.035  # as if it came at once
    for seg in kernel.segments[9:]:
        seg.t -= 0.035
    diffs = compare(model, kernel)
    assert [d.kind for d in diffs] == ["timing"]
    assert diffs[0].index == 9 and "in the model but" in diffs[0].sentence


def test_timing_is_compared_within_how_late_the_labs_delay_line_was():
    kernel = Trace.load(CAPTURES / "simultaneous-close.json")
    model = run_model(parse(kernel.program_text), KernelProfile.from_trace(kernel))
    for seg in kernel.segments[-4:]:  # as if a held segment had been let go 25 ms late
        seg.t += 0.025
    assert [d.kind for d in compare(model, kernel)] == ["timing"]
    kernel.late = 0.025  # the lab measured its own lateness: not the kernel's
    assert compare(model, kernel) == []
    assert Trace.from_dict(kernel.to_dict()).late == 0.025


def test_the_model_is_deterministic_for_a_seed():
    prog, prof = load("handshake"), KernelProfile.builtin("reference")
    a, b = run_model(prog, prof, seed=7), run_model(prog, prof, seed=7)
    assert a.to_dict() == b.to_dict()
    c = run_model(prog, prof, seed=8)
    assert [s.seq for s in c.segments] != [s.seq for s in a.segments]


@pytest.fixture
def live():
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")


RACE_FREE = ["linger-reset", "misuse", "nonblocking-connect", "recv-after-refused", "reuseaddr",
             "shutdown", "simultaneous-open"]


@pytest.mark.parametrize("name", builtin_names())
def test_verify_builtin_programs_live(live, name):
    # the file order's exchange field for field, or another of the set the lab's timing opens
    # (a tick, two delayed segments around a call: docs/concurrency.md), as `verify` holds it
    prog = load(name)
    kernel = run_lab(prog)
    held = hold_lab(kernel, prog, KernelProfile.from_trace(kernel), limit=20_000)
    assert held.ok, [held.first_difference] + [d.sentence for d in held.differences]


# At MTU 1500 the six send-buffer built-ins (transfer-100k, transfer-window-plus-one,
# send-blocks, nonblocking-send-eagain, tiny-sndbuf, notsent-lowat) match once
# tcp_tso_should_defer()'s races go the kernel's way (docs/races.md: after a blocked writer's
# backlog the kernel sends the window's last 3 MSS at once, 4344 bytes, every run).  So do
# the zero-window built-ins locked-rcvbuf and slow-reader (session 13, helper ack): the
# receiver answers a tail loss probe's duplicate with its pending delayed ACK (old data goes
# through __tcp_ack_snd_check(), whose __tcp_select_window() ends quick-ACK mode in a half-full
# buffer), echoing the original's timestamp (tcp_replace_ts_recent(): seq <= rcv_wup), and a
# window reopened after an idle RTO restarts the writer's cwnd (tcp_ack_update_window() ->
# tcp_slow_start_after_idle_check()).  So do, since session 14 (helper mtu), the last three:
# partial-window-probe (the segments the receiver's deferred ACK lets in arrive after
# release_sock() and are no part of sk_backlog.len: Kernel._release()), transfer-both-ways
# (the writer's data that an arriving segment's ACK lets out goes after that segment's data is
# queued, tcp_data_snd_check(), acknowledging it: TcpInput._data_snd_check()) and
# lost-write-rto (the RTO's burst, 988 bytes, their ACK, 1976 bytes, all before the lab's
# capture reads: the capture's clone keeps the first skb cloned, so the second is not
# coalesced into it, window 67 x 1024: TcpInput._queue_rcv_skb()).
# (transfer-1m, the other session-12 transfer, matches at 1500 with five tso_defer races.)
SNDBUF_BOUND_AT_1500: set[str] = set()


@pytest.mark.parametrize("name", [n for n in builtin_names() if n not in SNDBUF_BOUND_AT_1500])
def test_verify_builtin_programs_live_at_mtu_1500(live, name):
    """Every built-in at lo's MTU 1500 (MSS 1448: GSO packets, the congestion window), as
    `verify --all --mtu 1500` holds it."""
    prog = load(name)
    kernel = run_lab(prog, mtu=1500)
    assert kernel.kernel["lo_mtu"] == 1500
    held = hold_lab(kernel, prog, KernelProfile.from_trace(kernel), limit=20_000)
    assert held.ok, [held.first_difference] + [d.sentence for d in held.differences]


@pytest.mark.parametrize("name", RACE_FREE)
def test_verify_test_programs_live(live, name):
    prog = load(str(PROGRAMS / f"{name}.tcp"))
    kernel = run_lab(prog)
    model = run_model(prog, KernelProfile.from_trace(kernel))
    assert [d.sentence for d in compare(model, kernel)] == []


SWITCHES = ["net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_sack=0", "net.ipv4.tcp_window_scaling=0"]


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("name", ["handshake", "request-response", "self-connect", "half-close"])
def test_profile_switches_agree_with_the_kernel_set_the_same_way(live, name, switch):
    key, value = switch.split("=")
    prog = load(name)
    kernel = run_lab(prog, sysctls={key: value})
    assert kernel.sysctls[key] == value  # the lab set it in its namespace
    model = run_model(prog, KernelProfile.from_trace(kernel))
    assert [d.sentence for d in compare(model, kernel)] == []


@pytest.mark.parametrize("switch, syn_options", [
    ({}, ["mss", "sackOK", "TS", "nop", "wscale"]),
    ({"net.ipv4.tcp_timestamps": "0"}, ["mss", "nop", "nop", "sackOK", "nop", "wscale"]),
    ({"net.ipv4.tcp_sack": "0"}, ["mss", "nop", "nop", "TS", "nop", "wscale"]),
    ({"net.ipv4.tcp_window_scaling": "0"}, ["mss", "sackOK", "TS"]),
    ({"net.ipv4.tcp_timestamps": "0", "net.ipv4.tcp_sack": "0"}, ["mss", "nop", "wscale"]),
])
def test_profile_switches_change_the_syn_options_as_tcp_options_write_does(switch, syn_options):
    profile = KernelProfile.builtin("reference").with_sysctls(switch)
    syn = run_model(load("handshake"), profile).segments[0]
    assert [name for name, _ in syn.options] == syn_options
