"""The socket calls a scenario program can make, as data.

One table says, for every call, its parameters, what it returns and whether it can block.
The parser checks programs against it; the lab (real kernel) and the model both execute it.
Symbol values are Linux's (x86_64), the same numbers the C headers give.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field

# Symbol groups: name -> Linux value.  Flag groups may be OR-ed with '|'.
SYMBOLS: dict[str, dict[str, int]] = {
    "family": {"AF_INET": 2, "AF_INET6": 10},
    "socktype": {"SOCK_STREAM": 1, "SOCK_NONBLOCK": 0o4000, "SOCK_CLOEXEC": 0o2000000},
    "protocol": {"IPPROTO_TCP": 6},
    "how": {"SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2},
    "msg": {"MSG_PEEK": 0x2, "MSG_DONTWAIT": 0x40, "MSG_WAITALL": 0x100, "MSG_NOSIGNAL": 0x4000,
            "MSG_MORE": 0x8000},
    "fcntl_cmd": {"F_GETFL": 3, "F_SETFL": 4},
    "fcntl_flags": {"O_NONBLOCK": 0o4000},
    # ioctl(2) requests of a TCP socket (tcp_ioctl()); FIONREAD and TIOCOUTQ are their C aliases
    "ioctl": {"SIOCINQ": 0x541B, "FIONREAD": 0x541B, "SIOCOUTQ": 0x5411, "TIOCOUTQ": 0x5411,
              "SIOCOUTQNSD": 0x894B},
    "poll": {
        "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10,
        "POLLRDNORM": 0x40, "POLLRDBAND": 0x80, "POLLWRNORM": 0x100, "POLLWRBAND": 0x200,
        "POLLRDHUP": 0x2000,
    },
    "level": {"SOL_SOCKET": 1, "IPPROTO_TCP": 6},
    # epoll (include/uapi/linux/eventpoll.h): the events of an item, the operations
    "epoll": {
        "EPOLLIN": 0x1, "EPOLLPRI": 0x2, "EPOLLOUT": 0x4, "EPOLLERR": 0x8, "EPOLLHUP": 0x10,
        "EPOLLRDNORM": 0x40, "EPOLLRDBAND": 0x80, "EPOLLWRNORM": 0x100, "EPOLLWRBAND": 0x200,
        "EPOLLRDHUP": 0x2000, "EPOLLEXCLUSIVE": 1 << 28, "EPOLLONESHOT": 1 << 30,
        "EPOLLET": 1 << 31,
    },
    "epoll_op": {"EPOLL_CTL_ADD": 1, "EPOLL_CTL_DEL": 2, "EPOLL_CTL_MOD": 3},
}
FLAG_GROUPS = {"socktype", "msg", "fcntl_flags", "poll", "epoll"}


@dataclass(frozen=True)
class SockOpt:
    """A socket option: its level, number and the shape of its value."""

    name: str
    level: int
    number: int
    value: str  # "int" or "linger" ({onoff, seconds})


SOCKOPTS: dict[str, SockOpt] = {
    o.name: o
    for o in (
        SockOpt("SO_REUSEADDR", 1, 2, "int"),
        SockOpt("SO_ERROR", 1, 4, "int"),
        SockOpt("SO_SNDBUF", 1, 7, "int"),
        SockOpt("SO_RCVBUF", 1, 8, "int"),
        SockOpt("SO_KEEPALIVE", 1, 9, "int"),
        SockOpt("SO_LINGER", 1, 13, "linger"),
        SockOpt("SO_REUSEPORT", 1, 15, "int"),
        SockOpt("TCP_NODELAY", 6, 1, "int"),
        SockOpt("TCP_MAXSEG", 6, 2, "int"),
        SockOpt("TCP_CORK", 6, 3, "int"),
        SockOpt("TCP_KEEPIDLE", 6, 4, "int"),
        SockOpt("TCP_KEEPINTVL", 6, 5, "int"),
        SockOpt("TCP_KEEPCNT", 6, 6, "int"),
        SockOpt("TCP_SYNCNT", 6, 7, "int"),
        SockOpt("TCP_LINGER2", 6, 8, "int"),
        SockOpt("TCP_DEFER_ACCEPT", 6, 9, "int"),
        SockOpt("TCP_QUICKACK", 6, 12, "int"),
        SockOpt("TCP_USER_TIMEOUT", 6, 18, "int"),
        SockOpt("TCP_NOTSENT_LOWAT", 6, 25, "int"),
    )
}

# What the kernel's types hold, and what a program may ask of tcpsim.  A number a C program
# could not pass (outside an int, an unsigned short for poll's events) is refused when the
# program is parsed, not when the lab's socket call or the model's struct.pack meets it.
INT_MIN, INT_MAX = -2**31, 2**31 - 1  # int: backlog, option values, struct linger's fields
USHRT_MAX = 2**16 - 1  # struct pollfd's short events
# send()/recv() sizes: far more than any socket buffer (so a send that fills the peer's window
# and waits still fits) and the 100 MiB transfers the lab's capture is checked with
# (scripts/check_capture.py), yet bounded, because the model and the trace hold every byte
MAX_DATA = 256 * 2**20
# sleep and poll's timeout: a day covers every timer of TCP (TIME_WAIT, the FIN_WAIT2 timeout,
# backed-off retransmissions) many times over, and keeps the model's clock (float seconds from
# an epoch of 1.7e9 s) far finer than its 10 us loopback latency
MAX_DURATION_NS = 86_400 * 10**9

ERRNO_NAMES: frozenset[str] = frozenset(_errno.errorcode.values())


def errno_value(name: str) -> int:
    return getattr(_errno, name)


def errno_name(value: int) -> str:
    return _errno.errorcode.get(value, str(value))


def flag_names(group: str, value: int) -> str:
    """Render a flag value with its symbols, e.g. 'POLLIN|POLLOUT' (0 renders as '0')."""
    names = [n for n, v in SYMBOLS[group].items() if v and value & v == v]
    rest = value
    for n in names:
        rest &= ~SYMBOLS[group][n]
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # fd | address | int | data | duration | sockopt | optval | symbol group name
    default: object = field(default=None)

    @property
    def optional(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class CallSpec:
    """One socket call: what it takes, what it gives back, whether it may block.

    returns: "fd" (a new descriptor, may be named), "int" (0 or a count), "size" (bytes moved),
    "revents" (poll's event mask), "optval" (getsockopt's value), "none" (sleep, exit),
    "events" (epoll_wait: how many descriptors are ready, and which with what events).
    """

    name: str
    params: tuple[Param, ...]
    returns: str
    blocks: bool
    summary: str

    @property
    def signature(self) -> str:
        parts = [f"[{p.name}]" if p.optional else p.name for p in self.params]
        return f"{self.name}({', '.join(parts)})"


def _spec(name, params, returns, blocks, summary):
    return CallSpec(name, tuple(Param(*p) for p in params), returns, blocks, summary)


CALLS: dict[str, CallSpec] = {
    c.name: c
    for c in (
        _spec("socket", [("family", "family", "AF_INET"), ("type", "socktype", "SOCK_STREAM"),
                         ("protocol", "protocol", "0")], "fd", False,
              "create a TCP socket (a new descriptor, lowest free number from 3)"),
        _spec("bind", [("fd", "fd"), ("address", "address")], "int", False,
              "give the socket a local address and port"),
        _spec("listen", [("fd", "fd"), ("backlog", "int")], "int", False,
              "make the socket passive; backlog bounds the accept queue"),
        _spec("accept", [("fd", "fd")], "fd", True,
              "take a connection from the accept queue; blocks while it is empty"),
        _spec("connect", [("fd", "fd"), ("address", "address")], "int", True,
              "start the three-way handshake; blocks until it completes or fails"),
        _spec("send", [("fd", "fd"), ("data", "data"), ("flags", "msg", "0")], "size", True,
              "queue bytes for sending; blocks while the send buffer is full"),
        _spec("recv", [("fd", "fd"), ("length", "int"), ("flags", "msg", "0")], "size", True,
              "read up to length bytes; blocks while nothing has arrived"),
        _spec("readall", [("fd", "fd"), ("length", "int")], "size", True,
              "read with recv(length) calls until end-of-file (a C read loop); returns the "
              "bytes read in all"),
        _spec("close", [("fd", "fd")], "int", False,
              "release the descriptor; the kernel sends FIN (or RST) as Linux decides"),
        _spec("shutdown", [("fd", "fd"), ("how", "how")], "int", False,
              "end one or both directions (SHUT_WR sends FIN) without closing the descriptor"),
        _spec("setsockopt", [("fd", "fd"), ("option", "sockopt"), ("value", "optval")], "int", False,
              "set a socket option (SO_REUSEADDR, SO_LINGER {on, seconds}, TCP_NODELAY, ...)"),
        _spec("getsockopt", [("fd", "fd"), ("option", "sockopt")], "optval", False,
              "read a socket option (SO_ERROR gives the pending error by name)"),
        _spec("fcntl", [("fd", "fd"), ("cmd", "fcntl_cmd"), ("flags", "fcntl_flags", "0")], "int",
              False, "F_SETFL O_NONBLOCK makes later calls return EAGAIN/EINPROGRESS instead of blocking"),
        _spec("ioctl", [("fd", "fd"), ("request", "ioctl")], "int", False,
              "SIOCINQ: bytes waiting to be read; SIOCOUTQ: bytes sent and not yet acknowledged "
              "plus those not sent; SIOCOUTQNSD: those not sent"),
        _spec("poll", [("fd", "fd"), ("events", "poll"), ("timeout", "duration", "-1")], "revents",
              True, "wait until one of events is ready (or timeout); returns the ready events"),
        _spec("epoll_create", [], "fd", False,
              "create an epoll instance (a descriptor that watches sockets)"),
        _spec("epoll_ctl", [("epfd", "fd"), ("op", "epoll_op"), ("fd", "fd"),
                            ("events", "epoll", "0")], "int", False,
              "EPOLL_CTL_ADD, _MOD or _DEL a socket and the events to watch it for "
              "(EPOLLIN|EPOLLOUT...; EPOLLET: edge-triggered, EPOLLONESHOT: once)"),
        _spec("epoll_wait", [("epfd", "fd"), ("maxevents", "int", "16"),
                             ("timeout", "duration", "-1")], "events", True,
              "wait until a watched socket is ready (or timeout); returns the ready ones"),
        _spec("sleep", [("duration", "duration")], "none", True,
              "pause this process; the other processes go on"),
        _spec("fork", [("child", "process")], "none", False,
              "start a child process with copies of this process's descriptors (the same "
              "sockets: one closes with its last descriptor); the child's lines follow"),
        _spec("dup", [("fd", "fd")], "fd", False,
              "a second descriptor for the same socket (lowest free number); the socket "
              "closes with the last of them"),
        _spec("thread", [("child", "process")], "none", False,
              "start a thread: a process that shares this one's descriptor table (the same "
              "descriptors, names and all; a close() in either closes it for both)"),
        _spec("exit", [], "none", False,
              "end the process: the kernel closes its open descriptors in ascending order"),
    )
}
