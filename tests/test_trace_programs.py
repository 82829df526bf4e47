"""`tcpsim trace`: people's own programs on the real kernel, their calls recovered from
strace, their capture held against the program those calls are.

The recorded runs in captures/trace/ are the course's own C programs (scripts/seed/*.c)
traced by scripts/record_trace_samples.py: each command's strace record as strace wrote it,
and the run's capture.  The live tests compile the same programs and trace them anew."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tcpsim.compare.against import hold_traced
from tcpsim.errors import TcpsimError
from tcpsim.lab.strace import parse, split_args
from tcpsim.lab.traced import _name, c_string, recover
from tcpsim.model import KernelProfile
from tcpsim.pcap.reader import Reader
from tcpsim.scenario import load, parse as parse_program
from tcpsim.trace import Trace

from .conftest import ROOT, lab_unavailable, run_cli

SAMPLES = ROOT / "captures" / "trace"
NO_CAPS = ["setpriv", "--securebits", "+noroot,+noroot_locked", "--bounding-set", "-all",
           "--inh-caps", "-all"]


# -- reading strace ------------------------------------------------------------------------

def test_a_call_interrupted_by_another_thread_is_joined_from_its_two_halves():
    rec = parse(
        '7 1.000000 accept(3<TCP:[0.0.0.0:8080]>,  <unfinished ...>\n'
        '8 1.100000 connect(3<TCP:[4711]>, {sa_family=AF_INET, sin_port=htons(8080), '
        'sin_addr=inet_addr("\\x31\\x32\\x37\\x2e\\x30\\x2e\\x30\\x2e\\x31")}, 16) = 0 <0.000110>\n'
        '7 1.200000 <... accept resumed>{sa_family=AF_INET, sin_port=htons(42832), '
        'sin_addr=inet_addr("\\x31")}, [16]) = 4<TCP:[127.0.0.1:8080->127.0.0.1:42832]> <0.212603>\n')
    accept, connect = rec.calls
    assert (accept.name, accept.pid, accept.t) == ("accept", 7, 1.0)
    assert accept.args[0] == "3<TCP:[0.0.0.0:8080]>" and accept.args[2] == "[16]"
    assert accept.result == "4<TCP:[127.0.0.1:8080->127.0.0.1:42832]>" and accept.value == 4
    assert accept.duration == 0.212603 and connect.value == 0


def test_errors_descriptions_and_calls_that_never_returned():
    rec = parse(
        '5 2.0 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("\\x31")}, 16)'
        ' = -1 ECONNREFUSED (Connection refused) <0.000061>\n'
        '5 2.1 fcntl(1<\\x2f>, F_GETFL) = 0x8001 (flags O_WRONLY|O_LARGEFILE) <0.000008>\n'
        '5 2.2 accept(3<TCP:[0.0.0.0:8080]>,  <unfinished ...>) = ?\n'
        '5 2.3 +++ killed by SIGKILL +++\n'
        '6 2.4 recvfrom(3<TCP:[127.0.0.1:1->127.0.0.1:2]>, ')  # strace itself killed mid-line
    refused, fcntl, accept, recv = rec.calls
    assert (refused.result, refused.errno, refused.value) == ("-1", "ECONNREFUSED", -1)
    assert fcntl.value == 0x8001 and fcntl.errno is None
    assert not accept.returned and accept.args == ["3<TCP:[0.0.0.0:8080]>"]
    assert not recv.returned
    assert [e.how for e in rec.exits] == ["killed by SIGKILL"]


def test_a_line_strace_does_not_write_is_named():
    with pytest.raises(TcpsimError, match=r"trace.txt:1: not a line strace -f -ttt writes"):
        parse("hello\n", "trace.txt")


def test_arguments_split_at_top_level_commas_only():
    assert split_args('4<TCP:[127.0.0.1:8080->127.0.0.1:1]>, "\\x2c\\x29", 19, {a=1, b=[2, 3]}') == \
        ["4<TCP:[127.0.0.1:8080->127.0.0.1:1]>", '"\\x2c\\x29"', "19", "{a=1, b=[2, 3]}"]


def test_sent_bytes_are_written_as_the_format_reads_them():
    text = c_string(b'Hello "x"\\\n\x00\xff')
    assert text == '"Hello \\"x\\"\\\\\\n\\x00\\xff"'
    prog = parse_program(f"a: s = socket(AF_INET, SOCK_STREAM, 0)\na: send(s, {text})\n")
    assert prog.steps[1].args[1] == b'Hello "x"\\\n\x00\xff'


# -- the recorded runs of the course's programs -------------------------------------------

RECORDED = {"seed": ["./server", "./client"], "seed-refused": ["./client", "./server"],
            "forking": ["./forking-server 3", "./request-client a", "./request-client b",
                        "./request-client c"]}


def _recorded(name: str):
    commands = RECORDED[name]
    records = [parse((SAMPLES / f"{name}.{i}.strace").read_text()) for i in range(len(commands))]
    taken: set[str] = set()
    names = [_name(c, taken) for c in commands]
    trace = Trace.load(SAMPLES / f"{name}.json")
    traced = recover(records, names, commands, tuple(s.t + trace.t0 for s in trace.segments))
    return traced, trace


def _calls(program) -> dict[str, list[tuple]]:
    """Each process's calls with its descriptors numbered in the order they appear, so that
    two programs that differ only in their names compare equal."""
    out: dict[str, list[tuple]] = {}
    for p in program.processes:
        names: dict[str, str] = {}

        def norm(v, names=names):
            if isinstance(v, str) and (v in names or v.isidentifier() and v not in ("AF_INET",)):
                return names.setdefault(v, f"d{len(names)}")
            return v
        rows = []
        for s in program.steps_of(p):
            if s.assign:
                norm(s.assign)
            args = tuple(norm(a) if i == 0 else a for i, a in enumerate(s.args))
            rows.append((s.call, args, None if s.expect is None else str(s.expect)))
        out[p] = rows
    return out


def test_the_course_programs_are_the_handshake_program_up_to_names():
    traced, _ = _recorded("seed")
    assert traced.unsupported == []
    assert _calls(traced.program) == _calls(load("handshake"))


def test_the_traced_run_of_the_course_programs_is_an_exchange_of_their_program():
    traced, trace = _recorded("seed")
    with Reader(str(SAMPLES / "seed.pcap"), payload=True) as r:
        packets = list(r)
    held = hold_traced(packets, traced.trace, traced.program, KernelProfile.from_trace(trace))
    assert held.ok, [d.sentence for d in held.differences]


def test_the_runs_segments_are_the_packets_a_reader_of_its_pcap_finds():
    """trace holds the run's own frames, decoded as the pcap reader decodes them (no pcap
    written and read back): the same packets, fields, payloads and times."""
    from tcpsim.compare.against import trace_packets

    for name in RECORDED:
        trace = Trace.load(SAMPLES / f"{name}.json")
        with Reader(str(SAMPLES / f"{name}.pcap"), payload=True) as r:
            read = list(r)
        mine = trace_packets(trace)
        assert [(p.src, p.dst, p.flags, p.seq, p.ack, p.win, p.options, p.payload)
                for p in mine] == [(p.src, p.dst, p.flags, p.seq, p.ack, p.win, p.options,
                                    p.payload) for p in read]
        assert [round(p.t - mine[0].t, 6) for p in mine] == \
            [round(p.t - read[0].t, 6) for p in read]


def test_a_result_the_model_does_not_give_is_a_difference():
    """The same run, its program claiming the client read 18 bytes: the model reads 19."""
    traced, trace = _recorded("seed")
    text = traced.text.replace("recv(s, 1024, 0)                    = 19",
                               "recv(s, 1024, 0)                    = 18")
    assert text != traced.text
    with Reader(str(SAMPLES / "seed.pcap"), payload=True) as r:
        packets = list(r)
    held = hold_traced(packets, traced.trace, parse_program(text), KernelProfile.from_trace(trace))
    assert not held.ok
    assert "client: recv(s, 1024, 0) returned 18 on the kernel but 19 in the model" in \
        [d.sentence for d in held.differences]


def test_a_refused_client_and_a_server_left_in_accept_match_the_model():
    traced, trace = _recorded("seed-refused")
    assert [ln for ln in traced.text.splitlines() if not ln.startswith("#")] == [
        "client: s = socket(AF_INET, SOCK_STREAM, 0)",
        "client: connect(s, 127.0.0.1:8080)          = -1 ECONNREFUSED",
        "client: exit",  # perror(); exit(EXIT_FAILURE): the kernel closes the socket
        "server: s = socket(AF_INET, SOCK_STREAM, 0)",
        "server: bind(s, 0.0.0.0:8080)               = 0",
        "server: listen(s, 3)                        = 0",
        "server: accept(s)"]
    with Reader(str(SAMPLES / "seed-refused.pcap"), payload=True) as r:
        packets = list(r)
    assert [p.flags for p in packets] == [0x02, 0x14]  # SYN, RST|ACK
    held = hold_traced(packets, traced.trace, traced.program, KernelProfile.from_trace(trace))
    assert held.ok, [d.sentence for d in held.differences]


def test_a_forking_server_in_c_is_recovered_with_its_forks():
    """scripts/seed/forking-server.c: the parent accepts, forks, closes its copy; each child
    closes the listener, answers and closes the connection (the socket's last descriptor)."""
    traced, trace = _recorded("forking")
    assert traced.unsupported == []
    prog = traced.program
    assert prog.processes[:1] == ("forking_server",)
    children = [s.args[0] for s in prog.steps if s.call == "fork"]
    assert children == ["child1", "child2", "child3"]
    for i, child in enumerate(children, 1):
        c = "c" if i == 1 else f"c{i}"
        assert [s.text for s in prog.steps_of(child)] == [
            "close(s)", f"recv({c}, 100, 0)", f'send({c}, "{"abc"[i - 1]}!", 0)', f"close({c})"]
    with Reader(str(SAMPLES / "forking.pcap"), payload=True) as r:
        packets = list(r)
    held = hold_traced(packets, traced.trace, prog, KernelProfile.from_trace(trace))
    assert held.ok, [d.sentence for d in held.differences]


# -- live: the course's programs compiled and traced anew -----------------------------------

@pytest.fixture(scope="module")
def seed_binaries(tmp_path_factory):
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"live trace test: {reason}")
    for tool in ("gcc", "strace"):
        if shutil.which(tool) is None:
            pytest.skip(f"live trace test: {tool} is not installed (scripts/test installs it)")
    where = tmp_path_factory.mktemp("seed")
    for name in ("server", "client", "forking-server", "request-client"):
        subprocess.run(["gcc", "-O2", "-o", str(where / name),
                        str(ROOT / "scripts" / "seed" / f"{name}.c")], check=True)
    return where


def test_trace_the_course_programs_three_times_in_a_row(seed_binaries, tmp_path):
    for run in range(3):
        saved = tmp_path / f"mine{run}.tcp"
        r = run_cli("trace", "./server", "./client", "--save", saved, cwd=seed_binaries)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "match server, client:" in r.stdout
        assert "Server listening on port 8080" in r.stdout  # what the programs printed
        assert _calls(load(str(saved))) == _calls(load("handshake"))


def test_trace_a_forking_server_with_three_clients(seed_binaries):
    r = run_cli("trace", "./forking-server 3", "./request-client a", "./request-client b",
                "./request-client c", cwd=seed_binaries)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match forking_server, child1, child2, child3, request_client, request_client2, " \
           "request_client3:" in r.stdout
    assert "fork(child3)" in r.stdout


def test_a_command_that_does_not_run_is_named(seed_binaries):
    r = run_cli("trace", "./no-such-server", cwd=seed_binaries)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("tcpsim: './no-such-server' could not be run (")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_trace_without_privileges_says_what_is_missing():
    r = subprocess.run(NO_CAPS + [sys.executable, "-m", "tcpsim", "trace", "./server"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 3
    assert r.stderr.strip() == ("tcpsim: tcpsim trace needs to create a private network "
                                "namespace, which takes root (CAP_SYS_ADMIN): run it as root, "
                                "for example with sudo")


def _running(exe) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/exe") == str(exe):
                    out.append(int(d))
            except OSError:
                pass
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_traced_program_outlives_tcpsim_however_it_dies(seed_binaries, sig):
    """The server waits in accept() for ever; tcpsim is killed: the server goes with it."""
    err = tempfile.TemporaryFile()
    # SIGINT as a terminal's Ctrl-C finds it: a suite started in the background by a
    # non-interactive shell has SIGINT ignored, tcpsim would inherit that and keep ignoring it
    # (as a background job should): seen in a loaded run of .ci/run (test_cli does the same)
    p = subprocess.Popen([sys.executable, "-m", "tcpsim", "trace", "./server", "--timeout", "60"],
                         cwd=seed_binaries, stdout=subprocess.DEVNULL, stderr=err,
                         env={**os.environ, "PYTHONPATH": str(ROOT)},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    server = seed_binaries / "server"
    deadline = time.time() + 30
    while not _running(server) and time.time() < deadline:
        time.sleep(0.05)
    assert _running(server), "the traced server never started"
    p.send_signal(sig)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()  # what it said so far tells where it was
        p.wait()
        err.seek(0)
        pytest.fail(f"tcpsim trace did not end within 30 s of {sig!r}; it said: "
                    f"{err.read().decode(errors='replace')[-2000:]!r}")
    deadline = time.time() + 10
    while _running(server) and time.time() < deadline:
        time.sleep(0.05)
    assert _running(server) == []
    # its work directory (the strace logs) goes with it; after SIGKILL, at the next run
    left = list(Path(tempfile.gettempdir()).glob(f"tcpsim-trace-{p.pid}-*"))
    if sig == signal.SIGKILL:
        assert len(left) == 1
        from tcpsim.lab.traced import _sweep_stale_dirs
        _sweep_stale_dirs()
        left = [d for d in left if d.exists()]
    assert left == []


PY_SERVER = """\
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(3)
c, addr = s.accept()
c.sendall(b"echo: " + c.recv(1024))
c.close()
s.close()
"""
PY_CLIENT = """\
import socket
with socket.create_connection(("127.0.0.1", 8080)) as fd:
    fd.sendall(b"hello\\n")
    print(fd.recv(1024))
"""


def test_trace_python_programs(seed_binaries, tmp_path):
    """Python's socket module: accept4(SOCK_CLOEXEC), sendto for sendall(), getsockname()
    (left out: it changes nothing on the wire)."""
    (tmp_path / "server.py").write_text(PY_SERVER)
    (tmp_path / "client.py").write_text(PY_CLIENT)
    r = run_cli("trace", f"{sys.executable} server.py", f"{sys.executable} client.py",
                cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match server, client:" in r.stdout
    assert 'server: send(c, "echo: hello\\n", 0)' in r.stdout
    assert "server: setsockopt(s, SO_REUSEADDR, 1)" in r.stdout


CC_SERVER = """
import socket
l = socket.socket()
l.bind(("127.0.0.1", 8080)); l.listen(1)
c, _ = l.accept()
for sk in (l, c):
    print(sk.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\\0").decode())
c.close(); l.close()
"""
CC_CLIENT = """
import socket
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")
s.connect(("127.0.0.1", 8080))
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\\0").decode())
s.close()
"""


def test_traced_programs_run_linux_default_congestion_control(seed_binaries, tmp_path):
    """This machine's default is bbr, which the model does not have, and a namespace may not
    choose cubic by sysctl: the run's routes pin cubic (congctl, tcp_ca_dst_init()) on every
    connection, even over a program's own TCP_CONGESTION (the client asks for reno), without a
    call of tcpsim's in the programs' record.  The listener itself keeps the namespace's
    default (a route applies at connect() and to each child, not to a listening socket)."""
    (tmp_path / "server.py").write_text(CC_SERVER)
    (tmp_path / "client.py").write_text(CC_CLIENT)
    r = run_cli("trace", f"{sys.executable} server.py", f"{sys.executable} client.py",
                "--json", tmp_path / "run.json", cwd=tmp_path)
    out = r.stdout
    default = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    server = out[out.index("server printed:"):].splitlines()[1:3]
    client = out[out.index("client printed:"):].splitlines()[1:2]
    assert [ln.strip("| ").strip() for ln in server + client] == [default, "cubic", "cubic"], out
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["kernel"]["congestion_control"] == "cubic"
    assert run["kernel"]["default_congestion_control"] == default
    assert "ran congestion control" not in out  # no note: the model's and the run's agree


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_pythons_threaded_http_server_and_curl(seed_binaries, tmp_path):
    """Programs nobody on the team wrote: Python's http.server answers curl on a thread of
    its own (thread(): one descriptor table shared), sends the page in two writes and
    half-closes; curl is non-blocking (EINPROGRESS, SO_ERROR).  The calls that change nothing
    on the wire are left out and named."""
    r = run_cli("trace", f"{sys.executable} -m http.server 8080 --bind 127.0.0.1",
                "curl -s http://127.0.0.1:8080/", "--timeout", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match http, thread1, curl:" in r.stdout
    for line in ("http: thread(thread1)", "curl: connect(s, 127.0.0.1:8080)",
                 "thread1: shutdown(c, SHUT_WR)"):
        assert line in r.stdout
    assert "setsockopt(SOL_IPV6, IPV6_V6ONLY) = -1 ENOPROTOOPT" in r.stdout  # left out
    assert "was still waiting after 1 s" in r.stdout  # the server serves for ever: killed


PY_EPOLL_SERVER = """\
import select, socket
s = socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(3)
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLIN)
served, conns = 0, {}
while served < 2:
    for fd, ev in ep.poll():
        if fd == s.fileno():
            c, _ = s.accept(); conns[c.fileno()] = c; ep.register(c.fileno(), select.EPOLLIN)
        else:
            c = conns.pop(fd); c.sendall(c.recv(100).upper()); ep.unregister(fd); c.close()
            served += 1
ep.close(); s.close()
"""


def test_trace_an_epoll_server(seed_binaries, tmp_path):
    """select.epoll: epoll_create1, epoll_ctl ADD/DEL, epoll_wait, two clients in turn."""
    (tmp_path / "epserver.py").write_text(PY_EPOLL_SERVER)
    (tmp_path / "client.py").write_text(PY_CLIENT)
    r = run_cli("trace", f"{sys.executable} epserver.py", f"{sys.executable} client.py",
                f"{sys.executable} client.py", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match epserver, client, client2:" in r.stdout
    # (the interpreter may make an epoll of its own at start-up: then the server's is ep2)
    assert re.search(r"epoll_ctl\(ep2?, EPOLL_CTL_ADD, c2, EPOLLIN\)", r.stdout)


C_SELECT_SERVER = r"""
#include <arpa/inet.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(8080); a.sin_addr.s_addr = INADDR_ANY;
    bind(s, (struct sockaddr *)&a, sizeof a); listen(s, 3);
    fd_set r; FD_ZERO(&r); FD_SET(s, &r);
    select(s + 1, &r, NULL, NULL, NULL);
    int c = accept(s, NULL, NULL);
    fd_set r2; FD_ZERO(&r2); FD_SET(c, &r2);
    struct timeval tv = {2, 0};
    if (select(c + 1, &r2, NULL, NULL, &tv) > 0) {
        char buf[100]; ssize_t n = recv(c, buf, sizeof buf, 0);
        send(c, buf, n, 0);
    }
    close(c); close(s);
    return 0;
}
"""


def test_trace_a_select_server_in_c(seed_binaries, tmp_path):
    """select() of one socket (glibc calls pselect6) is the format's poll() of it."""
    (tmp_path / "sel.c").write_text(C_SELECT_SERVER)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "sel"), str(tmp_path / "sel.c")], check=True)
    (tmp_path / "client.py").write_text(PY_CLIENT)
    r = run_cli("trace", "./sel", f"{sys.executable} client.py", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match sel, client:" in r.stdout
    assert "sel: poll(s, POLLIN)" in r.stdout and "sel: poll(c, POLLIN, 2000ms)" in r.stdout


C_DUP2_SERVER = r"""
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(8080); a.sin_addr.s_addr = INADDR_ANY;
    bind(s, (struct sockaddr *)&a, sizeof a); listen(s, 3);
    int c = accept(s, NULL, NULL);
    dup2(c, s);  /* the listener goes; s is the connection now */
    close(c);    /* s still holds it: nothing is sent */
    char buf[100]; ssize_t n = recv(s, buf, sizeof buf, 0);
    send(s, buf, n, 0);
    close(s);    /* the last descriptor: FIN */
    return 0;
}
"""


def test_dup2_onto_an_open_socket_closes_it_first(seed_binaries, tmp_path):
    """dup2(c, s) with s open: the kernel closes s's file first (do_dup2()), silently; the
    program has close(s), then s's number as a dup of c, and the FIN waits for its close."""
    (tmp_path / "dupsrv.c").write_text(C_DUP2_SERVER)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "dupsrv"), str(tmp_path / "dupsrv.c")],
                   check=True)
    (tmp_path / "client.py").write_text(PY_CLIENT)
    r = run_cli("trace", "./dupsrv", f"{sys.executable} client.py", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match dupsrv, client:" in r.stdout
    program = r.stdout.split("--save writes it):", 1)[1]
    server = [re.sub(r"\s{2,}= .*", "", line.split(":", 1)[1]).strip()
              for line in program.splitlines()
              if line.strip().startswith("dupsrv:")]
    assert server[server.index("c = accept(s)"):] == [
        "c = accept(s)", "close(s)", "d = dup(c)", "close(c)", "recv(d, 100, 0)",
        'send(d, "hello\\n", 0)', "close(d)"], program
    assert "close(s) = 0 (dup2(c, s) closed it first, silently)" in r.stdout
    timeline = r.stdout.split("The program these calls are", 1)[0].splitlines()
    fin = next(i for i, line in enumerate(timeline) if "dupsrv:8080 > client" in line
               and "[F.]" in line)
    assert fin > next(i for i, line in enumerate(timeline) if "close(d) = 0" in line)
