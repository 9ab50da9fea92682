"""metrics' consumers: one per stream it reads, each folding its new events into the fact tables in one
transaction with their inbox rows (a redelivered event is not folded twice), in stream order.

One durable per stream rather than one per event type: idle pull consumers cost CPU, and a batch of a
stream's events is folded in one transaction.
"""

from __future__ import annotations

from typing import Any

from services.metrics.logic import facts
from shared.events.contracts import Contract
from shared.service import Subscription

SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(
        durable="metrics-listening", event=Contract, subject="listening.>", batch_handler=facts.on_listening
    ),
    Subscription(
        durable="metrics-profile-events",
        event=Contract,
        subject="profiles.profile.>",
        batch_handler=facts.on_profiles,
    ),
    Subscription(
        durable="metrics-engagement",
        event=Contract,
        subject="engagement.>",
        batch_handler=facts.on_engagement,
    ),
]
