"""Small, strict helpers the parsers share: HTML to plain text, the platforms' time formats, JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from services.listening.channels.connectors.models import PayloadError

_BLOCK = {"p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "ul", "ol"}
_SKIP = {"script", "style", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, paragraphs as blank lines.

    Mastodon hides a link's scheme and tail in `<span class="invisible">`; all spans are kept, so links
    come out whole.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def looks_like_html(text: str) -> bool:
    """Whether a feed's text field carries markup (RSS descriptions often do, unescaped or not)."""
    return "<" in text and ">" in text


def from_epoch(value: Any) -> datetime:
    """A Unix time in seconds or milliseconds (numbers or digit strings) as an aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, str):
        value = value.strip()
        number = float(value) if value.replace(".", "", 1).isdigit() else None
        if number is None:
            raise ValueError("not a timestamp")
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError("not a timestamp")
    if number > 1e11:  # milliseconds: 1e11 seconds is the year 5138
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def from_iso(value: Any) -> datetime:
    """An ISO 8601 time (`Z` or an offset; a naive one is taken as UTC) as an aware datetime."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not an ISO time")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    # Facebook writes offsets without a colon (+0000), which fromisoformat reads since 3.11.
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def from_any_time(value: Any) -> datetime:
    """An epoch number/string or an ISO string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_epoch(value)
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        return from_epoch(value)
    return from_iso(value)


def from_twitter(value: Any) -> datetime:
    """X's v1.1 `created_at` (`Wed Oct 10 20:19:24 +0000 2018`)."""
    if not isinstance(value, str):
        raise ValueError("not an X time")
    return datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %z %Y")


def from_rfc822(value: Any) -> datetime:
    """RSS's RFC 822 dates (`Tue, 10 Jun 2003 04:00:00 GMT`); `-0000` and missing zones are UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not an RFC 822 time")
    parsed = parsedate_to_datetime(value.strip())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def load_json(body: bytes | str) -> Any:
    """Decode a delivery's JSON body, or raise PayloadError."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("body is not JSON") from exc


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty dict (missing optional sub-objects)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """Strings and integers as a string (platforms mix them for ids), anything else as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def as_count(value: Any) -> int:
    """A non-negative count, 0 when absent or odd."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0
