"""identity consumes no events: it only produces `identity.*`."""

from __future__ import annotations

from typing import Any

from shared.service import Subscription

SUBSCRIPTIONS: list[Subscription[Any]] = []
