"""The usage read of listening's per-tenant quotas (`GET /v1/listening/usage`)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel


class QuotaUse(BaseModel):
    """One quota: how much is used, the cap (null: none)."""

    used: int
    limit: int | None


class HourlyQuotaUse(QuotaUse):
    """A quota per clock hour, and when its window starts again."""

    resets_at: AwareDatetime


class TenantUsageRead(BaseModel):
    """The tenant's use of its quotas."""

    channels: QuotaUse
    queries: QuotaUse
    posts_this_hour: HourlyQuotaUse
