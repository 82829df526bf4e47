"""Timers, as tcp_timer.c (and inet_connection_sock.c for request socks) runs them.

Each socket keeps its timers as plain data (Sock.timers: name -> deadline); the world asks
next_timer() and calls handle_timer(now), as aioquic's get_timer()/handle_timer() do.  The
handlers: the delayed ACK (tcp_delack_timer_handler()), the retransmission of a SYN or a FIN
(tcp_retransmit_timer(), tcp_write_timeout() and the give-up time of tcp_model_timeout()),
the SYN-ACK of a request sock (reqsk_timer_handler()), the probe timer (tcp_probe_timer():
a zero window's probes, with backoff, or what a cork held), and the end of TIME_WAIT and of an
orphaned FIN_WAIT2 (the timewait sock's timer, inet_twsk_kill()).
"""

from __future__ import annotations

from .sock import ACK, FIN, TCP_NAGLE_OFF, TCP_TIMEOUT_INIT, Sock, seq_le


class TcpTimers:
    """A kernel's timers (a mixin of Kernel, kernel.py)."""

    # -- arming, and firing what is due --------------------------------------------------
    def _arm(self, sk: Sock, name: str, deadline: float) -> None:
        self.armed += 1
        sk.timers[name] = deadline
        sk.timer_order[name] = self.armed

    def next_timer(self) -> float | None:
        deadlines = [t for s in self.socks.values() for t in s.timers.values()]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at `now` (the earliest first)."""
        self.now = now
        while True:
            # the timer wheel runs a tick's timers newest first (hlist_add_head)
            due = [(t, -s.timer_order.get(name, 0), sid, name) for sid, s in self.socks.items()
                   for name, t in s.timers.items() if t <= now + 1e-12]
            if not due:
                return
            _, _, sid, name = min(due)
            sk = self.socks[sid]
            del sk.timers[name]
            getattr(self, "_timer_" + name)(sk)

    # -- the handlers (tcp_timer.c, inet_connection_sock.c) ------------------------------
    def _timer_delack(self, sk: Sock) -> None:
        """tcp_delack_timer_handler(): send the ACK; a missed pingpong ACK leaves pingpong mode."""
        if not sk.ack_sched:
            return
        if sk.pingpong:
            sk.pingpong = 0
            sk.ato = self.profile.ato_min
        else:
            sk.ato = min(sk.ato * 2, 1.0)
        self._send_ack(sk)

    def _timer_retransmit(self, sk: Sock) -> None:
        if sk.state != "SYN_SENT":
            self._retransmit_fin(sk)
            return
        linear = self.profile.syn_linear_timeouts
        # tcp_write_timeout() -> retransmits_timed_out(): the give-up is a time, the one
        # exponential backoff from 1 s would take for TCP_SYNCNT/tcp_syn_retries retries
        # (tcp_model_timeout), whatever the linear phase did meanwhile
        if sk.retries and self.now - sk.retrans_stamp >= self._syn_give_up(sk.syncnt or self.profile.syn_retries) - 1e-9:
            self._transition(sk, "syn_retries_out")
            return
        if sk.retries >= linear:  # tcp_retransmit_timer(): linear first, then exponential
            sk.rto = min(sk.rto * 2, 120.0)
        sk.retries += 1
        sk.total_retrans += 1
        self._transition(sk, "timer_syn")

    def _timer_probe0(self, sk: Sock) -> None:
        """tcp_probe_timer(): with something in flight, or nothing to send, the probes are
        over; else send one (tcp_send_probe0() -> tcp_write_wakeup(): a zero window's probe,
        or the head of the write queue TCP_CORK or Nagle held).  Not modelled: the give-up after
        tcp_retries2 unanswered probes (tcp_orphan_retries() for an orphan, TCP_USER_TIMEOUT)."""
        if sk.snd_nxt != sk.snd_una or not sk.wq:
            sk.probes_out = 0
            return
        self._send_probe0(sk)

    def _retransmit_fin(self, sk: Sock) -> None:
        """tcp_retransmit_timer(): the FIN is not acknowledged; send it again, back off."""
        if not sk.fin_sent or sk.snd_una == sk.snd_nxt:
            return
        self._emit(sk, FIN | ACK, (sk.snd_nxt - 1) & 0xFFFFFFFF, sk.rcv_nxt,
                   self._select_window(sk), self._est_options(sk))
        self._ack_sent(sk)
        sk.retries += 1
        sk.rto = min(sk.rto * 2, 120.0)
        self._arm(sk, "retransmit", self.now + sk.rto)

    @staticmethod
    def _syn_give_up(boundary: int) -> float:
        thresh = 6  # ilog2(TCP_RTO_MAX / TCP_TIMEOUT_INIT)
        if boundary <= thresh:
            return ((2 << boundary) - 1) * TCP_TIMEOUT_INIT
        return ((2 << thresh) - 1) * TCP_TIMEOUT_INIT + (boundary - thresh) * 120.0

    def _timer_synack(self, sk: Sock) -> None:
        # reqsk_timer_handler(): the listener's TCP_SYNCNT, if set, overrides tcp_synack_retries
        listener = self.socks.get(sk.parent)
        limit = (listener.syncnt if listener else 0) or self.profile.synack_retries
        if sk.retries >= limit:
            self._transition(sk, "synack_retries_out")
            self._free(sk)
            return
        sk.retries += 1
        sk.total_retrans += 1  # inet_rtx_syn_ack(): req->num_retrans
        self._transition(sk, "timer_synack")

    def _timer_loss_probe(self, sk: Sock) -> None:
        """tcp_send_loss_probe(): at most one probe outstanding; new data if the window takes
        the send head (tcp_write_xmit() with Nagle off), else the last skb sent again (its
        last MSS, tcp_fragment()).  The RTO it re-arms is not modelled for data."""
        if sk.tlp_high_seq or not sk.rtxq:
            return
        mss = sk.mss_cache
        if sk.wq:
            length = min(sk.wq[0][0], mss)
            if seq_le((sk.snd_nxt + length) & 0xFFFFFFFF, (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF):
                before = sk.snd_nxt
                self._write_xmit(sk, mss, TCP_NAGLE_OFF)
                sk.timers.pop("loss_probe", None)  # push_one 2: no new probe scheduled
                if sk.snd_nxt != before:
                    sk.tlp_high_seq = sk.snd_nxt
                return
        skb = sk.rtxq[-1]
        seq, data, fl, pcount = skb.seq, skb.data, skb.flags, skb.pcount
        if pcount > 1 and len(data) > (pcount - 1) * mss:
            cut = (pcount - 1) * mss
            seq, data = (seq + cut) & 0xFFFFFFFF, data[cut:]
        self._emit(sk, ACK | fl, seq, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk), data)  # __tcp_retransmit_skb()
        sk.rtxq[-1] = skb._replace(retrans=True)  # TCPCB_RETRANS: its ACK gives no RTT
        self._ack_sent(sk)
        sk.tlp_high_seq = sk.snd_nxt

    def _timer_timewait(self, sk: Sock) -> None:
        self._transition(sk, "timer_timewait")
        self._free(sk)

    def _timer_fin_wait2(self, sk: Sock) -> None:
        self._transition(sk, "timer_fin_wait2")
        self._free(sk)
