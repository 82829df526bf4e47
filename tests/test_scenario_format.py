"""The scenario program format: what it expresses, and the errors it reports."""

import pytest

from tcpsim.errors import TcpsimError
from tcpsim.scenario import Address, Linger, Schedule, ScenarioError, builtin_names, load, parse

from .conftest import PROGRAMS


def test_the_seed_programs_are_expressed_exactly():
    p = load("handshake")
    assert p.processes == ("server", "client")
    server = [(s.call, s.args, s.assign) for s in p.steps_of("server")]
    assert server == [
        ("socket", (2, 1, 0), "s"),
        ("bind", ("s", Address("0.0.0.0", 8080)), None),
        ("listen", ("s", 3), None),
        ("accept", ("s",), "c"),
        ("send", ("c", b"Hello from server!\n", 0), None),
        ("close", ("c",), None),
        ("close", ("s",), None),
    ]
    client = [(s.call, s.args) for s in p.steps_of("client")]
    assert client == [
        ("socket", (2, 1, 0)),
        ("connect", ("fd", Address("127.0.0.1", 8080))),
        ("recv", ("fd", 1024, 0)),
        ("close", ("fd",)),
    ]
    assert len(p.steps[4].args[1]) == 19
    assert p.steps[1].expect.value == 0 and p.steps[1].expect.errno is None
    assert p.steps[4].text == 'send(c, "Hello from server!\\n", 0)'


def test_builtin_programs_include_handshake_and_the_teardown_variants():
    names = builtin_names()
    assert {"handshake", "teardown-client-first", "teardown-server-first",
            "teardown-four-segment"} <= set(names)
    for n in names:
        assert load(n).description, f"{n} has no one-line description"


@pytest.mark.parametrize("path", sorted(PROGRAMS.glob("*.tcp")), ids=lambda p: p.stem)
def test_the_format_expresses_the_required_programs(path):
    p = load(str(path))
    assert p.steps and p.name == path.stem


def test_options_values_and_expectations():
    p = parse(
        "c: fd = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)\n"
        "c: setsockopt(fd, SO_LINGER, {1, 0}) = 0\n"
        "c: setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)\n"
        "c: connect(fd, [::1]:80) = -1 EINPROGRESS\n"
        "c: poll(fd, POLLOUT, 100) = POLLOUT|POLLHUP\n"
        "c: getsockopt(fd, SO_ERROR) = ECONNREFUSED\n"
        "c: send(fd, 1000, MSG_NOSIGNAL)\n"
        "c: sleep 300ms\n"
        "c: shutdown(fd, SHUT_WR)\n")
    s = p.steps
    assert s[0].args == (2, 1 | 0o4000, 0)
    assert s[1].args[2] == Linger(1, 0)
    assert s[2].args[1].name == "TCP_NODELAY" and s[2].args[2] == 1
    assert s[3].args[1] == Address("::1", 80) and s[3].expect.errno == "EINPROGRESS"
    assert s[4].args[2] == 100_000_000 and s[4].expect.value == 0x4 | 0x10
    assert s[5].expect.value == 111
    assert len(s[6].args[1]) == 1000 and s[6].args[2] == 0x4000
    assert s[7].args == (300_000_000,)
    assert s[8].args[1] == 1


def test_comments_blank_lines_and_the_header_description():
    p = parse("# First line describes.\n# more\n\nx: s = socket()  # a comment\n\n# between\n"
              'x: send(s, "a # not a comment")\n')
    assert p.description == "First line describes."
    assert [s.line for s in p.steps] == [4, 7]
    assert p.steps[1].args[1] == b"a # not a comment"


def test_the_description_is_the_first_sentence_even_when_it_wraps():
    # lost-segment-sack's header wraps its first sentence over two lines; the report and
    # `scenarios` used to stop at "each leaves at"
    p = parse("# Six writes (MSS 988; TCP_NODELAY: each leaves at\n# once); the second is lost.  The"
              " third\n# arrives out of order.\n\nx: s = socket()\n")
    assert p.description == "Six writes (MSS 988; TCP_NODELAY: each leaves at once); the second is lost."
    assert load("lost-segment-sack").description.endswith("the second is lost on the way.")
    p = parse("# Sizes such as 1.5 MB, e.g. a file.\n#\n# Second paragraph.\nx: s = socket()\n")
    assert p.description == "Sizes such as 1.5 MB, e.g. a file."


@pytest.mark.parametrize("text, line, col, message", [
    ("server s = socket()", 1, 8, "expected ':' after the process name, but found 's'"),
    ("c: fd = sockit()", 1, 9, "unknown call 'sockit'; did you mean socket?"),
    ("c: connect(fd, 127.0.0.1:80)", 1, 12,
     "'fd' is not a descriptor of this process yet; create it first, e.g. 'fd = socket()'"),
    ("c: fd = socket()\nc: connect(fd, 127.0.0.1)", 2, 16,
     "connect() needs an address and port such as 127.0.0.1:8080 or [::1]:8080"),
    ("c: fd = socket()\nc: listen(fd)", 2, 4,
     "listen() takes 2 argument(s), listen(fd, backlog), but was given 1"),
    ("c: fd = socket(AF_INET, SOCK_STRAM)", 1, 25,
     "'SOCK_STRAM' is not one of SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC; did you mean SOCK_STREAM?"),
    ('c: fd = socket()\nc: send(fd, "abc)', 2, 13, 'this string has no closing quote (")'),
    ("c: fd = socket()\nc: close(fd) = -1 ECONNREFUSD", 2, 19,
     "'ECONNREFUSD' is not an errno name; did you mean ECONNREFUSED?"),
    ("c: sleep 300", 1, 10, "sleep needs a duration with a unit, such as 300ms, 1s or 50us"),
    ("c: fd = socket()\nc: n = close(fd)", 2, 4,
     "close() does not return a descriptor, so its result cannot be given a name"),
    ("c: fd = socket()\nc: setsockopt(fd, SO_LINGER, 1)", 2, 30,
     "SO_LINGER takes {onoff, seconds}, for example {1, 0}"),
    ("c: fd = socket()\nc: close(fd) close(fd)", 2, 14,
     "unexpected 'close' after the call; one call per line"),
    ("c: exit\nc: fd = socket()", 2, 1, "process 'c' already exited at line 1; it can make no more calls"),
    ("c: fd = socket()\nc: bind(fd, 127.0.0.1:70000)", 2, 13,
     "'127.0.0.1:70000' is not a valid address and port (port 70000 is outside 0..65535)"),
    ("# only a comment\n", 1, 1, "the program has no calls; write lines such as 'server: s = socket()'"),
    ("c: fd = socket() @", 1, 18, "unexpected character '@'"),
    ("s: s = socket()\ns: epoll_wait(s)", 2, 15, "epoll_wait() needs an epoll descriptor as its "
     "epfd, one made by 'ep = epoll_create()'; 's' is a socket"),
    ('s: ep = epoll_create()\ns: send(ep, "x")', 2, 9,
     "'ep' is an epoll descriptor; send() needs a socket here"),
    ("s: ep = epoll_create()\ns: epoll_wait(ep) = ep EPOLLIN", 2, 21, "epoll_wait's result is "
     "the ready sockets with their events, as 'c EPOLLIN, s EPOLLIN|EPOLLOUT', or a count"),
    ("s: ep = epoll_create()\ns: s = socket()\ns: epoll_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN|EPOLLIM)",
     3, 44, "'EPOLLIM' is not one of EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM, "
     "EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLET; "
     "did you mean EPOLLIN?"),
])
def test_errors_point_at_line_and_column(text, line, col, message):
    with pytest.raises(ScenarioError) as info:
        parse(text, source="t.tcp")
    e = info.value
    assert (e.line, e.col, e.message) == (line, col, message)
    first = str(e).splitlines()[0]
    assert first == f"t.tcp:{line}:{col}: {message}"


def test_error_shows_the_line_with_a_caret():
    with pytest.raises(ScenarioError) as info:
        parse("c: fd = sockit()", source="t.tcp")
    assert str(info.value).splitlines()[1:] == ["    c: fd = sockit()", "            ^"]


def test_unknown_program_names_the_way_out():
    with pytest.raises(TcpsimError, match="no program named 'nope': `tcpsim scenarios` lists"):
        load("nope")


# -- ordering semantics ----------------------------------------------------------------------

SEED = load("handshake")


def _order(program, blocks: dict[int, int]):
    """Run the schedule, parking line i until line blocks[i] has started."""
    sched, order = Schedule(program), []
    waiting: dict[int, int] = {}
    while not sched.finished:
        for i, until in list(waiting.items()):
            if sched.started[until]:
                sched.resume(program.steps[i].process)
                del waiting[i]
        step = sched.next_step()
        assert step is not None, "deadlock in the test schedule"
        sched.start(step)
        order.append(step.line)
        if step.index in blocks:
            sched.park(step)
            waiting[step.index] = blocks[step.index]
    return order


def test_lines_run_in_file_order_when_nothing_blocks():
    assert _order(SEED, {}) == [s.line for s in SEED.steps]


def test_a_blocked_call_lets_the_other_processes_run():
    # accept (index 3) blocks until the client's connect (index 8) has run
    order = _order(SEED, {3: 8})
    assert order == [7, 8, 9, 10, 14, 15, 11, 12, 13, 16, 17]


def test_the_parked_process_keeps_its_own_order():
    sched = Schedule(SEED)
    for _ in range(4):
        sched.start(sched.next_step())
    sched.park(SEED.steps[3])
    assert sched.next_step().process == "client"
    copy = sched.copy()
    copy.resume("server")
    assert copy.next_step().line == 11 and sched.next_step().line == 14


# -- any text at all: a program or one clean error ------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["server", "client", ":", " ", "s", "=", "socket", "(", ")", ",",
                           "bind", "127.0.0.1:80", "[::1]:8", "\"x\\n\"", "\"", "-1", "EPIPE",
                           "SO_LINGER", "{", "}", "1", "|", "POLLIN", "sleep", "300ms", "#",
                           "\n", "exit", "accept", "c", "0x1f", "é", "\t"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join) | st.text(max_size=80))
def test_any_text_parses_or_gets_one_located_error(text):
    try:
        parse(text, source="fuzz.tcp")
    except ScenarioError as e:
        assert e.line >= 1 and e.col >= 1 and e.message and "\n" not in e.message


# -- net: lines (faults) ----------------------------------------------------------------------

FAULTY = "server: s = socket()\nserver: bind(s, 0.0.0.0:8080)\nclient: fd = socket()\n" \
         "client: connect(fd, 127.0.0.1:8080)\n"


def test_net_lines_name_what_to_drop_and_whose():
    p = parse(FAULTY + "net: drop 2 SYN from client\nnet: drop all FIN from server\n"
              "net: drop ACK\n")
    syn, fin, ack = p.faults
    assert (syn.count, syn.kind, syn.sender, syn.dports) == (2, "SYN", "client", (8080,))
    assert (fin.count, fin.kind, fin.sports) == (None, "FIN", (8080,))
    assert (ack.count, ack.sender) == (1, None)
    assert syn.matches("S", 0, 40000, 8080) and not syn.matches("S.", 0, 8080, 40000)
    assert ack.matches(".", 0, 1, 2) and not ack.matches(".", 5, 1, 2)  # a pure ACK only
    assert "numgen inc mod 1000000000 0-1" in syn.nft_rule() and "tcp dport { 8080 }" in syn.nft_rule()
    assert [s.call for s in p.steps] == ["socket", "bind", "socket", "connect"]  # not calls


def test_a_data_line_takes_segments_with_payload_whatever_their_flags():
    p = parse(FAULTY + "net: drop 1 DATA from client after 2\n")
    data, = p.faults
    assert (data.kind, data.count, data.skip, data.dports) == ("DATA", 1, 2, (8080,))
    assert data.matches("P.", 5, 40000, 8080) and data.matches("FP.", 1, 40000, 8080)
    assert not data.matches(".", 0, 40000, 8080) and not data.matches("F.", 0, 40000, 8080)
    assert not data.matches("P.", 5, 8080, 40000)  # the server's
    rule = data.nft_rule()
    # payload: longer than the IP header and the TCP header (doff words), for each family
    assert "meta nfproto . meta length . tcp doff {" in rule
    assert "ipv4 . 53-4294967295 . 8" in rule and "ipv6 . 73-4294967295 . 8" in rule
    assert "numgen inc mod 1000000000 2-2" in rule and rule.endswith('drop comment "line 5"')


def test_net_lines_delay_segments_of_a_kind_or_every_segment():
    p = parse(FAULTY + "net: delay all by 20ms\nnet: delay 1 SYN from client after 1 by 1.5s\n")
    link, syn = p.faults
    assert (link.action, link.kind, link.count, link.delay) == ("delay", "any", None, 0.02)
    assert link.matches("F.", 0, 1, 2) and link.matches("S", 0, 1, 2)
    assert (syn.kind, syn.count, syn.skip, syn.delay, syn.dports) == ("SYN", 1, 1, 1.5, (8080,))
    assert not syn.takes(0) and syn.takes(1) and not syn.takes(2)
    rule = syn.nft_rule()  # the lab marks it for its queue; nothing is dropped
    assert "numgen inc mod 1000000000 1-1" in rule and "meta mark set 0x7c500006 accept" in rule
    assert "drop" not in rule


@pytest.mark.parametrize("line, col, message", [
    ("net: drop SYNN", 11, "unknown segment kind 'SYNN'; one of SYN, SYN-ACK, ACK, FIN, RST, "
                           "DATA, or none for every segment; did you mean SYN?"),
    ("net: drop 0 SYN", 11, "the number of segments to drop must be 1 or more, or 'all'"),
    ("net: lose SYN", 6, "a net line says what happens to segments: 'drop', 'delay' or "
                         "'duplicate', not 'lose' (e.g. 'net: drop 2 SYN from client')"),
    ("net: drop SYN from nobody", 20, "no process 'nobody' in this program; it has client, server"),
    ("net: drop SYN now", 15, "unexpected 'now'; a net line reads 'net: drop [N|all] [KIND] "
                              "[from PROCESS] [seq S] [after K]'"),
    ("net: delay all FIN by 20ms later", 28, "unexpected 'later'; a net line reads 'net: delay "
                                             "[N|all] [KIND] [from PROCESS] [seq S] [after K] by DURATION'"),
    ("net: delay FIN", 15, "a delay needs its length: end the line with 'by 20ms' (or another "
                           "duration)"),
    ("net: drop FIN by 20ms", 15, "a dropped segment never arrives, so 'by' has no meaning here; "
                                  "write 'net: delay ... by 20ms' to hold segments back"),
    ("net: delay FIN by 20", 19, "'by' takes a duration with a unit, such as 20ms or 1s"),
    ("net: delay FIN by 0ms", 19, "a delay must be more than 0 and at most 60s"),
    ("net: delay 0 FIN by 1ms", 12, "the number of segments to delay must be 1 or more, or 'all'"),
    ("net: drop SYN after 0", 21, "'after' takes how many matching segments go through first: "
                                  "1 or more"),
])
def test_bad_net_lines_get_a_located_error(line, col, message):
    with pytest.raises(ScenarioError) as info:
        parse(FAULTY + line, source="f.tcp")
    assert (info.value.line, info.value.col, info.value.message) == (5, col, message)


def test_a_process_with_no_fixed_port_cannot_be_named_in_a_net_line():
    with pytest.raises(ScenarioError, match="cannot tell the segments 'x' sends"):
        parse("x: fd = socket()\nnet: drop SYN from x\n")


# -- numbers a C program could not pass, and sizes the model must not hold (issue 16) ---------

_SOCK = "c: fd = socket()\n"


@pytest.mark.parametrize("text, col, message", [
    # found by fuzzing: int('01', 0) raised ValueError
    ("c: close(fd) = 01", 16, "'01' starts with 0, which C reads as octal; write it without the "
                              "leading zero (1), or in hex (0x...)"),
    ("c: listen(fd, 010)", 15, "'010' starts with 0, which C reads as octal; write it without the "
                               "leading zero (10), or in hex (0x...)"),
    ("c: listen(fd, " + "9" * 40 + ")", 15, "the number '999999999999...' has 40 digits; no call "
                                           "takes one that long"),
    # found by fuzzing: struct.pack('ii') raised struct.error in the model and the lab
    ("c: setsockopt(fd, SO_LINGER, {4294967296, 0})", 31,
     "SO_LINGER's l_onoff (an int in struct linger) must be from -2147483648 to 2147483647, "
     "not 4294967296"),
    ("c: setsockopt(fd, SO_LINGER, {1, -2147483649})", 34,
     "SO_LINGER's l_linger (an int in struct linger) must be from -2147483648 to 2147483647, "
     "not -2147483649"),
    ("c: setsockopt(fd, SO_RCVBUF, 2147483648)", 30,
     "the value of SO_RCVBUF (a C int) must be from -2147483648 to 2147483647, not 2147483648"),
    ("c: listen(fd, 2147483648)", 15,
     "listen()'s backlog (a C int) must be from -2147483648 to 2147483647, not 2147483648"),
    ("c: poll(fd, 0x10000)", 13, "poll events (a 16-bit mask) must be from 0 to 65535, not 0x10000"),
    ("c: shutdown(fd, 4294967297)", 17,
     "a how value (a C int) must be from -2147483648 to 2147483647, not 4294967297"),
    # found by fuzzing: the payload was built byte by byte and never ended
    ("c: send(fd, 99999999999)", 13,
     "send()'s byte count must be from 0 to 268435456, not 99999999999"),
    ("c: recv(fd, 268435457)", 13, "recv()'s length must be from 0 to 268435456, not 268435457"),
    ("c: recv(fd, -1)", 13, "recv()'s length must be from 0 to 268435456, not -1"),
    # a loop of recv(fd, 0) calls would read nothing forever
    ("c: readall(fd, 0)", 16, "readall()'s length must be from 1 to 268435456, not 0"),
    # found by fuzzing: a sleep of 10^20 s grew memory without end
    ("c: sleep 100000000000000000000s", 10,
     "100000000000000000000s is longer than a day (86400s), the longest sleep tcpsim runs; give "
     "a shorter duration"),
    ("c: poll(fd, POLLIN, 86401s)", 21,
     "86401s is longer than a day (86400s), the longest poll tcpsim runs; give a shorter duration"),
    ("c: poll(fd, POLLIN, 2147483648)", 21,
     "poll()'s timeout (a C int of ms) must be from -2147483648 to 2147483647, not 2147483648"),
])
def test_out_of_range_numbers_get_one_located_sentence(text, col, message):
    with pytest.raises(ScenarioError) as info:
        parse(_SOCK + text, source="t.tcp")
    assert (info.value.line, info.value.col, info.value.message) == (2, col, message)


def test_the_limits_themselves_are_accepted():
    p = parse(_SOCK + "c: send(fd, 268435456)\nc: recv(fd, 268435456)\nc: sleep 86400s\n"
              "c: poll(fd, POLLIN, 86400000)\nc: setsockopt(fd, SO_LINGER, {-2147483648, "
              "2147483647})\nc: close(fd) = 00\nc: listen(fd, 0x10)\n")
    data = p.steps[1].args[1]
    assert len(data) == 256 * 2**20 and data[:28] == b"abcdefghijklmnopqrstuvwxyzab"
    assert p.steps[3].args[0] == 86_400 * 10**9 and p.steps[4].args[2] == 86_400 * 10**9
    assert p.steps[5].args[2].onoff == -2**31 and p.steps[7].args[1] == 16


@pytest.mark.parametrize("line, col, message", [
    ("net: drop 1000000000 SYN", 11, "the number of segments must be from 1 to 999999999, "
                                     "not 1000000000"),
    ("net: drop 2 SYN after 999999998", 23, "'after' and the number of segments add up to more "
                                            "than 999999999, the most the lab's nftables rule "
                                            "can count"),
])
def test_net_line_counts_fit_the_labs_counter(line, col, message):
    with pytest.raises(ScenarioError) as info:
        parse(FAULTY + line, source="f.tcp")
    assert (info.value.col, info.value.message) == (col, message)


# -- net: duplicate and seq S (issue 18) ------------------------------------------------------
def test_a_duplicate_line_takes_segments_and_sends_their_copy_at_once_or_later():
    p = parse(FAULTY + "net: duplicate 1 DATA from client\nnet: duplicate all FIN by 30ms\n")
    data, fin = p.faults
    assert (data.action, data.kind, data.count, data.delay, data.dports) == \
        ("duplicate", "DATA", 1, 0.0, (8080,))
    assert (fin.action, fin.kind, fin.count, fin.delay) == ("duplicate", "FIN", None, 0.03)
    # the lab queues the segment as it does a delayed one, with the line in the mark
    assert data.nft_rule().endswith('meta mark set 0x7c500005 accept comment "line 5"')


def test_seq_names_the_data_segment_that_starts_at_a_relative_sequence_number():
    p = parse(FAULTY + "net: drop DATA from client seq 2897\nnet: delay 2 from client seq 1 "
              "after 1 by 5ms\n")
    drop, late = p.faults
    assert (drop.kind, drop.seq, drop.count) == ("DATA", 2897, 1)
    assert (late.kind, late.seq, late.count, late.skip, late.delay) == ("DATA", 1, 2, 1, 0.005)
    assert drop.matches("P.", 1448, 40000, 8080, 2897)
    assert not drop.matches("P.", 1448, 40000, 8080, 1449)  # carries byte 2897, starts before
    assert not drop.matches("P.", 1448, 40000, 8080, None)  # no SYN seen: no relative number
    assert not drop.matches(".", 0, 40000, 8080, 2897)  # a pure ACK there carries no byte
    rule = drop.nft_rule()
    assert "tcp sport . tcp dport . tcp sequence @seq5" in rule and drop.seq_set == "seq5"
    assert "tcp dport { 8080 }" in rule and rule.endswith('drop comment "line 5"')


@pytest.mark.parametrize("line, col, message", [
    ("net: duplicate SYN after", 25, "the line ends where how many matching segments go "
                                     "through first was expected"),
    ("net: duplicate FIN by 0ms", 23, "a delay must be more than 0 and at most 60s"),
    ("net: duplicate FIN later", 20, "unexpected 'later'; a net line reads 'net: duplicate "
                                     "[N|all] [KIND] [from PROCESS] [seq S] [after K] "
                                     "[by DURATION]'"),
    ("net: drop DATA seq 1", 16, "'seq' counts from the ISN of one direction: name the sender "
                                 "first, as in 'net: drop DATA from client seq 1'"),
    ("net: drop FIN from client seq 1", 27, "'seq' names a data segment by its first byte; a "
                                            "FIN segment has none (write DATA, or no kind)"),
    ("net: drop DATA from client seq 0", 32, "'seq' must be from 1 to 4294967295"),
    ("net: drop DATA from client seq x", 32, "'seq' takes the relative sequence number of the "
                                             "segment's first byte: 1 for the first byte sent"),
])
def test_bad_duplicate_and_seq_lines_get_a_located_error(line, col, message):
    with pytest.raises(ScenarioError) as info:
        parse(FAULTY + line, source="f.tcp")
    assert (info.value.line, info.value.col) == (5, col)
    assert info.value.message.startswith(message)
def test_epoll_wait_expects_the_ready_sockets_in_order_or_a_count():
    prog = parse("s: s = socket()\ns: c = socket()\ns: ep = epoll_create()\n"
                 "s: epoll_ctl(ep, EPOLL_CTL_DEL, c) = -1 ENOENT\n"
                 "s: epoll_wait(ep, 8, 100) = c EPOLLIN|EPOLLRDHUP, s EPOLLOUT\n"
                 "s: epoll_wait(ep) = 0", source="t.tcp")
    ctl, wait, plain = prog.steps[3:]
    assert ctl.args == ("ep", 2, "c", 0)  # EPOLL_CTL_DEL, no events
    assert wait.args == ("ep", 8, 100_000_000)  # a number is ms, as in C
    assert (wait.expect.value, wait.expect.ready) == (2, (("c", 0x2001), ("s", 0x4)))
    assert plain.args == ("ep", 16, -1) and plain.expect.ready is None


def test_sysctl_lines_set_the_runs_namespace_for_the_lab_and_the_model():
    prog = parse("sysctl: net.ipv4.tcp_sack = 0\nc: fd = socket()\n"
                 "sysctl: net/ipv4/tcp_retries2=3\n", "s")
    assert prog.sysctls == (("net.ipv4.tcp_sack", "0"), ("net.ipv4.tcp_retries2", "3"))
    assert [s.call for s in prog.steps] == ["socket"]
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import SimWorld
    world = SimWorld(KernelProfile.named("reference"), 0, prog.faults, prog.sysctls)
    assert not world.profile.sack and world.profile.retries2 == 3


@pytest.mark.parametrize("line, col, says", [
    ("sysctl: net.ipv4.tcp_sack", 1, "names a setting and its value"),
    ("sysctl: kernel.hostname = x", 9, "is not a network setting"),
    ("sysctl: net.ipv4.tcp_retries2 = many", 33, "is not an integer from 0 to 255"),
])
def test_a_bad_sysctl_line_is_one_located_sentence(line, col, says):
    with pytest.raises(ScenarioError) as e:
        parse(line + "\nc: fd = socket()\n", "s")
    assert (e.value.line, e.value.col) == (1, col) and says in str(e.value)
