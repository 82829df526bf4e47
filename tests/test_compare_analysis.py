"""compare's findings in Wireshark's vocabulary, held to tshark frame by frame, and capture loss.

tests/data/tshark_analysis.json is tshark's own analysis (tcp.analysis.* fields) of every
capture in captures/, recorded by scripts/record_tshark_analysis.py; the tcpdump captures are
scripts/record_tcpdump_captures.py's (a 2 MB upload to a slow reader; the same with one
segment removed; the same from frame 60 on).  Every frame where compare and tshark name
different things is listed below with the reason: where Wireshark's heuristics and the
kernel's knowledge part ways.
"""

import json
from collections import Counter, defaultdict

import pytest

from tcpsim.compare import replay as rp
from tcpsim.compare.report import Scan
from tcpsim.compare.tracker import ANALYSIS
from tcpsim.i18n import language

from .conftest import CAPTURES, ROOT, run_cli

TSHARK = json.loads((ROOT / "tests" / "data" / "tshark_analysis.json").read_text())["captures"]

SIMULTANEOUS = ("simultaneous open: the SYN-ACK repeats the SYN's sequence number by design "
                "(tcp_rcv_synsent_state_process() answers the crossing SYN); Wireshark's test "
                "'the sequence number does not advance' takes it for a retransmission")
COPY = ("an exact copy of an earlier SYN / SYN-ACK, the same TS value: the network's duplicate "
        "(tcpsim's `net: duplicate`), not the sender's retransmission, which would stamp a new "
        "TS value")
SELF = ("a socket connected to itself: one end plays both parts, and the tracker does not run "
        "the per-direction analysis on it; Wireshark sees two directions of one flow")
# (capture, frame): (names only tshark gives, names only compare gives, why)
KNOWN = {
    ("simultaneous-open.pcap", "3"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("simultaneous-open.pcap", "4"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("close-in-syn-recv.pcap", "3"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("close-in-syn-recv.pcap", "4"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("rst-in-syn-recv.pcap", "3"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("rst-in-syn-recv.pcap", "4"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("races/simultaneous-open-data-first.pcap", "3"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("races/simultaneous-open-data-first.pcap", "4"): ({"retransmission"}, set(), SIMULTANEOUS),
    ("duplicate-syn.pcap", "4"): ({"retransmission"}, set(), COPY),
    ("duplicate-syn-ack.pcap", "4"): ({"retransmission"}, set(), COPY),
    ("self-connect.pcap", "2"): ({"retransmission"}, set(), SELF),
    ("self-connect.pcap", "3"): ({"window_update"}, set(), SELF),
    ("tcpdump/upload-2mb-lost.pcap", "44"): (
        {"ack_lost_segment"}, set(),
        "frame 42, the segment right after the gap, was captured and frame 44 acknowledges "
        "the end of frame 43's retransmission of its tail; Wireshark's 'highest sequence to be "
        "acknowledged' did not take frame 42 in (it came after a gap), so it calls the ACK of "
        "it unseen once more"),
}
# Linux probes a zero window with a segment without data at SND.UNA - 1 (tcp_probe_timer(),
# tcp_xmit_probe_skb()); Wireshark's zero-window probe is one byte at the next sequence number,
# so it takes Linux's for a keep-alive (the same shape).  compare knows the peer's window is 0.
PROBE = ({"keep_alive"}, {"zero_window_probe"})


def _ours(path) -> dict[str, set[str]]:
    """compare's analysis names per frame, read as the command reads (blocks, replay): a fast
    or spurious retransmission is also a retransmission, as Wireshark sets both fields."""
    out = defaultdict(set)
    for c in Scan(path):
        for f in c.findings:
            if f.analysis:
                out[str(f.number)].add(f.analysis)
                if f.analysis in ("fast_retransmission", "spurious_retransmission"):
                    out[str(f.number)].add("retransmission")
    return out


@pytest.mark.parametrize("name", sorted(TSHARK))
def test_compare_names_what_tshark_names_frame_by_frame(name):
    ours, theirs = _ours(CAPTURES / name), TSHARK[name]
    left = {}
    for frame in sorted(set(ours) | set(theirs), key=int):
        mine, its = ours.get(frame, set()), set(theirs.get(frame, ()))
        if mine == its:
            continue
        diff = (its - mine, mine - its)
        if diff == PROBE:
            continue
        known = KNOWN.get((name, frame))
        if known is not None and diff == known[:2]:
            continue
        left[frame] = {"tshark only": sorted(diff[0]), "compare only": sorted(diff[1])}
    assert left == {}


def test_every_listed_disagreement_still_happens():
    """(A listed disagreement that has gone away must be taken off the list.)"""
    for (name, frame), (only_tshark, only_ours, _) in KNOWN.items():
        ours, its = _ours(CAPTURES / name).get(frame, set()), set(TSHARK[name].get(frame, ()))
        assert (its - ours, ours - its) == (only_tshark, only_ours), (name, frame)


def test_the_zero_window_probes_are_where_the_peer_advertised_a_zero_window():
    """Each Linux window probe compare names (tshark: keep-alive) follows a zero window."""
    probes = 0
    for name in TSHARK:
        for c in Scan(CAPTURES / name):
            last_zero = {}
            for f in c.findings:
                if f.analysis == "zero_window":
                    last_zero[f.text.split(" ")[0]] = f.number
                if f.analysis == "zero_window_probe":
                    probes += 1
                    assert last_zero, (name, f.number)
                    assert TSHARK[name][str(f.number)] == ["keep_alive"]
    assert probes >= 10


def test_the_upload_shows_its_full_windows_zero_windows_and_updates():
    counts = Counter(n for names in _ours(CAPTURES / "tcpdump/upload-2mb.pcap").values()
                     for n in names)
    theirs = Counter(n for names in TSHARK["tcpdump/upload-2mb.pcap"].values() for n in names)
    assert counts["window_full"] == theirs["window_full"] == 50
    assert counts["zero_window"] == theirs["zero_window"] == 5
    assert counts["window_update"] == theirs["window_update"] == 3
    assert counts["zero_window_probe"] == theirs["keep_alive"] == 3
    assert counts["retransmission"] == theirs["retransmission"] == 6
    assert set(counts) <= set(ANALYSIS)


def test_a_capture_missing_a_segment_is_capture_loss_and_exits_0():
    r = run_cli("compare", CAPTURES / "tcpdump" / "upload-2mb-lost.pcap")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "conforms" in r.stdout and "departs" not in r.stdout
    assert "capture loss: server acknowledges 566169, but the capture saw client's bytes only " \
           "up to 519833: 46336 bytes client sent are missing from the capture" in r.stdout
    assert "capture loss: 46336 bytes of the client's missing from the capture, in 1 place(s)" \
        in r.stdout
    j = run_cli("compare", CAPTURES / "tcpdump" / "upload-2mb-lost.pcap", "--json")
    assert j.returncode == 0
    (c,) = json.loads(j.stdout)["connections"]
    assert c["verdict"] == "conforms"
    assert c["capture_loss"] == {"client": {"bytes": 46336, "gaps": 1}}
    lost = [(f["packet"], f["analysis"]) for f in c["findings"]
            if f.get("analysis") in ("lost_segment", "ack_lost_segment")]
    assert lost == [(41, "ack_lost_segment"), (42, "lost_segment")]


def test_the_whole_upload_has_no_capture_loss_and_the_cut_one_no_departure():
    (whole,) = list(Scan(CAPTURES / "tcpdump" / "upload-2mb.pcap"))
    assert whole.verdict == "conforms" and "capture_loss" not in whole.to_dict()
    (mid,) = list(Scan(CAPTURES / "tcpdump" / "upload-2mb-midstream.pcap"))
    assert mid.verdict == "partial" and mid.departures == [] and mid.midstream


def test_a_gap_in_the_sequence_without_its_ack_is_capture_loss(tmp_path):
    """The lost capture cut before the server's ACK of the missing bytes: the next data
    segment shows the gap (lost_segment), with the bytes, and no departure follows."""
    data = (CAPTURES / "tcpdump" / "upload-2mb-lost.pcap").read_bytes()
    import struct

    pos, out, n = 24, [data[:24]], 0
    while pos < len(data):
        size = 16 + struct.unpack_from("<I", data, pos + 8)[0]
        n += 1
        if n != 41:  # the server's ACK of the missing segment
            out.append(data[pos:pos + size])
        pos += size
    path = tmp_path / "gap.pcap"
    path.write_bytes(b"".join(out))
    (c,) = list(Scan(path))
    assert c.departures == []
    gap = [f for f in c.findings if f.analysis == "lost_segment"]
    assert [(f.number, f.text) for f in gap] == [
        (41, "capture loss: 46336 bytes from client before this segment are missing from the "
             "capture (sent, but not captured); taken as sent")]
    assert c.a.lost == 46336


@pytest.mark.parametrize("replay", [True, False])
def test_replaying_changes_no_finding(monkeypatch, replay):
    """A connection is replayed only when its windows too are a template's (the signature
    has every packet's window now): the findings are those of feeding every packet."""
    monkeypatch.setattr(rp, "ENABLED", replay)
    got = {name: sorted((k, sorted(v)) for k, v in _ours(CAPTURES / name).items())
           for name in ("request-response.pcap", "transfer-1m.pcap", "slow-reader.pcap")}
    monkeypatch.setattr(rp, "ENABLED", not replay)
    assert got == {name: sorted((k, sorted(v)) for k, v in _ours(CAPTURES / name).items())
                   for name in got}


def test_every_text_of_the_tracker_is_translated():
    with language("zh"):
        texts = [f.text for c in Scan(CAPTURES / "tcpdump" / "upload-2mb-lost.pcap")
                 for f in c.findings] + \
                [c.story() for c in Scan(CAPTURES / "tcpdump" / "upload-2mb-lost.pcap")]
    for text in texts:
        assert not any(w in text for w in (" the ", " sends ", "capture loss", "packets,")), text
    assert any("捕获丢失" in x for x in texts) and any("零窗口" in x for x in texts)
    r = run_cli("compare", CAPTURES / "tcpdump" / "upload-2mb-lost.pcap", "--lang", "zh")
    assert r.returncode == 0 and "捕获丢失" in r.stdout and "窗口已满" in r.stdout


def test_an_ipv6_connection_cites_the_tcp_v6_functions():
    from tcpsim.compare.tracker import analyse
    from tcpsim.pcap.reader import Packet

    c, s = (b"\0" * 15 + b"\1", 40000), (b"\0" * 15 + b"\2", 80)
    (conn,) = analyse([Packet(1, 0.0, c, s, 0x02, 100, 0, 100, b"", 0),
                       Packet(2, 0.1, s, c, 0x14, 0, 101, 0, b"", 0)])
    assert conn.a.path[0][2] == "tcp_v6_connect(), tcp_connect()"
    assert conn.findings[0].rule == "RFC 9293 3.10.7.1; tcp_v6_send_reset()"


def test_a_retransmission_within_a_millisecond_says_how_long_after():
    """lost-segment-sack's fast retransmission leaves 114 us after the original on lo: the
    note gave "after 0.000 s"; below a millisecond it counts microseconds."""
    (c,) = list(Scan(CAPTURES / "lost-segment-sack.pcap"))
    (f,) = [f for f in c.findings if f.number == 9]
    assert "again after 0.000114 s" in f.text, f.text
    # a second or more stays to the millisecond
    (c,) = list(Scan(CAPTURES / "lost-request.pcap"))
    assert any(" again after 0.2" in f.text and "0.2000" not in f.text for f in c.findings), \
        [f.text for f in c.findings]
