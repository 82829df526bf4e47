"""The congestion window without loss, as tcp_cong.c, tcp_cubic.c and tcp_output.c keep it.

The window starts at TCP_INIT_CWND (10) segments (1 after more than one SYN or SYN-ACK
retransmission, tcp_init_transfer()) with ssthresh "infinite"; what is in flight is counted
in segments (packets_out: each skb's tcp_skb_pcount() as it joins the retransmit queue,
Sock.rtxq, less what ACKs take off, tcp_clean_rtx_queue()); tcp_write_xmit() sends at most
cwnd - in flight, and at most half the window in one GSO packet (tcp_cwnd_test()).  Each ACK of new data grows the
window by what it acknowledges (slow start, tcp_slow_start()) but only while the sender
uses it (tcp_is_cwnd_limited()), so on lo's MTU 65536, where two segments fill the
receiver's window, it stays 10.  After an idle period longer than the RTO the window is
restarted (tcp_slow_start_after_idle_check(), tcp_cwnd_restart()).

The algorithms modelled are reno and cubic (MODELLED_CONGESTION in profile.py).  Without loss
only slow start is reached by the programs here: cubic's HyStart left slow start in the lab
only after some 4000 segments of window (a 20 MB transfer at MTU 1500, ssthresh 4046 and
4708 in two runs: it times ACK trains in microseconds), so HyStart is not modelled.  Past
ssthresh reno grows one segment a window and cubic by its curve (bictcp_update(), since
session 15: tests/pkt/cubic-recovery-ca.pkt), both through tcp_cong_avoid_ai().  bbr, this machine's default, is not modelled (its pacing decides
what leaves when): a profile naming it gets cubic's rules and a note saying so (only
tcp_sndbuf_expand() takes bbr's factor of 3, bbr_sndbuf_expand(), which needs no window), and
the lab pins each socket to cubic (lab/kernel.py lab_congestion()).
"""

from __future__ import annotations

from .sock import GSO_MAX_SIZE, MAX_TCP_HEADER, TCP_INIT_CWND, RtxSkb, Sock, seq_lt
from .tcp_recovery import packets_in_flight

TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
# tcp_cubic.c's parameters (module defaults) and cubictcp_register()'s precomputed factors
BICTCP_HZ = 10  # BIC HZ 2^10
CUBIC_BETA = 717  # beta: 717/1024
CUBIC_BIC_SCALE = 41
CUBE_RTT_SCALE = CUBIC_BIC_SCALE * 10
CUBE_FACTOR = (1 << (10 + 3 * BICTCP_HZ)) // (CUBIC_BIC_SCALE * 10)
BETA_SCALE = 8 * (1024 + CUBIC_BETA) // 3 // (1024 - CUBIC_BETA)
_CUBIC_ROOT_V = (
    0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
    157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
    200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
    231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254)


def cubic_root(a: int) -> int:
    """tcp_cubic.c cubic_root(): a table lookup and one Newton-Raphson step (u32 and u64
    arithmetic as the kernel's)."""
    b = a.bit_length()  # fls64()
    if b < 7:
        return (_CUBIC_ROOT_V[a] + 35) >> 6
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = (((_CUBIC_ROOT_V[shift] + 10) << b) & 0xFFFFFFFF) >> 6
    x = (2 * x + (a // (x * (x - 1)) & 0xFFFFFFFF)) & 0xFFFFFFFF
    return ((x * 341) & 0xFFFFFFFF) >> 10
# sk_setup_caps() -> sk_dst_gso_max_size(): lo's gso_ipv4_max_size (64 KiB) less
# MAX_TCP_HEADER + 1: 65343 (MAX_TCP_HEADER 192, measured: sock.py; GSO packets of 65300 bytes
# at MSS 13060)
GSO_MAX_SIZE_SK = GSO_MAX_SIZE - (MAX_TCP_HEADER + 1)


class TcpCong:
    """The congestion window (a mixin of Kernel, kernel.py)."""

    # -- segments in flight (tcp_output.c, tcp_input.c) ----------------------------------
    def _packets_sent(self, sk: Sock, skb: RtxSkb) -> None:
        """tcp_event_new_data_sent(): the skb joins the retransmit queue (Sock.rtxq, which
        keeps its bytes for the loss probe and its truesize in sk_wmem_queued), its segments
        packets_out (tcp_packets_out_inc(): tcp_skb_pcount(), a FIN alone counts one).  The
        ACKs take them off again in tcp_clean_rtx_queue() (tcp_input.py)."""
        if skb.data and not packets_in_flight(sk) and self.profile.congestion_control != "reno":
            self._bictcp_tx_start(sk)  # tcp_event_data_sent(): CA_EVENT_TX_START
        sk.rtxq.append(skb)
        sk.packets_out += skb.pcount
        if skb.data:  # tcp_event_data_sent(): an skb with data (not a lone FIN)
            sk.lsndtime = self.now

    def _init_transfer_cwnd(self, sk: Sock, ts) -> None:
        """tcp_init_transfer(): the initial window, 10 (TCP_INIT_CWND), or 1 when the SYN (or
        SYN-ACK) went more than once again and not spuriously: tcp_try_undo_spurious_syn()
        clears undo_marker when the answer echoes the first one's timestamp.  (ssthresh,
        lowered by the SYN's RTO in tcp_enter_loss(), is put back to infinite by
        tcp_init_metrics().)  Measured: two SYNs lost, a 30000-byte write at MTU 1500 leaves
        one MSS at a time (1448 x 5, 2896 x 3, 5792 x 2, 2488) where it leaves as 7240, ...
        after one loss."""
        first_val = (int(sk.retrans_stamp * 1000) + sk.ts_offset) & 0xFFFFFFFF  # TCP_TS_HZ
        spurious = sk.ts_ok and ts is not None and ts[1] == first_val
        sk.snd_cwnd = 1 if sk.total_retrans > 1 and not spurious else TCP_INIT_CWND

    # -- the window's growth (tcp_input.c tcp_cong_control(), tcp_cong.c) ----------------
    @staticmethod
    def _in_slow_start(sk: Sock) -> bool:
        return sk.snd_cwnd < sk.snd_ssthresh  # tcp_in_slow_start()

    def _is_cwnd_limited(self, sk: Sock) -> bool:
        """tcp_is_cwnd_limited(): the sender filled the window in this round, or (in slow
        start) used more than half of it."""
        if sk.is_cwnd_limited:
            return True
        if self._in_slow_start(sk):
            return sk.snd_cwnd < 2 * sk.max_packets_out
        return False

    def _cong_avoid(self, sk: Sock, acked: int) -> None:
        """tcp_cong_avoid(): reno's tcp_reno_cong_avoid() and cubic's cubictcp_cong_avoid()
        alike until ssthresh: grow only when cwnd-limited, by what was acked (tcp_slow_start());
        past it tcp_cong_avoid_ai(): one segment per w acked, w the window for reno, cubic's
        ca->cnt from bictcp_update() (HyStart is not modelled)."""
        if not acked or not self._is_cwnd_limited(sk):
            return
        if self._in_slow_start(sk):
            cwnd = min(sk.snd_cwnd + acked, sk.snd_ssthresh)  # tcp_slow_start()
            acked -= cwnd - sk.snd_cwnd
            sk.snd_cwnd = cwnd
            if not acked:
                return
        w = sk.snd_cwnd  # tcp_cong_avoid_ai(tp, w, acked)
        if self.profile.congestion_control != "reno":
            self._bictcp_update(sk, sk.snd_cwnd, acked)
            w = sk.bic_cnt
        if sk.snd_cwnd_cnt >= w:
            sk.snd_cwnd_cnt = 0
            sk.snd_cwnd += 1
        sk.snd_cwnd_cnt += acked
        if sk.snd_cwnd_cnt >= w:
            delta = sk.snd_cwnd_cnt // w
            sk.snd_cwnd_cnt -= delta * w
            sk.snd_cwnd += delta

    # -- cubic (tcp_cubic.c) --------------------------------------------------------------
    def _jiffies(self, t: float) -> int:
        # tcp_jiffies32 at model time t (Kernel.jiffy_phase: where time 0 falls in a jiffy)
        return int(t / self.profile.jiffy + self.jiffy_phase + 1e-9)

    def _bictcp_update(self, sk: Sock, cwnd: int, acked: int) -> None:
        """bictcp_update(): ca->cnt, the ACKs per segment of growth, from the cubic curve
        through the window at the last loss (bic_origin_point, reached bic_K after the
        epoch's start) at the time since the epoch plus delay_min, at most once a jiffy (and
        no sooner than HZ/32 with the window unchanged); 20 at most while no loss was seen
        (last_max_cwnd 0); no slower than reno would grow (TCP friendliness: tcp_cwnd);
        at least 2."""
        now = self._jiffies(self.now)
        hz = self.profile.hz
        sk.bic_ack_cnt += acked
        if sk.bic_last_cwnd == cwnd and now - sk.bic_last_time <= hz // 32:
            return
        if not (sk.bic_epoch_start is not None and now == sk.bic_last_time):
            sk.bic_last_cwnd, sk.bic_last_time = cwnd, now
            if sk.bic_epoch_start is None:
                sk.bic_epoch_start = now  # the epoch begins
                sk.bic_ack_cnt = acked
                sk.bic_tcp_cwnd = cwnd
                if sk.last_max_cwnd <= cwnd:
                    sk.bic_k, sk.bic_origin_point = 0, cwnd
                else:
                    sk.bic_k = cubic_root(CUBE_FACTOR * (sk.last_max_cwnd - cwnd))
                    sk.bic_origin_point = sk.last_max_cwnd
            t = now - sk.bic_epoch_start + self._usecs_to_jiffies(sk.bic_delay_min)
            t = (t << BICTCP_HZ) // hz
            offs = sk.bic_k - t if t < sk.bic_k else t - sk.bic_k
            delta = ((CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)) & 0xFFFFFFFF
            target = (sk.bic_origin_point - delta if t < sk.bic_k
                      else sk.bic_origin_point + delta) & 0xFFFFFFFF
            sk.bic_cnt = cwnd // (target - cwnd) if target > cwnd else 100 * cwnd
            if sk.last_max_cwnd == 0 and sk.bic_cnt > 20:
                sk.bic_cnt = 20  # the initial growth: 5 % per RTT
        delta = (cwnd * BETA_SCALE) >> 3  # tcp_friendliness
        while sk.bic_ack_cnt > delta:
            sk.bic_ack_cnt -= delta
            sk.bic_tcp_cwnd += 1
        if sk.bic_tcp_cwnd > cwnd:
            sk.bic_cnt = min(sk.bic_cnt, cwnd // (sk.bic_tcp_cwnd - cwnd))
        sk.bic_cnt = max(sk.bic_cnt, 2)

    def _bictcp_acked(self, sk: Sock, rtt_us: int) -> None:
        """cubictcp_acked() (pkts_acked, from tcp_clean_rtx_queue() with the ACK's ca_rtt_us):
        the least RTT (delay_min), not in the second after an epoch began."""
        if rtt_us < 0 or self.profile.congestion_control == "reno":
            return
        if sk.bic_epoch_start is not None and \
                self._jiffies(self.now) - sk.bic_epoch_start < self.profile.hz:
            return
        rtt_us = max(rtt_us, 1)
        if sk.bic_delay_min == 0 or sk.bic_delay_min > rtt_us:
            sk.bic_delay_min = rtt_us

    @staticmethod
    def _bictcp_reset(sk: Sock) -> None:
        """cubictcp_state(TCP_CA_Loss) -> bictcp_reset(): struct bictcp zeroed, last_max_cwnd
        and delay_min too."""
        sk.bic_cnt = sk.last_max_cwnd = sk.bic_last_cwnd = sk.bic_last_time = 0
        sk.bic_origin_point = sk.bic_k = sk.bic_delay_min = sk.bic_ack_cnt = sk.bic_tcp_cwnd = 0
        sk.bic_epoch_start = None

    def _bictcp_tx_start(self, sk: Sock) -> None:
        """cubictcp_cwnd_event(CA_EVENT_TX_START), as data leaves with nothing in flight
        (tcp_event_data_sent()): the epoch moves on by the idle time, so the curve goes on
        where it stopped (at most to now)."""
        if sk.bic_epoch_start is None or sk.lsndtime < 0:
            return
        now = self._jiffies(self.now)
        delta = now - self._jiffies(sk.lsndtime)
        if delta > 0:
            sk.bic_epoch_start = min(sk.bic_epoch_start + delta, now)

    # -- what tcp_write_xmit() may send (tcp_output.c) -----------------------------------
    @staticmethod
    def _cwnd_test(sk: Sock) -> int:
        """tcp_cwnd_test(): the segments the window still allows, at most half of it at once
        ("ensure we have at least 2 GSO packets in flight"); 6.18 has no FIN exception."""
        in_flight = packets_in_flight(sk)
        if in_flight >= sk.snd_cwnd:
            return 0
        return min(max(sk.snd_cwnd >> 1, 1), sk.snd_cwnd - in_flight)

    def _tso_segs(self, sk: Sock, mss_now: int) -> int:
        """tcp_tso_segs() -> tcp_tso_autosize(): the pacing rate's share of a millisecond
        (sk_pacing_rate >> sk_pacing_shift 10) plus gso_max_size >> (min_rtt >>
        tcp_tso_rtt_log), at most sk_gso_max_size, in MSS, and at least tcp_min_tso_segs (2).
        lo's min RTT is tens of microseconds (under 512 us: the whole sk_gso_max_size); a
        long RTT leaves the pacing rate's share alone.  Measured (packetdrill's
        slow-start-ack-per-4pkt over tun, MSS 1000, RTT 100 ms, pacing rate 200 kB/s): the
        kernel sends 2000-byte GSO packets.  (bbr's bbr_tso_segs_goal() gives the same on
        lo: 64 KiB less MAX_TCP_HEADER, at least 2.)"""
        profile = self.profile
        min_tso = profile.min_tso_segs
        rate = sk.pacing_rate if sk.pacing_rate >= 0 else 0xFFFFFFFFFFFFFFFF
        nbytes = rate >> 10  # sk_pacing_shift (SK_DEFAULT_PACING_SHIFT)
        r = (sk.min_rtt_us if sk.min_rtt_us else 0xFFFFFFFF) >> profile.tso_rtt_log
        if r < 32:  # BITS_PER_TYPE(sk->sk_gso_max_size)
            nbytes += GSO_MAX_SIZE_SK >> r
        nbytes = min(nbytes, GSO_MAX_SIZE_SK)
        return max(nbytes // mss_now, min_tso)

    def _update_pacing_rate(self, sk: Sock, mss: int = 0) -> None:
        """tcp_update_pacing_rate(): 200 % of cwnd x MSS per smoothed RTT in slow start
        (cwnd < ssthresh / 2, tcp_pacing_ss_ratio), else 120 % (tcp_pacing_ca_ratio); only
        tcp_tso_autosize() reads it here (no fq qdisc on lo or tun).  mss: the mss_cache
        of a SYN_SENT socket, when it differs from the model's."""
        rate = (mss or sk.mss_cache) * ((1000000 // 100) << 3)
        if sk.snd_cwnd < sk.snd_ssthresh // 2:
            rate *= int(self.profile.sysctls.get("net.ipv4.tcp_pacing_ss_ratio", 200))
        else:
            rate *= int(self.profile.sysctls.get("net.ipv4.tcp_pacing_ca_ratio", 120))
        rate *= max(sk.snd_cwnd, sk.packets_out)
        if sk.srtt_us:
            rate //= sk.srtt_us
        sk.pacing_rate = rate  # sk_max_pacing_rate: ~0UL (no SO_MAX_PACING_RATE)

    def _cwnd_validate(self, sk: Sock, is_cwnd_limited: bool) -> None:
        """tcp_cwnd_validate(), after tcp_write_xmit() sent something or was cwnd-limited:
        remember for this round whether the window was filled, else the most in flight."""
        if (not seq_lt(sk.snd_una, sk.cwnd_usage_seq) or is_cwnd_limited or
                (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)):
            sk.is_cwnd_limited = is_cwnd_limited
            sk.max_packets_out = sk.packets_out
            sk.cwnd_usage_seq = sk.snd_nxt

    # -- restart after idle (tcp.c, tcp_output.c) ----------------------------------------
    def _slow_start_after_idle_check(self, sk: Sock) -> None:
        """tcp_slow_start_after_idle_check(), as tcp_skb_entail() queues a new skb: with
        nothing in flight and more than an RTO since the last data sent, tcp_cwnd_restart()
        halves the window once per RTO idle, down to the initial window."""
        if self.profile.sysctls.get("net.ipv4.tcp_slow_start_after_idle", "1") == "0":
            return
        if sk.packets_out or sk.lsndtime < 0:
            return
        jiffy = self.profile.jiffy
        delta = self._jiffies(self.now) - self._jiffies(sk.lsndtime)
        rto = round(self._established_rto() / jiffy)  # icsk_rto: no loss, no backoff
        if delta <= rto:
            return
        # tcp_cwnd_restart(): ssthresh = tcp_current_ssthresh(), in CA_Open
        sk.snd_ssthresh = max(sk.snd_ssthresh, (sk.snd_cwnd >> 1) + (sk.snd_cwnd >> 2))
        restart = min(TCP_INIT_CWND, sk.snd_cwnd)
        cwnd = sk.snd_cwnd
        delta -= rto
        while delta > 0 and cwnd > restart:
            cwnd >>= 1
            delta -= rto
        sk.snd_cwnd = max(cwnd, restart)
