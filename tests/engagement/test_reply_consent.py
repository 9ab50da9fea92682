"""A reply processes the customer's data for `engagement`: engagement checks the conversation's person
itself (the gateway cannot tell who it is) with the same decision and the same 451 as the gateway."""

from __future__ import annotations

import httpx

from rapport.stack import Stack
from shared import consent
from tests.engagement.test_conversations import get_conversation
from tests.engagement.test_replies import customer_comment, delivered, outbound, post_message, replied
from tests.gateway.test_consent_enforcement import project
from tests.helpers import Tenant, assert_problem, find_event
from tests.listening.channels.helpers import RecordingPlatform
from tests.listening.channels.test_replies import meta_channel


def test_reply_is_refused_when_the_customer_withdrew_engagement(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id)
    profile_id = conversation["profile_id"]
    path = f"/v21.0/{comment_id}/comments"
    platform.answer(path, (200, {"id": f"{comment_id}_1"}))
    project(stack.redis_url, tenant.tenant_id, profile_id, {"engagement": "withdrawn"})

    refused = post_message(client, tenant, conversation["id"], text="Sorry to hear that!")
    body = assert_problem(refused, 451)
    assert body["type"] == consent.CONSENT_REQUIRED
    assert (body["purpose"], body["reason"], body["profile_id"]) == ("engagement", "withdrawn", profile_id)
    # Nothing was queued, nothing reached the platform.
    assert outbound(get_conversation(client, tenant, conversation["id"])) == []
    assert platform.posts(path) == []
    audit = find_event(
        stack.nats_url,
        "privacy.audit.recorded",
        lambda e: e["data"]["request_id"] == refused.headers["x-request-id"],
    )
    assert audit["data"]["recorded_by"] == "engagement"
    assert (audit["data"]["decision"], audit["data"]["purpose"]) == ("refused", "engagement")
    assert audit["data"]["path"] == f"/v1/conversations/{conversation['id']}/messages"
    # An internal note is not a reply: it is kept.
    assert replied(client, tenant, conversation["id"], text="customer withdrew", internal=True)["internal"]

    project(stack.redis_url, tenant.tenant_id, profile_id, {"engagement": "granted"})
    posted = post_message(client, tenant, conversation["id"], text="Sorry to hear that!")
    assert posted.status_code == 201, posted.text
    delivered(client, tenant, conversation["id"], posted.json()["message"]["id"], "sent")
    allowed = find_event(
        stack.nats_url,
        "privacy.audit.recorded",
        lambda e: e["data"]["request_id"] == posted.headers["x-request-id"],
    )
    assert allowed["data"]["decision"] == "allowed"
