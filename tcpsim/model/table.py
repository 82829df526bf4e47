"""The TCP state machine of Linux, as one table.

Every state change the model makes is a row here: the kernel code (kernel.py and the modules
it composes, tcp.py, tcp_input.py, tcp_output.py, tcp_timer.py, tcp_minisocks.py) classifies
what happened into an event, looks up (state, event) and does what the row says.  The state
diagram (networkx), the docs and the coverage of the tests all read this same table.

States carry Linux's names (include/net/tcp_states.h).  NEW_SYN_RECV is the request socket
that stands for a passive SYN-RECEIVED connection (RFC 9293's SYN-RECEIVED); SYN_RECV is the
full socket of a simultaneous open.  "CLOSE" is RFC 9293's CLOSED.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = ("CLOSE", "LISTEN", "SYN_SENT", "NEW_SYN_RECV", "SYN_RECV", "ESTABLISHED", "FIN_WAIT1",
          "FIN_WAIT2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK")
# RFC 9293's name of each Linux state (section 3.3.2), where it differs
RFC_NAMES: dict[str, str] = {
    "SYN_SENT": "SYN-SENT", "SYN_RECV": "SYN-RECEIVED", "NEW_SYN_RECV": "SYN-RECEIVED",
    "FIN_WAIT1": "FIN-WAIT-1", "FIN_WAIT2": "FIN-WAIT-2", "CLOSE_WAIT": "CLOSE-WAIT",
    "LAST_ACK": "LAST-ACK", "TIME_WAIT": "TIME-WAIT", "CLOSE": "CLOSED",
}

@dataclass(frozen=True)
class Rule:
    state: str
    event: str
    next: str
    actions: tuple[str, ...]
    ref: str  # the RFC section or kernel function behind the rule
    why: str  # one sentence, for explanations


def _r(state, event, next_, actions, ref, why) -> Rule:
    return Rule(state, event, next_, tuple(actions), ref, why)


RULES: tuple[Rule, ...] = (
    # -- opening -------------------------------------------------------------------------
    _r("CLOSE", "listen", "LISTEN", [], "inet_listen()",
       "listen() makes the socket passive; it answers SYNs from now on"),
    _r("CLOSE", "connect", "SYN_SENT", ["send_syn"], "tcp_v4_connect(), tcp_connect()",
       "connect() sends a SYN with a fresh ISN and the options this kernel offers"),
    _r("LISTEN", "rcv_syn", "LISTEN", ["make_request"], "tcp_conn_request()",
       "a SYN to a listener creates a request socket, which answers with SYN-ACK"),
    _r("LISTEN", "rcv_syn_queue_full", "LISTEN", ["drop"],
       "tcp_conn_request(): sk_acceptq_is_full()",
       "the accept queue is longer than the backlog: Linux drops the SYN silently"),
    _r("LISTEN", "close", "CLOSE", ["reset_children"], "inet_csk_listen_stop()",
       "closing a listener resets the connections nobody accepted"),
    _r("NEW_SYN_RECV", "created", "NEW_SYN_RECV", ["send_synack"], "tcp_v4_send_synack()",
       "the request socket sends SYN-ACK: its own ISN, ACK of the SYN, the agreed options"),
    _r("NEW_SYN_RECV", "rcv_syn", "NEW_SYN_RECV", ["send_synack"], "tcp_check_req()",
       "a retransmitted SYN gets the SYN-ACK again"),
    _r("NEW_SYN_RECV", "rcv_ack", "ESTABLISHED", ["make_child"],
       "tcp_check_req(), tcp_v4_syn_recv_sock()",
       "the ACK of the SYN-ACK completes the handshake: a full socket joins the accept queue"),
    _r("NEW_SYN_RECV", "timer_synack", "NEW_SYN_RECV", ["send_synack"], "reqsk_timer_handler()",
       "no ACK yet: the SYN-ACK is sent again, the interval doubling"),
    _r("NEW_SYN_RECV", "synack_retries_out", "CLOSE", [], "reqsk_timer_handler()",
       "after tcp_synack_retries the request socket is dropped"),
    _r("SYN_SENT", "rcv_synack", "ESTABLISHED", ["send_ack"], "tcp_rcv_synsent_state_process()",
       "the SYN-ACK acknowledges our SYN: the connection is established and we ACK at once"),
    _r("SYN_SENT", "rcv_syn", "SYN_RECV", ["send_synack"], "tcp_rcv_synsent_state_process()",
       "a SYN without ACK while we wait: the SYNs crossed (simultaneous open)"),
    _r("SYN_SENT", "rcv_rst", "CLOSE", ["error_ECONNREFUSED"], "tcp_reset()",
       "an acceptable RST answers our SYN: nobody listens there (ECONNREFUSED)"),
    _r("SYN_SENT", "timer_syn", "SYN_SENT", ["send_syn"], "tcp_retransmit_timer()",
       "no answer to the SYN: it is sent again with the same ISN"),
    _r("SYN_SENT", "syn_retries_out", "CLOSE", ["error_ETIMEDOUT"], "tcp_write_timeout()",
       "the SYN was sent tcp_syn_retries+1 times without an answer: ETIMEDOUT"),
    _r("ESTABLISHED", "retries_out", "CLOSE", ["error_ETIMEDOUT"], "tcp_write_timeout()",
       "data went unacknowledged past TCP_USER_TIMEOUT (or tcp_retries2's time): ETIMEDOUT"),
    _r("FIN_WAIT1", "retries_out", "CLOSE", ["error_ETIMEDOUT"], "tcp_write_timeout()",
       "data or the FIN went unacknowledged past TCP_USER_TIMEOUT after shutdown(SHUT_WR): "
       "ETIMEDOUT"),
    _r("SYN_SENT", "close", "CLOSE", [], "tcp_close_state()",
       "close() during the handshake sends nothing (tcp_close_state: SYN_SENT -> CLOSE)"),
    _r("SYN_RECV", "rcv_ack", "ESTABLISHED", [], "tcp_rcv_state_process()",
       "the ACK of our SYN-ACK completes the simultaneous open"),
    _r("SYN_RECV", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()",
       "the peer aborted before the simultaneous open completed: connect() gets ECONNRESET"),
    # -- data and release ----------------------------------------------------------------
    _r("ESTABLISHED", "rcv_fin", "CLOSE_WAIT", ["schedule_ack", "enter_pingpong"], "tcp_fin()",
       "the peer is done sending: its FIN is ACKed by the delayed-ACK timer or with our FIN"),
    _r("ESTABLISHED", "close", "FIN_WAIT1", ["send_fin"], "tcp_close_state(), tcp_send_fin()",
       "close() with nothing unread sends FIN (FIN_WAIT1 is entered when the FIN is queued)"),
    _r("ESTABLISHED", "shutdown_wr", "FIN_WAIT1", ["send_fin"], "tcp_shutdown()",
       "shutdown(SHUT_WR) sends FIN but keeps the descriptor and the receiving side"),
    _r("ESTABLISHED", "keepalive_out", "CLOSE", ["send_active_rst", "error_ETIMEDOUT"],
       "tcp_keepalive_timer(), tcp_write_err()",
       "TCP_KEEPCNT keepalive probes went unanswered (the idle peer is gone): RST, and "
       "ETIMEDOUT for the application"),
    _r("ESTABLISHED", "close_unread", "CLOSE", ["send_active_rst"], "__tcp_close()",
       "close() with unread data sends RST instead of FIN (RFC 2525 2.17)"),
    _r("ESTABLISHED", "close_linger0", "CLOSE", ["send_active_rst"], "tcp_disconnect()",
       "SO_LINGER {1, 0}: close() aborts with RST"),
    _r("ESTABLISHED", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()",
       "the peer aborted: the next call reports ECONNRESET"),
    _r("SYN_RECV", "close", "FIN_WAIT1", ["send_fin"], "tcp_close_state()",
       "close() in SYN_RECV sends FIN"),
    _r("SYN_RECV", "close_linger0", "CLOSE", ["send_active_rst"], "tcp_disconnect()",
       "SO_LINGER {1, 0}: close() aborts the half-open connection with RST (tcp_need_reset() "
       "includes SYN_RECV)"),
    _r("FIN_WAIT1", "rcv_ack_of_fin", "FIN_WAIT2", [], "tcp_rcv_state_process()",
       "our FIN is acknowledged; we wait for the peer's FIN"),
    _r("FIN_WAIT1", "rcv_fin", "CLOSING", ["send_ack"], "tcp_fin()",
       "a FIN before the ACK of ours: simultaneous close, ACKed at once"),
    _r("FIN_WAIT1", "close_unread", "CLOSE", ["send_active_rst"], "__tcp_close()",
       "close() with unread data sends RST"),
    _r("FIN_WAIT1", "close_linger0", "CLOSE", ["send_active_rst"], "tcp_disconnect()",
       "SO_LINGER {1, 0}: close() aborts with RST"),
    _r("FIN_WAIT1", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()",
       "the peer aborted"),
    _r("FIN_WAIT1", "rcv_data_after_close", "CLOSE", ["reset_reply"], "tcp_rcv_state_process()",
       "data for a socket that was closed: Linux answers RST (RFC 1122 4.2.2.13)"),
    _r("FIN_WAIT2", "rcv_fin", "TIME_WAIT", ["send_ack", "arm_timewait"], "tcp_fin(), tcp_time_wait()",
       "the peer's FIN: ACK it at once and hold the connection in TIME_WAIT for 60 s"),
    _r("FIN_WAIT2", "close_unread", "CLOSE", ["send_active_rst"], "__tcp_close()",
       "close() with unread data sends RST"),
    _r("FIN_WAIT2", "close_linger0", "CLOSE", ["send_active_rst"], "tcp_disconnect()",
       "SO_LINGER {1, 0}: close() aborts with RST (tcp_need_reset includes FIN_WAIT2)"),
    _r("FIN_WAIT2", "keepalive_out", "CLOSE", ["send_active_rst", "error_ETIMEDOUT"],
       "tcp_keepalive_timer(), tcp_write_err()",
       "TCP_KEEPCNT keepalive probes went unanswered: RST, and ETIMEDOUT for the application"),
    _r("FIN_WAIT2", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()",
       "the peer aborted"),
    _r("FIN_WAIT2", "rcv_data_after_close", "CLOSE", ["reset_reply"], "tcp_rcv_state_process()",
       "data for a socket that was closed: Linux answers RST"),
    _r("FIN_WAIT2", "timer_fin_wait2", "CLOSE", [], "tcp_fin_timeout",
       "an orphaned FIN_WAIT2 gives up after tcp_fin_timeout"),
    _r("CLOSING", "rcv_ack_of_fin", "TIME_WAIT", ["arm_timewait"], "tcp_rcv_state_process()",
       "our FIN is acknowledged after a simultaneous close: TIME_WAIT"),
    _r("CLOSING", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()", "the peer aborted"),
    _r("CLOSE_WAIT", "close", "LAST_ACK", ["send_fin"], "tcp_close_state()",
       "close() after the peer's FIN sends ours; its ACK will end the connection"),
    _r("CLOSE_WAIT", "shutdown_wr", "LAST_ACK", ["send_fin"], "tcp_shutdown()",
       "shutdown(SHUT_WR) after the peer's FIN sends ours"),
    _r("CLOSE_WAIT", "close_unread", "CLOSE", ["send_active_rst"], "__tcp_close()",
       "close() with unread data sends RST"),
    _r("CLOSE_WAIT", "close_linger0", "CLOSE", ["send_active_rst"], "tcp_disconnect()",
       "SO_LINGER {1, 0}: close() aborts with RST"),
    _r("CLOSE_WAIT", "keepalive_out", "CLOSE", ["send_active_rst", "error_ETIMEDOUT"],
       "tcp_keepalive_timer(), tcp_write_err()",
       "TCP_KEEPCNT keepalive probes went unanswered: RST, and ETIMEDOUT for the application"),
    _r("CLOSE_WAIT", "rcv_rst", "CLOSE", ["error_EPIPE"], "tcp_reset()",
       "the peer aborted after its FIN: EPIPE"),
    _r("LAST_ACK", "rcv_ack_of_fin", "CLOSE", [], "tcp_rcv_state_process()",
       "the ACK of our FIN: the connection is gone"),
    _r("LAST_ACK", "rcv_rst", "CLOSE", ["error_ECONNRESET"], "tcp_reset()", "the peer aborted"),
    _r("TIME_WAIT", "rcv_fin", "TIME_WAIT", ["send_ack", "arm_timewait"],
       "tcp_timewait_state_process(), inet_twsk_reschedule()",
       "a FIN sent again (our last ACK was lost) is ACKed again, and the 60 s start over"),
    _r("TIME_WAIT", "timer_timewait", "CLOSE", [], "tcp_time_wait(), TCP_TIMEWAIT_LEN",
       "TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN), then the connection is forgotten"),
)

_INDEX = {(r.state, r.event): r for r in RULES}

# The section of RFC 9293 (or the other RFC) that specifies each kind of event; the kernel
# function in each rule's `ref` says how Linux does it.  Events Linux adds on its own (the
# FIN_WAIT2 timeout) have none.
RFC_SECTION: dict[str, str] = {
    "listen": "RFC 9293 3.10.1", "connect": "RFC 9293 3.10.1",
    "rcv_syn": "RFC 9293 3.10.7.2", "rcv_syn_queue_full": "RFC 9293 3.10.7.2",
    "created": "RFC 9293 3.5", "rcv_ack": "RFC 9293 3.5", "rcv_synack": "RFC 9293 3.10.7.3",
    "timer_syn": "RFC 6298 5", "timer_synack": "RFC 6298 5",
    "syn_retries_out": "RFC 9293 3.8.3", "synack_retries_out": "RFC 9293 3.8.3",
    "retries_out": "RFC 9293 3.8.3",
    "rcv_rst": "RFC 9293 3.5.3", "close": "RFC 9293 3.10.4", "shutdown_wr": "RFC 9293 3.6.1",
    "close_unread": "RFC 2525 2.17", "close_linger0": "RFC 9293 3.10.5",
    "rcv_fin": "RFC 9293 3.6", "rcv_ack_of_fin": "RFC 9293 3.6",
    "rcv_data_after_close": "RFC 1122 4.2.2.13", "timer_timewait": "RFC 9293 3.10.8",
    "keepalive_out": "RFC 1122 4.2.3.6",
}


def citation(r: Rule) -> str:
    """Where a rule comes from: the RFC section, then the kernel function that does it."""
    rfc = RFC_SECTION.get(r.event)
    return f"{rfc} · {r.ref}" if rfc else f"Linux · {r.ref}"

# Rules no built-in program exercises on the real kernel, with the reason (it should be "not
# reachable on Linux"); tests/test_model_rules.py holds every rule in virtual time regardless.
# None at present: `tcpsim coverage` shows a program for each.
NOT_EXERCISED: dict[tuple[str, str], str] = {}


def rule(state: str, event: str) -> Rule | None:
    return _INDEX.get((state, event))


def graph():
    """The state diagram as a networkx MultiDiGraph: one edge per rule, labelled with its event."""
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_nodes_from(STATES)
    for r in RULES:
        g.add_edge(r.state, r.next, event=r.event, actions=r.actions, ref=r.ref)
    return g
