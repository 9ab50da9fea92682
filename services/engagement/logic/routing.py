"""Routing rules: which mentions need a human, and how urgently.

Kept apart from the writers so the rules can grow (queries, teams, skills, SLAs) without touching them.
"""

from __future__ import annotations

from services.engagement.models import Priority
from shared.events.contracts import MentionPayload

# Intents a brand is expected to answer.
ACTIONABLE_INTENTS = frozenset({"complaint", "question"})
# Authors with at least this many followers get one priority level more.
INFLUENCER_FOLLOWERS = 10_000
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


def is_actionable(mention: MentionPayload) -> bool:
    """Whether the mention should land in a conversation."""
    return mention.analysis.intent in ACTIONABLE_INTENTS


def bump(priority: Priority, levels: int = 1) -> Priority:
    """The priority `levels` steps higher, capped at urgent."""
    index = min(PRIORITIES.index(priority) + levels, len(PRIORITIES) - 1)
    return PRIORITIES[index]


def priority_for(mention: MentionPayload) -> Priority:
    """The priority of a conversation opened by this mention."""
    analysis = mention.analysis
    priority: Priority = "normal"
    if analysis.intent == "complaint" and analysis.sentiment.label == "negative":
        priority = "high"
    if (mention.author.followers or 0) >= INFLUENCER_FOLLOWERS:
        priority = bump(priority)
    return priority
