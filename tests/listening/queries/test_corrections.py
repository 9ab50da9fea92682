"""A mention's query matches and hourly buckets follow its corrections: agent labels, platform edits and
deletions (listening consumes its own `listening.mention.reanalysed`, `.edited` and `.redacted`)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from services.listening.channels.connectors.signatures import x_signature
from tests.helpers import Tenant, wait_until
from tests.listening.channels.helpers import create_channel
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import create_query, totals, volume

X_SECRET = "x-consumer-secret-queries"


def _ids(client: httpx.Client, tenant: Tenant, query_id: str) -> set[str]:
    return {m["id"] for m in list_mentions(client, tenant, query_id=query_id, limit=200)["items"]}


def _label(client: httpx.Client, tenant: Tenant, mention_id: str, **label: str) -> None:
    response = client.post(f"/v1/mentions/{mention_id}/labels", json=label, headers=tenant.headers)
    assert response.status_code == 201, response.text


def _counts(client: httpx.Client, tenant: Tenant, query_id: str, expected: tuple[int, int]) -> None:
    wait_until(
        lambda: totals(volume(client, tenant, query_id)) == expected,
        what=f"the query's buckets to count (total, negative) = {expected}",
    )


def _x_channel(client: httpx.Client, tenant: Tenant) -> str:
    channel = create_channel(
        client, tenant, platform="x", name="X account", credentials={"consumer_secret": X_SECRET}
    )
    return str(channel["id"])


def _deliver(client: httpx.Client, channel_id: str, events: dict[str, Any]) -> dict[str, Any]:
    """A signed Account Activity delivery to the tenant's X channel; its answer."""
    body = json.dumps({"for_user_id": "1489301274657820672", **events}).encode()
    response = client.post(
        f"/v1/inbound/x/{channel_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "x-twitter-webhooks-signature": x_signature(body, X_SECRET),
        },
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _tweet(client: httpx.Client, tenant: Tenant, channel_id: str, text: str) -> tuple[str, str]:
    """A new tweet delivered through the X channel (compliance events act only on its own posts);
    its platform id and the stored mention's id."""
    external_id = uuid.uuid4().hex[:18]
    tweet = {
        "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id_str": external_id,
        "text": text,
        "user": {"id_str": "2244994945", "name": "Dana", "screen_name": "danawhit"},
        "lang": "en",
    }
    assert _deliver(client, channel_id, {"tweet_create_events": [tweet]})["accepted"] == 1

    def stored() -> str | None:
        items = list_mentions(client, tenant, platform="x", limit=200)["items"]
        return next((m["id"] for m in items if m["external_id"] == external_id), None)

    return external_id, wait_until(stored, what="the delivered tweet to be stored")


def _edit(client: httpx.Client, channel_id: str, external_id: str, text: str) -> None:
    tweet = {
        "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id_str": uuid.uuid4().hex[:18],
        "text": text,
        "edit_history": {"initial_tweet_id": external_id, "edit_tweet_ids": [external_id]},
        "user": {"id_str": "2244994945", "name": "Dana", "screen_name": "danawhit"},
        "lang": "en",
    }
    tweet["edit_history"]["edit_tweet_ids"].append(tweet["id_str"])  # type: ignore[index]
    assert _deliver(client, channel_id, {"tweet_create_events": [tweet]})["edited"] == 1


def _delete(client: httpx.Client, channel_id: str, external_id: str) -> None:
    events = {"tweet_delete_events": [{"status": {"id": external_id, "user_id": "2244994945"}}]}
    assert _deliver(client, channel_id, events)["redacted"] == 1


def test_label_corrections_move_the_negative_count_and_a_language_change_rematches(
    client: httpx.Client, tenant: Tenant
) -> None:
    query = create_query(client, tenant, "plonkit")
    german = create_query(client, tenant, "plonkit", languages=["de"])
    _, mention_id = post_mention(client, tenant, text="The Plonkit lamp is lovely, thank you!")
    mention = analysed(client, tenant, mention_id)
    assert mention["analysis"]["sentiment"]["label"] != "negative"
    assert mention["matched_query_ids"] == [query["id"]]
    assert totals(volume(client, tenant, query["id"])) == (1, 0)

    _label(client, tenant, mention_id, sentiment="negative")
    _counts(client, tenant, query["id"], (1, 1))
    _label(client, tenant, mention_id, sentiment="positive")
    _counts(client, tenant, query["id"], (1, 0))

    # An agent says it is German: the German-only query now matches it too (and counts it once).
    _label(client, tenant, mention_id, language="de", sentiment="negative")
    wait_until(lambda: _ids(client, tenant, german["id"]) == {mention_id}, what="the German query's match")
    _counts(client, tenant, german["id"], (1, 1))
    _counts(client, tenant, query["id"], (1, 1))
    shown = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
    assert sorted(shown["matched_query_ids"]) == sorted([query["id"], german["id"]])


def test_an_edited_post_that_no_longer_matches_leaves_the_query(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = _x_channel(client, tenant)
    query = create_query(client, tenant, "frobnik")
    other = create_query(client, tenant, "kettle")
    external_id, mention_id = _tweet(client, tenant, channel_id, "My Frobnik kettle broke. Terrible!")
    analysed(client, tenant, mention_id)
    assert _ids(client, tenant, query["id"]) == {mention_id}
    assert totals(volume(client, tenant, query["id"]))[0] == 1

    _edit(client, channel_id, external_id, "Sorry, wrong brand: my kettle works fine, thanks")
    wait_until(lambda: _ids(client, tenant, query["id"]) == set(), what="the edited post to leave the query")
    _counts(client, tenant, query["id"], (0, 0))
    assert _ids(client, tenant, other["id"]) == {mention_id}  # still a kettle post
    assert totals(volume(client, tenant, other["id"]))[0] == 1


def test_a_deleted_post_leaves_the_counts(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = _x_channel(client, tenant)
    query = create_query(client, tenant, "grumbleco")
    kept = _tweet(client, tenant, channel_id, "Grumbleco delivered on time")[1]
    external_id, gone = _tweet(client, tenant, channel_id, "Grumbleco order lost")
    analysed(client, tenant, kept)
    analysed(client, tenant, gone)
    _label(client, tenant, gone, sentiment="negative")
    _counts(client, tenant, query["id"], (2, 1))

    _delete(client, channel_id, external_id)
    _counts(client, tenant, query["id"], (1, 0))
    assert _ids(client, tenant, query["id"]) == {kept}
