"""engagement's routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query

from services.engagement.logic import agents, conversations
from services.engagement.models import Priority, Status
from services.engagement.schemas import (
    AgentPage,
    ConversationDetail,
    ConversationPage,
    ConversationRead,
    ConversationUpdate,
    Label,
    NoteCreate,
    NoteRead,
)
from services.engagement.state import EngagementStateDep
from services.engagement.stream import EventStreamResponse, StreamsDep
from shared.auth import STAFF, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
agents_router = APIRouter(prefix="/v1/agents", tags=["agents"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
# Who works conversations (status, priority, labels, assignee, notes); analysts only read them.
WORKERS = ("owner", "admin", "agent")
WorkerDep = Annotated[Principal, Depends(require_roles(*WORKERS))]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]
ConversationId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "", response_model=ConversationPage, operation_id="list_conversations", summary="List conversations"
)
async def list_conversations(
    principal: StaffDep,
    reader: ReaderDep,
    status: Annotated[list[Status] | None, Query(max_length=5, description="Any of these.")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    assignee_id: IdQuery = None,
    profile_id: IdQuery = None,
    language: Annotated[str | None, Query(min_length=2, max_length=16)] = None,
    platform: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    label: Annotated[Label | None, Query()] = None,
    sla: Annotated[
        Literal["warning", "breached"] | None, Query(description="An SLA target in this state.")
    ] = None,
    team_id: IdQuery = None,
    queued: Annotated[bool, Query(description="Only the queue: in progress, nobody's.")] = False,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ConversationPage:
    """List the tenant's conversations (the inbox), newest first, with each one's latest message."""
    return await conversations.list_conversations(
        reader,
        tenant_id=principal.tenant_id,
        statuses=status or (),
        label=label,
        limit=limit,
        cursor=cursor,
        sla_state=sla,
        priority=priority,
        assignee_id=assignee_id,
        profile_id=profile_id,
        language=language,
        platform=platform,
        team_id=team_id,
        queued=queued,
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    operation_id="get_conversation",
    summary="Get a conversation",
    responses=problems(404),
)
async def get_conversation(
    principal: StaffDep, reader: ReaderDep, conversation_id: ConversationId
) -> ConversationDetail:
    """Get one conversation with its messages, internal notes and status history."""
    return await conversations.get_conversation(
        reader, tenant_id=principal.tenant_id, conversation_id=conversation_id
    )


@router.patch(
    "/{conversation_id}",
    response_model=ConversationRead,
    operation_id="update_conversation",
    summary="Update a conversation",
    responses=problems(404, 409, 422),
)
async def update_conversation(
    update_in: ConversationUpdate,
    principal: WorkerDep,
    session: SessionDep,
    state: EngagementStateDep,
    conversation_id: ConversationId,
) -> ConversationRead:
    """Change a conversation's status (or snooze it), priority, labels or assignee."""
    return await conversations.update_conversation(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        update_in=update_in,
        by_user_id=principal.user_id,
        survey_link_base=state.settings.survey_link_base,
    )


@router.post(
    "/{conversation_id}/notes",
    status_code=201,
    response_model=NoteRead,
    operation_id="create_conversation_note",
    summary="Add an internal note",
    responses=problems(404, 422),
)
async def add_note(
    note_in: NoteCreate, principal: WorkerDep, session: SessionDep, conversation_id: ConversationId
) -> NoteRead:
    """Leave an internal note on a conversation (the caller is its author; the customer never sees it)."""
    return await conversations.add_note(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        note_in=note_in,
        author_id=principal.user_id,
    )


@agents_router.get("", response_model=AgentPage, operation_id="list_agents", summary="List agents")
async def list_agents(
    principal: StaffDep, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> AgentPage:
    """The tenant's agents as routing sees them (active, last assignment)."""
    return await agents.list_agents(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


# `/v1/conversations/stream` before `/v1/conversations/{conversation_id}`: app.py includes it first.
stream_router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
SequenceId = Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,19}$")]
EVENT_STREAM = {
    "description": "A `text/event-stream`: `: open`, then per change `id:` (its stream sequence), `event:` "
    "(its type) and `data:` (the CloudEvent, one line of JSON), with `: keep-alive` comments while idle.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


@stream_router.get(
    "/stream",
    response_class=EventStreamResponse,
    status_code=200,
    operation_id="get_conversation_stream",
    summary="Stream conversation changes (SSE)",
    responses={200: EVENT_STREAM, **problems(503)},
)
async def stream_conversations(
    principal: StaffDep,
    streams: StreamsDep,
    resume_header: SequenceId = None,
    last_event_id: Annotated[
        int | None,
        Query(ge=0, le=2**63 - 1, description="`Last-Event-ID` for a client that sends no headers."),
    ] = None,
) -> EventStreamResponse:
    """The tenant's conversation changes as Server-Sent Events, live; `Last-Event-ID` (or the parameter
    `last_event_id`, for a new `EventSource`) resumes after that event, else it starts with the next one."""
    resume = int(resume_header) if resume_header is not None else last_event_id
    stream = await streams.open(tenant_id=principal.tenant_id, after=resume)
    return EventStreamResponse(stream)
