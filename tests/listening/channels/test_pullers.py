"""Pull connectors in the running service: a Mastodon channel polls a local server replaying statuses."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, wait_until
from tests.listening.channels.helpers import FakeMastodon, FakeMastodonStream, create_channel, fixture_json
from tests.listening.channels.helpers import read_channel as channel


def mentions_of(client: httpx.Client, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/mentions", headers=tenant.headers, params={"platform": "mastodon", "limit": 100}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def instance_ids(client: httpx.Client, tenant: Tenant) -> list[str]:
    return sorted(m["external_id"] for m in mentions_of(client, tenant))


def test_mastodon_channel_ingests_and_resumes_from_its_cursor_after_a_restart(
    client: httpx.Client, tenant: Tenant, mastodon: FakeMastodon, stack: Stack
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="#kettle on our server",
        settings={"base_url": mastodon.url, "hashtag": "kettle", "poll_interval_s": 1},
    )
    statuses = fixture_json("mastodon/timeline_tag.json")
    # Every status of the timeline (the boost too: it spreads the post) becomes one mention.
    expected = len(statuses)

    def all_stored() -> list[str] | None:
        ids = instance_ids(client, tenant)
        return ids if len(ids) >= expected else None

    ids = wait_until(all_stored, timeout=30)
    assert len(ids) == expected
    instance = mastodon.url.split("://", 1)[1]
    assert all(i.startswith(f"{instance}:") for i in ids)
    status = wait_until(lambda: (c := channel(client, tenant, created["id"])["status"])["cursor"] and c)
    newest = max(statuses, key=lambda s: int(s["id"]))["id"]
    assert status["cursor"] == newest and status["running"] and status["last_success_at"]
    assert status["failures"] == 0 and status["ingested"] == expected

    stack.stop("listening")
    served_before = len(mastodon.requests)
    extra = copy.deepcopy(statuses[0])
    extra["id"] = str(int(newest) + 1000)
    extra["uri"] = extra["uri"] + "-later"
    extra["url"] = extra["url"] + "-later"
    extra["content"] = "<p>Ny vattenkokare kom idag, älskar den! #kettle</p>"
    mastodon.add(extra)
    stack.start("listening")

    wait_until(lambda: f"{instance}:{extra['id']}" in instance_ids(client, tenant), timeout=30)
    # The restarted puller asked for what came after the saved cursor, never the whole timeline again.
    assert mastodon.min_ids()[served_before] == newest
    assert None not in mastodon.min_ids()[served_before:]
    assert len(instance_ids(client, tenant)) == expected + 1
    after = wait_until(
        lambda: (c := channel(client, tenant, created["id"])["status"])["cursor"] == extra["id"] and c
    )
    assert after["ingested"] == expected + 1


def test_unreachable_server_is_shown_in_the_status_and_deleting_stops_the_puller(
    client: httpx.Client, tenant: Tenant
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="down",
        settings={"base_url": "http://127.0.0.1:9", "hashtag": "kettle", "poll_interval_s": 1},
    )
    status = wait_until(
        lambda: (c := channel(client, tenant, created["id"])["status"])["failures"] >= 1 and c
    )
    assert status["last_error"] and status["last_error_at"] and status["running"]
    assert status["last_success_at"] is None
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 404


def _stream(event: str, payload: dict[str, Any] | str) -> dict[str, Any]:
    """A message of Mastodon's streaming API on the #kettle stream."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return {"stream": ["hashtag", "kettle"], "event": event, "payload": body}


def test_streamed_mastodon_channel_catches_up_then_follows_posts_edits_and_deletes_live(
    client: httpx.Client, tenant: Tenant, mastodon: FakeMastodon, mastodon_stream: FakeMastodonStream
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="#kettle, live",
        settings={"base_url": mastodon.url, "hashtag": "kettle", "streaming": True},
        credentials={"access_token": "mastodon-token-5c1e"},
    )
    statuses = fixture_json("mastodon/timeline_tag.json")
    instance = mastodon.url.split("://", 1)[1]
    # The socket is opened first (nothing posted during the catch-up is missed), then REST catches up.
    wait_until(lambda: len(instance_ids(client, tenant)) == len(statuses), timeout=30, what="the catch-up")
    wait_until(lambda: mastodon_stream.open_sockets() == 1, what="the stream")
    assert mastodon_stream.handshakes[0] == {"stream": ["hashtag"], "tag": ["kettle"]}
    assert mastodon_stream.headers[0]["authorization"] == "Bearer mastodon-token-5c1e"

    # Live: a new post, an edit of an older one, and a delete (which polling never sees).
    newest = max(statuses, key=lambda s: int(s["id"]))
    live = copy.deepcopy(newest)
    live["id"] = str(int(newest["id"]) + 500)
    live["uri"] += "-live"
    live["url"] += "-live"
    live["content"] = "<p>Just unboxed the new #kettle, lovely!</p>"
    edited = copy.deepcopy(statuses[1])
    edited["content"] = "<p>Edited: the lid is fine after all #kettle</p>"
    edited["edited_at"] = "2025-03-10T18:00:00.000Z"
    gone = statuses[3]["id"]
    mastodon_stream.push(_stream("update", live), _stream("status.update", edited), _stream("delete", gone))

    def applied() -> dict[str, dict[str, Any]] | None:
        found = {m["external_id"]: m for m in mentions_of(client, tenant)}
        ok = (
            f"{instance}:{live['id']}" in found
            and found[f"{instance}:{gone}"]["redaction_reason"] == "deleted"
            and found[f"{instance}:{edited['id']}"]["edited_at"]
        )
        return found if ok else None

    found = wait_until(applied, timeout=30, what="the live post, the edit and the delete")
    assert found[f"{instance}:{gone}"]["text"] == ""
    assert "Edited: the lid is fine after all" in found[f"{instance}:{edited['id']}"]["text"]
    status = wait_until(
        lambda: (c := channel(client, tenant, created["id"])["status"])["cursor"] == live["id"] and c
    )
    assert status["ingested"] == len(statuses) + 1

    # The stream breaks: the puller catches up over REST from the live post's id, then streams again.
    polls = len(mastodon.requests)
    mastodon_stream.drop()
    wait_until(
        lambda: len(mastodon_stream.handshakes) == 2 and mastodon_stream.open_sockets() == 1,
        what="a new stream",
    )
    wait_until(lambda: len(mastodon.requests) > polls, what="a catch-up after the break")
    assert mastodon.min_ids()[polls] == live["id"]
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204
    wait_until(lambda: mastodon_stream.open_sockets() == 0, what="the stream closed with the channel")
