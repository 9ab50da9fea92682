"""Privacy requests as the services receive them (events on the bus), and searches for what is left of a
person: in a service's database, in the JetStream streams, in an API answer."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import nats
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg, StreamInfo

from rapport.stack import Stack
from shared.events.contracts import ErasureRequested, ExportRequested, PrivacySubject
from shared.events.envelope import new_event
from tests.helpers import collect_events, find_event, publish_event

ANSWER = "privacy.erasure.completed"


def subject_of(profile_ids: Iterable[str] = (), *identities: Mapping[str, str | None]) -> PrivacySubject:
    return PrivacySubject(profile_ids=list(profile_ids), identities=[dict(i) for i in identities])


def request_erasure(stack: Stack, tenant_id: str, subject: PrivacySubject) -> str:
    """Publish `privacy.erasure.requested` as profiles does; the request id."""
    request_id = str(uuid.uuid4())
    request = ErasureRequested(request_id=request_id, subject=subject, requested_at=datetime.now(UTC))
    publish_event(stack.nats_url, new_event(request, source="profiles", tenant_id=tenant_id))
    return request_id


def erasure_completed(stack: Stack, request_id: str, service: str, timeout: float = 30) -> dict[str, Any]:
    """The service's `privacy.erasure.completed` for the request (its data: counts, references)."""
    event = find_event(
        stack.nats_url,
        "privacy.erasure.completed",
        lambda e: e["data"]["request_id"] == request_id and e["data"]["service"] == service,
        timeout=timeout,
    )
    data: dict[str, Any] = event["data"]
    return data


def erase(stack: Stack, tenant_id: str, subject: PrivacySubject, service: str) -> dict[str, Any]:
    """Request an erasure and wait for the service's answer."""
    return erasure_completed(stack, request_erasure(stack, tenant_id, subject), service)


def export(stack: Stack, tenant_id: str, subject: PrivacySubject, service: str) -> dict[str, list[Any]]:
    """Request an export and gather the service's answer from its parts."""
    request_id = str(uuid.uuid4())
    request = ExportRequested(request_id=request_id, subject=subject, requested_at=datetime.now(UTC))
    publish_event(stack.nats_url, new_event(request, source="profiles", tenant_id=tenant_id))
    first = find_event(
        stack.nats_url,
        "privacy.export.part",
        lambda e: e["data"]["request_id"] == request_id and e["data"]["service"] == service,
        timeout=30,
    )
    chunks = first["data"]["chunks"]
    parts = [first]
    if chunks > 1:
        parts = collect_events(
            stack.nats_url,
            "privacy.export.part",
            lambda e: e["data"]["request_id"] == request_id and e["data"]["service"] == service,
            timeout=5,
        )
    merged: dict[str, list[Any]] = {}
    for part in sorted(parts, key=lambda p: int(p["data"]["chunk"])):
        for kind, records in part["data"]["data"].items():
            merged.setdefault(kind, []).extend(records)
    return merged


def database_hits(
    stack: Stack, service: str, needles: Iterable[str], *, allowed: Iterable[str] = (ANSWER,)
) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a stored value of the service's database (SQLite, or the
    PostgreSQL database of an external-backend run) contains a needle (every column as text, every
    table), except in the outbox rows of the erasure's own answer (`privacy.erasure.completed` lists the
    ids of the erased records for the stream scrub) and of the other `allowed` event types."""
    skipped = set(allowed)
    wanted = [n for n in needles if n]
    url = stack.database_urls.get(service)
    rows = _postgres_rows(url) if url else _sqlite_rows(stack, service)
    hits: list[tuple[str, str, str]] = []
    for table, values in rows:
        if table == "outbox" and values.get("type") in skipped:
            continue  # e.g. the erasure's own answer: the ids of what was erased, by contract
        for column, value in values.items():
            if value is not None:
                hits.extend((table, column, n) for n in wanted if n in value)
    return hits


def _sqlite_rows(stack: Stack, service: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every row of every table of the service's SQLite file, its text and bytes values as text."""
    path = stack.var_dir / f"{service}.db"
    found: list[tuple[str, dict[str, str | None]]] = []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from sqlite_master)
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                values: dict[str, str | None] = {}
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    values[column] = value if isinstance(value, str) else None
                found.append((table, values))
    finally:
        conn.close()
    return found


def _postgres_rows(url: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every row of every table of the database, each column cast to text (JSON as its text)."""
    import asyncpg

    async def read() -> list[tuple[str, dict[str, str | None]]]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        found: list[tuple[str, dict[str, str | None]]] = []
        try:
            columns: dict[str, list[tuple[str, str]]] = {}
            for record in await conn.fetch(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
            ):
                columns.setdefault(record["table_name"], []).append(
                    (record["column_name"], record["data_type"])
                )
            for table, typed in columns.items():
                names = [n for n, _ in typed]
                casts = ", ".join(
                    f'encode("{n}", \'escape\') AS "{n}"'
                    if kind == "bytea"
                    else f'CAST("{n}" AS TEXT) AS "{n}"'
                    for n, kind in typed
                )
                for record in await conn.fetch(f'SELECT {casts} FROM "{table}"'):  # noqa: S608 (catalog names)
                    found.append((table, {n: record[n] for n in names}))
        finally:
            await conn.close()
        return found

    return asyncio.run(read())


async def kept_messages(js: JetStreamContext, stream: str) -> AsyncIterator[RawStreamMsg]:
    """Every message still in `stream`, one sequence at a time from its first to its last (deleted ones
    skipped): no consumer, so gaps that deletions leave and an expiring pull cannot end the read early."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            yield await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            continue  # deleted


async def _stream_hits(nats_url: str, needles: list[str], allowed: set[str]) -> list[tuple[str, int, str]]:
    nc = await nats.connect(nats_url)
    hits: list[tuple[str, int, str]] = []
    try:
        js = nc.jetstream()
        streams: list[StreamInfo] = await js.streams_info()
        for info in streams:
            name = info.config.name
            assert name is not None
            async for msg in kept_messages(js, name):
                if (msg.subject or "") in allowed:
                    continue
                seq, body = msg.seq, (msg.data or b"").decode("utf-8", "replace")
                assert seq is not None
                hits.extend((name, seq, n) for n in needles if n in body)
    finally:
        await nc.close()
    return hits


def stream_hits(
    stack: Stack, needles: Iterable[str], *, allowed: Iterable[str] = ()
) -> list[tuple[str, int, str]]:
    """Every (stream, sequence, needle) where a message kept in a JetStream stream (dead letters too)
    contains a needle, except messages on the `allowed` subjects (event types)."""
    return asyncio.run(_stream_hits(stack.nats_url, [n for n in needles if n], set(allowed)))
