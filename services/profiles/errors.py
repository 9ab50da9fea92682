"""profiles' errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import NotFound


class ProfileNotFound(NotFound):
    type = "https://rapport.dev/problems/profile-not-found"
