"""Partner webhooks: deliveries/s to a fast local receiver, and whether a slow one delays a fast one.

.venv/bin/python bench/webhooks.py                      # starts its own stack on free ports
.venv/bin/python bench/webhooks.py -n 2000 --slow 20

throughput: N `engagement.conversation.opened` events of one tenant are published to NATS at once; one
    subscription (`engagement.*`) points at a local receiver that answers 204 at once. Timed from the
    first publish until the receiver has seen all N distinct `webhook-id`s: the consumer turning events
    into delivery rows and the worker claiming, signing and sending them, with the stack's defaults
    (2 attempts in flight per endpoint).
isolation: a second subscription (`profiles.profile.created`) points at a receiver that answers after
    2 s; S of its events are published first (a backlog of S times 2 s, 2 in flight), then M events for the
    fast endpoint. Reported: the fast deliveries' latency (publish → arrival) while the slow endpoint is
    still working through its backlog, against the same M alone.
fan-out: K `engagement.conversation.assigned` events, each wanted by E subscriptions on E fast receivers:
    deliveries/s when no single endpoint's in-flight cap is the limit.
The receivers are aiohttp servers in this process; the stack runs on the same 2 cores, so the figures
are the whole machine's, not engagement's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapport.stack import Stack  # noqa: E402
from shared.events.bus import Bus  # noqa: E402
from shared.events.contracts import ConversationAssigned, ConversationOpened, ProfileCreated  # noqa: E402
from shared.events.envelope import CloudEvent, new_event  # noqa: E402


@dataclass
class Receiver:
    delay_s: float = 0.0
    url: str = ""
    # webhook-id → monotonic time of the first arrival; event id → the same.
    seen: dict[str, float] = field(default_factory=dict)
    events: dict[str, float] = field(default_factory=dict)
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        now = time.monotonic()
        self.seen.setdefault(request.headers["webhook-id"], now)
        self.events.setdefault(body["id"], now)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hooks"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def signup(identity: str) -> tuple[str, str]:
    """A new tenant: its id and its owner's access token."""
    suffix = uuid.uuid4().hex[:8]
    email, password = f"bench-{suffix}@example.com", "bench-password-123"
    with httpx.Client(base_url=identity, timeout=30) as c:
        body = {"name": f"Bench {suffix}", "admin_email": email, "admin_password": password}
        made = c.post("/v1/tenants", json=body)
        made.raise_for_status()
        tokens = c.post("/v1/auth/token", json={"email": email, "password": password}).json()
    return str(made.json()["tenant"]["id"]), str(tokens["access_token"])


def subscribe(engagement: str, token: str, url: str, types: list[str]) -> None:
    body = {"url": url, "event_types": types, "purpose": "engagement"}
    with httpx.Client(base_url=engagement, timeout=30) as c:
        c.post(
            "/v1/webhooks/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()


def opened(tenant_id: str) -> CloudEvent:
    payload = ConversationOpened(
        conversation_id=str(uuid.uuid4()),
        profile_id=str(uuid.uuid4()),
        mention_id=str(uuid.uuid4()),
        priority="normal",
        opened_at=datetime.now(UTC),
    )
    return new_event(payload, source="bench", tenant_id=tenant_id)


def created(tenant_id: str) -> CloudEvent:
    return new_event(
        ProfileCreated(profile_id=str(uuid.uuid4()), platform="x"), source="bench", tenant_id=tenant_id
    )


async def publish(bus: Bus, events: list[CloudEvent]) -> dict[str, float]:
    """Publish all (acknowledged, in flight together); the monotonic time each was sent."""
    sent: dict[str, float] = {}
    futures = []
    for event in events:
        sent[event.id] = time.monotonic()
        futures.append(
            await bus.js.publish_async(event.type, event.to_bytes(), headers={"Nats-Msg-Id": event.id})
        )
    await asyncio.gather(*futures)
    return sent


async def wait_for(receiver: Receiver, ids: set[str], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if ids <= receiver.events.keys():
            return True
        await asyncio.sleep(0.02)
    return False


def latencies(receiver: Receiver, sent: dict[str, float]) -> list[float]:
    return sorted(receiver.events[i] - t for i, t in sent.items() if i in receiver.events)


def describe(values: list[float]) -> str:
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    p50, top = statistics.median(values), values[-1]
    return f"p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms, max {top * 1000:,.0f} ms"


def assigned(tenant_id: str) -> CloudEvent:
    payload = ConversationAssigned(conversation_id=str(uuid.uuid4()), assignee_id=str(uuid.uuid4()))
    return new_event(payload, source="bench", tenant_id=tenant_id)


async def fan_out(stack: Stack, bus: Bus, tenant_id: str, token: str, endpoints: int, k: int) -> None:
    """K events, each wanted by `endpoints` subscriptions on fast receivers: deliveries/s in all."""
    receivers = [Receiver() for _ in range(endpoints)]
    for receiver in receivers:
        await receiver.start()
        subscribe(stack.url("engagement"), token, receiver.url, ["engagement.conversation.assigned"])
    try:
        start = time.monotonic()
        sent = await publish(bus, [assigned(tenant_id) for _ in range(k)])
        for receiver in receivers:
            await wait_for(receiver, set(sent), 600)
        last = max(max(r.events.values()) for r in receivers)
        total = sum(len(set(sent) & r.events.keys()) for r in receivers)
        print(
            f"fan-out: {k} events to {endpoints} endpoints, {total} deliveries in {last - start:.2f}s "
            f"= {total / (last - start):,.0f} deliveries/s"
        )
    finally:
        for receiver in receivers:
            await receiver.stop()


async def run(stack: Stack, n: int, slow_n: int, fast_m: int, endpoints: int, k: int) -> None:
    tenant_id, token = signup(stack.url("identity"))
    fast, slow = Receiver(), Receiver(delay_s=2.0)
    await fast.start()
    await slow.start()
    subscribe(stack.url("engagement"), token, fast.url, ["engagement.*"])
    subscribe(stack.url("engagement"), token, slow.url, ["profiles.profile.created"])
    bus = Bus(stack.nats_url, name="bench-webhooks")
    await bus.connect()
    try:
        # Warm-up: the consumers and the worker are running, the receiver answers.
        warm = await publish(bus, [opened(tenant_id) for _ in range(20)])
        await wait_for(fast, set(warm), 60)

        events = [opened(tenant_id) for _ in range(n)]
        start = time.monotonic()
        sent = await publish(bus, events)
        ok = await wait_for(fast, set(sent), 600)
        elapsed = max(fast.events[i] for i in sent if i in fast.events) - start
        got = sum(1 for i in sent if i in fast.events)
        print(
            f"throughput: {got}/{n} delivered in {elapsed:.2f}s = {got / elapsed:,.0f} deliveries/s"
            + ("" if ok else " (timed out)")
        )

        alone = await publish(bus, [opened(tenant_id) for _ in range(fast_m)])
        await wait_for(fast, set(alone), 120)
        print(f"fast endpoint alone, {fast_m} deliveries: {describe(latencies(fast, alone))}")

        slow_sent = await publish(bus, [created(tenant_id) for _ in range(slow_n)])
        await asyncio.sleep(0.5)  # the slow endpoint's slots are taken
        beside = await publish(bus, [opened(tenant_id) for _ in range(fast_m)])
        await wait_for(fast, set(beside), 120)
        fast_done = max(fast.events[i] for i in beside)
        slow_pending = len(set(slow_sent) - slow.events.keys())
        print(
            f"fast endpoint beside a 2 s endpoint with {slow_n} queued: {describe(latencies(fast, beside))}; "
            f"when the last fast one arrived, {slow_pending}/{slow_n} slow ones were still waiting"
        )
        await wait_for(slow, set(slow_sent), slow_n * 2.0 + 60)
        last_slow = max(slow.events[i] for i in slow_sent if i in slow.events)
        print(
            f"slow endpoint: {len(slow.events)}/{slow_n} delivered, the last "
            f"{last_slow - min(slow_sent.values()):.1f}s after its first was published "
            f"(fast ones done after {fast_done - min(beside.values()):.2f}s)"
        )
        if endpoints:
            await fan_out(stack, bus, tenant_id, token, endpoints, k)
    finally:
        await bus.close()
        await fast.stop()
        await slow.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="events for the throughput run")
    parser.add_argument("--slow", type=int, default=20, help="events queued for the 2 s endpoint")
    parser.add_argument(
        "--fast", type=int, default=200, help="events for the fast endpoint in the isolation run"
    )
    parser.add_argument("--fanout", type=int, default=4, help="fast endpoints in the fan-out run (0: none)")
    parser.add_argument("--fanout-events", type=int, default=500, help="events in the fan-out run")
    parser.add_argument(
        "--endpoint-concurrency",
        type=int,
        help="RAPPORT_WEBHOOK_ENDPOINT_CONCURRENCY (default: the setting's)",
    )
    parser.add_argument(
        "--endpoint-rate",
        type=float,
        default=1000.0,
        help="RAPPORT_WEBHOOK_ENDPOINT_RATE_PER_S (default: %(default)s, above what one process sends, so "
        "the runs measure the worker; the setting's own default is 50)",
    )
    args = parser.parse_args()
    env = {
        "RAPPORT_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "RAPPORT_LOG_LEVEL": "WARNING",
        "RAPPORT_WEBHOOK_ENDPOINT_RATE_PER_S": str(args.endpoint_rate),
    }
    if args.endpoint_concurrency:
        env["RAPPORT_WEBHOOK_ENDPOINT_CONCURRENCY"] = str(args.endpoint_concurrency)
    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="rapport-bench-")),
        env=env,
        status=lambda name, msg: print(f"  {name:<11} {msg}", flush=True),
    )
    stack.start_all()
    try:
        asyncio.run(run(stack, args.n, args.slow, args.fast, args.fanout, args.fanout_events))
    finally:
        stack.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
