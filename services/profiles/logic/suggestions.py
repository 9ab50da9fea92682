"""Match suggestions: profiles that may be one person, scored on names, handles, bios and links.

Blocking keeps it far from comparing every profile with every other: each profile is indexed
(`match_key`) under its name tokens, its handle stems (across platforms) and its website hosts, and a
profile is compared only with the profiles sharing one of its keys, at most `MAX_CANDIDATES` of them.
Suggestions are computed when a profile is created or its name or handles change, never merge anything
by themselves, and are decided by an agent (accept = merge with reason `suggestion`; reject).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import Select, bindparam, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import SuggestionDecided, SuggestionNotFound
from services.profiles.logic.merges import merge_profiles
from services.profiles.logic.notes import profile_ref
from services.profiles.logic.resolution import insert_ignoring_conflicts
from services.profiles.models import Identifier, MatchKey, MatchSuggestion, Profile, new_id
from services.profiles.schemas import MatchSuggestionList, MatchSuggestionRead, MergeResult
from shared.db import begin_immediate, utcnow
from shared.reads import Reader, SessionReader

_P = Profile.__table__  # type: ignore[attr-defined]
_ID = Identifier.__table__  # type: ignore[attr-defined]
_K = MatchKey.__table__  # type: ignore[attr-defined]
_S = MatchSuggestion.__table__  # type: ignore[attr-defined]

MAX_CANDIDATES = 20  # compared per profile, those sharing the most keys first
THRESHOLD = 0.75  # the weighted score a suggestion needs
STRONG_SIGNAL = 0.85  # ... and its name or handle must be at least this alike
WEIGHTS = {"name": 0.45, "handle": 0.35, "bio": 0.1, "link": 0.1}
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def handle_stem(handle: str) -> str:
    """`@Sam_K.92` → `samk`: letters only, the form handles of one person across platforms share."""
    return _DIGITS.sub("", _NON_ALNUM.sub("", _fold(handle)))


def match_keys(display_name: str | None, handles: Iterable[str], websites: Iterable[str]) -> set[str]:
    """The blocking keys of a profile."""
    keys = set()
    for token in _NON_ALNUM.split(_fold(display_name or "")):
        if len(token) >= 3:
            keys.add(f"n:{token[:60]}")
    for handle in handles:
        stem = handle_stem(handle)
        if len(stem) >= 3:
            keys.add(f"h:{stem[:6]}")
    for site in websites:
        host = site.split("/", 1)[0]
        if host:
            keys.add(f"w:{host[:70]}")
    return keys


def _prepare(profile: dict[str, Any]) -> None:
    """The folded name, bio and handle stems, once per profile however often it is compared."""
    if "stems" not in profile:
        profile["name_folded"] = _fold(profile["display_name"] or "")
        profile["stems"] = [handle_stem(h) for h in profile["handles"]]
        profile["bio_folded"] = _fold(profile["bio"]) if profile["bio"] else ""


def score_pair(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """The likelihood (0..1) that two profiles (display_name, bio, handles, websites) are one person,
    and the evidence: per signal, what was compared and how alike it was."""
    _prepare(a)
    _prepare(b)
    # (signal, how alike, what was compared), in the order name, handle, bio, link.
    signals: list[tuple[str, float, str]] = []
    name = handle = 0.0
    if a["name_folded"] and b["name_folded"]:
        name = fuzz.token_sort_ratio(a["name_folded"], b["name_folded"]) / 100
        signals.append(("name", name, f"{a['display_name']} ~ {b['display_name']}"))
    stems_a, stems_b = a["stems"], b["stems"]
    if stems_a and stems_b:
        handle, best = -1.0, (0, 0)
        for i, sa in enumerate(stems_a):
            for j, sb in enumerate(stems_b):
                ratio = fuzz.ratio(sa, sb) / 100
                if ratio > handle:
                    handle, best = ratio, (i, j)
        signals.append(("handle", handle, f"{a['handles'][best[0]]} ~ {b['handles'][best[1]]}"))
    if a["bio_folded"] and b["bio_folded"]:
        signals.append(("bio", fuzz.token_set_ratio(a["bio_folded"], b["bio_folded"]) / 100, "bio"))
    if a["websites"] and b["websites"]:
        shared = set(a["websites"]) & set(b["websites"])
        signals.append(("link", 1.0 if shared else 0.0, ", ".join(sorted(shared)) or "different links"))
    if not signals:
        return 0.0, []
    weight = sum([WEIGHTS[signal] for signal, _, _ in signals])
    score = sum([WEIGHTS[signal] * value for signal, value, _ in signals]) / weight
    if max(name, handle) < STRONG_SIGNAL:
        score = min(score, THRESHOLD - 0.01)
    evidence = [
        {"signal": signal, "detail": detail[:200], "score": round(value, 3)}
        for signal, value, detail in signals
    ]
    return round(score, 3), evidence


async def _profiles(session: AsyncSession, tenant_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The profiles (not merged away) with their handles and websites, for matching: one statement."""
    wanted = list(set(ids))
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    links = (_ID.c.profile_id == _P.c.id) & _ID.c.kind.in_(("handle", "website"))
    rows = await session.execute(
        select(_P.c.id, _P.c.display_name, _P.c.bio, _ID.c.kind, _ID.c.value, _ID.c.value_normalised)
        .select_from(_P.outerjoin(_ID, links))
        .where(_P.c.tenant_id == tenant_id, _P.c.id.in_(wanted), _P.c.merged_into.is_(None))
    )
    for pid, name, bio, kind, value, normalised in rows:
        profile = found.get(pid)
        if profile is None:
            profile = found[pid] = subject(pid, name, bio)
        if kind == "handle":
            profile["handles"].append(value)
        elif kind == "website":
            profile["websites"].append(normalised)
    return found


def subject(profile_id: str, display_name: str | None, bio: str | None) -> dict[str, Any]:
    """A profile as matching compares it (handles and websites to be filled in)."""
    return {"id": profile_id, "display_name": display_name, "bio": bio, "handles": [], "websites": []}


def _candidates(keys: dict[str, set[str]], sharing: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per profile, the `MAX_CANDIDATES` others sharing the most of its `keys`, ties by profile id
    (`sharing`: the profiles under each key, the profiles themselves included).

    The others are counted in groups, not one by one: those under the same of these keys (a tenant's
    look-alike authors, all under a common name token and handle stem) share every count, so a profile's
    count is one per group and key, however many profiles the group holds."""
    under: dict[str, set[str]] = {}
    for key, pids in sharing.items():
        for pid in pids:
            under.setdefault(pid, set()).add(key)
    groups: dict[frozenset[str], list[str]] = {}
    for pid, its in under.items():
        groups.setdefault(frozenset(its), []).append(pid)
    members = list(groups.values())
    for group in members:
        group.sort()
    by_key: dict[str, list[int]] = {}
    for index, shared_keys in enumerate(groups):
        for key in shared_keys:
            by_key.setdefault(key, []).append(index)
    candidates: dict[str, list[str]] = {}
    for pid, ks in keys.items():
        levels: dict[int, list[list[str]]] = {}
        for index, shared in Counter(i for k in ks for i in by_key.get(k, ())).items():
            levels.setdefault(shared, []).append(members[index])
        ranked = (
            other
            for shared in sorted(levels, reverse=True)
            for other in heapq.merge(*levels[shared])
            if other != pid
        )
        candidates[pid] = list(itertools.islice(ranked, MAX_CANDIDATES))
    return candidates


async def suggest_for(
    session: AsyncSession,
    *,
    tenant_id: str,
    profile_ids: Iterable[str],
    known: dict[str, dict[str, Any]] | None = None,
) -> int:
    """Index these profiles under their keys and record suggestions with the profiles sharing a key; the
    number of new suggestions. In the caller's transaction. `known`: some of them as `subject`s already
    (a new profile's name and handles are known to resolution), not read again."""
    known = known or {}
    wanted = set(profile_ids)
    subjects = {pid: known[pid] for pid in wanted if pid in known}
    subjects.update(await _profiles(session, tenant_id, wanted - set(subjects)))
    if not subjects:
        return 0
    keys = {pid: match_keys(p["display_name"], p["handles"], p["websites"]) for pid, p in subjects.items()}
    rows = [
        {"tenant_id": tenant_id, "key": k, "profile_id": pid} for pid, ks in keys.items() for k in sorted(ks)
    ]
    if not rows:
        return 0
    await session.execute(insert_ignoring_conflicts(session, _K), rows)
    every = sorted({k for ks in keys.values() for k in ks})
    sharing: dict[str, list[str]] = {}
    for key, pid in await session.execute(
        select(_K.c.key, _K.c.profile_id).where(_K.c.tenant_id == tenant_id, _K.c.key.in_(every))
    ):
        sharing.setdefault(key, []).append(pid)
    candidates = _candidates(keys, sharing)
    others = await _profiles(session, tenant_id, {c for cs in candidates.values() for c in cs})
    now = utcnow()
    found = []
    # A pair met twice (two of these profiles each other's candidates) scores alike both ways; the first
    # suggestion would stand anyway.
    compared: set[tuple[str, str]] = set()
    for pid, cs in candidates.items():
        for other in cs:
            if other not in others:
                continue
            first, second = (pid, other) if pid < other else (other, pid)
            if (first, second) in compared:
                continue
            compared.add((first, second))
            score, evidence = score_pair(subjects[pid], others[other])
            if score >= THRESHOLD:
                found.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "profile_id": first,
                        "candidate_id": second,
                        "score": score,
                        "evidence": evidence,
                        "status": "open",
                        "decided_by": None,
                        "decided_at": None,
                        "created_at": now,
                    }
                )
    if found:
        # A pair suggested before (or rejected) keeps its row.
        await session.execute(insert_ignoring_conflicts(session, _S), found)
    return len(found)


def _read(row: Any, profile_id: str) -> MatchSuggestionRead:
    data = dict(row._mapping)
    if data["profile_id"] != profile_id:
        data["profile_id"], data["candidate_id"] = profile_id, data["profile_id"]
    return MatchSuggestionRead.model_validate(data)


@functools.cache
def _of_profile(by_status: bool) -> Select[Any]:
    """A profile's suggestions, best first (`tenant_id`, `profile_id`, and `status` when `by_status`)."""
    stmt = select(_S).where(
        _S.c.tenant_id == bindparam("tenant_id"),
        or_(_S.c.profile_id == bindparam("profile_id"), _S.c.candidate_id == bindparam("profile_id")),
    )
    if by_status:
        stmt = stmt.where(_S.c.status == bindparam("status"))
    return stmt.order_by(_S.c.score.desc(), _S.c.id)


async def list_suggestions(
    reader: Reader, *, tenant_id: str, profile_id: str, status: str | None
) -> MatchSuggestionList:
    """The profile's suggestions, best first (`status` narrows them)."""
    await profile_ref(reader, tenant_id=tenant_id, profile_id=profile_id)
    params = {"tenant_id": tenant_id, "profile_id": profile_id}
    if status is not None:
        params["status"] = status
    rows = await reader.all(_of_profile(status is not None), params)
    return MatchSuggestionList(items=[_read(row, profile_id) for row in rows])


async def _open_suggestion(session: AsyncSession, tenant_id: str, profile_id: str, suggestion_id: str) -> Any:
    row = (
        await session.execute(
            select(_S).where(
                _S.c.tenant_id == tenant_id,
                _S.c.id == suggestion_id,
                or_(_S.c.profile_id == profile_id, _S.c.candidate_id == profile_id),
            )
        )
    ).first()
    if row is None:
        raise SuggestionNotFound(f"Match suggestion {suggestion_id} of profile {profile_id} was not found.")
    if row.status != "open":
        raise SuggestionDecided(f"Match suggestion {suggestion_id} was {row.status} already.")
    return row


async def accept_suggestion(
    session: AsyncSession, *, tenant_id: str, profile_id: str, suggestion_id: str, actor: str
) -> MergeResult:
    """Accept: the other profile is merged into `profile_id` (reason `suggestion`); commits."""
    from services.profiles.logic.profiles import get_profile

    await begin_immediate(session)
    row = await _open_suggestion(session, tenant_id, profile_id, suggestion_id)
    other = row.candidate_id if row.profile_id == profile_id else row.profile_id
    merge_id = await merge_profiles(
        session,
        tenant_id=tenant_id,
        survivor_id=profile_id,
        merged_id=other,
        reason="suggestion",
        actor=actor,
        evidence={"suggestion_id": suggestion_id, "score": row.score},
    )
    await session.execute(
        update(_S)
        .where(_S.c.tenant_id == tenant_id, _S.c.id == suggestion_id)
        .values(status="accepted", decided_by=actor, decided_at=utcnow())
    )
    await session.commit()
    return MergeResult(
        merge_id=merge_id,
        profile=await get_profile(SessionReader(session), tenant_id=tenant_id, profile_id=profile_id),
    )


async def reject_suggestion(
    session: AsyncSession, *, tenant_id: str, profile_id: str, suggestion_id: str, actor: str
) -> MatchSuggestionRead:
    """Reject: the pair is not suggested again; commits."""
    await begin_immediate(session)
    await _open_suggestion(session, tenant_id, profile_id, suggestion_id)
    await session.execute(
        update(_S)
        .where(_S.c.tenant_id == tenant_id, _S.c.id == suggestion_id, _S.c.status == literal("open"))
        .values(status="rejected", decided_by=actor, decided_at=utcnow())
    )
    row = (
        await session.execute(select(_S).where(_S.c.tenant_id == tenant_id, _S.c.id == suggestion_id))
    ).one()
    await session.commit()
    return _read(row, profile_id)
