"""listening's per-tenant privacy settings table."""

from __future__ import annotations

from shared.retention import TenantRetention


class ListeningRetention(TenantRetention, table=True):
    """A tenant's retention period (from `privacy.policy.changed`) and when its mentions are swept next."""

    __tablename__ = "listening_retention"
