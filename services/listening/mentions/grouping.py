"""Grouping reposts, quotes and near-copies of the same text (`services.listening.mentions.fingerprint`).

`assign_groups(session, mentions, shapes)` is called by the analysis worker (`mentions.analysing`) for each
batch of new posts, in the transaction that stores their analysis; it groups them in arrival order, each
seeing the ones before it, in three statements per tenant of the batch (earlier posts with the same
fingerprints; the most recent candidates of each candidate key; the batch's candidate keys), with each
text's `shape` worked out beforehand in a worker thread (`text_shape`: ~6-9 ms for a 10,000-character
post, which on the event loop would hold every other request of the process). It sets on the mention:

* `fingerprint`: the repost-insensitive hash of its text (None for a post without text);
* `sketch`: its MinHash sketch (comma-separated hex), and one `MentionSketchKey` row per candidate key;
* `group_id`: the group of an earlier mention of the tenant with the same fingerprint, else of the most
  similar earlier mention that shares a candidate key and has `similarity >= NEAR_DUPLICATE_THRESHOLD`
  (0.6), else the mention's own id (it starts a group). A group's id is its first mention's id.

Two copies ingested at the same instant in concurrent transactions may each start a group (there is no
lock); later copies join one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, insert
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.listening.mentions.fingerprint import (
    NEAR_DUPLICATE_THRESHOLD,
    Sketch,
    candidate_keys,
    fingerprint,
    similarity,
    sketch,
)
from services.listening.models import Mention, MentionSketchKey, new_id

log = logging.getLogger("rapport.listening")

# Near-duplicate candidates compared per new post (the most recent ones sharing a key).
MAX_CANDIDATES = 200


def encode_sketch(s: Sketch) -> str:
    """A sketch as stored: comma-separated hex."""
    return ",".join(f"{h:x}" for h in s)


def decode_sketch(stored: str) -> Sketch:
    """The sketch stored by `encode_sketch`."""
    return tuple(int(h, 16) for h in stored.split(",") if h)


Shape = tuple[str | None, Sketch]


def text_shape(text: str) -> Shape:
    """The fingerprint and MinHash sketch of a post's text: CPU work, for a worker thread."""
    return fingerprint(text), sketch(text)


# An earlier mention as near-duplicate matching reads it: (received_at, id, sketch, group_id).
_Candidate = tuple[datetime, str, str, str | None]


async def assign_groups(
    session: AsyncSession, mentions: Sequence[Mention], shapes: Mapping[str, Shape]
) -> None:
    """Set each new mention's fingerprint, sketch and group (see the module docstring), in their order,
    with set-based reads and one insert.

    Each mention sees the earlier mentions of its tenant, those stored before and those of the batch before
    it, as if they had been grouped one by one: an exact match takes a stored mention's group first, then a
    batch-mate's; near-duplicate candidates are the `MAX_CANDIDATES` most recent mentions sharing a key
    (the most recent of each key are read: a mention among a post's most recent candidates is among the
    most recent of every key they share)."""
    ids = [m.id for m in mentions]
    by_tenant: dict[str, list[Mention]] = {}
    for mention in mentions:
        by_tenant.setdefault(mention.tenant_id, []).append(mention)
    key_rows: list[dict[str, str]] = []
    hows = {"new": 0, "exact": 0, "near": 0}  # how the batch's mentions were grouped, for the log
    for tenant_id, batch in by_tenant.items():
        fingerprints = sorted({fp for fp, _ in (shapes[m.id] for m in batch) if fp is not None})
        exact = await _stored_groups(session, tenant_id, fingerprints, ids)
        wanted = sorted(
            {key for m in batch if shapes[m.id][0] not in exact for key in candidate_keys(shapes[m.id][1])}
        )
        by_key = await _recent_by_key(session, tenant_id, wanted, ids)
        sketches: dict[str, Sketch] = {}
        batch_fingerprints: dict[str, str] = {}
        for mention in batch:
            fp, sk = shapes[mention.id]
            mention.fingerprint = fp
            mention.sketch = encode_sketch(sk)
            group_id: str | None = None
            how = "new"
            if fp is not None:
                group_id = exact.get(fp) or batch_fingerprints.get(fp)
                if group_id is not None:
                    how = "exact"
            keys = candidate_keys(sk)
            if group_id is None and keys:
                group_id = _best_near(sk, keys, by_key, sketches)
                if group_id is not None:
                    how = "near"
            mention.group_id = group_id or mention.id
            if fp is not None:
                batch_fingerprints.setdefault(fp, mention.group_id)
            for key in keys:
                by_key.setdefault(key, []).append(
                    (mention.received_at, mention.id, mention.sketch, mention.group_id)
                )
                key_rows.append(
                    {"id": new_id(), "tenant_id": tenant_id, "key": key, "mention_id": mention.id}
                )
            hows[how] += 1
            log.debug(
                "mention.grouped", extra={"mention_id": mention.id, "group_id": mention.group_id, "how": how}
            )
    if key_rows:
        await session.execute(insert(MentionSketchKey), key_rows)
    if mentions:
        log.info("mentions.grouped", extra={"count": len(mentions), **hows})


async def _stored_groups(
    session: AsyncSession, tenant_id: str, fingerprints: list[str], batch_ids: list[str]
) -> dict[str, str]:
    """fingerprint → the group of the earliest stored mention of the tenant with it (one statement)."""
    if not fingerprints:
        return {}
    rows = await session.execute(
        select(col(Mention.fingerprint), col(Mention.group_id))
        .where(
            col(Mention.tenant_id) == tenant_id,
            col(Mention.fingerprint).in_(fingerprints),
            col(Mention.id).not_in(batch_ids),
            col(Mention.group_id).is_not(None),
        )
        .order_by(col(Mention.received_at), col(Mention.id))
    )
    groups: dict[str, str] = {}
    for fp, group_id in rows.all():
        if fp is not None and group_id is not None:
            groups.setdefault(fp, group_id)
    return groups


async def _recent_by_key(
    session: AsyncSession, tenant_id: str, keys: list[str], batch_ids: list[str]
) -> dict[str, list[_Candidate]]:
    """key → the `MAX_CANDIDATES` most recent stored mentions of the tenant with that key (one statement)."""
    if not keys:
        return {}
    ranked = (
        core_select(
            col(MentionSketchKey.key),
            col(Mention.received_at),
            col(Mention.id),
            col(Mention.sketch),
            col(Mention.group_id),
            func.row_number()
            .over(partition_by=col(MentionSketchKey.key), order_by=col(Mention.received_at).desc())
            .label("rank"),
        )
        .join(Mention, col(Mention.id) == col(MentionSketchKey.mention_id))
        .where(
            col(MentionSketchKey.tenant_id) == tenant_id,
            col(MentionSketchKey.key).in_(keys),
            col(Mention.tenant_id) == tenant_id,
            col(Mention.id).not_in(batch_ids),
        )
        .subquery()
    )
    c = ranked.c
    rows = await session.execute(
        core_select(c.key, c.received_at, c.id, c.sketch, c.group_id).where(c.rank <= MAX_CANDIDATES)
    )
    by_key: dict[str, list[_Candidate]] = {}
    for key, received_at, mention_id, stored, group_id in rows.all():
        by_key.setdefault(key, []).append((received_at, mention_id, stored, group_id))
    return by_key


def _best_near(
    sk: Sketch, keys: tuple[str, ...], by_key: Mapping[str, list[_Candidate]], sketches: dict[str, Sketch]
) -> str | None:
    """The group of the most similar of the `MAX_CANDIDATES` most recent candidates, if similar enough."""
    candidates = {c[1]: c for key in keys for c in by_key.get(key, ())}
    recent = sorted(candidates.values(), key=lambda c: c[0], reverse=True)[:MAX_CANDIDATES]
    best: tuple[float, str] | None = None
    for _, mention_id, stored, group_id in recent:
        if not group_id:
            continue
        decoded = sketches.get(mention_id)
        if decoded is None:
            decoded = sketches[mention_id] = decode_sketch(stored)
        score = similarity(sk, decoded)
        if score >= NEAR_DUPLICATE_THRESHOLD and (best is None or score > best[0]):
            best = (score, group_id)
    return best[1] if best else None
