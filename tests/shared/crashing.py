"""A batch consumer or an outbox relay in a process of its own that dies at the n-th commit.

    python -m tests.shared.crashing consumer NATS_URL DB_URL DURABLE MOMENT
    python -m tests.shared.crashing relay NATS_URL DB_URL BATCH N

MOMENT is `before_commit` (the transaction is lost) or `after_commit` (it is durable, nothing is acked
yet); the relay dies before its n-th commit (published and acknowledged, not yet marked published).
The process ends with CRASHED when it died as asked, 0 when it never got there.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.db import create_engine, session_factory
from shared.events.bus import Bus, EventScope
from shared.events.contracts import TenantCreated
from shared.events.envelope import Event
from shared.events.inbox import handle_batch_once
from shared.events.outbox import OutboxRelay
from tests.helpers import create_tables
from tests.shared.stand_ins import record

CRASHED = 86
ACK_WAIT_S = 1.0
GIVE_UP_S = 30.0


def die_at(moment: str, nth: int = 1) -> None:
    """End the process abruptly (no cleanup, no acks) at the n-th session commit's `moment`."""
    commits = 0

    @event.listens_for(Session, moment)
    def _die(session: Session) -> None:
        nonlocal commits
        if session.in_nested_transaction():
            return  # a savepoint's release, not a commit
        commits += 1
        if commits == nth:
            os._exit(CRASHED)


async def consumer(nats_url: str, db_url: str, durable: str, moment: str) -> None:
    engine = create_engine(db_url)
    await create_tables(engine)
    sessions = session_factory(engine)
    bus = Bus(nats_url, name="crashing-consumer")
    await bus.connect()

    async def apply(events: Sequence[Event[TenantCreated]], scope: EventScope) -> list[BaseException | None]:
        return await handle_batch_once(sessions, consumer=durable, events=events, handler=record, scope=scope)

    die_at(moment)
    run = bus.consumer(durable=durable, event=TenantCreated, batch_handler=apply, ack_wait=ACK_WAIT_S).run()
    await asyncio.wait_for(run, timeout=GIVE_UP_S)


async def relay(nats_url: str, db_url: str, batch: int, nth: int) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    bus = Bus(nats_url, name="crashing-relay")
    await bus.connect()
    die_at("before_commit", nth)
    while await OutboxRelay(sessions, bus, batch=batch).flush():
        pass


def main(argv: list[str]) -> None:
    kind, nats_url, db_url, *rest = argv
    if kind == "consumer":
        asyncio.run(consumer(nats_url, db_url, rest[0], rest[1]))
    else:
        asyncio.run(relay(nats_url, db_url, int(rest[0]), int(rest[1])))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except TimeoutError:
        sys.exit(0)
