"""Settings of the metrics service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from shared.settings import Settings


class MetricsSettings(Settings):
    """metrics' knobs on top of the shared settings."""

    service: str = "metrics"
