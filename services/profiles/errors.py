"""profiles' errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError


class ProfileNotFound(NotFound):
    type = "https://rapport.dev/problems/profile-not-found"


class OrderConflict(Conflict):
    """An order id the tenant already posted, now with another amount, currency, time or profile."""

    type = "https://rapport.dev/problems/order-conflict"


class ImportTooLarge(ProblemError):
    status = 413
    type = "https://rapport.dev/problems/import-too-large"


class UnsupportedImportType(ProblemError):
    status = 415
    type = "https://rapport.dev/problems/unsupported-import-type"
