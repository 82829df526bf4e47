"""Races inside the kernel (docs/races.md): decisions on microseconds the model does not keep,
taken the model's way unless a run being verified shows the other way."""

from tcpsim.compare.against import hold_capture, hold_lab
from tcpsim.model import KernelProfile
from tcpsim.pcap.reader import read_packets
from tcpsim.scenario import load
from tcpsim.sim.world import SimWorld, run_model
from tcpsim.trace import Trace

from .conftest import CAPTURES

CAPTURE = "transfer-100k@mtu1500"  # the kernel's run, recorded by scripts/record_captures.py


def _profile():
    return KernelProfile.from_trace(Trace.load(CAPTURES / f"{CAPTURE}.json"))


def _data(trace):
    return [s.length for s in trace.segments if s.length]


def test_the_model_defers_at_the_race_and_the_flip_sends_the_rest_of_the_window_at_once():
    prog, profile = load("transfer-100k"), _profile()
    world = SimWorld(profile, 0, prog.faults)
    model = run_model(prog, profile, world=world)
    first = world.kernel.races[0]
    # after the ACK of the first 7240 bytes (cwnd 15, 5 packets out): 7 MSS, then 3 more
    # would go; the model waits for the next ACK and sends 10 MSS after it
    assert (first.kind, first.segment, first.flipped) == ("tso_defer", 9, False)
    assert _data(model) == [7240, 7240, 10136, 14480, 7240, 30408, 23256]
    flipped = run_model(prog, profile, flips={0})
    assert _data(flipped) == [7240, 7240, 10136, 4344, 14480, 2896, 30408, 23256]


def test_the_kernels_capture_matches_once_the_race_goes_its_way():
    held = hold_capture(read_packets(CAPTURES / f"{CAPTURE}.pcap", True), load("transfer-100k"),
                        _profile())
    assert [d.sentence for d in held.differences] == []
    assert [(r.kind, r.segment + 1, r.flipped) for r in held.races] == [("tso_defer", 10, True)]


def test_a_run_the_model_produces_by_itself_needs_no_race():
    prog, profile = load("transfer-100k"), _profile()
    held = hold_lab(run_model(prog, profile), prog, profile)
    assert held.ok and held.races == []


def test_a_run_that_took_the_race_the_other_way_is_matched_and_named():
    prog, profile = load("transfer-100k"), _profile()
    other = run_model(prog, profile, flips={0})  # a kernel that sent at once
    held = hold_lab(other, prog, profile)
    assert held.ok and [r.segment + 1 for r in held.races] == [10]


def test_an_idle_sender_never_defers():
    """tcp_tso_should_defer(): a last transmit over 1 ms old sends at once (Sock.wstamp),
    without a race: deferring is for a burst."""
    prog = load("transfer-100k")
    world = SimWorld(_profile(), 0, prog.faults)
    run_model(prog, _profile(), world=world)
    k = world.kernel
    sk = next(s for s in k.socks.values() if s.wstamp)
    # the race's state: cwnd 15 with 12 packets out (3 MSS of room), a wide peer window
    sk.snd_cwnd, sk.packets_out, sk.snd_wnd = 15, 12, 200_000
    sk.snd_una = sk.snd_nxt
    races = len(k.races)
    k.now = sk.wstamp + 0.0009
    assert k._tso_should_defer(sk, 10 * sk.mss_cache, True, 45) == "cwnd"
    assert len(k.races) == races + 1  # within the millisecond: the race, the model's way
    k.now = sk.wstamp + 0.0011
    assert k._tso_should_defer(sk, 10 * sk.mss_cache, True, 45) is False
    assert len(k.races) == races + 1  # past it: decided by the clock, no race
