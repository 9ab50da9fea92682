"""identity's request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from services.identity.logic.keys import Signer
from services.identity.settings import IdentitySettings
from shared.auth import ADMINS, ROLES, Principal, require_roles
from shared.service import RuntimeDep


async def get_settings(rt: RuntimeDep) -> IdentitySettings:
    settings = rt.settings
    assert isinstance(settings, IdentitySettings)
    return settings


async def get_signer(rt: RuntimeDep) -> Signer:
    signer: Signer = rt.extra["signer"]
    return signer


async def get_redis(rt: RuntimeDep) -> Redis | None:
    redis: Redis | None = rt.extra.get("redis")
    return redis


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
AnyUserDep = Annotated[Principal, Depends(require_roles(*ROLES))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
RedisDep = Annotated[Redis | None, Depends(get_redis)]
ClientIPDep = Annotated[str, Depends(get_client_ip)]
