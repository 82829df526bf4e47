"""`tcpsim selfcheck` (issue 23): the generator, the shrinker, the grouping, the command; and
a bounded selfcheck against the real kernel (a fixed seed), which fails when a program that
agreed with the kernel no longer does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from tcpsim.scenario import parse
from tcpsim.scenario.calls import CALLS
from tcpsim.selfcheck import STATUSES, run
from tcpsim.selfcheck.check import Result
from tcpsim.selfcheck.gen import generate
from tcpsim.selfcheck.shrink import shrink

from .conftest import ROOT, have, lab_unavailable, run_cli
from .test_cli import NO_CAPS

# The bounded selfcheck CI runs: seed and size.  About 100 programs, ~2 minutes on the
# 2-core machine with --jobs 2 (measured in docs/status.md, "Issue 23").
CI_SEED, CI_N = 23, 100
# The programs of CI_SEED that diverge from this kernel today, by cause (docs/status.md
# lists each cause with its minimal program): a model fix that makes one agree is welcome
# (remove it here); any other program that diverges fails the test.
KNOWN = {
    # the server's receive window after a 240 KB transfer (the kernel's 438, the model's 221)
    "receive window": [69],
    # (session 18, labfix: the generator of this session; 3 and 94, a lost SYN-ACK, agree
    # since 4047e1d; 86 and 88, a delayed arrival tied with a call, are kept apart by the
    # generator, 86 then differing in the window after 378 KB, which _autotuned() leaves out)
    # net: delay 3 after 6 by 50ms, a simultaneous close then the client's RST (data
    # unread): the kernel's server.c1 ends gone (CLOSE), the model's in CLOSING, every
    # segment the same (measured twice with verify)
    "a CLOSING socket after the peer's RST": [25],
}


def test_the_same_seed_makes_the_same_programs_and_another_seed_others():
    a = [generate(7, i) for i in range(50)]
    assert a == [generate(7, i) for i in range(50)]
    # program i does not depend on how many were drawn before it (workers draw any of them)
    assert generate(7, 49) == a[49]
    assert sum(x != y for x, y in zip(a, (generate(8, i) for i in range(50)))) >= 45


def test_generated_programs_parse_and_cover_the_grammar():
    texts = [generate(0, i) for i in range(400)]
    calls, words = Counter(), Counter()
    for i, text in enumerate(texts):
        prog = parse(text, name=f"g{i}")  # raises if malformed
        procs = {s.process for s in prog.steps}
        assert 1 <= len(procs) <= 4
        for s in prog.steps:
            calls[s.call] += 1
        for w in ("net: drop", "net: delay", "net: duplicate", "SO_LINGER, {1, 0}",
                  "SOCK_NONBLOCK", "MSG_WAITALL", "MSG_MORE", "SHUT_WR", "readall", "sysctl:",
                  "AF_INET6", "MSG_PEEK", " SYN ", "FIN", "DATA", " all "):
            words[w] += w in text
    # the calls a TCP program makes, every one of them in some program
    for call in ("socket", "bind", "listen", "accept", "connect", "send", "recv", "readall",
                 "close", "shutdown", "setsockopt", "getsockopt", "ioctl", "poll", "sleep",
                 "exit"):
        assert call in CALLS and calls[call] > 0, call
    assert all(words[w] > 0 for w in words), words
    sizes = [int(m) for t in texts for m in re.findall(r"send\(\w+, (\d+)", t)]
    assert min(sizes) <= 10 and max(sizes) >= 2**20  # from bytes to megabytes
    # mostly meaningful: a server listens before its clients connect; some odd calls
    for text in texts:
        lines = text.splitlines()
        listen = next((i for i, ln in enumerate(lines) if "listen(s," in ln), None)
        connect = next(i for i, ln in enumerate(lines) if "connect(fd," in ln)
        assert listen is None or listen < connect
    nobody = sum("listen(s," not in t for t in texts)  # a client finds nobody listening
    odd = sum(any(c in t for c in ("TCP_MAXSEG, 1)", "accept(fd)", "listen(fd,", "SO_RCVBUF, 0)",
                                   "TCP_SYNCNT, 300", "recv(fd, 0)", "recv(c1, 0)", "connect(c",
                                   "TCP_NODELAY, -1", "listen(s, 1)\nserver: send(s"))
              for t in texts)
    assert 0.02 * len(texts) < nobody < 0.15 * len(texts)
    assert 0.03 * len(texts) < odd < 0.3 * len(texts), odd


def _fake(text: str) -> Result:
    """An oracle for the shrinker: 'diverges' when the program has a client close after a
    send of at least 1000 bytes by the server."""
    sends = [int(n) for n in re.findall(r"server: send\(\w+, (\d+)", text)]
    bad = any(n >= 1000 for n in sends) and "client: close(fd)" in text
    return Result(0, text, "diverge" if bad else "agree", cause="fake" if bad else "")


def test_the_shrinker_finds_the_core_of_a_divergence():
    text = ("# a program\nnet: delay all by 5ms\nserver: s = socket()\n"
            "server: bind(s, 0.0.0.0:8080)\nserver: listen(s, 3)\nserver: c = accept(s)\n"
            "client: fd = socket()\nclient: connect(fd, 127.0.0.1:8080)\n"
            "client: send(fd, 40)\nserver: recv(c, 40, MSG_WAITALL)\nserver: send(c, 90000)\n"
            "client: recv(fd, 90000, MSG_WAITALL)\nclient: sleep 30ms\nclient: close(fd)\n"
            "server: close(c)\nserver: close(s)\n")
    found = _fake(text)
    best, tried = shrink(found, None, None, test=_fake)
    body = [ln for ln in best.text.splitlines() if not ln.startswith("#")]
    assert best.status == "diverge" and best.cause == "fake"
    assert 0 < tried <= 80
    # the server's send and the client's close, and only what the parser needs for them
    assert "client: close(fd)" in body and "client: sleep 30ms" not in body
    assert "net: delay all by 5ms" not in body and "client: send(fd, 40)" not in body
    sends = [int(n) for n in re.findall(r"server: send\(\w+, (\d+)", best.text)]
    assert sends and 1000 <= sends[0] < 90000  # the size shrank toward the threshold
    parse(best.text, name="shrunk")


def test_the_shrinker_stops_at_its_budget():
    calls = []

    def counting(text):
        calls.append(text)
        return _fake(text)

    text = generate(0, 3)
    found = Result(0, text, "diverge", cause="never")  # no candidate diverges so
    best, tried = shrink(found, None, None, test=counting, runs=5)
    assert tried == 5 == len(calls) and best is found


def test_selfcheck_without_root_says_so_and_exits_3():
    if not have("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    r = subprocess.run(NO_CAPS + [sys.executable, "-m", "tcpsim", "selfcheck", "--n", "1"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 3
    assert r.stderr.strip() == ("tcpsim: tcpsim selfcheck needs to create a private network "
                                "namespace, which takes root (CAP_SYS_ADMIN): run it as root, "
                                "for example with sudo")


def test_selfcheck_help_documents_the_exit_codes():
    r = run_cli("selfcheck", "--help", check=True)
    text = " ".join(r.stdout.split())
    assert "Exit status: 0 no program diverged" in text and "1 some diverged" in text
    assert "3 needs root" in text


@pytest.fixture
def live():
    reason = lab_unavailable()
    if reason:
        print(f"skipped: live selfcheck: {reason}")
        pytest.skip(f"live selfcheck: {reason}")


def _autotuned(key: str, index: int) -> bool:
    """A receive window that differs after a transfer of 64 KB or more: the kernel's
    receive-buffer autotuning (tcp_rcv_space_adjust(), not modelled) grows the buffer or not
    depending on the RTTs it measures, so on the machine's load (measured: seed 23's program
    18, 157784 bytes, agreed twice at load 6-9 and diverged so in the full suite beside other
    workers; test_lab_live.py skips its own DRS check for the same reason)."""
    sizes = [int(n) for n in re.findall(r"send\(\w+, (\d+)", generate(CI_SEED, index))]
    return key.startswith("segment win:") and max(sizes, default=0) >= 65536


@pytest.mark.live
def test_bounded_selfcheck_agrees_with_the_kernel(live, tmp_path):
    """CI's selfcheck: CI_N programs of CI_SEED against this kernel.  Every program agrees,
    or is counted apart (the lab could not run it faithfully, the model refused or could not
    walk it), or is one of KNOWN's divergences with its cause."""
    r = run_cli("selfcheck", "--n", CI_N, "--seed", CI_SEED, "--jobs", 2, "--shrink", 0,
                "--out", tmp_path, "--json")
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(r.stdout)
    assert sum(report["counts"].values()) == CI_N and set(report["counts"]) == set(STATUSES)
    assert (r.returncode == 1) == (report["counts"]["diverge"] > 0)
    known = {i for progs in KNOWN.values() for i in progs}
    new = [(c["key"], [i for i in c["programs"] if i not in known and not _autotuned(c["key"], i)])
           for c in report["causes"]]
    new = [(key, progs) for key, progs in new if progs]
    assert not new, "programs that diverge from the kernel, by cause: " + "; ".join(
        f"{key}: programs {progs}" for key, progs in new)
    # most programs are held against the kernel, not counted apart
    assert report["counts"]["agree"] >= CI_N * 0.7, report["counts"]
    for k, cause in enumerate(report["causes"], 1):  # each cause written, replayable
        assert (tmp_path / f"cause-{k}.tcp").is_file()
        parse((tmp_path / f"cause-{k}.tcp").read_text(), name="cause")


def _verifies(tmp_path, text: str, name: str):
    """The program written to tmp_path/NAME.tcp and held against the kernel: `verify` must
    match.  The file's path."""
    prog = tmp_path / f"{name}.tcp"
    prog.write_text(text)
    r = run_cli("verify", prog)
    assert r.returncode == 0, r.stdout + r.stderr
    return prog


# Divergences selfcheck found and the model now follows: their minimal programs, as found.
USER_TIMEOUT_NEGATIVE = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 3)
server: c1 = accept(s)
client: fd = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK)
client: connect(fd, 127.0.0.1:8080)
server: setsockopt(c1, TCP_USER_TIMEOUT, -5)
"""


def test_fixed_user_timeout_below_zero_is_einval_in_the_model():
    """Seed 2026, program 183: TCP_USER_TIMEOUT -5 is EINVAL on the kernel (the lab,
    Linux 6.18: tcp_sock_set_user_timeout() refuses val < 0); the model took it."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    trace = run_model(parse(USER_TIMEOUT_NEGATIVE, name="user-timeout-negative"),
                      KernelProfile.named("reference"))
    last = [c for c in trace.calls if "TCP_USER_TIMEOUT" in c.text][-1]
    assert (last.result, last.errno) == (-1, "EINVAL")


# Seed 23, program 73: recv(c1, 0) returned 0 at once in the lab (CPython's socket.recv(0)
# makes no system call), where the kernel waits for a byte (sock_rcvlowat() >= 1) and then
# returns 0; the lab now calls recv(2) itself (runner.py _recv_nothing()).
RECV_NOTHING = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 0)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: fcntl(c1, F_SETFL, O_NONBLOCK) = 0
server: recv(c1, 0) = -1 EAGAIN
server: send(c1, "go")
client: recv(fd, 2) = 2
client: send(fd, "ab")
server: poll(c1, POLLIN, 1000)
server: recv(c1, 0) = 0
server: recv(c1, 10) = 2
client: close(fd)
server: close(c1)
"""


@pytest.mark.live
def test_fixed_recv_of_nothing_waits_for_data_on_the_kernel(live, tmp_path):
    """The client writes only after the server's "go", which follows the first recv(c1, 0):
    in every order that recv finds no data (EAGAIN); with data queued it returns 0."""
    prog = _verifies(tmp_path, RECV_NOTHING, "recv-nothing")
    r = run_cli("lab", prog)
    assert re.findall(r"recv\(c1, 0\) = (-1 EAGAIN|0)", r.stdout) == ["-1 EAGAIN", "0"], r.stdout


@pytest.mark.live
def test_fixed_user_timeout_below_zero_verifies(live, tmp_path):
    _verifies(tmp_path, USER_TIMEOUT_NEGATIVE, "user-timeout-negative")


# Seed 2027, program 282: connect() of an IPv4 address on an AF_INET6 socket crashed the lab
# (CPython resolves the address in the socket's family: socket.gaierror) and the model took
# it.  The kernel: an AF_INET6 socket finds a sockaddr_in too short (EINVAL), an AF_INET
# socket refuses a sockaddr_in6's family (EAFNOSUPPORT); a listener is EISCONN first.
OTHER_FAMILY = """\
server: s = socket(AF_INET6)
server: bind(s, 127.0.0.1:8080) = -1 EINVAL
server: bind(s, [::]:8080) = 0
server: listen(s, 2)
server: connect(s, 127.0.0.1:8080) = -1 EISCONN
client: fd = socket()
client: bind(fd, [::1]:0) = -1 EAFNOSUPPORT
client: connect(fd, [::1]:8080) = -1 EAFNOSUPPORT
client6: fd = socket(AF_INET6)
client6: connect(fd, 127.0.0.1:8080) = -1 EINVAL
client6: connect(fd, [::1]:8080) = 0
server: c1 = accept(s)
"""


def test_fixed_an_address_of_the_other_family_is_refused_in_the_model():
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    trace = run_model(parse(OTHER_FAMILY, name="other-family"), KernelProfile.named("reference"))
    got = [(c.result, c.errno) for c in trace.calls if c.result is not None
           and c.text.split("(")[0].split()[-1] in ("bind", "connect")]
    assert got == [(-1, "EINVAL"), (0, None), (-1, "EISCONN"), (-1, "EAFNOSUPPORT"),
                   (-1, "EAFNOSUPPORT"), (-1, "EINVAL"), (0, None)]


@pytest.mark.live
def test_fixed_an_address_of_the_other_family_verifies(live, tmp_path):
    """The lab makes the system call itself (runner.py _other_family()), as a C program."""
    _verifies(tmp_path, OTHER_FAMILY, "other-family")


def test_a_lab_crash_is_a_finding_and_the_run_goes_on(monkeypatch):
    """Seed 2027's run of 10,000 ended at program 282 when the lab raised socket.gaierror: an
    exception of the lab is a divergence named for where it came from, not the run's end."""
    import tcpsim.lab
    from tcpsim.selfcheck.check import check

    def crash(*args, **kwargs):
        raise ValueError("a bug of the lab")

    monkeypatch.setattr(tcpsim.lab, "run_lab", crash)
    r = check(generate(23, 0), "lab-crash", None, None)
    assert (r.status, r.first) == ("diverge", "ValueError: a bug of the lab")
    assert r.cause.startswith("lab crash: ValueError in ")


def test_again_reads_an_earlier_reports_findings():
    from tcpsim.selfcheck import findings_of

    report = {"seed": 7, "causes": [{"key": "a", "programs": [12, 3]}, {"key": "b", "programs": [40]}],
              "apart": {"stuck": [5], "flaky": [3]}}
    seed, indices, causes = findings_of(report)
    assert (seed, indices, [c["key"] for c in causes]) == (7, [3, 5, 12, 40], ["a", "b"])
    with pytest.raises(ValueError, match="KeyError"):
        findings_of({"seed": 7})


def test_again_with_something_else_than_a_report_says_so_and_exits_2(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"seed": 1}')
    r = run_cli("selfcheck", "--again", bad)
    assert r.returncode == 2 and "cannot read it as a selfcheck report" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("selfcheck", "--again", tmp_path / "missing.json")
    assert r.returncode == 2 and "No such file" in r.stderr


def test_again_warns_when_the_report_came_from_another_generator(tmp_path):
    """The same seed draws the same programs only with the same generator (session 18's
    generator changes redrew about a quarter of seed 23's programs)."""
    from tcpsim.selfcheck import generator_id

    for drawn_by, warned in (("0123456789ab", True), (generator_id(), False)):
        report = tmp_path / "selfcheck.json"
        report.write_text(json.dumps({"seed": 1, "causes": [], "apart": {},
                                      "generator": drawn_by}))
        r = run_cli("selfcheck", "--again", report)
        assert r.returncode == 0 and "found nothing to check again" in r.stdout
        assert ("another version of selfcheck's generator" in r.stderr) == warned, r.stderr
    assert json.loads(json.dumps(run(0).to_dict()))["generator"] == generator_id()


def test_a_crash_of_selfcheck_itself_is_a_finding_and_the_run_goes_on(monkeypatch, tmp_path):
    """Seed 2027's run of 10,000 was lost when cause_of() raised IndexError in a shrink job:
    a crash in a check is a divergence named for it, a crash in a shrink leaves the cause
    unshrunk, and every program's outcome is in DIR/results.jsonl as it comes."""
    import tcpsim.selfcheck as sc

    calls = []

    def fake_check(text, name, profile, mtu, keep=False, index=0, **kw):
        calls.append(index)
        if index == 1:
            raise IndexError("list index out of range")
        return Result(index, text, "diverge" if index == 2 else "agree", "a cause", "first")

    def broken_shrink(*args, **kwargs):
        raise IndexError("list index out of range")

    monkeypatch.setattr(sc, "check", fake_check)
    monkeypatch.setattr(sc, "shrink", broken_shrink)
    report = sc.run(3, seed=5, out=tmp_path, shrink_runs=10)
    assert report.counts["agree"] == 1 and report.counts["diverge"] == 2
    keys = sorted(c.key for c in report.causes)
    assert keys[0] == "a cause" and keys[1].startswith("selfcheck crash: IndexError in ")
    lines = [json.loads(ln) for ln in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted(ln["index"] for ln in lines) == [0, 1, 2]


def test_a_report_replaces_the_causes_of_the_one_before(tmp_path):
    for name in ("cause-3.tcp", "cause-12.model.json", "cause-x.tcp", "notes.txt"):
        (tmp_path / name).write_text("old")
    report = run(0, out=tmp_path)  # no programs: no lab needed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cause-x.tcp", "notes.txt",
                                                          "results.jsonl", "selfcheck.json"]
    assert json.loads((tmp_path / "selfcheck.json").read_text())["counts"] == report.to_dict()["counts"]


# -- Issue 23, cause 6: large sends (session 18, helper wnd) ---------------------------------
# Seed 2026's cause 35: without window scaling lo's window stays 65483, the MSS is half of it
# (32741, tcp_bound_to_half_wnd() in tcp_sync_mss()), and an skb grown to two MSS (65482
# bytes, tcp_grow_skb()) makes a frame of 65548 bytes with lo's Ethernet header: over lo's
# gso_max_size (gso_features_check()), so it leaves as two segments, not one GSO packet.
NO_WSCALE_HALF_WINDOW = """\
sysctl: net.ipv4.tcp_window_scaling = 0
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 4)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: c1 = accept(s)
client2: fd = socket()
client2: connect(fd, 127.0.0.1:8080)
client: send(fd, 235496)
server: recv(c1, 117748, MSG_WAITALL)
"""


def test_fixed_no_window_scaling_two_half_window_segments_are_not_one_packet():
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    trace = run_model(parse(NO_WSCALE_HALF_WINDOW, name="no-wscale-half-window"),
                      KernelProfile.named("reference"))
    client = trace.segments[0].src  # the first SYN's sender (client2 connects later)
    got = [("c" if r.seg.src == client else "s", r.seg.flags, r.seq, r.ack, r.seg.length,
            r.seg.win) for r in trace.relative() if client in (r.seg.src, r.seg.dst)]
    # the kernel's exchange (seed 2026's cause 35, and the live test below): 32741-byte
    # segments, the third 32742 (cut to the window, tcp_mss_split_point()), then two of
    # 32741 back to back where the model sent one 65482-byte packet
    assert got[3:] == [  # after the handshake
        ("c", ".", 1, 1, 32741, 65495), ("s", ".", 1, 32742, 0, 65483),
        ("c", "P.", 32742, 1, 32741, 65495), ("c", "P.", 65483, 1, 32742, 65495),
        ("s", ".", 1, 98225, 0, 65483),
        ("c", ".", 98225, 1, 32741, 65495), ("c", "P.", 130966, 1, 32741, 65495),
        ("s", ".", 1, 163707, 0, 32741), ("c", ".", 163707, 1, 32741, 65495),
        ("s", ".", 1, 196448, 0, 0)]


# The same with a small window: SO_RCVBUF 40000 on the listener (sk_rcvbuf 80000, a window
# of 40000, 20000-byte segments: half of it; a 40000-byte skb of two stays one packet)
NO_WSCALE_SMALL_RCVBUF = """\
sysctl: net.ipv4.tcp_window_scaling = 0
server: s = socket()
server: setsockopt(s, SO_RCVBUF, 40000)
server: bind(s, 0.0.0.0:8080)
server: listen(s, 4)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: c1 = accept(s)
client: send(fd, 200000)
server: recv(c1, 200000, MSG_WAITALL)
"""


@pytest.mark.live
@pytest.mark.parametrize("mtu", [None, 1500])
@pytest.mark.parametrize("name,text", [("no-wscale-half-window", NO_WSCALE_HALF_WINDOW),
                                       ("no-wscale-small-rcvbuf", NO_WSCALE_SMALL_RCVBUF)])
def test_fixed_no_window_scaling_half_window_segments_verify(live, tmp_path, name, text, mtu):
    prog = tmp_path / f"{name}.tcp"
    prog.write_text(text)
    r = run_cli("verify", prog, *(["--mtu", str(mtu)] if mtu else []))
    assert r.returncode == 0, r.stdout + r.stderr


# Seed 2026's cause 13 (listed under cause 6 as "MSG_WAITALL past the send buffer"; the send
# buffer is not it: send() returns every byte at once in both worlds).  The client's read of
# 219970 bytes copies skb after skb; the model's receive-buffer autotuning opens its gate
# (tcp_rcv_space_adjust(): an RTT since the last measure, 20 us in the model) at the copy
# ending at 183420 and grows the buffer, so the last segment's tcp_grow_window() lifts the
# window from 101 to 229 x 1024 (an ACK the kernel does not send).  On the kernel (tracepoint
# tcp_rcvbuf_grow: rtt_us 273, time 382 us, copied 183505) the gate stays closed for every copy
# until the last, after the last segment: the FIN still offers 101.  verify's race resolution
# flips one "drs" race at a time; the model's next copy then decides again (a new race at
# the same place), so it now takes that one the same way too (compare/against.py RACE_CHAIN).
DRS_GATE_STAYS_CLOSED = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 5)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: c1 = accept(s)
client: send(fd, 40)
server: send(c1, "n4s2vxhq6xgg4sbcbxexp5q\\n")
client: send(fd, 54, MSG_DONTWAIT)
client: send(fd, 20831)
server: recv(c1, 20871, MSG_WAITALL)
server: send(c1, 3683)
client: recv(fd, 10)
server: send(c1, 216273)
client: recv(fd, 219970, MSG_WAITALL)
client: close(fd)
"""


def test_fixed_a_drs_gate_closed_for_the_next_copies_is_found_by_the_race_resolution():
    """A run that took the model's first "drs" race the other way and the one its next copy
    met (as the kernel's runs do) is one verify finds, naming both races."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import SimWorld, run_model

    prog = parse(DRS_GATE_STAYS_CLOSED, name="drs-gate-stays-closed")
    profile = KernelProfile.named("reference")
    world = SimWorld(profile, 0, prog.faults, prog.sysctls)
    ours = run_model(prog, profile, world=world)
    assert [(r.kind, r.segment) for r in world.kernel.races] == [("drs", 19)]
    world = SimWorld(profile, 0, prog.faults, prog.sysctls)
    kernels = run_model(prog, profile, world=world, flips=frozenset({0, 1}))
    assert [(r.kind, r.segment, r.flipped) for r in world.kernel.races] == [
        ("drs", 19, True), ("drs", 19, True), ("drs", 21, False)]
    fin = [(s.flags, s.win) for s in ours.segments if "F" in s.flags]
    assert fin[0] == ("F.", 229)  # the model's way: the window grew
    fin = [(s.flags, s.win) for s in kernels.segments if "F" in s.flags]
    assert fin[0] == ("F.", 101)  # the kernel's: it did not
    held = hold_lab(kernels, prog, profile)
    assert held.ok, [d.sentence for d in held.differences]
    assert [(r.kind, r.segment) for r in held.races] == [("drs", 19), ("drs", 19)]


@pytest.mark.live
def test_fixed_a_drs_gate_closed_for_the_next_copies_verifies(live, tmp_path):
    _verifies(tmp_path, DRS_GATE_STAYS_CLOSED, "drs-gate-stays-closed")


# -- session 18, helper labfix: the lab's lingering close, ties, stuck programs ------------

# Cause 5 (seed 2026): SO_LINGER {1, 1}.  The server's close() waits for the ACK of its FIN
# (sk_stream_wait_close()); the client's FIN+ACK brings it.  The lab ran every process in one
# thread, so the client's close() came only after the server's returned (the delayed ACK, or
# the linger time): the lab now makes that close() from a thread of its own.
LINGER_CLOSE = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: send(c1, 1)
client: send(fd, 1)
server: recv(c1, 1)
server: setsockopt(c1, SO_LINGER, {1, 1})
server: close(c1)
client: readall(fd, 1)
client: close(fd)
"""

# The FIN lost every time: close() returns when the linger time runs out (measured: 1.035 s
# on the kernel, the model's wheel 1.024 s), and the FIN goes on being sent.
LINGER_TIMEOUT = """\
net: drop all FIN from server
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: setsockopt(c1, SO_LINGER, {1, 1})
server: close(c1)
client: sleep 1500ms
"""

# From CLOSE_WAIT: the peer (FIN_WAIT2) answers the FIN at once, inside the close(): it
# does not block.
LINGER_LAST_ACK = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: close(fd)
server: setsockopt(c1, SO_LINGER, {1, 2})
server: close(c1)
"""


def _model(text: str, name: str):
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    return run_model(parse(text, name=name), KernelProfile.named("reference"))


def _close_events(trace, process: str = "server"):
    return [(c.kind, c.blocked, c.result, c.errno, c.t) for c in trace.calls
            if c.process == process and c.text.startswith("close(c1")]


def test_a_lingering_close_blocks_until_its_fin_is_acknowledged_in_the_model():
    trace = _model(LINGER_CLOSE, "linger-close")
    (call, ret) = _close_events(trace)
    assert call[:4] == ("call", True, None, None) and ret[:4] == ("return", False, 0, None)
    # the server's FIN goes at the call; the call returns when the client's FIN+ACK comes
    # (FIN_WAIT1 -> TIME_WAIT), after the client's readall() and close()
    fins = [s for s in trace.segments if "F" in s.flags]
    assert [trace.owner()(s.src) for s in fins] == ["server", "client"]
    assert fins[0].t == call[4] and fins[1].t <= ret[4] < fins[1].t + 0.001
    order = [(c.process, c.kind, c.text.split("(")[0]) for c in trace.calls[-4:]]
    assert order == [("server", "call", "close"), ("client", "call", "readall"),
                     ("client", "call", "close"), ("server", "return", "close")]


def test_a_lingering_close_returns_at_its_time_on_the_timer_wheel():
    trace = _model(LINGER_TIMEOUT, "linger-timeout")
    (call, ret) = _close_events(trace)
    assert call[1] is True and ret[2:4] == (0, None)
    # schedule_timeout(250 jiffies): level 1 of the wheel, the next 8-jiffy bucket after it
    assert 1.0 < ret[4] - call[4] <= 1.0 + 8 * 0.004
    assert trace.state_history("server.c1")[-1] == "FIN_WAIT1"  # the FIN still unanswered


def test_a_lingering_close_from_close_wait_does_not_block():
    trace = _model(LINGER_LAST_ACK, "linger-last-ack")
    assert [e[:4] for e in _close_events(trace)] == [("call", False, 0, None)]


@pytest.mark.live
@pytest.mark.parametrize("text,name", [(LINGER_CLOSE, "linger-close"),
                                       (LINGER_TIMEOUT, "linger-timeout"),
                                       (LINGER_LAST_ACK, "linger-last-ack")])
def test_fixed_a_lingering_close_holds_up_only_its_own_process_in_the_lab(live, tmp_path, text,
                                                                          name):
    prog = tmp_path / f"{name}.tcp"
    prog.write_text(text)
    r = run_cli("verify", prog)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("lab", prog, "--json", tmp_path / "lab.json")
    lab = json.loads((tmp_path / "lab.json").read_text())
    closes = [(e["kind"], e.get("blocked", False)) for e in lab["events"]
              if e.get("process") == "server" and e.get("text", "").startswith("close(c1")]
    assert closes == ([("call", False)] if name == "linger-last-ack"
                      else [("call", True), ("return", False)]), closes


# recv(fd, 0) with bytes queued returns 0 at once (tcp_recvmsg_locked(): the walk finds the
# skb, copies none, and its do ... while (len > 0) loop ends); with none it waits for one and
# then returns 0.  The model waited for ever with bytes queued (seed 2, program 295 hung).
RECV_NOTHING_QUEUED = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 0)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: send(fd, "ab")
server: recv(c1, 0) = 0
server: recv(c1, 10) = 2
server: recv(c1, 0) = 0
client: send(fd, "cd")
server: recv(c1, 10) = 2
"""


def test_fixed_recv_of_nothing_with_bytes_queued_returns_0_in_the_model():
    trace = _model(RECV_NOTHING_QUEUED, "recv-nothing-queued")
    got = [(c.kind, c.blocked, c.result) for c in trace.calls if c.text.startswith("recv(c1")]
    assert got == [("call", False, 0), ("call", False, 2), ("call", True, None),
                   ("return", False, 0), ("call", False, 2)]
    assert all(c.ok is not False for c in trace.calls)


@pytest.mark.live
def test_fixed_recv_of_nothing_with_bytes_queued_verifies(live, tmp_path):
    _verifies(tmp_path, RECV_NOTHING_QUEUED, "recv-nothing-queued")


def test_generated_programs_seldom_hang():
    """The generator's accounting of what each side may read (scripts/selfcheck_stuck.py
    measures it over 1000 programs: 1.1-1.4% hung before session 18, 0-0.2% after): none of
    seed 0's first 300 programs hangs in the model."""
    from tcpsim.model import KernelProfile
    from tcpsim.selfcheck.check import TIMEOUT
    from tcpsim.sim.runner import Stuck
    from tcpsim.sim.world import run_model

    profile = KernelProfile.named("reference").with_sysctls({})
    stuck = []
    for i in range(300):
        try:
            run_model(parse(generate(0, i), name=f"g{i}"), profile, timeout=TIMEOUT)
        except Stuck:
            stuck.append(i)
    assert stuck == []


def test_a_delayed_handshake_ack_is_kept_apart_from_the_first_data():
    """Cause 3: on a wire whose delay may hold back the client's last ACK of the handshake,
    every client sleeps TIE_GAP_MS after connect() returns; on other wires none does."""
    from tcpsim.selfcheck.gen import TIE_GAP_MS, _delays_handshake_ack

    assert _delays_handshake_ack("net: delay all by 30ms")
    assert _delays_handshake_ack("net: delay 2 ACK after 1 by 5ms")
    assert not _delays_handshake_ack("net: delay DATA by 50ms")
    assert not _delays_handshake_ack("net: delay from server by 5ms")
    assert not _delays_handshake_ack("net: drop ACK")
    seen = 0
    for i in range(400):
        lines = generate(0, i).splitlines()
        delayed = any(_delays_handshake_ack(ln) for ln in lines)
        connected = set()
        for k, ln in enumerate(lines):
            proc = ln.split(":")[0]
            if ": connect(fd," in ln and proc not in connected:  # (not an odd second one)
                connected.add(proc)
                after = [x for x in lines[k + 1:] if x.startswith(proc + ":")]
                after = [x for x in after if "poll(fd, POLLOUT)" not in x][:1]
                gap = after == [f"{proc}: sleep {TIE_GAP_MS}ms"]
                assert gap == delayed, (i, ln)
                seen += delayed
    assert seen >= 10


@pytest.mark.live
def test_selfcheck_reports_in_chinese(live, tmp_path):
    r = run_cli("selfcheck", "--n", 1, "--seed", CI_SEED, "--shrink", 0, "--jobs", 1,
                "--out", tmp_path, "--lang", "zh")
    assert r.returncode in (0, 1), r.stderr
    assert "结果" in r.stdout and "一致" in r.stdout
    assert re.search(r"1 个程序中 [01] 个与内核一致，[01] 个不一致（[01] 个原因），[01] 个另计；种子 23", r.stdout), r.stdout


def test_a_segment_count_the_traces_do_not_show_names_its_cause_without_crashing():
    """Seed 5's run of 150 ended in an IndexError in cause_of(): a "count" difference whose
    counts are not those of the two traces' rows.  The difference says who sends more."""
    from types import SimpleNamespace

    from tcpsim.selfcheck.check import cause_of
    from tcpsim.trace.diff import Difference

    trace = _model(LINGER_LAST_ACK, "count")
    n = len(trace.segments)
    d = Difference("count", n + 1, "segments", str(n), str(n + 1), "the kernel sends 1 more")
    held = SimpleNamespace(model=trace, differences=[d], first_difference="")
    key, words = cause_of(held, trace)
    assert key.startswith("segments: the kernel sends one more [?]") and words == d.sentence


# -- Issue 23, causes 4, 6b and 7 (session 18, helper dup) -------------------------------------
# (_model(): the one above, helper labfix's)

def _exchange(trace) -> list[tuple]:
    """(sender, flags, relative seq, relative ack, length, copy) of every segment."""
    owner = trace.owner()
    return [(owner(r.seg.src), r.flags, r.seq,
             r.ack if "." in r.flags else None, r.seg.length, bool(r.seg.copy))
            for r in trace.relative()]


# Cause 7 (seed 2026, programs 187, 251, 458): shutdown() of a socket not yet connected answers
# ENOTCONN but sets sk_shutdown (inet_shutdown(), TCP_CLOSE's case falls through to the
# default); listen() keeps it, the listener's children inherit it (sk_clone_lock()), and a
# child that has SEND_SHUTDOWN sends its FIN as the handshake ends (tcp_rcv_state_process(),
# TCP_SYN_RECV: tcp_shutdown()), accepted or not; data then meets RCV_SHUTDOWN in FIN_WAIT1/2:
# RST (tcp_reset()).
SHUTDOWN_BEFORE_LISTEN = """\
sysctl: net.ipv4.tcp_window_scaling = 0
server: s = socket()
server: shutdown(s, SHUT_RDWR) = -1 ENOTCONN
server: bind(s, 0.0.0.0:8080)
server: listen(s, 4)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: send(fd, 79)
"""


def test_fixed_a_child_inherits_shutdown_before_listen_in_the_model():
    """The exchange of seed 2026's program 187 on the kernel (Linux 6.18): the child's FIN
    right after the handshake's ACK, the client's data answered with RST."""
    assert _exchange(_model(SHUTDOWN_BEFORE_LISTEN, "shutdown-before-listen")) == [
        ("client", "S", 0, None, 0, False), ("server", "S.", 0, 1, 0, False),
        ("client", ".", 1, 1, 0, False), ("server", "F.", 1, 1, 0, False),
        ("client", "P.", 1, 2, 79, False), ("server", "R", 2, None, 0, False)]


@pytest.mark.live
def test_fixed_a_child_inherits_shutdown_before_listen_verifies(live, tmp_path):
    _verifies(tmp_path, SHUTDOWN_BEFORE_LISTEN, "shutdown-before-listen")


# The same child accepted after the client's data reset it: tcp_reset() left ECONNRESET
# (sk_err, read once), measured on the kernel: recv() -1 ECONNRESET, then 0; send() EPIPE
# (SEND_SHUTDOWN); SO_ERROR 0 (read already); POLLIN|POLLOUT|POLLHUP.  SHUT_RD alone
# (measured) resets nothing: its child takes the data in ESTABLISHED.
SHUTDOWN_CHILD_RESET = """\
server: s = socket()
server: shutdown(s, SHUT_RDWR)
server: bind(s, 0.0.0.0:8080)
server: listen(s, 4)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: send(fd, 79)
client: sleep 5ms
server: c1 = accept(s)
server: recv(c1, 1000, MSG_DONTWAIT) = -1 ECONNRESET
server: recv(c1, 1000, MSG_DONTWAIT) = 0
server: send(c1, 10, MSG_NOSIGNAL) = -1 EPIPE
server: getsockopt(c1, SO_ERROR) = 0
server: poll(c1, POLLIN|POLLOUT, 0) = POLLIN|POLLOUT|POLLHUP
server: close(c1)
client: recv(fd, 1000, MSG_DONTWAIT) = 0
client: close(fd)
"""


def test_fixed_a_reset_child_reports_econnreset_in_the_model():
    trace = _model(SHUTDOWN_CHILD_RESET, "shutdown-child-reset")
    assert all(c.ok for c in trace.calls if c.ok is not None), [
        (c.text, c.result, c.errno) for c in trace.calls if c.ok is False]
    assert _exchange(trace)[3:] == [
        ("server", "F.", 1, 1, 0, False), ("client", "P.", 1, 2, 79, False),
        ("server", "R", 2, None, 0, False)]


@pytest.mark.live
def test_fixed_a_reset_child_reports_econnreset_verifies(live, tmp_path):
    _verifies(tmp_path, SHUTDOWN_CHILD_RESET, "shutdown-child-reset")


# Cause 6b (seed 2026, program 244's kin, cause 17): the client reads, after the server's
# SO_LINGER {1, 0} close reset it, what was queued; its recv() made room and the model sent a
# window update from the reset socket (seq 0, a garbage ack), which the server answered with
# RST.  The kernel sends nothing: __tcp_send_ack() returns in TCP_CLOSE ("If we have been
# reset, we may not send again").
READ_AFTER_ABORT = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: sleep 1ms
server: send(c1, 57057, MSG_NOSIGNAL)
client: recv(fd, 57057, MSG_WAITALL) = 57057
server: setsockopt(c1, SO_LINGER, {1, 0})
server: close(c1)
server: close(s)
"""


def test_fixed_no_ack_from_a_reset_socket_in_the_model():
    trace = _model(READ_AFTER_ABORT, "read-after-abort")
    ex = _exchange(trace)
    assert ex[-1] == ("server", "R.", 57058, 1, 0, False)  # the abortive close's RST, last
    assert [e[1] for e in ex].count("R.") == 1 and "R" not in [e[1] for e in ex]
    assert [c.result for c in trace.calls if c.text.startswith("recv")] == [57057]


@pytest.mark.live
def test_fixed_no_ack_from_a_reset_socket_verifies(live, tmp_path):
    _verifies(tmp_path, READ_AFTER_ABORT, "read-after-abort")


# Cause 4 (seed 2026, programs 13, 118, 201, 323, 334): net: duplicate of a SYN or an RST.
# Program 334: the lab lets a queued segment go (nfqnl_recv_verdict(): reinjected, processed
# before the verdict returns) and sends its copy; what either sets off that a net: duplicate
# line takes waits in the queue for the lab's next read.  The model delivered the handshake's
# ACK, set off by the SYN, and its copy before the SYN's copy.
DUPLICATE_THREE = """\
net: duplicate 3 from client
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 3)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
"""


def test_fixed_a_duplicate_waits_in_the_queue_behind_the_copy_in_the_model():
    """The kernel's exchange: the SYN's copy finds the request sock (its SYN-ACK again),
    then the two ACKs the queue held, each with its copy."""
    assert _exchange(_model(DUPLICATE_THREE, "duplicate-three")) == [
        ("client", "S", 0, None, 0, False), ("server", "S.", 0, 1, 0, False),
        ("client", ".", 1, 1, 0, False), ("client", "S", 0, None, 0, True),
        ("server", "S.", 0, 1, 0, False), ("client", ".", 1, 1, 0, False),
        ("client", ".", 1, 1, 0, True), ("client", ".", 1, 1, 0, True)]


@pytest.mark.live
def test_fixed_a_duplicate_waits_in_the_queue_behind_the_copy_verifies(live, tmp_path):
    _verifies(tmp_path, DUPLICATE_THREE, "duplicate-three")


# Program 201: an RST's copy.  The lab told its copy by its bytes, and an RST's are the
# original's (ip_send_unicast_reply() fills its checksum in whole, where lo leaves a socket's
# segments CHECKSUM_PARTIAL), so it marked the original as the copy; now a copy is a frame
# with the copy's bytes captured after the lab sent it (DelayQueue.is_copy()).
DUPLICATE_RST = """\
net: duplicate RST from server
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
server: c1 = accept(s)
client: send(fd, 1, MSG_MORE)
server: close(c1)
"""


def test_fixed_the_copy_of_an_rst_comes_second_in_the_model():
    assert _exchange(_model(DUPLICATE_RST, "duplicate-rst"))[-2:] == [
        ("server", "R", 2, None, 0, False), ("server", "R", 2, None, 0, True)]


@pytest.mark.live
def test_fixed_the_copy_of_an_rst_comes_second_verifies(live, tmp_path):
    _verifies(tmp_path, DUPLICATE_RST, "duplicate-rst")


# Program 118: a SYN-ACK a net line held back reaches the client after its exit() left an
# orphan in FIN_WAIT2, a timewait sock: out of its window, answered with an ACK
# (tcp_timewait_state_process(): tcp_timewait_check_oow_rate_limit(), TCP_TW_ACK); the
# model's timewait sock took it silently.
LATE_SYNACK_IN_FIN_WAIT2 = """\
net: duplicate 2 SYN
net: delay by 5ms
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 4)
server: c1 = accept(s)
client: fd = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK)
client: connect(fd, 127.0.0.1:8080)
server: sleep 30ms
client: exit
server: close(c1)
server: close(s)
"""


def test_fixed_an_old_synack_in_fin_wait2_is_acked_in_the_model():
    ex = _exchange(_model(LATE_SYNACK_IN_FIN_WAIT2, "late-synack-in-fin-wait2"))
    # after the client's FIN and the server's ACK of it, the held SYN-ACK's answer
    fin = ex.index(("client", "F.", 1, 1, 0, False))
    assert ex[fin + 1:fin + 3] == [("server", ".", 1, 2, 0, False),
                                   ("client", ".", 2, 1, 0, False)]


@pytest.mark.live
def test_fixed_an_old_synack_in_fin_wait2_is_acked_verifies(live, tmp_path):
    _verifies(tmp_path, LATE_SYNACK_IN_FIN_WAIT2, "late-synack-in-fin-wait2")


# Selfcheck seed 77, program 82 (session 18): the data lost, the FIN sent after it waits in
# the server's out-of-order queue, which holds the very skb lo handed over, so the sender's
# copy is skb_cloned() and the RTO resends the data alone (tcp_can_collapse()); the model
# folded the FIN into it ([FP.]), as it rightly does when the FIN was lost too.
FIN_IN_THE_PEERS_OFO_QUEUE = """\
sysctl: net.ipv4.tcp_sack = 0
net: drop DATA
server: s = socket()
server: bind(s, 0.0.0.0:8080)
server: listen(s, 1)
server: c1 = accept(s)
client: fd = socket()
client: connect(fd, 127.0.0.1:8080)
client: send(fd, 2393)
server: recv(c1, 1000) = 1000
client: exit
"""


def test_fixed_a_fin_the_peer_holds_is_not_collapsed_in_the_model():
    ex = _exchange(_model(FIN_IN_THE_PEERS_OFO_QUEUE, "fin-in-the-peers-ofo-queue"))
    assert ex[3:] == [("client", "P.", 1, 1, 2393, False), ("client", "F.", 2394, 1, 0, False),
                      ("server", ".", 1, 1, 0, False), ("client", "P.", 1, 1, 2393, False),
                      ("server", ".", 1, 2395, 0, False)]


@pytest.mark.live
def test_fixed_a_fin_the_peer_holds_is_not_collapsed_verifies(live, tmp_path):
    _verifies(tmp_path, FIN_IN_THE_PEERS_OFO_QUEUE, "fin-in-the-peers-ofo-queue")
