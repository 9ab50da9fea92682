"""Outbound partner webhooks, through engagement's HTTP API against the real stack: subscriptions,
Standard Webhooks signatures (checked with the independent `standardwebhooks` package), retries,
crash recovery, replays and the SSRF guard."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from rapport.stack import Stack
from shared.db import create_engine
from shared.events.contracts import ConversationOpened, ProfileCreated
from shared.events.envelope import new_event
from tests.engagement.receiver import Received, receiver
from tests.engagement.test_conversations import COMPLAINT, author, post_mention
from tests.helpers import (
    Tenant,
    add_user,
    assert_problem,
    find_event,
    publish_event,
    signup,
    wait_until,
)

BASE = "/v1/webhooks"


@pytest.fixture
def engagement(stack: Stack) -> Any:
    """A client on engagement itself (the gateway's route table is not this suite's concern)."""
    with httpx.Client(base_url=stack.url("engagement"), timeout=30) as c:
        yield c


def subscribe(
    engagement: httpx.Client, tenant: Tenant, url: str, event_types: list[str] | None = None
) -> dict[str, Any]:
    response = engagement.post(
        f"{BASE}/subscriptions",
        headers=tenant.headers,
        json={
            "url": url,
            "event_types": event_types or ["engagement.*"],
            "description": "CRM sync",
            "purpose": "engagement",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(engagement: httpx.Client, tenant: Tenant, sub_id: str, **params: Any) -> list[dict[str, Any]]:
    response = engagement.get(
        f"{BASE}/subscriptions/{sub_id}/deliveries", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def delivery_of(
    engagement: httpx.Client, tenant: Tenant, sub_id: str, event_id: str
) -> dict[str, Any] | None:
    return next((d for d in deliveries(engagement, tenant, sub_id) if d["event_id"] == event_id), None)


def settled(
    engagement: httpx.Client, tenant: Tenant, sub_id: str, event_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    """Wait for the delivery of `event_id` to reach `status`; return it."""

    def read() -> dict[str, Any] | None:
        found = delivery_of(engagement, tenant, sub_id, event_id)
        return found if found and found["status"] == status else None

    return wait_until(read, timeout=timeout, what=f"the delivery of {event_id} {status}")


def opened(stack: Stack, tenant: Tenant) -> str:
    """Publish an `engagement.conversation.opened` of the tenant on the bus; its event id."""
    conversation_id = str(uuid.uuid4())
    event = new_event(
        ConversationOpened(
            conversation_id=conversation_id,
            profile_id=str(uuid.uuid4()),
            mention_id=str(uuid.uuid4()),
            priority="high",
            opened_at=datetime.now(UTC),
        ),
        source="tests",
        tenant_id=tenant.tenant_id,
        subject=conversation_id,
    )
    publish_event(stack.nats_url, event)
    return event.id


def verify(secret: str, got: Received) -> Any:
    """The partner's check, with the `standardwebhooks` package."""
    return Webhook(secret).verify(got.body, got.headers)


def test_a_conversation_opened_reaches_the_partner_signed(
    stack: Stack, client: httpx.Client, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url, ["engagement.conversation.opened"])
        assert sub["secret"].startswith("whsec_")
        assert sub["status"] == "active" and sub["event_types"] == ["engagement.conversation.opened"]
        post_mention(client, tenant, COMPLAINT, author=author())

        got = wait_until(lambda: partner.received[:1], timeout=30, what="a webhook delivery")[0]
        payload = verify(sub["secret"], got)
        assert payload["type"] == "engagement.conversation.opened"
        assert {"conversation_id", "profile_id", "mention_id", "priority"} <= set(payload["data"])
        assert payload["id"] and payload["timestamp"]
        assert "whsec_" not in got.body.decode()
        with pytest.raises(Exception):  # noqa: B017 (any verification error)
            Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)

        log = wait_until(
            lambda: [d for d in deliveries(engagement, tenant, sub["id"]) if d["status"] == "succeeded"],
            what="the delivery recorded as succeeded",
        )
        assert log[0]["id"] == got.headers["webhook-id"]
        assert log[0]["attempts"] == 1 and log[0]["last_status_code"] == 200
        assert log[0]["profile_ids"] == [payload["data"]["profile_id"]]
        assert log[0]["last_latency_ms"] is not None
        # A privacy request finds what went out about a person.
        found = deliveries(engagement, tenant, sub["id"], profile_id=payload["data"]["profile_id"])
        assert [d["id"] for d in found] == [log[0]["id"]]
        assert deliveries(engagement, tenant, sub["id"], profile_id=str(uuid.uuid4())) == []
        assert deliveries(engagement, tenant, sub["id"], profile_id="%") == []

    # The secret is never shown again.
    listed = engagement.get(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers).json()
    assert "secret" not in listed


def test_three_server_errors_then_success_is_one_delivery_after_four_attempts(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver(script=[500, 500, 500]) as partner:
        sub = subscribe(engagement, tenant, partner.url)
        event_id = opened(stack, tenant)
        done = settled(engagement, tenant, sub["id"], event_id, "succeeded", timeout=30)
        assert done["attempts"] == 4 and done["last_status_code"] == 200
        hits = partner.of_event(event_id)
        assert [r.answered for r in hits] == [500, 500, 500, 200]
        # The same webhook-id and the very same bytes on every attempt.
        assert {r.headers["webhook-id"] for r in hits} == {done["id"]}
        assert len({r.body for r in hits}) == 1
        for r in hits:
            verify(sub["secret"], r)
        assert len([d for d in deliveries(engagement, tenant, sub["id"]) if d["event_id"] == event_id]) == 1


def test_a_killed_engagement_resumes_the_retry_and_sends_once_more(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver(default=500) as partner:
        sub = subscribe(engagement, tenant, partner.url)
        event_id = opened(stack, tenant)
        wait_until(lambda: partner.of_event(event_id), timeout=30, what="a first (failed) attempt")
        stack.stop("engagement", kill=True)
        partner.default = 200
        stack.start("engagement")

        done = settled(engagement, tenant, sub["id"], event_id, "succeeded", timeout=60)
        hits = partner.of_event(event_id)
        assert [r.answered for r in hits].count(200) == 1
        assert hits[-1].answered == 200
        assert len(hits) == done["attempts"]
        # A later event delivered proves the worker ran on past the success: still one success, no resend.
        later = opened(stack, tenant)
        settled(engagement, tenant, sub["id"], later, "succeeded", timeout=30)
        assert [r.answered for r in partner.of_event(event_id)].count(200) == 1
        assert len(partner.of_event(event_id)) == done["attempts"]


def test_exhausted_retries_are_dead_and_a_bulk_replay_sends_them_again(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver(default=503) as partner:
        sub = subscribe(engagement, tenant, partner.url)
        event_id = opened(stack, tenant)
        dead = wait_until(
            lambda: deliveries(engagement, tenant, sub["id"], status="dead"),
            timeout=30,
            what="a dead delivery",
        )
        assert dead[0]["event_id"] == event_id and dead[0]["attempts"] == 6  # the test schedule: 6 attempts
        partner.default = 200
        replayed = engagement.post(
            f"{BASE}/subscriptions/{sub['id']}/deliveries/replay-dead", headers=tenant.headers
        )
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
        done = settled(engagement, tenant, sub["id"], event_id, "succeeded")
        assert done["attempts"] == 7
        assert {r.headers["webhook-id"] for r in partner.of_event(event_id)} == {done["id"]}
        # A succeeded delivery is not replayed.
        again = engagement.post(
            f"{BASE}/subscriptions/{sub['id']}/deliveries/{done['id']}/replay", headers=tenant.headers
        )
        assert_problem(again, 409)


def test_a_client_error_fails_at_once_and_one_replay_retries_it(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver(script=[410]) as partner:
        sub = subscribe(engagement, tenant, partner.url)
        event_id = opened(stack, tenant)
        failed = settled(engagement, tenant, sub["id"], event_id, "failed")
        assert failed["attempts"] == 1 and failed["last_status_code"] == 410
        replay = engagement.post(
            f"{BASE}/subscriptions/{sub['id']}/deliveries/{failed['id']}/replay", headers=tenant.headers
        )
        assert replay.status_code == 202, replay.text
        settled(engagement, tenant, sub["id"], event_id, "succeeded")
        assert [r.answered for r in partner.of_event(event_id)] == [410, 200]


def test_an_event_delivered_twice_by_the_broker_is_one_delivery(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url)
        event = new_event(
            ConversationOpened(
                conversation_id=str(uuid.uuid4()),
                profile_id=str(uuid.uuid4()),
                mention_id=str(uuid.uuid4()),
                priority="low",
                opened_at=datetime.now(UTC),
            ),
            source="tests",
            tenant_id=tenant.tenant_id,
        )
        # Two broker messages (the broker de-duplicates by message id only) carrying one event.
        publish_event(stack.nats_url, event, msg_ids=(f"{event.id}-1", f"{event.id}-2"))
        settled(engagement, tenant, sub["id"], event.id, "succeeded")
        later = opened(stack, tenant)
        settled(engagement, tenant, sub["id"], later, "succeeded")
        assert [d["event_id"] for d in deliveries(engagement, tenant, sub["id"])].count(event.id) == 1
        assert len(partner.of_event(event.id)) == 1


def test_a_rotated_secret_and_the_old_one_both_verify_during_the_grace(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url)
        rotated = engagement.post(f"{BASE}/subscriptions/{sub['id']}/rotate-secret", headers=tenant.headers)
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != sub["secret"]
        event_id = opened(stack, tenant)
        got = wait_until(lambda: partner.of_event(event_id), what="a delivery")[0]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        assert verify(new_secret, got)["id"] == event_id
        assert verify(sub["secret"], got)["id"] == event_id
        shown = engagement.get(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers).json()
        assert shown["previous_secret_expires_at"] is not None


def test_only_wanted_types_and_only_the_tenants_own_events_are_delivered(
    stack: Stack, engagement: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url, ["profiles.profile.created"])
        theirs = opened(stack, other_tenant)
        unwanted = opened(stack, tenant)
        profile_id = str(uuid.uuid4())
        wanted = new_event(
            ProfileCreated(profile_id=profile_id, platform="x"),
            source="tests",
            tenant_id=tenant.tenant_id,
            subject=profile_id,
        )
        publish_event(stack.nats_url, wanted)
        wait_until(lambda: partner.of_event(wanted.id), what="the wanted event")
        ids = [d["event_id"] for d in deliveries(engagement, tenant, sub["id"])]
        assert ids == [wanted.id]
        assert not partner.of_event(theirs) and not partner.of_event(unwanted)


def test_a_test_event_is_sent_and_a_paused_subscription_sends_nothing_new(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url)
        sent = engagement.post(f"{BASE}/subscriptions/{sub['id']}/test", headers=tenant.headers)
        assert sent.status_code == 202, sent.text
        got = wait_until(lambda: partner.of(sent.json()["id"]), what="the test event")[0]
        assert verify(sub["secret"], got)["type"] == "engagement.webhook.test"

        paused = engagement.post(f"{BASE}/subscriptions/{sub['id']}/pause", headers=tenant.headers)
        assert paused.json()["status"] == "paused"
        assert_problem(engagement.post(f"{BASE}/subscriptions/{sub['id']}/test", headers=tenant.headers), 409)
        resumed = engagement.post(f"{BASE}/subscriptions/{sub['id']}/resume", headers=tenant.headers)
        assert resumed.json()["status"] == "active"


def test_failing_in_a_row_disables_the_subscription_and_tells_the_admins(
    stack: Stack, engagement: httpx.Client, tenant: Tenant
) -> None:
    with receiver(default=404) as partner:
        sub = subscribe(engagement, tenant, partner.url)
        for _ in range(8):  # the test stack disables after 8 failures in a row
            engagement.post(f"{BASE}/subscriptions/{sub['id']}/test", headers=tenant.headers)
        shown = wait_until(
            lambda: (
                (s := engagement.get(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers).json())
                and s["status"] == "disabled"
                and s
            ),
            what="the subscription disabled",
        )
        assert shown["consecutive_failures"] >= 8 and shown["disabled_at"]
        event = find_event(
            stack.nats_url, "engagement.webhook.disabled", lambda e: e["data"]["subscription_id"] == sub["id"]
        )
        assert event["tenantid"] == tenant.tenant_id and event["data"]["last_status_code"] == 404
        assert "url" not in event["data"]
        assert_problem(engagement.post(f"{BASE}/subscriptions/{sub['id']}/test", headers=tenant.headers), 409)
        assert len(partner.received) == 8


def test_subscriptions_are_listed_updated_and_deleted(engagement: httpx.Client, tenant: Tenant) -> None:
    first = subscribe(engagement, tenant, "http://127.0.0.1:9/a")
    second = subscribe(engagement, tenant, "http://127.0.0.1:9/b")
    page = engagement.get(f"{BASE}/subscriptions", headers=tenant.headers, params={"limit": 1}).json()
    assert [s["id"] for s in page["items"]] == [second["id"]] and page["next_cursor"]
    rest = engagement.get(
        f"{BASE}/subscriptions", headers=tenant.headers, params={"limit": 1, "cursor": page["next_cursor"]}
    ).json()
    assert [s["id"] for s in rest["items"]] == [first["id"]]

    patched = engagement.patch(
        f"{BASE}/subscriptions/{first['id']}",
        headers=tenant.headers,
        json={"event_types": ["profiles.*", "engagement.conversation.assigned"], "description": None},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["profiles.*", "engagement.conversation.assigned"]
    assert patched.json()["description"] is None and patched.json()["url"] == first["url"]

    assert engagement.delete(f"{BASE}/subscriptions/{first['id']}", headers=tenant.headers).status_code == 204
    assert_problem(engagement.get(f"{BASE}/subscriptions/{first['id']}", headers=tenant.headers), 404)


def test_event_types_list_every_public_type_with_its_schema(engagement: httpx.Client, tenant: Tenant) -> None:
    response = engagement.get(f"{BASE}/event-types", headers=tenant.headers)
    assert response.status_code == 200
    types = {item["type"]: item for item in response.json()["items"]}
    assert "engagement.conversation.opened" in types and "listening.mention.received" in types
    assert not any(t.startswith("identity.") for t in types)
    assert "conversation_id" in types["engagement.conversation.opened"]["schema"]["properties"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/", "event_types": ["engagement.nope"], "purpose": "engagement"},
        {"url": "http://127.0.0.1:9/", "event_types": ["identity.user.created"], "purpose": "engagement"},
        {"url": "http://127.0.0.1:9/", "event_types": [], "purpose": "engagement"},
        {"url": "ftp://127.0.0.1/", "event_types": ["engagement.*"], "purpose": "engagement"},
        {"url": "http://127.0.0.1:9/", "event_types": ["engagement.*"], "purpose": "selling"},
        {"url": "http://127.0.0.1:9/", "event_types": ["engagement.*"]},
        {"url": "http://127.0.0.1:9/", "event_types": ["engagement." + "x" * 100], "purpose": "engagement"},
    ],
)
def test_bad_input_is_a_422_problem(engagement: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> None:
    assert_problem(engagement.post(f"{BASE}/subscriptions", headers=tenant.headers, json=body), 422)


def test_a_patch_naming_an_unknown_type_is_a_422_problem(engagement: httpx.Client, tenant: Tenant) -> None:
    sub = subscribe(engagement, tenant, "http://127.0.0.1:9/")
    bad = engagement.patch(
        f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers, json={"event_types": ["x.*"]}
    )
    assert_problem(bad, 422)


def test_auth_trio(engagement: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    sub = subscribe(engagement, tenant, "http://127.0.0.1:9/")
    assert_problem(engagement.get(f"{BASE}/subscriptions"), 401)
    agent = add_user(accounts, tenant, "agent")
    assert_problem(engagement.get(f"{BASE}/subscriptions", headers=agent.headers), 403)
    other = signup(accounts)
    for method, path in [
        ("GET", f"/subscriptions/{sub['id']}"),
        ("PATCH", f"/subscriptions/{sub['id']}"),
        ("DELETE", f"/subscriptions/{sub['id']}"),
        ("POST", f"/subscriptions/{sub['id']}/rotate-secret"),
        ("POST", f"/subscriptions/{sub['id']}/test"),
        ("GET", f"/subscriptions/{sub['id']}/deliveries"),
        ("POST", f"/subscriptions/{sub['id']}/deliveries/replay-dead"),
    ]:
        kw: dict[str, Any] = {"json": {"description": "x"}} if method == "PATCH" else {}
        assert_problem(engagement.request(method, BASE + path, headers=other.headers, **kw), 404)
    assert engagement.get(f"{BASE}/subscriptions/{sub['id']}", headers=tenant.headers).status_code == 200


def stored_secret(stack: Stack, subscription_id: str) -> str:
    """The `secret` column as engagement's database holds it (SQLite file or PostgreSQL)."""
    default = f"sqlite+aiosqlite:///{stack.var_dir / 'engagement.db'}"
    url = stack.database_urls.get("engagement", default)

    async def read() -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                query = text("SELECT secret FROM webhook_subscription WHERE id = :id")
                return str((await conn.execute(query, {"id": subscription_id})).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_secrets_are_stored_encrypted(stack: Stack, engagement: httpx.Client, tenant: Tenant) -> None:
    sub = subscribe(engagement, tenant, "http://127.0.0.1:9/")
    stored = stored_secret(stack, sub["id"])
    assert sub["secret"] not in stored and sub["secret"].removeprefix("whsec_") not in stored


def test_a_backlog_reaches_its_endpoint_no_faster_than_the_endpoint_rate(
    engagement: httpx.Client, tenant: Tenant
) -> None:
    """The suite's stack lets a subscription start 10 attempts a second (`..._ENDPOINT_RATE_PER_S`)."""
    with receiver() as partner:
        sub = subscribe(engagement, tenant, partner.url)
        for _ in range(12):
            response = engagement.post(f"{BASE}/subscriptions/{sub['id']}/test", headers=tenant.headers)
            assert response.status_code == 202, response.text
        wait_until(lambda: len(partner.received) >= 12, timeout=30, what="12 test deliveries")
        arrivals = sorted(r.at for r in partner.received)
    # Two may start at once (the endpoint's concurrency); the other ten wait their turn at 10 a second.
    assert arrivals[-1] - arrivals[0] >= 0.8
