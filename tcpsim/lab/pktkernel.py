"""The real kernel behind packetdrill's runner (pkt/run.py): `tcpsim pkt run --kernel`.

pkt/run.py's PktRun plays a script against a kernel through a small set of calls: the socket
calls on socket ids, receive() of an inbound segment, the segments the kernel sent (outbox),
and the clock.  RealKernel offers those calls on real sockets in the lab's private namespace,
with a TunWire (tun.py) as the wire, as packetdrill itself does (run_system_call.c makes the
calls, netdev.c reads and writes the tun device).  Time is the wall clock since the script's
time 0: the kernel runs its own timers, so there are none to fire here, and waiting means
sleeping while the tun device is read.
"""

from __future__ import annotations

import ctypes
import errno as E
import functools
import os
import queue
import select
import socket
import struct
import threading
import time

from ..model.sock import Seg
from ..trace.segment import flags_bits
from ..errors import TcpsimError
from .kernel import ioctl_int, set_sysctls, sysctls
from .tun import TunWire

TCP_CONGESTION = 13  # include/uapi/linux/tcp.h
POLL_BITS = select.POLLIN | select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLRDHUP


class RealKernel:
    """Real sockets and a tun device, made inside the lab's namespace (private_netns)."""

    real_time = True  # PktRun waits in real time instead of firing the model's timers

    def __init__(self, profile, local_ip: str, remote_ip: str, mtu: int):
        self.worker = _Worker()  # (first: time 0 comes after its start, which may wait for a CPU)
        self.unapplied: dict[str, str] = {}
        self.pinned: str | None = None  # the congestion control set on each socket instead
        self._profile = profile
        self._apply(dict(profile.sysctls))
        self.wire = TunWire(local_ip=local_ip, remote_ip=remote_ip, mtu=mtu)
        self.addresses = (local_ip, "::1")
        self.socks: dict[int, socket.socket] = {}
        self.outbox: list[Seg] = []
        # the model's Kernel keeps each segment's fate and time beside it (sim/world.py judges
        # them); PktRun clears them with the outbox, and on the real wire there are none
        self.outfate: list = []
        self.outtime: list = []
        self.t0 = time.monotonic()
        self._next = 1
        self.blocked: dict[int, threading.Thread] = {}  # sockets a send blocks on (its thread)
        self.epolls: dict[int, tuple] = {}  # epoll id -> (select.epoll, {fd: the item's data})
        self._cmd_dir: str | None = None  # the shell commands' own directory (run_command())
        self.gso_size = 0  # packetdrill's --mss: inbound packets written as GSO ones
        self.pipes: set[int] = set()  # pipe() and open() descriptors still open
        self.private_tmp = False  # the run has a /tmp of its own (netns.private_tmp())

    # -- the clock -------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return time.monotonic() - self.t0

    @now.setter
    def now(self, t: float) -> None:
        """Let real time run to t (the script's clock), reading the wire meanwhile."""
        while self.wait(t):
            pass

    def restart_clock(self) -> None:
        """Time 0 now: packetdrill takes the script's start time after the init command
        (run.c run_script(): schedule_start_time_usecs() after safe_system())."""
        self.t0 = time.monotonic()

    def wall_clock_start(self) -> float:
        """Time 0 on the wall clock (CLOCK_REALTIME, seconds), which the kernel's software
        timestamps read (ktime_get_real() in __skb_tstamp_tx()); packetdrill's live times are
        gettimeofday()'s."""
        return time.time() - (time.monotonic() - self.t0)

    def wait(self, t: float, timeout: float = 0.001) -> bool:
        """Read what the kernel sent, waiting at most `timeout` seconds and not past t;
        whether time is left before t."""
        left = t - self.now
        seg = self.wire.receive(max(0.0, min(timeout, left)))
        while seg is not None:
            self.outbox.append(_seg(seg))
            self.outtime.append(seg.t - self.t0)  # when it left, on the script's clock
            seg = self.wire.receive(0.0)
        return self.now < t

    def next_timer(self):
        return None  # the kernel fires its own

    def handle_timer(self, now: float) -> None:  # pragma: no cover - never asked
        pass

    # -- sysctl commands of the script ---------------------------------------------------------
    @property
    def profile(self):
        return self._profile

    @profile.setter
    def profile(self, profile) -> None:
        self._apply({k: v for k, v in profile.sysctls.items()
                     if self._profile.sysctls.get(k) != v})
        self._profile = profile

    def _apply(self, changed: dict) -> None:
        """Set the namespace's sysctls the profile has otherwise.  Congestion control is the
        host's choice (a namespace may pick only reno or bbr: tcp_allowed_congestion_control);
        a setting the namespace does not have of its own (net.core) or refuses is left, and
        listed in `unapplied`."""
        here = sysctls()
        for key, value in changed.items():
            if here.get(key) == " ".join(str(value).split()):
                continue  # the namespace has it already (a read-only key too)
            if not key.startswith("net.ipv4.") or key == "net.ipv4.tcp_congestion_control":
                self.unapplied[key] = value
                continue
            try:
                set_sysctls({key: value})
            except TcpsimError:
                self.unapplied[key] = value

    def flush_metrics(self) -> None:
        """`ip tcp_metrics flush all` in the run's namespace (its TCP metrics cache only), said
        over generic netlink as iproute2 says it (TCP_METRICS_CMD_DEL without an address:
        tcp_metrics_nl_cmd_del() -> tcp_metrics_flush_all()); a process of its own would take
        milliseconds, and packetdrill's next event follows at once."""
        try:
            _genl_flush_tcp_metrics()
        except OSError as e:
            self.unapplied["ip tcp_metrics flush all"] = e.strerror or str(e)

    def run_command(self, text: str, cwd: str | None = None) -> tuple[int, str]:
        """A script's shell command as packetdrill runs it (system.c safe_system(): system(),
        /bin/sh -c), forked from this thread, which is in the run's namespace, so the shell and
        its children are there too (pkt/shell.py namespace_refusal() has judged it first).
        nstat keeps its history in the run's own directory (NSTAT_HISTORY), not the host's
        /tmp/.nstat.u0.  (status, what it wrote on stderr)."""
        import subprocess
        import tempfile

        if self._cmd_dir is None:
            self._cmd_dir = tempfile.mkdtemp(prefix="tcpsim-pkt-")
        env = dict(os.environ, NSTAT_HISTORY=os.path.join(self._cmd_dir, "nstat.history"))
        r = subprocess.run(["/bin/sh", "-c", text], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return r.returncode, r.stderr.decode(errors="replace").strip()

    # -- the wire ------------------------------------------------------------------------------
    def receive(self, seg: Seg) -> None:
        # no waiting here: packetdrill's next event follows at once, and the kernel's answer
        # (made in the write's softirq) is read when PktRun next looks at the wire
        self.wire.send(seg.src, seg.dst, seg.flags, seg.seq, seg.ack, seg.win, seg.options,
                       seg.payload, tos=seg.tos, gso_size=self.gso_size, urg=seg.urg)

    def receive_icmp(self, src: str, dst: str, kind: int, code: int, mtu: int | None,
                     echoed: tuple) -> None:
        """An ICMP message from the wire (TunWire.send_icmp())."""
        self.wire.send_icmp(src, dst, kind, code, mtu, echoed)

    # -- socket calls, as the model's Kernel takes them (socket ids, OSError) -------------------
    def _add(self, s: socket.socket) -> int:
        s.setblocking(False)
        sid, self._next = self._next, self._next + 1
        self.socks[sid] = s
        return sid

    def sock(self, sid: int):
        return _View(self.socks[sid])

    def socket(self, family: int) -> int:
        s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        cc = self._profile.sysctls.get("net.ipv4.tcp_congestion_control")
        if cc and "net.ipv4.tcp_congestion_control" in self.unapplied:
            # the namespace may not choose it, root may per socket (tcp_set_congestion_control);
            # an accepted child takes its listener's
            try:
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc.encode())
            except OSError:
                pass  # not loaded here: it stays in `unapplied`
            else:
                self.pinned = cc
        return self._add(s)

    def bind(self, sid: int, addr: tuple) -> None:
        self.socks[sid].bind(addr)

    def listen(self, sid: int, backlog: int) -> None:
        self.socks[sid].listen(backlog)

    def accept(self, sid: int) -> int:
        conn, _ = self.socks[sid].accept()
        return self._add(conn)

    def connect(self, sid: int, addr: tuple) -> int:
        return self.socks[sid].connect_ex(addr)

    def send(self, sid: int, data: bytes, flags: int = 0) -> int:
        return self.socks[sid].send(data, flags | socket.MSG_DONTWAIT)

    def sendto(self, sid: int, data: bytes, flags: int, to, iov=None) -> int:
        """sendto()/sendmsg() with the address packetdrill gives them (run_system_call.c):
        to is ("inet", (host, port)), ("family", AF) for a sockaddr of that family and zeros
        (syscall_sendto(): sendto(..., AF_UNSPEC, ...)), or None (sendmsg() without
        msg_name); iov: sendmsg()'s iovec lengths.  With MSG_FASTOPEN this is the connect
        (tcp_sendmsg_fastopen())."""
        return _sendto(self.socks[sid], data, flags | socket.MSG_DONTWAIT, to, iov)

    def send_blocking(self, sid: int, data: bytes, flags: int, to=None, iov=None):
        """The send made blocking in the kernel, on a thread of its own (as packetdrill's
        blocking calls are): a function that gives None while it blocks, then the bytes sent
        or -errno.  Meanwhile the socket is in blocking mode, and this class's other calls on
        it pass MSG_DONTWAIT."""
        s = self.socks[sid]
        box: list[int] = []

        def run() -> None:
            try:
                box.append(_sendto(s, data, flags, to, iov) if to is not None or iov is not None
                           else s.send(data, flags))
            except OSError as e:
                box.append(-(e.errno or E.EIO))
        s.setblocking(True)
        self.blocked[sid] = self.worker.run(run)

        def done() -> int | None:
            if not box:
                return None
            if sid in self.blocked:
                del self.blocked[sid]
                if sid in self.socks:
                    s.setblocking(False)
            return box[0]
        return done

    def tcp_state(self, sid: int) -> int:
        """tcpi_state: the socket's TCP state (TCP_SYN_SENT is 2)."""
        return self.socks[sid].getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]

    def recv(self, sid: int, n: int, flags: int = 0) -> bytes:
        return self.socks[sid].recv(n, flags | socket.MSG_DONTWAIT)

    def recvmsg(self, sid: int, n: int, flags: int, controllen: int) -> tuple:
        """recvmsg() with an n-byte iovec and a control buffer of controllen bytes, as
        packetdrill's syscall_recvmsg() makes it (libc's: Python's recvmsg() gives a cmsg's
        data but not its cmsg_len): (bytes read, msg_flags, [(level, type, cmsg_len, data)]),
        the cmsgs walked as glibc's CMSG_FIRSTHDR()/CMSG_NXTHDR() walk them."""
        buf = ctypes.create_string_buffer(max(n, 1))
        control = ctypes.create_string_buffer(max(controllen, 1))
        name = ctypes.create_string_buffer(128)
        iov = _Iovec(ctypes.cast(buf, ctypes.c_void_p), n)
        msg = _Msghdr(ctypes.cast(name, ctypes.c_void_p), 128, ctypes.pointer(iov), 1,
                      ctypes.cast(control, ctypes.c_void_p), controllen, 0)
        got = _libc().recvmsg(self.socks[sid].fileno(), ctypes.byref(msg),
                              flags | socket.MSG_DONTWAIT)
        if got < 0:
            err = ctypes.get_errno()
            if err == E.EAGAIN:
                raise BlockingIOError(err, os.strerror(err))
            raise OSError(err, os.strerror(err))
        raw, end, at, cmsgs = control.raw, msg.msg_controllen, 0, []
        while at + 16 <= end:
            length, level, kind = struct.unpack_from("Qii", raw, at)
            if length < 16:
                break
            cmsgs.append((level, kind, length, raw[at + 16:at + length]))
            at += (length + 7) & ~7
            if at + 16 > end or at + ((struct.unpack_from("Q", raw, at)[0] + 7) & ~7) > end:
                break
        return got, msg.msg_flags & 0xFFFFFFFF, cmsgs

    def pipe(self) -> tuple[int, int]:
        """pipe(): its two descriptors (read end, write end), closed with the run."""
        r, w = os.pipe()
        self.pipes.update((r, w))
        return r, w

    def close_pipe(self, fd: int) -> None:
        self.pipes.discard(fd)
        os.close(fd)

    def open_file(self, path: str, flags: int) -> int:
        """open(2) for reading, from the run's thread (its /tmp the run's own); closed with
        the run, as pipes are."""
        fd = os.open(path, flags | os.O_CLOEXEC)
        self.pipes.add(fd)
        return fd

    def sendfile(self, sid: int, fd: int, offset: int, count: int) -> int:
        """sendfile(2) from a file into a socket, without waiting (the socket is
        non-blocking): the bytes sent, or BlockingIOError when none fit."""
        return os.sendfile(self.socks[sid].fileno(), fd, offset, count)

    def splice(self, fd_in, fd_out, n: int, flags: int, blocking: bool) -> int:
        """splice() between a socket (a sid, as ("sock", sid)) and a pipe (("pipe", fd)),
        without offsets.  tcp_splice_read() reads the socket file's O_NONBLOCK
        (sock_rcvtimeo()), and a blocking one returns 0 where a non-blocking one says EAGAIN
        (an urgent byte left in the receive queue), so a blocking call is made on a blocking
        socket, with SO_RCVTIMEO at 1 ms so that it cannot hang here: its EAGAIN after that
        wait is BlockingIOError, which PktRun retries as it retries every blocking call."""
        fds = [self.socks[x].fileno() if kind == "sock" else x for kind, x in (fd_in, fd_out)]
        if not blocking or fd_in[0] != "sock":
            return os.splice(fds[0], fds[1], n, flags=flags)
        s = self.socks[fd_in[1]]
        saved = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        s.setblocking(True)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("qq", 0, 1000))
        try:
            return os.splice(fds[0], fds[1], n, flags=flags)
        finally:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, saved)
            s.setblocking(False)

    def shutdown(self, sid: int, how: int) -> None:
        self.socks[sid].shutdown(how)

    def close(self, sid: int) -> None:
        s = self.socks.pop(sid)
        for _, datas in self.epolls.values():  # eventpoll_release(): its items go
            datas.pop(s.fileno(), None)
        s.close()

    def setsockopt(self, sid: int, level: int, opt: int, value) -> None:
        if isinstance(value, int) and 2**31 <= value < 2**32:
            # a u32 the script wrote in hex (TCP_NOTSENT_LOWAT's 0xffffffff): the same 32 bits
            # as the int the kernel reads; Python's setsockopt() takes a C int only
            value -= 2**32
        self.socks[sid].setsockopt(level, opt, value)

    def tcp_info_raw(self, sid: int) -> bytes:
        """The socket's struct tcp_info as the kernel fills it (a %{ }% block reads it)."""
        from ..pkt.code import TCP_INFO_SIZE

        return self.socks[sid].getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)

    def getsockopt(self, sid: int, level: int, opt: int, size: int | None = None):
        """An int, or with size the option's bytes (TCP_FASTOPEN_KEY)."""
        if size is not None:
            return self.socks[sid].getsockopt(level, opt, size)
        return self.socks[sid].getsockopt(level, opt)

    def ioctl(self, sid: int, request: int) -> int:
        return ioctl_int(self.socks[sid], request)

    def poll(self, sid: int) -> int:
        p = select.poll()
        p.register(self.socks[sid].fileno(), POLL_BITS)
        got = p.poll(0)
        return got[0][1] if got else 0

    # -- epoll (the model's Kernel has the same calls: model/eventpoll.py) ----------------------
    def epoll_create(self) -> int:
        """A real epoll instance (select.epoll: epoll_create1(EPOLL_CLOEXEC)); the data of each
        item is kept here by descriptor, as Python's epoll gives back the fd only."""
        eid, self._next = self._next, self._next + 1
        self.epolls[eid] = (select.epoll(), {})
        return eid

    def epoll_close(self, eid: int) -> None:
        ep, _ = self.epolls.pop(eid)
        ep.close()

    def epoll_ctl(self, eid: int, op: int, sid: int, events: int, data=None) -> None:
        ep, datas = self.epolls[eid]
        fd = self.socks[sid].fileno()
        if op == 1:  # EPOLL_CTL_ADD
            ep.register(fd, events)
            datas[fd] = data
        elif op == 3:  # EPOLL_CTL_MOD
            ep.modify(fd, events)
            datas[fd] = data
        elif op == 2:  # EPOLL_CTL_DEL
            ep.unregister(fd)
            datas.pop(fd, None)
        else:
            raise OSError(E.EINVAL, os.strerror(E.EINVAL))

    def epoll_wait(self, eid: int, maxevents: int) -> list:
        """epoll_wait(epfd, events, maxevents, 0): (events, data) of each reported item."""
        ep, datas = self.epolls[eid]
        return [(events, datas.get(fd)) for fd, events in ep.poll(0, maxevents)]

    def close_all(self) -> None:
        for sid in list(self.blocked):
            # a send still blocked when the run ends: shutdown() wakes it (inet_shutdown():
            # tcp_disconnect() of a connecting socket), so that its thread ends
            try:
                self.socks[sid].shutdown(socket.SHUT_RDWR)
            except (OSError, KeyError):
                pass
        self.worker.stop()
        for thread in {*self.blocked.values(), self.worker.thread}:
            thread.join(1.0)
        for s in self.socks.values():
            s.close()
        self.socks.clear()
        for fd in self.pipes:
            os.close(fd)
        self.pipes.clear()
        for ep, _ in self.epolls.values():
            ep.close()
        self.epolls.clear()
        self.wire.close()
        if self._cmd_dir is not None:
            import shutil

            shutil.rmtree(self._cmd_dir, ignore_errors=True)
            self._cmd_dir = None


class _Worker:
    """The thread that makes blocking calls, made with the kernel (a thread made per call
    waits for a CPU and the GIL: 2-8 ms on a busy machine, where the script's next packet is
    due at once), at the lab thread's real-time priority (SCHED_RESET_ON_FORK dropped it in
    the new thread), waiting for work.  A call while one blocks gets a thread of its own."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False
        policy = os.sched_getscheduler(0), os.sched_getparam(0)
        self.thread = threading.Thread(target=self._loop, args=(policy,), daemon=True,
                                       name="tcpsim blocking calls")
        self.thread.start()

    def _loop(self, policy) -> None:
        try:
            os.sched_setscheduler(0, *policy)
        except OSError:
            pass
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job()
            finally:
                self.busy = False

    def run(self, job) -> threading.Thread:
        if self.busy:
            extra = threading.Thread(target=job, daemon=True, name="tcpsim blocking call")
            extra.start()
            return extra
        self.busy = True
        self.jobs.put(job)
        return self.thread

    def stop(self) -> None:
        self.jobs.put(None)


def _sendto(s: socket.socket, data: bytes, flags: int, to, iov) -> int:
    """RealKernel.sendto()'s call (see there)."""
    if iov is not None:
        chunks, at = [], 0
        for length in iov:
            chunks.append(data[at:at + length])
            at += length
        return s.sendmsg(chunks, [], flags, *([to[1]] if to and to[0] == "inet" else []))
    if to[0] == "inet":
        return s.sendto(data, flags, to[1])
    # a bare family: packetdrill zeroes a sockaddr_storage and sets sa_family (Python's
    # sendto() takes only addresses of the socket's own family, hence libc's)
    addr = struct.pack("H126x", to[1])
    buf = bytes(data)
    n = _libc().sendto(s.fileno(), buf, len(buf), flags, addr, len(addr))
    if n < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return n


def _genl_request(sock: socket.socket, family: int, cmd: int, attrs: bytes = b"") -> bytes:
    """One generic netlink request (NLM_F_REQUEST | NLM_F_ACK) and its first answer."""
    body = struct.pack("BBH", cmd, 1, 0) + attrs
    sock.send(struct.pack("=IHHII", 16 + len(body), family, 0x1 | 0x4, 1, 0) + body)
    answer = sock.recv(65536)
    length, kind = struct.unpack("=IH", answer[:6])
    if kind == 2:  # NLMSG_ERROR: an errno (0: the ACK)
        err = -struct.unpack("=i", answer[16:20])[0]
        if err:
            raise OSError(err, os.strerror(err))
    return answer[:length]


def _genl_flush_tcp_metrics() -> None:
    """TCP_METRICS_CMD_DEL (2) with no address: the whole cache (include/uapi/linux/
    tcp_metrics.h; the family's id is asked of the controller, CTRL_CMD_GETFAMILY)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16) as sock:  # NETLINK_GENERIC
        sock.settimeout(1.0)
        name = b"tcp_metrics\0"
        attr = struct.pack("HH", 4 + len(name), 2) + name  # CTRL_ATTR_FAMILY_NAME
        attr += bytes(-len(attr) % 4)
        answer = _genl_request(sock, 0x10, 3, attr)  # GENL_ID_CTRL, CTRL_CMD_GETFAMILY
        family, at = None, 20
        while at + 4 <= len(answer):
            size, kind = struct.unpack("HH", answer[at:at + 4])
            if kind == 1:  # CTRL_ATTR_FAMILY_ID
                family = struct.unpack("H", answer[at + 4:at + 6])[0]
            at += (size + 3) & ~3
        if family is None:
            raise OSError(E.ENOENT, "no tcp_metrics generic netlink family")
        _genl_request(sock, family, 2)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):  # struct msghdr (x86_64 glibc)
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


@functools.lru_cache(maxsize=1)
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sendto.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]
    libc.sendto.restype = ctypes.c_ssize_t
    libc.recvmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Msghdr), ctypes.c_int]
    libc.recvmsg.restype = ctypes.c_ssize_t
    return libc


class _View:
    """What PktRun reads of a socket: its endpoints (and no MSS: the TSO check is the
    model's; on the kernel a super-packet is what the tun device shows)."""

    def __init__(self, s: socket.socket):
        self.local = _endpoint(s.getsockname)
        self.remote = _endpoint(s.getpeername)


def _endpoint(get) -> tuple | None:
    try:
        host, port = get()[:2]
    except OSError as e:
        if e.errno == E.ENOTCONN:
            return None
        raise
    # an IPv4-mapped IPv6 socket's address as its packets carry it on the wire: IPv4
    return host.removeprefix("::ffff:") if "." in host else host, port


def _seg(s) -> Seg:
    def split(ep: str) -> tuple:
        host, _, port = ep.rpartition(":")
        return host.strip("[]"), int(port)

    # tun gives the IP packet as the frame: the TOS byte, or IPv6's traffic class; and the
    # TCP header's urgent pointer
    packet = s.frame
    v4 = len(packet) > 20 and packet[0] >> 4 == 4
    tos = (packet[1] if v4 else
           (int.from_bytes(packet[:2], "big") >> 4) & 0xFF) if packet else 0
    tcp = (packet[0] & 0x0F) * 4 if v4 else 40
    urg = struct.unpack_from("!H", packet, tcp + 18)[0] if len(packet) >= tcp + 20 else 0
    return Seg(split(s.src), split(s.dst), flags_bits(s.flags), s.seq, s.ack, s.win,
               [list(o) for o in s.options], s.payload, s.ip_id, tos=tos, urg=urg)


