"""listening's settings (env prefix `RAPPORT_`)."""

from __future__ import annotations

from shared.settings import Settings


class ListeningSettings(Settings):
    """What the listening service needs to know."""

    service: str = "listening"
