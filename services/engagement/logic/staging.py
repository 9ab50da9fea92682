"""Events a routing batch stages, written to the outbox together.

Routing one fetched batch stages about two events per mention it opens a conversation for (opened,
message created; assigned, status moves, consent captures). `shared.events.outbox.stage` adds one
`OutboxMessage` ORM object per event, which the next flush writes through the unit of work. Inside
`staged_together` `stage` keeps each event as a plain row instead, and the scope's end writes its rows
with one Core INSERT in the caller's transaction. A row is what `shared.events.outbox.stage` would have
written: the trace headers current when it was staged, and the time it was staged as `created_at` (the
relay's order), so the events leave in the order they were staged, with those staged the ORM way
meanwhile. Outside a scope `stage` is `shared.events.outbox.stage`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.events import outbox
from shared.events.envelope import CloudEvent
from shared.telemetry import inject_headers

_ROWS = "rapport.engagement.staged_rows"  # the open scope's rows (Session.info)
_INSERT = insert(outbox.OutboxMessage.__table__)  # type: ignore[attr-defined]


def stage(session: AsyncSession, event: CloudEvent) -> None:
    """Add an event to the outbox in the caller's transaction (a row of the open scope, if any)."""
    rows: list[dict[str, Any]] | None = session.sync_session.info.get(_ROWS)
    if rows is None:
        outbox.stage(session, event)
        return
    rows.append(
        {
            "id": event.id,
            "tenant_id": event.tenantid,
            "type": event.type,
            "body": event.model_dump_json(exclude_none=True),
            "headers": json.dumps(inject_headers({})),
            "created_at": utcnow(),
            "published_at": None,
        }
    )


@asynccontextmanager
async def staged_together(session: AsyncSession) -> AsyncIterator[None]:
    """Events staged within are written when the scope ends (one INSERT); nothing when it raises (the
    transaction is lost anyway). A scope within a scope is the outer one."""
    info = session.sync_session.info
    if _ROWS in info:
        yield
        return
    rows: list[dict[str, Any]] = []
    info[_ROWS] = rows
    try:
        yield
    finally:
        del info[_ROWS]
    if rows:
        await session.execute(_INSERT, rows)
        outbox.STAGED.mark(session)
