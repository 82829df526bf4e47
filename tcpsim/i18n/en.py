"""English: the source language.  Rule explanations come from the transition table itself."""

from ..model.table import RULES

MESSAGES: dict[str, str] = {
    # -- run: the timeline and its summary --------------------------------------------------
    "run.title": "tcpsim {source}: {program}",
    "source.model": "model",
    "source.lab": "lab",
    "source.pcap": "capture",
    "source.trace": "trace",
    "source.packetdrill": "packetdrill",
    "run.columns": "       t ms  who      event",
    "run.hint.explain": "Add --explain to see why each step happened (--lang zh for Chinese).",
    "call.blocks": "{head} ... blocks",
    "call.returns": "... {name} returns",
    "call.over": "... {text} is over",
    "state.queue": " (accept queue {queue}, backlog {backlog})",
    "state.freed": "  (freed)",
    "state.table": "  (in the kernel's socket table)",
    "summary.counts": "{segments} segments, {calls} calls; ",
    "summary.differ": "{n} result(s) differ from the program's expectations",
    "summary.matched": "every expected result matched",
    "summary.end": "At the end: {sockets}",
    "summary.timewait": " (TIME_WAIT lasts 60 s)",
    "wrote.segments": "wrote {n} segments to {path}",
    "wrote.trace": "wrote the trace to {path}",
    "wrote.file": "wrote {path}",
    # -- the three phases (the textbook's names) -------------------------------------------
    "phase.0": "Connection establishment",
    "phase.1": "Data transfer",
    "phase.2": "Connection release",
    "phase.note.0": "three-way handshake",
    "phase.note.1": "data and its ACKs",
    "phase.note.2": "FIN and ACK in each direction",
    # -- verify -----------------------------------------------------------------------------
    "verify.incomplete": "incomplete {name}: the lab's capture lost {n} frame(s) (the kernel's drop count for its packet socket), so the kernel's exchange is not whole and is not compared; run it again on a quieter machine",
    "verify.match": "match {name}: {segments} segments, {calls} call results and {states} state "
                    "changes agree with the kernel ({kernel}); model profile {profile}",
    "verify.differs": "differs {name}: {n} difference(s) between the model (profile {profile}) "
                      "and the kernel ({kernel}):",
    "verify.match.exchange": "match {name}: the kernel ({kernel}) showed exchange {k} of the "
                             "program's {total}: its {segments} segments, {calls} call results and "
                             "last states agree; model profile {profile}",
    "verify.outside": "differs {name}: the kernel's exchange ({kernel}) is none of the program's "
                      "{total}; the nearest is exchange {k} (model profile {profile}), {n} "
                      "difference(s):",
    "verify.more": "  ... and {n} more",
    "verify.col.program": "program",
    "verify.col.verdict": "verdict",
    "verify.col.segments": "segments",
    "verify.col.calls": "calls",
    "verify.col.differences": "differences",
    "verdict.incomplete": "incomplete",
    "verdict.match": "match",
    "verdict.differs": "differs",
    # -- verify's differences (trace/diff.py) -------------------------------------------------
    "diff.where.kernel": "on the kernel",
    "diff.where.capture": "in the capture",
    "diff.field": "{field} is {model} in the model but {seen} {where}",
    "diff.segment": "segment {i} ({what}): {parts}",
    "diff.who.model": "the model sends",
    "diff.who.kernel": "the kernel sends",
    "diff.who.capture": "the capture has",
    "diff.count.segments": "{who} {n} more segment(s), first {what} ({m} in the model, {k} {where})",
    "diff.gap": "segment {i} ({what}) comes {gm} ms after the call or segment before it in the "
                "model but {gk} ms {where}",
    "diff.call": "line {line} {process}: {text}",
    "diff.call.order": "call {i}: the model runs line {line} ({process}: {text}, {kind}) where "
                       "the kernel runs {what} ({kind_k})",
    "diff.call.blocked": "{what} {m} in the model but {k} on the kernel",
    "diff.blocks": "blocks",
    "diff.returns": "returns at once",
    "diff.call.result": "{what} returns {m} in the model but {k} on the kernel",
    "diff.count.calls": "the model records {m} call events, the kernel {k}",
    "diff.wait": "{what} waits {dm} ms in the model but {dk} ms on the kernel",
    "diff.drops": "net line {line} drops {m} segment(s) in the model but {k} on the kernel",
    "diff.nothing_yet": "nothing yet (it blocks)",
    "diff.sep": "; ",
    "diff.never": "(never seen)",
    "diff.state": "socket {label} goes {m} in the model but {k} on the kernel",
    "note.model": "model profile {profile} (Linux {release}), seed {seed}",
    "note.capture_lost": "the capture lost {n} frame(s) (the kernel dropped them from the lab's packet socket): the segments shown are not the whole exchange",
    "note.cc_unmodelled": "the profile's congestion control is {cc}, which the model does not have: it runs {modelled}'s rules (reno and cubic are modelled)",
    "note.cc_pinned": "congestion control {cc}, as the lab sets it; this machine's {default} is not modelled",
    "note.congestion": "every socket ran congestion control {cc} (set on each with TCP_CONGESTION); this machine's default is {default}, which the model does not have",
    "note.stall": "the lab took {ms} ms between line {a} and line {b}, which the program runs back to back (a busy machine): a kernel timer may have fired between them where the model's instant calls meet none",
    "note.late": "the lab's delay line let a segment go up to {ms} ms after it was due (a busy machine): timing is compared within that much more",
    "note.drops": "line {line} ({text}) {verb} {n} segment(s)",
    "note.dropped": "dropped",
    "note.delayed": "delayed",
    "note.duplicated": "duplicated",
    "note.stuck": "stopped early: the program was stuck",
    # -- explanations: calls ----------------------------------------------------------------
    "why.cite": "[{ref}]",
    "why.call.socket": "socket() asks the kernel for a new TCP endpoint and returns its "
                       "descriptor; nothing goes on the wire yet.",
    "why.call.bind": "bind() gives the socket its local address and port; no segment is sent.",
    "why.call.listen": "listen() makes the socket passive: from now on the kernel itself answers "
                       "SYNs and completes handshakes, up to the backlog, before any accept().",
    "why.call.accept": "accept() takes a connection whose handshake the kernel has already "
                       "completed off the accept queue and gives it a new descriptor.",
    "why.call.accept.blocks": "accept() waits: the accept queue is empty until a handshake "
                              "completes.",
    "why.call.connect": "connect() returns once the three-way handshake is done: the SYN-ACK "
                        "came back and the kernel sent the final ACK.",
    "why.call.connect.blocks": "connect() sends a SYN and waits for the handshake to complete.",
    "why.call.send": "send() copies the bytes into the socket's send buffer and returns at once; "
                     "the kernel transmits them as the window allows. Returning does not mean "
                     "the peer has them.",
    "why.call.recv": "recv() hands over bytes that already sit in the receive buffer; the "
                     "kernel ACKed them when they arrived, not now.",
    "why.call.recv.eof": "recv() returns 0: the peer's FIN arrived and every byte before it has "
                         "been read. This is the end of the stream.",
    "why.call.recv.blocks": "recv() waits: the receive buffer is empty and the peer has not "
                            "closed.",
    "why.call.close": "close() drops the descriptor; the kernel finishes the connection on its "
                      "own (it sends FIN, or RST if data was left unread).",
    "why.call.close.shared": "close() drops this process's descriptor only: after fork() the socket has one descriptor in each process, and the kernel closes it (FIN, or RST) when the last one goes. A server that forgets to close its copy never ends the connection.",
    "why.call.dup": "dup() gives a second descriptor for the same socket: close() of one of them sends nothing while the other is open.",
    "why.call.fork": "fork() starts a child process with a copy of every descriptor: the same sockets, now held twice. The textbook's server then closes what each side does not need: the parent the connected socket, the child the listener.",
    "why.call.close.listener": "close() on the listening socket stops accepting; connections "
                               "still in its queue are reset.",
    "why.call.shutdown": "shutdown({how}) closes one direction only: SHUT_WR sends FIN while the "
                         "socket can still receive (a half-close).",
    "why.call.setsockopt": "setsockopt({option}) changes how the kernel handles this socket from "
                           "now on; nothing is sent.",
    "why.call.getsockopt": "getsockopt({option}) reads a setting or a status of the socket from "
                           "the kernel.",
    "why.call.fcntl": "fcntl() reads or sets the descriptor's flags (O_NONBLOCK makes calls "
                      "return EAGAIN or EINPROGRESS instead of waiting).",
    "why.call.ioctl": "ioctl() asks the kernel how many bytes wait in the socket's queues: "
                      "SIOCINQ those received and not yet read, SIOCOUTQ those written and not "
                      "yet acknowledged, SIOCOUTQNSD those written and not yet sent.",
    "why.call.poll": "poll() reports which events are ready on the socket (data to read, room "
                     "to write, the peer's FIN, an error).",
    "why.call.epoll_create": "epoll_create() makes an epoll instance: a descriptor that watches "
                             "sockets and keeps a list of those that became ready.",
    "why.call.epoll_ctl": "epoll_ctl() adds, changes or removes a watched socket; a socket "
                          "already ready when added or changed goes on the ready list at once.",
    "why.call.epoll_wait": "epoll_wait() reports the sockets on the ready list that are ready for "
                           "what they are watched for; a socket goes on the list when the kernel "
                           "wakes it (data queued, room to write, a state change), and an "
                           "edge-triggered one (EPOLLET) leaves it once reported.",
    "why.call.epoll_wait.blocks": "epoll_wait() waits: no watched socket is ready yet.",
    "why.call.sleep": "The process pauses; the kernel keeps running timers and answering "
                      "segments meanwhile.",
    "why.call.exit": "The process exits: the kernel closes every descriptor it still has.",
    "why.call.return": "The event the call was waiting for has happened.",
    "why.step.time_wait": "The full socket hands the connection over to a small TIME_WAIT socket "
                           "and is freed; the connection itself stays in TIME_WAIT.",
    "why.step.listener_closed": "The listener was closed with this connection still in its accept "
                                "queue: nobody can accept it any more, so it is reset.",
    "why.state.new": "A new socket starts in CLOSE (RFC 9293's CLOSED state).",
    "why.state.seen": "The kernel reports {state} for {socket}.",
    # -- explanations: errors ---------------------------------------------------------------
    "why.errno.ECONNREFUSED": "The peer answered the SYN with RST: no socket listens on that "
                              "port (ECONNREFUSED).",
    "why.errno.ECONNRESET": "The peer aborted the connection with RST (ECONNRESET).",
    "why.errno.EPIPE": "The connection can no longer send: the socket was shut for writing or "
                       "reset (EPIPE).",
    "why.errno.ETIMEDOUT": "No answer after every retransmission: the kernel gave up "
                           "(ETIMEDOUT).",
    "why.errno.EADDRINUSE": "Another socket holds this address and port (perhaps in TIME_WAIT); "
                            "SO_REUSEADDR lets a listener bind over TIME_WAIT (EADDRINUSE).",
    "why.errno.EINPROGRESS": "A non-blocking connect(): the SYN is sent and the handshake goes "
                             "on in the background (EINPROGRESS).",
    "why.errno.EAGAIN": "A non-blocking call that would have to wait returns at once "
                        "(EAGAIN).",
    "why.errno.ENOTCONN": "The socket is not connected (ENOTCONN).",
    "why.errno.EISCONN": "The socket is already connected (EISCONN).",
    "why.errno.EALREADY": "A connect() on this socket is still in progress (EALREADY).",
    "why.errno.EINVAL": "The call makes no sense in the socket's present state (EINVAL).",
    "why.errno.EBADF": "The descriptor is not open (EBADF).",
    "why.errno.other": "The kernel refused the call with {errno}.",
    # -- explanations: segments -------------------------------------------------------------
    "why.seg.syn": "The first segment of the three-way handshake: SYN carries the client's "
                   "initial sequence number (relative 0) and the options this kernel offers "
                   "(MSS, SACK, timestamps, window scale).",
    "why.seg.syn.again": "No SYN-ACK came back within {ms} ms, so the retransmission timer sends "
                         "the SYN again, with the same ISN (retry {n}). Before any RTT sample "
                         "the RTO is 1 s (RFC 6298 2.1); this kernel keeps the first {linear} "
                         "retries 1 s apart (tcp_syn_linear_timeouts), then doubles the timeout "
                         "each time (exponential backoff) until tcp_syn_retries (or TCP_SYNCNT) "
                         "runs out.",
    "why.seg.syn.again.doubling": "No SYN-ACK came back within {ms} ms, so the retransmission "
                                  "timer sends the SYN again, with the same ISN (retry {n}). "
                                  "Before any RTT sample the RTO is 1 s (RFC 6298 2.1); this "
                                  "kernel doubles it after each retry (exponential backoff: 1, "
                                  "2, 4, 8 s ...; before Linux 6.5 there is no "
                                  "tcp_syn_linear_timeouts) until tcp_syn_retries (or "
                                  "TCP_SYNCNT) runs out.",
    "why.seg.synack": "The second segment of the handshake: the server's own SYN (its ISN, "
                      "relative 0) and the ACK of the client's SYN (ack 1: a SYN counts as one "
                      "sequence number).",
    "why.seg.synack.again": "The final ACK of the handshake did not come within {ms} ms, so the "
                            "request socket's timer sends the SYN-ACK again (retry {n}): it "
                            "waits 1 s, then twice as long each time, tcp_synack_retries (5) "
                            "times at most.",
    "why.seg.synack.resyn": "The peer's SYN came again (it had not received the SYN-ACK), so the "
                            "request socket answers it with the SYN-ACK again at once.",
    "why.seg.ack.handshake": "The third segment of the handshake: ACK of the server's SYN (ack "
                             "1). Both ends are now ESTABLISHED.",
    "why.seg.data": "{len} byte(s) of data from a send(): seq {seq} is the number of the first "
                    "byte; PSH marks the end of what the application wrote.",
    "why.seg.data.again": "Data sent again: the first copy was not acknowledged in time.",
    "why.seg.copy": "A copy of an earlier segment made by the network (a net: duplicate line), "
                    "not by TCP: the sender sent it once, the receiver gets it twice.",
    "why.seg.ack.filled": "The hole is filled: the missing bytes arrived, the receiver takes "
                          "what waited in its out-of-order queue, and ACKs at once up to {ack} "
                          "(RFC 5681 4.2: an ACK without delay when a gap closes).",
    "why.seg.ack.quick": "A pure ACK sent at once (quick-ACK mode, as early in a connection): "
                         "ack {ack} is the next byte expected.",
    "why.seg.ack.delayed": "A delayed ACK: the receiver waited {ms} ms for data of its own to "
                           "carry the ACK, then sent it alone.",
    "why.seg.ack.fin": "ACK of the peer's FIN: the FIN takes one sequence number, hence ack "
                       "{ack}.",
    "why.seg.ack.fin.delayed": "ACK of the peer's FIN (ack {ack}: the FIN takes one sequence "
                               "number), sent by the delayed-ACK timer {ms} ms later: the "
                               "application had not closed yet, so no FIN of ours could carry it.",
    "why.seg.fin.acks_fin": "FIN carrying the ACK of the peer's FIN (ack {ack}): the close() came "
                            "before the delayed ACK was due, so the release takes three segments "
                            "instead of four.",
    "why.seg.window": "A window update: the application read data, so the receive window "
                      "opened again.",
    "why.seg.ack": "A pure ACK: ack {ack} acknowledges everything before it.",
    "why.seg.probe.keepalive": "A keepalive probe: the connection was silent for TCP_KEEPIDLE "
                               "(or TCP_KEEPINTVL since the last unanswered probe), so the "
                               "keepalive timer sends a bare ACK with seq {seq}, one below the "
                               "next it would send: a byte the peer already has, which a live "
                               "peer must answer.",
    "why.seg.ack.probe": "The answer to a probe: its sequence number was old, so the peer "
                         "repeats its ACK at once (a duplicate ACK, ack {ack}), which proves it "
                         "is alive.",
    "why.seg.data.rto": "Retransmission timeout (RTO): nothing acknowledged seq {seq} for {ms} "
                        "ms, so the retransmission timer sends the oldest unacknowledged data "
                        "again. The RTO comes from the measured round-trip time (RFC 6298: "
                        "SRTT + 4 x RTTVAR; Linux keeps 4 x RTTVAR at least tcp_rto_min, 200 "
                        "ms) and doubles after each timeout (exponential backoff). A timeout "
                        "counts as a loss: the congestion window falls to one segment.",
    "why.seg.fin.rto": "Retransmission timeout (RTO): the FIN was not acknowledged for {ms} ms, "
                       "so the retransmission timer sends it again; the next timeout is twice "
                       "as long (exponential backoff, RFC 6298 5.5).",
    "why.seg.data.tlp": "Tail loss probe (TLP, RFC 8985): the last data sent was not "
                        "acknowledged within the probe timeout (PTO), {ms} ms, so it is sent "
                        "again to draw an ACK (or a SACK showing what is missing) instead of "
                        "waiting for the RTO. PTO = 2 x SRTT + 2 ms with several segments out; "
                        "with one, 2 x SRTT + 200 ms (room for the peer's delayed ACK), no "
                        "later than the RTO; in whole jiffies (4 ms), run at a tick of the "
                        "timer wheel. A probe is not a loss: the congestion window stays.",
    "why.seg.fin.tlp": "Tail loss probe (TLP, RFC 8985): the FIN, the last thing sent, was not "
                       "acknowledged within the probe timeout (PTO = 2 x SRTT + 2 ms, or + 200 "
                       "ms with only the FIN out), {ms} ms, so it is sent again to draw an ACK; "
                       "often the peer was only delaying its ACK.",
    "why.seg.data.loss": "Sent again during the recovery from a timeout: the RTO marked "
                         "everything outstanding as lost, and each ACK lets the congestion "
                         "window, growing again from one segment (slow start), send more of it "
                         "(RFC 6298 5.4).",
    "why.seg.data.frto": "New data, sent when the timeout's retransmission was acknowledged, "
                         "instead of more retransmissions: F-RTO (RFC 5682) tests whether the "
                         "RTO was spurious.  If the next ACK covers data that was never sent "
                         "again, the originals got through and the reduction of the window is "
                         "undone; if it only SACKs this new data, the loss was real and the "
                         "recovery goes on.",
    "why.seg.data.fast": "Fast retransmit: duplicate ACKs or SACK blocks from the peer show "
                         "these bytes missing while later ones arrived (RFC 6675: three "
                         "duplicate ACKs or SACKed segments; RACK, RFC 8985: a later segment "
                         "was delivered more than a reordering window after this one was "
                         "sent), so they are sent again at once, without waiting for a timer; "
                         "PRR (RFC 6937) paces what is sent during the recovery.",
    "why.seg.data.rack": "RACK's reordering timer (RFC 8985 6.3): a later segment was SACKed and "
                         "this one was still not, a reordering window later, so it is taken as "
                         "lost and sent again.",
    "why.seg.data.probe0": "Data sent by the probe timer after {ms} ms of silence: nothing was in "
                           "flight and data waited, so tcp_write_wakeup() sends what the peer's "
                           "window takes (a window probe carrying data, when the window opened "
                           "only partly), or, under TCP_CORK, the data the cork has held for "
                           "200 ms.",
    "why.seg.probe.zero_window": "A zero-window probe: the peer's window is 0 while data waits, "
                                 "and its window update could be lost, so the persist timer "
                                 "sends a bare ACK with seq {seq}, one below the next byte, "
                                 "which the peer must answer with its window ({ms} ms after "
                                 "the peer's last segment). The wait starts at the RTO (at "
                                 "least 200 ms) and doubles after each probe answered with a "
                                 "zero window, up to 120 s.",
    "why.seg.ack.dsack": "A duplicate SACK (D-SACK, RFC 2883): the receiver got sequence "
                         "numbers {left}-{right} a second time, and its ACK (ack {ack}) reports "
                         "them in a SACK block below the cumulative ACK, so the sender learns "
                         "that what it sent again had arrived already (only the ACK was late) "
                         "and may undo its congestion response.",
    "why.seg.ack.sack": "A selective ACK (SACK, RFC 2018): data arrived out of order; ack {ack} "
                        "is still the next byte expected, and the SACK block(s) {blocks} tell "
                        "the sender which later bytes arrived, so it resends only the hole.",
    "why.seg.wheel": "The timer was set for {rto} ms; the kernel's timer wheel runs a timer "
                     "that long at the start of its next bucket, {late} ms later here (coarser "
                     "for longer timers: calc_wheel_index()).",
    "why.seg.lost": "This segment was lost on the way (net: line {line}): the peer never "
                    "received it.",
    "why.seg.rto.numbers": "This RTO: srtt {srtt} ms + rttvar {rttvar} ms, rounded up to a "
                           "jiffy, doubled by {n} earlier timeout(s): {rto} ms.",
    "why.seg.tlp.one": "One segment out: PTO = 2 x {srtt} ms + 200 ms, at most the RTO of {rto} "
                       "ms: {pto} ms before the rounding to jiffies.",
    "why.seg.tlp.many": "{out} segments out: PTO = 2 x {srtt} ms + 2 ms = {pto} ms before the "
                        "rounding to jiffies.",
    "why.seg.probe0.numbers": "Probe {n}: the RTO of {base} ms doubled {backoff} time(s): {wait} "
                              "ms.",
    "why.seg.keepalive.numbers": "Unanswered probes, this one included: {n} of TCP_KEEPCNT "
                                 "{cnt}; TCP_KEEPIDLE {idle} s, TCP_KEEPINTVL {intvl} s.",
    "why.seg.fin": "FIN: this side has no more data to send (close() or shutdown(SHUT_WR)); the "
                   "FIN takes one sequence number.",
    "why.seg.rst.refused": "RST answers a SYN for which no socket listens: the connection is "
                           "refused.",
    "why.seg.rst": "RST aborts the connection at once, with no teardown: close() with unread "
                   "data, SO_LINGER {{1, 0}}, or a segment for a connection that no longer "
                   "exists.",
    # -- diagrams ---------------------------------------------------------------------------
    "diagram.states.title": "TCP state diagram (Linux state names; every arrow is a row of the "
                            "model's transition table)",
    "diagram.path.title": "{program}: the path each socket took",
    "diagram.legend.path": "numbered: the steps of {sockets}",
    "diagram.rfc_name": "RFC 9293 and the textbooks call this state {rfc}",
    "diagram.ev.close": "close",
    "diagram.ev.close_linger0": "close (linger 0)",
    "diagram.ev.close_unread": "close (data unread)",
    "diagram.ev.connect": "connect",
    "diagram.ev.created": "request made",
    "diagram.ev.keepalive_out": "keepalive gives up",
    "diagram.ev.listen": "listen",
    "diagram.ev.rcv_ack": "rcv ACK",
    "diagram.ev.rcv_ack_of_fin": "rcv ACK of FIN",
    "diagram.ev.rcv_data_after_close": "rcv data after close",
    "diagram.ev.rcv_fin": "rcv FIN",
    "diagram.ev.rcv_rst": "rcv RST",
    "diagram.ev.rcv_syn": "rcv SYN",
    "diagram.ev.rcv_syn_queue_full": "rcv SYN, queue full",
    "diagram.ev.rcv_synack": "rcv SYN,ACK",
    "diagram.ev.retries_out": "retries run out",
    "diagram.ev.shutdown_wr": "shutdown(WR)",
    "diagram.ev.syn_retries_out": "SYN retries run out",
    "diagram.ev.synack_retries_out": "SYN,ACK retries run out",
    "diagram.ev.timer_fin_wait2": "FIN_WAIT2 timeout",
    "diagram.ev.timer_syn": "SYN timeout",
    "diagram.ev.timer_synack": "SYN,ACK timeout",
    "diagram.ev.timer_timewait": "2MSL timeout",
    "diagram.act.send_syn": "snd SYN",
    "diagram.act.send_synack": "snd SYN,ACK",
    "diagram.act.send_ack": "snd ACK",
    "diagram.act.schedule_ack": "snd ACK",
    "diagram.act.send_fin": "snd FIN",
    "diagram.act.send_active_rst": "snd RST",
    "diagram.act.reset_reply": "snd RST",
    "diagram.act.reset_children": "RST the queue",
    "diagram.start": "start",
    "diagram.end": "the end state",
    "diagram.legend.rfc": "as in RFC 9293's diagram",
    "diagram.legend.other": "resets, aborts, timers, Linux's own",
    "diagram.legend.spawn": "a SYN to a listener creates a request socket",
    "diagram.legend.order": "1, 2, 3 ...: one count in time order",
    "ladder.title": "{program}: what each call put on the wire",
    "ladder.time": "time (ms)",
    "ladder.gap": "nothing happens for {gap}",
    "tsg.title": "{program} ({source}): time-sequence graph, {src} > {dst}",
    "tsg.source.lab": "the kernel",
    "tsg.source.model": "the model",
    "tsg.time": "time (ms)",
    "tsg.seq": "relative sequence number (bytes)",
    "tsg.legend.data": "data (new bytes)",
    "tsg.legend.rtx": "sent again",
    "tsg.legend.ack": "ACK",
    "tsg.legend.window": "window's right edge",
    "tsg.legend.sack": "SACK blocks",
    "ladder.matched": "matched by the kernel",
    "seg.copy": "(the network's copy)",
    "seg.copy.short": "(copy)",
    "ladder.unmatched": "differs on the kernel",
    "ladder.lost": "lost (net: line {line})",
    # -- quiz -------------------------------------------------------------------------------
    "quiz.intro": "Quiz on {program}: predict each segment and state change. Press Enter to "
                  "skip a question.",
    "quiz.context": "So far: {event}",
    "quiz.ask.flags": "{src} sends a segment to {dst}. Its flags (e.g. S, S., ., P., F., R, or SYN+ACK)?",
    "quiz.ask.seq": "Its relative seq?",
    "quiz.ask.ack": "Its relative ack?",
    "quiz.ask.state": "{socket} is in {state}. Its next state?",
    "quiz.right": "Right.",
    "quiz.wrong": "Not quite: {answer}.",
    "quiz.answer.segment": "[{flags}] seq {seq} ack {ack} len {len}",
    "quiz.state.names": "Linux names it {linux}; RFC 9293 and most textbooks call it {rfc}.",
    "quiz.state.request": "Linux keeps a connection in SYN-RECEIVED as a small request socket, NEW_SYN_RECV, under the listener until the handshake's ACK makes it a full socket (tcp_check_req()); RFC 9293 and textbooks call the state SYN-RECEIVED (BSD: SYN_RCVD).",
    "quiz.score": "{right} of {total} answers right.",
    # -- report -----------------------------------------------------------------------------
    "report.title": "tcpsim report: {program}",
    "report.generated": "Generated by tcpsim {version} from the model of Linux {release} "
                        "(profile {profile}), seed {seed}.",
    "report.program": "The program",
    "report.timeline": "Timeline",
    "report.ladder": "Sequence diagram",
    "report.tsg": "Time-sequence graph",
    "report.states": "State diagram",
    "report.explain": "Why each step happened",
    "report.verify": "Checked against the real kernel",
    "report.verify.match": "The kernel ({kernel}) did exactly what the model says: {segments} "
                           "segments, {calls} call results and the socket states agree.",
    "report.verify.differs": "The kernel ({kernel}) differs from the model in {n} place(s):",
    "report.verify.none": "Not checked against the kernel: {reason}",
    "report.pcap": "The kernel's capture ({n} segments, pcap): download",
    "report.col.time": "t ms",
    "report.col.who": "who",
    "report.col.event": "event",
    "report.col.why": "why",
    # -- explore: every exchange of a concurrent program --------------------------------------
    "explore.title": "tcpsim explore: {program}",
    "explore.counts": "{schedules} schedules explored (of {interleavings} interleavings of the lines), {outcomes} distinct exchange(s), {ms} ms",
    "explore.incomplete": "Stopped after {limit} schedules (--limit): there may be more exchanges than these.",
    "explore.single": "Every order the kernel allows gives the same exchange.",
    "explore.outcome": "Exchange {n} of {total} ({runs} schedule(s))",
    "explore.call": "{process}'s {call}() (line {line})",
    "explore.before": "when {a} runs before {b}",
    "explore.first": "when {a} runs first",
    "explore.together": "when {a} and {b} run at the same time: each before the other's segment arrives ({sender} sends first, {first} takes the other's segment in first)",
    "explore.timer.sleep": "when the pause in {call} ends before the {timer} timer of {socket} fires",
    "explore.timer.timer": "when the {timer} timer of {socket} fires before the pause in {call} ends",
    "explore.joiner": "; ",
    "explore.arrival.segment": "when the delayed {segment}, due at the same moment as the segment before it, arrives before {call}",
    "explore.arrival.call": "when {call} runs before the delayed {segment} arrives (due at the same moment as the segment before it)",
    "explore.tick.timer": "when the {timer} timer of {socket}, due within a jiffy, fires before {call}",
    "explore.tick.call": "when {call} runs before the {timer} timer of {socket} fires (due within a jiffy)",
    "explore.result": "{call} returns {value}",
    "explore.hangs": "{process} hangs in line {line} (nothing will ever complete the call)",
    "explore.states": "at the end: {states}",
    "run.hint.races.unknown": "Whether this program has other exchanges when its processes run concurrently was not settled in {s} s (a large program: each choice copies the whole run); tcpsim explore {program} walks them.",
    "run.hint.races": "This program can produce more than one exchange when its processes run concurrently; this is the one in file order. See them all: tcpsim explore {program}",
    "scenarios.races": "races",
    "free.title": "tcpsim lab --free: {program}, {runs} runs, the processes concurrent",
    "free.inside": "Every one of the {runs} runs is in the explored set ({seen} of its {total} exchanges seen).",
    "free.outside": "{n} run(s) outside the explored set; the nearest is exchange {nearest}: {diff}",
    # -- compare --program: a capture against every exchange of a program --------------------
    "against.stopped": "reading stopped at frame {frame}: {reason}; the segments before it are compared",
    "against.match": "match {name}: the {n} segments of {capture} are the ones the model predicts "
                     "(profile {profile})",
    "against.match.exchange": "match {name}: the {n} segments of {capture} are exchange {k} of the "
                              "program's {total} (profile {profile})",
    "against.differs": "differs {name}: {count} difference(s) between the model (profile {profile}) "
                       "and {capture}:",
    "against.differs.exchange": "differs {name}: {capture} shows exchange {k} of the program's "
                                "{total}, with {count} difference(s) in its fields (profile {profile}):",
    "against.outside": "differs {name}: {capture} is none of the program's {total} exchanges; the "
                       "nearest is exchange {k} (profile {profile})",
    "against.race.tso_defer": "race at segment {segment}: the kernel sent at once where the model waits for the next ACK (tcp_tso_should_defer(): that ACK was due more than half an RTT away, a matter of microseconds on lo; docs/races.md)",
    "against.race.drs": "race at segment {segment}: the receiver's buffer autotuning went the other way at a read (tcp_rcv_space_adjust(): whether the receiver's RTT had passed since its last measure, microseconds on lo, or a millisecond tick in its RTT sample; docs/races.md)",
    "against.first": "first difference: {diff}",
    "against.incomplete": "The walk stopped after {limit} schedules (--limit): the program may "
                          "have exchanges not looked at.",
    "against.file_order": "This is the file-order exchange; the program has others: tcpsim "
                          "explore {program}",
    "against.see_all": "Every exchange of the program: tcpsim explore {program}",
    "exchange.diff.segment": "segment {n} of {conn}: {expected} in the model but {seen} {where}",
    "exchange.diff.call": "{call} returns {expected} in the model but {seen} {where}",
    # -- trace: people's own programs on the kernel, held to the model ------------------------
    "close.dup2": "{call} closed it first, silently",
    "close.shared": "still open in {who}: the socket stays, nothing is sent",
    "trace.left_out": "left out of {process}'s program: {calls} (they change nothing on the wire: they read what a socket is, or failed)",
    "trace.the_run": "the traced run",
    "trace.hang": "{command} was still waiting after {s} s with nothing happening; it was killed (SIGKILL) and its last call never returned",
    "trace.unsupported.call": "{process} called {call}, which the program format does not have; the kernel's run is shown, but the program is held without it",
    "trace.unsupported.processes": "{command} made socket calls from {n} processes or threads; the format cannot yet say that they share descriptors (issue 20), so each is a process of its own",
    "trace.unsupported.parse": "the recovered program is not a valid program: {why}",
    "trace.title": "tcpsim trace: {commands}, in a private network namespace",
    "trace.program": "The program these calls are (scenario format; --save writes it):",
    "trace.output": "{process} printed:",
    "trace.nothing": "No command made a call on a TCP socket: there is nothing to hold against the model.",
    "trace.not_held": "Not held against the model: {why}",
    "trace.congestion": "The namespace ran congestion control {cc} (this machine's default); the model holds the run with {model}, so windows after the first round trips may differ",
    "trace.waiting": "calls left waiting at the end: {m} in the model, {k} on the kernel",
    "trace.call_result": "{call} returned {k} on the kernel but {m} in the model",
    "exchange.diff.states": "last states: {expected} in the model but {seen} {where}",
    "exchange.diff.hangs": "calls left waiting: {expected} in the model but {seen} {where}",
    "diff.nothing": "nothing",
    # -- compare: the tracker's findings (compare/tracker.py; helper cap, session 17) -------
    "compare.phase.none": "no phase complete",
    "compare.sep": "; ",
    "compare.lost_synack": "capture loss: {who} acknowledges {peer}'s SYN-ACK, which is missing from the capture (not the stack's doing); taken as sent",
    "compare.story.lost": "capture loss: {n} bytes of the {who}'s missing from the capture, in {k} place(s)",
    "compare.midstream": "the capture begins in the middle of this connection: its handshake was not captured",
    "compare.syn_copy": "an exact copy of packet {n}, the same TS value: the network duplicated it, the sender did not send it again",
    "compare.no_syn": "{who} sends a segment without SYN while its own SYN is unanswered (SYN_SENT): no conforming stack does that",
    "compare.syn_again": "{who} sends its SYN again after {s} s: no SYN-ACK reached it (the timer backs off; see the kernel's SYN schedule)",
    "compare.syn_synchronized": "a SYN from {who} in {state}: a synchronized connection answers it with a challenge ACK, not a new handshake",
    "compare.synack_wrong_ack": "the SYN-ACK acknowledges {ack}, not {peer}'s SYN (1): {peer} should answer with a reset",
    "compare.synack_again_syn": "{who} sends its SYN-ACK again after {s} s, in answer to the SYN sent again (packet {n}): its first SYN-ACK was lost",
    "compare.synack_again_timer": "{who} sends its SYN-ACK again after {s} s, when its timer fires ({timer} s): its first was lost, or the ACK of it was",
    "compare.synack_synchronized": "a SYN-ACK from {who} in {state}",
    "compare.ack_unsent": "{who} acknowledges {ack}, but {peer} has sent only up to {nxt}",
    "compare.ack_lost_segment": "capture loss: {who} acknowledges {ack}, but the capture saw {peer}'s bytes only up to {nxt}: {n} bytes {peer} sent are missing from the capture (not the stack's doing); taken as sent",
    "compare.lost_segment": "capture loss: {n} bytes from {who} before this segment are missing from the capture (sent, but not captured); taken as sent",
    "compare.data_after_fin": "{who} sends data after its own FIN",
    "compare.after": " after {s} s",
    "compare.data_again": "{who} sends bytes {a}-{b} again{since}: a retransmission",
    "compare.why.fast": "; a fast retransmit after {k} duplicate ACKs (tcp_fastretrans_alert(); RACK, tcp_rack_mark_lost())",
    "compare.why.out_of_order": "; it comes behind later bytes within the first round trip ({ms} ms): out of order (reordered before the capture point, or resent at once on the peer's SACK: tcp_rack_mark_lost())",
    "compare.why.spurious": "; the receiver had acknowledged them already (up to {ack}): a spurious retransmission (the sender's timer fired before the ACK came)",
    "compare.why.tlp": "; its last segment, with nothing acknowledged since: a tail loss probe (tcp_send_loss_probe(), the probe timeout about two round trips)",
    "compare.why.rto": "; the retransmission timer fired (RTO {s} s: tcp_retransmit_timer(), doubling at each try)",
    "compare.data_for_gone": "data for {peer}, whose end of the connection is gone: a reset is due",
    "compare.fin_again": "{who} sends its FIN again after {s} s: it was not acknowledged",
    "compare.second_fin": "{who} sends a second FIN at a different sequence number",
    "compare.refused": "{who} answers the SYN with a reset: nothing listens on {addr} (connect() fails with ECONNREFUSED)",
    "compare.reset": "{who} resets the connection: {why}",
    "compare.reset.data_after_close": "data reached it after it had closed (its socket can no longer read)",
    "compare.reset.no_socket": "it has no socket for this connection any more",
    "compare.reset.abort": "it closed with data still unread, or with SO_LINGER {{1, 0}}: an abort",
    "compare.no_rule": "{who} in {state}: the transition table has no rule for {event} there",
    "compare.fin_on_wire": "{who} had not yet received the FIN of packet {n} when it sent this (its ack does not cover it): the FIN was still on the wire",
    "compare.lost_after": "packet {n} did not reach {who}: it was lost after the point where the capture was made",
    "compare.idle": "no packet for {s} s: taken as finished here (an inactivity timeout of {idle} s, as Zeek's tcp_inactivity_timeout); a later packet of it would start a new, mid-stream connection",
    "compare.crowded": "finished early, {s} s after its last packet: more than {n} connections were open at once and it had been idle the longest; a later packet of it would start a new, mid-stream connection",
    "compare.zero_window": "{who} advertises a zero window: its receive buffer is full, the application has not read what came (__tcp_select_window() has no room to offer)",
    "compare.zero_window_probe": "{who} probes {peer}'s zero window: a segment without data at SND.UNA-1, sent by its persist timer (tcp_probe_timer(), tcp_send_probe0() -> tcp_write_wakeup() -> tcp_xmit_probe_skb()); Wireshark takes this shape for a keep-alive",
    "compare.zero_window_probe_byte": "{who} sends one byte into {peer}'s zero window: a window probe (Linux probes with no data at SND.UNA-1 instead: tcp_xmit_probe_skb())",
    "compare.keep_alive": "{who} sends a keep-alive, {s} s after the connection's last segment: no data at SND.NXT-1, which the peer must ACK (tcp_keepalive_timer() -> tcp_write_wakeup() -> tcp_xmit_probe_skb())",
    "compare.keep_alive_ack": "{who} answers the keep-alive: its sequence number is old, so it gets an ACK at once (tcp_send_dupack())",
    "compare.window_update": "{who} changes its window from {old} to {new} bytes without new data or ack: a window update (tcp_cleanup_rbuf() -> tcp_send_ack(), after the application read)",
    "compare.window_reopens": "{who} reopens its zero window to {new} bytes: a window update after the application read (tcp_cleanup_rbuf() -> tcp_send_ack()); the peer's persist timer stops",
    "compare.window_full": "{who}'s data reaches the right edge of {peer}'s window ({wnd} bytes past its ack {ack}): the window is full, {who} must wait for it to open (tcp_write_xmit() stops at tcp_snd_wnd_test())",
    "compare.duplicate_ack": "{who} acknowledges {ack} again (duplicate ACK {k}): data arrived out of order or twice, and is answered at once (tcp_data_queue(), tcp_send_dupack())",
    "compare.duplicate_ack_sack": "{who} acknowledges {ack} again (duplicate ACK {k}) with SACK blocks: data arrived out of order or twice, and is answered at once (tcp_data_queue(), tcp_send_dupack(); tcp_sack_new_ofo_skb() or D-SACK)",
}

# One explanation per row of the transition table, in the table's own words.
MESSAGES.update({f"rule.{r.state}.{r.event}": r.why.replace("{", "{{").replace("}", "}}")
                 for r in RULES})

# -- compare: what report.py and cli.py's compare print (session 17, helper "sum") -----------
MESSAGES.update({
    "compare.header": "{name}: {format}, {links}; {frames} frames, {tcp} TCP",
    "compare.header.truncated": ", {n} cut short by the snaplen",
    "compare.header.other": ", {n} other",
    "compare.header.idle": "; {n} connection(s) taken as finished after {s} s without a packet",
    "compare.header.crowded": "; {n} finished early, idle the longest when more than {max} were open",
    "compare.link_type": "link type {n}",
    "compare.no_interfaces": "no interfaces",
    "compare.stopped": "reading stopped at frame {frame} (byte {offset}): {reason}; the findings above cover the frames before it",
    "compare.none": "no TCP connection in this capture",
    "compare.reading": "reading",
    "compare.connection": "connection {id}  {a} ⇄ {b}  packets {first}-{last}",
    "compare.verdict.conforms": "conforms",
    "compare.verdict.partial": "partial",
    "compare.verdict.departs": "departs",
    "compare.mark.departs": "departs",
    "compare.mark.note": "note   ",
    "compare.role.client": "client",
    "compare.role.server": "server",
    "compare.story": "{packets} packets, {seen}; {start}; phases: {phases}; {ends}",
    "compare.seen.self": "a socket connected to itself",
    "compare.seen.both": "both sides",
    "compare.seen.one": "one side only",
    "compare.start.mid": "begins mid-stream",
    "compare.start.handshake": "begins with its handshake",
    "compare.phases.none": "no phase complete",
    "compare.phase.handshake": "handshake",
    "compare.phase.data": "data",
    "compare.phase.release": "release",
    "compare.list_sep": ", ",
    "compare.ends_sep": "; ",
    "compare.direction": "{src} → {dst}: {packets} packets, {bytes} bytes of data in {duration} s",
    "compare.window.scaled": "; window scale {shift} (×{factor}): last window {scaled} bytes (raw {raw})",
    "compare.window.unscaled": "; no window scaling: last window {raw} bytes",
    "compare.codes": "Wireshark tcp.completeness {value} ({names}); Zeek conn_state {state} ({meaning}), history {history}",
    "compare.zeek.S0": "connection attempt seen, no reply",
    "compare.zeek.S1": "established, not terminated",
    "compare.zeek.SF": "normal establishment and termination",
    "compare.zeek.REJ": "connection attempt rejected",
    "compare.zeek.S2": "established, close attempt by the originator seen, no reply from the responder",
    "compare.zeek.S3": "established, close attempt by the responder seen, no reply from the originator",
    "compare.zeek.RSTO": "established, the originator aborted (sent a RST)",
    "compare.zeek.RSTR": "the responder sent a RST",
    "compare.zeek.RSTOS0": "the originator sent a SYN then a RST; no SYN-ACK from the responder seen",
    "compare.zeek.RSTRH": "the responder sent a SYN-ACK then a RST; no SYN from the originator seen",
    "compare.zeek.SH": "the originator sent a SYN then a FIN; no SYN-ACK from the responder seen",
    "compare.zeek.SHR": "the responder sent a SYN-ACK then a FIN; no SYN from the originator seen",
    "compare.zeek.OTH": "no SYN seen, just midstream traffic",
    "compare.table.verdict": "verdict",
    "compare.table.connections": "connections",
    "compare.table.conn_state": "Zeek conn_state",
    "compare.table.meaning": "meaning",
    "compare.listed": "connection {id} ({a} ⇄ {b}): #{n} {text}",
    "compare.more": "... and {n} more; --json lists them all",
    "compare.picture.connection": "connection {id}",
    "compare.tag.resent": "resent {wait}",
    "compare.tag.resent.bare": "resent",
    "compare.tag.gap": "gap {n} B",
    "compare.usage.both_stdin": "the capture and the program cannot both come from standard input; give one of them as a file",
    "compare.usage.pictures_stdin": "--sequence and --tsg read the capture twice: give it as a file",
    "compare.no_connection": "no connection {which} in {capture} (it has {n})",
    "compare.picture.none": "nothing to draw: {capture} has no TCP connection",
})

# -- selfcheck: its report (session 18, helper labfix) --------------------------------------
MESSAGES.update({
    "selfcheck.stage.checking": "checking",
    "selfcheck.stage.shrinking": "shrinking",
    "selfcheck.status.agree": "agree",
    "selfcheck.status.diverge": "diverge",
    "selfcheck.status.flaky": "flaky",
    "selfcheck.status.incomplete": "incomplete",
    "selfcheck.status.too-big": "too-big",
    "selfcheck.status.refused": "refused",
    "selfcheck.status.stuck": "stuck",
    "selfcheck.table.outcome": "outcome",
    "selfcheck.table.programs": "programs",
    "selfcheck.table.cause": "cause (first differing field; model rule)",
    "selfcheck.table.lines": "lines",
    "selfcheck.table.minimal": "minimal program",
    "selfcheck.refused": "refused by the model ({n}): {why}",
    "selfcheck.again.generator": "tcpsim: note: {path} was written by another version of selfcheck's generator, so some of its programs' numbers now draw other programs; their outcomes below are those of today's programs",
    "selfcheck.table.earlier": "earlier cause",
    "selfcheck.table.now": "now",
    "selfcheck.summary.again": "{agreed} of {count} programs checked again agree with the kernel, {diverged} diverge ({causes} cause(s)), {apart} counted apart; seed {seed}, {seconds} s; the report is {path}",
    "selfcheck.summary": "{agreed} of {count} programs agree with the kernel, {diverged} diverge ({causes} cause(s)), {apart} counted apart; seed {seed}, {seconds} s; the report is {path}",
})
