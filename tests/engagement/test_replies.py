"""Replies: an agent's message on a conversation reaches the platform (a local stand-in) through listening's
channel and shows its delivery; the brand's own posts join the thread once; canned responses; notes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from rapport.stack import Stack
from tests.engagement.test_conversations import COMPLAINT, get_conversation, list_conversations
from tests.helpers import (
    Tenant,
    add_user,
    assert_problem,
    collect_events,
    mention_payload,
    unique,
    wait_until,
)
from tests.listening.channels.helpers import RecordingPlatform, platform_mentions, post_meta
from tests.listening.channels.test_replies import (
    PAGE_TOKEN,
    WA_TOKEN,
    meta_channel,
    whatsapp_channel,
    whatsapp_message,
)

PAGE_ID = "1029384756"  # the Meta channel's page (tests.listening.channels.test_replies.meta_channel)
SPANISH_COMPLAINT = "Mi pedido llegó roto y nadie de atención al cliente me responde. ¡Es terrible!"


def feed_comment(
    *, comment_id: str, parent_id: str, sender_id: str, text: str, name: str = "Lucía Gómez"
) -> bytes:
    """A Page `feed` webhook delivery of one comment (by `sender_id`: the page itself is the brand)."""
    now = int(time.time())
    post_id = f"{PAGE_ID}_5550001"
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "from": {"id": sender_id, "name": name},
                                "post": {"id": post_id, "permalink_url": "https://www.facebook.com/p/1"},
                                "message": text,
                                "post_id": post_id,
                                "comment_id": comment_id,
                                "created_time": now,
                                "item": "comment",
                                "parent_id": parent_id,
                                "verb": "add",
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def customer_comment(
    client: httpx.Client, tenant: Tenant, channel_id: str, text: str = COMPLAINT
) -> tuple[str, dict[str, Any]]:
    """A customer's comment on the page through the webhook; its id and the conversation it opened."""
    comment_id = f"5550001_{uuid.uuid4().int % 10**12}"
    body = feed_comment(
        comment_id=comment_id, parent_id=f"{PAGE_ID}_5550001", sender_id=unique("66200"), text=text
    )
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )
    return comment_id, get_conversation(client, tenant, conversation["id"])


def post_message(client: httpx.Client, tenant: Tenant, conversation_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/v1/conversations/{conversation_id}/messages", headers=tenant.headers, json=body)


def replied(client: httpx.Client, tenant: Tenant, conversation_id: str, **body: Any) -> dict[str, Any]:
    response = post_message(client, tenant, conversation_id, **body)
    assert response.status_code == 201, response.text
    posted: dict[str, Any] = response.json()
    return posted


def message_of(client: httpx.Client, tenant: Tenant, conversation_id: str, message_id: str) -> dict[str, Any]:
    detail = get_conversation(client, tenant, conversation_id)
    found: list[dict[str, Any]] = [m for m in detail["messages"] if m["id"] == message_id]
    [message] = found
    return message


def delivered(
    client: httpx.Client, tenant: Tenant, conversation_id: str, message_id: str, status: str
) -> dict[str, Any]:
    """Wait for the message's delivery status."""

    def check() -> dict[str, Any] | None:
        message = message_of(client, tenant, conversation_id, message_id)
        return message if message["status"] == status else None

    return wait_until(check, timeout=30, what=f"message {message_id} {status}")


def outbound(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in detail["messages"] if m["direction"] == "outbound"]


# --- sending ---------------------------------------------------------------------------------------


def test_reply_reaches_the_platform_and_shows_its_id(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id)
    assert conversation["channel_id"] == channel_id
    assert conversation["first_response_at"] is None
    platform.answer(f"/v21.0/{comment_id}/comments", (200, {"id": f"{comment_id}_777"}))

    posted = replied(client, tenant, conversation["id"], text="Sorry about that! A new one is on its way.")
    assert posted["internal"] is False
    message = posted["message"]
    assert message["status"] == "queued"
    assert message["direction"] == "outbound"
    assert message["origin"] == "agent"
    assert message["author_id"] == tenant.user_id

    sent = delivered(client, tenant, conversation["id"], message["id"], "sent")
    assert sent["platform_message_id"] == f"{comment_id}_777"
    [call] = platform.posts(f"/v21.0/{comment_id}/comments")
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.body == {"message": "Sorry about that! A new one is on its way."}
    detail = get_conversation(client, tenant, conversation["id"])
    assert detail["first_response_at"] is not None
    assert detail["last_message_excerpt"] == "Sorry about that! A new one is on its way."
    events = collect_events(
        stack.nats_url,
        "engagement.message.>",
        lambda e: e["data"]["message_id"] == message["id"],
        timeout=2,
    )
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("engagement.message.created", "queued"),
        ("engagement.message.updated", "sent"),
    ]


def test_failing_platform_gets_exactly_one_reply(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id)
    path = f"/v21.0/{comment_id}/comments"
    platform.answer(
        path,
        (500, {"error": {"message": "An unknown error occurred", "code": 1, "is_transient": True}}),
        (200, {"id": f"{comment_id}_888"}),
    )

    message = replied(client, tenant, conversation["id"], text="Looking into it right now.")["message"]

    sent = delivered(client, tenant, conversation["id"], message["id"], "sent")
    assert sent["platform_message_id"] == f"{comment_id}_888"
    assert sent["error_code"] is None
    # Two attempts, one reply: the second attempt succeeded and nothing was sent after it.
    assert [call.body for call in platform.posts(path)] == [{"message": "Looking into it right now."}] * 2
    detail = get_conversation(client, tenant, conversation["id"])
    assert [m["status"] for m in outbound(detail)] == ["sent"]


def test_whatsapp_reply_outside_24_hours_is_refused_up_front_and_a_template_goes_instead(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    path = "/v21.0/106540352242922/messages"
    platform.answer(path, (200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.TPL9"}]}))
    channel_id = whatsapp_channel(client, tenant, platform)
    template = {
        "name": "order_update",
        "language": "es",
        "category": "UTILITY",
        "body": "Hola {{1}}, tu pedido {{2}} ya está en camino.",
    }
    created = client.post(f"/v1/channels/{channel_id}/templates", headers=tenant.headers, json=template)
    assert created.status_code == 201, created.text
    customer = f"3461{uuid.uuid4().int % 10**7:07d}"
    body = whatsapp_message(customer, COMPLAINT, time.time() - 25 * 3600)
    assert post_meta(client, "whatsapp", channel_id, body).status_code == 200
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )

    problem = assert_problem(post_message(client, tenant, conversation["id"], text="¡Hola! ¿Seguimos?"), 422)

    assert problem["type"] == "https://rapport.dev/problems/messaging-window-closed"
    assert problem["code"] == "outside_customer_service_window"
    assert problem["platform"] == "whatsapp"
    assert problem["allowed"] == ["platform_template"]
    assert "24 hours" in problem["detail"] and "template" in problem["detail"]
    assert problem["last_customer_message_at"] and problem["window_closed_at"]
    # Nothing was queued: no message, no request to listening, nothing at the platform.
    assert outbound(get_conversation(client, tenant, conversation["id"])) == []
    requested = collect_events(
        stack.nats_url,
        "engagement.reply.requested",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
        timeout=2,
    )
    assert requested == []

    # A template of the channel is what WhatsApp takes now.
    unknown = replied(
        client,
        tenant,
        conversation["id"],
        platform_template={"name": "order_shipped", "language": "es", "parameters": []},
    )["message"]
    failed = delivered(client, tenant, conversation["id"], unknown["id"], "failed")
    assert failed["error_code"] == "unknown_template"
    message = replied(
        client,
        tenant,
        conversation["id"],
        platform_template={"name": "order_update", "language": "es", "parameters": ["Ana", "A-4521"]},
    )["message"]
    assert message["status"] == "queued"
    sent = delivered(client, tenant, conversation["id"], message["id"], "sent")
    assert sent["platform_message_id"] == "wamid.TPL9"
    assert sent["text"] == "Hola Ana, tu pedido A-4521 ya está en camino."
    [call] = platform.posts(path)
    assert call.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": customer,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "es"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-4521"}],
                }
            ],
        },
    }
    assert get_conversation(client, tenant, conversation["id"])["first_response_at"] is not None


def messenger_conversation(
    client: httpx.Client, tenant: Tenant, channel_id: str, *, days_ago: float
) -> tuple[str, dict[str, Any]]:
    """A customer's Messenger message `days_ago`; the customer's page-scoped id and the conversation."""
    customer = unique("2584")
    sent_ms = int((time.time() - days_ago * 86400) * 1000)
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": sent_ms,
                    "messaging": [
                        {
                            "sender": {"id": customer},
                            "recipient": {"id": PAGE_ID},
                            "timestamp": sent_ms,
                            "message": {"mid": f"m_{uuid.uuid4().hex}", "text": COMPLAINT},
                        }
                    ],
                }
            ],
        }
    ).encode()
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None),
        what="the conversation opened",
    )
    return customer, conversation


def test_messenger_reply_after_a_day_goes_with_the_human_agent_tag_and_after_a_week_is_refused(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, platform: RecordingPlatform
) -> None:
    path = f"/v21.0/{PAGE_ID}/messages"
    platform.answer(path, (200, {"recipient_id": "x", "message_id": "m_tagged_9"}))
    channel_id = meta_channel(client, tenant, platform)
    customer, conversation = messenger_conversation(client, tenant, channel_id, days_ago=3)

    message = replied(client, tenant, conversation["id"], text="Your refund left today.")["message"]

    sent = delivered(client, tenant, conversation["id"], message["id"], "sent")
    assert sent["platform_message_id"] == "m_tagged_9"
    [call] = platform.posts(path)
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.body == {
        "recipient": {"id": customer},
        "message": {"text": "Your refund left today."},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
    }

    # Eight days after the customer's message nothing may go, not even a template (WhatsApp only).
    other_channel = meta_channel(client, other_tenant, platform)
    _, late = messenger_conversation(client, other_tenant, other_channel, days_ago=8)
    problem = assert_problem(post_message(client, other_tenant, late["id"], text="Still there?"), 422)
    assert problem["code"] == "outside_human_agent_window"
    assert problem["allowed"] == []
    assert "7 days" in problem["detail"]
    template = {"name": "order_update", "language": "en", "parameters": []}
    problem = assert_problem(post_message(client, other_tenant, late["id"], platform_template=template), 422)
    assert problem["code"] == "templates_not_supported"
    assert outbound(get_conversation(client, other_tenant, late["id"])) == []
    assert len(platform.posts(path)) == 1


def test_instagram_direct_message_is_answered_privately(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    platform.answer(f"/v21.0/{PAGE_ID}/messages", (200, {"recipient_id": "x", "message_id": "m_ig_1"}))
    channel_id = meta_channel(client, tenant, platform)
    customer = unique("17841")
    now_ms = int(time.time() * 1000)
    body = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "17841400000000001",
                    "time": now_ms,
                    "messaging": [
                        {
                            "sender": {"id": customer},
                            "recipient": {"id": "17841400000000001"},
                            "timestamp": now_ms,
                            "message": {"mid": f"aWdfZG1{uuid.uuid4().hex}", "text": COMPLAINT},
                        }
                    ],
                }
            ],
        }
    ).encode()
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )
    [inbound] = get_conversation(client, tenant, conversation["id"])["messages"]
    assert (inbound["platform"], inbound["kind"]) == ("instagram", "message")

    message = replied(client, tenant, conversation["id"], text="Sorry! Could you send us your order number?")[
        "message"
    ]

    sent = delivered(client, tenant, conversation["id"], message["id"], "sent")
    assert sent["platform_message_id"] == "m_ig_1"
    [call] = platform.all_posts()
    assert call.path == f"/v21.0/{PAGE_ID}/messages"
    assert call.body == {
        "recipient": {"id": customer},
        "message": {"text": "Sorry! Could you send us your order number?"},
        "messaging_type": "RESPONSE",
    }


# --- the brand's own posts ---------------------------------------------------------------------------


def test_brand_reply_in_the_thread_is_an_outbound_message_not_a_customer(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id)

    # The page answers from Facebook itself: the webhook brings the page's own comment.
    own_id = f"5550001_{uuid.uuid4().int % 10**12}"
    body = feed_comment(
        comment_id=own_id,
        parent_id=comment_id,
        sender_id=PAGE_ID,
        text="@Lucía sorry to hear that",
        name="Kettle",
    )
    assert post_meta(client, "meta", channel_id, body).status_code == 200

    def answered() -> list[dict[str, Any]]:
        return outbound(get_conversation(client, tenant, conversation["id"]))

    [message] = wait_until(answered, what="the brand's own comment in the conversation")
    assert message["origin"] == "platform"
    assert message["status"] == "sent"
    assert message["external_id"] == own_id
    assert message["text"] == "@Lucía sorry to hear that"
    assert message["author_id"] is None
    detail = get_conversation(client, tenant, conversation["id"])
    assert detail["first_response_at"] is not None
    # Not a mention, so no profile and no conversation of its own.
    assert [c["id"] for c in list_conversations(client, tenant)] == [conversation["id"]]
    assert [m["external_id"] for m in platform_mentions(client, tenant, "facebook")] == [comment_id]
    profiles = client.get("/v1/profiles", headers=tenant.headers)
    assert profiles.status_code == 200, profiles.text
    assert len(profiles.json()["items"]) == 1


def test_our_reply_echoed_by_the_platform_is_not_added_twice(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id)
    reply_id = f"{comment_id}_999"
    platform.answer(f"/v21.0/{comment_id}/comments", (200, {"id": reply_id}))
    message = replied(client, tenant, conversation["id"], text="We are on it.")["message"]
    delivered(client, tenant, conversation["id"], message["id"], "sent")

    # Facebook announces the page's new comment (ours) by webhook; then the page answers once more from
    # Facebook itself. Brand posts are handled in order: once the second is there, the echo was handled.
    echo = feed_comment(comment_id=reply_id, parent_id=comment_id, sender_id=PAGE_ID, text="We are on it.")
    assert post_meta(client, "meta", channel_id, echo).status_code == 200
    later_id = f"5550001_{uuid.uuid4().int % 10**12}"
    later = feed_comment(
        comment_id=later_id, parent_id=comment_id, sender_id=PAGE_ID, text="Tracking: ABC123"
    )
    assert post_meta(client, "meta", channel_id, later).status_code == 200

    def both() -> list[dict[str, Any]] | None:
        messages = outbound(get_conversation(client, tenant, conversation["id"]))
        return messages if any(m["external_id"] == later_id for m in messages) else None

    messages = wait_until(both, what="the brand's later comment")
    assert sorted((m["external_id"], m["origin"]) for m in messages) == sorted(
        [(reply_id, "agent"), (later_id, "platform")]
    )
    assert message["id"] in {m["id"] for m in messages}


def test_own_account_posting_through_the_ingest_api_is_the_brand_not_a_customer(
    client: httpx.Client, tenant: Tenant
) -> None:
    created = client.post(
        "/v1/own-accounts", headers=tenant.headers, json={"platform": "x", "handle": "@KettleCo"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["handle"] == "kettleco"
    assert_problem(
        client.post("/v1/own-accounts", headers=tenant.headers, json={"platform": "x", "handle": "kettleco"}),
        409,
    )
    assert_problem(client.post("/v1/own-accounts", headers=tenant.headers, json={"platform": "x"}), 422)
    customer = mention_payload(text=COMPLAINT)
    response = client.post("/v1/mentions", headers=tenant.headers, json=customer)
    assert response.status_code == 202, response.text
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )

    brand = mention_payload(
        text="@customer sorry to hear that, DM us your order number",
        author={"handle": "KettleCo", "display_name": "Kettle & Co"},
        in_reply_to=customer["external_id"],
    )
    response = client.post("/v1/mentions", headers=tenant.headers, json=brand)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "brand_post"

    def answered() -> list[dict[str, Any]]:
        return outbound(get_conversation(client, tenant, conversation["id"]))

    [message] = wait_until(answered, what="the brand's post in the conversation")
    assert (message["origin"], message["external_id"]) == ("platform", brand["external_id"])
    assert get_conversation(client, tenant, conversation["id"])["first_response_at"] is not None
    assert [c["id"] for c in list_conversations(client, tenant)] == [conversation["id"]]
    assert [m["external_id"] for m in platform_mentions(client, tenant, "x")] == [customer["external_id"]]

    # Removed from the list, the account's posts are mentions again.
    account_id = created.json()["id"]
    assert client.delete(f"/v1/own-accounts/{account_id}", headers=tenant.headers).status_code == 204
    again = mention_payload(text="hello", author={"handle": "kettleco"})
    response = client.post("/v1/mentions", headers=tenant.headers, json=again)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"


# --- canned responses, notes -------------------------------------------------------------------------


def create_canned(client: httpx.Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/canned-responses", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_canned_response_variant_follows_the_conversation_language(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    canned = create_canned(
        client,
        tenant,
        name="broken on arrival",
        variants={
            "en": "Hi {{first_name}}, sorry! Your replacement order is {{order}}.",
            "es": "Hola {{ first_name }}, ¡lo sentimos! Tu pedido de reposición es {{order}}.",
        },
        default_language="en",
    )
    assert canned["variables"] == ["first_name", "order"]
    channel_id = meta_channel(client, tenant, platform)
    comment_id, conversation = customer_comment(client, tenant, channel_id, text=SPANISH_COMPLAINT)
    assert conversation["language"] == "es"
    platform.answer(f"/v21.0/{comment_id}/comments", (200, {"id": f"{comment_id}_555"}))

    # A variable the text does not use, or one it needs and is not given: 422, nothing sent.
    for variables in ({"order": "R-1", "coupon": "X"}, {}):
        problem = assert_problem(
            post_message(client, tenant, conversation["id"], template_id=canned["id"], variables=variables),
            422,
        )
        assert "coupon" in problem["detail"] or "order" in problem["detail"]

    message = replied(
        client, tenant, conversation["id"], template_id=canned["id"], variables={"order": "R-{{x}}"}
    )["message"]
    expected = "Hola Lucía, ¡lo sentimos! Tu pedido de reposición es R-{{x}}."
    assert message["text"] == expected
    delivered(client, tenant, conversation["id"], message["id"], "sent")
    [call] = platform.posts(f"/v21.0/{comment_id}/comments")
    assert call.body == {"message": expected}


def test_canned_responses_crud_and_checks(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    canned = create_canned(client, tenant, name="thanks", variants={"en": "Thanks!"}, default_language="en")
    assert_problem(
        client.post(
            "/v1/canned-responses",
            headers=tenant.headers,
            json={"name": "thanks", "variants": {"en": "Again"}, "default_language": "en"},
        ),
        409,
    )
    for bad in (
        {"name": "x", "variants": {"en": "Hi {{first name}}"}, "default_language": "en"},
        {"name": "x", "variants": {"en": "Hi {{first_name}"}, "default_language": "en"},
        {"name": "x", "variants": {"en": "Hi"}, "default_language": "fr"},
        {"name": "x", "variants": {}, "default_language": "en"},
    ):
        assert_problem(client.post("/v1/canned-responses", headers=tenant.headers, json=bad), 422)
    updated = client.patch(
        f"/v1/canned-responses/{canned['id']}",
        headers=tenant.headers,
        json={"variants": {"en": "Thanks!", "fr": "Merci !"}, "default_language": "fr"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["default_language"] == "fr"
    listed = client.get("/v1/canned-responses", headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [canned["id"]]
    assert client.get("/v1/canned-responses", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.get(f"/v1/canned-responses/{canned['id']}", headers=other_tenant.headers), 404)
    assert client.delete(f"/v1/canned-responses/{canned['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/canned-responses/{canned['id']}", headers=tenant.headers), 404)


def test_internal_message_is_a_note_and_nothing_is_sent(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    _, conversation = customer_comment(client, tenant, channel_id)

    posted = replied(
        client, tenant, conversation["id"], text="Customer called too; refund approved.", internal=True
    )

    assert posted["internal"] is True
    assert posted["message"] is None
    assert posted["note"]["body"] == "Customer called too; refund approved."
    detail = get_conversation(client, tenant, conversation["id"])
    assert [n["body"] for n in detail["notes"]] == ["Customer called too; refund approved."]
    assert outbound(detail) == []
    events = collect_events(
        stack.nats_url,
        "engagement.reply.>",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
        timeout=1,
    )
    assert events == []
    assert platform.all_posts() == []


# --- errors ------------------------------------------------------------------------------------------


def test_conversation_without_a_channel_cannot_be_answered(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post("/v1/mentions", headers=tenant.headers, json=mention_payload(text=COMPLAINT))
    assert response.status_code == 202, response.text
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )
    problem = assert_problem(post_message(client, tenant, conversation["id"], text="Hello"), 422)
    assert problem["code"] == "no_channel"
    assert "channel" in problem["detail"]
    assert outbound(get_conversation(client, tenant, conversation["id"])) == []


def test_message_errors_are_problems(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    response = client.post("/v1/mentions", headers=tenant.headers, json=mention_payload(text=COMPLAINT))
    assert response.status_code == 202, response.text
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )
    assert_problem(post_message(client, tenant, str(uuid.uuid4()), text="Hello"), 404)
    assert_problem(post_message(client, other_tenant, conversation["id"], text="Hello"), 404)
    assert_problem(
        post_message(client, tenant, conversation["id"], text="Hello", internal=True, extra=1), 422
    )
    for body in (
        {},
        {"text": "   "},
        {"text": "Hello", "template_id": "abc"},
        {"text": "Hello", "variables": {"a": "b"}},
        {"text": "x" * 10_001},
    ):
        assert_problem(post_message(client, tenant, conversation["id"], **body), 422)
    assert_problem(post_message(client, tenant, conversation["id"], template_id=str(uuid.uuid4())), 404)
    assert outbound(get_conversation(client, tenant, conversation["id"])) == []
    assert get_conversation(client, tenant, conversation["id"])["notes"] == []


def test_replies_and_canned_responses_need_a_worker_of_the_tenant(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = client.post("/v1/mentions", headers=tenant.headers, json=mention_payload(text=COMPLAINT))
    assert response.status_code == 202, response.text
    conversation = wait_until(
        lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation opened"
    )
    canned = create_canned(client, tenant, name="hello", variants={"en": "Hello!"}, default_language="en")
    analyst = add_user(client, tenant, "analyst")
    path = f"/v1/conversations/{conversation['id']}/messages"
    assert_problem(client.post(path, json={"text": "Hi", "internal": True}), 401)
    assert_problem(client.post("/v1/canned-responses", json={}), 401)
    assert_problem(client.post(path, headers=analyst.headers, json={"text": "Hi", "internal": True}), 403)
    body = {"name": "x", "variants": {"en": "x"}, "default_language": "en"}
    assert_problem(client.post("/v1/canned-responses", headers=analyst.headers, json=body), 403)
    assert_problem(
        client.patch(f"/v1/canned-responses/{canned['id']}", headers=analyst.headers, json={"name": "y"}), 403
    )
    # Analysts read canned responses; another tenant's is not found.
    listed = client.get("/v1/canned-responses", headers=analyst.headers)
    assert [c["id"] for c in listed.json()["items"]] == [canned["id"]]
    assert_problem(
        client.patch(
            f"/v1/canned-responses/{canned['id']}", headers=other_tenant.headers, json={"name": "y"}
        ),
        404,
    )
    assert_problem(client.delete(f"/v1/canned-responses/{canned['id']}", headers=other_tenant.headers), 404)
    # A canned response of another tenant cannot be used either.
    assert_problem(
        client.post(
            f"/v1/conversations/{conversation['id']}/messages",
            headers=tenant.headers,
            json={
                "template_id": create_canned(
                    client, other_tenant, name="o", variants={"en": "o"}, default_language="en"
                )["id"],
                "internal": True,
            },
        ),
        404,
    )
    assert_problem(client.get("/v1/own-accounts"), 401)
