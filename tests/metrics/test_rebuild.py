"""`rapport metrics snapshot` / `rebuild`: the fact tables rebuilt from a snapshot and the events the
streams still hold give the same scorecard; repeated and late events change nothing; erased people stay
erased.

The shared stack's metrics service keeps running: each rebuild works on a copy of its database (taken
once its consumers have caught up: SQLite's online backup, or on PostgreSQL a database of its own,
migrated to head and filled by COPY in one read transaction), and the copy's scorecard is read from a
metrics process of its own, started on that copy and on a NATS server of its own (so its consumers take
nothing from the stack's).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from rapport.stack import ROOT, Proc, Stack, free_port, nats_server_binary, port_open
from services.metrics.snapshots import FACT_TABLES, FOLDING
from shared.events import contracts as c
from shared.events.bus import Bus
from shared.events.catalog import stream_of
from shared.events.envelope import new_event
from shared.migrations import upgrade, version_table
from tests.erasures import erase, subject_of
from tests.helpers import Tenant, mention_payload, signup, unique, wait_until
from tests.metrics.test_scorecard import scorecard_when
from tests.metrics.test_scorecard_scenario import (
    DAY,
    PERIOD,
    Scenario,
    at,
    card_of,
    complete,
    event,
    publish,
    settled,
)
from tests.profiles.helpers import wait_for_profile


@dataclass(frozen=True)
class Db:
    """A metrics database: the stack's or a copy, a SQLite file or a PostgreSQL database."""

    url: str

    @property
    def path(self) -> Path | None:
        return Path(self.url.split("///", 1)[1]) if self.url.startswith("sqlite") else None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows of `sql` (`?` placeholders)."""
        if self.path is not None:
            conn = sqlite3.connect(self.path)
            try:
                rows = [tuple(r) for r in conn.execute(sql, params).fetchall()]
                conn.commit()
                return rows
            finally:
                conn.close()
        for n in range(1, len(params) + 1):
            sql = sql.replace("?", f"${n}", 1)

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(dsn(self.url))
            try:
                return [tuple(r) for r in await conn.fetch(sql, *params)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def tables(self) -> list[str]:
        if self.path is not None:
            return [r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def live_db(stack: Stack) -> Db:
    return Db(stack.database_urls.get("metrics") or f"sqlite+aiosqlite:///{stack.var_dir / 'metrics.db'}")


# The PostgreSQL copies made by this module's tests (dropped at its end).
COPIES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def postgres_copies() -> Iterator[None]:
    yield
    while COPIES:
        administer(COPIES.pop(), 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def administer(url: str, sql: str) -> None:
    """Run `sql` (`{name}`: the database of `url`) on the server's maintenance database."""
    server, name = dsn(url).rsplit("/", 1)

    async def run() -> None:
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(sql.format(name=name))
        finally:
            await admin.close()

    asyncio.run(run())


def caught_up(stack: Stack) -> None:
    """Wait until metrics' folding consumers have nothing pending or unacknowledged."""

    async def idle() -> bool:
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            for sub in FOLDING:
                assert sub.subject is not None
                info = await js.consumer_info(stream_of(sub.subject), sub.durable)
                if info.num_pending or info.num_ack_pending:
                    return False
            return True
        finally:
            await nc.close()

    wait_until(lambda: asyncio.run(idle()), timeout=60, interval=0.5, what="metrics caught up")


def copy_db(stack: Stack, dest: Path) -> Db:
    """A consistent copy of the stack's metrics database: SQLite's online backup into `dest`, or a new
    PostgreSQL database migrated to head and filled table by table by COPY from one REPEATABLE READ
    transaction of the stack's."""
    live = live_db(stack)
    if live.path is not None:
        source = sqlite3.connect(f"file:{live.path}?mode=ro", uri=True)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return Db(f"sqlite+aiosqlite:///{dest}")
    base, _ = live.url.rsplit("/", 1)
    copy = Db(f"{base}/rapport_copy_{uuid.uuid4().hex[:10]}")
    administer(copy.url, 'CREATE DATABASE "{name}"')
    COPIES.append(copy.url)
    upgrade("metrics", copy.url)

    async def fill() -> None:
        src, dst = await asyncpg.connect(dsn(live.url)), await asyncpg.connect(dsn(copy.url))
        try:
            async with src.transaction(isolation="repeatable_read", readonly=True):
                for (table,) in await src.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ):
                    if table == version_table("metrics"):
                        continue
                    data = io.BytesIO()
                    await src.copy_from_table(table, output=data, format="binary")
                    data.seek(0)
                    await dst.copy_to_table(table, source=data, format="binary")
        finally:
            await src.close()
            await dst.close()

    asyncio.run(fill())
    return copy


def metrics_cli(stack: Stack, db: Db, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m rapport metrics ARGS` against the database `db`, with the stack's NATS."""
    env = {**os.environ, **stack.common_env, "RAPPORT_METRICS_DATABASE_URL": db.url}
    return subprocess.run(
        [sys.executable, "-m", "rapport", "metrics", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rebuilt(stack: Stack, db: Db, *args: str) -> str:
    done = metrics_cli(stack, db, "rebuild", "--force", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def spare_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server for the copies' metrics processes (their consumers find nothing there)."""
    where = tmp_path_factory.mktemp("spare-nats")
    port = free_port()
    proc = Proc(
        "nats-spare",
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(where / "js")],
        port,
        where / "nats.log",
    )
    proc.spawn()
    try:
        wait_until(lambda: port_open(port), what="spare nats-server up")
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.stop(kill=True)


@contextmanager
def serving(stack: Stack, db: Db, nats_url: str, logs: Path) -> Iterator[httpx.Client]:
    """A metrics process answering from the copy `db` (no snapshots, its consumers on `nats_url`)."""
    port = free_port()
    proc = Proc(
        "metrics-copy",
        [sys.executable, "-m", "services.metrics", "--port", str(port)],
        port,
        logs / "metrics-copy.log",
        env={
            **stack.common_env,
            "RAPPORT_SERVICE": "metrics",
            "RAPPORT_DATABASE_URL": db.url,
            "RAPPORT_NATS_URL": nats_url,
            "RAPPORT_METRICS_SNAPSHOT_INTERVAL_HOURS": "0",
        },
    )
    proc.spawn()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:

            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout=60, interval=0.2, what="the copy's metrics process ready")
            yield client
    finally:
        proc.stop()


def copy_card(client: httpx.Client, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=tenant.headers, params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fact_rows(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every fact table of the database, sorted."""
    return {
        table.name: sorted(db.query(f'SELECT * FROM "{table.name}"'), key=repr)  # noqa: S608
        for table in FACT_TABLES
    }


def tables_naming(db: Db, needle: str) -> set[str]:
    """The tables of the database with a text value containing `needle`."""
    found = set()
    for table in db.tables():
        for row in db.query(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from the catalogue)
            if any(isinstance(v, str) and needle in v for v in row):
                found.add(table)
                break
    return found


def profile_ids(db: Db, tenant_id: str) -> list[str]:
    rows = db.query("SELECT profile_id FROM profile_fact WHERE tenant_id = ?", tenant_id)
    return sorted(r[0] for r in rows)


def anonymous_id(db: Db, tenant_id: str, profile_id: str) -> str:
    [(found,)] = db.query(
        "SELECT anonymous_id FROM metrics_erased_profile WHERE tenant_id = ? AND profile_id = ?",
        tenant_id,
        profile_id,
    )
    return str(found)


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> tuple[Scenario, dict[str, Any]]:
    """The scorecard scenario, each event then published once more, and late words on top."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        s = Scenario(signup(client))
        publish(stack, s.events)
        card = settled(client, s.tenant, complete, "the scenario folded")
        publish(stack, s.events, again=True)
        late = c.ConversationStatusChanged(
            conversation_id=s.conversations[0],
            profile_id="p",
            from_status="pending",
            to_status="open",
            cause="agent",
            changed_at=at(10, 50),
        )
        publish(stack, [event(s.tenant, late, at(10, 50))])
        caught_up(stack)
        assert card_of(client, s.tenant) == card
    return s, card


def test_rebuild_from_the_streams_gives_the_same_scorecard(
    stack: Stack, spare_nats: str, tmp_path: Path, scenario: tuple[Scenario, dict[str, Any]]
) -> None:
    s, card = scenario
    db = copy_db(stack, tmp_path / "metrics.db")

    out = rebuilt(stack, db, "--no-snapshot")

    assert "Rebuilt from the streams alone" in out and "not in the result" in out
    with serving(stack, db, spare_nats, tmp_path) as copy:
        assert copy_card(copy, s.tenant) == card


def test_rebuild_from_a_snapshot_folds_the_later_events_on_top(
    client: httpx.Client,
    stack: Stack,
    spare_nats: str,
    tmp_path: Path,
    scenario: tuple[Scenario, dict[str, Any]],
) -> None:
    s, card = scenario
    db = copy_db(stack, tmp_path / "metrics.db")
    taken = metrics_cli(stack, db, "snapshot")
    assert taken.returncode == 0, taken.stderr
    assert "Snapshot" in taken.stdout and "metrics-listening ≤" in taken.stdout
    # The snapshot keeps no mention counts: the rebuild computes them from its rows. A snapshot of an
    # earlier version held some (without topics and hashtags, or none at all): they are not read.
    assert not db.query("SELECT 1 FROM metrics_snapshot_row WHERE table_name = 'mention_count'")
    [(snapshot_id,)] = db.query("SELECT snapshot_id FROM metrics_snapshot")
    stale: dict[str, Any] = {"tenant_id": s.tenant.tenant_id, "filter": "", "span": "h"}
    stale |= {"start": at(9).isoformat()}
    stale |= {"field": "sentiment", "value": "positive", "n": 1000}
    db.query(
        "INSERT INTO metrics_snapshot_row (snapshot_id, position, table_name, tenant_id, data) "
        "VALUES (?, ?, 'mention_count', ?, ?)",
        snapshot_id,
        10**9,
        s.tenant.tenant_id,
        json.dumps(stale),
    )
    # After the snapshot: one more mention and one more NPS answer (and the old events once more).
    mention = c.MentionReceived.model_validate({**s.mentions[0].data, "mention_id": unique("m")})
    answer = c.SurveyAnswered(
        survey_id=unique("survey"),
        kind="nps",
        score=10,
        conversation_id=s.conversations[0],
        profile_id=unique("prof"),
        via="link",
        answered_at=at(13),
    )
    publish(stack, [event(s.tenant, mention, at(9)), event(s.tenant, answer, at(13))])
    publish(stack, s.events[:5], again=True)
    settled(
        client,
        s.tenant,
        lambda k: k["listening"]["mentions"]["total"] == 11 and k["customer"]["nps"]["answers"] == 3,
        "the later events folded",
    )
    caught_up(stack)
    now = card_of(client, s.tenant)
    assert now != card

    out = rebuilt(stack, db)

    assert "Rebuilt from the snapshot" in out
    with serving(stack, db, spare_nats, tmp_path) as copy:
        assert copy_card(copy, s.tenant) == now


def test_erased_people_stay_erased_after_a_rebuild(
    client: httpx.Client, stack: Stack, spare_nats: str, tmp_path: Path
) -> None:
    tenant = signup(client)
    handle = unique("@ivo")
    body = mention_payload(text=f"Where is my order {unique('n')}", author={"handle": handle})
    assert client.post("/v1/mentions", headers=tenant.headers, json=body).status_code == 202
    profile_id = wait_for_profile(client, tenant, handle)["id"]
    whole_day = {
        "from": (DAY - timedelta(days=3650)).isoformat(),
        "to": (DAY + timedelta(days=3650)).isoformat(),
    }
    before = scorecard_when(
        client,
        tenant,
        lambda k: k["listening"]["mentions"]["total"] == 1 and k["customer"]["profiles_first_seen"] == 1,
        "the mention and the profile counted",
        **whole_day,
    )
    # A snapshot of the live tables (safe while the service runs) holds the person's profile id...
    caught_up(stack)
    live = live_db(stack)
    assert metrics_cli(stack, live, "snapshot").returncode == 0
    assert "metrics_snapshot_row" in tables_naming(live, profile_id)

    erase(
        stack,
        tenant.tenant_id,
        subject_of([profile_id], {"kind": "handle", "platform": "x", "value": handle}),
        "metrics",
    )

    # ...until the erasure rewrites it there too.
    assert tables_naming(live, profile_id) == {"metrics_erased_profile"}
    caught_up(stack)
    first = copy_db(stack, tmp_path / "metrics.db")
    # From the streams alone: the events still naming the person are folded, then anonymised again.
    rebuilt(stack, first, "--no-snapshot")
    assert tables_naming(first, profile_id) == {"metrics_erased_profile"}
    assert profile_ids(first, tenant.tenant_id) == [anonymous_id(first, tenant.tenant_id, profile_id)]

    # From the snapshot taken before the erasure (rewritten since): the same figures, no erased id.
    (tmp_path / "second").mkdir()
    second = copy_db(stack, tmp_path / "second" / "metrics.db")
    assert "Rebuilt from the snapshot" in rebuilt(stack, second)
    assert tables_naming(second, profile_id) == {"metrics_erased_profile"}
    with serving(stack, second, spare_nats, tmp_path) as copy:
        after = copy_card(copy, tenant, **whole_day)
    assert {k: after[k] for k in ("listening", "customer")} == {
        k: before[k] for k in ("listening", "customer")
    }


def test_rebuild_refuses_while_the_service_runs_and_says_what_is_unreachable(
    stack: Stack, tmp_path: Path
) -> None:
    db = copy_db(stack, tmp_path / "metrics.db")
    before = fact_rows(db)

    running = metrics_cli(stack, db, "rebuild")
    assert running.returncode == 3 and "metrics service is running" in running.stderr

    env = {**os.environ, **stack.common_env, "RAPPORT_METRICS_DATABASE_URL": db.url}
    gone = subprocess.run(
        [
            sys.executable,
            "-m",
            "rapport",
            "metrics",
            "rebuild",
            "--nats-url",
            f"nats://127.0.0.1:{free_port()}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert gone.returncode == 1 and "NATS does not answer" in gone.stderr
    assert "Traceback" not in gone.stderr
    assert fact_rows(db) == before

    nowhere = tmp_path / "missing" / "metrics.db"
    no_db = metrics_cli(stack, Db(f"sqlite+aiosqlite:///{nowhere}"), "rebuild")
    assert no_db.returncode == 1 and f"no metrics database at {nowhere}" in no_db.stderr
    assert "Traceback" not in no_db.stderr


def test_rebuild_refuses_when_events_after_the_snapshot_have_expired(
    stack: Stack, spare_nats: str, tmp_path: Path
) -> None:
    """Events right after the snapshot's position are gone from a stream (as when the snapshot is older
    than the retention): nothing changes unless --allow-gap, and then the output says what is missing."""
    db = copy_db(stack, tmp_path / "metrics.db")
    tenant_id = unique("tenant")

    async def expire_the_first_events() -> None:
        bus = Bus(spare_nats, name="rapport-tests")
        await bus.connect()
        try:
            info = await bus.js.stream_info("PROFILES")
            for _ in range(3):
                await bus.publish(
                    new_event(
                        c.ProfileCreated(profile_id=unique("p"), platform="x"),
                        source="t",
                        tenant_id=tenant_id,
                    )
                )
            # Everything up to the second of these is gone, as if expired.
            await bus.js.purge_stream("PROFILES", seq=info.state.last_seq + 3)
        finally:
            await bus.close()

    assert metrics_cli(stack, db, "snapshot", "--nats-url", spare_nats).returncode == 0
    asyncio.run(expire_the_first_events())
    before = fact_rows(db)

    refused = metrics_cli(stack, db, "rebuild", "--force", "--nats-url", spare_nats)

    assert refused.returncode == 3 and "have expired from the stream" in refused.stderr
    assert fact_rows(db) == before
    out = rebuilt(stack, db, "--allow-gap", "--nats-url", spare_nats)
    assert "Missing from the result: PROFILES" in out
    rows = [r for r in fact_rows(db)["profile_fact"] if r[0] == tenant_id]
    assert len(rows) == 1  # the one event the stream still holds
