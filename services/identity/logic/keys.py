"""RSA signing keys: created once, shared by every replica through the database, published as JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk
from jose.backends.base import Key
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.identity.models import SigningKey
from shared.auth import ALGORITHM

log = logging.getLogger("rapport.identity.keys")


@dataclass(frozen=True)
class Signer:
    """The key this process signs with, parsed once (parsing a PEM per token costs more than signing)."""

    kid: str
    key: Key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _generate() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    n, e = _b64url_uint(numbers.n), _b64url_uint(numbers.e)
    # RFC 7638 thumbprint: a kid derived from the key itself.
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = {"kty": "RSA", "kid": kid, "use": "sig", "alg": ALGORITHM, "n": n, "e": e}
    return SigningKey(kid=kid, private_pem=pem, public_jwk=json.dumps(public))


async def _active_keys(session: AsyncSession) -> list[SigningKey]:
    stmt = (
        select(SigningKey)
        .where(col(SigningKey.active).is_(True))
        .order_by(col(SigningKey.created_at), col(SigningKey.kid))
    )
    return list((await session.execute(stmt)).scalars().all())


async def ensure_signing_key(sessions: async_sessionmaker[AsyncSession]) -> Signer:
    """Load the signing key, generating and storing one on the very first start."""
    async with sessions() as session:
        keys = await _active_keys(session)
        if not keys:
            session.add(await asyncio.to_thread(_generate))
            await session.commit()
            log.info("signing_key.generated")
            keys = await _active_keys(session)
    # Replicas racing on the first start may each store a key: all are published, the oldest signs.
    chosen = keys[0]
    return Signer(kid=chosen.kid, key=jwk.construct(chosen.private_pem, ALGORITHM))


async def jwks(session: AsyncSession) -> dict[str, Any]:
    """The public JWK set of every active key."""
    return {"keys": [json.loads(k.public_jwk) for k in await _active_keys(session)]}
