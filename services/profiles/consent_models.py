"""profiles' privacy tables: the consent ledger (its history and each person's current state), the
tenants' privacy policies and the audit log of access to personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.ids import uuid4_str


class ConsentRecord(SQLModel, table=True):
    """One entry of a person's consent history: append-only (a merge moves it to the survivor, keeping
    `origin_profile_id`; an unmerge moves it back by that marker).

    `kind` is `consent` (`status` granted | withdrawn, for `purpose`), `objection` (Art. 21, `status`
    active | lifted, for `purpose`) or `restriction` (Art. 18, `status` active | lifted, `purpose` empty).
    `by_user_id` is the caller's user id, None for what a partner or the person gave (`source`).
    """

    __tablename__ = "consent_record"
    __table_args__ = (
        Index("ix_consent_record_profile", "tenant_id", "profile_id", "created_at", "id"),
        Index("ix_consent_record_origin", "tenant_id", "origin_profile_id"),
    )

    id: str = Field(default_factory=uuid4_str, primary_key=True)
    tenant_id: str
    profile_id: str = Field(max_length=64)
    # The profile it was written for (a merge moves the row, an unmerge gives it back by this).
    origin_profile_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    purpose: str = Field(default="", max_length=32)
    status: str = Field(max_length=16)
    basis: str | None = Field(default=None, max_length=32)
    # agent | partner | customer | whatsapp | dm | survey | merge | …
    source: str = Field(max_length=64)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reason: str | None = Field(default=None, max_length=500)
    by_user_id: str | None = Field(default=None, max_length=64)
    # The merge whose most restrictive state this row carried over (source `merge`).
    merge_id: str | None = Field(default=None, max_length=64)
    # When it was given (a capture's own time; else when it was recorded).
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConsentState(SQLModel, table=True):
    """A person's current state, derived from their history (the latest entry per purpose, objection and
    restriction): what the Redis projection holds."""

    __tablename__ = "consent_state"
    __table_args__ = (Index("ix_consent_state_updated", "updated_at"),)

    tenant_id: str = Field(primary_key=True)
    profile_id: str = Field(primary_key=True, max_length=64)
    # {purpose: granted | withdrawn}
    purposes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    objections: list[str] = Field(default_factory=list, sa_type=JSON)
    restricted: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrivacyPolicy(SQLModel, table=True):
    """A tenant's privacy policy: the lawful basis of each purpose, and how long posts and messages stay."""

    __tablename__ = "privacy_policy"

    tenant_id: str = Field(primary_key=True)
    # {purpose: consent | legitimate_interest | contract}; absent purposes take the defaults.
    bases: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    retention_days: int | None = None
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrivacyAudit(SQLModel, table=True):
    """One access to a person's data, allowed or refused (from `privacy.audit.recorded`): append-only."""

    __tablename__ = "privacy_audit"
    __table_args__ = (
        Index("ix_privacy_audit_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_privacy_audit_profile", "tenant_id", "profile_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str
    actor_id: str | None = Field(default=None, max_length=64)
    actor_kind: str = Field(max_length=16)
    profile_id: str | None = Field(default=None, max_length=64)
    purpose: str = Field(max_length=32)
    decision: str = Field(max_length=16)
    reason: str = Field(max_length=200)
    method: str | None = Field(default=None, max_length=16)
    path: str | None = Field(default=None, max_length=500)
    recorded_by: str = Field(max_length=32)
    request_id: str | None = Field(default=None, max_length=128)
    # When the access happened (the event's `at`).
    created_at: datetime = Field(sa_type=UTCDateTime)
