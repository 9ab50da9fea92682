"""Cookie sessions for browsers: the refresh token lives in an HttpOnly cookie, the access token in memory.

A login with `"session": "cookie"` answers the access token alone and sets `rapport_refresh` (HttpOnly,
SameSite=Strict, Path=/v1/auth/refresh, Secure unless `cookie_secure` is off). `POST /v1/auth/refresh`
without a body then rotates the cookie. A request that relies on a cookie is one a foreign page could
make the browser send, so it must also carry `X-CSRF: 1` (a header no form can set, and that a
cross-origin script may only send after a CORS preflight the gateway does not admit) and, when the
browser names its `Origin`, come from the API's own origin. The origin check is here rather than in the
gateway: identity owns the cookie and its other checks, and the gateway tells it the origin the browser
saw (`X-Forwarded-Proto` and `X-Forwarded-Host`, which it sets itself and never takes from a client).
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers, MutableHeaders

from services.identity.errors import CsrfRefused, InvalidRefreshToken
from services.identity.logic import tokens
from services.identity.logic.keys import Signer
from services.identity.schemas import AccessToken, TokenPair
from services.identity.settings import IdentitySettings

REFRESH_COOKIE = "rapport_refresh"
REFRESH_PATH = "/v1/auth/refresh"


def refresh_cookie(value: str, *, settings: IdentitySettings, max_age: int | None = None) -> str:
    """The `Set-Cookie` value carrying a refresh token (or clearing it: an empty value, `max_age=0`)."""
    age = settings.refresh_token_ttl_s if max_age is None else max_age
    parts = [
        f"{REFRESH_COOKIE}={value}",
        "HttpOnly",
        f"Max-Age={age}",
        f"Path={REFRESH_PATH}",
        "SameSite=Strict",
    ]
    if settings.cookie_secure:
        parts.append("Secure")
    return "; ".join(parts)


def cleared_cookie(*, settings: IdentitySettings) -> str:
    """The `Set-Cookie` value that makes the browser drop the refresh cookie."""
    return refresh_cookie("", settings=settings, max_age=0)


def same_origin(headers: Headers, *, scheme: str, settings: IdentitySettings) -> None:
    """Refuse (403) a request whose `Origin` is not the API's own; one without `Origin` passes (not a
    browser's cross-origin request: browsers name the origin of every cross-origin POST)."""
    origin = headers.get("origin")
    if origin is None:
        return
    forwarded = settings.trust_forwarded_for and headers.get("x-forwarded-host") is not None
    if forwarded:
        own = f"{headers.get('x-forwarded-proto', scheme)}://{headers['x-forwarded-host']}"
    else:
        own = f"{scheme}://{headers.get('host', '')}"
    if origin.strip().lower() != own.lower():
        raise CsrfRefused("This request must come from the API's own origin.")


def hand_over(pair: TokenPair, *, headers: MutableHeaders, settings: IdentitySettings) -> AccessToken:
    """The answer of a cookie session: the refresh token goes into `Set-Cookie`, not the body."""
    headers["set-cookie"] = refresh_cookie(pair.refresh_token, settings=settings)
    return AccessToken(access_token=pair.access_token, expires_in=pair.expires_in)


async def refresh(
    session: AsyncSession,
    *,
    signer: Signer,
    settings: IdentitySettings,
    redis: Redis,
    request_headers: Headers,
    scheme: str,
    cookie: str | None,
    csrf: str | None,
    headers: MutableHeaders,
) -> AccessToken:
    """Rotate the refresh cookie: CSRF header and origin first (a refusal changes nothing), then the
    rotation as for a body; a missing, unknown, spent or expired cookie is a 401 that clears it."""
    if csrf != "1":
        raise CsrfRefused("A refresh with the session cookie needs the header `X-CSRF: 1`.")
    same_origin(request_headers, scheme=scheme, settings=settings)
    try:
        if not cookie:
            raise InvalidRefreshToken("No refresh token: send it in the body or the session cookie.")
        pair = await tokens.refresh(
            session, signer=signer, settings=settings, redis=redis, refresh_token=cookie
        )
    except InvalidRefreshToken as exc:
        exc.headers["set-cookie"] = cleared_cookie(settings=settings)
        raise
    return hand_over(pair, headers=headers, settings=settings)
