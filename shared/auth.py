"""Access-token verification against identity's JWKS, with verified claims cached until `exp`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

from shared.errors import PROBLEMS, Forbidden, ServiceUnavailable, Unauthorized
from shared.logging import set_tenant
from shared.scopes import parse_scope, required_scope

ALGORITHM = "RS256"
ROLES = ("owner", "admin", "agent", "analyst", "integration")
# python-jose accepts tokens without these claims unless told to require them.
REQUIRED = {
    "require_aud": True,
    "require_exp": True,
    "require_iat": True,
    "require_sub": True,
    "require_iss": True,
}

JWKSSource = Callable[[], Awaitable[dict[str, Any]]]


class TokenRevoked(Unauthorized):
    """A valid token whose session, user version or API key is on the revocation deny-list."""

    type = PROBLEMS + "token-revoked"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (or integration) of one tenant with one role, or an API key of a user."""

    user_id: str
    tenant_id: str
    role: str
    expires_at: int
    # The refresh family the token belongs to (`sid`) and the user's token version (`ver`): what the
    # revocation deny-list is keyed by.
    session_id: str | None = None
    token_version: int = 0
    # A token exchanged for an API key: the key's scopes (`scope` claim), `session_id` its key id and the
    # other fields its creator's. None for a person's token (admitted by role alone).
    scopes: frozenset[str] | None = None

    def admits(self, scope: str | None) -> bool:
        """Whether a key's token carries `scope` (None: a route no key may call); a person's: always."""
        return self.scopes is None or (scope is not None and scope in self.scopes)


def jwks_from_url(url: str, *, timeout: float = 5.0) -> JWKSSource:
    """A JWKS source that fetches identity's published key set."""

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    return fetch


class TokenVerifier:
    """Verifies RS256 access tokens; keys are chosen by `kid`, never by trying every key."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JWKSSource,
        cache_size: int = 50_000,
        refresh_after_s: float = 300.0,
        min_refetch_s: float = 5.0,
        revoked: Callable[[Principal], bool] | None = None,
    ) -> None:
        self.issuer = issuer
        # The deny-list check of `current_principal` (`shared/revocation.py` `RevocationList.revoked`);
        # the gateway checks its own mirror in its proxy instead.
        self.revoked = revoked or _never
        self.audience = audience
        self._source = jwks
        self._keys: dict[str, Key] = {}
        self._fetched_at = 0.0
        self._refresh_after_s = refresh_after_s
        self._min_refetch_s = min_refetch_s
        self._lock = asyncio.Lock()
        # Verified claims by token: bounded to `cache_size` tokens (the oldest dropped first), each kept
        # until its `exp` at most.
        self._cache: dict[str, Principal] = {}
        self._cache_size = cache_size

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if (force and age < self._min_refetch_s) or (not force and age < self._refresh_after_s):
                return
            try:
                data = await self._source()
            except Exception as exc:
                if not self._keys:
                    raise ServiceUnavailable("The token keys could not be loaded.") from exc
                return
            keys: dict[str, Key] = {}
            for item in data.get("keys", []):
                if item.get("kty") == "RSA" and item.get("alg", ALGORITHM) == ALGORITHM and "kid" in item:
                    keys[item["kid"]] = jwk.construct(item, ALGORITHM)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> Key:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("The token was signed by an unknown key.") from None

    async def verify(self, token: str) -> Principal:
        """Return the token's principal or raise `Unauthorized`."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > now:
                return cached
            del self._cache[token]
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise Unauthorized("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("The token's algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("The token names no key.")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options=REQUIRED,
            )
        except JOSEError:
            raise Unauthorized("The token is invalid or expired.") from None
        tenant_id, role = claims.get("tid"), claims.get("role")
        if not isinstance(tenant_id, str) or role not in ROLES:
            raise Unauthorized("The token lacks a tenant or role.")
        sid, ver = claims.get("sid"), claims.get("ver", 0)
        principal = Principal(
            user_id=str(claims["sub"]),
            tenant_id=tenant_id,
            role=str(role),
            expires_at=int(claims["exp"]),
            session_id=sid if isinstance(sid, str) else None,
            token_version=ver if isinstance(ver, int) else 0,
            scopes=parse_scope(claims.get("scope")),
        )
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = principal
        return principal


def _never(_: Principal) -> bool:
    return False


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or `Unauthorized`."""
    if not authorization:
        raise Unauthorized("A bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The verified, unrevoked caller of this request (every service verifies: no forged header is
    trusted, and a revoked session's or API key's token is refused here too)."""
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(bearer_token(request.headers.get("authorization")))
    if verifier.revoked(principal):
        raise TokenRevoked("The token's session has ended.")
    # This request's logs name its tenant (the request runs in one task: its context ends with it).
    set_tenant(principal.tenant_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits only the given roles; a key's token also needs the path's scope."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    # Verifies the token itself rather than depending on `current_principal`: one dependency to solve
    # per request instead of two (the verifier's cache makes a second verification in a route that
    # also asks for `PrincipalDep` a dictionary look-up).
    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.role not in roles:
            raise Forbidden("Your role may not do this.")
        # A key's token also needs the path's scope (`shared/scopes.py`); its role is its creator's.
        if principal.scopes is not None and not principal.admits(
            required_scope(request.method, request.url.path)
        ):
            raise Forbidden("The API key's scopes do not include what this route needs.")
        return principal

    return dependency


# Common role sets, named once.
STAFF = ("owner", "admin", "agent", "analyst")
ADMINS = ("owner", "admin")
INGEST = ("owner", "admin", "agent", "integration")
