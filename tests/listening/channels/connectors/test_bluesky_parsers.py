"""Bluesky Jetstream events, parsed from the recorded shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.listening.channels.connectors import ParseResult, PayloadError, parse_jetstream_event
from tests.listening.channels.connectors.payloads import load

NOOR = "did:plc:4uz2445cjiw7w4nobfgnu35f"
FIRST = f"at://{NOOR}/app.bsky.feed.post/3lk2wmhy3dk2c"


def _all(handles: dict[str, str] | None = None) -> list[ParseResult]:
    return [parse_jetstream_event(event, handles=handles) for event in load("bluesky/jetstream_events.json")]


def test_post_creates_become_mentions_and_likes_are_ignored() -> None:
    results = _all()
    mentions = [m for r in results for m in r.mentions]
    assert [m.external_id for m in mentions] == [
        FIRST,
        "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lk2wmq2v7s2d",
        "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lk2wnbzx4k2f",
    ]  # the like and the image-only post are not mentions
    first = mentions[0]
    assert first.platform == "bluesky"
    assert first.text == "Just unboxed my @kettleandco kettle and the lid is already cracked. Not impressed."
    assert first.created_at == datetime(2025, 3, 10, 15, 3, 31, 901000, tzinfo=UTC)
    assert first.url == f"https://bsky.app/profile/{NOOR}/post/3lk2wmhy3dk2c"
    assert first.lang_hint == "en"
    assert first.author.id == NOOR


def test_the_author_is_the_did_unless_an_identity_event_named_a_handle() -> None:
    without = [m for r in _all() for m in r.mentions]
    assert without[0].author.handle == NOOR
    handles: dict[str, str] = {}
    named = [m for r in _all(handles) for m in r.mentions]
    assert handles == {NOOR: "noor.bsky.social"}
    assert named[0].author.handle == "noor.bsky.social"
    assert named[1].author.handle == "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def test_replies_and_quotes_point_at_their_post() -> None:
    mentions = [m for r in _all() for m in r.mentions]
    assert mentions[1].in_reply_to == FIRST
    assert mentions[1].lang_hint == "tr"
    assert mentions[2].quoted_id == FIRST


def test_updates_deletes_and_account_deletion_are_compliance_events() -> None:
    compliance = [c for r in _all() for c in r.compliance]
    assert [(c.kind, c.external_id, c.author_id) for c in compliance] == [
        ("edit", FIRST, NOOR),
        (
            "delete",
            "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lk2wmq2v7s2d",
            "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        ),
        ("user_delete", None, "did:plc:z72i7hdynmk6r22z27h6tvur"),
    ]
    assert compliance[0].text == (
        "Just unboxed my @kettleandco kettle and the lid is cracked. Support replaced it within a day though!"
    )


def test_a_replay_parses_to_the_same_external_ids() -> None:
    assert [m.external_id for r in _all() for m in r.mentions] == [
        m.external_id for r in _all() for m in r.mentions
    ]


def test_non_events_are_refused() -> None:
    with pytest.raises(PayloadError):
        parse_jetstream_event({"did": NOOR})
    with pytest.raises(PayloadError):
        parse_jetstream_event([1, 2])
