"""The wake-up events of one listening app: a commit that leaves work for a background task sets one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wakeups:
    """Each event wakes one task of this app at once (each also polls, for other replicas' work)."""

    # Mentions stored as pending: the analysis worker (logic.analysing).
    analysis: asyncio.Event = field(default_factory=asyncio.Event)
    # Mentions queued to fetch from the platform's API: the reference fetcher (logic.pulling).
    fetch: asyncio.Event = field(default_factory=asyncio.Event)
    # A query backfill started: the backfill task (logic.backfill).
    backfill: asyncio.Event = field(default_factory=asyncio.Event)
