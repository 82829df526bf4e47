#!/usr/bin/env python3
"""Benchmarks for the model, each against a baseline measured in the same run.

1. Simulator throughput: full connection lifecycles (handshake, one request and response,
   teardown) per second.
   - baseline: the same lifecycle on real loopback sockets from Python (blocking sockets, in a
     private network namespace so TIME_WAIT sockets do not pile up on the host; needs root,
     else the baseline is skipped);
   - model, kernel only: the sans-I/O Kernel driven directly (what explore will use);
   - model, full run: `run_model` of the built-in program teardown-client-first, which also
     runs the scenario runner and builds the Trace.
   Targets (issue 21): the full run at least the real kernel's rate, the kernel alone 3x.
2. Start-up: `tcpsim run handshake` against `python3 -c pass`, wall and CPU time (the CPU
   figure holds on a busy machine), with bytecode caching on as a user's Python has it (a
   PYTHONDONTWRITEBYTECODE in the environment is dropped for these runs, and one run warms
   the cache).  Target (issue 21): at most 4 times.
3. Data (issue 17): time per MiB of a one-way transfer (tcpsim.scenario.transfer(n): send n
   bytes, close, read until EOF), the model's `run_model` against the same transfer on real
   loopback sockets (a sender thread and a reader, in a private namespace), and the model's
   wall time for 100 MiB (target: under 10 s).
4. Scale (issue 21): run_model of two generated programs, a server accepting 499 clients
   (500 processes: connect, send, recv, close each) and 5,000 socket()/close() pairs (10,000
   lines), at 1/4, 1/2 and full size: time (target: under 10 s each) and the ratio of each
   doubling (2: linear).
5. With --profile: where a lifecycle's time goes, for the kernel alone and the full run
   (cProfile): Python function calls per lifecycle, and the 15 functions with the most
   self time (the floor of a pure-Python model is roughly its calls per lifecycle times
   the cost of one Python call).

    python3 scripts/bench_sim.py [--seconds S] [--mib N] [--profile]
"""

import argparse
import socket
import sys
import time

from benchlib import cpu, wall

from tcpsim.errors import PrivilegeError
from tcpsim.model import Kernel, KernelProfile
from tcpsim.scenario import load
from tcpsim.sim.world import run_model

PROFILE = KernelProfile.builtin("reference")


def rate(fn, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def real_lifecycles(seconds: float) -> float | None:
    from tcpsim.lab.netns import private_netns

    try:
        with private_netns():
            lst = socket.socket()
            lst.bind(("127.0.0.1", 8080))
            lst.listen(128)

            def once():
                c = socket.socket()
                c.connect(("127.0.0.1", 8080))
                s, _ = lst.accept()
                c.sendall(b"ping\n")
                s.recv(1024)
                s.sendall(b"pong\n")
                c.recv(1024)
                c.close()
                s.recv(1024)
                s.close()

            r = rate(once, seconds)
            lst.close()
            return r
    except PrivilegeError:
        return None


def kernel_lifecycles(seconds: float) -> float:
    return rate(kernel_lifecycle(), seconds)


def kernel_lifecycle():
    """One lifecycle's function on a kernel of its own (each call: the next lifecycle)."""
    k = Kernel(PROFILE, seed=1)
    lst = k.socket(2)
    k.bind(lst, ("127.0.0.1", 8080))
    k.listen(lst, 128)

    def settle():
        while k.outbox:
            segs = list(k.outbox)
            k.outbox.clear()
            for s in segs:
                k.receive(s)

    def once():
        c = k.socket(2)
        k.connect(c, ("127.0.0.1", 8080))
        settle()
        s = k.accept(lst)
        k.send(c, b"ping\n")
        settle()
        k.recv(s, 1024)
        k.send(s, b"pong\n")
        settle()
        k.recv(c, 1024)
        k.close(c)
        settle()
        k.recv(s, 1024)
        k.close(s)
        settle()
        k.now += 61.0  # let TIME_WAIT expire, as the real kernel's port reuse would need
        k.handle_timer(k.now)
        settle()

    return once


def full_runs(seconds: float) -> float:
    prog = load("teardown-client-first")
    return rate(lambda: run_model(prog, PROFILE), seconds)


def profile(label: str, once, n: int = 500, top: int = 15) -> None:
    """Calls per lifecycle and the functions with the most self time (cProfile)."""
    import cProfile
    import pstats

    for _ in range(20):
        once()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        once()
    prof.disable()
    stats = pstats.Stats(prof).stats
    calls = sum(nc for _, nc, _, _, _ in stats.values())
    total = sum(tt for _, _, tt, _, _ in stats.values())
    print(f"{label}: {calls / n:.0f} Python and builtin calls per lifecycle; self time, top {top}:")
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (path, line, name), (_, nc, tt, _, _) in rows:
        where = f"{path.rsplit('/', 1)[-1]}:{line}({name})" if path != "~" else name
        print(f"  {100 * tt / total:5.1f}%  {nc / n:6.1f}/lifecycle  {where}")


def many_clients(clients: int) -> str:
    """A program of clients + 1 processes: one server accepting every client, each client
    connect/send/recv/close (all connect first, then the server accepts them all, then each
    exchange and teardown in turn)."""
    lines = ["server: s = socket()", "server: bind(s, 0.0.0.0:8080) = 0",
             f"server: listen(s, {clients + 1}) = 0"]
    for i in range(1, clients + 1):
        lines += [f"c{i}: fd = socket()", f"c{i}: connect(fd, 127.0.0.1:8080) = 0"]
    for i in range(1, clients + 1):
        lines += [f"server: a{i} = accept(s)"]
    for i in range(1, clients + 1):
        lines += [f'c{i}: send(fd, "ping") = 4', f"server: recv(a{i}, 100) = 4",
                  f'server: send(a{i}, "pong") = 4', f"c{i}: recv(fd, 100) = 4",
                  f"c{i}: close(fd) = 0", f"server: recv(a{i}, 100) = 0",
                  f"server: close(a{i}) = 0"]
    lines.append("server: close(s) = 0")
    return "\n".join(lines) + "\n"


def many_sockets(pairs: int) -> str:
    """A program of 2 * pairs lines: socket() then close() of it, pairs times."""
    return "p: s = socket()\np: close(s) = 0\n" * pairs


def big_program_seconds(text: str, name: str, runs: int = 3) -> float:
    """run_model of a generated program (parsed once), best of `runs`."""
    from tcpsim.scenario import parse

    prog = parse(text, name=name)
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        trace = run_model(prog, PROFILE)
        elapsed = time.perf_counter() - start
        assert all(c.ok is not False for c in trace.calls), name
        best = elapsed if best is None else min(best, elapsed)
    return best


def scale(label: str, make, full: int) -> None:
    """Time at 1/4, 1/2 and full size, and the ratios of each doubling (2.0: linear)."""
    times = [big_program_seconds(make(n), f"{label}-{n}") for n in (full // 4, full // 2, full)]
    print(f"  {label:<40} {times[2]:6.2f} s (target under 10 s); 1/4, 1/2: "
          f"{times[0]:.2f}, {times[1]:.2f} s; doubling x{times[1] / times[0]:.2f}, "
          f"x{times[2] / times[1]:.2f} (linear: x2)")


def real_transfer_seconds(n: int) -> float | None:
    """Seconds to move n bytes over real loopback sockets: one thread sends all and closes,
    this one reads until EOF (the model's transfer(n) program, as a program would run it)."""
    import threading

    from tcpsim.lab.netns import private_netns

    try:
        with private_netns():
            lst = socket.socket()
            lst.bind(("127.0.0.1", 8080))
            lst.listen(1)
            c = socket.socket()
            c.connect(("127.0.0.1", 8080))
            s, _ = lst.accept()
            data = b"x" * n
            start = time.perf_counter()

            def sender():
                c.sendall(data)
                c.close()

            t = threading.Thread(target=sender)
            t.start()
            got = 0
            while chunk := s.recv(1 << 20):
                got += len(chunk)
            elapsed = time.perf_counter() - start
            t.join()
            s.close()
            lst.close()
            assert got == n
            return elapsed
    except PrivilegeError:
        return None


def model_transfer_seconds(n: int) -> float:
    from tcpsim.scenario import transfer

    prog = transfer(n)
    start = time.perf_counter()
    trace = run_model(prog, PROFILE)
    elapsed = time.perf_counter() - start
    assert n in [c.result for c in trace.calls if c.text.startswith("recv")]
    return elapsed


def startup(runs: int = 7) -> dict[str, tuple[float, float]]:
    """{"wall"|"cpu": (python3 -c pass, tcpsim run handshake)}, medians in seconds."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base, run = [sys.executable, "-c", "pass"], [sys.executable, "-m", "tcpsim", "run",
                                                 "handshake"]
    cpu(run, 1, env)  # writes the bytecode caches
    return {"wall": (wall(base, runs, env), wall(run, runs, env)),
            "cpu": (cpu(base, runs, env), cpu(run, runs, env))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--mib", type=int, default=10, help="size of the per-MiB transfer (MiB)")
    ap.add_argument("--profile", action="store_true",
                    help="only where a lifecycle's time goes (kernel alone, full run)")
    args = ap.parse_args()
    if args.profile:
        prog = load("teardown-client-first")
        profile("model kernel only", kernel_lifecycle())
        profile("model full run_model", lambda: run_model(prog, PROFILE))
        return 0
    real = real_lifecycles(args.seconds)
    kern = kernel_lifecycles(args.seconds)
    full = full_runs(args.seconds)
    print("lifecycles per second (handshake, request/response, teardown):")
    if real:
        print(f"  real loopback sockets (baseline) {real:9.0f}/s")
    else:
        print("  real loopback sockets (baseline)  skipped: needs root for a private namespace")
    for label, r in (("model kernel only", kern), ("model full run_model", full)):
        ratio = f"{r / real:5.2f}x baseline" if real else ""
        print(f"  {label:<32} {r:9.0f}/s  {ratio}")
    for kind, (base, run) in startup().items():
        print(f"start-up ({kind}): python3 -c pass {base * 1000:.0f} ms, tcpsim run handshake "
              f"{run * 1000:.0f} ms = {run / base:.1f}x (target at most 4x)")
    n = args.mib << 20
    real_t = min(real_transfer_seconds(n) or 0 for _ in range(3)) or None
    model_t = min(model_transfer_seconds(n) for _ in range(3))
    print(f"data, a one-way transfer of {args.mib} MiB (best of 3), time per MiB:")
    if real_t:
        print(f"  real loopback sockets (baseline) {real_t * 1000 / args.mib:8.2f} ms")
    else:
        print("  real loopback sockets (baseline)  skipped: needs root for a private namespace")
    ratio = f"  {model_t / real_t:5.1f}x baseline" if real_t else ""
    print(f"  model run_model                  {model_t * 1000 / args.mib:8.2f} ms{ratio}")
    big = model_transfer_seconds(100 << 20)
    print(f"  model run_model of 100 MiB       {big:8.2f} s  (target under 10 s)")
    print("big programs, run_model (best of 3):")
    scale("500 processes (a server, 499 clients)", many_clients, 499)
    scale("10,000 lines (5,000 socket/close pairs)", many_sockets, 5000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
