"""Partner webhooks read only the event types some subscription names: a durable per named type, made
before the subscription is answered, deleted once nobody names its type, made again after a loss
without missing an event; the per-stream durables of earlier versions are replaced."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig

from rapport.stack import Stack
from services.engagement.outbound.consumers import PREFIX, durable_of
from services.engagement.outbound.subscriptions import subscribable
from shared.events.contracts import AlertRaised
from shared.events.envelope import new_event
from tests.engagement.receiver import receiver
from tests.engagement.test_webhooks import BASE, engagement, opened, settled, subscribe
from tests.helpers import Tenant, publish_event, replica, wait_until

__all__ = ["engagement"]  # the fixture, imported to be used here

STREAMS = sorted({spec.stream for spec in subscribable()})


async def _durables(nats_url: str) -> dict[str, str]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        found: dict[str, str] = {}
        for stream in STREAMS:
            for info in await js.consumers_info(stream):
                if info.name.startswith(PREFIX):
                    found[info.name] = info.config.filter_subject or ""
        return found
    finally:
        await nc.close()


def durables(stack: Stack) -> dict[str, str]:
    """The webhook durables the broker holds → their subject filters."""
    return asyncio.run(_durables(stack.nats_url))


def nats_call(stack: Stack, call: Any) -> None:
    async def run() -> None:
        nc = await nats.connect(stack.nats_url)
        try:
            await call(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(run())


def test_a_subscription_has_a_durable_per_type_it_names_when_it_is_answered(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    subscribe(engagement, tenant, "http://127.0.0.1:9/hook", ["profiles.profile.merged"])
    found = durables(stack)
    # At once: made before the subscription committed, not by a later refresh.
    assert found[durable_of("profiles.profile.merged")] == "profiles.profile.merged"
    # One type per durable; no durable reads a whole stream.
    assert all(not subject.endswith(">") and "*" not in subject for subject in found.values()), found


def test_nobody_names_a_type_then_it_has_no_durable(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    sub = subscribe(engagement, tenant, "http://127.0.0.1:9/hook", ["listening.alert.raised"])
    assert durable_of("listening.alert.raised") in durables(stack)
    assert engagement.delete(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers).status_code == 204
    # No subscription of the suite names a listening type now: none has a durable, the mentions' included.
    wait_until(
        lambda: not any(name.startswith(durable_of("listening.")) for name in durables(stack)),
        what="the listening durables deleted",
    )


def test_a_durable_lost_meanwhile_is_made_again_and_misses_no_event(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url, ["engagement.conversation.opened"])
        name = durable_of("engagement.conversation.opened")
        # Lost, as when another replica's refresh deleted it in the moment the subscription was made.
        nats_call(stack, lambda js: js.delete_consumer("ENGAGEMENT", name))
        event_id = opened(stack, tenant)
        wait_until(lambda: name in durables(stack), what="the durable made again")
        settled(engagement, tenant, sub["id"], event_id, "succeeded")
        assert len(partner.of(settled(engagement, tenant, sub["id"], event_id, "succeeded")["id"])) == 1


def test_a_per_stream_durable_of_an_earlier_version_is_replaced(stack: Stack) -> None:
    legacy = f"{PREFIX}listening"
    config = ConsumerConfig(
        durable_name=legacy, name=legacy, ack_policy=AckPolicy.EXPLICIT, filter_subject="listening.>"
    )
    nats_call(stack, lambda js: js.add_consumer("LISTENING", config=config))
    wait_until(lambda: legacy not in durables(stack), what="the per-stream durable deleted")


def test_a_subscription_made_through_another_replica_is_consumed_here(
    stack: Stack, engagement: httpx.Client, tenant: Tenant, tmp_path: Path
) -> None:
    """Made through a replica that then stops: the stack's engagement finds the durable on its own
    refresh and delivers (a listening type, which no other test of the suite names)."""
    with receiver() as partner:
        with (
            replica(stack, "engagement", tmp_path, env={}) as other_url,
            httpx.Client(base_url=other_url, timeout=30) as other,
        ):
            sub = subscribe(other, tenant, partner.url, ["listening.alert.raised"])
        alert = AlertRaised(
            alert_id=str(uuid.uuid4()),
            query_id=str(uuid.uuid4()),
            kind="volume",
            observed=40.0,
            baseline=4.0,
            score=9.0,
            bucket_start=datetime.now(UTC).replace(minute=0, second=0, microsecond=0),
        )
        event = new_event(alert, source="tests", tenant_id=tenant.tenant_id, subject=alert.query_id)
        publish_event(stack.nats_url, event)
        try:
            delivered = settled(engagement, tenant, sub["id"], event.id, "succeeded")
            assert len(partner.of(delivered["id"])) == 1
        finally:
            # No listening type stays named (`test_nobody_names_a_type_then_it_has_no_durable`).
            engagement.delete(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers)
