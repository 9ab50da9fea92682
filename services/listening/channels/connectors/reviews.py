"""Reviews import: one row (from CSV or JSONL) per review, with a 1-5 star rating and its text.

Columns: `source` (the site, e.g. "trustpilot"), `review_id` (the site's id), `rating` (whole stars
1-5), `text`, `author`, `date` (ISO date or date-time); optional `url`, `title`, `language`.
Unknown columns are ignored, so exports can be imported as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from services.listening.channels.connectors.models import Author, InboundMention, PayloadError, clean_text
from services.listening.channels.connectors.text import from_iso

_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def _required(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{name} is required")
    return value.strip()


def _rating(value: Any) -> int:
    if isinstance(value, bool):
        raise PayloadError("rating must be a whole number from 1 to 5")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[1-5](\.0+)?\s*", value):
        value = int(float(value))
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise PayloadError("rating must be a whole number from 1 to 5")
    return value


def _date(value: str) -> datetime:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        return from_iso(value)
    except ValueError as exc:
        raise PayloadError("date must be an ISO date or date-time") from exc


def parse_review_row(row: Mapping[str, Any]) -> InboundMention:
    """One imported review, or PayloadError naming the first bad field."""
    source = _required(row, "source").lower()
    if not _SOURCE.match(source):
        raise PayloadError("source must be a short lowercase name like 'trustpilot'")
    review_id = _required(row, "review_id")
    rating = _rating(row.get("rating"))
    text = _required(row, "text")
    title = row.get("title")
    if isinstance(title, str) and title.strip() and not text.startswith(title.strip()):
        text = f"{title.strip()}\n\n{text}"
    author = _required(row, "author")
    created_at = _date(_required(row, "date"))
    language = row.get("language")
    try:
        return InboundMention(
            platform="reviews",
            kind="review",
            external_id=f"{source}:{review_id}",
            text=text,
            created_at=created_at,
            url=row.get("url") if isinstance(row.get("url"), str) else None,
            author=Author(handle=clean_text(author, 100), display_name=author),
            rating=rating,
            lang_hint=language.strip() if isinstance(language, str) and language.strip() else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
