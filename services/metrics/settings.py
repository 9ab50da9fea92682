"""Settings of the metrics service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from shared.settings import Settings


class MetricsSettings(Settings):
    """metrics' knobs on top of the shared settings."""

    service: str = "metrics"
    # The currency customer lifetime values are reported in (orders in others are reported apart); a
    # request may ask for another with `currency`.
    metrics_currency: str = "EUR"
    # Social conversion: a profile first seen on social converted when its first order came within this.
    conversion_window_days: int = 30
