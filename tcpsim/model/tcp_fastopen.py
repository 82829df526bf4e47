"""TCP Fast Open, the server side, as net/ipv4/tcp_fastopen.c does it.

A SYN to a listener that has a Fast Open queue (TCP_FASTOPEN's qlen, or listen()'s backlog
with net.ipv4.tcp_fastopen's 0x400) may carry the Fast Open option (RFC 7413's kind 34, or
the experimental 254 with magic 0xF989): empty, it asks for a cookie, which the SYN-ACK
carries (tcp_fastopen_cookie_gen()); with the right cookie (or none needed: 0x200), the SYN's
data is taken at once: tcp_try_fastopen() makes the child socket (tcp_fastopen_create_child())
in SYN_RECV, in the accept queue before the handshake's ACK, its data readable, and the
SYN-ACK acknowledges the data.  The cookie is SipHash-2-4 of the SYN's source and destination
addresses under the key of net.ipv4.tcp_fastopen_key (__tcp_fastopen_cookie_gen_cipher()).

The client side (TcpFastopenClient): sendto()/sendmsg() with MSG_FASTOPEN connects and
sends in one call (tcp_sendmsg_fastopen()), TCP_FASTOPEN_CONNECT defers connect()'s SYN to
the first write (tcp_fastopen_defer_connect()); the SYN carries the data when the
destination's cookie is cached (tcp_metrics.c's tcp_fastopen_cache_get()), or without one
(net.ipv4.tcp_fastopen's 0x4, TCP_FASTOPEN_NO_COOKIE), else it asks for a cookie (an
empty option); tcp_rcv_fastopen_synack() caches the SYN-ACK's cookie and MSS, and sends
again what the SYN-ACK left unacknowledged.
Not modelled: getsockopt(TCP_FASTOPEN_KEY), IPv6 cookies, the backup key, a FIN on the
SYN; on the client: the active-side blackhole detection (tcp_fastopen_active_disable(),
tcp_fastopen_blackhole_timeout_sec), the per-route RTAX_FASTOPEN_NO_COOKIE, data on a
SYN-ACK (tcp_fastopen_add_skb()), an ICMP error for the SYN's data
(tcp_fastopen_active_disable_ofo_check() and friends).
"""

from __future__ import annotations

import errno as E
import ipaddress
import struct

from .eventpoll import KEY_DATA_READY
from .sock import ACK, FIN, PSH, SYN, TCP_TIMEOUT_INIT, RtxSkb, Seg, Sock

# include/net/tcp.h: net.ipv4.tcp_fastopen's bits
TFO_CLIENT_ENABLE, TFO_SERVER_ENABLE = 0x1, 0x2
TFO_SERVER_COOKIE_NOT_REQD, TFO_SERVER_WO_SOCKOPT1 = 0x200, 0x400
TFO_CLIENT_NO_COOKIE = 0x4
# include/uapi/linux/tcp.h enum tcp_fastopen_client_fail
TFO_COOKIE_UNAVAILABLE, TFO_DATA_NOT_ACKED, TFO_SYN_RETRANSMITTED = 1, 2, 3
MAX_TCP_OPTION_SPACE = 40
TCP_DELACK_MAX = 0.2
TCP_FASTOPEN_COOKIE_MIN, TCP_FASTOPEN_COOKIE_MAX, TCP_FASTOPEN_COOKIE_SIZE = 4, 16, 8

_M64 = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M64


def siphash(k0: int, k1: int, data: bytes) -> int:
    """lib/siphash.c siphash(): SipHash-2-4, 64-bit output."""
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(n):
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _M64; v1 = _rotl(v1, 13) ^ v0; v0 = _rotl(v0, 32)  # noqa: E702
            v2 = (v2 + v3) & _M64; v3 = _rotl(v3, 16) ^ v2  # noqa: E702
            v0 = (v0 + v3) & _M64; v3 = _rotl(v3, 21) ^ v0  # noqa: E702
            v2 = (v2 + v1) & _M64; v1 = _rotl(v1, 17) ^ v2; v2 = _rotl(v2, 32)  # noqa: E702
    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = struct.unpack_from("<Q", data, i)[0]
        v3 ^= m
        rounds(2)
        v0 ^= m
    b = (len(data) & 0xFF) << 56
    for i, c in enumerate(data[end:]):
        b |= c << (8 * i)
    v3 ^= b
    rounds(2)
    v0 ^= b
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def fastopen_key(text: str) -> tuple[int, int] | None:
    """proc_tcp_fastopen_key(): "%x-%x-%x-%x", each word stored little-endian
    (cpu_to_le32), the 16 bytes the siphash_key_t's two u64s; None if unreadable."""
    words = text.split(",")[0].split("-")
    try:
        raw = b"".join(struct.pack("<I", int(w, 16)) for w in words)
    except (ValueError, struct.error):
        return None
    if len(words) != 4:
        return None
    return struct.unpack("<QQ", raw)


def cookie_gen(key: tuple[int, int], saddr: str, daddr: str) -> str | None:
    """__tcp_fastopen_cookie_gen_cipher(): siphash over the SYN's iph->saddr and daddr
    (IPv4; IPv6 is not modelled), stored little-endian: 8 bytes, as hex."""
    try:
        a, b = ipaddress.ip_address(saddr), ipaddress.ip_address(daddr)
    except ValueError:
        return None
    if a.version != 4 or b.version != 4:
        return None
    return struct.pack("<Q", siphash(key[0], key[1], a.packed + b.packed)).hex()


class TcpFastopen:
    """The server side of Fast Open (a mixin of Kernel, kernel.py)."""

    def _fastopen_queue_tune(self, sk: Sock, backlog: int) -> None:
        """fastopen_queue_tune(): the listener's fastopenq.max_qlen, at most somaxconn."""
        sk.fastopen_max_qlen = max(0, min(backlog, self.profile.somaxconn))

    def _fastopen_listen(self, sk: Sock) -> None:
        """inet_listen(): with tcp_fastopen's 0x400 and 0x2 a listener without a queue gets
        one of its backlog's length."""
        fo = self.profile.fastopen
        if fo & TFO_SERVER_WO_SOCKOPT1 and fo & TFO_SERVER_ENABLE and not sk.fastopen_max_qlen:
            self._fastopen_queue_tune(sk, sk.backlog)

    @staticmethod
    def _fastopen_option(seg: Seg) -> tuple[str, str] | None:
        """tcp_parse_fastopen_option(): the SYN's cookie (name, hex) with an even length,
        empty (a request) or 4 to 16 bytes; None when there is none, or it is invalid."""
        for name, value in seg.options:
            if name in ("FO", "FOEXP"):
                n = len(value) // 2
                if n & 1 or (n and not TCP_FASTOPEN_COOKIE_MIN <= n <= TCP_FASTOPEN_COOKIE_MAX):
                    return None
                return name, value
        return None

    def _try_fastopen(self, sk: Sock, req: Sock, seg: Seg) -> Sock | None:
        """tcp_try_fastopen(): the child socket when the SYN's data is taken, else None;
        req.fastopen_synack is the cookie option its SYN-ACK carries (a valid cookie for a
        request or a wrong cookie, none otherwise)."""
        fo = self.profile.fastopen
        foc = self._fastopen_option(seg)
        syn_data = bool(seg.payload) or bool(seg.flags & FIN)
        if not (fo & TFO_SERVER_ENABLE and (syn_data or foc is not None)
                and self._fastopen_queue_check(sk)):
            return None
        if not fo & TFO_SERVER_COOKIE_NOT_REQD:  # tcp_fastopen_no_cookie()
            if foc is None:
                return None
            # tcp_fastopen_get_ctx(): the listener's own key (TCP_FASTOPEN_KEY), else the
            # namespace's (net.ipv4.tcp_fastopen_key)
            key = struct.unpack("<QQ", sk.fastopen_key) if sk.fastopen_key else \
                fastopen_key(self.profile.fastopen_key)
            valid = cookie_gen(key, seg.src[0], seg.dst[0]) if key else None
            if valid is None:
                return None
            # tcp_fastopen_cookie_gen_check(): a cookie of TCP_FASTOPEN_COOKIE_SIZE that
            # matches (tcp_fastopen_cookie_match()); else the SYN-ACK carries the valid one
            if not foc[1] or foc[1] != valid:
                req.fastopen_synack = [foc[0], valid]
                return None
        return self._fastopen_create_child(sk, req, seg)

    def _fastopen_queue_check(self, sk: Sock) -> bool:
        """tcp_fastopen_queue_check(): the listener has a queue, not full (its children
        whose handshake is pending; the expired-RST reuse is not modelled)."""
        return sk.fastopen_max_qlen > 0 and sk.fastopen_qlen < sk.fastopen_max_qlen

    def _fastopen_create_child(self, listener: Sock, req: Sock, seg: Seg) -> Sock:
        """tcp_fastopen_create_child(): syn_recv_sock() makes the full socket (SYN_RECV),
        counted in the listener's fastopenq.qlen; its window is the SYN's, unscaled; the
        transfer initialised (tcp_init_transfer()); the SYN's data queued
        (tcp_fastopen_add_skb(): rcv_nxt past it, syn_data_acked); then
        tcp_conn_request() sends the SYN-ACK and adds the child to the accept queue
        (inet_csk_reqsk_queue_add()), waking the listener (sk_data_ready())."""
        child = req
        self._unhash(child)
        child.kind = "full"
        self.changed.add(child.id)
        child.timers.clear()
        child.fastopen_rsk = listener.id
        child.syncnt = listener.syncnt  # sk_clone_lock(): icsk_syn_retries (TCP_SYNCNT)
        listener.fastopen_qlen += 1
        self._set_state(child, "SYN_RECV", "rcv_syn_fastopen", "tcp_fastopen_create_child()")
        # tcp_create_openreq_child(): snd_una = snd_nxt = snt_isn + 1 (the SYN-ACK is the
        # request's, never in the child's flight)
        child.snd_una = child.snd_nxt
        child.snd_wnd = child.max_window = seg.win
        self._sync_mss(child)
        self._init_transfer_cwnd(child, self._opt(seg, "TS"))
        self._init_buffer_space(child, ts_adjust=False)
        self._update_pacing_rate(child)
        child.rcv_wup = child.rcv_nxt
        child.sock_state = "unconnected"
        self._hash(child)
        child.lrcvtime = self.now
        if seg.payload:
            data = Seg(seg.src, seg.dst, 0, (seg.seq + 1) & 0xFFFFFFFF, seg.ack, seg.win, [],
                       seg.payload, seg.ip_id, seg.gso, seg.shared)
            self._queue_rcv(child, data)
            child.rcv_nxt = (child.rcv_nxt + len(seg.payload)) & 0xFFFFFFFF
            child.syn_data_acked = True
        child.rcv_wup = child.rcv_nxt
        # inet_csk_reset_xmit_timer(child, ICSK_TIME_RETRANS, req->timeout): the SYN-ACK's
        # retransmission is the child's (tcp_fastopen_synack_timer())
        self._arm(child, "synack", self.now + TCP_TIMEOUT_INIT)
        return child

    def _fastopen_synack_timer(self, sk: Sock) -> None:
        """tcp_retransmit_timer() -> tcp_fastopen_synack_timer(): the SYN-ACK again, the
        interval doubling (req->timeout << num_timeout), one more try than
        tcp_synack_retries (or TCP_SYNCNT); then tcp_write_err(): ETIMEDOUT.  Measured over
        tun: a child left without its ACK resends the SYN-ACK at 1 s and 3 s.  Not
        modelled: tcp_enter_loss() at the second timeout (cwnd, undone at the ACK when
        nothing was sent)."""
        if sk.retries >= (sk.syncnt or self.profile.synack_retries + 1):
            self._act_error_ETIMEDOUT(sk, None)
            return
        self._act_send_synack(sk, None)  # inet_rtx_syn_ack()
        sk.retries += 1
        sk.total_retrans += 1
        self._arm(sk, "synack", self.now + TCP_TIMEOUT_INIT * 2 ** sk.retries)

    def _fastopen_remove(self, child: Sock) -> None:
        """reqsk_fastopen_remove(): the child's handshake is over (its ACK came, or it is
        done): the listener's fastopenq.qlen gives its place back (the RST case's wait on
        rskq_rst_head is not modelled)."""
        listener = self.socks.get(child.fastopen_rsk)
        if listener is not None and listener.fastopen_qlen > 0:
            listener.fastopen_qlen -= 1
        child.fastopen_rsk = 0
        child.timers.pop("synack", None)  # (tcp_rearm_rto(): the data's timer, if any)
        child.retries = 0  # tcp_rcv_synrecv_state_fastopen(): icsk_retransmits = 0


class TcpFastopenClient:
    """The client side of Fast Open (a mixin of Kernel, kernel.py).  A cookie is
    (exp, hex): exp for the experimental option (254, magic 0xF989), hex "" for a request;
    None where the kernel's cookie.len is -1 (no option)."""

    def _fastopen_metrics(self, sk: Sock, create: bool = False) -> dict | None:
        """tcp_get_metrics(): the destination's entry (by saddr and daddr)."""
        key = (sk.local[0], sk.remote[0])
        m = self.fastopen_cache.get(key)
        if m is None and create:
            m = self.fastopen_cache[key] = {"mss": 0, "cookie": None, "try_exp": 0,
                                            "syn_loss": 0}
        return m

    def _fastopen_cache_get(self, sk: Sock) -> tuple[int, tuple | None]:
        """tcp_fastopen_cache_get(): the cached MSS (0: none) and cookie; with none cached,
        a request, in the experimental option once a request in the RFC one went
        unanswered (try_exp 1)."""
        m = self._fastopen_metrics(sk)
        if m is None:
            return 0, (False, "")
        if m["cookie"] is not None:
            return m["mss"], m["cookie"]
        return m["mss"], (m["try_exp"] == 1, "")

    def _fastopen_cache_set(self, sk: Sock, mss: int, cookie: tuple | None, syn_lost: bool,
                            try_exp: int) -> None:
        """tcp_fastopen_cache_set(): the SYN-ACK's MSS, its cookie (4 to 16 bytes), or which
        option to ask with next time (try_exp: 1 the experimental one, 2 the RFC's again);
        syn_loss counted (not used: tcp_fastopen_cache_get() no longer backs off)."""
        m = self._fastopen_metrics(sk, create=True)
        if mss:
            m["mss"] = mss
        if cookie is not None and cookie[1]:
            m["cookie"] = cookie
        elif try_exp > m["try_exp"] and m["cookie"] is None:
            m["try_exp"] = try_exp
        m["syn_loss"] = m["syn_loss"] + 1 if syn_lost else 0

    def _fastopen_no_cookie(self, sk: Sock) -> bool:
        """tcp_fastopen_no_cookie(sk, dst, TFO_CLIENT_NO_COOKIE): the sysctl's bit, or the
        socket's TCP_FASTOPEN_NO_COOKIE (the route's RTAX_FASTOPEN_NO_COOKIE is not
        modelled)."""
        return bool(self.profile.fastopen & TFO_CLIENT_NO_COOKIE) or sk.fastopen_no_cookie

    def _fastopen_cookie_check(self, sk: Sock) -> tuple[bool, int, tuple | None]:
        """tcp_fastopen_cookie_check(): whether the SYN may carry data, with the cached
        MSS and the cookie the SYN carries (None: no option, in the no-cookie mode)."""
        mss, cookie = self._fastopen_cache_get(sk)
        if self._fastopen_no_cookie(sk):
            return True, mss, None
        if cookie[1]:
            return True, mss, cookie
        sk.fastopen_client_fail = TFO_COOKIE_UNAVAILABLE
        return False, mss, cookie

    def _fastopen_defer_connect(self, sk: Sock) -> bool:
        """tcp_fastopen_defer_connect(): with TCP_FASTOPEN_CONNECT, connect() sends no SYN
        when the first write may carry data (DEFER_CONNECT); else it sends one that asks
        for a cookie (a fastopen_req of no data, which stays until the socket is done)."""
        if not sk.fastopen_connect or sk.fastopen_req is not None:
            return False
        ok, _mss, _cookie = self._fastopen_cookie_check(sk)
        if ok:
            sk.defer_connect = True
            return True
        sk.fastopen_req = {"data": b"", "size": 0, "copied": 0, "sent": False}
        return False

    @staticmethod
    def _fastopen_opt(cookie: tuple) -> list:
        """tcp_options_write(): the option, NOP-padded to 32 bits ((len & 3) == 2)."""
        exp, hexv = cookie
        length = (4 if exp else 2) + len(hexv) // 2
        return [["FOEXP" if exp else "FO", hexv]] + (
            [["nop", None], ["nop", None]] if length & 3 == 2 else [])

    def _send_syn_data(self, sk: Sock, mss: int) -> None:
        """tcp_send_syn_data(), from tcp_connect(): with a cookie (or none needed) the SYN
        carries up to the cached MSS (else advmss), bounded by the path MTU, less
        MAX_TCP_OPTION_SPACE, of the data; the data joins the retransmit queue as an skb
        of its own (seq past the SYN, ACK|PSH); without, a SYN that asks for a cookie
        (fallback).  Retries carry no option (fo->cookie.len = -1)."""
        fo = sk.fastopen_req
        fo["sent"] = True
        ok, cached_mss, cookie = self._fastopen_cookie_check(sk)
        payload = b""
        if ok:
            mss_clamp = cached_mss or sk.advmss
            if sk.user_mss and sk.user_mss < mss_clamp:  # tcp_mss_clamp()
                mss_clamp = sk.user_mss
            # __tcp_mtu_to_mss(sk, icsk_pmtu_cookie): the MTU's MSS, at most mss_clamp
            space = min(self.profile.mss(sk.family), mss_clamp) - MAX_TCP_OPTION_SPACE
            space = max(0, min(space, fo["size"]))
            payload = fo["data"][:space]
        elif cookie is not None and cookie[1]:
            cookie = (cookie[0], "")
        opts = self._syn_options(sk, mss)
        if cookie is not None:
            # tcp_syn_options(): the option if the rest leaves room for it
            used = sum({"mss": 4, "wscale": 3, "TS": 10, "sackOK": 2}.get(o[0], 1) for o in opts)
            need = ((4 if cookie[0] else 2) + len(cookie[1]) // 2 + 3) & ~3
            if MAX_TCP_OPTION_SPACE - used >= need:
                opts = opts + self._fastopen_opt(cookie)
                sk.syn_fastopen, sk.syn_fastopen_exp = True, cookie[0]
        self._emit(sk, SYN, sk.iss, 0, min(self._initial_window(sk, mss), 65535), opts, payload)
        fo["copied"] = len(payload)
        if payload:
            sk.syn_data = True
            # tcp_connect_queue_skb(syn_data): write_seq, snd_nxt past the data; the skb
            # (TCPHDR_ACK | TCPHDR_PSH) in the retransmit queue
            end = (sk.iss + 1 + len(payload)) & 0xFFFFFFFF
            sk.snd_nxt = sk.write_seq = sk.pushed_seq = end
            # (one packet: its cb is the SYN's, tcp_skb_pcount() 1)
            self._packets_sent(sk, RtxSkb((sk.iss + 1) & 0xFFFFFFFF, bytes(payload), PSH,
                                          len(payload), self.now,
                                          burst=sk.xmit_burst, tx_delivered=sk.delivered))
        self._arm(sk, "retransmit", self.now + sk.rto)

    def sendmsg_fastopen(self, sid: int, data: bytes, flags: int, to) -> tuple[int, int]:
        """tcp_sendmsg_locked() -> tcp_sendmsg_fastopen(): (errno, bytes the SYN took).
        to: the address (host, port), ("family", AF), or None.  EOPNOTSUPP without the
        client bit or for AF_UNSPEC; EALREADY while another is under way; a deferred
        connect's SYN goes now (tcp_connect()); then __inet_stream_connect(): EINPROGRESS
        for a new or deferred connect, EALREADY while one is under way, 0 once connected
        (a socket still SS_CONNECTING), EISCONN after."""
        sk = self.socks[sid]
        family = to[1] if to is not None and to[0] == "family" else None
        if not self.profile.fastopen & TFO_CLIENT_ENABLE or family == 0:
            return E.EOPNOTSUPP, 0
        if sk.fastopen_req is not None:
            return E.EALREADY, 0
        sk.fastopen_req = {"data": bytes(data), "size": len(data), "copied": 0, "sent": False}
        if sk.defer_connect:
            self._act_send_syn(sk, None)  # tcp_connect()
        if to is None or family is not None:
            addr = None
        else:
            addr = to[1]
        if addr is None and sk.sock_state == "unconnected":
            err = E.EINVAL  # tcp_v4_connect(): addr_len < sizeof(struct sockaddr_in)
        else:
            err = self.connect(sid, addr, is_sendmsg=True)
        copied = sk.fastopen_req["copied"] if sk.fastopen_req is not None else 0
        sk.fastopen_req = None  # tcp_free_fastopen_req()
        sk.defer_connect = False
        return err, copied

    @staticmethod
    def _synack_cookie(seg: Seg) -> tuple | None:
        """tcp_parse_fastopen_option() on a SYN-ACK: an even length of 4 to 16 bytes is a
        cookie; another even length, an empty one; an odd one, none."""
        for name, value in seg.options:
            if name in ("FO", "FOEXP"):
                n = len(value or "") // 2
                if n & 1:
                    return None
                return (name == "FOEXP", value if 4 <= n <= 16 else "")
        return None

    def _rcv_fastopen_synack(self, sk: Sock, seg: Seg, peer_mss: int) -> bool:
        """tcp_rcv_fastopen_synack(), after tcp_ack() took off what the SYN-ACK covers: the
        cookie and MSS cached (an unsolicited cookie ignored; after a SYN timeout with data
        unacknowledged and no cookie, a SYN loss; a request unanswered, the other option
        next time); data left unacknowledged marked lost and sent again at once
        (tcp_non_congestion_loss_retransmit()): True, and no ACK of the SYN-ACK."""
        data = bool(sk.syn_data and sk.rtxq)
        cookie = self._synack_cookie(seg)
        syn_drop, try_exp = False, 0
        if not sk.syn_fastopen:
            cookie = None
        elif sk.total_retrans:
            syn_drop = cookie is None and data
        elif cookie is None and not sk.syn_data:
            try_exp = 2 if sk.syn_fastopen_exp else 1
        self._fastopen_cache_set(sk, peer_mss, cookie, syn_drop, try_exp)
        if data:
            sk.fastopen_client_fail = (TFO_SYN_RETRANSMITTED if sk.total_retrans
                                       else TFO_DATA_NOT_ACKED)
            return True
        sk.syn_data_acked = sk.syn_data
        return False

    def _fastopen_retransmit(self, sk: Sock) -> None:
        """tcp_rcv_fastopen_synack(): tcp_mark_skb_lost() on what is left, then
        tcp_non_congestion_loss_retransmit(): TCP_CA_Loss (high_seq, ssthresh, no undo),
        tcp_xmit_retransmit_queue(), which arms the RTO for the head it resent."""
        for i, skb in enumerate(sk.rtxq):
            if not skb.lost:
                sk.rtxq[i] = skb._replace(lost=True)
                sk.lost_out += skb.pcount
        if not sk.ca_loss:
            sk.high_seq = sk.snd_nxt
            sk.snd_ssthresh = self._current_ssthresh(sk)
            sk.ca_loss = True
        self._xmit_retransmit_queue(sk)
        jiffies = self._usecs_to_jiffies(round(sk.rto * 1e6))
        self._arm(sk, "retransmit", self._wheel_deadline(jiffies))
