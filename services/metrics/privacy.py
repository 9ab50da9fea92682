"""metrics' answer to privacy requests (`shared.privacy`): its fact rows name people by profile id only.

No identifier, handle or text is ever stored here: the fact tables hold ids, labels, times and amounts.
A person's profile ids still link their rows (first sighting, lifecycle, orders, conversations, survey
answers) to them, so an export returns those rows, and an erasure replaces each of the person's profile
ids by a new random id, the same in every table. The counts and figures the person added stay as they
were (an erasure changes no number); the rows no longer lead to anyone. The pairs (erased id, random id)
are kept (`metrics_erased_profile`; the erased id names nothing anywhere once the erasure completes), so
an event naming an erased id that is folded later (one in transit during the erasure) lands under the
random id too (`anonymised`, before each batch of the profiles and engagement streams), and a rebuild
applies every pair again; the snapshot rows kept for rebuilds are rewritten too (`scrub_snapshot`).
Mention rows carry listening's mention id and labels only: listening keeps the anonymised post under
that id, so they stay as they are. (The service's outbox rows that name the person are deleted by the
plumbing, like every service's.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.logic import summaries
from services.metrics.models import (
    ConversationFact,
    ErasedProfile,
    MetricsSnapshotRow,
    OrderFact,
    ProfileFact,
    SurveyFact,
)
from shared.events.contracts import Contract, PrivacySubject
from shared.events.envelope import Event
from shared.ids import uuid4_str
from shared.privacy import ErasureResult


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


_PROFILE, _ORDER, _CONV, _SURVEY = _t(ProfileFact), _t(OrderFact), _t(ConversationFact), _t(SurveyFact)
_ERASED, _SNAPSHOT_ROW = _t(ErasedProfile), _t(MetricsSnapshotRow)
# Where events name profiles.
_PROFILE_FIELDS = ("profile_id", "survivor_id", "merged_id", "restored_profile_id")
# The fact columns that name profiles (in a snapshot row's JSON).
_SNAPSHOT_PROFILE_COLUMNS = ("profile_id", "merged_into", "owner_id", "origin_id")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _rows(result: Any) -> list[dict[str, Any]]:
    return [{key: _plain(value) for key, value in row._mapping.items()} for row in result]


async def export_person(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject
) -> dict[str, list[dict[str, Any]]]:
    """The fact rows of the person's profiles."""
    ids = subject.profile_ids

    async def of(table: Table, *conditions: Any) -> list[dict[str, Any]]:
        return _rows(await session.execute(select(table).where(table.c.tenant_id == tenant_id, *conditions)))

    return {
        "profiles": await of(_PROFILE, _PROFILE.c.profile_id.in_(ids)),
        "orders": await of(_ORDER, _ORDER.c.owner_id.in_(ids) | _ORDER.c.origin_id.in_(ids)),
        "conversations": await of(_CONV, _CONV.c.profile_id.in_(ids)),
        "survey_answers": await of(_SURVEY, _SURVEY.c.profile_id.in_(ids)),
    }


async def replace_profile_id(
    session: AsyncSession, tenant_id: str, profile_id: str, anonymous: str
) -> dict[str, int]:
    """Replace one profile id by its random id in every fact table; rows changed per kind (an erasure,
    a late event naming an erased id, a rebuild re-applying the erasures)."""
    counts: dict[str, int] = {}
    changes = (
        ("profiles", _PROFILE, _PROFILE.c.profile_id, {"profile_id": anonymous}),
        ("profiles", _PROFILE, _PROFILE.c.merged_into, {"merged_into": anonymous}),
        ("orders", _ORDER, _ORDER.c.owner_id, {"owner_id": anonymous}),
        ("orders", _ORDER, _ORDER.c.origin_id, {"origin_id": anonymous}),
        ("conversations", _CONV, _CONV.c.profile_id, {"profile_id": anonymous}),
        ("survey_answers", _SURVEY, _SURVEY.c.profile_id, {"profile_id": anonymous}),
    )
    for kind, table, column, values in changes:
        result = await session.execute(
            update(table).where(table.c.tenant_id == tenant_id, column == profile_id).values(**values)
        )
        counts[kind] = counts.get(kind, 0) + int(result.rowcount or 0)  # type: ignore[attr-defined]
    return counts


async def erase_person(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> ErasureResult:
    """Replace each of the person's profile ids by a new random one in every fact table, and remember
    the pair.

    The folds' tenant locks are taken first (PostgreSQL; SQLite has one writer at a time): a batch of the
    engagement or profiles stream reads the erased ids under its lock and writes under it, so it either
    ends before this erasure starts (and its rows are rewritten here) or reads this erasure's pairs (and
    folds under the random ids). Without them a batch could read the pairs just before this commits and
    write the erased id back after it."""
    for stream in ("engagement", "profiles"):  # the folds' order of taking them: one each, no cycle
        await summaries.lock(session, stream, [tenant_id])
    counts: dict[str, int] = {}
    rows = await session.execute(
        select(_ERASED.c.profile_id, _ERASED.c.anonymous_id).where(
            _ERASED.c.tenant_id == tenant_id, _ERASED.c.profile_id.in_(subject.profile_ids)
        )
    )
    known = {profile_id: anonymous for profile_id, anonymous in rows}
    for profile_id in subject.profile_ids:
        anonymous = known.get(profile_id)
        if anonymous is None:
            anonymous = uuid4_str()
            await session.execute(
                _ERASED.insert().values(tenant_id=tenant_id, profile_id=profile_id, anonymous_id=anonymous)
            )
        for kind, n in (await replace_profile_id(session, tenant_id, profile_id, anonymous)).items():
            counts[kind] = counts.get(kind, 0) + n
        await scrub_snapshot(session, tenant_id, profile_id, anonymous)
    return ErasureResult(counts={f"{kind}_anonymised": n for kind, n in counts.items()}, references=[])


def with_random_ids(event: Event[Contract], erased: dict[tuple[str, str], str]) -> Event[Contract]:
    """The event with every erased profile id it names replaced by its random id (`erased`: (tenant,
    erased id) → random id), so that a rebuild folds it straight under the random id, merging with what
    the rows already hold under it."""
    extra = event.data.model_extra or {}
    changes = {
        f: erased[(event.tenantid, str(extra[f]))]
        for f in _PROFILE_FIELDS
        if extra.get(f) and (event.tenantid, str(extra[f])) in erased
    }
    if not changes:
        return event
    data = type(event.data).model_validate({**event.data.model_dump(), **changes})
    return event.model_copy(update={"data": data})


async def anonymised(session: AsyncSession, events: Sequence[Event[Contract]]) -> list[Event[Contract]]:
    """Before a batch is folded: the events with every erased profile id they name replaced by its random
    id (one indexed look-up per batch naming profiles), so a late event lands under the random id,
    beside the rows the erasure already moved there."""
    named: dict[str, set[str]] = {}
    for event in events:
        extra = event.data.model_extra or {}
        ids = {str(extra[f]) for f in _PROFILE_FIELDS if extra.get(f)}
        if ids:
            named.setdefault(event.tenantid, set()).update(ids)
    erased: dict[tuple[str, str], str] = {}
    for tenant_id, ids in named.items():
        pairs = await session.execute(
            select(_ERASED.c.profile_id, _ERASED.c.anonymous_id).where(
                _ERASED.c.tenant_id == tenant_id, _ERASED.c.profile_id.in_(ids)
            )
        )
        erased.update({(tenant_id, profile_id): anonymous for profile_id, anonymous in pairs})
    if not erased:
        return list(events)
    return [with_random_ids(event, erased) for event in events]


async def scrub_snapshot(session: AsyncSession, tenant_id: str, profile_id: str, anonymous: str) -> int:
    """Replace an erased profile id by its random id in the tenant's snapshot rows (`snapshots.py`), so
    no copy of the fact tables keeps it; rows changed."""
    row = _SNAPSHOT_ROW
    found = await session.execute(
        select(row.c.snapshot_id, row.c.position, row.c.data).where(
            row.c.tenant_id == tenant_id, row.c.data.contains(json.dumps(profile_id), autoescape=True)
        )
    )
    changed = 0
    for snapshot_id, position, data in found:
        values = json.loads(data)
        for column in _SNAPSHOT_PROFILE_COLUMNS:
            if values.get(column) == profile_id:
                values[column] = anonymous
        await session.execute(
            update(row)
            .where(row.c.snapshot_id == snapshot_id, row.c.position == position)
            .values(data=json.dumps(values, separators=(",", ":"), sort_keys=True))
        )
        changed += 1
    return changed
