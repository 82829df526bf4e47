"""Helpers the benchmark scripts share."""

import statistics
import subprocess
import time


def wall(cmd: list[str], runs: int, env: dict | None = None) -> float:
    """Median wall time of a command, in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu(cmd: list[str], runs: int, env: dict | None = None) -> float:
    """Median CPU time (user + system) of a command, in seconds: unlike wall time it does not
    count the time other processes held the CPU, so two figures of one run on a busy machine
    still compare."""
    import os

    times = []
    for _ in range(runs):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            raise subprocess.CalledProcessError(p.returncode, cmd)
        times.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times)
