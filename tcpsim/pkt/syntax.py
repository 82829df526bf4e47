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
    icmp: Icmp | None = None  # an ICMP packet (then flags "" and no TCP fields)
    # parser.y's tos_spec: ("ecn", the ECN bits) for [noecn] [ect1] [ect0] [ce], ("ect01", 0)
    # for [ect01] (outbound: either ECT), ("tos", the byte) for (tos 0x..); None: not given
    tos: tuple | None = None


@dataclass
class Icmp:
    """parser.y's icmp_packet_spec (icmp_packet.c new_icmp_packet()): ICMPv4 type and code,
    the MTU of a frag_needed, and the TCP packet it echoes: the local side's seq (relative
    to the local ISN, as packetdrill maps it: map_inbound_icmp_tcp_packet()) and its length."""

    type: int
    code: int
    mtu: int | None = None
    seq: int = 0
    length: int = 0
    name: str = ""  # as the script wrote it, for messages


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
    # parser.y's opt_init_command and opt_cleanup_command: a `command` before the first event
    # (run before time 0; packetdrill's scripts start with `../common/defaults.sh`) and one
    # after the last (run when the script ends, to undo what it changed); no time of their own
    init: Event | None = None
    cleanup: Event | None = None


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
  | (?P<hex>0x[0-9a-fA-F]+(?![A-Za-z0-9_]))
  | (?P<float>\d+\.\d+|\d+\.(?![.\d])|\.\d+)
  | (?P<word>\d*[A-Za-z_][A-Za-z0-9_]*)
  | (?P<int>\d+)
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


# lexer.l's OPTION token and parser.y's option_value: `--name` or `--name=value`, any number
# of them before the first event, on one line or several, comments between and after them
_VALUE = r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|(?:[^\s"`/=]|/(?![/*]))+'
_OPTION = re.compile(rf"--([A-Za-z0-9_]+)(?:=((?:{_VALUE})(?:=(?:{_VALUE}))?))?")
_BLANK = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)+", re.S)
TCP_FLAGS = set(".FSRPEWAU")
# parser.y's packet_prefix and packet_spec: packets of other protocols or with outer headers;
# read to the end of their line and left to the runner to report as unsupported
OTHER_PACKETS = {"udp": "UDP packets", "icmp": "ICMP packets", "ipv4": "outer IPv4 headers",
                 "ipv6": "outer IPv6 headers", "gre": "GRE encapsulation",
                 "GREv0": "GRE encapsulation", "mpls": "MPLS encapsulation",
                 "encap": "PSP encapsulation", "psp": "PSP encapsulation",
                 "UDP": "UDP packets", "ICMP": "ICMP packets"}
# icmp_packet.c's names of ICMPv4 types, and of the codes of "unreachable"
ICMPV4_TYPES = {"echo_reply": 0, "unreachable": 3, "source_quench": 4, "redirect": 5,
                "echo_request": 8, "time_exceeded": 11, "parameter_problem": 12,
                "timestamp_request": 13, "timestamp_reply": 14, "information_request": 15,
                "information_reply": 16, "address_mask_request": 17, "address_mask_reply": 18}
ICMPV4_UNREACH_CODES = {"net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2,
                        "port_unreachable": 3, "frag_needed": 4, "source_route_failed": 5,
                        "net_unknown": 6, "host_unknown": 7, "source_host_isolated": 8,
                        "net_prohibited": 9, "host_prohibited": 10,
                        "net_unreachable_for_tos": 11, "host_unreachable_for_tos": 12,
                        "packet_filtered": 13, "precedence_violation": 14,
                        "precedence_cutoff": 15}
# parser.y's range checks (is_valid_u8/u16/u32): out of range is a parse error in packetdrill
U8, U16, U32 = 0xFF, 0xFFFF, 0xFFFFFFFF
# tcp_options.h MAX_TCP_FAST_OPEN_COOKIE_BYTES and ..._EXP_...: the 40 bytes of option space
# less the option's kind and length (and FOEXP's two-byte magic)
FO_COOKIE_MAX = {"FO": 38, "FOEXP": 36}


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

    def integer(self, what: str, limit: int | None = None) -> int:
        t = self.peek()
        if t is None or t.kind not in ("int", "hex"):
            raise self.error(t, f"expected {what} (a whole number)")
        self.next()
        if limit is not None and int(t.number) > limit:
            raise ScriptError(f"{self.path}:{t.line}: {what} {t.text} is out of range (at most "
                              f"{limit}), as packetdrill's parser says too")
        return int(t.number)

    def seconds(self) -> float:
        t = self.peek()
        if t is None or t.kind not in ("int", "float"):
            raise self.error(t, "expected a time in seconds")
        self.next()
        return float(t.number)

    # script
    def script(self) -> tuple[Event | None, list[Event], Event | None]:
        """parser.y's script: opt_init_command events opt_cleanup_command."""
        init = cleanup = None
        t = self.peek()
        if t is not None and t.kind == "command":
            self.next()
            init = Event(t.line, Time("absolute"), Command(t.text[1:-1].strip()))
        events = []
        while self.peek() is not None:
            t = self.peek()
            if t.kind == "command" and self.peek(1) is None and events:
                self.next()
                cleanup = Event(t.line, Time("absolute"), Command(t.text[1:-1].strip()))
                break
            events.append(self.event())
        return init, events, cleanup

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
            action = Code(t.text[2:-2].strip(" \t"))  # lexer.l code(): not newlines
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
        start = self.next()
        direction = start.text
        extra = tos = None
        t = self.peek()
        if t is not None and t.kind == "word" and t.text == "icmp":
            return self.icmp_packet(direction)
        if t is not None and t.kind == "word" and t.text in OTHER_PACKETS:
            # udp/icmp packets and outer headers (ipv4 A > B:, gre, mpls, encap psp ...):
            # the model has none of them; the runner says so, naming them
            while self.peek() is not None and self.peek().line == start.line:
                self.next()
            return Packet(direction, "", 0, 0, 0, win=0, extra=OTHER_PACKETS[t.text])
        # opt_ip_info: [ect0], (tos 0x4), [ttl 64, flowlabel 1]: IP-level details, not modelled
        while self.is_("[") or self.is_("("):
            opening = self.next().text
            close = "]" if opening == "[" else ")"
            parts = []
            while not self.is_(close):
                parts.append(self.next().text)
            self.next()
            text = f"({opening}{' '.join(parts)}{close})"
            ecn = {"noecn": 0, "ect1": 1, "ect0": 2, "ce": 3}  # IP_ECN_* (INET_ECN_*)
            if len(parts) == 1 and parts[0] in ecn:
                tos = ("ecn", ecn[parts[0]], text)
            elif parts == ["ect01"]:
                if direction != ">":
                    raise ScriptError(f"{self.path}:{start.line}: [ect01] can only be used with "
                                      "outbound packets")
                tos = ("ect01", 0, text)
            elif len(parts) == 2 and parts[0] == "tos" and parts[1].lower().startswith("0x"):
                value = int(parts[1], 16)
                if value > 0xFF:
                    raise ScriptError(f"{self.path}:{start.line}: tos out of range for 8 bits")
                tos = ("tos", value, text)
            else:
                extra = f"IP-level details of packets {text}"
        # opt_port_info: `40000>8080` names the connection: several connections in one script
        t = self.peek()
        if t is not None and t.kind == "int" and self.is_(">", 1) and \
                self.peek(2) is not None and self.peek(2).kind == "int":
            src = self.next().text
            self.next()
            dst = self.next().text
            extra = extra or f"port numbers in packet lines ({src}>{dst}: several connections)"
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
            seq = self.integer("the TCP start sequence number", U32)
        else:
            raise self.error(self.peek(), "expected the flags and then START:END(LENGTH)")
        self.expect(":")
        end = self.integer("the TCP end sequence number", U32)
        self.expect("(")
        length = self.integer("the TCP payload size", U16)
        self.expect(")")
        if (end - seq) % (1 << 32) != length:
            raise ScriptError(f"{self.path}:{self.toks[self.i - 1].line}: {seq}:{end}({length}) "
                              f"is inconsistent: the end must be the start plus the length")
        p = Packet(direction, flags, seq, end, length, extra=extra, tos=tos)
        while True:
            t = self.peek()
            if t is not None and t.kind == "word" and t.text == "ack" and \
                    (self.peek(1) is not None and self.peek(1).kind in ("int", "hex")):
                self.next()
                p.ack = self.integer("the TCP ack number", U32)
            elif t is not None and t.kind == "word" and t.text == "win":
                self.next()
                p.win = self.integer("the TCP window", U16)
            elif t is not None and t.kind == "word" and t.text == "urg":
                self.next()
                p.urg = self.integer("the urgent pointer", U16)
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

    def icmp_packet(self, direction: str) -> Packet:
        """`icmp TYPE [CODE] [mtu N] [echo_id N] [[START:END(LEN)] | [udp (N)] | [raw (N)]]`
        (parser.y icmp_packet_spec; ICMPv4, the scripts' default address family).  A type or
        code packetdrill does not know, or an MTU on another message, is its semantic error
        (icmp_packet.c parse_icmp_type_and_code(), set_icmpv4_header())."""
        start = self.next()  # icmp
        t = self.next()
        if t is None or t.kind != "word":
            raise self.error(t, "expected the ICMP type (unreachable, ...)")
        type_name = t.text
        code_name = None
        word = lambda w: self.peek() is not None and self.peek().kind == "word" and \
            self.peek().text == w  # noqa: E731
        if self.peek() is not None and self.peek().kind == "word" and \
                self.peek().line == t.line and self.peek().text not in ("mtu", "echo_id"):
            code_name = self.next().text
        m = re.fullmatch(r"type_(\d+)", type_name)
        kind = int(m.group(1)) if m else ICMPV4_TYPES.get(type_name, -1)
        if not 0 <= kind <= U8:
            raise ScriptError(f"{self.path}:{t.line}: bad ICMP type {type_name}")
        if code_name is None:
            code = 0
        else:
            m = re.fullmatch(r"code_(\d+)", code_name)
            code = int(m.group(1)) if m else (ICMPV4_UNREACH_CODES.get(code_name, -1)
                                              if kind == 3 else -1)
            if not 0 <= code <= U8:
                raise ScriptError(f"{self.path}:{t.line}: bad ICMP code {code_name}")
        mtu = None
        if word("mtu"):
            self.next()
            mtu = self.integer("the ICMP MTU", None)
            if (kind, code) != (3, 4):
                raise ScriptError(f"{self.path}:{t.line}: ICMPv4 MTU is only valid for "
                                  "unreachable-frag_needed")
            if mtu > U16:
                raise ScriptError(f"{self.path}:{t.line}: ICMPv4 MTU out of 16-bit range")
        extra = None
        if word("echo_id"):
            self.next()
            self.integer("the ICMP echo id", U16)
            extra = "ICMP echo ids"
        icmp = Icmp(kind, code, mtu, name=" ".join(filter(None, [type_name, code_name])))
        if self.is_("["):
            self.next()
            if self.peek() is not None and self.peek().kind == "word" and \
                    self.peek().text.lower() in ("udp", "raw"):
                extra = f"ICMP packets echoing {self.next().text} packets"
                while not self.is_("]"):
                    self.next()
            else:
                icmp.seq = self.integer("the TCP start sequence number", U32)
                self.expect(":")
                end = self.integer("the TCP end sequence number", U32)
                self.expect("(")
                icmp.length = self.integer("the TCP payload size", U16)
                self.expect(")")
                if (end - icmp.seq) % (1 << 32) != icmp.length:
                    raise ScriptError(f"{self.path}:{start.line}: {icmp.seq}:{end}"
                                      f"({icmp.length}) is inconsistent: the end must be the "
                                      "start plus the length")
            self.expect("]")
        if direction == ">":
            extra = "outbound ICMP packets"
        return Packet(direction, "", 0, 0, 0, win=0, extra=extra, icmp=icmp)

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
                                  f"sackOK, wscale, TS, sack, eol, FO, md5, ECN), not '{name}'")
            if name == "nop":
                opts.append(["nop", None])
            elif name == "eol":
                opts.append(["eol", None])
            elif name == "sackOK":
                opts.append(["sackOK", None])
            elif name == "mss":
                opts.append(["mss", self.integer("the MSS", U16)])
            elif name == "wscale":  # a u8 on the wire; the kernel takes more than 14 as 14
                opts.append(["wscale", self.integer("the window scale shift count", U8)])
            elif name == "TS":
                self.expect("val", "'val'")
                val = self.integer("the TS val", U32)
                self.expect("ecr", "'ecr'")
                opts.append(["TS", [val, self.integer("the TS ecr", U32)]])
            elif name == "sack":
                blocks = []
                while self.peek() is not None and self.peek().kind == "int":
                    left = self.integer("a SACK block's left edge", U32)
                    self.expect(":")
                    blocks.append([left, self.integer("a SACK block's right edge", U32)])
                if not blocks:
                    raise self.error(self.peek(), "expected SACK blocks (LEFT:RIGHT) after sack")
                opts.append(["sack", blocks])
            elif name in ("FO", "FOEXP"):
                # FAST_OPEN opt_tcp_fast_open_cookie (parser.y): the cookie in hex digits, or
                # nothing (a cookie request); kept as lower-case hex, sent byte for byte
                blob = self.peek()
                cookie = ""
                if blob is not None and blob.kind in ("word", "int", "hex") and \
                        blob.text not in ("val", "ecr"):
                    self.next()
                    cookie = self.fast_open_cookie(blob, name)
                opts.append([name, cookie])
            elif name == "md5":
                # MD5 hex_blob: read; the runner reports it as unsupported (no TCP-MD5)
                blob = self.peek()
                if blob is not None and blob.kind in ("word", "int", "hex") and \
                        blob.text not in ("val", "ecr"):
                    self.next()
                else:
                    raise self.error(blob, "expected the MD5 digest (hex digits) after md5")
                opts.append([name, blob.text])
            elif name == "ECN":  # accecn_option: ECN e0b N [ceb N [e1b N]]
                counts = []
                while self.peek() is not None and self.peek().text in ("e0b", "e1b", "ceb"):
                    field_name = self.next().text
                    counts.append([field_name, self.integer(f"the AccECN {field_name} count")])
                if not counts:
                    raise self.error(self.peek(), "expected e0b or e1b after ECN")
                opts.append(["ECN", counts])
            else:
                raise ScriptError(f"{self.path}:{t.line}: '{name}' is not a TCP option "
                                  "packetdrill knows")
            if self.is_(","):
                self.next()
                continue
            self.expect(">", "',' or '>' in the option list")
            return opts

    def fast_open_cookie(self, t: Token, name: str) -> str:
        """parser.y new_tcp_fast_open_option(): an even number of hex digits, at most the
        option space less the option's own bytes (38 for FO, 36 for FOEXP, whose magic takes
        two); anything else is a parse error there too."""
        text = t.text
        where = f"{self.path}:{t.line}"
        if len(text) % 2:
            raise ScriptError(f"{where}: the TCP Fast Open cookie '{text}' has an odd number "
                              "of digits, as packetdrill's parser says too")
        most = FO_COOKIE_MAX[name]
        if len(text) // 2 > most:
            raise ScriptError(f"{where}: a TCP Fast Open cookie of {len(text) // 2} bytes "
                              f"exceeds the maximum of {most} for {name}, as packetdrill's "
                              "parser says too")
        if not re.fullmatch(r"[0-9a-fA-F]*", text):
            hint = (" (packetdrill's run_all.py defines it with -D; give the cookie's hex "
                    "digits here)" if re.fullmatch(r"[A-Z_][A-Z0-9_]*", text) else "")
            raise ScriptError(f"{where}: the TCP Fast Open cookie '{text}' is not a valid hex "
                              f"string, as packetdrill's parser says too{hint}")
        return text.lower()

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
        if t.kind == "string":  # string_sequence: "a" "b" is "ab"; "a"... is a prefix
            value = ""
            while self.peek() is not None and self.peek().kind == "string":
                text = self.next().text[1:-1]
                value += text.encode("utf-8", "replace").decode("unicode_escape", "replace")
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
            # sub_expr_list and the structs (sockaddr, msghdr, iovec, pollfd, linger, cmsg,
            # epoll_event...): `field=value`, `msg_iov(1)=[...]` (a field with its count), or a
            # bare value (iovec's {..., 100}), kept under its position
            self.next()
            fields = {}
            if self.is_("}"):
                self.next()
                return Struct(fields)
            while True:
                key = self.peek()
                if key is not None and key.kind == "word" and (self.is_("=", 1) or self.is_("(", 1)):
                    self.next()
                    if self.is_("("):
                        self.next()
                        fields[f"{key.text}#count"] = self.arguments(")")
                    self.expect("=", f"'=' after {key.text}")
                    fields[key.text] = self.expression()
                else:
                    fields[str(len(fields))] = self.expression()
                if self.is_(","):
                    self.next()
                    continue
                self.expect("}", "',' or '}'")
                return Struct(fields)
        raise self.error(t, "expected a value (a number, a symbol, ..., [..] or {..})")


def define(toks: list[Token], defines: dict[str, str]) -> list[Token]:
    """packetdrill's -D SYMBOL=VALUE (config.c definition_set(); lexer.l word()): a word that
    is a defined symbol becomes its value: a string ("..."), a command (`...`), a number
    when all of it reads as one (strtol(value, &end, 0)), else a word."""
    out = []
    for t in toks:
        value = defines.get(t.text) if t.kind == "word" else None
        if value is None:
            out.append(t)
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            out.append(Token("string", value, t.line))
        elif len(value) >= 2 and value[0] == value[-1] == "`":
            out.append(Token("command", value, t.line))
        elif re.fullmatch(r"0[xX][0-9a-fA-F]+", value):
            out.append(Token("hex", value, t.line))
        elif re.fullmatch(r"0[0-7]*", value):
            out.append(Token("int", str(int(value, 8)), t.line))  # strtol's octal
        elif re.fullmatch(r"[1-9]\d*", value):
            out.append(Token("int", value, t.line))
        else:
            out.append(Token("word", value, t.line))
    return out


def parse(text: str, path: str = "<script>", defines: dict[str, str] | None = None) -> Script:
    """A Script, or a ScriptError naming the line; defines: packetdrill's -D symbols."""
    options: dict[str, str] = {}
    pos = 0
    while True:  # parser.y's opt_options: blanked out once read, so line numbers stay
        blank = _BLANK.match(text, pos)
        pos = blank.end() if blank else pos
        m = _OPTION.match(text, pos)
        if m is None:
            break
        value = m.group(2) if m.group(2) is not None else ""
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        options[m.group(1)] = value
        text = text[:pos] + re.sub(r"[^\n]", " ", m.group()) + text[m.end():]
        pos = m.end()
    toks = tokens(text, path)
    if defines:
        toks = define(toks, defines)
    for t in toks:
        if t.kind == "other":
            raise ScriptError(f"{path}:{t.line}: the character '{t.text}' has no meaning in a "
                              "packetdrill script")
    init, events, cleanup = _Parser(toks, path).script()
    if not events:
        raise ScriptError(f"{path}: the script has no events (a time and then a packet, a "
                          "system call or a command)")
    return Script(path, options, events, init, cleanup)


def load(path: str | Path, defines: dict[str, str] | None = None) -> Script:
    p = Path(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ScriptError(f"{path} is not a text file; give a packetdrill script (.pkt)") from None
    except OSError as e:
        raise ScriptError(f"cannot read {path}: {e.strerror}; give the path of a packetdrill "
                          "script") from None
    return parse(text, str(path), defines)
