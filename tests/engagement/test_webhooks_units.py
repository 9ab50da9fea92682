"""Outbound webhooks without the stack: signatures, patterns, profile ids and the SSRF guard."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from standardwebhooks.webhooks import Webhook

from services.engagement.outbound.deliveries import body_of, profile_ids
from services.engagement.outbound.models import WebhookDelivery
from services.engagement.outbound.signing import new_secret, signature
from services.engagement.outbound.subscriptions import check_patterns, check_url, matches
from services.engagement.outbound.worker import Claimed, DeliveryWorker
from shared.db import create_engine, session_factory, utcnow
from shared.egress import guarded_client
from shared.errors import Unprocessable
from shared.secrets import SecretBox


def test_secrets_are_standard_webhooks_secrets() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 32
    assert new_secret() != secret


def test_signatures_verify_with_the_standardwebhooks_package() -> None:
    old, new = new_secret(), new_secret()
    body = body_of(event_id="e1", event_type="engagement.conversation.opened", time=utcnow(), data={"a": 1})
    timestamp = int(utcnow().timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature([new, old], msg_id="msg_1", timestamp=timestamp, body=body),
    }
    assert Webhook(new).verify(body, headers)["data"] == {"a": 1}
    assert Webhook(old).verify(body, headers)["id"] == "e1"
    with pytest.raises(Exception):  # noqa: B017
        Webhook(new).verify(body + b" ", headers)


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("engagement.*", "engagement.conversation.opened", True),
        ("engagement.conversation.*", "engagement.conversation.assigned", True),
        ("engagement.*", "engagementx.a.b", False),
        ("profiles.profile.created", "profiles.profile.created", True),
        ("profiles.profile.created", "profiles.profile.updated", False),
        ("*", "listening.mention.received", True),
    ],
)
def test_patterns(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_unknown_and_internal_types_are_refused() -> None:
    assert check_patterns(["engagement.*", "engagement.*", "listening.mention.received"]) == [
        "engagement.*",
        "listening.mention.received",
    ]
    for bad in (["engagement.nothing"], ["identity.user.created"], ["identity.*"], ["eng*"]):
        with pytest.raises(Unprocessable):
            check_patterns(bad)


def test_profile_ids_are_found_at_any_depth() -> None:
    data: dict[str, Any] = {"profile_id": "p1", "mention": {"x": 1}, "merge": [{"survivor_id": "p2"}]}
    assert profile_ids(data) == ["p1", "p2"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.0.0.5/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
    ],
)
@pytest.mark.anyio
async def test_private_urls_are_refused_at_creation_unless_allowed(url: str) -> None:
    with pytest.raises(Unprocessable):
        await check_url(url, allow_private=False)
    await check_url(url, allow_private=True)


def _worker(*, timeout_s: float = 2.0) -> DeliveryWorker:
    return DeliveryWorker(
        async_sessionmaker(),  # sending touches no database
        reader=None,
        box=SecretBox([Fernet.generate_key().decode()]),
        source="engagement",
        allow_private=False,
        schedule=[0.0],
        timeout_s=timeout_s,
        endpoint_concurrency=1,
        endpoint_rate_per_s=100.0,
        max_in_flight=1,
        disable_after=5,
        poll_s=1,
    )


def _item(url: str) -> Claimed:
    return Claimed(
        id="d1",
        tenant_id="t1",
        subscription_id="s1",
        body=b"{}",
        round_attempts=1,
        url=url,
        secrets=(new_secret(),),
    )


@pytest.mark.anyio
async def test_private_addresses_are_refused_at_send_time() -> None:
    worker = _worker()
    item = _item("http://127.0.0.1:9/hooks")
    async with guarded_client(
        allow_private=False, timeout=httpx.Timeout(2), follow_redirects=False
    ) as client:
        outcome = await worker.send(client, item)
    assert outcome.error == "unsafe_address" and outcome.status_code is None
    assert outcome.retryable and not outcome.succeeded


@pytest.mark.anyio
async def test_an_answer_dripping_past_the_timeout_ends_the_attempt() -> None:
    """Each byte comes within the timeout, the whole answer does not: the attempt ends at the deadline
    (within its lease), as a retryable timeout."""
    from aiohttp import web

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for _ in range(20):
            await response.write(b"x")
            await asyncio.sleep(0.2)
        return response

    app = web.Application()
    app.router.add_post("/hooks", drip)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    worker = _worker(timeout_s=1.0)
    item = _item(f"http://127.0.0.1:{port}/hooks")
    try:
        async with guarded_client(
            allow_private=True, timeout=httpx.Timeout(1.0), follow_redirects=False
        ) as c:
            outcome = await worker.send(c, item)
    finally:
        await runner.cleanup()
    assert outcome.error == "timeout" and outcome.retryable


@pytest.mark.anyio
async def test_finished_deliveries_past_the_retention_leave_the_log(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(WebhookDelivery.__table__.create)
        sessions = session_factory(engine)
        old, new = utcnow() - timedelta(days=31), utcnow() - timedelta(days=1)
        rows = {
            "old-succeeded": ("succeeded", old),
            "old-dead": ("dead", old),
            "old-failed": ("failed", old),
            "old-pending": ("pending", old),
            "new-succeeded": ("succeeded", new),
        }
        async with sessions() as session, session.begin():
            for id_, (status, created_at) in rows.items():
                session.add(
                    WebhookDelivery(
                        id=id_,
                        tenant_id="t",
                        subscription_id="s",
                        event_id=id_,
                        event_type="engagement.conversation.opened",
                        body=b"{}",
                        status=status,
                        created_at=created_at,
                    )
                )
        worker = _worker()
        worker.sessions = sessions
        assert await worker.prune() == 3
        async with sessions() as session:
            left = set((await session.execute(select(WebhookDelivery.id))).scalars())
        assert left == {"old-pending", "new-succeeded"}
    finally:
        await engine.dispose()
