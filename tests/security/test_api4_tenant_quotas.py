"""API4 unrestricted resource consumption: per-tenant quotas of listening.

Channels are a count cap (409 `quota-exceeded`); posts through the ingest API a rate quota per clock
hour counted in posts, not requests (429 with Retry-After, nothing stored). The hourly quota is tested
on a listening process of its own (its own NATS and database, the stack's identity for tokens) started
with a quota of a few posts, since the stack's one setting serves every tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport.stack import Stack, port_open
from services.listening.channels.connectors.signatures import x_signature
from tests.helpers import Tenant, add_user, assert_problem, signup, unique, wait_until
from tests.listening.channels.helpers import fixture_bytes

QUOTA = 7


def post(external_id: str | None = None) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": external_id or unique("p"),
        "text": "The new kettle is great",
        "created_at": datetime.now(UTC).isoformat(),
        "author": {"handle": "@kettlefan"},
    }


def usage(http: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    response = http.get("/v1/listening/usage", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def small_quota(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A listening process whose tenants may send `QUOTA` posts an hour; its URL."""
    var_dir: Path = tmp_path_factory.mktemp("quota")
    own = Stack(
        var_dir=var_dir,
        env={
            "RAPPORT_IDENTITY_URL": stack.url("identity"),
            "RAPPORT_INGEST_POSTS_PER_HOUR": str(QUOTA),
            "RAPPORT_CONNECTOR_PULLERS": "false",
        },
    )
    nats = next(p for p in own.infra if p.name == "nats")
    try:
        nats.spawn()
        wait_until(lambda: port_open(nats.port), timeout=10, what="nats-server")
        own.start("listening")
        yield own.url("listening")
    finally:
        own.procs["listening"].stop()
        nats.stop()


def test_channels_beyond_the_cap_are_refused_with_409(client: httpx.Client, tenant: Tenant) -> None:
    def create(i: int) -> httpx.Response:
        body = {"platform": "x", "name": f"X {i}", "credentials": {"consumer_secret": "s" * 20}}
        return client.post("/v1/channels", json=body, headers=tenant.headers)

    for i in range(50):
        assert create(i).status_code == 201
    refused = create(50)
    problem = assert_problem(refused, 409)
    assert problem["type"].endswith("/quota-exceeded")
    assert problem["limit"] == 50 and problem["used"] == 50
    assert usage(client, tenant)["channels"] == {"used": 50, "limit": 50}
    # deleting one frees a place
    first = client.get("/v1/channels?limit=1", headers=tenant.headers).json()["items"][0]
    assert client.delete(f"/v1/channels/{first['id']}", headers=tenant.headers).status_code == 204
    assert create(51).status_code == 201


def test_usage_is_for_owners_and_admins_only(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    assert_problem(client.get("/v1/listening/usage"), 401)
    agent = add_user(accounts, tenant, "agent")
    assert_problem(client.get("/v1/listening/usage", headers=agent.headers), 403)
    admin = add_user(accounts, tenant, "admin")
    assert usage(client, admin)["channels"] == {"used": 0, "limit": 50}
    body = usage(client, tenant)
    assert body["queries"] == {"used": 0, "limit": 200}
    assert body["posts_this_hour"]["limit"] == 100_000
    resets = datetime.fromisoformat(body["posts_this_hour"]["resets_at"])
    assert resets.minute == resets.second == 0 and 0 < (resets - datetime.now(UTC)).total_seconds() <= 3600


@pytest.mark.slow
def test_ingest_quota_counts_posts_not_requests(small_quota: str, accounts: httpx.Client) -> None:
    tenant, other = signup(accounts), signup(accounts)
    with httpx.Client(base_url=small_quota, timeout=30) as http:
        assert http.post("/v1/mentions", json=post(), headers=tenant.headers).status_code == 202
        batch = {"mentions": [post() for _ in range(QUOTA - 2)]}
        assert http.post("/v1/mentions/batch", json=batch, headers=tenant.headers).status_code == 202
        assert usage(http, tenant)["posts_this_hour"]["used"] == QUOTA - 1
        # a batch of two would pass the quota: refused whole, nothing stored
        refused = http.post("/v1/mentions/batch", json={"mentions": [post(), post()]}, headers=tenant.headers)
        problem = assert_problem(refused, 429)
        assert problem["type"].endswith("/ingest-quota-exceeded") and problem["remaining"] == 1
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        listed = http.get("/v1/mentions?limit=100", headers=tenant.headers).json()["items"]
        assert len(listed) == QUOTA - 1
        # the last one fits; then even one is refused
        assert http.post("/v1/mentions", json=post(), headers=tenant.headers).status_code == 202
        assert_problem(http.post("/v1/mentions", json=post(), headers=tenant.headers), 429)
        assert usage(http, tenant)["posts_this_hour"]["used"] == QUOTA
        # another tenant is not affected
        assert http.post("/v1/mentions", json=post(), headers=other.headers).status_code == 202


@pytest.mark.slow
def test_import_stops_where_the_ingest_quota_runs_out(small_quota: str, accounts: httpx.Client) -> None:
    tenant = signup(accounts)
    lines = "".join(json.dumps(post(f"imp-{i}")) + "\n" for i in range(QUOTA + 3))
    headers = {**tenant.headers, "content-type": "application/x-ndjson"}
    with httpx.Client(base_url=small_quota, timeout=30) as http:
        summary = http.post("/v1/mentions/import", content=lines, headers=headers)
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["accepted"] == QUOTA and body["stopped_at_line"] == QUOTA + 1
        assert body["errors"][-1]["line"] == QUOTA + 1 and "quota" in body["errors"][-1]["error"]
        assert usage(http, tenant)["posts_this_hour"]["used"] == QUOTA
        # a file of many chunks stops at its first batch, and the client still gets the summary
        other = signup(accounts)
        big = "".join(json.dumps(post(f"big-{i}")) + "\n" for i in range(3000))
        summary = http.post(
            "/v1/mentions/import",
            content=(big[i : i + 65536].encode() for i in range(0, len(big), 65536)),
            headers={**other.headers, "content-type": "application/x-ndjson"},
        )
        assert summary.status_code == 200, summary.text
        assert summary.json()["accepted"] == QUOTA and summary.json()["stopped_at_line"] == QUOTA + 1
        # with the quota used up, a file is refused before anything is read
        again = http.post("/v1/mentions/import", content=lines, headers=headers)
        assert_problem(again, 429)
        assert "retry-after" in again.headers
        listed = http.get("/v1/mentions?limit=100", headers=tenant.headers).json()["items"]
        assert len(listed) == QUOTA


@pytest.mark.slow
def test_platform_deliveries_are_counted_but_never_refused(small_quota: str, accounts: httpx.Client) -> None:
    tenant = signup(accounts)
    with httpx.Client(base_url=small_quota, timeout=30) as http:
        batch = {"mentions": [post() for _ in range(QUOTA)]}
        assert http.post("/v1/mentions/batch", json=batch, headers=tenant.headers).status_code == 202
        assert_problem(http.post("/v1/mentions", json=post(), headers=tenant.headers), 429)
        secret = "x-consumer-secret-quota"
        channel = http.post(
            "/v1/channels",
            json={"platform": "x", "name": "X", "credentials": {"consumer_secret": secret}},
            headers=tenant.headers,
        ).json()
        body = fixture_bytes("x/tweet_create_events.json")
        delivery = http.post(
            f"/v1/inbound/x/{channel['id']}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "x-twitter-webhooks-signature": x_signature(body, secret),
            },
        )
        assert delivery.status_code == 200 and delivery.json()["accepted"] == 4
        assert usage(http, tenant)["posts_this_hour"]["used"] == QUOTA + 4
