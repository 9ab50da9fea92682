"""engagement's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.engagement.logic import agents, conversations
from services.engagement.models import Priority, Status
from services.engagement.schemas import AgentPage, ConversationDetail, ConversationPage
from shared.auth import STAFF, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
agents_router = APIRouter(prefix="/v1/agents", tags=["agents"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get(
    "", response_model=ConversationPage, operation_id="list_conversations", summary="List conversations"
)
async def list_conversations(
    principal: StaffDep,
    reader: ReaderDep,
    status: Annotated[Status | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    assignee_id: IdQuery = None,
    profile_id: IdQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ConversationPage:
    """List the tenant's conversations, newest first."""
    return await conversations.list_conversations(
        reader,
        tenant_id=principal.tenant_id,
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        profile_id=profile_id,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    operation_id="get_conversation",
    summary="Get a conversation",
    responses=problems(404),
)
async def get_conversation(
    principal: StaffDep,
    reader: ReaderDep,
    conversation_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> ConversationDetail:
    """Get one conversation with its messages."""
    return await conversations.get_conversation(
        reader, tenant_id=principal.tenant_id, conversation_id=conversation_id
    )


@agents_router.get("", response_model=AgentPage, operation_id="list_agents", summary="List agents")
async def list_agents(
    principal: StaffDep, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> AgentPage:
    """The tenant's agents as routing sees them (active, last assignment)."""
    return await agents.list_agents(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)
