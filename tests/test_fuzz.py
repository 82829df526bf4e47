"""Fuzzing: no input crashes or hangs tcpsim (issue 16, item 7).

Mutations of the project's own inputs (the captures under captures/, the built-in programs, the
Trace JSON beside each capture) go through the library paths the commands take.  The outcome
must be a result or a TcpsimError with a one-line message (what cli.py's _Group shows), never
another exception and never a hang: each case runs under a wall-clock alarm.

Each test is bounded for CI (a few hundred cases, well under 20 s on 2 cores); set
TCPSIM_FUZZ_EXAMPLES to run more.  A crash found here is fixed and its input kept as an
explicit regression test (at the bottom of this file, and in test_scenario_format.py and
test_trace.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from tcpsim.compare.against import hold_capture
from tcpsim.compare.report import render_text, write_json
from tcpsim.errors import TcpsimError
from tcpsim.model import KernelProfile
from tcpsim.model.profile import NUMERIC_SYSCTLS
from tcpsim.pcap.reader import Reader
from tcpsim.scenario import ScenarioError, builtin_names, load, parse
from tcpsim.sim.explore import explore, signature
from tcpsim.sim.world import run_model
from tcpsim.trace import Trace

from .conftest import CAPTURES

EXAMPLES = int(os.environ.get("TCPSIM_FUZZ_EXAMPLES", "0"))
# A case that runs this long counts as a hang.  Counted in the process's own CPU time
# (ITIMER_PROF), with a backstop of wall-clock time for a case blocked without computing:
# wall time alone counted other processes' turns on a busy machine (measured: exploring
# request-response-100, 20 schedules, takes 4.1 s idle and passed 10 s of wall time in a
# suite beside other work, a "hang" that was only waiting for the CPU).  20 s of CPU, not 10:
# transfer-both-ways with its client's send mutated to 268435456 bytes explores its 30
# schedules in 8.4 s of CPU idle at session 13's end (8fa966b) and 8.7 s at session 14's,
# and passed 10 s in a suite beside four other jobs: slow (issue 21), not a hang.
CPU = 20.0
WALL = 60.0


def _settings(n: int):
    return settings(max_examples=EXAMPLES or n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Hang(Exception):
    """A case ran for CPU seconds of its own CPU time, or WALL seconds on the clock."""


@contextmanager
def _alarm(cpu: float = CPU, wall: float = WALL):
    def ring(signum, frame):
        what = "of CPU time" if signum == signal.SIGPROF else "of wall-clock time"
        raise Hang(f"no outcome after {cpu if signum == signal.SIGPROF else wall:g} s {what}")

    old = signal.signal(signal.SIGALRM, ring), signal.signal(signal.SIGPROF, ring)
    signal.setitimer(signal.ITIMER_PROF, cpu)
    signal.setitimer(signal.ITIMER_REAL, wall)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGALRM, old[0])
        signal.signal(signal.SIGPROF, old[1])


def _outcome(fn):
    """fn()'s result, or the TcpsimError it raised, checked to be one clear sentence."""
    with _alarm():
        try:
            result = fn()
        except TcpsimError as e:
            sentence = e.message if isinstance(e, ScenarioError) else str(e)
            assert sentence and "\n" not in sentence and "Traceback" not in sentence, sentence
            _event(fn, type(e).__name__)
            return e
    _event(fn, "a result")
    return result


def _event(fn, what: str) -> None:
    """Count the outcomes, for --hypothesis-show-statistics."""
    if currently_in_test_context():
        event(f"{getattr(fn, '__name__', 'call')}: {what}")


PROFILE = KernelProfile.named("reference")
PCAPS = sorted(p for p in CAPTURES.glob("*.pcap") if p.stem in builtin_names())
TRACES = sorted(CAPTURES.glob("*.json"))
PROGRAMS = {n: load(n).text for n in builtin_names()}


@cache
def _capture(name: str) -> bytes:
    return (CAPTURES / f"{name}.pcap").read_bytes()


def _mutate_bytes(data, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "repeat"]))
        at = data.draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "flip" and out:
            out[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[at] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif kind == "cut":
            del out[at:at + data.draw(st.integers(1, 64))]
        elif kind == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:  # a block again, as a record written twice
            n = data.draw(st.integers(1, 64))
            out[at:at] = out[at:at + n]
    return bytes(out)


@contextmanager
def _file(suffix: str, content: bytes):
    fd, name = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        yield Path(name)
    finally:
        os.unlink(name)


# -- captures: the pcap reader, the tracker, and compare --program ---------------------------

@_settings(200)
@given(st.data())
def test_mutated_captures_give_findings_or_one_sentence(data):
    name = data.draw(st.sampled_from([p.stem for p in PCAPS]), label="capture")
    raw = _mutate_bytes(data, _capture(name))
    with _file(".pcap", raw) as path:
        _outcome(lambda: render_text(path, Console(file=io.StringIO())))
        _outcome(lambda: write_json(path, io.StringIO()))

        def against():  # compare CAPTURE --program NAME, with a short walk
            with Reader(path, payload=True) as reader:
                packets = list(reader)
            return hold_capture(packets, load(name), PROFILE, limit=20)

        _outcome(against)


# -- programs: parse, then run in the model --------------------------------------------------

# What a mutation may put in a program: the format's own words, and numbers at the edges of
# what the parser takes (C int, 16-bit poll mask, a day, 256 MiB).
_WORDS = ["socket()", "bind", "listen", "accept", "connect", "send", "recv", "close", "shutdown",
          "setsockopt", "getsockopt", "fcntl", "poll", "sleep", "exit", "net:", "drop", "delay",
          "all", "after", "by", "from", "SYN", "SYN-ACK", "ACK", "FIN", "RST", "SO_LINGER",
          "SO_REUSEADDR", "TCP_NODELAY", "TCP_SYNCNT", "SO_RCVBUF", "SO_SNDBUF", "TCP_MAXSEG",
          "SO_ERROR", "SOL_SOCKET", "IPPROTO_TCP", "MSG_PEEK", "MSG_DONTWAIT", "MSG_NOSIGNAL",
          "MSG_MORE", "SHUT_RD", "SHUT_WR", "SHUT_RDWR", "F_SETFL", "F_GETFL", "O_NONBLOCK",
          "POLLIN", "POLLOUT", "POLLHUP", "POLLRDHUP", "AF_INET", "AF_INET6", "SOCK_NONBLOCK",
          "EPIPE", "ECONNREFUSED", "EAGAIN", "-1", "0", "1", "01", "00", "0x7fffffff",
          "2147483647", "2147483648", "-2147483648", "4294967296", "65535", "65536", "268435456",
          "99999999999", "100000000000000000000", "{1, 0}", "{0, 1}", "{4294967296, 0}",
          "{1, 2147483647}", "0ms", "1ns", "300ms", "1s", "86400s", "86401s", "60s",
          "100000000000000000000s", "0.5s", "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0",
          "127.0.0.1:0", "999.0.0.1:80", "[::1]:99999", '"x"', '"\\x00\\n"', '"', "(", ")",
          ",", ":", "=", "|", "{", "}", "#", "\n", " "]


# Values of each kind of token, for a mutation that keeps the line's syntax
_VALUES = {
    "number": ["0", "1", "-1", "2", "3", "19", "100", "1024", "65535", "65536", "0x10",
               "2147483647", "-2147483648", "268435456", "268435457", "4294967296", "01"],
    "duration": ["0ns", "1ns", "1us", "5ms", "40ms", "200ms", "1s", "60s", "61s", "3600s",
                 "86400s", "86400.5s", "100000000000000000000s"],
    "string": ['""', '"x"', '"\\0"', '"\\xff\\n"', '"' + "y" * 300 + '"'],
    "addr": ["127.0.0.1:8080", "127.0.0.1:0", "0.0.0.0:8080", "[::1]:8080", "[::]:0",
             "127.0.0.2:8080", "255.255.255.255:1", "127.0.0.1:65535"],
}
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\[[0-9A-Fa-f:.]*\]:\d+|\d{1,3}(?:\.\d{1,3}){3}:\d+'
                    r"|\d+(?:\.\d+)?(?:ns|us|ms|s)\b|-?(?:0[xX][0-9A-Fa-f]+|\d+)")


def _kind(token: str) -> str:
    if token.startswith('"'):
        return "string"
    if ":" in token:
        return "addr"
    return "duration" if token[-1] == "s" else "number"


def _mutate_text(data, text: str) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["value", "value", "value", "word", "drop", "copy",
                                          "swap", "char"]))
        if not lines:
            lines = [""]
        i = data.draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        spans = [m for m in _TOKEN.finditer(line) if not line.lstrip().startswith("#")]
        if kind == "value" and spans:  # a value of the same kind: the syntax holds
            m = data.draw(st.sampled_from(spans))
            lines[i] = (line[:m.start()] + data.draw(st.sampled_from(_VALUES[_kind(m.group())]))
                        + line[m.end():])
        elif kind in ("word", "value"):  # one token-ish span of the line replaced by a word of the format
            at = data.draw(st.integers(0, len(line)))
            n = data.draw(st.integers(0, 12))
            lines[i] = line[:at] + data.draw(st.sampled_from(_WORDS)) + line[at + n:]
        elif kind == "drop":
            del lines[i]
        elif kind == "copy":
            lines.insert(data.draw(st.integers(0, len(lines))), line)
        elif kind == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            at = data.draw(st.integers(0, len(line)))
            lines[i] = line[:at] + data.draw(st.characters(codec="utf-8")) + line[at + 1:]
    return "\n".join(lines) + "\n"


@_settings(400)
@given(st.data())
def test_mutated_programs_run_or_get_one_sentence(data):
    name = data.draw(st.sampled_from(sorted(PROGRAMS)), label="program")
    text = _mutate_text(data, PROGRAMS[name])
    program = _outcome(lambda: parse(text, source=f"{name}.tcp", name=name))
    if not isinstance(program, TcpsimError):
        _outcome(lambda: run_model(program, PROFILE, timeout=2.0))
        _outcome(lambda: explore(program, PROFILE, timeout=2.0, limit=30))


# -- the Trace JSON beside each capture ------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40)
    | st.sampled_from([0, -1, 2**32, 65536, 0.5, "", "x", "zz", "00", "127.0.0.1:1", "S.",
                       "call", "segment", "state", "TS", "sack", "mss", "4096 131072 6291456"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


def _places(d, path=()):
    """Every place in a JSON document, as the path of keys and indexes to it."""
    yield path
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _places(v, path + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d[:4]):  # the first few events stand for the rest
            yield from _places(v, path + (i,))


@cache
def _trace_doc(name: str) -> str:
    return (CAPTURES / name).read_text()


def _same_type(value):
    if isinstance(value, bool) or value is None:
        return st.sampled_from([True, False, None])
    if isinstance(value, int):
        return st.sampled_from([0, 1, -1, 68, 255, 256, 65535, 65536, 2**31, 2**32 - 1, 2**32,
                                2**64]) | st.integers()
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -1.0])
    if isinstance(value, str):
        return st.sampled_from([value[:-1], value + "0", value.upper(), value.replace(":", ""),
                                "", "0", "-1", "1 2 3", "4096 131072", "abc", "127.0.0.1:99999",
                                "[::1]:1", "S.F"])
    return st.just(value)


def _mutate_json(data, doc):
    if isinstance(doc.get("sysctls"), dict) and data.draw(st.booleans(), label="a sysctl"):
        # the values the model reads: the few paths most mutations of the document miss
        key = data.draw(st.sampled_from(sorted(NUMERIC_SYSCTLS)))
        doc["sysctls"][key] = data.draw(
            _same_type(doc["sysctls"].get(key, "1")) | st.lists(
                st.sampled_from(["0", "1", "-1", "127", "128", "255", "256", "1024", "32768",
                                 "60999", "65535", "65536", "2147483647", "2147483648"]),
                min_size=1, max_size=3).map(" ".join))
        return doc
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        places = list(_places(doc))
        path = data.draw(st.sampled_from(places))
        kind = data.draw(st.sampled_from(["tweak", "tweak", "set", "delete", "wrap"]))
        if not path:
            doc = data.draw(_JSON) if kind == "set" else [doc]
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        if kind == "tweak":  # a value of the same JSON type: the shape may hold
            parent[path[-1]] = data.draw(_same_type(old))
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = data.draw(_JSON)
    return doc


def _use(path: Path):
    """What compare --program does with the Trace JSON beside a capture, and what the tests
    and verify do with a loaded trace."""
    trace = Trace.load(path)
    profile = KernelProfile.from_trace(trace, where=f"trace {path}")
    trace.relative()
    signature(trace)
    run_model(load("handshake"), profile, timeout=2.0)
    return trace


@_settings(400)
@given(st.data())
def test_mutated_trace_json_loads_or_gets_one_sentence(data):
    name = data.draw(st.sampled_from([p.name for p in TRACES]), label="trace")
    if data.draw(st.booleans(), label="as text"):
        content = _mutate_bytes(data, _trace_doc(name).encode())
    else:
        content = json.dumps(_mutate_json(data, json.loads(_trace_doc(name)))).encode()
    with _file(".json", content) as path:
        _outcome(lambda: _use(path))


# -- what fuzzing found, kept -------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("client: close(fd) = 01", "'01' starts with 0"),
    ("client: setsockopt(fd, SO_LINGER, {4294967296, 0})", "an int in struct linger"),
    ("client: send(fd, 99999999999)", "from 0 to 268435456"),
    ("client: sleep 100000000000000000000s", "longer than a day"),
])
def test_what_fuzzing_found_in_programs_is_one_sentence_at_once(line, message):
    text = PROGRAMS["handshake"] + line + "\n"
    outcome = _outcome(lambda: parse(text, source="found.tcp"))
    assert isinstance(outcome, ScenarioError) and message in outcome.message


@pytest.mark.parametrize("content, message", [
    ("[]", "at $, an array where it should be an object"),
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [{"type": "call"}]}',
     "'t' is a required property"),
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [], "sockets": [1]}',
     "at $.sockets[0], an integer where it should be an object"),
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [], "drops": {"x": 1}}',
     "'x' is not the number of a net: line"),
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [], "kernel": {"lo_mtu": "x"}}',
     "at $.kernel.lo_mtu, a string where it should be an integer"),
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [], '
     '"sysctls": {"net.ipv4.tcp_rmem": "x"}}', "net.ipv4.tcp_rmem = 'x'"),
    # random.randrange() raised ValueError when the model picked an ephemeral port
    ('{"format": "tcpsim-trace/1", "source": "lab", "events": [], '
     '"sysctls": {"net.ipv4.ip_local_port_range": "32768 6099"}}', "begins above where it ends"),
])
def test_what_fuzzing_found_in_trace_json_is_one_sentence(content, message):
    with _file(".json", content.encode()) as path:
        outcome = _outcome(lambda: _use(path))
    assert isinstance(outcome, TcpsimError) and message in str(outcome)


def test_a_port_range_with_no_free_port_makes_connect_fail_not_crash():
    # found by fuzzing: ip_local_port_range "1 1" leaves connect() no even port, and the model's
    # OSError escaped connect_ex() instead of being connect()'s EADDRNOTAVAIL
    profile = PROFILE.with_sysctls({"net.ipv4.ip_local_port_range": "1 1"})
    outcome = _outcome(lambda: run_model(load("handshake"), profile, timeout=2.0))
    trace = getattr(outcome, "trace", outcome)  # the server then waits in accept(): Stuck
    connect = next(c for c in trace.calls if c.text.startswith("connect"))
    assert (connect.result, connect.errno) == (-1, "EADDRNOTAVAIL")


def test_a_case_that_computes_too_long_counts_as_a_hang():
    """The guard counts the process's own CPU time (a loop is caught), and the clock as a
    backstop (a case that only waits is caught too)."""
    with pytest.raises(Hang, match="of CPU time"):
        with _alarm(cpu=0.2, wall=30):
            while True:
                pass
    with pytest.raises(Hang, match="of wall-clock time"):
        with _alarm(cpu=30, wall=0.2):
            time.sleep(5)
