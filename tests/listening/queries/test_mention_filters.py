"""Mentions are matched against listening queries; `GET /v1/mentions` filters by query and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers import Tenant, assert_problem, wait_until
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import backfilled, create_query


def _ids(client: httpx.Client, tenant: Tenant, **params: object) -> list[str]:
    return [m["id"] for m in list_mentions(client, tenant, **params)["items"]]


def test_mentions_are_filtered_by_the_queries_they_match(client: httpx.Client, tenant: Tenant) -> None:
    late = create_query(client, tenant, "acme AND (late OR delay*)")
    rival = create_query(client, tenant, "globex", kind="competitor")
    german = create_query(client, tenant, "acme", kind="topic", languages=["de"])
    _, both = post_mention(client, tenant, text="Acme parcel is LATE again, switching to Globex")
    _, only_late = post_mention(client, tenant, text="Acme shipments delayed for the third week")
    _, neither = post_mention(client, tenant, text="Lovely weather in Lisbon today")
    for mention_id in (both, only_late, neither):
        analysed(client, tenant, mention_id)

    assert sorted(_ids(client, tenant, query_id=late["id"])) == sorted([both, only_late])
    assert _ids(client, tenant, query_id=rival["id"]) == [both]
    assert _ids(client, tenant, query_id=german["id"]) == []  # English posts, German-only query
    read = client.get(f"/v1/mentions/{both}", headers=tenant.headers).json()
    assert sorted(read["matched_query_ids"]) == sorted([late["id"], rival["id"]])
    listed = {m["id"]: m for m in list_mentions(client, tenant)["items"]}
    assert listed[neither]["matched_query_ids"] == []
    assert listed[only_late]["matched_query_ids"] == [late["id"]]


def test_a_changed_query_applies_to_old_and_new_mentions(client: httpx.Client, tenant: Tenant) -> None:
    query = create_query(client, tenant, "initech")
    _, before = post_mention(client, tenant, text="Initech printers jam constantly")
    analysed(client, tenant, before)
    assert _ids(client, tenant, query_id=query["id"]) == [before]
    response = client.patch(
        f"/v1/listening/queries/{query['id']}", headers=tenant.headers, json={"expression": "umbrella"}
    )
    assert response.status_code == 200, response.text
    _, old_words = post_mention(client, tenant, text="Initech again, printers jam")
    _, new_words = post_mention(client, tenant, text="Umbrella corp staff were very helpful")
    analysed(client, tenant, old_words)
    analysed(client, tenant, new_words)
    backfilled(client, tenant, query["id"])
    # The re-worded query's backfill took the old post out: it no longer matches.
    assert _ids(client, tenant, query_id=query["id"]) == [new_words]

    assert client.delete(f"/v1/listening/queries/{query['id']}", headers=tenant.headers).status_code == 204
    _, after_delete = post_mention(client, tenant, text="Umbrella corp answered quickly")
    assert analysed(client, tenant, after_delete)["matched_query_ids"] == []


def test_query_filter_pages_and_combines_with_other_filters(client: httpx.Client, tenant: Tenant) -> None:
    query = create_query(client, tenant, "hooli")
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ids = []
    for i in range(5):
        created_at = (start + timedelta(minutes=i)).isoformat()
        ids.append(
            post_mention(client, tenant, text=f"Hooli phone number {i} works", created_at=created_at)[1]
        )
    post_mention(client, tenant, text="Hooli on mastodon", platform="mastodon", created_at=start.isoformat())
    wait_until(lambda: len(_ids(client, tenant, query_id=query["id"])) == 6, what="six matches", timeout=30)

    pages, cursor = [], None
    while True:
        params = {
            "query_id": query["id"],
            "platform": "x",
            "limit": 2,
            **({"cursor": cursor} if cursor else {}),
        }
        page = list_mentions(client, tenant, **params)
        pages.append([m["id"] for m in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]

    window = _ids(
        client,
        tenant,
        query_id=query["id"],
        since=(start + timedelta(minutes=1)).isoformat(),
        until=(start + timedelta(minutes=3)).isoformat(),
    )
    assert window == [ids[2], ids[1]]
    assert _ids(client, tenant, since=(start + timedelta(minutes=4)).isoformat()) == [ids[4]]


def test_other_tenants_query_id_finds_nothing(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    query = create_query(client, tenant, "vandelay")
    _, mention_id = post_mention(client, tenant, text="Vandelay Industries imports latex")
    analysed(client, tenant, mention_id)
    assert _ids(client, tenant, query_id=query["id"]) == [mention_id]
    assert _ids(client, other_tenant, query_id=query["id"]) == []


def test_bad_time_filters_are_422(client: httpx.Client, tenant: Tenant) -> None:
    assert_problem(client.get("/v1/mentions", headers=tenant.headers, params={"since": "yesterday"}), 422)
    # A time without an offset is ambiguous.
    assert_problem(
        client.get("/v1/mentions", headers=tenant.headers, params={"until": "2026-01-01T00:00:00"}), 422
    )
