"""Routes of channels, public inbound webhooks and bulk import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from services.listening.deps import ListeningStateDep
from services.listening.errors import UnsupportedMediaType
from services.listening.logic import channels as logic
from services.listening.logic.importing import MENTION_COLUMNS, Format, import_mentions
from services.listening.logic.inbound import deliver, verify_subscription
from services.listening.schemas_channels import (
    ChannelCreate,
    ChannelPage,
    ChannelRead,
    ChannelUpdate,
    ImportSummary,
    InboundResult,
)
from shared.auth import ADMINS, INGEST, Principal, require_roles
from shared.pagination import CursorQuery, LimitQuery
from shared.service import SessionDep

channels_router = APIRouter(prefix="/v1/channels", tags=["channels"])
inbound_router = APIRouter(prefix="/v1/inbound", tags=["inbound webhooks"])
import_router = APIRouter(prefix="/v1/mentions", tags=["mentions"])
routers = [channels_router, inbound_router, import_router]

Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]
Ingester = Annotated[Principal, Depends(require_roles(*INGEST))]

IMPORT_TYPES: dict[str, Format] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/jsonlines": "jsonl",
    "text/csv": "csv",
}


@channels_router.post("", status_code=201, response_model=ChannelRead)
async def create_channel(
    channel_in: ChannelCreate, principal: Admin, session: SessionDep, state: ListeningStateDep
) -> ChannelRead:
    """Connect a platform; credentials are stored encrypted and never returned."""
    channel = await logic.create_channel(
        session,
        tenant_id=principal.tenant_id,
        channel_in=channel_in,
        box=state.box,
        allow_private_urls=state.settings.connector_allow_private_urls,
        max_channels=state.settings.max_channels_per_tenant,
    )
    await state.pullers.take(channel)
    return await logic.read_channel(session, channel, box=state.box)


@channels_router.get("", response_model=ChannelPage)
async def list_channels(
    principal: Admin,
    session: SessionDep,
    state: ListeningStateDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ChannelPage:
    """The tenant's channels, newest first."""
    return await logic.list_channels(
        session, tenant_id=principal.tenant_id, limit=limit, cursor=cursor, box=state.box
    )


@channels_router.get("/{channel_id}", response_model=ChannelRead)
async def read_channel(
    channel_id: str, principal: Admin, session: SessionDep, state: ListeningStateDep
) -> ChannelRead:
    """One channel with its connector status."""
    channel = await logic.get_channel(session, tenant_id=principal.tenant_id, channel_id=channel_id)
    return await logic.read_channel(session, channel, box=state.box)


@channels_router.patch("/{channel_id}", response_model=ChannelRead)
async def update_channel(
    channel_id: str,
    update_in: ChannelUpdate,
    principal: Admin,
    session: SessionDep,
    state: ListeningStateDep,
) -> ChannelRead:
    """Rename a channel, rotate its credentials or re-point its source (fields given replace the stored
    ones whole; new settings restart the puller from the new source's beginning)."""
    channel, restart = await logic.update_channel(
        session,
        tenant_id=principal.tenant_id,
        channel_id=channel_id,
        update_in=update_in,
        box=state.box,
        allow_private_urls=state.settings.connector_allow_private_urls,
    )
    if restart:
        await state.pullers.take(channel, restart=True)
    return await logic.read_channel(session, channel, box=state.box)


@channels_router.delete("/{channel_id}", status_code=204)
async def delete_channel(
    channel_id: str, principal: Admin, session: SessionDep, state: ListeningStateDep
) -> Response:
    """Disconnect a platform and stop its puller (its mentions stay)."""
    await logic.delete_channel(session, tenant_id=principal.tenant_id, channel_id=channel_id)
    await state.pullers.stop(channel_id)
    return Response(status_code=204)


@inbound_router.get("/{platform}/{channel_id}", response_model=None)
async def verify_inbound(
    platform: str, channel_id: str, request: Request, session: SessionDep, state: ListeningStateDep
) -> Response | dict[str, str]:
    """The platform's subscription check: Meta/WhatsApp `hub.challenge`, X `crc_token` (public)."""
    answer = await verify_subscription(
        session, platform=platform, channel_id=channel_id, params=request.query_params, box=state.box
    )
    if isinstance(answer, str):
        return PlainTextResponse(answer)
    return answer


@inbound_router.post("/{platform}/{channel_id}", response_model=InboundResult)
async def receive_inbound(
    platform: str, channel_id: str, request: Request, session: SessionDep, state: ListeningStateDep
) -> InboundResult:
    """A signed webhook delivery (public; the platform's signature over the raw body is checked first)."""
    body = await request.body()
    return await deliver(
        session,
        platform=platform,
        channel_id=channel_id,
        body=body,
        headers=request.headers,
        box=state.box,
        wakeups=state.wakeups,
    )


@import_router.post(
    "/import",
    response_model=ImportSummary,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": "MentionCreate per line"}
                },
                "text/csv": {
                    "schema": {"type": "string", "description": "columns: " + ", ".join(MENTION_COLUMNS)}
                },
            },
        }
    },
)
async def import_file(
    request: Request, principal: Ingester, session: SessionDep, state: ListeningStateDep
) -> ImportSummary:
    """Bulk import JSON Lines or CSV, streamed; bad lines are reported with their line numbers."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = IMPORT_TYPES.get(media)
    if fmt is None:
        raise UnsupportedMediaType("Send application/x-ndjson (JSON Lines) or text/csv.")
    return await import_mentions(
        session,
        tenant_id=principal.tenant_id,
        chunks=request.stream(),
        fmt=fmt,
        wakeups=state.wakeups,
        quota=state.quota,
    )
