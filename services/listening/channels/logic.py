"""Channels: a tenant's platform connections, with credentials encrypted and tenant URLs checked."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Row, bindparam, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.channels import leases
from services.listening.channels.connectors import BSKY_PDS, GRAPH_API, X_API
from services.listening.channels.schemas import (
    PUSH_PLATFORMS,
    ChannelCreate,
    ChannelPage,
    ChannelRead,
    ChannelStatus,
    ChannelUpdate,
)
from services.listening.channels.templates import delete_channel_templates
from services.listening.errors import ChannelNotFound
from services.listening.models import Channel, MentionFetch, PullerLease
from services.listening.usage.quotas import check_channel_quota
from shared.db import utcnow
from shared.egress import UnsafeURL, check_public_url
from shared.errors import Unprocessable
from shared.pagination import keyset_bound, paginate
from shared.reads import Reader
from shared.secrets import SecretBox
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.listening")

URL_SETTINGS = ("base_url", "url", "graph_base_url", "streaming_url", "api_base_url", "pds_url")
# Platform addresses the service knows (defaults): not the tenant's choice, no need to resolve them.
KNOWN_URLS = frozenset({GRAPH_API, X_API, BSKY_PDS})


class Fetches(NamedTuple):
    pending: int = 0
    given_up: int = 0


def inbound_url(channel: Channel | Row[Any]) -> str | None:
    """Where the platform delivers this channel's webhooks (push platforms only)."""
    return f"/v1/inbound/{channel.platform}/{channel.id}" if channel.platform in PUSH_PLATFORMS else None


def channel_settings(channel: Channel | Row[Any]) -> dict[str, Any]:
    data = json.loads(channel.settings or "{}")
    return data if isinstance(data, dict) else {}


@functools.lru_cache(maxsize=1024)
def _shown_settings(text: str) -> Any:
    """The settings a view shows, parsed once per text (read only: views are validated into new dicts)."""
    data = json.loads(text or "{}")
    return data if isinstance(data, dict) else {}


def channel_cursor(channel: Channel | Row[Any]) -> Any:
    return json.loads(channel.cursor) if channel.cursor else None


def record_stored(channel: Channel, accepted: int) -> None:
    """A delivery, pulled batch or fetch of the channel succeeded: count what it stored (in the caller's
    transaction). The count is added in SQL, so that concurrent writers for one channel add up."""
    # An SQL expression in an int column: the ORM writes `ingested = ingested + n` in the UPDATE.
    channel.ingested = col(Channel.ingested) + accepted  # type: ignore[assignment]
    channel.last_success_at = utcnow()


_GIVEN_UP = col(MentionFetch.gave_up_at).is_not(None)
# Per channel among some of the tenant's: mentions waiting to be fetched by id, and those given up on.
_FETCH_COUNTS = (
    select(
        col(MentionFetch.channel_id),
        func.sum(case((_GIVEN_UP, 0), else_=1)),
        func.sum(case((_GIVEN_UP, 1), else_=0)),
    )
    .where(
        col(MentionFetch.tenant_id) == bindparam("tenant_id"),
        col(MentionFetch.channel_id).in_(bindparam("channel_ids", expanding=True)),
    )
    .group_by(col(MentionFetch.channel_id))
)


async def _all(db: AsyncSession | Reader, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
    """The rows of a read, in a write's session (views answered after a change) or through the reader."""
    if isinstance(db, AsyncSession):
        return (await db.execute(stmt, params)).all()
    return await db.all(stmt, params)


async def fetch_counts(
    db: AsyncSession | Reader, *, tenant_id: str, channel_ids: list[str]
) -> dict[str, Fetches]:
    """Per channel: mentions waiting to be fetched by id (Instagram @mentions), and those given up on."""
    if not channel_ids:
        return {}
    rows = await _all(db, _FETCH_COUNTS, {"tenant_id": tenant_id, "channel_ids": channel_ids})
    return {channel_id: Fetches(int(pending), int(gone)) for channel_id, pending, gone in rows}


def to_read(channel: Channel | Row[Any], *, box: SecretBox, running: bool, fetches: Fetches) -> ChannelRead:
    """The API view: settings and status, the NAMES of the stored credentials, never their values."""
    try:
        names = box.names(channel.secrets)
    except Exception:
        names = []
    return ChannelRead(
        id=channel.id,
        platform=channel.platform,
        name=channel.name,
        settings=_shown_settings(channel.settings),
        credentials_set=names,
        inbound_url=inbound_url(channel),
        status=ChannelStatus(
            running=running,
            last_success_at=channel.last_success_at,
            verified_at=channel.verified_at,
            last_error=channel.last_error,
            last_error_at=channel.last_error_at,
            failures=channel.failures,
            ingested=channel.ingested,
            cursor=channel_cursor(channel),
            fetches_pending=fetches.pending,
            fetches_given_up=fetches.given_up,
        ),
        created_at=channel.created_at,
    )


async def create_channel(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_in: ChannelCreate,
    box: SecretBox,
    allow_private_urls: bool,
    max_channels: int = 0,
) -> Channel:
    """Store a channel with its credentials sealed; tenant-given URLs must be public addresses.

    QuotaExceeded (409) when the tenant has `max_channels` already (0: no cap)."""
    await check_channel_quota(session, tenant_id=tenant_id, limit=max_channels)
    if not allow_private_urls:
        await _check_urls(channel_in.settings)
    channel = Channel(
        tenant_id=tenant_id,
        platform=channel_in.platform,
        name=channel_in.name,
        settings=json.dumps(channel_in.settings),
        secrets=box.seal(channel_in.credentials) if channel_in.credentials else "",
    )
    session.add(channel)
    await session.commit()
    log.info(
        "channel.created",
        extra={"channel_id": channel.id, "tenant_id": tenant_id, "platform": channel.platform},
    )
    return channel


async def _check_urls(settings: dict[str, Any]) -> None:
    for key in URL_SETTINGS:
        url = settings.get(key)
        if isinstance(url, str) and url not in KNOWN_URLS:
            try:
                await check_public_url(url)
            except UnsafeURL as exc:
                raise Unprocessable(f"settings.{key}: {exc}") from None


async def update_channel(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str,
    update_in: ChannelUpdate,
    box: SecretBox,
    allow_private_urls: bool,
) -> tuple[Channel, bool]:
    """Apply a change checked against the channel's platform; True when its puller must start again.

    New settings point at a new source, so the cursor and the error status start over; new credentials
    keep the cursor. Deliveries and pullers read the stored values, so a rotated secret applies at once.
    """
    channel = await get_channel(session, tenant_id=tenant_id, channel_id=channel_id)
    try:
        update = update_in.checked(channel.platform)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", "settings", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise Unprocessable("The settings are not valid for this platform.", errors=errors) from None
    except ValueError as exc:
        errors = [{"loc": ["body", "credentials"], "msg": str(exc), "type": "value_error"}]
        raise Unprocessable("The credentials are not valid for this platform.", errors=errors) from None
    restart = False
    if update.name is not None:
        channel.name = update.name
    if update.settings is not None and json.dumps(update.settings) != channel.settings:
        if not allow_private_urls:
            await _check_urls(update.settings)
        channel.settings = json.dumps(update.settings)
        channel.cursor = None
        channel.failures = 0
        channel.last_error = channel.last_error_at = None
        restart = True
    if update.credentials is not None:
        channel.secrets = box.seal(update.credentials) if update.credentials else ""
        channel.verified_at = None  # the platform checks the new verify token or secret again
        restart = True
    await session.commit()
    log.info(
        "channel.updated",
        extra={
            "channel_id": channel.id,
            "tenant_id": tenant_id,
            "fields": sorted(
                k for k in ("name", "settings", "credentials") if getattr(update, k) is not None
            ),
        },
    )
    return channel, restart


async def get_channel(session: AsyncSession, *, tenant_id: str, channel_id: str) -> Channel:
    """One channel of the tenant, or ChannelNotFound."""
    return await get_scoped(session, Channel, tenant_id=tenant_id, id=channel_id, error=ChannelNotFound)


# The columns of a channel's API view (`to_read`).
_VIEW_COLUMNS = tuple(
    Channel.__table__.c[name]  # type: ignore[attr-defined]
    for name in (
        "id",
        "tenant_id",
        "platform",
        "name",
        "settings",
        "secrets",
        "cursor",
        "last_success_at",
        "verified_at",
        "last_error",
        "last_error_at",
        "failures",
        "ingested",
        "created_at",
    )
)
_CHANNEL = select(*_VIEW_COLUMNS).where(
    col(Channel.tenant_id) == bindparam("tenant_id"), col(Channel.id) == bindparam("id")
)
_PAGES = {
    after: keyset_bound(
        select(*_VIEW_COLUMNS).where(col(Channel.tenant_id) == bindparam("tenant_id")),
        col(Channel.created_at),
        col(Channel.id),
        after=after,
    )
    for after in (False, True)
}


async def list_channels(
    reader: Reader,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    box: SecretBox,
) -> ChannelPage:
    """The tenant's channels, newest first."""
    rows, next_cursor = await paginate(
        reader, _PAGES[bool(cursor)], {"tenant_id": tenant_id}, limit=limit, cursor=cursor
    )
    return ChannelPage(items=await _views(reader, tenant_id, rows, box=box), next_cursor=next_cursor)


async def get_channel_view(reader: Reader, *, tenant_id: str, channel_id: str, box: SecretBox) -> ChannelRead:
    """One channel's API view, or ChannelNotFound."""
    channel = await reader.first(_CHANNEL, {"tenant_id": tenant_id, "id": channel_id})
    if channel is None:
        raise ChannelNotFound(f"Channel {channel_id} was not found.")
    [view] = await _views(reader, tenant_id, [channel], box=box)
    return view


async def read_channel(session: AsyncSession, channel: Channel, *, box: SecretBox) -> ChannelRead:
    """One channel's API view (after a change, in the writer's session)."""
    [view] = await _views(session, channel.tenant_id, [channel], box=box)
    return view


async def _views(
    db: AsyncSession | Reader, tenant_id: str, channels: Sequence[Channel | Row[Any]], *, box: SecretBox
) -> list[ChannelRead]:
    """The API views of some of a tenant's channels: fetch queues counted, and whether a replica pulls
    each (its lease), in one query each for all of them."""
    ids = [c.id for c in channels]
    fetches = await fetch_counts(db, tenant_id=tenant_id, channel_ids=ids)
    leased = await _all(db, leases.HELD, {"channel_ids": ids, "now": utcnow()}) if ids else []
    running = {row[0] for row in leased}
    return [
        to_read(c, box=box, running=c.id in running, fetches=fetches.get(c.id, Fetches())) for c in channels
    ]


async def delete_channel(session: AsyncSession, *, tenant_id: str, channel_id: str) -> Channel:
    """Remove a channel (its mentions stay); the caller stops its puller."""
    channel = await get_channel(session, tenant_id=tenant_id, channel_id=channel_id)
    await session.delete(channel)
    await delete_channel_templates(session, tenant_id=tenant_id, channel_id=channel_id)
    await session.execute(delete(PullerLease).where(col(PullerLease.channel_id) == channel_id))
    await session.commit()
    log.info("channel.deleted", extra={"channel_id": channel_id, "tenant_id": tenant_id})
    return channel
