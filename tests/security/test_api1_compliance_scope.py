"""API1 broken object level authorization: a channel's compliance events reach only its own posts.

A delete, edit or erasure signed with one channel's key speaks for the posts that came through that
channel; posts stored by another channel or through `POST /v1/mentions` keep their text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx

from services.listening.channels.connectors.signatures import (
    META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    meta_signature,
)
from tests.helpers import Tenant, mention_payload
from tests.listening.channels.helpers import create_channel, fixture_bytes, fixture_json

SECRET_A = "x-secret-channel-a-41"
SECRET_B = "x-secret-channel-b-97"
# Ids in the recorded `tweet_create_events` delivery (author ids beside them).
DELETED_ID, DELETED_AUTHOR = "1899128732745302016", "3301827364"
EDITED_ID = "1899123456789012481"


def x_channel(client: httpx.Client, tenant: Tenant, secret: str) -> str:
    channel = create_channel(client, tenant, platform="x", name="X", credentials={"consumer_secret": secret})
    return str(channel["id"])


def post_x(client: httpx.Client, channel_id: str, secret: str, payload: Any) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    signature = "sha256=" + base64.b64encode(digest).decode()
    response = client.post(
        f"/v1/inbound/x/{channel_id}",
        content=body,
        headers={"Content-Type": "application/json", X_SIGNATURE_HEADER: signature},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def post_meta(client: httpx.Client, channel_id: str, secret: str, body: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", META_SIGNATURE_HEADER: meta_signature(body, secret)}
    response = client.post(f"/v1/inbound/meta/{channel_id}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def by_external_id(client: httpx.Client, tenant: Tenant) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/mentions", headers=tenant.headers, params={"platform": "x", "limit": 100})
    assert response.status_code == 200, response.text
    return {m["external_id"]: m for m in response.json()["items"]}


def delete_events(*ids: tuple[str, str]) -> dict[str, Any]:
    return {
        "for_user_id": "1489301274657820672",
        "tweet_delete_events": [
            {"status": {"id": tweet_id, "user_id": user_id}, "timestamp_ms": "1741620000123"}
            for tweet_id, user_id in ids
        ],
    }


def test_channel_delete_does_not_touch_posts_of_the_ingest_api_or_another_channel(
    client: httpx.Client, tenant: Tenant
) -> None:
    channel_a = x_channel(client, tenant, SECRET_A)
    channel_b = x_channel(client, tenant, SECRET_B)
    # The same platform ids as the recorded delivery, stored through the ingest API.
    for external_id in (DELETED_ID, EDITED_ID):
        stored = client.post(
            "/v1/mentions",
            json=mention_payload(external_id=external_id, text=f"kept text {external_id}"),
            headers=tenant.headers,
        )
        assert stored.status_code == 202, stored.text
    # Channel B's own posts (the recorded delivery but under new ids).
    delivery = fixture_json("x/tweet_create_events.json")
    for tweet in delivery["tweet_create_events"]:
        tweet["id_str"] = "b" + tweet["id_str"]
    assert post_x(client, channel_b, SECRET_B, delivery)["accepted"] == 4

    # Validly signed by channel A, naming posts A never delivered: nothing changes.
    others = delete_events((DELETED_ID, DELETED_AUTHOR), ("b" + DELETED_ID, DELETED_AUTHOR))
    assert post_x(client, channel_a, SECRET_A, others)["redacted"] == 0
    erase = {"user_delete": {"id_str": DELETED_AUTHOR, "timestamp_ms": "1741620000123"}}
    assert post_x(client, channel_a, SECRET_A, erase)["redacted"] == 0
    edit = fixture_json("x/tweet_edit.json")
    assert post_x(client, channel_a, SECRET_A, edit)["edited"] == 0
    after = by_external_id(client, tenant)
    assert after[DELETED_ID]["text"] == f"kept text {DELETED_ID}" and after[DELETED_ID]["redacted_at"] is None
    assert after[EDITED_ID]["text"] == f"kept text {EDITED_ID}" and after[EDITED_ID]["edited_at"] is None
    assert after["b" + DELETED_ID]["text"] and after["b" + DELETED_ID]["redacted_at"] is None

    # Channel B's own delete still works on its own post, and on nothing else.
    assert post_x(client, channel_b, SECRET_B, others)["redacted"] == 1
    final = by_external_id(client, tenant)
    assert final["b" + DELETED_ID]["text"] == "" and final["b" + DELETED_ID]["redaction_reason"] == "deleted"
    assert final[DELETED_ID]["text"] == f"kept text {DELETED_ID}"


def test_meta_removal_does_not_touch_a_post_another_channel_stored(
    client: httpx.Client, tenant: Tenant
) -> None:
    secrets = {"app_secret": "meta-app-secret-a", "verify_token": "vt-a"}
    owner = create_channel(client, tenant, platform="meta", name="storing page", credentials=secrets)
    other = create_channel(client, tenant, platform="meta", name="other page", credentials=secrets)
    stored = post_meta(
        client, owner["id"], secrets["app_secret"], fixture_bytes("meta/page_feed_comments.json")
    )
    assert stored["accepted"] == 1
    removals = fixture_bytes("meta/page_feed_removals.json")
    assert post_meta(client, other["id"], secrets["app_secret"], removals)["redacted"] == 0
    response = client.get("/v1/mentions", headers=tenant.headers, params={"platform": "facebook"})
    [comment] = response.json()["items"]
    assert comment["text"] and comment["redacted_at"] is None
    assert post_meta(client, owner["id"], secrets["app_secret"], removals)["redacted"] == 1
