"""fold stored language codes

Mentions labelled before `shared.languages.fold_language` existed may hold a member or retired code
(`bs`, `hr`, `sr`, `cnr`, `nb`, `nn`; `sh`, `iw`, `in`, `ji`) where the analysis stores the folded one
(`hbs`, `no`; `hbs`, `he`, `id`, `yi`). Reads already fold both forms; this makes the rows say what the
API says, with the member language kept as the variant.

Revision ID: 8e32d2b9be15
Revises: f8a70035c13a
Create Date: 2026-12-06 14:16:07.550166
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e32d2b9be15"
down_revision: str | Sequence[str] | None = "f8a70035c13a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from shared.languages): a migration must mean the same thing forever.
MEMBERS = {"bs": "hbs", "hr": "hbs", "sr": "hbs", "cnr": "hbs", "nb": "no", "nn": "no"}
RETIRED = {"sh": "hbs", "iw": "he", "in": "id", "ji": "yi"}


def upgrade() -> None:
    mention = sa.table("mention", sa.column("language", sa.String), sa.column("language_variant", sa.String))
    for code, macro in MEMBERS.items():
        op.execute(
            mention.update()
            .where(mention.c.language == code)
            .values(language=macro, language_variant=sa.func.coalesce(mention.c.language_variant, code))
        )
    for code, current in RETIRED.items():
        op.execute(mention.update().where(mention.c.language == code).values(language=current))


def downgrade() -> None:
    # Nothing to undo: the folded codes are what the code before this revision stores for new posts too.
    pass
