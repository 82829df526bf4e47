"""The Trace: decoding segments, relative numbers, JSON, and the reference captures."""

import json
import struct

import pytest

from tcpsim.lab.capture import PACKET_HOST, PACKET_OUTGOING, Dedupe, Frame
from tcpsim.pcap import read_pcap_frames
from tcpsim.pcap.io import with_tcp_checksum
from tcpsim.scenario import builtin_names
from tcpsim.trace import Trace, decode_frame

from .conftest import CAPTURES


def _frame(flags=0x02, seq=1000, ack=0, win=65495, options=b"", payload=b"", sport=40000,
           dport=8080) -> bytes:
    doff = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0) + options
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return b"\0" * 12 + b"\x08\x00" + ip + tcp + payload


SYN_OPTIONS = bytes.fromhex("0204ffd7" "0402" "080a00000064" "00000000" "01" "03030a")


def test_decode_a_syn_keeps_every_field_and_the_option_order():
    seg = decode_frame(_frame(options=SYN_OPTIONS), t=1.5)
    assert (seg.src, seg.dst, seg.flags, seg.seq, seg.ack, seg.win, seg.length) == \
        ("127.0.0.1:40000", "127.0.0.1:8080", "S", 1000, 0, 65495, 0)
    assert seg.options == [["mss", 65495], ["sackOK", None], ["TS", [100, 0]], ["nop", None],
                           ["wscale", 10]]
    assert (seg.ttl, seg.df, seg.t) == (64, True, 1.5)


def test_flags_read_as_tcpdump_prints_them():
    names = {0x12: "S.", 0x10: ".", 0x18: "P.", 0x11: "F.", 0x14: "R.", 0x04: "R", 0x19: "FP."}
    for bits, text in names.items():
        assert decode_frame(_frame(flags=bits)).flags == text


def test_non_tcp_and_truncated_frames_are_not_segments():
    assert decode_frame(b"\0" * 12 + b"\x08\x06" + b"\0" * 28) is None  # ARP
    assert decode_frame(_frame()[:30]) is None
    udp = bytearray(_frame())
    udp[14 + 9] = 17
    assert decode_frame(bytes(udp)) is None


def test_relative_numbers_per_direction():
    frames = [
        _frame(0x02, seq=1000),
        _frame(0x12, seq=5000, ack=1001, sport=8080, dport=40000),
        _frame(0x10, seq=1001, ack=5001),
        _frame(0x18, seq=5001, ack=1001, sport=8080, dport=40000, payload=b"x" * 19),
    ]
    trace = Trace(source="test", events=[decode_frame(f, t=i) for i, f in enumerate(frames)])
    rel = [(r.flags, r.seq, r.ack, r.end_seq) for r in trace.relative()]
    assert rel == [("S", 0, 0, 1), ("S.", 0, 1, 1), (".", 1, 1, 1), ("P.", 1, 1, 20)]


def test_relative_numbers_wrap_around_2_to_the_32():
    frames = [_frame(0x02, seq=2**32 - 1), _frame(0x10, seq=0, ack=7)]
    rel = Trace(source="test", events=[decode_frame(f) for f in frames]).relative()
    assert [r.seq for r in rel] == [0, 1]


def test_tcp_checksum_is_filled_for_pcap_output():
    frame = with_tcp_checksum(_frame(options=SYN_OPTIONS, payload=b"abc"))
    tcp = frame[34:]
    pseudo = frame[26:34] + struct.pack("!BBH", 0, 6, len(tcp))
    data = pseudo + tcp + b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data[: len(data) // 2 * 2]))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF  # a correct checksum makes the one's complement sum all ones


# -- capture dedupe ------------------------------------------------------------------------

def test_dedupe_keeps_the_outgoing_copy_and_drops_its_twin():
    d = Dedupe()
    syn, synack = b"syn", b"synack"
    kept = [d.feed(Frame(PACKET_OUTGOING, 1.0, syn))]
    assert d.in_flight == 1
    kept.append(d.feed(Frame(PACKET_HOST, 1.1, syn)))
    assert d.in_flight == 0
    kept += [d.feed(Frame(PACKET_OUTGOING, 2.0, synack)), d.feed(Frame(PACKET_HOST, 2.1, synack))]
    assert [(f.data, f.t) for f in kept if f] == [(syn, 1.0), (synack, 2.0)]


def test_dedupe_counts_identical_frames_separately():
    d = Dedupe()
    same = b"retransmitted"
    out = [d.feed(Frame(PACKET_OUTGOING, t, same)) for t in (1.0, 2.0)]
    assert d.in_flight == 2
    assert d.feed(Frame(PACKET_HOST, 1.1, same)) is None
    assert d.in_flight == 1
    assert all(out)


def test_dedupe_keeps_a_received_frame_that_was_never_sent_here():
    d = Dedupe()
    injected = Frame(PACKET_HOST, 1.0, b"from outside")
    assert d.feed(injected) is injected and d.in_flight == 0


# -- reference captures ----------------------------------------------------------------------

RECORDED = ["handshake", "teardown-client-first", "teardown-server-first", "teardown-four-segment"]


@pytest.mark.parametrize("name", RECORDED)
def test_reference_capture_json_round_trips(name):
    path = CAPTURES / f"{name}.json"
    original = json.loads(path.read_text())
    trace = Trace.load(path)
    assert trace.to_dict() == original
    assert trace.kernel["release"] and trace.sysctls["net.ipv4.tcp_timestamps"] in ("0", "1", "2")


@pytest.mark.parametrize("name", RECORDED)
def test_reference_pcap_holds_the_same_segments_as_the_json(name):
    trace = Trace.load(CAPTURES / f"{name}.json")
    frames = read_pcap_frames(CAPTURES / f"{name}.pcap")
    assert len(frames) == len(trace.segments)
    for (t, frame), seg in zip(frames, trace.segments):
        assert frame == with_tcp_checksum(seg.frame)
        again = decode_frame(frame, seg.t)
        assert (again.flags, again.seq, again.ack, again.win, again.options, again.payload) == \
            (seg.flags, seg.seq, seg.ack, seg.win, seg.options, seg.payload)
        assert t == pytest.approx(trace.t0 + seg.t, abs=2e-6)


def test_every_builtin_program_has_a_reference_capture():
    for name in builtin_names():
        assert (CAPTURES / f"{name}.json").is_file() and (CAPTURES / f"{name}.pcap").is_file(), name


def test_a_file_that_is_not_a_trace_is_refused_in_one_sentence(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "other"}')
    from tcpsim.errors import TcpsimError
    with pytest.raises(TcpsimError, match="not a tcpsim trace"):
        Trace.load(bad)
    bad.write_text("{")
    with pytest.raises(TcpsimError, match="cannot read trace"):
        Trace.load(bad)
