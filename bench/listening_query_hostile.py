"""One tenant's costly listening queries against another tenant's reads (API4).

    .venv/bin/python bench/listening_query_hostile.py [--posts 20] [--queries 1] [--seconds 3]

Starts the whole stack. Tenant A first asks for the hostile query — one phrase of 490 `ab*` wildcards
(1,961 characters) — and prints the answer; if it is refused, A creates `--queries` copies of the worst
query the default limits allow instead (nine 16-word phrases of `ab*`, `ab` and `zz`, 25 wildcards, 144 words;
up to the per-tenant cap). Tenant B has a few ordinary mentions and reads `GET /v1/mentions` through the
gateway one request after another: for `--seconds` at rest, then while A's `--posts` posts of 3,332 `ab`
tokens and one `zz` (9,998 characters, in one `POST /v1/mentions/batch`) are analysed and matched. It
prints B's read latency p50/p99/max in both windows, how long A's posts took to be analysed, and A's
query usage (posts flagged over the matching budget). More than 60 posts make the worker take the fast
tier (the quality tier spends seconds on each 10,000-character post, which is not what is measured).
B reads from listening itself (`--via gateway`: through the gateway), so that the figures are those of
listening's event loop. Figures go into docs/performance.md; other load on the machine
raises them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTILE = '"' + " ".join(["ab*"] * 490) + '"'
# Nine 16-word phrases — 144 words (limit 150), 25 wildcards (limit 25) — that every long post nearly
# matches: all their words are in it, so each phrase is worked out to its last word, and none matches.
_TAIL = ["ab"] * 11 + ["zz", "zz"]
WORST_ALLOWED = " OR ".join(
    ['"' + " ".join(["ab*"] * 3 + _TAIL) + '"'] * 8 + ['"' + " ".join(["ab*", "ab", "ab", *_TAIL]) + '"']
)
LONG_POST = " ".join(["ab"] * 3332 + ["zz"])


def _tenant(c: httpx.Client) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    email, password = f"bench-{suffix}@example.com", "bench-password-123"
    c.post(
        "/v1/tenants", json={"name": f"Bench {suffix}", "admin_email": email, "admin_password": password}
    ).raise_for_status()
    token = c.post("/v1/auth/token", json={"email": email, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _post(i: int, text: str) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"{uuid.uuid4().hex}-{i}",
        "text": text,
        "created_at": datetime.now(UTC).isoformat(),
        "author": {"handle": f"@bench_{i}"},
    }


def _pending(c: httpx.Client, auth: dict[str, str]) -> int:
    return int(c.get("/v1/mentions/stats", headers=auth).json()["pending"])


def _read_loop(gateway: str, auth: dict[str, str], stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=gateway, timeout=60) as c:
        while not stop.is_set():
            started = time.perf_counter()
            c.get("/v1/mentions", headers=auth, params={"limit": 20}).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)


def _summary(ms: list[float]) -> str:
    if len(ms) < 2:
        return f"{len(ms)} reads"
    cuts = statistics.quantiles(ms, n=100)
    return f"{len(ms)} reads, p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms, max {max(ms):.1f} ms"


def run(gateway: str, reads: str, posts: int, queries: int, seconds: float, timeout: float) -> None:
    with httpx.Client(base_url=gateway, timeout=120) as c:
        attacker, reader = _tenant(c), _tenant(c)
        for i in range(5):
            c.post("/v1/mentions", headers=reader, json=_post(i, "ordinary post")).raise_for_status()
        while _pending(c, reader):
            time.sleep(0.2)

        answer = c.post(
            "/v1/listening/queries",
            headers=attacker,
            json={"name": "hostile", "kind": "topic", "expression": HOSTILE},
        )
        print(f"hostile query ({len(HOSTILE)} characters, 490 x ab*): HTTP {answer.status_code}")
        if answer.status_code != 201:
            print(f"  {answer.json().get('detail')}")
            made = 0
            for _ in range(queries):
                made_one = c.post(
                    "/v1/listening/queries",
                    headers=attacker,
                    json={"name": "worst", "kind": "topic", "expression": WORST_ALLOWED},
                )
                if made_one.status_code != 201:
                    print(f"  query {made + 1}: HTTP {made_one.status_code} {made_one.json().get('detail')}")
                    break
                made += 1
            print(f"worst allowed query ({len(WORST_ALLOWED)} characters) created {made} times")

        at_rest: list[float] = []
        stop = threading.Event()
        reading = threading.Thread(target=_read_loop, args=(reads, reader, stop, at_rest))
        reading.start()
        time.sleep(seconds)
        stop.set()
        reading.join()
        print(f"tenant B's GET /v1/mentions at rest:    {_summary(at_rest)}")

        under_load: list[float] = []
        stop = threading.Event()
        reading = threading.Thread(target=_read_loop, args=(reads, reader, stop, under_load))
        reading.start()
        started = time.perf_counter()
        body = {"mentions": [_post(i, LONG_POST) for i in range(posts)]}
        c.post("/v1/mentions/batch", headers=attacker, json=body).raise_for_status()
        while _pending(c, attacker) and time.perf_counter() - started < timeout:
            time.sleep(0.2)
        took = time.perf_counter() - started
        stop.set()
        reading.join()
        fast = c.get("/v1/mentions/stats", headers=attacker).json().get("needs_rescore", "?")
        print(f"tenant A's {posts} long posts analysed and matched in {took:.1f} s ({fast} on the fast tier)")
        print(f"tenant B's GET /v1/mentions during it: {_summary(under_load)}")
        usage = c.get("/v1/listening/queries/usage", headers=attacker)
        if usage.status_code == 200:
            u = usage.json()
            print(
                f"tenant A's usage: {u['queries']}/{u['max_queries']} queries, "
                f"{u['budget_exceeded']} posts over the {u['match_budget_ms']} ms matching budget"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=70, help="A's long posts, in one batch (at most 500)")
    parser.add_argument("--queries", type=int, default=1, help="copies of the worst allowed query")
    parser.add_argument("--seconds", type=float, default=3.0, help="B's reads at rest")
    parser.add_argument("--timeout", type=float, default=600.0, help="max seconds to wait for A's posts")
    parser.add_argument("--via", choices=["listening", "gateway"], default="listening", help="B's reads")
    parser.add_argument("--gateway", help="a running gateway (rate limit raised!); default: start a stack")
    args = parser.parse_args()
    from rapport.stack import Stack

    stack = None
    gateway = args.gateway
    if not gateway:
        stack = Stack(
            var_dir=Path(tempfile.mkdtemp(prefix="rapport-bench-")),
            env={"RAPPORT_RATE_LIMIT_PER_WINDOW": "10000000", "RAPPORT_MAX_BODY_BYTES": "8000000"},
            status=lambda name, msg: print(f"  {name:<11} {msg}", flush=True),
        )
        stack.start_all()
        gateway = stack.gateway_url
    try:
        reads = stack.url("listening") if stack is not None and args.via == "listening" else gateway
        print(f"tenant B reads from {args.via}")
        run(gateway, reads, args.posts, args.queries, args.seconds, args.timeout)
    finally:
        if stack is not None:
            stack.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
