"""Two profiles replicas consuming one durable together on PostgreSQL, where they can really race.

Mentions of the same new authors reach both replicas in the same moments: each author must end as one
profile, and no count may be lost. Skipped only when PostgreSQL is unreachable (RAPPORT_TEST_PG, default
the local server), unless RAPPORT_TEST_BACKEND=external demands it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from services.profiles.app import create_app
from services.profiles.settings import ProfilesSettings
from shared.db import create_engine
from shared.events.contracts import Analysis, Author, MentionReceived, Sentiment
from shared.events.envelope import new_event
from shared.migrations import upgrade_head
from tests.shared.conftest import nats_url  # noqa: F401  (the module's own nats-server)
from tests.shared.stand_ins import empty_bus

pytestmark = pytest.mark.anyio
PG = os.environ.get("RAPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AUTHORS, MENTIONS_EACH = 6, 30


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(PG, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at {PG} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("RAPPORT_TEST_BACKEND") == "external":
            pytest.fail(reason)
        pytest.skip(f"{reason}; set RAPPORT_TEST_PG to run it")
    name = f"rapport_profiles_replicas_{secrets.token_hex(4)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        await asyncio.to_thread(upgrade_head, "profiles", url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def no_keys() -> dict[str, Any]:
    return {"keys": []}


def mention(tenant_id: str, author: int, n: int, *, with_user_id: bool) -> Any:
    payload = MentionReceived(
        mention_id=f"m-{author}-{n}-{secrets.token_hex(3)}",
        platform="x",
        external_id=secrets.token_hex(6),
        text=f"post {n}",
        created_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        author=Author(
            handle=f"@Author{author}",
            platform_user_id=f"uid-{author}" if with_user_id else None,
            followers=100 + n,
        ),
        analysis=Analysis(language="en", sentiment=Sentiment(label="neutral", score=0.0), intent="other"),
    )
    return new_event(payload, source="listening", tenant_id=tenant_id, subject=payload.mention_id)


@pytest.mark.parametrize("with_user_id", [False, True], ids=["by_handle", "by_platform_user_id"])
async def test_two_replicas_make_one_profile_per_new_author(
    nats_url: str,  # noqa: F811
    postgres_url: str,
    with_user_id: bool,
) -> None:
    tenant_id = f"t-{secrets.token_hex(4)}"
    bus = await empty_bus(nats_url)
    settings = {"nats_url": nats_url, "database_url": postgres_url, "log_level": "WARNING"}
    apps = [create_app(ProfilesSettings(**settings), jwks=no_keys) for _ in range(2)]
    engine = create_engine(postgres_url)
    try:
        async with AsyncExitStack() as stack:
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
            # Every author's mentions interleaved, published as fast as the broker takes them: both
            # replicas fetch batches holding the same new authors.
            for n in range(MENTIONS_EACH):
                await asyncio.gather(
                    *(
                        bus.publish(mention(tenant_id, a, n, with_user_id=with_user_id))
                        for a in range(AUTHORS)
                    )
                )

            async def count(sql: str) -> int:
                async with engine.connect() as conn:
                    return int((await conn.execute(text(sql), {"t": tenant_id})).scalar_one())

            deadline = time.monotonic() + 60
            while (
                await count("SELECT count(*) FROM interaction WHERE tenant_id = :t") < AUTHORS * MENTIONS_EACH
            ):
                assert time.monotonic() < deadline, "timed out waiting for every mention to be resolved"
                await asyncio.sleep(0.1)

            assert await count("SELECT count(*) FROM profile WHERE tenant_id = :t") == AUTHORS
            kinds = 2 if with_user_id else 1
            assert await count("SELECT count(*) FROM identifier WHERE tenant_id = :t") == AUTHORS * kinds
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT p.mention_count, p.followers, count(i.id) FROM profile p "
                            "JOIN interaction i ON i.profile_id = p.id WHERE p.tenant_id = :t "
                            "GROUP BY p.id, p.mention_count, p.followers"
                        ),
                        {"t": tenant_id},
                    )
                ).all()
            # No increment lost to the race, and the latest post's audience on every profile.
            assert (
                sorted(tuple(row) for row in rows)
                == [(MENTIONS_EACH, 100 + MENTIONS_EACH - 1, MENTIONS_EACH)] * AUTHORS
            )
    finally:
        await bus.close()
        await engine.dispose()
