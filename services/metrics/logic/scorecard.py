"""The scorecard: counters summed over a period of UTC days."""

from __future__ import annotations

import functools
from collections import Counter as Tally
from collections.abc import Callable
from datetime import date
from typing import get_args

from sqlalchemy import Date, bindparam, func, select
from sqlmodel import col

from services.metrics.logic.surveys import survey_scores
from services.metrics.models import Counter
from services.metrics.schemas import (
    ConversationCounts,
    MentionCounts,
    ProfileCounts,
    Scorecard,
    SentimentCounts,
)
from shared.events.contracts import Intent
from shared.languages import fold_language
from shared.reads import AnySelect, Reader
from shared.validation import ensure_ordered


@functools.cache
def _totals(*, since: bool, until: bool) -> AnySelect:
    """The tenant's counters summed per metric (`tenant_id`, and `from_`/`to` when bounded)."""
    stmt = (
        select(col(Counter.metric), func.sum(col(Counter.value)))
        .where(col(Counter.tenant_id) == bindparam("tenant_id"))
        .group_by(col(Counter.metric))
    )
    if since:
        stmt = stmt.where(col(Counter.bucket) >= bindparam("from_", type_=Date))
    if until:
        stmt = stmt.where(col(Counter.bucket) <= bindparam("to", type_=Date))
    return stmt


async def scorecard(reader: Reader, *, tenant_id: str, from_: date | None, to: date | None) -> Scorecard:
    """Sum the tenant's counters over `from_`..`to` (inclusive, either end open)."""
    ensure_ordered(from_, to, names=("from", "to"))
    stmt = _totals(since=from_ is not None, until=to is not None)
    rows = await reader.all(stmt, {"tenant_id": tenant_id, "from_": from_, "to": to})
    totals = {metric: int(value or 0) for metric, value in rows}

    def dimension(
        prefix: str, known: tuple[str, ...] = (), fold: Callable[[str], str] = str
    ) -> dict[str, int]:
        found: Tally[str] = Tally()
        for name, n in totals.items():
            if name.startswith(prefix):
                found[fold(name[len(prefix) :])] += n
        # A value every mention moved away from (a label correction, a deleted post) is no bucket.
        return {key: found[key] for key in sorted({*known, *found}) if found[key] or key in known}

    return Scorecard(
        from_=from_,
        to=to,
        mentions=MentionCounts(
            total=totals.get("mentions", 0),
            by_sentiment=SentimentCounts(
                **dimension("mentions.sentiment.", ("negative", "neutral", "positive"))
            ),
            by_language=dimension("mentions.language.", fold=fold_language),
            by_intent=dimension("mentions.intent.", get_args(Intent)),
            by_platform=dimension("mentions.platform."),
        ),
        profiles=ProfileCounts(created=totals.get("profiles.created", 0)),
        conversations=ConversationCounts(
            opened=totals.get("conversations.opened", 0), assigned=totals.get("conversations.assigned", 0)
        ),
        surveys=survey_scores(totals),
    )
