"""Public webhook endpoints: verification handshakes, signed deliveries, replays and compliance events."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from services.listening.channels.connectors.signatures import meta_signature, x_signature
from tests.helpers import Tenant, assert_problem, wait_until
from tests.listening.channels.helpers import (
    APP_SECRET,
    VERIFY_TOKEN,
    create_channel,
    fixture_bytes,
    post_meta,
)

CONSUMER_SECRET = "x-consumer-secret-88a1"


def meta_channel(client: httpx.Client, tenant: Tenant, platform: str = "meta") -> str:
    channel = create_channel(
        client,
        tenant,
        platform=platform,
        name=f"{platform} channel",
        credentials={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    return str(channel["id"])


def x_channel(client: httpx.Client, tenant: Tenant) -> str:
    channel = create_channel(
        client, tenant, platform="x", name="X account", credentials={"consumer_secret": CONSUMER_SECRET}
    )
    return str(channel["id"])


def post_x(client: httpx.Client, channel_id: str, body: bytes) -> httpx.Response:
    digest = hmac.new(CONSUMER_SECRET.encode(), body, hashlib.sha256).digest()
    signature = "sha256=" + base64.b64encode(digest).decode()
    assert signature == x_signature(body, CONSUMER_SECRET)
    return client.post(
        f"/v1/inbound/x/{channel_id}",
        content=body,
        headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": signature},
    )


def mentions(client: httpx.Client, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/mentions", headers=tenant.headers, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def analysed(client: httpx.Client, tenant: Tenant, mention_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
    return body if body.get("analysis_status") == "analysed" else None


def verified_at(client: httpx.Client, tenant: Tenant, channel_id: str) -> str | None:
    response = client.get(f"/v1/channels/{channel_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    value: str | None = response.json()["status"]["verified_at"]
    return value


def test_meta_verification_echoes_the_challenge_only_for_the_right_token(
    client: httpx.Client, tenant: Tenant
) -> None:
    channel_id = meta_channel(client, tenant)
    url = f"/v1/inbound/meta/{channel_id}"
    wrong = client.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert_problem(wrong, 403)
    assert verified_at(client, tenant, channel_id) is None  # a refused check verifies nothing
    ok = client.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    # The channel's status says the platform verified it; new credentials wait for the next check.
    assert verified_at(client, tenant, channel_id) is not None
    rotated = client.patch(
        f"/v1/channels/{channel_id}",
        headers=tenant.headers,
        json={"credentials": {"app_secret": APP_SECRET, "verify_token": "a-new-verify-token"}},
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["status"]["verified_at"] is None
    assert_problem(client.get(f"/v1/inbound/meta/{'0' * 36}", params={"hub.mode": "subscribe"}), 404)
    # The same channel id under another platform's path is not a channel either.
    assert_problem(client.get(f"/v1/inbound/whatsapp/{channel_id}"), 404)


def test_signed_meta_delivery_is_ingested_and_a_replay_is_deduplicated(
    client: httpx.Client, tenant: Tenant
) -> None:
    channel_id = meta_channel(client, tenant)
    body = fixture_bytes("meta/page_feed_comments.json")
    first = post_meta(client, "meta", channel_id, body)
    assert first.status_code == 200, first.text
    # One customer comment; the page's own reply is not a mention of it.
    assert first.json()["accepted"] == 1 and first.json()["skipped"] == 1
    stored = mentions(client, tenant)
    assert [m["external_id"] for m in stored] == ["998877665544400_1200456789012345"]
    assert stored[0]["platform"] == "facebook"
    replay = post_meta(client, "meta", channel_id, body)
    assert replay.status_code == 200 and replay.json()["accepted"] == 0 and replay.json()["duplicates"] == 1
    assert len(mentions(client, tenant)) == 1


def test_bad_or_missing_signature_is_401_and_stores_nothing(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = meta_channel(client, tenant)
    body = fixture_bytes("meta/page_feed_comments.json")
    assert_problem(post_meta(client, "meta", channel_id, body, secret="not-the-secret"), 401)
    tampered = body.replace(b"salviagr", b"SALVIAGR")
    signature = meta_signature(body, APP_SECRET)
    response = client.post(
        f"/v1/inbound/meta/{channel_id}", content=tampered, headers={"X-Hub-Signature-256": signature}
    )
    assert_problem(response, 401)
    assert_problem(client.post(f"/v1/inbound/meta/{channel_id}", content=body), 401)
    x_id = x_channel(client, tenant)
    x_body = fixture_bytes("x/tweet_create_events.json")
    assert_problem(
        client.post(
            f"/v1/inbound/x/{x_id}", content=x_body, headers={"x-twitter-webhooks-signature": "sha256=AAAA"}
        ),
        401,
    )
    assert mentions(client, tenant) == []


def test_signed_whatsapp_messages_are_ingested(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = meta_channel(client, tenant, "whatsapp")
    response = post_meta(client, "whatsapp", channel_id, fixture_bytes("whatsapp/messages.json"))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3
    assert {m["platform"] for m in mentions(client, tenant)} == {"whatsapp"}
    statuses = post_meta(client, "whatsapp", channel_id, fixture_bytes("whatsapp/statuses.json"))
    assert statuses.status_code == 200 and statuses.json()["accepted"] == 0
    assert len(mentions(client, tenant)) == 3


def test_x_crc_and_signed_tweets(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    crc = client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": "challenge-123"})
    assert crc.status_code == 200
    expected = base64.b64encode(hmac.new(CONSUMER_SECRET.encode(), b"challenge-123", hashlib.sha256).digest())
    assert crc.json() == {"response_token": "sha256=" + expected.decode()}
    assert verified_at(client, tenant, channel_id) is not None
    assert_problem(client.get(f"/v1/inbound/x/{channel_id}"), 400)
    response = post_x(client, channel_id, fixture_bytes("x/tweet_create_events.json"))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 4  # the account's own tweet is skipped
    assert len(mentions(client, tenant, platform="x")) == 4


def test_delete_event_redacts_the_mention(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    assert post_x(client, channel_id, fixture_bytes("x/tweet_create_events.json")).status_code == 200
    target = next(m for m in mentions(client, tenant) if m["external_id"] == "1899128732745302016")
    wait_until(lambda: analysed(client, tenant, target["id"]), timeout=30)
    deleted = post_x(client, channel_id, fixture_bytes("x/tweet_delete_events.json"))
    assert deleted.status_code == 200 and deleted.json()["redacted"] == 1
    shown = client.get(f"/v1/mentions/{target['id']}", headers=tenant.headers).json()
    assert shown["text"] == "" and shown["url"] is None
    assert shown["redaction_reason"] == "deleted" and shown["redacted_at"] is not None
    listed = next(m for m in mentions(client, tenant) if m["id"] == target["id"])
    assert listed["text"] == ""
    # A replayed delete changes nothing more; other mentions keep their text.
    again = post_x(client, channel_id, fixture_bytes("x/tweet_delete_events.json"))
    assert again.json()["redacted"] == 0
    assert all(m["text"] for m in mentions(client, tenant) if m["id"] != target["id"])


def test_user_delete_erases_the_author_and_edit_updates_the_text(
    client: httpx.Client, tenant: Tenant
) -> None:
    channel_id = x_channel(client, tenant)
    assert post_x(client, channel_id, fixture_bytes("x/tweet_create_events.json")).status_code == 200
    by_external = {m["external_id"]: m for m in mentions(client, tenant)}
    edited_id = by_external["1899123456789012481"]["id"]
    wait_until(lambda: analysed(client, tenant, edited_id), timeout=30)
    before = by_external["1899123456789012481"]["text"]
    edit = post_x(client, channel_id, fixture_bytes("x/tweet_edit.json"))
    assert edit.status_code == 200 and edit.json()["edited"] == 1
    shown = client.get(f"/v1/mentions/{edited_id}", headers=tenant.headers).json()
    assert shown["text"] and shown["text"] != before and shown["edited_at"] is not None
    assert shown["analysis"] is not None
    firehose = post_x(client, channel_id, fixture_bytes("x/compliance_firehose.json"))
    assert firehose.status_code == 200, firehose.text
    erased = client.get(
        f"/v1/mentions/{by_external['1899128732745302016']['id']}", headers=tenant.headers
    ).json()
    assert erased["redaction_reason"] == "user_deleted"
    assert (
        erased["text"] == "" and erased["author"]["handle"] == "" and erased["author"]["display_name"] is None
    )
    withheld = client.get(f"/v1/mentions/{edited_id}", headers=tenant.headers).json()
    assert withheld["redaction_reason"] == "withheld" and withheld["text"] == ""


def test_meta_removal_redacts_the_comment(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = meta_channel(client, tenant)
    assert (
        post_meta(client, "meta", channel_id, fixture_bytes("meta/page_feed_comments.json")).status_code
        == 200
    )
    removed = post_meta(client, "meta", channel_id, fixture_bytes("meta/page_feed_removals.json"))
    assert removed.status_code == 200 and removed.json()["redacted"] == 1
    (only,) = mentions(client, tenant)
    assert only["text"] == "" and only["redaction_reason"] == "deleted"
