"""engagement's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable


class ConversationNotFound(NotFound):
    type = "https://rapport.dev/problems/conversation-not-found"


class InvalidConversationUpdate(Unprocessable):
    type = "https://rapport.dev/problems/invalid-conversation-update"


class ConversationConflict(Conflict):
    type = "https://rapport.dev/problems/conversation-conflict"


class SlaPolicyNotFound(NotFound):
    type = "https://rapport.dev/problems/sla-policy-not-found"


class RoutingRuleNotFound(NotFound):
    type = "https://rapport.dev/problems/routing-rule-not-found"


class InvalidRoutingRule(Unprocessable):
    type = "https://rapport.dev/problems/invalid-routing-rule"
