"""Alembic's entry for profiles's database; the environment itself is shared (shared/migrations.py)."""

from shared.migrations import run_migrations

run_migrations("profiles")
