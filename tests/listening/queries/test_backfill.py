"""A new or re-worded listening query is matched against posts analysed before it (the last 30 days)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import Tenant, assert_problem
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import (
    backfilled,
    create_query,
    read_query,
    totals,
    volume,
)


def _ids(client: httpx.Client, tenant: Tenant, query_id: str) -> set[str]:
    return {m["id"] for m in list_mentions(client, tenant, query_id=query_id, limit=200)["items"]}


def _hours(mentions: list[dict[str, Any]]) -> dict[datetime, tuple[int, int]]:
    """The buckets these mentions should make: hour → (total, negative)."""
    total: Counter[datetime] = Counter()
    negative: Counter[datetime] = Counter()
    for m in mentions:
        hour = datetime.fromisoformat(m["created_at"]).replace(minute=0, second=0, microsecond=0)
        total[hour] += 1
        negative[hour] += m["analysis"]["sentiment"]["label"] == "negative"
    return {hour: (total[hour], negative[hour]) for hour in total}


def _post(client: httpx.Client, tenant: Tenant, text: str, hours_ago: float) -> dict[str, Any]:
    created_at = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    _, mention_id = post_mention(client, tenant, text=text, created_at=created_at)
    return analysed(client, tenant, mention_id)


def test_a_new_query_matches_the_posts_analysed_before_it(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    recent = [
        _post(client, tenant, "Zentrix kettle broke after two days, terrible", hours_ago=3),
        _post(client, tenant, "Loving my new Zentrix kettle, thank you!", hours_ago=50),
        _post(client, tenant, "Zentrix support answered in minutes", hours_ago=24 * 20),
    ]
    _post(client, tenant, "Nothing to see here, just the weather", hours_ago=5)
    too_old = _post(client, tenant, "Zentrix kettle from last season", hours_ago=24 * 40)
    _post(client, other_tenant, "Zentrix in another tenant", hours_ago=2)

    query = create_query(client, tenant, "zentrix")
    progress = backfilled(client, tenant, query["id"])

    assert (progress["scanned"], progress["matched"]) == (4, 3)  # the 30-day window, this tenant only
    assert progress["finished_at"] is not None
    assert _ids(client, tenant, query["id"]) == {m["id"] for m in recent}
    for m in recent:
        shown = client.get(f"/v1/mentions/{m['id']}", headers=tenant.headers).json()
        assert shown["matched_query_ids"] == [query["id"]]
    assert too_old["id"] not in _ids(client, tenant, query["id"])
    assert volume(client, tenant, query["id"]) == _hours(recent)

    # New posts are matched live, once: the backfill does not count them again.
    live = _post(client, tenant, "Zentrix kettle number two arrived", hours_ago=1)
    assert _ids(client, tenant, query["id"]) == {m["id"] for m in [*recent, live]}
    assert volume(client, tenant, query["id"]) == _hours([*recent, live])


def test_a_reworded_query_is_matched_again_old_matches_that_no_longer_match_leave(
    client: httpx.Client, tenant: Tenant
) -> None:
    kettle = _post(client, tenant, "Quorvo kettle leaks everywhere", hours_ago=2)
    toaster = _post(client, tenant, "Quorvo toaster burns the bread", hours_ago=30)
    query = create_query(client, tenant, "quorvo AND kettle")
    assert backfilled(client, tenant, query["id"])["matched"] == 1
    assert _ids(client, tenant, query["id"]) == {kettle["id"]}

    response = client.patch(
        f"/v1/listening/queries/{query['id']}",
        headers=tenant.headers,
        json={"expression": "quorvo AND toaster"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["backfill"]["status"] == "running"
    progress = backfilled(client, tenant, query["id"])
    assert (progress["scanned"], progress["matched"]) == (2, 1)
    assert _ids(client, tenant, query["id"]) == {toaster["id"]}
    assert volume(client, tenant, query["id"]) == _hours([toaster])

    # A rename does not start another pass.
    renamed = client.patch(f"/v1/listening/queries/{query['id']}", headers=tenant.headers, json={"name": "T"})
    assert renamed.json()["backfill"] == progress


def test_language_restricted_query_backfills_only_its_languages(client: httpx.Client, tenant: Tenant) -> None:
    english = _post(client, tenant, "The Vexlo blender is really good", hours_ago=1)
    assert english["analysis"]["language"] == "en"
    query = create_query(client, tenant, "vexlo", languages=["de"])
    assert backfilled(client, tenant, query["id"])["matched"] == 0
    client.patch(f"/v1/listening/queries/{query['id']}", headers=tenant.headers, json={"languages": []})
    assert backfilled(client, tenant, query["id"])["matched"] == 1
    assert _ids(client, tenant, query["id"]) == {english["id"]}
    assert totals(volume(client, tenant, query["id"])) == (1, 0)


def test_an_inactive_query_has_no_backfill_until_activated(client: httpx.Client, tenant: Tenant) -> None:
    mention = _post(client, tenant, "Plumbus prices went up again", hours_ago=1)
    query = create_query(client, tenant, "plumbus", active=False)
    assert query["backfill"] is None
    assert read_query(client, tenant, query["id"])["backfill"] is None
    assert _ids(client, tenant, query["id"]) == set()
    client.patch(f"/v1/listening/queries/{query['id']}", headers=tenant.headers, json={"active": True})
    assert backfilled(client, tenant, query["id"])["matched"] == 1
    assert _ids(client, tenant, query["id"]) == {mention["id"]}


def test_volume_is_the_tenants_own(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    query = create_query(client, tenant, "acme")
    url = f"/v1/listening/queries/{query['id']}/volume"
    assert client.get(url, headers=tenant.headers).json() == {"query_id": query["id"], "items": []}
    assert_problem(client.get(url, headers=other_tenant.headers), 404)
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=tenant.headers, params={"since": "2026-01-01T00:00:00"}), 422)
