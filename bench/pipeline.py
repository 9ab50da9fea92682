"""Post N mentions through the gateway; report accepted mentions/s and the time until metrics show all.

.venv/bin/python bench/pipeline.py                 # starts its own stack on free ports
.venv/bin/python bench/pipeline.py --gateway http://127.0.0.1:8000   # against `make up`
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx

from rapport.stack import Stack

TEXTS = [
    "My order arrived broken and support ignores me. Terrible!",
    "How do I change the delivery address of my order?",
    "Love this brand, the new jacket is great.",
    "Siparişim hâlâ gelmedi, çok kötü bir hizmet.",
    "متى يصل طلبي؟",
    "Fantastiskt bra kundtjänst, tack!",
]


def setup_tenant(gateway: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    email, password = f"bench-{suffix}@example.com", "bench-password-123"
    with httpx.Client(base_url=gateway, timeout=30) as c:
        c.post(
            "/v1/tenants", json={"name": f"Bench {suffix}", "admin_email": email, "admin_password": password}
        ).raise_for_status()
        token = c.post("/v1/auth/token", json={"email": email, "password": password}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        c.post(
            "/v1/users",
            headers=auth,
            json={"email": f"agent-{suffix}@example.com", "password": password, "role": "agent"},
        ).raise_for_status()
    return auth


def _body(run: str, i: int) -> dict[str, object]:
    return {
        "platform": "x",
        "external_id": f"{run}-{i}",
        "text": TEXTS[i % len(TEXTS)],
        "created_at": datetime.now(UTC).isoformat(),
        "author": {"handle": f"@bench_{run}_{i % 997}"},
    }


async def post_all(
    gateway: str, auth: dict[str, str], n: int, concurrency: int, batch: int = 1
) -> tuple[float, int]:
    """Post n mentions, one per `POST /v1/mentions` or `batch` per `POST /v1/mentions/batch`."""
    run = uuid.uuid4().hex[:8]
    starts: asyncio.Queue[int] = asyncio.Queue()
    for i in range(0, n, batch):
        starts.put_nowait(i)
    failures = 0
    done = 0
    next_report = 1000

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures, done, next_report
        while not starts.empty():
            first = starts.get_nowait()
            count = min(batch, n - first)
            if batch == 1:
                url, body, ok = f"{gateway}/v1/mentions", _body(run, first), 202
            else:
                items = [_body(run, first + k) for k in range(count)]
                url, body, ok = f"{gateway}/v1/mentions/batch", {"mentions": items}, 202
            async with session.post(url, json=body, headers=auth) as response:
                await response.read()
                if response.status != ok:
                    failures += count
            done += count
            if done >= next_report:
                print(f"  posted {done}/{n}", flush=True)
                next_report += max(1000, n // 10)

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return time.perf_counter() - start, failures


def wait_for_metrics(gateway: str, auth: dict[str, str], n: int, timeout: float) -> float | None:
    start = time.perf_counter()
    with httpx.Client(base_url=gateway, timeout=30) as c:
        while time.perf_counter() - start < timeout:
            card = c.get("/v1/metrics/scorecard", headers=auth).json()
            if card["mentions"]["total"] >= n:
                return time.perf_counter() - start
            time.sleep(0.25)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5000, help="mentions to post (default: %(default)s)")
    parser.add_argument(
        "-c", "--concurrency", type=int, default=32, help="parallel requests (default: %(default)s)"
    )
    parser.add_argument("--gateway", help="a running gateway; without it a stack is started on free ports")
    parser.add_argument("--timeout", type=float, default=300, help="max seconds to wait for metrics")
    args = parser.parse_args()

    stack = None
    gateway = args.gateway
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
        print(f"posting {args.n} mentions with concurrency {args.concurrency} to {gateway}")
        elapsed, failures = asyncio.run(post_all(gateway, auth, args.n, args.concurrency))
        accepted = args.n - failures
        print(f"accepted: {accepted}/{args.n} in {elapsed:.2f}s = {accepted / elapsed:,.0f} mentions/s")
        drained = wait_for_metrics(gateway, auth, args.n - failures, args.timeout)
        if drained is None:
            print(f"metrics did not show all mentions within {args.timeout:.0f}s")
            return 1
        print(
            f"all visible in metrics {drained:.2f}s after the last was accepted "
            f"({elapsed + drained:.2f}s from the first post)"
        )
        return 0 if failures == 0 else 1
    finally:
        if stack is not None:
            stack.stop_all()


if __name__ == "__main__":
    sys.exit(main())
