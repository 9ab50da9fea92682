"""identity's request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from services.identity.logic.keys import Signer
from services.identity.logic.passwords import Passwords
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


SettingsDep = Annotated[IdentitySettings, Depends(get_settings)]
SignerDep = Annotated[Signer, Depends(get_signer)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
AnyUserDep = Annotated[Principal, Depends(require_roles(*ROLES))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
RedisDep = Annotated[Redis, Depends(get_redis)]
ClientIPDep = Annotated[str, Depends(get_client_ip)]
