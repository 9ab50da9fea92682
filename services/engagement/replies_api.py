"""Routes of replies (`POST /v1/conversations/{id}/messages`) and canned responses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from services.engagement.api import ConversationId, StaffDep, WorkerDep
from services.engagement.logic import canned
from services.engagement.logic.messages import post_message
from services.engagement.replies_schemas import (
    CannedResponseCreate,
    CannedResponsePage,
    CannedResponseRead,
    CannedResponseUpdate,
    MessageCreate,
    MessagePosted,
)
from services.engagement.state import EngagementStateDep
from shared import consent
from shared.auth import Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

messages_router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
canned_router = APIRouter(prefix="/v1/canned-responses", tags=["canned responses"])

CannedId = Annotated[str, Path(min_length=1, max_length=64)]
# Who keeps the canned responses: everyone who works conversations.
EditorDep = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]


@messages_router.post(
    "/{conversation_id}/messages",
    status_code=201,
    response_model=MessagePosted,
    operation_id="create_conversation_message",
    summary="Reply on a conversation",
    responses=problems(404, 422, 451, 503),
)
async def create_message(
    message_in: MessageCreate,
    principal: WorkerDep,
    session: SessionDep,
    conversation_id: ConversationId,
    state: EngagementStateDep,
    request: Request,
) -> MessagePosted:
    """Reply to the customer through the conversation's channel, or leave an internal note.

    The reply (`text`, a canned response: `template_id` with `variables`, or an approved WhatsApp template:
    `platform_template` with `name`, `language`, `parameters`) is recorded as an outbound message, `queued`,
    and sent by the channel's owner: its `status` becomes `sent` (with the platform's id) or `failed` (with
    the reason: `error_code`, `error`; `unknown_template` for a template the channel does not store). It
    answers the customer's latest message: a private message on Messenger and WhatsApp, a reply in the
    thread elsewhere. A conversation that did not come through one of the tenant's channels cannot be
    answered (422, `code: no_channel`). A private message the platform's window does not allow now is
    refused before anything is recorded (422, type `messaging-window-closed`): WhatsApp more than 24 hours
    after the customer's last message (`code: outside_customer_service_window`, `allowed:
    ["platform_template"]`), Messenger / Instagram more than 7 days after it
    (`outside_human_agent_window`; between 24 hours and 7 days the reply goes with the `HUMAN_AGENT`
    tag). A `platform_template` off WhatsApp is 422 `code: templates_not_supported`.
    `internal: true` stores the text as an internal note (listed in the conversation's `notes`), never
    sent. A retried request with the same `Idempotency-Key` header is answered once (the gateway).

    A reply processes the customer's data for `engagement`: refused with 451 (as the gateway refuses,
    naming the purpose and reason) when they withdrew it, objected or are restricted, and 503 while the
    consent projection is not ready; each decision is written to the audit log. Notes are not checked."""

    async def may_reply(profile_id: str) -> None:
        await consent.require(
            state.runtime.redis,
            session,
            tenant_id=principal.tenant_id,
            profile_id=profile_id,
            purpose="engagement",
            recorded_by="engagement",
            actor_id=principal.user_id,
            actor_kind="user" if principal.scopes is None else "api_key",
            method="POST",
            path=request.url.path,
            request_id=request.headers.get("x-request-id"),
        )

    return await post_message(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        message_in=message_in,
        author_id=principal.user_id,
        before_reply=may_reply,
    )


@canned_router.get(
    "",
    response_model=CannedResponsePage,
    operation_id="list_canned_responses",
    summary="List canned responses",
)
async def list_canned(
    principal: StaffDep, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> CannedResponsePage:
    """The tenant's canned responses, newest first."""
    return await canned.list_canned(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@canned_router.post(
    "",
    status_code=201,
    response_model=CannedResponseRead,
    operation_id="create_canned_response",
    summary="Create a canned response",
    responses=problems(409, 422),
)
async def create_canned(
    canned_in: CannedResponseCreate, principal: EditorDep, session: SessionDep
) -> CannedResponseRead:
    """Save an answer with a text per language (`{{variable}}` placeholders) and a default language."""
    return await canned.create_canned(
        session, tenant_id=principal.tenant_id, canned_in=canned_in, created_by=principal.user_id
    )


@canned_router.get(
    "/{canned_id}",
    response_model=CannedResponseRead,
    operation_id="get_canned_response",
    summary="Get a canned response",
    responses=problems(404),
)
async def get_canned(principal: StaffDep, session: SessionDep, canned_id: CannedId) -> CannedResponseRead:
    return await canned.get_canned(session, tenant_id=principal.tenant_id, canned_id=canned_id)


@canned_router.patch(
    "/{canned_id}",
    response_model=CannedResponseRead,
    operation_id="update_canned_response",
    summary="Update a canned response",
    responses=problems(404, 409, 422),
)
async def update_canned(
    update_in: CannedResponseUpdate, principal: EditorDep, session: SessionDep, canned_id: CannedId
) -> CannedResponseRead:
    """Rename it, replace its variants or change its default language."""
    return await canned.update_canned(
        session, tenant_id=principal.tenant_id, canned_id=canned_id, update_in=update_in
    )


@canned_router.delete(
    "/{canned_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_canned_response",
    summary="Delete a canned response",
    responses=problems(404),
)
async def delete_canned(principal: EditorDep, session: SessionDep, canned_id: CannedId) -> Response:
    await canned.delete_canned(session, tenant_id=principal.tenant_id, canned_id=canned_id)
    return Response(status_code=204)
