"""The database's share of a page read: a tenant's newest rows, at the baseline schema and at head.

    .venv/bin/python -m bench.page_order            # users, agents, listening queries
    .venv/bin/python -m bench.page_order --rows 5000

For each table a page endpoint reads (newest first, keyset on created_at and id), the bench builds one
SQLite database at the service's baseline revision and one at head (`shared.migrations.upgrade`), fills
each with `--rows` rows of the tenant and three times as many of another tenant, and prints SQLite's
query plan and the CPU of the page statement (a page of 20, plain sqlite3, median of 7 runs of 200). A
plan that says `USE TEMP B-TREE FOR ORDER BY` sorts every row of the tenant on every page.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from alembic.script import ScriptDirectory

from shared.migrations import migrations_dir, upgrade

TABLES = (("identity", "users"), ("engagement", "agent"), ("listening", "listening_query"))


def fill(conn: sqlite3.Connection, table: str, *, rows: int) -> None:
    """`rows` rows of tenant `t` and three times as many of tenant `other`, every column filled."""
    columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
    conn.execute("PRAGMA foreign_keys=OFF")
    for tenant, count in (("t", rows), ("other", rows * 3)):
        for i in range(count):
            values: list[object] = []
            for _, name, kind, *_ in columns:
                kind = kind.upper()
                if name == "tenant_id":
                    values.append(tenant)
                elif name == "created_at":
                    values.append(f"2026-01-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}")
                elif "INT" in kind or "BOOL" in kind:
                    values.append(0)
                elif "FLOAT" in kind or "REAL" in kind or "NUMERIC" in kind:
                    values.append(0.0)
                else:
                    values.append(f"{tenant}-{name}-{i}")
            marks = ",".join("?" * len(values))
            conn.execute(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608 (our own table names)
    conn.commit()


def measure(path: Path, table: str) -> tuple[list[str], float]:
    """The page statement's query plan and its CPU in ms (median of 7 runs of 200)."""
    conn = sqlite3.connect(path)
    page = f"SELECT * FROM {table} WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT 21"  # noqa: S608 (our own table names)
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {page}", ("t",))]
    runs = []
    for _ in range(7):
        started = time.process_time()
        for _ in range(200):
            conn.execute(page, ("t",)).fetchall()
        runs.append((time.process_time() - started) / 200 * 1e3)
    conn.close()
    return plan, statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1000, help="rows of the measured tenant (default 1000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for service, table in TABLES:
            [baseline] = ScriptDirectory(str(migrations_dir(service))).get_bases()
            for label, revision in (("baseline", baseline), ("head", "head")):
                path = Path(folder) / f"{service}-{label}.db"
                upgrade(service, f"sqlite+aiosqlite:///{path}", revision)
                conn = sqlite3.connect(path)
                fill(conn, table, rows=args.rows)
                conn.close()
                plan, ms = measure(path, table)
                print(f"{table:16s} {label:8s} {ms:.3f} ms CPU per page  plan: {'; '.join(plan)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
