"""`rapport metrics snapshot` and `rapport metrics rebuild`: the fact tables copied, and rebuilt from
the copy and the events the streams still hold (`services/metrics/snapshots.py`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rapport.stack import ROOT

EXIT_UNREACHABLE = 1
EXIT_REFUSED = 3


def _say(line: str) -> None:
    print(f"  {line}", flush=True)


def _throttled(every_s: float = 1.0) -> Callable[[str], None]:
    """Progress lines: every line that ends a step, running counts at most once per `every_s`."""
    last = 0.0

    def progress(line: str) -> None:
        nonlocal last
        now = time.monotonic()
        if not line.endswith("events folded") or now - last >= every_s:
            last = now
            _say(line)

    return progress


class Unreachable(Exception):
    """NATS or the database does not answer."""


@asynccontextmanager
async def _connected(nats_url: str) -> AsyncIterator[tuple[Any, Any]]:
    """The metrics database (at head) and a JetStream context, or `Unreachable` saying which is not."""
    from services.metrics.snapshots import connect_nats
    from shared import migrations
    from shared.db import create_engine, ping, session_factory

    url = migrations.database_url("metrics")
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        # Checked here: SQLite would create an empty file, and aiosqlite's failed connect can print a
        # worker thread's traceback at exit.
        raise Unreachable(
            f"there is no metrics database at {path} (see RAPPORT_METRICS_DATABASE_URL, RAPPORT_VAR_DIR)"
        )
    engine = create_engine(url)
    nc = None
    try:
        try:
            await ping(engine)
        except Exception as exc:
            raise Unreachable(f"the metrics database does not answer ({_where(url)}): {exc}") from exc
        try:
            await migrations.require_head(engine, "metrics")
        except migrations.SchemaNotAtHead as exc:
            raise Unreachable(
                f"the metrics database is not at the newest schema ({', '.join(exc.current) or 'empty'}, "
                f"newest {', '.join(exc.heads)}): "
                "run `python -m rapport migrate metrics` first"
            ) from exc
        try:
            nc = await connect_nats(nats_url)
        except Exception as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise Unreachable(f"NATS does not answer at {nats_url}: {reason}") from exc
        yield session_factory(engine), nc.jetstream()
    finally:
        if nc is not None:
            await nc.close()
        await engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _where(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _nats_url(args: argparse.Namespace) -> str:
    return str(args.nats_url or os.environ.get("RAPPORT_NATS_URL") or "nats://127.0.0.1:4222")


async def _snapshot(args: argparse.Namespace) -> int:
    from services.metrics.snapshots import take_snapshot

    async with _connected(_nats_url(args)) as (sessions, js):
        print("Copying the metrics fact tables…", flush=True)
        snapshot = await take_snapshot(sessions, js, progress=_say)
    marks = ", ".join(f"{durable} ≤ {seq}" for durable, seq in sorted(snapshot.watermarks.items()))
    print(f"Snapshot {snapshot.snapshot_id}: {snapshot.row_count} rows; events folded: {marks}.", flush=True)
    return 0


async def _rebuild(args: argparse.Namespace) -> int:
    from services.metrics.snapshots import RebuildRefused, consumers_attached, rebuild
    from shared.settings import Settings

    async with _connected(_nats_url(args)) as (sessions, js):
        if not args.force:
            attached = await consumers_attached(js)
            if attached:
                print(
                    f"The metrics service is running (consumers {', '.join(attached)} are pulling): stop "
                    "it first, or it would fold events into the tables while they are rebuilt. --force "
                    "skips this check (for a copy of the database).",
                    file=sys.stderr,
                )
                return EXIT_REFUSED
        print("Rebuilding the metrics fact tables…", flush=True)
        try:
            report = await rebuild(
                sessions,
                js,
                use_snapshot=not args.no_snapshot,
                allow_gap=args.allow_gap,
                progress=_throttled(),
            )
        except RebuildRefused as exc:
            print(
                f"Not rebuilt (nothing changed): {exc}. The result would miss those events; take "
                "snapshots more often than the streams' retention, or pass --allow-gap to rebuild anyway.",
                file=sys.stderr,
            )
            return EXIT_REFUSED
    events = sum(r.events for r in report.replays)
    if report.snapshot is not None:
        print(
            f"Rebuilt from the snapshot of {report.snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({report.restored_rows} rows) and {events} later events; "
            f"{report.erasures} erasures re-applied.",
            flush=True,
        )
        for gap in report.gaps:
            print(f"Missing from the result: {gap}.", flush=True)
    else:
        oldest = [r.oldest_at for r in report.replays if r.oldest_at is not None]
        since = f"; the oldest kept is from {min(oldest):%Y-%m-%d %H:%M:%S} UTC" if oldest else ""
        days = Settings().stream_max_age_days
        print(
            f"Rebuilt from the streams alone: {events} events; {report.erasures} erasures re-applied. "
            f"No snapshot was used, so events older than the streams' retention ({days:g} days{since}), "
            "and events an erasure deleted, are not in the result.",
            flush=True,
        )
    return 0


def _run(work: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(asyncio.run(work(args)))
        except Unreachable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE

    return run


def add_parser(sub: Any) -> None:
    """The `metrics` subcommand and its `snapshot` and `rebuild` commands."""
    environment = (
        "The database is RAPPORT_METRICS_DATABASE_URL, else RAPPORT_DATABASE_URL when\n"
        "RAPPORT_SERVICE=metrics, else the SQLite file <RAPPORT_VAR_DIR>/metrics.db\n"
        f"(RAPPORT_VAR_DIR defaults to {ROOT / 'var'}). NATS is --nats-url, else RAPPORT_NATS_URL,\n"
        "else nats://127.0.0.1:4222."
    )
    metrics = sub.add_parser(
        "metrics",
        help="snapshot the scorecard's fact tables, or rebuild them from a snapshot and the streams",
        description="Operations on the metrics service's fact tables (what the scorecard is computed from).",
    )
    commands = metrics.add_subparsers(dest="metrics_command", required=True)
    snapshot = commands.add_parser(
        "snapshot",
        help="copy the fact tables with the stream position they are folded up to",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Copy the fact tables into the metrics database (replacing the previous copy), with each "
        "consumer's\nstream sequence up to which every event is in the copy. The metrics service takes one "
        "daily\n(RAPPORT_METRICS_SNAPSHOT_INTERVAL_HOURS) and soon after each erasure; this takes one now. "
        "Safe\nwhile the service runs.\n\n" + environment,
    )
    snapshot.add_argument("--nats-url", help="NATS server (default: RAPPORT_NATS_URL)")
    snapshot.set_defaults(func=_run(_snapshot))
    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild the fact tables from the latest snapshot and the events still in the streams",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Clear the fact tables, restore the latest snapshot, fold every event the streams still "
        "hold after it\n(the live consumers' own folding; late and repeated events change nothing), then "
        "apply every\nrecorded erasure again. One transaction: on any error nothing changes. Without a "
        "snapshot\nthe streams are replayed from their start, and events older than their retention\n"
        "(RAPPORT_STREAM_MAX_AGE_DAYS) are not in the result.\n\n"
        "Stop the metrics service first (its consumers would write while the tables are rebuilt); the\n"
        "command refuses while they are pulling. Its durable consumers are not touched: started again,\n"
        "the service goes on from where it was (what it folds again changes nothing).\n\n" + environment,
        epilog="exit status: 0 rebuilt, 1 NATS or the database unreachable (nothing changed), 3 refused "
        "(nothing changed)\n\nexamples:\n"
        "  python -m rapport metrics rebuild\n"
        "  RAPPORT_METRICS_DATABASE_URL=postgresql+asyncpg://… python -m rapport metrics rebuild --nats-url "
        "nats://nats:4222",
    )
    rebuild.add_argument("--nats-url", help="NATS server (default: RAPPORT_NATS_URL)")
    rebuild.add_argument(
        "--no-snapshot", action="store_true", help="ignore the snapshot: replay the streams from their start"
    )
    rebuild.add_argument(
        "--allow-gap",
        action="store_true",
        help="rebuild even though events after the snapshot have expired from a stream (they are missed)",
    )
    rebuild.add_argument(
        "--force",
        action="store_true",
        help="skip the check that the metrics service is stopped (e.g. rebuilding a copy of its database)",
    )
    rebuild.set_defaults(func=_run(_rebuild))
