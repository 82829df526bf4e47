"""`tcpsim compare`: the streaming capture reader, the connection tracker, and a capture held
against a program."""

import json
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpsim.compare import analyse
from tcpsim.compare.against import hold_capture
from tcpsim.model import KernelProfile
from tcpsim.pcap.io import read_pcap_frames
from tcpsim.pcap.reader import CaptureError, Reader, read_packets
from tcpsim.scenario import load
from tcpsim.trace import Trace
from tcpsim.trace.segment import decode_frame, encode_frame

from .conftest import CAPTURES, ROOT, have, run_cli

ALL = sorted(p.stem for p in CAPTURES.glob("*.pcap"))


# -- writing capture files in every format the reader takes ---------------------------------
def pcap_bytes(frames, link=1, endian="<", nano=False, snaplen=262144) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link)
    for t, data, *wire in frames:
        sec = int(t)
        frac = round((t - sec) * (1e9 if nano else 1e6))
        out += struct.pack(endian + "IIII", sec, frac, len(data), wire[0] if wire else len(data))
        out += data
    return out


def pcapng_bytes(frames, link=1, endian="<", tsresol=None) -> bytes:
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack(endian + "II", kind, n) + body + struct.pack(endian + "I", n)

    out = block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    tick = 1e-6
    if tsresol is not None:
        opts = struct.pack(endian + "HHB3x", 9, 1, tsresol) + struct.pack(endian + "HH", 0, 0)
        tick = 10.0 ** -tsresol
    out += block(1, struct.pack(endian + "HHI", link, 0, 262144) + opts)
    for t, data in frames:
        ts = round(t / tick)
        out += block(6, struct.pack(endian + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                    len(data)) + data)
    return out


def relink(frame: bytes, link: int) -> bytes:
    """An Ethernet frame of ours under another link layer."""
    etype, ip = frame[12:14], frame[14:]
    v4 = etype == b"\x08\x00"
    return {
        1: frame,
        113: struct.pack("!HHH8s", 0, 772, 6, b"\0" * 8) + etype + ip,  # Linux SLL
        276: etype + struct.pack("!HIHBB8s", 0, 1, 772, 0, 6, b"\0" * 8) + ip,  # SLL2
        101: ip,
        0: struct.pack("<I", 2 if v4 else 30) + ip,  # BSD null: host byte order
        108: struct.pack(">I", 2 if v4 else 24) + ip,  # OpenBSD loop: network order
        "vlan": frame[:12] + b"\x81\x00\x00\x05" + frame[12:],
    }[link]


def _fields(p):
    return (p.number, p.flags, p.seq, p.ack, p.win, p.options, p.length)


def _reference(name):
    """What scapy's reader and our frame decoder make of a capture."""
    frames = read_pcap_frames(CAPTURES / f"{name}.pcap")
    return frames, [decode_frame(f, t) for t, f in frames]


# -- the reader -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_the_reader_reads_every_reference_capture_as_scapy_does(name):
    frames, segs = _reference(name)
    packets = read_packets(CAPTURES / f"{name}.pcap", payload=True)
    assert len(packets) == len(segs)
    for n, (p, s) in enumerate(zip(packets, segs), 1):
        assert p.number == n and abs(p.t - s.t) < 1e-6
        assert (p.seq, p.ack, p.win, p.length, p.payload) == (s.seq, s.ack, s.win, s.length, s.payload)


@pytest.mark.parametrize("link", [1, 113, 276, 101, 0, 108, "vlan"])
@pytest.mark.parametrize("fmt", ["pcap-le", "pcap-be-nano", "pcapng-le", "pcapng-be-ns"])
def test_every_format_and_link_type_reads_the_same(tmp_path, link, fmt):
    frames, _ = _reference("request-response")
    linktype = 1 if link == "vlan" else link
    moved = [(t, relink(f, link)) for t, f in frames]
    data = {"pcap-le": lambda: pcap_bytes(moved, linktype),
            "pcap-be-nano": lambda: pcap_bytes(moved, linktype, ">", nano=True),
            "pcapng-le": lambda: pcapng_bytes(moved, linktype),
            "pcapng-be-ns": lambda: pcapng_bytes(moved, linktype, ">", tsresol=9)}[fmt]()
    path = tmp_path / "c.cap"
    path.write_bytes(data)
    want = read_packets(CAPTURES / "request-response.pcap")
    got = read_packets(path)
    assert [_fields(p) for p in got] == [_fields(p) for p in want]
    assert [(p.src, p.dst) for p in got] == [(p.src, p.dst) for p in want]
    assert all(abs(a.t - b.t) < 2e-6 for a, b in zip(got, want))


def test_ipv6_segments_and_other_traffic(tmp_path):
    syn = encode_frame(("::1", 40000), ("::1", 8080), 0x02, 7, 0, 65535, [["mss", 65476]])
    udp = b"\0" * 12 + b"\x08\x00" + bytes([0x45, 0, 0, 28]) + b"\0" * 5 + b"\x11" + b"\0" * 18
    arp = b"\xff" * 12 + b"\x08\x06" + b"\0" * 28
    path = tmp_path / "v6.pcap"
    path.write_bytes(pcap_bytes([(1.0, udp), (1.5, syn), (2.0, arp)]))
    with Reader(path) as r:
        (p,) = list(r)
        assert (r.frames, r.other, p.number, p.flags, p.seq, p.src[1]) == (3, 2, 2, 0x02, 7, 40000)
        assert p.options == bytes([2, 4, 0xFF, 0xC4])


def test_ip_options_fragments_and_offload_read_as_scapy_reads_them(tmp_path):
    """The reader's shortcut for plain Ethernet/IPv4/TCP must give way to the full decoder
    for everything else: IP options, a later fragment (no TCP header), total length 0 (TSO)."""
    from scapy.layers.inet import IP, TCP, IPOption_RR
    from scapy.layers.l2 import Ether

    def eth(ip):
        return bytes(Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02") / ip)

    tcp = TCP(sport=40000, dport=8080, flags="PA", seq=100, ack=200, window=512,
              options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / (b"x" * 10)
    plain = eth(IP(src="10.0.0.1", dst="10.0.0.2") / tcp)
    opts = eth(IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_RR()]) / tcp)
    later = eth(IP(src="10.0.0.1", dst="10.0.0.2", frag=3, proto=6) / (b"y" * 24))
    tso = bytearray(plain)
    tso[16:18] = b"\0\0"  # an offloaded segment captured before it was cut: no IP length
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap_bytes([(1.0, plain), (2.0, opts), (3.0, later), (4.0, bytes(tso))]))
    with Reader(path) as r:
        got = list(r)
        assert (r.frames, r.other, r.truncated) == (4, 1, 0)
    want = [decode_frame(f, t) for t, f in read_pcap_frames(path)]
    assert [p.number for p in got] == [1, 2, 4]
    for p, w in zip(got, [want[0], want[1], want[3]]):
        assert (p.flags, p.seq, p.ack, p.win, p.length) == (0x18, 100, 200, 512, 10)
        assert p.options == bytes([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2])
        assert (p.src[1], p.dst[1], p.seq, p.ack, p.win, p.length) == \
            (int(w.src.split(':')[1]), int(w.dst.split(':')[1]), w.seq, w.ack, w.win, w.length)


def test_a_snaplen_that_cuts_the_tcp_header_is_counted_not_read(tmp_path):
    frames, _ = _reference("handshake")
    cut = [(t, f[:14 + 20 + 10], len(f)) for t, f in frames]  # IP header and 10 bytes of TCP
    path = tmp_path / "short.pcap"
    path.write_bytes(pcap_bytes(cut, snaplen=44))
    with Reader(path) as r:
        assert list(r) == [] and r.truncated == len(frames) and r.stopped is None


@pytest.mark.parametrize("content, message", [
    (b"", "is empty; give a pcap or pcapng capture"),
    (b"hello, world\n", "is not a pcap or pcapng capture (it starts with bytes 68 65 6c 6c)"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "ends inside its pcap file header"),
])
def test_a_file_that_is_no_capture_gets_one_sentence(tmp_path, content, message):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_packets(path)


def test_a_cut_file_gives_the_packets_before_the_cut_and_says_where(tmp_path):
    data = (CAPTURES / "handshake.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:500])
    with Reader(path) as r:
        packets = list(r)
    assert len(packets) == 5 and r.stopped.number == 6
    assert r.stopped.reason == "the file ends inside a packet (it was cut short)"


def test_a_corrupt_length_field_stops_reading_there(tmp_path):
    data = bytearray((CAPTURES / "handshake.pcap").read_bytes())
    second = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)
    path = tmp_path / "len.pcap"
    path.write_bytes(bytes(data))
    with Reader(path) as r:
        assert len(list(r)) == 1 and r.stopped.number == 2
    assert "corrupt length field" in r.stopped.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_captures_never_raise_anything_but_a_capture_error(tmp_path, data):
    fmt = data.draw(st.sampled_from(["pcap", "pcapng"]))
    frames, _ = _reference("teardown-client-first")
    raw = bytearray(pcap_bytes(frames) if fmt == "pcap" else pcapng_bytes(frames, tsresol=9))
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at:at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    path = tmp_path / f"m.{fmt}"
    path.write_bytes(bytes(raw))
    try:
        analyse(Reader(path))
    except CaptureError:
        pass


# -- the tracker ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_no_reference_capture_departs_from_a_conforming_stack(name):
    conns = analyse(read_packets(CAPTURES / f"{name}.pcap"))
    assert conns and [f.text for c in conns for f in c.departures] == []


def _paths(conn):
    return [[s for _, s, _ in e.path] for e in (conn.a, conn.b)]


def test_the_story_of_a_simultaneous_close_has_both_ends_in_closing():
    (c,) = analyse(read_packets(CAPTURES / "simultaneous-close.pcap"))
    assert c.verdict == "conforms" and c.phases == ["handshake", "data", "release"]
    assert _paths(c) == [["SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "TIME_WAIT"],
                         ["NEW_SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "TIME_WAIT"]]


def test_a_lost_syn_ack_is_told_from_the_resent_syn_that_brings_it_again():
    (c,) = analyse(read_packets(CAPTURES / "lost-syn-ack.pcap"))
    notes = {(f.number, f.rule) for f in c.findings}
    assert (3, "capture") in notes  # the SYN-ACK of packet 2 never reached the client
    assert (4, "tcp_check_req()") in notes  # answered the resent SYN
    (t,) = analyse(read_packets(CAPTURES / "lost-syn-ack-timer.pcap"))
    assert (4, "reqsk_timer_handler()") in {(f.number, f.rule) for f in t.findings}


def test_a_refused_connection_names_the_reset_and_why():
    c = analyse(read_packets(CAPTURES / "connect-refused.pcap"))[0]
    (rst,) = [f for f in c.findings if "reset" in f.text]
    assert rst.number == 2 and "nothing listens on 127.0.0.1:9" in rst.text
    assert c.a.path[-1][1:] == ("CLOSE", "tcp_reset()")


def _edit(tmp_path, name, edit):
    frames, _ = _reference(name)
    frames = [(t, bytearray(f)) for t, f in frames]
    frames = edit(frames)
    path = tmp_path / f"edited-{name}.pcap"
    path.write_bytes(pcap_bytes([(t, bytes(f)) for t, f in frames]))
    return path


def test_an_ack_of_bytes_never_sent_is_flagged_at_its_packet(tmp_path):
    def wrong_ack(frames):  # the client's ACK completing the handshake acknowledges 5 too many
        f = frames[2][1]
        struct.pack_into("!I", f, 14 + 20 + 8, struct.unpack_from("!I", f, 14 + 20 + 8)[0] + 5)
        return frames

    conns = analyse(read_packets(_edit(tmp_path, "handshake", wrong_ack)))
    (d,) = conns[0].departures
    assert d.number == 3 and d.rule == "RFC 9293 3.10.7.4 (SEG.ACK > SND.NXT)"
    assert d.text == "client acknowledges 6, but server has sent only up to 1"


def test_a_flipped_flag_is_flagged_at_its_packet(tmp_path):
    def syn_in_data(frames):  # the server's data segment also carries SYN
        frames[3][1][14 + 20 + 13] |= 0x02
        return frames

    conns = analyse(read_packets(_edit(tmp_path, "handshake", syn_in_data)))
    d = conns[0].departures[0]
    assert d.number == 4 and d.rule == "RFC 9293 3.10.7.4"
    assert d.text == "a SYN-ACK from server in ESTABLISHED"


def test_a_syn_ack_missing_from_the_capture_is_capture_loss(tmp_path):
    """The client's ACK acknowledges a SYN-ACK the capture did not see: capture loss, and the
    handshake goes on (the server's number is the ack's - 1)."""
    conns = analyse(read_packets(_edit(tmp_path, "handshake", lambda fr: fr[:1] + fr[2:])))
    (c,) = conns
    assert c.departures == [] and c.verdict == "conforms"
    assert (c.findings[0].number, c.findings[0].rule) == (2, "capture")
    assert c.findings[0].text.startswith("capture loss: client acknowledges server's SYN-ACK")
    assert [s for _, s, _ in c.b.path][:2] == ["NEW_SYN_RECV", "ESTABLISHED"]
    assert c.to_dict()["capture_loss"] == {"server": {"bytes": 0, "gaps": 1}}


def test_a_segment_without_syn_or_ack_from_syn_sent_departs(tmp_path):
    def drop_and_clear(frames):  # the SYN-ACK missing and the client's ACK without ACK
        frames = frames[:1] + frames[2:]
        frames[1][1][14 + 20 + 13] &= ~0x10
        return frames

    conns = analyse(read_packets(_edit(tmp_path, "handshake", drop_and_clear)))
    d = conns[0].departures[0]
    assert d.number == 2 and d.rule == "RFC 9293 3.10.7.3"
    assert d.text.startswith("client sends a segment without SYN while its own SYN is unanswered")


# -- a capture against a program --------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_every_reference_capture_matches_its_program(name):
    profile = KernelProfile.from_trace(Trace.load(CAPTURES / f"{name}.json"))
    # NAME@mtu1500 is NAME's program recorded at another MTU (scripts/record_captures.py --mtu)
    held = hold_capture(read_packets(CAPTURES / f"{name}.pcap", True), load(name.split("@")[0]),
                        profile)
    assert [d.sentence for d in held.differences] == []
    assert held.outcome is None  # the lab runs the file order: the file order's exchange


def test_an_edited_capture_differs_from_its_program_at_the_edited_segment(tmp_path):
    def fin_flag(frames):  # the server's data segment carries FIN as well
        frames[3][1][14 + 20 + 13] |= 0x01
        return frames

    held = hold_capture(read_packets(_edit(tmp_path, "handshake", fin_flag), True),
                        load("handshake"), KernelProfile.builtin("reference"))
    assert held.nearest == 0  # none of the program's exchanges; the file order's is the nearest
    diffs = held.differences
    assert diffs[0].sentence.startswith("segment 4 ([FP.] server > client seq 1): flags is P. in "
                                        "the model but FP. in the capture")


# -- the command ------------------------------------------------------------------------------
def test_compare_tells_the_story_and_exits_0_for_a_clean_capture():
    r = run_cli("compare", CAPTURES / "closing.pcap")
    assert r.returncode == 0, r.stderr
    assert "connection 1" in r.stdout and "conforms" in r.stdout and "CLOSING" in r.stdout
    assert "closing.pcap: pcap, Ethernet; 13 frames, 13 TCP" in r.stdout


def test_compare_json_lists_connections_and_where_reading_stopped(tmp_path):
    path = tmp_path / "cut.pcap"
    path.write_bytes((CAPTURES / "handshake.pcap").read_bytes()[:500])
    r = run_cli("compare", path, "--json")
    assert r.returncode == 4
    doc = json.loads(r.stdout)
    assert doc["connections"][0]["verdict"] == "conforms"
    assert doc["capture"]["stopped"]["frame"] == 6


def test_compare_with_a_program_says_match_or_the_first_difference():
    ok = run_cli("compare", CAPTURES / "handshake.pcap", "--program", "handshake")
    assert ok.returncode == 0 and ok.stdout.startswith("match handshake")
    bad = run_cli("compare", CAPTURES / "handshake.pcap", "--program", "request-response")
    assert bad.returncode == 1 and "segment 4" in bad.stdout


def test_compare_with_a_program_on_a_cut_capture_says_where_it_stopped(tmp_path):
    path = tmp_path / "cut.pcap"
    path.write_bytes((CAPTURES / "handshake.pcap").read_bytes()[:500])
    r = run_cli("compare", path, "--program", "handshake")
    assert r.returncode == 4 and "reading stopped at frame 6" in r.stdout
    assert "the model sends 3 more segment(s)" in r.stdout


@pytest.mark.parametrize("content, code, message", [
    (b"", 2, "is empty"), (b"not a capture at all", 2, "is not a pcap or pcapng capture"),
])
def test_compare_refuses_a_bad_file_in_one_sentence(tmp_path, content, code, message):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    r = run_cli("compare", path)
    assert r.returncode == code and message in r.stderr and "Traceback" not in r.stderr


# -- real captures by tcpdump and dumpcap -----------------------------------------------------
_TALK = """
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 8080)); l.listen()
c = socket.create_connection(("127.0.0.1", 8080)); a, _ = l.accept()
c.sendall(b"ping" * 100); a.recv(1000); a.sendall(b"pong"); c.recv(10)
c.close(); time.sleep(0.05); a.close(); l.close(); time.sleep(0.3)
"""


@pytest.mark.parametrize("tool", ["tcpdump", "tcpdump-nano", "dumpcap-pcapng"])
def test_captures_written_by_tcpdump_and_dumpcap_read_as_scapy_reads_them(live, tmp_path, tool):
    exe = tool.split("-")[0]
    if not have(exe) or not have("unshare"):
        pytest.skip(f"{exe} is not installed (scripts/test installs it)")
    out = tmp_path / ("c.pcapng" if "pcapng" in tool else "c.pcap")
    cmd = {"tcpdump": f"tcpdump -i lo -U --immediate-mode -Z root -w {out}",
           "tcpdump-nano": f"tcpdump -i lo -U --immediate-mode -Z root --time-stamp-precision=nano "
                           f"-w {out}",
           "dumpcap-pcapng": f"dumpcap -q -i lo -w {out}"}[tool]
    script = tmp_path / "talk.py"
    script.write_text(_TALK)
    shell = (f"ip link set lo up; {cmd} 2>/dev/null & P=$!; sleep 1; {sys.executable} {script}; "
             "sleep 0.5; kill $P; wait $P")
    subprocess.run(["unshare", "-n", "sh", "-c", shell], check=True, timeout=30, cwd=ROOT)
    import scapy.layers.inet6  # noqa: F401  (scapy decodes only the layers it has loaded)
    import scapy.layers.l2  # noqa: F401
    from scapy.utils import rdpcap

    ours = read_packets(out, payload=True)
    theirs = [p for p in rdpcap(str(out)) if p.haslayer("TCP")]
    assert len(ours) == len(theirs) >= 8
    for p, q in zip(ours, theirs):
        tcp = q["TCP"]
        assert (p.seq, p.ack, p.win, int(p.flags), p.payload) == \
            (tcp.seq, tcp.ack, tcp.window, int(tcp.flags), bytes(tcp.payload))
        assert abs(p.t - float(q.time)) < 1e-6
    conns = analyse(read_packets(out))
    assert len(conns) == 1 and conns[0].verdict == "conforms"


def test_a_syn_copied_by_the_network_is_a_note_not_a_departure():
    """duplicate-syn: packet 4 is packet 1 byte for byte, TS value included; a stack that
    sent its SYN again would stamp it anew, so this is the network's copy."""
    (c,) = analyse(read_packets(CAPTURES / "duplicate-syn.pcap"))
    assert c.verdict == "conforms"
    assert [(f.number, f.kind, f.rule) for f in c.findings if f.analysis is None] == \
        [(4, "note", "RFC 7323 3.2")]
    # (and the server's first ACK after it changes the window: Wireshark's window update)
    assert [(f.number, f.analysis) for f in c.findings if f.analysis] == [(5, "window_update")]
    assert c.findings[0].text.startswith("an exact copy of packet 1")


# -- speed and scale (issue 21): blocks of arrays, whole connections replayed, bounded memory --
def _bench_capture(tmp_path, packets=20_000, edit=None):
    """A capture of many overlapping request-response connections (scripts/bench_compare.py),
    big enough for the reader's all-at-once record search and the tracker's replay."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_compare",
                                                  ROOT / "scripts" / "bench_compare.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "many.pcap"
    bench.generate(path, packets)
    if edit:
        data = bytearray(path.read_bytes())
        edit(data)
        path.write_bytes(bytes(data))
    return path


def _records(data):
    """(offset, caplen) of every record of a little-endian pcap."""
    pos, out = 24, []
    while pos + 16 <= len(data):
        cap = struct.unpack_from("<I", data, pos + 8)[0]
        out.append((pos, cap))
        pos += 16 + cap
    return out


def _read_both(path):
    """The packets, counts and stop of a capture read packet by packet and in Blocks."""
    with Reader(path) as r:
        one = list(r), (r.frames, r.other, r.truncated, r.stopped)
    with Reader(path) as r:
        blocks = [b.lists().packet(i) for b in r.blocks() for i in range(b.n)], \
            (r.frames, r.other, r.truncated, r.stopped)
    return one, blocks


def _cut(data):
    del data[len(data) * 2 // 3:]


def _corrupt_length(data):
    pos, _ = _records(data)[9000]
    struct.pack_into("<I", data, pos + 8, 0x7FFFFFFF)


def _time_jump(data):  # a year later from the 12,000th record on: the guess of headers fails
    for pos, _ in _records(data)[12_000:]:
        struct.pack_into("<I", data, pos, struct.unpack_from("<I", data, pos)[0] + (1 << 25))


def _lose_packets(data):  # no IP packet: every 97th record's frame becomes ARP
    for k, (pos, _) in enumerate(_records(data)):
        if k % 97 == 5:
            data[pos + 16 + 12:pos + 16 + 14] = b"\x08\x06"


def _payload_like_headers(data):  # TCP payload bytes that look like record headers
    for k, (pos, cap) in enumerate(_records(data)):
        if cap > 66 and k % 5 == 0:
            hdr = data[pos:pos + 16]
            data[pos + 16 + 66:pos + 16 + min(cap, 82)] = hdr[:min(cap, 82) - 66]


EDITS = {"plain": None, "cut": _cut, "corrupt-length": _corrupt_length, "time-jump": _time_jump,
         "non-ip": _lose_packets, "header-like-payload": _payload_like_headers}


@pytest.mark.parametrize("edit", EDITS)
def test_blocks_read_what_the_packet_reader_reads(tmp_path, edit):
    """Reader.blocks() (records found all at once, decoded with numpy) gives the packets, the
    counts and the stop that iterating gives, record by record."""
    one, blocks = _read_both(_bench_capture(tmp_path, edit=EDITS[edit]))
    assert one[1] == blocks[1]
    assert one[0] == blocks[0] and len(one[0]) > 1000


@pytest.mark.parametrize("nano", [False, True])
def test_blocks_of_a_big_endian_pcap_read_what_the_packet_reader_reads(tmp_path, nano):
    """The record headers in the other byte order (and nanosecond times): found all at once
    and decoded with the fields read as big-endian views, the same packets and times."""
    def swap(data):
        out = bytearray(struct.pack(">IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0,
                                    0, 262144, 1))
        for pos, cap in _records(data):
            sec, usec, _, wire = struct.unpack_from("<IIII", data, pos)
            out += struct.pack(">IIII", sec, usec * 1000 + 7 if nano else usec, cap, wire)
            out += data[pos + 16:pos + 16 + cap]
        data[:] = out

    one, blocks = _read_both(_bench_capture(tmp_path, edit=swap))
    assert one[1] == blocks[1] and one[1][3] is None
    assert one[0] == blocks[0] and len(one[0]) > 1000


def test_flow_order_is_a_stable_sort_of_the_flows():
    """compare/replay.py's flow_order(): np.argsort(kind="stable"), by 16-bit radix when the
    flow numbers fit, else as it is."""
    import numpy as np

    from tcpsim.compare.replay import flow_order

    rng = np.random.default_rng(21)
    for flows in (3, 5000, 1 << 16, (1 << 16) + 1, 1 << 20):
        flow = rng.integers(0, flows, 50_000).astype(np.int32)
        assert np.array_equal(flow_order(flow, flows), np.argsort(flow, kind="stable"))


@pytest.mark.parametrize("name", ALL[::4])
def test_blocks_of_every_format_and_link_type_read_the_same(tmp_path, name):
    frames, _ = _reference(name)
    for link in [1, 113, 0, "vlan"]:
        moved = [(t, relink(f, link)) for t, f in frames]
        for data in (pcap_bytes(moved, 1 if link == "vlan" else link),
                     pcapng_bytes(moved, 1 if link == "vlan" else link, ">", tsresol=9)):
            path = tmp_path / "c.cap"
            path.write_bytes(data)
            one, blocks = _read_both(path)
            assert one == blocks


def _json(path, monkeypatch, replay: bool) -> str:
    import io

    from tcpsim.compare import replay as rp
    from tcpsim.compare.report import write_json

    monkeypatch.setattr(rp, "ENABLED", replay)
    out = io.StringIO()
    code = write_json(path, out)
    return out.getvalue() + f"exit {code}"


@pytest.mark.parametrize("edit", EDITS)
def test_replaying_whole_connections_changes_nothing(tmp_path, monkeypatch, edit):
    """The replay of connections by signature gives the JSON that feeding every packet gives
    (ids, order, states, numbers, times), and replays most of them."""
    from tcpsim.compare import replay as rp
    from tcpsim.compare.report import Scan

    path = _bench_capture(tmp_path, edit=EDITS[edit])
    assert _json(path, monkeypatch, True) == _json(path, monkeypatch, False)
    monkeypatch.setattr(rp, "ENABLED", True)
    conns = list(Scan(path))
    replayed = sum(isinstance(c, rp.Replayed) for c in conns)
    assert replayed > len(conns) // 2 if edit in ("plain", "cut") else replayed >= 0


def test_a_late_segment_of_a_replayed_connection_is_followed(tmp_path, monkeypatch):
    """A replayed connection becomes a real Connection when a late packet comes for it: the
    FIN sent again after the end is noted on it, as feeding every packet notes it."""
    def refin(data):
        recs = _records(data)
        fin = next(p for p, c in recs if data[p + 16 + 47] & 0x01)
        last_t = struct.unpack_from("<I", data, recs[-1][0])[0]
        rec = bytearray(data[fin:fin + 16 + struct.unpack_from("<I", data, fin + 8)[0]])
        struct.pack_into("<I", rec, 0, last_t)
        data += rec

    path = _bench_capture(tmp_path, 5_000, refin)
    on, off = _json(path, monkeypatch, True), _json(path, monkeypatch, False)
    assert on == off and "sends its FIN again" in on


def test_a_connection_idle_past_the_limit_is_finished_and_said_so(tmp_path):
    from tcpsim.compare.tracker import IDLE

    frames, _ = _reference("request-response")
    gap = [(t + (IDLE + 10 if n >= 5 else 0), f) for n, (t, f) in enumerate(frames)]
    path = tmp_path / "idle.pcap"
    path.write_bytes(pcap_bytes(gap))
    first, second = analyse(read_packets(path))
    assert (first.last, second.first, second.midstream) == (5, 6, True)
    assert first.findings[-1].text.startswith(f"no packet for {IDLE + 10:.0f} s: taken as finished")
    r = run_cli("compare", path, "--json")
    assert json.loads(r.stdout)["capture"]["idle"] == 1
    r = run_cli("compare", path)
    assert f"1 connection(s) taken as finished after {IDLE:g} s without a packet" in r.stdout


def test_past_max_open_the_connections_idle_longest_are_finished(monkeypatch):
    from tcpsim.compare import tracker as tr
    from tcpsim.pcap.reader import Packet

    monkeypatch.setattr(tr, "MAX_OPEN", 20)
    t = tr.Tracker()
    out = []
    for i in range(50):  # a scan: SYNs to 50 addresses, none answered
        out += t.feed(Packet(i + 1, float(i), (b"\x0a\0\0\x01", 40000),
                             (bytes([10, 1, 0, i]), 80), 0x02, 1000 + i, 0, 1024, b"", 0))
    assert len(t.conns) <= 20 and t.crowded == len(out) == 30
    assert [c.first for c in out] == list(range(1, 31))  # the oldest first
    assert out[0].findings[-1].text.startswith("finished early, 20.000 s after its last packet")


def test_unacknowledged_segments_past_the_limit_are_kept_as_their_newest_start(monkeypatch):
    from tcpsim.compare import tracker as tr
    from tcpsim.pcap.reader import Packet

    monkeypatch.setattr(tr, "SENT_LIMIT", 10)
    c, s = (b"\x0a\0\0\x01", 40000), (b"\x0a\0\0\x02", 80)
    t = tr.Tracker()
    seq = [1000, 5000]
    pk = [Packet(1, 0.0, c, s, 0x02, 999, 0, 100, b"", 0),
          Packet(2, 0.1, s, c, 0x12, 4999, 1000, 100, b"", 0),
          Packet(3, 0.2, c, s, 0x10, 1000, 5000, 100, b"", 0)]
    pk += [Packet(4 + k, 1.0 + k, c, s, 0x10, seq[0] + 100 * k, 5000, 100, b"", 100)
           for k in range(25)]
    for p in pk:
        t.feed(p)
    (conn,) = t.conns.values()
    end = conn.a
    assert len(end.sent) <= 10 and end.sent_old is not None
    # a retransmission of a forgotten segment: noted, without its interval
    t.feed(Packet(30, 40.0, c, s, 0x10, 1000, 5000, 100, b"", 100))
    assert conn.findings[-1].text == "client sends bytes 1-101 again: a retransmission"
    # one recent enough: with it
    t.feed(Packet(31, 41.0, c, s, 0x10, 1000 + 100 * 24, 5000, 100, b"", 100))
    assert "again after 16.000 s: a retransmission; the retransmission timer fired (RTO " \
        "16.000 s" in conn.findings[-1].text
    t.feed(Packet(32, 42.0, s, c, 0x10, 5000, 1000 + 100 * 25, 100, b"", 0))  # all acknowledged
    assert not end.sent and end.sent_old is None


def _per_packet(path):
    """The connections in the order they finish, fed one Packet at a time (as analyse does)."""
    from tcpsim.compare import Tracker

    t, out = Tracker(), []
    with Reader(path) as r:
        for p in r:
            out += t.feed(p)
    return out + t.finish()


def _port_reuse(tmp_path):
    """Request-response over and over from 7 client ports, overlapping: ports used again while
    their last connection lingers, between the packets of others."""
    frames, _ = _reference("request-response")
    span = frames[-1][0] - frames[0][0]
    out = []
    for i in range(600):
        port = struct.pack("!H", 40000 + i % 7)
        for t, f in frames:
            g = bytearray(f)
            if g[34:36] == b"\x1f\x90":  # from the server (8080): the client is the destination
                g[36:38] = port
            else:
                g[34:36] = port
            out.append((1000.0 + i * span / 5 + (t - frames[0][0]), bytes(g)))
    out.sort(key=lambda r: r[0])
    path = tmp_path / "reuse.pcap"
    path.write_bytes(pcap_bytes(out))
    return path


@pytest.mark.parametrize("replay", [True, False])
@pytest.mark.parametrize("edit", [*EDITS, "port-reuse"])
def test_scanning_in_blocks_finishes_what_feeding_each_packet_finishes(tmp_path, monkeypatch,
                                                                       edit, replay):
    """Scan (Blocks, replayed connections, header prediction on lists) gives the connections
    that feeding Packets one at a time gives, in the same order, the same in every field."""
    from tcpsim.compare import replay as rp
    from tcpsim.compare.report import Scan

    monkeypatch.setattr(rp, "ENABLED", replay)

    path = _port_reuse(tmp_path) if edit == "port-reuse" else \
        _bench_capture(tmp_path, edit=EDITS[edit])
    want = [c.to_dict() for c in _per_packet(path)]
    got = [c.to_dict() for c in Scan(path)]
    assert len(got) == len(want) > 10
    assert got == want


@pytest.mark.parametrize("edit", [*EDITS, "port-reuse"])
def test_connections_open_at_a_blocks_end_are_carried_into_the_next(tmp_path, monkeypatch, edit):
    """Blocks of 3001 packets (each end cuts some 200 connections of the benchmark's): the
    connections open at a block's end are carried into the next block and replayed there
    whole (compare/replay.py), with the ids, order, summaries and every field that feeding
    each packet gives; without carrying most of them would be fed."""
    from tcpsim.compare import replay as rp
    from tcpsim.compare.report import Scan
    from tcpsim.pcap import reader as rd

    monkeypatch.setattr(rd, "BLOCK", 3001)
    path = _port_reuse(tmp_path) if edit == "port-reuse" else \
        _bench_capture(tmp_path, edit=EDITS[edit])
    want = [c.to_dict() for c in _per_packet(path)]
    conns = list(Scan(path))
    assert [c.to_dict() for c in conns] == want and len(want) > 10
    replayed = sum(isinstance(c, rp.Replayed) for c in conns)
    assert _json(path, monkeypatch, True) == _json(path, monkeypatch, False)
    monkeypatch.setattr(rp, "CARRY", 0)
    alone = sum(isinstance(c, rp.Replayed) for c in Scan(path))
    if edit == "plain":
        assert replayed > 0.95 * len(conns) > 3 * alone
    elif edit == "cut":  # (the ~200 connections open where the file ends are fed)
        assert replayed > 0.75 * len(conns) > 2 * alone


def test_a_long_connection_in_blocks_is_followed_as_packet_by_packet(tmp_path, monkeypatch):
    """scripts/bench_compare.py's never-acknowledged capture, small: a connection longer than
    a block fed in parts, its unacknowledged segments past SENT_LIMIT kept as their newest
    start; the same connection as feeding each packet makes."""
    import importlib.util

    from tcpsim.compare import tracker as tr
    from tcpsim.compare.report import Scan

    spec = importlib.util.spec_from_file_location("bench_compare",
                                                  ROOT / "scripts" / "bench_compare.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "noack.pcap"
    bench.generate_noack(path, 30_000)
    monkeypatch.setattr(tr, "SENT_LIMIT", 1000)
    want = [c.to_dict() for c in _per_packet(path)]
    got = list(Scan(path))
    assert [c.to_dict() for c in got] == want and got[0].packets == 30_000
    end = got[0].a
    assert 500 <= len(end.sent) <= 1000 and end.sent_old is not None
