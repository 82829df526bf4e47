"""Reading the kernel's own view: TCP_INFO of a socket, /proc/net/tcp, sysctls, version."""

from __future__ import annotations

import fcntl
import ipaddress
import platform
import socket
import struct
from pathlib import Path

from ..errors import TcpsimError
from ..scenario.syntax import COPY_MARK, FAULT_MARK

from .netns import link_mtu

# include/net/tcp_states.h
STATE_NAMES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    12: "NEW_SYN_RECV",
}
_TCP_INFO = struct.Struct("=8B24I")  # the first 104 bytes of struct tcp_info


def tcp_info(sock: socket.socket) -> dict:
    """State, and for a listener its accept-queue length and backlog (tcp_get_info)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
    f = _TCP_INFO.unpack(raw.ljust(_TCP_INFO.size, b"\0"))
    info = {"state": STATE_NAMES.get(f[0], str(f[0])), "options": f[5],
            "snd_wscale": f[6] & 0x0F, "rcv_wscale": f[6] >> 4, "rto": f[8], "ato": f[9]}
    if info["state"] == "LISTEN":
        info["queue"], info["backlog"] = f[12], f[13]  # tcpi_unacked, tcpi_sacked
    return info


def ioctl_int(sock: socket.socket, request: int) -> int:
    """ioctl(2) with an int result (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD: tcp_ioctl()); OSError
    on failure, as the kernel's errno."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, bytes(4)))[0]


NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 0x1, 0x300, 2, 3
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLMSG = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (ports and
# addresses in network order, interface, cookie)
_DIAG_REQ = struct.Struct("=BBBxI")
_SOCKID = struct.Struct("!HH16s16s")
_SOCKID_TAIL = struct.Struct("=III")  # idiag_if, idiag_cookie[2]
_DIAG_MSG = struct.Struct("!BBBBHH16s16s")  # inet_diag_msg up to the addresses
_ERRNO = struct.Struct("=i")

Tuple = tuple[str, str]  # (local, remote) as "127.0.0.1:8080" / "[::1]:8080"


def _endpoint(family: int, raw: bytes, port: int) -> str:
    if family == socket.AF_INET:
        return f"{ipaddress.IPv4Address(raw[:4])}:{port}"
    ip = ipaddress.IPv6Address(raw)
    mapped = ip.ipv4_mapped  # a dual-stack socket talking IPv4
    return f"{mapped}:{port}" if mapped else f"[{ip}]:{port}"


def _sockid(local: str, remote: str) -> tuple[int, bytes]:
    """The family and inet_diag_sockid that name one connection exactly."""
    (lhost, lport), (rhost, rport) = (e.rsplit(":", 1) for e in (local, remote))
    lip, rip = (ipaddress.ip_address(h.strip("[]")) for h in (lhost, rhost))
    family = socket.AF_INET if lip.version == 4 else socket.AF_INET6
    return family, (_SOCKID.pack(int(lport), int(rport), lip.packed.ljust(16, b"\0"),
                                 rip.packed.ljust(16, b"\0"))
                    + _SOCKID_TAIL.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE))


class SockTable:
    """The kernel's TCP sockets of this network namespace, through sock_diag (what ss uses).

    A dump lists every socket, request sockets and TIME_WAIT included, but it walks the
    whole established hash (262144 buckets on these machines, whatever the namespace:
    0.4 ms idle here, 3-5 ms per family on a busy machine).  lookup() asks for named
    connections only, the way `ss` does not but inet_diag_find_one_icsk() allows: one hash
    lookup each, all of them in one netlink round trip.
    """

    def __init__(self):
        # the socket belongs to the namespace it is made in: make it inside the lab's
        self._nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        self._nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._seq = 0

    def close(self) -> None:
        self._nl.close()

    def _request(self, family: int, flags: int, sockid: bytes) -> tuple[int, bytes]:
        self._seq += 1
        body = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF) + sockid
        return self._seq, _NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY,
                                      NLM_F_REQUEST | flags, self._seq, 0) + body

    def _replies(self, outstanding: set[int]):
        """(seq, local, remote, state) of each socket the kernel reports, until every
        request in `outstanding` has been answered (a lookup's one reply or error, a dump's
        NLMSG_DONE)."""
        while outstanding:
            buf = self._nl.recv(1 << 20)
            off = 0
            while off + _NLMSG.size <= len(buf):
                length, kind, flags, seq, _ = _NLMSG.unpack_from(buf, off)
                body = off + _NLMSG.size
                off += (length + 3) & ~3
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    outstanding.discard(seq)  # ENOENT for a lookup: no such socket
                    continue
                fam, state, _, _, sport, dport, src, dst = _DIAG_MSG.unpack_from(buf, body)
                if not flags & 0x2:  # NLM_F_MULTI marks a dump's parts; a lookup has one
                    outstanding.discard(seq)
                if STATE_NAMES.get(state) == "CLOSE":
                    # no table holds a closed socket (tcp_set_state unhashes it): the dump
                    # took it while it was hashed and read it as it was being freed, its
                    # port already 0 (__inet_put_port).  Seen once under load, going to
                    # TIME_WAIT: "127.0.0.1:0 -> 127.0.0.1:8080 CLOSE"
                    continue
                yield (seq, _endpoint(fam, src, sport), _endpoint(fam, dst, dport),
                       STATE_NAMES.get(state, str(state)))

    def dump(self) -> list[tuple[str, str, str]]:
        """(local, remote, state) of every TCP socket in the namespace."""
        reqs = [self._request(f, NLM_F_DUMP, bytes(_SOCKID.size + _SOCKID_TAIL.size))
                for f in (socket.AF_INET, socket.AF_INET6)]
        out = []
        for seq, msg in reqs:  # one dump at a time: netlink runs one per socket
            self._nl.send(msg)
            out += [(l, r, st) for _, l, r, st in self._replies({seq})]
        return out

    def lookup(self, tuples) -> dict[Tuple, str]:
        """The state of each named connection the kernel has (absent ones are left out)."""
        tuples = list(tuples)
        if not tuples:
            return {}
        asked = {}
        msgs = []
        for local, remote in tuples:
            family, sockid = _sockid(local, remote)
            seq, msg = self._request(family, 0, sockid)
            asked[seq] = (local, remote)
            msgs.append(msg)
        self._nl.send(b"".join(msgs))  # netlink_rcv_skb answers each message in turn
        out = {}
        for seq, local, remote, state in self._replies(set(asked)):
            # with no connection of that tuple, inet_lookup() falls back to a listener on
            # the local port: only the exact connection counts
            if (local, remote) == asked.get(seq):
                out[(local, remote)] = state
        return out


def kernel_sockets() -> list[tuple[str, str, str]]:
    """(local, remote, state) of every TCP socket in this thread's network namespace."""
    table = SockTable()
    try:
        return table.dump()
    finally:
        table.close()


_CORE_SYSCTLS = ("rmem_default", "rmem_max", "wmem_default", "wmem_max", "somaxconn")


def sysctls() -> dict[str, str]:
    """net.ipv4.tcp_* and the net.core buffer limits, as this namespace sees them."""
    out = {}
    base = Path("/proc/sys/net")
    paths = sorted((base / "ipv4").glob("tcp_*")) + [base / "ipv4" / "ip_local_port_range"]
    paths += [base / "core" / n for n in _CORE_SYSCTLS]
    for p in paths:
        try:
            out[f"net.{p.parent.name}.{p.name}"] = " ".join(p.read_text().split())
        except OSError:
            continue  # write-only or absent on this kernel
    return out


def kernel_info() -> dict:
    return {"release": platform.release(), "version": platform.version(),
            "machine": platform.machine(), "lo_mtu": link_mtu("lo")}


CC_KEY = "net.ipv4.tcp_congestion_control"
TCP_CONGESTION = 13  # include/uapi/linux/tcp.h


def lab_congestion(overrides: dict[str, str] | None) -> tuple[str, dict[str, str]]:
    """The congestion control the lab pins each socket to, and the other overrides.

    A namespace may choose only what tcp_allowed_congestion_control lists (on this machine
    reno and bbr), but root may set any loaded algorithm on a socket (TCP_CONGESTION,
    tcp_set_congestion_control()), and an accepted child takes its listener's
    (tcp_assign_congestion_control() via inet_csk_clone_lock()).  So the lab does not depend
    on the host's default (bbr here, which the model does not have): each socket runs what
    --sysctl net.ipv4.tcp_congestion_control=NAME asks, else Linux's own default, cubic
    (KernelProfile.congestion_control)."""
    from ..model.profile import DEFAULT_CONGESTION

    rest = dict(overrides or {})
    return rest.pop(CC_KEY, DEFAULT_CONGESTION), rest


def pin_congestion(sock: socket.socket, cc: str) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc.encode())
    except OSError as e:
        raise TcpsimError(f"this kernel cannot run congestion control {cc!r} on a socket "
                          f"({e.strerror}); its available ones are in "
                          "/proc/sys/net/ipv4/tcp_available_congestion_control") from None


def record_congestion(trace, cc: str) -> None:
    """The trace says which algorithm ran: its sysctls name the pinned one (so a profile made
    from it models that), trace.kernel keeps the namespace's default, and when that default
    differs the notes say so."""
    default = trace.sysctls.get(CC_KEY)
    if default is not None:
        trace.kernel["default_congestion_control"] = default
    trace.sysctls[CC_KEY] = cc
    trace.kernel["congestion_control"] = cc
    if default is not None and default != cc:
        from ..i18n import t

        trace.notes.append(t("note.congestion", cc=cc, default=default))


def set_sysctls(overrides: dict[str, str]) -> None:
    """Write sysctls of the current (private) network namespace."""
    for key, value in overrides.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            path.write_text(value + "\n")
        except FileNotFoundError:
            raise TcpsimError(f"{key} is not a setting this kernel has in a network namespace; "
                              "check the name with `sysctl -a`") from None
        except OSError as e:
            raise TcpsimError(f"the kernel refused {key}={value} ({e.strerror}); "
                              "give a value it accepts") from None


def install_faults(faults) -> None:
    """Rules in the current (private) namespace that lose or hold back what the net lines say:
    nftables counts and drops or marks the segments; a marked segment goes to the lab's
    NFQUEUE (nfqueue.py) through an iptables rule, since nft's own `queue` statement is not
    built into this kernel (CONFIG_NFT_QUEUE) while the xtables NFQUEUE target is."""
    if not faults:
        return
    import shutil
    import subprocess

    if shutil.which("nft") is None:
        raise TcpsimError("this program drops or delays segments (net: lines), which the lab does "
                          "with nft; install it (Debian package nftables)")
    # a net: duplicate line's copy (nfqueue.py) goes through untouched, counted by no line
    rules = "\n".join([f"    meta mark {COPY_MARK:#x} accept"]
                      + [f"    {f.nft_rule()}" for f in faults])
    # `seq S`: the (sport, dport, absolute seq) of each connection, added by SeqSets
    sets = "".join(f"  set {f.seq_set} {{ typeof tcp sport . tcp dport . tcp sequence; }}\n"
                   for f in faults if f.seq is not None)
    # prerouting, the receiving side: the sender's TCP counts the segment as sent, as with a
    # real loss.  (At the output hook the drop is an error TCP sees: the segment stays queued
    # and goes later as a window probe, [FP.] -- not a loss at all.)  Priority -300 runs before
    # the iptables mangle table (-150) that queues the marked segments.
    ruleset = ("table inet tcpsim {\n" + sets + "  chain lose {\n    type filter hook prerouting priority -300; "
               f"policy accept;\n{rules}\n  }}\n}}\n")
    r = subprocess.run(["nft", "-f", "-"], input=ruleset, capture_output=True, text=True)
    if r.returncode != 0:
        raise TcpsimError(f"nft refused the rules for the net: lines ({r.stderr.strip()})")
    if not any(f.action in ("delay", "duplicate") for f in faults):
        return
    for tool in ("iptables-legacy", "ip6tables-legacy"):
        if shutil.which(tool) is None:
            raise TcpsimError(f"this program delays segments (net: delay), which the lab does with "
                              f"{tool}; install it (Debian package iptables)")
        r = subprocess.run([tool, "-t", "mangle", "-A", "PREROUTING", "-m", "mark", "--mark",
                            f"{FAULT_MARK:#x}/0xffff0000", "-j", "NFQUEUE", "--queue-num", "0"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise TcpsimError(f"{tool} refused the rule that queues delayed segments "
                              f"({r.stderr.strip()})")


class SeqSets:
    """`seq S` on a net line: nft matches sequence numbers only as they are on the wire, so
    when the capture shows a SYN or SYN-ACK of the line's sender, the lab adds that
    connection's ports and ISN + S to the line's set (install_faults()), before the next call
    can send data.  Through libnftables in this process (0.06 ms an element) rather than an nft
    process per connection."""

    def __init__(self, faults):
        self.faults = [f for f in faults if f.seq is not None]
        self._ctx = None
        self._lib = None
        if self.faults:
            import ctypes
            import ctypes.util

            name = ctypes.util.find_library("nftables") or "libnftables.so.1"
            try:
                self._lib = ctypes.CDLL(name)
            except OSError:
                self._lib = None  # then an nft process each time
            else:
                self._lib.nft_ctx_new.restype = ctypes.c_void_p
                self._lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
                self._lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
                self._lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
                self._lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
                self._lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
                self._ctx = self._lib.nft_ctx_new(0)
                self._lib.nft_ctx_buffer_error(self._ctx)
        self._seen: set[tuple] = set()

    def see(self, src: str, dst: str, flags: str, seq: int) -> None:
        """A captured segment: a SYN of a line's sender names a connection to add."""
        if not self.faults or "S" not in flags:
            return
        sport, dport = int(src.rsplit(":", 1)[1]), int(dst.rsplit(":", 1)[1])
        for f in self.faults:
            if not (sport in f.sports if f.sports else dport in f.dports):
                continue
            key = (f.line, sport, dport, seq)
            if key in self._seen:
                continue
            self._seen.add(key)
            self._run(f"add element inet tcpsim {f.seq_set} "
                      f"{{ {sport} . {dport} . {(seq + f.seq) % (1 << 32)} }}")

    def _run(self, cmd: str) -> None:
        if self._ctx is not None:
            if self._lib.nft_run_cmd_from_buffer(self._ctx, cmd.encode()) != 0:
                err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
                raise TcpsimError(f"nft refused {cmd!r} ({err.decode().strip()})")
            return
        import subprocess

        r = subprocess.run(["nft", cmd], capture_output=True, text=True)
        if r.returncode != 0:
            raise TcpsimError(f"nft refused {cmd!r} ({r.stderr.strip()})")

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


def fault_counts(faults) -> dict[int, int]:
    """How many segments each net line dropped or delayed, from the rules' counters."""
    if not faults:
        return {}
    import re
    import subprocess

    text = subprocess.run(["nft", "list", "table", "inet", "tcpsim"], capture_output=True,
                          text=True).stdout
    out = {}
    for m in re.finditer(r'counter packets (\d+) bytes \d+ .*?comment "line (\d+)"', text):
        out[int(m.group(2))] = int(m.group(1))
    return out
