"""Erasure stays erased: a post the person made just before their erasure, announced by listening but
delivered to profiles only after the erasure (a relay catching up with its outbox, a redelivery), brings
nobody back: profiles resolves it to no profile and announces nothing, so engagement opens nothing."""

from __future__ import annotations

import uuid

import httpx

from rapport.stack import Stack
from shared.events.contracts import MentionReceived
from shared.events.envelope import new_event
from tests.helpers import (
    Tenant,
    collect_events,
    find_event,
    publish_event,
    unique,
    wait_until,
)
from tests.profiles.helpers import find_profiles, ingest, wait_for_profile

RESOLVED = "profiles.mention.resolved"


def _resolved(stack: Stack, mention_id: str) -> list[dict[str, object]]:
    return collect_events(
        stack.nats_url, RESOLVED, lambda e: e["data"]["mention"]["mention_id"] == mention_id, timeout=1.0
    )


def test_a_post_delivered_after_its_author_s_erasure_recreates_no_profile(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    handle = unique("@leaving")
    first_id = ingest(client, tenant, author={"handle": handle, "display_name": "Lee Leaving"})
    profile_id = wait_for_profile(client, tenant, handle)["id"]
    announced = find_event(
        stack.nats_url, "listening.mention.received", lambda e: e["data"]["mention_id"] == first_id
    )
    # Their next post, made just before the erasure: stored and analysed by listening, its announcement
    # still waiting in listening's outbox (the same event, for another post of theirs).
    late = MentionReceived.model_validate(
        {
            **announced["data"],
            "mention_id": str(uuid.uuid4()),
            "external_id": unique("late"),
            "text": f"Where is my refund {unique('late')}?",
        }
    )

    requested = client.post(
        "/v1/privacy/erasures",
        headers=tenant.headers,
        json={"identifier": {"kind": "handle", "platform": "x", "value": handle}},
    )
    assert requested.status_code == 202, requested.text
    path = f"/v1/privacy/erasures/{requested.json()['id']}"
    erasure = wait_until(
        lambda: (b := client.get(path, headers=tenant.headers).json())["status"] == "completed" and b,
        timeout=90,
        what="the erasure to complete",
    )
    profiles_answer = next(s for s in erasure["services"] if s["service"] == "profiles")
    assert profiles_answer["counts"]["erased_authors"] >= 1

    # The relay catches up: the late announcement reaches profiles after the erasure.
    publish_event(stack.nats_url, new_event(late, source="listening", tenant_id=tenant.tenant_id))
    # A bystander's post after it: once profiles resolved it, the late one was handled (acknowledged).
    bystander = unique("@bystander")
    bystander_id = ingest(client, tenant, author={"handle": bystander})
    find_event(stack.nats_url, RESOLVED, lambda e: e["data"]["mention"]["mention_id"] == bystander_id)

    assert _resolved(stack, late.mention_id) == []
    assert find_profiles(client, tenant, handle=handle, platform="x") == []
    assert client.get(f"/v1/profiles/{profile_id}", headers=tenant.headers).status_code == 404
    profiles = client.get("/v1/profiles", headers=tenant.headers, params={"limit": 200}).json()["items"]
    assert [p["display_name"] for p in profiles if p["display_name"] == "Lee Leaving"] == []
