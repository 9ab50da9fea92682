"""listening's analysis routes: agent corrections (labels), the labelled-data export, the backlog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.listening.mentions.labels import add_label, list_labels, mention_stats
from services.listening.mentions.schemas import LabelCreate, LabelPage, LabelRead, MentionStats
from shared.auth import STAFF, Principal, require_roles
from shared.pagination import CursorQuery, LimitQuery
from shared.service import SessionDep

router = APIRouter(prefix="/v1/mentions", tags=["mentions"])

Labellers = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]


@router.get("/stats", response_model=MentionStats)
async def get_stats(principal: Staff, session: SessionDep) -> MentionStats:
    """The tenant's analysis backlog: mentions pending analysis and awaiting a quality re-score."""
    return await mention_stats(session, tenant_id=principal.tenant_id)


@router.get("/labels", response_model=LabelPage)
async def get_labels(
    principal: Staff, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> LabelPage:
    """Export the tenant's agent corrections (labelled data), newest first."""
    return await list_labels(session, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.post("/{mention_id}/labels", status_code=201, response_model=LabelRead)
async def post_label(
    mention_id: str, label_in: LabelCreate, principal: Labellers, session: SessionDep
) -> LabelRead:
    """Correct a mention's sentiment, intent or language; the correction becomes its analysis."""
    return await add_label(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        mention_id=mention_id,
        label_in=label_in,
    )
