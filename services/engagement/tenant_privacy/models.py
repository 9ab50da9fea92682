"""engagement's per-tenant privacy settings table."""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field

from shared.retention import TenantRetention


class TenantPrivacy(TenantRetention, table=True):
    """A tenant's retention period (from `privacy.policy.changed`), its sweep's clock, and the keywords a
    customer's private message opts in or out with (`tenant_privacy.capture`)."""

    __tablename__ = "tenant_privacy"

    # A JSON list of {keyword, purpose, status}; None: the defaults (capture.DEFAULT_KEYWORDS).
    consent_keywords: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    keywords_updated_by: str | None = Field(default=None, max_length=64)
