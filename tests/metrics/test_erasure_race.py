"""An erasure that starts while a fold of the engagement stream is between reading the erased ids and
writing its rows: the fold's rows must not bring the erased profile id back (in process, on a migrated
SQLite database and, in an external-backend run, on PostgreSQL too)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.metrics import privacy
from services.metrics.logic import facts
from services.metrics.models import ConversationFact
from shared.db import begin_immediate, create_engine, session_factory
from shared.events.contracts import Contract, PrivacySubject
from shared.events.envelope import CloudEvent, Event, event_model
from shared.events.inbox import handle_set
from shared.migrations import upgrade
from tests.migrations.test_migrations import database_url  # noqa: F401 (the fixture: SQLite and PostgreSQL)

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("service", ["metrics"])]


def opened(tenant_id: str, conversation_id: str, profile_id: str) -> Event[Contract]:
    raw = CloudEvent(
        id=str(uuid.uuid4()),
        source="/rapport/engagement",
        type="engagement.conversation.opened",
        time=datetime.now(UTC),
        tenantid=tenant_id,
        data={
            "conversation_id": conversation_id,
            "profile_id": profile_id,
            "mention_id": str(uuid.uuid4()),
            "priority": "normal",
            "opened_at": datetime.now(UTC).isoformat(),
        },
    ).to_bytes()
    return event_model(Contract).model_validate_json(raw)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Any]:  # noqa: F811 (the fixture above)
    await asyncio.to_thread(upgrade, "metrics", database_url)
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_a_fold_under_way_when_an_erasure_starts_leaves_no_erased_id(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id, profile_id, conversation_id = (str(uuid.uuid4()) for _ in range(3))
    read_erased, go_on = asyncio.Event(), asyncio.Event()
    anonymised = privacy.anonymised

    async def pausing(session: Any, events: Sequence[Event[Contract]]) -> list[Event[Contract]]:
        out = await anonymised(session, events)  # the fold has read the erased ids (none yet)
        read_erased.set()
        await go_on.wait()
        return out

    monkeypatch.setattr(privacy, "anonymised", pausing)
    fold = asyncio.create_task(
        handle_set(
            sessions,
            consumer="metrics-engagement",
            events=[opened(tenant_id, conversation_id, profile_id)],
            handler=facts.on_engagement,
        )
    )
    await read_erased.wait()

    async def erase() -> None:
        async with sessions() as session, session.begin():
            await begin_immediate(session)  # as the privacy consumer's inbox transaction does
            await privacy.erase_person(session, tenant_id, PrivacySubject(profile_ids=[profile_id]))

    erasure = asyncio.create_task(erase())
    # Give the erasure every chance to commit while the fold waits between its read and its write: it
    # must wait for the fold (the fold holds the write lock or the tenant's fold lock), not overtake it.
    done, _ = await asyncio.wait({erasure}, timeout=1.0)
    assert not done, "the erasure committed while a fold was between reading the erased ids and writing"
    go_on.set()
    assert await fold == [None]
    await erasure

    async with sessions() as session:
        stored = list(
            await session.scalars(
                select(ConversationFact.profile_id).where(ConversationFact.tenant_id == tenant_id)
            )
        )
    # The fold's conversation, under the erasure's random id.
    assert len(stored) == 1 and stored[0] != profile_id
