"""Routes of outbound webhooks: subscriptions, their secrets, the delivery log and replays."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.engagement.outbound import deliveries, subscriptions
from services.engagement.outbound.schemas import (
    DeliveryPage,
    DeliveryRead,
    DeliveryStatus,
    EventTypeList,
    ReplayResult,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRead,
    SubscriptionUpdate,
)
from services.engagement.state import EngagementStateDep
from shared.auth import ADMINS, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "/event-types",
    response_model=EventTypeList,
    operation_id="list_webhook_event_types",
    summary="List subscribable event types",
)
async def list_event_types(principal: AdminDep) -> EventTypeList:
    """Every event type a subscription may name, with the JSON schema of its `data`."""
    return subscriptions.event_types()


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    operation_id="create_webhook_subscription",
    summary="Subscribe an endpoint",
)
async def create_subscription(
    subscription_in: SubscriptionCreate, principal: AdminDep, session: SessionDep, state: EngagementStateDep
) -> SubscriptionCreated:
    """Subscribe a partner endpoint to event types; the signing secret is shown this once."""
    return await subscriptions.create_subscription(
        session,
        tenant_id=principal.tenant_id,
        subscription_in=subscription_in,
        box=state.box,
        allow_private=state.settings.webhook_allow_private_urls,
        ensure=state.webhooks.ensure,
    )


@router.get(
    "/subscriptions",
    response_model=SubscriptionPage,
    operation_id="list_webhook_subscriptions",
    summary="List webhook subscriptions",
)
async def list_subscriptions(
    principal: AdminDep, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> SubscriptionPage:
    """The tenant's webhook subscriptions, newest first."""
    return await subscriptions.list_subscriptions(
        reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor
    )


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    operation_id="get_webhook_subscription",
    summary="Get a webhook subscription",
    responses=problems(404),
)
async def get_subscription(
    subscription_id: SubscriptionId, principal: AdminDep, reader: ReaderDep
) -> SubscriptionRead:
    """One webhook subscription."""
    return await subscriptions.get_subscription(
        reader, tenant_id=principal.tenant_id, subscription_id=subscription_id
    )


@router.patch(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    operation_id="update_webhook_subscription",
    summary="Update a webhook subscription",
    responses=problems(404),
)
async def update_subscription(
    subscription_id: SubscriptionId,
    subscription_in: SubscriptionUpdate,
    principal: AdminDep,
    session: SessionDep,
    state: EngagementStateDep,
) -> SubscriptionRead:
    """Change a subscription's URL, event types, description or purpose."""
    return await subscriptions.update_subscription(
        session,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        subscription_in=subscription_in,
        allow_private=state.settings.webhook_allow_private_urls,
        ensure=state.webhooks.ensure,
    )


@router.post(
    "/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionRead,
    operation_id="update_webhook_subscription_pause",
    summary="Pause a webhook subscription",
    responses=problems(404),
)
async def pause_subscription(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep
) -> SubscriptionRead:
    """Pause: no new deliveries are recorded; pending ones wait for the resume."""
    return await subscriptions.set_status(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id, active=False
    )


@router.post(
    "/subscriptions/{subscription_id}/resume",
    response_model=SubscriptionRead,
    operation_id="update_webhook_subscription_resume",
    summary="Resume a webhook subscription",
    responses=problems(404),
)
async def resume_subscription(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep
) -> SubscriptionRead:
    """Resume a paused or disabled subscription (its failures in a row start again from zero)."""
    return await subscriptions.set_status(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id, active=True
    )


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    operation_id="delete_webhook_subscription",
    summary="Delete a webhook subscription",
    responses=problems(404),
)
async def delete_subscription(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep
) -> Response:
    """Delete a subscription and its delivery log."""
    await subscriptions.delete_subscription(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id
    )
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    response_model=SecretRotated,
    operation_id="create_webhook_secret",
    summary="Rotate the signing secret",
    responses=problems(404),
)
async def rotate_secret(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep, state: EngagementStateDep
) -> SecretRotated:
    """A new signing secret, shown this once; the old one signs too during the grace period."""
    return await subscriptions.rotate_secret(
        session,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        box=state.box,
        grace_s=state.settings.webhook_secret_grace_s,
    )


@router.post(
    "/subscriptions/{subscription_id}/test",
    status_code=202,
    response_model=DeliveryRead,
    operation_id="create_webhook_test",
    summary="Send a test event",
    responses=problems(404, 409),
)
async def send_test(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep
) -> DeliveryRead:
    """Send a test event (`engagement.webhook.test`) to the endpoint."""
    return await deliveries.send_test(session, tenant_id=principal.tenant_id, subscription_id=subscription_id)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    operation_id="list_webhook_deliveries",
    summary="List deliveries",
    responses=problems(404),
)
async def list_deliveries(
    subscription_id: SubscriptionId,
    principal: AdminDep,
    reader: ReaderDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    profile_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> DeliveryPage:
    """The subscription's delivery log, newest first (`status=dead`: the dead letters; `profile_id`: the
    deliveries whose payload carried that profile)."""
    return await deliveries.list_deliveries(
        reader,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        status=status,
        profile_id=profile_id,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/subscriptions/{subscription_id}/deliveries/replay-dead",
    response_model=ReplayResult,
    operation_id="create_webhook_dead_replay",
    summary="Replay dead deliveries",
    responses=problems(404),
)
async def replay_dead(
    subscription_id: SubscriptionId, principal: AdminDep, session: SessionDep
) -> ReplayResult:
    """Send every dead delivery of the subscription again (same `webhook-id`, a new round of attempts)."""
    return await deliveries.replay_dead(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id
    )


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryRead,
    operation_id="create_webhook_delivery_replay",
    summary="Replay a delivery",
    responses=problems(404, 409),
)
async def replay_delivery(
    subscription_id: SubscriptionId, delivery_id: DeliveryId, principal: AdminDep, session: SessionDep
) -> DeliveryRead:
    """Send a failed or dead delivery again (same `webhook-id` and body, a new round of attempts)."""
    return await deliveries.replay_delivery(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id, delivery_id=delivery_id
    )
