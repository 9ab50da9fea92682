"""Per-tenant learning: a tenant's corrections (`/labels`) become prototypes for its own later posts.

The analysis worker asks `TenantLearning.heads(tenants)` before each quality-tier batch: one grouped
read gives each posting tenant's corrections signature (how many, the newest); a tenant whose signature
changed since its head was built (or whose head is older than `REBUILD_S`, so that a post removed on
its platform stops counting) gets its head rebuilt from its newest corrections
(`analysis.tenant.MAX_PROTOTYPES`), read with their mentions' text (a redacted mention's correction is
left out). A correction without an embedding yet gets one here, once: the quality tier embeds the
mention's text as analysis reads it, and the float16 vector is stored on the label row (so erasure and
retention, which delete labels, delete it too). The analyser's own answer for each corrected post is
worked out from the stored vector (no embedding) and kept per mention, so that each correction votes
only for posts the analyser reads the same way (see `analysis.tenant`).

Heads live in memory, at most `MAX_TENANTS` (least recently used first out); no tenant ever sees another's:
each head is built from one tenant's rows and applied to that tenant's posts only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.analysis import Analyser
from services.listening.analysis.tenant import (
    MAX_PROTOTYPES,
    Correction,
    TenantHead,
    vector_bytes,
    vector_from,
)
from services.listening.analysis.types import INTENT_LABELS, SENTIMENT_LABELS, IntentLabel, SentimentLabel
from services.listening.models import Mention, MentionLabel

log = logging.getLogger("rapport.listening.learning")

MAX_TENANTS = 128  # heads kept in memory (≤ ~0.8 MB each at MAX_PROTOTYPES)
REBUILD_S = 600.0  # a head is rebuilt at least this often while its tenant posts
_LABELLED = or_(col(MentionLabel.sentiment).is_not(None), col(MentionLabel.intent).is_not(None))

Signature = tuple[int, datetime | None]


@dataclass
class _Entry:
    signature: Signature
    built_at: float
    head: TenantHead | None
    machine: dict[str, tuple[str, str]] = field(default_factory=dict)  # mention id → analyser's answer


class TenantLearning:
    """Builds, caches and refreshes each tenant's `TenantHead` from its stored corrections."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], analyser: Analyser, write_lock: asyncio.Lock
    ) -> None:
        self.sessions = sessions
        self.analyser = analyser
        self.write_lock = write_lock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def heads(self, tenants: Iterable[str]) -> dict[str, TenantHead]:
        """The heads of those of `tenants` that have corrections, rebuilt where they changed."""
        wanted = sorted(set(tenants))
        if not wanted or self.analyser.quality is None:
            return {}
        async with self.sessions() as session:
            stmt = (
                select(col(MentionLabel.tenant_id), func.count(), func.max(col(MentionLabel.created_at)))
                .where(col(MentionLabel.tenant_id).in_(wanted), _LABELLED)
                .group_by(col(MentionLabel.tenant_id))
            )
            signatures: dict[str, Signature] = {
                t: (int(n), newest) for t, n, newest in await session.execute(stmt)
            }
        out: dict[str, TenantHead] = {}
        now = time.monotonic()
        for tenant_id in wanted:
            signature = signatures.get(tenant_id, (0, None))
            entry = self._entries.get(tenant_id)
            if entry is None or entry.signature != signature or now - entry.built_at > REBUILD_S:
                entry = await self._build(tenant_id, signature, entry)
                self._entries[tenant_id] = entry
            self._entries.move_to_end(tenant_id)
            if entry.head is not None:
                out[tenant_id] = entry.head
        while len(self._entries) > MAX_TENANTS:
            self._entries.popitem(last=False)
        return out

    async def _build(self, tenant_id: str, signature: Signature, previous: _Entry | None) -> _Entry:
        if signature[0] == 0:
            return _Entry(signature, time.monotonic(), None)
        started = time.perf_counter()
        async with self.sessions() as session:
            stmt = (
                select(
                    col(MentionLabel.id),
                    col(MentionLabel.mention_id),
                    col(MentionLabel.sentiment),
                    col(MentionLabel.intent),
                    col(MentionLabel.vector),
                    col(Mention.text),
                )
                .join(Mention, col(Mention.id) == col(MentionLabel.mention_id))
                .where(
                    col(MentionLabel.tenant_id) == tenant_id,
                    col(Mention.tenant_id) == tenant_id,
                    col(Mention.redacted_at).is_(None),
                    _LABELLED,
                )
                .order_by(col(MentionLabel.created_at).desc(), col(MentionLabel.id).desc())
                .limit(MAX_PROTOTYPES * 2)
            )
            rows = list((await session.execute(stmt)).all())
        # Newest label first: per mention, the newest sentiment and the newest intent an agent gave.
        posts: dict[str, dict[str, Any]] = {}
        for label_id, mention_id, sentiment, intent, vector, text in rows:
            post = posts.get(mention_id)
            if post is None:
                if len(posts) >= MAX_PROTOTYPES:
                    continue
                post = posts[mention_id] = {"text": text, "sentiment": None, "intent": None, "vector": None}
                post["missing"] = []
            post["sentiment"] = post["sentiment"] or sentiment
            post["intent"] = post["intent"] or intent
            if vector is not None:
                post["vector"] = post["vector"] if post["vector"] is not None else vector_from(vector)
            else:
                post["missing"].append(label_id)
        await self._fill_vectors(posts)
        machine = dict(previous.machine) if previous is not None else {}
        unknown = [m for m in posts if m not in machine]
        if unknown:
            answers = await asyncio.to_thread(
                self.analyser.answers_from,
                [posts[m]["text"] for m in unknown],
                np.stack([posts[m]["vector"] for m in unknown]),
            )
            for m, a in zip(unknown, answers or [], strict=False):
                machine[m] = (a.sentiment.label, a.intent.label)
        corrections = [
            Correction(
                vector=p["vector"],
                sentiment=_sentiment(p["sentiment"]),
                intent=_intent(p["intent"]),
                machine_sentiment=_sentiment(machine[m][0]) if m in machine else None,
                machine_intent=_intent(machine[m][1]) if m in machine else None,
            )
            for m, p in posts.items()
        ]
        head = TenantHead(corrections) if corrections else None
        log.info(
            "learning.head_built",
            extra={
                "tenant_id": tenant_id,
                "corrections": len(corrections),
                "embedded": len([p for p in posts.values() if p["missing"]]),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        kept = {m: machine[m] for m in posts if m in machine}
        return _Entry(signature, time.monotonic(), head, kept)

    async def _fill_vectors(self, posts: dict[str, dict[str, Any]]) -> None:
        """Embed the corrected posts that have no vector yet and store it on their label rows."""
        todo = [m for m, p in posts.items() if p["vector"] is None]
        if todo:
            emb = await asyncio.to_thread(self.analyser.embed, [posts[m]["text"] for m in todo])
            if emb is None:  # pragma: no cover - the caller checked the quality tier
                return
            for m, row in zip(todo, emb, strict=True):
                posts[m]["vector"] = row
        stale = [(p["missing"], vector_bytes(p["vector"])) for p in posts.values() if p["missing"]]
        if not stale:
            return
        async with self.write_lock, self.sessions() as session:
            for label_ids, raw in stale:
                await session.execute(
                    update(MentionLabel).where(col(MentionLabel.id).in_(label_ids)).values(vector=raw)
                )
            await session.commit()


def _sentiment(label: str | None) -> SentimentLabel | None:
    return label if label in SENTIMENT_LABELS else None


def _intent(label: str | None) -> IntentLabel | None:
    return label if label in INTENT_LABELS else None
