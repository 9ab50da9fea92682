"""A person's erasure, end to end: one person across two handles (a Facebook commenter and an X author),
with posts, a conversation with the brand's reply and an agent's note, a survey answer and a partner
webhook delivery; erased through `POST /v1/privacy/erasures`; then every service's database (outboxes
included), every JetStream stream (dead letters included) and the APIs are searched for any of their
identifiers or texts, and a new post from the same handles is suppressed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.engagement.receiver import receiver
from tests.engagement.test_conversations import get_conversation, list_conversations
from tests.engagement.test_replies import PAGE_ID, delivered, feed_comment, replied
from tests.engagement.test_surveys import LINK_BASE, put_setting, resolve, token_in
from tests.erasures import database_hits, stream_hits
from tests.helpers import Tenant, find_event, mention_payload, online_agent, unique, wait_until
from tests.listening.channels.helpers import RecordingPlatform, post_meta
from tests.listening.channels.test_replies import meta_channel

# The record of the erasure itself keeps the erased profile ids (random ids that no longer name anything):
# the request with its certificate, each service's answer, the notice partners get, and engagement's list
# of erased profiles (events about them still in transit change nothing).
# Kept on purpose: the requests, the records of erased ids, and the audit log of access (ids only).
RECORD_TABLES = {
    "privacy_request",
    "privacy_answer",
    "erased_profile",
    "metrics_erased_profile",
    "privacy_audit",
}
NOTICES = ("privacy.erasure.completed", "privacy.subject.erased")


@pytest.fixture
def platform() -> Iterator[RecordingPlatform]:
    """The Meta Graph API stand-in the brand's reply goes to."""
    server = RecordingPlatform()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def _comment(client: httpx.Client, channel_id: str, sender_id: str, name: str, text: str) -> str:
    """The customer comments on the page (a signed webhook delivery); the comment's id."""
    comment_id = f"5550001_{uuid.uuid4().int % 10**12}"
    body = feed_comment(
        comment_id=comment_id, parent_id=f"{PAGE_ID}_5550001", sender_id=sender_id, text=text, name=name
    )
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    return comment_id


def _erased(client: httpx.Client, tenant: Tenant, request_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        response = client.get(f"/v1/privacy/erasures/{request_id}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] == "completed" else None

    return wait_until(read, timeout=90, what="the erasure to complete")


def _personal_hits(stack: Stack, needles: list[str], profile_id: str) -> list[tuple[str, str, str, str]]:
    hits = []
    for service in ("listening", "profiles", "engagement", "metrics", "identity"):
        hits += [(service, *h) for h in database_hits(stack, service, needles)]
        hits += [
            (service, *h)
            for h in database_hits(stack, service, [profile_id], allowed=NOTICES)
            if h[0] not in RECORD_TABLES
        ]
    return hits


def test_an_erased_person_leaves_nothing_behind_and_stays_suppressed(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    online_agent(client, tenant)
    sender_id, name = unique("66200"), f"Noor {unique('Haddad')}"
    x_handle = unique("@noor")
    texts = {
        "comment": f"My blender {unique('smokes')} after one week, this is terrible",
        "x_post": f"Still no answer about my broken blender {unique('days')}, terrible support",
        "reply": f"So sorry Noor, a replacement {unique('ships')} today",
        "note": f"Customer called, {unique('note')} replacement agreed",
        "survey": f"Quick in the end {unique('thanks')}",
    }
    channel_id = meta_channel(client, tenant, platform)
    put_setting(client, tenant, channel_id, kind="csat", questions={"en": "How did we do?"})
    with receiver() as partner:
        subscription = client.post(
            "/v1/webhooks/subscriptions",
            headers=tenant.headers,
            json={
                "url": partner.url,
                "event_types": ["engagement.conversation.opened"],
                "purpose": "engagement",
            },
        )
        assert subscription.status_code == 201, subscription.text
        sub_id = subscription.json()["id"]

        # Handle one: a comment on the brand's Facebook page opens a conversation.
        comment_id = _comment(client, channel_id, sender_id, name, texts["comment"])
        conversation = wait_until(
            lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
        )
        profile_id = conversation["profile_id"]
        # Handle two: an agent attaches the person's X handle; their X post joins the same profile.
        attached = client.post(
            f"/v1/profiles/{profile_id}/identifiers",
            headers=tenant.headers,
            json={"kind": "handle", "namespace": "x", "value": x_handle},
        )
        assert attached.status_code == 201, attached.text
        x_post = mention_payload(text=texts["x_post"], author={"handle": x_handle, "display_name": name})
        posted = client.post("/v1/mentions", headers=tenant.headers, json=x_post)
        assert posted.status_code == 202, posted.text
        x_mention_id = posted.json()["id"]
        resolved = find_event(
            stack.nats_url,
            "profiles.mention.resolved",
            lambda e: e["data"]["mention"]["mention_id"] == x_mention_id,
        )
        assert resolved["data"]["profile_id"] == profile_id
        # A thread of its own: the X post opens a second conversation.
        wait_until(lambda: len(list_conversations(client, tenant)) == 2, what="the X post's conversation")

        # The brand replies on the platform, an agent notes, the conversation resolves, the survey is
        # answered.
        platform.answer(f"/v21.0/{comment_id}/comments", (200, {"id": f"{comment_id}_777"}))
        reply = replied(client, tenant, conversation["id"], text=texts["reply"])["message"]
        delivered(client, tenant, conversation["id"], reply["id"], "sent")
        note = client.post(
            f"/v1/conversations/{conversation['id']}/notes",
            headers=tenant.headers,
            json={"body": texts["note"]},
        )
        assert note.status_code == 201, note.text
        resolve(client, tenant, conversation["id"])
        question = find_event(
            stack.nats_url,
            "engagement.reply.requested",
            lambda e: e["data"]["conversation_id"] == conversation["id"] and LINK_BASE in e["data"]["text"],
        )
        token = token_in(question["data"]["text"])
        answered = client.post(f"/v1/surveys/{token}", json={"score": 5, "comment": texts["survey"]})
        assert answered.status_code == 200, answered.text
        find_event(
            stack.nats_url,
            "engagement.survey.answered",
            lambda e: e["data"]["conversation_id"] == conversation["id"],
        )
        # The partner received the conversation's opening.
        wait_until(lambda: partner.received, what="the partner's webhook delivery")
        carried = client.get(
            f"/v1/webhooks/subscriptions/{sub_id}/deliveries",
            headers=tenant.headers,
            params={"profile_id": profile_id},
        )
        assert carried.status_code == 200 and carried.json()["items"], carried.text
        detail = get_conversation(client, tenant, conversation["id"])
        assert {m["text"] for m in detail["messages"]} >= {texts["comment"], texts["reply"]}

        # The erasure, as the person asks for it: by one of their handles.
        requested = client.post(
            "/v1/privacy/erasures",
            headers=tenant.headers,
            json={"identifier": {"kind": "handle", "platform": "x", "value": x_handle}},
        )
        assert requested.status_code == 202, requested.text
        erasure = _erased(client, tenant, requested.json()["id"])

    answers = {a["service"]: a for a in erasure["services"]}
    assert set(answers) == {"listening", "profiles", "engagement", "metrics"}
    assert all(a["answered"] for a in answers.values())
    assert answers["listening"]["counts"]["mentions_anonymised"] == 2
    # Two threads (a Facebook comment, an X post): two conversations.
    assert answers["engagement"]["counts"]["conversations"] == 2
    assert answers["engagement"]["counts"]["surveys"] == 1
    assert answers["engagement"]["counts"]["webhook_deliveries"] >= 1
    assert erasure["certificate"] is not None

    identifiers = [sender_id, name, x_handle, x_handle.lstrip("@"), comment_id, x_post["external_id"]]
    needles = [*identifiers, *texts.values()]
    assert _personal_hits(stack, needles, profile_id) == []
    assert stream_hits(stack, needles) == []
    assert stream_hits(stack, [profile_id], allowed=NOTICES) == []
    for path, params in (
        ("/v1/mentions", {"limit": 200}),
        ("/v1/conversations", {"limit": 200}),
        ("/v1/profiles", {"limit": 200}),
        (f"/v1/webhooks/subscriptions/{sub_id}/deliveries", {"limit": 200}),
        ("/v1/mentions/labels", {}),
    ):
        response = client.get(path, headers=tenant.headers, params=params)
        assert response.status_code == 200, (path, response.text)
        assert not [n for n in [*needles, profile_id] if n in response.text], path
    assert client.get(f"/v1/profiles/{profile_id}", headers=tenant.headers).status_code == 404
    assert client.get(f"/v1/conversations/{conversation['id']}", headers=tenant.headers).status_code == 404

    # The same person posts again, on both handles: counted anonymously, announced to nobody.
    again_text = f"Hello again {unique('later')}"
    again = client.post(
        "/v1/mentions",
        headers=tenant.headers,
        json=mention_payload(text=again_text, author={"handle": x_handle}),
    )
    assert again.status_code == 202 and again.json()["status"] == "suppressed", again.text
    _comment(client, channel_id, sender_id, name, again_text)
    # A bystander's post after both: once profiles resolved it, everything before it was announced.
    bystander = client.post("/v1/mentions", headers=tenant.headers, json=mention_payload())
    bystander_id = bystander.json()["id"]
    find_event(
        stack.nats_url,
        "profiles.mention.resolved",
        lambda e: e["data"]["mention"]["mention_id"] == bystander_id,
    )
    assert _personal_hits(stack, [*identifiers, again_text], profile_id) == []
    assert stream_hits(stack, [*identifiers, again_text]) == []
    profiles = client.get("/v1/profiles", headers=tenant.headers, params={"limit": 200}).json()["items"]
    assert not [p for p in profiles if name in str(p) or x_handle.lstrip("@") in str(p)]
