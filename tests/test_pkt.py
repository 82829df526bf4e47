"""packetdrill scripts: the parser, running scripts against the model, writing them from
programs, and the round trip between the two."""

import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpsim.model import KernelProfile
from tcpsim.pkt import ScriptError, Unsupported, packetdrill_profile, parse, run_script
from tcpsim.pkt.export import ExportError, export
from tcpsim.pkt.syntax import ELLIPSIS, Call, Code, Command, Or, Packet, Struct, Syscall, Word
from tcpsim.scenario import builtin_names, load

from .conftest import ROOT, run_cli

SCRIPTS = sorted((ROOT / "tests" / "pkt").glob("*.pkt"))
PROFILE = packetdrill_profile(KernelProfile.named("reference"))


def run(text: str):
    return run_script(parse(text, "t.pkt"), PROFILE)


def edited(name: str, line: int, old: str, new: str) -> str:
    """A script of ours with one line changed."""
    lines = (ROOT / "tests" / "pkt" / f"{name}.pkt").read_text().split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    return "\n".join(lines)


# -- the project's own scripts ---------------------------------------------------------------
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_our_scripts_pass_against_the_model(path):
    outcome = run_script(parse(path.read_text(), str(path)), PROFILE)
    assert outcome.passed, f"{path.name}:{outcome.line}: {outcome.message}"


@pytest.mark.parametrize("name, line, old, new, message", [
    ("handshake-passive", 10, "> S.", "> S", "bad outbound TCP flags (ACK not expected)"),
    ("handshake-passive", 10, "ack 1 win", "ack 2 win", "bad outbound ack number (expected 2, got 1)"),
    ("handshake-passive", 10, "<mss 1460,sackOK,", "<sackOK,mss 1460,", "bad outbound TCP options"),
    ("handshake-passive", 10, "wscale 8", "wscale 7", "bad value in outbound TCP option wscale"),
    ("handshake-passive", 10, "win 65535", "win 29200", "bad outbound window (expected 29200, got 65535)"),
    ("handshake-passive", 12, "= 4", "= -1 EAGAIN", "accept() returned 4; the script expects -1 EAGAIN"),
    ("handshake-refused", 4, "EINPROGRESS", "EALREADY", "connect() returned -1 EINPROGRESS; the script expects -1 EALREADY"),
    ("handshake-refused", 8, "[ECONNREFUSED]", "[0]", "getsockopt(SO_ERROR) gave 111; the script expects 0"),
    ("handshake-refused", 7, "revents=POLLOUT|POLLERR|POLLHUP", "revents=POLLOUT", "poll() gave fd 3 revents 0x1c; the script expects 0x4"),
    ("close-active", 13, "> F.", "> P.", "bad outbound TCP flags (FIN not expected)"),
    ("close-passive", 17, "EBADF", "ENOTCONN", "read() returned -1 EBADF; the script expects -1 ENOTCONN"),
    ("shutdown-half-close", 17, "EPIPE", "EAGAIN", "write() returned -1 EPIPE"),
    ("shutdown-half-close", 15, "ack 11", "ack 12", "bad outbound ack number (expected 12, got 11)"),
    # epoll: an edge-triggered item is not reported again without a new wakeup, a level one is
    ("epoll-edge", 24, "{events=0, ptr=0}, 1, 0) = 0", "{events=EPOLLIN|EPOLLOUT, fd=4}, 1, 0) = 1",
     "epoll_wait() returned 0; the script expects 1"),
    ("epoll-level", 34, "= 1", "= 0", "epoll_wait() returned 1; the script expects 0"),
    ("epoll-level", 33, "ptr=0x1234", "ptr=0x1235", "epoll_event->data does not match script: "
     "expected: 4661 actual: 4660"),
    ("epoll-edge", 17, "events=EPOLLOUT,", "events=EPOLLOUT|EPOLLIN,",
     "epoll_event->events does not match script: expected: 0x5 actual: 0x4"),
    ("epoll-edge", 17, "fd=4", "fd=3", "epoll_event->data does not match script: expected: 3 "
     "actual: 4"),
    # the buffer is not writeable yet after the partial write: no EPOLLOUT edge
    ("epoll-out-edge", 24, "{events=0, ptr=0}, 1, 0) = 0", "{events=EPOLLOUT, fd=4}, 1, 0) = 1",
     "epoll_wait() returned 0; the script expects 1"),
    # no write found the buffer full since the last report: the ACK wakes nobody
    ("epoll-out-edge", 34, "{events=0, ptr=0}, 1, 0) = 0", "{events=EPOLLOUT, fd=4}, 1, 0) = 1",
     "epoll_wait() returned 0; the script expects 1"),
])
def test_an_edited_script_fails_at_the_edited_line(name, line, old, new, message):
    outcome = run(edited(name, line, old, new))
    assert not outcome.passed
    assert outcome.line == line
    assert message in outcome.message


def test_an_outbound_packet_at_the_wrong_time_is_a_timing_error():
    # the SYN-ACK goes out at once; a script that expects it 50 ms later is wrong
    outcome = run(edited("handshake-passive", 10, "+0  > S.", "+.05 > S."))
    assert (outcome.passed, outcome.line) == (False, 10)
    assert "timing error: expected outbound packet at 0.050000 s (tolerance 6.25 ms) but it " \
           "happened at 0.000000 s" in outcome.message


def test_a_blocking_call_returns_when_the_script_says():
    ok = (ROOT / "tests" / "pkt" / "handshake-active.pkt").read_text()
    assert run(ok).passed
    late = run(ok.replace("+0...0.100 connect", "+0...0.300 connect"))
    assert (late.passed, late.line) == (False, 6)
    assert "expected system call return at 0.300000 s" in late.message


def test_a_call_that_blocks_with_nothing_to_wake_it_says_packetdrill_would_hang():
    outcome = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 accept(3, ..., ...) = 4\n")
    assert (outcome.passed, outcome.line) == (False, 4)
    assert "packetdrill would hang here" in outcome.message


def test_an_expected_packet_the_model_never_sends_fails_on_its_line():
    outcome = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 > S 0:0(0) <...>\n")
    assert (outcome.passed, outcome.line) == (False, 4)
    assert "the model sent nothing" in outcome.message


def test_the_syn_is_sent_again_each_second_while_unanswered():
    # Linux 6.5+: the first tcp_syn_linear_timeouts (4) retries keep the 1 s timeout
    text = ("0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3\n"
            "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
            "+0 > S 0:0(0) <...>\n+1 > S 0:0(0) <...>\n+1 > S 0:0(0) <...>\n+0 close(3) = 0\n")
    assert run(text).passed
    early = run(text.replace("+1 > S 0:0(0) <...>\n+1", "+1 > S 0:0(0) <...>\n+0.5"))
    assert (early.passed, early.line) == (False, 5)
    assert "timing error" in early.message


def test_a_sysctl_command_sets_the_model_and_other_commands_are_unsupported():
    text = ("0 `sysctl -q net.ipv4.tcp_timestamps=0`\n"
            "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
            "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,nop,wscale 7>\n"
            "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n")
    assert run(text).passed  # without timestamps Linux pads the SYN-ACK's options this way
    with pytest.raises(Unsupported, match="the shell command `ip link set tun0 mtu 1400`"):
        run("0 `ip link set tun0 mtu 1400`\n")
    with pytest.raises(Unsupported, match="a %{ }% block using Import"):
        run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ import os }%\n")
    with pytest.raises(Unsupported, match="--ip_version=ipv4-mapped-ipv6"):
        run("--ip_version=ipv4-mapped-ipv6\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")


# -- the parser -------------------------------------------------------------------------------
def test_the_grammar_of_times_packets_and_calls():
    s = parse("""--tolerance_usecs=10000
// a comment
/* a block
   comment */
0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3
+0.1 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
.2~.3 > P. 1:1001(1000) ack 1 win 257 urg 0 <nop,nop,TS val 1 ecr 2,sack 5:6 7:8,eol>
+0~+0.1 < F. 1001:1001(0) ack 1 win 65535
* > . 1:1(0) <...>
0.5...0.7 read(3, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)
+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = 0
1 `sysctl -q net.ipv4.tcp_sack=0`
2 %{ assert tcpi_rto == 1 }%
""")
    assert s.options == {"tolerance_usecs": "10000"}
    kinds = [(e.line, e.time.kind, e.time.start, e.time.end) for e in s.events]
    assert kinds == [(5, "absolute", 0.0, None), (6, "relative", 0.1, None),
                     (7, "absolute range", 0.2, 0.3), (8, "relative range", 0.0, 0.1),
                     (9, "any", 0.0, None), (10, "absolute", 0.5, None),
                     (11, "relative", 0.0, None), (12, "absolute", 1.0, None),
                     (13, "absolute", 2.0, None)]
    sock, opt, data, fin, ack, read, bind, cmd, code = (e.action for e in s.events)
    assert sock == Syscall("socket", [ELLIPSIS, Or([Word("SOCK_STREAM"), Word("SOCK_NONBLOCK")]),
                                      Word("IPPROTO_TCP")], 3)
    assert opt.args[3] == Struct({"onoff": 1, "linger": 0})
    assert data == Packet(">", "P.", 1, 1001, 1000, ack=1, win=257, urg=0, options=[
        ["nop", None], ["nop", None], ["TS", [1, 2]], ["sack", [[5, 6], [7, 8]]], ["eol", None]])
    assert (fin.direction, fin.flags, fin.win, fin.options) == ("<", "F.", 65535, [])
    assert ack.options is None  # <...>: not checked
    assert (read.result, read.errno, read.note, read.end) == \
        (-1, "EAGAIN", "Resource temporarily unavailable", 0.7)
    assert bind.args[1].fields["sin_port"] == Call("htons", [8080])
    assert bind.args[1].fields["sin_addr"] == Call("inet_addr", ["192.0.2.1"])
    assert cmd == Command("sysctl -q net.ipv4.tcp_sack=0")
    assert code == Code("assert tcpi_rto == 1")


@pytest.mark.parametrize("text, message", [
    ("0 < S 0:1(0) win 100\n", "t.pkt:1: 0:1(0) is inconsistent"),
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\n+0 < S 0:0(0)\n", "t.pkt:3: an inbound packet needs its window"),
    ("0 < S 0:0(0) win 10 <...>\n", "t.pkt:1: <...> (options not checked) can only be used on outbound"),
    ("0 > S 0:0(0) <mss 1460,foo 3>\n", "t.pkt:1: 'foo' is not a TCP option"),
    ("0 > SX 0:0(0)\n", "t.pkt:1: 'SX' is not a set of TCP flags"),
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) 0\n", "t.pkt:2: expected '= RESULT' after close(...), not '0'"),
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP)\n", "t.pkt:1: expected '= RESULT' after socket(...), but the script ends there"),
    ("0 close(3 = 0\n", "t.pkt:1: expected ',' or ')', not '='"),
    ("close(3) = 0\n", "t.pkt:1: expected an event time (0.100, +0.1, * or a range), not 'close'"),
    ("0 close(3) = 0 $\n", "t.pkt:1: the character '$' has no meaning"),
    ("// nothing\n", "t.pkt: the script has no events"),
    ("+0~0.1 close(3) = 0\n", "t.pkt:1: expected '+' (a relative range is +A~+B), not '0.1'"),
])
def test_a_malformed_script_gets_one_sentence_with_its_line(text, message):
    with pytest.raises(ScriptError) as e:
        parse(text, "t.pkt")
    assert message in str(e.value)


_PIECES = [b"0", b"+0", b".1", b"...", b"<", b">", b"S.", b"F.", b" 1:1(0)", b" ack 1",
           b" win 257", b" <mss 1460,nop,wscale 7>", b" <...>", b"socket(", b"read(4, ..., 10)",
           b" = ", b"-1 EAGAIN", b"(note)", b"[1]", b"{onoff=1}", b"`cmd`", b"\n", b",", b")",
           b"\xff", b"%{", b"}%", b"/*", b"~", b"*"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.binary(max_size=20))
def test_mutated_scripts_never_raise_anything_but_a_clean_error(pieces, noise):
    base = (ROOT / "tests" / "pkt" / "shutdown-half-close.pkt").read_bytes()
    cut = len(noise) * 37 % len(base)
    text = (base[:cut] + b"".join(pieces) + noise + base[cut:]).decode("utf-8", "replace")
    try:
        outcome = run_script(parse(text, "fuzz.pkt"), PROFILE)
    except (ScriptError, Unsupported):
        return
    assert outcome.passed or (outcome.line is not None and outcome.message)


# -- writing scripts, and the round trip ------------------------------------------------------
EXPORTS = [(n, proc) for n in builtin_names() for proc in load(n).processes]
UNWRITABLE = {("self-connect", "me"): "its sockets talk to each other",
              ("backlog-full", "server"): "it has 3 connections",
              ("iterative-server", "server"): "it has 3 connections",
              ("concurrent-server", "server"): r"fork\(\) and thread\(\) have no packetdrill",
              ("concurrent-server", "child1"): r"fork\(\) and thread\(\) have no packetdrill",
              ("concurrent-server", "child2"): r"fork\(\) and thread\(\) have no packetdrill",
              ("concurrent-server", "child3"): r"fork\(\) and thread\(\) have no packetdrill",
              ("epoll-server", "server"): "it has 2 connections",
              ("send-blocks", "client"): "blocked on a full send buffer",
              ("tiny-sndbuf", "client"): "blocked on a full send buffer",
              ("nonblocking-send-eagain", "server"): r"recv\(MSG_WAITALL\) on line 32 blocked",
              ("lost-write-rto", "server"): r"recv\(MSG_WAITALL\) on line 22 blocked",
              ("lost-last-write", "server"): r"recv\(MSG_WAITALL\) on line 19 blocked",
              ("lost-last-segment-fin", "server"): r"recv\(MSG_WAITALL\) on line 23 blocked",
              ("lost-retransmission", "server"): r"recv\(MSG_WAITALL\) on line 25 blocked",
              ("reorder-undo", "server"): r"recv\(MSG_WAITALL\) on line 26 blocked",
              ("sack-mss-both-ways", "server"): r"recv\(MSG_WAITALL\) on line 25 blocked",
              ("frto-off", "server"): r"recv\(MSG_WAITALL\) on line 18 blocked",
              ("spurious-rto", "server"): r"recv\(MSG_WAITALL\) on line 21 blocked"}
# a read loop to end-of-file is one line in a program and many read() calls in a script, as
# many as the run makes: the exporter has no spelling for it
READALL = r"readall\(\) has no packetdrill spelling"
UNWRITABLE |= {("socket-queues", "server"): READALL,
               ("close-unsent", "server"): READALL, ("shutdown-unsent", "server"): READALL,
               ("transfer-both-ways", "server"): READALL,
               ("transfer-both-ways", "client"): READALL,
               ("transfer-1m", "server"): READALL,
               ("transfer-1m", "client"): "blocked on a full send buffer"}
# built-ins none of whose processes a script can be (both readers use readall(); at tun's
# MTU 1500 the 1 MiB writer blocks on its 46080-byte send buffer)
NO_EXPORT = {"self-connect", "transfer-both-ways", "transfer-1m"}


@pytest.mark.parametrize("name, process", EXPORTS, ids=[f"{n}-{p}" for n, p in EXPORTS])
def test_every_exported_program_passes_when_run(name, process):
    program = load(name)
    if (name, process) in UNWRITABLE:
        with pytest.raises(ExportError, match=UNWRITABLE[(name, process)]):
            export(program, process)
        return
    text = export(program, process)
    outcome = run_script(parse(text, f"{name}.pkt"), PROFILE)
    assert outcome.passed, f"{name}/{process} line {outcome.line}: {outcome.message}\n{text}"


def test_every_built_in_program_has_a_process_that_exports():
    writable = {n for n, p in EXPORTS if (n, p) not in UNWRITABLE}
    assert writable == set(builtin_names()) - NO_EXPORT


def test_the_export_of_request_response_reads_as_packetdrill_writes():
    text = export(load("request-response"))
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("//")]
    assert lines[:7] == [
        "0.000000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
        "0.000000 bind(3, ..., ...) = 0",
        "0.000000 listen(3, 3) = 0",
        "0.000000...0.000030 accept(3, ..., ...) = 4",
        "0.000010 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 3255389356 ecr 0,nop,wscale 8>",
        "0.000010 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 1112038970 ecr "
        "3255389356,nop,wscale 8>",
        "0.000030 < . 1:1(0) ack 1 win 1050 <nop,nop,TS val 3255389356 ecr 1112038970>",
    ]
    assert "0.000050 write(4, ..., 8) = 8" in lines
    assert lines[-1] == "0.000140 < . 20:20(0) ack 28 win 1050 <nop,nop,TS val 3255389356 ecr " \
                        "1112038970>"


def test_an_exported_client_connects_to_its_port_and_a_lost_segment_is_not_injected():
    text = export(load("lost-syn"), "client")
    assert "connect(3, ..., ...)" in text
    syns = [ln for ln in text.split("\n") if " > S 0:0(0)" in ln]
    assert len(syns) == 3  # two SYNs are lost on the way: sent three times, one SYN-ACK back
    assert sum(" < S. 0:0(0)" in ln for ln in text.split("\n")) == 1


# -- the command line -------------------------------------------------------------------------
def test_pkt_run_exit_codes(tmp_path):
    good = ROOT / "tests" / "pkt" / "handshake-passive.pkt"
    bad = tmp_path / "bad.pkt"
    bad.write_text(edited("handshake-passive", 10, "ack 1 win", "ack 2 win"))
    unsupported = tmp_path / "cmd.pkt"
    unsupported.write_text("0 `ip link show`\n")
    broken = tmp_path / "broken.pkt"
    broken.write_text("0 close(3 = 0\n")
    r = run_cli("pkt", "run", good)
    assert r.returncode == 0 and "pass" in r.stdout
    r = run_cli("pkt", "run", good, bad)
    assert r.returncode == 1 and f"fail {bad}:10: bad outbound ack number" in r.stdout.replace("\n", "")
    r = run_cli("pkt", "run", unsupported)
    assert r.returncode == 5 and "unsupported" in r.stdout
    r = run_cli("pkt", "run", broken)
    assert r.returncode == 2 and "broken.pkt:1: expected ',' or ')'" in r.stderr
    assert "Traceback" not in r.stderr


def test_pkt_export_writes_a_script_that_pkt_run_passes(tmp_path):
    out = tmp_path / "rr.pkt"
    r = run_cli("pkt", "export", "request-response", "--process", "client", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "connect(3, ..., ...)" in out.read_text()
    r = run_cli("pkt", "run", out)
    assert r.returncode == 0, r.stdout
    r = run_cli("pkt", "export", "request-response", "--process", "nobody")
    assert r.returncode == 2 and "has no process 'nobody'" in r.stderr


# -- %{ }% blocks: assertions on TCP_INFO (pkt/code.py) -----------------------------------------
from .test_pkt_grammar import OPEN as PASSIVE  # noqa: E402  (a passive open, then accept)


def test_a_python_block_asserts_on_the_sockets_tcp_info():
    """code.c: the block sees the socket's struct tcp_info as tcpi_* names, with packetdrill's
    constants; names it assigns live on into the next block (cwnd += 10)."""
    ok = run(PASSIVE + "+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%\n"
             "+0 %{ cwnd = tcpi_snd_cwnd }%\n"
             "+0 %{ cwnd += 10; assert cwnd == 20 and tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%\n"
             "+0 %{ assert (tcpi_options & TCPI_OPT_SACK) != 0 }%\n")
    assert ok.passed, ok.message
    bad = run(PASSIVE + "+0 %{ assert tcpi_snd_cwnd == 11, 'cwnd=%d' % tcpi_snd_cwnd }%\n")
    assert (bad.passed, bad.line, bad.message) == (
        False, 8, "the %{ }% assertion failed: cwnd=10")


def test_a_block_is_python_as_packetdrill_writes_it():
    """lexer.l code() strips spaces and tabs only and code.c write_text() ends the text with
    two newlines: lines joined by a trailing backslash run (tcp-info-rwnd-limited.pkt's
    last statement ends in one); an indented first line after a newline does not."""
    ok = run(PASSIVE + "+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd;\\\n"
             "       assert tcpi_snd_mss == 1460, tcpi_snd_mss;\\\n}%\n")
    assert ok.passed, ok.message
    with pytest.raises(Unsupported, match="not Python"):
        run(PASSIVE + "+0 %{\n    assert tcpi_snd_cwnd == 10\n}%\n")


def test_the_rtt_of_the_handshake_is_the_scripts_time():
    """tcp_synack_rtt_meas(): the SYN-ACK's RTT is the 100 ms the script waits before its ACK;
    the first sample makes rttvar half of it (tcp_rtt_estimator(): mdev = 2 m, shown / 4)."""
    ok = run(PASSIVE + "+0 %{ assert (tcpi_rtt, tcpi_rttvar) == (100000, 50000), (tcpi_rtt, tcpi_rttvar) }%\n")
    assert ok.passed, ok.message


@pytest.mark.parametrize("block, feature", [
    ("import os", "a %{ }% block using Import"),
    ("open('/etc/passwd')", "a %{ }% block calling a function other than print, int, abs, min, max"),
    ("tcpi_snd_cwnd.__class__", "a %{ }% block using Attribute"),
    ("x = [1][0]", "a %{ }% block using"),
    ("tcpi_snd_cwnd = 3", "a %{ }% block assigning to something other than a plain name"),
    ("assert tcpi_rto < 100", "the TCP_INFO field tcpi_rto"),
])
def test_a_block_the_whitelist_does_not_take_is_unsupported_by_name(block, feature):
    """Nothing but assertions over TCP_INFO is evaluated: no imports, attributes, subscripts or
    other calls; a field the model does not keep is named."""
    with pytest.raises(Unsupported, match=re.escape(feature)):
        run(PASSIVE + f"+0 %{{ {block} }}%\n")


def test_tcp_info_is_read_by_the_kernels_layout():
    from tcpsim.pkt.code import TCP_INFO_SIZE, parse_tcp_info

    raw = bytearray(TCP_INFO_SIZE)
    raw[0], raw[5], raw[6] = 1, 7, 0x8A  # ESTABLISHED; TS|SACK|WSCALE; rcv 8, snd 10
    struct.pack_into("I", raw, 8 + 4 * 18, 10)  # tcpi_snd_cwnd, the 19th u32
    struct.pack_into("Q", raw, 104 + 8 * 3, 12345)  # tcpi_bytes_received
    info = parse_tcp_info(bytes(raw))
    assert (info["tcpi_state"], info["tcpi_options"], info["tcpi_snd_wscale"],
            info["tcpi_rcv_wscale"], info["tcpi_snd_cwnd"], info["tcpi_bytes_received"]) == (
        1, 7, 10, 8, 10, 12345)


def test_epoll_calls_on_the_wrong_descriptors():
    """epoll_ctl() on a socket as the epoll: EINVAL; an epoll descriptor where a socket is
    needed: ENOTSOCK (EINVAL for read()); epoll_create(0): EINVAL; an epoll_event whose fd=
    is not the call's: packetdrill's own error."""
    head = (ROOT / "tests" / "pkt" / "epoll-level.pkt").read_text().split("\n")[:8]
    ok = "\n".join(head + [
        "+0  setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = -1 ENOTSOCK",
        "+0  read(5, ..., 10) = -1 EINVAL",
        "+0  epoll_create(0) = -1 EINVAL",
        "+0  epoll_ctl(5, EPOLL_CTL_ADD, 5, {events=EPOLLIN, fd=5}) = -1 EINVAL",
        "+0  close(5) = 0",
        "+0  epoll_wait(5, {events=0, ptr=0}, 1, 0) = -1 EBADF"])
    outcome = run(ok)
    assert outcome.passed, (outcome.line, outcome.message)
    wrong = run("\n".join(head + ["+0  epoll_ctl(5, EPOLL_CTL_ADD, 3, {events=EPOLLIN, fd=4}) = 0"]))
    assert (wrong.passed, wrong.line, wrong.message) == (False, 9, "wrong fd specified in epoll_event")


# -- the receiver's skbs over tun (issue 18: when an ACK is sent) ---------------------------
# rcv_ssthresh after one segment of N bytes into a connection without window scaling
# (clamp 65535 until tcp_measure_rcv_mss() takes the skb's scaling_ratio, len/truesize:
# tcp_set_window_clamp() to 540000 x ratio / 256).  Measured on 6.18.44 with `pkt run
# --kernel` (the same scripts, tcpi_rcv_ssthresh): tun's truesize is 832 / 1280 / 2304 /
# 8448 for the sizes below (tun_get_user(), alloc_skb_with_frags()).
TUN_SKBS = [  # (SYN's MSS, device MTU, payload, tcpi_rcv_ssthresh, tcpi_rcv_mss)
    (100, 1500, 152, 97031, 152),  # 832: skb_small_head_cache
    (100, 1500, 153, 63281, 153),  # 1280: kmalloc 1024
    (1000, 1500, 600, 253125, 600),  # 1280
    (1000, 1500, 601, 139218, 601),  # 2304: kmalloc 2048
    (1000, 1500, 1000, 234140, 1000),  # 2304
    (1000, 1500, 1460, 271560, 1460),  # 2304, then tcp_grow_window() (+ 2 x 1460)
    (8000, 9000, 3990, 253125, 3990),  # 8448: kmalloc 8192, all linear (under a page)
    (8000, 9000, 4000, 255234, 4000),  # 8448: 3712 linear (4352) + a page
    (8000, 9000, 8000, 286720, 8000),  # 12544: 3712 linear + an order-1 page (any ratio
    # of 136 or more gives this rcv_ssthresh: tcp_grow_window() then adds 2 x 8960)
]


def tun_skb_script(mss: int, mtu: int, n: int, ssthresh: int, rcv_mss: int) -> str:
    advmss = mtu - 40
    return f"""--mtu={mtu}
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 20000 <mss {mss},sackOK,nop,nop>
+0  > S. 0:0(0) ack 1 win 65535 <mss {advmss},nop,nop,sackOK>
+.1 < . 1:1(0) ack 1 win 20000
+0  accept(3, ..., ...) = 4
+0  < P. 1:{n + 1}({n}) ack 1 win 257
+0  > . 1:1(0) ack {n + 1} win 65535
+0  %{{ assert (tcpi_rcv_ssthresh, tcpi_rcv_mss) == ({ssthresh}, {rcv_mss}), (tcpi_rcv_ssthresh, tcpi_rcv_mss) }}%
"""


@pytest.mark.parametrize("case", TUN_SKBS, ids=[f"{c[2]}B" for c in TUN_SKBS])
def test_a_segment_over_tun_is_charged_the_truesize_of_tuns_skb(case):
    """The scaling_ratio a first segment sets comes from the skb tun made for it
    (TcpInput._rx_skb()), not from lo's (832 + the payload)."""
    outcome = run(tun_skb_script(*case))
    assert outcome.passed, (outcome.line, outcome.message)


def test_data_with_fin_after_a_read_waits_for_the_delayed_ack_without_window_scaling():
    """tests/pkt/delayed-ack-fin-no-wscale.pkt: the window clamp of a connection without
    window scaling is 65535 until the first segment's scaling_ratio, and then the window
    __tcp_select_window() would offer is below rcv_wnd, so the FIN's segment is ACKed
    40 ms later (the model ACKed it at once, as more than one full frame)."""
    path = ROOT / "tests" / "pkt" / "delayed-ack-fin-no-wscale.pkt"
    outcome = run_script(parse(path.read_text(), str(path)), PROFILE)
    assert outcome.passed, (outcome.line, outcome.message)
    ack = [s for s in outcome.steps if "> . 1:1(0) ack 2002" in s]
    fin = [s for s in outcome.steps if "< FP. 1001:2001(1000)" in s]
    assert len(ack) == len(fin) == 1
    t_ack, t_fin = (float(s.split(": ")[1].split()[0]) for s in (ack[0], fin[0]))
    assert round(t_ack - t_fin, 6) == 0.04


# A linear skb from tun takes the next segment only into its tailroom (skb_try_coalesce():
# a kmalloc'd head is never stolen).  Listener SO_RCVBUF 8192 (sk_rcvbuf 16384, no window
# scaling), MSS 1000: the first 1000 bytes (truesize 2304, ratio 111) leave a window of 6300
# (never shrunk below the last offer); 500 more fit the 624 bytes of tailroom (rmem stays
# 2304: window 6000), 700 do not (a second skb, 2304 more: 5600).  Measured on 6.18 with
# `pkt run --kernel` (the same scripts: tests/test_lab_live.py).
TUN_COALESCE = [(500, 6000), (700, 5600)]


def tun_coalesce_script(second: int, win: int) -> str:
    return f"""0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0  setsockopt(3, SOL_SOCKET, SO_RCVBUF, [8192], 4) = 0
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 20000 <mss 1000,sackOK,nop,nop>
+0  > S. 0:0(0) ack 1 win 7300 <mss 1460,nop,nop,sackOK>
+.1 < . 1:1(0) ack 1 win 20000
+0  accept(3, ..., ...) = 4
+0  < P. 1:1001(1000) ack 1 win 257
+0  > . 1:1(0) ack 1001 win 6300
+0  < P. 1001:{1001 + second}({second}) ack 1 win 257
+0  > . 1:1(0) ack {1001 + second} win {win}
"""


@pytest.mark.parametrize("second, win", TUN_COALESCE)
def test_a_segment_over_tun_coalesces_only_into_the_tailroom_of_the_last_skb(second, win):
    outcome = run(tun_coalesce_script(second, win))
    assert outcome.passed, (outcome.line, outcome.message)


ACTIVE_NO_WSCALE = """\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0...0.100 connect(3, ..., ...) = 0
+0    > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.1   < S. 0:0(0) ack 1 win 5792 <mss 1000,sackOK,nop,nop>
+0    > . 1:1(0) ack 1 win 65535
+0  %{ assert (tcpi_rcv_wnd, tcpi_rcv_ssthresh, tcpi_rcv_mss, tcpi_rcv_wscale) == (268640, 65535, 536, 0), (tcpi_rcv_wnd, tcpi_rcv_ssthresh, tcpi_rcv_mss) }%
+0  < P. 1:1001(1000) ack 1 win 257
+0  > . 1:1(0) ack 1001 win 65535
+0  %{ assert (tcpi_rcv_wnd, tcpi_rcv_ssthresh, tcpi_rcv_mss) == (267640, 234140, 1000), (tcpi_rcv_wnd, tcpi_rcv_ssthresh, tcpi_rcv_mss) }%
"""


def test_an_active_open_answered_without_window_scale_clamps_the_window_at_65535():
    """tcp_rcv_synsent_state_process(): a SYN-ACK without wscale leaves rcv_wscale 0 and the
    window clamp at most 65535, so rcv_ssthresh starts there though rcv_wnd is 268640; the
    first segment's scaling_ratio then sets the clamp (measured on 6.18, the same values:
    tests/test_lab_live.py)."""
    outcome = run(ACTIVE_NO_WSCALE)
    assert outcome.passed, (outcome.line, outcome.message)
