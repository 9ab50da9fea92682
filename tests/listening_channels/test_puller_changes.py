"""A channel changed through another replica: this replica's puller notices at its next store and starts
again from the new source (one listening's puller supervisor on its own database and a local feed server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.listening.crypto import SecretBox
from services.listening.logic import pulling
from services.listening.logic.pulling import PullerSupervisor
from services.listening.models import Channel, Mention
from services.listening.settings import ListeningSettings
from shared.db import create_engine, create_tables, session_factory
from tests.listening_channels.conftest import FakeFeeds, FeedDocument, fixture_bytes
from tests.shared.stand_ins import until

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


def test_puller_follows_a_change_made_elsewhere(
    tmp_path: Path, feeds: FakeFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulling, "STATUS_EVERY_S", 0.5)  # an idle puller stores its status this often
    feeds.publish("/old.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', None))
    feeds.publish("/new.xml", FeedDocument(fixture_bytes("feeds/atom.xml"), ATOM, '"a1"', None))
    settings = ListeningSettings(var_dir=tmp_path, connector_allow_private_urls=True)

    async def scenario() -> None:
        engine = create_engine(settings.resolved_database_url())
        await create_tables(engine)
        sessions = session_factory(engine)
        box = SecretBox.from_settings(secret_key="", var_dir=tmp_path)
        channel = Channel(
            tenant_id="t1",
            platform="rss",
            name="blog",
            settings=json.dumps({"url": feeds.url("/old.xml"), "poll_interval_s": 0.1}),
        )
        async with sessions() as session:
            session.add(channel)
            await session.commit()

        async def stored() -> int:
            async with sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(Mention)) or 0)

        async def etag() -> object:
            async with sessions() as session:
                row = await session.get(Channel, channel.id)
                return json.loads(row.cursor).get("etag") if row and row.cursor else None

        supervisor = PullerSupervisor(sessions, box=box, settings=settings)
        supervisor.start(channel)
        try:
            await until(lambda: _is(stored(), 3), what="the old feed's three items")
            # What PATCH does through another replica: new settings, the cursor cleared.
            async with sessions() as session:
                row = await session.get(Channel, channel.id)
                assert row is not None
                row.settings = json.dumps({"url": feeds.url("/new.xml"), "poll_interval_s": 0.1})
                row.cursor = None
                await session.commit()
            await until(lambda: _is(stored(), 5), what="the new feed's two entries")
            await until(lambda: _is(etag(), '"a1"'), what="the new feed's validators")
            polls = len(feeds.seen("/old.xml"))
            await asyncio.sleep(1)
            assert len(feeds.seen("/old.xml")) == polls  # the old feed is no longer polled
            assert feeds.seen("/new.xml")[0]["if_none_match"] is None
            assert channel.id in supervisor.running()
        finally:
            await supervisor.stop(channel.id)
            await engine.dispose()

    asyncio.run(scenario())


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
