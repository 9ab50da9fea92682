"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds (blogs, review sites), and a polling connector for them.

Feeds come from anyone, so the XML is parsed with defusedxml: no DTD entity expansion (billion laughs),
no external entities or DTDs fetched. Bodies are size-capped before parsing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException
from pydantic import BaseModel, ConfigDict, ValidationError

from services.listening.channels.connectors.models import (
    Author,
    InboundMention,
    ParseResult,
    PayloadError,
    clean_text,
    safe_url,
)
from services.listening.channels.connectors.pulling import (
    MAX_BODY,
    Backoff,
    Batch,
    Puller,
    Sleep,
    new_http_client,
    raise_for_status,
    read_limited,
)
from services.listening.channels.connectors.text import from_iso, from_rfc822, html_to_text, looks_like_html

log = logging.getLogger("rapport.listening.connectors")

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
RSS1 = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

# RSS <author> is an e-mail address, often "jane@example.com (Jane Doe)": keep the name, drop the address.
_EMAIL_NAME = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$")
_EMAIL = re.compile(r"^\s*\S+@\S+\s*$")


def _text(element: Element | None) -> str:
    if element is None:
        return ""
    return "".join(element.itertext()).strip()


def _readable(value: str) -> str:
    return html_to_text(value) if looks_like_html(value) else " ".join(value.split())


def _atom_text(element: Element | None) -> str:
    """An Atom text construct: `type="html"` is escaped markup, `xhtml` is inline markup, else text."""
    if element is None:
        return ""
    if element.get("type") == "html":
        return html_to_text(element.text or "")
    return " ".join(_text(element).split())


def _compose(title: str, body: str) -> str:
    if not title:
        return body
    if not body or body.startswith(title):
        return body or title
    return f"{title}\n\n{body}"


def _author_name(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    match = _EMAIL_NAME.match(value)
    if match:
        return match.group("name").strip()
    return None if _EMAIL.match(value) else value


def _fallback_id(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _rss_item(
    item: Element, *, ns: str, source: str, base: str | None, now: datetime
) -> InboundMention | None:
    title = _readable(_text(item.find(f"{ns}title")))
    # RSS descriptions are (entity-encoded) HTML by the specification.
    body = html_to_text(_text(item.find(f"{CONTENT}encoded")) or _text(item.find(f"{ns}description")))
    text = _compose(title, body)
    if not text:
        return None
    link = _text(item.find(f"{ns}link"))
    link = urljoin(base, link) if link and base else link
    guid_element = item.find("guid")
    guid = _text(guid_element)
    if not guid and ns == RSS1:
        guid = item.get(f"{RDF}about", "")
    when = now
    for raw, parse in ((_text(item.find("pubDate")), from_rfc822), (_text(item.find(f"{DC}date")), from_iso)):
        if raw:
            try:
                when = parse(raw)
                break
            except (ValueError, TypeError, IndexError):
                continue
    author = _author_name(_text(item.find(f"{DC}creator")) or _text(item.find("author"))) or source
    permalink = guid_element is not None and guid_element.get("isPermaLink", "true").lower() == "true"
    return InboundMention(
        platform="rss",
        kind="post",
        external_id=guid or link or _fallback_id(title, body),
        text=text,
        created_at=when,
        url=safe_url(link) or (safe_url(guid) if permalink else None),
        author=Author(handle=clean_text(author, 100) or "unknown", display_name=author),
    )


def _atom_link(entry: Element, base: str | None) -> str | None:
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            href = link.get("href", "")
            return safe_url(urljoin(base, href) if base else href)
    return None


def _atom_entry(
    entry: Element, *, feed_author: str | None, source: str, base: str | None, now: datetime
) -> InboundMention | None:
    title = _atom_text(entry.find(f"{ATOM}title"))
    body = _atom_text(entry.find(f"{ATOM}content")) or _atom_text(entry.find(f"{ATOM}summary"))
    text = _compose(title, body)
    if not text:
        return None
    url = _atom_link(entry, base)
    when = now
    for tag in ("published", "updated"):
        raw = _text(entry.find(f"{ATOM}{tag}"))
        if raw:
            try:
                when = from_iso(raw)
                break
            except ValueError:
                continue
    author = _text(entry.find(f"{ATOM}author/{ATOM}name")) or feed_author or source
    return InboundMention(
        platform="rss",
        kind="post",
        external_id=_text(entry.find(f"{ATOM}id")) or url or _fallback_id(title, body),
        text=text,
        created_at=when,
        url=url,
        author=Author(handle=clean_text(author, 100) or "unknown", display_name=author),
    )


def parse_feed(data: bytes | str, *, feed_url: str | None = None, now: datetime | None = None) -> ParseResult:
    """Every item of an RSS 2.0, RSS 1.0 or Atom document; items without a date get `now`."""
    try:
        root = SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise PayloadError(f"not a well-formed, safe feed ({type(exc).__name__})") from exc
    now = now or datetime.now(UTC)
    source = urlsplit(feed_url).netloc if feed_url else ""
    out = ParseResult()
    candidates: list[tuple[Element, str]]
    if root.tag == "rss":
        channel = root.find("channel")
        source = _text(channel.find("title")) if channel is not None else source
        candidates = [(item, "") for item in (channel.findall("item") if channel is not None else [])]
    elif root.tag == f"{RDF}RDF":
        source = _text(root.find(f"{RSS1}channel/{RSS1}title")) or source
        candidates = [(item, RSS1) for item in root.findall(f"{RSS1}item")]
    elif root.tag == f"{ATOM}feed":
        source = _text(root.find(f"{ATOM}title")) or source
        feed_author = _text(root.find(f"{ATOM}author/{ATOM}name")) or None
        for entry in root.findall(f"{ATOM}entry"):
            try:
                mention = _atom_entry(entry, feed_author=feed_author, source=source, base=feed_url, now=now)
            except (ValueError, ValidationError):
                out.skipped += 1
                continue
            if mention is not None:
                out.mentions.append(mention)
        return out
    else:
        raise PayloadError("neither RSS nor Atom")
    for item, ns in candidates:
        try:
            mention = _rss_item(item, ns=ns, source=source, base=feed_url, now=now)
        except (ValueError, ValidationError):
            out.skipped += 1
            continue
        if mention is not None:
            out.mentions.append(mention)
    return out


class FeedCursor(BaseModel):
    """What a conditional GET needs to ask "anything new?": the last ETag and Last-Modified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    etag: str | None = None
    last_modified: str | None = None


class FeedPuller(Puller[FeedCursor]):
    """Polls one feed with conditional GETs; a 304 costs the server nothing and yields nothing."""

    name = "feed"

    def __init__(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        poll_interval: float = 900.0,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(
            cursor=FeedCursor(etag=etag, last_modified=last_modified),
            poll_interval=poll_interval,
            backoff=backoff,
            sleep=sleep,
        )
        if urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError("feed url must be http(s)")
        self.url = url
        self.max_body = max_body
        self._client = client
        self._owns_client = client is None

    async def fetch(self) -> Batch[FeedCursor]:
        """The feed's items if it changed since the cursor, else an empty batch."""
        if self._client is None:
            self._client = new_http_client()
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if self.cursor.etag:
            headers["If-None-Match"] = self.cursor.etag
        if self.cursor.last_modified:
            headers["If-Modified-Since"] = self.cursor.last_modified
        async with self._client.stream("GET", self.url, headers=headers) as response:
            if response.status_code == 304:
                return Batch(cursor=self.cursor)
            raise_for_status(response)
            body = await read_limited(response, self.max_body)
            final_url = str(response.url)
            cursor = FeedCursor(
                etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified")
            )
        result = parse_feed(body, feed_url=final_url)
        return Batch(cursor=cursor, mentions=result.mentions, skipped=result.skipped)

    async def aclose(self) -> None:
        """Close the HTTP client when this puller made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
