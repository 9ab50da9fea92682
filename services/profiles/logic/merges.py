"""Merging profiles and undoing merges: history kept, nothing destroyed.

A merge moves the merged profile's identifiers, interactions (their `origin_profile_id` stays), orders,
notes and consent history (`services/profiles/logic/consent.py`) to the survivor, recounts the survivor
from its interactions and leaves the merged profile in place with `merged_into` set; a `profile_merge`
row keeps both profiles' columns as they were. An unmerge gives identifiers back, with the interactions
(and the consent history) that came in under the profile they came from (restored from that snapshot),
or to a new profile when they did not come from a merge.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import IdentifierNotOnProfile, ProfileMerged, ProfileNotFound, SameProfile
from services.profiles.logic import lifecycle
from services.profiles.logic.consent import merge_ledgers, unmerge_ledgers
from services.profiles.logic.corrections import recount
from services.profiles.logic.resolution import (
    SOURCE,
    lock_profiles,
    new_profile_row,
    updated_events,
)
from services.profiles.logic.segments import refresh_memberships
from services.profiles.models import (
    Identifier,
    Interaction,
    MatchSuggestion,
    ProfileMerge,
    ProfileNote,
    ProfileOrder,
    new_id,
)
from services.profiles.schemas import MergeResult, UnmergeResult
from shared.db import begin_immediate, utcnow
from shared.events.contracts import ProfileMerged as ProfileMergedEvent
from shared.events.contracts import ProfileUnmerged
from shared.events.envelope import CloudEvent, new_event
from shared.events.outbox import stage_many
from shared.reads import SessionReader

log = logging.getLogger("rapport.profiles")

_P_COLUMNS_KEPT = ("id", "tenant_id", "created_at")
_ID = Identifier.__table__  # type: ignore[attr-defined]
_I = Interaction.__table__  # type: ignore[attr-defined]
_M = ProfileMerge.__table__  # type: ignore[attr-defined]
_O = ProfileOrder.__table__  # type: ignore[attr-defined]
_N = ProfileNote.__table__  # type: ignore[attr-defined]
_S = MatchSuggestion.__table__  # type: ignore[attr-defined]
# The profile's own columns (what a merge may change on the survivor and an unmerge gives back).
OWN = (
    "display_name",
    "bio",
    "followers",
    "influence",
    "lifecycle_stage",
    "at_risk",
    "order_count",
    "lifetime_value",
    "attributes",
    "tags",
)


def _to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _from_json(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for name in ("first_seen_at", "last_seen_at", "created_at", "updated_at"):
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    return out


def _add_values(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    total = {currency: Decimal(amount) for currency, amount in a.items()}
    for currency, amount in b.items():
        total[currency] = total.get(currency, Decimal(0)) + Decimal(amount)
    return {currency: str(amount) for currency, amount in sorted(total.items())}


async def _write_all(session: AsyncSession, *, tenant_id: str, rows: list[dict[str, Any]]) -> None:
    """Write back every column but the id, tenant and creation time."""
    from services.profiles.models import Profile

    table = Profile.__table__  # type: ignore[attr-defined]
    names = [c.name for c in table.columns if c.name not in _P_COLUMNS_KEPT]
    stmt = (
        update(table)
        .where(table.c.tenant_id == bindparam("b_tenant"), table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"v_{name}") for name in names})
    )
    await session.execute(
        stmt,
        [{"b_tenant": tenant_id, "b_id": row["id"], **{f"v_{n}": row[n] for n in names}} for row in rows],
    )


def _merge_event(tenant_id: str, survivor_id: str, merged_id: str, reason: str, merge_id: str) -> CloudEvent:
    payload = ProfileMergedEvent.model_validate(
        {"survivor_id": survivor_id, "merged_id": merged_id, "reason": reason, "merge_id": merge_id}
    )
    return new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=survivor_id)


async def merge_profiles(
    session: AsyncSession,
    *,
    tenant_id: str,
    survivor_id: str,
    merged_id: str,
    reason: str,
    actor: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> str:
    """Merge `merged_id` into `survivor_id` in the caller's transaction; the merge's id.

    `ProfileNotFound` when either is not the tenant's; `SameProfile` for one id twice; `ProfileMerged`
    when either was merged away already."""
    profiles = await lock_profiles(session, tenant_id=tenant_id, ids=[survivor_id, merged_id])
    for profile_id in (survivor_id, merged_id):
        if profile_id not in profiles:
            raise ProfileNotFound(f"Profile {profile_id} was not found.")
    if survivor_id == merged_id:
        raise SameProfile("A profile cannot be merged into itself.")
    for profile_id in (survivor_id, merged_id):
        if profiles[profile_id]["merged_into"] is not None:
            raise ProfileMerged(
                f"Profile {profile_id} was merged into {profiles[profile_id]['merged_into']} already."
            )
    survivor, merged = profiles[survivor_id], profiles[merged_id]
    before = {survivor_id: dict(survivor)}
    identifier_ids = list(
        await session.scalars(
            select(_ID.c.id).where(_ID.c.tenant_id == tenant_id, _ID.c.profile_id == merged_id)
        )
    )
    order_ids = list(
        await session.scalars(
            select(_O.c.id).where(_O.c.tenant_id == tenant_id, _O.c.profile_id == merged_id)
        )
    )
    note_ids = list(
        await session.scalars(
            select(_N.c.id).where(_N.c.tenant_id == tenant_id, _N.c.profile_id == merged_id)
        )
    )
    merge_id, now = new_id(), utcnow()
    await session.execute(
        _M.insert().values(
            id=merge_id,
            tenant_id=tenant_id,
            survivor_id=survivor_id,
            merged_id=merged_id,
            reason=reason,
            evidence=evidence or {},
            actor=actor,
            survivor_before=_to_json(survivor),
            merged_before={**_to_json(merged), "moved_orders": order_ids, "moved_notes": note_ids},
            identifier_ids=identifier_ids,
            created_at=now,
            undone_at=None,
        )
    )
    for table in (_ID, _I, _O, _N):
        await session.execute(
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.profile_id == merged_id)
            .values(profile_id=survivor_id)
        )
    # The survivor: its own values first, the merged profile's where it knew nothing.
    for name in ("display_name", "bio", "followers"):
        if survivor[name] is None:
            survivor[name] = merged[name]
    survivor["influence"] = max(survivor["influence"], merged["influence"])
    if lifecycle.RANK.get(merged["lifecycle_stage"], 0) > lifecycle.RANK.get(survivor["lifecycle_stage"], 0):
        survivor["lifecycle_stage"] = merged["lifecycle_stage"]
    survivor["at_risk"] = survivor["at_risk"] or merged["at_risk"]
    survivor["order_count"] += merged["order_count"]
    survivor["lifetime_value"] = _add_values(survivor["lifetime_value"], merged["lifetime_value"])
    survivor["attributes"] = {**merged["attributes"], **survivor["attributes"]}
    survivor["tags"] = sorted(set(survivor["tags"]) | set(merged["tags"]))
    await recount(session, tenant_id=tenant_id, profile=survivor)
    survivor["updated_at"] = merged["updated_at"] = now
    merged["merged_into"] = survivor_id
    await _write_all(session, tenant_id=tenant_id, rows=[survivor, merged])
    # Open suggestions between the two are settled by the merge.
    await session.execute(
        update(_S)
        .where(
            _S.c.tenant_id == tenant_id,
            _S.c.status == literal("open"),
            ((_S.c.profile_id == survivor_id) & (_S.c.candidate_id == merged_id))
            | ((_S.c.profile_id == merged_id) & (_S.c.candidate_id == survivor_id)),
        )
        .values(status="accepted", decided_by=actor, decided_at=now)
    )
    # Both consent histories kept on the survivor, its state the most restrictive of the two.
    await merge_ledgers(
        session, tenant_id=tenant_id, survivor_id=survivor_id, merged_id=merged_id, merge_id=merge_id
    )
    # The survivor is judged again with what it gained; a merged-away profile belongs to no segment.
    memberships = await refresh_memberships(session, tenant_id, [survivor_id, merged_id])
    segments = {pid: set(ids) for pid, ids in memberships.items()}
    events = [_merge_event(tenant_id, survivor_id, merged_id, reason, merge_id)]
    events.extend(updated_events(tenant_id, before, {survivor_id: survivor}, segments))
    await stage_many(session, events)
    log.info(
        "profiles.merged",
        extra={
            "tenant_id": tenant_id,
            "merge_id": merge_id,
            "survivor_id": survivor_id,
            "merged_id": merged_id,
        },
    )
    return merge_id


async def unmerge_identifiers(
    session: AsyncSession, *, tenant_id: str, profile_id: str, identifier_ids: list[str], actor: str | None
) -> tuple[str, str | None]:
    """Split identifiers off `profile_id`: back to the profile they came from by a merge (restored as it
    was, with the interactions that came in under it), else to a new profile. The profile they went to
    and the merge undone (None for a new profile)."""
    profiles = await lock_profiles(session, tenant_id=tenant_id, ids=[profile_id])
    if profile_id not in profiles:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    profile = profiles[profile_id]
    if profile["merged_into"] is not None:
        raise ProfileMerged(f"Profile {profile_id} was merged into {profile['merged_into']}.")
    wanted = set(identifier_ids)
    attached = set(
        await session.scalars(
            select(_ID.c.id).where(
                _ID.c.tenant_id == tenant_id, _ID.c.profile_id == profile_id, _ID.c.id.in_(wanted)
            )
        )
    )
    if not wanted or attached != wanted:
        raise IdentifierNotOnProfile(
            f"Identifiers {', '.join(sorted(wanted - attached)) or '(none)'} are not on profile {profile_id}."
        )
    merges = (
        await session.execute(
            select(_M)
            .where(_M.c.tenant_id == tenant_id, _M.c.survivor_id == profile_id, _M.c.undone_at.is_(None))
            .order_by(_M.c.created_at.desc())
        )
    ).all()
    merge = next((m for m in merges if wanted <= set(m.identifier_ids)), None)
    now = utcnow()
    before = {profile_id: dict(profile)}
    if merge is not None:
        restored_id = merge.merged_id
        restored = (await lock_profiles(session, tenant_id=tenant_id, ids=[restored_id]))[restored_id]
        snap = _from_json(merge.merged_before)
        for name in OWN:
            restored[name] = snap[name]
        restored["merged_into"] = None
        moved_orders, moved_notes = snap.get("moved_orders", []), snap.get("moved_notes", [])
        # The survivor's own columns as they were before the merge.
        survivor_snap = _from_json(merge.survivor_before)
        for name in OWN:
            profile[name] = survivor_snap[name]
        await session.execute(
            update(_M).where(_M.c.tenant_id == tenant_id, _M.c.id == merge.id).values(undone_at=now)
        )
        origin = restored_id
    else:
        restored = new_profile_row(tenant_id=tenant_id, seen_at=profile["first_seen_at"])
        restored_id = restored["id"]
        moved_orders, moved_notes = [], []
        from services.profiles.models import Profile

        await session.execute(Profile.__table__.insert().values(**restored))  # type: ignore[attr-defined]
        origin = None
    await session.execute(
        update(_ID).where(_ID.c.tenant_id == tenant_id, _ID.c.id.in_(wanted)).values(profile_id=restored_id)
    )
    if origin is not None:
        await session.execute(
            update(_I)
            .where(
                _I.c.tenant_id == tenant_id, _I.c.profile_id == profile_id, _I.c.origin_profile_id == origin
            )
            .values(profile_id=restored_id)
        )
    if moved_orders:
        await session.execute(
            update(_O)
            .where(_O.c.tenant_id == tenant_id, _O.c.id.in_(moved_orders))
            .values(profile_id=restored_id)
        )
    if moved_notes:
        await session.execute(
            update(_N)
            .where(_N.c.tenant_id == tenant_id, _N.c.id.in_(moved_notes))
            .values(profile_id=restored_id)
        )
    if origin is not None:
        # Each profile's consent history back with it, each state derived from its own history again.
        await unmerge_ledgers(session, tenant_id=tenant_id, profile_id=profile_id, restored_id=restored_id)
    await recount(session, tenant_id=tenant_id, profile=profile)
    await recount(session, tenant_id=tenant_id, profile=restored)
    profile["updated_at"] = now
    restored["updated_at"] = now
    await _write_all(session, tenant_id=tenant_id, rows=[profile, restored])
    memberships = await refresh_memberships(session, tenant_id, [profile_id, restored_id])
    segments = {pid: set(ids) for pid, ids in memberships.items()}
    payload = ProfileUnmerged(
        profile_id=profile_id,
        restored_profile_id=restored_id,
        identifier_ids=sorted(wanted),
        merge_id=merge.id if merge is not None else None,
    )
    events = [new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=profile_id)]
    events.extend(updated_events(tenant_id, before, {profile_id: profile}, segments))
    if merge is not None:
        # The restored profile is back as it was: its snapshot travels too.
        events.extend(updated_events(tenant_id, {restored_id: {}}, {restored_id: restored}, segments))
    await stage_many(session, events)
    log.info(
        "profiles.unmerged",
        extra={"tenant_id": tenant_id, "profile_id": profile_id, "restored_profile_id": restored_id},
    )
    return str(restored_id), (merge.id if merge is not None else None)


async def merge_on_identifiers(
    session: AsyncSession, *, tenant_id: str, conflicts: list[tuple[str, str, tuple[str, str, str]]]
) -> None:
    """Strong identifiers that arrived for one profile but are attached to another (resolution): when the
    other profile has no other account on that platform, the two are one customer and are merged (the
    arriving profile survives); when it has, the handle changed hands and moves."""
    for arriving, attached, key in conflicts:
        kind, platform, value = key
        profiles = await lock_profiles(session, tenant_id=tenant_id, ids=[arriving, attached])
        if len(profiles) < 2 or any(p["merged_into"] for p in profiles.values()):
            continue
        users: dict[str, str] = dict(
            (
                await session.execute(
                    select(_ID.c.profile_id, _ID.c.value_normalised).where(
                        _ID.c.tenant_id == tenant_id,
                        _ID.c.kind == literal("platform_user_id"),
                        _ID.c.namespace == platform,
                        _ID.c.profile_id.in_([arriving, attached]),
                    )
                )
            ).all()
        )
        if attached in users and users.get(arriving) != users[attached]:
            await session.execute(
                update(_ID)
                .where(
                    _ID.c.tenant_id == tenant_id,
                    _ID.c.kind == kind,
                    _ID.c.namespace == platform,
                    _ID.c.value_normalised == value,
                )
                .values(profile_id=arriving)
            )
            continue
        await merge_profiles(
            session,
            tenant_id=tenant_id,
            survivor_id=arriving,
            merged_id=attached,
            reason="identifier",
            evidence={"kind": kind, "namespace": platform},
        )


async def merge_by_request(
    session: AsyncSession,
    *,
    tenant_id: str,
    survivor_id: str,
    other_id: str,
    actor: str,
    reason: str = "agent",
) -> MergeResult:
    """`POST /v1/profiles/{id}/merge`: merge `other_id` into `survivor_id` and commit."""
    from services.profiles.logic.profiles import get_profile

    await begin_immediate(session)
    merge_id = await merge_profiles(
        session, tenant_id=tenant_id, survivor_id=survivor_id, merged_id=other_id, reason=reason, actor=actor
    )
    await session.commit()
    profile = await get_profile(SessionReader(session), tenant_id=tenant_id, profile_id=survivor_id)
    return MergeResult(merge_id=merge_id, profile=profile)


async def unmerge_by_request(
    session: AsyncSession, *, tenant_id: str, profile_id: str, identifier_ids: list[str], actor: str
) -> UnmergeResult:
    """`POST /v1/profiles/{id}/unmerge`: split the identifiers off and commit."""
    from services.profiles.logic.profiles import get_profile

    await begin_immediate(session)
    restored_id, merge_id = await unmerge_identifiers(
        session, tenant_id=tenant_id, profile_id=profile_id, identifier_ids=identifier_ids, actor=actor
    )
    await session.commit()
    return UnmergeResult(
        merge_id=merge_id,
        profile=await get_profile(SessionReader(session), tenant_id=tenant_id, profile_id=profile_id),
        restored=await get_profile(SessionReader(session), tenant_id=tenant_id, profile_id=restored_id),
    )
