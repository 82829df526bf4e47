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


# -- the Trace JSON's schema (trace.schema.json): what is a trace, and one sentence otherwise --

from tcpsim.errors import TcpsimError  # noqa: E402
from tcpsim.model import KernelProfile  # noqa: E402
from tcpsim.trace.trace import FORMAT, check, schema  # noqa: E402

EVERY_CAPTURE_JSON = sorted(CAPTURES.rglob("*.json"))


def test_the_schema_is_a_valid_json_schema_shipped_in_the_package():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["format"]["const"] == FORMAT


@pytest.mark.parametrize("path", EVERY_CAPTURE_JSON, ids=lambda p: str(p.relative_to(CAPTURES)))
def test_every_trace_json_under_captures_has_the_schemas_shape(path):
    check(json.loads(path.read_text()), str(path))


def test_every_trace_the_model_writes_has_the_schemas_shape():
    from tcpsim.scenario import load
    from tcpsim.sim.world import run_model

    profile = KernelProfile.named("reference")
    for name in builtin_names():
        check(json.loads(run_model(load(name), profile).to_json()), name)


def _handshake() -> dict:
    return json.loads((CAPTURES / "handshake.json").read_text())


def _segment(d):
    return next(e for e in d["events"] if e["type"] == "segment")


def _call(d):
    return next(e for e in d["events"] if e["type"] == "call")


def _walk(d, path):
    """The container path names (a key, an index, or a function of the trace)."""
    for key in path:
        d = key(d) if callable(key) else d[key]
    return d


def _set(path, value):
    def mutate(d):
        _walk(d, path[:-1])[path[-1]] = value
    return mutate


def _drop(*path):
    def mutate(d):
        del _walk(d, path[:-1])[path[-1]]
    return mutate


# Each of these raised a traceback (KeyError, TypeError, AttributeError, ValueError...) from
# Trace.load or from the compare command that reads it beside a capture, before the schema.
MUTATIONS = {
    "a list": (lambda d: [], "at $, an array where it should be an object"),
    "a number": (lambda d: 3, "at $, an integer where it should be an object"),
    "no source": (_drop("source"), "at $, 'source' is a required property"),
    "no events": (_drop("events"), "at $, 'events' is a required property"),
    "events an object": (_set(["events"], {}), "at $.events, an object where it should be an array"),
    "an event a list": (_set(["events", 0], []), "at $.events[0], an array where it should be an object"),
    "an event without a type": (_drop("events", 0, "type"), "at $.events[0], 'type' is a required property"),
    "an unknown event type": (_set(["events", 0, "type"], "packet"),
                              "at $.events[0].type, 'packet' is not one of ['call', 'segment', 'state']"),
    "a call without its step": (_drop(_call, "step"), "'step' is a required property"),
    "a call's line a string": (_set([_call, "line"], "7"),
                               "a string where it should be an integer"),
    "a call's data not hex": (_set([_call, "data"], "xyz"), "'xyz' is not hex digits"),
    "a segment's seq negative": (_set([_segment, "seq"], -1),
                                 "-1 is less than the minimum of 0"),
    "a segment's src no endpoint": (_set([_segment, "src"], "localhost"),
                                    "'localhost' is not an endpoint such as 127.0.0.1:8080"),
    "a segment's payload odd hex": (_set([_segment, "payload"], "abc"),
                                    "'abc' is not hex digits, two to a byte"),
    "a segment's options a dict": (_set([_segment, "options"], {}),
                                   "an object where it should be an array"),
    "a TS option of one value": (_set([_segment, "options"], [["TS", [1]]]), "[1] is too short"),
    "a state's via unknown": (_set(["events", -1, "via"], "ss"), "'ss' is not one of"),
    "sockets a string": (_set(["sockets"], "x"), "at $.sockets, a string where it should be an array"),
    "a socket without a label": (_drop("sockets", 0, "label"), "'label' is a required property"),
    "kernel a list": (_set(["kernel"], []), "at $.kernel, an array where it should be an object"),
    "lo_mtu zero": (_set(["kernel", "lo_mtu"], 0), "0 is less than the minimum of 68"),
    "a sysctl a number": (_set(["sysctls", "net.ipv4.tcp_sack"], 1),
                          "at $.sysctls['net.ipv4.tcp_sack'], an integer where it should be a string"),
    "drops a list": (_set(["drops"], []), "at $.drops, an array where it should be an object"),
    "a drop's line no number": (_set(["drops", "x"], 1), "'x' is not the number of a net: line"),
    "notes a string": (_set(["notes"], "n"), "at $.notes, a string where it should be an array"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_mutated_trace_is_refused_in_one_sentence_naming_the_file_and_the_path(name, tmp_path):
    mutate, part = MUTATIONS[name]
    d = _handshake()
    d = mutate(d) if name in ("a list", "a number") else (mutate(d), d)[1]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d))
    with pytest.raises(TcpsimError) as info:
        Trace.load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"trace {path} ")
    assert part in message and message.endswith("; give a JSON file written by tcpsim --json")


@pytest.mark.parametrize("text, part", [
    ("NaN", "NaN is not a JSON value"),
    ("[" * 100_000 + "]" * 100_000, "it nests too deeply"),
    ("1" * 5000, "cannot read trace"),
    ("\xff", "cannot read trace"),
])
def test_text_that_is_no_json_is_refused_in_one_sentence(text, part, tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(TcpsimError) as info:
        Trace.load(path)
    assert part in str(info.value) and "\n" not in str(info.value)


def test_unknown_fields_are_ignored_so_a_newer_trace_still_reads():
    d = _handshake()
    d["sockets"][0]["inode"] = 1234
    d["events"][0]["cpu"] = 1
    d["extra"] = True
    assert Trace.from_dict(d).sockets[0].label == _handshake()["sockets"][0]["label"]


@pytest.mark.parametrize("key, value", [("net.ipv4.tcp_syn_retries", "1000"),
                                        ("net.ipv4.tcp_rmem", "4096 131072"),
                                        ("net.ipv4.tcp_timestamps", "yes"),
                                        ("net.ipv4.ip_local_port_range", "--5 7"),
                                        ("net.ipv4.ip_local_port_range", "6000 5000")])
def test_a_sysctl_the_model_cannot_use_is_refused_by_name(key, value):
    d = _handshake()
    d["sysctls"][key] = value
    with pytest.raises(TcpsimError) as info:
        KernelProfile.from_trace(Trace.from_dict(d), where="trace t.json")
    assert str(info.value).startswith(f"{key} = {value!r} (in trace t.json) ")
    with pytest.raises(TcpsimError, match="given with --sysctl"):
        KernelProfile.named("reference").with_sysctls({key: value})


def test_the_labs_stall_counts_only_calls_a_program_runs_back_to_back():
    """Trace.stall (lab/executor.stall): a gap after a call that blocked, after a sleep, or
    around a parked call's return is the kernel's or the program's time, not the lab's."""
    from tcpsim.lab.executor import stall
    from tcpsim.trace import Call

    def call(t, line, text="send(fd, 1)", **kw):
        return Call(t=t, process="p", step=line, line=line, text=text, **kw)

    tr = Trace(source="lab", events=[
        call(0.000, 1),
        call(0.001, 2, blocked=True),          # 1 -> 2: 1 ms, back to back
        call(0.050, 3),                        # after a blocked call: not counted
        call(0.051, 4, text="sleep 30ms"),     # 3 -> 4: 1 ms
        call(0.081, 5),                        # after a sleep: not counted
        call(0.090, 5, kind="return"),         # a parked call returned between 5 and 6
        call(0.120, 6),
        call(0.127, 7),                        # 6 -> 7: 7 ms, the worst
    ])
    assert stall(tr) == (0.007, (6, 7))
    tr.stall = 0.007
    assert Trace.from_dict(tr.to_dict()).stall == 0.007
