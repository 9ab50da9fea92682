"""Routing rules: which mentions need a human, and how urgently.

Kept apart from the writers so the rules can grow (queries, teams, skills, SLAs) without touching them.

A post needs a human when it is addressed to the brand or about it, and asks for an answer:

* addressed: it came through one of the tenant's channels (`channel_id` set);
* about the brand: it matched one of the tenant's `brand` listening queries;
* a post the tenant pushed through the ingest API (or a file import) that matched no query at all counts
  as addressed too: the tenant sent it to us itself, usually from a support tool, and a social-care team
  expects what it forwards to land in the inbox. A post that matched only `competitor` or `topic`
  queries is market talk, never a ticket, however it arrived without a channel;
* actionable: its intent is a complaint or a question.
"""

from __future__ import annotations

from typing import Any

from services.engagement.models import Priority
from shared.events.contracts import MentionPayload, ProfileSnapshot

# Intents a brand is expected to answer.
ACTIONABLE_INTENTS = frozenset({"complaint", "question"})
# Authors with at least this influence (0-100) get one priority level more.
INFLUENTIAL = 70.0
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


def query_kinds(mention: MentionPayload) -> set[str]:
    """The kinds of the listening queries the mention matched (brand, competitor, topic)."""
    # `matched_queries` travels as an extra field of the resolved mention (dicts), or as models when
    # the payload is a `MentionReceived`.
    matched: Any = getattr(mention, "matched_queries", None) or []
    kinds: set[str] = set()
    for query in matched:
        kind = query.get("kind") if isinstance(query, dict) else getattr(query, "kind", None)
        if isinstance(kind, str):
            kinds.add(kind)
    return kinds


def is_addressed(mention: MentionPayload) -> bool:
    """Whether the post is addressed to the brand or about it (see the module's docstring)."""
    if getattr(mention, "channel_id", None) is not None:
        return True
    kinds = query_kinds(mention)
    return "brand" in kinds or not kinds


def is_actionable(mention: MentionPayload) -> bool:
    """Whether the mention should land in a conversation."""
    return mention.analysis.intent in ACTIONABLE_INTENTS and is_addressed(mention)


def bump(priority: Priority, levels: int = 1) -> Priority:
    """The priority `levels` steps higher, capped at urgent."""
    index = min(PRIORITIES.index(priority) + levels, len(PRIORITIES) - 1)
    return PRIORITIES[index]


def influence_of(mention: MentionPayload, profile: ProfileSnapshot | None) -> float:
    """The author's influence: the profile's (all its posts) when known, else this post's author's."""
    if profile is not None and profile.influence:
        return profile.influence
    return mention.author.influence or 0.0


def priority_for(mention: MentionPayload, profile: ProfileSnapshot | None = None) -> tuple[Priority, str]:
    """The priority of a conversation opened by this mention, and the reason for it."""
    analysis = mention.analysis
    priority: Priority = "normal"
    if analysis.intent == "complaint" and analysis.sentiment.label == "negative":
        priority, reasons = "high", ["negative complaint"]
    else:
        reasons = [f"{analysis.sentiment.label} {analysis.intent}"]
    influence = influence_of(mention, profile)
    if influence >= INFLUENTIAL:
        priority = bump(priority)
        reasons.append(f"influential author (influence {influence:g})")
    return priority, "; ".join(reasons)
