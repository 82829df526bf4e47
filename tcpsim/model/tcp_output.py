"""Segments out, as tcp_output.c builds and sends them.

The receive window a segment offers (tcp_select_initial_window(), tcp_select_window(),
__tcp_select_window(), tcp_receive_window()), the options (tcp_options_write()), the SYN
(tcp_connect()), the SYN-ACK (tcp_make_synack()), data and FIN under the send window and
Nagle (tcp_write_xmit(), tcp_send_fin()), ACKs now or delayed (tcp_send_ack(),
tcp_send_delayed_ack(), tcp_event_ack_sent()), tcp_event_data_sent() and the active reset
(tcp_send_active_reset()).  Every segment leaves through _emit() into Kernel.outbox.
"""

from __future__ import annotations

from .sock import (ACK, FIN, PSH, RST, SKB_OVERHEAD, SYN, TCP_TIMEOUT_INIT,
                   TCPOLEN_TSTAMP_ALIGNED, Seg, Sock, seq_lt)


class TcpOutput:
    """What a kernel sends (a mixin of Kernel, kernel.py)."""

    # -- windows (tcp_output.c) ----------------------------------------------------------
    def _full_space(self, sk: Sock) -> int:
        rcvbuf = sk.rcvbuf or self.profile.rmem[1]
        return rcvbuf // 2  # tcp_win_from_space() with the default scaling_ratio (50%)

    def _initial_window(self, sk: Sock, mss: int) -> int:
        """tcp_select_initial_window(): the space rounded down to a multiple of the MSS."""
        space = self._full_space(sk)
        if space > mss:
            space = space // mss * mss
        return min(space, 65535)

    def _receive_window(self, sk: Sock) -> int:
        """tcp_receive_window(): what is left of the window last offered."""
        win = (sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt) & 0xFFFFFFFF
        return 0 if win >= 2**31 else win

    def _select_window(self, sk: Sock) -> int:
        """tcp_select_window() and __tcp_select_window(): never shrink the offered window."""
        # every queued skb, the FIN's included, takes room (SKB_OVERHEAD approximates truesize)
        alloc = sum(len(p) + SKB_OVERHEAD for p in sk.rcvq)
        full = self._full_space(sk)
        free = max(0, ((sk.rcvbuf or self.profile.rmem[1]) - alloc) // 2)
        mss = min(sk.rcv_mss, full)
        if free < full // 2:
            free = free >> sk.rcv_wscale << sk.rcv_wscale
            if free < full // 16 or free < mss:
                free = 0
        free = min(free, sk.rcv_ssthresh)
        unit = 1 << sk.rcv_wscale
        if sk.rcv_wscale:
            new = -(-free // unit) * unit  # ALIGN(): enough that scaling does not lose it
        else:  # keep the last offer while it is within one MSS of the free space
            new = sk.rcv_wnd
            if new <= free - mss or new > free:
                new = free // mss * mss if mss else free
            elif mss == full and free > new + full // 2:
                new = free
        cur = self._receive_window(sk)
        if new < cur:
            new = -(-cur // unit) * unit
        sk.rcv_wnd, sk.rcv_wup = new, sk.rcv_nxt
        return min(new, 65535 << sk.rcv_wscale) >> sk.rcv_wscale

    def _select_window_peek(self, sk: Sock) -> int:
        saved = (sk.rcv_wnd, sk.rcv_wup)
        self._select_window(sk)
        new = sk.rcv_wnd
        sk.rcv_wnd, sk.rcv_wup = saved
        return new

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
        if sk.ts_ok:
            return [["nop", None], ["nop", None], ["TS", [self._ts_val(sk), sk.ts_recent]]]
        return []

    def _emit(self, sk: Sock, flags: int, seq: int, ack: int, win: int, options: list,
              payload: bytes = b"") -> None:
        sk.ip_id = (sk.ip_id + 1) & 0xFFFF
        self.outbox.append(Seg(sk.local, sk.remote, flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, win,
                               options, bytes(payload), sk.ip_id))

    def _send_ack(self, sk: Sock, dsack: tuple | None = None) -> None:
        """tcp_send_ack(): a pure ACK; clears the pending delayed ACK (tcp_event_ack_sent).

        dsack: a duplicate segment's [seq, end_seq) to report (RFC 2883, tcp_dsack_set())."""
        opts = self._est_options(sk)
        if dsack and sk.sack_ok:
            opts = opts + [["nop", None], ["nop", None], ["sack", [list(dsack)]]]
        self._emit(sk, ACK, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk), opts)
        self._ack_sent(sk)

    def _ack_sent(self, sk: Sock) -> None:
        if sk.quick:  # tcp_dec_quickack_mode()
            sk.quick -= 1
            if not sk.quick:
                sk.ato = self.profile.ato_min
        sk.ack_sched, sk.ack_pushed = False, 0
        sk.timers.pop("delack", None)

    def _push(self, sk: Sock) -> None:
        """tcp_write_xmit(): send what the window and Nagle allow; PSH at the end of a send()."""
        mss_now = sk.mss_cache
        while sk.unsent:
            in_flight = (sk.snd_nxt - sk.snd_una) & 0xFFFFFFFF
            window_room = sk.snd_wnd - in_flight
            size = min(len(sk.unsent), mss_now)
            if size > window_room:
                break
            if size < mss_now and not sk.nodelay and in_flight and seq_lt(sk.snd_una, sk.snd_sml):
                break  # Nagle, Minshall's variant (tcp_nagle_check): one small segment in flight
            chunk = bytes(sk.unsent[:size])
            del sk.unsent[:size]
            flags = ACK
            if sk.snd_nxt + size == sk.push_end or not sk.unsent:
                flags |= PSH
            self._emit(sk, flags, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk),
                       self._est_options(sk), chunk)
            sk.snd_nxt = (sk.snd_nxt + size) & 0xFFFFFFFF
            if size < mss_now:
                sk.snd_sml = sk.snd_nxt
            self._data_sent(sk)
            self._ack_sent(sk)
        if sk.fin_queued and not sk.fin_sent and not sk.unsent:
            self._emit(sk, FIN | ACK, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk),
                       self._est_options(sk))
            sk.snd_nxt = (sk.snd_nxt + 1) & 0xFFFFFFFF
            sk.fin_sent = True
            self._ack_sent(sk)
            sk.rto, sk.retries = self._established_rto(), 0
            self._arm(sk, "retransmit", self.now + sk.rto)

    def _data_sent(self, sk: Sock) -> None:
        """tcp_event_data_sent(): a reply within ato of the last arrival counts toward pingpong."""
        if sk.ato and self.now - sk.lrcvtime < sk.ato:
            sk.pingpong += 1

    def _send_delayed_ack(self, sk: Sock) -> None:
        """tcp_send_delayed_ack(): ato, bounded; with no data ever received ato is 0 (a jiffy)."""
        ato = sk.ato
        if ato:
            timeout = self.now + ato
        else:  # jiffies + 0: the timer wheel runs it at the next tick
            jiffy = self.profile.jiffy
            timeout = (int(self.now / jiffy + 1e-9) + 1) * jiffy
        old = sk.timers.get("delack")
        if old is not None:
            if old <= self.now + ato / 4:
                self._send_ack(sk)
                return
            timeout = min(timeout, old)
        self._arm(sk, "delack", timeout)

    # -- actions named in the table ------------------------------------------------------
    def _act_send_syn(self, sk: Sock, seg: Seg | None) -> None:
        mss = self.profile.mss(sk.family)
        self._emit(sk, SYN, sk.iss, 0, self._initial_window(sk, mss), self._syn_options(sk, mss))
        self._arm(sk, "retransmit", self.now + sk.rto)

    def _act_send_synack(self, sk: Sock, seg: Seg | None) -> None:
        mss = self.profile.mss(sk.family)
        opts = self._syn_options(sk, mss)
        if sk.kind == "request":  # tcp_openreq_init_rwin(): the MSS less the TS option
            win = self._initial_window(sk, mss - (TCPOLEN_TSTAMP_ALIGNED if sk.ts_ok else 0))
        else:  # a full socket's SYN-ACK (simultaneous open) offers the window of its SYN
            win = min(sk.rcv_wnd, 65535)
        self._emit(sk, SYN | ACK, sk.iss, sk.rcv_nxt, win, opts)
        if sk.kind == "request":
            self._arm(sk, "synack", self.now + TCP_TIMEOUT_INIT * 2 ** sk.retries)

    def _act_send_ack(self, sk: Sock, seg: Seg | None) -> None:
        self._send_ack(sk)

    def _act_send_fin(self, sk: Sock, seg: Seg | None) -> None:
        sk.fin_queued = True
        self._push(sk)

    def _act_send_active_rst(self, sk: Sock, seg: Seg | None) -> None:
        """tcp_send_active_reset(): RST|ACK at snd_nxt with the usual window and options."""
        self._emit(sk, RST | ACK, sk.snd_nxt, sk.rcv_nxt, self._select_window(sk),
                   self._est_options(sk))
