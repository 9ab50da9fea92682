"""profiles' settings (env prefix `RAPPORT_`)."""

from __future__ import annotations

from shared.settings import Settings


class ProfilesSettings(Settings):
    """What the profiles service needs to know."""

    service: str = "profiles"
