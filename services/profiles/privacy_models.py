"""profiles' tables of privacy requests: the request (export or erasure), each service's answer, and the
hashed identifiers of the erased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.ids import uuid4_str


class PrivacyRequest(SQLModel, table=True):
    """A person's request to see (export) or erase their data, with its due date and status.

    `subject` (the profile ids and every identifier they held) is what the services are asked about; an
    erasure empties it once complete, keeping only the record that the request was made and answered
    (`profile_ids` are random ids that no longer name anything, kept for the certificate).
    """

    __tablename__ = "privacy_request"
    __table_args__ = (Index("ix_privacy_request_tenant_kind", "tenant_id", "kind", "created_at", "id"),)

    id: str = Field(default_factory=uuid4_str, primary_key=True)
    tenant_id: str = Field(index=True)
    kind: str = Field(max_length=16)  # export | erasure
    # open (waiting for the services) | completed
    status: str = Field(default="open", max_length=16)
    profile_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    subject: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # How the request named the person: {"profile_id": ...} or {"identifier": {"kind": ...}} (the value
    # is dropped once an erasure completes).
    named_by: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    requested_by: str = Field(max_length=64)
    due_at: datetime = Field(sa_type=UTCDateTime)
    # Stream messages the scrub deleted (erasures).
    scrubbed_messages: int | None = None
    certificate: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrivacyAnswer(SQLModel, table=True):
    """One service's answer to a request: an export part (`data`, chunk of `chunks`) or an erasure's
    counts and references."""

    __tablename__ = "privacy_answer"

    request_id: str = Field(foreign_key="privacy_request.id", primary_key=True)
    service: str = Field(primary_key=True, max_length=16)
    chunk: int = Field(default=0, primary_key=True)
    tenant_id: str = Field(index=True)
    chunks: int = 1
    counts: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    references: list[str] = Field(default_factory=list, sa_type=JSON)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    answered_at: datetime = Field(sa_type=UTCDateTime)


class ErasedAuthor(SQLModel, table=True):
    """One hashed identifier of an erased person (`shared.suppression`: sha256 over the tenant, the
    platform or `*`, the kind and the normalised value; the table names nobody). A post of theirs that
    reaches profiles after the erasure (announced before it, delivered late) is resolved to no profile."""

    __tablename__ = "erased_author"

    digest: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
