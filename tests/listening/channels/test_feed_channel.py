"""RSS and Atom channels in the running service, polling a local web server that publishes recorded feeds."""

from __future__ import annotations

from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, assert_problem, wait_until
from tests.listening.channels.helpers import (
    FakeFeeds,
    FeedDocument,
    all_analysed,
    create_channel,
    fixture_bytes,
    platform_mentions,
    read_channel,
)

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
MODIFIED = "Mon, 10 Mar 2025 16:00:00 GMT"
NEW_ITEM = b"""    <item>
      <title>Kettle &amp; Co recalls the Classic lid</title>
      <link>https://kitchengear.example/news/kettle-and-co-recall</link>
      <guid isPermaLink="true">https://kitchengear.example/news/kettle-and-co-recall</guid>
      <pubDate>Tue, 11 Mar 2025 08:00:00 +0000</pubDate>
      <description>Owners can ask for a free replacement lid.</description>
    </item>
  </channel>"""


def feed_channel(client: httpx.Client, tenant: Tenant, url: str) -> dict[str, Any]:
    return create_channel(
        client, tenant, platform="rss", name="Kitchen blog", settings={"url": url, "poll_interval_s": 1}
    )


def external_ids(client: httpx.Client, tenant: Tenant) -> list[str]:
    ids = [m["external_id"] for m in platform_mentions(client, tenant, "rss")]
    assert len(ids) == len(set(ids)), "an item was stored twice"
    return sorted(ids)


def test_rss_items_arrive_analysed_and_conditional_polls_and_a_restart_reingest_nothing(
    client: httpx.Client, tenant: Tenant, feeds: FakeFeeds, stack: Stack
) -> None:
    feeds.publish("/feed.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', MODIFIED))
    created = feed_channel(client, tenant, feeds.url("/feed.xml"))

    items = all_analysed(client, tenant, "rss", 3)
    by_id = {m["external_id"]: m for m in items}
    review = by_id["https://kitchengear.example/reviews/kettle-and-co-classic"]
    assert review["text"].startswith("Kettle & Co Classic review")
    assert review["author"]["handle"] == "Priya Natarajan"
    # A relative link is resolved against the feed's own address, as feed readers do.
    assert by_id["kitchengear-roundup-2025-03-07"]["url"] == feeds.url("/roundups/kettles-under-50")
    status = wait_until(
        lambda: (s := read_channel(client, tenant, created["id"])["status"])["cursor"] and s,
        what="the saved validators",
    )
    assert status["cursor"] == {"etag": '"v1"', "last_modified": MODIFIED}
    assert status["ingested"] == 3 and status["running"]

    # Later polls ask "changed since v1?" and get 304 Not Modified.
    wait_until(lambda: sum(r["status"] == 304 for r in feeds.seen("/feed.xml")) >= 2, what="304 answers")
    assert all(r["if_none_match"] == '"v1"' for r in feeds.seen("/feed.xml")[1:])

    stack.stop("listening")
    before = len(feeds.seen("/feed.xml"))
    stack.start("listening")
    wait_until(lambda: len(feeds.seen("/feed.xml")) > before, timeout=30, what="a poll after the restart")
    # The restarted puller still knows the feed's validators (its cursor was stored).
    first = feeds.seen("/feed.xml")[before]
    assert first["if_none_match"] == '"v1"' and first["if_modified_since"] == MODIFIED
    assert first["status"] == 304

    # The blog publishes a new item: only it is added.
    body = fixture_bytes("feeds/rss2.xml").replace(b"  </channel>", NEW_ITEM)
    feeds.publish("/feed.xml", FeedDocument(body, RSS, '"v2"', "Tue, 11 Mar 2025 08:00:00 GMT"))
    all_analysed(client, tenant, "rss", 4)
    assert len(external_ids(client, tenant)) == 4
    wait_until(
        lambda: read_channel(client, tenant, created["id"])["status"]["cursor"]["etag"] == '"v2"',
        what="the new ETag",
    )
    assert read_channel(client, tenant, created["id"])["status"]["ingested"] == 4
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204


def test_atom_feed_without_validators_is_polled_whole_and_stored_once(
    client: httpx.Client, tenant: Tenant, feeds: FakeFeeds
) -> None:
    # No ETag, no Last-Modified, no conditional GETs: every poll returns the whole feed.
    feeds.publish("/atom.xml", FeedDocument(fixture_bytes("feeds/atom.xml"), ATOM, None, None, False))
    created = feed_channel(client, tenant, feeds.url("/atom.xml"))
    items = all_analysed(client, tenant, "rss", 2)
    shown = {m["external_id"]: m for m in items}
    entry = shown["tag:cuisinelente.example,2025-03-10:/2025/03/bouilloire-six-mois"]
    assert entry["text"].startswith("Ma bouilloire Kettle & Co, six mois après")
    assert entry["url"] == "https://cuisinelente.example/2025/03/bouilloire-six-mois"
    assert entry["analysis"]["language"] == "fr"
    wait_until(lambda: len(feeds.seen("/atom.xml")) >= 4, what="several full polls")
    assert {r["status"] for r in feeds.seen("/atom.xml")} == {200}
    assert len(external_ids(client, tenant)) == 2
    assert read_channel(client, tenant, created["id"])["status"]["ingested"] == 2
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204


def test_feed_server_errors_back_off_are_shown_and_polling_recovers(
    client: httpx.Client, tenant: Tenant, feeds: FakeFeeds, stack: Stack
) -> None:
    feeds.publish("/feed.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', MODIFIED))
    feeds.fail_next = 3  # the blog is down when the channel is connected
    created = feed_channel(client, tenant, feeds.url("/feed.xml"))
    failing = wait_until(
        lambda: (s := read_channel(client, tenant, created["id"])["status"])["failures"] >= 2 and s,
        timeout=30,
        what="failures in the status",
    )
    assert failing["last_error"] == "HTTPFailure 500" and failing["running"]
    assert platform_mentions(client, tenant, "rss") == []

    all_analysed(client, tenant, "rss", 3)
    status = wait_until(
        lambda: (s := read_channel(client, tenant, created["id"])["status"])["failures"] == 0 and s,
        what="a healthy status",
    )
    assert status["last_success_at"] > status["last_error_at"] and status["ingested"] == 3
    served = feeds.seen("/feed.xml")
    assert [r["status"] for r in served[:4]] == [500, 500, 500, 200]
    assert stack.dead() == []
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204


def test_re_pointed_feed_channel_polls_the_new_feed_from_its_beginning(
    client: httpx.Client, tenant: Tenant, feeds: FakeFeeds
) -> None:
    feeds.publish("/old.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', MODIFIED))
    feeds.publish("/new.xml", FeedDocument(fixture_bytes("feeds/atom.xml"), ATOM, '"a1"', MODIFIED))
    created = feed_channel(client, tenant, feeds.url("/old.xml"))
    all_analysed(client, tenant, "rss", 3)
    wait_until(lambda: read_channel(client, tenant, created["id"])["status"]["cursor"], what="a saved cursor")
    url = f"/v1/channels/{created['id']}"

    unsafe = {"settings": {"url": "file:///etc/passwd"}}
    assert_problem(client.patch(url, json=unsafe, headers=tenant.headers), 422)
    assert read_channel(client, tenant, created["id"])["settings"]["url"] == feeds.url("/old.xml")

    change = {"settings": {"url": feeds.url("/new.xml"), "poll_interval_s": 1}}
    response = client.patch(url, json=change, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["url"] == feeds.url("/new.xml")
    old_polls = len(feeds.seen("/old.xml"))

    all_analysed(client, tenant, "rss", 5)
    # The new feed is asked for whole: the old feed's validators are not sent to it.
    first = feeds.seen("/new.xml")[0]
    assert first["if_none_match"] is None and first["status"] == 200
    status = wait_until(
        lambda: (
            (s := read_channel(client, tenant, created["id"])["status"])["cursor"]["etag"] == '"a1"' and s
        ),
        what="the new feed's validators",
    )
    assert status["running"] and status["ingested"] == 5
    wait_until(lambda: len(feeds.seen("/new.xml")) >= 3, what="more polls of the new feed")
    assert len(feeds.seen("/old.xml")) <= old_polls + 1  # at most a poll already under way
    assert len(external_ids(client, tenant)) == 5
    assert client.delete(url, headers=tenant.headers).status_code == 204
