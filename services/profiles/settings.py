"""profiles' settings (env prefix `RAPPORT_`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class ProfilesSettings(Settings):
    """What the profiles service needs to know."""

    service: str = "profiles"
    # Mentions arrive one post at a time; a batch's statements cost the same for one mention as for 64,
    # so profiles' consumers wait this long (ms) to fill a batch (`RAPPORT_CONSUMER_LINGER_MS`).
    # Its readers' clocks run in minutes (SLAs, segments): the latency is worth the CPU it saves.
    consumer_linger_ms: float = 200.0
    # How often profiles checks that the consent projection is whole (`consent:ready` in Redis), and
    # rebuilds it from the ledger when it is not (a flushed or new Redis).
    consent_ready_check_s: float = 5.0
    # A completed export's bundle (every service's parts) is deleted this many days after it completed
    # (`RAPPORT_EXPORT_KEEP_DAYS`); the request's record stays, `expired`.
    export_keep_days: float = Field(default=30.0, gt=0)
    # Persons projected per Redis round trip by a rebuild.
    consent_rebuild_batch: int = 500
