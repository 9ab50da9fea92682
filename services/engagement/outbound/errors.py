"""Errors of outbound webhooks, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Conflict, NotFound


class SubscriptionNotFound(NotFound):
    type = "https://rapport.dev/problems/webhook-subscription-not-found"


class DeliveryNotFound(NotFound):
    type = "https://rapport.dev/problems/webhook-delivery-not-found"


class NotReplayable(Conflict):
    type = "https://rapport.dev/problems/webhook-delivery-not-replayable"


class SubscriptionInactive(Conflict):
    type = "https://rapport.dev/problems/webhook-subscription-inactive"
