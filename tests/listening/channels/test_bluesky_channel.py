"""A Bluesky channel in the running service, following a local Jetstream that replays recorded events."""

from __future__ import annotations

from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, wait_until
from tests.listening.channels.helpers import (
    FakeJetstream,
    all_analysed,
    create_channel,
    fixture_json,
    platform_mentions,
    read_channel,
)

EVENTS: list[dict[str, Any]] = fixture_json("bluesky/jetstream_events.json")
# identity, post, reply, like, quote, image-only post, edit, delete (of the reply), account deleted
IDENTITY, POST, REPLY, LIKE, QUOTE, IMAGE_ONLY, EDIT, DELETE, ACCOUNT_GONE = EVENTS


def uri(event: dict[str, Any]) -> str:
    return f"at://{event['did']}/app.bsky.feed.post/{event['commit']['rkey']}"


def bluesky_channel(client: httpx.Client, tenant: Tenant, jetstream: FakeJetstream) -> dict[str, Any]:
    return create_channel(
        client, tenant, platform="bluesky", name="Bluesky firehose", settings={"base_url": jetstream.url}
    )


def by_uri(client: httpx.Client, tenant: Tenant) -> dict[str, dict[str, Any]]:
    items = platform_mentions(client, tenant, "bluesky")
    found = {m["external_id"]: m for m in items}
    assert len(found) == len(items), "a post was stored twice"
    return found


def test_bluesky_posts_arrive_analysed_and_a_restart_resumes_from_the_saved_cursor(
    client: httpx.Client, tenant: Tenant, jetstream: FakeJetstream, stack: Stack
) -> None:
    jetstream.add(IDENTITY, POST, REPLY, LIKE, QUOTE)
    created = bluesky_channel(client, tenant, jetstream)

    items = all_analysed(client, tenant, "bluesky", 3)
    stored = by_uri(client, tenant)
    assert set(stored) == {uri(POST), uri(REPLY), uri(QUOTE)} and len(items) == 3  # the like is no post
    assert stored[uri(POST)]["author"]["handle"] == "noor.bsky.social"  # learned from the identity event
    assert stored[uri(REPLY)]["in_reply_to"] == uri(POST)
    assert stored[uri(REPLY)]["text"].startswith("Bende de ayn")
    assert jetstream.handshakes[0]["wantedCollections"] == ["app.bsky.feed.post"]
    status = wait_until(
        lambda: (
            (s := read_channel(client, tenant, created["id"])["status"])["cursor"] == QUOTE["time_us"] and s
        ),
        what="the cursor after the last event",
    )
    assert status["running"] and status["ingested"] == 3 and status["failures"] == 0

    stack.stop("listening")
    before = len(jetstream.handshakes)
    # While the service is down the author edits the first post and deletes the reply.
    jetstream.add(IMAGE_ONLY, EDIT, DELETE)
    stack.start("listening")

    def applied() -> dict[str, dict[str, Any]] | None:
        found = by_uri(client, tenant)
        done = found[uri(REPLY)]["redaction_reason"] and found[uri(POST)]["edited_at"]
        return found if done else None

    after = wait_until(applied, timeout=30, what="the edit and the delete")
    # The restarted puller asked Jetstream to replay from the saved cursor, never from scratch.
    assert jetstream.cursors()[before] == str(QUOTE["time_us"])
    assert None not in jetstream.cursors()[before:]
    # Jetstream replays the cursor's own event again: still one mention per post.
    assert set(after) == {uri(POST), uri(REPLY), uri(QUOTE)}
    reply = after[uri(REPLY)]
    assert reply["text"] == "" and reply["redaction_reason"] == "deleted" and reply["redacted_at"]
    assert "replaced it within a day" in after[uri(POST)]["text"]
    assert after[uri(QUOTE)]["text"].startswith("Ovo je")
    wait_until(
        lambda: read_channel(client, tenant, created["id"])["status"]["cursor"] == DELETE["time_us"],
        what="the cursor after the delete",
    )
    assert read_channel(client, tenant, created["id"])["status"]["ingested"] == 3

    # A live event on the open socket: the quoting account is deleted, its post is erased.
    jetstream.add(ACCOUNT_GONE)
    erased = wait_until(
        lambda: (m := by_uri(client, tenant)[uri(QUOTE)])["redaction_reason"] and m, what="the erasure"
    )
    assert erased["redaction_reason"] == "user_deleted"
    assert erased["text"] == "" and erased["author"]["handle"] == ""
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204


def test_bluesky_dropped_socket_and_failing_server_back_off_and_recover(
    client: httpx.Client, tenant: Tenant, jetstream: FakeJetstream, stack: Stack
) -> None:
    jetstream.add(IDENTITY, POST, REPLY)
    created = bluesky_channel(client, tenant, jetstream)
    all_analysed(client, tenant, "bluesky", 2)
    wait_until(
        lambda: read_channel(client, tenant, created["id"])["status"]["cursor"] == REPLY["time_us"],
        what="the saved cursor",
    )
    before = len(jetstream.handshakes)

    # Jetstream goes down: the socket is cut and the next two reconnections are answered 500.
    jetstream.fail_handshakes = 2
    jetstream.drop()
    wait_until(
        lambda: jetstream.rejected == 2 and jetstream.open_sockets() == 1, timeout=30, what="reconnect"
    )
    # Every reconnection asked for the saved cursor.
    assert jetstream.cursors()[before:] == [str(REPLY["time_us"])] * (len(jetstream.handshakes) - before)
    assert len(jetstream.handshakes) - before == 3

    jetstream.add(QUOTE)
    wait_until(lambda: uri(QUOTE) in by_uri(client, tenant), timeout=30, what="the post after recovery")
    status = wait_until(
        lambda: (
            (s := read_channel(client, tenant, created["id"])["status"])["failures"] == 0
            and s["cursor"] == QUOTE["time_us"]
            and s
        ),
        what="a healthy status",
    )
    assert status["running"] and status["last_error"] and status["last_error_at"]
    assert status["last_success_at"] > status["last_error_at"]
    assert status["ingested"] == 3 and len(by_uri(client, tenant)) == 3
    assert stack.dead() == []
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204
