"""Segments in, as tcp_ipv4.c hands them over and tcp_input.c processes them.

receive() is tcp_v4_rcv(): find the socket a segment belongs to (the established hash, else a
listener), or answer it with a reset (tcp_v4_send_reset()).  Then, by the socket: a listener's
SYN (tcp_rcv_state_process() in LISTEN, on to tcp_conn_request()), the answer to our SYN
(tcp_rcv_synsent_state_process()), and the synchronized states (tcp_rcv_state_process(),
tcp_rcv_established(): tcp_validate_incoming(), tcp_ack(), tcp_data_queue(), tcp_fin()).
The delayed-ACK engine's input side is here too (tcp_event_data_recv(), tcp_measure_rcv_mss(),
tcp_incr_quickack(), __tcp_ack_snd_check()), with tcp_reset() and the RTO of an established
connection (tcp_set_rto()).  Request and timewait sockets take their segments in
tcp_minisocks.py; what goes out is built in tcp_output.py.
"""

from __future__ import annotations

import errno as E

from .eventpoll import KEY_DATA_READY, KEY_WRITE_SPACE
from .sock import (ACK, FIN, PSH, RCV_SHUTDOWN, RST, SEND_SHUTDOWN, SKB_DATA_ALIGN_SK_BUFF,
                   SKB_SHINFO_SIZE, SKB_SMALL_HEAD_CACHE_SIZE, SKB_TRUESIZE_LO, SNDBUF_SKB_HEADROOM, SOCK_MIN_RCVBUF, SYN, TCP_INIT_CWND, TCP_MAX_QUICKACKS, TCP_MAX_WSCALE, TCP_MIN_MSS_DEFAULT,
                   TCP_MSS_DEFAULT, TCP_RTO_MAX, TCP_RTO_MIN, TCPOLEN_TSTAMP_ALIGNED, Seg, Sock, seq_le,
                   seq_lt)
from .sock import TCP_NAGLE_OFF
from .sock import DRS_RACE_SECONDS
from .tcp_recovery import retrans_out


class TcpInput:
    """What a kernel does with an arriving segment (a mixin of Kernel, kernel.py)."""

    # -- segments in (tcp_ipv4.c tcp_v4_rcv, tcp_input.c) --------------------------------
    def receive(self, seg: Seg) -> None:
        sid = self.ehash.get((seg.dst, seg.src))
        if sid is None:
            sid = self._listener(seg.dst)
        signed = self._has(seg, "md5")  # a TCP-MD5 option (RFC 2385): the model keeps no keys
        if sid is None:  # nobody has this connection: tcp_v4_send_reset(), which answers
            if not signed:  # a signed segment only for a listener holding its key
                self._reset_reply(seg)
            return
        sk = self.socks[sid]
        if signed and sk.kind != "timewait":
            return  # tcp_inbound_hash() -> tcp_inbound_md5_hash(): TCP_MD5UNEXPECTED, dropped
        if sk.kind == "request":
            self._rcv_request(sk, seg)
        elif sk.state == "LISTEN":
            self._rcv_listen(sk, seg)
        elif sk.kind == "timewait":
            self._rcv_timewait(sk, seg)
        elif sk.state == "SYN_SENT":
            self._rcv_synsent(sk, seg)
        else:
            self._rcv_state_process(sk, seg)

    def _listener(self, addr: tuple):
        for s in self.socks.values():
            if s.state == "LISTEN" and s.local[1] == addr[1] and \
                    s.local[0] in (addr[0], "0.0.0.0", "::"):
                return s.id
        return None

    def _reset_reply(self, seg: Seg) -> None:
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            out = Seg(seg.dst, seg.src, RST, seg.ack, 0, 0, [])
        else:
            out = Seg(seg.dst, seg.src, RST | ACK, 0, (seg.seq + seg.seg_len) & 0xFFFFFFFF, 0, [])
        self._xmit(out)

    def _act_reset_reply(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_v4_do_rcv() answers the offending segment with tcp_v4_send_reset()."""
        self._reset_reply(seg)

    @staticmethod
    def _opt(seg: Seg, name: str):
        for n, v in seg.options:
            if n == name:
                return v
        return None

    @staticmethod
    def _has(seg: Seg, name: str) -> bool:
        for n, _ in seg.options:
            if n == name:
                return True
        return False

    def _rcv_listen(self, sk: Sock, seg: Seg) -> None:
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            self._reset_reply(seg)  # an ACK for a connection the listener does not know
            return
        if not seg.flags & SYN:
            return
        if len(sk.accept_queue) > sk.backlog:  # sk_acceptq_is_full()
            self._transition(sk, "rcv_syn_queue_full")
            return
        self._transition(sk, "rcv_syn", seg)

    def _rcv_synsent(self, sk: Sock, seg: Seg) -> None:
        """tcp_rcv_synsent_state_process()."""
        if seg.flags & ACK:
            # tcp_rcv_synsent_state_process(): an ACK after snd_una, up to snd_nxt (which
            # is past a Fast Open SYN's data)
            if not (seq_lt(sk.snd_una, seg.ack) and seq_le(seg.ack, sk.snd_nxt)):
                if not seg.flags & RST:
                    self._reset_reply(seg)
                return
            if seg.flags & RST:
                self._transition(sk, "rcv_rst")
                return
            if not seg.flags & SYN:
                return
            ts = self._opt(seg, "TS")
            ws = self._opt(seg, "wscale")
            sk.ts_ok = sk.ts_ok and ts is not None
            sk.sack_ok = sk.sack_ok and self._has(seg, "sackOK")
            if sk.ws_ok and ws is not None:
                sk.snd_wscale = min(ws, TCP_MAX_WSCALE)  # tcp_parse_options() clamps a larger one
            else:
                sk.ws_ok, sk.snd_wscale, sk.rcv_wscale = False, 0, 0
            if ts:
                sk.ts_recent = ts[0]
            sk.irs = seg.seq
            sk.rcv_nxt = sk.rcv_wup = (seg.seq + 1) & 0xFFFFFFFF
            sk.snd_una = seg.ack
            if sk.rtxq:  # tcp_ack() -> tcp_clean_rtx_queue(): a Fast Open SYN's data
                self._clean_rtx_queue(sk)
            # tcp_ack(): the SYN's RTT, unless it went again (then the timestamp's)
            syn_rtt = -1 if sk.retries else int(round((self.now - sk.retrans_stamp) * 1e6))
            self._ack_update_rtt(sk, syn_rtt, ts[1] if ts and sk.ts_ok else None)
            sk.delivered = 1  # tcp_clean_rtx_queue(): the SYN is delivered
            # tcp_ack() -> tcp_cong_control() -> tcp_update_pacing_rate() at SYN_SENT's
            # mss_cache: TCP_MSS_DEFAULT or TCP_MAXSEG, less the timestamp option when the
            # sysctl offers it (tcp_connect_init(); measured, TCP_INFO: 524, 536 without)
            syn_mss = min(sk.user_mss or TCP_MSS_DEFAULT, sk.advmss or TCP_MSS_DEFAULT)
            self._update_pacing_rate(sk, syn_mss - (TCPOLEN_TSTAMP_ALIGNED
                                                    if self.profile.timestamps else 0))
            peer_mss = self._opt(seg, "mss") or TCP_MIN_MSS_DEFAULT
            # tcp_rcv_synsent_state_process() -> tcp_parse_options(): rx_opt.mss_clamp, the
            # SYN-ACK's MSS (no more than TCP_MAXSEG)
            sk.mss_clamp = min(peer_mss, sk.user_mss) if sk.user_mss else peer_mss
            sk.mss_mtu = min(peer_mss, sk.advmss) - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0)
            self._update_window(sk, seg.win)  # the SYN-ACK's window is not scaled
            self._sync_mss(sk)
            sk.timers.pop("retransmit", None)
            self._init_transfer_cwnd(sk, ts)  # tcp_finish_connect() -> tcp_init_transfer()
            self._init_buffer_space(sk)
            sk.lrcvtime = self.now  # tcp_finish_connect(): icsk_ack.lrcvtime
            self._keepalive_start(sk)  # tcp_finish_connect(): SOCK_KEEPOPEN's timer
            rtx = (sk.syn_fastopen or sk.syn_data) and self._rcv_fastopen_synack(
                sk, seg, self._opt(seg, "mss") or sk.advmss)
            sk.synack_ack = "rtx" if rtx else "delay" if sk.write_pending else ""
            self._transition(sk, "rcv_synack")
            if rtx:
                self._fastopen_retransmit(sk)
            return
        if seg.flags & RST:
            return
        if seg.flags & SYN:  # crossed SYNs: simultaneous open
            ts = self._opt(seg, "TS")
            sk.ts_ok = sk.ts_ok and ts is not None
            if ts:
                sk.ts_recent = ts[0]
            sk.irs = seg.seq
            sk.rcv_nxt = sk.rcv_wup = (seg.seq + 1) & 0xFFFFFFFF
            sk.snd_wnd = seg.win
            self._transition(sk, "rcv_syn")

    def _rcv_state_process(self, sk: Sock, seg: Seg, acked: bool = False) -> None:
        """tcp_rcv_state_process() / tcp_rcv_established() for synchronized states."""
        ts = self._opt(seg, "TS")
        if seg.flags & RST:
            if seg.seq == sk.rcv_nxt:
                self._transition(sk, "rcv_rst")
            elif seq_lt(sk.rcv_nxt, seg.seq) and seq_lt(seg.seq, (sk.rcv_nxt + max(sk.rcv_wnd, 1))
                                                         & 0xFFFFFFFF):
                # RFC 5961 3.2 (tcp_validate_incoming): an RST inside the window but not at
                # rcv_nxt gets a challenge ACK; a genuine peer answers it with an exact RST
                self._send_ack(sk)
            return
        if seg.flags & SYN and not (sk.state == "SYN_RECV" and seg.flags & ACK and
                                    (seg.seq + 1) & 0xFFFFFFFF == sk.rcv_nxt and seg.ack == sk.snd_nxt):
            # RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK (tcp_validate_
            # incoming); the SYN-ACK of a simultaneous open is let through
            self._send_ack(sk)
            return
        if not seg.flags & ACK:
            return
        if not acked and not self._sequence_ok(sk, seg):
            # tcp_validate_incoming(): a segment outside the window is answered with a
            # duplicate ACK, at most one each tcp_invalid_ratelimit unless it carries data
            # (a zero-window probe is old: seq snd_una - 1)
            if not self._oow_rate_limited(sk, seg):
                self._send_dupack(sk, seg)
            return
        if ts and seq_le(seg.seq, sk.rcv_wup):
            # tcp_ack() -> tcp_replace_ts_recent(): only a segment that starts at or before
            # the last ACK's rcv_nxt (RFC 7323 Last.ACK.sent; the fast path's rcv_nxt ==
            # rcv_wup) is echoed.  Measured (slow-reader at MTU 1500): a loss probe's TS val 6
            # (seq above rcv_wup) is not; the delayed ACK echoes the original's 1
            sk.ts_recent = ts[0]
        # -- the ACK (tcp_ack) --
        prior_idle = sk.snd_una == sk.snd_nxt  # !prior_packets: nothing was in flight
        if not acked:
            if seq_lt(sk.snd_nxt, seg.ack):
                self._send_ack(sk)  # ACK of something never sent
                return
            acked = 0
            self._delivered = 0
            self._rs_skb = None  # struct rate_sample rs = { .prior_delivered = 0 }
            self._orig_acked = self._orig_sacked = False  # FLAG_ORIG_SACK_ACKED
            una_advanced = seq_lt(sk.snd_una, seg.ack)
            prior_snd_una = sk.snd_una
            # tcp_ack(): prior_fack, the highest SACKed sequence (snd_una without SACK)
            prior_fack = self._highest_sack(sk) if sk.sack_ok else sk.snd_una
            blocks = self._opt(seg, "sack") if sk.sack_ok else None
            rtt = -1
            ca_rtt = -1
            if una_advanced:
                rtt = self._acked_rtt(sk, seg.ack)
                ca_rtt = self._acked_rtt(sk, seg.ack, last=True)
                sk.snd_una = seg.ack  # tcp_snd_una_update()
                if sk.snd_una == sk.snd_nxt:
                    sk.timers.pop("retransmit", None)  # everything acknowledged
            # tcp_sacktag_write_queue(), before tcp_clean_rtx_queue()
            newly_sacked, first_sackt = self._sacktag(sk, blocks, seg.ack, prior_snd_una) \
                if blocks else (0, -1.0)
            dsacked = bool(blocks) and self._dsacked
            if una_advanced:
                self._ack_tsecr = ts[1] if ts else None
                acked = self._clean_rtx_queue(sk)  # tcp_clean_rtx_queue()
                sk.delivered += self._delivered  # tcp_count_delivered()
                if sk.sack_ok and seq_lt(self._reord_low, prior_fack):
                    # never-resent data acknowledged below what was SACKed: reordering,
                    # measured up to tcp_highest_sack_seq() after the queue was cleaned (the
                    # new snd_una once nothing SACKed is left: sacked_out 0)
                    self._check_sack_reordering(sk, self._reord_low)
                if not sk.sack_ok and acked:
                    self._remove_reno_sacks(sk, acked)
                self._ack_update_rtt(sk, rtt, ts[1] if ts else None)
                if sk.tlp_high_seq and not seq_lt(seg.ack, sk.tlp_high_seq):
                    sk.tlp_high_seq = 0  # tcp_process_tlp_ack(): the probe is answered
                sk.retries = 0  # tcp_ack(): FLAG_SND_UNA_ADVANCED, icsk_retransmits 0
            elif first_sackt >= 0:  # tcp_ack_update_rtt(): the SACK's RTT (sack_rtt_us)
                self._ack_update_rtt(sk, int(round((self.now - first_sackt) * 1e6)), None)
            if ca_rtt < 0 and first_sackt >= 0:  # (the SACK's: the oldest newly SACKed)
                ca_rtt = int(round((self.now - first_sackt) * 1e6))
            self._bictcp_acked(sk, ca_rtt)  # tcp_clean_rtx_queue(): pkts_acked()
            if not prior_idle:
                self._rack_update_reo_wnd(sk)  # tcp_ack(), after tcp_clean_rtx_queue()
            # a duplicate ACK (num_dupack): nothing new acknowledged, no data, the same window
            # (not FLAG_SND_UNA_ADVANCED, FLAG_NOT_DUP), with something out
            dupack = not una_advanced and not seg.payload and sk.packets_out > 0 and \
                (seg.win << sk.snd_wscale) == sk.snd_wnd
            self._update_window(sk, seg.win << sk.snd_wscale)
            rexmit = reo_armed = False
            newly_lost = 0
            loss_rexmit = ""
            lost_before = None
            if sk.ca_loss:
                # tcp_fastretrans_alert(): TCP_CA_Loss, tcp_process_loss(); once it leaves
                # Loss (undone or recovered) the ACK goes on as in Open
                # num_dupack: not an ACK carrying a D-SACK (FLAG_DSACKING_ACK)
                loss_rexmit = self._process_loss(sk, una_advanced, dupack and not dsacked,
                                                 bool(newly_sacked), ts[1] if ts else None)
                if sk.ca_loss and sk.sack_ok and not sk.frto and loss_rexmit == "lost":
                    # tcp_fastretrans_alert(), TCP_CA_Loss: tcp_identify_packet_loss(); a
                    # retransmission RACK finds lost (FLAG_LOST_RETRANS) falls through to
                    # tcp_enter_recovery() (upstream fastopen/client syn-data-only-syn-acked:
                    # the SYN's data resent, then SACKed past, goes again at once)
                    prior_retrans, lost_before = retrans_out(sk), sk.lost_out
                    self._rack_mark_lost(sk)
                    if retrans_out(sk) < prior_retrans:
                        sk.ca_loss = False
                        self._enter_recovery(sk)
            if sk.ca_loss:
                pass
            elif not sk.sack_ok and (dupack or sk.sacked_out or sk.lost_out or sk.ca_recovery):
                # NewReno: duplicate ACKs stand for SACKed packets (tcp_add_reno_sack())
                prior_lost, prior_sacked = sk.lost_out, sk.sacked_out
                rexmit = self._reno_alert(sk, una_advanced, dupack, ts[1] if ts else None)
                newly_lost = max(sk.lost_out - prior_lost, 0)
                newly_sacked = max(sk.sacked_out - prior_sacked, 0)
            elif sk.sack_ok and (newly_sacked or dsacked or sk.sacked_out or sk.lost_out
                                 or sk.ca_recovery):
                # tcp_ack_is_dubious() -> tcp_fastretrans_alert()
                prior_lost = sk.lost_out if lost_before is None else lost_before
                if una_advanced and sk.rtxq and sk.rtxq[0].sacked:
                    # FLAG_SACK_RENEGING (tcp_clean_rtx_queue(): the new head was SACKed)
                    self._sack_reneging(sk)
                    reo_armed = True  # FLAG_SET_XMIT_TIMER cleared: no new PTO or RTO
                else:
                    rexmit = self._fastretrans_alert(sk, una_advanced, ts[1] if ts else None,
                                                     prior_snd_una)
                    reo_armed = "reo" in sk.timers
                newly_lost = max(sk.lost_out - prior_lost, 0)
            if una_advanced and not reo_armed:
                self._schedule_loss_probe(sk)  # tcp_set_xmit_timer(): a new PTO, or the RTO
            # tcp_cong_control(): in recovery PRR sets the window, else what was delivered
            # (acked or SACKed, FLAG_DATA_ACKED) may raise it
            delivered = self._delivered + newly_sacked
            if sk.ca_recovery:
                self._cwnd_reduction(sk, delivered, newly_lost, una_advanced)
            elif acked or (newly_sacked and sk.reordering > int(self.profile.sysctls.get(
                    "net.ipv4.tcp_reordering", 3))):
                # tcp_may_raise_cwnd(): FLAG_DATA_ACKED, not a SACK alone, unless reordering
                # is above tcp_reordering: then FLAG_FORWARD_PROGRESS (a new SACK) will do
                self._cong_avoid(sk, delivered)
            if not prior_idle:  # tcp_cong_control() (not after no_queue)
                self._update_pacing_rate(sk)
            if loss_rexmit == "new":
                # tcp_xmit_recovery(): REXMIT_NEW (F-RTO step 2b): new data, Nagle off; if
                # none went, F-RTO is off and the lost go again
                prior, self.cause = self.cause, {"by": "frto", "cwnd": sk.snd_cwnd,
                                                 "ssthresh": sk.snd_ssthresh}
                try:
                    self._write_xmit(sk, sk.mss_cache, TCP_NAGLE_OFF)
                finally:
                    self.cause = prior
                if seq_lt(sk.high_seq, sk.snd_nxt):
                    loss_rexmit = ""
                else:
                    sk.frto, loss_rexmit = False, "lost"
            if loss_rexmit or rexmit:
                # tcp_xmit_recovery(): REXMIT_LOST (the explanations read the cause)
                prior, self.cause = self.cause, {
                    "by": "loss" if loss_rexmit else "fast_retransmit",
                    "cwnd": sk.snd_cwnd, "ssthresh": sk.snd_ssthresh}
                try:
                    self._xmit_retransmit_queue(sk)
                finally:
                    self.cause = prior
            sk.probes_out = 0  # tcp_ack(): an ACK came, the peer is alive
            if not seq_lt(seg.ack, sk.snd_una):
                sk.rcv_tstamp = self.now  # tcp_ack(): not an old ACK (keepalive's idle time)
            if prior_idle:
                self._ack_probe(sk)  # tcp_ack(): no_queue
        if sk.state == "SYN_RECV":
            if sk.fastopen_rsk:  # tcp_rcv_synrecv_state_fastopen(): reqsk_fastopen_remove()
                if sk.ts_ok:  # tcp_rcv_state_process(): SYN_RECV's advmss less the TS option
                    sk.advmss -= TCPOLEN_TSTAMP_ALIGNED
                self._fastopen_remove(sk)  # (tcp_init_transfer() ran at the child's birth)
                # tcp_rcv_state_process(), TCP_SYN_RECV: "SYN-ACK delivery isn't tracked in
                # tcp_ack" (the child of a SYN without Fast Open counts it at its birth)
                sk.delivered += 1
            else:
                self._init_buffer_space(sk)  # tcp_rcv_state_process() -> tcp_init_transfer()
            self._transition(sk, "rcv_ack")
        fin_acked = sk.fin_sent and sk.snd_una == sk.snd_nxt
        if fin_acked and sk.state in ("FIN_WAIT1", "CLOSING", "LAST_ACK"):
            self._transition(sk, "rcv_ack_of_fin")
            if sk.state == "CLOSE":
                self._done(sk)
                return
            if sk.state == "TIME_WAIT":
                return
            if sk.state == "FIN_WAIT2":
                sk.shutdown |= SEND_SHUTDOWN
                if sk.orphan and seg.payload and seq_lt(sk.rcv_nxt, (seg.seq + len(seg.payload))
                                                        & 0xFFFFFFFF):
                    # tcp_rcv_state_process(): new data for a socket closed meanwhile: done,
                    # and the caller answers RST
                    self._transition(sk, "rcv_data_after_close", seg)
                    self._done(sk)
                    return
                if sk.orphan and not seg.flags & FIN:
                    self._orphan_fin_wait2(sk)  # tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)
                    return
        # -- data and FIN (tcp_data_queue) --
        if not seg.seg_len:
            self._data_snd_check(sk)
            return
        end_seq = (seg.seq + seg.seg_len) & 0xFFFFFFFF
        if seq_le(end_seq, sk.rcv_nxt):  # all of it was received before: a retransmission
            # tcp_data_queue(): D-SACK it (tcp_dsack_set()), tcp_enter_quickack_mode() and
            # inet_csk_schedule_ack(); then __tcp_ack_snd_check() decides, and its first test
            # runs __tcp_select_window() when more than rcv_mss is unacknowledged, which ends
            # quick-ACK mode (quick = 0) when less than half the buffer is free: then the
            # pending delayed ACK carries the D-SACK.  Measured at MTU 1500 (slow-reader, a
            # locked 32768-byte buffer holding 16384 bytes): a loss probe's 456-byte duplicate
            # at 5.6 ms is D-SACKed by the delayed ACK at 41.6 ms (nstat DelayedACKLost 1,
            # DelayedACKs 1)
            self._dsack_set(sk, seg.seq, end_seq)
            self._enter_quickack_mode(sk)  # tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
            sk.ack_sched = True
            self._data_snd_check(sk)
            self._ack_snd_check(sk)
            return
        if sk.state in ("FIN_WAIT1", "FIN_WAIT2") and sk.shutdown & RCV_SHUTDOWN and seg.payload:
            self._transition(sk, "rcv_data_after_close", seg)
            # tcp_rcv_state_process() -> tcp_reset(): ECONNRESET for a socket still open
            # (shutdown(SHUT_RD) and SHUT_WR's FIN, or a child that inherited them)
            self._reset(sk, E.ECONNRESET)
            return
        if sk.state in ("CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSE"):
            self._data_snd_check(sk)
            return
        if seg.seq != sk.rcv_nxt:
            if not seq_lt(seg.seq, sk.rcv_nxt):
                if not seq_lt(seg.seq, (sk.rcv_nxt + self._receive_window(sk)) & 0xFFFFFFFF):
                    # tcp_data_queue(): out of window (a zero-window probe): dropped, and
                    # quick-ACK mode for the ACK that says so
                    self._enter_quickack_mode(sk)
                    sk.ack_sched = True
                    self._data_snd_check(sk)
                    self._ack_snd_check(sk)
                    return
                self._data_queue_ofo(sk, seg)
                self._data_snd_check(sk)
                self._ack_snd_check(sk, ofo_possible=True)
                return
            # tcp_data_queue(): a partial packet, seq < rcv_nxt < end_seq: the old part is
            # reported as a D-SACK, the rest is queued
            self._dsack_set(sk, seg.seq, sk.rcv_nxt)
            cut = (sk.rcv_nxt - seg.seq) & 0xFFFFFFFF
            seg = Seg(seg.src, seg.dst, seg.flags, sk.rcv_nxt, seg.ack, seg.win, seg.options,
                      seg.payload[cut:], seg.ip_id, seg.gso, seg.shared)
        if seg.payload and not self._try_rmem_schedule(sk, seg.seq):
            # tcp_data_queue(): over sk_rcvbuf even after pruning: ACK at once
            # (ICSK_ACK_NOW), and the skb dropped if the receive queue holds any
            # (TCPRcvQDrop), else charged all the same (sk_forced_mem_schedule())
            sk.ack_now = sk.ack_sched = True
            if sk.rcvq:
                self._ack_snd_check(sk)
                return
        if seg.payload:
            self._queue_rcv(sk, seg)
            sk.rcv_nxt = (sk.rcv_nxt + len(seg.payload)) & 0xFFFFFFFF
            self._event_data_recv(sk, seg)
            self._ep_wake(sk, KEY_DATA_READY)  # tcp_data_ready(): sk->sk_data_ready()
        if seg.flags & FIN and self._rcv_fin(sk, bool(seg.payload)):
            return
        if sk.ofo:
            if self._ofo_queue(sk):
                return
            if not sk.ofo:  # RFC 5681 4.2: the gap is filled, ACK at once (ICSK_ACK_NOW)
                sk.ack_now = True
        if sk.sacks:
            self._sack_remove(sk)
        self._data_snd_check(sk)
        # tcp_ack_snd_check(): __tcp_ack_snd_check(sk, 1), out-of-order data possible (only
        # the header-prediction path passes 0, and there none is queued): in-order data with
        # a hole still beyond it is ACKed at once (measured, tests/pkt/ofo-memory.pkt: the
        # segment at the hole, with 301:1601 still queued, is answered at once)
        self._ack_snd_check(sk, ofo_possible=True)

    def _data_snd_check(self, sk: Sock) -> None:
        """tcp_data_snd_check(): after the ACK (tcp_ack()) and the data (tcp_data_queue()),
        before tcp_ack_snd_check(), in tcp_rcv_established() (both paths) and
        tcp_rcv_state_process(): what the ACK let out goes now, acknowledging the data that
        came with it.  Measured (transfer-both-ways at MTU 1500, both writers blocked): the
        server's 7240 bytes that reopen the client's window are answered by 16930 bytes of
        data with ack 7241, and no pure ACK."""
        self._push(sk)  # the ACK may open the window or end Nagle's wait
        self._check_space(sk)  # and free room in the send buffer

    def _rcv_fin(self, sk: Sock, with_data: bool) -> bool:
        """tcp_fin(): the FIN takes a sequence number and ends the receive side; the
        out-of-order queue and the SACK blocks go (skb_rbtree_purge(), tcp_sack_reset()).
        True when the state's own ACK has answered it (CLOSING, TIME_WAIT)."""
        sk.rcv_nxt = (sk.rcv_nxt + 1) & 0xFFFFFFFF
        sk.rcvq.append(b"")  # the FIN's skb; with data it is the data's (charged there)
        sk.rcvq_ts.append(0 if with_data else SKB_TRUESIZE_LO)
        sk.done = True
        sk.shutdown |= RCV_SHUTDOWN
        sk.ofo.clear()
        sk.sacks.clear()
        sk.dsack = None
        self._transition(sk, "rcv_fin")
        return sk.state == "TIME_WAIT" or sk.state == "CLOSING"

    # -- the out-of-order queue and SACK (tcp_input.c) -----------------------------------
    def _enter_quickack_mode(self, sk: Sock) -> None:
        """tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS): ACK the next segments at once,
        out of pingpong mode, ato back to its least."""
        self._incr_quickack(sk)
        sk.pingpong = 0
        sk.ato = self.profile.ato_min

    def _dsack_set(self, sk: Sock, seq: int, end_seq: int) -> None:
        """tcp_dsack_set(): report [seq, end_seq) as received twice (RFC 2883), in the next
        segment sent (tcp_dsack on, as here)."""
        if sk.sack_ok and self.profile.sysctls.get("net.ipv4.tcp_dsack", "1") != "0":
            sk.dsack = (seq, end_seq)

    def _dsack_extend(self, sk: Sock, seq: int, end_seq: int) -> None:
        """tcp_dsack_extend(): a second duplicate range joins the pending D-SACK block."""
        if not sk.dsack:
            self._dsack_set(sk, seq, end_seq)
        else:
            sk.dsack = self._sack_extend(sk.dsack, seq, end_seq) or sk.dsack

    @staticmethod
    def _sack_extend(block: tuple, seq: int, end_seq: int) -> tuple | None:
        """tcp_sack_extend(): the block grown to cover [seq, end_seq) if they touch or
        overlap, else None."""
        start, end = block
        if seq_le(seq, end) and seq_le(start, end_seq):
            return (seq if seq_lt(seq, start) else start, end_seq if seq_lt(end, end_seq) else end)
        return None

    def _sack_new_ofo_skb(self, sk: Sock, seq: int, end_seq: int) -> None:
        """tcp_sack_new_ofo_skb(): the block the new data extends moves to the front (and
        swallows any other it now reaches: tcp_sack_maybe_coalesce()); else a new block goes
        in front, the oldest dropped past TCP_NUM_SACKS (4).  From the fourth block on
        (TCP_SACK_BLOCKS_EXPECTED 3), SACK compression sends at once (tcp_sack_compress_
        send_ack()): the blocks no longer fit an option beside the timestamp."""
        blocks = sk.sacks
        for i, b in enumerate(blocks):
            grown = self._sack_extend(b, seq, end_seq)
            if grown:
                if i >= 3:
                    self._sack_compress_send_ack(sk)
                del blocks[i]
                blocks.insert(0, grown)
                j = 1
                while j < len(blocks):  # tcp_sack_maybe_coalesce()
                    merged = self._sack_extend(blocks[0], *blocks[j])
                    if merged:
                        blocks[0] = merged
                        del blocks[j]
                    else:
                        j += 1
                return
        if len(blocks) >= 3:
            self._sack_compress_send_ack(sk)
        if len(blocks) >= 4:
            del blocks[3:]
        blocks.insert(0, (seq, end_seq))

    def _sack_compress_send_ack(self, sk: Sock) -> None:
        """tcp_sack_compress_send_ack(): an ACK held back by SACK compression goes now."""
        if not sk.compressed_ack:
            return
        sk.compressed_ack -= 1  # the one sent is not counted as compressed
        self._send_ack(sk)

    def _sack_remove(self, sk: Sock) -> None:
        """tcp_sack_remove(): blocks rcv_nxt has reached are gone; all, once the out-of-order
        queue is empty."""
        if not sk.ofo:
            sk.sacks.clear()
            return
        sk.sacks[:] = [b for b in sk.sacks if seq_lt(sk.rcv_nxt, b[0])]

    def _data_queue_ofo(self, sk: Sock, seg: Seg) -> None:
        """tcp_data_queue_ofo(): data beyond rcv_nxt waits in the out-of-order queue, sorted
        by sequence, charged its truesize; what it duplicates is reported as a D-SACK (a
        segment wholly present: dropped; partly: the overlap; one it covers replaces it),
        and a SACK block tells the sender what arrived (tcp_sack_new_ofo_skb()).  An skb
        that continues the previous one is coalesced into it when that one is not a clone
        (tcp_ooo_try_coalesce(): on lo the sender keeps every skb it has not had
        cumulatively acknowledged, so none is).  The window grows (tcp_grow_window()), as
        for data in order.  The skb first updates rcv_mss and the scaling_ratio
        (tcp_measure_rcv_mss(), called from tcp_data_queue_ofo() since upstream 38d7e444,
        "tcp: call tcp_measure_rcv_mss() for ooo packets", 2025): measured, a 20000-byte write at MTU 1500
        whose two GSO packets are lost, then the loss probe's new 1448 bytes beyond the hole
        on a connection that has received nothing yet: the dupACK offers 67 x 1024 (ratio
        162 opens the clamp, tcp_grow_window() adds 2 MSS), not the first window's 64.
        Then the memory check (tcp_try_rmem_schedule()): an skb that does not fit is dropped
        with no ACK scheduled (TCPOFODrop)."""
        if seg.payload:
            self._measure_rcv_mss(sk, seg, len(seg.payload))
        if not self._try_rmem_schedule(sk, seg.seq):
            return  # tcp_data_queue_ofo(): sk_data_ready(), the skb dropped, nothing scheduled
        sk.ack_sched = True  # inet_csk_schedule_ack()
        seq = seg.seq
        end_seq = (seg.seq + seg.seg_len) & 0xFFFFFFFF
        fin = bool(seg.flags & FIN)
        shared = seg.shared and self.rx_shared
        skb = (seq, bytes(seg.payload), fin, self._rx_skb(seg)[0], shared)
        ofo = sk.ofo
        if not ofo:
            if sk.sack_ok:
                sk.sacks[:] = [(seq, end_seq)]
            # tcp_grow_window() before skb_set_owner_r(): the skb is not yet charged
            self._ofo_grow_window(sk, seg, skb[3], adjust=False)
            ofo.append(skb)
            self._ofo_rcvbuf_grow(sk)
            return
        last = ofo[-1]
        if self._ofo_end(last) == seq and not last[4] and not last[2]:  # tcp_ooo_try_coalesce()
            ofo[-1] = (last[0], last[1] + skb[1], fin, last[3] + len(skb[1]), shared)
            self._ofo_grow_window(sk, seg, skb[3], adjust=True)
            if sk.sack_ok:
                self._sack_new_ofo_skb(sk, seq, end_seq)
            self._ofo_rcvbuf_grow(sk)
            return
        i = 0
        while i < len(ofo) and not seq_lt(seq, ofo[i][0]):
            i += 1
        # ofo[i - 1] starts at or before seq
        if i:
            prev = ofo[i - 1]
            prev_end = self._ofo_end(prev)
            if seq_lt(seq, prev_end):
                if seq_le(end_seq, prev_end):  # all the bits are present: dropped
                    self._dsack_set(sk, seq, end_seq)
                    if sk.sack_ok:
                        self._sack_new_ofo_skb(sk, seq, end_seq)
                    self._ofo_rcvbuf_grow(sk)
                    return
                if seq_lt(prev[0], seq):  # a partial overlap
                    self._dsack_set(sk, seq, prev_end)
                else:  # the same start and more: it replaces the one it covers
                    self._dsack_extend(sk, prev[0], prev_end)
                    i -= 1
                    del ofo[i]
        ofo.insert(i, skb)
        while i + 1 < len(ofo):  # merge_right: skbs the new one covers go
            nxt = ofo[i + 1]
            if not seq_lt(nxt[0], end_seq):
                break
            if seq_lt(end_seq, self._ofo_end(nxt)):
                self._dsack_extend(sk, nxt[0], end_seq)
                break
            self._dsack_extend(sk, nxt[0], self._ofo_end(nxt))
            del ofo[i + 1]
        if sk.sack_ok:
            self._sack_new_ofo_skb(sk, seq, end_seq)
        del ofo[i]  # tcp_grow_window() before skb_set_owner_r(): not yet charged
        self._ofo_grow_window(sk, seg, skb[3], adjust=False)
        ofo.insert(i, skb)
        self._ofo_rcvbuf_grow(sk)

    def _ofo_grow_window(self, sk: Sock, seg: Seg, truesize: int, adjust: bool) -> None:
        """tcp_data_queue_ofo(): tcp_grow_window() for data beyond a hole only with SACK;
        without it the window stays, "to force DUPACK and trigger fast retransmit"."""
        if sk.sack_ok:
            self._grow_window(sk, len(seg.payload), truesize, adjust=adjust)

    def _ofo_rcvbuf_grow(self, sk: Sock) -> None:
        """tcp_data_queue_ofo()'s last step (6.18): tcp_rcvbuf_grow() at the same
        rcvq_space, which now makes room for the out-of-order data too; not for a socket
        not yet accepted, nor an orphan (no sk_socket)."""
        if sk.orphan or not sk.rcvq_space:
            return
        if sk.parent is not None and any(sk.id in s.accept_queue for s in self.socks.values()):
            return
        self._rcvbuf_grow(sk, sk.rcvq_space)

    @staticmethod
    def _ofo_end(skb: tuple) -> int:
        return (skb[0] + len(skb[1]) + skb[2]) & 0xFFFFFFFF

    def _ofo_queue(self, sk: Sock) -> bool:
        """tcp_ofo_queue(): the out-of-order skbs rcv_nxt has reached join the receive queue
        (what rcv_nxt already passed of one is reported as a D-SACK); a FIN among them ends
        the receive side (tcp_fin()).  True when the FIN's state answered it."""
        dsack_high = sk.rcv_nxt
        while sk.ofo:
            seq, data, fin, truesize, shared = sk.ofo[0]
            if seq_lt(sk.rcv_nxt, seq):
                break
            end_seq = self._ofo_end(sk.ofo[0])
            if seq_lt(seq, dsack_high):
                self._dsack_extend(sk, seq, end_seq if seq_lt(end_seq, dsack_high) else dsack_high)
            del sk.ofo[0]
            if not seq_lt(sk.rcv_nxt, end_seq):
                continue  # all of it was received meanwhile
            data = data[(sk.rcv_nxt - seq) & 0xFFFFFFFF:]
            if data:
                self._queue_rcv_skb(sk, data, truesize, shared, (seq + len(data)) & 0xFFFFFFFF)
                sk.rcv_nxt = (sk.rcv_nxt + len(data)) & 0xFFFFFFFF  # tcp_rcv_nxt_update()
            if fin:
                return self._rcv_fin(sk, bool(data))
        return False

    def _sequence_ok(self, sk: Sock, seg: Seg) -> bool:
        """tcp_sequence(): the segment ends at or after rcv_wup (the last ACK's rcv_nxt) and
        starts within the window; one that runs past the window's end is taken only into an
        empty receive queue."""
        end_seq = (seg.seq + seg.seg_len) & 0xFFFFFFFF
        if seq_lt(end_seq, sk.rcv_wup):
            return False  # SKB_DROP_REASON_TCP_OLD_SEQUENCE
        limit = (sk.rcv_nxt + self._receive_window(sk)) & 0xFFFFFFFF
        if seq_lt(limit, end_seq):
            if seq_lt(limit, seg.seq):
                return False  # SKB_DROP_REASON_TCP_INVALID_SEQUENCE
            if sk.rcvq:
                return False  # SKB_DROP_REASON_TCP_INVALID_END_SEQUENCE
        return True

    def _oow_rate_limited(self, sk: Sock, seg: Seg) -> bool:
        """tcp_oow_rate_limited(): a segment with data (no SYN) is always answered; else at
        most one answer each tcp_invalid_ratelimit (500 ms), counted in jiffies
        (__tcp_oow_rate_limited(), tp->last_oow_ack_time).  Measured: the second
        zero-window probe, 430-440 ms after the first, gets no answer."""
        if seg.seg_len and not seg.flags & SYN:
            return False
        now = self._jiffies(self.now)
        limit = int(self.profile.invalid_ratelimit / self.profile.jiffy + 1e-9)
        if sk.last_oow_ack >= 0 and 0 <= now - sk.last_oow_ack < limit:
            return True
        sk.last_oow_ack = now
        return False

    def _send_dupack(self, sk: Sock, seg: Seg) -> None:
        """tcp_send_dupack(): old data puts the receiver in quick-ACK mode and is reported as
        a D-SACK (tcp_enter_quickack_mode(), tcp_dsack_set()); then an ACK at once."""
        end_seq = (seg.seq + seg.seg_len) & 0xFFFFFFFF
        dsack = None
        if end_seq != seg.seq and seq_lt(seg.seq, sk.rcv_nxt):
            self._incr_quickack(sk)  # tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
            sk.pingpong = 0
            sk.ato = self.profile.ato_min
            dsack = (seg.seq, sk.rcv_nxt if seq_lt(sk.rcv_nxt, end_seq) else end_seq)
        self._send_ack(sk, dsack=dsack)

    def _act_drop(self, sk: Sock, seg: Seg | None) -> None:
        pass

    # -- a reset and its error (tcp_input.c tcp_reset) -----------------------------------
    def _act_error_ECONNREFUSED(self, sk: Sock, seg: Seg | None) -> None:
        self._reset(sk, E.ECONNREFUSED)

    def _act_error_ECONNRESET(self, sk: Sock, seg: Seg | None) -> None:
        self._reset(sk, E.ECONNRESET)

    def _act_error_EPIPE(self, sk: Sock, seg: Seg | None) -> None:
        self._reset(sk, E.EPIPE)

    def _act_error_ETIMEDOUT(self, sk: Sock, seg: Seg | None) -> None:
        # tcp_write_err(): a soft error an ICMP message left is the one reported
        self._reset(sk, sk.err_soft or E.ETIMEDOUT)

    def _reset(self, sk: Sock, code: int) -> None:
        """tcp_reset() and tcp_done(): report the error, shut both directions, unhash."""
        sk.err = code
        self._done(sk)

    # -- the FIN (tcp_input.c tcp_fin) ---------------------------------------------------
    def _act_schedule_ack(self, sk: Sock, seg: Seg | None) -> None:
        sk.ack_sched = True

    def _act_enter_pingpong(self, sk: Sock, seg: Seg | None) -> None:
        sk.pingpong = max(sk.pingpong, 1)  # inet_csk_enter_pingpong_mode()

    # -- the receive queue and its memory (tcp_input.c) ----------------------------------
    def _queue_rcv(self, sk: Sock, seg: Seg) -> None:
        """tcp_queue_rcv(): the skb joins the receive queue, charged its truesize to
        sk_rmem_alloc (skb_set_owner_r()).  An skb lo delivers is the sender's clone: its
        truesize is the sender's, the head (SKB_TRUESIZE_LO) plus the payload in page frags.
        Unless tcp_try_coalesce() merges it into the queue's tail skb: skb_try_coalesce()
        takes its page frags, charging only them (its head is freed), when the tail is not a
        clone (skb_cloned()): one the sender has freed its copy of, or never shared.
        Measured (ss -tm): three 8192-byte skbs, the third coming after the sender freed the
        second on its ACK, hold 26240 bytes (9024 + 9024 + 8192), and TcpExtTCPRcvCoalesce
        counts one.  Not modelled: the limit of MAX_SKB_FRAGS page frags per skb."""
        truesize, tailroom = self._rx_skb(seg)
        self._queue_rcv_skb(sk, seg.payload, truesize, seg.shared and self.rx_shared,
                            (seg.seq + len(seg.payload)) & 0xFFFFFFFF, tailroom,
                            -1 if self.rx_tun or not self.rx_shared else self.capture_reads)

    def _queue_rcv_skb(self, sk: Sock, payload: bytes, truesize: int, shared: bool,
                       end_seq: int, tailroom: int = -1, capture: int = -1) -> None:
        """_queue_rcv() of an skb: its payload, truesize, whether it is a clone the sender
        still holds, where it ends, its tailroom (_rx_skb()), and the capture_reads count
        while the lab's capture holds a clone of its frame (-1: it does not: over tun, a
        packetdrill script's packets are new skbs the capture never shares).  A tail skb
        whose frame came in the same burst as this one (one call's or one timer's chain of
        deliveries on lo, before the lab's thread reads the capture) is still cloned:
        skb_try_coalesce() refuses it even after the sender freed its own copy.  Measured
        (MSS 988, an AF_PACKET socket on lo never read, else none): 988 bytes, their ACK,
        then 1976 bytes hold 4628 bytes (1820 + 2808), 3796 without the capture; so
        lost-write-rto's RTO burst (988 bytes, the ACK that frees them, 1976) keeps two skbs,
        window 67 x 1024 where one skb gives 68."""
        tail_clone = sk.rcvq_tail_clone
        if tail_clone >= 0:  # the sender's copy goes when its snd_una passes it
            peer = self.socks.get(self.ehash.get((sk.remote, sk.local)))
            if peer is None or peer.kind != "full" or not seq_lt(peer.snd_una, tail_clone):
                tail_clone = -1
        if sk.rcvq_tail_capture >= 0 and sk.rcvq_tail_capture == self.capture_reads:
            tail_clone = end_seq  # the capture's clone: not read yet
        if sk.rcvq and sk.rcvq[-1] and tail_clone < 0:
            if sk.rcvq_tailroom < 0:  # frags taken by reference: charged their bytes
                sk.rcvq[-1] += payload
                sk.rcvq_ts[-1] += len(payload)
                sk.rcvq_tail_clone = -1
                return
            if len(payload) <= sk.rcvq_tailroom:
                # a linear tail (tun): skb_try_coalesce() copies the bytes into its tailroom,
                # delta_truesize 0; a linear skb's head is never taken (skb_head_is_locked())
                sk.rcvq[-1] += payload
                sk.rcvq_tailroom -= len(payload)
                return
        sk.rcvq.append(payload)
        sk.rcvq_ts.append(truesize)
        sk.rcvq_tailroom = tailroom
        sk.rcvq_tail_clone = end_seq if shared else -1
        sk.rcvq_tail_capture = capture

    def _rx_skb(self, seg: Seg) -> tuple[int, int]:
        """The arriving skb's truesize and its tailroom (-1: its payload is in page frags).
        From lo it is the sender's skb: SKB_TRUESIZE_LO + the payload.  From tun (a
        packetdrill script; Kernel.rx_tun) tun_get_user() makes a new skb for the packet with
        NET_SKB_PAD (64) of headroom: all linear if that is under a page (tun_alloc_skb()),
        else the first SKB_MAX_HEAD(64) = 3712 bytes linear (linear = min(good_linear,
        copylen) since 6.6) and the rest in pages of up to order 3, each charged whole
        (alloc_skb_with_frags()).  The head comes from skb_small_head_cache (576) or kmalloc
        (a power of two), plus struct sk_buff (256).  Measured on 6.18 over tun (the
        scaling_ratio behind tcpi_rcv_ssthresh after the first segment, MSS 1000-8960, no
        options): payloads of 152 / 153 / 600 / 601 / 1000 / 3990 / 4000 / 4010 bytes give
        truesize 832 / 1280 / 1280 / 2304 / 2304 / 8448 / 8448 / 8448."""
        length = len(seg.payload)
        if not self.rx_tun:
            return SKB_TRUESIZE_LO + length, -1
        opts = 0
        for name, v in seg.options:
            opts += {"nop": 1, "eol": 1, "mss": 4, "wscale": 3, "sackOK": 2, "TS": 10}.get(name, 0)
            if name == "sack":
                opts += 2 + 8 * len(v)
            elif name in ("FO", "FOEXP"):
                opts += (2 if name == "FO" else 4) + len(bytes.fromhex(v or ""))
        pkt = (40 if ":" in seg.src[0] else 20) + 20 + -(-opts // 4) * 4 + length
        pad, page = 64, 4096  # NET_SKB_PAD + NET_IP_ALIGN (0 on x86), PAGE_SIZE
        linear = pkt if pad + pkt < page else min(page - pad - SKB_SHINFO_SIZE, pkt)
        obj = -(-(pad + linear) // 64) * 64 + SKB_SHINFO_SIZE  # SKB_HEAD_ALIGN()
        size = SKB_SMALL_HEAD_CACHE_SIZE if obj <= SKB_SMALL_HEAD_CACHE_SIZE else \
            1 << (obj - 1).bit_length()  # kmalloc_size_roundup()
        truesize = size + SKB_DATA_ALIGN_SK_BUFF
        data = pkt - linear
        while data:  # alloc_skb_with_frags(), PAGE_ALLOC_COSTLY_ORDER
            order = 3
            while order and -(-data // page) * page < page << order:
                order -= 1
            truesize += page << order
            data -= min(data, page << order)
        tailroom = size - SKB_SHINFO_SIZE - pad - pkt if pkt == linear else 0
        return truesize, tailroom

    def _try_rmem_schedule(self, sk: Sock, seq: int) -> bool:
        """tcp_try_rmem_schedule() for an out-of-order skb starting at seq: it may come while
        what is queued is within sk_rcvbuf (tcp_can_ingest(): sk_rmem_alloc <= sk_rcvbuf, the
        new skb not counted).  Else tcp_prune_queue(): tcp_clamp_window() (an unlocked buffer
        grows to what is allocated, at most tcp_rmem[2]; still over it, rcv_ssthresh down to
        two advmss; quick-ACK mode off), then tcp_prune_ofo_queue(): skbs dropped from the
        queue's tail while they start at or after the new one (one that would land last
        prunes nothing), the receiver's SACK state reset (tcp_sack_reset()) if any was; the
        skb fits then, or is dropped.  Measured over tun (SO_RCVBUF 4096: sk_rcvbuf 8192;
        100-byte segments with holes between, truesize 832 each): ten are queued (8320
        bytes), the eleventh dropped with no ACK (nstat PruneCalled 1, RcvPruned 1,
        TCPOFODrop 1, OfoPruned 0); an 800-byte tenth after nine (7488 bytes) is queued,
        so the test does not add the skb's length.  Not modelled: tcp_collapse_ofo_queue()
        and tcp_collapse() (rebuilding runs of contiguous skbs with less overhead)."""
        if self._rmem_alloc(sk) <= self._rcvbuf(sk):
            return True
        # tcp_prune_queue() -> tcp_clamp_window()
        sk.quick = 0
        if not sk.rcvbuf and self._rcvbuf(sk) < self.profile.rmem[2]:  # not SOCK_RCVBUF_LOCK
            sk.rcvbuf_grown = min(self._rmem_alloc(sk), self.profile.rmem[2])
        if self._rmem_alloc(sk) > self._rcvbuf(sk):
            sk.rcv_ssthresh = min(sk.window_clamp, 2 * sk.advmss)
        if self._rmem_alloc(sk) <= self._rcvbuf(sk):
            return True
        pruned = False  # tcp_prune_ofo_queue()
        goal = self._rcvbuf(sk) >> 3
        while sk.ofo and not seq_lt(sk.ofo[-1][0], seq):
            goal -= sk.ofo.pop()[3]
            pruned = True
            if not sk.ofo or goal <= 0:
                if self._rmem_alloc(sk) <= self._rcvbuf(sk):
                    break
                goal = self._rcvbuf(sk) >> 3
        if pruned and sk.sack_ok:
            sk.sacks.clear()  # tcp_sack_reset(): num_sacks 0, no D-SACK
            sk.dsack = None
        return self._rmem_alloc(sk) <= self._rcvbuf(sk)

    @staticmethod
    def _rmem_alloc(sk: Sock) -> int:
        """sk_rmem_alloc: the receive queue's skbs and the out-of-order queue's."""
        return sum(sk.rcvq_ts) + sum(skb[3] for skb in sk.ofo) if sk.ofo else sum(sk.rcvq_ts)

    # -- the delayed-ACK engine (tcp_input.c) --------------------------------------------
    def _event_data_recv(self, sk: Sock, seg: Seg) -> None:
        """tcp_event_data_recv(): schedule an ACK, measure the peer's MSS, run the delayed-ACK
        engine's clock, and open the window (tcp_grow_window())."""
        sk.ack_sched = True
        length = len(seg.payload)
        self._measure_rcv_mss(sk, seg, length)
        self._rcv_rtt_measure(sk)
        if not sk.ato:  # the first data: initialise the delayed-ACK engine
            self._incr_quickack(sk)
            sk.ato = self.profile.ato_min
        else:
            m = self.now - sk.lrcvtime
            if m <= self.profile.ato_min / 2:
                sk.ato = sk.ato / 2 + self.profile.ato_min / 2
            elif m < sk.ato:
                sk.ato = min(sk.ato / 2 + m, 1.0)
            elif m > TCP_RTO_MIN:
                self._incr_quickack(sk)
        sk.lrcvtime = self.now
        if length >= 128:
            self._grow_window(sk, length, self._rx_skb(seg)[0])

    # -- receive-buffer autotuning, DRS (tcp_input.c) ------------------------------------
    def _rcv_rtt_measure(self, sk: Sock) -> None:
        """tcp_rcv_rtt_measure(): the receiver's RTT is the time a window's worth of data
        takes to arrive (from when rcv_nxt + rcv_wnd was noted until rcv_nxt passes it); the
        smallest sample is kept (tcp_rcv_rtt_update() with win_dep).  On lo a sample is tens
        of microseconds (18-19 measured for 100 KB, tcpi_rcv_rtt).  The timestamp samples of
        tcp_rcv_rtt_measure_ts() are whole milliseconds, zero on lo, and zero samples are not
        used (6.16, "tcp: remove zero TCP TS samples for autotuning")."""
        if sk.rcv_rtt_time:
            if seq_lt(sk.rcv_nxt, sk.rcv_rtt_seq):
                return
            m = max(int((self.now - sk.rcv_rtt_time) * 1e6), 1) << 3
            if not sk.rcv_rtt_us or m < sk.rcv_rtt_us:
                sk.rcv_rtt_us = m
        sk.rcv_rtt_seq = (sk.rcv_nxt + sk.rcv_wnd) & 0xFFFFFFFF
        sk.rcv_rtt_time = self.now or 1e-9  # tcp_mstamp: 0 means no measure began

    def _rcv_space_adjust(self, sk: Sock, now: float) -> None:
        """tcp_rcv_space_adjust(), after each skb a read copies: once an RTT has passed since
        the last measure, the bytes read in it (less those still queued) become the new
        rcvq_space.space; if that grew, so does the buffer (tcp_rcvbuf_grow()).
        The gate ("no RTT estimate yet, or less than one since the last measure") is a race
        (docs/races.md, kind "drs") where it turns on microseconds (_drs_raced()) and decides
        a growth (more bytes than rcvq_space.space were read since the last measure)."""
        copied_seq = self._copied_seq(sk)
        inq = (sk.rcv_nxt - copied_seq) & 0xFFFFFFFF
        copied = ((copied_seq - sk.rcvq_space_seq) & 0xFFFFFFFF) - inq
        elapsed = now - sk.rcvq_space_time
        passed = bool(sk.rcv_rtt_us) and elapsed * 1e6 >= sk.rcv_rtt_us >> 3
        if copied > sk.rcvq_space and self._drs_raced(sk, elapsed) and self._race("drs", sk):
            passed = not passed
        if not passed:
            return
        if copied > sk.rcvq_space:
            self._rcvbuf_grow(sk, copied)
        sk.rcvq_space_seq, sk.rcvq_space_time = copied_seq, now

    def _drs_raced(self, sk: Sock, elapsed: float) -> bool:
        """Whether tcp_rcv_space_adjust()'s gate is a race here: on lo the receiver's RTT
        estimate is tens of microseconds (tcp_rcv_rtt_measure()), or 1000 us when the
        kernel's millisecond clock ticked between the receiver's TS val and the data that
        echoes it (tcp_rcv_rtt_measure_ts(): whole ms, only non-zero samples; the model's
        ms phase is 0, so it never sees one), or none yet; and the time since the last
        measure is the microseconds the reader and the softirq took (the lab's: 1216 us
        where the model says 66).  So the gate is a race while the model's estimate is none
        or under DRS_RACE_SECONDS and the time since the last measure is under it too;
        longer times are the model's own (timers, netem delays) and decide.  Only where
        the buffer can grow (tcp_rcvbuf_grow(): not SO_RCVBUF-locked, tcp_moderate_rcvbuf,
        below tcp_rmem[2]): elsewhere either way is the same on the wire."""
        if sk.rcvbuf or not self.profile.moderate_rcvbuf:
            return False
        if self._rcvbuf(sk) >= self.profile.rmem[2]:
            return False
        rtt = (sk.rcv_rtt_us >> 3) * 1e-6
        return rtt < DRS_RACE_SECONDS and elapsed < DRS_RACE_SECONDS

    def _rcvbuf_grow(self, sk: Sock, newval: int) -> None:
        """tcp_rcvbuf_grow() (6.18, with "tcp: fix too slow tcp_rcvbuf_grow() action"): room
        for twice what the last RTT brought, plus twice its growth again (slow start), as
        buffer space at the current scaling_ratio (tcp_space_from_win()), at most tcp_rmem[2];
        the window clamp follows.  Not for a buffer locked by SO_RCVBUF.  Checked against the
        kernel's tracepoint tcp_rcvbuf_grow: 67258 bytes after 65483 -> sk_rcvbuf 145794 at
        ratio 249; 95232 after 65483 -> 369290 at ratio 252."""
        oldval, sk.rcvq_space = sk.rcvq_space, newval
        if sk.rcvbuf or not self.profile.moderate_rcvbuf:
            return
        rcvwin = newval << 1
        rcvwin += (rcvwin * (newval - oldval) // oldval) << 1
        if sk.ofo:  # room for what waits beyond the hole, too
            rcvwin += (self._ofo_end(sk.ofo[-1]) - sk.rcv_nxt) & 0xFFFFFFFF
        rcvbuf = min((rcvwin << 8) // sk.scaling_ratio, self.profile.rmem[2])
        if rcvbuf > self._rcvbuf(sk):
            sk.rcvbuf_grown = rcvbuf
            sk.window_clamp = self._win_from_space(sk, rcvbuf)

    @staticmethod
    def _copied_seq(sk: Sock) -> int:
        """tp->copied_seq: the next byte the reader will get (a FIN still queued counts one)."""
        queued = sum(len(p) for p in sk.rcvq) + (1 if b"" in sk.rcvq else 0)
        return (sk.rcv_nxt - queued) & 0xFFFFFFFF

    def _measure_rcv_mss(self, sk: Sock, seg: Seg, length: int) -> None:
        """tcp_measure_rcv_mss(): a segment as large as the MSS guess (or larger) is the new
        guess, and the payload's share of its truesize becomes the scaling_ratio that turns
        buffer space into window (tcp_win_from_space()); a smaller one marks a push, unless
        two in a row had this same size (last_seg_size)."""
        lss, sk.last_seg_size = sk.last_seg_size, 0
        skb_len = length
        if seg.gso and self.gso_rx:
            length = seg.gso  # len = skb_shinfo(skb)->gso_size ?: skb->len
        if length >= sk.rcv_mss:
            if length != sk.rcv_mss:  # the ratio is the whole skb's: skb->len / truesize
                ratio = (skb_len << 8) // self._rx_skb(seg)[0] or 1
                if ratio != sk.scaling_ratio:
                    sk.scaling_ratio = ratio
                    self._set_window_clamp(sk, self._win_from_space(sk, self._rcvbuf(sk)))
            sk.rcv_mss = min(length, sk.advmss)
            if seg.flags & PSH:  # an MSS-sized end of a write: tcp_cleanup_rbuf() may ACK
                sk.ack_pushed = max(sk.ack_pushed, 1)
            return
        hlen = 20 + (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0)  # the tcp_header_len
        if length + hlen >= TCP_MSS_DEFAULT + 20 or (length + hlen >= 88 + 20 and
                                                      not seg.flags & (PSH | FIN)):
            sk.last_seg_size = length
            if length == lss:
                sk.rcv_mss = length
                return
        sk.ack_pushed = 2 if sk.ack_pushed else 1

    def _set_window_clamp(self, sk: Sock, val: int) -> None:
        """tcp_set_window_clamp(): a larger clamp lets rcv_ssthresh up to the window offered."""
        new = max(val, SOCK_MIN_RCVBUF // 2)
        old, sk.window_clamp = sk.window_clamp, new
        if new < old:
            sk.rcv_ssthresh = min(sk.rcv_ssthresh, new)  # __tcp_adjust_rcv_ssthresh()
        elif new > old:
            sk.rcv_ssthresh = max(min(sk.rcv_wnd, new), sk.rcv_ssthresh)

    def _grow_window(self, sk: Sock, length: int, truesize: int, adjust: bool = True) -> None:
        """tcp_grow_window(): raise rcv_ssthresh, the most the window offers, towards the
        free space, by two MSS (or twice the segment) when the skb's overhead is moderate;
        truesize_adjust() leaves the payload of an skb whose head holds nothing."""
        room = min(sk.window_clamp, self._tcp_space(sk)) - sk.rcv_ssthresh
        if room <= 0:
            return
        if adjust and not self.rx_tun:
            # truesize_adjust(): less SKB_TRUESIZE(skb_end_offset()) for an skb whose bytes
            # are all page frags (lo); a linear skb (tun) holds payload in its head
            truesize = length
        if self._win_from_space(sk, truesize) <= length:
            incr = 2 * sk.advmss
        else:  # __tcp_grow_window(): not reached on lo (the ratio is below 1)
            incr = 0
            truesize = self._win_from_space(sk, truesize) >> 1
            window = self._win_from_space(sk, self.profile.rmem[2]) >> 1
            while sk.rcv_ssthresh <= window:
                if truesize <= length:
                    incr = 2 * sk.rcv_mss
                    break
                truesize, window = truesize >> 1, window >> 1
        if incr:
            incr = max(incr, 2 * length)
            sk.rcv_ssthresh += min(room, incr)
            sk.quick |= 1

    def _incr_quickack(self, sk: Sock) -> None:
        """tcp_incr_quickack(): ACK the next segments at once, as many as half a window."""
        quickacks = sk.rcv_wnd // (2 * sk.rcv_mss) if sk.rcv_mss else 0
        if quickacks == 0:
            quickacks = 2
        sk.quick = max(sk.quick, min(quickacks, TCP_MAX_QUICKACKS))

    def _ack_snd_check(self, sk: Sock, ofo_possible: bool = False) -> None:
        """__tcp_ack_snd_check(): ACK now in quick-ACK mode, after a full frame, or when told
        to (ICSK_ACK_NOW: a filled gap), else delay; unless out-of-order data waits: then at
        once for the first three ACKs at a given rcv_nxt (TCP_FASTRETRANS_THRESH: the sender's
        duplicate ACKs), and after that SACK compression holds them back (an hrtimer of 5 %
        of the RTT, at most tcp_comp_sack_delay_ns; a few microseconds on lo, then up to
        tcp_comp_sack_slack_ns (100 us) of slack), at most tcp_comp_sack_nr (44) of them."""
        if not sk.ack_sched:
            return
        unacked = (sk.rcv_nxt - sk.rcv_wup) & 0xFFFFFFFF
        now = (unacked > sk.rcv_mss and self._raw_window(sk) >= sk.rcv_wnd) or \
            (sk.quick and not sk.pingpong) or sk.ack_now
        if not now:
            if not ofo_possible or not sk.ofo:
                self._send_delayed_ack(sk)
                return
            nr = int(self.profile.sysctls.get("net.ipv4.tcp_comp_sack_nr", 44))
            if sk.sack_ok and sk.compressed_ack < nr:
                if sk.comp_rcv_nxt != sk.rcv_nxt:
                    sk.comp_rcv_nxt, sk.dup_ack_counter = sk.rcv_nxt, 0
                if sk.dup_ack_counter >= 3:  # TCP_FASTRETRANS_THRESH
                    sk.compressed_ack += 1
                    if "comp_sack" not in sk.timers:
                        rtt = sk.rcv_rtt_us
                        if sk.srtt_us and sk.srtt_us < rtt:
                            rtt = sk.srtt_us
                        delay_ns = min(int(self.profile.sysctls.get(
                            "net.ipv4.tcp_comp_sack_delay_ns", 1000000)), rtt * 125 // 20)
                        self._arm(sk, "comp_sack", self.now + delay_ns / 1e9)
                    return
                sk.dup_ack_counter += 1
        # send_now:
        if sk.id in self.ack_deferred and self.profile.backlog_ack_defer:
            # from __release_sock(), in the caller's context: until tcp_release_cb()
            self.ack_deferred[sk.id] = True
            return
        self._send_ack(sk)

    # -- the send buffer (tcp_input.c) --------------------------------------------------
    _ack_tsecr: int | None = None  # the TS ecr of the ACK tcp_clean_rtx_queue() runs for

    def _spurious_retrans(self, sk: Sock, skb) -> bool:
        """tcp_skb_spurious_retrans(): a retransmitted skb whose ACK echoes a timestamp
        older than its retransmission answers the original: no RACK sample from it."""
        return skb.retrans and self._ts_before(sk, self._ack_tsecr, skb.sent)

    def _clean_rtx_queue(self, sk: Sock) -> int:
        """tcp_clean_rtx_queue(), after tcp_snd_una_update(): skbs wholly below snd_una leave
        the retransmit queue and give their truesize back to sk_wmem_queued
        (tcp_wmem_free_skb()); one of several packets acknowledged in part is trimmed to
        snd_una and its packets recounted (tcp_tso_acked(), tcp_trim_head()), one of a single
        packet stays whole.  Returns the packets taken out of flight (packets_out, and
        tcp_cong_control()'s acked: tcp_cong.py)."""
        acked = 0
        self._delivered = 0  # tcp_count_delivered(): what was not SACKed before
        self._orig_acked = False
        self._reord_low = sk.snd_nxt
        while sk.rtxq:
            skb = sk.rtxq[0]
            if seq_lt(sk.snd_una, skb.end_seq):  # after(scb->end_seq, tp->snd_una)
                if skb.pcount == 1 or not seq_lt(skb.seq, sk.snd_una):
                    break
                cut = (sk.snd_una - skb.seq) & 0xFFFFFFFF
                trimmed = skb._replace(seq=sk.snd_una, data=skb.data[cut:])
                acked += skb.pcount - trimmed.pcount  # tcp_tso_acked()
                if skb.lost:
                    sk.lost_out -= skb.pcount - trimmed.pcount
                self._delivered += skb.pcount - trimmed.pcount
                if not skb.sacked:
                    self._rate_delivered(skb)  # tcp_rate_skb_delivered()
                if not skb.retrans and seq_le(trimmed.end_seq, sk.high_seq):
                    self._orig_acked = True  # FLAG_ORIG_SACK_ACKED (F-RTO's evidence)
                if not skb.retrans and not skb.sacked and seq_lt(skb.seq, self._reord_low):
                    self._reord_low = skb.seq  # tcp_clean_rtx_queue(): reord, this part too
                if sk.sack_ok and not skb.sacked and not self._spurious_retrans(sk, skb):
                    # tcp_rack_advance() for the part acknowledged too: last in the walk, its
                    # RTT is RACK's (prr-ss-ack-below-snd_una-cubic.pkt: 22 ms where the
                    # retransmission before it gave 12 ms, so nothing more is lost)
                    self._rack_advance(sk, trimmed)
                sk.rtxq[0] = trimmed
                break
            del sk.rtxq[0]
            acked += skb.pcount
            if not skb.retrans and not skb.sacked and seq_lt(skb.seq, self._reord_low):
                self._reord_low = skb.seq  # tcp_clean_rtx_queue(): reord
            if not skb.retrans and not skb.sacked and seq_le(skb.end_seq, sk.high_seq):
                # tcp_clean_rtx_queue(): never-retransmitted data sent before high_seq
                # acknowledged, FLAG_ORIG_SACK_ACKED (F-RTO's evidence, tcp_process_loss())
                self._orig_acked = True
            if skb.sacked:
                sk.sacked_out -= skb.pcount
            else:
                if skb.lost:
                    sk.lost_out -= skb.pcount
                self._delivered += skb.pcount
                self._rate_delivered(skb)  # tcp_rate_skb_delivered()
                if sk.sack_ok and not skb.sacked and not self._spurious_retrans(sk, skb):
                    self._rack_advance(sk, skb)  # tcp_rack_advance()
        sk.packets_out -= acked
        return acked

    def _sndbuf_expand(self, sk: Sock) -> None:
        """tcp_sndbuf_expand(): room for the congestion window's packets (at least
        TCP_INIT_CWND, and reordering + 1), each worth a power of two of memory per MSS, times
        the congestion control's sndbuf_expand (bbr's: 3; cubic and reno have none: 2);
        never above tcp_wmem[2], never shrinking."""
        mss = max(sk.mss_clamp, sk.mss_cache)
        per_mss = 1 << (mss + SNDBUF_SKB_HEADROOM - 1).bit_length()  # roundup_pow_of_two()
        per_mss += SKB_DATA_ALIGN_SK_BUFF
        nr_segs = max(TCP_INIT_CWND, sk.snd_cwnd, 3 + 1)  # tp->reordering + 1
        factor = 3 if self.profile.congestion_control == "bbr" else 2  # bbr_sndbuf_expand()
        sndmem = factor * nr_segs * per_mss
        if self._sndbuf(sk) < sndmem:
            sk.sndbuf = min(sndmem, self.profile.wmem[2])

    def _check_space(self, sk: Sock) -> None:
        """tcp_check_space(): after an ACK, if a send() or poll() found the buffer full
        (SOCK_NOSPACE), tcp_new_space(): expand the buffer if tcp_should_expand_sndbuf()
        (not locked by SO_SNDBUF, no memory pressure, fewer packets in flight than the
        congestion window), then sk_stream_write_space(): once the socket is writeable
        again (a third of the buffer free) SOCK_NOSPACE is cleared and the writer woken.
        Only a socket with a file has the flag (sk->sk_socket): not an orphan."""
        if not sk.nospace or sk.orphan:
            return
        # tcp_should_expand_sndbuf(): tcp_packets_in_flight() (no loss: packets_out)
        if not sk.sndbuf_lock and self._in_flight(sk) < sk.snd_cwnd:
            self._sndbuf_expand(sk)
        if self._stream_is_writeable(sk, 1):
            sk.nospace = False
            self._ep_wake(sk, KEY_WRITE_SPACE)  # sk_stream_write_space()'s wakeup

    # -- the RTT and the RTO (tcp_input.c) ----------------------------------------------
    def _usecs_to_jiffies(self, us: int) -> int:
        """usecs_to_jiffies(): rounded up, in ticks of this kernel's HZ."""
        return -(-us // self.profile.jiffy_us)

    def _established_rto(self, sk: Sock | None = None) -> float:
        """icsk_rto as tcp_set_rto() leaves it: __tcp_set_rto() is usecs_to_jiffies(srtt +
        rttvar), and rttvar is at least tcp_rto_min (200 ms), so on lo 200 ms + the smoothed
        RTT, rounded up to a jiffy: 204 ms after microsecond samples; 208 and 212 ms after
        the first and second delayed-ACK samples (TCP_INFO tcpi_rto on real sockets, with
        tcpi_rtt 5047 and 9653 us).  Before any sample (or for no socket), 204 ms."""
        if sk is None or not sk.srtt_us:
            return TCP_RTO_MIN + self.profile.jiffy
        jiffies = self._usecs_to_jiffies((sk.srtt_us >> 3) + sk.rttvar_us)
        return min(jiffies * self.profile.jiffy, TCP_RTO_MAX)  # tcp_bound_rto()

    def _ack_update_rtt(self, sk: Sock, seq_rtt_us: int, tsecr: int | None) -> None:
        """tcp_ack_update_rtt(): the RTT of what an ACK acknowledged (seq_rtt_us, -1 when it
        covers a retransmission: Karn), else from the timestamp it echoes (tcp_rtt_tsopt_us():
        whole milliseconds, at least 1); then tcp_rtt_estimator() and tcp_set_rto(), and
        icsk_backoff back to 0 (RFC 6298: only on a valid sample)."""
        if seq_rtt_us < 0 and sk.ts_ok and tsecr:
            delta = (self._ts_val(sk) - tsecr) & 0xFFFFFFFF
            if delta >= 0x7FFFFFFF // 1000:
                return
            seq_rtt_us = max(delta, 1) * 1000
        if seq_rtt_us < 0:
            return
        # tcp_update_rtt_min(): the least RTT (a windowed minimum over tcp_min_rtt_wlen, 300 s)
        sk.min_rtt_us = min(sk.min_rtt_us or 0xFFFFFFFF, max(seq_rtt_us, 1))
        self._rtt_estimator(sk, seq_rtt_us)
        sk.backoff = 0
        if sk.state in ("ESTABLISHED", "CLOSE_WAIT") and not sk.fin_sent:
            sk.rto = self._established_rto(sk)  # tcp_set_rto(): icsk_rto, backoff undone

    def _rtt_estimator(self, sk: Sock, mrtt_us: int) -> None:
        """tcp_rtt_estimator() (Jacobson/Karels as Linux keeps it, RFC 6298): srtt_us is 8 x
        the smoothed RTT, mdev_us 4 x the mean deviation; rttvar_us follows the largest mdev
        of a window of data (rtt_seq), at least tcp_rto_min.  The model's RTT is its clock's:
        hops of LOOPBACK_LATENCY on lo, and the real waits of delayed ACKs and sleeps."""
        m = max(mrtt_us, 1)
        rto_min_us = round(TCP_RTO_MIN * 1e6)
        srtt = sk.srtt_us
        if srtt:
            m -= srtt >> 3  # the error of the estimate
            srtt += m  # srtt = 7/8 srtt + 1/8 m
            if m < 0:
                m = -m - (sk.mdev_us >> 2)
                if m > 0:
                    m >>= 3
            else:
                m -= sk.mdev_us >> 2
            sk.mdev_us += m  # mdev = 3/4 mdev + 1/4 |error|
            if sk.mdev_us > sk.mdev_max_us:
                sk.mdev_max_us = sk.mdev_us
                if sk.mdev_max_us > sk.rttvar_us:
                    sk.rttvar_us = sk.mdev_max_us
            if seq_lt(sk.rtt_seq, sk.snd_una):  # a window of data later: rttvar decays
                if sk.mdev_max_us < sk.rttvar_us:
                    sk.rttvar_us -= (sk.rttvar_us - sk.mdev_max_us) >> 2
                sk.rtt_seq = sk.snd_nxt
                sk.mdev_max_us = rto_min_us
        else:  # the first sample
            srtt = m << 3
            sk.mdev_us = m << 1
            sk.rttvar_us = sk.mdev_max_us = max(sk.mdev_us, rto_min_us)
            sk.rtt_seq = sk.snd_nxt
        sk.srtt_us = max(1, srtt)

    def _acked_rtt(self, sk: Sock, ack: int, last: bool = False) -> int:
        """tcp_clean_rtx_queue()'s seq_rtt_us: how long ago the oldest skb this ACK covers
        left (first_ackt), in us; -1 when it covers none, or a retransmitted one
        (FLAG_RETRANS_DATA_ACKED).  An skb of one packet counts only when wholly acked.
        last: ca_rtt_us instead, from the newest skb it covers (last_ackt)."""
        first = None
        for skb in sk.rtxq:
            if ((skb.seq - ack) & 0xFFFFFFFF) <= 0x7FFFFFFF:  # not seq_lt(skb.seq, ack)
                break
            if ((ack - skb.end_seq) & 0xFFFFFFFF) > 0x7FFFFFFF and skb.pcount == 1:
                break  # seq_lt(ack, skb.end_seq): acknowledged in part
            if skb.retrans:
                return -1
            if first is None or last:
                first = skb.sent
        return -1 if first is None else max(int(round((self.now - first) * 1e6)), 0)
