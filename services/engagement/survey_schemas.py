"""API models of satisfaction surveys: the settings per channel, the public survey, the staff's view."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

SurveyKind = Literal["csat", "nps"]
SettingKind = Literal["csat", "nps", "off"]
SurveyState = Literal["sent", "link_only"]
# A week by default; at most 90 days.
DEFAULT_LINK_VALID_S = 7 * 86400
MAX_LINK_VALID_S = 90 * 86400
QUESTION_MAX = 1000
COMMENT_MAX = 2000

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=QUESTION_MAX)]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# A language tag as the analysis gives it ("en", "pt-br"); stored lower case.
Language = Annotated[
    str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
]


class SurveySettingUpdate(BaseModel):
    """A channel's survey: its kind, its question per language and how long its link answers."""

    model_config = ConfigDict(extra="forbid")

    kind: SettingKind = Field(description="`csat` (1-5), `nps` (0-10) or `off` (no survey on resolve).")
    questions: dict[Language, Question] = Field(
        default_factory=dict,
        max_length=50,
        description="The question per language (the conversation's language picks one). The link follows it "
        "on a line of its own.",
    )
    default_question: Question | None = Field(
        default=None,
        description="The question when the conversation's language has none; null: a built-in English one.",
    )
    link_valid_s: int = Field(
        default=DEFAULT_LINK_VALID_S,
        ge=1,
        le=MAX_LINK_VALID_S,
        description="Seconds the survey's link answers after the conversation was resolved.",
    )


class SurveySettingRead(BaseModel):
    """A channel's survey setting (`channel_id` `default`: conversations without a channel of their own
    setting, and conversations without a channel)."""

    model_config = ConfigDict(from_attributes=True)

    channel_id: str
    kind: SettingKind
    questions: dict[str, str]
    default_question: str | None
    link_valid_s: int
    updated_by: str | None
    updated_at: datetime

    @field_validator("questions", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value


class SurveySettingList(BaseModel):
    items: list[SurveySettingRead]


class SurveyScale(BaseModel):
    min: int
    max: int


class SurveyPublic(BaseModel):
    """What the holder of a survey link sees: the question, its scale and whether it was answered."""

    kind: SurveyKind
    question: str
    language: str | None
    scale: SurveyScale
    answered: bool
    expires_at: datetime


class SurveyAnswer(BaseModel):
    """The customer's answer: a score on the survey's scale and, optionally, a comment."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=0, le=10, description="1-5 for CSAT, 0-10 for NPS.")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=COMMENT_MAX)] | None = None
    marketing_opt_in: bool | None = Field(
        default=None,
        description="The customer ticked the marketing opt-in: recorded in their consent ledger (true only; "
        "false or absent records nothing).",
    )


class SurveyRead(BaseModel):
    """A survey of a conversation as staff see it (the link's token is never stored, so never shown)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    profile_id: str
    channel_id: str | None
    platform: str | None
    assignee_id: str | None
    kind: SurveyKind
    state: SurveyState
    message_id: str | None
    language: str | None
    question: str
    expires_at: datetime
    answered_at: datetime | None
    answered_via: Literal["reply", "link"] | None
    score: int | None
    comment: str | None
    created_at: datetime


class SurveyList(BaseModel):
    items: list[SurveyRead]


class SurveyLink(BaseModel):
    """A fresh link to a survey (shown this once): earlier links of the survey no longer answer."""

    survey_id: str
    link: str
    expires_at: datetime
