"""Mastodon REST statuses, notifications and streaming messages, parsed from the recorded shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.listening.channels.connectors import (
    PayloadError,
    parse_notifications,
    parse_status,
    parse_statuses,
    parse_streaming_event,
)
from services.listening.channels.connectors.mastodon import stream_cursor
from tests.listening.channels.connectors.payloads import load

HOST = "example.social"


def test_statuses_become_mentions_with_plain_text() -> None:
    result = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST)
    assert len(result.mentions) == 5
    first = result.mentions[0]
    assert first.platform == "mastodon"
    assert first.external_id == "example.social:114137782391120405"
    assert first.text == (
        "Köpte en vattenkokare från #KettleAndCo i går. Snygg, men den piper högt när den är klar & det går "
        "inte att stänga av."
    )
    assert first.created_at == datetime(2025, 3, 10, 15, 2, 11, tzinfo=UTC)
    assert first.author.handle == "karin_l@mastodon.nu"
    assert first.author.display_name == "Karin Lindqvist"
    assert first.author.followers == 312
    assert first.url == "https://mastodon.nu/@karin_l/114137782391120405"
    assert first.lang_hint == "sv"
    assert first.engagement is not None
    assert (first.engagement.likes, first.engagement.reposts) == (4, 1)


def test_links_come_out_whole_and_content_warnings_are_kept() -> None:
    cw = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST).mentions[1]
    assert cw.text.startswith("product complaint\n\n@kettleandco the handle on mine came loose")
    assert "https://kettleandco.example/warranty/claim-form-2025" in cw.text
    assert cw.in_reply_to == "example.social:114137701122334455"
    assert cw.author.handle == "tomas@example.social"  # a local account, qualified with the instance


def test_a_boost_is_the_boosters_post_with_the_boosted_text() -> None:
    boost = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST).mentions[2]
    assert boost.external_id == "example.social:114137744455566677"
    assert boost.reposted_id == "example.social:114137700000000001"
    assert boost.author.handle == "cooknerd@example.social"
    assert boost.text == "Der neue Wasserkocher von #KettleAndCo ist erstaunlich leise. Klare Empfehlung!"
    assert boost.url == "https://chaos.social/@mia/114137700000000001"


def test_notifications_keep_only_mentions_and_direct_ones_are_messages() -> None:
    result = parse_notifications(load("mastodon/notifications.json"), instance=HOST)
    (mention,) = result.mentions
    assert mention.kind == "message"
    assert mention.text == "@kettleandco sent you my order number privately: 7781"


def test_streaming_update_edit_and_delete_name_the_same_post() -> None:
    update, edit, delete = (
        parse_streaming_event(m, instance=HOST) for m in load("mastodon/streaming_messages.json")
    )
    (mention,) = update.mentions
    (edited,) = edit.compliance
    (deleted,) = delete.compliance
    assert mention.external_id == edited.external_id == "example.social:114137782391120405"
    assert edited.kind == "edit"
    assert (
        edited.text
        == "Köpte en vattenkokare från #KettleAndCo i går. Snygg, och pipet går att stänga av i appen!"
    )
    assert edited.occurred_at == datetime(2025, 3, 10, 15, 20, tzinfo=UTC)
    assert (deleted.kind, deleted.external_id) == ("delete", "example.social:114137760012345678")
    # The timeline's copy of the deleted status has the same key, so the delete finds it.
    timeline = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST)
    assert deleted.external_id in {m.external_id for m in timeline.mentions}


def test_streaming_messages_arrive_as_text_frames_too() -> None:
    frame = json.dumps(load("mastodon/streaming_messages.json")[2])
    assert parse_streaming_event(frame, instance=HOST).compliance[0].kind == "delete"


def test_without_an_instance_ids_are_the_local_ids() -> None:
    status = load("mastodon/timeline_tag.json")[0]
    assert parse_status(status).external_id == "114137782391120405"


def test_a_replayed_page_parses_to_the_same_external_ids() -> None:
    first = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST)
    again = parse_statuses(load("mastodon/timeline_tag.json"), instance=HOST)
    assert [m.external_id for m in first.mentions] == [m.external_id for m in again.mentions]


def test_bad_statuses_are_skipped_and_bad_shapes_refused() -> None:
    statuses = load("mastodon/timeline_tag.json")
    statuses[0]["content"] = ""
    statuses[1]["account"] = None
    result = parse_statuses(statuses, instance=HOST)
    assert (len(result.mentions), result.skipped) == (3, 2)
    with pytest.raises(PayloadError):
        parse_statuses({"error": "Record not found"})
    with pytest.raises(PayloadError):
        parse_streaming_event({"stream": ["public"]})
    assert parse_streaming_event({"event": "update", "payload": "{broken"}).skipped == 1


def test_the_accounts_stream_brings_mentions_and_moves_the_cursor_to_the_notification() -> None:
    mention, favourite = load("mastodon/notifications.json")
    frames = [
        {"stream": ["user:notification"], "event": "notification", "payload": json.dumps(n)}
        for n in (mention, favourite)
    ]
    parsed = [parse_streaming_event(f, instance=HOST) for f in frames]
    assert [len(p.mentions) for p in parsed] == [1, 0]  # a favourite is not a mention
    assert parsed[0].mentions[0].external_id == f"{HOST}:{mention['status']['id']}"
    assert [stream_cursor(f) for f in frames] == ["34975861", "34975855"]
    edits_and_deletes = load("mastodon/streaming_messages.json")[1:]
    assert {stream_cursor(m) for m in edits_and_deletes} == {None}  # only new items move the cursor
    assert stream_cursor(load("mastodon/streaming_messages.json")[0]) == "114137782391120405"
