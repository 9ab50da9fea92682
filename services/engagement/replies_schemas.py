"""API models of replies (posting messages on a conversation) and canned responses."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.engagement.schemas import MessageRead, NoteRead
from shared.pagination import Page

# A language tag as analysis gives it ("en", "pt-BR"), stored lower case.
Language = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,39}$")]
VARIANTS_MAX = 30
# A placeholder: `{{name}}` (spaces inside the braces allowed). Nothing else is interpreted.
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]{0,39})\s*\}\}")


def variables_of(text: str) -> set[str]:
    """The variables a text's placeholders name."""
    return set(PLACEHOLDER.findall(text))


VARIABLES_MAX = 20


class PlatformTemplate(BaseModel):
    """An approved WhatsApp message template stored on the conversation's channel (listening's
    `/v1/channels/{id}/templates`): its name, language code and the values of its `{{1}}`, `{{2}}`, ...
    parameters in order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
    parameters: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=20
    )


class MessageCreate(BaseModel):
    """An outbound message: `text`, a canned response (`template_id`) filled with `variables`, or an
    approved WhatsApp template (`platform_template`), the one message WhatsApp takes once its 24-hour
    customer-service window has closed.

    `internal: true` stores it as an internal note (the conversation's notes; never sent)."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)] | None = (
        None
    )
    template_id: str | None = Field(default=None, min_length=1, max_length=64)
    variables: dict[VariableName, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=VARIABLES_MAX
    )
    platform_template: PlatformTemplate | None = None
    internal: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> MessageCreate:
        given = [self.text is not None, self.template_id is not None, self.platform_template is not None]
        if sum(given) != 1:
            raise ValueError("Give one of `text`, `template_id` or `platform_template`.")
        if self.variables and self.template_id is None:
            raise ValueError("`variables` go with `template_id`.")
        if self.internal and self.platform_template is not None:
            raise ValueError("An internal note is text: `platform_template` is sent, never noted.")
        return self


class MessagePosted(BaseModel):
    """What posting made: an outbound message (queued for sending) or, for `internal`, a note."""

    internal: bool
    message: MessageRead | None = None
    note: NoteRead | None = None


class CannedResponseCreate(BaseModel):
    """A saved answer: its text per language (`{{variable}}` placeholders) and the default language."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    variants: dict[Language, Annotated[str, Field(min_length=1, max_length=10_000)]] = Field(
        min_length=1, max_length=VARIANTS_MAX
    )
    default_language: Language

    @model_validator(mode="after")
    def _default_exists(self) -> CannedResponseCreate:
        if self.default_language not in self.variants:
            raise ValueError("`default_language` must be one of the variants' languages.")
        return self


class CannedResponseUpdate(BaseModel):
    """Fields to change; the variants given replace all of them."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    variants: dict[Language, Annotated[str, Field(min_length=1, max_length=10_000)]] | None = Field(
        default=None, min_length=1, max_length=VARIANTS_MAX
    )
    default_language: Language | None = None


class CannedResponseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    variants: dict[str, str]
    default_language: str
    # The variables its variants use (`{{name}}`), sorted.
    variables: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @field_validator("variants", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _variables(self) -> CannedResponseRead:
        self.variables = sorted({name for text in self.variants.values() for name in variables_of(text)})
        return self


CannedResponsePage = Page[CannedResponseRead]
