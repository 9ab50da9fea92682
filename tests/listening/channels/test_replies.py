"""Replies: engagement.reply.requested on the bus → the platform's API (a stand-in) → listening.reply.*."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from rapport.stack import Stack
from services.listening.channels.connectors.meta import appsecret_proof
from shared.events.contracts import ReplyRequested
from shared.events.envelope import new_event
from tests.helpers import Event, Tenant, collect_events, find_event, publish_event, wait_until
from tests.listening.channels.helpers import (
    APP_SECRET,
    VERIFY_TOKEN,
    RecordingPlatform,
    create_channel,
    fixture_bytes,
    platform_mentions,
    post_meta,
)

PAGE_TOKEN = "EAAGm0PX4ZCpsBA-page-token-7f3a"
WA_TOKEN = "EAAwhatsapp-system-user-token-91c2"
INSTANCE_TOKEN = "mastodon-token-5e8b10"
X_TOKEN = "x-user-token-0d4e77"
CUSTOMER = "34612345678"


def request_reply(stack: Stack, tenant: Tenant, channel_id: str, **fields: Any) -> ReplyRequested:
    """Publish an `engagement.reply.requested` as engagement would; its payload."""
    request = ReplyRequested(
        message_id=fields.pop("message_id", str(uuid.uuid4())),
        conversation_id=fields.pop("conversation_id", str(uuid.uuid4())),
        channel_id=channel_id,
        **fields,
    )
    publish_event(stack.nats_url, new_event(request, source="engagement", tenant_id=tenant.tenant_id))
    return request


def outcome(stack: Stack, verb: str, message_id: str, timeout: float = 20.0) -> Event:
    return find_event(
        stack.nats_url, f"listening.reply.{verb}", lambda e: e["data"]["message_id"] == message_id, timeout
    )


def meta_channel(client: httpx.Client, tenant: Tenant, platform: RecordingPlatform) -> str:
    channel = create_channel(
        client,
        tenant,
        platform="meta",
        name="Kettle page",
        credentials={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": PAGE_TOKEN},
        settings={"graph_base_url": f"{platform.url}/v21.0", "page_id": "1029384756"},
    )
    return str(channel["id"])


def whatsapp_channel(client: httpx.Client, tenant: Tenant, platform: RecordingPlatform) -> str:
    channel = create_channel(
        client,
        tenant,
        platform="whatsapp",
        name="Kettle WhatsApp",
        credentials={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": WA_TOKEN},
        settings={"graph_base_url": f"{platform.url}/v21.0", "phone_number_id": "106540352242922"},
    )
    return str(channel["id"])


def mastodon_channel(client: httpx.Client, tenant: Tenant, platform: RecordingPlatform) -> str:
    channel = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="Kettle on Mastodon",
        credentials={"access_token": INSTANCE_TOKEN},
        settings={"base_url": platform.url, "hashtag": "kettles", "poll_interval_s": 3600},
    )
    return str(channel["id"])


def whatsapp_message(sender: str, text: str, sent_at: float) -> bytes:
    """A WhatsApp Cloud API `messages` webhook delivery of one text message."""
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": "106540352242922",
                                },
                                "contacts": [{"profile": {"name": "Ana Ruiz"}, "wa_id": sender}],
                                "messages": [
                                    {
                                        "from": sender,
                                        "id": f"wamid.{uuid.uuid4().hex}",
                                        "timestamp": str(int(sent_at)),
                                        "text": {"body": text},
                                        "type": "text",
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def test_facebook_comment_reply_goes_to_the_comment_edge_with_the_page_token(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/v21.0/1029384756_5550001/comments", (200, {"id": "1029384756_5550001_777"}))
    channel_id = meta_channel(client, tenant, platform)
    request = request_reply(
        stack,
        tenant,
        channel_id,
        text="Sorry about the lid! A new one is on its way.",
        in_reply_to="1029384756_5550001",
    )
    sent = outcome(stack, "sent", request.message_id)
    assert sent["tenantid"] == tenant.tenant_id
    assert sent["data"]["platform_message_id"] == "1029384756_5550001_777"
    assert sent["data"]["conversation_id"] == request.conversation_id
    assert sent["data"]["attempts"] == 1
    [call] = platform.posts("/v21.0/1029384756_5550001/comments")
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.body == {"message": "Sorry about the lid! A new one is on its way."}
    assert call.query["appsecret_proof"] == [appsecret_proof(PAGE_TOKEN, APP_SECRET)]
    assert PAGE_TOKEN not in json.dumps(sent)


def test_messenger_reply_inside_the_window_is_a_page_message(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/v21.0/1029384756/messages", (200, {"recipient_id": "6789", "message_id": "m_abc123"}))
    channel_id = meta_channel(client, tenant, platform)
    fixture = json.loads(fixture_bytes("meta/messenger.json"))
    # The recorded messages, made recent: the customer wrote a minute ago.
    for entry in fixture["entry"]:
        entry["time"] = int((time.time() - 60) * 1000)
        for message in entry.get("messaging", []):
            message["timestamp"] = int((time.time() - 60) * 1000)
    assert post_meta(client, "meta", channel_id, json.dumps(fixture).encode()).status_code == 200
    wait_until(lambda: platform_mentions(client, tenant, "messenger"), what="the messenger message stored")
    recipient = "25846391027456612"  # the customer who wrote (the other sender is the page's own echo)
    request = request_reply(
        stack, tenant, channel_id, kind="direct", recipient=recipient, text="Happy to help!"
    )
    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == "m_abc123"
    [call] = platform.posts("/v21.0/1029384756/messages")
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.body == {
        "recipient": {"id": recipient},
        "message": {"text": "Happy to help!"},
        "messaging_type": "RESPONSE",
    }


def test_whatsapp_reply_to_a_recent_message_is_sent_from_the_business_number(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    path = "/v21.0/106540352242922/messages"
    platform.answer(
        path,
        (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
                "messages": [{"id": "wamid.HBgLMzQ2MTIzNDU2NzgVAgARGBI5"}],
            },
        ),
    )
    channel_id = whatsapp_channel(client, tenant, platform)
    body = whatsapp_message(CUSTOMER, "¿Tenéis envío a Canarias?", time.time() - 3600)
    assert post_meta(client, "whatsapp", channel_id, body).status_code == 200
    [mention] = wait_until(lambda: platform_mentions(client, tenant, "whatsapp"), what="the message stored")
    # The mention answered names the recipient: engagement need not know the phone number.
    request = request_reply(
        stack, tenant, channel_id, kind="direct", mention_id=mention["id"], text="¡Sí, claro!"
    )
    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == "wamid.HBgLMzQ2MTIzNDU2NzgVAgARGBI5"
    assert sent["data"]["platform"] == "whatsapp"
    [call] = platform.posts(path)
    assert call.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": "¡Sí, claro!"},
        "context": {"message_id": mention["external_id"]},
    }


def test_whatsapp_message_outside_24_hours_fails_without_calling_the_platform(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/v21.0/106540352242922/messages", (200, {"messages": [{"id": "wamid.never"}]}))
    channel_id = whatsapp_channel(client, tenant, platform)
    # The customer last wrote 25 hours ago; another never wrote at all.
    body = whatsapp_message(CUSTOMER, "¿Tenéis envío a Canarias?", time.time() - 25 * 3600)
    assert post_meta(client, "whatsapp", channel_id, body).status_code == 200
    wait_until(lambda: platform_mentions(client, tenant, "whatsapp"), what="the message stored")
    late = request_reply(stack, tenant, channel_id, kind="direct", recipient=CUSTOMER, text="¡Hola!")
    never = request_reply(stack, tenant, channel_id, kind="direct", recipient="4915112345678", text="Hallo!")
    for request in (late, never):
        failed = outcome(stack, "failed", request.message_id)
        assert failed["data"]["code"] == "outside_customer_service_window"
        assert failed["data"]["retryable"] is False
        assert failed["data"]["attempts"] == 0
    assert platform.all_posts() == []


def test_mastodon_500_then_200_sends_once_and_reports_one_success(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer(
        "/api/v1/statuses",
        (500, {"error": "Internal server error"}),
        (200, {"id": "109876543210", "visibility": "public"}),
    )
    channel_id = mastodon_channel(client, tenant, platform)
    request = request_reply(stack, tenant, channel_id, text="@ana thanks, fixed!", in_reply_to="109870000001")
    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == "109876543210"
    assert sent["data"]["attempts"] == 2
    first, second = platform.posts("/api/v1/statuses")
    for call in (first, second):
        assert call.headers["authorization"] == f"Bearer {INSTANCE_TOKEN}"
        assert call.headers["idempotency-key"] == request.message_id
        assert call.body == {"status": "@ana thanks, fixed!", "in_reply_to_id": "109870000001"}
    events = collect_events(
        stack.nats_url,
        "listening.reply.>",
        lambda e: e["data"]["message_id"] == request.message_id,
        timeout=2,
    )
    assert [e["type"] for e in events] == ["listening.reply.sent"]


def test_the_same_request_twice_is_sent_once(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/api/v1/statuses", (200, {"id": "1"}))
    channel_id = mastodon_channel(client, tenant, platform)
    request = ReplyRequested(
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
        channel_id=channel_id,
        text="Once only",
        in_reply_to="109870000002",
    )
    event = new_event(request, source="engagement", tenant_id=tenant.tenant_id)
    # The same event delivered twice (past the broker's de-duplication), then again under a new event id.
    publish_event(stack.nats_url, event, msg_ids=(event.id, f"{event.id}-again"))
    outcome(stack, "sent", request.message_id)
    publish_event(stack.nats_url, new_event(request, source="engagement", tenant_id=tenant.tenant_id))
    # A later request on the same channel: once it is sent, the repeats before it were handled.
    marker = request_reply(stack, tenant, channel_id, text="Marker", in_reply_to="109870000003")
    outcome(stack, "sent", marker.message_id)
    assert [c.body["status"] for c in platform.posts("/api/v1/statuses")] == ["Once only", "Marker"]
    events = collect_events(
        stack.nats_url,
        "listening.reply.>",
        lambda e: e["data"]["message_id"] == request.message_id,
        timeout=2,
    )
    assert len(events) == 1


def test_a_refusal_fails_at_once_with_the_platform_message_and_no_token(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    message = f"(#100) Invalid parameter: the token {PAGE_TOKEN} cannot reply to this comment"
    platform.answer(
        "/v21.0/1029384756_9990001/comments",
        (400, {"error": {"message": message, "type": "OAuthException", "code": 100}}),
    )
    channel_id = meta_channel(client, tenant, platform)
    request = request_reply(stack, tenant, channel_id, text="Hello", in_reply_to="1029384756_9990001")
    failed = outcome(stack, "failed", request.message_id)
    assert failed["data"]["code"] == "platform_rejected"
    assert failed["data"]["retryable"] is False
    assert failed["data"]["attempts"] == 1
    assert "Invalid parameter" in failed["data"]["error"]
    assert PAGE_TOKEN not in json.dumps(failed)
    assert len(platform.posts("/v21.0/1029384756_9990001/comments")) == 1


def test_server_errors_give_up_after_the_configured_attempts(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/api/v1/statuses", (503, {"error": "Down for maintenance"}))
    channel_id = mastodon_channel(client, tenant, platform)
    request = request_reply(stack, tenant, channel_id, text="Hello", in_reply_to="109870000004")
    failed = outcome(stack, "failed", request.message_id)
    assert failed["data"]["code"] == "platform_unavailable"
    assert failed["data"]["retryable"] is True
    # RAPPORT_REPLY_ATTEMPTS in the test stack.
    assert failed["data"]["attempts"] == 3
    assert len(platform.posts("/api/v1/statuses")) == 3


def test_another_tenants_channel_is_not_found(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/api/v1/statuses", (200, {"id": "1"}))
    channel_id = mastodon_channel(client, tenant, platform)
    request = request_reply(stack, other_tenant, channel_id, text="Not yours", in_reply_to="109870000005")
    failed = outcome(stack, "failed", request.message_id)
    assert failed["tenantid"] == other_tenant.tenant_id
    assert failed["data"]["code"] == "channel_not_found"
    assert platform.all_posts() == []


def test_x_reply_is_a_post_answering_the_post(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer("/2/tweets", (201, {"data": {"id": "1850000000000000001", "text": "On it!"}}))
    x = create_channel(
        client,
        tenant,
        platform="x",
        name="Kettle on X",
        credentials={"consumer_secret": "x-consumer-secret", "access_token": X_TOKEN},
        settings={"api_base_url": platform.url},
    )
    request = request_reply(stack, tenant, x["id"], text="On it!", in_reply_to="1849999999999999999")
    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == "1850000000000000001"
    [call] = platform.posts("/2/tweets")
    assert call.headers["authorization"] == f"Bearer {X_TOKEN}"
    assert call.body == {"text": "On it!", "reply": {"in_reply_to_tweet_id": "1849999999999999999"}}


def test_bluesky_reply_names_the_threads_root_and_parent(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    parent = "at://did:plc:customer/app.bsky.feed.post/3kparent"
    root = {"uri": "at://did:plc:brand/app.bsky.feed.post/3kroot", "cid": "bafyroot"}
    platform.answer(
        "/xrpc/com.atproto.server.createSession",
        (200, {"did": "did:plc:brand", "handle": "kettle.bsky.social", "accessJwt": "jwt-access-1"}),
    )
    platform.answer(
        "/xrpc/app.bsky.feed.getPosts",
        (
            200,
            {
                "posts": [
                    {"uri": parent, "cid": "bafyparent", "record": {"text": "lid?", "reply": {"root": root}}}
                ]
            },
        ),
    )
    new_uri = "at://did:plc:brand/app.bsky.feed.post/3knew"
    platform.answer("/xrpc/com.atproto.repo.createRecord", (200, {"uri": new_uri, "cid": "bafynew"}))
    channel = create_channel(
        client,
        tenant,
        platform="bluesky",
        name="Kettle on Bluesky",
        credentials={"identifier": "kettle.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        settings={"base_url": "ws://127.0.0.1:9", "pds_url": platform.url},
    )
    request = request_reply(stack, tenant, channel["id"], text="A new lid is on its way!", in_reply_to=parent)
    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == new_uri
    [login] = platform.posts("/xrpc/com.atproto.server.createSession")
    assert login.body == {"identifier": "kettle.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
    [lookup] = [r for r in platform.requests if r.path == "/xrpc/app.bsky.feed.getPosts"]
    assert lookup.query == {"uris": [parent]} and lookup.headers["authorization"] == "Bearer jwt-access-1"
    [call] = platform.posts("/xrpc/com.atproto.repo.createRecord")
    assert call.headers["authorization"] == "Bearer jwt-access-1"
    assert call.body["repo"] == "did:plc:brand" and call.body["collection"] == "app.bsky.feed.post"
    record = call.body["record"]
    assert record["$type"] == "app.bsky.feed.post" and record["text"] == "A new lid is on its way!"
    assert record["reply"] == {"root": root, "parent": {"uri": parent, "cid": "bafyparent"}}
    direct = request_reply(
        stack, tenant, channel["id"], kind="direct", recipient="did:plc:customer", text="Hi"
    )
    assert outcome(stack, "failed", direct.message_id)["data"]["code"] == "unsupported_platform"
    assert len(platform.posts("/xrpc/com.atproto.repo.createRecord")) == 1


def test_rss_channel_cannot_send(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    feed = create_channel(
        client,
        tenant,
        platform="rss",
        name="blog",
        settings={"url": f"{platform.url}/feed.xml", "poll_interval_s": 3600},
    )
    request = request_reply(stack, tenant, feed["id"], text="Hi", in_reply_to="https://example.org/post/1")
    failed = outcome(stack, "failed", request.message_id)
    assert failed["data"]["code"] == "unsupported_platform"
    assert platform.all_posts() == []
