"""engagement's errors, rendered as problem+json by the shared handlers."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError, Unprocessable


class ConversationNotFound(NotFound):
    type = "https://rapport.dev/problems/conversation-not-found"


class InvalidConversationUpdate(Unprocessable):
    type = "https://rapport.dev/problems/invalid-conversation-update"


class ConversationConflict(Conflict):
    type = "https://rapport.dev/problems/conversation-conflict"


class SlaPolicyNotFound(NotFound):
    type = "https://rapport.dev/problems/sla-policy-not-found"


class RoutingRuleNotFound(NotFound):
    type = "https://rapport.dev/problems/routing-rule-not-found"


class InvalidRoutingRule(Unprocessable):
    type = "https://rapport.dev/problems/invalid-routing-rule"


class ReplyNotPossible(Unprocessable):
    type = "https://rapport.dev/problems/reply-not-possible"


class CannedResponseNotFound(NotFound):
    type = "https://rapport.dev/problems/canned-response-not-found"


class InvalidCannedResponse(Unprocessable):
    type = "https://rapport.dev/problems/invalid-canned-response"


class CannedResponseConflict(Conflict):
    type = "https://rapport.dev/problems/canned-response-conflict"


class TeamNotFound(NotFound):
    type = "https://rapport.dev/problems/team-not-found"


class TeamConflict(Conflict):
    type = "https://rapport.dev/problems/team-conflict"


class AgentNotFound(NotFound):
    type = "https://rapport.dev/problems/agent-not-found"


class AgentUnavailable(Conflict):
    """The agent cannot take this (deactivated, or offline for a manual assignment)."""

    type = "https://rapport.dev/problems/agent-unavailable"


class InvalidAssignment(Unprocessable):
    type = "https://rapport.dev/problems/invalid-assignment"


class MergeConflict(Conflict):
    """The two conversations cannot be merged (different customers, or one was merged already)."""

    type = "https://rapport.dev/problems/merge-conflict"


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


class MessagingWindowClosed(ReplyNotPossible):
    """The platform's messaging window does not let this reply go now (`shared/windows.py`): the problem
    names the window (`code`), when the customer last wrote and what may be sent instead (`allowed`).
    A ReplyNotPossible, so callers that skip an automatic reply that cannot go skip this one too."""

    type = "https://rapport.dev/problems/messaging-window-closed"
