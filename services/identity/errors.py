"""identity's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from typing import Any

from shared.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized


class SignupDisabled(Forbidden):
    type = "https://rapport.dev/problems/signup-disabled"


class EmailTaken(Conflict):
    type = "https://rapport.dev/problems/email-taken"


class InvalidCredentials(Unauthorized):
    type = "https://rapport.dev/problems/invalid-credentials"


class InvalidRefreshToken(Unauthorized):
    type = "https://rapport.dev/problems/invalid-refresh-token"


class CsrfRefused(Forbidden):
    """A request relying on the session cookie without the `X-CSRF` header, or from a foreign origin."""

    type = "https://rapport.dev/problems/csrf"


class RoleNotGrantable(Forbidden):
    type = "https://rapport.dev/problems/role-not-grantable"


class UserNotFound(NotFound):
    type = "https://rapport.dev/problems/user-not-found"


class LoginThrottled(TooManyRequests):
    type = "https://rapport.dev/problems/login-throttled"


class AmbiguousLogin(Conflict):
    type = "https://rapport.dev/problems/ambiguous-login"


class UserChangeRefused(Conflict):
    type = "https://rapport.dev/problems/user-change-refused"


class ScopeNotGrantable(Forbidden):
    type = "https://rapport.dev/problems/scope-not-grantable"


class ApiKeyNotFound(NotFound):
    type = "https://rapport.dev/problems/api-key-not-found"


class InvalidClient(Unauthorized):
    """An unknown, wrong, revoked or expired API key at the token endpoint (OAuth `invalid_client`)."""

    type = "https://rapport.dev/problems/invalid-client"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error="invalid_client", **extra)


class InvalidScope(BadRequest):
    """A token request naming a scope its key does not hold (OAuth `invalid_scope`)."""

    type = "https://rapport.dev/problems/invalid-scope"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error="invalid_scope", **extra)


class UnsupportedGrantType(BadRequest):
    """A token request with a `grant_type` other than `client_credentials` (or none, for a login)."""

    type = "https://rapport.dev/problems/unsupported-grant-type"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error="unsupported_grant_type", **extra)


class InvalidRequest(BadRequest):
    """A token request that is malformed in an OAuth sense (OAuth `invalid_request`)."""

    type = "https://rapport.dev/problems/invalid-request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error="invalid_request", **extra)
