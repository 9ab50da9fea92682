"""Ingestion (`POST /v1/mentions`) and read-back (`GET /v1/mentions/{id}`), with de-duplication."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.helpers import Tenant, mention_payload, wait_until
from tests.listening.helpers import analysed, list_mentions, post_mention


def test_ingested_mention_reads_back_with_its_analysis(client: httpx.Client, tenant: Tenant) -> None:
    created_at = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    body, mention_id = post_mention(
        client,
        tenant,
        platform="x",
        text="My order arrived broken and support is not answering. Terrible!",
        created_at=created_at.isoformat(),
        in_reply_to="brand-post-7",
        author={"handle": "@SamDoe", "display_name": "Sam Doe", "followers": 120},
    )

    analysed(client, tenant, mention_id)
    # The fast tier's analysis shows first; the quality tier re-scores it moments later.
    mention = wait_until(
        lambda: (
            read
            if (read := read_mention(client, tenant, mention_id))["analysis"]["tier"] == "quality"
            else None
        ),
        what="the quality tier's analysis",
    )

    assert mention["id"] == mention_id
    assert mention["platform"] == "x"
    assert mention["external_id"] == body["external_id"]
    assert mention["text"] == body["text"]
    assert datetime.fromisoformat(mention["created_at"]) == created_at
    assert datetime.fromisoformat(mention["received_at"]) > created_at
    assert mention["url"] == body["url"]
    assert mention["in_reply_to"] == "brand-post-7"
    author = mention["author"]
    assert {k: author[k] for k in ("handle", "display_name", "followers", "verified")} == {
        "handle": "@SamDoe",
        "display_name": "Sam Doe",
        "followers": 120,
        "verified": False,
    }
    assert 0 < author["influence"] < 30
    analysis = mention["analysis"]
    assert analysis["language"] == "en"
    assert analysis["sentiment"]["label"] == "negative"
    assert -1 <= analysis["sentiment"]["score"] < 0
    assert analysis["intent"] == "complaint"
    assert analysis["tier"] == "quality"


def read_mention(client: httpx.Client, tenant: Tenant, mention_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_optional_fields_may_be_left_out(client: httpx.Client, tenant: Tenant) -> None:
    body = mention_payload(author={"handle": "minimal"})
    del body["url"]

    response = client.post("/v1/mentions", json=body, headers=tenant.headers)

    assert response.status_code == 202, response.text
    mention = client.get(f"/v1/mentions/{response.json()['id']}", headers=tenant.headers).json()
    assert mention["url"] is None
    assert mention["in_reply_to"] is None
    assert mention["author"] == {
        "handle": "minimal",
        "display_name": None,
        "followers": None,
        "verified": False,
        "influence": 0.0,
    }


def test_text_of_exactly_10000_characters_is_accepted(client: httpx.Client, tenant: Tenant) -> None:
    text = ("thanks " * 1500)[:10_000]

    _, mention_id = post_mention(client, tenant, text=text)

    assert client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["text"] == text


def test_repeated_post_is_a_duplicate_with_the_same_id(client: httpx.Client, tenant: Tenant) -> None:
    body, mention_id = post_mention(client, tenant)

    again = client.post("/v1/mentions", json=body, headers=tenant.headers)
    # A redelivery from the platform may differ in details; (platform, external_id) identifies the post.
    changed = client.post("/v1/mentions", json={**body, "text": "edited text"}, headers=tenant.headers)

    assert again.status_code == 202, again.text
    assert again.json() == {"id": mention_id, "status": "duplicate"}
    assert changed.json() == {"id": mention_id, "status": "duplicate"}
    items = list_mentions(client, tenant)["items"]
    assert [m["id"] for m in items] == [mention_id]
    assert items[0]["text"] == body["text"]


def test_same_external_id_on_another_platform_is_another_mention(
    client: httpx.Client, tenant: Tenant
) -> None:
    body, first = post_mention(client, tenant, platform="x")

    _, second = post_mention(client, tenant, platform="instagram", external_id=body["external_id"])

    assert second != first
    assert len(list_mentions(client, tenant)["items"]) == 2


def test_same_post_in_another_tenant_is_not_a_duplicate(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    body, first = post_mention(client, tenant)

    response = client.post("/v1/mentions", json=body, headers=other_tenant.headers)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["id"] != first


def test_concurrent_repeats_store_the_post_once(client: httpx.Client, tenant: Tenant) -> None:
    body = mention_payload()

    def post(_: int) -> dict[str, str]:
        response = client.post("/v1/mentions", json=body, headers=tenant.headers)
        assert response.status_code == 202, response.text
        result: dict[str, str] = response.json()
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(8)))

    assert len({r["id"] for r in results}) == 1
    assert sorted(r["status"] for r in results) == ["accepted"] + ["duplicate"] * 7
    assert len(list_mentions(client, tenant)["items"]) == 1


def test_influence_grows_with_audience_verification_and_engagement(
    client: httpx.Client, tenant: Tenant
) -> None:
    _, small = post_mention(client, tenant, author={"handle": "@small", "followers": 50})
    _, big = post_mention(
        client,
        tenant,
        author={"handle": "@big", "followers": 2_000_000, "verified": True},
        engagement={"likes": 900, "reposts": 300, "replies": 40},
    )
    small_influence = analysed(client, tenant, small)["author"]["influence"]
    big_influence = analysed(client, tenant, big)["author"]["influence"]
    assert 0 < small_influence < 20 < 70 < big_influence <= 100
