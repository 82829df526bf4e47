#!/usr/bin/env python3
"""Record `tcpsim trace` runs of the course's own C programs (scripts/seed/server.c,
client.c) for the offline tests: each command's strace record as strace wrote it, and the
loopback capture with the run's Trace (calls, segments, kernel, sysctls).

- seed: `tcpsim trace ./server ./client` (the server blocks in accept(), then the client runs);
- seed-refused: `tcpsim trace ./client ./server` (the client is refused; the server waits in
  accept() until it is killed);
- forking: scripts/seed/forking-server.c (a child per client) with three request-client.c.

Writes captures/trace/NAME.N.strace (N: the command's place), NAME.pcap and NAME.json.
Needs root, gcc and strace; touches nothing on the host.

    python3 scripts/record_trace_samples.py [NAME...]
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tcpsim.lab.traced import run_traced
from tcpsim.pcap import write_pcap

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "captures" / "trace"
RUNS = {"seed": ["./server", "./client"], "seed-refused": ["./client", "./server"],
        "forking": ["./forking-server 3", "./request-client a", "./request-client b",
                    "./request-client c"]}


def main() -> int:
    wanted = sys.argv[1:] or list(RUNS)
    unknown = [n for n in wanted if n not in RUNS]
    if unknown:
        print(f"no sample named {unknown[0]}; the samples are {', '.join(RUNS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("server", "client", "forking-server", "request-client"):
            subprocess.run(["gcc", "-O2", "-o", str(Path(tmp) / name),
                            str(HERE / "seed" / f"{name}.c")], check=True)
        os.chdir(tmp)
        for name in wanted:
            commands = RUNS[name]
            traced = run_traced(commands, timeout=1.0)
            for i, text in enumerate(traced.strace):
                (OUT / f"{name}.{i}.strace").write_text(text)
            traced.trace.notes.append(f"scripts/record_trace_samples.py: tcpsim trace "
                                      f"{' '.join(commands)}")
            write_pcap(traced.trace, OUT / f"{name}.pcap")
            traced.trace.to_json(OUT / f"{name}.json")
            print(f"{name}: {len(traced.trace.segments)} segments, "
                  f"{len(traced.trace.calls)} calls; program:\n{traced.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
