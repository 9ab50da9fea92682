"""identity's routes: signup, login and API-key exchange, refresh, logout, the caller, users of the
tenant, API keys, and the JWKS."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Cookie, Header, Query, Request, Response

from services.identity import cookies
from services.identity.deps import (
    AdminDep,
    AnyUserDep,
    ClientIPDep,
    PasswordsDep,
    RedisDep,
    SettingsDep,
    SignerDep,
    TokenGrantDep,
)
from services.identity.logic import accounts, api_keys, keys, tokens
from services.identity.schemas import (
    AccessToken,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    ClientCredentialsRequest,
    ClientToken,
    JWKSet,
    RefreshRequest,
    SignupRead,
    TenantCreate,
    TokenPair,
    TokenRequest,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from shared.events.contracts import Role
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

router = APIRouter(tags=["identity"])

# The session cookie a cookie login, a cookie refresh and a logout set or clear (`cookies.py`).
_SET_COOKIE = {
    "Set-Cookie": {
        "description": "`rapport_refresh`: the refresh token of a cookie session (HttpOnly, SameSite=Strict, "
        "Path=/v1/auth/refresh), or its removal (`Max-Age=0`).",
        "schema": {"type": "string"},
    }
}


def _no_store(response: Response) -> None:
    # Token responses must not be cached by anything on the way (RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


@router.post(
    "/v1/tenants",
    status_code=201,
    response_model=SignupRead,
    operation_id="create_tenant",
    summary="Sign up a tenant",
    responses=problems(403, 409),
)
async def create_tenant(
    tenant_in: TenantCreate, session: SessionDep, settings: SettingsDep, passwords: PasswordsDep
) -> SignupRead:
    """Sign up: create a tenant and its owner."""
    return await accounts.signup(session, settings=settings, passwords=passwords, tenant_in=tenant_in)


def _token_body() -> dict[str, Any]:
    """The token endpoint's two bodies, as JSON and as the OAuth 2.0 form (read by `token_grant`)."""
    login, client = TokenRequest.model_json_schema(), ClientCredentialsRequest.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [login, client]}},
                "application/x-www-form-urlencoded": {"schema": {"oneOf": [login, client]}},
            },
        }
    }


@router.post(
    "/v1/auth/token",
    response_model=TokenPair | AccessToken | ClientToken,
    operation_id="create_token",
    summary="Log in, or exchange an API key for a token",
    responses={200: {"headers": _SET_COOKIE}, **problems(400, 401, 403, 409, 429)},
    openapi_extra=_token_body(),
)
async def create_token(
    grant: TokenGrantDep,
    session: SessionDep,
    settings: SettingsDep,
    signer: SignerDep,
    passwords: PasswordsDep,
    redis: RedisDep,
    client_ip: ClientIPDep,
    request: Request,
    response: Response,
) -> TokenPair | AccessToken | ClientToken:
    """Log in with e-mail and password (a token pair), or exchange an API key (`grant_type=
    client_credentials`, `client_id` = the key's id, `client_secret` = the key) for an access token.

    The client's id and key may come in the body (JSON or form) or as HTTP Basic credentials
    (`Authorization: Basic base64(id:key)`, OAuth's `client_secret_basic`), not both.

    A login with `"session": "cookie"` (browsers) answers the access token alone and sets the refresh
    token as the HttpOnly cookie `rapport_refresh`, scoped to `/v1/auth/refresh`."""
    _no_store(response)
    if isinstance(grant, ClientCredentialsRequest):
        return await api_keys.exchange(
            session, signer=signer, settings=settings, grant=grant, client_ip=client_ip
        )
    if grant.session == "cookie":
        cookies.same_origin(request.headers, scheme=request.url.scheme, settings=settings)
    pair = await tokens.login(
        session,
        signer=signer,
        settings=settings,
        passwords=passwords,
        redis=redis,
        email=grant.email,
        password=grant.password,
        tenant_id=grant.tenant_id,
        client_ip=client_ip,
    )
    if grant.session == "cookie":
        return cookies.hand_over(pair, headers=response.headers, settings=settings)
    return pair


@router.post(
    "/v1/auth/refresh",
    response_model=TokenPair | AccessToken,
    operation_id="create_refreshed_token",
    summary="Refresh a token pair",
    responses={200: {"headers": _SET_COOKIE}, **problems(401, 403)},
)
async def refresh_token(
    session: SessionDep,
    settings: SettingsDep,
    signer: SignerDep,
    redis: RedisDep,
    request: Request,
    response: Response,
    refresh_in: RefreshRequest | None = None,
    rapport_refresh: str | None = Cookie(
        None, description="The refresh token of a cookie session, used when there is no body."
    ),
    x_csrf: str | None = Header(
        None, alias="X-CSRF", description="`1`: required with the cookie (a foreign page cannot set it)."
    ),
) -> TokenPair | AccessToken:
    """Exchange a refresh token for a new pair (the old refresh token is spent).

    Without a body, the `rapport_refresh` cookie is rotated instead (with `X-CSRF: 1`, from the API's
    own origin): the answer is the access token and a new cookie; a refused cookie is cleared."""
    _no_store(response)
    if refresh_in is not None:
        return await tokens.refresh(
            session, signer=signer, settings=settings, redis=redis, refresh_token=refresh_in.refresh_token
        )
    return await cookies.refresh(
        session,
        signer=signer,
        settings=settings,
        redis=redis,
        request_headers=request.headers,
        scheme=request.url.scheme,
        cookie=rapport_refresh,
        csrf=x_csrf,
        headers=response.headers,
    )


@router.post(
    "/v1/auth/logout",
    status_code=204,
    operation_id="delete_session",
    summary="Log out",
    responses={204: {"description": "The session ended.", "headers": _SET_COOKIE}},
)
async def logout(
    principal: AnyUserDep, session: SessionDep, settings: SettingsDep, redis: RedisDep
) -> Response:
    """End the caller's session: its refresh token and access tokens stop working, and the browser
    drops the session cookie."""
    await tokens.logout(session, settings=settings, redis=redis, principal=principal)
    return Response(status_code=204, headers={"set-cookie": cookies.cleared_cookie(settings=settings)})


@router.get(
    "/v1/me",
    response_model=UserRead,
    operation_id="get_current_user",
    summary="Get the calling user",
    responses=problems(404),
)
async def read_me(principal: AnyUserDep, reader: ReaderDep) -> UserRead:
    """The calling user."""
    return await accounts.get_user(reader, tenant_id=principal.tenant_id, user_id=principal.user_id)


@router.post(
    "/v1/users",
    status_code=201,
    response_model=UserRead,
    operation_id="create_user",
    summary="Add a user",
    responses=problems(403, 409),
)
async def create_user(
    user_in: UserCreate, principal: AdminDep, session: SessionDep, passwords: PasswordsDep
) -> UserRead:
    """Add a user to the caller's tenant (owners and admins; only owners create admins)."""
    return await accounts.create_user(session, passwords=passwords, principal=principal, user_in=user_in)


@router.get("/v1/users", response_model=UserPage, operation_id="list_users", summary="List users")
async def list_users(
    principal: AdminDep,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    role: Role | None = Query(None),
) -> UserPage:
    """The tenant's users, newest first, optionally filtered by role."""
    return await accounts.list_users(
        reader, tenant_id=principal.tenant_id, role=role, limit=limit, cursor=cursor
    )


@router.get(
    "/v1/users/{user_id}",
    response_model=UserRead,
    operation_id="get_user",
    summary="Get a user",
    responses=problems(404),
)
async def read_user(user_id: str, principal: AdminDep, reader: ReaderDep) -> UserRead:
    """One user of the caller's tenant."""
    return await accounts.get_user(reader, tenant_id=principal.tenant_id, user_id=user_id)


@router.patch(
    "/v1/users/{user_id}",
    response_model=UserRead,
    operation_id="update_user",
    summary="Update a user",
    responses=problems(403, 404, 409),
)
async def update_user(
    user_id: str,
    user_in: UserUpdate,
    principal: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
) -> UserRead:
    """Change a user's role or deactivate them (their sessions end at once)."""
    return await accounts.update_user(
        session, settings=settings, redis=redis, principal=principal, user_id=user_id, user_in=user_in
    )


@router.post(
    "/v1/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    operation_id="create_api_key",
    summary="Make an API key",
    responses=problems(403),
)
async def create_api_key(key_in: ApiKeyCreate, principal: AnyUserDep, session: SessionDep) -> ApiKeyCreated:
    """Make an API key with scopes your role may grant; the key is in this answer only."""
    return await api_keys.create_key(session, principal=principal, key_in=key_in)


@router.get("/v1/api-keys", response_model=ApiKeyPage, operation_id="list_api_keys", summary="List API keys")
async def list_api_keys(
    principal: AnyUserDep, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> ApiKeyPage:
    """API keys, newest first: the tenant's for owners and admins, your own for anyone else."""
    return await api_keys.list_keys(reader, principal=principal, limit=limit, cursor=cursor)


@router.get(
    "/v1/api-keys/{key_id}",
    response_model=ApiKeyRead,
    operation_id="get_api_key",
    summary="Get an API key",
    responses=problems(404),
)
async def read_api_key(key_id: str, principal: AnyUserDep, reader: ReaderDep) -> ApiKeyRead:
    """One API key (never the key itself)."""
    return await api_keys.get_key(reader, principal=principal, key_id=key_id)


@router.delete(
    "/v1/api-keys/{key_id}",
    status_code=204,
    operation_id="delete_api_key",
    summary="Revoke an API key",
    responses=problems(404),
)
async def revoke_api_key(
    key_id: str, principal: AnyUserDep, session: SessionDep, settings: SettingsDep, redis: RedisDep
) -> Response:
    """Revoke an API key: it gets no new token and its tokens stop working within a second (it stays
    listed, with `revoked_at`)."""
    await api_keys.revoke_key(session, settings=settings, redis=redis, principal=principal, key_id=key_id)
    return Response(status_code=204)


@router.get(
    "/.well-known/jwks.json", response_model=JWKSet, operation_id="get_jwks", summary="Get the token keys"
)
async def read_jwks(session: SessionDep, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (public)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return await keys.jwks(session)
