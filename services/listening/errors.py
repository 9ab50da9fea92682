"""listening's errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, ProblemError, Unauthorized, Unprocessable


class MentionNotFound(NotFound):
    type = "https://rapport.dev/problems/mention-not-found"


class ListeningQueryNotFound(NotFound):
    type = "https://rapport.dev/problems/listening-query-not-found"


class QueryExpressionInvalid(Unprocessable):
    type = "https://rapport.dev/problems/query-syntax"


class MentionNotAnalysed(Conflict):
    type = "https://rapport.dev/problems/mention-not-analysed"


class ChannelNotFound(NotFound):
    type = "https://rapport.dev/problems/channel-not-found"


class SignatureInvalid(Unauthorized):
    type = "https://rapport.dev/problems/signature-invalid"


class VerificationFailed(Forbidden):
    type = "https://rapport.dev/problems/webhook-verification-failed"


class UnsupportedMediaType(ProblemError):
    status = 415
    type = "https://rapport.dev/problems/unsupported-media-type"


class QueryTooExpensive(Unprocessable):
    type = "https://rapport.dev/problems/query-too-expensive"


class QueryLimitReached(Conflict):
    type = "https://rapport.dev/problems/query-limit-reached"
