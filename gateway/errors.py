"""The gateway's own problems (rendered as problem+json like every other Rapport error)."""

from __future__ import annotations

from shared.errors import Forbidden, NotFound, ProblemError, ServiceUnavailable, TooManyRequests


class RouteNotFound(NotFound):
    type = "https://rapport.dev/problems/not-found"


class RoleForbidden(Forbidden):
    pass


class BodyTooLarge(ProblemError):
    status = 413
    type = "https://rapport.dev/problems/body-too-large"


class RateLimited(TooManyRequests):
    pass


class RateLimiterUnavailable(ServiceUnavailable):
    type = "https://rapport.dev/problems/rate-limiter-unavailable"


class BadGateway(ProblemError):
    status = 502
    type = "https://rapport.dev/problems/bad-gateway"


class GatewayTimeout(ProblemError):
    status = 504
    type = "https://rapport.dev/problems/gateway-timeout"
