"""The gateway's own problems (rendered as problem+json like every other Rapport error).

A route that does not exist, a role that may not call it and a rate limit reached are the shared
`NotFound`, `Forbidden` and `TooManyRequests`: the same problem whether the gateway or a service says it.
"""

from __future__ import annotations

from shared.errors import PROBLEMS, ProblemError, ServiceUnavailable


class BodyTooLarge(ProblemError):
    status = 413
    type = PROBLEMS + "body-too-large"


class RateLimiterUnavailable(ServiceUnavailable):
    type = PROBLEMS + "rate-limiter-unavailable"


class BadGateway(ProblemError):
    status = 502
    type = PROBLEMS + "bad-gateway"


class GatewayTimeout(ProblemError):
    status = 504
    type = PROBLEMS + "gateway-timeout"


class AuditUnavailable(ServiceUnavailable):
    """A request whose access could not be recorded in the audit log is not answered."""

    type = PROBLEMS + "audit-unavailable"
