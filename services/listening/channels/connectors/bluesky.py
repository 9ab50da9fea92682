"""Bluesky through Jetstream: its JSON events and a WebSocket connector with a `time_us` cursor.

Jetstream events: `{"did", "time_us", "kind": "commit", "commit": {"rev", "operation": "create" |
"update" | "delete", "collection", "rkey", "record": {...}, "cid"}}`, plus `kind` "identity" (a DID's
current handle) and "account" (`active`, `status` such as "deleted"). A post's record is
`app.bsky.feed.post`: `text`, `createdAt`, `langs`, `reply {parent {uri}}`, `embed`.

A commit names its author by DID only; the handle is learned from identity events when one passes,
otherwise the DID stands in for it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from services.listening.channels.connectors.models import (
    Author,
    ComplianceEvent,
    InboundMention,
    ParseResult,
    PayloadError,
)
from services.listening.channels.connectors.pulling import (
    Backoff,
    Batch,
    OpenSocket,
    Puller,
    Sleep,
    WebSocketReader,
)
from services.listening.channels.connectors.text import as_dict, as_list, as_str, from_epoch, from_iso

log = logging.getLogger("rapport.listening.connectors")

POST = "app.bsky.feed.post"

# Opens the TCP connection to (host, port) itself, e.g. only to a checked public address.


def post_uri(did: str, rkey: str) -> str:
    """The AT URI that names a post everywhere (our external id for Bluesky)."""
    return f"at://{did}/{POST}/{rkey}"


def _quoted_uri(record: dict[str, Any]) -> str | None:
    embed = as_dict(record.get("embed"))
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record":
        return as_str(as_dict(embed.get("record")).get("uri"))
    if kind == "app.bsky.embed.recordWithMedia":
        return as_str(as_dict(as_dict(embed.get("record")).get("record")).get("uri"))
    return None


def parse_jetstream_event(event: Any, *, handles: MutableMapping[str, str] | None = None) -> ParseResult:
    """One Jetstream event; identity events update `handles` (DID → handle) when it is given."""
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        raise PayloadError("not a Jetstream event")
    out = ParseResult()
    did = as_str(event.get("did"))
    if did is None:
        out.skipped += 1
        return out
    kind = event["kind"]
    if kind == "identity":
        handle = as_str(as_dict(event.get("identity")).get("handle"))
        if handles is not None and handle:
            handles[did] = handle
        return out
    if kind == "account":
        account = as_dict(event.get("account"))
        if account.get("active") is False and account.get("status") == "deleted":
            out.compliance.append(
                ComplianceEvent(
                    kind="user_delete", platform="bluesky", author_id=did, occurred_at=_event_time(event)
                )
            )
        return out
    commit = as_dict(event.get("commit"))
    if kind != "commit" or commit.get("collection") != POST:
        return out
    rkey = as_str(commit.get("rkey"))
    operation = commit.get("operation")
    if rkey is None:
        out.skipped += 1
        return out
    uri = post_uri(did, rkey)
    try:
        if operation == "delete":
            out.compliance.append(
                ComplianceEvent(
                    kind="delete",
                    platform="bluesky",
                    external_id=uri,
                    author_id=did,
                    occurred_at=_event_time(event),
                )
            )
            return out
        record = as_dict(commit.get("record"))
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            return out  # image-only posts carry nothing to read
        if operation == "update":
            out.compliance.append(
                ComplianceEvent(
                    kind="edit",
                    platform="bluesky",
                    external_id=uri,
                    author_id=did,
                    text=text,
                    occurred_at=_event_time(event),
                )
            )
            return out
        if operation != "create":
            return out
        created_at: datetime | None
        try:
            created_at = from_iso(record.get("createdAt"))
        except ValueError:
            created_at = _event_time(event)
        if created_at is None:
            raise ValueError("post without a time")
        langs = [lang for lang in as_list(record.get("langs")) if isinstance(lang, str)]
        out.mentions.append(
            InboundMention(
                platform="bluesky",
                kind="post",
                external_id=uri,
                text=text,
                created_at=created_at,
                url=f"https://bsky.app/profile/{did}/post/{rkey}",
                author=Author(handle=(handles or {}).get(did, did), id=did),
                in_reply_to=as_str(as_dict(as_dict(record.get("reply")).get("parent")).get("uri")),
                lang_hint=langs[0] if langs else None,
                quoted_id=_quoted_uri(record),
            )
        )
    except (ValueError, ValidationError):
        out.skipped += 1
    return out


def _event_time(event: dict[str, Any]) -> datetime | None:
    time_us = event.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool):
        return None
    try:
        return from_epoch(time_us / 1_000_000)
    except (ValueError, OverflowError, OSError):
        return None


class _Handles(OrderedDict[str, str]):
    """DID → handle, forgetting the least recently set beyond `limit` entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class JetstreamPuller(Puller[int | None]):
    """Follows a Jetstream instance over WebSocket from a `time_us` cursor.

    Each batch gathers up to `max_batch` events or `batch_window` seconds of them; its cursor is the
    `time_us` of the last event read. After any failure the socket is dropped and reopened with the
    committed cursor, so Jetstream replays whatever was not yet stored. With `open_socket` the TCP
    connection is opened by it (an address check) and redirects are refused.
    """

    name = "jetstream"

    def __init__(
        self,
        base_url: str,
        *,
        cursor: int | None = None,
        collections: tuple[str, ...] = (POST,),
        wanted_dids: tuple[str, ...] = (),
        max_batch: int = 200,
        batch_window: float = 1.0,
        open_timeout: float = 10.0,
        max_message: int = 1024 * 1024,
        backoff: Backoff | None = None,
        sleep: Sleep | None = None,
        handle_cache: int = 10_000,
        open_socket: OpenSocket | None = None,
    ) -> None:
        super().__init__(cursor=cursor, poll_interval=0.0, backoff=backoff, sleep=sleep)
        parts = urlsplit(base_url)
        if parts.scheme not in {"ws", "wss"} or not parts.netloc:
            raise ValueError("base_url must be a ws(s) URL")
        path = parts.path.rstrip("/")
        if not path.endswith("/subscribe"):
            path += "/subscribe"
        self._endpoint = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.collections = collections
        self.wanted_dids = wanted_dids
        self.socket = WebSocketReader(
            open_socket=open_socket,
            open_timeout=open_timeout,
            max_message=max_message,
            batch_window=batch_window,
            max_batch=max_batch,
        )
        self.handles: MutableMapping[str, str] = _Handles(handle_cache)
        self._read_cursor: int | None = cursor

    def url(self, cursor: int | None) -> str:
        """The subscribe URL for a cursor (`wantedCollections`, `wantedDids`, `cursor`)."""
        query: list[tuple[str, str]] = [("wantedCollections", c) for c in self.collections]
        query += [("wantedDids", d) for d in self.wanted_dids]
        if cursor is not None:
            query.append(("cursor", str(cursor)))
        return f"{self._endpoint}?{urlencode(query)}" if query else self._endpoint

    async def fetch(self) -> Batch[int | None]:
        """Events for up to `batch_window` seconds (or `max_batch` of them) from the open socket."""
        if self.socket.ws is None:
            await self.socket.open(self.url(self.cursor))
            self._read_cursor = self.cursor
        batch: Batch[int | None] = Batch(cursor=self._read_cursor)
        for raw in await self.socket.read():
            try:
                event = json.loads(raw)
                result = parse_jetstream_event(event, handles=self.handles)
            except (ValueError, PayloadError):
                batch.skipped += 1
                continue
            batch.add(result)
            time_us = event.get("time_us")
            if isinstance(time_us, int) and (self._read_cursor is None or time_us > self._read_cursor):
                self._read_cursor = time_us
        batch.cursor = self._read_cursor
        return batch

    async def reset(self) -> None:
        """Close the socket; the next fetch reconnects from the committed cursor."""
        self._read_cursor = self.cursor
        await self.socket.close()
