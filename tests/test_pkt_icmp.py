"""Inbound ICMP in packetdrill scripts (issue 19): `< icmp TYPE [CODE] [mtu N] [START:END(LEN)]`
read as packetdrill's parser reads it, and the model's tcp_v4_err() (model/tcp_ipv4_err.py);
tests/pkt/icmp-*.pkt hold the model and, live, the kernel to the same packets."""

import errno as E

import pytest

from tcpsim.model import KernelProfile
from tcpsim.pkt import ScriptError, Unsupported, packetdrill_profile, parse, run_script
from tcpsim.pkt.syntax import Icmp

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
OPEN = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
ESTABLISHED = (OPEN + "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
               "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
               "+0 < S 0:0(0) win 65535 <mss 1000>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n"
               "+.01 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 4\n")


@pytest.mark.parametrize("line, want", [
    ("< icmp unreachable frag_needed mtu 800", Icmp(3, 4, 800, 0, 0, "unreachable frag_needed")),
    ("< icmp unreachable [5000:6000(1000)]", Icmp(3, 0, None, 5000, 1000, "unreachable")),
    ("< icmp unreachable port_unreachable [1:1(0)]",
     Icmp(3, 3, None, 1, 0, "unreachable port_unreachable")),
    ("< icmp time_exceeded", Icmp(11, 0, None, 0, 0, "time_exceeded")),
    ("< icmp type_3 code_13", Icmp(3, 13, None, 0, 0, "type_3 code_13")),
])
def test_icmp_packets_are_read_as_packetdrill_builds_them(line, want):
    assert parse(OPEN + "+0 " + line + "\n", "t.pkt").events[1].action.icmp == want


@pytest.mark.parametrize("line, message", [
    ("< icmp unreachable CODE [0:10(10)]", "t.pkt:2: bad ICMP code CODE"),  # a -D symbol
    ("< icmp packet_too_big", "t.pkt:2: bad ICMP type packet_too_big"),  # ICMPv6's
    ("< icmp time_exceeded port_unreachable", "bad ICMP code port_unreachable"),
    ("< icmp unreachable host_unreachable mtu 700",
     "ICMPv4 MTU is only valid for unreachable-frag_needed"),
    ("< icmp unreachable frag_needed mtu 70000", "ICMPv4 MTU out of 16-bit range"),
    ("< icmp unreachable [10:20(5)]", r"10:20\(5\) is inconsistent"),
])
def test_an_icmp_packet_packetdrill_refuses_is_malformed(line, message):
    with pytest.raises(ScriptError, match=message):
        parse(OPEN + "+0 " + line + "\n", "t.pkt")


def run(text: str):
    return run_script(parse(text, "t.pkt"), PROFILE)


@pytest.mark.parametrize("code, errno", [("net_unreachable", E.ENETUNREACH),
                                          ("protocol_unreachable", E.ENOPROTOOPT),
                                          ("host_unknown", E.EHOSTDOWN),
                                          ("source_host_isolated", E.ENONET)])
def test_a_soft_error_takes_icmp_err_converts_errno(code, errno):
    text = ESTABLISHED + (f"+0 < icmp unreachable {code} [1:1(0)]\n"
                          f"+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [{errno}], [4]) = 0\n")
    outcome = run(text)
    assert outcome.passed, outcome.message
    wrong = run(text.replace(f"[{errno}]", "[0]"))
    assert not wrong.passed


def test_an_icmp_the_model_does_not_follow_is_named():
    with pytest.raises(Unsupported, match=r"t.pkt:9: PMTU discovery \(an ICMP frag_needed: "
                                          r"tcp_v4_mtu_reduced\(\)\) is not modelled"):
        run(ESTABLISHED + "+0 < icmp unreachable frag_needed mtu 1000 [1:1(0)]\n")


def test_a_connection_that_times_out_reports_the_soft_error():
    """tcp_write_err(): sk_err_soft, not ETIMEDOUT (TCP_USER_TIMEOUT 1 s, nothing answered)."""
    text = ESTABLISHED + ("+0 setsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [1000], 4) = 0\n"
                          "+0 write(4, ..., 100) = 100\n+0 > P. 1:101(100) ack 1\n"
                          "+0 < icmp unreachable host_unreachable [1:101(100)]\n"
                          "+3 write(4, ..., 100) = -1 EHOSTUNREACH (No route to host)\n")
    outcome = run(text)
    assert outcome.passed, outcome.message


@pytest.mark.live
@pytest.mark.parametrize("code, errno", [("net_unreachable", E.ENETUNREACH),
                                          ("host_unknown", E.EHOSTDOWN)])
def test_the_kernel_gives_the_same_soft_errors_and_the_timeout_takes_them(code, errno):
    from .conftest import lab_unavailable

    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    from tcpsim.pkt.run import run_script_on_kernel

    soft = ESTABLISHED + (f"+0 < icmp unreachable {code} [1:1(0)]\n"
                          f"+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [{errno}], [4]) = 0\n")
    timeout = ESTABLISHED + ("+0 setsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [1000], 4) = 0\n"
                             "+0 write(4, ..., 100) = 100\n+0 > P. 1:101(100) ack 1\n"
                             f"+0 < icmp unreachable {code} [1:101(100)]\n"
                             f"+3 write(4, ..., 100) = -1 {E.errorcode[errno]}\n")
    for text in (soft, timeout):
        outcome = run_script_on_kernel(parse(text, "t.pkt"), PROFILE)
        assert outcome.passed, (outcome.line, outcome.message)
        assert run(text).passed


# -- packetdrill's -D SYMBOL=VALUE (run_all.py's CODE and TFO_COOKIE) --------------------------
def test_a_defined_symbol_becomes_its_value_as_packetdrills_lexer_reads_it():
    text = OPEN + "+0 < icmp unreachable CODE [0:10(10)]\n+0 write(3, ..., LEN) = LEN\n"
    script = parse(text, "t.pkt", {"CODE": "host_unreachable", "LEN": "0x10"})
    assert script.events[1].action.icmp == Icmp(3, 1, None, 0, 10, "unreachable host_unreachable")
    assert script.events[2].action.args[2] == 16 and script.events[2].action.result == 16
    assert parse(OPEN + "+0 write(3, ..., N) = N\n", "t.pkt",
                 {"N": "010"}).events[1].action.result == 8  # strtol(..., 0): octal
    fo = parse(OPEN + "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
               "+0 < S 0:0(0) win 32792 <mss 1460,FOEXP TFO_COOKIE>\n", "t.pkt",
               {"TFO_COOKIE": "3021b9d889017eeb"})
    assert fo.events[3].action.options == [["mss", 1460], ["FOEXP", "3021b9d889017eeb"]]


def test_pkt_run_takes_defines_on_its_command_line(tmp_path):
    from .conftest import run_cli

    path = tmp_path / "code.pkt"
    path.write_text(ESTABLISHED + "+0 < icmp unreachable CODE [1:1(0)]\n"
                    "+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [EHOSTUNREACH], [4]) = 0\n")
    r = run_cli("pkt", "run", "-D", "CODE=host_unreachable", path)
    assert r.returncode == 0 and r.stdout.startswith("pass "), r.stdout + r.stderr
    r = run_cli("pkt", "run", path)
    assert r.returncode == 2 and "bad ICMP code CODE" in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_cli("pkt", "run", "-D", "CODE", path)
    assert r.returncode != 0 and "-D CODE: give SYMBOL=VALUE" in r.stdout + r.stderr
