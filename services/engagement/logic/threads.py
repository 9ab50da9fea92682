"""Thread keys: which thread of the customer's a post belongs to (a conversation is per customer and thread).

- A private message (its `kind` is `message`, or any post on a messaging platform: Messenger, WhatsApp)
  belongs to the direct thread of its author on the channel it came through (the platform when it came
  through none): `dm:` and a digest of (channel or platform, the author's platform id, else handle).
- A public post that answers nothing starts a thread rooted at itself: `post:` and a digest of
  (platform, its external id).
- A public reply (`in_reply_to`) to a message already in a conversation (the customer's, another
  customer's, or the brand's reply) joins that conversation's thread; a reply to a post engagement does
  not hold (the brand's own announcement, a post that never became a message) roots at that parent.

Keys are digests: fixed length for the index, and no handle written in it. The conversation stores its
key (`conversation.thread_key`); migration f6bd36a7782d computed the same keys for the rows it found.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.logic.replies import DIRECT_PLATFORMS, message_in_conversation
from services.engagement.models import Conversation
from shared.events.contracts import MentionPayload

DIGEST_CHARS = 40


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:DIGEST_CHARS]


def is_direct(platform: str, kind: str | None) -> bool:
    """Whether a post is a private message (the brand's replies to it are private messages too)."""
    return kind == "message" or platform in DIRECT_PLATFORMS


def direct_key(*, platform: str, channel_id: str | None, account: str) -> str:
    """The direct thread of one customer's account on a channel (or a platform, without a channel)."""
    return "dm:" + _digest(channel_id or f"platform:{platform}", account)


def post_key(*, platform: str, root_external_id: str) -> str:
    """The public thread rooted at one post of a platform."""
    return "post:" + _digest(platform, root_external_id)


def account_of(mention: MentionPayload) -> str:
    """The author's account: the platform's stable id when given (a handle can change hands)."""
    author = mention.author
    return f"id:{author.platform_user_id}" if author.platform_user_id else f"handle:{author.handle.lower()}"


def known_key(mention: MentionPayload) -> str | None:
    """The mention's thread key when it needs no look-up (a private message, a post that answers
    nothing); None for a public reply (`thread_of` looks up what it answers)."""
    if is_direct(mention.platform, getattr(mention, "kind", None)):
        channel_id = getattr(mention, "channel_id", None)
        return direct_key(platform=mention.platform, channel_id=channel_id, account=account_of(mention))
    if mention.in_reply_to is None:
        return post_key(platform=mention.platform, root_external_id=mention.external_id)
    return None


async def thread_of(
    session: AsyncSession, *, tenant_id: str, mention: MentionPayload
) -> tuple[str, Conversation | None]:
    """The mention's thread key, and the conversation holding the message it answers when there is one
    (one indexed look-up, only for public replies)."""
    known = known_key(mention)
    if known is not None or mention.in_reply_to is None:  # only a public reply has no known key
        return known or post_key(platform=mention.platform, root_external_id=mention.external_id), None
    found = await message_in_conversation(session, tenant_id=tenant_id, external_id=mention.in_reply_to)
    if found is not None:
        _, parent = found
        return parent.thread_key, parent
    return post_key(platform=mention.platform, root_external_id=mention.in_reply_to), None
