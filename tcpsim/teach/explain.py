"""Why each step of a trace happened: one or two sentences and the rule behind them.

Works on any Trace (the model's, the lab's, one read from a capture).  A state change the
model made carries its row of the transition table (State.rule); a state seen on the real
kernel is matched to the row that leads there.  A segment is explained from what it is in its
connection (first SYN, the ACK that completes the handshake, data, a delayed ACK, a FIN...),
with the kernel function of the rule that sent it where the trace has that rule.  Every
sentence comes from the message catalogs (tcpsim/i18n), so `--lang zh` explains in Chinese.
"""

from __future__ import annotations

import re

from dataclasses import dataclass

from ..i18n import has, lang, t
from ..model.sock import TCP_RTO_MAX, TCP_RTO_MIN
from ..model.table import RULES, citation, rule
from ..trace import Call, Segment, Trace

# A state change with no row of its own: the request socket a SYN creates on a listener.
_ALIAS = {("CLOSE", "rcv_syn"): ("LISTEN", "rcv_syn")}

# Steps of the kernel's bookkeeping that are no row of the table (the model makes them
# directly: tcp_minisocks.py's _act_arm_timewait, tcp.py's _act_reset_children): the
# message that explains each, and the kernel function.
_STEPS = {"time_wait": "tcp_time_wait(), inet_twsk_hashdance()",
          "listener_closed": "inet_csk_listen_stop(), inet_child_forget()"}

# What a send action puts on the wire, to find the rule behind a segment.
_SENDS = {"send_syn": "syn", "send_synack": "synack", "send_fin": "fin", "send_ack": "ack",
          "send_active_rst": "rst", "reset_reply": "rst", "reset_children": "rst"}

_CALL_REF = {
    "socket": "inet_create()", "bind": "inet_bind()", "listen": "RFC 9293 3.10.1 · inet_listen()",
    "accept": "inet_csk_accept()", "connect": "RFC 9293 3.10.1 · tcp_v4_connect()",
    "send": "RFC 9293 3.10.2 · tcp_sendmsg()", "recv": "RFC 9293 3.10.3 · tcp_recvmsg()",
    "readall": "RFC 9293 3.10.3 · tcp_recvmsg() until it returns 0",
    "close": "RFC 9293 3.10.4 · tcp_close()", "shutdown": "RFC 9293 3.6.1 · tcp_shutdown()",
    "setsockopt": "sk_setsockopt(), do_tcp_setsockopt()", "getsockopt": "do_tcp_getsockopt()",
    "fcntl": "fcntl(2)", "ioctl": "tcp_ioctl()", "poll": "tcp_poll()", "sleep": "", "exit": "do_exit()",
    "epoll_create": "do_epoll_create()", "epoll_ctl": "do_epoll_ctl(), ep_insert(), ep_modify()",
    "epoll_wait": "ep_poll(), ep_send_events(), tcp_poll()",
    "fork": "copy_process(), dup_fd()", "thread": "copy_process(CLONE_FILES)",
    "dup": "dup(2): get_file()",
}
_SEG_REF = {
    "syn": "RFC 9293 3.5 · tcp_connect()", "syn.again": "RFC 6298 5 · tcp_retransmit_timer()",
    "syn.again.doubling": "RFC 6298 5 · tcp_retransmit_timer()",
    "synack": "RFC 9293 3.5 · tcp_v4_send_synack()",
    "synack.again": "RFC 6298 5 · reqsk_timer_handler()",
    "synack.resyn": "RFC 9293 3.10.7.3 · tcp_check_req(), inet_rtx_syn_ack()",
    "ack.handshake": "RFC 9293 3.5 · tcp_rcv_synsent_state_process()",
    "data": "RFC 9293 3.8 · tcp_sendmsg(), tcp_push()",
    "data.again": "RFC 6298 5 · tcp_retransmit_timer()",
    "ack.quick": "tcp_in_quickack_mode(), __tcp_ack_snd_check()",
    "ack.filled": "RFC 5681 4.2 · tcp_data_queue(), tcp_ofo_queue()",
    "ack.delayed": "RFC 1122 4.2.3.2 · tcp_delack_timer()",
    "ack.fin": "RFC 9293 3.10.7.4 · tcp_fin()",
    "ack.fin.delayed": "RFC 1122 4.2.3.2 · tcp_fin(), tcp_delack_timer()",
    "fin.acks_fin": "RFC 9293 3.6 · tcp_send_fin()", "window": "RFC 9293 3.8.6 · tcp_cleanup_rbuf()",
    "ack": "RFC 9293 3.10.7.4 · tcp_ack()", "fin": "RFC 9293 3.6 · tcp_send_fin()",
    "rst.refused": "RFC 9293 3.5.2 · tcp_v4_send_reset()",
    "rst": "RFC 9293 3.5.2 · tcp_send_active_reset()",
    "probe.keepalive": "RFC 1122 4.2.3.6 · tcp_keepalive_timer(), tcp_xmit_probe_skb()",
    "ack.probe": "RFC 9293 3.10.7.4 · tcp_validate_incoming(), tcp_send_dupack()",
    "copy": "",
    # retransmissions and probes (issue 18): which timer or which rule sent them
    "data.rto": "RFC 6298 5 · tcp_retransmit_timer(), tcp_enter_loss()",
    "fin.rto": "RFC 6298 5 · tcp_retransmit_timer()",
    "data.tlp": "RFC 8985 7 · tcp_schedule_loss_probe(), tcp_send_loss_probe()",
    "fin.tlp": "RFC 8985 7 · tcp_schedule_loss_probe(), tcp_send_loss_probe()",
    "data.loss": "RFC 6298 5.4 · tcp_process_loss(), tcp_xmit_retransmit_queue()",
    "data.frto": "RFC 5682 3.1 · tcp_process_loss(), tcp_xmit_recovery()",
    "data.fast": "RFC 6675 5, RFC 8985 6, RFC 6937 · tcp_fastretrans_alert(), tcp_cwnd_reduction()",
    "data.rack": "RFC 8985 6.3 · tcp_rack_reo_timeout(), tcp_rack_detect_loss()",
    "data.probe0": "RFC 9293 3.8.6.1 · tcp_probe_timer(), tcp_write_wakeup()",
    "probe.zero_window": "RFC 9293 3.8.6.1 · tcp_probe_timer(), tcp_send_probe0()",
    "ack.dsack": "RFC 2883 · tcp_dsack_set(), tcp_send_dupack()",
    "ack.sack": "RFC 2018 · tcp_sack_new_ofo_skb(), tcp_build_sack()",
}
# A short tag for a retransmission's or probe's cause, drawn beside its arrow (protocol
# abbreviations, the same in every language) with the time it waited.
TAGS = {"syn.again": "RTO", "syn.again.doubling": "RTO", "synack.again": "RTO",
        "data.rto": "RTO", "fin.rto": "RTO",
        "data.tlp": "TLP", "fin.tlp": "TLP", "data.loss": "RTO recovery", "data.fast": "fast rtx",
        "data.frto": "F-RTO",
        "data.rack": "RACK", "data.probe0": "probe0", "probe.zero_window": "probe0",
        "probe.keepalive": "keepalive"}
# The model's record of a timer segment (Segment.why["timer"], model/tcp_timer.py _cause()),
# or of another cause (Segment.why["by"], e.g. set by fast retransmit): the kind it makes of
# a resent segment.  "fast_retransmit" (tcp_fastretrans_alert(): RFC 6675 / RACK, PRR's
# pacing) and "rack" (tcp_rack_reo_timeout()) are for the SACK recovery still to land.
_RESENT_BY = {"retransmit": "rto", "loss_probe": "tlp", "fast_retransmit": "fast", "rack": "rack",
              "reo": "rack",
              "loss": "loss", "probe0": "probe0"}
ACK_CLOCKED = 0.001  # a segment this soon after the peer's was sent because of it
DELAYED_ACK = 0.005  # an ACK later than this after what it acknowledges waited for the timer


@dataclass(frozen=True)
class Why:
    key: str  # the message id (the rule, or the kind of call or segment)
    text: str  # one or two sentences in the current language
    ref: str  # the RFC section and/or kernel function

    def line(self) -> str:
        return f"{self.text} {t('why.cite', ref=self.ref)}" if self.ref else self.text


def _syn_linear_timeouts(trace: Trace) -> int:
    """How many SYN retries this trace's kernel keeps 1 s apart before doubling
    (tcp_syn_linear_timeouts, tcp_retransmit_timer(): Linux 6.5 and later, default 4); a
    kernel before 6.5 has no such sysctl and doubles from the first retry."""
    value = trace.sysctls.get("net.ipv4.tcp_syn_linear_timeouts")
    if value is not None:
        return int(value)
    m = re.match(r"(\d+)\.(\d+)", str(trace.kernel.get("release", "")))
    return 4 if m is None or (int(m.group(1)), int(m.group(2))) >= (6, 5) else 0


def sentence(text: str) -> str:
    """A rule's fragment as a sentence: capitalised and with its stop (。 in Chinese)."""
    if lang() == "zh":
        return text if text.endswith("。") else text + "。"
    if "(" not in text.split(" ", 1)[0]:  # "listen() makes..." keeps the call's own name
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def rule_why(state: str, event: str) -> Why | None:
    state, event = _ALIAS.get((state, event), (state, event))
    r = rule(state, event)
    if r is None:
        return None
    return Why(f"rule.{r.state}.{r.event}", sentence(t(f"rule.{r.state}.{r.event}")), citation(r))


def explain(trace: Trace) -> dict[int, Why]:
    """id(event) -> Why, for every call, segment and state change of the trace."""
    out: dict[int, Why] = {}
    for ev, why in _states(trace):
        out[id(ev)] = why
    for ev, why in _segments(trace):
        out[id(ev)] = why
    listeners = _listener_names(trace)
    for ev in trace.events:
        if isinstance(ev, Call):
            out[id(ev)] = _call(ev, listeners)
    if trace.segments and all(s.src.startswith("[") for s in trace.segments):
        # an IPv6 run: the same rules live in net/ipv6/tcp_ipv6.c under tcp_v6_* names
        out = {k: Why(w.key, w.text, _V4_NAMES.sub(r"tcp_v6_\1", w.ref)) if w.ref else w
               for k, w in out.items()}
    return out


# tcp_v4_* functions with a tcp_v6_* twin in net/ipv6/tcp_ipv6.c (the rest are shared code)
_V4_NAMES = re.compile(r"tcp_v4_(connect|send_synack|send_reset|send_ack|syn_recv_sock|"
                       r"conn_request|rcv|do_rcv|err|mtu_reduced|init_sock|destroy_sock)\b")


# -- states ------------------------------------------------------------------------------
def _states(trace: Trace):
    last: dict[str, str] = {}
    for ev in trace.states:
        prev = last.get(ev.socket)
        last[ev.socket] = ev.state
        if ev.rule:
            old, event = ev.rule.split(" ", 1)
            why = rule_why(old, event)
            if why is None and event in _STEPS:
                why = Why(f"why.step.{event}", t(f"why.step.{event}"), _STEPS[event])
        elif prev is None or prev == ev.state:
            why = Why("why.state.new", t("why.state.new"), "inet_create()") \
                if prev is None and ev.state == "CLOSE" else None
        else:  # seen on the real kernel: the row that leads from the last state seen to this
            r = next((r for r in RULES if r.state == prev and r.next == ev.state), None)
            why = rule_why(r.state, r.event) if r else \
                Why("why.state.seen", t("why.state.seen", state=ev.state, socket=ev.socket), "")
        if why is not None:
            yield ev, why


# -- segments ----------------------------------------------------------------------------
def _segments(trace: Trace):
    for seg, kind, kw, _ in _classified(trace):
        ref = _SEG_REF[kind]
        if isinstance(kw, Why):
            yield seg, kw  # the rule says why this reset (unread data, linger, ...)
            continue
        matched = kw.pop("_rule", None)
        line = kw.pop("_lost", None)
        text = t(f"why.seg.{kind}", **kw)
        numbers = _numbers(kind, seg.why)
        if numbers:
            text = f"{text} {numbers}"
        late = _wheel_late(kind, seg.why, kw.get("ms"))
        if late:
            text = f"{text} {late}"
        if line is not None:
            text = f"{text} {t('why.seg.lost', line=line)}"
        if matched is not None:
            ref = matched.ref
        yield seg, Why(f"why.seg.{kind}", text, ref)


def resent_marks(trace: Trace) -> dict[int, str]:
    """id(segment) -> a short label of what sent it again or as a probe ("TLP 208 ms", "RTO
    416 ms", "probe0 212 ms"): the timer and how long it waited, for the sequence diagram."""
    return {id(seg): f"{TAGS[kind]} {wait * 1000:.0f} ms" if wait is not None else TAGS[kind]
            for seg, kind, _, wait in _classified(trace) if kind in TAGS}


def dropped(trace: Trace) -> dict[int, int]:
    """id(segment) -> the `net: drop` line that lost it.  Both worlds capture a segment as it
    leaves, the lost ones too (the lab's capture taps lo before prerouting, where its nft rule
    drops), and both count a line's matches in the order segments are sent, so the program's
    net: lines replayed over the trace (sim/world.py Wire) find the same segments."""
    if not trace.program_text or "net:" not in trace.program_text:
        return {}
    from ..errors import TcpsimError
    from ..scenario import parse
    from ..sim.world import Wire

    try:
        faults = parse(trace.program_text).faults
    except TcpsimError:
        return {}
    if not any(f.action == "drop" for f in faults):
        return {}
    wire, out = Wire(faults), {}
    for seg in trace.segments:
        before = dict(wire.dropped)
        fate = wire.fate(seg.flags, seg.length, int(seg.src.rsplit(":", 1)[1]),
                         int(seg.dst.rsplit(":", 1)[1]))
        if fate == 0.0:
            out[id(seg)] = next(line for line, n in wire.dropped.items() if n != before[line])
    return out


def _classified(trace: Trace):
    """(segment, kind, placeholders or a rule's Why, the wait that timed it or None) for
    every segment of the trace, in order."""
    owner = trace.owner()
    senders = [(s, s.rule.split(" ", 1)) for s in trace.states if s.rule]
    sent: dict[tuple, set] = {}  # direction -> (seq, kind) already sent
    last_ack: dict[tuple, tuple] = {}  # direction -> (ack, win) of its last segment
    data_end: dict[tuple, list] = {}  # direction -> [(end seq, time)] of data not yet ACKed
    sacked_to: dict[tuple, int] = {}  # direction -> the right edge of the SACK blocks it sent
    fin_end: dict[tuple, tuple] = {}  # direction -> (end seq, time) of its FIN
    syn_seen: dict[tuple, bool] = {}
    acked_fin: set = set()
    sent_end: dict[tuple, int] = {}  # direction -> the end of what it has sent (relative)
    probed: set = set()  # directions whose last segment was a keepalive probe
    # for retransmissions and probes: when each direction last sent a SYN, data or a FIN
    # (what re-arms its retransmission timer) and any segment; what its current loss episode
    # (until the peer ACKs everything it sent) has seen (tlp, rto, ...); and the sackOK of
    # each direction's SYN
    last_tx: dict[tuple, float] = {}
    last_any: dict[tuple, float] = {}  # ... and when it last sent a segment that arrived
    sent_at: dict[tuple, float] = {}  # ... and any segment
    probe_at: dict[tuple, float] = {}  # ... and its last zero-window probe
    lost = dropped(trace)  # what a net: line lost never reached the peer
    episode: dict[tuple, set] = {}
    frto_at: dict[tuple, float] = {}  # direction -> when F-RTO's new data left, this episode
    syns: dict[tuple, int] = {}
    sack_ok: dict[tuple, bool] = {}
    linear = _syn_linear_timeouts(trace)
    # A capture times a segment when it leaves; what it answers arrived one trip later.  The
    # SYN to SYN-ACK gap measures that trip (10 us on loopback, more on a slowed wire).
    trip: dict[frozenset, float] = {}
    syn_at: dict[frozenset, float] = {}
    for seg in trace.segments:
        pair = frozenset((seg.src, seg.dst))
        if seg.flags == "S":
            syn_at.setdefault(pair, seg.t)
        elif "S" in seg.flags and pair in syn_at:
            trip.setdefault(pair, seg.t - syn_at[pair])
    for rel in trace.relative():
        seg = rel.seg
        if seg.copy:  # the network's, not TCP's: it changes nothing of what the sender did
            yield seg, "copy", {}, None
            continue
        d, back = (seg.src, seg.dst), (seg.dst, seg.src)
        wire = trip.get(frozenset(d), 0.0)
        flags, length = seg.flags, seg.length
        mine = sent.setdefault(d, set())
        kw: dict = {"ack": rel.ack, "seq": rel.seq, "len": length}
        ep = episode.setdefault(d, set())
        # sent because the peer's segment just arrived (an ACK), not by a timer
        clocked = back in last_any and seg.t - last_any[back] <= ACK_CLOCKED + wire
        heard = last_any.get(back, 0.0)  # when the peer was last heard from
        wait = None
        if "R" in flags:
            kind = "rst.refused" if syn_seen.get(back) and not mine else "rst"
        elif "S" in flags:
            # the same SYN (or SYN-ACK) again; a SYN-ACK after this side's own SYN is the
            # simultaneous open's, not a retransmission
            again = (rel.seq, flags.replace("P", "")) in mine
            kind = ("synack" if "." in flags else "syn") + (".again" if again else "")
            mine.add((rel.seq, flags.replace("P", "")))
            syn_seen[d] = True
            sack_ok[d] = any(name == "sackOK" for name, _ in seg.options)
            if again:
                wait = seg.t - last_tx[d]
                kw.update(ms=f"{wait * 1000:.0f}", n=syns.get((d, flags), 0), linear=linear)
                if kind == "syn.again" and not linear:
                    kind = "syn.again.doubling"  # a kernel before 6.5, or the sysctl at 0
                if kind == "synack.again" and (seg.why or {}).get("timer") != "synack" and clocked:
                    kind = "synack.resyn"  # the peer's SYN came again (tcp_check_req())
                    wait = None
            syns[(d, flags)] = syns.get((d, flags), 0) + 1
        elif "F" in flags and fin_end.get(d, (None,))[0] == rel.end_seq:
            wait = seg.t - last_tx[d]
            kind = "fin." + _resent_by(seg, ep, clocked, True, sack_ok.get(d) and sack_ok.get(back))
            kw["ms"] = f"{wait * 1000:.0f}"
        elif "F" in flags:
            kind = "fin"
            if back in fin_end and rel.ack == fin_end[back][0] and back not in acked_fin:
                kind = "fin.acks_fin"
                acked_fin.add(back)
            fin_end[d] = (rel.end_seq, seg.t)
        elif length and d in sent_end and rel.seq < sent_end[d]:
            # below what this side sent already: data sent again
            wait = seg.t - last_tx[d]
            tail = rel.end_seq >= sent_end[d]
            kind = "data." + _resent_by(seg, ep, clocked, tail, sack_ok.get(d) and sack_ok.get(back))
            kw["ms"] = f"{wait * 1000:.0f}"
            mine.add((rel.seq, "D"))
            data_end.setdefault(d, []).append((rel.end_seq, seg.t))
        elif length:
            kind = "data"
            why = seg.why or {}
            if why.get("timer") == "probe0" or (
                    not why and trace.source != "model" and not clocked and d in sent_at
                    and _idle(trace, seg, owner, max(heard, last_tx.get(d, 0.0)))):
                # new data a timer sent: the persist timer's window probe, or the cork's
                # 200 ms (tcp_write_wakeup())
                kind = "data.probe0"
                wait = seg.t - max(heard, last_tx.get(d, 0.0))
                kw["ms"] = f"{wait * 1000:.0f}"
            elif why.get("by") == "frto" or (
                    not why and clocked and "rto" in ep and "loss" not in ep
                    and abs(frto_at.setdefault(d, seg.t) - seg.t) <= ACK_CLOCKED):
                # new data at the ACK of the RTO's retransmission, before any more is resent
                # (one burst): F-RTO's step 2b (tcp_process_loss(): REXMIT_NEW)
                kind = "data.frto"
            mine.add((rel.seq, "D"))
            data_end.setdefault(d, []).append((rel.end_seq, seg.t))
        elif "." in flags and _sack_blocks(rel):
            blocks = _sack_blocks(rel)
            left, right = blocks[0]
            dsack = left < rel.ack or len(blocks) > 1 and blocks[1][0] <= left and right <= blocks[1][1]
            kind = "ack.dsack" if dsack else "ack.sack"
            if not dsack:
                sacked_to[d] = max(b for _, b in blocks)
            kw.update(left=left, right=right,
                      blocks=", ".join(f"{a}-{b}" for a, b in blocks[1 if dsack else 0:]) or "-")
        elif syn_seen.get(d) and syn_seen.get(back) and not any(k == "A" for _, k in mine) \
                and rel.ack == 1 and rel.seq == 1:
            kind = "ack.handshake"
        elif back in fin_end and rel.ack == fin_end[back][0] and back not in acked_fin:
            delay = seg.t - fin_end[back][1] - wire
            kind = "ack.fin.delayed" if delay >= DELAYED_ACK else "ack.fin"
            kw["ms"] = f"{delay * 1000:.0f}"
            acked_fin.add(back)
        elif (rel.seq + 1 == sent_end.get(d) and syn_seen.get(back)
              and (seg.why or {}).get("timer") != "probe0"
              and (last_ack.get(back, (0, 1))[1] > 0 or (seg.why or {}).get("timer") == "keepalive")):
            # a bare ACK one below what this side has sent, to a peer whose window is open:
            # a keepalive probe (a zero window's probe looks the same, to a closed window)
            kind = "probe.keepalive"
            wait = seg.t - max(heard, sent_at.get(d, 0.0))
        elif rel.seq + 1 == sent_end.get(d) and syn_seen.get(back):
            kind = "probe.zero_window"  # the persist timer's (tcp_xmit_probe_skb())
            # armed by the zero window's ACK, then again by each probe (tcp_send_probe0())
            wait = seg.t - max(heard, probe_at.get(d, 0.0))
            probe_at[d] = seg.t
            kw["ms"] = f"{wait * 1000:.0f}"
        elif back in probed and rel.seq == sent_end.get(d):
            kind = "ack.probe"
        elif last_ack.get(d, (None,))[0] == rel.ack and seg.win > last_ack[d][1]:
            kind = "window"
        else:
            pending = [tm for end, tm in data_end.get(back, []) if end <= rel.ack]
            if d in sacked_to and rel.ack >= sacked_to[d]:
                # the ACK after a hole fills covers what the SACKs reported: sent at once
                # (tcp_data_queue(): ICSK_ACK_NOW when the out-of-order queue empties)
                kind = "ack.filled"
                del sacked_to[d]
            elif pending:
                delay = seg.t - max(pending) - wire
                kind = "ack.delayed" if delay >= DELAYED_ACK else "ack.quick"
                kw["ms"] = f"{delay * 1000:.0f}"
            else:
                kind = "ack"
        if kind == "probe.keepalive":
            probed.add(d)
        else:
            probed.discard(back)
        if kind.split(".")[1:2] and kind.split(".")[1] in ("rto", "tlp", "fast", "rack", "loss"):
            ep.add(kind.split(".")[1])
            if kind in ("data.fast", "data.loss"):
                wait = None  # an ACK sent it, not a timer
        sent_end[d] = max(sent_end.get(d, 0), rel.end_seq)
        if length or "S" in flags or "F" in flags:
            last_tx[d] = seg.t
        sent_at[d] = seg.t
        if id(seg) in lost:
            kw["_lost"] = lost[id(seg)]
            yield from _done(seg, kind, kw, wait, senders, owner)
            continue
        last_any[d] = seg.t
        if "." in flags:
            data_end[back] = [(e, tm) for e, tm in data_end.get(back, []) if e > rel.ack]
            mine.add((rel.ack, "A"))
            last_ack[d] = (rel.ack, seg.win)
            if back in sent_end and rel.ack >= sent_end[back]:
                episode.pop(back, None)  # everything the peer sent is ACKed: the episode is over
                frto_at.pop(back, None)
        yield from _done(seg, kind, kw, wait, senders, owner)


def _done(seg: Segment, kind: str, kw: dict, wait, senders, owner):
    matched = _sending_rule(senders, seg, owner, kind)
    if matched is not None and kind.startswith("rst") and kind != "rst.refused":
        yield seg, kind, matched, wait  # the rule says why this reset
        return
    kw["_rule"] = matched
    yield seg, kind, kw, wait


def _resent_by(seg: Segment, ep: set, clocked: bool, tail: bool, sack: bool) -> str:
    """What sent data or a FIN again: the model's record when it has one, else what the
    trace shows.  An ACK just arrived: recovery after a timeout (tcp_xmit_retransmit_queue())
    or a fast retransmit.  A timer: the tail loss probe first (it needs SACK, and is sent
    once per episode, for the last segment: tcp_schedule_loss_probe()), then the RTO."""
    why = seg.why or {}
    by = _RESENT_BY.get(why.get("timer") or why.get("by"))
    if by in ("rto", "tlp", "fast", "rack", "loss"):
        return by
    if clocked:
        return "loss" if "rto" in ep else "fast"
    if sack and tail and not ep & {"tlp", "rto"}:
        return "tlp"
    return "rto"


def _idle(trace: Trace, seg: Segment, owner, last: float) -> bool:
    """Whether new data left with nothing to prompt it: no call of its process within
    ACK_CLOCKED before it and the connection silent for a probe timer's least wait."""
    process = owner(seg.src)
    if any(c.process == process and seg.t - ACK_CLOCKED <= c.t <= seg.t for c in trace.calls):
        return False
    return seg.t - last >= TCP_RTO_MIN * 0.9


def _sack_blocks(rel) -> list:
    for name, v in rel.options:
        if name == "sack" and v:
            return v
    return []


def _ms(us: float) -> str:
    return f"{us / 1000:.3f}".rstrip("0").rstrip(".")


def _numbers(kind: str, why: dict | None) -> str:
    """The numbers behind a timer's length, where the model recorded them (tcp_timer.py
    _cause()); "" for a trace of the real kernel, whose internals a capture does not show."""
    if not why:
        return ""
    rto_min = TCP_RTO_MIN * 1e6
    if kind in ("data.rto", "fin.rto") and why.get("timer") == "retransmit":
        return t("why.seg.rto.numbers", srtt=_ms(why["srtt_us"]), rttvar=_ms(why["rttvar_us"]),
                 n=max(why["backoff"], why["retries"]), rto=_ms(why["rto_ms"] * 1000))
    if kind in ("data.tlp", "fin.tlp") and why.get("timer") == "loss_probe":
        srtt = why["srtt_us"]
        if why["out"] == 1:
            pto = min(2 * srtt + rto_min, why["rto_ms"] * 1000)
            return t("why.seg.tlp.one", srtt=_ms(srtt), pto=_ms(pto), rto=_ms(why["rto_ms"] * 1000))
        return t("why.seg.tlp.many", srtt=_ms(srtt), out=why["out"], pto=_ms(2 * srtt + 2000))
    if kind == "probe.zero_window" and why.get("timer") == "probe0":
        wait = min(why["base_ms"] * (1 << min(10, why["backoff"])), TCP_RTO_MAX * 1000)
        # icsk_backoff counts the probes of this zero window (an answer zeroes probes_out)
        return t("why.seg.probe0.numbers", n=why["backoff"] + 1, base=_ms(why["base_ms"] * 1000),
                 backoff=why["backoff"], wait=_ms(wait * 1000))
    if kind == "probe.keepalive" and why.get("timer") == "keepalive":
        return t("why.seg.keepalive.numbers", n=why["probes"] + 1, cnt=why["cnt"],
                 idle=why["idle"], intvl=why["intvl"])
    return ""


def _wheel_late(kind: str, why: dict | None, ms: str | None) -> str:
    """Why a SYN or SYN-ACK timer of 1 s fired after 1024 ms: the timer wheel (mod_timer():
    calc_wheel_index() rounds the expiry up to the next bucket of the timer's level, 8
    jiffies for 1-2 s at HZ 250).  "" when the model did not record the timer, or it ran on
    time."""
    if not why or ms is None or kind not in ("syn.again", "syn.again.doubling", "synack.again"):
        return ""
    if why.get("timer") == "retransmit":
        nominal = why["rto_ms"]
    elif why.get("timer") == "synack":  # reqsk_timer_handler(): TCP_TIMEOUT_INIT << num_timeout
        nominal = 1000 * 2 ** why["retries"]
    else:
        return ""
    late = float(ms) - nominal
    return t("why.seg.wheel", rto=f"{nominal:.0f}", late=f"{late:.0f}") if late >= 1 else ""


def _sending_rule(senders, seg: Segment, owner, kind: str) -> Why | None:
    process = owner(seg.src)
    want = kind.split(".")[0]
    for st, (old, event) in senders:
        if abs(st.t - seg.t) > 1e-7 or (process and not st.socket.startswith(process + ".")):
            continue
        old, event = _ALIAS.get((old, event), (old, event))
        r = rule(old, event)
        acts = [_SENDS[a] for a in r.actions if a in _SENDS] if r else []
        if r and (r.event == "rcv_syn" and want == "synack" or want in acts):
            why = rule_why(old, event)
            return why
    return None


# -- calls -------------------------------------------------------------------------------
def call_name(ev: Call) -> str:
    head = ev.text.split("(", 1)[0]
    return head.split("=")[-1].strip()


def _args(ev: Call) -> list[str]:
    inside = ev.text.split("(", 1)[1].rsplit(")", 1)[0] if "(" in ev.text else ""
    return [a.strip() for a in inside.split(",")]


def _listener_names(trace: Trace) -> set[str]:
    return {s.socket for s in trace.states if s.state == "LISTEN"}


def _call(ev: Call, listeners: set[str]) -> Why:
    name = call_name(ev)
    ref = _CALL_REF.get(name, "")
    if ev.errno:
        key = f"why.errno.{ev.errno}"
        if has(key):
            return Why(key, t(key), f"{ev.errno} · {ref}" if ref else ev.errno)
        return Why("why.errno.other", t("why.errno.other", errno=ev.errno), ref)
    if ev.kind == "call" and ev.blocked and ev.result is None:
        for key in (f"why.call.{name}.blocks", f"why.call.{name}"):
            if has(key):
                return Why(key, t(key), ref)
    if name == "recv" and ev.result == 0:
        return Why("why.call.recv.eof", t("why.call.recv.eof"), "RFC 9293 3.10.7.4 · tcp_recvmsg()")
    args = _args(ev)
    if name == "close" and ev.value and not ev.errno:  # another process still holds it
        return Why("why.call.close.shared", t("why.call.close.shared"), "fput(), sock_close()")
    if name == "close" and args and f"{ev.process}.{args[0]}" in listeners:
        return Why("why.call.close.listener", t("why.call.close.listener"),
                   "inet_csk_listen_stop()")
    if name == "shutdown":
        how = args[1] if len(args) > 1 else "SHUT_WR"
        return Why("why.call.shutdown", t("why.call.shutdown", how=how), ref)
    if name in ("setsockopt", "getsockopt"):
        option = args[2] if len(args) > 2 else "?"
        return Why(f"why.call.{name}", t(f"why.call.{name}", option=option), ref)
    key = f"why.call.{name}"
    if ev.kind == "return" and name not in ("accept", "connect", "recv", "readall"):
        key = "why.call.return"
    return Why(key, t(key), ref) if has(key) else Why("why.call.return", t("why.call.return"), ref)
