"""compare's per-connection summary (tcpsim/compare/summary.py): bytes, packets, durations and
windows per direction, Wireshark's tcp.completeness and Zeek's conn_state and history, in text
(both languages) and JSON; and compare's pictures of a capture (--sequence, --tsg).

tcp.completeness is held to tshark's own values (tests/data/tshark_completeness.json, recorded
by scripts/record_tshark_codes.py; a capture added since is read with tshark here, when it is
installed).  Zeek is not packaged for this Debian (apt-cache policy zeek: no candidate), so its
codes are pinned by cases worked by hand from Zeek's documentation and source, each quoting
the rule it checks.
"""

from __future__ import annotations

import json

import pytest

from tcpsim.compare.report import Scan
from tcpsim.compare.summary import of_packets
from tcpsim.pcap.reader import Packet, Reader
from tcpsim.trace.segment import encode_frame, parse_options

from .conftest import CAPTURES, ROOT, have, run_cli
from .test_compare import _bench_capture, _port_reuse, pcap_bytes

DATA = ROOT / "tests" / "data" / "tshark_completeness.json"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
C, S = (b"\x0a\x00\x00\x01", 40000), (b"\x0a\x00\x00\x02", 80)


def _tshark_streams(path) -> list[list[int]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("rtc", ROOT / "scripts" / "record_tshark_codes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.streams(path)


def _all_captures():
    return sorted(str(p.relative_to(CAPTURES)) for p in CAPTURES.rglob("*.pcap*"))


@pytest.mark.parametrize("name", _all_captures())
def test_completeness_is_tsharks_for_every_capture(name):
    """Each connection's code is the tcp.completeness tshark gives its stream, and compare's
    connections are tshark's streams (the same first frames)."""
    recorded = json.loads(DATA.read_text())["captures"]
    if name in recorded:
        rows = recorded[name]
    elif have("tshark"):
        rows = _tshark_streams(CAPTURES / name)
    else:
        pytest.fail(f"{name} is not in {DATA.name}: run scripts/record_tshark_codes.py")
    scan = Scan(CAPTURES / name)
    ours = {c.first: scan.summary(c).completeness for c in scan}
    assert ours == {first: value for _, first, value in rows}


def test_the_recorded_completeness_is_tsharks_today():
    """The data file is what the installed tshark says (one capture, read again)."""
    if not have("tshark"):
        pytest.skip("tshark is not installed")
    recorded = json.loads(DATA.read_text())["captures"]
    assert _tshark_streams(CAPTURES / "connect-refused.pcap") == recorded["connect-refused.pcap"]


# -- Zeek: cases worked from its source --------------------------------------------------------
def P(src, flags, seq, ack=0, length=0, win=65535, t=0.0, options=b""):
    return Packet(0, t, src, S if src == C else C, flags, seq % (1 << 32), ack % (1 << 32), win,
                  options, length)


def _zeek(packets):
    s = of_packets(packets)
    return s.zeek.conn_state(), s.zeek.history


def _handshake(extra=(), cs=1000, ss=5000):
    return [P(C, SYN, cs), P(S, SYN | ACK, ss, cs + 1), P(C, ACK, cs + 1, ss + 1), *extra]


@pytest.mark.parametrize("capture,state,history", [
    # "S: a SYN w/o the ACK bit set; h: a SYN+ACK; a: a pure ACK; d: packet with payload;
    # f: packet with FIN bit set" - the client (originator) upper case, the server lower case;
    # "SF: Normal establishment and termination"
    ("handshake.pcap", "SF", "ShAdfFa"),
    # "REJ: Connection attempt rejected" (the responder RESET while the originator is in
    # SYN_SENT: conn_state() in main.zeek); "r: packet with RST bit set"
    ("connect-refused.pcap", "REJ", "Sr"),
    # "RSTR: Responder sent a RST"
    ("close-unread.pcap", "RSTR", "ShADar"),
])
def test_zeek_codes_of_captures(capture, state, history):
    scan = Scan(CAPTURES / capture)
    got = [scan.summary(c) for c in scan][0]
    assert (got.zeek.conn_state(), got.zeek.history) == (state, history)


def test_zeek_s0_and_letters_again_at_another_sequence_number():
    """"S0: Connection attempt seen, no reply"; "'f', 'h', 'r' and 's' can be recorded multiple
    times for either direction if the associated sequence number differs from the last-seen
    packet of the same flag type".  A SYN's number is taken relative to the endpoint's start,
    which init_endpoint() moves to a new SYN's own number first ("SYN_seq_jump"), so a resent
    SYN is one S whatever its number; two RSTs at different numbers are two Rs
    ("RSTO: Connection established, originator aborted (sent a RST)")."""
    assert _zeek([P(C, SYN, 7), P(C, SYN, 7, t=1)]) == ("S0", "S")
    assert _zeek([P(C, SYN, 7), P(C, SYN, 9000, t=1)]) == ("S0", "S")
    assert _zeek(_handshake([P(C, RST, 1001), P(C, RST, 1001)])) == ("RSTO", "ShAR")
    assert _zeek(_handshake([P(C, RST, 1001), P(C, RST, 1500)])) == ("RSTO", "ShARR")


def test_zeek_retransmissions_are_counted_in_powers_of_ten():
    """"'c', 'g', 't' and 'w' are recorded in a logarithmic fashion: the second instance
    represents that the event was seen (at least) 10 times; the third instance, 100 times"
    (ScaledHistoryEntry()); a retransmission is a data segment that does not advance the
    highest sequence number (update_last_seq(): delta_last <= 0 && len > 0)."""
    data = [P(C, ACK | PSH, 1001, 5001, 100)]
    for n, want in ((1, "ShADT"), (9, "ShADT"), (10, "ShADTT"), (99, "ShADTT"),
                    (100, "ShADTTT")):
        again = [P(C, ACK | PSH, 1001, 5001, 100, t=i + 1) for i in range(n)]
        assert _zeek(_handshake(data + again)) == ("S1", want), n


def test_zeek_zero_window_and_data_on_a_fin():
    """'w': "packet with a zero window advertisement" (update_window(): not with a RST, nor
    after the peer's FIN); 'd' is only for a packet with none of SYN, FIN, RST
    (update_history(): bits_set == 0), so data on a FIN is an 'f' alone; "S3: Connection
    established and close attempt by responder seen (but no reply from originator)"."""
    got = _zeek(_handshake([P(S, ACK, 5001, 1001, win=0), P(S, ACK | FIN, 5001, 1001, 10)]))
    assert got == ("S3", "ShAawf")


def test_zeek_rstos0_and_sh():
    """"RSTOS0: Originator sent a SYN followed by a RST, we never saw a SYN-ACK from the
    responder" (history matches ^?S[^HAFGIQ]*R.*); "SH: Originator sent a SYN followed by a
    FIN, we never saw a SYN ACK from the responder"."""
    assert _zeek([P(C, SYN, 7), P(C, RST, 8)]) == ("RSTOS0", "SR")
    assert _zeek([P(C, SYN, 7), P(C, FIN | ACK, 8, 1)]) == ("SH", "SF")


def test_zeek_flips_a_connection_that_begins_with_its_syn_ack():
    """TCP_Endpoint::CheckHistory(): a pure ACK or data after a history of just "H" flips the
    roles and makes the history "^h"; then the (new) originator's ACK is 'A'.  Its end stays
    PARTIAL (UpdateInactiveState(): its peer is in SYN_ACK_SENT, not ESTABLISHED), so the
    connection is "OTH"."""
    state, history = _zeek([P(S, SYN | ACK, 5000, 1001), P(C, ACK, 1001, 5001)])
    assert (state, history) == ("OTH", "^hA")


def test_zeek_multi_flag_packets_and_oth():
    """'i': "inconsistent packet (e.g. FIN+RST bits set)"; 'q': "multi-flag packet (SYN+FIN or
    SYN+RST bits set)"; "OTH: No SYN seen, just midstream traffic"."""
    assert _zeek([P(C, ACK | PSH, 100, 200, 10), P(S, ACK, 200, 110)]) == ("OTH", "Da")
    assert _zeek([P(C, SYN | FIN, 7)])[1] == "Q"
    assert _zeek(_handshake([P(C, FIN | RST | ACK, 1001, 5001)]))[1] == "ShAI"


def test_directions_count_packets_bytes_time_and_scale_windows():
    """Per direction: packets, payload bytes, first to last packet; a window scaled by its
    sender's SYN shift when both SYNs offered one (RFC 7323 2.2), the SYN's own unscaled."""
    ws7 = b"\x01\x03\x03\x07"
    pk = [P(C, SYN, 1000, win=65495, options=ws7),
          P(S, SYN | ACK, 5000, 1001, win=65483, t=0.001, options=b"\x01\x03\x03\x02"),
          P(C, ACK, 1001, 5001, win=512, t=0.002),
          P(C, ACK | PSH, 1001, 5001, 300, win=512, t=0.5),
          P(S, ACK, 5001, 1301, win=1000, t=0.75)]
    s = of_packets(pk)
    assert (s.a.packets, s.a.bytes, s.a.duration()) == (3, 300, 0.5)
    assert (s.b.packets, s.b.bytes, s.b.duration()) == (2, 0, 0.75 - 0.001)
    assert (s.scaled(s.a), s.scaled(s.b)) == (512 << 7, 1000 << 2)
    no_scale = of_packets([pk[0], P(S, SYN | ACK, 5000, 1001, win=65483), pk[2]])
    assert no_scale.scaled(no_scale.a) == 512


# -- replayed connections (compare/replay.py) have the summaries of fed ones -------------------
@pytest.mark.parametrize("edit", ["plain", "port-reuse", "time-jump"])
def test_replayed_connections_have_the_summaries_packets_give(tmp_path, monkeypatch, edit):
    from tcpsim.compare import replay as rp

    from .test_compare import EDITS

    path = _port_reuse(tmp_path) if edit == "port-reuse" else \
        _bench_capture(tmp_path, edit=EDITS[edit])

    def summaries(enabled):
        monkeypatch.setattr(rp, "ENABLED", enabled)
        scan = Scan(path)
        return [(c.id, scan.summary(c).to_dict()) for c in scan]

    fed, replayed = summaries(False), summaries(True)
    assert len(fed) > 10 and replayed == fed


# -- the command ---------------------------------------------------------------------------------
def test_compare_json_carries_the_codes():
    r = run_cli("compare", CAPTURES / "close-unread.pcap", "--json")
    c = json.loads(r.stdout)["connections"][0]
    assert (c["completeness"], c["completeness_names"]) == (47, ["SYN", "SYN-ACK", "ACK", "DATA",
                                                                  "RST"])
    assert (c["zeek"]["conn_state"], c["zeek"]["history"]) == ("RSTR", "ShADar")
    d = c["directions"][0]
    assert (d["packets"], d["bytes"], d["wscale"], d["window"], d["window_scaled"]) == \
        (3, 17, 10, 64, 65536)


def test_compare_text_in_both_languages():
    en = run_cli("compare", CAPTURES / "close-unread.pcap")
    assert "Wireshark tcp.completeness 47 (SYN+SYN-ACK+ACK+DATA+RST); Zeek conn_state RSTR " \
        "(the responder sent a RST), history ShADar" in en.stdout
    assert "window scale 10 (×1024): last window 65536 bytes (raw 64)" in en.stdout
    zh = run_cli("compare", CAPTURES / "close-unread.pcap", "--lang", "zh")
    assert zh.returncode == en.returncode == 0
    assert "连接 1" in zh.stdout and "符合" in zh.stdout and "响应方发送了 RST" in zh.stdout
    for word in ("connection 1", "conforms", "packets, both sides", "frames", "window scale"):
        assert word not in zh.stdout, word


def test_compare_names_tcp_v6_functions_over_ipv6(tmp_path):
    frames = []
    with Reader(CAPTURES / "handshake.pcap", payload=True) as r:
        for p in r:
            six = {p.src[1]: ("::1", p.src[1]), p.dst[1]: ("::1", p.dst[1])}
            frames.append((p.t, encode_frame(six[p.src[1]], six[p.dst[1]], p.flags, p.seq, p.ack,
                                             p.win, parse_options(p.options), p.payload)))
    path = tmp_path / "v6.pcap"
    path.write_bytes(pcap_bytes(frames))
    out = run_cli("compare", path).stdout
    assert "tcp_v6_connect()" in out and "tcp_v4_" not in out
    doc = json.loads(run_cli("compare", path, "--json").stdout)
    rules = [s["rule"] for e in doc["connections"][0]["ends"] for s in e["states"]]
    assert any("tcp_v6_" in r for r in rules) and not any("tcp_v4_" in r for r in rules)


def test_compare_draws_the_chosen_connection(tmp_path):
    svg, tsg = tmp_path / "c.svg", tmp_path / "t.svg"
    r = run_cli("compare", CAPTURES / "connect-refused.pcap", "--connection", "2",
                "--sequence", svg, "--tsg", tsg, "--json")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)  # (the JSON alone on standard output)
    assert f"wrote {svg}" in r.stderr
    text = svg.read_text()
    assert "connection 2" in text and text.count('class="segment-label"') == 2
    assert tsg.read_text().startswith("<svg") or "<svg" in tsg.read_text()[:200]


def test_compare_marks_a_resent_segment_in_the_ladder(tmp_path):
    svg = tmp_path / "c.svg"
    run_cli("compare", CAPTURES / "duplicate-segment.pcap", "--sequence", svg, check=True)
    assert 'class="timer-label"' in svg.read_text()


def test_compare_refuses_a_connection_it_does_not_have(tmp_path):
    r = run_cli("compare", CAPTURES / "handshake.pcap", "--connection", "3", "--sequence",
                tmp_path / "x.svg")
    assert r.returncode == 2 and "no connection 3" in r.stderr and "it has 1" in r.stderr


@pytest.mark.parametrize("edit", ["plain", "port-reuse"])
def test_the_json_of_replayed_connections_is_the_json_of_fed_ones(tmp_path, monkeypatch, edit):
    """write_json() makes a replayed connection's summary from its template's (_Lazy.to_dict):
    the same document as feeding every packet makes."""
    import io

    from tcpsim.compare import replay as rp
    from tcpsim.compare.report import write_json

    path = _port_reuse(tmp_path) if edit == "port-reuse" else _bench_capture(tmp_path)
    docs = []
    for enabled in (True, False):
        monkeypatch.setattr(rp, "ENABLED", enabled)
        out = io.StringIO()
        write_json(path, out)
        docs.append(json.loads(out.getvalue()))
    assert len(docs[0]["connections"]) > 10 and docs[0] == docs[1]
    assert all("zeek" in c for c in docs[0]["connections"])


# -- runs of ordinary packets summed over arrays (Summary.bulk) ---------------------------------
def _state(s):
    """Everything a Summary holds (to hold bulk() to add() field by field)."""
    z = s.zeek
    ends = [{k: getattr(e, k) for k in ("state", "start", "ack_seq", "last_seq", "seen_max",
                                         "counts", "fin_cnt")} for e in (z.orig, z.resp)]
    return (s.to_dict(("a", "b")), z.history, z.seen, ends)


def _random_stream(rng, n, cs, ss, blank_acks):
    """A handshake, then n packets without SYN, FIN or RST both ways: new data, resent data
    (T), zero windows (W), ACKs of bytes never shown (G), a few packets without ACK, sequence
    numbers wrapping past 2^32."""
    out = _handshake(cs=cs, ss=ss)
    nxt, acked = {C: cs + 1, S: ss + 1}, {C: ss + 1, S: cs + 1}
    t = 1.0
    for _ in range(n):
        src = C if rng.random() < 0.6 else S
        dst = S if src == C else C
        r = rng.random()
        length = 0 if r < 0.3 else rng.choice((1, 100, 1460))
        seq = nxt[src]
        if length and rng.random() < 0.1:  # a resend of earlier bytes
            seq = nxt[src] - rng.choice((length, 3 * length, 10))
        elif length:
            nxt[src] += length
        if rng.random() < 0.05:  # an ACK beyond what the capture showed: a gap
            acked[src] = nxt[dst] + rng.choice((1, 1460))
            nxt[dst] = acked[src]
        elif rng.random() < 0.7:
            acked[src] = nxt[dst] - rng.choice((0, 0, 1460))
        flags = 0 if blank_acks and rng.random() < 0.02 else ACK | (PSH if length else 0)
        win = 0 if rng.random() < 0.04 else rng.choice((512, 65535))
        t += rng.random() / 1000
        out.append(P(src, flags, seq, acked[src], length, win, t))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_bulk_sums_what_add_sums(seed):
    """Summary.bulk() over a stretch is add() packet by packet: the same JSON, history, letters'
    counts and Zeek's sequence numbers, whatever the stretch (where it cannot, it says so and
    changes nothing)."""
    import random

    import numpy as np

    rng = random.Random(seed)
    # ISNs near 2^32: the stream wraps in some seeds
    cs, ss = rng.choice((1000, (1 << 32) - 50_000)), rng.choice((5000, (1 << 32) - 3000))
    packets = _random_stream(rng, rng.choice((300, 2000)), cs, ss, seed % 3 == 0)
    want = of_packets(packets)
    got = of_packets(packets[:3])
    cuts = sorted(rng.sample(range(3, len(packets)), 4)) + [len(packets)]
    at, used = 3, 0
    for cut in cuts:
        run = packets[at:cut]
        cols = [np.array([getattr(p, f) for p in run]) for f in ("flags", "seq", "ack", "win",
                                                                 "length", "t")]
        isa = np.array([p.src == got.a_ep for p in run], dtype=bool)
        before = _state(got)
        if got.bulk(isa, *cols):
            used += 1
        else:
            assert _state(got) == before
            for p in run:
                got.add(p.src, p.flags, p.seq, p.ack, p.win, p.length, p.t, p.options)
        at = cut
    assert used
    assert _state(got) == _state(want)
    assert want.zeek.history != "ShAa"  # (the stream made letters beyond the handshake's)


def _closed(cport, t):
    """A short connection through (both FINs acknowledged): one compare/replay.py replays."""
    c = (C[0], cport)
    out = [P(c, SYN, 1000, t=t), P(S, SYN | ACK, 5000, 1001, t=t), P(c, ACK, 1001, 5001, t=t),
           P(c, ACK | PSH, 1001, 5001, 10, t=t), P(S, ACK, 5001, 1011, t=t),
           P(c, FIN | ACK, 1011, 5001, t=t), P(S, FIN | ACK, 5001, 1012, t=t),
           P(c, ACK, 1012, 5002, t=t)]
    for p in out:
        p.dst = S if p.src == c else c
    return out


@pytest.mark.parametrize("kind", ["long", "beside-replayed"])
def test_compare_json_is_the_same_with_runs_summed_over_arrays(tmp_path, monkeypatch, kind):
    """compare --json of a capture whose connections have long runs of ordinary packets is the
    same document whether those runs go through Summary.bulk() or add() one by one: for
    connections fed packet by packet (Block parts with lists) and for ones beside replayed
    connections (a Block's arrays)."""
    import io
    import random

    from tcpsim.compare import summary as sm
    from tcpsim.compare.report import write_json

    rng = random.Random(kind)
    streams = []
    for k in range(3):
        n = 3000 if kind == "long" else 600  # (replay.py replays at most LONGEST packets)
        s = _random_stream(rng, n, rng.choice((1000, (1 << 32) - 40_000)), 5000 + k, k == 2)
        c = (C[0], 40000 + k)
        for p in s:
            if p.src == C:
                p.src = c
            else:
                p.dst = c
        streams.append(s)
    if kind == "beside-replayed":
        streams += [_closed(50000 + k, 1.0 + k / 1000) for k in range(40)]
    packets = sorted((p for s in streams for p in s), key=lambda p: p.t)
    frames = [(p.t, encode_frame(("10.0.0.1" if p.src[0] == C[0] else "10.0.0.2", p.src[1]),
                                 ("10.0.0.1" if p.dst[0] == C[0] else "10.0.0.2", p.dst[1]),
                                 p.flags, p.seq, p.ack, p.win, [], b"x" * p.length))
              for p in packets]
    path = tmp_path / f"{kind}.pcap"
    path.write_bytes(pcap_bytes(frames))
    used = []
    bulk = sm.Summary.bulk

    def counted(self, *args):
        got = bulk(self, *args)
        used.append(got)
        return got

    monkeypatch.setattr(sm.Summary, "bulk", counted)
    docs = []
    for run_min in (sm.RUN_MIN, 1 << 40):
        monkeypatch.setattr(sm, "RUN_MIN", run_min)
        out = io.StringIO()
        write_json(path, out)
        docs.append(json.loads(out.getvalue()))
    assert any(used) and docs[0] == docs[1]
    histories = [c["zeek"]["history"] for c in docs[0]["connections"]]
    assert any("T" in h and "W" in h for h in histories)
