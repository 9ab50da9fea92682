"""API models of SLA policies, routing rules and the routing dry run."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.engagement.models import Priority
from services.engagement.schemas import LABELS_MAX, Label
from shared.events.contracts import Intent, LifecycleStage, QueryKind, SentimentLabel

SlaTarget = Literal["first_response", "resolution"]
Trigger = Literal["mention", "sla_warning", "sla_breached"]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Seconds = Annotated[float, Field(gt=0, le=366 * 86400)]


def _few() -> Any:
    return Field(default=None, min_length=1, max_length=100)


class SlaPolicyWrite(BaseModel):
    """A priority's targets, in seconds; `business_hours`: counted in the conversation's team's hours."""

    model_config = ConfigDict(extra="forbid")

    first_response_s: Seconds | None = None
    resolution_s: Seconds | None = None
    business_hours: bool = False

    @model_validator(mode="after")
    def _some_target(self) -> SlaPolicyWrite:
        if self.first_response_s is None and self.resolution_s is None:
            raise ValueError("give `first_response_s`, `resolution_s` or both")
        return self


class SlaPolicyRead(BaseModel):
    """A tenant's SLA policy for one priority."""

    model_config = ConfigDict(from_attributes=True)

    priority: Priority
    first_response_s: float | None
    resolution_s: float | None
    business_hours: bool
    created_at: datetime
    updated_at: datetime


class SlaPolicyList(BaseModel):
    items: list[SlaPolicyRead]


class RuleConditions(BaseModel):
    """All given conditions must hold (each list: any of its values). Left out: no condition."""

    model_config = ConfigDict(extra="forbid")

    intents: list[Intent] | None = _few()
    sentiments: list[SentimentLabel] | None = _few()
    languages: list[Short] | None = _few()
    platforms: list[Short] | None = _few()
    channel_ids: list[Id] | None = _few()
    # The post came through one of the tenant's channels (true) or not (false).
    via_channel: bool | None = None
    # Any matched listening query is one of these.
    query_ids: list[Id] | None = _few()
    # Any matched listening query is of one of these kinds.
    query_kinds: list[QueryKind] | None = _few()
    # The post matched at least one query, and only queries of these kinds (e.g. ["competitor"]).
    only_query_kinds: list[QueryKind] | None = _few()
    lifecycle_stages: list[LifecycleStage] | None = _few()
    min_influence: Annotated[float, Field(ge=0, le=100)] | None = None
    max_influence: Annotated[float, Field(ge=0, le=100)] | None = None
    # The profile's lifetime value, in any one currency, is at least this much.
    min_value: Annotated[float, Field(ge=0)] | None = None
    segment_ids: list[Id] | None = _few()
    # Any of these words or phrases is in the text (case-insensitive, whole words).
    keywords: list[Keyword] | None = _few()
    # SLA rules only: the target, and the conversation's priority and team.
    targets: list[SlaTarget] | None = _few()
    priorities: list[Priority] | None = _few()
    team_ids: list[Id] | None = _few()


MENTION_ONLY_CONDITIONS = frozenset(
    {
        "intents",
        "sentiments",
        "via_channel",
        "query_ids",
        "query_kinds",
        "only_query_kinds",
        "lifecycle_stages",
        "min_influence",
        "max_influence",
        "min_value",
        "segment_ids",
        "keywords",
    }
)
SLA_ONLY_CONDITIONS = frozenset({"targets", "priorities", "team_ids"})


class AutoAcknowledge(BaseModel):
    """Answer at once with a canned response (in the conversation's language when it has a variant)."""

    model_config = ConfigDict(extra="forbid")

    template_id: Id
    variables: dict[Short, Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )


class RuleActions(BaseModel):
    """What a matching rule does. Mention rules: `open` (true opens, false ignores, left out: the default
    decision), `team_id`, `priority`, `labels`, `auto_acknowledge` on opening. SLA rules: `escalate`
    (one priority level up), `priority`, `requeue` (back to the assignment queue), `labels`."""

    model_config = ConfigDict(extra="forbid")

    open: bool | None = None
    team_id: Id | None = None
    priority: Priority | None = None
    labels: Annotated[list[Label], Field(max_length=LABELS_MAX)] = Field(default_factory=list)
    auto_acknowledge: AutoAcknowledge | None = None
    escalate: bool = False
    requeue: bool = False


MENTION_ONLY_ACTIONS = frozenset({"open", "team_id", "auto_acknowledge"})
SLA_ONLY_ACTIONS = frozenset({"escalate", "requeue"})


def _check_shape(trigger: str, conditions: RuleConditions, actions: RuleActions) -> None:
    given_conditions = conditions.model_fields_set
    given_actions = {
        name
        for name in actions.model_fields_set
        if getattr(actions, name) not in (None, [])
        and not (name in SLA_ONLY_ACTIONS and getattr(actions, name) is False)
    }
    if trigger == "mention":
        wrong = (given_conditions & SLA_ONLY_CONDITIONS) | (given_actions & SLA_ONLY_ACTIONS)
    else:
        wrong = (given_conditions & MENTION_ONLY_CONDITIONS) | (given_actions & MENTION_ONLY_ACTIONS)
    if wrong:
        raise ValueError(f"{sorted(wrong)} do not apply to `{trigger}` rules")
    if not given_actions:
        raise ValueError("give at least one action")


class RoutingRuleCreate(BaseModel):
    """A routing rule: when its `conditions` hold for a post (`trigger` mention) or an SLA event
    (`sla_warning`, `sla_breached`), its `actions` apply. Rules are tried by `position`; first match wins."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    position: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    enabled: bool = True
    trigger: Trigger = "mention"
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    actions: RuleActions

    @model_validator(mode="after")
    def _shape(self) -> RoutingRuleCreate:
        _check_shape(self.trigger, self.conditions, self.actions)
        return self


class RoutingRuleUpdate(BaseModel):
    """Fields to change; those left out keep their value (`conditions` and `actions` are replaced whole)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    position: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    enabled: bool | None = None
    conditions: RuleConditions | None = None
    actions: RuleActions | None = None


class RoutingRuleRead(BaseModel):
    """A routing rule."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    position: int
    enabled: bool
    trigger: Trigger
    conditions: RuleConditions
    actions: RuleActions
    created_at: datetime
    updated_at: datetime

    @field_validator("conditions", "actions", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class RoutingRuleList(BaseModel):
    items: list[RoutingRuleRead]


class SampleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: Id
    kind: QueryKind


class SampleProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lifecycle_stage: LifecycleStage = "stranger"
    influence: Annotated[float, Field(ge=0, le=100)] = 0.0
    lifetime_value: dict[Annotated[str, StringConstraints(max_length=8)], str] = Field(
        default_factory=dict, max_length=10
    )
    segment_ids: list[Id] = Field(default_factory=list, max_length=100)


class SamplePost(BaseModel):
    """A post as routing sees it, for the dry run."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(max_length=10_000)] = ""
    intent: Intent = "other"
    sentiment: SentimentLabel = "neutral"
    language: Short = "en"
    platform: Short = "x"
    channel_id: Id | None = None
    matched_queries: list[SampleQuery] = Field(default_factory=list, max_length=50)
    author_influence: Annotated[float, Field(ge=0, le=100)] | None = None
    profile: SampleProfile | None = None


class ConditionCheck(BaseModel):
    condition: str
    passed: bool
    detail: str


class RuleTrace(BaseModel):
    rule_id: str
    name: str
    position: int
    matched: bool
    checks: list[ConditionCheck]


class DryRunDecision(BaseModel):
    open: bool
    team_id: str | None = None
    priority: Priority | None = None
    priority_reason: str | None = None
    labels: list[str] = Field(default_factory=list)
    auto_acknowledge: AutoAcknowledge | None = None


class DryRunResult(BaseModel):
    """Which rule the post hits (None: the default decision) and why, rule by rule in order."""

    rule_id: str | None
    rule_name: str | None
    default: bool
    reason: str
    decision: DryRunDecision
    rules: list[RuleTrace]
