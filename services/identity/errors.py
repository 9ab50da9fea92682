"""identity's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized


class SignupDisabled(Forbidden):
    type = "https://rapport.dev/problems/signup-disabled"


class EmailTaken(Conflict):
    type = "https://rapport.dev/problems/email-taken"


class InvalidCredentials(Unauthorized):
    type = "https://rapport.dev/problems/invalid-credentials"


class InvalidRefreshToken(Unauthorized):
    type = "https://rapport.dev/problems/invalid-refresh-token"


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
