"""The `%{ ... }%` blocks of packetdrill scripts: assertions on the socket's TCP_INFO.

packetdrill (code.c) takes a snapshot of the socket under test's struct tcp_info at each
block's time and hands the blocks to a Python interpreter, with the fields as tcpi_* names
and a few constants (TCPI_OPT_*, TCP_CA_*, TCP_INFINITE_SSTHRESH); names a block assigns
(`cwnd += 10`) live on into the next.  tcpsim runs no script code: a block is parsed, checked
against a whitelist (assert, print, assignments to plain names, arithmetic, comparisons,
boolean logic, %-formatting of the message, int/abs/min/max), then evaluated with nothing but
those names in reach.  Anything else (imports, attributes, subscripts, calls of other
functions) is reported as unsupported, by name.
"""

from __future__ import annotations

import ast
import struct

from ..model.kernel import Sock
from ..model.tcp_recovery import lost_out, retrans_out

# include/uapi/linux/tcp.h, struct tcp_info, in order: (name, struct format) -- the first
# eight fields are bytes (two of them bitfields, split below)
_U8 = ("state", "ca_state", "retransmits", "probes", "backoff", "options", "wscale", "flags")
_LAYOUT = [(n, "I") for n in (
    "rto", "ato", "snd_mss", "rcv_mss", "unacked", "sacked", "lost", "retrans", "fackets",
    "last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv", "pmtu",
    "rcv_ssthresh", "rtt", "rttvar", "snd_ssthresh", "snd_cwnd", "advmss", "reordering",
    "rcv_rtt", "rcv_space", "total_retrans")] + [(n, "Q") for n in (
    "pacing_rate", "max_pacing_rate", "bytes_acked", "bytes_received")] + [(n, "I") for n in (
    "segs_out", "segs_in", "notsent_bytes", "min_rtt", "data_segs_in", "data_segs_out")] + [
    (n, "Q") for n in ("delivery_rate", "busy_time", "rwnd_limited", "sndbuf_limited")] + [
    (n, "I") for n in ("delivered", "delivered_ce")] + [
    (n, "Q") for n in ("bytes_sent", "bytes_retrans")] + [(n, "I") for n in (
    "dsack_dups", "reord_seen", "rcv_ooopack", "snd_wnd", "rcv_wnd", "rehash")] + [
    (n, "H") for n in ("total_rto", "total_rto_recoveries")] + [(n, "I") for n in (
    "total_rto_time",)]
_FORMAT = "=8B" + "".join(f for _, f in _LAYOUT)
TCP_INFO_SIZE = struct.calcsize(_FORMAT)  # 248: what this kernel fills, and more is zero

_STATES = {"ESTABLISHED": 1, "SYN_SENT": 2, "SYN_RECV": 3, "FIN_WAIT1": 4, "FIN_WAIT2": 5,
           "TIME_WAIT": 6, "CLOSE": 7, "CLOSE_WAIT": 8, "LAST_ACK": 9, "LISTEN": 10,
           "CLOSING": 11}
# code.c write_symbols(): the tcpi_state values by name too (TCP_ESTABLISHED ... TCP_CLOSING)
CONSTANTS = {**{f"TCP_{name}": value for name, value in _STATES.items()},
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4, "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16, "TCPI_OPT_SYN_DATA": 32, "TCPI_OPT_USEC_TS": 64,
    "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3,
    "TCP_CA_Loss": 4, "TCP_INFINITE_SSTHRESH": 0x7FFFFFFF,
}


def parse_tcp_info(raw: bytes) -> dict[str, int]:
    """struct tcp_info as tcpi_* names (packetdrill's own names for them)."""
    raw = raw[:TCP_INFO_SIZE].ljust(TCP_INFO_SIZE, b"\0")
    values = struct.unpack(_FORMAT, raw)
    out = {f"tcpi_{n}": v for n, v in zip(_U8, values[:8])}
    out["tcpi_snd_wscale"], out["tcpi_rcv_wscale"] = out["tcpi_wscale"] & 15, out["tcpi_wscale"] >> 4
    out["tcpi_delivery_rate_app_limited"] = out["tcpi_flags"] & 1
    out["tcpi_fastopen_client_fail"] = (out["tcpi_flags"] >> 1) & 3
    del out["tcpi_wscale"], out["tcpi_flags"]
    out.update({f"tcpi_{n}": v for (n, _), v in zip(_LAYOUT, values[8:])})
    return out


def _ca_state(sk: Sock) -> int:
    """icsk_ca_state: TCP_CA_Loss (4) after an RTO, TCP_CA_Recovery (3) in fast recovery,
    TCP_CA_Disorder (1) while something is SACKed, lost or sent again (tcp_try_keep_open()),
    else TCP_CA_Open (0).  (TCP_CA_CWR, ECN's, is not modelled.)"""
    if sk.ca_loss:
        return 4
    if sk.ca_recovery:
        return 3
    if sk.sacked_out or sk.lost_out or retrans_out(sk):
        return 1
    return 0


def model_tcp_info(sk: Sock, kernel=None) -> dict[str, int]:
    """The fields the model keeps, as tcp_get_info() fills them; a block naming any other
    is unsupported on the model (it names the field).  With the kernel (its clock), the
    times since: jiffies_to_msecs(tcp_jiffies32 - icsk_ack.lrcvtime), and of tp->rcv_tstamp."""
    since = {}
    if kernel is not None:
        jiffy = kernel.profile.jiffy
        now = int(kernel.now / jiffy + 1e-9)
        since = {"tcpi_last_data_recv": int(round((now - int(sk.lrcvtime / jiffy + 1e-9)) * jiffy
                                                  * 1000)) & 0xFFFFFFFF,
                 "tcpi_last_ack_recv": int(round((now - int(sk.rcv_tstamp / jiffy + 1e-9)) * jiffy
                                                 * 1000)) & 0xFFFFFFFF}
    opts = (1 if sk.ts_ok else 0) | (2 if sk.sack_ok else 0) | (4 if sk.ws_ok else 0) | (
        32 if sk.syn_data_acked else 0) | (8 if sk.ecn_ok else 0)  # TCPI_OPT_SYN_DATA, _ECN
    return {
        "tcpi_state": _STATES.get(sk.state, 7), "tcpi_ca_state": _ca_state(sk),
        "tcpi_options": opts, "tcpi_snd_wscale": sk.snd_wscale, "tcpi_rcv_wscale": sk.rcv_wscale,
        "tcpi_snd_mss": sk.mss_cache, "tcpi_rcv_mss": sk.rcv_mss, "tcpi_advmss": sk.advmss,
        "tcpi_unacked": sk.packets_out, "tcpi_sacked": sk.sacked_out, "tcpi_lost": lost_out(sk),
        "tcpi_retrans": retrans_out(sk), "tcpi_retransmits": sk.retries,
        "tcpi_backoff": sk.backoff,
        "tcpi_snd_cwnd": sk.snd_cwnd, "tcpi_snd_ssthresh": sk.snd_ssthresh,
        "tcpi_rcv_ssthresh": sk.rcv_ssthresh, "tcpi_snd_wnd": sk.snd_wnd,
        "tcpi_rcv_wnd": sk.rcv_wnd, "tcpi_notsent_bytes": len(sk.unsent),
        "tcpi_reordering": sk.reordering, "tcpi_reord_seen": sk.reord_seen,
        # tcp_get_info(): tp->delivered (the SYN's included), icsk_probes_out
        "tcpi_delivered": sk.delivered, "tcpi_probes": sk.probes_out,
        # tcp_get_info(): srtt_us >> 3 and mdev_us >> 2 (the script's clock is the model's)
        "tcpi_rtt": sk.srtt_us >> 3, "tcpi_rttvar": sk.mdev_us >> 2, **since,
        "tcpi_fastopen_client_fail": sk.fastopen_client_fail,
    }


_NODES = (ast.Module, ast.Expr, ast.Assert, ast.Assign, ast.AugAssign, ast.Name, ast.Load,
          ast.Store, ast.Constant, ast.Compare, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.IfExp,
          ast.Tuple, ast.Call, ast.JoinedStr, ast.FormattedValue,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd,
          ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.USub, ast.UAdd, ast.Not,
          ast.Invert, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_FUNCTIONS = {"print": lambda *a, **k: None, "int": int, "abs": abs, "min": min, "max": max}


def compile_block(text: str):
    """The block's code, checked: (code object, None), or (None, what is not supported)."""
    try:
        # lexer.l code(): spaces and tabs stripped from both ends (not newlines), and
        # code.c write_text() ends the text with two newlines: a trailing backslash
        # continues onto the blank line
        tree = ast.parse(text.strip(" \t") + "\n\n")
    except SyntaxError as e:
        return None, f"a %{{ }}% block that is not Python ({e.msg})"
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            return None, f"a %{{ }}% block using {type(node).__name__}"
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and
                                               node.func.id in _FUNCTIONS and not node.keywords):
            return None, "a %{ }% block calling a function other than print, int, abs, min, max"
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, ast.Name) and not t.id.startswith(("tcpi_", "_"))
                       for t in targets):
                return None, "a %{ }% block assigning to something other than a plain name"
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return None, f"a %{{ }}% block naming {node.id}"
    return compile(tree, "<%{ }%>", "exec"), None


def names(code) -> set[str]:
    """The tcpi_* names a block reads."""
    return {n for n in code.co_names if n.startswith("tcpi_")}


def run_block(code, info: dict[str, int], env: dict) -> str | None:
    """Evaluate the block with the snapshot; None, or the failed assertion's message."""
    scope = {"__builtins__": {}, **_FUNCTIONS, **CONSTANTS, **info}
    scope.update({k: v for k, v in env.items() if k not in info})
    try:
        exec(code, scope)  # noqa: S102 - only the whitelisted nodes above, no builtins
    except AssertionError as e:
        return str(e) or "assertion failed"
    except (ArithmeticError, TypeError, NameError, ValueError, MemoryError) as e:
        return f"{type(e).__name__}: {e}"
    for k, v in scope.items():  # names the block assigned live on (cwnd += 10)
        if k not in info and k not in CONSTANTS and k not in _FUNCTIONS and k != "__builtins__":
            env[k] = v
    return None
