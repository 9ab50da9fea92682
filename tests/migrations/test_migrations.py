"""Each service's migrations build exactly its models' schema and keep the rows of a database they upgrade.

Run on SQLite and on PostgreSQL (RAPPORT_TEST_PG, default the local server with trust auth): each test
makes its own database `rapport_mig_<service>_<random>` and drops it afterwards. No stack is started.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, insert, inspect, select

from rapport.stack import ROOT, free_port
from shared.db import create_engine
from shared.migrations import (
    SERVICES,
    SchemaNotAtHead,
    context_options,
    current_revisions,
    heads,
    migrations_dir,
    require_head,
    service_metadata,
    upgrade,
    upgrade_head,
    version_table,
)

pytestmark = pytest.mark.anyio
PG = os.environ.get("RAPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
# Baseline tables a later revision replaced, with the table their rows moved to (checked on their own below),
# or retired (None: metrics' first daily counters, replaced by fact tables folded from the streams).
REPLACED: dict[str, dict[str, str | None]] = {
    "profiles": {"handle": "identifier"},
    "metrics": {"counter": None},
}


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, service: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the given kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
        return
    try:
        admin = await asyncpg.connect(PG, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at {PG} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("RAPPORT_TEST_BACKEND") == "external":
            pytest.fail(reason)
        pytest.skip(f"{reason}; set RAPPORT_TEST_PG to run the PostgreSQL half")
    name = f"rapport_mig_{service}_{secrets.token_hex(4)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{PG.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def migrate(service: str, url: str, revision: str = "head") -> None:
    # Alembic's environment runs its own event loop: in a thread, not inside the test's.
    await asyncio.to_thread(upgrade, service, url, revision)


async def on_connection(url: str, work: Any) -> Any:
    """Run `work(sync_connection)` in one committed transaction."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def schema_diff(conn: Connection, service: str) -> list[Any]:
    """What autogenerate would put into a new migration: nothing, if the database matches the models."""
    options = context_options(service)
    migration = MigrationContext.configure(conn, opts=options)
    diff: list[Any] = compare_metadata(migration, options["target_metadata"])
    return diff


def test_each_service_has_one_baseline_and_one_head(service: str) -> None:
    script = ScriptDirectory(str(migrations_dir(service)))
    assert len(script.get_bases()) == 1, f"{service}: more than one first revision"
    assert len(script.get_heads()) == 1, f"{service}: branches to merge (alembic merge)"


def test_no_revision_imports_the_projects_code(service: str) -> None:
    """A revision does the same thing forever: the app's code of a later day must not change it."""
    project = {"services", "shared", "gateway", "rapport", "tests"}
    for path in sorted((migrations_dir(service) / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module or ""]
            else:
                continue
            imported = {name.split(".")[0] for name in names}
            assert not imported & project, f"{path.name} imports {sorted(imported & project)}"


def test_each_service_compares_only_its_own_tables() -> None:
    for name in SERVICES:
        service_metadata(name)  # every service's models in this one process, as in the tests
    tables = {name: set(service_metadata(name).tables) for name in SERVICES}
    shared = {"inbox", "outbox"}
    for name, own in tables.items():
        assert shared <= own, name
        for other in SERVICES:
            if other != name:
                assert own & tables[other] == shared, (name, other)


async def test_a_fresh_database_upgraded_to_head_has_exactly_the_models_schema(
    service: str, database_url: str
) -> None:
    await migrate(service, database_url)
    assert await on_connection(database_url, lambda conn: schema_diff(conn, service)) == []
    engine = create_engine(database_url)
    try:
        assert await current_revisions(engine, service) == heads(service)
        await require_head(engine, service)
    finally:
        await engine.dispose()


def row_for(table: Table, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One row with a value in every column, foreign keys pointing at the rows already made."""
    row: dict[str, Any] = {}
    for i, column in enumerate(table.columns):
        [fk, *_] = [*column.foreign_keys, None]
        if fk is not None:
            row[column.name] = rows[fk.column.table.name][fk.column.name]
            continue
        kind = column.type.python_type
        if kind is bool:
            row[column.name] = True
        elif kind is int:
            row[column.name] = 7 + i
        elif kind is float:
            row[column.name] = 0.5 + i
        elif kind is datetime:
            row[column.name] = WHEN + timedelta(minutes=i)
        elif kind is date:
            row[column.name] = WHEN.date() + timedelta(days=i)
        else:
            length = getattr(column.type, "length", None) or 64
            row[column.name] = f"{table.name}.{column.name}"[:length]
    return row


def comparable(value: Any) -> Any:
    # SQLite gives timestamps back without their offset (they were written in UTC).
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return value


def insert_a_row_per_table(conn: Connection) -> dict[str, dict[str, Any]]:
    baseline = MetaData()
    baseline.reflect(conn)
    rows: dict[str, dict[str, Any]] = {}
    for table in baseline.sorted_tables:
        if table.name.startswith("alembic_version"):
            continue
        rows[table.name] = row_for(table, rows)
        conn.execute(insert(table).values(rows[table.name]))
    return rows


def read_every_table(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    now = MetaData()
    now.reflect(conn)
    return {
        name: [dict(row._mapping) for row in conn.execute(select(table))]
        for name, table in now.tables.items()
        if not name.startswith("alembic_version")
    }


async def test_rows_written_at_the_baseline_survive_the_upgrade_to_head(
    service: str, database_url: str
) -> None:
    [baseline] = ScriptDirectory(str(migrations_dir(service))).get_bases()
    await migrate(service, database_url, baseline)
    written = await on_connection(database_url, insert_a_row_per_table)
    replaced = REPLACED.get(service, {})
    assert set(written) - set(replaced) <= set(service_metadata(service).tables)

    await migrate(service, database_url)

    found = await on_connection(database_url, read_every_table)
    for table in replaced:
        assert table not in found, f"{service}: table {table} was to be replaced"
    for table, row in written.items():
        if table in replaced:
            continue
        assert table in found, f"{service}: table {table} is gone"
        [after] = found[table]
        kept = {column: comparable(value) for column, value in row.items() if column in after}
        assert {column: comparable(after[column]) for column in kept} == kept, table


async def test_a_database_made_before_migrations_is_taken_over_at_the_baseline(
    service: str, tmp_path: Path
) -> None:
    """var/ from before Alembic: the baseline's tables (what the models made at start-up then), no version
    table."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    [baseline] = ScriptDirectory(str(migrations_dir(service))).get_bases()
    await migrate(service, url, baseline)
    await on_connection(url, lambda conn: conn.exec_driver_sql(f"DROP TABLE {version_table(service)}"))
    engine = create_engine(url)
    try:
        with pytest.raises(SchemaNotAtHead):
            await require_head(engine, service)
        await migrate(service, url)
        assert await current_revisions(engine, service) == heads(service)
    finally:
        await engine.dispose()
    assert await on_connection(url, lambda conn: schema_diff(conn, service)) == []


async def test_the_version_table_is_the_services_own(service: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await migrate(service, url)
    names = await on_connection(url, lambda conn: inspect(conn).get_table_names())
    assert [name for name in names if name.startswith("alembic_version")] == [version_table(service)]


def test_a_service_refuses_to_start_on_a_database_not_at_head(tmp_path: Path) -> None:
    """Its start fails with a logged reason and a non-zero exit, before it serves anything."""
    env = {**os.environ, "RAPPORT_VAR_DIR": str(tmp_path), "RAPPORT_SERVICE": "metrics"}
    env.pop("RAPPORT_DATABASE_URL", None)
    started = subprocess.run(
        [sys.executable, "-m", "services.metrics", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "service.schema_not_at_head" in started.stdout + started.stderr
    assert "rapport migrate metrics" in started.stdout + started.stderr


async def test_upgrading_a_database_at_head_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'profiles.db'}"
    await asyncio.to_thread(upgrade_head, "profiles", url)
    await asyncio.to_thread(upgrade_head, "profiles", url)
    engine = create_engine(url)
    try:
        assert await current_revisions(engine, "profiles") == heads("profiles")
    finally:
        await engine.dispose()


async def test_the_comparison_sees_a_database_that_differs_from_the_models(tmp_path: Path) -> None:
    """The negative control: a missing index and a changed column type are both reported."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'profiles.db'}"
    await migrate("profiles", url)

    def damage(conn: Connection) -> None:
        conn.exec_driver_sql("DROP INDEX ix_identifier_profile_id")
        conn.exec_driver_sql("ALTER TABLE profile ADD COLUMN nickname VARCHAR(20)")

    await on_connection(url, damage)
    diff = await on_connection(url, lambda conn: schema_diff(conn, "profiles"))
    assert {entry[0] for entry in diff} == {"add_index", "remove_column"}


@pytest.mark.parametrize("service", ["listening"])
async def test_listening_folds_language_codes_stored_before_one_folding_rule(
    service: str, database_url: str
) -> None:
    """A mention labelled `bs` before the labels folded languages reads `hbs`, variant `bs`, after."""
    [baseline] = ScriptDirectory(str(migrations_dir(service))).get_bases()
    await migrate(service, database_url, baseline)

    def write(conn: Connection) -> None:
        insert_a_row_per_table(conn)
        mention = Table("mention", MetaData(), autoload_with=conn)
        conn.execute(mention.update().values(language="bs", language_variant=None))

    await on_connection(database_url, write)
    await migrate(service, database_url)

    def read(conn: Connection) -> list[tuple[Any, ...]]:
        mention = Table("mention", MetaData(), autoload_with=conn)
        return [tuple(row) for row in conn.execute(select(mention.c.language, mention.c.language_variant))]

    assert await on_connection(database_url, read) == [("hbs", "bs")]


@pytest.mark.parametrize("service", ["profiles"])
async def test_profiles_handles_become_identifiers_and_mentions_interactions(
    service: str, database_url: str
) -> None:
    """The baseline's handles are identifiers of kind `handle` after the upgrade, attested by their
    platform; its interactions are mentions with their reference and origin."""
    [baseline] = ScriptDirectory(str(migrations_dir(service))).get_bases()
    await migrate(service, database_url, baseline)
    written = await on_connection(database_url, insert_a_row_per_table)
    await migrate(service, database_url)
    found = await on_connection(database_url, read_every_table)

    handle, interaction = written["handle"], written["interaction"]
    [identifier] = found["identifier"]
    assert {k: comparable(v) for k, v in identifier.items()} == {
        "id": handle["id"],
        "tenant_id": handle["tenant_id"],
        "profile_id": handle["profile_id"],
        "kind": "handle",
        "namespace": handle["platform"],
        "value": handle["handle"],
        "value_normalised": handle["handle_normalised"],
        "evidence": "platform",
        "confidence": 1.0,
        "source": "migration",
        "created_at": comparable(handle["created_at"]),
    }
    [after] = found["interaction"]
    assert (after["kind"], after["ref_id"], after["origin_profile_id"]) == (
        "mention",
        interaction["mention_id"],
        interaction["profile_id"],
    )
    links = after["links"] if isinstance(after["links"], dict) else json.loads(after["links"])
    assert links == {"mention": f"/v1/mentions/{interaction['mention_id']}"}
    [profile] = found["profile"]
    assert comparable(profile["updated_at"]) == comparable(written["profile"]["created_at"])
    assert (profile["tags"], profile["merged_into"]) == ([], None)


@pytest.mark.parametrize("service", ["engagement"])
async def test_engagement_conversations_get_the_thread_of_the_post_that_opened_them(
    service: str, database_url: str
) -> None:
    """Before f6bd36a7782d a conversation was per profile; after, each has the key of the thread of the post
    that opened it: a private message's direct thread, a public post's own thread, a reply's parent's
    conversation's thread, and a thread of its own when that post is no longer known."""
    from services.engagement.logic.threads import direct_key, post_key

    await migrate(service, database_url, "5b1e9c2d7a43")

    def write(conn: Connection) -> None:
        meta = MetaData()
        meta.reflect(conn)
        conversation, message, seen = (
            meta.tables[name] for name in ("conversation", "message", "seen_mention")
        )

        def add(conversation_id: str, first: str, posts: list[dict[str, Any]], **payload: Any) -> None:
            row = row_for(conversation, {})
            row.update(
                id=conversation_id, tenant_id="t1", profile_id=f"p-{conversation_id}", status="resolved"
            )
            row.update(first_mention_id=first, channel_id=payload.pop("channel_id", None))
            conn.execute(insert(conversation).values(row))
            for i, post in enumerate(posts):
                message_row = row_for(message, {})
                message_row.update(
                    id=f"{conversation_id}-{i}", tenant_id="t1", conversation_id=conversation_id
                )
                message_row.update(direction="inbound", **post)
                conn.execute(insert(message).values(message_row))
            if payload:
                seen_row = row_for(seen, {})
                seen_row.update(
                    id=f"seen-{first}", tenant_id="t1", mention_id=first, payload=json.dumps(payload)
                )
                conn.execute(insert(seen).values(seen_row))

        author = {"handle": "@Sam", "platform_user_id": "u1"}
        dm = {"mention_id": "m1", "platform": "instagram", "kind": "message", "external_id": "e1"}
        add("c1", "m1", [dm], channel_id="ch1", author=author, platform="instagram")
        post = {"mention_id": "m2", "platform": "x", "kind": "post", "external_id": "e2"}
        later = {"mention_id": "m2b", "platform": "x", "kind": "comment", "external_id": "e2b"}
        add("c2", "m2", [post, later], author=author)
        reply = {"mention_id": "m3", "platform": "x", "kind": "comment", "external_id": "e3"}
        add("c3", "m3", [reply], author={"handle": "@kim"}, in_reply_to="e2b")
        add("c4", "m-gone", [])

    await on_connection(database_url, write)
    await migrate(service, database_url)

    def read(conn: Connection) -> dict[str, str]:
        conversation = Table("conversation", MetaData(), autoload_with=conn)
        return {
            row.id: row.thread_key
            for row in conn.execute(select(conversation.c.id, conversation.c.thread_key))
        }

    assert await on_connection(database_url, read) == {
        "c1": direct_key(platform="instagram", channel_id="ch1", account="id:u1"),
        "c2": post_key(platform="x", root_external_id="e2"),
        "c3": post_key(platform="x", root_external_id="e2"),  # the thread of the conversation holding e2b
        "c4": "legacy:c4",
    }


@pytest.mark.parametrize("service", ["metrics"])
async def test_metrics_mention_counts_made_by_the_migrations_equal_the_foldings(
    service: str, database_url: str
) -> None:
    """Mentions folded before the hourly and daily counts existed are counted by the migrations exactly as
    `rollups.backfill` counts them from the rows (hashtags apart: no text was kept before them)."""
    from services.metrics.logic import rollups

    await migrate(service, database_url, "1e7b9251bfe1")
    hours = [WHEN + timedelta(hours=h, minutes=m) for h, m in ((0, 5), (0, 40), (1, 0), (26, 59))]

    def write(conn: Connection) -> None:
        mention = Table("mention_fact", MetaData(), autoload_with=conn)
        match = Table("mention_query_fact", MetaData(), autoload_with=conn)
        for i, at in enumerate(hours):
            conn.execute(
                insert(mention).values(
                    tenant_id="t1",
                    mention_id=f"m{i}",
                    created_at=at,
                    platform="x" if i % 2 else "instagram",
                    channel_id="ch-1" if i else None,
                    language="en",
                    sentiment=("positive", "negative")[i % 2],
                    intent="complaint",
                    analysed_at=at,
                    removed_at=WHEN if i == 3 else None,
                )
            )
            for query_id, kind in (("q-brand", "brand"), ("q-ship", "topic"), (f"q-topic-{i % 2}", "topic")):
                conn.execute(
                    insert(match).values(tenant_id="t1", mention_id=f"m{i}", query_id=query_id, kind=kind)
                )

    await on_connection(database_url, write)
    await migrate(service, database_url)

    def counts(conn: Connection) -> list[tuple[Any, ...]]:
        table = Table("mention_count", MetaData(), autoload_with=conn)
        rows = conn.execute(select(table).where(table.c.n != 0))
        return sorted((r.filter, r.span, comparable(r.start), r.field, r.value, r.n) for r in rows)

    migrated = await on_connection(database_url, counts)
    assert ("", "d", comparable(hours[0].replace(hour=0, minute=0)), "topic", "q-ship", 3) in migrated
    await on_connection(database_url, lambda conn: rollups.backfill(conn))
    assert await on_connection(database_url, counts) == migrated


@pytest.mark.parametrize("service", ["metrics"])
async def test_metrics_day_summaries_made_by_the_migration_equal_the_backfills(
    service: str, database_url: str
) -> None:
    """Conversations, answers, profiles and orders folded before the day summaries existed are summed up by
    the migration (its own copy of the backfill) exactly as `summaries.backfill` sums them from the rows."""
    from services.metrics.logic import summaries

    await migrate(service, database_url, "4b8e2c6a9d13")
    hour = timedelta(hours=1)

    def write(conn: Connection) -> None:
        meta = MetaData()
        meta.reflect(conn)
        conversation, survey, profile, order = (
            meta.tables[f"{name}_fact"] for name in ("conversation", "survey", "profile", "order")
        )
        late = WHEN.replace(hour=23, minute=50)  # its first response and resolution fall on the next day
        conversations: list[dict[str, Any]] = [
            # Answered and resolved on the wall clock, both deadlines met, reopened once.
            dict(conversation_id="c1", opened_at=WHEN, team_id="tm1", assignee_id="a1")
            | dict(first_response_at=WHEN + timedelta(minutes=7, seconds=13), first_resolved_at=WHEN + hour)
            | dict(resolved_at=WHEN + 3 * hour, reopen_count=1, first_response_due_at=WHEN + hour)
            | dict(resolution_due_at=WHEN + 2 * hour),
            # Durations in business hours (0.3 s is 0.01 minutes as the figures round); the first-response
            # deadline breached, no resolution deadline.
            dict(conversation_id="c2", opened_at=late, assignee_id="a2", first_response_at=late + hour)
            | dict(first_resolved_at=late + 2 * hour, resolved_at=late + 2 * hour)
            | dict(first_response_business_s=0.3, resolution_business_s=3599.5)
            | dict(first_response_due_at=late + 2 * hour, first_response_breached=True),
            # Open, unanswered, with a resolution deadline only; the same value twice in one duration set.
            dict(
                conversation_id="c3", opened_at=WHEN + hour, team_id="tm1", resolution_due_at=WHEN + 30 * hour
            ),
            dict(
                conversation_id="c4",
                opened_at=WHEN + 2 * hour,
                first_response_at=WHEN + timedelta(minutes=435),
            ),
            dict(
                conversation_id="c5",
                opened_at=WHEN,
                first_response_at=WHEN + timedelta(minutes=7, seconds=13),
            ),
            # Merged away, and not yet opened: neither counts.
            dict(conversation_id="c6", opened_at=WHEN, merged_into="c1", first_response_at=WHEN + hour),
            dict(conversation_id="c7", first_response_at=WHEN),
        ]
        for tenant_id in ("t1", "t2"):
            for row in conversations:
                conn.execute(
                    insert(conversation).values(
                        {"reopen_count": 0, "first_response_breached": False, "resolution_breached": False}
                        | row
                        | {"tenant_id": tenant_id}
                    )
                )
        for i, (kind, score, channel, platform, agent) in enumerate(
            [
                ("csat", 5, "ch1", "x", "a1"),
                ("csat", 2, None, "instagram", None),
                ("nps", 9, "ch1", None, "a2"),
                ("nps", 9, "ch1", "x", "a2"),
            ]
        ):
            conn.execute(
                insert(survey).values(
                    tenant_id="t1",
                    survey_id=f"s{i}",
                    kind=kind,
                    score=score,
                    conversation_id="c1",
                    profile_id="p1",
                    assignee_id=agent,
                    channel_id=channel,
                    platform=platform,
                    answered_at=WHEN + i * 13 * hour,
                )
            )
        profiles: list[dict[str, Any]] = [
            # A customer with a snapshot; p2 was merged into it after the snapshot (its value adds), p3
            # before (already in the snapshot).
            dict(profile_id="p1", first_seen_at=WHEN, platform="x", lifecycle_stage="customer")
            | dict(lifetime_value={"EUR": "10.50", "USD": "3"}, snapshot_at=WHEN + hour),
            dict(profile_id="p2", first_seen_at=WHEN + hour, platform="x", lifecycle_stage="lead")
            | dict(
                lifetime_value={"EUR": "2.25", "GBP": "1E+2"}, merged_into="p1", merged_at=WHEN + 2 * hour
            ),
            dict(profile_id="p3", lifecycle_stage="customer", lifetime_value={"EUR": "100"})
            | dict(merged_into="p1", merged_at=WHEN),
            # p5 was merged into p4, itself merged into p1 after the snapshot: both add.
            dict(profile_id="p4", lifecycle_stage="lead", lifetime_value={}, merged_into="p1")
            | dict(merged_at=WHEN + 3 * hour),
            dict(profile_id="p5", lifecycle_stage="lead", lifetime_value={"EUR": "0.01"}, merged_into="p4"),
            # Seen, no platform, ordered 1 day and 1 second later; a partner's profile is no sighting.
            dict(
                profile_id="p6", first_seen_at=WHEN, lifecycle_stage="customer", lifetime_value={"EUR": "7"}
            ),
            dict(profile_id="p7", first_seen_at=WHEN, platform="partner:crm", lifecycle_stage="customer")
            | dict(lifetime_value={"USD": "4.40"}),
            # Ordered before it was seen on social; and a stranger never seen.
            dict(profile_id="p8", first_seen_at=WHEN + 5 * hour, platform="instagram", lifecycle_stage="lead")
            | dict(lifetime_value={}),
            dict(profile_id="p9", lifecycle_stage="stranger", lifetime_value={}),
        ]
        for row in profiles:
            conn.execute(insert(profile).values({"tenant_id": "t1"} | row))
        orders = [
            ("o1", "p1", WHEN + 48 * hour),
            ("o2", "p1", WHEN + 30 * hour),
            ("o3", "p6", WHEN + 24 * hour + timedelta(seconds=1)),
            ("o4", "p8", WHEN),
        ]
        for event_id, owner, at in orders:
            conn.execute(
                insert(order).values(
                    tenant_id="t1", event_id=event_id, origin_id=owner, owner_id=owner, at=at
                )
            )

    await on_connection(database_url, write)
    await migrate(service, database_url)

    def summed(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
        meta = MetaData()
        meta.reflect(conn)
        return {
            name: sorted(
                tuple(comparable(value) for value in row) for row in conn.execute(select(meta.tables[name]))
            )
            for name in ("day_count", "sla_count", "duration_set", "clv_total")
        }

    migrated = await on_connection(database_url, summed)
    assert ("t1", "customer", "EUR", 2, "19.76") in migrated["clv_total"]
    assert ("t1", "customer", "GBP", 1, "100") in migrated["clv_total"]
    assert ("t1", "", "seen", "2026-03-01", "2") in [row[:5] for row in migrated["day_count"]]
    assert ("t1", "", "first_response", "2026-03-01", 4) in [row[:5] for row in migrated["duration_set"]]
    assert len({row[0] for table in migrated.values() for row in table}) == 2
    await on_connection(database_url, lambda conn: summaries.backfill(conn))
    assert await on_connection(database_url, summed) == migrated
