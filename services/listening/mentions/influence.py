"""Author influence: how far a post can travel, from the signals platforms give us."""

from __future__ import annotations

import math

# Reach saturates: 10M followers is not ten times 1M for a brand's purposes.
_FOLLOWERS_AT_FULL_REACH = 10_000_000
_REACH_WEIGHT = 70.0
_VERIFIED_BONUS = 10.0
_ENGAGEMENT_WEIGHT = 20.0


def influence_score(
    *, followers: int | None, verified: bool = False, likes: int = 0, reposts: int = 0, replies: int = 0
) -> float:
    """A 0-100 score: log-scaled audience (70), a verified account (10), and the post's own engagement (20).

    Engagement counts reposts and replies above likes (they carry the post to new audiences) and is
    log-scaled too, so one viral post by a small account ranks near a quiet post by a large one.
    """
    audience = max(followers or 0, 0)
    reach = math.log10(1 + audience) / math.log10(1 + _FOLLOWERS_AT_FULL_REACH)
    weighted = max(likes, 0) + 3 * max(reposts, 0) + 2 * max(replies, 0)
    engagement = math.log10(1 + weighted) / 5  # 100k weighted interactions = full marks
    score = _REACH_WEIGHT * min(reach, 1.0) + (_VERIFIED_BONUS if verified else 0.0)
    score += _ENGAGEMENT_WEIGHT * min(engagement, 1.0)
    return round(min(score, 100.0), 1)
