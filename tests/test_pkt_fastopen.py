"""TCP Fast Open in packetdrill scripts (issue 19): the FO and FOEXP options read from scripts
and from the kernel's packets, written byte for byte into injected ones; the model's one
sentence; packetdrill's numbering of each side's sequence space; and, live, our own Fast Open
scripts (tests/pkt/fastopen/) on the real kernel."""

import pytest

from tcpsim.errors import UNSUPPORTED, USAGE
from tcpsim.pkt import ScriptError, Unsupported, packetdrill_profile, parse, run_script
from tcpsim.pkt import shell
from tcpsim.pkt.run import _same_errno
from tcpsim.model import KernelProfile
from tcpsim.trace.segment import encode_options, parse_options

from .conftest import ROOT, lab_unavailable, run_cli

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
FASTOPEN = sorted((ROOT / "tests" / "pkt" / "fastopen").glob("*.pkt"))
SYN = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n" \
      "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792 <{}>\n"


def options(text: str) -> list:
    return parse(SYN.format(text), "t.pkt").events[3].action.options


def run(text: str):
    return run_script(parse(text, "t.pkt"), PROFILE)


# -- the options in scripts ------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("mss 1460,FO,nop,nop", [["mss", 1460], ["FO", ""], ["nop", None], ["nop", None]]),
    ("FO abcd1234", [["FO", "abcd1234"]]),
    ("FO ABCD1234", [["FO", "abcd1234"]]),  # hex digits in either case, kept in lower case
    ("FO 12345678", [["FO", "12345678"]]),  # all digits: an INTEGER token, read as hex
    ("FOEXP 00abaaabe8e954c2,sackOK", [["FOEXP", "00abaaabe8e954c2"], ["sackOK", None]]),
    ("FOEXP,sackOK", [["FOEXP", ""], ["sackOK", None]]),
    ("FO " + "ab" * 38, [["FO", "ab" * 38]]),  # 2 + 38: the 40 bytes of option space
    ("FOEXP " + "ab" * 36, [["FOEXP", "ab" * 36]]),  # 4 + 36
])
def test_fast_open_options_are_read_as_their_cookies_bytes(text, want):
    assert options(text) == want


@pytest.mark.parametrize("text, message", [
    ("FO abc", "the TCP Fast Open cookie 'abc' has an odd number of digits"),
    ("FO abcg", "the TCP Fast Open cookie 'abcg' is not a valid hex string"),
    ("FOEXP TFO_COOKIE", "'TFO_COOKIE' is not a valid hex string, as packetdrill's parser says "
                         "too (packetdrill's run_all.py defines it with -D"),
    ("FO 0x1234", "the TCP Fast Open cookie '0x1234' is not a valid hex string"),
    ("FO " + "ab" * 39, "a TCP Fast Open cookie of 39 bytes exceeds the maximum of 38 for FO"),
    ("FOEXP " + "ab" * 37, "a TCP Fast Open cookie of 37 bytes exceeds the maximum of 36 for "
                           "FOEXP"),
])
def test_a_cookie_packetdrill_refuses_is_malformed_at_its_line(text, message):
    # parser.y new_tcp_fast_open_option(): a semantic error there too
    with pytest.raises(ScriptError) as e:
        options(text)
    assert str(e.value).startswith("t.pkt:4: ") and message in str(e.value)
    assert e.value.exit_code == USAGE


# -- on the wire -----------------------------------------------------------------------------
@pytest.mark.parametrize("opts, wire", [
    ([["FO", ""], ["nop", None], ["nop", None]], "22020101"),  # a cookie request
    ([["mss", 1460], ["FO", "abcd1234"], ["nop", None], ["nop", None]], "020405b42206abcd12340101"),
    ([["FOEXP", "00abaaabe8e954c2"]], "fe0cf98900abaaabe8e954c2"),  # kind 254, magic 0xF989
    ([["FOEXP", ""]], "fe04f989"),
])
def test_fast_open_options_are_written_byte_for_byte_and_read_back(opts, wire):
    assert encode_options(opts).hex() == wire
    assert parse_options(bytes.fromhex(wire)) == opts


def test_an_experimental_option_of_another_magic_is_not_fast_open():
    # tcp_parse_options(): kind 254 is Fast Open only with the magic 0xF989
    assert parse_options(bytes.fromhex("fe06abcd0102")) == [["opt-254", "abcd0102"]]


# -- the model ---------------------------------------------------------------------------------
CLIENT = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"


SYNACK = CLIENT + "+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n" \
    "+0 > S 0:0(0) <...>\n+0 < S. 0:{}(0) ack 1 win 32792 <mss 1460{}>\n"


@pytest.mark.parametrize("text, line, what", [
    # what the model has not of Fast Open: data on a SYN-ACK, reading the key, the active
    # side's blackhole detection
    (SYNACK.format("10", "").replace("0:10(0)", "0:10(10)"), 5, "data on a SYN-ACK"),
    (CLIENT + "+0 getsockopt(3, SOL_TCP, TCP_FASTOPEN_KEY, \"\\x01\", [16]) = 0\n", 3,
     "the socket option TCP_FASTOPEN_KEY"),
    (CLIENT + "+0 `sysctl -q net.ipv4.tcp_fastopen_blackhole_timeout_sec=3600`\n", 3,
     "the sysctl net.ipv4.tcp_fastopen_blackhole_timeout_sec"),
])
def test_the_model_says_in_one_sentence_what_it_has_not_of_fast_open(text, line, what):
    with pytest.raises(Unsupported) as e:
        run(text)
    assert str(e.value).startswith(f"t.pkt:{line}: TCP Fast Open ({what}) is not modelled by "
                                   "tcpsim (the model does Fast Open's server side (cookies, "
                                   "SYN data, TCP_FASTOPEN, setting TCP_FASTOPEN_KEY) and its "
                                   "client side (MSG_FASTOPEN, TCP_FASTOPEN_CONNECT, "
                                   "TCP_FASTOPEN_NO_COOKIE, the cookie cache, SYN data sent "
                                   "again), not the active side's blackhole detection, data on "
                                   "a SYN-ACK or reading the key; `tcpsim pkt run --kernel` runs "
                                   "the script on the real kernel)")
    assert e.value.exit_code == UNSUPPORTED


def test_our_client_fast_open_script_passes_on_the_model():
    # the client side is modelled too (model/tcp_fastopen.py TcpFastopenClient)
    r = run_cli("pkt", "run", ROOT / "tests" / "pkt" / "fastopen" / "client.pkt")
    assert r.returncode == 0, r.stdout + r.stderr


def test_our_server_fast_open_script_passes_on_the_model():
    # the server side is modelled (model/tcp_fastopen.py): the cookie for a request, the
    # child made at the SYN with its data, the SYN-ACK acknowledging the data
    r = run_cli("pkt", "run", ROOT / "tests" / "pkt" / "fastopen" / "server.pkt")
    assert r.returncode == 0, r.stdout + r.stderr


def test_defaults_sh_fast_open_settings_are_the_environment_not_a_feature():
    # defaults.sh's own tcp_fastopen value, set again, changes nothing the model stands for
    assert run(CLIENT + "+0 `sysctl -q net.ipv4.tcp_fastopen=0x70403`\n").passed


def test_a_tcp_metrics_flush_is_read():
    assert isinstance(shell.read("ip tcp_metrics flush all &> /dev/null")[0], shell.Flush)
    assert isinstance(shell.read("ip tcp_metrics flush")[0], shell.Flush)
    assert isinstance(shell.read("ip tcp_metrics delete 10.0.0.1")[0], shell.Foreign)
    outcome = run(CLIENT + "+0 `ip tcp_metrics flush all > /dev/null 2>&1`\n")
    assert outcome.passed and "3: TCP metrics flushed" in outcome.steps


def test_a_background_command_before_or_skips_what_follows_as_dash_does():
    # packetdrill runs commands with system(): /bin/sh, dash here, reads `a &> /dev/null` as
    # `a &` and `> /dev/null`, which succeeds, so `|| b` does not run (nonblocking-sendto.pkt
    # of packetdrill's tree meant to flush its cookies that way, and does not, under dash);
    # its sysctl, in the background, sets a key mainline Linux has not: it does nothing
    acts = shell.read("sysctl -q net.ipv4.tcp_fastopen_cookies=0 &> /dev/null ||\\\n"
                      "  ip tcp_metrics flush all &> /dev/null")
    assert acts == []
    acts = shell.read("sysctl -q net.ipv4.tcp_sack=0 &> /dev/null ||\\\n"
                      "  ip tcp_metrics flush all &> /dev/null")
    assert acts == [shell.Setting("net.ipv4.tcp_sack", "0")]
    assert shell.read("sysctl -q net.ipv4.tcp_sack=1 &> /dev/null && ip tcp_metrics flush") == \
        [shell.Setting("net.ipv4.tcp_sack", "1"), shell.Flush()]


def test_errno_names_of_one_number_are_one_errno():
    # end_syscall() compares numbers: EOPNOTSUPP and ENOTSUP are both 95 on Linux
    assert _same_errno("EOPNOTSUPP", "ENOTSUP") and _same_errno("EWOULDBLOCK", "EAGAIN")
    assert not _same_errno("EALREADY", "EINPROGRESS") and not _same_errno("EAGAIN", None)


# -- packetdrill's numbering (socket.h remote_seq_script_to_live_offset() and friends) --------
ACTIVE = """0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0...0.010 connect(3, ..., ...) = 0
+0 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.01 < S. 123:123(0) ack 1 win 5792 <mss 1460,sackOK,TS val 700 ecr 100,nop,wscale 7>
+0 > . 1:1(0) ack 1 win 1050 <nop,nop,TS val 125 ecr 700>
+0 < P. 1:11(10) ack 1 win 46 <nop,nop,TS val 800 ecr 125>
+0 > . 1:1(0) ack 11 <...>
+0 read(3, ..., 100) = 10
"""


def test_the_remotes_numbers_count_from_its_syn_ack():
    # the SYN-ACK's seq 123 is the remote ISN: the data's 1:11 is 124:134 on the wire, and the
    # acks the kernel sends back are counted from it (ack 1, ack 11)
    outcome = run(ACTIVE)
    assert outcome.passed, (outcome.line, outcome.message)
    wrong = run(ACTIVE.replace("> . 1:1(0) ack 1 win", "> . 1:1(0) ack 124 win"))
    assert (wrong.passed, wrong.line) == (False, 5)
    assert "bad outbound ack number (expected 124, got 1)" in wrong.message


PASSIVE = """0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 5000:5000(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 1234:1234(0) ack 5001 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 100) = 100
+0 > P. 1:101(100) ack 1 <...>
"""


def test_a_syn_ack_written_with_another_isn_still_numbers_the_rest_from_zero():
    # a SYN's numbers are mapped by the two ISNs' difference, every other packet's are
    # relative to the ISN, whatever the script's SYN-ACK said (1234 here)
    outcome = run(PASSIVE)
    assert outcome.passed, (outcome.line, outcome.message)


TWICE = """0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 close(3) = 0
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 100) = 100
+0 > P. 1:101(100) ack 1 <...>
"""


def test_accept_takes_the_scripts_fd_without_the_duplicate_check():
    # run_syscall_accept(): fd 4 names the newest accepted socket (the one before stays open,
    # unnamed); the second passive connection comes from a port of its own
    # (next_ephemeral_port()), so its SYN meets no socket of the first
    outcome = run(TWICE)
    assert outcome.passed, (outcome.line, outcome.message)
    dup = run(TWICE.replace("+0 socket(", "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n+0 socket(", 1))
    assert (dup.passed, dup.line) == (False, 10) and "duplicate fd 4" in dup.message


def test_packets_of_a_connection_the_script_left_are_not_the_scripts():
    # the FIN of a closed connection that the script does not list is dropped while the next
    # socket's SYN is awaited (sniff_outbound_live_packet(): only the socket under test)
    text = ACTIVE + \
        "+0 close(3) = 0\n+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n" \
        "+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n" \
        "+0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n" \
        "+0 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>\n"
    outcome = run(text)
    assert outcome.passed, (outcome.line, outcome.message)
    assert not any("> F." in s for s in outcome.steps)


# -- on the real kernel (root) -----------------------------------------------------------------
@pytest.mark.live
@pytest.mark.parametrize("path", FASTOPEN, ids=[p.stem for p in FASTOPEN])
def test_our_fast_open_scripts_pass_on_the_real_kernel(path):
    """pkt run --kernel: the client asks for a cookie, then sends data on its SYN (a blocking
    sendto(MSG_FASTOPEN) made blocking in the kernel); the server gives a cookie, then takes
    data from a SYN and hands the child to accept() before the handshake ends.  Real
    packetdrill passes both scripts too (checked by hand, with defaults.sh)."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    from tcpsim.pkt import load

    from .kernel_runs import kernel_outcome

    outcome = kernel_outcome(load(path), PROFILE)
    assert outcome.passed, (outcome.line, outcome.message, outcome.held_up)


@pytest.mark.live
def test_an_edited_cookie_fails_on_the_kernel_at_its_line():
    """The kernel's cookie for the server's addresses is the one the script names; another
    is a bad value at that line (the option's bytes are compared, as packetdrill does)."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    from tcpsim.pkt.run import run_script_on_kernel

    path = ROOT / "tests" / "pkt" / "fastopen" / "server.pkt"
    text = path.read_text().replace("FO de4f234f0f433a55,nop,nop>\n+.01", "FO de4f234f0f433a56,nop,nop>\n+.01")
    outcome = run_script_on_kernel(parse(text, "server.pkt"), PROFILE)
    assert not outcome.passed
    assert "bad value in outbound TCP option FO" in outcome.message, outcome.message
    assert "got <mss 1460,nop,nop,sackOK,FO de4f234f0f433a55,nop,nop>" in outcome.message


@pytest.mark.live
def test_pkt_verify_gives_the_kernels_verdict_and_then_the_models_sentence(tmp_path):
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    # the client script with a setting the model does not follow (the active side's
    # blackhole detection)
    text = (ROOT / "tests" / "pkt" / "fastopen" / "client.pkt").read_text().replace(
        "`sysctl -q net.ipv4.tcp_timestamps=0`",
        "`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_fastopen_blackhole_timeout_sec=60`")
    assert "blackhole" in text
    (tmp_path / "client.pkt").write_text(text)
    r = run_cli("pkt", "verify", tmp_path / "client.pkt")
    assert r.returncode == UNSUPPORTED, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] in (["kernel", "pass"], ["kernel", "fail"])  # the kernel's verdict
    assert lines[1].startswith("unsupported ") and "TCP Fast Open (" in lines[1]


def test_the_models_cookie_is_the_kernels():
    # __tcp_fastopen_cookie_gen_cipher(): SipHash-2-4 of saddr and daddr under the sysctl's key
    # (its words little-endian); the kernel gave de4f234f0f433a55 for 192.0.2.1 to 192.168.0.2
    # under defaults.sh's key (tests/pkt/fastopen/server.pkt, tests/pkt/tfo-cookie.pkt)
    from tcpsim.model.tcp_fastopen import cookie_gen, fastopen_key

    key = fastopen_key(shell.DEFAULTS_SH["net.ipv4.tcp_fastopen_key"])
    assert cookie_gen(key, "192.0.2.1", "192.168.0.2") == "de4f234f0f433a55"
    assert cookie_gen(key, "192.168.0.2", "192.0.2.1") != "de4f234f0f433a55"  # ordered
    assert fastopen_key("a1a1a1a1-b2b2b2b2") is None


FLUSH = """`sysctl -q net.ipv4.tcp_timestamps=0`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, ..., 10, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (x)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
+.01 < S. 0:0(0) ack 1 win 8000 <mss 1460,nop,nop,sackOK,nop,wscale 7,FO aabbccdd,nop,nop>
+0 > . 1:1(0) ack 1
+0 close(3) = 0
+0 > F. 1:1(0) ack 1
{flush}+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, ..., 10, MSG_FASTOPEN, ..., ...) = {result}
+0 > S 0:{end}({end}) <mss 1460,nop,nop,sackOK,nop,wscale 8,{option},nop,nop>
"""


@pytest.mark.parametrize("flush, result, end, option", [
    ("", "10", 10, "FO aabbccdd"),  # the cached cookie, the data on the SYN
    ("+0 `ip tcp_metrics flush all`\n", "-1 EINPROGRESS (x)", 0, "FO"),  # asked for again
])
def test_the_models_cookie_cache_is_emptied_by_a_tcp_metrics_flush(flush, result, end, option):
    # tcp_fastopen_cache_get() after tcp_metrics_flush_all(): no cookie, a request again
    outcome = run(FLUSH.format(flush=flush, result=result, end=end, option=option))
    assert outcome.passed, (outcome.line, outcome.message)
