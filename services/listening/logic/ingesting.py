"""Group commit for `POST /v1/mentions`: concurrent requests share one short write transaction.

Each request puts its post on a queue and awaits its answer; one writer task takes everything queued
(up to `MAX_BATCH`), runs `ingest_mention(..., commit=False)` for each in one transaction (de-duplication
sees the batch's own rows) and commits once. On SQLite this turns N contending writers into one; on
PostgreSQL it saves N-1 commits. A batch that fails (e.g. a replica stored the same post at the same
moment) is retried one post per transaction, so every request still gets its own answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.logic.mentions import analysis_wanted, ingest_mention
from services.listening.models import Mention
from services.listening.schemas import MentionAccepted, MentionCreate

log = logging.getLogger("rapport.listening.ingesting")

MAX_BATCH = 200
# When the last group commit happened (monotonic): the analysis worker re-scores only when ingest is quiet.
last_write = 0.0
# This process's writers to the mention table (ingest group commits, the analysis worker) take turns here
# rather than in SQLite's busy handler, whose back-off sleeps (up to 100 ms) stalled ingest.
write_lock = asyncio.Lock()

Item = tuple[str, MentionCreate, "asyncio.Future[MentionAccepted]"]


class IngestBatcher:
    """One per listening process; `submit` is what the API route awaits."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    async def submit(self, *, tenant_id: str, mention_in: MentionCreate) -> MentionAccepted:
        """Store the post (or find it a duplicate) in the next group commit."""
        future: asyncio.Future[MentionAccepted] = asyncio.get_running_loop().create_future()
        await self.queue.put((tenant_id, mention_in, future))
        return await future

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
        global last_write
        last_write = time.monotonic()
        try:
            async with write_lock, self.sessions() as session:
                stored = await _existing(session, batch)
                results: list[MentionAccepted] = []
                for tenant_id, mention_in, _ in batch:
                    key = (tenant_id, mention_in.platform, mention_in.external_id)
                    if key in stored:  # stored before, or earlier in this batch
                        results.append(MentionAccepted(id=stored[key], status="duplicate"))
                        continue
                    result = await ingest_mention(
                        session, tenant_id=tenant_id, mention_in=mention_in, commit=False, known_new=True
                    )
                    stored[key] = result.id
                    results.append(result)
                await session.commit()
        except Exception:
            log.warning("ingest.batch_retry", extra={"count": len(batch)})
            await self._one_by_one(batch)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        analysis_wanted.set()

    async def _one_by_one(self, batch: list[Item]) -> None:
        for tenant_id, mention_in, future in batch:
            try:
                async with self.sessions() as session:
                    result = await ingest_mention(session, tenant_id=tenant_id, mention_in=mention_in)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)


async def _existing(session: AsyncSession, batch: list[Item]) -> dict[tuple[str, str, str], str]:
    """The ids of the batch's posts already stored, by (tenant, platform, external_id): one query."""
    keys = {(tenant_id, m.platform, m.external_id) for tenant_id, m, _ in batch}
    key_cols = (col(Mention.tenant_id), col(Mention.platform), col(Mention.external_id))
    stmt = select(*key_cols, col(Mention.id)).where(tuple_(*key_cols).in_(list(keys)))
    return {(t, p, e): i for t, p, e, i in (await session.execute(stmt)).all()}
