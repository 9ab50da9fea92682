"""Settings of the engagement service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from shared.settings import Settings


class EngagementSettings(Settings):
    """engagement's knobs on top of the shared settings."""

    service: str = "engagement"
