"""The lab against the real kernel: the seed program's exchange, field by field.

These run real sockets in a private network namespace (root needed; CI runs as root) and
skip elsewhere with the reason.  Numbers that depend on the loopback MTU and the receive
buffer sysctls are derived from the metadata the lab recorded, as the kernel derives them.
"""

import functools

import pytest

from tcpsim.lab import LabStuck, run_lab
from tcpsim.lab.netns import current_netns
from tcpsim.scenario import load, parse, transfer

from .conftest import PROGRAMS, lab_unavailable, run_cli
from .kernel_runs import kernel_outcome

pytestmark = pytest.mark.live


@functools.cache
def _run(name: str):
    return run_lab(load(name))


@pytest.fixture
def lab():
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live lab test: {reason}")
    return _run


def wscale(trace) -> int:
    """tcp_select_initial_window: the smallest shift that fits max(tcp_rmem[2], rmem_max)."""
    space = max(int(trace.sysctls["net.ipv4.tcp_rmem"].split()[2]),
                int(trace.sysctls["net.core.rmem_max"]))
    shift = 0
    while space > 65535 and shift < 14:
        space >>= 1
        shift += 1
    return shift


def exchange(trace):
    """(sender, flags, rel seq, rel ack, window, length) of every segment."""
    owner = trace.endpoint_names()
    return [(owner.get(r.seg.src), r.flags, r.seq, r.ack, r.seg.win, r.seg.length)
            for r in trace.relative()]


def test_handshake_is_the_seed_programs_real_exchange(lab):
    trace = lab("handshake")
    mss = min(trace.kernel["lo_mtu"] - 40, 65535 - 40)
    ws = wscale(trace)
    if trace.kernel["lo_mtu"] != 65536:
        pytest.skip("window values below are for loopback's MTU 65536")
    third_ack_window = 65536 >> ws
    assert exchange(trace) == [
        ("client", "S", 0, 0, 65495, 0),
        ("server", "S.", 0, 1, 65483, 0),
        ("client", ".", 1, 1, third_ack_window, 0),
        ("server", "P.", 1, 1, third_ack_window, 19),
        ("client", ".", 1, 20, third_ack_window, 0),
        ("server", "F.", 20, 1, third_ack_window, 0),
        ("client", "F.", 1, 21, third_ack_window, 0),
        ("server", ".", 21, 2, third_ack_window, 0),
    ]
    rel = trace.relative()
    syn_options = [["mss", mss], ["sackOK", None], ["TS", [0, 0]], ["nop", None], ["wscale", ws]]
    assert rel[0].options == syn_options
    assert rel[1].options == syn_options  # TS ecr echoes the SYN's TS val (relative 0)
    assert [name for name, _ in rel[2].options] == ["nop", "nop", "TS"]
    assert rel[3].seg.payload == b"Hello from server!\n"
    # quick-ACK at connection start: the data is ACKed at once, not after the delayed-ACK timer
    assert rel[4].seg.t - rel[3].seg.t < 0.005
    assert all(s.df and s.ttl == 64 for s in trace.segments)


def test_handshake_calls_block_and_return_as_the_kernel_lets_them(lab):
    trace = lab("handshake")
    calls = [(c.process, c.text.split("(")[0], c.kind, c.blocked, c.result, c.errno)
             for c in trace.calls]
    assert calls == [
        ("server", "s = socket", "call", False, 3, None),
        ("server", "bind", "call", False, 0, None),
        ("server", "listen", "call", False, 0, None),
        ("server", "c = accept", "call", True, None, None),
        ("client", "fd = socket", "call", False, 3, None),
        ("client", "connect", "call", True, None, None),
        ("server", "c = accept", "return", False, 4, None),
        ("client", "connect", "return", False, 0, None),
        ("server", "send", "call", False, 19, None),
        ("server", "close", "call", False, 0, None),
        ("server", "close", "call", False, 0, None),
        ("client", "recv", "call", False, 19, None),
        ("client", "close", "call", False, 0, None),
    ]
    assert all(c.ok is not False for c in trace.calls)
    assert [c.data for c in trace.calls if c.data is not None] == [b"Hello from server!\n"]
    # the three-way handshake happens while connect() blocks, and accept() returns after it
    connect = next(c for c in trace.calls if c.text.startswith("connect"))
    accepted = next(c for c in trace.calls if c.kind == "return" and "accept" in c.text)
    syn, synack, ack = trace.segments[:3]
    assert connect.t <= syn.t <= synack.t <= ack.t <= accepted.t


def test_handshake_socket_states_after_each_call(lab):
    trace = lab("handshake")
    assert trace.state_history("server.s") == ["CLOSE", "LISTEN", "CLOSE"]
    assert trace.state_history("client.fd") == ["CLOSE", "ESTABLISHED", "CLOSE_WAIT", "CLOSE"]
    assert trace.state_history("server.c") == ["ESTABLISHED", "FIN_WAIT1", "TIME_WAIT"]
    listen = next(s for s in trace.states if s.state == "LISTEN")
    assert (listen.queue, listen.backlog, listen.via) == (0, 3, "tcp_info")
    tw = next(s for s in trace.states if s.state == "TIME_WAIT")
    assert tw.via == "sock_diag"  # the fd is gone; only the kernel's table shows it


def test_handshake_records_kernel_and_sysctls(lab):
    trace = lab("handshake")
    assert trace.kernel["release"] and trace.kernel["lo_mtu"] > 0
    for key in ("net.ipv4.tcp_rmem", "net.ipv4.tcp_timestamps", "net.ipv4.tcp_sack",
                "net.ipv4.tcp_window_scaling", "net.core.rmem_max", "net.ipv4.tcp_syn_retries"):
        assert key in trace.sysctls


def _teardown(trace):
    return [(who, flags, seq, ack) for who, flags, seq, ack, _, _ in exchange(trace)[7:]]


def test_client_first_close_takes_three_segments(lab):
    trace = lab("teardown-client-first")
    assert _teardown(trace) == [("client", "F.", 6, 6), ("server", "F.", 6, 7), ("client", ".", 7, 7)]
    assert trace.state_history("client.fd")[-2:] == ["FIN_WAIT1", "TIME_WAIT"]
    assert trace.state_history("server.c")[-2:] == ["CLOSE_WAIT", "CLOSE"]


def test_server_first_close_takes_three_segments(lab):
    trace = lab("teardown-server-first")
    assert _teardown(trace) == [("server", "F.", 6, 6), ("client", "F.", 6, 7), ("server", ".", 7, 7)]
    assert trace.state_history("server.c")[-1] == "TIME_WAIT"


def test_a_pause_longer_than_the_delayed_ack_gives_four_segments(lab):
    trace = lab("teardown-four-segment")
    assert _teardown(trace) == [("client", "F.", 6, 6), ("server", ".", 6, 7),
                                ("server", "F.", 6, 7), ("client", ".", 7, 7)]
    fin, ack = trace.segments[7], trace.segments[8]
    assert 0.030 < ack.t - fin.t < 0.080  # the delayed-ACK timer, about 40 ms (HZ/25)
    assert "FIN_WAIT2" in trace.state_history("client.fd")


@pytest.mark.parametrize("name", ["several-clients", "shutdown", "linger-reset", "reuseaddr",
                                  "nonblocking-connect", "misuse"])
def test_programs_meet_their_expected_results_on_the_real_kernel(lab, name):
    trace = run_lab(load(str(PROGRAMS / f"{name}.tcp")))
    wrong = [f"line {c.line}: {c.text} = {c.result} {c.errno or ''} (expected {c.expected})"
             for c in trace.calls if c.ok is False]
    assert not wrong


def test_linger_zero_close_sends_rst_not_fin(lab):
    trace = run_lab(load(str(PROGRAMS / "linger-reset.tcp")))
    assert [f for _, f, *_ in exchange(trace)] == ["S", "S.", ".", "R."]


def test_connect_to_a_closed_port_is_refused_with_rst(lab):
    trace = run_lab(parse("c: fd = socket()\nc: connect(fd, 127.0.0.1:9) = -1 ECONNREFUSED\n"))
    assert [c.errno for c in trace.calls if c.result is not None] == [None, "ECONNREFUSED"]
    rst = trace.relative()[1]
    assert (rst.flags, rst.seg.seq, rst.ack, rst.seg.win, rst.options) == ("R.", 0, 1, 0, [])


def test_a_stuck_program_is_reported_with_what_waits(lab):
    prog = parse("server: s = socket()\nserver: bind(s, 0.0.0.0:80)\nserver: listen(s, 1)\n"
                 "server: c = accept(s)\n")
    with pytest.raises(LabStuck) as info:
        run_lab(prog, timeout=0.3)
    assert "server waits in c = accept(s) (line 4)" in str(info.value)
    assert info.value.trace.calls[-1].blocked


def test_the_lab_leaves_the_callers_namespace_as_it_was(lab):
    before = current_netns()
    run_lab(parse("c: fd = socket()\n"))
    assert current_netns() == before


@pytest.mark.parametrize("name", ["iterative-server", "listener-close", "lost-final-ack",
                                  "time-wait-reuse", "simultaneous-open", "close-in-syn-recv"])
def test_the_socket_table_kept_by_exact_lookups_is_the_kernels_whole_table(lab, name,
                                                                              monkeypatch):
    """Between dumps the lab looks connections up by tuple (SockTable.lookup); after every
    snapshot its table must be what a full sock_diag dump says (listeners aside: a listener
    always has a descriptor, and TCP_INFO reads it).  Request sockets, accept queues,
    orphans, TIME_WAIT and segments held on a delay line are all among these programs."""
    from tcpsim.lab import executor
    from tcpsim.lab.kernel import kernel_sockets

    differences = []
    kept = executor.LabWorld.kernel_sockets

    def checked(world):
        got = kept(world)
        whole = [s for s in kernel_sockets() if s[2] != "LISTEN"]
        mine = [s for s in got if s[2] != "LISTEN"]
        if sorted(mine) != sorted(whole):
            differences.append((sorted(set(whole) - set(mine)), sorted(set(mine) - set(whole))))
        return got

    monkeypatch.setattr(executor.LabWorld, "kernel_sockets", checked)
    run_lab(load(name))
    assert differences == []


def _bytes_covered(trace, port=8080) -> int:
    """How many bytes from the SYN's seq + 1 on the segments to `port` cover without a gap."""
    segs = [s for s in trace.segments if s.dst.endswith(f":{port}")]
    start = next(s.seq for s in segs if "S" in s.flags) + 1
    end = start
    for s in sorted(segs, key=lambda s: (s.seq - start) % 2**32):
        off = (s.seq - start) % 2**32
        if s.length and off <= end - start:
            end = max(end, start + off + s.length)
    return end - start


def test_the_capture_holds_every_byte_of_a_one_mib_transfer(lab):
    """At MTU 65536 a frame on lo is up to 64 KiB and the packet socket gets two copies;
    with the default receive buffer the lab lost the second segment of a 100,000-byte
    transfer in 4 of 4 runs and half of a 1 MiB one (scripts/check_capture.py holds the
    capture against tcpdump's at 1 MiB and 100 MiB)."""
    n = 1 << 20
    trace = run_lab(transfer(n))
    assert trace.capture_lost == 0
    assert sum(c.result for c in trace.calls if c.text.startswith("recv") and c.result) == n
    assert _bytes_covered(trace) == n


def test_a_capture_that_lost_frames_says_so(lab, monkeypatch):
    """A packet socket too small for the transfer: the kernel's drop count reaches the
    Trace (capture_lost, a note), and the lab does not wait for twins that never come."""
    import time

    from tcpsim.lab import capture

    monkeypatch.setattr(capture, "CAPTURE_BUFFER", 4096)
    n = 1 << 20
    t = time.monotonic()
    trace = run_lab(transfer(n))
    assert trace.capture_lost > 0
    assert _bytes_covered(trace) < n
    assert any("capture lost" in note for note in trace.notes)
    assert time.monotonic() - t < 5  # was 62 s: a 1 s settle limit after each later call


def test_verify_says_incomplete_when_the_capture_lost_frames(lab, monkeypatch):
    """Never a silent difference: a run whose capture dropped frames is not compared."""
    from click.testing import CliRunner

    from tcpsim.cli import main
    from tcpsim.lab.capture import LoopbackCapture

    def lost(self):
        self.dropped = 3
        return 3

    monkeypatch.setattr(LoopbackCapture, "count_drops", lost)
    r = CliRunner().invoke(main, ["verify", "handshake"])
    assert r.exit_code == 7  # errors.INCOMPLETE
    assert r.output.startswith("incomplete handshake: the lab's capture lost 3 frame(s)")


def _states_between_accept_and_close(trace, label="server.c1"):
    calls = [c for c in trace.calls if c.process == "server"]
    start = next(c.t for c in calls if c.text.startswith("c1 = accept"))
    end = next(c.t for c in calls if c.text.startswith("close(c1)"))
    return [s.state for s in trace.states if s.socket == label and start <= s.t < end]


def test_a_child_accepted_after_its_handshake_keeps_its_name_and_state(lab):
    """iterative-server's clients connect before accept(): the child is in the kernel's
    table first, then accept() gives it a descriptor.  It was reported freed
    ('server.c1: CLOSE (freed)') right after `c1 = accept(s)`, in the model and the lab."""
    from itertools import groupby

    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    prog = load("iterative-server")
    lab_run = run_lab(prog)
    for trace in (lab_run, run_model(prog, KernelProfile.from_trace(lab_run))):
        assert _states_between_accept_and_close(trace) == [], trace.source
        # the model reports its steps as they happen and the observations after each call
        states = [k for k, _ in groupby(s.state for s in trace.states if s.socket == "server.c1")]
        assert "ESTABLISHED" in states and states[states.index("ESTABLISHED") + 1] == \
            "FIN_WAIT1", (trace.source, states)


def test_mtu_1500_sets_los_mtu_in_the_labs_namespace_and_the_model_follows(lab):
    """--mtu: the SYN's MSS is MTU - 40 on the kernel and in the model, and every field of
    the handshake program agrees at that MTU (windows are rounded to the MSS)."""
    from tcpsim.cli import _verify_one

    r = _verify_one(load("handshake"), None, 0, 10.0, {}, mtu=1500)
    assert r["lab"].kernel["lo_mtu"] == 1500 and r["profile"].mtu == 1500
    syn = r["lab"].segments[0]
    assert syn.flags == "S" and syn.option("mss") == 1460
    assert r["ok"], [d.sentence for d in r["diffs"]]


@pytest.mark.parametrize("name", ["close-in-syn-recv", "iterative-server"])
def test_a_machine_with_slow_socket_table_dumps_still_verifies(lab, name, monkeypatch):
    """The issue's machine: a sock_diag dump took 3-5 ms per family and the lab did two per
    call, so the one-jiffy delayed ACK fired between calls a program makes back to back and
    both programs differed on every run (reproduced by putting 8 ms into each dump of the old
    lab).  Now the lab dumps only after a delay line lets a segment go."""
    from click.testing import CliRunner

    from tcpsim.cli import main
    from tcpsim.lab import kernel

    real = kernel.SockTable.dump

    def slow(table):
        import time

        time.sleep(0.008)
        return real(table)

    monkeypatch.setattr(kernel.SockTable, "dump", slow)
    r = CliRunner().invoke(main, ["verify", name])
    assert r.exit_code == 0, r.output


def test_the_labs_real_time_priority_is_its_own_and_only_for_the_run(lab):
    """netns.realtime: SCHED_FIFO for the lab's thread during a run (a busy machine cannot
    stretch its calls past a jiffy: scripts/bench_stall.py), not inherited by what it forks,
    and the thread's own policy back afterwards."""
    import os

    from tcpsim.lab.netns import realtime

    before = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    with realtime() as on:
        assert on
        policy = os.sched_getscheduler(0)
        assert policy & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO
        assert policy & os.SCHED_RESET_ON_FORK
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
    run_lab(parse("c: fd = socket()\n"))
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before


def test_recv_waitall_waits_for_all_it_asks_and_the_fin_ends_it_early(lab):
    """tests/programs/recv-waitall.tcp on the kernel and in the model: 12 bytes over two
    sends 5 ms apart come back as one recv; a FIN ends a longer one with what came."""
    from tcpsim.cli import _verify_one

    prog = load(str(PROGRAMS / "recv-waitall.tcp"))
    r = _verify_one(prog, None, 0, 10.0, {})
    assert r["ok"], [d.sentence for d in r["diffs"]]
    recvs = [c for c in r["lab"].calls if c.text.startswith("recv") and c.result is not None]
    assert [(c.result, c.data) for c in recvs] == [(12, b"hello world!"), (3, b"bye"), (0, b"")]
    assert not any(c.ok is False for c in r["lab"].calls)


def test_the_packetdrill_environment_over_tun_answers_a_syn_as_the_script_says(lab):
    """The first live check of the packetdrill environment (lab/tun.py, issue 19): in a
    private namespace with defaults.sh's sysctls, a SYN written into tun0 at MTU 1500 draws the
    SYN-ACK that tests/pkt/handshake-passive.pkt expects (and the model's pkt run passes that
    script: tests/test_pkt.py), and the third segment gets the connection accepted."""
    import socket as so
    import time

    from tcpsim.errors import TcpsimError
    from tcpsim.lab.kernel import set_sysctls
    from tcpsim.lab.netns import private_netns
    from tcpsim.lab.tun import LOCAL_IP, REMOTE_IP, TunWire
    from tcpsim.pkt.shell import DEFAULTS_SH
    from tcpsim.pkt.syntax import load as load_script

    script = load_script(PROGRAMS.parent / "pkt" / "handshake-passive.pkt")
    expected = next(e.action for e in script.events
                    if getattr(e.action, "direction", None) == ">")
    with private_netns():
        for key, value in DEFAULTS_SH.items():
            try:
                set_sysctls({key: value})
            except TcpsimError:  # congestion control: a namespace may not choose cubic
                pass
        wire = TunWire()
        try:
            listener = so.socket()
            listener.bind(("0.0.0.0", 8080))
            listener.listen(1)
            remote, local = (REMOTE_IP, 40000), (LOCAL_IP, 8080)
            wire.send(remote, local, 0x02, 0, 0, 32792, [["mss", 1000], ["sackOK", None],
                                                         ["TS", [100, 0]], ["nop", None],
                                                         ["wscale", 7]])
            synack = wire.receive(2.0)
            assert synack is not None and synack.flags == "S." and synack.ack == 1
            assert synack.win == expected.win == 65535
            assert [n for n, _ in synack.options] == [n for n, _ in expected.options]
            assert synack.option("mss") == 1460 and synack.option("wscale") == 8
            assert synack.option("TS")[1] == 100
            wire.send(remote, local, 0x10, 1, synack.seq + 1, 257,
                      [["nop", None], ["nop", None], ["TS", [110, synack.option("TS")[0]]]])
            listener.setblocking(False)
            end = time.monotonic() + 2
            while True:
                try:
                    child, peer = listener.accept()
                    break
                except BlockingIOError:
                    assert time.monotonic() < end, "the third segment did not complete it"
                    time.sleep(0.005)
            assert peer == remote
            child.close()
            listener.close()
        finally:
            wire.close()


PKT = PROGRAMS.parent / "pkt"


@pytest.mark.parametrize("name", ["handshake-active", "handshake-passive", "handshake-refused",
                                  "close-passive",
                                  "close-active", "shutdown-half-close", "rtt-handshake",
                                  "sack-receiver", "rack-reo-timeout", "dsack-undo", "fin-tlp",
                                  "rto-gso-retransmit", "newreno-partial-ack", "dsack-off",
                                  "epoll-level", "epoll-edge", "epoll-out-edge",
                                  "delayed-ack-fin-no-wscale", "sack-reordering", "tso-autosize",
                                  "sack-mss", "rack-reo-wnd-steps", "sack-reneging", "ofo-memory",
                                  "frto-spurious", "frto-loss-real", "frto-off",
                                  "rto-undo-eifel", "rto-undo-dsack", "undo-partial",
                                  "partial-ack-rack",
                                  "shell/qdisc-drop", "eor-cork", "eor-split", "icmp-soft",
                                  "icmp-connect", "icmp-request-drop", "icmp-request-keep",
                                  "tfo-cookie", "tfo-data", "tfo-no-cookie", "tfo-key",
                                  "tfo-synack-rtx", "cmsg/zerocopy", "cmsg/timestamping",
                                  "cmsg/inq", "ip/ecn", "ip/gso-mss", "ip/tos",
                                  "calls/splice", "calls/sendfile", "md5-unexpected", "md5-no-socket",
                                  "sack-reordering-cwnd", "tfo-delivered", "notsent-lowat-sysctl",
                                  "tcp-info-since", "ecn-passive", "cubic-recovery-ca",
                                  "rack-reo-timer-jiffy", "tfo-icmp-child", "nstat-oow-icmp",
                                  "tfo-client-cookie", "tfo-client-blocking", "tfo-client-exp"])
def test_our_packetdrill_scripts_pass_on_the_real_kernel_over_tun(lab, name):
    """`pkt run --kernel` (lab/pktkernel.py): the script's packets written into and read from
    a tun device in a private namespace, its calls on real sockets, in real time."""
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import load as load_script
    from tcpsim.pkt import packetdrill_profile

    outcome = kernel_outcome(load_script(PKT / f"{name}.pkt"),
                             packetdrill_profile(KernelProfile.named("reference")))
    assert outcome.passed, (outcome.line, outcome.message, outcome.held_up)


@pytest.mark.parametrize("name", ["handshake-active", "close-active", "shutdown-half-close",
                                  "delayed-ack-fin-no-wscale", "sack-reordering", "tso-autosize",
                                  "sack-mss", "icmp-soft", "eor-split", "tfo-data"])
def test_pkt_verify_finds_the_model_doing_what_the_kernel_did(lab, name):
    """`tcpsim pkt verify`: the model's events are the kernel's, line for line, on scripts
    whose windows once parted them (the kernel offered 1050 and 1053 x 256 where the model
    said 256: tcp_select_initial_window() keeps rcv_wnd whole, only the SYN stops at 65535)."""
    r = run_cli("pkt", "verify", PKT / f"{name}.pkt")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[-1].startswith(f"agree {PKT / name}.pkt: the model did what")


from .test_pkt import (ACTIVE_NO_WSCALE, TUN_COALESCE, TUN_SKBS,  # noqa: E402
                       tun_coalesce_script, tun_skb_script)


@pytest.mark.parametrize("case", TUN_SKBS, ids=[f"{c[2]}B" for c in TUN_SKBS])
def test_the_kernel_charges_a_segment_over_tun_the_truesize_the_model_says(lab, case):
    """The measurements behind TcpInput._rx_skb(): a first segment's scaling_ratio over tun,
    seen as tcpi_rcv_ssthresh (the same scripts pass against the model: tests/test_pkt.py)."""
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile, parse

    outcome = kernel_outcome(parse(tun_skb_script(*case), "tun-skb.pkt"),
                             packetdrill_profile(KernelProfile.named("reference")))
    assert outcome.passed, (outcome.line, outcome.message)


# -- the data phase (issue 17) ----------------------------------------------------------------

@pytest.mark.parametrize("second, win", TUN_COALESCE)
def test_the_kernel_coalesces_a_segment_over_tun_only_into_the_tailroom(lab, second, win):
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile, parse

    outcome = kernel_outcome(parse(tun_coalesce_script(second, win), "coalesce.pkt"),
                             packetdrill_profile(KernelProfile.named("reference")))
    assert outcome.passed, (outcome.line, outcome.message)


def test_the_kernel_clamps_an_active_open_without_window_scale_at_65535(lab):
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile, parse

    outcome = kernel_outcome(parse(ACTIVE_NO_WSCALE, "active-no-wscale.pkt"),
                             packetdrill_profile(KernelProfile.named("reference")))
    assert outcome.passed, (outcome.line, outcome.message)


def test_a_simultaneous_opens_ack_of_a_fin_is_its_delayed_ack(lab):
    """tests/programs/simultaneous-open-fin-ack.tcp: the kernel ACKs b's FIN 40 ms (and a
    jiffy or two) after it arrives, as the model says (ato set by the SYN-ACK taken as old
    data); the model once sent it a jiffy later.  Any exchange of the program's set."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile

    prog = load(str(PROGRAMS / "simultaneous-open-fin-ack.tcp"))
    trace = run_lab(prog)
    held = hold_lab(trace, prog, KernelProfile.from_trace(trace))
    assert held.ok, [held.first_difference] + [d.sentence for d in held.differences]
    rel = trace.relative()
    a = rel[0].seg.src
    fin = next(r for r in rel if r.seg.src != a and "F" in r.seg.flags)
    ack = next(r for r in rel if r.seg.src == a and r.seg.t > fin.seg.t)
    assert (ack.seg.flags, ack.ack) == (".", 2) and 0.059 < ack.seg.t - fin.seg.t < 0.07


@pytest.mark.parametrize("name", ["transfer-100k", "transfer-window-plus-one"])
def test_bulk_transfers_verify_segment_for_segment(lab, name):
    """Sends larger than lo's first window: the model's segments (sizes, PSH, windows),
    call results and states are the kernel's, in file order (the model was stuck past 65483
    bytes before issue 17)."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile

    prog = load(name)
    trace = run_lab(prog)
    held = hold_lab(trace, prog, KernelProfile.from_trace(trace))
    assert held.ok and held.outcome is None, [d.sentence for d in held.differences]


def test_a_100k_send_leaves_in_half_window_segments_and_one_read_takes_it(lab):
    """tcp_bound_to_half_wnd: 32741-byte segments (half the first window, 65483); the second
    pushed (forced_push), the last two skbs joined when the ACK opens the window (tcp_grow_skb);
    the receiver offers 93 (x1024) after one segment, and ACKs data and FIN after the read."""
    trace = lab("transfer-100k")
    if trace.kernel["lo_mtu"] != 65536:
        pytest.skip("segment sizes below are for loopback's MTU 65536")
    rows = exchange(trace)
    assert [(who, flags, seq, length) for who, flags, seq, _, _, length in rows if length] == [
        ("client", ".", 1, 32741), ("client", "P.", 32742, 32741), ("client", "P.", 65483, 34518)]
    acks = [(flags, ack, win) for who, flags, _, ack, win, length in rows
            if who == "server" and not length]
    assert acks[1:3] == [(".", 32742, 93), (".", 100002, 93)]
    assert [c.result for c in trace.calls if c.text.startswith("recv")] == [100000, 0]


# -- the congestion window (issue 17): at MTU 1500, every socket pinned to cubic -----------------

CWND_RUNS = [("transfer-30k", {}), ("cwnd-restart", {}),
             ("transfer-30k", {"net.ipv4.tcp_congestion_control": "reno"}),
             ("cwnd-restart", {"net.ipv4.tcp_slow_start_after_idle": "0"})]


@pytest.mark.parametrize("name,sysctls", CWND_RUNS)
def test_the_congestion_window_verifies_at_mtu_1500(lab, name, sysctls):
    """The initial window's halves as GSO packets (7240, 7240, 10136, 5384), slow start and
    the restart after idle, segment for segment against the kernel at MTU 1500 (without the
    restart the second write leaves as 21720 + 8280: the window grew to 30)."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile

    prog = load(name)
    trace = run_lab(prog, sysctls=sysctls, mtu=1500)
    cc = sysctls.get("net.ipv4.tcp_congestion_control", "cubic")
    assert trace.kernel["lo_mtu"] == 1500 and trace.kernel["congestion_control"] == cc
    assert trace.sysctls["net.ipv4.tcp_congestion_control"] == cc
    held = hold_lab(trace, prog, KernelProfile.from_trace(trace))
    assert held.ok and held.outcome is None, [d.sentence for d in held.differences]
    sizes = [len(s.payload) for s in trace.segments if s.payload]
    assert sizes[:3] == [7240, 7240, 10136]
    # the fourth: 5384 in the model's way of tcp_tso_should_defer()'s race, 4344 (the
    # window's last 3 MSS at once) when the kernel's clock took the other way, which the
    # verdict then names (docs/races.md; seen once in a loaded run of the suite, session 14)
    flipped = any(r.kind == "tso_defer" for r in held.races)
    assert (sizes[3], flipped) in ((5384, False), (4344, True)), (sizes, held.races)


def test_the_lab_pins_every_socket_to_the_congestion_control_asked(lab):
    """TCP_CONGESTION on each socket the lab makes; an accepted child has its listener's."""
    import socket as so

    from tcpsim.lab.kernel import TCP_CONGESTION, lab_congestion

    assert lab_congestion({}) == ("cubic", {})
    assert lab_congestion({"net.ipv4.tcp_congestion_control": "reno", "x": "1"}) == ("reno",
                                                                                      {"x": "1"})
    from tcpsim.lab.executor import LabWorld
    from tcpsim.lab.netns import private_netns

    with private_netns():
        world = LabWorld(None, congestion="reno")
        listener = world.socket(so.AF_INET, so.SOCK_STREAM, 0)
        listener.bind(("127.0.0.1", 8080))
        listener.listen(1)
        client = world.socket(so.AF_INET, so.SOCK_STREAM, 0)
        client.connect(("127.0.0.1", 8080))
        child, _ = listener.accept()
        ran = [s.getsockopt(so.IPPROTO_TCP, TCP_CONGESTION, 16).rstrip(b"\0")
               for s in (listener, client, child)]
        for s in (listener, client, child):
            s.close()
    assert ran == [b"reno"] * 3
    trace = run_lab(load("handshake"))
    assert trace.kernel["congestion_control"] == "cubic"
    assert trace.sysctls["net.ipv4.tcp_congestion_control"] == "cubic"
    if trace.kernel["default_congestion_control"] != "cubic":
        assert any("ran congestion control cubic" in n for n in trace.notes)


def test_slow_start_across_rounds_sends_what_the_kernel_sends_at_mtu_1500(lab):
    """Writes of 30000, 30000 and 60000 bytes 50 ms apart, each read as it comes: the window
    grows 10 -> 31 in the first round (each ACK, the sender having filled it), to 46 in the
    second (its first ACK of 15 finds 31 below twice the 21 in flight, its second does not),
    so the writes leave as half-windows: 21720 (15 MSS) + 8280, then 33304 (23 MSS) + 26696.
    Only the data segments are compared: after the third read the kernel grows the receive
    buffer (tcp_rcv_space_adjust()), which the model does not do yet.  (Without a capture the
    kernel coalesces the second round's two ACKs in the backlog, tcp_add_backlog(), and
    reaches 52: the lab's packet socket holds a clone of each, which keeps them apart.)"""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    lines = ["server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0",
             "server: listen(s, 3) = 0", "server: c = accept(s)", "client: fd = socket()",
             "client: connect(fd, 127.0.0.1:8080) = 0"]
    for n in (30000, 30000, 60000):
        lines += [f"client: send(fd, {n}) = {n}", "client: sleep 50ms", "server: recv(c, 1048576)"]
    lines += ["client: close(fd) = 0", "server: recv(c, 100) = 0", "server: close(c) = 0"]
    prog = parse("\n".join(lines) + "\n")
    trace = run_lab(prog, mtu=1500)
    model = run_model(prog, KernelProfile.from_trace(trace))

    expected = [7240, 7240, 10136, 5384, 21720, 8280, 33304, 26696]  # all the client's
    # On a busy machine the kernel sometimes sends the first round's tail as 4344 + 1040
    # (seen once in CI beside the rest of the suite, never idle): tcp_tso_should_defer() sends
    # a part at once when the head skb is over 1 ms old or the next ACK is due within half an
    # RTT, rules in time the model's instant calls do not meet (the same 3-MSS pattern as
    # after a woken writer at MTU 1500, docs/status.md)
    busy = expected[:3] + [4344, 1040] + expected[4:]
    assert [len(s.payload) for s in trace.segments if s.payload] in (expected, busy)
    assert [len(s.payload) for s in model.segments if s.payload] == expected


def test_after_two_lost_syns_the_window_starts_at_one_segment_at_mtu_1500(lab):
    """tcp_init_transfer(): the SYN sent three times, the window starts at 1 segment: a
    30000-byte write leaves as single MSS (no PSH) then in slow start's halves, on the
    kernel and in the model.  Only the data segments are compared (the receiver's windows
    after many small skbs are a receive-side matter)."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    prog = parse("server: s = socket()\nserver: bind(s, 0.0.0.0:8080) = 0\n"
                 "server: listen(s, 3) = 0\nserver: c = accept(s)\nclient: fd = socket()\n"
                 "client: connect(fd, 127.0.0.1:8080) = 0\nclient: send(fd, 30000) = 30000\n"
                 "server: recv(c, 1048576)\nclient: close(fd) = 0\nserver: recv(c, 100) = 0\n"
                 "server: close(c) = 0\nnet: drop 2 SYN from client\n")
    trace = run_lab(prog, mtu=1500)
    model = run_model(prog, KernelProfile.from_trace(trace))
    expected = [(".", 1448)] * 5 + [("P.", 2896)] * 3 + [("P.", 5792)] * 2 + [("P.", 2488)]
    assert [(s.flags, len(s.payload)) for s in trace.segments if s.payload] == expected
    assert [(s.flags, len(s.payload)) for s in model.segments if s.payload] == expected


def test_receive_autotuning_grows_the_buffer_by_the_models_numbers(lab):
    """tcp_rcv_space_adjust() runs after each skb a read copies and grows sk_rcvbuf once an
    RTT has passed since its last measure.  On lo both are tens of microseconds (the RTT is
    how long a window's worth of data took to arrive), so whether the third skb of the 100 KB
    read is an RTT after the first is a race the model cannot know (it grew in 4 of 4 idle
    runs, 11 of 14 beside other work).  When the kernel grows the buffer, it grows it to the
    model's number; when it does not, the buffer is the default."""
    from .test_model_data import AUTOTUNE, _rcvbufs

    text = AUTOTUNE.format(rcvbuf="")
    assert _rcvbufs(text)[1] == 145794
    for _ in range(10):
        trace = run_lab(parse(text, "autotune.tcp"))
        before, after = [c.result for c in trace.calls if c.text.startswith("getsockopt")]
        assert before == 131072
        assert after in (131072, 145794)
        if after == 145794:
            return
    # The lab's capture copies every frame inside the softirq, which stretches the RTT sample
    # (60 us against 18-24 us bare): bare sockets open the gate more often (8 of 10 beside
    # other work, measured), so the number is checked there too
    import socket as _socket
    import time as _time

    from tcpsim.lab.netns import private_netns

    with private_netns():
        for port in range(8080, 8090):
            lst = _socket.socket()
            lst.bind(("127.0.0.1", port))
            lst.listen(1)
            cli = _socket.create_connection(("127.0.0.1", port))
            srv, _ = lst.accept()
            cli.sendall(b"x" * 100000)
            cli.close()
            _time.sleep(0.01)
            assert len(srv.recv(1 << 20)) == 100000
            after = srv.getsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF)
            srv.close()
            lst.close()
            assert after in (131072, 145794)
            if after == 145794:
                return
    # under load the RTT sample grows (the sender is held up between its segments) and the
    # gate stays shut: measured 0 of 8 with the whole suite and four other jobs beside it
    pytest.skip("the kernel did not grow the buffer in 10 lab runs nor 10 bare ones (its RTT gate "
                "stayed shut: a busy machine); the model's number is checked above")


def test_a_u32_option_written_in_hex_reaches_the_kernel_as_its_32_bits(lab):
    """packetdrill scripts write TCP_NOTSENT_LOWAT as 0xffffffff (epoll_out_edge.pkt): the
    kernel takes the same 32 bits as an int and gives back -1, which the script's 0xffffffff
    matches (run_system_call.c compares 32-bit values).  Python's setsockopt() takes a C int
    only: it raised a TypeError, a traceback, before."""
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile
    from tcpsim.pkt.syntax import parse as parse_script

    from .test_pkt_grammar import OPEN

    text = OPEN + ("+0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0xffffffff], 4) = 0\n"
                   "+0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0xffffffff], [4]) = 0\n")
    outcome = kernel_outcome(parse_script(text, "lowat.pkt"),
                             packetdrill_profile(KernelProfile.named("reference")))
    assert outcome.passed, (outcome.line, outcome.message)


@pytest.mark.parametrize("flavour", ["ipv6", "ipv4-mapped-ipv6"])
@pytest.mark.parametrize("name", ["handshake-passive", "handshake-active", "close-active",
                                  "sack-receiver", "ofo-memory", "md5-unexpected"])
def test_our_scripts_pass_on_the_kernel_in_run_alls_other_flavours(lab, flavour, name):
    """run_all.py runs every script three ways; the two besides IPv4: an AF_INET6 socket with
    IPv6 packets (at --mtu=1520, so that the MSS is 1460 still), and an AF_INET6 socket bound
    to IPv4-mapped addresses with IPv4 packets.  Over IPv6 the model runs them too."""
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import load as load_script
    from tcpsim.pkt import packetdrill_profile, run_script

    profile = packetdrill_profile(KernelProfile.named("reference"))
    if flavour == "ipv6":
        profile = KernelProfile(profile.name, profile.release, 1520, profile.hz, profile.sysctls)
    script = load_script(PKT / f"{name}.pkt")
    script.options["ip_version"] = flavour
    outcome = kernel_outcome(script, profile)
    assert outcome.passed, (outcome.line, outcome.message, outcome.held_up)
    if flavour == "ipv6":
        model = run_script(script, profile)
        assert model.passed, (model.line, model.message)


def test_a_run_held_up_by_the_machine_says_which_call_was_slow(lab, monkeypatch):
    """A write() that holds the script's thread 30 ms after its segment left (as a busy CPU
    can): the next event's relative time counts from when the write returned (run.c
    adjust_relative_event_times()), so the segment is 30 ms early; the timing error is
    packetdrill's, and the outcome says the write was slow, which is what lets a test try
    again (tests/kernel_runs.py) and a user know whom to blame."""
    import time as _time

    from tcpsim.lab import pktkernel
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile
    from tcpsim.pkt.run import run_script_on_kernel
    from tcpsim.pkt.syntax import parse as parse_script

    from .test_pkt import PASSIVE

    send = pktkernel.RealKernel.send

    def slow_send(self, *args, **kwargs):
        sent = send(self, *args, **kwargs)
        _time.sleep(0.03)  # the segment left; the call's thread is held 30 ms after it
        return sent

    monkeypatch.setattr(pktkernel.RealKernel, "send", slow_send)
    text = PASSIVE + "+0 write(4, ..., 1000) = 1000\n+0 > P. 1:1001(1000) ack 1 <...>\n"
    outcome = run_script_on_kernel(parse_script(text, "slow.pkt"),
                                   packetdrill_profile(KernelProfile.named("reference")))
    assert not outcome.passed and outcome.message.startswith("timing error"), outcome.message
    assert len(outcome.held_up) == 1 and "write() took 3" in outcome.held_up[0], outcome.held_up


def test_a_python_block_reads_the_kernels_tcp_info(lab):
    """%{ }% on the kernel: the snapshot is the real socket's struct tcp_info (TCP_INFO) at the
    block's time; the same assertions hold there as on the model (cwnd 10, ssthresh infinite,
    SACK and timestamps on; 2 segments unacknowledged after a 2000-byte write)."""
    from tcpsim.model import KernelProfile
    from tcpsim.pkt import packetdrill_profile
    from tcpsim.pkt.run import run_script, run_script_on_kernel
    from tcpsim.pkt.syntax import parse as parse_script

    from .test_pkt import PASSIVE

    text = PASSIVE + (
        "+0 %{ assert tcpi_snd_cwnd == 10 and tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%\n"
        "+0 %{ assert tcpi_options & (TCPI_OPT_SACK | TCPI_OPT_TIMESTAMPS) == 2, tcpi_options }%\n"
        "+0 write(4, ..., 2000) = 2000\n+0 > P. 1:2001(2000) ack 1 <...>\n"
        "+0 %{ assert tcpi_unacked == 2, tcpi_unacked }%\n")
    profile = packetdrill_profile(KernelProfile.named("reference"))
    for run in (run_script_on_kernel, run_script):
        outcome = run(parse_script(text, "info.pkt"), profile)
        assert outcome.passed, (run.__name__, outcome.line, outcome.message)


# -- the send buffer (issue 17) ---------------------------------------------------------------
SNDBUF_FILL = """\
server: s = socket()
server: bind(s, 0.0.0.0:8080) = 0
server: listen(s, 3) = 0
server: c = accept(s)
client: fd = socket()
client: getsockopt(fd, SO_SNDBUF)
client: connect(fd, 127.0.0.1:8080) = 0
client: getsockopt(fd, SO_SNDBUF)
client: fcntl(fd, F_SETFL, O_NONBLOCK) = 0
client: send(fd, 10000000)
client: send(fd, 10000000)
client: poll(fd, POLLOUT, 0)
client: sleep 100ms
client: getsockopt(fd, SO_SNDBUF)
client: send(fd, 10000000)
"""


# measured on real sockets (TCP_CONGESTION per socket): getsockopt before and after the
# handshake, send, send, poll, getsockopt after the delayed ACK, send
SNDBUF_FIGURES = {
    "bbr": [(16384, None), (3939840, None), (3919467, None), (-1, "EAGAIN"), (0, None),
            (4194304, None), (333312, None)],
    "cubic": [(16384, None), (2626560, None), (2633835, None), (-1, "EAGAIN"), (0, None),
              (2626560, None), (95232, None)],
}
SNDBUF_FIGURES["reno"] = SNDBUF_FIGURES["cubic"]


def test_a_nonblocking_send_fills_the_expanded_send_buffer_as_the_model_does(lab):
    """What a program sees of the send buffer on lo with nobody reading: tcp_wmem[1], then
    tcp_sndbuf_expand() at the handshake (bbr 3939840, cubic and reno 2626560); the first send
    takes what fits, the next fails with EAGAIN and poll() has no POLLOUT; after the delayed
    ACK, tcp_new_space() expands bbr's to tcp_wmem[2] (its cwnd grew past 10 packets; cubic's
    did not: lo never fills it), and the next send takes what was freed.  The capture itself
    differs (a tail loss probe the model lacks), the call results must not.  The lab pins
    cubic unless told otherwise (lab_congestion()); bbr's row is what a bbr socket measured,
    which the model (cubic's window for bbr, tcp_cong.py) meets only up to the poll()."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    trace = run_lab(parse(SNDBUF_FILL))
    profile = KernelProfile.from_trace(trace)
    want = SNDBUF_FIGURES.get(profile.congestion_control)
    if trace.kernel["lo_mtu"] != 65536 or want is None or profile.wmem != (4096, 16384, 4194304):
        pytest.skip("the figures are for lo's MTU 65536, tcp_wmem 4096 16384 4194304 and "
                    "bbr, cubic or reno")
    got = [(c.result, c.errno) for c in trace.calls if c.process == "client"
           and c.result is not None and c.text.startswith(("getsockopt", "send", "poll"))]
    assert got == want
    model = run_model(parse(SNDBUF_FILL), profile)
    upto = 5 if profile.congestion_control == "bbr" else len(got)
    assert [(c.result, c.errno) for c in model.calls if c.process == "client"
            and c.result is not None and c.text.startswith(("getsockopt", "send", "poll"))
            ][:upto] == got[:upto]


# -- the zero window and small receive buffers (issue 17) -----------------------------------

@pytest.mark.parametrize("name", ["slow-reader", "tiny-rcvbuf", "partial-window-probe",
                                  "locked-rcvbuf"])
def test_small_receive_buffers_verify_segment_for_segment(lab, name):
    """SO_RCVBUF on the listener: the window scale from the locked buffer, zero windows, the
    persist timer's probes and their answers, the reads that reopen the window."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile

    prog = load(name)
    trace = run_lab(prog)
    held = hold_lab(trace, prog, KernelProfile.from_trace(trace))
    assert held.ok and held.outcome is None, [d.sentence for d in held.differences]


def test_a_zero_window_is_probed_with_backoff_and_answered_at_most_every_500ms(lab):
    """Measured on 6.18: the first probe about an RTO (204-216 ms) after the zero-window
    ACK, seq snd_una - 1 without data; each answer (win 0) restarts the timer with the
    backoff doubled (tcp_ack_probe); the second probe (~430 ms later) goes unanswered
    (tcp_invalid_ratelimit 500 ms); the third (~860 ms later) is answered."""
    trace = lab("slow-reader")
    rel = trace.relative()
    owner = trace.endpoint_names()
    rows = [(owner.get(r.seg.src), r.seq, r.ack, r.seg.win, r.seg.length, r.seg.t) for r in rel]
    zero = next(i for i, r in enumerate(rows) if r[0] == "server" and r[3] == 0)
    zwa_ack, zwa_t = rows[zero][2], rows[zero][5]
    probes = [i for i, r in enumerate(rows) if r[0] == "client" and r[4] == 0
              and r[1] == zwa_ack - 1]
    assert len(probes) == 3
    t = [rows[i][5] for i in probes]
    answers = [i for i, r in enumerate(rows) if r[0] == "server" and r[3] == 0 and i > zero]
    assert [i - 1 for i in answers] == [probes[0], probes[2]]  # the second is not answered
    assert all(rows[i][5] - rows[i - 1][5] < 0.005 for i in answers)
    ratelimit = int(trace.sysctls.get("net.ipv4.tcp_invalid_ratelimit", 500)) / 1000
    assert t[1] - rows[answers[0]][5] < ratelimit < t[2] - rows[answers[0]][5]
    base = t[0] - zwa_t
    assert 0.200 <= base <= 0.260
    assert 1.7 * base <= t[1] - rows[answers[0]][5] <= 2.4 * base  # backoff 1
    assert 3.5 * base <= t[2] - t[1] <= 4.6 * base  # backoff 2, no answer restarted it


def test_so_rcvbuf_reads_back_and_scales_as_the_model_says(lab):
    """Real sockets in a private namespace: SO_RCVBUF's value read back (doubled, at least
    SOCK_MIN_RCVBUF) and the receive window scale the connection gets, on the listener's
    side (inherited by the accepted socket) and the connecting side, against the model."""
    import socket as so

    from tcpsim.lab.netns import link_up, private_netns
    from tcpsim.model import Kernel, KernelProfile

    with private_netns():
        link_up()
        kernel = Kernel(KernelProfile.from_host())
        seen, modelled = [], []
        for n, value in enumerate((1, 2000, 4096, 32767, 32768, 65536, 1000000)):
            lst = so.socket()
            lst.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, value)
            lst.bind(("127.0.0.1", 9100 + n))
            lst.listen(1)
            cli = so.socket()
            cli.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, value)
            cli.connect(("127.0.0.1", 9100 + n))
            acc, _ = lst.accept()
            row = [lst.getsockopt(so.SOL_SOCKET, so.SO_RCVBUF)]
            for s in (acc, cli):  # tcpi_rcv_wscale: the high nibble of byte 6
                row.append(s.getsockopt(so.IPPROTO_TCP, so.TCP_INFO, 104)[6] >> 4)
            seen.append(tuple(row))
            for s in (acc, cli, lst):
                s.close()
            sid = kernel.socket(2)
            kernel.setsockopt(sid, 1, 8, value)
            ws = kernel._rcv_wscale(kernel.sock(sid))
            modelled.append((kernel.getsockopt(sid, 1, 8), ws, ws))
    assert seen == modelled


def test_a_partial_read_of_a_zero_windows_queue_offers_what_the_coalesced_tail_leaves(lab):
    """tests/programs/zero-window-coalesce.tcp: the read of 16384 of three 8192-byte skbs
    (the third coalesced into the second, tcp_try_coalesce) updates the window to 8192, not
    16384; after the client's 8192 closes it again, the next probe comes one RTO later
    (tcp_check_probe_timer: the base, not the backoff) and goes unanswered (less than
    tcp_invalid_ratelimit after the last answer).  Model and kernel agree segment for
    segment, but for one PSH bit: the kernel sends the client's window-limited 8192 bytes
    (the first part of a grown skb, tcp_fragment()) without it, the model with it (its
    tso_fragment() rule keeps it, as a 1 MiB transfer's 62491-byte segment showed)."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    prog = load(str(PROGRAMS / "zero-window-coalesce.tcp"))
    trace = run_lab(prog)
    model = run_model(prog, KernelProfile.from_trace(trace))
    k, m = exchange(trace), exchange(model)
    read = next(c.t for c in trace.calls if c.kind == "call" and c.text == "recv(c, 16384)")
    update = next(r for r, g in zip(k, trace.segments) if r[0] == "server" and g.t > read)
    assert update[4] == 8192

    def unpushed(rows):
        return [(w, f.replace("P", "") if (w, s, n) == ("client", 24577, 8192) else f, s, a, win, n)
                for w, f, s, a, win, n in rows]
    assert unpushed(k) == unpushed(m)
    assert ("client", ".", 24577, 1, k[2][4], 8192) in k  # the kernel: no PSH there
    rows = list(zip(k, trace.segments))
    zero = next(g.t for r, g in rows if r[0] == "server" and r[3:5] == (32769, 0))
    probe = next(g.t for r, g in rows if r[0] == "client" and r[2] == 32768 and not r[5])
    assert 0.19 <= probe - zero <= 0.26  # the base again, though icsk_backoff is 1
    assert not [g for r, g in rows if r[0] == "server" and r[3:5] == (32769, 0) and g.t > probe]


def test_a_window_smaller_than_a_segment_is_probed_with_what_fits(lab):
    """partial-window-probe: the client holds back while the window (14762 bytes) is less
    than its segment, then about an RTO later the persist timer sends exactly the window,
    PSH set (tcp_write_wakeup); the following pure probe is answered at once."""
    trace = lab("partial-window-probe")
    rows = list(zip(exchange(trace), trace.segments))
    small = next((r, g) for r, g in rows if r[0] == "server" and 0 < r[4] << 1 < 47417)
    wnd = small[0][4] << 1  # window scale 1
    data = next((r, g) for r, g in rows if r[0] == "client" and r[5] and g.t > small[1].t)
    assert (data[0][1], data[0][2], data[0][5]) == ("P.", small[0][3], wnd)
    assert 0.19 <= data[1].t - small[1].t <= 0.26
    probe = next(i for i, (r, g) in enumerate(rows) if r[0] == "client" and not r[5]
                 and r[2] == small[0][3] + wnd - 1)
    answer = rows[probe + 1][0]
    assert answer[0] == "server" and answer[4] == 0


def test_a_duplicated_request_reaches_the_server_twice_and_the_copy_gets_a_dsack(lab):
    """net: duplicate in the lab: the segment goes on from the lab's NFQUEUE and its copy
    from a raw socket in the namespace; the capture shows it twice (lo carries it twice), the
    copy marked, byte for byte the same TCP segment; the server answers the copy at once with
    a D-SACK block (tcp_data_queue()'s old-data branch, RFC 2883), and the model agrees."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    from .test_model_faults import PING, rows

    prog = parse(PING + "client: close(fd) = 0\nserver: recv(c, 100) = 0\nserver: close(c) = 0\n"
                 "net: duplicate 1 DATA from client\n")
    trace = run_lab(prog)
    assert rows(trace)[3:8] == [
        ("client", "P.", 1, 1, 5, False, None),
        ("server", ".", 1, 6, 0, False, None),
        ("client", "P.", 1, 1, 5, True, None),
        ("server", ".", 1, 6, 0, False, [[1, 6]]),
        ("server", "P.", 1, 6, 5, False, None),
    ]
    original, copy = trace.segments[3], trace.segments[5]
    assert (copy.seq, copy.ack, copy.win, copy.options, copy.payload, copy.ip_id, copy.ttl) == \
        (original.seq, original.ack, original.win, original.options, original.payload,
         original.ip_id, original.ttl)
    assert trace.drops == {prog.faults[0].line: 1}
    model = run_model(prog, KernelProfile.from_trace(trace))
    assert rows(model) == rows(trace)


def test_duplicate_all_copies_each_segment_once_over_ipv6_and_seq_names_one(lab):
    """A copy carries COPY_MARK, which the nft chain accepts before any line counts it: with
    `all` a copy counted again would be copied forever.  Over IPv6 (the raw socket of that
    family), and a `seq` line on the same segments: the lab learns the ISN from the SYN."""
    text = (HEAD6 + "client: setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1) = 0\n"
            "client: connect(fd, [::1]:8080) = 0\nclient: send(fd, 1000) = 1000\n"
            "client: send(fd, 1000) = 1000\nclient: send(fd, 1000) = 1000\n"
            "server: recv(c, 3000, MSG_WAITALL) = 3000\nclient: close(fd) = 0\n"
            "server: recv(c, 100) = 0\nserver: close(c) = 0\n")
    prog = parse(text + "net: duplicate 1 DATA from client seq 1001 by 5ms\n"
                 "net: duplicate all DATA from client\nnet: drop DATA from client seq 1500\n")
    late, every, never = prog.faults
    trace = run_lab(prog)
    assert trace.drops == {late.line: 1, every.line: 2, never.line: 0}
    from .test_model_faults import rows

    data = [(r[2], r[5]) for r in rows(trace) if r[0] == "client" and r[4]]
    assert sorted(data) == [(1, False), (1, True), (1001, False), (1001, True),
                            (2001, False), (2001, True)]
    assert all(c.ok is not False for c in trace.calls)
    assert trace.segments[0].src.startswith("[::1]")


HEAD6 = ("server: s = socket(AF_INET6)\nserver: bind(s, [::]:8080) = 0\nserver: listen(s, 3) = 0\n"
         "server: c = accept(s)\nclient: fd = socket(AF_INET6)\n")


def test_a_duplicated_gso_packet_arrives_cut_into_segments_each_followed_by_its_copy(lab):
    """At MTU 1500 the queue gets a GSO packet as its segments (nfqnl_enqueue_packet()
    segments it without NFQA_CFG_F_GSO): each goes on, then its copy; the model cuts the
    same (sim/world.py _cut())."""
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    from .test_model_faults import GSO, rows

    prog = parse(GSO)
    trace = run_lab(prog, mtu=1500)
    model = run_model(prog, KernelProfile.from_trace(trace))
    assert [r[4] for r in rows(trace)[3:13]] == [4000, 0, 1448, 0, 0, 1448, 0, 0, 1104, 0]
    assert rows(model) == rows(trace)
    assert [s.win for s in model.segments] == [s.win for s in trace.segments]


def test_tiny_sndbuf_verifies_whichever_way_the_receive_buffer_gate_went(lab):
    """tcp_rcv_space_adjust()'s gate at tiny-sndbuf's first read is a race (docs/races.md,
    "drs"): the receiver's RTT estimate is none yet, or 1000 us when the kernel's millisecond
    clock ticked between its SYN-ACK and the data echoing its TS val, against the 1.0-1.4 ms
    since the handshake.  Each run verifies; a run whose buffer grew there (the ACK of all
    the data offers the flipped model's window, 209 x 1024 at the defaults) names the drs
    race, one that did not (106) none.  Measured with the tracepoint tcp_rcvbuf_grow: grown
    6 of 8 idle, 2 of 8 beside two CPU-bound processes (then the window measure's 496-687 us
    came first), 5 of 10 untraced."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile
    from tcpsim.sim.world import run_model

    def last_window(trace):  # the receiver's window on its ACK of the last data
        rows = exchange(trace)
        end = max(r[2] + r[5] for r in rows if r[0] == "client" and r[5])
        return next(r[4] for r in rows if r[0] == "server" and r[3] == end)

    prog = load("tiny-sndbuf")
    for _ in range(3):
        trace = run_lab(prog)
        profile = KernelProfile.from_trace(trace)
        held = hold_lab(trace, prog, profile)
        assert held.ok and held.outcome is None, [d.sentence for d in held.differences]
        plain, grown = (last_window(run_model(prog, profile, flips=f)) for f in (set(), {0}))
        assert plain != grown
        if last_window(trace) == plain:
            assert held.races == []
        else:
            assert last_window(trace) == grown
            assert [r.kind for r in held.races] == ["drs"]


def test_a_300k_write_with_its_second_packet_lost_verifies_with_the_receive_buffer_race(lab):
    """tests/programs/lost-segment-300k.tcp: the model grows the receiver's buffer at the
    read's third skb, where the kernel (its RTT 86-133 us, the model's 60) had not yet
    measured; verify flips that drs race (docs/races.md) and the whole exchange matches: the
    windows after the read are the kernel's."""
    from tcpsim.compare.against import hold_lab
    from tcpsim.model import KernelProfile

    prog = load(str(PROGRAMS / "lost-segment-300k.tcp"))
    trace = run_lab(prog)
    held = hold_lab(trace, prog, KernelProfile.from_trace(trace))
    assert held.ok and held.outcome is None, [d.sentence for d in held.differences]
    assert all(r.kind == "drs" for r in held.races)
