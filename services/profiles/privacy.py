"""What profiles holds about a person, exported or erased (its answer to privacy requests).

The person is the profiles of the request's subject (those merged into them included): their profile
rows, identifiers, custom attributes and tags (on the profile), notes, orders, timeline, segment
memberships, match suggestions, merge records, lifecycle history, match keys, their consent ledger
(history and current state), the audit log of access to their data, and the answers of earlier export
requests about them that profiles keeps for download. Erasure deletes all of it except the audit log and
the request records themselves (without the identifiers, once the erasure completes): the audit records
name the person by a random profile id that, once erased, names nothing, and they are the tenant's proof
of what was done with the data (Art. 5(2)). The consent projection in Redis goes when the erasure is
certified (`logic/privacy_requests.finish_erasure`). The person's handles and platform user ids stay as
digests (`logic/erased.py`), so a post of theirs delivered after the erasure brings nobody back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.consent_models import ConsentRecord, ConsentState, PrivacyAudit
from services.profiles.logic import erased
from services.profiles.models import (
    Identifier,
    Interaction,
    LifecycleChange,
    MatchKey,
    MatchSuggestion,
    Profile,
    ProfileMerge,
    ProfileNote,
    ProfileOrder,
    Segment,
    SegmentMember,
)
from services.profiles.privacy_models import PrivacyAnswer, PrivacyRequest
from shared.events.contracts import PrivacySubject
from shared.privacy import ErasureResult


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


_P, _ID, _IN, _ORD = _t(Profile), _t(Identifier), _t(Interaction), _t(ProfileOrder)
_NOTE, _SEGM, _SEG, _SUG = _t(ProfileNote), _t(SegmentMember), _t(Segment), _t(MatchSuggestion)
_MERGE, _LIFE, _KEY = _t(ProfileMerge), _t(LifecycleChange), _t(MatchKey)
_REQ, _ANS = _t(PrivacyRequest), _t(PrivacyAnswer)
_CREC, _CSTATE, _AUDIT = _t(ConsentRecord), _t(ConsentState), _t(PrivacyAudit)


async def person_ids(session: AsyncSession, tenant_id: str, profile_ids: list[str]) -> list[str]:
    """The profiles and every profile merged into them (at any depth): all rows that hold the person."""
    found = set(profile_ids)
    frontier = set(profile_ids)
    while frontier:
        rows = await session.scalars(
            select(_P.c.id).where(_P.c.tenant_id == tenant_id, _P.c.merged_into.in_(frontier))
        )
        frontier = set(rows) - found
        found |= frontier
    existing = await session.scalars(select(_P.c.id).where(_P.c.tenant_id == tenant_id, _P.c.id.in_(found)))
    return sorted(set(existing))


def _rows(result: Any) -> list[dict[str, Any]]:
    return [_plain(dict(row._mapping)) for row in result]


def _plain(value: Any) -> Any:
    """A JSON-ready copy (timestamps as ISO 8601)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def export_person(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject
) -> dict[str, list[dict[str, Any]]]:
    """Everything profiles holds about the person, by kind."""
    ids = await person_ids(session, tenant_id, subject.profile_ids)
    of_tenant = (_P.c.tenant_id == tenant_id, _P.c.id.in_(ids))

    async def where(table: Table, *conditions: Any) -> list[dict[str, Any]]:
        return _rows(await session.execute(select(table).where(table.c.tenant_id == tenant_id, *conditions)))

    memberships = _rows(
        await session.execute(
            select(
                _SEGM.c.segment_id, _SEG.c.name.label("segment_name"), _SEGM.c.profile_id, _SEGM.c.added_at
            )
            .join(_SEG, _SEG.c.id == _SEGM.c.segment_id)
            .where(_SEGM.c.tenant_id == tenant_id, _SEGM.c.profile_id.in_(ids))
        )
    )
    merges = _rows(
        await session.execute(
            select(
                _MERGE.c.id,
                _MERGE.c.survivor_id,
                _MERGE.c.merged_id,
                _MERGE.c.reason,
                _MERGE.c.evidence,
                _MERGE.c.created_at,
                _MERGE.c.undone_at,
            ).where(
                _MERGE.c.tenant_id == tenant_id,
                or_(_MERGE.c.survivor_id.in_(ids), _MERGE.c.merged_id.in_(ids)),
            )
        )
    )
    return {
        "profiles": _rows(await session.execute(select(_P).where(*of_tenant))),
        "identifiers": await where(_ID, _ID.c.profile_id.in_(ids)),
        "timeline": await where(_IN, _IN.c.profile_id.in_(ids)),
        "orders": await where(_ORD, _ORD.c.profile_id.in_(ids)),
        "notes": await where(_NOTE, _NOTE.c.profile_id.in_(ids)),
        "segment_memberships": memberships,
        "match_suggestions": await where(_SUG, or_(_SUG.c.profile_id.in_(ids), _SUG.c.candidate_id.in_(ids))),
        "merges": merges,
        "lifecycle_changes": await where(_LIFE, _LIFE.c.profile_id.in_(ids)),
        "consents": await where(_CREC, _CREC.c.profile_id.in_(ids)),
        "consent_state": await where(_CSTATE, _CSTATE.c.profile_id.in_(ids)),
        "access_audit": await where(_AUDIT, _AUDIT.c.profile_id.in_(ids)),
    }


async def erase_person(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> ErasureResult:
    """Delete everything profiles holds about the person; counts per kind, and the ids of their
    interactions and orders (events in transit may name them)."""
    ids = await person_ids(session, tenant_id, subject.profile_ids)
    # A merged-away profile may be gone already while the subject still names it: its rows go too.
    ids = sorted(set(ids) | set(subject.profile_ids))
    # First, under the tenant's lock: a post of theirs still in transit will find them listed.
    listed = await erased.remember(session, tenant_id=tenant_id, subject=subject, profile_ids=ids)
    references = [
        *await session.scalars(
            select(_IN.c.ref_id).where(_IN.c.tenant_id == tenant_id, _IN.c.profile_id.in_(ids))
        ),
        *await session.scalars(
            select(_ORD.c.order_id).where(_ORD.c.tenant_id == tenant_id, _ORD.c.profile_id.in_(ids))
        ),
        *await session.scalars(
            select(_IN.c.id).where(_IN.c.tenant_id == tenant_id, _IN.c.profile_id.in_(ids))
        ),
    ]
    counts: dict[str, int] = {}

    async def drop(kind: str, table: Table, *conditions: Any) -> None:
        result = await session.execute(delete(table).where(table.c.tenant_id == tenant_id, *conditions))
        counts[kind] = counts.get(kind, 0) + int(result.rowcount or 0)  # type: ignore[attr-defined]

    # Segments lose the memberships (their counts follow).
    per_segment = Counter(
        await session.scalars(
            select(_SEGM.c.segment_id).where(_SEGM.c.tenant_id == tenant_id, _SEGM.c.profile_id.in_(ids))
        )
    )
    for segment_id, n in per_segment.items():
        await session.execute(
            update(_SEG).where(_SEG.c.id == segment_id).values(member_count=_SEG.c.member_count - n)
        )
    await drop("segment_memberships", _SEGM, _SEGM.c.profile_id.in_(ids))
    await drop("identifiers", _ID, _ID.c.profile_id.in_(ids))
    await drop("timeline", _IN, or_(_IN.c.profile_id.in_(ids), _IN.c.origin_profile_id.in_(ids)))
    await drop("orders", _ORD, _ORD.c.profile_id.in_(ids))
    await drop("notes", _NOTE, _NOTE.c.profile_id.in_(ids))
    await drop("match_suggestions", _SUG, or_(_SUG.c.profile_id.in_(ids), _SUG.c.candidate_id.in_(ids)))
    await drop("merges", _MERGE, or_(_MERGE.c.survivor_id.in_(ids), _MERGE.c.merged_id.in_(ids)))
    await drop("lifecycle_changes", _LIFE, _LIFE.c.profile_id.in_(ids))
    await drop("match_keys", _KEY, _KEY.c.profile_id.in_(ids))
    await drop("consents", _CREC, or_(_CREC.c.profile_id.in_(ids), _CREC.c.origin_profile_id.in_(ids)))
    await drop("consent_state", _CSTATE, _CSTATE.c.profile_id.in_(ids))
    # Other profiles merged into one of these that are not the person's (none, by `person_ids`) would
    # still point at it: their pointer goes.
    await session.execute(
        update(_P).where(_P.c.tenant_id == tenant_id, _P.c.merged_into.in_(ids)).values(merged_into=None)
    )
    await drop("profiles", _P, _P.c.id.in_(ids))
    counts["export_parts"] = await _forget_exports(session, tenant_id, ids)
    counts["erased_authors"] = listed
    return ErasureResult(counts=counts, references=sorted(set(references)))


async def _forget_exports(session: AsyncSession, tenant_id: str, ids: list[str]) -> int:
    """Earlier exports about the person: their parts (what every service held) are deleted and their
    subject emptied; the request records stay."""
    wanted = set(ids)
    requests = [
        row.id
        for row in await session.execute(
            select(_REQ.c.id, _REQ.c.profile_ids).where(
                _REQ.c.tenant_id == tenant_id, _REQ.c.kind == "export"
            )
        )
        if wanted & set(row.profile_ids or [])
    ]
    if not requests:
        return 0
    result = await session.execute(delete(_ANS).where(_ANS.c.request_id.in_(requests)))
    await session.execute(update(_REQ).where(_REQ.c.id.in_(requests)).values(subject={}, named_by={}))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
