"""Teaching issue 18: every retransmission and probe explained (which timer, why that long,
which rule), in English and Chinese; lost segments and what resent them in the diagrams."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tcpsim.i18n import language
from tcpsim.model import KernelProfile
from tcpsim.render.sequence import sequence_canvas
from tcpsim.scenario import builtin_names, load
from tcpsim.sim.world import run_model
from tcpsim.teach import explain
from tcpsim.teach.explain import TAGS, dropped, resent_marks
from tcpsim.trace import Trace

from .conftest import CAPTURES, run_cli


def model(name: str, profile: KernelProfile | None = None) -> Trace:
    return run_model(load(name), profile or KernelProfile.named("reference"))


def kernel(name: str) -> Trace:
    return Trace.load(CAPTURES / f"{name}.json")


def resent(trace: Trace) -> list[tuple[str, str]]:
    """(kind, the diagram's label) of every segment that has a label: what sent it again."""
    whys, marks = explain(trace), resent_marks(trace)
    return [(whys[id(s)].key.removeprefix("why.seg."), marks[id(s)])
            for s in trace.segments if id(s) in marks]


# -- the model's record ----------------------------------------------------------------------
def test_the_model_records_which_timer_sent_a_segment_and_its_numbers():
    trace = model("lost-request")
    timed = [s for s in trace.segments if s.why]
    assert [(s.flags, s.length, s.why["timer"]) for s in timed] == [("P.", 5, "loss_probe")]
    why = timed[0].why
    # srtt from the handshake's one sample (two 10 us hops), the RTO tcp_set_rto() made of it
    assert why["srtt_us"] == 20 and why["rttvar_us"] == 200000 and why["rto_ms"] == 204.0
    assert why["out"] == 1 and why["backoff"] == 0
    # calls and arrivals send segments with no record
    assert all(s.why is None for s in trace.segments if s is not timed[0])


def test_the_record_survives_json_and_a_capture_has_none():
    trace = model("lost-request-backoff")
    back = Trace.from_dict(json.loads(trace.to_json()))
    assert [s.why for s in back.segments] == [s.why for s in trace.segments]
    assert sum(1 for s in back.segments if s.why) == 3
    assert '"why"' not in (CAPTURES / "lost-request.json").read_text()


# -- explanations ------------------------------------------------------------------------------
def test_lost_request_is_resent_by_the_tail_loss_probe_and_says_why_that_long():
    """One segment out: PTO = 2 srtt + tcp_rto_min, no later than the RTO (204 ms), on the
    timer wheel 208 ms after the request left (the kernel: 204.7-206.9 ms, TCPLossProbes 1)."""
    trace = model("lost-request")
    whys = explain(trace)
    probe = next(s for s in trace.segments if s.why)
    why = whys[id(probe)]
    assert why.key == "why.seg.data.tlp"
    assert "RFC 8985" in why.ref and "tcp_send_loss_probe()" in why.ref
    assert "208 ms" in why.text  # how long it waited
    assert "2 x 0.02 ms + 200 ms" in why.text and "RTO of 204 ms" in why.text
    assert "200.04 ms" in why.text


def test_lost_request_backoff_names_the_probe_then_each_rto_and_its_doubling():
    trace = model("lost-request-backoff")
    whys = explain(trace)
    rtos = [whys[id(s)] for s in trace.segments if s.why and s.why["timer"] == "retransmit"]
    assert [w.key for w in rtos] == ["why.seg.data.rto"] * 2
    assert "RFC 6298" in rtos[0].ref and "tcp_retransmit_timer()" in rtos[0].ref
    # srtt + rttvar (at least tcp_rto_min), then doubled by the first timeout
    assert "srtt 0.02 ms + rttvar 200 ms" in rtos[0].text
    assert "doubled by 0 earlier timeout(s): 204 ms" in rtos[0].text
    assert "doubled by 1 earlier timeout(s): 408 ms" in rtos[1].text
    assert "for 208 ms" in rtos[0].text and "for 416 ms" in rtos[1].text
    assert resent(trace) == [("data.tlp", "TLP 208 ms"), ("data.rto", "RTO 208 ms"),
                             ("data.rto", "RTO 416 ms")]




@pytest.mark.parametrize("name", builtin_names())
def test_the_kernels_trace_is_explained_as_the_model_records_it(name):
    """On a capture the cause is read from the trace (a timer or an ACK; the probe before the
    RTO): it must name the same timers as the model's own record (and the same SACK ACKs)."""
    def kinds(trace):
        whys = explain(trace)
        return [whys[id(s)].key.removeprefix("why.seg.") for s in trace.segments
                if whys[id(s)].key.removeprefix("why.seg.") in TAGS or "sack" in whys[id(s)].key]

    assert kinds(kernel(name)) == kinds(model(name))


@pytest.mark.parametrize("name", ["lost-request", "lost-request-backoff", "lost-write-rto",
                                  "user-timeout", "nagle-nodelay", "slow-reader",
                                  "partial-window-probe", "keepalive-dead-peer", "lost-syn"])
def test_these_builtins_resend_or_probe(name):
    assert resent(model(name)) and resent(kernel(name))


def test_what_the_kernel_did_with_a_lost_write():
    """lost-write-rto on the kernel: the probe 5 ms after the write, the RTO 208 ms after
    the probe, then the rest sent again on each ACK (slow start from one segment)."""
    assert resent(kernel("lost-write-rto")) == [
        ("data.tlp", "TLP 5 ms"), ("data.rto", "RTO 208 ms"), ("data.loss", "RTO recovery"),
        ("data.loss", "RTO recovery")]


def test_a_lone_lost_fin_is_a_tail_loss_probe():
    """Measured in a private namespace (nstat): a lone FIN dropped once came again 206 ms
    later with TCPLossProbes 1, TCPTimeouts 0; dropped twice, the second resend was the RTO
    (TCPTimeouts 1).  The model probes it too (tcp_schedule_loss_probe() with a FIN out)."""
    assert resent(kernel("lost-fin")) == [("fin.tlp", "TLP 206 ms")]
    assert [k for k, _ in resent(model("lost-fin"))] == ["fin.tlp"]


def test_syn_retransmissions_name_the_linear_timeouts():
    trace = model("syn-timeout")
    whys = explain(trace)
    again = [whys[id(s)] for s in trace.segments if whys[id(s)].key == "why.seg.syn.again"]
    assert len(again) == 5
    # the 1 s timer, run by the timer wheel at its next 8-jiffy bucket (HZ 250): 1024 ms,
    # and the explanation says why it is not 1000
    assert "within 1024 ms" in again[0].text and "retry 1" in again[0].text
    assert "The timer was set for 1000 ms; the kernel's timer wheel" in again[0].text
    assert "24 ms later here" in again[0].text
    assert "first 4 retries 1 s apart" in again[0].text and "tcp_syn_linear_timeouts" in again[0].text
    assert "retry 5" in again[4].text


def test_a_synack_answering_a_syn_sent_again_is_not_a_timer():
    trace = kernel("lost-syn-ack")
    whys = explain(trace)
    keys = [whys[id(s)].key.removeprefix("why.seg.") for s in trace.segments if "S" in s.flags]
    assert keys == ["syn", "synack", "syn.again", "synack.resyn"]
    # a simultaneous open's SYN-ACK repeats its SYN's sequence number: no retransmission
    keys = [explain(t)[id(s)].key.removeprefix("why.seg.")
            for t in (model("simultaneous-open"),) for s in t.segments if "S" in s.flags]
    assert keys == ["syn", "syn", "synack", "synack"]


def test_zero_window_probes_count_their_backoff():
    trace = model("slow-reader")
    whys = explain(trace)
    probes = [whys[id(s)] for s in trace.segments if whys[id(s)].key == "why.seg.probe.zero_window"]
    assert len(probes) == 3 and "tcp_probe_timer()" in probes[0].ref
    assert "Probe 1: the RTO of 212 ms doubled 0 time(s): 212 ms." in probes[0].text
    assert "Probe 3: the RTO of 212 ms doubled 2 time(s): 848 ms." in probes[2].text
    assert [m for _, m in resent(trace)] == ["probe0 212 ms", "probe0 424 ms", "probe0 848 ms"]


def test_keepalive_probes_count_the_unanswered_ones():
    trace = model("keepalive-dead-peer")
    whys = explain(trace)
    probes = [whys[id(s)].text for s in trace.segments
              if whys[id(s)].key == "why.seg.probe.keepalive"]
    assert ["1 of TCP_KEEPCNT 3" in probes[0], "3 of TCP_KEEPCNT 3" in probes[2]] == [True, True]
    assert "TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s" in probes[0]
    # the answers were dropped: each says so
    answers = [whys[id(s)].text for s in trace.segments if whys[id(s)].key == "why.seg.ack.probe"]
    assert len(answers) == 3 and all("net: line 14" in a for a in answers)
    # a peer that answers: every probe is the first unanswered one
    trace = model("keepalive")
    whys = explain(trace)
    assert all("1 of TCP_KEEPCNT" in whys[id(s)].text for s in trace.segments
               if whys[id(s)].key == "why.seg.probe.keepalive")


def test_a_dsack_ack_answers_the_probe_of_data_that_had_arrived():
    for trace in (model("nagle-nodelay"), kernel("nagle-nodelay")):
        whys = explain(trace)
        keys = [whys[id(s)].key for s in trace.segments]
        i = keys.index("why.seg.data.tlp")
        assert keys[i + 1] == "why.seg.ack.dsack"
        dsack = whys[id(trace.segments[i + 1])]
        assert "RFC 2883" in dsack.ref and "15-22" in dsack.text and "ack 22" in dsack.text


def test_sack_blocks_above_the_ack_are_a_selective_ack():
    trace = kernel("nagle-nodelay")
    i = next(i for i, s in enumerate(trace.segments) if s.option("sack"))
    seg = trace.segments[i]
    # the same ACK with its block moved above the cumulative ACK: out-of-order data, RFC 2018
    seg.options = [["sack", [[seg.ack + 100, seg.ack + 200]]] if n == "sack" else [n, v]
                   for n, v in seg.options]
    why = explain(trace)[id(seg)]
    assert why.key == "why.seg.ack.sack" and "RFC 2018" in why.ref and "- " not in why.text


def test_the_explanations_are_chinese_with_the_same_numbers():
    trace = model("lost-request-backoff")
    en = {k: w.text for k, w in explain(trace).items()}
    with language("zh"):
        zh = {k: w.text for k, w in explain(trace).items()}
    for s in trace.segments:
        if s.why:
            assert re.search(r"[\u4e00-\u9fff]", zh[id(s)])
            assert re.findall(r"\d+(?:\.\d+)? ms", en[id(s)]) == re.findall(r"\d+(?:\.\d+)? ms", zh[id(s)])
    texts = [zh[id(s)] for s in trace.segments if s.why]
    assert "尾部丢失探测" in texts[0] and "超时重传" in texts[1]


def test_run_explain_in_chinese_names_the_probe():
    out = run_cli("run", "lost-request", "--explain", "--lang", "zh", "--no-ladder", check=True).stdout
    lines = out.splitlines()
    probe = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("208.000"))
    assert "尾部丢失探测（TLP，RFC 8985）" in lines[probe + 1] and "208 ms" in lines[probe + 1]


# -- the diagrams ------------------------------------------------------------------------------
def _classes(root, cls):
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


@pytest.mark.parametrize("trace", [model("lost-request"), kernel("lost-request")],
                         ids=["model", "kernel"])
def test_the_svg_marks_the_dropped_request_as_lost(trace):
    root = ET.fromstring(sequence_canvas(trace).svg())
    lost = _classes(root, "lost")
    assert len(lost) == 1 and "net: line 25" in lost[0].find("{http://www.w3.org/2000/svg}title").text
    assert len(_classes(root, "loss-mark")) == 2  # the two strokes of the cross
    assert len(_classes(root, "segment-head")) == len(trace.segments) - 1  # no arrowhead on it
    # it stops short of the server's lane: the probe that follows arrives
    x = [float(e.get("x2")) for e in _classes(root, "segment")]
    lanes = sorted({float(e.get("x1")) for e in _classes(root, "lane")})
    request = [i for i, s in enumerate(trace.segments) if s.length == 5][0]
    assert min(lanes) < x[request] < max(lanes)
    labels = [e.text for e in _classes(root, "timer-label")]
    assert len(labels) == 1 and re.fullmatch(r"TLP 20[4-8] ms", labels[0])


def test_the_svg_labels_each_retransmission_with_its_timer():
    root = ET.fromstring(sequence_canvas(model("lost-request-backoff")).svg())
    assert [e.text for e in _classes(root, "timer-label")] == ["TLP 208 ms", "RTO 208 ms", "RTO 416 ms"]
    assert len(_classes(root, "lost")) == 3


def test_dropped_replays_the_net_lines_over_any_trace():
    for name in ("lost-request-backoff", "synack-give-up", "keepalive-half-closed", "lost-syn-ack"):
        for trace in (model(name), kernel(name)):
            prog = load(name)
            drops = {f.line for f in prog.faults if f.action == "drop"}
            counted = sum(n for line, n in trace.drops.items() if line in drops)
            assert len(dropped(trace)) == counted, name
    assert dropped(model("handshake")) == {}


def test_the_text_ladder_shows_the_loss_and_the_timer():
    out = run_cli("run", "lost-request-backoff", check=True).stdout
    rows = [ln for ln in out.splitlines() if "seq 1 ack 1 win 64 len 5" in ln]
    assert len(rows) == 4
    assert [("✗" in r, "▶" in r) for r in rows] == [(True, False)] * 3 + [(False, True)]
    assert [r.split("──")[0].strip() for r in rows] == ["", "TLP 208 ms", "RTO 208 ms", "RTO 416 ms"]


def test_the_ack_that_fills_a_hole_is_explained_as_such():
    """lost-segment-sack: the SACK names the block beyond the hole; the ACK after the
    retransmission covers it at once (ICSK_ACK_NOW), in the model's run and in the capture."""
    for trace in (model("lost-segment-sack"), kernel("lost-segment-sack")):
        whys = explain(trace)
        keys = [whys[id(s)].key.removeprefix("why.seg.") for s in trace.segments
                if s.flags == "." and whys[id(s)].key.startswith("why.seg.ack.")]
        assert "ack.sack" in keys and keys[keys.index("ack.sack") + 1] == "ack.filled", keys


FRTO_PROGRAM = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: setsockopt(fd, TCP_MAXSEG, 1000) = 0
client: connect(fd, 127.0.0.1:8080) = 0
client: send(fd, 13000) = 13000
server: recv(c, 13000, MSG_WAITALL) = 13000
server: send(c, 5) = 5
client: recv(fd, 100) = 5
client: sleep 200ms
client: close(fd) = 0
server: recv(c, 100) = 0
server: close(c) = 0
net: drop 3 DATA from client
"""


def test_f_rtos_new_data_is_explained_from_the_models_record_and_from_a_capture():
    """The first flight and the probe lost: the RTO resends 988 bytes, and their ACK is
    answered with two segments of new data (F-RTO, RFC 5682 3.1 step 2b: 10869 and 11857),
    then the SACK of them shows the loss real and the lost data goes again (RTO recovery).
    The model records it (Segment.why "by": "frto"); a capture has no record, and the same
    segments are told by the trace (new data clocked by an ACK after an RTO, before any
    more is resent).  Measured on the kernel: the same segments at the same times (verify
    differs only in a receiver's window after the hole fills, status "Issue 18: F-RTO")."""
    from tcpsim.scenario import parse

    trace = run_model(parse(FRTO_PROGRAM), KernelProfile.named("reference"))
    client = trace.relative()
    whys = explain(trace)
    frto = [(r.seq, r.seg.length) for r in client if whys[id(r.seg)].key == "why.seg.data.frto"]
    assert frto == [(10869, 988), (11857, 988)]
    assert all(r.seg.why == {"by": "frto", "cwnd": 2, "ssthresh": 7} for r in client
               if whys[id(r.seg)].key == "why.seg.data.frto")
    assert "F-RTO (RFC 5682)" in whys[id(client[[r.seq for r in client].index(10869)].seg)].text
    for seg in trace.segments:  # as a capture: no record
        seg.why = None
    whys = explain(trace)
    assert [(r.seq, r.seg.length) for r in client
            if whys[id(r.seg)].key == "why.seg.data.frto"] == frto
    kinds = [k for k, _ in resent(trace)]
    assert kinds.index("data.rto") < kinds.index("data.frto") < kinds.index("data.loss")
    with language("zh"):
        assert "F-RTO（RFC 5682）" in explain(trace)[id(client[[r.seq for r in client].index(10869)].seg)].text


def test_syn_retransmissions_before_linux_6_5_double_from_the_first():
    """Linux 6.1 has no tcp_syn_linear_timeouts: the SYN's timeout doubles from the first
    retry (1, then 2 s apart with TCP_SYNCNT 2), and the explanation says so, not the 6.5+
    linear ones (the reference kernel's retries of the same program are 1 s apart)."""
    trace = model("syn-timeout", profile=KernelProfile.named("linux-6.1"))
    whys = explain(trace)
    again = [whys[id(s)] for s in trace.segments
             if whys[id(s)].key.startswith("why.seg.syn.again")]
    assert [w.key for w in again] == ["why.seg.syn.again.doubling"] * 2
    # 1 s, then 2 s, each on the timer wheel (HZ 250: 8-jiffy buckets)
    assert "within 1024 ms" in again[0].text and "within 2016 ms" in again[1].text
    assert "doubles it after each retry" in again[0].text
    assert "tcp_syn_linear_timeouts)" in again[0].text and "first 4" not in again[0].text
