"""TCP Fast Open, the server side, as net/ipv4/tcp_fastopen.c does it.

A SYN to a listener that has a Fast Open queue (TCP_FASTOPEN's qlen, or listen()'s backlog
with net.ipv4.tcp_fastopen's 0x400) may carry the Fast Open option (RFC 7413's kind 34, or
the experimental 254 with magic 0xF989): empty, it asks for a cookie, which the SYN-ACK
carries (tcp_fastopen_cookie_gen()); with the right cookie (or none needed: 0x200), the SYN's
data is taken at once: tcp_try_fastopen() makes the child socket (tcp_fastopen_create_child())
in SYN_RECV, in the accept queue before the handshake's ACK, its data readable, and the
SYN-ACK acknowledges the data.  The cookie is SipHash-2-4 of the SYN's source and destination
addresses under the key of net.ipv4.tcp_fastopen_key (__tcp_fastopen_cookie_gen_cipher()).
Not modelled: the client side (MSG_FASTOPEN, TCP_FASTOPEN_CONNECT, the cookie cache),
TCP_FASTOPEN_NO_COOKIE, getsockopt(TCP_FASTOPEN_KEY), IPv6 cookies, the backup key, the
SYN-ACK's retransmission by the child's timer (tcp_fastopen_synack_timer()), a FIN on the
SYN.
"""

from __future__ import annotations

import ipaddress
import struct

from .eventpoll import KEY_DATA_READY
from .sock import FIN, TCP_TIMEOUT_INIT, Seg, Sock

# include/net/tcp.h: net.ipv4.tcp_fastopen's bits
TFO_CLIENT_ENABLE, TFO_SERVER_ENABLE = 0x1, 0x2
TFO_SERVER_COOKIE_NOT_REQD, TFO_SERVER_WO_SOCKOPT1 = 0x200, 0x400
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
