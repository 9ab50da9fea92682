"""Login, access tokens (RS256) and refresh tokens (opaque, hashed, rotated, reuse revokes the family).

An access token names its refresh family (`sid`) and the user's token version (`ver`). Revoking a family
(re-use of a spent refresh token, logout) or raising a user's version (deactivation, role change) also
writes the revocation deny-list in Redis (`shared/revocation.py`), which the gateway mirrors in memory: the
access tokens already handed out are refused within a second instead of living out their TTL.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

from jose import jwt
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.identity.errors import AmbiguousLogin, InvalidCredentials, InvalidRefreshToken, LoginThrottled
from services.identity.logic import throttle
from services.identity.logic.accounts import SOURCE, normalize_email
from services.identity.logic.denylist import deny_session
from services.identity.logic.keys import Signer
from services.identity.logic.passwords import Passwords
from services.identity.models import RefreshToken, User
from services.identity.schemas import TokenPair
from services.identity.settings import IdentitySettings
from shared.auth import ALGORITHM, Principal
from shared.db import utcnow
from shared.errors import Unauthorized
from shared.events.contracts import LoginThrottled as LoginThrottledEvent
from shared.events.envelope import new_event
from shared.events.outbox import stage

log = logging.getLogger("rapport.identity.tokens")


def hash_refresh_token(token: str) -> str:
    """What is stored of a refresh token: a leaked table yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(
    *,
    signer: Signer,
    settings: IdentitySettings,
    user: User,
    family_id: str,
    extra: dict[str, Any] | None = None,
    ttl_s: int | None = None,
) -> str:
    """A signed, short-lived access token for the user, naming its refresh family (or API key)."""
    now = int(time.time())
    ttl_s = settings.access_token_ttl_s if ttl_s is None else ttl_s
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user.id,
        "tid": user.tenant_id,
        "role": user.role,
        "iat": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        "sid": family_id,
        "ver": user.token_version,
        **(extra or {}),
    }
    token: str = jwt.encode(claims, signer.key, algorithm=ALGORITHM, headers={"kid": signer.kid})
    return token


def _issue_pair(
    session: AsyncSession, *, signer: Signer, settings: IdentitySettings, user: User, family_id: str
) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=hash_refresh_token(refresh),
            family_id=family_id,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    return TokenPair(
        access_token=issue_access_token(signer=signer, settings=settings, user=user, family_id=family_id),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
    )


async def login(
    session: AsyncSession,
    *,
    signer: Signer,
    settings: IdentitySettings,
    passwords: Passwords,
    redis: Redis | None = None,
    email: str,
    password: str,
    client_ip: str,
    tenant_id: str | None = None,
) -> TokenPair:
    """Exchange e-mail and password for a token pair that starts a new refresh family (throttled)."""
    email = normalize_email(email)
    attempt = await throttle.begin(session, email=email, ip=client_ip, now=utcnow())
    lock = await throttle.lock_of(session, settings=settings, attempt=attempt)
    if lock is not None:
        await throttle.withdraw(session, attempt=attempt)
        log.info("auth.login_throttled", extra={"scope": lock.scope, "retry_after_s": lock.retry_after_s})
        raise LoginThrottled(
            "Too many failed logins; try again later.", headers={"Retry-After": str(lock.retry_after_s)}
        )
    stmt = select(User).where(User.email == email)
    if tenant_id is not None:
        stmt = stmt.where(User.tenant_id == tenant_id)
    stmt = stmt.order_by(col(User.created_at)).limit(settings.login_max_accounts_per_email)
    candidates = list((await session.execute(stmt)).scalars())
    await session.commit()  # no transaction stays open across the ~100 ms hash
    if not candidates:
        await passwords.burn_verify(password)
    matched = [u for u in candidates if await passwords.verify(u.password_hash, password) and u.active]
    if not matched:
        await _failed(session, settings=settings, attempt=attempt, candidates=candidates)
        raise InvalidCredentials("The e-mail or password is wrong.")
    await throttle.succeeded(session, attempt=attempt)
    if len(matched) > 1:
        await session.commit()
        raise AmbiguousLogin("This e-mail and password open accounts in several tenants: name `tenant_id`.")
    user = matched[0]
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    pair = _issue_pair(session, signer=signer, settings=settings, user=user, family_id=str(uuid.uuid4()))
    await session.commit()
    log.info("auth.login", extra={"user_id": user.id, "tenant_id": user.tenant_id})
    return pair


async def _failed(
    session: AsyncSession, *, settings: IdentitySettings, attempt: throttle.Attempt, candidates: list[User]
) -> None:
    """Keep the failed attempt; when it starts a lock, tell the accounts' tenants (an event, no e-mail)."""
    await throttle.failed(session, settings=settings, attempt=attempt, now=utcnow())
    lock = await throttle.lock_of(session, settings=settings, attempt=attempt, count_own=True)
    if lock is not None:
        for user in candidates:
            data = LoginThrottledEvent(
                user_id=user.id, scope=lock.scope, failures=lock.failures, retry_after_s=lock.retry_after_s
            )
            stage(
                session,
                new_event(data, source=SOURCE, tenant_id=user.tenant_id, subject=user.id),
            )
    await session.commit()
    log.info(
        "auth.login_failed",
        extra={"user_ids": [u.id for u in candidates], "locked": lock.scope if lock else None},
    )


async def _revoke_family(session: AsyncSession, *, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()


async def refresh(
    session: AsyncSession,
    *,
    signer: Signer,
    settings: IdentitySettings,
    redis: Redis | None = None,
    refresh_token: str,
) -> TokenPair:
    """Rotate a refresh token; presenting a spent one revokes its whole family (it was stolen)."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
    row = (await session.execute(stmt)).scalars().first()
    if row is None:
        raise InvalidRefreshToken("The refresh token is not valid.")
    family_id, now = row.family_id, utcnow()
    if row.used_at is not None or row.revoked_at is not None:
        await _revoke_family(session, family_id=family_id)
        await deny_session(redis, settings=settings, family_id=family_id)
        log.warning(
            "auth.refresh_reused",
            extra={"family_id": family_id, "user_id": row.user_id, "tenant_id": row.tenant_id},
        )
        raise InvalidRefreshToken("The refresh token was already used; its session is revoked.")
    if row.expires_at <= now:
        raise InvalidRefreshToken("The refresh token has expired.")
    # Claim the token atomically: of two concurrent uses of one token, exactly one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.id) == row.id,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        await _revoke_family(session, family_id=family_id)
        await deny_session(redis, settings=settings, family_id=family_id)
        log.warning(
            "auth.refresh_reused",
            extra={"family_id": family_id, "user_id": row.user_id, "tenant_id": row.tenant_id},
        )
        raise InvalidRefreshToken("The refresh token was already used; its session is revoked.")
    stmt_user = select(User).where(User.tenant_id == row.tenant_id, User.id == row.user_id)
    user = (await session.execute(stmt_user)).scalars().first()
    if user is None or not user.active:
        await session.rollback()
        raise InvalidRefreshToken("The refresh token is not valid.")
    pair = _issue_pair(session, signer=signer, settings=settings, user=user, family_id=family_id)
    await session.commit()
    log.info("auth.refreshed", extra={"user_id": user.id, "tenant_id": user.tenant_id})
    return pair


async def logout(
    session: AsyncSession, *, settings: IdentitySettings, redis: Redis | None, principal: Principal
) -> None:
    """End the caller's session: its refresh family is revoked and its access tokens are denied."""
    family_id = principal.session_id
    if family_id is None:
        raise Unauthorized("This token belongs to no session.")
    await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.family_id) == family_id,
            col(RefreshToken.user_id) == principal.user_id,
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    await session.commit()
    await deny_session(redis, settings=settings, family_id=family_id)
    log.info("auth.logout", extra={"user_id": principal.user_id, "tenant_id": principal.tenant_id})
