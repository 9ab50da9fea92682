"""Request and response models of privacy requests (exports and erasures)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.pagination import Page

# expired: an export whose bundle was deleted once its keeping period (`export_keep_days`) ended.
RequestStatus = Literal["open", "scrubbing", "completed", "expired"]


class IdentifierRef(BaseModel):
    """An identifier the person gave: an e-mail, a phone number, a platform handle or a partner's id."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["email", "phone", "handle", "external_id"]
    value: str = Field(min_length=1, max_length=320)
    # The platform of a handle (any platform when omitted).
    platform: str | None = Field(default=None, min_length=1, max_length=32)
    # The partner's system of an external id (any system when omitted).
    source: str | None = Field(default=None, min_length=1, max_length=64)


class PrivacyRequestCreate(BaseModel):
    """Whom the request is about: a profile, or an identifier resolved to the profiles it names."""

    model_config = ConfigDict(extra="forbid")

    profile_id: str | None = Field(default=None, min_length=1, max_length=64)
    identifier: IdentifierRef | None = None

    @model_validator(mode="after")
    def _one(self) -> PrivacyRequestCreate:
        if (self.profile_id is None) == (self.identifier is None):
            raise ValueError("give exactly one of profile_id and identifier")
        return self


class ServiceAnswer(BaseModel):
    """One service's answer to a request (export: all its parts arrived; erasure: its counts)."""

    service: str
    answered: bool
    answered_at: datetime | None = None
    # Export: how many parts arrived of how many.
    parts: int = 0
    chunks: int | None = None
    # Erasure: records deleted or anonymised, per kind.
    counts: dict[str, int] = {}


class PrivacyRequestRead(BaseModel):
    """A privacy request: whom it is about, when it is due (one month, GDPR Art. 12(3)), who asked, and
    how far each service got. An erasure's `certificate` appears once every service answered and the
    event streams were scrubbed."""

    id: str
    kind: Literal["export", "erasure"]
    status: RequestStatus
    profile_ids: list[str]
    named_by: dict[str, Any]
    requested_by: str
    created_at: datetime
    due_at: datetime
    # Not completed and past its due date.
    overdue: bool = False
    completed_at: datetime | None = None
    services: list[ServiceAnswer] = []
    scrubbed_messages: int | None = None
    certificate: dict[str, Any] | None = None


class PrivacyRequestPage(Page[PrivacyRequestRead]):
    """A page of privacy requests, newest first."""
