"""Login, access tokens (RS256) and refresh tokens (opaque, hashed, rotated, reuse revokes the family)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from datetime import timedelta

from jose import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.identity.errors import InvalidCredentials, InvalidRefreshToken
from services.identity.logic.accounts import normalize_email
from services.identity.logic.keys import Signer
from services.identity.logic.passwords import burn_verify, hash_password, needs_rehash, verify_password
from services.identity.models import RefreshToken, User
from services.identity.schemas import TokenPair
from services.identity.settings import IdentitySettings
from shared.auth import ALGORITHM
from shared.db import utcnow

log = logging.getLogger("rapport.identity.tokens")


def hash_refresh_token(token: str) -> str:
    """What is stored of a refresh token: a leaked table yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(*, signer: Signer, settings: IdentitySettings, user: User) -> str:
    """A signed, short-lived access token for the user."""
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user.id,
        "tid": user.tenant_id,
        "role": user.role,
        "iat": now,
        "exp": now + settings.access_token_ttl_s,
        "jti": str(uuid.uuid4()),
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
        access_token=issue_access_token(signer=signer, settings=settings, user=user),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
    )


async def login(
    session: AsyncSession, *, signer: Signer, settings: IdentitySettings, email: str, password: str
) -> TokenPair:
    """Exchange e-mail and password for a token pair that starts a new refresh family."""
    user = (await session.execute(select(User).where(User.email == normalize_email(email)))).scalars().first()
    if user is None:
        await burn_verify(password)
        log.info("auth.login_failed")
        raise InvalidCredentials("The e-mail or password is wrong.")
    if not await verify_password(user.password_hash, password):
        log.info("auth.login_failed", extra={"user_id": user.id})
        raise InvalidCredentials("The e-mail or password is wrong.")
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    pair = _issue_pair(session, signer=signer, settings=settings, user=user, family_id=str(uuid.uuid4()))
    await session.commit()
    log.info("auth.login", extra={"user_id": user.id, "tenant_id": user.tenant_id})
    return pair


async def _revoke_family(session: AsyncSession, *, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()


async def refresh(
    session: AsyncSession, *, signer: Signer, settings: IdentitySettings, refresh_token: str
) -> TokenPair:
    """Rotate a refresh token; presenting a spent one revokes its whole family (it was stolen)."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
    row = (await session.execute(stmt)).scalars().first()
    if row is None:
        raise InvalidRefreshToken("The refresh token is not valid.")
    family_id, now = row.family_id, utcnow()
    if row.used_at is not None or row.revoked_at is not None:
        await _revoke_family(session, family_id=family_id)
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
        log.warning(
            "auth.refresh_reused",
            extra={"family_id": family_id, "user_id": row.user_id, "tenant_id": row.tenant_id},
        )
        raise InvalidRefreshToken("The refresh token was already used; its session is revoked.")
    stmt_user = select(User).where(User.tenant_id == row.tenant_id, User.id == row.user_id)
    user = (await session.execute(stmt_user)).scalars().first()
    if user is None:
        await session.rollback()
        raise InvalidRefreshToken("The refresh token is not valid.")
    pair = _issue_pair(session, signer=signer, settings=settings, user=user, family_id=family_id)
    await session.commit()
    log.info("auth.refreshed", extra={"user_id": user.id, "tenant_id": user.tenant_id})
    return pair
