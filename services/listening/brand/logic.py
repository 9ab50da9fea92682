"""The brand's own accounts and their posts.

A post written by one of the tenant's own accounts is the brand speaking, not a mention of it: it is
never stored as a mention (so no profile, no conversation), but published as
`listening.brand_post.received` through the outbox, for engagement to add to the thread it answers.
The own accounts are the tenant's channels' accounts (a Meta channel's `page_id` for Facebook and
Messenger, a WhatsApp channel's `phone_number_id`; webhook parsers also recognise the account a delivery
is for) and those listed through `/v1/own-accounts` (platform + handle and/or platform user id), which
also cover posts pushed through the ingest API.

Ingest is CPU-sensitive, so each process keeps every tenant's own accounts in memory (`OwnAccounts`, LRU
bounded) and checks whether they changed at most every `FRESH_S` seconds with one aggregate query (the
number of rows and the latest `updated_at` of the tenant's own accounts and its number of channels);
this process's own edits drop the tenant's entry at once, and every entry is read again after
`RELOAD_S` (a channel's settings edited elsewhere).
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.brand.models import OwnAccount
from services.listening.brand.schemas import (
    OwnAccountCreate,
    OwnAccountPage,
    OwnAccountRead,
    OwnAccountUpdate,
)
from services.listening.errors import InvalidOwnAccount, OwnAccountConflict, OwnAccountNotFound
from services.listening.models import Channel
from shared.db import utcnow
from shared.events.contracts import BrandPostReceived
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.listening.brand")

SOURCE = "listening"
FRESH_S = 2.0
RELOAD_S = 60.0
TENANTS = 10_000
# A channel's settings naming its own account, and the mention platforms that account posts on.
CHANNEL_ACCOUNTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "meta": ("page_id", ("facebook", "messenger")),
    "whatsapp": ("phone_number_id", ("whatsapp",)),
}


def normal_handle(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


@dataclass(slots=True)
class _Known:
    key: tuple[Any, ...]
    checked: float
    loaded: float
    ids: frozenset[tuple[str, str]]  # (platform, platform user id)
    handles: frozenset[tuple[str, str]]  # (platform, normalised handle)

    def owns(self, platform: str, user_id: str | None, handle: str | None) -> bool:
        if user_id is not None and (platform, user_id) in self.ids:
            return True
        return handle is not None and (platform, normal_handle(handle)) in self.handles


class OwnAccounts:
    """This process's cache of every tenant's own accounts (see the module's docstring)."""

    def __init__(self, *, tenants: int = TENANTS) -> None:
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._tenants = tenants

    def forget(self, tenant_id: str) -> None:
        self._known.pop(tenant_id, None)

    async def of(self, session: AsyncSession, tenant_id: str) -> _Known:
        now = time.monotonic()
        known = self._known.get(tenant_id)
        if known is not None and now - known.checked < FRESH_S:
            return known
        key = await _key(session, tenant_id)
        if known is not None and known.key == key and now - known.loaded < RELOAD_S:
            known.checked = now
            self._known.move_to_end(tenant_id)
            return known
        known = await _load(session, tenant_id, key, now)
        self._known[tenant_id] = known
        self._known.move_to_end(tenant_id)
        while len(self._known) > self._tenants:
            self._known.popitem(last=False)
        return known

    async def owns(
        self, session: AsyncSession, tenant_id: str, *, platform: str, user_id: str | None, handle: str | None
    ) -> bool:
        """Whether the author (platform user id or handle) is one of the tenant's own accounts."""
        return (await self.of(session, tenant_id)).owns(platform, user_id, handle)


OWN_ACCOUNTS = OwnAccounts()


async def _key(session: AsyncSession, tenant_id: str) -> tuple[Any, ...]:
    """The tenant's own accounts (count, latest change) and its number of channels, in one query."""
    channels = (
        select(func.count(col(Channel.id))).where(col(Channel.tenant_id) == tenant_id).scalar_subquery()
    )
    stmt = select(func.count(col(OwnAccount.id)), func.max(OwnAccount.updated_at), channels).where(
        col(OwnAccount.tenant_id) == tenant_id
    )
    return tuple((await session.execute(stmt)).one())


async def _load(session: AsyncSession, tenant_id: str, key: tuple[Any, ...], now: float) -> _Known:
    ids: set[tuple[str, str]] = set()
    handles: set[tuple[str, str]] = set()
    for account in (await session.execute(scoped(OwnAccount, tenant_id))).scalars():
        if account.platform_user_id:
            ids.add((account.platform, account.platform_user_id))
        if account.handle:
            handles.add((account.platform, normal_handle(account.handle)))
    stmt = select(col(Channel.platform), col(Channel.settings)).where(
        col(Channel.tenant_id) == tenant_id, col(Channel.platform).in_(list(CHANNEL_ACCOUNTS))
    )
    for platform, settings in (await session.execute(stmt)).all():
        setting, platforms = CHANNEL_ACCOUNTS[platform]
        try:
            account_id = json.loads(settings or "{}").get(setting)
        except ValueError:
            continue
        if isinstance(account_id, str) and account_id:
            ids.update((target, account_id) for target in platforms)
    return _Known(key=key, checked=now, loaded=now, ids=frozenset(ids), handles=frozenset(handles))


def stage_brand_post(
    session: AsyncSession,
    *,
    tenant_id: str,
    platform: str,
    external_id: str,
    text: str,
    created_at: datetime,
    in_reply_to: str | None,
    channel_id: str | None,
    account_id: str | None = None,
) -> str:
    """Publish the brand's own post (`listening.brand_post.received`) in the caller's transaction; the
    event's id."""
    event = new_event(
        BrandPostReceived(
            platform=platform,
            external_id=external_id,
            text=text,
            created_at=created_at,
            in_reply_to=in_reply_to,
            channel_id=channel_id,
            account_id=account_id,
        ),
        source=SOURCE,
        tenant_id=tenant_id,
        subject=external_id,
    )
    stage(session, event)
    log.info("brand_post.staged", extra={"tenant_id": tenant_id, "platform": platform})
    return event.id


# --- /v1/own-accounts ------------------------------------------------------------------------------


async def _duplicate(
    session: AsyncSession,
    tenant_id: str,
    platform: str,
    handle: str | None,
    user_id: str | None,
    skip: str = "",
) -> None:
    stmt = scoped(OwnAccount, tenant_id).where(
        col(OwnAccount.platform) == platform, col(OwnAccount.id) != skip
    )
    for other in (await session.execute(stmt)).scalars():
        if (handle and other.handle == handle) or (user_id and other.platform_user_id == user_id):
            raise OwnAccountConflict(f"The account is listed already (own account {other.id}).")


async def create_own_account(
    session: AsyncSession, *, tenant_id: str, account_in: OwnAccountCreate
) -> OwnAccountRead:
    await _duplicate(session, tenant_id, account_in.platform, account_in.handle, account_in.platform_user_id)
    now = utcnow()
    account = OwnAccount(
        tenant_id=tenant_id,
        platform=account_in.platform,
        handle=account_in.handle,
        platform_user_id=account_in.platform_user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.commit()
    OWN_ACCOUNTS.forget(tenant_id)
    log.info("own_account.created", extra={"tenant_id": tenant_id, "own_account_id": account.id})
    return OwnAccountRead.model_validate(account, from_attributes=True)


async def update_own_account(
    session: AsyncSession, *, tenant_id: str, account_id: str, update_in: OwnAccountUpdate
) -> OwnAccountRead:
    account = await get_scoped(
        session, OwnAccount, tenant_id=tenant_id, id=account_id, error=OwnAccountNotFound
    )
    given = update_in.model_fields_set
    handle = update_in.handle if "handle" in given else account.handle
    user_id = update_in.platform_user_id if "platform_user_id" in given else account.platform_user_id
    if handle is None and user_id is None:
        raise InvalidOwnAccount("An own account keeps a handle, a platform user id or both.")
    await _duplicate(session, tenant_id, account.platform, handle, user_id, skip=account.id)
    account.handle, account.platform_user_id = handle, user_id
    # Always moves, so other processes' freshness check sees the change.
    account.updated_at = max(utcnow(), account.updated_at + timedelta(microseconds=1))
    session.add(account)
    await session.commit()
    OWN_ACCOUNTS.forget(tenant_id)
    return OwnAccountRead.model_validate(account, from_attributes=True)


async def delete_own_account(session: AsyncSession, *, tenant_id: str, account_id: str) -> None:
    account = await get_scoped(
        session, OwnAccount, tenant_id=tenant_id, id=account_id, error=OwnAccountNotFound
    )
    await session.delete(account)
    await session.commit()
    OWN_ACCOUNTS.forget(tenant_id)


async def list_own_accounts(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None
) -> OwnAccountPage:
    rows, next_cursor = await page_of(reader, OwnAccount, tenant_id=tenant_id, limit=limit, cursor=cursor)
    return OwnAccountPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)
