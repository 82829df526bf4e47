"""A sans-I/O model of the Linux TCP stack.

Events go in with the time passed in: a socket call, an arriving segment, timers firing.
Actions come out: segments in `outbox`, call results (or OSError with Linux's errno, as the
real socket API raises them), and timers to arm (next_timer()).  No sockets, threads, clock
reads or printing here; all state is plain data, cheap to copy.

State changes follow the table in table.py; the functions named in comments are the kernel's
(net/ipv4/tcp*.c, net/ipv4/af_inet.c) whose behaviour each piece reproduces.
"""

from __future__ import annotations

import errno as E
import random

from .profile import KernelProfile
# the plain data, and every name other modules import from here (sim/, pkt/, the tests)
from .sock import (ACK, FIN, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM,  # noqa: F401
                   POLLWRNORM, PSH, RCV_SHUTDOWN, RST, SEND_SHUTDOWN, SKB_OVERHEAD,
                   SOCK_CONTAINERS, SYN, TCP_MAX_QUICKACKS, TCP_MAX_WSCALE, TCP_MIN_MSS_DEFAULT,
                   TCP_RTO_MIN, TCP_TIMEOUT_INIT, TCP_TIMEWAIT_LEN, TCPOLEN_TSTAMP_ALIGNED, _FIELDS,
                   Seg, Sock, _oserror, seq_le, seq_lt)
from .table import rule
from .tcp_input import TcpInput
from .tcp_minisocks import TcpMinisocks
from .tcp_output import TcpOutput
from .tcp_timer import TcpTimers


class _Random(random.Random):
    """The kernel's random source (ISNs, ports, TS offsets), copied for the explorer's
    snapshots through its state, not by walking the 625 words of it one by one."""

    def __deepcopy__(self, memo: dict) -> "_Random":
        new = _Random(0)
        new.setstate(self.getstate())
        memo[id(self)] = new
        return new


class Kernel(TcpInput, TcpOutput, TcpTimers, TcpMinisocks):
    """One Linux kernel's TCP, on loopback."""

    def __init__(self, profile: KernelProfile, seed: int = 0, addresses=("127.0.0.1", "::1")):
        self.profile = profile
        self.rng = _Random(seed)
        self.now = 0.0
        self.socks: dict[int, Sock] = {}
        self.next_id = 1
        self.ehash: dict[tuple, int] = {}  # (local, remote) -> sock id
        self.outbox: list[Seg] = []
        self.addresses = tuple(addresses)  # the first of each family is the source address
        self.log: list[tuple] = []  # (time, id, local, remote, from, to, event, ref): every change
        self.armed = 0  # counts timer arming; timers due at once fire newest first
        self.covered: set[tuple[str, str]] = set()  # (state, event) rules followed so far

    # -- bookkeeping ---------------------------------------------------------------------
    def _new(self, **kw) -> Sock:
        s = Sock(id=self.next_id, **kw)
        self.next_id += 1
        self.socks[s.id] = s
        return s

    def _free(self, sk: Sock) -> None:
        self._unhash(sk)
        self.socks.pop(sk.id, None)

    def _unhash(self, sk: Sock) -> None:
        key = (sk.local, sk.remote)
        if self.ehash.get(key) == sk.id:
            del self.ehash[key]

    def _hash(self, sk: Sock) -> None:
        self.ehash[(sk.local, sk.remote)] = sk.id

    def _set_state(self, sk: Sock, state: str, event: str = "", ref: str = "") -> None:
        if sk.state != state:
            self.log.append((self.now, sk.id, sk.local, sk.remote, sk.state, state, event, ref))
        sk.state = state

    def _transition(self, sk: Sock, event: str, seg: Seg | None = None) -> None:
        """Follow the table: the row for (state, event) gives the next state and the actions."""
        r = rule(sk.state, event)
        if r is None:
            raise AssertionError(f"no rule for {event} in {sk.state}")  # a model bug
        self.covered.add((r.state, r.event))
        self._set_state(sk, r.next, event, r.ref)
        for action in r.actions:
            getattr(self, "_act_" + action)(sk, seg)

    def sock(self, sid: int) -> Sock:
        return self.socks[sid]

    # -- clocks and numbers --------------------------------------------------------------
    def _ts_val(self, sk: Sock) -> int:
        return (int(self.now * 1000) + sk.ts_offset) & 0xFFFFFFFF  # TCP_TS_HZ = 1000

    def _isn(self) -> int:
        return self.rng.getrandbits(32)

    def _ephemeral(self, family: int, parity: int) -> int:
        """__inet_hash_connect() picks even ports for connect(), inet_csk_get_port() odd ones."""
        lo, hi = self.profile.local_port_range
        used = {s.local[1] for s in self.socks.values() if s.local}
        for _ in range(1000):
            port = self.rng.randrange(lo, hi + 1) & ~1 | parity
            if lo <= port <= hi and port not in used:
                return port
        raise _oserror(E.EADDRNOTAVAIL)

    # -- actions named in the table ------------------------------------------------------
    def _done(self, sk: Sock) -> None:
        """tcp_done(): CLOSE, unhashed; an address the kernel chose is given back."""
        sk.timers.clear()
        sk.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN
        self._unhash(sk)
        if sk.local and not sk.addr_locked and sk.kind == "full":
            sk.local = ("0.0.0.0" if sk.family == 2 else "::", sk.local[1])
        if not sk.port_locked and sk.kind == "full" and sk.state != "LISTEN":
            sk.bound = False  # inet_put_port(): the port goes back; getsockname() still shows it
        if sk.orphan or sk.kind != "full":
            self._free(sk)

    def _act_reset_children(self, sk: Sock, seg: Seg | None) -> None:
        """inet_csk_listen_stop(): children nobody accepted are disconnected with RST."""
        for cid in list(sk.accept_queue):
            child = self.socks[cid]
            if child.state in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV"):
                self._act_send_active_rst(child, None)
            child.orphan = True
            self._set_state(child, "CLOSE", "listener_closed", "inet_child_forget()")
            self._done(child)
        sk.accept_queue.clear()
        for other in list(self.socks.values()):
            if other.kind == "request" and other.parent == sk.id:
                self._free(other)

    # -- the socket calls ----------------------------------------------------------------
    def socket(self, family: int) -> int:
        sk = self._new(family=family)
        sk.ts_offset = self.rng.getrandbits(32)
        sk.ip_id = self.rng.getrandbits(16)
        return sk.id

    def _bind_conflict(self, sk: Sock, addr: tuple) -> bool:
        """inet_csk_bind_conflict(): SO_REUSEADDR on both sides, and no listener, allow sharing."""
        for other in self.socks.values():
            if other is sk or not other.bound or not other.local or other.local[1] != addr[1]:
                continue
            if other.family != sk.family and not (other.local[0] in ("::", "0.0.0.0")):
                continue
            wild = addr[0] in ("0.0.0.0", "::") or other.local[0] in ("0.0.0.0", "::")
            if not wild and other.local[0] != addr[0]:
                continue
            if sk.reuseaddr and other.reuseaddr and other.state != "LISTEN":
                continue
            return True
        return False

    def bind(self, sid: int, addr: tuple) -> None:
        sk = self.socks[sid]
        if sk.state != "CLOSE" or sk.bound:
            raise _oserror(E.EINVAL)  # inet_bind(): already bound
        host, port = addr[0], addr[1]
        if host not in ("0.0.0.0", "::") and host not in self.addresses:
            raise _oserror(E.EADDRNOTAVAIL)
        if port == 0:
            port = self._ephemeral(sk.family, 1)
        if self._bind_conflict(sk, (host, port)):
            raise _oserror(E.EADDRINUSE)
        sk.local, sk.bound = (host, port), True
        sk.addr_locked = host not in ("0.0.0.0", "::")
        sk.port_locked = addr[1] != 0

    def listen(self, sid: int, backlog: int) -> None:
        sk = self.socks[sid]
        if sk.sock_state != "unconnected" or sk.state not in ("CLOSE", "LISTEN"):
            raise _oserror(E.EINVAL)  # inet_listen()
        sk.backlog = max(0, min(backlog, self.profile.somaxconn))
        if sk.state == "LISTEN":
            return
        if not sk.bound:  # inet_csk_listen_start() autobinds
            any_addr = "0.0.0.0" if sk.family == 2 else "::"
            sk.local, sk.bound = (any_addr, self._ephemeral(sk.family, 1)), True
        elif self._bind_conflict_listen(sk):
            raise _oserror(E.EADDRINUSE)
        self._transition(sk, "listen")

    def _bind_conflict_listen(self, sk: Sock) -> bool:
        return any(o is not sk and o.state == "LISTEN" and o.local and o.local[1] == sk.local[1]
                   for o in self.socks.values())

    def accept(self, sid: int) -> int:
        sk = self.socks[sid]
        if sk.state != "LISTEN":
            raise _oserror(E.EINVAL)
        if not sk.accept_queue:
            raise _oserror(E.EAGAIN)
        child = self.socks[sk.accept_queue.pop(0)]
        child.sock_state = "connected"
        child.parent = None
        return child.id

    def connect(self, sid: int, addr: tuple) -> int:
        """__inet_stream_connect() as a non-blocking call: 0, or an errno (EINPROGRESS...)."""
        sk = self.socks[sid]
        if sk.sock_state == "connected":
            return E.EISCONN
        if sk.sock_state == "connecting":
            if sk.state in ("SYN_SENT", "SYN_RECV"):
                return E.EALREADY
            if sk.state == "CLOSE":
                err, sk.err = sk.err or E.ECONNABORTED, 0  # sock_error: the pending error
                sk.sock_state = "unconnected"
                # ... and sk_prot->disconnect(): tcp_disconnect() clears sk_shutdown and
                # SOCK_DONE, so a recv() after a refused connect() fails with ENOTCONN
                # rather than reading end-of-file (seen by lab --free on the seed program)
                sk.shutdown, sk.done = 0, False
                return err
            sk.sock_state = "connected"
            return 0
        if sk.state != "CLOSE":
            return E.EISCONN
        # tcp_v4_connect()
        if not sk.bound:
            try:
                port = self._ephemeral(sk.family, 0)
            except OSError as e:  # no free port in ip_local_port_range: connect() fails
                return e.errno
            sk.local = (self._source(sk.family), port)
            sk.bound = True
        elif sk.local[0] in ("0.0.0.0", "::"):
            sk.local = (self._source(sk.family), sk.local[1])
        sk.remote = (addr[0], addr[1])
        if self.ehash.get((sk.local, sk.remote)) not in (None, sk.id):
            return E.EADDRNOTAVAIL
        self._hash(sk)
        sk.iss = self._isn()
        sk.snd_una = sk.snd_nxt = sk.write_seq = sk.iss
        sk.snd_nxt = (sk.iss + 1) & 0xFFFFFFFF
        sk.write_seq = sk.snd_nxt
        self._init_options(sk)
        mss = self.profile.mss(sk.family)
        sk.advmss = mss
        sk.rcv_wnd = self._initial_window(sk, mss)
        sk.rcv_ssthresh = sk.rcv_wnd
        sk.retries, sk.rto, sk.retrans_stamp = 0, TCP_TIMEOUT_INIT, self.now
        sk.err = 0
        sk.sock_state = "connecting"
        self._transition(sk, "connect")
        return E.EINPROGRESS

    def _source(self, family: int) -> str:
        """The source address a route gives (ip_route_connect()): the host's one address of
        the family (loopback for the lab's programs, the tun address for packetdrill's)."""
        return next(a for a in self.addresses if (":" in a) == (family == 10))

    def _init_options(self, sk: Sock) -> None:
        p = self.profile
        sk.ts_ok, sk.sack_ok, sk.ws_ok = p.timestamps, p.sack, p.window_scaling
        sk.rcv_wscale = p.rcv_wscale if p.window_scaling else 0

    def send(self, sid: int, data: bytes, flags: int = 0) -> int:
        """tcp_sendmsg_locked() without blocking."""
        sk = self.socks[sid]
        if sk.state not in ("ESTABLISHED", "CLOSE_WAIT"):
            if sk.err:
                err, sk.err = sk.err, 0
                raise _oserror(err)
            if sk.state not in ("SYN_SENT", "SYN_RECV"):
                raise _oserror(self._stream_error(sk))
            raise _oserror(E.EAGAIN)
        if sk.err or sk.shutdown & SEND_SHUTDOWN:
            raise _oserror(self._stream_error(sk))
        if not data:
            return 0
        sk.unsent += data
        sk.write_seq = (sk.write_seq + len(data)) & 0xFFFFFFFF
        sk.push_end = sk.write_seq
        self._push(sk)
        return len(data)

    @staticmethod
    def _stream_error(sk: Sock) -> int:
        """sk_stream_error(): a pending error first, else EPIPE."""
        if sk.err:
            err, sk.err = sk.err, 0
            return err
        return E.EPIPE

    def recv(self, sid: int, n: int, flags: int = 0) -> bytes:
        """tcp_recvmsg_locked() without blocking."""
        sk = self.socks[sid]
        if sk.state == "LISTEN":
            raise _oserror(E.ENOTCONN)
        peek = bool(flags & 0x2)
        out = bytearray()
        queue = sk.rcvq if not peek else list(sk.rcvq)
        while queue and len(out) < n:
            head = queue[0]
            if head == b"":  # the FIN: reading it (EOF) takes its skb off the queue
                if not out and not peek:
                    queue.pop(0)
                break
            take = head[: n - len(out)]
            out += take
            if len(take) == len(head):
                queue.pop(0)
            else:
                queue[0] = head[len(take):]
        if out:
            if not peek:
                if queue and queue[0] == b"":
                    queue.pop(0)  # tcp_recvmsg() walks on to a FIN right behind the data and eats it
                self._cleanup_rbuf(sk)
            return bytes(out)
        if sk.done:
            return b""
        if sk.err:
            err, sk.err = sk.err, 0
            raise _oserror(err)
        if sk.shutdown & RCV_SHUTDOWN:
            return b""
        if sk.state == "CLOSE":
            raise _oserror(E.ENOTCONN)
        raise _oserror(E.EAGAIN)

    def _cleanup_rbuf(self, sk: Sock) -> None:
        """tcp_cleanup_rbuf(): ACK now after reading small pushed data, unless in pingpong."""
        if sk.ack_sched and (sk.ack_pushed >= 2 or (sk.ack_pushed and not sk.pingpong)):
            self._send_ack(sk)

    def shutdown(self, sid: int, how: int) -> None:
        """inet_shutdown() and tcp_shutdown()."""
        sk = self.socks[sid]
        mask = how + 1  # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN
        if sk.sock_state == "connecting":
            sk.sock_state = "unconnected" if sk.state in ("SYN_SENT", "SYN_RECV", "CLOSE") \
                else "connected"
        if sk.state == "CLOSE":
            sk.shutdown |= mask
            raise _oserror(E.ENOTCONN)
        if sk.state == "LISTEN":
            if mask & RCV_SHUTDOWN:
                self._transition(sk, "close")  # tcp_disconnect() of a listener stops it
            return
        sk.shutdown |= mask
        if mask & SEND_SHUTDOWN and sk.state in ("ESTABLISHED", "CLOSE_WAIT"):
            self._transition(sk, "shutdown_wr")

    def close(self, sid: int) -> None:
        """__tcp_close(): FIN, or RST with unread data or SO_LINGER {1, 0}; the fd goes."""
        sk = self.socks[sid]
        sk.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN
        sk.orphan = True
        unread = any(p for p in sk.rcvq if p)
        sk.rcvq = [p for p in sk.rcvq if not p]
        if sk.state == "LISTEN":
            self._transition(sk, "close")
        elif unread and rule(sk.state, "close_unread"):
            self._transition(sk, "close_unread")
        elif sk.linger and sk.linger[0] and sk.linger[1] == 0 and rule(sk.state, "close_linger0"):
            self._transition(sk, "close_linger0")
        elif rule(sk.state, "close"):
            self._transition(sk, "close")
        if sk.state == "FIN_WAIT2":
            self._orphan_fin_wait2(sk)
        if sk.state == "CLOSE":
            self._done(sk)
            self._free(sk)

    def setsockopt(self, sid: int, level: int, opt: int, value) -> None:
        sk = self.socks[sid]
        if (level, opt) == (1, 2):
            sk.reuseaddr = bool(value)
        elif (level, opt) == (1, 13):
            import struct

            sk.linger = struct.unpack("ii", value) if isinstance(value, bytes) else (value, 0)
        elif (level, opt) == (6, 1):
            sk.nodelay = bool(value)
            if sk.nodelay:
                self._push(sk)
        elif (level, opt) == (6, 7):
            if not 1 <= value <= 127:
                raise _oserror(E.EINVAL)
            sk.syncnt = value
        elif (level, opt) == (1, 8):
            sk.rcvbuf = max(2304, min(value, self.profile.rmem_max) * 2)  # sock_setsockopt()
        elif (level, opt) == (1, 7):
            sk.sndbuf = max(4608, min(value, int(self.profile.sysctls.get("net.core.wmem_max",
                                                                          212992))) * 2)
        else:
            sk.opts[(level, opt)] = value

    def getsockopt(self, sid: int, level: int, opt: int):
        sk = self.socks[sid]
        if (level, opt) == (1, 4):
            err, sk.err = sk.err, 0  # SO_ERROR reads and clears sk_err
            return err
        if (level, opt) == (1, 2):
            return int(sk.reuseaddr)
        if (level, opt) == (1, 13):
            return sk.linger or (0, 0)
        if (level, opt) == (6, 1):
            return int(sk.nodelay)
        if (level, opt) == (6, 7):
            return sk.syncnt or self.profile.syn_retries
        if (level, opt) == (1, 8):
            return sk.rcvbuf or self.profile.rmem[1]
        if (level, opt) == (1, 7):
            return sk.sndbuf or self.profile.wmem[1]
        return int(sk.opts.get((level, opt), 0))

    def poll(self, sid: int) -> int:
        """tcp_poll() (and inet_csk_listen_poll() for a listener)."""
        sk = self.socks[sid]
        if sk.state == "LISTEN":
            return POLLIN | POLLRDNORM if sk.accept_queue else 0
        mask = 0
        if sk.shutdown == RCV_SHUTDOWN | SEND_SHUTDOWN or sk.state == "CLOSE":
            mask |= POLLHUP
        if sk.shutdown & RCV_SHUTDOWN:
            mask |= POLLIN | POLLRDNORM | POLLRDHUP
        if sk.state not in ("SYN_SENT", "SYN_RECV"):
            if any(sk.rcvq):
                mask |= POLLIN | POLLRDNORM
            mask |= POLLOUT | POLLWRNORM
        if sk.err:
            mask |= POLLERR
        return mask

    def tcp_info(self, sid: int) -> dict:
        sk = self.socks[sid]
        info = {"state": sk.state if sk.kind == "full" else "CLOSE"}
        if sk.state == "LISTEN":
            info["queue"], info["backlog"] = len(sk.accept_queue), sk.backlog
        return info

    def table(self) -> list[tuple]:
        """Every socket the kernel's tables hold, as sock_diag shows them (request socks as
        SYN_RECV, timewait socks in their substate)."""
        out = []
        for s in self.socks.values():
            if s.state == "LISTEN":
                out.append((s.local, ("0.0.0.0" if s.family == 2 else "::", 0), "LISTEN"))
            elif self.ehash.get((s.local, s.remote)) == s.id:
                out.append((s.local, s.remote, "SYN_RECV" if s.kind == "request" else s.state))
        return out
