"""KernelProfile: the sysctls of one Linux kernel and the values TCP derives from them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

from ..errors import TcpsimError

# The loopback MTUs tcpsim models and the lab sets.  The kernel takes any MTU for lo (its
# min_mtu and max_mtu are 0: measured 0 to 200000), but below 68 (RFC 791's minimum) the
# device loses its IPv4 address (inetdev_event), and above 65536 (lo's default) nothing
# changes for TCP over IPv4: a datagram is at most 65535 bytes and the MSS is capped at 65495.
LO_MTU_RANGE = (68, 65536)

_SYSCTL_DIRS = ("net/ipv4", "net/core")
_PROFILES = "profiles"


# The congestion controls the model has (tcp_cong.c's reno, tcp_cubic.c), and the one a
# socket gets when nothing says otherwise: Linux's own default (CONFIG_DEFAULT_TCP_CONG)
MODELLED_CONGESTION = ("cubic", "reno")
DEFAULT_CONGESTION = "cubic"

_INT_MAX = 2**31 - 1
# The sysctls the model reads, as numbers: key -> (how many, least, most), within what the
# kernel's proc handlers take (u8 flags, tcp_syn_retries up to MAX_TCP_SYNCNT, ints).  A value
# from a trace file or --sysctl outside them is refused by name, rather than met later in the
# model as a ValueError or as a retry loop that does not end.
NUMERIC_SYSCTLS: dict[str, tuple[int, int, int]] = {
    "net.ipv4.tcp_timestamps": (1, 0, 255),
    "net.ipv4.tcp_sack": (1, 0, 255),
    "net.ipv4.tcp_window_scaling": (1, 0, 255),
    "net.ipv4.tcp_abort_on_overflow": (1, 0, 255),
    "net.ipv4.tcp_syn_retries": (1, 1, 127),
    "net.ipv4.tcp_synack_retries": (1, 0, 255),
    "net.ipv4.tcp_syn_linear_timeouts": (1, 0, 255),
    "net.ipv4.tcp_fin_timeout": (1, 0, _INT_MAX // 100),  # seconds, held in jiffies
    "net.ipv4.tcp_retries2": (1, 0, 255),
    "net.ipv4.tcp_keepalive_time": (1, 0, _INT_MAX // 1000),  # seconds, held in jiffies
    "net.ipv4.tcp_keepalive_intvl": (1, 0, _INT_MAX // 1000),
    "net.ipv4.tcp_keepalive_probes": (1, 0, 255),
    "net.ipv4.tcp_backlog_ack_defer": (1, 0, 255),
    "net.ipv4.tcp_invalid_ratelimit": (1, 0, _INT_MAX // 1000),  # ms, held in jiffies
    "net.ipv4.tcp_workaround_signed_windows": (1, 0, 255),
    "net.ipv4.tcp_moderate_rcvbuf": (1, 0, 255),
    "net.ipv4.tcp_slow_start_after_idle": (1, 0, 255),
    "net.ipv4.tcp_tso_win_divisor": (1, 0, 255),
    "net.ipv4.tcp_min_tso_segs": (1, 1, 255),
    "net.ipv4.tcp_tso_rtt_log": (1, 0, 255),  # u8
    "net.ipv4.tcp_pacing_ss_ratio": (1, 0, 1000),  # 0 to "thousand"
    "net.ipv4.tcp_pacing_ca_ratio": (1, 0, 1000),
    "net.ipv4.tcp_recovery": (1, 0, 255),  # u8 flags
    "net.ipv4.tcp_notsent_lowat": (1, 0, 2**32 - 1),  # a u32 (UINT_MAX: no limit)
    "net.ipv4.tcp_rmem": (3, 1, _INT_MAX),
    "net.ipv4.tcp_wmem": (3, 1, _INT_MAX),
    "net.core.rmem_max": (1, 0, _INT_MAX),
    "net.core.wmem_max": (1, 0, _INT_MAX),
    "net.core.somaxconn": (1, 0, _INT_MAX),
    "net.ipv4.ip_local_port_range": (2, 1, 65535),
}


def check_sysctls(sysctls: dict, where: str) -> None:
    """Refuse, in one sentence, a value of a sysctl the model reads that no kernel holds."""
    for key, (n, lo, hi) in NUMERIC_SYSCTLS.items():
        if key not in sysctls:
            continue
        text = str(sysctls[key])
        words = text.split()
        if (len(words) != n or not all(re.fullmatch(r"-?[0-9]{1,11}", w) for w in words)
                or not all(lo <= int(w) <= hi for w in words)):
            what = "an integer" if n == 1 else f"{n} integers"
            raise TcpsimError(f"{key} = {text[:40]!r} ({where}) is not {what} from {lo} to {hi}, "
                              "as the kernel takes it; give such a value")
        if key == "net.ipv4.ip_local_port_range" and int(words[0]) > int(words[1]):
            # ipv4_local_port_range() refuses it (EINVAL); the model would pick from no ports
            raise TcpsimError(f"{key} = {text!r} ({where}) begins above where it ends; give "
                              "the lowest port first, as in '32768 60999'")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(text).split())


@dataclass(frozen=True)
class KernelProfile:
    """What the model needs to know about the kernel it imitates.

    sysctls keeps every value as the kernel printed it ("4096 131072 33554432"); the
    properties below read the ones TCP uses, with the kernel's defaults where one is absent,
    once (they are on the model's hot path).
    """

    name: str
    release: str = "unknown"
    mtu: int = 65536  # loopback
    hz: int = 250
    sysctls: dict = field(default_factory=dict, compare=False, hash=False)
    # the machine's own default congestion control, when the lab ran another on each socket
    # (lab/kernel.py lab_congestion(): this machine's bbr, which the model does not have)
    host_congestion_control: str = field(default="", compare=False)

    # -- sysctls -------------------------------------------------------------------------
    def _get(self, key: str, default: str) -> str:
        return str(self.sysctls.get(key, default))

    def _int(self, name: str, default: int) -> int:
        return int(self._get(f"net.ipv4.{name}", str(default)))

    @cached_property
    def timestamps(self) -> bool:
        return self._int("tcp_timestamps", 1) != 0

    @cached_property
    def sack(self) -> bool:
        return self._int("tcp_sack", 1) != 0

    @cached_property
    def window_scaling(self) -> bool:
        return self._int("tcp_window_scaling", 1) != 0

    @cached_property
    def syn_retries(self) -> int:
        return self._int("tcp_syn_retries", 6)

    @cached_property
    def synack_retries(self) -> int:
        return self._int("tcp_synack_retries", 5)

    @cached_property
    def syn_linear_timeouts(self) -> int:
        return self._int("tcp_syn_linear_timeouts", 0)

    @cached_property
    def backlog_ack_defer(self) -> bool:
        """tcp_backlog_ack_defer: an ACK due while the backlog is processed waits for
        tcp_release_cb()."""
        return self._int("tcp_backlog_ack_defer", 1) != 0

    @cached_property
    def retries2(self) -> int:
        """tcp_retries2: also the most the zero-window probes back off (tcp_send_probe0())."""
        return self._int("tcp_retries2", 15)

    @cached_property
    def keepalive_time(self) -> int:
        """tcp_keepalive_time (s): the idle time before the first keepalive probe, for a
        socket without TCP_KEEPIDLE (keepalive_time_when())."""
        return self._int("tcp_keepalive_time", 7200)

    @cached_property
    def keepalive_intvl(self) -> int:
        """tcp_keepalive_intvl (s): between unanswered probes (keepalive_intvl_when())."""
        return self._int("tcp_keepalive_intvl", 75)

    @cached_property
    def keepalive_probes(self) -> int:
        """tcp_keepalive_probes: unanswered probes before the connection is given up."""
        return self._int("tcp_keepalive_probes", 9)

    @cached_property
    def invalid_ratelimit(self) -> float:
        """tcp_invalid_ratelimit (ms): the least time between two answers to segments out of
        the window (__tcp_oow_rate_limited()), in seconds."""
        return self._int("tcp_invalid_ratelimit", 500) / 1000

    @cached_property
    def fin_timeout(self) -> float:
        return float(self._int("tcp_fin_timeout", 60))

    @cached_property
    def abort_on_overflow(self) -> bool:
        return self._int("tcp_abort_on_overflow", 0) != 0

    @cached_property
    def congestion_control(self) -> str:
        """The congestion control a new socket gets (tcp_congestion_control; Linux's own
        default is cubic).  What it changes in the model: tcp_sndbuf_expand()'s factor, the
        GSO segment goal (tcp_tso_segs()) and the cwnd's growth."""
        return self._get("net.ipv4.tcp_congestion_control", DEFAULT_CONGESTION)

    @cached_property
    def modelled_congestion(self) -> str:
        """The congestion control whose rules the model runs: the profile's, or cubic when
        the model does not have it (bbr)."""
        cc = self.congestion_control
        return cc if cc in MODELLED_CONGESTION else DEFAULT_CONGESTION

    @cached_property
    def workaround_signed_windows(self) -> bool:
        return self._int("tcp_workaround_signed_windows", 0) != 0

    @cached_property
    def moderate_rcvbuf(self) -> bool:
        return self._int("tcp_moderate_rcvbuf", 1) != 0

    @cached_property
    def rmem(self) -> tuple[int, int, int]:
        return _ints(self._get("net.ipv4.tcp_rmem", "4096 131072 6291456"))

    @cached_property
    def wmem(self) -> tuple[int, int, int]:
        return _ints(self._get("net.ipv4.tcp_wmem", "4096 16384 4194304"))

    @cached_property
    def rmem_max(self) -> int:
        return int(self._get("net.core.rmem_max", "212992"))

    @cached_property
    def somaxconn(self) -> int:
        return int(self._get("net.core.somaxconn", "4096"))

    @cached_property
    def fastopen(self) -> int:
        """net.ipv4.tcp_fastopen's bits (include/net/tcp.h TFO_*; default TFO_CLIENT_ENABLE),
        as proc_dointvec reads it (decimal, or 0x hex as packetdrill's scripts write it)."""
        try:
            return int(self._get("net.ipv4.tcp_fastopen", "1"), 0)
        except ValueError:
            return 1

    @cached_property
    def fastopen_key(self) -> str:
        """net.ipv4.tcp_fastopen_key: the namespace's cookie key, four 32-bit hex words (the
        kernel makes a random one when none is set: "" here, no cookies)."""
        return self._get("net.ipv4.tcp_fastopen_key", "")

    @cached_property
    def local_port_range(self) -> tuple[int, int]:
        lo, hi = _ints(self._get("net.ipv4.ip_local_port_range", "32768 60999"))
        return lo, hi

    # -- derived -------------------------------------------------------------------------
    def mss(self, family: int = 2) -> int:
        """The MSS we advertise: MTU minus IP and TCP headers (tcp_mss_to_mtu), at most 65495."""
        ip = 20 if family == 2 else 40
        return min(self.mtu - ip - 20, 65535 - 40)

    @cached_property
    def rcv_wscale(self) -> int:
        """tcp_select_initial_window(): scale for the largest window the buffer can reach."""
        if not self.window_scaling:
            return 0
        space = max(self.rmem[2], self.rmem_max)
        return max(0, min(14, space.bit_length() - 1 - 15))

    @cached_property
    def jiffy(self) -> float:
        return 1.0 / self.hz

    @cached_property
    def jiffy_us(self) -> int:
        """A jiffy in microseconds (usecs_to_jiffies()'s unit)."""
        return round(self.jiffy * 1e6)

    @cached_property
    def min_tso_segs(self) -> int:
        """tcp_min_tso_segs (tcp_tso_autosize()'s least, 2)."""
        return int(self.sysctls.get("net.ipv4.tcp_min_tso_segs", 2))

    @cached_property
    def tso_rtt_log(self) -> int:
        """tcp_tso_rtt_log (tcp_tso_autosize(): gso_max_size >> (min_rtt >> it), 9)."""
        return int(self.sysctls.get("net.ipv4.tcp_tso_rtt_log", 9))

    @cached_property
    def ato_min(self) -> float:
        """TCP_ATO_MIN = TCP_DELACK_MIN = HZ/25 jiffies: the delayed-ACK timeout (40 ms)."""
        return (self.hz // 25) / self.hz

    # -- making one ----------------------------------------------------------------------
    @classmethod
    def from_sysctls(cls, name: str, sysctls: dict, mtu: int = 65536, release: str = "unknown",
                     hz: int = 250) -> "KernelProfile":
        return cls(name=name, release=release, mtu=mtu, hz=hz, sysctls=dict(sysctls))

    @classmethod
    def from_trace(cls, trace, where: str | None = None) -> "KernelProfile":
        """The profile of the kernel a Trace was recorded on (the lab records its sysctls).
        where: what to call the trace in an error (the file it came from)."""
        check_sysctls(trace.sysctls, f"in {where}" if where else f"in the {trace.source} trace")
        prof = cls.from_sysctls(f"{trace.source}:{trace.kernel.get('release', '?')}", trace.sysctls,
                                mtu=trace.kernel.get("lo_mtu", 65536),
                                release=trace.kernel.get("release", "unknown"))
        host = trace.kernel.get("default_congestion_control", "")
        return replace(prof, host_congestion_control=host) if host else prof

    @classmethod
    def from_host(cls, proc: str | Path = "/proc/sys") -> "KernelProfile":
        """Read this machine's sysctls and loopback MTU."""
        base = Path(proc)
        if not (base / "net" / "ipv4").is_dir():
            raise TcpsimError(f"cannot read the host's TCP settings from {base}/net/ipv4; "
                              "use --profile reference where /proc is absent")
        sysctls = {}
        for d in _SYSCTL_DIRS:
            for p in sorted((base / d).iterdir()):
                if p.name.startswith(("tcp_", "ip_local_port_range", "rmem", "wmem", "somaxconn")):
                    try:
                        sysctls[f"{d.replace('/', '.')}.{p.name}"] = " ".join(p.read_text().split())
                    except OSError:
                        continue
        try:
            mtu = int(Path("/sys/class/net/lo/mtu").read_text())
        except (OSError, ValueError):
            mtu = 65536
        import platform

        return cls.from_sysctls("host", sysctls, mtu=mtu, release=platform.release())

    @classmethod
    def builtin(cls, name: str) -> "KernelProfile":
        names = builtin_profiles()
        if name not in names:
            raise TcpsimError(f"no kernel profile named '{name}'; the built-in ones are "
                              f"{', '.join(names)}, or use 'host'")
        data = json.loads((resources.files(__package__) / _PROFILES / f"{name}.json").read_text())
        prof = cls.from_sysctls(name, data["sysctls"], mtu=data["lo_mtu"], release=data["release"],
                                hz=data.get("hz", 250))
        host = data.get("host_congestion_control", "")
        return replace(prof, host_congestion_control=host) if host else prof

    @classmethod
    def named(cls, name: str) -> "KernelProfile":
        return cls.from_host() if name == "host" else cls.builtin(name)

    def with_sysctls(self, overrides: dict[str, str]) -> "KernelProfile":
        """The same kernel with some sysctls set otherwise (as `--sysctl` asks)."""
        if not overrides:
            return self
        check_sysctls(overrides, "given with --sysctl")
        sysctls = {**self.sysctls, **{k: str(v) for k, v in overrides.items()}}
        label = ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in overrides.items())
        return replace(self, name=f"{self.name}+{label}", sysctls=sysctls)

    def with_mtu(self, mtu: int | None) -> "KernelProfile":
        """The same kernel with lo's MTU set otherwise (as `--mtu` asks)."""
        if mtu is None or mtu == self.mtu:
            return self
        if not LO_MTU_RANGE[0] <= mtu <= LO_MTU_RANGE[1]:
            raise TcpsimError(f"--mtu {mtu} is outside what tcpsim models ({LO_MTU_RANGE[0]} to "
                              f"{LO_MTU_RANGE[1]}); give an MTU in that range, such as 1500")
        return replace(self, name=f"{self.name}+mtu={mtu}", mtu=mtu)

    def to_json(self) -> dict:
        out = {"name": self.name, "release": self.release, "lo_mtu": self.mtu, "hz": self.hz,
               "sysctls": self.sysctls}
        if self.host_congestion_control:
            out["host_congestion_control"] = self.host_congestion_control
        return out


def parse_sysctl(text: str) -> tuple[str, str]:
    """'net.ipv4.tcp_timestamps=0' -> (key, value): only the TCP settings each network namespace
    has of its own, which the lab may set in its namespace without touching the host."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not value:
        raise TcpsimError(f"--sysctl takes KEY=VALUE, as in net.ipv4.tcp_timestamps=0, not {text!r}")
    if not (key.startswith("net.ipv4.tcp_") or key == "net.ipv4.ip_local_port_range"):
        raise TcpsimError(f"tcpsim sets only the namespace's own TCP settings (net.ipv4.tcp_*), "
                          f"so that the host is never touched; {key} is not one of them")
    return key, value


def builtin_profiles() -> list[str]:
    d = resources.files(__package__) / _PROFILES
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".json"))
