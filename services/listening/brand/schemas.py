"""API models of `/v1/own-accounts`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.pagination import Page


def _handle(value: Any) -> Any:
    """Handles compare without case and without a leading `@`."""
    return value.strip().lstrip("@").lower() if isinstance(value, str) else value


Handle = Annotated[
    str, BeforeValidator(_handle), Field(min_length=1, max_length=100, pattern=r"^[^\s\x00]+$")
]
Platform = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
UserId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$")]


class OwnAccountCreate(BaseModel):
    """One of the brand's accounts: its platform (as mentions name it) and its handle and/or user id."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    handle: Handle | None = None
    platform_user_id: UserId | None = None

    @model_validator(mode="after")
    def _named(self) -> OwnAccountCreate:
        if self.handle is None and self.platform_user_id is None:
            raise ValueError("Give `handle`, `platform_user_id` or both.")
        return self


class OwnAccountUpdate(BaseModel):
    """Fields to change; at least one of handle and user id stays."""

    model_config = ConfigDict(extra="forbid")

    handle: Handle | None = None
    platform_user_id: UserId | None = None


class OwnAccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    platform: str
    handle: str | None
    platform_user_id: str | None
    created_at: datetime
    updated_at: datetime


OwnAccountPage = Page[OwnAccountRead]
