"""The tcpsim command as a person uses it: output, files, and one-sentence errors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcpsim.model.table import RULES

from tcpsim.scenario import builtin_names

from .conftest import ROOT, have, lab_unavailable, namespace_holders, run_cli

NO_CAPS = ["setpriv", "--securebits", "+noroot,+noroot_locked", "--bounding-set", "-all",
           "--inh-caps", "-all"]


def test_scenarios_lists_builtins_with_their_description():
    r = run_cli("scenarios", check=True)
    lines = r.stdout.splitlines()
    assert any(line.startswith("handshake ") and "Hello from server" in line for line in lines)
    for name in ("teardown-client-first", "teardown-server-first", "teardown-four-segment"):
        assert any(line.startswith(name) for line in lines)


def test_scenarios_prints_a_program():
    r = run_cli("scenarios", "handshake", check=True)
    assert 'server: send(c, "Hello from server!\\n", 0) = 19' in r.stdout


def test_a_broken_program_gets_one_sentence_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.tcp"
    bad.write_text("server: s = socket()\nserver: lisen(s, 3)\n")
    r = run_cli("check", bad)
    assert r.returncode == 2
    first = r.stderr.splitlines()[0]
    assert first == f"tcpsim: {bad}:2:9: unknown call 'lisen'; did you mean listen?"
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["lab", "no-such-program"], "no program named 'no-such-program'"),
    (["check", "/"], "/ is not a regular file"),
    (["lab", "handshake", "--timeout", "0"], "Invalid value for '--timeout'"),
])
def test_wrong_arguments_are_named(args, message):
    r = run_cli(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not have("setpriv"), reason="setpriv (util-linux) is not installed")
def test_lab_without_privileges_says_what_is_missing():
    r = subprocess.run(NO_CAPS + [sys.executable, "-m", "tcpsim", "lab", "handshake"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 3
    assert r.stderr.strip() == ("tcpsim: tcpsim lab needs to create a private network namespace, "
                                "which takes root (CAP_SYS_ADMIN): run it as root, for example "
                                "with sudo")
    assert r.stdout == ""


@pytest.fixture
def live():
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")


def test_lab_prints_the_exchange_and_writes_pcap_and_json(live, tmp_path):
    pcap, js = tmp_path / "h.pcap", tmp_path / "h.json"
    r = run_cli("lab", "handshake", "--pcap", pcap, "--json", js)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for text in ("c = accept(s) ... blocks", "[S]  seq 0  win 65495", "[S.]  seq 0  ack 1",
                 '"Hello from server!\\n"', "server.c: TIME_WAIT", "every expected result matched",
                 "At the end: server.c TIME_WAIT"):
        assert text in out
    assert pcap.stat().st_size > 0 and js.stat().st_size > 0


@pytest.mark.skipif(not have("tshark"), reason="tshark is not installed (the test set-up installs it)")
def test_lab_pcap_opens_in_tshark_without_warnings(live, tmp_path):
    pcap = tmp_path / "h.pcap"
    run_cli("lab", "handshake", "--pcap", pcap, check=True)
    r = subprocess.run(["tshark", "-n", "-o", "tcp.check_checksum:TRUE", "-r", pcap, "-z",
                        "expert,note", "-q"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "Warnings" not in r.stdout and "Errors" not in r.stdout
    listing = subprocess.run(["tshark", "-n", "-o", "tcp.check_checksum:TRUE", "-r", pcap],
                             capture_output=True, text=True).stdout
    assert listing.count("\n") == 8 and "INCORRECT" not in listing and "Malformed" not in listing


def test_lab_writes_nothing_to_an_unwritable_path_and_says_so(live, tmp_path):
    r = run_cli("lab", "handshake", "--json", tmp_path / "missing-dir" / "x.json")
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


# -- the namespace goes away, however the run ends -----------------------------------------

SLOW = "a: fd = socket()\na: sleep {}\n"


def _namespace_of(pid: int, ours: str, limit: float = 10.0) -> str:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                ns = os.readlink(f"/proc/{pid}/task/{task}/ns/net")
                if ns != ours:
                    return ns
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError("the lab never entered a private namespace")


@pytest.mark.parametrize("sig", [None, signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
                         ids=lambda s: s.name if s else "normal-end")
def test_namespace_disappears_however_the_run_ends(live, tmp_path, sig):
    prog = tmp_path / "slow.tcp"
    prog.write_text(SLOW.format("1s" if sig is None else "30s"))
    ours = os.readlink("/proc/self/ns/net")
    # SIGINT as a terminal's Ctrl-C finds it: a test run started in the background by a
    # non-interactive shell has SIGINT ignored, the lab inherits that, and Python then keeps
    # ignoring it (as a background job should): seen in a `nohup ... &` run of the suite
    proc = subprocess.Popen([sys.executable, "-m", "tcpsim", "lab", str(prog)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ns = _namespace_of(proc.pid, ours)
    if sig is not None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    if sig is None:
        assert proc.returncode == 0, err
    elif sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    else:
        assert proc.returncode == -sig
    # nothing of this run (a thread, a child, an fd) holds the namespace any more
    assert [cmd for cmd in namespace_holders(ns) if str(prog) in cmd] == []


def _children(pid: int, limit: float = 20.0, want: int = 2) -> list[int]:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        kids = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and \
                        (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    kids.append(int(proc.name))
            except OSError:
                continue
        if len(kids) >= want:
            return kids
        time.sleep(0.02)
    raise AssertionError("lab --free never started its processes")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_free_runs_children_die_with_the_lab_and_hold_nothing_of_the_host(live, tmp_path, sig):
    """lab --free forks a process per program process inside the run's namespace.  Killed,
    the lab left them alive holding that namespace (6 of 7 runs for each signal), each with
    an open handle on the host's namespace too (private_netns() keeps one to come back)."""
    prog = tmp_path / "slow-free.tcp"
    prog.write_text("a: fd = socket()\na: sleep 30s\nb: fd = socket()\nb: sleep 30s\n")
    ours = os.readlink("/proc/self/ns/net")
    proc = subprocess.Popen([sys.executable, "-m", "tcpsim", "lab", "--free", str(prog)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def handles(kid: int) -> set[str]:
        # the child closes what fork() gave it while this reads its table: an fd listed may
        # be gone by its readlink (CI, session 12: FileNotFoundError on /proc/547/fd/3)
        links = set()
        for fd in os.listdir(f"/proc/{kid}/fd"):
            try:
                links.add(os.readlink(f"/proc/{kid}/fd/{fd}"))
            except FileNotFoundError:
                continue
        return links

    try:
        kids = _children(proc.pid)
        ns = os.readlink(f"/proc/{kids[0]}/ns/net")
        assert ns != ours
        # a child lets go of what fork() gave it first thing (free.py _orphan_proof); on a
        # busy machine it may not have run yet when it is first seen
        end = time.monotonic() + 5
        while time.monotonic() < end and any(ours in handles(k) for k in kids):
            time.sleep(0.02)
        assert [k for k in kids if ours in handles(k)] == []
    finally:
        proc.send_signal(sig)
        proc.communicate(timeout=15)
    end = time.monotonic() + 5
    while time.monotonic() < end and any(Path(f"/proc/{k}").exists() for k in kids):
        time.sleep(0.02)
    assert [k for k in kids if Path(f"/proc/{k}").exists()] == []
    assert [cmd for cmd in namespace_holders(ns) if str(prog) in cmd] == []


@pytest.mark.skipif(not have("setpriv"), reason="setpriv (util-linux) is not installed")
@pytest.mark.parametrize("drop, says", [
    ("-net_admin,-net_raw", "tcpsim lab needs CAP_NET_ADMIN (to bring its loopback up and set "
                            "its firewall rules) and CAP_NET_RAW (to capture its loopback)"),
    ("-net_raw", "tcpsim lab needs CAP_NET_RAW (to capture its loopback)")])
def test_partial_privileges_get_one_sentence(live, drop, says):
    """Root with CAP_SYS_ADMIN but not CAP_NET_ADMIN/NET_RAW printed a traceback."""
    for cmd in (["lab", "handshake"], ["verify", "handshake"], ["lab", "--free", "handshake"],
                ["pkt", "run", "--kernel", "tests/pkt/handshake-passive.pkt"]):
        r = subprocess.run(["setpriv", "--bounding-set", drop, sys.executable, "-m", "tcpsim",
                            *cmd], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 3, (cmd, r.stderr)
        assert r.stderr.startswith(f"tcpsim: {says}, which this process lacks")
        assert "Traceback" not in r.stderr and r.stdout == ""


# -- run and verify --------------------------------------------------------------------------

@pytest.mark.skipif(not have("setpriv"), reason="setpriv (util-linux) is not installed")
def test_run_handshake_needs_no_privileges():
    r = subprocess.run(NO_CAPS + [sys.executable, "-m", "tcpsim", "run", "handshake"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for text in ("[S]  seq 0  win 65495  <mss 65495,sackOK,TS val 0 ecr 0,nop,wscale 10>",
                 "[S.]  seq 0  ack 1  win 65483", "[P.]  seq 1  ack 1  win 64", "len 19",
                 "── Connection establishment", "── Data transfer", "── Connection release",
                 "At the end: server.c TIME_WAIT"):
        assert text in out, text
    assert out.index("Connection establishment") < out.index("Data transfer") < \
        out.index("Connection release")


def test_run_writes_a_pcap_tshark_reads(tmp_path):
    pcap = tmp_path / "m.pcap"
    run_cli("run", "handshake", "--pcap", pcap, "--no-ladder", check=True)
    if not have("tshark"):
        pytest.skip("tshark is not installed (the test set-up installs it)")
    listing = subprocess.run(["tshark", "-n", "-o", "tcp.check_checksum:TRUE", "-r", pcap],
                             capture_output=True, text=True).stdout
    assert listing.count("\n") == 8 and "INCORRECT" not in listing and "Malformed" not in listing


def test_run_with_an_unknown_profile_names_the_choices():
    r = run_cli("run", "handshake", "--profile", "nope")
    assert r.returncode == 2
    assert "no kernel profile named 'nope'; the built-in ones are linux-6.1, reference, tun-1500" in r.stderr


def test_verify_handshake_matches(live):
    r = run_cli("verify", "handshake")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("match handshake: 8 segments")


def test_verify_with_a_wrong_profile_fails_and_says_why(live):
    r = run_cli("verify", "handshake", "--profile", "tun-1500")
    assert r.returncode == 1
    assert "differs handshake" in r.stdout
    assert "segment 1 ([S] client > server seq 0): win is 64240 in the model but 65495 on the " \
           "kernel" in r.stdout


def test_verify_all_summarises(live):
    r = run_cli("verify", "--all")
    assert r.returncode == 0, r.stdout
    rows = [line for line in r.stdout.splitlines() if "│" in line]
    for name in builtin_names():
        assert any(line.split("│")[1].strip() == name and "match" in line for line in rows), name


def _alive(pid: int) -> bool:
    try:  # a zombie holds nothing (no namespace, no fd); only its exit status waits
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_verify_all_in_parallel_leaves_no_worker_or_namespace_behind(live, sig):
    """verify --all --jobs 2 forks two workers, each running its programs' labs in namespaces
    of its own: however verify ends, the workers end with it and no namespace is left."""
    ours = os.readlink("/proc/self/ns/net")
    # a --timeout no other run uses: the workers' command line is verify's (forked)
    proc = subprocess.Popen([sys.executable, "-m", "tcpsim", "verify", "--all", "--jobs", "2",
                             "--timeout", "10.25"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        kids = _children(proc.pid)
        # the first programs run are the longest (time-wait-expiry sleeps 63 s): both workers
        # are inside a lab namespace within seconds
        spaces = {k: _namespace_of(k, ours) for k in kids}
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    else:
        assert proc.returncode == -sig, err
    end = time.monotonic() + 5
    while time.monotonic() < end and any(_alive(k) for k in kids):
        time.sleep(0.02)
    assert [k for k in kids if _alive(k)] == []
    for ns in spaces.values():
        assert [cmd for cmd in namespace_holders(ns) if "10.25" in cmd] == []


def test_coverage_names_the_rules_the_programs_exercise_and_those_none_does():
    r = run_cli("coverage", check=True)
    rows = {tuple(c.strip() for c in line.split("│")[1:3]): line for line in r.stdout.splitlines()
            if line.count("│") >= 4}
    assert "none" not in rows[("SYN_SENT", "rcv_synack")]
    assert "close-in-syn-sent" in rows[("SYN_SENT", "close")]
    assert "time-wait-expiry" in rows[("TIME_WAIT", "timer_timewait")]  # the 63 s program
    assert "closing" in rows[("FIN_WAIT1", "rcv_fin")]
    assert not [k for k, line in rows.items() if "none" in line]
    assert f"{len(RULES)} of {len(RULES)} rules exercised by the" in r.stdout


@pytest.mark.parametrize("arg, message", [
    ("net.core.rmem_max=1", "tcpsim sets only the namespace's own TCP settings (net.ipv4.tcp_*)"),
    ("net.ipv4.tcp_timestamps", "--sysctl takes KEY=VALUE"),
])
def test_bad_sysctls_are_refused_before_anything_runs(arg, message):
    r = run_cli("run", "handshake", "--sysctl", arg)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""


def test_a_sysctl_the_kernel_lacks_is_named(live):
    r = run_cli("lab", "handshake", "--sysctl", "net.ipv4.tcp_no_such_thing=1")
    assert r.returncode == 2
    assert "net.ipv4.tcp_no_such_thing is not a setting this kernel has" in r.stderr


def test_a_program_that_drops_segments_needs_nft_and_says_so(live, tmp_path):
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    r = run_cli("lab", "lost-syn", env={**os.environ, "PATH": str(bin_dir)})
    assert r.returncode == 2
    assert "the lab does with nft; install it (Debian package nftables)" in r.stderr


# -- programs in and out ---------------------------------------------------------------------

@pytest.mark.parametrize("name", builtin_names())
def test_a_printed_builtin_is_its_file_and_check_accepts_it(name, tmp_path):
    from click.testing import CliRunner

    from tcpsim.cli import main

    # output to a file is not a terminal: nothing may wrap it at 80 columns
    printed = CliRunner().invoke(main, ["scenarios", name])
    assert printed.exit_code == 0, printed.output
    source = ROOT / "tcpsim" / "scenario" / "programs" / f"{name}.tcp"
    assert printed.output == source.read_text(encoding="utf-8")
    copy = tmp_path / f"{name}.tcp"
    copy.write_text(printed.output, encoding="utf-8")
    checked = CliRunner().invoke(main, ["check", str(copy)])
    assert checked.exit_code == 0 and "well formed" in checked.output, checked.output


# -- exit codes ------------------------------------------------------------------------------

STUCK = ("server: s = socket()\nserver: bind(s, 0.0.0.0:80)\nserver: listen(s, 1)\n"
         "server: c = accept(s)\n")


def test_run_exits_1_when_a_result_differs_from_the_program(tmp_path):
    prog = tmp_path / "wrong.tcp"
    prog.write_text("a: fd = socket() = 7\n")
    r = run_cli("run", prog, "--no-ladder")
    assert r.returncode == 1, r.stderr
    assert "1 result(s) differ from the program's expectations" in r.stdout


def test_a_stuck_run_shows_its_timeline_then_one_sentence(tmp_path):
    prog = tmp_path / "stuck.tcp"
    prog.write_text(STUCK)
    r = run_cli("run", prog, "--timeout", "0.5")
    assert r.returncode == 6
    assert "listen(s, 1) = 0" in r.stdout and "c = accept(s) ... blocks" in r.stdout
    assert r.stderr.splitlines() == [
        "tcpsim: the program is stuck: server waits in c = accept(s) (line 4), and nothing has "
        "happened for 0.5 s; check the order of its lines, or give --timeout if the kernel needs "
        "longer"]
    # the sentence's advice is an option run has
    assert "--timeout" in run_cli("run", "--help").stdout


def test_a_run_stuck_after_a_wrong_result_names_the_call_that_parted(tmp_path):
    """Issue 17: a program with a wrong expectation says which call differed, not "check the
    order of its lines": here the server expects the client's 10 bytes in two reads of 5."""
    prog = tmp_path / "wrong.tcp"
    prog.write_text(
        "server: s = socket()\nserver: bind(s, 0.0.0.0:8080) = 0\nserver: listen(s, 3) = 0\n"
        "server: c = accept(s)\nclient: fd = socket()\nclient: connect(fd, 127.0.0.1:8080) = 0\n"
        "client: send(fd, 10) = 10\nserver: recv(c, 100) = 5\nserver: recv(c, 100) = 5\n"
        "server: send(c, \"ok\") = 2\nclient: recv(fd, 100) = 2\nclient: close(fd) = 0\n")
    r = run_cli("run", prog, "--timeout", "0.5")
    assert r.returncode == 6
    assert r.stderr.splitlines() == [
        "tcpsim: the program is stuck: server waits in recv(c, 100) (line 9), client waits in "
        "recv(fd, 100) (line 11), and nothing has happened for 0.5 s; it parted from the program "
        "earlier, at line 8: recv(c, 100) returned 10 where the program expects 5"]


# -- "-" for standard input and output, as tcpdump and tshark have it -------------------------

HANDSHAKE = (ROOT / "tcpsim" / "scenario" / "programs" / "handshake.tcp").read_text()


def test_check_and_run_read_a_program_from_standard_input():
    checked = run_cli("check", "-", input=HANDSHAKE)
    assert checked.returncode == 0
    assert checked.stdout == "<stdin>: 11 calls by 2 processes (server, client); well formed\n"
    ran = run_cli("run", "-", "--no-ladder", input=HANDSHAKE)
    assert ran.returncode == 0 and "At the end: server.c TIME_WAIT" in ran.stdout
    bad = run_cli("check", "-", input="server: s = socket()\nserver: lisen(s, 3)\n")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "tcpsim: <stdin>:2:9: unknown call 'lisen'; did you mean listen?"


def _run_to_stdout(option: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "tcpsim", "run", "handshake", option, "-"],
                       capture_output=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert b"At the end: server.c TIME_WAIT" in r.stderr  # the text steps aside for the data
    return r


def test_run_writes_its_pcap_to_standard_output_and_compare_reads_it_from_standard_input(tmp_path):
    pcap = _run_to_stdout("--pcap").stdout
    assert pcap[:4] == b"\xd4\xc3\xb2\xa1"
    run_cli("run", "handshake", "--pcap", tmp_path / "h.pcap", check=True)
    assert pcap == (tmp_path / "h.pcap").read_bytes()
    r = subprocess.run([sys.executable, "-m", "tcpsim", "compare", "-"], input=pcap,
                       capture_output=True, cwd=ROOT)
    assert r.returncode == 0 and b"standard input: pcap, Ethernet; 8 frames, 8 TCP" in r.stdout
    held = subprocess.run([sys.executable, "-m", "tcpsim", "compare", "-", "--program",
                           "handshake"], input=pcap, capture_output=True, cwd=ROOT)
    assert held.returncode == 0
    assert held.stdout.startswith(b"match handshake: the 8 segments of standard input")
    junk = run_cli("compare", "-", input="hello\n")
    assert junk.returncode == 2 and junk.stderr.startswith(
        "tcpsim: standard input is not a pcap or pcapng capture")


def test_run_writes_its_trace_json_to_standard_output():
    import json

    trace = json.loads(_run_to_stdout("--json").stdout)
    assert trace["format"] == "tcpsim-trace/1" and trace["source"] == "model"


def test_only_one_output_goes_to_standard_output():
    r = run_cli("run", "handshake", "--pcap", "-", "--json", "-")
    assert r.returncode == 2 and r.stdout == ""
    assert "only one of --pcap and --json can go to standard output (-)" in r.stderr


def test_lab_writes_its_pcap_to_standard_output(live):
    r = subprocess.run([sys.executable, "-m", "tcpsim", "lab", "handshake", "--pcap", "-"],
                       capture_output=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert b"every expected result matched" in r.stderr
    held = subprocess.run([sys.executable, "-m", "tcpsim", "compare", "-", "--program",
                           "handshake"], input=r.stdout, capture_output=True, cwd=ROOT)
    assert held.returncode == 0, held.stdout


def test_run_mtu_gives_the_model_that_loopback():
    r = run_cli("run", "handshake", "--mtu", "1500", "--no-ladder")
    assert r.returncode == 0, r.stderr
    assert "lo MTU 1500" in r.stdout and "<mss 1460," in r.stdout


@pytest.mark.parametrize("mtu", ["67", "65537", "-1"])
def test_an_mtu_outside_what_is_modelled_is_one_sentence(mtu):
    r = run_cli("run", "handshake", "--mtu", mtu)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"tcpsim: --mtu {mtu} is outside what tcpsim models (68 to "
                                "65536); give an MTU in that range, such as 1500")
