"""listening's query tasks across a crash and over time: a backfill killed half-way resumes without
counting twice, and the periodic spike check raises a spike that no new mention checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, find_event, wait_until
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import backfilled, create_query, read_query, totals, volume

# A slow backfill (5 posts a batch, a pause between batches) and a spike check every second.
TASK_ENV = {
    "RAPPORT_QUERY_BACKFILL_BATCH": "5",
    "RAPPORT_QUERY_BACKFILL_PAUSE_S": "0.25",
    "RAPPORT_SPIKE_CHECK_INTERVAL_S": "1",
}


@pytest.fixture(scope="module")
def tasks_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with listening restarted under TASK_ENV (and restored afterwards)."""
    proc = stack.procs["listening"]
    saved = dict(proc.env)
    stack.stop("listening")
    proc.env.update(TASK_ENV)
    stack.start("listening")
    try:
        yield stack
    finally:
        stack.stop("listening")
        proc.env = saved
        stack.start("listening")


def _ids(client: httpx.Client, tenant: Tenant, query_id: str) -> set[str]:
    return {m["id"] for m in list_mentions(client, tenant, query_id=query_id, limit=200)["items"]}


def test_a_backfill_killed_half_way_resumes_without_counting_twice(
    client: httpx.Client, tasks_stack: Stack, tenant: Tenant
) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    matching, ids = [], []
    for i in range(40):
        text = f"Krellbo blender number {i} is noisy" if i % 8 < 5 else f"Unrelated post number {i}"
        created_at = (start + timedelta(minutes=37 * i)).isoformat()
        _, mention_id = post_mention(client, tenant, text=text, created_at=created_at)
        ids.append(mention_id)
        if "Krellbo" in text:
            matching.append(mention_id)
    negatives = sum(
        analysed(client, tenant, i)["analysis"]["sentiment"]["label"] == "negative" for i in matching
    )

    query = create_query(client, tenant, "krellbo")
    first = wait_until(
        lambda: (b := read_query(client, tenant, query["id"])["backfill"]) and b["scanned"] >= 5 and b,
        what="the backfill's first batch",
    )
    assert first["status"] == "running" and first["scanned"] < 40
    tasks_stack.stop("listening", kill=True)
    tasks_stack.start("listening")

    progress = backfilled(client, tenant, query["id"], timeout=60)
    assert (progress["scanned"], progress["matched"]) == (40, 25)
    assert _ids(client, tenant, query["id"]) == set(matching)
    assert totals(volume(client, tenant, query["id"])) == (25, negatives)


def test_the_periodic_check_raises_a_negative_share_spike_formed_by_corrections(
    client: httpx.Client, tasks_stack: Stack, tenant: Tenant
) -> None:
    query = create_query(client, tenant, "glorbix")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    posted = {}
    for h in range(6, -1, -1):  # 5 posts in each of the previous six hours, 10 in this one
        for i in range(10 if h == 0 else 5):
            created_at = (hour - timedelta(hours=h) + timedelta(seconds=1 + i)).isoformat()
            text = f"Glorbix tea number {h}-{i} is lovely, thank you!"
            posted[post_mention(client, tenant, text=text, created_at=created_at)[1]] = h
    current = [mention_id for mention_id, h in posted.items() if h == 0]
    for mention_id in posted:
        assert analysed(client, tenant, mention_id)["analysis"]["sentiment"]["label"] != "negative"
    wait_until(lambda: totals(volume(client, tenant, query["id"])) == (40, 0), what="all 40 counted")

    def alerts() -> list[dict[str, object]]:
        response = client.get("/v1/listening/alerts", headers=tenant.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, object]] = response.json()["items"]
        return items

    assert alerts() == []  # neither the volume nor the (zero) negative share spiked

    for mention_id in current[:6]:  # agents find six of this hour's posts are complaints after all
        response = client.post(
            f"/v1/mentions/{mention_id}/labels", json={"sentiment": "negative"}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text

    [alert] = wait_until(alerts, timeout=30, what="the periodic check to raise the spike")
    assert alert["kind"] == "negative_share"
    assert alert["query_id"] == query["id"]
    # The periodic check may run between two corrections: a spike needs at least 5 negatives
    # (`min_negative`), so it starts at the fifth or the sixth, 0.5 or 0.6 of this hour's 10.
    assert alert["observed"] in (0.5, 0.6)
    assert datetime.fromisoformat(str(alert["bucket_start"])) == hour
    event = find_event(
        tasks_stack.nats_url, "listening.alert.raised", lambda e: e["data"]["alert_id"] == alert["id"]
    )
    assert event["tenantid"] == tenant.tenant_id
    assert event["data"]["kind"] == "negative_share"
