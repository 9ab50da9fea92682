"""metrics' routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.metrics.logic import scorecard as scorecards
from services.metrics.schemas import Scorecard
from shared.auth import STAFF, Principal, require_roles
from shared.service import ReaderDep

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
DayQuery = Annotated[date | None, Query(description="A UTC day, YYYY-MM-DD (inclusive).")]


@router.get("/scorecard", response_model=Scorecard, operation_id="get_scorecard", summary="Get the scorecard")
async def get_scorecard(
    principal: StaffDep,
    reader: ReaderDep,
    from_: Annotated[date | None, Query(alias="from", description="First UTC day, YYYY-MM-DD.")] = None,
    to: Annotated[date | None, Query(description="Last UTC day, YYYY-MM-DD (inclusive).")] = None,
) -> Scorecard:
    """Get the tenant's scorecard: mentions, profiles, conversations and survey scores (CSAT, NPS) over a
    period."""
    return await scorecards.scorecard(reader, tenant_id=principal.tenant_id, from_=from_, to=to)
