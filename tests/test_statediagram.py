"""The state diagram drawn from the transition table: what it contains, the path a program
took, its DOT and Mermaid forms, the PNG, and `tcpsim diagram`."""

import re
from collections import defaultdict
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest

from tcpsim.errors import TcpsimError
from tcpsim.i18n import language, t
from tcpsim.model import KernelProfile
from tcpsim.model.table import RULES, STATES
from tcpsim.render import statediagram as sd
from tcpsim.render.canvas import font_file
from tcpsim.scenario import builtin_names, load
from tcpsim.sim.world import run_model
from tcpsim.trace import State

from .conftest import have, run_cli

SVG = "{http://www.w3.org/2000/svg}"
PAIRS = {(r.state, r.next) for r in RULES}


def model(name: str):
    return run_model(load(name), KernelProfile.named("reference"))


def elements(svg: str, cls: str) -> list:
    return [e for e in ElementTree.fromstring(svg).iter() if e.get("class") == cls]


def title_of(e) -> str:
    return e.find(f"{SVG}title").text


def shown(e) -> str:
    """The text an element shows (its tooltip, when it has one, comes first in the SVG)."""
    title = e.find(f"{SVG}title")
    return e.text if title is None else title.tail


def transitions(trace) -> list[State]:
    return [s for s in trace.states if s.via == "transition" and s.rule]


# -- the full diagram ---------------------------------------------------------------------
def test_one_box_per_state_and_a_second_close_at_the_bottom():
    svg = sd.render_states().svg()
    boxes = elements(svg, "state")
    assert len(boxes) == len(STATES) + 1
    names = sorted(shown(e) for e in elements(svg, "state-name"))
    assert names == sorted(STATES + ("CLOSE",))
    top, bottom = (float(b.get("y")) for b in boxes if title_of(b).split(" (")[0] == "CLOSE")
    assert bottom - top > 600  # the end state is drawn at the bottom, the start at the top


def test_one_arrow_per_state_pair_whose_tooltip_lists_every_row_and_its_citation():
    edges = elements(sd.render_states().svg(), "edge")
    assert len(edges) == len(PAIRS)
    seen = set()
    for e in edges:
        rows = [re.fullmatch(r"(\w+) --(\w+)--> (\w+) · (.+)", line).groups()
                for line in title_of(e).splitlines()]
        assert len({(state, nxt) for state, _, nxt, _ in rows}) == 1  # one pair per arrow
        seen |= {(state, event, nxt) for state, event, nxt, cite in rows if cite}
    assert seen == {(r.state, r.event, r.next) for r in RULES}


def test_arrows_into_close_from_an_open_connection_end_at_the_bottom_box():
    lay = sd.layout()
    into_end = {e.src for e in lay.edges if e.dst == sd.END}
    into_top = {e.src for e in lay.edges if e.dst == "CLOSE"}
    # the handshake's states close upwards (SYN_RECV: an RST or SO_LINGER {1, 0} in a
    # simultaneous open), the open connection's downwards
    assert into_top == {"LISTEN", "SYN_SENT", "NEW_SYN_RECV", "SYN_RECV"}
    assert into_end == {r.state for r in RULES if r.next == "CLOSE"} - into_top
    assert {"TIME_WAIT", "LAST_ACK", "ESTABLISHED"} <= into_end


def test_labels_are_readable_off_every_box_and_each_other_and_inside_the_picture():
    lay = sd.layout()
    boxes = [(x - sd.BOX_W / 2, y - sd.BOX_H / 2, sd.BOX_W, sd.BOX_H)
             for x, y in lay.nodes.values()]
    labels = [e.label_box for e in lay.edges]
    for e in lay.edges:
        x, y, w, h = e.label_box
        assert 0 <= x and x + w <= sd.WIDTH and 48 <= y and y + h <= sd.HEIGHT, e
        assert not any(sd._overlap(e.label_box, b) for b in boxes), (e.src, e.dst)
        assert sum(1 for other in labels if sd._overlap(e.label_box, other)) == 1, (e.src, e.dst)
        # wrapped, nothing lost: every row's event, in the textbook's words
        text = " ".join(e.label)
        for r in e.rules:
            assert t(f"diagram.ev.{r.event}") in text, (r.event, text)


def test_arrows_read_as_the_textbooks_event_and_action():
    """RFC 793's figure 6 writes "rcv SYN / snd SYN,ACK": the table's rows in those words,
    rows with the same actions together, bookkeeping left to the tooltip."""
    labels = {(e.src, e.dst): " ".join(e.label) for e in sd.layout().edges}
    assert labels[("CLOSE", "SYN_SENT")] == "connect / snd SYN"
    assert labels[("SYN_SENT", "ESTABLISHED")] == "rcv SYN,ACK / snd ACK"
    assert labels[("SYN_SENT", "SYN_RECV")] == "rcv SYN / snd SYN,ACK"
    assert labels[("ESTABLISHED", "FIN_WAIT1")] == "close, shutdown(WR) / snd FIN"
    assert labels[("FIN_WAIT2", "TIME_WAIT")] == "rcv FIN / snd ACK"
    assert labels[("TIME_WAIT", sd.END)] == "2MSL timeout"
    assert labels[("NEW_SYN_RECV", "ESTABLISHED")] == "rcv ACK"  # (make_child: the tooltip)
    with language("zh"):
        zh = {(e.src, e.dst): " ".join(e.label) for e in sd.layout().edges}
    assert zh[("CLOSE", "SYN_SENT")] == "connect / 发 SYN"


def test_the_layout_is_deterministic():
    assert sd._layout.__wrapped__("en") == sd._layout.__wrapped__("en")


def test_the_legend_explains_the_line_styles_and_no_path_is_drawn_without_a_trace():
    svg = sd.render_states().svg()
    legend = " ".join(shown(e) or "" for e in elements(svg, "legend"))
    assert t("diagram.legend.rfc") in legend and t("diagram.legend.spawn") in legend
    assert not elements(svg, "path-edge") and not elements(svg, "step")
    assert t("diagram.states.title") in svg


# -- the path a program took --------------------------------------------------------------
HANDSHAKE = {
    "client.fd": ["CLOSE", "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"],
    "server.c": ["NEW_SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT"],
    "server.s": ["CLOSE", "LISTEN", "CLOSE"],
}


def test_handshake_steps_are_the_models_own_numbered_in_time_order():
    steps = sd.path_steps(model("handshake"))
    assert [s.n for s in steps] == list(range(1, 13))
    assert [s.t for s in steps] == sorted(s.t for s in steps)
    walked = defaultdict(list)
    for s in steps:
        if not walked[s.socket]:
            walked[s.socket].append(s.old if s.new != "NEW_SYN_RECV" else s.new)
        assert walked[s.socket][-1] in (s.old, s.new)  # each step starts where the last ended
        if s.new != walked[s.socket][-1]:
            walked[s.socket].append(s.new)
    assert dict(walked) == HANDSHAKE
    # the request socket is born on the listener's arrow; connections end at the bottom box
    first_c = next(s for s in steps if s.socket == "server.c")
    assert (first_c.old, first_c.event, first_c.edge) == ("CLOSE", "rcv_syn",
                                                          ("LISTEN", "NEW_SYN_RECV"))
    assert [s.edge for s in steps if s.new == "CLOSE"] == [("LISTEN", "CLOSE"),
                                                           ("LAST_ACK", sd.END)]


def test_handshake_badges_sit_on_the_arrow_each_step_took_in_its_sockets_colour():
    trace = model("handshake")
    steps = sd.path_steps(trace)
    canvas = sd.render_states(trace, "handshake")
    colours = sd.socket_colours(steps)
    assert list(colours) == ["server.s", "client.fd", "server.c"]  # in the order they moved
    badges = [s for s in canvas.shapes if s.cls == "step-badge"]
    numbers = [s for s in canvas.shapes if s.cls == "step"]
    assert len(numbers) == len(badges) == len(steps)
    lay = sd.layout()
    for step in steps:
        text = next(n for n in numbers if n.args["text"] == str(step.n))
        badge = next(b for b in badges if b.args["x"] == text.args["x"]
                     and abs(b.args["y"] - (text.args["y"] - 3.8)) < 1e-6)
        assert badge.args["fill"] == colours[step.socket]
        curve = lay.edge(*step.edge).curve
        assert min(abs(px - badge.args["x"]) + abs(py - badge.args["y"])
                   for px, py in sd._samples(curve, 200)) < 3, step
    svg = canvas.svg()
    assert sorted(int(shown(e)) for e in elements(svg, "step")) == list(range(1, 13))
    paths = elements(svg, "path-edge")
    assert len(paths) == 12
    assert any(title_of(p).startswith("4. client.fd: SYN_SENT --rcv_synack--> ESTABLISHED")
               for p in paths)
    assert t("diagram.path.title", program="handshake") in svg
    legend = [shown(e) for e in elements(svg, "legend")]
    for sock in HANDSHAKE:
        assert sock in legend
    assert "2 4 7 9 12" in legend  # client.fd's steps, next to its colour


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_program_renders_with_a_badge_per_model_step(name):
    trace = model(name)
    n = len(transitions(trace))
    assert n > 0
    steps = sd.path_steps(trace)
    assert all(s.edge is not None for s in steps), [s for s in steps if s.edge is None]
    svg = sd.render_states(trace, name).svg()
    assert sorted(int(shown(e)) for e in elements(svg, "step")) == list(range(1, n + 1))
    assert len(elements(svg, "path-edge")) == n
    labels = [line.split(" : ", 1)[1] for line in sd.to_mermaid(trace).splitlines()
              if " : " in line]
    numbers = sorted(int(n) for label in labels for n in re.findall(r"\b\d+\b", label))
    assert numbers == list(range(1, n + 1))


def test_a_step_the_diagram_has_no_arrow_for_is_still_drawn_and_numbered():
    fake = SimpleNamespace(program="odd", states=[
        State(0.0, "x.fd", "SYN_SENT", "transition", rule="CLOSE connect"),
        State(0.1, "x.fd", "TIME_WAIT", "transition", rule="SYN_SENT nonsense"),
    ])
    steps = sd.path_steps(fake)
    assert [s.edge for s in steps] == [("CLOSE", "SYN_SENT"), None]
    svg = sd.render_states(fake).svg()
    assert [shown(e) for e in elements(svg, "step")] == ["1", "2"]
    assert len(elements(svg, "path-edge")) == 2
    assert "SYN_SENT --> TIME_WAIT : 2: nonsense" in sd.to_mermaid(fake)


# -- DOT and Mermaid ----------------------------------------------------------------------
def dot_edges(dot: str) -> dict[tuple[str, str], list[str]]:
    out = {}
    for src, dst, label in re.findall(r'^\s*(\w+) -> (\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M):
        out[(src, dst)] = label.split("\\n")
    return out


def test_dot_has_every_rule_as_an_event_on_its_arrow():
    dot = sd.to_dot()
    assert dot.startswith("digraph tcp_states {") and dot.rstrip().endswith("}")
    edges = dot_edges(dot)
    for r in RULES:
        assert r.event in edges[(r.state, sd.node_of(r.next, r.state))], r
    assert 'CLOSE_END [label="CLOSE"]' in dot
    assert "start -> CLOSE;" in dot


def test_dot_with_a_trace_numbers_and_colours_the_steps():
    trace = model("handshake")
    dot = sd.to_dot(trace)
    edges = dot_edges(dot)
    assert edges[("CLOSE", "SYN_SENT")] == ["2: connect"]
    assert edges[("LISTEN", "NEW_SYN_RECV")] == ["3: rcv_syn"]
    assert edges[("LAST_ACK", sd.END)] == ["12: rcv_ack_of_fin", "rcv_rst"]
    colours = sd.socket_colours(sd.path_steps(trace))
    assert re.search(rf'CLOSE -> SYN_SENT \[.*color="{colours["client.fd"]}", penwidth', dot)
    assert "client.fd: 2 4 7 9 12" in dot  # the legend


def test_mermaid_has_every_state_pair_with_its_events():
    text = sd.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2" and "    [*] --> CLOSE" in lines
    arrows = {}
    for line in lines:
        m = re.fullmatch(r"    ([A-Z_0-9]+) --> ([A-Z_0-9]+) : (.+)", line)
        if m:
            arrows[(m[1], m[2])] = m[3].split(", ")
    assert set(arrows) - {("LISTEN", "NEW_SYN_RECV")} == PAIRS
    for r in RULES:
        assert r.event in arrows[(r.state, r.next)]


def test_mermaid_numbers_the_steps_and_names_each_sockets():
    text = sd.to_mermaid(model("handshake"))
    assert "    CLOSE --> SYN_SENT : 2: connect" in text
    assert "    LISTEN --> CLOSE : 8: close" in text
    assert "    %% client.fd (#d55e00): steps 2 4 7 9 12" in text
    assert re.search(r"^    class .*\bTIME_WAIT\b.* visited$", text, re.M)
    assert not re.search(r"\bclass .*\bCLOSING\b", text)  # not on handshake's path


def test_graphviz_missing_is_one_sentence_naming_the_package(monkeypatch):
    monkeypatch.setattr(sd.shutil, "which", lambda name: None)
    with pytest.raises(TcpsimError, match=r"apt install graphviz.*built-in layout"):
        sd.render_with_dot(sd.to_dot(), "svg")


@pytest.mark.skipif(not have("dot"), reason="Graphviz's dot is not installed")
def test_graphviz_lays_out_our_dot_text():
    svg = sd.render_with_dot(sd.to_dot(model("handshake")), "svg").decode()
    root = ElementTree.fromstring(svg)
    texts = {e.text for e in root.iter(f"{SVG}text")}
    assert set(STATES) <= texts and "2: connect" in texts


# -- pictures and languages ---------------------------------------------------------------
def test_png_is_a_picture_of_the_expected_size_with_the_paths_colours(tmp_path):
    from PIL import Image

    trace = model("handshake")
    out = tmp_path / "states.png"
    sd.render_states(trace).png(out)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (2 * sd.WIDTH, 2 * sd.HEIGHT)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    counts = {"#%02x%02x%02x" % rgb: n for n, rgb in colours}
    for colour in sd.socket_colours(sd.path_steps(trace)).values():
        assert counts.get(colour, 0) > 500, colour  # each socket's path is drawn


def test_chinese_titles_and_legend():
    with language("zh"):
        svg = sd.render_states(model("handshake"), "handshake").svg()
        assert "handshake：每个套接字经过的状态" in svg
        assert t("diagram.legend.rfc") in svg and "状态转换图" in sd.render_states().svg()
    assert "ESTABLISHED" in svg  # state names stay as the kernel writes them


@pytest.mark.skipif(font_file(True) is None,
                    reason="no CJK font installed (apt install fonts-wqy-zenhei)")
def test_chinese_png_renders(tmp_path):
    from PIL import Image

    out = tmp_path / "zh.png"
    with language("zh"):
        sd.render_states(model("handshake"), "handshake").png(out)
    with Image.open(out) as img:
        assert img.size == (2 * sd.WIDTH, 2 * sd.HEIGHT)


# -- the command --------------------------------------------------------------------------
def test_cli_writes_every_format_by_suffix(tmp_path):
    from PIL import Image

    files = [tmp_path / f"s.{ext}" for ext in ("svg", "png", "dot", "mmd", "md")]
    r = run_cli("diagram", "--program", "handshake", *[a for f in files for a in ("-o", f)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"wrote {f}" for f in files]
    svg = files[0].read_text()
    assert len(elements(svg, "state")) == len(STATES) + 1 and len(elements(svg, "step")) == 12
    with Image.open(files[1]) as img:
        assert img.size == (2 * sd.WIDTH, 2 * sd.HEIGHT)
    assert files[2].read_text().startswith("digraph") and "2: connect" in files[2].read_text()
    assert files[3].read_text().startswith("stateDiagram-v2\n")
    assert files[4].read_text().startswith("```mermaid\nstateDiagram-v2\n")


def test_cli_prints_mermaid_without_o_and_speaks_chinese(tmp_path):
    r = run_cli("diagram", check=True)
    assert r.stdout.startswith("```mermaid\nstateDiagram-v2\n") and r.stdout.endswith("```\n")
    out = tmp_path / "zh.svg"
    r = run_cli("diagram", "--lang", "zh", "--program", "handshake", "-o", out, check=True)
    assert r.stdout.strip() == f"已写入 {out}"
    assert "handshake：每个套接字经过的状态" in out.read_text()
    r = run_cli("diagram", "--format", "dot", check=True)
    assert r.stdout.startswith("digraph tcp_states {")


@pytest.mark.parametrize("args, says", [
    (["-o", "states.txt"], "cannot tell the format of states.txt"),
    (["-o", "/nonexistent/dir/states.svg"], "cannot write /nonexistent/dir/states.svg"),
    (["--program", "no-such-program", "-o", "x.svg"], "no program named 'no-such-program'"),
    (["--format", "png"], "a PNG cannot go to the terminal"),
])
def test_cli_bad_input_is_one_sentence_without_traceback(tmp_path, args, says):
    r = run_cli("diagram", *args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(f"tcpsim: {says}") and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cli_engine_dot(tmp_path):
    out = tmp_path / "g.svg"
    r = run_cli("diagram", "--engine", "dot", "-o", out, cwd=tmp_path)
    if have("dot"):
        assert r.returncode == 0, r.stderr
        assert "<svg" in out.read_text()
    else:
        assert r.returncode != 0 and "apt install graphviz" in r.stderr


def test_boxes_give_rfc_9293s_name_under_linuxs_where_they_differ():
    """CLOSE is RFC 9293's CLOSED, NEW_SYN_RECV and SYN_RECV its SYN-RECEIVED, FIN_WAIT1 its
    FIN-WAIT-1; SYN_SENT is SYN-SENT but for a hyphen, and gets no second name."""
    root = ElementTree.fromstring(sd.render_states().svg())
    rfc = [e.text or "".join(x.tail or "" for x in e) for e in root.iter()
           if e.get("class") == "state-rfc-name"]  # (after its tooltip's <title>)
    assert sorted(rfc) == sorted(["CLOSED", "CLOSED", "SYN-RECEIVED", "SYN-RECEIVED",
                                  "FIN-WAIT-1", "FIN-WAIT-2"])
