"""`listening.mention.received` carries what routing and resolution need: channel, user id, query kinds."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, find_event, mention_payload

PLATFORMS = Path(__file__).resolve().parents[1] / "data" / "platforms"
APP_SECRET = "whsec-events-51c2"


def create_query(client: httpx.Client, tenant: Tenant, *, kind: str, expression: str) -> str:
    body = {"name": f"{kind} query", "kind": kind, "expression": expression}
    response = client.post("/v1/listening/queries", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def received(stack: Stack, tenant: Tenant) -> dict[str, Any]:
    """The tenant's first `listening.mention.received` event, read from JetStream."""
    return find_event(
        stack.nats_url, "listening.mention.received", lambda e: e["tenantid"] == tenant.tenant_id
    )


def test_ingested_mention_event_names_each_matched_query_with_its_kind_and_the_author_id(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    brand = create_query(client, tenant, kind="brand", expression="kettle")
    rival = create_query(client, tenant, kind="competitor", expression="teapotz")
    create_query(client, tenant, kind="topic", expression="shipping")  # not in the post: not matched
    body = mention_payload(
        text="My Kettle broke after a week, should have bought a Teapotz instead.",
        author={"handle": "@sam", "id": "2244994945"},
    )
    response = client.post("/v1/mentions", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201, 202), response.text

    data = received(stack, tenant)["data"]
    assert data["author"]["handle"] == "@sam" and data["author"]["platform_user_id"] == "2244994945"
    assert sorted(data["matched_queries"], key=lambda m: m["kind"]) == [
        {"query_id": brand, "kind": "brand"},
        {"query_id": rival, "kind": "competitor"},
    ]
    assert sorted(data["matched_query_ids"]) == sorted([brand, rival])  # kept for older consumers
    assert data.get("channel_id") is None  # the ingest API is no channel


def test_channel_delivery_event_names_its_channel_and_the_platform_user(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    channel = client.post(
        "/v1/channels",
        json={
            "platform": "meta",
            "name": "Facebook page",
            "credentials": {"app_secret": APP_SECRET, "verify_token": "vt-events"},
        },
        headers=tenant.headers,
    )
    assert channel.status_code == 201, channel.text
    channel_id = channel.json()["id"]
    delivery = (PLATFORMS / "meta" / "page_feed_comments.json").read_bytes()
    # Signed as Meta signs: HMAC-SHA256 of the exact bytes with the app secret, hex.
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), delivery, hashlib.sha256).hexdigest()
    response = client.post(
        f"/v1/inbound/meta/{channel_id}",
        content=delivery,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.text

    data = received(stack, tenant)["data"]
    assert data["channel_id"] == channel_id
    assert data["author"]["platform_user_id"] == "6620019384756211"
    assert data["matched_queries"] == [] and data["matched_query_ids"] == []
