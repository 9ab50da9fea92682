"""listening's errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)


class MentionNotFound(NotFound):
    type = "https://rapport.dev/problems/mention-not-found"


class ListeningQueryNotFound(NotFound):
    type = "https://rapport.dev/problems/listening-query-not-found"


class AlertNotFound(NotFound):
    type = "https://rapport.dev/problems/alert-not-found"


class QueryExpressionInvalid(Unprocessable):
    type = "https://rapport.dev/problems/query-syntax"


class MentionNotAnalysed(Conflict):
    type = "https://rapport.dev/problems/mention-not-analysed"


class ChannelNotFound(NotFound):
    type = "https://rapport.dev/problems/channel-not-found"


class QuotaExceeded(Conflict):
    """A count cap (channels, queries): waiting does not free it, deleting one does — so 409, not 429."""

    type = "https://rapport.dev/problems/quota-exceeded"


class IngestQuotaExceeded(TooManyRequests):
    """A rate quota (posts per hour): frees when the hour turns — 429 with Retry-After."""

    type = "https://rapport.dev/problems/ingest-quota-exceeded"


class SignatureInvalid(Unauthorized):
    type = "https://rapport.dev/problems/signature-invalid"


class VerificationFailed(Forbidden):
    type = "https://rapport.dev/problems/webhook-verification-failed"


class UnsupportedMediaType(ProblemError):
    status = 415
    type = "https://rapport.dev/problems/unsupported-media-type"


class QueryTooExpensive(Unprocessable):
    type = "https://rapport.dev/problems/query-too-expensive"


class OwnAccountNotFound(NotFound):
    type = "https://rapport.dev/problems/own-account-not-found"


class InvalidOwnAccount(Unprocessable):
    type = "https://rapport.dev/problems/invalid-own-account"


class OwnAccountConflict(Conflict):
    type = "https://rapport.dev/problems/own-account-conflict"


class TemplateNotFound(NotFound):
    type = "https://rapport.dev/problems/template-not-found"


class TemplateConflict(Conflict):
    """A template of that name and language is stored for the channel already, or the channel holds
    as many as it may."""

    type = "https://rapport.dev/problems/template-conflict"


class TemplatesNotSupported(Unprocessable):
    """Only WhatsApp channels keep message templates."""

    type = "https://rapport.dev/problems/templates-not-supported"
