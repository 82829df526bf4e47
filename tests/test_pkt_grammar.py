"""packetdrill's grammar as real packetdrill accepts it (parser.y, lexer.l), and what the runner
does with each form: it runs, fails at a line, or is named as unsupported (exit 5).  Every
script here is our own, written to exercise one form; none is copied from packetdrill."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpsim.errors import TcpsimError
from tcpsim.model import KernelProfile
from tcpsim.pkt import ScriptError, Unsupported, packetdrill_profile, parse, run_script

from .conftest import ROOT, run_cli

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
SCRIPTS = sorted((ROOT / "tests" / "pkt").glob("*.pkt"))

# a passive open, as our tests/pkt scripts write it (SYN-ACK options not checked)
OPEN = """0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
"""


def run(text: str, profile: KernelProfile = PROFILE):
    return run_script(parse(text, "t.pkt"), profile)


def unsupported(text: str, feature: str):
    with pytest.raises(Unsupported) as e:
        run(text)
    assert e.value.feature == feature, str(e.value)
    assert f"{feature} is not modelled by tcpsim" in str(e.value)
    return e.value


# -- the init command and other shell commands -------------------------------------------------
def test_the_init_command_defaults_sh_sets_the_sysctls_the_model_reads():
    # without defaults.sh the reference kernel scales its window by 10 (its 32 MB tcp_rmem);
    # with it, by 8 (defaults.sh's 15 MB): the untimed command before the first event applies it
    bare = KernelProfile.named("reference")
    text = OPEN.replace("<...>", "<mss 1460,nop,nop,sackOK,nop,wscale 8>")
    without = run("--mtu=1500\n" + text, bare)
    assert (without.passed, without.line) == (False, 6)
    assert "wscale 10" in without.message
    outcome = run("--mtu=1500\n`../common/defaults.sh`\n" + text, bare)
    assert outcome.passed, outcome.message
    assert any("net.ipv4.tcp_rmem=4096 540000 15728640" in s for s in outcome.steps)


def test_an_init_command_may_add_sysctls_and_set_sysctls_py_settings():
    text = ("`../common/defaults.sh\n../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n"
            "   /proc/sys/net/ipv4/tcp_sack=0\nsysctl -q net/ipv4/tcp_window_scaling=0`\n"
            + OPEN.replace("<...>", "<mss 1460>")
            + "`/tmp/sysctl_restore_${PPID}.sh`\n")
    outcome = run(text)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("command, feature", [
    ("`ethtool -K tun0 tso off`", "the shell command `ethtool -K tun0 tso off`"),
    ("`../common/defaults.sh\ntc qdisc replace dev tun0 root fq`",
     "the shell command `tc qdisc replace dev tun0 root fq`"),
    ("`sysctl -q net.ipv4.tcp_early_retrans=0`", "the sysctl net.ipv4.tcp_early_retrans"),
])
def test_a_command_the_model_cannot_follow_is_named(command, feature):
    unsupported(command + "\n" + OPEN, feature)  # as the init command
    unsupported(OPEN + "+0 " + command + "\n", feature)  # as a timed one


def test_a_sysctl_the_kernel_refuses_fails_at_its_line():
    outcome = run(OPEN + "+0 `sysctl -q net.ipv4.tcp_sack=abc`\n")
    assert (outcome.passed, outcome.line) == (False, 8)
    assert "net.ipv4.tcp_sack takes a number, not 'abc'" in outcome.message


def test_the_cleanup_command_is_read_and_not_run():
    outcome = run(OPEN + "`rm -f /tmp/nothing`\n")
    assert outcome.passed
    assert any("cleanup command `rm -f /tmp/nothing` not run" in s for s in outcome.steps)


# -- times, options, comments --------------------------------------------------------------------
def test_the_first_event_may_be_written_plus_zero_but_must_be_at_zero():
    assert run("+0" + OPEN[1:]).passed
    late = run("+1" + OPEN[1:])
    assert (late.passed, late.line) == (False, 1)
    assert "the first event must be at time 0" in late.message


def test_script_options_several_on_a_line_with_comments_after_them():
    s = parse("// header\n--tolerance_usecs=5000 --strict_segments // a comment\n"
              "--define=CC=\"reno\" /* block */\n--remote_ip=192.0.2.9\n" + OPEN, "t.pkt")
    assert s.options == {"tolerance_usecs": "5000", "strict_segments": "", "define": 'CC="reno"',
                         "remote_ip": "192.0.2.9"}
    assert s.events[0].line == 5  # line numbers are kept


def test_the_addresses_of_local_ip_and_remote_ip_are_used():
    outcome = run("--local_ip=192.168.7.7\n--remote_ip=192.0.2.77\n" + OPEN)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("option, feature", [
    ("--mss=1000", "the script option --mss"),
    ("--ip_version=ipv4-mapped-ipv6", "--ip_version=ipv4-mapped-ipv6"),
])
def test_a_script_option_the_model_lacks_is_named(option, feature):
    unsupported(option + "\n" + OPEN, feature)


@pytest.mark.parametrize("options, said", [
    ("--local_ip=fd::1", "--local_ip=fd::1 is not an IPv4 address, as --ip_version=ipv4 needs"),
    ("--ip_version=ipv6 --remote_ip=192.0.2.1",
     "--remote_ip=192.0.2.1 is not an IPv6 address, as --ip_version=ipv6 needs"),
    ("--ip_version=ipv5", "bad --ip_version=ipv5; give ipv4, ipv4-mapped-ipv6 or ipv6"),
])
def test_addresses_of_the_wrong_family_are_malformed_as_config_c_finds_them(options, said):
    with pytest.raises(ScriptError, match=re.escape(said)):
        run(options + "\n" + OPEN)


@pytest.mark.parametrize("mtu, mss", [(1500, 1440), (1520, 1460)])
def test_over_ipv6_the_model_offers_the_mss_of_a_40_byte_ip_header(mtu, mss):
    """--ip_version=ipv6 (run_all.py's second run, with --mtu=1520 so that the MSS is IPv4's
    1460): the socket is AF_INET6, the packets IPv6 (tcp_v6_connect(): icsk_ext_hdr_len 0,
    net_header_len 40), to 2001:db8::1 from fd3d:fa7b:d17d::2 unless the script says."""
    text = (f"--ip_version=ipv6 --mtu={mtu}\n" + OPEN).replace(
        "+0 > S. 0:0(0) ack 1 <...>", f"+0 > S. 0:0(0) ack 1 <mss {mss},nop,nop,sackOK,nop,wscale 8>")
    outcome = run(text)
    assert outcome.passed, outcome.message
    wrong = run(text.replace(f"<mss {mss},", f"<mss {mss + 20},"))
    assert f"got <mss {mss}," in wrong.message


def test_a_non_integer_script_option_is_refused_in_one_sentence():
    with pytest.raises(ScriptError, match="the script option --tolerance_usecs takes a whole "
                                          "number, not 'abc'"):
        run("--tolerance_usecs=abc\n" + OPEN)


# -- calls: msghdr, flags, symbols, fds --------------------------------------------------------
def test_sendmsg_and_recvmsg_with_their_message_structs():
    text = OPEN + """+0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 600}, {iov_base=..., iov_len=400}], msg_flags=0}, 0) = 1000
+0 > P. 1:1001(1000) ack 1 <...>
+0 < P. 1:11(10) ack 1001 win 257
+0 > . 1001:1001(0) ack 11 <...>
+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 10
"""
    outcome = run(text)
    assert outcome.passed, f"{outcome.line}: {outcome.message}"
    unsupported(OPEN + "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1}], msg_flags=0, "
                "msg_control=[]}, 0) = 1\n", "control messages (msg_control)")


@pytest.mark.parametrize("line, feature", [
    ("+0 send(4, ..., 10, MSG_OOB) = 10", "the send() flag MSG_OOB"),
    ("+0 setsockopt(4, SOL_IP, IP_TOS, [4], 4) = 0", "the socket option IP_TOS"),
    ("+0 setsockopt(4, SOL_SOCKET, SO_FROBNICATE, [1], 4) = 0", "the socket option SO_FROBNICATE"),
    ("+0 pipe([5, 6]) = 0", "the system call pipe()"),
    ("+0 epoll_create(1) = 5\n+0 poll([{fd=5, events=POLLIN, revents=0}], 1, 0) = 0",
     "poll() of an epoll descriptor"),
    ("+0 write(4, ..., 2147483648) = 2147483648", "a write() of 2147483648 bytes"),
])
def test_symbols_flags_and_calls_the_model_lacks_are_named(line, feature):
    unsupported(OPEN + line + "\n", feature)


def test_ioctl_counts_the_bytes_in_each_queue():
    """tcp_ioctl(): 10 bytes received and unread, then none; a wrong count fails its line."""
    data = "+0 < P. 1:11(10) ack 1 win 257\n"
    assert run(OPEN + data + "+0 ioctl(4, SIOCINQ, [10]) = 0\n+0 read(4, ..., 10) = 10\n"
               "+0 ioctl(4, FIONREAD, [0]) = 0\n+0 ioctl(4, SIOCOUTQ, [0]) = 0\n").passed
    bad = run(OPEN + data + "+0 ioctl(4, SIOCINQ, [9]) = 0\n")
    assert (bad.passed, bad.line, bad.message) == (False, 9, "ioctl() gave 10; the script expects 9")


def test_an_unknown_symbol_is_named_with_its_line():
    e = unsupported("0 socket(..., SOCK_STREAMY, IPPROTO_TCP) = 3\n", "the symbol SOCK_STREAMY")
    assert str(e).startswith("t.pkt:1: the symbol SOCK_STREAMY")


def test_script_fds_are_the_numbers_the_script_gives_as_packetdrill_maps_them():
    # run_system_call.c: `socket() = 5` names the new socket 5 whatever the kernel returned
    text = OPEN.replace("= 3", "= 5").replace("(3,", "(5,").replace("= 4", "= 7")
    assert run(text + "+0 close(7) = 0\n+0 close(5) = 0\n").passed
    dup = run(OPEN + "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n")
    assert (dup.passed, dup.line) == (False, 8)
    assert "duplicate fd 4 in the script" in dup.message


def test_an_expected_error_without_errno_does_not_check_the_errno():
    # end_syscall(): the errno is compared only when the script names one
    assert run("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1\n").passed
    wrong = run("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1 EINVAL\n")
    assert "returned -1 EPROTONOSUPPORT" in wrong.message


# -- packets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("packet, feature", [
    ("+0 > S. 0:0(0) ack 1 <md5 000102030405060708090a0b0c0d0e0f>",
     "the TCP MD5 signature option (md5)"),  # sent: the model keeps no keys (TCP_MD5SIG)
    ("+0 < S 0:0(0) win 32792 <ECN e0b 1 ceb 0 e1b 2>", "the AccECN option (ECN e0b/e1b/ceb)"),
    ("+0 < [ect0] S 0:0(0) win 32792", "IP-level details of packets ([ect0])"),
    ("+0 < (tos 0x4) S 0:0(0) win 32792", "IP-level details of packets ((tos 0x4))"),
    ("+0 < 40000>8080 S 0:0(0) win 32792", "port numbers in packet lines (40000>8080: several connections)"),
    ("+0 < udp (100)", "UDP packets"),
    ("+0 < icmp unreachable port_unreachable [udp (8)]", "ICMP packets echoing udp packets"),
    ("+0 < S. 0:10(10) ack 1 win 32792 <mss 1460>", "TCP Fast Open (data on a SYN-ACK)"),
])
def test_packet_forms_the_model_lacks_are_read_and_named(packet, feature):
    head = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
    unsupported(head + packet + "\n", feature)


def test_outbound_fragments_are_aggregated_as_packetdrill_does_unless_strict_segments():
    """run_packet.c sniff_outbound_live_packet(): a script's 2920-byte packet matches the
    model's two 1460-byte segments (two writes), as it matches the kernel's GSO packets
    whatever size autosizing gave them; --strict_segments turns that off.  One 2920-byte
    write is one skb of two MSS (tcp_xmit_size_goal()), one GSO packet even when strict (2 MSS,
    within half the initial cwnd: tcp_cwnd_test())."""
    one = OPEN + "+0 write(4, ..., 2920) = 2920\n+0 > P. 1:2921(2920) ack 1 <...>\n"
    assert run(one).passed and run("--strict_segments\n" + one).passed
    text = OPEN + "+0 write(4, ..., 1460) = 1460\n+0 write(4, ..., 1460) = 1460\n" \
        "+0 > P. 1:2921(2920) ack 1 <...>\n"
    ran = run(text)
    assert ran.passed, ran.message
    assert ran.steps[-1].endswith("> P. 1:2921(2920) ack 1 win 1050")  # two MSS segments, one
    strict = run("--strict_segments\n" + text)
    assert not strict.passed
    assert strict.message.startswith("bad outbound payload length (expected 2920, got 1460)")
    apart = OPEN + "+0 write(4, ..., 1460) = 1460\n+.1 write(4, ..., 1460) = 1460\n" \
        "+0 > P. 1:2921(2920) ack 1 <...>\n"
    assert not run(apart).passed  # the first write's segment was due 0.1 s before


def test_a_window_scale_above_14_is_clamped_and_above_255_is_malformed():
    text = OPEN.replace("wscale 7", "wscale 200") + \
        "+0 write(4, ..., 100) = 100\n+0 > P. 1:101(100) ack 1 <...>\n"
    assert run(text).passed
    with pytest.raises(ScriptError, match="the window scale shift count 2147483647 is out of "
                                          "range .at most 255."):
        parse(OPEN.replace("wscale 7", "wscale 2147483647"), "t.pkt")


# -- the fuzz-found crashes: one sentence, a documented exit code, never a traceback -----------
FUZZ = [  # (script, exit code, the sentence)
    ("0 socket(..., FOO_BAR, IPPROTO_TCP) = 3\n", 5,
     "f.pkt:1: the symbol FOO_BAR is not modelled by tcpsim"),
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = ECONNREFUSED\n", 1,
     "f.pkt:2: connect() returned -1 ETIMEDOUT; the script expects 111"),
    (OPEN + "+0 write(4, ..., ...) = 10\n", 1, "f.pkt:8: a number is needed here, not ..."),
    ("--tolerance_usecs=1.5e\n" + OPEN, 2,
     "the script option --tolerance_usecs takes a whole number, not '1.5e'"),
    (OPEN + "+0 write(4, ..., 2147483648) = 2147483648\n", 5,
     "f.pkt:8: a write() of 2147483648 bytes is not modelled by tcpsim"),
    (OPEN.replace("wscale 7", "wscale 2147483647"), 2,
     "f.pkt:4: the window scale shift count 2147483647 is out of range"),
    ("0 `sysctl -q net.ipv4.tcp_sack=abc`\n", 1,
     "f.pkt:1: the command `sysctl -q net.ipv4.tcp_sack=abc` fails"),
    (OPEN + "+0 poll([{events=POLLIN}], 1, 0) = 0\n", 1, "f.pkt:8: poll() takes [{fd=N"),
    (OPEN + "+0 write(4, ..., -1) = -1\n", 1, "f.pkt:8: write() of -1 bytes: a length cannot be"),
    (OPEN + "+0 write(4, ..., 10) = 10\n+0 `sysctl -q net.ipv4.tcp_syn_retries=1`\n"
     "2147483648 close(4) = 0\n", 0, "pass"),
]


@pytest.mark.parametrize("text, code, sentence", FUZZ, ids=range(len(FUZZ)))
def test_fuzz_found_crashes_give_one_sentence_and_an_exit_code(tmp_path, text, code, sentence):
    path = tmp_path / "f.pkt"
    path.write_text(text)
    r = run_cli("pkt", "run", path, timeout=60)
    out = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == code, out
    assert "Traceback" not in r.stderr
    assert sentence in out.replace(str(tmp_path) + "/", "")


def test_a_script_that_idles_with_a_rearming_timer_for_ages_is_bounded():
    from tcpsim.pkt import run as runner
    old, runner.MAX_TIMERS = runner.MAX_TIMERS, 50
    try:
        # keepalive probes every 75 s re-arm forever: the walk to 2^31 s is cut short
        text = OPEN + "+0 setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0\n" \
                      "2147483648 close(4) = 0\n"
        outcome = run(text)
    finally:
        runner.MAX_TIMERS = old
    if not outcome.passed:  # (a model without keepalive passes at once, which is fine too)
        assert "tcpsim stops here rather than walk on" in outcome.message


# -- a bounded fuzz of the parser and the runner ------------------------------------------------
_WORDS = ["0", "+0", "+.1", "...", "<", ">", "S.", "F.", "P.", "1:1(0)", "ack", "win", "257",
          "<mss 1460,FO abc,wscale 99>", "<...>", "socket(", "write(4, ..., 10)", "=", "-1",
          "EAGAIN", "[1]", "{fd=3}", "`sysctl -q net.ipv4.tcp_sack=x`", "`ls`", "MSG_EOR",
          "SOL_IP", "MSG_FASTOPEN", "4294967296", "2147483648", "--mss=1", "\n", ",", ")",
          "{msg_name(...)=..., msg_iov(1)=[{..., 5}], msg_flags=0}", "%{ x }%", "~", "*"]


@settings(max_examples=120, deadline=2000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SCRIPTS), st.lists(st.tuples(st.integers(0, 10_000),
                                                    st.sampled_from(["insert", "delete", "swap"]),
                                                    st.sampled_from(_WORDS)), max_size=6))
def test_mutated_scripts_raise_nothing_but_tcpsim_errors(path, edits):
    words = re.split(r"(\s+)", path.read_text())
    for at, how, word in edits:
        i = at % (len(words) + 1)
        if how == "insert":
            words.insert(i, " " + word + " ")
        elif how == "delete" and words:
            words.pop(i % len(words))
        elif words:
            words[i % len(words)] = word
    text = "".join(words)
    try:
        outcome = run_script(parse(text, "fuzz.pkt"), PROFILE)
    except TcpsimError:
        return
    assert outcome.passed or (outcome.line is not None and outcome.message)


def test_aggregated_fragments_carry_the_last_fragments_flags():
    """packet.c aggregate_packets(): the aggregate's headers are the last fragment's (only seq
    and CWR come from the first), so a GSO packet sent with PSH and then a fragment without it
    make a packet without PSH: on the kernel, sendmsg_msg_more.pkt and two PRR scripts
    passed under packetdrill and failed under tcpsim while it OR-ed the flags."""
    from tcpsim.model.kernel import ACK, PSH, Seg
    from tcpsim.pkt.run import PktRun
    from tcpsim.pkt.syntax import Packet

    r = PktRun(parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", "t.pkt"), PROFILE)
    r._advance = lambda *a, **k: True
    src, dst = ("192.168.0.2", 8080), ("192.0.2.1", 40000)
    first = Seg(src, dst, ACK | PSH, 1000, 1, 257, [], b"x" * 1000)
    r.sniffed = [(0.0, Seg(src, dst, ACK, 2000, 1, 257, [], b"y" * 500))]
    got = r._aggregate(None, Packet(">", ".", 0, 1500, 1500), first, 1.0)
    assert (got.flags, got.seq, len(got.payload)) == (ACK, 1000, 1500)
