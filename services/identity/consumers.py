"""identity consumes no events: it only produces `identity.*`."""

from __future__ import annotations

from shared.service import Subscription

SUBSCRIPTIONS: list[Subscription] = []
