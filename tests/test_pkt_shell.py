"""Shell commands in packetdrill scripts (issue 19): `pkt run --kernel` runs them inside the
run's network namespace, refusing what would reach outside it (pkt/shell.py
namespace_refusal()); the model runs none and says so."""

import os

import pytest

from tcpsim.model import KernelProfile
from tcpsim.pkt import Unsupported, packetdrill_profile, parse, run_script
from tcpsim.pkt import shell

from .conftest import ROOT, lab_unavailable

PROFILE = packetdrill_profile(KernelProfile.named("reference"))
SHELL = ROOT / "tests" / "pkt" / "shell"


@pytest.mark.parametrize("text", [
    "tc qdisc replace dev tun0 root fq",
    "tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0",
    "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11",
    "ethtool -K tun0 gso off tso off",
    "nstat > /dev/null",
    "nstat | grep TcpExtOutOfWindowIcmps > /dev/null",
    'grep " 0A " /proc/net/tcp /proc/net/tcp6 | grep ":1F90"',
])
def test_commands_on_the_namespaces_devices_and_counters_run(text):
    assert shell.namespace_refusal(text) is None


@pytest.mark.parametrize("text, why", [
    ("echo 3 > /sys/module/tcp_cubic/parameters/hystart_detect",
     "writes /sys/module/tcp_cubic/parameters/hystart_detect, a setting of the whole machine"),
    ("/bin/rm -f /tmp/testfile", "runs rm, which tcpsim does not know to stay inside"),
    ("/bin/dd bs=1 count=5 if=/dev/zero of=/tmp/testfile status=none", "runs dd"),
    ("nstat > /tmp/counters", "writes /tmp/counters, a file, and files are not part of a "
                              "network namespace"),
    ("ip link set tun0 netns 1", "reaches another network namespace than the run's"),
    ("ip -n other route show", "reaches another network namespace"),
    ("tc qdisc show dev $(echo tun0)", "a command substitution"),
    ("ethtool -f tun0 fw.bin", "acts on a device's hardware"),
    ("modprobe sch_fq", "runs modprobe"),
    ("echo 1 >> /proc/sys/net/ipv4/tcp_sack", "writes /proc/sys/net/ipv4/tcp_sack in a form "
                                              "tcpsim does not apply"),
])
def test_commands_that_would_reach_outside_the_namespace_are_refused_by_name(text, why):
    said = shell.namespace_refusal(text)
    assert said is not None and why in said, said


def test_the_model_runs_no_command_and_names_it():
    text = (SHELL / "qdisc-drop.pkt").read_text()
    with pytest.raises(Unsupported, match=r"qdisc-drop.pkt:6: the shell command `ip link show "
                                          r"dev tun0 > /dev/null` is not modelled by tcpsim"):
        run_script(parse(text, str(SHELL / "qdisc-drop.pkt")), PROFILE)


@pytest.mark.parametrize("text", [
    "/bin/rm -f /tmp/testfile",
    "/bin/dd bs=1 count=5 if=/dev/zero of=/tmp/testfile status=none",
    "nstat > /tmp/counters",
    "mkdir -p /tmp/a/b && touch /tmp/a/b/c",
    "cp /etc/hostname /tmp/copy",
])
def test_files_written_in_the_runs_own_tmp_are_allowed_where_it_has_one(text):
    assert shell.namespace_refusal(text, private_tmp=True) is None


@pytest.mark.parametrize("text, why", [
    ("/bin/rm -f /etc/testfile", "writes /etc/testfile, a file outside /tmp"),
    ("rm -f testfile", "writes testfile, a file outside /tmp"),  # the script's directory
    ("rm -f /tmp/../etc/x", "writes /tmp/../etc/x, a file outside /tmp"),
    ("rm -f /tmp/$X", "writes /tmp/$X"),
    ("dd if=/dev/zero of=/var/tmp/x count=1", "writes /var/tmp/x"),
    ("cp /tmp/a /etc/b", "writes /etc/b"),
    ("rm -rf /tmp", "writes /tmp, a file outside /tmp"),
    ("touch", "names no file it writes"),
    ("nstat > /etc/counters", "writes /etc/counters, a file, and files are not part of"),
])
def test_files_outside_the_runs_own_tmp_are_still_refused(text, why):
    said = shell.namespace_refusal(text, private_tmp=True)
    assert said is not None and why in said, said


def test_a_symbolic_link_out_of_tmp_is_not_followed(tmp_path):
    link = tmp_path / "out"
    link.symlink_to("/etc")
    said = shell.namespace_refusal(f"rm -f {link}/passwd", private_tmp=True)
    assert said is not None and f"writes {link}/passwd, a file outside /tmp" in said


@pytest.fixture
def live():
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")


OPEN = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n")


@pytest.mark.live
def test_a_command_that_would_write_a_file_is_refused_on_the_kernel(live):
    from tcpsim.pkt.run import run_script_on_kernel

    target = "/var/tmp/tcpsim-never-written"  # outside /tmp: the machine's
    text = OPEN + f"+0 `nstat > {target}`\n"
    with pytest.raises(Unsupported) as e:
        run_script_on_kernel(parse(text, "t.pkt"), PROFILE)
    assert str(e.value) == (f"t.pkt:3: tcpsim does not run the shell command `nstat > "
                            f"{target}`: `nstat > {target}` writes {target}, a file, and files "
                            "are not part of a network namespace")
    assert not os.path.exists(target)


@pytest.mark.live
def test_files_a_script_writes_in_tmp_are_the_runs_alone(live, tmp_path):
    """The kernel's run has a /tmp of its own (lab/netns.py private_tmp(): an overlay over
    the host's): a command writes there, and open() reads it back, the host's /tmp unchanged;
    what was in the host's /tmp is seen, and removing it there removes it for the run only."""
    from tcpsim.pkt.run import run_script_on_kernel

    kept = tmp_path / "kept"
    kept.write_text("host")
    made = tmp_path / "made"
    text = (OPEN + f"+0 `echo run > {made}; rm -f {kept}`\n"
            f'+0 open("{made}", O_RDONLY) = 4\n'
            f'+0 open("{kept}", O_RDONLY) = -1 ENOENT (No such file or directory)\n')
    outcome = run_script_on_kernel(parse(text, "t.pkt"), PROFILE)
    assert outcome.passed, (outcome.line, outcome.message)
    assert not made.exists() and kept.read_text() == "host"


@pytest.mark.live
def test_a_failing_command_fails_the_kernels_run_as_packetdrill_says(live):
    """safe_system(): a non-zero status stops the script, at the command's line (tc: the
    namespace has no device eth9)."""
    from tcpsim.pkt.run import run_script_on_kernel

    outcome = run_script_on_kernel(parse(OPEN + "+0 `tc qdisc show dev eth9`\n", "t.pkt"),
                                   PROFILE)
    assert not outcome.passed and outcome.line == 3
    assert outcome.message.startswith("error executing `tc qdisc show dev eth9` command: "
                                      "non-zero status 1"), outcome.message


@pytest.mark.live
def test_nstat_keeps_its_history_in_the_runs_own_directory(live):
    """nstat's default history file is the host's /tmp/.nstat.u<uid>: the run's is its own."""
    from tcpsim.pkt.run import run_script_on_kernel

    host = f"/tmp/.nstat.u{os.getuid()}"
    before = os.stat(host).st_mtime_ns if os.path.exists(host) else None
    outcome = run_script_on_kernel(parse(OPEN + "+0 `nstat > /dev/null`\n+0 `nstat "
                                         "-s | grep -q TcpActiveOpens || true`\n", "t.pkt"),
                                   PROFILE)
    assert outcome.passed, outcome.message
    assert (os.stat(host).st_mtime_ns if os.path.exists(host) else None) == before


@pytest.mark.live
def test_defaults_sh_puts_a_pfifo_root_on_tun0_in_the_kernels_run(live):
    """defaults.sh's last line, `tc qdisc add dev tun0 root pfifo` (tun0's own default is
    pfifo_fast): the same qdisc as under real packetdrill, for the scripts' tc commands."""
    from tcpsim.pkt.run import run_script_on_kernel

    check = '0 `tc qdisc show dev tun0 | grep -q "qdisc pfifo "`\n'
    outcome = run_script_on_kernel(parse("`../common/defaults.sh`\n" + check, "t.pkt"), PROFILE)
    assert outcome.passed, outcome.message
    outcome = run_script_on_kernel(parse(check, "t.pkt"), PROFILE)
    assert not outcome.passed and outcome.line == 1, outcome.message
    assert "non-zero status 1" in outcome.message
