"""`rapport metrics snapshot` / `rebuild`: the fact tables rebuilt from a snapshot and the events the
streams still hold give the same scorecard; repeated and late events change nothing; erased people stay
erased.

The shared stack's metrics service keeps running: each rebuild works on a copy of its database (taken
once its consumers have caught up), and the copy's scorecard is read from a metrics process of its own,
started on that copy and on a NATS server of its own (so its consumers take nothing from the stack's).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from rapport.stack import ROOT, Proc, Stack, free_port, nats_server_binary, port_open
from services.metrics.snapshots import FACT_TABLES, FOLDING
from shared.events import contracts as c
from shared.events.bus import Bus
from shared.events.catalog import stream_of
from shared.events.envelope import new_event
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

pytestmark = pytest.mark.skipif(
    os.environ.get("RAPPORT_TEST_BACKEND") == "external", reason="copies the metrics SQLite file"
)


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


def copy_db(stack: Stack, dest: Path) -> Path:
    """A consistent copy of the stack's metrics database (SQLite's online backup)."""
    source = sqlite3.connect(f"file:{stack.var_dir / 'metrics.db'}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return dest


def metrics_cli(stack: Stack, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m rapport metrics ARGS` against the copy `db`, with the stack's NATS."""
    env = {**os.environ, **stack.common_env, "RAPPORT_METRICS_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "rapport", "metrics", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rebuilt(stack: Stack, db: Path, *args: str) -> str:
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
def serving(stack: Stack, db: Path, nats_url: str) -> Iterator[httpx.Client]:
    """A metrics process answering from the copy `db` (no snapshots, its consumers on `nats_url`)."""
    port = free_port()
    proc = Proc(
        "metrics-copy",
        [sys.executable, "-m", "services.metrics", "--port", str(port)],
        port,
        db.parent / "metrics-copy.log",
        env={
            **stack.common_env,
            "RAPPORT_SERVICE": "metrics",
            "RAPPORT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
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


def fact_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every fact table of the SQLite file, sorted."""
    conn = sqlite3.connect(db)
    try:
        return {
            table.name: sorted(conn.execute(f'SELECT * FROM "{table.name}"').fetchall(), key=repr)  # noqa: S608
            for table in FACT_TABLES
        }
    finally:
        conn.close()


def tables_naming(db: Path, needle: str) -> set[str]:
    """The tables of the SQLite file with a text value containing `needle`."""
    conn = sqlite3.connect(db)
    try:
        found = set()
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from sqlite_master)
                if any(isinstance(v, str) and needle in v for v in row):
                    found.add(table)
                    break
        return found
    finally:
        conn.close()


def profile_ids(db: Path, tenant_id: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT profile_id FROM profile_fact WHERE tenant_id = ?", (tenant_id,)
        ).fetchall()
        return sorted(r[0] for r in rows)
    finally:
        conn.close()


def anonymous_id(db: Path, tenant_id: str, profile_id: str) -> str:
    conn = sqlite3.connect(db)
    try:
        (found,) = conn.execute(
            "SELECT anonymous_id FROM metrics_erased_profile WHERE tenant_id = ? AND profile_id = ?",
            (tenant_id, profile_id),
        ).fetchone()
        return str(found)
    finally:
        conn.close()


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
    with serving(stack, db, spare_nats) as copy:
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
    with serving(stack, db, spare_nats) as copy:
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
    live = stack.var_dir / "metrics.db"
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
    with serving(stack, second, spare_nats) as copy:
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

    env = {**os.environ, **stack.common_env, "RAPPORT_METRICS_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
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
    no_db = metrics_cli(stack, nowhere, "rebuild")
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
