"""Spike alerts: a burst over a quiet baseline raises one alert (and its event); a steady stream none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event, mention_payload, wait_until
from tests.listening.helpers import list_mentions, post_mention
from tests.listening.queries.helpers import create_query

ALERTS = "/v1/listening/alerts"


def _this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _post_hours(client: httpx.Client, tenant: Tenant, word: str, counts: dict[datetime, int]) -> int:
    """Post `count` mentions of `word` at the start of each hour; the number posted."""
    n = 0
    for hour, count in counts.items():
        for i in range(count):
            at = hour + timedelta(seconds=1 + i)
            post_mention(
                client, tenant, text=f"{word} store visit number {n} today", created_at=at.isoformat()
            )
            n += 1
    return n


def _matched(client: httpx.Client, tenant: Tenant, query_id: str, n: int) -> bool:
    found = 0
    cursor = None
    while True:
        params = {"query_id": query_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = list_mentions(client, tenant, **params)
        found += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found == n


def _alerts(client: httpx.Client, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = client.get(ALERTS, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_burst_over_a_quiet_baseline_raises_exactly_one_alert(
    client: httpx.Client, stack: Stack, tenant: Tenant, other_tenant: Tenant
) -> None:
    query = create_query(client, tenant, "zorblax")
    other = create_query(client, tenant, "quuxcorp")
    now = _this_hour()
    baseline = {now - timedelta(hours=h): 2 for h in range(12, 0, -1)}
    n = _post_hours(client, tenant, "Zorblax", baseline)
    wait_until(lambda: _matched(client, tenant, query["id"], n), what="baseline matched", timeout=60)
    assert _alerts(client, tenant) == []

    n += _post_hours(client, tenant, "Zorblax", {now: 14})
    wait_until(lambda: _matched(client, tenant, query["id"], n), what="burst matched", timeout=60)

    [alert] = _alerts(client, tenant)
    assert alert["query_id"] == query["id"]
    assert alert["kind"] == "volume"
    assert alert["baseline"] == 2.0
    assert alert["observed"] >= 10
    assert alert["score"] >= 3
    assert datetime.fromisoformat(alert["bucket_start"]) == now
    assert _alerts(client, tenant, query_id=query["id"]) == [alert]
    assert _alerts(client, tenant, query_id=other["id"]) == []
    assert _alerts(client, other_tenant) == []

    event = find_event(
        stack.nats_url, "listening.alert.raised", lambda e: e["data"]["alert_id"] == alert["id"]
    )
    assert event["tenantid"] == tenant.tenant_id
    assert event["data"]["query_id"] == query["id"]
    assert event["data"]["kind"] == "volume"

    # Acknowledged from the list: once, by whoever did it first; other tenants cannot see it.
    assert alert["acknowledged_at"] is None
    assert_problem(client.post(f"{ALERTS}/{alert['id']}/acknowledge", headers=other_tenant.headers), 404)
    done = client.post(f"{ALERTS}/{alert['id']}/acknowledge", headers=tenant.headers)
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == tenant.user_id
    assert done.json()["acknowledged_at"] is not None
    again = client.post(f"{ALERTS}/{alert['id']}/acknowledge", headers=tenant.headers)
    assert again.json()["acknowledged_at"] == done.json()["acknowledged_at"]
    assert _alerts(client, tenant) == [done.json()]


def test_burst_arriving_in_one_batch_raises_exactly_one_alert(client: httpx.Client, tenant: Tenant) -> None:
    query = create_query(client, tenant, "blorptastic")
    now = _this_hour()
    n = _post_hours(client, tenant, "Blorptastic", {now - timedelta(hours=h): 2 for h in range(12, 0, -1)})
    wait_until(lambda: _matched(client, tenant, query["id"], n), what="baseline matched", timeout=60)
    assert _alerts(client, tenant) == []

    # The burst in one request: one commit, analysed as one batch, whose counts cross the spike
    # threshold part-way through.
    burst = [
        mention_payload(
            text=f"Blorptastic store visit number {n + i} today",
            created_at=(now + timedelta(seconds=1 + i)).isoformat(),
        )
        for i in range(14)
    ]
    response = client.post("/v1/mentions/batch", headers=tenant.headers, json={"mentions": burst})
    assert response.status_code == 202, response.text
    wait_until(lambda: _matched(client, tenant, query["id"], n + 14), what="burst matched", timeout=60)

    [alert] = _alerts(client, tenant)
    assert alert["query_id"] == query["id"]
    assert alert["kind"] == "volume"
    assert alert["observed"] >= 10
    assert datetime.fromisoformat(alert["bucket_start"]) == now


def test_steady_stream_raises_no_alert(client: httpx.Client, tenant: Tenant) -> None:
    query = create_query(client, tenant, "flimflam")
    now = _this_hour()
    n = _post_hours(client, tenant, "Flimflam", {now - timedelta(hours=h): 10 for h in range(6, -1, -1)})
    wait_until(lambda: _matched(client, tenant, query["id"], n), what="stream matched", timeout=60)
    assert _alerts(client, tenant) == []


def test_alerts_auth(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(accounts, tenant, "agent")
    assert client.get(ALERTS, headers=agent.headers).status_code == 200
    assert_problem(client.get(ALERTS), 401)
    integration = add_user(accounts, tenant, "integration")
    assert_problem(client.get(ALERTS, headers=integration.headers), 403)
    assert_problem(client.get(ALERTS, headers=tenant.headers, params={"cursor": "not-a-cursor"}), 400)
