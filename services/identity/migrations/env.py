"""Alembic's entry for identity's database; the environment itself is shared (shared/migrations.py)."""

from shared.migrations import run_migrations

run_migrations("identity")
