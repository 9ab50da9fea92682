"""X Account Activity deliveries and compliance events, parsed from the recorded shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.listening.channels.connectors import PayloadError, parse_x
from tests.listening.channels.connectors.payloads import load

BRAND = "1489301274657820672"


def test_tweet_create_events_become_mentions() -> None:
    result = parse_x(load("x/tweet_create_events.json"))
    assert [m.external_id for m in result.mentions] == [
        "1899123456789012481",
        "1899124844424163329",
        "1899125927133417472",
        "1899128732745302016",
        "1899131586931474432",
    ]
    plain = result.mentions[0]
    assert plain.platform == "x"
    assert plain.kind == "post"
    assert plain.created_at == datetime(2025, 3, 10, 14, 20, 11, tzinfo=UTC)
    assert plain.url == "https://x.com/danawhit/status/1899123456789012481"
    assert (plain.author.handle, plain.author.id, plain.author.followers) == ("danawhit", "2244994945", 1834)
    assert plain.author.verified is False
    assert plain.engagement is not None
    assert (plain.engagement.likes, plain.engagement.reposts, plain.engagement.replies) == (7, 1, 2)
    assert plain.lang_hint == "en"
    assert plain.account_id == BRAND


def test_truncated_tweets_use_the_extended_full_text() -> None:
    extended = parse_x(load("x/tweet_create_events.json")).mentions[1]
    assert extended.text.endswith("eine Temperaturanzeige in Grad statt nur Stufen. #Küche")
    assert "…" not in extended.text
    assert extended.author.verified is True


def test_retweets_and_quotes_are_flagged() -> None:
    mentions = parse_x(load("x/tweet_create_events.json")).mentions
    retweet, quote = mentions[2], mentions[3]
    assert retweet.reposted_id == "1899124844424163329"
    assert retweet.author.handle == "kuechenfreund"
    assert retweet.text == mentions[1].text  # the reposted tweet's full text, not "RT @…: …"
    assert quote.quoted_id == "1899123456789012481"
    assert quote.reposted_id is None
    assert mentions[0].reposted_id is None and mentions[0].quoted_id is None


def test_replies_and_the_brands_own_tweets() -> None:
    reply = parse_x(load("x/tweet_create_events.json")).mentions[4]
    assert reply.in_reply_to == "1899123456789012481"
    assert reply.own
    assert not any(m.own for m in parse_x(load("x/tweet_create_events.json")).mentions[:4])


def test_an_edited_tweet_is_an_edit_of_the_first_version() -> None:
    result = parse_x(load("x/tweet_edit.json"))
    assert not result.mentions
    (edit,) = result.compliance
    assert edit.kind == "edit"
    assert edit.external_id == "1899123456789012481"
    assert edit.new_external_id == "1899126186827948033"
    assert edit.text is not None and edit.text.endswith("Update: they replied, thanks!")


def test_tweet_delete_events_are_deletes() -> None:
    (delete,) = parse_x(load("x/tweet_delete_events.json")).compliance
    assert (delete.kind, delete.external_id, delete.author_id) == (
        "delete",
        "1899128732745302016",
        "3301827364",
    )
    assert delete.occurred_at == datetime(2025, 3, 10, 15, 20, 0, 123000, tzinfo=UTC)


def test_direct_messages_become_message_mentions() -> None:
    (dm,) = parse_x(load("x/direct_message_events.json")).mentions
    assert dm.kind == "message"
    assert dm.external_id == "1899133000111222333"
    assert dm.author.handle == "danawhit"
    assert dm.author.followers == 1834
    assert dm.text == "Hi, order 5521, refund to the same card please."
    assert not dm.own


def test_compliance_firehose_events() -> None:
    result = parse_x(load("x/compliance_firehose.json"))
    assert [(c.kind, c.external_id, c.author_id) for c in result.compliance] == [
        ("delete", "1899124844424163329", "918273645546372819"),
        ("withheld", "1899123456789012481", "2244994945"),
        ("user_delete", None, "3301827364"),
    ]  # scrub_geo needs nothing: we store no geodata
    assert result.compliance[1].countries == ["DE", "FR"]


def test_compliance_stream_v2_events() -> None:
    result = parse_x(load("x/compliance_stream_v2.json"))
    delete, edit, withheld, user_delete = result.compliance  # undrop needs no action
    assert (delete.kind, delete.external_id) == ("delete", "1899124844424163329")
    assert delete.occurred_at == datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
    assert (edit.kind, edit.external_id, edit.new_external_id) == (
        "edit",
        "1899123456789012481",
        "1899126186827948033",
    )
    assert edit.text is None  # the new text arrives as its own tweet
    assert (withheld.kind, withheld.countries) == ("withheld", ["TR"])
    assert (user_delete.kind, user_delete.author_id) == ("user_delete", "3301827364")


def test_a_replayed_delivery_parses_to_the_same_external_ids() -> None:
    first = parse_x(load("x/tweet_create_events.json"))
    again = parse_x(load("x/tweet_create_events.json"))
    assert [m.external_id for m in first.mentions] == [m.external_id for m in again.mentions]


def test_a_tweet_without_text_or_author_is_skipped_and_the_rest_kept() -> None:
    payload = load("x/tweet_create_events.json")
    del payload["tweet_create_events"][0]["user"]
    payload["tweet_create_events"][1]["text"] = ""
    del payload["tweet_create_events"][1]["extended_tweet"]
    result = parse_x(payload)
    assert result.skipped == 2
    assert len(result.mentions) == 3


def test_unknown_shapes_are_payload_errors() -> None:
    with pytest.raises(PayloadError):
        parse_x({"hello": "world"})
    with pytest.raises(PayloadError):
        parse_x("tweet")
