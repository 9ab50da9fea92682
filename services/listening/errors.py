"""listening's errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import NotFound


class MentionNotFound(NotFound):
    type = "https://rapport.dev/problems/mention-not-found"
