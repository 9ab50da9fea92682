"""Fixtures of the channel, webhook and puller tests: platform stand-ins on free ports (real stack)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.listening.channels.helpers import (
    GRAPH_APP_SECRET,
    GRAPH_TOKEN,
    FakeFeeds,
    FakeGraph,
    FakeJetstream,
    FakeMastodon,
    FakeMastodonStream,
    RecordingPlatform,
    fixture_json,
)


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon(fixture_json("mastodon/timeline_tag.json"))
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def mastodon_stream(mastodon: FakeMastodon) -> Iterator[FakeMastodonStream]:
    """The streaming API of the `mastodon` stand-in, which names it in `/api/v2/instance`."""
    server = FakeMastodonStream()
    mastodon.streaming_url = server.url
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def jetstream() -> Iterator[FakeJetstream]:
    server = FakeJetstream([])
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def feeds() -> Iterator[FakeFeeds]:
    server = FakeFeeds()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph(token=GRAPH_TOKEN, app_secret=GRAPH_APP_SECRET)
    comment = fixture_json("meta/instagram_mentioned_comment.json")
    media = fixture_json("meta/instagram_mentioned_media.json")
    server.objects[comment["mentioned_comment"]["id"]] = comment
    server.objects[media["mentioned_media"]["id"]] = media
    server.thread.start()
    try:
        yield server
    finally:
        server.release()
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def platform() -> Iterator[RecordingPlatform]:
    """A platform API stand-in that records the replies sent to it."""
    server = RecordingPlatform()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
