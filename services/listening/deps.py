"""listening's request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.listening.settings import ListeningSettings
from services.listening.state import ListeningState
from shared.service import state_dependency

ListeningStateDep = Annotated[ListeningState, Depends(state_dependency(ListeningState))]


async def get_settings(state: ListeningStateDep) -> ListeningSettings:
    return state.settings


SettingsDep = Annotated[ListeningSettings, Depends(get_settings)]
