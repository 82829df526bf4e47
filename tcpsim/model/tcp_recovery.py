"""Loss recovery with SACK: the sender's scoreboard, RACK, fast recovery and PRR.

What the kernel keeps in tcp_input.c (tcp_sacktag_write_queue(), tcp_fastretrans_alert(),
tcp_enter_recovery(), tcp_cwnd_reduction(): RFC 2018, RFC 6675's scoreboard, RFC 6937's
proportional rate reduction) and tcp_recovery.c (RACK, RFC 8985: tcp_rack_advance(),
tcp_rack_detect_loss(), tcp_rack_reo_timeout()).

The scoreboard is on the retransmit queue's skbs (RtxSkb.sacked, RtxSkb.lost) with the
counts tcp_sock keeps (Sock.sacked_out, Sock.lost_out, in packets), so that what is in flight
is tcp_packets_in_flight(): packets_out less what the peer holds (SACKed) and what is lost
and not yet sent again.  A packet is lost, for RACK, when one sent after it has been
delivered and it has waited longer than that one's RTT plus a reordering window (a quarter
of the least RTT seen, none once three packets are SACKed or recovery is under way); else
the REO timer looks again when it would be.  On lo an RTT is tens of microseconds: two
segments sent by different calls are further apart than the window, two of one burst are
not.  The model's clock (sim/world.py LOOPBACK_LATENCY per hop) decides which.

Not modelled yet: undo (tcp_try_undo_recovery(), tcp_try_undo_dsack(): D-SACK and timestamp
evidence of a spurious retransmission), reordering detection (tp->reord_seen,
tcp_check_sack_reordering(), RACK's reo_wnd_steps), SACK reneging, F-RTO, the non-SACK
(NewReno) path, tcp_shift_skb_data()'s merging of SACKed skbs.
"""

from __future__ import annotations

from .sock import RtxSkb, Sock, seq_le, seq_lt

TCP_RACK_RECOVERY_THRESH = 16  # recoveries a widened reordering window is kept for


def packets_in_flight(sk: Sock) -> int:
    """tcp_packets_in_flight(): packets_out - (sacked_out + lost_out) + retrans_out; the
    model clears an skb's lost mark when it is sent again, which counts it back in."""
    return sk.packets_out - sk.sacked_out - sk.lost_out


def retrans_out(sk: Sock) -> int:
    """tp->retrans_out: packets sent again as lost (tcp_retransmit_skb(); not the loss
    probe's) and still out: not SACKed, not lost again."""
    return sum(s.pcount for s in sk.rtxq if s.rtx_lost and not s.sacked and not s.lost)


def lost_out(sk: Sock) -> int:
    """tp->lost_out as TCP_INFO shows it: packets marked lost, sent again or not (TCPCB_LOST
    stays on a resent skb), not SACKed.  (Sock.lost_out counts those not yet resent.)"""
    return sum(s.pcount for s in sk.rtxq if (s.lost or s.rtx_lost) and not s.sacked)


class TcpRecovery:
    """The sender's SACK scoreboard, RACK and fast recovery (a mixin of Kernel, kernel.py)."""

    _in_flight = staticmethod(packets_in_flight)
    _rs_skb: RtxSkb | None = None  # the rate sample's skb of the ACK being processed

    # -- the scoreboard (tcp_input.c tcp_sacktag_write_queue) ----------------------------
    def _check_dsack(self, sk: Sock, block: tuple, prior_snd_una: int) -> None:
        """tcp_check_dsack() -> tcp_dsack_seen(): a D-SACK counts the segments the peer got
        twice (none if more than were ever sent again: dubious); one for data below
        snd_una and past undo_marker shows that many retransmissions spurious
        (undo_retrans down; all of them: the reduction may be undone)."""
        start, end = block
        seq_len = (end - start) & 0xFFFFFFFF
        if seq_len > sk.max_window:
            return
        dup_segs = -(-seq_len // sk.mss_cache) if seq_len > sk.mss_cache else 1
        sk.dsack_dups += dup_segs
        if sk.dsack_dups > sk.total_retrans:
            return  # the D-SACK is dubious: skipped
        # tcp_dsack_seen(): RACK widens its window for a D-SACK once reordering was seen,
        # unless it answers the loss probe (FLAG_DSACK_TLP: timer-driven, not RACK's doing)
        if sk.reord_seen and not (seq_len <= sk.mss_cache and sk.tlp_high_seq and
                                  sk.tlp_high_seq == end):
            sk.rack_dsack_seen = True
        sk.delivered += dup_segs  # state->sack_delivered: a spurious retransmission delivered
        self._dsacked = True  # FLAG_DSACKING_ACK
        if sk.undo_on and sk.undo_retrans > 0 and seq_le(end, prior_snd_una) and \
                seq_lt(sk.undo_marker, end):
            sk.undo_retrans = max(0, sk.undo_retrans - dup_segs)

    def _sacktag(self, sk: Sock, blocks: list, ack: int,
                 prior_snd_una: int | None = None) -> tuple[int, float]:
        """tcp_sacktag_write_queue(): mark the skbs the peer's SACK blocks cover as held
        (TCPCB_SACKED_ACKED; no longer lost), an skb covered in part cut at a whole MSS
        first (tcp_match_skb_to_sack() -> tcp_fragment()).  A first block below the ACK, or
        inside the second, is a D-SACK (tcp_check_dsack(): a duplicate, not a hole filled)
        and marks nothing.  RACK learns from each skb newly SACKed (tcp_rack_advance()).
        Returns the packets newly SACKed and the send time of the earliest of them that was
        never retransmitted (first_sackt: an RTT sample, tcp_ack_update_rtt()), -1 if none."""
        if prior_snd_una is None:
            prior_snd_una = ack
        blocks = [tuple(b) for b in blocks]
        self._dsacked = self._orig_sacked = False
        if blocks:
            first = blocks[0]
            if seq_lt(first[0], ack) or (len(blocks) > 1 and seq_le(blocks[1][0], first[0])
                                         and seq_le(first[1], blocks[1][1])):
                blocks = blocks[1:]  # a D-SACK
                self._check_dsack(sk, first, prior_snd_una)
                if self._dsacked and seq_lt(prior_snd_una, first[1]):
                    self._dsack_in_queue(sk, first)
        newly, first_sackt = 0, -1.0
        reord = sk.snd_nxt  # state->reord: the lowest newly SACKed hole, if reordered
        high = self._highest_sack(sk)  # tcp_highest_sack_seq(), as the walk moves it on
        # tcp_sacktag_write_queue() walks the blocks in sequence order
        blocks.sort(key=lambda b: (b[0] - sk.snd_una) & 0xFFFFFFFF)
        for start, end in blocks:
            # tcp_is_sackblock_valid(): within what was sent and not yet acknowledged
            if not seq_lt(start, end) or seq_lt(sk.snd_nxt, end) or not seq_lt(ack, end):
                continue
            i = 0
            while i < len(sk.rtxq):
                skb = sk.rtxq[i]
                if not seq_lt(skb.seq, end):
                    break
                if skb.sacked or not seq_lt(start, skb.end_seq):
                    i += 1
                    continue
                if seq_lt(skb.seq, start) or seq_lt(end, skb.end_seq):
                    if not self._sack_fragment(sk, i, start, end):
                        i += 1
                        continue
                    skb = sk.rtxq[i]
                    if seq_lt(skb.seq, start):  # the head, outside the block
                        i += 1
                        continue
                # tcp_sacktag_one(): a never-resent skb SACKed below the highest SACKed one
                # was reordered, not lost
                if not skb.retrans and seq_lt(skb.seq, high) and seq_lt(skb.seq, reord):
                    reord = skb.seq
                if seq_lt(high, skb.end_seq):
                    high = skb.end_seq
                if skb.lost:
                    sk.lost_out -= skb.pcount
                sk.sacked_out += skb.pcount
                newly += skb.pcount
                sk.rtxq[i] = skb._replace(sacked=True, lost=False)
                sk.delivered += skb.pcount  # tcp_count_delivered(): sack_delivered
                self._rate_delivered(skb)
                if not skb.retrans and (first_sackt < 0 or skb.sent < first_sackt):
                    first_sackt = skb.sent
                if not skb.retrans and seq_le(skb.end_seq, sk.high_seq):
                    self._orig_sacked = True  # tcp_sacktag_one(): FLAG_ORIG_SACK_ACKED
                self._rack_advance(sk, skb)
                i += 1
        self._check_sack_reordering(sk, reord, high)
        return newly, first_sackt

    @staticmethod
    def _dsack_in_queue(sk: Sock, block: tuple) -> None:
        """tcp_sacktag_walk() with dup_sack -> tcp_sacktag_one(): a D-SACK for data still in
        the retransmit queue (above prior_snd_una; tcp_check_dsack()'s "dumb counting" is
        for data below it) shows each retransmitted skb it covers spurious: undo_retrans
        less its packets.  Measured (tests/pkt/rack-reo-wnd-steps.pkt): the ACK of all with
        a D-SACK for the one retransmission undoes the recovery, cwnd 7 -> 10.  (Only skbs
        wholly inside the block; the walk's cut of one partly inside and its marking as
        SACKed of data beyond the ACK are not modelled.)"""
        start, end = block
        for skb in sk.rtxq:
            if not seq_lt(skb.seq, end):
                break
            if seq_le(start, skb.seq) and seq_le(skb.end_seq, end) and skb.retrans and \
                    sk.undo_on and sk.undo_retrans > 0 and seq_lt(sk.undo_marker, skb.end_seq):
                sk.undo_retrans = max(0, sk.undo_retrans - skb.pcount)

    def _sack_reneging(self, sk: Sock) -> None:
        """tcp_fastretrans_alert() -> tcp_check_sack_reneging(): an ACK that advanced
        snd_una up to an skb the peer had SACKed (the receiver dropped what it SACKed) is
        given max(srtt / 2, 10 ms) for more ACKs to make sense of it: the retransmission
        timer at that, and nothing else for this ACK; if it fires, the RTO forgets the SACKs
        (tcp_timeout_mark_lost()).  Measured (tests/pkt/sack-reneging.pkt, srtt 40 ms):
        the head sent again 24.6-29.8 ms after the ACK, in TCP_CA_Loss."""
        delay = max(self._usecs_to_jiffies(sk.srtt_us >> 4), self._usecs_to_jiffies(10000))
        sk.timers.pop("reo", None)
        sk.timers.pop("loss_probe", None)
        self._arm(sk, "retransmit", self._wheel_deadline(delay))

    @staticmethod
    def _highest_sack(sk: Sock) -> int:
        """tcp_highest_sack_seq(): where the highest SACKed skb ends (snd_una if none)."""
        high = sk.snd_una
        for skb in sk.rtxq:
            if skb.sacked and seq_lt(high, skb.end_seq):
                high = skb.end_seq
        return high

    def _check_sack_reordering(self, sk: Sock, low_seq: int, fack: int | None = None) -> None:
        """tcp_check_sack_reordering(): data below the highest SACKed (fack) delivered late:
        reordering, as far as the distance in MSS (tp->reordering, at most
        tcp_max_reordering 300, when it passes the current degree) and counted
        (tp->reord_seen: RACK then keeps its reordering window)."""
        fack = self._highest_sack(sk) if fack is None else fack
        if not seq_lt(low_seq, fack):
            return
        metric = (fack - low_seq) & 0xFFFFFFFF
        mss = sk.mss_cache
        if mss and metric > sk.reordering * mss:
            max_reo = int(self.profile.sysctls.get("net.ipv4.tcp_max_reordering", 300))
            sk.reordering = min(-(-metric // mss), max_reo)
        sk.reord_seen += 1

    def _sack_fragment(self, sk: Sock, i: int, start: int, end: int) -> bool:
        """tcp_match_skb_to_sack(): an skb of several packets partly inside a block is cut
        where the block begins or ends, rounded to whole MSS (up at the start, down at the
        end); one of a single packet, or a cut that would leave nothing, is not cut."""
        skb = sk.rtxq[i]
        mss = skb.mss
        if skb.pcount <= 1:
            return False
        in_sack = not seq_lt(skb.seq, start)
        if not in_sack:
            pkt_len = max((start - skb.seq) & 0xFFFFFFFF, mss)
        else:
            pkt_len = (end - skb.seq) & 0xFFFFFFFF
            if pkt_len < mss:
                return False
        if pkt_len > mss:
            new_len = pkt_len // mss * mss
            if not in_sack and new_len < pkt_len:
                new_len += mss
            pkt_len = new_len
        if pkt_len >= len(skb.data):
            return in_sack
        self._fragment(sk, i, pkt_len)
        return True

    # -- RACK (tcp_recovery.c) -----------------------------------------------------------
    def _rack_advance(self, sk: Sock, skb: RtxSkb) -> None:
        """tcp_rack_advance(): the most recently sent skb delivered, and its RTT; a
        retransmitted one whose RTT is below the least seen may be the original's answer and
        is not used."""
        rtt_us = max(int(round((self.now - skb.sent) * 1e6)), 0)
        if skb.retrans and rtt_us < self._min_rtt(sk):
            return
        sk.rack_advanced = True
        sk.rack_rtt_us = rtt_us
        if self._sent_after((skb.sent, skb.burst), (sk.rack_mstamp, sk.rack_burst),
                            skb.end_seq, sk.rack_end_seq):
            sk.rack_mstamp, sk.rack_burst, sk.rack_end_seq = skb.sent, skb.burst, skb.end_seq

    @staticmethod
    def _sent_after(t1: tuple, t2: tuple, seq1: int, seq2: int) -> bool:
        """tcp_skb_sent_after(): later, or at the same time and further on.  A time is the
        model's clock and the burst: of two bursts at one model time the later was later on
        the kernel's clock too, by microseconds."""
        if abs(t1[0] - t2[0]) > 1e-12:
            return t1[0] > t2[0]
        return t1[1] > t2[1] or (t1[1] == t2[1] and seq_lt(seq2, seq1))

    def _rate_delivered(self, skb: RtxSkb) -> None:
        """tcp_rate_skb_delivered(): of the skbs an ACK delivers (newly SACKed, or ACKed and
        not SACKed before), the last sent gives the rate sample's prior_delivered (Kernel
        ._rs_skb, cleared as each ACK begins)."""
        cur = self._rs_skb
        if cur is None or self._sent_after((skb.sent, skb.burst), (cur.sent, cur.burst),
                                           skb.end_seq, cur.end_seq):
            self._rs_skb = skb

    def _rack_update_reo_wnd(self, sk: Sock) -> None:
        """tcp_rack_update_reo_wnd(), after tcp_clean_rtx_queue() for an ACK with something
        in flight: a D-SACK seen (tcp_dsack_seen()) widens RACK's window by one step of a
        quarter of min RTT, at most once a round trip (a D-SACK for data sent before the
        last widening is disregarded), and the width is kept for 16 recoveries
        (TCP_RACK_RECOVERY_THRESH, counted down by tcp_try_undo_recovery()), then back to one
        step.  Nothing without a rate sample (rs.prior_delivered 0: nothing delivered)."""
        if int(self.profile.sysctls.get("net.ipv4.tcp_recovery", 1)) & 0x2:
            return  # TCP_RACK_STATIC_REO_WND
        prior = self._rs_skb.tx_delivered if self._rs_skb is not None else 0
        if not prior:
            return
        if seq_lt(prior, sk.rack_last_delivered):
            sk.rack_dsack_seen = False
        if sk.rack_dsack_seen:
            sk.reo_wnd_steps = min(0xFF, sk.reo_wnd_steps + 1)
            sk.rack_dsack_seen = False
            sk.rack_last_delivered = sk.delivered
            sk.reo_wnd_persist = TCP_RACK_RECOVERY_THRESH
        elif not sk.reo_wnd_persist:
            sk.reo_wnd_steps = 1

    @staticmethod
    def _min_rtt(sk: Sock) -> int:
        """tcp_min_rtt(): the least RTT seen (~0U before any)."""
        return sk.min_rtt_us if sk.min_rtt_us else 0xFFFFFFFF

    def _rack_reo_wnd(self, sk: Sock) -> int:
        """tcp_rack_reo_wnd(): no reordering seen, so none allowed in recovery or once
        tcp_reordering (3) packets are SACKed (the classic three duplicate ACKs); else a
        quarter of the least RTT times reo_wnd_steps, at most the smoothed RTT."""
        if not sk.reord_seen and (sk.ca_recovery or sk.ca_loss or
                                  sk.sacked_out >= sk.reordering):
            return 0  # no reordering seen: aggressive, as the duplicate-ACK threshold
        min_rtt = self._min_rtt(sk)
        return min((min_rtt >> 2) * sk.reo_wnd_steps if min_rtt != 0xFFFFFFFF else 0xFFFFFFFF,
                   sk.srtt_us >> 3)

    def _rack_detect_loss(self, sk: Sock) -> int:
        """tcp_rack_detect_loss(): every skb sent before RACK's and not delivered is lost once
        it has waited RACK's RTT plus the reordering window (remaining <= 0: with no window,
        one sent in the same burst as RACK's is lost at once); returns the longest wait left
        of those not yet lost, in us, 0 if none."""
        reo_wnd = self._rack_reo_wnd(sk)
        timeout = 0
        for i, skb in enumerate(sk.rtxq):
            if skb.sacked or skb.lost:
                continue
            if not self._sent_after((sk.rack_mstamp, sk.rack_burst), (skb.sent, skb.burst),
                                    sk.rack_end_seq, skb.end_seq):
                continue
            remaining = sk.rack_rtt_us + reo_wnd - int(round((self.now - skb.sent) * 1e6))
            if 0 < remaining <= reo_wnd and skb.burst != sk.rack_burst and \
                    abs(skb.sent - sk.rack_mstamp) <= 1e-12 and not self._race("rack_reo", sk):
                # sent by an earlier burst at the same model time: on the kernel's clock
                # earlier by the calls between them, microseconds, and the window is a
                # quarter of lo's RTT, microseconds too.  The model takes the gap to be the
                # larger (measured: two send()s 107 us apart, the first lost, resent on the
                # first SACK); the race is the other way (docs/races.md)
                remaining = 0
            if remaining <= 0:
                sk.rtxq[i] = skb._replace(lost=True)  # tcp_mark_skb_lost()
                sk.lost_out += skb.pcount
            else:
                timeout = max(timeout, remaining)
        return timeout

    def _rack_mark_lost(self, sk: Sock) -> bool:
        """tcp_rack_mark_lost(): after RACK advanced, look for losses; if some skb may yet
        be lost, the REO timer (ICSK_TIME_REO_TIMEOUT, on the one transmit timer) at the wait
        left plus TCP_TIMEOUT_MIN_US (2 ms), rounded up to jiffies (since 6.7; before,
        usecs_to_jiffies(wait) + TCP_TIMEOUT_MIN, up to a jiffy later).  Measured
        (tests/pkt/rack-reo-wnd-steps.pkt, a 10 ms wait): 17.3-19.3 ms after the SACK in 4
        of 5 runs, which only the newer rounding allows.  True when it armed."""
        if not sk.rack_advanced:
            return False
        sk.rack_advanced = False
        timeout = self._rack_detect_loss(sk)
        if not timeout:
            return False
        jiffies = self._usecs_to_jiffies(timeout + 2000)  # TCP_TIMEOUT_MIN_US
        sk.timers.pop("retransmit", None)
        sk.timers.pop("loss_probe", None)
        self._arm(sk, "reo", self._wheel_deadline(jiffies))
        return True

    def _timer_reo(self, sk: Sock) -> None:
        """tcp_rack_reo_timeout(): look again; if something is now lost, fast recovery (PRR
        allowing one packet) and its retransmissions; then the RTO again."""
        prior = self._in_flight(sk)
        self._rack_detect_loss(sk)
        if prior != self._in_flight(sk):
            if not sk.ca_recovery and not sk.ca_loss:
                self._enter_recovery(sk)
                self._cwnd_reduction(sk, 1, 0, False)
            self._xmit_retransmit_queue(sk)
        if "retransmit" not in sk.timers:
            self._rearm_rto(sk)

    # -- fast recovery (tcp_input.c) -----------------------------------------------------
    def _may_undo(self, sk: Sock, tsecr: int | None) -> bool:
        """tcp_may_undo(): the reduction may be undone when every retransmission was shown
        spurious (undo_retrans 0), or the ACK echoes a timestamp older than the first
        retransmission (tcp_packet_delayed(): the original got through)."""
        if not sk.undo_on:
            return False
        if not sk.undo_retrans:
            return True
        if sk.data_retrans_stamp >= 0 and sk.ts_ok and tsecr:
            stamp = (int(sk.data_retrans_stamp * 1000) + sk.ts_offset) & 0xFFFFFFFF
            return seq_lt(tsecr, stamp)
        return False

    def _try_undo_dsack(self, sk: Sock) -> bool:
        """tcp_try_undo_dsack(): every retransmission D-SACKed: undo."""
        if sk.undo_on and not sk.undo_retrans:
            sk.reo_wnd_persist = min(TCP_RACK_RECOVERY_THRESH, sk.reo_wnd_persist + 1)
            self._undo_cwnd_reduction(sk)
            return True
        return False

    def _undo_cwnd_reduction(self, sk: Sock, unmark_loss: bool = False) -> None:
        """tcp_undo_cwnd_reduction(): with unmark_loss, the loss marks go first (TCPCB_LOST
        cleared, lost_out 0); the window as the congestion control's undo_cwnd() gives it
        back (tcp_reno_undo_cwnd(), cubic's too: max(cwnd, prior_cwnd)), and ssthresh as
        it was before (prior_ssthresh); RACK looks at the queue again."""
        if unmark_loss:
            for i, skb in enumerate(sk.rtxq):
                if skb.lost or skb.rtx_lost:
                    sk.rtxq[i] = skb._replace(lost=False, rtx_lost=False)
            sk.lost_out = 0
        if sk.prior_ssthresh:
            # cubic's undo_cwnd is reno's, tcp_reno_undo_cwnd() (last_max_cwnd is zeroed by
            # an RTO: cubictcp_state() -> bictcp_reset())
            sk.snd_cwnd = max(sk.snd_cwnd, sk.prior_cwnd)
            if sk.prior_ssthresh > sk.snd_ssthresh:
                sk.snd_ssthresh = sk.prior_ssthresh
        sk.undo_on, sk.undo_marker = False, 0
        sk.rack_advanced = True

    def _init_undo(self, sk: Sock) -> None:
        """tcp_init_undo(): from here a reduction may be undone; the retransmissions out now
        count (-1: none)."""
        sk.undo_on, sk.undo_marker = True, sk.snd_una
        sk.undo_retrans = retrans_out(sk) or -1

    def _current_ssthresh(self, sk: Sock) -> int:
        """tcp_current_ssthresh(): ssthresh, or 3/4 of the window if that is more."""
        if sk.ca_recovery:
            return sk.snd_ssthresh
        return max(sk.snd_ssthresh, (sk.snd_cwnd >> 1) + (sk.snd_cwnd >> 2))

    @staticmethod
    def _ts_before(sk: Sock, tsecr: int | None, when: float) -> bool:
        """tcp_tsopt_ecr_before(): the ACK echoes a timestamp (ms) older than `when`."""
        if not sk.ts_ok or not tsecr or when < 0:
            return False
        return seq_lt(tsecr, (int(when * 1000) + sk.ts_offset) & 0xFFFFFFFF)

    def _try_undo_partial(self, sk: Sock, prior_snd_una: int | None, tsecr: int | None) -> bool:
        """tcp_try_undo_partial(): a partial ACK in fast recovery that echoes a timestamp
        older than the first retransmission (tcp_packet_delayed()): the hole was filled by
        the original, delayed, not by the retransmission; reordering, as far as the ACK
        reached (tcp_check_sack_reordering()).  With retransmissions still out: hold (no
        more marked lost or resent; True); else undo (tcp_undo_cwnd_reduction(sk, true): the
        loss marks too) and tcp_try_keep_open(): TCP_CA_Open (the model has no Disorder).
        Measured over tun (tests/pkt/undo-partial.pkt): Open, cwnd 10, ssthresh infinite."""
        if not sk.undo_on or not self._ts_before(sk, tsecr, sk.data_retrans_stamp):
            return False
        if prior_snd_una is not None:
            self._check_sack_reordering(sk, prior_snd_una)
        if retrans_out(sk):
            return True
        self._undo_cwnd_reduction(sk, unmark_loss=True)
        sk.ca_recovery = False  # tcp_try_keep_open(): high_seq = snd_nxt
        sk.high_seq = sk.snd_nxt
        if not any(skb.retrans for skb in sk.rtxq[:1]):
            sk.data_retrans_stamp = -1.0  # !tcp_any_retrans_done(): retrans_stamp 0
        return False

    def _fastretrans_alert(self, sk: Sock, una_advanced: bool, tsecr: int | None = None,
                           prior_snd_una: int | None = None) -> bool:
        """tcp_fastretrans_alert(), with SACK and RACK, for an ACK that SACKs or comes in a
        state other than Open: leave recovery once high_seq is acknowledged (cwnd back to
        ssthresh: tcp_end_cwnd_reduction(); no undo), look for losses (RACK), and enter
        recovery when one is found (tcp_time_to_recover(): "the loss is proven").  True
        when the lost packets are to be sent again (REXMIT_LOST)."""
        if sk.ca_recovery and not seq_lt(sk.snd_una, sk.high_seq):
            self._end_recovery(sk, self._may_undo(sk, tsecr))
        if sk.ca_loss:
            return False  # tcp_process_loss(): the RTO's own rules (tcp_input.py)
        if sk.ca_recovery:
            if una_advanced and self._try_undo_partial(sk, prior_snd_una, tsecr):
                return False
            if self._try_undo_dsack(sk):  # then tcp_try_to_open()
                sk.ca_recovery = False
                return False
        else:
            self._try_undo_dsack(sk)  # TCP_CA_Open or Disorder
        self._rack_mark_lost(sk)  # tcp_identify_packet_loss()
        return self._time_to_recover(sk)

    # -- after an RTO: TCP_CA_Loss (tcp_input.c tcp_process_loss(), RFC 5682's F-RTO) ------
    def _process_loss(self, sk: Sock, una_advanced: bool, dupack: bool, data_sacked: bool,
                      tsecr: int | None) -> str:
        """tcp_process_loss(), for an ACK in TCP_CA_Loss.  An ACK that advances snd_una may
        show the RTO spurious at once (tcp_try_undo_loss(sk, false): a D-SACK for every
        retransmission, or Eifel: the ACK echoes a timestamp older than the first
        retransmission, tcp_packet_delayed()).  F-RTO (RFC 5682 3.1, tp->frto): once the
        RTO's retransmission is acknowledged (step 2b) high_seq moves to snd_nxt and new
        data goes instead of more retransmissions (REXMIT_NEW) if the window lets it; an
        ACK or SACK of data sent before that and never retransmitted (FLAG_ORIG_SACK_ACKED)
        then shows the RTO spurious (step 3b: tcp_try_undo_loss(sk, true)), a SACK or a
        duplicate ACK after the new data shows the loss real (3a: F-RTO off).  snd_una at
        high_seq: recovered (tcp_try_undo_recovery()).  Returns "new", "lost" (REXMIT_LOST:
        the lost go again) or "" (nothing)."""
        recovered = not seq_lt(sk.snd_una, sk.high_seq)
        if una_advanced and self._try_undo_loss(sk, False, tsecr):
            return ""
        if sk.frto:  # F-RTO RFC 5682 sec 3.1 (the SACK-enhanced version)
            # step 3b: never-retransmitted data (s)acked: the timeout was spurious
            if (self._orig_acked or self._orig_sacked) and self._try_undo_loss(sk, True, tsecr):
                return ""
            if seq_lt(sk.high_seq, sk.snd_nxt):
                if data_sacked or dupack:
                    sk.frto = False  # step 3a: the loss was real
            elif una_advanced and not recovered:
                sk.high_seq = sk.snd_nxt
                # step 2b: send new data (tcp_xmit_recovery(), after tcp_cong_control() set
                # cwnd), else the conventional recovery
                if sk.wq and seq_lt(sk.snd_nxt, (sk.snd_una + sk.snd_wnd) & 0xFFFFFFFF):
                    return "new"
                sk.frto = False
        if recovered:
            # F-RTO step 2a and the first part of 3a: tcp_try_undo_recovery(), TCP_CA_Open
            if self._may_undo(sk, tsecr):
                self._undo_cwnd_reduction(sk)
            self._leave_loss(sk)
            return ""
        if not sk.sack_ok:
            if seq_lt(sk.high_seq, sk.snd_nxt) and dupack:
                # a duplicate ACK means the new data of step 2b arrived: tcp_add_reno_sack()
                sk.sacked_out = min(sk.sacked_out + 1, max(sk.packets_out - 1, 0))
            elif una_advanced:
                sk.sacked_out = 0  # tcp_reset_reno_sack()
        return "lost"

    def _try_undo_loss(self, sk: Sock, frto_undo: bool, tsecr: int | None) -> bool:
        """tcp_try_undo_loss(): F-RTO's evidence, or tcp_may_undo(): undo the RTO's reduction
        and its loss marks (tcp_undo_cwnd_reduction(sk, true): lost_out 0), icsk_retransmits
        0; TCP_CA_Open with SACK or F-RTO (a NewReno peer's ACK at high_seq holds Loss:
        tcp_is_non_sack_preventing_reopen())."""
        if not (frto_undo or self._may_undo(sk, tsecr)):
            return False
        self._undo_cwnd_reduction(sk, unmark_loss=True)
        sk.retries = 0
        if not sk.sack_ok and sk.snd_una == sk.high_seq:
            return True  # tcp_is_non_sack_preventing_reopen()
        if frto_undo or sk.sack_ok:
            self._leave_loss(sk)
        return True

    @staticmethod
    def _leave_loss(sk: Sock) -> None:
        """tcp_set_ca_state(sk, TCP_CA_Open) from Loss; retrans_stamp 0 (the model clears it
        here, the kernel on the next ACK in Open: tcp_fastretrans_alert())."""
        sk.ca_loss, sk.frto, sk.data_retrans_stamp = False, False, -1.0

    def _end_recovery(self, sk: Sock, undo: bool) -> None:
        """high_seq acknowledged: TCP_CA_Open (tcp_try_undo_recovery()), the reduction
        undone ("Happy end!") or the window set to ssthresh (tcp_end_cwnd_reduction(),
        while undo_marker stands)."""
        sk.ca_recovery = False
        if undo:
            self._undo_cwnd_reduction(sk)
        elif sk.undo_on and sk.snd_ssthresh < 0x7FFFFFFF:
            sk.snd_cwnd = sk.snd_ssthresh
        if not undo and sk.reo_wnd_persist:  # tcp_try_undo_recovery(): one recovery fewer
            sk.reo_wnd_persist -= 1  # to keep RACK's widened window
        sk.data_retrans_stamp = -1.0

    def _time_to_recover(self, sk: Sock) -> bool:
        """In recovery: resend the lost.  Else tcp_time_to_recover(): a loss found ("the loss
        is proven") starts fast recovery.  True: send the lost again (REXMIT_LOST)."""
        if sk.ca_recovery:
            return True
        if not sk.lost_out:
            return False
        self._enter_recovery(sk)
        return True

    # -- without SACK: NewReno (tcp_input.c tcp_add_reno_sack(), tcp_newreno_mark_lost()) --
    def _reno_alert(self, sk: Sock, una_advanced: bool, dupack: bool,
                    tsecr: int | None = None) -> bool:
        """tcp_fastretrans_alert() for a peer without SACK: each duplicate ACK counts as a
        packet the peer holds (sacked_out, at most packets_out less one hole); with
        tcp_reordering (3) of them the head is lost (tcp_newreno_mark_lost(): its first MSS
        cut off), and fast recovery resends it; in recovery an ACK that advances marks the
        new head lost (a partial ACK: NewReno, RFC 6582).  Recovery ends only once an ACK
        passes high_seq (one at it holds the state).  True: send the lost again."""
        if sk.ca_recovery and not seq_lt(sk.snd_una, sk.high_seq):
            sk.sacked_out = 0  # tcp_reset_reno_sack()
            if sk.snd_una == sk.high_seq:
                return False  # "Hold old state until something *above* high_seq is ACKed"
            self._end_recovery(sk, self._may_undo(sk, tsecr))
        if sk.ca_loss:
            return False
        if una_advanced and not sk.ca_recovery:
            sk.sacked_out = 0  # tcp_reset_reno_sack()
        if dupack and not (sk.ca_recovery and una_advanced):
            sk.sacked_out += 1  # tcp_add_reno_sack(), tcp_limit_reno_sacked()
            holes = min(max(sk.lost_out, 1), sk.packets_out)
            if sk.sacked_out + holes > sk.packets_out:
                sk.sacked_out = sk.packets_out - holes
        # tcp_newreno_mark_lost()
        if sk.rtxq and ((not sk.ca_recovery and sk.sacked_out >= sk.reordering) or
                        (sk.ca_recovery and una_advanced)) and not sk.rtxq[0].lost:
            skb = sk.rtxq[0]
            if skb.pcount > 1 and len(skb.data) > skb.mss:
                self._fragment(sk, 0, skb.mss)
                skb = sk.rtxq[0]
            sk.rtxq[0] = skb._replace(lost=True)
            sk.lost_out += skb.pcount
        return self._time_to_recover(sk)

    def _remove_reno_sacks(self, sk: Sock, acked: int) -> None:
        """tcp_remove_reno_sacks(): an ACK of new data fills the hole (one packet) and eats
        the duplicate ACKs counted for the rest; delivered is what is left."""
        self._delivered = max(acked - sk.sacked_out, 1)
        if acked - 1 >= sk.sacked_out:
            sk.sacked_out = 0
        else:
            sk.sacked_out -= acked - 1

    def _enter_recovery(self, sk: Sock) -> None:
        """tcp_enter_recovery() -> tcp_init_cwnd_reduction(): TCP_CA_Recovery until what is
        out now (high_seq) is acknowledged; PRR's counters from zero, the window before it
        kept (prior_cwnd), and ssthresh from the congestion control (cubic's and reno's
        alike here: cwnd * 717 / 1024 and cwnd / 2, at least 2)."""
        sk.prior_ssthresh = 0
        self._init_undo(sk)
        if not sk.ca_recovery:
            sk.prior_ssthresh = self._current_ssthresh(sk)
        sk.ca_recovery = True
        sk.high_seq = sk.snd_nxt
        sk.tlp_high_seq = 0
        sk.snd_cwnd_cnt = 0
        sk.prior_cwnd = sk.snd_cwnd
        sk.prr_delivered = sk.prr_out = 0
        sk.snd_ssthresh = self._ssthresh(sk)

    def _ssthresh(self, sk: Sock) -> int:
        """The congestion control's ssthresh(): cubic's bictcp_recalc_ssthresh() (beta
        717/1024), reno's tcp_reno_ssthresh() (half)."""
        if self.profile.congestion_control == "reno":
            return max(sk.snd_cwnd >> 1, 2)
        # bictcp_recalc_ssthresh(): the epoch ends; remember the window (less, with fast
        # convergence, when it did not reach the last one)
        sk.bic_epoch_start = None
        if sk.snd_cwnd < sk.last_max_cwnd:
            sk.last_max_cwnd = (sk.snd_cwnd * (1024 + 717)) // (2 * 1024)
        else:
            sk.last_max_cwnd = sk.snd_cwnd
        return max((sk.snd_cwnd * 717) >> 10, 2)

    def _cwnd_reduction(self, sk: Sock, newly_acked_sacked: int, newly_lost: int,
                        una_advanced: bool) -> None:
        """tcp_cwnd_reduction(): proportional rate reduction (RFC 6937).  While more is in
        flight than ssthresh, send in proportion to what is delivered (ssthresh /
        prior_cwnd of it); below it, no further than ssthresh: when the ACK advanced
        snd_una and nothing was newly lost, catch up by what was delivered and one more
        (PRR-SSRB, slow start), else one packet per packet delivered (PRR-CRB, packet
        conservation); and at least one packet when none has gone yet (the fast
        retransmit).  cwnd = in flight + what may go.  (Upstream's newer form, max of the
        two and then +1, sends two on a SACK where this kernel sends one: the
        prr-ss-30pkt-lost-1_4-11_16.pkt script, which real packetdrill passes here.)"""
        if newly_acked_sacked <= 0 or not sk.prior_cwnd:
            return
        in_flight = self._in_flight(sk)
        delta = sk.snd_ssthresh - in_flight
        sk.prr_delivered += newly_acked_sacked
        if delta < 0:
            dividend = sk.snd_ssthresh * sk.prr_delivered + sk.prior_cwnd - 1
            sndcnt = dividend // sk.prior_cwnd - sk.prr_out
        elif una_advanced and not newly_lost:  # PRR-SSRB: slow start towards ssthresh
            sndcnt = min(delta, max(sk.prr_delivered - sk.prr_out, newly_acked_sacked) + 1)
        else:  # PRR-CRB: packet conservation, what was delivered
            sndcnt = min(delta, newly_acked_sacked)
        sndcnt = max(sndcnt, 0 if sk.prr_out else 1)
        sk.snd_cwnd = in_flight + sndcnt
