"""engagement's retention: a tenant's privacy policy sets a period (`privacy.policy.changed`), and the
retention job deletes that tenant's messages posted before it with their mention projection rows; a
finished conversation left without messages goes, one in progress stays without them; recent messages
and other tenants' stay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from rapport.stack import Stack
from shared.db import create_engine
from shared.events.contracts import PrivacyPolicyChanged
from shared.events.envelope import new_event
from shared.settings import Settings
from tests.engagement.test_conversations import conversation_of, get_conversation
from tests.engagement.test_surveys import channel_post, resolve
from tests.helpers import Tenant, add_user, publish_event, signup, wait_until

# Two rows per transaction, so a sweep takes several batches.
RETENTION_ENV = {"RAPPORT_RETENTION_BATCH": "2", "RAPPORT_RETENTION_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def retention_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with engagement restarted under RETENTION_ENV (and restored afterwards)."""
    proc = stack.procs["engagement"]
    saved = dict(proc.env)
    stack.stop("engagement")
    proc.env.update(RETENTION_ENV)
    stack.start("engagement")
    try:
        yield stack
    finally:
        stack.stop("engagement")
        proc.env = saved
        stack.start("engagement")


def set_policy(stack: Stack, tenant: Tenant, retention_days: int | None) -> None:
    """profiles' `privacy.policy.changed` for the tenant, as profiles publishes it."""
    policy = PrivacyPolicyChanged(
        bases={"marketing": "consent"}, retention_days=retention_days, changed_at=datetime.now(UTC)
    )
    publish_event(stack.nats_url, new_event(policy, source="tests", tenant_id=tenant.tenant_id))


def thread(stack: Stack, tenant: Tenant, *, days_ago: list[float]) -> tuple[str, list[str]]:
    """One customer's posts of these ages, in one conversation; its id and the posts' mention ids."""
    profile_id, channel_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    mention_ids = []
    for age in days_ago:
        mention_ids.append(
            channel_post(
                stack,
                tenant,
                channel_id=channel_id,
                profile_id=profile_id,
                created_at=now - timedelta(days=age),
            )
        )
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        conversation = conversation_of(client, tenant, mention_ids[0])
        wait_until(
            lambda: len(get_conversation(client, tenant, conversation["id"])["messages"]) == len(days_ago),
            what="every post in the conversation",
        )
    return conversation["id"], mention_ids


def messages_of(client: httpx.Client, tenant: Tenant, conversation_id: str) -> list[str]:
    return [m["mention_id"] for m in get_conversation(client, tenant, conversation_id)["messages"]]


def seen_rows(stack: Stack, tenant: Tenant) -> set[str]:
    """The mention ids of engagement's projection rows (`seen_mention`) of the tenant, read from its
    database."""
    settings = Settings(
        service="engagement", var_dir=stack.var_dir, database_url=stack.database_urls.get("engagement", "")
    )

    async def read() -> set[str]:
        engine = create_engine(settings.resolved_database_url())
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT mention_id FROM seen_mention WHERE tenant_id = :t"), {"t": tenant.tenant_id}
                )
                return {row[0] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_old_messages_go_finished_threads_with_them_recent_ones_and_other_tenants_stay(
    client: httpx.Client, retention_stack: Stack
) -> None:
    tenant, other = signup(client), signup(client)
    add_user(client, tenant, "agent")
    add_user(client, other, "agent")
    finished, finished_posts = thread(retention_stack, tenant, days_ago=[45, 44, 43])
    resolve(client, tenant, finished)
    in_progress, in_progress_posts = thread(retention_stack, tenant, days_ago=[50, 49])
    mixed, (old_post, recent_post) = thread(retention_stack, tenant, days_ago=[40, 1])
    others, others_posts = thread(retention_stack, other, days_ago=[400, 300])
    resolve(client, other, others)
    old = {*finished_posts, *in_progress_posts, old_post}
    assert old | {recent_post} <= seen_rows(retention_stack, tenant)

    set_policy(retention_stack, tenant, 30)

    def finished_gone() -> bool:
        response = client.get(f"/v1/conversations/{finished}", headers=tenant.headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 404

    wait_until(finished_gone, timeout=30, what="the finished conversation to go")
    wait_until(lambda: messages_of(client, tenant, mixed) == [recent_post], what="the old message to go")
    # The conversation in progress stays (agents are working it), without its messages or their excerpt.
    detail: dict[str, Any] = wait_until(
        lambda: (d := get_conversation(client, tenant, in_progress))["messages"] == [] and d,
        what="the in-progress conversation's messages to go",
    )
    assert detail["status"] == "open"
    wait_until(
        lambda: get_conversation(client, tenant, in_progress)["last_message_excerpt"] is None,
        what="its inbox excerpt to be cleared",
    )
    remaining = seen_rows(retention_stack, tenant)
    assert not remaining & old and recent_post in remaining
    # Another tenant's messages of any age stay.
    assert messages_of(client, other, others) == others_posts
    assert set(others_posts) <= seen_rows(retention_stack, other)
