"""Batched consumption and batched relaying against a real nats-server and a real database.

A fetched batch is applied in one transaction (savepoints per event only when it is re-run after a
failure) and acked after the commit; the outbox relay keeps a whole batch of publishes in flight. Neither
may lose or duplicate an event.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import create_engine, session_factory, transaction
from shared.events.bus import Bus, EventScope, dead_letter_subject
from shared.events.contracts import TenantCreated
from shared.events.envelope import CloudEvent, Event
from shared.events.inbox import handle_batch_once, handle_once
from shared.events.outbox import OutboxRelay, stage
from tests.helpers import create_tables
from tests.shared.crashing import ACK_WAIT_S, CRASHED
from tests.shared.stand_ins import (
    BAD_SQL,
    POISON,
    applied,
    collect,
    empty_bus,
    record,
    tenant_created,
    tenant_event,
    until,
)

ROOT = Path(__file__).resolve().parents[2]
TYPE = "identity.tenant.created"


@asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, its tables created; the engine disposed of afterwards."""
    engine = create_engine(url)
    await create_tables(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def broker(url: str) -> AsyncIterator[Bus]:
    """A bus on an emptied nats-server, closed afterwards."""
    bus = await empty_bus(url)
    try:
        yield bus
    finally:
        await bus.close()


async def crash(*args: str) -> int:
    """Run tests.shared.crashing with these arguments and return its exit code."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.shared.crashing", *args, cwd=ROOT
    )
    return await asyncio.wait_for(proc.wait(), timeout=60)


@dataclass
class Applier:
    """The batch handler a service wires for `record`, noting the batches it got and the events it ran."""

    sessions: async_sessionmaker[AsyncSession]
    durable: str
    batches: list[list[str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    async def __call__(
        self, events: Sequence[Event[TenantCreated]], scope: EventScope
    ) -> list[BaseException | None]:
        self.batches.append([e.id for e in events])
        return await handle_batch_once(
            self.sessions, consumer=self.durable, events=events, handler=self._record, scope=scope
        )

    async def _record(self, session: AsyncSession, event: Event[TenantCreated]) -> None:
        self.runs.append(event.id)
        await record(session, event)


async def settled(bus: Bus, durable: str) -> bool:
    """Whether the durable exists and has every message of its stream delivered and settled."""
    try:
        info = await bus.js.consumer_info("IDENTITY", durable)
    except NotFoundError:
        return False
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


@pytest.mark.anyio
async def test_batch_with_failing_events_commits_the_others(database_url: str) -> None:
    async with database(database_url) as sessions:
        tenant = uuid.uuid4().hex
        good = [tenant_event(tenant) for _ in range(5)]
        poisoned, bad_sql = tenant_event(tenant, name=POISON), tenant_event(tenant, name=BAD_SQL)
        events = [good[0], poisoned, *good[1:3], bad_sql, *good[3:]]
        outcomes = await handle_batch_once(sessions, consumer="c1", events=events, handler=record)
        failed = {e.id: type(o).__name__ for e, o in zip(events, outcomes, strict=True) if o is not None}
        assert failed.keys() == {poisoned.id, bad_sql.id} and failed[poisoned.id] == "RuntimeError"
        # The failing handlers' own writes (flushed before they failed) are undone; the others' stay.
        assert await applied(sessions, tenant) == {e.id: 1 for e in good}
        # Again, with one more: the applied ones are not run again, the failing ones fail again.
        more = tenant_event(tenant)
        outcomes = await handle_batch_once(sessions, consumer="c1", events=[*events, more], handler=record)
        assert [o is None for o in outcomes] == [e not in (poisoned, bad_sql) for e in [*events, more]]
        assert await applied(sessions, tenant) == {e.id: 1 for e in [*good, more]}


@pytest.mark.anyio
async def test_duplicates_inside_a_batch_or_in_the_inbox_are_applied_once(database_url: str) -> None:
    async with database(database_url) as sessions:
        tenant = uuid.uuid4().hex
        before, a, b = (tenant_event(tenant) for _ in range(3))
        assert await handle_once(sessions, consumer="c1", event=before, handler=record)
        outcomes = await handle_batch_once(
            sessions, consumer="c1", events=[a, before, a, b, a, b], handler=record
        )
        assert outcomes == [None] * 6
        assert await applied(sessions, tenant) == {before.id: 1, a.id: 1, b.id: 1}


@pytest.mark.anyio
async def test_replicas_applying_the_same_batch_at_once_apply_each_event_once(database_url: str) -> None:
    """Two replicas race on one batch: one commits, the other falls back and finds only duplicates."""

    first, second = create_engine(database_url), create_engine(database_url)
    await create_tables(first)
    tenant = uuid.uuid4().hex
    events = [tenant_event(tenant) for _ in range(20)]

    async def slow(session: AsyncSession, event: Event[TenantCreated]) -> None:
        await record(session, event)
        await asyncio.sleep(0.01)  # both transactions stay open together (PostgreSQL lets them)

    results = await asyncio.gather(
        *(
            handle_batch_once(session_factory(engine), consumer="c1", events=events, handler=slow)
            for engine in (first, second)
        )
    )
    assert results == [[None] * 20, [None] * 20]
    assert await applied(session_factory(first), tenant) == {e.id: 1 for e in events}
    await first.dispose()
    await second.dispose()


@pytest.mark.anyio
async def test_consumer_commits_a_batch_around_a_poisoned_event_then_dead_letters_it(
    nats_url: str, database_url: str
) -> None:
    async with database(database_url) as sessions, broker(nats_url) as bus:
        tenant = uuid.uuid4().hex
        durable = f"poison-{tenant[:8]}"
        good = [tenant_created(tenant) for _ in range(9)]
        poisoned = tenant_created(tenant, name=POISON)
        for event in [*good[:4], poisoned, *good[4:]]:
            await bus.publish(event)
        apply = Applier(sessions, durable)
        dead = await bus.js.subscribe(dead_letter_subject(durable))
        consumer = bus.consumer(
            durable=durable, event=TenantCreated, batch_handler=apply, backoff=(0.05, 0.05)
        )
        task = asyncio.create_task(consumer.run())
        try:
            msg = await dead.next_msg(timeout=10)
            assert CloudEvent.from_bytes(msg.data).id == poisoned.id
            await until(lambda: settled(bus, durable), what="every delivery settled")
        finally:
            task.cancel()
        assert len(apply.batches[0]) == 10  # the first fetch took the whole backlog as one batch
        # Two back-off delays: three deliveries of the poisoned event, then the dead-letter subject; the
        # others committed and were acked with the first batch, never delivered again.
        assert sum(poisoned.id in batch for batch in apply.batches) == 3
        assert sorted(i for batch in apply.batches for i in batch if i != poisoned.id) == sorted(
            e.id for e in good
        )
        assert await applied(sessions, tenant) == {e.id: 1 for e in good}


@pytest.mark.anyio
async def test_consumer_acks_duplicates_in_a_batch_and_applies_them_once(
    nats_url: str, database_url: str
) -> None:
    async with database(database_url) as sessions, broker(nats_url) as bus:
        tenant = uuid.uuid4().hex
        durable = f"twins-{tenant[:8]}"
        a, b = tenant_created(tenant), tenant_created(tenant)
        # The same event stored three times (a publisher that retried past the de-duplication window).
        for event, msg_id in [(a, a.id), (b, b.id), (a, f"{a.id}-again"), (a, f"{a.id}-third")]:
            await bus.publish_raw(subject=TYPE, body=event.to_bytes(), msg_id=msg_id)
        apply = Applier(sessions, durable)
        task = asyncio.create_task(
            bus.consumer(durable=durable, event=TenantCreated, batch_handler=apply).run()
        )
        try:
            await until(lambda: settled(bus, durable), what="every delivery settled")
        finally:
            task.cancel()
        info = await bus.js.consumer_info("IDENTITY", durable)
        assert info.delivered.stream_seq == info.ack_floor.stream_seq  # all four acked, none redelivered
        assert sorted(apply.runs) == sorted([a.id, b.id])
        assert await applied(sessions, tenant) == {a.id: 1, b.id: 1}


@pytest.mark.anyio
async def test_lingering_consumer_handles_events_arriving_one_by_one_as_one_batch(
    nats_url: str, database_url: str
) -> None:
    async with database(database_url) as sessions, broker(nats_url) as bus:
        tenant = uuid.uuid4().hex
        durable = f"linger-{tenant[:8]}"
        apply = Applier(sessions, durable)
        task = asyncio.create_task(
            bus.consumer(durable=durable, event=TenantCreated, batch_handler=apply, linger=2.0).run()
        )

        async def held(n: int) -> bool:
            try:
                info = await bus.js.consumer_info("IDENTITY", durable)
            except NotFoundError:
                return False
            return bool(info.num_ack_pending == n)

        try:
            first = tenant_created(tenant)
            await bus.publish(first)
            # Delivered and held unacknowledged while the consumer waits for more.
            await until(lambda: held(1), what="the first event delivered and held")
            later = [tenant_created(tenant), tenant_created(tenant)]
            for event in later:
                await bus.publish(event)
            await until(lambda: settled(bus, durable), what="every delivery settled")
        finally:
            task.cancel()
        assert apply.batches == [[first.id, *(e.id for e in later)]]
        assert await applied(sessions, tenant) == {first.id: 1, later[0].id: 1, later[1].id: 1}


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
@pytest.mark.anyio
async def test_consumer_killed_around_its_commit_loses_and_duplicates_nothing(
    nats_url: str, database_url: str, moment: str
) -> None:
    """A consumer process dies just before (all lost) or just after (none acked) a batch's commit."""

    async with database(database_url) as sessions, broker(nats_url) as bus:
        tenant = uuid.uuid4().hex
        durable = f"crash-{moment[:5]}-{tenant[:8]}"
        events = [tenant_created(tenant) for _ in range(20)]
        for event in events:
            await bus.publish(event)

        assert await crash("consumer", nats_url, database_url, durable, moment) == CRASHED
        committed = await applied(sessions, tenant)
        if moment == "before_commit":
            assert committed == {}  # released savepoints did not outlive their rolled-back transaction
        else:
            assert committed and all(n == 1 for n in committed.values())

        # A replacement gets every unacked event again (after ack_wait) and applies only what was lost.
        apply = Applier(sessions, durable)
        consumer = bus.consumer(
            durable=durable, event=TenantCreated, batch_handler=apply, ack_wait=ACK_WAIT_S
        )
        task = asyncio.create_task(consumer.run())
        try:
            await until(lambda: settled(bus, durable), what="every delivery settled")
        finally:
            task.cancel()
        assert {i for batch in apply.batches for i in batch} == {e.id for e in events}
        assert sorted(apply.runs) == sorted(e.id for e in events if e.id not in committed)
        assert await applied(sessions, tenant) == {e.id: 1 for e in events}


@pytest.mark.anyio
async def test_relay_restarted_mid_batch_publishes_each_event_once(nats_url: str, database_url: str) -> None:
    """The relay dies with a batch published and acknowledged but not marked; its restart re-publishes it,
    then the rest, in staging order."""

    async with database(database_url) as sessions, broker(nats_url) as bus:
        tenant = uuid.uuid4().hex
        events = [tenant_created(tenant) for _ in range(1000)]
        async with transaction(sessions) as session:
            for event in events:
                stage(session, event)

        # 100 rows a batch, killed before the third commit: 200 marked, 300 in the stream.
        assert await crash("relay", nats_url, database_url, "100", "3") == CRASHED
        relay = OutboxRelay(sessions, bus, batch=100)
        assert await relay.pending() == 800
        assert (await bus.js.stream_info("IDENTITY")).state.messages == 300

        while await relay.flush():
            pass
        assert await relay.pending() == 0
        assert (await bus.js.stream_info("IDENTITY")).state.messages == 1000
        got = await collect(bus, f"relay-{tenant[:8]}", TenantCreated, 1000)
        # Once each, in the order they were staged: the restart re-publishes the unmarked batch first.
        assert [e.id for e in got] == [e.id for e in events]
