"""Segments out, as tcp_output.c builds and sends them.

The receive window a segment offers (tcp_select_initial_window(), tcp_select_window(),
__tcp_select_window(), tcp_receive_window()), the options (tcp_options_write()), the SYN
(tcp_connect()), the SYN-ACK (tcp_make_synack()), data and FIN under the send window and
Nagle (tcp_write_xmit(), tcp_send_fin()), ACKs now or delayed (tcp_send_ack(),
tcp_send_delayed_ack(), tcp_event_ack_sent()), tcp_event_data_sent() and the active reset
(tcp_send_active_reset()).  Every segment leaves through _emit() into Kernel.outbox.
"""

from __future__ import annotations

from .sock import (ACK, ECE, EOR, FIN, PSH, RST, SYN, TCP_INIT_CWND, TCP_NAGLE_CORK, TCP_NAGLE_OFF,
                   TCP_MIN_MSS, TCP_MSS_DEFAULT, TCP_NAGLE_PUSH, TCP_RTO_MAX, TCP_RTO_MIN, TCP_TIMEOUT_INIT, TCP_TIMEOUT_MIN_US, TCPOLEN_TSTAMP_ALIGNED, GSO_MAX_SIZE, RtxSkb, Seg, Sock,
                   seq_lt)
from .tcp_cong import GSO_MAX_SIZE_SK


class TcpOutput:
    """What a kernel sends (a mixin of Kernel, kernel.py)."""

    # -- windows (tcp_output.c) ----------------------------------------------------------
    def _rcvbuf(self, sk: Sock) -> int:
        # sk_rcvbuf: SO_RCVBUF (locked), else tcp_rmem[1] as autotuning has grown it
        return sk.rcvbuf or sk.rcvbuf_grown or self.profile.rmem[1]

    @staticmethod
    def _win_from_space(sk: Sock, space: int) -> int:
        """tcp_win_from_space(): the share of buffer space the payload may take, by the
        scaling_ratio measured on arriving skbs (50% until then)."""
        return (space * sk.scaling_ratio) >> 8  # TCP_RMEM_TO_WIN_SCALE

    def _full_space(self, sk: Sock) -> int:
        """tcp_full_space(): the window the whole receive buffer is worth."""
        return self._win_from_space(sk, self._rcvbuf(sk))

    def _tcp_space(self, sk: Sock) -> int:
        """tcp_space(): the window the free receive buffer is worth (every queued skb, the
        FIN's included, takes its truesize: sk_rmem_alloc), less the backlog's sk_backlog.len,
        which counts an skb __release_sock() has already queued until the whole backlog is
        done: measured, a FIN arriving in the backlog after a read left rcv_ssthresh (so the
        last window) at 111685 = (131072 - 2 x 8581) x 251/256 (tcp_grow_window())."""
        return self._win_from_space(sk, self._rcvbuf(sk) - sk.backlog_len - self._rmem_alloc(sk))

    def _initial_window(self, sk: Sock, mss: int) -> int:
        """tcp_select_initial_window(): the space rounded down to a multiple of the MSS.  It is
        rcv_wnd whole, not 65535 at most (that only with tcp_workaround_signed_windows): only
        the SYN's own window field stops at 65535.  Measured over packetdrill's tun (tcp_rmem
        540000: 270000 of window): the first ACK after an active open offers 1050 x 256
        (rounded to the MSS of 1460 the SYN named), after a passive one 1053 x 256 (to 1448)."""
        space = self._full_space(sk)
        if space > mss:
            space = space // mss * mss
        return min(space, 65535) if self.profile.workaround_signed_windows else space

    def _rcv_wscale(self, sk: Sock) -> int:
        """tcp_select_initial_window(): the window scale for the largest window the buffer
        may reach, max(tcp_rmem[2], rmem_max), bounded by the window clamp.  With SO_RCVBUF
        (SOCK_RCVBUF_LOCK) the clamp is the buffer's whole window, tcp_full_space()
        (tcp_connect_init(); tcp_openreq_init_rwin() with the listener's buffer, which the
        accepted child inherits): measured on 6.18, SO_RCVBUF 4096 or 32768 gives scale 0,
        65536 and 100000 give 1, 1000000 gives 4, 3000000 gives 6."""
        if not sk.rcvbuf:
            return self.profile.rcv_wscale
        space = min(max(self.profile.rmem[2], self.profile.rmem_max), self._full_space(sk))
        return max(0, min(14, space.bit_length() - 1 - 15))

    def _init_buffer_space(self, sk: Sock, ts_adjust: bool = True) -> None:
        """tcp_init_buffer_space(), as the connection is established: the window clamp is the
        whole buffer's window, less one MSS when that leaves room for two (tcp_app_win).
        ts_adjust False: a Fast Open child's, at its birth (tcp_fastopen_create_child()), whose
        advmss loses the timestamp when the handshake's ACK comes."""
        if sk.ts_ok and ts_adjust:
            # tcp_rcv_synsent_state_process() and, since 6.16, tcp_rcv_state_process() in
            # SYN_RECV take the timestamp option off advmss before tcp_init_transfer() (commit
            # "tcp: fix initial tp->rcvq_space.space value for passive TS enabled flows").
            # Measured: tcpi_advmss 65483 after accept, and with SO_RCVBUF 262144 on the
            # listener tcpi_rcv_ssthresh 196661 = 262144 - 65483 (the clamp below)
            sk.advmss -= TCPOLEN_TSTAMP_ALIGNED
        # tcp_initialize_rcv_mss() (tcp_rcv_synsent_state_process(), tcp_v4_syn_recv_sock()):
        # the first guess of the peer's MSS, at most TCP_MSS_DEFAULT, at least TCP_MIN_MSS.
        # Measured over tun with a SYN of MSS 100: a 152-byte segment then counts as full
        # (tcpi_rcv_mss 152, and its scaling_ratio taken)
        sk.rcv_mss = max(min(sk.advmss, sk.mss_cache or sk.advmss, sk.rcv_wnd // 2,
                             TCP_MSS_DEFAULT), TCP_MIN_MSS)
        maxwin = self._full_space(sk)
        # tcp_select_initial_window() caps the clamp at the largest window the scale can say,
        # U16_MAX << rcv_wscale, and so does tcp_rcv_synsent_state_process() (65535) when the
        # SYN-ACK has no window scale.  Measured over packetdrill's tun without window scaling
        # (tcp_rmem 540000): tcpi_rcv_ssthresh 65535 after accept though tcpi_rcv_wnd is 268640
        clamp = min(sk.window_clamp or (65535 << 14), 65535 << sk.rcv_wscale)
        if clamp >= maxwin:
            clamp = maxwin
            if maxwin > 4 * sk.advmss:
                clamp = max(maxwin - (maxwin >> 31), 4 * sk.advmss)
        if clamp > 2 * sk.advmss and clamp + sk.advmss > maxwin:
            clamp = max(2 * sk.advmss, maxwin - sk.advmss)
        sk.window_clamp = clamp
        sk.rcv_ssthresh = min(sk.rcv_ssthresh, clamp)
        if not sk.sndbuf_lock:  # the send buffer too, unless SO_SNDBUF set it
            self._sndbuf_expand(sk)
        # the autotuning's first measure: what one RTT may bring, at most ten MSS
        sk.rcvq_space = min(sk.rcv_ssthresh, sk.rcv_wnd, TCP_INIT_CWND * sk.advmss)
        sk.rcvq_space_seq, sk.rcvq_space_time = sk.rcv_nxt, self.now

    def _receive_window(self, sk: Sock) -> int:
        """tcp_receive_window(): what is left of the window last offered."""
        win = (sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt) & 0xFFFFFFFF
        return 0 if win >= 2**31 else win

    def _raw_window(self, sk: Sock) -> int:
        """__tcp_select_window(): the free space, at most rcv_ssthresh; none (a zero window)
        when less than an MSS or a sixteenth of the buffer is free.  Below half the buffer
        the quick-ACK mode ends."""
        # _full_space() and _tcp_space() of one sk_rcvbuf, as the kernel reads them here
        rcvbuf = sk.rcvbuf or sk.rcvbuf_grown or self.profile.rmem[1]  # _rcvbuf()
        ratio = sk.scaling_ratio  # _win_from_space()
        allowed = (rcvbuf * ratio) >> 8  # tcp_full_space()
        full = min(sk.window_clamp, allowed) if sk.window_clamp else allowed
        free = ((rcvbuf - sk.backlog_len - self._rmem_alloc(sk)) * ratio) >> 8  # tcp_space()
        mss = sk.rcv_mss
        if mss > full:
            mss = full
            if mss <= 0:
                return 0
        if free < full >> 1:
            sk.quick = 0
            free = free >> sk.rcv_wscale << sk.rcv_wscale
            if free < allowed >> 4 or free < mss:
                return 0
        free = min(free, sk.rcv_ssthresh)
        unit = 1 << sk.rcv_wscale
        if sk.rcv_wscale:
            return -(-free // unit) * unit  # ALIGN(): enough that scaling does not lose it
        new = sk.rcv_wnd  # keep the last offer while it is within one MSS of the free space
        if new <= free - mss or new > free:
            new = free // mss * mss if mss else free
        elif mss == full and free > new + full // 2:
            new = free
        return new

    def _select_window(self, sk: Sock) -> int:
        """tcp_select_window(): never shrink the offered window; the scaled value to send."""
        cur = (sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt) & 0xFFFFFFFF  # tcp_receive_window()
        if cur >= 2**31:
            cur = 0
        new = self._raw_window(sk)
        unit = 1 << sk.rcv_wscale
        if new < cur:
            new = -(-cur // unit) * unit
        sk.rcv_wnd, sk.rcv_wup = new, sk.rcv_nxt
        return min(new, 65535 << sk.rcv_wscale) >> sk.rcv_wscale

    def _sync_mss(self, sk: Sock) -> None:
        """tcp_sync_mss(): the MSS to send with is the path's, bounded by
        tcp_bound_to_half_wnd(): at most half the largest window the peer offered (on lo,
        whose MSS is as large as a first window, a 65483-byte window makes 32741-byte segments)."""
        mss = sk.mss_mtu
        cutoff = sk.max_window >> 1 if sk.max_window > TCP_MSS_DEFAULT else sk.max_window
        if cutoff and mss > cutoff:
            mss = max(cutoff, 68 - 20 - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0))
        sk.mss_cache = mss

    @staticmethod
    def _current_mss(sk: Sock) -> int:
        """tcp_current_mss(): mss_cache less the room the next segment's options take beyond
        tp->tcp_header_len, the SACK blocks (tcp_established_options(): rx_opt.num_sacks and a
        pending D-SACK, as many as fit: 4 bytes and 8 a block).  Measured over tun
        (tests/pkt/sack-mss.pkt): holding data beyond a hole, MSS 988 sends 976-byte segments."""
        mss = sk.mss_cache
        blocks = len(sk.sacks) + bool(sk.dsack)
        if blocks and sk.sack_ok:
            room = (40 - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0) - 4) // 8
            mss -= 4 + 8 * min(blocks, room)
        return mss

    @staticmethod
    def _bound_to_half_wnd(sk: Sock, pktsize: int) -> int:
        """tcp_bound_to_half_wnd(): at most half the largest window the peer offered."""
        cutoff = sk.max_window >> 1 if sk.max_window > TCP_MSS_DEFAULT else sk.max_window
        if cutoff and pktsize > cutoff:
            return max(cutoff, 68 - 20 - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0))
        return pktsize

    def _xmit_size_goal(self, sk: Sock, mss_now: int) -> int:
        """tcp_xmit_size_goal(): the skbs tcp_sendmsg() builds are as many whole MSS as fit
        in sk_gso_max_size (lo's 65536 less MAX_TCP_HEADER and 1, sk_setup_caps()) bounded by
        half the peer's largest window, at least one MSS: on lo's MTU 65536 the MSS itself, at
        MTU 1500 22 x 1448 after lo's first window (65160 / 2), 45 x 1448 once the window
        passes 128 KiB; with TCP_MAXSEG 1000 (MSS 988) 33 MSS, 32604 bytes."""
        goal = self._bound_to_half_wnd(sk, GSO_MAX_SIZE_SK)
        return max(min(goal // mss_now, 65535) * mss_now, mss_now)  # lo's gso_max_segs

    def _update_window(self, sk: Sock, win: int) -> None:
        """tcp_ack_update_window(): the peer's window; a larger one than ever re-syncs the MSS."""
        if win != sk.snd_wnd and sk.wq:
            # tcp_ack_update_window(): a changed window with data queued checks for idle
            # (tcp_slow_start_after_idle_check()).  Measured (slow-reader at MTU 1500): the
            # window a read reopens after 2 s of zero window finds the writer's snd_cwnd 20,
            # and it sends with 10 (TCP_INFO, right after the read)
            self._slow_start_after_idle_check(sk)
        sk.snd_wnd = win
        if win > sk.max_window:
            sk.max_window = win
            self._sync_mss(sk)

    # -- segments out (tcp_output.c) -----------------------------------------------------
    def _syn_options(self, sk: Sock, mss: int) -> list:
        """tcp_options_write() order: MSS, SACK_PERM+TS (or NOP NOP TS / NOP NOP SACK_PERM), NOP WS."""
        opts = [["mss", mss]]
        if sk.ts_ok:
            if sk.sack_ok:
                opts.append(["sackOK", None])
            else:
                opts += [["nop", None], ["nop", None]]
            opts.append(["TS", [self._ts_val(sk), sk.ts_recent]])
        elif sk.sack_ok:
            opts += [["nop", None], ["nop", None], ["sackOK", None]]
        if sk.ws_ok:
            opts += [["nop", None], ["wscale", sk.rcv_wscale]]
        return opts

    def _est_options(self, sk: Sock) -> list:
        """tcp_established_options() and tcp_options_write(): the timestamp, then the SACK
        blocks, a D-SACK block first (duplicate_sack[0], then selective_acks: the kernel
        walks on from one into the other), as many as the 40 bytes of option space leave
        room for (3 beside a timestamp, else 4).  A D-SACK is sent once (rx_opt.dsack is
        cleared as it is written)."""
        opts = []
        if sk.ts_ok:
            opts = [["nop", None], ["nop", None], ["TS", [self._ts_val(sk), sk.ts_recent]]]
        if not sk.dsack and not sk.sacks:
            return opts  # no SACK blocks to write
        blocks = ([sk.dsack] if sk.dsack else []) + sk.sacks
        if blocks and sk.sack_ok:
            room = (40 - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0) - 4) // 8
            opts = opts + [["nop", None], ["nop", None], ["sack", [list(b) for b in blocks[:room]]]]
            sk.dsack = None
        return opts

    def _emit(self, sk: Sock, flags: int, seq: int, ack: int, win: int, options: list,
              payload: bytes = b"", gso: int = 0, shared: bool = False) -> None:
        sk.ip_id = (sk.ip_id + 1) & 0xFFFF
        sk.wstamp = self.now  # __tcp_transmit_skb(): tp->tcp_wstamp_ns
        self._xmit(Seg(sk.local, sk.remote, flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, win,
                       options, bytes(payload), sk.ip_id, gso, shared, why=self.cause))

    def _send_ack(self, sk: Sock, dsack: tuple | None = None) -> None:
        """tcp_send_ack(): a pure ACK; clears the pending delayed ACK (tcp_event_ack_sent).

        dsack: a duplicate segment's [seq, end_seq) to report (RFC 2883, tcp_dsack_set())."""
        if sk.state == "CLOSE":
            return  # __tcp_send_ack(): "If we have been reset, we may not send again."
        if dsack:
            self._dsack_set(sk, *dsack)  # tcp_dsack_set(): with SACK, and tcp_dsack on
        opts = self._est_options(sk)
        self._emit(sk, ACK, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk), opts)
        self._ack_sent(sk)

    def _ack_sent(self, sk: Sock) -> None:
        if sk.quick:  # tcp_dec_quickack_mode()
            sk.quick -= 1
            if not sk.quick:
                sk.ato = self.profile.ato_min
        sk.ack_sched, sk.ack_pushed, sk.ack_now = False, 0, False
        sk.timers.pop("delack", None)
        # tcp_event_ack_sent(): the ACKs SACK compression held back are sent with this one
        sk.compressed_ack = 0
        sk.timers.pop("comp_sack", None)

    @staticmethod
    def _nonagle(sk: Sock) -> int:
        """tp->nonagle: TCP_NODELAY sets TCP_NAGLE_OFF|TCP_NAGLE_PUSH, TCP_CORK sets
        TCP_NAGLE_CORK (__tcp_sock_set_nodelay(), __tcp_sock_set_cork())."""
        return sk.nonagle

    def _push(self, sk: Sock) -> None:
        """tcp_push_pending_frames(): what the window and Nagle allow, at the current MSS."""
        self._write_xmit(sk, self._current_mss(sk), self._nonagle(sk))

    @staticmethod
    def _nagle_check(partial: bool, sk: Sock, nonagle: int) -> bool:
        """tcp_nagle_check(): hold a partial segment while corked, or while a small segment
        is unacknowledged (Minshall's variant, tcp_minshall_check())."""
        in_flight = sk.snd_nxt != sk.snd_una
        return partial and bool(nonagle & TCP_NAGLE_CORK or
                                (not nonagle and in_flight and seq_lt(sk.snd_una, sk.snd_sml)))

    def _write_xmit(self, sk: Sock, mss_now: int, nonagle: int, push_one: int = 0) -> None:
        """tcp_write_xmit(): send the write queue's skbs, head first, while the peer's window
        (tcp_snd_wnd_test()) and Nagle (tcp_nagle_test()) allow; an skb may first take bytes
        from the next one (tcp_grow_skb()), and one of several MSS is cut to what the window
        takes (tcp_mss_split_point(), tso_fragment()).  push_one: one skb at most
        (tcp_push_one()); 2, the loss probe's new data: one MSS even when the congestion
        window is full ("Force out a loss probe pkt."), and no new probe scheduled."""
        max_segs = self._tso_segs(sk, mss_now)  # 2 at lo's MSS, 45 at MTU 1500's 1448
        sk.xmit_burst += 1  # tcp_mstamp_refresh(): one timestamp for what this call sends
        sent = is_cwnd_limited = False
        while sk.wq:
            length, fl = sk.wq[0]
            quota = self._cwnd_test(sk)  # tcp_cwnd_test(): 0 when the window is full
            if not quota and push_one == 2:
                quota = 1
            if not quota:
                break
            quota = min(quota, max_segs)
            missing = quota * mss_now - length
            # tcp_grow_skb(): not into an skb ending a record (tcp_skb_can_collapse()); an
            # skb eaten whole gives its flags and its eor (tcp_eat_one_skb())
            if missing > 0 and len(sk.wq) > 1 and not fl & (FIN | EOR):
                nlen, nfl = sk.wq[1]
                take = min(missing, nlen)
                if take:
                    length += take
                    if take == nlen:  # tcp_eat_one_skb(): its flags (PSH, FIN) come along
                        fl |= nfl
                        del sk.wq[1]
                    else:
                        sk.wq[1] = (nlen - take, nfl)
                    sk.wq[0] = (length, fl)
            tso_segs = max(1, -(-length // mss_now))  # tcp_set_skb_tso_segs()
            wnd_end = (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF
            end = sk.snd_nxt + (mss_now if length > mss_now else length + bool(fl & FIN))
            if seq_lt(wnd_end, end & 0xFFFFFFFF):  # tcp_snd_wnd_test()
                break
            last = len(sk.wq) == 1
            if tso_segs == 1:  # tcp_nagle_test()
                nagle = nonagle if last else TCP_NAGLE_PUSH
                if not (nagle & TCP_NAGLE_PUSH or fl & FIN or
                        not self._nagle_check(length < mss_now, sk, nagle)):
                    break
            elif not push_one:
                defer = self._tso_should_defer(sk, length, last, max_segs)
                if defer:
                    is_cwnd_limited |= defer == "cwnd"
                    break
            limit = mss_now
            if tso_segs > 1:  # tcp_mss_split_point()
                window = (wnd_end - sk.snd_nxt) & 0xFFFFFFFF
                max_len = mss_now * quota
                if max_len <= window and not last:
                    limit = max_len
                else:
                    needed = min(length, window)
                    if max_len <= needed:
                        limit = max_len
                    else:
                        partial = needed % mss_now
                        limit = needed - partial if self._nagle_check(partial != 0, sk, nonagle) \
                            else needed
            if length > limit:  # tso_fragment(): PSH, FIN and eor stay with the second part
                # (a first part of several MSS gets PSH back as a GSO packet: _transmit();
                # tcp_skb_fragment_eor())
                sk.wq[0] = (limit, fl & ~(FIN | PSH | EOR))
                sk.wq.insert(1, (length - limit, fl))
                length, fl = sk.wq[0]
            del sk.wq[0]
            self._transmit(sk, length, fl, mss_now)
            sent = True
            if push_one:
                break
        is_cwnd_limited |= self._in_flight(sk) >= sk.snd_cwnd
        if sent or is_cwnd_limited:
            self._cwnd_validate(sk, is_cwnd_limited)
        if sent and push_one != 2:  # tcp_write_xmit(): one loss probe per tail loss episode
            self._schedule_loss_probe(sk)
        # tcp_write_xmit() returns true when it sent nothing, nothing is in flight and the
        # queue is not empty: __tcp_push_pending_frames() (not tcp_push_one()) then starts
        # the probe timer (tcp_check_probe_timer()): for a zero window, or what TCP_CORK holds
        if not sent and not push_one and sk.wq and sk.snd_nxt == sk.snd_una:
            self._check_probe_timer(sk)

    # -- the probe timer: the zero window's probes, the cork's limit (tcp_output.c, tcp_timer.c)
    def _probe0_base(self, sk: Sock) -> float:
        """tcp_probe0_base(): the RTO, at least TCP_RTO_MIN: 204 ms on lo, 208-212 ms once
        delayed-ACK samples have raised the smoothed RTT (_established_rto())."""
        return max(self._established_rto(sk), TCP_RTO_MIN)

    def _probe0_when(self, sk: Sock) -> float:
        """tcp_probe0_when(): the base doubled per icsk_backoff (at most
        ilog2(TCP_RTO_MAX / TCP_RTO_MIN) + 1 = 10 times), at most TCP_RTO_MAX (120 s)."""
        return min(self._probe0_base(sk) * (1 << min(10, sk.backoff)), TCP_RTO_MAX)

    def _check_probe_timer(self, sk: Sock) -> None:
        """tcp_check_probe_timer(): nothing in flight and no retransmission timer pending
        (icsk_pending): the probe timer, ICSK_TIME_PROBE0, at tcp_probe0_base().  One timer
        for two uses: the zero window's persist timer (measured: the first probe 212-216 ms
        after the zero-window ACK, then backing off), and TCP_CORK's "200 ms ceiling"
        (measured: corked data left 204.5-204.9 ms after the send() that queued it, as one
        segment with PSH, tcp_write_wakeup())."""
        if sk.snd_nxt == sk.snd_una and "retransmit" not in sk.timers and "probe0" not in sk.timers:
            self._arm(sk, "probe0", self.now + self._probe0_base(sk))

    def _ack_probe(self, sk: Sock) -> None:
        """tcp_ack_probe(), for an ACK that came with nothing in flight: if the window now
        takes the whole head skb, stop the persist timer and its backoff (the ACK's
        tcp_data_snd_check() sends it); else restart the timer at tcp_probe0_when()."""
        if not sk.wq:
            return
        length, fl = sk.wq[0]
        end = (sk.snd_nxt + length + bool(fl & FIN)) & 0xFFFFFFFF
        if not seq_lt((sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF, end):
            sk.backoff = 0
            sk.timers.pop("probe0", None)
        else:
            self._arm(sk, "probe0", self.now + self._probe0_when(sk))

    def _write_wakeup(self, sk: Sock) -> None:
        """tcp_write_wakeup(): a window probe.  If the window takes some of the head skb,
        that much of it (at most an MSS) goes, with PSH, whatever Nagle or the cork say
        (tcp_fragment() leaves the FIN with the rest); else tcp_xmit_probe_skb(): a pure ACK with seq snd_una - 1, which the peer
        must answer (it is old: tcp_sequence(), tcp_send_dupack())."""
        if sk.state == "CLOSE":
            return
        wnd_end = (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF
        if sk.wq and seq_lt(sk.snd_nxt, wnd_end):
            mss = self._current_mss(sk)
            length, fl = sk.wq[0]
            seg_size = (wnd_end - sk.snd_nxt) & 0xFFFFFFFF
            end = (sk.snd_nxt + length + bool(fl & FIN)) & 0xFFFFFFFF
            if seq_lt(sk.pushed_seq, end):
                sk.pushed_seq = end
            if seg_size < length + bool(fl & FIN) or length > mss:
                seg_size = min(seg_size, mss)
                fl |= PSH
                if seg_size < length:  # tcp_fragment(): PSH, FIN (and eor:
                    # tcp_skb_fragment_eor()) go with the second part
                    sk.wq[0] = (seg_size, fl & ~(FIN | EOR))
                    sk.wq.insert(1, (length - seg_size, fl))
                    length, fl = sk.wq[0]
            del sk.wq[0]
            self._transmit(sk, length, fl | PSH, mss)
            return
        self._emit(sk, ACK, (sk.snd_una - 1) & 0xFFFFFFFF, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk))
        self._ack_sent(sk)  # tcp_transmit_skb() -> tcp_event_ack_sent()

    def _send_probe0(self, sk: Sock) -> None:
        """tcp_send_probe0(): probe, then, while the window still holds everything back,
        count the probe and back off (icsk_backoff up to tcp_retries2) for the next one."""
        self._write_wakeup(sk)
        if sk.snd_nxt != sk.snd_una or not sk.wq:
            sk.probes_out = sk.backoff = 0
            return
        sk.probes_out += 1
        if sk.backoff < self.profile.retries2:
            sk.backoff += 1
        self._arm(sk, "probe0", self.now + self._probe0_when(sk))

    def _schedule_loss_probe(self, sk: Sock) -> None:
        """tcp_schedule_loss_probe(): with SACK and two or more segments out, a probe timeout
        (PTO) after the last send or ACK of usecs_to_jiffies(2 srtt + TCP_TIMEOUT_MIN_US (2
        ms)) (the floor is 2 ms converted to jiffies, since the patch that added
        TCP_TIMEOUT_MIN_US; it was 2 jiffies added after the conversion): one jiffy on lo,
        where srtt is microseconds, three once delayed-ACK samples raised it to
        milliseconds.  The timer wheel runs a level-0 timer a tick after its expiry
        (calc_index() rounds up by the level's granularity), so one jiffy fires at the second
        tick: 4-8 ms.  Measured: the tail of a 65482-byte write resent 4.1 ms after it left
        (MTU 1500, locked-rcvbuf), a TCP_NODELAY tail 4.2 ms after (nagle-nodelay).  With one
        segment out the PTO is 2 srtt + tcp_rto_min, no later than the RTO: a probe at the
        RTO's time (lost-request).  With a FIN out the FIN's retransmission timer runs, after
        an RTO (TCP_CA_Loss) the RTO; without a probe, tcp_rearm_rto() (_rearm_rto())."""
        out = self._in_flight(sk)  # tcp_packets_in_flight()
        # not in TCP_CA_Disorder (something SACKed), Recovery or Loss
        # a FIN out is probed too (measured: a lone lost FIN resent after 206 ms as a probe,
        # TCPLossProbes 1, TCPTimeouts 0; upstream user_timeout.pkt: FIN, probe, RTO and
        # only then the doubling)
        if (not sk.sack_ok or not out or sk.ca_loss or sk.ca_recovery
                or sk.sacked_out or sk.lost_out
                or sk.state not in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "CLOSING",
                                    "LAST_ACK")
                or (out == 1 and not sk.srtt_us)):
            sk.timers.pop("loss_probe", None)
            self._rearm_rto(sk)  # tcp_set_xmit_timer(): no probe, the RTO
            return
        if sk.srtt_us:
            # one segment out: tcp_rto_min_us() rather than TCP_TIMEOUT_MIN_US, for the
            # peer's delayed ACK; then no later than the RTO would fire (rto_delta_us).
            # Measured: a lost 5-byte request sent again 204.7-206.9 ms later, as a probe
            # (TCPLossProbes 1, TCPTimeouts 0, tcpi_retransmits 0, cwnd 10 kept)
            floor = round(TCP_RTO_MIN * 1e6) if out == 1 else TCP_TIMEOUT_MIN_US
            jiffies = self._usecs_to_jiffies((sk.srtt_us >> 2) + floor)
            if out == 1:
                jiffies = min(jiffies, self._usecs_to_jiffies(max(1, self._rto_delta_us(sk))))
        else:
            jiffies = self._usecs_to_jiffies(round(TCP_TIMEOUT_INIT * 1e6))
        # the probe and the RTO share icsk's one transmit timer (icsk_pending)
        sk.timers.pop("retransmit", None)
        sk.timers.pop("reo", None)
        self._arm(sk, "loss_probe", self._wheel_deadline(jiffies))  # on the timer wheel

    def _rto_delta_us(self, sk: Sock) -> int:
        """tcp_rto_delta_us(): how far in the future the RTO is, counted from the send time
        of the head of the retransmit queue (tcp_rtx_queue_head())."""
        sent = sk.rtxq[0].sent if sk.rtxq else self.now
        return round((sent + sk.rto - self.now) * 1e6)

    def _rearm_rto(self, sk: Sock) -> None:
        """tcp_rearm_rto() for data: nothing out, no timer; else the RTO (icsk_rto) from now,
        or, replacing a pending loss probe, from the head's send time (tcp_rto_delta_us()).
        After a probe went, from now: measured, a 3000-byte skb lost with its probe (the tail
        cut off by tcp_fragment(), the head keeping its send time) is resent by the RTO
        208 ms after the probe, 213 ms after the head, 3 runs of 3.  A FIN's timer (fin_sent)
        keeps its own rules (_retransmit_fin()); a FIN still queued behind the data
        (close() or shutdown() in FIN_WAIT1 or LAST_ACK) does not: the data's RTO as in
        ESTABLISHED (measured: 13000 bytes written, close(), the first flight and its probe
        lost: the RTO at 213 ms, then recovery and the FIN with the last bytes)."""
        if sk.fin_sent or sk.state not in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "LAST_ACK"):
            return
        if not sk.packets_out:
            sk.timers.pop("retransmit", None)
            return
        probe = sk.timers.pop("loss_probe", None)
        if sk.timers.pop("reo", None) is not None or probe is not None:
            # ICSK_TIME_REO_TIMEOUT or ICSK_TIME_LOSS_PROBE pending: from the head's send time
            delay = max(self._rto_delta_us(sk), 1) / 1e6
        else:
            delay = sk.rto
        # on the timer wheel (_wheel_deadline(), tcp_timer.py): measured, an RTO of 204 ms
        # (51 jiffies) ran 208 ms after it was armed, one of 408 ms (102) 420-428 ms after
        jiffies = self._usecs_to_jiffies(round(delay * 1e6))
        self._arm(sk, "retransmit", self._wheel_deadline(jiffies))

    def _tso_should_defer(self, sk: Sock, length: int, last: bool,
                          max_segs: int) -> str | bool:
        """tcp_tso_should_defer(), for an skb of several MSS: send when the window and the
        cwnd take a full TSO skb (max_segs), or the whole of an skb that will not grow, or a
        third of the smaller of the two windows (tcp_tso_win_divisor), or when nothing is in
        flight to bring an ACK; else wait for the ACKs that open them ("cwnd": cwnd-limited).
        Two tests of time come first in the kernel.  Its last transmit over a millisecond
        ago: send at once (only a recent write may defer, against bursts).  And the next ACK
        due in more than half an RTT (more than min(srtt / 2, 1 ms) from now): send at once
        -- the head of the retransmit queue went out less than half an RTT ago.  On lo the
        RTT is 20-60 us, and which way that goes depends on how long the writer took between
        two sends and how long an ACK waited in the backlog: microseconds the model does not
        keep.  Measured (tracepoints tcp_probe and tcp_sendmsg_locked, MTU 1500, send()
        blocked on the send buffer): the ACK of the first 7240 bytes processed from the
        writer's backlog 8 us after the next 7240 left, srtt 36 us: the kernel sent the last
        3 MSS of the window at once (4344 bytes) where deferring would have waited for the
        next ACK; the same every run, idle or loaded.  So the model defers, and the other
        way is a race (Kernel._race, docs/races.md) that verify tries against a run."""
        mss = sk.mss_cache
        if sk.ca_recovery or sk.ca_loss:  # icsk_ca_state >= TCP_CA_Recovery: send now
            return False
        if self.now - sk.wstamp > 0.001:  # delta = tcp_clock_cache - tcp_wstamp_ns - 1 ms
            return False
        send_win = (sk.snd_una + sk.snd_wnd - sk.snd_nxt) & 0xFFFFFFFF
        cong_win = (sk.snd_cwnd - self._in_flight(sk)) * mss
        limit = min(send_win, cong_win)
        if limit >= max_segs * mss or (not last and limit >= length):
            return False
        divisor = int(self.profile.sysctls.get("net.ipv4.tcp_tso_win_divisor", 3))
        if divisor and limit >= min(sk.snd_wnd, sk.snd_cwnd * mss) // divisor:
            return False
        if not sk.packets_out:  # no head in the retransmit queue: no ACK to wait for
            return False
        if self._race("tso_defer", sk):  # how_far_is_the_ack > threshold: send now
            return False
        if cong_win < send_win:
            return "cwnd" if cong_win <= length else False
        return send_win <= length

    def _transmit(self, sk: Sock, length: int, fl: int, mss_now: int) -> None:
        """tcp_transmit_skb() of an skb off the write queue, and tcp_event_new_data_sent().
        An skb of several MSS is one GSO packet on lo, unless with its headers it reaches
        the device's gso_max_size (64 KiB): then it is cut into MSS-sized segments on the
        way out (gso_features_check(), tcp_gso_segment(): PSH and FIN on the last only)."""
        chunk = bytes(sk.unsent[:length])
        del sk.unsent[:length]
        # tcp_event_new_data_sent() (below): the skb moves to the retransmit queue, still
        # charged to sk_wmem_queued until acknowledged (tcp_clean_rtx_queue()); tcp_skb_mss()
        # is mss_now
        skb = RtxSkb(sk.snd_nxt, chunk, fl & (PSH | FIN), mss_now, self.now, burst=sk.xmit_burst,
                     tx_delivered=sk.delivered)  # tcp_rate_skb_sent()
        win = self._select_window(sk)
        opts = self._est_options(sk)
        # the frame's headers as __dev_queue_xmit() counts skb->len: lo's Ethernet header
        # (ETH_HLEN, eth_header() pushed it in neigh_output(); packetdrill's tun has none),
        # IP, TCP and its options
        sacks = next((len(o[1]) for o in opts if o[0] == "sack"), 0)
        headers = (0 if self.rx_tun else 14) + (20 if sk.family == 2 else 40) + 20 + \
            (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0) + (4 + 8 * sacks if sacks else 0)
        seq = sk.snd_nxt
        if length > mss_now:
            # an skb of several segments leaves with PSH on 6.18: every GSO packet of the
            # MTU 1500 captures carries it (the first part of a write pushed by
            # tcp_push_one() too), and every cwnd- or window-limited first part of several
            # MSS at lo's MTU; a lone MSS cut from a write does not (cwnd 1 after lost SYNs)
            fl |= PSH
        # gso_features_check(): skb->len >= netif_get_gso_max_size() (lo: 65536) takes
        # GSO off.  Measured without window scaling (MSS 32741, half lo's 65483 window,
        # tcp_bound_to_half_wnd()): a 65482-byte skb (a 65548-byte frame) leaves as two
        # 32741-byte segments, [.] then [P.], not one packet
        cut = length > mss_now and length + headers >= GSO_MAX_SIZE
        if cut:
            # __dev_queue_xmit(): validate_xmit_skb() cuts the skb into a list of segments
            # and dev_hard_start_xmit() hands each to loopback_xmit() -> netif_rx() with
            # bottom halves off; the softirq that processes them runs only when
            # rcu_read_unlock_bh() re-enables them, after the last.  Measured (1 MiB to a
            # 256 KiB SO_RCVBUF): 65483 + 32818 leave back to back, the receiver's two ACKs
            # after both (processed one by one, each ACK delivered in the first's turn
            # would have let the second out after it)
            self._bh_off = True
            while len(chunk) > mss_now:
                self._emit(sk, ACK, seq, sk.rcv_nxt, win, opts, chunk[:mss_now], 0, True)
                seq, chunk = seq + mss_now, chunk[mss_now:]
        # not cut by GSO: the receiver gets a clone of our skb; cut, new skbs, but the lab's
        # capture holds a clone of each (packet_rcv()) until it reads them, in a later burst:
        # the same as a clone of ours, which goes on the ACK.  Measured (SO_RCVBUF 262144,
        # an AF_PACKET socket on lo as the lab's): 12 data segments, 65483 + 32818 pairs
        # among them, hold 501489 bytes, 12 x 832 beyond their payload: none coalesced
        self._emit(sk, ACK | (fl & (PSH | FIN)), seq, sk.rcv_nxt, win, opts, chunk,
                   mss_now if len(chunk) > mss_now else 0,  # tcp_set_skb_tso_segs(): gso_size
                   True)
        if cut:
            self._bh_off = False
            self._net_rx()
        sk.snd_nxt = (sk.snd_nxt + length + bool(fl & FIN)) & 0xFFFFFFFF
        prior_out = sk.packets_out
        self._packets_sent(sk, skb)  # tcp_event_new_data_sent()
        self._check_space(sk)  # tcp_event_new_data_sent(): fewer unsent bytes (notsent_lowat)
        # tcp_event_new_data_sent() -> tcp_rearm_rto(): the one transmit timer becomes the
        # retransmission timer, so a pending probe timer is gone (its icsk_backoff stays)
        sk.timers.pop("probe0", None)
        if length and not fl & FIN and (prior_out == 0 or "loss_probe" in sk.timers):
            # tcp_event_new_data_sent(): with nothing in flight before (or a probe pending)
            # tcp_rearm_rto() arms the RTO, icsk_rto (_established_rto()) from now
            if prior_out == 0:
                sk.rto = self._established_rto(sk)
            self._rearm_rto(sk)
        if length:
            # tcp_minshall_update(): skb->len < tcp_skb_pcount(skb) * mss_now, so an skb of
            # several segments whose last is short counts as a small segment too.  Measured
            # (1 MiB to a 256 KiB SO_RCVBUF): after a 98301-byte skb (65483 + 32818) the next
            # 65534-byte one leaves as 65483 alone, its 51-byte tail held back by Nagle
            # (tcp_mss_split_point() -> tcp_nagle_check() -> tcp_minshall_check())
            if length % mss_now:
                sk.snd_sml = sk.snd_nxt
            self._data_sent(sk)
        self._ack_sent(sk)
        if fl & FIN:
            sk.fin_sent = True
            sk.rto, sk.retries = self._established_rto(sk), 0
            self._arm(sk, "retransmit", self.now + sk.rto)

    @staticmethod
    def _fragment(sk: Sock, i: int, cut: int, mss: int = 0) -> None:
        """tcp_fragment() of the retransmit queue's i-th skb at `cut` bytes: PSH and FIN stay
        on the second part, both keep the rest of the scoreboard (sent time, SACKed, lost,
        resent), at tcp_skb_mss() `mss` if given; packets_out and lost_out recount their
        packets (tcp_adjust_pcount())."""
        skb = sk.rtxq[i]
        if mss:
            skb = skb._replace(mss=mss)
        head = skb._replace(data=skb.data[:cut], flags=skb.flags & ~(PSH | FIN))
        tail = skb._replace(seq=(skb.seq + cut) & 0xFFFFFFFF, data=skb.data[cut:])
        delta = head.pcount + tail.pcount - sk.rtxq[i].pcount
        sk.packets_out += delta
        if skb.lost:
            sk.lost_out += delta
        sk.rtxq[i:i + 1] = [head, tail]

    def _data_sent(self, sk: Sock) -> None:
        """tcp_event_data_sent(): a reply within ato of the last arrival counts toward pingpong."""
        if sk.ato and self.now - sk.lrcvtime < sk.ato:
            sk.pingpong += 1

    def _send_delayed_ack(self, sk: Sock) -> None:
        """tcp_send_delayed_ack(): ato, bounded; with no data ever received ato is 0 (a jiffy)."""
        ato = sk.ato
        if ato > self.profile.ato_min:
            # tcp_send_delayed_ack(): a "high" ato is bounded by the RTT estimate, at least
            # TCP_DELACK_MIN; on lo the RTT is microseconds: 40 ms (measured: 42.7 ms after
            # a segment that came 50 ms after the last, where ato had grown to 90 ms)
            ato = self.profile.ato_min
        if ato:
            timeout = self.now + ato
        else:  # jiffies + 0: the timer wheel runs it at the next tick
            jiffy = self.profile.jiffy
            timeout = (self._jiffies(self.now) + 1 - self.jiffy_phase) * jiffy
        old = sk.timers.get("delack")
        if old is not None:
            if old <= self.now + ato / 4:
                self._send_ack(sk)
                return
            timeout = min(timeout, old)
        self._arm(sk, "delack", timeout)

    # -- actions named in the table ------------------------------------------------------
    def _act_send_syn(self, sk: Sock, seg: Seg | None) -> None:
        mss = sk.advmss or self.profile.mss(sk.family)  # tcp_connect_init(): TCP_MAXSEG's clamp
        if sk.fastopen_req is not None and not sk.fastopen_req["sent"]:
            self._send_syn_data(sk, mss)  # tcp_connect(): Fast Open (tcp_fastopen.py)
            return
        # tcp_transmit_skb(): a SYN's window is never scaled, so at most 65535
        self._emit(sk, SYN, sk.iss, 0, min(self._initial_window(sk, mss), 65535),
                   self._syn_options(sk, mss))
        # tcp_connect() and tcp_retransmit_timer(): icsk_retransmit_timer, on the timer wheel
        self._arm(sk, "retransmit", self._wheel_deadline(self._usecs_to_jiffies(round(sk.rto * 1e6))))

    def _act_send_synack(self, sk: Sock, seg: Seg | None) -> None:
        mss = sk.advmss or self.profile.mss(sk.family)  # tcp_synack_options(): tcp_mss_clamp()
        opts = self._syn_options(sk, mss)
        if sk.fastopen_synack:  # tcp_options_write(): the cookie last, NOP-padded to 32 bits
            opts = opts + [sk.fastopen_synack] + (
                [["nop", None], ["nop", None]] if sk.fastopen_synack[0] == "FO" else [])
        if sk.kind == "request":  # tcp_openreq_init_rwin(): the MSS less the TS option
            win = min(self._initial_window(sk, mss - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0)),
                      65535)
        else:  # a full socket's SYN-ACK (simultaneous open) offers the window of its SYN
            win = min(sk.rcv_wnd, 65535)
        # tcp_make_synack() -> tcp_ecn_make_synack(): ECE when the request took ECN
        self._emit(sk, SYN | ACK | (ECE if sk.ecn_ok else 0), sk.iss, sk.rcv_nxt, win, opts)
        if sk.kind == "request":
            # reqsk_queue_hash_req(), reqsk_timer_handler() and tcp_check_req(): rsk_timer, on
            # the timer wheel.  Armed after the client's SYN timer and landing in the same
            # bucket, it fires first (newest first): a lost SYN-ACK goes again before the SYN.
            timeout = TCP_TIMEOUT_INIT * 2 ** sk.retries
            self._arm(sk, "synack", self._wheel_deadline(self._usecs_to_jiffies(round(timeout * 1e6))))

    def _act_send_ack(self, sk: Sock, seg: Seg | None) -> None:
        how, sk.synack_ack = sk.synack_ack, ""
        if how == "rtx":  # tcp_rcv_fastopen_synack() sent the SYN's data again instead
            return
        if how == "delay":
            # tcp_rcv_synsent_state_process(): a writer waits (sk_write_pending): "save one
            # ACK", inet_csk_schedule_ack(), quick-ACK mode, the delayed-ACK timer at
            # TCP_DELACK_MAX; the writer's data carries the ACK
            sk.ack_sched = True
            self._enter_quickack_mode(sk)
            self._arm(sk, "delack", self.now + 0.2)
            return
        self._send_ack(sk)

    def _act_send_fin(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_send_fin(): the FIN rides on the write queue's last skb if one is unsent, else
        it is an skb of its own; then push with Nagle off."""
        sk.fin_queued = True
        if sk.wq and not sk.wq[-1][1] & FIN:
            length, fl = sk.wq[-1]
            sk.wq[-1] = (length, fl | FIN)
        else:
            sk.wq.append((0, FIN))
        self._write_xmit(sk, self._current_mss(sk), TCP_NAGLE_OFF)

    def _act_send_active_rst(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_send_active_reset(): RST|ACK at snd_nxt with the usual window and options."""
        self._emit(sk, RST | ACK, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk))
