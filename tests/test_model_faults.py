"""The model's wire for `net: duplicate` and `seq S` (issue 18): what each segment becomes.

The built-ins duplicate-* and lost-last-write hold the same against the kernel's captures
and live; these pin the model's exchange field by field and the wire's own rules.
"""

from tcpsim.model import KernelProfile
from tcpsim.scenario import parse
from tcpsim.sim.world import Dup, Wire, run_model

HEAD = ("server: s = socket()\nserver: bind(s, 0.0.0.0:8080) = 0\nserver: listen(s, 3) = 0\n"
        "server: c = accept(s)\nclient: fd = socket()\n")
PING = HEAD + ("client: connect(fd, 127.0.0.1:8080) = 0\nclient: send(fd, \"ping\\n\") = 5\n"
               "server: recv(c, 100) = 5\nserver: send(c, \"pong\\n\") = 5\n"
               "client: recv(fd, 100) = 5\n")
THREE = HEAD + ("client: setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1) = 0\n"
                "client: connect(fd, 127.0.0.1:8080) = 0\nclient: send(fd, 1000) = 1000\n"
                "client: send(fd, 1000) = 1000\nclient: send(fd, 1000) = 1000\n"
                "server: recv(c, 3000, MSG_WAITALL) = 3000\n")


def _run(text: str):
    prog = parse(text)
    return prog, run_model(prog, KernelProfile.builtin("reference"))


def rows(trace):
    """(sender, flags, rel seq, rel ack, length, copy, SACK blocks) of every segment."""
    owner = trace.endpoint_names()
    return [(owner.get(r.seg.src).split(".")[0], r.flags, r.seq, r.ack if r.seg.has_ack else None,
             r.seg.length, bool(r.seg.copy), next((v for n, v in r.options if n == "sack"), None))
            for r in trace.relative()]


def test_a_duplicated_request_arrives_twice_and_the_copy_gets_a_dsack_ack_at_once():
    prog, trace = _run(PING + "net: duplicate 1 DATA from client\n")
    assert rows(trace)[3:8] == [
        ("client", "P.", 1, 1, 5, False, None),  # the request, sent once by TCP
        ("server", ".", 1, 6, 0, False, None),  # quick ACK of the original
        ("client", "P.", 1, 1, 5, True, None),  # the network's copy, after that ACK
        ("server", ".", 1, 6, 0, False, [[1, 6]]),  # tcp_data_queue() old data: D-SACK
        ("server", "P.", 1, 6, 5, False, None),  # pong
    ]
    original, copy = [s for s in trace.segments if s.length == 5 and s.src.endswith(
        trace.segments[0].src.rsplit(":", 1)[1])]
    assert (copy.seq, copy.ack, copy.win, copy.options, copy.payload) == \
        (original.seq, original.ack, original.win, original.options, original.payload)
    assert trace.drops == {prog.faults[0].line: 1}
    assert all(c.ok is not False for c in trace.calls)


def test_a_late_copy_comes_by_its_duration_after_the_original_reached_lo():
    prog, trace = _run(PING + "client: sleep(50ms)\nnet: duplicate 1 DATA from client by 30ms\n")
    segs = trace.segments
    original = next(s for s in segs if s.length == 5)
    copy = next(s for s in segs if s.copy)
    assert round(copy.t - original.t, 6) == 0.03
    after = rows(trace)[segs.index(copy) + 1]
    assert after == ("server", ".", 6, 6, 0, False, [[1, 6]])  # pong went first: seq 6


def test_a_copy_below_the_window_is_answered_by_tcp_send_dupack():
    prog, trace = _run(THREE + "client: sleep(50ms)\n"
                       "net: duplicate DATA from client seq 1 by 20ms\n")
    r = rows(trace)
    i = next(i for i, row in enumerate(r) if row[5])
    assert r[i:i + 2] == [("client", "P.", 1, 1, 1000, True, None),
                          ("server", ".", 1, 3001, 0, False, [[1, 1001]])]


def test_every_copy_skips_the_net_lines_so_duplicate_all_ends():
    """`all` would copy its own copies forever if a copy went through the lines again."""
    prog, trace = _run(THREE + "net: duplicate all DATA from client\n")
    data = [row for row in rows(trace) if row[0] == "client" and row[4]]
    assert [(seq, copy) for _, _, seq, _, _, copy, _ in data] == [
        (1, False), (1, True), (1001, False), (1001, True), (2001, False), (2001, True)]
    assert trace.drops == {prog.faults[0].line: 3}


def test_seq_takes_the_segment_starting_at_that_byte_and_no_other():
    prog, trace = _run(THREE + "net: drop DATA from client seq 2001\n"
                       "net: drop DATA from client seq 1500\n")
    lost, never = prog.faults
    assert trace.drops == {lost.line: 1, never.line: 0}  # nothing starts at byte 1500
    data = [(row[1], row[2], row[4]) for row in rows(trace) if row[0] == "client" and row[4]]
    assert data == [("P.", 1, 1000), ("P.", 1001, 1000), ("P.", 2001, 1000),
                    ("P.", 2001, 1000)]  # the third, lost, and its loss probe
    probe = [s for s in trace.segments if s.length][-1]
    assert 0.2 < probe.t - [s for s in trace.segments if s.length][-2].t < 0.21


def test_the_wire_counts_seq_from_each_directions_syn_across_the_wrap():
    line = parse(HEAD + "client: connect(fd, 127.0.0.1:8080)\n"
                 "net: duplicate DATA from client seq 10 by 1ms\n").faults[0]
    wire = Wire([line])
    key = (("127.0.0.1", 40000), ("127.0.0.1", 8080))
    isn = 2**32 - 4
    assert wire.fate("S", 0, 40000, 8080, isn, key) is None
    assert wire.fate("P.", 9, 40000, 8080, (isn + 1) % 2**32, key) is None  # starts at 1
    fate = wire.fate("P.", 9, 40000, 8080, (isn + 10) % 2**32, key)  # 6 after the wrap
    assert isinstance(fate, Dup) and fate.after == 0.001
    back = (key[1], key[0])  # the server's direction has its own ISN: none seen, no match
    assert wire.fate("P.", 9, 8080, 40000, (isn + 10) % 2**32, back) is None
    assert wire.dropped == {line.line: 1}


def test_a_duplicated_syn_finds_the_connection_established_and_gets_a_challenge_ack():
    prog, trace = _run(PING + "net: duplicate SYN\n")
    assert rows(trace)[:5] == [
        ("client", "S", 0, None, 0, False, None),
        ("server", "S.", 0, 1, 0, False, None),
        ("client", ".", 1, 1, 0, False, None),  # the handshake is over on lo first
        ("client", "S", 0, None, 0, True, None),
        ("server", ".", 1, 1, 0, False, None),  # RFC 5961 4.2: tcp_send_challenge_ack()
    ]


GSO = HEAD + ("client: connect(fd, 127.0.0.1:8080) = 0\nclient: send(fd, 4000) = 4000\n"
              "server: recv(c, 4000, MSG_WAITALL) = 4000\nclient: close(fd) = 0\n"
              "server: recv(c, 100) = 0\nserver: close(c) = 0\n"
              "net: duplicate 1 DATA from client\n")


def test_a_duplicated_gso_packet_reaches_the_receiver_as_its_segments_each_with_its_copy():
    """At MTU 1500 a 4000-byte write leaves as one GSO packet (one frame in the capture).
    The lab's NFQUEUE takes it cut into its MSS-sized segments (nfqnl_enqueue_packet():
    skb_gso_segment(); PSH on the last only, IP ids in a row) and lets each go in turn, its
    copy after it: measured on 6.18, segments 1448, 1448 and 1104, each ACKed and then
    D-SACKed."""
    prog = parse(GSO)
    trace = run_model(prog, KernelProfile.builtin("reference").with_mtu(1500))
    r = rows(trace)
    assert r[3:13] == [
        ("client", "P.", 1, 1, 4000, False, None),  # the GSO packet as sent
        ("server", ".", 1, 1449, 0, False, None),
        ("client", ".", 1, 1, 1448, True, None),
        ("server", ".", 1, 1449, 0, False, [[1, 1449]]),
        ("server", ".", 1, 2897, 0, False, None),
        ("client", ".", 1449, 1, 1448, True, None),
        ("server", ".", 1, 2897, 0, False, [[1449, 2897]]),
        ("server", ".", 1, 4001, 0, False, None),
        ("client", "P.", 2897, 1, 1104, True, None),
        ("server", ".", 1, 4001, 0, False, [[2897, 4001]]),
    ]
    sent = trace.segments[3]
    assert [s.ip_id for s in trace.segments if s.copy] == [sent.ip_id, sent.ip_id + 1,
                                                           sent.ip_id + 2]
    assert [s.win for s in trace.segments[4:13] if not s.copy] == [67, 67, 70, 70, 73, 73]


def test_the_timeline_ladder_and_explanation_call_the_copy_the_networks():
    from .conftest import run_cli

    r = run_cli("run", "duplicate-request", "--explain", check=True)
    lines = r.stdout.splitlines()
    copy = [i for i, line in enumerate(lines) if line.endswith("len 5  (the network's copy)")]
    assert len(copy) == 1
    assert lines[copy[0] + 1].strip().startswith("↳ A copy of an earlier segment made by the "
                                                 "network (a net: duplicate line), not by TCP")
    dsack = lines[copy[0] + 2]
    assert "sack {1:6}" in dsack and "A duplicate SACK (D-SACK, RFC 2883): the receiver got " \
        "sequence numbers 1-6 a second time" in lines[copy[0] + 3]
    assert sum("len 5 (copy) ──" in line for line in lines) == 1  # the ladder's arrow
    zh = run_cli("run", "duplicate-request", "--lang", "zh", check=True).stdout
    assert zh.count("（网络复制的副本）") == 1 and zh.count("（副本）") == 1
