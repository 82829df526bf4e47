"""The shell commands of packetdrill scripts, read as far as the model can follow them.

packetdrill runs a script's backquoted commands with system() (run.c: the init command before
time 0, run_command_event() for timed ones, run_cleanup_command() at the end).  The model has
no shell and no /proc; what it can follow is a sysctl setting of a sysctl it models.  So a
command is split into simple commands and each is one of:
  - packetdrill's gtests/net/common/defaults.sh: the sysctls it sets (DEFAULTS_SH below);
  - `sysctl [-q] [-e] [-w] net.ipv4.KEY=VALUE ...` (or net/ipv4/KEY), the tree's
    `set_sysctls.py /proc/sys/net/ipv4/KEY=VALUE ...`, `echo VALUE > /proc/sys/...`, and the
    restore script set_sysctls.py writes (`/tmp/sysctl_restore_${PPID}.sh`);
  - anything else, which the model cannot run: reported as unsupported, by name.
A sysctl the model does not read is unsupported too (its effect would be missing silently),
and a value the kernel would refuse makes the command fail, as it does under packetdrill.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass

# What packetdrill's gtests/net/common/defaults.sh sets (google/packetdrill, read 2026-05),
# written here as data rather than copied: every setting, so that the model can say which it
# follows.  Values the shell computes are given computed ($((15*1024*1024)) = 15728640).
DEFAULTS_SH: dict[str, str] = {
    "net.ipv4.tcp_rmem": "4096 540000 15728640",
    "net.ipv4.tcp_wmem": "4096 262144 4194304",
    "net.ipv4.tcp_timestamps": "1",
    "net.ipv4.tcp_syn_retries": "5",
    "net.ipv4.tcp_synack_retries": "5",
    "net.ipv4.tcp_frto": "2",
    "net.ipv4.tcp_sack": "1",
    "net.ipv4.tcp_dsack": "1",
    "net.ipv4.tcp_fack": "0",
    "net.ipv4.tcp_reordering": "3",
    "net.ipv4.tcp_congestion_control": "cubic",
    "net.ipv4.tcp_slow_start_after_idle": "0",
    "net.ipv4.tcp_early_retrans": "4",
    "net.ipv4.tcp_recovery": "1",
    "net.ipv4.tcp_tso_win_divisor": "3",
    "net.ipv4.tcp_ecn": "0",
    "net.ipv4.tcp_ecn_option": "2",
    "net.ipv4.tcp_pacing_ss_ratio": "200",
    "net.ipv4.tcp_pacing_ca_ratio": "120",
    "net.ipv4.tcp_notsent_lowat": "4294967295",
    "net.ipv4.tcp_fastopen": "0x70403",
    "net.ipv4.tcp_fastopen_key": "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4",
    "net.ipv4.tcp_syncookies": "1",
}
# defaults.sh also flushes the TCP metrics cache (ip tcp_metrics flush: the model keeps none)
# and puts a pfifo qdisc on tun0 (the model does not pace): nothing to follow there for the
# model; the kernel's run does both in its namespace.
DEFAULTS_QDISC = "tc qdisc add dev tun0 root pfifo"


# The sysctls the model reads (tcpsim/model/profile.py), with the values the kernel accepts:
# "int" (proc_dointvec: a number, decimal or 0x hex), "ints" (tcp_rmem/wmem: three numbers),
# "range" (ip_local_port_range: two numbers).
MODEL_SYSCTLS: dict[str, str] = {
    "net.ipv4.tcp_timestamps": "int", "net.ipv4.tcp_sack": "int",
    "net.ipv4.tcp_window_scaling": "int", "net.ipv4.tcp_syn_retries": "int",
    "net.ipv4.tcp_synack_retries": "int", "net.ipv4.tcp_syn_linear_timeouts": "int",
    "net.ipv4.tcp_fin_timeout": "int", "net.ipv4.tcp_abort_on_overflow": "int",
    "net.ipv4.tcp_rmem": "ints", "net.ipv4.tcp_wmem": "ints", "net.core.rmem_max": "int",
    "net.core.wmem_max": "int", "net.core.somaxconn": "int",
    "net.ipv4.ip_local_port_range": "range",
    # the congestion window's (model/tcp_cong.py, tcp_output.py _tso_should_defer())
    "net.ipv4.tcp_slow_start_after_idle": "int", "net.ipv4.tcp_tso_win_divisor": "int",
    "net.ipv4.tcp_min_tso_segs": "int",
    # loss and recovery, each held against the kernel (built-in retries2-timeout,
    # tests/pkt/dsack-off.pkt); SACK compression's and keepalive's sysctls are read by the
    # model but never checked live with another value: unsupported here until they are
    "net.ipv4.tcp_retries2": "int", "net.ipv4.tcp_dsack": "int",
    "net.ipv4.tcp_frto": "int",  # tests/pkt/frto-off.pkt
    # Fast Open's server side (model/tcp_fastopen.py, tests/pkt/tfo-*.pkt)
    "net.ipv4.tcp_fastopen": "int", "net.ipv4.tcp_fastopen_key": "key",
    # tcp_notsent_lowat() when TCP_NOTSENT_LOWAT is 0 (model/tcp.py, tcp_poll()'s
    # tcp_stream_memory_free(); tests/pkt/notsent-lowat-sysctl.pkt): a u32, proc_douintvec
    "net.ipv4.tcp_notsent_lowat": "u32",
    # ECN's passive negotiation (tcp_ecn_create_request(); tests/pkt/ecn-passive.pkt): 0 and 2
    # on the model; 1 (ECN SYNs of its own) and AccECN's 3-5 are unsupported there (pkt/run.py)
    "net.ipv4.tcp_ecn": "int",
}
_COUNTS = {"int": 1, "ints": 3, "range": 2, "u32": 1}


# settings mainline Linux has not (upstream scripts set them for kernels that do, in the
# background: `sysctl -q KEY=V &> /dev/null || ...`): net.ipv4.tcp_fastopen_cookies
ABSENT_SYSCTLS = {"net.ipv4.tcp_fastopen_cookies"}


@dataclass
class Setting:
    key: str
    value: str


@dataclass
class Defaults:
    """defaults.sh: the settings of DEFAULTS_SH the model follows."""


@dataclass
class Restore:
    """set_sysctls.py's restore script: undo what set_sysctls.py set."""


@dataclass
class Flush:
    """`ip tcp_metrics flush [all]`: empty the namespace's TCP metrics cache (tcp_metrics.c,
    where the client side keeps the Fast Open cookies it was given)."""


@dataclass
class Foreign:
    """A command the model cannot run: its text."""

    text: str


def refusal(key: str, value: str) -> str | None:
    """Why the kernel refuses VALUE for KEY (EINVAL, as `sysctl` reports it), or None."""
    shape = MODEL_SYSCTLS.get(key)
    if shape is None:
        return None
    if shape == "key":  # proc_tcp_fastopen_key(): "%x-%x-%x-%x" (a backup key after a comma)
        if not all(re.fullmatch(r"[0-9a-fA-F]{1,8}(-[0-9a-fA-F]{1,8}){3}", k)
                   for k in value.split(",")) or value.count(",") > 1:
            return f"{key} takes four hex words (a-b-c-d), not {value!r}"
        return None
    parts = value.split()
    try:
        numbers = [int(p, 0) for p in parts]
    except ValueError:
        numbers = None
    if numbers is None or len(numbers) != _COUNTS[shape]:
        want = {"int": "a number", "ints": "three numbers", "range": "two numbers",
                "u32": "a number"}[shape]
        return f"{key} takes {want}, not {value!r}"
    if any(n < 0 or n > (0xFFFFFFFF if shape == "u32" else 0x7FFFFFFF) for n in numbers):
        return f"{value!r} is out of range for {key}"
    return None


def _sysctl_key(text: str) -> str:
    """net/ipv4/tcp_sack, /proc/sys/net/ipv4/tcp_sack and net.ipv4.tcp_sack are one key."""
    if text.startswith("/proc/sys/"):
        text = text[len("/proc/sys/"):]
    return text.replace("/", ".")


def simple_commands(text: str) -> list[str]:
    """A command line split at newlines, `;`, `&&` and `||`, comments and continuations gone."""
    return [cmd for cmd, _ in _commands(text)]


def _commands(text: str) -> list[tuple[str, str]]:
    """simple_commands() with the operator before each ("" for a newline or `;`)."""
    text = text.replace("\\\n", " ")
    out, op = [], ""
    for part in re.split(r"(\n|;|&&|\|\|)", text):
        if part in ("\n", ";", "&&", "||"):
            op = part if part in ("&&", "||") else ""
            continue
        line = re.sub(r"(^|\s)#.*", "", part).strip().rstrip("\\").strip()
        if line:
            out.append((line, op))
            op = ""
    return out


def read(text: str) -> list[Setting | Defaults | Restore | Flush | Foreign]:
    """What a backquoted command does, as far as the model can follow it."""
    actions: list = []
    skip = False
    for cmd, op in _commands(text):
        # `a &> /dev/null || b` under packetdrill's /bin/sh (system(): dash here, POSIX) is
        # `a &` (in the background) then `> /dev/null`, a command that succeeds, so `|| b` is
        # not run (bash would read `&>` as a redirection and run b when a fails)
        if op == "||" and skip:
            skip = False
            continue
        skip = False
        if re.search(r"&>\s*/dev/null\s*$", cmd):
            cmd, skip = re.sub(r"\s*&>\s*/dev/null\s*$", "", cmd), True
        # redirections of output (> /dev/null 2>&1) do not change what a command does
        plain = re.sub(r"\s*\d?>&\d|\s*\d?>\s*/dev/null", "", cmd)
        try:
            words = shlex.split(plain)
        except ValueError:
            actions.append(Foreign(cmd))
            continue
        prog = words[0].rsplit("/", 1)[-1] if words else ""
        if prog == "defaults.sh" and len(words) == 1:
            actions.append(Defaults())
        elif prog == "ip" and words[1:3] == ["tcp_metrics", "flush"] and words[3:] in ([], ["all"]):
            actions.append(Flush())
        elif prog == "sysctl" and words[1:]:
            flags = [w for w in words[1:] if w.startswith("-")]
            sets = [w for w in words[1:] if not w.startswith("-")]
            if skip and sets and all(_sysctl_key(w.split("=", 1)[0]) in ABSENT_SYSCTLS
                                     for w in sets):
                continue  # in the background, on a key this kernel lacks: fails, does nothing
            if set(flags) <= {"-q", "-e", "-w", "-qw", "-wq", "-eq", "-qe"} and sets and \
                    all("=" in w for w in sets):
                actions += [Setting(_sysctl_key(w.split("=", 1)[0]), w.split("=", 1)[1])
                            for w in sets]
            else:
                actions.append(Foreign(cmd))
        elif prog == "set_sysctls.py" and words[1:] and all("=" in w for w in words[1:]):
            actions += [Setting(_sysctl_key(w.split("=", 1)[0]), w.split("=", 1)[1])
                        for w in words[1:]]
        elif re.fullmatch(r"sysctl_restore_\$\{?PPID\}?\.sh", prog) and len(words) == 1:
            actions.append(Restore())
        elif prog == "echo" and len(words) >= 3 and ">" in words and \
                words.index(">") == len(words) - 2 and words[-1].startswith("/proc/sys/"):
            actions.append(Setting(_sysctl_key(words[-1]), " ".join(words[1:-2])))
        else:
            actions.append(Foreign(cmd))
    return actions


def nstat(text: str) -> str | None:
    """iproute2's nstat as scripts use it to look at one counter: `nstat` (its output to
    /dev/null: it prints what changed since its last run and keeps the values as its
    history) gives "", `nstat | grep [-q] NAME` (to /dev/null: the status says whether NAME
    changed) gives NAME; None for any other command."""
    plain = re.sub(r"\s*\d?>&\d|\s*\d?>\s*/dev/null", "", text)
    try:
        words = shlex.split(plain)
    except ValueError:
        return None
    if words == ["nstat"]:
        return ""
    if words[:3] == ["nstat", "|", "grep"]:
        rest = [w for w in words[3:] if w != "-q"]
        if len(rest) == 1 and re.fullmatch(r"[A-Za-z0-9]+", rest[0]):
            return rest[0]
    return None


# -- the kernel's run: commands run inside the run's namespace only ---------------------------
# `pkt run --kernel` runs a script's other commands as packetdrill does (system(): /bin/sh -c),
# from the thread that is in the run's private network namespace, so that the shell and what
# it starts are in that namespace too.  Only what stays there is run: programs that act on the
# namespace's devices, routes, qdiscs and counters, and programs that only read; a command
# that would write anything the namespace does not have its own copy of (a file, a module's
# parameter, another namespace) is refused, by name.
NAMESPACE_PROGRAMS: dict[str, str] = {
    "tc": "the namespace's qdiscs, classes and filters (rtnetlink)",
    "ip": "the namespace's links, addresses, routes, neighbours, rules, TCP metrics",
    "ethtool": "the namespace's devices' settings (ethtool netlink/ioctl on its device)",
    "nstat": "the namespace's counters (/proc/net/netstat, snmp; its history file is the run's)",
    "ss": "the namespace's sockets",
    "grep": "reading", "cat": "reading", "head": "reading", "tail": "reading", "wc": "reading",
    "sort": "reading", "uniq": "reading", "true": "nothing", "false": "nothing",
    "sleep": "nothing", "echo": "nothing", "test": "nothing", "[": "nothing",
}
# options that make ip/tc act in another namespace, or ethtool on a device's hardware
_OTHER_NAMESPACE = {"netns", "-n", "-netns", "--netns", "-N", "-all", "-a", "-all-netns"}
_ETHTOOL_HARDWARE = {"-f", "--flash", "-E", "--change-eeprom", "-e", "--eeprom-dump",
                     "-r", "--negotiate", "-p", "--identify", "--reset", "-W"}


# Programs that write files, allowed when the run has a /tmp of its own (lab/netns.py
# private_tmp(): an overlay the run alone writes, gone with it) and every file they write is
# in it (sendfile-simple's `/bin/rm -f /tmp/testfile; /bin/dd ... of=/tmp/testfile`): which of
# their operands they write ("all" of them, cp's "last", dd's "of=")
TMP_WRITERS: dict[str, str] = {"rm": "all", "touch": "all", "mkdir": "all", "rmdir": "all",
                               "truncate": "all", "cp": "last", "dd": "of="}


def _in_private_tmp(path: str) -> bool:
    """Whether writing path stays in the run's /tmp: an absolute path under /tmp that no
    symbolic link (the host's, read through the overlay) leads out of, each match of a glob
    too (the shell expands it)."""
    if not path.startswith("/") or "$" in path:
        return False  # relative to the script's directory (the host's), or the shell's to say
    for p in glob.glob(path) or [path]:
        real = os.path.realpath(p)
        if real == "/tmp" or not real.startswith("/tmp/"):
            return False
    return True


def _tmp_refusal(words: list[str], stage: str) -> str | None:
    """A file-writing program of TMP_WRITERS run where /tmp is the run's own: why not, or
    None when everything it writes is there."""
    how = TMP_WRITERS[words[0].rsplit("/", 1)[-1]]
    if how == "of=":
        targets = [w[3:] for w in words[1:] if w.startswith("of=")]
    else:
        operands = [w for w in words[1:] if not w.startswith("-")]
        targets = operands[-1:] if how == "last" else operands
    if not targets:
        return None if how == "of=" else f"`{stage}` names no file it writes"
    for path in targets:
        if not _in_private_tmp(path):
            return (f"`{stage}` writes {path}, a file outside /tmp (the run has a /tmp of "
                    "its own; other files are the machine's)")
    return None


def namespace_refusal(text: str, private_tmp: bool = False) -> str | None:
    """Why a backquoted command may not run in the kernel's namespace (one sentence naming
    what it would touch outside it), or None when every part of it stays inside.
    private_tmp: the run has a /tmp of its own (lab/netns.py private_tmp()), where commands
    may write files."""
    if re.search(r"\$\(|`|<\(|>\(", text):
        return ("a command substitution, whose commands tcpsim cannot judge before running "
                "them (it runs only commands that stay inside the run's network namespace)")
    for cmd, _ in _commands(text):
        for stage in re.split(r"(?<![|])\|(?![|])", cmd):
            why = _stage_refusal(stage.strip(), private_tmp)
            if why is not None:
                return why
    return None


def _stage_refusal(stage: str, private_tmp: bool = False) -> str | None:
    # redirections: only to /dev/null or another descriptor (a file is the machine's), or
    # into the run's own /tmp
    for m in re.finditer(r"(\d?|&)>>?\s*(&?\S+)", stage):
        target = m.group(2)
        if target == "/dev/null" or re.fullmatch(r"&\d", target):
            continue
        if private_tmp and _in_private_tmp(target):
            continue
        if target.startswith("/proc/sys/net/"):  # the namespace's own, but not in this form
            return (f"`{stage}` writes {target} in a form tcpsim does not apply (it sets "
                    "`echo VALUE > /proc/sys/net/...` and `sysctl -q KEY=VALUE` itself)")
        kind = ("a setting of the whole machine, not of the network namespace"
                if target.startswith(("/sys/", "/proc/")) else
                "a file, and files are not part of a network namespace")
        return f"`{stage}` writes {target}, {kind}"
    plain = re.sub(r"(\d?|&)>>?\s*&?\S+|<\s*\S+", "", stage)
    try:
        words = shlex.split(plain)
    except ValueError:
        return f"`{stage}` cannot be read as a command"
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the program: its environment only
    if not words:
        return None
    prog = words[0].rsplit("/", 1)[-1]
    if private_tmp and prog in TMP_WRITERS:
        return _tmp_refusal(words, stage)
    if prog not in NAMESPACE_PROGRAMS:
        return (f"`{stage}` runs {prog}, which tcpsim does not know to stay inside the run's "
                f"network namespace (it runs {', '.join(sorted(p for p, w in NAMESPACE_PROGRAMS.items() if w not in ('reading', 'nothing')))} "
                "and commands that only read)")
    if prog in ("ip", "tc") and (_OTHER_NAMESPACE & set(words[1:])):
        return f"`{stage}` reaches another network namespace than the run's"
    if prog == "ethtool" and _ETHTOOL_HARDWARE & set(words[1:]):
        return f"`{stage}` acts on a device's hardware, not on the namespace's settings"
    if prog == "nstat" and {"-d", "--daemon"} & set(words[1:]):
        return f"`{stage}` starts a daemon, which would outlive the run"
    return None
