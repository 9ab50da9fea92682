"""Alembic's entry for metrics's database; the environment itself is shared (shared/migrations.py)."""

from shared.migrations import run_migrations

run_migrations("metrics")
