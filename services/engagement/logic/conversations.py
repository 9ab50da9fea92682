"""Conversations: opened or continued by actionable mentions, worked by staff through their statuses.

Statuses: open, pending (waiting on the customer), snoozed (open again at `snoozed_until`), resolved and
closed. A conversation is per customer and thread (`thread_key`, logic/threads.py: their direct
messages on a channel, or a public thread by its root post): a customer has at most one conversation in
progress (open, pending or snoozed) per thread, a partial unique index holds it even with replicas
racing. A new post of the customer joins the one of its thread (and opens it again if it was pending or
snoozed: it is the team's move); with none in progress, it reopens the thread's latest conversation if
that was resolved within the reopen window, and opens a new conversation otherwise (a closed one never
reopens). Every status move is written to the conversation's history and staged as
`engagement.conversation.status_changed` in the same transaction.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, Table, and_, bindparam, case, func, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.engagement.errors import ConversationConflict, ConversationNotFound, InvalidConversationUpdate
from services.engagement.logic import assignment, rules, sla, surveys, threads
from services.engagement.logic.assignment import ASSIGNMENT_LOCK, SOURCE
from services.engagement.logic.replies import stage_message
from services.engagement.logic.routing import PRIORITIES, priority_for
from services.engagement.models import (
    ACTIVE_STATUSES,
    Conversation,
    ConversationNote,
    Message,
    Status,
    StatusChange,
    new_row,
)
from services.engagement.schemas import (
    LABELS_MAX,
    ConversationDetail,
    ConversationPage,
    ConversationRead,
    ConversationUpdate,
    NoteCreate,
    NoteRead,
)
from shared.db import lock_tenant, utcnow
from shared.events.contracts import (
    ConversationOpened,
    ConversationReopened,
    ConversationStatusChanged,
    MentionPayload,
    MentionResolved,
    ProfileSnapshot,
)
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import keyset_bound, paginate
from shared.reads import Reader, columns_of
from shared.telemetry import caused_by
from shared.tenancy import get_row_scoped, get_scoped, scoped

log = logging.getLogger("rapport.engagement.conversations")

DEFAULT_REOPEN_WINDOW = timedelta(days=7)
EXCERPT_CHARS = 200
# Merges followed at most from a thread's latest conversation to the one holding its messages now.
MERGE_HOPS = 8
# (customer, thread) pairs looked up per statement (`_latest_of_threads`).
MAX_PAIRS = 256


@dataclass
class Batch:
    """What routing one tenant's fetched batch of mentions reads once instead of per mention.

    `messages`: the batch's mentions that are messages already, by mention id (read once, then kept
    current as the batch adds messages). `latest`: each customer's latest conversation per thread, by
    (profile id, thread key), read once for the posts whose thread is known without a look-up (None:
    none yet), then kept current. `pool`: the tenant's teams and online agents with their loads, read at
    the first opening under the assignment lock and kept current by `assignment.place`; dropped after a
    reopening (which reads and changes loads itself) and read again at the next opening."""

    messages: dict[str, Message] = field(default_factory=dict)
    latest: dict[tuple[str, str], Conversation | None] = field(default_factory=dict)
    pool: assignment.Pool | None = None
    locked: bool = False


async def receive_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: MentionResolved,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    now: datetime | None = None,
) -> Message | None:
    """Put an actionable mention into its customer's conversation in progress on its thread, reopening a
    recently resolved one or opening one if needed."""
    decision = await _gate(session, tenant_id=tenant_id, resolved=resolved, now=now)
    if decision is None:
        return None
    return await _route(
        session,
        tenant_id=tenant_id,
        resolved=resolved,
        decision=decision,
        reopen_window=reopen_window,
        now=now or utcnow(),
        batch=None,
    )


async def receive_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: Sequence[MentionResolved],
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    causes: Sequence[str | None] | None = None,
) -> list[Message | None]:
    """`receive_mention` for one tenant's fetched batch, in order, with what routing reads done once for
    the batch (`Batch`): the messages the batch's mentions already are, the customers' latest
    conversations on the threads, the agent pool. Each mention is routed as it would be alone, after the
    ones before it; rows are written by the transaction's next flush (one INSERT per table for the batch
    when nothing reads in between). The message each mention became (None: not routed).

    `causes`: per mention, the id of the consumed event that brought it; what its routing stages
    continues that event's trace (`caused_by`)."""
    out: list[Message | None] = [None] * len(resolved)
    routed: list[tuple[int, MentionResolved, rules.Decision]] = []

    async def route_so_far() -> None:
        if not routed:
            return
        batch = await _prefetch(session, tenant_id=tenant_id, resolved=[item for _, item, _ in routed])
        for i, item, decision in routed:
            with caused_by(causes[i] if causes else None):
                out[i] = await _route(
                    session,
                    tenant_id=tenant_id,
                    resolved=item,
                    decision=decision,
                    reopen_window=reopen_window,
                    now=utcnow(),
                    batch=batch,
                )
        routed.clear()

    for i, item in enumerate(resolved):
        if surveys.may_answer(item.mention):
            # Whether a score answers a survey depends on the posts before it (one that reopened the
            # survey's conversation makes it none): those are routed first.
            await route_so_far()
        with caused_by(causes[i] if causes else None):
            decision = await _gate(session, tenant_id=tenant_id, resolved=item, now=None)
        if decision is not None:
            routed.append((i, item, decision))
    await route_so_far()
    # One line per batch at INFO (a line per message cost engagement about 4 % of its CPU per mention);
    # each message's own line is at DEBUG.
    log.info("messages.added", extra={"tenant_id": tenant_id, "count": sum(m is not None for m in out)})
    return out


async def _gate(
    session: AsyncSession, *, tenant_id: str, resolved: MentionResolved, now: datetime | None
) -> rules.Decision | None:
    """The routing decision of a mention that should be in a conversation; None for one that should not
    (a survey's answer, taken here; a post no rule or default opens)."""
    # A post that is just a score may answer the profile's survey (a look at the text first, then one query).
    if await surveys.answer_by_reply(session, tenant_id=tenant_id, resolved=resolved, now=now):
        return None
    # Then the routing rules (cached per tenant): a rule may open what the default would not, or ignore it.
    decision = await rules.decide(
        session, tenant_id=tenant_id, mention=resolved.mention, profile=resolved.profile
    )
    return decision if decision.open else None


# The messages some mentions already are (a redelivered batch, a mention routed by a correction first).
_MESSAGES_OF_MENTIONS = select(Message).where(
    col(Message.tenant_id) == bindparam("tenant_id"),
    col(Message.mention_id).in_(bindparam("mention_ids", expanding=True)),
)


async def messages_of_mentions(
    session: AsyncSession, *, tenant_id: str, mention_ids: Collection[str]
) -> dict[str, Message]:
    """The messages some mentions already are, by mention id (one statement)."""
    found: dict[str, Message] = {}
    params = {"tenant_id": tenant_id, "mention_ids": sorted(mention_ids)}
    for message in (await session.execute(_MESSAGES_OF_MENTIONS, params)).scalars():
        if message.mention_id is not None:
            found.setdefault(message.mention_id, message)
    return found


@functools.cache
def _latest_of_pairs(size: int) -> Select[Any]:
    """Each of `size` (customer, thread) pairs' latest conversation (`_LATEST_ORDER`): the pairs (bound as
    `profile_<i>`, `thread_<i>`) as a list of rows joined to the (tenant, profile, thread) index, one
    look-up each. Built once per size, and compiled once (a VALUES list with data has no cache key: it
    was compiled for every batch)."""
    rows = [
        select(
            bindparam(f"profile_{i}", type_=String).label("profile_id"),
            bindparam(f"thread_{i}", type_=String).label("thread_key"),
        )
        for i in range(size)
    ]
    wanted = (union_all(*rows) if size > 1 else rows[0]).cte("wanted")
    rank = (
        func.row_number()
        .over(
            partition_by=(col(Conversation.profile_id), col(Conversation.thread_key)),
            order_by=_LATEST_ORDER,
        )
        .label("rank")
    )
    ranked = (
        select(Conversation, rank)
        .select_from(wanted)
        .join(
            Conversation,
            and_(
                col(Conversation.tenant_id) == bindparam("tenant_id"),
                col(Conversation.profile_id) == wanted.c.profile_id,
                col(Conversation.thread_key) == wanted.c.thread_key,
            ),
        )
        .subquery()
    )
    latest = aliased(Conversation, ranked)
    return select(latest).where(ranked.c.rank == 1)


async def _latest_of_threads(
    session: AsyncSession, *, tenant_id: str, pairs: Collection[tuple[str, str]]
) -> Sequence[Conversation]:
    """Each (customer, thread)'s latest conversation for a set of pairs, in one statement
    (`_latest_of_pairs`). The pairs are padded to a power of two with the last one repeated (the same
    conversation ranks twice; the first is kept), so that a few statement shapes serve every batch."""
    found: list[Conversation] = []
    ordered = sorted(pairs)
    for start in range(0, len(ordered), MAX_PAIRS):  # SQLite joins at most 500 SELECTs with UNION ALL
        wanted = ordered[start : start + MAX_PAIRS]
        size = 1 << (len(wanted) - 1).bit_length()
        wanted += [wanted[-1]] * (size - len(wanted))
        params: dict[str, Any] = {"tenant_id": tenant_id}
        for i, (profile_id, thread_key) in enumerate(wanted):
            params[f"profile_{i}"], params[f"thread_{i}"] = profile_id, thread_key
        found.extend((await session.execute(_latest_of_pairs(size), params)).scalars().all())
    return found


async def _prefetch(session: AsyncSession, *, tenant_id: str, resolved: Sequence[MentionResolved]) -> Batch:
    """What routing `resolved` reads, read once: two statements (see `Batch`)."""
    ids = {item.mention.mention_id for item in resolved}
    batch = Batch(messages=await messages_of_mentions(session, tenant_id=tenant_id, mention_ids=ids))
    pairs = set()
    for item in resolved:
        key = threads.known_key(item.mention)
        if key is not None and item.mention.mention_id not in batch.messages:
            pairs.add((item.profile_id, key))
    if pairs:
        batch.latest = dict.fromkeys(pairs)
        for conversation in await _latest_of_threads(session, tenant_id=tenant_id, pairs=pairs):
            batch.latest[(conversation.profile_id, conversation.thread_key)] = conversation
    return batch


async def _route(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: MentionResolved,
    decision: rules.Decision,
    reopen_window: timedelta,
    now: datetime,
    batch: Batch | None,
) -> Message | None:
    """Put a mention the rules open into its conversation (see `receive_mention`); with `batch`, what the
    batch read once is used (and kept current) instead of a look-up."""
    mention = resolved.mention
    if batch is not None:
        existing = batch.messages.get(mention.mention_id)
    else:
        existing = (
            (
                await session.execute(
                    scoped(Message, tenant_id).where(col(Message.mention_id) == mention.mention_id)
                )
            )
            .scalars()
            .first()
        )
    if existing is not None:
        return existing
    thread_key, parent = await threads.thread_of(session, tenant_id=tenant_id, mention=mention)
    if parent is not None and parent.profile_id == resolved.profile_id and parent.status in ACTIVE_STATUSES:
        latest: Conversation | None = parent  # a reply in the customer's conversation in progress
    else:
        pair = (resolved.profile_id, thread_key)
        if batch is not None and pair in batch.latest:
            latest = batch.latest[pair]
        else:
            latest = await _latest(
                session, tenant_id=tenant_id, profile_id=resolved.profile_id, thread_key=thread_key
            )
        latest = await _merged_target(session, latest)
    conversation = latest if latest is not None and latest.status in ACTIVE_STATUSES else None
    if conversation is not None and conversation.status != "open":
        # The customer answered (pending) or wrote before the snooze ran out: it is the team's move again.
        move_status(session, conversation=conversation, to="open", cause="customer", by_user_id=None, now=now)
    if conversation is None:
        conversation = _reopenable(latest, since=now - reopen_window)
        if conversation is not None:
            _reopen(session, conversation=conversation, mention=mention, now=now)
            await assignment.reclaim(session, conversation=conversation, now=now)
            await sla.start_clock(session, conversation=conversation, now=now)
            if batch is not None:
                batch.pool = None  # loads changed outside the batch's pool: read again when needed
    opened = conversation is None
    if conversation is None:
        conversation = await _open(
            session,
            tenant_id=tenant_id,
            resolved=resolved,
            thread_key=thread_key,
            now=now,
            decision=decision,
            batch=batch,
        )
    else:
        # A later, more urgent post raises the thread's priority; it never lowers it.
        priority, reason = priority_for(mention, resolved.profile)
        if PRIORITIES.index(priority) > PRIORITIES.index(conversation.priority):
            conversation.priority, conversation.priority_reason = priority, reason
            await sla.reprioritise(session, conversation=conversation)
    _touch(conversation, mention=mention, profile=resolved.profile, now=now)
    session.add(conversation)
    message = new_row(
        Message,
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        mention_id=mention.mention_id,
        direction="inbound",
        platform=mention.platform,
        text=mention.text,
        intent=mention.analysis.intent,
        sentiment_label=mention.analysis.sentiment.label,
        posted_at=mention.created_at,
        external_id=mention.external_id[:256],
        kind=getattr(mention, "kind", None),
    )
    session.add(message)
    if batch is None:
        await session.flush()
    else:
        # Written with the batch's other rows at the next flush; later mentions of the batch find both.
        batch.messages[mention.mention_id] = message
        batch.latest[(resolved.profile_id, thread_key)] = conversation
    stage_message(session, message, verb="created")
    if opened:  # the matching rule's auto-acknowledgement answers this first message
        await rules.acknowledge(session, conversation=conversation, decision=decision, now=now)
    log.debug(
        "message.added",
        extra={
            "tenant_id": tenant_id,
            "conversation_id": conversation.id,
            "message_id": message.id,
            "mention_id": mention.mention_id,
        },
    )
    return message


async def in_progress(
    session: AsyncSession, *, tenant_id: str, profile_id: str, thread_key: str
) -> Conversation | None:
    stmt = scoped(Conversation, tenant_id).where(
        col(Conversation.profile_id) == profile_id,
        col(Conversation.thread_key) == thread_key,
        col(Conversation.status).in_(ACTIVE_STATUSES),
    )
    return (await session.execute(stmt)).scalars().first()


# The customer's conversation in progress on a thread, else its latest finished one (one indexed look-up).
_LATEST_ORDER = (
    case((col(Conversation.status).in_(ACTIVE_STATUSES), 0), else_=1),
    col(Conversation.updated_at).desc(),
    col(Conversation.id).desc(),
)


async def _latest(
    session: AsyncSession, *, tenant_id: str, profile_id: str, thread_key: str
) -> Conversation | None:
    """The customer's conversation in progress on the thread (at most one), else the thread's most
    recently updated one."""
    stmt = (
        scoped(Conversation, tenant_id)
        .where(col(Conversation.profile_id) == profile_id, col(Conversation.thread_key) == thread_key)
        .order_by(*_LATEST_ORDER)
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def _merged_target(session: AsyncSession, latest: Conversation | None) -> Conversation | None:
    """The conversation a merged one went into (and so on): the thread goes on there. Only a look-up
    when the thread's latest conversation was merged away (a merge closes it)."""
    for _ in range(MERGE_HOPS):
        if latest is None or latest.merged_into_id is None:
            return latest
        target = await session.get(Conversation, latest.merged_into_id)
        if target is None or target.tenant_id != latest.tenant_id:
            return latest
        latest = target
    return latest


def _reopenable(latest: Conversation | None, *, since: datetime) -> Conversation | None:
    """The thread's latest conversation, if it was resolved (not closed) at or after `since`."""
    if latest is None or latest.status != "resolved" or latest.resolved_at is None:
        return None
    return latest if latest.resolved_at >= since else None


def _touch(
    conversation: Conversation, *, mention: MentionPayload, profile: ProfileSnapshot | None, now: datetime
) -> None:
    """Keep the inbox row current: the customer as the latest mention shows them, the latest message."""
    author = mention.author
    conversation.platform = conversation.platform or mention.platform
    conversation.channel_id = conversation.channel_id or getattr(mention, "channel_id", None)
    conversation.language = mention.analysis.language[:16]
    display_name = (profile.display_name if profile else None) or author.display_name
    conversation.customer_display_name = display_name[:200] if display_name else None
    conversation.customer_handle = author.handle[:200]
    if profile is not None:
        conversation.customer_profile = profile.model_dump_json()
    if conversation.last_message_at is None or mention.created_at >= conversation.last_message_at:
        conversation.last_message_excerpt = mention.text[:EXCERPT_CHARS]
        conversation.last_message_at = mention.created_at
    conversation.updated_at = now


async def _open(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: MentionResolved,
    thread_key: str,
    now: datetime,
    decision: rules.Decision = rules.OPEN,
    batch: Batch | None = None,
) -> Conversation:
    mention, profile_id = resolved.mention, resolved.profile_id
    pool = None
    if batch is None:
        await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)  # against an agent projected meanwhile
    else:
        if not batch.locked:
            await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)  # held until the batch commits
            batch.locked = True
        if batch.pool is None:
            # Everything the batch wrote so far is flushed first: the loads count it.
            await session.flush()
            batch.pool = await assignment.load_pool(session, tenant_id=tenant_id)
        pool = batch.pool
    priority, reason = priority_for(mention, resolved.profile)
    conversation = new_row(
        Conversation,
        tenant_id=tenant_id,
        profile_id=profile_id,
        thread_key=thread_key,
        status="open",
        priority=priority,
        priority_reason=reason,
        first_mention_id=mention.mention_id,
        opened_at=now,
        created_at=now,
        updated_at=now,
    )
    rules.shape(conversation, decision)  # the matching routing rule's team, priority and labels
    priority = decision.priority or priority
    _touch(conversation, mention=mention, profile=resolved.profile, now=now)
    session.add(conversation)
    # The row is written once, whole, at the next flush: routing's reads must not write it half-done
    # (one INSERT instead of an INSERT and three UPDATEs). A replica that opened the same customer's
    # conversation on the thread first makes that flush fail (unique open-conversation index), so this
    # transaction fails and the redelivery appends to that one.
    with session.no_autoflush:
        # Team, agent or the queue, with the reasons (before the event, which carries the assignee).
        await assignment.assign_new(session, conversation=conversation, mention=mention, now=now, pool=pool)
        await sla.start_clock(session, conversation=conversation, now=now)  # in the chosen team's hours
    stage(
        session,
        new_event(
            ConversationOpened(
                conversation_id=conversation.id,
                profile_id=profile_id,
                mention_id=mention.mention_id,
                priority=priority,
                assignee_id=conversation.assignee_id,
                opened_at=now,
                # The SLA clock's deadlines, so metrics knows a target met before any warning.
                first_response_due_at=conversation.first_response_due_at,
                resolution_due_at=conversation.resolution_due_at,
                team_id=conversation.team_id,
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.opened",
        extra={"tenant_id": tenant_id, "conversation_id": conversation.id, "priority": priority},
    )
    return conversation


def _reopen(
    session: AsyncSession, *, conversation: Conversation, mention: MentionPayload, now: datetime
) -> None:
    conversation.reopen_count += 1
    move_status(session, conversation=conversation, to="open", cause="customer", by_user_id=None, now=now)
    stage(
        session,
        new_event(
            ConversationReopened(
                conversation_id=conversation.id,
                profile_id=conversation.profile_id,
                mention_id=mention.mention_id,
                reopen_count=conversation.reopen_count,
                reopened_at=now,
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.reopened",
        extra={"tenant_id": conversation.tenant_id, "conversation_id": conversation.id},
    )


def move_status(
    session: AsyncSession,
    *,
    conversation: Conversation,
    to: Status,
    cause: str,
    by_user_id: str | None,
    now: datetime,
) -> None:
    """Set the status, record the move in the history and stage `engagement.conversation.status_changed`."""
    from_status = conversation.status
    conversation.status = to
    conversation.resolved_at = (
        now if to == "resolved" else (conversation.resolved_at if to == "closed" else None)
    )
    if to != "snoozed":
        conversation.snoozed_until = None
    sla.on_status(conversation, from_status=from_status, now=now)  # pending pauses the SLA clock
    conversation.updated_at = now
    session.add(conversation)
    session.add(
        new_row(
            StatusChange,
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            from_status=from_status,
            to_status=to,
            cause=cause,
            by_user_id=by_user_id,
            created_at=now,
        )
    )
    stage(
        session,
        new_event(
            ConversationStatusChanged.model_validate(
                {
                    "conversation_id": conversation.id,
                    "profile_id": conversation.profile_id,
                    "from_status": from_status,
                    "to_status": to,
                    "cause": cause,
                    "by_user_id": by_user_id,
                    "changed_at": now,
                    "business_seconds": sla.business_seconds(conversation, now)
                    if to in ("resolved", "closed")
                    else None,
                }
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.status_changed",
        extra={
            "tenant_id": conversation.tenant_id,
            "conversation_id": conversation.id,
            "from": from_status,
            "to": to,
            "cause": cause,
        },
    )


async def update_conversation(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    update_in: ConversationUpdate,
    by_user_id: str,
    survey_link_base: str = surveys.DEFAULT_LINK_BASE,
) -> ConversationRead:
    """Change the status, priority, labels, snooze time or assignee of one conversation of the tenant."""
    given = update_in.model_fields_set
    if not given:
        raise InvalidConversationUpdate("Give at least one field to change.")
    now = utcnow()
    status: Status | None = update_in.status
    if update_in.snoozed_until is not None:
        if status not in (None, "snoozed"):
            raise InvalidConversationUpdate("`snoozed_until` goes only with status `snoozed`.")
        if update_in.snoozed_until <= now:
            raise InvalidConversationUpdate("`snoozed_until` must be in the future.")
        status = "snoozed"
    elif status == "snoozed":
        raise InvalidConversationUpdate("Snoozing needs `snoozed_until`.")
    if "status" in given and update_in.status is None:
        raise InvalidConversationUpdate("`status` may not be null.")
    if "priority" in given and update_in.priority is None:
        raise InvalidConversationUpdate("`priority` may not be null.")
    conversation = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=conversation_id, error=ConversationNotFound
    )
    if update_in.labels is not None:
        overlap = set(update_in.labels.add) & set(update_in.labels.remove)
        if overlap:
            raise InvalidConversationUpdate("A label may not be both added and removed.")
        labels = (set(json.loads(conversation.labels)) | set(update_in.labels.add)) - set(
            update_in.labels.remove
        )
        if len(labels) > LABELS_MAX:
            raise InvalidConversationUpdate(f"A conversation has at most {LABELS_MAX} labels.")
        conversation.labels = json.dumps(sorted(labels))
    if update_in.priority is not None and update_in.priority != conversation.priority:
        conversation.priority = update_in.priority
        conversation.priority_reason = "set by an agent"
        await sla.reprioritise(session, conversation=conversation)
    if "assignee_id" in given:
        await _reassign(
            session,
            conversation=conversation,
            assignee_id=update_in.assignee_id,
            by_user_id=by_user_id,
            now=now,
        )
    if status is not None:
        if status in ACTIVE_STATUSES and conversation.status not in ACTIVE_STATUSES:
            other = await in_progress(
                session,
                tenant_id=tenant_id,
                profile_id=conversation.profile_id,
                thread_key=conversation.thread_key,
            )
            if other is not None:
                raise ConversationConflict(
                    f"The customer already has conversation {other.id} in progress on this thread: "
                    "resolve it first."
                )
        if status != conversation.status:
            finished = conversation.status not in ACTIVE_STATUSES
            move_status(
                session, conversation=conversation, to=status, cause="agent", by_user_id=by_user_id, now=now
            )
            if finished and status in ACTIVE_STATUSES:  # opened again: the SLA clock starts afresh
                await sla.start_clock(session, conversation=conversation, now=now)
            if status == "resolved":
                await surveys.offer_survey(
                    session, conversation=conversation, now=now, link_base=survey_link_base
                )
        if status == "snoozed":
            conversation.snoozed_until = update_in.snoozed_until
        if status not in ACTIVE_STATUSES and conversation.assignee_id is not None:
            # A slot freed: the queue's next conversation takes it.
            await assignment.drain_queue(session, tenant_id=tenant_id, now=now)
    conversation.updated_at = now
    session.add(conversation)
    try:
        await session.commit()
    except IntegrityError:  # a post opened a conversation on the customer's thread meanwhile
        await session.rollback()
        raise ConversationConflict(
            "The customer got another conversation in progress on this thread meanwhile."
        ) from None
    log.info("conversation.updated", extra={"tenant_id": tenant_id, "conversation_id": conversation.id})
    return ConversationRead.model_validate(conversation, from_attributes=True)


async def _reassign(
    session: AsyncSession,
    *,
    conversation: Conversation,
    assignee_id: str | None,
    by_user_id: str,
    now: datetime,
) -> None:
    """`assignee_id` null puts the conversation back in the queue (someone else free takes it at once);
    an agent is a manual assignment (`assignment.assign_by_hand`)."""
    if assignee_id is None:
        if conversation.assignee_id is not None and conversation.status in ACTIVE_STATUSES:
            await assignment.requeue(
                session, conversation=conversation, reason=f"unassigned by {by_user_id}", now=now
            )
        else:
            conversation.assignee_id = None
        return
    if assignee_id == conversation.assignee_id:
        return
    await assignment.assign_by_hand(
        session, conversation=conversation, agent_id=assignee_id, team_id=None, by_user_id=by_user_id, now=now
    )


async def add_note(
    session: AsyncSession, *, tenant_id: str, conversation_id: str, note_in: NoteCreate, author_id: str
) -> NoteRead:
    """Leave an internal note on one conversation of the tenant."""
    conversation = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=conversation_id, error=ConversationNotFound
    )
    note = ConversationNote(
        tenant_id=tenant_id, conversation_id=conversation.id, author_id=author_id, body=note_in.body
    )
    session.add(note)
    await session.commit()
    log.info("conversation.noted", extra={"tenant_id": tenant_id, "conversation_id": conversation.id})
    return NoteRead.model_validate(note, from_attributes=True)


async def wake_snoozed(session: AsyncSession, *, now: datetime | None = None, batch: int = 200) -> int:
    """Open again the snoozed conversations (of every tenant) whose time has come; how many woke."""
    now = now or utcnow()
    stmt = (
        select(Conversation)
        .where(col(Conversation.status) == "snoozed", col(Conversation.snoozed_until) <= now)
        .order_by(col(Conversation.snoozed_until).asc())
        .limit(batch)
        .with_for_update(skip_locked=True)  # replicas wake different rows (ignored by SQLite)
    )
    due = list((await session.execute(stmt)).scalars().all())
    for conversation in due:
        move_status(session, conversation=conversation, to="open", cause="snooze", by_user_id=None, now=now)
    await session.commit()
    return len(due)


# A conversation's messages (notes, status moves) in order (`conversation_id`): built once, Core rows.
# By the conversation's id alone, the conversation having been found in the tenant first: with a tenant
# condition too, SQLite (no statistics) may look the messages up by the tenant's index and read every
# message of the tenant for one conversation.
_MESSAGES = (
    select(Message.__table__)  # type: ignore[attr-defined]
    .where(col(Message.conversation_id) == bindparam("conversation_id"))
    .order_by(col(Message.posted_at).asc(), col(Message.created_at).asc(), col(Message.id).asc())
)
_NOTES = (
    select(ConversationNote.__table__)  # type: ignore[attr-defined]
    .where(col(ConversationNote.conversation_id) == bindparam("conversation_id"))
    .order_by(col(ConversationNote.created_at).asc(), col(ConversationNote.id).asc())
)
_HISTORY = (
    select(StatusChange.__table__)  # type: ignore[attr-defined]
    .where(col(StatusChange.conversation_id) == bindparam("conversation_id"))
    .order_by(col(StatusChange.created_at).asc(), col(StatusChange.id).asc())
)


async def get_conversation(reader: Reader, *, tenant_id: str, conversation_id: str) -> ConversationDetail:
    """One conversation of the tenant with its messages, notes and status history, oldest first."""
    conversation = await get_row_scoped(
        reader,
        Conversation,
        tenant_id=tenant_id,
        id=conversation_id,
        error=ConversationNotFound,
        shape=ConversationDetail,
    )
    params = {"conversation_id": conversation.id}
    messages = await reader.all(_MESSAGES, params)
    notes = await reader.all(_NOTES, params)
    history = await reader.all(_HISTORY, params)
    return ConversationDetail.model_validate(
        {**conversation._mapping, "messages": messages, "notes": notes, "status_history": history},
        from_attributes=True,
    )


# Filters of the inbox list given as one value each (None: no filter).
EQUAL_FILTERS = ("priority", "assignee_id", "language", "platform", "profile_id", "team_id")


@functools.cache
def _inbox_page(
    equal: tuple[str, ...],
    statuses: int,
    label: bool,
    after: bool,
    queued: bool = False,
    sla_state: str | None = None,
) -> Select[Any]:
    """The list's statement for one shape of filters, built once (bind parameters carry the values)."""
    table: Table = Conversation.__table__  # type: ignore[attr-defined]
    stmt = select(*columns_of(table, ConversationRead)).where(
        table.c.tenant_id == bindparam("tenant_id"), *(table.c[name] == bindparam(name) for name in equal)
    )
    if statuses:
        stmt = stmt.where(table.c.status.in_([bindparam(f"status_{i}") for i in range(statuses)]))
    if label:
        # Labels are a sorted JSON list of strings without quotes or LIKE wildcards (schemas.Label).
        stmt = stmt.where(table.c.labels.like(bindparam("label_pattern")))
    if queued:
        # The queue: in progress and nobody's (logic/assignment.py hands these out).
        stmt = stmt.where(table.c.assignee_id.is_(None), table.c.status.in_(ACTIVE_STATUSES))
    if sla_state is not None:
        stmt = stmt.where(sla.state_condition(table, sla_state))
    return keyset_bound(stmt, table.c.created_at, table.c.id, after=after)


async def list_conversations(
    reader: Reader,
    *,
    tenant_id: str,
    statuses: Sequence[Status] = (),
    label: str | None = None,
    limit: int,
    cursor: str | None,
    queued: bool = False,
    sla_state: str | None = None,
    **equal: str | None,
) -> ConversationPage:
    """The tenant's conversations, newest first, filtered by statuses (any of), a label and the
    `EQUAL_FILTERS` given."""
    given = {name: value for name, value in equal.items() if value is not None}
    unknown = set(given) - set(EQUAL_FILTERS)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}")
    wanted = sorted(set(statuses))
    stmt = _inbox_page(tuple(sorted(given)), len(wanted), label is not None, bool(cursor), queued, sla_state)
    params: dict[str, Any] = {"tenant_id": tenant_id, **given}
    params.update({f"status_{i}": status for i, status in enumerate(wanted)})
    if label is not None:
        params["label_pattern"] = f'%"{label}"%'
    rows, next_cursor = await paginate(reader, stmt, params, limit=limit, cursor=cursor)
    return ConversationPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)
