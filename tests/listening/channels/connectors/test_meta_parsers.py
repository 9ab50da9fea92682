"""Meta (Facebook Page feed, Instagram, Messenger) and WhatsApp deliveries, from the recorded shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.listening.channels.connectors import PayloadError, parse_meta, parse_whatsapp
from services.listening.channels.connectors.text import load_json
from tests.listening.channels.connectors.payloads import load, raw

PAGE = "104857392001234"


def test_page_feed_posts_become_mentions_and_reactions_are_ignored() -> None:
    result = parse_meta(load("meta/page_feed_posts.json"))
    assert [m.external_id for m in result.mentions] == [
        "104857392001234_998877665544332",
        "104857392001234_998877665544400",
    ]
    customer, brand = result.mentions
    assert customer.platform == "facebook"
    assert customer.kind == "post"
    assert customer.text.startswith("My order #4471 arrived with a cracked lid")
    assert customer.created_at == datetime(2025, 3, 10, 12, 59, 58, tzinfo=UTC)
    assert customer.author.id == "7391028465512903"
    assert customer.author.display_name == "Amira Haddad"
    assert customer.url == "https://www.facebook.com/104857392001234/posts/pfbid02xKq9vZ"
    assert customer.account_id == PAGE
    assert not customer.own
    assert brand.own  # the page's own photo post
    assert not result.compliance
    assert result.skipped == 0


def test_page_feed_comments_keep_their_thread() -> None:
    result = parse_meta(load("meta/page_feed_comments.json"))
    first, reply = result.mentions
    assert first.kind == "comment"
    assert first.external_id == "998877665544400_1200456789012345"
    assert first.in_reply_to == "104857392001234_998877665544400"
    assert first.text == "Finns den salviagröna i 1,5 liter? Den är jättefin!"
    assert first.url is None
    assert reply.in_reply_to == first.external_id
    assert reply.own


def test_page_feed_edit_is_a_compliance_edit_with_the_new_text() -> None:
    result = parse_meta(load("meta/page_feed_comment_edited.json"))
    assert not result.mentions
    (edit,) = result.compliance
    assert edit.kind == "edit"
    assert edit.platform == "facebook"
    assert edit.external_id == "998877665544400_1200456789012345"
    assert edit.text == "Finns den salviagröna i 1,5 liter? Jag vill köpa två!"


def test_page_feed_removals_are_deletes_of_the_comment_and_the_post() -> None:
    result = parse_meta(load("meta/page_feed_removals.json"))
    assert [(c.kind, c.external_id) for c in result.compliance] == [
        ("delete", "998877665544400_1200456789012345"),
        ("delete", "104857392001234_998877665544332"),
    ]


def test_instagram_comments_use_username_and_entry_time() -> None:
    result = parse_meta(load("meta/instagram_comments.json"))
    comment, reply = result.mentions
    assert comment.platform == "instagram"
    assert comment.kind == "comment"
    assert comment.external_id == "17865799348089039"
    assert comment.author.handle == "elif.yilmaz"
    assert comment.text == "Bu çaydanlık harika ama kapağı çok ısınıyor 😕"  # noqa: RUF001 (Turkish dotless i)
    assert comment.in_reply_to == "18023345989012587"  # the media it was left on
    assert comment.created_at == datetime.fromtimestamp(1741614000, UTC)
    assert reply.in_reply_to == "17865799348089039"
    assert reply.own


def test_instagram_mentions_are_references_to_fetch() -> None:
    result = parse_meta(load("meta/instagram_mentions.json"))
    assert not result.mentions
    in_comment, in_caption = result.references
    assert (in_comment.kind, in_comment.external_id, in_comment.parent_id) == (
        "comment",
        "17894227972186120",
        "17918195224117851",
    )
    assert (in_caption.kind, in_caption.external_id) == ("post", "17918195224117999")
    assert in_caption.account_id == "17841405309211844"


def test_messenger_messages_echoes_and_edits() -> None:
    result = parse_meta(load("meta/messenger.json"))
    message, echo = result.mentions  # the delivery receipt and the attachment-only message are not mentions
    assert message.platform == "messenger"
    assert message.kind == "message"
    assert message.author.handle == "25846391027456612"
    assert message.created_at == datetime(2025, 3, 10, 13, 56, 38, 765000, tzinfo=UTC)
    assert not message.own
    assert echo.own
    (edit,) = result.compliance
    assert (edit.kind, edit.external_id) == ("edit", message.external_id)
    assert edit.text == "Bonjour, est-ce que la bouilloire en inox passe au lave-vaisselle ?"


def test_whatsapp_messages_take_text_captions_and_button_replies() -> None:
    result = parse_whatsapp(load("whatsapp/messages.json"))
    text, caption, button = result.mentions  # the reaction is not a mention
    assert text.platform == "whatsapp"
    assert text.kind == "message"
    assert text.external_id == "wamid.HBgLMzQ2MTIzNDU2NzgVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    assert text.author.handle == "34612345678"
    assert text.author.display_name == "Ana Ruiz"
    assert text.created_at == datetime.fromtimestamp(1741616000, UTC)
    assert text.account_id == "106540352242922"
    assert caption.text == "Der Deckel ist schon nach einer Woche gerissen."
    assert caption.author.display_name == "Jonas Becker"
    assert button.text == "Hablar con una persona"
    assert button.in_reply_to == "wamid.HBgLMTU1NTA3ODM4ODEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def test_whatsapp_statuses_are_ignored() -> None:
    result = parse_whatsapp(load("whatsapp/statuses.json"))
    assert not result.mentions and not result.compliance and result.skipped == 0


@pytest.mark.parametrize(
    "name",
    [
        "meta/page_feed_posts.json",
        "meta/page_feed_comments.json",
        "meta/messenger.json",
        "whatsapp/messages.json",
    ],
)
def test_a_replayed_delivery_parses_to_the_same_external_ids(name: str) -> None:
    parse = parse_whatsapp if name.startswith("whatsapp") else parse_meta
    first = parse(load_json(raw(name)))
    again = parse(load_json(raw(name)))
    assert [m.external_id for m in first.mentions] == [m.external_id for m in again.mentions]
    assert first == again


def test_deliveries_of_the_wrong_kind_are_payload_errors() -> None:
    with pytest.raises(PayloadError):
        parse_meta(load("whatsapp/messages.json"))
    with pytest.raises(PayloadError):
        parse_whatsapp(load("meta/messenger.json"))
    with pytest.raises(PayloadError):
        parse_meta(["not", "an", "object"])
    with pytest.raises(PayloadError):
        load_json(b"{not json")


def test_malformed_items_are_counted_and_the_rest_kept() -> None:
    payload = load("meta/page_feed_comments.json")
    del payload["entry"][0]["changes"][0]["value"]["comment_id"]
    payload["entry"].append("garbage")
    result = parse_meta(payload)
    assert [m.external_id for m in result.mentions] == ["998877665544400_1200456789099999"]
    assert result.skipped == 2
