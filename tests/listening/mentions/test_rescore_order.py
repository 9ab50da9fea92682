"""The quality re-score takes the newest fast-tier mentions first: an old backlog does not hold back the
posts an agent opens next."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from services.listening.mentions import analysing
from services.listening.mentions.ingesting import IngestTraffic
from services.listening.models import Mention
from services.listening.queries.logic import QueryMatcher
from services.listening.settings import ListeningSettings
from services.listening.wakeups import Wakeups
from shared.db import create_engine, session_factory, utcnow
from tests.helpers import create_tables


@pytest.mark.anyio
async def test_rescore_takes_the_newest_first(tmp_path: Path) -> None:
    engine = create_engine(ListeningSettings(var_dir=tmp_path).resolved_database_url())
    await create_tables(engine)
    sessions = session_factory(engine)
    start = utcnow() - timedelta(hours=1)
    backlog = analysing.QUALITY_BATCH + 8
    try:
        async with sessions() as session:
            session.add_all(
                Mention(
                    tenant_id="t1",
                    platform="x",
                    external_id=f"post-{n}",
                    text=f"My order {n} arrived broken and nobody answers.",
                    created_at=start + timedelta(seconds=n),
                    received_at=start + timedelta(seconds=n),
                    author_handle="@sam",
                    analysis_status="analysed",
                    analysis_tier="fast",
                    needs_rescore=True,
                    language="en",
                    sentiment_label="negative",
                    intent="complaint",
                )
                for n in range(backlog)
            )
            await session.commit()
        worker = analysing.AnalysisWorker(
            sessions, traffic=IngestTraffic(), wakeups=Wakeups(), matcher=QueryMatcher(budget_s=0.05)
        )
        assert await worker.rescore() == analysing.QUALITY_BATCH

        async with sessions() as session:
            rows = (await session.execute(select(Mention).order_by(col(Mention.received_at)))).scalars().all()
        waiting = [m.external_id for m in rows if m.needs_rescore]
        rescored = [m for m in rows if not m.needs_rescore]
        assert waiting == [f"post-{n}" for n in range(8)]  # the oldest wait for the next batch
        assert {m.analysis_tier for m in rescored} == {"quality"}
        assert {m.external_id for m in rescored} == {f"post-{n}" for n in range(8, backlog)}
    finally:
        await engine.dispose()
