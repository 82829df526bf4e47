#!/usr/bin/env python3
"""packetdrill's own scripts three ways, per folder: real packetdrill, `pkt run --kernel`, the model.

    python3 scripts/pkt_corpus.py CHECKOUT [--packetdrill BIN] [--preload SO] [--jobs 1]
                                  [--timeout 60] [--only FOLDER...] [-v]
                                  [--run-all | --flavour ipv4|ipv6|ipv4-mapped-ipv6]

CHECKOUT is a checkout of google/packetdrill (fetched by whoever runs this; nothing of it is
ever committed here).  For every .pkt under gtests/net/tcp and gtests/net/packetdrill:
  - real:   packetdrill itself (--packetdrill, built from that checkout), each script in a
            private network namespace of its own (`unshare -n`, lo up), with --preload (an
            LD_PRELOAD library, e.g. one pinning every TCP socket to cubic, as defaults.sh
            asks and a namespace may not choose by sysctl) when given.  Scripts that write
            global settings (/sys, net.core, modprobe) are not run: counted as "skipped".
  - kernel: `tcpsim pkt run --kernel` (lab/pktkernel.py);
  - model:  `tcpsim pkt run` (the model).
The table gives, per folder, how many scripts pass each way, how often tcpsim's kernel run
gives real packetdrill's verdict (pass or fail: issue 19's 95% target), and how many of the
scripts the kernel passes the model passes too (the 70% target).  Needs root for the first
two.  Exit 0 always (it measures; the figures are the result); 2 for a wrong argument.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_packetdrill_tree import TREES, classify  # noqa: E402  (the same per-script run)

GLOBAL_SETTINGS = ("/sys/module", "/sys/kernel", "/sys/class", "net.core", "/proc/sys/net/core",
                   "modprobe")


# run_all.py's IPv4 run (CmdTestIPv4()): its addresses and the symbols its scripts use
RUN_ALL_IPV4 = ["--ip_version=ipv4", "--local_ip=192.168.0.1", "--gateway_ip=192.168.0.1",
                "--netmask_ip=255.255.0.0", "--remote_ip=192.0.2.1"]
RUN_ALL_DEFINES = ["TFO_COOKIE=3021b9d889017eeb", "CODE=host_unreachable",
                   "CMSG_LEVEL_IP=SOL_IP", "CMSG_TYPE_RECVERR=IP_RECVERR"]
# its other two runs (CmdTestIPv6(), CmdTestIPv4Mappedv6()): (packetdrill's arguments, -D
# symbols, tcpsim pkt run's arguments)
RUN_ALL = {
    "ipv4": (RUN_ALL_IPV4, RUN_ALL_DEFINES, ["--local_ip=192.168.0.1"]),
    "ipv6": (["--ip_version=ipv6", "--mtu=1520", "--local_ip=fd3d:0a0b:17d6::1",
              "--gateway_ip=fd3d:0a0b:17d6:8888::1", "--remote_ip=fd3d:fa7b:d17d::1"],
             ["TFO_COOKIE=c1d1e9742a47a9bc", "CMSG_LEVEL_IP=SOL_IPV6",
              "CMSG_TYPE_RECVERR=IPV6_RECVERR"],
             ["--ip_version", "ipv6", "--mtu", "1520", "--local_ip=fd3d:0a0b:17d6::1",
              "--remote_ip=fd3d:fa7b:d17d::1"]),
    "ipv4-mapped-ipv6": (["--ip_version=ipv4-mapped-ipv6", "--local_ip=192.168.0.1",
                          "--gateway_ip=192.168.0.1", "--netmask_ip=255.255.0.0",
                          "--remote_ip=192.0.2.1"],
                         ["TFO_COOKIE=3021b9d889017eeb", "CODE=host_unreachable",
                          "CMSG_LEVEL_IP=SOL_IPV6", "CMSG_TYPE_RECVERR=IPV6_RECVERR"],
                         ["--ip_version", "ipv4-mapped-ipv6", "--local_ip=192.168.0.1"]),
}


def real_verdict(path: Path, packetdrill: Path, preload: Path | None, timeout: float,
                 extra: tuple = ()) -> str:
    """pass, fail, malformed (packetdrill's parser refused it: a syntax or semantic error,
    such as a -D symbol run_all.py would define) or skipped (a script that would change a
    setting outside its namespace)."""
    text = path.read_text(errors="replace")
    if any(s in text for s in GLOBAL_SETTINGS):
        return "skipped"
    env = f"LD_PRELOAD={preload} " if preload else ""
    cmd = f"ip link set lo up; {env}{packetdrill} {' '.join(extra)} {path.name}"
    try:
        r = subprocess.run(["unshare", "-n", "bash", "-c", cmd], cwd=path.parent,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "fail"
    if r.returncode == 0:
        return "pass"
    said = (r.stdout + r.stderr).decode(errors="replace")
    return "malformed" if re.search(r"^\S+\.pkt:\d+: (?:syntax|semantic) error", said, re.M) \
        else "fail"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkout", type=Path, help="a checkout of google/packetdrill")
    ap.add_argument("--packetdrill", type=Path, help="packetdrill built from that checkout")
    ap.add_argument("--preload", type=Path, help="an LD_PRELOAD library for real packetdrill")
    ap.add_argument("--jobs", type=int, default=1, help="scripts at once (1: timing is fair)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--only", nargs="*", default=[], help="folders to run (e.g. tcp/close)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every script")
    ap.add_argument("--run-all", action="store_true",
                    help="as run_all.py's IPv4 run: its addresses (local 192.168.0.1) and -D "
                         "symbols (TFO_COOKIE, CODE, ...), for all three")
    ap.add_argument("--flavour", choices=sorted(RUN_ALL), default=None,
                    help="as run_all.py's run of that flavour (its addresses, MTU and -D "
                         "symbols; --run-all is --flavour ipv4)")
    args = ap.parse_args()
    base = args.checkout / "gtests" / "net"
    if not base.is_dir():
        ap.error(f"{args.checkout} has no gtests/net: give a checkout of google/packetdrill")
    if args.packetdrill and not args.packetdrill.is_file():
        ap.error(f"{args.packetdrill} is not a file: build packetdrill (./configure && make)")
    scripts = sorted(p for tree in TREES for p in (args.checkout / tree).rglob("*.pkt")
                     if not args.only or any(str(p.parent.relative_to(base)).startswith(o)
                                             for o in args.only))

    flavour = args.flavour or ("ipv4" if args.run_all else None)
    real_extra, ours = (), ()
    if flavour:
        real_args, defines, our_args = RUN_ALL[flavour]
        real_extra = tuple(real_args + [f"-D {d}" for d in defines])
        ours = tuple(our_args + [f"-D{d}" for d in defines])

    def one(path: Path) -> tuple[Path, str | None, tuple, tuple]:
        real = (real_verdict(path, args.packetdrill.resolve(), args.preload, args.timeout,
                             real_extra) if args.packetdrill else None)
        return (path, real, classify(path, args.timeout, kernel=True, extra=ours),
                classify(path, args.timeout, kernel=False, extra=ours))

    rows = defaultdict(list)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for path, real, kernel, model in pool.map(one, scripts):
            folder = str(path.parent.relative_to(base))
            rows[folder].append((path.name, real, kernel, model))
            if args.verbose:
                print(f"{folder}/{path.name}: real {real}, kernel {kernel[0]}, model {model[0]}"
                      + (f" ({kernel[1][:100]})" if kernel[0] != "pass" else ""), flush=True)

    head = f"{'folder':<28}{'scripts':>8}{'real':>6}{'kernel':>8}{'agree':>8}{'model':>7}" \
           f"{'both':>6}"
    print(head)
    print("-" * len(head))
    total = defaultdict(int)
    for folder in sorted(rows):
        n = len(rows[folder])
        real = sum(r == "pass" for _, r, _, _ in rows[folder])
        judged = [(r, k) for _, r, k, _ in rows[folder] if r in ("pass", "fail", "malformed")]
        # the same verdict: both pass, both fail at a line, or both refuse the script as
        # malformed (tcpsim refusing a script as unsupported where packetdrill ran it to a
        # failure is not agreement)
        agree = sum((r, k[0]) in (("pass", "pass"), ("fail", "fail"), ("malformed", "malformed"))
                    for r, k in judged)
        kern = sum(k[0] == "pass" for _, _, k, _ in rows[folder])
        model = sum(m[0] == "pass" for _, _, _, m in rows[folder])
        both = sum(k[0] == "pass" and m[0] == "pass" for _, _, k, m in rows[folder])
        for key, v in (("n", n), ("real", real), ("judged", len(judged)), ("agree", agree),
                       ("kernel", kern), ("model", model), ("both", both)):
            total[key] += v
        shown_real = str(real) if args.packetdrill else "-"
        shown_agree = f"{agree}/{len(judged)}" if args.packetdrill else "-"
        print(f"{folder:<28}{n:>8}{shown_real:>6}{kern:>8}{shown_agree:>8}{model:>7}{both:>6}")
    print("-" * len(head))
    t = total
    print(f"{'all':<28}{t['n']:>8}{t['real'] if args.packetdrill else '-':>6}{t['kernel']:>8}"
          f"{(str(t['agree']) + '/' + str(t['judged'])) if args.packetdrill else '-':>8}"
          f"{t['model']:>7}{t['both']:>6}")
    if args.packetdrill and t["judged"]:
        print(f"tcpsim's kernel run gives real packetdrill's verdict on {t['agree']} of "
              f"{t['judged']} scripts ({100 * t['agree'] / t['judged']:.0f}%)")
    if t["kernel"]:
        print(f"the model passes {t['both']} of the {t['kernel']} scripts the kernel passes "
              f"({100 * t['both'] / t['kernel']:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
