"""RSS / Atom feeds (including hostile XML) and the reviews import, parsed from the recorded files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.listening.channels.connectors import PayloadError, parse_feed, parse_review_row
from tests.listening.channels.connectors.payloads import PLATFORMS, raw

NOW = datetime(2025, 3, 11, 8, 0, tzinfo=UTC)


def test_rss2_items_become_mentions() -> None:
    result = parse_feed(raw("feeds/rss2.xml"), feed_url="https://kitchengear.example/feed.xml", now=NOW)
    review = result.mentions[0]
    assert len(result.mentions) == 3
    assert review.platform == "rss"
    assert review.external_id == "https://kitchengear.example/reviews/kettle-and-co-classic"
    assert review.text == (
        "Kettle & Co Classic review: quiet, quick, slightly fragile\n\n"
        "The Kettle & Co Classic boils a litre in 2m10s.\n\nWe had one lid crack in testing."
    )
    assert review.created_at == datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
    assert review.author.handle == "Priya Natarajan"
    assert review.url == "https://kitchengear.example/reviews/kettle-and-co-classic"


def test_rss2_prefers_full_content_drops_scripts_and_hides_author_emails() -> None:
    roundup = parse_feed(
        raw("feeds/rss2.xml"), feed_url="https://kitchengear.example/feed.xml", now=NOW
    ).mentions[1]
    assert roundup.external_id == "kitchengear-roundup-2025-03-07"  # a non-permalink guid is still the id
    assert roundup.url == "https://kitchengear.example/roundups/kettles-under-50"  # relative link resolved
    assert "track()" not in roundup.text
    assert roundup.text.endswith("Prices checked on 7 March.")
    assert roundup.author.handle == "Sam Clarke"
    assert "@" not in roundup.author.handle


def test_rss2_items_without_date_or_link_get_now_and_the_feed_as_author() -> None:
    question = parse_feed(raw("feeds/rss2.xml"), now=NOW).mentions[2]
    assert question.created_at == NOW
    assert question.url is None
    assert question.author.handle == "Kitchen Gear Weekly"


def test_atom_entries_decode_html_and_xhtml_text() -> None:
    result = parse_feed(raw("feeds/atom.xml"), feed_url="https://cuisinelente.example/atom.xml", now=NOW)
    first, second = result.mentions
    assert first.external_id == "tag:cuisinelente.example,2025-03-10:/2025/03/bouilloire-six-mois"
    assert first.text == (
        "Ma bouilloire Kettle & Co, six mois après\n\n"
        "Toujours aussi silencieuse, mais le voyant bleu a lâché."
    )
    assert first.created_at == datetime(2025, 3, 10, 8, 15, tzinfo=timezone(timedelta(hours=1)))
    assert (
        first.url == "https://cuisinelente.example/2025/03/bouilloire-six-mois"
    )  # rel=alternate, not rel=edit
    assert first.author.handle == "Camille Durand"  # the feed's author
    assert second.author.handle == "Julien Moreau"  # the entry's own author
    assert second.text.endswith("une bouilloire à température réglable change tout.")
    assert second.url == "https://cuisinelente.example/2025/02/the-vert-temperature"
    assert second.created_at == datetime(2025, 2, 20, 10, 0, tzinfo=UTC)  # `updated` when no `published`


def test_rss1_rdf_items() -> None:
    (post,) = parse_feed(raw("feeds/rss1.xml"), now=NOW).mentions
    assert post.external_id == "https://forum.example/t/4411"
    assert post.author.handle == "teefan_82"
    assert post.created_at == datetime(2025, 3, 9, 20, 14, tzinfo=UTC)


@pytest.mark.parametrize("name", ["feeds/billion_laughs.xml", "feeds/external_entity.xml"])
def test_hostile_xml_is_refused(name: str) -> None:
    with pytest.raises(PayloadError):
        parse_feed(raw(name))


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>not a feed</body></html>", b"<rss><channel>", b"\xff\xfe"]
)
def test_non_feeds_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_feed(body)


def test_a_refetched_feed_parses_to_the_same_external_ids() -> None:
    assert [m.external_id for m in parse_feed(raw("feeds/rss2.xml"), now=NOW).mentions] == [
        m.external_id for m in parse_feed(raw("feeds/rss2.xml"), now=NOW + timedelta(hours=1)).mentions
    ]


def _rows() -> list[dict[str, str]]:
    with (PLATFORMS / "reviews" / "reviews.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_review_rows_become_rated_reviews() -> None:
    first = parse_review_row(_rows()[0])
    assert first.platform == "reviews"
    assert first.kind == "review"
    assert first.external_id == "trustpilot:65f0a1b2c3d4e5f607182930"
    assert first.rating == 2
    assert first.text == "Lid cracked\n\nThe lid cracked after a week, but support sent a new one quickly."
    assert first.created_at == datetime(2025, 3, 8, tzinfo=UTC)
    assert first.author.handle == "Helen M."
    assert first.url == "https://www.trustpilot.com/reviews/65f0a1b2c3d4e5f607182930"
    assert first.lang_hint == "en"
    second = parse_review_row(_rows()[1])
    assert second.created_at == datetime(2025, 3, 9, 7, 22, tzinfo=UTC)
    assert second.rating == 5


@pytest.mark.parametrize(("index", "message"), [(3, "rating"), (4, "text")])
def test_bad_review_rows_say_which_field_is_wrong(index: int, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_review_row(_rows()[index])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rating": "4.5"}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": 0}, "rating"),
        ({"date": "yesterday"}, "date"),
        ({"source": "Trust Pilot!"}, "source"),
        ({"review_id": ""}, "review_id"),
        ({"author": None}, "author"),
    ],
)
def test_review_row_validation(change: dict[str, object], message: str) -> None:
    row: dict[str, object] = dict(_rows()[0])
    row.update(change)
    with pytest.raises(PayloadError, match=message):
        parse_review_row(row)


def test_review_rows_from_jsonl_take_numbers() -> None:
    row = {
        "source": "google",
        "review_id": 991,
        "rating": 4.0,
        "text": "Good",
        "author": "A",
        "date": "2025-03-01",
    }
    mention = parse_review_row(row)
    assert (mention.external_id, mention.rating) == ("google:991", 4)


def test_reviews_csv_round_trip_through_a_stream() -> None:
    text = (PLATFORMS / "reviews" / "reviews.csv").read_text(encoding="utf-8")
    good, bad = 0, 0
    for row in csv.DictReader(io.StringIO(text)):
        try:
            parse_review_row(row)
            good += 1
        except PayloadError:
            bad += 1
    assert (good, bad) == (3, 2)
