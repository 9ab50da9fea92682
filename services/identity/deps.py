"""identity's request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

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


SettingsDep = Annotated[IdentitySettings, Depends(get_settings)]
SignerDep = Annotated[Signer, Depends(get_signer)]
AnyUserDep = Annotated[Principal, Depends(require_roles(*ROLES))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]
