"""metrics' errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Unprocessable


class InvalidPeriod(Unprocessable):
    type = "https://rapport.dev/problems/invalid-period"
