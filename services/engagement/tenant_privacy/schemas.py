"""API models of a tenant's consent keywords."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.events.contracts import ConsentStatus, Purpose

KEYWORD_MAX = 32
KEYWORDS_MAX = 50

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=KEYWORD_MAX)]


class ConsentKeyword(BaseModel):
    """A private message that is exactly `keyword` (any case, surrounding spaces aside) records `status`
    for `purpose` in the customer's consent ledger."""

    model_config = ConfigDict(extra="forbid")

    keyword: Keyword
    purpose: Purpose = "marketing"
    status: ConsentStatus


class ConsentKeywordsUpdate(BaseModel):
    """The tenant's whole keyword list (it replaces the current one; an empty list captures nothing)."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[ConsentKeyword] = Field(max_length=KEYWORDS_MAX)

    @field_validator("keywords")
    @classmethod
    def _unique(cls, keywords: list[ConsentKeyword]) -> list[ConsentKeyword]:
        seen: set[str] = set()
        for item in keywords:
            folded = item.keyword.casefold()
            if folded in seen:
                raise ValueError(f"keyword {item.keyword!r} is listed twice (keywords ignore case)")
            seen.add(folded)
        return keywords


class ConsentKeywordsRead(BaseModel):
    """The tenant's keyword list; `default`: the built-in list, never changed by the tenant."""

    keywords: list[ConsentKeyword]
    default: bool
    updated_by: str | None = None
    updated_at: datetime | None = None
