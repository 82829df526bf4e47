"""The socket calls, as af_inet.c, inet_connection_sock.c and tcp.c make them.

socket(), bind() and its conflict rules (inet_bind(), inet_csk_bind_conflict()), the ports
the kernel picks (inet_csk_get_port(), __inet_hash_connect()), listen(), accept(), connect()
(__inet_stream_connect(), tcp_v4_connect()), send() (tcp_sendmsg_locked()), recv()
(tcp_recvmsg_locked(), tcp_cleanup_rbuf()), shutdown() (inet_shutdown(), tcp_shutdown()),
close() (__tcp_close()), setsockopt() and getsockopt() (sock_setsockopt(), do_tcp_setsockopt()),
poll() (tcp_poll()) and TCP_INFO; and how a socket ends: tcp_done(), and
inet_csk_listen_stop() for the children of a closed listener.

Each call classifies what happens into an event of the table (table.py) and follows its row
(Kernel._transition); the segments go out through tcp_output.py.
"""

from __future__ import annotations

import errno as E

from .sock import (COPY_SECONDS_PER_BYTE, EOR, FIN, SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRNORM,
                   PSH, RCV_SHUTDOWN, SEND_SHUTDOWN, SKB_TX_TRUESIZE, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF,
                   TCP_NAGLE_CORK, TCP_NAGLE_OFF, TCP_NAGLE_PUSH,
                   MAX_TCP_WINDOW, TCP_MIN_MSS,
                   TCP_TIMEOUT_INIT, Seg, Sock, _oserror, seq_lt)
from .eventpoll import KEY_WRITE_SPACE
from .table import rule


MSG_MORE = 0x8000
MSG_EOR = 0x80


def _family_mismatch(sk: Sock, family: int | None) -> int:
    """The errno of a bind() or connect() given an address of the other family, 0 if none.
    An AF_INET socket takes the 28 bytes of a sockaddr_in6 and refuses its family
    (__inet_bind(), tcp_v4_connect(): EAFNOSUPPORT); an AF_INET6 socket refuses the 16
    bytes of a sockaddr_in as too short (SIN6_LEN_RFC2133 is 24: __inet6_bind(),
    tcp_v6_connect(): EINVAL).  (On the kernel an AF_INET6 socket reaches an IPv4 peer by
    its mapped form, [::ffff:127.0.0.1]; the model does not model mapped addresses yet.)"""
    if family is None or family == sk.family:
        return 0
    return E.EAFNOSUPPORT if sk.family == 2 else E.EINVAL


class TcpCalls:
    """The socket calls of one kernel (a mixin of Kernel, kernel.py)."""

    # -- the socket calls (af_inet.c, tcp.c) ---------------------------------------------
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

    def bind(self, sid: int, addr: tuple, family: int | None = None) -> None:
        """inet_bind_sk() / inet6_bind_sk().  `family`: the address's (2 or 10), if it may
        differ from the socket's."""
        sk = self.socks[sid]
        err = _family_mismatch(sk, family)
        if err:
            raise _oserror(err)
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
        self.changed.add(sid)
        sk.addr_locked = host not in ("0.0.0.0", "::")
        sk.port_locked = addr[1] != 0

    def listen(self, sid: int, backlog: int) -> None:
        sk = self.socks[sid]
        if sk.sock_state != "unconnected" or sk.state not in ("CLOSE", "LISTEN"):
            raise _oserror(E.EINVAL)  # inet_listen()
        sk.backlog = max(0, min(backlog, self.profile.somaxconn))
        self.changed.add(sid)
        if sk.state == "LISTEN":
            return
        if not sk.bound:  # inet_csk_listen_start() autobinds
            any_addr = "0.0.0.0" if sk.family == 2 else "::"
            sk.local, sk.bound = (any_addr, self._ephemeral(sk.family, 1)), True
        elif self._bind_conflict_listen(sk):
            raise _oserror(E.EADDRINUSE)
        self._fastopen_listen(sk)  # inet_listen(): TFO_SERVER_WO_SOCKOPT1
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
        self.changed.update((sid, child.id))
        child.sock_state = "connected"
        child.parent = None
        return child.id

    def connect(self, sid: int, addr: tuple, is_sendmsg: bool = False,
                family: int | None = None) -> int:
        """__inet_stream_connect() as a non-blocking call: 0, or an errno (EINPROGRESS...).
        is_sendmsg: from tcp_sendmsg_fastopen().  `family`: the address's (2 or 10), if it
        may differ from the socket's."""
        sk = self.socks[sid]
        if sk.sock_state == "connected":
            return E.EISCONN
        if sk.sock_state == "connecting":
            if sk.defer_connect:  # SS_CONNECTING with DEFER_CONNECT (Fast Open)
                return E.EINPROGRESS if is_sendmsg else E.EISCONN
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
        err = _family_mismatch(sk, family)  # tcp_v4_connect() / tcp_v6_connect() check first
        if err:
            return err
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
        self.changed.add(sk.id)
        if self.ehash.get((sk.local, sk.remote)) not in (None, sk.id):
            return E.EADDRNOTAVAIL
        self._hash(sk)
        sk.iss = self._isn()
        sk.snd_una = sk.snd_nxt = sk.write_seq = sk.iss
        sk.snd_nxt = (sk.iss + 1) & 0xFFFFFFFF
        sk.write_seq = sk.pushed_seq = sk.snd_nxt  # tcp_connect()
        sk.snd_sml = sk.snd_nxt  # tcp_connect_init(): no small segment sent yet
        self._init_options(sk)
        mss = self.profile.mss(sk.family)
        if sk.user_mss and sk.user_mss < mss:  # tcp_connect_init(): tcp_mss_clamp()
            mss = sk.user_mss
        sk.advmss = mss
        sk.rcv_wnd = self._initial_window(sk, mss)
        sk.rcv_ssthresh = sk.rcv_wnd
        sk.retries, sk.rto, sk.retrans_stamp = 0, TCP_TIMEOUT_INIT, self.now
        sk.err = 0
        sk.sock_state = "connecting"
        if self._fastopen_defer_connect(sk):  # tcp_v4_connect(): SYN_SENT, no SYN yet
            self._set_state(sk, "SYN_SENT", "connect", "tcp_fastopen_defer_connect()")
            return 0
        self._transition(sk, "connect")
        return E.EINPROGRESS

    def _source(self, family: int) -> str:
        """The source address a route gives (ip_route_connect()): the host's one address of
        the family (loopback for the lab's programs, the tun address for packetdrill's)."""
        return next(a for a in self.addresses if (":" in a) == (family == 10))

    def _init_options(self, sk: Sock) -> None:
        p = self.profile
        sk.ts_ok, sk.sack_ok, sk.ws_ok = p.timestamps, p.sack, p.window_scaling
        sk.rcv_wscale = self._rcv_wscale(sk) if p.window_scaling else 0

    def send(self, sid: int, data: bytes, flags: int = 0) -> int:
        """tcp_sendmsg_locked() without blocking."""
        sk = self.socks[sid]
        if sk.state not in ("ESTABLISHED", "CLOSE_WAIT") and not sk.fastopen_rsk:
            # (tcp_sendmsg_locked(): a passive Fast Open child sends in SYN_RECV,
            # tcp_passive_fast_open())
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
        # tcp_sendmsg_locked(): fill the write queue's tail skb up to size_goal, then new
        # skbs; each full one goes at once (tcp_push_one()) when it heads the queue, or with
        # PSH when half the peer's largest window is written but not pushed (forced_push())
        mss_now = self._current_mss(sk)  # tcp_send_mss(): tcp_current_mss(), tcp_xmit_size_goal()
        size_goal = self._xmit_size_goal(sk, mss_now)
        copied = process_backlog = 0
        while copied < len(data):
            tail = sk.wq[-1] if sk.wq else None
            # (an skb that ends a send(MSG_EOR) takes nothing more: tcp_skb_can_collapse_to())
            if tail is not None and not tail[1] & (FIN | EOR) and tail[0] < size_goal:
                take = min(size_goal - tail[0], len(data) - copied)
                # the call's first bytes take the PSH off the skb they join (if (!copied))
                sk.wq[-1] = (tail[0] + take, tail[1] if copied else tail[1] & ~PSH)
            else:  # tcp_stream_alloc_skb(): a new skb at the tail
                if not self._memory_free(sk):  # sk_stream_memory_free(): the send buffer is full
                    # wait_for_space: SOCK_NOSPACE, push what was copied (tcp_push() with
                    # TCP_NAGLE_PUSH), then sk_stream_wait_memory(), which without blocking
                    # fails at once: -EAGAIN, or what was copied (do_error -> out)
                    sk.nospace = True
                    if not copied:
                        raise _oserror(E.EAGAIN)
                    self._mark_push(sk)
                    self._write_xmit(sk, mss_now, TCP_NAGLE_PUSH)
                    break
                if process_backlog >= 16:  # every 16 skbs, what arrived meanwhile
                    process_backlog = 0
                    if sk.rx_backlog:  # sk_flush_backlog(), then restart at the new MSS
                        self._flush_backlog(sk)
                        mss_now = self._current_mss(sk)
                        size_goal = self._xmit_size_goal(sk, mss_now)
                        continue
                process_backlog += 1
                self._slow_start_after_idle_check(sk)  # tcp_skb_entail()
                take = min(size_goal, len(data) - copied)
                sk.wq.append((take, 0))
                sk.nonagle &= ~TCP_NAGLE_PUSH  # tcp_skb_entail(): a pending push is spent
            sk.unsent += data[copied:copied + take]  # skb_copy_to_page_nocache()
            sk.write_seq = (sk.write_seq + take) & 0xFFFFFFFF
            copied += take
            if copied == len(data):
                if flags & MSG_EOR:  # the call's last skb ends the record (!msg_data_left())
                    sk.wq[-1] = (sk.wq[-1][0], sk.wq[-1][1] | EOR)
                break
            if sk.wq[-1][0] < size_goal:
                continue
            if self._forced_push(sk):
                self._mark_push(sk)
                self._write_xmit(sk, mss_now, TCP_NAGLE_PUSH)
            elif len(sk.wq) == 1:  # the skb is the send head: tcp_push_one()
                self._write_xmit(sk, mss_now, TCP_NAGLE_PUSH, push_one=True)
        sk.push_end = sk.write_seq
        # tcp_push(): PSH on the tail unless MSG_MORE (still PSH past half the window:
        # forced_push()), then what Nagle allows; MSG_MORE corks this push (TCP_NAGLE_CORK).
        # tcp_should_autocork() never holds a push on lo: loopback_xmit() orphans each skb
        # as it sends it, so sk_wmem_alloc never exceeds the tail skb's truesize (measured:
        # TCPAutoCorking stayed 0 over 200 back-to-back sends of 10 and of 1000 bytes, with
        # and without TCP_NODELAY, and tcp_autocorking=0 sent the same number of segments)
        more = flags & MSG_MORE
        if not more or self._forced_push(sk):
            self._mark_push(sk)
        self._write_xmit(sk, mss_now, TCP_NAGLE_CORK if more else self._nonagle(sk))
        return copied

    # -- the send buffer (sock.h, stream.c) ----------------------------------------------
    def _sndbuf(self, sk: Sock) -> int:
        """sk_sndbuf: tcp_wmem[1] from tcp_init_sock() until SO_SNDBUF or tcp_sndbuf_expand()."""
        return sk.sndbuf or self.profile.wmem[1]

    @staticmethod
    def _wmem_queued(sk: Sock) -> int:
        """sk_wmem_queued: the truesize of every skb in the write and retransmit queues, a
        head (SKB_TX_TRUESIZE) each plus the bytes they hold (acknowledged bytes of an skb of
        one packet stay until the whole skb is acknowledged: tcp_clean_rtx_queue())."""
        data = sum(len(skb.data) for skb in sk.rtxq) + len(sk.unsent)
        return SKB_TX_TRUESIZE * (len(sk.rtxq) + len(sk.wq)) + data

    def _memory_free(self, sk: Sock, wake: int = 0) -> bool:
        """__sk_stream_memory_free(): room for another skb while less than sk_sndbuf is
        queued, and (tcp_stream_memory_free()) fewer unsent bytes (write_seq - snd_nxt),
        doubled when waking a writer (tcp_poll()), than tcp_notsent_lowat() (the option,
        else the sysctl: UINT_MAX).  Measured: lowat 100 with 50 bytes corked: no POLLOUT."""
        if self._wmem_queued(sk) >= self._sndbuf(sk):
            return False
        notsent = (sk.write_seq - sk.snd_nxt) & 0xFFFFFFFF
        lowat = sk.notsent_lowat or int(self.profile.sysctls.get("net.ipv4.tcp_notsent_lowat",
                                                                 0xFFFFFFFF))  # tcp_notsent_lowat()
        return (notsent << wake) < lowat

    def _stream_is_writeable(self, sk: Sock, wake: int) -> bool:
        """__sk_stream_is_writeable(): free space (sk_stream_wspace()) at least half of what
        is queued (sk_stream_min_wspace()): a third of the buffer free, and memory free."""
        queued = self._wmem_queued(sk)
        return self._sndbuf(sk) - queued >= queued >> 1 and self._memory_free(sk, wake)

    @staticmethod
    def _forced_push(sk: Sock) -> bool:
        """forced_push(): more than half the largest window written since the last PSH."""
        return seq_lt((sk.pushed_seq + (sk.max_window >> 1)) & 0xFFFFFFFF, sk.write_seq)

    @staticmethod
    def _mark_push(sk: Sock) -> None:
        """tcp_mark_push(): PSH on the write queue's tail skb (tcp_push(): if there is one)."""
        if sk.wq:
            length, fl = sk.wq[-1]
            sk.wq[-1] = (length, fl | PSH)
            sk.pushed_seq = sk.write_seq

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
        if n == 0 and sk.rcvq and sk.rcvq[0]:
            # recv(fd, buf, 0): the walk finds the skb (found_ok_skb), copies none and the
            # do ... while (len > 0) loop ends: 0 at once, data queued (with none it waits
            # for some: sock_rcvlowat() is 1; EAGAIN below, the runner retries it).  The end's
            # tcp_cleanup_rbuf(sk, 0): only the "more than an MSS unacknowledged" ACK
            if sk.ack_sched and ((sk.rcv_nxt - sk.rcv_wup) & 0xFFFFFFFF) > sk.rcv_mss:
                self._send_ack(sk)
            return b""
        out = bytearray()
        queue = sk.rcvq if not peek else list(sk.rcvq)
        sizes = sk.rcvq_ts if not peek else list(sk.rcvq_ts)
        clock = self.now  # the copy's own time, for tcp_rcv_space_adjust()
        while queue and len(out) < n:
            head = queue[0]
            if head == b"":  # the FIN: reading it (EOF) takes its skb off the queue
                if not out and not peek:
                    queue.pop(0)
                    sizes.pop(0)
                break
            take = head[: n - len(out)]
            out += take
            if len(take) == len(head):  # the skb is read: its truesize is freed (sock_rfree)
                queue.pop(0)
                sizes.pop(0)
            else:
                queue[0] = head[len(take):]
            if not peek:  # tcp_recvmsg_locked(): after each skb's bytes are copied
                clock += len(take) * COPY_SECONDS_PER_BYTE
                self._rcv_space_adjust(sk, clock)
        if out:
            if not peek:
                if queue and queue[0] == b"":
                    queue.pop(0)  # tcp_recvmsg() walks on to a FIN right behind the data and eats it
                    sizes.pop(0)
                self._cleanup_rbuf(sk, len(out))
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

    def _cleanup_rbuf(self, sk: Sock, copied: int) -> None:
        """tcp_cleanup_rbuf(): after a read, ACK now if more than an MSS is unacknowledged, or
        the read emptied the queue of pushed small data (twice pushed, or once outside
        pingpong); else send a window update if the read at least doubled the window."""
        time_to_ack = False
        if sk.ack_sched and (((sk.rcv_nxt - sk.rcv_wup) & 0xFFFFFFFF) > sk.rcv_mss or (
                (sk.ack_pushed >= 2 or (sk.ack_pushed and not sk.pingpong))
                and not self._rmem_alloc(sk))):
            time_to_ack = True
        if not time_to_ack and not sk.shutdown & RCV_SHUTDOWN:
            now = self._receive_window(sk)
            if 2 * now <= sk.window_clamp:  # optimised: __tcp_select_window() is not cheap
                new = self._raw_window(sk)
                time_to_ack = bool(new) and new >= 2 * now
        if time_to_ack:
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
        self._ep_wake(sk, 0)  # inet_shutdown(): sk->sk_state_change(), "wake up anyone in poll"

    def dup(self, sid: int) -> None:
        """Another descriptor for the same socket (fork() copying the table: get_file())."""
        self.socks[sid].files += 1

    def close(self, sid: int) -> None:
        """__tcp_close(): FIN, or RST with unread data or SO_LINGER {1, 0}; the fd goes."""
        sk = self.socks[sid]
        if sk.files > 1:  # fput() of one of several references: the socket stays as it is
            sk.files -= 1
            return
        self._ep_forget(sid)  # the last fput(): eventpoll_release() takes it out of every epoll
        sk.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN
        sk.orphan = True
        unread = any(p for p in sk.rcvq if p)
        # __tcp_close() frees every skb of the receive queue, the FIN's too (its truesize is
        # no longer charged: measured, SO_RCVBUF 1 closes with window 1152, not 1151)
        sk.rcvq_ts = [0 for p in sk.rcvq if not p]
        sk.rcvq = [p for p in sk.rcvq if not p]
        if sk.state == "LISTEN":
            self._transition(sk, "close")
        elif unread and rule(sk.state, "close_unread"):
            self._transition(sk, "close_unread")
        elif unread and sk.fastopen_rsk:
            # __tcp_close(): data unread sends RST from any state, here a Fast Open child's
            # SYN data in SYN_RECV (no table row: no built-in program, on lo, can make a Fast
            # Open child while the model has no client side; tests/test_model_rules.py)
            self._set_state(sk, "CLOSE", "close_unread", "__tcp_close()")
            self._act_send_active_rst(sk, None)
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
        elif (level, opt) == (6, 23):  # do_tcp_setsockopt() TCP_FASTOPEN
            if sk.state not in ("CLOSE", "LISTEN"):
                raise _oserror(E.EINVAL)
            self._fastopen_queue_tune(sk, int(value))
        elif (level, opt) == (6, 30):  # do_tcp_setsockopt() TCP_FASTOPEN_CONNECT
            if not 0 <= int(value) <= 1:
                raise _oserror(E.EINVAL)
            if not self.profile.fastopen & 0x1:  # TFO_CLIENT_ENABLE
                raise _oserror(E.EOPNOTSUPP)
            if sk.state != "CLOSE":
                raise _oserror(E.EINVAL)
            sk.fastopen_connect = bool(value)
        elif (level, opt) == (6, 34):  # do_tcp_setsockopt() TCP_FASTOPEN_NO_COOKIE
            if not 0 <= int(value) <= 1 or sk.state not in ("CLOSE", "LISTEN"):
                raise _oserror(E.EINVAL)
            sk.fastopen_no_cookie = bool(value)
        elif (level, opt) == (6, 33):  # do_tcp_setsockopt() TCP_FASTOPEN_KEY: 16 bytes, or
            if len(value) not in (16, 32):  # 32 with a backup key (not modelled)
                raise _oserror(E.EINVAL)
            sk.fastopen_key = bytes(value[:16])  # tcp_fastopen_reset_cipher(net, sk, ...)
        elif (level, opt) == (1, 13):
            import struct

            sk.linger = struct.unpack("ii", value) if isinstance(value, bytes) else (value, 0)
        elif (level, opt) == (6, 1):  # __tcp_sock_set_nodelay()
            sk.nodelay = bool(value)
            if sk.nodelay:
                sk.nonagle |= TCP_NAGLE_OFF | TCP_NAGLE_PUSH
                self._push(sk)
            else:
                sk.nonagle &= ~TCP_NAGLE_OFF
        elif (level, opt) == (6, 3):  # __tcp_sock_set_cork()
            if value:
                sk.nonagle |= TCP_NAGLE_CORK
            else:  # uncorking pushes what the cork held (with TCP_NODELAY: whatever Nagle says)
                sk.nonagle &= ~TCP_NAGLE_CORK
                if sk.nonagle & TCP_NAGLE_OFF:
                    sk.nonagle |= TCP_NAGLE_PUSH
                self._push(sk)
        elif (level, opt) == (6, 25):  # do_tcp_setsockopt() TCP_NOTSENT_LOWAT: a u32
            sk.notsent_lowat = value & 0xFFFFFFFF
            if self._stream_is_writeable(sk, 1):
                sk.nospace = False  # sk->sk_write_space(): sk_stream_write_space()
                self._ep_wake(sk, KEY_WRITE_SPACE)
        elif (level, opt) == (6, 2):  # do_tcp_setsockopt(): tp->rx_opt.user_mss
            if value and not TCP_MIN_MSS <= value <= MAX_TCP_WINDOW:
                raise _oserror(E.EINVAL)
            sk.user_mss = value
        elif (level, opt) == (6, 7):
            if not 1 <= value <= 127:
                raise _oserror(E.EINVAL)
            sk.syncnt = value
        elif (level, opt) == (1, 9):  # sock_setsockopt() SO_KEEPALIVE -> tcp_set_keepalive()
            if sk.state not in ("CLOSE", "LISTEN"):
                if value and not sk.keepopen:
                    self._reset_keepalive_timer(sk, self._keepalive_when(sk))
                elif not value:
                    sk.timers.pop("keepalive", None)  # inet_csk_delete_keepalive_timer()
            sk.keepopen = bool(value)  # sock_valbool_flag(SOCK_KEEPOPEN)
        elif (level, opt) == (6, 4):  # tcp_sock_set_keepidle_locked(): 1..MAX_TCP_KEEPIDLE
            if not 1 <= value <= 32767:
                raise _oserror(E.EINVAL)
            sk.keepalive_time = value
            if sk.keepopen and sk.state not in ("CLOSE", "LISTEN"):
                # the timer again at what is left of the new idle time
                self._reset_keepalive_timer(sk, max(0, self._keepalive_when(sk)
                                                    - self._keepalive_elapsed(sk)))
        elif (level, opt) == (6, 5):  # tcp_sock_set_keepintvl(): 1..MAX_TCP_KEEPINTVL
            if not 1 <= value <= 32767:
                raise _oserror(E.EINVAL)
            sk.keepalive_intvl = value
        elif (level, opt) == (6, 6):  # tcp_sock_set_keepcnt(): 1..MAX_TCP_KEEPCNT
            if not 1 <= value <= 127:
                raise _oserror(E.EINVAL)
            sk.keepalive_probes = value
        elif (level, opt) == (1, 8):
            sk.rcvbuf = max(SOCK_MIN_RCVBUF, min(value, self.profile.rmem_max) * 2)  # sock_setsockopt()
        elif (level, opt) == (1, 7):  # sock_setsockopt() SO_SNDBUF
            wmem_max = int(self.profile.sysctls.get("net.core.wmem_max", 212992))
            value = wmem_max if value < 0 else min(value, wmem_max)  # min_t(u32, ...)
            sk.sndbuf = max(SOCK_MIN_SNDBUF, min(value, 0x3FFFFFFF) * 2)
            sk.sndbuf_lock = True  # SOCK_SNDBUF_LOCK: tcp_sndbuf_expand() leaves it
            if self._stream_is_writeable(sk, 1):
                sk.nospace = False  # sk->sk_write_space(): sk_stream_write_space()
                self._ep_wake(sk, KEY_WRITE_SPACE)
        elif (level, opt) == (6, 18) and value < 0:  # tcp_sock_set_user_timeout(): val < 0
            raise _oserror(E.EINVAL)
        else:
            sk.opts[(level, opt)] = value

    def getsockopt(self, sid: int, level: int, opt: int):
        sk = self.socks[sid]
        if (level, opt) == (1, 4):
            err, sk.err = sk.err, 0  # SO_ERROR reads and clears sk_err
            if not err:  # sk_getsockopt(): else xchg(&sk->sk_err_soft, 0)
                err, sk.err_soft = sk.err_soft, 0
            return err
        if (level, opt) == (1, 2):
            return int(sk.reuseaddr)
        if (level, opt) == (1, 13):
            return sk.linger or (0, 0)
        if (level, opt) == (6, 1):
            return int(bool(sk.nonagle & TCP_NAGLE_OFF))
        if (level, opt) == (6, 3):
            return int(bool(sk.nonagle & TCP_NAGLE_CORK))
        if (level, opt) == (6, 2):  # do_tcp_getsockopt(): user_mss before the connection
            if sk.user_mss and sk.state in ("CLOSE", "LISTEN"):
                return sk.user_mss
            return sk.mss_cache
        if (level, opt) == (6, 7):
            return sk.syncnt or self.profile.syn_retries
        if (level, opt) == (6, 23):  # do_tcp_getsockopt() TCP_FASTOPEN: fastopenq.max_qlen
            return sk.fastopen_max_qlen
        if (level, opt) == (6, 30):  # do_tcp_getsockopt() TCP_FASTOPEN_CONNECT
            return int(sk.fastopen_connect)
        if (level, opt) == (6, 34):  # do_tcp_getsockopt() TCP_FASTOPEN_NO_COOKIE
            return int(sk.fastopen_no_cookie)
        if (level, opt) == (1, 9):
            return int(sk.keepopen)  # sock_getsockopt(): sock_flag(SOCK_KEEPOPEN)
        if (level, opt) == (6, 4):  # do_tcp_getsockopt(): keepalive_time_when() / HZ
            return self._keepalive_when(sk) // self.profile.hz
        if (level, opt) == (6, 5):
            return self._keepalive_intvl_when(sk) // self.profile.hz
        if (level, opt) == (6, 6):
            return self._keepalive_probes(sk)
        if (level, opt) == (1, 8):
            return self._rcvbuf(sk)  # sk_rcvbuf: as set, or as autotuning grew it
        if (level, opt) == (1, 7):
            return self._sndbuf(sk)
        if (level, opt) == (6, 25):  # do_tcp_getsockopt(): the u32 as an int
            v = sk.notsent_lowat
            return v - (1 << 32) if v >= 1 << 31 else v
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
            if sk.shutdown & SEND_SHUTDOWN or self._stream_is_writeable(sk, 1):
                mask |= POLLOUT | POLLWRNORM
            else:  # no room: SOCK_NOSPACE, so that the ACK that makes room wakes the poller
                sk.nospace = True
        elif sk.state == "SYN_SENT" and sk.defer_connect:
            # tcp_poll(): an active Fast Open socket with DEFER_CONNECT is writable, so that
            # a write() makes the SYN and its data
            mask |= POLLOUT | POLLWRNORM
        if sk.err:
            mask |= POLLERR
        return mask

    def ioctl(self, sid: int, request: int) -> int:
        """tcp_ioctl(): SIOCINQ is tcp_inq(), the bytes received and not yet read (rcv_nxt -
        copied_seq, less the FIN's one once it came: SOCK_DONE); SIOCOUTQ the bytes written
        and not yet acknowledged (write_seq - snd_una), SIOCOUTQNSD those not yet sent
        (write_seq - snd_nxt): tcp_send_fin() counts a FIN in write_seq.  All 0 while the
        handshake is under way; EINVAL on a listener; ENOTTY for another request
        (-ENOIOCTLCMD, as sock_do_ioctl() turns it)."""
        sk = self.socks[sid]
        if request not in (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD):
            raise _oserror(E.ENOTTY)
        if sk.state == "LISTEN":
            raise _oserror(E.EINVAL)
        if sk.state in ("SYN_SENT", "SYN_RECV"):
            return 0
        if request == SIOCINQ:
            answ = (sk.rcv_nxt - self._copied_seq(sk)) & 0xFFFFFFFF
            return answ - 1 if answ and sk.done else answ
        fin = sk.fin_sent or any(fl & FIN for _, fl in sk.wq)
        write_seq = (sk.write_seq + fin) & 0xFFFFFFFF
        return (write_seq - (sk.snd_una if request == SIOCOUTQ else sk.snd_nxt)) & 0xFFFFFFFF

    def tcp_info(self, sid: int) -> dict:
        sk = self.socks[sid]
        info = {"state": sk.state if sk.kind == "full" else "CLOSE"}
        if sk.state == "LISTEN":
            info["queue"], info["backlog"] = len(sk.accept_queue), sk.backlog
        return info

    # -- ports (inet_connection_sock.c, inet_hashtables.c) -------------------------------
    def _ephemeral(self, family: int, parity: int) -> int:
        """__inet_hash_connect() picks even ports for connect(), inet_csk_get_port() odd ones."""
        lo, hi = self.profile.local_port_range
        used = {s.local[1] for s in self.socks.values() if s.local}
        for _ in range(1000):
            port = self.rng.randrange(lo, hi + 1) & ~1 | parity
            if lo <= port <= hi and port not in used:
                return port
        raise _oserror(E.EADDRNOTAVAIL)

    # -- the end of a socket (tcp.c, inet_connection_sock.c) -----------------------------
    def _done(self, sk: Sock) -> None:
        """tcp_done(): CLOSE, unhashed; an address the kernel chose is given back."""
        sk.timers.clear()
        sk.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN
        if sk.fastopen_rsk:  # tcp_done(): reqsk_fastopen_remove()
            self._fastopen_remove(sk)
        self._unhash(sk)
        self._ep_wake(sk, 0)  # tcp_done(): sk->sk_state_change() unless SOCK_DEAD
        if sk.local and not sk.addr_locked and sk.kind == "full":
            sk.local = ("0.0.0.0" if sk.family == 2 else "::", sk.local[1])
            self.changed.add(sk.id)
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
        self.changed.add(sk.id)
        for other in list(self.socks.values()):
            if other.kind == "request" and other.parent == sk.id:
                self._free(other)
