"""The brand's own posts: never mentions; published as `listening.brand_post.received`. Own accounts are
the channels' accounts and those listed through `/v1/own-accounts`."""

from __future__ import annotations

import json

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event, mention_payload, unique, wait_until
from tests.listening.channels.helpers import (
    APP_SECRET,
    VERIFY_TOKEN,
    create_channel,
    fixture_bytes,
    platform_mentions,
    post_meta,
)

PAGE_ID = "104857392001234"  # the page of the recorded Meta deliveries
ECHO_MID = "m_echo0000000000000000000000000000000000000000000000000000000000000000001"


def page_channel(client: httpx.Client, tenant: Tenant) -> str:
    channel = create_channel(
        client,
        tenant,
        platform="meta",
        name="Kettle page",
        credentials={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
        settings={"page_id": PAGE_ID},
    )
    return str(channel["id"])


def test_message_echo_is_a_brand_post_not_a_mention(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    channel_id = page_channel(client, tenant)
    fixture = json.loads(fixture_bytes("meta/messenger.json"))
    assert post_meta(client, "meta", channel_id, json.dumps(fixture).encode()).status_code == 200

    event = find_event(
        stack.nats_url,
        "listening.brand_post.received",
        lambda e: e["tenantid"] == tenant.tenant_id and e["data"]["external_id"] == ECHO_MID,
    )
    assert event["data"]["platform"] == "messenger"
    assert event["data"]["channel_id"] == channel_id
    assert event["data"]["kind"] == "message"
    assert event["data"]["text"] == "Bonjour ! Le corps non, mais le filtre oui."
    stored = wait_until(lambda: platform_mentions(client, tenant, "messenger"), what="the customer's message")
    assert [m["external_id"] for m in stored] == [fixture["entry"][0]["messaging"][0]["message"]["mid"]]


def test_the_channels_page_counts_as_own_for_the_ingest_api(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    page_channel(client, tenant)
    post = mention_payload(
        platform="facebook",
        text="New kettles in store this week!",
        author={"handle": "kettleco", "id": PAGE_ID},
        in_reply_to="104857392001234_1",
    )
    response = client.post("/v1/mentions", headers=tenant.headers, json=post)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "brand_post"
    event = find_event(
        stack.nats_url, "listening.brand_post.received", lambda e: e["id"] == response.json()["id"]
    )
    assert event["data"]["external_id"] == post["external_id"]
    assert event["data"]["in_reply_to"] == "104857392001234_1"
    assert event["data"].get("channel_id") is None  # the ingest API, not a channel
    # In a batch too, next to a customer's post.
    customer = mention_payload(platform="facebook", author={"handle": unique("cust"), "id": unique("66")})
    again = mention_payload(platform="facebook", author={"handle": "kettleco", "id": PAGE_ID})
    response = client.post("/v1/mentions/batch", headers=tenant.headers, json={"mentions": [customer, again]})
    assert response.status_code == 202, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "brand_post"]
    assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 0)


def test_own_accounts_are_edited_by_admins_of_the_tenant(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = client.post(
        "/v1/own-accounts",
        headers=tenant.headers,
        json={"platform": "mastodon", "handle": "@Kettle@social.example"},
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["handle"], account["platform_user_id"]) == ("kettle@social.example", None)
    path = f"/v1/own-accounts/{account['id']}"
    agent = add_user(client, tenant, "agent")
    assert_problem(client.get("/v1/own-accounts", headers=agent.headers), 403)
    assert_problem(client.patch(path, headers=other_tenant.headers, json={"platform_user_id": "1"}), 404)
    assert client.get("/v1/own-accounts", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.patch(path, headers=tenant.headers, json={"handle": None}), 422)
    updated = client.patch(path, headers=tenant.headers, json={"platform_user_id": "109000001"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["platform_user_id"] == "109000001"

    # A post by the account's user id is the brand's, whatever handle it shows.
    post = mention_payload(platform="mastodon", author={"handle": "renamed", "id": "109000001"})
    response = client.post("/v1/mentions", headers=tenant.headers, json=post)
    assert response.json()["status"] == "brand_post"
    assert [a["id"] for a in client.get("/v1/own-accounts", headers=tenant.headers).json()["items"]] == [
        account["id"]
    ]
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert_problem(client.delete(path, headers=tenant.headers), 404)
    # This process's own edit dropped the tenant's cached accounts: the next post is a mention again.
    response = client.post(
        "/v1/mentions",
        headers=tenant.headers,
        json=mention_payload(platform="mastodon", author={"handle": "renamed", "id": "109000001"}),
    )
    assert response.json()["status"] == "accepted"
