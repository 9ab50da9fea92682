"""A post stored before its author's erasure listed them, and analysed after, is never announced: the
analysis worker closes it as an anonymous count (no text, no author) and stages no event for it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from services.listening.mentions import analysing, suppression
from services.listening.mentions.ingesting import IngestTraffic
from services.listening.models import Mention
from services.listening.queries.logic import QueryMatcher
from services.listening.settings import ListeningSettings
from services.listening.wakeups import Wakeups
from shared.db import create_engine, session_factory, utcnow
from shared.events.contracts import PrivacySubject
from shared.events.outbox import OutboxMessage
from shared.suppression import authors_of
from tests.helpers import create_tables

GONE_TEXT = "My parcel 7731 never came, call me on my cell"


def _pending(tenant_id: str, n: int, handle: str, text: str, user_id: str | None = None) -> Mention:
    at = utcnow() - timedelta(minutes=5 - n)
    return Mention(
        tenant_id=tenant_id,
        platform="x",
        external_id=f"post-{n}",
        text=text,
        created_at=at,
        received_at=at,
        author_handle=handle,
        author_id=user_id,
        analysis_status="pending",
    )


@pytest.mark.anyio
async def test_a_post_of_a_person_listed_after_it_was_stored_is_not_announced(tmp_path: Path) -> None:
    engine = create_engine(ListeningSettings(var_dir=tmp_path).resolved_database_url())
    await create_tables(engine)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            session.add_all(
                [
                    _pending("t1", 1, "@Gone_Person", GONE_TEXT, user_id="9001"),
                    _pending("t1", 2, "@stays", "Lovely service today, thank you"),
                    # Another tenant's author with the same handle is someone else.
                    _pending("t2", 3, "@gone_person", "Hello from another brand's customer"),
                ]
            )
            await session.commit()
        # The erasure commits its suppression entries while the post waits for analysis.
        subject = PrivacySubject(
            profile_ids=["p1"], identities=[{"kind": "handle", "platform": "x", "value": "gone_person"}]
        )
        async with sessions() as session:
            await suppression.add(session, tenant_id="t1", digests=authors_of(subject).digests("t1"))
            await session.commit()

        worker = analysing.AnalysisWorker(
            sessions, traffic=IngestTraffic(), wakeups=Wakeups(), matcher=QueryMatcher(budget_s=0.05)
        )
        assert await worker.analyse_pending() == 3

        async with sessions() as session:
            rows = {m.external_id: m for m in (await session.execute(select(Mention))).scalars()}
            outbox = list((await session.execute(select(OutboxMessage))).scalars())
        stays = rows["post-2"]
        gone = next(m for m in rows.values() if m.tenant_id == "t1" and m.id != stays.id)
        assert (gone.text, gone.author_handle, gone.author_id) == ("", "", None)
        assert gone.external_id.startswith("h:")  # a redelivery of the post is still a duplicate
        assert (gone.analysis_status, gone.redaction_reason) == ("analysed", suppression.SUPPRESSED)
        assert gone.redacted_at is not None
        announced = [json.loads(o.body)["subject"] for o in outbox if o.type == "listening.mention.received"]
        assert sorted(announced) == sorted([stays.id, rows["post-3"].id])
        mine = [o for o in outbox if o.tenant_id == "t1"]
        assert not [o for o in mine if "gone_person" in o.body.casefold() or GONE_TEXT in o.body]
        assert rows["post-3"].text and rows["post-3"].redaction_reason is None
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_with_nobody_listed_every_post_is_announced_untouched(tmp_path: Path) -> None:
    """The check leaves a batch of unlisted authors as it was: every post announced, none closed."""
    engine = create_engine(ListeningSettings(var_dir=tmp_path).resolved_database_url())
    await create_tables(engine)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            session.add_all(
                [_pending("t1", n, f"@author{n}", f"Post number {n} about the brand") for n in range(4)]
            )
            await session.commit()
        worker = analysing.AnalysisWorker(
            sessions, traffic=IngestTraffic(), wakeups=Wakeups(), matcher=QueryMatcher(budget_s=0.05)
        )
        assert await worker.analyse_pending() == 4
        async with sessions() as session:
            outbox = list((await session.execute(select(OutboxMessage))).scalars())
            closed = (
                await session.execute(select(Mention).where(col(Mention.redaction_reason).is_not(None)))
            ).all()
        assert len([o for o in outbox if o.type == "listening.mention.received"]) == 4
        assert closed == []
    finally:
        await engine.dispose()
