"""The normalised models: bounds that match the ingest API, and text hygiene."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.listening.channels.connectors import Author, ComplianceEvent, InboundMention
from services.listening.channels.connectors.models import MAX_TEXT
from services.listening.channels.connectors.text import html_to_text
from services.listening.mentions.schemas import MentionCreate

WHEN = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _mention(**overrides: object) -> InboundMention:
    fields: dict[str, object] = {
        "platform": "x",
        "kind": "post",
        "external_id": "1",
        "text": "hello",
        "created_at": WHEN,
        "author": Author(handle="someone"),
    }
    fields.update(overrides)
    return InboundMention.model_validate(fields)


def test_long_text_is_cut_to_what_the_ingest_api_accepts() -> None:
    mention = _mention(text="a" * (MAX_TEXT + 500))
    assert len(mention.text) == MAX_TEXT
    MentionCreate.model_validate(mention.as_ingest())


def test_long_ids_become_stable_digests() -> None:
    long_id = "https://blog.example/" + "x" * 300
    first, again = _mention(external_id=long_id), _mention(external_id=long_id)
    assert first.external_id == again.external_id
    assert first.external_id.startswith("sha256:") and len(first.external_id) <= 128


def test_control_characters_and_nul_are_removed() -> None:
    assert _mention(text="a\x00b\x07c\r\nd").text == "abc\nd"


def test_unsafe_or_oversized_urls_are_dropped() -> None:
    assert _mention(url="javascript:alert(1)").url is None
    assert _mention(url="https://example.com/" + "x" * 3000).url is None
    assert _mention(url="https://example.com/a").url == "https://example.com/a"


def test_naive_times_and_empty_text_are_refused() -> None:
    with pytest.raises(ValidationError):
        _mention(created_at=datetime(2025, 3, 10, 12, 0))
    with pytest.raises(ValidationError):
        _mention(text=" \x00 ")


def test_handles_lose_a_leading_at_sign() -> None:
    assert Author(handle="@danawhit").handle == "danawhit"
    with pytest.raises(ValidationError):
        Author(handle="@")


def test_as_ingest_is_accepted_by_the_ingest_api() -> None:
    mention = _mention(
        url="https://x.com/someone/status/1",
        author=Author(handle="someone", display_name="Some One", followers=12, verified=True, id="42"),
        in_reply_to="0",
    )
    created = MentionCreate.model_validate(mention.as_ingest())
    assert created.external_id == "1"
    assert created.author.followers == 12


def test_compliance_events_name_their_target() -> None:
    with pytest.raises(ValidationError):
        ComplianceEvent(kind="delete", platform="x")
    with pytest.raises(ValidationError):
        ComplianceEvent(kind="user_delete", platform="x", external_id="1")
    assert ComplianceEvent(kind="user_delete", platform="x", author_id="7").author_id == "7"


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    html = "<p>One &amp; two</p><p>three<br>four</p><script>evil()</script><style>p{}</style>"
    assert html_to_text(html) == "One & two\n\nthree\nfour"
