"""Instagram @mentions arrive as ids only: the webhook is answered at once, the text is read from a local
Graph API afterwards (retried when it fails, kept across a restart), then ingested like any mention."""

from __future__ import annotations

import json
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, wait_until
from tests.listening.channels.helpers import (
    GRAPH_APP_SECRET,
    GRAPH_TOKEN,
    VERIFY_TOKEN,
    FakeGraph,
    all_analysed,
    create_channel,
    fixture_bytes,
    platform_mentions,
    post_meta,
    read_channel,
)

IG_USER = "17841405309211844"
COMMENT = "17894227972186120"
MEDIA = "17918195224117999"


def instagram_channel(client: httpx.Client, tenant: Tenant, graph: FakeGraph) -> dict[str, Any]:
    return create_channel(
        client,
        tenant,
        platform="meta",
        name="Kettle & Co on Instagram",
        credentials={
            "app_secret": GRAPH_APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "access_token": GRAPH_TOKEN,
        },
        settings={"graph_base_url": graph.base_url},
    )


def deliver(client: httpx.Client, channel_id: str, body: bytes) -> dict[str, Any]:
    response = post_meta(client, "meta", channel_id, body, secret=GRAPH_APP_SECRET)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def mention_webhook(*changes: dict[str, str]) -> bytes:
    """An Instagram `mentions` delivery naming these ids (Meta's shape: ids only)."""
    entry = {
        "id": IG_USER,
        "time": 1741615000,
        "changes": [{"field": "mentions", "value": v} for v in changes],
    }
    return json.dumps({"object": "instagram", "entry": [entry]}).encode()


def test_id_only_mentions_are_fetched_after_the_webhook_is_answered(
    client: httpx.Client, tenant: Tenant, graph: FakeGraph, stack: Stack
) -> None:
    created = instagram_channel(client, tenant, graph)
    assert created["credentials_set"] == ["access_token", "app_secret", "verify_token"]
    assert created["settings"]["graph_base_url"] == graph.base_url
    assert GRAPH_TOKEN not in json.dumps(created)

    graph.hold()  # the Graph API answers nothing until released
    result = deliver(client, created["id"], fixture_bytes("meta/instagram_mentions.json"))
    assert result["accepted"] == 0 and result["references"] == 2 and result["queued"] == 2
    # The webhook was answered while the reads it queued are still waiting on the Graph API.
    wait_until(lambda: graph.waiting >= 1, what="a read in flight")
    assert platform_mentions(client, tenant, "instagram") == []
    graph.release()

    items = {m["external_id"]: m for m in all_analysed(client, tenant, "instagram", 2)}
    comment, caption = items[COMMENT], items[MEDIA]
    assert comment["text"].startswith("@kettleandco the lid of my kettle cracked")
    assert comment["in_reply_to"] == "17918195224117851"
    assert caption["author"]["handle"] == "lena.brews"
    assert caption["url"] == "https://www.instagram.com/p/DG4jZ0aMfQx/"
    request = graph.served(COMMENT)[0]
    assert request["path"] == f"/v21.0/{IG_USER}" and request["authorization"] == f"Bearer {GRAPH_TOKEN}"
    assert request["query"]["fields"].startswith(f"mentioned_comment.comment_id({COMMENT})")
    assert "access_token" not in request["query"]
    assert read_channel(client, tenant, created["id"])["status"]["ingested"] == 2

    # Meta delivers again (it retries on any doubt): nothing is queued or read twice.
    again = deliver(client, created["id"], fixture_bytes("meta/instagram_mentions.json"))
    assert again["references"] == 2 and again["queued"] == 0
    assert len(graph.requests) == 2 and len(platform_mentions(client, tenant, "instagram")) == 2

    # The token is stored encrypted and never written to a log, nor is the signed request URL.
    logs = b"".join(p.read_bytes() for p in (stack.var_dir / "logs").glob("*.log"))
    assert GRAPH_TOKEN.encode() not in logs
    assert b"appsecret_proof" not in logs
    if "listening" not in stack.database_urls:
        stored = b"".join(p.read_bytes() for p in stack.var_dir.glob("listening.db*"))
        assert GRAPH_TOKEN.encode() not in stored


def test_failing_reads_are_retried_kept_across_a_restart_and_gone_objects_dropped(
    client: httpx.Client, tenant: Tenant, graph: FakeGraph, stack: Stack
) -> None:
    created = instagram_channel(client, tenant, graph)
    graph.failing[COMMENT] = 2  # two 500s, then the answer
    gone = "17894227972186999"  # deleted before we asked: Meta's code 100
    body = mention_webhook({"media_id": "17918195224117851", "comment_id": COMMENT}, {"comment_id": gone})
    assert deliver(client, created["id"], body)["queued"] == 2

    wait_until(
        lambda: COMMENT in {m["external_id"] for m in platform_mentions(client, tenant, "instagram")},
        timeout=60,
        what="the mention after two failed reads",
    )
    assert [r["status"] for r in graph.served(COMMENT)] == [500, 500, 200]
    status = read_channel(client, tenant, created["id"])["status"]
    assert status["last_error"] and status["last_error"].startswith("GraphError")
    assert [r["status"] for r in graph.served(gone)] == [400]  # not asked again

    # The Graph API is down when the next mention comes, and the service restarts meanwhile.
    graph.failing[MEDIA] = 1000
    assert deliver(client, created["id"], mention_webhook({"media_id": MEDIA}))["queued"] == 1
    wait_until(lambda: len(graph.served(MEDIA)) >= 1, what="a failed read")
    status = read_channel(client, tenant, created["id"])["status"]
    assert (status["fetches_pending"], status["fetches_given_up"]) == (1, 1)
    stack.stop("listening")
    graph.failing[MEDIA] = 0
    stack.start("listening")
    items = all_analysed(client, tenant, "instagram", 2)
    assert {m["external_id"] for m in items} == {COMMENT, MEDIA}
    assert graph.served(MEDIA)[-1]["status"] == 200
    assert [r["status"] for r in graph.served(gone)] == [400]
    status = read_channel(client, tenant, created["id"])["status"]
    assert (status["ingested"], status["fetches_pending"], status["fetches_given_up"]) == (2, 0, 1)


def test_without_an_access_token_id_only_mentions_are_counted_not_queued(
    client: httpx.Client, tenant: Tenant, graph: FakeGraph
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="meta",
        name="no token",
        credentials={"app_secret": GRAPH_APP_SECRET, "verify_token": VERIFY_TOKEN},
        settings={"graph_base_url": graph.base_url},
    )
    result = deliver(client, created["id"], fixture_bytes("meta/instagram_mentions.json"))
    assert result["references"] == 2 and result["queued"] == 0
    assert graph.requests == []
