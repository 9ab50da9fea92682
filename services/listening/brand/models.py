"""The tenant's own accounts, as the tenant lists them (its channels' accounts count without a row)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow


def _new_id() -> str:
    return str(uuid.uuid4())


class OwnAccount(SQLModel, table=True):
    """One account of the brand on a platform: by handle (lower case, no `@`) and/or platform user id."""

    __tablename__ = "listening_own_account"
    __table_args__ = (Index("ix_listening_own_account_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(index=True, max_length=64)
    # The platform as mentions name it: facebook, instagram, messenger, whatsapp, x, mastodon, bluesky, ...
    platform: str = Field(max_length=32)
    handle: str | None = Field(default=None, max_length=100)
    platform_user_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
