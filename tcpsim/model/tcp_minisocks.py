"""Request and timewait socks, as tcp_minisocks.c keeps them.

A SYN to a listener makes a request sock (tcp_conn_request(), in tcp_input.c in Linux, kept
here with the sock it makes); the ACK of its SYN-ACK is checked by tcp_check_req() and turns
it into a full socket in the listener's accept queue (tcp_v4_syn_recv_sock(), which calls
tcp_create_openreq_child()).  At the end of a connection tcp_time_wait() leaves a timewait
sock for TIME_WAIT, or for an orphaned FIN_WAIT2 (tcp_fin_time()), and
tcp_timewait_state_process() answers what still arrives for it.
"""

from __future__ import annotations

from .eventpoll import KEY_DATA_READY
from .sock import (ACK, CWR, ECE, FIN, RCV_SHUTDOWN, RST, SEND_SHUTDOWN, SYN, TCP_MAX_WSCALE,
                   TCP_MIN_MSS_DEFAULT, TCP_TIMEWAIT_LEN, TCPOLEN_TSTAMP_ALIGNED, Seg, Sock,
                   seq_lt)


class TcpMinisocks:
    """A kernel's request and timewait socks (a mixin of Kernel, kernel.py)."""

    # -- request socks (tcp_input.c tcp_conn_request, tcp_minisocks.c) -------------------
    def _act_make_request(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_conn_request(): a request socket with the options both sides offered."""
        p = self.profile
        ts = self._opt(seg, "TS")
        ws = self._opt(seg, "wscale")
        req = self._new(family=sk.family, kind="request", local=seg.dst, remote=seg.src,
                        parent=sk.id, bound=True, reuseaddr=sk.reuseaddr, rcvbuf=sk.rcvbuf,
                        # sk_clone_lock() copies the listener: TCP_NODELAY, TCP_CORK, TCP_MAXSEG,
                        # SO_SNDBUF and its lock
                        nodelay=sk.nodelay, nonagle=sk.nonagle, user_mss=sk.user_mss,
                        sndbuf=sk.sndbuf, sndbuf_lock=sk.sndbuf_lock,
                        # and SOCK_KEEPOPEN with TCP_KEEPIDLE/INTVL/CNT
                        keepopen=sk.keepopen, keepalive_time=sk.keepalive_time,
                        keepalive_intvl=sk.keepalive_intvl,
                        keepalive_probes=sk.keepalive_probes,
                        # and sk_shutdown: a shutdown() before listen() answered ENOTCONN but
                        # set it on the CLOSE socket (inet_shutdown()), and listen() keeps it
                        shutdown=sk.shutdown)
        self._set_state(req, "NEW_SYN_RECV", "rcv_syn", "tcp_conn_request()")
        req.ts_ok = p.timestamps and ts is not None
        req.sack_ok = p.sack and self._has(seg, "sackOK")
        # tcp_ecn_create_request(): an ECN-setup SYN (ECE and CWR) is taken when tcp_ecn is
        # on (1 or 2; the SYN's IP ECT bits are not modelled: a not-ECT SYN)
        req.ecn_ok = bool(seg.flags & ECE and seg.flags & CWR) and \
            int(p.sysctls.get("net.ipv4.tcp_ecn", 2)) != 0
        req.ws_ok = p.window_scaling and ws is not None
        req.rcv_wscale = self._rcv_wscale(req) if req.ws_ok else 0  # the listener's rcvbuf
        req.snd_wscale = min(ws, TCP_MAX_WSCALE) if req.ws_ok else 0  # tcp_parse_options() clamps
        req.ts_recent = ts[0] if ts else 0
        req.ts_offset = self.rng.getrandbits(32)
        req.irs = seg.seq
        req.rcv_nxt = (seg.seq + 1) & 0xFFFFFFFF
        req.iss = self._isn()
        req.snd_una = req.iss
        req.snd_nxt = (req.iss + 1) & 0xFFFFFFFF
        req.write_seq = req.pushed_seq = req.snd_sml = req.snd_nxt  # tcp_create_openreq_child()
        peer_mss = self._opt(seg, "mss") or TCP_MIN_MSS_DEFAULT
        req.advmss = p.mss(sk.family)
        if sk.user_mss and sk.user_mss < req.advmss:  # tcp_openreq_init_rwin(): tcp_mss_clamp()
            req.advmss = sk.user_mss
        # tcp_openreq_init(): rx_opt.mss_clamp, the SYN's MSS as tcp_parse_options() takes it
        # (no more than TCP_MAXSEG)
        req.mss_clamp = min(peer_mss, sk.user_mss) if sk.user_mss else peer_mss
        req.mss_cache = req.mss_mtu = min(peer_mss, req.advmss) - (TCPOLEN_TSTAMP_ALIGNED
                                                                    if req.ts_ok else 0)
        req.snd_wnd = seg.win  # SYN windows are never scaled
        req.rcv_wnd = self._initial_window(req, req.advmss - (TCPOLEN_TSTAMP_ALIGNED
                                                                if req.ts_ok else 0))
        req.rcv_ssthresh = req.rcv_wnd
        req.retrans_stamp = self.now  # treq->snt_synack: the first SYN-ACK goes now
        self._hash(req)
        child = self._try_fastopen(sk, req, seg)  # tcp_conn_request(): tcp_try_fastopen()
        if child is not None:
            # send_synack(fastopen_sk, ..., TCP_SYNACK_FASTOPEN), then the child joins the
            # accept queue at once (inet_csk_reqsk_queue_add()) and sk_data_ready()
            self._act_send_synack(child, seg)
            sk.accept_queue.append(child.id)
            self.changed.add(sk.id)
            self._ep_wake(sk, KEY_DATA_READY)
            return
        self._transition(req, "created")

    def _rcv_request(self, req: Sock, seg: Seg) -> None:
        """tcp_check_req(): the ACK of our SYN-ACK makes the full socket (tcp_v4_syn_recv_sock)."""
        if seg.flags & RST:
            self._free(req)
            return
        if seg.flags & SYN and not seg.flags & ACK:
            req.total_retrans += 1  # inet_rtx_syn_ack(): req->num_retrans
            self._transition(req, "rcv_syn")
            return
        if not seg.flags & ACK or seg.ack != req.snd_nxt:
            if seg.flags & ACK:
                self._reset_reply(seg)
            return
        listener = self.socks.get(req.parent)
        if listener is None or listener.state != "LISTEN":
            self._free(req)
            return
        if len(listener.accept_queue) > listener.backlog:
            return  # the accept queue is full: the ACK is dropped, the SYN-ACK will be retried
        self._unhash(req)
        self._transition(req, "rcv_ack", seg)
        if req.shutdown & SEND_SHUTDOWN:
            # tcp_rcv_state_process(), TCP_SYN_RECV: a child that inherited SEND_SHUTDOWN
            # sends its FIN as the handshake ends (tcp_shutdown()), before the ACK's data
            self._transition(req, "shutdown_wr")
        if seg.payload or seg.flags & FIN:
            self._rcv_state_process(req, seg, acked=True)

    def _act_make_child(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_v4_syn_recv_sock(): the request becomes a full socket in the accept queue."""
        child = sk
        listener = self.socks[child.parent]
        ts = self._opt(seg, "TS")
        child.kind = "full"
        self.changed.add(child.id)
        child.timers.clear()
        # tcp_synack_rtt_meas(): the SYN-ACK's RTT, unless it went again (num_retrans)
        synack_rtt = -1 if child.retries else int(round((self.now - child.retrans_stamp) * 1e6))
        child.snd_una = seg.ack
        self._ack_update_rtt(child, synack_rtt, ts[1] if ts and child.ts_ok else None)
        child.retries = 0
        child.snd_una = seg.ack
        child.snd_wnd = child.max_window = seg.win << child.snd_wscale
        self._sync_mss(child)  # tcp_v4_syn_recv_sock(): bounded by half the peer's window
        self._init_transfer_cwnd(child, ts)  # tcp_rcv_state_process() -> tcp_init_transfer()
        self._init_buffer_space(child)
        self._update_pacing_rate(child)  # tcp_rcv_state_process(): TCP_SYN_RECV's case
        child.delivered = 1  # tcp_rcv_state_process(): "SYN-ACK delivery isn't tracked in tcp_ack"
        if ts:
            child.ts_recent = ts[0]
        child.rcv_wup = child.rcv_nxt
        child.sock_state = "unconnected"
        self._hash(child)
        child.lrcvtime = self.now  # tcp_create_openreq_child(): icsk_ack.lrcvtime
        self._keepalive_start(child)  # tcp_create_openreq_child(): SOCK_KEEPOPEN's timer
        listener.accept_queue.append(child.id)
        self.changed.add(listener.id)
        self._ep_wake(listener, KEY_DATA_READY)  # tcp_child_process(): parent->sk_data_ready()

    # -- timewait socks (tcp_minisocks.c) ------------------------------------------------
    def _act_arm_timewait(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_time_wait(): the connection lives on as a timewait socket for 60 s."""
        sk.timers.clear()
        if sk.orphan:  # the socket itself becomes the timewait socket
            sk.kind = "timewait"
            self.changed.add(sk.id)
            self._arm(sk, "timewait", self.now + TCP_TIMEWAIT_LEN)
        else:  # a timewait socket takes the connection over; the one with the fd is done
            tw = self._new(family=sk.family, state="TIME_WAIT", kind="timewait", local=sk.local,
                           remote=sk.remote, bound=True, reuseaddr=sk.reuseaddr,
                           snd_nxt=sk.snd_nxt, rcv_nxt=sk.rcv_nxt, ts_ok=sk.ts_ok,
                           ts_recent=sk.ts_recent, ts_offset=sk.ts_offset, rcv_wscale=sk.rcv_wscale,
                           rcv_wnd=sk.rcv_wnd, rcv_wup=sk.rcv_wup, rcvbuf=sk.rcvbuf)
            self._arm(tw, "timewait", self.now + TCP_TIMEWAIT_LEN)
            self._hash(tw)
            self._set_state(sk, "CLOSE", "time_wait", "tcp_time_wait(): the socket itself is done")
            sk.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN

    def _orphan_fin_wait2(self, sk: Sock) -> None:
        """An orphaned FIN_WAIT2 lives on as a timewait socket for tcp_fin_time()
        (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo), as long as tmo <= 60 s)."""
        sk.kind = "timewait"
        self.changed.add(sk.id)
        sk.timers.clear()
        sk.tw_rcv_wnd = self._receive_window(sk)  # tcp_time_wait(): tw_rcv_wnd
        sk.last_oow_ack = -1  # tcp_time_wait(): tw_last_oow_ack_time = 0
        self._arm(sk, "fin_wait2", self.now + self._fin_time(sk))

    def _fin_time(self, sk: Sock) -> float:
        """tcp_fin_time(): TCP_LINGER2 if set, else tcp_fin_timeout, but not under 3.5 RTOs."""
        linger2 = sk.opts.get((6, 8), 0)
        fin_timeout = float(linger2) if linger2 > 0 else self.profile.fin_timeout
        rto = self._established_rto(sk)
        return max(fin_timeout, rto * 4 - rto / 2)

    @staticmethod
    def _tw_in_window(tw: Sock, seg: Seg) -> bool:
        """tcp_in_window(seq, end_seq, tw_rcv_nxt, tw_rcv_nxt + tw_rcv_wnd) (SYN and FIN
        count in end_seq)."""
        seq, s_win = seg.seq, tw.rcv_nxt
        end_seq = (seq + seg.seg_len) & 0xFFFFFFFF
        e_win = (s_win + tw.tw_rcv_wnd) & 0xFFFFFFFF
        if seq == s_win:
            return True
        if seq_lt(s_win, end_seq) and seq_lt(seq, e_win):
            return True
        return seq == e_win and seq == end_seq

    def _rcv_timewait(self, tw: Sock, seg: Seg) -> None:
        """tcp_timewait_state_process()."""
        if seg.flags & RST:
            # RFC 1337 is off by default: an RST ends TIME_WAIT ("TIME_WAIT assassination"),
            # but only one at rcv_nxt; in TIME_WAIT proper any other is dropped
            # (tcp_timewait_state_process().  Measured: a data segment held back 5 ms
            # arrived after the close, its RST (seq 1, rcv_nxt 2) left TIME_WAIT standing)
            if tw.state != "TIME_WAIT" or seg.seq == tw.rcv_nxt:
                self._free(tw)
            return
        ts = self._opt(seg, "TS")
        end_seq = (seg.seq + len(seg.payload)) & 0xFFFFFFFF
        if tw.state == "FIN_WAIT2":
            if not self._tw_in_window(tw, seg):
                # tcp_timewait_state_process(): out of the window (an old SYN-ACK a net line
                # held back, say), an ACK, at most one each tcp_invalid_ratelimit
                # (tcp_timewait_check_oow_rate_limit(): TCP_TW_ACK)
                if not self._oow_rate_limited(tw, seg):
                    self._send_ack(tw)
                return
            if seg.flags & FIN and end_seq == tw.rcv_nxt:
                if ts:
                    tw.ts_recent = ts[0]
                tw.rcv_nxt = (tw.rcv_nxt + 1) & 0xFFFFFFFF
                self._transition(tw, "rcv_fin", seg)  # ACK, then TIME_WAIT for 60 s
            elif seq_lt(tw.rcv_nxt, (end_seq + bool(seg.flags & FIN)) & 0xFFFFFFFF):
                # new data after the half-duplex close: TCP_TW_RST
                self._transition(tw, "rcv_data_after_close", seg)
                self._free(tw)
            return  # a duplicate ACK is consumed silently
        if ts and (seg.flags & FIN or seg.payload):
            tw.ts_recent = ts[0]
        if seg.flags & FIN:
            self._transition(tw, "rcv_fin", seg)
        elif seg.payload:
            self._send_ack(tw)  # TIME_WAIT: ACK what the peer sends again
