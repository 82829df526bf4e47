"""Random programs in the scenario format (docs/scenario-format.md), for `tcpsim selfcheck`.

Why a seeded generator and not Hypothesis: program i of seed S is drawn from its own
random.Random("S:i"), so it is the same whatever N, whatever --jobs and whichever worker draws
it, and a program found once is found again by its number alone; Hypothesis draws from one
stream per test and shrinks against a deterministic predicate, while the lab is not
deterministic at the jiffy level (shrink.py re-runs it before accepting a step), and its
database would live beside the user's work.  The shrinker (shrink.py) is delta debugging over
the lines of the program text, so that whatever the generator makes can be shrunk.

A program is built as a plan the ordering rule makes safe: a server listens before a client
connects; a blocking read is written only where bytes (or the peer's FIN) are sure to come;
a send larger than the buffers is followed at once by the reader's MSG_WAITALL; so a program
does not hang.  A share of programs carry odd calls (a descriptor used after close, options
out of range, calls on a socket in the wrong state) and `net:` lines (drops, delays,
duplicates of every kind, which also reorder segments).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PORT = 8080
KINDS = ("SYN", "SYN-ACK", "ACK", "FIN", "RST", "DATA")
# On a wire with a `net: delay` line, a client waits this long after connect() returns before
# its next call (selfcheck's cause 3): the handshake's last ACK and the client's first segment
# leave together in the model (its calls take no time) and arrive together after the delay, so
# the call accept() wakes the server for finds the data there; in the lab the second segment
# left a call later (~0.1-1 ms, more under load) and arrives that much later, and the server's
# next call (a recv) finds nothing.  Both are the kernel's ways (explore's "arrival" race runs
# the other side too, but its exchange signature does not tell a call that blocked from one
# that returned, so the other side folds into the file order's exchange): a generated program
# keeps the two apart rather than leave its verdict to the lab's speed
# (docs/scenario-format.md, "With delays").  Longer than the lab's lateness (TIMING_ABS).
TIE_GAP_MS = 10


@dataclass
class _Side:
    proc: str
    fd: str
    nonblocking: bool = False
    closed: bool = False  # its descriptor is closed
    wr_shut: bool = False  # it sent its FIN (shutdown SHUT_WR or close)
    quiet: bool = False  # its end may never reach the peer: its RST, which a net: line drops


@dataclass
class _Flow:
    """Bytes on their way from one side to the other: at least lo and at most hi unread."""
    lo: int = 0
    hi: int = 0
    eof: bool = False  # the writer's FIN is on its way: a read will not block for ever


@dataclass
class _Builder:
    rng: random.Random
    lines: list[str] = field(default_factory=list)
    net: list[str] = field(default_factory=list)
    sysctls: list[str] = field(default_factory=list)

    @property
    def rst_lost(self) -> bool:
        """A net: line drops RSTs: an RST is never sent again (tcp_send_active_reset()),
        so a reader waiting for the end of an aborted connection waits for ever."""
        return any(line.startswith("net: drop") and " RST" in line for line in self.net)

    def add(self, proc: str, text: str) -> None:
        self.lines.append(f"{proc}: {text}")


def _size(rng: random.Random, big: bool = True) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.randint(1, 100)
    if r < 0.75:
        return rng.randint(101, 5000)
    if r < 0.92 or not big:
        return rng.randint(5001, 70000)
    if r < 0.985:
        return rng.randint(70001, 400000)
    return rng.randint(400001, 3 * 2**20)  # megabytes, now and then


def _data(rng: random.Random, n: int) -> str:
    if n <= 24 and rng.random() < 0.5:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
        text = "".join(rng.choice(alphabet) for _ in range(max(1, n - 1)))
        return '"' + text + ('\\n"' if n > 1 else '"')
    return str(n)


def _addr(family: str, port: int) -> str:
    return f"[::1]:{port}" if family == "AF_INET6" else f"127.0.0.1:{port}"


def _socket(family: str, nonblocking: bool) -> str:
    if nonblocking:
        return f"fd = socket({family}, SOCK_STREAM|SOCK_NONBLOCK)"
    return "fd = socket()" if family == "AF_INET" else f"fd = socket({family})"


def _send(b: _Builder, w: _Side, r: _Side, flow: _Flow) -> None:
    rng = b.rng
    n = _size(rng)
    if w.nonblocking or r.nonblocking:  # nobody would wait for the rest, or read it
        n = min(n, 20000)
    flags = rng.choices(["", "MSG_MORE", "MSG_NOSIGNAL", "MSG_DONTWAIT"], [80, 8, 8, 4])[0]
    text = _data(rng, n)
    b.add(w.proc, f"send({w.fd}, {text}{', ' + flags if flags else ''})")
    n_sent = len(text[1:-1].replace("\\n", "\n")) if text.startswith('"') else n
    sure = not (w.nonblocking or flags == "MSG_DONTWAIT")
    flow.hi += n_sent
    if sure:
        flow.lo += n_sent
    if r.closed or r.nonblocking:
        return
    # the reader takes it now when the send might wait for room (or sometimes anyway)
    if (sure and n_sent > 8000) or rng.random() < 0.6:
        if sure and (n_sent > 8000 or rng.random() < 0.5):
            b.add(r.proc, f"recv({r.fd}, {flow.lo}, MSG_WAITALL)")
            flow.hi -= flow.lo
            flow.lo = 0
        elif flow.lo > 0:
            _recv(b, r, flow)


def _recv(b: _Builder, r: _Side, flow: _Flow) -> None:
    rng = b.rng
    n = rng.choice([1, 10, 100, 1000, 65536, max(1, flow.hi)])
    if flow.lo > 0:
        # no more than the bytes sure to be ahead of any the writer sends later: a read that
        # runs late (its process parked in a sleep, or waiting for delayed bytes, while the
        # writer's later lines run) would take some of those, and the reader's MSG_WAITALL
        # for them would wait for ever (a "stuck" program)
        n = min(n, flow.lo)
    peek = rng.random() < 0.1
    b.add(r.proc, f"recv({r.fd}, {n}{', MSG_PEEK' if peek else ''})")
    if peek:
        return
    flow.hi = max(0, flow.hi - 1)
    flow.lo = max(0, flow.lo - n)


def _option(b: _Builder, s: _Side, before_connect: bool) -> None:
    rng = b.rng
    if before_connect:
        opt = rng.choice(["SO_RCVBUF, 4096", "SO_RCVBUF, 65536", "SO_SNDBUF, 8192",
                          "TCP_MAXSEG, 536", "TCP_MAXSEG, 1000", "TCP_NODELAY, 1",
                          "SO_KEEPALIVE, 1", "TCP_SYNCNT, 2", "TCP_USER_TIMEOUT, 2000",
                          "TCP_NOTSENT_LOWAT, 4096", "SO_REUSEADDR, 1"])
    else:
        opt = rng.choice(["TCP_NODELAY, 1", "TCP_NODELAY, 0", "TCP_CORK, 1", "TCP_CORK, 0",
                          "TCP_QUICKACK, 1", "SO_LINGER, {1, 0}", "SO_LINGER, {0, 0}",
                          "SO_KEEPALIVE, 1", "TCP_NOTSENT_LOWAT, 1000"])
    b.add(s.proc, f"setsockopt({s.fd}, {opt})")


def _look(b: _Builder, s: _Side) -> None:
    """A call that asks and never waits long."""
    rng = b.rng
    what = rng.choice(["ioctl_in", "ioctl_out", "ioctl_nsd", "poll0", "poll10", "error"])
    if what == "ioctl_in":
        b.add(s.proc, f"ioctl({s.fd}, SIOCINQ)")
    elif what == "ioctl_out":
        b.add(s.proc, f"ioctl({s.fd}, SIOCOUTQ)")
    elif what == "ioctl_nsd":
        b.add(s.proc, f"ioctl({s.fd}, SIOCOUTQNSD)")
    elif what == "poll0":
        b.add(s.proc, f"poll({s.fd}, POLLIN|POLLOUT|POLLRDHUP, 0)")
    elif what == "poll10":
        b.add(s.proc, f"poll({s.fd}, POLLIN, 10ms)")
    else:
        b.add(s.proc, f"getsockopt({s.fd}, SO_ERROR)")


def _odd(b: _Builder, proc: str, fd: str, state: str, readable: bool = True) -> None:
    """A call a careful program would not make: its result is the kernel's error, or an
    option out of the usual range.  state: the socket's (fresh, listening, connected,
    closed); readable: a connected socket has bytes or the end to read (else its recv(fd, 0)
    is made with MSG_DONTWAIT: a blocking one waits for a byte, tcp_recvmsg_locked()'s
    target is sock_rcvlowat() >= 1, and none may come)."""
    rng = b.rng
    if state == "closed":
        b.add(proc, rng.choice([f"send({fd}, 1)", f"recv({fd}, 10)", f"close({fd})",
                                f"shutdown({fd}, SHUT_WR)", f"getsockopt({fd}, SO_ERROR)"]))
    elif state == "fresh":
        # (not listen(): a socket that listens can no longer connect or bind, and the
        # program's accept() would wait for ever)
        b.add(proc, rng.choice([f"send({fd}, 5)", f"recv({fd}, 10)", f"accept({fd})",
                                f"shutdown({fd}, SHUT_RDWR)",
                                f"ioctl({fd}, SIOCINQ)", f"setsockopt({fd}, TCP_MAXSEG, 1)",
                                f"setsockopt({fd}, SO_RCVBUF, 0)", f"setsockopt({fd}, TCP_SYNCNT, 300)",
                                f"setsockopt({fd}, TCP_KEEPIDLE, 0)", f"recv({fd}, 0)"]))
    elif state == "listening":
        b.add(proc, rng.choice([f"send({fd}, 5)", f"recv({fd}, 10)", f"listen({fd}, 1)",
                                f"ioctl({fd}, SIOCINQ)", f"shutdown({fd}, SHUT_WR)",
                                f"connect({fd}, 127.0.0.1:{PORT})", f"poll({fd}, POLLIN, 0)",
                                f"getsockopt({fd}, SO_ERROR)"]))
    else:
        text = rng.choice([f"connect({fd}, 127.0.0.1:{PORT})", f"listen({fd}, 3)",
                           f"recv({fd}, 0)", f"accept({fd})", f"setsockopt({fd}, TCP_MAXSEG, 100)",
                           f"setsockopt({fd}, TCP_NODELAY, -1)", f"send({fd}, \"\")",
                           f"setsockopt({fd}, TCP_USER_TIMEOUT, -5)",
                           f"shutdown({fd}, SHUT_RD)"])
        if text == f"recv({fd}, 0)" and not readable:
            text = f"recv({fd}, 0, MSG_DONTWAIT)"
        b.add(proc, text)


def _net(b: _Builder, procs: list[str], nclients: int = 1) -> None:
    """A `net:` line.  With two clients or more, a drop or an uneven delay lets the
    handshakes through (`after` counts them too): a lost SYN, SYN-ACK or ACK of the first
    client lets the second one's connection complete first, and the server's first accept()
    returns it, where the program's lines expect the first client's (they read and write c1
    for client): the program would hang, counted "stuck" at 5 s each (2 of 3 such programs
    measured, scripts/selfcheck_stuck.py).  One client's handshake faults stay (60% of
    programs have one client)."""
    rng = b.rng
    action = rng.choices(["drop", "delay", "duplicate"], [45, 40, 15])[0]
    kind = rng.choice(KINDS + ("",) * 2)
    if action == "delay" and rng.random() < 0.3:
        b.net.append(f"net: delay all by {rng.choice([2, 5, 10, 20, 30])}ms")
        return
    parts = [action]
    if action != "drop" and rng.random() < 0.2:
        parts.append(str(rng.randint(2, 3)))
    elif action == "drop" and rng.random() < 0.15:
        parts.append("2")
    if kind:
        parts.append(kind)
    sender = rng.choice(procs) if rng.random() < 0.5 else None
    if sender:
        parts.append(f"from {sender}")
    after = rng.randint(1, 3) if rng.random() < 0.3 else 0
    if nclients > 1 and action != "duplicate":
        # the handshakes' segments of that kind (and sender), all before any data
        per = {"SYN": 1, "SYN-ACK": 1, "ACK": 1, "": 3}.get(kind, 0)
        if sender == "server":
            per = 1 if kind in ("SYN-ACK", "") else 0
        after += per * nclients
    if after:
        parts.append(f"after {after}")
    if action == "delay":
        parts.append(f"by {rng.choice([1, 5, 15, 50, 120])}ms")
    elif action == "duplicate" and rng.random() < 0.4:
        parts.append(f"by {rng.choice([1, 10, 30])}ms")
    b.net.append("net: " + " ".join(parts))


def _delays_handshake_ack(line: str) -> bool:
    """A `net: delay` line that may hold back a client's last ACK of the handshake: of every
    kind or of ACKs, not only the server's."""
    words = line.split()
    return (words[:2] == ["net:", "delay"] and "from server" not in line
            and not any(k in words for k in KINDS if k != "ACK"))


def generate(seed: int, index: int) -> str:
    """Program `index` of `seed`: the program text (parse() accepts it)."""
    rng = random.Random(f"tcpsim-selfcheck:{seed}:{index}")
    b = _Builder(rng)
    odd = rng.random() < 0.2
    nclients = rng.choices([1, 2, 3], [60, 25, 15])[0]
    family = "AF_INET6" if rng.random() < 0.07 else "AF_INET"
    fam = "" if family == "AF_INET" else "AF_INET6"
    clients = ["client"] + [f"client{k}" for k in range(2, nclients + 1)]
    if rng.random() < 0.06:  # now and then: a client that finds nobody listening
        return _refused(b, seed, index, family)
    if rng.random() < 0.08:
        b.sysctls.append(rng.choice(["sysctl: net.ipv4.tcp_sack = 0",
                                     "sysctl: net.ipv4.tcp_timestamps = 0",
                                     "sysctl: net.ipv4.tcp_window_scaling = 0",
                                     "sysctl: net.ipv4.tcp_no_metrics_save = 0"]))
    if rng.random() < 0.35:
        for _ in range(rng.choice([1, 1, 2])):
            # `from` names a process by its fixed port: the clients of one server share it
            _net(b, ["server"] + clients[:1] if nclients == 1 else ["server"], nclients)
    delayed = any(_delays_handshake_ack(line) for line in b.net)
    b.add("server", f"s = socket({fam})")
    if rng.random() < 0.3:
        b.add("server", "setsockopt(s, SO_REUSEADDR, 1)")
    if odd and rng.random() < 0.3:
        _odd(b, "server", "s", "fresh")
    bind = "[::]" if family == "AF_INET6" else "0.0.0.0"
    b.add("server", f"bind(s, {bind}:{PORT})")
    backlog = rng.choices([nclients + rng.randint(0, 4), 0, 1], [85, 5, 10])[0]
    b.add("server", f"listen(s, {backlog})")
    if odd and rng.random() < 0.3:
        _odd(b, "server", "s", "listening")
    early = rng.random() < 0.3  # clients connect before the server accepts
    pairs = []
    for k, cp in enumerate(clients):
        c = f"c{k + 1}"
        srv, cli = _Side("server", c), _Side(cp, "fd")
        if not early:
            b.add("server", f"{c} = accept(s)")
        nb = rng.random() < 0.12
        b.add(cp, _socket(family, nb))
        if rng.random() < 0.2:
            _option(b, cli, True)
        if odd and rng.random() < 0.3:
            _odd(b, cp, "fd", "fresh")
        b.add(cp, f"connect(fd, {_addr(family, PORT)})")
        if nb:
            b.add(cp, "poll(fd, POLLOUT)")
            cli.nonblocking = True
        if delayed:
            b.add(cp, f"sleep {TIE_GAP_MS}ms")
        if early:
            b.add("server", f"{c} = accept(s)")
        pairs.append((srv, cli))
    for srv, cli in pairs:
        _conversation(b, srv, cli, odd)
    if rng.random() < 0.8:
        b.add("server", "close(s)")
    lines = [f"# selfcheck: seed {seed}, program {index}"] + b.sysctls + b.net + b.lines
    return "\n".join(lines) + "\n"


def _refused(b: _Builder, seed: int, index: int, family: str) -> str:
    rng = b.rng
    fam = "" if family == "AF_INET" else "AF_INET6"
    nb = rng.random() < 0.4
    b.add("client", _socket(family, nb))
    if rng.random() < 0.3:
        b.add("client", f"bind(fd, {'[::1]' if fam else '127.0.0.1'}:{PORT + 1})")
    b.add("client", f"connect(fd, {_addr(family, PORT)})")
    if nb:
        b.add("client", "poll(fd, POLLOUT, 50ms)")
    b.add("client", "getsockopt(fd, SO_ERROR)")
    if rng.random() < 0.5:
        b.add("client", f"connect(fd, {_addr(family, PORT)})")
    b.add("client", rng.choice(["send(fd, 1)", "recv(fd, 10)", "close(fd)"]))
    lines = [f"# selfcheck: seed {seed}, program {index}"] + b.lines
    return "\n".join(lines) + "\n"


def _conversation(b: _Builder, srv: _Side, cli: _Side, odd: bool) -> None:
    """The life of one connection after the handshake: data both ways, pauses, options,
    then its end (shutdown, close, an abortive close)."""
    rng = b.rng
    up, down = _Flow(), _Flow()  # client -> server, server -> client
    flows = {id(cli): up, id(srv): down}  # what the side writes
    peer = {id(cli): srv, id(srv): cli}
    for _ in range(rng.choices([0, 1, 2, 3, 4, 6], [5, 25, 25, 20, 15, 10])[0]):
        w = rng.choice([cli, srv])
        r = peer[id(w)]
        move = rng.choices(["send", "recv", "sleep", "option", "look", "shut", "odd"],
                           [55, 10, 8, 8, 8, 5, 6 if odd else 0])[0]
        if move == "send" and not w.wr_shut:
            _send(b, w, r, flows[id(w)])
        elif move == "recv":
            flow = flows[id(w)]  # w's peer reads what w wrote
            if flow.lo > 0 or flow.eof:
                if not r.nonblocking:
                    _recv(b, r, flow)
        elif move == "sleep":
            b.add(w.proc, f"sleep {rng.choice([1, 5, 30, 60, 250])}ms")
        elif move == "option":
            _option(b, w, False)
        elif move == "look":
            _look(b, w)
        elif move == "shut" and not w.wr_shut:
            b.add(w.proc, f"shutdown({w.fd}, SHUT_WR)")
            w.wr_shut = True
            flows[id(w)].eof = True
        elif move == "odd":
            inbound = flows[id(r)]  # what w may read: its peer wrote it
            _odd(b, w.proc, w.fd, "connected", inbound.lo > 0 or inbound.eof)
    # the end: who closes first, and how
    first, second = (cli, srv) if rng.random() < 0.55 else (srv, cli)
    for s in (first, second):
        flow = flows[id(peer[id(s)])]  # what s may still read
        how = rng.choices(["close", "drain", "abort", "linger1", "shutdown", "exit"],
                          [45, 25, 8, 3, 12, 7])[0]
        if s.proc == "server" and how == "exit":
            how = "close"
        other = peer[id(s)]
        if how == "drain" and (flow.eof or other.closed and not other.quiet) and not s.nonblocking:
            b.add(s.proc, f"readall({s.fd}, 65536)")
            flow.lo = flow.hi = 0
            how = "close"
        elif how == "drain":
            how = "close"
        abortive = how == "abort"
        if how == "abort":
            b.add(s.proc, f"setsockopt({s.fd}, SO_LINGER, {{1, 0}})")
            how = "close"
        elif how == "linger1":
            b.add(s.proc, f"setsockopt({s.fd}, SO_LINGER, {{1, 1}})")
            how = "close"
        elif how == "shutdown":
            b.add(s.proc, f"shutdown({s.fd}, {rng.choice(['SHUT_WR', 'SHUT_RDWR'])})")
            s.wr_shut = True
            flows[id(s)].eof = True
            if rng.random() < 0.5:
                how = "close"
        if how == "close":
            b.add(s.proc, f"close({s.fd})")
        elif how == "exit":
            b.add(s.proc, "exit")
        s.closed = how in ("close", "exit")
        s.wr_shut = True
        # an abortive close, or a close with bytes maybe unread (__tcp_close(): RST), whose
        # RST a net: line may drop: the peer may never see the end (its readall waits)
        s.quiet = b.rst_lost and (abortive or s.closed and flow.hi > 0)
        flows[id(s)].eof = flows[id(s)].eof or not s.quiet
        if odd and how == "close" and rng.random() < 0.3:
            _odd(b, s.proc, s.fd, "closed")
