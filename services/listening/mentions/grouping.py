"""Grouping reposts, quotes and near-copies of the same text (`services.listening.mentions.fingerprint`).

`assign_group(session, mention, shape)` is called by the analysis worker (`mentions.analysing`) for every new
post, in the transaction that stores its analysis, in arrival order, with the text's `shape` worked out
beforehand in a worker thread (`text_shape`: ~6-9 ms for a 10,000-character post, which on the event loop
would hold every other request of the process). It sets on the mention:

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
from services.listening.models import Mention, MentionSketchKey

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


async def assign_group(session: AsyncSession, mention: Mention, shape: Shape) -> str:
    """Set the new mention's fingerprint, sketch and group (see the module docstring); the group id."""
    fp, sk = shape
    mention.fingerprint = fp
    mention.sketch = encode_sketch(sk)
    group_id: str | None = None
    how = "new"
    if fp is not None:
        group_id = (
            await session.execute(
                select(col(Mention.group_id))
                .where(
                    col(Mention.tenant_id) == mention.tenant_id,
                    col(Mention.fingerprint) == fp,
                    col(Mention.id) != mention.id,
                    col(Mention.group_id).is_not(None),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if group_id is not None:
            how = "exact"
    keys = candidate_keys(sk)
    if group_id is None and keys:
        group_id = await _near_group(session, mention, sk, keys)
        if group_id is not None:
            how = "near"
    mention.group_id = group_id or mention.id
    for key in keys:
        session.add(MentionSketchKey(tenant_id=mention.tenant_id, key=key, mention_id=mention.id))
    log.info("mention.grouped", extra={"mention_id": mention.id, "group_id": mention.group_id, "how": how})
    return mention.group_id


async def _near_group(
    session: AsyncSession, mention: Mention, sk: Sketch, keys: tuple[str, ...]
) -> str | None:
    candidate_ids = (
        select(col(MentionSketchKey.mention_id))
        .where(col(MentionSketchKey.tenant_id) == mention.tenant_id, col(MentionSketchKey.key).in_(keys))
        .distinct()
    )
    rows = (
        await session.execute(
            select(col(Mention.id), col(Mention.sketch), col(Mention.group_id))
            .where(
                col(Mention.tenant_id) == mention.tenant_id,
                col(Mention.id).in_(candidate_ids),
                col(Mention.id) != mention.id,
            )
            .order_by(col(Mention.received_at).desc())
            .limit(MAX_CANDIDATES)
        )
    ).all()
    best: tuple[float, str] | None = None
    for _, stored, group_id in rows:
        if not group_id:
            continue
        score = similarity(sk, decode_sketch(stored))
        if score >= NEAR_DUPLICATE_THRESHOLD and (best is None or score > best[0]):
            best = (score, group_id)
    return best[1] if best else None
