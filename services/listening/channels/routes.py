"""Routes of channels and of the platforms' public inbound webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import PlainTextResponse

from services.listening.channels import logic, templates
from services.listening.channels.inbound import deliver, verify_subscription
from services.listening.channels.schemas import (
    ChannelCreate,
    ChannelPage,
    ChannelRead,
    ChannelUpdate,
    InboundResult,
    TemplateCreate,
    TemplatePage,
    TemplateRead,
)
from services.listening.deps import ListeningStateDep
from shared.auth import ADMINS, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep
from shared.validation import OPEN_QUERY

channels_router = APIRouter(prefix="/v1/channels", tags=["channels"])
inbound_router = APIRouter(prefix="/v1/inbound", tags=["inbound webhooks"])
routers = [channels_router, inbound_router]

Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]


@channels_router.post(
    "",
    status_code=201,
    response_model=ChannelRead,
    operation_id="create_channel",
    summary="Connect a channel",
    responses=problems(409),
)
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


@channels_router.get("", response_model=ChannelPage, operation_id="list_channels", summary="List channels")
async def list_channels(
    principal: Admin,
    reader: ReaderDep,
    state: ListeningStateDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ChannelPage:
    """The tenant's channels, newest first."""
    return await logic.list_channels(
        reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor, box=state.box
    )


@channels_router.get(
    "/{channel_id}",
    response_model=ChannelRead,
    operation_id="get_channel",
    summary="Get a channel",
    responses=problems(404),
)
async def read_channel(
    channel_id: str, principal: Admin, reader: ReaderDep, state: ListeningStateDep
) -> ChannelRead:
    """One channel with its connector status."""
    return await logic.get_channel_view(
        reader, tenant_id=principal.tenant_id, channel_id=channel_id, box=state.box
    )


@channels_router.patch(
    "/{channel_id}",
    response_model=ChannelRead,
    operation_id="update_channel",
    summary="Update a channel",
    responses=problems(404),
)
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


@channels_router.delete(
    "/{channel_id}",
    status_code=204,
    operation_id="delete_channel",
    summary="Disconnect a channel",
    responses=problems(404),
)
async def delete_channel(
    channel_id: str, principal: Admin, session: SessionDep, state: ListeningStateDep
) -> Response:
    """Disconnect a platform and stop its puller (its mentions stay)."""
    await logic.delete_channel(session, tenant_id=principal.tenant_id, channel_id=channel_id)
    await state.pullers.stop(channel_id)
    return Response(status_code=204)


@channels_router.get(
    "/{channel_id}/templates",
    response_model=TemplatePage,
    operation_id="list_channel_templates",
    summary="List a channel's message templates",
    responses=problems(404),
)
async def list_channel_templates(
    channel_id: str, principal: Admin, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> TemplatePage:
    """The approved WhatsApp message templates the channel may send, newest first."""
    return await templates.list_templates(
        reader, tenant_id=principal.tenant_id, channel_id=channel_id, limit=limit, cursor=cursor
    )


@channels_router.post(
    "/{channel_id}/templates",
    status_code=201,
    response_model=TemplateRead,
    operation_id="create_channel_template",
    summary="Store an approved message template",
    responses=problems(404, 409, 422),
)
async def create_channel_template(
    channel_id: str, template_in: TemplateCreate, principal: Admin, session: SessionDep
) -> TemplateRead:
    """Store a template Meta approved for the WhatsApp channel's account: `name`, `language` (`en_US`),
    `category` (MARKETING, UTILITY, AUTHENTICATION) and `body` with `{{1}}`-style parameters. Outside
    WhatsApp's 24-hour customer-service window a reply can only be one of these (409 if the name and
    language are stored already; 422 for a channel that is not WhatsApp)."""
    return await templates.create_template(
        session, tenant_id=principal.tenant_id, channel_id=channel_id, template_in=template_in
    )


@channels_router.delete(
    "/{channel_id}/templates/{template_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_channel_template",
    summary="Remove a message template",
    responses=problems(404),
)
async def delete_channel_template(
    channel_id: str, template_id: TemplateId, principal: Admin, session: SessionDep
) -> Response:
    await templates.delete_template(
        session, tenant_id=principal.tenant_id, channel_id=channel_id, template_id=template_id
    )
    return Response(status_code=204)


@inbound_router.get(
    "/{platform}/{channel_id}",
    response_model=None,
    operation_id="get_webhook_challenge",
    summary="Answer a platform's webhook verification",
    responses=problems(400, 403, 404),
    openapi_extra=OPEN_QUERY,
)
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


@inbound_router.post(
    "/{platform}/{channel_id}",
    response_model=InboundResult,
    operation_id="create_webhook_delivery",
    summary="Receive a platform's webhook delivery",
    responses=problems(400, 401, 404),
    openapi_extra=OPEN_QUERY,
)
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
