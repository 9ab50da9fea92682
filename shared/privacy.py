"""Privacy requests, service side: each service answers exports and erasures through the same plumbing.

A service provides two plain async functions (conventionally in `services/<svc>/privacy.py`):

    async def export_person(session, tenant_id, subject) -> dict[str, list[dict]]
    async def erase_person(session, tenant_id, subject) -> ErasureResult

and wires them into its app with `privacy_subscriptions(service, export_person=..., erase_person=...)`.
The plumbing consumes `privacy.export.requested` and `privacy.erasure.requested`, runs the function in
the consumer's transaction (once per request id and service, whatever the redeliveries), and in that same
transaction stages the answer through the service's outbox: `privacy.export.part` (in chunks, none
larger than `PART_BUDGET_BYTES`) or `privacy.erasure.completed`. An erasure also deletes the service's
outbox rows that name the person (published or not): events still waiting there are copies in transit.

`needles` gives the strings that name a person in a serialised event (ids, identifier values and their
JSON-escaped forms, the references a service returned); the outbox deletion and profiles' stream scrub
both look for them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shared.db import utcnow
from shared.events.bus import Bus
from shared.events.catalog import STREAMS
from shared.events.contracts import (
    ErasureCompleted,
    ErasureRequested,
    ExportPart,
    ExportRequested,
    PrivacyService,
    PrivacySubject,
)
from shared.events.envelope import Event, new_event
from shared.events.inbox import first_time
from shared.events.outbox import OutboxMessage, stage
from shared.ids import uuid4_str
from shared.service import Subscription

log = logging.getLogger("rapport.privacy")

# The most JSON bytes of records one `privacy.export.part` carries; with its envelope a part stays
# under 256 KB (the broker's own limit is 1 MB). A single record larger than this travels alone.
PART_BUDGET_BYTES = 200_000
# Needles shorter than this are not searched for: they would match unrelated text.
MIN_NEEDLE = 3
# Messages a stream scrub reads per fetch.
SCRUB_BATCH = 256


@dataclass
class ErasureResult:
    """What a service's `erase_person` did: `counts` per kind of record deleted or anonymised, and the
    ids of erased things (mentions, conversations, messages, ...) that events in transit may still name
    (the outbox deletion and the stream scrub look for them too)."""

    counts: dict[str, int] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)


ExportPerson = Callable[[AsyncSession, str, PrivacySubject], Awaitable[dict[str, list[dict[str, Any]]]]]
ErasePerson = Callable[[AsyncSession, str, PrivacySubject], Awaitable[ErasureResult]]


def needles(subject: PrivacySubject, references: Iterable[str] = ()) -> list[str]:
    """The strings whose presence in a serialised event means it names the person: profile ids, every
    identifier value (and platform user id), as written and as JSON escapes them, and `references`."""
    raw: set[str] = set(subject.profile_ids) | set(references)
    for identity in subject.identities:
        for key in ("value", "platform_user_id"):
            value = identity.get(key)
            if value:
                raw.add(value)
    found: set[str] = set()
    for value in raw:
        # As JSON writes it inside a string: escaped quotes and backslashes, and (ASCII-only writers)
        # \u escapes (`\u00e9`) of anything beyond ASCII.
        for form in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            if len(form) >= MIN_NEEDLE:
                found.add(form)
    return sorted(found)


def names_person(body: bytes | str, needles_: Iterable[str]) -> bool:
    """Whether a serialised event contains any of the needles (in any case: a handle is the same handle
    written `@Alice` or `alice`)."""
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).casefold()
    return any(needle.casefold() in text for needle in needles_)


async def scrub_streams(
    bus: Bus,
    *,
    tenant_id: str,
    needles_: Sequence[str],
    streams: Iterable[str] | None = None,
    also: Mapping[str, Sequence[str]] | None = None,
    batch: int = SCRUB_BATCH,
) -> int:
    """Delete from the JetStream streams (every stream by default, dead letters included) each message of
    the tenant whose body names the person; how many were deleted.

    `also` adds needles for one stream only (the privacy stream's messages of a request name its id).
    Each stream is read once from its start by an ephemeral consumer that acknowledges nothing, and the
    messages found are deleted by sequence: a consumer that has not read them yet never will. Deleting is
    idempotent, so a scrub that fails half-way is simply run again."""
    tenant_marker = f'"tenantid":"{tenant_id}"'
    deleted = 0
    for stream in streams if streams is not None else STREAMS:
        wanted = [*needles_, *((also or {}).get(stream, ()))]
        if not wanted:
            continue
        for seq in await _matching(bus, stream, tenant_marker, wanted, batch):
            with contextlib.suppress(NotFoundError):
                if await bus.js.delete_msg(stream, seq):
                    deleted += 1
    return deleted


async def _matching(
    bus: Bus, stream: str, tenant_marker: str, wanted: Sequence[str], batch: int
) -> list[int]:
    """The sequences of the stream's messages that carry `tenant_marker` and name one of `wanted`."""
    try:
        info = await bus.js.stream_info(stream)
    except NotFoundError:
        return []
    if info.state.messages == 0:
        return []
    last = info.state.last_seq
    name = f"privacy-scrub-{uuid4_str()}"
    config = ConsumerConfig(
        name=name,
        filter_subject=STREAMS[stream],
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=60.0,
        mem_storage=True,
    )
    await bus.js.add_consumer(stream, config=config)
    sub = await bus.js.pull_subscribe_bind(consumer=name, stream=stream)
    found: list[int] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=2.0)
            except (NatsTimeout, TimeoutError):
                break
            done = False
            for msg in msgs:
                meta = msg.metadata
                if tenant_marker in msg.data.decode("utf-8", "replace") and names_person(msg.data, wanted):
                    found.append(meta.sequence.stream)
                if meta.sequence.stream >= last or meta.num_pending == 0:
                    done = True
            if done:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await bus.js.delete_consumer(stream, name)
    return found


async def delete_outbox_rows(session: AsyncSession, tenant_id: str, needles_: list[str]) -> int:
    """Delete this service's outbox rows of the tenant whose body names the person; how many."""
    if not needles_:
        return 0
    result = await session.execute(
        delete(OutboxMessage)
        .where(
            col(OutboxMessage.tenant_id) == tenant_id,
            or_(*(col(OutboxMessage.body).contains(n, autoescape=True) for n in needles_)),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def chunk_export(
    data: dict[str, list[dict[str, Any]]], budget: int = PART_BUDGET_BYTES
) -> list[dict[str, Any]]:
    """Split an export into parts of at most `budget` JSON bytes of records (a record never splits);
    every kind appears in the first part, so an empty kind still says "nothing held". Always one part."""
    parts: list[dict[str, list[dict[str, Any]]]] = [{kind: [] for kind in data}]
    size = 0
    for kind, records in data.items():
        for record in records:
            n = len(json.dumps(record, default=str)) + 1
            if size + n > budget and size > 0:
                parts.append({})
                size = 0
            parts[-1].setdefault(kind, []).append(record)
            size += n
    return [dict(part) for part in parts]


async def _already(session: AsyncSession, consumer: str, request_id: str) -> bool:
    """Mark the request answered by this consumer; True when it already was (a second request event)."""
    return not await first_time(session, consumer=consumer, key=f"request:{request_id}")


def privacy_subscriptions(
    service: PrivacyService, *, export_person: ExportPerson, erase_person: ErasePerson
) -> list[Subscription[Any]]:
    """The two subscriptions through which `service` answers privacy requests (add them to its app's).

    Durables: `<service>-privacy-exports` and `<service>-privacy-erasures`."""
    exports = f"{service}-privacy-exports"
    erasures = f"{service}-privacy-erasures"

    async def on_export(session: AsyncSession, event: Event[ExportRequested]) -> None:
        request = event.data
        if await _already(session, exports, request.request_id):
            return
        data = await export_person(session, event.tenantid, request.subject)
        parts = chunk_export(data)
        now = utcnow()
        for i, part in enumerate(parts):
            stage(
                session,
                new_event(
                    ExportPart(
                        request_id=request.request_id,
                        service=service,
                        chunk=i,
                        chunks=len(parts),
                        data=part,
                        produced_at=now,
                    ),
                    source=service,
                    tenant_id=event.tenantid,
                    subject=request.request_id,
                ),
            )
        log.info("privacy.export_answered", extra={"request_id": request.request_id, "parts": len(parts)})

    async def on_erasure(session: AsyncSession, event: Event[ErasureRequested]) -> None:
        request = event.data
        if await _already(session, erasures, request.request_id):
            return
        result = await erase_person(session, event.tenantid, request.subject)
        dropped = await delete_outbox_rows(
            session, event.tenantid, needles(request.subject, result.references)
        )
        counts = dict(result.counts)
        counts["outbox_events"] = counts.get("outbox_events", 0) + dropped
        stage(
            session,
            new_event(
                ErasureCompleted(
                    request_id=request.request_id,
                    service=service,
                    counts=counts,
                    references=sorted(set(result.references)),
                    completed_at=utcnow(),
                ),
                source=service,
                tenant_id=event.tenantid,
                subject=request.request_id,
            ),
        )
        log.info("privacy.erasure_answered", extra={"request_id": request.request_id, "counts": counts})

    return [
        Subscription(durable=exports, event=ExportRequested, handler=on_export),
        Subscription(durable=erasures, event=ErasureRequested, handler=on_erasure),
    ]
