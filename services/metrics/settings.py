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
    # Fact-table snapshots (`snapshots.py`): one at least this often (and soon after each erasure), the
    # need for one checked every `metrics_snapshot_poll_s`; 0 turns the periodic snapshot off.
    metrics_snapshot_interval_hours: float = 24.0
    metrics_snapshot_poll_s: float = 60.0
