"""Group commit for `POST /v1/mentions` and `/v1/mentions/batch`: concurrent posts share one write.

Each request puts its posts on a queue and awaits their answers; one writer task takes everything queued
(up to `MAX_BATCH` posts), looks the whole lot up in one query, inserts the new ones in one Core
statement (de-duplication sees the batch's own rows) and commits once. On SQLite this turns N contending
writers into one; on PostgreSQL it saves N-1 commits. Nothing else happens on this path: analysis,
query matching and repost grouping are the analysis worker's (`mentions.analysing`). A batch that fails
(e.g. a replica stored the same post at the same moment) is retried one post per transaction, so every
post still gets its own answer.

Posts by erased authors are found on the suppression list (the app's copy, kept current by one statement
per batch) and stored as anonymous counts (`mentions.suppression`).

The tenant's ingest quota (`usage.quotas`) is checked before a request's posts are queued — all of them
are refused, or none — and the batch's posts are counted by one upsert per tenant in the same
transaction.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from opentelemetry.context import Context
from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.brand.logic import OWN_ACCOUNTS
from services.listening.mentions.logic import (
    brand_post_of,
    ingest_mention,
    insert_mentions,
    new_mention_row,
)
from services.listening.mentions.schemas import MentionAccepted, MentionCreate
from services.listening.mentions.suppression import (
    Listed,
    anonymise_row,
    author_digests,
    hidden_external_id,
)
from services.listening.models import Mention
from services.listening.usage.quotas import IngestQuota
from services.listening.wakeups import Wakeups
from shared.telemetry import current_context, within

log = logging.getLogger("rapport.listening.ingesting")

MAX_BATCH = 1000
# Demand on the ingest API is measured over this many seconds (see `IngestTraffic.demand`).
RATE_WINDOW_S = 1.0
# Requests remembered for the demand: a bound far above what one window holds on this hardware.
RECENT_REQUESTS = 10_000

# (tenant, post, its answer, the trace context of the request that sent it: the writer stores the post's
# `traceparent` in it, so that its analysis continues the request's trace).
Item = tuple[str, MentionCreate, "asyncio.Future[MentionAccepted]", Context]


class IngestTraffic:
    """This app's ingest pace and its writers' turn-taking (one per listening app).

    The analysis worker gives way to a burst (`demand`) and re-scores only when ingest is quiet
    (`last_write`, monotonic). Writers to the mention table (ingest group commits, the analysis worker,
    query backfills) take turns on `write_lock` rather than in SQLite's busy handler, whose back-off
    sleeps (up to 100 ms) stalled ingest.
    """

    def __init__(self) -> None:
        self.write_lock = asyncio.Lock()
        self.last_write = 0.0
        # (monotonic time, posts) per request over the last `RATE_WINDOW_S`, plus posts received and not
        # answered yet (a writer waiting for its turn must not hide the burst).
        self._recent: collections.deque[tuple[float, int]] = collections.deque(maxlen=RECENT_REQUESTS)
        self._unanswered = 0

    def demand(self) -> float:
        """Posts per second received over the last `RATE_WINDOW_S` seconds, plus posts still unanswered."""
        horizon = time.monotonic() - RATE_WINDOW_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        return sum(count for _, count in self._recent) / RATE_WINDOW_S + self._unanswered

    def received(self, posts: int) -> None:
        """`posts` arrived in one request and wait for their answer."""
        self._recent.append((time.monotonic(), posts))
        self._unanswered += posts

    def answered(self, posts: int) -> None:
        """`posts` of one request got their answer (stored, duplicate or failed)."""
        self._unanswered -= posts


class IngestBatcher:
    """One per listening app; `submit` is what the API route awaits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        traffic: IngestTraffic,
        wakeups: Wakeups,
        quota: IngestQuota | None = None,
    ) -> None:
        self.sessions = sessions
        self.traffic = traffic
        self.wakeups = wakeups
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        # The tenants' ingest quota (set at start-up by `usage.quotas`' hook); None: nothing counted.
        # The tenants' ingest quota; None: nothing counted.
        self.quota = quota
        # This app's copy of the tenants' suppression lists (`mentions.suppression`).
        self.listed = Listed()

    async def submit(self, *, tenant_id: str, mention_in: MentionCreate) -> MentionAccepted:
        """Store the post (or find it a duplicate) in the next group commit."""
        return (await self.submit_many(tenant_id=tenant_id, mentions_in=[mention_in]))[0]

    async def submit_many(self, *, tenant_id: str, mentions_in: list[MentionCreate]) -> list[MentionAccepted]:
        """Store the posts (or find them duplicates) in the next group commits; answers in their order.

        IngestQuotaExceeded (429), with nothing queued, when they would pass the tenant's hourly quota."""
        quota = self.quota
        if quota is not None:
            await quota.admit(tenant_id, len(mentions_in))
        try:
            return await self._submit(tenant_id, mentions_in)
        finally:
            if quota is not None:
                quota.release(tenant_id, len(mentions_in))

    async def _submit(self, tenant_id: str, mentions_in: list[MentionCreate]) -> list[MentionAccepted]:
        self.traffic.received(len(mentions_in))
        loop = asyncio.get_running_loop()
        context = current_context()
        futures: list[asyncio.Future[MentionAccepted]] = []
        for mention_in in mentions_in:
            future: asyncio.Future[MentionAccepted] = loop.create_future()
            futures.append(future)
            self.queue.put_nowait((tenant_id, mention_in, future, context))
        try:
            return list(await asyncio.gather(*futures))
        finally:
            self.traffic.answered(len(mentions_in))

    async def run(self) -> None:
        """The writer: one transaction per batch of whatever is queued."""
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            live = [item for item in batch if not item[2].done()]  # a request may have been cancelled
            if live:
                await self._write(live)

    async def _write(self, batch: list[Item]) -> None:
        self.traffic.last_write = time.monotonic()
        try:
            async with self.traffic.write_lock, self.sessions() as session:
                # Erased authors' posts are kept as anonymous counts (`mentions.suppression`), under a
                # hidden platform id: de-duplication looks them up by that.
                hidden = await self._suppressed(session, batch)
                keys = [
                    (
                        tenant_id,
                        m.platform,
                        hidden_external_id(tenant_id, m.platform, m.external_id)
                        if i in hidden
                        else m.external_id,
                    )
                    for i, (tenant_id, m, _, _) in enumerate(batch)
                ]
                stored = await _existing(session, keys)
                own = {
                    tenant_id: await OWN_ACCOUNTS.of(session, tenant_id)
                    for tenant_id in {i[0] for i in batch}
                }
                results: list[MentionAccepted] = []
                rows = []
                for i, (tenant_id, mention_in, _, context) in enumerate(batch):
                    author = mention_in.author
                    if own[tenant_id].owns(mention_in.platform, author.id, author.handle):
                        # The brand's own post: published as such, never a mention.
                        with within(context):
                            event_id = brand_post_of(session, tenant_id=tenant_id, mention_in=mention_in)
                        results.append(MentionAccepted(id=event_id, status="brand_post"))
                        continue
                    key = keys[i]
                    if key in stored:  # stored before, or earlier in this batch
                        results.append(MentionAccepted(id=stored[key], status="duplicate"))
                        continue
                    with within(context):
                        row = new_mention_row(tenant_id=tenant_id, mention_in=mention_in)
                    if i in hidden:
                        anonymise_row(row)
                    rows.append(row)
                    stored[key] = row["id"]
                    results.append(
                        MentionAccepted(id=row["id"], status="suppressed" if i in hidden else "accepted")
                    )
                await insert_mentions(session, rows)
                if self.quota is not None:
                    await self.quota.count(session, collections.Counter(item[0] for item in batch))
                await session.commit()
        except Exception:
            log.warning("ingest.batch_retry", extra={"count": len(batch)})
            await self._one_by_one(batch)
            return
        for (_, _, future, _), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        log.info("ingest.batch", extra={"count": len(batch), "stored": len(rows)})
        self.wakeups.analysis.set()

    async def _suppressed(self, session: AsyncSession, batch: list[Item]) -> set[int]:
        """The positions in the batch of posts whose author is on the suppression list (`Listed`: one
        statement; the posts of tenants with nobody listed are not even hashed)."""
        listed = await self.listed.of(session, (item[0] for item in batch))
        if not listed:
            return set()
        return {
            i
            for i, (tenant_id, m, _, _) in enumerate(batch)
            if tenant_id in listed
            and not listed[tenant_id].isdisjoint(
                author_digests(tenant_id, m.platform, m.author.handle, m.author.id)
            )
        }

    async def _one_by_one(self, batch: list[Item]) -> None:
        await self._count_alone(batch)
        for tenant_id, mention_in, future, context in batch:
            try:
                with within(context):
                    async with self.sessions() as session:
                        result = await ingest_mention(session, tenant_id=tenant_id, mention_in=mention_in)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)
        self.wakeups.analysis.set()

    async def _count_alone(self, batch: list[Item]) -> None:
        """Count a failed batch's posts in a transaction of their own (its own count was rolled back)."""
        if self.quota is None:
            return
        try:
            async with self.sessions() as session:
                await self.quota.count(session, collections.Counter(item[0] for item in batch))
                await session.commit()
        except Exception:
            log.warning("ingest.count_failed", extra={"count": len(batch)})


_KEY_COLUMNS = (col(Mention.tenant_id), col(Mention.platform), col(Mention.external_id))
# Built once: the keys are an expanding parameter, so no batch builds (and coerces) a literal per key.
_EXISTING = select(*_KEY_COLUMNS, col(Mention.id)).where(
    tuple_(*_KEY_COLUMNS).in_(bindparam("keys", expanding=True))
)


async def _existing(
    session: AsyncSession, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    """The ids of the batch's posts already stored, by (tenant, platform, external_id): one query."""
    rows = await session.execute(_EXISTING, {"keys": sorted(set(keys))})
    return {(t, p, e): i for t, p, e, i in rows.all()}
