"""CPU each process of an idle stack spends per second: the floor every figure per mention sits on.

    .venv/bin/python bench/idle_cpu.py                  # settle 20 s, then count 60 s
    .venv/bin/python bench/idle_cpu.py --seconds 120 --settle 30

Starts the stack as `cpu_per_mention.py` does (SQLite, embedded NATS and Redis, five services and the
gateway), lets start-up work settle, then reads every process's user + system CPU (`/proc/<pid>/stat`)
before and after a window in which nothing is asked of it, and prints milliseconds of CPU per second.
What remains is polling: consumers asking JetStream for deliveries, outbox relays looking for rows,
deny-list mirrors, workers' timers. The clock tick is 10 ms, so a figure below ~0.2 ms/s over 60 s is
noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="the idle window counted (default 60)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before counting (default 20)")
    args = parser.parse_args(argv)

    from rapport.stack import Stack

    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="rapport-idle-")),
        env={},
        status=lambda name, msg: print(f"  {name:<11} {msg}", file=sys.stderr, flush=True),
    )
    stack.start_all()
    try:
        pids = {p.name: p.popen.pid for p in [*stack.infra, *stack.procs.values()] if p.popen is not None}
        time.sleep(args.settle)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        time.sleep(args.seconds)
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    finally:
        stack.stop_all()
    print("| process | idle CPU ms/s |")
    print("|---|---|")
    for name, seconds in spent.items():
        print(f"| {name} | {1000 * seconds / args.seconds:.1f} |")
    print(f"| **stack total** | **{1000 * sum(spent.values()) / args.seconds:.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
