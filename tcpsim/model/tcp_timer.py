"""Timers, as tcp_timer.c (and inet_connection_sock.c for request socks) runs them.

Each socket keeps its timers as plain data (Sock.timers: name -> deadline); the world asks
next_timer() and calls handle_timer(now), as aioquic's get_timer()/handle_timer() do.  The
handlers: the delayed ACK (tcp_delack_timer_handler()), the retransmission of a SYN or a FIN
(tcp_retransmit_timer(), tcp_write_timeout() and the give-up time of tcp_model_timeout()),
the SYN-ACK of a request sock (reqsk_timer_handler()), the probe timer (tcp_probe_timer():
a zero window's probes, with backoff, or what a cork held), the keepalive timer
(tcp_keepalive_timer()), and the end of TIME_WAIT and of an orphaned FIN_WAIT2 (the timewait
sock's timer, inet_twsk_kill()).
"""

from __future__ import annotations

import heapq

from .sock import (ACK, EOR, FIN, PSH, SYN, TCP_NAGLE_OFF, TCP_RTO_MAX, TCP_RTO_MIN, TCP_TIMEOUT_INIT,
                   Sock, seq_le, seq_lt)


class TcpTimers:
    """A kernel's timers (a mixin of Kernel, kernel.py)."""

    # -- arming, and firing what is due --------------------------------------------------
    def _arm(self, sk: Sock, name: str, deadline: float) -> None:
        self.armed += 1
        sk.timers[name] = deadline
        sk.timer_order[name] = self.armed
        # the kernel's timer wheel, as a heap of (deadline, sock, name) with lazy deletion: an
        # entry counts while the sock still has that timer at that deadline (a timer stopped
        # or moved leaves its old entry behind, dropped when it comes to the top)
        heap = self.timer_heap
        heapq.heappush(heap, (deadline, sk.id, name))
        if len(heap) > heap.limit:  # mostly stale entries: rebuilt from the socks' timers
            heap[:] = [(t, sid, n) for sid, s in self.socks.items() for n, t in s.timers.items()]
            heapq.heapify(heap)
            heap.limit = 2 * len(heap) + len(self.socks) + 64  # amortised: O(1) an arming

    def _timer_live(self, entry: tuple) -> bool:
        t, sid, name = entry
        s = self.socks.get(sid)
        return s is not None and s.timers.get(name) == t

    def next_timer(self) -> float | None:
        """The earliest deadline of any sock's timers (None: none armed)."""
        heap = self.timer_heap
        while heap and not self._timer_live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at `now` (the earliest first)."""
        self.now = now
        while True:
            # the timer wheel runs a tick's timers newest first (hlist_add_head)
            due = self._due_timers(now + 1e-12)
            if not due:
                return
            _, _, sid, name = min(due)
            sk = self.socks[sid]
            del sk.timers[name]
            self.cause = self._cause(sk, name)
            try:
                getattr(self, "_timer_" + name)(sk)
            finally:
                self.cause = None

    def _due_timers(self, bound: float) -> list[tuple]:
        """[(deadline, -order, sock, name)] of every armed timer due by `bound` (the heap's
        live entries up to it; they stay in the heap)."""
        heap, taken, due = self.timer_heap, [], []
        while heap and heap[0][0] <= bound:
            entry = heapq.heappop(heap)
            if self._timer_live(entry) and entry not in taken:
                taken.append(entry)
                t, sid, name = entry
                due.append((t, -self.socks[sid].timer_order.get(name, 0), sid, name))
        for entry in taken:
            heapq.heappush(heap, entry)
        return due

    def _cause(self, sk: Sock, name: str) -> dict:
        """What a segment the timer `name` sends now is for, and the numbers behind the
        timer's length as they stood when it was armed (the handler has not yet backed
        off): read only by the explanations (tcpsim/teach/explain.py), never by the model."""
        why: dict = {"timer": name}
        if name in ("retransmit", "loss_probe"):
            # tcp_set_rto(): icsk_rto from srtt and rttvar (RFC 6298), icsk_backoff doublings
            why.update(rto_ms=round(sk.rto * 1000, 3), srtt_us=sk.srtt_us >> 3,
                       rttvar_us=sk.rttvar_us, backoff=sk.backoff, retries=sk.retries,
                       out=sk.packets_out)
            if sk.state == "SYN_SENT":
                why["linear"] = self.profile.syn_linear_timeouts
        elif name == "probe0":  # tcp_probe_timer(): tcp_probe0_when()
            why.update(base_ms=round(self._probe0_base(sk) * 1000, 3), backoff=sk.backoff,
                       probes=sk.probes_out)
        elif name == "keepalive":
            why.update(idle=self._keepalive_when(sk) // self.profile.hz,
                       intvl=self._keepalive_intvl_when(sk) // self.profile.hz,
                       cnt=self._keepalive_probes(sk), probes=sk.probes_out)
        elif name == "synack":  # reqsk_timer_handler(): TCP_TIMEOUT_INIT << num_timeout
            why.update(retries=sk.retries)
        elif name == "delack":
            why.update(ato_ms=round(sk.ato * 1000, 3))
        return why

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

    def _timer_comp_sack(self, sk: Sock) -> None:
        """tcp_compressed_ack_kick(): the hrtimer of SACK compression sends the ACKs it held
        (one, counted out of compressed_ack)."""
        if sk.compressed_ack:
            sk.compressed_ack -= 1
            self._send_ack(sk)

    def _timer_retransmit(self, sk: Sock) -> None:
        # data to send again, also after close() or shutdown() queued the FIN behind it
        if sk.state in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "CLOSING", "LAST_ACK") \
                and sk.rtxq and sk.rtxq[0].data:
            self._retransmit_data(sk)
            return
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

    def _retransmit_data(self, sk: Sock) -> None:
        """tcp_retransmit_timer() for data: tcp_enter_loss() (ssthresh from the congestion
        control, cubic's bictcp_recalc_ssthresh(): max(cwnd * 717 / 1024, 2), on the first
        RTO of an episode only; cwnd 1: everything out is marked lost), the head of the
        retransmit queue sent again (tcp_retransmit_skb(): its first MSS, tcp_fragment()
        leaving PSH and FIN on the rest), then icsk_backoff and icsk_retransmits up and the
        RTO doubled, at most TCP_RTO_MAX.  Measured (a 5-byte request dropped three times):
        the loss probe at 205 ms, the RTO 204 ms later (tcpi_ca_state 4, tcpi_retransmits 1,
        tcpi_backoff 1, tcpi_rto 408000, cwnd 1, ssthresh 7), the next 408 ms later, and
        after its ACK backoff 0, rto 204000, cwnd 2.  Not modelled yet: tcp_write_timeout()
        (tcp_retries2, TCP_USER_TIMEOUT: ETIMEDOUT) and the retransmission of the rest of
        the queue after the RTO (tcp_xmit_retransmit_queue())."""
        if not sk.packets_out:
            return
        if sk.retries and self._retransmits_timed_out(sk):  # tcp_write_timeout()
            self._transition(sk, "retries_out")  # tcp_write_err(): ETIMEDOUT
            return
        # tcp_enter_loss(): F-RTO (RFC 5682 3.1 step 1) when no recovery was under way, or
        # on a recurring timeout of the same snd_una (3.2: icsk_retransmits); tcp_frto 0 off
        sk.frto = self.profile.sysctls.get("net.ipv4.tcp_frto", "2") != "0" and \
            ((not sk.ca_loss and not sk.ca_recovery) or sk.retries > 0)
        if not sk.ca_loss and not sk.ca_recovery:  # tcp_enter_loss(): a new episode
            sk.prior_ssthresh = self._current_ssthresh(sk)
            sk.prior_cwnd = sk.snd_cwnd
            sk.snd_ssthresh = self._ssthresh(sk)  # (in recovery, the one it set stays)
            self._init_undo(sk)
        sk.ca_loss, sk.ca_recovery, sk.high_seq = True, False, sk.snd_nxt
        if self.profile.congestion_control != "reno":
            self._bictcp_reset(sk)  # tcp_set_ca_state(TCP_CA_Loss) -> cubictcp_state()
        sk.snd_cwnd, sk.snd_cwnd_cnt = 1, 0
        sk.tlp_high_seq = 0
        sk.timers.pop("reo", None)
        if sk.rtxq and sk.rtxq[0].sacked:
            # tcp_timeout_mark_lost(): a SACKed head, the peer reneged: every SACK forgotten
            # (is_sack_reneg), everything marked lost
            sk.sacked_out = 0
            sk.rtxq[:] = [skb._replace(sacked=False) for skb in sk.rtxq]
        # tcp_enter_loss() -> tcp_mark_skb_lost(): everything out the peer does not hold
        for i, skb in enumerate(sk.rtxq):
            if not skb.sacked and not skb.lost:
                sk.rtxq[i] = skb._replace(lost=True)
                sk.lost_out += skb.pcount
        first = next((i for i, skb in enumerate(sk.rtxq) if skb.lost), None)
        sk.xmit_burst += 1
        if first is not None:
            self._retransmit_skb(sk, first, 1)
        sk.retries += 1
        sk.backoff += 1
        sk.rto = min(sk.rto * 2, TCP_RTO_MAX)
        rto = self._clamp_rto_to_user_timeout(sk)
        jiffies = self._usecs_to_jiffies(round(rto * 1e6))
        self._arm(sk, "retransmit", self._wheel_deadline(jiffies))

    def _retransmit_skb(self, sk: Sock, i: int, segs: int) -> None:
        """tcp_retransmit_skb(sk, skb, segs): at most segs MSS of the i-th skb of the
        retransmit queue go again; a longer skb is cut first (tcp_fragment(): PSH and FIN stay
        on the second part).  Measured: a lost 3000-byte skb (MSS 988) went again as 988
        bytes without PSH, then 1976 with PSH."""
        skb = sk.rtxq[i]
        if seq_lt(skb.seq, sk.snd_una):
            # __tcp_retransmit_skb(): tcp_trim_head() of what is acknowledged (a Fast Open
            # SYN's data acknowledged in part by the SYN-ACK: syn-data-partial-or-over-ack)
            cut = (sk.snd_una - skb.seq) & 0xFFFFFFFF
            sk.rtxq[i] = skb = skb._replace(seq=sk.snd_una, data=skb.data[cut:])
        mss = self._current_mss(sk)  # __tcp_retransmit_skb(): cur_mss
        if len(skb.data) > segs * mss:
            self._fragment(sk, i, segs * mss, mss)
            skb = sk.rtxq[i]
        else:
            if skb.mss != mss and skb.data:
                # __tcp_retransmit_skb(): tcp_set_skb_tso_segs(skb, cur_mss), the packets
                # recounted (tcp_adjust_pcount())
                new = skb._replace(mss=mss)
                delta = new.pcount - skb.pcount
                sk.packets_out += delta
                if skb.lost:
                    sk.lost_out += delta
                sk.rtxq[i] = skb = new
            # then an skb shorter than what the peer's window leaves for it (at most one
            # MSS) takes the skbs after it (tcp_retrans_try_collapse())
            avail = min((sk.snd_una + sk.snd_wnd - skb.seq) & 0xFFFFFFFF, mss)
            if len(skb.data) < avail:
                self._retrans_try_collapse(sk, i, avail)
                skb = sk.rtxq[i]
        # an skb of several MSS leaves with PSH, as in _transmit() (measured: the 1976 bytes)
        fl = skb.flags | (PSH if len(skb.data) > mss and self.rtx_gso_psh else 0)
        self._emit(sk, ACK | fl, skb.seq, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk), skb.data, mss if len(skb.data) > mss else 0)
        if skb.lost:  # sent again: back in flight (retrans_out)
            sk.lost_out -= skb.pcount
        sk.rtxq[i] = skb._replace(retrans=True, lost=False, sent=self.now,  # its mstamp; Karn
                                  burst=sk.xmit_burst, rtx_lost=skb.lost or skb.rtx_lost,
                                  tx_delivered=sk.delivered)  # tcp_rate_skb_sent()
        self._ack_sent(sk)
        sk.total_retrans += 1
        if sk.data_retrans_stamp < 0:  # tcp_retransmit_skb(): the first retransmission's time
            sk.data_retrans_stamp = self.now
        sk.undo_retrans = max(sk.undo_retrans, 0) + skb.pcount  # tcp_retransmit_skb()
        if sk.ca_recovery:
            sk.prr_out += skb.pcount  # tcp_xmit_retransmit_queue()

    def _retrans_try_collapse(self, sk: Sock, i: int, space: int) -> None:
        """tcp_retrans_try_collapse(): the skbs after the i-th join it while they fit in
        `space` and the peer's window, each of one packet, not SACKed, nothing ending a record
        (tcp_can_collapse(), tcp_skb_can_collapse()); tcp_collapse_retrans() moves their bytes
        and flags (PSH, FIN) over and drops them from the counts (tcp_adjust_pcount()).
        Measured: data lost, then shutdown(SHUT_WR)'s FIN lost too: the RTO resends both as
        one FP. segment (the built-in user-timeout-fin-wait1)."""
        if self.profile.sysctls.get("net.ipv4.tcp_retrans_collapse", "1") == "0":
            return
        to = sk.rtxq[i]
        if to.flags & SYN:
            return
        wnd_end = (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF
        j, first = i, True
        while j < len(sk.rtxq):
            nxt = sk.rtxq[j]
            if nxt.pcount > 1 or nxt.sacked or sk.rtxq[i].flags & EOR or \
                    self._clone_held(sk, nxt):
                break  # tcp_can_collapse(), tcp_skb_can_collapse_to()
            space -= len(nxt.data)
            if first:
                first, j = False, j + 1
                continue
            if space < 0 or seq_lt(wnd_end, nxt.end_seq):
                break
            to = sk.rtxq[i]
            sk.rtxq[i] = to._replace(data=to.data + nxt.data, flags=to.flags | nxt.flags,
                                     retrans=to.retrans or nxt.retrans)
            sk.packets_out -= nxt.pcount  # tcp_adjust_pcount()
            if nxt.lost:
                sk.lost_out -= nxt.pcount
            del sk.rtxq[j]

    def _clone_held(self, sk: Sock, skb) -> bool:
        """tcp_can_collapse()'s skb_cloned() on lo: the peer's out-of-order queue still
        holds the clone lo handed it (tcp_data_queue_ofo() queues that very skb).  Measured
        (selfcheck seed 77, program 82): the data lost, the client's FIN (sent at its exit())
        waits in the server's out-of-order queue, and the RTO resends the data alone, [P.],
        not [FP.] as when the FIN was lost too (user-timeout-fin-wait1)."""
        pid = self.ehash.get((sk.remote, sk.local))
        peer = self.socks.get(pid) if pid is not None else None
        return peer is not None and any(o[0] == skb.seq and o[4] for o in peer.ofo)

    def _xmit_retransmit_queue(self, sk: Sock) -> None:
        """tcp_xmit_retransmit_queue() after an RTO (tcp_xmit_recovery(), REXMIT_LOST): the
        skbs marked lost go again in order while the congestion window has room;
        tcp_packets_in_flight() counts what is out less what is lost.  Measured: after the
        RTO's 988 bytes were ACKed (cwnd 2) the next 1976 (2 packets) went at once, after
        their ACK the 36-byte tail."""
        i = 0
        max_segs = self._tso_segs(sk, self._current_mss(sk))
        sk.xmit_burst += 1
        rearm = False
        while i < len(sk.rtxq) and sk.lost_out:  # tp->retrans_out >= tp->lost_out: done
            segs = sk.snd_cwnd - self._in_flight(sk)
            if segs <= 0:
                break
            if sk.rtxq[i].lost:
                self._retransmit_skb(sk, i, min(segs, max_segs))
                # the head of the queue went again, and no REO timer is pending: the RTO
                # from now (icsk_rto, on the timer wheel).  Measured: a lost fast
                # retransmission resent by the RTO 211.8 ms later
                rearm |= i == 0 and "reo" not in sk.timers
            i += 1
        if rearm and not sk.ca_loss:
            sk.timers.pop("loss_probe", None)
            jiffies = self._usecs_to_jiffies(round(sk.rto * 1e6))
            self._arm(sk, "retransmit", self._wheel_deadline(jiffies))

    def _user_timeout(self, sk: Sock) -> float:
        """icsk_user_timeout (TCP_USER_TIMEOUT, milliseconds), in seconds; 0: not set."""
        return max(0, sk.opts.get((6, 18), 0)) / 1000

    def _retransmits_timed_out(self, sk: Sock) -> bool:
        """retransmits_timed_out(sk, tcp_retries2, icsk_user_timeout): the time since the
        first retransmission (retrans_stamp) reaches TCP_USER_TIMEOUT if set, else the time
        tcp_retries2 exponential backoffs from TCP_RTO_MIN would take (tcp_model_timeout():
        linear past ilog2(TCP_RTO_MAX / TCP_RTO_MIN) = 9, so 924.6 s for 15)."""
        timeout = self._user_timeout(sk)
        if not timeout:
            boundary, thresh = self.profile.retries2, 9
            if boundary <= thresh:
                timeout = ((2 << boundary) - 1) * TCP_RTO_MIN
            else:
                timeout = ((2 << thresh) - 1) * TCP_RTO_MIN + (boundary - thresh) * TCP_RTO_MAX
        return self.now - sk.data_retrans_stamp >= timeout - 1e-9

    def _clamp_rto_to_user_timeout(self, sk: Sock) -> float:
        """tcp_clamp_rto_to_user_timeout(): the next RTO no later than TCP_USER_TIMEOUT after
        the first retransmission (a jiffy if that has passed).  Measured (TCP_USER_TIMEOUT
        1000, the peer silent): the data at 0, the loss probe at 204.6 ms, RTOs at 413.5 and
        833.5 ms, then recv() returned ETIMEDOUT at 1441.8 ms, with nothing sent: 1000 ms
        after the first RTO, on the coarse timer wheel (a 145-jiffy timer fires on an
        8-jiffy boundary)."""
        timeout = self._user_timeout(sk)
        if not timeout or not sk.retries:
            return sk.rto
        remaining = timeout - (self.now - sk.data_retrans_stamp)
        return self.profile.jiffy if remaining <= 0 else min(sk.rto, remaining)

    @staticmethod
    def _syn_give_up(boundary: int) -> float:
        thresh = 6  # ilog2(TCP_RTO_MAX / TCP_TIMEOUT_INIT)
        if boundary <= thresh:
            return ((2 << boundary) - 1) * TCP_TIMEOUT_INIT
        return ((2 << thresh) - 1) * TCP_TIMEOUT_INIT + (boundary - thresh) * 120.0

    def _timer_synack(self, sk: Sock) -> None:
        if sk.kind == "full":  # a Fast Open child's (tcp_fastopen.py)
            self._fastopen_synack_timer(sk)
            return
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
        mss = self._current_mss(sk)  # tcp_send_loss_probe()
        if sk.wq:
            length = min(sk.wq[0][0], mss)
            if seq_le((sk.snd_nxt + length) & 0xFFFFFFFF, (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF):
                before = sk.snd_nxt
                self._write_xmit(sk, mss, TCP_NAGLE_OFF, push_one=2)
                sk.timers.pop("loss_probe", None)
                if sk.snd_nxt != before:
                    sk.tlp_high_seq = sk.snd_nxt
                self._rearm_rto(sk)  # rearm_timer: tcp_rearm_rto()
                return
        skb = sk.rtxq[-1]
        seq, data, fl, pcount = skb.seq, skb.data, skb.flags, skb.pcount
        if pcount > 1 and len(data) > (pcount - 1) * mss:
            # tcp_fragment(): the last MSS becomes an skb of its own, with PSH and FIN
            self._fragment(sk, len(sk.rtxq) - 1, (pcount - 1) * mss, mss)
            skb = sk.rtxq[-1]
            seq, data = skb.seq, skb.data
        self._emit(sk, ACK | fl, seq, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk), data)  # __tcp_retransmit_skb()
        # TCPCB_RETRANS: its ACK gives no RTT; __tcp_transmit_skb() stamps it anew
        sk.xmit_burst += 1
        sk.rtxq[-1] = skb._replace(retrans=True, sent=self.now, burst=sk.xmit_burst,
                                   tx_delivered=sk.delivered)  # tcp_rate_skb_sent()
        self._ack_sent(sk)
        sk.tlp_high_seq = sk.snd_nxt
        sk.total_retrans += 1
        if sk.fin_sent:  # tcp_rearm_rto(): the FIN's retransmission timer, icsk_rto from now
            self._arm(sk, "retransmit", self.now + sk.rto)
            return
        self._rearm_rto(sk)  # rearm_timer: tcp_rearm_rto()

    # -- keepalive (tcp_timer.c tcp_keepalive_timer(), include/net/tcp.h) ----------------
    def _wheel_deadline(self, jiffies: int) -> float:
        """When the timer wheel runs a timer armed now for `jiffies` (jiffies + jiffies):
        calc_wheel_index() picks the level by the delay (level n holds delays from
        LVL_START(n) = 63 << 3(n - 1) jiffies, with a granularity of 8^n), and calc_index()
        rounds the expiry up to the level's next bucket, strictly after it: a level-0 timer
        a tick late, a keepalive of 1 s (250 jiffies, level 1) at the next multiple of 8
        jiffies after its expiry.  Measured: probes of an unanswered keepalive (1 s) 1024 ms
        apart, exactly 256 jiffies."""
        jiffy = self.profile.jiffy
        now = self._jiffies(self.now)
        lvl = 0
        while lvl < 8 and jiffies >= 63 << (3 * lvl):
            lvl += 1
        shift = 3 * lvl
        return ((((now + jiffies) >> shift) + 1 << shift) - self.jiffy_phase) * jiffy

    def _keepalive_when(self, sk: Sock) -> int:
        """keepalive_time_when(): TCP_KEEPIDLE, else tcp_keepalive_time, in jiffies."""
        return (sk.keepalive_time or self.profile.keepalive_time) * self.profile.hz

    def _keepalive_intvl_when(self, sk: Sock) -> int:
        """keepalive_intvl_when(): TCP_KEEPINTVL, else tcp_keepalive_intvl, in jiffies."""
        return (sk.keepalive_intvl or self.profile.keepalive_intvl) * self.profile.hz

    def _keepalive_probes(self, sk: Sock) -> int:
        """keepalive_probes(): TCP_KEEPCNT, else tcp_keepalive_probes."""
        return sk.keepalive_probes or self.profile.keepalive_probes

    def _keepalive_elapsed(self, sk: Sock) -> int:
        """keepalive_time_elapsed(): jiffies since the last data (icsk_ack.lrcvtime) or the
        last ACK taken (tp->rcv_tstamp), whichever came later."""
        now = self._jiffies(self.now)
        last = max(self._jiffies(sk.lrcvtime), self._jiffies(sk.rcv_tstamp))
        return now - last

    def _reset_keepalive_timer(self, sk: Sock, jiffies: int) -> None:
        """inet_csk_reset_keepalive_timer(): sk_timer at jiffies + `jiffies`."""
        self._arm(sk, "keepalive", self._wheel_deadline(jiffies))

    def _keepalive_start(self, sk: Sock) -> None:
        """tcp_finish_connect() and tcp_create_openreq_child(): a connection just established
        (its ACK taken now: tp->rcv_tstamp) starts its keepalive timer when SOCK_KEEPOPEN is
        set (by SO_KEEPALIVE before connect(), or inherited from the listener)."""
        sk.rcv_tstamp = self.now
        if sk.keepopen:
            self._reset_keepalive_timer(sk, self._keepalive_when(sk))

    def _timer_keepalive(self, sk: Sock) -> None:
        """tcp_keepalive_timer(): nothing to do without SO_KEEPALIVE or in CLOSE/SYN_SENT;
        with data in flight or unsent, look again after the idle time; else, once the
        connection was idle (nothing received: keepalive_time_elapsed()) for TCP_KEEPIDLE,
        send a probe (tcp_write_wakeup() -> tcp_xmit_probe_skb(): a pure ACK with seq
        snd_una - 1, which the peer answers with a duplicate ACK; that ACK zeroes
        icsk_probes_out and rcv_tstamp in tcp_ack()) and look again after TCP_KEEPINTVL;
        when TCP_KEEPCNT probes went unanswered (or, with TCP_USER_TIMEOUT, once the idle
        time reaches it and a probe is out), reset the connection (tcp_send_active_reset())
        and fail it with ETIMEDOUT (tcp_write_err()).  Before the idle time is up, look again
        when it will be."""
        if not sk.keepopen or sk.kind != "full" or sk.state in ("CLOSE", "SYN_SENT", "LISTEN"):
            return
        when = self._keepalive_when(sk)
        if sk.snd_nxt != sk.snd_una or sk.wq:  # tp->packets_out || !tcp_write_queue_empty()
            self._reset_keepalive_timer(sk, when)
            return
        elapsed = self._keepalive_elapsed(sk)
        if elapsed >= when:
            user_timeout = int(sk.opts.get((6, 18), 0))  # icsk_user_timeout, ms
            ut_jiffies = -(-user_timeout * self.profile.hz // 1000)  # msecs_to_jiffies()
            if ((user_timeout and elapsed >= ut_jiffies and sk.probes_out > 0)
                    or (not user_timeout and sk.probes_out >= self._keepalive_probes(sk))):
                self._transition(sk, "keepalive_out")
                return
            self._write_wakeup(sk)  # no data queued: always the pure ACK, which returns 0
            sk.probes_out += 1
            elapsed = self._keepalive_intvl_when(sk)
        else:
            elapsed = when - elapsed
        self._reset_keepalive_timer(sk, elapsed)

    def _timer_timewait(self, sk: Sock) -> None:
        self._transition(sk, "timer_timewait")
        self._free(sk)

    def _timer_fin_wait2(self, sk: Sock) -> None:
        self._transition(sk, "timer_fin_wait2")
        self._free(sk)
