"""A webhook subscription declares its purpose: a delivery about a person without a lawful basis for it
carries ids only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from services.engagement.outbound.deliveries import ids_only
from tests.engagement.receiver import Receiver, receiver
from tests.engagement.test_conversations import COMPLAINT, author, post_mention
from tests.gateway.test_consent_enforcement import project
from tests.helpers import Tenant, wait_until

BASE = "/v1/webhooks"
RESOLVED = "profiles.mention.resolved"


@pytest.fixture
def engagement(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.url("engagement"), timeout=30) as c:
        yield c


def subscribe(engagement: httpx.Client, tenant: Tenant, url: str, purpose: str) -> dict[str, Any]:
    response = engagement.post(
        f"{BASE}/subscriptions",
        headers=tenant.headers,
        json={"url": url, "event_types": [RESOLVED], "description": purpose, "purpose": purpose},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def delivered(partner: Receiver, mention_id: str) -> dict[str, Any]:
    """The body of the delivery about `mention_id` (waits for it)."""

    def find() -> dict[str, Any] | None:
        for got in list(partner.received):
            payload: dict[str, Any] = json.loads(got.body)
            if mention_id in got.body.decode():
                return payload
        return None

    return wait_until(find, timeout=30, what=f"a delivery about {mention_id}")


def test_a_delivery_about_a_person_who_refused_the_purpose_carries_ids_only(
    stack: Stack, client: httpx.Client, engagement: httpx.Client, tenant: Tenant
) -> None:
    customer = author()
    with receiver() as marketing, receiver() as support:
        subscribe(engagement, tenant, marketing.url, "marketing")
        subscribe(engagement, tenant, support.url, "engagement")
        mention_id = post_mention(client, tenant, COMPLAINT, author=customer)

        # Engagement rests on legitimate interest: the whole event.
        full = delivered(support, mention_id)
        assert full["data"]["mention"]["text"] == COMPLAINT
        assert full["data"]["mention"]["author"]["handle"] == customer["handle"]
        assert "withheld" not in full
        profile_id = full["data"]["profile_id"]

        # Marketing needs consent, which this person never gave: ids only.
        reduced = delivered(marketing, mention_id)
        assert reduced["withheld"] == {"purpose": "marketing", "reason": "no lawful basis for this purpose"}
        assert reduced["data"]["profile_id"] == profile_id
        assert reduced["data"]["mention"]["mention_id"] == mention_id
        text = json.dumps(reduced)
        for personal in (COMPLAINT, customer["handle"], customer["display_name"]):
            assert personal not in text
        assert reduced["type"] == full["type"] and reduced["id"] == full["id"]

        # Once they grant marketing, the next event about them goes out whole.
        project(stack.redis_url, tenant.tenant_id, profile_id, {"marketing": "granted"})
        again = post_mention(client, tenant, "Any news about my order?", author=customer)
        whole = delivered(marketing, again)
        assert "withheld" not in whole
        assert whole["data"]["mention"]["text"] == "Any news about my order?"


def test_ids_only_keeps_rapports_ids_and_nothing_else() -> None:
    data = {
        "profile_id": "p1",
        "mention": {
            "mention_id": "m1",
            "text": "call me on +34 600 000 000",
            "author": {"handle": "@sam", "platform_user_id": "99", "display_name": "Sam"},
            "platform": "x",
        },
        "profile": {"segment_ids": ["s1", "s2"], "display_name": "Sam", "external_id": "crm-7"},
        "items": [{"id": "i1", "note": "x"}, {"note": "only text"}],
    }
    assert ids_only(data) == {
        "profile_id": "p1",
        "mention": {"mention_id": "m1"},
        "profile": {"segment_ids": ["s1", "s2"]},
        "items": [{"id": "i1"}],
    }
