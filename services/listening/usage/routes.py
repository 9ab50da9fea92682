"""The tenant's use of its listening quotas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.listening.deps import SettingsDep
from services.listening.usage.quotas import read_usage
from services.listening.usage.schemas import TenantUsageRead
from shared.auth import ADMINS, Principal, require_roles
from shared.service import ReaderDep

router = APIRouter(prefix="/v1/listening/usage", tags=["usage"])

Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]


@router.get(
    "", response_model=TenantUsageRead, operation_id="get_usage", summary="Get the tenant's quota use"
)
async def get_usage(principal: Admin, reader: ReaderDep, settings: SettingsDep) -> TenantUsageRead:
    """Channels, queries and posts this hour the tenant uses, each with its quota (owners and admins)."""
    return await read_usage(
        reader,
        tenant_id=principal.tenant_id,
        max_channels=settings.max_channels_per_tenant,
        max_queries=settings.max_queries_per_tenant,
        posts_per_hour=settings.ingest_posts_per_hour,
    )
