"""metrics' consumers: one per stream it reads, each folding a fetched batch into the fact tables in one
transaction, in stream order.

One durable per stream rather than one per event type: idle pull consumers cost CPU, and a batch of a
stream's events is folded in one transaction. No inbox rows: every fold is idempotent by itself (rows
keyed by the events' ids, inserts that leave a known row alone, fields that only an event at least as
recent may overwrite: see `logic/facts.py`), so a redelivered event changes nothing, and a batch of events
metrics does not fold (messages, replies, profiles' per-mention updates) writes nothing at all.
"""

from __future__ import annotations

from typing import Any

from services.metrics.logic import facts
from services.metrics.privacy import erase_person, export_person
from shared.events.contracts import Contract
from shared.privacy import privacy_subscriptions
from shared.service import Subscription

# The folding consumers wait this long (ms) to fill a short batch: a batch's statements (the rollups read
# and written, the transaction) cost about the same for one event as for 64, and events reach metrics in
# trickles (engagement's, one per post). The scorecard's figures lag by that much more.
FOLD_LINGER_MS = 200.0

SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(
        durable="metrics-listening",
        event=Contract,
        subject="listening.>",
        batch_handler=facts.on_listening,
        inbox=False,
        linger_ms=FOLD_LINGER_MS,
    ),
    Subscription(
        durable="metrics-profile-events",
        event=Contract,
        subject="profiles.profile.>",
        batch_handler=facts.on_profiles,
        inbox=False,
        linger_ms=FOLD_LINGER_MS,
    ),
    Subscription(
        durable="metrics-engagement",
        event=Contract,
        subject="engagement.>",
        batch_handler=facts.on_engagement,
        inbox=False,
        linger_ms=FOLD_LINGER_MS,
    ),
    # privacy.export.requested / privacy.erasure.requested: what the fact tables hold about the person.
    *privacy_subscriptions("metrics", export_person=export_person, erase_person=erase_person),
]
