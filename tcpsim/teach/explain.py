"""Why each step of a trace happened: one or two sentences and the rule behind them.

Works on any Trace (the model's, the lab's, one read from a capture).  A state change the
model made carries its row of the transition table (State.rule); a state seen on the real
kernel is matched to the row that leads there.  A segment is explained from what it is in its
connection (first SYN, the ACK that completes the handshake, data, a delayed ACK, a FIN...),
with the kernel function of the rule that sent it where the trace has that rule.  Every
sentence comes from the message catalogs (tcpsim/i18n), so `--lang zh` explains in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import has, lang, t
from ..model.table import RULES, citation, rule
from ..trace import Call, Segment, State, Trace

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
}
_SEG_REF = {
    "syn": "RFC 9293 3.5 · tcp_connect()", "syn.again": "RFC 6298 5 · tcp_retransmit_timer()",
    "synack": "RFC 9293 3.5 · tcp_v4_send_synack()",
    "synack.again": "RFC 6298 5 · reqsk_timer_handler()",
    "ack.handshake": "RFC 9293 3.5 · tcp_rcv_synsent_state_process()",
    "data": "RFC 9293 3.8 · tcp_sendmsg(), tcp_push()",
    "data.again": "RFC 6298 5 · tcp_retransmit_timer()",
    "ack.quick": "tcp_in_quickack_mode(), __tcp_ack_snd_check()",
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
    "ack.dsack": "RFC 2883 · tcp_data_queue(), tcp_send_dupack(), tcp_dsack_set()",
}
DELAYED_ACK = 0.005  # an ACK later than this after what it acknowledges waited for the timer


@dataclass(frozen=True)
class Why:
    key: str  # the message id (the rule, or the kind of call or segment)
    text: str  # one or two sentences in the current language
    ref: str  # the RFC section and/or kernel function

    def line(self) -> str:
        return f"{self.text} {t('why.cite', ref=self.ref)}" if self.ref else self.text


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
    return out


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
    owner = trace.owner()
    senders = [(s, s.rule.split(" ", 1)) for s in trace.states if s.rule]
    sent: dict[tuple, set] = {}  # direction -> (seq, kind) already sent
    last_ack: dict[tuple, tuple] = {}  # direction -> (ack, win) of its last segment
    data_end: dict[tuple, list] = {}  # direction -> [(end seq, time)] of data not yet ACKed
    fin_end: dict[tuple, tuple] = {}  # direction -> (end seq, time) of its FIN
    syn_seen: dict[tuple, bool] = {}
    acked_fin: set = set()
    sent_end: dict[tuple, int] = {}  # direction -> the end of what it has sent (relative)
    probed: set = set()  # directions whose last segment was a keepalive probe
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
            yield seg, Why("why.seg.copy", t("why.seg.copy"), _SEG_REF["copy"])
            continue
        d, back = (seg.src, seg.dst), (seg.dst, seg.src)
        wire = trip.get(frozenset(d), 0.0)
        flags, length = seg.flags, seg.length
        mine = sent.setdefault(d, set())
        kw: dict = {"ack": rel.ack, "seq": rel.seq, "len": length}
        if "R" in flags:
            kind = "rst.refused" if syn_seen.get(back) and not mine else "rst"
        elif "S" in flags:
            kind = ("synack" if "." in flags else "syn") + (".again" if (rel.seq, "S") in mine else "")
            mine.add((rel.seq, "S"))
            syn_seen[d] = True
        elif "F" in flags:
            kind = "fin"
            if back in fin_end and rel.ack == fin_end[back][0] and back not in acked_fin:
                kind = "fin.acks_fin"
                acked_fin.add(back)
            fin_end[d] = (rel.end_seq, seg.t)
        elif length:
            kind = "data.again" if (rel.seq, "D") in mine else "data"
            mine.add((rel.seq, "D"))
            data_end.setdefault(d, []).append((rel.end_seq, seg.t))
        elif _dsack(seg, rel.ack) is not None:
            kind = "ack.dsack"
            kw["block"] = "{%d:%d}" % _dsack(seg, rel.ack)
        elif syn_seen.get(d) and syn_seen.get(back) and not any(k == "A" for _, k in mine) \
                and rel.ack == 1 and rel.seq == 1:
            kind = "ack.handshake"
        elif back in fin_end and rel.ack == fin_end[back][0] and back not in acked_fin:
            delay = seg.t - fin_end[back][1] - wire
            kind = "ack.fin.delayed" if delay >= DELAYED_ACK else "ack.fin"
            kw["ms"] = f"{delay * 1000:.0f}"
            acked_fin.add(back)
        elif (rel.seq + 1 == sent_end.get(d) and syn_seen.get(back)
              and last_ack.get(back, (0, 1))[1] > 0):
            # a bare ACK one below what this side has sent, to a peer whose window is open:
            # a keepalive probe (a zero window's probe looks the same, to a closed window)
            kind = "probe.keepalive"
        elif back in probed and rel.seq == sent_end.get(d):
            kind = "ack.probe"
        elif last_ack.get(d, (None,))[0] == rel.ack and seg.win > last_ack[d][1]:
            kind = "window"
        else:
            pending = [tm for end, tm in data_end.get(back, []) if end <= rel.ack]
            if pending:
                delay = seg.t - max(pending) - wire
                kind = "ack.delayed" if delay >= DELAYED_ACK else "ack.quick"
                kw["ms"] = f"{delay * 1000:.0f}"
            else:
                kind = "ack"
        if kind == "probe.keepalive":
            probed.add(d)
        else:
            probed.discard(back)
        sent_end[d] = max(sent_end.get(d, 0), rel.end_seq)
        if "." in flags:
            data_end[back] = [(e, tm) for e, tm in data_end.get(back, []) if e > rel.ack]
            mine.add((rel.ack, "A"))
            last_ack[d] = (rel.ack, seg.win)
        ref = _SEG_REF[kind]
        matched = _sending_rule(senders, seg, owner, kind)
        if matched is not None and kind.startswith("rst") and kind != "rst.refused":
            yield seg, matched  # the rule says why this reset (unread data, linger, ...)
            continue
        if matched is not None:
            ref = matched.ref
        yield seg, Why(f"why.seg.{kind}", t(f"why.seg.{kind}", **kw), ref)


def _dsack(seg: Segment, rel_ack: int) -> tuple[int, int] | None:
    """The first SACK block, relative, if it reports a duplicate (RFC 2883 4: at or below the
    cumulative ACK, or inside the second block), else None."""
    blocks = next((v for n, v in seg.options if n == "sack"), None)
    if not blocks:
        return None
    base = (seg.ack - rel_ack) % (1 << 32)
    (left, right), *more = [((a - base) % (1 << 32), (b - base) % (1 << 32)) for a, b in blocks]
    if right <= rel_ack or (more and more[0][0] <= left and right <= more[0][1]):
        return left, right
    return None


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
