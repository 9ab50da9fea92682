"""Privacy requests of people (GDPR Art. 15/20 exports, Art. 17 erasures): opened here, answered by every
service through `shared/privacy.py`, finished here.

Lifecycle: a request names the person by profile id or by an identifier, resolved through the identity
graph to the profiles it names (and those merged into them). It is stored with its due date (one month)
and who asked, and `privacy.export.requested` / `privacy.erasure.requested` goes out carrying the
subject (profile ids and every identifier they hold). Each of listening, profiles, engagement and metrics
answers: export parts are kept for the bundle, and the export completes once every service's parts are
in. An erasure waits for every service's `privacy.erasure.completed`, then (status `scrubbing`) the scrub
worker deletes the person's messages from every stream, issues the certificate, empties the subject
(the identifiers go; the request record stays) and publishes `privacy.subject.erased` for partners.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, get_args

from redis.asyncio import Redis
from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profiles.logic.normalise import InvalidIdentifier, normalise
from services.profiles.models import Identifier, Profile
from services.profiles.privacy import person_ids
from services.profiles.privacy_models import PrivacyAnswer, PrivacyRequest
from services.profiles.privacy_schemas import (
    PrivacyRequestCreate,
    PrivacyRequestPage,
    PrivacyRequestRead,
    ServiceAnswer,
)
from shared import consent
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.errors import PROBLEMS, Conflict, NotFound, ProblemError, Unprocessable
from shared.events.bus import Bus
from shared.events.contracts import (
    ErasureCompleted,
    ErasureRequested,
    ExportPart,
    ExportRequested,
    PrivacyService,
    PrivacySubject,
    SubjectErased,
)
from shared.events.envelope import Event, new_event
from shared.events.outbox import stage
from shared.ids import uuid4_str
from shared.pagination import cut, keyset_bound, page_params
from shared.privacy import needles, scrub_streams
from shared.wakeups import CommitWake

log = logging.getLogger("rapport.profiles.privacy")

# Every service that holds personal data answers each request.
SERVICES: tuple[str, ...] = get_args(PrivacyService)
# An erasure every service answered: the scrub worker's signal.
ERASURE_ANSWERED = CommitWake("rapport.profiles.erasure-answered")
# Serialises the opening of a tenant's erasure requests (`shared.db.lock_tenant`).
ERASURE_LOCK = "privacy-erasure"

_REQ: Table = PrivacyRequest.__table__  # type: ignore[attr-defined]
_ANS: Table = PrivacyAnswer.__table__  # type: ignore[attr-defined]
_ID: Table = Identifier.__table__  # type: ignore[attr-defined]
_P: Table = Profile.__table__  # type: ignore[attr-defined]


class PrivacyRequestNotFound(NotFound):
    type = "https://rapport.dev/problems/privacy-request-not-found"


class SubjectNotFound(NotFound):
    """No profile of the tenant has the profile id or the identifier the request names."""

    type = "https://rapport.dev/problems/privacy-subject-not-found"


class ExportNotReady(Conflict):
    """The export's bundle is not complete yet: some service has not answered."""

    type = "https://rapport.dev/problems/export-not-ready"


class ExportExpired(ProblemError):
    """The export's bundle was deleted: it is kept `export_keep_days` after it completed."""

    status = 410
    type = PROBLEMS + "export-expired"
    title = "Gone"


def one_month_after(at: datetime) -> datetime:
    """The same day and time a calendar month later (the last day of that month when it is shorter)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


async def _resolve(session: AsyncSession, tenant_id: str, body: PrivacyRequestCreate) -> list[str]:
    """The tenant's profiles the request names (before those merged into them are added)."""
    if body.profile_id is not None:
        # A profile merged away stands for the profile it was merged into (the same person).
        profile_id: str | None = body.profile_id
        seen: set[str] = set()
        while profile_id is not None and profile_id not in seen:
            seen.add(profile_id)
            row = (
                await session.execute(
                    select(_P.c.id, _P.c.merged_into).where(
                        _P.c.tenant_id == tenant_id, _P.c.id == profile_id
                    )
                )
            ).first()
            if row is None:
                return []
            if row.merged_into is None:
                return [row.id]
            profile_id = row.merged_into
        return []
    ref = body.identifier
    assert ref is not None
    try:
        value = normalise(ref.kind, ref.value)
    except InvalidIdentifier as exc:
        raise Unprocessable(
            "identifier: not a valid value of its kind",
            errors=[{"loc": ["body", "identifier", "value"], "msg": str(exc)}],
        ) from None
    kinds = ["handle", "platform_user_id"] if ref.kind == "handle" else [ref.kind]
    namespace = ref.platform if ref.kind == "handle" else ref.source if ref.kind == "external_id" else None
    conditions = [_ID.c.tenant_id == tenant_id, _ID.c.kind.in_(kinds), _ID.c.value_normalised == value]
    if namespace is not None:
        conditions.append(_ID.c.namespace == namespace)
    return sorted(set(await session.scalars(select(_ID.c.profile_id).where(*conditions))))


async def subject_of(session: AsyncSession, tenant_id: str, profile_ids: list[str]) -> PrivacySubject:
    """The profiles and every identifier they hold, as the services are asked about them: handles with
    their platform (and the platform user id on that platform, when known), e-mails, phones, partner ids."""
    rows = (
        await session.execute(
            select(_ID.c.kind, _ID.c.namespace, _ID.c.value, _ID.c.value_normalised)
            .where(_ID.c.tenant_id == tenant_id, _ID.c.profile_id.in_(profile_ids))
            .order_by(_ID.c.created_at, _ID.c.id)
        )
    ).all()
    user_ids: dict[str, list[str]] = {}
    for row in rows:
        if row.kind == "platform_user_id":
            user_ids.setdefault(row.namespace, []).append(row.value)
    identities: list[dict[str, str | None]] = []
    handled: set[str] = set()
    for row in rows:
        if row.kind == "handle":
            ids = user_ids.get(row.namespace, [])
            entry: dict[str, str | None] = {
                "kind": "handle",
                "platform": row.namespace or None,
                "value": row.value,
            }
            if len(ids) == 1:
                entry["platform_user_id"] = ids[0]
                handled.add(row.namespace)
            identities.append(entry)
        elif row.kind in ("email", "phone", "external_id"):
            identities.append(
                {
                    "kind": row.kind,
                    "platform": (row.namespace or None) if row.kind == "external_id" else None,
                    "value": row.value,
                }
            )
        elif row.kind == "website":
            identities.append({"kind": "website", "platform": None, "value": row.value})
    # A platform user id whose handle is unknown (or ambiguous) still names the person on that platform.
    for platform, ids in user_ids.items():
        if platform in handled:
            continue
        for user_id in ids:
            identities.append(
                {"kind": "handle", "platform": platform or None, "value": None, "platform_user_id": user_id}
            )
    return PrivacySubject(profile_ids=profile_ids, identities=identities)


async def open_request(
    session: AsyncSession, *, tenant_id: str, kind: str, body: PrivacyRequestCreate, requested_by: str
) -> tuple[PrivacyRequestRead, bool]:
    """Record a request and ask every service; commits. (The request, whether it is new): an erasure of a
    person whose erasure is still open is that open one."""
    await begin_immediate(session)
    if kind == "erasure":
        # "Is an erasure of this person open?" and the insert below decide together: SQLite's write lock
        # serialises them already; on PostgreSQL (READ COMMITTED) two requests would each miss the
        # other's uncommitted row, so the tenant's erasure requests take turns (an advisory lock).
        await lock_tenant(session, ERASURE_LOCK, tenant_id)
    named = await _resolve(session, tenant_id, body)
    if not named:
        raise SubjectNotFound("No profile of this tenant matches the request.")
    ids = await person_ids(session, tenant_id, named)
    if kind == "erasure":
        open_ = (
            await session.execute(
                select(_REQ.c.id, _REQ.c.profile_ids).where(
                    _REQ.c.tenant_id == tenant_id, _REQ.c.kind == "erasure", _REQ.c.status != "completed"
                )
            )
        ).all()
        for row in open_:
            if set(row.profile_ids or []) & set(ids):
                await session.rollback()
                return await get_request(session, tenant_id=tenant_id, kind=kind, request_id=row.id), False
    subject = await subject_of(session, tenant_id, ids)
    now = utcnow()
    named_by: dict[str, Any] = (
        {"profile_id": body.profile_id}
        if body.profile_id is not None
        else {"identifier": body.identifier.model_dump(exclude_none=True) if body.identifier else {}}
    )
    request = PrivacyRequest(
        id=uuid4_str(),
        tenant_id=tenant_id,
        kind=kind,
        profile_ids=ids,
        subject=subject.model_dump(mode="json"),
        named_by=named_by,
        requested_by=requested_by,
        due_at=one_month_after(now),
        created_at=now,
    )
    session.add(request)
    payload = (
        ExportRequested(request_id=request.id, subject=subject, requested_at=now)
        if kind == "export"
        else ErasureRequested(request_id=request.id, subject=subject, requested_at=now)
    )
    stage(session, new_event(payload, source="profiles", tenant_id=tenant_id, subject=request.id))
    await session.commit()
    log.info("privacy.request_opened", extra={"request_id": request.id, "kind": kind, "profiles": len(ids)})
    return await get_request(session, tenant_id=tenant_id, kind=kind, request_id=request.id), True


def _answers(kind: str, rows: Sequence[Any]) -> list[ServiceAnswer]:
    by_service: dict[str, list[Any]] = {}
    for row in rows:
        by_service.setdefault(row.service, []).append(row)
    answers = []
    for service in SERVICES:
        parts = by_service.get(service, [])
        chunks = parts[0].chunks if parts else None
        answered = bool(parts) and (kind == "erasure" or len(parts) >= (chunks or 1))
        answers.append(
            ServiceAnswer(
                service=service,
                answered=answered,
                answered_at=max(p.answered_at for p in parts) if answered else None,
                parts=len(parts),
                chunks=chunks,
                counts=parts[0].counts if kind == "erasure" and parts else {},
            )
        )
    return answers


def _read(row: Any, answers: Sequence[Any]) -> PrivacyRequestRead:
    return PrivacyRequestRead(
        id=row.id,
        kind=row.kind,
        status=row.status,
        profile_ids=row.profile_ids or [],
        named_by=row.named_by or {},
        requested_by=row.requested_by,
        created_at=row.created_at,
        due_at=row.due_at,
        overdue=row.status != "completed" and utcnow() > row.due_at,
        completed_at=row.completed_at,
        services=_answers(row.kind, answers),
        scrubbed_messages=row.scrubbed_messages,
        certificate=row.certificate,
    )


_READ_COLUMNS = [c for c in _REQ.c if c.name != "subject"]
_ANSWER_COLUMNS = [_ANS.c[n] for n in ("request_id", "service", "chunk", "chunks", "counts", "answered_at")]


async def get_request(
    session: AsyncSession, *, tenant_id: str, kind: str, request_id: str
) -> PrivacyRequestRead:
    row = (
        await session.execute(
            select(*_READ_COLUMNS).where(
                _REQ.c.tenant_id == tenant_id, _REQ.c.kind == kind, _REQ.c.id == request_id
            )
        )
    ).first()
    if row is None:
        raise PrivacyRequestNotFound(f"No {kind} request {request_id}.")
    answers = (await session.execute(select(*_ANSWER_COLUMNS).where(_ANS.c.request_id == request_id))).all()
    return _read(row, answers)


async def list_requests(
    session: AsyncSession, *, tenant_id: str, kind: str, status: str | None, limit: int, cursor: str | None
) -> PrivacyRequestPage:
    """The tenant's requests of a kind, newest first, optionally of one status."""
    stmt = select(*_READ_COLUMNS).where(_REQ.c.tenant_id == tenant_id, _REQ.c.kind == kind)
    if status is not None:
        stmt = stmt.where(_REQ.c.status == status)
    stmt = keyset_bound(stmt, _REQ.c.created_at, _REQ.c.id, after=bool(cursor))
    rows = (await session.execute(stmt, page_params(limit=limit, cursor=cursor))).all()
    page, next_cursor = cut(rows, limit=limit)
    answers: dict[str, list[Any]] = {}
    if page:
        for answer in (
            await session.execute(select(*_ANSWER_COLUMNS).where(_ANS.c.request_id.in_([r.id for r in page])))
        ).all():
            answers.setdefault(answer.request_id, []).append(answer)
    return PrivacyRequestPage(items=[_read(r, answers.get(r.id, [])) for r in page], next_cursor=next_cursor)


async def export_bundle(session: AsyncSession, *, tenant_id: str, request_id: str) -> dict[str, Any]:
    """The completed export as one document: every service's parts merged, by service and kind."""
    request = await get_request(session, tenant_id=tenant_id, kind="export", request_id=request_id)
    if request.status == "expired":
        raise ExportExpired("The export's bundle was deleted once its keeping period ended; ask again.")
    if request.status != "completed":
        raise ExportNotReady("Not every service has answered this export yet.")
    parts = (
        await session.execute(
            select(_ANS.c.service, _ANS.c.chunk, _ANS.c.data)
            .where(_ANS.c.request_id == request_id)
            .order_by(_ANS.c.service, _ANS.c.chunk)
        )
    ).all()
    services: dict[str, dict[str, list[Any]]] = {service: {} for service in SERVICES}
    for part in parts:
        merged = services.setdefault(part.service, {})
        for kind, records in (part.data or {}).items():
            merged.setdefault(kind, []).extend(records if isinstance(records, list) else [records])
    return {
        "request_id": request.id,
        "profile_ids": request.profile_ids,
        "requested_at": request.created_at.isoformat(),
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "generated_at": utcnow().isoformat(),
        "services": services,
    }


async def _request_of(session: AsyncSession, tenant_id: str, request_id: str, kind: str) -> Any:
    return (
        await session.execute(
            select(_REQ.c.id, _REQ.c.status).where(
                _REQ.c.tenant_id == tenant_id, _REQ.c.id == request_id, _REQ.c.kind == kind
            )
        )
    ).first()


async def _record(session: AsyncSession, tenant_id: str, values: dict[str, Any]) -> None:
    key = and_(
        _ANS.c.request_id == values["request_id"],
        _ANS.c.service == values["service"],
        _ANS.c.chunk == values["chunk"],
    )
    if await session.scalar(select(_ANS.c.chunk).where(key)) is None:
        await session.execute(insert(_ANS).values(tenant_id=tenant_id, **values))


async def on_export_part(session: AsyncSession, event: Event[ExportPart]) -> None:
    """A service's part of an export: kept for the bundle; the export completes with the last part."""
    part = event.data
    request = await _request_of(session, event.tenantid, part.request_id, "export")
    if request is None:
        log.warning("privacy.part_unknown_request", extra={"request_id": part.request_id})
        return
    await _record(
        session,
        event.tenantid,
        {
            "request_id": part.request_id,
            "service": part.service,
            "chunk": part.chunk,
            "chunks": part.chunks,
            "data": part.data,
            "answered_at": part.produced_at,
        },
    )
    if request.status == "open":
        answers = (
            await session.execute(select(*_ANSWER_COLUMNS).where(_ANS.c.request_id == part.request_id))
        ).all()
        if all(a.answered for a in _answers("export", answers)):
            await session.execute(
                update(_REQ)
                .where(_REQ.c.id == part.request_id)
                .values(status="completed", completed_at=utcnow())
            )
            # Its events (the subject's identifiers, every service's parts) leave the privacy stream.
            ERASURE_ANSWERED.mark(session)


async def on_erasure_completed(session: AsyncSession, event: Event[ErasureCompleted]) -> None:
    """A service erased what it held: its counts are kept; once every service answered, the scrub."""
    done = event.data
    request = await _request_of(session, event.tenantid, done.request_id, "erasure")
    if request is None:
        log.warning("privacy.completion_unknown_request", extra={"request_id": done.request_id})
        return
    await _record(
        session,
        event.tenantid,
        {
            "request_id": done.request_id,
            "service": done.service,
            "chunk": 0,
            "chunks": 1,
            "counts": done.counts,
            "references": done.references,
            "answered_at": done.completed_at,
        },
    )
    if request.status == "open":
        services = set(
            await session.scalars(select(_ANS.c.service).where(_ANS.c.request_id == done.request_id))
        )
        if services >= set(SERVICES):
            await session.execute(update(_REQ).where(_REQ.c.id == done.request_id).values(status="scrubbing"))
            ERASURE_ANSWERED.mark(session)


def certificate(
    *,
    request_id: str,
    profile_ids: list[str],
    requested_at: datetime,
    due_at: datetime,
    answers: Sequence[Any],
    scrubbed: int,
    issued_at: datetime,
) -> dict[str, Any]:
    """The proof of an erasure: whom (the erased profile ids, which now name nothing), which service
    erased how much and when, how many messages in transit were deleted, and a SHA-256 digest over all of
    that (canonical JSON: sorted keys, no spaces), so any change to it shows."""
    body: dict[str, Any] = {
        "request_id": request_id,
        "subject_refs": sorted(profile_ids),
        "requested_at": requested_at.isoformat(),
        "due_at": due_at.isoformat(),
        "services": [
            {"service": a.service, "counts": a.counts, "completed_at": a.answered_at.isoformat()}
            for a in sorted(answers, key=lambda a: a.service)
        ],
        "stream_messages_deleted": scrubbed,
        "issued_at": issued_at.isoformat(),
    }
    body["sha256"] = hashlib.sha256(canonical(body)).hexdigest()
    return body


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a certificate's digest is taken over."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def finish_erasures(sessions: async_sessionmaker[AsyncSession], bus: Bus, redis: Redis) -> int:
    """Scrub and certify the erasures every service answered, and clear completed exports' events from
    the privacy stream; how many requests were finished.

    The scrub runs outside any transaction (it talks to the broker only) and is idempotent: should the
    process stop before the request is marked completed, the next round scrubs again."""
    async with sessions() as session:
        pending = (
            await session.execute(
                select(_REQ.c.id, _REQ.c.tenant_id)
                .where(_REQ.c.status == "scrubbing")
                .order_by(_REQ.c.created_at)
            )
        ).all()
        exports = (
            await session.execute(
                select(_REQ.c.id, _REQ.c.tenant_id).where(
                    _REQ.c.kind == "export", _REQ.c.status == "completed", _REQ.c.scrubbed_messages.is_(None)
                )
            )
        ).all()
    for request_id, tenant_id in pending:
        await finish_erasure(sessions, bus, redis, tenant_id=tenant_id, request_id=request_id)
    for request_id, tenant_id in exports:
        await clear_export(sessions, bus, tenant_id=tenant_id, request_id=request_id)
    return len(pending) + len(exports)


async def expire_exports(
    sessions: async_sessionmaker[AsyncSession], *, keep: timedelta, now: datetime | None = None
) -> int:
    """Delete the bundles of exports completed more than `keep` ago (every service's parts), keeping the
    request's record as `expired`; how many expired."""
    cutoff = (now or utcnow()) - keep
    async with sessions() as session, session.begin():
        ids = list(
            await session.scalars(
                select(_REQ.c.id).where(
                    _REQ.c.kind == "export", _REQ.c.status == "completed", _REQ.c.completed_at < cutoff
                )
            )
        )
        if ids:
            await session.execute(delete(_ANS).where(_ANS.c.request_id.in_(ids)))
            await session.execute(update(_REQ).where(_REQ.c.id.in_(ids)).values(status="expired"))
    if ids:
        log.info("privacy.exports_expired", extra={"count": len(ids)})
    return len(ids)


async def clear_export(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, *, tenant_id: str, request_id: str
) -> None:
    """A completed export's events (the request with the subject's identifiers, every service's parts)
    are deleted from the privacy stream: the bundle is kept in profiles, no copy stays in transit."""
    deleted = await scrub_streams(bus, tenant_id=tenant_id, needles_=[request_id], streams=["PRIVACY"])
    async with sessions() as session, session.begin():
        await session.execute(update(_REQ).where(_REQ.c.id == request_id).values(scrubbed_messages=deleted))


async def finish_erasure(
    sessions: async_sessionmaker[AsyncSession], bus: Bus, redis: Redis, *, tenant_id: str, request_id: str
) -> None:
    async with sessions() as session:
        row = (await session.execute(select(_REQ).where(_REQ.c.id == request_id))).one()
        answers = (
            await session.execute(
                select(_ANS.c.service, _ANS.c.counts, _ANS.c.references, _ANS.c.answered_at).where(
                    _ANS.c.request_id == request_id
                )
            )
        ).all()
    subject = PrivacySubject.model_validate(row.subject or {"profile_ids": row.profile_ids})
    references = [ref for a in answers for ref in (a.references or [])]
    deleted = await scrub_streams(
        bus, tenant_id=tenant_id, needles_=needles(subject, references), also={"PRIVACY": [request_id]}
    )
    # The consent projection of the erased profiles (their ledger went with the erasure).
    erased_ids = sorted({*subject.profile_ids, *(row.profile_ids or [])})
    if erased_ids:
        await redis.delete(*(consent.person_key(tenant_id, pid) for pid in erased_ids))
    now = utcnow()
    cert = certificate(
        request_id=request_id,
        profile_ids=row.profile_ids or [],
        requested_at=row.created_at,
        due_at=row.due_at,
        answers=answers,
        scrubbed=deleted,
        issued_at=now,
    )
    named_by = row.named_by or {}
    if "identifier" in named_by:
        # How the person was named stays (its kind); the value itself was personal data.
        named_by = {"identifier": {"kind": named_by["identifier"].get("kind")}}
    async with sessions() as session, session.begin():
        await begin_immediate(session)
        updated = await session.execute(
            update(_REQ)
            .where(_REQ.c.id == request_id, _REQ.c.status == "scrubbing")
            .values(
                status="completed",
                completed_at=now,
                scrubbed_messages=deleted,
                certificate=cert,
                subject={},
                named_by=named_by,
            )
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            return
        # The answers' references are ids of erased things: no longer needed once scrubbed.
        await session.execute(update(_ANS).where(_ANS.c.request_id == request_id).values(references=[]))
        for profile_id in row.profile_ids or []:
            stage(
                session,
                new_event(
                    SubjectErased(subject_ref=profile_id, erased_at=now),
                    source="profiles",
                    tenant_id=tenant_id,
                ),
            )
    log.info("privacy.erasure_finished", extra={"request_id": request_id, "stream_messages_deleted": deleted})
