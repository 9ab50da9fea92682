"""engagement's routing routes: teams and members, agents' presence and capacity, manual assignment and
merging of conversations (the conversations' own routes are in api.py, on the same prefix)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.engagement.api import ConversationId, StaffDep, WorkerDep
from services.engagement.logic import agents, assignment, merging, presence, teams
from services.engagement.logic.conversations import get_conversation
from services.engagement.schemas import (
    AgentRead,
    AgentUpdate,
    AssignRequest,
    ConversationDetail,
    ConversationRead,
    MergeRequest,
    PresenceRead,
    PresenceUpdate,
    TeamCreate,
    TeamPage,
    TeamRead,
    TeamUpdate,
)
from services.engagement.state import EngagementStateDep
from shared.auth import ADMINS, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

teams_router = APIRouter(prefix="/v1/teams", tags=["teams"])
presence_router = APIRouter(prefix="/v1/agents", tags=["agents"])
moves_router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
# Presence is the assignable role's own: owners, admins and analysts are never assigned conversations.
AgentDep = Annotated[Principal, Depends(require_roles("agent"))]
TeamId = Annotated[str, Path(min_length=1, max_length=64)]
AgentId = Annotated[str, Path(min_length=1, max_length=64)]


@teams_router.get("", response_model=TeamPage, operation_id="list_teams", summary="List teams")
async def list_teams(
    principal: StaffDep,
    reader: ReaderDep,
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> TeamPage:
    """The tenant's teams, newest first, with their skills, business hours and members."""
    return await teams.list_teams(reader, session, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@teams_router.post(
    "",
    status_code=201,
    response_model=TeamRead,
    operation_id="create_team",
    summary="Create a team",
    responses=problems(409, 422),
)
async def create_team(team_in: TeamCreate, principal: AdminDep, session: SessionDep) -> TeamRead:
    """Create a team with its skills (languages, topics) and business hours (none: around the clock)."""
    return await teams.create_team(session, tenant_id=principal.tenant_id, team_in=team_in)


@teams_router.get(
    "/{team_id}",
    response_model=TeamRead,
    operation_id="get_team",
    summary="Get a team",
    responses=problems(404),
)
async def get_team(principal: StaffDep, session: SessionDep, team_id: TeamId) -> TeamRead:
    """One team with its members."""
    return await teams.get_team(session, tenant_id=principal.tenant_id, team_id=team_id)


@teams_router.patch(
    "/{team_id}",
    response_model=TeamRead,
    operation_id="update_team",
    summary="Update a team",
    responses=problems(404, 409, 422),
)
async def update_team(
    team_in: TeamUpdate, principal: AdminDep, session: SessionDep, team_id: TeamId
) -> TeamRead:
    """Change a team's name, skills or business hours."""
    return await teams.update_team(session, tenant_id=principal.tenant_id, team_id=team_id, team_in=team_in)


@teams_router.delete(
    "/{team_id}",
    status_code=204,
    operation_id="delete_team",
    summary="Delete a team",
    responses=problems(404),
)
async def delete_team(principal: AdminDep, session: SessionDep, team_id: TeamId) -> Response:
    """Delete a team; its conversations in progress go to the general pool."""
    await teams.delete_team(session, tenant_id=principal.tenant_id, team_id=team_id)
    return Response(status_code=204)


@teams_router.put(
    "/{team_id}/members/{agent_id}",
    response_model=TeamRead,
    operation_id="create_team_member",
    summary="Add a member",
    responses=problems(404),
)
async def add_member(
    principal: AdminDep, session: SessionDep, team_id: TeamId, agent_id: AgentId
) -> TeamRead:
    """Make an agent a member of the team (idempotent)."""
    return await teams.add_member(session, tenant_id=principal.tenant_id, team_id=team_id, agent_id=agent_id)


@teams_router.delete(
    "/{team_id}/members/{agent_id}",
    status_code=204,
    operation_id="delete_team_member",
    summary="Remove a member",
    responses=problems(404),
)
async def remove_member(
    principal: AdminDep, session: SessionDep, team_id: TeamId, agent_id: AgentId
) -> Response:
    """Take an agent out of the team (idempotent)."""
    await teams.remove_member(session, tenant_id=principal.tenant_id, team_id=team_id, agent_id=agent_id)
    return Response(status_code=204)


@presence_router.put(
    "/me/presence",
    response_model=PresenceRead,
    operation_id="update_my_presence",
    summary="Set my presence",
    responses=problems(404, 409),
)
async def set_presence(
    presence_in: PresenceUpdate, principal: AgentDep, session: SessionDep, state: EngagementStateDep
) -> PresenceRead:
    """Set the caller's presence (also a heartbeat): online gets new work, away keeps what it holds,
    offline hands it back to the queue."""
    return await presence.set_presence(
        session,
        state.runtime.redis,
        tenant_id=principal.tenant_id,
        agent_id=principal.user_id,
        status=presence_in.status,
        ttl_s=state.settings.presence_ttl_s,
    )


@presence_router.post(
    "/me/heartbeat",
    response_model=PresenceRead,
    operation_id="create_presence_heartbeat",
    summary="Keep my presence",
    responses=problems(404),
)
async def heartbeat(principal: AgentDep, session: SessionDep, state: EngagementStateDep) -> PresenceRead:
    """Keep the caller's presence alive for another `ttl_s`; `offline` in the answer means it lapsed."""
    return await presence.heartbeat(
        session,
        state.runtime.redis,
        tenant_id=principal.tenant_id,
        agent_id=principal.user_id,
        ttl_s=state.settings.presence_ttl_s,
    )


@presence_router.patch(
    "/{agent_id}",
    response_model=AgentRead,
    operation_id="update_agent",
    summary="Update an agent",
    responses=problems(404, 422),
)
async def update_agent(
    update_in: AgentUpdate, principal: AdminDep, session: SessionDep, agent_id: AgentId
) -> AgentRead:
    """Change an agent's capacity (conversations in progress they hold at most)."""
    return await agents.update_capacity(
        session, tenant_id=principal.tenant_id, agent_id=agent_id, update_in=update_in
    )


@moves_router.post(
    "/{conversation_id}/assign",
    response_model=ConversationDetail,
    operation_id="create_conversation_assignment",
    summary="Assign a conversation",
    responses=problems(404, 409, 422),
)
async def assign(
    assign_in: AssignRequest,
    principal: WorkerDep,
    session: SessionDep,
    reader: ReaderDep,
    conversation_id: ConversationId,
) -> ConversationDetail:
    """Move a conversation in progress to an agent (online or away; capacity may be exceeded by hand) or
    to a team (routed within it, or queued there)."""
    await assignment.move_by_hand(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        agent_id=assign_in.agent_id,
        team_id=assign_in.team_id,
        by_user_id=principal.user_id,
    )
    return await get_conversation(reader, tenant_id=principal.tenant_id, conversation_id=conversation_id)


@moves_router.post(
    "/{conversation_id}/merge",
    response_model=ConversationRead,
    operation_id="create_conversation_merge",
    summary="Merge a conversation into this one",
    responses=problems(404, 409, 422),
)
async def merge(
    merge_in: MergeRequest, principal: WorkerDep, session: SessionDep, conversation_id: ConversationId
) -> ConversationRead:
    """Merge another conversation of the same customer into this one (its messages and notes move here;
    it is closed)."""
    return await merging.merge_conversations(
        session,
        tenant_id=principal.tenant_id,
        target_id=conversation_id,
        other_id=merge_in.conversation_id,
        by_user_id=principal.user_id,
    )
