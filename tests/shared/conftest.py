"""A nats-server of the module's own, and a database per test: a SQLite file, and with
RAPPORT_TEST_BACKEND=external also a fresh PostgreSQL database on this machine (RAPPORT_TEST_PG)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from rapport.stack import Proc, free_port, nats_server_binary, port_open
from tests.helpers import wait_until

BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get("RAPPORT_TEST_BACKEND") == "external" else [])]


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = Proc(
        "nats",
        [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(tmp_path_factory.mktemp("nats")),
        ],
        port,
        tmp_path_factory.mktemp("log") / "n.log",
    )
    proc.spawn()
    wait_until(lambda: port_open(port), timeout=10, what="nats-server to listen")
    yield f"nats://127.0.0.1:{port}"
    proc.stop()


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, as a SQLAlchemy async URL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
        return
    admin = os.environ.get("RAPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"rapport_test_shared_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
