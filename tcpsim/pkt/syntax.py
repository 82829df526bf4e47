"""Reading packetdrill scripts: events on one timeline, each a packet, a call, or a command.

The notation is packetdrill's (github.com/google/packetdrill, parser.y and lexer.l): an event
is a time (`0.1`, `+0.1`, `*`, `0.1~0.2`, `+0~+0.2`) and then either
  - a packet: `< S 0:0(0) win 32792 <mss 1000,nop,wscale 7>` (inbound) or `> S. 0:0(0) ack 1
    <...>` (outbound); flags, start:end(length), ack, win, urg, options;
  - a system call: `[...END] name(args) = result [ERRNO] [(note)]`, where `...END` marks a
    call that blocks until END;
  - a shell command in backquotes, or a `%{ python }%` block.
Script options (`--tolerance_usecs=10000`) may come first.  Comments are // and /* */.

Everything is parsed here into plain data; what the model can run is run.py's business.  An
error names the line and says what was expected there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TcpsimError


class ScriptError(TcpsimError):
    """A script that cannot be read: the line and what is wrong there."""


# -- the pieces of a script -----------------------------------------------------------------
@dataclass
class Time:
    kind: str  # "absolute", "relative", "any", "absolute range", "relative range"
    start: float = 0.0  # seconds (relative kinds: from the previous event)
    end: float | None = None  # the end of a range


@dataclass
class Word:
    """A symbol: SOCK_STREAM, O_NONBLOCK, POLLIN..."""

    name: str


@dataclass
class Ellipsis_:
    """`...`: any value (packetdrill fills in addresses and buffers)."""


ELLIPSIS = Ellipsis_()


@dataclass
class Call:
    """A function-style expression: htons(8080), inet_addr("192.0.2.1")."""

    name: str
    args: list


@dataclass
class Struct:
    """{field=value, ...}: sockaddr, pollfd, linger."""

    fields: dict


@dataclass
class Or:
    """a|b|c: flags OR-ed together."""

    parts: list


@dataclass
class Packet:
    direction: str  # "<" inbound (injected), ">" outbound (expected from the kernel)
    flags: str  # packetdrill's letters, "." for ACK: "S", "S.", "P.", "F.", "R", ""
    seq: int
    end: int
    length: int
    ack: int | None = None
    win: int | None = None  # None: not given (for outbound: not checked)
    urg: int | None = None
    options: list | None = field(default_factory=list)  # None: `<...>`, not checked
    extra: str | None = None  # IP-level or encapsulation parts we do not model


@dataclass
class Syscall:
    name: str
    args: list
    result: object  # int, Word, Ellipsis_...
    errno: str | None = None
    note: str | None = None
    end: float | None = None  # `...END`: a blocking call expected to return at END


@dataclass
class Command:
    text: str  # a shell command (backquotes)


@dataclass
class Code:
    text: str  # a %{ python }% block


@dataclass
class Event:
    line: int
    time: Time
    action: Packet | Syscall | Command | Code
    resolved: float = 0.0  # the script time it ran at, once run (relative times resolved)


@dataclass
class Script:
    path: str
    options: dict[str, str]
    events: list[Event]


# -- tokens ---------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<comment>//[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<code>%\{.*?\}%)
  | (?P<command>`[^`]*`)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ellipsis>\.\.\.)
  | (?P<hex>0x[0-9a-fA-F]+)
  | (?P<float>\d+\.\d+|\d+\.(?!\.)|\.\d+)
  | (?P<int>\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[<>.:(),\[\]{}=|+*~\-!&/@])
""", re.X | re.S)


@dataclass
class Token:
    kind: str  # int, float, hex, word, string, command, code, ellipsis, punct, other
    text: str
    line: int

    @property
    def number(self) -> float:
        return int(self.text, 16) if self.kind == "hex" else (
            float(self.text) if self.kind == "float" else int(self.text))


def tokens(text: str, path: str) -> list[Token]:
    out: list[Token] = []
    line, pos = 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            out.append(Token("other", text[pos], line))
            pos += 1
            continue
        kind = m.lastgroup
        if kind not in ("space", "newline", "comment", "block"):
            out.append(Token(kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


_OPTION_LINE = re.compile(r"^\s*--([A-Za-z0-9_]+)(?:\s*=\s*(\S+))?\s*$")
TCP_FLAGS = set(".FSRPEWAU")


# -- the parser -----------------------------------------------------------------------------
class _Parser:
    def __init__(self, toks: list[Token], path: str):
        self.toks, self.i, self.path = toks, 0, path

    # helpers
    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Token:
        t = self.peek()
        if t is None:
            last = self.toks[-1].line if self.toks else 1
            raise ScriptError(f"{self.path}:{last}: the script ends in the middle of an event")
        self.i += 1
        return t

    def error(self, t: Token | None, what: str) -> ScriptError:
        if t is None:
            last = self.toks[-1].line if self.toks else 1
            return ScriptError(f"{self.path}:{last}: {what}, but the script ends there")
        return ScriptError(f"{self.path}:{t.line}: {what}, not '{t.text}'")

    def is_(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind in ("punct", "ellipsis") and t.text == text

    def expect(self, text: str, what: str | None = None) -> Token:
        t = self.peek()
        if t is None or t.text != text or t.kind not in ("punct", "ellipsis", "word"):
            raise self.error(t, f"expected {what or repr(text)}")
        return self.next()

    def integer(self, what: str) -> int:
        t = self.peek()
        if t is None or t.kind not in ("int", "hex"):
            raise self.error(t, f"expected {what} (a whole number)")
        self.next()
        return int(t.number)

    def seconds(self) -> float:
        t = self.peek()
        if t is None or t.kind not in ("int", "float"):
            raise self.error(t, "expected a time in seconds")
        self.next()
        return float(t.number)

    # script
    def script(self) -> list[Event]:
        events = []
        while self.peek() is not None:
            events.append(self.event())
        return events

    def event(self) -> Event:
        first = self.peek()
        time = self.time()
        t = self.peek()
        if t is None:
            raise self.error(t, "expected a packet, a system call or a command after the time")
        if t.kind == "punct" and t.text in "<>":
            action = self.packet()
        elif t.kind == "command":
            self.next()
            action = Command(t.text[1:-1].strip())
        elif t.kind == "code":
            self.next()
            action = Code(t.text[2:-2].strip())
        elif t.kind == "word" or t.kind == "ellipsis":
            action = self.syscall()
        else:
            raise self.error(t, "expected '<', '>', a system call or a `command` after the time")
        return Event(first.line, time, action)

    def time(self) -> Time:
        t = self.peek()
        if self.is_("*"):
            self.next()
            return Time("any")
        if self.is_("+"):
            self.next()
            start = self.seconds()
            if self.is_("~"):
                self.next()
                if not self.is_("+"):
                    raise self.error(self.peek(), "expected '+' (a relative range is +A~+B)")
                self.next()
                end = self.seconds()
                return Time("relative range", start, end)
            return Time("relative", start)
        if t is not None and t.kind in ("int", "float"):
            start = self.seconds()
            if self.is_("~"):
                self.next()
                return Time("absolute range", start, self.seconds())
            return Time("absolute", start)
        raise self.error(t, "expected an event time (0.100, +0.1, * or a range)")

    # packets
    def packet(self) -> Packet:
        direction = self.next().text
        extra = None
        # IP-level details (tos, ttl, ecn, flowlabel, encapsulation) are not modelled
        while self.is_("["):
            start = self.next()
            parts = []
            while not self.is_("]"):
                parts.append(self.next().text)
            self.next()
            extra = f"[{' '.join(parts)}]"
            del start
        t = self.peek()
        if t is not None and t.kind == "word" and t.text in ("udp", "icmp", "ipv4", "ipv6", "gre",
                                                             "mpls", "UDP", "ICMP"):
            raise ScriptError(f"{self.path}:{t.line}: a {t.text} packet: tcpsim models TCP only")
        flags = ""
        while True:
            t = self.peek()
            if t is None:
                break
            if t.kind == "word" or (t.kind == "punct" and t.text in ".-"):
                if t.kind == "word" and not set(t.text) <= TCP_FLAGS:
                    raise ScriptError(f"{self.path}:{t.line}: '{t.text}' is not a set of TCP "
                                      "flags (packetdrill's letters are F S R P . E W U)")
                flags += "" if t.text == "-" else t.text
                self.next()
                continue
            break
        if self.peek() is not None and self.peek().kind == "int" and self.is_(":", 1):
            seq = self.integer("a sequence number")
        else:
            raise self.error(self.peek(), "expected the flags and then START:END(LENGTH)")
        self.expect(":")
        end = self.integer("the end sequence number")
        self.expect("(")
        length = self.integer("the payload length")
        self.expect(")")
        if (end - seq) % (1 << 32) != length:
            raise ScriptError(f"{self.path}:{self.toks[self.i - 1].line}: {seq}:{end}({length}) "
                              f"is inconsistent: the end must be the start plus the length")
        p = Packet(direction, flags, seq, end, length, extra=extra)
        while True:
            t = self.peek()
            if t is not None and t.kind == "word" and t.text == "ack" and \
                    (self.peek(1) is not None and self.peek(1).kind in ("int", "hex")):
                self.next()
                p.ack = self.integer("the ack number")
            elif t is not None and t.kind == "word" and t.text == "win":
                self.next()
                p.win = self.integer("the window")
            elif t is not None and t.kind == "word" and t.text == "urg":
                self.next()
                p.urg = self.integer("the urgent pointer")
            else:
                break
        if self.is_("<"):
            p.options = self.tcp_options()
        if p.direction == "<" and p.options is None:
            raise ScriptError(f"{self.path}:{self.toks[self.i - 1].line}: <...> (options not "
                              "checked) can only be used on outbound packets")
        if p.direction == "<" and p.win is None:
            raise ScriptError(f"{self.path}:{self.toks[self.i - 1].line}: an inbound packet "
                              "needs its window (win N)")
        return p

    def tcp_options(self) -> list | None:
        self.expect("<")
        if self.is_("..."):
            self.next()
            self.expect(">", "'>' after <...")
            return None
        opts: list = []
        while True:
            t = self.next()
            name = t.text
            if t.kind != "word":
                raise ScriptError(f"{self.path}:{t.line}: expected a TCP option (mss, nop, "
                                  f"sackOK, wscale, TS, sack, eol), not '{name}'")
            if name == "nop":
                opts.append(["nop", None])
            elif name == "eol":
                opts.append(["eol", None])
            elif name == "sackOK":
                opts.append(["sackOK", None])
            elif name == "mss":
                opts.append(["mss", self.integer("the MSS")])
            elif name == "wscale":
                opts.append(["wscale", self.integer("the window scale shift")])
            elif name == "TS":
                self.expect("val", "'val'")
                val = self.integer("the TS value")
                self.expect("ecr", "'ecr'")
                opts.append(["TS", [val, self.integer("the TS echo reply")]])
            elif name == "sack":
                blocks = []
                while self.peek() is not None and self.peek().kind == "int":
                    left = self.integer("a SACK block's left edge")
                    self.expect(":")
                    blocks.append([left, self.integer("a SACK block's right edge")])
                opts.append(["sack", blocks])
            elif name in ("FO", "FOEXP", "md5", "exp", "AccECN0", "AccECN1"):
                raise ScriptError(f"{self.path}:{t.line}: the TCP option '{name}' is not "
                                  "modelled by tcpsim")
            else:
                raise ScriptError(f"{self.path}:{t.line}: '{name}' is not a TCP option "
                                  "packetdrill knows")
            if self.is_(","):
                self.next()
                continue
            self.expect(">", "',' or '>' in the option list")
            return opts

    # system calls
    def syscall(self) -> Syscall:
        end = None
        if self.is_("..."):
            self.next()
            end = self.seconds()
        name = self.next()
        if name.kind != "word":
            raise self.error(name, "expected the name of a system call")
        self.expect("(", f"'(' after {name.text}")
        args = self.arguments(")")
        self.expect("=", f"'= RESULT' after {name.text}(...)")
        result = self.expression()
        errno = note = None
        t = self.peek()
        if t is not None and t.kind == "word" and re.fullmatch(r"E[A-Z0-9]+", t.text):
            errno = self.next().text
        if self.is_("("):
            note = self.note()
        return Syscall(name.text, args, result, errno, note, end)

    def note(self) -> str:
        start = self.next()
        depth, parts = 1, []
        while True:
            t = self.peek()
            if t is None or t.line > start.line + 2:
                raise ScriptError(f"{self.path}:{start.line}: the note in parentheses is not "
                                  "closed")
            self.next()
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if not depth:
                    return " ".join(parts)
            parts.append(t.text)

    def arguments(self, close: str) -> list:
        args = []
        if self.is_(close):
            self.next()
            return args
        while True:
            args.append(self.expression())
            if self.is_(","):
                self.next()
                continue
            self.expect(close, f"',' or '{close}'")
            return args

    def expression(self):
        left = self.unary()
        if self.is_("|"):
            parts = [left]
            while self.is_("|"):
                self.next()
                parts.append(self.unary())
            return Or(parts)
        return left

    def unary(self):
        t = self.peek()
        if t is None:
            raise self.error(t, "expected a value")
        if self.is_("-") and self.peek(1) is not None and self.peek(1).kind in ("int", "hex"):
            self.next()
            return -int(self.next().number)
        if t.kind in ("int", "hex"):
            self.next()
            return int(t.number)
        if t.kind == "ellipsis":
            self.next()
            return ELLIPSIS
        if t.kind == "string":
            self.next()
            value = bytes(t.text[1:-1], "utf-8").decode("unicode_escape")
            if self.is_("..."):
                self.next()
            return value
        if t.kind == "word":
            self.next()
            if self.is_("("):
                self.next()
                return Call(t.text, self.arguments(")"))
            return Word(t.text)
        if self.is_("["):
            self.next()
            return self.arguments("]")
        if self.is_("{"):
            self.next()
            fields = {}
            if self.is_("}"):
                self.next()
                return Struct(fields)
            while True:
                key = self.next()
                if key.kind != "word":
                    raise self.error(key, "expected a field name in {...}")
                self.expect("=", f"'=' after {key.text}")
                fields[key.text] = self.expression()
                if self.is_(","):
                    self.next()
                    continue
                self.expect("}", "',' or '}'")
                return Struct(fields)
        raise self.error(t, "expected a value (a number, a symbol, ..., [..] or {..})")


def parse(text: str, path: str = "<script>") -> Script:
    """A Script, or a ScriptError naming the line."""
    options: dict[str, str] = {}
    body, started = [], False
    for line in text.split("\n"):
        m = _OPTION_LINE.match(line) if not started else None
        if m:
            options[m.group(1)] = m.group(2) if m.group(2) is not None else ""
            body.append("")  # keep the line numbers
            continue
        started = started or bool(line.strip()) and not line.strip().startswith(("//", "/*", "*"))
        body.append(line)
    toks = tokens("\n".join(body), path)
    for t in toks:
        if t.kind == "other":
            raise ScriptError(f"{path}:{t.line}: the character '{t.text}' has no meaning in a "
                              "packetdrill script")
    events = _Parser(toks, path).script()
    if not events:
        raise ScriptError(f"{path}: the script has no events (a time and then a packet, a "
                          "system call or a command)")
    return Script(path, options, events)


def load(path: str | Path) -> Script:
    p = Path(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ScriptError(f"{path} is not a text file; give a packetdrill script (.pkt)") from None
    except OSError as e:
        raise ScriptError(f"cannot read {path}: {e.strerror}; give the path of a packetdrill "
                          "script") from None
    return parse(text, str(path))
