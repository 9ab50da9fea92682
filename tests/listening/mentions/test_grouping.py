"""Reposts, quotes and near-copies of one text share a `group_id` (the first mention's id)."""

from __future__ import annotations

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, find_event, mention_payload
from tests.listening.helpers import analysed, list_mentions, post_analysed, post_mention

ORIGINAL = "Acme's new Falcon headphones drop next Tuesday at 9am with noise cancelling and 40 hour battery"


def test_reposts_and_near_copies_join_the_first_mentions_group(
    client: httpx.Client, stack: Stack, tenant: Tenant, other_tenant: Tenant
) -> None:
    _, first = post_mention(client, tenant, text=ORIGINAL)
    _, retweet = post_mention(client, tenant, text=f"RT @acme: {ORIGINAL} https://t.co/xyz")
    _, quoted = post_mention(
        client,
        tenant,
        text="acmes new falcon headphones drop next tuesday at 9am with noise cancelling "
        "and 40 hour battery 🔥🔥 cant wait",
    )
    _, unrelated = post_mention(
        client, tenant, text="Acme support fixed my router in five minutes, great job"
    )
    _, elsewhere = post_mention(client, other_tenant, text=ORIGINAL)

    reads = {i: analysed(client, tenant, i) for i in (first, retweet, quoted, unrelated)}
    assert reads[first]["group_id"] == first
    assert reads[retweet]["group_id"] == first
    assert reads[quoted]["group_id"] == first
    assert reads[unrelated]["group_id"] == unrelated
    # Groups never cross tenants.
    assert analysed(client, other_tenant, elsewhere)["group_id"] == elsewhere

    grouped = [m["id"] for m in list_mentions(client, tenant, group_id=first)["items"]]
    assert sorted(grouped) == sorted([first, retweet, quoted])
    assert list_mentions(client, other_tenant, group_id=first)["items"] == []

    event = find_event(
        stack.nats_url, "listening.mention.received", lambda e: e["data"]["mention_id"] == retweet
    )
    assert event["data"]["group_id"] == first


def _post_batch(client: httpx.Client, tenant: Tenant, texts: list[str]) -> list[str]:
    """Ingest the texts in one request (one commit, so one batch of the analysis worker); their ids."""
    response = client.post(
        "/v1/mentions/batch",
        headers=tenant.headers,
        json={"mentions": [mention_payload(text=text) for text in texts]},
    )
    assert response.status_code == 202, response.text
    return [item["id"] for item in response.json()["results"]]


def test_copies_arriving_together_join_the_first_ones_group(client: httpx.Client, tenant: Tenant) -> None:
    earlier = post_analysed(client, tenant, text=ORIGINAL)["id"]
    first, retweet, quoted, unrelated, again = _post_batch(
        client,
        tenant,
        [
            ORIGINAL,
            f"RT @acme: {ORIGINAL} https://t.co/xyz",
            "acmes new falcon headphones drop next tuesday at 9am with noise cancelling "
            "and 40 hour battery 🔥🔥 cant wait",
            "Acme support fixed my router in five minutes, great job",
            "Acme support fixed my router in five minutes, great job!!",
        ],
    )

    reads = {i: analysed(client, tenant, i) for i in (first, retweet, quoted, unrelated, again)}
    # The copy stored earlier is the group's first mention; the batch's copies join it.
    assert reads[first]["group_id"] == earlier
    assert reads[retweet]["group_id"] == reads[first]["group_id"]
    assert reads[quoted]["group_id"] == reads[first]["group_id"]
    # A text new to the tenant starts a group; its copy later in the same batch joins it.
    assert reads[unrelated]["group_id"] == unrelated
    assert reads[again]["group_id"] == unrelated
