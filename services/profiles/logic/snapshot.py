"""The profile as events carry it (`ProfileSnapshot`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.events.contracts import ProfileSnapshot


def snapshot(row: Any, *, segment_ids: Iterable[str] = ()) -> ProfileSnapshot:
    """`ProfileSnapshot` of a profile: a `Profile` or a Core row of the `profile` table (attribute access),
    with the ids of the segments it is a member of (`refresh_memberships` returns them)."""
    return ProfileSnapshot(
        profile_id=row.id,
        display_name=row.display_name,
        lifecycle_stage=row.lifecycle_stage,
        at_risk=row.at_risk,
        influence=row.influence,
        followers=row.followers,
        sentiment_trend=row.sentiment_trend,
        mention_count=row.mention_count,
        languages=list(row.languages or []),
        lifetime_value=dict(row.lifetime_value or {}),
        tags=list(row.tags or []),
        segment_ids=sorted(segment_ids),
    )
