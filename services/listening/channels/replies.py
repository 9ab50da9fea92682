"""Replies: engagement decides what to say; listening, which holds the channels and their credentials,
sends it and answers with an event.

`request_reply` handles `engagement.reply.requested` in the consumer's inbox transaction. It checks what
can be checked without the platform (the channel is the tenant's, the platform can send, the post or
the person to answer is known, a template named is one the channel stores with as many parameters as
given, and a private message is inside the platform's window — `shared/windows.py`, from the person's last
message on that channel: WhatsApp's 24 hours, or a template; Messenger's and Instagram's 24 hours, or a
person's reply with the `HUMAN_AGENT` tag within 7 days) and either records the reply as `pending` (with
the tag it goes out with) or as `failed`, staging `listening.reply.failed` in the same transaction.
engagement refuses such replies up front already; this check is the channel owner's own. A request
for a message already pending or sent changes nothing; one already failed is tried again.

The `ReplySender` claims due pending rows (a lease: a crashed claim is retried once it runs out), sends
each through its platform's adapter (`connectors.replies`) outside any transaction, then records the
outcome and stages `listening.reply.sent` or `.failed` in one transaction. Timeouts, network errors,
5xx and 429 are retried with back-off up to `reply_attempts`; any other refusal fails at once with the
platform's message. A crash after the platform took a reply but before its outcome was recorded sends it
again when the lease runs out, and so does a retry after a timeout that hid a success (Mastodon's
`Idempotency-Key` absorbs both; the other platforms take no such key).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.channels.connectors import (
    BSKY_PDS,
    GRAPH_API,
    X_API,
    Backoff,
    OutboundReply,
    ReplyRefused,
    SendError,
    TemplateMessage,
    send_bluesky,
    send_mastodon,
    send_meta,
    send_whatsapp,
    send_x,
)
from services.listening.channels.connectors.pulling import USER_AGENT
from services.listening.channels.logic import channel_settings
from services.listening.channels.templates import find_template, render
from services.listening.models import Channel, Mention, Reply
from services.listening.settings import ListeningSettings
from shared.db import shielded, utcnow
from shared.egress import UnsafeURL, guarded_client
from shared.events.contracts import ReplyFailed, ReplyRequested, ReplySent
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.secrets import SecretBox
from shared.tenancy import scoped
from shared.wakeups import CommitWake, work_until_cancelled
from shared.windows import WINDOWED_PLATFORMS, decide

log = logging.getLogger("rapport.listening.replies")

SOURCE = "listening"
# Channel platforms listening can send through.
SENDING_PLATFORMS = frozenset({"meta", "whatsapp", "mastodon", "x", "bluesky"})
REPLY_BATCH = 16
# With nothing due, look again at least this often (other replicas record requests too).
REPLY_IDLE_S = 5.0
FailureCode = Literal[
    "channel_not_found",
    "unsupported_platform",
    "missing_credentials",
    "invalid_request",
    "outside_customer_service_window",
    "outside_human_agent_window",
    "templates_not_supported",
    "unknown_template",
    "template_parameter_mismatch",
    "platform_rejected",
    "platform_unavailable",
]
# Commits that queued a reply wake their own factory's sender at once (`shared/wakeups.py`).
_QUEUED = CommitWake("rapport.replies")


class Refused(Exception):
    """A reply that will not be sent, with the code and sentence `listening.reply.failed` carries."""

    def __init__(self, code: FailureCode, error: str, *, retryable: bool = False) -> None:
        super().__init__(error)
        self.code = code
        self.error = error
        self.retryable = retryable


async def request_reply(session: AsyncSession, *, tenant_id: str, request: ReplyRequested) -> Reply:
    """Record a requested reply as pending, or as failed (staging `listening.reply.failed`) when it cannot
    be sent; a message already pending or sent is left alone (no commit: the inbox's transaction)."""
    stmt = select(Reply).where(col(Reply.tenant_id) == tenant_id, col(Reply.message_id) == request.message_id)
    reply = (await session.execute(stmt)).scalars().first()
    if reply is not None and reply.status != "failed":
        log.info("reply.duplicate", extra={"message_id": request.message_id, "tenant_id": tenant_id})
        return reply
    if reply is None:
        reply = Reply(
            tenant_id=tenant_id,
            message_id=request.message_id,
            conversation_id=request.conversation_id,
            channel_id=request.channel_id,
            kind=request.kind,
            text=request.text,
        )
        session.add(reply)
    reply.conversation_id = request.conversation_id
    reply.channel_id = request.channel_id
    reply.kind = request.kind
    reply.text = request.text
    reply.template = request.template.model_dump_json() if request.template is not None else None
    reply.messaging_tag = None
    reply.status = "pending"
    reply.attempts = 0
    reply.next_attempt_at = utcnow()
    reply.error_code = reply.error = reply.failed_at = None
    try:
        await _prepare(session, reply, request)
    except Refused as exc:
        _fail(session, reply, exc)
        return reply
    _QUEUED.mark(session)
    log.info(
        "reply.queued",
        extra={"message_id": reply.message_id, "tenant_id": tenant_id, "channel_id": reply.channel_id},
    )
    return reply


async def _prepare(session: AsyncSession, reply: Reply, request: ReplyRequested) -> None:
    """Fill in the reply's target from the channel and the mention answered; Refused when it cannot go."""
    channel = await _channel(session, reply.tenant_id, request.channel_id)
    if channel is None:
        raise Refused("channel_not_found", "The channel was not found.")
    reply.platform = channel.platform
    if channel.platform not in SENDING_PLATFORMS:
        raise Refused("unsupported_platform", f"Sending is not supported on {channel.platform} yet.")
    if channel.platform == "bluesky" and request.kind == "direct":
        raise Refused("unsupported_platform", "Private messages are not supported on Bluesky yet.")
    if request.template is not None:
        await _template(session, reply, channel, request)
    mention = await _mention(session, reply.tenant_id, channel.id, request)
    reply.in_reply_to = request.in_reply_to or (mention.external_id if mention else None)
    reply.recipient = request.recipient or (
        mention.author_id if mention and request.kind == "direct" else None
    )
    if channel.platform == "whatsapp" and not reply.recipient and mention is not None:
        reply.recipient = mention.author_id  # WhatsApp has messages only: answering one messages its author
    reply.target_platform = mention.platform if mention else None
    private = channel.platform == "whatsapp" or (channel.platform == "meta" and request.kind == "direct")
    if private or request.kind == "direct":
        if not reply.recipient:
            raise Refused("invalid_request", "A private message needs a recipient (or the mention answered).")
    elif not reply.in_reply_to:
        raise Refused(
            "invalid_request", "A public reply needs the post answered (in_reply_to or mention_id)."
        )
    if private:
        assert reply.recipient is not None
        await _check_window(session, reply, channel, request)


async def _channel(session: AsyncSession, tenant_id: str, channel_id: str) -> Channel | None:
    """The tenant's channel (another tenant's is not found)."""
    stmt = scoped(Channel, tenant_id).where(col(Channel.id) == channel_id)
    return (await session.execute(stmt)).scalars().first()


async def _mention(
    session: AsyncSession, tenant_id: str, channel_id: str, request: ReplyRequested
) -> Mention | None:
    """The mention answered, by listening's id or by the platform's id on this channel (None if neither)."""
    if request.mention_id:
        stmt = select(Mention).where(
            col(Mention.tenant_id) == tenant_id, col(Mention.id) == request.mention_id
        )
        mention = (await session.execute(stmt)).scalars().first()
        if mention is None:
            raise Refused("invalid_request", "The mention answered was not found.")
        return mention
    if request.in_reply_to:
        stmt = select(Mention).where(
            col(Mention.tenant_id) == tenant_id,
            col(Mention.channel_id) == channel_id,
            col(Mention.external_id) == request.in_reply_to,
        )
        return (await session.execute(stmt)).scalars().first()
    return None


async def _template(session: AsyncSession, reply: Reply, channel: Channel, request: ReplyRequested) -> None:
    """A template reply: the channel must store it with as many parameters as given; the reply's text
    becomes its body filled in (what the customer reads)."""
    wanted = request.template
    assert wanted is not None
    if channel.platform != "whatsapp":
        raise Refused(
            "templates_not_supported",
            f"Message templates are sent on WhatsApp only, not through a {channel.platform} channel.",
        )
    stored = await find_template(
        session, tenant_id=reply.tenant_id, channel_id=channel.id, name=wanted.name, language=wanted.language
    )
    if stored is None:
        raise Refused(
            "unknown_template",
            f"The channel stores no approved template {wanted.name!r} in {wanted.language!r} "
            "(POST /v1/channels/{id}/templates).",
        )
    if len(wanted.parameters) != stored.parameters:
        raise Refused(
            "template_parameter_mismatch",
            f"The template {wanted.name!r} takes {stored.parameters} parameters; "
            f"{len(wanted.parameters)} were given.",
        )
    reply.text = render(stored.body, wanted.parameters)


async def _check_window(
    session: AsyncSession, reply: Reply, channel: Channel, request: ReplyRequested
) -> None:
    """Refused unless the platform's window (`shared/windows.py`) lets this private message go now,
    counted from the person's last message on this channel; the Meta tag it needs goes on the reply."""
    assert reply.recipient is not None
    stmt = (
        select(col(Mention.created_at), col(Mention.platform))
        .where(
            col(Mention.tenant_id) == reply.tenant_id,
            col(Mention.channel_id) == channel.id,
            col(Mention.author_id) == reply.recipient,
            col(Mention.platform).in_(list(WINDOWED_PLATFORMS)),
        )
        .order_by(col(Mention.created_at).desc())
        .limit(1)
    )
    last = (await session.execute(stmt)).first()
    last_at: datetime | None = last[0] if last is not None else None
    if channel.platform == "whatsapp":
        platform = "whatsapp"
    else:  # Meta: Messenger or Instagram, as the person's last message (or the post answered) says
        platform = (last[1] if last is not None else None) or reply.target_platform or "messenger"
    decision = decide(
        platform,
        private=True,
        last_inbound_at=last_at,
        now=utcnow(),
        human=request.human_agent,
        template=request.template is not None,
    )
    if not decision.allowed:
        assert decision.code is not None
        raise Refused(decision.code, decision.reason)
    reply.messaging_tag = decision.tag


def _fail(session: AsyncSession, reply: Reply, exc: Refused) -> None:
    """Record the reply as failed and stage `listening.reply.failed` (the caller commits)."""
    now = utcnow()
    reply.status = "failed"
    reply.error_code = exc.code
    reply.error = exc.error[:400]
    reply.failed_at = now
    stage(
        session,
        new_event(
            ReplyFailed(
                message_id=reply.message_id,
                conversation_id=reply.conversation_id,
                channel_id=reply.channel_id,
                code=exc.code,
                error=exc.error,
                retryable=exc.retryable,
                attempts=reply.attempts,
                failed_at=now,
            ),
            source=SOURCE,
            tenant_id=reply.tenant_id,
            subject=reply.message_id,
        ),
    )
    log.info(
        "reply.failed",
        extra={"message_id": reply.message_id, "tenant_id": reply.tenant_id, "code": exc.code},
    )


def _template_message(stored: str | None) -> TemplateMessage | None:
    if not stored:
        return None
    data = json.loads(stored)
    return TemplateMessage(
        name=str(data["name"]),
        language=str(data["language"]),
        parameters=tuple(str(value) for value in data.get("parameters") or ()),
    )


Sender = Callable[[httpx.AsyncClient, OutboundReply, dict[str, Any], dict[str, Any]], Awaitable[str]]


def _secret(secrets: dict[str, Any], name: str) -> str:
    value = secrets.get(name)
    if not isinstance(value, str) or not value:
        raise Refused("missing_credentials", f"The channel has no {name} to send with.")
    return value


def _optional(secrets: dict[str, Any], name: str) -> str | None:
    value = secrets.get(name)
    return value if isinstance(value, str) and value else None


async def _meta(
    client: httpx.AsyncClient, out: OutboundReply, secrets: dict[str, Any], settings: dict[str, Any]
) -> str:
    return await send_meta(
        client,
        out,
        access_token=_secret(secrets, "access_token"),
        app_secret=_optional(secrets, "app_secret"),
        graph_base=str(settings.get("graph_base_url") or GRAPH_API),
        page_id=settings.get("page_id"),
    )


async def _whatsapp(
    client: httpx.AsyncClient, out: OutboundReply, secrets: dict[str, Any], settings: dict[str, Any]
) -> str:
    phone_number_id = settings.get("phone_number_id")
    if not isinstance(phone_number_id, str) or not phone_number_id:
        raise Refused("missing_credentials", "The channel names no phone_number_id to send from.")
    return await send_whatsapp(
        client,
        out,
        access_token=_secret(secrets, "access_token"),
        phone_number_id=phone_number_id,
        graph_base=str(settings.get("graph_base_url") or GRAPH_API),
    )


async def _mastodon(
    client: httpx.AsyncClient, out: OutboundReply, secrets: dict[str, Any], settings: dict[str, Any]
) -> str:
    return await send_mastodon(
        client, out, access_token=_secret(secrets, "access_token"), base_url=str(settings["base_url"])
    )


async def _x(
    client: httpx.AsyncClient, out: OutboundReply, secrets: dict[str, Any], settings: dict[str, Any]
) -> str:
    return await send_x(
        client,
        out,
        access_token=_secret(secrets, "access_token"),
        api_base=str(settings.get("api_base_url") or X_API),
    )


async def _bluesky(
    client: httpx.AsyncClient, out: OutboundReply, secrets: dict[str, Any], settings: dict[str, Any]
) -> str:
    return await send_bluesky(
        client,
        out,
        identifier=_secret(secrets, "identifier"),
        app_password=_secret(secrets, "app_password"),
        pds_url=str(settings.get("pds_url") or BSKY_PDS),
    )


SENDERS: dict[str, Sender] = {
    "meta": _meta,
    "whatsapp": _whatsapp,
    "mastodon": _mastodon,
    "x": _x,
    "bluesky": _bluesky,
}


class ReplySender:
    """Sends pending replies off the consumer's path, crash-safe, with bounded retries."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        settings: ListeningSettings,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.wake = _QUEUED.of(sessions)
        self.max_attempts = max(1, settings.reply_attempts)
        self.backoff = Backoff(base=max(0.01, settings.reply_retry_s), cap=300.0)
        timeout = max(0.1, settings.reply_timeout_s)
        # A claim outlives the longest send, so two replicas never send one reply at the same time.
        self.lease = timedelta(seconds=max(60.0, 4 * timeout))
        # Redirects are not followed: a POST is not repeated at another address.
        self.client = client or guarded_client(
            allow_private=settings.connector_allow_private_urls,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def run(self) -> None:
        """Forever: send what is due, else sleep until the next retry is due or a request queues one."""
        try:
            await work_until_cancelled(
                run_once=self.run_once,
                idle_for=self._idle_for,
                wake=self.wake,
                fallback_s=REPLY_IDLE_S,
                failed_event="reply.loop_failed",
                log=log,
            )
        finally:
            await self.client.aclose()

    async def run_once(self) -> int:
        """Send every claimable due reply once; how many were claimed."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._process(row_id) for row_id in claimed))
        return len(claimed)

    async def _idle_for(self) -> float:
        async with self.sessions() as session:
            stmt = select(func.min(Reply.next_attempt_at)).where(col(Reply.status) == "pending")
            due = (await session.execute(stmt)).scalar_one_or_none()
        if due is None:
            return REPLY_IDLE_S
        return min(REPLY_IDLE_S, max(0.02, (due - utcnow()).total_seconds()))

    async def _claim(self) -> list[str]:
        now = utcnow()
        async with self.sessions() as session:
            stmt = (
                select(col(Reply.id))
                .where(col(Reply.status) == "pending", col(Reply.next_attempt_at) <= now)
                .order_by(col(Reply.next_attempt_at))
                .limit(REPLY_BATCH)
            )
            candidates = list((await session.execute(stmt)).scalars())
            claimed: list[str] = []
            for row_id in candidates:
                # Conditional on still being due: another replica's claim in between wins.
                result = await session.execute(
                    update(Reply)
                    .where(
                        col(Reply.id) == row_id,
                        col(Reply.status) == "pending",
                        col(Reply.next_attempt_at) <= now,
                    )
                    .values(next_attempt_at=now + self.lease, attempts=Reply.attempts + 1)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            await session.commit()
        return claimed

    async def _process(self, row_id: str) -> None:
        async with self.sessions() as session:
            reply = await session.get(Reply, row_id)
            channel = None if reply is None else await _channel(session, reply.tenant_id, reply.channel_id)
        if reply is None:
            return
        attempts = reply.attempts
        try:
            if channel is None:
                raise Refused("channel_not_found", "The channel was deleted before the reply was sent.")
            sender = SENDERS.get(channel.platform)
            if sender is None:
                raise Refused("unsupported_platform", f"Sending is not supported on {channel.platform} yet.")
            out = OutboundReply(
                key=reply.message_id,
                kind="direct" if reply.kind == "direct" else "public",
                text=reply.text,
                in_reply_to=reply.in_reply_to,
                recipient=reply.recipient,
                target_platform=reply.target_platform,
                template=_template_message(reply.template),
                tag=reply.messaging_tag,
            )
            platform_id = await sender(
                self.client, out, self.box.open(channel.secrets), channel_settings(channel)
            )
        except Refused as exc:
            await shielded(self._finish(row_id, failure=exc))
            return
        except ReplyRefused as exc:
            await shielded(self._finish(row_id, failure=Refused("invalid_request", str(exc))))
            return
        except SendError as exc:
            await shielded(self._failed(row_id, exc, attempts=attempts))
            return
        except UnsafeURL:
            failure = Refused("platform_rejected", "The channel's API address is not a public address.")
            await shielded(self._finish(row_id, failure=failure))
            return
        except Exception as exc:
            # Unexpected (credentials that do not decrypt, a bug): retried like an outage, never lost.
            error = SendError(f"internal error ({type(exc).__name__})", status=None, retryable=True)
            await shielded(self._failed(row_id, error, attempts=attempts))
            return
        await shielded(self._finish(row_id, platform_id=platform_id))

    async def _failed(self, row_id: str, exc: SendError, *, attempts: int) -> None:
        if exc.retryable and attempts < self.max_attempts:
            delay = self.backoff.delay(attempts)
            if exc.retry_after is not None and exc.retry_after > delay:
                delay = min(exc.retry_after, self.backoff.cap)
            log.warning(
                "reply.retrying",
                extra={
                    "reply_id": row_id,
                    "status": exc.status,
                    "attempt": attempts,
                    "delay_s": round(delay, 3),
                },
            )
            async with self.sessions() as session:
                await session.execute(
                    update(Reply)
                    .where(col(Reply.id) == row_id, col(Reply.status) == "pending")
                    .values(next_attempt_at=utcnow() + timedelta(seconds=delay), error=exc.message[:400])
                )
                await session.commit()
            return
        if exc.retryable:
            failure = Refused(
                "platform_unavailable", f"Gave up after {attempts} attempts: {exc.message}", retryable=True
            )
        else:
            failure = Refused("platform_rejected", exc.message)
        await self._finish(row_id, failure=failure)

    async def _finish(
        self, row_id: str, *, platform_id: str | None = None, failure: Refused | None = None
    ) -> None:
        """Record the outcome and stage its event in one transaction, once (a row already finished by
        another replica after an expired lease is left alone)."""
        async with self.sessions() as session:
            # The conditional UPDATE decides who finishes (it waits for a concurrent finisher's commit).
            finished = await session.execute(
                update(Reply)
                .where(col(Reply.id) == row_id, col(Reply.status) == "pending")
                .values(status="failed" if failure is not None else "sent")
            )
            reply = await session.get(Reply, row_id) if finished.rowcount == 1 else None  # type: ignore[attr-defined]
            if reply is None:
                await session.rollback()
                return
            if failure is not None:
                _fail(session, reply, failure)
            else:
                assert platform_id is not None
                now = utcnow()
                reply.status = "sent"
                reply.platform_message_id = platform_id[:256]
                reply.sent_at = now
                reply.error = None
                stage(
                    session,
                    new_event(
                        ReplySent(
                            message_id=reply.message_id,
                            conversation_id=reply.conversation_id,
                            channel_id=reply.channel_id,
                            platform=reply.platform or "",
                            platform_message_id=platform_id,
                            attempts=reply.attempts,
                            sent_at=now,
                            text=reply.text if reply.template else None,
                        ),
                        source=SOURCE,
                        tenant_id=reply.tenant_id,
                        subject=reply.message_id,
                    ),
                )
                log.info(
                    "reply.sent",
                    extra={
                        "message_id": reply.message_id,
                        "tenant_id": reply.tenant_id,
                        "attempt": reply.attempts,
                    },
                )
            await session.commit()
