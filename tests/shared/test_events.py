"""The event layer against a real nats-server: outbox relay, idempotent inbox, redelivery, dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rapport.stack import Proc, free_port, nats_server_binary, port_open
from shared.db import create_engine, session_factory, transaction
from shared.events import contracts as c
from shared.events.bus import Bus, dead_letter_subject
from shared.events.catalog import STREAMS
from shared.events.envelope import CloudEvent, Envelope, Event, new_event
from shared.events.inbox import handle_once
from shared.events.outbox import OutboxMessage, OutboxRelay, stage
from shared.prometheus import Metrics
from tests.helpers import create_tables, wait_until
from tests.shared.stand_ins import Applied, collect, empty_bus, tenant_created

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "cloudevents.schema.json").read_text())


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_envelope_matches_cloudevents_schema_and_rejects_missing_id() -> None:
    event = tenant_created()
    doc = json.loads(event.to_bytes())
    jsonschema.validate(doc, SCHEMA)
    assert doc["tenantid"] == "t1" and doc["specversion"] == "1.0"
    del doc["id"]
    with pytest.raises(ValueError):
        CloudEvent.from_bytes(json.dumps(doc).encode())


def test_new_event_takes_its_type_from_the_payload_class() -> None:
    event = new_event(c.UserCreated(user_id="u", role="agent"), source="tests", tenant_id="t1")
    assert event.type == "identity.user.created" and event.data["user_id"] == "u"
    # Only a class of the catalog is an event; its base or a part of a payload is not.
    for payload in (c.Author(handle="@sam"), c.Contract()):
        with pytest.raises(KeyError):
            new_event(payload, source="tests", tenant_id="t1")


def test_outbox_relay_publishes_committed_events_once(nats_url: str, database_url: str) -> None:
    metrics = Metrics()

    async def scenario() -> list[Event[c.TenantCreated]]:
        engine = create_engine(database_url)
        await create_tables(engine)
        sessions = session_factory(engine)
        bus = Bus(nats_url, name="test", metrics=metrics)
        await bus.connect()
        tenant = uuid.uuid4().hex
        events = [tenant_created(tenant) for _ in range(20)]
        async with transaction(sessions) as session:
            for event in events:
                stage(session, event)
        # A rolled-back transaction publishes nothing.
        with pytest.raises(RuntimeError):
            async with transaction(sessions) as session:
                stage(session, tenant_created(tenant))
                raise RuntimeError("boom")
        relay = OutboxRelay(sessions, bus)
        assert await relay.pending() == 20
        assert await relay.flush() == 20
        # A relay that crashed after publishing but before marking rows re-publishes: the broker drops it.
        async with transaction(sessions) as session:
            for row in (await session.execute(select(OutboxMessage))).scalars():
                row.published_at = None
        assert await relay.flush() == 20
        got = await collect(bus, f"t-{tenant[:8]}", c.TenantCreated, 20)
        mine = [e for e in got if e.tenantid == tenant]
        assert await relay.pending() == 0
        await bus.close()
        await engine.dispose()
        return mine

    mine = run(scenario())
    assert len(mine) == 20
    assert len({e.id for e in mine}) == 20
    # Counted once each: the second round's publishes were duplicates the stream dropped.
    published = metrics.registry.get_sample_value(
        "rapport_events_published_total", {"subject": "identity.tenant.created"}
    )
    assert published == 20


def test_inbox_applies_a_redelivered_event_once(database_url: str) -> None:
    async def scenario() -> int:
        engine = create_engine(database_url)
        await create_tables(engine)
        sessions = session_factory(engine)
        event = tenant_created()

        async def apply(session: AsyncSession, ev: CloudEvent) -> None:
            session.add(Applied(tenant_id=ev.tenantid, event_id=ev.id))

        results = [await handle_once(sessions, consumer="c1", event=event, handler=apply) for _ in range(3)]
        assert results == [True, False, False]
        # Another consumer applies it independently.
        assert await handle_once(sessions, consumer="c2", event=event, handler=apply)
        async with sessions() as session:
            count = await session.scalar(select(func.count()).select_from(Applied))
        await engine.dispose()
        return int(count or 0)

    assert run(scenario()) == 2


def test_failed_handler_rolls_back_and_is_retried(database_url: str) -> None:
    async def scenario() -> tuple[int, bool]:
        engine = create_engine(database_url)
        await create_tables(engine)
        sessions = session_factory(engine)
        event = tenant_created()

        async def broken(session: AsyncSession, ev: CloudEvent) -> None:
            session.add(Applied(tenant_id=ev.tenantid, event_id=ev.id))
            raise RuntimeError("downstream failure")

        with pytest.raises(RuntimeError):
            await handle_once(sessions, consumer="c1", event=event, handler=broken)

        async def ok(session: AsyncSession, ev: CloudEvent) -> None:
            session.add(Applied(tenant_id=ev.tenantid, event_id=ev.id))

        applied = await handle_once(sessions, consumer="c1", event=event, handler=ok)
        async with sessions() as session:
            count = await session.scalar(select(func.count()).select_from(Applied))
        await engine.dispose()
        return int(count or 0), applied

    assert run(scenario()) == (1, True)


def test_consumer_redelivers_after_failure_then_dead_letters(nats_url: str) -> None:
    metrics = Metrics()
    durable = f"dl-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[int, int, list[Envelope]]:
        bus = Bus(nats_url, name="test", metrics=metrics)
        await bus.connect()
        tenant = uuid.uuid4().hex
        flaky, poison = tenant_created(tenant), tenant_created(tenant)
        attempts: dict[str, int] = {flaky.id: 0, poison.id: 0}

        async def handler(event: Event[c.TenantCreated]) -> None:
            if event.id not in attempts:
                return
            attempts[event.id] += 1
            if event.id == poison.id or attempts[event.id] < 2:
                raise RuntimeError("handler failure")

        await bus.publish(flaky)
        await bus.publish(poison)
        got = await collect(bus, durable, c.TenantCreated, 10, handler=handler, timeout=4)
        sub = await bus.js.subscribe(dead_letter_subject(durable), deliver_policy=None)  # type: ignore[arg-type]
        msg = await sub.next_msg(timeout=5)
        dead = CloudEvent.from_bytes(msg.data)
        await bus.close()
        return attempts[flaky.id], attempts[poison.id], [dead, *[e for e in got if e.id == flaky.id]]

    flaky_attempts, poison_attempts, (dead, *delivered) = run(scenario())
    assert flaky_attempts == 2 and len(delivered) == 1  # failed once, redelivered, then acked
    assert poison_attempts == 3  # backoff of two delays: three deliveries, then the dead-letter subject
    assert dead.type == "identity.tenant.created"

    # The bus's instruments saw it all: two publishes and a dead letter; the flaky event's failure and
    # the poison's three; one redelivery of the one, two of the other; the poison dead-lettered.
    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    subject = "identity.tenant.created"
    assert value("rapport_events_published_total", subject=subject) == 2
    assert value("rapport_events_published_total", subject=f"deadletter.{durable}") == 1
    failed = value("rapport_events_consumed_total", subject=subject, consumer=durable, outcome="failed")
    assert failed == 1 + 3
    assert (value("rapport_events_consumed_total", subject=subject, consumer=durable, outcome="ok") or 0) >= 1
    assert value("rapport_events_redelivered_total", consumer=durable) == 1 + 2
    assert value("rapport_events_dead_lettered_total", consumer=durable, reason="failed") == 1
    assert value("rapport_consumer_pending_events", consumer=durable) is not None


def test_streams_are_created_once_jetstream_can_store_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """JetStream refuses a stream while old files are in its way (500) and clears them; connecting retries."""
    store, port = tmp_path / "nats", free_port()
    proc = Proc(
        "nats",
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        port,
        tmp_path / "n.log",
    )
    proc.spawn()
    wait_until(lambda: port_open(port), timeout=10, what="nats-server to listen")
    first = next(iter(STREAMS))
    streams = store / "jetstream" / "$G" / "streams"
    streams.mkdir(parents=True)
    (streams / first).write_text("in the way")  # what a half-removed stream directory does to a new one

    async def scenario() -> None:
        bus = Bus(f"nats://127.0.0.1:{port}", name="test")
        try:
            await bus.connect()
            assert {(await bus.js.stream_info(name)).config.name for name in STREAMS} == set(STREAMS)
        finally:
            await bus.close()

    try:
        run(scenario())
    finally:
        proc.stop()
    assert f"stream {first} not ready (error creating store for stream)" in caplog.text


def test_a_payload_that_does_not_parse_is_dead_lettered_without_reaching_the_handler(nats_url: str) -> None:
    async def scenario() -> tuple[list[str], dict[str, str], bytes]:
        bus = await empty_bus(nats_url)
        tenant = uuid.uuid4().hex
        good = tenant_created(tenant)
        bad = tenant_created(tenant).model_copy(update={"data": {"tenant_id": tenant}})  # no `name`
        for event in (bad, good):
            await bus.publish(event)
        durable = f"payload-{tenant[:8]}"
        dead = await bus.js.subscribe(dead_letter_subject(durable))
        got = await collect(bus, durable, c.TenantCreated, 1)
        msg = await dead.next_msg(timeout=5)
        await bus.close()
        return [e.id for e in got], dict(msg.headers or {}), msg.data

    handled, headers, body = run(scenario())
    assert len(handled) == 1  # only the good one
    assert headers["Rapport-Dead-Reason"] == "invalid payload"
    assert headers["Rapport-Original-Subject"] == "identity.tenant.created"
    assert "name" not in CloudEvent.from_bytes(body).data  # the original body, unchanged
