"""engagement's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError, Unprocessable


class ConversationNotFound(NotFound):
    type = "https://rapport.dev/problems/conversation-not-found"


class InvalidConversationUpdate(Unprocessable):
    type = "https://rapport.dev/problems/invalid-conversation-update"


class ConversationConflict(Conflict):
    type = "https://rapport.dev/problems/conversation-conflict"


class ReplyNotPossible(Unprocessable):
    type = "https://rapport.dev/problems/reply-not-possible"


class CannedResponseNotFound(NotFound):
    type = "https://rapport.dev/problems/canned-response-not-found"


class InvalidCannedResponse(Unprocessable):
    type = "https://rapport.dev/problems/invalid-canned-response"


class CannedResponseConflict(Conflict):
    type = "https://rapport.dev/problems/canned-response-conflict"


class SurveyNotFound(NotFound):
    type = "https://rapport.dev/problems/survey-not-found"


class SurveyAlreadyAnswered(Conflict):
    type = "https://rapport.dev/problems/survey-already-answered"


class SurveyExpired(ProblemError):
    status = 410
    type = "https://rapport.dev/problems/survey-expired"
    title = "Gone"


class InvalidSurveyAnswer(Unprocessable):
    type = "https://rapport.dev/problems/invalid-survey-answer"
