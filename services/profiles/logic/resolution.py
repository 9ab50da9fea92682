"""Identity resolution of incoming mentions, a fetched batch at a time: find or create each author's
profile, extend the timelines, update the profiles, stage the onward events.

Set-based: per batch (and tenant) one SELECT of the mentions already resolved, one of the authors'
identifiers, one of their profiles (locked on PostgreSQL), and multi-row INSERTs and UPDATEs for what
changed; no ORM objects. The platform user id is preferred over the handle (a handle can change hands).
On PostgreSQL two replicas may meet the same new author at once: identifiers are inserted with
ON CONFLICT DO NOTHING on their unique key and read again, so the loser adopts the winner's profile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic import lifecycle
from services.profiles.logic.consent_effects import Refusing
from services.profiles.logic.erased import by_erased
from services.profiles.logic.normalise import normalise_handle
from services.profiles.logic.segments import refresh_memberships
from services.profiles.logic.snapshot import snapshot
from services.profiles.models import Identifier, Interaction, LifecycleChange, Profile, SegmentMember, new_id
from shared.db import utcnow
from shared.events.contracts import (
    LifecycleChanged,
    LifecycleStage,
    MentionPayload,
    MentionResolved,
    ProfileCreated,
    ProfileUpdated,
)
from shared.events.envelope import CloudEvent, new_event
from shared.events.outbox import stage_many
from shared.telemetry import carried

log = logging.getLogger("rapport.profiles")

SOURCE = "profiles"
EXCERPT_CHARS = 280
TREND_WEIGHT = 0.3  # trend = trend * (1 - w) + score * w
MAX_LANGUAGES = 8

_P = Profile.__table__  # type: ignore[attr-defined]
_ID = Identifier.__table__  # type: ignore[attr-defined]
_I = Interaction.__table__  # type: ignore[attr-defined]
_LC = LifecycleChange.__table__  # type: ignore[attr-defined]
_SM = SegmentMember.__table__  # type: ignore[attr-defined]

Key = tuple[str, str, str]  # (kind, namespace, value_normalised)

# The profile fields a `profiles.profile.updated` reports as changed.
TRACKED = (
    "display_name",
    "followers",
    "influence",
    "mention_count",
    "sentiment_trend",
    "last_sentiment",
    "intent_counts",
    "languages",
    "lifecycle_stage",
    "at_risk",
    "first_seen_at",
    "last_seen_at",
)
# Every column of `profile` written back after a batch (the rest is not resolution's to change).
WRITTEN = (*TRACKED, "sentiment_sum", "updated_at")


def new_profile_row(*, tenant_id: str, seen_at: datetime, profile_id: str | None = None) -> dict[str, Any]:
    """Every column of a new, empty profile (Core inserts do not run the models' defaults)."""
    now = utcnow()
    return {
        "id": profile_id or new_id(),
        "tenant_id": tenant_id,
        "display_name": None,
        "bio": None,
        "followers": None,
        "influence": 0.0,
        "mention_count": 0,
        "sentiment_sum": 0.0,
        "sentiment_trend": 0.0,
        "last_sentiment": None,
        "intent_counts": {},
        "languages": [],
        "lifecycle_stage": "stranger",
        "at_risk": False,
        "order_count": 0,
        "lifetime_value": {},
        "attributes": {},
        "tags": [],
        "merged_into": None,
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "created_at": now,
        "updated_at": now,
    }


def identifier_row(
    *,
    tenant_id: str,
    profile_id: str,
    key: Key,
    value: str,
    evidence: str,
    source: str,
    confidence: float = 1.0,
) -> dict[str, Any]:
    kind, namespace, normalised = key
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "kind": kind,
        "namespace": namespace,
        "value": value,
        "value_normalised": normalised,
        "evidence": evidence,
        "confidence": confidence,
        "source": source,
        "created_at": utcnow(),
    }


def insert_ignoring_conflicts(session: AsyncSession, table: Any) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def is_postgres(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


async def lock_profiles(
    session: AsyncSession, *, tenant_id: str, ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The profiles by id, as dicts, locked until the transaction ends (PostgreSQL; SQLite's writer lock
    is held already). Locked in id order, so that two transactions never wait on each other in a cycle."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(_P).where(_P.c.tenant_id == tenant_id, _P.c.id.in_(wanted)).order_by(_P.c.id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return {row.id: dict(row._mapping) for row in await session.execute(stmt)}


async def lock_profiles_in_segments(
    session: AsyncSession, *, tenant_id: str, ids: Iterable[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """`lock_profiles` with the segments each profile is in, in one statement."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}, {}
    stmt = (
        select(_P, segments_column(session))
        .where(_P.c.tenant_id == tenant_id, _P.c.id.in_(wanted))
        .order_by(_P.c.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=_P)
    profiles: dict[str, dict[str, Any]] = {}
    segments: dict[str, set[str]] = {}
    for row in await session.execute(stmt):
        data = dict(row._mapping)
        segments[data["id"]] = pop_segments(data)
        profiles[data["id"]] = data
    return profiles, segments


async def write_profiles(session: AsyncSession, *, tenant_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Write back the resolution-owned columns of these profiles (one executemany UPDATE)."""
    if not rows:
        return
    stmt = (
        update(_P)
        .where(_P.c.tenant_id == bindparam("b_tenant"), _P.c.id == bindparam("b_id"))
        .values({name: bindparam(f"v_{name}") for name in WRITTEN})
    )
    await session.execute(
        stmt,
        [
            {"b_tenant": tenant_id, "b_id": row["id"], **{f"v_{name}": row[name] for name in WRITTEN}}
            for row in rows
        ],
    )


@dataclass
class _Mention:
    mention: MentionPayload
    handle_key: Key
    user_key: Key | None
    profile_id: str = ""


@dataclass
class _Batch:
    """What one batch of one tenant resolves to, built before anything is written."""

    tenant_id: str
    known: dict[Key, str] = field(default_factory=dict)  # identifier key → profile id
    new_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # New identifiers: those that decide a new profile's identity first, then the others.
    primary: list[dict[str, Any]] = field(default_factory=list)
    secondary: list[dict[str, Any]] = field(default_factory=list)
    # Handles that changed hands: identifier key → the profile it moves to.
    moves: dict[Key, str] = field(default_factory=dict)
    # Strong identifiers of this batch already attached to another profile: (arriving for, attached to).
    conflicts: list[tuple[str, str, Key]] = field(default_factory=list)
    # Profiles whose name or handles changed (new ones too): their match suggestions are computed again.
    rematch: set[str] = field(default_factory=set)
    # The profiles read with the identifiers (as dicts of their columns), and their segments.
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments: dict[str, set[str]] = field(default_factory=dict)
    # Profiles that may not be processed for profiling (`logic/consent_effects.py`).
    unprofiled: set[str] = field(default_factory=set)


def _keys(mention: MentionPayload) -> tuple[Key, Key | None]:
    handle_key: Key = ("handle", mention.platform, normalise_handle(mention.author.handle))
    user_id = (mention.author.platform_user_id or "").strip()
    return handle_key, (("platform_user_id", mention.platform, user_id) if user_id else None)


async def resolve_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    mentions: Sequence[MentionPayload],
    refusing: Refusing | None = None,
) -> dict[str, str]:
    """Attach the tenant's mentions to their authors' profiles (created if new) and stage the events.

    Profiles `refusing` names (withdrawn from or objected to profiling) get the mention on their timeline
    but no inference from it (`fold_mention`'s `profiling=False`, no lifecycle change), no segment and no
    match suggestion.

    Runs inside the caller's transaction (the consumer's inbox transaction) and does not commit.
    Idempotent by mention id: a mention already on a timeline changes nothing. A mention by an erased
    author (`logic/erased.py`) is passed over. Returns the profile id of each mention resolved now.
    """
    unique: dict[str, MentionPayload] = {}
    for mention in mentions:
        unique.setdefault(mention.mention_id, mention)
    done = set(
        await session.scalars(
            select(_I.c.ref_id).where(
                _I.c.tenant_id == tenant_id, _I.c.kind == literal("mention"), _I.c.ref_id.in_(list(unique))
            )
        )
    )
    todo = [_Mention(m, *_keys(m)) for mention_id, m in unique.items() if mention_id not in done]
    if not todo:
        return {}
    # A post of an erased person delivered after the erasure brings nobody back (`logic/erased.py`).
    erased = await by_erased(session, tenant_id=tenant_id, mentions=[m.mention for m in todo])
    if erased:
        todo = [m for m in todo if m.mention.mention_id not in erased]
        log.info("mentions.erased_authors", extra={"tenant_id": tenant_id, "mentions": len(erased)})
        if not todo:
            return {}
    batch = _Batch(tenant_id)
    await _read_identifiers(session, batch, todo)
    await _assign(session, batch, todo)
    if refusing is not None:
        batch.unprofiled = await refusing(sorted({m.profile_id for m in todo}))
    await _write_identifiers(session, batch, todo)
    resolved = await _apply(session, batch, todo)
    if batch.conflicts:
        # Imported here: merges build on this module's helpers.
        from services.profiles.logic.merges import merge_on_identifiers

        await merge_on_identifiers(session, tenant_id=tenant_id, conflicts=batch.conflicts)
    batch.rematch -= batch.unprofiled
    if batch.rematch:
        from services.profiles.logic.suggestions import suggest_for

        await suggest_for(session, tenant_id=tenant_id, profile_ids=batch.rematch, known=_new_subjects(batch))
    log.info(
        "mentions.resolved",
        extra={"tenant_id": tenant_id, "mentions": len(todo), "profiles_created": len(batch.new_profiles)},
    )
    return resolved


def segments_column(session: AsyncSession) -> Any:
    """The profile's segment ids, comma-separated, as one column (no row per segment)."""
    if is_postgres(session):
        agg = func.string_agg(_SM.c.segment_id, literal(","))
    else:
        agg = func.group_concat(_SM.c.segment_id, literal(","))
    return select(agg).where(_SM.c.profile_id == _P.c.id).scalar_subquery().label("segment_ids_csv")


def pop_segments(data: dict[str, Any]) -> set[str]:
    """The segment ids of a profile row read with `segments_column`, taken out of the row."""
    csv = data.pop("segment_ids_csv")
    return set(csv.split(",")) if csv else set()


def _new_subjects(batch: _Batch) -> dict[str, dict[str, Any]]:
    """The batch's new profiles as match suggestions compare them, from memory."""
    subjects = {
        pid: {"id": pid, "display_name": row["display_name"], "bio": None, "handles": [], "websites": []}
        for pid, row in batch.new_profiles.items()
    }
    for row in (*batch.primary, *batch.secondary):
        if row["kind"] == "handle" and row["profile_id"] in subjects:
            subjects[row["profile_id"]]["handles"].append(row["value"])
    return subjects


async def _read_identifiers(session: AsyncSession, batch: _Batch, todo: Sequence[_Mention]) -> None:
    """The authors' identifiers with their profiles and segments, in one statement (on PostgreSQL the
    profiles are locked by it, in id order)."""
    keys = {m.handle_key for m in todo} | {m.user_key for m in todo if m.user_key}
    stmt = (
        select(_ID.c.kind, _ID.c.namespace, _ID.c.value_normalised, _P, segments_column(session))
        .join(_P, _P.c.id == _ID.c.profile_id)
        .where(
            _ID.c.tenant_id == batch.tenant_id,
            tuple_(_ID.c.kind, _ID.c.namespace, _ID.c.value_normalised).in_(keys),
        )
        .order_by(_P.c.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=_P)
    for row in await session.execute(stmt):
        data = dict(row._mapping)
        kind, namespace, value = data.pop("kind"), data.pop("namespace"), data.pop("value_normalised")
        segment_ids = pop_segments(data)
        batch.known[(kind, namespace, value)] = data["id"]
        if data["id"] not in batch.loaded:
            batch.loaded[data["id"]] = data
            batch.segments[data["id"]] = segment_ids


async def _user_ids_of(
    session: AsyncSession, batch: _Batch, profile_ids: set[str]
) -> dict[tuple[str, str], str]:
    """The platform user ids these profiles have, by (profile id, platform)."""
    if not profile_ids:
        return {}
    stmt = select(_ID.c.profile_id, _ID.c.namespace, _ID.c.value_normalised).where(
        _ID.c.tenant_id == batch.tenant_id,
        _ID.c.kind == literal("platform_user_id"),
        _ID.c.profile_id.in_(profile_ids),
    )
    return {(pid, platform): value for pid, platform, value in await session.execute(stmt)}


async def _assign(session: AsyncSession, batch: _Batch, todo: Sequence[_Mention]) -> None:
    """Decide each mention's profile, the new profiles and identifiers, the handles that move."""
    known = batch.known
    # A user id arriving for a profile found by handle: does that profile have another user id there?
    check = {
        known[m.handle_key] for m in todo if m.user_key and m.user_key not in known and m.handle_key in known
    }
    user_ids = await _user_ids_of(session, batch, check)
    for m in todo:
        mention, platform = m.mention, m.mention.platform
        source = f"mention:{mention.mention_id}"
        handle = mention.author.handle.strip()
        by_user = known.get(m.user_key) if m.user_key else None
        by_handle = known.get(m.handle_key)
        if by_user is not None:
            m.profile_id = by_user
            if by_handle is None:
                batch.secondary.append(_handle_row(batch, by_user, m.handle_key, handle, source))
                known[m.handle_key] = by_user
            elif by_handle != by_user:
                batch.conflicts.append((by_user, by_handle, m.handle_key))
            continue
        if by_handle is not None and m.user_key is not None:
            other = user_ids.get((by_handle, platform))
            if other is not None and other != m.user_key[2]:
                # The handle changed hands: a new account behind it, whose profile takes the handle.
                by_handle = None
        if by_handle is not None:
            m.profile_id = by_handle
            if m.user_key is not None:
                batch.secondary.append(_row(batch, by_handle, m.user_key, m.user_key[2], source))
                known[m.user_key] = by_handle
                user_ids[(by_handle, platform)] = m.user_key[2]
            continue
        profile_id = new_id()
        batch.new_profiles[profile_id] = new_profile_row(
            tenant_id=batch.tenant_id, seen_at=mention.created_at, profile_id=profile_id
        )
        m.profile_id = profile_id
        if m.user_key is not None:
            batch.primary.append(_row(batch, profile_id, m.user_key, m.user_key[2], source))
            known[m.user_key] = profile_id
            user_ids[(profile_id, platform)] = m.user_key[2]
            if m.handle_key in known:
                batch.moves[m.handle_key] = profile_id
            else:
                batch.secondary.append(_handle_row(batch, profile_id, m.handle_key, handle, source))
        else:
            batch.primary.append(_handle_row(batch, profile_id, m.handle_key, handle, source))
        known[m.handle_key] = profile_id


def _row(batch: _Batch, profile_id: str, key: Key, value: str, source: str) -> dict[str, Any]:
    return identifier_row(
        tenant_id=batch.tenant_id,
        profile_id=profile_id,
        key=key,
        value=value,
        evidence="platform",
        source=source,
    )


def _handle_row(batch: _Batch, profile_id: str, key: Key, handle: str, source: str) -> dict[str, Any]:
    return _row(batch, profile_id, key, handle[:320], source)


def _key_of(row: dict[str, Any]) -> Key:
    return (row["kind"], row["namespace"], row["value_normalised"])


async def _write_identifiers(session: AsyncSession, batch: _Batch, todo: Sequence[_Mention]) -> None:
    """Insert the new profiles and identifiers; on PostgreSQL, adopt the profile of a replica that
    inserted a new author's identifier first."""
    tenant_id = batch.tenant_id
    if batch.new_profiles:
        await session.execute(insert(_P), list(batch.new_profiles.values()))
    if is_postgres(session) and batch.primary:
        primary = sorted(batch.primary, key=_key_of)
        await session.execute(insert_ignoring_conflicts(session, _ID), primary)
        keys = [_key_of(row) for row in primary]
        stmt = select(_ID.c.kind, _ID.c.namespace, _ID.c.value_normalised, _ID.c.profile_id).where(
            _ID.c.tenant_id == tenant_id,
            tuple_(_ID.c.kind, _ID.c.namespace, _ID.c.value_normalised).in_(keys),
        )
        winners = {(k, n, v): pid for k, n, v, pid in await session.execute(stmt)}
        lost = {
            row["profile_id"]: winners[_key_of(row)]
            for row in primary
            if winners[_key_of(row)] != row["profile_id"]
        }
        if lost:
            # Another replica created these authors' profiles first: theirs stand, ours go.
            log.info("mentions.profiles_adopted", extra={"tenant_id": tenant_id, "count": len(lost)})
            for m in todo:
                m.profile_id = lost.get(m.profile_id, m.profile_id)
            for key, pid in list(batch.known.items()):
                batch.known[key] = lost.get(pid, pid)
            for row in batch.secondary:
                row["profile_id"] = lost.get(row["profile_id"], row["profile_id"])
            batch.moves = {key: lost.get(pid, pid) for key, pid in batch.moves.items()}
            for gone in lost:
                del batch.new_profiles[gone]
            await session.execute(delete(_P).where(_P.c.tenant_id == tenant_id, _P.c.id.in_(list(lost))))
        rows = sorted(batch.secondary, key=_key_of)
    else:
        rows = sorted(batch.primary + batch.secondary, key=_key_of)
    if rows:
        # A replica may have attached one of these first: its link stands (the next mention sees it).
        await session.execute(insert_ignoring_conflicts(session, _ID), rows)
    if batch.moves:
        move = (
            update(_ID)
            .where(
                _ID.c.tenant_id == bindparam("b_tenant"),
                _ID.c.kind == bindparam("b_kind"),
                _ID.c.namespace == bindparam("b_namespace"),
                _ID.c.value_normalised == bindparam("b_value"),
            )
            .values(profile_id=bindparam("b_profile"))
        )
        await session.execute(
            move,
            [
                {"b_tenant": tenant_id, "b_kind": k, "b_namespace": n, "b_value": v, "b_profile": pid}
                for (k, n, v), pid in batch.moves.items()
            ],
        )


async def _recent_praise(
    session: AsyncSession, tenant_id: str, profiles: dict[str, dict[str, Any]], todo: Sequence[_Mention]
) -> dict[str, int]:
    """Praise mentions within the advocate window, per profile that could become an advocate now."""
    candidates = {
        m.profile_id
        for m in todo
        if m.mention.analysis.intent == "praise"
        and profiles[m.profile_id]["lifecycle_stage"] in ("fan", "customer")
    }
    if not candidates:
        return {}
    since = min(m.mention.created_at for m in todo) - lifecycle.ADVOCATE_WINDOW
    stmt = (
        select(_I.c.profile_id, func.count())
        .where(
            _I.c.tenant_id == tenant_id,
            _I.c.profile_id.in_(candidates),
            _I.c.intent == literal("praise"),
            _I.c.occurred_at >= since,
        )
        .group_by(_I.c.profile_id)
    )
    return {pid: n for pid, n in await session.execute(stmt)}


def fold_mention(profile: dict[str, Any], mention: MentionPayload, *, profiling: bool = True) -> None:
    """Count one mention into the profile (a dict of its columns). The latest post decides the "last"
    fields; a value the post does not carry never overwrites a known one. Without `profiling` (the person
    withdrew from or objected to it) only the record is kept: the count, when they were seen, their name;
    nothing is inferred (sentiment, intents, languages, influence, audience)."""
    sentiment = mention.analysis.sentiment
    first = profile["mention_count"] == 0
    profile["mention_count"] += 1
    created = mention.created_at
    latest = first or created >= profile["last_seen_at"]
    if not profiling:
        if created < profile["first_seen_at"]:
            profile["first_seen_at"] = created
        if latest:
            profile["last_seen_at"] = created
            if mention.author.display_name:
                profile["display_name"] = mention.author.display_name
        return
    profile["sentiment_sum"] += sentiment.score
    profile["sentiment_trend"] = (
        sentiment.score
        if first
        else profile["sentiment_trend"] * (1 - TREND_WEIGHT) + sentiment.score * TREND_WEIGHT
    )
    counts = dict(profile["intent_counts"])
    counts[mention.analysis.intent] = counts.get(mention.analysis.intent, 0) + 1
    profile["intent_counts"] = counts
    language = mention.analysis.language
    languages = list(profile["languages"])
    if language and language != "und":
        if latest:
            languages = [language, *(code for code in languages if code != language)]
        elif language not in languages:
            languages.append(language)
        profile["languages"] = languages[:MAX_LANGUAGES]
    if created < profile["first_seen_at"]:
        profile["first_seen_at"] = created
    if latest:
        profile["last_seen_at"] = created
        profile["last_sentiment"] = sentiment.label
        author = mention.author
        # An influence scored without the audience (followers unknown) says less than one scored with it.
        if author.influence is not None and (author.followers is not None or profile["followers"] is None):
            profile["influence"] = author.influence
        if author.followers is not None:
            profile["followers"] = author.followers
        if author.display_name:
            profile["display_name"] = author.display_name


def interaction_row(
    tenant_id: str, profile_id: str, mention: MentionPayload, now: datetime
) -> dict[str, Any]:
    analysis = mention.analysis
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "origin_profile_id": profile_id,
        "kind": "mention",
        "ref_id": mention.mention_id,
        "platform": mention.platform,
        "channel_id": getattr(mention, "channel_id", None),
        "intent": analysis.intent,
        "sentiment_label": analysis.sentiment.label,
        "sentiment_score": analysis.sentiment.score,
        "language": analysis.language,
        "excerpt": mention.text[:EXCERPT_CHARS],
        "links": {"mention": f"/v1/mentions/{mention.mention_id}"},
        "redacted": False,
        "occurred_at": mention.created_at,
        "created_at": now,
    }


def lifecycle_events(
    tenant_id: str, profile_id: str, change: lifecycle.Change, now: datetime
) -> tuple[dict[str, Any], CloudEvent]:
    """The `lifecycle_change` row and the event of one change."""
    row = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "from_stage": change.from_stage,
        "to_stage": change.to_stage,
        "at_risk": change.at_risk,
        "reason": change.reason[:200],
        "created_at": now,
    }
    payload = LifecycleChanged.model_construct(
        profile_id=profile_id,
        from_stage=cast(LifecycleStage, change.from_stage),
        to_stage=cast(LifecycleStage, change.to_stage),
        at_risk=change.at_risk,
        reason=change.reason,
    )
    return row, new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=profile_id)


def updated_events(
    tenant_id: str,
    before: dict[str, dict[str, Any]],
    profiles: dict[str, dict[str, Any]],
    segments: dict[str, set[str]],
) -> list[CloudEvent]:
    """One `profiles.profile.updated` per profile whose tracked fields differ from `before`."""
    events = []
    for profile_id, old in before.items():
        now = profiles[profile_id]
        changed = [name for name in TRACKED if old.get(name) != now[name]]
        if changed:
            payload = ProfileUpdated.model_construct(
                profile_id=profile_id,
                changed=changed,
                profile=snapshot(now, segment_ids=segments.get(profile_id, ())),
            )
            events.append(new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=profile_id))
    return events


async def _apply(session: AsyncSession, batch: _Batch, todo: Sequence[_Mention]) -> dict[str, str]:
    tenant_id = batch.tenant_id
    wanted = {m.profile_id for m in todo}
    profiles = {pid: row for pid, row in batch.loaded.items() if pid in wanted}
    profiles.update((pid, row) for pid, row in batch.new_profiles.items() if pid in wanted)
    segments = {pid: batch.segments.get(pid, set()) for pid in profiles}
    # Rare: a profile another replica created first, or one whose handle just moved to it.
    missing = wanted - set(profiles)
    if missing:
        found, their_segments = await lock_profiles_in_segments(session, tenant_id=tenant_id, ids=missing)
        profiles.update(found)
        segments.update(their_segments)
    praise = await _recent_praise(session, tenant_id, profiles, todo)
    # A new profile is announced by `profiles.profile.created` (and its mentions' snapshots), not `.updated`.
    before = {pid: dict(row) for pid, row in profiles.items() if pid not in batch.new_profiles}
    now = utcnow()
    interactions: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    events: list[CloudEvent] = [
        new_event(
            ProfileCreated(
                profile_id=pid, platform=next(m.mention.platform for m in todo if m.profile_id == pid)
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=pid,
        )
        for pid in batch.new_profiles
    ]
    resolved: dict[str, str] = {}
    traces: dict[str, dict[str, str]] = {}
    for m in todo:
        profile, mention = profiles[m.profile_id], m.mention
        caused = len(events)
        profiling = m.profile_id not in batch.unprofiled
        fold_mention(profile, mention, profiling=profiling)
        analysis = mention.analysis
        if analysis.intent == "praise":
            praise[m.profile_id] = praise.get(m.profile_id, 0) + 1
        current = lifecycle.Lifecycle(profile["lifecycle_stage"], profile["at_risk"])
        new, change = current, None
        if profiling:
            new, change = lifecycle.after_mention(
                current,
                intent=analysis.intent,
                sentiment_label=analysis.sentiment.label,
                sentiment_trend=profile["sentiment_trend"],
                interactions=profile["mention_count"],
                recent_praise=praise.get(m.profile_id, 0),
            )
        if change is not None:
            profile["lifecycle_stage"], profile["at_risk"] = new.stage, new.at_risk
            row, event = lifecycle_events(tenant_id, m.profile_id, change, now)
            changes.append(row)
            events.append(event)
        profile["updated_at"] = now
        interactions.append(interaction_row(tenant_id, m.profile_id, mention, now))
        resolved[mention.mention_id] = m.profile_id
        payload = MentionResolved.model_construct(
            profile_id=m.profile_id,
            mention=mention,
            profile=snapshot(profile, segment_ids=segments.get(m.profile_id, ())),
        )
        events.append(new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=m.profile_id))
        # The mention's trace goes on with what it caused (`listening.mention.received`'s subject is the
        # mention id); the batch's other events carry the current span's.
        trace = carried(mention.mention_id)
        if trace is not None:
            traces.update((e.id, trace) for e in events[caused:])
    batch.rematch.update(batch.new_profiles)
    batch.rematch.update(row["profile_id"] for row in batch.secondary if row["kind"] == "handle")
    batch.rematch.update(
        pid for pid, old in before.items() if old["display_name"] != profiles[pid]["display_name"]
    )
    await write_profiles(session, tenant_id=tenant_id, rows=list(profiles.values()))
    # Segment membership follows the batch's changes (a tenant without segments pays one read); the
    # `updated` events carry the memberships after it, each mention's snapshot those before.
    memberships = await refresh_memberships(session, tenant_id, profiles, unprofiled=batch.unprofiled)
    segments.update((pid, set(ids)) for pid, ids in memberships.items())
    events.extend(updated_events(tenant_id, before, profiles, segments))
    await session.execute(insert(_I), interactions)
    if changes:
        await session.execute(insert(_LC), changes)
    await stage_many(session, events, traces=traces)
    return resolved


def group_by_tenant(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for tenant_id, item in pairs:
        grouped.setdefault(tenant_id, []).append(item)
    return grouped
