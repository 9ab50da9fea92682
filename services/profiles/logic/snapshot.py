"""The profile as events carry it (`ProfileSnapshot`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.events.contracts import ProfileSnapshot


def snapshot(profile: Any, *, segment_ids: Iterable[str] = ()) -> ProfileSnapshot:
    """`ProfileSnapshot` of a profile given as a dict of its columns (resolution's rows), a Core row or a
    `Profile`, with the ids of the segments it is a member of (`refresh_memberships` returns them).

    Built without validation: every value comes from the profile's own typed columns."""
    values: Mapping[str, Any] = profile if isinstance(profile, Mapping) else _columns(profile)
    return ProfileSnapshot.model_construct(
        profile_id=values["id"],
        display_name=values["display_name"],
        lifecycle_stage=values["lifecycle_stage"],
        at_risk=values["at_risk"],
        influence=values["influence"],
        followers=values["followers"],
        sentiment_trend=round(values["sentiment_trend"], 4),
        mention_count=values["mention_count"],
        languages=list(values["languages"] or []),
        lifetime_value=dict(values["lifetime_value"] or {}),
        tags=list(values["tags"] or []),
        segment_ids=sorted(segment_ids),
    )


_FIELDS = (
    "id", "display_name", "lifecycle_stage", "at_risk", "influence", "followers", "sentiment_trend",
    "mention_count", "languages", "lifetime_value", "tags",
)  # fmt: skip


def _columns(profile: Any) -> dict[str, Any]:
    return {name: getattr(profile, name) for name in _FIELDS}
