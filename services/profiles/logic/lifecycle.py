"""Lifecycle stages: stranger → fan → lead → customer → advocate, and churn risk. Pure functions.

Stages never go backwards by mentions (an order keeps a customer a customer); churn risk comes and goes
with the sentiment trend. Every change carries its reason (a `lifecycle_change` row and a
`profiles.profile.lifecycle_changed` event, written by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

STAGES = ("stranger", "fan", "lead", "customer", "advocate")
RANK = {stage: i for i, stage in enumerate(STAGES)}
# An advocate: a customer or fan with this many praise mentions within ADVOCATE_WINDOW and a trend above
# ADVOCATE_TREND.
ADVOCATE_PRAISE = 3
ADVOCATE_WINDOW = timedelta(days=90)
ADVOCATE_TREND = 0.3
# At risk: a trend below AT_RISK_TREND after at least AT_RISK_AFTER interactions; no longer once it rises
# above 0.
AT_RISK_TREND = -0.3
AT_RISK_AFTER = 3


@dataclass(frozen=True)
class Lifecycle:
    stage: str
    at_risk: bool


@dataclass(frozen=True)
class Change:
    """One change of stage or risk and why (for the row and the event)."""

    from_stage: str
    to_stage: str
    at_risk: bool
    reason: str


def _higher(stage: str, target: str) -> bool:
    return RANK[target] > RANK.get(stage, 0)


def after_mention(
    current: Lifecycle,
    *,
    intent: str,
    sentiment_label: str,
    sentiment_trend: float,
    interactions: int,
    recent_praise: int,
) -> tuple[Lifecycle, Change | None]:
    """The lifecycle once a mention is counted (`sentiment_trend`, `interactions` and `recent_praise`
    already include it), and the change with its reason, if any."""
    stage, reason = current.stage, ""
    if intent == "purchase_intent" and _higher(stage, "lead"):
        stage, reason = "lead", "purchase intent"
    elif (
        stage in ("fan", "customer")
        and intent == "praise"
        and recent_praise >= ADVOCATE_PRAISE
        and sentiment_trend > ADVOCATE_TREND
    ):
        stage, reason = "advocate", f"{recent_praise} praise mentions in 90 days"
    elif stage == "stranger" and (intent == "praise" or sentiment_label == "positive"):
        stage, reason = "fan", "praise" if intent == "praise" else "a positive mention"
    at_risk = current.at_risk
    if not at_risk and interactions >= AT_RISK_AFTER and sentiment_trend < AT_RISK_TREND:
        at_risk = True
        reason = f"{reason}; sentiment trend falling" if reason else "sentiment trend falling"
    elif at_risk and sentiment_trend > 0:
        at_risk = False
        reason = f"{reason}; sentiment trend recovered" if reason else "sentiment trend recovered"
    return _result(current, Lifecycle(stage, at_risk), reason)


def after_order(current: Lifecycle) -> tuple[Lifecycle, Change | None]:
    """The lifecycle once the profile has an order from a partner: at least a customer."""
    if not _higher(current.stage, "customer"):
        return current, None
    return _result(current, Lifecycle("customer", current.at_risk), "an order")


def _result(current: Lifecycle, new: Lifecycle, reason: str) -> tuple[Lifecycle, Change | None]:
    if new == current:
        return current, None
    return new, Change(current.stage, new.stage, new.at_risk, reason)
