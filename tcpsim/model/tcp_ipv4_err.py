"""ICMP errors about TCP connections (tcp_ipv4.c tcp_v4_err(), tcp_req_err()): a mixin of
Kernel (kernel.py).  What the model follows: the lookup by the echoed packet's own 4-tuple,
the echoed seq's window check, soft errors (sk_err_soft, read by SO_ERROR and taken by
tcp_write_err() instead of ETIMEDOUT), hard errors in SYN_SENT (tcp_done_with_error()), and
the request socket dropped by tcp_req_err().  Not modelled, and refused by name (Unsupported
from receive_icmp()): PMTU discovery (frag_needed: tcp_v4_mtu_reduced()) and the RTO revert
of RFC 6069 (tcp_ld_RTO_revert(), when a backed-off retransmission is pending)."""

from __future__ import annotations

import errno as E

from .sock import Sock, seq_lt

ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT = 3, 4, 5
ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB = 11, 12
ICMP_NET_UNREACH, ICMP_HOST_UNREACH, ICMP_FRAG_NEEDED = 0, 1, 4
NR_ICMP_UNREACH = 15
# icmp.c icmp_err_convert[]: the errno of each "unreachable" code
ICMP_ERR_CONVERT = (E.ENETUNREACH, E.EHOSTUNREACH, E.ENOPROTOOPT, E.ECONNREFUSED, E.EMSGSIZE,
                    E.EOPNOTSUPP, E.ENETUNREACH, E.EHOSTDOWN, E.ENONET, E.ENETUNREACH,
                    E.EHOSTUNREACH, E.ENETUNREACH, E.EHOSTUNREACH, E.EHOSTUNREACH,
                    E.EHOSTUNREACH, E.EHOSTUNREACH)


# the counters the model keeps (Kernel.mib), by nstat's names
MIB_COUNTERS = ("TcpExtOutOfWindowIcmps",)


class IcmpNotModelled(Exception):
    """An ICMP message whose effect the model lacks: the message names it."""


def _between(seq: int, lo: int, hi: int) -> bool:
    """between(): lo <= seq <= hi in sequence space."""
    return not seq_lt(seq, lo) and not seq_lt(hi, seq)


class TcpIpv4Err:
    """tcp_v4_err() for the model's sockets (a mixin of Kernel)."""

    def receive_icmp(self, src: str, dst: str, kind: int, code: int, mtu: int | None,
                     echoed: tuple) -> None:
        """An ICMPv4 error from src to dst about the packet `echoed` (its source, its
        destination, seq, length): one this host sent."""
        esrc, edst, seq, _ = echoed
        sid = self.ehash.get((esrc, edst))  # __inet_lookup_established(): no listeners
        if sid is None:
            return  # ICMP_MIB_INERRORS
        sk: Sock = self.socks[sid]
        if sk.kind == "timewait":
            return
        if sk.kind == "request":
            # tcp_req_err(): only about the SYN-ACK's own seq; net or host unreachable,
            # time exceeded and parameter problem drop the request silently
            # (inet_csk_reqsk_queue_drop()), the rest leave it
            abort = kind in (ICMP_PARAMETERPROB, ICMP_TIME_EXCEEDED) or (
                kind == ICMP_DEST_UNREACH and code in (ICMP_NET_UNREACH, ICMP_HOST_UNREACH))
            if seq == sk.iss and abort:
                self._set_state(sk, "CLOSE", "icmp_error", "tcp_req_err()")
                self._free(sk)
            return
        if sk.state == "CLOSE":
            return
        # tcp_v4_err(): a Fast Open child still in SYN_RECV takes its window from the ISN
        # (tcp_rsk(fastopen)->snt_isn: its SYN-ACK's seq), not snd_una
        snd_una = sk.iss if sk.fastopen_rsk else sk.snd_una
        if sk.state != "LISTEN" and not _between(seq, snd_una, sk.snd_nxt):
            # __NET_INC_STATS(net, LINUX_MIB_OUTOFWINDOWICMPS)
            self.mib["TcpExtOutOfWindowIcmps"] = self.mib.get("TcpExtOutOfWindowIcmps", 0) + 1
            return
        if kind == ICMP_PARAMETERPROB:
            err = E.EPROTO
        elif kind == ICMP_DEST_UNREACH:
            if code > NR_ICMP_UNREACH:
                return
            if code == ICMP_FRAG_NEEDED:
                raise IcmpNotModelled("PMTU discovery (an ICMP frag_needed: "
                                      "tcp_v4_mtu_reduced())")
            err = ICMP_ERR_CONVERT[code]
            if code in (ICMP_NET_UNREACH, ICMP_HOST_UNREACH) and seq == sk.snd_una and \
                    sk.retries and sk.backoff:
                raise IcmpNotModelled("the RTO revert of RFC 6069 (tcp_ld_RTO_revert())")
        elif kind == ICMP_TIME_EXCEEDED:
            err = E.EHOSTUNREACH
        else:  # a redirect (a route's business), a source quench (ignored), another type
            if kind == ICMP_REDIRECT:
                raise IcmpNotModelled("ICMP redirects (do_redirect())")
            return
        if sk.state in ("SYN_SENT", "SYN_RECV"):
            # the socket's own SYN unanswered, or a Fast Open child's SYN-ACK (its request's
            # fastopen->sk is the child): tcp_done_with_error() -- sk_err, then tcp_done()
            sk.err = err
            self._set_state(sk, "CLOSE", "icmp_error", "tcp_v4_err() -> tcp_done_with_error()")
            self._done(sk)
            return
        # connected: "we will keep trying until we time out" -- a soft error (without
        # IP_RECVERR, which the model does not take)
        sk.err_soft = err
