"""The time-sequence graph (render/tsg.py): sequence number against time, as tcptrace draws
it, from the model's runs and the kernel's captures alike."""

import xml.etree.ElementTree as ET

from tcpsim.model import KernelProfile
from tcpsim.render.tsg import series, tsg_canvas
from tcpsim.scenario import builtin_names, load
from tcpsim.sim.world import run_model
from tcpsim.trace import Trace

from .conftest import CAPTURES, run_cli

REF = KernelProfile.named("reference")


def classes(canvas) -> list[str]:
    return [s.cls for s in canvas.shapes]


def test_a_lost_segment_its_sack_and_its_fast_retransmission_on_the_kernels_capture():
    """lost-segment-sack (TCP_MAXSEG 1000, MSS 988): the second segment is lost, the third
    arrives and the receiver SACKs it, the lost bytes go again, the ACK line climbs to the
    FIN's end."""
    kernel = series(Trace.load(CAPTURES / "lost-segment-sack.json"))
    assert kernel.shift == 10
    assert [(seq, end, again, lost) for _, seq, end, again, lost in kernel.bars] == [
        (1, 989, False, False), (989, 1977, False, True), (1977, 2965, False, False),
        (989, 1977, True, False), (2965, 3953, False, False), (3953, 4941, False, False),
        (4941, 5929, False, False), (5929, 5930, False, False)]
    assert [(left, right) for _, left, right in kernel.sacks] == [(1977, 2965)]
    assert kernel.acks[-1][1] == 5930
    # the window's right edge is the ACK plus the scaled window (RFC 7323 2.2)
    seg = next(s for s in Trace.load(CAPTURES / "lost-segment-sack.json").segments
               if s.dst == kernel.flow.src and s.flags == "." and s.ack)
    assert any(edge - ack == seg.win << 10 for _, ack, edge in kernel.acks)


def test_the_model_draws_what_the_kernel_drew():
    model = series(run_model(load("lost-segment-sack"), REF))
    kernel = series(Trace.load(CAPTURES / "lost-segment-sack.json"))
    assert [b[1:] for b in model.bars] == [b[1:] for b in kernel.bars]
    assert [s[1:] for s in model.sacks] == [s[1:] for s in kernel.sacks]


def test_a_zero_window_is_the_window_edge_meeting_the_ack_line():
    """slow-reader: the reader stops reading; its ACKs offer 0, so the window's right edge
    sits on the ACK line (24577) until it reads again."""
    data = series(Trace.load(CAPTURES / "slow-reader.json"))
    closed = [(ack, edge) for _, ack, edge in data.acks if ack == edge]
    assert closed and {ack for ack, _ in closed} == {24577}


def test_the_picture_marks_the_loss_and_the_retransmission():
    c = tsg_canvas(Trace.load(CAPTURES / "lost-segment-sack.json"))
    cls = classes(c)
    assert cls.count("lost") == 2  # one cross, two strokes
    assert cls.count("retransmission") == 1 and cls.count("data") == 7
    assert cls.count("sack") == 1
    svg = ET.fromstring(c.svg())
    legend = [e.text for e in svg.iter() if e.get("class") == "legend" and e.text]
    assert legend == ["data (new bytes)", "sent again", "ACK", "window's right edge",
                      "SACK blocks"]


def test_a_graph_of_every_builtin_stays_on_its_canvas():
    """Every built-in, with or without data: no text outside the picture."""
    from .test_teach import _text_boxes

    out = []
    for name in builtin_names():
        c = tsg_canvas(run_model(load(name), REF))
        out += [(name, text) for _, text, left, right, _, _ in _text_boxes(c)
                if left < 0 or right > c.width]
    assert out == []


def test_run_writes_the_graph(tmp_path):
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    r = run_cli("run", "lost-segment-sack", "--tsg", svg, "--tsg", png, check=True)
    assert f"wrote {svg}" in r.stdout and f"wrote {png}" in r.stdout
    assert svg.read_text().startswith("<svg") and png.read_bytes()[:4] == b"\x89PNG"
    bad = run_cli("run", "handshake", "--tsg", tmp_path / "g.pdf")
    assert bad.returncode == 2 and "cannot tell the picture format of" in bad.stderr


def test_the_report_shows_the_graph_where_data_flowed(tmp_path):
    from tcpsim.render.report import build_report

    html = build_report(load("lost-segment-sack"), run_model(load("lost-segment-sack"), REF), 0,
                        None, "no lab here")
    assert '<h2 id="tsg">Time-sequence graph</h2>' in html and 'class="retransmission"' in html
    quiet = build_report(load("handshake"), run_model(load("handshake"), REF), 0, None,
                         "no lab here")  # one segment of data: the sequence diagram shows it
    assert 'id="tsg"' not in quiet


def test_the_title_says_whose_run_it_is():
    model = tsg_canvas(run_model(load("lost-segment-sack"), REF))
    kernel = tsg_canvas(Trace.load(CAPTURES / "lost-segment-sack.json"))
    title = [s.args["text"] for c in (model, kernel) for s in c.shapes if s.cls == "title"]
    assert title[0].startswith("lost-segment-sack (the model): time-sequence graph, client:")
    assert title[1].startswith("lost-segment-sack (the kernel): time-sequence graph, client:")
