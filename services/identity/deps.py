"""identity's request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from services.identity.errors import InvalidClient, InvalidRequest, UnsupportedGrantType
from services.identity.logic.keys import Signer
from services.identity.logic.passwords import Passwords
from services.identity.schemas import ClientCredentialsRequest, TokenRequest
from services.identity.settings import IdentitySettings
from services.identity.state import IdentityState
from shared.auth import ADMINS, ROLES, Principal, require_roles
from shared.service import state_dependency

IdentityStateDep = Annotated[IdentityState, Depends(state_dependency(IdentityState))]


async def get_settings(state: IdentityStateDep) -> IdentitySettings:
    return state.settings


async def get_signer(state: IdentityStateDep) -> Signer:
    return state.signer


async def get_redis(state: IdentityStateDep) -> Redis:
    return state.redis


async def get_passwords(state: IdentityStateDep) -> Passwords:
    return state.passwords


async def get_client_ip(
    request: Request, settings: Annotated[IdentitySettings, Depends(get_settings)]
) -> str:
    """The caller's address: the one the gateway put last in `X-Forwarded-For`, else the peer's."""
    forwarded = request.headers.get("x-forwarded-for") if settings.trust_forwarded_for else None
    if forwarded:
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.client.host if request.client else "unknown"


FORM = "application/x-www-form-urlencoded"
# A token request body is small; anything larger is refused before it is parsed.
MAX_TOKEN_BODY = 8192


def _invalid(kind: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": msg}])


def _basic_credentials(authorization: str | None) -> dict[str, str] | None:
    """`client_id` and `client_secret` from `Authorization: Basic …` (RFC 6749 §2.3.1), or None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are malformed.") from None
    if not sep:
        raise InvalidClient("The Basic credentials are malformed.")
    return {"client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)}


async def token_grant(request: Request) -> TokenRequest | ClientCredentialsRequest:
    """The body of `POST /v1/auth/token`, as JSON or as an OAuth form: a login (e-mail and password,
    no `grant_type`) or an API key's client credentials (`grant_type=client_credentials`, the key's id
    and secret in the body or as HTTP Basic)."""
    raw = await request.body()
    if len(raw) > MAX_TOKEN_BODY:
        raise _invalid("too_long", "The body is too large.")
    data: Any
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            data = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw)))
        except (UnicodeDecodeError, ValueError):
            raise _invalid("form_invalid", "The form body is not valid.") from None
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            raise _invalid("json_invalid", "The body is not valid JSON.") from None
    grant_type = data.get("grant_type") if isinstance(data, dict) else None
    model: type[BaseModel] = TokenRequest
    if grant_type == "client_credentials":
        model = ClientCredentialsRequest
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:
            if "client_id" in data or "client_secret" in data:
                raise InvalidRequest("Send the client credentials in the header or in the body, not both.")
            data = {**data, **basic}
    elif grant_type is not None:
        raise UnsupportedGrantType("Only `grant_type=client_credentials` is accepted (or a login).")
    try:
        grant = model.model_validate(data)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors()]
        raise RequestValidationError(errors) from None
    assert isinstance(grant, TokenRequest | ClientCredentialsRequest)
    return grant


SettingsDep = Annotated[IdentitySettings, Depends(get_settings)]
SignerDep = Annotated[Signer, Depends(get_signer)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
AnyUserDep = Annotated[Principal, Depends(require_roles(*ROLES))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
RedisDep = Annotated[Redis, Depends(get_redis)]
ClientIPDep = Annotated[str, Depends(get_client_ip)]
TokenGrantDep = Annotated[TokenRequest | ClientCredentialsRequest, Depends(token_grant)]
