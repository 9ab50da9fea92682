"""API keys for partners: made by a user with scopes no wider than the user's role, exchanged for
short-lived access tokens (OAuth 2.0 client credentials), revoked at once.

A key is `rk_` + 32 random bytes (base64url): far too many to guess, so a plain SHA-256 of it is stored
(no slow hash, no per-key salt needed) and the exchange costs one hash. The key's id is its OAuth
`client_id`; the row is found by id and the hashes compared in constant time.

A key's token is its creator's token narrowed to the key's scopes: `sub`, `role` and `ver` are the
creator's, `sid` (and `client_id`) the key's id, `scope` the scopes. So the existing deny-list ends it
both ways: revoking the key denies its `sid`, and deactivating the creator or changing their role
denies their older token versions. Each exchange checks the creator is still active and still may grant
the key's scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.identity.errors import ApiKeyNotFound, InvalidClient, InvalidScope, ScopeNotGrantable
from services.identity.logic.accounts import SOURCE
from services.identity.logic.denylist import deny_session
from services.identity.logic.keys import Signer
from services.identity.logic.tokens import issue_access_token
from services.identity.models import ApiKey, User
from services.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    ClientCredentialsRequest,
    ClientToken,
)
from services.identity.settings import IdentitySettings
from shared.auth import ADMINS, Principal
from shared.db import utcnow
from shared.events.contracts import ApiKeyCreated as ApiKeyCreatedEvent
from shared.events.contracts import ApiKeyRevoked
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.scopes import not_grantable
from shared.tenancy import get_row_scoped, get_scoped

log = logging.getLogger("rapport.identity.api_keys")

KEY_PREFIX = "rk_"
# What a list shows of a key: `rk_` and its first 8 characters.
SHOWN_CHARS = len(KEY_PREFIX) + 8
# Compared against when the client id names no key, so that answer takes as long as a wrong secret's.
_NO_KEY_HASH = hashlib.sha256(b"no such key").hexdigest()


def new_key() -> str:
    """A fresh key: `rk_` + 32 random bytes, base64url without padding."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What is stored of a key (a leaked table yields no usable key)."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, *, principal: Principal, key_in: ApiKeyCreate) -> ApiKeyCreated:
    """Make a key for the caller's tenant; its scopes must all be ones the caller's role may grant."""
    scopes = set(key_in.scopes)
    refused = not_grantable(principal.role, scopes)
    if refused:
        raise ScopeNotGrantable(f"The {principal.role} role may not grant: {', '.join(refused)}.")
    key = new_key()
    row = ApiKey(
        tenant_id=principal.tenant_id,
        name=key_in.name,
        scopes=" ".join(sorted(scopes)),
        prefix=key[:SHOWN_CHARS],
        secret_hash=hash_key(key),
        created_by=principal.user_id,
        expires_at=key_in.expires_at,
    )
    session.add(row)
    created = ApiKeyCreatedEvent(
        key_id=row.id,
        name=row.name,
        scopes=sorted(scopes),
        created_by=principal.user_id,
        expires_at=row.expires_at,
    )
    stage(session, new_event(created, source=SOURCE, tenant_id=row.tenant_id, subject=row.id))
    await session.commit()
    log.info(
        "api_key.created",
        extra={"key_id": row.id, "tenant_id": row.tenant_id, "user_id": principal.user_id},
    )
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


def _creator_filter(principal: Principal) -> str | None:
    """Owners and admins see every key of the tenant; anyone else only the keys they made."""
    return None if principal.role in ADMINS else principal.user_id


async def list_keys(reader: Reader, *, principal: Principal, limit: int, cursor: str | None) -> ApiKeyPage:
    """The keys the caller may see, newest first (never the keys themselves)."""
    rows, next_cursor = await page_of(
        reader,
        ApiKey,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        shape=ApiKeyRead,
        created_by=_creator_filter(principal),
    )
    return ApiKeyPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def get_key(reader: Reader, *, principal: Principal, key_id: str) -> ApiKeyRead:
    """One key the caller may see; another tenant's, or another user's for a non-admin, is not found."""
    row = await get_row_scoped(
        reader, ApiKey, tenant_id=principal.tenant_id, id=key_id, error=ApiKeyNotFound, shape=ApiKeyRead
    )
    owner = _creator_filter(principal)
    if owner is not None and row.created_by != owner:
        raise ApiKeyNotFound(f"ApiKey {key_id} was not found.")
    return ApiKeyRead.model_validate(row)


async def revoke_key(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    redis: Redis | None,
    principal: Principal,
    key_id: str,
) -> None:
    """Revoke a key: no new token for it, and the tokens it was given are denied within a second."""
    row = await get_scoped(session, ApiKey, tenant_id=principal.tenant_id, id=key_id, error=ApiKeyNotFound)
    owner = _creator_filter(principal)
    if owner is not None and row.created_by != owner:
        raise ApiKeyNotFound(f"ApiKey {key_id} was not found.")
    if row.revoked_at is not None:
        await session.rollback()
        return
    row.revoked_at = utcnow()
    revoked = ApiKeyRevoked(key_id=row.id, by_user_id=principal.user_id)
    stage(session, new_event(revoked, source=SOURCE, tenant_id=row.tenant_id, subject=row.id))
    await session.commit()
    # After the commit: the database is the authority, and `denylist.resync` rewrites a lost entry.
    await deny_session(redis, settings=settings, family_id=key_id)
    log.info(
        "api_key.revoked", extra={"key_id": key_id, "tenant_id": row.tenant_id, "user_id": principal.user_id}
    )


async def exchange(
    session: AsyncSession,
    *,
    signer: Signer,
    settings: IdentitySettings,
    grant: ClientCredentialsRequest,
    client_ip: str,
) -> ClientToken:
    """Exchange a key for an access token carrying its scopes; records when and from where it was used."""
    row = await session.get(ApiKey, grant.client_id)
    expected = row.secret_hash if row is not None else _NO_KEY_HASH
    if not hmac.compare_digest(hash_key(grant.client_secret), expected) or row is None:
        await session.rollback()
        raise InvalidClient("The client id or secret is wrong.")
    now = utcnow()
    if row.revoked_at is not None:
        await session.rollback()
        raise InvalidClient("The API key was revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        await session.rollback()
        raise InvalidClient("The API key has expired.")
    stmt = select(User).where(User.tenant_id == row.tenant_id, User.id == row.created_by)
    creator = (await session.execute(stmt)).scalars().first()
    if creator is None or not creator.active:
        await session.rollback()
        raise InvalidClient("The API key's creator is no longer active.")
    scopes = frozenset(row.scopes.split())
    if not_grantable(creator.role, scopes):
        await session.rollback()
        raise InvalidClient("The API key's scopes exceed its creator's current role.")
    if grant.scope is not None:
        asked = frozenset(grant.scope.split())
        if not asked or not asked <= scopes:
            await session.rollback()
            raise InvalidScope("The requested scope is not among the API key's scopes.")
        scopes = asked
    scope = " ".join(sorted(scopes))
    # A token never outlives its key.
    ttl_s = settings.access_token_ttl_s
    if row.expires_at is not None:
        ttl_s = max(1, min(ttl_s, int((row.expires_at - now).total_seconds())))
    token = issue_access_token(
        signer=signer,
        settings=settings,
        user=creator,
        family_id=row.id,
        extra={"scope": scope, "client_id": row.id},
        ttl_s=ttl_s,
    )
    row.last_used_at, row.last_used_ip = now, client_ip
    await session.commit()
    log.info("auth.key_exchanged", extra={"key_id": row.id, "tenant_id": row.tenant_id})
    return ClientToken(access_token=token, expires_in=ttl_s, scope=scope)
