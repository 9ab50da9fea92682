"""Mastodon: REST statuses and notifications, streaming events, a polling and a streaming connector.

Statuses follow Mastodon's Status entity (`id`, `created_at`, HTML `content`, `spoiler_text`, `url`,
`in_reply_to_id`, `reblog`, `quote`, `language`, `visibility`, counts, and `account {id, acct,
display_name, followers_count}`). Streaming messages are `{"stream": [...], "event": "update" |
"status.update" | "delete", "payload": "<JSON string, or the bare id for delete>"}`.

Ids are instance-local, so with `instance` given they are stored as `<instance>:<id>`: two servers
cannot collide, and a streamed `delete` (which names only the local id) finds the stored post.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
from pydantic import ValidationError

from services.listening.channels.connectors.models import (
    Author,
    ComplianceEvent,
    Engagement,
    InboundMention,
    ParseResult,
    PayloadError,
)
from services.listening.channels.connectors.pulling import (
    MAX_BODY,
    Backoff,
    Batch,
    OpenSocket,
    Puller,
    Sleep,
    WebSocketReader,
    new_http_client,
    raise_for_status,
    read_limited,
)
from services.listening.channels.connectors.text import (
    as_count,
    as_dict,
    as_list,
    as_str,
    from_iso,
    html_to_text,
    load_json,
)

log = logging.getLogger("rapport.listening.connectors")


def _key(local_id: str, instance: str | None) -> str:
    return f"{instance}:{local_id}" if instance else local_id


def _status_text(status: dict[str, Any]) -> str:
    body = html_to_text(status["content"]) if isinstance(status.get("content"), str) else ""
    warning = status.get("spoiler_text")
    if isinstance(warning, str) and warning.strip():
        return f"{warning.strip()}\n\n{body}".strip()
    return body


def _handle(account: dict[str, Any], instance: str | None) -> str | None:
    acct = as_str(account.get("acct"))
    if acct is None:
        return None
    # Local accounts have no domain in `acct`; qualify them so a handle means one person everywhere.
    if "@" not in acct and instance:
        return f"{acct}@{instance}"
    return acct


def parse_status(status: Any, *, instance: str | None = None) -> InboundMention:
    """One Status entity; a boost is the booster's post carrying the boosted status's text."""
    if not isinstance(status, dict):
        raise ValueError("status is not an object")
    local_id = as_str(status.get("id"))
    account = as_dict(status.get("account"))
    handle = _handle(account, instance)
    if local_id is None or handle is None:
        raise ValueError("status without id or account")
    reblog = status.get("reblog")
    source = reblog if isinstance(reblog, dict) else status
    text = _status_text(source)
    if not text:
        raise ValueError("status without text")
    quoted = as_dict(as_dict(source.get("quote")).get("quoted_status"))
    quoted_id = as_str(quoted.get("id"))
    reply_to = as_str(source.get("in_reply_to_id"))
    lang = as_str(source.get("language"))
    return InboundMention(
        platform="mastodon",
        kind="message" if status.get("visibility") == "direct" else "post",
        external_id=_key(local_id, instance),
        text=text,
        created_at=from_iso(status.get("created_at")),
        url=as_str(source.get("url")) or as_str(source.get("uri")),
        author=Author(
            handle=handle,
            id=_key(aid, instance) if (aid := as_str(account.get("id"))) else None,
            display_name=as_str(account.get("display_name")),
            followers=as_count(account.get("followers_count")) if "followers_count" in account else None,
        ),
        in_reply_to=_key(reply_to, instance) if reply_to else None,
        engagement=Engagement(
            likes=as_count(source.get("favourites_count")),
            reposts=as_count(source.get("reblogs_count")),
            replies=as_count(source.get("replies_count")),
        ),
        lang_hint=lang,
        reposted_id=_key(rid, instance)
        if isinstance(reblog, dict) and (rid := as_str(reblog.get("id")))
        else None,
        quoted_id=_key(quoted_id, instance) if quoted_id else None,
    )


def parse_statuses(statuses: Any, *, instance: str | None = None) -> ParseResult:
    """A REST list of statuses (timelines, search results)."""
    if not isinstance(statuses, list):
        raise PayloadError("expected a list of statuses")
    out = ParseResult()
    for status in statuses:
        try:
            out.mentions.append(parse_status(status, instance=instance))
        except (ValueError, ValidationError):
            out.skipped += 1
    return out


def parse_notifications(notifications: Any, *, instance: str | None = None) -> ParseResult:
    """A REST list of notifications: each `mention` carries the status that mentioned the account."""
    if not isinstance(notifications, list):
        raise PayloadError("expected a list of notifications")
    out = ParseResult()
    for notification in map(as_dict, notifications):
        if notification.get("type") != "mention" or not isinstance(notification.get("status"), dict):
            continue
        try:
            out.mentions.append(parse_status(notification["status"], instance=instance))
        except (ValueError, ValidationError):
            out.skipped += 1
    return out


def parse_streaming_event(message: Any, *, instance: str | None = None) -> ParseResult:
    """One streaming API message: `update` → mention, `status.update` → edit, `delete` → delete,
    `notification` (the account's stream) → a mention when it is one."""
    if isinstance(message, str | bytes):
        message = load_json(message)
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise PayloadError("not a Mastodon streaming message")
    event = message["event"]
    payload = message.get("payload")
    out = ParseResult()
    try:
        if event == "delete":
            local_id = as_str(payload)
            if local_id is None:
                raise ValueError("delete without id")
            out.compliance.append(
                ComplianceEvent(kind="delete", platform="mastodon", external_id=_key(local_id, instance))
            )
        elif event == "notification":
            notification = json.loads(payload) if isinstance(payload, str) else payload
            return parse_notifications([notification], instance=instance)
        elif event in {"update", "status.update"}:
            status = json.loads(payload) if isinstance(payload, str) else payload
            mention = parse_status(status, instance=instance)
            if event == "update":
                out.mentions.append(mention)
            else:
                edited_at = as_str(as_dict(status).get("edited_at"))
                out.compliance.append(
                    ComplianceEvent(
                        kind="edit",
                        platform="mastodon",
                        external_id=mention.external_id,
                        author_id=mention.author.id,
                        text=mention.text,
                        occurred_at=from_iso(edited_at) if edited_at else None,
                    )
                )
    except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
        out.skipped += 1
    return out


def _id_key(value: str) -> tuple[int, int | str]:
    # Mastodon ids are digit strings that sort numerically; compare others as text after them.
    return (1, int(value)) if value.isdigit() else (0, value)


def _newest(*ids: str | None) -> str | None:
    present = [i for i in ids if i]
    return max(present, key=_id_key) if present else None


class MastodonPuller(Puller[str | None]):
    """Polls one Mastodon server for a hashtag timeline, the account's mentions, or a search.

    The cursor is the newest id seen; it is sent as `min_id`, so each request returns the statuses
    immediately after it (no gap however many arrived), and a full page is followed at once.
    """

    name = "mastodon"

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None = None,
        hashtag: str | None = None,
        notifications: bool = False,
        query: str | None = None,
        since_id: str | None = None,
        limit: int = 40,
        poll_interval: float = 60.0,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(cursor=since_id, poll_interval=poll_interval, backoff=backoff, sleep=sleep)
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL")
        if sum([bool(hashtag), notifications, bool(query)]) != 1:
            raise ValueError("give exactly one of hashtag, notifications or query")
        if notifications and not access_token:
            raise ValueError("notifications need an access token")
        self.base_url = base_url.rstrip("/")
        self.instance = parts.netloc.lower()
        self.hashtag = hashtag.lstrip("#") if hashtag else None
        self.notifications = notifications
        self.query = query
        self.limit = max(1, min(limit, 40))
        self.max_body = max_body
        self._token = access_token
        self._client = client
        self._owns_client = client is None

    def _request(self) -> tuple[str, list[tuple[str, str | int | float | bool | None]]]:
        params: list[tuple[str, str | int | float | bool | None]] = [("limit", str(self.limit))]
        if self.cursor:
            params.append(("min_id", self.cursor))
        if self.notifications:
            return "/api/v1/notifications", [*params, ("types[]", "mention")]
        if self.hashtag:
            return f"/api/v1/timelines/tag/{quote(self.hashtag, safe='')}", params
        return "/api/v2/search", [
            *params,
            ("q", self.query or ""),
            ("type", "statuses"),
            ("resolve", "false"),
        ]

    async def fetch(self) -> Batch[str | None]:
        """One page after the cursor."""
        if self._client is None:
            self._client = new_http_client()
        path, params = self._request()
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        async with self._client.stream(
            "GET", self.base_url + path, params=params, headers=headers
        ) as response:
            raise_for_status(response)
            body = await read_limited(response, self.max_body)
            links = response.links
        data = load_json(body)
        if self.notifications:
            result = parse_notifications(data, instance=self.instance)
            items = as_list(data)
        elif self.query:
            if not isinstance(data, dict):
                raise PayloadError("expected search results")
            items = as_list(data.get("statuses"))
            result = parse_statuses(items, instance=self.instance)
        else:
            result = parse_statuses(data, instance=self.instance)
            items = as_list(data)
        # The `prev` link names the newest id of the page as its min_id; fall back to the ids themselves.
        prev = links.get("prev", {}).get("url")
        linked = parse_qs(urlsplit(prev).query).get("min_id", [None])[0] if prev else None
        newest = _newest(self.cursor, linked, *(as_str(as_dict(item).get("id")) for item in items))
        return Batch(
            cursor=newest,
            mentions=result.mentions,
            compliance=result.compliance,
            skipped=result.skipped,
            more=len(items) >= self.limit and newest != self.cursor,
        )

    async def aclose(self) -> None:
        """Close the HTTP client when this puller made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


def stream_cursor(message: Any) -> str | None:
    """The id a streamed message moves the REST cursor to: a new status's (hashtag streams) or a
    notification's (the account's stream); None for edits, deletes and anything else."""
    if not isinstance(message, dict) or message.get("event") not in {"update", "notification"}:
        return None
    payload = message.get("payload")
    try:
        item = json.loads(payload) if isinstance(payload, str) else payload
    except ValueError:
        return None
    return as_str(as_dict(item).get("id"))


class MastodonStreamPuller(MastodonPuller):
    """A hashtag or the account's notifications, live: REST pages catch up from the cursor, then the
    streaming API brings new posts, edits and deletes (which polling never sees) as they happen.

    The socket is opened first and read after the catch-up, so nothing posted in between is missed
    (what both bring is de-duplicated downstream). Mastodon's stream does not replay, so after any failure
    the socket is dropped and the next fetch catches up over REST again from the committed cursor. The
    streaming address is the instance's own (`/api/v2/instance` → `configuration.urls.streaming`) unless
    given.
    """

    name = "mastodon-stream"

    def __init__(
        self,
        base_url: str,
        *,
        streaming_url: str | None = None,
        batch_window: float = 1.0,
        max_batch: int = 200,
        open_timeout: float = 10.0,
        max_message: int = 1024 * 1024,
        open_socket: OpenSocket | None = None,
        **rest: Any,
    ) -> None:
        super().__init__(base_url, **rest)
        if self.query:
            raise ValueError("a search cannot be streamed: stream a hashtag or the notifications")
        self.poll_interval = 0.0  # the socket waits by itself
        self.streaming_url = streaming_url
        self.socket = WebSocketReader(
            open_socket=open_socket,
            open_timeout=open_timeout,
            max_message=max_message,
            batch_window=batch_window,
            max_batch=max_batch,
        )
        self._live = False

    async def fetch(self) -> Batch[str | None]:
        """A REST page while catching up; then what the stream brings within `batch_window`."""
        if self.socket.ws is None:
            token = {"Authorization": f"Bearer {self._token}"} if self._token else None
            await self.socket.open(await self._stream_url(), token)
            self._live = False
        if not self._live:
            batch = await super().fetch()
            self._live = not batch.more
            batch.more = True  # the next page, or the stream, at once
            return batch
        batch = Batch(cursor=self.cursor)
        for raw in await self.socket.read():
            try:
                message = load_json(raw)
                result = parse_streaming_event(message, instance=self.instance)
            except PayloadError:
                batch.skipped += 1
                continue
            batch.add(result)
            batch.cursor = _newest(batch.cursor, stream_cursor(message))
        return batch

    async def _stream_url(self) -> str:
        base = self.streaming_url or await self._discover_streaming()
        stream = [("stream", "user:notification")] if self.notifications else [("stream", "hashtag")]
        if self.hashtag:
            stream.append(("tag", self.hashtag))
        return f"{base.rstrip('/')}/api/v1/streaming?{urlencode(stream)}"

    async def _discover_streaming(self) -> str:
        if self._client is None:
            self._client = new_http_client()
        async with self._client.stream("GET", self.base_url + "/api/v2/instance") as response:
            raise_for_status(response)
            body = await read_limited(response, self.max_body)
        streaming = as_str(
            as_dict(as_dict(as_dict(load_json(body)).get("configuration")).get("urls")).get("streaming")
        )
        if not streaming or urlsplit(streaming).scheme not in {"ws", "wss"}:
            raise PayloadError("the instance names no streaming address")
        return streaming

    async def reset(self) -> None:
        """Drop the socket: the next fetch catches up over REST from the committed cursor, then streams."""
        self._live = False
        await self.socket.close()

    async def aclose(self) -> None:
        await self.reset()
        await super().aclose()
