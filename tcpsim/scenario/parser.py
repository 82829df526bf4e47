"""Parse scenario programs (see docs/scenario-format.md).

Every error names the line and column and says, in one sentence, what is wrong and what would
be right.  The parser checks each call against the table in calls.py and each descriptor name
against what that process has created so far.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import TcpsimError
from .calls import (CALLS, ERRNO_NAMES, FLAG_GROUPS, INT_MAX, INT_MIN, MAX_DATA, MAX_DURATION_NS,
                    SOCKOPTS, SYMBOLS, USHRT_MAX, CallSpec, Param, errno_value)
from .syntax import ANY, FAULT_KINDS, Address, Expect, Fault, Linger, Program, Step


class ScenarioError(TcpsimError):
    """A program that cannot be parsed; str() gives 'file:line:col: message' and the line."""

    def __init__(self, source: str, line: int, col: int, message: str, text: str = ""):
        self.source, self.line, self.col, self.message, self.text = source, line, col, message, text
        where = f"{source}:{line}:{col}: {message}"
        if text:
            where += f"\n    {text}\n    {' ' * (col - 1)}^"
        super().__init__(where)


_TOKEN = re.compile(
    r"""
     (?P<ws>[ \t\r]+)
    |(?P<comment>\#.*)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<badstring>"[^\n]*)
    |(?P<addr>(?:\[[0-9A-Fa-f:.]*\]|\d{1,3}(?:\.\d{1,3}){3}):\d+)
    |(?P<ip>\d{1,3}(?:\.\d{1,3}){3})
    |(?P<duration>\d+(?:\.\d+)?(?:ns|us|ms|s)\b)
    |(?P<number>-?(?:0[xX][0-9A-Fa-f]+|\d+))
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.-]*)
    |(?P<punct>[():,=|{}])
    """,
    re.VERBOSE,
)

_NUMGEN = 10**9 - 1  # the largest count of segments a net line may name (nft_rule's modulus)
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_FILLER = bytes(range(97, 97 + 26))  # send(fd, N): N bytes of a..z repeated
_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}


@dataclass
class _Tok:
    kind: str
    text: str
    col: int  # 1-based


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


class _Line:
    """Recursive descent over the tokens of one line."""

    def __init__(self, source: str, lineno: int, text: str):
        self.source, self.lineno, self.text = source, lineno, text
        self.toks: list[_Tok] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(pos + 1, f"unexpected character {text[pos]!r}")
            kind = m.lastgroup
            if kind == "badstring":
                self.fail(pos + 1, 'this string has no closing quote (")')
            if kind == "number":
                self._check_number(m.group(), pos + 1)
            if kind not in ("ws", "comment"):
                self.toks.append(_Tok(kind, m.group(), pos + 1))
            pos = m.end()
        self.i = 0

    def _check_number(self, text: str, col: int) -> None:
        """Every number token reads with int(text, 0) later: refuse here the ones it cannot."""
        digits = text.lstrip("-")
        if len(digits) > 30:
            self.fail(col, f"the number '{text[:12]}...' has {len(digits)} digits; no call takes "
                      "one that long")
        if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX" and digits.strip("0"):
            # C reads 010 as octal 8, Python refuses it: neither reading can be assumed
            self.fail(col, f"'{text}' starts with 0, which C reads as octal; write it without "
                      f"the leading zero ({int(digits):d}), or in hex (0x...)")

    def number(self, tok: _Tok, lo: int, hi: int, what: str) -> int:
        """The value of a number token, refused with a sentence outside lo..hi."""
        value = int(tok.text, 0)
        if not lo <= value <= hi:
            self.fail(tok.col, f"{what} must be from {lo} to {hi}, not {tok.text}")
        return value

    # -- token helpers -------------------------------------------------------------------
    def fail(self, col: int, message: str):
        raise ScenarioError(self.source, self.lineno, col, message, self.text.rstrip())

    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def end_col(self) -> int:
        return len(self.text.rstrip()) + 1

    def next(self, what: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            self.fail(self.end_col(), f"the line ends where {what} was expected")
        self.i += 1
        return tok

    def expect_punct(self, p: str, what: str) -> _Tok:
        tok = self.peek()
        if tok is None or tok.text != p:
            col = tok.col if tok else self.end_col()
            got = f"found {tok.text!r}" if tok else "the line ends"
            self.fail(col, f"expected '{p}' {what}, but {got}")
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.text == text


class Parser:
    def __init__(self, source: str = "<program>"):
        self.source = source

    def parse(self, text: str, name: str = "program") -> Program:
        steps: list[Step] = []
        names: dict[str, set[str]] = {}  # process -> descriptor names created so far
        exited: dict[str, int] = {}
        forked: dict[str, int] = {}  # child process -> the line that forked it
        description: list[str] = []
        fault_lines: list[_Line] = []
        sysctl_lines: list[tuple[str, str]] = []
        in_header = True
        for lineno, raw in enumerate(text.splitlines(), 1):
            stripped = raw.strip()
            if in_header and stripped.startswith("#"):
                description.append(stripped.lstrip("#").strip())
                continue
            if stripped:
                in_header = False
            if re.match(r"\s*sysctl\s*:", raw):  # before tokenizing: a key may hold '/'
                sysctl_lines.append(self._sysctl(lineno, raw))
                continue
            line = _Line(self.source, lineno, raw)
            if not line.toks:
                continue
            if line.toks[0].text == "net" and len(line.toks) > 1 and line.toks[1].text == ":":
                fault_lines.append(line)
                continue
            step = self._statement(line, len(steps), names)
            if step.call in ("fork", "thread"):
                child = step.args[0]
                if child == step.process or any(st.process == child for st in steps):
                    line.fail(line.toks[0].col, f"{step.call}({child}) names a process that already "
                              "exists; a child is a new process: give it a name no line has used")
                if child in forked:
                    line.fail(line.toks[0].col, f"process '{child}' was already forked at line "
                              f"{forked[child]}")
                forked[child] = lineno
                # the child starts with the parent's descriptors, under the same names; a
                # thread shares the table itself, names made later by either included
                epolls = self.__dict__.setdefault("_epolls", {})
                if step.call == "thread":
                    names[child] = names.setdefault(step.process, set())
                    epolls[child] = epolls.setdefault(step.process, set())
                else:
                    names[child] = set(names.get(step.process, ()))
                    epolls[child] = set(epolls.get(step.process, ()))
            if step.process in exited:
                line.fail(line.toks[0].col, f"process '{step.process}' already exited at line "
                          f"{exited[step.process]}; it can make no more calls")
            if step.call == "exit":
                exited[step.process] = lineno
            steps.append(step)
        if not steps:
            raise ScenarioError(self.source, 1, 1, "the program has no calls; write lines such as "
                                "'server: s = socket()'")
        # a forked child's lines come after the fork (each child is forked once, above)
        forks = {fork.args[0]: fork for fork in steps if fork.call in ("fork", "thread")}
        for step in steps:
            fork = forks.get(step.process)
            if fork is not None and step.index < fork.index:
                raise ScenarioError(self.source, step.line, 1, f"process '{step.process}' is "
                                    f"started at line {fork.line}, so its lines come after it")
        summary = _first_sentence(description)
        faults = tuple(self._fault(line, steps) for line in fault_lines)
        return Program(name=name, source=self.source, text=text, steps=tuple(steps),
                       description=summary, faults=faults, sysctls=tuple(sysctl_lines))

    # -- 'sysctl: net.ipv4.tcp_retries2 = 3' ---------------------------------------------
    def _sysctl(self, lineno: int, raw: str) -> tuple[str, str]:
        """A setting of the run's own network namespace (only net.*: the lab sets it in its
        namespace and nowhere else; the model reads it from its profile)."""
        from ..model.profile import check_sysctls

        m = re.match(r"\s*sysctl\s*:\s*([A-Za-z0-9_./-]+)\s*=\s*(\S(?:.*\S)?)\s*$", raw)
        col = raw.index("sysctl") + 1
        if not m:
            raise ScenarioError(self.source, lineno, col, "a sysctl line names a setting and its "
                                "value: 'sysctl: net.ipv4.tcp_retries2 = 3'")
        key = m.group(1).replace("/", ".")
        if not key.startswith("net."):
            raise ScenarioError(self.source, lineno, raw.index(m.group(1)) + 1,
                                f"{key} is not a network setting; a program may set only net.* "
                                "sysctls, which each run's own namespace has")
        try:
            check_sysctls({key: m.group(2)}, f"on line {lineno}")
        except Exception as e:  # noqa: BLE001 - its message is the sentence to show
            raise ScenarioError(self.source, lineno, raw.index(m.group(2)) + 1, str(e)) from None
        return key, m.group(2)

    # -- 'net: drop|delay|duplicate [N|all] [KIND] [from PROCESS] [seq S] [after K]
    #         [by DURATION]' ------------------------------------------------------------
    def _fault(self, line: _Line, steps: list[Step]) -> Fault:
        line.i = 2
        action = line.next("drop, delay or duplicate")
        if action.text not in ("drop", "delay", "duplicate"):
            line.fail(action.col, f"a net line says what happens to segments: 'drop', 'delay' or "
                      f"'duplicate', not {action.text!r} (e.g. 'net: drop 2 SYN from client')")
        count: int | None = 1
        tok = line.peek()
        if tok is not None and (tok.kind == "number" or tok.text == "all"):
            # the lab counts matching segments with nftables' numgen, modulo 10^9
            count = None if tok.text == "all" else int(tok.text, 0)
            if count is not None and count < 1:
                line.fail(tok.col, f"the number of segments to {action.text} must be 1 or more, "
                          "or 'all'")
            if count is not None:
                line.number(tok, 1, _NUMGEN, "the number of segments")
            line.i += 1
        kind = ANY  # no kind named: every segment
        tok = line.peek()
        if tok is not None and tok.text not in ("from", "seq", "after", "by"):
            line.i += 1
            kind = tok.text
            if kind not in FAULT_KINDS:
                line.fail(tok.col, f"unknown segment kind '{tok.text}'; one of "
                          f"{', '.join(FAULT_KINDS)}, or none for every segment"
                          + _did_you_mean(tok.text, FAULT_KINDS))
        sender = None
        sports: tuple[int, ...] = ()
        dports: tuple[int, ...] = ()
        if line.at("from"):
            line.i += 1
            who = line.next("a process name")
            procs = {st.process for st in steps}
            if who.text not in procs:
                line.fail(who.col, f"no process '{who.text}' in this program; it has "
                          f"{', '.join(sorted(procs))}")
            sender = who.text
            sports = tuple(sorted({st.args[1].port for st in steps if st.process == sender
                                   and st.call == "bind" and st.args[1].port}))
            dports = tuple(sorted({st.args[1].port for st in steps if st.process == sender
                                   and st.call == "connect"}))
            if not sports and not dports:
                line.fail(who.col, f"cannot tell the segments '{sender}' sends: it neither binds "
                          "nor connects to a fixed port")
        seq = None
        if line.at("seq"):
            at = line.next("seq")
            if sender is None:
                line.fail(at.col, "'seq' counts from the ISN of one direction: name the sender "
                          "first, as in 'net: drop DATA from client seq 1'")
            if kind not in (ANY, "DATA"):
                line.fail(at.col, f"'seq' names a data segment by its first byte; a {kind} "
                          "segment has none (write DATA, or no kind)")
            kind = "DATA"
            s_tok = line.next("the relative sequence number the segment starts at")
            if s_tok.kind != "number":
                line.fail(s_tok.col, "'seq' takes the relative sequence number of the segment's "
                          "first byte: 1 for the first byte sent")
            seq = line.number(s_tok, 1, 0xFFFFFFFF, "'seq'")
        skip = 0
        if line.at("after"):
            line.i += 1
            k = line.next("how many matching segments go through first")
            if k.kind != "number" or int(k.text, 0) < 1:
                line.fail(k.col, "'after' takes how many matching segments go through first: "
                          "1 or more")
            skip = line.number(k, 1, _NUMGEN, "'after'")
            if count is not None and skip + count > _NUMGEN:
                line.fail(k.col, f"'after' and the number of segments add up to more than "
                          f"{_NUMGEN}, the most the lab's nftables rule can count")
        delay = 0.0
        if line.at("by"):
            by = line.next("by")
            if action.text == "drop":
                line.fail(by.col, "a dropped segment never arrives, so 'by' has no meaning here; "
                          "write 'net: delay ... by 20ms' to hold segments back")
            d = line.next("how long to hold the segments, such as 20ms")
            if d.kind != "duration":
                line.fail(d.col, "'by' takes a duration with a unit, such as 20ms or 1s")
            num, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s)", d.text).groups()
            delay = float(num) * _UNITS[unit] / 1e9
            if not 0 < delay <= 60:
                line.fail(d.col, "a delay must be more than 0 and at most 60s")
        elif action.text == "delay":
            line.fail(line.end_col(), "a delay needs its length: end the line with 'by 20ms' "
                      "(or another duration)")
        extra = line.peek()
        if extra is not None:
            line.fail(extra.col, f"unexpected {extra.text!r}; a net line reads "
                      f"'net: {action.text} [N|all] [KIND] [from PROCESS] [seq S] [after K]"
                      + {"delay": " by DURATION'", "duplicate": " [by DURATION]'"}.get(
                          action.text, "'"))
        return Fault(line.lineno, action.text, kind, count, sender, sports, dports,
                     line.text.split("#", 1)[0].strip(), skip, delay, seq)

    # -- one line: PROCESS ':' [NAME '='] CALL '(' ARGS ')' ['=' EXPECT] ------------------
    def _statement(self, line: _Line, index: int, names: dict[str, set[str]]) -> Step:
        proc = line.next("a process name")
        if proc.kind != "ident":
            line.fail(proc.col, "a line starts with the process that makes the call, "
                      "as in 'client: connect(fd, 127.0.0.1:8080)'")
        line.expect_punct(":", "after the process name")
        start = line.peek()
        if start is None:
            line.fail(line.end_col(), f"process '{proc.text}' makes no call on this line")
        assign = None
        if start.kind == "ident" and line.peek(1) is not None and line.peek(1).text == "=":
            assign = start.text
            line.i += 2
        call_tok = line.next("a call")
        if call_tok.kind != "ident" or call_tok.text not in CALLS:
            hint = _did_you_mean(call_tok.text, CALLS) or "; known calls: " + ", ".join(CALLS)
            line.fail(call_tok.col, f"unknown call '{call_tok.text}'{hint}")
        spec = CALLS[call_tok.text]
        known = names.setdefault(proc.text, set())
        # the names epoll_create() gave, per process: they go to epoll_ctl()/epoll_wait()
        # and close(), and only epoll descriptors go there
        self._epoll_names = self.__dict__.setdefault("_epolls", {}).setdefault(proc.text, set())
        if spec.name == "sleep" and not line.at("("):
            raw_args = [self._arg(line)]  # 'sleep 300ms' reads as well as 'sleep(300ms)'
        elif spec.name == "exit" and not line.at("("):
            raw_args = []
        else:
            raw_args = self._arglist(line)
        args = self._check_args(line, spec, raw_args, known, call_tok)
        if assign is not None:
            if spec.returns != "fd":
                line.fail(start.col, f"{spec.name}() does not return a descriptor, so its result "
                          "cannot be given a name")
            if assign in CALLS or assign.isupper():
                line.fail(start.col, f"'{assign}' cannot name a descriptor: pick a lowercase name "
                          "that is not a call")
            known.add(assign)
            if spec.name == "epoll_create":
                self._epoll_names.add(assign)
            else:
                self._epoll_names.discard(assign)
        last = line.toks[line.i - 1]
        text = line.text[start.col - 1:last.col - 1 + len(last.text)]
        expect = None
        if line.at("="):
            eq = line.next("'='")
            expect = self._expect(line, spec, eq, known)
        extra = line.peek()
        if extra is not None:
            line.fail(extra.col, f"unexpected {extra.text!r} after the call; one call per line")
        return Step(index=index, line=line.lineno, process=proc.text, call=spec.name,
                    args=tuple(args), assign=assign, expect=expect, text=text)

    def _arglist(self, line: _Line) -> list[list[_Tok]]:
        line.expect_punct("(", "to open the argument list")
        args: list[list[_Tok]] = []
        if line.at(")"):
            line.i += 1
            return args
        while True:
            args.append(self._arg(line))
            tok = line.next("',' or ')'")
            if tok.text == ")":
                return args
            if tok.text != ",":
                line.fail(tok.col, f"expected ',' or ')' between arguments, but found {tok.text!r}")

    def _arg(self, line: _Line) -> list[_Tok]:
        tok = line.next("an argument")
        if tok.text == "{":
            toks = [tok, line.next("a number"), line.expect_punct(",", "inside { , }"),
                    line.next("a number"), line.expect_punct("}", "to close the { , } value")]
            return toks
        toks = [tok]
        while line.at("|"):
            toks.append(line.next("'|'"))
            toks.append(line.next("a flag after '|'"))
        return toks

    # -- type checking against the call table --------------------------------------------
    def _check_args(self, line, spec: CallSpec, raw, known, call_tok) -> list:
        params = list(spec.params)
        if spec.name in ("setsockopt", "getsockopt") and len(raw) == len(params) + 1:
            level = raw.pop(1)  # C style: setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            lv = self._symbol(line, level, "level")
            opt = raw[1][0].text if raw[1] else ""
            if opt in SOCKOPTS and SOCKOPTS[opt].level != lv:
                line.fail(level[0].col, f"{opt} is not at level {level[0].text}")
        required = [p for p in params if not p.optional]
        if not len(required) <= len(raw) <= len(params):
            n = len(required) if len(required) == len(params) else f"{len(required)} to {len(params)}"
            line.fail(call_tok.col, f"{spec.name}() takes {n} argument(s), {spec.signature}, "
                      f"but was given {len(raw)}")
        values = []
        option = None
        for param, toks in zip(params, raw):
            v = self._value(line, param, toks, known, option, spec)
            if param.kind == "sockopt":
                option = v
            values.append(v)
        for param in params[len(raw):]:
            values.append(self._default(param))
        return values

    def _default(self, param: Param):
        if param.kind in ("duration", "int"):
            return int(param.default)  # -1: no timeout
        if param.kind in SYMBOLS:
            d = param.default
            return int(d) if d.lstrip("-").isdigit() else SYMBOLS[param.kind][d]
        return param.default

    def _value(self, line: _Line, param: Param, toks: list[_Tok], known, option, spec):
        tok = toks[0]
        kind = param.kind
        if kind == "fd":
            if tok.kind != "ident" or len(toks) > 1:
                line.fail(tok.col, f"{spec.name}() needs a descriptor name as its {param.name}, "
                          f"such as one made by 's = socket()'")
            if tok.text not in known:
                line.fail(tok.col, f"'{tok.text}' is not a descriptor of this process yet; create it "
                          f"first, e.g. '{tok.text} = socket()'")
            is_epoll = tok.text in self._epoll_names
            if param.name == "epfd" and not is_epoll:
                line.fail(tok.col, f"{spec.name}() needs an epoll descriptor as its {param.name}, "
                          f"one made by 'ep = epoll_create()'; '{tok.text}' is a socket")
            if param.name != "epfd" and is_epoll and spec.name not in ("close", "exit"):
                line.fail(tok.col, f"'{tok.text}' is an epoll descriptor; {spec.name}() needs a "
                          "socket here")
            return tok.text
        if kind == "process":
            if tok.kind != "ident" or len(toks) > 1 or tok.text in CALLS or tok.text == "net":
                line.fail(tok.col, f"{spec.name}() needs the name of the new process, as in "
                          f"'server: fork(child1)'")
            return tok.text
        if kind == "address":
            if tok.kind != "addr":
                line.fail(tok.col, f"{spec.name}() needs an address and port such as 127.0.0.1:8080 "
                          "or [::1]:8080")
            try:
                return Address.parse(tok.text)
            except ValueError as e:
                line.fail(tok.col, f"'{tok.text}' is not a valid address and port ({e})")
        if kind == "int":
            if tok.kind != "number" or len(toks) > 1:
                line.fail(tok.col, f"{spec.name}() needs a number as its {param.name}")
            if spec.name in ("recv", "readall"):  # size_t; the lab's recv() allocates that much
                return line.number(tok, 1 if spec.name == "readall" else 0, MAX_DATA,
                                   f"{spec.name}()'s {param.name}")
            return line.number(tok, INT_MIN, INT_MAX, f"{spec.name}()'s {param.name} (a C int)")
        if kind == "data":
            if tok.kind == "string":
                return self._string(line, tok)
            if tok.kind == "number" and int(tok.text, 0) >= 0:
                n = line.number(tok, 0, MAX_DATA, f"{spec.name}()'s byte count")
                return (_FILLER * (n // len(_FILLER) + 1))[:n]  # a count of filler bytes
            line.fail(tok.col, f"{spec.name}() needs data: a \"quoted string\" or a byte count")
        if kind == "duration":
            if tok.kind == "duration":
                m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s)", tok.text)
                ns = float(m.group(1)) * _UNITS[m.group(2)]
            elif tok.kind == "number" and spec.name in ("poll", "epoll_wait"):
                ms = line.number(tok, INT_MIN, INT_MAX, f"{spec.name}()'s timeout (a C int of ms)")
                ns = -1 if ms < 0 else ms * 1_000_000  # poll's C timeout is in milliseconds
            else:
                line.fail(tok.col, f"{spec.name} needs a duration with a unit, such as 300ms, 1s "
                          "or 50us")
            if ns > MAX_DURATION_NS:
                line.fail(tok.col, f"{tok.text} is longer than a day ({MAX_DURATION_NS // 10**9}s), "
                          f"the longest {spec.name} tcpsim runs; give a shorter duration")
            return int(ns)
        if kind == "sockopt":
            if tok.kind != "ident" or tok.text not in SOCKOPTS:
                line.fail(tok.col, f"unknown socket option '{tok.text}'"
                          + (_did_you_mean(tok.text, SOCKOPTS) or "; known: " + ", ".join(SOCKOPTS)))
            return SOCKOPTS[tok.text]
        if kind == "optval":
            if option is not None and option.value == "linger":
                if tok.text != "{":
                    line.fail(tok.col, "SO_LINGER takes {onoff, seconds}, for example {1, 0}")
                for t in (toks[1], toks[3]):
                    if t.kind != "number":
                        line.fail(t.col, "SO_LINGER takes two numbers, {onoff, seconds}")
                # struct linger holds two ints
                return Linger(line.number(toks[1], INT_MIN, INT_MAX, "SO_LINGER's l_onoff (an int in struct linger)"),
                              line.number(toks[3], INT_MIN, INT_MAX, "SO_LINGER's l_linger (an int in struct linger)"))
            if tok.kind != "number":
                line.fail(tok.col, f"{option.name if option else 'this option'} takes a number")
            return line.number(tok, INT_MIN, INT_MAX,
                               f"the value of {option.name if option else 'an option'} (a C int)")
        return self._symbol(line, toks, kind)

    def _symbol(self, line: _Line, toks: list[_Tok], group: str) -> int:
        table = SYMBOLS[group]
        if len(toks) == 1 and toks[0].kind == "number":
            if group == "poll":  # struct pollfd's events is a short
                return line.number(toks[0], 0, USHRT_MAX, "poll events (a 16-bit mask)")
            if group == "epoll":  # struct epoll_event's events is a __u32
                return line.number(toks[0], 0, 2**32 - 1, "epoll events (a 32-bit mask)")
            return line.number(toks[0], INT_MIN, INT_MAX, f"a {group} value (a C int)")
        if len(toks) > 1 and group not in FLAG_GROUPS:
            line.fail(toks[1].col, f"{toks[0].text} cannot be combined with '|' here")
        value = 0
        for t in toks[::2]:
            if t.kind != "ident" or t.text not in table:
                line.fail(t.col, f"'{t.text}' is not one of {', '.join(table)}"
                          + _did_you_mean(t.text, table))
            value |= table[t.text]
        return value

    def _string(self, line: _Line, tok: _Tok) -> bytes:
        body, out, i = tok.text[1:-1], bytearray(), 0
        while i < len(body):
            c = body[i]
            if c != "\\":
                out += c.encode()
                i += 1
                continue
            e = body[i + 1]
            if e in _ESCAPES:
                out += _ESCAPES[e]
                i += 2
            elif e == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2:i + 4]):
                out.append(int(body[i + 2:i + 4], 16))
                i += 4
            else:
                line.fail(tok.col + 1 + i, f"unknown escape '\\{e}' in a string; use \\n, \\t, "
                          "\\r, \\0, \\\\, \\\" or \\xNN")
        return bytes(out)

    def _expect(self, line: _Line, spec: CallSpec, eq: _Tok, known=frozenset()) -> Expect:
        if spec.returns == "none":
            line.fail(eq.col, f"{spec.name} has no result to expect")
        tok = line.next("an expected result after '='")
        toks = [tok]
        if tok.kind == "number" and tok.text == "-1":
            err = line.next("an errno name after -1, such as ECONNREFUSED")
            if err.text not in ERRNO_NAMES:
                line.fail(err.col, f"'{err.text}' is not an errno name"
                          + _did_you_mean(err.text, ERRNO_NAMES))
            return Expect(-1, err.text, f"-1 {err.text}")
        if tok.kind == "number":
            return Expect(int(tok.text, 0), None, tok.text)
        if tok.kind == "ident" and spec.returns == "optval" and tok.text in ERRNO_NAMES:
            return Expect(errno_value(tok.text), None, tok.text)  # getsockopt(fd, SO_ERROR)
        if tok.kind == "ident" and spec.returns == "events":
            # epoll_wait: `= c EPOLLIN, s EPOLLIN|EPOLLRDHUP`, the ready descriptors in the
            # order the kernel reports them, each with its events
            ready, text = [], []
            line.i -= 1
            while True:
                name = line.next("a descriptor name")
                if name.kind != "ident" or name.text not in known or \
                        name.text in self._epoll_names:
                    line.fail(name.col, "epoll_wait's result is the ready sockets with their "
                              "events, as 'c EPOLLIN, s EPOLLIN|EPOLLOUT', or a count")
                flags = [line.next("the events of " + name.text)]
                while line.at("|"):
                    flags += [line.next("'|'"), line.next("an epoll flag")]
                ready.append((name.text, self._symbol(line, flags, "epoll")))
                text.append(f"{name.text} {''.join(t.text for t in flags)}")
                if not line.at(","):
                    break
                line.i += 1
            return Expect(len(ready), None, ", ".join(text), tuple(ready))
        if tok.kind == "ident" and spec.returns == "revents":
            while line.at("|"):
                toks += [line.next("'|'"), line.next("a poll flag")]
            return Expect(self._symbol(line, toks, "poll"), None, "".join(t.text for t in toks))
        line.fail(tok.col, "an expected result is a number, '-1 ERRNO'"
                  + (", or poll flags" if spec.returns == "revents" else "")
                  + (", or the ready sockets ('c EPOLLIN, s EPOLLOUT')" if spec.returns == "events"
                     else "")
                  + (", or an errno name" if spec.returns == "optval" else ""))


def parse(text: str, source: str = "<program>", name: str = "program") -> Program:
    return Parser(source).parse(text, name=name)


def _first_sentence(header: list[str]) -> str:
    """The program's one-line description: the first sentence of its header comment's first
    paragraph, joined across the lines it was wrapped over ("... each leaves at" / "once); the
    second is lost on the way." is one sentence).  A full stop inside parentheses, or one not
    followed by a space (1.5, e.g.), ends nothing."""
    para: list[str] = []
    for text in header:
        if not text:
            if para:
                break
            continue
        para.append(text)
    text = " ".join(para)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ".!?" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " ") \
                and not text[max(0, i - 3):i + 1].endswith(("e.g.", "i.e.", "vs.")):
            return text[:i + 1]
    return text
