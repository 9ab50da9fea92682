"""X deliveries: Account Activity API webhooks (`tweet_create_events`, `tweet_delete_events`,
`direct_message_events`) and compliance events (v1.1 firehose `delete` / `status_withheld` /
`user_delete`, and the v2 compliance streams' `{"data": {"delete" | "tweet_edit" | "withheld" | "drop" |
"user_delete": ...}}`).

Tweets are v1.1 Tweet objects: `id_str`, `text` (or `extended_tweet.full_text` when `truncated`),
`user {id_str, screen_name, name, followers_count, verified}`, `retweeted_status`, `quoted_status_id_str`,
`edit_history {initial_tweet_id, edit_tweet_ids}`, `created_at` like `Wed Oct 10 20:19:24 +0000 2018`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.listening.channels.connectors.models import (
    Author,
    ComplianceEvent,
    Engagement,
    InboundMention,
    ParseResult,
    PayloadError,
)
from services.listening.channels.connectors.text import (
    as_count,
    as_dict,
    as_list,
    as_str,
    from_epoch,
    from_iso,
    from_twitter,
)

log = logging.getLogger("rapport.listening.connectors")


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _tweet_id(tweet: dict[str, Any]) -> str | None:
    return as_str(tweet.get("id_str")) or as_str(tweet.get("id"))


def _full_text(tweet: dict[str, Any]) -> str | None:
    extended = as_dict(tweet.get("extended_tweet")).get("full_text")
    for candidate in (extended, tweet.get("full_text"), tweet.get("text")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _tweet_time(tweet: dict[str, Any]) -> datetime:
    if "created_at" in tweet:
        try:
            return from_twitter(tweet["created_at"])
        except ValueError:
            pass
    return from_epoch(tweet.get("timestamp_ms"))


def parse_tweet(tweet: Any, *, for_user_id: str | None = None) -> InboundMention | ComplianceEvent:
    """One v1.1 Tweet object: a mention, or an `edit` compliance event when it is a later version."""
    if not isinstance(tweet, dict):
        raise ValueError("tweet is not an object")
    tweet_id = _tweet_id(tweet)
    user = as_dict(tweet.get("user"))
    user_id = as_str(user.get("id_str")) or as_str(user.get("id"))
    handle = as_str(user.get("screen_name"))
    if tweet_id is None or handle is None:
        raise ValueError("tweet without id or author")
    retweeted = tweet.get("retweeted_status")
    # A retweet's own text is a truncated "RT @user: ..."; the reposted tweet's full text is the content.
    text = _full_text(retweeted) if isinstance(retweeted, dict) else _full_text(tweet)
    if text is None:
        raise ValueError("tweet without text")
    created_at = _tweet_time(tweet)
    history = as_dict(tweet.get("edit_history"))
    initial = as_str(history.get("initial_tweet_id"))
    if initial is not None and initial != tweet_id:
        return ComplianceEvent(
            kind="edit",
            platform="x",
            external_id=initial,
            new_external_id=tweet_id,
            author_id=user_id,
            text=text,
            occurred_at=created_at,
        )
    lang = as_str(tweet.get("lang"))
    quoted = as_str(tweet.get("quoted_status_id_str")) if tweet.get("is_quote_status") else None
    return InboundMention(
        platform="x",
        kind="post",
        external_id=tweet_id,
        text=text,
        created_at=created_at,
        url=f"https://x.com/{handle}/status/{tweet_id}",
        author=Author(
            handle=handle,
            id=user_id,
            display_name=as_str(user.get("name")),
            followers=as_count(user.get("followers_count")),
            verified=_flag(user.get("verified")),
        ),
        in_reply_to=as_str(tweet.get("in_reply_to_status_id_str")),
        engagement=Engagement(
            likes=as_count(tweet.get("favorite_count")),
            reposts=as_count(tweet.get("retweet_count")) + as_count(tweet.get("quote_count")),
            replies=as_count(tweet.get("reply_count")),
        ),
        lang_hint=lang if lang and lang != "und" else None,
        reposted_id=_tweet_id(retweeted) if isinstance(retweeted, dict) else None,
        quoted_id=quoted,
        account_id=for_user_id,
        own=for_user_id is not None and user_id == for_user_id,
    )


def _direct_message(event: dict[str, Any], users: dict[str, Any], for_user_id: str | None) -> InboundMention:
    if event.get("type") != "message_create":
        raise LookupError("not a message")
    create = as_dict(event.get("message_create"))
    sender_id = as_str(create.get("sender_id"))
    text = as_dict(create.get("message_data")).get("text")
    event_id = as_str(event.get("id"))
    if sender_id is None or event_id is None or not isinstance(text, str):
        raise ValueError("direct message without sender, id or text")
    user = as_dict(users.get(sender_id))
    return InboundMention(
        platform="x",
        kind="message",
        external_id=event_id,
        text=text,
        created_at=from_epoch(event.get("created_timestamp")),
        author=Author(
            handle=as_str(user.get("screen_name")) or sender_id,
            id=sender_id,
            display_name=as_str(user.get("name")),
            followers=as_count(user.get("followers_count")) if "followers_count" in user else None,
            verified=_flag(user.get("verified")),
        ),
        account_id=for_user_id,
        own=sender_id == for_user_id,
    )


def parse_x_activity(payload: Any) -> ParseResult:
    """An Account Activity API delivery (`for_user_id` plus one kind of `*_events`)."""
    if not isinstance(payload, dict) or "for_user_id" not in payload:
        raise PayloadError("not an Account Activity delivery")
    for_user_id = as_str(payload.get("for_user_id"))
    out = ParseResult()
    for tweet in as_list(payload.get("tweet_create_events")):
        try:
            item = parse_tweet(tweet, for_user_id=for_user_id)
        except (ValueError, ValidationError):
            out.skipped += 1
            continue
        if isinstance(item, InboundMention):
            out.mentions.append(item)
        else:
            out.compliance.append(item)
    for deleted in map(as_dict, as_list(payload.get("tweet_delete_events"))):
        status = as_dict(deleted.get("status"))
        try:
            out.compliance.append(
                ComplianceEvent(
                    kind="delete",
                    platform="x",
                    external_id=as_str(status.get("id")),
                    author_id=as_str(status.get("user_id")),
                    occurred_at=from_epoch(deleted["timestamp_ms"]) if "timestamp_ms" in deleted else None,
                )
            )
        except ValueError:
            out.skipped += 1
    users = as_dict(payload.get("users"))
    for event in map(as_dict, as_list(payload.get("direct_message_events"))):
        try:
            out.mentions.append(_direct_message(event, users, for_user_id))
        except LookupError:
            continue
        except ValueError:
            out.skipped += 1
    # favorite/follow/block/mute/typing/read events and `user_event` (app revoked) carry no content.
    if out.skipped:
        log.info("connector.items_skipped", extra={"platform": "x", "skipped": out.skipped})
    return out


def _v1_compliance(event: dict[str, Any]) -> ComplianceEvent | None:
    if "delete" in event:
        body = as_dict(event["delete"])
        status = as_dict(body.get("status"))
        return ComplianceEvent(
            kind="delete",
            platform="x",
            external_id=as_str(status.get("id_str")) or as_str(status.get("id")),
            author_id=as_str(status.get("user_id_str")) or as_str(status.get("user_id")),
            occurred_at=from_epoch(body["timestamp_ms"]) if "timestamp_ms" in body else None,
        )
    if "status_withheld" in event:
        body = as_dict(event["status_withheld"])
        return ComplianceEvent(
            kind="withheld",
            platform="x",
            external_id=as_str(body.get("id_str")) or as_str(body.get("id")),
            author_id=as_str(body.get("user_id_str")) or as_str(body.get("user_id")),
            countries=[c for c in as_list(body.get("withheld_in_countries")) if isinstance(c, str)],
            occurred_at=from_epoch(body["timestamp_ms"]) if "timestamp_ms" in body else None,
        )
    if "user_delete" in event:
        body = as_dict(event["user_delete"])
        return ComplianceEvent(
            kind="user_delete",
            platform="x",
            author_id=as_str(body.get("id_str")) or as_str(body.get("id")),
            occurred_at=from_epoch(body["timestamp_ms"]) if "timestamp_ms" in body else None,
        )
    return None


def _v2_compliance(data: dict[str, Any]) -> ComplianceEvent | None:
    for name, body in data.items():
        body = as_dict(body)
        tweet = as_dict(body.get("tweet"))
        when = from_iso(body["event_at"]) if "event_at" in body else None
        if name == "delete":
            return ComplianceEvent(
                kind="delete",
                platform="x",
                external_id=as_str(tweet.get("id")),
                author_id=as_str(tweet.get("author_id")),
                occurred_at=when,
            )
        if name == "tweet_edit":
            # We store a tweet under the id it first reached us with; every version names the first.
            return ComplianceEvent(
                kind="edit",
                platform="x",
                external_id=as_str(body.get("initial_tweet_id")) or as_str(tweet.get("id")),
                new_external_id=as_str(tweet.get("id")),
                occurred_at=when,
            )
        if name in {"withheld", "drop"}:
            return ComplianceEvent(
                kind="withheld",
                platform="x",
                external_id=as_str(tweet.get("id")),
                author_id=as_str(tweet.get("author_id")),
                countries=[c for c in as_list(body.get("withheld_in_countries")) if isinstance(c, str)],
                occurred_at=when,
            )
        if name == "user_delete":
            return ComplianceEvent(
                kind="user_delete",
                platform="x",
                author_id=as_str(as_dict(body.get("user")).get("id")),
                occurred_at=when,
            )
    return None


def parse_x_compliance(payload: Any) -> ParseResult:
    """One compliance event or a list of them (v1.1 firehose or v2 stream shapes)."""
    events = payload if isinstance(payload, list) else [payload]
    out = ParseResult()
    for event in events:
        if not isinstance(event, dict):
            out.skipped += 1
            continue
        try:
            data = event.get("data")
            item = _v2_compliance(data) if isinstance(data, dict) else _v1_compliance(event)
        except ValueError:
            out.skipped += 1
            continue
        if item is not None:
            out.compliance.append(item)  # undrop, user_undelete, scrub_geo and the like need no action here
    return out


def parse_x(payload: Any) -> ParseResult:
    """Any X delivery this module knows: Account Activity webhooks or compliance events."""
    if isinstance(payload, dict) and "for_user_id" in payload:
        return parse_x_activity(payload)
    if isinstance(payload, list) or (
        isinstance(payload, dict) and ({"data", "delete", "status_withheld", "user_delete"} & payload.keys())
    ):
        return parse_x_compliance(payload)
    raise PayloadError("not an X delivery")
