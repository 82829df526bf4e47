"""IP-level details of packet lines (parser.y's opt_ip_info, tos_spec): ECN's bits ([noecn],
[ect1], [ect0], [ce], [ect01] outbound) and the TOS byte ((tos 0x..)), written into injected
packets and checked on the kernel's (run_packet.c verify_outbound_live_tos()); the model
keeps no IP header and says so.  Our script: tests/pkt/ip/ecn.pkt (real packetdrill passes it
too, with defaults.sh added to its init command)."""

import pytest

from tcpsim.model import KernelProfile
from tcpsim.pkt import ScriptError, Unsupported, packetdrill_profile, parse, run_script

from .conftest import ROOT, lab_unavailable
from .kernel_runs import kernel_outcome

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
ECN = ROOT / "tests" / "pkt" / "ip" / "ecn.pkt"
OPEN = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
        "+0 listen(3, 1) = 0\n")


@pytest.mark.parametrize("text, tos", [
    ("[noecn]", ("ecn", 0)), ("[ect1]", ("ecn", 1)), ("[ect0]", ("ecn", 2)), ("[ce]", ("ecn", 3)),
    ("(tos 0x2e)", ("tos", 0x2E)),
])
def test_the_ip_info_of_a_packet_line_is_read(text, tos):
    p = parse(OPEN + f"+0 < {text} S 0:0(0) win 1000 <mss 1000>\n", "t.pkt").events[3].action
    assert p.tos[:2] == tos and p.extra is None


@pytest.mark.parametrize("text, message", [
    ("< [ect01] S 0:0(0) win 1000", "t.pkt:4: [ect01] can only be used with outbound packets"),
    ("> (tos 0x100) S. 0:0(0) ack 1", "t.pkt:4: tos out of range for 8 bits"),
])
def test_ip_info_packetdrill_refuses_is_malformed(text, message):
    with pytest.raises(ScriptError) as e:
        parse(OPEN + f"+0 {text}\n", "t.pkt")
    assert str(e.value) == message


def test_other_ip_info_is_named_as_unsupported():
    with pytest.raises(Unsupported) as e:
        run_script(parse(OPEN + "+0 < [ttl 64] S 0:0(0) win 1000 <mss 1000>\n", "t.pkt"), PROFILE)
    assert e.value.feature == "IP-level details of packets ([ttl 64])"


def test_the_model_names_ecns_ip_bits_as_unsupported():
    with pytest.raises(Unsupported) as e:
        run_script(parse(OPEN + "+0 < [ect0] S 0:0(0) win 1000 <mss 1000>\n", "t.pkt"), PROFILE)
    assert e.value.feature == "IP-level details of packets ([ect0])"
    with pytest.raises(Unsupported) as e:  # (our script stops earlier on the model)
        run_script(parse(ECN.read_text(), "ecn.pkt"), PROFILE)
    assert e.value.feature == "the sysctl net.ipv4.tcp_ecn"


@pytest.mark.live
@pytest.mark.parametrize("old, new, line, message", [
    ("> [ect0] P. 1:1001", "> [ect1] P. 1:1001", 18,
     "live packet field ip_ecn: expected: 1 (0x1) vs actual: 2 (0x2)"),
    ("> [ect0] P. 1:1001", "> [ect01] P. 1:1001", None, None),  # either ECT will do
    ("> [noecn] . 1001:1001(0) ack 101", "> (tos 0x2) . 1001:1001(0) ack 101", 20,
     "live packet field tos: expected: 2 (0x2) vs actual: 0 (0x0)"),
    # not CE-marked: no ECE echoed
    ("< [ce] P. 101", "< [ect0] P. 101", 22, "bad outbound TCP flags (ECE missing)"),
])
def test_the_kernels_ecn_bits_are_checked_as_packetdrill_checks_them(old, new, line, message):
    """Each edit checked with real packetdrill too: the same verdict and message."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    text = ECN.read_text()
    assert old in text
    outcome = kernel_outcome(parse(text.replace(old, new, 1), "ecn.pkt"), PROFILE)
    if message is None:
        assert outcome.passed, (outcome.line, outcome.message)
        return
    assert not outcome.passed
    assert (outcome.line, outcome.message[:len(message)]) == (line, message), outcome.message
