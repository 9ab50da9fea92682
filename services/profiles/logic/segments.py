"""Segments: named rules over profile fields, their members kept up to date, listed and exported."""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    cast,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import SegmentNotFound, SegmentRuleInvalid
from services.profiles.logic.attributes import Definitions, definitions
from services.profiles.logic.consent_effects import Refusing, Withhold
from services.profiles.logic.rules import CompiledRule, RuleError, compile_rule
from services.profiles.logic.tags import normalise_tag
from services.profiles.models import Profile, Segment, SegmentMember
from services.profiles.schemas import SegmentCreate, SegmentMemberPage, SegmentPage, SegmentRead
from shared.db import utcnow
from shared.errors import BadRequest
from shared.pagination import cut, keyset_bound, page_of, page_params
from shared.reads import Reader, SessionReader
from shared.tenancy import get_row_scoped

log = logging.getLogger("rapport.profiles")

# Profiles read per statement when a segment is filled or exported.
CHUNK = 500
_P = Profile.__table__  # type: ignore[attr-defined]
_S = Segment.__table__  # type: ignore[attr-defined]
_M = SegmentMember.__table__  # type: ignore[attr-defined]


# What rules read of a profile (its counters and JSON of intents and the bio are not needed).
_RULE_COLUMNS = tuple(
    _P.c[name]
    for name in (
        "id",
        "lifecycle_stage",
        "at_risk",
        "sentiment_trend",
        "influence",
        "followers",
        "mention_count",
        "order_count",
        "lifetime_value",
        "languages",
        "tags",
        "attributes",
        "first_seen_at",
        "last_seen_at",
        "merged_into",
        "created_at",
    )
)


def _rule_error(exc: RuleError, rule: str) -> SegmentRuleInvalid:
    return SegmentRuleInvalid(
        f"The segment rule is not valid: {exc.message}.",
        errors=[
            {
                "loc": ["body", "rule"],
                "msg": exc.message,
                "type": "rule_syntax",
                "position": exc.position,
                "pointer": exc.pointer(rule),
            }
        ],
    )


def parse_rule(rule: str, defined: Definitions) -> CompiledRule:
    """The rule compiled against the tenant's attribute definitions, or `SegmentRuleInvalid` (422)."""
    try:
        return compile_rule(rule, defined)
    except RuleError as exc:
        raise _rule_error(exc, rule) from None


def _compile_stored(rule: str, defined: Definitions) -> CompiledRule | None:
    """A stored rule compiled again (None if it no longer compiles; when an attribute it names was deleted
    it is compiled untyped). Compiled rules are kept (by rule and definitions): refreshing the memberships
    of every batch of mentions must not parse every segment's rule again."""
    return _compile_cached(rule, tuple(sorted(defined.items())))


@functools.lru_cache(maxsize=4096)
def _compile_cached(
    rule: str, defined: tuple[tuple[str, tuple[str, tuple[str, ...]]], ...]
) -> CompiledRule | None:
    try:
        return compile_rule(rule, dict(defined))
    except RuleError:
        try:
            return compile_rule(rule)
        except RuleError:
            log.warning("segment.rule_broken")
            return None


def _live(row: Any) -> bool:
    return row.merged_into is None


# --- membership ----------------------------------------------------------------------------------------


async def refresh_memberships(
    session: AsyncSession, tenant_id: str, profile_ids: Iterable[str], *, unprofiled: Collection[str] = ()
) -> dict[str, list[str]]:
    """Re-evaluate every segment of the tenant for these profiles; returns each profile's segment ids.

    `unprofiled`: profiles that may not be processed for profiling (a withdrawal, an objection,
    `logic/consent_effects.py`): they belong to no segment.

    Runs in the caller's transaction (flushes, does not commit): one SELECT of the tenant's segments,
    one of its attribute definitions, one of the profiles, one of their current memberships, then
    set-based INSERT/DELETE of `segment_member` and one UPDATE of `member_count` per changed segment.
    A merged-away profile belongs to no segment.
    """
    ids = sorted(set(profile_ids))
    if not ids:
        return {}
    await session.flush()
    segments = (await session.execute(select(_S.c.id, _S.c.rule).where(_S.c.tenant_id == tenant_id))).all()
    if not segments:
        return {pid: [] for pid in ids}
    defined = await definitions(session, tenant_id)
    compiled = [(seg.id, _compile_stored(seg.rule, defined)) for seg in segments]
    profiles = (
        await session.execute(select(*_RULE_COLUMNS).where(_P.c.tenant_id == tenant_id, _P.c.id.in_(ids)))
    ).all()
    current = {
        (row.segment_id, row.profile_id)
        for row in (
            await session.execute(
                select(_M.c.segment_id, _M.c.profile_id).where(
                    _M.c.tenant_id == tenant_id, _M.c.profile_id.in_(ids)
                )
            )
        ).all()
    }
    wanted: set[tuple[str, str]] = set()
    for profile in profiles:
        if not _live(profile) or profile.id in unprofiled:
            continue
        for segment_id, rule in compiled:
            if rule is not None and rule.matches(profile):
                wanted.add((segment_id, profile.id))
    # A segment whose rule no longer compiles keeps its members as they are (but not a person refusing).
    broken = {segment_id for segment_id, rule in compiled if rule is None}
    added = sorted(wanted - current)
    removed = sorted(pair for pair in current - wanted if pair[0] not in broken or pair[1] in unprofiled)
    await _apply(session, tenant_id, added, removed)
    members: dict[str, list[str]] = {pid: [] for pid in ids}
    kept = {pair for pair in current if pair[0] in broken and pair[1] not in unprofiled}
    for segment_id, profile_id in wanted | kept:
        members[profile_id].append(segment_id)
    return {pid: sorted(seg_ids) for pid, seg_ids in members.items()}


async def _apply(
    session: AsyncSession,
    tenant_id: str,
    added: Sequence[tuple[str, str]],
    removed: Sequence[tuple[str, str]],
) -> None:
    """Insert and delete memberships and move each changed segment's `member_count` by the difference."""
    delta: dict[str, int] = defaultdict(int)
    if added:
        now = utcnow()
        await session.execute(
            insert(_M),
            [
                {"tenant_id": tenant_id, "segment_id": seg, "profile_id": pid, "added_at": now}
                for seg, pid in added
            ],
        )
        for seg, _ in added:
            delta[seg] += 1
    by_segment: dict[str, list[str]] = defaultdict(list)
    for seg, pid in removed:
        by_segment[seg].append(pid)
        delta[seg] -= 1
    for seg, pids in by_segment.items():
        await session.execute(
            delete(_M).where(_M.c.tenant_id == tenant_id, _M.c.segment_id == seg, _M.c.profile_id.in_(pids))
        )
    for seg, change in delta.items():
        if change:
            await session.execute(
                update(_S)
                .where(_S.c.tenant_id == tenant_id, _S.c.id == seg)
                .values(member_count=_S.c.member_count + change)
            )


async def _fill(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    rule: CompiledRule,
    refusing: Refusing | None = None,
) -> int:
    """Add every matching profile of the tenant to a new segment, CHUNK profiles per statement (walked in
    the order of the tenant's (created_at, id) index: ordered by id alone, each chunk sorted every profile
    of the tenant again); none that `refusing` names (no profiling of them)."""
    conditions = [_P.c.tenant_id == tenant_id, _P.c.merged_into.is_(None)]
    if rule.where is not None:
        conditions.append(rule.where)
    total, cursor = 0, None
    while True:
        stmt = keyset_bound(
            select(*_RULE_COLUMNS).where(*conditions), _P.c.created_at, _P.c.id, after=cursor is not None
        )
        rows = (await session.execute(stmt, page_params(limit=CHUNK, cursor=cursor))).all()
        page, cursor = cut(rows, limit=CHUNK)
        matching = [(segment_id, row.id) for row in page if rule.matches(row)]
        if refusing is not None and matching:
            left_out = await refusing([pid for _, pid in matching])
            matching = [pair for pair in matching if pair[1] not in left_out]
        await _apply(session, tenant_id, matching, [])
        total += len(matching)
        if cursor is None:
            return total


# --- segments ------------------------------------------------------------------------------------------


async def create_segment(
    session: AsyncSession, *, tenant_id: str, segment_in: SegmentCreate, refusing: Refusing | None = None
) -> SegmentRead:
    """Create a segment and fill its members in one pass over the tenant's profiles (leaving out those
    `refusing` names); an invalid rule is `SegmentRuleInvalid` (422) and creates nothing."""
    rule = parse_rule(segment_in.rule, await definitions(session, tenant_id))
    segment = Segment(tenant_id=tenant_id, name=segment_in.name, rule=segment_in.rule)
    session.add(segment)
    await session.flush()
    count = await _fill(session, tenant_id, segment.id, rule, refusing)
    await session.commit()
    log.info("segment.created", extra={"tenant_id": tenant_id, "segment_id": segment.id, "members": count})
    return await get_segment(SessionReader(session), tenant_id=tenant_id, segment_id=segment.id)


async def get_segment(reader: Reader, *, tenant_id: str, segment_id: str) -> SegmentRead:
    """One segment of the tenant (`SessionReader` inside a write's transaction); `SegmentNotFound`."""
    row = await get_row_scoped(
        reader, Segment, tenant_id=tenant_id, id=segment_id, error=SegmentNotFound, shape=SegmentRead
    )
    return SegmentRead.model_validate(row, from_attributes=True)


async def list_segments(reader: Reader, *, tenant_id: str, limit: int, cursor: str | None) -> SegmentPage:
    """The tenant's segments with their member counts, newest first."""
    rows, next_cursor = await page_of(
        reader, Segment, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=SegmentRead
    )
    return SegmentPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def delete_segment(session: AsyncSession, *, tenant_id: str, segment_id: str) -> None:
    """Delete a segment and its memberships."""
    await get_segment(SessionReader(session), tenant_id=tenant_id, segment_id=segment_id)
    await session.execute(delete(_M).where(_M.c.tenant_id == tenant_id, _M.c.segment_id == segment_id))
    await session.execute(delete(_S).where(_S.c.tenant_id == tenant_id, _S.c.id == segment_id))
    await session.commit()
    log.info("segment.deleted", extra={"tenant_id": tenant_id, "segment_id": segment_id})


# --- members -------------------------------------------------------------------------------------------

_SUMMARY = (
    _P.c.id,
    _P.c.display_name,
    _P.c.lifecycle_stage,
    _P.c.at_risk,
    _P.c.sentiment_trend,
    _P.c.influence,
    _P.c.followers,
    _P.c.mention_count,
    _P.c.order_count,
    _P.c.lifetime_value,
    _P.c.tags,
    _P.c.first_seen_at,
    _P.c.last_seen_at,
    _P.c.created_at,
)


def _members(after: bool) -> Select[Any]:
    """A page of a segment's members in the order of its key (segment_id, profile_id): each page is a
    range of that index, so an export reads every member once (ordered by the profiles' creation, each
    page sorted all the segment's members again, and an export grew with the square of the segment).
    Scoped through the segment's row (found by its key): a condition on segment_member.tenant_id let
    SQLite (no statistics) read every membership of the tenant by that index instead."""
    stmt = (
        select(*_SUMMARY)
        .select_from(_S.join(_M, _M.c.segment_id == _S.c.id).join(_P, _P.c.id == _M.c.profile_id))
        .where(_S.c.tenant_id == bindparam("tenant_id"), _S.c.id == bindparam("segment_id"))
    )
    if after:
        stmt = stmt.where(_M.c.profile_id > bindparam("after_profile"))
    return stmt.order_by(_M.c.profile_id).limit(bindparam("page_limit"))


# (`tenant_id`, `segment_id`, `page_limit`, and `after_profile` after the first page)
_MEMBERS = {after: _members(after) for after in (False, True)}


def _member_cursor(profile_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(["m", profile_id]).encode()).decode().rstrip("=")


def _after_profile(cursor: str) -> str:
    try:
        kind, profile_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind != "m" or not isinstance(profile_id, str):
            raise ValueError(cursor)
    except Exception:
        raise BadRequest("The cursor is not valid.") from None
    return profile_id


async def _member_rows(
    reader: Reader, *, tenant_id: str, segment_id: str, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    params: dict[str, Any] = {"tenant_id": tenant_id, "segment_id": segment_id, "page_limit": limit + 1}
    if cursor:
        params["after_profile"] = _after_profile(cursor)
    rows = await reader.all(_MEMBERS[bool(cursor)], params)
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], _member_cursor(rows[limit - 1].id)


async def list_members(
    reader: Reader,
    *,
    tenant_id: str,
    segment_id: str,
    limit: int,
    cursor: str | None,
    withhold: Withhold | None = None,
) -> SegmentMemberPage:
    """A page of the segment's members (profile summaries), in a stable order (by profile id); those
    `withhold` names are left out of it, and counted."""
    await get_segment(reader, tenant_id=tenant_id, segment_id=segment_id)
    rows, next_cursor = await _member_rows(
        reader, tenant_id=tenant_id, segment_id=segment_id, limit=limit, cursor=cursor
    )
    extra: dict[str, Any] = {}
    if withhold is not None:
        left_out = await withhold([row.id for row in rows])
        rows = [row for row in rows if row.id not in left_out]
        extra = {"purpose": withhold.purpose, "withheld": len(left_out)}
    return SegmentMemberPage.model_validate(
        {"items": rows, "next_cursor": next_cursor, **extra}, from_attributes=True
    )


async def member_ids(reader: Reader, *, tenant_id: str, segment_id: str) -> list[str]:
    """Every member's profile id, CHUNK at a time."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        rows, cursor = await _member_rows(
            reader, tenant_id=tenant_id, segment_id=segment_id, limit=CHUNK, cursor=cursor
        )
        ids.extend(row.id for row in rows)
        if cursor is None:
            return ids


CSV_COLUMNS = (
    "id",
    "display_name",
    "lifecycle_stage",
    "sentiment_trend",
    "influence",
    "lifetime_value",
    "tags",
    "first_seen_at",
    "last_seen_at",
)


def _cell(text: str | None) -> str:
    """A text cell a spreadsheet shows as text: a leading = + - @ would start a formula."""
    if not text:
        return ""
    return "'" + text if text[0] in "=+-@\t\r" else text


def _csv_lines(rows: Sequence[Any]) -> str:
    """The CSV lines of these members (one writer per chunk)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [
            row.id,
            _cell(row.display_name),
            row.lifecycle_stage,
            round(row.sentiment_trend, 3),
            round(row.influence, 1),
            ";".join(
                f"{amount} {currency}" for currency, amount in sorted((row.lifetime_value or {}).items())
            ),
            _cell(";".join(row.tags or [])),
            row.first_seen_at.isoformat(),
            row.last_seen_at.isoformat(),
        ]
        for row in rows
    )
    return out.getvalue()


async def export_members(
    reader: Reader, *, tenant_id: str, segment_id: str, only: Collection[str] | None = None
) -> AsyncIterator[str]:
    """The segment's members as CSV (a header row, then one line per member), read CHUNK at a time
    through the reader (the process's: the response streams after the request is done); with `only`,
    just those of them (the members decided before the export started)."""
    yield ",".join(CSV_COLUMNS) + "\n"
    cursor: str | None = None
    while True:
        rows, cursor = await _member_rows(
            reader, tenant_id=tenant_id, segment_id=segment_id, limit=CHUNK, cursor=cursor
        )
        if only is not None:
            rows = [row for row in rows if row.id in only]
        yield _csv_lines(rows)
        if cursor is None:
            return


# --- profile list filters ------------------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tag_pattern(tag: str) -> str:
    """The LIKE pattern of `tag_condition` for `tag` (normalised like stored tags)."""
    return "%" + _like_escape(json.dumps(normalise_tag(tag))) + "%"


def tag_condition() -> ColumnElement[bool]:
    """`profile.tags` holds the tag whose `tag_pattern` is bound as `tag_pattern`: on the JSON text (a tag
    is stored as its JSON string, `"vip"`), the same on SQLite and PostgreSQL."""
    return cast(_P.c.tags, String).like(bindparam("tag_pattern"), escape="\\")


def profile_filters(*, segment: bool, tag: bool, lifecycle_stage: bool) -> list[ColumnElement[bool]]:
    """The conditions on `profile` of `GET /v1/profiles?segment_id=&tag=&lifecycle_stage=` (those asked
    for), to add to the list statement's WHERE: bind parameters only (`tenant_id` and what
    `profile_filter_params` gives), so a statement built with them can be cached per shape."""
    conditions: list[ColumnElement[bool]] = []
    if segment:
        members = select(_M.c.profile_id).where(
            _M.c.tenant_id == bindparam("tenant_id"), _M.c.segment_id == bindparam("segment_id")
        )
        conditions.append(_P.c.id.in_(members))
    if tag:
        conditions.append(tag_condition())
    if lifecycle_stage:
        conditions.append(_P.c.lifecycle_stage == bindparam("lifecycle_stage"))
    return conditions


def profile_filter_params(
    *, segment_id: str | None = None, tag: str | None = None, lifecycle_stage: str | None = None
) -> dict[str, Any]:
    """The bind parameters of `profile_filters` for these values (None: not filtered)."""
    params: dict[str, Any] = {}
    if segment_id is not None:
        params["segment_id"] = segment_id
    if tag is not None:
        params["tag_pattern"] = tag_pattern(tag)
    if lifecycle_stage is not None:
        params["lifecycle_stage"] = lifecycle_stage
    return params


__all__ = [
    "CHUNK",
    "CSV_COLUMNS",
    "create_segment",
    "delete_segment",
    "export_members",
    "get_segment",
    "list_members",
    "list_segments",
    "parse_rule",
    "profile_filter_params",
    "profile_filters",
    "refresh_memberships",
    "tag_condition",
    "tag_pattern",
]
