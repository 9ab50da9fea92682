"""Pullers across listening replicas: puller supervisors in one process sharing a database, polling a
local feed server. One replica pulls a channel at a time, another takes over when it stops or hangs, and
a change made through another replica is followed at the next store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.listening.channels import leases
from services.listening.channels import pullers as pulling
from services.listening.channels.pullers import PullerSupervisor
from services.listening.models import Channel, Mention
from services.listening.settings import ListeningSettings
from services.listening.wakeups import Wakeups
from shared.db import create_engine, session_factory, utcnow
from shared.secrets import SecretBox
from tests.helpers import create_tables
from tests.listening.channels.helpers import FakeFeeds, FeedDocument, fixture_bytes
from tests.shared.stand_ins import until

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


@dataclass
class Replicas:
    """What listening replicas share: their settings, one database (tables made) and the secret box."""

    sessions: async_sessionmaker[AsyncSession]
    settings: ListeningSettings
    box: SecretBox

    def replica(self) -> PullerSupervisor:
        """One more replica's puller supervisor."""
        return PullerSupervisor(self.sessions, box=self.box, settings=self.settings, wakeups=Wakeups())

    async def add(self, *channels: Channel) -> set[str]:
        async with self.sessions() as session:
            session.add_all(channels)
            await session.commit()
        return {c.id for c in channels}


@asynccontextmanager
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    settings = ListeningSettings(var_dir=tmp_path, connector_allow_private_urls=True)
    engine = create_engine(settings.resolved_database_url())
    await create_tables(engine)
    box = SecretBox.from_settings(secret_key="", var_dir=tmp_path, service="listening")
    try:
        yield Replicas(session_factory(engine), settings, box)
    finally:
        await engine.dispose()


def feed_channel(url: str, name: str = "blog") -> Channel:
    return Channel(
        tenant_id="t1", platform="rss", name=name, settings=json.dumps({"url": url, "poll_interval_s": 0.1})
    )


async def stop_all(*supervisors: PullerSupervisor) -> None:
    for supervisor in supervisors:
        for channel_id in list(supervisor.tasks):
            await supervisor.stop(channel_id)


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


@pytest.mark.anyio
async def test_puller_follows_a_change_made_elsewhere(
    tmp_path: Path, feeds: FakeFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulling, "STATUS_EVERY_S", 0.5)  # an idle puller stores its status this often
    feeds.publish("/old.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', None))
    feeds.publish("/new.xml", FeedDocument(fixture_bytes("feeds/atom.xml"), ATOM, '"a1"', None))

    async with replicas(tmp_path) as shared:
        channel = feed_channel(feeds.url("/old.xml"))
        await shared.add(channel)

        async def stored() -> int:
            async with shared.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(Mention)) or 0)

        async def etag() -> object:
            async with shared.sessions() as session:
                row = await session.get(Channel, channel.id)
                return json.loads(row.cursor).get("etag") if row and row.cursor else None

        supervisor = shared.replica()
        await supervisor.take(channel)
        try:
            await until(lambda: _is(stored(), 3), what="the old feed's three items")
            # What PATCH does through another replica: new settings, the cursor cleared.
            async with shared.sessions() as session:
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
            await stop_all(supervisor)


@pytest.mark.anyio
async def test_one_replica_pulls_a_channel_and_another_takes_over(
    tmp_path: Path, feeds: FakeFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_S", 1.0)
    feeds.publish("/feed.xml", FeedDocument(fixture_bytes("feeds/rss2.xml"), RSS, '"v1"', None))

    async with replicas(tmp_path) as shared:
        ids = await shared.add(*(feed_channel(feeds.url("/feed.xml"), f"blog {i}") for i in range(3)))
        first, second, third = shared.replica(), shared.replica(), shared.replica()
        try:
            assert await first.rebalance() == ids and first.running() == ids
            assert await second.rebalance() == set() and second.running() == set()

            # The first replica stops: it gives its leases up, and the next round moves its pullers.
            await stop_replica(first, shared.sessions, ids)
            assert await second.rebalance() == ids and second.running() == ids
            assert await third.rebalance() == set()

            # The second hangs (no renewal): once its leases run out the third takes them, and the
            # second, waking, hands them over.
            await asyncio.sleep(1.2)
            assert await third.rebalance() == ids and third.running() == ids
            assert await second.rebalance() == set() and second.running() == set()
        finally:
            await stop_all(first, second, third)


async def stop_replica(
    replica: PullerSupervisor, sessions: async_sessionmaker[AsyncSession], ids: set[str]
) -> None:
    """What the service's shutdown does: the runtime cancels the supervisor's task."""
    task = asyncio.create_task(replica.run_forever())
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert replica.running() == set()
    async with sessions() as session:
        assert await leases.held(session, channel_ids=sorted(ids), now=utcnow()) == set()
