"""recvmsg()'s control messages in packetdrill scripts (issue 19): the error queue
(MSG_ZEROCOPY's notifications, SO_TIMESTAMPING's reports) and TCP_INQ's cmsg, run on the real
kernel and compared as packetdrill's cmsg_expect_eq() compares them; on the model these are
unsupported, by name.  Our scripts: tests/pkt/cmsg/ (real packetdrill passes them too, with
defaults.sh added to their init command)."""

import pytest

from tcpsim.model import KernelProfile
from tcpsim.pkt import Unsupported, packetdrill_profile, parse, run_script

from .conftest import ROOT, lab_unavailable
from .kernel_runs import kernel_outcome

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
CMSG = ROOT / "tests" / "pkt" / "cmsg"
OPEN = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
        "+0 listen(3, 1) = 0\n")


@pytest.mark.parametrize("name, feature", [("zerocopy", "the socket option SO_ZEROCOPY"),
                                           ("timestamping", "the socket option SO_TIMESTAMPING"),
                                           ("inq", "the socket option TCP_INQ")])
def test_the_model_names_what_it_lacks(name, feature):
    with pytest.raises(Unsupported) as e:
        run_script(parse((CMSG / f"{name}.pkt").read_text(), f"{name}.pkt"), PROFILE)
    assert e.value.feature == feature
    assert "`tcpsim pkt run --kernel` runs the script on the real kernel" in str(e.value)


def test_a_name_only_run_all_defines_is_an_unknown_symbol_at_its_line():
    # packetdrill without -D CMSG_LEVEL_IP=...: "runtime error in ... call: unknown symbol"
    # (script.c symbol_to_int()); a failure at the line, not a feature tcpsim lacks
    outcome = run_script(parse(OPEN + "+0 setsockopt(3, CMSG_LEVEL_IP, SO_REUSEADDR, [1], 4) "
                               "= 0\n", "t.pkt"), PROFILE)
    assert not outcome.passed and outcome.line == 4
    assert outcome.message.startswith("unknown symbol: 'CMSG_LEVEL_IP'")
    # given with -D, it is the symbol it names
    defined = parse(OPEN + "+0 setsockopt(3, CMSG_LEVEL_IP, SO_REUSEADDR, [1], 4) = -1 "
                    "ENOPROTOOPT\n", "t.pkt", {"CMSG_LEVEL_IP": "SOL_IP"})
    outcome = run_script(defined, PROFILE)
    assert outcome.line == 4 and "returned 0" in outcome.message  # SOL_SOCKET's value is 1


def _edited(name: str, old: str, new: str) -> tuple:
    text = (CMSG / f"{name}.pkt").read_text()
    assert text.count(old) >= 1, old
    lines = text.split("\n")
    at = text[:text.index(old) + len(old)].count("\n")  # the edit's last line (from 0)
    while lines[at][:1].isspace():  # a call's continuation lines: the event's first line
        at -= 1
    return parse(text.replace(old, new, 1), f"{name}.pkt"), at + 1


@pytest.mark.live
@pytest.mark.parametrize("name, old, new, message", [
    # the merged notification of sends 0 and 1
    ("zerocopy", "ee_info=0, ee_data=1", "ee_info=0, ee_data=0",
     "Bad data in extended err 0: expected=0 actual=1"),
    # not complete before its last byte is acknowledged
    ("zerocopy", "ack 5001 win 1000\n+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 0}], "
     "msg_flags=0}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)",
     "ack 5001 win 1000\n+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 0}], "
     "msg_flags=0}, MSG_ERRQUEUE) = 0", "recvmsg() returned -1 EAGAIN; the script expects 0"),
    ("timestamping", "scm_nsec=30000000", "scm_nsec=40000000",
     "Bad timestamp 0 in scm_timestamping 0: expected=0.040000 s"),
    ("timestamping", "msg_flags=MSG_ERRQUEUE,", "msg_flags=MSG_ERRQUEUE|MSG_TRUNC,",
     "Expected msg_flags 0x00002020 but got 0x00002000"),
    ("timestamping", "ee_info=SCM_TSTAMP_SND", "ee_info=SCM_TSTAMP_ACK",
     "Bad info in extended err 1: expected=2 actual=0"),
    ("inq", "cmsg_data=901", "cmsg_data=900", "Bad data in cmsg 0: expected=84030000 actual=85030000"),
    ("inq", "msg_flags=MSG_CTRUNC}", "msg_flags=0}", "Expected msg_flags 0x00000000 but got 0x00000008"),
    ("inq", "msg_flags=0,\n                  msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, "
     "cmsg_data=1800}]}", "msg_flags=0,\n                  msg_control=[{cmsg_level=SOL_TCP, "
     "cmsg_type=TCP_CM_INQ, cmsg_data=1800}, {cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, "
     "cmsg_data=0}]}", "received only 1 cmsgs"),
])
def test_an_edited_script_fails_on_the_kernel_where_packetdrill_does(name, old, new, message):
    """Each edit checked with real packetdrill too: it fails at the same line, saying the
    same (its "Bad data in cmsg" prints the bytes as a string)."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    script, line = _edited(name, old, new)
    outcome = kernel_outcome(script, PROFILE)
    assert not outcome.passed
    assert message in outcome.message, outcome.message
    assert outcome.line == line
