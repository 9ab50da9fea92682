"""Sending replies through each platform's documented API, against a configurable base URL.

- Meta (Graph API): a public reply to a Facebook comment or post is `POST /{object-id}/comments`
  (`message`), to an Instagram comment `POST /{ig-comment-id}/replies` (`message`); a private message
  (Messenger, Instagram) is `POST /{page-id}/messages` with `recipient.id`, `message.text` and
  `messaging_type: RESPONSE` — past Meta's 24-hour window, a person's reply goes as
  `messaging_type: MESSAGE_TAG` with `tag: HUMAN_AGENT` —, with the Page access token.
- WhatsApp Cloud API: `POST /{phone-number-id}/messages` with `messaging_product: whatsapp`, `to`,
  `type: text` (a `context.message_id` quotes the message answered), or `type: template` with
  `template.name`, `template.language.code` and the body's parameters
  (`components: [{type: body, parameters: [{type: text, text}]}]`).
- Mastodon: `POST /api/v1/statuses` (`status`, `in_reply_to_id`; `visibility: direct` for a private
  mention), with an `Idempotency-Key` so a retried request cannot post twice.
- X (API v2): `POST /2/tweets` with `reply.in_reply_to_tweet_id`, and a direct message
  `POST /2/dm_conversations/with/{participant-id}/messages`, with an OAuth 2.0 user token.
- Bluesky (XRPC on the account's PDS): `com.atproto.server.createSession` with an app password, then
  `app.bsky.feed.getPosts` for the answered post's `cid` and its thread's root, then
  `com.atproto.repo.createRecord` of an `app.bsky.feed.post` whose `reply` names root and parent. Public
  replies only (Bluesky's private chat is another service).

Tokens travel in the `Authorization` header, never in a URL. Every failure is a `SendError` that says
whether trying again can help (timeouts, network errors, 5xx, 408, 429 and Meta's transient codes) and
carries the platform's own message, cut short, with the token scrubbed out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from services.listening.channels.connectors.meta import GRAPH_API, TRANSIENT_CODES, appsecret_proof
from services.listening.channels.connectors.pulling import (
    MAX_BODY,
    BodyTooLarge,
    read_limited,
    retry_after_seconds,
)
from services.listening.channels.connectors.text import as_dict, as_list, as_str, load_json

X_API = "https://api.x.com"
BSKY_PDS = "https://bsky.social"
BSKY_POST = "app.bsky.feed.post"
# The platform's error message is kept this short in events and rows.
MAX_ERROR = 300
ReplyKind = Literal["public", "direct"]


@dataclass(frozen=True)
class TemplateMessage:
    """An approved WhatsApp template: its name, language code and body parameters in order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboundReply:
    """What to send: `key` identifies the message (idempotency key where the platform takes one)."""

    key: str
    kind: ReplyKind
    text: str
    in_reply_to: str | None = None
    recipient: str | None = None
    # The platform of the post answered (`facebook`, `instagram`, `messenger`, ...) when known.
    target_platform: str | None = None
    # A WhatsApp template message instead of `text`.
    template: TemplateMessage | None = None
    # Meta's message tag for a private message (`HUMAN_AGENT`); None: a standard `RESPONSE`.
    tag: str | None = None


class SendError(Exception):
    """The platform did not take the reply: its HTTP status (None: no answer), its message, and
    whether a later attempt can succeed (`retry_after`: how long the platform asked to wait)."""

    def __init__(
        self, message: str, *, status: int | None, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class ReplyRefused(ValueError):
    """The reply cannot be sent as asked (no post to answer, no recipient): the platform is not called."""


def _short(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def _platform_message(data: Any) -> tuple[str | None, int | None, bool]:
    """The error message a platform put in its answer (Meta, X, Mastodon shapes), Meta's code, and
    whether Meta calls it transient."""
    body = as_dict(data)
    error = body.get("error")
    if isinstance(error, dict):  # Meta: {"error": {"message", "code", "is_transient"}}
        code = error.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        return as_str(error.get("message")), code, error.get("is_transient") is True
    if isinstance(error, str):  # Mastodon {"error": "..."}; Bluesky (XRPC) {"error", "message"}
        return as_str(body.get("message")) or error, None, False
    errors = as_list(body.get("errors"))  # X: {"errors": [{"message"}]} or {"title", "detail"}
    first = as_dict(errors[0]) if errors else {}
    return (
        as_str(body.get("detail")) or as_str(first.get("message")) or as_str(body.get("title")),
        None,
        False,
    )


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    token: str | None,
    body: dict[str, Any] | None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    secrets: tuple[str, ...] = (),
    max_body: int = MAX_BODY,
) -> dict[str, Any]:
    """Send `body` as JSON (POST unless `method` says otherwise) with a bearer token; the JSON answer, or a
    classified SendError (`secrets` and the token never appear in its message)."""
    secrets = (*secrets, *((token,) if token else ()), *(params or {}).values())
    sent_headers = {"Accept": "application/json", **(headers or {})}
    if token:
        sent_headers["Authorization"] = f"Bearer {token}"
    try:
        async with client.stream(method, url, json=body, params=params, headers=sent_headers) as response:
            data = await read_limited(response, max_body)
    except httpx.TimeoutException:
        raise SendError("the platform did not answer in time", status=None, retryable=True) from None
    except httpx.TransportError as exc:
        raise SendError(f"network error ({type(exc).__name__})", status=None, retryable=True) from None
    except BodyTooLarge:
        raise SendError("the platform's answer was too large", status=None, retryable=False) from None
    status = response.status_code
    try:
        parsed: Any = load_json(data) if data else {}
    except ValueError:
        parsed = {}
    if status >= 400:
        message, code, transient = _platform_message(parsed)
        retryable = status >= 500 or status in {408, 429} or transient or code in TRANSIENT_CODES
        wait = retry_after_seconds(response.headers.get("Retry-After")) if retryable else None
        raise SendError(
            _short(f"HTTP {status}: {message or 'no message'}", secrets),
            status=status,
            retryable=retryable,
            retry_after=wait,
        )
    if not isinstance(parsed, dict):
        raise SendError(f"HTTP {status} with no JSON object", status=status, retryable=False)
    return parsed


def _required(value: str | None, what: str) -> str:
    if not value:
        raise ReplyRefused(f"no {what} to send to")
    return value


def _node(value: str | None, what: str) -> str:
    """An id as one path segment of the URL."""
    return quote(_required(value, what), safe="")


def _platform_id(value: Any, status: str) -> str:
    found = as_str(value)
    if not found:
        raise SendError(f"the platform's answer names no {status}", status=None, retryable=False)
    return found


async def send_meta(
    client: httpx.AsyncClient,
    reply: OutboundReply,
    *,
    access_token: str,
    app_secret: str | None = None,
    graph_base: str = GRAPH_API,
    page_id: str | None = None,
) -> str:
    """Answer a Facebook or Instagram comment, or message a Messenger / Instagram user; the new id."""
    base = graph_base.rstrip("/")
    params = {"appsecret_proof": appsecret_proof(access_token, app_secret)} if app_secret else None
    if reply.kind == "direct":
        url = f"{base}/{_node(page_id or 'me', 'page')}/messages"
        body: dict[str, Any] = {
            "recipient": {"id": _required(reply.recipient, "recipient")},
            "message": {"text": reply.text},
            "messaging_type": "RESPONSE",
        }
        if reply.tag:
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = reply.tag
        answer = await post_json(client, url, token=access_token, body=body, params=params)
        return _platform_id(answer.get("message_id"), "message id")
    edge = "replies" if reply.target_platform == "instagram" else "comments"
    url = f"{base}/{_node(reply.in_reply_to, 'comment or post')}/{edge}"
    answer = await post_json(client, url, token=access_token, body={"message": reply.text}, params=params)
    return _platform_id(answer.get("id"), "comment id")


async def send_whatsapp(
    client: httpx.AsyncClient,
    reply: OutboundReply,
    *,
    access_token: str,
    phone_number_id: str,
    graph_base: str = GRAPH_API,
) -> str:
    """Send a text message to a WhatsApp user (quoting the message answered, if named), or an approved
    template; the `wamid`."""
    url = f"{graph_base.rstrip('/')}/{_node(phone_number_id, 'business phone number')}/messages"
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _required(reply.recipient, "recipient"),
    }
    if reply.template is not None:
        template: dict[str, Any] = {
            "name": reply.template.name,
            "language": {"code": reply.template.language},
        }
        if reply.template.parameters:
            parameters = [{"type": "text", "text": value} for value in reply.template.parameters]
            template["components"] = [{"type": "body", "parameters": parameters}]
        body.update(type="template", template=template)
    else:
        body.update(type="text", text={"preview_url": False, "body": reply.text})
        if reply.in_reply_to:
            body["context"] = {"message_id": reply.in_reply_to}
    answer = await post_json(client, url, token=access_token, body=body)
    messages = as_list(answer.get("messages"))
    return _platform_id(as_dict(messages[0]).get("id") if messages else None, "message id")


async def send_mastodon(
    client: httpx.AsyncClient, reply: OutboundReply, *, access_token: str, base_url: str
) -> str:
    """Post a status answering another (or a direct one mentioning the recipient); the new status id."""
    body: dict[str, Any] = {"status": reply.text}
    if reply.in_reply_to:
        body["in_reply_to_id"] = reply.in_reply_to
    if reply.kind == "direct":
        handle = _required(reply.recipient, "recipient").lstrip("@")
        if f"@{handle}".lower() not in reply.text.lower():
            body["status"] = f"@{handle} {reply.text}"
        body["visibility"] = "direct"
    elif not reply.in_reply_to:
        raise ReplyRefused("no status to answer")
    url = f"{base_url.rstrip('/')}/api/v1/statuses"
    answer = await post_json(
        client, url, token=access_token, body=body, headers={"Idempotency-Key": reply.key}
    )
    return _platform_id(answer.get("id"), "status id")


async def send_x(
    client: httpx.AsyncClient, reply: OutboundReply, *, access_token: str, api_base: str = X_API
) -> str:
    """Post a reply to a post, or a direct message to a user; the new post or DM event id."""
    base = api_base.rstrip("/")
    if reply.kind == "direct":
        url = f"{base}/2/dm_conversations/with/{_node(reply.recipient, 'recipient')}/messages"
        answer = await post_json(client, url, token=access_token, body={"text": reply.text})
        return _platform_id(as_dict(answer.get("data")).get("dm_event_id"), "DM event id")
    body = {"text": reply.text, "reply": {"in_reply_to_tweet_id": _required(reply.in_reply_to, "post")}}
    answer = await post_json(client, f"{base}/2/tweets", token=access_token, body=body)
    return _platform_id(as_dict(answer.get("data")).get("id"), "post id")


def _ref(value: Any) -> dict[str, str] | None:
    ref = as_dict(value)
    uri, cid = as_str(ref.get("uri")), as_str(ref.get("cid"))
    return {"uri": uri, "cid": cid} if uri and cid else None


async def send_bluesky(
    client: httpx.AsyncClient,
    reply: OutboundReply,
    *,
    identifier: str,
    app_password: str,
    pds_url: str = BSKY_PDS,
    now: datetime | None = None,
) -> str:
    """Post a reply in the answered post's thread as the channel's account; the new post's `at://` URI."""
    if reply.kind == "direct":
        raise ReplyRefused("private messages are not sent on Bluesky")
    parent_uri = _required(reply.in_reply_to, "post")
    xrpc = f"{pds_url.rstrip('/')}/xrpc"
    session = await post_json(
        client,
        f"{xrpc}/com.atproto.server.createSession",
        token=None,
        body={"identifier": identifier, "password": app_password},
        secrets=(app_password,),
    )
    jwt, did = as_str(session.get("accessJwt")), as_str(session.get("did"))
    if not jwt or not did:
        raise SendError("the session answer names no token or account", status=None, retryable=False)
    found = await post_json(
        client,
        f"{xrpc}/app.bsky.feed.getPosts",
        token=jwt,
        body=None,
        method="GET",
        params={"uris": parent_uri},
        secrets=(app_password,),
    )
    posts = as_list(found.get("posts"))
    post = as_dict(posts[0]) if posts else {}
    parent = _ref(post)
    if parent is None:
        raise SendError("the post answered was not found", status=404, retryable=False)
    root = _ref(as_dict(as_dict(post.get("record")).get("reply")).get("root")) or parent
    record = {
        "$type": BSKY_POST,
        "text": reply.text,
        "createdAt": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "reply": {"root": root, "parent": parent},
    }
    created = await post_json(
        client,
        f"{xrpc}/com.atproto.repo.createRecord",
        token=jwt,
        body={"repo": did, "collection": BSKY_POST, "record": record},
        secrets=(app_password,),
    )
    return _platform_id(created.get("uri"), "post URI")
