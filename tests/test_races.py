"""Races inside the kernel (docs/races.md): decisions on microseconds the model does not keep,
taken the model's way unless a run being verified shows the other way."""

from pathlib import Path

import tcpsim
from tcpsim.compare.against import hold_capture, hold_lab
from tcpsim.model import KernelProfile
from tcpsim.pcap.reader import read_packets
from tcpsim.scenario import load, parse
from tcpsim.sim.world import SimWorld, run_model
from tcpsim.trace import Trace

from .conftest import CAPTURES

PROGRAMS_DIR = Path(tcpsim.__file__).parent / "scenario" / "programs"
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


# -- drs: tcp_rcv_space_adjust()'s gate -------------------------------------------------------

def _tiny():
    prog = load("tiny-sndbuf")
    return prog, KernelProfile.from_trace(Trace.load(CAPTURES / "tiny-sndbuf.json"))


def _last_window(trace):
    """The receiver's window on its ACK of all 100,000 bytes (x1024): the segment after the
    last data."""
    segs = trace.segments
    return next(segs[i + 1].win for i, s in enumerate(segs) if s.length == 19643)


def test_the_receive_buffer_gate_is_a_race_at_each_read_and_the_flip_grows_the_buffer():
    """tiny-sndbuf's first read copies 80357 bytes before the receiver has an RTT estimate
    (tcp_rcv_space_adjust() returns); the kernel's, when its millisecond clock ticked between
    its SYN-ACK's TS val and the data echoing it, was 1000 us, and the 1.0-1.4 ms since the
    handshake passed it: 80357 > 65483 grows the buffer, window 209 instead of 106."""
    prog, profile = _tiny()
    world = SimWorld(profile, 0, prog.faults)
    model = run_model(prog, profile, world=world)
    assert [(r.kind, r.segment + 1, r.flipped) for r in world.kernel.races] == [
        ("drs", 7, False), ("drs", 10, False)]  # the two reads, each after its data
    assert _last_window(model) == 106
    world = SimWorld(profile, 0, prog.faults)
    flipped = run_model(prog, profile, world=world, flips={0})
    # grown at the first read (rcvq_space.space 80357), the second read's 19643 decide nothing
    assert [(r.kind, r.segment + 1, r.flipped) for r in world.kernel.races] == [("drs", 7, True)]
    assert _last_window(flipped) == 209
    # the second read's gate (100000 bytes since the handshake, the RTT 40 us) is passed by the
    # model, the buffer grows; the other way changes nothing on the wire here (the window of
    # the last ACKs is held by rcv_ssthresh, not the buffer)
    assert _last_window(run_model(prog, profile, flips={1})) == 106


def test_the_kernels_capture_needs_no_drs_flip_and_a_grown_run_is_matched_and_named():
    prog, profile = _tiny()
    kernel = Trace.load(CAPTURES / "tiny-sndbuf.json")
    held = hold_lab(kernel, prog, profile)
    assert held.ok and held.races == []
    other = run_model(prog, profile, flips={0})  # a kernel whose buffer grew at the first read
    held = hold_lab(other, prog, profile)
    assert held.ok and [(r.kind, r.segment + 1) for r in held.races] == [("drs", 7)]


def test_the_gate_is_a_race_only_on_microseconds_and_where_the_buffer_can_grow():
    _, profile = _tiny()
    text = (PROGRAMS_DIR / "tiny-sndbuf.tcp").read_text()
    prog = parse(text[:text.index("client: close")])  # the sockets stay open after the reads
    world = SimWorld(profile, 0, prog.faults)
    run_model(prog, profile, world=world)
    k = world.kernel
    sk = next(s for s in k.socks.values() if s.rcvq_space and s.rcv_rtt_us)
    seq, races = sk.rcvq_space_seq, len(k.races)

    def gate(elapsed: float, rtt_us: int, read: int = 1000) -> int:
        """The gate with `read` bytes read since the last measure (rcvq_space.space 500):
        how many races it recorded."""
        sk.rcvq_space, sk.rcvq_space_seq, sk.rcv_rtt_us = 500, (seq - read) & 0xFFFFFFFF, rtt_us << 3
        before = len(k.races)
        k._rcv_space_adjust(sk, sk.rcvq_space_time + elapsed)
        assert all(r.kind == "drs" for r in k.races[before:])
        return len(k.races) - before

    assert gate(0.000030, 40) == 1  # 30 us against 40: a race
    assert gate(0.000050, 40) == 1  # 50 us against 40: a race too
    assert gate(0.002, 40) == 0  # 2 ms against 40 us: decided
    assert gate(0.000030, 0) == 1  # no estimate yet: the kernel's may be a 1000 us TS sample
    assert gate(0.002, 0) == 0  # ... but 2 ms on: the model's own time
    assert gate(0.000030, 5000) == 0  # a 5 ms RTT (a delayed path): the model's times decide
    assert gate(0.000030, 40, read=400) == 0  # fewer bytes than last time: nothing to grow
    sk.rcvbuf = 65536  # SO_RCVBUF: either way grows nothing
    assert gate(0.000030, 40) == 0
    assert len(k.races) == races + 3
