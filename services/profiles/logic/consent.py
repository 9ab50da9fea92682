"""The consent ledger: each person's history of grants, withdrawals, objections (Art. 21) and restrictions
(Art. 18), their current state, and its projection into Redis (`shared/consent.py`).

History rows are only ever added (a merge moves them to the survivor, keeping where they came from in
`origin_profile_id`; an unmerge moves them back by that marker). The current state is derived from the
history: the latest entry per purpose, per objection and for the restriction. It is kept in
`consent_state`, which the projection copies.

Every change stages `privacy.consent.changed` (the whole current state) in its transaction; a request
then projects the state itself before it answers (503 if Redis fails after the commit: the event makes
profiles' own consumer project it again once Redis answers). Merges re-project through that event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profiles.consent_models import ConsentRecord, ConsentState
from services.profiles.consent_schemas import ConsentView
from services.profiles.errors import ProfileMerged, ProfileNotFound
from services.profiles.logic.resolution import SOURCE, lock_profiles
from services.profiles.models import Profile
from shared import consent
from shared.db import begin_immediate, utcnow
from shared.errors import ServiceUnavailable
from shared.events.contracts import ConsentCaptured, ConsentChanged, ConsentStatus
from shared.events.envelope import CloudEvent, new_event
from shared.events.outbox import stage_many
from shared.ids import uuid4_str
from shared.pagination import cut, keyset_bound, page_params
from shared.reads import Reader

log = logging.getLogger("rapport.profiles.consent")

_R = ConsentRecord.__table__  # type: ignore[attr-defined]
_S = ConsentState.__table__  # type: ignore[attr-defined]
_P = Profile.__table__  # type: ignore[attr-defined]

# How restrictive each status is (a merge keeps the higher): a withdrawal beats a grant, and a grant
# the person gave on either profile beats nothing said at all; an active objection or restriction
# beats a lifted one.
_RANK = {"granted": 1, "withdrawn": 2, "lifted": 1, "active": 2}
# A rebuild also re-projects what changed since shortly before it began (a write racing it).
REBUILD_OVERLAP = timedelta(seconds=60)


@dataclass
class State:
    """A person's current state: the status per purpose, the purposes objected to, the restriction."""

    purposes: dict[str, ConsentStatus] = field(default_factory=dict)
    objections: list[str] = field(default_factory=list)
    restricted: bool = False

    @property
    def empty(self) -> bool:
        return not self.purposes and not self.objections and not self.restricted


def _key(row: Any) -> tuple[str, str]:
    return (row.kind, row.purpose or "")


def latest(rows: Iterable[Any]) -> dict[tuple[str, str], Any]:
    """The latest row per (kind, purpose) of these history rows."""
    found: dict[tuple[str, str], Any] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        found[_key(row)] = row
    return found


def derive(rows: Iterable[Any]) -> State:
    """The current state of a history: the latest entry per purpose, objection and restriction."""
    state = State()
    for (kind, purpose), row in latest(rows).items():
        if kind == "consent":
            state.purposes[purpose] = cast(ConsentStatus, row.status)
        elif kind == "objection" and row.status == "active":
            state.objections.append(purpose)
        elif kind == "restriction":
            state.restricted = row.status == "active"
    state.objections.sort()
    state.purposes = dict(sorted(state.purposes.items()))
    return state


# The evidence field that names the message (or answer) a capture came from, by the capture's source.
_CAPTURE_KEYS = ("mention_id", "survey_id", "message_id")


def capture_ref(tenant_id: str, captured: ConsentCaptured) -> str | None:
    """The natural key of a captured consent: the source message it came from (a keyword's post, by its
    mention id; a survey's answer), so that the same message captured twice is recorded once. None when
    the evidence names no message."""
    for key in _CAPTURE_KEYS:
        value = captured.evidence.get(key)
        if isinstance(value, str) and value:
            return f"capture:{tenant_id}:{captured.source}:{key}:{value}"
    return None


async def _history(session: AsyncSession, tenant_id: str, profile_id: str) -> list[Any]:
    stmt = select(_R).where(_R.c.tenant_id == tenant_id, _R.c.profile_id == profile_id)
    return list((await session.execute(stmt)).all())


async def recompute(session: AsyncSession, tenant_id: str, profile_id: str) -> State:
    """Derive the profile's state from its history and store it in `consent_state`."""
    state = derive(await _history(session, tenant_id, profile_id))
    await session.execute(delete(_S).where(_S.c.tenant_id == tenant_id, _S.c.profile_id == profile_id))
    await session.execute(
        _S.insert().values(
            tenant_id=tenant_id,
            profile_id=profile_id,
            purposes=state.purposes,
            objections=state.objections,
            restricted=state.restricted,
            updated_at=utcnow(),
        )
    )
    return state


def _state_of(row: Any | None) -> State:
    if row is None:
        return State()
    return State(
        cast(dict[str, ConsentStatus], dict(row.purposes)), list(row.objections), bool(row.restricted)
    )


async def stored_state(session: AsyncSession, tenant_id: str, profile_id: str) -> State:
    """The profile's state as `consent_state` holds it (empty when nothing was ever recorded)."""
    row = (
        await session.execute(select(_S).where(_S.c.tenant_id == tenant_id, _S.c.profile_id == profile_id))
    ).first()
    return _state_of(row)


async def projected_state(session: AsyncSession, tenant_id: str, profile_id: str) -> State:
    """What the projection holds for this id: its state, or nothing for a merged-away or unknown profile."""
    stmt = (
        select(_S, _P.c.merged_into)
        .select_from(_S.join(_P, and_(_P.c.tenant_id == _S.c.tenant_id, _P.c.id == _S.c.profile_id)))
        .where(_S.c.tenant_id == tenant_id, _S.c.profile_id == profile_id)
    )
    row = (await session.execute(stmt)).first()
    if row is None or row.merged_into is not None:
        return State()
    return _state_of(row)


def changed_event(
    tenant_id: str,
    profile_id: str,
    changed: str,
    state: State,
    *,
    source: str | None = None,
    by_user_id: str | None = None,
    at: datetime | None = None,
) -> CloudEvent:
    payload = ConsentChanged.model_validate(
        {
            "profile_id": profile_id,
            "changed": changed,
            "purposes": state.purposes,
            "objections": state.objections,
            "restricted": state.restricted,
            "source": source,
            "by_user_id": by_user_id,
            "changed_at": at or utcnow(),
        }
    )
    return new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=profile_id)


@dataclass(frozen=True)
class Entry:
    """One history entry to record."""

    kind: str  # consent | objection | restriction
    purpose: str  # '' for the restriction
    status: str  # granted | withdrawn (consent); active | lifted (objection, restriction)
    source: str
    basis: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    by_user_id: str | None = None


def _insert(tenant_id: str, profile_id: str, entry: Entry, *, origin: str, at: datetime) -> dict[str, Any]:
    return {
        "id": uuid4_str(),
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "origin_profile_id": origin,
        "kind": entry.kind,
        "purpose": entry.purpose,
        "status": entry.status,
        "basis": entry.basis,
        "source": entry.source,
        "evidence": entry.evidence,
        "reason": entry.reason,
        "by_user_id": entry.by_user_id,
        "merge_id": None,
        "created_at": at,
    }


async def record(
    session: AsyncSession, *, tenant_id: str, profile_id: str, entries: Sequence[Entry]
) -> State:
    """Append entries to the profile's history in the caller's transaction, store the state that results
    and stage `privacy.consent.changed`; the new state."""
    now = utcnow()
    await session.execute(
        _R.insert(), [_insert(tenant_id, profile_id, e, origin=profile_id, at=now) for e in entries]
    )
    state = await recompute(session, tenant_id, profile_id)
    first = entries[0]
    changed = first.purpose if first.kind == "consent" else first.kind
    await stage_many(
        session,
        [
            changed_event(
                tenant_id,
                profile_id,
                changed,
                state,
                source=first.source,
                by_user_id=first.by_user_id,
                at=now,
            )
        ],
    )
    return state


async def survivor_of(session: AsyncSession, tenant_id: str, profile_id: str) -> str | None:
    """The profile a (possibly merged-away) id stands for now; None when the tenant has no such profile."""
    current: str | None = profile_id
    for _ in range(16):
        row = (
            await session.execute(
                select(_P.c.merged_into).where(_P.c.tenant_id == tenant_id, _P.c.id == current)
            )
        ).first()
        if row is None:
            return None
        if row.merged_into is None:
            return current
        current = row.merged_into
    return current


async def project(redis: Redis, tenant_id: str, profile_id: str, state: State) -> None:
    """Write one person's state into the projection."""
    await consent.project_person(
        redis,
        tenant_id,
        profile_id,
        state.purposes,
        state.objections,
        state.restricted,
    )


async def project_or_unavailable(redis: Redis, tenant_id: str, states: dict[str, State]) -> None:
    """Project these states before the request answers; a Redis failure is a 503 (the change is stored and
    `privacy.consent.changed` makes profiles' consumer project it once Redis answers)."""
    try:
        for profile_id, state in states.items():
            await project(redis, tenant_id, profile_id, state)
    except (RedisError, OSError) as exc:
        log.warning("consent.projection_failed", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        raise ServiceUnavailable(
            "The change is recorded but not yet in force everywhere; it will be shortly."
        ) from None


async def write(
    session: AsyncSession,
    redis: Redis,
    *,
    tenant_id: str,
    profile_id: str,
    entry: Entry,
) -> State:
    """A request's change of one profile's ledger: recorded and committed, then projected."""
    await begin_immediate(session)
    profiles = await lock_profiles(session, tenant_id=tenant_id, ids=[profile_id])
    if profile_id not in profiles:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    merged_into = profiles[profile_id]["merged_into"]
    if merged_into is not None:
        raise ProfileMerged(f"Profile {profile_id} was merged into {merged_into}: record it there.")
    if entry.kind == "consent" and entry.basis is None:
        from services.profiles.logic.privacy_policy import bases_of

        entry = replace(entry, basis=(await bases_of(session, tenant_id))[entry.purpose])
    state = await record(session, tenant_id=tenant_id, profile_id=profile_id, entries=[entry])
    await session.commit()
    await project_or_unavailable(redis, tenant_id, {profile_id: state})
    return state


async def record_if_changed(
    session: AsyncSession, *, tenant_id: str, profile_id: str, entries: Sequence[Entry]
) -> State | None:
    """Record only the entries that change the profile's state (a partner's record sent again with the
    same consents adds nothing); the new state, or None when nothing changed."""
    current = await stored_state(session, tenant_id, profile_id)
    fresh = [e for e in entries if e.kind != "consent" or current.purposes.get(e.purpose) != e.status]
    if not fresh:
        return None
    return await record(session, tenant_id=tenant_id, profile_id=profile_id, entries=fresh)


# --- merges ----------------------------------------------------------------------------------------


def _statuses(state: State) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {("consent", p): s for p, s in state.purposes.items()}
    found.update({("objection", p): "active" for p in state.objections})
    if state.restricted:
        found[("restriction", "")] = "active"
    return found


async def merge_ledgers(
    session: AsyncSession, *, tenant_id: str, survivor_id: str, merged_id: str, merge_id: str
) -> None:
    """A merge, in its transaction: the merged profile's history moves to the survivor (each row keeps
    where it came from), and the survivor's state becomes the most restrictive of the two per purpose,
    objection and restriction; entries marked with the merge (source `merge`) record that state where the
    history alone would not give it. Stages `privacy.consent.changed` for both ids."""
    survivor_rows = await _history(session, tenant_id, survivor_id)
    merged_rows = await _history(session, tenant_id, merged_id)
    if not survivor_rows and not merged_rows:
        return
    mine, theirs = _statuses(derive(survivor_rows)), _statuses(derive(merged_rows))
    await session.execute(
        update(_R)
        .where(_R.c.tenant_id == tenant_id, _R.c.profile_id == merged_id)
        .values(profile_id=survivor_id)
    )
    moved = derive([*survivor_rows, *merged_rows])
    plain = _statuses(moved)
    now = utcnow()
    carried: list[dict[str, Any]] = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        target, origin = (b, merged_id) if _RANK.get(b or "", 0) > _RANK.get(a or "", 0) else (a, survivor_id)
        if target is None or plain.get(key) == target:
            continue
        kind, purpose = key
        row = _insert(
            tenant_id,
            survivor_id,
            Entry(
                kind=kind, purpose=purpose, status=target, source="merge", evidence={"merged_id": merged_id}
            ),
            origin=origin,
            at=now,
        )
        row["merge_id"] = merge_id
        carried.append(row)
    if carried:
        await session.execute(_R.insert(), carried)
    survivor_state = await recompute(session, tenant_id, survivor_id)
    await recompute(session, tenant_id, merged_id)
    await stage_many(
        session,
        [
            changed_event(tenant_id, survivor_id, "merge", survivor_state, source="merge", at=now),
            changed_event(tenant_id, merged_id, "merge", State(), source="merge", at=now),
        ],
    )


async def unmerge_ledgers(
    session: AsyncSession, *, tenant_id: str, profile_id: str, restored_id: str
) -> None:
    """An unmerge, in its transaction: the history that came from the restored profile (by its origin
    marker, the merge's own entries carried from it included) goes back to it; both states are derived
    again from their own histories. Stages `privacy.consent.changed` for both."""
    result = await session.execute(
        update(_R)
        .where(
            _R.c.tenant_id == tenant_id,
            _R.c.profile_id == profile_id,
            _R.c.origin_profile_id == restored_id,
        )
        .values(profile_id=restored_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return
    now = utcnow()
    kept = await recompute(session, tenant_id, profile_id)
    restored = await recompute(session, tenant_id, restored_id)
    await stage_many(
        session,
        [
            changed_event(tenant_id, profile_id, "unmerge", kept, source="unmerge", at=now),
            changed_event(tenant_id, restored_id, "unmerge", restored, source="unmerge", at=now),
        ],
    )


async def current_states(session: AsyncSession, tenant_id: str, ids: Iterable[str]) -> dict[str, State]:
    """What the projection should hold for each of these ids (nothing for a merged-away profile)."""
    return {pid: await projected_state(session, tenant_id, pid) for pid in ids}


# --- the projection as a whole -----------------------------------------------------------------------


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    *,
    batch: int = 500,
    overlap: timedelta = REBUILD_OVERLAP,
) -> int:
    """Project every tenant's policy and every person's state from the database, in batches, then mark the
    projection ready; the number of persons projected. What changed while it ran is projected again
    before it marks ready (a write's own projection may have been overwritten by an older batch)."""
    from services.profiles.logic.privacy_policy import project_all_policies

    started = utcnow()
    await project_all_policies(sessions, redis)
    count = await _project_states(sessions, redis, batch=batch, since=None)
    await _project_states(sessions, redis, batch=batch, since=started - overlap)
    await consent.mark_ready(redis)
    log.info("consent.projection_rebuilt", extra={"persons": count})
    return count


async def _project_states(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, *, batch: int, since: datetime | None
) -> int:
    after: tuple[str, str] = ("", "")
    count = 0
    while True:
        stmt = (
            select(_S, _P.c.merged_into)
            .select_from(_S.outerjoin(_P, and_(_P.c.tenant_id == _S.c.tenant_id, _P.c.id == _S.c.profile_id)))
            .where(
                (_S.c.tenant_id > after[0]) | ((_S.c.tenant_id == after[0]) & (_S.c.profile_id > after[1]))
            )
            .order_by(_S.c.tenant_id, _S.c.profile_id)
            .limit(batch)
        )
        if since is not None:
            stmt = stmt.where(_S.c.updated_at >= since)
        async with sessions() as session:
            rows = (await session.execute(stmt)).all()
        if not rows:
            return count
        # One MULTI per batch: a check never sees a person's key between its delete and its write.
        async with redis.pipeline(transaction=True) as pipe:
            for row in rows:
                key = consent.person_key(row.tenant_id, row.profile_id)
                pipe.delete(key)
                state = State() if row.merged_into is not None else _state_of(row)
                fields = consent.person_fields(state.purposes, state.objections, state.restricted)
                if fields:
                    mapping: dict[FieldT, EncodableT] = {k: v for k, v in fields.items()}
                    pipe.hset(key, mapping=mapping)
            await pipe.execute()
        count += len(rows)
        after = (rows[-1].tenant_id, rows[-1].profile_id)


# --- reads -------------------------------------------------------------------------------------------

_PROFILE = select(_P.c.id, _P.c.merged_into).where(
    _P.c.tenant_id == bindparam("tenant_id"), _P.c.id == bindparam("profile_id")
)
_STATE = select(_S).where(
    _S.c.tenant_id == bindparam("tenant_id"), _S.c.profile_id == bindparam("profile_id")
)
_HISTORY = {
    after: keyset_bound(
        select(_R).where(
            _R.c.tenant_id == bindparam("tenant_id"), _R.c.profile_id == bindparam("profile_id")
        ),
        _R.c.created_at,
        _R.c.id,
        after=after,
    )
    for after in (False, True)
}


def purpose_states(state: State, bases: dict[str, str]) -> list[dict[str, Any]]:
    """Each purpose with the person's status, the tenant's basis and `shared.consent.decide`'s answer."""
    objections = ",".join(state.objections)
    out = []
    for purpose in consent.PURPOSES:
        status = state.purposes.get(purpose)
        decision = consent.decide(
            purpose,
            bases[purpose],
            {"granted": "g", "withdrawn": "w"}.get(status or ""),
            objections,
            state.restricted,
        )
        out.append(
            {
                "purpose": purpose,
                "status": status,
                "basis": bases[purpose],
                "objected": purpose in state.objections,
                "decision": {"allowed": decision.allowed, "reason": decision.reason},
            }
        )
    return out


async def consent_view(
    reader: Reader, *, tenant_id: str, profile_id: str, limit: int = 50, cursor: str | None = None
) -> ConsentView:
    """`GET /v1/profiles/{id}/consents`: the current state per purpose and a page of the history."""
    from services.profiles.logic.privacy_policy import POLICY, full_bases

    ids = {"tenant_id": tenant_id, "profile_id": profile_id}
    profile = await reader.first(_PROFILE, ids)
    if profile is None:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    state = _state_of(await reader.first(_STATE, ids))
    policy = await reader.first(POLICY, {"tenant_id": tenant_id})
    bases = full_bases(policy.bases if policy is not None else None)
    rows, next_cursor = cut(
        await reader.all(_HISTORY[bool(cursor)], {**ids, **page_params(limit=limit, cursor=cursor)}),
        limit=limit,
    )
    return ConsentView.model_validate(
        {
            "profile_id": profile_id,
            "merged_into": profile.merged_into,
            "purposes": purpose_states(state, dict(bases)),
            "objections": state.objections,
            "restricted": state.restricted,
            "history": {
                "items": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "purpose": r.purpose or None,
                        "status": r.status,
                        "basis": r.basis,
                        "source": r.source,
                        "evidence": r.evidence,
                        "reason": r.reason,
                        "by_user_id": r.by_user_id,
                        "origin_profile_id": r.origin_profile_id,
                        "merge_id": r.merge_id,
                        "created_at": r.created_at,
                    }
                    for r in rows
                ],
                "next_cursor": next_cursor,
            },
        }
    )
