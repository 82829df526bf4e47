"""Teaching artefacts: explanations, the sequence diagram, the quiz, the notebook view."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tcpsim.i18n import language
from tcpsim.model import KernelProfile
from tcpsim.render.sequence import ROW, segment_marks, sequence_canvas
from tcpsim.scenario import builtin_names, load
from tcpsim.scenario import parse as parse_program
from tcpsim.sim.world import run_model
from tcpsim.teach import explain
from tcpsim.teach.quiz import run_quiz, same_flags, same_state
from tcpsim.trace import Call, Segment, State, Trace
from tcpsim.trace.diff import Difference

from .conftest import CAPTURES, run_cli

SVG = "{http://www.w3.org/2000/svg}"


def model(name: str) -> Trace:
    return run_model(load(name), KernelProfile.named("reference"))


def kinds(trace: Trace) -> list[str]:
    whys = explain(trace)
    return [whys[id(s)].key.removeprefix("why.seg.") for s in trace.segments]


# -- explanations --------------------------------------------------------------------------
def test_the_handshake_program_is_explained_segment_by_segment():
    assert kinds(model("handshake")) == [
        "syn", "synack", "ack.handshake", "data", "ack.quick", "fin", "fin.acks_fin", "ack.fin"]


@pytest.mark.parametrize("name, expected", [
    ("connect-refused", ["syn", "rst.refused", "syn", "rst.refused"]),
    ("lost-syn", ["syn", "syn.again", "syn.again", "synack", "ack.handshake"]),
    ("close-unread", ["syn", "synack", "ack.handshake", "data", "ack.quick",
                      "rule.ESTABLISHED.close_unread"]),
    ("teardown-four-segment", ["syn", "synack", "ack.handshake", "data", "ack.quick", "data",
                               "ack.quick", "fin", "ack.fin.delayed", "fin", "ack.fin"]),
    ("keepalive-dead-peer", ["syn", "synack", "ack.handshake", "probe.keepalive", "ack.probe",
                             "probe.keepalive", "ack.probe", "probe.keepalive", "ack.probe",
                             "rule.ESTABLISHED.keepalive_out"]),
])
def test_segments_are_explained_by_what_they_are(name, expected):
    assert kinds(model(name))[:len(expected)] == expected


def test_a_zero_windows_probe_is_not_called_a_keepalive():
    """Both are bare ACKs one below snd_nxt (tcp_xmit_probe_skb()); to a closed window it is
    the persist timer's."""
    assert "probe.keepalive" not in kinds(model("slow-reader"))
    assert kinds(model("keepalive")).count("probe.keepalive") == 2


def test_a_delayed_ack_says_how_long_it_waited():
    trace = model("delayed-ack")
    whys = explain(trace)
    delayed = [whys[id(s)] for s in trace.segments if whys[id(s)].key == "why.seg.ack.delayed"]
    assert len(delayed) == 1 and "40 ms" in delayed[0].text
    assert "tcp_delack_timer()" in delayed[0].ref and "RFC 1122 4.2.3.2" in delayed[0].ref


def test_state_changes_cite_their_row_of_the_table():
    trace = model("handshake")
    whys = explain(trace)
    steps = [(s.socket, s.state, whys[id(s)].key) for s in trace.states if s.via == "transition"]
    assert steps[:5] == [
        ("server.s", "LISTEN", "rule.CLOSE.listen"),
        ("client.fd", "SYN_SENT", "rule.CLOSE.connect"),
        ("server.c", "NEW_SYN_RECV", "rule.LISTEN.rcv_syn"),
        ("client.fd", "ESTABLISHED", "rule.SYN_SENT.rcv_synack"),
        ("server.c", "ESTABLISHED", "rule.NEW_SYN_RECV.rcv_ack"),
    ]
    refs = {whys[id(s)].ref for s in trace.states if s.via == "transition"}
    assert "RFC 9293 3.10.7.3 · tcp_rcv_synsent_state_process()" in refs


@pytest.mark.parametrize("name", builtin_names())
def test_every_step_of_every_builtin_is_explained(name):
    trace = model(name)
    whys = explain(trace)
    for ev in trace.events:
        if isinstance(ev, (Call, Segment)) or isinstance(ev, State) and ev.via == "transition":
            assert id(ev) in whys, ev
            assert whys[id(ev)].text.strip()


def test_calls_and_errors_are_explained():
    trace = model("time-wait-reuse")
    whys = explain(trace)
    failed = [c for c in trace.calls if c.errno == "EADDRINUSE"]
    assert failed and whys[id(failed[0])].key == "why.errno.EADDRINUSE"
    trace = model("half-close")
    eof = [c for c in trace.calls if c.text.startswith("recv") and c.result == 0]
    assert eof and explain(trace)[id(eof[0])].key == "why.call.recv.eof"


def test_a_kernel_trace_is_explained_too():
    """The lab sees states only between calls: each is matched to the row that leads there."""
    trace = Trace.load(CAPTURES / "handshake.json")
    whys = explain(trace)
    assert [whys[id(s)].key.removeprefix("why.seg.") for s in trace.segments][:3] == [
        "syn", "synack", "ack.handshake"]
    keys = {w.key for w in whys.values()}
    assert "rule.ESTABLISHED.rcv_fin" in keys  # ESTABLISHED -> CLOSE_WAIT seen on the kernel


def test_run_explain_prints_a_reason_under_each_step():
    out = run_cli("run", "handshake", "--explain", check=True).stdout
    lines = out.splitlines()
    syn = next(i for i, ln in enumerate(lines) if "[S]" in ln and "seq 0" in ln)
    assert lines[syn + 1].lstrip().startswith("↳ The first segment of the three-way handshake")
    assert "[RFC 9293" in lines[syn + 1]
    zh = run_cli("run", "handshake", "--explain", "--lang", "zh", check=True).stdout
    assert "三次握手的第一个报文段" in zh and "连接释放阶段" in zh


# -- the sequence diagram -------------------------------------------------------------------
def _svg(canvas) -> ET.Element:
    return ET.fromstring(canvas.svg())


def _by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_the_sequence_diagram_of_the_handshake():
    trace = model("handshake")
    root = _svg(sequence_canvas(trace))
    # the side that opens on the left, as in the text ladder and the textbooks' figures
    assert [e.text for e in _by_class(root, "lane-name")] == ["client", "server"]
    assert [e.text for e in _by_class(root, "segment-label")] == [
        "[S] seq 0 len 0", "[S.] seq 0 ack 1 len 0", "[.] seq 1 ack 1 len 0",
        "[P.] seq 1 ack 1 len 19", "[.] seq 1 ack 20 len 0", "[F.] seq 20 ack 1 len 0",
        "[F.] seq 1 ack 21 len 0", "[.] seq 21 ack 2 len 0"]
    arrows = _by_class(root, "segment")
    assert len(arrows) == 8
    # arrows slant down from the sender's lane to the receiver's
    lane_x = {e.text: float(e.get("x")) for e in _by_class(root, "lane-name")}
    first = arrows[0]
    assert float(first.get("x1")) == lane_x["client"] and float(first.get("x2")) == lane_x["server"]
    assert float(first.get("y2")) > float(first.get("y1"))
    states = [e.text for e in _by_class(root, "state-name")]
    assert states[:4] == ["CLOSE", "LISTEN", "CLOSE", "SYN_SENT"] and "TIME_WAIT" in states


def test_the_phases_are_shaded_with_the_handshake_and_the_fin_in_their_own():
    trace = model("handshake")
    root = _svg(sequence_canvas(trace))
    bands = _by_class(root, "phase")
    assert [b.get("class") for b in bands] == ["phase phase-0", "phase phase-1", "phase phase-2"]
    assert [e.text for e in _by_class(root, "phase-label")] == [
        "Connection establishment · three-way handshake", "Data transfer · data and its ACKs",
        "Connection release · FIN and ACK in each direction"]

    def band_of(y: float) -> int:
        return next(i for i, b in enumerate(bands)
                    if float(b.get("y")) <= y < float(b.get("y")) + float(b.get("height")))

    ys = [float(a.get("y1")) for a in _by_class(root, "segment")]
    assert [band_of(y) for y in ys] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert all(float(b.get("height")) >= ROW for b in bands)


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_draws_one_arrow_per_segment(name):
    trace = model(name)
    root = _svg(sequence_canvas(trace))
    assert len(_by_class(root, "segment")) == len(trace.segments)
    assert len(_by_class(root, "segment-label")) == len(trace.segments)
    resets = [s for s in trace.segments if "R" in s.flags]
    assert sum(1 for e in _by_class(root, "segment") if e.get("stroke") == "#c0392b") == len(resets)


def test_verify_marks_each_segment():
    trace = model("handshake")
    diffs = [Difference("segment", 5, "win", "63", "64", "..."),
             Difference("count", 8, "segments", "8", "7", "...")]
    marks = segment_marks(trace, diffs)
    assert marks == {1: True, 2: True, 3: True, 4: True, 5: False, 6: True, 7: True, 8: False}
    root = _svg(sequence_canvas(trace, marks))
    assert len(_by_class(root, "match")) == 6 and len(_by_class(root, "mismatch")) == 2


def test_the_sequence_diagram_as_png(tmp_path):
    from PIL import Image

    canvas = sequence_canvas(model("handshake"))
    canvas.save(tmp_path / "ladder.png")
    with Image.open(tmp_path / "ladder.png") as img:
        assert img.size == (round(canvas.width * 2), round(canvas.height * 2))
        colours = {c for _, c in img.getcolors(1 << 20)}
    assert (0xe8, 0xf1, 0xfb) in colours  # the establishment band is drawn


def test_the_cli_writes_the_sequence_diagram(tmp_path):
    r = run_cli("run", "handshake", "--sequence", tmp_path / "l.svg", "--sequence",
                tmp_path / "l.png", "--lang", "zh", check=True)
    assert (tmp_path / "l.png").stat().st_size > 10_000
    text = (tmp_path / "l.svg").read_text()
    assert "连接建立阶段" in text and "三次握手的第一个报文段" in text  # explanations as tooltips
    assert "l.svg" in r.stdout
    bad = run_cli("run", "handshake", "--sequence", tmp_path / "l.gif")
    assert bad.returncode == 2 and ".svg or .png" in bad.stderr and "Traceback" not in bad.stderr


def test_a_trace_shows_its_ladder_in_a_notebook():
    trace = model("handshake")
    svg = trace._repr_svg_()
    assert svg.startswith("<svg") and svg.count('class="segment"') == 8
    assert trace._repr_html_().count("<svg") == 1


# -- the quiz -------------------------------------------------------------------------------
HANDSHAKE_ANSWERS = [
    "LISTEN",  # server.s after listen()
    "SYN_SENT",  # client.fd after connect()
    "S", "0", "",  # the SYN (no ack)
    "NEW_SYN_RECV",
    "S.", "0", "1",
    "ESTABLISHED",  # client.fd
    ".", "1", "1",
    "ESTABLISHED",  # server.c
]


def _quiz(answers: list[str], name="handshake"):
    feed = iter(answers)
    said: list[str] = []
    score = run_quiz(model(name), lambda q: next(feed, None), lambda text, style: said.append(text))
    return score, said


def test_the_quiz_scores_the_textbook_answers_right():
    score, said = _quiz(HANDSHAKE_ANSWERS)
    assert (score.right, score.asked) == (8, 8)  # a segment is one question
    assert said.count("Right.") == 8
    assert any("The first segment of the three-way handshake" in s for s in said)


def test_a_wrong_prediction_gets_the_answer_and_the_rule():
    answers = list(HANDSHAKE_ANSWERS)
    answers[6:9] = ["S", "0", "1"]  # the SYN-ACK's flags wrong
    score, said = _quiz(answers)
    assert (score.right, score.asked) == (7, 8)
    wrong = said.index("Not quite: [S.] seq 0 ack 1 len 0.")
    assert "SYN-ACK" in said[wrong + 1] or "handshake" in said[wrong + 1]


def test_quiz_answers_from_standard_input():
    stdin = "\n".join(HANDSHAKE_ANSWERS[:5]) + "\n"
    r = run_cli("quiz", "handshake", input=stdin, check=True)
    assert r.stdout.count("Right.") == 3 and "3 of 3 answers right." in r.stdout
    zh = run_cli("quiz", "handshake", "--lang", "zh", input="LISTEN\n", check=True)
    assert "正确。" in zh.stdout and "答对 1 题，共 1 题。" in zh.stdout


@pytest.mark.parametrize("answer, flags, ok", [
    ("S.", "S.", True), (".S", "S.", True), ("[S.]", "S.", True), ("SA", "S.", True),
    ("S", "S.", False), ("FP.", "FP.", True), ("P.", "F.", False)])
def test_flags_are_compared_as_a_set(answer, flags, ok):
    assert same_flags(answer, flags) is ok


def test_explanations_survive_the_json_round_trip():
    trace = model("handshake")
    again = Trace.from_dict(json.loads(trace.to_json()))
    assert kinds(again) == kinds(trace)
    with language("zh"):
        assert re.search("[\u4e00-\u9fff]", explain(again)[id(again.segments[0])].text)


@pytest.mark.parametrize("answer, state", [
    ("SYN-SENT", "SYN_SENT"), ("syn_sent", "SYN_SENT"), ("SYN_RCVD", "NEW_SYN_RECV"),
    ("SYN-RECEIVED", "NEW_SYN_RECV"), ("SYN_RECV", "NEW_SYN_RECV"), ("SYN_RCVD", "SYN_RECV"),
    ("FIN-WAIT-1", "FIN_WAIT1"), ("FIN_WAIT_2", "FIN_WAIT2"), ("fin wait 2", "FIN_WAIT2"),
    ("CLOSED", "CLOSE"), ("ESTAB", "ESTABLISHED"), ("TIME-WAIT", "TIME_WAIT"),
    ("LAST-ACK", "LAST_ACK"), ("CLOSE-WAIT", "CLOSE_WAIT"),
])
def test_the_quiz_takes_the_rfcs_and_the_textbooks_names_of_states(answer, state):
    assert same_state(answer, state)


@pytest.mark.parametrize("answer, state", [
    ("SYN_SENT", "NEW_SYN_RECV"), ("FIN_WAIT2", "FIN_WAIT1"), ("CLOSE_WAIT", "CLOSE"),
    ("NEW_SYN_RECV", "SYN_RECV"),  # a simultaneous open's full socket is no request socket
    ("", "LISTEN"),
])
def test_a_wrong_state_stays_wrong_whatever_its_spelling(answer, state):
    assert not same_state(answer, state)


@pytest.mark.parametrize("answer, flags, ok", [
    ("SYN", "S", True), ("SYN+ACK", "S.", True), ("SYN/ACK", "S.", True),
    ("syn-ack", "S.", True), ("FIN, ACK", "F.", True), ("ACK", ".", True),
    ("PSH+ACK", "P.", True), ("RST", "R", True), ("SYN", "S.", False), ("ACK", "S.", False),
    ("S.", "S.", True), ("A", ".", True),
])
def test_the_quiz_takes_flag_words(answer, flags, ok):
    assert same_flags(answer, flags) is ok


def test_the_quiz_says_linuxs_name_beside_the_one_the_student_used():
    answers = list(HANDSHAKE_ANSWERS)
    answers[1], answers[5], answers[6] = "SYN-SENT", "SYN_RCVD", "SYN+ACK"
    score, said = _quiz(answers)
    assert (score.right, score.asked) == (8, 8)
    assert "  Linux names it SYN_SENT; RFC 9293 and most textbooks call it SYN-SENT." in said
    assert any("NEW_SYN_RECV, under the listener" in s for s in said)


def test_an_ipv6_run_cites_the_tcp_v6_functions():
    """The same rules over IPv6 are net/ipv6/tcp_ipv6.c's: tcp_v6_connect(),
    tcp_v6_syn_recv_sock(); shared code keeps its name."""
    prog = parse_program("server: s = socket(AF_INET6)\nserver: bind(s, [::1]:8080)\n"
                         "server: listen(s, 1)\nclient: fd = socket(AF_INET6)\n"
                         "client: connect(fd, [::1]:8080)\nserver: c = accept(s)\n"
                         "client: close(fd)\nserver: close(c)\n", name="v6")
    trace = run_model(prog, KernelProfile.named("reference"))
    refs = " ".join(w.ref for w in explain(trace).values())
    assert "tcp_v4_" not in refs
    for name in ("tcp_v6_connect()", "tcp_v6_syn_recv_sock()", "tcp_connect()",
                 "tcp_check_req()"):
        assert name in refs, name


@pytest.mark.parametrize("name", ["handshake", "simultaneous-open", "concurrent-server"])
def test_state_names_fit_their_pills_measured_with_the_font_that_draws_them(name):
    """Each state's pill is as wide as its name drawn in the PNG's font (Pillow's metrics of
    DejaVu Sans), with room on both sides: NEW_SYN_RECV once overflowed a pill sized by a
    0.6 em estimate."""
    from tcpsim.render.canvas import _font

    c = sequence_canvas(model(name))
    pills = [s for s in c.shapes if s.cls == "state"]
    assert pills and len(pills) == sum(1 for s in c.shapes if s.cls == "state-name")
    texts = [s for s in c.shapes if s.cls in ("state-name", "state-socket")]
    for label in texts:
        a = label.args
        pill = next(p for p in pills if p.args["y"] == a["y"] - 12)
        drawn = _font(a["size"] * 8, False, a["bold"], False).getlength(a["text"]) / 8
        left = a["x"] - (drawn / 2 if a["anchor"] == "middle" else 0)
        assert pill.args["x"] + 4 <= left and left + drawn <= pill.args["x"] + pill.args["w"] - 4, \
            (a["text"], left, drawn, pill.args)


def test_a_pill_names_its_socket_where_a_lane_holds_several():
    """The server's lane holds its listener s and the connection c: each pill says whose
    state it is; the client's lane, one socket, only the state."""
    root = _svg(sequence_canvas(model("handshake")))
    pills = [e.get("class") for e in root.iter() if e.get("class") in ("state-socket",
                                                                         "state-name")]
    texts = [e.text for e in root.iter() if e.get("class") in ("state-socket", "state-name")]
    assert texts[:6] == ["s", "CLOSE", "s", "LISTEN", "CLOSE", "SYN_SENT"], texts
    assert "c" in texts and texts[texts.index("c") + 1] == "NEW_SYN_RECV"
    assert pills.count("state-socket") == sum(1 for t in texts if t in ("s", "c"))


def test_a_forked_child_draws_what_it_sends_from_its_own_lane():
    """The textbook's concurrent server: each child stands beside the parent, and once the
    parent has closed its copy of the accepted socket, the child's reply leaves from the
    child's lane (it is the child's send()), as do that socket's later states."""
    root = _svg(sequence_canvas(model("concurrent-server")))
    lanes = [e.text for e in _by_class(root, "lane-name")]
    assert lanes == ["server", "child1", "child2", "child3", "a", "b", "c"]
    lane_x = {e.text: float(e.get("x")) for e in _by_class(root, "lane-name")}
    arrows = _by_class(root, "segment")
    labels = [e.text for e in _by_class(root, "segment-label")]
    # the first reply ("a!" to a) and the FIN after child1's close(c1)
    reply = arrows[labels.index("[P.] seq 1 ack 3 len 2")]
    assert (float(reply.get("x1")), float(reply.get("x2"))) == (lane_x["child1"], lane_x["a"])
    fin = arrows[labels.index("[F.] seq 3 ack 3 len 0")]
    assert float(fin.get("x1")) == lane_x["child1"]
    # the handshakes came before any fork: the parent's lane answers them
    synack = arrows[labels.index("[S.] seq 0 ack 1 len 0")]
    assert float(synack.get("x1")) == lane_x["server"]


def _text_boxes(c):
    """(class, text, left, right, top, bottom) of every unrotated text on the canvas and of
    every state pill, measured with the font that draws it."""
    from tcpsim.render.canvas import text_width

    for sh in c.shapes:
        a = sh.args
        if sh.kind == "rect" and sh.cls == "state":
            yield "pill", "", a["x"], a["x"] + a["w"], a["y"], a["y"] + a["h"]
        if sh.kind != "text" or a.get("rotate"):
            continue
        w = text_width(a["text"], a["size"], a["bold"], a["mono"])
        left = a["x"] - (w / 2 if a["anchor"] == "middle" else w if a["anchor"] == "end" else 0)
        # (from the ascent to the descent: about 0.75 and 0.2 of the size in DejaVu Sans)
        yield sh.cls, a["text"], left, left + w, a["y"] - 0.75 * a["size"], a["y"] + 0.2 * a["size"]


def test_no_text_of_any_builtins_sequence_diagram_runs_off_the_canvas_or_overlaps():
    """Calls beside the outer lanes are cut, with …, to what fits (measured), not to 36
    characters: `fd = socket(AF_INET, SOCK_STREAM|SO...` ran 11 px past close-in-syn-sent's
    right edge, and 14 other calls past theirs.  And no text covers another (a pill's own
    words are inside it)."""
    out, overlaps = [], []
    inside = {"state-name", "state-socket", "pill"}
    for name in builtin_names():
        c = sequence_canvas(model(name))
        boxes = list(_text_boxes(c))
        out += [(name, cls, text, round(left), round(right), c.width)
                for cls, text, left, right, _, _ in boxes if left < 0 or right > c.width]
        for i, (c1, t1, l1, r1, u1, d1) in enumerate(boxes):
            for c2, t2, l2, r2, u2, d2 in boxes[i + 1:]:
                if c1 in inside and c2 in inside:
                    continue
                if min(r1, r2) - max(l1, l2) > 1 and min(d1, d2) - max(u1, u2) > 1:
                    overlaps.append((name, t1, t2))
    assert out == [] and overlaps == []


def test_the_picture_and_the_text_ladder_put_each_side_on_the_same_side():
    """Two processes, one connection: the text ladder puts the first segment's sender on
    the left (render/ladder.py); the picture the same side (the client, when it opens)."""
    from tcpsim.render.sequence import _lanes

    checked, wrong = 0, []
    for name in builtin_names():
        trace = model(name)
        lanes, lane_of = _lanes(trace)
        if len(lanes) != 2 or len({s.conn_key for s in trace.segments}) != 1 \
                or trace.segments[0].flags != "S":
            continue  # (several connections: the ladder draws each on its own)
        checked += 1
        if lanes[0] != lane_of(trace.segments[0].src):
            wrong.append(name)
    assert wrong == [] and checked > 80


def test_a_long_wait_breaks_the_time_axis_and_says_how_long():
    """Rows are events, not time: the two 1 s SYN timeouts of lost-syn each get a row of
    their own, a dotted rule with the time it skips; the handshake's 10 us steps none."""
    root = _svg(sequence_canvas(model("lost-syn")))
    # (1.024 s each: the timer wheel runs a 1 s timer at its next 8-jiffy bucket)
    assert [e.text for e in _by_class(root, "time-break-label")] == ["+1.02 s", "+1.02 s"]
    assert len(_by_class(root, "time-break")) == 2
    assert _by_class(_svg(sequence_canvas(model("handshake"))), "time-break") == []


@pytest.mark.parametrize("name", ["concurrent-server", "iterative-server", "simultaneous-open",
                                  "handshake", "lost-syn"])
def test_each_segment_sits_in_its_own_connections_phase(name):
    """Phases are per connection: a second client's handshake after the first one's data is
    drawn in an establishment band again, each FIN in a release band, data between."""
    from tcpsim.render.ladder import phases

    trace = model(name)
    c = sequence_canvas(trace)
    bands = [(s.args["y"], s.args["y"] + s.args["h"], int(s.cls.split("phase-")[1]))
             for s in c.shapes if s.kind == "rect" and s.cls.startswith("phase ")]
    arrows = [s for s in c.shapes if s.cls.startswith("segment") and s.kind == "line"
              and s.cls != "segment-label"]
    want: dict[int, int] = {}
    by_conn: dict = {}
    for rel in trace.relative():
        by_conn.setdefault(rel.seg.conn_key, []).append(rel)
    for rels in by_conn.values():
        for rel, p in zip(rels, phases(rels)):
            want[id(rel.seg)] = p
    assert len(arrows) == len(trace.segments)
    got = [next(p for y0, y1, p in bands if y0 <= a.args["y1"] < y1) for a in arrows]
    assert got == [want[id(s)] for s in trace.segments]
