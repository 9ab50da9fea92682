"""engagement's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import NotFound


class ConversationNotFound(NotFound):
    type = "https://rapport.dev/problems/conversation-not-found"
