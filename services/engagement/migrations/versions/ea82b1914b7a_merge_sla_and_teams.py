"""merge: SLA policies and routing rules (after replies) with teams

Revision ID: ea82b1914b7a
Revises: 28449d4de110, 7d2e4b9a1c60
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

revision: str = "ea82b1914b7a"
down_revision: str | Sequence[str] | None = ("28449d4de110", "7d2e4b9a1c60")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
