"""Meta webhook deliveries (Facebook Page feed, Instagram comments and @mentions, Messenger and
Instagram messaging) and WhatsApp Cloud API messages, into normalised mentions and compliance events.

Shapes follow Meta's Graph API webhook references: `{"object": "page" | "instagram", "entry": [{"id",
"time", "changes": [{"field", "value"}], "messaging": [...]}]}` and `{"object":
"whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {...}}]}]}`.

Instagram `mentions` webhooks carry ids only. Their text is read from the Graph API with the nodes Meta
documents for it (a mentioning comment cannot be read by its own id, only through the mentioned account):
`GET /{ig-user-id}?fields=mentioned_comment.comment_id({id}){...}` and
`GET /{ig-user-id}?fields=mentioned_media.media_id({id}){...}`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from services.listening.channels.connectors.models import (
    Author,
    ComplianceEvent,
    Engagement,
    InboundMention,
    MentionReference,
    ParseResult,
    PayloadError,
    Platform,
)
from services.listening.channels.connectors.pulling import (
    MAX_BODY,
    FetchError,
    read_limited,
    retry_after_seconds,
)
from services.listening.channels.connectors.text import (
    as_count,
    as_dict,
    as_list,
    as_str,
    from_any_time,
    from_epoch,
    from_iso,
    load_json,
)

log = logging.getLogger("rapport.listening.connectors")

# Feed items that are posts (a comment is its own kind); reactions, likes and the rest are not mentions.
_POST_ITEMS = {"status", "post", "photo", "video", "share", "link", "note", "event", "album"}
_UNKNOWN = "unknown"


def _entry_time(entry: dict[str, Any]) -> datetime | None:
    try:
        return from_epoch(entry.get("time"))
    except ValueError:
        return None


def _feed_change(value: dict[str, Any], *, page_id: str | None, fallback: datetime | None) -> ParseResult:
    out = ParseResult()
    item = value.get("item")
    verb = value.get("verb")
    if item != "comment" and item not in _POST_ITEMS:
        return out
    external_id = as_str(value.get("comment_id")) if item == "comment" else as_str(value.get("post_id"))
    if external_id is None:
        out.skipped += 1
        return out
    sender = as_dict(value.get("from"))
    sender_id = as_str(sender.get("id"))
    when: datetime | None
    try:
        when = from_any_time(value["created_time"]) if "created_time" in value else fallback
    except ValueError:
        when = fallback
    if verb == "remove":
        out.compliance.append(
            ComplianceEvent(
                kind="delete",
                platform="facebook",
                external_id=external_id,
                author_id=sender_id,
                occurred_at=when,
            )
        )
        return out
    message = value.get("message")
    if verb == "edited":
        if isinstance(message, str) and message.strip():
            out.compliance.append(
                ComplianceEvent(
                    kind="edit",
                    platform="facebook",
                    external_id=external_id,
                    author_id=sender_id,
                    text=message,
                    occurred_at=when,
                )
            )
        return out
    if verb != "add" or not isinstance(message, str) or not message.strip():
        return out  # hide/unhide and text-less photos or shares are not mentions
    if when is None:
        out.skipped += 1
        return out
    post = as_dict(value.get("post"))
    parent = as_str(value.get("parent_id")) if item == "comment" else None
    out.mentions.append(
        InboundMention(
            platform="facebook",
            kind="comment" if item == "comment" else "post",
            external_id=external_id,
            text=message,
            created_at=when,
            url=post.get("permalink_url") if item != "comment" else None,
            author=Author(
                handle=sender_id or _UNKNOWN, id=sender_id, display_name=as_str(sender.get("name"))
            ),
            in_reply_to=parent,
            account_id=page_id,
            own=sender_id is not None and sender_id == page_id,
        )
    )
    return out


def _instagram_change(
    field: str, value: dict[str, Any], *, ig_id: str | None, fallback: datetime | None
) -> ParseResult:
    out = ParseResult()
    if field == "mentions":
        media_id = as_str(value.get("media_id"))
        comment_id = as_str(value.get("comment_id"))
        if media_id is None and comment_id is None:
            out.skipped += 1
            return out
        out.references.append(
            MentionReference(
                platform="instagram",
                kind="comment" if comment_id else "post",
                external_id=comment_id or media_id or "",
                parent_id=media_id if comment_id else None,
                account_id=ig_id,
            )
        )
        return out
    if field not in {"comments", "live_comments"}:
        return out
    comment_id = as_str(value.get("id"))
    text = value.get("text")
    sender = as_dict(value.get("from"))
    if comment_id is None or not isinstance(text, str) or not text.strip() or fallback is None:
        out.skipped += 1
        return out
    sender_id = as_str(sender.get("id"))
    media = as_dict(value.get("media"))
    out.mentions.append(
        InboundMention(
            platform="instagram",
            kind="comment",
            external_id=comment_id,
            text=text,
            created_at=fallback,  # comment webhooks carry no time of their own: the entry's time is it
            author=Author(handle=as_str(sender.get("username")) or sender_id or _UNKNOWN, id=sender_id),
            in_reply_to=as_str(value.get("parent_id")) or as_str(media.get("id")),
            account_id=ig_id,
            own=sender_id is not None and sender_id == ig_id,
        )
    )
    return out


def _messaging_event(event: dict[str, Any], *, platform: Platform, account_id: str | None) -> ParseResult:
    out = ParseResult()
    sender_id = as_str(as_dict(event.get("sender")).get("id"))
    try:
        when = from_epoch(event.get("timestamp"))
    except ValueError:
        when = None
    edit = event.get("message_edit")
    if isinstance(edit, dict):
        mid = as_str(edit.get("mid"))
        if mid is None:
            out.skipped += 1
            return out
        text = edit.get("text")
        out.compliance.append(
            ComplianceEvent(
                kind="edit",
                platform=platform,
                external_id=mid,
                author_id=sender_id,
                text=text if isinstance(text, str) and text.strip() else None,
                occurred_at=when,
            )
        )
        return out
    message = event.get("message")
    if not isinstance(message, dict):
        return out  # deliveries, reads, postbacks, reactions, referrals: not mentions
    mid = as_str(message.get("mid"))
    if message.get("is_deleted") is True and mid is not None:
        out.compliance.append(
            ComplianceEvent(
                kind="delete", platform=platform, external_id=mid, author_id=sender_id, occurred_at=when
            )
        )
        return out
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        return out  # attachment-only messages carry no text to understand
    if mid is None or sender_id is None or when is None:
        out.skipped += 1
        return out
    echo = message.get("is_echo") is True
    out.mentions.append(
        InboundMention(
            platform=platform,
            kind="message",
            external_id=mid,
            text=text,
            created_at=when,
            author=Author(handle=sender_id, id=sender_id),
            in_reply_to=as_str(as_dict(message.get("reply_to")).get("mid")),
            account_id=account_id,
            own=echo,
        )
    )
    return out


def parse_meta(payload: Any) -> ParseResult:
    """A Facebook Page or Instagram webhook delivery (`object` "page" or "instagram")."""
    if not isinstance(payload, dict) or payload.get("object") not in {"page", "instagram"}:
        raise PayloadError("not a Meta page/instagram delivery")
    is_instagram = payload["object"] == "instagram"
    out = ParseResult()
    for entry in as_list(payload.get("entry")):
        if not isinstance(entry, dict):
            out.skipped += 1
            continue
        account_id = as_str(entry.get("id"))
        fallback = _entry_time(entry)
        for change in as_list(entry.get("changes")):
            change = as_dict(change)
            field = change.get("field")
            value = as_dict(change.get("value"))
            try:
                if is_instagram and isinstance(field, str):
                    out.extend(_instagram_change(field, value, ig_id=account_id, fallback=fallback))
                elif field == "feed":
                    out.extend(_feed_change(value, page_id=account_id, fallback=fallback))
            except ValidationError:
                out.skipped += 1
        for event in as_list(entry.get("messaging")):
            try:
                out.extend(
                    _messaging_event(
                        as_dict(event),
                        platform="instagram" if is_instagram else "messenger",
                        account_id=account_id,
                    )
                )
            except ValidationError:
                out.skipped += 1
    if out.skipped:
        log.info("connector.items_skipped", extra={"platform": payload["object"], "skipped": out.skipped})
    return out


_CAPTIONED = ("image", "video", "document")


def _whatsapp_text(message: dict[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "text":
        body = as_dict(message.get("text")).get("body")
    elif kind in _CAPTIONED:
        body = as_dict(message.get(kind)).get("caption")
    elif kind == "button":
        body = as_dict(message.get("button")).get("text")
    elif kind == "interactive":
        interactive = as_dict(message.get("interactive"))
        reply = as_dict(interactive.get("button_reply") or interactive.get("list_reply"))
        body = reply.get("title")
    else:
        body = None  # reactions, stickers, locations, contacts, unsupported
    return body if isinstance(body, str) and body.strip() else None


def parse_whatsapp(payload: Any) -> ParseResult:
    """A WhatsApp Cloud API webhook delivery: inbound `messages` become mentions; `statuses` are ignored."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("not a WhatsApp Business Account delivery")
    out = ParseResult()
    for entry in as_list(payload.get("entry")):
        for change in as_list(as_dict(entry).get("changes")):
            change = as_dict(change)
            if change.get("field") != "messages":
                continue
            value = as_dict(change.get("value"))
            account_id = as_str(as_dict(value.get("metadata")).get("phone_number_id"))
            names = {
                as_str(contact.get("wa_id")): as_str(as_dict(contact.get("profile")).get("name"))
                for contact in map(as_dict, as_list(value.get("contacts")))
            }
            for message in map(as_dict, as_list(value.get("messages"))):
                text = _whatsapp_text(message)
                if text is None:
                    continue
                sender = as_str(message.get("from"))
                mid = as_str(message.get("id"))
                try:
                    if sender is None or mid is None:
                        raise ValueError("message without sender or id")
                    out.mentions.append(
                        InboundMention(
                            platform="whatsapp",
                            kind="message",
                            external_id=mid,
                            text=text,
                            created_at=from_epoch(message.get("timestamp")),
                            author=Author(handle=sender, id=sender, display_name=names.get(sender)),
                            in_reply_to=as_str(as_dict(message.get("context")).get("id")),
                            account_id=account_id,
                        )
                    )
                except (ValueError, ValidationError):
                    out.skipped += 1
    if out.skipped:
        log.info("connector.items_skipped", extra={"platform": "whatsapp", "skipped": out.skipped})
    return out


# --- Instagram @mentions: the Graph API read behind an id-only webhook -----------------------------

GRAPH_API = "https://graph.facebook.com/v21.0"
# The fields Meta documents on the mentioned comment and mentioned media nodes.
MENTIONED_COMMENT_FIELDS = "id,text,timestamp,like_count,media{id,permalink}"
MENTIONED_MEDIA_FIELDS = "id,caption,timestamp,permalink,username,like_count,comments_count"
# Graph API error codes that say "later": temporary errors and the throttling family.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613, 80001, 80002, 80005, 80006, 80008})
# "Object does not exist / unsupported request" (the comment or post is gone): asking again cannot help.
_GONE_CODES = frozenset({100, 803})
_GRAPH_ID = re.compile(r"^[0-9A-Za-z_]{1,64}$")


class GraphError(FetchError):
    """The Graph API refused a read: its HTTP status, Meta's error `code`, and whether a retry can help."""

    def __init__(
        self,
        status: int,
        code: int | None = None,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"Graph API {status} (code {code})")
        self.status = status
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


def graph_error(status: int, body: bytes, retry_after: str | None = None) -> GraphError:
    """The error of a failed Graph API answer (`{"error": {"code", "is_transient", ...}}`), classified."""
    try:
        error = as_dict(as_dict(load_json(body)).get("error"))
    except PayloadError:
        error = {}
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    transient = error.get("is_transient") is True or code in TRANSIENT_CODES
    permanent = not transient and (status == 404 or (400 <= status < 500 and code in _GONE_CODES))
    wait = retry_after_seconds(retry_after) if status in {429, 503} or transient else None
    return GraphError(status, code, permanent=permanent, retry_after=wait)


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Meta's `appsecret_proof`: HMAC-SHA256 of the access token keyed with the app secret, hex."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def mentioned_fields(reference: MentionReference) -> str:
    """The `fields` expression that reads a mentioning comment or caption through the mentioned account."""
    if not _GRAPH_ID.match(reference.external_id):
        raise PayloadError("not a Graph API id")
    if reference.kind == "comment":
        return f"mentioned_comment.comment_id({reference.external_id}){{{MENTIONED_COMMENT_FIELDS}}}"
    return f"mentioned_media.media_id({reference.external_id}){{{MENTIONED_MEDIA_FIELDS}}}"


def parse_mentioned(reference: MentionReference, data: Any) -> InboundMention | None:
    """The Graph API's answer for a reference as a mention; None when it has no text (a bare photo)."""
    if not isinstance(data, dict):
        raise PayloadError("not a Graph API object")
    is_comment = reference.kind == "comment"
    node = data.get("mentioned_comment" if is_comment else "mentioned_media")
    if not isinstance(node, dict):
        raise PayloadError("the answer lacks the mentioned object")
    text = node.get("text" if is_comment else "caption")
    if not isinstance(text, str) or not text.strip():
        return None
    media = as_dict(node.get("media"))
    handle = as_str(node.get("username"))
    try:
        return InboundMention(
            platform="instagram",
            kind=reference.kind,
            external_id=reference.external_id,
            text=text,
            created_at=from_iso(node.get("timestamp")),
            url=as_str(media.get("permalink")) if is_comment else as_str(node.get("permalink")),
            # A mentioned comment's author is not among the fields Meta returns for it.
            author=Author(handle=handle or _UNKNOWN),
            in_reply_to=(reference.parent_id or as_str(media.get("id"))) if is_comment else None,
            engagement=Engagement(
                likes=as_count(node.get("like_count")),
                replies=0 if is_comment else as_count(node.get("comments_count")),
            ),
            account_id=reference.account_id,
        )
    except (ValueError, ValidationError) as exc:
        raise PayloadError(f"unusable mentioned object ({type(exc).__name__})") from exc


async def fetch_mentioned(
    reference: MentionReference,
    *,
    client: httpx.AsyncClient,
    access_token: str,
    app_secret: str | None = None,
    graph_base: str = GRAPH_API,
    max_body: int = MAX_BODY,
) -> InboundMention | None:
    """Read an Instagram @mention's text from the Graph API (the token travels in a header, not the URL)."""
    account = reference.account_id
    if not account or not _GRAPH_ID.match(account):
        raise PayloadError("the reference names no Instagram account to read it through")
    params = {"fields": mentioned_fields(reference)}
    if app_secret:
        params["appsecret_proof"] = appsecret_proof(access_token, app_secret)
    url = f"{graph_base.rstrip('/')}/{quote(account, safe='')}"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    async with client.stream("GET", url, params=params, headers=headers) as response:
        body = await read_limited(response, max_body)
        if response.status_code >= 400:
            raise graph_error(response.status_code, body, response.headers.get("Retry-After"))
    return parse_mentioned(reference, load_json(body))
